/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/dkit.c
/* test_beside.c: two revisions side by side through ferry-proxy, as canary
 * steps and blue-green need them, on the real dockerd and registry:
 * prepared at 0% (no request reaches the new one), switched to 100% with
 * the old one kept warm (no request reaches the old one), switched back
 * under load without a failed request or a container created, canary
 * weights 5 -> 25 -> 50 changed in place, the weights kept across a
 * kill -9 of the agent and a restart of ferry-proxy, six hosts switched
 * together, and what ferry swap refuses.  ferry-load counts each answer's
 * version.  Every wait is bounded; processes are ended by pid. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "dkit.h"
#include "proxywire.h"

TestSuite(beside, .init = setup, .fini = teardown, .timeout = 120);

/* ---- helpers ------------------------------------------------------------ */

/* write_spec writes vN.yml for host i: version n, a quick HTTP check. */
static void
write_spec(int n, int i)
{
	char file[32];

	snprintf(file, sizeof(file), "v%d-%d.yml", n, i);
	h_write(&F, file,
	    "service: web\n"
	    "image: " IMG "%d\n"
	    "hosts: [%s]\n"
	    "port: { host: %d, container: 80 }\n"
	    "health:\n"
	    "  http: { path: /health, port: 80 }\n"
	    "  interval: 100ms\n"
	    "  start_interval: 50ms\n"
	    /* Only a failure waits it out, and none is expected here: six
	     * containers started at once on a busy engine were once not
	     * answering after 10 s. */
	    "  deadline: 30s\n"
	    "  min_healthy: 0s\n"
	    "proxy: { drain_timeout: 3s }\n", n, HOST[i], PORT);
}

static const char *
sfile(int n, int i)
{
	static char buf[4][600];
	static int k;
	char file[32];

	snprintf(file, sizeof(file), "v%d-%d.yml", n, i);
	k = (k + 1) % 4;
	return h_path(&F, file, buf[k], sizeof(buf[k]));
}

/* swap_json runs ferry swap HOST[i] vN [extra...] --json and returns its
 * answer (cJSON_Delete it); R keeps the run. */
static cJSON *
swap_json(int i, int n, const char *a, const char *b, const char *c)
{
	const char *args[10] = { "swap", HOST[i], sfile(n, i), "--json" };
	int k = 4;
	cJSON *o;

	if (a != NULL)
		args[k++] = a;
	if (b != NULL)
		args[k++] = b;
	if (c != NULL)
		args[k++] = c;
	args[k] = NULL;
	h_ferry(&F, &R, args);
	o = cJSON_Parse(R.out);
	cr_assert_not_null(o, "no JSON from ferry swap (%d): %s%s", R.status,
	    R.out, R.err);
	return o;
}

static double
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* swapped asserts a swap's answer: SWAPPED, revision rev running beside
 * another with weight w (w < 0: not beside), switched_at_ms stamped. */
static void
swapped(const cJSON *o, int rev, int w)
{
	char *t = cJSON_PrintUnformatted(o);

	cr_assert_eq(R.status, 0, "%s %s", t, R.err);
	cr_assert_str_eq(jstr(o, "outcome"), "swapped", "%s", t);
	cr_assert_eq(jd(o, "revision", NULL), rev, "%s", t);
	cr_assert_eq(cJSON_IsTrue(cJSON_GetObjectItem(o, "beside")), w >= 0,
	    "%s", t);
	if (w >= 0)
		cr_assert_eq(jd(o, "weight", NULL), w, "%s", t);
	/* Stamped on the agent's wall clock as the route took it: now,
	 * give or take the swap itself. */
	cr_assert(jd(o, "switched_at_ms", NULL) > wall_ms() - 60000 &&
	    jd(o, "switched_at_ms", NULL) <= wall_ms() + 1000, "%s", t);
	free(t);
}

/* none_failed: every request answered 2xx, at least min of them (dkit's
 * no_failures wants over 100: a switch under load on a busy machine may
 * see fewer). */
static void
none_failed(const cJSON *o, double min, const char *what)
{
	char *text = cJSON_PrintUnformatted(o);

	cr_assert_geq(jd(o, "sent", NULL), min, "%s: too few requests: %s",
	    what, text);
	cr_assert_eq(jd(o, "failed", NULL), 0, "%s: failed requests: %s",
	    what, text);
	cr_assert_eq(jd(o, "by_class", "2xx"), jd(o, "sent", NULL),
	    "%s: answers other than 2xx: %s", what, text);
	cr_log_info("%s: %s", what, text);
	free(text);
}

