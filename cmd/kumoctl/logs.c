/*
 * logs.c - `kumoctl logs`: the stdout and stderr of one App instance, read
 * by the agent of its machine and relayed by kumod (kumo_client_logs).
 *
 * An instance is (App, machine, component, replica). The machine may be left
 * out when the App's status shows it on one machine only, the component when
 * the App has one on that machine. -f asks again from where the last answer
 * ended, every half second (at once while there is more), until Ctrl-C.
 */
#include "cmd/kumoctl/modify.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char kumoctl_logs_help[] =
    "Print the output (stdout and stderr) of an App instance.\n"
    "\n"
    "Usage:\n"
    "  kumoctl logs app/NAME [--machine MACHINE] [-c COMPONENT] [--replica N] [flags]\n"
    "  kumoctl logs app NAME ...\n"
    "\n"
    "Flags:\n"
    "      --machine MACHINE      the Machine the instance runs on; may be left out when\n"
    "                             the App runs on one machine\n"
    "  -c, --component NAME       the App component; may be left out when it has one\n"
    "      --replica N            the replica on that machine (default 0)\n"
    "  -f, --follow               go on printing what the instance writes, until Ctrl-C\n"
    "      --tail N               only the last N lines\n"
    "      --since D              only what was written in the last D (30s, 5m, "
    "1h)\n" KUMOCTL_REMOTE_FLAGS_HELP "\n"
    "The agent keeps the last 1 MiB or so of each instance's output (the log starts\n"
    "over when it grows past that). --since is exact to about a second.\n"
    "\n"
    "Examples:\n"
    "  kumoctl logs app/hello --machine hello-local-web-0\n"
    "  kumoctl logs app/hello --machine hello-local-web-0 -c web -f --tail 20\n"
    "  kumoctl logs app hello --since 5m\n"
    "\n"
    "Exit status: 0 printed (-f: stopped with Ctrl-C); 1 no such App, machine or\n"
    "instance, or the agent did not answer; 2 usage error.\n";

typedef struct logs_options {
    kumoctl_remote remote;
    kumoctl_targets targets;
    const char *machine, *component;
    long replica, tail;
    int64_t since_ms;
    int follow;
} logs_options;

enum { FLAG_MACHINE = 500, FLAG_COMPONENT, FLAG_REPLICA, FLAG_FOLLOW, FLAG_TAIL, FLAG_SINCE };

static int count_flag(const char *command, const char *name, const char *value, long *out)
{
    char *end;
    *out = strtol(value, &end, 10);
    if (*end != '\0' || end == value || *out < 0 || *out > 100000000)
        return kumoctl_usage_error(command, "--%s \"%s\" is not a count (0 or more)", name, value);
    return KUMOCTL_EXIT_OK;
}

static int logs_flag(void *context, int id, const char *value)
{
    logs_options *o = context;
    int taken = kumoctl_remote_flag(&o->remote, id, value);
    if (taken != KUMOCTL_INPUT_NOT_MINE)
        return taken == KUMOCTL_INPUT_TAKEN ? KUMOCTL_EXIT_OK : KUMOCTL_EXIT_USAGE;
    switch (id) {
    case FLAG_MACHINE:
        o->machine = value;
        return KUMOCTL_EXIT_OK;
    case FLAG_COMPONENT:
        o->component = value;
        return KUMOCTL_EXIT_OK;
    case FLAG_REPLICA:
        return count_flag(o->remote.command, "replica", value, &o->replica);
    case FLAG_TAIL:
        return count_flag(o->remote.command, "tail", value, &o->tail);
    case FLAG_FOLLOW:
        o->follow = 1;
        return KUMOCTL_EXIT_OK;
    case FLAG_SINCE:
        if (kumoctl_parse_duration(value, &o->since_ms) != 0 || o->since_ms <= 0)
            return kumoctl_usage_error(o->remote.command,
                                       "--since \"%s\" is not a duration; write e.g. 5m", value);
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_PARSE_ARGUMENT:
        return kumoctl_targets_add(&o->targets, o->remote.command, value);
    default:
        return KUMOCTL_EXIT_USAGE;
    }
}

/* --machine left out: the one machine the App's status shows instances on. */
static int only_machine(logs_options *o, const char *name, char *buf, size_t size)
{
    ProtobufCMessage *app = NULL;
    int status = kumoctl_object_read(&o->remote, o->targets.name_kinds[0], name, &app);
    kumo_value *v = status == KUMOCTL_EXIT_OK ? kumoctl_object_to_value(app) : NULL;
    const kumo_value *list = kumo_codec_value_get(kumo_codec_value_get(v, "status"), "instances");
    char machines[512] = "";
    size_t count = 0, len = 0;
    for (size_t i = 0; list && list->type == KUMO_VALUE_ARRAY && i < list->count; i++) {
        const kumo_value *m = kumo_codec_value_get(list->items[i], "machine");
        if (m == NULL || m->type != KUMO_VALUE_STRING || strstr(machines, m->text))
            continue;
        if (count++ == 0)
            snprintf(buf, size, "%s", m->text);
        if (len < sizeof(machines))
            len += (size_t)snprintf(machines + len, sizeof(machines) - len, "%s%s", len ? ", " : "",
                                    m->text);
    }
    if (status == KUMOCTL_EXIT_OK && count != 1)
        status = count == 0 ? kumoctl_error("App %s has no instances yet; name the machine with "
                                            "--machine",
                                            name)
                            : kumoctl_error("App %s runs on %zu machines (%s): say which with "
                                            "--machine",
                                            name, count, machines);
    kumo_codec_value_destroy(v);
    kumo_object_destroy(app);
    return status;
}

