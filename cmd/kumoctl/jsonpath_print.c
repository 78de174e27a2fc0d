/*
 * jsonpath_print.c - how kubectl prints the values JSONPath finds: Go's
 * `fmt.Print` of a decoded JSON value (custom columns, scalar results) and
 * Go's `json.Marshal` (objects and arrays in -o jsonpath).
 *
 * kubectl decodes JSON into Go maps, int64 and float64, so map keys come out
 * sorted and floats in Go's shortest form ("1.5", "1e+06", "2"); both
 * printers below follow those rules so the output is byte for byte
 * kubectl's.
 */
#include "cmd/kumoctl/jsonpath.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kumo_error put(kumo_codec_buffer *out, const char *text)
{
    return kumo_codec_buffer_append(out, text, strlen(text));
}

/* Number text with no '.', 'e' or 'E': an integer for Go (int64). */
static int is_integer_text(const char *text)
{
    return strpbrk(text, ".eE") == NULL;
}

/* Shortest decimal digits of d (no sign, no trailing zeros) and the decimal point position. */
static void shortest_digits(double d, char *digits, size_t size, int *point)
{
    char buf[40];
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buf, sizeof(buf), "%.*e", precision - 1, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    size_t n = 0;
    const char *p = buf[0] == '-' ? buf + 1 : buf;
    for (; *p && *p != 'e' && n + 1 < size; p++)
        if (*p >= '0' && *p <= '9')
            digits[n++] = *p;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = '\0';
    *point = (int)strtol(p + 1, NULL, 10) + 1;
}

/* Go's %e/%f forms from shortest digits. `min_exponent_digits` 2 for fmt, 1 for json. */
static void format_float(double d, int exponent_form, int min_exponent_digits, char *buf,
                         size_t size)
{
    char digits[32];
    int point = 0;
    if (d == 0) {
        snprintf(buf, size, "%s0", signbit(d) ? "-" : "");
        return;
    }
    shortest_digits(d, digits, sizeof(digits), &point);
    const char *sign = d < 0 ? "-" : "";
    int nd = (int)strlen(digits);
    if (exponent_form) {
        int exponent = point - 1;
        snprintf(buf, size, "%s%c%s%.*s%c%c%0*d", sign, digits[0], nd > 1 ? "." : "", nd - 1,
                 digits + 1, 'e', exponent < 0 ? '-' : '+', min_exponent_digits,
                 exponent < 0 ? -exponent : exponent);
    } else if (point <= 0) {
        snprintf(buf, size, "%s0.%0*d%s", sign, -point, 0, digits);
        if (point == 0) /* "%0*d" with width 0 still prints one zero */
            snprintf(buf, size, "%s0.%s", sign, digits);
    } else if (point >= nd) {
        snprintf(buf, size, "%s%s%0*d", sign, digits, point - nd, 0);
        if (point == nd)
            snprintf(buf, size, "%s%s", sign, digits);
    } else {
        snprintf(buf, size, "%s%.*s.%s", sign, point, digits, digits + point);
    }
}

/* A number as Go's fmt prints an int64 or a float64 (%v). */
static void number_go(const char *text, char *buf, size_t size)
{
    if (is_integer_text(text)) {
        snprintf(buf, size, "%s", text);
        return;
    }
    double d = strtod(text, NULL);
    char digits[32];
    int point = 0;
    if (d == 0) {
        format_float(d, 0, 2, buf, size);
        return;
    }
    shortest_digits(d, digits, sizeof(digits), &point);
    int exponent = point - 1;
    format_float(d, exponent < -4 || exponent >= 21, 2, buf, size);
}

/* A number as Go's encoding/json writes an int64 or a float64. */
static void number_json(const char *text, char *buf, size_t size)
{
    if (is_integer_text(text)) {
        snprintf(buf, size, "%s", text);
        return;
    }
    double d = strtod(text, NULL), a = fabs(d);
    format_float(d, a != 0 && (a < 1e-6 || a >= 1e21), 1, buf, size);
    /* json cleans e-07 to e-7 but keeps e+21 */
}

static int by_key(const void *a, const void *b)
{
    const kumo_value_member *x = *(const kumo_value_member *const *)a;
    const kumo_value_member *y = *(const kumo_value_member *const *)b;
    return strcmp(x->key, y->key);
}

/* The members of an object sorted by key (malloc'd array of pointers; NULL when empty). */
static const kumo_value_member **sorted_members(const kumo_value *v)
{
    if (v->count == 0)
        return NULL;
    const kumo_value_member **sorted = malloc(v->count * sizeof(*sorted));
    if (sorted == NULL)
        return NULL;
    for (size_t i = 0; i < v->count; i++)
        sorted[i] = &v->members[i];
    qsort(sorted, v->count, sizeof(*sorted), by_key);
    return sorted;
}

