/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/fake.c
/* test_swap_faults.c: swaps under fire, on the real dockerd and the local
 * registry (127.0.0.1:5000, images from tests/images/build.sh).
 *
 * An agent killed with SIGKILL at every step of a swap must, once started
 * again, leave exactly one revision of the service running, no orphan
 * container, final records and a truthful final result at ferryd.  The same
 * command id delivered twice runs one swap.  Two agents on one dockerd never
 * touch each other's containers.  Settings outside the agent's allowlist
 * are refused, with the reason in the signed result, and create nothing.
 * An unreachable dockerd gets a clear error and the agent stays up.  A
 * journal write that fails (a full disk) stops the swap, which reverts and
 * says why; a journal step the agent does not know is left alone, loudly.
 *
 * Host names are unique to the test process (h_unique), so containers never
 * clash with other tests on the same dockerd; h_fini removes every container
 * labelled with a host started here. */
#define _GNU_SOURCE		/* unshare */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>
#include <sqlite3.h>

#include "clock.h"
#include "envelope.h"
#include "ferr.h"
#include "fake.h"
#include "ferry.pb-c.h"
#include "harness.h"
#include "keys.h"

#define ID_LEN		16
#define REPO		"127.0.0.1:5000/ferry-test/web"
#define SETTLE_MS	15000

static struct h_fleet fleet;

static void
setup(void)
{
	cr_assert_eq(crypto_init(), 0);
	h_init(&fleet);
}

static void
teardown(void)
{
	h_fini(&fleet);
}

/* ---- files the test reads: databases, logs ------------------------------ */


static const char *
agent_db(const char *host, char *buf, size_t len)
{
	snprintf(buf, len, "%s/agent.db", host);
	return buf;
}

/* journal_step: the agent's journal step for service web ("" for none). */
static void
journal_step(struct h_fleet *f, const char *host, char *step, size_t len)
{
	char rel[128];

	h_db_row(f, agent_db(host, rel, sizeof(rel)), "SELECT step FROM "
	    "journal WHERE service = 'web'", NULL, 0, NULL, step, len, NULL,
	    NULL);
}

static void
log_file(const char *path, char *buf, size_t len)
{
	FILE *fp = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (fp == NULL)
		return;
	n = fread(buf, 1, len - 1, fp);
	buf[n] = '\0';
	fclose(fp);
}

/* ---- specs and swaps ----------------------------------------------------- */

/* write_spec writes DIR/rel: service web of image tag on host, served on
 * port (through the host's ferry-proxy), stop-first; with port 0, start-first and published nowhere
 * (two containers side by side: the check goes to the container's own
 * address).  Slow images get a start period so that their first 3 s of
 * failing checks do not count. */
static const char *
write_spec(struct h_fleet *f, const char *rel, const char *host,
    const char *tag, int port, char *path, size_t len)
{
	int slow = strcmp(tag, "slow") == 0;
	char pub[128] = "rollout: { order: start-first }\n";

	if (port != 0)
		snprintf(pub, sizeof(pub), "port: { host: %d, container: 80 }"
		    "\nrollout: { order: stop-first }\n", port);
	h_write(f, rel,
	    "service: web\n"
	    "image: " REPO ":%s\n"
	    "hosts: [%s]\n"
	    "%s"
	    "health:\n"
	    "  http: { path: /health, port: 80 }\n"
	    "  interval: 200ms\n"
	    "%s"
	    "  deadline: 15s\n"
	    "  min_healthy: 500ms\n", tag, host, pub,
	    slow ? "  start_period: 6s\n" : "");
	return h_path(f, rel, path, len);
}

/* swap runs `ferry swap host spec` and expects exit status want. */
static void
swap(struct h_fleet *f, const char *host, const char *spec, int want)
{
	struct h_run *r = malloc(sizeof(*r));

	cr_assert_not_null(r);
	h_ferry(f, r, (const char *[]){ "swap", host, spec, NULL });
	cr_assert_eq(r->status, want, "ferry swap %s %s: exit %d, not %d: "
	    "%s%s", host, spec, r->status, want, r->out, r->err);
	free(r);
}

/* swap_bg starts `ferry swap host spec` in the background; its output
 * goes to DIR/<name>.log. */
static struct h_proc *
swap_bg(struct h_fleet *f, const char *name, const char *host,
    const char *spec)
{
	return h_spawn(f, name, (const char *[]){ "ferry", "--socket", f->sock,
	    "swap", host, spec, NULL });
}

/* wait_exit waits (bounded by ms) for p to exit: its exit status, or -2
 * when it still runs. */
static int
wait_exit(struct h_proc *p, int ms)
{
	uint64_t end = h_mono_ms() + (uint64_t)ms;
	int st;

	do {
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid) {
			p->pid = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
		}
		h_sleep_ms(20);
	} while (h_mono_ms() < end);
	return -2;
}

/* ---- what Docker says ---------------------------------------------------- */

#define MAX_CS 8

struct ctr {
	char id[80];
	char state[32];
	char name[160];
	char host[80];
	unsigned long rev;
};

/* containers lists the containers labelled ferry.host=host and
 * ferry.service=web (all states). */
static int
containers(const char *host, struct ctr *cs)
{
	struct h_run *r = malloc(sizeof(*r));
	char fh[128], *line, *save = NULL;
	int n = 0;

	cr_assert_not_null(r);
	snprintf(fh, sizeof(fh), "label=ferry.host=%s", host);
	cr_assert_eq(h_docker(r, (const char *[]){ "ps", "-a", "--no-trunc",
	    "--filter", fh, "--filter", "label=ferry.service=web", "--format",
	    "{{.ID}} {{.State}} {{.Names}} {{.Label \"ferry.revision\"}} "
	    "{{.Label \"ferry.host\"}}", NULL }), 0, "docker ps: %s", r->err);
	for (line = strtok_r(r->out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		cr_assert_lt(n, MAX_CS, "too many containers of %s", host);
		cr_assert_eq(sscanf(line, "%79s %31s %159s %lu %79s", cs[n].id,
		    cs[n].state, cs[n].name, &cs[n].rev, cs[n].host), 5,
		    "docker ps line: %s", line);
		n++;
	}
	free(r);
	return n;
}

static int
running_of(const struct ctr *cs, int n)
{
	int i, k = -1, count = 0;

	for (i = 0; i < n; i++)
		if (strcmp(cs[i].state, "running") == 0) {
			k = i;
			count++;
		}
	return count == 1 ? k : -1;
}

static void
describe(const struct ctr *cs, int n, char *buf, size_t len)
{
	int i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		size_t l = strlen(buf);
		snprintf(buf + l, len - l, "%s[%s r%lu %s] ", i ? "" : "",
		    cs[i].name, cs[i].rev, cs[i].state);
	}
}

/* serves: GET / on ip:port says "version <want>" and /health is 200;
 * with port 0, on port 80 of container id's own address. */
