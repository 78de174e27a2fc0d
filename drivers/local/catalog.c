/*
 * catalog.c - what the local "cloud" offers: one region (the connection's,
 * with one zone), a few instance types that become CPU and memory limits,
 * and images that are only labels: every machine runs on the host's own
 * filesystem, whatever image it names.
 *
 * Prices are nominal (a tenth of a cent per vCPU-hour) so that cost-ranked
 * placement has numbers to compare; nothing is billed.
 */
#include "drivers/local/internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

const struct local_type local_types[] = {
    {"local.nano", 1, 256, 0.0005},   {"local.small", 1, 1024, 0.001},
    {"local.medium", 2, 2048, 0.002}, {"local.large", 4, 4096, 0.004},
    {"local.xlarge", 8, 8192, 0.008},
};
const size_t local_type_count = sizeof(local_types) / sizeof(local_types[0]);

const struct local_type *local_type_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < local_type_count; i++)
        if (strcmp(local_types[i].name, name) == 0)
            return &local_types[i];
    return NULL;
}

static const char *const image_names[] = {"host", "debian-12", "ubuntu-22.04", "ubuntu-24.04"};
#define IMAGE_COUNT (sizeof(image_names) / sizeof(image_names[0]))

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char host_os[128] = "Linux";
static char descriptions[IMAGE_COUNT][256];
static char arch[32] = "x86_64";

/* Reads PRETTY_NAME from /etc/os-release and the machine architecture. */
static void init(void)
{
    char line[256];
    FILE *f = fopen("/etc/os-release", "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "PRETTY_NAME=", 12) != 0)
            continue;
        char *v = line + 12;
        v[strcspn(v, "\n")] = '\0';
        if (v[0] == '"') {
            v++;
            v[strcspn(v, "\"")] = '\0';
        }
        snprintf(host_os, sizeof(host_os), "%.120s", v);
    }
    if (f != NULL)
        fclose(f);
    for (size_t i = 0; i < IMAGE_COUNT; i++)
        snprintf(descriptions[i], sizeof(descriptions[i]),
                 i == 0 ? "the host's own filesystem (%s)"
                        : "a label: the machine runs on the host's filesystem (%s)",
                 host_os);
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(arch, sizeof(arch), "%.31s",
                 strcmp(u.machine, "aarch64") == 0 ? "arm64" : u.machine);
}

const char *local_arch(void)
{
    pthread_once(&once, init);
    return arch;
}

size_t local_image_count(void)
{
    return IMAGE_COUNT;
}

const char *local_image_name(size_t i)
{
    return i < IMAGE_COUNT ? image_names[i] : "";
}

const char *local_image_description(size_t i)
{
    pthread_once(&once, init);
    return i < IMAGE_COUNT ? descriptions[i] : "";
}

const char *local_image_find(const char *name_or_id)
{
    if (name_or_id == NULL)
        return NULL;
    const char *name = strncmp(name_or_id, "host:", 5) == 0 ? name_or_id + 5 : name_or_id;
    for (size_t i = 0; i < IMAGE_COUNT; i++)
        if (strcmp(image_names[i], name) == 0)
            return image_names[i];
    return NULL;
}

/* ---- The catalog calls ---------------------------------------------------- */

static kumo_driver_code answer(void *block, void **out, struct kumo_driver_diag *diag)
{
    *out = block;
    return block ? KUMO_DRIVER_OK : local_nomem(diag);
}

static kumo_driver_code late(int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    if (local_host->monotonic_ns(local_host->ctx) < deadline_ns)
        return KUMO_DRIVER_OK;
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_TIMEOUT, "Timeout",
                                "the deadline passed before the catalog was read");
}

kumo_driver_code local_catalog_regions(struct kumo_driver_conn *c, int64_t deadline_ns,
                                       struct kumo_driver_region_list **out,
                                       struct kumo_driver_diag *diag)
{
    if (out == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "out is required");
    *out = NULL;
    kumo_driver_code rc = late(deadline_ns, diag);
    return rc ? rc : answer(local_pack_regions(&c->cfg), (void **)out, diag);
}

kumo_driver_code local_catalog_instance_types(struct kumo_driver_conn *c, int64_t deadline_ns,
                                              struct kumo_driver_instance_type_list **out,
                                              struct kumo_driver_diag *diag)
{
    (void)c;
    if (out == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "out is required");
    *out = NULL;
    kumo_driver_code rc = late(deadline_ns, diag);
    return rc ? rc : answer(local_pack_types(), (void **)out, diag);
}

kumo_driver_code local_catalog_images(struct kumo_driver_conn *c, int64_t deadline_ns,
                                      struct kumo_driver_image_list **out,
                                      struct kumo_driver_diag *diag)
{
    (void)c;
    if (out == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "out is required");
    *out = NULL;
    pthread_once(&once, init);
    kumo_driver_code rc = late(deadline_ns, diag);
    return rc ? rc : answer(local_pack_images(), (void **)out, diag);
}