static int logs_print(logs_options *o, const char *name, const char *machine)
{
    char app[600];
    snprintf(app, sizeof(app), "%s/%s", kumoctl_remote_namespace(&o->remote), name);
    Kumo__V1alpha1__AgentLogsRequest r = KUMO__V1ALPHA1__AGENT_LOGS_REQUEST__INIT;
    r.app = app;
    r.machine = (char *)machine;
    r.component = (char *)(o->component ? o->component : "");
    r.replica = (int32_t)o->replica;
    r.tail_lines = (int32_t)o->tail;
    r.since_seconds = (o->since_ms + 999) / 1000;
    char component[256] = "";
    for (;;) {
        Kumo__V1alpha1__AgentLogs *reply = NULL;
        kumo_diag diag;
        kumo_diag_init(&diag);
        kumo_error e = kumo_client_logs(o->remote.client, kumoctl_remote_namespace(&o->remote), &r,
                                        &reply, &diag);
        int status = KUMOCTL_EXIT_OK, more = 0;
        if (e != KUMO_ERROR_OK)
            status = kumoctl_remote_fail(&o->remote, &diag, "reading the logs of App %s", name);
        else if (!reply->ok)
            status = kumoctl_error("%s", reply->error);
        else if (reply->data.len > 0 &&
                 fwrite(reply->data.data, 1, reply->data.len, stdout) != reply->data.len)
            status = kumoctl_error("cannot write the output");
        if (status == KUMOCTL_EXIT_OK) {
            fflush(stdout);
            more = reply->data.len > 0;
            r.offset_present_case = KUMO__V1ALPHA1__AGENT_LOGS_REQUEST__OFFSET_PRESENT_OFFSET;
            r.offset = reply->next_offset;
            snprintf(component, sizeof(component), "%s", reply->component);
            r.component = component; /* the one the agent chose, from now on */
        }
        kumo_codec_message_free((ProtobufCMessage *)reply);
        kumo_diag_fini(&diag);
        if (status != KUMOCTL_EXIT_OK || !o->follow)
            return status;
        if (!more)
            usleep(KUMOCTL_POLL_INTERVAL_MS * 1000);
    }
}

int kumoctl_logs_run(int argc, char **argv)
{
    static const kumoctl_flag flags[] = {
        KUMOCTL_REMOTE_FLAGS,
        {"machine", 0, 1, FLAG_MACHINE, "a Machine's name"},
        {"component", 'c', 1, FLAG_COMPONENT, "an App component's name"},
        {"container", 0, 1, FLAG_COMPONENT, "an App component's name"},
        {"replica", 0, 1, FLAG_REPLICA, "a replica number"},
        {"follow", 'f', 0, FLAG_FOLLOW, NULL},
        {"tail", 0, 1, FLAG_TAIL, "a number of lines"},
        {"since", 0, 1, FLAG_SINCE, "a duration such as 5m"},
        {"help", 'h', 0, KUMOCTL_FLAG_HELP, NULL},
    };
    logs_options o;
    memset(&o, 0, sizeof(o));
    kumoctl_remote_init(&o.remote, "kumoctl logs");
    int status = kumoctl_parse(o.remote.command, flags, sizeof(flags) / sizeof(flags[0]), argc,
                               argv, kumoctl_logs_help, logs_flag, &o);
    if (status != KUMOCTL_CONTINUE)
        return status;
    status = KUMOCTL_EXIT_OK;
    if (status == KUMOCTL_EXIT_OK)
        status = kumoctl_single_target(&o.targets, o.remote.command);
    if (status == KUMOCTL_EXIT_OK && strcmp(o.targets.name_kinds[0]->kind, "App") != 0)
        status = kumoctl_usage_error(o.remote.command,
                                     "logs come from App instances: kumoctl logs app/NAME");
    if (status == KUMOCTL_EXIT_OK)
        status = kumoctl_remote_connect(&o.remote);
    char machine[256];
    if (status == KUMOCTL_EXIT_OK && o.machine == NULL)
        status = only_machine(&o, o.targets.names[0], machine, sizeof(machine));
    if (status == KUMOCTL_EXIT_OK)
        status = logs_print(&o, o.targets.names[0], o.machine ? o.machine : machine);
    kumoctl_remote_fini(&o.remote);
    return status;
}
