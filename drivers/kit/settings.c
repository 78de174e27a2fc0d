/*
 * settings.c - a driver's connection config as a table: one row per key
 * (kind, where it goes in the driver's config struct, its range, what the
 * error says was expected) instead of a chain of ifs. Every bad value gets
 * the same message shape, `<driver> config <key>="<value>": expected <...>`.
 */
#include "drivers/kit/kit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

kumo_driver_code kumo_driver_kit_setting_bad(const struct kumo_driver_kit_settings *settings,
                                             const char *key, const char *value,
                                             const char *expected, struct kumo_driver_diag *diag)
{
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                "%s config %s=\"%s\": expected %s", settings->driver, key, value,
                                expected);
}

int kumo_driver_kit_parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max))
        return -1;
    *out = v;
    return 0;
}

int kumo_driver_kit_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* The index of value in the '|'-separated words, or -1. */
static int choice_of(const char *words, const char *value)
{
    size_t len = strlen(value);
    int index = 0;
    for (const char *w = words; *w; index++) {
        const char *bar = strchr(w, '|');
        size_t n = bar ? (size_t)(bar - w) : strlen(w);
        if (n == len && strncmp(w, value, n) == 0)
            return index;
        if (bar == NULL)
            break;
        w = bar + 1;
    }
    return -1;
}

/* Parses value by row->kind into the field; 0, or -1 when it is not what the row expects. */
static int parse_value(const struct kumo_driver_kit_setting *row, const char *value, char *field)
{
    int64_t n;
    double d;
    int ok;
    switch (row->kind) {
    case KUMO_DRIVER_KIT_SETTING_STRING:
        if (strlen(value) < (size_t)row->min || strlen(value) >= row->size)
            return -1;
        snprintf(field, row->size, "%s", value);
        return 0;
    case KUMO_DRIVER_KIT_SETTING_DOUBLE:
        if (kumo_driver_kit_parse_double(value, row->min, row->max, &d) != 0)
            return -1;
        memcpy(field, &d, sizeof(d));
        return 0;
    case KUMO_DRIVER_KIT_SETTING_LIMIT:
        if (strcmp(value, "unlimited") == 0 || strcmp(value, "-1") == 0) {
            n = -1;
            memcpy(field, &n, sizeof(n));
            return 0;
        }
        __attribute__((fallthrough)); /* else a count */
    case KUMO_DRIVER_KIT_SETTING_INT:
        if (kumo_driver_kit_parse_int(value, (int64_t)row->min,
                                      row->max > row->min ? (int64_t)row->max : INT64_MAX, &n) != 0)
            return -1;
        memcpy(field, &n, sizeof(n));
        return 0;
    case KUMO_DRIVER_KIT_SETTING_BOOL:
        if ((ok = choice_of("false|true|0|1|off|on", value)) < 0)
            return -1;
        ok &= 1;
        memcpy(field, &ok, sizeof(ok));
        return 0;
    case KUMO_DRIVER_KIT_SETTING_CHOICE:
        if ((ok = choice_of(row->choices, value)) < 0)
            return -1;
        memcpy(field, &ok, sizeof(ok));
        return 0;
    default: /* KUMO_DRIVER_KIT_SETTING_IGNORED */
        return 0;
    }
}

static int row_matches(const struct kumo_driver_kit_setting *row, const char *key)
{
    if (row->flags & KUMO_DRIVER_KIT_SETTING_PREFIX)
        return strncmp(key, row->key, strlen(row->key)) == 0;
    return strcmp(key, row->key) == 0;
}

kumo_driver_code kumo_driver_kit_settings_apply(const struct kumo_driver_kit_settings *settings,
                                                void *config, const char *key, const char *value,
                                                int at_open, struct kumo_driver_diag *diag)
{
    const struct kumo_driver_kit_setting *row = NULL;
    for (size_t i = 0; i < settings->count && row == NULL; i++)
        if (row_matches(&settings->rows[i], key))
            row = &settings->rows[i];
    if (value == NULL)
        value = "";
    if (row == NULL) {
        struct kumo_driver_kit_buf known;
        kumo_driver_kit_buf_init(&known);
        for (size_t i = 0; i < settings->count; i++)
            kumo_driver_kit_buf_printf(&known, "%s%s%s", i ? ", " : "", settings->rows[i].key,
                                       settings->rows[i].choices && (settings->rows[i].flags &
                                                                     KUMO_DRIVER_KIT_SETTING_PREFIX)
                                           ? settings->rows[i].choices
                                           : "");
        kumo_driver_code rc =
            kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, settings->unknown_code,
                                 "%s config key \"%s\" is unknown; known keys: %s",
                                 settings->driver, key, known.data ? known.data : "");
        kumo_driver_kit_buf_fini(&known);
        return rc;
    }
    if ((row->flags & KUMO_DRIVER_KIT_SETTING_AT_OPEN) && !at_open)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "%s config %s can only be set when the connection is opened",
                                    settings->driver, key);
    if (row->kind == KUMO_DRIVER_KIT_SETTING_CUSTOM)
        return row->apply(settings, config, key, value, diag);
    if (parse_value(row, value, (char *)config + row->offset) != 0)
        return kumo_driver_kit_setting_bad(settings, key, value, row->expected, diag);
    return KUMO_DRIVER_OK;
}
