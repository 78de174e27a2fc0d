/*
 * remote.h - what kumoctl's commands that talk to kumod share: the
 * connection flags (--server, -n, --request-timeout), resolving what the
 * user named (kinds, short names, KIND/NAME), printing objects (table, wide,
 * yaml, json, name), and turning a failed call into a sentence on stderr.
 *
 * The commands (apply.c, get.c, describe.c, delete.c, wait.c,
 * api_resources.c) speak to kumod through the client library
 * (bus/client/client.h) and nothing else.
 */
#ifndef KUMOCTL_REMOTE_H
#define KUMOCTL_REMOTE_H

#include <stdint.h>
#include <stdio.h>

#include "bus/client/client.h"
#include "cmd/kumoctl/kumoctl.h"

int kumoctl_apply_run(int argc, char **argv);
int kumoctl_create_run(int argc, char **argv);
int kumoctl_get_run(int argc, char **argv);
int kumoctl_describe_run(int argc, char **argv);
int kumoctl_delete_run(int argc, char **argv);
int kumoctl_wait_run(int argc, char **argv);
int kumoctl_api_resources_run(int argc, char **argv);
int kumoctl_top_run(int argc, char **argv);
extern const char kumoctl_apply_help[];
extern const char kumoctl_create_help[];
extern const char kumoctl_get_help[];
extern const char kumoctl_describe_help[];
extern const char kumoctl_delete_help[];
extern const char kumoctl_wait_help[];
extern const char kumoctl_api_resources_help[];
extern const char kumoctl_top_help[];

/* Flag ids of the remote commands; above the ids of kumoctl.h. */
enum {
    KUMOCTL_FLAG_SERVER = 100,
    KUMOCTL_FLAG_NAMESPACE,
    KUMOCTL_FLAG_ALL_NAMESPACES,
    KUMOCTL_FLAG_REQUEST_TIMEOUT,
    KUMOCTL_FLAG_SELECTOR,
    KUMOCTL_FLAG_FIELD_SELECTOR,
    KUMOCTL_FLAG_WATCH,
    KUMOCTL_FLAG_WAIT,
    KUMOCTL_FLAG_CASCADE,
    KUMOCTL_FLAG_FOR,
    KUMOCTL_FLAG_TIMEOUT,
    KUMOCTL_FLAG_IGNORE_NOT_FOUND,
    KUMOCTL_FLAG_NO_HEADERS,
    KUMOCTL_FLAG_SORT_BY,
    KUMOCTL_FLAG_SHOW_LABELS,
    KUMOCTL_FLAG_ALL,
    KUMOCTL_FLAG_TYPE,
    KUMOCTL_FLAG_PATCH,
    KUMOCTL_FLAG_OVERWRITE,
    KUMOCTL_FLAG_REPLICAS,
    KUMOCTL_FLAG_GROUP,
    KUMOCTL_FLAG_RESOURCE_VERSION,
    KUMOCTL_FLAG_LIST,
};

/* --server, -n and --request-timeout: every remote command takes them (and -h). */
#define KUMOCTL_REMOTE_FLAGS                                                                       \
    {"server", 's', 1, KUMOCTL_FLAG_SERVER, "a NATS URL such as nats://127.0.0.1:4222"},           \
        {"namespace", 'n', 1, KUMOCTL_FLAG_NAMESPACE, "a namespace"},                              \
    {                                                                                              \
        "request-timeout", 0, 1, KUMOCTL_FLAG_REQUEST_TIMEOUT, "a duration such as 10s"            \
    }

/* The help lines of KUMOCTL_REMOTE_FLAGS. */
#define KUMOCTL_REMOTE_FLAGS_HELP                                                                  \
    "  -n, --namespace NS         the namespace (default: default)\n"                              \
    "  -s, --server URL           the NATS server kumod serves on (default: $KUMO_NATS_URL,\n"     \
    "                             else nats://127.0.0.1:4222)\n"                                   \
    "      --request-timeout D    how long one request may take (default 10s)\n"                   \
    "  -h, --help                 print this help\n"

enum {
    KUMOCTL_REQUEST_TIMEOUT_MS = 10000, /* --request-timeout when not given */
    KUMOCTL_POLL_INTERVAL_MS = 500,     /* logs -f and rollout status look again after this */
};

