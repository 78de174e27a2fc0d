/*
 * agents.c - the App controller's side of the agent bus.
 *
 * Every agent publishes its AgentStatus on "<prefix>.<uid>.status"; the
 * subject's uid is the Machine's, and nats-server lets only that machine's
 * key publish there, so the subject (not the document) says who spoke. The
 * newest document per uid is kept with the time it arrived: a document is
 * newer when its agent booted later, or booted at the same time and has a
 * seq at least as high (replies to apply and get carry the status too, and
 * a late periodic document must not undo them).
 *
 * When a document changes an App's part of it (instances, phases, restarts,
 * generation), that App is enqueued; a new agent (first document, or a new
 * boot_time) also enqueues every App of its Machine's Infra, so it gets its
 * Apps at once.
 */
#include "controllers/app/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"
#include "bus/agent/agent.h"
#include "controllers/runtime/clock/clock.h"

/* A status older than this is fetched with a get before a reconcile trusts its absence. */
#define GET_MIN_INTERVAL_MS 2000.0

static const kumo_codec_decode_options lenient = {.lenient = 1};

static app_agent *entry_get(kumo_app_controller *c, const char *uid)
{
    app_agent *a = kumo_map_get(c->agents, uid);
    if (a == NULL && (a = calloc(1, sizeof(*a))) != NULL &&
        kumo_map_put(c->agents, uid, a, NULL) != 0) {
        free(a);
        a = NULL;
    }
    return a;
}

static int time_cmp(const Kumo__V1alpha1__Time *a, const Kumo__V1alpha1__Time *b)
{
    int64_t as = a ? a->seconds : 0, bs = b ? b->seconds : 0;
    int32_t an = a ? a->nanos : 0, bn = b ? b->nanos : 0;
    if (as != bs)
        return as < bs ? -1 : 1;
    return an < bn ? -1 : an > bn;
}

/* 1 when an app's part differs between two documents (either may be NULL). */
static int app_part_differs(const Kumo__V1alpha1__AgentAppStatus *a,
                            const Kumo__V1alpha1__AgentAppStatus *b)
{
    if (a == NULL || b == NULL)
        return a != b;
    kumo_codec_buffer x, y;
    kumo_codec_buffer_init(&x);
    kumo_codec_buffer_init(&y);
    int differs = kumo_codec_protobuf_encode(&a->base, &x) != KUMO_ERROR_OK ||
                  kumo_codec_protobuf_encode(&b->base, &y) != KUMO_ERROR_OK || x.len != y.len ||
                  memcmp(x.data, y.data, x.len) != 0;
    kumo_codec_buffer_fini(&x);
    kumo_codec_buffer_fini(&y);
    return differs;
}

static const Kumo__V1alpha1__AgentAppStatus *find_app(const Kumo__V1alpha1__AgentStatus *s,
                                                      const char *app)
{
    for (size_t i = 0; s && i < s->n_apps; i++)
        if (s->apps[i]->app && strcmp(s->apps[i]->app, app) == 0)
            return s->apps[i];
    return NULL;
}

static void enqueue_app_key(kumo_app_controller *c, const char *app_key)
{
    char key[320];
    snprintf(key, sizeof(key), "%s", app_key);
    const char *ns, *name;
    if (app_key_split(key, &ns, &name) != 0 || name[0] == '\0')
        return;
    if (c->env.ns && strcmp(c->env.ns, ns) != 0)
        return;
    kumo_controller_enqueue(c->controller, ns, name);
}

/*
 * Keeps *status (taken) as agent uid's newest document when it is newer; with notify, enqueues
 * the Apps it changed.
 */
static void record(kumo_app_controller *c, const char *uid, Kumo__V1alpha1__AgentStatus **status,
                   int notify)
{
    Kumo__V1alpha1__AgentStatus *fresh = *status, *old = NULL;
    *status = NULL;
    char **changed = NULL;
    size_t n_changed = 0;
    int new_agent = 0;
    char ns[64] = "", infra[256] = "";
    pthread_mutex_lock(&c->lock);
    app_agent *a = entry_get(c, uid);
    if (a == NULL) {
        pthread_mutex_unlock(&c->lock);
        kumo_codec_message_free(&fresh->base);
        return;
    }
    int boot = a->status ? time_cmp(fresh->boot_time, a->status->boot_time) : 1;
    if (boot < 0 || (boot == 0 && fresh->seq < a->status->seq)) {
        pthread_mutex_unlock(&c->lock); /* a late document of an older state */
        kumo_codec_message_free(&fresh->base);
        return;
    }
    old = a->status;
    new_agent = boot > 0;
    if (notify)
        changed = calloc(fresh->n_apps + (old ? old->n_apps : 0) + 1, sizeof(*changed));
    for (size_t i = 0; notify && changed && i < fresh->n_apps; i++) {
        const char *app = fresh->apps[i]->app;
        if (app && app[0] && app_part_differs(fresh->apps[i], find_app(old, app)))
            changed[n_changed++] = strdup(app);
    }
    for (size_t i = 0; notify && changed && old && i < old->n_apps; i++) {
        const char *app = old->apps[i]->app;
        if (app && app[0] && find_app(fresh, app) == NULL)
            changed[n_changed++] = strdup(app);
    }
    a->status = fresh;
    a->received_ms = kumo_clock_now_ms();
    snprintf(ns, sizeof(ns), "%s", a->ns);
    snprintf(infra, sizeof(infra), "%s", a->infra);
    pthread_mutex_unlock(&c->lock);
    if (old)
        kumo_codec_message_free(&old->base);
    for (size_t i = 0; i < n_changed; i++) {
        if (changed[i])
            enqueue_app_key(c, changed[i]);
        free(changed[i]);
    }
    free(changed);
    if (notify && new_agent && ns[0] && infra[0])
        app_enqueue_infra(c, ns, infra);
    if (new_agent)
        KUMO_LOG_DEBUG(APP_LOG, "agent reported", "uid=%s machine=%s version=%s", uid,
                       fresh->machine, fresh->agent_version);
}

