/*
 * labels.c - the labels a machine's series carry, from the store: two
 * watches (Machines, Connections) keep small copies of what the labels need
 * (namespace, name, connection, infra, group; provider, region). A machine
 * the store does not know (yet) is labelled by its uid only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/kumo/v1alpha1/connection.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/object/object.h"
#include "bus/monitor/internal.h"

static const char *label(const Kumo__V1alpha1__ObjectMeta *meta, const char *key)
{
    for (size_t i = 0; i < meta->n_labels; i++)
        if (strcmp(meta->labels[i]->key, key) == 0)
            return meta->labels[i]->value;
    return "";
}

static void on_machine(void *context, kumo_client_event_type type, int64_t revision,
                       const ProtobufCMessage *object)
{
    (void)revision;
    kumo_monitor *m = context;
    const Kumo__V1alpha1__Machine *machine = (const Kumo__V1alpha1__Machine *)object;
    const Kumo__V1alpha1__ObjectMeta *meta = machine->metadata;
    if (meta == NULL || meta->uid == NULL || meta->uid[0] == '\0')
        return;
    pthread_mutex_lock(&m->lock);
    if (type == KUMO_CLIENT_EVENT_DELETED) {
        free(kumo_map_remove(m->machines, meta->uid));
    } else {
        monitor_machine *info = kumo_map_get(m->machines, meta->uid);
        if (info == NULL && (info = calloc(1, sizeof(*info))) != NULL &&
            kumo_map_put(m->machines, meta->uid, info, NULL) != 0) {
            free(info);
            info = NULL;
        }
        if (info) {
            snprintf(info->ns, sizeof(info->ns), "%s", meta->namespace_);
            snprintf(info->name, sizeof(info->name), "%s", meta->name);
            snprintf(info->connection, sizeof(info->connection), "%s",
                     machine->spec ? machine->spec->connection : "");
            snprintf(info->infra, sizeof(info->infra), "%s", label(meta, "kumo.dev/infra"));
            snprintf(info->group, sizeof(info->group), "%s", label(meta, "kumo.dev/group"));
        }
    }
    pthread_mutex_unlock(&m->lock);
}

static void on_connection(void *context, kumo_client_event_type type, int64_t revision,
                          const ProtobufCMessage *object)
{
    (void)revision;
    kumo_monitor *m = context;
    const Kumo__V1alpha1__Connection *c = (const Kumo__V1alpha1__Connection *)object;
    const Kumo__V1alpha1__ObjectMeta *meta = c->metadata;
    if (meta == NULL || meta->name == NULL)
        return;
    char key[200];
    snprintf(key, sizeof(key), "%s/%s", meta->namespace_, meta->name);
    pthread_mutex_lock(&m->lock);
    if (type == KUMO_CLIENT_EVENT_DELETED) {
        free(kumo_map_remove(m->connections, key));
    } else {
        monitor_connection *info = kumo_map_get(m->connections, key);
        if (info == NULL && (info = calloc(1, sizeof(*info))) != NULL &&
            kumo_map_put(m->connections, key, info, NULL) != 0) {
            free(info);
            info = NULL;
        }
        if (info && c->spec) {
            const char *provider = c->spec->provider[0] ? c->spec->provider : c->spec->driver;
            snprintf(info->provider, sizeof(info->provider), "%s", provider);
            snprintf(info->region, sizeof(info->region), "%s", c->spec->region);
        }
    }
    pthread_mutex_unlock(&m->lock);
}

kumo_error monitor_labels_start(kumo_monitor *m, kumo_diag *diag)
{
    kumo_client_watch_options o = {0};
    kumo_error e = kumo_client_watch_start(m->client, kumo_object_kind_lookup("Connection"), NULL,
                                           &o, on_connection, m, &m->connection_watch, diag);
    if (e == KUMO_ERROR_OK)
        e = kumo_client_watch_start(m->client, kumo_object_kind_lookup("Machine"), NULL, &o,
                                    on_machine, m, &m->machine_watch, diag);
    return e;
}

void monitor_labels_of(kumo_monitor *m, const char *uid, const char **values)
{
    const monitor_machine *info = kumo_map_get(m->machines, uid);
    for (int i = 0; i < MONITOR_LABELS; i++)
        values[i] = "";
    if (info == NULL) {
        values[1] = uid;
        return;
    }
    values[0] = info->ns;
    values[1] = info->name;
    values[2] = info->connection;
    values[5] = info->infra;
    values[6] = info->group;
    char key[200];
    snprintf(key, sizeof(key), "%s/%s", info->ns, info->connection);
    const monitor_connection *c = kumo_map_get(m->connections, key);
    if (c) {
        values[3] = c->provider;
        values[4] = c->region;
    }
}
