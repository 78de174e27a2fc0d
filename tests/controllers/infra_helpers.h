/*
 * infra_helpers.h - what the infra controller tests share: the controller
 * manager in this process (with a credential reader), condition and object
 * predicates for api_wait, and a direct driver connection to the fixture's
 * sim account.
 */
#ifndef KUMO_TESTS_CONTROLLERS_INFRA_HELPERS_H
#define KUMO_TESTS_CONTROLLERS_INFRA_HELPERS_H

#include "apis/error/error.h"
#include "controllers/manager/manager.h"
#include "drivers/loader/loader.h"
#include "tests/controllers/fixture.h"

/* Credentials "good" (secret s3cret) and "bad" (secret wrong); others are not found. */
kumo_error read_credential(void *context, const char *ns, const char *name, ProtobufCMessage **out,
                           kumo_diag *diag);
/* A manager running the controllers of `list` against the fixture (NULL on failure). */
kumo_manager *start_controllers(api_fixture *f, const char *list);

/* api_wait predicate: condition `type` of kind/name has `status` (and `reason` unless NULL). */
typedef struct condition_want {
    const char *kind, *name, *type, *status, *reason;
} condition_want;
int has_condition(api_fixture *f, void *arg);
void print_condition(api_fixture *f, const char *kind, const char *name, const char *type);

/* A Machine on connection c0 (printf: name, extra metadata). */
extern const char plain_machine[];
/* api_wait predicates: Machine `arg` (a name) Running; {kind, name} (const char *[2]) gone. */
int machine_running(api_fixture *f, void *arg);
int object_gone(api_fixture *f, void *arg);

/* A driver connection of this process to the fixture's sim account (shares its state). */
struct kumo_driver_conn *sim_open(api_fixture *f, kumo_driver_handle **handle);
/* The number of live machines with `token` in the sim. */
size_t sim_machines_with_token(kumo_driver_handle *handle, struct kumo_driver_conn *conn,
                               const char *token);

#endif