static int
serves(const char *ip, int port, const char *want, char *body, size_t len,
    const char *id)
{
	char needle[64], addr[64];

	if (port == 0) {
		struct h_run *r = malloc(sizeof(*r));

		cr_assert_not_null(r);
		addr[0] = '\0';
		if (h_docker(r, (const char *[]){ "inspect", "--format",
		    "{{.NetworkSettings.IPAddress}}", id, NULL }) == 0)
			sscanf(r->out, "%63s", addr);
		free(r);
		if (addr[0] == '\0')
			return 0;
		ip = addr;
		port = 80;
	}

	if (h_http_get(ip, port, "/health", NULL, 0) != 200)
		return 0;
	if (h_http_get(ip, port, "/", body, len) != 200)
		return 0;
	snprintf(needle, sizeof(needle), "version %s</p>", want);
	return strstr(body, needle) != NULL;
}

/* ---- the settled state after an agent's restart -------------------------- */

struct settled {
	unsigned long rev;	/* the revision that runs */
	int swap_exit;		/* of the background ferry swap */
};

/* no_orphan: besides the running container k, at most the one kept
 * revision (1, stopped, next to a running 2); a container Docker is still
 * removing counts until it is gone, so the wait covers it. */
static int
no_orphan(const struct ctr *cs, int n, int k)
{
	int i;

	for (i = 0; i < n; i++)
		if (i != k && (cs[k].rev != 2 || cs[i].rev != 1 ||
		    strcmp(cs[i].state, "running") == 0))
			return 0;
	return 1;
}

/*
 * expect_settled waits (bounded by SETTLE_MS) until the agent of host has
 * settled, then checks it: one container of web runs and serves the version
 * of its revision (tags[rev]); every other container of web is the one
 * revision kept stopped, never one of the revision that lost; the agent's
 * records hold no command still accepted and no journal row; the
 * background `ferry swap` (bg) has exited, 0 when revision 2 runs, 1 when
 * revision 1 does; ferryd's records hold no open command for host.
 */
static void
expect_settled(struct h_fleet *f, const char *host, const char *ip, int port,
    const char *const tags[3], struct h_proc *bg, struct settled *out)
{
	struct ctr cs[MAX_CS];
	char rel[128], body[2048], what[1024], logs[4096];
	uint64_t end = h_mono_ms() + SETTLE_MS;
	int n = 0, k = -1, open_agent = -1, journal = -1, open_ferryd = -1;
	int st = -2, ok = 0, i;

	agent_db(host, rel, sizeof(rel));
	do {
		if (st == -2)
			st = wait_exit(bg, 1);
		n = containers(host, cs);
		k = running_of(cs, n);
		open_agent = (int)h_db_int(f, rel, "SELECT count(*) FROM "
		    "commands WHERE state = 'accepted'", NULL, 0, NULL);
		journal = (int)h_db_int(f, rel, "SELECT count(*) FROM "
		    "journal", NULL, 0, NULL);
		open_ferryd = (int)h_db_int(f, "ferryd/ferryd.db", "SELECT "
		    "count(*) FROM commands WHERE host = ? AND state IN "
		    "('queued', 'sent', 'accepted')", NULL, 0, host);
		ok = st != -2 && k >= 0 && open_agent == 0 && journal == 0 &&
		    open_ferryd == 0 && cs[k].rev >= 1 && cs[k].rev <= 2 &&
		    no_orphan(cs, n, k) &&
		    serves(ip, port, tags[cs[k].rev], body, sizeof(body),
		    cs[k].id);
		if (!ok)
			h_sleep_ms(100);
	} while (!ok && h_mono_ms() < end);
	describe(cs, n, what, sizeof(what));
	log_file(bg->log, logs, sizeof(logs));
	cr_assert(st != -2, "ferry swap did not finish within %d s of the "
	    "restart; containers: %s", SETTLE_MS / 1000, what);
	cr_assert(k >= 0, "not exactly one container of web runs: %s", what);
	cr_assert(cs[k].rev == 1 || cs[k].rev == 2, "revision %lu runs",
	    cs[k].rev);
	cr_assert(serves(ip, port, tags[cs[k].rev], body, sizeof(body),
	    cs[k].id),
	    "revision %lu runs but does not serve version %s: %s", cs[k].rev,
	    tags[cs[k].rev], body);
	/* No orphan: the one kept revision at most, never the loser. */
	for (i = 0; i < n; i++) {
		if (i == k)
			continue;
		cr_assert(cs[k].rev == 2 && cs[i].rev == 1,
		    "orphan container next to revision %lu: %s", cs[k].rev,
		    what);
		cr_assert_str_neq(cs[i].state, "running");
	}
	cr_assert_eq(open_agent, 0, "the agent still has %d command(s) "
	    "accepted without a result", open_agent);
	cr_assert_eq(journal, 0, "the agent's journal still has %d row(s)",
	    journal);
	cr_assert_eq(open_ferryd, 0, "ferryd still waits on %d command(s) "
	    "of %s", open_ferryd, host);
	cr_assert_eq(st, cs[k].rev == 2 ? 0 : 1, "ferry swap exited %d while "
	    "revision %lu runs: %s", st, cs[k].rev, logs);
	/* The swap's final state at ferryd tells the same. */
	if (h_db_row(f, "ferryd/ferryd.db", "SELECT state FROM commands WHERE "
	    "host = ? AND kind = 'swap' ORDER BY seq DESC LIMIT 1", NULL, 0,
	    host, body, sizeof(body), NULL, NULL) && cs[k].rev == 2)
		cr_assert_str_eq(body, "succeeded");
	if (out != NULL) {
		out->rev = cs[k].rev;
		out->swap_exit = st;
	}
}

/* ---- killing the agent at a step of a swap ------------------------------- */

enum kill_at {
	AT_PULLING,	/* the Pull command accepted, no result yet */
	AT_PULLED,	/* the Pull command succeeded */
	AT_CREATED,	/* journal: created */
	AT_STOPPED,	/* journal: stopped (the old one), before start */
	AT_HEALTH,	/* journal: started, health checks failing */
	AT_HEALTHY,	/* journal: healthy, only tidying left */
	AT_REPORTED,	/* a failed swap's result recorded, its journal row
			 * still there: its failed container not yet gone */
};

static const char *const at_names[] = { "pulling", "pulled", "created",
    "stopped", "health", "healthy", "reported" };

/* wait_for_step polls the agent's records (tightly: a step may last only
 * as long as one Docker call) until the swap reaches at; returns 1 then. */
static int
wait_for_step(struct h_fleet *f, const char *host, enum kill_at at,
    long long pulls_before, int ms)
{
	uint64_t end = h_mono_ms() + (uint64_t)ms;
	char rel[128], step[32];
	sqlite3 *db;
	sqlite3_stmt *s = NULL;
	const char *sql;
	int hit = 0;

	agent_db(host, rel, sizeof(rel));
	switch (at) {
	case AT_PULLING:
		sql = "SELECT count(*) FROM commands WHERE kind = 'pull' AND "
		    "state = 'accepted'";
		break;
	case AT_PULLED:
		sql = "SELECT count(*) - ?1 FROM commands WHERE kind = 'pull' "
		    "AND state = 'succeeded'";
		break;
	case AT_REPORTED:
		sql = "SELECT count(*) FROM journal j JOIN commands c ON "
		    "c.id = j.command_id WHERE c.state = 'failed'";
		break;
	default:
		sql = "SELECT step FROM journal WHERE service = 'web'";
		break;
	}
	db = h_db_open(f, rel);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	do {
		sqlite3_reset(s);
		if (at == AT_PULLED)
			sqlite3_bind_int64(s, 1, pulls_before);
		if (sqlite3_step(s) == SQLITE_ROW) {
			if (at == AT_PULLING || at == AT_PULLED ||
			    at == AT_REPORTED)
				hit = sqlite3_column_int(s, 0) > 0;
			else {
				const unsigned char *t =
				    sqlite3_column_text(s, 0);
				snprintf(step, sizeof(step), "%s",
				    t ? (const char *)t : "");
				hit = (at == AT_CREATED && strcmp(step,
				    "created") == 0) || (at == AT_STOPPED &&
				    strcmp(step, "stopped") == 0) ||
				    (at == AT_HEALTH && strcmp(step,
				    "started") == 0) || (at == AT_HEALTHY &&
				    strcmp(step, "healthy") == 0);
			}
		}
		if (!hit) {
			struct timespec ts = { 0, 1000000L };
			nanosleep(&ts, NULL);
		}
	} while (!hit && h_mono_ms() < end);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return hit;
}

