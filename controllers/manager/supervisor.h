/*
 * supervisor.h - the lease supervisor: one lease per enabled row, and a
 * thread that starts a row's controller while its lease is held and stops it
 * when the lease is lost. The lease thread only flips a flag and wakes the
 * supervisor, so a slow start never delays a renewal; a failed start is tried
 * again after MANAGER_RETRY_START_MS. The same thread publishes the metrics
 * every metrics_interval_ms.
 */
#ifndef KUMO_MANAGER_SUPERVISOR_H
#define KUMO_MANAGER_SUPERVISOR_H

#include "controllers/manager/internal.h"

#define MANAGER_RETRY_START_MS 1000 /* after a controller failed to start */
#define MANAGER_TICK_MS        200  /* the supervisor looks at least this often */

/* Fills m->slots from the table and the --controllers list; starts the enabled rows' leases. */
kumo_error manager_slots_open(struct kumo_manager *m, kumo_diag *diag);
/* Starts the supervisor thread. */
kumo_error manager_supervisor_start(struct kumo_manager *m, kumo_diag *diag);
/* Stops the thread, then every running controller (reverse order), then the leases. */
void manager_supervisor_stop(struct kumo_manager *m);
/* 1 while this manager leads the row `name` / any row. */
int manager_slot_leads(struct kumo_manager *m, const char *name);
int manager_leads_any(struct kumo_manager *m);
/* 1 when `name` is on for the list (NULL, "" or "all": the rows' defaults; "none": none). */
int manager_listed(const char *list, const manager_row *row);

#endif
