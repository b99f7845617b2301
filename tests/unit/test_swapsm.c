/* SPDX-License-Identifier: Apache-2.0 */
// links: agent/swapsm.c
/* test_swapsm.c: the swap's state machine, driven through every state and
 * every input, and its checker fed broken machines. */
#include <string.h>

#include <criterion/criterion.h>

#include "ferr.h"
#include "swapsm.h"

#define OLD	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define NEW	"fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define NAME	"ferry-web-1-web-r2"

/* step feeds in (SWI_CREATED: of NEW). */
static int
step(struct swapsm *sm, enum swapsm_input in)
{
	struct swapsm_event ev = { in, NEW, 0 };

	return swapsm_step(sm, &ev);
}

static int
reverted(struct swapsm *sm, int old_runs)
{
	struct swapsm_event ev = { SWI_REVERTED, NULL, old_runs };

	return swapsm_step(sm, &ev);
}

/* record says the journal holds sm's state, which must be allowed. */
static void
record(struct swapsm *sm)
{
	cr_assert_eq(step(sm, SWI_RECORDED), 0, "recording %s",
	    swapsm_state_name(sm->state));
}

/* ran: what the machine says runs, and that it is consistent. */
static void
ran(const struct swapsm *sm, enum swapsm_state state, int old_runs,
    int new_runs)
{
	cr_assert(swapsm_check(sm), "inconsistent in %s",
	    swapsm_state_name(sm->state));
	cr_assert_eq(sm->state, state, "in %s, not %s",
	    swapsm_state_name(sm->state), swapsm_state_name(state));
	cr_assert_eq(sm->old_runs, old_runs, "%s: old_runs %d",
	    swapsm_state_name(state), sm->old_runs);
	cr_assert_eq(sm->new_runs, new_runs, "%s: new_runs %d",
	    swapsm_state_name(state), sm->new_runs);
}

/* go feeds in, which must move sm to state with old_runs and new_runs as
 * given, and records the state when the journal holds it. */
static void
go(struct swapsm *sm, enum swapsm_input in, enum swapsm_state state,
    int old_runs, int new_runs)
{
	cr_assert_eq(step(sm, in), 0, "input %d in %s", (int)in,
	    swapsm_state_name(sm->state));
	ran(sm, state, old_runs, new_runs);
	if (swapsm_journalled(state))
		record(sm);
}

/* refused: in does not apply to sm (rc want) and changes nothing. */
static void
refused(struct swapsm *sm, const struct swapsm_event *ev, int want)
{
	struct swapsm before = *sm;

	cr_assert_eq(swapsm_step(sm, ev), want, "input %d in %s%s",
	    (int)ev->input, swapsm_state_name(sm->state), sm->recorded ?
	    " (recorded)" : "");
	cr_assert(memcmp(&before, sm, sizeof(before)) == 0,
	    "a refused input changed the machine");
}

static void
refused_in(struct swapsm *sm, enum swapsm_input in)
{
	struct swapsm_event ev = { in, NEW, 0 };

	refused(sm, &ev, FERR_STATE);
}

/* ---- names -------------------------------------------------------------- */

Test(swapsm, the_journal_keeps_its_spelling_of_every_step)
{
	static const char *const spelt[] = { "begin", "created", "stopped",
	    "started", "healthy" };
	enum swapsm_state s;
	size_t i;

	for (i = 0; i < sizeof(spelt) / sizeof(spelt[0]); i++) {
		cr_assert_str_eq(swapsm_state_name((enum swapsm_state)i),
		    spelt[i]);
		cr_assert(swapsm_journalled((enum swapsm_state)i));
		s = SWAPSM_REVERTED;
		cr_assert_eq(swapsm_parse_step(spelt[i], &s), 0, "%s",
		    spelt[i]);
		cr_assert_eq(s, (enum swapsm_state)i);
	}
	cr_assert_str_eq(swapsm_state_name(SWAPSM_DONE), "done");
	cr_assert_str_eq(swapsm_state_name(SWAPSM_REVERTED), "reverted");
	cr_assert_str_eq(swapsm_state_name((enum swapsm_state)99), "unknown");
	cr_assert(!swapsm_journalled(SWAPSM_DONE));
	cr_assert(!swapsm_journalled(SWAPSM_REVERTED));
}

