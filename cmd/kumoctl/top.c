/*
 * top.c - `kumoctl top machines|apps|latency`: the latest figures the
 * machines' agents reported, as kumod's monitor sums them (CPU and network
 * rates over each agent's last two reports), like `kubectl top`, and the
 * connection x connection round-trip matrix (docs/monitoring.md).
 *
 * kumod answers <prefix>.monitor.<what> on the API bus with a TopMachines,
 * TopApps or LatencyMatrix document (JSON).
 */
#include "cmd/kumoctl/remote.h"

#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/kumo/v1alpha1/monitor.pb-c.h"

enum { TOP_FLAG_ALL = 200 };

const char kumoctl_top_help[] =
    "Show the CPU, memory and network use of machines and Apps, or the measured round trips\n"
    "between connections, from the machines' kumo-agents.\n"
    "\n"
    "Usage:\n"
    "  kumoctl top machines [-n NS | -A] [-o json]\n"
    "  kumoctl top apps [-n NS | -A] [-o json]\n"
    "  kumoctl top latency [-n NS | -A] [-o json]\n"
    "\n"
    "Flags:\n"
    "  -A, --all-namespaces       every namespace\n"
    "  -o, --output json          the figures as JSON\n" KUMOCTL_REMOTE_FLAGS_HELP "\n"
    "CPU is in cores (1000m = one core busy) and in % of one core, over the agent's last\n"
    "report interval; memory is the machine's (its cgroup) or the App's instances' RSS.\n"
    "A latency cell older than 3 minutes is not fresh: placement does not use it.\n";

/* Bytes as kubectl prints them: 512Ki, 97Mi, 2Gi. */
static void bytes_text(double bytes, char *buf, size_t size)
{
    static const char *const units[] = {"", "Ki", "Mi", "Gi", "Ti"};
    int u = 0;
    while (bytes >= 1024 * 10 && u < 4) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, size, "%.0f%s", bytes, units[u]);
}

static int wanted(const kumoctl_remote *r, int all, const char *ns)
{
    return all || strcmp(ns, kumoctl_remote_namespace(r)) == 0;
}

static void print_machines(const kumoctl_remote *r, int all,
                           const Kumo__V1alpha1__TopMachines *list)
{
    printf("%-*s%-28s %-14s %-11s %-5s %-14s %-8s %-10s %s\n", all ? 12 : 0, all ? "NAMESPACE" : "",
           "NAME", "CONNECTION", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%", "NET-RX/s",
           "NET-TX/s");
    for (size_t i = 0; i < list->n_items; i++) {
        const Kumo__V1alpha1__TopMachine *m = list->items[i];
        if (!wanted(r, all, m->namespace_))
            continue;
        char cores[32], memory[32], rx[32], tx[32], memory_pct[16] = "-";
        snprintf(cores, sizeof(cores), "%.0fm", m->cpu_percent * 10);
        bytes_text((double)m->memory_bytes, memory, sizeof(memory));
        bytes_text(m->receive_bytes_per_second, rx, sizeof(rx));
        bytes_text(m->transmit_bytes_per_second, tx, sizeof(tx));
        if (m->memory_limit_bytes > 0)
            snprintf(memory_pct, sizeof(memory_pct), "%.0f%%",
                     100.0 * (double)m->memory_bytes / (double)m->memory_limit_bytes);
        printf("%-*s%-28s %-14s %-11s %-5.0f %-14s %-8s %-10s %s\n", all ? 12 : 0,
               all ? m->namespace_ : "", m->name, m->connection, cores, m->cpu_percent, memory,
               memory_pct, rx, tx);
    }
}

