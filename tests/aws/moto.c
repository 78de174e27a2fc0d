/* moto.c - see moto.h. */
#include "tests/aws/moto.h"
#include "tests/harness/test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apis/error/error.h"

extern char **environ;

int moto_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int port_answers(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* What a failed case (which ends without moto_stop) leaves running is stopped at exit. */
static pid_t started[8];

static void stop_started(void)
{
    for (size_t i = 0; i < sizeof(started) / sizeof(started[0]); i++)
        if (started[i] > 0) {
            kill(started[i], SIGKILL);
            waitpid(started[i], NULL, 0);
            started[i] = 0;
        }
}

static void remember_started(pid_t pid)
{
    static int registered;
    if (!registered && atexit(stop_started) == 0)
        registered = 1;
    for (size_t i = 0; i < sizeof(started) / sizeof(started[0]); i++)
        if (started[i] == 0) {
            started[i] = pid;
            return;
        }
}

static void forget_started(pid_t pid)
{
    for (size_t i = 0; i < sizeof(started) / sizeof(started[0]); i++)
        if (started[i] == pid)
            started[i] = 0;
}

/* Spawns argv with stdout and stderr appended to log; waits until port answers. */
static pid_t spawn_serving(const char *const *argv, const char *log, int port, double seconds)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return 0;
    remember_started(pid);
    double until = kumo_test_now() + seconds;
    while (kumo_test_now() < until) {
        if (port_answers(port))
            return pid;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            forget_started(pid);
            fprintf(stderr, "%s exited at start; its log is %s\n", argv[0], log);
            return 0;
        }
        nap_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    forget_started(pid);
    fprintf(stderr, "%s did not listen on %d within %.0f s; its log is %s\n", argv[0], port,
            seconds, log);
    return 0;
}

static void stop_pid(pid_t *pid)
{
    if (*pid <= 0)
        return;
    forget_started(*pid);
    kill(*pid, SIGTERM);
    for (int i = 0; i < 50; i++) {
        if (waitpid(*pid, NULL, WNOHANG) == *pid) {
            *pid = 0;
            return;
        }
        nap_ms(20);
    }
    kill(*pid, SIGKILL);
    waitpid(*pid, NULL, 0);
    *pid = 0;
}

/* Runs a shell command; its stdout (malloc'd) or NULL when it exits non-zero. */
static char *run(const char *command)
{
    FILE *p = popen(command, "r");
    if (p == NULL)
        return NULL;
    size_t len = 0, cap = 4096;
    char *out = malloc(cap);
    size_t n;
    while (out && (n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 1024) {
            char *grown = realloc(out, cap *= 2);
            if (grown == NULL) {
                free(out);
                out = NULL;
            }
            out = grown;
        }
    }
    int status = pclose(p);
    if (out)
        out[len] = '\0';
    if (status != 0) {
        fprintf(stderr, "command failed (%d): %s\n", status, command);
        free(out);
        return NULL;
    }
    return out;
}

static char *cli(const char *url, const char *key, const char *secret, const char *region,
                 const char *args)
{
    size_t size = strlen(args) + 1024;
    char *command = malloc(size);
    if (command == NULL)
        return NULL;
    snprintf(command, size,
             "env AWS_ACCESS_KEY_ID='%s' AWS_SECRET_ACCESS_KEY='%s' AWS_CONFIG_FILE=/dev/null "
             "AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER= AWS_EC2_METADATA_DISABLED=true "
             "aws --endpoint-url %s --region %s --output json %s",
             key, secret, url, region, args);
    char *out = run(command);
    free(command);
    return out;
}

char *moto_cli(moto *m, const char *region, const char *args)
{
    return cli(m->url, m->key_id, m->secret, region, args);
}

/* The value of "name": "..." in json, into out. */
static int json_field(const char *json, const char *name, char *out, size_t size)
{
    char needle[64];
    snprintf(needle, sizeof(needle), "\"%s\": \"", name);
    const char *at = json ? strstr(json, needle) : NULL;
    if (at == NULL)
        return -1;
    at += strlen(needle);
    size_t n = strcspn(at, "\"");
    snprintf(out, size, "%.*s", (int)n, at);
    return 0;
}

static int iam_setup(moto *m)
{
    static const char policy[] = "'{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":"
                                 "\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}'";
    char *out = cli(m->url, "AKIAUNSIGNEDSETUP000", "setup", "us-east-1",
                    "iam create-user --user-name kumo-test");
    free(out);
    out = cli(m->url, "AKIAUNSIGNEDSETUP000", "setup", "us-east-1",
              "iam create-access-key --user-name kumo-test");
    int rc = json_field(out, "AccessKeyId", m->key_id, sizeof(m->key_id)) |
             json_field(out, "SecretAccessKey", m->secret, sizeof(m->secret));
    free(out);
    char args[512];
    snprintf(args, sizeof(args),
             "iam put-user-policy --user-name kumo-test --policy-name all --policy-document %s",
             policy);
    out = cli(m->url, "AKIAUNSIGNEDSETUP000", "setup", "us-east-1", args);
    rc |= out == NULL;
    free(out);
    return rc;
}

