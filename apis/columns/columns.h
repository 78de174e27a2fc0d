/*
 * columns.h - the printer columns of every kind, as the kind registry's rows
 * hold them (apis/object/kinds.c): what both `kumoctl get` and the
 * Kubernetes-compatible API's Table replies (bus/kubeapi) read, so the two
 * always show the same columns and cells.
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

/* The column types (kumo_column, kumo_columns) are in apis/object/object.h:
 * each kind's columns are part of its row in the kind registry. */

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
