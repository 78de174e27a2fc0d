/*
 * kubeapi.h - the Kubernetes-compatible HTTPS API: a second front door to
 * the store's verbs (kumo_apiserver_call), so that unmodified kubectl and
 * Kubernetes client libraries drive kumo. docs/kubeapi.md says what is
 * served, endpoint by endpoint.
 *
 * Built on libevent's evhttp with bufferevent_openssl for TLS: one event
 * loop thread parses HTTP and streams watches; worker threads run the verbs
 * (they block in the store's group commit). Other HTTP endpoints (e.g.
 * /metrics) can be mounted on the same listener with kumo_kubeapi_mount.
 *
 * Thread safety: start/destroy from one thread; mount before serving
 * requests that need it.
 */
#ifndef KUMO_KUBEAPI_H
#define KUMO_KUBEAPI_H

#include <stddef.h>

#include "apis/codec/codec.h"
#include "apis/error/error.h"
#include "store/store.h"

#define KUMO_KUBEAPI_DEFAULT_LISTEN  "127.0.0.1:6443"
#define KUMO_KUBEAPI_DEFAULT_WORKERS 32

typedef struct kumo_kubeapi kumo_kubeapi;

typedef struct kumo_kubeapi_options {
    const char *listen;   /* "HOST:PORT"; port 0 picks a free one (kumo_kubeapi_port) */
    const char *data_dir; /* holds kubeapi/ (CA, certificate, key, token) and kubeconfig */
    kumo_store *store;    /* borrowed; must outlive the server */
    int workers;          /* 0: KUMO_KUBEAPI_DEFAULT_WORKERS */
    int plain_http;       /* 1: no TLS (tests of the HTTP layer only) */
    int bookmark_ms;      /* watch bookmarks; 0: 5000 */
} kumo_kubeapi_options;

/*
 * Creates (on first start) the CA, serving certificate, token and
 * <data_dir>/kubeconfig (0600), binds the listener and starts serving.
 * Errors: INVALID_ARGUMENT (listen address), UNAVAILABLE (cannot bind: the
 * message names the address), CRYPTO (certificates), IO (files), NOMEM.
 */
kumo_error kumo_kubeapi_start(const kumo_kubeapi_options *options, kumo_kubeapi **out,
                              kumo_diag *diag);

/* The port the server listens on. */
int kumo_kubeapi_port(const kumo_kubeapi *server);

/*
 * A handler for a mounted path: fills body (text) and content_type (a static
 * string) and returns the HTTP code. Runs on a worker thread.
 */
typedef int (*kumo_kubeapi_handler)(void *ctx, const char *path, kumo_codec_buffer *body,
                                    const char **content_type);

/*
 * Serves GET <path> with handler on this listener. With auth 0 the path is
 * served without the bearer token (e.g. /metrics for a scraper on
 * loopback). At most 8 mounts. Errors: INVALID_ARGUMENT, NOMEM.
 */
kumo_error kumo_kubeapi_mount(kumo_kubeapi *server, const char *path, int auth,
                              kumo_kubeapi_handler handler, void *ctx, kumo_diag *diag);

/* Ends watches, finishes requests in flight, stops. NULL is a no-op. */
void kumo_kubeapi_destroy(kumo_kubeapi *server);

#endif
