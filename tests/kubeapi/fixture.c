/* fixture.c - in-process and kumod fixtures for the kubeapi tests (see fixture.h). */
#include "tests/kubeapi/fixture.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness/test.h"

extern char **environ;

void kube_env_start(kube_env *env, const api_env_options *options)
{
    memset(env, 0, sizeof(*env));
    api_env_start(&env->api, options);
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_kubeapi_options o = {
        .listen = "127.0.0.1:0", .data_dir = env->api.dir, .store = env->api.store};
    kumo_error err = kumo_kubeapi_start(&o, &env->http, &diag);
    if (err != KUMO_ERROR_OK)
        fprintf(stderr, "kubeapi: %s\n", diag.message);
    KUMO_REQUIRE_INT_EQ(err, KUMO_ERROR_OK);
    kumo_diag_fini(&diag);
    snprintf(env->base_url, sizeof(env->base_url), "https://127.0.0.1:%d",
             kumo_kubeapi_port(env->http));
    snprintf(env->ca, sizeof(env->ca), "%s/kubeapi/ca.crt", env->api.dir);
    char path[400];
    snprintf(path, sizeof(path), "%s/kubeapi/token", env->api.dir);
    char *token = kumo_test_read_file(path, NULL);
    KUMO_REQUIRE_PTR_NONNULL(token);
    snprintf(env->token, sizeof(env->token), "%s", token);
    free(token);
}

void kube_env_stop(kube_env *env)
{
    kumo_kubeapi_destroy(env->http);
    api_env_stop(&env->api);
}

size_t kube_http_collect(char *data, size_t size, size_t n, void *arg)
{
    http_reply *r = arg;
    char *grown = realloc(r->body, r->len + size * n + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + r->len, data, size * n);
    r->len += size * n;
    grown[r->len] = '\0';
    r->body = grown;
    return size * n;
}

void kube_http(const kube_env *env, const char *method, const char *path, const char *token,
               const char *content_type, const char *accept, const void *body, size_t len,
               http_reply *out)
{
    memset(out, 0, sizeof(*out));
    CURL *c = curl_easy_init();
    KUMO_REQUIRE_PTR_NONNULL(c);
    char url[1024], auth[160], type[160], acc[512];
    snprintf(url, sizeof(url), "%s%s", env->base_url, path);
    struct curl_slist *headers = NULL;
    const char *t = token ? token : env->token;
    if (t[0] != '\0') {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", t);
        headers = curl_slist_append(headers, auth);
    }
    if (content_type != NULL) {
        snprintf(type, sizeof(type), "Content-Type: %s", content_type);
        headers = curl_slist_append(headers, type);
    }
    snprintf(acc, sizeof(acc), "Accept: %s", accept ? accept : "application/json");
    headers = curl_slist_append(headers, acc);
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_CAINFO, env->ca);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, kube_http_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->code);
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(out->content_type, sizeof(out->content_type), "%s", ct ? ct : "");
    }
    if (out->body == NULL)
        out->body = calloc(1, 1);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
}

void http_reply_fini(http_reply *reply)
{
    free(reply->body);
    memset(reply, 0, sizeof(*reply));
}

/* ---- kumod + kubectl ---- */

static int on_path(const char *program)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", program);
    return system(cmd) == 0;
}

