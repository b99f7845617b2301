/* SPDX-License-Identifier: Apache-2.0 */
/* route.c: routes and their targets: listening, picking a target (smooth
 * weighted round-robin), holding, draining, counting, and routes.pb. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "clock.h"
#include "log.h"
#include "proxy.h"

/* ---- lists -------------------------------------------------------------- */

void
link_init(struct link *l)
{
	l->prev = l->next = l;
}

void
link_add(struct link *head, struct link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

void
link_del(struct link *l)
{
	if (l->next == NULL)
		return;
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->prev = l->next = NULL;
}

int
link_empty(const struct link *head)
{
	return head->next == head;
}

/* ---- read buffers ------------------------------------------------------- */

/* A read buffer is PROXY_BUF bytes after a small header holding its
 * reference count: the read holds one, each write of a slice of it one
 * more (buf_ref), so bytes go on without a copy.  Freed buffers wait in a
 * short free list for the next read. */
#define BUF_HDR 16
#define BUF_KEEP 16
static char *freebufs[BUF_KEEP];
static size_t nfree;

static uint32_t *
buf_refs(char *base)
{
	return (uint32_t *)(void *)(base - BUF_HDR);
}

void
buf_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	char *raw;

	(void)h;
	(void)suggested;
	raw = nfree > 0 ? freebufs[--nfree] : malloc(PROXY_BUF + BUF_HDR);
	if (raw == NULL) {
		b->base = NULL;
		b->len = 0;
		return;
	}
	b->base = raw + BUF_HDR;
	b->len = PROXY_BUF;
	*buf_refs(b->base) = 1;
}

void
buf_ref(char *base)
{
	(*buf_refs(base))++;
}

void
buf_free(char *base)
{
	if (base == NULL || --(*buf_refs(base)) > 0)
		return;
	if (nfree < BUF_KEEP)
		freebufs[nfree++] = base - BUF_HDR;
	else
		free(base - BUF_HDR);
}

/* ---- counts ------------------------------------------------------------- */

struct revstat *
stat_rev(const char *service, uint64_t revision)
{
	struct revstat *s;

	for (s = P->revstats; s != NULL; s = s->next)
		if (s->revision == revision && strcmp(s->service, service) == 0)
			return s;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatalx("out of memory");
	snprintf(s->service, sizeof(s->service), "%s", service);
	s->revision = revision;
	s->next = P->revstats;
	P->revstats = s;
	return s;
}

struct svcstat *
stat_svc(const char *service)
{
	struct svcstat *s;

	for (s = P->svcstats; s != NULL; s = s->next)
		if (strcmp(s->service, service) == 0)
			return s;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatalx("out of memory");
	snprintf(s->service, sizeof(s->service), "%s", service);
	s->next = P->svcstats;
	P->svcstats = s;
	return s;
}

void
latency_add(struct revstat *s, uint64_t us)
{
	s->hist[hist_bucket(us)]++;
	s->sum_us += us;
}

void
status_add(struct revstat *s, int code)
{
	if (code >= 100 && code < 600)
		s->status[code / 100 - 1]++;
}

/* conn_refused_log says, at most every 10 s, how many connections were
 * closed at once because connections_max were open. */
void
conn_refused_log(struct route *r)
{
	static uint64_t last, n;
	uint64_t now = clock_mono_ms();

	n++;
	if (last != 0 && now - last < 10000)
		return;
	log_warnx("%s: %llu connection(s) closed at once: connections_max "
	    "(%u) open", r->service, (unsigned long long)n,
	    P->conf.connections_max);
	last = now;
	n = 0;
}

/* ---- validation --------------------------------------------------------- */

static int
service_ok(const char *n)
{
	size_t i;

	if (n == NULL || n[0] == '\0' || !isalnum((unsigned char)n[0]))
		return 0;
	for (i = 0; n[i]; i++)
		if (!isalnum((unsigned char)n[i]) && !strchr("-_.", n[i]))
			return 0;
	return i <= 63;
}

