/*
 * logs.c - an instance's output for `kumoctl logs`: the agent answers
 * AgentLogsRequest (on <prefix>.<uid>.logs) with a piece of the instance's
 * log file, and where to continue (-f asks again from there).
 *
 * Where to start, when the request names no offset: the last tail_lines
 * lines, and/or what was written in the last since_seconds. The instance
 * writes to its log directly (the agent never sees the bytes), so "since"
 * comes from samples of the log's size, taken at most once a second while it
 * grows (a ring of AGENT_LOG_MARKS): exact to about a second, and from the
 * start of the log when the time asked is older than the oldest sample.
 * A log that was cut (process.c starts it over past 1 MiB) is read again
 * from its start, with started_over set.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apis/codec/codec.h"
#include "cmd/kumo-agent/internal.h"

#define LOGS_REPLY_MAX_BYTES (1L << 20)

static int64_t file_size(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

void agent_logs_sample(agent *a, int64_t now)
{
    for (agent_app *app = a->apps; app; app = app->next)
        for (agent_instance *in = app->instances; in; in = in->next) {
            if (now < in->log_mark_due)
                continue;
            in->log_mark_due = now + AGENT_LOG_MARK_EVERY_MS;
            int64_t size = file_size(in->log_path);
            int last = (in->log_mark_next + AGENT_LOG_MARKS - 1) % AGENT_LOG_MARKS;
            if (size < 0 || (in->log_mark_count > 0 && in->log_marks[last].size == size))
                continue;
            if (in->log_mark_count > 0 && size < in->log_marks[last].size)
                in->log_mark_count = 0; /* started over: older samples mean nothing now */
            in->log_marks[in->log_mark_next].wall_ms = agent_wall_ns() / 1000000;
            in->log_marks[in->log_mark_next].size = size;
            in->log_mark_next = (in->log_mark_next + 1) % AGENT_LOG_MARKS;
            if (in->log_mark_count < AGENT_LOG_MARKS)
                in->log_mark_count++;
        }
}

/* The offset from which the log holds what was written since `since_ms` (wall clock). */
static int64_t offset_since(const agent_instance *in, int64_t since_ms)
{
    int64_t offset = 0;
    for (int i = 0; i < in->log_mark_count; i++) {
        int k = (in->log_mark_next + AGENT_LOG_MARKS - in->log_mark_count + i) % AGENT_LOG_MARKS;
        if (in->log_marks[k].wall_ms <= since_ms)
            offset = in->log_marks[k].size; /* written after this sample */
    }
    return offset;
}

/* The offset of the last `lines` lines of the file (0: all of it). */
static int64_t offset_tail(int fd, int64_t size, int lines)
{
    char buf[4096];
    int64_t pos = size;
    int seen = 0;
    while (pos > 0) {
        size_t n = pos < (int64_t)sizeof(buf) ? (size_t)pos : sizeof(buf);
        if (pread(fd, buf, n, pos - (int64_t)n) != (ssize_t)n)
            return 0;
        for (size_t i = n; i > 0; i--) {
            int64_t at = pos - (int64_t)n + (int64_t)i - 1;
            /* a newline ending the file closes the last line; it does not start one */
            if (buf[i - 1] == '\n' && at != size - 1 && ++seen == lines)
                return at + 1;
        }
        pos -= (int64_t)n;
    }
    return 0;
}

/* The instance the request names; diag says why none. */
static agent_instance *find_instance(agent *a, const Kumo__V1alpha1__AgentLogsRequest *r,
                                     kumo_diag *diag)
{
    agent_app *app = a->apps;
    while (app && strcmp(app->name, r->app) != 0)
        app = app->next;
    if (app == NULL) {
        kumo_diag_set(diag, KUMO_ERROR_NOT_FOUND, "App %s has no instance on this machine", r->app);
        return NULL;
    }
    agent_instance *found = NULL;
    char components[512] = "";
    size_t len = 0;
    int several = 0;
    for (agent_instance *in = app->instances; in; in = in->next) {
        const char *name = in->spec ? in->spec->name : "";
        if (!strstr(components, name) && len < sizeof(components))
            len += (size_t)snprintf(components + len, sizeof(components) - len, "%s%s",
                                    len ? ", " : "", name);
        if (r->component[0] == '\0' && found && strcmp(found->spec->name, name) != 0)
            several = 1;
        if ((r->component[0] == '\0' || strcmp(r->component, name) == 0) &&
            in->replica == r->replica && in->spec)
            found = found ? found : in;
    }
    if (several) {
        kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                      "App %s has several components here (%s): say which with -c", r->app,
                      components);
        return NULL;
    }
    if (found == NULL)
        kumo_diag_set(diag, KUMO_ERROR_NOT_FOUND,
                      "App %s has no %s%s replica %d on this machine (components: %s)", r->app,
                      r->component[0] ? "component " : "instance", r->component, r->replica,
                      components);
    return found;
}

