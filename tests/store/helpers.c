/* helpers.c - see helpers.h. */
#include "tests/store/helpers.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

kumo_store_options t_options(const char *dir)
{
    kumo_store_options o;
    kumo_store_options_init(&o);
    o.path = dir;
    return o;
}

kumo_store *t_open(const char *dir, const kumo_store_options *opts)
{
    kumo_store_options o = opts ? *opts : t_options(dir);
    o.path = dir;
    kumo_store *s = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error err = kumo_store_open(&o, &s, &d);
    if (err != KUMO_ERROR_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "open %s: %s: %s", dir, kumo_error_name(err),
                        d.message);
    kumo_diag_fini(&d);
    return s;
}

const kumo_object_kind *t_kind(const char *name)
{
    return kumo_object_kind_lookup(name);
}

static char *dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    memcpy(d, s, n);
    return d;
}

static void set(char **slot, const char *value)
{
    if (*slot && *slot != protobuf_c_empty_string)
        free(*slot);
    *slot = value && value[0] ? dup(value) : (char *)protobuf_c_empty_string;
}

ProtobufCMessage *t_network(const char *ns, const char *name, const char *cidr)
{
    ProtobufCMessage *obj = kumo_object_new(t_kind("Network"));
    Kumo__V1alpha1__Network *n = (Kumo__V1alpha1__Network *)obj;
    set(&n->metadata->name, name);
    set(&n->metadata->namespace_, ns);
    n->spec = malloc(sizeof(*n->spec));
    kumo__v1alpha1__network_spec__init(n->spec);
    set(&n->spec->connection, "aws-east");
    set(&n->spec->cidr, cidr);
    return obj;
}

/* Appends a key/value entry to a map field (repeated Entry messages). */
static void map_put(void *entries_slot, size_t *count, const ProtobufCMessageDescriptor *d,
                    const char *key, const char *value)
{
    ProtobufCMessage ***items = entries_slot;
    for (size_t i = 0; i < *count; i++) {
        char **k = (char **)((char *)(*items)[i] + d->fields[0].offset);
        if (strcmp(*k, key) == 0) {
            set((char **)((char *)(*items)[i] + d->fields[1].offset), value);
            return;
        }
    }
    *items = realloc(*items, (*count + 1) * sizeof(**items));
    ProtobufCMessage *e = malloc(d->sizeof_message);
    d->message_init(e);
    set((char **)((char *)e + d->fields[0].offset), key);
    set((char **)((char *)e + d->fields[1].offset), value);
    (*items)[(*count)++] = e;
}

ProtobufCMessage *t_credential(const char *ns, const char *name, const char *key, const char *value)
{
    ProtobufCMessage *obj = kumo_object_new(t_kind("Credential"));
    Kumo__V1alpha1__Credential *c = (Kumo__V1alpha1__Credential *)obj;
    set(&c->metadata->name, name);
    set(&c->metadata->namespace_, ns);
    c->spec = malloc(sizeof(*c->spec));
    kumo__v1alpha1__credential_spec__init(c->spec);
    set(&c->spec->type, "aws");
    map_put(&c->spec->data, &c->spec->n_data,
            &kumo__v1alpha1__credential_spec__data_entry__descriptor, key, value);
    return obj;
}

void t_label(ProtobufCMessage *obj, const char *key, const char *value)
{
    Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta_ensure(obj);
    map_put(&m->labels, &m->n_labels, &kumo__v1alpha1__object_meta__labels_entry__descriptor, key,
            value);
}

void t_annotation(ProtobufCMessage *obj, const char *key, const char *value)
{
    Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta_ensure(obj);
    map_put(&m->annotations, &m->n_annotations,
            &kumo__v1alpha1__object_meta__annotations_entry__descriptor, key, value);
}

void t_finalizer_add(ProtobufCMessage *obj, const char *finalizer)
{
    Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta_ensure(obj);
    m->finalizers = realloc(m->finalizers, (m->n_finalizers + 1) * sizeof(char *));
    m->finalizers[m->n_finalizers++] = dup(finalizer);
}

void t_finalizers_clear(ProtobufCMessage *obj)
{
    Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta_ensure(obj);
    for (size_t i = 0; i < m->n_finalizers; i++)
        free(m->finalizers[i]);
    free(m->finalizers);
    m->finalizers = NULL;
    m->n_finalizers = 0;
}

void t_owner_add(ProtobufCMessage *dependent, const ProtobufCMessage *owner)
{
    Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta_ensure(dependent);
    Kumo__V1alpha1__OwnerReference *r = malloc(sizeof(*r));
    kumo__v1alpha1__owner_reference__init(r);
    set(&r->api_version, KUMO_API_VERSION);
    const kumo_object_kind *k = kumo_object_kind_of(owner->descriptor);
    set(&r->kind, k->kind);
    set(&r->name, kumo_object_name(owner));
    set(&r->uid, t_uid(owner));
    m->owner_references =
        realloc(m->owner_references, (m->n_owner_references + 1) * sizeof(*m->owner_references));
    m->owner_references[m->n_owner_references++] = r;
}

void t_network_state(ProtobufCMessage *network, const char *state)
{
    Kumo__V1alpha1__Network *n = (Kumo__V1alpha1__Network *)network;
    if (n->status == NULL) {
        n->status = malloc(sizeof(*n->status));
        kumo__v1alpha1__network_status__init(n->status);
    }
    set(&n->status->state, state);
}

void t_network_cidr(ProtobufCMessage *network, const char *cidr)
{
    set(&((Kumo__V1alpha1__Network *)network)->spec->cidr, cidr);
}

void t_set_rv(ProtobufCMessage *obj, const char *rv)
{
    set(&kumo_object_meta_ensure(obj)->resource_version, rv);
}

void t_set_uid(ProtobufCMessage *obj, const char *uid)
{
    set(&kumo_object_meta_ensure(obj)->uid, uid);
}

const char *t_rv(const ProtobufCMessage *obj)
{
    return kumo_object_meta(obj)->resource_version;
}

const char *t_uid(const ProtobufCMessage *obj)
{
    return kumo_object_meta(obj)->uid;
}

int64_t t_generation(const ProtobufCMessage *obj)
{
    return kumo_object_meta(obj)->generation;
}

const char *t_state(const ProtobufCMessage *network)
{
    const Kumo__V1alpha1__Network *n = (const Kumo__V1alpha1__Network *)network;
    return n->status ? n->status->state : "";
}

const char *t_cidr(const ProtobufCMessage *network)
{
    const Kumo__V1alpha1__Network *n = (const Kumo__V1alpha1__Network *)network;
    return n->spec ? n->spec->cidr : "";
}

ProtobufCMessage *t_create_network(kumo_store *s, const char *ns, const char *name)
{
    ProtobufCMessage *in = t_network(ns, name, "10.0.0.0/16"), *out = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error err = kumo_store_create(s, in, &out, NULL, &d);
    kumo_object_destroy(in);
    if (err != KUMO_ERROR_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "create %s/%s: %s: %s", ns, name,
                        kumo_error_name(err), d.message);
    kumo_diag_fini(&d);
    return out;
}

int t_dir_contains(const char *dir, const void *needle, size_t len)
{
    DIR *d = opendir(dir);
    int hits = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t n = 0;
        char *data = kumo_test_read_file(path, &n);
        for (size_t i = 0; data && len && i + len <= n; i++)
            if (memcmp(data + i, needle, len) == 0)
                hits++;
        free(data);
    }
    if (d)
        closedir(d);
    return hits;
}
