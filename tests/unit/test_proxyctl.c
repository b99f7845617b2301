/* SPDX-License-Identifier: Apache-2.0 */
// links: agent/proxyctl.c
/* test_proxyctl.c: the agent's calls to its ferry-proxy against a stand-in
 * control socket served by a thread here (framed as proxywire.h says):
 * what a route change sends (a service's several ports in one request),
 * how a refusal reads, waiting for a drain (it ends when the target leaves
 * or goes idle, on every port, times out, and counts what was in flight),
 * reading a service's routes (live ones first), and a remove of a route
 * that is not there. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "ferr.h"
#include "proxyctl.h"
#include "proxywire.h"

/* The stand-in: each request is kept (the last one), and answered with
 * the route below, whose target's active count drops by one per Status. */
static struct {
	char path[108];
	int lfd;
	pthread_t th;
	atomic_int stop;
	int refuse;			/* answer Set with ok false */
	int has_route;
	int active;			/* the target's in flight */
	int gone_at;			/* Status number after which the target
					 * leaves the route (0: never) */
	int statuses, sets, removes;
	Ferry__ProxyRoute last_set;	/* scalars of the last Set */
	size_t last_ntargets;
	uint32_t last_weight[4];
	char last_addr[4][64];
	/* ports: how many, and the last one's routes (listen port, first
	 * target's port) */
	int ports;
	char ports_service[32];
	size_t last_nports;
	uint32_t ports_listen[4], ports_tport[4];
	int second;			/* Status lists a port that left web
					 * (9090, removed) first */
	int active2;			/* its target's in flight */
} S;

