/*
 * fixture.c - a real agent bus and a real kumo-agent for the cases of
 * agent_test.c (see fixture.h). The agent is started with fork+exec rather
 * than posix_spawn so that it gets PR_SET_PDEATHSIG: a case that fails half
 * way never leaves an agent (and its instances) behind on the machine.
 */
#define _GNU_SOURCE
#include "tests/agent/fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apis/codec/codec.h"
#include "bus/agent/agent.h"
#include "tests/agentbus/agentbus.h"
#include "tests/harness/test.h"

extern char **environ;

static const unsigned char key[KUMO_AGENT_KEY_SIZE] = "kumo-agent-test-key-0123456789ab";

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&t, NULL);
}

int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    KUMO_REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
                 getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    close(fd);
    return ntohs(sa.sin_port);
}

int pid_alive(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH);
}

static void print_log(const agent_fixture *f)
{
    char *text = kumo_test_read_file(f->log_path, NULL);
    fprintf(stderr, "---- kumo-agent log ----\n%s------------------------\n", text ? text : "");
    free(text);
}

void fixture_start_server(agent_fixture *f)
{
    const char *uids[1] = {f->uid};
    agentbus_start(key, uids, 1, "pw", f->port, &f->natsd, &f->admin);
    f->port = kumo_natsd_port(f->natsd);
    char subject[128];
    snprintf(subject, sizeof(subject), "kumo.agent.%s.status", f->uid);
    KUMO_REQUIRE(natsConnection_SubscribeSync(&f->status, f->admin, subject) == NATS_OK);
    natsConnection_Flush(f->admin);
}

void fixture_start(agent_fixture *f, int port, int no_server)
{
    memset(f, 0, sizeof(*f));
    static int serial;
    snprintf(f->uid, sizeof(f->uid), "uid-%d-%d", (int)getpid(), ++serial);
    f->port = port ? port : free_port();
    if (!no_server)
        fixture_start_server(f);
    const char *tmp = kumo_test_tmpdir();
    snprintf(f->data_dir, sizeof(f->data_dir), "%s/agent", tmp);
    snprintf(f->log_path, sizeof(f->log_path), "%s/agent.log", tmp);

    char url[64];
    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", f->port);
    const char *urls[1] = {url};
    char *bootstrap = kumo_agent_bootstrap_json_metrics(key, f->uid, "m1", "default", urls, 1, 0,
                                                        NULL, 500, 1000);
    KUMO_REQUIRE(bootstrap != NULL);
    char bin[1024];
    kumo_test_build_path("bin/kumo-agent", bin, sizeof(bin));
    if (access(bin, X_OK) != 0) { /* run by hand: kumo-agent is beside test_agent */
        ssize_t n = readlink("/proc/self/exe", bin, sizeof(bin) - 32);
        KUMO_REQUIRE(n > 0);
        bin[n] = '\0';
        snprintf(strrchr(bin, '/'), 32, "/kumo-agent");
    }
    if (access(bin, X_OK) != 0)
        fprintf(stderr, "%s: %s\n", bin, strerror(errno));
    KUMO_REQUIRE(access(bin, X_OK) == 0);

    /* The test's environment (sanitizer options included) plus the machine's. */
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 8, sizeof(char *));
    KUMO_REQUIRE(env != NULL);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "KUMO_AGENT_", 11) != 0 && strncmp(environ[i], "KUMO_MACHINE_", 13))
            env[k++] = strdup(environ[i]);
    int ok = asprintf(&env[k++], "KUMO_AGENT_BOOTSTRAP=%s", bootstrap) > 0 &&
             asprintf(&env[k++], "KUMO_AGENT_DATA_DIR=%s", f->data_dir) > 0 &&
             asprintf(&env[k++], "KUMO_MACHINE_NAME=m1") > 0 &&
             asprintf(&env[k++], "KUMO_MACHINE_UID=%s", f->uid) > 0 &&
             asprintf(&env[k++], "KUMO_MACHINE_IP=127.0.0.1") > 0;
    free(bootstrap);
    KUMO_REQUIRE(ok);
    char *argv[] = {bin, "--log-level", "debug", NULL};
    int log = open(f->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    KUMO_REQUIRE(log >= 0);
    pid_t parent = getpid();
    f->agent = fork();
    if (f->agent == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        dup2(log, 1);
        dup2(log, 2);
        execve(bin, argv, env);
        _exit(127);
    }
    close(log);
    for (size_t i = 0; i < k; i++)
        free(env[i]);
    free(env);
    KUMO_REQUIRE(f->agent > 0);
}

