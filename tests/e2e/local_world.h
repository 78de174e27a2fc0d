/*
 * local_world.h - what the end-to-end tests on local machines share (root):
 * two local-driver Connections with names and a name prefix unique to the
 * run, an Infra "web" (group "front") spread over both, an App running an
 * HTTP service on each machine, and a sweep at exit that removes whatever a
 * failed run left on the host (namespaces, processes, nftables tables,
 * bridges).
 */
#ifndef KUMO_TESTS_E2E_LOCAL_WORLD_H
#define KUMO_TESTS_E2E_LOCAL_WORLD_H

#include <stddef.h>

#include "tests/e2e/e2e.h"

typedef struct local_world {
    char prefix[16]; /* name_prefix of both connections: every host name we make starts so */
    int port;        /* the service's port, unique to this run */
    char east[16], west[16]; /* connection names, unique to this run */
    int net; /* the connections' networks are 10.253.<net>.0/24 and 10.253.<net + 70>.0/24 */
    char links[32][64]; /* bridges and veths seen (their names do not carry the prefix) */
    size_t link_count;
} local_world;

/* Skips the case unless root with ip and python3. */
void local_world_require_root(void);
/* Names unique to this run (prefix "<tag><pid>"; connection names and `net` chosen so that no
 * network of the world overlaps one another run routes on the host); registers the exit
 * sweep. */
void local_world_init(local_world *w, const char *tag);
/* A local Connection `name` of the world on 10.253.<net>.0/24; 0 on success. */
int local_world_connection(e2e *t, const local_world *w, const char *name, int net);
/* The Infra "web": group "front" of `size` machines over both connections, the service's port
 * open. */
int local_world_infra(e2e *t, const local_world *w, int size);
/* App `name` on the Infra "web" group "front": one component "http" (command JSON members,
 * health check JSON). */
int local_world_app(e2e *t, const char *name, const char *command_json, const char *health_json);
/* 1 once App `name` is Ready with `instances` instances, within `seconds`. */
int local_world_app_ready(e2e *t, const char *name, int instances, double seconds);
/* Names of the Machines of Connection `connection` (at most max); how many. */
int local_world_machines_of(e2e *t, const char *connection, char names[][128], int max);
/* SIGKILLs the service's processes on every machine of `connection`. */
void local_world_kill_service(e2e *t, const local_world *w, const char *connection);
/* Remembers the host links the local driver made for both connections. */
void local_world_links_collect(e2e *t, local_world *w);
/* Deletes App "hello" and Infra "web", waits until nothing of the world is left on the host
 * (failing the case otherwise), deletes the connections. */
void local_world_finish(e2e *t, local_world *w);

/* Runs a shell command line; its exit status (-1 when it cannot run). */
int local_world_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runs a shell command line; the number of lines it printed (-1 when it cannot run). */
int local_world_sh_count(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The file's text escaped for a JSON string (malloc'd), NULL when unreadable. */
char *local_world_json_file(const char *path);
/* Prints an object as YAML to stderr (for failures). */
void local_world_dump(e2e *t, const char *kind, const char *name);

#endif
