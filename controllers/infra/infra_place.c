/*
 * infra_place.c - what an Infra reconcile reads and where it places: the
 * namespace's Connections and their offers, the Infra's Machines (members),
 * and per group the ranked candidates (explicit placement or
 * kumo_placement_rank, minus failed-over connections) and failovers.
 */
#include "controllers/infra/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading the world ------------------------------------------------------------ */

/* Every object of `informer` in namespace ns (owned array of owned objects). */
ProtobufCMessage **infra_objects_in(kumo_informer *informer, const char *ns, size_t *count_out)
{
    size_t count = 0, n = 0, ns_len = strlen(ns);
    char **keys = kumo_informer_keys(informer, &count);
    ProtobufCMessage **out = calloc(count + 1, sizeof(*out));
    for (size_t i = 0; out && keys && i < count; i++) {
        if (keys[i] == NULL || strncmp(keys[i], ns, ns_len) != 0 || keys[i][ns_len] != '/')
            continue;
        ProtobufCMessage *o = kumo_informer_get(informer, ns, keys[i] + ns_len + 1);
        if (o)
            out[n++] = o;
    }
    kumo_informer_keys_free(keys, count);
    *count_out = n;
    return out;
}

void infra_objects_free(ProtobufCMessage **objects, size_t count)
{
    for (size_t i = 0; objects && i < count; i++)
        kumo_object_destroy(objects[i]);
    free(objects);
}

static const Kumo__V1alpha1__Connection *connection_named(const infra_run *run, const char *name)
{
    for (size_t i = 0; i < run->connection_count; i++)
        if (strcmp(kumo_object_name(run->connections[i]), name) == 0)
            return (const Kumo__V1alpha1__Connection *)run->connections[i];
    return NULL;
}

static const char *provider_of(const Kumo__V1alpha1__Connection *c)
{
    return c->spec->provider && c->spec->provider[0] ? c->spec->provider : c->spec->driver;
}

/* Offers of every Ready Connection with a catalog. */
int infra_offers_build(infra_run *run)
{
    size_t total = 0;
    for (size_t i = 0; i < run->connection_count; i++) {
        const Kumo__V1alpha1__Connection *c =
            (const Kumo__V1alpha1__Connection *)run->connections[i];
        if (c->status && c->status->catalog && !kumo_meta_deleting(run->connections[i]))
            total += c->status->catalog->n_instance_types;
    }
    run->offers = calloc(total + 1, sizeof(*run->offers));
    if (run->offers == NULL)
        return -1;
    for (size_t i = 0; i < run->connection_count; i++) {
        const Kumo__V1alpha1__Connection *c =
            (const Kumo__V1alpha1__Connection *)run->connections[i];
        if (c->status == NULL || c->status->catalog == NULL ||
            kumo_meta_deleting(run->connections[i]))
            continue;
        for (size_t t = 0; t < c->status->catalog->n_instance_types; t++) {
            const Kumo__V1alpha1__CatalogInstanceType *it = c->status->catalog->instance_types[t];
            kumo_placement_offer *o = &run->offers[run->offer_count++];
            o->connection = c->metadata->name;
            o->provider = provider_of(c);
            o->region = c->spec->region;
            o->has_location = c->status->location != NULL;
            o->latitude = c->status->location ? c->status->location->latitude : 0;
            o->longitude = c->status->location ? c->status->location->longitude : 0;
            o->instance_type = it->name;
            o->vcpu = it->vcpu;
            o->memory_mib = it->memory_mib;
            o->gpu_count = it->gpu_count;
            o->gpu_model = it->gpu_model;
            o->price_per_hour = it->price_per_hour;
        }
    }
    return 0;
}

/* 1 when the Connection may host this group's image (unknown catalogs allow anything). */
static int has_image(const Kumo__V1alpha1__Connection *c, const char *image)
{
    if (c->status == NULL || c->status->catalog == NULL || c->status->catalog->n_images == 0)
        return 1;
    for (size_t i = 0; i < c->status->catalog->n_images; i++) {
        const Kumo__V1alpha1__CatalogImage *im = c->status->catalog->images[i];
        if (strcmp(im->name, image) == 0 || strcmp(im->provider_id, image) == 0)
            return 1;
    }
    return 0;
}