int fixture_stop(agent_fixture *f)
{
    int status = -1;
    if (f->agent > 0) {
        kill(f->agent, SIGTERM);
        pid_t r = 0;
        for (int i = 0; i < 300 && (r = waitpid(f->agent, &status, WNOHANG)) == 0; i++)
            sleep_ms(50);
        if (r != f->agent) {
            fprintf(stderr, "kumo-agent did not stop in 15 s; killing it\n");
            kill(f->agent, SIGKILL);
            waitpid(f->agent, NULL, 0);
            status = -1;
        }
        if (status != 0)
            print_log(f);
        f->agent = 0;
    }
    natsSubscription_Destroy(f->status);
    natsConnection_Destroy(f->admin);
    kumo_natsd_destroy(f->natsd);
    f->status = NULL;
    f->admin = NULL;
    f->natsd = NULL;
    return status;
}

/* 0 once the agent has exited (it is reaped, its status printed, and the case fails). */
static int agent_running(agent_fixture *f)
{
    int status = 0;
    if (f->agent <= 0 || waitpid(f->agent, &status, WNOHANG) != f->agent)
        return f->agent > 0;
    fprintf(stderr, "kumo-agent exited early (wait status %d)\n", status);
    print_log(f);
    f->agent = 0;
    KUMO_REQUIRE(!"kumo-agent is running");
    return 0;
}

Kumo__V1alpha1__AgentReply *fixture_request(agent_fixture *f, const char *verb, const char *body)
{
    char subject[128];
    snprintf(subject, sizeof(subject), "kumo.agent.%s.%s", f->uid, verb);
    natsMsg *reply = NULL;
    natsStatus s;
    /* No responders: the agent has not joined the bus yet. */
    for (int i = 0; (s = natsConnection_RequestString(&reply, f->admin, subject, body, 5000)) ==
                        NATS_NO_RESPONDERS &&
                    i < 100 && agent_running(f);
         i++)
        sleep_ms(100);
    if (s != NATS_OK)
        return NULL;
    ProtobufCMessage *m = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e =
        kumo_codec_json_decode(&kumo__v1alpha1__agent_reply__descriptor, natsMsg_GetData(reply),
                               (size_t)natsMsg_GetDataLength(reply), NULL, &m, &d);
    if (e != KUMO_ERROR_OK)
        fprintf(stderr, "reply %s: %s\n", natsMsg_GetData(reply), d.message);
    kumo_diag_fini(&d);
    natsMsg_Destroy(reply);
    return (Kumo__V1alpha1__AgentReply *)m;
}

static void print_status(const Kumo__V1alpha1__AgentReply *r)
{
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    kumo_codec_encode_options o = {.indent = 2};
    if (r)
        kumo_codec_json_encode(&r->base, &o, &buf, NULL);
    fprintf(stderr, "last status: %s\n", r ? buf.data : "(no answer)");
    kumo_codec_buffer_fini(&buf);
}

Kumo__V1alpha1__AgentReply *fixture_wait(agent_fixture *f, fixture_check check, void *arg,
                                         int timeout_ms)
{
    double until = kumo_test_now() + timeout_ms / 1000.0;
    Kumo__V1alpha1__AgentReply *r = NULL;
    for (;;) {
        kumo_codec_message_free((ProtobufCMessage *)r);
        r = agent_running(f) ? fixture_request(f, "get", "") : NULL;
        if (r && r->ok && r->status && check(r->status, arg))
            return r;
        if (kumo_test_now() > until)
            break;
        sleep_ms(100);
    }
    print_status(r);
    print_log(f);
    kumo_codec_message_free((ProtobufCMessage *)r);
    return NULL;
}

const Kumo__V1alpha1__AgentAppStatus *status_app(const Kumo__V1alpha1__AgentStatus *s,
                                                 const char *app)
{
    for (size_t i = 0; s && i < s->n_apps; i++)
        if (strcmp(s->apps[i]->app, app) == 0)
            return s->apps[i];
    return NULL;
}

const Kumo__V1alpha1__AgentInstance *status_instance(const Kumo__V1alpha1__AgentStatus *s,
                                                     const char *app, const char *component,
                                                     int replica)
{
    const Kumo__V1alpha1__AgentAppStatus *a = status_app(s, app);
    for (size_t i = 0; a && i < a->n_instances; i++)
        if (strcmp(a->instances[i]->component, component) == 0 &&
            a->instances[i]->replica == replica)
            return a->instances[i];
    return NULL;
}
