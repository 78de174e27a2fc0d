/*
 * json.h - the small JSON writer the manager's replies use (names and keys
 * are plain; quote, backslash and control characters are escaped).
 */
#ifndef KUMO_MANAGER_JSON_H
#define KUMO_MANAGER_JSON_H

#include "apis/codec/codec.h"

typedef struct manager_json {
    kumo_codec_buffer b;
    int failed; /* set by any failed append: the document is not to be sent */
} manager_json;

void manager_json_init(manager_json *j);
void manager_json_printf(manager_json *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void manager_json_string(manager_json *j, const char *s);

#endif