/* 1 when the Connection's catalog (when it has one) offers the instance type. */
static int has_instance_type(const Kumo__V1alpha1__Connection *c, const char *instance_type)
{
    if (c->status == NULL || c->status->catalog == NULL ||
        c->status->catalog->n_instance_types == 0)
        return 1;
    for (size_t i = 0; i < c->status->catalog->n_instance_types; i++)
        if (strcmp(c->status->catalog->instance_types[i]->name, instance_type) == 0)
            return 1;
    return 0;
}

/* An explicit group whose instance type or image the Connection's catalog does not offer
 * gets no Machines: the spec is wrong before any machine is made (InvalidSpec). */
static void catalog_check(const Kumo__V1alpha1__Connection *c, const Kumo__V1alpha1__NodeGroup *g,
                          infra_group_plan *plan)
{
    const char *what = !has_instance_type(c, g->instance_type) ? "instance type"
                       : !has_image(c, g->image)               ? "image"
                                                               : NULL;
    if (what == NULL)
        return;
    plan->no_placement_reason = "InvalidSpec";
    snprintf(plan->no_placement, sizeof(plan->no_placement),
             "%s %s is not offered by %s in %s (the catalog of Connection %s)", what,
             strcmp(what, "image") == 0 ? g->image : g->instance_type, provider_of(c),
             c->spec->region, c->metadata->name);
}

/* Parses "<infra>-<group>-<n>" for a group name; -1 when it is not that shape. */
/* 1 when the Machine no longer fits its group's spec (see infra_member.stale). */
static int member_stale(const Kumo__V1alpha1__NodeGroup *g, const Kumo__V1alpha1__Machine *mc)
{
    if (g->placement == NULL && mc->spec &&
        (strcmp(mc->spec->connection, g->connection) != 0 ||
         strcmp(mc->spec->instance_type, g->instance_type) != 0))
        return 1;
    for (size_t i = 0; i < g->n_labels; i++) {
        const char *v = kumo_meta_label(&mc->base, g->labels[i]->key);
        if (v == NULL || strcmp(v, g->labels[i]->value) != 0)
            return 1;
    }
    return 0;
}

static long member_index(const char *name, const char *infra, const char *group)
{
    size_t li = strlen(infra), lg = strlen(group);
    if (strncmp(name, infra, li) != 0 || name[li] != '-' ||
        strncmp(name + li + 1, group, lg) != 0 || name[li + 1 + lg] != '-')
        return -1;
    const char *digits = name + li + lg + 2;
    char *end;
    long n = strtol(digits, &end, 10);
    return digits[0] >= '0' && digits[0] <= '9' && *end == '\0' ? n : -1;
}

