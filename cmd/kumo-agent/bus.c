/*
 * bus.c - kumo-agent's side of the agent bus: one small thread connects with
 * the machine's nkey (again and again, once a second, for as long as it
 * takes: the agent never exits because the bus is down), subscribes to the
 * apply, get and logs subjects, and then ends; nats.c reconnects by itself from
 * there on.
 *
 * Round trips: a ping from a peer (<prefix>.<uid>.ping) is answered at once
 * on nats.c's thread (the body back to the reply subject), and the answers to
 * our own pings (<prefix>.<uid>.rtt) are timed there and kept for the next
 * metrics report.
 *
 * nats.c delivers requests on its own threads. They are only queued here,
 * and the main loop is woken through a pipe; the main loop owns every other
 * structure, so this queue and the connection pointer are the only shared
 * state, both under `lock`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apis/log/log.h"
#include "bus/agent/agent.h"
#include "cmd/kumo-agent/internal.h"

#define QUEUE_MAX 256
#define RTT_MAX   256
#define SUBS      6

typedef struct queued {
    struct queued *next;
    natsMsg *msg;
} queued;

struct agent_bus {
    agent *agent; /* read-only here: bootstrap, gateway, subjects */
    int wake_write;
    unsigned char seed[KUMO_AGENT_SEED_SIZE]; /* nats.c signs with it on every reconnect */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopping;
    natsConnection *nc; /* set once connected */
    natsSubscription *subs[SUBS];
    queued *head, *tail;
    size_t queued_count;
    agent_rtt_sample rtts[RTT_MAX];
    size_t rtt_count;
};

static void wake(agent_bus *bus)
{
    char c = 1;
    ssize_t n = write(bus->wake_write, &c, 1);
    (void)n; /* a full pipe already wakes the loop */
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    agent_bus *bus = closure;
    queued *q = malloc(sizeof(*q));
    pthread_mutex_lock(&bus->lock);
    if (q == NULL || bus->stopping || bus->queued_count >= QUEUE_MAX) {
        pthread_mutex_unlock(&bus->lock);
        free(q);
        natsMsg_Destroy(msg); /* the requester times out */
        return;
    }
    q->next = NULL;
    q->msg = msg;
    if (bus->tail)
        bus->tail->next = q;
    else
        bus->head = q;
    bus->tail = q;
    bus->queued_count++;
    pthread_mutex_unlock(&bus->lock);
    wake(bus);
}

static void on_ping(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    const char *reply = natsMsg_GetReply(msg);
    if (reply && reply[0])
        natsConnection_Publish(nc, reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

/* An answer to our ping: "<peer uid> <CLOCK_MONOTONIC ns when sent>". */
static void on_rtt(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    agent_bus *bus = closure;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, sent = 0;
    agent_rtt_sample sample;
    char text[128];
    int len = natsMsg_GetDataLength(msg);
    snprintf(text, sizeof(text), "%.*s", len < 127 ? len : 127, natsMsg_GetData(msg));
    natsMsg_Destroy(msg);
    if (sscanf(text, "%63s %lld", sample.peer, &sent) != 2 || sent <= 0 || now < sent)
        return;
    sample.ms = (double)(now - sent) / 1e6;
    pthread_mutex_lock(&bus->lock);
    if (bus->rtt_count < RTT_MAX)
        bus->rtts[bus->rtt_count++] = sample;
    pthread_mutex_unlock(&bus->lock);
}

size_t agent_bus_rtts_take(agent_bus *bus, agent_rtt_sample *out, size_t max)
{
    pthread_mutex_lock(&bus->lock);
    size_t n = bus->rtt_count < max ? bus->rtt_count : max;
    memcpy(out, bus->rtts, n * sizeof(*out));
    bus->rtt_count = 0;
    pthread_mutex_unlock(&bus->lock);
    return n;
}

/* Sleeps up to ms unless stopping; returns stopping. */
static int pause_unless_stopping(agent_bus *bus, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&bus->lock);
    while (!bus->stopping && pthread_cond_timedwait(&bus->cond, &bus->lock, &until) != ETIMEDOUT)
        ;
    int stopping = bus->stopping;
    pthread_mutex_unlock(&bus->lock);
    return stopping;
}

static void *connector(void *arg)
{
    agent_bus *bus = arg;
    agent *a = bus->agent;
    kumo_error last = KUMO_ERROR_OK;
    natsConnection *nc = NULL;
    for (;;) {
        kumo_diag d;
        kumo_diag_init(&d);
        kumo_error e = kumo_agent_connect(a->bootstrap, a->gateway, bus->seed, &nc, &d);
        if (e == KUMO_ERROR_OK) {
            kumo_diag_fini(&d);
            /* The decoded seed in bus->seed is all nats.c needs from now on. */
            memset(a->bootstrap->seed, '0', strlen(a->bootstrap->seed));
            break;
        }
        nc = NULL;
        if (e != last) /* once per kind of failure, not once a second */
            KUMO_LOG_WARN(AGENT_LOG, "cannot join the agent bus; retrying every second",
                          "error=%s detail=\"%s\"", kumo_error_name(e), d.message);
        last = e;
        kumo_diag_fini(&d);
        if (pause_unless_stopping(bus, 1000))
            return NULL;
    }
    natsSubscription *subs[SUBS] = {NULL};
    natsStatus s = natsConnection_Subscribe(&subs[0], nc, a->subject_apply, on_request, bus);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&subs[1], nc, a->subject_get, on_request, bus);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&subs[2], nc, a->subject_peers, on_request, bus);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&subs[3], nc, a->subject_ping, on_ping, bus);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&subs[4], nc, a->subject_rtt, on_rtt, bus);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&subs[5], nc, a->subject_logs, on_request, bus);
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(nc, AGENT_BUS_FLUSH_MS);
    if (s != NATS_OK)
        KUMO_LOG_ERROR(AGENT_LOG, "cannot subscribe", "error=\"%s\"", natsStatus_GetText(s));
    else
        KUMO_LOG_INFO(AGENT_LOG, "joined the agent bus", "apply=%s", a->subject_apply);
    pthread_mutex_lock(&bus->lock);
    bus->nc = nc;
    memcpy(bus->subs, subs, sizeof(subs));
    pthread_mutex_unlock(&bus->lock);
    wake(bus); /* publish a first status now */
    return NULL;
}

