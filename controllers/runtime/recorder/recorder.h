/*
 * recorder.h - Kubernetes-style Events (the Event kind, recorded_event.proto)
 * for what controllers do and meet.
 *
 * A controller hands the recorder an object and a (type, reason, message);
 * the recorder writes Events through the API from its own thread, so a
 * reconcile never waits for an Event:
 *
 *   - de-duplicated: the same (object uid, type, reason, message) again bumps
 *     `count` and `lastTimestamp` of the Event already written instead of
 *     writing a new one (repeats still queued are merged before any write);
 *   - bounded: at most `queue_max` Events wait to be written (more are
 *     dropped and counted), the de-duplication memory holds `memory_max`
 *     entries, and at most `namespace_max` Events are kept per namespace
 *     (the sweep deletes the oldest beyond it);
 *   - expiring: every `sweep_seconds` the recorder deletes Events whose
 *     lastTimestamp is older than `ttl_seconds`.
 *
 * kumo_recorder_conditions turns condition changes into Events, so every
 * controller that writes conditions records its failures with one call at
 * its status write (rules in recorder.c and docs/controllers.md).
 *
 * Thread safety: every function may be called from any thread. A NULL
 * recorder is accepted everywhere and records nothing.
 */
#ifndef KUMO_RECORDER_H
#define KUMO_RECORDER_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "apis/error/error.h"
#include "bus/client/client.h"

#define KUMO_RECORDER_NORMAL  "Normal"
#define KUMO_RECORDER_WARNING "Warning"

typedef struct kumo_recorder kumo_recorder;

typedef struct kumo_recorder_options {
    kumo_client *client;   /* borrowed; outlives the recorder */
    const char *component; /* source.component and reportingComponent ("kumo-controllers") */
    const char *instance;  /* reportingInstance and source.host; NULL: the host name */
    int queue_max;         /* 0: 1024 */
    int memory_max;        /* 0: 4096 */
    int namespace_max;     /* 0: 1000 */
    double ttl_seconds;    /* 0: 3600 */
    double sweep_seconds;  /* 0: 60; <0: never sweep */
} kumo_recorder_options;

typedef struct kumo_recorder_stats {
    uint64_t recorded; /* calls that queued or merged an Event */
    uint64_t written;  /* Events created or updated through the API */
    uint64_t merged;   /* repeats merged into an Event (queued or written) */
    uint64_t dropped;  /* not recorded: queue full */
    uint64_t failed;   /* API writes that failed */
    uint64_t expired;  /* Events deleted by the sweep (age or namespace bound) */
} kumo_recorder_stats;

/* Starts the writer thread. Errors: NOMEM, INVALID_ARGUMENT (no client). */
kumo_error kumo_recorder_create(const kumo_recorder_options *options, kumo_recorder **out,
                                kumo_diag *diag);
/* Writes what is queued (for at most ~2 s), stops the thread, frees. NULL is a no-op. */
void kumo_recorder_destroy(kumo_recorder *recorder);

/*
 * Records an Event about `object` (a kumo object: its kind, namespace, name and uid are
 * copied). type is KUMO_RECORDER_NORMAL or KUMO_RECORDER_WARNING; reason CamelCase; action
 * what the controller was doing ("Create", "Delete", "Reconcile"; NULL: none).
 */
void kumo_recorder_event(kumo_recorder *recorder, const ProtobufCMessage *object, const char *type,
                         const char *reason, const char *action, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/*
 * Records an Event for each condition of `after` whose status or reason differs from
 * `before` (NULL: no conditions before) when the change is news to a user: Warning when
 * it turns bad (Ready False, Degraded True, Drifted True, UpToDate False, Failed True)
 * for a reason that is not ordinary progress (WaitingForDependencies, Provisioning, ...);
 * Normal when it turns good again after a Warning-worthy state.
 */
void kumo_recorder_conditions(kumo_recorder *recorder, const ProtobufCMessage *before,
                              const ProtobufCMessage *after);

/* Waits until nothing is queued or being written, at most `seconds`. 0 when idle. */
int kumo_recorder_flush(kumo_recorder *recorder, double seconds);
/* Runs one expiry sweep now, in the caller's thread (tests). Returns Events deleted. */
int kumo_recorder_sweep(kumo_recorder *recorder);
kumo_recorder_stats kumo_recorder_stats_get(kumo_recorder *recorder);

#endif
