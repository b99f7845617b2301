/* SPDX-License-Identifier: Apache-2.0 */
/* control.c: the control socket's server side (set, ports, remove,
 * status, drain, handoff; framing in common/proxywire.h), the taking over
 * from a running proxy, and leaving. */
#define _GNU_SOURCE	/* struct ucred */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "ferr.h"
#include "log.h"
#include "notify.h"
#include "proxy.h"
#include "proxywire.h"

struct cconn {
	uv_pipe_t p;
	uint8_t hdr[4];
	size_t hoff;
	uint8_t *body;
	size_t len, off;
	uid_t uid;
};

static dev_t ctl_dev;
static ino_t ctl_ino;
static uv_timer_t leave_timer;

static void
on_cconn_closed(uv_handle_t *h)
{
	struct cconn *c = h->data;

	free(c->body);
	free(c);
}

struct creply {
	uv_write_t w;
	size_t n;
	uint8_t b[];		/* the length, then the packed reply */
};

static void
on_reply_written(uv_write_t *w, int status)
{
	struct creply *r = w->data;

	if (status < 0 && status != UV_ECANCELED)
		log_warnx("control: cannot send a reply of %zu bytes: %s",
		    r->n, uv_strerror(status));
	free(r);
}

/* reply sends m on c.  A reply without descriptors is queued on the loop
 * (uv_write), so a controller that does not read never stalls traffic;
 * a handoff's reply, which carries the listening sockets, goes out at
 * once with them (proxywire_send, at most 2 s: the proxy is leaving). */
static void
reply(struct cconn *c, Ferry__ProxyReply *m, const int *fds, size_t nfds)
{
	size_t n = ferry__proxy_reply__get_packed_size(m);
	struct creply *r = malloc(sizeof(*r) + n + 4);
	uv_os_fd_t fd;
	uv_buf_t buf;

	if (r == NULL)
		fatalx("out of memory");
	r->n = n;
	ferry__proxy_reply__pack(m, r->b + 4);
	if (nfds > 0) {
		if (uv_fileno((uv_handle_t *)&c->p, &fd) != 0 ||
		    proxywire_send(fd, r->b + 4, n, fds, nfds, 2000) != 0)
			log_warnx("control: cannot send a reply of %zu bytes",
			    n);
		free(r);
		return;
	}
	r->b[0] = (uint8_t)(n >> 24);
	r->b[1] = (uint8_t)(n >> 16);
	r->b[2] = (uint8_t)(n >> 8);
	r->b[3] = (uint8_t)n;
	r->w.data = r;
	buf = uv_buf_init((char *)r->b, (unsigned)(n + 4));
	if (uv_write(&r->w, (uv_stream_t *)&c->p, &buf, 1,
	    on_reply_written) != 0) {
		log_warnx("control: cannot send a reply of %zu bytes", n);
		free(r);
	}
}

static void
refuse(struct cconn *c, const char *what, const char *why)
{
	Ferry__ProxyReply m = FERRY__PROXY_REPLY__INIT;

	log_warnx("control: %s refused: %s", what, why);
	m.ok = 0;
	m.error = (char *)why;
	reply(c, &m, NULL, 0);
}

/* ---- status ------------------------------------------------------------- */

/* owner_of: the route whose status entry shows r's targets: the live
 * route of r's service on r's host port, else the first route of that
 * service and port (one whose port left the service's routes). */
static struct route *
owner_of(struct route *r)
{
	struct route *q, *first = NULL;

	for (q = P->routes; q != NULL; q = q->next) {
		if (strcmp(q->service, r->service) != 0 ||
		    q->spec->listen_port != r->spec->listen_port)
			continue;
		if (!q->removed)
			return q;
		if (first == NULL)
			first = q;
	}
	return first;
}