int infra_members_load(kumo_informer *machines, infra_run *run)
{
    const Kumo__V1alpha1__ObjectMeta *m = run->infra->metadata;
    size_t count = 0;
    char **keys = kumo_informer_index_keys(machines, KUMO_INFORMER_INDEX_OWNER, m->uid, &count);
    run->members = calloc(count + 1, sizeof(*run->members));
    if (run->members == NULL) {
        kumo_informer_keys_free(keys, count);
        return -1;
    }
    size_t ns_len = strlen(run->ns);
    for (size_t i = 0; keys && i < count; i++) {
        if (strncmp(keys[i], run->ns, ns_len) != 0 || keys[i][ns_len] != '/')
            continue;
        Kumo__V1alpha1__Machine *mc =
            (Kumo__V1alpha1__Machine *)kumo_informer_get(machines, run->ns, keys[i] + ns_len + 1);
        if (mc == NULL)
            continue;
        infra_member *x = &run->members[run->member_count++];
        x->name = infra_intern(run, mc->metadata->name);
        x->uid = infra_intern(run, mc->metadata->uid);
        const char *group = kumo_meta_label(&mc->base, KUMO_INFRA_LABEL_GROUP);
        x->group = -1;
        x->index = -1;
        for (size_t g = 0; group && g < run->infra->spec->n_groups; g++) {
            if (strcmp(run->infra->spec->groups[g]->name, group) == 0) {
                x->group = (int)g;
                x->index = member_index(x->name, m->name, group);
                x->stale = member_stale(run->infra->spec->groups[g], mc);
            }
        }
        x->connection = infra_intern(run, mc->spec->connection);
        x->outdated = x->group >= 0 && infra_member_outdated(run, (size_t)x->group, mc);
        x->instance_type = infra_intern(run, mc->spec->instance_type);
        x->failure_message = "";
        x->currency = "";
        x->deleting = kumo_meta_deleting(&mc->base);
        x->running = mc->status &&
                     mc->status->phase == KUMO__V1ALPHA1__MACHINE_STATUS__PHASE__Running &&
                     kumo_meta_condition_is(&mc->base, "Ready", "True");
        const Kumo__V1alpha1__Condition *ready = kumo_object_condition_get(&mc->base, "Ready");
        if (ready && strcmp(ready->status, "False") == 0) {
            if (strcmp(ready->reason, "InsufficientCapacity") == 0)
                x->failure = "InsufficientCapacity";
            else if (strcmp(ready->reason, "QuotaExceeded") == 0)
                x->failure = "QuotaExceeded";
            if (x->failure)
                x->failure_message = infra_intern(run, ready->message);
            if (!infra_reason_is_progress(ready->reason)) {
                x->problem = infra_intern(run, ready->reason);
                x->problem_message = infra_intern(run, ready->message);
            }
        }
        if (mc->status) {
            x->cost_per_hour = mc->status->cost_per_hour;
            x->currency = infra_intern(run, mc->status->currency);
        }
        kumo_object_destroy(&mc->base);
    }
    kumo_informer_keys_free(keys, count);
    return 0;
}

/* ---- placement -------------------------------------------------------------------- */

/* Resolves the group's user locations (coordinates and, when known, a table key). */
static size_t users_resolve(const kumo_infra_env *env, const infra_run *run,
                            const Kumo__V1alpha1__PlacementRequirements *r,
                            kumo_placement_user *users, char (*keys)[160])
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_user_locations && i < 32; i++) {
        const Kumo__V1alpha1__UserLocation *u = r->user_locations[i];
        kumo_placement_user *x = &users[n];
        memset(x, 0, sizeof(*x));
        x->name = u->name;
        x->weight = u->weight > 0 ? u->weight : 1;
        if (u->latitude_present_case == KUMO__V1ALPHA1__USER_LOCATION__LATITUDE_PRESENT_LATITUDE) {
            x->latitude = u->latitude;
            x->longitude = u->longitude;
            x->has_location = 1;
            n++;
            continue;
        }
        keys[n][0] = '\0';
        /* A region name: a Connection in that region knows where it is ... */
        for (size_t c = 0; c < run->connection_count && !x->has_location; c++) {
            const Kumo__V1alpha1__Connection *conn =
                (const Kumo__V1alpha1__Connection *)run->connections[c];
            if (strcmp(conn->spec->region, u->region) == 0 && conn->status &&
                conn->status->location) {
                x->latitude = conn->status->location->latitude;
                x->longitude = conn->status->location->longitude;
                x->has_location = 1;
                snprintf(keys[n], sizeof(keys[n]), "%s-%s", provider_of(conn), u->region);
            }
            if (strcmp(conn->spec->region, u->region) == 0 && x->connection == NULL)
                x->connection = conn->metadata->name;
        }
        /* ... else the measured table has a row for it, or a driver's region list does. */
        static const char *const providers[] = {"aws", "gcp", "azure"};
        for (size_t p = 0; keys[n][0] == '\0' && env->latency && p < 3; p++) {
            char key[160];
            snprintf(key, sizeof(key), "%s-%s", providers[p], u->region);
            int known = kumo_placement_latency_between(env->latency, key, key) >= 0;
            for (size_t c = 0; c < run->connection_count && !known; c++) {
                const Kumo__V1alpha1__Connection *conn =
                    (const Kumo__V1alpha1__Connection *)run->connections[c];
                char other[160];
                snprintf(other, sizeof(other), "%s-%s", provider_of(conn), conn->spec->region);
                known = kumo_placement_latency_between(env->latency, other, key) >= 0;
            }
            if (known)
                snprintf(keys[n], sizeof(keys[n]), "%s", key);
        }
        if (!x->has_location) {
            char provider[32];
            if (kumo_cloud_region_find(env->cloud, NULL, u->region, &x->latitude, &x->longitude,
                                       provider, sizeof(provider))) {
                x->has_location = 1;
                if (keys[n][0] == '\0')
                    snprintf(keys[n], sizeof(keys[n]), "%s-%s", provider, u->region);
            }
        }
        x->region_key = keys[n][0] ? keys[n] : NULL;
        n++;
    }
    return n;
}

