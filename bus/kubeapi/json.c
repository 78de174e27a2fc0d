/*
 * json.c - a small JSON writer for the documents kubeapi builds by hand
 * (discovery, OpenAPI, Table, watch events). Objects kumo defines are
 * encoded by the codec; this only writes the envelopes around them.
 * Out of memory leaves the buffer short; the caller's document is then
 * invalid JSON, which every client reports.
 */
#include "bus/kubeapi/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kubeapi_json_raw(kumo_codec_buffer *b, const char *text)
{
    kumo_codec_buffer_append(b, text, strlen(text));
}

void kubeapi_json_string(kumo_codec_buffer *b, const char *text)
{
    kumo_codec_buffer_append(b, "\"", 1);
    const char *run = text;
    for (const char *p = text; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        kumo_codec_buffer_append(b, run, (size_t)(p - run));
        char escape[8];
        if (c == '"' || c == '\\')
            snprintf(escape, sizeof(escape), "\\%c", c);
        else if (c == '\n')
            snprintf(escape, sizeof(escape), "\\n");
        else
            snprintf(escape, sizeof(escape), "\\u%04x", c);
        kubeapi_json_raw(b, escape);
        run = p + 1;
    }
    kumo_codec_buffer_append(b, run, strlen(run));
    kumo_codec_buffer_append(b, "\"", 1);
}

void kubeapi_json_format(kumo_codec_buffer *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        kumo_codec_buffer_append(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    kumo_codec_buffer_append(b, big, (size_t)n);
    free(big);
}
