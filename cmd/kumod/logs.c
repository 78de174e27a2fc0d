/*
 * logs.c - kumod relays `kumoctl logs` to the agent of one machine.
 *
 * kumoctl asks on the API bus, <prefix>.logs.<namespace> (the namespace in
 * the subject, so NATS permissions on the API bus decide who may read the
 * output of which namespace's Apps), with an AgentLogsRequest naming the
 * App, the Machine, the component and the replica. kumod looks the Machine
 * up in its store and forwards the request on the agent bus to
 * kumo.agent.<machine uid>.logs, which only that machine's agent may
 * receive (the per-machine permissions of bus/agent); the agent's AgentLogs
 * goes back to kumoctl as it came.
 *
 * Requests are served one at a time on nats.c's thread for the
 * subscription; each waits at most AGENT_WAIT_MS for the agent. Stopping
 * waits for the request in progress, never for the buses (they may be
 * gone).
 */
#include "cmd/kumod/logs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/kumo/v1alpha1/agent.pb-c.h"
#include "apis/log/log.h"
#include "apis/object/object.h"
#include "bus/agent/agent.h"

#define AGENT_WAIT_MS 5000

struct kumod_logs {
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int busy, stopping; /* a request in progress; no new ones once stopping */
    kumo_store *store;
    natsConnection *api, *agents;
    natsSubscription *sub;
    char subject_prefix[160]; /* "<prefix>.logs." */
};

/* Replies an AgentLogs with ok false and the error. */
static void reply_error(natsConnection *nc, natsMsg *msg, const char *error)
{
    Kumo__V1alpha1__AgentLogs reply = KUMO__V1ALPHA1__AGENT_LOGS__INIT;
    reply.error = (char *)error;
    kumo_codec_buffer out;
    kumo_codec_buffer_init(&out);
    if (natsMsg_GetReply(msg) &&
        kumo_codec_json_encode(&reply.base, NULL, &out, NULL) == KUMO_ERROR_OK)
        natsConnection_Publish(nc, natsMsg_GetReply(msg), out.data, (int)out.len);
    kumo_codec_buffer_fini(&out);
}

/* The uid of the Machine the request names, or an error sentence in err. */
static int machine_uid(kumod_logs *l, const char *ns, const char *machine, char *uid, size_t size,
                       char *err, size_t err_size)
{
    ProtobufCMessage *m = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error e =
        kumo_store_get(l->store, kumo_object_kind_lookup("Machine"), ns, machine, &m, NULL, &diag);
    if (e == KUMO_ERROR_NOT_FOUND)
        snprintf(err, err_size, "Machine \"%s\" not found in namespace \"%s\"", machine, ns);
    else if (e != KUMO_ERROR_OK)
        snprintf(err, err_size, "reading Machine \"%s\": %.400s", machine, diag.message);
    else
        snprintf(uid, size, "%s", kumo_object_meta(m)->uid);
    kumo_object_destroy(m);
    kumo_diag_fini(&diag);
    return e == KUMO_ERROR_OK ? 0 : -1;
}

