/* SPDX-License-Identifier: Apache-2.0 */
// links: coordinator/rollout.c
/* test_rollout.c: the rollout engine, driven through every transition with
 * a fake clock: no sleeping, no I/O. */
#include <string.h>

#include <criterion/criterion.h>

#include "ferr.h"
#include "rollout.h"

#define NH	6
#define LOGMAX	512

static const char *const names6[NH] = {
	"web-1", "web-2", "web-3", "web-4", "web-5", "web-6",
};
static const int prev6[NH] = { 1, 1, 1, 1, 1, 1 };

/* One deployment under test, its fake clock and every decision it made. */
struct fx {
	struct rollout r;
	struct rollout_decision d[ROLLOUT_DECISIONS(NH)];	/* the last step's */
	size_t n;
	uint64_t now, wake;
	struct rollout_decision log[LOGMAX];	/* every step's commands */
	size_t nlog;
	size_t max_out;		/* most hosts SWAPPING/REVERTING seen */
};

static struct fx F;

static void
fini(void)
{
	rollout_free(&F.r);
}

static size_t
out_of_service(const struct rollout *r)
{
	size_t i, k = 0;

	for (i = 0; i < r->nhosts; i++)
		k += r->hosts[i].state == RH_SWAPPING ||
		    r->hosts[i].state == RH_REVERTING;
	return k;
}

static void
plan(uint32_t batch, uint32_t canary, uint32_t max_failures,
    enum rollout_on_failure of, uint64_t pause_ms, const int *prev)
{
	char why[256] = "";
	int rc;

	memset(&F, 0, sizeof(F));
	F.now = 1000;
	rc = rollout_plan(&F.r, names6, prev, NH, batch, 0, canary,
	    max_failures, of, pause_ms, why, sizeof(why));
	cr_assert_eq(rc, 0, "plan: %s", why);
	cr_assert_eq(F.r.state, RO_PLANNED);
	cr_assert(rollout_check(&F.r));
}

/* step feeds one input at the fake clock's time and checks what every step
 * must: the invariant, RA_RECORD first whenever anything changed, and no
 * more than one batch out of service. */
static size_t
step(enum rollout_input in, size_t host, const char *cause)
{
	struct rollout_event ev = { in, host, cause, 0 };
	size_t i;

	F.wake = 12345;		/* must be overwritten */
	F.n = rollout_step(&F.r, &ev, F.now, F.d, ROLLOUT_DECISIONS(NH),
	    &F.wake);
	cr_assert(rollout_check(&F.r), "check after input %d", in);
	cr_assert(F.n <= ROLLOUT_DECISIONS(NH));
	cr_assert_neq(F.wake, 12345, "wake_ms not set");
	if (F.n > 0)
		cr_assert_eq(F.d[0].action, RA_RECORD,
		    "a change is recorded first");
	for (i = 1; i < F.n; i++) {
		cr_assert_neq(F.d[i].action, RA_RECORD);
		cr_assert_lt(F.d[i].host, NH);
		cr_assert_lt(F.nlog, LOGMAX);
		F.log[F.nlog++] = F.d[i];
	}
	if (out_of_service(&F.r) > F.max_out)
		F.max_out = out_of_service(&F.r);
	return F.n;
}

static size_t
tick(void)
{
	return step(RI_TICK, 0, NULL);
}

/* has says whether the last step decided action for host. */
static int
has(enum rollout_action a, size_t host)
{
	size_t i;

	for (i = 0; i < F.n; i++)
		if (F.d[i].action == a && F.d[i].host == host)
			return 1;
	return 0;
}

/* count_log counts action in every decision so far (for host, or all when
 * host is NH). */
static size_t
count_log(enum rollout_action a, size_t host)
{
	size_t i, k = 0;

	for (i = 0; i < F.nlog; i++)
		k += F.log[i].action == a && (host == NH ||
		    F.log[i].host == host);
	return k;
}

/* revert_order writes the host of every RA_REVERT so far, in order, into
 * rev (room for LOGMAX) and returns how many there are. */
static size_t
revert_order(size_t *rev)
{
	size_t i, n = 0;

	for (i = 0; i < F.nlog; i++)
		if (F.log[i].action == RA_REVERT)
			rev[n++] = F.log[i].host;
	return n;
}

static enum rollout_host_state
hs(size_t i)
{
	return F.r.hosts[i].state;
}

/* pull_all takes a planned deployment through the pre-pull into batch 0. */
static void
pull_all(void)
{
	size_t i;

	cr_assert_eq(tick(), NH + 1, "RA_RECORD and one RA_PULL per host");
	cr_assert_eq(F.r.state, RO_PULLING);
	for (i = 0; i < NH; i++) {
		cr_assert(has(RA_PULL, i));
		cr_assert_eq(hs(i), RH_PULLING);
	}
	for (i = 0; i < NH; i++)
		cr_assert_gt(step(RI_PULLED, i, NULL), 0);
	cr_assert_eq(F.r.state, RO_RUNNING);
	cr_assert_eq(F.r.batch, 0);
}

/* The hosts of the current batch all pass. */
static void
pass_batch(void)
{
	uint32_t b = F.r.batch;
	size_t i;

	for (i = 0; i < NH; i++)
		if (F.r.hosts[i].batch == b && hs(i) == RH_SWAPPING)
			cr_assert_gt(step(RI_SWAPPED, i, NULL), 0);
}

/* ---- planning ----------------------------------------------------------- */

Test(rollout_plan, errors_say_why_and_leave_nothing)
{
	struct rollout r;
	char why[256];

	cr_assert_eq(rollout_plan(&r, names6, prev6, 0, 2, 0, 0, 0,
	    RO_ON_FAILURE_ROLLBACK, 0, why, sizeof(why)), FERR_ARG);
	cr_assert_str_eq(why, "no hosts match");
	cr_assert_null(r.hosts);

	cr_assert_eq(rollout_plan(&r, names6, prev6, NH, 0, 0, 0, 0,
	    RO_ON_FAILURE_ROLLBACK, 0, why, sizeof(why)), FERR_ARG);
	cr_assert(strstr(why, "batch must be at least 1") != NULL, "%s", why);

	cr_assert_eq(rollout_plan(&r, names6, prev6, NH, 0, 1, 0, 0,
	    RO_ON_FAILURE_ROLLBACK, 0, why, sizeof(why)), FERR_ARG);
	cr_assert(strstr(why, "1% to 100%") != NULL, "%s", why);
	cr_assert_eq(rollout_plan(&r, names6, prev6, NH, 101, 1, 0, 0,
	    RO_ON_FAILURE_ROLLBACK, 0, why, sizeof(why)), FERR_ARG);
	cr_assert(strstr(why, "not 101%") != NULL, "%s", why);

	cr_assert_eq(rollout_plan(&r, names6, prev6, NH, 2, 0, 7, 0,
	    RO_ON_FAILURE_ROLLBACK, 0, why, sizeof(why)), FERR_ARG);
	cr_assert(strstr(why, "canary of 7 hosts") != NULL, "%s", why);
	cr_assert(strstr(why, "only 6 hosts") != NULL, "%s", why);
	cr_assert_null(r.hosts);
	cr_assert(rollout_check(&r), "a failed plan leaves r zeroed");
	rollout_free(&r);	/* safe on it */
}

