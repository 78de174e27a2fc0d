/*
 * helper.h - what the apiserver tests share: a real nats-server with a temp
 * dir, a store in a temp dir and an in-process apiserver over both; raw
 * nats.c requests with headers ("request, get code + body"); and the kumod
 * binary as a child process.
 *
 * The tests talk to kumo only through NATS and docs/api.md, never through the
 * client library.
 */
#ifndef KUMO_TEST_APISERVER_HELPER_H
#define KUMO_TEST_APISERVER_HELPER_H

#include <nats/nats.h>
#include <stddef.h>
#include <sys/types.h>

#include "bus/apiserver/apiserver.h"
#include "bus/natsd/natsd.h"
#include "store/store.h"

typedef struct api_env_options {
    long max_payload;        /* nats-server max_payload; 0: 8 MiB like kumod's embedded one */
    int no_jetstream;        /* 1: nats-server without JetStream (and no desired stream) */
    int desired_stream;      /* 1: the apiserver consumes KUMO_DESIRED */
    uint64_t keep_revisions; /* store retention; 0: store default */
    int keep_seconds_zero;   /* 1: keep_seconds = 0 (with keep_revisions: tiny retention) */
    int bookmark_ms;         /* 0: apiserver default */
    int workers;             /* 0: apiserver default */
} api_env_options;

typedef struct api_env {
    kumo_natsd *natsd;
    kumo_store *store;
    kumo_apiserver *api;
    natsConnection *nc; /* the test's client connection */
    char dir[256];
} api_env;

/* Starts nats-server, the store and the apiserver, and connects a client. REQUIREs success. */
void api_env_start(api_env *env, const api_env_options *options);
/* Stops everything started and calls nats_Close(). */
void api_env_stop(api_env *env);

typedef struct api_reply {
    natsStatus status; /* of the request itself (NATS_OK, NATS_TIMEOUT, ...) */
    int code;          /* Kumo-Code; 0 when absent */
    const char *body;  /* NUL-terminated (nats.c adds the NUL); borrowed from msg */
    size_t len;
    const char *content_type;
    natsMsg *msg;
} api_reply;

/*
 * Sends a request with headers (NULL-terminated key, value pairs; may be
 * NULL) and waits up to 5 s. Always fills *out; free with api_reply_fini.
 */
void api_request(natsConnection *nc, const char *subject, const char *const *headers,
                 const void *body, size_t len, api_reply *out);
void api_reply_fini(api_reply *reply);

/* A Connection manifest in JSON (static buffer per call slot: copy if kept). */
const char *api_connection_json(const char *name, const char *ns, const char *extra_labels);

/* "kumo.v1.api.<verb>.<resource>[.<ns>]" into buf. */
const char *api_subject(char *buf, size_t size, const char *verb, const char *resource,
                        const char *ns);

/* Finds `"key":"` in JSON text and copies the string value; returns buf or NULL. */
const char *api_json_string(const char *json, const char *key, char *buf, size_t size);

/* The path of the kumod binary of this build. */
const char *api_kumod_path(char *buf, size_t size);

/* Starts kumod with the given extra arguments (NULL-terminated); stdout+stderr to log_file. */
pid_t api_kumod_spawn(const char *const *args, const char *log_file);
/* Waits until `text` appears in log_file (up to timeout_ms); 1 when it did. */
int api_wait_for_log(const char *log_file, const char *text, int timeout_ms);
/* Waits for the child up to timeout_ms; returns its exit status, or -1 (then kills it). */
int api_kumod_wait(pid_t pid, int timeout_ms);

#endif
