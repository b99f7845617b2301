/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/dkit.c
/* test_deploy.c: rolling deployments end to end, on a real dockerd and
 * registry, across six agents publishing on 127.0.0.2-7: batches that keep
 * at most `batch` hosts out of service, failures that roll back newest
 * batch first, pause/resume/abort, a failing canary, ferryd and an agent
 * killed mid-rollout, one deployment per service, `ferry rollback`, bad
 * specs that record nothing, and `ferry plan`. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "dkit.h"

TestSuite(deploy, .init = setup, .fini = teardown, .timeout = 120);

/* ---- sampling every host at once ---------------------------------------- */

struct probe {
	int fd;
	int state;		/* 0 connecting, 1 request sent, 2 done */
	int ok;
	char buf[64];
	size_t n;
};

/* round_down probes every host's port at once (bounded: 1 s) and
 * returns how many are out of service: refused, reset, or answered other
 * than 200.  A probe still waiting when the bound is up is a slow host
 * under this machine's load, not one out of service, and is not counted.
 * *mask (may be NULL) gets the down ones, bit i for host i. */
static int
round_down(int n, unsigned *mask)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	struct probe p[NH];
	struct pollfd pf[NH];
	long long end = now_ms() + 1000;
	int i, left = n, down = 0;

	for (i = 0; i < n; i++) {
		struct sockaddr_in sa;

		memset(&p[i], 0, sizeof(p[i]));
		p[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)PORT);
		inet_pton(AF_INET, ADDR[i], &sa.sin_addr);
		if (p[i].fd < 0 || (connect(p[i].fd, (struct sockaddr *)&sa,
		    sizeof(sa)) != 0 && errno != EINPROGRESS)) {
			p[i].state = 2;
			left--;
		}
	}
	while (left > 0 && now_ms() < end) {
		int np = 0, idx[NH];

		for (i = 0; i < n; i++)
			if (p[i].state != 2) {
				pf[np].fd = p[i].fd;
				pf[np].events = p[i].state == 0 ? POLLOUT :
				    POLLIN;
				pf[np].revents = 0;
				idx[np++] = i;
			}
		if (poll(pf, (nfds_t)np, (int)(end - now_ms())) <= 0)
			continue;
		for (int k = 0; k < np; k++) {
			struct probe *q = &p[idx[k]];
			int err = 0;
			socklen_t el = sizeof(err);
			ssize_t got;

			if (pf[k].revents == 0)
				continue;
			if (q->state == 0) {
				getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &err,
				    &el);
				if (err != 0 || send(q->fd, req,
				    sizeof(req) - 1, MSG_NOSIGNAL) < 0) {
					q->state = 2;
					left--;
				} else {
					q->state = 1;
				}
				continue;
			}
			got = read(q->fd, q->buf + q->n, sizeof(q->buf) - 1 -
			    q->n);
			if (got > 0)
				q->n += (size_t)got;
			if (got <= 0 || q->n >= 12) {
				q->buf[q->n] = '\0';
				q->ok = strncmp(q->buf, "HTTP/1.", 7) == 0 &&
				    strncmp(q->buf + 9, "200", 3) == 0;
				q->state = 2;
				left--;
			}
		}
	}
	if (mask != NULL)
		*mask = 0;
	for (i = 0; i < n; i++) {
		int is_down = !p[i].ok && p[i].state == 2;

		if (p[i].fd >= 0)
			close(p[i].fd);
		down += is_down;
		if (is_down && mask != NULL)
			*mask |= 1u << i;
	}
	return down;
}

struct sampler {
	pthread_t th;
	atomic_int stop;
	int rounds;
	int max_down;
	int rounds_down;	/* rounds with any host down */
	char trace[4096];	/* the rounds where hosts were down */
};

static void *
sample(void *arg)
{
	struct sampler *s = arg;
	long long start = now_ms();

	while (!atomic_load(&s->stop)) {
		unsigned mask;
		int d = round_down(NH, &mask);
		s->rounds++;
		if (d > s->max_down)
			s->max_down = d;
		if (d > 0) {
			size_t l = strlen(s->trace);
			s->rounds_down++;
			if (l + 32 < sizeof(s->trace))
				snprintf(s->trace + l, sizeof(s->trace) - l,
				    " %lldms:%d(%02x)", now_ms() - start, d,
				    mask);
		}
		h_sleep_ms(50);
	}
	return NULL;
}

/* ---- 1. a 6-host rollout in batches of 2 ---------------------------------- */

