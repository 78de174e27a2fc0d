/*
 * driver.c - the aws driver's entry point and table, connections (config,
 * credentials, the price file), the small name caches, and `control`.
 *
 * A connection is one account (access key) in one region. open checks the
 * config and credentials but calls nothing: the Connection controller's
 * probe (catalog_regions -> DescribeRegions) is the first signed call, so
 * wrong keys show as Ready=False with AWS's own code.
 */
#include "drivers/aws/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <libxml/parser.h>

const struct kumo_driver_host *aws_host;

void aws_log(int level, const char *fmt, ...)
{
    if (!aws_host->log_enabled(aws_host->ctx, level))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    aws_host->log(aws_host->ctx, level, "aws", line);
}

/* ---- Name caches ------------------------------------------------------------------ */

int aws_cache_get(struct kumo_driver_conn *c, struct aws_name **list, size_t *count,
                  const char *key, int by_id, char *out, size_t size)
{
    int found = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; !found && i < *count; i++)
        if (strcmp(by_id ? (*list)[i].id : (*list)[i].name, key) == 0) {
            snprintf(out, size, "%s", by_id ? (*list)[i].name : (*list)[i].id);
            found = 1;
        }
    pthread_mutex_unlock(&c->mu);
    return found;
}

void aws_cache_put(struct kumo_driver_conn *c, struct aws_name **list, size_t *count,
                   const char *name, const char *id)
{
    pthread_mutex_lock(&c->mu);
    size_t i = 0;
    while (i < *count && strcmp((*list)[i].name, name) != 0)
        i++;
    if (i == *count) {
        struct aws_name *grown = realloc(*list, (*count + 1) * sizeof(*grown));
        if (grown != NULL) {
            *list = grown;
            grown[i].name = strdup(name);
            grown[i].id = strdup(id);
            if (grown[i].name && grown[i].id)
                (*count)++;
            else {
                free(grown[i].name);
                free(grown[i].id);
            }
        }
    } else if (strcmp((*list)[i].id, id) != 0) {
        char *copy = strdup(id);
        if (copy != NULL) {
            free((*list)[i].id);
            (*list)[i].id = copy;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

static void names_free(struct aws_name *list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(list[i].name);
        free(list[i].id);
    }
    free(list);
}

/* ---- Prices ------------------------------------------------------------------------ */

double aws_price_of(const struct kumo_driver_conn *c, const char *type, const char **currency)
{
    for (size_t i = 0; i < c->price_count; i++)
        if (strcmp(c->prices[i].type, type) == 0) {
            *currency = c->prices[i].currency;
            return c->prices[i].price;
        }
    *currency = "USD";
    return 0;
}

/*
 * Reads the price file: one price per line, "REGION INSTANCE_TYPE PRICE
 * [CURRENCY]" separated by blanks, '#' starts a comment. Only this region's
 * rows are kept.
 */
static kumo_driver_code prices_load(struct kumo_driver_conn *c, const char *path,
                                    struct kumo_driver_diag *diag)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "aws config price_file=\"%s\": %s", path, strerror(errno));
    char line[512];
    int number = 0;
    kumo_driver_code rc = KUMO_DRIVER_OK;
    while (rc == KUMO_DRIVER_OK && fgets(line, sizeof(line), f) != NULL) {
        number++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char region[64], type[64], currency[8] = "USD", extra[2];
        double price;
        int n = sscanf(line, "%63s %63s %lf %7s %1s", region, type, &price, currency, extra);
        if (n <= 0)
            continue;
        if (n < 3 || n > 4 || price < 0) {
            rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                      "aws price_file %s line %d: expected \"REGION TYPE PRICE "
                                      "[CURRENCY]\"",
                                      path, number);
            break;
        }
        if (strcmp(region, c->region) != 0)
            continue;
        struct aws_price *grown = realloc(c->prices, (c->price_count + 1) * sizeof(*grown));
        if (grown == NULL) {
            rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory");
            break;
        }
        c->prices = grown;
        grown[c->price_count].type = strdup(type);
        grown[c->price_count].currency = strdup(currency);
        grown[c->price_count].price = price;
        c->price_count++;
    }
    fclose(f);
    return rc;
}

