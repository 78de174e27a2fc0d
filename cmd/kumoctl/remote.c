/*
 * remote.c - the parts every remote command shares: connection flags,
 * connecting, naming kinds and objects, durations, and reporting a failed
 * call as a sentence that says what to do.
 */
#include "cmd/kumoctl/remote.h"

#include <errno.h>
#include <nats/nats.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void kumoctl_remote_init(kumoctl_remote *remote, const char *command)
{
    memset(remote, 0, sizeof(*remote));
    remote->command = command;
    remote->timeout_ms = KUMOCTL_REQUEST_TIMEOUT_MS;
}

void kumoctl_remote_fini(kumoctl_remote *remote)
{
    if (remote->client != NULL) {
        kumo_client_destroy(remote->client);
        remote->client = NULL;
        nats_Close();
    }
}

int kumoctl_parse_duration(const char *text, int64_t *ms_out)
{
    static const struct {
        const char *suffix;
        double ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"", 1000}};
    if (text == NULL || text[0] < '0' || text[0] > '9')
        return -1;
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno != 0 || end == text || value < 0)
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) != 0)
            continue;
        double ms = value * units[i].ms;
        if (ms > 1e12)
            return -1;
        *ms_out = (int64_t)ms;
        return 0;
    }
    return -1;
}

int kumoctl_remote_flag(kumoctl_remote *remote, int id, const char *value)
{
    switch (id) {
    case KUMOCTL_FLAG_SERVER:
        remote->server = value;
        return KUMOCTL_INPUT_TAKEN;
    case KUMOCTL_FLAG_NAMESPACE:
        if (!kumo_object_namespace_is_valid(value)) {
            kumoctl_usage_error(remote->command,
                                "namespace \"%s\" is not valid: lowercase letters, digits and "
                                "'-', at most 63, starting and ending with a letter or digit",
                                value);
            return KUMOCTL_INPUT_ERROR;
        }
        remote->ns = value;
        return KUMOCTL_INPUT_TAKEN;
    case KUMOCTL_FLAG_REQUEST_TIMEOUT: {
        int64_t ms;
        if (kumoctl_parse_duration(value, &ms) != 0 || ms < 1 || ms > 3600000) {
            kumoctl_usage_error(remote->command,
                                "--request-timeout \"%s\" is not a duration; write e.g. 10s, "
                                "500ms or 2m",
                                value);
            return KUMOCTL_INPUT_ERROR;
        }
        remote->timeout_ms = (int)ms;
        return KUMOCTL_INPUT_TAKEN;
    }
    default:
        return KUMOCTL_INPUT_NOT_MINE;
    }
}

int kumoctl_remote_connect(kumoctl_remote *remote)
{
    kumo_client_options options = {
        .url = remote->server,
        .timeout_ms = remote->timeout_ms,
        .name = "kumoctl",
    };
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error e = kumo_client_connect(&options, &remote->client, &diag);
    if (e != KUMO_ERROR_OK)
        kumoctl_error("%s", diag.message[0] ? diag.message : kumo_error_text(e));
    kumo_diag_fini(&diag);
    if (e != KUMO_ERROR_OK)
        nats_Close();
    return e == KUMO_ERROR_OK ? KUMOCTL_EXIT_OK : KUMOCTL_EXIT_FAILED;
}

const char *kumoctl_remote_namespace(const kumoctl_remote *remote)
{
    return remote->ns ? remote->ns : "default";
}

static const char *hint(kumo_error code)
{
    switch (code) {
    case KUMO_ERROR_CONFLICT:
        return "someone changed it meanwhile: read it again and retry";
    case KUMO_ERROR_TIMEOUT:
        return "kumod may be overloaded or restarting: retry, or raise --request-timeout";
    case KUMO_ERROR_FORBIDDEN:
    case KUMO_ERROR_UNAUTHORIZED:
        return "check the NATS credentials and subject permissions of this client";
    case KUMO_ERROR_TOO_LARGE:
        return "make the object smaller";
    default:
        return NULL;
    }
}

int kumoctl_remote_fail(const kumoctl_remote *remote, const kumo_diag *diag, const char *fmt, ...)
{
    (void)remote;
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    const char *message = diag->message[0] ? diag->message : kumo_error_text(diag->code);
    fprintf(stderr, "error: %s: %s\n", what, message);
    /* The Status message lists the causes already when they fit; print the rest. */
    for (size_t i = 0; i < diag->cause_count; i++) {
        char cause[1200];
        kumo_diag_format_cause(&diag->causes[i], cause, sizeof(cause));
        if (strstr(message, diag->causes[i].field ? diag->causes[i].field : "") == NULL ||
            diag->causes[i].field == NULL)
            fprintf(stderr, "  %s\n", cause);
    }
    const char *h = hint(diag->code);
    if (h)
        fprintf(stderr, "hint: %s\n", h);
    return KUMOCTL_EXIT_FAILED;
}