static void
kill_mid_swap(enum kill_at at)
{
	struct h_fleet *f = &fleet;
	struct h_proc *agent, *bg;
	struct settled s;
	char host[64], v1[600], v2[600], step[32], rel[128];
	const char *ip = "127.0.0.2";
	const char *tag2 = at == AT_HEALTH ? "slow" : at == AT_REPORTED ?
	    "bad" : "2";
	const char *tags[3] = { "", "1", tag2 };
	/* A failed start-first swap has the most tidying left after its
	 * report: stopping and removing the failed container. */
	int port = at == AT_REPORTED ? 0 : h_free_port();
	long long pulls;
	uint64_t t0;

	h_unique(at == AT_PULLING ? "kp" : at == AT_PULLED ? "kq" :
	    at == AT_CREATED ? "kc" : at == AT_STOPPED ? "ks" :
	    at == AT_HEALTH ? "kh" : at == AT_REPORTED ? "kr" : "ky", host,
	    sizeof(host));
	write_spec(f, "v1.yml", host, "1", port, v1, sizeof(v1));
	write_spec(f, "v2.yml", host, tag2, port, v2, sizeof(v2));
	h_start_ferryd(f, NULL);
	agent = h_add_agent(f, host, ip);
	swap(f, host, v1, 0);

	agent_db(host, rel, sizeof(rel));
	pulls = h_db_int(f, rel, "SELECT count(*) FROM commands WHERE kind = "
	    "'pull' AND state = 'succeeded'", NULL, 0, NULL);
	bg = swap_bg(f, "swap-v2", host, v2);
	cr_assert(wait_for_step(f, host, at, pulls, 20000), "the swap never "
	    "reached step %s", at_names[at]);
	h_kill(agent, SIGKILL);
	journal_step(f, host, step, sizeof(step));
	cr_log_info("%s: killed at step %s (journal: \"%s\")", host,
	    at_names[at], step);
	if (at == AT_CREATED)
		cr_assert_str_eq(step, "created");
	else if (at == AT_STOPPED)
		cr_assert_str_eq(step, "stopped");
	else if (at == AT_HEALTH)
		cr_assert_str_eq(step, "started");
	else if (at == AT_HEALTHY)
		cr_assert_str_eq(step, "healthy");
	else if (at == AT_REPORTED)
		cr_assert_str_eq(step, "started");

	t0 = h_mono_ms();
	agent = h_start_agent(f, host, NULL);
	expect_settled(f, host, ip, port, tags, bg, &s);
	cr_log_info("%s: settled %llu ms after the restart: revision %lu runs, "
	    "ferry swap exited %d", host, (unsigned long long)(h_mono_ms() - t0),
	    s.rev, s.swap_exit);
	/* A swap killed before its new container passed its health check is
	 * reverted; one killed before it began runs after the restart. */
	if (at == AT_CREATED || at == AT_STOPPED || at == AT_HEALTH ||
	    at == AT_REPORTED)
		cr_assert_eq(s.rev, 1, "revision %lu runs after a kill at %s",
		    s.rev, at_names[at]);
	/* One whose failure was recorded keeps that result: the restart
	 * only removes the failed container. */
	if (at == AT_REPORTED) {
		char msg[512] = "";

		cr_assert(h_wait_log(agent, "tidied, its result stands", 5000),
		    "the restarted agent did not say it tidied up");
		h_db_row(f, "ferryd/ferryd.db", "SELECT result FROM commands "
		    "WHERE host = ? AND kind = 'swap' ORDER BY seq DESC LIMIT "
		    "1", NULL, 0, host, msg, sizeof(msg), NULL, NULL);
		cr_assert(strstr(msg, "HTTP 404") != NULL, "ferryd's record "
		    "of the swap: \"%s\"", msg);
	}
	/* One that passed is finished. */
	if (at == AT_HEALTHY)
		cr_assert_eq(s.rev, 2, "revision %lu runs after a kill at %s",
		    s.rev, at_names[at]);
	cr_assert(h_alive(agent), "the restarted agent died");
}

Test(swap_faults, kill_agent_after_health_passed, .init = setup,
    .fini = teardown, .timeout = 90)
{
	kill_mid_swap(AT_HEALTHY);
}

Test(swap_faults, kill_agent_after_a_failure_was_reported,
    .init = setup, .fini = teardown, .timeout = 90)
{
	kill_mid_swap(AT_REPORTED);
}

Test(swap_faults, kill_agent_during_pull, .init = setup, .fini = teardown,
    .timeout = 90)
{
	kill_mid_swap(AT_PULLING);
}

Test(swap_faults, kill_agent_after_pull, .init = setup, .fini = teardown,
    .timeout = 90)
{
	kill_mid_swap(AT_PULLED);
}

Test(swap_faults, kill_agent_after_create, .init = setup, .fini = teardown,
    .timeout = 90)
{
	kill_mid_swap(AT_CREATED);
}

Test(swap_faults, kill_agent_after_stop, .init = setup, .fini = teardown,
    .timeout = 90)
{
	kill_mid_swap(AT_STOPPED);
}

Test(swap_faults, kill_agent_during_health_wait, .init = setup,
    .fini = teardown, .timeout = 90)
{
	kill_mid_swap(AT_HEALTH);
}

/*
 * slow_swap_under_way starts ferryd and host's agent (publishing on ip),
 * has revision 1 run on port, then starts the swap to the slow revision 2
 * in the background (DIR/swap-v2.log, returned) and waits until its new
 * container runs, failing its health checks for 3 s; *agent: the agent.
 */
static struct h_proc *
slow_swap_under_way(struct h_fleet *f, const char *host, const char *ip,
    int port, struct h_proc **agent)
{
	char v1[600], v2[600];
	struct h_proc *bg;

	write_spec(f, "v1.yml", host, "1", port, v1, sizeof(v1));
	write_spec(f, "v2.yml", host, "slow", port, v2, sizeof(v2));
	h_start_ferryd(f, NULL);
	*agent = h_add_agent(f, host, ip);
	swap(f, host, v1, 0);
	bg = swap_bg(f, "swap-v2", host, v2);
	cr_assert(wait_for_step(f, host, AT_HEALTH, 0, 20000),
	    "the swap never started its new container");
	return bg;
}

/* ---- a journal write that fails ------------------------------------------ */

