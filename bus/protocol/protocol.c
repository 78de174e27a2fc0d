/*
 * protocol.c - subjects, content types and Status bodies of the NATS API.
 */
#include "bus/protocol/protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct verb_row {
    const char *token;
    int namespaced;
};

static const struct verb_row verb_rows[] = {
#define KUMO_PROTOCOL_VERB_ROW(name, token, namespaced) {token, namespaced},
    KUMO_PROTOCOL_VERB_TABLE(KUMO_PROTOCOL_VERB_ROW)
#undef KUMO_PROTOCOL_VERB_ROW
};

const char *kumo_protocol_verb_token(kumo_protocol_verb verb)
{
    return (unsigned)verb < KUMO_PROTOCOL_VERB_COUNT_ ? verb_rows[verb].token : "";
}

int kumo_protocol_verb_namespaced(kumo_protocol_verb verb)
{
    return (unsigned)verb < KUMO_PROTOCOL_VERB_COUNT_ ? verb_rows[verb].namespaced : 0;
}

const char *kumo_protocol_resource(const kumo_object_kind *kind)
{
    return kind->plural;
}

static size_t written(int n)
{
    return n < 0 ? 0 : (size_t)n;
}

size_t kumo_protocol_api_subject(const char *prefix, kumo_protocol_verb verb,
                                 const kumo_object_kind *kind, const char *ns, char *buf,
                                 size_t size)
{
    if (!kumo_protocol_verb_namespaced(verb))
        return written(snprintf(buf, size, "%s.api.%s.%s", prefix, kumo_protocol_verb_token(verb),
                                kind->plural));
    return written(snprintf(buf, size, "%s.api.%s.%s.%s", prefix, kumo_protocol_verb_token(verb),
                            kind->plural, ns && ns[0] ? ns : "default"));
}

static size_t object_subject(const char *prefix, const char *section, const char *resource,
                             const char *ns, const char *name, char *buf, size_t size)
{
    return written(snprintf(buf, size, "%s.%s.%s.%s.%s", prefix, section, resource,
                            ns && ns[0] ? ns : "default", name));
}

size_t kumo_protocol_event_subject(const char *prefix, const kumo_object_kind *kind, const char *ns,
                                   const char *name, char *buf, size_t size)
{
    return object_subject(prefix, "events", kind->plural, ns, name, buf, size);
}

size_t kumo_protocol_desired_subject(const char *prefix, const kumo_object_kind *kind,
                                     const char *ns, const char *name, char *buf, size_t size)
{
    return object_subject(prefix, "desired", kind->plural, ns, name, buf, size);
}

size_t kumo_protocol_rejected_subject(const char *prefix, const char *resource, const char *ns,
                                      const char *name, char *buf, size_t size)
{
    return object_subject(prefix, "rejected", resource, ns, name, buf, size);
}

/* Splits the part of `subject` after "<prefix>." into at most `max` tokens. */
static int split_after_prefix(const char *prefix, const char *subject, char *copy, size_t size,
                              char **tokens, int max)
{
    size_t plen = strlen(prefix);
    if (strncmp(subject, prefix, plen) != 0 || subject[plen] != '.')
        return -1;
    if (snprintf(copy, size, "%s", subject + plen + 1) >= (int)size)
        return -1;
    int count = 0;
    char *p = copy;
    while (count < max) {
        tokens[count++] = p;
        char *dot = strchr(p, '.');
        if (dot == NULL)
            return count;
        *dot = '\0';
        p = dot + 1;
    }
    return -1; /* more tokens than expected */
}

static int token_is_empty(const char *const *tokens, int count)
{
    for (int i = 0; i < count; i++)
        if (tokens[i][0] == '\0')
            return 1;
    return 0;
}

