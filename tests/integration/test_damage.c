/* SPDX-License-Identifier: Apache-2.0 */
/* test_damage.c: ferryd and ferry-agent started on a damaged state dir (a
 * read-only file or folder, a truncated file, garbage over its pages, a
 * file that is not a database) exit non-zero naming the file, what is
 * wrong and what to do; real daemons, real SQLite files. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "harness.h"

static struct h_fleet F;
static struct h_run R;
/* Paths made immutable, made mutable again before the folder goes. */
static char frozen[4][840];
static int nfrozen;

static void
set_immutable(const char *path, int on)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK), fl = 0;

	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	cr_assert(ioctl(fd, FS_IOC_GETFLAGS, &fl) == 0, "getflags %s: %s",
	    path, strerror(errno));
	fl = on ? fl | FS_IMMUTABLE_FL : fl & ~FS_IMMUTABLE_FL;
	cr_assert(ioctl(fd, FS_IOC_SETFLAGS, &fl) == 0, "setflags %s: %s",
	    path, strerror(errno));
	close(fd);
	if (on && nfrozen < 4)
		snprintf(frozen[nfrozen++], sizeof(frozen[0]), "%s", path);
}

static void setup(void) { h_init(&F); nfrozen = 0; }

static void
teardown(void)
{
	int fd, fl, i;

	for (i = 0; i < nfrozen; i++) {
		if ((fd = open(frozen[i], O_RDONLY | O_NONBLOCK)) < 0)
			continue;
		if (ioctl(fd, FS_IOC_GETFLAGS, &fl) == 0) {
			fl &= ~FS_IMMUTABLE_FL;
			ioctl(fd, FS_IOC_SETFLAGS, &fl);
		}
		close(fd);
	}
	h_fini(&F);
}

TestSuite(damage, .init = setup, .fini = teardown, .timeout = 90);

/* ferryd_state makes a real ferryd.db (some hosts' tokens in it) and
 * stops ferryd cleanly, so the file stands alone (no -wal). */
static void
ferryd_state(char *db, size_t len)
{
	char tok[1100], wal[800];
	int i;

	h_start_ferryd(&F, NULL);
	for (i = 0; i < 20; i++)
		h_token(&F, tok, sizeof(tok), (const char *[]){ "--label",
		    "role=web", NULL });
	cr_assert_eq(h_kill(F.ferryd, SIGTERM), 0, "ferryd did not stop");
	h_path(&F, "ferryd/ferryd.db", db, len);
	snprintf(wal, sizeof(wal), "%s-wal", db);
	cr_assert(access(wal, F_OK) != 0, "the -wal file stayed");
}

/* agent_state makes a real agent.db (a joined agent that came online) and
 * stops the agent cleanly. */
static void
agent_state(char *db, size_t len)
{
	struct h_proc *a;
	int rc;

	h_start_ferryd(&F, NULL);
	a = h_add_agent(&F, "dmg-1", "127.0.0.2");
	/* 137: still running 10 s after SIGTERM; another: its exit status. */
	rc = h_kill(a, SIGTERM);
	cr_assert_eq(rc, 0, "agent did not stop cleanly: %d (log %s)", rc,
	    a->log);
	h_path(&F, "dmg-1/agent.db", db, len);
	cr_assert(access(db, F_OK) == 0, "no %s", db);
}

static void
run_ferryd(void)
{
	char bin[512], state[600];

	h_run(&R, (const char *[]){ h_bin("ferryd", bin, sizeof(bin)), "-d",
	    "--state-dir", h_path(&F, "ferryd", state, sizeof(state)),
	    "--listen", F.listen, "--socket", F.sock, "--http", F.http,
	    NULL });
}

static void
run_agent(void)
{
	char bin[512], state[600];

	h_run(&R, (const char *[]){ h_bin("ferry-agent", bin, sizeof(bin)),
	    "-d", "--state-dir", h_path(&F, "dmg-1", state, sizeof(state)),
	    "--docker-socket", "/var/run/docker.sock", NULL });
}

/* refused asserts the daemon exited non-zero at once and said which file,
 * what is wrong (what) and what to do (remedy). */
static void
refused(const char *db, const char *what, const char *remedy)
{
	cr_assert(R.status != 0 && R.status < 128,
	    "exit status %d (0 or a signal: it ran on); stderr: %s",
	    R.status, R.err);
	cr_assert(strstr(R.err, db) != NULL, "file not named: %s", R.err);
	cr_assert(strstr(R.err, what) != NULL, "\"%s\" not said: %s", what,
	    R.err);
	cr_assert(strstr(R.err, remedy) != NULL, "remedy \"%s\" not said: %s",
	    remedy, R.err);
}

