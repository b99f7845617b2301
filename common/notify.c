/* SPDX-License-Identifier: Apache-2.0 */
/* notify.c: readiness and shutdown notices to systemd (libsystemd). */
#include <stdio.h>

#include <systemd/sd-daemon.h>

#include "ferr.h"
#include "notify.h"

/* send_notice passes one notice on; sd_notify returns 0 when NOTIFY_SOCKET
 * is unset, positive when sent, negative on failure. */
static int
send_notice(const char *msg)
{
	return sd_notify(0, msg) < 0 ? FERR_IO : 0;
}

int
notify_ready(const char *status)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	return send_notice(msg);
}

int
notify_stopping(void)
{
	return send_notice("STOPPING=1\nSTATUS=shutting down");
}

int
notify_systemd_runs(void)
{
	return sd_booted() > 0;
}
