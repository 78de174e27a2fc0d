/*
 * validate_rules.c - the rule vocabulary of validation, part one: field
 * paths, causes in Kubernetes wording, value quoting, and checks of strings,
 * names, labels and keys. Numbers, IPv4, lists and enums are in
 * validate_values.c. The per-kind files are written in these words only, so
 * every message of a kind reads the same way.
 *
 * Invariants: a rule reports at most one cause per value it checks; a rule
 * never stops the walk; nothing here allocates except the diag's causes.
 */
#include "apis/object/validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- paths ---------------------------------------------------------------- */

static size_t path_append(rule_ctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t path_append(rule_ctx *v, const char *fmt, ...)
{
    size_t mark = v->path_len;
    size_t room = sizeof(v->path) - v->path_len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(v->path + v->path_len, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        v->path_len += (size_t)n < room ? (size_t)n : room - 1;
    return mark;
}

size_t rule_enter(rule_ctx *v, const char *field)
{
    return path_append(v, "%s%s", v->path_len ? "." : "", field);
}

size_t rule_enter_index(rule_ctx *v, const char *field, size_t index)
{
    return path_append(v, "%s%s[%zu]", v->path_len ? "." : "", field, index);
}

size_t rule_enter_key(rule_ctx *v, const char *field, const char *key)
{
    char quoted[RULE_VALUE_MAX + 16];
    return path_append(v, "%s%s[%s]", v->path_len ? "." : "", field,
                       rule_quote(key, quoted, sizeof(quoted)));
}

void rule_leave(rule_ctx *v, size_t mark)
{
    v->path_len = mark;
    v->path[mark] = '\0';
}

/* ---- causes --------------------------------------------------------------- */

static void rule_addv(rule_ctx *v, kumo_cause_type type, const char *field, const char *value,
                      const char *fmt, va_list ap)
{
    v->causes++;
    if (v->diag == NULL || v->causes > RULE_CAUSES_MAX)
        return;
    char message[512] = "";
    if (fmt != NULL)
        vsnprintf(message, sizeof(message), fmt, ap);
    size_t mark = field ? rule_enter(v, field) : v->path_len;
    if (kumo_diag_add_cause(v->diag, type, v->path, value, "%s", message) != KUMO_ERROR_OK)
        v->nomem = 1;
    rule_leave(v, mark);
}

void rule_add(rule_ctx *v, kumo_cause_type type, const char *field, const char *value,
              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rule_addv(v, type, field, value, fmt, ap);
    va_end(ap);
}

void rule_required(rule_ctx *v, const char *field, const char *detail)
{
    if (detail != NULL)
        rule_add(v, KUMO_CAUSE_REQUIRED, field, NULL, "%s", detail);
    else
        rule_add(v, KUMO_CAUSE_REQUIRED, field, NULL, NULL);
}

void rule_forbidden(rule_ctx *v, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rule_addv(v, KUMO_CAUSE_FORBIDDEN, field, NULL, fmt, ap);
    va_end(ap);
}

void rule_invalid_string(rule_ctx *v, const char *field, const char *s, const char *fmt, ...)
{
    char quoted[RULE_VALUE_MAX + 16];
    va_list ap;
    va_start(ap, fmt);
    rule_addv(v, KUMO_CAUSE_INVALID, field, rule_quote(s, quoted, sizeof(quoted)), fmt, ap);
    va_end(ap);
}

void rule_invalid_int(rule_ctx *v, const char *field, long long n, const char *fmt, ...)
{
    char printed[32];
    snprintf(printed, sizeof(printed), "%lld", n);
    va_list ap;
    va_start(ap, fmt);
    rule_addv(v, KUMO_CAUSE_INVALID, field, printed, fmt, ap);
    va_end(ap);
}

const char *rule_quote(const char *s, char *buf, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t out = 0, in = 0;
    if (s == NULL)
        s = "";
    size_t len = strlen(s);
    size_t cut = len > RULE_VALUE_MAX ? RULE_VALUE_MAX : len;
    while (cut < len && cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
        cut--; /* never split a UTF-8 sequence */
    if (size < 16) {
        if (size > 0)
            buf[0] = '\0';
        return buf;
    }
    buf[out++] = '"';
    for (in = 0; in < cut && out + 8 < size; in++) {
        unsigned char c = (unsigned char)s[in];
        if (c == '"' || c == '\\') {
            buf[out++] = '\\';
            buf[out++] = (char)c;
        } else if (c == '\n' || c == '\t' || c == '\r') {
            buf[out++] = '\\';
            buf[out++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
        } else if (c < 0x20 || c == 0x7f) {
            buf[out++] = '\\';
            buf[out++] = 'x';
            buf[out++] = hex[c >> 4];
            buf[out++] = hex[c & 15];
        } else {
            buf[out++] = (char)c;
        }
    }
    buf[out++] = '"';
    if (in < len && out + 4 < size) {
        memcpy(buf + out, "...", 3);
        out += 3;
    }
    buf[out] = '\0';
    return buf;
}

/* ---- character classes ------------------------------------------------------ */

static int is_lower_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(int c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* One DNS-1123 label of s[0..len): [a-z0-9]([-a-z0-9]*[a-z0-9])? (any case when asked). */
static int is_dns_label_part(const char *s, size_t len, int any_case)
{
    if (len == 0 || len > RULE_LABEL_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        int ok = any_case ? is_alnum(c) : is_lower_alnum(c);
        if (!ok && !(c == '-' && i > 0 && i + 1 < len))
            return 0;
    }
    return 1;
}

/* DNS-1123 subdomain: labels joined by dots, at most 253 bytes. */
static int is_dns_subdomain(const char *s, size_t len, int any_case)
{
    if (len == 0 || len > RULE_NAME_MAX)
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (!is_dns_label_part(s + start, i - start, any_case))
                return 0;
            start = i + 1;
        }
    }
    return 1;
}

/* A name without dots: [a-z0-9]([-a-z0-9]*[a-z0-9])? of any length. */
static int is_dashed_name(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (!is_lower_alnum(c) && !(c == '-' && i > 0 && i + 1 < len))
            return 0;
    }
    return 1;
}

/* [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])? */
static int is_label_name_part(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        int inner = c == '-' || c == '_' || c == '.';
        if (!is_alnum(c) && !(inner && i > 0 && i + 1 < len))
            return 0;
    }
    return 1;
}

int rule_host_name_valid(const char *s)
{
    return is_dns_subdomain(s, strlen(s), 1);
}

/* ---- strings -------------------------------------------------------------- */

static const char dns_label_message[] =
    "must consist of lower case alphanumeric characters or '-', and must start and end with "
    "an alphanumeric character (e.g. 'my-name' or '123-abc')";

int rule_require_string(rule_ctx *v, const char *field, const char *s)
{
    if (!rule_empty(s))
        return 1;
    rule_required(v, field, NULL);
    return 0;
}

int rule_max_bytes(rule_ctx *v, const char *field, const char *s, size_t max)
{
    if (s == NULL || strlen(s) <= max)
        return 1;
    rule_add(v, KUMO_CAUSE_TOO_LONG, field, NULL, "must have at most %zu bytes", max);
    return 0;
}

/* Required / Too long / dashed-name charset, the three steps of every name rule. */
static void rule_dashed_name(rule_ctx *v, const char *field, const char *s, int required,
                             size_t max)
{
    if (rule_empty(s)) {
        if (required)
            rule_required(v, field, NULL);
        return;
    }
    if (!rule_max_bytes(v, field, s, max))
        return;
    if (!is_dashed_name(s, strlen(s)))
        rule_invalid_string(v, field, s, "%s", dns_label_message);
}

void rule_dns_label(rule_ctx *v, const char *field, const char *s, int required)
{
    rule_dashed_name(v, field, s, required, RULE_LABEL_MAX);
}

void rule_object_name(rule_ctx *v, const char *field, const char *s, int required)
{
    rule_dashed_name(v, field, s, required, RULE_NAME_MAX);
}

void rule_region_name(rule_ctx *v, const char *field, const char *s, int required)
{
    if (rule_empty(s)) {
        if (required)
            rule_required(v, field, NULL);
        return;
    }
    if (!rule_max_bytes(v, field, s, RULE_LABEL_MAX))
        return;
    for (const char *p = s; *p; p++) {
        if (!is_lower_alnum((unsigned char)*p) && *p != '-') {
            rule_invalid_string(v, field, s,
                                "must consist of lower case alphanumeric characters or '-'");
            return;
        }
    }
}

void rule_reference(rule_ctx *v, const char *field, const Kumo__V1alpha1__LocalObjectReference *ref,
                    int required)
{
    if (ref == NULL) {
        if (required)
            rule_required(v, field, NULL);
        return;
    }
    size_t mark = rule_enter(v, field);
    rule_object_name(v, "name", ref->name, 1);
    rule_leave(v, mark);
}

void rule_url(rule_ctx *v, const char *field, const char *s, const char *const *schemes)
{
    if (rule_empty(s))
        return;
    int ok = 0;
    for (const char *const *scheme = schemes; *scheme && !ok; scheme++) {
        size_t n = strlen(*scheme);
        ok = strncmp(s, *scheme, n) == 0 && s[n] != '\0';
    }
    for (const char *p = s; *p && ok; p++)
        ok = (unsigned char)*p > 0x20 && *p != 0x7f;
    if (ok)
        return;
    char list[128] = "";
    size_t len = 0;
    for (const char *const *scheme = schemes; *scheme; scheme++) {
        int n = snprintf(list + len, sizeof(list) - len, "%s\"%s\"",
                         len == 0    ? ""
                         : scheme[1] ? ", "
                                     : " or ",
                         *scheme);
        if (n < 0 || (size_t)n >= sizeof(list) - len)
            break;
        len += (size_t)n;
    }
    rule_invalid_string(v, field, s, "must be a URL starting with %s, without spaces", list);
}

void rule_ssh_public_key(rule_ctx *v, const char *field, const char *s)
{
    static const char *const types[] = {"ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-nistp256 ",
                                        "ecdsa-sha2-nistp384 ", "ecdsa-sha2-nistp521 "};
    if (rule_empty(s) || !rule_max_bytes(v, field, s, 16384))
        return;
    const char *body = NULL;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]) && body == NULL; i++)
        if (strncmp(s, types[i], strlen(types[i])) == 0)
            body = s + strlen(types[i]);
    size_t n = 0;
    while (body &&
           (is_alnum((unsigned char)body[n]) || body[n] == '+' || body[n] == '/' || body[n] == '='))
        n++;
    if (body && n > 0 && (body[n] == '\0' || body[n] == ' '))
        return;
    rule_invalid_string(v, field, s,
                        "must be an OpenSSH public key: \"ssh-ed25519 \", \"ssh-rsa \" or "
                        "\"ecdsa-sha2-nistp256/384/521 \" followed by the base64 key");
}