/* addr_parse fills sa from a numeric IPv4 or IPv6 address and a port. */
static int
addr_parse(const char *a, uint32_t port, struct sockaddr_storage *sa)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;

	memset(sa, 0, sizeof(*sa));
	if (a == NULL || strlen(a) >= 64)
		return -1;
	if (inet_pton(AF_INET, a, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, a, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return -1;
}

int
route_validate(const Ferry__ProxyRoute *r, char *err, size_t errlen)
{
	struct sockaddr_storage sa;
	uint64_t sum = 0;
	size_t i;

	if (!service_ok(r->service)) {
		snprintf(err, errlen, "service: \"%.64s\" is not a service "
		    "name (letters, digits, '-', '_', '.', up to 63)",
		    r->service != NULL ? r->service : "");
		return -1;
	}
	if (r->mode != FERRY__PROXY_MODE__PROXY_HTTP &&
	    r->mode != FERRY__PROXY_MODE__PROXY_TCP) {
		snprintf(err, errlen, "mode: %d is not http (0) or tcp (1)",
		    (int)r->mode);
		return -1;
	}
	if (r->listen_port < 1 || r->listen_port > 65535) {
		snprintf(err, errlen, "listen_port: %u is not in 1..65535",
		    r->listen_port);
		return -1;
	}
	if (addr_parse(r->listen_address, r->listen_port, &sa) != 0) {
		snprintf(err, errlen, "listen_address: \"%.64s\" is not an "
		    "IPv4 or IPv6 address", r->listen_address);
		return -1;
	}
	if (r->n_targets > PROXY_MAX_TARGETS) {
		snprintf(err, errlen, "targets: %zu of them, at most %d",
		    r->n_targets, PROXY_MAX_TARGETS);
		return -1;
	}
	if (r->drain_timeout_ms > 3600000 || r->max_pause_ms > 3600000 ||
	    r->upstream_timeout_ms > 3600000) {
		snprintf(err, errlen, "%s: more than an hour",
		    r->drain_timeout_ms > 3600000 ? "drain_timeout_ms" :
		    r->max_pause_ms > 3600000 ? "max_pause_ms" :
		    "upstream_timeout_ms");
		return -1;
	}
	if (r->sticky && r->mode != FERRY__PROXY_MODE__PROXY_HTTP) {
		snprintf(err, errlen, "sticky: only in http mode");
		return -1;
	}
	for (i = 0; i < r->n_targets; i++) {
		const Ferry__ProxyTarget *t = r->targets[i];
		size_t j;

		if (t->port < 1 || t->port > 65535) {
			snprintf(err, errlen, "targets[%zu].port: %u is not in "
			    "1..65535", i, t->port);
			return -1;
		}
		if (addr_parse(t->address, t->port, &sa) != 0) {
			snprintf(err, errlen, "targets[%zu].address: \"%.64s\""
			    " is not an IPv4 or IPv6 address", i, t->address);
			return -1;
		}
		if (t->weight > 1000000) {
			snprintf(err, errlen, "targets[%zu].weight: %u is over "
			    "1000000", i, t->weight);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (r->targets[j]->revision == t->revision &&
			    r->targets[j]->port == t->port &&
			    strcmp(r->targets[j]->address, t->address) == 0) {
				snprintf(err, errlen, "targets[%zu]: the same "
				    "as targets[%zu]", i, j);
				return -1;
			}
		sum += t->weight;
	}
	if (sum == 0 && !r->hold) {
		snprintf(err, errlen, "targets: weights sum to 0 and hold is "
		    "off (nothing could be served)");
		return -1;
	}
	return 0;
}

/* ---- listening ---------------------------------------------------------- */

static void
on_accept(uv_stream_t *server, int status)
{
	struct route *r = server->data;

	if (status != 0) {
		log_warnx("%s: accept: %s", r->service, uv_strerror(status));
		return;
	}
	if (r->spec->mode == FERRY__PROXY_MODE__PROXY_TCP)
		tcp_accept(r, server);
	else
		http_accept(r, server);
}

/* listen_fd returns a listening socket for name ("address:port"):
 * inherited, else bound afresh.  -1 with err on failure. */
static int
listen_fd(const Ferry__ProxyRoute *s, const char *name, char *err,
    size_t errlen)
{
	struct sockaddr_storage sa;
	int fd, one = 1;

	if ((fd = inherited_take(name)) >= 0)
		return fd;
	addr_parse(s->listen_address, s->listen_port, &sa);
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sa.ss_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) != 0 ||
	    listen(fd, 4096) != 0) {
		snprintf(err, errlen, "listen_port: cannot listen on %s: %s",
		    name, strerror(errno));
		close(fd);
		return -1;
	}
	systemd_store(name, fd);
	return fd;
}

static int
route_listen(struct route *r, char *err, size_t errlen)
{
	int fd, rc;

	if ((fd = listen_fd(r->spec, r->listen_name, err, errlen)) < 0)
		return -1;
	if ((rc = uv_tcp_init(P->loop, &r->listener)) != 0) {
		snprintf(err, errlen, "listen on %s: %s", r->listen_name,
		    uv_strerror(rc));
		close(fd);
		return -1;
	}
	r->listener.data = r;
	if ((rc = uv_tcp_open(&r->listener, fd)) != 0) {
		close(fd);
		fd = -1;
	}
	if (rc != 0 || (rc = uv_listen((uv_stream_t *)&r->listener, 4096,
	    on_accept)) != 0) {
		snprintf(err, errlen, "listen on %s: %s", r->listen_name,
		    uv_strerror(rc));
		/* The caller frees r in the close callback. */
		r->listener_inited = 1;
		return -1;
	}
	r->listening = 1;
	return 0;
}