static void
status_reply(struct cconn *c)
{
	Ferry__ProxyReply m = FERRY__PROXY_REPLY__INIT;
	Ferry__Traffic tr = FERRY__TRAFFIC__INIT;
	Ferry__ProxyRoute *rt = NULL, **rtp = NULL;
	Ferry__ProxyTarget *tg = NULL, **tgp = NULL;
	Ferry__RevisionTraffic *rv = NULL, **rvp = NULL;
	Ferry__ServiceRefusals *sv = NULL, **svp = NULL;
	uint64_t *nums = NULL;
	struct route *r;
	struct target *t;
	struct revstat *s;
	struct svcstat *v;
	size_t nr = 0, nt = 0, nv = 0, ns = 0, i = 0, k = 0;
	int pass;

	for (r = P->routes; r != NULL; r = r->next) {
		nr++;
		for (t = r->targets; t != NULL; t = t->next)
			nt++;
	}
	for (s = P->revstats; s != NULL; s = s->next)
		nv++;
	for (v = P->svcstats; v != NULL; v = v->next)
		ns++;
	rt = calloc(nr + 1, sizeof(*rt));
	rtp = calloc(nr + 1, sizeof(*rtp));
	tg = calloc(nt + 1, sizeof(*tg));
	tgp = calloc(nt + 1, sizeof(*tgp));
	rv = calloc(nv + 1, sizeof(*rv));
	rvp = calloc(nv + 1, sizeof(*rvp));
	sv = calloc(ns + 1, sizeof(*sv));
	svp = calloc(ns + 1, sizeof(*svp));
	nums = calloc(nv * (5 + HIST_BUCKETS) + 1, sizeof(*nums));
	if (!rt || !rtp || !tg || !tgp || !rv || !rvp || !sv || !svp || !nums)
		fatalx("out of memory");
	/* One entry a (service, host port): the live route's settings,
	 * with the targets of its removed (draining) predecessors too; live
	 * routes first, then those of ports that left their service. */
	for (pass = 0; pass < 2; pass++)
	for (r = P->routes; r != NULL; r = r->next) {
		Ferry__ProxyRoute *o = &rt[i];
		struct route *q;

		if (owner_of(r) != r || r->removed != (pass == 1))
			continue;
		*o = *r->spec;
		o->base.unknown_fields = NULL;
		o->base.n_unknown_fields = 0;
		o->held = r->nheld;
		o->removed = r->removed;
		o->n_targets = 0;
		o->targets = &tgp[k];
		for (q = P->routes; q != NULL; q = q->next) {
			if (owner_of(q) != r)
				continue;
			for (t = q->targets; t != NULL; t = t->next) {
				Ferry__ProxyTarget *x = &tg[k];

				ferry__proxy_target__init(x);
				x->revision = t->revision;
				x->address = t->address;
				x->port = t->port;
				x->weight = t->weight;
				x->draining = t->draining || q->removed;
				x->active = t->active;
				tgp[k++] = x;
				o->n_targets++;
			}
		}
		rtp[i++] = o;
	}
	nr = i;
	m.routes = rtp;
	m.n_routes = nr;
	i = 0;
	for (s = P->revstats; s != NULL; s = s->next, i++) {
		Ferry__RevisionTraffic *x = &rv[i];
		uint64_t *sc = &nums[i * (5 + HIST_BUCKETS)];

		ferry__revision_traffic__init(x);
		x->service = s->service;
		x->revision = s->revision;
		x->requests = s->requests;
		memcpy(sc, s->status, sizeof(s->status));
		memcpy(sc + 5, s->hist, sizeof(s->hist));
		x->status_class = sc;
		x->n_status_class = 5;
		x->latency = sc + 5;
		x->n_latency = HIST_BUCKETS;
		x->latency_sum_us = s->sum_us;
		x->failed_refused = s->refused;
		x->failed_reset = s->reset;
		x->failed_timeout = s->timeout;
		x->failed_unanswered = s->unanswered;
		x->active = s->active;
		rvp[i] = x;
	}
	i = 0;
	for (v = P->svcstats; v != NULL; v = v->next, i++) {
		Ferry__ServiceRefusals *x = &sv[i];

		ferry__service_refusals__init(x);
		x->service = v->service;
		x->no_target = v->no_target;
		x->held_expired = v->held_expired;
		x->bad_request = v->bad_request;
		x->header_timeout = v->header_timeout;
		x->body_too_large = v->body_too_large;
		x->header_too_large = v->header_too_large;
		x->client_aborted = v->client_aborted;
		x->drain_closed = v->drain_closed;
		svp[i] = x;
	}
	tr.boot.data = P->boot;
	tr.boot.len = sizeof(P->boot);
	tr.uptime_ms = clock_mono_ms() - P->start_ms;
	tr.revisions = rvp;
	tr.n_revisions = nv;
	tr.refusals = svp;
	tr.n_refusals = ns;
	tr.version = (char *)PROXY_VERSION;
	m.traffic = &tr;
	m.ok = 1;
	m.drained = P->drained;
	reply(c, &m, NULL, 0);
	free(rt);
	free(rtp);
	free(tg);
	free(tgp);
	free(rv);
	free(rvp);
	free(sv);
	free(svp);
	free(nums);
}

