/*
 * validate.h - the rule vocabulary the validation files share, and the
 * per-kind rule functions.
 *
 * A rule_ctx walks an object and collects every problem as one diag cause
 * with a JSON-style field path ("spec.groups[1].size") and Kubernetes wording
 * ("Invalid value: -1: must be greater than or equal to 0"). Rules never
 * stop at the first problem.
 *
 * Paths: the ctx holds the path of the message being checked; a rule takes
 * the name of a field inside it ("size") and reports at "<path>.size". Enter
 * a sub-message or list item with rule_enter / rule_enter_index /
 * rule_enter_key, which return a mark to pass to rule_leave.
 *
 * Zero values: proto3 cannot tell an omitted number or enum from 0, and a
 * zero where the docs name a default means "the default applies". So every
 * rule accepts the zero value of a defaulted field, and validating an object
 * gives the same verdict before and after kumo_object_default.
 *
 * Values are printed like Kubernetes: strings quoted (and cut after
 * RULE_VALUE_MAX bytes), numbers bare. Secret values are never printed.
 *
 * Files: validate_rules.c (paths, causes, strings, labels), validate_values.c
 * (numbers, IPv4, lists, enums), validate_shared.c (types of common.proto),
 * validate_infra.c and validate_app.c (one function per kind), validate.c
 * (metadata), default.c (defaults); kinds.c names each kind's rules.
 */
#ifndef KUMO_OBJECT_VALIDATE_H
#define KUMO_OBJECT_VALIDATE_H

#include "apis/object/internal.h"

#include "apis/kumo/v1alpha1/common.pb-c.h"

enum {
    RULE_PATH_MAX = 1024,
    RULE_VALUE_MAX = 96,        /* bytes of a string value printed in a cause */
    RULE_CAUSES_MAX = 1000,     /* causes stored per object; more are counted */
    RULE_NAME_MAX = 253,        /* object names */
    RULE_LABEL_MAX = 63,        /* DNS-1123 labels, label names and values */
    RULE_LIST_CHECK_MAX = 1000, /* lists longer than this skip pairwise checks */
};

typedef struct rule_ctx {
    kumo_diag *diag; /* may be NULL: causes are then only counted */
    char path[RULE_PATH_MAX];
    size_t path_len;
    size_t causes; /* problems found, stored or not */
    int nomem;     /* a cause could not be stored */
} rule_ctx;

/* ---- paths (validate_rules.c) ----------------------------------------------- */

/* Appends ".field" (or "field" at the root). Returns the mark for rule_leave. */
size_t rule_enter(rule_ctx *v, const char *field);
/* Appends ".field[index]". */
size_t rule_enter_index(rule_ctx *v, const char *field, size_t index);
/* Appends ".field[\"key\"]". */
size_t rule_enter_key(rule_ctx *v, const char *field, const char *key);
void rule_leave(rule_ctx *v, size_t mark);

/* ---- causes --------------------------------------------------------------- */

/*
 * Records a cause at "<path>.field" (field NULL: at the path itself). `value`
 * is the printed value (already quoted) or NULL; fmt may be NULL.
 */
