/*
 * error.h - kumo's one error enum and the diag struct that carries detail.
 *
 * Every fallible kumo function returns a kumo_error. The enum, its names,
 * texts, classes, HTTP-like codes and Kubernetes-style reasons are all
 * generated from the single KUMO_ERROR_TABLE below, so adding a row is the
 * only way to add an error and no switch can forget one.
 *
 * Detail travels with the call in a kumo_diag owned by the caller: the code,
 * a human message (which names the object and field), the original foreign
 * error (an LMDB or NATS code, an errno, an HTTP status) and, for invalid
 * input, the list of per-field causes. Never a thread-local.
 *
 * Thread safety: the functions over codes are pure. A kumo_diag is used by
 * one thread at a time.
 */
#ifndef KUMO_ERROR_H
#define KUMO_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/* What a caller (typically a controller) should do about an error. */
typedef enum kumo_error_class {
    KUMO_ERROR_CLASS_NONE = 0, /* success */
    KUMO_ERROR_CLASS_RETRY,    /* transient: retry with backoff */
    KUMO_ERROR_CLASS_CONFLICT, /* stale read: re-read and try again now */
    KUMO_ERROR_CLASS_TERMINAL, /* retrying the same request cannot help */
} kumo_error_class;

/*
 * X(NAME, "text", CLASS, http_code, "Reason")
 * Reason is the CamelCase word a Status reply carries (Kubernetes style).
 * Where rows share a reason, the first is what the reason maps back to
 * (kumo_error_from_reason), so the general row comes first.
 */
#define KUMO_ERROR_TABLE(X)                                                                        \
    X(OK, "success", NONE, 200, "")                                                                \
    X(NOMEM, "out of memory", RETRY, 500, "InternalError")                                         \
    X(INVALID_ARGUMENT, "invalid argument", TERMINAL, 400, "BadRequest")                           \
    X(PARSE, "malformed input", TERMINAL, 400, "BadRequest")                                       \
    X(INVALID, "invalid object", TERMINAL, 422, "Invalid")                                         \
    X(NOT_FOUND, "not found", TERMINAL, 404, "NotFound")                                           \
    X(UNKNOWN_KIND, "unknown kind", TERMINAL, 404, "NotFound")                                     \
    X(ALREADY_EXISTS, "already exists", TERMINAL, 409, "AlreadyExists")                            \
    X(CONFLICT, "conflict", CONFLICT, 409, "Conflict")                                             \
    X(GONE, "requested revision is no longer retained", TERMINAL, 410, "Gone")                     \
    X(TOO_LARGE, "too large", TERMINAL, 413, "RequestEntityTooLarge")                              \
    X(TOO_DEEP, "nesting too deep", TERMINAL, 400, "BadRequest")                                   \
    X(UNSUPPORTED, "unsupported", TERMINAL, 415, "UnsupportedMediaType")                           \
    X(FORBIDDEN, "forbidden", TERMINAL, 403, "Forbidden")                                          \
    X(UNAUTHORIZED, "unauthorized", TERMINAL, 401, "Unauthorized")                                 \
    X(IO, "input/output error", RETRY, 500, "InternalError")                                       \
    X(STORAGE, "storage error", RETRY, 500, "InternalError")                                       \
    X(FORMAT, "incompatible data format", TERMINAL, 500, "InternalError")                          \
    X(LOCKED, "resource locked by another process", TERMINAL, 409, "Conflict")                     \
    X(CRYPTO, "encryption or decryption failed", TERMINAL, 500, "InternalError")                   \
    X(UNAVAILABLE, "service unavailable", RETRY, 503, "ServiceUnavailable")                        \
    X(TIMEOUT, "timed out", RETRY, 504, "Timeout")                                                 \
    X(THROTTLED, "request rate exceeded", RETRY, 429, "TooManyRequests")                           \
    X(CAPACITY, "insufficient capacity", RETRY, 503, "InsufficientCapacity")                       \
    X(QUOTA, "quota exceeded", TERMINAL, 403, "QuotaExceeded")                                     \
    X(CANCELLED, "cancelled", TERMINAL, 499, "Cancelled")                                          \
    X(INTERNAL, "internal error", RETRY, 500, "InternalError")                                     \
    X(METHOD_NOT_ALLOWED, "method not allowed", TERMINAL, 405, "MethodNotAllowed")

typedef enum kumo_error {
#define KUMO_ERROR_ENUM_ROW(name, text, class, http, reason) KUMO_ERROR_##name,
    KUMO_ERROR_TABLE(KUMO_ERROR_ENUM_ROW)
#undef KUMO_ERROR_ENUM_ROW
        KUMO_ERROR_COUNT_
} kumo_error;

