/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/dkit.c tests/integration/opskit.c
/* test_ops.c: everyday operations end to end on the real dockerd and
 * registry, three agents (127.0.0.2-4) each with its ferry-proxy: a host
 * drained is left out of deployments and of traffic (its proxy refuses new
 * connections, also after the proxy restarts) until undrained; old images
 * are pruned as their revisions leave the kept window.  The service life
 * cycle (restart, stop, start, remove) is test_lifecycle.c.  Every
 * wait is bounded; processes are ended by pid. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "opskit.h"

TestSuite(ops, .init = setup, .fini = teardown, .timeout = 150);

/* ---- drain ---------------------------------------------------------------- */

/*
 * A drained host: recorded with who drained it, its proxy refuses new
 * connections (and again after the proxy restarts), a deployment leaves
 * it out and says "drained", and catch-up waits; undrained, it serves
 * again and catch-up brings it to the revision it missed.
 */
Test(ops, a_drained_host_is_out_of_deployments_and_traffic)
{
	cJSON *h, *st;
	char buf[2048];
	long long end;
	unsigned dep;
	int k;

	fleet(NT);
	web("1");
	cr_assert_eq(deploy_watch("web.yml"), 0, "%s%s", R.out, R.err);
	for (k = 0; k < NT; k++)
		wait_traffic(k, 0, 1, 10000);

	/* Bad input changes nothing. */
	h_ferry(&F, &R, (const char *[]){ "hosts", "drain", "nosuchhost",
	    NULL });
	cr_assert_neq(R.status, 0);
	cr_assert(strstr(R.err, "unknown host") != NULL, "%s", R.err);

	h_ferry(&F, &R, (const char *[]){ "hosts", "drain", HOST[2], NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	h = host_json(2);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(h, "drained")));
	cr_assert_str_neq(jstr(h, "drained_by"), "");
	cJSON_Delete(h);
	cr_assert_eq(db_count("SELECT count(*) FROM events WHERE kind = "
	    "'drain'"), 1);
	/* Its proxy takes no new connection; the others serve on. */
	wait_traffic(2, 1, 0, 15000);
	cr_assert_eq(serving(0), 1);
	cr_assert_eq(serving(1), 1);
	/* Who drained it and how long ago, under the table. */
	{
		char want[200];
		cJSON *hj = host_json(2);

		snprintf(want, sizeof(want), "%s was drained by %s ", HOST[2],
		    jstr(hj, "drained_by"));
		cJSON_Delete(hj);
		h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
		cr_assert(strstr(R.out, "online,drained") != NULL, "%s",
		    R.out);
		cr_assert(strstr(R.out, want) != NULL, "no \"%s\" in:\n%s",
		    want, R.out);
		cr_assert(strstr(R.out, "s ago: deployments skip it") != NULL,
		    "%s", R.out);
	}
	/* Twice is said, not recorded. */
	h_ferry(&F, &R, (const char *[]){ "hosts", "drain", HOST[2], NULL });
	cr_assert_neq(R.status, 0);
	cr_assert(strstr(R.err, "already drained") != NULL, "%s", R.err);

	/* The proxy restarted comes back drained (routes.pb). */
	for (k = 0; k < H_MAX_HOSTS; k++)
		if (F.proxies[k] != NULL && strstr(F.proxies[k]->name,
		    HOST[2]) != NULL)
			break;
	cr_assert_lt(k, H_MAX_HOSTS);
	h_kill(F.proxies[k], SIGTERM);
	h_start_proxy(&F, HOST[2]);
	cr_assert_eq(refused(2), 1, "a restarted proxy forgot its drain");

	/* A deployment leaves it out, and says why. */
	web("2");
	cr_assert_eq(deploy_watch("web.yml"), 0, "%s%s", R.out, R.err);
	snprintf(buf, sizeof(buf), "%s skipped: drained", HOST[2]);
	cr_assert(strstr(R.out, buf) != NULL, "%s", R.out);
	st = status(last_id());
	cr_assert_not_null(st);
	cr_assert_eq(jnum(st, "matched"), 3);
	h = cJSON_GetArrayItem(cJSON_GetObjectItem(st, "skipped"), 0);
	cr_assert_str_eq(jstr(h, "name"), HOST[2]);
	cr_assert(strstr(jstr(h, "cause"), "drained") != NULL);
	cJSON_Delete(st);
	cr_assert_eq(serving(0), 2);
	ids(2, buf, sizeof(buf));
	cr_assert(strstr(buf, "running 1") != NULL, "%s", buf);

	/* While drained, catch-up waits: the host drifts, nothing moves. */
	h_sleep_ms(7000);
	cr_assert_eq(db_count("SELECT count(*) FROM deployments WHERE kind = "
	    "'catch-up'"), 0, "a drained host was caught up");
	ids(2, buf, sizeof(buf));
	cr_assert(strstr(buf, "running 1") != NULL, "%s", buf);

	/* Undrained: traffic again, and catch-up brings it to revision 2 on
	 * its own (once), saying why. */
	dep = last_id();
	h_ferry(&F, &R, (const char *[]){ "hosts", "undrain", HOST[2], NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	wait_traffic(2, 0, 1, 15000);
	cr_assert_eq(db_count("SELECT count(*) FROM events WHERE kind = "
	    "'undrain'"), 1);
	end = now_ms() + 30000;
	while (db_count("SELECT count(*) FROM deployments WHERE kind = "
	    "'catch-up' AND state = 5") < 1) {
		cr_assert(now_ms() < end, "%s not caught up in 30 s after "
		    "undrain", HOST[2]);
		h_sleep_ms(200);
	}
	snprintf(buf, sizeof(buf), "SELECT count(*) FROM events WHERE kind = "
	    "'catch-up' AND host = '%s' AND detail = '%s was drained during "
	    "deployment %u; runs revision 1, current 2'", HOST[2], HOST[2],
	    dep);
	cr_assert_eq(db_count(buf), 1, "no event naming why");
	assert_all_serve(0, NT - 1, 2);
	cr_assert_eq(db_count("SELECT count(*) FROM deployments WHERE kind = "
	    "'catch-up'"), 1);
}

/* ---- image pruning -------------------------------------------------------- */

/* private_image builds and pushes an image of this test alone (web:1
 * with a label of its own: a digest no other test uses) and writes its
 * reference into ref. */
static void
private_image(const char *tag, char *ref, size_t len)
{
	struct h_run *r = malloc(sizeof(*r));
	char rel[32], dir[600], file[700];
	FILE *f;

	snprintf(ref, len, "127.0.0.1:5000/ferry-test/prune-%s:%s", HOST[0],
	    tag);
	snprintf(rel, sizeof(rel), "img-%s", tag);
	h_path(&F, rel, dir, sizeof(dir));
	cr_assert(mkdir(dir, 0700) == 0 || errno == EEXIST);
	snprintf(file, sizeof(file), "%s/Dockerfile", dir);
	cr_assert_not_null(f = fopen(file, "w"));
	fprintf(f, "FROM " IMG "1\nLABEL ferry.test.prune=\"%s %s\"\n",
	    HOST[0], tag);
	fclose(f);
	cr_assert_eq(h_docker(r, (const char *[]){ "build", "-q", "-t", ref,
	    dir, NULL }), 0, "%s", r->err);
	cr_assert_eq(h_docker(r, (const char *[]){ "push", ref, NULL }), 0,
	    "%s", r->err);
	/* Only the registry has it now: the host pulls it by digest. */
	cr_assert_eq(h_docker(r, (const char *[]){ "rmi", ref, NULL }), 0,
	    "%s", r->err);
	free(r);
}

/* image_here: docker image inspect finds the image by digest on the
 * (shared) engine. */
static int
image_here(const char *digest)
{
	struct h_run *r = malloc(sizeof(*r));
	int rc;

	rc = h_docker(r, (const char *[]){ "image", "inspect", digest, NULL });
	free(r);
	return rc == 0;
}

/* image_id writes the engine's id of the image ref names into id ("" when
 * there is none). */
static void
image_id(const char *ref, char *id, size_t len)
{
	struct h_run *r = malloc(sizeof(*r));

	id[0] = '\0';
	if (h_docker(r, (const char *[]){ "image", "inspect", "--format",
	    "{{.Id}}", ref, NULL }) == 0)
		snprintf(id, len, "%.80s", r->out);
	id[strcspn(id, "\n")] = '\0';
	free(r);
}

/* deploy_private deploys ref to the one host as revision rev (ok: it must
 * succeed; else it must fail) and writes the revision's digest reference
 * into digest. */
static void
deploy_private(int rev, const char *ref, int ok, char *digest, size_t len)
{
	char hosts[200], sql[300];

	h_write(&F, "p.yml",
	    "service: web\n"
	    "image: %s\n"
	    "hosts: %s\n"
	    "port: { host: %d, container: 80 }\n"
	    "health:\n"
	    "  http: { path: /health, port: 80 }\n"
	    "  interval: 200ms\n"
	    "  deadline: 10s\n"
	    "  min_healthy: 300ms\n", ref, names(hosts, sizeof(hosts), 1, 1),
	    PORT);
	if (ok)
		cr_assert_eq(deploy_watch("p.yml"), 0, "%s%s", R.out, R.err);
	else
		cr_assert_neq(deploy_watch("p.yml"), 0, "%s%s", R.out, R.err);
	snprintf(sql, sizeof(sql), "SELECT digest FROM revisions WHERE number "
	    "= %d", rev);
	cr_assert_eq(h_db_row(&F, "ferryd/ferryd.db", sql, NULL, 0, NULL,
	    digest, len, NULL, NULL), 1);
	cr_assert_neq(digest[0], '\0');
	cr_assert(image_here(digest), "%s", digest);
}

/*
 * Deploys of five images to one host (the agent keeps one stopped
 * revision), the second of which fails there before a container is made
 * (its container's name is taken).  After the fourth, ferry's name of the
 * first image is gone from the engine, by reference and not forced: a
 * name an operator gave the image in another repository keeps it; the
 * second image, which no container ever used, is gone too; the third
 * (kept for a way back) and the fourth (running) remain.  After the
 * fifth, the third image, which no other name has, is gone from the
 * engine altogether.
 */
Test(ops, old_images_are_pruned_as_they_leave_the_kept_window)
{
	char ref[5][300], digest[5][300], mine[200], blocker[200];
	char idx[100], id2[100], id[100];
	const char *tags[5] = { "a", "x", "b", "c", "d" };
	struct h_run *r = malloc(sizeof(*r));
	int k;

	fleet(1);
	snprintf(mine, sizeof(mine), "ferry-test-mine/prune-%s:kept", HOST[0]);
	snprintf(blocker, sizeof(blocker), "ferry-%s-web-r2", HOST[0]);
	for (k = 0; k < 4; k++) {
		private_image(tags[k], ref[k], sizeof(ref[k]));
		/* Revision 2 is pulled, and its container cannot be made:
		 * a container ferry does not know holds its name. */
		if (k == 1)
			cr_assert_eq(h_docker(r, (const char *[]){ "create",
			    "--name", blocker, IMG "1", NULL }), 0, "%s",
			    r->err);
		deploy_private(k + 1, ref[k], k != 1, digest[k],
		    sizeof(digest[k]));
		if (k == 1) {
			h_docker(r, (const char *[]){ "rm", "-f", blocker,
			    NULL });
			image_id(digest[1], idx, sizeof(idx));
			cr_assert_neq(idx[0], '\0');
		}
		/* Before it leaves the window, the first image gets a name
		 * of someone else's (another repository). */
		if (k == 0)
			cr_assert_eq(h_docker(r, (const char *[]){ "tag",
			    digest[0], mine, NULL }), 0, "%s", r->err);
	}
	/* Ferry's name went; Docker kept the image the other name has. */
	cr_assert(!image_here(digest[0]), "%s was not pruned", digest[0]);
	cr_assert(image_here(mine), "%s went with ferry's name", mine);
	cr_assert(h_log_has(AGENT[0], "the image stays: another name has "
	    "it"), "the agent did not say the image stays");
	h_docker(r, (const char *[]){ "rmi", mine, NULL });
	/* The image of the swap that failed before making a container. */
	image_id(idx, id, sizeof(id));
	cr_assert_eq(id[0], '\0', "image %s (%s), which no container used, "
	    "is still here", idx, digest[1]);
	cr_assert(image_here(digest[2]), "the kept revision's image went");
	cr_assert(image_here(digest[3]), "the running revision's image went");
	assert_all_serve(0, 0, 1);

	/* The third leaves the window with no other name: the image goes. */
	image_id(digest[2], id2, sizeof(id2));
	cr_assert_neq(id2[0], '\0');
	private_image(tags[4], ref[4], sizeof(ref[4]));
	deploy_private(5, ref[4], 1, digest[4], sizeof(digest[4]));
	image_id(id2, id, sizeof(id));
	cr_assert_eq(id[0], '\0', "image %s (%s) is still here", id2,
	    digest[2]);
	cr_assert(image_here(digest[3]), "the kept revision's image went");

	/* The host's own tidying: gone from the engine for good. */
	h_docker_rm_host(HOST[0]);
	for (k = 3; k < 5; k++)
		h_docker(r, (const char *[]){ "rmi", "-f", digest[k], NULL });
	free(r);
}
