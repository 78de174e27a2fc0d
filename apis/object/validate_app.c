/*
 * validate_app.c - spec rules of the kinds that describe workloads and
 * traffic: App, LoadBalancer, Migration.
 *
 * docs/api-objects.md §3 is the reference; each function follows its kind's
 * table in order. The ctx path is "spec" on entry.
 */
#include "apis/object/validate.h"

#include <stdio.h>
#include <string.h>

#include "apis/kumo/v1alpha1/app.pb-c.h"
#include "apis/kumo/v1alpha1/loadbalancer.pb-c.h"
#include "apis/kumo/v1alpha1/migration.pb-c.h"

#define LISTENER_PROTOCOL(name) KUMO__V1ALPHA1__LOAD_BALANCER_LISTENER__PROTOCOL__##name
#define AFFINITY(name)          KUMO__V1ALPHA1__SESSION_AFFINITY__TYPE__##name

enum {
    COMPONENTS_MAX = 32,
    FILES_MAX = 32,
    FILES_CONTENT_MAX = 256 * 1024,
    LISTENERS_MAX = 16,
    BACKENDS_MAX = 64,
    ADDRESSES_MAX = 64,
    CUTOVER_STEPS_MAX = 20,
    SECONDS_PER_DAY = 86400,
};

/* Every character of s is in `set` (and s is not empty). */
static int all_of(const char *s, const char *set)
{
    return s[0] != '\0' && strspn(s, set) == strlen(s);
}

static const char digits[] = "0123456789";

/* ---- App ------------------------------------------------------------------- */

/* Whether a path has a ".." segment ("../x", "a/../b", ".."). */
static int has_parent_segment(const char *path)
{
    for (const char *segment = path;;) {
        size_t n = strcspn(segment, "/");
        if (n == 2 && segment[0] == '.' && segment[1] == '.')
            return 1;
        if (segment[n] == '\0')
            return 0;
        segment += n + 1;
    }
}

static void app_file(rule_ctx *v, const void *item, const void *context)
{
    const Kumo__V1alpha1__AppFile *file = item;
    (void)context;
    if (rule_require_string(v, "path", file->path) && has_parent_segment(file->path))
        rule_invalid_string(v, "path", file->path, "must not contain a '..' segment");
    const char *mode = file->mode;
    size_t len = strlen(mode);
    if (len > 0 && !((len == 3 || (len == 4 && mode[0] == '0')) && all_of(mode, "01234567")))
        rule_invalid_string(v, "mode", mode, "must be an octal mode like \"0644\"");
}

static const char *file_path_key(const void *item, char *buf, size_t size)
{
    const Kumo__V1alpha1__AppFile *file = item;
    return rule_key_string(file->path, buf, size);
}

static void app_files(rule_ctx *v, const Kumo__V1alpha1__AppComponent *component)
{
    size_t total = 0;
    rule_max_items(v, "files", component->n_files, FILES_MAX);
    rule_each(v, "files", (const void *const *)component->files, component->n_files, app_file,
              NULL);
    rule_unique(v, "files", (const void *const *)component->files, component->n_files, "path",
                file_path_key);
    for (size_t i = 0; i < component->n_files; i++)
        total += strlen(component->files[i]->content);
    if (total > FILES_CONTENT_MAX)
        rule_add(v, KUMO_CAUSE_TOO_LONG, "files", NULL,
                 "contents must have at most %d bytes in total", FILES_CONTENT_MAX);
}

static void env_var(rule_ctx *v, const void *item, const void *context)
{
    const Kumo__V1alpha1__AppEnvVar *env = item;
    static const char first[] = "_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (void)context;
    if (rule_require_string(v, "name", env->name) &&
        (strchr(first, env->name[0]) == NULL ||
         strspn(env->name, "_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") !=
             strlen(env->name)))
        rule_invalid_string(v, "name", env->name,
                            "must consist of letters, digits and '_', and must not start with a "
                            "digit (regex '[A-Za-z_][A-Za-z0-9_]*')");
}