/* ---- Open and close ------------------------------------------------------------------ */

static void conn_free(struct kumo_driver_conn *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->idle_count; i++)
        curl_easy_cleanup(c->idle[i]);
    free(c->idle);
    for (size_t i = 0; i < c->price_count; i++) {
        free(c->prices[i].type);
        free(c->prices[i].currency);
    }
    free(c->prices);
    aws_batcher_fini(&c->by_token);
    aws_batcher_fini(&c->by_id);
    pthread_cond_destroy(&c->batch_cv);
    names_free(c->keys, c->key_count);
    names_free(c->images, c->image_count);
    names_free(c->roots, c->root_count);
    if (c->secret_key)
        memset(c->secret_key, 0, strlen(c->secret_key));
    if (c->session_token)
        memset(c->session_token, 0, strlen(c->session_token));
    free(c->connection);
    free(c->region);
    free(c->zone);
    free(c->url);
    free(c->host);
    free(c->elb_url);
    free(c->elb_host);
    free(c->access_key);
    free(c->secret_key);
    free(c->session_token);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* url and host of endpoint, or of the region's public endpoint of service (ec2,
 * elasticloadbalancing) when endpoint is empty. */
static kumo_driver_code endpoint_parse(const char *region, const char *service,
                                       const char *endpoint, char **url_out, char **host_out,
                                       struct kumo_driver_diag *diag)
{
    char url[512];
    if (endpoint == NULL || endpoint[0] == '\0')
        snprintf(url, sizeof(url), "https://%s.%s.amazonaws.com/", service, region);
    else
        snprintf(url, sizeof(url), "%s", endpoint);
    const char *rest = strstr(url, "://");
    if (rest == NULL || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
        rest[3] == '\0' || rest[3] == '/')
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "aws config %s endpoint=\"%s\": expected http://HOST[:PORT] "
                                    "or https://HOST[:PORT]",
                                    service, endpoint);
    char host[256];
    snprintf(host, sizeof(host), "%.*s", (int)strcspn(rest + 3, "/?#"), rest + 3);
    /* The Host header omits the scheme's default port, as botocore does. */
    size_t n = strlen(host);
    int https = url[4] == 's';
    if ((https && n > 4 && strcmp(host + n - 4, ":443") == 0) ||
        (!https && n > 3 && strcmp(host + n - 3, ":80") == 0))
        host[strrchr(host, ':') - host] = '\0';
    if (url[strlen(url) - 1] != '/' && strchr(rest + 3, '/') == NULL)
        strncat(url, "/", sizeof(url) - strlen(url) - 1);
    *url_out = strdup(url);
    *host_out = strdup(host);
    return *url_out && *host_out
               ? KUMO_DRIVER_OK
               : kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory");
}

/* EC2's endpoint, and ELBv2's: elb_endpoint, else the same override, else the region's. */
static kumo_driver_code endpoints_set(struct kumo_driver_conn *c, const char *endpoint,
                                      const char *elb_endpoint, struct kumo_driver_diag *diag)
{
    kumo_driver_code rc = endpoint_parse(c->region, "ec2", endpoint, &c->url, &c->host, diag);
    if (elb_endpoint == NULL || elb_endpoint[0] == '\0')
        elb_endpoint = endpoint;
    if (rc == KUMO_DRIVER_OK)
        rc = endpoint_parse(c->region, "elasticloadbalancing", elb_endpoint, &c->elb_url,
                            &c->elb_host, diag);
    return rc;
}

static const char *kv_get(const struct kumo_driver_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            return kv[i].value;
    return NULL;
}