Test(swapsm, a_step_the_journal_never_holds_is_refused)
{
	static const char *const bad[] = { "done", "reverted", "unknown", "",
	    "Started", "started ", " begin", "health", "healthy\n",
	    "stopping" };
	enum swapsm_state s = SWAPSM_STOPPED;
	enum swapsm_kind k = SWAPSM_ROLLBACK;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(swapsm_parse_step(bad[i], &s), FERR_MALFORMED,
		    "\"%s\"", bad[i]);
		cr_assert_eq(s, SWAPSM_STOPPED, "left as it was");
	}
	cr_assert_str_eq(swapsm_kind_name(SWAPSM_SWAP), "swap");
	cr_assert_str_eq(swapsm_kind_name(SWAPSM_ROLLBACK), "rollback");
	cr_assert_str_eq(swapsm_kind_name((enum swapsm_kind)7), "unknown");
	cr_assert_eq(swapsm_parse_kind("swap", &k), 0);
	cr_assert_eq(k, SWAPSM_SWAP);
	cr_assert_eq(swapsm_parse_kind("rollback", &k), 0);
	cr_assert_eq(k, SWAPSM_ROLLBACK);
	cr_assert_eq(swapsm_parse_kind("remove", &k), FERR_MALFORMED);
	cr_assert_eq(swapsm_parse_kind("", &k), FERR_MALFORMED);
	cr_assert_eq(k, SWAPSM_ROLLBACK);
}

/* ---- the paths ---------------------------------------------------------- */

Test(swapsm, stop_first_stops_the_old_before_the_new_starts)
{
	struct swapsm sm;

	cr_assert_eq(swapsm_init(&sm, SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, "",
	    NAME), 0);
	ran(&sm, SWAPSM_BEGIN, 1, 0);
	cr_assert(!sm.recorded);
	record(&sm);
	go(&sm, SWI_CREATED, SWAPSM_CREATED, 1, 0);
	cr_assert_str_eq(sm.new_id, NEW);
	refused_in(&sm, SWI_NEW_STARTED);	/* not while the old one runs */
	go(&sm, SWI_OLD_STOPPED, SWAPSM_STOPPED, 0, 0);
	go(&sm, SWI_NEW_STARTED, SWAPSM_STARTED, 0, 1);
	go(&sm, SWI_HEALTHY, SWAPSM_HEALTHY, 0, 1);
	go(&sm, SWI_TIDIED, SWAPSM_DONE, 0, 1);
	cr_assert(!sm.recorded, "done is never journalled");
	refused_in(&sm, SWI_RECORDED);
}

Test(swapsm, start_first_runs_both_until_the_new_one_is_healthy)
{
	struct swapsm sm;

	cr_assert_eq(swapsm_init(&sm, SWAPSM_SWAP, SWAPSM_START_FIRST, OLD, "",
	    NAME), 0);
	record(&sm);
	go(&sm, SWI_CREATED, SWAPSM_CREATED, 1, 0);
	refused_in(&sm, SWI_OLD_STOPPED);
	go(&sm, SWI_NEW_STARTED, SWAPSM_STARTED, 1, 1);
	go(&sm, SWI_HEALTHY, SWAPSM_HEALTHY, 1, 1);
	go(&sm, SWI_TIDIED, SWAPSM_DONE, 0, 1);
}

Test(swapsm, a_weighted_swap_ends_with_both_running)
{
	struct swapsm sm;

	cr_assert_eq(swapsm_init(&sm, SWAPSM_SWAP, SWAPSM_START_FIRST, OLD, "",
	    NAME), 0);
	record(&sm);
	go(&sm, SWI_CREATED, SWAPSM_CREATED, 1, 0);
	go(&sm, SWI_NEW_STARTED, SWAPSM_STARTED, 1, 1);
	refused_in(&sm, SWI_SHARED);	/* not before health passed */
	go(&sm, SWI_HEALTHY, SWAPSM_HEALTHY, 1, 1);
	cr_assert_eq(step(&sm, SWI_SHARED), 0);
	ran(&sm, SWAPSM_DONE, 1, 1);
	cr_assert(sm.shared);
	refused_in(&sm, SWI_TIDIED);

	/* Never under stop-first, and never without an old one. */
	cr_assert_eq(swapsm_init(&sm, SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, "",
	    NAME), 0);
	record(&sm);
	go(&sm, SWI_CREATED, SWAPSM_CREATED, 1, 0);
	go(&sm, SWI_OLD_STOPPED, SWAPSM_STOPPED, 0, 0);
	go(&sm, SWI_NEW_STARTED, SWAPSM_STARTED, 0, 1);
	go(&sm, SWI_HEALTHY, SWAPSM_HEALTHY, 0, 1);
	refused_in(&sm, SWI_SHARED);
	cr_assert_eq(swapsm_init(&sm, SWAPSM_SWAP, SWAPSM_START_FIRST, "", "",
	    NAME), 0);
	record(&sm);
	go(&sm, SWI_CREATED, SWAPSM_CREATED, 0, 0);
	go(&sm, SWI_NEW_STARTED, SWAPSM_STARTED, 0, 1);
	go(&sm, SWI_HEALTHY, SWAPSM_HEALTHY, 0, 1);
	refused_in(&sm, SWI_SHARED);
}

