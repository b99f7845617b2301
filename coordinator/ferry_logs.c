/* SPDX-License-Identifier: Apache-2.0 */
/* ferry_logs.c: `ferry logs SERVICE`: the lines of the service's
 * containers on every host, each prefixed by its host (and revision when
 * several run), read from ferryd's stream with a cursor until every host
 * ended, or, with --follow, until Ctrl-C. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "clock.h"
#include "config.h"
#include "ferry.h"

#define POLL_EMPTY_MS	200
#define CALL_MS		10000
#define HOSTS_MAX	256

static const char usage_logs[] =
"usage: ferry logs SERVICE [--host HOST ...] [--since DURATION] [--tail N]\n"
"                  [--follow] [--revision R] [--json]\n"
"\n"
"Prints what the service's containers wrote (stdout and stderr) on every\n"
"host that runs it, or on the hosts named with --host, each line prefixed\n"
"by its host (and by its revision while several revisions run, as during\n"
"a canary), in time order across hosts.  The lines come over the signed\n"
"link from each host's agent.\n"
"\n"
"  --host HOST     only this host (again for more)\n"
"  --since D       only lines written in the last D (30s, 10m, 2h)\n"
"  --tail N        the last N lines of each container first (default 100,\n"
"                  or every line with --since; \"all\": every line)\n"
"  --follow, -f    then new lines as they come (a container started\n"
"                  meanwhile, as a swap's new one, from its start), until\n"
"                  Ctrl-C; ends by itself when ferryd or every host goes\n"
"                  away\n"
"  --revision R    only the containers of revision R (default: what runs;\n"
"                  when nothing runs, the newest revision's container)\n"
"  --json          one JSON object per line: host, revision, ts_ns,\n"
"                  stream (stdout, stderr, or note), text\n"
"\n"
"A host that is offline or runs no container of the service is named on\n"
"stderr, and the others are shown.  Each host sends at most ferryd's\n"
"log_rate bytes of lines per second (default 64 KiB/s): beyond that,\n"
"lines are dropped and \"[N lines dropped]\" says how many.  Text is\n"
"shown with control characters escaped.\n"
"Exit status: 0 when the lines of at least one host were read, 1 when no\n"
"host could be read, 2 bad arguments, 3 ferryd cannot be reached.\n";

static volatile sig_atomic_t interrupted;

static int
has_help(int argc, char **argv)
{
	int i;

	for (i = 0; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

static void
on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !interrupted)
		;
}

static const char *
stream_name(uint32_t s)
{
	return s == 1 ? "stdout" : s == 2 ? "stderr" : "note";
}

static void
print_line(const Ferry__LogLine *l, int width, int revisions, int json)
{
	if (json) {
		cJSON *o = cJSON_CreateObject();
		char *s;

		cJSON_AddStringToObject(o, "host", l->host);
		cJSON_AddNumberToObject(o, "revision", (double)l->revision);
		cJSON_AddNumberToObject(o, "ts_ns", (double)l->ts_ns);
		cJSON_AddStringToObject(o, "stream", stream_name(l->stream));
		cJSON_AddStringToObject(o, "text", l->text);
		if (l->dropped)
			cJSON_AddNumberToObject(o, "dropped",
			    (double)l->dropped);
		if ((s = cJSON_PrintUnformatted(o)) != NULL)
			puts(s);
		free(s);
		cJSON_Delete(o);
		return;
	}
	if (revisions && l->revision)
		printf("%-*s r%llu | %s\n", width, shown(l->host),
		    (unsigned long long)l->revision, shown(l->text));
	else
		printf("%-*s | %s\n", width, shown(l->host), shown(l->text));
}

/* say_hosts names on stderr, once each, the hosts that will send
 * nothing more: offline, no container, failed. */
static void
say_hosts(const Ferry__LogsReply *lr, char said[][16])
{
	size_t i;

	for (i = 0; i < lr->n_hosts && i < HOSTS_MAX; i++) {
		const Ferry__LogsHost *h = lr->hosts[i];

		if (strcmp(h->state, "asked") == 0 ||
		    strcmp(h->state, "reading") == 0 ||
		    strcmp(said[i], h->state) == 0)
			continue;
		snprintf(said[i], sizeof(said[i]), "%s", h->state);
		if (strcmp(h->state, "ended") == 0 && h->note[0] == '\0')
			continue;
		fprintf(stderr, "ferry: logs: %s: %s%s%s\n", shown(h->name),
		    h->state, h->note[0] ? ": " : "", shown(h->note));
	}
}

