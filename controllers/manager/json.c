/*
 * json.c - the manager's small JSON writer (json.h).
 */
#include "controllers/manager/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void manager_json_init(manager_json *j)
{
    memset(j, 0, sizeof(*j));
    kumo_codec_buffer_init(&j->b);
}

void manager_json_printf(manager_json *j, const char *fmt, ...)
{
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(small) ||
        kumo_codec_buffer_append(&j->b, small, (size_t)n) != KUMO_ERROR_OK)
        j->failed = 1;
}

void manager_json_string(manager_json *j, const char *s)
{
    manager_json_printf(j, "\"");
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            manager_json_printf(j, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            manager_json_printf(j, "\\u%04x", (unsigned char)*s);
        else
            manager_json_printf(j, "%c", *s);
    }
    manager_json_printf(j, "\"");
}