/*
 * A Connection the group may use that is new and has not reported on its
 * current spec yet: placing without it would put machines elsewhere for good
 * only because its probe came second. Placement waits for it, but not for
 * longer than INFRA_CONNECTION_SETTLE_SECONDS after its creation.
 */
static const char *settling_connection(const infra_run *run,
                                       const Kumo__V1alpha1__LabelSelector *selector,
                                       const char *only)
{
    Kumo__V1alpha1__Time now;
    kumo_object_time_now(&now);
    for (size_t i = 0; i < run->connection_count; i++) {
        const Kumo__V1alpha1__Connection *c =
            (const Kumo__V1alpha1__Connection *)run->connections[i];
        const Kumo__V1alpha1__ObjectMeta *m = c->metadata;
        if (kumo_meta_deleting(&c->base) || !kumo_meta_labels_match(selector, &c->base) ||
            (only && strcmp(m->name, only) != 0))
            continue;
        int reported = c->status && c->status->observed_generation >= m->generation &&
                       kumo_object_condition_get(&c->base, "Ready") != NULL;
        int young = m->creation_timestamp &&
                    now.seconds - m->creation_timestamp->seconds < INFRA_CONNECTION_SETTLE_SECONDS;
        if (!reported && young)
            return m->name;
    }
    return NULL;
}

/* A group that names its connection and instance type: one candidate, checked against the
 * connection's catalog once it has one. */
static void plan_explicit(infra_run *run, infra_group_plan *plan)
{
    const Kumo__V1alpha1__NodeGroup *g = plan->spec;
    plan->explicit_placement = 1;
    const Kumo__V1alpha1__Connection *c = connection_named(run, g->connection);
    kumo_placement_offer *o = &plan->explicit_offer;
    o->connection = g->connection;
    o->instance_type = g->instance_type;
    o->provider = c ? provider_of(c) : "";
    o->region = c ? c->spec->region : "";
    for (size_t i = 0; i < run->offer_count; i++)
        if (strcmp(run->offers[i].connection, g->connection) == 0 &&
            strcmp(run->offers[i].instance_type, g->instance_type) == 0)
            *o = run->offers[i];
    plan->candidates[0].offer = o;
    snprintf(plan->candidates[0].reason, sizeof(plan->candidates[0].reason),
             "explicit: group %s names connection %s and instance type %s", g->name, g->connection,
             g->instance_type);
    plan->candidate_count = 1;
    plan->spread = 1;
    if (c == NULL) {
        plan->no_placement_reason = "ConnectionNotFound";
        snprintf(plan->no_placement, sizeof(plan->no_placement), "Connection \"%s\" not found",
                 g->connection);
    } else {
        /* Its catalog checks the spec before any Machine is made: wait for it. */
        const char *settling = settling_connection(run, NULL, g->connection);
        snprintf(plan->settling, sizeof(plan->settling), "%s", settling ? settling : "");
        catalog_check(c, g, plan);
    }
}

