/*
 * codec_bench.c - kumo's JSON codec against jansson on the same bytes.
 *
 * The document is a MachineList of 1,000 Machines with full metadata, spec
 * and status (an Infra's own status is a handful of counters per group, not
 * a list of machines; the MachineList is what "get machines" returns for a
 * 1,000-node Infra). It is compact JSON in the API's field order.
 *
 * One "doc" = parse the text and write it back out as compact JSON:
 *   kumo:    kumo_codec_json_decode (into the Machine messages, every field
 *            type-checked) + kumo_codec_json_encode into a fresh buffer;
 *   jansson: json_loads (to a json_t tree) + json_dumps(JSON_COMPACT).
 * Everything each side allocates is freed inside the timed loop. Each side
 * runs ROUNDS rounds of about ROUND_SECONDS; the median round is reported.
 *
 * Prints figures, then exactly one line:
 *   BENCH codec bytes=N kumo_docs_per_s=N jansson_docs_per_s=N ratio=R
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/codec/codec.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "hack/bench/timing.h"

enum { MACHINES = 1000, ROUNDS = 7 };
static const double ROUND_SECONDS = 0.4;

static void append(kumo_codec_buffer *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void append(kumo_codec_buffer *buf, const char *fmt, ...)
{
    char part[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(part, sizeof(part), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(part) ||
        kumo_codec_buffer_append(buf, part, (size_t)n) != KUMO_ERROR_OK) {
        fprintf(stderr, "codec_bench: cannot build the document\n");
        exit(1);
    }
}

static const char *const zones[] = {"us-east-1a", "us-east-1b", "europe-west1-b", "koreacentral-1"};
static const char *const types[] = {"t3.medium", "m6i.large", "n2-standard-4", "Standard_D4s_v5"};

static void build_document(kumo_codec_buffer *doc)
{
    append(doc, "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"MachineList\","
                "\"metadata\":{\"resourceVersion\":\"918273\"},\"items\":[");
    for (int i = 0; i < MACHINES; i++) {
        int group = i % 4;
        long created = 1714564800L + i * 7;
        append(doc,
               "%s{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Machine\","
               "\"metadata\":{\"name\":\"shop-web-%05d\",\"namespace\":\"default\","
               "\"uid\":\"5f0c%04x-1d2e-4b7a-9c3d-%012x\",\"resourceVersion\":\"%d\","
               "\"generation\":\"%d\",\"creationTimestamp\":\"2024-05-01T12:%02d:%02dZ\","
               "\"labels\":{\"kumo.dev/infra\":\"shop\",\"kumo.dev/group\":\"web-%d\","
               "\"app.kubernetes.io/part-of\":\"shop\"},"
               "\"annotations\":{\"kumo.dev/placement\":\"cheapest match with vcpu>=2; "
               "12ms to seoul-office\"},"
               "\"finalizers\":[\"kumo.dev/machine\"],"
               "\"ownerReferences\":[{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Infra\","
               "\"name\":\"shop\",\"uid\":\"9a8b7c6d-0000-4000-8000-00000000beef\","
               "\"controller\":true,\"blockOwnerDeletion\":true}]},",
               i ? "," : "", i, i, 100000 + i, 900000 + i, 1 + i % 3, (i / 60) % 60, i % 60, group);
        append(doc,
               "\"spec\":{\"connection\":\"aws-use1\",\"instanceType\":\"%s\","
               "\"image\":\"ubuntu-22.04\",\"networkRef\":{\"name\":\"shop-aws-use1\"},"
               "\"subnet\":\"private-%d\",\"securityGroupRefs\":[{\"name\":\"shop-web\"}],"
               "\"keyPairRef\":{\"name\":\"shop-aws-use1\"},"
               "\"userData\":\"#!/bin/sh\\nset -e\\necho \\\"machine %d\\\" > /etc/motd\\n\","
               "\"rootDisk\":{\"sizeGib\":30,\"type\":\"gp3\"},"
               "\"tags\":{\"team\":\"storefront\",\"cost-center\":\"cc-%d\"},"
               "\"driftPolicy\":\"Recreate\"},",
               types[group], group, i, 4000 + group);
        append(
            doc,
            "\"status\":{\"observedGeneration\":\"%d\",\"conditions\":["
            "{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"Running\","
            "\"message\":\"VM i-0%012x is running and the agent reports healthy\","
            "\"lastTransitionTime\":\"2024-05-01T13:%02d:%02d.%03dZ\",\"observedGeneration\":\"%"
            "d\"},"
            "{\"type\":\"AgentReady\",\"status\":\"True\",\"reason\":\"Heartbeat\","
            "\"lastTransitionTime\":\"2024-05-01T13:%02d:%02dZ\",\"observedGeneration\":\"%d\"}],"
            "\"phase\":\"Running\",\"providerId\":\"i-0%012x\",\"providerState\":\"running\","
            "\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.10.%d.%d\"},"
            "{\"type\":\"ExternalIP\",\"address\":\"54.%d.%d.%d\"}],"
            "\"region\":\"us-east-1\",\"zone\":\"%s\",\"costPerHour\":%s,\"currency\":\"USD\","
            "\"bootTime\":\"2024-05-01T12:%02d:%02d.%03dZ\"}}",
            1 + i % 3, i * 7919, (i / 60) % 60, i % 60, 1 + i % 999, 1 + i % 3, (i / 60) % 60,
            (i + 1) % 60, 1 + i % 3, i * 7919, i / 256, i % 256, 200 + group, i / 256, i % 256,
            zones[group],
            group == 0   ? "0.0416"
            : group == 1 ? "0.096"
            : group == 2 ? "0.1942"
                         : "0.192",
            (i / 60) % 60, (i + 2) % 60, 1 + (int)(created % 999));
    }
    append(doc, "]}");
}

static int kumo_once(const char *text, size_t len, size_t *out_len)
{
    ProtobufCMessage *m = NULL;
    if (kumo_codec_json_decode(&kumo__v1alpha1__machine_list__descriptor, text, len, NULL, &m,
                               NULL) != KUMO_ERROR_OK)
        return -1;
    kumo_codec_buffer out;
    kumo_codec_buffer_init(&out);
    kumo_error err = kumo_codec_json_encode(m, NULL, &out, NULL);
    *out_len = out.len;
    kumo_codec_buffer_fini(&out);
    kumo_codec_message_free(m);
    return err == KUMO_ERROR_OK ? 0 : -1;
}

static int jansson_once(const char *text, size_t len, size_t *out_len)
{
    json_error_t error;
    json_t *root = json_loadb(text, len, 0, &error);
    if (root == NULL)
        return -1;
    char *out = json_dumps(root, JSON_COMPACT);
    *out_len = out ? strlen(out) : 0;
    free(out);
    json_decref(root);
    return out ? 0 : -1;
}

static int kumo_decode_only(const char *text, size_t len, size_t *out_len)
{
    ProtobufCMessage *m = NULL;
    *out_len = 0;
    if (kumo_codec_json_decode(&kumo__v1alpha1__machine_list__descriptor, text, len, NULL, &m,
                               NULL) != KUMO_ERROR_OK)
        return -1;
    kumo_codec_message_free(m);
    return 0;
}

static int jansson_decode_only(const char *text, size_t len, size_t *out_len)
{
    json_error_t error;
    json_t *root = json_loadb(text, len, 0, &error);
    *out_len = 0;
    if (root == NULL)
        return -1;
    json_decref(root);
    return 0;
}

typedef int (*run_fn)(const char *text, size_t len, size_t *out_len);

/* Median docs/s over ROUNDS rounds. */
static double measure(run_fn run, const char *text, size_t len)
{
    size_t out_len;
    int per_round = 1;
    double start = now_s();
    if (run(text, len, &out_len) != 0)
        return -1;
    double one = now_s() - start;
    per_round = (int)(ROUND_SECONDS / (one > 1e-6 ? one : 1e-6));
    if (per_round < 3)
        per_round = 3;
    double rates[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        start = now_s();
        for (int i = 0; i < per_round; i++)
            if (run(text, len, &out_len) != 0)
                return -1;
        rates[r] = per_round / (now_s() - start);
    }
    qsort(rates, ROUNDS, sizeof(rates[0]), bench_cmp_double);
    return rates[ROUNDS / 2];
}

