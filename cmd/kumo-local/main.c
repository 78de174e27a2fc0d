/*
 * kumo-local - shows and removes what the local driver left on this host:
 * machines (network namespaces, veths, processes, cgroups), bridges and
 * nftables tables of every local Connection whose state folder is under the
 * state root (default /run/kumo/local), whether or not a kumod still knows
 * them (a new data directory, a deleted Connection, a crash).
 *
 *   kumo-local leftovers [--state-root DIR] [--prefix P] [--drivers-dir DIR]
 *   kumo-local purge     [--state-root DIR] [--prefix P] [--drivers-dir DIR]
 *
 * It runs the local driver's own `control` operations (`inventory`, `purge`)
 * on each state folder, so it removes exactly what the driver would: a
 * folder <ns>_<name> is the Connection <ns>/<name>. Stop kumod first
 * (hack/down.sh --purge does both). Exit status: 0 done, 1 something could
 * not be read or removed (the message says what), 2 usage.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apis/codec/codec.h"
#include "drivers/loader/loader.h"

static const char usage[] =
    "usage: kumo-local leftovers|purge [--state-root DIR] [--prefix P] [--drivers-dir DIR]\n"
    "\n"
    "Show (leftovers) or remove (purge) what kumo's local driver made on this host:\n"
    "machines (network namespaces, processes, cgroups), bridges and firewall tables\n"
    "of every local Connection with a state folder under the state root, known to a\n"
    "kumod or not. Stop kumod first: hack/down.sh --purge stops it and purges.\n"
    "\n"
    "  --state-root DIR   where the Connections' state folders are (/run/kumo/local)\n"
    "  --prefix P         the Connections' name_prefix setting (kumo)\n"
    "  --drivers-dir DIR  where kumo-driver-local.so is (<bin>/../lib/kumo/drivers)\n";

typedef struct options {
    const char *state_root, *prefix, *drivers_dir;
    int purge;
} options;

/* The number of members of the array `key` of an inventory document. */
static size_t count_of(const kumo_value *doc, const char *key)
{
    const kumo_value *v = kumo_codec_value_get(doc, key);
    return v && v->type == KUMO_VALUE_ARRAY ? v->count : 0;
}

/* Prints what one Connection left; returns how many objects. */
static size_t print_inventory(const char *connection, const char *json)
{
    kumo_value *doc = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    size_t n = 0;
    if (kumo_codec_value_parse_json(json, strlen(json), NULL, &doc, &d) == KUMO_ERROR_OK) {
        size_t machines = count_of(doc, "machines"), networks = count_of(doc, "networks"),
               orphans = count_of(doc, "orphans");
        n = machines + networks + orphans;
        printf("%s: %zu machines, %zu networks, %zu orphaned machines\n", connection, machines,
               networks, orphans);
        const kumo_value *list = kumo_codec_value_get(doc, "machines");
        for (size_t i = 0; list && list->type == KUMO_VALUE_ARRAY && i < list->count; i++) {
            const kumo_value *netns = kumo_codec_value_get(list->items[i], "netns");
            const kumo_value *ip = kumo_codec_value_get(list->items[i], "ip");
            printf("  machine netns %s ip %s\n", netns ? netns->text : "?", ip ? ip->text : "?");
        }
        kumo_codec_value_destroy(doc);
    } else {
        printf("%s: %s\n", connection, json);
    }
    kumo_diag_fini(&d);
    return n;
}