void rule_add(rule_ctx *v, kumo_cause_type type, const char *field, const char *value,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* "Required value[: detail]" as a cause in v's diag; detail may be NULL. */
void rule_required(rule_ctx *v, const char *field, const char *detail);
/* "Forbidden: <message>". */
void rule_forbidden(rule_ctx *v, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "Invalid value: "<s>": <message>" with s quoted. */
void rule_invalid_string(rule_ctx *v, const char *field, const char *s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "Invalid value: <n>: <message>". */
void rule_invalid_int(rule_ctx *v, const char *field, long long n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes s quoted Kubernetes-style into buf ("web", escapes, cut with "..."). */
const char *rule_quote(const char *s, char *buf, size_t size);

/* ---- strings -------------------------------------------------------------- */

static inline int rule_empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

/* Required value when empty. Returns 1 when s is non-empty. */
int rule_require_string(rule_ctx *v, const char *field, const char *s);
/* Too long when strlen(s) > max. Returns 1 when within. */
int rule_max_bytes(rule_ctx *v, const char *field, const char *s, size_t max);
/* DNS-1123 label (names in a spec, namespaces): 1-63 of [a-z0-9-], alnum ends. */
void rule_dns_label(rule_ctx *v, const char *field, const char *s, int required);
/* Object name / reference to an object: like a label but up to 253 bytes. */
void rule_object_name(rule_ctx *v, const char *field, const char *s, int required);
/* 1-max bytes of [a-z0-9-] (regions, zones); empty allowed unless required. */
void rule_region_name(rule_ctx *v, const char *field, const char *s, int required);
/* A {name} reference: Required when NULL and required; name checked when given. */
void rule_reference(rule_ctx *v, const char *field, const Kumo__V1alpha1__LocalObjectReference *ref,
                    int required);
/* A URL starting with one of the NULL-terminated schemes ("https://"), with more after it. */
void rule_url(rule_ctx *v, const char *field, const char *s, const char *const *schemes);
/* An OpenSSH public key (type prefix + base64). Empty allowed. */
void rule_ssh_public_key(rule_ctx *v, const char *field, const char *s);
/* A host name: DNS-1123 subdomain, letters of any case. */
int rule_host_name_valid(const char *s);
/* "Forbidden: may only be set <when>" when s is non-empty. */
void rule_forbid_string(rule_ctx *v, const char *field, const char *s, const char *when);

/* ---- labels, annotations, keys -------------------------------------------- */

/* Kubernetes qualified name ([prefix/]name). Returns NULL or the reason it is not. */
const char *rule_qualified_name_error(const char *s);
/* Label value (may be empty). Returns NULL or the reason. */
const char *rule_label_value_error(const char *s);
/* A map<string,string> of labels at "<path>.field". */
void rule_labels(rule_ctx *v, const char *field, const ProtobufCMessage *const *entries,
                 size_t count);
/* Key and value of a map<string,string> entry. */
const char *rule_map_key(const ProtobufCMessage *entry);
const char *rule_map_value(const ProtobufCMessage *entry);

#define RULE_MAP(message, field)                                                                   \
    (const ProtobufCMessage *const *)(message)->field, (message)->n_##field

/* ---- numbers (validate_values.c) -------------------------------------------- */

/* Invalid value when n < min or n > max ("must be greater than or equal to"). */
void rule_int_range(rule_ctx *v, const char *field, long long n, long long min, long long max);
/* Same, but 0 (unset: the default applies) is accepted. */
void rule_int_range_or_zero(rule_ctx *v, const char *field, long long n, long long min,
                            long long max);
/* "Forbidden: may only be set <when>" for a number meaningless in this context. */
void rule_int_zero(rule_ctx *v, const char *field, long long n, const char *when);
/* A double in [min, max] (NaN and infinities are invalid). */
void rule_double_range(rule_ctx *v, const char *field, double d, double min, double max);
/*
 * A double where 0 means "unset" (a default or no limit): NaN, infinities and
 * negatives are invalid ("must be greater than 0"), and so is d > max.
 */
void rule_double_positive(rule_ctx *v, const char *field, double d, double max);
/* A port, 1-65535 (0 accepted when optional). */
void rule_port(rule_ctx *v, const char *field, int port, int optional);

/* ---- IPv4 ----------------------------------------------------------------- */

typedef struct rule_ipv4_net {
    uint32_t address;
    int prefix;
} rule_ipv4_net;

/* Parses dotted IPv4 (no leading zeros). Returns 1 on success. */
int rule_parse_ipv4(const char *s, size_t len, uint32_t *out);
/* Parses a.b.c.d/n. Returns 1 (valid network), 0 (not a CIDR), -1 (host bits set). */
int rule_parse_cidr(const char *s, rule_ipv4_net *out);
/*
 * Checks an IPv4 CIDR with a prefix in [min_prefix, max_prefix] and no host
 * bits. Returns 1 and fills *out when valid; reports and returns 0 otherwise.
 * An empty s returns 0 without a cause (callers decide about Required).
 */
int rule_cidr(rule_ctx *v, const char *field, const char *s, int min_prefix, int max_prefix,
              rule_ipv4_net *out);
/* "10.0.0.0/16" into buf. */
const char *rule_ipv4_net_text(const rule_ipv4_net *net, char *buf, size_t size);
int rule_ipv4_net_contains(const rule_ipv4_net *outer, const rule_ipv4_net *inner);
int rule_ipv4_net_overlaps(const rule_ipv4_net *a, const rule_ipv4_net *b);

/* ---- lists ---------------------------------------------------------------- */

/* "Too long: must have at most max items". Returns 1 when within. */
int rule_max_items(rule_ctx *v, const char *field, size_t count, size_t max);
/* Required value when count == 0, Too long when > max. */
void rule_items_between(rule_ctx *v, const char *field, size_t count, size_t min, size_t max);

/*
 * The comparison key of a list item: a string borrowed from the item, or text
 * the function writes into buf (a number: printed bare); NULL skips the item
 * (an empty name, already reported as Required).
 */
typedef const char *(*rule_key_fn)(const void *item, char *buf, size_t size);

/*
 * Duplicate value for every item whose key equals an earlier item's, reported
 * at "<path>.list[i].member" (member NULL: at the item). O(n log n).
 */
void rule_unique(rule_ctx *v, const char *list, const void *const *items, size_t count,
                 const char *member, rule_key_fn key);
/* Key functions for rule_unique. */
const char *rule_key_string(const void *item, char *buf, size_t size); /* items: char * */
const char *rule_key_name(const void *item, char *buf, size_t size);   /* messages with name */
/* Checks one list item; `context` is what the caller passed to rule_each. */
typedef void (*rule_item_fn)(rule_ctx *v, const void *item, const void *context);
/* Runs fn on every item with the path at "<path>.field[i]". */
void rule_each(rule_ctx *v, const char *field, const void *const *items, size_t count,
               rule_item_fn fn, const void *context);
/* A list of named items: each checked by fn, and names unique. */
void rule_named_items(rule_ctx *v, const char *field, const void *const *items, size_t count,
                      rule_item_fn fn, const void *context);
/* Entries non-empty and unique (providers, regions, finalizers). */
void rule_string_list(rule_ctx *v, const char *field, char *const *items, size_t count);

/* ---- generic walks -------------------------------------------------------- */

/* Every enum field of the message tree holds a value its enum knows. */
void rule_enums_known(rule_ctx *v, const ProtobufCMessage *message);
/* The value of an enum by name for messages ("HTTP"); "" when unknown. */
const char *rule_enum_name(const ProtobufCEnumDescriptor *descriptor, int value);
/* Unsupported value: "Name": supported values: "A", "B" with the given values. */
void rule_unsupported_enum(rule_ctx *v, const char *field,
                           const ProtobufCEnumDescriptor *descriptor, int value,
                           const int *supported, size_t supported_count);

/* ---- shared types (validate_shared.c) -------------------------------------- */

typedef enum rule_health_use {
    RULE_HEALTH_APP,          /* App component: HTTP, TCP, Command; port required */
    RULE_HEALTH_LOADBALANCER, /* LoadBalancer: HTTP, TCP; port 0 = the backend's */
} rule_health_use;

/* An argv: at least one element, the first non-empty. */
void rule_argv(rule_ctx *v, const char *field, char *const *argv, size_t count);
void rule_security_rules(rule_ctx *v, const char *field, Kumo__V1alpha1__SecurityRule *const *rules,
                         size_t count);
void rule_health_check(rule_ctx *v, const char *field, const Kumo__V1alpha1__HealthCheck *check,
                       rule_health_use use);
void rule_label_selector(rule_ctx *v, const char *field,
                         const Kumo__V1alpha1__LabelSelector *selector);
void rule_root_disk(rule_ctx *v, const char *field, const Kumo__V1alpha1__RootDisk *disk);
/* group_size: the node group's size for the spreadConnections bound, or -1. */
void rule_placement(rule_ctx *v, const char *field,
                    const Kumo__V1alpha1__PlacementRequirements *placement, int group_size);
/*
 * The "connection + instanceType, or placement, never both" rule of node
 * groups and migration targets, at the current path.
 */
void rule_explicit_or_placement(rule_ctx *v, const char *connection, const char *instance_type,
                                const Kumo__V1alpha1__PlacementRequirements *placement,
                                int group_size);

/* ---- per-kind rules ----------------------------------------------------------- */

/* Checks the spec of one kind; the ctx path is "spec". spec is never NULL. */
typedef void (*rule_spec_fn)(rule_ctx *v, const ProtobufCMessage *spec);

void rule_credential_spec(rule_ctx *v, const ProtobufCMessage *spec);
void rule_connection_spec(rule_ctx *v, const ProtobufCMessage *spec);
void rule_infra_spec(rule_ctx *v, const ProtobufCMessage *spec);
void rule_machine_spec(rule_ctx *v, const ProtobufCMessage *spec);
void rule_network_spec(rule_ctx *v, const ProtobufCMessage *spec);
void rule_security_group_spec(rule_ctx *v, const ProtobufCMessage *spec);
void rule_key_pair_spec(rule_ctx *v, const ProtobufCMessage *spec);
void rule_app_spec(rule_ctx *v, const ProtobufCMessage *spec);
void rule_load_balancer_spec(rule_ctx *v, const ProtobufCMessage *spec);
void rule_migration_spec(rule_ctx *v, const ProtobufCMessage *spec);
/* The Event kind has no spec: its rules get the whole object, at the root path. */
void rule_event_fields(rule_ctx *v, const ProtobufCMessage *event);

#endif