/* count of answers naming version v (0 when none). */
static double
answers(const cJSON *o, int v)
{
	const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "targets"),
	    0);
	char k[16];
	double n;

	snprintf(k, sizeof(k), "%d", v);
	n = jd(cJSON_GetObjectItem(t, "bodies"), k, NULL);
	return n < 0 ? 0 : n;
}

/* What ferry-load saw over one or more runs. */
struct tally {
	double sent, failed, ok, v[3];	/* v[n]: answers naming version n */
};

static void
tally_add(struct tally *t, const cJSON *o, const char *what)
{
	(void)what;
	t->sent += jd(o, "sent", NULL);
	t->failed += jd(o, "failed", NULL);
	t->ok += jd(o, "by_class", "2xx");
	for (int n = 1; n <= 2; n++)
		t->v[n] += answers(o, n);
}

/* measure runs ferry-load on host i in rounds of a second until it has
 * sent min requests (at most 10 rounds: a loaded machine is slow) and
 * asserts that every one was answered 2xx. */
static struct tally
measure(int i, double min, const char *what)
{
	struct tally t = { 0, 0, 0, { 0, 0, 0 } };
	int k;

	for (k = 0; k < 10 && t.sent < min; k++) {
		struct h_proc *p = load_start("load", i, i, 4, 2, 60);
		cJSON *o;

		h_sleep_ms(1000);
		o = load_stop(p);
		tally_add(&t, o, what);
		cJSON_Delete(o);
	}
	cr_log_info("%s: %.0f requests, %.0f failed, v1 %.0f, v2 %.0f", what,
	    t.sent, t.failed, t.v[1], t.v[2]);
	cr_assert_geq(t.sent, min, "%s: %.0f requests in 10 s", what,
	    t.sent);
	cr_assert_eq(t.failed, 0, "%s: %.0f failed", what, t.failed);
	cr_assert_eq(t.ok, t.sent, "%s: answers other than 2xx", what);
	cr_assert_eq(t.v[1] + t.v[2], t.sent, "%s: answers of neither "
	    "version", what);
	return t;
}

/* route reads host i's route of web from its ferry-proxy into w1/w2:
 * the weights of the live (not draining) targets of revisions r1, r2
 * (-1: no such target); returns the number of live targets. */
static int
route(int i, uint64_t r1, int *w1, uint64_t r2, int *w2)
{
	Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
	Ferry__ProxyReply *rp = NULL;
	char ctl[600], err[300];
	size_t k, t;
	int live = 0;

	*w1 = *w2 = -1;
	rq.op_case = FERRY__PROXY_REQUEST__OP_STATUS;
	rq.status = 1;
	h_proxy_control(&F, HOST[i], ctl, sizeof(ctl));
	cr_assert_eq(proxywire_call(ctl, &rq, &rp, NULL, NULL, 3000, err,
	    sizeof(err)), 0, "%s", err);
	for (k = 0; k < rp->n_routes; k++) {
		const Ferry__ProxyRoute *r = rp->routes[k];

		if (strcmp(r->service, "web") != 0)
			continue;
		for (t = 0; t < r->n_targets; t++) {
			if (r->targets[t]->draining)
				continue;
			live++;
			if (r->targets[t]->revision == r1)
				*w1 = (int)r->targets[t]->weight;
			else if (r->targets[t]->revision == r2)
				*w2 = (int)r->targets[t]->weight;
		}
	}
	ferry__proxy_reply__free_unpacked(rp, NULL);
	return live;
}

/* created counts the containers the agent of host i created so far. */
static int
created(int i)
{
	return h_log_count(AGENT[i], ": created ferry-");
}

/* log_pos: the offset of the first line of p's log holding text after
 * offset from (-1: none). */
static long
log_pos(const struct h_proc *p, const char *text, long from)
{
	FILE *fp = fopen(p->log, "r");
	char *line = NULL;
	size_t cap = 0;
	long at = -1, off;

	if (fp == NULL)
		return -1;
	for (off = ftell(fp); getline(&line, &cap, fp) > 0; off = ftell(fp))
		if (off >= from && strstr(line, text) != NULL) {
			at = off;
			break;
		}
	free(line);
	fclose(fp);
	return at;
}