/* Runs inventory (and purge) on the Connection whose state folder is `dir`. 0 or 1. */
static int one_connection(const options *o, kumo_driver_handle *handle, const char *dir,
                          const char *folder)
{
    char connection[256];
    snprintf(connection, sizeof(connection), "%s", folder);
    char *sep = strchr(connection, '_'); /* namespaces have no '_': the first one is the '/' */
    if (sep)
        *sep = '/';
    const struct kumo_driver *drv = kumo_driver_table(handle);
    struct kumo_driver_kv config[] = {{"name_prefix", o->prefix}, {"state_dir", dir}};
    struct kumo_driver_open_args args = {
        .struct_size = sizeof(args), .connection = connection, .config = config, .config_count = 2};
    struct kumo_driver_conn *conn = NULL;
    struct kumo_driver_diag dd;
    memset(&dd, 0, sizeof(dd));
    if (drv->open(&args, &conn, &dd) != KUMO_DRIVER_OK) {
        fprintf(stderr, "kumo-local: %s (state %s): %s: %s\n", connection, dir, dd.cloud_code,
                dd.message);
        return 1;
    }
    int status = 0;
    char *json = NULL;
    if (drv->control(conn, "inventory", NULL, &json, &dd) == KUMO_DRIVER_OK) {
        print_inventory(connection, json);
    } else {
        fprintf(stderr, "kumo-local: %s: inventory: %s\n", connection, dd.message);
        status = 1;
    }
    kumo_driver_free(kumo_driver_host_of(handle), json);
    json = NULL;
    if (o->purge) {
        if (drv->control(conn, "purge", NULL, &json, &dd) == KUMO_DRIVER_OK) {
            printf("%s: purged\n", connection);
        } else {
            fprintf(stderr, "kumo-local: %s: purge: %s: %s\n", connection, dd.cloud_code,
                    dd.message);
            status = 1;
        }
        kumo_driver_free(kumo_driver_host_of(handle), json);
    }
    drv->close(conn);
    if (o->purge && status == 0) {
        char path[PATH_MAX + 8]; /* dir + "/state" */
        const char *files[] = {"state", "lock"};
        for (size_t i = 0; i < 2; i++) {
            snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir); /* what else is there (machine logs) stays */
    }
    return status;
}

static int run(const options *o)
{
    kumo_driver_handle *handle = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    if (kumo_driver_load(o->drivers_dir, "local", &handle, &diag) != KUMO_ERROR_OK) {
        fprintf(stderr, "kumo-local: %s\n", diag.message);
        kumo_diag_fini(&diag);
        return 1;
    }
    DIR *d = opendir(o->state_root);
    int status = 0, seen = 0;
    for (struct dirent *e = d ? readdir(d) : NULL; e != NULL; e = readdir(d)) {
        char dir[PATH_MAX], state[PATH_MAX + 8];
        struct stat st;
        snprintf(dir, sizeof(dir), "%s/%s", o->state_root, e->d_name);
        snprintf(state, sizeof(state), "%s/state", dir);
        if (e->d_name[0] == '.' || stat(state, &st) != 0)
            continue;
        seen++;
        status |= one_connection(o, handle, dir, e->d_name);
    }
    if (d)
        closedir(d);
    if (seen == 0)
        printf("nothing: no local Connection state under %s\n", o->state_root);
    kumo_driver_unload(handle);
    kumo_diag_fini(&diag);
    return status;
}

int main(int argc, char **argv)
{
    static char drivers[PATH_MAX];
    options o = {"/run/kumo/local", "kumo", NULL, 0};
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(drivers, sizeof(drivers), "%.3900s/../lib/kumo/drivers", self);
    o.drivers_dir = drivers;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "purge") != 0 && strcmp(argv[1], "leftovers") != 0) {
        fprintf(stderr, "kumo-local: unknown command \"%s\"\n%s", argv[1], usage);
        return 2;
    }
    o.purge = strcmp(argv[1], "purge") == 0;
    for (int i = 2; i < argc; i++) {
        const char **slot = strcmp(argv[i], "--state-root") == 0    ? &o.state_root
                            : strcmp(argv[i], "--prefix") == 0      ? &o.prefix
                            : strcmp(argv[i], "--drivers-dir") == 0 ? &o.drivers_dir
                                                                    : NULL;
        if (slot == NULL || i + 1 >= argc) {
            fprintf(stderr, "kumo-local: %s \"%s\"\n%s",
                    slot ? "option needs a value:" : "unknown option", argv[i], usage);
            return 2;
        }
        *slot = argv[++i];
    }
    return run(&o);
}
