/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/dkit.c
/* test_core.c: what makes the rollout core trustworthy, on a real dockerd,
 * registry and SQLite file: decisions on elapsed time through wall-clock
 * steps both ways (libfaketime), a full disk that the deployment waits out
 * and goes on from by itself (a small tmpfs), a host back after its
 * deployment ended that runs nothing stale, first installs that fail
 * leaving nothing behind, what `ferry plan` and `ferry deploy` refuse
 * before anything starts, and offline hosts never skipped in silence. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "dkit.h"

TestSuite(core, .init = setup, .fini = teardown, .timeout = 150);

/* held_spec writes FILE: a deployment of tag one host at a time, each held
 * healthy for min_healthy before the next, with extra rollout lines. */
static void
held_spec(const char *file, const char *tag, const char *min_healthy,
    const char *rollout)
{
	h_write(&F, file,
	    "service: web\n"
	    "image: " IMG "%s\n"
	    "hosts: " LABELS "\n"
	    "port: { host: %d, container: 80 }\n"
	    "health:\n"
	    "  http: { path: /health, port: 80 }\n"
	    "  interval: 200ms\n"
	    "  timeout: 1s\n"
	    "  deadline: 20s\n"
	    "  min_healthy: %s\n"
	    "rollout:\n"
	    "  batch: 1\n"
	    "%s", tag, PORT, min_healthy, rollout);
}

/* ---- wall-clock steps: decisions run on elapsed time ----------------------- */

#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"

/* faketime_env makes the processes started next read their wall clock
 * with the offset in DIR/rel (libfaketime; their monotonic clock is left
 * alone); with rel NULL, it stops. */
static void
faketime_env(const char *rel)
{
	static char saved[512];
	static int had_asan;
	char p[600], asan[700];
	const char *old;

	if (rel == NULL) {
		unsetenv("LD_PRELOAD");
		unsetenv("FAKETIME_TIMESTAMP_FILE");
		unsetenv("FAKETIME_NO_CACHE");
		unsetenv("FAKETIME_DONT_FAKE_MONOTONIC");
		if (had_asan)
			setenv("ASAN_OPTIONS", saved, 1);
		else
			unsetenv("ASAN_OPTIONS");
		return;
	}
	/* Under `make asan` the sanitizer's runtime wants to be the first
	 * library loaded; libfaketime, preloaded, comes before it. */
	old = getenv("ASAN_OPTIONS");
	had_asan = old != NULL;
	snprintf(saved, sizeof(saved), "%s", old ? old : "");
	snprintf(asan, sizeof(asan), "verify_asan_link_order=0%s%s",
	    saved[0] ? ":" : "", saved);
	setenv("ASAN_OPTIONS", asan, 1);
	cr_assert_eq(access(FAKETIME_LIB, R_OK), 0, "libfaketime is missing "
	    "(Debian's faketime package; deploy/setup.sh installs it)");
	setenv("LD_PRELOAD", FAKETIME_LIB, 1);
	setenv("FAKETIME_TIMESTAMP_FILE", h_path(&F, rel, p, sizeof(p)), 1);
	setenv("FAKETIME_NO_CACHE", "1", 1);
	setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
}

/* step moves the wall clock of the processes reading DIR/rel to offset
 * ("+3h", "-2h", "+0") from the real one. */
static void
step(const char *rel, const char *offset)
{
	h_write(&F, rel, "%s\n", offset);
}

/* An agent whose wall clock is far from ferryd's when it starts: its
 * sealed session is fresh by the channel, so the clock is no reason to
 * refuse it; in cleartext its first heartbeat is judged by the clock. */
Test(core, a_host_whose_clock_is_hours_off_comes_online_when_sealed)
{
	struct h_run *r = malloc(sizeof(*r));
	char tok[1100], st[32];

	cr_assert_not_null(r);
	step("agent.rc", "-7h");
	h_token(&F, tok, sizeof(tok), NULL);
	h_join(&F, r, tok, HOST[0], ADDR[0]);
	cr_assert_eq(r->status, 0, "join: %s", r->err);
	faketime_env("agent.rc");
	AGENT[0] = h_start_agent(&F, HOST[0], NULL);
	faketime_env(NULL);
	cr_assert(h_wait_state(&F, HOST[0], "online", 10000),
	    "a host 7 h off was refused: %s",
	    h_host_state(&F, HOST[0], st, sizeof(st)));
	cr_assert_not(h_log_has(F.ferryd, "its clock is"));

	/* The same host in cleartext: the clock decides, and refuses. */
	h_kill(AGENT[0], SIGTERM);
	cr_assert_eq(h_kill(F.ferryd, SIGTERM), 0);
	h_start_ferryd(&F, (const char *[]){ "--insecure-cleartext-link",
	    "yes", NULL });
	faketime_env("agent.rc");
	AGENT[0] = h_start_agent(&F, HOST[0], (const char *[]){
	    "--insecure-cleartext-link", "yes", NULL });
	faketime_env(NULL);
	cr_assert(h_wait_log(F.ferryd, "its clock is", 5000));
	cr_assert_str_neq(h_host_state(&F, HOST[0], st, sizeof(st)),
	    "online");
	free(r);
}