kumo_error kumo_protocol_api_subject_parse(const char *prefix, const char *subject,
                                           kumo_protocol_api_request *out, kumo_diag *diag)
{
    char copy[512];
    char *t[4];
    int n = split_after_prefix(prefix, subject, copy, sizeof(copy), t, 4);
    if (n < 3 || token_is_empty((const char *const *)t, n) || strcmp(t[0], "api") != 0)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "malformed API subject \"%s\": expected "
                             "%s.api.<verb>.<resource>.<namespace>",
                             subject, prefix);
    memset(out, 0, sizeof(*out));
    out->verb = KUMO_PROTOCOL_VERB_COUNT_;
    for (int v = 0; v < KUMO_PROTOCOL_VERB_COUNT_; v++)
        if (strcmp(t[1], verb_rows[v].token) == 0)
            out->verb = (kumo_protocol_verb)v;
    if (out->verb == KUMO_PROTOCOL_VERB_COUNT_)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "unknown verb \"%s\" in subject \"%s\"", t[1], subject);
    out->kind = kumo_object_kind_lookup(t[2]);
    if (out->kind == NULL || strcmp(out->kind->plural, t[2]) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_UNKNOWN_KIND,
                             "unknown resource \"%s\" in subject \"%s\" (resources are lowercase "
                             "plurals such as \"infras\")",
                             t[2], subject);
    int namespaced = kumo_protocol_verb_namespaced(out->verb);
    if (n != (namespaced ? 4 : 3))
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "subject \"%s\" must %s a namespace token", subject,
                             namespaced ? "end with" : "not have");
    if (namespaced) {
        if (!kumo_object_namespace_is_valid(t[3]))
            return kumo_diag_set(diag, KUMO_ERROR_INVALID,
                                 "namespace \"%s\" in subject \"%s\" is not a DNS-1123 label", t[3],
                                 subject);
        snprintf(out->ns, sizeof(out->ns), "%s", t[3]);
    }
    return KUMO_ERROR_OK;
}

kumo_error kumo_protocol_object_subject_parse(const char *prefix, const char *section,
                                              const char *subject,
                                              kumo_protocol_object_subject *out, kumo_diag *diag)
{
    char copy[512];
    char *t[4];
    memset(out, 0, sizeof(*out));
    int n = split_after_prefix(prefix, subject, copy, sizeof(copy), t, 4);
    if (n != 4 || token_is_empty((const char *const *)t, n) || strcmp(t[0], section) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "malformed subject \"%s\": expected %s.%s.<resource>.<namespace>."
                             "<name>",
                             subject, prefix, section);
    snprintf(out->resource, sizeof(out->resource), "%s", t[1]);
    snprintf(out->ns, sizeof(out->ns), "%s", t[2]);
    snprintf(out->name, sizeof(out->name), "%s", t[3]);
    out->kind = kumo_object_kind_lookup(t[1]);
    if (out->kind != NULL && strcmp(out->kind->plural, t[1]) != 0)
        out->kind = NULL;
    if (out->kind == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_UNKNOWN_KIND,
                             "unknown resource \"%s\" in subject \"%s\"", t[1], subject);
    return KUMO_ERROR_OK;
}

kumo_error kumo_protocol_format_of(const char *content_type, kumo_codec_format *out,
                                   kumo_diag *diag)
{
    if (content_type == NULL || content_type[0] == '\0') {
        *out = KUMO_CODEC_FORMAT_JSON;
        return KUMO_ERROR_OK;
    }
    size_t len = strcspn(content_type, ";"); /* ignore parameters such as charset */
    while (len > 0 && content_type[len - 1] == ' ')
        len--;
    static const struct {
        const char *type;
        kumo_codec_format format;
    } types[] = {
        {KUMO_PROTOCOL_CONTENT_JSON, KUMO_CODEC_FORMAT_JSON},
        {KUMO_PROTOCOL_CONTENT_MERGE_PATCH, KUMO_CODEC_FORMAT_JSON},
        {KUMO_PROTOCOL_CONTENT_PROTOBUF, KUMO_CODEC_FORMAT_PROTOBUF},
        {"application/x-protobuf", KUMO_CODEC_FORMAT_PROTOBUF},
        {"application/yaml", KUMO_CODEC_FORMAT_YAML},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strlen(types[i].type) == len && strncasecmp(content_type, types[i].type, len) == 0) {
            *out = types[i].format;
            return KUMO_ERROR_OK;
        }
    }
    return kumo_diag_set(diag, KUMO_ERROR_UNSUPPORTED,
                         "unsupported content type \"%s\": use %s or %s", content_type,
                         KUMO_PROTOCOL_CONTENT_JSON, KUMO_PROTOCOL_CONTENT_PROTOBUF);
}