/* v1 on host i, then v2 beside it at weight w ("0", "5", ...) with the
 * extra flag (NULL or "--keep-old"). */
static void
two_running(int i, const char *w, const char *extra)
{
	cJSON *o;

	write_spec(1, i);
	write_spec(2, i);
	o = swap_json(i, 1, NULL, NULL, NULL);
	swapped(o, 1, -1);
	cJSON_Delete(o);
	o = swap_json(i, 2, "--weight", w, extra);
	swapped(o, 2, atoi(w));
	cJSON_Delete(o);
	cr_assert_eq(containers(i, NULL, 0, NULL), 2, "both run");
}

/* ---- the tests ---------------------------------------------------------- */

/*
 * Blue-green on one host: v2 prepared beside v1 at 0% (health-gated, not
 * one request of hundreds reaches it), switched to 100% keeping v1 warm
 * (not one request reaches v1, which still runs; nothing created), then
 * switched back under load by v1's spec with no weight: the route moves
 * to v1 first, then v2 drains and stops; 0 failed requests, no container
 * created.
 */
Test(beside, prepare_at_0_switch_to_100_keeping_the_old_then_back)
{
	struct h_proc *load;
	struct tally t;
	cJSON *o;
	long at;
	int w1, w2, made, all_before, all_after;

	fleet(1);
	two_running(0, "0", NULL);
	cr_assert_eq(route(0, 1, &w1, 2, &w2), 2);
	cr_assert(w1 == 100 && w2 == 0, "route %d/%d, not 100/0", w1, w2);
	t = measure(0, 200, "prepared at 0%");
	cr_assert_eq(t.v[2], 0, "the prepared revision got requests");

	/* The switch: same spec, 100%, the old one kept. */
	made = created(0);
	o = swap_json(0, 2, "--weight", "100", "--keep-old");
	swapped(o, 2, 100);
	cr_assert_eq(jd(o, "previous_revision", NULL), 1);
	cJSON_Delete(o);
	cr_assert_eq(created(0), made, "the switch created a container");
	cr_assert(h_wait_log(F.ferryd, "is revision 2 again", 3000),
	    "the swap did not name the running revision");
	cr_assert(h_wait_log(AGENT[0], "web: r2 gets 100% of new traffic, "
	    "r1 0% (both running)", 3000));
	cr_assert_eq(route(0, 1, &w1, 2, &w2), 2);
	cr_assert(w1 == 0 && w2 == 100, "route %d/%d, not 0/100", w1, w2);
	t = measure(0, 200, "switched to 100%");
	cr_assert_eq(t.v[1], 0, "the old revision got requests");
	cr_assert_eq(containers(0, NULL, 0, NULL), 2, "the old one stopped");

	/* Back, under load, without starting anything. */
	containers(0, NULL, 0, &all_before);
	at = log_pos(AGENT[0], "(both running)", 0);
	load = load_start("load-back", 0, 0, 2, 4, 60);
	h_sleep_ms(400);
	o = swap_json(0, 1, NULL, NULL, NULL);
	swapped(o, 1, -1);
	cJSON_Delete(o);
	h_sleep_ms(300);
	o = load_stop(load);
	none_failed(o, 20, "switched back");
	cJSON_Delete(o);
	cr_assert_eq(created(0), made, "switching back created a container");
	containers(0, NULL, 0, &all_after);
	cr_assert_eq(all_after, all_before, "containers made or removed");
	cr_assert_eq(containers(0, NULL, 0, NULL), 1, "v2 still runs");
	cr_assert_eq(serving(0), 1);
	/* The route moved first, then v2 drained and stopped. */
	{
		long sw = log_pos(AGENT[0], "web: switched traffic to r1", at);
		long dr = log_pos(AGENT[0], "web: r2 drained (", at);
		long st = log_pos(AGENT[0], "web: stopped r2", at);

		cr_assert(sw > 0 && dr > sw && st > dr, "order: switched %ld, "
		    "drained %ld, stopped %ld", sw, dr, st);
	}
}

