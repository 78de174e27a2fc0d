/*
 * metrics.h - the metrics publisher: the counters document (kumo_manager_metrics)
 * on P.metrics.controllers, published by the supervisor's tick and answered
 * on request by a manager that leads something.
 */
#ifndef KUMO_MANAGER_METRICS_H
#define KUMO_MANAGER_METRICS_H

#include "controllers/manager/internal.h"

#define MANAGER_METRICS_INTERVAL_MS 5000 /* default metrics_interval_ms */

kumo_error manager_metrics_subscribe(struct kumo_manager *m, kumo_diag *diag);
void manager_metrics_publish(struct kumo_manager *m);

#endif
