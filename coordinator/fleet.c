/* fleet.c: the hosts ferryd knows, and whether each is online. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "clock.h"
#include "ferr.h"
#include "ferryd.h"
#include "log.h"

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
		struct cmd *c, *next;
		for (c = h->outbox; c != NULL; c = next) {
			next = c->next;
			free(c->rec.envelope);
			free(c);
		}
		if (h->status != NULL)
			ferry__poll__free_unpacked(h->status, NULL);
		free(h);
	}
	free(fd->hosts);
	fd->hosts = NULL;
	fd->nhosts = fd->caphosts = 0;
}

struct host *
fleet_find(struct ferryd *fd, const char *name)
{
	size_t i;

	for (i = 0; i < fd->nhosts; i++)
		if (strcmp(fd->hosts[i]->rec.name, name) == 0)
			return fd->hosts[i];
	return NULL;
}

struct host *
fleet_find_key(struct ferryd *fd, const uint8_t *pk)
{
	size_t i;

	for (i = 0; i < fd->nhosts; i++)
		if (sodium_memcmp(fd->hosts[i]->rec.pk, pk,
		    KEY_PUBLIC_LEN) == 0)
			return fd->hosts[i];
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
fleet_beat(struct ferryd *fd, struct host *h, uint64_t now_ms)
{
	h->last_beat_ms = now_ms;
	h->rec.last_seen_ms = now_ms;
	h->seen_dirty = 1;
	if (!h->online) {
		h->online = 1;
		log_info("host %s: online (%s)", h->rec.name, h->rec.address);
		store_event(fd->store, "ferryd", "host-online", h->rec.name,
		    h->rec.address);
		store_host_seen(fd->store, h->rec.name, now_ms,
		    h->rec.address);
		h->seen_dirty = 0;
	}
}

void
fleet_sweep(struct ferryd *fd, uint64_t now_ms)
{
	int flush = now_ms - fd->last_flush_ms >= SEEN_FLUSH_MS;
	size_t i;

	for (i = 0; i < fd->nhosts; i++) {
		struct host *h = fd->hosts[i];
		uint64_t limit = (uint64_t)h->interval_ms *
		    fd->conf.missed_beats;

		if (h->online && now_ms - h->last_beat_ms > limit) {
			h->online = 0;
			log_warnx("host %s: offline: no heartbeat for %llu ms "
			    "(%u missed at %u ms)", h->rec.name,
			    (unsigned long long)(now_ms - h->last_beat_ms),
			    fd->conf.missed_beats, h->interval_ms);
			store_event(fd->store, "ferryd", "host-offline",
			    h->rec.name, "missed heartbeats");
			flush = 1;
			deploy_host_offline(fd, h);
		}
		if (flush && h->seen_dirty) {
			store_host_seen(fd->store, h->rec.name,
			    h->rec.last_seen_ms, h->rec.address);
			h->seen_dirty = 0;
		}
	}
	if (flush)
		fd->last_flush_ms = now_ms;
}