static kumo_driver_code config_check(const struct kumo_driver_open_args *a,
                                     struct kumo_driver_diag *diag)
{
    static const char *const known[] = {"provider",           "region",          "zone",
                                        "endpoint",           "elb_endpoint",    "price_file",
                                        "connect_timeout_ms", "public_networks", NULL};
    for (size_t i = 0; i < a->config_count; i++) {
        const char *const *k = known;
        while (*k && strcmp(*k, a->config[i].key) != 0)
            k++;
        if (*k == NULL)
            return kumo_driver_kit_fail(
                diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                "Connection %s: aws config key \"%s\" is unknown; known "
                "keys: provider, region, zone, endpoint, elb_endpoint, price_file, "
                "connect_timeout_ms, public_networks",
                a->connection ? a->connection : "", a->config[i].key);
    }
    const char *provider = kv_get(a->config, a->config_count, "provider");
    if (provider && provider[0] && strcmp(provider, "aws") != 0)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "Connection %s: the aws driver serves provider \"aws\", not "
                                    "\"%s\"",
                                    a->connection ? a->connection : "", provider);
    const char *pub = kv_get(a->config, a->config_count, "public_networks");
    if (pub && strcmp(pub, "true") != 0 && strcmp(pub, "false") != 0)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "Connection %s: aws config public_networks=\"%s\": expected "
                                    "true or false",
                                    a->connection ? a->connection : "", pub);
    const char *region = kv_get(a->config, a->config_count, "region");
    if (region == NULL || region[0] == '\0')
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "Connection %s: spec.region is required (e.g. us-east-1)",
                                    a->connection ? a->connection : "");
    const char *key = kv_get(a->credentials, a->credential_count, "accessKeyId");
    const char *secret = kv_get(a->credentials, a->credential_count, "secretAccessKey");
    if (key == NULL || key[0] == '\0' || secret == NULL || secret[0] == '\0')
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_UNAUTHORIZED, "MissingAuthenticationToken",
                                    "Connection %s: the aws driver needs a Credential (type aws) "
                                    "with accessKeyId and secretAccessKey (optional "
                                    "sessionToken) in spec.credentialRef",
                                    a->connection ? a->connection : "");
    return KUMO_DRIVER_OK;
}

static kumo_driver_code aws_open(const struct kumo_driver_open_args *a,
                                 struct kumo_driver_conn **out, struct kumo_driver_diag *diag)
{
    *out = NULL;
    kumo_driver_code rc = config_check(a, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct kumo_driver_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory");
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->batch_cv, &ca);
    pthread_condattr_destroy(&ca);
    const char *zone = kv_get(a->config, a->config_count, "zone");
    const char *token = kv_get(a->credentials, a->credential_count, "sessionToken");
    const char *timeout = kv_get(a->config, a->config_count, "connect_timeout_ms");
    c->connection = strdup(a->connection ? a->connection : "");
    c->region = strdup(kv_get(a->config, a->config_count, "region"));
    c->zone = strdup(zone ? zone : "");
    c->access_key = strdup(kv_get(a->credentials, a->credential_count, "accessKeyId"));
    c->secret_key = strdup(kv_get(a->credentials, a->credential_count, "secretAccessKey"));
    c->session_token = strdup(token ? token : "");
    c->connect_timeout_ms = timeout ? strtol(timeout, NULL, 10) : 5000;
    if (c->connect_timeout_ms <= 0)
        c->connect_timeout_ms = 5000;
    const char *pub = kv_get(a->config, a->config_count, "public_networks");
    c->public_networks = pub && strcmp(pub, "true") == 0;
    if (!c->connection || !c->region || !c->zone || !c->access_key || !c->secret_key ||
        !c->session_token)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory");
    if (rc == KUMO_DRIVER_OK)
        rc = endpoints_set(c, kv_get(a->config, a->config_count, "endpoint"),
                           kv_get(a->config, a->config_count, "elb_endpoint"), diag);
    const char *prices = kv_get(a->config, a->config_count, "price_file");
    if (rc == KUMO_DRIVER_OK && prices && prices[0])
        rc = prices_load(c, prices, diag);
    if (rc != KUMO_DRIVER_OK) {
        conn_free(c);
        return rc;
    }
    *out = c;
    return KUMO_DRIVER_OK;
}

