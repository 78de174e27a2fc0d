/*
 * wait.c - `kumoctl wait`: block until objects have a condition or are gone,
 * or a timeout passes. Also the waiting behind `kumoctl delete`.
 *
 * One get, then a watch of that one name from the object's revision (the
 * client library makes sure no change between the two is missed); the
 * watch's callback checks each new state. A condition counts only once the
 * status (and the condition) report the object's current generation.
 */
#include "cmd/kumoctl/remote.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char kumoctl_wait_help[] =
    "Wait until objects have a condition, or are deleted.\n"
    "\n"
    "Usage:\n"
    "  kumoctl wait KIND NAME [NAME...] --for=condition=TYPE[=STATUS] [flags]\n"
    "  kumoctl wait KIND/NAME [KIND/NAME...] --for=delete [flags]\n"
    "\n"
    "Flags:\n"
    "      --for WHAT             condition=Ready (status True), condition=Ready=False,\n"
    "                             or delete\n"
    "      --timeout D            give up on an object after D (default 30s; e.g. 90s, "
    "5m)\n" KUMOCTL_REMOTE_FLAGS_HELP "\n"
    "Examples:\n"
    "  kumoctl wait infra hello --for=condition=Ready --timeout=5m\n"
    "  kumoctl wait conn/aws-use1 --for=condition=Ready\n"
    "  kumoctl wait machine/hello-front-0 --for=delete\n"
    "\n"
    "Output: \"infra.kumo.dev/hello condition met\" (or \"deleted\") per object.\n"
    "Exit status: 0 every object got there; 1 timed out, an object does not exist\n"
    "(with condition=), or kumod could not be reached; 2 usage error.\n";

typedef struct wait_state {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    const char *condition;   /* NULL: waiting for deletion */
    const char *want_status; /* "True" */
    int done;
    int deleted;
    char last[600]; /* what the condition said last, for the timeout message */
} wait_state;

/* status.observedGeneration, or -1 when the kind's status has none. */
static int64_t observed_generation(const ProtobufCMessage *object)
{
    const ProtobufCMessage *status = kumo_object_status(object);
    const ProtobufCFieldDescriptor *f = status ? protobuf_c_message_descriptor_get_field_by_name(
                                                     status->descriptor, "observed_generation")
                                               : NULL;
    if (status == NULL)
        return 0;
    return f && f->type == PROTOBUF_C_TYPE_INT64
               ? *(const int64_t *)((const char *)status + f->offset)
               : -1;
}

/*
 * 1 when `object` has the condition with the wanted status, computed for its current
 * generation (like kubectl: the condition's observedGeneration, else the status's, must
 * have caught up with metadata.generation, so a wait right after an apply never accepts
 * the previous spec's status); notes what it has.
 */
static int condition_holds(wait_state *s, const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__Condition *c = kumo_object_condition_get(object, s->condition);
    if (c == NULL) {
        snprintf(s->last, sizeof(s->last), "it has no %s condition yet", s->condition);
        return 0;
    }
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
    int64_t generation = m ? m->generation : 0;
    int64_t observed =
        c->observed_generation > 0 ? c->observed_generation : observed_generation(object);
    if (generation > 0 && observed >= 0 && observed < generation) {
        snprintf(s->last, sizeof(s->last),
                 "%s was computed for generation %lld; the spec is at generation %lld",
                 s->condition, (long long)observed, (long long)generation);
        return 0;
    }
    snprintf(s->last, sizeof(s->last), "%s is %s%s%s%s%s", s->condition, c->status,
             c->reason[0] ? ": " : "", c->reason, c->message[0] ? ": " : "", c->message);
    return strcasecmp(c->status, s->want_status) == 0;
}