int
cmd_logs(int argc, char **argv)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__LogsRequest q = FERRY__LOGS_REQUEST__INIT;
	Ferry__CtlReply *r;
	char *hosts[HOSTS_MAX], said[HOSTS_MAX][16];
	uint8_t stream[16];
	uint64_t cursor = 0, since = 0;
	int json = 0, tail_set = 0, width = 4, revisions, i;
	size_t k, nhosts = 0;
	struct sigaction sa;
	char *end, *service = NULL;

	if (has_help(argc, argv)) {
		fputs(usage_logs, stdout);
		return 0;
	}
	q.tail = 100;
	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] :
		    NULL;

		if (strcmp(a, "--host") == 0) {
			if (v == NULL || v[0] == '\0' || v[0] == '-')
				usage_die(usage_logs, "--host needs a HOST");
			if (nhosts == HOSTS_MAX)
				usage_die(usage_logs, "too many --host");
			hosts[nhosts++] = argv[++i];
		} else if (strcmp(a, "--since") == 0) {
			if (v == NULL || parse_duration_ms(v, &since) != 0 ||
			    since == 0)
				usage_die(usage_logs, "--since: expected a "
				    "duration such as 30s, 10m or 2h");
			i++;
		} else if (strcmp(a, "--tail") == 0) {
			long n;

			if (v != NULL && strcmp(v, "all") == 0)
				q.tail = -1;
			else if (v == NULL || (errno = 0, n = strtol(v, &end,
			    10), errno != 0 || *end != '\0' || end == v ||
			    n < 0 || n > 100000))
				usage_die(usage_logs, "--tail: expected a "
				    "number of lines from 0 to 100000, or all");
			else
				q.tail = (int32_t)n;
			tail_set = 1;
			i++;
		} else if (strcmp(a, "--follow") == 0 ||
		    strcmp(a, "-f") == 0) {
			q.follow = 1;
		} else if (strcmp(a, "--revision") == 0) {
			unsigned long long n;

			if (v == NULL || v[0] < '1' || v[0] > '9' ||
			    (errno = 0, n = strtoull(v, &end, 10), errno != 0 ||
			    *end != '\0'))
				usage_die(usage_logs, "--revision: expected a "
				    "revision number (1, 2, ...)");
			q.revision = n;
			i++;
		} else if (strcmp(a, "--json") == 0) {
			json = 1;
		} else if (a[0] == '-') {
			usage_die(usage_logs, "logs: unknown flag \"%s\"", a);
		} else if (service == NULL) {
			service = argv[i];
		} else {
			usage_die(usage_logs, "logs: unexpected \"%s\"", a);
		}
	}
	if (service == NULL)
		usage_die(usage_logs, "logs: a SERVICE is needed");
	q.service = service;
	for (k = 0; k < nhosts; k++) {
		size_t j;

		for (j = 0; j < k; j++)
			if (strcmp(hosts[j], hosts[k]) == 0)
				usage_die(usage_logs, "--host %s named twice",
				    hosts[k]);
	}
	if (since != 0) {
		uint64_t now = clock_wall_ms();

		q.since_ms = since < now ? now - since : 1;
		if (!tail_set)
			q.tail = -1;
	}
	q.hosts = hosts;
	q.n_hosts = nhosts;
	memset(said, 0, sizeof(said));

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	req.op_case = FERRY__CTL_REQUEST__OP_LOGS;
	req.logs = &q;
	r = call(&req, CALL_MS);
	if (r->logs == NULL || r->logs->stream.len != sizeof(stream))
		die(EXIT_FAIL, "malformed answer from ferryd");
	memcpy(stream, r->logs->stream.data, sizeof(stream));
	revisions = r->logs->revisions;
	for (k = 0; k < r->logs->n_hosts; k++) {
		int w = (int)strlen(r->logs->hosts[k]->name);

		width = w > width ? w : width;
	}
	/* From here on, the stream is named and read from the cursor. */
	q.stream.data = stream;
	q.stream.len = sizeof(stream);
	q.n_hosts = 0;
	for (;;) {
		const Ferry__LogsReply *lr = r->logs;
		int done, ok = 0;

		if (lr == NULL)
			die(EXIT_FAIL, "malformed answer from ferryd");
		say_hosts(lr, said);
		for (k = 0; k < lr->n_lines; k++)
			print_line(lr->lines[k], width, revisions, json);
		fflush(stdout);
		cursor = lr->cursor;
		done = lr->done;
		if (done) {
			for (k = 0; k < lr->n_hosts; k++)
				ok |= strcmp(lr->hosts[k]->state, "ended") == 0;
			ferry__ctl_reply__free_unpacked(r, NULL);
			if (q.follow)
				fprintf(stderr, "ferry: logs: every host's "
				    "stream ended\n");
			return ok ? 0 : EXIT_FAIL;
		}
		k = lr->n_lines;
		ferry__ctl_reply__free_unpacked(r, NULL);
		if (k == 0)
			sleep_ms(POLL_EMPTY_MS);
		if (interrupted) {
			q.close = 1;
			r = call(&req, CALL_MS);
			ferry__ctl_reply__free_unpacked(r, NULL);
			return 0;
		}
		q.after = cursor;
		r = call(&req, CALL_MS);
	}
}