static void
listener_closed(uv_handle_t *h)
{
	struct route *r = h->data;

	r->listener_closing = 0;
	route_unref(r);
}

static void
route_unlisten(struct route *r, int unstore)
{
	if (r->paused) {
		if (unstore)
			systemd_unstore(r->listen_name);
		close(r->paused_fd);
		r->paused = 0;
		r->paused_fd = -1;
		return;
	}
	if (!r->listening)
		return;
	r->listening = 0;
	if (unstore)
		systemd_unstore(r->listen_name);
	route_ref(r);
	uv_close((uv_handle_t *)&r->listener, listener_closed);
}

/*
 * route_pause stops r taking new connections: its socket is kept (a copy
 * of its descriptor) while the listener closes, then shut down for
 * reading, which on Linux takes it out of listening and resets the
 * connections not yet accepted, the port staying bound to it (HAProxy
 * pauses its listeners the same way).  Connects are refused from then
 * on; a load balancer in front moves them elsewhere at once.
 */
static void
route_pause(struct route *r)
{
	uv_os_fd_t fd;
	int dfd;

	if (r->paused || !r->listening || r->removed ||
	    uv_fileno((uv_handle_t *)&r->listener, &fd) != 0)
		return;
	if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		log_warn("%s: drain: cannot keep the socket of %s", r->service,
		    r->listen_name);
		return;
	}
	route_unlisten(r, 0);
	if (shutdown(dfd, SHUT_RD) != 0)
		log_warn("%s: drain: %s still listens", r->service,
		    r->listen_name);
	r->paused = 1;
	r->paused_fd = dfd;
	r->listener_closing = 1;
	log_info("%s: drained: %s takes no new connections", r->service,
	    r->listen_name);
}

/* route_resume makes a paused route listen again on its own socket; once
 * its old listener has finished closing (else the tick tries again). */
static void
route_resume(struct route *r)
{
	char err[300];
	int fd;

	if (!r->paused || r->removed || r->listener_closing)
		return;
	fd = r->paused_fd;
	r->paused = 0;
	r->paused_fd = -1;
	inherited_add(fd, r->listen_name);
	if (route_listen(r, err, sizeof(err)) != 0) {
		log_warnx("%s: undrain: %s", r->service, err);
		if ((fd = inherited_take(r->listen_name)) >= 0)
			close(fd);
		return;
	}
	log_info("%s: undrained: %s takes new connections again", r->service,
	    r->listen_name);
}

int
proxy_drain(int drained, char *err, size_t errlen)
{
	struct route *r;
	int was = P->drained;

	P->drained = drained != 0;
	if (routes_save(NULL, NULL, 0, err, errlen) != 0) {
		P->drained = was;
		return -1;
	}
	for (r = P->routes; r != NULL; r = r->next) {
		if (P->drained)
			route_pause(r);
		else
			route_resume(r);
	}
	if (P->drained)
		http_leave();	/* kept-alive connections close after their
				 * next response */
	proxy_tick_start();	/* resumes left waiting for a close */
	if (was != P->drained)
		log_info("%s", P->drained ? "drained: no route takes new "
		    "connections" : "undrained: every route takes new "
		    "connections");
	return 0;
}

/* ---- targets ------------------------------------------------------------ */

static struct target *
target_new(struct route *r, const Ferry__ProxyTarget *s)
{
	struct target *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		fatalx("out of memory");
	t->route = r;
	t->revision = s->revision;
	snprintf(t->address, sizeof(t->address), "%s", s->address);
	t->port = s->port;
	addr_parse(t->address, t->port, &t->sa);
	t->weight = s->weight;
	t->st = stat_rev(r->service, t->revision);
	link_init(&t->idle);
	link_init(&t->tunnels);
	route_ref(r);
	return t;
}

static void
target_drain(struct target *t, uint32_t drain_ms)
{
	if (t->draining)
		return;
	t->draining = 1;
	t->weight = 0;
	t->drain_deadline = clock_mono_ms() + drain_ms;
	log_info("%s: revision %llu at %s:%u drains (%llu active)",
	    t->route->service, (unsigned long long)t->revision, t->address,
	    t->port, (unsigned long long)t->active);
	http_target_closing(t);
	proxy_tick_start();
}

/* target_reap forgets draining targets with nothing left on them. */
static void
target_reap(struct route *r)
{
	struct target **pp = &r->targets, *t;

	while ((t = *pp) != NULL) {
		if (t->draining && t->active == 0 && link_empty(&t->tunnels) &&
		    link_empty(&t->idle)) {
			*pp = t->next;
			log_debug("%s: revision %llu at %s:%u drained",
			    r->service, (unsigned long long)t->revision,
			    t->address, t->port);
			free(t);
			route_unref(r);
			continue;
		}
		pp = &t->next;
	}
}