static void on_change(void *context, kumo_client_event_type type, int64_t revision,
                      const ProtobufCMessage *object)
{
    (void)revision;
    wait_state *s = context;
    pthread_mutex_lock(&s->lock);
    if (type == KUMO_CLIENT_EVENT_DELETED) {
        s->deleted = 1;
        s->done = 1;
    } else if (s->condition != NULL && condition_holds(s, object)) {
        s->done = 1;
    } else if (s->condition == NULL) {
        const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
        snprintf(s->last, sizeof(s->last), "it still exists%s",
                 m && m->n_finalizers ? "; its finalizers remain" : "");
    }
    if (s->done)
        pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void deadline_after(int64_t ms, struct timespec *out)
{
    clock_gettime(CLOCK_REALTIME, out);
    out->tv_sec += (time_t)(ms / 1000);
    out->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (out->tv_nsec >= 1000000000L) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000L;
    }
}

int kumoctl_wait_for(kumoctl_remote *remote, const kumo_object_kind *kind, const char *ns,
                     const char *name, const char *condition, const char *want_status,
                     int64_t timeout_ms, int report)
{
    char ref[512];
    kumoctl_object_ref(kind, name, ref, sizeof(ref));
    wait_state s;
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.cond, NULL);
    s.condition = condition;
    s.want_status = want_status ? want_status : "True";
    snprintf(s.last, sizeof(s.last), "it still exists");
    kumo_diag diag;
    kumo_diag_init(&diag);
    ProtobufCMessage *object = NULL;
    kumo_client_watch *w = NULL;
    int status = KUMOCTL_EXIT_OK;
    kumo_error e = kumo_client_get(remote->client, kind, ns, name, &object, &diag);
    if (e == KUMO_ERROR_NOT_FOUND && condition == NULL) {
        s.done = s.deleted = 1;
    } else if (e == KUMO_ERROR_NOT_FOUND) {
        status = kumoctl_error("%s not found in namespace \"%s\"; nothing to wait for (list what "
                               "exists with: kumoctl get %s -n %s)",
                               ref, ns, kind->plural, ns);
    } else if (e != KUMO_ERROR_OK) {
        status = kumoctl_remote_fail(remote, &diag, "getting %s", ref);
    } else if (condition != NULL && condition_holds(&s, object)) {
        s.done = 1;
    } else {
        const Kumo__V1alpha1__ObjectMeta *held = kumo_object_meta(object);
        if (condition == NULL && held && held->n_finalizers > 0) {
            size_t len =
                (size_t)snprintf(s.last, sizeof(s.last), "it still exists; its finalizers remain:");
            for (size_t i = 0; i < held->n_finalizers && len < sizeof(s.last); i++)
                len += (size_t)snprintf(s.last + len, sizeof(s.last) - len, " %s",
                                        held->finalizers[i]);
        }
        char fields[300];
        snprintf(fields, sizeof(fields), "metadata.name=%s", name);
        const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
        kumo_client_watch_options wo = {NULL, fields, strtoll(m->resource_version, NULL, 10)};
        if (kumo_client_watch_start(remote->client, kind, ns, &wo, on_change, &s, &w, &diag) !=
            KUMO_ERROR_OK)
            status = kumoctl_remote_fail(remote, &diag, "watching %s", ref);
    }
    if (w != NULL) {
        struct timespec until;
        deadline_after(timeout_ms > 0 ? timeout_ms : (int64_t)1 << 40, &until);
        pthread_mutex_lock(&s.lock);
        while (!s.done)
            if (pthread_cond_timedwait(&s.cond, &s.lock, &until) == ETIMEDOUT)
                break;
        pthread_mutex_unlock(&s.lock);
        kumo_client_watch_stop(w);
    }
    if (status == KUMOCTL_EXIT_OK) {
        if (s.done && condition != NULL && s.deleted)
            status = kumoctl_error("%s was deleted while waiting for %s=%s", ref, condition,
                                   s.want_status);
        else if (s.done && report)
            printf("%s %s\n", ref, condition ? "condition met" : "deleted");
        else if (!s.done && condition)
            status =
                kumoctl_error("timed out after %.1fs waiting for %s to have %s=%s: %s",
                              (double)timeout_ms / 1000, ref, condition, s.want_status, s.last);
        else if (!s.done)
            status = kumoctl_error("timed out after %.1fs waiting for %s to be deleted: %s",
                                   (double)timeout_ms / 1000, ref, s.last);
        fflush(stdout);
    }
    kumo_object_destroy(object);
    kumo_diag_fini(&diag);
    pthread_cond_destroy(&s.cond);
    pthread_mutex_destroy(&s.lock);
    return status;
}

