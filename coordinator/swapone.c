/* SPDX-License-Identifier: Apache-2.0 */
/* swapone.c: `ferry swap HOST SPEC.yml` and `ferry swap HOST --rollback
 * SERVICE`: one swap on one host outside any rollout, for repairs (and
 * tests).  The tag is resolved by a Pull on that host, the spec is kept as
 * a new revision of the service, then the Swap goes out; the CLI's request
 * is answered with the signed result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferr.h"
#include "driftwatch.h"
#include "ferryd.h"
#include "log.h"
#include "spec.h"
#include "specwire.h"

/* How long a command may wait to be accepted, and the slack a swap gets
 * beyond its health deadline for pulling, stopping and tidying. */
#define SWAP_ACCEPT_MS	30000u
#define PULL_RESULT_MS	600000u
#define SWAP_SLACK_MS	180000u
/* How many earlier revisions a weighted swap looks through for its own. */
#define SAME_LOOKBACK	32u

struct swap_wait {
	struct ferryd *fd;
	struct rep_slot *slot;
	char host[HOST_NAME_MAX_LEN + 1];
	char actor[64];
	struct spec *spec;
	char *text;		/* the spec as sent (NUL-terminated copy) */
	uint64_t revision;
	uint32_t weight;	/* --weight: 1..99, or 0 / 100: all */
	int beside;		/* --keep-old: weight 0..100, both run */
	char digest[300];
};

/* wait_new starts waiting for one host's answer to slot's request; NULL
 * (slot answered) when out of memory. */
static struct swap_wait *
wait_new(struct ferryd *fd, struct rep_slot *slot, const struct host *h,
    const char *actor)
{
	struct swap_wait *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		ctl_error(slot, "ferryd is out of memory");
		return NULL;
	}
	w->fd = fd;
	w->slot = slot;
	snprintf(w->host, sizeof(w->host), "%s", h->rec.name);
	snprintf(w->actor, sizeof(w->actor), "%s", actor);
	return w;
}

static void
wait_free(struct swap_wait *w)
{
	spec_free(w->spec);
	free(w->text);
	free(w);
}

/* on_swap_done answers the CLI with the agent's signed result. */
static void
on_swap_done(void *arg, struct host *h, const struct cmd *c,
    const Ferry__Report *report, const char *err)
{
	struct swap_wait *w = arg;
	Ferry__CtlReply r = FERRY__CTL_REPLY__INIT;
	char detail[512];

	(void)c;
	if (report == NULL || report->result_case !=
	    FERRY__REPORT__RESULT_SWAP) {
		ctl_error(w->slot, "host %s: %s", h->rec.name, report != NULL &&
		    report->message && report->message[0] ? report->message :
		    err ? err : "no result");
		wait_free(w);
		return;
	}
	snprintf(detail, sizeof(detail), "%s r%llu: %s%s%s",
	    report->swap->service, (unsigned long long)w->revision,
	    report->status == FERRY__REPORT__STATUS__SUCCEEDED ? "swapped" :
	    "failed", report->message && report->message[0] ? ": " : "",
	    report->message ? report->message : "");
	store_event(w->fd->store, w->actor, "swap", h->rec.name, detail);
	log_info("host %s: %s", h->rec.name, detail);
	r.ok = 1;
	r.swap = report->swap;
	r.revision = w->revision;
	r.digest = w->digest;
	ctl_reply(w->slot, &r);
	wait_free(w);
}

static void
send_swap(struct swap_wait *w, struct host *h)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Swap sw = FERRY__SWAP__INIT;
	struct swap_seal seal;
	uint64_t budget;
	int rc;

	secrets_swap_seal(w->fd, h->rec.pk, &seal);
	if ((rc = spec_swap_fill(w->spec, w->revision, w->digest, 0, &seal,
	    &sw)) != 0) {
		ctl_error(w->slot, "cannot build the swap: %s%s", ferr_str(rc),
		    rc == FERR_NOTFOUND ? " (a secret it pins was removed)" :
		    "");
		wait_free(w);
		return;
	}
	sw.weight = w->weight;
	sw.beside = w->beside;
	cmd.payload_case = FERRY__COMMAND__PAYLOAD_SWAP;
	cmd.swap = &sw;
	budget = (uint64_t)w->spec->health.deadline_ms +
	    w->spec->health.min_healthy_ms + SWAP_SLACK_MS;
	rc = link_command_long(w->fd, h, &cmd, "swap", SWAP_ACCEPT_MS, budget,
	    on_swap_done, w);
	spec_swap_clear(&sw);
	if (rc != 0) {
		ctl_error(w->slot, "cannot send the swap: %s", ferr_str(rc));
		wait_free(w);
	}
}

