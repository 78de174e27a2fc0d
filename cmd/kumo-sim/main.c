/*
 * kumo-sim - shows what really exists in a simulated cloud, and the sim's
 * built-in catalogs, as JSON.
 *
 *   kumo-sim inventory --state FILE [--region R] [--provider P]
 *   kumo-sim catalog [--provider P] [--region R]
 *
 * inventory replays the state file read-only (no lock), so it works while
 * kumod is using the file, and prints every resource that exists, including
 * ones kumo lost track of. It links the sim's core code only (no kumo
 * libraries). Exit status: 0 done, 1 failed (the message says why), 2 usage.
 */
#include "drivers/sim/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: kumo-sim COMMAND [OPTIONS]\n"
    "\n"
    "Inspect kumo's simulated cloud (the \"sim\" driver).\n"
    "\n"
    "commands:\n"
    "  inventory --state FILE [--region R] [--provider P]\n"
    "      print every resource that exists in the simulated cloud kept in FILE (the\n"
    "      \"state\" setting of the sim Connection) as JSON:\n"
    "      {\"machines\":[...],\"networks\":[...],\"securityGroups\":[...],\"keyPairs\":[...]}\n"
    "      Safe while kumod runs: the file is only read.\n"
    "  catalog [--provider aws|gcp|azure] [--region R]\n"
    "      print the built-in regions (with coordinates), instance types (with prices,\n"
    "      regional when --region is given) and images as JSON.\n"
    "  help, --help, -h\n"
    "      print this text.\n";

static int fail_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "kumo-sim: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nrun 'kumo-sim --help' for usage\n");
    return 2;
}

/* Reads "--name VALUE" pairs into the slots of the named options. */
static int parse_options(int argc, char **argv, const char *const *names, const char **values,
                         int count)
{
    for (int i = 2; i < argc; i++) {
        int known = 0;
        for (int k = 0; k < count && !known; k++) {
            if (strcmp(argv[i], names[k]) != 0)
                continue;
            if (i + 1 >= argc)
                return fail_usage("option %s needs a value", argv[i]);
            values[k] = argv[++i];
            known = 1;
        }
        if (!known)
            return fail_usage("unknown option \"%s\"", argv[i]);
    }
    return 0;
}

static int write_out(const struct kumo_driver_kit_buf *b)
{
    if (b->failed) {
        fprintf(stderr, "kumo-sim: out of memory\n");
        return 1;
    }
    if (fwrite(b->data, 1, b->len, stdout) != b->len || fflush(stdout) != 0) {
        fprintf(stderr, "kumo-sim: cannot write the output\n");
        return 1;
    }
    return 0;
}

static int inventory(int argc, char **argv)
{
    static const char *const names[] = {"--state", "--region", "--provider"};
    const char *values[3] = {NULL, NULL, NULL};
    char err[512];
    int rc = parse_options(argc, argv, names, values, 3);
    if (rc != 0)
        return rc;
    if (values[0] == NULL)
        return fail_usage("%s", "inventory needs --state FILE (the sim Connection's state file)");
    if (values[2] != NULL && !sim_provider_known(values[2]))
        return fail_usage("unknown provider \"%s\" (known: aws, gcp, azure)", values[2]);
    struct sim_state *st = sim_state_open(values[0], 1, 0, 0, NULL, err, sizeof(err));
    if (st == NULL) {
        fprintf(stderr, "kumo-sim: %s\n", err);
        return 1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    sim_inventory_json(st, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, values[2], values[1], &b);
    rc = write_out(&b);
    kumo_driver_kit_buf_fini(&b);
    sim_state_close(st);
    return rc;
}

static int catalog(int argc, char **argv)
{
    static const char *const names[] = {"--provider", "--region"};
    const char *values[2] = {NULL, NULL};
    int rc = parse_options(argc, argv, names, values, 2);
    if (rc != 0)
        return rc;
    if (values[0] != NULL && !sim_provider_known(values[0]))
        return fail_usage("unknown provider \"%s\" (known: aws, gcp, azure)", values[0]);
    if (values[1] != NULL) {
        int found = 0;
        for (size_t i = 0; i < sim_region_count; i++)
            found |= strcmp(sim_regions[i].name, values[1]) == 0 &&
                     (values[0] == NULL || strcmp(sim_regions[i].provider, values[0]) == 0);
        if (!found)
            return fail_usage("unknown region \"%s\" (run 'kumo-sim catalog' for the list)",
                              values[1]);
    }
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    sim_catalog_json(&b, values[0], values[1]);
    rc = write_out(&b);
    kumo_driver_kit_buf_fini(&b);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return fail_usage("%s", "a command is needed");
    const char *command = argv[1];
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 ||
        strcmp(command, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
    }
    if (strcmp(command, "inventory") == 0)
        return inventory(argc, argv);
    if (strcmp(command, "catalog") == 0)
        return catalog(argc, argv);
    return fail_usage("unknown command \"%s\" (commands: inventory, catalog)", command);
}
