/*
 * agentbus.c - the agent bus kumod serves (agentbus.h): starts a second nats-server (never the API
 * bus: machines must not reach the API), derives one nkey per Machine from
 * the agent key in the data directory, and rewrites the server's
 * authorization whenever the set of agent machines changes (debounced, then
 * a reload). The port is remembered in the data directory so that agents
 * find kumod again after a restart.
 *
 * Agent machines are those a bootstrap was made for (drivers whose machines
 * run kumo-agent); their uids are kept in DIR/agent-machines (appended to
 * before a bootstrap is handed out, rewritten after changes), pruned of
 * Machines that no longer exist at start and on every Machine deletion (a
 * watch, which keeps no copy of the Machines).
 *
 * Invariant: every agent machine still in the store (deleting ones included,
 * so that their agents can report what they stopped) has a user on the bus;
 * nothing else but kumod's own user does.
 */
#define _GNU_SOURCE
#include "bus/agentbus/agentbus.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apis/log/log.h"
#include "apis/map/map.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/object/object.h"
#include "bus/agent/agent.h"
#include "bus/client/client.h"
#include "bus/natsd/natsd.h"

#define MAX_ADVERTISE               8
#define AGENTBUS_LOG                "agentbus"
#define AGENTBUS_RELOAD_DEBOUNCE_MS 100 /* Machines that come and go together: one reload */
#define AGENTBUS_RELOAD_RETRY_S     1   /* after a reload failed */
#define AGENTBUS_LIST_PAGE          500 /* Machines per list page at start */

struct kumo_agentbus {
    unsigned char key[KUMO_AGENT_KEY_SIZE];
    char password[48];
    char url[128];
    char pid_file[1100];
    char *advertise[MAX_ADVERTISE];
    size_t advertise_count;
    kumo_natsd *natsd;
    kumo_client *client;
    kumo_client_watch *machines;
    char list_file[1100];
    pthread_t sync_thread;
    int sync_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    kumo_map *uids; /* agent Machine uid -> (void *)1 */
    int dirty, stopping;
    int metrics_interval_ms;
};

static void read_int_file(const char *path, int *out)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    if (fscanf(f, "%d", out) != 1)
        *out = 0;
    fclose(f);
}

static void write_int_file(const char *path, int value)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return;
    fprintf(f, "%d\n", value);
    fclose(f);
}

typedef struct uid_list {
    const char **items;
    size_t count;
} uid_list;

static void collect(void *context, const char *key, void *value)
{
    (void)value;
    uid_list *l = context;
    l->items[l->count++] = key;
}

/* The agent machines' uids, borrowed from the map (locked); items NULL when out of memory. */
static uid_list uids_snapshot(kumo_agentbus *a)
{
    uid_list l = {calloc(kumo_map_count(a->uids) + 1, sizeof(char *)), 0};
    if (l.items)
        kumo_map_each(a->uids, collect, &l);
    return l;
}

/*
 * $KUMO_AGENT_BUS_BENCH_USER ("user:password"), for hack/bench/metrics.sh only: one more user
 * that may publish metric reports for any machine (and nothing else). Never set in production:
 * kumod then takes its reports as the machines' own. Returns text with the user added (text
 * itself when the variable is unset), NULL when out of memory (text freed).
 */
static char *bench_user_add(char *text)
{
    const char *user = getenv("KUMO_AGENT_BUS_BENCH_USER");
    const char *colon = user ? strchr(user, ':') : NULL;
    const char *tail = text ? strstr(text, "  ]\n}\n") : NULL;
    if (colon == NULL || colon == user || tail == NULL)
        return text;
    char *out = NULL;
    if (asprintf(&out,
                 "%.*s    {user: \"%.*s\", password: \"%s\", permissions: {publish: {allow: "
                 "[\"%s.*.metrics\"]}, subscribe: {deny: [\">\"]}}}\n%s",
                 (int)(tail - text), text, (int)(colon - user), user, colon + 1, KUMO_AGENT_PREFIX,
                 tail) < 0)
        out = NULL;
    free(text);
    return out;
}