static void app_port(rule_ctx *v, const void *item, const void *context)
{
    const Kumo__V1alpha1__AppPort *port = item;
    (void)context;
    rule_dns_label(v, "name", port->name, 0);
    rule_port(v, "port", port->port, 0);
}

/* (port, protocol) of an App port: "8080/TCP", the default protocol spelled out. */
static const char *port_protocol_key(const void *item, char *buf, size_t size)
{
    const Kumo__V1alpha1__AppPort *port = item;
    int protocol = port->protocol ? (int)port->protocol : KUMO__V1ALPHA1__APP_PORT__PROTOCOL__TCP;
    if (port->port == 0)
        return NULL;
    snprintf(buf, size, "%d/%s", port->port,
             rule_enum_name(&kumo__v1alpha1__app_port__protocol__descriptor, protocol));
    return buf;
}

static void app_component(rule_ctx *v, const void *item, const void *context)
{
    static const char *const schemes[] = {"http://", "https://", "file://", NULL};
    const Kumo__V1alpha1__AppComponent *component = item;
    (void)context;
    rule_dns_label(v, "name", component->name, 1);
    const Kumo__V1alpha1__AppArtifact *artifact = component->artifact;
    if (artifact != NULL) {
        size_t mark = rule_enter(v, "artifact");
        if (rule_require_string(v, "url", artifact->url))
            rule_url(v, "url", artifact->url, schemes);
        if (!rule_empty(artifact->sha256) &&
            !(strlen(artifact->sha256) == 64 && all_of(artifact->sha256, "0123456789abcdefABCDEF")))
            rule_invalid_string(v, "sha256", artifact->sha256, "must be 64 hexadecimal characters");
        rule_leave(v, mark);
    }
    app_files(v, component);
    rule_argv(v, "command", component->command, component->n_command);
    rule_named_items(v, "env", (const void *const *)component->env, component->n_env, env_var,
                     NULL);
    if (!rule_empty(component->working_dir) && component->working_dir[0] != '/')
        rule_invalid_string(v, "workingDir", component->working_dir, "must be an absolute path");
    rule_named_items(v, "ports", (const void *const *)component->ports, component->n_ports,
                     app_port, NULL);
    rule_unique(v, "ports", (const void *const *)component->ports, component->n_ports, NULL,
                port_protocol_key);
    rule_health_check(v, "healthCheck", component->health_check, RULE_HEALTH_APP);
    if (component->replicas_present_case ==
        KUMO__V1ALPHA1__APP_COMPONENT__REPLICAS_PRESENT_REPLICAS)
        rule_int_range(v, "replicas", component->replicas, 0, 64);
    if (component->resources != NULL) {
        size_t mark = rule_enter(v, "resources");
        rule_int_range(v, "cpuMillis", component->resources->cpu_millis, 0, INT32_MAX);
        rule_int_range(v, "memoryMib", component->resources->memory_mib, 0, INT32_MAX);
        rule_leave(v, mark);
    }
}

/* "1", "3", "25%": an integer >= 1 or a percentage 1%..100%. */
static void max_unavailable(rule_ctx *v, const char *s)
{
    size_t len = strlen(s);
    if (len == 0)
        return;
    int percent = s[len - 1] == '%';
    size_t n = len - (size_t)percent;
    long value = 0;
    int ok = n >= 1 && n <= 7 && s[0] != '0' && strspn(s, digits) == n;
    for (size_t i = 0; ok && i < n; i++)
        value = value * 10 + (s[i] - '0');
    if (ok && (!percent || value <= 100))
        return;
    rule_invalid_string(v, "maxUnavailable", s,
                        "must be an integer of at least 1 (e.g. \"1\") or a percentage from "
                        "\"1%%\" to \"100%%\"");
}

