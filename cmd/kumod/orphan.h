/*
 * orphan.h - stopping the nats-servers a kumod killed with SIGKILL left
 * behind (they run in their own process group, so they outlive it).
 */
#ifndef KUMOD_ORPHAN_H
#define KUMOD_ORPHAN_H

#include <stddef.h>
#include <sys/types.h>

/* Reads /proc/<pid>/<file> into buf (NUL-terminated); its length, or -1. */
long kumod_proc_read(pid_t pid, const char *file, char *buf, size_t size);

/* 1 while pid runs; a zombie (an orphan nobody reaps) does not run. */
int kumod_pid_running(pid_t pid);

/* SIGTERM (graceful) or SIGKILL, then waits up to 5 s for it to end. */
void kumod_orphan_stop(pid_t pid, int graceful);

#endif
