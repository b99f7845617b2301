/* SPDX-License-Identifier: Apache-2.0 */
/* fleet.c: the hosts ferryd knows, and whether each is online. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "clock.h"
#include "ferr.h"
#include "ferryd.h"
#include "log.h"
#include "traffic.h"

/* How often last-seen times are written back when nothing else changes. */
#define SEEN_FLUSH_MS	10000

int
host_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > HOST_NAME_MAX_LEN)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!isalnum(c) && c != '-' && c != '_' && c != '.')
			return 0;
	}
	return isalnum((unsigned char)name[0]);
}

int
label_ok(const char *key, const char *value)
{
	size_t i;

	if (!host_name_ok(key) || strlen(key) > LABEL_KEY_MAX ||
	    strlen(value) > LABEL_VALUE_MAX)
		return 0;
	for (i = 0; value[i] != '\0'; i++)
		if (!isprint((unsigned char)value[i]))
			return 0;
	return 1;
}

const char *
host_state_name(const struct host *h)
{
	switch (h->rec.state) {
	case HOST_PENDING:
		return "pending";
	case HOST_REVOKED:
		return "revoked";
	case HOST_ACCEPTED:
		break;
	}
	return h->online ? "online" : "offline";
}

static int
push(struct ferryd *fd, struct host *h)
{
	if (fd->nhosts == fd->caphosts) {
		size_t cap = fd->caphosts ? fd->caphosts * 2 : 16;
		struct host **n = realloc(fd->hosts, cap * sizeof(*n));
		if (n == NULL)
			return FERR_NOMEM;
		fd->hosts = n;
		fd->caphosts = cap;
	}
	fd->hosts[fd->nhosts++] = h;
	return 0;
}

static struct host *
host_new(const struct host_rec *rec)
{
	struct host *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->rec = *rec;
	keys_fingerprint(rec->pk, h->fpr);
	h->interval_ms = 5000;
	return h;
}

struct load_ctx {
	struct ferryd *fd;
	int rc;
};

static void
on_host(void *arg, const struct host_rec *rec)
{
	struct load_ctx *c = arg;
	struct host *h = host_new(rec);

	if (h == NULL || push(c->fd, h) != 0) {
		free(h);
		c->rc = FERR_NOMEM;
	}
}

int
fleet_load(struct ferryd *fd)
{
	struct load_ctx c = { fd, 0 };
	int rc;

	if ((rc = store_hosts_load(fd->store, on_host, &c)) != 0)
		return rc;
	return c.rc;
}

void
fleet_free(struct ferryd *fd)
{
	size_t i;

	for (i = 0; i < fd->nhosts; i++) {
		struct host *h = fd->hosts[i];

		link_outbox_free(h);
		if (h->status != NULL)
			ferry__poll__free_unpacked(h->status, NULL);
		free(h->read);
		free(h);
	}
	free(fd->hosts);
	free(fd->by_name);
	free(fd->by_key);
	fd->hosts = fd->by_name = fd->by_key = NULL;
	fd->nhosts = fd->caphosts = fd->index_cap = fd->indexed = 0;
}

/* ---- the indexes ---------------------------------------------------------
 * Every message from an agent looks its host up by key, and many lookups
 * go by name: with a thousand hosts a scan per message is the cost that
 * shows.  Two open-addressing tables, at most half full, hashed with
 * SipHash under a key of ferryd's own (names and keys come from peers, so
 * nobody can aim collisions at a slot).  A new host joins the tables,
 * which are rebuilt when they grow, a key changes or a host is removed (a
 * pending host that lost its name to a token). */

static size_t
slot_of(struct ferryd *fd, const void *data, size_t len)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, data, len, fd->index_key);
	memcpy(&v, h, sizeof(v));
	return (size_t)(v & (fd->index_cap - 1));
}

static void
index_put(struct ferryd *fd, struct host **table, struct host *h,
    const void *data, size_t len)
{
	size_t i = slot_of(fd, data, len);

	while (table[i] != NULL)
		i = (i + 1) & (fd->index_cap - 1);
	table[i] = h;
}

/* index_fresh rebuilds the tables when they do not cover every host;
 * 0 when they are usable. */
