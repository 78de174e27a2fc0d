/*
 * lease.c - campaign loop over a JetStream KV key with a TTL.
 *
 * States: follower (tries kvStore_Create every period) and leader (renews
 * with kvStore_Update against the revision it last wrote). The leader steps
 * down when a renewal fails or when the last good renewal is older than two
 * thirds of the duration, which is before the key can expire for others.
 */
#include "controllers/runtime/lease/lease.h"
#include "controllers/runtime/clock/clock.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct kumo_lease {
    kumo_lease_options options;
    char name[128];
    char holder[192];
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    int release_on_stop;
    atomic_int leading;
    uint64_t revision;    /* of our last write while leading */
    double renewed_at_ms; /* monotonic time of the last good write */
};

static void set_leading(kumo_lease *l, int leading)
{
    if (atomic_exchange(&l->leading, leading) == leading)
        return;
    if (l->options.on_change)
        l->options.on_change(l->options.context, leading);
}

/* One step of the campaign. */
static void campaign_step(kumo_lease *l)
{
    uint64_t rev = 0;
    if (atomic_load(&l->leading)) {
        natsStatus s = kvStore_UpdateString(&rev, l->kv, l->name, l->holder, l->revision);
        if (s == NATS_OK) {
            l->revision = rev;
            l->renewed_at_ms = kumo_clock_now_ms();
        } else if (s != NATS_TIMEOUT && s != NATS_CONNECTION_CLOSED &&
                   s != NATS_CONNECTION_DISCONNECTED) {
            set_leading(l, 0); /* someone else holds it now */
        }
        if (atomic_load(&l->leading) &&
            kumo_clock_now_ms() - l->renewed_at_ms > l->options.duration_ms * 2.0 / 3.0)
            set_leading(l, 0); /* could not renew in time: step down before it expires */
        return;
    }
    if (kvStore_CreateString(&rev, l->kv, l->name, l->holder) == NATS_OK) {
        l->revision = rev;
        l->renewed_at_ms = kumo_clock_now_ms();
        set_leading(l, 1);
        return;
    }
    /* A holder with our identity is an earlier incarnation of us (a restart after a
     * crash): take the lease back at once instead of waiting for it to expire. */
    kvEntry *entry = NULL;
    if (kvStore_Get(&entry, l->kv, l->name) == NATS_OK && entry != NULL &&
        kvEntry_Operation(entry) == kvOp_Put &&
        strcmp(kvEntry_ValueString(entry), l->holder) == 0 &&
        kvStore_UpdateString(&rev, l->kv, l->name, l->holder, kvEntry_Revision(entry)) == NATS_OK) {
        l->revision = rev;
        l->renewed_at_ms = kumo_clock_now_ms();
        set_leading(l, 1);
    }
    kvEntry_Destroy(entry);
}

static void *campaign(void *arg)
{
    kumo_lease *l = arg;
    pthread_mutex_lock(&l->lock);
    while (!l->stopping) {
        pthread_mutex_unlock(&l->lock);
        campaign_step(l);
        pthread_mutex_lock(&l->lock);
        if (l->stopping)
            break;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        long long ns = until.tv_nsec + (long long)l->options.duration_ms * 1000000 / 3;
        until.tv_sec += (time_t)(ns / 1000000000);
        until.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&l->wake, &l->lock, &until);
    }
    pthread_mutex_unlock(&l->lock);
    /* Unreachable NATS: nothing to release with; the key expires on its own. */
    if (l->release_on_stop && atomic_load(&l->leading) &&
        natsConnection_Status(l->nc) == NATS_CONN_STATUS_CONNECTED)
        kvStore_Delete(l->kv, l->name);
    set_leading(l, 0);
    return NULL;
}

static kumo_error connect_bucket(kumo_lease *l, kumo_diag *diag)
{
    natsStatus s = natsConnection_ConnectTo(&l->nc, l->options.url);
    jsOptions jo;
    if (s == NATS_OK)
        s = jsOptions_Init(&jo);
    /* A KV call that cannot finish in a third of the lease is no use (and must not hold up
     * a stop while NATS is unreachable). */
    jo.Wait = l->options.duration_ms / 3 < 1000 ? l->options.duration_ms / 3 : 1000;
    if (s == NATS_OK)
        s = natsConnection_JetStream(&l->js, l->nc, &jo);
    if (s != NATS_OK)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_UNAVAILABLE, "nats", s,
                                     "lease %s: cannot reach NATS at %s: %s", l->name,
                                     l->options.url, natsStatus_GetText(s));
    /* A bucket's TTL is fixed when it is made, so leases of one duration share a bucket. */
    char bucket[64];
    snprintf(bucket, sizeof(bucket), "KUMO_LEASES_%d", l->options.duration_ms);
    if (js_KeyValue(&l->kv, l->js, bucket) == NATS_OK)
        return KUMO_ERROR_OK;
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = bucket;
    cfg.History = 1;
    cfg.TTL = (int64_t)l->options.duration_ms * 1000000; /* nanoseconds */
    s = js_CreateKeyValue(&l->kv, l->js, &cfg);
    if (s != NATS_OK && js_KeyValue(&l->kv, l->js, bucket) != NATS_OK)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_UNAVAILABLE, "nats", s,
                                     "lease %s: cannot create the %s bucket (is JetStream on?): %s",
                                     l->name, bucket, natsStatus_GetText(s));
    return KUMO_ERROR_OK;
}

static void lease_free(kumo_lease *l)
{
    kvStore_Destroy(l->kv);
    jsCtx_Destroy(l->js);
    natsConnection_Destroy(l->nc);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->wake);
    free(l);
}

kumo_error kumo_lease_start(const kumo_lease_options *options, kumo_lease **out, kumo_diag *diag)
{
    *out = NULL;
    kumo_lease *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    l->options = *options;
    if (l->options.duration_ms <= 0)
        l->options.duration_ms = KUMO_LEASE_DEFAULT_DURATION_MS;
    if (l->options.duration_ms < KUMO_LEASE_MIN_DURATION_MS)
        l->options.duration_ms = KUMO_LEASE_MIN_DURATION_MS;
    snprintf(l->name, sizeof(l->name), "%s", options->name);
    if (options->holder) {
        snprintf(l->holder, sizeof(l->holder), "%s", options->holder);
    } else {
        char host[128] = "host";
        gethostname(host, sizeof(host) - 1);
        snprintf(l->holder, sizeof(l->holder), "%s-%d", host, (int)getpid());
    }
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&l->wake, &attr);
    pthread_condattr_destroy(&attr);
    kumo_error err = connect_bucket(l, diag);
    if (err == KUMO_ERROR_OK && pthread_create(&l->thread, NULL, campaign, l) != 0)
        err =
            kumo_diag_set(diag, KUMO_ERROR_INTERNAL, "lease %s: cannot start its thread", l->name);
    if (err != KUMO_ERROR_OK) {
        lease_free(l);
        return err;
    }
    *out = l;
    return KUMO_ERROR_OK;
}

int kumo_lease_is_leader(const kumo_lease *lease)
{
    return atomic_load(&lease->leading);
}

static void lease_end(kumo_lease *l, int release)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->lock);
    l->stopping = 1;
    l->release_on_stop = release;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL);
    lease_free(l);
}

void kumo_lease_stop(kumo_lease *lease)
{
    lease_end(lease, 1);
}

void kumo_lease_abandon(kumo_lease *lease)
{
    lease_end(lease, 0);
}
