/* SPDX-License-Identifier: Apache-2.0 */
/* proxyctl.c: a tiny client of ferry-proxy's control socket, for the bench
 * and the install test (the agent is what drives the proxy on a fleet).
 *
 *   proxyctl SOCKET set SERVICE LISTEN_ADDR:PORT TARGET_ADDR:PORT [tcp]
 *   proxyctl SOCKET remove SERVICE
 *   proxyctl SOCKET status
 *
 * set replaces SERVICE's route with one target (revision 1, weight 1),
 * HTTP mode unless "tcp" is given, the proxy's default timeouts.  status
 * prints each route (service, listening address, targets) and each
 * revision's counts: "traffic SERVICE REV requests=N 2xx=N 5xx=N ...".
 * Exit status 0 when the proxy answered ok, 1 when it refused (its reason
 * on stderr) or did not answer, 2 for bad arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry.pb-c.h"
#include "hist.h"
#include "proxywire.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: proxyctl SOCKET set SERVICE LISTEN_ADDR:PORT "
	    "TARGET_ADDR:PORT [tcp]\n"
	    "       proxyctl SOCKET remove SERVICE\n"
	    "       proxyctl SOCKET status\n");
}

/* split_hostport cuts "addr:port" into addr (in place) and *port. */
static int
split_hostport(char *s, unsigned *port)
{
	char *colon = strrchr(s, ':'), *end;
	unsigned long p;

	if (colon == NULL || colon == s)
		return -1;
	p = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || p == 0 || p > 65535)
		return -1;
	*colon = '\0';
	*port = (unsigned)p;
	return 0;
}

static void
print_reply(const Ferry__ProxyReply *rp)
{
	for (size_t i = 0; i < rp->n_routes; i++) {
		const Ferry__ProxyRoute *r = rp->routes[i];

		printf("route %s %s %s:%u held=%llu\n", r->service,
		    r->mode == FERRY__PROXY_MODE__PROXY_TCP ? "tcp" : "http",
		    r->listen_address, r->listen_port,
		    (unsigned long long)r->held);
		for (size_t j = 0; j < r->n_targets; j++) {
			const Ferry__ProxyTarget *t = r->targets[j];

			printf("target %s %llu %s:%u weight=%u%s active=%llu\n",
			    r->service, (unsigned long long)t->revision,
			    t->address, t->port, t->weight,
			    t->draining ? " draining" : "",
			    (unsigned long long)t->active);
		}
	}
	if (rp->traffic == NULL)
		return;
	for (size_t i = 0; i < rp->traffic->n_revisions; i++) {
		const Ferry__RevisionTraffic *t = rp->traffic->revisions[i];
		uint64_t sc[5] = { 0 };
		double p50, p99;

		for (size_t k = 0; k < t->n_status_class && k < 5; k++)
			sc[k] = t->status_class[k];
		p50 = hist_quantile_us(t->latency, t->n_latency, 0.5);
		p99 = hist_quantile_us(t->latency, t->n_latency, 0.99);
		printf("traffic %s %llu requests=%llu 1xx=%llu 2xx=%llu "
		    "3xx=%llu 4xx=%llu 5xx=%llu refused=%llu reset=%llu "
		    "timeout=%llu active=%llu p50_us=%.0f p99_us=%.0f\n",
		    t->service, (unsigned long long)t->revision,
		    (unsigned long long)t->requests,
		    (unsigned long long)sc[0], (unsigned long long)sc[1],
		    (unsigned long long)sc[2], (unsigned long long)sc[3],
		    (unsigned long long)sc[4],
		    (unsigned long long)t->failed_refused,
		    (unsigned long long)t->failed_reset,
		    (unsigned long long)t->failed_timeout,
		    (unsigned long long)t->active, p50, p99);
	}
	for (size_t i = 0; i < rp->traffic->n_refusals; i++) {
		const Ferry__ServiceRefusals *s = rp->traffic->refusals[i];

		printf("refusals %s no_target=%llu held_expired=%llu "
		    "bad_request=%llu client_aborted=%llu drain_closed=%llu\n",
		    s->service, (unsigned long long)s->no_target,
		    (unsigned long long)s->held_expired,
		    (unsigned long long)s->bad_request,
		    (unsigned long long)s->client_aborted,
		    (unsigned long long)s->drain_closed);
	}
}

int
main(int argc, char **argv)
{
	Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
	Ferry__ProxyRoute route = FERRY__PROXY_ROUTE__INIT;
	Ferry__ProxyTarget target = FERRY__PROXY_TARGET__INIT;
	Ferry__ProxyTarget *targets[1] = { &target };
	Ferry__ProxyReply *rp = NULL;
	char err[256];
	int rc;

	if (argc >= 2 && (!strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc < 3) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[2], "status") && argc == 3) {
		rq.op_case = FERRY__PROXY_REQUEST__OP_STATUS;
		rq.status = 1;
	} else if (!strcmp(argv[2], "remove") && argc == 4) {
		rq.op_case = FERRY__PROXY_REQUEST__OP_REMOVE;
		rq.remove = argv[3];
	} else if (!strcmp(argv[2], "set") && (argc == 6 || (argc == 7 &&
	    !strcmp(argv[6], "tcp")))) {
		unsigned lport, tport;

		if (split_hostport(argv[4], &lport) < 0 ||
		    split_hostport(argv[5], &tport) < 0) {
			fprintf(stderr, "proxyctl: addresses are ADDR:PORT\n");
			return 2;
		}
		route.service = argv[3];
		route.mode = argc == 7 ? FERRY__PROXY_MODE__PROXY_TCP :
		    FERRY__PROXY_MODE__PROXY_HTTP;
		route.listen_address = argv[4];
		route.listen_port = lport;
		target.revision = 1;
		target.address = argv[5];
		target.port = tport;
		target.weight = 1;
		route.n_targets = 1;
		route.targets = targets;
		rq.op_case = FERRY__PROXY_REQUEST__OP_SET;
		rq.set = &route;
	} else {
		usage(stderr);
		return 2;
	}
	rc = proxywire_call(argv[1], &rq, &rp, NULL, NULL, 5000, err,
	    sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "proxyctl: %s: %s\n", argv[1], err);
		return 1;
	}
	if (!rp->ok) {
		fprintf(stderr, "proxyctl: the proxy refused: %s\n",
		    rp->error);
		ferry__proxy_reply__free_unpacked(rp, NULL);
		return 1;
	}
	print_reply(rp);
	ferry__proxy_reply__free_unpacked(rp, NULL);
	return 0;
}
