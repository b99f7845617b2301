/* SPDX-License-Identifier: Apache-2.0 */
// links:
/* test_audit.c: the audit log cannot be buried or forged.  A flood of
 * garbage on the agent port leaves a handful of counted events and log
 * lines; an agent's text with a newline and terminal escapes shows as one
 * escaped line in `ferry events`, `ferry status` and both logs; `ferry
 * events` pages newest first and filters.  Real ferryd and agents over
 * real sockets. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "harness.h"

#define IMG "127.0.0.1:5000/ferry-test/web:"

static struct h_fleet F;
static struct h_run R;

static void
setup(void)
{
	h_init(&F);
}

static void
teardown(void)
{
	h_fini(&F);
}

TestSuite(audit, .init = setup, .fini = teardown, .timeout = 120);

/* ---- helpers ------------------------------------------------------------ */

static void
send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		cr_assert(n > 0, "send to ferryd's agent port failed");
		p += n;
		len -= (size_t)n;
	}
}

/*
 * flood speaks NNG's SP protocol over TCP by hand (no NNG socket in the
 * test process: see fake.h) from the address from, as a REQ peer, and
 * sends n requests of garbage to ferryd's agent port, without waiting for
 * answers (ferryd drops garbage unanswered).
 */
static void
flood(const char *from, int port, int n)
{
	static const uint8_t hello[8] = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 };
	struct sockaddr_in me = { 0 }, to = { 0 };
	uint8_t peer[8], frame[8 + 4 + 64];
	struct timeval tv = { 5, 0 };
	int fd, i, k;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	me.sin_family = AF_INET;
	inet_pton(AF_INET, from, &me.sin_addr);
	cr_assert_eq(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0,
	    "bind %s", from);
	to.sin_family = AF_INET;
	to.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	send_all(fd, hello, sizeof(hello));
	cr_assert_eq(recv(fd, peer, sizeof(peer), MSG_WAITALL), 8,
	    "no SP handshake from ferryd");
	for (i = 0; i < n; i++) {
		uint64_t len = 4 + 64;

		for (k = 0; k < 8; k++)
			frame[k] = (uint8_t)(len >> (56 - 8 * k));
		/* The REQ header: a request id with its top bit set. */
		frame[8] = 0x80;
		frame[9] = (uint8_t)(i >> 16);
		frame[10] = (uint8_t)(i >> 8);
		frame[11] = (uint8_t)i;
		/* The body: not an envelope (0xff is no field of one). */
		for (k = 12; k < (int)sizeof(frame); k++)
			frame[k] = (uint8_t)(0xff ^ (i * 31 + k));
		frame[12] = 0xff;
		send_all(fd, frame, sizeof(frame));
	}
	/* Let ferryd read it all before the connection goes. */
	h_sleep_ms(300);
	close(fd);
}

/* events_json runs `ferry events` with args and --json; a parsed array. */
static cJSON *
events_json(const char *const *args)
{
	const char *argv[32];
	cJSON *a;
	int i = 0;

	argv[i++] = "events";
	while (*args != NULL && i < 30)
		argv[i++] = *args++;
	argv[i++] = "--json";
	argv[i] = NULL;
	h_ferry(&F, &R, argv);
	cr_assert_eq(R.status, 0, "ferry events: %s%s", R.out, R.err);
	a = cJSON_Parse(R.out);
	cr_assert(cJSON_IsArray(a), "not a JSON array: %s", R.out);
	return a;
}

static long long
jnum(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);

	cr_assert(cJSON_IsNumber(v), "no number %s", key);
	return (long long)v->valuedouble;
}

static const char *
jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);

	cr_assert(cJSON_IsString(v), "no string %s", key);
	return v->valuestring;
}

/* refused_from sums the counts of the refused events naming source. */
static long long
refused_from(const cJSON *evs, const char *source, int *nevents)
{
	const cJSON *e;
	long long sum = 0;

	*nevents = 0;
	cJSON_ArrayForEach(e, evs) {
		if (strcmp(jstr(e, "kind"), "refused") != 0 ||
		    strstr(jstr(e, "detail"), source) == NULL)
			continue;
		sum += jnum(e, "count");
		(*nevents)++;
	}
	return sum;
}