/*
 * The agent's state dir (its records and journal) is a small tmpfs of the
 * test's own, mounted in a mount namespace of the test process's own, so
 * that it goes with the test's processes however the test ends; the test's
 * fini unmounts it too.
 */
static char tmpfs_dir[600];

static void
teardown_tmpfs(void)
{
	if (tmpfs_dir[0] != '\0' && umount2(tmpfs_dir, MNT_DETACH) != 0)
		cr_log_warn("umount %s: %s", tmpfs_dir, strerror(errno));
	tmpfs_dir[0] = '\0';
	teardown();
}

static void
mount_tmpfs(const char *dir)
{
	cr_assert_eq(unshare(CLONE_NEWNS), 0, "unshare: %s", strerror(errno));
	cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0,
	    "making / private: %s", strerror(errno));
	cr_assert(mkdir(dir, 0700) == 0 || errno == EEXIST, "mkdir %s: %s",
	    dir, strerror(errno));
	cr_assert_eq(mount("ferry-test", dir, "tmpfs", MS_NOSUID | MS_NODEV,
	    "size=4m,mode=0700"), 0, "mount tmpfs on %s: %s", dir,
	    strerror(errno));
	snprintf(tmpfs_dir, sizeof(tmpfs_dir), "%s", dir);
}

/* fill writes path until its file system is full. */
static void
fill(const char *path)
{
	static char buf[65536];
	long long total = 0;
	ssize_t n;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	while ((n = write(fd, buf, sizeof(buf))) > 0)
		total += n;
	cr_assert(n < 0 && errno == ENOSPC, "filling %s: %s", path,
	    n < 0 ? strerror(errno) : "no error");
	close(fd);
	cr_log_info("filled the agent's state dir with %lld bytes", total);
}

/*
 * The disk under the agent's records fills while a stop-first swap waits
 * for its new revision's health: the journal cannot record "healthy".  The
 * swap must not go on unrecorded: it reverts (the old revision runs again,
 * the new container goes) and fails, saying why.  Room comes back as soon
 * as the agent says so, for its result to be recorded and reach ferryd;
 * then the next swap goes through.
 */
Test(swap_faults, a_journal_write_that_fails_stops_the_swap,
    .init = setup, .fini = teardown_tmpfs, .timeout = 90)
{
	struct h_fleet *f = &fleet;
	struct h_proc *agent, *bg;
	struct ctr cs[MAX_CS];
	char host[64], v3[600], dir[600], path[700];
	char rel[128], what[1024], logs[4096], body[2048], msg[512];
	const char *ip = "127.0.0.2";
	const char *why = "cannot record the swap's progress: ";
	int port = h_free_port(), n, k, said, st, journal;
	uint64_t end;

	h_unique("jf", host, sizeof(host));
	write_spec(f, "v3.yml", host, "2", port, v3, sizeof(v3));
	mount_tmpfs(h_path(f, host, dir, sizeof(dir)));
	bg = slow_swap_under_way(f, host, ip, port, &agent);
	agent_db(host, rel, sizeof(rel));
	snprintf(path, sizeof(path), "%s/fill", dir);
	fill(path);
	/* The result is recorded only after the old revision runs again: a
	 * few Docker calls, far longer than a look at the log. */
	said = h_wait_log(agent, why, 15000);
	/* Room again, for the result. */
	cr_assert_eq(unlink(path), 0, "unlink %s: %s", path, strerror(errno));

	/* Exactly one revision runs, the old one; the new container goes
	 * (after the result is sent: report_early), then the journal row. */
	end = h_mono_ms() + SETTLE_MS;
	do {
		n = containers(host, cs);
		k = running_of(cs, n);
		journal = (int)h_db_int(f, rel, "SELECT count(*) FROM journal",
		    NULL, 0, NULL);
		if (n != 1 || journal != 0)
			h_sleep_ms(100);
	} while ((n != 1 || journal != 0) && h_mono_ms() < end);
	describe(cs, n, what, sizeof(what));
	cr_assert(k >= 0 && cs[k].rev == 1, "containers: %s", what);
	cr_assert_eq(n, 1, "containers: %s", what);
	cr_assert(serves(ip, port, "1", body, sizeof(body), NULL),
	    "revision 1 does not serve: %s", body);
	cr_assert_eq(journal, 0, "the agent's journal still has %d row(s)",
	    journal);

	/* It failed, saying why, at once and in its result. */
	cr_assert(said, "the agent never said it could not record the "
	    "swap's progress");
	cr_assert(h_log_has(agent, "(step healthy); the swap stops"),
	    "the failed write was not the one of step healthy");
	st = wait_exit(bg, 20000);
	log_file(bg->log, logs, sizeof(logs));
	cr_assert_eq(st, 1, "ferry swap exited %d: %s", st, logs);
	cr_assert(strstr(logs, why) != NULL, "ferry swap does not say why: "
	    "%s", logs);

	/* Settled in the records on both sides, the reason in the result. */
	cr_assert(h_db_row(f, rel, "SELECT state FROM commands WHERE kind = "
	    "'swap' ORDER BY seq DESC LIMIT 1", NULL, 0, NULL, msg,
	    sizeof(msg), NULL, NULL));
	cr_assert_str_eq(msg, "failed");
	cr_assert(h_db_row(f, "ferryd/ferryd.db", "SELECT state || ': ' || "
	    "result FROM commands WHERE host = ? AND kind = 'swap' ORDER BY "
	    "seq DESC LIMIT 1", NULL, 0, host, msg, sizeof(msg), NULL, NULL));
	cr_assert(strncmp(msg, "failed: ", 8) == 0 && strstr(msg, why) !=
	    NULL, "ferryd's record of the swap: \"%s\"", msg);

	/* With room again, the next swap goes through. */
	swap(f, host, v3, 0);
	cr_assert(serves(ip, port, "2", body, sizeof(body), NULL),
	    "revision 3 does not serve version 2: %s", body);
	cr_assert(h_alive(agent), "the agent died");
}

/* ---- a fake ferryd with the real key ------------------------------------- */

/*
 * The fake runs in a process of its own (fake.h: nng_close of Debian's NNG
 * 1.5.2 may hang for good, and a test process left so can never exit), on
 * a REP socket on ferryd's port, and reports through a file both map.
 * Nothing in it may use Criterion's asserts: a failed check writes the
 * link's error and ends the process.
 */

#define ENV_MAX		8192

enum fake_script { FAKE_REFUSALS = 1, FAKE_DUP };

#define MAX_IDS 16

struct final {
	uint8_t id[ID_LEN];
	Ferry__Report__Status status;
	int outcome;			/* SwapResult outcome, -1 none */
	char reason[512];
};

struct fake {
	struct fake_link link;		/* url, keys, deadline, polls, error */
	/* set before the fake starts */
	enum fake_script script;
	struct keypair rogue;		/* for acks the agent must refuse */
	uint8_t hold_id[ID_LEN];	/* its final report: not acknowledged */
	int hold;
	uint8_t repeat_id[ID_LEN];
	uint8_t env[ENV_MAX];		/* FAKE_DUP: the command to repeat */
	size_t env_len;
	char host[64];			/* FAKE_REFUSALS: the target */
	uint8_t fpr[KEY_FPR_LEN];
	char digest[300];
	int port;
	/* results */
	struct final finals[MAX_IDS];
	int nfinals;
	int repeats;			/* repeat answers for repeat_id */
	int held;			/* final reports left unacknowledged */
	uint8_t ids[MAX_IDS][ID_LEN];	/* commands the script made */
};

