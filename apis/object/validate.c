/*
 * validate.c - kumo_object_validate: the rules every kind shares (apiVersion,
 * kind, metadata), then the spec rules that the kind's row (kinds.c) names.
 *
 * The per-kind rules live in validate_infra.c, validate_app.c and
 * validate_event.c, the shared types in validate_shared.c, the vocabulary in
 * validate_rules.c. Every
 * problem becomes one diag cause; the diag message is the Kubernetes sentence
 * `Infra "web" is invalid: <cause>[, <cause>...]`.
 */
#include "apis/object/validate.h"

#include <stdlib.h>
#include <string.h>

enum {
    ANNOTATIONS_MAX_BYTES = 256 * 1024,
};

/* ---- metadata ----------------------------------------------------------------- */

static void annotations(rule_ctx *v, const Kumo__V1alpha1__ObjectMeta *meta)
{
    size_t total = 0;
    for (size_t i = 0; i < meta->n_annotations; i++) {
        const char *key = meta->annotations[i]->key;
        const char *error = rule_qualified_name_error(key);
        total += strlen(key) + strlen(meta->annotations[i]->value);
        if (error != NULL)
            rule_invalid_string(v, "annotations", key, "%s", error);
    }
    if (total > ANNOTATIONS_MAX_BYTES)
        rule_add(v, KUMO_CAUSE_TOO_LONG, "annotations", NULL, "must have at most %d bytes in total",
                 ANNOTATIONS_MAX_BYTES);
}

static void finalizers(rule_ctx *v, const Kumo__V1alpha1__ObjectMeta *meta)
{
    for (size_t i = 0; i < meta->n_finalizers; i++) {
        const char *error = rule_qualified_name_error(meta->finalizers[i]);
        if (error != NULL) {
            size_t mark = rule_enter_index(v, "finalizers", i);
            rule_invalid_string(v, NULL, meta->finalizers[i], "%s", error);
            rule_leave(v, mark);
        }
    }
    rule_unique(v, "finalizers", (const void *const *)meta->finalizers, meta->n_finalizers, NULL,
                rule_key_string);
}

static void owner_reference(rule_ctx *v, const void *item, const void *context)
{
    const Kumo__V1alpha1__OwnerReference *ref = item;
    (void)context;
    rule_require_string(v, "apiVersion", ref->api_version);
    rule_require_string(v, "kind", ref->kind);
    rule_require_string(v, "name", ref->name);
    rule_require_string(v, "uid", ref->uid);
}

static void owner_references(rule_ctx *v, const Kumo__V1alpha1__ObjectMeta *meta)
{
    size_t controller = 0;
    int have_controller = 0;
    rule_each(v, "ownerReferences", (const void *const *)meta->owner_references,
              meta->n_owner_references, owner_reference, NULL);
    for (size_t i = 0; i < meta->n_owner_references; i++) {
        if (!meta->owner_references[i]->controller)
            continue;
        if (!have_controller) {
            have_controller = 1;
            controller = i;
            continue;
        }
        size_t mark = rule_enter_index(v, "ownerReferences", i);
        rule_forbidden(v, "controller",
                       "only one owner reference may be the controller (ownerReferences[%zu] "
                       "already is)",
                       controller);
        rule_leave(v, mark);
    }
}

static void metadata(rule_ctx *v, const Kumo__V1alpha1__ObjectMeta *meta)
{
    size_t mark = rule_enter(v, "metadata");
    if (meta == NULL) {
        rule_required(v, "name", NULL);
    } else {
        rule_object_name(v, "name", meta->name, 1);
        rule_dns_label(v, "namespace", meta->namespace_, 0);
        rule_labels(v, "labels", RULE_MAP(meta, labels));
        annotations(v, meta);
        finalizers(v, meta);
        owner_references(v, meta);
    }
    rule_leave(v, mark);
}

/* apiVersion and kind; empty means "not given" (defaulting fills both). */
static void type_meta(rule_ctx *v, const ProtobufCMessage *object, const kumo_object_kind *kind)
{
    char quoted[RULE_VALUE_MAX + 16];
    const char *api_version =
        *(const char **)object_field_slot(object, object_field(object, "api_version"));
    const char *kind_name = *(const char **)object_field_slot(object, object_field(object, "kind"));
    if (!rule_empty(api_version) && strcmp(api_version, KUMO_API_VERSION) != 0)
        rule_add(v, KUMO_CAUSE_UNSUPPORTED, "apiVersion",
                 rule_quote(api_version, quoted, sizeof(quoted)), "supported values: \"%s\"",
                 KUMO_API_VERSION);
    if (!rule_empty(kind_name) && strcmp(kind_name, kind->kind) != 0)
        rule_add(v, KUMO_CAUSE_UNSUPPORTED, "kind", rule_quote(kind_name, quoted, sizeof(quoted)),
                 "supported values: \"%s\"", kind->kind);
}

/* ---- spec --------------------------------------------------------------------- */

static void spec(rule_ctx *v, const ProtobufCMessage *object, rule_spec_fn rules)
{
    if (object_field(object, "spec") == NULL) {
        rules(v, object); /* a kind without spec (Event): its fields are at the root */
        return;
    }
    ProtobufCMessage *given = kumo_object_spec(object), *empty = NULL;
    if (given == NULL) {
        /* No spec: check an empty one, so each required field is named. */
        const ProtobufCFieldDescriptor *field = object_field(object, "spec");
        const ProtobufCMessageDescriptor *d = field->descriptor;
        empty = malloc(d->sizeof_message);
        if (empty == NULL) {
            v->nomem = 1;
            return;
        }
        d->message_init(empty);
    }
    size_t mark = rule_enter(v, "spec");
    rule_enums_known(v, given ? given : empty);
    rules(v, given ? given : empty);
    rule_leave(v, mark);
    if (empty != NULL)
        protobuf_c_message_free_unpacked(empty, NULL);
}

kumo_error kumo_object_validate(const ProtobufCMessage *object, kumo_diag *diag)
{
    if (object == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "no object to validate");
    const kumo_object_kind *kind = kumo_object_kind_of(object->descriptor);
    if (kind == NULL || kind->descriptor != object->descriptor)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "a %s is not a kumo object",
                             object->descriptor->name);
    rule_ctx v;
    memset(&v, 0, sizeof(v));
    v.diag = diag;
    type_meta(&v, object, kind);
    metadata(&v, kumo_object_meta(object));
    spec(&v, object, kind->validate);
    if (v.nomem)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory while validating %s \"%s\"",
                             kind->kind, kumo_object_name(object));
    if (v.causes == 0)
        return KUMO_ERROR_OK;
    if (v.causes > RULE_CAUSES_MAX && diag != NULL)
        kumo_diag_add_cause(diag, KUMO_CAUSE_FORBIDDEN, "object", NULL,
                            "%zu more errors not listed", v.causes - RULE_CAUSES_MAX);
    if (diag == NULL)
        return KUMO_ERROR_INVALID;
    char sentence[sizeof(diag->message)];
    kumo_diag_format_invalid(diag, kind->kind, kumo_object_name(object), sentence,
                             sizeof(sentence));
    return kumo_diag_set(diag, KUMO_ERROR_INVALID, "%s", sentence);
}

int kumo_object_name_is_valid(const char *name)
{
    rule_ctx v;
    memset(&v, 0, sizeof(v));
    rule_object_name(&v, "name", name, 1);
    return v.causes == 0;
}

int kumo_object_namespace_is_valid(const char *ns)
{
    rule_ctx v;
    memset(&v, 0, sizeof(v));
    rule_dns_label(&v, "namespace", ns, 1);
    return v.causes == 0;
}