/*
 * Canary steps: v2 beside v1 at 5%, then 25%, then 50%, each by the same
 * spec: only the weights change (no container created, nothing pulled
 * again: the route's short path), and the shares over a few hundred
 * requests are the weights.
 */
Test(beside, canary_steps_change_the_weights_in_place)
{
	static const int steps[] = { 5, 25, 50 };
	char w[8];
	cJSON *o;
	int k, made, w1, w2;

	fleet(1);
	two_running(0, "5", NULL);
	made = created(0);
	for (k = 0; k < 3; k++) {
		struct tally t;
		double share;

		if (k > 0) {
			snprintf(w, sizeof(w), "%d", steps[k]);
			o = swap_json(0, 2, "--weight", w, NULL);
			swapped(o, 2, steps[k]);
			cJSON_Delete(o);
		}
		cr_assert_eq(route(0, 1, &w1, 2, &w2), 2);
		cr_assert(w2 == steps[k] && w1 == 100 - steps[k],
		    "route %d/%d at step %d", w1, w2, steps[k]);
		t = measure(0, 200, "canary step");
		share = t.v[2] / t.sent;
		cr_log_info("step %d%%: v1 %.0f, v2 %.0f (%.3f)", steps[k],
		    t.v[1], t.v[2], share);
		cr_assert(share > steps[k] / 100.0 - 0.03 &&
		    share < steps[k] / 100.0 + 0.03, "v2 got %.3f of %.0f, "
		    "not %d%%", share, t.sent, steps[k]);
	}
	cr_assert_eq(created(0), made, "a step created a container");
	cr_assert_eq(h_log_count(AGENT[0], "web r2: started, checking health"),
	    1, "a step started or checked the canary again");
	/* Both steps took the short path: the proxy's route alone. */
	cr_assert_eq(h_log_count(AGENT[0], "(both running), the route read "
	    "and set in"), 2, "short paths: %d, see %s", h_log_count(AGENT[0],
	    "(both running), the route read and set in"), AGENT[0]->log);
	cr_assert_eq(containers(0, NULL, 0, NULL), 2);
}

/* restarted: the route has weights w1/w2 and both containers run. */
static void
weights_kept(int want1, int want2, const char *after)
{
	int w1, w2, k;

	/* The agent reconciles the routes as it starts: give it time. */
	for (k = 0; k < 50; k++) {
		if (route(0, 1, &w1, 2, &w2) == 2 && w1 == want1 &&
		    w2 == want2)
			break;
		h_sleep_ms(100);
	}
	cr_assert_eq(route(0, 1, &w1, 2, &w2), 2, "%s", after);
	cr_assert(w1 == want1 && w2 == want2, "%s: route %d/%d, not %d/%d",
	    after, w1, w2, want1, want2);
	cr_assert_eq(containers(0, NULL, 0, NULL), 2, "%s: not both run",
	    after);
}

static void
restart_agent(void)
{
	cr_assert_eq(h_kill(AGENT[0], SIGKILL), 128 + SIGKILL);
	AGENT[0] = h_start_agent(&F, HOST[0], NULL);
	cr_assert(h_wait_state(&F, HOST[0], "online", 10000));
}

static void
restart_proxy(void)
{
	cr_assert_eq(h_kill(F.proxies[0], SIGKILL), 128 + SIGKILL);
	h_start_proxy(&F, HOST[0]);
}

/*
 * Restarts keep the weights: at 95/5 (a canary) and at 0/100 (blue-green
 * switched, the old kept), kill -9 of the agent and a restart of
 * ferry-proxy (from its routes file) leave the route as it was and both
 * containers running; and traffic still splits so.
 */
Test(beside, restarts_keep_the_weights)
{
	struct tally t;
	cJSON *o;

	fleet(1);
	two_running(0, "5", NULL);
	restart_agent();
	weights_kept(95, 5, "agent killed at 95/5");
	restart_proxy();
	weights_kept(95, 5, "proxy restarted at 95/5");

	o = swap_json(0, 2, "--weight", "100", "--keep-old");
	swapped(o, 2, 100);
	cJSON_Delete(o);
	restart_agent();
	weights_kept(0, 100, "agent killed at 0/100");
	restart_proxy();
	weights_kept(0, 100, "proxy restarted at 0/100");
	t = measure(0, 100, "after the restarts");
	cr_assert_eq(t.v[1], 0, "the old revision got requests");
}