/* read_file reads a whole file (a log) into a heap string. */
static char *
read_file(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	long n;

	cr_assert_not_null(fp, "%s", path);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* The escaped form of the agent's text, as it must show everywhere. */
#define SHOWN	"bad\\nforged: line\\x1b[2J"

/*
 * one_escaped_line: text (a command's output, a log) holds the agent's
 * text only escaped, on one line: never a raw ESC, never a line that the
 * newline would have forged.
 */
static void
one_escaped_line(const char *text, const char *what)
{
	const char *p;

	cr_assert(strstr(text, SHOWN) != NULL, "%s: the agent's text is not "
	    "shown escaped: %s", what, text);
	cr_assert(strchr(text, '\x1b') == NULL, "%s: a raw ESC reached it",
	    what);
	for (p = text; (p = strstr(p, "forged: line")) != NULL; p++)
		cr_assert(p >= text + 5 && strncmp(p - 5, "bad\\n", 5) == 0,
		    "%s: a forged line: %s", what, text);
}

/* ---- (a) a flood is counted ------------------------------------------ */

Test(audit, a_flood_of_garbage_leaves_a_few_counted_events)
{
	struct h_proc *fd;
	cJSON *evs;
	long long sum1 = 0, sum3 = 0, total;
	int n1 = 0, n3 = 0, lines;
	uint64_t end;
	char name[32];

	/* The default interval (10 s): what an operator gets. */
	fd = h_start_ferryd(&F, NULL);
	h_add_agent(&F, h_unique("au", name, sizeof(name)), "127.0.0.2");
	total = h_db_int(&F, "ferryd/ferryd.db", "SELECT count(*) FROM "
	    "events", NULL, 0, NULL);

	flood("127.0.0.1", F.port, 1500);
	flood("127.0.0.3", F.port, 500);
	/* Read, and not one line each. */
	h_sleep_ms(1000);
	lines = h_log_count(fd, "refused");
	cr_assert_leq(lines, 4, "the flood buried the log: %d lines", lines);
	/* Every refusal counted, once: the first of each source at once,
	 * the rest summed up when the interval ends. */
	end = h_mono_ms() + 30000;
	do {
		h_sleep_ms(250);
		evs = events_json((const char *[]){ "--kind", "refused",
		    "--limit", "1000", NULL });
		sum1 = refused_from(evs, "127.0.0.1", &n1);
		sum3 = refused_from(evs, "127.0.0.3", &n3);
		cJSON_Delete(evs);
	} while ((sum1 < 1500 || sum3 < 500) && h_mono_ms() < end);
	cr_assert_eq(sum1, 1500, "refusals from 127.0.0.1 counted: %lld",
	    sum1);
	cr_assert_eq(sum3, 500, "refusals from 127.0.0.3 counted: %lld",
	    sum3);
	/* A handful of events, not 2,000: per source, its first and one
	 * sum per interval the flood lasted. */
	cr_assert(n1 >= 2 && n1 <= 6, "%d events for 127.0.0.1", n1);
	cr_assert(n3 >= 2 && n3 <= 6, "%d events for 127.0.0.3", n3);
	cr_assert_leq(h_db_int(&F, "ferryd/ferryd.db", "SELECT count(*) FROM "
	    "events", NULL, 0, NULL) - total, 12);
	/* And as many log lines. */
	lines = h_log_count(fd, "refused");
	cr_assert(lines >= 4 && lines <= 12, "%d log lines of refusals",
	    lines);
	cr_assert(h_log_has(fd, "127.0.0.1: refused message: "));
	cr_assert(h_log_has(fd, "more refused from 127.0.0.1: "));
	cr_assert(h_log_has(fd, "more refused from 127.0.0.3: "));
	/* ferryd still serves its agents and its operators. */
	cr_assert(h_wait_state(&F, name, "online", 10000), "%s is not online "
	    "after the flood", name);
	h_ferry(&F, &R, (const char *[]){ "ping", name, NULL });
	cr_assert_eq(R.status, 0, "ping after the flood: %s%s", R.out, R.err);
}

/* ---- (b) an agent's text cannot forge a line ------------------------- */

Test(audit, agent_text_with_newline_and_escapes_shows_as_one_line)
{
	struct h_proc *fd, *agent;
	char name[32], spec[700], ids[32], *log;
	const cJSON *e;
	cJSON *evs;
	unsigned long id;
	int saw = 0;

	fd = h_start_ferryd(&F, NULL);
	h_unique("ae", name, sizeof(name));
	agent = h_add_agent(&F, name, "127.0.0.2");
	/* The health check's output (the container's own text, sent by the
	 * agent in its report) holds a newline and a clear-screen sequence:
	 * the YAML's \\ is the shell's \, and printf makes them.  The
	 * check's timeout is long: a slow `docker exec` must not fail it
	 * first for another reason. */
	h_write(&F, "evil.yml",
	    "service: %s\n"
	    "image: " IMG "1\n"
	    "hosts: [%s]\n"
	    "health:\n"
	    "  exec: [/bin/busybox, sh, -c, \"printf 'bad\\\\nforged: "
	    "line\\\\033[2J'; exit 1\"]\n"
	    "  interval: 100ms\n"
	    "  timeout: 10s\n"
	    "  unhealthy_threshold: 1\n"
	    "  deadline: 30s\n"
	    "  min_healthy: 0s\n"
	    "rollout:\n"
	    "  batch: 1\n", name, name);
	h_path(&F, "evil.yml", spec, sizeof(spec));
	h_ferry(&F, &R, (const char *[]){ "deploy", spec, "--watch", NULL });
	cr_assert_neq(R.status, 0, "the failing deployment succeeded: %s%s",
	    R.out, R.err);
	one_escaped_line(R.out, "ferry deploy --watch");

	h_ferry(&F, &R, (const char *[]){ "status", NULL });
	cr_assert(sscanf(R.out, "Deployment %lu", &id) == 1, "%s", R.out);
	one_escaped_line(R.out, "ferry status");
	snprintf(ids, sizeof(ids), "%lu", id);

	h_ferry(&F, &R, (const char *[]){ "events", "--deployment", ids,
	    NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	one_escaped_line(R.out, "ferry events");

	/* JSON stays JSON, and holds the text as recorded: escaped. */
	evs = events_json((const char *[]){ "--deployment", ids, NULL });
	cJSON_ArrayForEach(e, evs) {
		cr_assert_eq(jnum(e, "deployment"), (long long)id);
		saw += strstr(jstr(e, "detail"), SHOWN) != NULL;
	}
	cr_assert_gt(saw, 0, "no event holds the escaped text: %s", R.out);
	cJSON_Delete(evs);

	log = read_file(fd->log);
	one_escaped_line(log, "ferryd's log");
	free(log);
	log = read_file(agent->log);
	one_escaped_line(log, "the agent's log");
	free(log);
}

/* ---- (c) paging and filters ------------------------------------------ */

Test(audit, events_page_newest_first_and_filter)
{
	struct h_proc *follow;
	char name[32], first[32], at[40], before[32], *out;
	const cJSON *e;
	cJSON *evs, *page;
	long long max, prev, last;
	time_t t;
	int i, n;

	h_start_ferryd(&F, NULL);
	h_add_agent(&F, h_unique("ap", name, sizeof(name)), "127.0.0.2");
	for (i = 0; i < 7; i++) {
		h_ferry(&F, &R, (const char *[]){ "token", "create", NULL });
		cr_assert_eq(R.status, 0, "%s", R.err);
	}
	flood("127.0.0.1", F.port, 1);
	cr_assert(h_wait_log(F.ferryd, "refused message", 5000));
	max = h_db_int(&F, "ferryd/ferryd.db", "SELECT max(id) FROM events",
	    NULL, 0, NULL);
	cr_assert_geq(max, 10);

	/* Newest first, --limit of them (default 50), and where the next
	 * page starts. */
	page = events_json((const char *[]){ "--limit", "3", NULL });
	cr_assert_eq(cJSON_GetArraySize(page), 3);
	cr_assert_eq(jnum(cJSON_GetArrayItem(page, 0), "id"), max);
	cr_assert_eq(jnum(cJSON_GetArrayItem(page, 2), "id"), max - 2);
	snprintf(before, sizeof(before), "--before %lld", max - 2);
	cr_assert(strstr(R.err, before) != NULL, "no next page: %s", R.err);
	cJSON_Delete(page);
	snprintf(before, sizeof(before), "%lld", max - 2);
	page = events_json((const char *[]){ "--limit", "3", "--before",
	    before, NULL });
	cr_assert_eq(cJSON_GetArraySize(page), 3);
	prev = max - 2;
	cJSON_ArrayForEach(e, page) {
		cr_assert_eq(jnum(e, "id"), prev - 1, "page 2: %s", R.out);
		prev = jnum(e, "id");
	}
	cJSON_Delete(page);
	page = events_json((const char *[]){ NULL });
	cr_assert_eq(cJSON_GetArraySize(page), (int)max, "all %lld", max);
	cr_assert(strstr(R.err, "more events") == NULL, "a next page after "
	    "the last: %s", R.err);
	cJSON_Delete(page);
	page = events_json((const char *[]){ "--oldest-first", "--limit", "2",
	    NULL });
	cr_assert_eq(jnum(cJSON_GetArrayItem(page, 0), "id"), 1);
	cr_assert_eq(jnum(cJSON_GetArrayItem(page, 1), "id"), 2);
	cJSON_Delete(page);
	/* The text form: a table, one line an event under the heading, its
	 * id first, newest first. */
	h_ferry(&F, &R, (const char *[]){ "events", "--limit", "2", NULL });
	cr_assert_eq(R.status, 0);
	cr_assert(strncmp(R.out + strspn(R.out, " "), "ID TIME (UTC)", 13) ==
	    0, "%s", R.out);
	snprintf(first, sizeof(first), "%lld ", max);
	{
		const char *l = strchr(R.out, '\n');

		cr_assert_not_null(l, "%s", R.out);
		l++;
		l += strspn(l, " ");
		cr_assert(strncmp(l, first, strlen(first)) == 0, "the newest "
		    "event, %s, is not first: %s", first, R.out);
	}

	/* Filters. */
	/* Seven, and the one h_add_agent made. */
	evs = events_json((const char *[]){ "--kind", "token-created", NULL });
	cr_assert_eq(cJSON_GetArraySize(evs), 8, "%s", R.out);
	cJSON_ArrayForEach(e, evs)
		cr_assert_str_eq(jstr(e, "kind"), "token-created");
	cJSON_Delete(evs);
	evs = events_json((const char *[]){ "--host", name, NULL });
	cr_assert_gt(cJSON_GetArraySize(evs), 0, "%s", R.out);
	cJSON_ArrayForEach(e, evs)
		cr_assert_str_eq(jstr(e, "host"), name);
	cJSON_Delete(evs);
	evs = events_json((const char *[]){ "--kind", "refused", NULL });
	cr_assert_eq(cJSON_GetArraySize(evs), 1, "%s", R.out);
	cJSON_Delete(evs);
	evs = events_json((const char *[]){ "--deployment", "1", NULL });
	cr_assert_eq(cJSON_GetArraySize(evs), 0, "%s", R.out);
	cJSON_Delete(evs);
	/* --since: a duration back from now, or a UTC time. */
	t = time(NULL) - 3600;
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	evs = events_json((const char *[]){ "--since", at, NULL });
	cr_assert_eq(cJSON_GetArraySize(evs), (int)max);
	cJSON_Delete(evs);
	h_sleep_ms(2100);
	h_ferry(&F, &R, (const char *[]){ "token", "create", NULL });
	evs = events_json((const char *[]){ "--since", "2s", NULL });
	cr_assert_eq(cJSON_GetArraySize(evs), 1, "%s", R.out);
	cr_assert_str_eq(jstr(cJSON_GetArrayItem(evs, 0), "kind"),
	    "token-created");
	cJSON_Delete(evs);

	/* Bad flags: exit 2, naming what is wrong. */
	{
		static const char *const bad[][5] = {
			{ "--limit", "0", NULL }, { "--limit", "x", NULL },
			{ "--limit", "20000", NULL },
			{ "--since", "yesterday", NULL },
			{ "--since", "2999-01-01", NULL },
			{ "--before", "3", "--follow", NULL },
			{ "--kind", NULL }, { "--bogus", NULL },
			{ "--host", "a\nb", NULL },
		};
		size_t k;

		for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			const char *argv[8] = { "events" };
			int j;

			for (j = 0; bad[k][j] != NULL; j++)
				argv[j + 1] = bad[k][j];
			argv[j + 1] = NULL;
			h_ferry(&F, &R, argv);
			cr_assert_eq(R.status, 2, "events %s %s: status %d",
			    bad[k][0], bad[k][1] ? bad[k][1] : "", R.status);
			cr_assert(strstr(R.err, bad[k][0]) != NULL ||
			    strstr(R.err, "usage") != NULL, "events %s: %s",
			    bad[k][0], R.err);
		}
	}

	/* --follow: the newest page oldest first, then each new event as it
	 * comes. */
	{
		const char *argv[] = { "ferry", "--socket", F.sock, "events",
		    "--follow", "--limit", "2", NULL };

		follow = h_spawn(&F, "follow", argv);
	}
	cr_assert(h_wait_log(follow, "token-created", 5000));
	h_ferry(&F, &R, (const char *[]){ "hosts", "label", name, "zone=b",
	    NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_assert(h_wait_log(follow, "host-labelled", 5000), "--follow did "
	    "not print a new event");
	h_kill(follow, SIGTERM);
	out = read_file(follow->log);
	n = 0;
	last = 0;
	for (char *line = strtok(out, "\n"); line != NULL;
	    line = strtok(NULL, "\n")) {
		long long lid = atoll(line);

		cr_assert_gt(lid, last, "--follow out of order: %s", line);
		last = lid;
		n++;
	}
	cr_assert_eq(n, 3, "--follow printed %d lines", n);
	free(out);
}
