/*
 * flags.h - kumod's command line: one table of flags (flags.c), each with the
 * function that checks and stores its value.
 */
#ifndef KUMOD_FLAGS_H
#define KUMOD_FLAGS_H

#define KUMOD_DEFAULT_EMBEDDED_PORT 4222

typedef struct kumod_flags {
    char data_dir[1024];
    const char *nats_url;
    char embedded_host[64];
    int embedded_port;
    const char *prefix;
    int workers;
    char agent_host[64]; /* "" with --agent-listen none */
    int agent_port;
    const char *agent_advertise;
    const char *metrics_listen; /* NULL: the default, given up quietly when taken */
    int metrics_interval_ms;
    const char *http_listen; /* "" turns the Kubernetes API off */
    int http_listen_given;   /* 1: failing to listen is fatal */
    /* The controller manager (docs/controllers.md). */
    const char *controllers;         /* --controllers */
    char drivers_dir[1024];          /* --drivers-dir */
    const char *latency_table;       /* --latency-table */
    double drift_poll_seconds;       /* --drift-poll-seconds */
    long max_machines_per_infra;     /* --max-machines-per-infra (the store checks it) */
    long max_machines_per_namespace; /* --max-machines-per-namespace */
    long event_ttl_seconds;          /* --event-ttl-seconds */
    long events_per_namespace;       /* --events-per-namespace */
} kumod_flags;

/*
 * Fills f from the defaults and argv (values borrowed from argv). Returns 0 to
 * go on, 1 to exit 0 (help, version printed), 2 after printing a usage error
 * that names the flag and what it expects.
 */
int kumod_flags_parse(int argc, char **argv, kumod_flags *f);

/* 1 unless --controllers none. */
int kumod_flags_run_controllers(const kumod_flags *f);

#endif
