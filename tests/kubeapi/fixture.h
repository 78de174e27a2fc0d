/*
 * fixture.h - what the kubeapi tests share.
 *
 * In process: a real nats-server, store and NATS apiserver (tests/apiserver's
 * api_env) plus the HTTPS API on the same store, reached with libcurl over
 * TLS with the generated CA and token.
 *
 * As a user: a real nats-server and the kumod binary (all controllers, the
 * sim driver) with --http-listen on a free port, driven by the kubectl found
 * on PATH and by kumoctl, both with only what kumod wrote.
 */
#ifndef KUMO_TEST_KUBEAPI_FIXTURE_H
#define KUMO_TEST_KUBEAPI_FIXTURE_H

#include <stddef.h>
#include <sys/types.h>

#include "bus/kubeapi/kubeapi.h"
#include "tests/apiserver/helper.h"

typedef struct kube_env {
    api_env api;
    kumo_kubeapi *http;
    char base_url[128];
    char ca[512];
    char token[80];
} kube_env;

/* Starts api_env (with options) and the HTTPS API on a free port. REQUIREs success. */
void kube_env_start(kube_env *env, const api_env_options *options);
void kube_env_stop(kube_env *env);

typedef struct http_reply {
    long code; /* 0 when the request failed at the transport */
    char *body;
    size_t len;
    char content_type[128];
} http_reply;

/*
 * One HTTPS request. token NULL: the environment's; "" none. body may be
 * NULL. Always fills *out; free with http_reply_fini.
 */
void kube_http(const kube_env *env, const char *method, const char *path, const char *token,
               const char *content_type, const char *accept, const void *body, size_t len,
               http_reply *out);
void http_reply_fini(http_reply *reply);
/* A libcurl write callback appending to an http_reply (arg) body. */
size_t kube_http_collect(char *data, size_t size, size_t n, void *arg);

/* ---- kumod + kubectl + kumoctl ---- */

typedef struct kube_user {
    kumo_natsd *natsd;
    pid_t kumod;
    char dir[256], data_dir[300], log_file[300], kubeconfig[400];
    char kumoctl[512];
} kube_user;

/* Starts nats-server and kumod; skips when kubectl or kumod is missing. */
void kube_user_start(kube_user *u);
void kube_user_stop(kube_user *u);

/*
 * Runs a shell command line with KUBECONFIG and KUMO_NATS_URL set, returns its
 * exit status; *output (may be NULL) receives stdout+stderr (caller frees).
 */
int kube_sh(const kube_user *u, char **output, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Polls `kube_sh(cmd)` every 200 ms until its output contains `text`; 1 when it did. */
int kube_sh_until(const kube_user *u, const char *text, double seconds, const char *cmd);

/* Replaces every age ("5s", "3m", "<unknown>") by "~" in place, so tables compare. */
void kube_normalize_ages(char *text);

#endif
