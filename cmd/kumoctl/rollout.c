/*
 * rollout.c - `kumoctl rollout status`: wait until an Infra or an App has
 * caught up with its spec, printing progress as it goes, like kubectl's
 * `rollout status deployment/x`.
 *
 * Done means: status.observedGeneration has reached metadata.generation
 * (the controller has seen the current spec), and
 *   Infra: status.ready == status.desired (every machine of every group);
 *   App:   status.updated == status.ready == status.desired (every instance
 *          runs the current generation and is healthy).
 * The object is read every half second; a progress line is printed when it
 * changes.
 */
#include "cmd/kumoctl/modify.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char kumoctl_rollout_help[] =
    "Show the rollout of an Infra or an App, and wait until it is complete.\n"
    "\n"
    "Usage:\n"
    "  kumoctl rollout status KIND NAME [flags]\n"
    "  kumoctl rollout status KIND/NAME [flags]\n"
    "\n"
    "Complete means kumo has seen the current spec (status.observedGeneration is\n"
    "metadata.generation) and, for an Infra, every machine is ready; for an App,\n"
    "every instance runs the current generation and is ready.\n"
    "\n"
    "Flags:\n"
    "      --timeout D            give up after D, e.g. 5m (default: wait until done)\n"
    "  -w, --watch=true|false     false: print the state once and exit (0 complete,\n"
    "                             1 not yet)\n" KUMOCTL_REMOTE_FLAGS_HELP "\n"
    "Examples:\n"
    "  kumoctl scale infra hello --group front --replicas 3 && kumoctl rollout status infra/hello\n"
    "  kumoctl rollout status app hello --timeout 2m\n"
    "\n"
    "Output: progress lines such as\n"
    "  Waiting for infra \"hello\" rollout to finish: 3 of 5 machines ready...\n"
    "then \"infra \\\"hello\\\" successfully rolled out\". Exit status: 0 rolled out; 1 timed\n"
    "out, not found or kumod could not be reached; 2 usage error.\n";

static long long number_at(const kumo_value *root, const char *section, const char *key)
{
    const kumo_value *v = kumo_codec_value_get(kumo_codec_value_get(root, section), key);
    return v && (v->type == KUMO_VALUE_NUMBER || v->type == KUMO_VALUE_STRING)
               ? strtoll(v->text, NULL, 10)
               : 0;
}