/* ---- handoff ------------------------------------------------------------ */

static void
handoff_reply(struct cconn *c)
{
	Ferry__ProxyReply m = FERRY__PROXY_REPLY__INIT;
	int fds[PROXYWIRE_MAX_FDS];
	char *names[PROXYWIRE_MAX_FDS];
	struct route *r;
	size_t n = 0;
	uint64_t longest = 0;

	if (P->leaving) {
		refuse(c, "handoff", "this proxy is already leaving");
		return;
	}
	for (r = P->routes; r != NULL && n < PROXYWIRE_MAX_FDS; r = r->next) {
		uv_os_fd_t fd;

		/* A drained route's socket goes too (the new proxy reads
		 * routes.pb, drained, and pauses it again). */
		if (r->removed)
			continue;
		if (r->paused)
			fd = r->paused_fd;
		else if (!r->listening ||
		    uv_fileno((uv_handle_t *)&r->listener, &fd) != 0)
			continue;
		fds[n] = fd;
		names[n++] = r->listen_name;
	}
	for (r = P->routes; r != NULL; r = r->next)
		if (r->spec->drain_timeout_ms > longest)
			longest = r->spec->drain_timeout_ms;
	/* Connections just accepted get the time to send a request. */
	if (longest < P->conf.header_timeout_ms)
		longest = P->conf.header_timeout_ms;
	m.ok = 1;
	m.listeners = names;
	m.n_listeners = n;
	reply(c, &m, fds, n);
	control_stop(0);
	log_info("control: handed %zu listening socket(s) to a new "
	    "ferry-proxy; finishing in-flight work (up to %llu ms)", n,
	    (unsigned long long)longest);
	proxy_leave(longest);
}

/* ---- requests ----------------------------------------------------------- */

static void
handle(struct cconn *c)
{
	Ferry__ProxyRequest *rq;
	Ferry__ProxyReply m = FERRY__PROXY_REPLY__INIT;
	char err[400];

	rq = ferry__proxy_request__unpack(NULL, c->len, c->body);
	if (rq == NULL) {
		refuse(c, "request", "request does not unpack");
		return;
	}
	switch (rq->op_case) {
	case FERRY__PROXY_REQUEST__OP_SET:
		if (P->leaving) {
			refuse(c, "set", "this proxy is leaving (handed off)");
			break;
		}
		if (route_set(rq->set, err, sizeof(err)) != 0) {
			refuse(c, "set", err);
			break;
		}
		m.ok = 1;
		reply(c, &m, NULL, 0);
		break;
	case FERRY__PROXY_REQUEST__OP_PORTS:
		if (P->leaving) {
			refuse(c, "ports", "this proxy is leaving (handed "
			    "off)");
			break;
		}
		if (route_set_ports(rq->ports->service, rq->ports->routes,
		    rq->ports->n_routes, 0, err, sizeof(err)) != 0) {
			refuse(c, "ports", err);
			break;
		}
		m.ok = 1;
		reply(c, &m, NULL, 0);
		break;
	case FERRY__PROXY_REQUEST__OP_REMOVE:
		if (P->leaving) {
			refuse(c, "remove", "this proxy is leaving (handed "
			    "off)");
			break;
		}
		if (route_remove(rq->remove, err, sizeof(err)) != 0) {
			refuse(c, "remove", err);
			break;
		}
		m.ok = 1;
		reply(c, &m, NULL, 0);
		break;
	case FERRY__PROXY_REQUEST__OP_STATUS:
		status_reply(c);
		break;
	case FERRY__PROXY_REQUEST__OP_DRAIN:
		if (P->leaving) {
			refuse(c, "drain", "this proxy is leaving (handed "
			    "off)");
			break;
		}
		if (proxy_drain(rq->drain, err, sizeof(err)) != 0) {
			refuse(c, "drain", err);
			break;
		}
		m.ok = 1;
		m.drained = P->drained;
		reply(c, &m, NULL, 0);
		break;
	case FERRY__PROXY_REQUEST__OP_HANDOFF:
		handoff_reply(c);
		break;
	default:
		refuse(c, "request", "op: none of set, ports, remove, "
		    "status, drain, handoff");
		break;
	}
	ferry__proxy_request__free_unpacked(rq, NULL);
}