void infra_plan_candidates(const kumo_infra_env *env, infra_run *run, infra_group_plan *plan)
{
    const Kumo__V1alpha1__NodeGroup *g = plan->spec;
    if (g->placement == NULL) {
        plan_explicit(run, plan);
        return;
    }
    const Kumo__V1alpha1__PlacementRequirements *r = g->placement;
    const char *settling = settling_connection(run, r->connection_selector, NULL);
    snprintf(plan->settling, sizeof(plan->settling), "%s", settling ? settling : "");
    /* Offers of Connections the selector allows, Ready, with the group's image. */
    kumo_placement_offer *allowed = calloc(run->offer_count + 1, sizeof(*allowed));
    size_t allowed_count = 0;
    for (size_t i = 0; allowed && i < run->offer_count; i++) {
        const Kumo__V1alpha1__Connection *c = connection_named(run, run->offers[i].connection);
        if (c && kumo_meta_labels_match(r->connection_selector, &c->base) &&
            kumo_meta_condition_is(&c->base, "Ready", "True") && has_image(c, g->image))
            allowed[allowed_count++] = run->offers[i];
    }
    kumo_placement_user users[32];
    char keys[32][160];
    size_t user_count = users_resolve(env, run, r, users, keys);
    kumo_placement_input in = {
        .requirements = r,
        .offers = allowed,
        .offer_count = allowed_count,
        .users = users,
        .user_count = user_count,
        .latency = env->latency,
        .excluded = plan->excluded_list,
        .measured = env->measured_latency,
        .measured_context = env->measured_context,
        .ns = run->ns,
    };
    kumo_placement_candidate ranked[INFRA_MAX_CANDIDATES];
    kumo_diag why;
    kumo_diag_init(&why);
    size_t total = allowed ? kumo_placement_rank(&in, ranked, INFRA_MAX_CANDIDATES, &why) : 0;
    if (allowed)
        snprintf(plan->no_placement, sizeof(plan->no_placement), "%.*s",
                 (int)sizeof(plan->no_placement) - 1, total ? "" : why.message);
    kumo_diag_fini(&why);
    size_t n = total < INFRA_MAX_CANDIDATES ? total : INFRA_MAX_CANDIDATES;
    /* The candidates point into `allowed`: repoint them at run->offers, which lives on. */
    for (size_t i = 0; i < n; i++) {
        plan->candidates[i] = ranked[i];
        for (size_t k = 0; k < run->offer_count; k++)
            if (strcmp(run->offers[k].connection, ranked[i].offer->connection) == 0 &&
                strcmp(run->offers[k].instance_type, ranked[i].offer->instance_type) == 0)
                plan->candidates[i].offer = &run->offers[k];
    }
    plan->candidate_count = n;
    free(allowed);
    plan->spread = (size_t)(r->spread_connections > 0 ? r->spread_connections : 1);
    if (n == 0 && plan->no_placement[0] == '\0')
        snprintf(plan->no_placement, sizeof(plan->no_placement),
                 "no Ready Connection offers an instance type for group %s", g->name);
}

/* Records a failover of the group away from `from` (once per connection per pass). */
void infra_fail_over(infra_group_plan *plan, const infra_member *x)
{
    for (size_t i = 0; i < plan->excluded_count; i++)
        if (strcmp(plan->excluded[i], x->connection) == 0)
            return;
    if (plan->excluded_count < INFRA_MAX_FAILOVERS) {
        snprintf(plan->excluded[plan->excluded_count], sizeof(plan->excluded[0]), "%s",
                 x->connection);
        plan->excluded_list[plan->excluded_count] = plan->excluded[plan->excluded_count];
        plan->excluded_count++;
        plan->excluded_list[plan->excluded_count] = NULL;
    }
    if (plan->failover_count < INFRA_MAX_FAILOVERS) {
        infra_failover *f = &plan->failovers[plan->failover_count++];
        memset(f, 0, sizeof(*f));
        snprintf(f->from_connection, sizeof(f->from_connection), "%s", x->connection);
        snprintf(f->from_instance_type, sizeof(f->from_instance_type), "%s", x->instance_type);
        f->reason = x->failure;
        snprintf(f->message, sizeof(f->message), "%s", x->failure_message);
    }
}
