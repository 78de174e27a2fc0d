/*
 * server.c - the listener and its threads.
 *
 * One loop thread runs libevent: evhttp parses every request (TLS through
 * bufferevent_openssl), the loop checks the bearer token, serves what is
 * prebuilt (discovery, OpenAPI) and streams watches itself, and queues every
 * verb as a job for the workers. A worker runs the job (kumo_apiserver_call,
 * which may wait for a group commit), queues it as done and wakes the loop,
 * which sends the reply. Nothing but the loop touches evhttp objects.
 *
 * Invariants: a job is on exactly one of the work queue, a worker, or the
 * done queue until the loop sends its reply and frees it. Every
 * request taken is answered, also when its client went away: evhttp then
 * has detached it from the connection, and answering is what frees it.
 */
#include "bus/kubeapi/internal.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/log/log.h"

/* Idle keep-alive connections and silent watches are closed after this. */
#define KUBEAPI_CONNECTION_TIMEOUT_S 600
/*
 * Bodies over the API's limit (16 MiB) are read, dropped and answered with a
 * 413 Status by on_request. libevent 2.1 has no hook before a body is read,
 * so evhttp buffers a body whole; over this larger bound it stops buffering,
 * drains the rest and answers 413 itself (an HTML body, docs/kubeapi.md).
 */
#define KUBEAPI_MAX_READ_BODY ((ev_ssize_t)KUMO_APISERVER_MAX_REQUEST_BYTES * 8)

void kubeapi_send(struct evhttp_request *req, int code, const char *content_type, const void *body,
                  size_t len)
{
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Content-Type", content_type);
    evhttp_add_header(headers, "Cache-Control", "no-cache, private");
    struct evbuffer *out = evbuffer_new();
    if (out != NULL && len > 0)
        evbuffer_add(out, body, len);
    evhttp_send_reply(req, code, NULL, out);
    evbuffer_free(out);
}

void kubeapi_send_status(struct evhttp_request *req, const kumo_diag *diag,
                         const kumo_object_kind *kind, const char *name)
{
    kumo_codec_buffer out;
    kumo_codec_buffer_init(&out);
    int code = kumo_apiserver_status_encode(diag, kind, name, KUMO_CODEC_FORMAT_JSON, &out);
    kubeapi_send(req, code, "application/json", out.data, out.len);
    kumo_codec_buffer_fini(&out);
}

void kubeapi_send_error(struct evhttp_request *req, kumo_error code, const char *fmt, ...)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    va_list ap;
    va_start(ap, fmt);
    kumo_diag_setv(&diag, code, fmt, ap);
    va_end(ap);
    kubeapi_send_status(req, &diag, NULL, NULL);
    kumo_diag_fini(&diag);
}

const char *kubeapi_query(const char *query, const char *key, char *buf, size_t size)
{
    if (query == NULL || query[0] == '\0')
        return NULL;
    struct evkeyvalq params;
    TAILQ_INIT(&params);
    if (evhttp_parse_query_str(query, &params) != 0) {
        evhttp_clear_headers(&params);
        return NULL;
    }
    const char *value = evhttp_find_header(&params, key);
    const char *result = NULL;
    if (value != NULL) {
        snprintf(buf, size, "%s", value);
        result = buf;
    }
    evhttp_clear_headers(&params);
    return result;
}