typedef struct kumoctl_remote {
    const char *command; /* "kumoctl get", for messages */
    const char *server;  /* --server; NULL: the client's default */
    const char *ns;      /* -n; NULL: "default" */
    int timeout_ms;      /* --request-timeout */
    kumo_client *client; /* after kumoctl_remote_connect */
} kumoctl_remote;

void kumoctl_remote_init(kumoctl_remote *remote, const char *command);
/* Disconnects and releases the NATS library. */
void kumoctl_remote_fini(kumoctl_remote *remote);
/* Takes -n, --server and --request-timeout: KUMOCTL_INPUT_TAKEN / _NOT_MINE / _ERROR. */
int kumoctl_remote_flag(kumoctl_remote *remote, int id, const char *value);
/* Connects; on failure prints the sentence and returns KUMOCTL_EXIT_FAILED. */
int kumoctl_remote_connect(kumoctl_remote *remote);
/* The namespace to use ("default" when -n was not given). */
const char *kumoctl_remote_namespace(const kumoctl_remote *remote);

/*
 * Prints a failed call as "error: <what>: <the server's sentence>", the
 * field causes that the sentence does not already hold, and a hint of what
 * to do. Returns KUMOCTL_EXIT_FAILED.
 */
int kumoctl_remote_fail(const kumoctl_remote *remote, const kumo_diag *diag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The object's JSON value tree (what -o json shows); NULL when out of memory. Caller destroys.
 * (modify.c) */
kumo_value *kumoctl_object_to_value(const ProtobufCMessage *object);

/* "infra.kumo.dev/web". */
void kumoctl_object_ref(const kumo_object_kind *kind, const char *name, char *buf, size_t size);

/* Parses "30s", "2m", "1h", "500ms" or a number of seconds. Returns 0 on success. */
int kumoctl_parse_duration(const char *text, int64_t *ms_out);

/*
 * Resolves "infras", "inf", "infra,machines" into kinds (at most max).
 * Prints `error: unknown resource type "x"...` and returns -1 when one is
 * unknown; else the number of kinds.
 */
int kumoctl_kinds_parse(const char *text, const kumo_object_kind **kinds, int max);

/* ---- --field-selector (fields.c) ------------------------------------------------------ */

#define KUMOCTL_FIELD_TERMS 16
#define KUMOCTL_FIELD_TEXT  256

typedef struct kumoctl_field_term {
    char path[KUMOCTL_FIELD_TEXT]; /* "status.phase" (JSON names) */
    char value[KUMOCTL_FIELD_TEXT];
    int negate; /* != */
} kumoctl_field_term;

/* A field selector split in what kumod filters (server) and what kumoctl checks (terms). */
typedef struct kumoctl_field_selector {
    char server[1024]; /* the metadata.name / metadata.namespace terms; "" when none */
    kumoctl_field_term terms[KUMOCTL_FIELD_TERMS];
    int count;
} kumoctl_field_selector;

/* Parses a --field-selector; KUMOCTL_EXIT_OK or KUMOCTL_EXIT_USAGE (message printed). */
int kumoctl_field_selector_parse(const char *command, const char *text,
                                 kumoctl_field_selector *out);
/* 1 when the object meets every term kumoctl checks itself. */
int kumoctl_field_selector_matches(const kumoctl_field_selector *selector,
                                   const ProtobufCMessage *object);

/* What get, describe, delete and wait were asked for: one kind, names of it. */
typedef struct kumoctl_targets {
    const kumo_object_kind *kinds[16];
    int kind_count;
    const char *names[256];
    const kumo_object_kind *name_kinds[256]; /* the kind of names[i] */
    int name_count;
} kumoctl_targets;

/*
 * Collects positional arguments: "KIND[,KIND] [NAME...]" or "KIND/NAME ...".
 * Returns KUMOCTL_EXIT_OK or an exit code (message printed).
 */
int kumoctl_targets_add(kumoctl_targets *targets, const char *command, const char *arg);

/*
 * Waits until the object has condition `condition` with status `want_status`
 * (NULL: "True"), or, with condition NULL, until it is gone; timeout_ms 0:
 * no limit. With report, prints "infra.kumo.dev/web condition met" (or
 * "deleted"); errors are always printed. Returns an exit code. (wait.c)
 */
int kumoctl_wait_for(kumoctl_remote *remote, const kumo_object_kind *kind, const char *ns,
                     const char *name, const char *condition, const char *want_status,
                     int64_t timeout_ms, int report);

/* ---- printing (printers.c) ---------------------------------------------------------- */

typedef enum kumoctl_output {
    KUMOCTL_OUTPUT_TABLE = 0,
    KUMOCTL_OUTPUT_WIDE,
    KUMOCTL_OUTPUT_YAML,
    KUMOCTL_OUTPUT_JSON,
    KUMOCTL_OUTPUT_NAME,
    KUMOCTL_OUTPUT_JSONPATH,       /* -o jsonpath=TEMPLATE */
    KUMOCTL_OUTPUT_CUSTOM_COLUMNS, /* -o custom-columns=SPEC */
} kumoctl_output;

/*
 * Parses -o's value; -1 (usage error printed) when unknown or when a
 * template does not parse. *argument (may be NULL) gets the template of
 * jsonpath= / jsonpath-file= / custom-columns= (borrowed from value, or
 * from a static buffer for jsonpath-file).
 */
int kumoctl_output_parse(const char *command, const char *value, kumoctl_output *out,
                         const char **argument);

/* A table being printed: rows are collected, then aligned. */
typedef struct kumoctl_table {
    kumoctl_output output; /* TABLE or WIDE */
    int show_namespace;    /* -A: a NAMESPACE column first */
    int show_kind;         /* several kinds: NAME is "infra.kumo.dev/web" */
    int no_headers;
    int show_labels; /* --show-labels: a LABELS column last (kumoctl_table_show_labels) */
    const kumo_object_kind *kind;
    char **cells; /* rows x columns */
    size_t rows, columns, cap;
    size_t printed; /* rows printed so far */
    size_t widths[16];
} kumoctl_table;

void kumoctl_table_init(kumoctl_table *table, const kumo_object_kind *kind, kumoctl_output output,
                        int show_namespace, int show_kind);
void kumoctl_table_fini(kumoctl_table *table);
/* Adds the LABELS column; call before the first row. */
void kumoctl_table_show_labels(kumoctl_table *table);
/* Adds the row of one object. */
void kumoctl_table_add(kumoctl_table *table, const ProtobufCMessage *object);
/* Prints header and rows aligned; keeps the widths for later rows (watch). */
void kumoctl_table_print(kumoctl_table *table, FILE *out);
/* Prints the rows added since the last print, with the widths already known (no header). */
void kumoctl_table_print_more(kumoctl_table *table, FILE *out);

/*
 * Prints objects as YAML (documents separated by ---), JSON (one object, or a
 * kubectl-style List when list is set or there are several) or names. Returns
 * KUMOCTL_EXIT_OK or KUMOCTL_EXIT_FAILED (message printed).
 */
int kumoctl_print_objects(ProtobufCMessage *const *objects, size_t count, kumoctl_output output,
                          int list, FILE *out);

/* printers_custom.c: -o jsonpath (root: the object when one was named and list is 0, else a
 * kubectl List), -o custom-columns, and --sort-by (stable; objects without the field first). */
int kumoctl_print_jsonpath(ProtobufCMessage *const *objects, size_t count, int list,
                           const char *template, FILE *out);
int kumoctl_print_custom_columns(ProtobufCMessage *const *objects, size_t count, const char *spec,
                                 int no_headers, FILE *out);
int kumoctl_custom_columns_check(const char *spec);
int kumoctl_sort_objects(ProtobufCMessage **objects, size_t count, const char *expression);

/* "5s", "3m", "2h", "4d" since `seconds` (Unix time); "<unknown>" for 0. */
void kumoctl_age(int64_t seconds, char *buf, size_t size);

/* describe_infra.c: the Placement and Failovers sections of `kumoctl describe infra`. */
void kumoctl_describe_infra(const ProtobufCMessage *infra);
/* events.c: the Events section of `kumoctl describe` (the object's recent Events). */
void kumoctl_describe_events(kumoctl_remote *remote, const char *ns, const char *uid);
/* describe_lb.c: the Endpoints and Backends tables of `kumoctl describe lb`. */
void kumoctl_describe_load_balancer(const ProtobufCMessage *lb);
/* describe_migration.c: the Steps section of `kumoctl describe migration`. */
void kumoctl_describe_migration(const ProtobufCMessage *migration);

#endif