static void print_apps(const kumoctl_remote *r, int all, const Kumo__V1alpha1__TopApps *list)
{
    printf("%-*s%-24s %-10s %-6s %-11s %-5s %-14s %s\n", all ? 12 : 0, all ? "NAMESPACE" : "",
           "NAME", "INSTANCES", "READY", "CPU(cores)", "CPU%", "MEMORY(bytes)", "RESTARTS");
    for (size_t i = 0; i < list->n_items; i++) {
        const Kumo__V1alpha1__TopApp *a = list->items[i];
        if (!wanted(r, all, a->namespace_))
            continue;
        char cores[32], memory[32];
        snprintf(cores, sizeof(cores), "%.0fm", a->cpu_percent * 10);
        bytes_text((double)a->memory_bytes, memory, sizeof(memory));
        printf("%-*s%-24s %-10d %-6d %-11s %-5.0f %-14s %d\n", all ? 12 : 0,
               all ? a->namespace_ : "", a->name, a->instances, a->ready, cores, a->cpu_percent,
               memory, a->restarts);
    }
}

static void print_latency(const kumoctl_remote *r, int all,
                          const Kumo__V1alpha1__LatencyMatrix *list)
{
    printf("%-*s%-18s %-18s %-11s %-11s %-8s %-6s %s\n", all ? 12 : 0, all ? "NAMESPACE" : "",
           "FROM", "TO", "MEDIAN(ms)", "P90(ms)", "SAMPLES", "AGE", "FRESH");
    for (size_t i = 0; i < list->n_items; i++) {
        const Kumo__V1alpha1__LatencyCell *c = list->items[i];
        if (!wanted(r, all, c->namespace_))
            continue;
        printf("%-*s%-18s %-18s %-11.3f %-11.3f %-8d %-6.0f %s\n", all ? 12 : 0,
               all ? c->namespace_ : "", c->from, c->to, c->median_ms, c->p90_ms, c->samples,
               c->age_seconds, c->fresh ? "yes" : "no");
    }
}

/* Asks kumod's monitor; the decoded answer (caller frees) or NULL (error printed). */
static ProtobufCMessage *ask(kumoctl_remote *r, const char *what,
                             const ProtobufCMessageDescriptor *descriptor)
{
    natsConnection *nc = NULL;
    natsMsg *reply = NULL;
    char subject[128];
    snprintf(subject, sizeof(subject), "kumo.v1.monitor.%s", what);
    natsStatus s = natsConnection_ConnectTo(&nc, kumo_client_url(r->client));
    if (s == NATS_OK)
        s = natsConnection_RequestString(&reply, nc, subject, "",
                                         r->timeout_ms > 0 ? r->timeout_ms
                                                           : KUMOCTL_REQUEST_TIMEOUT_MS);
    ProtobufCMessage *out = NULL;
    if (s != NATS_OK) {
        kumoctl_error("%s: kumod's monitor did not answer on %s (%s); is kumod running there?",
                      r->command, kumo_client_url(r->client), natsStatus_GetText(s));
    } else {
        kumo_diag d;
        kumo_diag_init(&d);
        kumo_codec_decode_options o = {.lenient = 1};
        if (kumo_codec_json_decode(descriptor, natsMsg_GetData(reply),
                                   (size_t)natsMsg_GetDataLength(reply), &o, &out,
                                   &d) != KUMO_ERROR_OK)
            kumoctl_error("%s: kumod's answer: %.*s", r->command, natsMsg_GetDataLength(reply),
                          natsMsg_GetData(reply));
        kumo_diag_fini(&d);
    }
    natsMsg_Destroy(reply);
    natsConnection_Destroy(nc);
    return out;
}

static int top_flag(kumoctl_remote *r, int id, const char *value, int *all, int *json)
{
    int taken = kumoctl_remote_flag(r, id, value);
    if (taken != KUMOCTL_INPUT_NOT_MINE)
        return taken == KUMOCTL_INPUT_TAKEN ? KUMOCTL_CONTINUE : KUMOCTL_EXIT_USAGE;
    if (id == TOP_FLAG_ALL)
        *all = 1;
    else if (id == KUMOCTL_FLAG_OUTPUT && strcmp(value, "json") == 0)
        *json = 1;
    else
        return kumoctl_usage_error(r->command, "unknown output \"%s\"; use -o json", value);
    return KUMOCTL_CONTINUE;
}

