/*
 * fixture.c - nats-server + kumod (API only) for the controller tests.
 */
#include "tests/controllers/fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <nats/nats.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apis/object/object.h"

extern char **environ;

void api_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void api_fixture_start(api_fixture *f)
{
    memset(f, 0, sizeof(*f));
    char kumod[1024], sim[1100], data[600], log[600], js[600];
    kumo_test_build_path("bin/kumod", kumod, sizeof(kumod));
    kumo_test_build_path("lib/kumo/drivers", f->drivers_dir, sizeof(f->drivers_dir));
    snprintf(sim, sizeof(sim), "%s/kumo-driver-sim.so", f->drivers_dir);
    if (access(kumod, X_OK) != 0 || access(sim, R_OK) != 0)
        kumo_test_skip("%s or %s is not built", kumod, sim);
    snprintf(f->dir, sizeof(f->dir), "%s", kumo_test_tmpdir());
    snprintf(js, sizeof(js), "%s/js", f->dir);
    snprintf(data, sizeof(data), "%s/kumod", f->dir);
    snprintf(log, sizeof(log), "%s/kumod.log", f->dir);
    snprintf(f->state, sizeof(f->state), "%s/sim.state", f->dir);
    kumo_natsd_options o = {.store_dir = js};
    kumo_diag d;
    kumo_diag_init(&d);
    if (kumo_natsd_start(&o, &f->natsd, &d) != KUMO_ERROR_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "nats-server: %s", d.message);
    snprintf(f->url, sizeof(f->url), "%s", kumo_natsd_url(f->natsd));
    const char *argv[] = {kumod,           "--nats", f->url,        "--data-dir", data,
                          "--controllers", "none",   "--log-level", "warn",       NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawn(&f->kumod, kumod, &actions, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        f->kumod = 0;
        api_fixture_stop(f);
        kumo_test_fail_(__FILE__, __LINE__, 1, "cannot start kumod: %s", strerror(rc));
    }
    kumo_client_options co = {.url = f->url, .timeout_ms = 5000};
    if (kumo_client_connect(&co, &f->client, &d) != KUMO_ERROR_OK) {
        api_fixture_stop(f);
        kumo_test_fail_(__FILE__, __LINE__, 1, "client: %s", d.message);
    }
    double deadline = kumo_test_now() + 30;
    int ready = 0;
    while (!ready && kumo_test_now() < deadline) {
        ProtobufCMessage *list = NULL;
        kumo_diag_fini(&d);
        ready = kumo_client_list(f->client, kumo_object_kind_lookup("Connection"), "default", NULL,
                                 &list, &d) == KUMO_ERROR_OK;
        kumo_object_destroy(list);
        if (!ready)
            api_sleep_ms(50);
    }
    kumo_diag_fini(&d);
    if (!ready) {
        api_fixture_stop(f);
        kumo_test_fail_(__FILE__, __LINE__, 1, "kumod did not answer; log %s", log);
    }
}

void api_fixture_stop(api_fixture *f)
{
    kumo_client_destroy(f->client);
    f->client = NULL;
    if (f->kumod > 0) {
        kill(f->kumod, SIGTERM);
        int status;
        waitpid(f->kumod, &status, 0);
        f->kumod = 0;
    }
    kumo_natsd_destroy(f->natsd);
    f->natsd = NULL;
    nats_Close();
}

static char *vformat(const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (text)
        vsnprintf(text, (size_t)n + 1, fmt, ap);
    return text;
}

static ProtobufCMessage *decode(const char *text)
{
    ProtobufCMessage *object = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    if (kumo_object_decode(NULL, text, strlen(text), KUMO_CODEC_FORMAT_JSON, NULL, &object, &d) !=
        KUMO_ERROR_OK)
        fprintf(stderr, "decode: %s\n%s\n", d.message, text);
    kumo_diag_fini(&d);
    return object;
}

ProtobufCMessage *api_decode(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = vformat(fmt, ap);
    va_end(ap);
    ProtobufCMessage *object = text ? decode(text) : NULL;
    free(text);
    return object;
}

int api_apply(api_fixture *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = vformat(fmt, ap);
    va_end(ap);
    ProtobufCMessage *object = text ? decode(text) : NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = object ? kumo_client_apply(f->client, object, NULL, NULL, &d) : KUMO_ERROR_PARSE;
    if (e != KUMO_ERROR_OK)
        fprintf(stderr, "apply: %s: %s\n", kumo_error_name(e), d.message);
    kumo_diag_fini(&d);
    kumo_object_destroy(object);
    free(text);
    return e == KUMO_ERROR_OK ? 0 : -1;
}

int api_sim_connection(api_fixture *f, const char *name, const char *extra_config)
{
    return api_apply(
        f,
        "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Connection\","
        " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
        " \"spec\": {\"driver\": \"sim\", \"provider\": \"aws\", \"region\": "
        "\"us-east-1\", \"rateLimit\": {\"qps\": 100, \"burst\": 20, \"maxInFlight\": 8},"
        " \"config\": {\"state\": \"%s\", \"fsync\": \"false\", \"boot_seconds\": \"0.3\""
        "%s%s}}}",
        name, f->state, extra_config ? ", " : "", extra_config ? extra_config : "");
}

ProtobufCMessage *api_get(api_fixture *f, const char *kind, const char *name)
{
    ProtobufCMessage *out = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_client_get(f->client, kumo_object_kind_lookup(kind), "default", name, &out, &d);
    kumo_diag_fini(&d);
    return out;
}

int api_wait(api_fixture *f, double seconds, int (*pred)(api_fixture *f, void *arg), void *arg)
{
    double deadline = kumo_test_now() + seconds;
    int r;
    while ((r = pred(f, arg)) == 0 && kumo_test_now() < deadline)
        api_sleep_ms(50);
    return r;
}
