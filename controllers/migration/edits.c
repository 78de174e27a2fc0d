/*
 * edits.c - the only changes a Migration makes: to its Infra's group and to
 * its LoadBalancer. Each function computes the object a stage wants from
 * the original (kept in an annotation at the first edit) and writes it only
 * when it differs from what is stored, so a pass repeated after a crash
 * changes nothing twice.
 *
 *   Infra group   the target's connection + instance type (or placement)
 *                 and image, the label kumo.dev/migration=<name> (new
 *                 Machines carry it, old ones do not: a shrinking group
 *                 removes the old ones first), and a size;
 *   LoadBalancer  policy Weighted; each backend of the App split in two:
 *                 the source (its selector + "label NotIn <name>") and
 *                 "<backend>-target" (its selector + "label = <name>"),
 *                 with the stage's weights and drain lists.
 */
#include "controllers/migration/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"
#include "controllers/runtime/meta/meta.h"

/* ---- small message helpers ---------------------------------------------------------------- */

static char *json_of(const ProtobufCMessage *message)
{
    kumo_codec_buffer b;
    kumo_codec_buffer_init(&b);
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_codec_json_encode(message, NULL, &b, &d);
    kumo_diag_fini(&d);
    if (e == KUMO_ERROR_OK)
        e = kumo_codec_buffer_append(&b, "", 1);
    if (e != KUMO_ERROR_OK) {
        kumo_codec_buffer_fini(&b);
        return NULL;
    }
    return kumo_codec_buffer_take(&b, NULL);
}

static ProtobufCMessage *from_json(const ProtobufCMessageDescriptor *descriptor, const char *text)
{
    if (text == NULL)
        return NULL;
    ProtobufCMessage *out = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_codec_json_decode(descriptor, text, strlen(text), NULL, &out, &d);
    kumo_diag_fini(&d);
    return out;
}

static int strings_append(char ***items, size_t *count, const char *value)
{
    char **grown = realloc(*items, (*count + 1) * sizeof(**items));
    if (grown == NULL)
        return -1;
    *items = grown;
    if ((grown[*count] = strdup(value)) == NULL)
        return -1;
    (*count)++;
    return 0;
}

/* Sets key=value in a protobuf-c map<string,string> (entries with key/value strings). */
#define MAP_SET(entries, count, type, init, k, v)                                                  \
    do {                                                                                           \
        size_t i_ = 0;                                                                             \
        while (i_ < (count) && strcmp((entries)[i_]->key, (k)) != 0)                               \
            i_++;                                                                                  \
        if (i_ == (count)) {                                                                       \
            type **grown_ = realloc((entries), ((count) + 1) * sizeof(*grown_));                   \
            type *entry_ = malloc(sizeof(*entry_));                                                \
            if (grown_ == NULL || entry_ == NULL) {                                                \
                free(entry_);                                                                      \
                if (grown_)                                                                        \
                    (entries) = grown_;                                                            \
                bad = 1;                                                                           \
                break;                                                                             \
            }                                                                                      \
            init(entry_);                                                                          \
            (entries) = grown_;                                                                    \
            (entries)[(count)++] = entry_;                                                         \
            bad |= kumo_codec_string_set(&entry_->key, (k)) != KUMO_ERROR_OK;                      \
        }                                                                                          \
        bad |= kumo_codec_string_set(&(entries)[i_]->value, (v)) != KUMO_ERROR_OK;                 \
    } while (0)

/* Writes `after` when it differs from `before`: 1 written, 0 same, -1 failed. */
static int write_if_changed(mig_run *run, const ProtobufCMessage *before, ProtobufCMessage *after,
                            const char *what)
{
    char *a = json_of(before), *b = json_of(after);
    int same = a && b && strcmp(a, b) == 0;
    free(a);
    free(b);
    if (same)
        return 0;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_client_update(run->c->env.client, after, NULL, &d);
    if (e != KUMO_ERROR_OK) {
        snprintf(run->problem_reason, sizeof(run->problem_reason), "%s",
                 e == KUMO_ERROR_CONFLICT ? "Conflict" : "UpdateFailed");
        snprintf(run->problem, sizeof(run->problem), "updating %s \"%.100s\": %.600s", what,
                 kumo_object_name(after), d.message);
        KUMO_LOG_INFO(MIG_LOG, "update failed", "migration=%s object=%s error=%s message=\"%s\"",
                      run->key, kumo_object_name(after), kumo_error_name(e), d.message);
    }
    kumo_diag_fini(&d);
    return e == KUMO_ERROR_OK ? 1 : -1;
}