#define FK_CHECK(fk, cond, ...)	FAKE_CHECK(&(fk)->link, cond, __VA_ARGS__)

static void
fk_seal(struct fake *fk, uint32_t kind, const ProtobufCMessage *m,
    const struct keypair *kp, uint8_t **buf, size_t *len)
{
	fake_seal(&fk->link, kind, m, kp, buf, len);
}

/* note_report notes one verified report; says whether it is the held
 * command's final report, whose acknowledgement the fake forges (with a
 * key the agent does not trust: the report stays for the real ferryd). */
static int
note_report(struct fake *fk, const Ferry__Report *r)
{
	int i, held = 0;

	/* The real ferryd's ping before the fake took over: its answer rode
	 * on a heartbeat that may not have been answered yet, so it comes
	 * again.  It is none of the fake's. */
	if (r->result_case == FERRY__REPORT__RESULT_PONG)
		return 0;
	if (r->command_id.len == ID_LEN && r->repeat &&
	    memcmp(r->command_id.data, fk->repeat_id, ID_LEN) == 0)
		fk->repeats++;
	else if (r->command_id.len == ID_LEN && (r->status ==
	    FERRY__REPORT__STATUS__SUCCEEDED || r->status ==
	    FERRY__REPORT__STATUS__FAILED || r->status ==
	    FERRY__REPORT__STATUS__REFUSED)) {
		if (fk->hold && memcmp(r->command_id.data, fk->hold_id,
		    ID_LEN) == 0) {
			held = 1;
			fk->held++;
		}
		for (i = 0; i < fk->nfinals; i++)
			if (memcmp(fk->finals[i].id, r->command_id.data,
			    ID_LEN) == 0)
				break;
		if (i == fk->nfinals && i < MAX_IDS) {
			struct final *fn = &fk->finals[i];
			memcpy(fn->id, r->command_id.data, ID_LEN);
			fn->status = r->status;
			fn->outcome = r->result_case ==
			    FERRY__REPORT__RESULT_SWAP ? (int)r->swap->outcome :
			    -1;
			snprintf(fn->reason, sizeof(fn->reason), "%s",
			    r->result_case == FERRY__REPORT__RESULT_SWAP &&
			    r->swap->reason ? r->swap->reason : r->message ?
			    r->message : "");
			fk->nfinals++;
		}
	}
	return held;
}

/* fake_report notes one verified report of its own and acknowledges it
 * with the real key, or with the rogue one for the held report. */
static void
fake_report(struct fake_link *l, const struct envelope *ev)
{
	struct fake *fk = (struct fake *)l;
	Ferry__Report *r = NULL;

	FK_CHECK(fk, envelope_unpack(ev, &ferry__report__descriptor,
	    (ProtobufCMessage **)&r) == 0, "the agent's report does not "
	    "unpack");
	fake_acknowledge(l, r, note_report(fk, r));
	ferry__report__free_unpacked(r, NULL);
}

/* fake_riding notes a report that rode on a poll; the Idle that names the
 * held one is sealed with a key the agent does not trust. */
static int
fake_riding(struct fake_link *l, const Ferry__Report *r)
{
	return note_report((struct fake *)l, r);
}

/* fake_setup maps DIR/fake-ferryd.map, to share with the fake, keys set:
 * ferryd's real one, the host's public half, a rogue one. */
static struct fake *
fake_setup(struct h_fleet *f, const char *host)
{
	char rel[128];
	struct keypair hostkey;
	struct fake *fk;

	fk = fake_new(f, "fake-ferryd", sizeof(*fk));
	fk->link.mode = FAKE_SCRIPT;
	h_load_key(f, "ferryd/ferryd.key", &fk->link.coord);
	snprintf(rel, sizeof(rel), "%s/host.key", host);
	h_load_key(f, rel, &hostkey);
	memcpy(fk->link.agent_pk, hostkey.pk, KEY_PUBLIC_LEN);
	sodium_memzero(&hostkey, sizeof(hostkey));
	cr_assert_eq(keys_generate(&fk->rogue), 0);
	fk->link.forger = fk->rogue;
	return fk;
}

/*
 * run_fake kills ferryd, then runs the fake's script on its port, for at
 * most ms, and waits for it; the script's failures fail the test.
 */
static void
run_fake(struct h_fleet *f, struct fake *fk, int ms)
{
	h_kill(f->ferryd, SIGKILL);
	fk->link.deadline = h_mono_ms() + (uint64_t)ms;
	fake_run(f, &fk->link, "fake-ferryd", ms);
	cr_log_info("fake ferryd: %d polls, %d final reports, %d repeats, %d "
	    "held", fk->link.polls, fk->nfinals, fk->repeats, fk->held);
}

static void refusal_script(struct fake *fk);
static void dup_script(struct fake *fk);

/* fake_script: this binary run as the fake ferryd (fake.h). */
static void
fake_script(struct fake_link *l)
{
	struct fake *fk = (struct fake *)l;

	l->on_report = fake_report;
	l->on_riding = fake_riding;
	if (fk->script == FAKE_REFUSALS)
		refusal_script(fk);
	else if (fk->script == FAKE_DUP)
		dup_script(fk);
	else
		fake_fail(l, "no script %d", (int)fk->script);
}

FAKE_MAIN(fake_script)

/* ---- the same command id twice ------------------------------------------- */

/* dup_script: the swap command again while the swap runs, and again once
 * its final report came (held back for the real ferryd). */
static void
dup_script(struct fake *fk)
{
	fake_answer(&fk->link, fk->env, fk->env_len);
	while (fk->repeats < 1)
		fake_idle(&fk->link);
	while (fk->held < 1)
		fake_idle(&fk->link);
	fake_answer(&fk->link, fk->env, fk->env_len);
	while (fk->repeats < 2)
		fake_idle(&fk->link);
}

