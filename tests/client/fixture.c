/*
 * fixture.c - a real nats-server and a real kumod for the client tests.
 */
#include "tests/client/fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <nats/nats.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness/test.h"

extern char **environ;

/*
 * What the running case started, outside its stack frame: a failed
 * KUMO_REQUIRE longjmps past fixture_stop, and these are then killed by the
 * next fixture_start or at exit, so no kumod or nats-server outlives the run.
 */
static pid_t leftover_kumod;
static kumo_natsd *leftover_natsd;

static void kill_leftovers(void)
{
    if (leftover_kumod > 0) {
        kill(leftover_kumod, SIGKILL);
        waitpid(leftover_kumod, NULL, 0);
    }
    kumo_natsd_destroy(leftover_natsd);
    leftover_kumod = 0;
    leftover_natsd = NULL;
}

void fixture_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int kumod_spawn(fixture *f)
{
    /* The API only: controllers would write status on the tests' objects. */
    const char *argv[] = {f->kumod_binary, "--nats", f->url,          "--data-dir", f->data_dir,
                          "--log-level",   "warn",   "--controllers", "none",       NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, f->log_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawn(&f->kumod, f->kumod_binary, &actions, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        f->kumod = 0;
        fprintf(stderr, "cannot start %s: %s\n", f->kumod_binary, strerror(rc));
        return -1;
    }
    leftover_kumod = f->kumod;
    return 0;
}

/* Waits until kumod answers a list request; 0 when it does. */
static int kumod_wait_ready(fixture *f)
{
    kumo_client_options o = {.url = f->url, .timeout_ms = 1000};
    kumo_client *c = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    int ready = -1;
    double deadline = kumo_test_now() + 30;
    if (kumo_client_connect(&o, &c, &d) == KUMO_ERROR_OK) {
        while (ready != 0 && kumo_test_now() < deadline) {
            ProtobufCMessage *list = NULL;
            kumo_diag_fini(&d);
            if (kumo_client_list(c, kumo_object_kind_lookup("connections"), "default", NULL, &list,
                                 &d) == KUMO_ERROR_OK)
                ready = 0;
            kumo_object_destroy(list);
            int status;
            if (ready != 0 && waitpid(f->kumod, &status, WNOHANG) == f->kumod) {
                fprintf(stderr, "kumod exited at start; its log is %s\n", f->log_file);
                f->kumod = 0;
                leftover_kumod = 0;
                break;
            }
            if (ready != 0)
                fixture_sleep_ms(50);
        }
    }
    if (ready != 0)
        fprintf(stderr, "kumod did not answer on %s: %s\n", f->url, d.message);
    kumo_client_destroy(c);
    kumo_diag_fini(&d);
    return ready;
}

int fixture_kumod_start(fixture *f)
{
    if (kumod_spawn(f) != 0)
        return -1;
    return kumod_wait_ready(f);
}

void fixture_start(fixture *f)
{
    static int registered;
    if (!registered++)
        atexit(kill_leftovers);
    kill_leftovers();
    memset(f, 0, sizeof(*f));
    kumo_test_build_path("bin/kumod", f->kumod_binary, sizeof(f->kumod_binary));
    if (access(f->kumod_binary, X_OK) != 0)
        kumo_test_skip("%s is not built", f->kumod_binary);
    const char *tmp = kumo_test_tmpdir();
    char js[600];
    snprintf(js, sizeof(js), "%s/js", tmp);
    snprintf(f->data_dir, sizeof(f->data_dir), "%s/kumod", tmp);
    snprintf(f->log_file, sizeof(f->log_file), "%s/kumod.log", tmp);
    kumo_natsd_options o = {.store_dir = js};
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_natsd_start(&o, &f->natsd, &d);
    if (e != KUMO_ERROR_OK)
        fprintf(stderr, "nats-server: %s\n", d.message);
    kumo_diag_fini(&d);
    KUMO_REQUIRE_INT_EQ(e, KUMO_ERROR_OK);
    leftover_natsd = f->natsd;
    snprintf(f->url, sizeof(f->url), "%s", kumo_natsd_url(f->natsd));
    KUMO_REQUIRE_INT_EQ(fixture_kumod_start(f), 0);
}

void fixture_kumod_kill(fixture *f, int signal)
{
    if (f->kumod <= 0)
        return;
    kill(f->kumod, signal);
    int status;
    double deadline = kumo_test_now() + 10;
    while (waitpid(f->kumod, &status, WNOHANG) == 0) {
        if (kumo_test_now() > deadline) {
            kill(f->kumod, SIGKILL);
            waitpid(f->kumod, &status, 0);
            break;
        }
        fixture_sleep_ms(20);
    }
    f->kumod = 0;
    leftover_kumod = 0;
}

void fixture_stop(fixture *f)
{
    fixture_kumod_kill(f, SIGTERM);
    kumo_natsd_destroy(f->natsd);
    f->natsd = NULL;
    leftover_natsd = NULL;
    nats_Close();
}

kumo_client *fixture_client(const fixture *f, kumo_codec_format format, int timeout_ms)
{
    kumo_client_options o = {.url = f->url, .format = format, .timeout_ms = timeout_ms};
    kumo_client *c = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_client_connect(&o, &c, &d);
    if (e != KUMO_ERROR_OK)
        fprintf(stderr, "connect: %s\n", d.message);
    kumo_diag_fini(&d);
    KUMO_REQUIRE_INT_EQ(e, KUMO_ERROR_OK);
    return c;
}

ProtobufCMessage *fixture_connection(const char *name, const char *ns, const char *tier)
{
    char text[1024], labels[128] = "";
    if (tier)
        snprintf(labels, sizeof(labels), ", \"labels\": {\"tier\": \"%s\"}", tier);
    snprintf(text, sizeof(text),
             "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Connection\", "
             "\"metadata\": {\"name\": \"%s\", \"namespace\": \"%s\"%s}, "
             "\"spec\": {\"driver\": \"sim\", \"provider\": \"aws\", \"region\": \"us-east-1\"}}",
             name, ns, labels);
    ProtobufCMessage *object = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_object_decode(kumo_object_kind_lookup("Connection"), text, strlen(text),
                                      KUMO_CODEC_FORMAT_JSON, NULL, &object, &d);
    kumo_diag_fini(&d);
    KUMO_REQUIRE_INT_EQ(e, KUMO_ERROR_OK);
    return object;
}
