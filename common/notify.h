/* SPDX-License-Identifier: Apache-2.0 */
/* notify.h: telling the service manager that a daemon is ready or stops. */
#ifndef FERRY_NOTIFY_H
#define FERRY_NOTIFY_H

/*
 * notify_ready tells the service manager (systemd, through the socket named
 * by NOTIFY_SOCKET) that the daemon is up: its sockets listen and it takes
 * work.  status is a one-line description shown by `systemctl status`.
 * Without NOTIFY_SOCKET it does nothing and returns 0, so daemons call it
 * unconditionally.  Returns 0, or FERR_IO when the message could not be
 * sent.
 */
int
notify_ready(const char *status);

/* notify_stopping says the daemon has begun to shut down.  Same contract
 * as notify_ready. */
int
notify_stopping(void);

/* notify_systemd_runs returns 1 when this machine was booted with systemd
 * as its service manager (so `systemctl` can start services), else 0. */
int
notify_systemd_runs(void);

#endif