void rule_app_spec(rule_ctx *v, const ProtobufCMessage *message)
{
    const Kumo__V1alpha1__AppSpec *spec = (const Kumo__V1alpha1__AppSpec *)message;
    rule_reference(v, "infraRef", spec->infra_ref, 1);
    const Kumo__V1alpha1__AppTarget *target = spec->target;
    if (target != NULL) {
        size_t mark = rule_enter(v, "target");
        rule_dns_label(v, "group", target->group, 0);
        if (!rule_empty(target->group) && target->selector != NULL)
            rule_forbidden(v, "selector", "may not be set together with group");
        rule_label_selector(v, "selector", target->selector);
        rule_leave(v, mark);
    }
    rule_items_between(v, "components", spec->n_components, 1, COMPONENTS_MAX);
    rule_named_items(v, "components", (const void *const *)spec->components, spec->n_components,
                     app_component, NULL);
    if (spec->rolling_update != NULL) {
        size_t mark = rule_enter(v, "rollingUpdate");
        max_unavailable(v, spec->rolling_update->max_unavailable);
        rule_leave(v, mark);
    }
}

/* ---- LoadBalancer ---------------------------------------------------------- */

static int listener_protocol(const Kumo__V1alpha1__LoadBalancerListener *listener)
{
    return listener->protocol ? (int)listener->protocol : LISTENER_PROTOCOL(TCP);
}

static void listener(rule_ctx *v, const void *item, const void *context)
{
    const Kumo__V1alpha1__LoadBalancerListener *l = item;
    (void)context;
    rule_dns_label(v, "name", l->name, 1);
    rule_port(v, "port", l->port, 0);
    if (listener_protocol(l) == LISTENER_PROTOCOL(HTTPS)) {
        if (l->tls_credential_ref == NULL)
            rule_required(v, "tlsCredentialRef", "HTTPS listeners need a Credential of type tls");
        rule_reference(v, "tlsCredentialRef", l->tls_credential_ref, 0);
    } else if (l->tls_credential_ref != NULL) {
        rule_forbidden(v, "tlsCredentialRef", "may only be set for HTTPS listeners");
    }
}

static const char *listener_port_key(const void *item, char *buf, size_t size)
{
    const Kumo__V1alpha1__LoadBalancerListener *l = item;
    if (l->port == 0)
        return NULL;
    snprintf(buf, size, "%d", l->port);
    return buf;
}

static void backend_address(rule_ctx *v, const char *address)
{
    uint32_t ip;
    int dotted_numbers = all_of(address, "0123456789.");
    if (dotted_numbers ? rule_parse_ipv4(address, strlen(address), &ip)
                       : rule_host_name_valid(address))
        return;
    rule_invalid_string(v, NULL, address, "must be an IPv4 address or a DNS host name");
}

static int spec_has_listener(const Kumo__V1alpha1__LoadBalancerSpec *spec, const char *name)
{
    for (size_t i = 0; i < spec->n_listeners; i++)
        if (strcmp(spec->listeners[i]->name, name) == 0)
            return 1;
    return 0;
}

/* The parts of a backend that say where its endpoints are. */
static void backend_endpoints(rule_ctx *v, const Kumo__V1alpha1__LoadBalancerBackend *b)
{
    int has_app = b->app_ref != NULL, has_addresses = b->n_addresses > 0;
    if (has_app && has_addresses)
        rule_forbidden(v, "addresses", "may not be set together with appRef");
    else if (!has_app && !has_addresses)
        rule_required(v, NULL, "either appRef or addresses");
    rule_reference(v, "appRef", b->app_ref, 0);
    if (has_app)
        rule_dns_label(v, "component", b->component, 1);
    else
        rule_forbid_string(v, "component", b->component, "together with appRef");
    rule_port(v, "port", b->port, !has_addresses || has_app);
    rule_max_items(v, "addresses", b->n_addresses, ADDRESSES_MAX);
    for (size_t i = 0; i < b->n_addresses; i++) {
        size_t mark = rule_enter_index(v, "addresses", i);
        backend_address(v, b->addresses[i]);
        rule_leave(v, mark);
    }
    rule_unique(v, "addresses", (const void *const *)b->addresses, b->n_addresses, NULL,
                rule_key_string);
}