/*
 * same_revision finds, among the SAME_LOOKBACK revisions of the service
 * before w's, the newest one with w's very spec text and digest: a swap
 * with a weight (or --keep-old) names it instead, so that a host running
 * it beside another sees the revision it runs and only changes the
 * route's weights (nothing starts; the agent's short path).  0: none.
 */
static uint64_t
same_revision(const struct swap_wait *w)
{
	uint64_t k;

	for (k = w->revision - 1; k >= 1 && k + SAME_LOOKBACK >= w->revision;
	    k--) {
		char *text = NULL, *digest = NULL;
		int same;

		if (store_revision_get(w->fd->store, w->spec->service, k, NULL,
		    &text, &digest, NULL) != 0)
			continue;
		same = text != NULL && digest != NULL &&
		    strcmp(text, w->text) == 0 &&
		    strcmp(digest, w->digest) == 0;
		free(text);
		free(digest);
		if (same)
			return k;
	}
	return 0;
}

static void
on_pull_done(void *arg, struct host *h, const struct cmd *c,
    const Ferry__Report *report, const char *err)
{
	struct swap_wait *w = arg;

	(void)c;
	if (report == NULL || report->status !=
	    FERRY__REPORT__STATUS__SUCCEEDED || report->result_case !=
	    FERRY__REPORT__RESULT_PULL) {
		ctl_error(w->slot, "pull on %s failed: %s", h->rec.name,
		    report != NULL && report->message ? report->message :
		    err ? err : "no result");
		wait_free(w);
		return;
	}
	snprintf(w->digest, sizeof(w->digest), "%s", report->pull->digest);
	log_info("host %s: %s resolved to %s", h->rec.name, w->spec->image,
	    w->digest);
	if ((w->weight != 0 || w->beside) && w->text != NULL) {
		uint64_t k = same_revision(w);

		if (k != 0) {
			/* The request's own row keeps no digest: it never
			 * ran, and a later look finds k, not it. */
			log_info("host %s: %s revision %llu is revision %llu "
			    "again (same spec, same digest): the swap names "
			    "%llu", h->rec.name, w->spec->service,
			    (unsigned long long)w->revision,
			    (unsigned long long)k, (unsigned long long)k);
			w->revision = k;
			send_swap(w, h);
			return;
		}
	}
	store_revision_set_digest(w->fd->store, w->spec->service, w->revision,
	    w->digest);
	send_swap(w, h);
}

/* kept_revision finds the revision a host keeps stopped for service: the
 * newest one that does not run, among the host's containers cs. */
static uint64_t
kept_revision(Ferry__Container *const *cs, size_t n, const char *service)
{
	uint64_t running = 0, kept = 0, r;
	size_t i;

	for (i = 0; i < n; i++) {
		const Ferry__Container *c = cs[i];
		if (strcmp(c->service, service) == 0 &&
		    strcmp(c->state, "running") == 0)
			running = strtoull(c->revision, NULL, 10);
	}
	for (i = 0; i < n; i++) {
		const Ferry__Container *c = cs[i];
		if (strcmp(c->service, service) != 0 ||
		    strcmp(c->state, "running") == 0)
			continue;
		r = strtoull(c->revision, NULL, 10);
		if (r != running && r > kept)
			kept = r;
	}
	return kept;
}

