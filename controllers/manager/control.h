/*
 * control.h - the driver-control RPC service on P.control.connections.<ns>.<name>,
 * answered by the manager that leads the connection controller.
 */
#ifndef KUMO_MANAGER_CONTROL_H
#define KUMO_MANAGER_CONTROL_H

#include "controllers/manager/internal.h"

kumo_error manager_control_subscribe(struct kumo_manager *m, kumo_diag *diag);

#endif
