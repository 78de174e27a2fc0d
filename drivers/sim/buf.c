/*
 * buf.c - a reader for the flat JSON objects `control` takes (the buffer and
 * JSON writing are drivers/kit/'s). Not a general JSON library: the reader
 * handles one object level and returns nested values as raw text.
 */
#include "drivers/sim/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Reading ------------------------------------------------------------ */

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads a string literal at p (at the quote) into out; returns the end or NULL. */
static const char *read_string(const char *p, char *out, size_t size)
{
    size_t n = 0;
    if (*p != '"')
        return NULL;
    for (p++; *p && *p != '"'; p++) {
        char c = *p;
        if (c == '\\') {
            p++;
            switch (*p) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'u': {
                int v = 0;
                for (int i = 1; i <= 4; i++) {
                    int h = hex_value(p[i]);
                    if (h < 0)
                        return NULL;
                    v = v * 16 + h;
                }
                p += 4;
                c = v < 0x80 ? (char)v : '?'; /* the sim's inputs are ASCII */
                break;
            }
            case '\0':
                return NULL;
            default:
                c = *p;
            }
        }
        if (n + 1 >= size)
            return NULL;
        out[n++] = c;
    }
    if (*p != '"')
        return NULL;
    out[n] = '\0';
    return p + 1;
}

/* Skips a nested object or array; returns the end or NULL. */
static const char *skip_nested(const char *p)
{
    int depth = 0;
    for (; *p; p++) {
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (*p == '\0')
                return NULL;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (--depth == 0)
                return p + 1;
        }
    }
    return NULL;
}

int sim_json_next(const char **cursor, char *key, size_t key_size, char *value, size_t value_size)
{
    const char *p = skip_space(*cursor);
    if (*p == '{' || *p == ',')
        p = skip_space(p + 1);
    if (*p == '}' || *p == '\0') {
        *cursor = p;
        return 0;
    }
    p = read_string(p, key, key_size);
    if (p == NULL)
        return -1;
    p = skip_space(p);
    if (*p != ':')
        return -1;
    p = skip_space(p + 1);
    if (*p == '"') {
        p = read_string(p, value, value_size);
        if (p == NULL)
            return -1;
    } else {
        const char *start = p;
        if (*p == '{' || *p == '[')
            p = skip_nested(p);
        else
            while (*p && *p != ',' && *p != '}' && *p != ' ' && *p != '\n' && *p != '\t' &&
                   *p != '\r')
                p++;
        if (p == NULL || p == start || (size_t)(p - start) >= value_size)
            return -1;
        memcpy(value, start, (size_t)(p - start));
        value[p - start] = '\0';
    }
    p = skip_space(p);
    if (*p != ',' && *p != '}')
        return -1;
    *cursor = p;
    return 1;
}

int sim_json_get(const char *json, const char *key, char *value, size_t value_size)
{
    char k[128];
    const char *cursor = json;
    int rc;
    if (json == NULL)
        return 0;
    while ((rc = sim_json_next(&cursor, k, sizeof(k), value, value_size)) == 1)
        if (strcmp(k, key) == 0)
            return 1;
    return rc;
}