/* Writes the progress sentence; returns 1 when the rollout is complete. */
static int rollout_state(const kumo_object_kind *kind, const char *name, const kumo_value *root,
                         char *buf, size_t size)
{
    int infra = strcmp(kind->kind, "Infra") == 0;
    long long generation = number_at(root, "metadata", "generation");
    long long observed = number_at(root, "status", "observedGeneration");
    long long desired = number_at(root, "status", "desired"),
              ready = number_at(root, "status", "ready");
    long long updated = number_at(root, "status", "updated");
    if (observed < generation) {
        snprintf(buf, size,
                 "Waiting for %s \"%s\" rollout to finish: the controller has not seen "
                 "generation %lld yet...",
                 kind->singular, name, generation);
        return 0;
    }
    if (!infra && updated < desired) {
        snprintf(
            buf, size,
            "Waiting for %s \"%s\" rollout to finish: %lld out of %lld new instances have been "
            "updated...",
            kind->singular, name, updated, desired);
        return 0;
    }
    if (ready != desired) {
        snprintf(buf, size, "Waiting for %s \"%s\" rollout to finish: %lld of %lld %s ready...",
                 kind->singular, name, ready, desired, infra ? "machines" : "instances");
        return 0;
    }
    snprintf(buf, size, "%s \"%s\" successfully rolled out", kind->singular, name);
    return 1;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rollout_wait(kumoctl_remote *remote, const kumo_object_kind *kind, const char *name,
                        int64_t timeout_ms, int watch)
{
    double deadline = timeout_ms > 0 ? now_seconds() + (double)timeout_ms / 1000.0 : 0;
    char last[512] = "";
    for (;;) {
        ProtobufCMessage *object = NULL;
        int status = kumoctl_object_read(remote, kind, name, &object);
        if (status != KUMOCTL_EXIT_OK)
            return status;
        kumo_value *root = kumoctl_object_to_value(object);
        kumo_object_destroy(object);
        char line[512];
        int done = root ? rollout_state(kind, name, root, line, sizeof(line)) : 0;
        kumo_codec_value_destroy(root);
        if (root != NULL && strcmp(line, last) != 0) {
            printf("%s\n", line);
            fflush(stdout);
            snprintf(last, sizeof(last), "%s", line);
        }
        if (done)
            return KUMOCTL_EXIT_OK;
        if (!watch)
            return KUMOCTL_EXIT_FAILED;
        if (deadline > 0 && now_seconds() > deadline)
            return kumoctl_error("timed out after %.1fs waiting for the rollout of %s \"%s\"",
                                 (double)timeout_ms / 1000.0, kind->singular, name);
        usleep(KUMOCTL_POLL_INTERVAL_MS * 1000);
    }
}

int kumoctl_rollout_run(int argc, char **argv)
{
    static const kumoctl_flag flags[] = {
        KUMOCTL_REMOTE_FLAGS,
        {"timeout", 0, 1, KUMOCTL_FLAG_TIMEOUT, "a duration such as 5m"},
        {"watch", 'w', 1, KUMOCTL_FLAG_WATCH, "true or false"},
        {"help", 'h', 0, KUMOCTL_FLAG_HELP, NULL},
    };
    kumoctl_remote remote;
    kumoctl_remote_init(&remote, "kumoctl rollout status");
    kumoctl_targets targets;
    memset(&targets, 0, sizeof(targets));
    int64_t timeout_ms = 0;
    int watch = 1, status = KUMOCTL_EXIT_OK, id, subcommand = 0;
    kumoctl_parser parser;
    kumoctl_parser_init(&parser, remote.command, flags, sizeof(flags) / sizeof(flags[0]), argc,
                        argv);
    while (status == KUMOCTL_EXIT_OK && (id = kumoctl_parser_next(&parser)) != KUMOCTL_PARSE_END) {
        int taken = kumoctl_remote_flag(&remote, id, parser.value);
        if (id == KUMOCTL_FLAG_HELP) {
            fputs(kumoctl_rollout_help, stdout);
            return KUMOCTL_EXIT_OK;
        } else if (id == KUMOCTL_PARSE_ERROR || taken == KUMOCTL_INPUT_ERROR) {
            status = KUMOCTL_EXIT_USAGE;
        } else if (taken == KUMOCTL_INPUT_TAKEN) {
            continue;
        } else if (id == KUMOCTL_FLAG_TIMEOUT) {
            if (kumoctl_parse_duration(parser.value, &timeout_ms) != 0)
                status = kumoctl_usage_error(remote.command, "--timeout \"%s\" is not a duration",
                                             parser.value);
        } else if (id == KUMOCTL_FLAG_WATCH) {
            watch = strcmp(parser.value, "false") != 0;
        } else if (!subcommand) {
            subcommand = 1;
            if (strcmp(parser.value, "status") != 0)
                status = kumoctl_usage_error("kumoctl rollout",
                                             "unknown rollout command \"%s\"; kumoctl has "
                                             "rollout status",
                                             parser.value);
        } else {
            status = kumoctl_targets_add(&targets, remote.command, parser.value);
        }
    }
    if (status == KUMOCTL_EXIT_OK && !subcommand)
        status =
            kumoctl_usage_error("kumoctl rollout", "say what: kumoctl rollout status KIND NAME");
    if (status == KUMOCTL_EXIT_OK)
        status = kumoctl_single_target(&targets, remote.command);
    const kumo_object_kind *kind = targets.name_kinds[0];
    if (status == KUMOCTL_EXIT_OK && strcmp(kind->kind, "Infra") != 0 &&
        strcmp(kind->kind, "App") != 0)
        status = kumoctl_usage_error(remote.command, "%s have no rollout; use an infra or an app",
                                     kind->plural);
    if (status == KUMOCTL_EXIT_OK)
        status = kumoctl_remote_connect(&remote);
    if (status == KUMOCTL_EXIT_OK)
        status = rollout_wait(&remote, kind, targets.names[0], timeout_ms, watch);
    kumoctl_remote_fini(&remote);
    return status;
}
