/*
 * orphan.h - stopping the nats-servers a kumod killed with SIGKILL left
 * behind. The one place kumod reaps them: the embedded API bus runs in its
 * own process group (so that Ctrl-C reaches kumod first and it can drain)
 * and outlives a SIGKILLed kumod; the agent bus dies with kumod
 * (bus/agentbus), but one left by an older kumod is stopped here too.
 */
#ifndef KUMOD_ORPHAN_H
#define KUMOD_ORPHAN_H

#include <sys/types.h>

#define KUMOD_ORPHAN_STOP_WAIT_MS 5000 /* after SIGTERM (or SIGKILL), before SIGKILL */

/*
 * Stops the nats-servers of data_dir: the one serving JetStream from
 * data_dir/nats (gracefully) and the agent bus named by its pid file. Call
 * only while holding the store's lock, which proves that no other kumod uses
 * data_dir.
 */
void kumod_orphans_stop(const char *data_dir);

/* 1 while pid runs; a zombie (an orphan nobody reaps) does not run. */
int kumod_pid_running(pid_t pid);

#endif