static void
truncate_half(const char *db)
{
	struct stat st;

	cr_assert(stat(db, &st) == 0);
	cr_assert(st.st_size >= 8 * 4096, "only %lld bytes",
	    (long long)st.st_size);
	cr_assert(truncate(db, st.st_size / 2) == 0);
}

/* scribble writes garbage over every page but the first (the header
 * stays, so only SQLite's own checks can tell). */
static void
scribble(const char *db)
{
	char junk[4096];
	struct stat st;
	off_t at;
	int fd;

	memset(junk, 0x5a, sizeof(junk));
	cr_assert(stat(db, &st) == 0);
	fd = open(db, O_WRONLY);
	cr_assert(fd >= 0);
	for (at = 4096; at < st.st_size; at += 4096)
		cr_assert(pwrite(fd, junk, sizeof(junk), at) ==
		    (ssize_t)sizeof(junk));
	close(fd);
}

static void
not_a_database(const char *db)
{
	FILE *f = fopen(db, "w");

	cr_assert_not_null(f);
	for (int i = 0; i < 200; i++)
		fputs("this is someone's notes, not a database\n", f);
	fclose(f);
}

Test(damage, ferryd_read_only_file)
{
	char db[800];

	ferryd_state(db, sizeof(db));
	set_immutable(db, 1);
	run_ferryd();
	refused(db, "read-only", "writable by ferryd's user");
}

Test(damage, ferryd_read_only_folder)
{
	char db[800], dir[700];

	ferryd_state(db, sizeof(db));
	set_immutable(h_path(&F, "ferryd", dir, sizeof(dir)), 1);
	run_ferryd();
	refused(db, "read-only", "writable by ferryd's user");
}

Test(damage, ferryd_truncated)
{
	char db[800];

	ferryd_state(db, sizeof(db));
	truncate_half(db);
	run_ferryd();
	refused(db, "truncated", "restore ferryd.db from a backup");
}

Test(damage, ferryd_empty_file)
{
	char db[800];

	ferryd_state(db, sizeof(db));
	cr_assert(truncate(db, 0) == 0);
	run_ferryd();
	refused(db, "truncated", "restore ferryd.db from a backup");
}

Test(damage, ferryd_corrupt)
{
	char db[800];

	ferryd_state(db, sizeof(db));
	scribble(db);
	run_ferryd();
	refused(db, "corrupt", "restore ferryd.db from a backup");
}

Test(damage, ferryd_not_a_database)
{
	char db[800];

	ferryd_state(db, sizeof(db));
	not_a_database(db);
	run_ferryd();
	refused(db, "not an SQLite database",
	    "restore ferryd.db from a backup");
}

/* A write refused while ferryd runs: the log names the file, what is
 * wrong and the remedy, not "database error". */