int kubeapi_query_true(const char *query, const char *key)
{
    char v[16];
    return kubeapi_query(query, key, v, sizeof(v)) != NULL &&
           (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

int kubeapi_wants_table(const char *accept)
{
    return accept != NULL && strstr(accept, KUBEAPI_TABLE_ACCEPT) != NULL;
}

static char *copy_or_null(const char *text)
{
    return text != NULL ? strdup(text) : NULL;
}

static void job_free(kubeapi_job *job)
{
    free(job->path);
    free(job->query);
    free(job->content_type);
    free(job->accept);
    free(job->body);
    kumo_codec_buffer_fini(&job->out);
    free(job);
}

/* ---- workers ---- */

static void run_job(kumo_kubeapi *s, kubeapi_job *job, kumo_apiserver_response *resp)
{
    if (job->mount > 0) {
        kubeapi_mount *m = &s->mounts[job->mount - 1];
        job->reply_type = "text/plain";
        job->code = m->handler(m->ctx, job->path, &job->out, &job->reply_type);
        return;
    }
    kubeapi_resource_serve(s, job, resp);
}

static void *worker_main(void *arg)
{
    kumo_kubeapi *s = arg;
    kumo_apiserver_response resp;
    kumo_apiserver_response_init(&resp);
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->work_head == NULL && !s->stopping)
            pthread_cond_wait(&s->work_cond, &s->lock);
        kubeapi_job *job = s->work_head;
        if (job == NULL)
            break;
        s->work_head = job->queue_next;
        if (s->work_head == NULL)
            s->work_tail = NULL;
        pthread_mutex_unlock(&s->lock);

        run_job(s, job, &resp);
        kumo_apiserver_response_reset(&resp);

        pthread_mutex_lock(&s->lock);
        job->queue_next = NULL;
        if (s->done_tail != NULL)
            s->done_tail->queue_next = job;
        else
            s->done_head = job;
        s->done_tail = job;
        event_active(s->done_event, EV_READ, 0);
    }
    pthread_mutex_unlock(&s->lock);
    kumo_apiserver_response_fini(&resp);
    return NULL;
}

/* Loop: sends the replies of finished jobs. */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    kumo_kubeapi *s = arg;
    pthread_mutex_lock(&s->lock);
    kubeapi_job *job = s->done_head;
    s->done_head = s->done_tail = NULL;
    pthread_mutex_unlock(&s->lock);
    while (job != NULL) {
        kubeapi_job *next = job->queue_next;
        /* Also when the client went away: evhttp then detached the request from its
         * connection, and sending is what frees it. */
        kubeapi_send(job->req, job->code, job->reply_type, job->out.data, job->out.len);
        job_free(job);
        job = next;
    }
}

/* Loop: a connection is going away; its watches end. */
static void on_connection_close(struct evhttp_connection *evcon, void *arg)
{
    kubeapi_watch_connection_closed(arg, evcon);
}

static void queue_job(kumo_kubeapi *s, struct evhttp_request *req, kubeapi_job *job)
{
    job->req = req;
    pthread_mutex_lock(&s->lock);
    if (s->work_tail != NULL)
        s->work_tail->queue_next = job;
    else
        s->work_head = job;
    s->work_tail = job;
    pthread_cond_signal(&s->work_cond);
    pthread_mutex_unlock(&s->lock);
}

/* A job with copies of the request; NULL (and a 500 sent) when out of memory. */
static kubeapi_job *job_new(struct evhttp_request *req, const char *path, const char *query)
{
    kubeapi_job *job = calloc(1, sizeof(*job));
    if (job == NULL) {
        kubeapi_send_error(req, KUMO_ERROR_NOMEM, "out of memory");
        return NULL;
    }
    kumo_codec_buffer_init(&job->out);
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    job->method = evhttp_request_get_command(req);
    job->path = strdup(path);
    job->query = copy_or_null(query);
    job->content_type = copy_or_null(evhttp_find_header(in, "Content-Type"));
    job->accept = copy_or_null(evhttp_find_header(in, "Accept"));
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    job->body_len = evbuffer_get_length(body);
    job->body = malloc(job->body_len + 1);
    if (job->path == NULL || job->body == NULL) {
        job_free(job);
        kubeapi_send_error(req, KUMO_ERROR_NOMEM, "out of memory");
        return NULL;
    }
    evbuffer_remove(body, job->body, job->body_len);
    job->body[job->body_len] = '\0';
    return job;
}

/* ---- routing (loop) ---- */

static int authorized(const kumo_kubeapi *s, struct evhttp_request *req)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
        return 0;
    const char *given = h + 7;
    size_t len = strlen(s->token);
    return strlen(given) == len && CRYPTO_memcmp(given, s->token, len) == 0;
}

static int find_mount(const kumo_kubeapi *s, const char *path)
{
    int count = __atomic_load_n(&s->mount_count, __ATOMIC_ACQUIRE);
    for (int i = 0; i < count; i++)
        if (strcmp(s->mounts[i].path, path) == 0)
            return i + 1;
    return 0;
}

