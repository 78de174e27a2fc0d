/*
 * loader.c - dlopen a driver, check its table, map its codes.
 *
 * Invariant: a handle exists only for a table that passed every check, so
 * callers never re-check the ABI. The code mapping is a switch over
 * kumo_driver_code so the compiler flags a code added without a mapping.
 */
#include "drivers/loader/loader.h"
#include "apis/log/log.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct kumo_driver_handle {
    void *dl;
    const struct kumo_driver *table;
    const struct kumo_driver_host *host;
    char path[4096];
};

/* ---- The default host --------------------------------------------------- */

static void *host_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size == 0 ? 1 : size);
}

static void *host_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    return realloc(ptr, size == 0 ? 1 : size);
}

static void host_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

static kumo_log_level log_level_of(int level)
{
    switch (level) {
    case KUMO_DRIVER_LOG_DEBUG:
        return KUMO_LOG_LEVEL_DEBUG;
    case KUMO_DRIVER_LOG_INFO:
        return KUMO_LOG_LEVEL_INFO;
    case KUMO_DRIVER_LOG_WARN:
        return KUMO_LOG_LEVEL_WARN;
    default:
        return KUMO_LOG_LEVEL_ERROR;
    }
}

static int host_log_enabled(void *ctx, int level)
{
    (void)ctx;
    return KUMO_LOG_ENABLED(log_level_of(level));
}

