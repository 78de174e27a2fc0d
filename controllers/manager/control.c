/*
 * control.c - the driver-control RPC service (control.h):
 * P.control.connections.<ns>.<name> {"op": "...", "input": {...}} runs the
 * driver's control operation on that Connection and replies with the
 * driver's JSON or {"error": "...", "reason": "..."}. Only the manager that
 * leads the connection controller answers.
 */
#include "controllers/manager/control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/object/object.h"
#include "controllers/manager/json.h"
#include "controllers/manager/supervisor.h"

/* One request, parsed: names point into `subject`, op into `body`, input as JSON text. */
typedef struct control_request {
    char subject[512];
    const char *ns, *name;
    kumo_value *body;
    const kumo_value *op;
    int has_input;
    kumo_codec_buffer input;
} control_request;

static void reply_error(natsConnection *nc, const char *reply, kumo_error e, const char *message)
{
    manager_json j;
    manager_json_init(&j);
    manager_json_printf(&j, "{\"error\":");
    manager_json_string(&j, message);
    manager_json_printf(&j, ",\"reason\":\"%s\"}",
                        kumo_error_reason(e)[0] ? kumo_error_reason(e) : "Error");
    if (!j.failed)
        natsConnection_PublishString(nc, reply, j.b.data);
    kumo_codec_buffer_fini(&j.b);
}

/* The namespace and name from the subject, the op and input from the body. */
static kumo_error request_parse(kumo_manager *m, natsMsg *msg, control_request *r, kumo_diag *diag)
{
    snprintf(r->subject, sizeof(r->subject), "%s", natsMsg_GetSubject(msg));
    char *tail = r->subject + strlen(m->prefix) + strlen(".control.connections.");
    char *name = NULL;
    if (strlen(r->subject) > (size_t)(tail - r->subject)) {
        name = strchr(tail, '.');
        if (name)
            *name++ = '\0';
    }
    if (name == NULL || name[0] == '\0')
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "subject must be %s.control.connections.<namespace>.<name>",
                             m->prefix);
    r->ns = tail;
    r->name = name;
    kumo_error e = kumo_codec_value_parse_json(
        natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), NULL, &r->body, diag);
    if (e != KUMO_ERROR_OK)
        return e;
    r->op = kumo_codec_value_get(r->body, "op");
    const kumo_value *input = kumo_codec_value_get(r->body, "input");
    if (r->op == NULL || r->op->type != KUMO_VALUE_STRING)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "the request needs {\"op\": \"<operation>\", \"input\": {...}}");
    r->has_input = input != NULL;
    return input ? kumo_codec_value_to_json(input, 0, &r->input) : KUMO_ERROR_OK;
}

/* Reads the Connection, opens it in the cloud registry and runs the op; *out is malloc'd. */
static kumo_error request_run(kumo_manager *m, const control_request *r, char **out,
                              kumo_diag *diag)
{
    ProtobufCMessage *connection = NULL;
    kumo_cloud_conn *conn = NULL;
    kumo_error e = kumo_client_get(m->env.client, kumo_object_kind_lookup("Connection"), r->ns,
                                   r->name, &connection, diag);
    if (e == KUMO_ERROR_OK)
        e = kumo_cloud_open(m->env.cloud, connection, &conn, diag);
    if (e == KUMO_ERROR_OK)
        e = kumo_cloud_control(conn, r->op->text, r->has_input ? r->input.data : NULL, out, diag);
    kumo_cloud_conn_release(conn);
    kumo_object_destroy(connection);
    return e;
}

static void on_control(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    kumo_manager *m = closure;
    const char *reply = natsMsg_GetReply(msg);
    /* The process that leads the connection controller answers. */
    if (reply && reply[0] && manager_handler_enter(m)) {
        if (manager_slot_leads(m, "connection")) {
            control_request r;
            memset(&r, 0, sizeof(r));
            kumo_codec_buffer_init(&r.input);
            kumo_diag diag;
            kumo_diag_init(&diag);
            char *out = NULL;
            kumo_error e = request_parse(m, msg, &r, &diag);
            if (e == KUMO_ERROR_OK)
                e = request_run(m, &r, &out, &diag);
            if (e == KUMO_ERROR_OK)
                natsConnection_PublishString(nc, reply, out);
            else
                reply_error(nc, reply, e, diag.message[0] ? diag.message : kumo_error_text(e));
            free(out);
            kumo_codec_buffer_fini(&r.input);
            kumo_codec_value_destroy(r.body);
            kumo_diag_fini(&diag);
        }
        manager_handler_leave(m);
    }
    natsMsg_Destroy(msg);
}

kumo_error manager_control_subscribe(kumo_manager *m, kumo_diag *diag)
{
    char subject[300];
    snprintf(subject, sizeof(subject), "%s.control.connections.*.*", m->prefix);
    natsStatus s = natsConnection_Subscribe(&m->control_sub, m->nc, subject, on_control, m);
    if (s != NATS_OK)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_UNAVAILABLE, "nats", s,
                                     "controller manager: cannot subscribe to %s: %s", subject,
                                     natsStatus_GetText(s));
    return KUMO_ERROR_OK;
}