Test(swapsm, a_rollback_through_the_proxy_starts_the_kept_one_beside)
{
	struct swapsm sm;

	cr_assert_eq(swapsm_init(&sm, SWAPSM_ROLLBACK, SWAPSM_START_FIRST, OLD,
	    NEW, NAME), 0);
	ran(&sm, SWAPSM_CREATED, 1, 0);
	record(&sm);
	refused_in(&sm, SWI_OLD_STOPPED);
	go(&sm, SWI_NEW_STARTED, SWAPSM_STARTED, 1, 1);
	go(&sm, SWI_HEALTHY, SWAPSM_HEALTHY, 1, 1);
	refused_in(&sm, SWI_SHARED);	/* a rollback is never weighted */
	go(&sm, SWI_TIDIED, SWAPSM_DONE, 0, 1);
}

Test(swapsm, a_first_deploy_has_nothing_to_stop_or_start_again)
{
	struct swapsm sm;

	cr_assert_eq(swapsm_init(&sm, SWAPSM_SWAP, SWAPSM_STOP_FIRST, "", "",
	    NAME), 0);
	ran(&sm, SWAPSM_BEGIN, 0, 0);
	record(&sm);
	go(&sm, SWI_CREATED, SWAPSM_CREATED, 0, 0);
	refused_in(&sm, SWI_OLD_STOPPED);
	go(&sm, SWI_NEW_STARTED, SWAPSM_STARTED, 0, 1);
	refused(&sm, &(struct swapsm_event){ SWI_REVERTED, NULL, 1 },
	    FERR_ARG);
	cr_assert_eq(reverted(&sm, 0), 0);
	ran(&sm, SWAPSM_REVERTED, 0, 0);
}

Test(swapsm, a_kept_container_is_named_from_the_start)
{
	struct swapsm sm;

	cr_assert_eq(swapsm_init(&sm, SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, NEW,
	    NAME), 0);
	ran(&sm, SWAPSM_BEGIN, 1, 0);
	cr_assert_str_eq(sm.new_id, NEW);
	record(&sm);
	cr_assert_eq(step(&sm, SWI_CREATED), 0);
	ran(&sm, SWAPSM_CREATED, 1, 0);
	cr_assert_str_eq(sm.new_id, NEW);
}

Test(swapsm, a_rollback_starts_with_its_kept_container_and_stops_first)
{
	struct swapsm sm;

	cr_assert_eq(swapsm_init(&sm, SWAPSM_ROLLBACK, SWAPSM_STOP_FIRST, OLD,
	    NEW, NAME), 0);
	ran(&sm, SWAPSM_CREATED, 1, 0);
	record(&sm);
	refused_in(&sm, SWI_CREATED);
	refused_in(&sm, SWI_NEW_STARTED);
	go(&sm, SWI_OLD_STOPPED, SWAPSM_STOPPED, 0, 0);
	go(&sm, SWI_NEW_STARTED, SWAPSM_STARTED, 0, 1);
	go(&sm, SWI_HEALTHY, SWAPSM_HEALTHY, 0, 1);
	go(&sm, SWI_TIDIED, SWAPSM_DONE, 0, 1);

	/* Nothing running: the kept one just starts. */
	cr_assert_eq(swapsm_init(&sm, SWAPSM_ROLLBACK, SWAPSM_STOP_FIRST, "",
	    NEW, NAME), 0);
	record(&sm);
	refused_in(&sm, SWI_OLD_STOPPED);
	go(&sm, SWI_NEW_STARTED, SWAPSM_STARTED, 0, 1);
}