void app_agents_on_status(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    kumo_app_controller *c = closure;
    const char *subject = natsMsg_GetSubject(msg);
    size_t plen = strlen(c->prefix), slen = subject ? strlen(subject) : 0;
    static const char suffix[] = ".status";
    char uid[128];
    if (slen <= plen + 1 + sizeof(suffix) - 1 || strncmp(subject, c->prefix, plen) != 0 ||
        subject[plen] != '.' || slen - plen - 1 - (sizeof(suffix) - 1) >= sizeof(uid)) {
        natsMsg_Destroy(msg);
        return;
    }
    size_t ulen = slen - plen - 1 - (sizeof(suffix) - 1);
    memcpy(uid, subject + plen + 1, ulen);
    uid[ulen] = '\0';
    ProtobufCMessage *decoded = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    const char *data = natsMsg_GetData(msg);
    if (kumo_codec_json_decode(&kumo__v1alpha1__agent_status__descriptor, data ? data : "",
                               (size_t)natsMsg_GetDataLength(msg), &lenient, &decoded,
                               &d) == KUMO_ERROR_OK) {
        Kumo__V1alpha1__AgentStatus *s = (Kumo__V1alpha1__AgentStatus *)decoded;
        record(c, uid, &s, 1);
    } else {
        KUMO_LOG_WARN(APP_LOG, "bad agent status", "uid=%s error=\"%s\"", uid, d.message);
    }
    kumo_diag_fini(&d);
    natsMsg_Destroy(msg);
}

static void free_entry(void *context, const char *key, void *value)
{
    (void)context;
    (void)key;
    app_agent *a = value;
    if (a->status)
        kumo_codec_message_free(&a->status->base);
    free(a);
}

void app_agents_free(kumo_app_controller *c)
{
    if (c->agents) {
        kumo_map_each(c->agents, free_entry, NULL);
        kumo_map_destroy(c->agents);
        c->agents = NULL;
    }
}

void app_agents_machine(kumo_app_controller *c, const char *uid, const char *ns,
                        const char *machine, const char *infra, int deleted)
{
    if (uid == NULL || uid[0] == '\0')
        return;
    pthread_mutex_lock(&c->lock);
    if (deleted) {
        app_agent *a = kumo_map_remove(c->agents, uid);
        if (a)
            free_entry(NULL, uid, a);
    } else {
        app_agent *a = entry_get(c, uid);
        if (a) {
            snprintf(a->ns, sizeof(a->ns), "%s", ns ? ns : "");
            snprintf(a->machine, sizeof(a->machine), "%s", machine ? machine : "");
            snprintf(a->infra, sizeof(a->infra), "%s", infra ? infra : "");
        }
    }
    pthread_mutex_unlock(&c->lock);
}