static void
send_rollback(struct ferryd *fd, struct rep_slot *slot, struct host *h,
    const char *service, const char *actor, uint64_t kept)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Rollback rb = FERRY__ROLLBACK__INIT;
	Ferry__HealthSpec *hs = NULL;
	Ferry__PortBinding pb = FERRY__PORT_BINDING__INIT;
	Ferry__ProxySettings *ps = NULL;
	struct swap_wait *w;
	char *file = NULL, *text = NULL, *digest = NULL, err[512];
	uint64_t budget = 60000 + SWAP_SLACK_MS;
	int rc;

	if ((w = wait_new(fd, slot, h, actor)) == NULL)
		return;
	w->revision = kept;
	/* The kept revision's own spec says how to judge its health. */
	if (w->revision != 0 && store_revision_get(fd->store, service,
	    w->revision, &file, &text, &digest, NULL) == 0 &&
	    spec_parse(file, text, strlen(text), &w->spec, err,
	    sizeof(err)) == 0 && spec_health_new(w->spec, &hs) == 0) {
		rb.health = hs;
		if (w->spec->port.set) {
			pb.host = w->spec->port.host;
			pb.container = w->spec->port.container;
			rb.port = &pb;
		}
		if (spec_proxy_new(w->spec, &ps) == 0)
			rb.proxy = ps;
		budget = (uint64_t)w->spec->health.deadline_ms +
		    w->spec->health.min_healthy_ms + SWAP_SLACK_MS;
		snprintf(w->digest, sizeof(w->digest), "%s", digest);
	}
	free(file);
	free(text);
	free(digest);
	rb.service = (char *)service;
	cmd.payload_case = FERRY__COMMAND__PAYLOAD_ROLLBACK;
	cmd.rollback = &rb;
	rc = link_command_long(fd, h, &cmd, "rollback", SWAP_ACCEPT_MS, budget,
	    on_swap_done, w);
	spec_health_free(hs);
	free(ps);
	if (rc != 0) {
		ctl_error(slot, "cannot send the rollback: %s", ferr_str(rc));
		wait_free(w);
	}
}

static void
do_remove(struct ferryd *fd, struct rep_slot *slot, struct host *h,
    const char *service, const char *actor)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Remove rm = FERRY__REMOVE__INIT;
	struct swap_wait *w;
	int rc;

	if ((w = wait_new(fd, slot, h, actor)) == NULL)
		return;
	rm.service = (char *)service;
	cmd.payload_case = FERRY__COMMAND__PAYLOAD_REMOVE;
	cmd.remove = &rm;
	if ((rc = link_command_long(fd, h, &cmd, "remove", SWAP_ACCEPT_MS,
	    SWAP_SLACK_MS, on_swap_done, w)) != 0) {
		ctl_error(slot, "cannot send the remove: %s", ferr_str(rc));
		wait_free(w);
		return;
	}
	/* The operator's decision: catch-up leaves it (drift16). */
	driftwatch_removed(fd, h->rec.name, service, actor);
}

/* A rollback first asks the host what it has (an Inventory), so that
 * the kept revision is known now, not as of the last heartbeat. */
struct inv_wait {
	struct ferryd *fd;
	struct rep_slot *slot;
	char service[64];
	char actor[64];
};

static void
on_inventory(void *arg, struct host *h, const struct cmd *c,
    const Ferry__Report *report, const char *err)
{
	struct inv_wait *iw = arg;

	(void)c;
	if (report == NULL || report->status !=
	    FERRY__REPORT__STATUS__SUCCEEDED || report->result_case !=
	    FERRY__REPORT__RESULT_INVENTORY)
		ctl_error(iw->slot, "inventory of %s failed: %s", h->rec.name,
		    report != NULL && report->message && report->message[0] ?
		    report->message : err ? err : "no result");
	else
		send_rollback(iw->fd, iw->slot, h, iw->service,
		    iw->actor, kept_revision(report->inventory->containers,
		    report->inventory->n_containers, iw->service));
	free(iw);
}

static void
do_rollback(struct ferryd *fd, struct rep_slot *slot, struct host *h,
    const char *service, const char *actor)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Inventory inv = FERRY__INVENTORY__INIT;
	struct inv_wait *iw = calloc(1, sizeof(*iw));
	int rc;

	if (iw == NULL) {
		ctl_error(slot, "ferryd is out of memory");
		return;
	}
	iw->fd = fd;
	iw->slot = slot;
	snprintf(iw->service, sizeof(iw->service), "%s", service);
	snprintf(iw->actor, sizeof(iw->actor), "%s", actor);
	cmd.payload_case = FERRY__COMMAND__PAYLOAD_INVENTORY;
	cmd.inventory = &inv;
	if ((rc = link_command_long(fd, h, &cmd, "inventory", SWAP_ACCEPT_MS,
	    SWAP_SLACK_MS, on_inventory, iw)) != 0) {
		ctl_error(slot, "cannot send the inventory: %s", ferr_str(rc));
		free(iw);
	}
}