Test(swapsm, init_refuses_what_no_swap_can_be)
{
	char longid[SWAPSM_ID_MAX + 1], longname[SWAPSM_NAME_MAX + 1];
	struct swapsm sm, zero;

	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memset(&zero, 0, sizeof(zero));
#define REFUSED(kind, order, old, new, name) do {			\
	memset(&sm, 0x5a, sizeof(sm));					\
	cr_assert_eq(swapsm_init(&sm, kind, order, old, new, name),	\
	    FERR_ARG, "%s", #kind " " #order " " #old " " #new " " #name); \
	cr_assert(memcmp(&sm, &zero, sizeof(sm)) == 0, "zeroed");	\
} while (0)
	REFUSED(SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, "", "");
	REFUSED(SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, "", NULL);
	REFUSED(SWAPSM_SWAP, SWAPSM_STOP_FIRST, longid, "", NAME);
	REFUSED(SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, longid, NAME);
	REFUSED(SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, "", longname);
	REFUSED(SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, OLD, NAME);
	REFUSED(SWAPSM_ROLLBACK, SWAPSM_STOP_FIRST, OLD, "", NAME);
	REFUSED((enum swapsm_kind)2, SWAPSM_STOP_FIRST, OLD, NEW, NAME);
	REFUSED(SWAPSM_SWAP, (enum swapsm_order)2, OLD, NEW, NAME);
#undef REFUSED
	cr_assert(!swapsm_check(&zero), "a zeroed machine has no name");
}

/* ---- recorded before every move forward -------------------------------- */

Test(swapsm, nothing_moves_forward_before_the_journal_holds_it)
{
	struct swapsm sm;

	cr_assert_eq(swapsm_init(&sm, SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, "",
	    NAME), 0);
	refused_in(&sm, SWI_CREATED);
	record(&sm);
	refused_in(&sm, SWI_RECORDED);		/* once per state */
	cr_assert_eq(step(&sm, SWI_CREATED), 0);
	refused_in(&sm, SWI_OLD_STOPPED);
	record(&sm);
	cr_assert_eq(step(&sm, SWI_OLD_STOPPED), 0);
	refused_in(&sm, SWI_NEW_STARTED);
	record(&sm);
	cr_assert_eq(step(&sm, SWI_NEW_STARTED), 0);
	refused_in(&sm, SWI_HEALTHY);
	record(&sm);
	cr_assert_eq(step(&sm, SWI_HEALTHY), 0);
	/* Health passed but the journal does not say so: not done. */
	refused_in(&sm, SWI_TIDIED);
	cr_assert_eq(reverted(&sm, 1), 0);
	ran(&sm, SWAPSM_REVERTED, 1, 0);
}

/* ---- every input in every state ----------------------------------------- */

struct setup {
	enum swapsm_kind kind;
	enum swapsm_order order;
	const char *old;
};

static const struct setup setups[] = {
	{ SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD },
	{ SWAPSM_SWAP, SWAPSM_START_FIRST, OLD },
	{ SWAPSM_SWAP, SWAPSM_STOP_FIRST, "" },
	{ SWAPSM_SWAP, SWAPSM_START_FIRST, "" },
	{ SWAPSM_ROLLBACK, SWAPSM_STOP_FIRST, OLD },
	{ SWAPSM_ROLLBACK, SWAPSM_STOP_FIRST, "" },
};

/* The moves the machine may make (besides recording). */
static int
edge(enum swapsm_state from, enum swapsm_state to)
{
	switch (to) {
	case SWAPSM_CREATED:
		return from == SWAPSM_BEGIN;
	case SWAPSM_STOPPED:
		return from == SWAPSM_CREATED;
	case SWAPSM_STARTED:
		return from == SWAPSM_CREATED || from == SWAPSM_STOPPED;
	case SWAPSM_HEALTHY:
		return from == SWAPSM_STARTED;
	case SWAPSM_DONE:
		return from == SWAPSM_HEALTHY;
	case SWAPSM_REVERTED:
		return swapsm_journalled(from);
	case SWAPSM_BEGIN:
		return 0;
	}
	return 0;
}

/* visit tries every input on sm (each on a copy), checks what each did,
 * and goes on from each state reached; returns the states seen. */