int agent_bus_start(agent *a, int wake_write, agent_bus **out)
{
    agent_bus *bus = calloc(1, sizeof(*bus));
    if (bus == NULL)
        return -1;
    bus->agent = a;
    bus->wake_write = wake_write;
    pthread_mutex_init(&bus->lock, NULL);
    pthread_cond_init(&bus->cond, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int rc = pthread_create(&bus->thread, &attr, connector, bus);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_destroy(&bus->lock);
        pthread_cond_destroy(&bus->cond);
        free(bus);
        return -1;
    }
    *out = bus;
    return 0;
}

natsMsg *agent_bus_next(agent_bus *bus)
{
    pthread_mutex_lock(&bus->lock);
    queued *q = bus->head;
    if (q) {
        bus->head = q->next;
        if (bus->head == NULL)
            bus->tail = NULL;
        bus->queued_count--;
    }
    pthread_mutex_unlock(&bus->lock);
    if (q == NULL)
        return NULL;
    natsMsg *m = q->msg;
    free(q);
    return m;
}

int agent_bus_connected(agent_bus *bus)
{
    pthread_mutex_lock(&bus->lock);
    int connected = bus->nc != NULL;
    pthread_mutex_unlock(&bus->lock);
    return connected;
}

int agent_bus_publish(agent_bus *bus, const char *subject, const char *data, size_t len)
{
    pthread_mutex_lock(&bus->lock);
    natsConnection *nc = bus->nc;
    pthread_mutex_unlock(&bus->lock);
    if (nc == NULL)
        return -1;
    return natsConnection_Publish(nc, subject, data, (int)len) == NATS_OK ? 0 : -1;
}

int agent_bus_request(agent_bus *bus, const char *subject, const char *reply, const char *data,
                      size_t len)
{
    pthread_mutex_lock(&bus->lock);
    natsConnection *nc = bus->nc;
    pthread_mutex_unlock(&bus->lock);
    if (nc == NULL)
        return -1;
    return natsConnection_PublishRequest(nc, subject, reply, data, (int)len) == NATS_OK ? 0 : -1;
}

void agent_bus_stop(agent_bus *bus)
{
    if (bus == NULL)
        return;
    pthread_mutex_lock(&bus->lock);
    bus->stopping = 1;
    pthread_cond_broadcast(&bus->cond);
    pthread_mutex_unlock(&bus->lock);
    pthread_join(bus->thread, NULL);
    if (bus->nc) {
        natsConnection_FlushTimeout(bus->nc, AGENT_BUS_CLOSE_MS); /* the final status */
        for (int i = 0; i < SUBS; i++)
            natsSubscription_Destroy(bus->subs[i]);
        natsConnection_Close(bus->nc);
        natsConnection_Destroy(bus->nc);
    }
    /* No nats.c thread may still call on_request once bus is freed. */
    nats_CloseAndWait(AGENT_BUS_CLOSE_MS);
    natsMsg *m;
    while ((m = agent_bus_next(bus)) != NULL)
        natsMsg_Destroy(m);
    memset(bus->seed, 0, sizeof(bus->seed));
    pthread_mutex_destroy(&bus->lock);
    pthread_cond_destroy(&bus->cond);
    free(bus);
}