Test(swap_faults, same_command_twice_runs_one_swap, .init = setup,
    .fini = teardown, .timeout = 90)
{
	struct h_fleet *f = &fleet;
	struct h_proc *agent, *bg;
	struct fake *fk;
	struct ctr cs[MAX_CS];
	char host[64], rel[128], line[300];
	char idhex[ID_LEN * 2 + 1], what[1024], body[2048], state[32];
	const char *ip = "127.0.0.2";
	uint8_t *env, *id;
	size_t env_len, id_len;
	long long seq;
	int port = h_free_port(), n, k, i, had_repeat;

	h_unique("dup", host, sizeof(host));
	/* The swap to v2 is under way: its health checks fail for 3 s. */
	bg = slow_swap_under_way(f, host, ip, port, &agent);
	agent_db(host, rel, sizeof(rel));
	/* ferryd dies during the health wait (run_fake kills it). */

	/* The swap command exactly as ferryd signed and sent it. */
	cr_assert(h_db_row(f, "ferryd/ferryd.db", "SELECT '', envelope FROM "
	    "commands WHERE host = ? AND kind = 'swap' ORDER BY seq DESC "
	    "LIMIT 1", NULL, 0, host, NULL, 0, &env, &env_len),
	    "no swap command in ferryd.db");
	cr_assert(h_db_row(f, "ferryd/ferryd.db", "SELECT '', id FROM commands "
	    "WHERE host = ? AND kind = 'swap' ORDER BY seq DESC LIMIT 1", NULL,
	    0, host, NULL, 0, &id, &id_len));
	cr_assert_eq(id_len, ID_LEN);
	h_hex(id, ID_LEN, idhex, sizeof(idhex));
	seq = h_db_int(f, "ferryd/ferryd.db", "SELECT seq FROM commands WHERE "
	    "host = ? AND kind = 'swap' ORDER BY seq DESC LIMIT 1", NULL, 0,
	    host);
	had_repeat = h_log_count(agent, "answering from the records");
	h_kill(bg, SIGKILL);	/* its answer dies with ferryd */

	/* The same command again, byte for byte, from something holding
	 * ferryd's key (a ferryd that resends, a network that duplicates):
	 * once while the swap still runs, once after it finished.  The
	 * swap's own final report is left for the real ferryd. */
	fk = fake_setup(f, host);
	memcpy(fk->repeat_id, id, ID_LEN);
	memcpy(fk->hold_id, id, ID_LEN);
	fk->hold = 1;
	fk->script = FAKE_DUP;
	cr_assert_leq(env_len, sizeof(fk->env));
	memcpy(fk->env, env, env_len);
	fk->env_len = env_len;
	run_fake(f, fk, 30000);

	cr_assert_eq(fk->nfinals, 1, "final reports on %d commands",
	    fk->nfinals);
	cr_assert(memcmp(fk->finals[0].id, id, ID_LEN) == 0);
	cr_assert_eq(fk->finals[0].status, FERRY__REPORT__STATUS__SUCCEEDED,
	    "the swap: %s", fk->finals[0].reason);
	cr_assert_eq(fk->finals[0].outcome,
	    FERRY__SWAP_RESULT__OUTCOME__SWAPPED);
	/* Answered from the records, executed once. */
	cr_assert_geq(h_log_count(agent, "answering from the records") -
	    had_repeat, 2);
	snprintf(line, sizeof(line), "command %s seq %lld: already accepted; "
	    "answering from the records", idhex, seq);
	cr_assert(h_log_has(agent, line), "the repeat during the swap was not "
	    "answered as accepted: %s", line);
	snprintf(line, sizeof(line), "command %s seq %lld: already "
	    "succeeded; answering from the records", idhex, seq);
	cr_assert(h_log_has(agent, line), "the repeat after the swap was not "
	    "answered with its stored result: %s", line);
	snprintf(line, sizeof(line), "web r2: created ferry-%s-web-r2", host);
	cr_assert_eq(h_log_count(agent, line), 1, "the second revision was "
	    "created %d times", h_log_count(agent, line));
	cr_assert_eq(h_db_int(f, rel, "SELECT count(*) FROM commands WHERE "
	    "kind = 'swap'", NULL, 0, NULL), 2);
	cr_assert(h_db_row(f, rel, "SELECT state FROM commands WHERE kind = "
	    "'swap' ORDER BY seq DESC LIMIT 1", NULL, 0, NULL, state,
	    sizeof(state), NULL, NULL));
	cr_assert_str_eq(state, "succeeded");

	/* ferryd comes back and hears the truth from the agent's records. */
	h_start_ferryd(f, NULL);
	{
		uint64_t end = h_mono_ms() + 10000;

		do {
			h_db_row(f, "ferryd/ferryd.db", "SELECT state FROM "
			    "commands WHERE host = ? AND kind = 'swap' ORDER BY "
			    "seq DESC LIMIT 1", NULL, 0, host, state,
			    sizeof(state), NULL, NULL);
			if (strcmp(state, "succeeded") == 0)
				break;
			h_sleep_ms(100);
		} while (h_mono_ms() < end);
		cr_assert_str_eq(state, "succeeded", "ferryd's record of the "
		    "swap after its restart");
	}

	/* One swap's worth of containers: r2 runs and serves, r1 kept. */
	n = containers(host, cs);
	describe(cs, n, what, sizeof(what));
	k = running_of(cs, n);
	cr_assert(k >= 0 && cs[k].rev == 2, "containers: %s", what);
	cr_assert_eq(n, 2, "containers: %s", what);
	for (i = 0; i < n; i++)
		if (i != k)
			cr_assert(cs[i].rev == 1 && strcmp(cs[i].state,
			    "running") != 0, "containers: %s", what);
	cr_assert(serves(ip, port, "slow", body, sizeof(body), NULL), "r2 does not "
	    "serve: %s", body);
	cr_assert_eq(h_db_int(f, rel, "SELECT count(*) FROM journal", NULL, 0,
	    NULL), 0);
	cr_assert(h_alive(agent));
	munmap(fk, sizeof(*fk));
	free(env);
	free(id);
}

/* ---- two agents, one dockerd ---------------------------------------------- */

struct snap {
	char id[80];
	char state[32];
	char started[64];
};

static void
snap_of(const char *host, struct snap *s)
{
	struct ctr cs[MAX_CS];
	struct h_run *r = malloc(sizeof(*r));
	char what[1024];
	int n = containers(host, cs);

	describe(cs, n, what, sizeof(what));
	cr_assert_eq(n, 1, "%s: %s", host, what);
	snprintf(s->id, sizeof(s->id), "%s", cs[0].id);
	snprintf(s->state, sizeof(s->state), "%s", cs[0].state);
	cr_assert_not_null(r);
	cr_assert_eq(h_docker(r, (const char *[]){ "inspect", "--format",
	    "{{.State.StartedAt}}", s->id, NULL }), 0, "inspect: %s", r->err);
	r->out[strcspn(r->out, "\n")] = '\0';
	snprintf(s->started, sizeof(s->started), "%.63s", r->out);
	free(r);
}

static void
expect_untouched(const char *host, const struct snap *before, int port,
    const char *when)
{
	struct snap now;
	char body[2048];

	snap_of(host, &now);
	cr_assert_str_eq(now.id, before->id, "%s: %s's container replaced",
	    when, host);
	cr_assert_str_eq(now.state, "running", "%s: %s's container is %s",
	    when, host, now.state);
	cr_assert_str_eq(now.started, before->started, "%s: %s's container "
	    "was restarted", when, host);
	cr_assert(serves("127.0.0.3", port, "1", body, sizeof(body), NULL),
	    "%s: %s no longer serves version 1: %s", when, host, body);
}

/* all_labelled: every container named ferry-<host>- carries ferry.host =
 * host, and every container labelled so is named so; returns how many. */
