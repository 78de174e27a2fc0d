/*
 * apply.c - carries out an AgentApply: the complete set of components of one
 * App on this machine. The whole request is checked first (a bad one changes
 * nothing and is answered with the field at fault); then each wanted
 * instance (component, replica) is matched with the one already there:
 *
 *   same spec (the encoded component, not the generation)  keep the process,
 *                                                           take the generation
 *   another spec                                            stop, then start
 *                                                           the new spec once
 *                                                           the process is gone
 *   not wanted any more                                     stop, then forget
 *   new                                                     start
 *
 * An apply without components stops the App's instances and forgets the App
 * when the last one is gone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"
#include "cmd/kumo-agent/internal.h"

/* ---- checks ----------------------------------------------------------------------------- */

/* A name usable as one path element and in a log file name. */
static int safe_name(const char *s)
{
    if (s[0] == '\0' || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strlen(s) > 128)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

/* No ".." element: a relative path stays under the working directory. */
static int stays_below(const char *path)
{
    const char *p = path;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return 1;
}

/* "0644" -> 0644; -1 when not an octal mode. "" -> 0644. */
static int parse_mode(const char *s)
{
    if (s[0] == '\0')
        return 0644;
    if (strlen(s) > 5)
        return -1;
    int mode = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '7')
            return -1;
        mode = mode * 8 + (*p - '0');
    }
    return mode <= 07777 ? mode : -1;
}

int agent_file_mode(const char *text)
{
    return parse_mode(text);
}

#define BAD(...)                                                                                   \
    do {                                                                                           \
        kumo_diag_set(diag, KUMO_ERROR_INVALID, __VA_ARGS__);                                      \
        return -1;                                                                                 \
    } while (0)

static int check_health(const Kumo__V1alpha1__HealthCheck *h, size_t i, kumo_diag *diag)
{
    if (h == NULL)
        return 0;
    switch (h->type) {
    case KUMO__V1ALPHA1__HEALTH_CHECK__TYPE__HTTP:
    case KUMO__V1ALPHA1__HEALTH_CHECK__TYPE__TCP:
        if (h->port <= 0 || h->port > 65535)
            BAD("components[%zu].healthCheck.port: Invalid value: %d: must be 1..65535", i,
                h->port);
        if (h->path[0] != '\0' && (h->path[0] != '/' || strpbrk(h->path, " \r\n")))
            BAD("components[%zu].healthCheck.path: Invalid value: \"%s\": must start with '/' "
                "and hold no blanks",
                i, h->path);
        break;
    case KUMO__V1ALPHA1__HEALTH_CHECK__TYPE__Command:
        if (h->n_command == 0 || h->command[0][0] == '\0')
            BAD("components[%zu].healthCheck.command: Required value", i);
        break;
    default:
        BAD("components[%zu].healthCheck.type: Required value: HTTP, TCP or Command", i);
    }
    if (h->interval_seconds < 0 || h->timeout_seconds < 0 || h->failure_threshold < 0 ||
        h->success_threshold < 0 || h->initial_delay_seconds < 0)
        BAD("components[%zu].healthCheck: Invalid value: intervals and thresholds must be "
            "greater than or equal to 0",
            i);
    return 0;
}