void kube_user_start(kube_user *u)
{
    memset(u, 0, sizeof(*u));
    char kumod[512], drivers[512], sim[600], link_path[600];
    kumo_test_build_path("bin/kumod", kumod, sizeof(kumod));
    kumo_test_build_path("bin/kumoctl", u->kumoctl, sizeof(u->kumoctl));
    kumo_test_build_path("lib/kumo/drivers", drivers, sizeof(drivers));
    if (!on_path("kubectl"))
        kumo_test_skip("no kubectl on PATH");
    if (access(kumod, X_OK) != 0 || access(u->kumoctl, X_OK) != 0)
        kumo_test_skip("%s or %s is not built", kumod, u->kumoctl);
    snprintf(u->dir, sizeof(u->dir), "%s", kumo_test_tmpdir());
    snprintf(u->data_dir, sizeof(u->data_dir), "%s/kumod", u->dir);
    snprintf(u->log_file, sizeof(u->log_file), "%s/kumod.log", u->dir);
    snprintf(u->kubeconfig, sizeof(u->kubeconfig), "%s/kubeconfig", u->data_dir);
    char js[300];
    snprintf(js, sizeof(js), "%s/js", u->dir);
    /* Only the sim driver: the examples that use the local driver are accepted by the API
     * but make nothing on this host (their Connections report the missing driver). */
    snprintf(sim, sizeof(sim), "%s/kumo-driver-sim.so", drivers);
    snprintf(drivers, sizeof(drivers), "%s/drivers", u->dir);
    snprintf(link_path, sizeof(link_path), "%s/kumo-driver-sim.so", drivers);
    KUMO_REQUIRE_INT_EQ(mkdir(drivers, 0700), 0);
    KUMO_REQUIRE_INT_EQ(symlink(sim, link_path), 0);
    kumo_natsd_options no = {.store_dir = js, .max_payload = 8L << 20};
    kumo_diag diag;
    kumo_diag_init(&diag);
    KUMO_REQUIRE_INT_EQ(kumo_natsd_start(&no, &u->natsd, &diag), KUMO_ERROR_OK);
    const char *argv[] = {
        kumod,           "--nats",      kumo_natsd_url(u->natsd), "--data-dir", u->data_dir,
        "--http-listen", "127.0.0.1:0", "--drivers-dir",          drivers,      "--agent-listen",
        "none",          NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, u->log_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawn(&u->kumod, kumod, &actions, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    KUMO_REQUIRE_INT_EQ(rc, 0);
    KUMO_REQUIRE(api_wait_for_log(u->log_file, "kumod ready on", 30000));
    kumo_diag_fini(&diag);
    char *version = NULL;
    kube_sh(u, &version, "kubectl version --client 2>&1 | head -1");
    fprintf(stderr, "kubectl: %s", version ? version : "?\n");
    free(version);
}

void kube_user_stop(kube_user *u)
{
    if (u->kumod > 0) {
        kill(u->kumod, SIGTERM);
        int status = api_kumod_wait(u->kumod, 20000);
        if (status != 0)
            fprintf(stderr, "kumod did not stop cleanly; its log is %s\n", u->log_file);
        KUMO_EXPECT_INT_EQ(status, 0);
        u->kumod = 0;
    }
    kumo_natsd_destroy(u->natsd);
    u->natsd = NULL;
}

int kube_sh(const kube_user *u, char **output, const char *fmt, ...)
{
    char command[4096], line[6000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(command, sizeof(command), fmt, ap);
    va_end(ap);
    snprintf(line, sizeof(line), "export KUBECONFIG='%s' KUMO_NATS_URL='%s'; kumoctl='%s'; %s 2>&1",
             u->kubeconfig, kumo_natsd_url(u->natsd), u->kumoctl, command);
    FILE *p = popen(line, "r");
    if (p == NULL)
        return -1;
    char *text = NULL;
    size_t len = 0;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
        char *grown = realloc(text, len + n + 1);
        if (grown == NULL)
            break;
        text = grown;
        memcpy(text + len, chunk, n);
        len += n;
        text[len] = '\0';
    }
    int status = pclose(p);
    if (output != NULL)
        *output = text ? text : calloc(1, 1);
    else
        free(text);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int kube_sh_until(const kube_user *u, const char *text, double seconds, const char *cmd)
{
    double end = kumo_test_now() + seconds;
    for (;;) {
        char *out = NULL;
        kube_sh(u, &out, "%s", cmd);
        int found = out != NULL && strstr(out, text) != NULL;
        free(out);
        if (found)
            return 1;
        if (kumo_test_now() > end)
            return 0;
        usleep(200000);
    }
}

void kube_normalize_ages(char *text)
{
    char *w = text;
    for (char *p = text; *p;) {
        int start = p == text || p[-1] == ' ' || p[-1] == '\n';
        size_t digits = strspn(p, "0123456789");
        if (start && strncmp(p, "<unknown>", 9) == 0) {
            *w++ = '~', p += 9;
            continue;
        }
        if (start && digits > 0 && strchr("smhdy", p[digits]) && p[digits] != '\0' &&
            (p[digits + 1] == ' ' || p[digits + 1] == '\n' || p[digits + 1] == '\0')) {
            *w++ = '~', p += digits + 1;
            continue;
        }
        *w++ = *p++;
    }
    *w = '\0';
    /* widths around a normalized column may differ: squeeze runs of spaces */
    w = text;
    for (char *p = text; *p; p++)
        if (!(*p == ' ' && w > text && w[-1] == ' '))
            *w++ = *p;
    *w = '\0';
}
