/*
 * prom.h - a real Prometheus (Debian's package) for the monitoring tests: one
 * server on a free loopback port with a temporary data directory, scraping
 * one target, and PromQL queries over its HTTP API.
 */
#ifndef KUMO_TESTS_MONITOR_PROM_H
#define KUMO_TESTS_MONITOR_PROM_H

#include <sys/types.h>

#include "apis/codec/codec.h"

typedef struct prom {
    pid_t pid;
    int port;
    char dir[512];
} prom;

/* Starts Prometheus scraping 127.0.0.1:target_port/metrics every interval_s; 0 once ready,
 * -1 when it did not come up (its log is printed). Skips the case when it is not installed. */
int prom_start(prom *p, const char *dir, int target_port, int interval_s);
void prom_stop(prom *p);

/* The result array of an instant PromQL query (data.result), or NULL on failure; the caller
 * destroys the returned root with kumo_codec_value_destroy (*root). */
const kumo_value *prom_query(prom *p, const char *promql, kumo_value **root);
/* Series in the result of promql; -1 on failure. */
int prom_count(prom *p, const char *promql);
/* The value of the first series of promql, or -1 when there is none. */
double prom_value(prom *p, const char *promql);

/* GET http://127.0.0.1:port<path>: the body (malloc'd; NULL when nothing answered) and the
 * status code in *code. */
char *prom_http_get(int port, const char *path, int *code);

/* A TCP port nobody listens on now. */
int prom_free_port(void);

#endif