static void host_log(void *ctx, int level, const char *driver, const char *message)
{
    (void)ctx;
    KUMO_LOG_(log_level_of(level), "driver", message, "driver=%s", driver ? driver : "?");
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t host_monotonic_ns(void *ctx)
{
    (void)ctx;
    return clock_ns(CLOCK_MONOTONIC);
}

static int64_t host_realtime_ns(void *ctx)
{
    (void)ctx;
    return clock_ns(CLOCK_REALTIME);
}

static const struct kumo_driver_host default_host = {
    .abi_major = KUMO_DRIVER_ABI_MAJOR,
    .abi_minor = KUMO_DRIVER_ABI_MINOR,
    .struct_size = sizeof(struct kumo_driver_host),
    .ctx = NULL,
    .mem_alloc = host_alloc,
    .mem_realloc = host_realloc,
    .mem_free = host_free,
    .log_enabled = host_log_enabled,
    .log = host_log,
    .monotonic_ns = host_monotonic_ns,
    .realtime_ns = host_realtime_ns,
};

const struct kumo_driver_host *kumo_driver_default_host(void)
{
    return &default_host;
}

/* ---- Loading ------------------------------------------------------------ */

static int name_is_valid(const char *name)
{
    if (name == NULL || name[0] == '\0' || strlen(name) > 64)
        return 0;
    for (const char *p = name; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '-' || *p == '_';
        if (!ok)
            return 0;
    }
    return 1;
}

int kumo_driver_has_load_balancers(const struct kumo_driver *d)
{
    return d != NULL && (d->capabilities & KUMO_DRIVER_CAP_LOAD_BALANCERS) && d->abi_minor >= 2 &&
           d->struct_size >= KUMO_DRIVER_SIZE_1_2 && d->load_balancer_observe != NULL;
}

/* The table's size an ABI 1.minor driver must at least have. */
static size_t minimum_size(uint32_t minor)
{
    /* 1.1 grew the machine spec, not the table; 1.2 appended the load balancer ops. */
    return minor >= 2 ? KUMO_DRIVER_SIZE_1_2 : KUMO_DRIVER_SIZE_1_0;
}

/* Returns the name of the first op a capability promises but the table lacks. */
static const char *missing_op(const struct kumo_driver *t)
{
#define KUMO_CHECK_OP(op)                                                                          \
    if (t->op == NULL)                                                                             \
        return #op;
#define KUMO_CHECK_RESOURCE(kind)                                                                  \
    KUMO_CHECK_OP(kind##_observe)                                                                  \
    KUMO_CHECK_OP(kind##_create)                                                                   \
    KUMO_CHECK_OP(kind##_update) KUMO_CHECK_OP(kind##_delete) KUMO_CHECK_OP(kind##_list)
    KUMO_CHECK_OP(open)
    KUMO_CHECK_OP(close)
    if (t->capabilities & KUMO_DRIVER_CAP_CATALOG) {
        KUMO_CHECK_OP(catalog_regions)
        KUMO_CHECK_OP(catalog_instance_types)
        KUMO_CHECK_OP(catalog_images)
    }
    if (t->capabilities & KUMO_DRIVER_CAP_MACHINES) {
        KUMO_CHECK_RESOURCE(machine)
    }
    if (t->capabilities & KUMO_DRIVER_CAP_NETWORKS) {
        KUMO_CHECK_RESOURCE(network)
    }
    if (t->capabilities & KUMO_DRIVER_CAP_SECURITY_GROUPS) {
        KUMO_CHECK_RESOURCE(security_group)
    }
    if (t->capabilities & KUMO_DRIVER_CAP_KEY_PAIRS) {
        KUMO_CHECK_RESOURCE(key_pair)
    }
    if (t->capabilities & KUMO_DRIVER_CAP_CONTROL) {
        KUMO_CHECK_OP(control)
    }
    if (t->capabilities & KUMO_DRIVER_CAP_LOAD_BALANCERS) {
        if (t->abi_minor < 2 || t->struct_size < KUMO_DRIVER_SIZE_1_2)
            return "load_balancer_observe (the table predates ABI 1.2)";
        KUMO_CHECK_RESOURCE(load_balancer)
    }
#undef KUMO_CHECK_RESOURCE
#undef KUMO_CHECK_OP
    return NULL;
}

static kumo_error check_table(const struct kumo_driver *t, const char *name, const char *path,
                              kumo_diag *diag)
{
    if (t->abi_major != KUMO_DRIVER_ABI_MAJOR)
        return kumo_diag_set(diag, KUMO_ERROR_FORMAT,
                             "driver %s: wrong driver ABI version: the driver was built for ABI "
                             "%u.%u but this kumo speaks ABI %d.%d; rebuild the driver against "
                             "this kumo's drivers/driver.h",
                             path, t->abi_major, t->abi_minor, KUMO_DRIVER_ABI_MAJOR,
                             KUMO_DRIVER_ABI_MINOR);
    if (t->struct_size < minimum_size(t->abi_minor))
        return kumo_diag_set(diag, KUMO_ERROR_FORMAT,
                             "driver %s: truncated driver table: struct_size %zu is smaller than "
                             "the %zu bytes ABI %u.%u requires",
                             path, t->struct_size, minimum_size(t->abi_minor), t->abi_major,
                             t->abi_minor);
    if (t->name == NULL || strcmp(t->name, name) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_FORMAT,
                             "driver %s: the table names the driver \"%s\", expected \"%s\"", path,
                             t->name ? t->name : "(null)", name);
    const char *missing = missing_op(t);
    if (missing != NULL)
        return kumo_diag_set(diag, KUMO_ERROR_FORMAT,
                             "driver %s: operation %s is missing although the capability bits "
                             "promise it",
                             path, missing);
    return KUMO_ERROR_OK;
}

kumo_error kumo_driver_load_with_host(const char *dir, const char *name,
                                      const struct kumo_driver_host *host, kumo_driver_handle **out,
                                      kumo_diag *diag)
{
    if (out == NULL || dir == NULL || host == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "kumo_driver_load: NULL argument");
    *out = NULL;
    if (!name_is_valid(name))
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "driver name \"%s\" is invalid: expected 1 to 64 letters, digits, "
                             "'-' or '_'",
                             name ? name : "(null)");
    kumo_driver_handle *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "loading driver %s: out of memory", name);
    int n = snprintf(h->path, sizeof(h->path), "%s/%s%s%s", dir, KUMO_DRIVER_FILE_PREFIX, name,
                     KUMO_DRIVER_FILE_SUFFIX);
    kumo_error rc = KUMO_ERROR_OK;
    struct stat st;
    if (n < 0 || (size_t)n >= sizeof(h->path)) {
        rc = kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "driver directory path too long");
        goto err;
    }
    if (stat(h->path, &st) != 0) {
        rc = kumo_diag_set_foreign(diag, KUMO_ERROR_NOT_FOUND, "errno", errno,
                                   "driver \"%s\" not found: %s: %s (drivers are looked up in %s; "
                                   "is the driver built and installed there?)",
                                   name, h->path, strerror(errno), dir);
        goto err;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = kumo_diag_set(diag, KUMO_ERROR_FORMAT, "driver %s is not a regular file", h->path);
        goto err;
    }
    dlerror();
    h->dl = dlopen(h->path, RTLD_NOW | RTLD_LOCAL);
    if (h->dl == NULL) {
        const char *why = dlerror();
        rc = kumo_diag_set(diag, KUMO_ERROR_FORMAT, "driver %s is not a loadable shared object: %s",
                           h->path, why ? why : "dlopen failed");
        goto err;
    }
    dlerror();
    void *sym = dlsym(h->dl, KUMO_DRIVER_ENTRY_SYMBOL);
    if (sym == NULL) {
        const char *why = dlerror();
        rc = kumo_diag_set(diag, KUMO_ERROR_FORMAT,
                           "driver %s has no entry symbol %s (%s); a driver must export "
                           "'const struct kumo_driver *%s(const struct kumo_driver_host *)'",
                           h->path, KUMO_DRIVER_ENTRY_SYMBOL, why ? why : "not found",
                           KUMO_DRIVER_ENTRY_SYMBOL);
        goto err;
    }
    kumo_driver_entry_fn entry;
    memcpy(&entry, &sym, sizeof(entry)); /* object pointer to function pointer, POSIX-style */
    h->host = host;
    h->table = entry(host);
    if (h->table == NULL) {
        rc = kumo_diag_set(diag, KUMO_ERROR_FORMAT,
                           "driver %s: %s returned no table (the driver refused host ABI %d.%d)",
                           h->path, KUMO_DRIVER_ENTRY_SYMBOL, KUMO_DRIVER_ABI_MAJOR,
                           KUMO_DRIVER_ABI_MINOR);
        goto err;
    }
    rc = check_table(h->table, name, h->path, diag);
    if (rc != KUMO_ERROR_OK)
        goto err;
    KUMO_LOG_DEBUG("driver", "driver loaded", "driver=%s path=%s abi=%u.%u", name, h->path,
                   h->table->abi_major, h->table->abi_minor);
    *out = h;
    return KUMO_ERROR_OK;
err:
    if (h->dl != NULL)
        dlclose(h->dl);
    free(h);
    return rc;
}

kumo_error kumo_driver_load(const char *dir, const char *name, kumo_driver_handle **out,
                            kumo_diag *diag)
{
    return kumo_driver_load_with_host(dir, name, &default_host, out, diag);
}

void kumo_driver_unload(kumo_driver_handle *handle)
{
    if (handle == NULL)
        return;
    dlclose(handle->dl);
    free(handle);
}

const struct kumo_driver *kumo_driver_table(const kumo_driver_handle *handle)
{
    return handle->table;
}

const struct kumo_driver_host *kumo_driver_host_of(const kumo_driver_handle *handle)
{
    return handle->host;
}

const char *kumo_driver_path(const kumo_driver_handle *handle)
{
    return handle->path;
}

/* ---- Codes -------------------------------------------------------------- */

const char *kumo_driver_code_name(kumo_driver_code code)
{
    switch (code) {
    case KUMO_DRIVER_OK:
        return "OK";
    case KUMO_DRIVER_NOT_FOUND:
        return "NOT_FOUND";
    case KUMO_DRIVER_ALREADY_EXISTS:
        return "ALREADY_EXISTS";
    case KUMO_DRIVER_INVALID:
        return "INVALID";
    case KUMO_DRIVER_THROTTLED:
        return "THROTTLED";
    case KUMO_DRIVER_CAPACITY:
        return "CAPACITY";
    case KUMO_DRIVER_QUOTA:
        return "QUOTA";
    case KUMO_DRIVER_UNAUTHORIZED:
        return "UNAUTHORIZED";
    case KUMO_DRIVER_UNAVAILABLE:
        return "UNAVAILABLE";
    case KUMO_DRIVER_TIMEOUT:
        return "TIMEOUT";
    case KUMO_DRIVER_INTERNAL:
        return "INTERNAL";
    case KUMO_DRIVER_UNSUPPORTED:
        return "UNSUPPORTED";
    case KUMO_DRIVER_CONFLICT:
        return "CONFLICT";
    case KUMO_DRIVER_NOMEM:
        return "NOMEM";
    case KUMO_DRIVER_CODE_COUNT_:
        break;
    }
    return "UNKNOWN";
}

kumo_error kumo_driver_error_of(kumo_driver_code code)
{
    switch (code) {
    case KUMO_DRIVER_OK:
        return KUMO_ERROR_OK;
    case KUMO_DRIVER_NOT_FOUND:
        return KUMO_ERROR_NOT_FOUND;
    case KUMO_DRIVER_ALREADY_EXISTS:
        return KUMO_ERROR_ALREADY_EXISTS;
    case KUMO_DRIVER_INVALID:
        return KUMO_ERROR_INVALID_ARGUMENT;
    case KUMO_DRIVER_THROTTLED:
        return KUMO_ERROR_THROTTLED;
    case KUMO_DRIVER_CAPACITY:
        return KUMO_ERROR_CAPACITY;
    case KUMO_DRIVER_QUOTA:
        return KUMO_ERROR_QUOTA;
    case KUMO_DRIVER_UNAUTHORIZED:
        return KUMO_ERROR_UNAUTHORIZED;
    case KUMO_DRIVER_UNAVAILABLE:
        return KUMO_ERROR_UNAVAILABLE;
    case KUMO_DRIVER_TIMEOUT:
        return KUMO_ERROR_TIMEOUT;
    case KUMO_DRIVER_INTERNAL:
        return KUMO_ERROR_INTERNAL;
    case KUMO_DRIVER_UNSUPPORTED:
        return KUMO_ERROR_UNSUPPORTED;
    case KUMO_DRIVER_CONFLICT:
        return KUMO_ERROR_CONFLICT;
    case KUMO_DRIVER_NOMEM:
        return KUMO_ERROR_NOMEM;
    case KUMO_DRIVER_CODE_COUNT_:
        break;
    }
    return KUMO_ERROR_INTERNAL; /* a code this kumo does not know */
}

kumo_error kumo_driver_diag_to_kumo(kumo_driver_code code, const struct kumo_driver_diag *ddiag,
                                    const char *driver, const char *op, kumo_diag *diag)
{
    kumo_error err = kumo_driver_error_of(code);
    if (err == KUMO_ERROR_OK)
        return err;
    const char *cloud =
        ddiag && ddiag->cloud_code[0] ? ddiag->cloud_code : kumo_driver_code_name(code);
    const char *text = ddiag && ddiag->message[0] ? ddiag->message : kumo_error_text(err);
    /* The fixed buffers may come from a driver that forgot the terminator. */
    return kumo_diag_set_foreign(diag, err, "driver", (long)code, "%s %s: %.64s: %.512s",
                                 driver ? driver : "driver", op ? op : "call", cloud, text);
}