static void
cconn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct cconn *c = h->data;

	(void)suggested;
	if (c->body == NULL) {
		b->base = (char *)c->hdr + c->hoff;
		b->len = 4 - c->hoff;
	} else {
		b->base = (char *)c->body + c->off;
		b->len = c->len - c->off;
	}
}

static void
on_cconn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct cconn *c = s->data;

	(void)b;
	if (n < 0) {
		uv_close((uv_handle_t *)&c->p, on_cconn_closed);
		return;
	}
	if (c->body == NULL) {
		c->hoff += (size_t)n;
		if (c->hoff < 4)
			return;
		c->len = (size_t)c->hdr[0] << 24 | (size_t)c->hdr[1] << 16 |
		    (size_t)c->hdr[2] << 8 | c->hdr[3];
		if (c->len > PROXYWIRE_MAX) {
			log_warnx("control: a request of %zu bytes (over %u); "
			    "connection closed", c->len, PROXYWIRE_MAX);
			uv_close((uv_handle_t *)&c->p, on_cconn_closed);
			return;
		}
		if ((c->body = malloc(c->len + 1)) == NULL)
			fatalx("out of memory");
		c->off = 0;
	} else {
		c->off += (size_t)n;
	}
	if (c->off < c->len)
		return;
	handle(c);
	free(c->body);
	c->body = NULL;
	c->hoff = 0;
	c->len = c->off = 0;
}

static void
on_control(uv_stream_t *server, int status)
{
	struct cconn *c;
	struct ucred cr;
	socklen_t crl = sizeof(cr);
	uv_os_fd_t fd;

	if (status != 0)
		return;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return;
	uv_pipe_init(P->loop, &c->p, 0);
	c->p.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->p) != 0) {
		uv_close((uv_handle_t *)&c->p, on_cconn_closed);
		return;
	}
	if (uv_fileno((uv_handle_t *)&c->p, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) != 0 ||
	    (cr.uid != 0 && cr.uid != geteuid())) {
		log_warnx("control: connection from uid %ld pid %ld refused "
		    "(root or ferry-proxy's own user only)",
		    crl == sizeof(cr) ? (long)cr.uid : -1L,
		    crl == sizeof(cr) ? (long)cr.pid : -1L);
		uv_close((uv_handle_t *)&c->p, on_cconn_closed);
		return;
	}
	c->uid = cr.uid;
	uv_read_start((uv_stream_t *)&c->p, cconn_alloc, on_cconn_read);
}

/* control_start makes the control socket's folder (0700), binds the
 * socket (0600; a stale one is replaced) and listens. */