int kumoctl_wait_run(int argc, char **argv)
{
    static const kumoctl_flag flags[] = {
        KUMOCTL_REMOTE_FLAGS,
        {"for", 0, 1, KUMOCTL_FLAG_FOR, "condition=TYPE[=STATUS] or delete"},
        {"timeout", 0, 1, KUMOCTL_FLAG_TIMEOUT, "a duration such as 30s"},
        {"help", 'h', 0, KUMOCTL_FLAG_HELP, NULL},
    };
    kumoctl_remote remote;
    kumoctl_targets targets;
    memset(&targets, 0, sizeof(targets));
    kumoctl_remote_init(&remote, "kumoctl wait");
    const char *what = NULL;
    int64_t timeout_ms = 30000;
    kumoctl_parser parser;
    kumoctl_parser_init(&parser, remote.command, flags, sizeof(flags) / sizeof(flags[0]), argc,
                        argv);
    int id, status = KUMOCTL_EXIT_OK;
    while (status == KUMOCTL_EXIT_OK && (id = kumoctl_parser_next(&parser)) != KUMOCTL_PARSE_END) {
        if (id == KUMOCTL_FLAG_HELP) {
            fputs(kumoctl_wait_help, stdout);
            return KUMOCTL_EXIT_OK;
        }
        if (id == KUMOCTL_PARSE_ERROR)
            return KUMOCTL_EXIT_USAGE;
        if (id == KUMOCTL_PARSE_ARGUMENT)
            status = kumoctl_targets_add(&targets, remote.command, parser.value);
        else if (id == KUMOCTL_FLAG_FOR)
            what = parser.value;
        else if (id == KUMOCTL_FLAG_TIMEOUT) {
            if (kumoctl_parse_duration(parser.value, &timeout_ms) != 0)
                return kumoctl_usage_error(remote.command,
                                           "--timeout \"%s\" is not a duration; write e.g. 30s, "
                                           "5m or 1h",
                                           parser.value);
        } else {
            int taken = kumoctl_remote_flag(&remote, id, parser.value);
            status = taken == KUMOCTL_INPUT_TAKEN ? KUMOCTL_EXIT_OK : KUMOCTL_EXIT_USAGE;
        }
    }
    if (status != KUMOCTL_EXIT_OK)
        return status;
    if (targets.name_count == 0)
        return kumoctl_usage_error(remote.command, "name the objects, e.g. kumoctl wait infra web "
                                                   "--for=condition=Ready");
    char condition[128] = "", want[32] = "True";
    if (what == NULL)
        return kumoctl_usage_error(remote.command,
                                   "say what to wait for: --for=condition=Ready or --for=delete");
    if (strncmp(what, "condition=", 10) == 0 && what[10] != '\0') {
        const char *type = what + 10, *eq = strchr(type, '=');
        snprintf(condition, sizeof(condition), "%.*s",
                 (int)(eq ? (size_t)(eq - type) : strlen(type)), type);
        if (eq)
            snprintf(want, sizeof(want), "%s", eq + 1);
        if (condition[0] == '\0' || want[0] == '\0')
            return kumoctl_usage_error(remote.command,
                                       "--for \"%s\": write condition=Ready or "
                                       "condition=Ready=False",
                                       what);
    } else if (strcmp(what, "delete") != 0) {
        return kumoctl_usage_error(remote.command,
                                   "--for \"%s\": use condition=TYPE[=STATUS] or delete", what);
    }
    status = kumoctl_remote_connect(&remote);
    for (int i = 0; status == KUMOCTL_EXIT_OK && i < targets.name_count; i++)
        status = kumoctl_wait_for(&remote, targets.name_kinds[i], kumoctl_remote_namespace(&remote),
                                  targets.names[i], condition[0] ? condition : NULL, want,
                                  timeout_ms, 1);
    kumoctl_remote_fini(&remote);
    return status;
}
