/*
 * desired.c - desired state through JetStream (docs/api.md §6).
 *
 * kumod owns the stream KUMO_DESIRED on <prefix>.desired.> (work-queue
 * retention: a message stays until kumod acknowledges it; file storage;
 * 2-minute duplicate window for Nats-Msg-Id) and the durable pull consumer
 * "kumod" (explicit acks). Because the consumer is durable, objects
 * published while kumod is down wait in the stream and are applied when it
 * comes back.
 *
 * One fetcher thread pulls batches; each message goes to one of a few
 * applier lanes by a hash of its subject, so the messages of one object are
 * applied in order while different objects are applied concurrently and
 * share the store's group commit. A message is acknowledged only after
 * kumo_store_apply returned, i.e. after the commit is durable.
 *
 * Outcomes: applied -> Ack. A transient store error -> Nak with a delay
 * (redelivered; after DESIRED_MAX_DELIVER attempts it is rejected).
 * Anything else (bad subject, unknown kind, bad encoding, invalid object,
 * conflicting resourceVersion) -> the Status is published on
 * <prefix>.rejected.<resource>.<namespace>.<name> with the original
 * Nats-Msg-Id, logged, and the message terminated, so it never blocks the
 * messages behind it.
 */
#include "bus/apiserver/internal.h"

#include <stdlib.h>
#include <string.h>

#include "apis/log/log.h"

#define DESIRED_LANES       16
#define DESIRED_BATCH       256
#define DESIRED_FETCH_MS    500
#define DESIRED_RETRY_MS    1000
#define DESIRED_MAX_DELIVER 10
#define DESIRED_ACK_WAIT_NS ((int64_t)30 * 1000000000)
#define DESIRED_DUPLICATES  ((int64_t)120 * 1000000000)

/* "<prefix>.desired.X" -> "<prefix>.rejected.X" */
static void rejected_subject(const kumo_apiserver *s, const char *subject, char *buf, size_t size)
{
    size_t plen = strlen(s->prefix);
    const char *rest = "";
    if (strncmp(subject, s->prefix, plen) == 0 && strncmp(subject + plen, ".desired", 8) == 0)
        rest = subject + plen + 8;
    snprintf(buf, size, "%s.rejected%s", s->prefix, rest);
}

static void reject(apiserver_lane *lane, natsMsg *msg, const kumo_object_kind *kind,
                   const char *name)
{
    kumo_apiserver *s = lane->server;
    char subject[600];
    rejected_subject(s, natsMsg_GetSubject(msg), subject, sizeof(subject));
    int code = apiserver_encode_status(&lane->diag, kind, name, KUMO_CODEC_FORMAT_JSON, &lane->out);
    char code_text[16];
    snprintf(code_text, sizeof(code_text), "%d", code);
    const char *msg_id = apiserver_header(msg, KUMO_PROTOCOL_HEADER_MSG_ID);
    const char *headers[] = {KUMO_PROTOCOL_HEADER_CODE,
                             code_text,
                             KUMO_PROTOCOL_HEADER_CONTENT_TYPE,
                             KUMO_PROTOCOL_CONTENT_JSON,
                             msg_id ? KUMO_PROTOCOL_HEADER_MSG_ID : NULL,
                             msg_id,
                             NULL};
    apiserver_publish(s->conn, subject, lane->out.data, lane->out.len, headers);
    KUMO_LOG_WARN("apiserver", "desired object rejected",
                  "subject=%s msg_id=%s code=%d reason=%s detail=\"%s\"", natsMsg_GetSubject(msg),
                  msg_id ? msg_id : "", code, kumo_error_reason(lane->diag.code),
                  lane->diag.message);
    natsMsg_Term(msg, NULL);
}

