/*
 * infra_helpers.c - what the infra controller tests share (infra_helpers.h).
 */
#include "tests/controllers/infra_helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/log/log.h"
#include "apis/object/object.h"

/* Credentials this "process" can read (kumod reads them from its store): "good" and "bad"
 * of type sim, "tls" of type tls. */
kumo_error read_credential(void *context, const char *ns, const char *name, ProtobufCMessage **out,
                           kumo_diag *diag)
{
    (void)context;
    (void)ns;
    const char *secret = strcmp(name, "good") == 0  ? "s3cret"
                         : strcmp(name, "bad") == 0 ? "wrong"
                         : strcmp(name, "tls") == 0 ? "pem"
                                                    : NULL;
    if (secret == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOT_FOUND, "Credential \"%s\" not found", name);
    *out = api_decode("{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Credential\","
                      " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
                      " \"spec\": {\"type\": \"%s\", \"data\": {\"secret_key\": \"%s\"}}}",
                      name, strcmp(name, "tls") == 0 ? "tls" : "sim", secret);
    return *out ? KUMO_ERROR_OK : KUMO_ERROR_NOMEM;
}

kumo_manager *start_controllers(api_fixture *f, const char *list)
{
    if (getenv("KUMO_TEST_DEBUG"))
        kumo_log_set_level(KUMO_LOG_LEVEL_DEBUG);
    kumo_manager_options o = {.nats_url = f->url,
                              .controllers = list,
                              .drivers_dir = f->drivers_dir,
                              .holder = "test",
                              .lease_duration_ms = 2000,
                              .workers = 16,
                              .drift_poll_ms = 1000,
                              .probe_interval_ms = 2000,
                              .read_credential = read_credential};
    kumo_manager *m = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    if (kumo_manager_start(&o, &m, &d) != KUMO_ERROR_OK)
        fprintf(stderr, "manager: %s\n", d.message);
    kumo_diag_fini(&d);
    return m;
}

int has_condition(api_fixture *f, void *arg)
{
    condition_want *w = arg;
    ProtobufCMessage *o = api_get(f, w->kind, w->name);
    const Kumo__V1alpha1__Condition *c = o ? kumo_object_condition_get(o, w->type) : NULL;
    int ok =
        c && strcmp(c->status, w->status) == 0 && (!w->reason || strcmp(c->reason, w->reason) == 0);
    kumo_object_destroy(o);
    return ok;
}

void print_condition(api_fixture *f, const char *kind, const char *name, const char *type)
{
    ProtobufCMessage *o = api_get(f, kind, name);
    const Kumo__V1alpha1__Condition *c = o ? kumo_object_condition_get(o, type) : NULL;
    fprintf(stderr, "%s %s %s: %s %s %s\n", kind, name, type, c ? c->status : "-",
            c ? c->reason : "-", c ? c->message : "-");
    kumo_object_destroy(o);
}

const char plain_machine[] =
    "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Machine\", \"metadata\": {\"name\": "
    "\"%s\", \"namespace\": \"default\"%s}, \"spec\": {\"connection\": \"c0\", \"instanceType\": "
    "\"t3.micro\", \"image\": \"ubuntu-22.04\"}}";

int machine_running(api_fixture *f, void *arg)
{
    Kumo__V1alpha1__Machine *m = (Kumo__V1alpha1__Machine *)api_get(f, "Machine", arg);
    int ok = m && m->status && m->status->phase == KUMO__V1ALPHA1__MACHINE_STATUS__PHASE__Running;
    kumo_object_destroy(m ? &m->base : NULL);
    return ok;
}

/* A driver connection of this process to the fixture's sim account (shares its state). */
struct kumo_driver_conn *sim_open(api_fixture *f, kumo_driver_handle **handle)
{
    kumo_diag d;
    kumo_diag_init(&d);
    if (kumo_driver_load(f->drivers_dir, "sim", handle, &d) != KUMO_ERROR_OK)
        return NULL;
    const struct kumo_driver *drv = kumo_driver_table(*handle);
    struct kumo_driver_kv config[] = {{"provider", "aws"},
                                      {"region", "us-east-1"},
                                      {"state", f->state},
                                      {"fsync", "false"},
                                      {"boot_seconds", "0.3"}};
    struct kumo_driver_open_args args = {.struct_size = sizeof(args),
                                         .connection = "test/direct",
                                         .config = config,
                                         .config_count = 5};
    struct kumo_driver_conn *conn = NULL;
    struct kumo_driver_diag dd;
    drv->open(&args, &conn, &dd);
    kumo_diag_fini(&d);
    return conn;
}

/* The number of machines with `token` in the sim (through the driver's list). */
size_t sim_machines_with_token(kumo_driver_handle *handle, struct kumo_driver_conn *conn,
                               const char *token)
{
    const struct kumo_driver *drv = kumo_driver_table(handle);
    struct kumo_driver_filter filter = {KUMO_DRIVER_TOKEN_TAG, token};
    struct kumo_driver_machine_list *list = NULL;
    struct kumo_driver_diag dd;
    size_t n = 0;
    if (drv->machine_list(conn, &filter, KUMO_DRIVER_NO_DEADLINE, &list, &dd) == KUMO_DRIVER_OK) {
        for (size_t i = 0; i < list->count; i++)
            n += strcmp(list->items[i]->token, token) == 0 &&
                 list->items[i]->phase != KUMO_DRIVER_MACHINE_TERMINATED &&
                 list->items[i]->phase != KUMO_DRIVER_MACHINE_TERMINATING;
        kumo_driver_free(kumo_driver_host_of(handle), list);
    }
    return n;
}

int object_gone(api_fixture *f, void *arg)
{
    const char *const *kind_name = arg;
    ProtobufCMessage *o = api_get(f, kind_name[0], kind_name[1]);
    kumo_object_destroy(o);
    return o == NULL;
}
