/*
 * columns.c - the printer columns of a kind (its row in the kind registry
 * holds them, columns.h) and how a cell is read from an object's JSON form.
 */
#include "apis/columns/columns.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const kumo_columns *kumo_columns_of(const kumo_object_kind *kind)
{
    static const kumo_columns fallback = {{{"AGE", KUMO_COLUMNS_AGE, NULL, NULL, 0}}};
    return kind->columns != NULL ? kind->columns : &fallback;
}

void kumo_columns_describe(const kumo_column *c, char *buf, size_t size)
{
    switch (c->type) {
    case KUMO_COLUMNS_AGE:
        snprintf(buf, size, "Time since metadata.creationTimestamp");
        break;
    case KUMO_COLUMNS_SINCE:
        snprintf(buf, size, "Time since %s", c->path);
        break;
    case KUMO_COLUMNS_REFERENCE:
        snprintf(buf, size, "kind/name of %s", c->path);
        break;
    case KUMO_COLUMNS_CONDITION:
        snprintf(buf, size, "Status of the %s condition", c->path);
        break;
    case KUMO_COLUMNS_CONDITION_REASON:
        snprintf(buf, size, "Reason of the %s condition", c->path);
        break;
    case KUMO_COLUMNS_RATIO:
        snprintf(buf, size, "%s out of %s", c->path, c->path2);
        break;
    case KUMO_COLUMNS_COUNT:
        snprintf(buf, size, "Number of items of %s", c->path);
        break;
    default:
        snprintf(buf, size, "The value of %s", c->path);
        break;
    }
}

size_t kumo_columns_count(const kumo_columns *columns)
{
    size_t n = 0;
    while (n < KUMO_COLUMNS_MAX && columns->columns[n].header != NULL)
        n++;
    return n;
}

const char *kumo_columns_value_type(const kumo_column *c)
{
    switch (c->type) {
    case KUMO_COLUMNS_NUMBER:
    case KUMO_COLUMNS_COUNT:
        return "integer";
    case KUMO_COLUMNS_AGE:
    case KUMO_COLUMNS_SINCE:
        return "date";
    default:
        return "string";
    }
}

void kumo_columns_age(int64_t seconds, char *buf, size_t size)
{
    if (seconds <= 0) {
        snprintf(buf, size, "<unknown>");
        return;
    }
    int64_t d = (int64_t)time(NULL) - seconds;
    if (d < 0)
        d = 0;
    if (d < 120)
        snprintf(buf, size, "%llds", (long long)d);
    else if (d < 2 * 3600)
        snprintf(buf, size, "%lldm", (long long)(d / 60));
    else if (d < 48 * 3600)
        snprintf(buf, size, "%lldh", (long long)(d / 3600));
    else if (d < 2 * 365 * 86400)
        snprintf(buf, size, "%lldd", (long long)(d / 86400));
    else
        snprintf(buf, size, "%lldy", (long long)(d / (365 * 86400)));
}

/* ---- reading a value by path --------------------------------------------------------- */

/* Follows "a.b[0].c" through objects and arrays; NULL when any step is missing. */
static const kumo_value *value_at(const kumo_value *root, const char *path)
{
    const kumo_value *v = root;
    const char *p = path;
    while (v != NULL && *p) {
        size_t len = strcspn(p, ".[");
        char key[64];
        snprintf(key, sizeof(key), "%.*s", (int)(len < sizeof(key) ? len : sizeof(key) - 1), p);
        if (len > 0)
            v = kumo_codec_value_get(v, key);
        p += len;
        while (v != NULL && *p == '[') {
            char *end;
            unsigned long index = strtoul(p + 1, &end, 10);
            if (*end != ']' || v->type != KUMO_VALUE_ARRAY || index >= v->count)
                return NULL;
            v = v->items[index];
            p = end + 1;
        }
        if (*p == '.')
            p++;
    }
    return v;
}

/*
 * A number read by `expression`: alternatives separated by '|' (the first
 * present wins), and "a[].b" sums b over the items of array a. Writes the
 * number's text into buf; 0 when nothing is present.
 */
static int number_at(const kumo_value *root, const char *expression, char *buf, size_t size)
{
    const char *p = expression;
    while (*p) {
        size_t len = strcspn(p, "|");
        char path[128];
        snprintf(path, sizeof(path), "%.*s", (int)(len < sizeof(path) ? len : sizeof(path) - 1), p);
        char *each = strstr(path, "[]");
        if (each != NULL) {
            *each = '\0';
            const char *member = each[2] == '.' ? each + 3 : each + 2;
            const kumo_value *array = value_at(root, path);
            if (array != NULL && array->type == KUMO_VALUE_ARRAY) {
                long long sum = 0;
                for (size_t i = 0; i < array->count; i++) {
                    const kumo_value *v = value_at(array->items[i], member);
                    if (v && (v->type == KUMO_VALUE_NUMBER || v->type == KUMO_VALUE_STRING))
                        sum += strtoll(v->text, NULL, 10);
                }
                snprintf(buf, size, "%lld", sum);
                return 1;
            }
        } else {
            const kumo_value *v = value_at(root, path);
            if (v && (v->type == KUMO_VALUE_NUMBER || v->type == KUMO_VALUE_STRING)) {
                snprintf(buf, size, "%s", v->text);
                return 1;
            }
        }
        p += len;
        if (*p == '|')
            p++;
    }
    snprintf(buf, size, "0");
    return 0;
}