/* Decodes and checks one message against its subject; *out owned by the caller. */
static kumo_error decode_desired(apiserver_lane *lane, natsMsg *msg,
                                 const kumo_protocol_object_subject *subject,
                                 ProtobufCMessage **out)
{
    kumo_diag *diag = &lane->diag;
    kumo_codec_format format;
    kumo_error err = kumo_protocol_format_of(
        apiserver_header(msg, KUMO_PROTOCOL_HEADER_CONTENT_TYPE), &format, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    if (!kumo_object_namespace_is_valid(subject->ns))
        return kumo_diag_set(diag, KUMO_ERROR_INVALID,
                             "namespace \"%s\" in subject \"%s\" is not a DNS-1123 label",
                             subject->ns, natsMsg_GetSubject(msg));
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    if (len > lane->server->max_request_bytes)
        return kumo_diag_set(diag, KUMO_ERROR_TOO_LARGE,
                             "the object is %zu bytes; the limit is %zu", len,
                             lane->server->max_request_bytes);
    err = apiserver_decode_object(lane->server->max_request_bytes, natsMsg_GetData(msg), len,
                                  format, subject->kind, subject->ns, out, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(*out);
    if (meta->name == NULL || meta->name[0] == '\0')
        err = kumo_codec_string_set(&meta->name, subject->name) == KUMO_ERROR_OK
                  ? KUMO_ERROR_OK
                  : kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    else if (strcmp(meta->name, subject->name) != 0)
        err =
            kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                          "the %s is named \"%s\" but the subject \"%s\" names \"%s\"",
                          subject->kind->kind, meta->name, natsMsg_GetSubject(msg), subject->name);
    if (err != KUMO_ERROR_OK) {
        kumo_object_destroy(*out);
        *out = NULL;
    }
    return err;
}

static uint64_t delivery_count(natsMsg *msg)
{
    jsMsgMetaData *meta = NULL;
    uint64_t n = 1;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK && meta != NULL)
        n = meta->NumDelivered;
    jsMsgMetaData_Destroy(meta);
    return n;
}

static void apply_one(apiserver_lane *lane, natsMsg *msg)
{
    kumo_apiserver *s = lane->server;
    kumo_diag *diag = &lane->diag;
    kumo_diag_fini(diag);
    kumo_protocol_object_subject subject;
    if (kumo_protocol_object_subject_parse(s->prefix, "desired", natsMsg_GetSubject(msg), &subject,
                                           diag) != KUMO_ERROR_OK) {
        reject(lane, msg, NULL, subject.name[0] ? subject.name : NULL);
        return;
    }
    ProtobufCMessage *object = NULL;
    if (decode_desired(lane, msg, &subject, &object) != KUMO_ERROR_OK) {
        reject(lane, msg, subject.kind, subject.name);
        return;
    }
    kumo_error err = kumo_store_apply(s->store, object, NULL, NULL, NULL, diag);
    kumo_object_destroy(object);
    if (err == KUMO_ERROR_OK) {
        natsMsg_Ack(msg, NULL);
        return;
    }
    if (kumo_error_class_of(err) == KUMO_ERROR_CLASS_RETRY &&
        delivery_count(msg) < DESIRED_MAX_DELIVER) {
        KUMO_LOG_WARN("apiserver", "desired object not applied; retrying",
                      "subject=%s error=%s detail=\"%s\"", natsMsg_GetSubject(msg),
                      kumo_error_name(err), diag->message);
        natsMsg_NakWithDelay(msg, DESIRED_RETRY_MS, NULL);
        return;
    }
    reject(lane, msg, subject.kind, subject.name);
}