/* The core/v1 paths kumo serves: namespaces (in use) and events (kumo's recorded Events). */
static int serve_core(kumo_kubeapi *s, struct evhttp_request *req, const char *path,
                      const char *query, const char *accept)
{
    if (strncmp(path, "/api/v1/", 8) != 0)
        return 0;
    size_t len = strlen(path);
    int events = len >= 7 && strcmp(path + len - 7, "/events") == 0;
    if (events && kubeapi_query_true(query, "watch")) {
        kubeapi_target t = {.kind = kumo_object_kind_lookup("Event"), .core = 1};
        if (strncmp(path, "/api/v1/namespaces/", 19) == 0)
            snprintf(t.ns, sizeof(t.ns), "%.*s", (int)strcspn(path + 19, "/"), path + 19);
        kubeapi_watch_start(s, req, &t, query, accept);
        return 1;
    }
    if (events) {
        kubeapi_job *job = job_new(req, path, query);
        if (job != NULL) {
            job->core = KUBEAPI_CORE_EVENTS;
            queue_job(s, req, job);
        }
        return 1;
    }
    if (strncmp(path, "/api/v1/namespaces", 18) == 0 &&
        (path[18] == '\0' || (path[18] == '/' && strchr(path + 19, '/') == NULL))) {
        kubeapi_job *job = job_new(req, path, query);
        if (job != NULL) {
            job->core = KUBEAPI_CORE_NAMESPACES;
            queue_job(s, req, job);
        }
        return 1;
    }
    return 0;
}

/* GET of a mounted path: a job for its handler. */
static void serve_mount(kumo_kubeapi *s, struct evhttp_request *req, int mount, const char *path)
{
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        kubeapi_send_error(req, KUMO_ERROR_METHOD_NOT_ALLOWED, "%s takes GET only", path);
        return;
    }
    kubeapi_job *job = job_new(req, path, NULL);
    if (job != NULL) {
        job->mount = mount;
        queue_job(s, req, job);
    }
}

/* A path under /apis/kumo.dev/v1alpha1: a watch, or a job for the workers. */
static void serve_resource(kumo_kubeapi *s, struct evhttp_request *req, const char *path,
                           const char *query, const char *accept)
{
    kubeapi_target target;
    kumo_diag diag;
    kumo_diag_init(&diag);
    int parsed = kubeapi_target_parse(path, &target, &diag);
    if (parsed <= 0) {
        if (parsed == 0)
            kumo_diag_set(&diag, KUMO_ERROR_NOT_FOUND,
                          "the server could not find the requested resource (%s)", path);
        kubeapi_send_status(req, &diag, NULL, NULL);
        kumo_diag_fini(&diag);
        return;
    }
    if (evhttp_request_get_command(req) == EVHTTP_REQ_GET && target.name[0] == '\0' &&
        kubeapi_query_true(query, "watch")) {
        kubeapi_watch_start(s, req, &target, query, accept);
        return;
    }
    kubeapi_job *job = job_new(req, path, query);
    if (job != NULL) {
        job->target = target;
        queue_job(s, req, job);
    }
}

static void on_request(struct evhttp_request *req, void *arg)
{
    kumo_kubeapi *s = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    if (path == NULL || path[0] == '\0')
        path = "/";
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_connection_close, s);
    int mount = find_mount(s, path);
    if (!(mount > 0 && !s->mounts[mount - 1].auth) && !authorized(s, req)) {
        kubeapi_send_error(req, KUMO_ERROR_UNAUTHORIZED,
                           "Unauthorized: send the bearer token of the kubeconfig kumod wrote "
                           "(<data-dir>/kubeconfig)");
        return;
    }
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t body_len = evbuffer_get_length(body);
    if (body_len > KUMO_APISERVER_MAX_REQUEST_BYTES) {
        evbuffer_drain(body, body_len);
        kubeapi_send_error(req, KUMO_ERROR_TOO_LARGE,
                           "Request entity too large: the body is %zu bytes, the limit is %zu "
                           "(16 MiB)",
                           body_len, (size_t)KUMO_APISERVER_MAX_REQUEST_BYTES);
        return;
    }
    int get = evhttp_request_get_command(req) == EVHTTP_REQ_GET;
    const char *accept = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
    if (mount > 0)
        serve_mount(s, req, mount, path);
    else if (get && kubeapi_discovery_serve(s, req, path, accept))
        return;
    else if (get && serve_core(s, req, path, query, accept))
        return;
    else
        serve_resource(s, req, path, query, accept);
}