Test(deploy, six_hosts_in_batches_of_two_never_more_than_two_out)
{
	struct sampler *s = calloc(1, sizeof(*s));
	cJSON *st, *h;
	int i, done = 0;

	/* Agents without ferry-proxy, stop-first: each swapped host is out
	 * of service for a moment, so that the batch limit shows (through
	 * the proxy no host ever is: test_nodrop.c). */
	F.no_proxy = 1;
	fleet(NH);
	spec("v1.yml", "1", LABELS, NULL, "  order: stop-first\n");
	spec("v2.yml", "2", LABELS, NULL, "  order: stop-first\n");
	cr_assert_eq(deploy_watch("v1.yml"), 0, "v1: %s%s", R.out, R.err);
	assert_all_serve(0, NH - 1, 1);
	cr_assert_eq(round_down(NH, NULL), 0, "the sampler sees hosts down at rest");

	pthread_create(&s->th, NULL, sample, s);
	h_sleep_ms(200);
	i = deploy_watch("v2.yml");
	h_sleep_ms(200);
	atomic_store(&s->stop, 1);
	pthread_join(s->th, NULL);
	cr_assert_eq(i, 0, "v2: %s%s", R.out, R.err);
	cr_log_info("%d sample rounds, %d with hosts down, at most %d at "
	    "once:%s", s->rounds, s->rounds_down, s->max_down, s->trace);
	cr_assert(s->rounds >= 10, "only %d sample rounds", s->rounds);
	cr_assert(s->max_down >= 1, "the sampler never saw a host out of "
	    "service during a stop-first rollout (%d rounds)", s->rounds);
	cr_assert(s->max_down <= 2, "%d hosts out of service at once (batch "
	    "is 2):%s", s->max_down, s->trace);
	/* --watch printed the batches as they went. */
	cr_assert(strstr(R.out, "running batch 1/3") &&
	    strstr(R.out, "running batch 3/3"), "%s", R.out);
	free(s);

	assert_all_serve(0, NH - 1, 2);
	h_ferry(&F, &R, (const char *[]){ "status", "--json", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	st = cJSON_Parse(R.out);
	cr_assert_not_null(st, "%s", R.out);
	cr_assert_str_eq(jstr(st, "state"), "succeeded");
	cr_assert_eq(jnum(st, "revision"), 2);
	cr_assert_eq(jnum(st, "previous_revision"), 1);
	cr_assert_eq(jnum(st, "batches"), 3);
	cJSON_ArrayForEach(h, cJSON_GetObjectItem(st, "hosts"))
		done += strcmp(jstr(h, "state"), "done") == 0;
	cr_assert_eq(done, NH, "%s", R.out);
	cr_assert(strstr(jstr(st, "digest"), "@sha256:") != NULL,
	    "not by digest: %s", R.out);
	cJSON_Delete(st);
	/* One container runs per host; the previous one is kept stopped. */
	for (i = 0; i < NH; i++) {
		int all;
		cr_assert_eq(containers(i, NULL, 0, &all), 1);
		cr_assert_eq(all, 2, "%s keeps %d containers", HOST[i], all);
	}
}

/* ---- 2. a failure in batch 3 rolls batches 2 then 1 back -------------- */

/* event_index: the index in events (an array) of the first host event of
 * host i whose detail starts with what; -1 when none. */
static int
event_index(const cJSON *evs, int i, const char *what)
{
	const cJSON *e;
	int k = 0;

	cJSON_ArrayForEach(e, evs) {
		if (strcmp(jstr(e, "kind"), "host") == 0 &&
		    strcmp(jstr(e, "host"), HOST[i]) == 0 &&
		    strncmp(jstr(e, "detail"), what, strlen(what)) == 0)
			return k;
		k++;
	}
	return -1;
}

Test(deploy, failure_in_batch_three_reverts_newest_batch_first)
{
	char hosts[512], ids[32];
	cJSON *st, *evs;
	int held[2], i, ev[NH][3];
	unsigned id;

	fleet(NH);
	/* v1 on hosts 1-4; hosts 5 and 6 (batch 3 of the next rollout) run
	 * nothing yet, and their service port is taken: the swap there
	 * cannot publish and fails. */
	spec("v1.yml", "1", names(hosts, sizeof(hosts), 1, 4), NULL, NULL);
	cr_assert_eq(deploy_watch("v1.yml"), 0, "v1: %s%s", R.out, R.err);
	assert_all_serve(0, 3, 1);
	held[0] = hold_port(ADDR[4]);
	held[1] = hold_port(ADDR[5]);

	spec("v2.yml", "2", LABELS, NULL, "  on_failure: rollback\n");
	cr_assert_eq(deploy_watch("v2.yml"), 1, "v2 did not fail: %s%s",
	    R.out, R.err);
	cr_assert(strstr(R.out, "rolled_back") != NULL, "%s", R.out);
	h_ferry(&F, &R, (const char *[]){ "status", "--json", NULL });
	st = cJSON_Parse(R.out);
	cr_assert_not_null(st, "%s", R.out);
	id = (unsigned)jnum(st, "id");
	cr_assert_str_eq(jstr(st, "state"), "rolled_back", "%s", R.out);
	for (i = 0; i < 4; i++)
		cr_assert_str_eq(host_state(st, i), "reverted", "%s: %s",
		    HOST[i], R.out);
	for (i = 4; i < NH; i++) {
		cr_assert_str_eq(host_state(st, i), "failed", "%s", R.out);
		cr_assert(strstr(host_cause(st, i), "address already in use") ||
		    strstr(host_cause(st, i), "Address already in use") ||
		    strstr(host_cause(st, i), "already allocated"),
		    "cause of %s: %s", HOST[i], host_cause(st, i));
	}
	cJSON_Delete(st);
	/* Every changed host runs v1 again. */
	assert_all_serve(0, 3, 1);
	close(held[0]);
	close(held[1]);

	/* The audit log: batch 3 failed, then batch 2 went back, then 1. */
	snprintf(ids, sizeof(ids), "%u", id);
	h_ferry(&F, &R, (const char *[]){ "events", "--deployment", ids,
	    "--oldest-first", "--limit", "10000", "--json", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	evs = cJSON_Parse(R.out);
	cr_assert_not_null(evs, "%s", R.out);
	for (i = 0; i < NH; i++) {
		ev[i][0] = event_index(evs, i, i < 4 ? "done" : "failed");
		ev[i][1] = event_index(evs, i, "reverting");
		ev[i][2] = event_index(evs, i, "reverted");
		cr_assert(ev[i][0] >= 0, "no done/failed event for %s: %s",
		    HOST[i], R.out);
	}
	for (i = 0; i < 4; i++)
		cr_assert(ev[i][1] > ev[4][0] && ev[i][1] > ev[5][0] &&
		    ev[i][2] > ev[i][1], "%s reverted before batch 3 failed: "
		    "%s", HOST[i], R.out);
	for (i = 4; i < NH; i++)
		cr_assert(ev[i][1] < 0, "%s (failed) was reverted", HOST[i]);
	/* Batch 2 (hosts 3, 4) both back before batch 1 starts back. */
	for (i = 2; i < 4; i++)
		for (int j = 0; j < 2; j++)
			cr_assert(ev[i][2] < ev[j][1], "%s reverting (event "
			    "%d) before %s was back (event %d): %s", HOST[j],
			    ev[j][1], HOST[i], ev[i][2], R.out);
	{
		/* rolling_back batch 2/3 comes before rolling_back 1/3. */
		const cJSON *e;
		int k = 0, b2 = -1, b1 = -1;
		cJSON_ArrayForEach(e, evs) {
			if (strncmp(jstr(e, "detail"), "rolling_back batch 2/3",
			    22) == 0 && b2 < 0)
				b2 = k;
			if (strncmp(jstr(e, "detail"), "rolling_back batch 1/3",
			    22) == 0 && b1 < 0)
				b1 = k;
			k++;
		}
		cr_assert(b2 >= 0 && b1 > b2, "rolling back order: batch 2 at "
		    "%d, batch 1 at %d: %s", b2, b1, R.out);
	}
	cJSON_Delete(evs);
}

/* ---- 3. on_failure: pause, then resume ---------------------------------- */

Test(deploy, on_failure_pause_waits_for_resume_then_goes_on)
{
	char ids[32];
	cJSON *st;
	int held[2], i;
	unsigned id;

	fleet(NH);
	/* Batch 2 (hosts 3, 4) cannot publish its port: it fails. */
	held[0] = hold_port(ADDR[2]);
	held[1] = hold_port(ADDR[3]);
	spec("v1.yml", "1", LABELS, NULL, "  on_failure: pause\n");
	id = deploy_bg("v1.yml");
	st = wait_state(id, "paused", 30000);
	cr_assert_eq(jnum(st, "batch"), 2, "paused at batch %d",
	    jnum(st, "batch"));
	cr_assert(strstr(jstr(st, "cause"), HOST[2]) &&
	    strstr(jstr(st, "cause"), HOST[3]), "cause: %s",
	    jstr(st, "cause"));
	cr_assert_str_eq(host_state(st, 0), "done");
	cr_assert_str_eq(host_state(st, 1), "done");
	cr_assert_str_eq(host_state(st, 2), "failed");
	cr_assert_str_eq(host_state(st, 3), "failed");
	cr_assert_str_eq(host_state(st, 4), "pulled");
	cr_assert_str_eq(host_state(st, 5), "pulled");
	cJSON_Delete(st);
	/* Paused means paused: nothing starts. */
	h_sleep_ms(1000);
	st = status(id);
	cr_assert_str_eq(jstr(st, "state"), "paused");
	cr_assert_str_eq(host_state(st, 4), "pulled");
	cJSON_Delete(st);
	cr_assert_eq(serving(4), 0);
	cr_assert_eq(serving(5), 0);
	assert_all_serve(0, 1, 1);
	/* The text status says so, with the failures' causes. */
	snprintf(ids, sizeof(ids), "%u", id);
	h_ferry(&F, &R, (const char *[]){ "status", ids, NULL });
	cr_assert(strstr(R.out, "paused (batch 2/3)") &&
	    strstr(R.out, "2 failed:"), "%s", R.out);

	h_ferry(&F, &R, (const char *[]){ "resume", ids, NULL });
	cr_assert_eq(R.status, 0, "resume: %s%s", R.out, R.err);
	st = wait_state(id, NULL, 30000);
	cr_assert_str_eq(jstr(st, "state"), "succeeded", "%s", R.out);
	cr_assert_str_eq(host_state(st, 4), "done");
	cr_assert_str_eq(host_state(st, 5), "done");
	cr_assert_str_eq(host_state(st, 2), "failed");
	cJSON_Delete(st);
	assert_all_serve(4, 5, 1);
	assert_all_serve(0, 1, 1);
	/* Resume once more: nothing to resume. */
	h_ferry(&F, &R, (const char *[]){ "resume", ids, NULL });
	cr_assert_neq(R.status, 0);
	cr_assert(strstr(R.err, "not running") != NULL, "%s", R.err);
	for (i = 0; i < 2; i++)
		close(held[i]);
}

/* ---- 4. pause between batches, then abort --------------------------------- */

Test(deploy, pause_then_abort_leaves_later_batches_untouched)
{
	char ids[32], before[NH][512], line[512];
	cJSON *st;
	int i;
	unsigned id;

	fleet(NH);
	spec("v1.yml", "1", LABELS, NULL, NULL);
	spec("v2.yml", "2", LABELS, NULL, "  pause: 3s\n");
	cr_assert_eq(deploy_watch("v1.yml"), 0, "v1: %s%s", R.out, R.err);
	for (i = 0; i < NH; i++)
		containers(i, before[i], sizeof(before[i]), NULL);
	id = deploy_bg("v2.yml");
	snprintf(ids, sizeof(ids), "%u", id);
	/* Batch 1 done: the 3 s pause between batches begins. */
	cJSON_Delete(wait_host(id, 0, "done", 30000));
	st = wait_host(id, 1, "done", 30000);
	cr_assert_str_eq(host_state(st, 2), "pulled", "batch 2 did not wait "
	    "for the pause: %s", R.out);
	cJSON_Delete(st);
	h_ferry(&F, &R, (const char *[]){ "pause", ids, NULL });
	cr_assert_eq(R.status, 0, "pause: %s%s", R.out, R.err);
	st = wait_state(id, "paused", 5000);
	cJSON_Delete(st);
	/* Well past the end of the 3 s pause: still nothing starts. */
	h_sleep_ms(3500);
	st = status(id);
	cr_assert_str_eq(jstr(st, "state"), "paused");
	for (i = 2; i < NH; i++)
		cr_assert_str_eq(host_state(st, i), "pulled");
	cJSON_Delete(st);
	h_ferry(&F, &R, (const char *[]){ "status", ids, NULL });
	cr_assert(strstr(R.out, ": paused") != NULL, "%s", R.out);

	h_ferry(&F, &R, (const char *[]){ "abort", ids, NULL });
	cr_assert_eq(R.status, 0, "abort: %s%s", R.out, R.err);
	cr_assert(strstr(R.out, "aborted") != NULL, "%s", R.out);
	st = status(id);
	cr_assert_str_eq(jstr(st, "state"), "aborted", "%s", R.out);
	for (i = 0; i < 2; i++)
		cr_assert_str_eq(host_state(st, i), "done");
	for (i = 2; i < NH; i++)
		cr_assert_str_eq(host_state(st, i), "skipped");
	cJSON_Delete(st);
	/* Status names who runs what: done (v2) and skipped (v1). */
	h_ferry(&F, &R, (const char *[]){ "status", ids, NULL });
	cr_assert_eq(R.status, 1, "status of an aborted deployment: %d",
	    R.status);
	cr_assert(strstr(R.out, ": aborted") != NULL, "%s", R.out);
	for (i = 0; i < NH; i++) {
		/* Its row in the hosts table: batch, host, state, cause. */
		const char *row = strstr(R.out, HOST[i]), *end;
		char want[64];

		cr_assert_not_null(row, "no row for %s in: %s", HOST[i],
		    R.out);
		end = strchr(row, '\n');
		snprintf(line, sizeof(line), "%.*s", end ? (int)(end - row) :
		    (int)strlen(row), row);
		snprintf(want, sizeof(want), " %s", i < 2 ? "done" :
		    "skipped");
		cr_assert(strstr(line, want) != NULL, "%s is not %s in: %s",
		    HOST[i], want + 1, R.out);
	}
	assert_all_serve(0, 1, 2);
	assert_all_serve(2, NH - 1, 1);
	for (i = 2; i < NH; i++) {
		char now[512];
		containers(i, now, sizeof(now), NULL);
		cr_assert_str_eq(now, before[i], "%s was touched", HOST[i]);
	}
	/* Aborted is final: no second abort, no resume. */
	h_ferry(&F, &R, (const char *[]){ "resume", ids, NULL });
	cr_assert_neq(R.status, 0);
}

/* ---- 5. a failing canary of 1 ------------------------------------------ */

Test(deploy, failing_canary_of_one_leaves_every_other_host_untouched)
{
	char before[NH][512], now[512], created[128];
	cJSON *st;
	int i;

	fleet(NH);
	spec("v1.yml", "1", LABELS, NULL, NULL);
	spec("bad.yml", "bad", LABELS, NULL, "  canary: 1\n");
	cr_assert_eq(deploy_watch("v1.yml"), 0, "v1: %s%s", R.out, R.err);
	for (i = 0; i < NH; i++)
		cr_assert_eq(containers(i, before[i], sizeof(before[i]), NULL),
		    1);
	cr_assert_neq(deploy_watch("bad.yml"), 0, "bad image succeeded: %s",
	    R.out);
	cr_assert(strstr(R.out, "HTTP 404 on /health") != NULL, "%s", R.out);
	h_ferry(&F, &R, (const char *[]){ "status", "--json", NULL });
	st = cJSON_Parse(R.out);
	cr_assert_not_null(st);
	cr_assert(strcmp(jstr(st, "state"), "rolled_back") == 0 ||
	    strcmp(jstr(st, "state"), "failed") == 0, "%s", R.out);
	cr_assert_eq(jnum(st, "batches"), 4, "canary 1 + 5 in batches of 2");
	cr_assert_str_eq(host_state(st, 0), "failed");
	for (i = 1; i < NH; i++)
		cr_assert_str_eq(host_state(st, i), "skipped", "%s", R.out);
	cJSON_Delete(st);
	assert_all_serve(0, NH - 1, 1);
	/* Only the canary got a new container. */
	snprintf(created, sizeof(created), "created ferry-%s-web-r2", HOST[0]);
	cr_assert_eq(h_log_count(AGENT[0], created), 1);
	for (i = 1; i < NH; i++) {
		snprintf(created, sizeof(created), "created ferry-%s-web-r2",
		    HOST[i]);
		cr_assert_eq(h_log_count(AGENT[i], created), 0);
		containers(i, now, sizeof(now), NULL);
		cr_assert_str_eq(now, before[i], "%s was touched", HOST[i]);
	}
}

/* ---- 6. kill -9 ferryd during batch 2 -------------------------------------- */

Test(deploy, ferryd_killed_in_batch_two_resumes_and_swaps_no_host_twice)
{
	char created[128];
	cJSON *st;
	int i;
	unsigned id;

	fleet(NH);
	/* :slow answers 404 on /health for 3 s: each batch takes that. */
	spec("slow.yml", "slow", LABELS, "  start_period: 5s\n", NULL);
	id = deploy_bg("slow.yml");
	/* Batch 2 under way. */
	cJSON_Delete(wait_host(id, 2, "swapping", 40000));
	cJSON_Delete(wait_host(id, 3, "swapping", 5000));
	/* Let the agents get going, then kill ferryd without warning. */
	h_sleep_ms(700);
	cr_assert_eq(h_kill(F.ferryd, SIGKILL), 128 + SIGKILL);
	h_sleep_ms(1000);
	h_start_ferryd(&F, NULL);
	st = wait_state(id, NULL, 60000);
	cr_assert_str_eq(jstr(st, "state"), "succeeded", "%s", R.out);
	for (i = 0; i < NH; i++)
		cr_assert_str_eq(host_state(st, i), "done", "%s", R.out);
	cJSON_Delete(st);
	cr_assert(h_log_has(F.ferryd, "resuming (running)"), "ferryd did not "
	    "resume the deployment");
	/* No host was swapped twice; one container runs on each. */
	for (i = 0; i < NH; i++) {
		snprintf(created, sizeof(created), "created ferry-%s-web-r1",
		    HOST[i]);
		cr_assert_eq(h_log_count(AGENT[i], created), 1, "%s: \"%s\" "
		    "%d times", HOST[i], created, h_log_count(AGENT[i],
		    created));
		cr_assert_eq(containers(i, NULL, 0, NULL), 1);
		cr_assert_eq(h_http_get(ADDR[i], PORT, "/health", NULL, 0),
		    200, "%s", HOST[i]);
	}
}

/* ---- 7. kill -9 one agent mid-batch ---------------------------------------- */

/* slow_swap_started rolls v1 out to hosts (a YAML value), then starts a
 * deployment of :slow (on_failure rollback) and returns its id once host 1
 * (batch 1) has started the new container and waits for it to turn
 * healthy.  created gets the agent's log line for that container. */
static unsigned
slow_swap_started(const char *hosts, char *created, size_t len)
{
	unsigned id;

	spec("v1.yml", "1", hosts, NULL, NULL);
	spec("slow.yml", "slow", hosts, "  start_period: 5s\n",
	    "  on_failure: rollback\n");
	cr_assert_eq(deploy_watch("v1.yml"), 0, "v1: %s%s", R.out, R.err);
	id = deploy_bg("slow.yml");
	snprintf(created, len, "created ferry-%s-web-r2", HOST[0]);
	cr_assert(h_wait_log(AGENT[0], created, 30000), "no swap on %s",
	    HOST[0]);
	/* Docker's start of it, bounded as generously as the create: on a
	 * busy engine it has taken more than 5 s. */
	cr_assert(h_wait_log(AGENT[0], "r2: started, checking health", 30000));
	return id;
}

Test(deploy, agent_killed_mid_batch_counts_failed_and_rolls_back)
{
	char created[128], ids[32];
	cJSON *st;
	long long end;
	int i, n;
	unsigned id;

	fleet(NH);
	id = slow_swap_started(LABELS, created, sizeof(created));
	snprintf(ids, sizeof(ids), "%u", id);
	h_sleep_ms(300);
	cr_assert_eq(h_kill(AGENT[0], SIGKILL), 128 + SIGKILL);

	st = wait_state(id, NULL, 40000);
	cr_assert_str_eq(jstr(st, "state"), "rolled_back", "%s", R.out);
	cr_assert_str_eq(host_state(st, 0), "failed", "%s", R.out);
	cr_assert(strstr(host_cause(st, 0), "offline") != NULL, "cause: %s",
	    host_cause(st, 0));
	cr_assert_str_eq(host_state(st, 1), "reverted", "%s", R.out);
	for (i = 2; i < NH; i++)
		cr_assert_str_eq(host_state(st, i), "skipped", "%s", R.out);
	cJSON_Delete(st);
	assert_all_serve(1, NH - 1, 1);

	/* The agent comes back: it settles to one running container of
	 * the service, and ferryd sees the host online again. */
	AGENT[0] = h_start_agent(&F, HOST[0], NULL);
	cr_assert(h_wait_state(&F, HOST[0], "online", 15000));
	end = now_ms() + 30000;
	do {
		int all;
		n = containers(0, NULL, 0, &all);
		if (n == 1 && h_http_get(ADDR[0], PORT, "/health", NULL, 0) ==
		    200)
			break;
		h_sleep_ms(200);
	} while (now_ms() < end);
	cr_assert_eq(n, 1, "%s runs %d containers after its restart",
	    HOST[0], n);
	cr_assert_eq(h_http_get(ADDR[0], PORT, "/health", NULL, 0), 200);
	/* It is still not swapped twice. */
	cr_assert(h_log_count(AGENT[0], created) <= 1, "%s swapped again",
	    HOST[0]);
	h_ferry(&F, &R, (const char *[]){ "status", ids, NULL });
	cr_assert(strstr(R.out, "offline") != NULL, "%s", R.out);
}

/* A network partition cuts host 1 off in the middle of its swap: it is
 * counted failed and the batch rolls back.  Its agent goes on, passes its
 * health check, and says so when the partition heals: ferryd takes the
 * rollback up again and puts that host back too, so what is recorded is
 * what every host runs. */
/* partitioned_rollback starts host 1 behind relay rl and hosts 2 and 3
 * directly, rolls v1 out, then :slow; cuts host 1 off while its container
 * waits for health, and returns the deployment once it has rolled back
 * with host 1 counted failed (offline) and host 2 put back.  created gets
 * host 1's log line for its :slow container. */
static unsigned
partitioned_rollback(struct h_relay *rl, char *created, size_t len)
{
	char hosts[512], url[64], tok[1100];
	cJSON *st;
	unsigned id;

	h_relay_start(rl, F.port);
	h_token(&F, tok, sizeof(tok), NULL);
	h_join(&F, &R, tok, HOST[0], ADDR[0]);
	cr_assert_eq(R.status, 0, "join: %s", R.err);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", rl->port);
	AGENT[0] = h_start_agent(&F, HOST[0], (const char *[]){
	    "--coordinator", url, NULL });
	cr_assert(h_wait_state(&F, HOST[0], "online", 10000));
	NAGENTS = 1;
	fleet(3);
	id = slow_swap_started(names(hosts, sizeof(hosts), 1, 3), created, len);
	h_relay_cut(rl, 1);
	st = wait_state(id, NULL, 40000);
	cr_assert_str_eq(jstr(st, "state"), "rolled_back", "%s", R.out);
	cr_assert_str_eq(host_state(st, 0), "failed", "%s", R.out);
	cr_assert(strstr(host_cause(st, 0), "offline") != NULL, "%s", R.out);
	cr_assert_str_eq(host_state(st, 1), "reverted", "%s", R.out);
	cJSON_Delete(st);
	assert_all_serve(1, 2, 1);
	return id;
}

/* host1_passes waits (bounded) until host 1's agent has finished its
 * :slow swap on its own, cut off from ferryd. */
static void
host1_passes(void)
{
	long long end = now_ms() + 20000;

	while (h_log_count(AGENT[0], "(web): succeeded") < 2) {
		cr_assert(now_ms() < end, "%s never passed its health check",
		    HOST[0]);
		h_sleep_ms(100);
	}
	cr_assert_eq(h_http_get(ADDR[0], PORT, "/health", NULL, 0), 200);
	cr_assert_neq(serving(0), 1, "%s still serves version 1", HOST[0]);
}

Test(deploy, partitioned_host_that_passes_late_is_put_back_too)
{
	struct h_relay rl;
	char created[128], ids[32];
	const cJSON *e;
	cJSON *st, *evs;
	int i, late = -1, reopened = -1, reverted = -1, k = 0;
	unsigned id;

	id = partitioned_rollback(&rl, created, sizeof(created));
	snprintf(ids, sizeof(ids), "%u", id);

	/* Meanwhile host 1 passed on its own: it serves the new revision. */
	host1_passes();

	/* The partition heals: its answer comes, and it goes back. */
	h_relay_cut(&rl, 0);
	cr_assert(h_wait_state(&F, HOST[0], "online", 15000));
	{
		long long end = now_ms() + 30000;

		for (;;) {
			st = status(id);
			if (st != NULL && strcmp(host_state(st, 0),
			    "reverted") == 0 && strcmp(jstr(st, "state"),
			    "rolled_back") == 0)
				break;
			cr_assert(now_ms() < end, "%s was not put back: %s",
			    HOST[0], R.out);
			cJSON_Delete(st);
			h_sleep_ms(200);
		}
	}
	cr_assert(strstr(jstr(st, "cause"), "rolled back after") != NULL,
	    "%s", R.out);
	cJSON_Delete(st);
	assert_all_serve(0, 2, 1);
	for (i = 0; i < 3; i++) {
		int all;
		cr_assert_eq(containers(i, NULL, 0, &all), 1, "%s", HOST[i]);
	}
	/* The events say it in order: host 1 failed, passed late, the
	 * rollback was taken up again, host 1 went back. */
	h_ferry(&F, &R, (const char *[]){ "events", "--deployment", ids,
	    "--oldest-first", "--limit", "10000", "--json", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	evs = cJSON_Parse(R.out);
	cr_assert_not_null(evs, "%s", R.out);
	cJSON_ArrayForEach(e, evs) {
		const char *d = jstr(e, "detail");

		if (late < 0 && strcmp(jstr(e, "host"), HOST[0]) == 0 &&
		    strstr(d, "counted failed") != NULL)
			late = k;
		if (late >= 0 && reopened < 0 &&
		    strcmp(jstr(e, "kind"), "state") == 0 &&
		    strncmp(d, "rolling_back", 12) == 0)
			reopened = k;
		if (reopened >= 0 && strcmp(jstr(e, "host"), HOST[0]) == 0 &&
		    strncmp(d, "reverted", 8) == 0)
			reverted = k;
		k++;
	}
	cr_assert(late >= 0 && reopened > late && reverted > reopened,
	    "late %d, reopened %d, reverted %d: %s", late, reopened, reverted,
	    R.out);
	cJSON_Delete(evs);
	h_relay_stop(&rl);
}

/* The same late answer, once a newer deployment of the service has
 * started: it is recorded as not applied, and changes nothing. */
Test(deploy, late_answer_after_a_newer_deployment_is_not_applied)
{
	struct h_relay rl;
	char created[128], ids[32];
	cJSON *st;
	unsigned id;

	id = partitioned_rollback(&rl, created, sizeof(created));
	snprintf(ids, sizeof(ids), "%u", id);
	host1_passes();
	/* While host 1 is away, v2 goes to hosts 2 and 3 (labelled
	 * role=web; host 1 is not). */
	spec("v2.yml", "2", LABELS, NULL, NULL);
	cr_assert_eq(deploy_watch("v2.yml"), 0, "v2: %s%s", R.out, R.err);
	assert_all_serve(1, 2, 2);

	h_relay_cut(&rl, 0);
	cr_assert(h_wait_state(&F, HOST[0], "online", 15000));
	cr_assert(h_wait_log(F.ferryd, "not applied: a newer deployment", 15000),
	    "the late answer was not heard");
	st = status(id);
	cr_assert_not_null(st, "%s", R.out);
	cr_assert_str_eq(jstr(st, "state"), "rolled_back", "%s", R.out);
	cr_assert_str_eq(host_state(st, 0), "failed", "%s", R.out);
	cJSON_Delete(st);
	h_ferry(&F, &R, (const char *[]){ "events", "--deployment", ids,
	    "--limit", "10000", NULL });
	cr_assert(strstr(R.out, "not applied: a newer deployment of web") !=
	    NULL, "%s", R.out);
	/* Nobody put host 1 back: it still runs what it passed with. */
	cr_assert_neq(serving(0), 1, "%s was reverted", HOST[0]);
	h_relay_stop(&rl);
}

/* ---- 8. one deployment per service at a time ---------------------------- */

Test(deploy, concurrent_deploy_of_the_same_service_is_refused)
{
	char want[128], ids[32];
	cJSON *st;
	unsigned id;

	fleet(2);
	spec("slow.yml", "slow", LABELS, "  start_period: 5s\n", NULL);
	spec("v1.yml", "1", LABELS, NULL, NULL);
	id = deploy_bg("slow.yml");
	h_ferry(&F, &R, (const char *[]){ "deploy", path("v1.yml"), "--watch",
	    NULL });
	cr_assert_neq(R.status, 0, "a second deployment started: %s", R.out);
	snprintf(want, sizeof(want), "deployment %u of web is still running",
	    id);
	cr_assert(strstr(R.err, want) != NULL, "\"%s\" not in: %s", want,
	    R.err);
	/* Nothing of the second was recorded. */
	cr_assert_eq(db_count("SELECT COUNT(*) FROM revisions"), 1);
	cr_assert_eq(db_count("SELECT COUNT(*) FROM deployments"), 1);
	/* A rollback of the service is refused the same way. */
	h_ferry(&F, &R, (const char *[]){ "rollback", "web", "--to", "1",
	    NULL });
	cr_assert_neq(R.status, 0);
	st = wait_state(id, NULL, 30000);
	cr_assert_str_eq(jstr(st, "state"), "succeeded", "%s", R.out);
	cJSON_Delete(st);
	/* Once it ended, the next one goes. */
	cr_assert_eq(deploy_watch("v1.yml"), 0, "%s%s", R.out, R.err);
	snprintf(ids, sizeof(ids), "%u", id);
	h_ferry(&F, &R, (const char *[]){ "history", "web", NULL });
	cr_assert(strstr(R.out, ids) != NULL, "%s", R.out);
}

/* ---- 9. ferry rollback web --to 1 ------------------------------------------ */

Test(deploy, rollback_to_revision_one_restores_it_everywhere)
{
	cJSON *hist, *d;
	int revs[8], n = 0;
	const char *kinds[8];

	fleet(NH);
	spec("v1.yml", "1", LABELS, NULL, NULL);
	spec("v2.yml", "2", LABELS, NULL, NULL);
	cr_assert_eq(deploy_watch("v1.yml"), 0, "v1: %s%s", R.out, R.err);
	cr_assert_eq(deploy_watch("v2.yml"), 0, "v2: %s%s", R.out, R.err);
	assert_all_serve(0, NH - 1, 2);
	h_ferry(&F, &R, (const char *[]){ "rollback", "web", "--to", "1",
	    "--watch", NULL });
	cr_assert_eq(R.status, 0, "rollback: %s%s", R.out, R.err);
	cr_assert(strstr(R.out, "succeeded") != NULL, "%s", R.out);
	assert_all_serve(0, NH - 1, 1);
	/* No new revision: revision 1 rolled out again. */
	cr_assert_eq(db_count("SELECT COUNT(*) FROM revisions"), 2);

	h_ferry(&F, &R, (const char *[]){ "history", "web", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_assert(strstr(R.out, "REVISION") && strstr(R.out, "succeeded"),
	    "%s", R.out);
	h_ferry(&F, &R, (const char *[]){ "history", "web", "--json", NULL });
	hist = cJSON_Parse(R.out);
	cr_assert_not_null(hist, "%s", R.out);
	cJSON_ArrayForEach(d, hist) {
		cr_assert_str_eq(jstr(d, "state"), "succeeded");
		if (n < 8) {
			kinds[n] = jstr(d, "kind");
			revs[n++] = jnum(d, "revision");
		}
	}
	cr_assert_eq(n, 3, "history lists %d deployments", n);
	/* Each says what it was. */
	cr_assert_str_eq(kinds[0], "rollback");
	cr_assert_str_eq(kinds[1], "deploy");
	cr_assert_str_eq(kinds[2], "deploy");
	/* The table says when (local time, how long ago), who and what
	 * kind: its first row is the rollback, by this test's user. */
	{
		time_t t = (time_t)(cJSON_GetObjectItem(cJSON_GetArrayItem(
		    hist, 0), "created_ms")->valuedouble / 1000);
		struct passwd *pw = getpwuid(getuid());
		char at[32], row[1024];
		const char *nl;

		strftime(at, sizeof(at), "%Y-%m-%d %H:%M", localtime(&t));
		h_ferry(&F, &R, (const char *[]){ "history", "web", NULL });
		cr_assert_eq(R.status, 0, "%s", R.err);
		cr_assert(strstr(R.out, "WHEN") && strstr(R.out, "AGO") &&
		    strstr(R.out, "WHO") && strstr(R.out, "KIND"), "%s", R.out);
		nl = strchr(R.out, '\n');
		cr_assert_not_null(nl, "%s", R.out);
		snprintf(row, sizeof(row), "%.*s", (int)strcspn(nl + 1, "\n"),
		    nl + 1);
		cr_assert(strstr(row, " rollback ") && strstr(row, "s ago ") &&
		    strstr(row, at) && pw != NULL && strstr(row, pw->pw_name),
		    "first row: %s (want %s, %s)", row, at, pw ? pw->pw_name :
		    "?");
	}
	cJSON_Delete(hist);
	/* Newest first. */
	cr_assert(revs[0] == 1 && revs[1] == 2 && revs[2] == 1,
	    "revisions %d %d %d", revs[0], revs[1], revs[2]);
	/* Without --to: back to the one before the current (2). */
	h_ferry(&F, &R, (const char *[]){ "rollback", "web", "--watch",
	    NULL });
	cr_assert_eq(R.status, 0, "rollback: %s%s", R.out, R.err);
	assert_all_serve(0, NH - 1, 2);
	/* A revision that does not exist. */
	h_ferry(&F, &R, (const char *[]){ "rollback", "web", "--to", "9",
	    NULL });
	cr_assert_neq(R.status, 0);
	cr_assert(strstr(R.err, "no revision 9") != NULL, "%s", R.err);
}

/* ---- 10. bad specs are refused and record nothing ---------------------- */

struct bad {
	const char *name;
	const char *text;	/* %s: the host names, %d: the port */
	const char *want[3];	/* substrings of the message */
};

/* The one case that goes wrong in --image, not in the file. */
#define BAD_IMAGE_FLAG "flag.yml"

Test(deploy, bad_specs_are_refused_with_file_line_and_field)
{
	/* A good spec's body, lines 1-12, for the cases that change one
	 * thing; each case spells out the whole file. */
#define TOP "service: web\nimage: " IMG "2\nhosts: %s\n" \
	"port: { host: %d, container: 80 }\n"
#define HEALTH "health:\n  http: { path: /health, port: 80 }\n" \
	"  interval: 200ms\n  deadline: 10s\n  min_healthy: 300ms\n"
	static const struct bad cases[] = {
		{ "unknown-key.yml", TOP HEALTH "colour: blue\n",
		    { "unknown-key.yml:10", "unknown key \"colour\"" } },
		{ "wrong-type.yml", TOP HEALTH "rollout: { batch: [2] }\n",
		    { "wrong-type.yml:10", "rollout.batch",
		    "got a list" } },
		{ "duration.yml", TOP "health:\n  http: { path: /health, "
		    "port: 80 }\n  interval: fast\n  deadline: 10s\n",
		    { "duration.yml:7", "health.interval", "expected a "
		    "duration" } },
		{ "percent.yml", TOP HEALTH "rollout:\n  batch: 150%%\n",
		    { "percent.yml:11", "rollout.batch", "percentage" } },
		{ "batch0.yml", TOP HEALTH "rollout:\n  batch: 0\n",
		    { "batch0.yml:11", "rollout.batch", "got 0" } },
		{ "minhealthy.yml", TOP "health:\n  http: { path: /health, "
		    "port: 80 }\n  deadline: 2s\n  min_healthy: 2s\n",
		    { "minhealthy.yml:8", "health.min_healthy",
		    "below health.deadline" } },
		{ "nomatch.yml", "service: web\nimage: " IMG "2\n"
		    "hosts: { labels: { role: nobody } }\n"
		    "port: { host: %d, container: 80 }\n" HEALTH,
		    { "no accepted host matches" } },
		{ "unknown-host.yml", "service: web\nimage: " IMG "2\n"
		    "hosts: [nosuchhost-%d]\n"
		    "port: { host: 8080, container: 80 }\n" HEALTH,
		    { "unknown host \"nosuchhost-" } },
		{ "no-image.yml", "service: web\nhosts: %s\n"
		    "port: { host: %d, container: 80 }\n" HEALTH,
		    { "no-image.yml", "missing required key \"image\"" } },
		{ "two-checks.yml", TOP "health:\n  http: { path: /health, "
		    "port: 80 }\n  tcp: 80\n  deadline: 10s\n",
		    { "two-checks.yml:7", "health", "more than one check" } },
		{ "syntax.yml", TOP "health: {\n  http: [\n",
		    { "syntax.yml:", "YAML syntax error" } },
		{ "image.yml", "service: web\nimage: \"Not An Image!\"\n"
		    "hosts: %s\nport: { host: %d, container: 80 }\n" HEALTH,
		    { "image.yml:2", "image", "\"Not An Image!\"" } },
		{ "on-failure.yml", TOP HEALTH "rollout:\n  on_failure: "
		    "explode\n",
		    { "on-failure.yml:11", "rollout.on_failure",
		    "rollback, pause or continue" } },
		{ "port.yml", "service: web\nimage: " IMG "2\nhosts: %s\n"
		    "port: { host: 99999, container: 80 }\n" HEALTH,
		    { "port.yml:4", "port.host", "99999" } },
		{ "empty.yml", "", { "empty.yml: the file is empty" } },
		{ BAD_IMAGE_FLAG, TOP HEALTH, { "--image: ", "whitespace" } },
	};
#undef TOP
#undef HEALTH
	char hosts[256];
	static char hist[65536];
	cJSON *st;
	size_t k;
	int revs, deps, nev;

	fleet(2);
	spec("v1.yml", "1", LABELS, NULL, NULL);
	cr_assert_eq(deploy_watch("v1.yml"), 0, "v1: %s%s", R.out, R.err);
	names(hosts, sizeof(hosts), 1, 2);
	revs = db_count("SELECT COUNT(*) FROM revisions");
	deps = db_count("SELECT COUNT(*) FROM deployments");
	nev = db_count("SELECT COUNT(*) FROM events");
	cr_assert_eq(revs, 1);
	cr_assert_eq(deps, 1);
	h_ferry(&F, &R, (const char *[]){ "history", "web", "--json", NULL });
	snprintf(hist, sizeof(hist), "%s", R.out);

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct bad *b = &cases[k];
		const char *fmt = b->text;
		int flag = strcmp(b->name, BAD_IMAGE_FLAG) == 0;

		/* The cases take the hosts and the port in their order.  They
		 * are printf formats by design, a table the compiler cannot
		 * check against the arguments: the table above is their only
		 * caller, read by eye. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		if (strstr(fmt, "hosts: %s") != NULL)
			h_write(&F, b->name, fmt, hosts, PORT);
		else if (strstr(fmt, "%d") != NULL)
			h_write(&F, b->name, fmt, PORT);
		else
			h_write(&F, b->name, "%s", fmt);
#pragma GCC diagnostic pop
		if (flag)
			h_ferry(&F, &R, (const char *[]){ "deploy",
			    path(b->name), "--image", "bad image ref!",
			    NULL });
		else
			h_ferry(&F, &R, (const char *[]){ "deploy",
			    path(b->name), NULL });
		cr_assert_eq(R.status, 1, "%s: status %d: %s%s", b->name,
		    R.status, R.out, R.err);
		cr_assert_str_empty(R.out, "%s: %s", b->name, R.out);
		for (int w = 0; w < 3 && b->want[w] != NULL; w++)
			cr_assert(strstr(R.err, b->want[w]) != NULL, "%s: "
			    "\"%s\" not in: %s", b->name, b->want[w], R.err);
		cr_log_info("%s: %s", b->name, R.err);
		/* ferry plan refuses it the same way. */
		if (!flag) {
			h_ferry(&F, &R, (const char *[]){ "plan",
			    path(b->name), NULL });
			cr_assert_eq(R.status, 1, "plan %s", b->name);
			cr_assert(strstr(R.err, b->want[0]) != NULL, "plan "
			    "%s: %s", b->name, R.err);
		}
	}
	/* Nothing recorded: no revision, no deployment, no event. */
	cr_assert_eq(db_count("SELECT COUNT(*) FROM revisions"), revs);
	cr_assert_eq(db_count("SELECT COUNT(*) FROM deployments"), deps);
	cr_assert_eq(db_count("SELECT COUNT(*) FROM events"), nev,
	    "events were recorded");
	h_ferry(&F, &R, (const char *[]){ "history", "web", "--json", NULL });
	cr_assert_str_eq(R.out, hist, "history changed");
	h_ferry(&F, &R, (const char *[]){ "status", "--json", NULL });
	st = cJSON_Parse(R.out);
	cr_assert_not_null(st, "%s", R.out);
	cr_assert_eq(jnum(st, "revision"), 1, "%s", R.out);
	cr_assert_str_eq(jstr(st, "state"), "succeeded");
	cJSON_Delete(st);
	assert_all_serve(0, 1, 1);
}

/* ---- 11. ferry plan ------------------------------------------------------------ */

Test(deploy, plan_prints_batches_and_the_image_change_and_records_nothing)
{
	char want[256];
	int revs, deps, nev, i;
	cJSON *o, *h;

	fleet(NH);
	spec("v1.yml", "1", LABELS, NULL, NULL);
	spec("v2.yml", "2", LABELS, NULL, "  canary: 1\n");
	/* Before anything ran: a new service. */
	h_ferry(&F, &R, (const char *[]){ "plan", path("v1.yml"), NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_assert(strstr(R.out, "current revision none") &&
	    strstr(R.out, "new service web"), "%s", R.out);
	cr_assert_eq(db_count("SELECT COUNT(*) FROM revisions"), 0);
	cr_assert_eq(deploy_watch("v1.yml"), 0, "v1: %s%s", R.out, R.err);
	revs = db_count("SELECT COUNT(*) FROM revisions");
	deps = db_count("SELECT COUNT(*) FROM deployments");
	nev = db_count("SELECT COUNT(*) FROM events");

	h_ferry(&F, &R, (const char *[]){ "plan", path("v2.yml"), NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_assert(strstr(R.out, "Plan for web (current revision 1): 4 "
	    "batch(es)") != NULL, "%s", R.out);
	snprintf(want, sizeof(want), "batch 1: %s\n", HOST[0]);
	cr_assert(strstr(R.out, want) != NULL, "\"%s\" not in: %s", want,
	    R.out);
	snprintf(want, sizeof(want), "batch 2: %s %s\n", HOST[1], HOST[2]);
	cr_assert(strstr(R.out, want) != NULL, "\"%s\" not in: %s", want,
	    R.out);
	snprintf(want, sizeof(want), "batch 4: %s\n", HOST[5]);
	cr_assert(strstr(R.out, want) != NULL, "\"%s\" not in: %s", want,
	    R.out);
	cr_assert(strstr(R.out, "image: " IMG "1 -> " IMG "2") != NULL, "%s",
	    R.out);
	cr_assert(strstr(R.out, "rollout.canary: 0 -> 1") != NULL, "%s",
	    R.out);

	h_ferry(&F, &R, (const char *[]){ "plan", path("v2.yml"), "--json",
	    NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	o = cJSON_Parse(R.out);
	cr_assert_not_null(o, "%s", R.out);
	cr_assert_eq(jnum(o, "batches"), 4);
	cr_assert_eq(jnum(o, "current_revision"), 1);
	i = 0;
	cJSON_ArrayForEach(h, cJSON_GetObjectItem(o, "hosts")) {
		static const int batch[NH] = { 1, 2, 2, 3, 3, 4 };
		cr_assert_str_eq(jstr(h, "name"), HOST[i]);
		cr_assert_eq(jnum(h, "batch"), batch[i], "%s", R.out);
		i++;
	}
	cr_assert_eq(i, NH);
	cJSON_Delete(o);

	/* Nothing recorded, nothing touched. */
	cr_assert_eq(db_count("SELECT COUNT(*) FROM revisions"), revs);
	cr_assert_eq(db_count("SELECT COUNT(*) FROM deployments"), deps);
	cr_assert_eq(db_count("SELECT COUNT(*) FROM events"), nev);
	assert_all_serve(0, NH - 1, 1);
	for (i = 0; i < NH; i++) {
		snprintf(want, sizeof(want), "created ferry-%s-web-r2",
		    HOST[i]);
		cr_assert(!h_log_has(AGENT[i], want));
	}
}