kumo_error kumoctl_value_print_go(const kumo_value *v, kumo_codec_buffer *out)
{
    char buf[64];
    kumo_error err = KUMO_ERROR_OK;
    if (v == NULL)
        return put(out, "<nil>");
    switch (v->type) {
    case KUMO_VALUE_NULL:
        return put(out, "<nil>");
    case KUMO_VALUE_BOOL:
        return put(out, v->boolean ? "true" : "false");
    case KUMO_VALUE_NUMBER:
        number_go(v->text, buf, sizeof(buf));
        return put(out, buf);
    case KUMO_VALUE_STRING:
        return kumo_codec_buffer_append(out, v->text, v->length);
    case KUMO_VALUE_ARRAY:
        err = put(out, "[");
        for (size_t i = 0; i < v->count && err == KUMO_ERROR_OK; i++) {
            if (i > 0)
                err = put(out, " ");
            if (err == KUMO_ERROR_OK)
                err = kumoctl_value_print_go(v->items[i], out);
        }
        return err == KUMO_ERROR_OK ? put(out, "]") : err;
    case KUMO_VALUE_OBJECT: {
        const kumo_value_member **members = sorted_members(v);
        if (members == NULL && v->count > 0)
            return KUMO_ERROR_NOMEM;
        err = put(out, "map[");
        for (size_t i = 0; i < v->count && err == KUMO_ERROR_OK; i++) {
            if (i > 0)
                err = put(out, " ");
            if (err == KUMO_ERROR_OK)
                err = put(out, members[i]->key);
            if (err == KUMO_ERROR_OK)
                err = put(out, ":");
            if (err == KUMO_ERROR_OK)
                err = kumoctl_value_print_go(members[i]->value, out);
        }
        free(members);
        return err == KUMO_ERROR_OK ? put(out, "]") : err;
    }
    }
    return KUMO_ERROR_OK;
}

/* A JSON string as Go's encoder escapes it (HTML-safe). */
static kumo_error string_json(const char *text, size_t len, kumo_codec_buffer *out)
{
    kumo_error err = put(out, "\"");
    for (size_t i = 0; i < len && err == KUMO_ERROR_OK; i++) {
        unsigned char c = (unsigned char)text[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            snprintf(esc, sizeof(esc), "\\%c", c);
        } else if (c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f') {
            snprintf(esc, sizeof(esc), "\\%c",
                     c == '\n'   ? 'n'
                     : c == '\r' ? 'r'
                     : c == '\t' ? 't'
                     : c == '\b' ? 'b'
                                 : 'f');
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
        } else if (c == 0xE2 && i + 2 < len && (unsigned char)text[i + 1] == 0x80 &&
                   ((unsigned char)text[i + 2] == 0xA8 || (unsigned char)text[i + 2] == 0xA9)) {
            snprintf(esc, sizeof(esc), "\\u202%c", text[i + 2] == (char)0xA8 ? '8' : '9');
            i += 2;
        } else {
            err = kumo_codec_buffer_append(out, text + i, 1);
            continue;
        }
        err = put(out, esc);
    }
    return err == KUMO_ERROR_OK ? put(out, "\"") : err;
}

kumo_error kumoctl_value_print_json(const kumo_value *v, kumo_codec_buffer *out)
{
    char buf[64];
    kumo_error err = KUMO_ERROR_OK;
    if (v == NULL)
        return put(out, "null");
    switch (v->type) {
    case KUMO_VALUE_NULL:
        return put(out, "null");
    case KUMO_VALUE_BOOL:
        return put(out, v->boolean ? "true" : "false");
    case KUMO_VALUE_NUMBER:
        number_json(v->text, buf, sizeof(buf));
        return put(out, buf);
    case KUMO_VALUE_STRING:
        return string_json(v->text, v->length, out);
    case KUMO_VALUE_ARRAY:
        err = put(out, "[");
        for (size_t i = 0; i < v->count && err == KUMO_ERROR_OK; i++) {
            if (i > 0)
                err = put(out, ",");
            if (err == KUMO_ERROR_OK)
                err = kumoctl_value_print_json(v->items[i], out);
        }
        return err == KUMO_ERROR_OK ? put(out, "]") : err;
    case KUMO_VALUE_OBJECT: {
        const kumo_value_member **members = sorted_members(v);
        if (members == NULL && v->count > 0)
            return KUMO_ERROR_NOMEM;
        err = put(out, "{");
        for (size_t i = 0; i < v->count && err == KUMO_ERROR_OK; i++) {
            if (i > 0)
                err = put(out, ",");
            if (err == KUMO_ERROR_OK)
                err = string_json(members[i]->key, strlen(members[i]->key), out);
            if (err == KUMO_ERROR_OK)
                err = put(out, ":");
            if (err == KUMO_ERROR_OK)
                err = kumoctl_value_print_json(members[i]->value, out);
        }
        free(members);
        return err == KUMO_ERROR_OK ? put(out, "}") : err;
    }
    }
    return KUMO_ERROR_OK;
}
