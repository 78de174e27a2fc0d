/* helpers.c - see helpers.h. */
#include "tests/drivers/helpers.h"
#include "tests/harness/test.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void fixture_load(struct fixture *f)
{
    fixture_load_driver(f, "sim");
}

void fixture_load_driver(struct fixture *f, const char *name)
{
    char dir[512];
    kumo_diag diag;
    memset(f, 0, sizeof(*f));
    kumo_diag_init(&diag);
    kumo_test_build_path("lib/kumo/drivers", dir, sizeof(dir));
    kumo_error err = kumo_driver_load(dir, name, &f->handle, &diag);
    if (err != KUMO_ERROR_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "loading the %s driver: %s", name, diag.message);
    kumo_diag_fini(&diag);
    f->drv = kumo_driver_table(f->handle);
    f->host = kumo_driver_host_of(f->handle);
    snprintf(f->dir, sizeof(f->dir), "%s", kumo_test_tmpdir());
    snprintf(f->state, sizeof(f->state), "%s/cloud.state", f->dir);
}

void fixture_unload(struct fixture *f)
{
    kumo_driver_unload(f->handle);
    f->handle = NULL;
}

kumo_driver_code fixture_try_open(struct fixture *f, const char *config,
                                  struct kumo_driver_conn **out, struct kumo_driver_diag *diag)
{
    char text[2048];
    struct kumo_driver_kv kv[40];
    size_t n = 0;
    int has_state = 0;
    snprintf(text, sizeof(text), "%s", config ? config : "");
    char *save = NULL;
    for (char *item = strtok_r(text, ";", &save); item && n < 39;
         item = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(item, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        kv[n].key = item;
        kv[n].value = eq + 1;
        has_state |= strcmp(item, "state") == 0;
        n++;
    }
    if (!has_state) {
        kv[n].key = "state";
        kv[n].value = f->state;
        n++;
    }
    struct kumo_driver_kv cred[1] = {{"secret_key", "s3cret"}};
    struct kumo_driver_open_args args = {sizeof(args), "test/sim", kv, n, cred, 1};
    return f->drv->open(&args, out, diag);
}

struct kumo_driver_conn *fixture_open(struct fixture *f, const char *config)
{
    struct kumo_driver_conn *conn = NULL;
    struct kumo_driver_diag diag;
    memset(&diag, 0, sizeof(diag));
    kumo_driver_code rc = fixture_try_open(f, config, &conn, &diag);
    if (rc != KUMO_DRIVER_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "open(%s): %s: %s", config, diag.cloud_code,
                        diag.message);
    return conn;
}

int64_t deadline_in(const struct kumo_driver_host *host, double seconds)
{
    return host->monotonic_ns(host->ctx) + (int64_t)(seconds * 1e9);
}

char *fixture_control(struct fixture *f, struct kumo_driver_conn *conn, const char *op,
                      const char *json)
{
    char *out = NULL;
    struct kumo_driver_diag diag;
    memset(&diag, 0, sizeof(diag));
    kumo_driver_code rc = f->drv->control(conn, op, json, &out, &diag);
    if (rc != KUMO_DRIVER_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "control(%s, %s): %s", op, json ? json : "",
                        diag.message);
    return out;
}

double json_number(const char *json, const char *key)
{
    char pattern[128];
    snprintf(pattern, sizeof(pattern), "\"%s\":", key);
    const char *p = json ? strstr(json, pattern) : NULL;
    return p ? strtod(p + strlen(pattern), NULL) : -1;
}

int count_of(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *p = haystack; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

struct kumo_driver_machine *create_machine(struct fixture *f, struct kumo_driver_conn *conn,
                                           const char *token)
{
    struct kumo_driver_machine_spec spec;
    struct kumo_driver_machine *m = NULL;
    struct kumo_driver_diag diag;
    memset(&spec, 0, sizeof(spec));
    memset(&diag, 0, sizeof(diag));
    spec.struct_size = sizeof(spec);
    spec.name = token;
    spec.instance_type = "t3.micro";
    spec.image = "ubuntu-22.04";
    kumo_driver_code rc =
        f->drv->machine_create(conn, &spec, token, deadline_in(f->host, 10), &m, &diag);
    if (rc != KUMO_DRIVER_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "machine_create(%s): %s: %s", token, diag.cloud_code,
                        diag.message);
    return m;
}

void sleep_seconds(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
}
