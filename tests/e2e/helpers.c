/*
 * helpers.c - the end-to-end fixture: nats-server, kumod, kumo-sim.
 */
#include "tests/e2e/e2e.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apis/kumo/v1alpha1/infra.pb-c.h"
#include "apis/object/object.h"

extern char **environ;

void e2e_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int kumod_spawn(e2e *t)
{
    const char *level = getenv("KUMO_E2E_LOG_LEVEL");
    const char *argv[] = {t->kumod_binary,
                          "--nats",
                          t->url,
                          "--data-dir",
                          t->data_dir,
                          "--drivers-dir",
                          t->drivers_dir,
                          "--drift-poll-seconds",
                          t->drift_poll,
                          "--log-level",
                          level ? level : "info",
                          NULL,
                          NULL,
                          NULL,
                          NULL,
                          NULL,
                          NULL,
                          NULL,
                          NULL};
    for (size_t i = 0, k = 11; i < 7 && t->extra_args[i]; i++)
        argv[k++] = t->extra_args[i];
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, t->log_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawn(&t->kumod, t->kumod_binary, &actions, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        t->kumod = 0;
        fprintf(stderr, "cannot start %s: %s\n", t->kumod_binary, strerror(rc));
        return -1;
    }
    return 0;
}

int e2e_kumod_start(e2e *t)
{
    if (kumod_spawn(t) != 0)
        return -1;
    double deadline = kumo_test_now() + 60;
    kumo_diag d;
    kumo_diag_init(&d);
    while (kumo_test_now() < deadline) {
        ProtobufCMessage *list = NULL;
        kumo_diag_fini(&d);
        kumo_client_list_options lo = {.limit = 1};
        if (kumo_client_list(t->client, kumo_object_kind_lookup("connections"), "default", &lo,
                             &list, &d) == KUMO_ERROR_OK) {
            kumo_object_destroy(list);
            kumo_diag_fini(&d);
            return 0;
        }
        int status;
        if (waitpid(t->kumod, &status, WNOHANG) == t->kumod) {
            fprintf(stderr, "kumod exited at start; its log is %s\n", t->log_file);
            t->kumod = 0;
            break;
        }
        e2e_sleep_ms(50);
    }
    fprintf(stderr, "kumod did not answer on %s: %s\n", t->url, d.message);
    kumo_diag_fini(&d);
    return -1;
}

void e2e_start(e2e *t, const char *drift_poll_seconds)
{
    e2e_start_with(t, drift_poll_seconds, NULL);
}

void e2e_start_with(e2e *t, const char *drift_poll_seconds, const char *const *extra_args)
{
    memset(t, 0, sizeof(*t));
    for (size_t i = 0; extra_args && i < 7 && extra_args[i]; i++)
        t->extra_args[i] = extra_args[i];
    kumo_test_build_path("bin/kumod", t->kumod_binary, sizeof(t->kumod_binary));
    kumo_test_build_path("bin/kumo-sim", t->sim_binary, sizeof(t->sim_binary));
    kumo_test_build_path("lib/kumo/drivers", t->drivers_dir, sizeof(t->drivers_dir));
    if (access(t->kumod_binary, X_OK) != 0 || access(t->sim_binary, X_OK) != 0)
        kumo_test_skip("%s or %s is not built", t->kumod_binary, t->sim_binary);
    snprintf(t->drift_poll, sizeof(t->drift_poll), "%s", drift_poll_seconds);
    snprintf(t->dir, sizeof(t->dir), "%s", kumo_test_tmpdir());
    char js[600];
    snprintf(js, sizeof(js), "%s/js", t->dir);
    snprintf(t->data_dir, sizeof(t->data_dir), "%s/kumod", t->dir);
    snprintf(t->log_file, sizeof(t->log_file), "%s/kumod.log", t->dir);
    snprintf(t->state, sizeof(t->state), "%s/sim.state", t->dir);
    kumo_natsd_options o = {.store_dir = js, .max_payload = 8L << 20};
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_natsd_start(&o, &t->natsd, &d);
    if (e != KUMO_ERROR_OK)
        fprintf(stderr, "nats-server: %s\n", d.message);
    KUMO_REQUIRE_INT_EQ(e, KUMO_ERROR_OK);
    snprintf(t->url, sizeof(t->url), "%s", kumo_natsd_url(t->natsd));
    kumo_client_options co = {.url = t->url, .timeout_ms = 5000};
    kumo_diag_fini(&d);
    e = kumo_client_connect(&co, &t->client, &d);
    kumo_diag_fini(&d);
    E2E_REQUIRE(t, e == KUMO_ERROR_OK);
    E2E_REQUIRE(t, natsConnection_ConnectTo(&t->nc, t->url) == NATS_OK);
    E2E_REQUIRE(t, e2e_kumod_start(t) == 0);
}