static int
read_full(int fd, void *buf, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t r = read(fd, (char *)buf + off, n - off);
		if (r <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

static void
answer(int fd, const Ferry__ProxyRequest *rq)
{
	Ferry__ProxyReply rep = FERRY__PROXY_REPLY__INIT;
	Ferry__ProxyRoute r = FERRY__PROXY_ROUTE__INIT, *rp = &r;
	Ferry__ProxyTarget t = FERRY__PROXY_TARGET__INIT, *tp = &t;
	Ferry__ProxyRoute r2 = FERRY__PROXY_ROUTE__INIT, *two[2];
	Ferry__ProxyTarget t2 = FERRY__PROXY_TARGET__INIT, *tp2 = &t2;
	uint8_t *buf;
	size_t n, i;

	rep.ok = 1;
	switch (rq->op_case) {
	case FERRY__PROXY_REQUEST__OP_SET:
		S.sets++;
		if (S.refuse) {
			rep.ok = 0;
			rep.error = "listen_port: cannot listen on "
			    "127.0.0.2:8080: Address already in use";
			break;
		}
		S.last_set = *rq->set;
		S.last_ntargets = rq->set->n_targets;
		for (i = 0; i < rq->set->n_targets && i < 4; i++) {
			S.last_weight[i] = rq->set->targets[i]->weight;
			snprintf(S.last_addr[i], sizeof(S.last_addr[i]), "%s",
			    rq->set->targets[i]->address);
		}
		break;
	case FERRY__PROXY_REQUEST__OP_PORTS:
		S.ports++;
		snprintf(S.ports_service, sizeof(S.ports_service), "%s",
		    rq->ports->service);
		S.last_nports = rq->ports->n_routes;
		for (i = 0; i < rq->ports->n_routes && i < 4; i++) {
			S.ports_listen[i] = rq->ports->routes[i]->listen_port;
			S.ports_tport[i] = rq->ports->routes[i]->n_targets ?
			    rq->ports->routes[i]->targets[0]->port : 0;
		}
		break;
	case FERRY__PROXY_REQUEST__OP_REMOVE:
		S.removes++;
		break;
	case FERRY__PROXY_REQUEST__OP_STATUS:
		S.statuses++;
		if (!S.has_route)
			break;
		r.service = "web";
		r.listen_address = "127.0.0.2";
		r.listen_port = 8080;
		r.drain_timeout_ms = 30000;
		t.revision = 1;
		t.address = "172.17.0.5";
		t.port = 80;
		t.draining = 1;
		t.active = (uint64_t)(S.active > 0 ? S.active : 0);
		if (S.active > 0)
			S.active--;
		r.targets = &tp;
		r.n_targets = S.gone_at && S.statuses > S.gone_at ? 0 : 1;
		rep.routes = &rp;
		rep.n_routes = 1;
		if (S.second) {
			r2.service = "web";
			r2.listen_address = "127.0.0.2";
			r2.listen_port = 9090;
			r2.removed = 1;
			t2.revision = 1;
			t2.address = "172.17.0.5";
			t2.port = 90;
			t2.draining = 1;
			t2.active = (uint64_t)(S.active2 > 0 ? S.active2 : 0);
			if (S.active2 > 0)
				S.active2--;
			r2.targets = &tp2;
			r2.n_targets = 1;
			two[0] = &r2;
			two[1] = &r;
			rep.routes = two;
			rep.n_routes = 2;
		}
		break;
	default:
		rep.ok = 0;
		rep.error = "unknown request";
	}
	n = ferry__proxy_reply__get_packed_size(&rep);
	buf = malloc(n + 1);
	ferry__proxy_reply__pack(&rep, buf);
	proxywire_send(fd, buf, n, NULL, 0, 1000);
	free(buf);
}

static void *
serve(void *arg)
{
	(void)arg;
	while (!atomic_load(&S.stop)) {
		int fd = accept(S.lfd, NULL, NULL);
		uint8_t hdr[4], *body;
		uint32_t len;
		Ferry__ProxyRequest *rq;

		if (fd < 0)
			continue;
		if (read_full(fd, hdr, 4) == 0) {
			len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
			    (uint32_t)hdr[2] << 8 | hdr[3];
			body = malloc(len + 1);
			if (len < 65536 && read_full(fd, body, len) == 0 &&
			    (rq = ferry__proxy_request__unpack(NULL, len,
			    body)) != NULL) {
				answer(fd, rq);
				ferry__proxy_request__free_unpacked(rq, NULL);
			}
			free(body);
		}
		close(fd);
	}
	return NULL;
}

static void
setup(void)
{
	struct sockaddr_un sa;

	memset(&S, 0, sizeof(S));
	snprintf(S.path, sizeof(S.path), "/tmp/ferry-proxyctl-%d.sock",
	    (int)getpid());
	unlink(S.path);
	S.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", S.path);
	cr_assert_eq(bind(S.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(S.lfd, 8), 0);
	pthread_create(&S.th, NULL, serve, NULL);
}

static void
teardown(void)
{
	atomic_store(&S.stop, 1);
	shutdown(S.lfd, SHUT_RDWR);
	close(S.lfd);
	pthread_join(S.th, NULL);
	unlink(S.path);
}

TestSuite(proxyctl, .init = setup, .fini = teardown, .timeout = 20);

Test(proxyctl, set_sends_the_route_whole)
{
	Ferry__ProxySettings ps = FERRY__PROXY_SETTINGS__INIT;
	struct proxyctl_route r;
	char err[300] = "";

	ps.mode = FERRY__PROXY_MODE__PROXY_TCP;
	ps.drain_timeout_ms = 2000;
	ps.max_body = 0;
	proxyctl_route_init(&r, "web", "127.0.0.2", 8080, &ps, 1);
	cr_assert_eq(r.mode, FERRY__PROXY_MODE__PROXY_TCP, "settings win");
	cr_assert_eq(r.max_pause_ms, 30000, "defaults fill the rest");
	cr_assert_eq(proxyctl_add_target(&r, 2, "172.17.0.9", 80, 20), 0);
	cr_assert_eq(proxyctl_add_target(&r, 1, "172.17.0.5", 80, 80), 0);
	cr_assert_eq(proxyctl_set(S.path, &r, err, sizeof(err)), 0, "%s",
	    err);
	cr_assert_eq(S.sets, 1);
	cr_assert_eq(S.last_set.listen_port, 8080);
	cr_assert_eq(S.last_set.drain_timeout_ms, 2000);
	cr_assert_eq(S.last_ntargets, 2);
	cr_assert_eq(S.last_weight[0], 20);
	cr_assert_str_eq(S.last_addr[1], "172.17.0.5");

	/* No settings: http with an HTTP check, else tcp. */
	proxyctl_route_init(&r, "web", "127.0.0.2", 8080, NULL, 1);
	cr_assert_eq(r.mode, FERRY__PROXY_MODE__PROXY_HTTP);
	proxyctl_route_init(&r, "web", "127.0.0.2", 8080, NULL, 0);
	cr_assert_eq(r.mode, FERRY__PROXY_MODE__PROXY_TCP);
	cr_assert_eq(r.drain_timeout_ms, 30000);
	for (int i = 0; i < PROXYCTL_TARGETS_MAX; i++)
		cr_assert_eq(proxyctl_add_target(&r, 1, "a", 80, 1), 0);
	cr_assert_eq(proxyctl_add_target(&r, 1, "a", 80, 1), FERR_TOOBIG);
}

Test(proxyctl, a_refusal_names_the_service_and_the_proxy_reason)
{
	struct proxyctl_route r;
	char err[300] = "";

	S.refuse = 1;
	proxyctl_route_init(&r, "web", "127.0.0.2", 8080, NULL, 1);
	r.hold = 1;
	cr_assert_eq(proxyctl_set(S.path, &r, err, sizeof(err)), FERR_STATE);
	cr_assert_str_eq(err, "ferry-proxy: set the route of web: "
	    "listen_port: cannot listen on 127.0.0.2:8080: Address already "
	    "in use");
	/* No proxy there at all: said, with the socket. */
	cr_assert_neq(proxyctl_set("/nonexistent/ferry-proxy.sock", &r, err,
	    sizeof(err)), 0);
	cr_assert(strncmp(err, "ferry-proxy: set the route of web: ",
	    35) == 0, "%s", err);
	cr_assert_eq(proxyctl_set("", &r, err, sizeof(err)), FERR_ARG);
}

Test(proxyctl, drained_when_nothing_is_in_flight_and_counted)
{
	uint64_t k = 99;
	char err[300] = "";

	S.has_route = 1;
	S.active = 3;	/* 3, 2, 1, 0 on successive looks */
	cr_assert_eq(proxyctl_wait_drained(S.path, "web", "172.17.0.5", 80,
	    5000, NULL, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(k, 3, "what was in flight at the first look");
	cr_assert_eq(S.statuses, 4);

	/* A target that left the route has drained. */
	S.statuses = 0;
	S.active = 50;
	S.gone_at = 2;
	cr_assert_eq(proxyctl_wait_drained(S.path, "web", "172.17.0.5", 80,
	    5000, NULL, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(S.statuses, 3);

	/* Another target's address: nothing of it in flight. */
	S.gone_at = 0;
	S.active = 50;
	cr_assert_eq(proxyctl_wait_drained(S.path, "web", "172.17.0.6", 80,
	    5000, NULL, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(k, 0);
}

Test(proxyctl, a_drain_that_outlasts_its_time_says_so)
{
	uint64_t k = 0;
	char err[300] = "";

	S.has_route = 1;
	S.active = 1000000;
	cr_assert_eq(proxyctl_wait_drained(S.path, "web", "172.17.0.5", 80,
	    300, NULL, &k, err, sizeof(err)), FERR_TIMEOUT);
	cr_assert(strstr(err, "still in flight on 172.17.0.5:80 after 300 ms")
	    != NULL, "%s", err);
	cr_assert_eq(k, 1000000);
}

Test(proxyctl, remove_of_a_missing_route_is_no_error)
{
	struct proxyctl_route r;
	char err[300] = "";

	cr_assert_eq(proxyctl_remove(S.path, "web", err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(S.removes, 0, "nothing to remove, nothing sent");
	cr_assert_eq(proxyctl_get(S.path, "web", &r, err, sizeof(err)),
	    FERR_NOTFOUND);
	S.has_route = 1;
	cr_assert_eq(proxyctl_remove(S.path, "web", err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(S.removes, 1);
	cr_assert_eq(proxyctl_get(S.path, "web", &r, err, sizeof(err)), 0);
	cr_assert_eq(r.ntargets, 1);
	cr_assert(r.targets[0].draining);
	cr_assert_str_eq(r.targets[0].address, "172.17.0.5");
}

/* A service's ports go in one request (ports), each route with its own
 * container port; one port goes as the older set; none, or more than a
 * service may have, is refused before anything is sent. */
Test(proxyctl, a_service_s_ports_go_in_one_request)
{
	struct proxyctl_route r[PROXYCTL_PORTS_MAX + 1];
	char err[300] = "";

	proxyctl_route_init(&r[0], "web", "127.0.0.2", 8080, NULL, 1);
	proxyctl_route_init(&r[1], "web", "127.0.0.2", 9090, NULL, 1);
	cr_assert_eq(proxyctl_add_target(&r[0], 2, "172.17.0.9", 80, 100), 0);
	cr_assert_eq(proxyctl_add_target(&r[1], 2, "172.17.0.9", 90, 100), 0);
	cr_assert_eq(proxyctl_set_ports(S.path, r, 2, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(S.ports, 1);
	cr_assert_eq(S.sets, 0);
	cr_assert_str_eq(S.ports_service, "web");
	cr_assert_eq(S.last_nports, 2);
	cr_assert_eq(S.ports_listen[0], 8080);
	cr_assert_eq(S.ports_tport[0], 80);
	cr_assert_eq(S.ports_listen[1], 9090);
	cr_assert_eq(S.ports_tport[1], 90);
	cr_assert_eq(proxyctl_set_ports(S.path, r, 1, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(S.sets, 1);
	cr_assert_eq(S.last_set.listen_port, 8080);
	cr_assert_eq(S.ports, 1);
	cr_assert_eq(proxyctl_set_ports(S.path, r, 0, err, sizeof(err)),
	    FERR_ARG);
	cr_assert_eq(proxyctl_set_ports(S.path, r, PROXYCTL_PORTS_MAX + 1, err,
	    sizeof(err)), FERR_ARG);
	cr_assert_str_eq(err, "ferry-proxy: web: 17 ports, 1 to 16");
	cr_assert_eq(S.ports + S.sets, 2, "a refused call sent something");
}

/* Routes read: the live one first (get skips a port that left); a drain
 * waits on every port of the service (port 0: any). */
Test(proxyctl, every_port_of_a_service_is_read_and_drained)
{
	struct proxyctl_route rs[4], r;
	size_t n = 0;
	uint64_t k = 0;
	char err[300] = "";

	S.has_route = 1;
	S.second = 1;
	cr_assert_eq(proxyctl_get(S.path, "web", &r, err, sizeof(err)), 0);
	cr_assert_eq(r.listen_port, 8080);
	cr_assert(!r.removed);
	cr_assert_eq(proxyctl_get_all(S.path, "web", rs, 4, &n, err,
	    sizeof(err)), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(rs[0].listen_port, 8080);
	cr_assert_eq(rs[1].listen_port, 9090);
	cr_assert(rs[1].removed);
	cr_assert_eq(proxyctl_get_all(S.path, "api", rs, 4, &n, err,
	    sizeof(err)), 0);
	cr_assert_eq(n, 0);

	/* 1 in flight on 8080, 3 on 9090: drained when both are 0. */
	S.statuses = 0;
	S.active = 1;
	S.active2 = 3;
	cr_assert_eq(proxyctl_wait_drained(S.path, "web", "172.17.0.5", 0,
	    5000, NULL, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(k, 4, "both ports' in flight at the first look");
	cr_assert_eq(S.statuses, 4);
	/* One port named: the other's in flight does not count. */
	S.statuses = 0;
	S.active = 0;
	S.active2 = 3;
	cr_assert_eq(proxyctl_wait_drained(S.path, "web", "172.17.0.5", 80,
	    5000, NULL, &k, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(k, 0);
	cr_assert_eq(S.statuses, 1);
}