static void annotation_key(char *buf, size_t size, const char *prefix, const char *group)
{
    snprintf(buf, size, "%s%s", prefix, group);
}

/* ---- the Infra's group ------------------------------------------------------------------- */

/* The group as the target wants it, on `g` in place. 0, or -1 when out of memory. */
static int group_retarget(const mig_run *run, Kumo__V1alpha1__NodeGroup *g, int32_t size)
{
    const Kumo__V1alpha1__MigrationTarget *t = run->spec->target;
    int bad = 0;
    if (t->placement) {
        if (g->placement)
            kumo_codec_message_free(&g->placement->base);
        g->placement =
            (Kumo__V1alpha1__PlacementRequirements *)kumo_codec_message_clone(&t->placement->base);
        bad |= g->placement == NULL;
        bad |= kumo_codec_string_set(&g->connection, NULL) != KUMO_ERROR_OK;
        bad |= kumo_codec_string_set(&g->instance_type, NULL) != KUMO_ERROR_OK;
    } else {
        if (g->placement)
            kumo_codec_message_free(&g->placement->base);
        g->placement = NULL;
        bad |= kumo_codec_string_set(&g->connection, t->connection) != KUMO_ERROR_OK;
        bad |= kumo_codec_string_set(&g->instance_type, t->instance_type) != KUMO_ERROR_OK;
    }
    if (t->image && t->image[0])
        bad |= kumo_codec_string_set(&g->image, t->image) != KUMO_ERROR_OK;
    MAP_SET(g->labels, g->n_labels, Kumo__V1alpha1__NodeGroup__LabelsEntry,
            kumo__v1alpha1__node_group__labels_entry__init, KUMO_MIGRATION_LABEL, run->name);
    g->size_present_case = KUMO__V1ALPHA1__NODE_GROUP__SIZE_PRESENT_SIZE;
    g->size = size;
    return bad ? -1 : 0;
}

int mig_edit_infra_group(mig_run *run, int32_t size)
{
    ProtobufCMessage *copy = kumo_codec_message_clone(run->infra_object);
    if (copy == NULL)
        return -1;
    Kumo__V1alpha1__Infra *infra = (Kumo__V1alpha1__Infra *)copy;
    Kumo__V1alpha1__NodeGroup *g = infra->spec->groups[run->group];
    char lock[128], original[128];
    annotation_key(lock, sizeof(lock), KUMO_MIGRATION_LOCK_PREFIX, run->group_name);
    annotation_key(original, sizeof(original), KUMO_MIGRATION_ORIGINAL_PREFIX, run->group_name);
    int bad = 0;
    if (kumo_meta_annotation(copy, original) == NULL) {
        char *json = json_of(&g->base);
        bad |= json == NULL || kumo_meta_annotation_set(copy, original, json) < 0;
        free(json);
    }
    const char *holder = kumo_meta_annotation(copy, lock);
    if (holder && strcmp(holder, run->name) != 0) {
        kumo_object_destroy(copy);
        return -1; /* another Migration's: never touched */
    }
    bad |= kumo_meta_annotation_set(copy, lock, run->name) < 0;
    bad |= group_retarget(run, g, size) != 0;
    int r = bad ? -1 : write_if_changed(run, run->infra_object, copy, "Infra");
    kumo_object_destroy(copy);
    return r;
}

int mig_edit_infra_restore(mig_run *run)
{
    char original[128];
    annotation_key(original, sizeof(original), KUMO_MIGRATION_ORIGINAL_PREFIX, run->group_name);
    ProtobufCMessage *group = from_json(&kumo__v1alpha1__node_group__descriptor,
                                        kumo_meta_annotation(run->infra_object, original));
    if (group == NULL)
        return 0; /* never edited */
    ProtobufCMessage *copy = kumo_codec_message_clone(run->infra_object);
    if (copy == NULL) {
        kumo_codec_message_free(group);
        return -1;
    }
    Kumo__V1alpha1__Infra *infra = (Kumo__V1alpha1__Infra *)copy;
    kumo_codec_message_free(&infra->spec->groups[run->group]->base);
    infra->spec->groups[run->group] = (Kumo__V1alpha1__NodeGroup *)group;
    int r = write_if_changed(run, run->infra_object, copy, "Infra");
    kumo_object_destroy(copy);
    return r;
}