void rule_forbid_string(rule_ctx *v, const char *field, const char *s, const char *when)
{
    if (!rule_empty(s))
        rule_forbidden(v, field, "may only be set %s", when);
}

/* ---- labels, annotations, keys -------------------------------------------- */

static const char qualified_name_message[] =
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')";

const char *rule_qualified_name_error(const char *s)
{
    const char *slash = strchr(s, '/');
    const char *name = s;
    if (slash != NULL) {
        if (strchr(slash + 1, '/') != NULL)
            return "a qualified name may contain at most one '/' (e.g. 'example.com/MyName')";
        if (slash == s)
            return "prefix part must be non-empty";
        if (!is_dns_subdomain(s, (size_t)(slash - s), 0))
            return "prefix part must be a lowercase DNS-1123 subdomain of at most 253 "
                   "characters (e.g. 'example.com')";
        name = slash + 1;
    }
    size_t len = strlen(name);
    if (len == 0)
        return "name part must be non-empty";
    if (len > RULE_LABEL_MAX)
        return "name part must be no more than 63 characters";
    if (!is_label_name_part(name, len))
        return qualified_name_message;
    return NULL;
}

const char *rule_label_value_error(const char *s)
{
    size_t len = strlen(s);
    if (len > RULE_LABEL_MAX)
        return "must be no more than 63 characters";
    if (!is_label_name_part(s, len))
        return "a valid label must be an empty string or consist of alphanumeric characters, "
               "'-', '_' or '.', and must start and end with an alphanumeric character";
    return NULL;
}

static const char *map_member(const ProtobufCMessage *entry, unsigned id)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(entry->descriptor, id);
    const char *s = f ? *(const char **)object_field_slot(entry, f) : NULL;
    return s ? s : "";
}

const char *rule_map_key(const ProtobufCMessage *entry)
{
    return map_member(entry, 1);
}

const char *rule_map_value(const ProtobufCMessage *entry)
{
    return map_member(entry, 2);
}

void rule_labels(rule_ctx *v, const char *field, const ProtobufCMessage *const *entries,
                 size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const char *key = rule_map_key(entries[i]);
        const char *error = rule_qualified_name_error(key);
        if (error != NULL) {
            rule_invalid_string(v, field, key, "%s", error);
            continue;
        }
        const char *value = rule_map_value(entries[i]);
        error = rule_label_value_error(value);
        if (error != NULL) {
            size_t mark = rule_enter_key(v, field, key);
            rule_invalid_string(v, NULL, value, "%s", error);
            rule_leave(v, mark);
        }
    }
}