/* ---- life ---- */

static struct bufferevent *tls_bevcb(struct event_base *base, void *arg)
{
    kumo_kubeapi *s = arg;
    SSL *ssl = SSL_new(s->ssl);
    if (ssl == NULL)
        return NULL;
    return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    kumo_kubeapi *s = arg;
    event_base_loopbreak(s->base);
}

static void *loop_main(void *arg)
{
    kumo_kubeapi *s = arg;
    event_base_dispatch(s->base);
    return NULL;
}

static kumo_error bind_listener(kumo_kubeapi *s, const char *listen, char *host, size_t size,
                                kumo_diag *diag)
{
    const char *colon = strrchr(listen, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (colon == NULL || colon == listen || (size_t)(colon - listen) >= size || *end != '\0' ||
        port < 0 || port > 65535)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "--http-listen \"%s\" is not HOST:PORT", listen);
    snprintf(host, size, "%.*s", (int)(colon - listen), listen);
    struct evhttp_bound_socket *bound =
        evhttp_bind_socket_with_handle(s->http, host, (unsigned short)port);
    if (bound == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_UNAVAILABLE,
                             "cannot listen on %s for the Kubernetes API (in use? use "
                             "--http-listen to pick another address, \"\" to turn it off)",
                             listen);
    struct sockaddr_storage ss;
    ev_socklen_t len = sizeof(ss);
    evutil_socket_t fd = evhttp_bound_socket_get_fd(bound);
    /* Accepted sockets inherit it: small replies and watch events leave at once instead
     * of waiting for the client's delayed ACK (Nagle). */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return KUMO_ERROR_OK;
}

static kumo_error start_threads(kumo_kubeapi *s, kumo_diag *diag)
{
    s->workers = calloc((size_t)s->worker_count, sizeof(*s->workers));
    if (s->workers == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    for (int i = 0; i < s->worker_count; i++) {
        if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0)
            return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "cannot start worker thread %d", i);
        s->workers_started++;
    }
    if (pthread_create(&s->loop_thread, NULL, loop_main, s) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "cannot start the HTTP loop thread");
    s->loop_started = 1;
    return KUMO_ERROR_OK;
}