/* context: the LoadBalancerSpec, whose listeners a backend may name. */
static void backend(rule_ctx *v, const void *item, const void *context)
{
    const Kumo__V1alpha1__LoadBalancerBackend *b = item;
    const Kumo__V1alpha1__LoadBalancerSpec *spec = context;
    rule_dns_label(v, "name", b->name, 1);
    backend_endpoints(v, b);
    if (b->weight_present_case == KUMO__V1ALPHA1__LOAD_BALANCER_BACKEND__WEIGHT_PRESENT_WEIGHT)
        rule_int_range(v, "weight", b->weight, 0, 1000);
    rule_int_range(v, "priority", b->priority, 0, 1000);
    if (b->app_ref == NULL && b->machine_selector != NULL)
        rule_forbidden(v, "machineSelector", "may only be set together with appRef");
    if (b->app_ref == NULL)
        rule_forbid_string(v, "machineConnection", b->machine_connection, "together with appRef");
    rule_label_selector(v, "machineSelector", b->machine_selector);
    rule_object_name(v, "machineConnection", b->machine_connection, 0);
    rule_string_list(v, "drain", b->drain, b->n_drain);
    rule_string_list(v, "listeners", b->listeners, b->n_listeners);
    for (size_t i = 0; i < b->n_listeners; i++) {
        if (rule_empty(b->listeners[i]) || spec_has_listener(spec, b->listeners[i]))
            continue;
        char quoted[RULE_VALUE_MAX + 16];
        size_t mark = rule_enter_index(v, "listeners", i);
        rule_add(v, KUMO_CAUSE_NOT_FOUND, NULL, rule_quote(b->listeners[i], quoted, sizeof(quoted)),
                 "must name a listener in spec.listeners");
        rule_leave(v, mark);
    }
}

