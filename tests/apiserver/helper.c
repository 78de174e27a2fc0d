/* helper.c - shared set-up and raw NATS requests for the apiserver tests (see helper.h). */
#include "tests/apiserver/helper.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness/test.h"

extern char **environ;

void api_env_start(api_env *env, const api_env_options *options)
{
    api_env_options defaults = {0};
    const api_env_options *o = options ? options : &defaults;
    memset(env, 0, sizeof(*env));
    snprintf(env->dir, sizeof(env->dir), "%s", kumo_test_tmpdir());
    kumo_diag diag;
    kumo_diag_init(&diag);
    char js[300], store_dir[300];
    snprintf(js, sizeof(js), "%s/js", env->dir);
    snprintf(store_dir, sizeof(store_dir), "%s/store", env->dir);
    kumo_natsd_options no = {
        .store_dir = o->no_jetstream ? NULL : js,
        .max_payload = o->max_payload ? o->max_payload : 8L << 20,
    };
    kumo_error err = kumo_natsd_start(&no, &env->natsd, &diag);
    if (err != KUMO_ERROR_OK)
        fprintf(stderr, "natsd: %s\n", diag.message);
    KUMO_REQUIRE_INT_EQ(err, KUMO_ERROR_OK);

    kumo_store_options so;
    kumo_store_options_init(&so);
    so.path = store_dir;
    if (o->keep_revisions)
        so.keep_revisions = o->keep_revisions;
    if (o->keep_seconds_zero)
        so.keep_seconds = 0;
    err = kumo_store_open(&so, &env->store, &diag);
    if (err != KUMO_ERROR_OK)
        fprintf(stderr, "store: %s\n", diag.message);
    KUMO_REQUIRE_INT_EQ(err, KUMO_ERROR_OK);

    kumo_apiserver_options ao = {
        .nats_url = kumo_natsd_url(env->natsd),
        .store = env->store,
        .workers = o->workers,
        .desired_stream = o->desired_stream,
        .bookmark_ms = o->bookmark_ms,
    };
    err = kumo_apiserver_start(&ao, &env->api, &diag);
    if (err != KUMO_ERROR_OK)
        fprintf(stderr, "apiserver: %s\n", diag.message);
    KUMO_REQUIRE_INT_EQ(err, KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(natsConnection_ConnectTo(&env->nc, kumo_natsd_url(env->natsd)), NATS_OK);
    kumo_diag_fini(&diag);
}

void api_env_stop(api_env *env)
{
    if (env->nc != NULL) {
        natsConnection_Close(env->nc);
        natsConnection_Destroy(env->nc);
    }
    kumo_apiserver_destroy(env->api);
    kumo_store_close(env->store);
    kumo_natsd_destroy(env->natsd);
    memset(env, 0, sizeof(*env));
    nats_Close();
}

void api_request(natsConnection *nc, const char *subject, const char *const *headers,
                 const void *body, size_t len, api_reply *out)
{
    memset(out, 0, sizeof(*out));
    natsMsg *req = NULL;
    natsStatus st = natsMsg_Create(&req, subject, NULL, (const char *)body, (int)len);
    for (int i = 0; st == NATS_OK && headers != NULL && headers[i] != NULL; i += 2)
        st = natsMsgHeader_Add(req, headers[i], headers[i + 1]);
    if (st == NATS_OK)
        st = natsConnection_RequestMsg(&out->msg, nc, req, 5000);
    natsMsg_Destroy(req);
    out->status = st;
    if (st != NATS_OK)
        return;
    const char *code = NULL;
    if (natsMsgHeader_Get(out->msg, "Kumo-Code", &code) == NATS_OK && code != NULL)
        out->code = (int)strtol(code, NULL, 10);
    natsMsgHeader_Get(out->msg, "Content-Type", &out->content_type);
    out->body = natsMsg_GetData(out->msg);
    out->len = (size_t)natsMsg_GetDataLength(out->msg);
    if (out->body == NULL)
        out->body = "";
}

void api_reply_fini(api_reply *reply)
{
    natsMsg_Destroy(reply->msg);
    memset(reply, 0, sizeof(*reply));
}

const char *api_connection_json(const char *name, const char *ns, const char *extra_labels)
{
    static _Thread_local char slots[4][1024];
    static _Thread_local int next;
    char *buf = slots[next++ % 4];
    snprintf(buf, sizeof(slots[0]),
             "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Connection\","
             "\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\",\"labels\":{\"app\":\"kumo\"%s}},"
             "\"spec\":{\"driver\":\"sim\",\"provider\":\"aws\",\"region\":\"us-east-1\"}}",
             name, ns, extra_labels ? extra_labels : "");
    return buf;
}

const char *api_subject(char *buf, size_t size, const char *verb, const char *resource,
                        const char *ns)
{
    if (ns != NULL)
        snprintf(buf, size, "kumo.v1.api.%s.%s.%s", verb, resource, ns);
    else
        snprintf(buf, size, "kumo.v1.api.%s.%s", verb, resource);
    return buf;
}

const char *api_json_string(const char *json, const char *key, char *buf, size_t size)
{
    char needle[128];
    snprintf(needle, sizeof(needle), "\"%s\":\"", key);
    const char *p = json ? strstr(json, needle) : NULL;
    if (p == NULL)
        return NULL;
    p += strlen(needle);
    const char *end = strchr(p, '"');
    if (end == NULL)
        return NULL;
    snprintf(buf, size, "%.*s", (int)(end - p), p);
    return buf;
}

const char *api_kumod_path(char *buf, size_t size)
{
    return kumo_test_build_path("bin/kumod", buf, size);
}

pid_t api_kumod_spawn(const char *const *args, const char *log_file)
{
    char path[1024];
    api_kumod_path(path, sizeof(path));
    const char *argv[32];
    int argc = 0;
    argv[argc++] = path;
    for (int i = 0; args != NULL && args[i] != NULL && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, path, &actions, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    return rc == 0 ? pid : -1;
}

int api_wait_for_log(const char *log_file, const char *text, int timeout_ms)
{
    double deadline = kumo_test_now() + timeout_ms / 1000.0;
    while (kumo_test_now() < deadline) {
        char *content = kumo_test_read_file(log_file, NULL);
        int found = content != NULL && strstr(content, text) != NULL;
        free(content);
        if (found)
            return 1;
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return 0;
}

int api_kumod_wait(pid_t pid, int timeout_ms)
{
    double deadline = kumo_test_now() + timeout_ms / 1000.0;
    int status = 0;
    while (kumo_test_now() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r < 0 && errno != EINTR)
            return -1;
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}