static int check_component(const agent_spec *c, size_t i, const Kumo__V1alpha1__AgentApply *ap,
                           kumo_diag *diag)
{
    if (c->name[0] == '\0')
        BAD("components[%zu].name: Required value", i);
    if (!safe_name(c->name))
        BAD("components[%zu].name: Invalid value: \"%s\": must be letters, digits, '-', '_' or "
            "'.'",
            i, c->name);
    for (size_t j = 0; j < i; j++)
        if (strcmp(ap->components[j]->name, c->name) == 0)
            BAD("components[%zu].name: Duplicate value: \"%s\"", i, c->name);
    if (c->n_command == 0 || c->command[0][0] == '\0')
        BAD("components[%zu].command: Required value", i);
    if (c->replicas_present_case == KUMO__V1ALPHA1__APP_COMPONENT__REPLICAS_PRESENT_REPLICAS &&
        (c->replicas < 0 || c->replicas > AGENT_MAX_REPLICAS))
        BAD("components[%zu].replicas: Invalid value: %d: must be 0..%d", i, c->replicas,
            AGENT_MAX_REPLICAS);
    if (c->artifact && c->artifact->url[0])
        BAD("components[%zu].artifact: Unsupported value: this agent does not fetch artifacts; "
            "use files",
            i);
    for (size_t j = 0; j < c->n_files; j++) {
        const Kumo__V1alpha1__AppFile *f = c->files[j];
        if (f->path[0] == '\0')
            BAD("components[%zu].files[%zu].path: Required value", i, j);
        if (f->path[0] != '/' && !stays_below(f->path))
            BAD("components[%zu].files[%zu].path: Invalid value: \"%s\": a relative path may "
                "not leave the working directory",
                i, j, f->path);
        if (parse_mode(f->mode) < 0)
            BAD("components[%zu].files[%zu].mode: Invalid value: \"%s\": must be an octal mode "
                "like \"0644\"",
                i, j, f->mode);
    }
    for (size_t j = 0; j < c->n_env; j++)
        if (c->env[j]->name[0] == '\0' || strchr(c->env[j]->name, '='))
            BAD("components[%zu].env[%zu].name: Invalid value: \"%s\": must be non-empty, "
                "without '='",
                i, j, c->env[j]->name);
    if (c->working_dir[0] && !stays_below(c->working_dir))
        BAD("components[%zu].workingDir: Invalid value: \"%s\": may not hold \"..\"", i,
            c->working_dir);
    return check_health(c->health_check, i, diag);
}

static int check_apply(const Kumo__V1alpha1__AgentApply *ap, kumo_diag *diag)
{
    const char *slash = strchr(ap->app, '/');
    if (ap->app[0] == '\0')
        BAD("app: Required value");
    if (slash == NULL || strchr(slash + 1, '/'))
        BAD("app: Invalid value: \"%s\": must be \"<namespace>/<name>\"", ap->app);
    char ns[256];
    snprintf(ns, sizeof(ns), "%.*s", (int)(slash - ap->app), ap->app);
    if (!safe_name(ns) || !safe_name(slash + 1))
        BAD("app: Invalid value: \"%s\": must be \"<namespace>/<name>\" of letters, digits, "
            "'-', '_' or '.'",
            ap->app);
    for (size_t i = 0; i < ap->n_components; i++)
        if (check_component(ap->components[i], i, ap, diag) != 0)
            return -1;
    return 0;
}

/* ---- apps and instances ----------------------------------------------------------------- */

static int replicas_of(const agent_spec *c)
{
    return c->replicas_present_case == KUMO__V1ALPHA1__APP_COMPONENT__REPLICAS_PRESENT_REPLICAS
               ? c->replicas
               : 1;
}

static agent_app *app_find(agent *a, const char *name)
{
    for (agent_app *app = a->apps; app; app = app->next)
        if (strcmp(app->name, name) == 0)
            return app;
    return NULL;
}

static void app_free(agent_app *app)
{
    free(app->name);
    free(app->uid);
    free(app);
}

/* Drops an app that was told to go once its last instance is gone. */
static void app_settle(agent *a, agent_app *app)
{
    if (!app->forget || app->instances != NULL)
        return;
    for (agent_app **p = &a->apps; *p; p = &(*p)->next)
        if (*p == app) {
            *p = app->next;
            break;
        }
    KUMO_LOG_INFO(AGENT_LOG, "app removed", "app=%s", app->name);
    app_free(app);
    agent_changed(a);
}

static void instance_free(agent_instance *in)
{
    agent_health_abort(in);
    kumo_codec_message_free((ProtobufCMessage *)in->spec);
    kumo_codec_message_free((ProtobufCMessage *)in->next_spec);
    free(in->spec_bytes);
    free(in->next_bytes);
    free(in->workdir);
    free(in->log_path);
    agent_strv_free(in->env);
    free(in);
}