int mig_edit_infra_finish(mig_run *run)
{
    if (!mig_world_holds_group(run))
        return 0;
    ProtobufCMessage *copy = kumo_codec_message_clone(run->infra_object);
    if (copy == NULL)
        return -1;
    Kumo__V1alpha1__Infra *infra = (Kumo__V1alpha1__Infra *)copy;
    Kumo__V1alpha1__NodeGroup *g = infra->spec->groups[run->group];
    for (size_t i = 0; i < g->n_labels; i++) {
        if (strcmp(g->labels[i]->key, KUMO_MIGRATION_LABEL) != 0 ||
            strcmp(g->labels[i]->value, run->name) != 0)
            continue;
        kumo_codec_message_free(&g->labels[i]->base);
        memmove(&g->labels[i], &g->labels[i + 1], (g->n_labels - i - 1) * sizeof(*g->labels));
        g->n_labels--;
        break;
    }
    char lock[128], original[128];
    annotation_key(lock, sizeof(lock), KUMO_MIGRATION_LOCK_PREFIX, run->group_name);
    annotation_key(original, sizeof(original), KUMO_MIGRATION_ORIGINAL_PREFIX, run->group_name);
    int bad = kumo_meta_annotation_set(copy, lock, NULL) < 0 ||
              kumo_meta_annotation_set(copy, original, NULL) < 0;
    int r = bad ? -1 : write_if_changed(run, run->infra_object, copy, "Infra");
    kumo_object_destroy(copy);
    return r;
}

/* ---- the LoadBalancer -------------------------------------------------------------------- */

Kumo__V1alpha1__LoadBalancerSpec *mig_lb_original(const mig_run *run)
{
    if (run->lb == NULL || !mig_world_holds_lb(run))
        return NULL;
    return (Kumo__V1alpha1__LoadBalancerSpec *)from_json(
        &kumo__v1alpha1__load_balancer_spec__descriptor,
        kumo_meta_annotation(run->lb_object, KUMO_MIGRATION_LB_ORIGINAL));
}

static int selector_add(mig_run *run, Kumo__V1alpha1__LoadBalancerBackend *b, int target)
{
    int bad = 0;
    if (b->machine_selector == NULL) {
        if ((b->machine_selector = malloc(sizeof(*b->machine_selector))) == NULL)
            return -1;
        kumo__v1alpha1__label_selector__init(b->machine_selector);
    }
    Kumo__V1alpha1__LabelSelector *s = b->machine_selector;
    if (target) {
        MAP_SET(s->match_labels, s->n_match_labels, Kumo__V1alpha1__LabelSelector__MatchLabelsEntry,
                kumo__v1alpha1__label_selector__match_labels_entry__init, KUMO_MIGRATION_LABEL,
                run->name);
        return bad ? -1 : 0;
    }
    Kumo__V1alpha1__LabelSelectorRequirement *r = malloc(sizeof(*r)), **grown = NULL;
    if (r == NULL)
        return -1;
    kumo__v1alpha1__label_selector_requirement__init(r);
    r->operator_ = KUMO__V1ALPHA1__LABEL_SELECTOR_REQUIREMENT__OPERATOR__NotIn;
    grown = realloc(s->match_expressions, (s->n_match_expressions + 1) * sizeof(*grown));
    if (grown == NULL || kumo_codec_string_set(&r->key, KUMO_MIGRATION_LABEL) != KUMO_ERROR_OK ||
        strings_append(&r->values, &r->n_values, run->name) != 0) {
        if (grown)
            s->match_expressions = grown;
        kumo_codec_message_free(&r->base);
        return -1;
    }
    s->match_expressions = grown;
    s->match_expressions[s->n_match_expressions++] = r;
    return 0;
}