int
control_start(char *err, size_t errlen)
{
	struct sockaddr_un sa;
	char dir[256], *slash;
	struct stat st;
	int fd = -1, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(P->conf.control) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control: path too long: %s",
		    P->conf.control);
		return -1;
	}
	memcpy(sa.sun_path, P->conf.control, strlen(P->conf.control) + 1);
	snprintf(dir, sizeof(dir), "%s", P->conf.control);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "control: cannot make %s: %s",
			    dir, strerror(errno));
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	unlink(P->conf.control);
	{
		mode_t old = umask(0177);

		rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		umask(old);
	}
	if (rc != 0 || chmod(P->conf.control, 0600) != 0 ||
	    listen(fd, 64) != 0)
		goto fail;
	if (stat(P->conf.control, &st) == 0) {
		ctl_dev = st.st_dev;
		ctl_ino = st.st_ino;
	}
	uv_pipe_init(P->loop, &P->control, 0);
	if ((rc = uv_pipe_open(&P->control, fd)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)&P->control, 64,
	    on_control)) != 0) {
		snprintf(err, errlen, "control: %s: %s", P->conf.control,
		    uv_strerror(rc));
		uv_close((uv_handle_t *)&P->control, NULL);
		return -1;
	}
	P->control_open = 1;
	return 0;
fail:
	snprintf(err, errlen, "control: %s: %s", P->conf.control,
	    strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* control_stop closes the control socket; its file is removed only when
 * it is still ours (not when a new proxy has taken the path). */
void
control_stop(int unlink_path)
{
	struct stat st;

	if (!P->control_open)
		return;
	P->control_open = 0;
	uv_close((uv_handle_t *)&P->control, NULL);
	if (unlink_path && stat(P->conf.control, &st) == 0 &&
	    st.st_dev == ctl_dev && st.st_ino == ctl_ino)
		unlink(P->conf.control);
}

/* control_handoff_take asks a proxy running on the control socket for
 * its listening sockets.  0 when there was none, or they were taken. */
int
control_handoff_take(char *err, size_t errlen)
{
	Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
	Ferry__ProxyReply *rp = NULL;
	int fds[PROXYWIRE_MAX_FDS];
	size_t nfds = PROXYWIRE_MAX_FDS, i;
	char why[400];
	int rc;

	if (access(P->conf.control, F_OK) != 0)
		return 0;
	rq.op_case = FERRY__PROXY_REQUEST__OP_HANDOFF;
	rq.handoff = 1;
	rc = proxywire_call(P->conf.control, &rq, &rp, fds, &nfds, 5000, why,
	    sizeof(why));
	if (rc == FERR_IO) {
		/* Nobody listens: a stale socket file. */
		log_debug("no ferry-proxy answers on %s: %s", P->conf.control,
		    why);
		return 0;
	}
	if (rc != 0) {
		snprintf(err, errlen, "handoff: %s", why);
		return -1;
	}
	if (!rp->ok) {
		snprintf(err, errlen, "handoff refused by the running "
		    "ferry-proxy: %s", rp->error);
		ferry__proxy_reply__free_unpacked(rp, NULL);
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		return -1;
	}
	for (i = 0; i < nfds; i++) {
		if (i >= rp->n_listeners) {
			close(fds[i]);
			continue;
		}
		/* A socket systemd also passed for the same name is the
		 * same socket; the first one found is taken, the other
		 * closed as unused. */
		inherited_add(fds[i], rp->listeners[i]);
	}
	log_info("took %zu listening socket(s) over from the running "
	    "ferry-proxy", nfds);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	return 0;
}

/* ---- leaving ------------------------------------------------------------ */

static void
on_leave_timer(uv_timer_t *t)
{
	(void)t;
	log_info("ferry-proxy: in-flight work not done by the deadline "
	    "(%llu connection(s)); exiting", (unsigned long long)P->nconns);
	exit(0);
}

/* proxy_leave stops accepting (listening sockets stay open elsewhere),
 * has every client connection close after its next response, and exits
 * once no connection is left, or after deadline_ms. */
void
proxy_leave(uint64_t deadline_ms)
{
	if (P->leaving)
		return;
	P->leaving = 1;
	routes_close_all();
	routes_unhold_all();
	http_leave();
	uv_timer_init(P->loop, &leave_timer);
	uv_timer_start(&leave_timer, on_leave_timer, deadline_ms + 100, 0);
	uv_unref((uv_handle_t *)&leave_timer);
	proxy_maybe_exit();
}

void
proxy_maybe_exit(void)
{
	if (!P->leaving || P->nconns > 0)
		return;
	log_info("ferry-proxy: in-flight work done; exiting");
	exit(0);
}