static const kumo_value *condition_of(const kumo_value *root, const char *type)
{
    const kumo_value *list = value_at(root, "status.conditions");
    for (size_t i = 0; list && list->type == KUMO_VALUE_ARRAY && i < list->count; i++) {
        const kumo_value *t = kumo_codec_value_get(list->items[i], "type");
        if (t && t->type == KUMO_VALUE_STRING && strcmp(t->text, type) == 0)
            return list->items[i];
    }
    return NULL;
}

static const char *text_of(const kumo_value *v)
{
    if (v == NULL)
        return NULL;
    if (v->type == KUMO_VALUE_STRING || v->type == KUMO_VALUE_NUMBER)
        return v->text;
    if (v->type == KUMO_VALUE_BOOL)
        return v->boolean ? "true" : "false";
    return NULL;
}

/* Seconds since the epoch of an RFC 3339 UTC time ("2026-11-24T10:00:00Z"); 0 when not one. */
static int64_t rfc3339_seconds(const char *t)
{
    int y, mo, d, h, mi, sec;
    if (t == NULL || sscanf(t, "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &sec) != 6)
        return 0;
    /* Days from the civil date (proleptic Gregorian). */
    y -= mo <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    return days * 86400 + h * 3600 + mi * 60 + sec;
}

void kumo_columns_cell(const kumo_column *c, const kumo_value *root, const ProtobufCMessage *object,
                       char *buf, size_t size)
{
    const char *t;
    const kumo_value *v;
    switch (c->type) {
    case KUMO_COLUMNS_TEXT:
        t = text_of(value_at(root, c->path));
        snprintf(buf, size, "%s", t && t[0] ? t : c->path2 ? c->path2 : "<none>");
        break;
    case KUMO_COLUMNS_NUMBER:
        t = text_of(value_at(root, c->path));
        snprintf(buf, size, "%s", t ? t : "0");
        break;
    case KUMO_COLUMNS_PERCENT:
        t = text_of(value_at(root, c->path));
        snprintf(buf, size, "%s%%", t ? t : "0");
        break;
    case KUMO_COLUMNS_RATIO: {
        char a[64], b[64];
        number_at(root, c->path, a, sizeof(a));
        number_at(root, c->path2, b, sizeof(b));
        snprintf(buf, size, "%s/%s", a, b);
        break;
    }
    case KUMO_COLUMNS_MONEY:
        t = text_of(value_at(root, c->path));
        snprintf(buf, size, "%.3f", t ? strtod(t, NULL) : 0.0);
        break;
    case KUMO_COLUMNS_COUNT:
        v = value_at(root, c->path);
        snprintf(buf, size, "%zu", v && v->type == KUMO_VALUE_ARRAY ? v->count : (size_t)0);
        break;
    case KUMO_COLUMNS_BOOL:
        v = value_at(root, c->path);
        snprintf(buf, size, "%s", v && v->type == KUMO_VALUE_BOOL && v->boolean ? "true" : "false");
        break;
    case KUMO_COLUMNS_CONDITION:
    case KUMO_COLUMNS_CONDITION_REASON:
        t = text_of(kumo_codec_value_get(condition_of(root, c->path),
                                         c->type == KUMO_COLUMNS_CONDITION ? "status" : "reason"));
        snprintf(buf, size, "%s",
                 t && t[0]                           ? t
                 : c->type == KUMO_COLUMNS_CONDITION ? "Unknown"
                                                     : "<none>");
        break;
    case KUMO_COLUMNS_SINCE:
        kumo_columns_age(rfc3339_seconds(text_of(value_at(root, c->path))), buf, size);
        break;
    case KUMO_COLUMNS_REFERENCE: {
        v = value_at(root, c->path);
        const char *kind = text_of(kumo_codec_value_get(v, "kind"));
        const char *name = text_of(kumo_codec_value_get(v, "name"));
        snprintf(buf, size, "%s/%s", kind ? kind : "", name ? name : "");
        for (char *p = buf; *p && *p != '/'; p++)
            *p = (char)tolower((unsigned char)*p);
        break;
    }
    case KUMO_COLUMNS_AGE: {
        const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
        kumo_columns_age(m && m->creation_timestamp ? m->creation_timestamp->seconds : 0, buf,
                         size);
        break;
    }
    }
}