/* The authorization text for the agent machines now known; NULL when out of memory. Locked. */
static char *authorization(kumo_agentbus *a)
{
    uid_list l = uids_snapshot(a);
    char *text = NULL;
    size_t len = 0;
    int rc = l.items ? kumo_agent_authorization(a->key, NULL, kumo_agentbus_user(a), a->password,
                                                l.items, l.count, &text, &len)
                     : -1;
    free(l.items);
    if (rc != 0) {
        free(text);
        return NULL;
    }
    return bench_user_add(text);
}

static void on_machine(void *context, kumo_client_event_type type, int64_t revision,
                       const ProtobufCMessage *object)
{
    (void)revision;
    kumo_agentbus *a = context;
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
    if (type != KUMO_CLIENT_EVENT_DELETED || m == NULL || m->uid == NULL)
        return;
    pthread_mutex_lock(&a->lock);
    if (kumo_map_remove(a->uids, m->uid) != NULL) {
        a->dirty = 1;
        pthread_cond_signal(&a->wake);
    }
    pthread_mutex_unlock(&a->lock);
}

/* Writes the agent machines' uids (locked). */
static void list_save(kumo_agentbus *a)
{
    char tmp[1200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", a->list_file);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return;
    uid_list l = uids_snapshot(a);
    for (size_t i = 0; i < l.count; i++)
        fprintf(f, "%s\n", l.items[i]);
    free(l.items);
    if (fclose(f) == 0 && l.items)
        rename(tmp, a->list_file);
    else
        unlink(tmp);
}

/*
 * Loads DIR/agent-machines, keeping the uids of Machines that still exist, and returns
 * the revision to watch from (0: an empty store). -1 on failure (diag set).
 */
static int64_t list_load(kumo_agentbus *a, kumo_diag *diag)
{
    kumo_map *saved = kumo_map_create();
    FILE *f = fopen(a->list_file, "r");
    char line[128];
    while (saved && f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0])
            kumo_map_put(saved, line, (void *)1, NULL);
    }
    if (f)
        fclose(f);
    int64_t revision = -1;
    char *token = NULL;
    const kumo_object_kind *kind = kumo_object_kind_lookup("Machine");
    do {
        kumo_client_list_options lo = {.limit = AGENTBUS_LIST_PAGE, .continue_token = token};
        ProtobufCMessage *list = NULL;
        if (kumo_client_list(a->client, kind, NULL, &lo, &list, diag) != KUMO_ERROR_OK) {
            revision = -1;
            break;
        }
        const Kumo__V1alpha1__MachineList *ml = (const Kumo__V1alpha1__MachineList *)list;
        if (revision < 0)
            revision = strtoll(ml->metadata->resource_version, NULL, 10);
        for (size_t i = 0; saved && i < ml->n_items; i++)
            if (kumo_map_get(saved, ml->items[i]->metadata->uid))
                kumo_map_put(a->uids, ml->items[i]->metadata->uid, (void *)1, NULL);
        free(token);
        token = ml->metadata->continue_ && ml->metadata->continue_[0]
                    ? strdup(ml->metadata->continue_)
                    : NULL;
        kumo_object_destroy(list);
    } while (token);
    free(token);
    kumo_map_destroy(saved);
    if (revision >= 0)
        list_save(a);
    return revision;
}