static unsigned
visit(const struct swapsm *sm, int depth)
{
	unsigned seen = 1u << sm->state;
	int in, old_runs;

	cr_assert_lt(depth, 32, "the machine goes round in circles");
	for (in = SWI_RECORDED; in <= SWI_REVERTED + 1; in++)
		for (old_runs = 0; old_runs <= 1; old_runs++) {
			struct swapsm next = *sm;
			struct swapsm_event ev = { (enum swapsm_input)in,
			    NEW, old_runs };
			int rc = swapsm_step(&next, &ev);

			if (rc != 0) {
				cr_assert(rc == FERR_STATE || rc == FERR_ARG);
				cr_assert(memcmp(&next, sm, sizeof(next)) == 0,
				    "refused but changed");
				continue;
			}
			cr_assert(swapsm_check(&next));
			cr_assert_neq(in, SWI_REVERTED + 1, "unknown input");
			if (in == SWI_RECORDED) {
				cr_assert(!sm->recorded && next.recorded &&
				    next.state == sm->state);
			} else {
				cr_assert(edge(sm->state, next.state),
				    "%s -> %s", swapsm_state_name(sm->state),
				    swapsm_state_name(next.state));
				cr_assert(!next.recorded);
				/* Only back without a record. */
				cr_assert(sm->recorded ||
				    next.state == SWAPSM_REVERTED);
				/* Under stop-first, never two at once. */
				if (sm->order == SWAPSM_STOP_FIRST)
					cr_assert(!(next.old_runs &&
					    next.new_runs));
			}
			seen |= visit(&next, depth + 1);
		}
	return seen;
}

Test(swapsm, every_input_in_every_state_moves_along_an_edge_or_nowhere)
{
	size_t i;

	for (i = 0; i < sizeof(setups) / sizeof(setups[0]); i++) {
		const struct setup *st = &setups[i];
		struct swapsm sm;
		unsigned seen, want;

		cr_assert_eq(swapsm_init(&sm, st->kind, st->order, st->old,
		    st->kind == SWAPSM_ROLLBACK ? NEW : "", NAME), 0);
		seen = visit(&sm, 0);
		want = (1u << SWAPSM_CREATED) | (1u << SWAPSM_STARTED) |
		    (1u << SWAPSM_HEALTHY) | (1u << SWAPSM_DONE) |
		    (1u << SWAPSM_REVERTED);
		if (st->kind == SWAPSM_SWAP)
			want |= 1u << SWAPSM_BEGIN;
		if (st->old[0] != '\0' && st->order == SWAPSM_STOP_FIRST)
			want |= 1u << SWAPSM_STOPPED;
		cr_assert_eq(seen, want, "setup %zu: states seen %#x, not %#x",
		    i, seen, want);
	}
}

