/*
 * orphan.h - stopping the nats-servers a kumod killed with SIGKILL left
 * behind (they run in their own process group, so they outlive it).
 */
#ifndef KUMOD_ORPHAN_H
#define KUMOD_ORPHAN_H

#include <sys/types.h>

/* 1 while pid runs; a zombie (an orphan nobody reaps) does not run. */
int kumod_pid_running(pid_t pid);

/* SIGTERM (graceful) or SIGKILL, then waits up to 5 s for it to end. */
void kumod_orphan_stop(pid_t pid, int graceful);

#endif