/* Checks the request and forwards it; the agent's reply goes back as it came. */
static void forward(kumod_logs *l, natsMsg *msg, const char *ns,
                    Kumo__V1alpha1__AgentLogsRequest *r)
{
    char err[600] = "", uid[128], subject[512];
    size_t ns_len = strlen(ns);
    if (strncmp(r->app, ns, ns_len) != 0 || r->app[ns_len] != '/' || r->machine[0] == '\0') {
        snprintf(err, sizeof(err),
                 "a logs request in namespace \"%s\" names app \"%s\" and "
                 "machine \"%s\": it needs \"%s/<app>\" and a machine",
                 ns, r->app, r->machine, ns);
        reply_error(l->api, msg, err);
        return;
    }
    if (machine_uid(l, ns, r->machine, uid, sizeof(uid), err, sizeof(err)) != 0 ||
        kumo_agent_subject(subject, sizeof(subject), KUMO_AGENT_PREFIX, uid, "logs") != 0) {
        reply_error(l->api, msg, err[0] ? err : "the Machine has no agent subject");
        return;
    }
    char *machine = r->machine;
    r->machine = (char *)""; /* the agent knows which machine it is */
    kumo_codec_buffer body;
    kumo_codec_buffer_init(&body);
    natsMsg *answer = NULL;
    natsStatus s = NATS_ERR;
    if (kumo_codec_json_encode(&r->base, NULL, &body, NULL) == KUMO_ERROR_OK)
        s = natsConnection_Request(&answer, l->agents, subject, body.data, (int)body.len,
                                   AGENT_WAIT_MS);
    r->machine = machine;
    kumo_codec_buffer_fini(&body);
    if (s != NATS_OK) {
        snprintf(err, sizeof(err),
                 "the agent of Machine \"%s\" did not answer (%s): is the machine running?",
                 r->machine, natsStatus_GetText(s));
        reply_error(l->api, msg, err);
    } else if (natsMsg_GetReply(msg)) {
        natsConnection_Publish(l->api, natsMsg_GetReply(msg), natsMsg_GetData(answer),
                               natsMsg_GetDataLength(answer));
    }
    natsMsg_Destroy(answer);
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    kumod_logs *l = closure;
    pthread_mutex_lock(&l->lock);
    int stopping = l->stopping;
    l->busy += !stopping;
    pthread_mutex_unlock(&l->lock);
    if (stopping) {
        natsMsg_Destroy(msg);
        return;
    }
    const char *ns = natsMsg_GetSubject(msg) + strlen(l->subject_prefix);
    ProtobufCMessage *request = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    if (kumo_codec_json_decode(&kumo__v1alpha1__agent_logs_request__descriptor,
                               natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), NULL,
                               &request, &diag) != KUMO_ERROR_OK) {
        char err[1100];
        snprintf(err, sizeof(err), "logs request: %s", diag.message);
        reply_error(l->api, msg, err);
    } else {
        forward(l, msg, ns, (Kumo__V1alpha1__AgentLogsRequest *)request);
    }
    kumo_codec_message_free(request);
    kumo_diag_fini(&diag);
    natsMsg_Destroy(msg);
    pthread_mutex_lock(&l->lock);
    l->busy--;
    pthread_cond_broadcast(&l->idle);
    pthread_mutex_unlock(&l->lock);
}

static natsStatus connect_to(natsConnection **nc, const char *url, const char *user,
                             const char *password)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, url);
    if (s == NATS_OK && user)
        s = natsOptions_SetUserInfo(o, user, password);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    return s;
}

kumo_error kumod_logs_start(const kumod_logs_options *o, kumod_logs **out, kumo_diag *diag)
{
    kumod_logs *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->idle, NULL);
    l->store = o->store;
    snprintf(l->subject_prefix, sizeof(l->subject_prefix), "%s.logs.", o->api_prefix);
    char subject[200];
    snprintf(subject, sizeof(subject), "%s*", l->subject_prefix);
    natsStatus s = connect_to(&l->api, o->api_url, NULL, NULL);
    if (s == NATS_OK)
        s = connect_to(&l->agents, o->agent_url, o->agent_user, o->agent_password);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&l->sub, l->api, subject, on_request, l);
    if (s == NATS_OK)
        s = natsConnection_Flush(l->api);
    if (s != NATS_OK) {
        kumod_logs_stop(l);
        return kumo_diag_set_foreign(diag, KUMO_ERROR_UNAVAILABLE, "nats", s,
                                     "cannot serve logs on %s: %s", subject, natsStatus_GetText(s));
    }
    KUMO_LOG_INFO("kumod", "serving logs", "subject=%s", subject);
    *out = l;
    return KUMO_ERROR_OK;
}

void kumod_logs_stop(kumod_logs *l)
{
    if (l == NULL)
        return;
    /* no callback may run once l is freed: refuse new ones, wait for the one in progress
     * (bounded by its request to the agent); the buses may be down, so no draining */
    pthread_mutex_lock(&l->lock);
    l->stopping = 1;
    while (l->busy > 0)
        pthread_cond_wait(&l->idle, &l->lock);
    pthread_mutex_unlock(&l->lock);
    if (l->sub) {
        natsSubscription_Unsubscribe(l->sub);
        natsSubscription_Destroy(l->sub);
    }
    natsConnection_Close(l->api);
    natsConnection_Destroy(l->api);
    natsConnection_Close(l->agents);
    natsConnection_Destroy(l->agents);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->idle);
    free(l);
}