/* The source or target half of an App backend `b` for this stage (owned), NULL: NOMEM. */
static Kumo__V1alpha1__LoadBalancerBackend *half_of(mig_run *run,
                                                    const Kumo__V1alpha1__LoadBalancerBackend *b,
                                                    const mig_lb_want *want, int target)
{
    Kumo__V1alpha1__LoadBalancerBackend *h =
        (Kumo__V1alpha1__LoadBalancerBackend *)kumo_codec_message_clone(&b->base);
    if (h == NULL)
        return NULL;
    int bad = 0;
    h->weight_present_case = KUMO__V1ALPHA1__LOAD_BALANCER_BACKEND__WEIGHT_PRESENT_WEIGHT;
    h->weight = target ? want->target_weight : want->source_weight;
    if (target) {
        char name[128];
        snprintf(name, sizeof(name), "%s%s", b->name, MIG_TARGET_SUFFIX);
        bad |= kumo_codec_string_set(&h->name, name) != KUMO_ERROR_OK;
        bad |= selector_add(run, h, 1) != 0;
        for (size_t i = 0; want->drain_targets && i < run->machine_count; i++)
            if (run->machines[i].target)
                bad |= strings_append(&h->drain, &h->n_drain, run->machines[i].name) != 0;
    } else if (!want->source_restored) {
        bad |= selector_add(run, h, 0) != 0;
        for (size_t i = 0; i < want->drain_source_count; i++)
            bad |= strings_append(&h->drain, &h->n_drain, want->drain_source[i]) != 0;
    }
    if (bad) {
        kumo_codec_message_free(&h->base);
        return NULL;
    }
    return h;
}

static int backends_split(mig_run *run, Kumo__V1alpha1__LoadBalancerSpec *spec,
                          const Kumo__V1alpha1__LoadBalancerSpec *original, const mig_lb_want *want)
{
    size_t n = 0, cap = original->n_backends * 2 + 1;
    Kumo__V1alpha1__LoadBalancerBackend **items = calloc(cap, sizeof(*items));
    int bad = items == NULL;
    for (size_t i = 0; !bad && i < original->n_backends; i++) {
        const Kumo__V1alpha1__LoadBalancerBackend *b = original->backends[i];
        if (!mig_world_fronts(run, b)) {
            bad = (items[n++] = (Kumo__V1alpha1__LoadBalancerBackend *)kumo_codec_message_clone(
                       &b->base)) == NULL;
            continue;
        }
        bad = (items[n++] = half_of(run, b, want, 0)) == NULL ||
              (items[n++] = half_of(run, b, want, 1)) == NULL;
    }
    for (size_t i = 0; i < spec->n_backends; i++)
        kumo_codec_message_free(&spec->backends[i]->base);
    free(spec->backends);
    spec->backends = items;
    spec->n_backends = items ? n : 0;
    for (size_t i = 0; bad && items && i < n; i++)
        if (items[i] == NULL)
            spec->n_backends = i;
    return bad ? -1 : 0;
}

int mig_edit_lb(mig_run *run, const mig_lb_want *want)
{
    Kumo__V1alpha1__LoadBalancerSpec *original = mig_lb_original(run);
    const Kumo__V1alpha1__LoadBalancerSpec *from = original ? original : run->lb->spec;
    ProtobufCMessage *copy = kumo_codec_message_clone(run->lb_object);
    Kumo__V1alpha1__LoadBalancer *lb = (Kumo__V1alpha1__LoadBalancer *)copy;
    int bad = copy == NULL;
    if (!bad && original == NULL) {
        char *json = json_of(&run->lb->spec->base);
        bad = json == NULL || kumo_meta_annotation_set(copy, KUMO_MIGRATION_LB_ORIGINAL, json) < 0;
        free(json);
    }
    bad = bad || kumo_meta_annotation_set(copy, KUMO_MIGRATION_LB_LOCK, run->name) < 0;
    if (!bad) {
        lb->spec->policy = KUMO__V1ALPHA1__LOAD_BALANCER_SPEC__POLICY__Weighted;
        bad = backends_split(run, lb->spec, from, want) != 0;
    }
    int r = bad ? -1 : write_if_changed(run, run->lb_object, copy, "LoadBalancer");
    kumo_object_destroy(copy);
    if (original)
        kumo_codec_message_free(&original->base);
    return r;
}

int mig_edit_lb_restore(mig_run *run)
{
    if (run->lb == NULL || !mig_world_holds_lb(run))
        return 0;
    Kumo__V1alpha1__LoadBalancerSpec *original = mig_lb_original(run);
    ProtobufCMessage *copy = original ? kumo_codec_message_clone(run->lb_object) : NULL;
    int r = -1;
    if (copy && kumo_meta_annotation_set(copy, KUMO_MIGRATION_LB_LOCK, NULL) >= 0 &&
        kumo_meta_annotation_set(copy, KUMO_MIGRATION_LB_ORIGINAL, NULL) >= 0) {
        ProtobufCMessage *spec = &original->base;
        kumo_object_spec_replace(copy, &spec);
        original = NULL;
        r = write_if_changed(run, run->lb_object, copy, "LoadBalancer");
    }
    kumo_object_destroy(copy);
    if (original)
        kumo_codec_message_free(&original->base);
    return r;
}