Test(damage, ferryd_write_fails_at_run_time)
{
	char db[800], dir[700], wal[820], line[900];

	h_start_ferryd(&F, NULL);
	h_path(&F, "ferryd/ferryd.db", db, sizeof(db));
	snprintf(wal, sizeof(wal), "%s-wal", db);
	/* A checkpoint moves the log into the file: nothing waits in it. */
	h_ferry(&F, &R, (const char *[]){ "token", "create", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	set_immutable(wal, 1);
	set_immutable(db, 1);
	set_immutable(h_path(&F, "ferryd", dir, sizeof(dir)), 1);
	h_ferry(&F, &R, (const char *[]){ "token", "create", NULL });
	cr_assert_neq(R.status, 0, "a token was created on a read-only "
	    "database: %s", R.out);
	snprintf(line, sizeof(line), "database %s: ", db);
	cr_assert(h_wait_log(F.ferryd, line, 15000), "no log line names %s",
	    db);
	cr_assert(h_log_has(F.ferryd, "operation(s) failed: cannot be "
	    "written: the file, its folder or its file system is read-only; "
	    "make the file and its folder writable by ferryd's user"));
}

/* /healthz: ok with the hosts online while the database works; 503 naming
 * the file and what is wrong once a write to it failed. */
Test(damage, healthz_checks_the_database_and_counts_hosts_online)
{
	char db[800], dir[700], wal[820], body[2048], name[32];
	int port, status = 0;
	uint64_t end;
	cJSON *j;

	F.no_proxy = 1;
	h_start_ferryd(&F, NULL);
	port = atoi(strchr(F.http, ':') + 1);
	h_unique("hz", name, sizeof(name));
	h_add_agent(&F, name, "127.0.0.2");
	cr_assert_eq(h_http_get("127.0.0.1", port, "/healthz", body,
	    sizeof(body)), 200, "%s", body);
	j = cJSON_Parse(strstr(body, "{"));
	cr_assert_not_null(j, "%s", body);
	cr_assert_str_eq(cJSON_GetObjectItem(j, "status")->valuestring, "ok");
	cr_assert_str_eq(cJSON_GetObjectItem(j, "database")->valuestring,
	    "ok");
	cr_assert_eq(cJSON_GetObjectItem(j, "hosts_online")->valueint, 1,
	    "%s", body);
	cr_assert_eq(cJSON_GetObjectItem(j, "hosts")->valueint, 1, "%s", body);
	cJSON_Delete(j);

	/* The database's file turns read-only under ferryd. */
	h_path(&F, "ferryd/ferryd.db", db, sizeof(db));
	snprintf(wal, sizeof(wal), "%s-wal", db);
	h_ferry(&F, &R, (const char *[]){ "token", "create", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	set_immutable(wal, 1);
	set_immutable(db, 1);
	set_immutable(h_path(&F, "ferryd", dir, sizeof(dir)), 1);
	h_ferry(&F, &R, (const char *[]){ "token", "create", NULL });
	cr_assert_neq(R.status, 0, "a token was created on a read-only "
	    "database: %s", R.out);
	end = h_mono_ms() + 10000;
	while (h_mono_ms() < end && (status = h_http_get("127.0.0.1", port,
	    "/healthz", body, sizeof(body))) != 503)
		h_sleep_ms(200);
	cr_assert_eq(status, 503, "%s", body);
	j = cJSON_Parse(strstr(body, "{"));
	cr_assert_not_null(j, "%s", body);
	cr_assert_str_eq(cJSON_GetObjectItem(j, "status")->valuestring,
	    "failing");
	cr_assert(strstr(cJSON_GetObjectItem(j, "database")->valuestring,
	    db) != NULL && strstr(cJSON_GetObjectItem(j,
	    "database")->valuestring, "cannot be written") != NULL, "%s",
	    body);
	/* The hosts are still counted. */
	cr_assert_eq(cJSON_GetObjectItem(j, "hosts")->valueint, 1, "%s", body);
	cJSON_Delete(j);
	cr_assert(h_log_has(F.ferryd, "/healthz answers 503: database: "));
}

/* The same for the agent: a command it cannot record is logged with the
 * file, what is wrong and the remedy. */
Test(damage, agent_write_fails_at_run_time)
{
	char db[800], dir[700], wal[820], line[900];
	struct h_proc *a;

	h_start_ferryd(&F, NULL);
	a = h_add_agent(&F, "dmg-1", "127.0.0.2");
	h_ferry(&F, &R, (const char *[]){ "ping", "dmg-1", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	h_path(&F, "dmg-1/agent.db", db, sizeof(db));
	snprintf(wal, sizeof(wal), "%s-wal", db);
	set_immutable(wal, 1);
	set_immutable(db, 1);
	set_immutable(h_path(&F, "dmg-1", dir, sizeof(dir)), 1);
	h_ferry(&F, &R, (const char *[]){ "ping", "dmg-1", NULL });
	snprintf(line, sizeof(line), "records %s: ", db);
	cr_assert(h_wait_log(a, line, 15000), "no log line names %s", db);
	cr_assert(h_log_has(a, "operation(s) failed: cannot be written: the "
	    "file, its folder or its file system is read-only; make the file "
	    "and its folder writable by the agent's user"));
}

Test(damage, agent_read_only_file)
{
	char db[800];

	agent_state(db, sizeof(db));
	set_immutable(db, 1);
	run_agent();
	refused(db, "read-only", "writable by the agent's user");
}

Test(damage, agent_truncated)
{
	char db[800];

	agent_state(db, sizeof(db));
	truncate_half(db);
	run_agent();
	refused(db, "truncated", "ferry-agent join");
	cr_assert(strstr(R.err, "ferry hosts revoke") != NULL, "%s", R.err);
}

Test(damage, agent_corrupt)
{
	char db[800];

	agent_state(db, sizeof(db));
	scribble(db);
	run_agent();
	refused(db, "corrupt", "restore agent.db from a backup");
	cr_assert(strstr(R.err, "ferry-agent join") != NULL, "%s", R.err);
}

Test(damage, agent_not_a_database)
{
	char db[800];

	agent_state(db, sizeof(db));
	not_a_database(db);
	run_agent();
	refused(db, "not an SQLite database", "ferry-agent join");
}
