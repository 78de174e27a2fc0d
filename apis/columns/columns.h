/*
 * columns.h - the printer columns of every kind: one table that both
 * `kumoctl get` and the Kubernetes-compatible API's Table replies
 * (bus/kubeapi) read, so the two always show the same columns and cells.
 *
 * A column is data, not code: a header, what to read (a JSON path such as
 * "status.addresses[0].address", or a condition type) and how to show it.
 * Cells are computed from the object's JSON form (kumo_codec_message_to_value).
 * NAME (and NAMESPACE) are not in the table: every printer adds them first.
 *
 * Thread safety: the table is immutable; every function is re-entrant.
 */
#ifndef KUMO_COLUMNS_H
#define KUMO_COLUMNS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/codec/codec.h"
#include "apis/object/object.h"

typedef enum kumo_columns_type {
    KUMO_COLUMNS_TEXT,             /* path; path2 is the text when absent (NULL: "<none>") */
    KUMO_COLUMNS_NUMBER,           /* path; 0 when absent */
    KUMO_COLUMNS_RATIO,            /* "path/path2"; alternatives with '|', sums with "a[].b" */
    KUMO_COLUMNS_MONEY,            /* a price per hour, 3 decimals */
    KUMO_COLUMNS_PERCENT,          /* "N%" */
    KUMO_COLUMNS_COUNT,            /* items of the array at path */
    KUMO_COLUMNS_BOOL,             /* true/false */
    KUMO_COLUMNS_CONDITION,        /* status of condition `path`; Unknown when absent */
    KUMO_COLUMNS_CONDITION_REASON, /* reason of condition `path` */
    KUMO_COLUMNS_AGE,              /* since metadata.creationTimestamp */
    KUMO_COLUMNS_SINCE,            /* since the RFC 3339 time at path */
    KUMO_COLUMNS_REFERENCE, /* "kind/name" of the object reference at path, kind lower case */
} kumo_columns_type;

typedef struct kumo_column {
    const char *header; /* "READY"; NULL ends a kind's list */
    kumo_columns_type type;
    const char *path;
    const char *path2;
    int wide; /* shown only with -o wide (Table priority 1) */
} kumo_column;

#define KUMO_COLUMNS_MAX 10

/* A kind's columns, in display order (wide ones after AGE, as kubectl puts them). */
typedef struct kumo_columns {
    const char *kind;
    kumo_column columns[KUMO_COLUMNS_MAX];
} kumo_columns;

/* The columns of `kind`; a kind without its own gets AGE only. Never NULL. */
const kumo_columns *kumo_columns_of(const kumo_object_kind *kind);

/* Number of columns of a kind's list (up to the NULL header). */
size_t kumo_columns_count(const kumo_columns *columns);

/*
 * Writes the cell of column c for an object: root is the object's JSON form
 * (may be NULL: cells read as absent), object gives metadata for AGE.
 */
void kumo_columns_cell(const kumo_column *c, const kumo_value *root, const ProtobufCMessage *object,
                       char *buf, size_t size);

/* The Table columnDefinitions type of a column: "string", "integer" or "date". */
const char *kumo_columns_value_type(const kumo_column *c);

/* A sentence saying what the column shows (Table columnDefinitions). */
void kumo_columns_describe(const kumo_column *c, char *buf, size_t size);

/* "5m", "3h", "2d" since a Unix time (seconds); "<unknown>" for 0. */
void kumo_columns_age(int64_t seconds, char *buf, size_t size);

#endif
