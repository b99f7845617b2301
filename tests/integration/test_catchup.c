/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/dkit.c
/* test_catchup.c: drift and catch-up end to end, on a real dockerd and
 * registry, with three agents: a host whose agent is killed during a
 * deployment comes back and is caught up once, with an event naming why
 * and a deployment of kind catch-up; a container removed by hand shows as
 * drift ("removed") in ferry hosts --json and ferry status web and is
 * restored; one removed through ferry (ferry swap --remove) is left so,
 * and one whose catch-up failed is not tried again, both across a kill -9
 * of ferryd; catch_up: off leaves it drifted; an extra container shows;
 * /metrics carries each host's health and drift. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "dkit.h"

TestSuite(catchup, .init = setup, .fini = teardown, .timeout = 150);

#define ROLLOUT "  batch: 1\n  max_failures: 1\n"
/* Longer than a drift must last before it is caught up (5 s), with two
 * of ferryd's 2 s ticks to spare. */
#define DRIFT_WAIT_MS	9000

/* drift_of returns, from `ferry hosts --json`, the drift of service web
 * on host i with cause (NULL: any) as a new object, or NULL. */
static cJSON *
drift_of(int i, const char *cause)
{
	cJSON *arr = NULL, *h, *d, *found = NULL;

	h = h_host_json(&F, HOST[i], &arr);
	if (h != NULL)
		cJSON_ArrayForEach(d, cJSON_GetObjectItem(h, "drift"))
			if (strcmp(jstr(d, "service"), "web") == 0 &&
			    (cause == NULL || strcmp(jstr(d, "cause"),
			    cause) == 0)) {
				found = cJSON_Duplicate(d, 1);
				break;
			}
	cJSON_Delete(arr);
	return found;
}

/* wait_drift waits (bounded by ms) for that drift; NULL when it did not
 * show. */
static cJSON *
wait_drift(int i, const char *cause, int ms)
{
	long long end = now_ms() + ms;
	cJSON *d;

	do {
		if ((d = drift_of(i, cause)) != NULL)
			return d;
		h_sleep_ms(100);
	} while (now_ms() < end);
	return NULL;
}

/* wait_caught_up waits (bounded by ms) until n catch-up deployments
 * have succeeded; 1 when they did.  (Asked of ferryd's records, not of a
 * host's port: Docker hands a removed container's address to the next
 * container it makes, maybe another test's.) */
static int
wait_caught_up(int n, int ms)
{
	long long end = now_ms() + ms;

	do {
		if (db_count("SELECT COUNT(*) FROM deployments WHERE kind = "
		    "'catch-up' AND state = 5") == n)
			return 1;
		h_sleep_ms(200);
	} while (now_ms() < end);
	return 0;
}

static long long
catchups(void)
{
	return db_count("SELECT COUNT(*) FROM deployments WHERE kind = "
	    "'catch-up'");
}

static void
docker_rm(const char *id)
{
	struct h_run *r = malloc(sizeof(*r));

	cr_assert_eq(h_docker(r, (const char *[]){ "rm", "-f", id, NULL }),
	    0, "docker rm -f %s: %s", id, r->err);
	free(r);
}

/* wait_serving waits (bounded by ms) until host i serves version v. */
static int
wait_serving(int i, int v, int ms)
{
	long long end = now_ms() + ms;

	do {
		if (serving(i) == v)
			return 1;
		h_sleep_ms(200);
	} while (now_ms() < end);
	return 0;
}

/* metrics_has GETs ferryd's /metrics into body until it holds want
 * (bounded by ms: ferryd hands /metrics the services' rows every 2 s). */
static void metrics(char *body, size_t len);

static int
metrics_has(char *body, size_t len, const char *want, int ms)
{
	long long end = now_ms() + ms;

	do {
		metrics(body, len);
		if (strstr(body, want) != NULL)
			return 1;
		h_sleep_ms(200);
	} while (now_ms() < end);
	return 0;
}

/* metrics GETs ferryd's /metrics into body. */
static void
metrics(char *body, size_t len)
{
	char ip[32];
	char *colon;
	int port;

	snprintf(ip, sizeof(ip), "%s", F.http);
	colon = strrchr(ip, ':');
	cr_assert_not_null(colon);
	*colon = '\0';
	port = atoi(colon + 1);
	cr_assert_eq(h_http_get(ip, port, "/metrics", body, len), 200);
}