/* Reloads the server's users when Machines came or went (debounced). */
static void *sync_main(void *arg)
{
    kumo_agentbus *a = arg;
    pthread_mutex_lock(&a->lock);
    while (!a->stopping) {
        if (!a->dirty) {
            pthread_cond_wait(&a->wake, &a->lock);
            continue;
        }
        pthread_mutex_unlock(&a->lock);
        struct timespec pause = {0, AGENTBUS_RELOAD_DEBOUNCE_MS * 1000 * 1000L};
        nanosleep(&pause, NULL);
        pthread_mutex_lock(&a->lock);
        a->dirty = 0;
        size_t count = kumo_map_count(a->uids);
        list_save(a);
        char *text = authorization(a);
        pthread_mutex_unlock(&a->lock);
        kumo_diag d;
        kumo_diag_init(&d);
        if (text == NULL || kumo_natsd_reload(a->natsd, text, &d) != KUMO_ERROR_OK) {
            KUMO_LOG_ERROR(AGENTBUS_LOG, "cannot update the agent bus users", "error=%s",
                           text ? d.message : "out of memory");
            pthread_mutex_lock(&a->lock);
            a->dirty = 1; /* try again */
            pthread_mutex_unlock(&a->lock);
            nanosleep(&(struct timespec){AGENTBUS_RELOAD_RETRY_S, 0}, NULL);
        } else {
            KUMO_LOG_DEBUG(AGENTBUS_LOG, "agent bus users updated", "machines=%zu", count);
        }
        kumo_diag_fini(&d);
        free(text);
        pthread_mutex_lock(&a->lock);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

static kumo_error advertise_parse(kumo_agentbus *a, const char *list, kumo_diag *diag)
{
    if (list == NULL || list[0] == '\0')
        return KUMO_ERROR_OK;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len > 0) {
            if (a->advertise_count == MAX_ADVERTISE)
                return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                                     "--agent-advertise: at most %d URLs", MAX_ADVERTISE);
            if (strncmp(p, "nats://", 7) != 0 && strncmp(p, "tls://", 6) != 0)
                return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                                     "--agent-advertise: \"%.*s\" is not a nats:// URL", (int)len,
                                     p);
            a->advertise[a->advertise_count] = strndup(p, len);
            if (a->advertise[a->advertise_count++] == NULL)
                return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
        }
        p += len + (p[len] == ',');
    }
    return KUMO_ERROR_OK;
}

/* The agent key from the data dir, kumod's random password, the advertised URLs. */
static kumo_error secrets_load(kumo_agentbus *a, const kumo_agentbus_options *o, kumo_diag *diag)
{
    char path[1100];
    snprintf(path, sizeof(path), "%s/agent.key", o->data_dir);
    unsigned char random[18];
    kumo_error e = advertise_parse(a, o->advertise, diag);
    if (e == KUMO_ERROR_OK)
        e = kumo_agent_key_load(path, a->key, diag);
    if (e == KUMO_ERROR_OK && RAND_bytes(random, sizeof(random)) != 1)
        e = kumo_diag_set(diag, KUMO_ERROR_INTERNAL, "no random bytes for the agent bus password");
    for (size_t i = 0; e == KUMO_ERROR_OK && i < sizeof(random); i++)
        snprintf(a->password + 2 * i, 3, "%02x", random[i]);
    return e;
}

