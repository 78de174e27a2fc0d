/*
 * natsd.h - runs a real nats-server as a child process.
 *
 * kumod uses it for its embedded bus (no --nats URL given), and every bus
 * test uses it to get a real server on a free loopback port with a temporary
 * JetStream directory. The server is never mocked.
 *
 * Thread safety: a kumo_natsd handle is used by one thread at a time.
 */
#ifndef KUMO_NATSD_H
#define KUMO_NATSD_H

#include <sys/types.h>

#include "apis/error/error.h"

typedef struct kumo_natsd kumo_natsd;

typedef struct kumo_natsd_options {
    const char *binary;      /* NULL: $KUMO_NATS_SERVER, else "nats-server" from PATH */
    const char *host;        /* NULL: "127.0.0.1" */
    int port;                /* 0: a free port is picked */
    const char *store_dir;   /* JetStream directory (created); NULL: JetStream off */
    const char *log_file;    /* NULL: the server's output goes to /dev/null */
    int ready_timeout_ms;    /* 0: 10000 */
    long max_payload;        /* largest message in bytes; 0: nats-server's default (1 MiB) */
    const char *config_text; /* more configuration (an authorization block); NULL: none */
    /* Where the configuration file goes (mode 0600, overwritten, removed by destroy). NULL: a
     * new temporary file in $TMPDIR, which a SIGKILLed owner leaves behind: owners with a
     * directory of their own (kumod's data dir) name a fixed file there instead. */
    const char *config_path;
    /* 1: the server is killed (SIGKILL) when the thread that started it ends, the process
     * included, even by SIGKILL (Linux PR_SET_PDEATHSIG): for a server that keeps no state
     * (kumod's agent bus). Start it from a thread that lives as long as the process. */
    int die_with_owner;
} kumo_natsd_options;

/*
 * Starts nats-server and waits until it accepts clients. On success *out is a
 * handle the caller owns (kumo_natsd_destroy). Errors: UNAVAILABLE when the
 * binary is missing or the server does not become ready in time (the message
 * says which and how to install it), IO when the process cannot be started.
 */
kumo_error kumo_natsd_start(const kumo_natsd_options *options, kumo_natsd **out, kumo_diag *diag);

/* "nats://127.0.0.1:PORT"; borrowed until destroy. */
const char *kumo_natsd_url(const kumo_natsd *natsd);
int kumo_natsd_port(const kumo_natsd *natsd);
pid_t kumo_natsd_pid(const kumo_natsd *natsd);

/* Sends `signal` (SIGKILL for fault tests) and reaps the process. */
void kumo_natsd_kill(kumo_natsd *natsd, int signal);

/* Starts the server again on the same port and store dir (after a kill). */
kumo_error kumo_natsd_restart(kumo_natsd *natsd, kumo_diag *diag);

/*
 * Replaces the configuration text given at start and makes the server reload
 * it (SIGHUP; clients whose permissions changed are re-checked by the server).
 * Errors: INVALID_ARGUMENT (started without config_text or max_payload), IO,
 * UNAVAILABLE (not running).
 */
kumo_error kumo_natsd_reload(kumo_natsd *natsd, const char *config_text, kumo_diag *diag);

/* Stops the server gracefully (SIGTERM, then SIGKILL after 5 s) and frees the handle. */
void kumo_natsd_destroy(kumo_natsd *natsd);

#endif