Test(swapsm, bad_arguments_to_a_step_change_nothing)
{
	char longid[SWAPSM_ID_MAX + 1];
	struct swapsm sm;

	memset(longid, 'b', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	cr_assert_eq(swapsm_init(&sm, SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, "",
	    NAME), 0);
	record(&sm);
	refused(&sm, &(struct swapsm_event){ SWI_CREATED, NULL, 0 },
	    FERR_ARG);
	refused(&sm, &(struct swapsm_event){ SWI_CREATED, "", 0 }, FERR_ARG);
	refused(&sm, &(struct swapsm_event){ SWI_CREATED, longid, 0 },
	    FERR_ARG);
	refused(&sm, &(struct swapsm_event){ SWI_CREATED, OLD, 0 }, FERR_ARG);
	refused(&sm, &(struct swapsm_event){ (enum swapsm_input)42, NEW, 0 },
	    FERR_ARG);
	ran(&sm, SWAPSM_BEGIN, 1, 0);
}

/* ---- the checker ---------------------------------------------------------- */

/* at builds a machine of kind, order and old in state s, recorded when
 * the journal holds s: the way forward, each move that applies (and for
 * reverted, back from started, the old one not running again). */
static void
at(struct swapsm *sm, enum swapsm_kind kind, enum swapsm_order order,
    const char *old, enum swapsm_state s)
{
	static const enum swapsm_input path[] = { SWI_CREATED,
	    SWI_OLD_STOPPED, SWI_NEW_STARTED, SWI_HEALTHY, SWI_TIDIED };
	enum swapsm_state to = s == SWAPSM_REVERTED ? SWAPSM_STARTED : s;
	size_t i;

	cr_assert_eq(swapsm_init(sm, kind, order, old, kind ==
	    SWAPSM_ROLLBACK ? NEW : "", NAME), 0);
	record(sm);
	for (i = 0; i < sizeof(path) / sizeof(path[0]) && sm->state != to;
	    i++)
		if (step(sm, path[i]) == 0 && swapsm_journalled(sm->state))
			record(sm);
	if (s == SWAPSM_REVERTED)
		cr_assert_eq(reverted(sm, 0), 0);
	cr_assert_eq(sm->state, s, "no way to %s", swapsm_state_name(s));
}

/* One field of a consistent machine, set wrong. */
enum flaw { OLD_RUNS, NEW_RUNS, ORDER, STATE, RECORDED, NO_OLD_ID,
    NO_NEW_ID, NEW_IS_OLD, NO_NAME, NAME_UNENDED };

static const struct broken {
	enum swapsm_kind kind;
	enum swapsm_order order;
	const char *old;
	enum swapsm_state at;
	enum flaw flaw;
	int value;
	const char *what;
} broken[] = {
	{ SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, SWAPSM_STARTED, OLD_RUNS, 1,
	    "old and new run at once under stop-first" },
	{ SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, SWAPSM_STOPPED, ORDER,
	    SWAPSM_START_FIRST, "stopped under start-first" },
	{ SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, SWAPSM_STOPPED, NO_OLD_ID, 0,
	    "stopped with no old container" },
	{ SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, SWAPSM_STOPPED, NEW_RUNS, 1,
	    "the new one runs before it was started" },
	{ SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, SWAPSM_STOPPED, OLD_RUNS, 1,
	    "stopped, but the old one runs" },
	{ SWAPSM_SWAP, SWAPSM_START_FIRST, OLD, SWAPSM_CREATED, NO_NEW_ID, 0,
	    "created without an id" },
	{ SWAPSM_SWAP, SWAPSM_START_FIRST, OLD, SWAPSM_CREATED, NEW_IS_OLD, 0,
	    "the new container is the old one" },
	{ SWAPSM_SWAP, SWAPSM_START_FIRST, OLD, SWAPSM_STARTED, OLD_RUNS, 0,
	    "start-first stopped the old one before health passed" },
	{ SWAPSM_SWAP, SWAPSM_START_FIRST, OLD, SWAPSM_HEALTHY, NEW_RUNS, 0,
	    "healthy but not running" },
	{ SWAPSM_SWAP, SWAPSM_START_FIRST, OLD, SWAPSM_DONE, OLD_RUNS, 1,
	    "done with the old one still running" },
	{ SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, SWAPSM_DONE, RECORDED, 1,
	    "done recorded" },
	{ SWAPSM_SWAP, SWAPSM_STOP_FIRST, "", SWAPSM_REVERTED, OLD_RUNS, 1,
	    "reverted to an old container there is none of" },
	{ SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, SWAPSM_BEGIN, OLD_RUNS, 0,
	    "begin with the old one not running" },
	{ SWAPSM_ROLLBACK, SWAPSM_STOP_FIRST, OLD, SWAPSM_CREATED, STATE,
	    SWAPSM_BEGIN, "a rollback in begin" },
	{ SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, SWAPSM_BEGIN, STATE, 42,
	    "a state out of range" },
	{ SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, SWAPSM_BEGIN, RECORDED, 2,
	    "recorded neither 0 nor 1" },
	{ SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, SWAPSM_BEGIN, NAME_UNENDED, 0,
	    "a name without its end" },
	{ SWAPSM_SWAP, SWAPSM_STOP_FIRST, OLD, SWAPSM_BEGIN, NO_NAME, 0,
	    "no name" },
};

Test(swapsm, the_checker_catches_a_broken_machine)
{
	size_t i;

	for (i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		const struct broken *b = &broken[i];
		struct swapsm sm;

		at(&sm, b->kind, b->order, b->old, b->at);
		cr_assert(swapsm_check(&sm), "%s: not broken yet", b->what);
		switch (b->flaw) {
		case OLD_RUNS:
			sm.old_runs = b->value;
			break;
		case NEW_RUNS:
			sm.new_runs = b->value;
			break;
		case ORDER:
			sm.order = (enum swapsm_order)b->value;
			break;
		case STATE:
			sm.state = (enum swapsm_state)b->value;
			break;
		case RECORDED:
			sm.recorded = b->value;
			break;
		case NO_OLD_ID:
			sm.old_id[0] = '\0';
			break;
		case NO_NEW_ID:
			sm.new_id[0] = '\0';
			break;
		case NEW_IS_OLD:
			strcpy(sm.new_id, sm.old_id);
			break;
		case NO_NAME:
			sm.new_name[0] = '\0';
			break;
		case NAME_UNENDED:
			memset(sm.new_name, 'x', sizeof(sm.new_name));
			break;
		}
		cr_assert(!swapsm_check(&sm), "not caught: %s", b->what);
	}
}