static int have(const char *program)
{
    char command[256];
    snprintf(command, sizeof(command), "command -v %s >/dev/null 2>&1", program);
    return system(command) == 0;
}

void moto_start(moto *m)
{
    memset(m, 0, sizeof(*m));
    if (!have("moto_server") || !have("aws"))
        kumo_test_skip("moto_server or the aws CLI is not installed (hack/deps.sh)");
    snprintf(m->dir, sizeof(m->dir), "%s", kumo_test_tmpdir());
    m->port = moto_free_port();
    snprintf(m->url, sizeof(m->url), "http://127.0.0.1:%d", m->port);
    char port[16], log[320];
    snprintf(port, sizeof(port), "%d", m->port);
    snprintf(log, sizeof(log), "%s/moto.log", m->dir);
    /* Signature checks after the IAM setup; moto checks instance types, AMIs and keys. */
    setenv("INITIAL_NO_AUTH_ACTION_COUNT", "3", 1);
    setenv("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true", 1);
    setenv("MOTO_ENABLE_AMI_VALIDATION", "true", 1);
    setenv("MOTO_ENABLE_KEYPAIR_VALIDATION", "true", 1);
    const char *argv[] = {"moto_server", "-H", "127.0.0.1", "-p", port, NULL};
    m->server = spawn_serving(argv, log, m->port, 60);
    unsetenv("INITIAL_NO_AUTH_ACTION_COUNT");
    KUMO_REQUIRE(m->server > 0);
    if (iam_setup(m) != 0) {
        moto_stop(m);
        KUMO_REQUIRE(!"IAM user and access key made in moto");
    }
    char dir[512];
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_test_build_path("lib/kumo/drivers", dir, sizeof(dir));
    kumo_error err = kumo_driver_load(dir, "aws", &m->handle, &diag);
    if (err != KUMO_ERROR_OK) {
        moto_stop(m);
        kumo_test_fail_(__FILE__, __LINE__, 1, "loading the aws driver: %s", diag.message);
    }
    kumo_diag_fini(&diag);
    m->drv = kumo_driver_table(m->handle);
    m->host = kumo_driver_host_of(m->handle);
}

void moto_stop(moto *m)
{
    stop_pid(&m->proxy);
    stop_pid(&m->server);
    if (m->handle)
        kumo_driver_unload(m->handle);
    m->handle = NULL;
}

int moto_proxy_start(moto *m, const char *options)
{
    char script[512], command[2048], log[320];
    if (kumo_test_source_path("tests/aws/fault_proxy.py", script, sizeof(script)) == NULL)
        return -1;
    m->proxy_port = moto_free_port();
    snprintf(m->proxy_url, sizeof(m->proxy_url), "http://127.0.0.1:%d", m->proxy_port);
    snprintf(log, sizeof(log), "%s/proxy.log", m->dir);
    snprintf(command, sizeof(command), "exec python3 %s --listen %d --upstream %s %s", script,
             m->proxy_port, m->url, options ? options : "");
    const char *argv[] = {"sh", "-c", command, NULL};
    m->proxy = spawn_serving(argv, log, m->proxy_port, 30);
    return m->proxy > 0 ? 0 : -1;
}

static int proxy_request(moto *m, const char *method, const char *path, const char *body, char *out,
                         size_t size)
{
    char command[1200];
    snprintf(command, sizeof(command), "curl -sf -X %s %s%s%s%s%s", method, m->proxy_url, path,
             body ? " --data-binary '" : "", body ? body : "", body ? "'" : "");
    char *reply = run(command);
    if (reply == NULL)
        return -1;
    if (out)
        snprintf(out, size, "%s", reply);
    free(reply);
    return 0;
}

int moto_proxy_rules(moto *m, const char *json)
{
    return proxy_request(m, "POST", "/_proxy/rules", json, NULL, 0);
}

int moto_proxy_stats(moto *m, char *out, size_t size)
{
    return proxy_request(m, "GET", "/_proxy/stats", NULL, out, size);
}

kumo_driver_code moto_open(moto *m, const char *region, const char *endpoint, const char *secret,
                           struct kumo_driver_conn **out, struct kumo_driver_diag *diag)
{
    struct kumo_driver_kv config[] = {{"region", region},
                                      {"endpoint", endpoint ? endpoint : m->url}};
    struct kumo_driver_kv creds[] = {{"accessKeyId", m->key_id},
                                     {"secretAccessKey", secret ? secret : m->secret}};
    struct kumo_driver_open_args args = {sizeof(args), "test/aws", config, 2, creds, 2};
    return m->drv->open(&args, out, diag);
}

int64_t moto_deadline(moto *m, double seconds)
{
    return m->host->monotonic_ns(m->host->ctx) + (int64_t)(seconds * 1e9);
}