Test(core, wall_clock_steps_change_no_decision, .timeout = 150)
{
	static const char *const fd_steps[] = { "+3h", "-5h", "+26h", "-1h" };
	static const char *const ag_steps[] = { "-2h", "+4h", "-30h", "+9h" };
	struct h_run *r = malloc(sizeof(*r));
	char tok[256];
	cJSON *st;
	unsigned id;
	int i, k, mid;

	cr_assert_not_null(r);
	/* ferryd and host 1's agent read wall clocks the test moves, each
	 * its own; host 2's agent reads the real one. */
	step("ferryd.rc", "+0");
	step("agent.rc", "+0");
	cr_assert_eq(h_kill(F.ferryd, SIGTERM), 0);
	faketime_env("ferryd.rc");
	h_start_ferryd(&F, NULL);
	faketime_env(NULL);
	h_token(&F, tok, sizeof(tok), NULL);
	h_join(&F, r, tok, HOST[0], ADDR[0]);
	cr_assert_eq(r->status, 0, "join: %s", r->err);
	faketime_env("agent.rc");
	AGENT[0] = h_start_agent(&F, HOST[0], NULL);
	faketime_env(NULL);
	cr_assert(h_wait_state(&F, HOST[0], "online", 10000));
	AGENT[1] = h_add_agent(&F, HOST[1], ADDR[1]);
	NAGENTS = 2;
	for (i = 0; i < 2; i++) {
		h_ferry(&F, &R, (const char *[]){ "hosts", "label", HOST[i],
		    "role=web", NULL });
		cr_assert_eq(R.status, 0, "%s", R.err);
	}
	/* The steps are real: ferryd's events now carry the faked time. */
	step("ferryd.rc", "+3h");
	h_sleep_ms(300);
	h_ferry(&F, &R, (const char *[]){ "hosts", "label", HOST[1], "x=1",
	    NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_assert_gt(db_count("SELECT MAX(at_ms) FROM events"),
	    (long long)time(NULL) * 1000 + 2LL * 3600 * 1000,
	    "ferryd's wall clock did not move: is libfaketime working?");

	/* Idle hosts heartbeat through steps both ways. */
	for (k = 0; k < 4; k++) {
		step("ferryd.rc", fd_steps[k]);
		h_sleep_ms(400);
		step("agent.rc", ag_steps[k]);
		h_sleep_ms(400);
	}
	for (i = 0; i < 2; i++)
		cr_assert(h_wait_state(&F, HOST[i], "online", 100), "%s",
		    HOST[i]);

	/* A deployment waiting on health and min_healthy, batch by batch,
	 * while both clocks jump hours back and forth. */
	held_spec("v1.yml", "1", "2500ms", "  pause: 1500ms\n");
	id = deploy_bg("v1.yml");
	mid = 0;
	for (k = 0; k < 12; k++) {
		step("ferryd.rc", fd_steps[k % 4]);
		h_sleep_ms(350);
		step("agent.rc", ag_steps[(k + 1) % 4]);
		h_sleep_ms(350);
		st = status(id);
		cr_assert_not_null(st, "%s", R.err);
		cr_assert(!finished_state(jstr(st, "state")) ||
		    strcmp(jstr(st, "state"), "succeeded") == 0, "%s", R.out);
		if (jnum(st, "batch") == 2)
			mid = 1;
		cJSON_Delete(st);
	}
	cr_assert(mid, "the steps never reached batch 2");
	st = wait_state(id, NULL, 60000);
	cr_assert_str_eq(jstr(st, "state"), "succeeded", "%s", R.out);
	cJSON_Delete(st);
	assert_all_serve(0, 1, 1);
	/* No host went offline, no command expired or was refused, and
	 * both hosts are online still. */
	cr_assert_eq(db_count("SELECT COUNT(*) FROM events WHERE kind = "
	    "'host-offline'"), 0);
	cr_assert_eq(db_count("SELECT COUNT(*) FROM commands WHERE state IN "
	    "('expired', 'refused', 'failed')"), 0);
	cr_assert_eq(h_log_count(F.ferryd, "refused heartbeat"), 0);
	for (i = 0; i < 2; i++)
		cr_assert(h_wait_state(&F, HOST[i], "online", 100), "%s",
		    HOST[i]);
	free(r);
}

/* ---- a full disk: memory never runs ahead of it ---------------------------- */

/* sh runs a shell command line (bounded) and returns its status. */
static int
sh(const char *cmd)
{
	struct h_run *r = malloc(sizeof(*r));
	int st;

	cr_assert_not_null(r);
	h_run(r, (const char *[]){ "/bin/sh", "-c", cmd, NULL });
	st = r->status;
	if (st != 0)
		cr_log_info("%s: %d: %s%s", cmd, st, r->out, r->err);
	free(r);
	return st;
}

Test(core, full_disk_mid_deploy_waits_then_goes_on_by_itself,
    .timeout = 150)
{
	char cmd[4096], ids[32], state[600], fill[700];
	cJSON *st;
	int i, refused, heard;
	unsigned id;

	/* ferryd's state on a small filesystem of its own. */
	cr_assert_eq(h_kill(F.ferryd, SIGTERM), 0);
	h_path(&F, "ferryd", state, sizeof(state));
	snprintf(cmd, sizeof(cmd), "mv %s %s.real && mkdir -m 0700 %s && "
	    "mount -t tmpfs -o size=16m,mode=0700 ferry-test %s && "
	    "cp -a %s.real/. %s/", state, state, state, state, state, state);
	cr_assert_eq(sh(cmd), 0, "cannot mount a tmpfs (tests run as root)");
	snprintf(TMPFS, sizeof(TMPFS), "%s", state);
	h_start_ferryd(&F, NULL);
	fleet(3);
	spec("v1.yml", "1", LABELS, NULL, "  on_failure: rollback\n");
	held_spec("v2.yml", "2", "1500ms", "");
	cr_assert_eq(deploy_watch("v1.yml"), 0, "v1: %s%s", R.out, R.err);
	id = deploy_bg("v2.yml");
	snprintf(ids, sizeof(ids), "%u", id);
	/* Batch 2 under way: fill the disk. */
	cJSON_Delete(wait_host(id, 1, "swapping", 30000));
	snprintf(fill, sizeof(fill), "%s/fill", state);
	snprintf(cmd, sizeof(cmd), "dd if=/dev/zero of=%s bs=64k "
	    "2>/dev/null; i=0; while [ $i -lt 64 ] && "
	    "dd if=/dev/zero of=%s.$i bs=512 count=8 2>/dev/null; do "
	    "i=$((i+1)); done; true", fill, fill);
	cr_assert_eq(sh(cmd), 0);
	/* Host 2's swap ends while nothing can be written: its report is
	 * not acknowledged, the deployment does not move, and status,
	 * pause and abort say the same thing throughout. */
	heard = h_wait_log(F.ferryd, "not acknowledged, the agent sends it "
	    "again", 20000);
	refused = 0;
	for (i = 0; i < 6; i++) {
		st = status(id);
		cr_assert_not_null(st, "%s", R.err);
		cr_assert_str_eq(jstr(st, "state"), "running", "%s", R.out);
		cr_assert_eq(jnum(st, "batch"), 2, "%s", R.out);
		cr_assert_str_eq(host_state(st, 1), "swapping", "%s", R.out);
		cJSON_Delete(st);
		h_ferry(&F, &R, (const char *[]){ i % 2 ? "abort" : "pause",
		    ids, NULL });
		cr_assert_neq(R.status, 0, "%s accepted on a full disk: %s",
		    i % 2 ? "abort" : "pause", R.out);
		cr_assert(strstr(R.err, "not running") == NULL, "%s", R.err);
		refused += strstr(R.err, "cannot record") != NULL;
		h_sleep_ms(300);
	}
	cr_assert_eq(refused, 6, "pause/abort did not say why: %s", R.err);
	/* The disk takes writes again: it goes on by itself. */
	snprintf(cmd, sizeof(cmd), "rm -f %s %s.*", fill, fill);
	cr_assert_eq(sh(cmd), 0);
	st = wait_state(id, NULL, 60000);
	cr_assert_str_eq(jstr(st, "state"), "succeeded", "%s", R.out);
	for (i = 0; i < 3; i++)
		cr_assert_str_eq(host_state(st, i), "done", "%s", R.out);
	cJSON_Delete(st);
	assert_all_serve(0, 2, 2);
	cr_assert(heard, "ferryd never failed to record a report: was the "
	    "disk full?");
	/* What is recorded is what the hosts run: no abort or pause got in,
	 * each host swapped once. */
	cr_assert_eq(db_count("SELECT COUNT(*) FROM events WHERE kind IN "
	    "('pause', 'abort')"), 0);
	for (i = 0; i < 3; i++) {
		snprintf(cmd, sizeof(cmd), "created ferry-%s-web-r2",
		    HOST[i]);
		cr_assert_eq(h_log_count(AGENT[i], cmd), 1, "%s", HOST[i]);
	}
}

/* ---- no stale work --------------------------------------------------------- */

/* still_rolled_back: deployment id ended rolled back, and nothing of it
 * was recorded after its end (no swap, no revert, no host moved). */
static void
still_rolled_back(unsigned id)
{
	char sql[512];
	cJSON *st;

	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM events WHERE "
	    "deployment = %u AND id > (SELECT MAX(id) FROM events WHERE "
	    "deployment = %u AND detail LIKE 'rolled_back%%')", id, id);
	cr_assert_eq(db_count(sql), 0, "events after the end");
	st = status(id);
	cr_assert_not_null(st);
	cr_assert_str_eq(jstr(st, "state"), "rolled_back", "%s", R.out);
	cJSON_Delete(st);
}

/* started_at writes "ID STARTEDAT" of host i's containers, one a line. */
static void
started_at(int i, char *buf, size_t len)
{
	struct h_run *r = malloc(sizeof(*r));
	char filter[128], *ids[8], *p;
	int n = 0, k;

	cr_assert_not_null(r);
	snprintf(filter, sizeof(filter), "label=ferry.host=%s", HOST[i]);
	cr_assert_eq(h_docker(r, (const char *[]){ "ps", "-aq", "--filter",
	    filter, NULL }), 0, "%s", r->err);
	for (p = strtok(r->out, "\n"); p != NULL && n < 8;
	    p = strtok(NULL, "\n"))
		ids[n++] = strdup(p);
	buf[0] = '\0';
	for (k = 0; k < n; k++) {
		cr_assert_eq(h_docker(r, (const char *[]){ "inspect", "-f",
		    "{{.Name}} {{.State.Status}} {{.State.StartedAt}}", ids[k],
		    NULL }), 0, "%s", r->err);
		snprintf(buf + strlen(buf), len - strlen(buf), "%s", r->out);
		free(ids[k]);
	}
	free(r);
}

Test(core, a_host_back_after_the_end_runs_nothing_stale, .timeout = 120)
{
	char before[2048], after[2048], created[128], sql[512];
	cJSON *st;
	unsigned id;

	/* Hosts go offline after 3 s without a heartbeat. */
	cr_assert_eq(h_kill(F.ferryd, SIGTERM), 0);
	h_start_ferryd(&F, (const char *[]){ "--missed-beats", "15", NULL });
	fleet(2);
	spec("v1.yml", "1", LABELS, NULL, "  batch: 1\n  pause: 2s\n"
	    "  on_failure: rollback\n");
	cr_assert_eq(deploy_watch("v1.yml"), 0, "v1: %s%s", R.out, R.err);
	spec("v2.yml", "2", LABELS, NULL, "  batch: 1\n  pause: 2s\n"
	    "  on_failure: rollback\n");
	started_at(1, before, sizeof(before));
	id = deploy_bg("v2.yml");
	/* Batch 1 (host 1) passed; in the pause before batch 2, host 2's
	 * agent stops answering: its swap waits in the outbox, the host
	 * goes offline, the deployment rolls back and ends. */
	cJSON_Delete(wait_host(id, 0, "done", 30000));
	cr_assert_eq(kill(AGENT[1]->pid, SIGSTOP), 0);
	st = wait_state(id, NULL, 40000);
	cr_assert_str_eq(jstr(st, "state"), "rolled_back", "%s", R.out);
	cJSON_Delete(st);
	/* Back after the end, as a crashed agent comes back. */
	cr_assert_eq(h_kill(AGENT[1], SIGKILL), 128 + SIGKILL);
	AGENT[1] = h_start_agent(&F, HOST[1], NULL);
	cr_assert(h_wait_state(&F, HOST[1], "online", 10000));
	h_sleep_ms(3000);
	/* It ran nothing of the ended deployment: no swap, no revert, its
	 * container never restarted, still serving version 1. */
	snprintf(created, sizeof(created), "created ferry-%s-web-r2",
	    HOST[1]);
	cr_assert(!h_log_has(AGENT[1], created), "%s ran the stale swap",
	    HOST[1]);
	started_at(1, after, sizeof(after));
	cr_assert_str_eq(after, before, "%s's container changed",
	    HOST[1]);
	cr_assert_eq(serving(1), 1);
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM commands WHERE "
	    "deployment = %u AND host = '%s' AND purpose IN ('swap', "
	    "'revert') AND state != 'expired'", id, HOST[1]);
	cr_assert_eq(db_count(sql), 0, "a command of the ended deployment "
	    "reached %s", HOST[1]);
	still_rolled_back(id);
}