int kumoctl_top_run(int argc, char **argv)
{
    static const kumoctl_flag flags[] = {
        KUMOCTL_REMOTE_FLAGS,
        {"all-namespaces", 'A', 0, TOP_FLAG_ALL, NULL},
        {"output", 'o', 1, KUMOCTL_FLAG_OUTPUT, "json"},
        {"help", 'h', 0, KUMOCTL_FLAG_HELP, NULL},
    };
    kumoctl_remote r;
    kumoctl_remote_init(&r, "kumoctl top");
    const char *what = NULL;
    int all = 0, json = 0, id;
    kumoctl_parser parser;
    kumoctl_parser_init(&parser, r.command, flags, sizeof(flags) / sizeof(flags[0]), argc, argv);
    while ((id = kumoctl_parser_next(&parser)) != KUMOCTL_PARSE_END) {
        int rc = KUMOCTL_CONTINUE;
        if (id == KUMOCTL_FLAG_HELP) {
            fputs(kumoctl_top_help, stdout);
            return KUMOCTL_EXIT_OK;
        } else if (id == KUMOCTL_PARSE_ERROR) {
            rc = KUMOCTL_EXIT_USAGE;
        } else if (id == KUMOCTL_PARSE_ARGUMENT && what == NULL) {
            what = parser.value;
        } else if (id == KUMOCTL_PARSE_ARGUMENT) {
            rc = kumoctl_usage_error(r.command, "unexpected argument \"%s\"", parser.value);
        } else {
            rc = top_flag(&r, id, parser.value, &all, &json);
        }
        if (rc != KUMOCTL_CONTINUE)
            return rc;
    }
    const ProtobufCMessageDescriptor *d =
        what == NULL ? NULL
        : strcmp(what, "machines") == 0 || strcmp(what, "machine") == 0
            ? &kumo__v1alpha1__top_machines__descriptor
        : strcmp(what, "apps") == 0 || strcmp(what, "app") == 0
            ? &kumo__v1alpha1__top_apps__descriptor
        : strcmp(what, "latency") == 0 ? &kumo__v1alpha1__latency_matrix__descriptor
                                       : NULL;
    if (d == NULL)
        return kumoctl_usage_error(r.command, "say what to show: machines, apps or latency%s%s%s",
                                   what ? " (not \"" : "", what ? what : "", what ? "\")" : "");
    if (kumoctl_remote_connect(&r) != KUMOCTL_EXIT_OK)
        return KUMOCTL_EXIT_FAILED;
    ProtobufCMessage *answer = ask(&r,
                                   d == &kumo__v1alpha1__top_machines__descriptor ? "machines"
                                   : d == &kumo__v1alpha1__top_apps__descriptor   ? "apps"
                                                                                  : "latency",
                                   d);
    int rc = answer ? KUMOCTL_EXIT_OK : KUMOCTL_EXIT_FAILED;
    if (answer && json) {
        kumo_codec_buffer out;
        kumo_codec_buffer_init(&out);
        kumo_codec_encode_options o = {.indent = 2};
        if (kumo_codec_json_encode(answer, &o, &out, NULL) == KUMO_ERROR_OK)
            printf("%s\n", out.data);
        kumo_codec_buffer_fini(&out);
    } else if (answer && d == &kumo__v1alpha1__top_machines__descriptor) {
        print_machines(&r, all, (const Kumo__V1alpha1__TopMachines *)answer);
    } else if (answer && d == &kumo__v1alpha1__top_apps__descriptor) {
        print_apps(&r, all, (const Kumo__V1alpha1__TopApps *)answer);
    } else if (answer) {
        print_latency(&r, all, (const Kumo__V1alpha1__LatencyMatrix *)answer);
    }
    kumo_codec_message_free(answer);
    kumoctl_remote_fini(&r);
    return rc;
}