/* "NOT_FOUND" for KUMO_ERROR_NOT_FOUND; "UNKNOWN" for an out-of-range code. */
const char *kumo_error_name(kumo_error code);
/* "not found"; a static string. */
const char *kumo_error_text(kumo_error code);
kumo_error_class kumo_error_class_of(kumo_error code);
/* HTTP-like status code for replies (404, 409, ...). */
int kumo_error_http_code(kumo_error code);
/* Kubernetes-style reason word ("NotFound"); "" for OK. */
const char *kumo_error_reason(kumo_error code);
/* The code whose reason word is `reason`, or KUMO_ERROR_INTERNAL. */
kumo_error kumo_error_from_reason(const char *reason);

/* Kubernetes field error types, used in causes. */
typedef enum kumo_cause_type {
    KUMO_CAUSE_INVALID = 0, /* "Invalid value" */
    KUMO_CAUSE_REQUIRED,    /* "Required value" */
    KUMO_CAUSE_UNSUPPORTED, /* "Unsupported value" */
    KUMO_CAUSE_DUPLICATE,   /* "Duplicate value" */
    KUMO_CAUSE_TOO_LONG,    /* "Too long" */
    KUMO_CAUSE_FORBIDDEN,   /* "Forbidden" */
    KUMO_CAUSE_NOT_FOUND,   /* "Not found" */
    KUMO_CAUSE_UNKNOWN,     /* "Unknown field" */
} kumo_cause_type;

/* "Invalid value" etc. */
const char *kumo_cause_type_text(kumo_cause_type type);
/* Kubernetes reason string of a cause: "FieldValueInvalid" etc. */
const char *kumo_cause_type_reason(kumo_cause_type type);

/* One per-field cause of an invalid object. All strings are owned by the diag. */
typedef struct kumo_diag_cause {
    kumo_cause_type type;
    char *field;   /* "spec.groups[1].size" */
    char *value;   /* printed offending value, may be NULL */
    char *message; /* "must be greater than or equal to 0" */
} kumo_diag_cause;

/* Detail of a failed call. Initialise with kumo_diag_init, free with kumo_diag_fini. */
typedef struct kumo_diag {
    kumo_error code;
    char message[1024];        /* human sentence; "" when none */
    const char *foreign_where; /* "lmdb", "nats", "errno", "curl", "http"; NULL when none */
    long foreign_code;         /* the original code from that dependency */
    kumo_diag_cause *causes;
    size_t cause_count;
    size_t cause_capacity;
} kumo_diag;

void kumo_diag_init(kumo_diag *diag);
/* Frees the causes and resets the diag to its initial state (so it can be reused).
 * Safe on a zeroed or NULL diag. */
void kumo_diag_fini(kumo_diag *diag);

/*
 * Records `code` with a printf-style message and returns `code`, so that
 * `return kumo_diag_set(d, KUMO_ERROR_NOT_FOUND, "Infra \"%s\" not found", n);`
 * reads naturally. `diag` may be NULL (the code is still returned).
 */
kumo_error kumo_diag_set(kumo_diag *diag, kumo_error code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
kumo_error kumo_diag_setv(kumo_diag *diag, kumo_error code, const char *fmt, va_list ap);

/* Like kumo_diag_set, also keeping a dependency's own code. */
kumo_error kumo_diag_set_foreign(kumo_diag *diag, kumo_error code, const char *where,
                                 long foreign_code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Appends a field cause. `value` may be NULL. The message is printf-style.
 * Returns KUMO_ERROR_NOMEM when the cause could not be stored, else OK.
 */
kumo_error kumo_diag_add_cause(kumo_diag *diag, kumo_cause_type type, const char *field,
                               const char *value, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Formats the Kubernetes-style sentence for an invalid object into `buf`:
 *   Infra "web" is invalid: [spec.a: Invalid value: -1: must be ..., spec.b: Required value]
 * (no brackets when there is one cause). Returns the length it needed, like
 * snprintf.
 */
size_t kumo_diag_format_invalid(const kumo_diag *diag, const char *kind, const char *name,
                                char *buf, size_t size);

/* Formats one cause as "field: Type: value: message" into buf (snprintf semantics). */
size_t kumo_diag_format_cause(const kumo_diag_cause *cause, char *buf, size_t size);
/* The same without the field: "Type: value: message" (a Status cause's message). */
size_t kumo_diag_format_cause_detail(const kumo_diag_cause *cause, char *buf, size_t size);

/* Copies code, message, foreign code and causes of `from` into `to`. */
kumo_error kumo_diag_copy(kumo_diag *to, const kumo_diag *from);

#endif
