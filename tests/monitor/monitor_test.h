/* monitor_test.h - what the monitoring cases share. */
#ifndef KUMO_TESTS_MONITOR_TEST_H
#define KUMO_TESTS_MONITOR_TEST_H

#include <stdarg.h>

/* Runs a shell command line; its exit status (-1 when it cannot run). */
int monitor_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* GET 127.0.0.1:port/metrics; the body (malloc'd) or NULL unless 200. */
char *monitor_scrape(int port);
/* 1 when `promtool check metrics` finds nothing to say about a scrape of port (saved in dir). */
int monitor_promtool_ok(int port, const char *dir);

#endif