static void session_affinity(rule_ctx *v, const Kumo__V1alpha1__LoadBalancerSpec *spec)
{
    const Kumo__V1alpha1__SessionAffinity *affinity = spec->session_affinity;
    if (affinity == NULL)
        return;
    size_t mark = rule_enter(v, "sessionAffinity");
    int cookie = affinity->type == AFFINITY(Cookie);
    for (size_t i = 0; cookie && i < spec->n_listeners; i++) {
        if (listener_protocol(spec->listeners[i]) == LISTENER_PROTOCOL(TCP)) {
            rule_invalid_string(v, "type", "Cookie",
                                "needs every listener to be HTTP or HTTPS (spec.listeners[%zu] is "
                                "TCP)",
                                i);
            break;
        }
    }
    rule_int_range_or_zero(v, "timeoutSeconds", affinity->timeout_seconds, 1, SECONDS_PER_DAY);
    const char *name = affinity->cookie_name;
    if (!cookie)
        rule_forbid_string(v, "cookieName", name, "for Cookie affinity");
    else if (!rule_empty(name) && rule_max_bytes(v, "cookieName", name, 64) &&
             !all_of(name, "-_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))
        rule_invalid_string(v, "cookieName", name,
                            "must consist of alphanumeric characters, '-' or '_'");
    rule_leave(v, mark);
}

void rule_load_balancer_spec(rule_ctx *v, const ProtobufCMessage *message)
{
    const Kumo__V1alpha1__LoadBalancerSpec *spec =
        (const Kumo__V1alpha1__LoadBalancerSpec *)message;
    rule_object_name(v, "connection", spec->connection, 0);
    rule_items_between(v, "listeners", spec->n_listeners, 1, LISTENERS_MAX);
    rule_named_items(v, "listeners", (const void *const *)spec->listeners, spec->n_listeners,
                     listener, NULL);
    rule_unique(v, "listeners", (const void *const *)spec->listeners, spec->n_listeners, "port",
                listener_port_key);
    rule_items_between(v, "backends", spec->n_backends, 1, BACKENDS_MAX);
    rule_named_items(v, "backends", (const void *const *)spec->backends, spec->n_backends, backend,
                     spec);
    rule_health_check(v, "healthCheck", spec->health_check, RULE_HEALTH_LOADBALANCER);
    rule_int_range(v, "drainTimeoutSeconds", spec->drain_timeout_seconds, 0, 3600);
    session_affinity(v, spec);
}

/* ---- Migration ------------------------------------------------------------- */

static void migration_source(rule_ctx *v, const Kumo__V1alpha1__MigrationSource *source)
{
    if (source == NULL) {
        rule_required(v, "source", "either infraRef and group, or appRef");
        return;
    }
    size_t mark = rule_enter(v, "source");
    int has_group = source->infra_ref != NULL || !rule_empty(source->group);
    if (has_group && source->app_ref != NULL)
        rule_forbidden(v, "appRef", "may not be set together with infraRef and group");
    else if (!has_group && source->app_ref == NULL)
        rule_required(v, NULL, "either infraRef and group, or appRef");
    if (has_group) {
        rule_reference(v, "infraRef", source->infra_ref, 1);
        rule_dns_label(v, "group", source->group, 1);
    }
    rule_reference(v, "appRef", source->app_ref, 0);
    rule_leave(v, mark);
}

static void migration_target(rule_ctx *v, const Kumo__V1alpha1__MigrationTarget *target)
{
    if (target == NULL) {
        rule_required(v, "target", "either connection and instanceType, or placement");
        return;
    }
    size_t mark = rule_enter(v, "target");
    rule_explicit_or_placement(v, target->connection, target->instance_type, target->placement, -1);
    rule_max_bytes(v, "image", target->image, 255);
    rule_leave(v, mark);
}

static void cutover_steps(rule_ctx *v, const Kumo__V1alpha1__MigrationCutover *cutover)
{
    int previous = 0;
    rule_max_items(v, "steps", cutover->n_steps, CUTOVER_STEPS_MAX);
    for (size_t i = 0; i < cutover->n_steps; i++) {
        const Kumo__V1alpha1__MigrationCutoverStep *step = cutover->steps[i];
        size_t mark = rule_enter_index(v, "steps", i);
        int weight = step->weight;
        if (weight < 1 || weight > 100)
            rule_int_range(v, "weight", weight, 1, 100);
        else if (weight <= previous)
            rule_invalid_int(v, "weight", weight,
                             "must be greater than the previous step's weight (%d)", previous);
        else if (i + 1 == cutover->n_steps && weight != 100)
            rule_invalid_int(v, "weight", weight, "the last step must have weight 100");
        rule_int_range(v, "pauseSeconds", step->pause_seconds, 0, SECONDS_PER_DAY);
        if (weight <= 100 && weight > previous)
            previous = weight;
        rule_leave(v, mark);
    }
}

static void migration_cutover(rule_ctx *v, const Kumo__V1alpha1__MigrationCutover *cutover)
{
    if (cutover == NULL)
        return;
    size_t mark = rule_enter(v, "cutover");
    rule_reference(v, "loadBalancerRef", cutover->load_balancer_ref, 0);
    if (cutover->load_balancer_ref == NULL && cutover->n_steps > 0)
        rule_forbidden(v, "steps", "may only be set together with loadBalancerRef");
    else
        cutover_steps(v, cutover);
    rule_leave(v, mark);
}

void rule_migration_spec(rule_ctx *v, const ProtobufCMessage *message)
{
    const Kumo__V1alpha1__MigrationSpec *spec = (const Kumo__V1alpha1__MigrationSpec *)message;
    migration_source(v, spec->source);
    migration_target(v, spec->target);
    migration_cutover(v, spec->cutover);
    const Kumo__V1alpha1__MigrationTimeouts *timeouts = spec->timeouts;
    if (timeouts != NULL) {
        size_t mark = rule_enter(v, "timeouts");
        rule_int_range_or_zero(v, "provisionSeconds", timeouts->provision_seconds, 1,
                               SECONDS_PER_DAY);
        rule_int_range_or_zero(v, "deploySeconds", timeouts->deploy_seconds, 1, SECONDS_PER_DAY);
        rule_int_range_or_zero(v, "drainSeconds", timeouts->drain_seconds, 1, SECONDS_PER_DAY);
        rule_int_range_or_zero(v, "stepSeconds", timeouts->step_seconds, 1, SECONDS_PER_DAY);
        rule_leave(v, mark);
    }
}