kumo_error kumo_kubeapi_start(const kumo_kubeapi_options *options, kumo_kubeapi **out,
                              kumo_diag *diag)
{
    *out = NULL;
    if (options == NULL || options->store == NULL || options->listen == NULL ||
        options->data_dir == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "the Kubernetes API needs a store, a listen address and a data "
                             "directory");
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, (void (*)(void))evthread_use_pthreads);
    kumo_kubeapi *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    s->store = options->store;
    s->bookmark_ms = options->bookmark_ms > 0 ? options->bookmark_ms : 5000;
    s->worker_count = options->workers > 0 ? options->workers : KUMO_KUBEAPI_DEFAULT_WORKERS;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work_cond, NULL);
    kumo_error err = KUMO_ERROR_NOMEM;
    char host[256];
    s->base = event_base_new();
    s->http = s->base ? evhttp_new(s->base) : NULL;
    s->done_event = s->base ? event_new(s->base, -1, 0, on_done, s) : NULL;
    s->stop_event = s->base ? event_new(s->base, -1, 0, on_stop, s) : NULL;
    if (s->http == NULL || s->done_event == NULL || s->stop_event == NULL) {
        kumo_diag_set(diag, err, "cannot create the HTTP server (libevent)");
        goto fail;
    }
    evhttp_set_max_body_size(s->http, KUBEAPI_MAX_READ_BODY);
    /* A body over the limit is read and dropped before the 413, so the client
     * that is still sending gets the reply instead of a reset connection. */
    evhttp_set_flags(s->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_timeout(s->http, KUBEAPI_CONNECTION_TIMEOUT_S);
    evhttp_set_max_headers_size(s->http, KUBEAPI_MAX_HEADERS);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(s->http, on_request, s);
    err = bind_listener(s, options->listen, host, sizeof(host), diag);
    if (err == KUMO_ERROR_OK && !options->plain_http)
        err = kubeapi_certs_load(options->data_dir, host, s->port, &s->ssl, s->token,
                                 sizeof(s->token), diag);
    if (err == KUMO_ERROR_OK && options->plain_http)
        err = kubeapi_certs_load(options->data_dir, host, s->port, NULL, s->token, sizeof(s->token),
                                 diag);
    if (err == KUMO_ERROR_OK && s->ssl != NULL)
        evhttp_set_bevcb(s->http, tls_bevcb, s);
    if (err == KUMO_ERROR_OK)
        err = kubeapi_discovery_build(s, diag);
    if (err == KUMO_ERROR_OK)
        err = kubeapi_openapi_build(s, diag);
    if (err == KUMO_ERROR_OK)
        err = kubeapi_watch_init(s, diag);
    if (err == KUMO_ERROR_OK)
        err = start_threads(s, diag);
    if (err != KUMO_ERROR_OK)
        goto fail;
    KUMO_LOG_INFO("kubeapi", "serving the Kubernetes API", "listen=%s:%d tls=%d workers=%d", host,
                  s->port, s->ssl != NULL, s->worker_count);
    *out = s;
    return KUMO_ERROR_OK;
fail:
    kumo_kubeapi_destroy(s);
    return err;
}

int kumo_kubeapi_port(const kumo_kubeapi *s)
{
    return s->port;
}

kumo_error kumo_kubeapi_mount(kumo_kubeapi *s, const char *path, int auth,
                              kumo_kubeapi_handler handler, void *ctx, kumo_diag *diag)
{
    if (s == NULL || path == NULL || path[0] != '/' || handler == NULL ||
        strlen(path) >= sizeof(s->mounts[0].path))
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "a mount needs an absolute path (under 128 bytes) and a handler");
    if (s->mount_count == KUBEAPI_MAX_MOUNTS)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "at most %d mounts", KUBEAPI_MAX_MOUNTS);
    kubeapi_mount *m = &s->mounts[s->mount_count];
    snprintf(m->path, sizeof(m->path), "%s", path);
    m->auth = auth;
    m->handler = handler;
    m->ctx = ctx;
    __atomic_store_n(&s->mount_count, s->mount_count + 1, __ATOMIC_RELEASE);
    return KUMO_ERROR_OK;
}

static void stop_workers(kumo_kubeapi *s)
{
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_broadcast(&s->work_cond);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->workers_started; i++)
        pthread_join(s->workers[i], NULL);
    s->workers_started = 0;
}

void kumo_kubeapi_destroy(kumo_kubeapi *s)
{
    if (s == NULL)
        return;
    stop_workers(s); /* jobs in flight finish; their replies wait on the done queue */
    if (s->loop_started) {
        event_active(s->stop_event, EV_READ, 0);
        pthread_join(s->loop_thread, NULL);
        s->loop_started = 0;
    }
    on_done(-1, 0, s); /* replies of the last jobs, then the connections go */
    kubeapi_watch_fini(s);
    while (s->work_head != NULL) {
        kubeapi_job *next = s->work_head->queue_next;
        job_free(s->work_head);
        s->work_head = next;
    }
    if (s->http != NULL)
        evhttp_free(s->http);
    if (s->done_event != NULL)
        event_free(s->done_event);
    if (s->stop_event != NULL)
        event_free(s->stop_event);
    if (s->base != NULL)
        event_base_free(s->base);
    SSL_CTX_free(s->ssl);
    free(s->workers);
    kumo_codec_buffer *docs[] = {&s->version_doc,     &s->api_doc,      &s->apis_legacy,
                                 &s->apis_aggregated, &s->group_doc,    &s->group_resources,
                                 &s->core_resources,  &s->openapi_root, &s->openapi_group};
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
        kumo_codec_buffer_fini(docs[i]);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->work_cond);
    free(s);
}