Test(catchup, a_host_offline_during_a_deployment_is_caught_up_once)
{
	char line[256], body[65536];
	cJSON *st, *d, *arr, *it;
	unsigned id;
	int found = 0;

	fleet(3);
	spec("v1.yml", "1", LABELS, NULL, ROLLOUT);
	cr_assert_eq(deploy_watch("v1.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_eq(catchups(), 0);

	/* v2: the third host's agent dies once the images are pulled,
	 * before its batch; the deployment goes on without it. */
	spec("v2.yml", "2", LABELS, NULL, ROLLOUT "  pause: 2s\n");
	id = deploy_bg("v2.yml");
	cJSON_Delete(wait_host(id, 0, "done", 60000));
	cr_assert_eq(h_kill(AGENT[2], SIGKILL), 128 + SIGKILL);
	st = wait_state(id, NULL, 90000);
	cr_assert_str_eq(jstr(st, "state"), "succeeded", "%s", R.out);
	cr_assert_str_eq(host_state(st, 2), "failed", "%s", R.out);
	cr_assert(strstr(host_cause(st, 2), "offline") != NULL, "%s",
	    host_cause(st, 2));
	cJSON_Delete(st);
	/* Offline, it is not judged: nothing moves. */
	h_sleep_ms(3000);
	cr_assert_eq(catchups(), 0);

	/* It comes back running revision 1: caught up to 2, once. */
	AGENT[2] = h_start_agent(&F, HOST[2], NULL);
	cr_assert(h_wait_state(&F, HOST[2], "online", 15000));
	cr_assert(wait_caught_up(1, 60000), "%s not caught up", HOST[2]);
	cr_assert_eq(catchups(), 1);
	cr_assert(wait_serving(2, 2, 10000), "%s serves %d", HOST[2],
	    serving(2));
	snprintf(line, sizeof(line), "SELECT COUNT(*) FROM events WHERE kind "
	    "= 'catch-up' AND host = '%s' AND detail = '%s was offline "
	    "during deployment %u; runs revision 1, current 2'", HOST[2],
	    HOST[2], id);
	cr_assert_eq(db_count(line), 1, "no event naming why");
	/* The host is no longer drifted, once a heartbeat after the
	 * catch-up's end says what it runs (bounded: 10 s). */
	{
		long long end = now_ms() + 10000;

		while ((d = drift_of(2, NULL)) != NULL && now_ms() < end) {
			cJSON_Delete(d);
			h_sleep_ms(200);
		}
		cr_assert_null(d, "%s still drifted: %s", HOST[2],
		    jstr(d, "detail"));
	}
	/* ferry history --json says what it was. */
	h_ferry(&F, &R, (const char *[]){ "history", "web", "--json", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	arr = cJSON_Parse(R.out);
	cr_assert_not_null(arr, "%s", R.out);
	cJSON_ArrayForEach(it, arr)
		found += strcmp(jstr(it, "kind"), "catch-up") == 0 &&
		    jnum(it, "revision") == 2;
	cJSON_Delete(arr);
	cr_assert_eq(found, 1, "%s", R.out);
	/* Once: a few more ticks start nothing, and read no deployment
	 * (nothing new since the last). */
	{
		int reads = h_log_count(F.ferryd, "driftwatch: web: reading "
		    "its last");

		cr_assert_gt(reads, 0, "ferryd never said it read them");
		h_sleep_ms(DRIFT_WAIT_MS);
		cr_assert_eq(catchups(), 1);
		cr_assert_eq(h_log_count(F.ferryd, "driftwatch: web: reading "
		    "its last"), reads, "ticks with nothing new read "
		    "deployments");
	}
	/* /metrics: the host caught up is healthy, and none drifted. */
	snprintf(line, sizeof(line), "ferry_service_healthy{service=\"web\","
	    "host=\"%s\"} 1", HOST[2]);
	cr_assert(metrics_has(body, sizeof(body), line, 10000),
	    "no %s in:\n%s", line, body);
	cr_assert(strstr(body, "ferry_service_drift{") == NULL, "%s", body);
}

/* removed_then: v1 on three hosts with catch_up as given, then host 1's
 * container removed by hand; returns once `ferry hosts --json` shows the
 * drift, with its detail checked. */
static void
removed_then(const char *catch_up)
{
	char id[128], extra[64];
	cJSON *d;

	fleet(3);
	snprintf(extra, sizeof(extra), "catch_up: %s\n", catch_up);
	spec("v1.yml", "1", LABELS, extra, ROLLOUT);
	cr_assert_eq(deploy_watch("v1.yml"), 0, "%s%s", R.out, R.err);
	the_container(1, id, sizeof(id));
	docker_rm(id);
	d = wait_drift(1, "removed", 15000);
	cr_assert_not_null(d, "no removed drift on %s", HOST[1]);
	cr_assert_str_eq(jstr(d, "detail"), "removed: nothing runs, current "
	    "is 1");
	cJSON_Delete(d);
}

/* expect_left waits (bounded by ms) until `ferry hosts --json` shows web
 * removed on host i with catch-up's words holding want. */
static void
expect_left(int i, const char *want, int ms)
{
	long long end = now_ms() + ms;
	char last[300] = "";
	cJSON *d;

	do {
		if ((d = drift_of(i, "removed")) != NULL) {
			snprintf(last, sizeof(last), "%s",
			    jstr(d, "catch_up"));
			cJSON_Delete(d);
			if (strstr(last, want) != NULL)
				return;
		}
		h_sleep_ms(200);
	} while (now_ms() < end);
	cr_assert_fail("%s: no removed drift whose catch-up says \"%s\" "
	    "(last: \"%s\")", HOST[i], want, last);
}

Test(catchup, a_container_removed_by_hand_shows_and_is_restored)
{
	char q[256];

	removed_then("auto");
	cr_assert(wait_caught_up(1, 60000), "%s not restored", HOST[1]);
	cr_assert_eq(catchups(), 1);
	cr_assert_eq(containers(1, NULL, 0, NULL), 1);
	cr_assert(wait_serving(1, 1, 10000), "%s serves %d", HOST[1],
	    serving(1));
	snprintf(q, sizeof(q), "SELECT COUNT(*) FROM events WHERE kind = "
	    "'catch-up' AND host = '%s' AND detail = '%s: the container of "
	    "web was removed; current 1'", HOST[1], HOST[1]);
	cr_assert_eq(db_count(q), 1);

	/* Removed through ferry by an operator: the drift shows, and
	 * catch-up leaves it so. */
	{
		cJSON *d;

		h_ferry(&F, &R, (const char *[]){ "swap", HOST[2], "--remove",
		    "web", NULL });
		cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
		d = wait_drift(2, "removed", 15000);
		cr_assert_not_null(d, "no removed drift on %s", HOST[2]);
		cr_assert(strstr(jstr(d, "catch_up"), "removed by ") != NULL &&
		    strstr(jstr(d, "catch_up"), "(ferry swap --remove): left "
		    "so") != NULL, "%s", jstr(d, "catch_up"));
		cJSON_Delete(d);
		/* Ticks pass below (a failed catch-up on host 0, a restart
		 * of ferryd): still one catch-up, none of it here. */
		cr_assert_eq(catchups(), 1);
		cr_assert_eq(containers(2, NULL, 0, NULL), 0);
	}

	/* A catch-up that fails: host 0's container removed by hand, and
	 * its name taken by a container ferry does not know (not labelled
	 * as ferry's), so that the catch-up cannot create it. */
	{
		struct h_run *r = malloc(sizeof(*r));
		char cid[128], name[128];

		the_container(0, cid, sizeof(cid));
		docker_rm(cid);
		snprintf(name, sizeof(name), "ferry-%s-web-r1", HOST[0]);
		cr_assert_eq(h_docker(r, (const char *[]){ "create", "--name",
		    name, IMG "1", NULL }), 0, "%s", r->err);
		{
			long long end = now_ms() + 60000;

			while (db_count("SELECT COUNT(*) FROM deployments "
			    "WHERE kind = 'catch-up' AND state IN (6, 7)") !=
			    1 && now_ms() < end)
				h_sleep_ms(200);
		}
		cr_assert_eq(db_count("SELECT COUNT(*) FROM deployments WHERE "
		    "kind = 'catch-up' AND state IN (6, 7)"), 1,
		    "the catch-up of %s did not fail", HOST[0]);
		cr_assert_eq(catchups(), 2);
		expect_left(0, "failed: not tried again", 15000);

		/* ferryd killed and started again on the same database:
		 * the operator's removal and the failed catch-up hold. */
		cr_assert_eq(h_kill(F.ferryd, SIGKILL), 128 + SIGKILL);
		h_start_ferryd(&F, NULL);
		cr_assert(h_wait_state(&F, HOST[0], "online", 15000));
		cr_assert(h_wait_state(&F, HOST[2], "online", 15000));
		expect_left(2, "(ferry swap --remove): left so", 15000);
		expect_left(0, "failed: not tried again", 15000);
		h_sleep_ms(DRIFT_WAIT_MS);
		cr_assert_eq(catchups(), 2);
		cr_assert_eq(containers(2, NULL, 0, NULL), 0);
		cr_assert_eq(containers(0, NULL, 0, NULL), 0);
		h_docker(r, (const char *[]){ "rm", "-f", name, NULL });
		free(r);
	}
}

Test(catchup, catch_up_off_leaves_a_removed_container_drifted)
{
	char body[65536], want[256], *j;
	struct h_run *r = malloc(sizeof(*r));
	cJSON *st, *hs, *h, *d;
	int seen = 0;

	/* The spec's catch_up: off is the one thing that differs. */
	removed_then("off");
	/* ferry status web: the host, its drift and that nothing moves. */
	h_ferry(&F, &R, (const char *[]){ "status", "web", NULL });
	cr_log_info("ferry status web:\n%s", R.out);
	cr_assert_eq(R.status, 1, "drift exits 1: %s%s", R.out, R.err);
	cr_assert(strstr(R.out, "Service web: revision 1") != NULL, "%s",
	    R.out);
	cr_assert(strstr(R.out, "Health now: 2/3 hosts healthy; drift on 1")
	    != NULL, "%s", R.out);
	cr_assert(strstr(R.out, "removed: nothing runs, current is 1") !=
	    NULL, "%s", R.out);
	cr_assert(strstr(R.out, "catch_up: off in the spec") != NULL, "%s",
	    R.out);
	h_ferry(&F, &R, (const char *[]){ "status", "web", "--json", NULL });
	st = cJSON_Parse(R.out);
	cr_assert_not_null(st, "%s", R.out);
	cr_assert_str_eq(jstr(st, "catch_up"), "off");
	hs = cJSON_GetObjectItem(st, "hosts");
	cr_assert_eq(cJSON_GetArraySize(hs), 3, "%s", R.out);
	cJSON_ArrayForEach(h, hs) {
		d = cJSON_GetObjectItem(h, "drift");
		if (strcmp(jstr(h, "name"), HOST[1]) == 0) {
			cr_assert_str_eq(jstr(d, "cause"), "removed");
			cr_assert(!cJSON_IsTrue(cJSON_GetObjectItem(h,
			    "healthy")));
			seen++;
		} else {
			cr_assert(cJSON_IsNull(d), "%s", R.out);
			cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(h,
			    "healthy")), "%s", R.out);
		}
	}
	cr_assert_eq(seen, 1);
	cJSON_Delete(st);
	/* /metrics: per service and host, health and drift. */
	snprintf(want, sizeof(want), "ferry_service_drift{service=\"web\","
	    "host=\"%s\",cause=\"removed\"} 1", HOST[1]);
	cr_assert(metrics_has(body, sizeof(body), want, 10000),
	    "no %s in:\n%s", want, body);
	snprintf(want, sizeof(want), "ferry_service_healthy{service=\"web\","
	    "host=\"%s\"} 1", HOST[0]);
	cr_assert(strstr(body, want) != NULL, "no %s in:\n%s", want, body);
	snprintf(want, sizeof(want), "ferry_service_healthy{service=\"web\","
	    "host=\"%s\"} 0", HOST[1]);
	cr_assert(strstr(body, want) != NULL, "no %s in:\n%s", want, body);
	snprintf(want, sizeof(want), "ferry_service_containers{service="
	    "\"web\",host=\"%s\",state=\"running\"} 1", HOST[2]);
	cr_assert(strstr(body, want) != NULL, "no %s in:\n%s", want, body);
	/* Time passes: still drifted, nothing started. */
	h_sleep_ms(DRIFT_WAIT_MS);
	cr_assert_eq(catchups(), 0);
	/* (Not asked of its port: Docker may have handed the removed
	 * container's address to another test's container since.) */
	cr_assert_eq(containers(1, NULL, 0, NULL), 0);
	d = drift_of(1, "removed");
	cr_assert_not_null(d);
	cJSON_Delete(d);

	/* An extra container: one labelled as web revision 7 on host 0. */
	{
		char host_label[128], name[128];

		snprintf(host_label, sizeof(host_label), "ferry.host=%s",
		    HOST[0]);
		snprintf(name, sizeof(name), "ferry-%s-web-extra", HOST[0]);
		cr_assert_eq(h_docker(r, (const char *[]){ "run", "-d",
		    "--name", name, "--label", host_label, "--label",
		    "ferry.service=web", "--label", "ferry.revision=7",
		    IMG "1", NULL }), 0, "%s", r->err);
	}
	d = wait_drift(0, "extra", 15000);
	cr_assert_not_null(d, "no extra drift on %s", HOST[0]);
	cr_assert_str_eq(jstr(d, "detail"), "extra container: revision 7 "
	    "beside the current 1");
	cJSON_Delete(d);
	h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
	cr_log_info("ferry hosts:\n%s", R.out);
	snprintf(want, sizeof(want), "  %s: web: extra container: revision 7 "
	    "beside the current 1", HOST[0]);
	j = strstr(R.out, want);
	cr_assert_not_null(j, "no \"%s\" in:\n%s", want, R.out);
	cr_assert_not_null(strstr(R.out, "DRIFT"), "%s", R.out);
	free(r);
}
