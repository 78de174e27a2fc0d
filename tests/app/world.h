/*
 * world.h - what the App controller tests share: kumod (API, tests/controllers/fixture.h),
 * a second nats-server as the agent bus (kumod's user + one nkey per Machine uid), Machine
 * objects made Running by hand, one real kumo-agent process per Machine, and the App
 * controller running in the test process.
 */
#ifndef KUMO_TESTS_APP_WORLD_H
#define KUMO_TESTS_APP_WORLD_H

#include <nats/nats.h>
#include <sys/types.h>

#include "apis/kumo/v1alpha1/app.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "controllers/app/app.h"
#include "tests/controllers/fixture.h"

#define WORLD_MACHINES 8

typedef struct app_world {
    api_fixture api;
    kumo_natsd *bus; /* the agent bus */
    natsConnection *admin;
    kumo_app_controller *controller;
    char agent_bin[1024];
    size_t machine_count;
    char names[WORLD_MACHINES][64];
    char uids[WORLD_MACHINES][64];
    pid_t agents[WORLD_MACHINES];
} app_world;

extern const unsigned char world_key[32];

/* kumod + agent bus; with need_agent, skips the case when bin/kumo-agent is not built. */
void world_start(app_world *w, int need_agent);
/* Starts the App controller (agent_timeout_ms 0: the default). */
void world_controller(app_world *w, double agent_timeout_ms);
/* Stops agents, controller, buses; frees. */
void world_stop(app_world *w);

/* Creates Machine `name` (infra "shop", group, label "slot=<name>") and makes it Running at
 * 127.0.0.1; lets its uid onto the agent bus. Returns its index. */
size_t world_machine(app_world *w, const char *name, const char *group);
/* Deletes Machine index i (its agent keeps running until world_agent_stop). */
void world_machine_delete(app_world *w, size_t i);
/* Starts / stops the kumo-agent of machine i (status interval 500 ms). */
void world_agent_start(app_world *w, size_t i);
void world_agent_stop(app_world *w, size_t i);

/* Creates or updates an App from JSON (printf-style); 0 on success. */
#define world_apply(w, ...) api_apply(&(w)->api, __VA_ARGS__)
/* default/name of kind App (NULL when absent); caller frees. */
Kumo__V1alpha1__App *world_app(app_world *w, const char *name);
/* 1 when App `name` has condition `type` with `status` (and `reason` unless NULL). */
int world_condition(app_world *w, const char *name, const char *type, const char *status,
                    const char *reason);
/* Waits up to `seconds` for world_condition; prints the App's conditions on failure. */
int world_wait_condition(app_world *w, double seconds, const char *name, const char *type,
                         const char *status, const char *reason);
/* Prints the App's status (for failures). */
void world_dump(app_world *w, const char *name);

#endif