/* Starts nats-server on the remembered port (else a free one); it dies with this process. */
static kumo_error server_start(kumo_agentbus *a, const kumo_agentbus_options *o, kumo_diag *diag)
{
    char port_file[1100], log_file[1100], config_file[1100];
    snprintf(port_file, sizeof(port_file), "%s/agent-bus.port", o->data_dir);
    snprintf(log_file, sizeof(log_file), "%s/agent-bus.log", o->data_dir);
    snprintf(config_file, sizeof(config_file), "%s/agent-bus.conf", o->data_dir);
    char *text = authorization(a);
    if (text == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    int port = o->port;
    if (port == 0)
        read_int_file(port_file, &port);
    kumo_natsd_options no = {.host = o->host,
                             .port = port,
                             .log_file = log_file,
                             .config_text = text,
                             .config_path = config_file,
                             .die_with_owner = 1};
    kumo_error e = kumo_natsd_start(&no, &a->natsd, diag);
    if (e != KUMO_ERROR_OK && port != 0 && o->port == 0) {
        KUMO_LOG_WARN(AGENTBUS_LOG, "the agent bus's remembered port is taken; picking another",
                      "port=%d", port);
        kumo_diag_fini(diag);
        no.port = 0;
        e = kumo_natsd_start(&no, &a->natsd, diag);
    }
    free(text);
    if (e != KUMO_ERROR_OK)
        return e;
    write_int_file(port_file, kumo_natsd_port(a->natsd));
    write_int_file(a->pid_file, (int)kumo_natsd_pid(a->natsd));
    snprintf(a->url, sizeof(a->url), "nats://127.0.0.1:%d", kumo_natsd_port(a->natsd));
    return KUMO_ERROR_OK;
}

/* Connects to the API, loads the agent machines still there, watches Machine deletions. */
static kumo_error machines_follow(kumo_agentbus *a, const kumo_agentbus_options *o, kumo_diag *diag)
{
    kumo_client_options co = {
        .url = o->api_url, .prefix = o->api_prefix, .name = "kumod-agent-bus"};
    kumo_error e = kumo_client_connect(&co, &a->client, diag);
    int64_t revision = 0;
    if (e == KUMO_ERROR_OK && (revision = list_load(a, diag)) < 0)
        e = diag->code;
    if (e == KUMO_ERROR_OK) {
        kumo_client_watch_options wo = {.from_revision = revision};
        e = kumo_client_watch_start(a->client, kumo_object_kind_lookup("Machine"), NULL, &wo,
                                    on_machine, a, &a->machines, diag);
    }
    if (e == KUMO_ERROR_OK && kumo_map_count(a->uids) > 0)
        a->dirty = 1; /* the server started with no machine: let the known ones in */
    if (e == KUMO_ERROR_OK) {
        if (pthread_create(&a->sync_thread, NULL, sync_main, a) != 0)
            e = kumo_diag_set(diag, KUMO_ERROR_INTERNAL, "cannot start the agent bus thread");
        else
            a->sync_started = 1;
    }
    return e;
}

kumo_error kumo_agentbus_start(const kumo_agentbus_options *o, kumo_agentbus **out, kumo_diag *diag)
{
    *out = NULL;
    kumo_agentbus *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->wake, NULL);
    a->uids = kumo_map_create();
    a->metrics_interval_ms = o->metrics_interval_ms;
    snprintf(a->pid_file, sizeof(a->pid_file), "%s/%s", o->data_dir, KUMO_AGENTBUS_PID_FILE);
    snprintf(a->list_file, sizeof(a->list_file), "%s/agent-machines", o->data_dir);
    kumo_error e = a->uids ? KUMO_ERROR_OK : kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    if (e == KUMO_ERROR_OK)
        e = secrets_load(a, o, diag);
    if (e == KUMO_ERROR_OK)
        e = server_start(a, o, diag);
    if (e == KUMO_ERROR_OK)
        e = machines_follow(a, o, diag);
    if (e != KUMO_ERROR_OK) {
        kumo_agentbus_stop(a);
        return e;
    }
    KUMO_LOG_INFO(AGENTBUS_LOG, "agent bus serving", "listen=%s:%d machines=%zu",
                  o->host ? o->host : "127.0.0.1", kumo_natsd_port(a->natsd),
                  kumo_map_count(a->uids));
    *out = a;
    return KUMO_ERROR_OK;
}

void kumo_agentbus_stop(kumo_agentbus *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = 1;
    pthread_cond_broadcast(&a->wake);
    pthread_mutex_unlock(&a->lock);
    if (a->sync_started)
        pthread_join(a->sync_thread, NULL);
    kumo_client_watch_stop(a->machines);
    kumo_client_destroy(a->client);
    if (a->natsd) {
        kumo_natsd_destroy(a->natsd);
        unlink(a->pid_file);
    }
    kumo_map_destroy(a->uids);
    for (size_t i = 0; i < a->advertise_count; i++)
        free(a->advertise[i]);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    memset(a->key, 0, sizeof(a->key));
    free(a);
}

const char *kumo_agentbus_url(const kumo_agentbus *a)
{
    return a->url;
}

const char *kumo_agentbus_user(const kumo_agentbus *a)
{
    (void)a;
    return "kumod";
}

const char *kumo_agentbus_password(const kumo_agentbus *a)
{
    return a->password;
}

char *kumo_agentbus_bootstrap(void *context, const char *ns, const char *name, const char *uid)
{
    kumo_agentbus *a = context;
    /* The Machine may be newer than our watch: let its agent in before it can knock. The uid
     * is appended to the list file before the bootstrap leaves (a kumod killed before the
     * debounced rewrite must not forget the machine: its agent would never get in). */
    pthread_mutex_lock(&a->lock);
    if (kumo_map_get(a->uids, uid) == NULL && kumo_map_put(a->uids, uid, (void *)1, NULL) == 0) {
        FILE *f = fopen(a->list_file, "a");
        if (f != NULL) {
            fprintf(f, "%s\n", uid);
            fclose(f);
        }
        a->dirty = 1;
        pthread_cond_signal(&a->wake);
    }
    pthread_mutex_unlock(&a->lock);
    return kumo_agent_bootstrap_json_metrics(
        a->key, uid, name, ns, (const char *const *)a->advertise, a->advertise_count,
        kumo_natsd_port(a->natsd), NULL, 0, a->metrics_interval_ms);
}