static int
index_fresh(struct ferryd *fd)
{
	struct host **byname, **bykey;
	size_t i, cap = 16;

	if (fd->by_name != NULL && fd->indexed == fd->nhosts)
		return 0;
	/* One host more, and room for it: it joins the tables as they are. */
	if (fd->by_name != NULL && fd->indexed != (size_t)-1 &&
	    fd->indexed + 1 == fd->nhosts &&
	    fd->nhosts * 2 <= fd->index_cap) {
		struct host *h = fd->hosts[fd->indexed];
		index_put(fd, fd->by_name, h, h->rec.name, strlen(h->rec.name));
		index_put(fd, fd->by_key, h, h->rec.pk, KEY_PUBLIC_LEN);
		fd->indexed = fd->nhosts;
		return 0;
	}
	if (fd->by_name == NULL)
		randombytes_buf(fd->index_key, sizeof(fd->index_key));
	while (cap < fd->nhosts * 2)
		cap *= 2;
	byname = calloc(cap, sizeof(*byname));
	bykey = calloc(cap, sizeof(*bykey));
	if (byname == NULL || bykey == NULL) {
		free(byname);
		free(bykey);
		return FERR_NOMEM;
	}
	free(fd->by_name);
	free(fd->by_key);
	fd->by_name = byname;
	fd->by_key = bykey;
	fd->index_cap = cap;
	for (i = 0; i < fd->nhosts; i++) {
		struct host *h = fd->hosts[i];
		index_put(fd, byname, h, h->rec.name, strlen(h->rec.name));
		index_put(fd, bykey, h, h->rec.pk, KEY_PUBLIC_LEN);
	}
	fd->indexed = fd->nhosts;
	return 0;
}

void
fleet_reindex(struct ferryd *fd)
{
	fd->indexed = (size_t)-1;
}

struct host *
fleet_find(struct ferryd *fd, const char *name)
{
	size_t i;

	if (index_fresh(fd) != 0) {	/* out of memory: scan */
		for (i = 0; i < fd->nhosts; i++)
			if (strcmp(fd->hosts[i]->rec.name, name) == 0)
				return fd->hosts[i];
		return NULL;
	}
	for (i = slot_of(fd, name, strlen(name)); fd->by_name[i] != NULL;
	    i = (i + 1) & (fd->index_cap - 1))
		if (strcmp(fd->by_name[i]->rec.name, name) == 0)
			return fd->by_name[i];
	return NULL;
}

/* Public keys are no secret: a plain comparison will do. */
struct host *
fleet_find_key(struct ferryd *fd, const uint8_t *pk)
{
	size_t i;

	if (index_fresh(fd) != 0) {
		for (i = 0; i < fd->nhosts; i++)
			if (memcmp(fd->hosts[i]->rec.pk, pk,
			    KEY_PUBLIC_LEN) == 0)
				return fd->hosts[i];
		return NULL;
	}
	for (i = slot_of(fd, pk, KEY_PUBLIC_LEN); fd->by_key[i] != NULL;
	    i = (i + 1) & (fd->index_cap - 1))
		if (memcmp(fd->by_key[i]->rec.pk, pk, KEY_PUBLIC_LEN) == 0)
			return fd->by_key[i];
	return NULL;
}

int
fleet_add(struct ferryd *fd, const struct host_rec *rec, struct host **out)
{
	struct host *h = host_new(rec);

	*out = NULL;
	if (h == NULL || push(fd, h) != 0) {
		free(h);
		return FERR_NOMEM;
	}
	*out = h;
	return 0;
}

void
fleet_remove(struct ferryd *fd, struct host *h)
{
	size_t i;

	for (i = 0; i < fd->nhosts; i++)
		if (fd->hosts[i] == h)
			break;
	if (i == fd->nhosts)
		return;
	memmove(&fd->hosts[i], &fd->hosts[i + 1],
	    (fd->nhosts - i - 1) * sizeof(fd->hosts[0]));
	fd->nhosts--;
	fleet_reindex(fd);
	link_outbox_free(h);
	if (h->status != NULL)
		ferry__poll__free_unpacked(h->status, NULL);
	free(h->read);
	free(h);
}

size_t
fleet_pending(const struct ferryd *fd)
{
	size_t i, n = 0;

	for (i = 0; i < fd->nhosts; i++)
		n += fd->hosts[i]->rec.state == HOST_PENDING;
	return n;
}

/* unhealthy_note keeps, for each container h's last heartbeat said is
 * unhealthy, when ferryd first heard it so (drift's "unhealthy since"). */
static void
unhealthy_note(struct host *h, uint64_t wall_ms)
{
	struct unhealthy_seen next[HOST_UNHEALTHY_MAX];
	size_t i, n = 0;

	for (i = 0; h->status != NULL && i < h->status->n_containers &&
	    n < HOST_UNHEALTHY_MAX; i++) {
		const Ferry__Container *c = h->status->containers[i];
		uint64_t since;

		if (c->health == NULL || c->id == NULL ||
		    strncmp(c->health, "unhealthy", 9) != 0)
			continue;
		since = fleet_unhealthy_since(h, c->id);
		snprintf(next[n].id, sizeof(next[n].id), "%s", c->id);
		next[n++].since_ms = since != 0 ? since : wall_ms;
	}
	memcpy(h->unhealthy, next, n * sizeof(next[0]));
	h->nunhealthy = n;
}