void e2e_kumod_kill(e2e *t, int signal)
{
    if (t->kumod <= 0)
        return;
    kill(t->kumod, signal);
    int status;
    double deadline = kumo_test_now() + 20;
    while (waitpid(t->kumod, &status, WNOHANG) == 0) {
        if (kumo_test_now() > deadline) {
            fprintf(stderr, "kumod did not stop in 20 s; killing it\n");
            kill(t->kumod, SIGKILL);
            waitpid(t->kumod, &status, 0);
            break;
        }
        e2e_sleep_ms(20);
    }
    if (signal == SIGTERM && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "kumod did not exit cleanly (status 0x%x); log %s\n", status, t->log_file);
        e2e_dump_log(t, 40);
        KUMO_EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    t->kumod = 0;
}

void e2e_stop(e2e *t)
{
    e2e_kumod_kill(t, SIGTERM);
    kumo_client_destroy(t->client);
    t->client = NULL;
    natsConnection_Destroy(t->nc);
    t->nc = NULL;
    kumo_natsd_destroy(t->natsd);
    t->natsd = NULL;
    nats_Close();
}

void e2e_dump_log(e2e *t, int lines)
{
    char command[700];
    snprintf(command, sizeof(command), "tail -n %d %s >&2", lines, t->log_file);
    if (system(command) != 0)
        fprintf(stderr, "(cannot show %s)\n", t->log_file);
}

/* ---- objects ------------------------------------------------------------------------ */