void agent_instance_forget(agent *a, agent_instance *in)
{
    agent_app *app = in->app;
    for (agent_instance **p = &app->instances; *p; p = &(*p)->next)
        if (*p == in) {
            *p = in->next;
            break;
        }
    instance_free(in);
    agent_changed(a);
    app_settle(a, app);
}

void agent_apps_free(agent *a)
{
    while (a->apps) {
        agent_app *app = a->apps;
        a->apps = app->next;
        while (app->instances) {
            agent_instance *in = app->instances;
            app->instances = in->next;
            instance_free(in);
        }
        app_free(app);
    }
}

/* The component's spec and its wire encoding, both owned by the caller. */
static int spec_copy(const agent_spec *c, agent_spec **spec, uint8_t **bytes, size_t *len)
{
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    if (kumo_codec_protobuf_encode(&c->base, &buf) != KUMO_ERROR_OK) {
        kumo_codec_buffer_fini(&buf);
        return -1;
    }
    *spec = (agent_spec *)kumo_codec_message_clone(&c->base);
    if (*spec == NULL) {
        kumo_codec_buffer_fini(&buf);
        return -1;
    }
    *bytes = (uint8_t *)kumo_codec_buffer_take(&buf, len);
    return 0;
}

static int same_spec(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static agent_instance *instance_find(agent_app *app, const char *component, int replica)
{
    for (agent_instance *in = app->instances; in; in = in->next)
        if (in->replica == replica && strcmp(in->spec->name, component) == 0)
            return in;
    return NULL;
}

/* Brings one (component, replica) to the wanted spec. -1 when out of memory. */
static int apply_instance(agent *a, agent_app *app, const agent_spec *c, int replica,
                          int64_t generation, const uint8_t *bytes, size_t len)
{
    agent_instance *in = instance_find(app, c->name, replica);
    if (in && !in->removed && in->next_spec == NULL &&
        same_spec(in->spec_bytes, in->spec_len, bytes, len)) {
        if (in->generation != generation)
            agent_changed(a);
        in->generation = generation;
        return 0;
    }
    if (in && in->next_spec && same_spec(in->next_bytes, in->next_len, bytes, len)) {
        in->next_generation = generation;
        in->removed = 0;
        return 0;
    }
    agent_spec *spec = NULL;
    uint8_t *copy = NULL;
    size_t copy_len = 0;
    if (spec_copy(c, &spec, &copy, &copy_len) != 0)
        return -1;
    if (in == NULL) {
        in = calloc(1, sizeof(*in));
        if (in == NULL) {
            kumo_codec_message_free(&spec->base);
            free(copy);
            return -1;
        }
        in->app = app;
        in->replica = replica;
        in->spec = spec;
        in->spec_bytes = copy;
        in->spec_len = copy_len;
        in->generation = generation;
        in->health.fd = -1;
        in->backoff_ms = AGENT_BACKOFF_FIRST_MS;
        in->phase = KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Pending;
        agent_instance **tail = &app->instances;
        while (*tail)
            tail = &(*tail)->next;
        *tail = in;
        agent_instance_start(a, in);
        return 0;
    }
    /* Changed (or coming back while it stops): the new spec starts once the process is gone. */
    kumo_codec_message_free((ProtobufCMessage *)in->next_spec);
    free(in->next_bytes);
    in->next_spec = spec;
    in->next_bytes = copy;
    in->next_len = copy_len;
    in->next_generation = generation;
    in->removed = 0;
    KUMO_LOG_INFO(AGENT_LOG, "instance changed", "app=%s component=%s replica=%d", app->name,
                  c->name, replica);
    agent_instance_stop(a, in);
    return 0;
}

static int wanted(const Kumo__V1alpha1__AgentApply *ap, const agent_instance *in)
{
    for (size_t i = 0; i < ap->n_components; i++)
        if (strcmp(ap->components[i]->name, in->spec->name) == 0)
            return in->replica < replicas_of(ap->components[i]);
    return 0;
}

/* The app of an apply in *out, added when new; *out NULL when the apply is for an
 * unknown app and empty (nothing runs, nothing to stop). -1 when out of memory. */
static int app_for(agent *a, const Kumo__V1alpha1__AgentApply *ap, agent_app **out, kumo_diag *diag)
{
    agent_app *app = app_find(a, ap->app);
    *out = NULL;
    if (app == NULL) {
        if (ap->n_components == 0)
            return 0;
        app = calloc(1, sizeof(*app));
        if (app == NULL || (app->name = strdup(ap->app)) == NULL) {
            free(app);
            kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
            return -1;
        }
        app->next = a->apps;
        a->apps = app;
        KUMO_LOG_INFO(AGENT_LOG, "app added", "app=%s", app->name);
    }
    char *uid = strdup(ap->app_uid);
    if (uid) {
        free(app->uid);
        app->uid = uid;
    }
    app->generation = ap->generation;
    app->forget = ap->n_components == 0;
    *out = app;
    return 0;
}

/* Stops the instances the apply no longer wants (which may free them, and the app). */
static void stop_unwanted(agent *a, agent_app *app, const Kumo__V1alpha1__AgentApply *ap)
{
    for (agent_instance *in = app->instances, *next; in; in = next) {
        next = in->next;
        if (!wanted(ap, in) && !in->removed) {
            in->removed = 1;
            agent_instance_stop(a, in);
        }
    }
}

/* Starts or updates every replica of every component; 0, or -1 when out of memory. */
static int apply_components(agent *a, agent_app *app, Kumo__V1alpha1__AgentApply *ap)
{
    int failed = 0;
    for (size_t i = 0; i < ap->n_components && !failed; i++) {
        agent_spec *c = ap->components[i];
        /* The replica count is not part of an instance's spec: scaling keeps processes. */
        int replicas = replicas_of(c);
        c->replicas_present_case = KUMO__V1ALPHA1__APP_COMPONENT__REPLICAS_PRESENT__NOT_SET;
        c->replicas = 0;
        kumo_codec_buffer buf;
        kumo_codec_buffer_init(&buf);
        if (kumo_codec_protobuf_encode(&c->base, &buf) != KUMO_ERROR_OK) {
            failed = 1;
        } else {
            for (int r = 0; r < replicas && !failed; r++)
                failed = apply_instance(a, app, c, r, ap->generation, (const uint8_t *)buf.data,
                                        buf.len) != 0;
        }
        kumo_codec_buffer_fini(&buf);
    }
    return failed ? -1 : 0;
}

int agent_apply(agent *a, const char *body, size_t len, kumo_diag *diag)
{
    ProtobufCMessage *m = NULL;
    /* Lenient: an older agent ignores fields a newer kumod adds. */
    kumo_codec_decode_options o = {.lenient = 1, .max_bytes = AGENT_APPLY_MAX_BYTES};
    if (kumo_codec_json_decode(&kumo__v1alpha1__agent_apply__descriptor, body ? body : "", len, &o,
                               &m, diag) != KUMO_ERROR_OK)
        return -1;
    Kumo__V1alpha1__AgentApply *ap = (Kumo__V1alpha1__AgentApply *)m;
    agent_app *app = NULL;
    int result = check_apply(ap, diag);
    if (result == 0)
        result = app_for(a, ap, &app, diag);
    if (result != 0 || app == NULL) { /* invalid, out of memory, or nothing to do */
        kumo_codec_message_free(m);
        return result;
    }
    KUMO_LOG_INFO(AGENT_LOG, "apply", "app=%s generation=%lld components=%zu", ap->app,
                  (long long)ap->generation, ap->n_components);
    stop_unwanted(a, app, ap);
    /* app may be gone now (an empty apply for an app with no process). */
    if (ap->n_components > 0 && apply_components(a, app, ap) != 0)
        result = -1;
    kumo_codec_message_free(m);
    agent_changed(a);
    if (result != 0)
        kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    return result;
}