void kumoctl_object_ref(const kumo_object_kind *kind, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s.%s/%s", kind->singular, KUMO_API_GROUP, name);
}

int kumoctl_kinds_parse(const char *text, const kumo_object_kind **kinds, int max)
{
    int count = 0;
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, ",");
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)(len < sizeof(name) ? len : sizeof(name) - 1), p);
        /* "infras.kumo.dev" and "infra.kumo.dev" name the same kind. */
        char *dot = strchr(name, '.');
        if (dot && strcasecmp(dot + 1, KUMO_API_GROUP) == 0)
            *dot = '\0';
        if (strcmp(name, "all") == 0) { /* every kind but Event (as kubectl's "all") */
            for (size_t i = 0; i < kumo_object_kind_count() && count < max; i++)
                if (strcmp(kumo_object_kind_at(i)->kind, "Event") != 0)
                    kinds[count++] = kumo_object_kind_at(i);
            p += len;
            if (*p == ',')
                p++;
            continue;
        }
        const kumo_object_kind *kind = kumo_object_kind_lookup(name);
        if (kind == NULL || name[0] == '\0') {
            kumoctl_error("unknown resource type \"%s\"; see 'kumoctl api-resources' for the "
                          "kinds and their short names",
                          name);
            return -1;
        }
        if (count == max) {
            kumoctl_error("too many resource types in \"%s\" (at most %d)", text, max);
            return -1;
        }
        int seen = 0;
        for (int i = 0; i < count; i++)
            seen |= kinds[i] == kind;
        if (!seen)
            kinds[count++] = kind;
        p += len;
        if (*p == ',')
            p++;
    }
    if (count == 0)
        kumoctl_error("no resource type given; e.g. infras, machines or connections");
    return count == 0 ? -1 : count;
}

int kumoctl_targets_add(kumoctl_targets *t, const char *command, const char *arg)
{
    const char *slash = strchr(arg, '/');
    if (slash != NULL) {
        char kind_text[64];
        snprintf(kind_text, sizeof(kind_text), "%.*s", (int)(slash - arg), arg);
        const kumo_object_kind *kind;
        if (strchr(kind_text, ',') != NULL)
            return kumoctl_usage_error(command, "\"%s\": write one kind before the /", arg);
        if (kumoctl_kinds_parse(kind_text, &kind, 1) != 1)
            return KUMOCTL_EXIT_FAILED;
        if (t->kind_count > 0 && t->name_count == 0)
            return kumoctl_usage_error(command,
                                       "\"%s\": give either KIND NAME... or KIND/NAME..., not "
                                       "both",
                                       arg);
        if (t->name_count == (int)(sizeof(t->names) / sizeof(t->names[0])))
            return kumoctl_usage_error(command, "too many names");
        int known = 0;
        for (int i = 0; i < t->kind_count; i++)
            known |= t->kinds[i] == kind;
        if (!known && t->kind_count < (int)(sizeof(t->kinds) / sizeof(t->kinds[0])))
            t->kinds[t->kind_count++] = kind;
        t->name_kinds[t->name_count] = kind;
        t->names[t->name_count++] = slash + 1;
        if (slash[1] == '\0')
            return kumoctl_usage_error(command, "\"%s\" has no name after the /", arg);
        return KUMOCTL_EXIT_OK;
    }
    if (t->kind_count == 0) {
        int n = kumoctl_kinds_parse(arg, t->kinds, (int)(sizeof(t->kinds) / sizeof(t->kinds[0])));
        if (n < 0)
            return KUMOCTL_EXIT_FAILED;
        t->kind_count = n;
        return KUMOCTL_EXIT_OK;
    }
    if (t->kind_count > 1)
        return kumoctl_usage_error(command,
                                   "a name (\"%s\") needs exactly one kind; write KIND NAME or "
                                   "KIND/NAME",
                                   arg);
    if (t->name_count == (int)(sizeof(t->names) / sizeof(t->names[0])))
        return kumoctl_usage_error(command, "too many names");
    t->name_kinds[t->name_count] = t->kinds[0];
    t->names[t->name_count++] = arg;
    return KUMOCTL_EXIT_OK;
}
