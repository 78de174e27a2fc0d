/*
 * buffer.c - kumo_codec_buffer, the growable byte buffer encoders append to,
 * and kumo_codec_format_name.
 *
 * Invariant: data always points at a NUL-terminated string. Before the first
 * append it points at a shared static "" with cap == 0, so an untouched
 * buffer costs no allocation and is still printable.
 */
#include "apis/codec/internal.h"

#include <stdlib.h>

static char empty_data[1];

const char *kumo_codec_format_name(kumo_codec_format format)
{
    switch (format) {
    case KUMO_CODEC_FORMAT_JSON:
        return "json";
    case KUMO_CODEC_FORMAT_YAML:
        return "yaml";
    case KUMO_CODEC_FORMAT_PROTOBUF:
        return "protobuf";
    }
    return "unknown";
}

void kumo_codec_buffer_init(kumo_codec_buffer *buf)
{
    buf->data = empty_data;
    buf->len = 0;
    buf->cap = 0;
}

void kumo_codec_buffer_fini(kumo_codec_buffer *buf)
{
    if (buf == NULL)
        return;
    if (buf->cap > 0)
        free(buf->data);
    kumo_codec_buffer_init(buf);
}

void kumo_codec_buffer_reset(kumo_codec_buffer *buf)
{
    buf->len = 0;
    if (buf->cap > 0)
        buf->data[0] = '\0';
}

kumo_error codec_buffer_grow(kumo_codec_buffer *buf, size_t extra)
{
    if (extra >= SIZE_MAX / 2 - buf->len)
        return KUMO_ERROR_NOMEM;
    size_t need = buf->len + extra + 1;
    if (need <= buf->cap)
        return KUMO_ERROR_OK;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < need)
        cap *= 2;
    char *data = realloc(buf->cap ? buf->data : NULL, cap);
    if (data == NULL)
        return KUMO_ERROR_NOMEM;
    if (buf->cap == 0)
        data[0] = '\0';
    buf->data = data;
    buf->cap = cap;
    return KUMO_ERROR_OK;
}

kumo_error kumo_codec_buffer_append(kumo_codec_buffer *buf, const void *data, size_t len)
{
    if (codec_buffer_reserve(buf, len) != KUMO_ERROR_OK)
        return KUMO_ERROR_NOMEM;
    if (len > 0)
        codec_buffer_put(buf, data, len);
    codec_buffer_terminate(buf);
    return KUMO_ERROR_OK;
}

char *kumo_codec_buffer_take(kumo_codec_buffer *buf, size_t *len_out)
{
    char *data;
    if (buf->cap == 0) {
        data = malloc(1);
        if (data == NULL)
            return NULL;
        data[0] = '\0';
    } else {
        data = buf->data;
    }
    if (len_out)
        *len_out = buf->len;
    kumo_codec_buffer_init(buf);
    return data;
}