static int
all_labelled(const char *host)
{
	struct h_run *r = malloc(sizeof(*r));
	char filter[128], prefix[128], *line, *save = NULL;
	struct ctr cs[MAX_CS];
	int n = 0, i, m;

	cr_assert_not_null(r);
	snprintf(filter, sizeof(filter), "name=ferry-%s-", host);
	snprintf(prefix, sizeof(prefix), "ferry-%s-", host);
	cr_assert_eq(h_docker(r, (const char *[]){ "ps", "-a", "--filter",
	    filter, "--format", "{{.Names}} {{.Label \"ferry.host\"}}",
	    NULL }), 0, "docker ps: %s", r->err);
	for (line = strtok_r(r->out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char nm[200] = "", lb[100] = "";
		sscanf(line, "%199s %99s", nm, lb);
		cr_assert_str_eq(lb, host, "container %s is labelled for "
		    "host \"%s\"", nm, lb);
		n++;
	}
	free(r);
	m = containers(host, cs);
	for (i = 0; i < m; i++)
		cr_assert(strncmp(cs[i].name, prefix, strlen(prefix)) == 0,
		    "%s's container is named %s", host, cs[i].name);
	cr_assert_eq(m, n);
	return n;
}

Test(swap_faults, two_agents_one_dockerd, .init = setup, .fini = teardown,
    .timeout = 90)
{
	struct h_fleet *f = &fleet;
	struct h_run *r = malloc(sizeof(*r));
	struct ctr cs[MAX_CS];
	struct snap b;
	char ha[64], hb[64], a1[600], a2[600], b1[600], body[2048];
	char what[1024];
	int pa = h_free_port(), pb, n, k;

	do
		pb = h_free_port();
	while (pb == pa);
	cr_assert_not_null(r);
	h_unique("twa", ha, sizeof(ha));
	h_unique("twb", hb, sizeof(hb));
	write_spec(f, "a1.yml", ha, "1", pa, a1, sizeof(a1));
	write_spec(f, "a2.yml", ha, "2", pa, a2, sizeof(a2));
	write_spec(f, "b1.yml", hb, "1", pb, b1, sizeof(b1));
	h_start_ferryd(f, NULL);
	h_add_agent(f, ha, "127.0.0.2");
	h_add_agent(f, hb, "127.0.0.3");

	swap(f, ha, a1, 0);
	swap(f, hb, b1, 0);
	snap_of(hb, &b);
	expect_untouched(hb, &b, pb, "after both swaps");
	cr_assert(serves("127.0.0.2", pa, "1", body, sizeof(body), NULL), "%s", body);

	swap(f, ha, a2, 0);
	cr_assert(serves("127.0.0.2", pa, "2", body, sizeof(body), NULL), "%s", body);
	expect_untouched(hb, &b, pb, "after A's swap to v2");

	h_ferry(f, r, (const char *[]){ "swap", ha, "--rollback", "web",
	    NULL });
	cr_assert_eq(r->status, 0, "rollback of %s: %s%s", ha, r->out, r->err);
	cr_assert(serves("127.0.0.2", pa, "1", body, sizeof(body), NULL), "%s", body);
	expect_untouched(hb, &b, pb, "after A's rollback");

	n = containers(ha, cs);
	describe(cs, n, what, sizeof(what));
	k = running_of(cs, n);
	cr_assert(k >= 0 && cs[k].rev == 1, "%s: %s", ha, what);
	cr_assert_eq(n, 2, "%s: %s", ha, what);
	cr_assert_eq(all_labelled(ha), 2);
	cr_assert_eq(all_labelled(hb), 1);
	free(r);
}

/* ---- a journal row this agent cannot read -------------------------------- */

/*
 * A journal row whose step this agent does not know (written by a newer
 * agent, then downgraded; or damaged) is left as it is, loudly: the
 * reconciliation fails naming it, nothing of the service is touched, and
 * commands fail saying why rather than run over a swap half done.
 */
Test(swap_faults, a_journal_step_this_agent_does_not_know_is_refused,
    .init = setup, .fini = teardown, .timeout = 90)
{
	struct h_fleet *f = &fleet;
	struct h_run *r = malloc(sizeof(*r));
	struct h_proc *agent;
	struct ctr cs[MAX_CS];
	struct snap before;
	char host[64], v1[600], v2[600], rel[128], sql[600], what[1024];
	const char *ip = "127.0.0.3";
	const char *why = "(step draining) could not be settled: this agent "
	    "does not know its step or kind; left as it is";
	char *err = NULL;
	sqlite3 *db;
	int port = h_free_port(), n;

	cr_assert_not_null(r);
	h_unique("ju", host, sizeof(host));
	write_spec(f, "v1.yml", host, "1", port, v1, sizeof(v1));
	write_spec(f, "v2.yml", host, "2", port, v2, sizeof(v2));
	h_start_ferryd(f, NULL);
	agent = h_add_agent(f, host, ip);
	swap(f, host, v1, 0);
	snap_of(host, &before);

	h_kill(agent, SIGTERM);
	agent_db(host, rel, sizeof(rel));
	snprintf(sql, sizeof(sql), "INSERT INTO journal(service, command_id, "
	    "kind, revision, step, old_id, new_id, new_name, keep, "
	    "updated_ms) VALUES ('web', randomblob(16), 'swap', 2, "
	    "'draining', '%s', '', 'ferry-%s-web-r2', 1, 0)", before.id,
	    host);
	db = h_db_open(f, rel);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK,
	    "%s", err ? err : "");
	sqlite3_close(db);
	agent = h_start_agent(f, host, NULL);
	cr_assert(h_wait_log(agent, why, 10000), "the agent did not say it "
	    "left the row it cannot read");

	h_ferry(f, r, (const char *[]){ "swap", host, v2, NULL });
	cr_assert_eq(r->status, 1, "ferry swap: exit %d: %s%s", r->status,
	    r->out, r->err);
	cr_assert(strstr(r->out, why) != NULL || strstr(r->err, why) != NULL,
	    "ferry swap does not say why: %s%s", r->out, r->err);

	/* Nothing was touched: the row stays, r1 runs as it ran. */
	cr_assert_eq(h_db_int(f, rel, "SELECT count(*) FROM journal WHERE "
	    "step = 'draining'", NULL, 0, NULL), 1);
	n = containers(host, cs);
	describe(cs, n, what, sizeof(what));
	cr_assert_eq(n, 1, "containers: %s", what);
	expect_untouched(host, &before, port, "after the refusal");
	cr_assert(h_alive(agent), "the agent died");
	free(r);
}

/* ---- refusals by the agent's allowlist ------------------------------------ */

enum bad_swap { BAD_PRIVILEGED, BAD_TAG, BAD_CAP, BAD_BIND, BAD_START_FIRST,
    NBAD };

static const char *const bad_reason[NBAD] = {
	"refused: privileged ",
	"refused: the image must be given by digest",
	"refused: added capabilities",
	"refused: bind of /etc is outside ",
	"refused: start-first would run two containers ",
};