Test(rollout_plan, long_host_name_refused)
{
	char longname[ROLLOUT_HOST_MAX + 8];
	const char *names[1] = { longname };
	struct rollout r;
	char why[256];

	memset(longname, 'h', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	cr_assert_eq(rollout_plan(&r, names, NULL, 1, 1, 0, 0, 0,
	    RO_ON_FAILURE_ROLLBACK, 0, why, sizeof(why)), FERR_ARG);
	cr_assert(strstr(why, "host name too long") != NULL, "%s", why);
	cr_assert_null(r.hosts);
}

static void
assert_batches(const struct rollout *r, const uint32_t *want, size_t n)
{
	size_t i;

	cr_assert_eq(r->nhosts, n);
	for (i = 0; i < n; i++)
		cr_assert_eq(r->hosts[i].batch, want[i], "host %zu in batch "
		    "%u, want %u", i, r->hosts[i].batch, want[i]);
}

Test(rollout_plan, batches_by_count_keep_host_order, .fini = fini)
{
	static const uint32_t want[NH] = { 0, 0, 1, 1, 2, 2 };
	static const uint32_t want4[NH] = { 0, 0, 0, 0, 1, 1 };
	static const int prev[NH] = { 1, 0, 1, 0, 1, 0 };
	size_t i;

	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev);
	assert_batches(&F.r, want, NH);
	cr_assert_eq(F.r.nbatches, 3);
	cr_assert_eq(F.r.batch_size, 2);
	for (i = 0; i < NH; i++) {
		cr_assert_str_eq(F.r.hosts[i].name, names6[i]);
		cr_assert_eq(F.r.hosts[i].had_previous, prev[i]);
		cr_assert_eq(hs(i), RH_WAITING);
	}
	rollout_free(&F.r);

	plan(4, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	assert_batches(&F.r, want4, NH);
	cr_assert_eq(F.r.nbatches, 2, "a short last batch");
	rollout_free(&F.r);

	plan(10, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, NULL);
	cr_assert_eq(F.r.nbatches, 1, "a batch larger than the fleet");
	cr_assert_eq(F.r.hosts[5].had_previous, 0, "NULL: no previous");
}

Test(rollout_plan, batches_by_percent_round_down_at_least_one)
{
	static const char *const ten[10] = { "a", "b", "c", "d", "e", "f",
	    "g", "h", "i", "j" };
	struct rollout r;
	char why[128];

	/* 25% of 10 is 2.5: 2 hosts a batch. */
	cr_assert_eq(rollout_plan(&r, ten, NULL, 10, 25, 1, 0, 0,
	    RO_ON_FAILURE_ROLLBACK, 0, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(r.batch_size, 2);
	cr_assert_eq(r.nbatches, 5);
	rollout_free(&r);
	/* 10% of 3 is 0.3: at least 1. */
	cr_assert_eq(rollout_plan(&r, ten, NULL, 3, 10, 1, 0, 0,
	    RO_ON_FAILURE_ROLLBACK, 0, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(r.batch_size, 1);
	cr_assert_eq(r.nbatches, 3);
	rollout_free(&r);
	/* 100%: everything at once. */
	cr_assert_eq(rollout_plan(&r, ten, NULL, 10, 100, 1, 0, 0,
	    RO_ON_FAILURE_ROLLBACK, 0, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(r.batch_size, 10);
	cr_assert_eq(r.nbatches, 1);
	rollout_free(&r);
	/* 50% of 10 with a canary of 1: 1, then 5, 4. */
	cr_assert_eq(rollout_plan(&r, ten, NULL, 10, 50, 1, 1, 0,
	    RO_ON_FAILURE_ROLLBACK, 0, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(r.nbatches, 3);
	cr_assert_eq(r.hosts[0].batch, 0);
	cr_assert_eq(r.hosts[1].batch, 1);
	cr_assert_eq(r.hosts[5].batch, 1);
	cr_assert_eq(r.hosts[6].batch, 2);
	cr_assert_eq(r.hosts[9].batch, 2);
	rollout_free(&r);
}

Test(rollout_plan, canary_is_the_first_batch, .fini = fini)
{
	static const uint32_t c1[NH] = { 0, 1, 1, 2, 2, 3 };
	static const uint32_t c3[NH] = { 0, 0, 0, 1, 2, 3 };
	static const uint32_t c6[NH] = { 0, 0, 0, 0, 0, 0 };

	plan(2, 1, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	assert_batches(&F.r, c1, NH);
	cr_assert_eq(F.r.nbatches, 4);
	rollout_free(&F.r);
	/* A canary may be larger than the batch. */
	plan(1, 3, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	assert_batches(&F.r, c3, NH);
	cr_assert_eq(F.r.nbatches, 4);
	rollout_free(&F.r);
	plan(2, 6, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	assert_batches(&F.r, c6, NH);
	cr_assert_eq(F.r.nbatches, 1);
}

/* ---- forward ------------------------------------------------------------ */

Test(rollout, planned_waits_for_the_first_tick, .fini = fini)
{
	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	cr_assert_eq(step(RI_SWAPPED, 0, NULL), 0);
	cr_assert_eq(step(RI_PULLED, 0, NULL), 0);
	cr_assert_eq(step(RI_PAUSE, 0, NULL), 0);
	cr_assert_eq(step(RI_RESUME, 0, NULL), 0);
	cr_assert_eq(F.r.state, RO_PLANNED);
	cr_assert_eq(F.wake, 0);
	pull_all();
	cr_assert_eq(count_log(RA_PULL, NH), NH);
}

Test(rollout, six_hosts_batch_two_succeed, .fini = fini)
{
	static const size_t order[NH] = { 0, 1, 2, 3, 4, 5 };
	size_t i, k = 0;
	uint32_t b;

	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	pull_all();
	/* The last RI_PULLED started batch 0. */
	cr_assert_eq(F.n, 3);
	cr_assert(has(RA_SWAP, 0) && has(RA_SWAP, 1));
	for (b = 0; b < 3; b++) {
		cr_assert_eq(F.r.state, RO_RUNNING);
		cr_assert_eq(F.r.batch, b);
		cr_assert_eq(out_of_service(&F.r), 2);
		/* Half the batch passing starts nothing. */
		cr_assert_eq(step(RI_SWAPPED, 2 * b, NULL), 1);
		cr_assert_eq(hs(2 * b), RH_DONE);
		cr_assert_eq(hs(2 * b + 1), RH_SWAPPING);
		if (b < 2)
			cr_assert_eq(hs(2 * b + 2), RH_PULLED);
		F.now += 7000;
		cr_assert_eq(tick(), 0);
		step(RI_SWAPPED, 2 * b + 1, NULL);
		cr_assert_eq(F.wake, 0);
	}
	cr_assert_eq(F.r.state, RO_SUCCEEDED);
	cr_assert(rollout_finished(&F.r));
	cr_assert_str_eq(F.r.cause, "");
	cr_assert_eq(F.r.failures, 0);
	for (i = 0; i < NH; i++) {
		cr_assert_eq(hs(i), RH_DONE);
		cr_assert_eq(F.r.hosts[i].since_ms, 1000 + 7000 *
		    (i / 2 + i % 2), "host %zu", i);
	}
	cr_assert_leq(F.max_out, 2, "never more than batch out of service");
	cr_assert_eq(F.max_out, 2);
	/* Every host swapped once, in batch order. */
	for (i = 0; i < F.nlog; i++)
		if (F.log[i].action == RA_SWAP)
			cr_assert_eq(F.log[i].host, order[k++]);
	cr_assert_eq(k, NH);
	cr_assert_eq(count_log(RA_REVERT, NH), 0);
	/* The end is the end. */
	cr_assert_eq(step(RI_SWAPPED, 0, NULL), 0);
	cr_assert_eq(step(RI_ABORT, 0, NULL), 0);
	cr_assert_eq(step(RI_PAUSE, 0, NULL), 0);
	cr_assert_eq(tick(), 0);
	cr_assert_eq(F.r.state, RO_SUCCEEDED);
}

Test(rollout, prepull_failure_changes_nothing, .fini = fini)
{
	size_t i;

	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	tick();
	step(RI_PULLED, 0, NULL);
	step(RI_PULLED, 1, NULL);
	cr_assert_eq(F.r.state, RO_PULLING, "pulling waits for every host");
	cr_assert_eq(step(RI_PULL_FAILED, 3, "manifest unknown"), 1,
	    "only RA_RECORD");
	cr_assert_eq(F.r.state, RO_FAILED);
	cr_assert_str_eq(F.r.cause, "pre-pull failed on web-4: "
	    "manifest unknown");
	cr_assert_eq(hs(3), RH_FAILED);
	cr_assert_str_eq(F.r.hosts[3].cause, "manifest unknown");
	cr_assert_eq(F.r.failures, 1);
	for (i = 0; i < NH; i++)
		if (i != 3)
			cr_assert_eq(hs(i), RH_SKIPPED, "host %zu", i);
	cr_assert_eq(count_log(RA_SWAP, NH), 0, "nothing swapped");
	/* Late pulls change nothing. */
	cr_assert_eq(step(RI_PULLED, 2, NULL), 0);
	cr_assert_eq(step(RI_PULL_FAILED, 4, "x"), 0);
	cr_assert_eq(hs(2), RH_SKIPPED);
	cr_assert(rollout_finished(&F.r));
}

Test(rollout, prepull_offline_host_fails_the_pull, .fini = fini)
{
	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	tick();
	step(RI_PULLED, 5, NULL);
	/* An offline host that already pulled is for its swap to find. */
	cr_assert_eq(step(RI_OFFLINE, 5, NULL), 0);
	cr_assert_eq(step(RI_OFFLINE, 2, NULL), 1);
	cr_assert_eq(F.r.state, RO_FAILED);
	cr_assert_str_eq(F.r.cause, "pre-pull failed on web-3: host went "
	    "offline");
	cr_assert_eq(count_log(RA_SWAP, NH), 0);
}

/* ---- rollback ----------------------------------------------------------- */

/* Six hosts, batch 2: batch 1 (web-1, web-2) passes; in batch 2, web-3
 * fails while web-4 is still in flight. */
static void
fail_in_second_batch(enum rollout_on_failure of, uint32_t max_failures,
    const int *prev)
{
	plan(2, 0, max_failures, of, 0, prev);
	pull_all();
	pass_batch();
	cr_assert_eq(F.r.batch, 1);
	cr_assert(has(RA_SWAP, 2) && has(RA_SWAP, 3));
	cr_assert_eq(step(RI_SWAP_FAILED, 2, "unhealthy: HTTP 500 on "
	    "/health"), 1, "only RA_RECORD: web-4 is still in flight");
	cr_assert_eq(F.r.failures, 1);
	cr_assert_eq(hs(2), RH_FAILED);
	cr_assert_eq(F.r.state, RO_RUNNING, "decided once the batch ends");
}

Test(rollout, failure_rolls_back_newest_batch_first, .fini = fini)
{
	size_t nrev, rev[LOGMAX];

	fail_in_second_batch(RO_ON_FAILURE_ROLLBACK, 0, prev6);
	cr_assert_eq(step(RI_SWAPPED, 3, NULL), 2);
	cr_assert_eq(F.r.state, RO_ROLLING_BACK);
	cr_assert(strstr(F.r.cause, "batch 2/3") != NULL, "%s", F.r.cause);
	cr_assert(strstr(F.r.cause, "web-3 (unhealthy: HTTP 500 on "
	    "/health)") != NULL, "%s", F.r.cause);
	cr_assert(has(RA_REVERT, 3), "web-4 first: the newest batch");
	cr_assert_eq(hs(3), RH_REVERTING);
	cr_assert_eq(hs(2), RH_FAILED, "the agent put back its own failure");
	cr_assert_eq(hs(4), RH_SKIPPED);
	cr_assert_eq(hs(5), RH_SKIPPED);
	/* The older batch waits for the newer one. */
	F.now += 1000;
	cr_assert_eq(tick(), 0);
	cr_assert_eq(hs(0), RH_DONE);
	cr_assert_eq(step(RI_REVERTED, 3, NULL), 3);
	cr_assert(has(RA_REVERT, 0) && has(RA_REVERT, 1));
	cr_assert_eq(F.r.batch, 0);
	cr_assert_eq(step(RI_REVERTED, 1, NULL), 1);
	cr_assert_eq(F.r.state, RO_ROLLING_BACK);
	cr_assert_eq(step(RI_REVERTED, 0, NULL), 1);
	cr_assert_eq(F.r.state, RO_ROLLED_BACK);
	cr_assert(strstr(F.r.cause, "rolled back after batch 2/3") != NULL,
	    "%s", F.r.cause);
	cr_assert_eq(hs(0), RH_REVERTED);
	cr_assert_eq(hs(1), RH_REVERTED);
	cr_assert_eq(hs(3), RH_REVERTED);
	cr_assert_eq(F.r.failures, 1);
	/* The order of every RA_REVERT: web-4, then web-1 and web-2. */
	nrev = revert_order(rev);
	cr_assert_eq(nrev, 3);
	cr_assert_eq(rev[0], 3);
	cr_assert_eq(rev[1], 0);
	cr_assert_eq(rev[2], 1);
	cr_assert_eq(count_log(RA_SWAP, 4), 0, "later batches untouched");
	cr_assert_eq(count_log(RA_SWAP, 5), 0);
	cr_assert_eq(count_log(RA_REVERT, 2), 0);
	cr_assert_leq(F.max_out, 2);
}

Test(rollout, rollback_of_three_batches_walks_back_one_at_a_time,
    .fini = fini)
{
	size_t i, nrev, rev[LOGMAX];

	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	pull_all();
	pass_batch();
	pass_batch();
	step(RI_SWAPPED, 4, NULL);
	step(RI_SWAP_FAILED, 5, "timeout");
	cr_assert_eq(F.r.state, RO_ROLLING_BACK);
	cr_assert_eq(F.r.batch, 2);
	while (F.r.state == RO_ROLLING_BACK) {
		cr_assert_leq(out_of_service(&F.r), 2);
		for (i = 0; i < NH; i++)
			if (hs(i) == RH_REVERTING) {
				cr_assert_eq(F.r.hosts[i].batch, F.r.batch,
				    "only the current batch reverts");
				step(RI_REVERTED, i, NULL);
				break;
			}
	}
	cr_assert_eq(F.r.state, RO_ROLLED_BACK);
	nrev = revert_order(rev);
	cr_assert_eq(nrev, 5);
	cr_assert_eq(rev[0], 4);
	cr_assert_eq(rev[1], 2);
	cr_assert_eq(rev[2], 3);
	cr_assert_eq(rev[3], 0);
	cr_assert_eq(rev[4], 1);
}

Test(rollout, a_revert_that_fails_ends_failed, .fini = fini)
{
	fail_in_second_batch(RO_ON_FAILURE_ROLLBACK, 0, prev6);
	step(RI_SWAPPED, 3, NULL);
	cr_assert_eq(step(RI_REVERT_FAILED, 3, "image gone"), 3,
	    "the rollback goes on with the older batch");
	cr_assert_eq(hs(3), RH_REVERT_FAILED);
	cr_assert_str_eq(F.r.hosts[3].cause, "image gone");
	cr_assert(has(RA_REVERT, 0) && has(RA_REVERT, 1));
	step(RI_REVERTED, 0, NULL);
	/* A host that goes offline while reverting could not be put back. */
	cr_assert_eq(step(RI_OFFLINE, 1, NULL), 1);
	cr_assert_eq(hs(1), RH_REVERT_FAILED);
	cr_assert_eq(F.r.state, RO_FAILED);
	cr_assert(strstr(F.r.cause, "rollback incomplete") != NULL, "%s",
	    F.r.cause);
	cr_assert(strstr(F.r.cause, "web-4 (image gone)") != NULL, "%s",
	    F.r.cause);
	cr_assert(strstr(F.r.cause, "web-2 (host went offline)") != NULL,
	    "%s", F.r.cause);
	cr_assert(strstr(F.r.cause, "after batch 2/3") != NULL, "%s",
	    F.r.cause);
	cr_assert_eq(hs(0), RH_REVERTED);
	cr_assert_eq(F.r.failures, 1, "revert failures are not forward ones");
	cr_assert(rollout_finished(&F.r));
}

/* A host that ran nothing before goes back to running nothing: it is
 * reverted like the others (the shell removes the service there), and the
 * rollback ends clean. */
Test(rollout, first_deploy_hosts_are_rolled_back_to_nothing, .fini = fini)
{
	static const int prev[NH] = { 0, 0, 1, 1, 1, 1 };

	fail_in_second_batch(RO_ON_FAILURE_ROLLBACK, 0, prev);
	cr_assert_eq(step(RI_SWAPPED, 3, NULL), 2);
	cr_assert(has(RA_REVERT, 3));
	cr_assert_eq(step(RI_REVERTED, 3, NULL), 3, "batch 1 goes back");
	cr_assert(has(RA_REVERT, 0) && has(RA_REVERT, 1));
	step(RI_REVERTED, 0, NULL);
	step(RI_REVERTED, 1, NULL);
	cr_assert_eq(F.r.state, RO_ROLLED_BACK, "%s", F.r.cause);
	cr_assert_eq(hs(0), RH_REVERTED);
	cr_assert_eq(hs(1), RH_REVERTED);
	cr_assert_eq(hs(3), RH_REVERTED);
	cr_assert(strstr(F.r.cause, "no previous revision") == NULL, "%s",
	    F.r.cause);
}

Test(rollout, first_deploy_failing_everywhere_rolls_back_nothing,
    .fini = fini)
{
	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, NULL);
	pull_all();
	step(RI_SWAP_FAILED, 0, "exited with code 1");
	cr_assert_eq(step(RI_SWAP_FAILED, 1, "exited with code 1"), 1);
	cr_assert_eq(F.r.state, RO_ROLLED_BACK, "nothing to put back");
	cr_assert_eq(count_log(RA_REVERT, NH), 0);
	cr_assert_eq(F.r.failures, 2);
}

Test(rollout, failing_canary_leaves_every_other_host_untouched,
    .fini = fini)
{
	size_t i;

	plan(2, 1, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	pull_all();
	cr_assert_eq(F.n, 2, "RA_RECORD and the canary's RA_SWAP");
	cr_assert(has(RA_SWAP, 0));
	cr_assert_eq(F.max_out, 1);
	cr_assert_eq(step(RI_SWAP_FAILED, 0, "timeout"), 1);
	cr_assert_eq(F.r.state, RO_ROLLED_BACK);
	cr_assert(strstr(F.r.cause, "batch 1/4") != NULL, "%s", F.r.cause);
	cr_assert_eq(count_log(RA_SWAP, NH), 1, "only the canary swapped");
	cr_assert_eq(count_log(RA_REVERT, NH), 0);
	for (i = 1; i < NH; i++)
		cr_assert(hs(i) == RH_SKIPPED || hs(i) == RH_WAITING,
		    "host %zu is %s", i, rollout_host_state_name(hs(i)));
}

Test(rollout, host_offline_counts_as_failed, .fini = fini)
{
	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	pull_all();
	cr_assert_eq(step(RI_OFFLINE, 1, NULL), 1);
	cr_assert_eq(hs(1), RH_FAILED);
	cr_assert_str_eq(F.r.hosts[1].cause, "host went offline");
	cr_assert_eq(F.r.failures, 1);
	cr_assert(F.r.hosts[1].unanswered, "its agent may still answer");
	/* A failure it reports afterwards changes nothing. */
	cr_assert_eq(step(RI_SWAP_FAILED, 1, "x"), 0);
	cr_assert_eq(hs(1), RH_FAILED);
	cr_assert_eq(step(RI_SWAPPED, 0, NULL), 2);
	cr_assert_eq(F.r.state, RO_ROLLING_BACK);
	cr_assert(has(RA_REVERT, 0));
	cr_assert(strstr(F.r.cause, "web-2 (host went offline)") != NULL,
	    "%s", F.r.cause);
	/* An offline host that is not in flight is not a failure. */
	cr_assert_eq(step(RI_OFFLINE, 4, NULL), 0);
	cr_assert_eq(F.r.failures, 1);
}

/* ---- late answers from hosts that went offline ------------------------- */

/* A host that failed by its own report is not waiting for an answer: a
 * success for it afterwards is not believed. */
Test(rollout, late_success_needs_an_unanswered_host, .fini = fini)
{
	fail_in_second_batch(RO_ON_FAILURE_CONTINUE, 0, prev6);
	cr_assert_not(F.r.hosts[2].unanswered);
	cr_assert_eq(step(RI_SWAPPED, 2, NULL), 0);
	cr_assert_eq(hs(2), RH_FAILED);
	cr_assert_eq(F.r.failures, 1);
}

/* The batch is still being decided: the host counts as passed. */
Test(rollout, late_success_in_its_own_batch_takes_the_failure_back,
    .fini = fini)
{
	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	pull_all();
	cr_assert_eq(step(RI_OFFLINE, 1, NULL), 1);
	cr_assert_eq(F.r.failures, 1);
	cr_assert_eq(step(RI_SWAPPED, 1, NULL), 1);
	cr_assert_eq(hs(1), RH_DONE);
	cr_assert_not(F.r.hosts[1].unanswered);
	cr_assert(strstr(F.r.hosts[1].cause, "counted failed") != NULL);
	cr_assert_eq(F.r.failures, 0);
	cr_assert_eq(step(RI_SWAPPED, 0, NULL), 3, "the next batch starts");
	cr_assert_eq(F.r.state, RO_RUNNING);
	cr_assert_eq(F.r.batch, 1);
	cr_assert_eq(step(RI_SWAPPED, 1, NULL), 0, "a repeat changes nothing");
}

/* Under continue the deployment ended failed because of the host; its late
 * success makes it a success after all. */
Test(rollout, late_success_after_the_end_says_again_how_it_ended,
    .fini = fini)
{
	plan(2, 0, 0, RO_ON_FAILURE_CONTINUE, 0, prev6);
	pull_all();
	pass_batch();
	pass_batch();
	step(RI_SWAPPED, 4, NULL);
	cr_assert_eq(step(RI_OFFLINE, 5, NULL), 1);
	cr_assert_eq(F.r.state, RO_FAILED);
	cr_assert(strstr(F.r.cause, "web-6 (host went offline)") != NULL,
	    "%s", F.r.cause);
	cr_assert_eq(step(RI_SWAPPED, 5, NULL), 1);
	cr_assert_eq(F.r.state, RO_SUCCEEDED);
	cr_assert_eq(F.r.failures, 0);
	cr_assert_str_eq(F.r.cause, "");
	cr_assert_eq(count_log(RA_REVERT, NH), 0);
}

/* Rolled back, then the host that went offline says it runs the new
 * revision: the rollback is taken up again for it alone. */
Test(rollout, late_success_after_a_rollback_puts_the_host_back,
    .fini = fini)
{
	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	pull_all();
	pass_batch();
	step(RI_SWAPPED, 2, NULL);
	cr_assert_eq(step(RI_OFFLINE, 3, NULL), 2);
	cr_assert_eq(F.r.state, RO_ROLLING_BACK);
	cr_assert(has(RA_REVERT, 2));
	step(RI_REVERTED, 2, NULL);
	step(RI_REVERTED, 0, NULL);
	step(RI_REVERTED, 1, NULL);
	cr_assert_eq(F.r.state, RO_ROLLED_BACK);
	cr_assert_eq(count_log(RA_REVERT, 3), 0);

	F.now += 60000;
	cr_assert_eq(step(RI_SWAPPED, 3, NULL), 2);
	cr_assert(has(RA_REVERT, 3));
	cr_assert_eq(hs(3), RH_REVERTING);
	cr_assert_eq(F.r.state, RO_ROLLING_BACK);
	cr_assert_eq(F.r.batch, 1);
	cr_assert_eq(F.r.failures, 0);
	/* The same answer again (ferryd died before recording the command's
	 * state, and the agent sent its report again): nothing changes. */
	cr_assert_eq(step(RI_SWAPPED, 3, NULL), 0);
	cr_assert_eq(count_log(RA_REVERT, 3), 1);
	cr_assert_eq(hs(3), RH_REVERTING);
	cr_assert(strstr(F.r.cause, "rolling back: batch 2/3") != NULL, "%s",
	    F.r.cause);
	cr_assert_eq(step(RI_REVERTED, 3, NULL), 1);
	cr_assert_eq(F.r.state, RO_ROLLED_BACK);
	cr_assert(strstr(F.r.cause, "rolled back after batch 2/3") != NULL,
	    "%s", F.r.cause);
	cr_assert(strstr(F.r.cause, "web-4 (host went offline)") != NULL,
	    "the original reason stays: %s", F.r.cause);
	cr_assert_eq(count_log(RA_REVERT, 3), 1);
	cr_assert_eq(count_log(RA_REVERT, NH), 4);
	cr_assert_eq(hs(3), RH_REVERTED);
}

/* The late answer comes while an older batch is being put back: the walk
 * returns to the host's batch once the older one is done, then goes on. */
Test(rollout, late_success_while_rolling_back_waits_for_the_batch,
    .fini = fini)
{
	size_t nrev, rev[LOGMAX];

	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	pull_all();
	pass_batch();
	pass_batch();
	step(RI_SWAPPED, 4, NULL);
	step(RI_OFFLINE, 5, NULL);
	cr_assert_eq(F.r.state, RO_ROLLING_BACK);
	step(RI_REVERTED, 4, NULL);
	cr_assert_eq(F.r.batch, 1);
	cr_assert(has(RA_REVERT, 2) && has(RA_REVERT, 3));
	/* web-6 of batch 3 answers while batch 2 reverts. */
	cr_assert_eq(step(RI_SWAPPED, 5, NULL), 1, "nothing sent yet");
	cr_assert_eq(hs(5), RH_DONE);
	cr_assert_leq(out_of_service(&F.r), 2);
	step(RI_REVERTED, 2, NULL);
	cr_assert_eq(step(RI_REVERTED, 3, NULL), 2);
	cr_assert(has(RA_REVERT, 5));
	cr_assert_eq(F.r.batch, 2);
	step(RI_REVERTED, 5, NULL);
	cr_assert_eq(F.r.batch, 0, "then on to the oldest batch");
	cr_assert(has(RA_REVERT, 0) && has(RA_REVERT, 1));
	step(RI_REVERTED, 0, NULL);
	step(RI_REVERTED, 1, NULL);
	cr_assert_eq(F.r.state, RO_ROLLED_BACK);
	nrev = revert_order(rev);
	cr_assert_eq(nrev, 6);
	cr_assert_eq(rev[3], 5);
	cr_assert_leq(F.max_out, 2);
}

/* A late success on a host that ran nothing before: the rollback takes
 * it back up, and that host goes back to running nothing too. */
Test(rollout, late_success_without_a_previous_revision_is_put_back_too,
    .fini = fini)
{
	static const int prev[NH] = { 1, 1, 1, 0, 1, 1 };

	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev);
	pull_all();
	pass_batch();
	step(RI_SWAPPED, 2, NULL);
	step(RI_OFFLINE, 3, NULL);
	step(RI_REVERTED, 2, NULL);
	step(RI_REVERTED, 0, NULL);
	step(RI_REVERTED, 1, NULL);
	cr_assert_eq(F.r.state, RO_ROLLED_BACK);
	cr_assert_eq(step(RI_SWAPPED, 3, NULL), 2);
	cr_assert_eq(F.r.state, RO_ROLLING_BACK);
	cr_assert(has(RA_REVERT, 3));
	cr_assert_eq(step(RI_REVERTED, 3, NULL), 1);
	cr_assert_eq(F.r.state, RO_ROLLED_BACK, "%s", F.r.cause);
	cr_assert(strstr(F.r.cause, "after batch 2/3") != NULL, "%s",
	    F.r.cause);
	cr_assert_eq(step(RI_SWAPPED, 3, NULL), 0, "heard again: no change");
}

/* A host counted as not put back (offline while reverting) says it was put
 * back after all: the rollback that had ended failed ends rolled back. */
Test(rollout, late_revert_ends_the_rollback_well, .fini = fini)
{
	fail_in_second_batch(RO_ON_FAILURE_ROLLBACK, 0, prev6);
	step(RI_SWAPPED, 3, NULL);
	step(RI_REVERTED, 3, NULL);
	step(RI_REVERTED, 0, NULL);
	cr_assert_eq(step(RI_OFFLINE, 1, NULL), 1);
	cr_assert_eq(F.r.state, RO_FAILED);
	cr_assert(F.r.hosts[1].unanswered);
	/* A failure reported afterwards changes nothing. */
	cr_assert_eq(step(RI_REVERT_FAILED, 1, "x"), 0);
	cr_assert_eq(step(RI_REVERTED, 1, NULL), 1);
	cr_assert_eq(hs(1), RH_REVERTED);
	cr_assert_eq(F.r.state, RO_ROLLED_BACK);
	cr_assert(strstr(F.r.cause, "rolled back after batch 2/3") != NULL,
	    "%s", F.r.cause);
	cr_assert(strstr(F.r.cause, "web-3 (unhealthy") != NULL, "%s",
	    F.r.cause);
	cr_assert_eq(step(RI_REVERTED, 1, NULL), 0);
}

/* Paused or aborted: the host is recorded as running the new revision, and
 * nothing is sent. */
Test(rollout, late_success_when_paused_or_aborted_only_records,
    .fini = fini)
{
	fail_in_second_batch(RO_ON_FAILURE_PAUSE, 0, prev6);
	step(RI_OFFLINE, 3, NULL);
	cr_assert_eq(F.r.state, RO_PAUSED);
	cr_assert_eq(F.r.failures, 2);
	cr_assert_eq(step(RI_SWAPPED, 3, NULL), 1);
	cr_assert_eq(hs(3), RH_DONE);
	cr_assert_eq(F.r.failures, 1);
	cr_assert_eq(F.r.state, RO_PAUSED);
	step(RI_ABORT, 0, NULL);
	cr_assert_eq(F.r.state, RO_ABORTED);
	cr_assert_eq(count_log(RA_REVERT, NH), 0);
	cr_assert_eq(count_log(RA_SWAP, 4), 0);
}

/* ---- max_failures and on_failure ---------------------------------------- */

Test(rollout, max_failures_one_tolerates_one, .fini = fini)
{
	fail_in_second_batch(RO_ON_FAILURE_ROLLBACK, 1, prev6);
	cr_assert_eq(step(RI_SWAPPED, 3, NULL), 3, "next batch starts");
	cr_assert_eq(F.r.state, RO_RUNNING);
	cr_assert(has(RA_SWAP, 4) && has(RA_SWAP, 5));
	pass_batch();
	cr_assert_eq(F.r.state, RO_SUCCEEDED);
	cr_assert_eq(F.r.failures, 1);
	cr_assert(strstr(F.r.cause, "1 of 6 hosts failed: web-3") != NULL,
	    "%s", F.r.cause);
	cr_assert_eq(count_log(RA_REVERT, NH), 0);
}

Test(rollout, max_failures_one_rolls_back_on_the_second, .fini = fini)
{
	fail_in_second_batch(RO_ON_FAILURE_ROLLBACK, 1, prev6);
	step(RI_SWAPPED, 3, NULL);
	step(RI_SWAPPED, 4, NULL);
	cr_assert_eq(step(RI_SWAP_FAILED, 5, "timeout"), 2);
	cr_assert_eq(F.r.state, RO_ROLLING_BACK);
	cr_assert(has(RA_REVERT, 4), "the newest batch first");
	cr_assert(strstr(F.r.cause, "2 of 6 hosts failed (max_failures 1)")
	    != NULL, "%s", F.r.cause);
}

Test(rollout, on_failure_pause_then_resume_succeeds, .fini = fini)
{
	fail_in_second_batch(RO_ON_FAILURE_PAUSE, 0, prev6);
	cr_assert_eq(step(RI_SWAPPED, 3, NULL), 1);
	cr_assert_eq(F.r.state, RO_PAUSED);
	cr_assert(strstr(F.r.cause, "paused: batch 2/3") != NULL, "%s",
	    F.r.cause);
	cr_assert(strstr(F.r.cause, "web-3 (unhealthy") != NULL, "%s",
	    F.r.cause);
	/* Time passing and a second pause do nothing. */
	F.now += 3600000;
	cr_assert_eq(tick(), 0);
	cr_assert_eq(step(RI_PAUSE, 0, NULL), 0);
	cr_assert_eq(F.wake, 0);
	cr_assert_eq(hs(4), RH_PULLED);
	cr_assert_eq(step(RI_RESUME, 0, NULL), 3);
	cr_assert_eq(F.r.state, RO_RUNNING);
	cr_assert_eq(F.r.batch, 2);
	cr_assert(has(RA_SWAP, 4) && has(RA_SWAP, 5));
	cr_assert_str_eq(F.r.cause, "");
	cr_assert_eq(F.r.failures, 1, "failures are not reset");
	pass_batch();
	cr_assert_eq(F.r.state, RO_SUCCEEDED, "the operator resumed past "
	    "the failure");
	cr_assert_eq(count_log(RA_REVERT, NH), 0);
}

/* Docker's messages run long: the deployment's cause still names every
 * failed host, and each host keeps its whole cause. */
Test(rollout, long_causes_still_name_every_failed_host, .fini = fini)
{
	char longcause[420];

	memset(longcause, 'x', sizeof(longcause) - 1);
	longcause[sizeof(longcause) - 1] = '\0';
	memcpy(longcause, "start 3472c7c8", 14);
	memcpy(longcause + sizeof(longcause) - 15, "already in use", 14);
	plan(2, 0, 0, RO_ON_FAILURE_PAUSE, 0, prev6);
	pull_all();
	pass_batch();
	cr_assert_eq(F.r.batch, 1);
	step(RI_SWAP_FAILED, 2, longcause);
	step(RI_SWAP_FAILED, 3, longcause);
	cr_assert_eq(F.r.state, RO_PAUSED);
	cr_assert(strstr(F.r.cause, "web-3 (start 3472c7c8") &&
	    strstr(F.r.cause, "...), web-4"), "%s", F.r.cause);
	cr_assert_str_eq(F.r.hosts[2].cause, longcause);
	cr_assert_str_eq(F.r.hosts[3].cause, longcause);
}

Test(rollout, on_failure_pause_fires_again_on_a_new_failure, .fini = fini)
{
	fail_in_second_batch(RO_ON_FAILURE_PAUSE, 0, prev6);
	step(RI_SWAPPED, 3, NULL);
	step(RI_RESUME, 0, NULL);
	step(RI_SWAPPED, 4, NULL);
	cr_assert_eq(step(RI_SWAP_FAILED, 5, "timeout"), 1);
	cr_assert_eq(F.r.state, RO_PAUSED, "the last batch failed too");
	cr_assert(strstr(F.r.cause, "2 of 6 hosts failed") != NULL, "%s",
	    F.r.cause);
	cr_assert_eq(step(RI_RESUME, 0, NULL), 1);
	cr_assert_eq(F.r.state, RO_SUCCEEDED);
	cr_assert_eq(F.r.failures, 2);
}

Test(rollout, on_failure_pause_then_abort, .fini = fini)
{
	fail_in_second_batch(RO_ON_FAILURE_PAUSE, 0, prev6);
	step(RI_SWAPPED, 3, NULL);
	cr_assert_eq(F.r.state, RO_PAUSED);
	cr_assert_eq(step(RI_ABORT, 0, NULL), 1, "only RA_RECORD");
	cr_assert_eq(F.r.state, RO_ABORTED);
	cr_assert(strstr(F.r.cause, "aborted by operator at batch 2/3")
	    != NULL, "%s", F.r.cause);
	cr_assert_eq(hs(0), RH_DONE, "left as they are");
	cr_assert_eq(hs(2), RH_FAILED);
	cr_assert_eq(hs(3), RH_DONE);
	cr_assert_eq(hs(4), RH_SKIPPED);
	cr_assert_eq(hs(5), RH_SKIPPED);
	cr_assert_eq(step(RI_RESUME, 0, NULL), 0);
	F.now += 60000;
	cr_assert_eq(tick(), 0);
	cr_assert_eq(count_log(RA_SWAP, 4), 0);
	cr_assert_eq(count_log(RA_REVERT, NH), 0);
	cr_assert(rollout_finished(&F.r));
}

Test(rollout, on_failure_continue_goes_on_and_fails_at_the_end,
    .fini = fini)
{
	fail_in_second_batch(RO_ON_FAILURE_CONTINUE, 0, prev6);
	cr_assert_eq(step(RI_SWAPPED, 3, NULL), 3);
	cr_assert_eq(F.r.state, RO_RUNNING);
	cr_assert(has(RA_SWAP, 4) && has(RA_SWAP, 5));
	cr_assert(strstr(F.r.cause, "continuing: batch 2/3") != NULL, "%s",
	    F.r.cause);
	pass_batch();
	cr_assert_eq(F.r.state, RO_FAILED);
	cr_assert(strstr(F.r.cause, "1 of 6 hosts failed (max_failures 0): "
	    "web-3") != NULL, "%s", F.r.cause);
	cr_assert_eq(count_log(RA_SWAP, NH), NH);
	cr_assert_eq(count_log(RA_REVERT, NH), 0);
}

/* ---- the operator ------------------------------------------------------- */

Test(rollout, operator_pause_and_resume_mid_run, .fini = fini)
{
	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	pull_all();
	pass_batch();
	cr_assert_eq(F.r.batch, 1);
	/* Pause while batch 2 is in flight: it finishes, nothing starts. */
	cr_assert_eq(step(RI_PAUSE, 0, NULL), 1);
	cr_assert_eq(F.r.state, RO_RUNNING);
	cr_assert(F.r.flags & ROLLOUT_PAUSING);
	cr_assert_eq(step(RI_PAUSE, 0, NULL), 0, "already requested");
	cr_assert_eq(step(RI_SWAPPED, 2, NULL), 1);
	cr_assert_eq(F.r.state, RO_RUNNING);
	cr_assert_eq(step(RI_SWAPPED, 3, NULL), 1, "no RA_SWAP");
	cr_assert_eq(F.r.state, RO_PAUSED);
	cr_assert_eq(F.r.flags, 0);
	cr_assert(strstr(F.r.cause, "paused by operator after batch 2/3")
	    != NULL, "%s", F.r.cause);
	cr_assert_eq(out_of_service(&F.r), 0);
	F.now += 600000;
	cr_assert_eq(tick(), 0);
	cr_assert_eq(hs(4), RH_PULLED);
	cr_assert_eq(step(RI_RESUME, 0, NULL), 3);
	cr_assert(has(RA_SWAP, 4) && has(RA_SWAP, 5));
	pass_batch();
	cr_assert_eq(F.r.state, RO_SUCCEEDED);
	cr_assert_leq(F.max_out, 2);
}

Test(rollout, resume_withdraws_a_pause_not_yet_taken, .fini = fini)
{
	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	pull_all();
	step(RI_PAUSE, 0, NULL);
	cr_assert_eq(step(RI_RESUME, 0, NULL), 1);
	cr_assert_eq(F.r.flags, 0);
	pass_batch();
	cr_assert_eq(F.r.state, RO_RUNNING, "no pause taken");
	cr_assert(has(RA_SWAP, 2) && has(RA_SWAP, 3));
}

Test(rollout, pause_during_the_last_batch_just_ends, .fini = fini)
{
	plan(3, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	pull_all();
	pass_batch();
	step(RI_PAUSE, 0, NULL);
	pass_batch();
	cr_assert_eq(F.r.state, RO_SUCCEEDED);
}

Test(rollout, pause_during_pulling_waits_before_batch_one, .fini = fini)
{
	size_t i;

	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	tick();
	cr_assert_eq(step(RI_PAUSE, 0, NULL), 1);
	for (i = 0; i < NH; i++)
		step(RI_PULLED, i, NULL);
	cr_assert_eq(F.r.state, RO_PAUSED);
	cr_assert(strstr(F.r.cause, "before batch 1/3") != NULL, "%s",
	    F.r.cause);
	cr_assert_eq(count_log(RA_SWAP, NH), 0);
	cr_assert_eq(step(RI_RESUME, 0, NULL), 3);
	cr_assert(has(RA_SWAP, 0) && has(RA_SWAP, 1));
}

Test(rollout, abort_during_pulling, .fini = fini)
{
	size_t i;

	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	tick();
	step(RI_PULLED, 0, NULL);
	cr_assert_eq(step(RI_ABORT, 0, NULL), 1);
	cr_assert_eq(F.r.state, RO_ABORTED);
	cr_assert_str_eq(F.r.cause, "aborted by operator during the "
	    "pre-pull");
	for (i = 0; i < NH; i++)
		cr_assert_eq(hs(i), RH_SKIPPED);
	for (i = 0; i < NH; i++)
		cr_assert_eq(step(RI_PULLED, i, NULL), 0);
	cr_assert_eq(count_log(RA_SWAP, NH), 0);
	cr_assert_eq(step(RI_ABORT, 0, NULL), 0, "once is enough");
}

Test(rollout, abort_before_the_start, .fini = fini)
{
	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	cr_assert_eq(step(RI_ABORT, 0, NULL), 1);
	cr_assert_eq(F.r.state, RO_ABORTED);
	cr_assert_eq(hs(0), RH_SKIPPED);
	cr_assert_eq(tick(), 0, "no pre-pull after an abort");
	cr_assert_eq(count_log(RA_PULL, NH), 0);
}

Test(rollout, abort_mid_batch_lets_in_flight_hosts_report, .fini = fini)
{
	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	pull_all();
	pass_batch();
	step(RI_SWAPPED, 2, NULL);
	cr_assert_eq(step(RI_ABORT, 0, NULL), 1);
	cr_assert_eq(F.r.state, RO_ABORTED);
	cr_assert_eq(hs(3), RH_SWAPPING, "still in flight");
	cr_assert_eq(hs(4), RH_SKIPPED);
	cr_assert(rollout_finished(&F.r));
	/* Its result lands, and starts nothing. */
	cr_assert_eq(step(RI_SWAP_FAILED, 3, "timeout"), 1);
	cr_assert_eq(hs(3), RH_FAILED);
	cr_assert_eq(F.r.failures, 1);
	cr_assert_eq(F.r.state, RO_ABORTED, "no rollback after an abort");
	cr_assert_eq(count_log(RA_REVERT, NH), 0);
	cr_assert_eq(count_log(RA_SWAP, NH), 4);
}

Test(rollout, abort_while_rolling_back, .fini = fini)
{
	fail_in_second_batch(RO_ON_FAILURE_ROLLBACK, 0, prev6);
	step(RI_SWAPPED, 3, NULL);
	cr_assert_eq(F.r.state, RO_ROLLING_BACK);
	cr_assert_eq(step(RI_PAUSE, 0, NULL), 0, "a rollback is not paused");
	cr_assert_eq(step(RI_ABORT, 0, NULL), 1);
	cr_assert_eq(F.r.state, RO_ABORTED);
	cr_assert(strstr(F.r.cause, "while rolling back batch 2/3") != NULL,
	    "%s", F.r.cause);
	cr_assert_eq(hs(3), RH_REVERTING);
	cr_assert_eq(step(RI_REVERTED, 3, NULL), 1, "no more reverts");
	cr_assert_eq(hs(3), RH_REVERTED);
	cr_assert_eq(hs(0), RH_DONE, "left on the new revision");
	cr_assert_eq(count_log(RA_REVERT, NH), 1);
}

/* ---- time --------------------------------------------------------------- */

Test(rollout, pause_between_batches_via_wake_and_ticks, .fini = fini)
{
	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 30000, prev6);
	pull_all();
	cr_assert_eq(F.wake, 0, "batch 1 starts at once");
	step(RI_SWAPPED, 0, NULL);
	F.now = 5000;
	cr_assert_eq(step(RI_SWAPPED, 1, NULL), 1, "RA_RECORD, no RA_SWAP");
	cr_assert_eq(F.r.batch, 1);
	cr_assert_eq(F.r.next_batch_at_ms, 35000);
	cr_assert_eq(F.wake, 35000);
	cr_assert_eq(hs(2), RH_PULLED);
	F.now = 34999;
	cr_assert_eq(tick(), 0);
	cr_assert_eq(F.wake, 35000, "still waiting");
	F.now = 35000;
	cr_assert_eq(tick(), 3);
	cr_assert(has(RA_SWAP, 2) && has(RA_SWAP, 3));
	cr_assert_eq(F.wake, 0);
	cr_assert_eq(F.r.next_batch_at_ms, 0);
	/* Any input after the pause starts the batch, not just a tick. */
	step(RI_SWAPPED, 2, NULL);
	F.now = 40000;
	step(RI_SWAPPED, 3, NULL);
	cr_assert_eq(F.wake, 70000);
	F.now = 99999;
	cr_assert_eq(step(RI_SWAPPED, 0, NULL), 3, "a stale result at "
	    "99999 starts batch 3");
	cr_assert(has(RA_SWAP, 4) && has(RA_SWAP, 5));
	cr_assert_eq(hs(0), RH_DONE);
	pass_batch();
	cr_assert_eq(F.r.state, RO_SUCCEEDED);
	cr_assert_eq(F.wake, 0, "no pause after the last batch");
}

Test(rollout, operator_pause_between_batches_is_immediate, .fini = fini)
{
	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 30000, prev6);
	pull_all();
	pass_batch();
	cr_assert_eq(F.wake, 31000);
	cr_assert_eq(step(RI_PAUSE, 0, NULL), 1);
	cr_assert_eq(F.r.state, RO_PAUSED);
	cr_assert(strstr(F.r.cause, "before batch 2/3") != NULL, "%s",
	    F.r.cause);
	cr_assert_eq(F.wake, 0);
	F.now = 40000;
	cr_assert_eq(tick(), 0, "paused past the pause: nothing starts");
	F.now = 41000;
	cr_assert_eq(step(RI_RESUME, 0, NULL), 3, "resume starts at once");
	cr_assert(has(RA_SWAP, 2) && has(RA_SWAP, 3));
}

/* ---- inputs that do not apply ------------------------------------------- */

Test(rollout, results_for_hosts_not_in_flight_are_ignored, .fini = fini)
{
	struct rollout_host before[NH];

	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	pull_all();
	memcpy(before, F.r.hosts, sizeof(before));
	/* web-5 is in a later batch, web-1 is not reverting. */
	cr_assert_eq(step(RI_SWAPPED, 4, NULL), 0);
	cr_assert_eq(step(RI_SWAP_FAILED, 4, "x"), 0);
	cr_assert_eq(step(RI_REVERTED, 0, NULL), 0);
	cr_assert_eq(step(RI_REVERT_FAILED, 0, "x"), 0);
	cr_assert_eq(step(RI_PULLED, 0, NULL), 0);
	cr_assert_eq(step(RI_PULL_FAILED, 0, "x"), 0);
	cr_assert_eq(step(RI_SWAPPED, NH, NULL), 0, "no such host");
	cr_assert_eq(step(RI_OFFLINE, 99, NULL), 0);
	cr_assert_eq(step(RI_RESUME, 0, NULL), 0, "not paused");
	cr_assert_eq(memcmp(before, F.r.hosts, sizeof(before)), 0);
	cr_assert_eq(F.r.failures, 0);
	cr_assert_eq(F.r.state, RO_RUNNING);
	/* A repeated result counts once. */
	cr_assert_eq(step(RI_SWAP_FAILED, 0, "x"), 1);
	cr_assert_eq(step(RI_SWAP_FAILED, 0, "x"), 0);
	cr_assert_eq(step(RI_SWAPPED, 0, NULL), 0);
	cr_assert_eq(F.r.failures, 1);
}

/* ---- a restart -------------------------------------------------------- */

Test(rollout, a_pause_request_survives_a_restart, .fini = fini)
{
	struct rollout saved;
	uint64_t flags;

	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	pull_all();
	step(RI_PAUSE, 0, NULL);
	/* What the store keeps: the fields, and the flags packed. */
	flags = rollout_flags(&F.r);
	cr_assert_neq(flags, 0);
	saved = F.r;
	saved.flags = 0;
	F.r = saved;
	rollout_set_flags(&F.r, flags | 0x100);
	cr_assert_eq(F.r.flags, ROLLOUT_PAUSING, "unknown bits ignored");
	cr_assert(rollout_check(&F.r));
	pass_batch();
	cr_assert_eq(F.r.state, RO_PAUSED, "the request was not lost");
	cr_assert_eq(rollout_flags(&F.r), 0);
}

/* ---- the invariant itself ----------------------------------------------- */

Test(rollout, check_catches_broken_states, .fini = fini)
{
	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	pull_all();
	cr_assert(rollout_check(&F.r));

	F.r.hosts[2].state = RH_SWAPPING;	/* three out of service */
	cr_assert_not(rollout_check(&F.r));
	F.r.hosts[2].state = RH_PULLED;

	F.r.failures = 1;			/* nothing failed */
	cr_assert_not(rollout_check(&F.r));
	F.r.failures = 0;

	F.r.hosts[0].state = (enum rollout_host_state)42;
	cr_assert_not(rollout_check(&F.r));
	F.r.hosts[0].state = RH_SWAPPING;

	F.r.state = (enum rollout_state)42;
	cr_assert_not(rollout_check(&F.r));
	F.r.state = RO_SUCCEEDED;		/* hosts still in flight */
	cr_assert_not(rollout_check(&F.r));
	F.r.state = RO_PAUSED;
	cr_assert_not(rollout_check(&F.r));
	F.r.state = RO_RUNNING;

	F.r.hosts[5].batch = 7;			/* a gap in the batches */
	cr_assert_not(rollout_check(&F.r));
	F.r.hosts[5].batch = 2;

	F.r.hosts[3].unanswered = 1;		/* only a failed host */
	cr_assert_not(rollout_check(&F.r));
	F.r.hosts[3].unanswered = 0;

	F.r.flags = ROLLOUT_PAUSING;
	cr_assert(rollout_check(&F.r));
	F.r.state = RO_ROLLING_BACK;
	cr_assert_not(rollout_check(&F.r));
	F.r.state = RO_RUNNING;
	F.r.flags = 0;
	cr_assert(rollout_check(&F.r), "restored");
}

Test(rollout, names)
{
	cr_assert_str_eq(rollout_state_name(RO_ROLLING_BACK), "rolling_back");
	cr_assert_str_eq(rollout_state_name(RO_ABORTED), "aborted");
	cr_assert_str_eq(rollout_state_name((enum rollout_state)99),
	    "unknown");
	cr_assert_str_eq(rollout_host_state_name(RH_REVERT_FAILED),
	    "revert_failed");
	cr_assert_str_eq(rollout_host_state_name(RH_SKIPPED), "skipped");
	cr_assert_str_eq(rollout_host_state_name((enum rollout_host_state)
	    -1), "unknown");
}

/* ---- the shell's own findings go in as inputs ------------------------------ */

Test(rollout, resolve_failed_ends_a_planned_deployment_and_nothing_else,
    .fini = fini)
{
	size_t i;

	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	cr_assert_eq(step(RI_RESOLVE_FAILED, 0, "cannot resolve img: 404"), 1);
	cr_assert_eq(F.r.state, RO_FAILED);
	cr_assert_str_eq(F.r.cause, "cannot resolve img: 404");
	for (i = 0; i < NH; i++)
		cr_assert_eq(hs(i), RH_SKIPPED);
	cr_assert_eq(count_log(RA_PULL, NH), 0);
	/* Once the engine has started, it is no input of its own. */
	rollout_free(&F.r);
	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	tick();
	cr_assert_eq(F.r.state, RO_PULLING);
	cr_assert_eq(step(RI_RESOLVE_FAILED, 0, "late"), 0);
	cr_assert_eq(F.r.state, RO_PULLING);
}

Test(rollout, a_copy_steps_apart_from_its_original, .fini = fini)
{
	struct rollout c;
	struct rollout_decision d[ROLLOUT_DECISIONS(NH)];
	struct rollout_event ev = { RI_TICK, 0, NULL, 0 };
	uint64_t wake;

	plan(2, 0, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	cr_assert_eq(rollout_copy(&c, &F.r), 0);
	cr_assert_neq(c.hosts, F.r.hosts);
	cr_assert_gt(rollout_step(&c, &ev, 2000, d, ROLLOUT_DECISIONS(NH), &wake), 0);
	cr_assert_eq(c.state, RO_PULLING);
	cr_assert_eq(c.hosts[0].state, RH_PULLING);
	/* The original has not moved. */
	cr_assert_eq(F.r.state, RO_PLANNED);
	cr_assert_eq(F.r.hosts[0].state, RH_WAITING);
	rollout_free(&c);
}

/* ---- canary and blue-green ---------------------------------------------- */

/* plan_canary plans a canary of nc hosts (NH: all) in batches of 2 after
 * it, with the steps given as weight/for pairs (for 0: the step waits for
 * promote), judged every 1000 ms with failure_limit 2 when analysis. */
static void
plan_canary(uint32_t nc, int analysis, int inconclusive_fail, size_t nsteps,
    const uint32_t *weights, const uint64_t *fors)
{
	struct rollout_canary c;
	char why[256] = "";
	size_t i;

	plan(2, nc, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	memset(&c, 0, sizeof(c));
	c.strategy = RS_CANARY;
	c.nsteps = (uint32_t)nsteps;
	for (i = 0; i < nsteps; i++) {
		c.steps[i].weight = weights[i];
		c.steps[i].for_ms = fors[i];
		c.steps[i].wait = fors[i] == 0;
	}
	c.analysis = analysis;
	c.interval_ms = 1000;
	c.failure_limit = 2;
	c.inconclusive_fail = inconclusive_fail;
	c.progress_deadline_ms = 10000;
	cr_assert_eq(rollout_set_canary(&F.r, &c, why, sizeof(why)), 0, "%s",
	    why);
}

/* pull_to_canary: the pre-pull passes everywhere; the first step's
 * weight goes to every canary host (the first nc) at once. */
static void
pull_to_canary(size_t nc)
{
	size_t i;

	tick();
	for (i = 0; i < NH; i++)
		step(RI_PULLED, i, NULL);
	cr_assert_eq(F.r.state, RO_CANARY);
	for (i = 0; i < NH; i++) {
		cr_assert_eq(has(RA_WEIGH, i), i < nc, "host %zu", i);
		cr_assert_eq(hs(i), i < nc ? RH_WEIGHING : RH_PULLED);
	}
}

/* weigh_all: every canary host takes its weight. */
static void
weigh_all(size_t nc)
{
	size_t i;

	for (i = 0; i < nc; i++)
		cr_assert_gt(step(RI_SWAPPED, i, NULL), 0);
	for (i = 0; i < nc; i++)
		cr_assert_eq(hs(i), RH_BESIDE);
	cr_assert_eq(F.r.phase, CP_RUNNING);
}

static size_t
verdict_in(enum rollout_verdict v, const char *cause)
{
	struct rollout_event ev = { RI_VERDICT, 0, cause, v };
	size_t n;

	F.wake = 12345;
	n = rollout_step(&F.r, &ev, F.now, F.d, ROLLOUT_DECISIONS(NH),
	    &F.wake);
	F.n = n;
	cr_assert(rollout_check(&F.r));
	for (size_t i = 1; i < n; i++)
		F.log[F.nlog++] = F.d[i];
	return n;
}

/* judge: the interval is due; the engine asks, and gets v. */
static void
judge(enum rollout_verdict v, const char *cause)
{
	F.now += 1000;
	tick();
	cr_assert(has(RA_JUDGE, 0), "a verdict is asked when due");
	cr_assert(F.r.flags & ROLLOUT_JUDGING);
	cr_assert_gt(verdict_in(v, cause), 0);
}

Test(canary, steps_weights_then_the_canary_hosts_complete_and_the_rest_roll,
    .fini = fini)
{
	static const uint32_t w[] = { 5, 25, 50 };
	static const uint64_t f[] = { 2000, 2000, 2000 };
	size_t i;

	plan_canary(2, 1, 0, 3, w, f);
	pull_to_canary(2);
	cr_assert_eq(F.r.step, 0);
	weigh_all(2);
	cr_assert(has(RA_MARK, 0), "the first interval starts with the step");
	cr_assert_eq(F.wake, F.now + 1000, "woken when the interval is due");
	/* Two passing intervals: the step has run its 2 s. */
	judge(RV_PASS, "pass");
	cr_assert(has(RA_MARK, 0), "a verdict starts the next interval");
	cr_assert_eq(F.r.passes, 1);
	judge(RV_PASS, "pass");
	/* The step ended on the same tick: step 2's weight goes out. */
	tick();
	cr_assert_eq(F.r.step, 1);
	cr_assert_eq(F.r.phase, CP_WEIGHING);
	cr_assert_eq(count_log(RA_WEIGH, 0), 2);
	weigh_all(2);
	judge(RV_PASS, "pass");
	judge(RV_PASS, "pass");
	tick();
	cr_assert_eq(F.r.step, 2);
	weigh_all(2);
	judge(RV_PASS, "pass");
	judge(RV_PASS, "pass");
	/* Past the steps: the canary hosts take the new revision alone. */
	cr_assert_eq(F.r.state, RO_RUNNING);
	cr_assert_eq(F.r.phase, CP_DONE);
	cr_assert(has(RA_SWAP, 0) && has(RA_SWAP, 1) && !has(RA_SWAP, 2));
	cr_assert(has(RA_MARK, 0), "the analysis goes on");
	cr_assert_eq(count_log(RA_WEIGH, NH), 6, "3 steps x 2 hosts");
	pass_batch();
	cr_assert_eq(F.r.batch, 1);
	cr_assert(has(RA_SWAP, 2) && has(RA_SWAP, 3));
	/* The analysis goes on while the batches roll. */
	judge(RV_INCONCLUSIVE, "few");
	cr_assert_eq(F.r.state, RO_RUNNING, "inconclusive past the steps "
	    "changes nothing");
	pass_batch();
	pass_batch();
	cr_assert_eq(F.r.state, RO_SUCCEEDED);
	for (i = 0; i < NH; i++)
		cr_assert_eq(hs(i), RH_DONE);
	cr_assert_eq(F.max_out, 2, "no more than a batch out of service");
}

Test(canary, failing_intervals_put_every_canary_host_back_at_once,
    .fini = fini)
{
	static const uint32_t w[] = { 5, 50 };
	static const uint64_t f[] = { 60000, 60000 };
	size_t rev[LOGMAX], n;

	plan_canary(3, 1, 0, 2, w, f);
	pull_to_canary(3);
	weigh_all(3);
	judge(RV_FAIL, "error rate 2.4% > 1%");
	cr_assert_eq(F.r.state, RO_CANARY, "one fail of failure_limit 2");
	cr_assert(has(RA_MARK, 0));
	judge(RV_FAIL, "error rate 2.1% > 1% (stable 0.1%) over 1 s");
	cr_assert_eq(F.r.state, RO_ROLLING_BACK);
	n = revert_order(rev);
	cr_assert_eq(n, 3, "every canary host at once");
	cr_assert(has(RA_REVERT, 0) && has(RA_REVERT, 1) &&
	    has(RA_REVERT, 2));
	for (size_t i = 3; i < NH; i++)
		cr_assert_eq(hs(i), RH_SKIPPED);
	step(RI_REVERTED, 0, NULL);
	step(RI_REVERTED, 1, NULL);
	step(RI_REVERTED, 2, NULL);
	cr_assert_eq(F.r.state, RO_ROLLED_BACK);
	cr_assert(strstr(F.r.cause, "step 1/2 failed its analysis") != NULL,
	    "%s", F.r.cause);
	cr_assert(strstr(F.r.cause, "error rate 2.1% > 1% (stable 0.1%)") !=
	    NULL, "the cause cites the figures: %s", F.r.cause);
}

Test(canary, too_little_traffic_pauses_and_never_passes_then_the_deadline_ends_it,
    .fini = fini)
{
	static const uint32_t w[] = { 5 };
	static const uint64_t f[] = { 500 };

	plan_canary(NH, 1, 0, 1, w, f);
	pull_to_canary(NH);
	weigh_all(NH);
	/* The step's 500 ms are over, but no interval has passed. */
	F.now += 600;
	tick();
	cr_assert_eq(F.r.state, RO_CANARY, "not passed on no evidence");
	judge(RV_INCONCLUSIVE, "inconclusive: 37 requests < min_requests 200");
	cr_assert_eq(F.r.state, RO_PAUSED);
	cr_assert(F.r.flags & ROLLOUT_STALLED);
	cr_assert(strstr(F.r.cause, "paused at step 1/1: inconclusive") !=
	    NULL, "%s", F.r.cause);
	cr_assert_eq(F.wake, F.r.progress_ms + 10000, "the deadline counts");
	F.now = F.wake;
	tick();
	cr_assert_eq(F.r.state, RO_ROLLING_BACK);
	cr_assert(strstr(F.r.cause, "no progress for 10s") != NULL, "%s",
	    F.r.cause);
	cr_assert_eq(count_log(RA_REVERT, NH), NH);
}

Test(canary, inconclusive_fail_counts_as_a_failed_interval, .fini = fini)
{
	static const uint32_t w[] = { 10 };
	static const uint64_t f[] = { 60000 };

	plan_canary(2, 1, 1, 1, w, f);
	pull_to_canary(2);
	weigh_all(2);
	judge(RV_INCONCLUSIVE, "few");
	cr_assert_eq(F.r.state, RO_CANARY);
	cr_assert_eq(F.r.fails, 1);
	judge(RV_INCONCLUSIVE, "few");
	cr_assert_eq(F.r.state, RO_ROLLING_BACK);
}

Test(canary, a_step_without_for_waits_for_promote, .fini = fini)
{
	static const uint32_t w[] = { 5, 50 };
	static const uint64_t f[] = { 1000, 0 };

	plan_canary(2, 0, 0, 2, w, f);
	pull_to_canary(2);
	weigh_all(2);
	cr_assert_not(has(RA_MARK, 0), "no analysis: no intervals");
	cr_assert_eq(F.wake, F.now + 1000);
	F.now += 1000;
	tick();
	cr_assert_eq(F.r.step, 1);
	weigh_all(2);
	cr_assert_eq(F.wake, 0, "nothing but promote ends this step");
	F.now += 3600000;
	cr_assert_eq(tick(), 0);
	cr_assert_gt(step(RI_PROMOTE, 0, NULL), 0);
	cr_assert_eq(F.r.state, RO_RUNNING);
	cr_assert(has(RA_SWAP, 0) && has(RA_SWAP, 1));
}

Test(canary, promote_during_a_weight_change_waits_for_it, .fini = fini)
{
	static const uint32_t w[] = { 5, 25, 50 };
	static const uint64_t f[] = { 1000, 1000, 1000 };

	plan_canary(2, 0, 0, 3, w, f);
	pull_to_canary(2);
	cr_assert_gt(step(RI_PROMOTE, 0, NULL), 0);
	cr_assert_eq(F.r.state, RO_CANARY);
	cr_assert(F.r.flags & ROLLOUT_PROMOTING);
	step(RI_SWAPPED, 0, NULL);
	cr_assert_eq(F.r.state, RO_CANARY);
	step(RI_SWAPPED, 1, NULL);
	cr_assert_eq(F.r.state, RO_RUNNING, "the steps left are skipped");
	cr_assert(has(RA_SWAP, 0) && has(RA_SWAP, 1));
	cr_assert_eq(count_log(RA_WEIGH, NH), 2, "only the first step's");
}

Test(canary, time_paused_does_not_count_in_the_step, .fini = fini)
{
	static const uint32_t w[] = { 5, 50 };
	static const uint64_t f[] = { 5000, 5000 };

	plan_canary(2, 0, 0, 2, w, f);
	pull_to_canary(2);
	weigh_all(2);
	F.now += 3000;
	cr_assert_gt(step(RI_PAUSE, 0, NULL), 0);
	cr_assert_eq(F.r.state, RO_PAUSED);
	cr_assert(strstr(F.r.cause, "paused by operator at step 1/2") != NULL,
	    "%s", F.r.cause);
	F.now += 60000;
	cr_assert_eq(tick(), 0);
	cr_assert_gt(step(RI_RESUME, 0, NULL), 0);
	cr_assert_eq(F.r.state, RO_CANARY);
	cr_assert_eq(F.wake, F.now + 2000, "2 s of the step's 5 s are left");
	F.now += 1999;
	tick();
	cr_assert_eq(F.r.step, 0);
	F.now += 1;
	tick();
	cr_assert_eq(F.r.step, 1);
}

Test(canary, abort_puts_the_canary_back_then_ends_aborted, .fini = fini)
{
	static const uint32_t w[] = { 20 };
	static const uint64_t f[] = { 60000 };

	plan_canary(2, 1, 0, 1, w, f);
	pull_to_canary(2);
	weigh_all(2);
	cr_assert_gt(step(RI_ABORT, 0, "operator"), 0);
	cr_assert_eq(F.r.state, RO_ROLLING_BACK);
	cr_assert(has(RA_REVERT, 0) && has(RA_REVERT, 1));
	step(RI_REVERTED, 0, NULL);
	step(RI_REVERTED, 1, NULL);
	cr_assert_eq(F.r.state, RO_ABORTED);
	cr_assert(strstr(F.r.cause, "aborted by operator at step 1/1") !=
	    NULL, "%s", F.r.cause);
}

Test(canary, a_host_that_fails_its_weight_fails_the_canary, .fini = fini)
{
	static const uint32_t w[] = { 5 };
	static const uint64_t f[] = { 60000 };

	plan_canary(3, 1, 0, 1, w, f);
	pull_to_canary(3);
	step(RI_SWAPPED, 0, NULL);
	step(RI_SWAP_FAILED, 1, "health check failed");
	cr_assert_eq(F.r.state, RO_CANARY, "decided once none is in flight");
	step(RI_SWAPPED, 2, NULL);
	cr_assert_eq(F.r.state, RO_ROLLING_BACK);
	cr_assert(has(RA_REVERT, 0) && !has(RA_REVERT, 1) &&
	    has(RA_REVERT, 2), "the failed host was put back by its agent");
	step(RI_REVERTED, 0, NULL);
	step(RI_REVERTED, 2, NULL);
	cr_assert_eq(F.r.state, RO_ROLLED_BACK);
	cr_assert(strstr(F.r.cause, "web-2 (health check failed)") != NULL,
	    "%s", F.r.cause);
}

Test(canary, a_fail_past_the_steps_rolls_back_once_the_batch_lands,
    .fini = fini)
{
	static const uint32_t w[] = { 50 };
	static const uint64_t f[] = { 1000 };

	plan_canary(2, 1, 0, 1, w, f);
	pull_to_canary(2);
	weigh_all(2);
	judge(RV_PASS, "ok");
	tick();
	cr_assert_eq(F.r.state, RO_RUNNING);
	pass_batch();
	cr_assert_eq(F.r.batch, 1);
	judge(RV_FAIL, "p95 412 ms > 1.5x stable");
	judge(RV_FAIL, "p95 430 ms > 1.5x stable");
	cr_assert_eq(F.r.state, RO_RUNNING, "batch 2 is in flight");
	cr_assert(F.r.flags & ROLLOUT_FAILING);
	pass_batch();
	cr_assert_eq(F.r.state, RO_ROLLING_BACK);
	cr_assert(strstr(F.r.cause, "p95 430 ms") != NULL, "%s", F.r.cause);
	cr_assert(has(RA_REVERT, 2) && has(RA_REVERT, 3));
}

/* Blue-green: every host prepared at weight 0, then switched together. */
static void
plan_blue_green(int analysis)
{
	struct rollout_canary c;
	char why[256] = "";

	plan(2, NH, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	memset(&c, 0, sizeof(c));
	c.strategy = RS_BLUE_GREEN;
	c.nsteps = 2;
	c.steps[0].weight = 0;
	c.steps[1].weight = 100;
	c.steps[1].for_ms = 600000;
	c.analysis = analysis;
	c.interval_ms = 1000;
	c.failure_limit = 1;
	c.progress_deadline_ms = 60000;
	cr_assert_eq(rollout_set_canary(&F.r, &c, why, sizeof(why)), 0, "%s",
	    why);
}

Test(canary, blue_green_prepares_everywhere_then_switches_all_at_once,
    .fini = fini)
{
	size_t i;

	plan_blue_green(1);
	pull_to_canary(NH);
	for (i = 0; i + 1 < NH; i++) {
		step(RI_SWAPPED, i, NULL);
		cr_assert_eq(F.r.step, 0, "no switch before every host is "
		    "ready");
	}
	step(RI_SWAPPED, NH - 1, NULL);
	cr_assert_not(has(RA_MARK, 0), "weight 0 is not judged");
	cr_assert_eq(F.r.step, 1);
	for (i = 0; i < NH; i++)
		cr_assert(has(RA_WEIGH, i), "every host switches in one step");
	weigh_all(NH);
	cr_assert(has(RA_MARK, 0));
	judge(RV_PASS, "ok");
	/* keep_old runs out with a pass: the old revisions stop. */
	F.now += 598000;
	judge(RV_PASS, "ok");
	cr_assert_eq(F.r.state, RO_RUNNING);
	for (i = 0; i < NH; i++)
		cr_assert(has(RA_SWAP, i));
	pass_batch();
	cr_assert_eq(F.r.state, RO_SUCCEEDED);
}

Test(canary, blue_green_switches_back_in_one_round_on_request, .fini = fini)
{
	size_t i;

	plan_blue_green(0);
	pull_to_canary(NH);
	for (i = 0; i < NH; i++)
		step(RI_SWAPPED, i, NULL);
	weigh_all(NH);
	cr_assert_eq(F.r.step, 1);
	cr_assert_gt(step(RI_ROLLBACK, 0, "operator"), 0);
	cr_assert_eq(F.r.state, RO_ROLLING_BACK);
	for (i = 0; i < NH; i++)
		cr_assert(has(RA_REVERT, i), "all of them at once");
	for (i = 0; i < NH; i++)
		step(RI_REVERTED, i, NULL);
	cr_assert_eq(F.r.state, RO_ROLLED_BACK);
	cr_assert(strstr(F.r.cause, "switched back by operator at the "
	    "switch") != NULL, "%s", F.r.cause);
}

Test(canary, set_canary_refuses_what_cannot_run)
{
	struct rollout_canary c;
	char why[256];

	plan(2, 2, 0, RO_ON_FAILURE_ROLLBACK, 0, prev6);
	memset(&c, 0, sizeof(c));
	c.strategy = RS_CANARY;
	cr_assert_eq(rollout_set_canary(&F.r, &c, why, sizeof(why)),
	    FERR_ARG);
	cr_assert(strstr(why, "1 to 16 steps") != NULL, "%s", why);
	c.nsteps = 1;
	c.steps[0].weight = 101;
	cr_assert_eq(rollout_set_canary(&F.r, &c, why, sizeof(why)),
	    FERR_ARG);
	cr_assert(strstr(why, "above 100%") != NULL, "%s", why);
	c.steps[0].weight = 5;
	c.strategy = RS_BLUE_GREEN;
	cr_assert_eq(rollout_set_canary(&F.r, &c, why, sizeof(why)),
	    FERR_ARG);
	cr_assert(strstr(why, "every host together") != NULL, "%s", why);
	cr_assert_eq(F.r.cfg.strategy, RS_ROLLING, "r unchanged");
	rollout_free(&F.r);
}

Test(canary, a_restart_while_judging_asks_again_over_the_same_interval,
    .fini = fini)
{
	static const uint32_t w[] = { 5 };
	static const uint64_t f[] = { 60000 };
	uint64_t since;

	plan_canary(2, 1, 0, 1, w, f);
	pull_to_canary(2);
	weigh_all(2);
	since = F.r.interval_since_ms;
	F.now += 1000;
	tick();
	cr_assert(has(RA_JUDGE, 0));
	/* ferryd dies before the verdict: what the store keeps comes back. */
	rollout_set_flags(&F.r, rollout_flags(&F.r));
	cr_assert_not(F.r.flags & ROLLOUT_JUDGING, "nobody is judging now");
	F.now += 5000;
	tick();
	cr_assert(has(RA_JUDGE, 0), "asked again");
	cr_assert_not(has(RA_MARK, 0), "the interval is not restarted");
	cr_assert_eq(F.r.interval_since_ms, since, "nothing lost: the "
	    "interval runs from the same marks");
	cr_assert_gt(verdict_in(RV_PASS, "ok over 6 s"), 0);
	cr_assert_eq(F.r.intervals, 1, "counted once");
}