void
swapone_start(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__SwapOne *req, const char *actor)
{
	Ferry__Command cmd = FERRY__COMMAND__INIT;
	Ferry__Pull pull = FERRY__PULL__INIT;
	struct swap_wait *w;
	struct host *h;
	char err[8192];
	int rc;

	h = req->host ? fleet_find(fd, req->host) : NULL;
	if (h == NULL) {
		ctl_error(slot, "unknown host \"%s\"", req->host ? req->host :
		    "");
		return;
	}
	if (h->rec.state != HOST_ACCEPTED || !h->online) {
		ctl_error(slot, "host %s is %s", h->rec.name, host_state_name(h));
		return;
	}
	if (req->rollback_service && req->rollback_service[0]) {
		do_rollback(fd, slot, h, req->rollback_service, actor);
		return;
	}
	if (req->remove_service && req->remove_service[0]) {
		do_remove(fd, slot, h, req->remove_service, actor);
		return;
	}
	if (req->weight > 100) {
		ctl_error(slot, "weight %u: a share from 0 to 100 (percent of "
		    "new traffic)", req->weight);
		return;
	}
	if ((w = wait_new(fd, slot, h, actor)) == NULL)
		return;
	w->weight = req->weight;
	w->beside = req->beside;
	if (req->spec.data != NULL &&
	    (w->text = malloc(req->spec.len + 1)) != NULL) {
		memcpy(w->text, req->spec.data, req->spec.len);
		w->text[req->spec.len] = '\0';
	}
	/* Bad input changes nothing: the spec is checked before anything is
	 * recorded or sent. */
	if (spec_parse(req->spec_file, req->spec.data != NULL ?
	    (const char *)req->spec.data : "", req->spec.len, &w->spec, err,
	    sizeof(err)) != 0) {
		log_warnx("swap on %s refused: %.*s%s", h->rec.name,
		    (int)strcspn(err, "\n"), err, strchr(err, '\n') ?
		    " (and more problems)" : "");
		ctl_error(slot, "%s", err);
		wait_free(w);
		return;
	}
	if ((rc = secrets_pin(fd, w->spec, err, sizeof(err))) != 0) {
		ctl_error(slot, "%s: %s", req->spec_file ? req->spec_file :
		    "spec", err);
		wait_free(w);
		return;
	}
	if ((rc = store_revision_add(fd->store, w->spec->service,
	    req->spec_file ? req->spec_file : "spec",
	    (const char *)req->spec.data, req->spec.len, w->spec->image, actor,
	    w->spec->secrets, w->spec->nsecrets, &w->revision)) != 0) {
		ctl_error(slot, "cannot record the revision: %s", ferr_str(rc));
		wait_free(w);
		return;
	}
	log_info("host %s: swap of %s to revision %llu (%s) asked by %s",
	    h->rec.name, w->spec->service, (unsigned long long)w->revision,
	    w->spec->image, actor);
	/* The host resolves the tag to one digest, and the swap names it;
	 * a registry with a login has it sealed to the host. */
	{
		uint8_t *auth = NULL;
		size_t len = 0;

		if ((rc = secrets_registry_value(fd, w->spec->image, &auth,
		    &len)) == 0 && auth != NULL)
			rc = specwire_seal(h->rec.pk, auth, len,
			    &pull.sealed_auth.data, &pull.sealed_auth.len);
		secrets_value_free(auth);
		if (rc != 0) {
			ctl_error(slot, "cannot seal the registry login: %s",
			    ferr_str(rc));
			wait_free(w);
			return;
		}
	}
	pull.image = w->spec->image;
	cmd.payload_case = FERRY__COMMAND__PAYLOAD_PULL;
	cmd.pull = &pull;
	rc = link_command_long(fd, h, &cmd, "pull", SWAP_ACCEPT_MS,
	    PULL_RESULT_MS, on_pull_done, w);
	free(pull.sealed_auth.data);
	if (rc != 0) {
		ctl_error(slot, "cannot send the pull: %s", ferr_str(rc));
		wait_free(w);
	}
}