void
target_done(struct target *t)
{
	if (t->active > 0)
		t->active--;
	if (t->st->active > 0)
		t->st->active--;
}

/* ---- routes ------------------------------------------------------------- */

/* route_find: the live route of service on listen_port (0: its first). */
struct route *
route_find(const char *service, uint32_t listen_port)
{
	struct route *r;

	for (r = P->routes; r != NULL; r = r->next)
		if (!r->removed && strcmp(r->service, service) == 0 &&
		    (listen_port == 0 || r->spec->listen_port == listen_port))
			return r;
	return NULL;
}

void
route_ref(struct route *r)
{
	r->refs++;
}

static void
route_free(struct route *r)
{
	struct route **pp;

	for (pp = &P->routes; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	ferry__proxy_route__free_unpacked(r->spec, NULL);
	free(r);
	proxy_maybe_exit();
}

void
route_unref(struct route *r)
{
	if (r->refs > 0)
		r->refs--;
	if (r->refs == 0 && r->removed)
		route_free(r);
}

static Ferry__ProxyRoute *
spec_copy(const Ferry__ProxyRoute *s)
{
	size_t n = ferry__proxy_route__get_packed_size(s);
	uint8_t *b = malloc(n + 1);
	Ferry__ProxyRoute *c;
	size_t i;

	if (b == NULL)
		fatalx("out of memory");
	ferry__proxy_route__pack(s, b);
	c = ferry__proxy_route__unpack(NULL, n, b);
	free(b);
	if (c == NULL)
		fatalx("out of memory");
	/* Replies' fields are not part of a route as set. */
	c->held = 0;
	for (i = 0; i < c->n_targets; i++) {
		c->targets[i]->draining = 0;
		c->targets[i]->active = 0;
	}
	if (c->drain_timeout_ms == 0)
		c->drain_timeout_ms = 30000;
	if (c->max_pause_ms == 0)
		c->max_pause_ms = 30000;
	if (c->upstream_timeout_ms == 0)
		c->upstream_timeout_ms = 60000;
	return c;
}

static int
same_target(const struct target *t, const Ferry__ProxyTarget *s)
{
	return !t->draining && t->revision == s->revision &&
	    t->port == s->port && strcmp(t->address, s->address) == 0;
}

/* route_apply makes r's targets what r->spec says: matching ones keep
 * their state, new ones join, the rest drain. */
static void
route_apply(struct route *r)
{
	struct target *t, **tail;
	size_t i;
	int *kept = calloc(r->spec->n_targets + 1, sizeof(int));

	if (kept == NULL)
		fatalx("out of memory");
	for (t = r->targets; t != NULL; t = t->next) {
		int found = 0;

		for (i = 0; i < r->spec->n_targets; i++)
			if (!kept[i] && same_target(t, r->spec->targets[i])) {
				kept[i] = 1;
				found = 1;
				t->weight = r->spec->targets[i]->weight;
				break;
			}
		if (!found && !t->draining)
			target_drain(t, r->spec->drain_timeout_ms);
	}
	for (tail = &r->targets; *tail != NULL; tail = &(*tail)->next)
		;
	for (i = 0; i < r->spec->n_targets; i++)
		if (!kept[i]) {
			*tail = target_new(r, r->spec->targets[i]);
			tail = &(*tail)->next;
		}
	free(kept);
	for (t = r->targets; t != NULL; t = t->next)
		t->current = 0;
	target_reap(r);
	route_release(r);
}

/* route_failed_closed frees a route that never listened. */
static void
route_failed_closed(uv_handle_t *h)
{
	struct route *r = (struct route *)((char *)h -
	    offsetof(struct route, listener));

	ferry__proxy_route__free_unpacked(r->spec, NULL);
	free(r);
}

/* route_drop takes r out: no longer listening (its socket out of
 * systemd's store when unstore), its targets draining, held work sent
 * away.  r may be freed before this returns. */
static void
route_drop(struct route *r, int unstore)
{
	struct target *t;
	struct link *l;

	r->removed = 1;
	route_ref(r);
	route_unlisten(r, unstore);
	for (t = r->targets; t != NULL; t = t->next)
		target_drain(t, r->spec->drain_timeout_ms);
	/* Held work has nowhere to go now. */
	while (!link_empty(&r->holdq)) {
		struct held *h;

		l = r->holdq.next;
		h = (struct held *)l;
		link_del(l);
		r->nheld--;
		r->st->no_target++;
		h->go(h, NULL);
	}
	target_reap(r);
	route_unref(r);
}

/* One route of a set being made: the live route on its port (old), and
 * the new route that listens afresh (n), when it does. */
struct prep {
	Ferry__ProxyRoute *spec;
	char name[80];
	struct route *old, *n;
	int same;			/* n takes a copy of old's socket */
};

static void
listen_name(const Ferry__ProxyRoute *s, char *name, size_t len)
{
	snprintf(name, len, "%s%s%s:%u",
	    strchr(s->listen_address, ':') ? "[" : "",
	    s->listen_address, strchr(s->listen_address, ':') ? "]" : "",
	    s->listen_port);
}

/* prep_listen makes p's new route and has it listen: on old's socket
 * (a copy of it) when the name is the same, else a socket of its own. */
static int
prep_listen(struct prep *p, char *err, size_t errlen)
{
	struct route *n, *r = p->old;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		fatalx("out of memory");
	n->spec = p->spec;
	snprintf(n->service, sizeof(n->service), "%s", p->spec->service);
	snprintf(n->listen_name, sizeof(n->listen_name), "%s", p->name);
	n->st = stat_svc(n->service);
	n->paused_fd = -1;
	link_init(&n->holdq);
	p->same = r != NULL && strcmp(r->listen_name, p->name) == 0;
	if (p->same) {
		/* Same socket, new mode: the new route takes a copy of it,
		 * so no connection is refused. */
		uv_os_fd_t ofd;
		int dfd = -1;

		if (r->paused)
			dfd = fcntl(r->paused_fd, F_DUPFD_CLOEXEC, 3);
		else if (uv_fileno((uv_handle_t *)&r->listener, &ofd) == 0)
			dfd = fcntl(ofd, F_DUPFD_CLOEXEC, 3);
		if (dfd >= 0)
			inherited_add(dfd, p->name);
	}
	if (route_listen(n, err, errlen) != 0) {
		int fd = inherited_take(p->name);

		if (fd >= 0)
			close(fd);
		if (n->listener_inited)
			uv_close((uv_handle_t *)&n->listener,
			    route_failed_closed);
		else
			route_failed_closed((uv_handle_t *)&n->listener);
		return -1;
	}
	p->n = n;
	return 0;
}

/* prep_undo closes p's new route, which listened but is not wanted (a
 * later one of the set could not listen). */
static void
prep_undo(struct prep *p)
{
	struct route *n = p->n;

	if (n == NULL)
		return;
	n->listening = 0;
	if (!p->same)
		systemd_unstore(p->name);
	uv_close((uv_handle_t *)&n->listener, route_failed_closed);
	p->n = NULL;
}

int
route_set_ports(const char *service, Ferry__ProxyRoute *const *rs, size_t nrs,
    int others_stay, char *err, size_t errlen)
{
	struct prep p[PROXY_MAX_PORTS];
	Ferry__ProxyRoute *specs[PROXY_MAX_PORTS];
	struct route *o, *on;
	char why[300];
	size_t i, k;

	if (!service_ok(service)) {
		snprintf(err, errlen, "service: \"%.64s\" is not a service "
		    "name (letters, digits, '-', '_', '.', up to 63)",
		    service != NULL ? service : "");
		return -1;
	}
	if (nrs == 0 || nrs > PROXY_MAX_PORTS) {
		snprintf(err, errlen, "routes: %zu of them, 1 to %d (remove "
		    "takes a service's routes away)", nrs, PROXY_MAX_PORTS);
		return -1;
	}
	for (i = 0; i < nrs; i++) {
		if (route_validate(rs[i], why, sizeof(why)) != 0) {
			if (nrs == 1)
				snprintf(err, errlen, "%s", why);
			else
				snprintf(err, errlen, "routes[%zu]: %s", i,
				    why);
			return -1;
		}
		if (strcmp(rs[i]->service, service) != 0) {
			snprintf(err, errlen, "routes[%zu].service: \"%s\" is "
			    "not %s", i, rs[i]->service, service);
			return -1;
		}
		for (k = 0; k < i; k++)
			if (rs[k]->listen_port == rs[i]->listen_port) {
				snprintf(err, errlen, "routes[%zu].listen_port:"
				    " %u is routes[%zu]'s too", i,
				    rs[i]->listen_port, k);
				return -1;
			}
	}
	memset(p, 0, sizeof(p));
	for (i = 0; i < nrs; i++) {
		p[i].spec = spec_copy(rs[i]);
		listen_name(p[i].spec, p[i].name, sizeof(p[i].name));
		p[i].old = route_find(service, p[i].spec->listen_port);
		if (p[i].old != NULL && strcmp(p[i].name,
		    p[i].old->listen_name) == 0 && p[i].old->spec->mode ==
		    p[i].spec->mode)
			continue;	/* the same listener: targets change */
		for (o = P->routes; o != NULL; o = o->next)
			if (!o->removed && strcmp(o->service, service) != 0 &&
			    strcmp(o->listen_name, p[i].name) == 0) {
				snprintf(err, errlen, "listen_port: %s is "
				    "already service %s's", p[i].name,
				    o->service);
				goto refused;
			}
	}
	for (i = 0; i < nrs; i++)
		specs[i] = p[i].spec;
	if (!P->loading && routes_save(service, specs, nrs, err, errlen) != 0)
		goto refused;
	/* Every new listener first: one that cannot listen undoes the
	 * others, and nothing changed. */
	for (i = 0; i < nrs; i++) {
		if (p[i].old != NULL && strcmp(p[i].name,
		    p[i].old->listen_name) == 0 && p[i].old->spec->mode ==
		    p[i].spec->mode)
			continue;
		if (prep_listen(&p[i], err, errlen) != 0) {
			p[i].spec = NULL;	/* freed with the route */
			for (k = 0; k < i; k++)
				if (p[k].n != NULL) {
					prep_undo(&p[k]);
					p[k].spec = NULL;
				}
			/* The file says what is, again; the old routes
			 * still listen. */
			if (!P->loading)
				routes_save(NULL, NULL, 0, why,
				    sizeof(why));
			goto refused;
		}
	}
	for (i = 0; i < nrs; i++) {
		struct route *r = p[i].old, *n = p[i].n;

		if (n != NULL) {
			if (r != NULL) {
				route_unlisten(r, !p[i].same);
				route_drop(r, 0);
			}
			n->next = P->routes;
			P->routes = n;
			if (P->drained)
				route_pause(n);
			route_apply(n);
			log_info("%s: %s on %s, %zu target(s)%s", n->service,
			    n->spec->mode == FERRY__PROXY_MODE__PROXY_TCP ?
			    "tcp" : "http", n->listen_name,
			    n->spec->n_targets, n->spec->hold ? ", hold" : "");
			continue;
		}
		ferry__proxy_route__free_unpacked(r->spec, NULL);
		r->spec = p[i].spec;
		route_apply(r);
		log_info("%s: %s, %zu target(s)%s", r->service,
		    r->listen_name, r->spec->n_targets, r->spec->hold ?
		    ", hold" : "");
	}
	if (others_stay)
		return 0;
	/* The service's ports that left the set. */
	for (o = P->routes; o != NULL; o = on) {
		on = o->next;
		if (o->removed || strcmp(o->service, service) != 0)
			continue;
		for (i = 0; i < nrs; i++)
			if (o->spec->listen_port == p[i].spec->listen_port)
				break;
		if (i < nrs)
			continue;
		log_info("%s: %s left the service's routes; draining",
		    o->service, o->listen_name);
		route_drop(o, 1);
	}
	return 0;
refused:
	for (i = 0; i < nrs; i++)
		if (p[i].spec != NULL)
			ferry__proxy_route__free_unpacked(p[i].spec, NULL);
	return -1;
}

int
route_set(const Ferry__ProxyRoute *s, char *err, size_t errlen)
{
	Ferry__ProxyRoute *one = (Ferry__ProxyRoute *)s;

	return route_set_ports(s->service, &one, 1, P->loading, err, errlen);
}

int
route_remove(const char *service, char *err, size_t errlen)
{
	struct route *r, *rn;
	size_t n = 0;

	if (route_find(service, 0) == NULL) {
		snprintf(err, errlen, "remove: no route for service "
		    "\"%.64s\"", service);
		return -1;
	}
	if (routes_save(service, NULL, 0, err, errlen) != 0)
		return -1;
	for (r = P->routes; r != NULL; r = rn) {
		rn = r->next;
		if (r->removed || strcmp(r->service, service) != 0)
			continue;
		route_drop(r, 1);
		n++;
	}
	log_info("%s: removed (%zu port(s)); draining", service, n);
	return 0;
}

/* route_pick chooses the target for one request or connection: the sticky
 * revision when it has weight, else by smooth weighted round-robin among
 * live targets with weight.  NULL when none. */
struct target *
route_pick(struct route *r, uint64_t sticky_rev, int have_sticky)
{
	struct target *t, *best = NULL;
	int64_t total = 0;

	if (r->removed || (r->spec->hold && !P->leaving))
		return NULL;
	if (have_sticky) {
		for (t = r->targets; t != NULL; t = t->next)
			if (!t->draining && t->weight > 0 &&
			    t->revision == sticky_rev)
				return t;
	}
	for (t = r->targets; t != NULL; t = t->next) {
		if (t->draining || t->weight == 0)
			continue;
		t->current += t->weight;
		total += t->weight;
		if (best == NULL || t->current > best->current)
			best = t;
	}
	if (best != NULL)
		best->current -= total;
	return best;
}

/* route_can_serve: 1 when a request now would find a target. */
int
route_can_serve(struct route *r)
{
	struct target *t;

	if (r->removed || r->spec->hold)
		return 0;
	for (t = r->targets; t != NULL; t = t->next)
		if (!t->draining && t->weight > 0)
			return 1;
	return 0;
}

/* route_hold queues h; -1 when the route does not hold or the queue is
 * full. */
int
route_hold(struct route *r, struct held *h)
{
	if (r->removed || !r->spec->hold || r->nheld >= PROXY_HOLD_MAX)
		return -1;
	h->deadline = clock_mono_ms() + r->spec->max_pause_ms;
	link_add(&r->holdq, &h->l);
	r->nheld++;
	proxy_tick_start();
	return 0;
}

void
route_unhold(struct route *r, struct held *h)
{
	if (h->l.next == NULL)
		return;
	link_del(&h->l);
	r->nheld--;
}

/* route_release sends held work on when the route can serve. */
void
route_release(struct route *r)
{
	while (!link_empty(&r->holdq) && route_can_serve(r)) {
		struct held *h = (struct held *)r->holdq.next;
		struct target *t = route_pick(r, 0, 0);

		link_del(&h->l);
		r->nheld--;
		h->go(h, t);
	}
}

/* ---- the tick: hold expiry and drain deadlines -------------------------- */

static void
on_tick(uv_timer_t *tm)
{
	uint64_t now = clock_mono_ms();
	struct route *r, *rn;
	int busy = 0;

	(void)tm;
	for (r = P->routes; r != NULL; r = rn) {
		struct target *t;

		rn = r->next;
		route_ref(r);
		while (!link_empty(&r->holdq)) {
			struct held *h = (struct held *)r->holdq.next;

			if (h->deadline > now)
				break;
			link_del(&h->l);
			r->nheld--;
			r->st->held_expired++;
			h->go(h, NULL);
		}
		if (r->nheld > 0)
			busy = 1;
		for (t = r->targets; t != NULL; t = t->next) {
			if (!t->draining)
				continue;
			busy = 1;
			if (now >= t->drain_deadline)
				tunnels_close(t, 1);
		}
		target_reap(r);
		if (r->paused && !P->drained) {
			route_resume(r);
			busy |= r->paused;
		}
		route_unref(r);
	}
	if (!busy) {
		uv_timer_stop(&P->tick);
		P->ticking = 0;
	}
	proxy_maybe_exit();
}

void
proxy_tick_start(void)
{
	if (P->ticking)
		return;
	P->ticking = 1;
	uv_timer_start(&P->tick, on_tick, 50, 50);
}

/* ---- routes.pb ---------------------------------------------------------- */

/* routes_save writes every live route but skip's (a service, or NULL),
 * plus add[0..nadd), to <state-dir>/routes.pb: a temporary file, fsync,
 * rename, fsync of the folder.  The file is a ProxyReply whose routes are
 * one per (service, host port): a file written when a service had one
 * route reads the same. */
int
routes_save(const char *skip, Ferry__ProxyRoute *const *add, size_t nadd,
    char *err, size_t errlen)
{
	Ferry__ProxyReply m = FERRY__PROXY_REPLY__INIT;
	Ferry__ProxyRoute *list[512];
	char path[600], tmp[620];
	const struct route *r;
	uint8_t *buf = NULL;
	size_t n = 0, len, off = 0;
	int fd = -1, rc = -1;

	size_t i;

	for (r = P->routes; r != NULL && n + nadd < 512; r = r->next)
		if (!r->removed && (skip == NULL ||
		    strcmp(r->service, skip) != 0))
			list[n++] = r->spec;
	for (i = 0; i < nadd && n < 512; i++)
		list[n++] = add[i];
	m.ok = 1;
	m.n_routes = n;
	m.routes = list;
	m.drained = P->drained;
	len = ferry__proxy_reply__get_packed_size(&m);
	if ((buf = malloc(len + 1)) == NULL)
		fatalx("out of memory");
	ferry__proxy_reply__pack(&m, buf);
	snprintf(path, sizeof(path), "%s/routes.pb", P->conf.state_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	while (off < len) {
		ssize_t w = write(fd, buf + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	if ((fd = open(P->conf.state_dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
	fd = -1;
	rc = 0;
	goto out;
fail:
	snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
	log_warnx("%s", err);
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

int
routes_load(char *err, size_t errlen)
{
	char path[600], why[300];
	Ferry__ProxyReply *m;
	uint8_t *buf;
	struct stat st;
	size_t i, off = 0, ok = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/routes.pb", P->conf.state_dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || st.st_size > PROXY_MAX_ROUTES_FILE) {
		snprintf(err, errlen, "%s: too large or unreadable", path);
		close(fd);
		return -1;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		fatalx("out of memory");
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	m = ferry__proxy_reply__unpack(NULL, off, buf);
	free(buf);
	if (m == NULL) {
		snprintf(err, errlen, "%s: does not unpack (damaged?); move "
		    "it aside to start with no routes", path);
		return -1;
	}
	/* The file stays as it is while it is read: a route that cannot
	 * listen now is tried again at the next start. */
	P->loading = 1;
	/* Drained before: the routes come back drained. */
	P->drained = m->drained;
	if (P->drained)
		log_info("%s: drained (ferry hosts drain): no route takes new "
		    "connections until undrained", path);
	for (i = 0; i < m->n_routes; i++) {
		if (route_set(m->routes[i], why, sizeof(why)) != 0)
			log_warnx("%s: route %zu (%s) not restored: %s", path,
			    i, m->routes[i]->service, why);
		else
			ok++;
	}
	P->loading = 0;
	log_info("%s: %zu of %zu route(s) restored", path, ok, m->n_routes);
	ferry__proxy_reply__free_unpacked(m, NULL);
	return 0;
}

/* routes_close_all stops listening everywhere (leaving: the sockets stay
 * open in the process that took over, or in systemd's store). */
void
routes_close_all(void)
{
	struct route *r;

	for (r = P->routes; r != NULL; r = r->next)
		route_unlisten(r, 0);
}

/* routes_unhold_all: leaving, held work cannot wait for a set that will
 * go to the next proxy: 503 with Retry-After (TCP: closed), counted
 * held_expired. */
void
routes_unhold_all(void)
{
	struct route *r;

	for (r = P->routes; r != NULL; r = r->next) {
		route_ref(r);
		while (!link_empty(&r->holdq)) {
			struct held *h = (struct held *)r->holdq.next;

			link_del(&h->l);
			r->nheld--;
			r->st->held_expired++;
			h->go(h, NULL);
		}
		route_unref(r);
	}
}

/* ---- inherited sockets and systemd's store ------------------------------ */

/* fdname writes name ("address:port") as a systemd file descriptor name,
 * which cannot hold ':': each becomes '_' ("127.0.0.1_8080"). */
static void
fdname(const char *name, char *out, size_t len)
{
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < len; i++)
		out[i] = name[i] == ':' ? '_' : name[i];
	out[i] = '\0';
}

/* inherited_add keeps fd, a listening socket for name, for the route that
 * will want it (closed when there is no room). */
void
inherited_add(int fd, const char *name)
{
	char fn[128];
	size_t i;

	for (i = 0; i < P->ninh; i++)
		if (P->inh_fd[i] < 0)
			break;
	if (i == 256) {
		close(fd);
		return;
	}
	fdname(name, fn, sizeof(fn));
	free(P->inh_name[i]);
	P->inh_fd[i] = fd;
	P->inh_name[i] = strdup(fn);
	if (i == P->ninh)
		P->ninh++;
}

int
inherited_take(const char *name)
{
	char fn[128];
	size_t i;

	fdname(name, fn, sizeof(fn));
	for (i = 0; i < P->ninh; i++)
		if (P->inh_fd[i] >= 0 && P->inh_name[i] != NULL &&
		    strcmp(P->inh_name[i], fn) == 0) {
			int fd = P->inh_fd[i];

			free(P->inh_name[i]);
			P->inh_name[i] = NULL;
			P->inh_fd[i] = -1;
			return fd;
		}
	return -1;
}

void
inherited_close_unused(void)
{
	size_t i;

	for (i = 0; i < P->ninh; i++) {
		if (P->inh_fd[i] < 0)
			continue;
		log_info("inherited socket %s: no route uses it; closed",
		    P->inh_name[i] != NULL ? P->inh_name[i] : "?");
		if (P->inh_name[i] != NULL)
			systemd_unstore(P->inh_name[i]);
		close(P->inh_fd[i]);
		free(P->inh_name[i]);
		P->inh_name[i] = NULL;
		P->inh_fd[i] = -1;
	}
	P->ninh = 0;
}

void
systemd_store(const char *name, int fd)
{
	char msg[160];

	if (!P->systemd)
		return;
	char fn[128];

	fdname(name, fn, sizeof(fn));
	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", fn);
	if (sd_pid_notify_with_fds(0, 0, msg, &fd, 1) <= 0)
		log_warnx("%s: cannot keep the socket in systemd's store "
		    "(FileDescriptorStoreMax?)", name);
}

void
systemd_unstore(const char *name)
{
	char msg[160];

	if (!P->systemd)
		return;
	char fn[128];

	fdname(name, fn, sizeof(fn));
	snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", fn);
	sd_pid_notify(0, 0, msg);
}