/* Reads the piece of the log the request asks for into reply. */
static void read_log(const agent_instance *in, const Kumo__V1alpha1__AgentLogsRequest *r,
                     Kumo__V1alpha1__AgentLogs *reply, kumo_diag *diag)
{
    int fd = open(in->log_path, O_RDONLY | O_CLOEXEC);
    int64_t end = fd >= 0 ? file_size(in->log_path) : 0, from = 0;
    if (fd < 0 && errno != ENOENT) {
        kumo_diag_set(diag, KUMO_ERROR_IO, "cannot read the log %s: %s", in->log_path,
                      strerror(errno));
        return;
    }
    if (r->offset_present_case == KUMO__V1ALPHA1__AGENT_LOGS_REQUEST__OFFSET_PRESENT_OFFSET) {
        from = r->offset;
        if (from > end) { /* cut since: everything there is now is new */
            from = 0;
            reply->started_over = 1;
        }
    } else {
        if (r->since_seconds > 0)
            from = offset_since(in, agent_wall_ns() / 1000000 - r->since_seconds * 1000);
        if (r->tail_lines > 0 && fd >= 0) {
            int64_t tail = offset_tail(fd, end, r->tail_lines);
            from = tail > from ? tail : from;
        }
    }
    int64_t limit = r->max_bytes > 0 && r->max_bytes < LOGS_REPLY_MAX_BYTES ? r->max_bytes
                                                                            : LOGS_REPLY_MAX_BYTES;
    int64_t n = end - from > limit ? limit : end - from;
    reply->next_offset = from;
    if (fd >= 0 && n > 0 && (reply->data.data = malloc((size_t)n)) != NULL) {
        ssize_t got = pread(fd, reply->data.data, (size_t)n, from);
        reply->data.len = got > 0 ? (size_t)got : 0;
        reply->next_offset = from + (int64_t)reply->data.len;
    }
    if (fd >= 0)
        close(fd);
    reply->ok = 1;
}

char *agent_logs_reply(agent *a, const char *body, size_t len, size_t *out_len)
{
    Kumo__V1alpha1__AgentLogs reply = KUMO__V1ALPHA1__AGENT_LOGS__INIT;
    ProtobufCMessage *request = NULL;
    kumo_diag diag, why; /* why: the reply's error ("" when none) */
    kumo_diag_init(&diag);
    kumo_diag_init(&why);
    if (kumo_codec_json_decode(&kumo__v1alpha1__agent_logs_request__descriptor, body, len, NULL,
                               &request, &diag) != KUMO_ERROR_OK) {
        kumo_diag_set(&why, diag.code, "logs request: %s", diag.message);
    } else {
        const Kumo__V1alpha1__AgentLogsRequest *r =
            (const Kumo__V1alpha1__AgentLogsRequest *)request;
        agent_instance *in = find_instance(a, r, &why);
        if (in != NULL) {
            reply.component = in->spec->name;
            read_log(in, r, &reply, &why);
        }
    }
    reply.error = why.message;
    kumo_codec_buffer out;
    kumo_codec_buffer_init(&out);
    kumo_diag_fini(&diag);
    char *json = NULL;
    if (kumo_codec_json_encode(&reply.base, NULL, &out, &diag) == KUMO_ERROR_OK)
        json = kumo_codec_buffer_take(&out, out_len);
    kumo_codec_buffer_fini(&out);
    kumo_diag_fini(&diag);
    kumo_diag_fini(&why);
    free(reply.data.data);
    kumo_codec_message_free(request);
    return json;
}