static void
make_swap(struct fake *fk, const struct keypair *coord, const char *host,
    const uint8_t fpr[KEY_FPR_LEN], uint64_t seq, enum bad_swap what,
    const char *digest, int port, uint8_t id[ID_LEN], uint8_t **buf,
    size_t *len)
{
	Ferry__Command c = FERRY__COMMAND__INIT;
	Ferry__Swap s = FERRY__SWAP__INIT;
	Ferry__PortBinding pb = FERRY__PORT_BINDING__INIT;
	Ferry__HealthSpec hs = FERRY__HEALTH_SPEC__INIT;
	Ferry__HttpCheck http = FERRY__HTTP_CHECK__INIT;
	Ferry__Bind bind = FERRY__BIND__INIT, *binds[1] = { &bind };
	char *caps[1] = { "NET_ADMIN" };
	uint64_t now = clock_wall_ms();

	randombytes_buf(id, ID_LEN);
	c.id.data = id;
	c.id.len = ID_LEN;
	c.target_host = (char *)host;
	c.target_fingerprint.data = (uint8_t *)fpr;
	c.target_fingerprint.len = KEY_FPR_LEN;
	c.sequence = seq;
	c.issued_at_ms = now;
	c.expires_at_ms = now + 60000;
	http.path = "/health";
	http.port = 80;
	hs.check_case = FERRY__HEALTH_SPEC__CHECK_HTTP;
	hs.http = &http;
	hs.interval_ms = 200;
	hs.deadline_ms = 10000;
	pb.host = (uint32_t)port;
	pb.container = 80;
	s.service = "web";
	s.revision = 7;
	s.deployment = "";
	s.image = (char *)digest;
	s.port = &pb;
	s.health = &hs;
	switch (what) {
	case BAD_PRIVILEGED:
		s.privileged = 1;
		break;
	case BAD_TAG:
		s.image = REPO ":1";
		break;
	case BAD_CAP:
		s.cap_add = caps;
		s.n_cap_add = 1;
		break;
	case BAD_BIND:
		bind.source = "/etc";
		bind.target = "/x";
		s.binds = binds;
		s.n_binds = 1;
		break;
	case BAD_START_FIRST:
		s.order = FERRY__ORDER__ORDER_START_FIRST;
		break;
	default:
		break;
	}
	c.payload_case = FERRY__COMMAND__PAYLOAD_SWAP;
	c.swap = &s;
	fk_seal(fk, FERRY__KIND__KIND_COMMAND, &c.base, coord, buf, len);
}

/* refusal_script: after the agent's first poll (which tells its last
 * sequence), one command for each setting it must refuse, then Idles
 * until each has its final report. */
static void
refusal_script(struct fake *fk)
{
	uint64_t seq;
	uint8_t *buf;
	size_t len;
	int i;

	fake_idle(&fk->link);
	seq = fk->link.poll_last_seq;
	FK_CHECK(fk, seq >= 1, "the agent executed nothing yet?");
	for (i = 0; i < NBAD; i++) {
		make_swap(fk, &fk->link.coord, fk->host, fk->fpr,
		    seq + 1 + (uint64_t)i, (enum bad_swap)i, fk->digest,
		    fk->port, fk->ids[i], &buf, &len);
		fake_answer(&fk->link, buf, len);
		free(buf);
	}
	while (fk->nfinals < NBAD)
		fake_idle(&fk->link);
}

Test(swap_faults, allowlist_refusals, .init = setup, .fini = teardown,
    .timeout = 90)
{
	struct h_fleet *f = &fleet;
	struct h_run *r = malloc(sizeof(*r));
	struct h_proc *agent;
	struct fake *fk;
	struct ctr cs[MAX_CS];
	char host[64], digest[300], rel[128], what[1024];
	int i, j, n;

	cr_assert_not_null(r);
	h_unique("rf", host, sizeof(host));
	h_start_ferryd(f, NULL);
	/* Without ferry-proxy: start-first with a host port is refused. */
	f->no_proxy = 1;
	agent = h_add_agent(f, host, "127.0.0.2");
	h_ferry(f, r, (const char *[]){ "ping", host, NULL });
	cr_assert_eq(r->status, 0, "ping: %s%s", r->out, r->err);

	cr_assert_eq(h_docker(r, (const char *[]){ "pull", REPO ":1", NULL }),
	    0, "docker pull: %s", r->err);
	cr_assert_eq(h_docker(r, (const char *[]){ "inspect", "--format",
	    "{{index .RepoDigests 0}}", REPO ":1", NULL }), 0, "inspect: %s",
	    r->err);
	r->out[strcspn(r->out, "\n")] = '\0';
	snprintf(digest, sizeof(digest), "%.299s", r->out);
	cr_assert(strstr(digest, "@sha256:") != NULL, "digest: %s", digest);

	fk = fake_setup(f, host);
	fk->script = FAKE_REFUSALS;
	snprintf(fk->host, sizeof(fk->host), "%s", host);
	keys_fingerprint(fk->link.agent_pk, fk->fpr);
	snprintf(fk->digest, sizeof(fk->digest), "%s", digest);
	fk->port = h_free_port();
	run_fake(f, fk, 30000);

	for (i = 0; i < NBAD; i++) {
		for (j = 0; j < fk->nfinals; j++)
			if (memcmp(fk->finals[j].id, fk->ids[i], ID_LEN) == 0)
				break;
		cr_assert(j < fk->nfinals, "no final report for case %d", i);
		cr_log_info("case %d: %s", i, fk->finals[j].reason);
		cr_assert_eq(fk->finals[j].status,
		    FERRY__REPORT__STATUS__FAILED, "case %d: status %d (%s)",
		    i, fk->finals[j].status, fk->finals[j].reason);
		cr_assert_eq(fk->finals[j].outcome,
		    FERRY__SWAP_RESULT__OUTCOME__FAILED, "case %d: outcome %d",
		    i, fk->finals[j].outcome);
		cr_assert(strncmp(fk->finals[j].reason, bad_reason[i],
		    strlen(bad_reason[i])) == 0, "case %d: reason \"%s\", "
		    "expected \"%s...\"", i, fk->finals[j].reason,
		    bad_reason[i]);
	}
	/* Nothing was created, nothing is left half done. */
	n = containers(host, cs);
	describe(cs, n, what, sizeof(what));
	cr_assert_eq(n, 0, "containers made by refused swaps: %s", what);
	agent_db(host, rel, sizeof(rel));
	cr_assert_eq(h_db_int(f, rel, "SELECT count(*) FROM journal", NULL, 0,
	    NULL), 0);
	cr_assert_eq(h_db_int(f, rel, "SELECT count(*) FROM commands WHERE "
	    "kind = 'swap' AND state = 'failed'", NULL, 0, NULL), NBAD);
	cr_assert(h_alive(agent), "the agent died");
	munmap(fk, sizeof(*fk));
	free(r);
}

/* ---- dockerd unreachable -------------------------------------------------- */

Test(swap_faults, docker_unreachable, .init = setup, .fini = teardown,
    .timeout = 90)
{
	struct h_fleet *f = &fleet;
	struct h_run *r = malloc(sizeof(*r));
	struct h_proc *agent;
	char host[64], v1[600];
	int port = h_free_port();

	cr_assert_not_null(r);
	h_unique("nd", host, sizeof(host));
	write_spec(f, "v1.yml", host, "1", port, v1, sizeof(v1));
	h_start_ferryd(f, NULL);
	agent = h_add_agent_with(f, host, "127.0.0.3", (const char *[]){
	    "--docker-socket", "/nonexistent/docker.sock", NULL });

	h_ferry(f, r, (const char *[]){ "swap", host, v1, NULL });
	cr_assert_eq(r->status, 1, "ferry swap: exit %d: %s%s", r->status,
	    r->out, r->err);
	cr_assert(strstr(r->err, "/nonexistent/docker.sock") != NULL ||
	    strstr(r->out, "/nonexistent/docker.sock") != NULL,
	    "the error does not name the socket: %s%s", r->out, r->err);
	cr_log_info("ferry swap: %s%s", r->out, r->err);

	cr_assert(h_alive(agent), "the agent died");
	h_ferry(f, r, (const char *[]){ "ping", host, NULL });
	cr_assert_eq(r->status, 0, "ping after the failed swap: %s%s", r->out,
	    r->err);
	cr_assert(h_alive(agent), "the agent died");
	free(r);
}