void app_agents_view(kumo_app_controller *c, const char *uid, app_agent_view *view)
{
    memset(view, 0, sizeof(*view));
    view->age_ms = -1;
    double now = kumo_clock_now_ms();
    pthread_mutex_lock(&c->lock);
    app_agent *a = entry_get(c, uid);
    if (a) {
        if (a->wanted_ms == 0)
            a->wanted_ms = now;
        view->wanted_for_ms = now - a->wanted_ms;
        if (a->status) {
            view->status =
                (Kumo__V1alpha1__AgentStatus *)kumo_codec_message_clone(&a->status->base);
            view->age_ms = view->status ? now - a->received_ms : -1;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

/* Sends a request; the reply (when one came) is decoded into *reply_out. */
static natsStatus request(kumo_app_controller *c, const char *uid, const char *verb,
                          const char *data, size_t len, double timeout_ms,
                          Kumo__V1alpha1__AgentReply **reply_out, char *error, size_t error_size)
{
    *reply_out = NULL;
    char subject[384];
    if (kumo_agent_subject(subject, sizeof(subject), c->prefix, uid, verb) != 0) {
        snprintf(error, error_size, "machine uid \"%s\" cannot be a subject", uid);
        return NATS_INVALID_SUBJECT;
    }
    natsMsg *reply = NULL;
    natsStatus s =
        natsConnection_Request(&reply, c->env.agents, subject, data, (int)len, (int64_t)timeout_ms);
    if (s != NATS_OK) {
        snprintf(error, error_size, "%s: %s", subject,
                 s == NATS_NO_RESPONDERS ? "no agent is listening" : natsStatus_GetText(s));
        return s;
    }
    ProtobufCMessage *decoded = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    const char *body = natsMsg_GetData(reply);
    if (kumo_codec_json_decode(&kumo__v1alpha1__agent_reply__descriptor, body ? body : "",
                               (size_t)natsMsg_GetDataLength(reply), &lenient, &decoded,
                               &d) != KUMO_ERROR_OK) {
        snprintf(error, error_size, "%s: bad reply: %s", subject, d.message);
        s = NATS_PROTOCOL_ERROR;
    }
    kumo_diag_fini(&d);
    natsMsg_Destroy(reply);
    *reply_out = (Kumo__V1alpha1__AgentReply *)decoded;
    return s;
}

/* Records the status a reply carries (taking it out of the reply). */
static void record_reply(kumo_app_controller *c, const char *uid, Kumo__V1alpha1__AgentReply *r)
{
    if (r && r->status) {
        Kumo__V1alpha1__AgentStatus *s = r->status;
        r->status = NULL;
        record(c, uid, &s, 0);
    }
}

void app_agents_fetch(kumo_app_controller *c, const char *uid)
{
    double now = kumo_clock_now_ms();
    int ask = 0;
    pthread_mutex_lock(&c->lock);
    app_agent *a = entry_get(c, uid);
    if (a && (a->status == NULL || now - a->received_ms > c->env.agent_timeout_ms) &&
        now - a->get_ms >= GET_MIN_INTERVAL_MS) {
        a->get_ms = now;
        ask = 1;
    }
    pthread_mutex_unlock(&c->lock);
    if (!ask)
        return;
    Kumo__V1alpha1__AgentReply *reply = NULL;
    char error[512];
    double timeout = c->env.apply_timeout_ms < 1000 ? c->env.apply_timeout_ms : 1000;
    if (request(c, uid, "get", "", 0, timeout, &reply, error, sizeof(error)) == NATS_OK)
        record_reply(c, uid, reply);
    else
        KUMO_LOG_DEBUG(APP_LOG, "agent get failed", "uid=%s error=\"%s\"", uid, error);
    if (reply)
        kumo_codec_message_free(&reply->base);
}

app_apply_result app_agents_apply(kumo_app_controller *c, const char *uid,
                                  const Kumo__V1alpha1__AgentApply *apply, char *error,
                                  size_t error_size)
{
    error[0] = '\0';
    kumo_codec_buffer body;
    kumo_codec_buffer_init(&body);
    kumo_diag d;
    kumo_diag_init(&d);
    if (kumo_codec_json_encode(&apply->base, NULL, &body, &d) != KUMO_ERROR_OK) {
        snprintf(error, error_size, "cannot encode the apply: %s", d.message);
        kumo_diag_fini(&d);
        kumo_codec_buffer_fini(&body);
        return APP_APPLY_ERROR;
    }
    kumo_diag_fini(&d);
    Kumo__V1alpha1__AgentReply *reply = NULL;
    natsStatus s = request(c, uid, "apply", body.data, body.len, c->env.apply_timeout_ms, &reply,
                           error, error_size);
    kumo_codec_buffer_fini(&body);
    app_apply_result result = APP_APPLY_OK;
    if (s == NATS_NO_RESPONDERS || s == NATS_TIMEOUT)
        result = APP_APPLY_UNREACHABLE;
    else if (s != NATS_OK || reply == NULL)
        result = APP_APPLY_ERROR;
    else if (!reply->ok) {
        result = APP_APPLY_REFUSED;
        snprintf(error, error_size, "%s", reply->error[0] ? reply->error : "refused");
    }
    record_reply(c, uid, reply);
    if (reply)
        kumo_codec_message_free(&reply->base);
    return result;
}

typedef struct reporting_ctx {
    const char *app;
    double now, timeout;
    app_reporter *items;
    size_t count, cap;
    int failed;
} reporting_ctx;

static void collect(void *context, const char *uid, void *value)
{
    reporting_ctx *r = context;
    app_agent *a = value;
    const Kumo__V1alpha1__AgentAppStatus *part = find_app(a->status, r->app);
    if (part == NULL || r->failed)
        return;
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        app_reporter *items = realloc(r->items, cap * sizeof(*items));
        if (items == NULL) {
            r->failed = 1;
            return;
        }
        r->items = items;
        r->cap = cap;
    }
    app_reporter *out = &r->items[r->count++];
    snprintf(out->uid, sizeof(out->uid), "%s", uid);
    out->instances = part->n_instances;
    out->live = r->now - a->received_ms <= r->timeout;
}

app_reporter *app_agents_reporting(kumo_app_controller *c, const char *app_key, size_t *count_out)
{
    reporting_ctx r = {
        .app = app_key, .now = kumo_clock_now_ms(), .timeout = c->env.agent_timeout_ms};
    pthread_mutex_lock(&c->lock);
    kumo_map_each(c->agents, collect, &r);
    pthread_mutex_unlock(&c->lock);
    *count_out = r.count;
    return r.items;
}