uint64_t
fleet_unhealthy_since(const struct host *h, const char *id)
{
	size_t i;

	for (i = 0; i < h->nunhealthy; i++)
		if (strncmp(h->unhealthy[i].id, id,
		    sizeof(h->unhealthy[i].id) - 1) == 0)
			return h->unhealthy[i].since_ms;
	return 0;
}

void
fleet_beat(struct ferryd *fd, struct host *h, uint64_t wall_ms,
    uint64_t mono_ms)
{
	unhealthy_note(h, wall_ms);
	h->last_beat_mono_ms = mono_ms;
	h->rec.last_seen_ms = wall_ms;
	h->seen_dirty = 1;
	if (!h->online) {
		h->online = 1;
		/* Its event and last-seen time are written by the next sweep,
		 * together with every other host's: a thousand agents coming
		 * online cost a few commits, not two fsyncs each. */
		h->online_unrecorded = 1;
		fd->online_unrecorded = 1;
		log_info("host %s: online (%s)", h->rec.name, h->rec.address);
	}
}

void
fleet_traffic(struct ferryd *fd, struct host *h, const Ferry__Traffic *tr,
    uint64_t mono_ms)
{
	char err[256];
	int rc;

	if ((rc = traffic_observe(fd->traffic, h->rec.name, tr, mono_ms, err,
	    sizeof(err))) == 0) {
		h->traffic_bad = 0;
		return;
	}
	if (!h->traffic_bad)
		log_warnx("host %s: proxy counts ignored: %s", h->rec.name,
		    err);
	h->traffic_bad = 1;
}

/* flush writes, in one transaction, the online events not yet recorded
 * and the last-seen times of the hosts marked dirty (all of them when
 * every_seen, else only those that just came online). */
static void
flush(struct ferryd *fd, int every_seen)
{
	size_t i;
	int rc;

	if ((rc = store_batch_begin(fd->store, 1)) != 0) {
		log_warnx("hosts: cannot record last-seen times: %s",
		    ferr_str(rc));
		return;
	}
	for (i = 0; i < fd->nhosts && rc == 0; i++) {
		struct host *h = fd->hosts[i];

		if (h->online_unrecorded)
			rc = store_event(fd->store, "ferryd", "host-online",
			    h->rec.name, h->rec.address);
		if (rc == 0 && h->seen_dirty &&
		    (every_seen || h->online_unrecorded))
			rc = store_host_seen(fd->store, h->rec.name,
			    h->rec.last_seen_ms, h->rec.address);
	}
	if ((rc = store_batch_end(fd->store, rc)) != 0) {
		/* Kept dirty: the next flush tries again. */
		log_warnx("hosts: cannot record last-seen times: %s",
		    ferr_str(rc));
		return;
	}
	for (i = 0; i < fd->nhosts; i++) {
		struct host *h = fd->hosts[i];

		if (every_seen || h->online_unrecorded)
			h->seen_dirty = 0;
		h->online_unrecorded = 0;
	}
	fd->online_unrecorded = 0;
}

void
fleet_sweep(struct ferryd *fd, uint64_t now_ms)
{
	int every = now_ms - fd->last_flush_mono_ms >= SEEN_FLUSH_MS;
	size_t i;

	for (i = 0; i < fd->nhosts; i++) {
		struct host *h = fd->hosts[i];
		uint64_t limit = (uint64_t)h->interval_ms *
		    fd->conf.missed_beats;

		if (h->online && now_ms - h->last_beat_mono_ms > limit) {
			h->online = 0;
			log_warnx("host %s: offline: no heartbeat for %llu ms "
			    "(%u missed at %u ms)", h->rec.name,
			    (unsigned long long)(now_ms -
			    h->last_beat_mono_ms),
			    fd->conf.missed_beats, h->interval_ms);
			/* An online event still unwritten goes first. */
			if (fd->online_unrecorded)
				flush(fd, 0);
			store_event(fd->store, "ferryd", "host-offline",
			    h->rec.name, "missed heartbeats");
			every = 1;
			if (fd->up.host_offline != NULL)
				fd->up.host_offline(fd->up.arg, h);
		}
	}
	if (every || fd->online_unrecorded)
		flush(fd, every);
	if (every)
		fd->last_flush_mono_ms = now_ms;
}