/*
 * A proxy that lost its routes file as well: the agent's start rebuilds
 * the route from the containers' labels, which say the split each was
 * started with, 0% included (v2 prepared beside v1 gets no traffic, not
 * half of it).
 */
Test(beside, a_lost_route_is_rebuilt_from_the_labels)
{
	char rp[700], state[600];
	int w1, w2;

	fleet(1);
	two_running(0, "0", NULL);
	cr_assert_eq(h_kill(AGENT[0], SIGKILL), 128 + SIGKILL);
	cr_assert_eq(h_kill(F.proxies[0], SIGKILL), 128 + SIGKILL);
	snprintf(state, sizeof(state), "%s-proxy", HOST[0]);
	h_path(&F, state, rp, sizeof(rp));
	strncat(rp, "/routes.pb", sizeof(rp) - strlen(rp) - 1);
	cr_assert_eq(unlink(rp), 0, "%s", rp);
	h_start_proxy(&F, HOST[0]);
	cr_assert_eq(route(0, 1, &w1, 2, &w2), 0, "the route survived");
	AGENT[0] = h_start_agent(&F, HOST[0], NULL);
	cr_assert(h_wait_state(&F, HOST[0], "online", 10000));
	weights_kept(100, 0, "rebuilt from the labels");
	cr_assert_eq(serving(0), 1);
}

/* What ferry swap refuses, with exit 2 and nothing sent; and an agent
 * asked to run a revision beside nothing says no, changing nothing. */
Test(beside, bad_combinations_are_refused)
{
	static const char *const bad[][4] = {
		{ "--keep-old", NULL },
		{ "--weight", "101", NULL },
		{ "--weight", "-1", NULL },
		{ "--weight", "5x", NULL },
		{ "--weight", NULL },
	};
	size_t k;
	cJSON *o;

	fleet(1);
	write_spec(1, 0);
	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		const char *args[8] = { "swap", HOST[0], sfile(1, 0) };
		int n = 3, m;

		for (m = 0; bad[k][m] != NULL; m++)
			args[n++] = bad[k][m];
		args[n] = NULL;
		h_ferry(&F, &R, args);
		cr_assert_eq(R.status, 2, "%s %s: %d %s", bad[k][0],
		    bad[k][1] ? bad[k][1] : "", R.status, R.err);
		cr_assert(strstr(R.err, bad[k][0]) != NULL, "%s", R.err);
	}
	h_ferry(&F, &R, (const char *[]){ "swap", HOST[0], "--rollback",
	    "web", "--keep-old", NULL });
	cr_assert_eq(R.status, 2);
	cr_assert(strstr(R.err, "--keep-old goes with SPEC.yml") != NULL,
	    "%s", R.err);
	cr_assert_eq(db_count("SELECT count(*) FROM revisions"), 0,
	    "a refused swap recorded a revision");

	/* Nothing runs: 0% beside nothing is refused by the agent. */
	o = swap_json(0, 1, "--weight", "0", NULL);
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(jstr(o, "reason"), "nothing else of web runs here")
	    != NULL, "%s", R.out);
	cJSON_Delete(o);
	cr_assert_eq(containers(0, NULL, 0, NULL), 0);
	/* 100% beside nothing is a plain swap. */
	o = swap_json(0, 1, "--weight", "100", "--keep-old");
	swapped(o, 1, -1);
	cJSON_Delete(o);
	cr_assert_eq(serving(0), 1);
}

/* ---- six hosts ---------------------------------------------------------- */

/* bg_swap starts ferry swap HOST[i] vN.yml --weight 100 --keep-old --json
 * (or without a weight when w is NULL) in the background, its output to
 * out; returns its pid. */
