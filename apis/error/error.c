/*
 * error.c - names, texts and classes of kumo_error, and the diag struct.
 *
 * Everything over codes is generated from KUMO_ERROR_TABLE in error.h.
 */
#include "apis/error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct error_row {
    const char *name;
    const char *text;
    kumo_error_class class_;
    int http;
    const char *reason;
};

static const struct error_row error_rows[] = {
#define KUMO_ERROR_ROW(name, text, class, http, reason)                                            \
    {#name, text, KUMO_ERROR_CLASS_##class, http, reason},
    KUMO_ERROR_TABLE(KUMO_ERROR_ROW)
#undef KUMO_ERROR_ROW
};

static const struct error_row *error_row_of(kumo_error code)
{
    if ((unsigned)code >= (unsigned)KUMO_ERROR_COUNT_)
        return NULL;
    return &error_rows[code];
}

const char *kumo_error_name(kumo_error code)
{
    const struct error_row *row = error_row_of(code);
    return row ? row->name : "UNKNOWN";
}

const char *kumo_error_text(kumo_error code)
{
    const struct error_row *row = error_row_of(code);
    return row ? row->text : "unknown error";
}

kumo_error_class kumo_error_class_of(kumo_error code)
{
    const struct error_row *row = error_row_of(code);
    return row ? row->class_ : KUMO_ERROR_CLASS_TERMINAL;
}

int kumo_error_http_code(kumo_error code)
{
    const struct error_row *row = error_row_of(code);
    return row ? row->http : 500;
}

const char *kumo_error_reason(kumo_error code)
{
    const struct error_row *row = error_row_of(code);
    return row ? row->reason : "InternalError";
}

kumo_error kumo_error_from_reason(const char *reason)
{
    if (reason == NULL || reason[0] == '\0')
        return KUMO_ERROR_OK;
    for (int i = 0; i < KUMO_ERROR_COUNT_; i++)
        if (strcmp(error_rows[i].reason, reason) == 0)
            return (kumo_error)i;
    return KUMO_ERROR_INTERNAL;
}

const char *kumo_cause_type_text(kumo_cause_type type)
{
    switch (type) {
    case KUMO_CAUSE_INVALID:
        return "Invalid value";
    case KUMO_CAUSE_REQUIRED:
        return "Required value";
    case KUMO_CAUSE_UNSUPPORTED:
        return "Unsupported value";
    case KUMO_CAUSE_DUPLICATE:
        return "Duplicate value";
    case KUMO_CAUSE_TOO_LONG:
        return "Too long";
    case KUMO_CAUSE_FORBIDDEN:
        return "Forbidden";
    case KUMO_CAUSE_NOT_FOUND:
        return "Not found";
    case KUMO_CAUSE_UNKNOWN:
        return "Unknown field";
    }
    return "Invalid value";
}

const char *kumo_cause_type_reason(kumo_cause_type type)
{
    switch (type) {
    case KUMO_CAUSE_INVALID:
        return "FieldValueInvalid";
    case KUMO_CAUSE_REQUIRED:
        return "FieldValueRequired";
    case KUMO_CAUSE_UNSUPPORTED:
        return "FieldValueNotSupported";
    case KUMO_CAUSE_DUPLICATE:
        return "FieldValueDuplicate";
    case KUMO_CAUSE_TOO_LONG:
        return "FieldValueTooLong";
    case KUMO_CAUSE_FORBIDDEN:
        return "FieldValueForbidden";
    case KUMO_CAUSE_NOT_FOUND:
        return "FieldValueNotFound";
    case KUMO_CAUSE_UNKNOWN:
        return "FieldValueUnknown";
    }
    return "FieldValueInvalid";
}

void kumo_diag_init(kumo_diag *diag)
{
    memset(diag, 0, sizeof(*diag));
}

static void diag_free_causes(kumo_diag *diag)
{
    for (size_t i = 0; i < diag->cause_count; i++) {
        free(diag->causes[i].field);
        free(diag->causes[i].value);
        free(diag->causes[i].message);
    }
    free(diag->causes);
    diag->causes = NULL;
    diag->cause_count = 0;
    diag->cause_capacity = 0;
}

void kumo_diag_fini(kumo_diag *diag)
{
    if (diag == NULL)
        return;
    diag_free_causes(diag);
    kumo_diag_init(diag);
}

kumo_error kumo_diag_setv(kumo_diag *diag, kumo_error code, const char *fmt, va_list ap)
{
    if (diag == NULL)
        return code;
    diag->code = code;
    diag->foreign_where = NULL;
    diag->foreign_code = 0;
    if (fmt != NULL)
        vsnprintf(diag->message, sizeof(diag->message), fmt, ap);
    else
        diag->message[0] = '\0';
    return code;
}

kumo_error kumo_diag_set(kumo_diag *diag, kumo_error code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kumo_diag_setv(diag, code, fmt, ap);
    va_end(ap);
    return code;
}

kumo_error kumo_diag_set_foreign(kumo_diag *diag, kumo_error code, const char *where,
                                 long foreign_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kumo_diag_setv(diag, code, fmt, ap);
    va_end(ap);
    if (diag != NULL) {
        diag->foreign_where = where;
        diag->foreign_code = foreign_code;
    }
    return code;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static kumo_error diag_push_cause(kumo_diag *diag, kumo_cause_type type, char *field, char *value,
                                  char *message)
{
    if (diag->cause_count == diag->cause_capacity) {
        size_t cap = diag->cause_capacity ? diag->cause_capacity * 2 : 4;
        kumo_diag_cause *grown = realloc(diag->causes, cap * sizeof(*grown));
        if (grown == NULL)
            goto fail;
        diag->causes = grown;
        diag->cause_capacity = cap;
    }
    diag->causes[diag->cause_count++] = (kumo_diag_cause){type, field, value, message};
    return KUMO_ERROR_OK;
fail:
    free(field);
    free(value);
    free(message);
    return KUMO_ERROR_NOMEM;
}

kumo_error kumo_diag_add_cause(kumo_diag *diag, kumo_cause_type type, const char *field,
                               const char *value, const char *fmt, ...)
{
    char message[512] = "";
    if (diag == NULL)
        return KUMO_ERROR_OK;
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
    }
    char *f = strdup(field ? field : "");
    char *v = dup_or_null(value);
    char *m = strdup(message);
    if (f == NULL || m == NULL || (value != NULL && v == NULL)) {
        free(f);
        free(v);
        free(m);
        return KUMO_ERROR_NOMEM;
    }
    return diag_push_cause(diag, type, f, v, m);
}

size_t kumo_diag_format_cause_detail(const kumo_diag_cause *cause, char *buf, size_t size)
{
    int n;
    const char *type = kumo_cause_type_text(cause->type);
    const char *msg = cause->message ? cause->message : "";
    if (cause->value != NULL)
        n = snprintf(buf, size, "%s: %s%s%s", type, cause->value, msg[0] ? ": " : "", msg);
    else
        n = snprintf(buf, size, "%s%s%s", type, msg[0] ? ": " : "", msg);
    return n < 0 ? 0 : (size_t)n;
}

size_t kumo_diag_format_cause(const kumo_diag_cause *cause, char *buf, size_t size)
{
    char detail[1024];
    kumo_diag_format_cause_detail(cause, detail, sizeof(detail));
    int n = snprintf(buf, size, "%s: %s", cause->field, detail);
    return n < 0 ? 0 : (size_t)n;
}

/* Appends to buf at *len, keeping snprintf-style "needed" accounting. */
static void append(char *buf, size_t size, size_t *len, const char *text)
{
    size_t n = strlen(text);
    if (*len < size) {
        size_t room = size - *len - 1;
        size_t copy = n < room ? n : room;
        memcpy(buf + *len, text, copy);
        buf[*len + copy] = '\0';
    }
    *len += n;
}

size_t kumo_diag_format_invalid(const kumo_diag *diag, const char *kind, const char *name,
                                char *buf, size_t size)
{
    size_t len = 0;
    char part[1024];
    if (size > 0)
        buf[0] = '\0';
    snprintf(part, sizeof(part), "%s \"%s\" is invalid: ", kind ? kind : "object",
             name ? name : "");
    append(buf, size, &len, part);
    if (diag->cause_count == 0) {
        append(buf, size, &len, diag->message[0] ? diag->message : kumo_error_text(diag->code));
        return len;
    }
    if (diag->cause_count > 1)
        append(buf, size, &len, "[");
    for (size_t i = 0; i < diag->cause_count; i++) {
        if (i > 0)
            append(buf, size, &len, ", ");
        kumo_diag_format_cause(&diag->causes[i], part, sizeof(part));
        append(buf, size, &len, part);
    }
    if (diag->cause_count > 1)
        append(buf, size, &len, "]");
    return len;
}

kumo_error kumo_diag_copy(kumo_diag *to, const kumo_diag *from)
{
    if (to == NULL || to == from)
        return KUMO_ERROR_OK;
    kumo_diag_fini(to);
    to->code = from->code;
    memcpy(to->message, from->message, sizeof(to->message));
    to->foreign_where = from->foreign_where;
    to->foreign_code = from->foreign_code;
    for (size_t i = 0; i < from->cause_count; i++) {
        const kumo_diag_cause *c = &from->causes[i];
        if (kumo_diag_add_cause(to, c->type, c->field, c->value, c->message ? "%s" : NULL,
                                c->message) != KUMO_ERROR_OK)
            return KUMO_ERROR_NOMEM;
    }
    return KUMO_ERROR_OK;
}