const char *kumo_protocol_content_type(kumo_codec_format format)
{
    switch (format) {
    case KUMO_CODEC_FORMAT_PROTOBUF:
        return KUMO_PROTOCOL_CONTENT_PROTOBUF;
    case KUMO_CODEC_FORMAT_YAML:
        return "application/yaml";
    case KUMO_CODEC_FORMAT_JSON:
        break;
    }
    return KUMO_PROTOCOL_CONTENT_JSON;
}

Kumo__V1alpha1__Status *kumo_protocol_status_from_diag(const kumo_diag *diag, const char *kind,
                                                       const char *name)
{
    Kumo__V1alpha1__Status *s = malloc(sizeof(*s));
    Kumo__V1alpha1__StatusDetails *d = malloc(sizeof(*d));
    if (s == NULL || d == NULL) {
        free(s);
        free(d);
        return NULL;
    }
    kumo__v1alpha1__status__init(s);
    kumo__v1alpha1__status_details__init(d);
    s->details = d;
    kumo_error code = diag->code == KUMO_ERROR_OK ? KUMO_ERROR_INTERNAL : diag->code;
    s->code = kumo_error_http_code(code);
    int ok = kumo_codec_string_set(&s->api_version, "v1") == KUMO_ERROR_OK &&
             kumo_codec_string_set(&s->kind, "Status") == KUMO_ERROR_OK &&
             kumo_codec_string_set(&s->status, "Failure") == KUMO_ERROR_OK &&
             kumo_codec_string_set(&s->reason, kumo_error_reason(code)) == KUMO_ERROR_OK &&
             kumo_codec_string_set(&s->message,
                                   diag->message[0] ? diag->message : kumo_error_text(code)) ==
                 KUMO_ERROR_OK &&
             kumo_codec_string_set(&d->kind, kind) == KUMO_ERROR_OK &&
             kumo_codec_string_set(&d->name, name) == KUMO_ERROR_OK;
    if (ok && diag->cause_count > 0) {
        d->causes = calloc(diag->cause_count, sizeof(*d->causes));
        ok = d->causes != NULL;
    }
    for (size_t i = 0; ok && i < diag->cause_count; i++) {
        Kumo__V1alpha1__StatusCause *c = malloc(sizeof(*c));
        if (c == NULL) {
            ok = 0;
            break;
        }
        kumo__v1alpha1__status_cause__init(c);
        d->causes[d->n_causes++] = c;
        char message[1024];
        kumo_diag_format_cause_detail(&diag->causes[i], message, sizeof(message));
        ok = kumo_codec_string_set(&c->reason, kumo_cause_type_reason(diag->causes[i].type)) ==
                 KUMO_ERROR_OK &&
             kumo_codec_string_set(&c->field, diag->causes[i].field) == KUMO_ERROR_OK &&
             kumo_codec_string_set(&c->message, message) == KUMO_ERROR_OK;
    }
    if (!ok) {
        kumo_codec_message_free(&s->base);
        return NULL;
    }
    return s;
}

kumo_error kumo_protocol_status_to_diag(const Kumo__V1alpha1__Status *status, kumo_diag *diag)
{
    kumo_error code = kumo_error_from_reason(status->reason);
    if (code == KUMO_ERROR_OK)
        code = KUMO_ERROR_INTERNAL;
    kumo_diag_set(diag, code, "%s", status->message ? status->message : "");
    const Kumo__V1alpha1__StatusDetails *d = status->details;
    for (size_t i = 0; d != NULL && i < d->n_causes; i++) {
        const Kumo__V1alpha1__StatusCause *c = d->causes[i];
        kumo_cause_type type = KUMO_CAUSE_INVALID;
        for (int t = KUMO_CAUSE_INVALID; t <= KUMO_CAUSE_UNKNOWN; t++)
            if (c->reason && strcmp(c->reason, kumo_cause_type_reason((kumo_cause_type)t)) == 0)
                type = (kumo_cause_type)t;
        /* The message repeats the type's words; the diag adds them back when printing. */
        const char *message = c->message ? c->message : "";
        const char *words = kumo_cause_type_text(type);
        size_t wlen = strlen(words);
        if (strncmp(message, words, wlen) == 0)
            message += message[wlen] == ':' ? wlen + (message[wlen + 1] == ' ' ? 2 : 1) : wlen;
        if (kumo_diag_add_cause(diag, type, c->field, NULL, "%s", message) != KUMO_ERROR_OK)
            return KUMO_ERROR_NOMEM;
    }
    return code;
}