static pid_t
bg_swap(int i, int n, const char *w, const char *out)
{
	char bin[600];
	const char *spec = sfile(n, i);
	pid_t pid;

	h_bin("ferry", bin, sizeof(bin));
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 1);
		dup2(fd, 2);
		if (w != NULL)
			execl(bin, bin, "--socket", F.sock, "swap", HOST[i],
			    spec, "--weight", w, "--keep-old", "--json",
			    (char *)NULL);
		else
			execl(bin, bin, "--socket", F.sock, "swap", HOST[i],
			    spec, "--json", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* bg_all runs the swap on all six hosts at once and waits (bounded) for
 * each; sw[i] gets host i's switched_at_ms. */
static void
bg_all(int n, const char *w, double *sw, const char *tag)
{
	pid_t pid[NH];
	char out[NH][600], name[64];
	long long end = now_ms() + 60000;
	int i, st;

	for (i = 0; i < NH; i++) {
		snprintf(name, sizeof(name), "%s-%d.json", tag, i);
		h_path(&F, name, out[i], sizeof(out[i]));
		pid[i] = bg_swap(i, n, w, out[i]);
	}
	for (i = 0; i < NH; i++) {
		FILE *fp;
		char buf[8192];
		size_t len;
		cJSON *o;

		while (waitpid(pid[i], &st, WNOHANG) == 0) {
			if (now_ms() > end) {
				kill(pid[i], SIGKILL);
				waitpid(pid[i], &st, 0);
				cr_assert_fail("ferry swap on %s took over 60 s",
				    HOST[i]);
			}
			h_sleep_ms(20);
		}
		fp = fopen(out[i], "r");
		cr_assert_not_null(fp);
		len = fread(buf, 1, sizeof(buf) - 1, fp);
		buf[len] = '\0';
		fclose(fp);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: %s",
		    HOST[i], buf);
		o = cJSON_Parse(buf);
		cr_assert_not_null(o, "%s", buf);
		sw[i] = jd(o, "switched_at_ms", NULL);
		cr_assert_gt(sw[i], 0, "%s", buf);
		cJSON_Delete(o);
	}
}

/* route_ms: the longest "route read and set in X ms" host i's agent
 * logged (its short path, from the proxy's read to its reply). */
static double
route_ms(int i)
{
	FILE *fp = fopen(AGENT[i]->log, "r");
	char *line = NULL, *p;
	size_t cap = 0;
	double ms = 0;

	cr_assert_not_null(fp);
	while (getline(&line, &cap, fp) > 0)
		if ((p = strstr(line, "route read and set in ")) != NULL &&
		    atof(p + 22) > ms)
			ms = atof(p + 22);
	free(line);
	fclose(fp);
	return ms;
}

static double
spread(const double *v)
{
	double lo = v[0], hi = v[0];

	for (int i = 1; i < NH; i++) {
		lo = v[i] < lo ? v[i] : lo;
		hi = v[i] > hi ? v[i] : hi;
	}
	return hi - lo;
}

/*
 * Six hosts, each with v2 prepared at 0% beside v1; all switched to 100%
 * at once, and back: each host's result says when its proxy's route took
 * the weights (switched_at_ms).  The spread is the CLI's own (six
 * processes, each a pull and a swap) plus the agents'; it is logged, and
 * held under a second.  Every host ends serving v1 with v2 warm beside.
 */
Test(beside, six_hosts_switch_and_switch_back, .timeout = 180)
{
	double sw[NH];
	int i, w1, w2;

	fleet(NH);
	for (i = 0; i < NH; i++) {
		write_spec(1, i);
		write_spec(2, i);
	}
	bg_all(1, NULL, sw, "v1");
	bg_all(2, "0", sw, "prep");
	bg_all(2, "100", sw, "switch");
	cr_log_info("switch to v2 on 6 hosts: skew %.0f ms", spread(sw));
	cr_assert_lt(spread(sw), 1000, "switch skew %.0f ms", spread(sw));
	for (i = 0; i < NH; i++)
		cr_assert_eq(serving(i), 2, "%s", HOST[i]);
	bg_all(1, "100", sw, "back");
	cr_log_info("switch back to v1 on 6 hosts: skew %.0f ms",
	    spread(sw));
	cr_assert_lt(spread(sw), 1000, "switch-back skew %.0f ms",
	    spread(sw));
	for (i = 0; i < NH; i++) {
		cr_assert_eq(serving(i), 1, "%s", HOST[i]);
		cr_assert_eq(containers(i, NULL, 0, NULL), 2, "%s", HOST[i]);
		cr_assert_eq(route(i, 1, &w1, 2, &w2), 2);
		/* Each host's switches took the short path. */
		cr_assert_eq(h_log_count(AGENT[i], "route read and set in"),
		    2, "%s", HOST[i]);
		cr_log_info("%s: the agent's short path took at most %.1f ms",
		    HOST[i], route_ms(i));
	}
}