/* ---- offline hosts are never skipped in silence ---------------------------- */

Test(core, offline_hosts_are_listed_refused_or_skipped_and_said)
{
	char sql[256], want[256];
	cJSON *o, *h, *st;
	unsigned id;
	int found;

	fleet(3);
	/* Host 3 goes away. */
	cr_assert_eq(h_kill(AGENT[2], SIGKILL), 128 + SIGKILL);
	cr_assert(h_wait_state(&F, HOST[2], "offline", 10000));
	spec("v1.yml", "1", LABELS, NULL, NULL);
	/* plan lists it, and what a deploy does with it. */
	h_ferry(&F, &R, (const char *[]){ "plan", path("v1.yml"), NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	snprintf(want, sizeof(want), "offline: %s: ferry deploy refuses",
	    HOST[2]);
	cr_assert(strstr(R.out, want) != NULL, "%s", R.out);
	h_ferry(&F, &R, (const char *[]){ "plan", path("v1.yml"), "--json",
	    NULL });
	o = cJSON_Parse(R.out);
	cr_assert_not_null(o, "%s", R.out);
	found = 0;
	cJSON_ArrayForEach(h, cJSON_GetObjectItem(o, "hosts"))
		found += strcmp(jstr(h, "name"), HOST[2]) == 0 &&
		    strcmp(jstr(h, "state"), "offline") == 0 &&
		    jnum(h, "batch") == 0;
	cr_assert_eq(found, 1, "%s", R.out);
	cJSON_Delete(o);
	/* deploy refuses, naming it and the way out; records nothing. */
	h_ferry(&F, &R, (const char *[]){ "deploy", path("v1.yml"), NULL });
	cr_assert_neq(R.status, 0, "%s", R.out);
	snprintf(want, sizeof(want), "1 of the 3 matched hosts is offline "
	    "(%s)", HOST[2]);
	cr_assert(strstr(R.err, want) != NULL, "%s", R.err);
	cr_assert(strstr(R.err, "--skip-offline") != NULL, "%s", R.err);
	cr_assert_eq(db_count("SELECT COUNT(*) FROM deployments"), 0);
	cr_assert_eq(db_count("SELECT COUNT(*) FROM revisions"), 0);
	/* --skip-offline: goes on without it, and every view says so. */
	h_ferry(&F, &R, (const char *[]){ "deploy", path("v1.yml"),
	    "--skip-offline", "--watch", NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	snprintf(want, sizeof(want), "succeeded on 2 of 3 matched hosts; %s "
	    "skipped: offline", HOST[2]);
	cr_assert(strstr(R.out, want) != NULL, "%s", R.out);
	st = status(1);
	cr_assert_not_null(st, "%s", R.err);
	cr_assert_str_eq(jstr(st, "state"), "succeeded");
	cr_assert_str_eq(jstr(st, "outcome"), want);
	cr_assert_eq(jnum(st, "matched"), 3);
	h = cJSON_GetArrayItem(cJSON_GetObjectItem(st, "skipped"), 0);
	cr_assert_not_null(h, "%s", R.out);
	cr_assert_str_eq(jstr(h, "name"), HOST[2]);
	cJSON_Delete(st);
	h_ferry(&F, &R, (const char *[]){ "status", "1", NULL });
	cr_assert(strstr(R.out, want) != NULL, "%s", R.out);
	h_ferry(&F, &R, (const char *[]){ "history", "web", NULL });
	cr_assert(strstr(R.out, "2 of 3") != NULL && strstr(R.out, want) !=
	    NULL, "%s", R.out);
	assert_all_serve(0, 1, 1);
	/* The spec can say so too: rollout.skip_offline. */
	spec("v2.yml", "2", LABELS, NULL, "  skip_offline: true\n");
	id = deploy_bg("v2.yml");
	st = wait_state(id, NULL, 60000);
	cr_assert_str_eq(jstr(st, "state"), "succeeded", "%s", R.out);
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(st, "skipped")),
	    1, "%s", R.out);
	cJSON_Delete(st);
	/* Nothing was ever sent to the host that was away. */
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM commands WHERE "
	    "host = '%s' AND deployment != 0", HOST[2]);
	cr_assert_eq(db_count(sql), 0);
}

/* ---- refused before anything starts ----------------------------------------- */

Test(core, port_clashes_are_refused_before_anything_starts)
{
	char want[256];
	long long deps, revs;

	fleet(1);
	spec("web.yml", "1", LABELS, NULL, NULL);
	cr_assert_eq(deploy_watch("web.yml"), 0, "%s%s", R.out, R.err);
	deps = db_count("SELECT COUNT(*) FROM deployments");
	revs = db_count("SELECT COUNT(*) FROM revisions");
	/* Another service on the same host port of the same host. */
	h_write(&F, "api.yml",
	    "service: api\n"
	    "image: " IMG "1\n"
	    "hosts: [%s]\n"
	    "port: { host: %d, container: 80 }\n"
	    "health: { http: { path: /health, port: 80 } }\n", HOST[0], PORT);
	snprintf(want, sizeof(want), "host port %d on %s is claimed by "
	    "service web", PORT, HOST[0]);
	h_ferry(&F, &R, (const char *[]){ "plan", path("api.yml"), NULL });
	cr_assert_neq(R.status, 0, "%s", R.out);
	cr_assert(strstr(R.err, want) != NULL, "%s", R.err);
	h_ferry(&F, &R, (const char *[]){ "deploy", path("api.yml"), NULL });
	cr_assert_neq(R.status, 0, "%s", R.out);
	cr_assert(strstr(R.err, want) != NULL, "%s", R.err);
	/* start-first with a host port plans: the host's ferry-proxy moves
	 * the traffic (an agent without one refuses the swap itself). */
	spec("sf.yml", "2", LABELS, NULL, "  order: start-first\n");
	h_ferry(&F, &R, (const char *[]){ "plan", path("sf.yml"), NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	/* Nothing recorded, nothing touched. */
	cr_assert_eq(db_count("SELECT COUNT(*) FROM deployments"), deps);
	cr_assert_eq(db_count("SELECT COUNT(*) FROM revisions"), revs);
	assert_all_serve(0, 0, 1);
}

/* ---- a first install that fails leaves nothing behind ---------------------- */

Test(core, failed_first_install_leaves_no_container_behind)
{
	char hosts[128], sql[256];
	cJSON *st;
	unsigned id;
	int held, all, i;

	fleet(2);
	/* Something else holds the port on host 2: its first install fails
	 * there, and host 1, which passed, goes back to running nothing. */
	held = hold_port(ADDR[1]);
	spec("v1.yml", "1", names(hosts, sizeof(hosts), 1, 2), NULL,
	    "  on_failure: rollback\n");
	id = deploy_bg("v1.yml");
	st = wait_state(id, NULL, 60000);
	close(held);
	cr_assert_str_eq(jstr(st, "state"), "rolled_back", "%s", R.out);
	cr_assert(strstr(jstr(st, "cause"), "no previous revision") == NULL,
	    "%s", R.out);
	cr_assert_str_eq(host_state(st, 1), "failed", "%s", R.out);
	cr_assert(host_cause(st, 1)[0] != '\0', "%s", R.out);
	cr_assert_str_eq(host_state(st, 0), "reverted", "%s", R.out);
	cJSON_Delete(st);
	for (i = 0; i < 2; i++) {
		cr_assert_eq(containers(i, NULL, 0, &all), 0);
		cr_assert_eq(all, 0, "%s kept %d container(s)", HOST[i], all);
	}
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM commands WHERE "
	    "deployment = %u AND host = '%s' AND kind = 'remove' AND state = "
	    "'succeeded'", id, HOST[0]);
	cr_assert_eq(db_count(sql), 1, "host 1 was not put back by removing "
	    "the service");
}

/* container_of writes the id of host i's container of revision rev. */
static void
container_of(int i, int rev, char *id, size_t len)
{
	struct h_run *r = malloc(sizeof(*r));
	char name[128];

	cr_assert_not_null(r);
	snprintf(name, sizeof(name), "ferry-%s-web-r%d", HOST[i], rev);
	cr_assert_eq(h_docker(r, (const char *[]){ "inspect", "-f", "{{.Id}}",
	    name, NULL }), 0, "%s: %s", name, r->err);
	r->out[strcspn(r->out, "\n")] = '\0';
	snprintf(id, len, "%.*s", (int)len - 1, r->out);
	free(r);
}

/* starts counts the times Docker started container id since t0. */
static int
starts(const char *id, long t0)
{
	struct h_run *r = malloc(sizeof(*r));
	char since[32], until[32], filter[200], *p;
	int n = 0;

	cr_assert_not_null(r);
	snprintf(since, sizeof(since), "%ld", t0);
	snprintf(until, sizeof(until), "%ld", (long)time(NULL) + 1);
	snprintf(filter, sizeof(filter), "container=%s", id);
	cr_assert_eq(h_docker(r, (const char *[]){ "events", "--since", since,
	    "--until", until, "--filter", filter, "--filter", "event=start",
	    "--format", "{{.Action}}", NULL }), 0, "%s", r->err);
	for (p = strstr(r->out, "start"); p != NULL; p = strstr(p + 5,
	    "start"))
		n++;
	free(r);
	return n;
}

/* Killed mid-swap, back after the rollback ended: the agent puts its host
 * back once, and nothing of the ended deployment runs. */
Test(core, an_agent_killed_mid_swap_and_back_after_the_end_restarts_once,
    .timeout = 120)
{
	char old[128], created[128];
	cJSON *st;
	long t0;
	unsigned id;

	cr_assert_eq(h_kill(F.ferryd, SIGTERM), 0);
	h_start_ferryd(&F, (const char *[]){ "--missed-beats", "10", NULL });
	fleet(2);
	spec("v1.yml", "1", LABELS, NULL, NULL);
	cr_assert_eq(deploy_watch("v1.yml"), 0, "v1: %s%s", R.out, R.err);
	container_of(0, 1, old, sizeof(old));
	spec("slow.yml", "slow", LABELS, "  start_period: 5s\n",
	    "  on_failure: rollback\n  order: stop-first\n");
	/* Docker's events count in whole seconds: v1's own start of the
	 * container falls in an earlier one. */
	h_sleep_ms(1100);
	t0 = (long)time(NULL);
	id = deploy_bg("slow.yml");
	snprintf(created, sizeof(created), "created ferry-%s-web-r2",
	    HOST[0]);
	cr_assert(h_wait_log(AGENT[0], created, 30000));
	/* Docker's start: on a busy engine it has taken more than 5 s. */
	cr_assert(h_wait_log(AGENT[0], "r2: started, checking health", 30000));
	cr_assert_eq(h_kill(AGENT[0], SIGKILL), 128 + SIGKILL);
	st = wait_state(id, NULL, 30000);
	cr_assert_str_eq(jstr(st, "state"), "rolled_back", "%s", R.out);
	cJSON_Delete(st);
	/* Back after the end. */
	AGENT[0] = h_start_agent(&F, HOST[0], NULL);
	cr_assert(h_wait_state(&F, HOST[0], "online", 10000));
	cr_assert(h_wait_log(AGENT[0], "reverted", 15000), "the agent did "
	    "not put back the swap it was killed in");
	h_sleep_ms(2000);
	/* The old container: stopped by the swap, started once again by the
	 * agent's recovery, and never more; the new one is gone. */
	cr_assert_eq(starts(old, t0), 1, "the old container started %d "
	    "times", starts(old, t0));
	cr_assert_eq(serving(0), 1);
	/* One log for both runs of the agent: the swap was created once. */
	cr_assert_eq(h_log_count(AGENT[0], created), 1, "the swap ran again "
	    "after the restart");
	/* Nothing of the deployment happened after its end. */
	still_rolled_back(id);
}
