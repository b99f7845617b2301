/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/dkit.c
/* test_logs.c: `ferry logs` end to end, on a real dockerd and real agents
 * (web:chatty writes numbered lines): lines of three hosts in time order,
 * each named by its host; --tail, --since, --host and --revision
 * honoured; a follow that shows new lines within a bound and whose hosts
 * stop streaming once the CLI is stopped, or vanished; a flood held to
 * the host's rate with a "dropped" note while a swap to the same host
 * takes its normal time; a crashing revision's last lines in `ferry
 * status` for its failed host; bad flags refused with exit 2. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "dkit.h"

TestSuite(logs, .init = setup, .fini = teardown, .timeout = 150);

static uint64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* chatty writes FILE: web:chatty on hosts with env (a YAML map body). */
static void
chatty(const char *file, const char *hosts, const char *env,
    const char *rollout)
{
	char extra[512];

	snprintf(extra, sizeof(extra), "env: { %s }\n", env);
	spec(file, "chatty", hosts, extra, rollout);
}

/* Lines of one `ferry logs --json` run. */
struct lines {
	int n;
	struct {
		char host[64];
		char stream[8];
		char text[256];
		unsigned long long ts, revision, dropped;
	} l[60000];
};

static struct lines L;

/* parse reads `ferry logs --json` output (text, one object per line). */
static void
parse(struct lines *ls, const char *text)
{
	const char *p = text;

	ls->n = 0;
	while (*p != '\0' && ls->n < 60000) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *one = strndup(p, len);
		cJSON *o = cJSON_Parse(one);

		free(one);
		if (o != NULL) {
			snprintf(ls->l[ls->n].host, sizeof(ls->l[0].host), "%s",
			    jstr(o, "host"));
			snprintf(ls->l[ls->n].stream, sizeof(ls->l[0].stream),
			    "%s", jstr(o, "stream"));
			snprintf(ls->l[ls->n].text, sizeof(ls->l[0].text), "%s",
			    jstr(o, "text"));
			ls->l[ls->n].ts = (unsigned long long)
			    cJSON_GetNumberValue(cJSON_GetObjectItem(o,
			    "ts_ns"));
			ls->l[ls->n].revision = (unsigned long long)
			    cJSON_GetNumberValue(cJSON_GetObjectItem(o,
			    "revision"));
			ls->l[ls->n].dropped = cJSON_GetObjectItem(o,
			    "dropped") ? (unsigned long long)
			    cJSON_GetNumberValue(cJSON_GetObjectItem(o,
			    "dropped")) : 0;
			ls->n++;
			cJSON_Delete(o);
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

static int
count_host(const struct lines *ls, const char *host, const char *stream)
{
	int i, n = 0;

	for (i = 0; i < ls->n; i++)
		n += strcmp(ls->l[i].host, host) == 0 && (stream == NULL ||
		    strcmp(ls->l[i].stream, stream) == 0);
	return n;
}

/* read_file returns the text of a file (heap). */
static char *
read_file(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	long n;

	if (fp == NULL)
		return strdup("");
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (buf != NULL && n > 0 && fread(buf, 1, (size_t)n, fp) != (size_t)n)
		buf[0] = '\0';
	fclose(fp);
	return buf;
}

/* follow starts `ferry logs web --follow --json` with extra flags, its
 * output in DIR/NAME.log. */
static struct h_proc *
follow(const char *name, const char *const *extra)
{
	const char *argv[24] = { "ferry", "--socket", F.sock, "logs", "web",
	    "--follow", "--json" };
	int i = 7, j;

	for (j = 0; extra != NULL && extra[j] != NULL && i < 23; j++)
		argv[i++] = extra[j];
	argv[i] = NULL;
	return h_spawn(&F, name, argv);
}

static int
wait_gone(struct h_proc *p, int ms)
{
	long long end = now_ms() + ms;

	while (h_alive(p)) {
		if (now_ms() > end)
			return 0;
		h_sleep_ms(50);
	}
	return 1;
}

/* ---- three hosts: interleaved, filtered, followed ----------------------- */

Test(logs, three_hosts_in_time_order_filtered_and_followed)
{
	char hosts[128];
	struct h_proc *cli;
	uint64_t t0;
	int i, k, seen;

	fleet(3);
	chatty("c.yml", names(hosts, sizeof(hosts), 1, 3),
	    "LOG_INTERVAL: \"0.1\"", "  batch: 3\n");
	cr_assert_eq(deploy_watch("c.yml"), 0, "deploy: %s%s", R.out, R.err);
	h_sleep_ms(1500);	/* lines of every host overlapping in time */

	/* Every host's lines, in time order, each naming its host: the
	 * last 6 per container. */
	h_ferry(&F, &R, (const char *[]){ "logs", "web", "--tail", "6",
	    "--json", NULL });
	cr_assert_eq(R.status, 0, "logs: %s%s", R.out, R.err);
	parse(&L, R.out);
	for (i = 0; i < 3; i++) {
		k = count_host(&L, HOST[i], NULL);
		cr_assert(k >= 1 && k <= 6, "%s: %d lines (tail 6)", HOST[i],
		    k);
	}
	cr_assert_eq(L.n, count_host(&L, HOST[0], NULL) +
	    count_host(&L, HOST[1], NULL) + count_host(&L, HOST[2], NULL));
	for (i = 1; i < L.n; i++)
		cr_assert_geq(L.l[i].ts, L.l[i - 1].ts, "line %d of %s before "
		    "line %d of %s in time: %s", i, L.l[i].host, i - 1,
		    L.l[i - 1].host, R.out);
	/* Interleaved: the hosts' lines alternate, not host after host. */
	for (i = 1, k = 0; i < L.n; i++)
		k += strcmp(L.l[i].host, L.l[i - 1].host) != 0;
	cr_assert_geq(k, 4, "hosts not interleaved: %s", R.out);
	fprintf(stderr, "three hosts, --tail 6: %d lines, %d host changes\n",
	    L.n, k);
	cr_assert_gt(count_host(&L, HOST[0], "stderr"), 0, "no stderr line");

	/* The text form: "HOST | text". */
	h_ferry(&F, &R, (const char *[]){ "logs", "web", "--tail", "1",
	    "--host", HOST[1], NULL });
	cr_assert_eq(R.status, 0, "logs: %s", R.err);
	fprintf(stderr, "text form:\n%s", R.out);
	cr_assert(strncmp(R.out, HOST[1], strlen(HOST[1])) == 0 &&
	    strstr(R.out, " | chatty chatty ") != NULL, "%s", R.out);

	/* --host: only those; --since: only newer lines. */
	h_ferry(&F, &R, (const char *[]){ "logs", "web", "--host", HOST[1],
	    "--host", HOST[2], "--json", NULL });
	parse(&L, R.out);
	cr_assert_gt(L.n, 0);
	cr_assert_eq(count_host(&L, HOST[0], NULL), 0, "%s", R.out);
	cr_assert_gt(count_host(&L, HOST[1], NULL), 0);
	cr_assert_gt(count_host(&L, HOST[2], NULL), 0);
	t0 = wall_ns();
	h_ferry(&F, &R, (const char *[]){ "logs", "web", "--since", "1s",
	    "--json", NULL });
	cr_assert_eq(R.status, 0, "logs: %s", R.err);
	parse(&L, R.out);
	cr_assert_gt(L.n, 3, "--since 1s: %s", R.out);
	for (i = 0; i < L.n; i++)
		cr_assert_geq(L.l[i].ts, t0 - 1500000000ull, "--since 1s gave "
		    "a line %.1f s old", (double)(t0 - L.l[i].ts) / 1e9);

	/* --revision: revision 1 runs; revision 7 nowhere. */
	h_ferry(&F, &R, (const char *[]){ "logs", "web", "--revision", "1",
	    "--tail", "2", "--json", NULL });
	cr_assert_eq(R.status, 0, "logs: %s", R.err);
	parse(&L, R.out);
	cr_assert_gt(L.n, 0);
	for (i = 0; i < L.n; i++)
		cr_assert_eq(L.l[i].revision, 1);
	h_ferry(&F, &R, (const char *[]){ "logs", "web", "--revision", "7",
	    NULL });
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(R.err, "no host runs web revision 7") != NULL, "%s",
	    R.err);

	/* --follow: a line written after it started shows up within 5 s. */
	t0 = wall_ns();
	cli = follow("follow1", (const char *[]){ "--tail", "0", "--host",
	    HOST[0], NULL });
	for (seen = 0; !seen && wall_ns() - t0 < 5000000000ull;) {
		char *text = read_file(cli->log);

		parse(&L, text);
		free(text);
		for (i = 0; i < L.n; i++)
			seen |= L.l[i].ts > t0 &&
			    strcmp(L.l[i].host, HOST[0]) == 0;
		h_sleep_ms(100);
	}
	cr_assert(seen, "no new line within 5 s of --follow");
	fprintf(stderr, "follow: a new line shown %.2f s after it started\n",
	    (double)(wall_ns() - t0) / 1e9);
	/* Stopped (Ctrl-C): the CLI ends, the host stops streaming. */
	h_kill(cli, SIGINT);
	cr_assert(wait_gone(cli, 3000), "ferry logs --follow did not end on "
	    "SIGINT");
	cr_assert(h_wait_log(AGENT[0], "nobody reads the stream", 6000),
	    "the agent still streams after the CLI stopped");
	/* Vanished (killed): ferryd closes the stream after 10 s unread,
	 * and the host stops at its next chunk. */
	cli = follow("follow2", (const char *[]){ "--tail", "0", "--host",
	    HOST[1], NULL });
	cr_assert(h_wait_log(AGENT[1], "logs of web, following", 5000));
	h_sleep_ms(500);
	h_kill(cli, SIGKILL);
	cr_assert(h_wait_log(AGENT[1], "nobody reads the stream", 16000),
	    "the agent still streams after the CLI vanished");
	/* Two revisions beside each other on a host: each line names its
	 * own. */
	chatty("c2.yml", names(hosts, sizeof(hosts), 3, 3),
	    "LOG_INTERVAL: \"0.1\", X: \"2\"", "  batch: 3\n");
	h_ferry_ms(&F, &R, (const char *[]){ "swap", HOST[2], path("c2.yml"),
	    "--weight", "50", NULL }, 60000);
	cr_assert_eq(R.status, 0, "swap --weight 50: %s%s", R.out, R.err);
	for (i = 0, seen = 0; i < 50 && !seen; i++) {
		h_ferry(&F, &R, (const char *[]){ "logs", "web", "--host",
		    HOST[2], "--tail", "3", NULL });
		seen = strstr(R.out, " r1 | chatty") != NULL &&
		    strstr(R.out, " r2 | chatty") != NULL;
		if (!seen)
			h_sleep_ms(200);
	}
	cr_assert(seen, "lines do not name their revisions: %s%s", R.out,
	    R.err);
	fprintf(stderr, "two revisions:\n%s", R.out);
	/* Nothing of a line went into the events or ferryd's log. */
	cr_assert_eq(db_count("SELECT count(*) FROM events WHERE detail "
	    "LIKE '%chatty chatty line%'"), 0);
	cr_assert_not(h_log_has(F.ferryd, "chatty chatty line"));
}

/* ---- a flood: the host's rate holds, a swap beside it takes its time ---- */

Test(logs, flood_is_bounded_and_does_not_slow_a_swap)
{
	char hosts[64], *text;
	struct h_proc *cli;
	long long t, plain_ms, flood_ms, ran;
	unsigned long long bytes = 0, dropped = 0, first = 0, last = 0;
	int i, k;

	fleet(1);
	/* About 10000 lines (300 KB) a second. */
	chatty("f.yml", names(hosts, sizeof(hosts), 1, 1),
	    "LOG_BURST: \"1000\", LOG_INTERVAL: \"0.1\"", NULL);
	cr_assert_eq(deploy_watch("f.yml"), 0, "deploy: %s%s", R.out, R.err);
	/* A swap during the flood, nobody reading its logs ... */
	chatty("q2.yml", names(hosts, sizeof(hosts), 1, 1),
	    "LOG_BURST: \"1000\", LOG_INTERVAL: \"0.1\", X: \"2\"", NULL);
	t = now_ms();
	cr_assert_eq(deploy_watch("q2.yml"), 0, "deploy: %s%s", R.out,
	    R.err);
	plain_ms = now_ms() - t;
	/* ... and one while `ferry logs --follow` streams it. */
	ran = now_ms();
	cli = follow("flood", (const char *[]){ "--tail", "0", NULL });
	h_sleep_ms(3000);
	chatty("q3.yml", names(hosts, sizeof(hosts), 1, 1),
	    "LOG_BURST: \"1000\", LOG_INTERVAL: \"0.1\", X: \"3\"", NULL);
	t = now_ms();
	cr_assert_eq(deploy_watch("q3.yml"), 0, "deploy: %s%s", R.out,
	    R.err);
	flood_ms = now_ms() - t;
	h_sleep_ms(2000);
	h_kill(cli, SIGINT);
	cr_assert(wait_gone(cli, 3000));
	ran = now_ms() - ran;
	cr_assert(flood_ms <= plain_ms * 3 / 2 + 2000, "a swap took %lld ms "
	    "while its host's logs streamed, %lld ms without", flood_ms,
	    plain_ms);

	text = read_file(cli->log);
	parse(&L, text);
	free(text);
	cr_assert_gt(L.n, 100, "%d lines", L.n);
	/* The follow went on with the swap's new container (revision 3). */
	for (i = 0, k = 0; i < L.n; i++)
		k += L.l[i].revision == 3;
	cr_assert_gt(k, 0, "no line of the new container after the swap");
	for (i = 0; i < L.n; i++) {
		dropped += L.l[i].dropped;
		if (L.l[i].dropped)
			continue;
		bytes += strlen(L.l[i].text) + 16;
		if (first == 0)
			first = L.l[i].ts;
		last = L.l[i].ts;
	}
	fprintf(stderr, "flood: %d lines shown, %llu bytes while the CLI ran "
	    "%lld ms (%.0f B/s; the lines' times span %.1f s), %llu dropped; "
	    "a swap in the flood: %lld ms streamed, %lld ms not\n", L.n, bytes,
	    ran, (double)bytes * 1000.0 / (double)ran,
	    (double)(last - first) / 1e9, dropped, flood_ms, plain_ms);
	cr_assert_gt(dropped, 1000, "no \"dropped\" note: %llu", dropped);
	/* The rate (64 KiB/s, its burst 32 KiB) held while the stream ran
	 * (the lines' own times may be older: Docker can lag behind). */
	cr_assert_leq(bytes, 65536ull * (unsigned long long)ran / 1000u +
	    32768ull, "%llu bytes in %lld ms", bytes, ran);
	cr_assert_gt(bytes, 65536ull * 2, "%llu bytes in %lld ms", bytes,
	    ran);
}

/* ---- a crashing revision's last lines in status ------------------------- */

Test(logs, crashing_revision_last_lines_in_status)
{
	char hosts[64];
	unsigned id;
	cJSON *st, *hs, *h, *lg;
	int i, found = 0;

	fleet(1);
	spec("ok.yml", "1", names(hosts, sizeof(hosts), 1, 1), NULL, NULL);
	cr_assert_eq(deploy_watch("ok.yml"), 0, "%s%s", R.out, R.err);
	spec("crash.yml", "crash", names(hosts, sizeof(hosts), 1, 1), NULL,
	    NULL);
	id = deploy_bg("crash.yml");
	st = wait_state(id, NULL, 60000);
	cJSON_Delete(st);
	st = status(id);
	hs = cJSON_GetObjectItem(st, "hosts");
	cr_assert_not_null(hs, "%s", R.out);
	h = cJSON_GetArrayItem(hs, 0);
	cr_assert_str_eq(jstr(h, "state"), "failed", "%s", R.out);
	lg = cJSON_GetObjectItem(h, "logs");
	cr_assert(cJSON_IsArray(lg) && cJSON_GetArraySize(lg) >= 1 &&
	    cJSON_GetArraySize(lg) <= 20, "%s", R.out);
	for (i = 0; i < cJSON_GetArraySize(lg); i++)
		found |= strstr(cJSON_GetArrayItem(lg, i)->valuestring,
		    "ferry-test: crashing on purpose") != NULL;
	cr_assert(found, "the crash's line is not in status: %s", R.out);
	cJSON_Delete(st);
	/* The text form says whose lines they are. */
	h_ferry(&F, &R, (const char *[]){ "status", NULL });
	cr_assert(strstr(R.out, "Last lines of the failed container on") !=
	    NULL && strstr(R.out, "crashing on purpose") != NULL, "%s",
	    R.out);
	fprintf(stderr, "status:\n%s", R.out);
}

/* ---- ferryd restarted: the follow ends on both sides -------------------- */

Test(logs, ferryd_restart_ends_a_follow_on_the_cli_and_the_host)
{
	char hosts[64];
	struct h_proc *cli;
	long long t;

	fleet(1);
	chatty("c.yml", names(hosts, sizeof(hosts), 1, 1),
	    "LOG_INTERVAL: \"0.1\"", NULL);
	cr_assert_eq(deploy_watch("c.yml"), 0, "deploy: %s%s", R.out, R.err);
	cli = follow("restart", (const char *[]){ "--tail", "0", NULL });
	cr_assert(h_wait_log(cli, "chatty chatty line", 5000));
	cr_assert_eq(h_kill(F.ferryd, SIGKILL), 128 + SIGKILL);
	t = now_ms();
	/* The CLI says ferryd went away and ends. */
	cr_assert(wait_gone(cli, 15000), "ferry logs --follow outlived "
	    "ferryd");
	cr_assert(h_log_has(cli, "ferryd"), "no word of ferryd going away");
	h_start_ferryd(&F, NULL);
	/* The host stops streaming: its lease runs out without ferryd, or
	 * the new ferryd says nobody reads the stream. */
	cr_assert(h_wait_log(AGENT[0], "(logs of web): ended", 20000),
	    "the agent still streams after ferryd restarted");
	fprintf(stderr, "restart: the host's stream ended %.1f s after "
	    "ferryd was killed\n", (double)(now_ms() - t) / 1000.0);
	{
		char *text = read_file(AGENT[0]->log), *p = strstr(text,
		    "(logs of web): ended");

		if (p != NULL)
			fprintf(stderr, "restart: agent: %.*s\n",
			    (int)strcspn(p, "\n"), p);
		free(text);
	}
	/* The command is not sent again, and is recorded expired. */
	cr_assert_eq(db_count("SELECT count(*) FROM commands WHERE kind = "
	    "'logs' AND state IN ('queued', 'sent', 'accepted')"), 0);
}

/* ---- bad input ---------------------------------------------------------- */

Test(logs, bad_flags_exit_2_and_unknown_hosts_are_named)
{
	static const char *const bad[][6] = {
		{ "logs", NULL },
		{ "logs", "web", "--tail", "-3", NULL },
		{ "logs", "web", "--tail", "many", NULL },
		{ "logs", "web", "--since", "yesterday", NULL },
		{ "logs", "web", "--revision", "0", NULL },
		{ "logs", "web", "--host", NULL },
		{ "logs", "web", "--bogus", NULL },
		{ "logs", "web", "db", NULL },
		{ "logs", "web", "--host", "a", "--host", "a" },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[8] = { 0 };

		memcpy(args, bad[i], sizeof(bad[i]));
		h_ferry(&F, &R, args);
		cr_assert_eq(R.status, 2, "case %zu: exit %d: %s", i, R.status,
		    R.err);
		cr_assert(strstr(R.err, "usage: ferry logs") != NULL, "case "
		    "%zu: %s", i, R.err);
	}
	h_ferry(&F, &R, (const char *[]){ "logs", "web", "--host", "nope",
	    NULL });
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(R.err, "unknown host \"nope\"") != NULL, "%s", R.err);
	h_ferry(&F, &R, (const char *[]){ "logs", "web", NULL });
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(R.err, "no host runs web") != NULL, "%s", R.err);
	cr_assert_eq(db_count("SELECT count(*) FROM commands"), 0);
}