int e2e_apply(e2e *t, const char *fmt, ...)
{
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    text = malloc((size_t)n + 1);
    if (text == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(text, (size_t)n + 1, fmt, ap);
    va_end(ap);
    ProtobufCMessage *object = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e =
        kumo_object_decode(NULL, text, (size_t)n, KUMO_CODEC_FORMAT_JSON, NULL, &object, &d);
    if (e == KUMO_ERROR_OK)
        e = kumo_client_apply(t->client, object, NULL, NULL, &d);
    if (e != KUMO_ERROR_OK)
        fprintf(stderr, "apply failed: %s: %s\n%s\n", kumo_error_name(e), d.message, text);
    kumo_diag_fini(&d);
    kumo_object_destroy(object);
    free(text);
    return e == KUMO_ERROR_OK ? 0 : -1;
}

int e2e_sim_connection(e2e *t, const char *name, const char *region, double qps, int burst,
                       int max_in_flight, const char *extra_config)
{
    return e2e_apply(
        t,
        "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Connection\","
        " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
        " \"spec\": {\"driver\": \"sim\", \"provider\": \"aws\", \"region\": \"%s\","
        "  \"rateLimit\": {\"qps\": %g, \"burst\": %d, \"maxInFlight\": %d},"
        "  \"config\": {\"state\": \"%s\", \"fsync\": \"false\", \"qps\": \"%g\", \"burst\": "
        "\"%g\","
        "   \"latency_ms\": \"5\", \"latency_jitter_ms\": \"3\", \"boot_seconds\": \"0.5\"%s%s}}}",
        name, region, qps, burst, max_in_flight, t->state, qps, qps, extra_config ? ", " : "",
        extra_config ? extra_config : "");
}

ProtobufCMessage *e2e_get(e2e *t, const char *kind, const char *name)
{
    ProtobufCMessage *out = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_client_get(t->client, kumo_object_kind_lookup(kind), "default", name, &out, &d);
    kumo_diag_fini(&d);
    return out;
}

int e2e_delete(e2e *t, const char *kind, const char *name)
{
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_client_delete(t->client, kumo_object_kind_lookup(kind), "default", name,
                                      NULL, NULL, &d);
    kumo_diag_fini(&d);
    return e == KUMO_ERROR_OK || e == KUMO_ERROR_NOT_FOUND ? 0 : -1;
}

int e2e_wait(e2e *t, double seconds, int (*pred)(e2e *t, void *arg), void *arg)
{
    double deadline = kumo_test_now() + seconds;
    int r = 0;
    while ((r = pred(t, arg)) == 0 && kumo_test_now() < deadline)
        e2e_sleep_ms(100);
    return r;
}

int e2e_infra_ready(e2e *t, const char *name, int desired)
{
    Kumo__V1alpha1__Infra *infra = (Kumo__V1alpha1__Infra *)e2e_get(t, "Infra", name);
    int ready = infra && infra->status && infra->status->desired == desired &&
                infra->status->ready == desired &&
                infra->status->observed_generation == infra->metadata->generation &&
                kumo_object_condition_get(&infra->base, "Ready") &&
                strcmp(kumo_object_condition_get(&infra->base, "Ready")->status, "True") == 0;
    kumo_object_destroy(infra ? &infra->base : NULL);
    return ready;
}

/* ---- the sim -------------------------------------------------------------------------- */

kumo_value *e2e_inventory(e2e *t)
{
    char command[1600];
    snprintf(command, sizeof(command), "%s inventory --state %s", t->sim_binary, t->state);
    FILE *p = popen(command, "r");
    if (p == NULL)
        return NULL;
    kumo_codec_buffer b;
    kumo_codec_buffer_init(&b);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        kumo_codec_buffer_append(&b, chunk, n);
    int status = pclose(p);
    kumo_value *v = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    if (status != 0 || kumo_codec_value_parse_json(b.data, b.len, NULL, &v, &d) != KUMO_ERROR_OK) {
        fprintf(stderr, "kumo-sim inventory failed (status %d): %s\n", status, d.message);
        v = NULL;
    }
    kumo_diag_fini(&d);
    kumo_codec_buffer_fini(&b);
    return v;
}

const char *e2e_string(const kumo_value *object, const char *key)
{
    const kumo_value *v = kumo_codec_value_get(object, key);
    return v && v->type == KUMO_VALUE_STRING ? v->text : "";
}

double e2e_number(const kumo_value *object, const char *key)
{
    const kumo_value *v = kumo_codec_value_get(object, key);
    return v && v->type == KUMO_VALUE_NUMBER ? strtod(v->text, NULL) : 0;
}

size_t e2e_inventory_count(const kumo_value *inventory, const char *what)
{
    const kumo_value *list = kumo_codec_value_get(inventory, what);
    size_t n = 0;
    for (size_t i = 0; list && list->type == KUMO_VALUE_ARRAY && i < list->count; i++) {
        const char *state = e2e_string(list->items[i], "state");
        n += strcmp(state, "terminated") != 0;
    }
    return n;
}

kumo_value *e2e_control(e2e *t, const char *connection, const char *op, const char *input_json)
{
    char subject[300], body[1200];
    snprintf(subject, sizeof(subject), "kumo.v1.control.connections.default.%s", connection);
    snprintf(body, sizeof(body), "{\"op\": \"%s\", \"input\": %s}", op,
             input_json ? input_json : "{}");
    natsMsg *reply = NULL;
    natsStatus s = natsConnection_RequestString(&reply, t->nc, subject, body, 10000);
    if (s != NATS_OK) {
        fprintf(stderr, "control %s on %s: %s\n", op, connection, natsStatus_GetText(s));
        return NULL;
    }
    kumo_value *v = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    if (kumo_codec_value_parse_json(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply),
                                    NULL, &v, &d) != KUMO_ERROR_OK)
        v = NULL;
    else if (kumo_codec_value_get(v, "error"))
        fprintf(stderr, "control %s on %s: %s\n", op, connection, natsMsg_GetData(reply));
    kumo_diag_fini(&d);
    natsMsg_Destroy(reply);
    return v;
}