static void aws_close(struct kumo_driver_conn *c)
{
    conn_free(c);
}

/* ---- control ------------------------------------------------------------------------ */

static kumo_driver_code aws_control(struct kumo_driver_conn *c, const char *op, const char *json_in,
                                    char **json_out, struct kumo_driver_diag *diag)
{
    (void)json_in;
    *json_out = NULL;
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    if (strcmp(op, "stats") == 0) {
        kumo_driver_kit_buf_printf(&b,
                                   "{\"calls\":%ld,\"errors\":%ld,\"throttled\":%ld,"
                                   "\"bytesSent\":%ld,\"region\":",
                                   atomic_load(&c->calls), atomic_load(&c->errors),
                                   atomic_load(&c->throttled), atomic_load(&c->bytes_sent));
        kumo_driver_kit_buf_json_str(&b, c->region);
        kumo_driver_kit_buf_str(&b, ",\"endpoint\":");
        kumo_driver_kit_buf_json_str(&b, c->url);
        kumo_driver_kit_buf_str(&b, "}");
    } else if (strcmp(op, "reset_stats") == 0) {
        atomic_store(&c->calls, 0);
        atomic_store(&c->errors, 0);
        atomic_store(&c->throttled, 0);
        atomic_store(&c->bytes_sent, 0);
        kumo_driver_kit_buf_str(&b, "{}");
    } else {
        kumo_driver_kit_buf_fini(&b);
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_UNSUPPORTED, "",
                                    "aws control op \"%s\" is unknown; known: stats, reset_stats",
                                    op);
    }
    *json_out = b.failed ? NULL : kumo_driver_kit_pack_text(aws_host, b.data);
    kumo_driver_kit_buf_fini(&b);
    return *json_out ? KUMO_DRIVER_OK
                     : kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory");
}

/* ---- The table ----------------------------------------------------------------------- */

#define OPS(kind)                                                                                  \
    .kind##_observe = aws_##kind##_observe, .kind##_create = aws_##kind##_create,                  \
    .kind##_update = aws_##kind##_update, .kind##_delete = aws_##kind##_delete,                    \
    .kind##_list = aws_##kind##_list

static const struct kumo_driver table = {
    .abi_major = KUMO_DRIVER_ABI_MAJOR,
    .abi_minor = KUMO_DRIVER_ABI_MINOR,
    .struct_size = sizeof(struct kumo_driver),
    .name = "aws",
    .description = "Amazon EC2 (or an EC2-compatible endpoint) through the signed Query API",
    .capabilities =
        KUMO_DRIVER_CAP_MACHINES | KUMO_DRIVER_CAP_NETWORKS | KUMO_DRIVER_CAP_SECURITY_GROUPS |
        KUMO_DRIVER_CAP_KEY_PAIRS | KUMO_DRIVER_CAP_CATALOG | KUMO_DRIVER_CAP_CONTROL |
        KUMO_DRIVER_CAP_MACHINE_POWER | KUMO_DRIVER_CAP_AGENTS | KUMO_DRIVER_CAP_LOAD_BALANCERS,
    .open = aws_open,
    .close = aws_close,
    .catalog_regions = aws_catalog_regions,
    .catalog_instance_types = aws_catalog_instance_types,
    .catalog_images = aws_catalog_images,
    OPS(machine),
    OPS(network),
    OPS(security_group),
    OPS(key_pair),
    .control = aws_control,
    OPS(load_balancer),
};

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
}

__attribute__((visibility("default"))) const struct kumo_driver *
kumo_driver_entry(const struct kumo_driver_host *host)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    aws_host = host;
    pthread_once(&once, global_init);
    return &table;
}
