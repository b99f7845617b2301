/* SPDX-License-Identifier: Apache-2.0 */
/* drain.c: a host drained for maintenance (ferry hosts drain|undrain):
 * the operator's request, recorded, and the host's ferry-proxy kept in
 * step with the record.
 *
 * The record is the truth: deployments and rollbacks skip a drained host
 * (plan.c, fed by fleet_host_drained) and catch-up waits for it.  The
 * proxy is brought to it by a Drain command whenever a heartbeat says its
 * proxy is otherwise (Poll.drain_state): at once when the host is online,
 * when it comes back when it was away, and again should the proxy lose
 * its state.  One Drain is in flight per host at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ferr.h"
#include "ferryd.h"
#include "log.h"

#define DRAIN_ACCEPT_MS	30000u	/* a Drain must be accepted by */
#define DRAIN_RESULT_MS	30000u	/* ... and answered by */
#define DRAIN_RETRY_MS	5000u	/* after a Drain that failed */

int
fleet_host_drained(const struct host *h)
{
	return h->rec.drained_by[0] != '\0';
}

/* drain_done hears the host's answer to a Drain. */
static void
drain_done(void *arg, struct host *h, const struct cmd *c,
    const Ferry__Report *report, const char *err)
{
	struct ferryd *fd = arg;
	int ok = report != NULL &&
	    report->status == FERRY__REPORT__STATUS__SUCCEEDED;
	const char *why = report != NULL && report->message &&
	    report->message[0] ? report->message : err ? err : "no answer";
	char detail[400];

	(void)c;
	h->drain_open = 0;
	if (ok) {
		/* The next heartbeats may still carry the proxy's reading
		 * from before: a few intervals before it is looked at again. */
		h->drain_retry_mono_ms = clock_mono_ms() + 3 *
		    (uint64_t)(h->interval_ms ? h->interval_ms : 1000);
		snprintf(detail, sizeof(detail), "its ferry-proxy %s",
		    fleet_host_drained(h) ? "takes no new connections on any "
		    "route (drained)" : "takes new connections again");
		log_info("host %s: %s", h->rec.name, detail);
		store_event(fd->store, "ferryd", "drain-applied", h->rec.name,
		    detail);
		return;
	}
	h->drain_retry_mono_ms = clock_mono_ms() + DRAIN_RETRY_MS;
	snprintf(detail, sizeof(detail), "its ferry-proxy could not be %s: "
	    "%.300s; tried again", fleet_host_drained(h) ? "drained" :
	    "undrained", why);
	log_warnx("host %s: %s", h->rec.name, detail);
	store_event(fd->store, "ferryd", "drain-failed", h->rec.name, detail);
}

/* drain_sync sends h a Drain when its last heartbeat says its proxy is
 * not as recorded (and none is in flight). */
static void
drain_sync(struct ferryd *fd, struct host *h, uint64_t now_ms)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Drain dr = FERRY__DRAIN__INIT;
	int want = fleet_host_drained(h);
	Ferry__DrainState st;
	int rc;

	if (!h->online || h->drain_open || h->rec.state != HOST_ACCEPTED ||
	    h->status == NULL || now_ms < h->drain_retry_mono_ms)
		return;
	st = h->status->drain_state;
	if (st == FERRY__DRAIN_STATE__DRAIN_UNKNOWN ||
	    (st == FERRY__DRAIN_STATE__DRAIN_DRAINED) == want)
		return;
	dr.drained = want;
	cmd.payload_case = FERRY__COMMAND__PAYLOAD_DRAIN;
	cmd.drain = &dr;
	if ((rc = link_command_long(fd, h, &cmd, "drain", DRAIN_ACCEPT_MS,
	    DRAIN_RESULT_MS, drain_done, fd)) != 0) {
		log_warnx("host %s: cannot send its Drain: %s", h->rec.name,
		    ferr_str(rc));
		h->drain_retry_mono_ms = now_ms + DRAIN_RETRY_MS;
		return;
	}
	h->drain_open = 1;
	log_info("host %s: its ferry-proxy is told to %s", h->rec.name,
	    want ? "drain" : "take new connections again");
}

void
drain_sweep(struct ferryd *fd)
{
	uint64_t now = clock_mono_ms();
	size_t i;

	for (i = 0; i < fd->nhosts; i++)
		drain_sync(fd, fd->hosts[i], now);
}

void
drain_request(struct ferryd *fd, struct rep_slot *slot, const char *name,
    int drained, const char *actor)
{
	Ferry__CtlReply r = FERRY__CTL_REPLY__INIT;
	struct host *h = name != NULL ? fleet_find(fd, name) : NULL;
	char detail[300], when[96];
	uint64_t now = clock_wall_ms();
	int rc;

	if (h == NULL) {
		log_warnx("hosts %s asked by %s refused: unknown host \"%s\"",
		    drained ? "drain" : "undrain", actor, name ? name : "");
		ctl_error(slot, "unknown host \"%s\"", name ? name : "");
		return;
	}
	if (h->rec.state != HOST_ACCEPTED) {
		log_warnx("hosts %s %s asked by %s refused: the host is %s",
		    drained ? "drain" : "undrain", name, actor,
		    host_state_name(h));
		ctl_error(slot, "host %s is %s: only an accepted host is "
		    "drained or undrained", name, host_state_name(h));
		return;
	}
	if (fleet_host_drained(h) == drained) {
		/* Nothing to change: said so, nothing recorded. */
		if (drained)
			snprintf(when, sizeof(when), " (by %s)",
			    h->rec.drained_by);
		ctl_error(slot, "host %s is already %s%s", name, drained ?
		    "drained" : "serving: it is not drained", drained ? when :
		    "");
		return;
	}
	snprintf(detail, sizeof(detail), drained ? "drained: deployments "
	    "skip it and its ferry-proxy takes no new connections" :
	    "undrained: deployments include it and its ferry-proxy takes "
	    "new connections again");
	if ((rc = store_host_set_drained(fd->store, name, drained ? actor : "",
	    drained ? now : 0, actor, detail)) != 0) {
		ctl_error(slot, "cannot record: %s", ferr_str(rc));
		return;
	}
	snprintf(h->rec.drained_by, sizeof(h->rec.drained_by), "%s",
	    drained ? actor : "");
	h->rec.drained_at_ms = drained ? now : 0;
	h->drain_retry_mono_ms = 0;
	log_info("host %s: %s by %s", name, drained ? "drained" : "undrained",
	    actor);
	drain_sync(fd, h, clock_mono_ms());
	r.ok = 1;
	ctl_reply(slot, &r);
}
