/* SPDX-License-Identifier: Apache-2.0 */
// links:
/* test_fleet.c: deploy/local-fleet.sh, the local fleet script: two small
 * fleets (one host each, without the demo's deploys) side by side, each
 * with its own folder and port base: both answer `ferry hosts` with their
 * own host only, every hint each prints names its own socket, ports and
 * folder, a start that would take the other's port is refused and
 * changes nothing, and each stop leaves the other running. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"

#define SCRIPT	"deploy/local-fleet.sh"

static struct h_fleet F;
static struct h_run R;
static char BIN[PATH_MAX];

struct lf {
	char dir[600];
	int base;
	char name[32];
};
static struct lf A, B;

/* script runs the fleet script for fleet f with what (start, stop,
 * status), at port base (f->base unless 0), and returns its exit status
 * (its output in R). */
static int
script(const struct lf *f, const char *what, int base)
{
	char dir[700], pb[64], bin[PATH_MAX + 16];

	snprintf(dir, sizeof(dir), "FERRY_FLEET_DIR=%s", f->dir);
	snprintf(pb, sizeof(pb), "FERRY_FLEET_PORT_BASE=%d", base ? base :
	    f->base);
	snprintf(bin, sizeof(bin), "FERRY_BIN=%s", BIN);
	h_run(&R, (const char *[]){ "/usr/bin/env", dir, pb, bin,
	    "FERRY_FLEET_HOSTS=1", "FERRY_FLEET_DEMO=0", SCRIPT, what,
	    NULL });
	return R.status;
}

/* hosts runs `ferry hosts` against fleet f's socket; its exit status. */
static int
hosts(const struct lf *f)
{
	char sock[700], bin[PATH_MAX + 8];

	snprintf(sock, sizeof(sock), "%s/ferryd.sock", f->dir);
	snprintf(bin, sizeof(bin), "%s/ferry", BIN);
	h_run(&R, (const char *[]){ bin, "--socket", sock, "hosts", NULL });
	return R.status;
}

/* base_free: a port base whose three ports are free (BASE, BASE+1 on
 * 127.0.0.1, BASE+680 on 127.0.0.2), and not within 700 of avoid. */
static int
base_free(int avoid)
{
	int k, b;

	for (k = 0; k < 200; k++) {
		b = h_free_port();
		if (b < 1024 || b > 64000 || (avoid && abs(b - avoid) < 700))
			continue;
		if (h_port_free_on("127.0.0.1", b + 1) &&
		    h_port_free_on("127.0.0.2", b + 680))
			return b;
	}
	cr_assert_fail("no free port base");
	return 0;
}

static void
setup(void)
{
	h_init(&F);
	cr_assert_not_null(realpath("build", BIN), "build/ not found");
	h_path(&F, "fleet-a", A.dir, sizeof(A.dir));
	h_path(&F, "fleet-b", B.dir, sizeof(B.dir));
	A.base = base_free(0);
	B.base = base_free(A.base);
	snprintf(A.name, sizeof(A.name), "fleet%d-1", A.base);
	snprintf(B.name, sizeof(B.name), "fleet%d-1", B.base);
}

static void
teardown(void)
{
	/* Each stop stops only what its own folder's PID files name. */
	script(&A, "stop", 0);
	script(&B, "stop", 0);
	h_fini(&F);
}

TestSuite(fleet, .init = setup, .fini = teardown, .timeout = 150);

/* hints_are_its_own: the start's output names f's socket, ports and
 * folder, and nothing of the default fleet's. */
static void
hints_are_its_own(const struct lf *f, const char *out)
{
	char want[800];

	snprintf(want, sizeof(want), "export FERRY_SOCKET=%s/ferryd.sock",
	    f->dir);
	cr_assert(strstr(out, want) != NULL, "want %s in: %s", want, out);
	snprintf(want, sizeof(want), "curl -s http://127.0.0.1:%d/healthz",
	    f->base + 1);
	cr_assert(strstr(out, want) != NULL, "want %s in: %s", want, out);
	snprintf(want, sizeof(want), "tcp://127.0.0.1:%d", f->base);
	cr_assert(strstr(out, want) != NULL, "want %s in: %s", want, out);
	snprintf(want, sizeof(want), "service's port is %d", f->base + 680);
	cr_assert(strstr(out, want) != NULL, "want %s in: %s", want, out);
	snprintf(want, sizeof(want), "FERRY_FLEET_DIR=%s FERRY_FLEET_PORT_BASE"
	    "=%d ", f->dir, f->base);
	cr_assert(strstr(out, want) != NULL && strstr(out,
	    "local-fleet.sh stop") != NULL, "want %s... stop in: %s", want,
	    out);
	cr_assert(strstr(out, f->name) != NULL, "%s", out);
	cr_assert(strstr(out, "/tmp/ferry-fleet") == NULL && strstr(out,
	    ":7401") == NULL && strstr(out, ":8080") == NULL &&
	    strstr(out, "/run/ferry/") == NULL, "a default in a hint: %s",
	    out);
}

Test(fleet, two_fleets_side_by_side_each_stop_leaves_the_other)
{
	char out[sizeof(R.out)];

	cr_assert_eq(script(&A, "start", 0), 0, "start a: %s%s", R.out,
	    R.err);
	snprintf(out, sizeof(out), "%s", R.out);
	hints_are_its_own(&A, out);
	cr_assert_eq(script(&B, "start", 0), 0, "start b: %s%s", R.out,
	    R.err);
	snprintf(out, sizeof(out), "%s", R.out);
	hints_are_its_own(&B, out);

	/* Each answers with its own host only. */
	cr_assert_eq(hosts(&A), 0, "%s", R.err);
	cr_assert(strstr(R.out, A.name) && strstr(R.out, "online") &&
	    !strstr(R.out, B.name), "%s", R.out);
	cr_assert_eq(hosts(&B), 0, "%s", R.err);
	cr_assert(strstr(R.out, B.name) && strstr(R.out, "online") &&
	    !strstr(R.out, A.name), "%s", R.out);

	/* A's folder started on B's port base: refused before anything
	 * stops; both still answer. */
	cr_assert_neq(script(&A, "start", B.base), 0, "%s", R.out);
	cr_assert(strstr(R.err, "fleet-a holds the fleet of hosts") != NULL,
	    "%s", R.err);
	cr_assert_eq(hosts(&A), 0, "a stopped by a refused start: %s", R.err);
	cr_assert_eq(hosts(&B), 0, "b stopped by a refused start: %s", R.err);

	/* A stops; B runs on. */
	cr_assert_eq(script(&A, "stop", 0), 0, "%s%s", R.out, R.err);
	cr_assert_eq(hosts(&A), 3, "a still answers: %s", R.out);
	cr_assert_eq(hosts(&B), 0, "b stopped with a: %s", R.err);
	cr_assert(strstr(R.out, B.name) && strstr(R.out, "online"), "%s",
	    R.out);
	cr_assert_eq(script(&B, "status", 0), 0, "%s%s", R.out, R.err);
	/* A again, beside B; then B stops and A runs on. */
	cr_assert_eq(script(&A, "start", 0), 0, "restart a: %s%s", R.out,
	    R.err);
	cr_assert_eq(script(&B, "stop", 0), 0, "%s%s", R.out, R.err);
	cr_assert_eq(hosts(&B), 3, "b still answers: %s", R.out);
	cr_assert_eq(hosts(&A), 0, "a stopped with b: %s", R.err);
	cr_assert(strstr(R.out, A.name) && strstr(R.out, "online"), "%s",
	    R.out);
}