static void *lane_main(void *arg)
{
    apiserver_lane *lane = arg;
    apiserver_desired *d = &lane->server->desired;
    uint64_t seen = 0;
    pthread_mutex_lock(&d->lock);
    for (;;) {
        while (d->generation == seen && !d->stopping)
            pthread_cond_wait(&d->start_cond, &d->lock);
        if (d->generation == seen)
            break; /* stopping */
        seen = d->generation;
        pthread_mutex_unlock(&d->lock);
        for (size_t i = 0; i < lane->count; i++)
            apply_one(lane, lane->msgs[i]);
        pthread_mutex_lock(&d->lock);
        if (--d->busy == 0)
            pthread_cond_signal(&d->done_cond);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* Spreads a batch over the lanes (same subject, same lane) and waits for all of them. */
static void apply_batch(kumo_apiserver *s, natsMsgList *list)
{
    apiserver_desired *d = &s->desired;
    for (int l = 0; l < d->lane_count; l++)
        d->lanes[l].count = 0;
    for (int i = 0; i < list->Count; i++) {
        uint64_t h = 1469598103934665603ull;
        for (const char *p = natsMsg_GetSubject(list->Msgs[i]); *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        apiserver_lane *lane = &d->lanes[h % (uint64_t)d->lane_count];
        if (lane->count == lane->cap) {
            size_t cap = lane->cap ? lane->cap * 2 : 16;
            natsMsg **grown = realloc(lane->msgs, cap * sizeof(*grown));
            if (grown == NULL)
                continue; /* not acked: redelivered after the ack wait */
            lane->msgs = grown;
            lane->cap = cap;
        }
        lane->msgs[lane->count++] = list->Msgs[i];
    }
    pthread_mutex_lock(&d->lock);
    if (d->stopping) {
        /* The lanes are gone: give the batch back for the next kumod at once. */
        pthread_mutex_unlock(&d->lock);
        for (int i = 0; i < list->Count; i++)
            natsMsg_Nak(list->Msgs[i], NULL);
        return;
    }
    d->busy = d->lane_count;
    d->generation++;
    pthread_cond_broadcast(&d->start_cond);
    while (d->busy > 0)
        pthread_cond_wait(&d->done_cond, &d->lock);
    pthread_mutex_unlock(&d->lock);
}

static void *fetcher_main(void *arg)
{
    kumo_apiserver *s = arg;
    apiserver_desired *d = &s->desired;
    for (;;) {
        pthread_mutex_lock(&d->lock);
        int stopping = d->stopping;
        pthread_mutex_unlock(&d->lock);
        if (stopping)
            break;
        natsMsgList list = {0};
        jsErrCode jerr = 0;
        natsStatus st =
            natsSubscription_Fetch(&list, d->sub, DESIRED_BATCH, DESIRED_FETCH_MS, &jerr);
        if (st == NATS_OK && list.Count > 0) {
            apply_batch(s, &list);
        } else if (st != NATS_OK && st != NATS_TIMEOUT) {
            KUMO_LOG_DEBUG("apiserver", "desired-state fetch failed; retrying", "error=\"%s\"",
                           natsStatus_GetText(st));
            struct timespec pause = {0, 250 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
        natsMsgList_Destroy(&list);
    }
    return NULL;
}

static kumo_error setup_stream(kumo_apiserver *s, kumo_diag *diag)
{
    apiserver_desired *d = &s->desired;
    char subject[200];
    snprintf(subject, sizeof(subject), "%s.desired.>", s->prefix);
    const char *subjects[] = {subject};
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = KUMO_APISERVER_DESIRED_STREAM;
    sc.Description = "kumo desired state: objects waiting to be applied by kumod";
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Retention = js_WorkQueuePolicy;
    sc.Storage = js_FileStorage;
    sc.Duplicates = DESIRED_DUPLICATES;
    jsErrCode jerr = 0;
    jsStreamInfo *si = NULL;
    natsStatus st = js_AddStream(&si, d->js, &sc, NULL, &jerr);
    if (st != NATS_OK && jerr == JSStreamNameExistErr) {
        jerr = 0;
        st = js_UpdateStream(&si, d->js, &sc, NULL, &jerr);
    }
    jsStreamInfo_Destroy(si);
    if (st != NATS_OK)
        return kumo_diag_set_foreign(
            diag, KUMO_ERROR_UNAVAILABLE, "nats", jerr ? (long)jerr : (long)st,
            "cannot create the JetStream stream %s on %s: %s (error %d); is JetStream enabled "
            "(nats-server -js)?",
            KUMO_APISERVER_DESIRED_STREAM, s->url, natsStatus_GetText(st), (int)jerr);

    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = KUMO_APISERVER_DESIRED_DURABLE;
    cc.Description = "kumod applies desired state";
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = DESIRED_ACK_WAIT_NS;
    cc.MaxAckPending = 4 * DESIRED_BATCH;
    cc.DeliverPolicy = js_DeliverAll;
    jsConsumerInfo *ci = NULL;
    jerr = 0;
    st = js_AddConsumer(&ci, d->js, KUMO_APISERVER_DESIRED_STREAM, &cc, NULL, &jerr);
    if (st != NATS_OK) {
        jsConsumerInfo_Destroy(ci);
        ci = NULL;
        jerr = 0;
        st = js_UpdateConsumer(&ci, d->js, KUMO_APISERVER_DESIRED_STREAM, &cc, NULL, &jerr);
    }
    jsConsumerInfo_Destroy(ci);
    if (st != NATS_OK)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_UNAVAILABLE, "nats",
                                     jerr ? (long)jerr : (long)st,
                                     "cannot create the durable consumer %s on stream %s: %s "
                                     "(error %d)",
                                     KUMO_APISERVER_DESIRED_DURABLE, KUMO_APISERVER_DESIRED_STREAM,
                                     natsStatus_GetText(st), (int)jerr);

    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = KUMO_APISERVER_DESIRED_STREAM;
    so.Consumer = KUMO_APISERVER_DESIRED_DURABLE;
    jerr = 0;
    st =
        js_PullSubscribe(&d->sub, d->js, subject, KUMO_APISERVER_DESIRED_DURABLE, NULL, &so, &jerr);
    if (st != NATS_OK)
        return kumo_diag_set_foreign(
            diag, KUMO_ERROR_UNAVAILABLE, "nats", jerr ? (long)jerr : (long)st,
            "cannot bind to the consumer %s: %s (error %d)", KUMO_APISERVER_DESIRED_DURABLE,
            natsStatus_GetText(st), (int)jerr);
    return KUMO_ERROR_OK;
}

kumo_error apiserver_desired_start(kumo_apiserver *s, kumo_diag *diag)
{
    apiserver_desired *d = &s->desired;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->start_cond, NULL);
    pthread_cond_init(&d->done_cond, NULL);
    d->lane_count = DESIRED_LANES;
    d->lanes = calloc((size_t)d->lane_count, sizeof(*d->lanes));
    if (d->lanes == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    natsStatus st = natsConnection_JetStream(&d->js, s->conn, NULL);
    if (st != NATS_OK)
        return apiserver_nats_error(diag, st, "JetStream context");
    kumo_error err = setup_stream(s, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    for (int l = 0; l < d->lane_count; l++) {
        apiserver_lane *lane = &d->lanes[l];
        lane->server = s;
        kumo_diag_init(&lane->diag);
        kumo_codec_buffer_init(&lane->out);
        if (pthread_create(&lane->thread, NULL, lane_main, lane) != 0)
            return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "cannot start a desired-state thread");
        d->lanes_started++;
    }
    if (pthread_create(&d->fetcher, NULL, fetcher_main, s) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "cannot start the desired-state fetcher");
    d->fetcher_started = 1;
    KUMO_LOG_INFO("apiserver", "consuming desired state", "stream=%s consumer=%s",
                  KUMO_APISERVER_DESIRED_STREAM, KUMO_APISERVER_DESIRED_DURABLE);
    return KUMO_ERROR_OK;
}

void apiserver_desired_stop(kumo_apiserver *s)
{
    apiserver_desired *d = &s->desired;
    if (d->lanes == NULL)
        return; /* never started */
    pthread_mutex_lock(&d->lock);
    d->stopping = 1;
    pthread_cond_broadcast(&d->start_cond);
    pthread_mutex_unlock(&d->lock);
    if (d->fetcher_started)
        pthread_join(d->fetcher, NULL); /* finishes the batch in hand first */
    d->fetcher_started = 0;
    for (int l = 0; l < d->lanes_started; l++)
        pthread_join(d->lanes[l].thread, NULL);
    for (int l = 0; l < d->lane_count; l++) {
        free(d->lanes[l].msgs);
        kumo_diag_fini(&d->lanes[l].diag);
        kumo_codec_buffer_fini(&d->lanes[l].out);
    }
    free(d->lanes);
    d->lanes = NULL;
    d->lanes_started = 0;
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->start_cond);
    pthread_cond_destroy(&d->done_cond);
}