int main(int argc, char **argv)
{
    int print_document = argc == 2 && strcmp(argv[1], "--document") == 0;
    if (argc > 1 && !print_document) {
        fprintf(stderr, "usage: %s [--document]   (--document: print the JSON document and exit)\n",
                argv[0]);
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    kumo_codec_buffer doc;
    kumo_codec_buffer_init(&doc);
    build_document(&doc);
    if (print_document) {
        fwrite(doc.data, 1, doc.len, stdout);
        kumo_codec_buffer_fini(&doc);
        return 0;
    }

    /* Both sides must accept the document, and kumo must write it back byte for byte. */
    ProtobufCMessage *m = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    if (kumo_codec_json_decode(&kumo__v1alpha1__machine_list__descriptor, doc.data, doc.len, NULL,
                               &m, &diag) != KUMO_ERROR_OK) {
        fprintf(stderr, "codec_bench: kumo rejects the document: %s\n", diag.message);
        return 1;
    }
    kumo_codec_buffer out;
    kumo_codec_buffer_init(&out);
    kumo_codec_json_encode(m, NULL, &out, NULL);
    int identical = out.len == doc.len && memcmp(out.data, doc.data, doc.len) == 0;
    kumo_codec_buffer_fini(&out);
    kumo_codec_message_free(m);
    size_t jansson_len = 0;
    if (jansson_once(doc.data, doc.len, &jansson_len) != 0) {
        fprintf(stderr, "codec_bench: jansson rejects the document\n");
        return 1;
    }
    printf("document: MachineList of %d Machines (full metadata, spec, status), %zu bytes of "
           "compact JSON\n",
           MACHINES, doc.len);
    printf("kumo re-encodes it byte for byte: %s; jansson writes %zu bytes\n",
           identical ? "yes" : "NO", jansson_len);

    double kumo_rate = measure(kumo_once, doc.data, doc.len);
    double jansson_rate = measure(jansson_once, doc.data, doc.len);
    double kumo_decode = measure(kumo_decode_only, doc.data, doc.len);
    double jansson_decode = measure(jansson_decode_only, doc.data, doc.len);
    double mb = (double)doc.len / 1e6;
    printf("%-34s %10s %10s\n", "median of 7 rounds", "docs/s", "MB/s");
    printf("%-34s %10.1f %10.1f\n", "kumo decode+encode", kumo_rate, kumo_rate * mb);
    printf("%-34s %10.1f %10.1f\n", "jansson json_loads+json_dumps", jansson_rate,
           jansson_rate * mb);
    printf("%-34s %10.1f %10.1f\n", "kumo decode only", kumo_decode, kumo_decode * mb);
    printf("%-34s %10.1f %10.1f\n", "jansson json_loads only", jansson_decode, jansson_decode * mb);
    printf("BENCH codec bytes=%zu kumo_docs_per_s=%.1f jansson_docs_per_s=%.1f ratio=%.2f\n",
           doc.len, kumo_rate, jansson_rate, jansson_rate > 0 ? kumo_rate / jansson_rate : 0.0);
    kumo_codec_buffer_fini(&doc);
    kumo_diag_fini(&diag);
    return 0;
}
