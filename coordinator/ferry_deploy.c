/* SPDX-License-Identifier: Apache-2.0 */
/* ferry_deploy.c: the CLI's rollout commands: deploy, plan, status,
 * history, rollback, pause, resume, abort, events. */
#include <sys/ioctl.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "clock.h"
#include "config.h"
#include "ferry.h"
#include "text.h"

#define SPEC_READ_MAX	(1024u * 1024u)
#define WATCH_MS	500
/* A watch ends by itself: no rollout of ferry's waits longer. */
#define WATCH_LIMIT_MS	(6 * 3600 * 1000)

static const char usage_deploy[] =
"usage: ferry deploy SPEC.yml [--image REF] [--skip-offline] [--watch] [--json]\n"
"\n"
"Rolls a new revision of the spec's service across its hosts, batch by\n"
"batch, gated on health; on failure halts, pauses or rolls back as the\n"
"spec's rollout section says.  With strategy: canary, the canary hosts\n"
"first split traffic step by step, each step judged on the proxies'\n"
"counts (analysis:); with strategy: blue-green, every host starts the new\n"
"revision beside the old, then all switch together.  See ferry.yml(5).\n"
"Prints the deployment id; with --watch,\n"
"shows progress until it ends (on a terminal redrawn in place under a\n"
"running clock; on a pipe a line per change).  --image replaces the spec's\n"
"image.\n"
"A matched host that is offline stops the deployment from starting;\n"
"--skip-offline (or rollout.skip_offline: true) leaves such hosts out, and\n"
"the deployment says so in its state.\n"
"Exit status with --watch: 0 only when the deployment succeeded.\n";

static const char usage_plan[] =
"usage: ferry plan SPEC.yml [--image REF] [--skip-offline] [--json]\n"
"\n"
"Prints the batches, their hosts, how it rolls out (the canary's steps\n"
"and analysis, or blue-green's switch), the matched hosts that are\n"
"offline and what a deploy would do with them, and what changes against\n"
"the current revision.  Changes nothing.\n";

static const char usage_status[] =
"usage: ferry status [DEPLOYMENT] [--watch] [--json]\n"
"       ferry status SERVICE [--watch] [--json]\n"
"\n"
"Shows a deployment (default: the newest): its state and batch (a\n"
"canary's step, weight and its analysis' last verdicts with their\n"
"figures), how many hosts are healthy with the cause of each failure,\n"
"and the rollback target.  Exit status 0 only when it succeeded (or,\n"
"without --watch, is still running).\n"
"\n"
"With a SERVICE (a word that is not a number), the service as it is now:\n"
"its current revision, each host where it runs or should run with what it\n"
"runs and its health now (from the hosts' heartbeats), drift with its\n"
"cause and what catch-up does about it, the latest deployment in one\n"
"line, and its traffic through ferry-proxy in the last 60 s.  --watch\n"
"shows it again every 2 s until interrupted.  Exit status 0 when every\n"
"host runs it as it should, 1 when some host drifted.\n";

static const char usage_rollback[] =
"usage: ferry rollback SERVICE [--to REVISION] [--watch] [--json]\n"
"\n"
"A rolling deployment of an earlier revision (default: the one before the\n"
"current), with that revision's spec.  While a canary or blue-green of\n"
"the service is in its steps, every canary host switches back to the old\n"
"revision in one round instead, starting nothing.\n";

static const char usage_lifecycle[] =
"usage: ferry restart SERVICE [--watch] [--json]\n"
"       ferry stop SERVICE [--watch] [--json]\n"
"       ferry start SERVICE [--watch] [--json]\n"
"       ferry remove SERVICE --yes [--watch] [--json]\n"
"\n"
"Each runs on the service's current revision, batch by batch as its spec's\n"
"rollout says (batch, max_failures, on_failure, pause), and is recorded as\n"
"a deployment of its kind: `ferry status`, `history` and `events` show it,\n"
"with who asked.  Drained and offline hosts are left out of a restart and\n"
"a start, and named; a stop and a removal take drained hosts too, and\n"
"every host whose last heartbeat lists a container of the service, one\n"
"the spec's hosts no longer name included.\n"
"\n"
"restart: every host's container is recreated (same revision, same image,\n"
"a new container), started beside the old one, judged by its health check,\n"
"then given the traffic while the old one drains: no request is dropped.\n"
"A failed host keeps its old container.  No new revision is made.\n"
"stop: every host's route is taken off its ferry-proxy (requests in flight\n"
"finish; new connections are refused) and its containers are stopped and\n"
"kept.  The service is recorded as stopped by you: nothing brings it back\n"
"by itself (catch-up leaves it alone) until `ferry start` or a deploy.\n"
"start: the kept containers are started again, health-gated, and routed to.\n"
"remove: every host's route and containers go; the service is marked\n"
"removed and has no current revision (its revisions are kept for the\n"
"record; a later deploy starts afresh).  Without --yes it changes nothing\n"
"and says what it would remove (exit 2).  A removal that fails on more\n"
"hosts than max_failures pauses (it cannot be rolled back).\n"
"\n"
"Each is refused while a deployment of the service runs.\n";

static const char usage_ctl[] =
"usage: ferry pause|resume|abort|promote DEPLOYMENT [--json]\n"
"\n"
"pause: no new batch starts; the one in flight finishes (a canary's step\n"
"stops its clock and its analysis).  resume: go on.\n"
"abort: stop sending new swaps and leave the hosts as they are; status\n"
"then says exactly which run what.  A canary or blue-green is first put\n"
"back: traffic to the old revision on every canary host, the new one\n"
"stopped.\n"
"promote: skip a canary's steps left (or a blue-green's keep_old): the\n"
"canary hosts take the new revision alone, the other batches follow.\n";

static const char usage_history[] =
"usage: ferry history SERVICE [--json]\n"
"\n"
"The service's deployments, newest first: id, when it started (local\n"
"time, and how long ago), who asked for it, what kind of work it was\n"
"(deploy, rollback, restart, catch-up, ...), the revision it rolled out,\n"
"how it stands or ended, its hosts (\"2 of 3\" when matched hosts were\n"
"left out, and below the table which and why) and the image (by digest\n"
"once resolved, its first 12 digits).  --json: every deployment as\n"
"`ferry status --json` shows it (created_ms, actor, kind, digest).\n";

static const char usage_events[] =
"usage: ferry events [--limit N] [--before ID | --after ID] [--kind KIND]\n"
"                    [--host HOST] [--deployment ID] [--since DURATION|TIME]\n"
"                    [--oldest-first] [--follow] [--json]\n"
"\n"
"The audit log, newest first: who asked for what, when, every state change,\n"
"and the refusals on the agent link (kind \"refused\": the first of a source\n"
"and reason at once, the rest summed up with their count once per\n"
"interval).  Each line: id, time (UTC), deployment, actor, kind, host,\n"
"detail.\n"
"\n"
"  --limit N          at most N events (default 50, at most 10000)\n"
"  --before ID        only events older than ID: the next page\n"
"  --after ID         only events newer than ID (the next page with\n"
"                     --oldest-first)\n"
"  --kind KIND        only events of that kind (refused, host-online, ...)\n"
"  --host HOST        only events about that host\n"
"  --deployment ID    only events of that deployment\n"
"  --since D|TIME     only events of the last D (30s, 10m, 2h) or since TIME\n"
"                     (UTC: 2026-05-01T12:00:00Z, or a day: 2026-05-01)\n"
"  --oldest-first     in the order they happened\n"
"  --follow           the newest --limit events oldest first, then every new\n"
"                     one as it comes (until interrupted)\n"
"  --json             a JSON array (with --follow: one object a line)\n"
"\n"
"When more events match than were shown, stderr says how to see the next\n"
"page.  Text that came from agents is shown escaped (\\n, \\x1b, ...), as\n"
"ferryd recorded it, so no message can forge a line or drive the terminal.\n";

static int
flag(int *argc, char **argv, const char *name)
{
	int i, j;

	for (i = 0; i < *argc; i++)
		if (strcmp(argv[i], name) == 0) {
			for (j = i; j + 1 < *argc; j++)
				argv[j] = argv[j + 1];
			(*argc)--;
			return 1;
		}
	return 0;
}

static const char *
flag_value(int *argc, char **argv, const char *name)
{
	int i, j;
	const char *v;

	for (i = 0; i < *argc; i++)
		if (strcmp(argv[i], name) == 0) {
			if (i + 1 >= *argc)
				die(EXIT_USAGE, "%s needs a value", name);
			v = argv[i + 1];
			for (j = i; j + 2 < *argc; j++)
				argv[j] = argv[j + 2];
			*argc -= 2;
			return v;
		}
	return NULL;
}

static uint64_t
parse_id(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v == 0)
		die(EXIT_USAGE, "%s: expected a number, got \"%s\"", what, s);
	return v;
}

static char *
read_spec(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *text;

	if (f == NULL)
		die(EXIT_USAGE, "%s: %s", path, strerror(errno));
	if ((text = malloc(SPEC_READ_MAX + 1)) == NULL)
		die(EXIT_FAIL, "out of memory");
	*len = fread(text, 1, SPEC_READ_MAX + 1, f);
	fclose(f);
	if (*len > SPEC_READ_MAX)
		die(EXIT_USAGE, "%s: larger than 1 MiB", path);
	return text;
}

/* local_time writes a wall-clock time in the local zone, as people read
 * it: "2026-05-01 14:03". */
static void
local_time(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms == 0 || localtime_r(&t, &tm) == NULL)
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

/* who writes the actor ferryd recorded as people know it: "uid:1000"
 * becomes the user's name on this machine (ferryd's: the CLI reaches it
 * over a local socket), "alice"; anything else as it is. */
static const char *
who(const char *actor, char *buf, size_t len)
{
	struct passwd *pw;
	char *end;
	unsigned long uid;

	if (actor == NULL || actor[0] == '\0')
		return "-";
	if (strncmp(actor, "uid:", 4) != 0 || actor[4] < '0' ||
	    actor[4] > '9')
		return actor;
	errno = 0;
	uid = strtoul(actor + 4, &end, 10);
	if (errno != 0 || *end != '\0' || (pw = getpwuid((uid_t)uid)) ==
	    NULL)
		return actor;
	snprintf(buf, len, "%s", pw->pw_name);
	return buf;
}

/* short_image names a deployment's image for a table: by digest once
 * resolved, cut to its first 12 hex digits as docker does
 * ("reg/web@sha256:2008cb01c4d7"; --json has it whole). */
static const char *
short_image(const Ferry__DeploymentInfo *d, char *buf, size_t len)
{
	const char *at = strstr(d->digest, "@sha256:");

	if (at == NULL)
		return d->image;
	snprintf(buf, len, "%.*s@sha256:%.12s", (int)(at - d->digest),
	    d->digest, at + 8);
	return buf;
}

/* ---- showing a deployment ---------------------------------------------- */

static int
succeeded(const Ferry__DeploymentInfo *d)
{
	return strcmp(d->state, "succeeded") == 0;
}

static int
finished(const Ferry__DeploymentInfo *d)
{
	return strcmp(d->state, "succeeded") == 0 ||
	    strcmp(d->state, "failed") == 0 ||
	    strcmp(d->state, "rolled_back") == 0 ||
	    strcmp(d->state, "aborted") == 0;
}

/* outcome says how a deployment stands, never a bare "succeeded" when it
 * left matched hosts out: "succeeded on 2 of 3 matched hosts; web-2
 * skipped: offline". */
static const char *
outcome(const Ferry__DeploymentInfo *d, char *buf, size_t len)
{
	size_t i, k, off;

	if (d->n_skipped == 0)
		return d->state;
	off = (size_t)snprintf(buf, len, "%s on %zu of %zu matched hosts;",
	    d->state, d->n_hosts, d->n_hosts + d->n_skipped);
	/* Offline hosts first, then drained ones, each group with why:
	 * "web-2 skipped: offline; web-3 skipped: drained". */
	for (k = 0; k < 2; k++) {
		size_t n = 0;

		for (i = 0; i < d->n_skipped && off < len; i++) {
			int dr = d->skipped[i]->cause != NULL &&
			    strncmp(d->skipped[i]->cause, "drained", 7) == 0;

			if (dr != (int)k)
				continue;
			off += (size_t)snprintf(buf + off, len - off, "%s %s",
			    n ? "," : k && off > 0 && buf[off - 1] != ';' ?
			    ";" : "", d->skipped[i]->name);
			n++;
		}
		if (n > 0 && off < len)
			off += (size_t)snprintf(buf + off, len - off,
			    " skipped: %s", k ? "drained" : "offline");
	}
	return buf;
}

static cJSON *
canary_json(const Ferry__CanaryInfo *c)
{
	cJSON *o = cJSON_CreateObject(), *a;
	size_t i;

	cJSON_AddStringToObject(o, "strategy", c->strategy);
	cJSON_AddNumberToObject(o, "step", c->step);
	cJSON_AddNumberToObject(o, "steps", c->steps);
	cJSON_AddNumberToObject(o, "weight", c->weight);
	cJSON_AddNumberToObject(o, "hosts", c->hosts);
	cJSON_AddStringToObject(o, "phase", c->phase);
	cJSON_AddNumberToObject(o, "step_run_ms", (double)c->step_run_ms);
	cJSON_AddNumberToObject(o, "step_for_ms", (double)c->step_for_ms);
	cJSON_AddBoolToObject(o, "step_waits", c->step_waits);
	cJSON_AddBoolToObject(o, "analysis", c->analysis);
	cJSON_AddNumberToObject(o, "interval_ms", (double)c->interval_ms);
	cJSON_AddNumberToObject(o, "passes", c->passes);
	cJSON_AddNumberToObject(o, "fails", c->fails);
	cJSON_AddNumberToObject(o, "failure_limit", c->failure_limit);
	cJSON_AddNumberToObject(o, "intervals_judged", c->intervals);
	cJSON_AddNumberToObject(o, "keep_old_ms", (double)c->keep_old_ms);
	a = cJSON_AddArrayToObject(o, "intervals");
	for (i = 0; i < c->n_recent; i++) {
		const Ferry__AnalysisInterval *v = c->recent[i];
		cJSON *x = cJSON_CreateObject();

		cJSON_AddNumberToObject(x, "seq", (double)v->seq);
		cJSON_AddNumberToObject(x, "step", v->step);
		cJSON_AddStringToObject(x, "phase", v->phase);
		cJSON_AddNumberToObject(x, "start_ms", (double)v->start_ms);
		cJSON_AddNumberToObject(x, "end_ms", (double)v->end_ms);
		cJSON_AddStringToObject(x, "verdict", v->verdict);
		cJSON_AddStringToObject(x, "reason", v->reason);
		cJSON_AddNumberToObject(x, "canary_requests",
		    (double)v->canary_requests);
		cJSON_AddNumberToObject(x, "canary_errors",
		    (double)v->canary_errors);
		cJSON_AddNumberToObject(x, "canary_p95_ms", v->canary_p95_ms);
		cJSON_AddNumberToObject(x, "stable_requests",
		    (double)v->stable_requests);
		cJSON_AddNumberToObject(x, "stable_errors",
		    (double)v->stable_errors);
		cJSON_AddNumberToObject(x, "stable_p95_ms", v->stable_p95_ms);
		cJSON_AddNumberToObject(x, "failed_checks", v->failed);
		cJSON_AddItemToArray(a, x);
	}
	return o;
}

static cJSON *
info_json(const Ferry__DeploymentInfo *d)
{
	cJSON *o = cJSON_CreateObject(), *hs;
	char text[600];
	size_t i;

	cJSON_AddNumberToObject(o, "id", (double)d->id);
	cJSON_AddStringToObject(o, "service", d->service);
	cJSON_AddNumberToObject(o, "revision", (double)d->revision);
	cJSON_AddNumberToObject(o, "previous_revision",
	    (double)d->previous_revision);
	cJSON_AddStringToObject(o, "state", d->state);
	cJSON_AddStringToObject(o, "outcome", outcome(d, text,
	    sizeof(text)));
	cJSON_AddNumberToObject(o, "matched", (double)(d->n_hosts +
	    d->n_skipped));
	cJSON_AddNumberToObject(o, "batch", d->batch);
	cJSON_AddNumberToObject(o, "batches", d->batches);
	cJSON_AddNumberToObject(o, "batch_size", d->batch_size);
	cJSON_AddNumberToObject(o, "failures", d->failures);
	cJSON_AddNumberToObject(o, "max_failures", d->max_failures);
	cJSON_AddStringToObject(o, "on_failure", d->on_failure);
	cJSON_AddStringToObject(o, "cause", d->cause);
	cJSON_AddStringToObject(o, "image", d->image);
	cJSON_AddStringToObject(o, "digest", d->digest);
	cJSON_AddStringToObject(o, "previous_image", d->previous_image);
	cJSON_AddNumberToObject(o, "created_ms", (double)d->created_ms);
	cJSON_AddNumberToObject(o, "updated_ms", (double)d->updated_ms);
	cJSON_AddStringToObject(o, "actor", d->actor);
	cJSON_AddStringToObject(o, "kind", d->kind[0] ? d->kind : "deploy");
	hs = cJSON_AddArrayToObject(o, "hosts");
	for (i = 0; i < d->n_hosts; i++) {
		cJSON *h = cJSON_CreateObject();
		cJSON_AddStringToObject(h, "name", d->hosts[i]->name);
		cJSON_AddNumberToObject(h, "batch", d->hosts[i]->batch);
		cJSON_AddStringToObject(h, "state", d->hosts[i]->state);
		cJSON_AddStringToObject(h, "cause", d->hosts[i]->cause);
		if (d->hosts[i]->n_logs > 0)
			cJSON_AddItemToObject(h, "logs",
			    cJSON_CreateStringArray((const char *const *)
			    d->hosts[i]->logs, (int)d->hosts[i]->n_logs));
		if (d->hosts[i]->proxy != NULL)
			cJSON_AddItemToObject(h, "proxy",
			    proxy_json(d->hosts[i]->proxy));
		cJSON_AddItemToArray(hs, h);
	}
	hs = cJSON_AddArrayToObject(o, "traffic");
	for (i = 0; i < d->n_traffic; i++)
		cJSON_AddItemToArray(hs, traffic_json(d->traffic[i]));
	if (d->canary != NULL)
		cJSON_AddItemToObject(o, "canary", canary_json(d->canary));
	hs = cJSON_AddArrayToObject(o, "skipped");
	for (i = 0; i < d->n_skipped; i++) {
		cJSON *h = cJSON_CreateObject();
		cJSON_AddStringToObject(h, "name", d->skipped[i]->name);
		cJSON_AddStringToObject(h, "cause", d->skipped[i]->cause);
		cJSON_AddItemToArray(hs, h);
	}
	return o;
}

/* show_traffic prints what the proxies of the deployment's hosts counted
 * for its service, per revision, in the last 60 s; and which hosts have no
 * counts, and why. */
/* traffic_lines prints each revision's figures of the last 60 s under a
 * heading naming how many hosts they sum over (nothing when none). */
static void
traffic_lines(Ferry__TrafficFigures *const *t, size_t n, size_t nhosts)
{
	char line[128];
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		const Ferry__TrafficFigures *f = t[i];

		if (f->window_ms != 60000)
			continue;
		if (k++ == 0)
			printf("Traffic (ferry-proxy, last 60 s, over %zu "
			    "host(s)):\n", nhosts);
		printf("  revision %llu: %s; %llu requests in %llus on %u "
		    "host(s)\n", (unsigned long long)f->revision,
		    traffic_text(f, line, sizeof(line)),
		    (unsigned long long)f->requests,
		    (unsigned long long)(f->span_ms / 1000), f->hosts);
	}
}

static void
show_traffic(const Ferry__DeploymentInfo *d)
{
	char said[512];
	size_t i;

	traffic_lines(d->traffic, d->n_traffic, d->n_hosts);
	for (i = 0; i < d->n_hosts; i++)
		if (proxy_said(d->hosts[i]->proxy, said, sizeof(said)) !=
		    NULL && d->hosts[i]->proxy != NULL)
			printf("  %s: %s\n", shown(d->hosts[i]->name), said);
}

/* pct writes a rate as a percentage with the digits it needs. */
static const char *
pct(char *buf, size_t len, uint64_t part, uint64_t whole)
{
	double r = whole ? 100.0 * (double)part / (double)whole : 0;

	snprintf(buf, len, r == 0 || r >= 10 ? "%.0f%%" : r >= 1 ?
	    "%.1f%%" : "%.2f%%", r);
	return buf;
}

/* canary_line writes where a canary or blue-green stands, as the first
 * line's state: "canary 5% on 6 hosts, step 1/3, 4m12s of 15m". */
static const char *
canary_line(const Ferry__DeploymentInfo *d, char *buf, size_t len)
{
	const Ferry__CanaryInfo *c = d->canary;
	char a[32], b[32];
	int bg = strcmp(c->strategy, "blue-green") == 0;

	if (strcmp(d->state, "canary") != 0 && strcmp(d->state, "paused") !=
	    0) {
		snprintf(buf, len, "%s", d->state);
		return buf;
	}
	if (bg && c->step == 1)
		snprintf(buf, len, "%sblue-green preparing %u hosts (the new "
		    "revision beside the old, no traffic yet)",
		    strcmp(d->state, "paused") == 0 ? "paused, " : "",
		    c->hosts);
	else if (bg)
		snprintf(buf, len, "%sblue-green switched on %u hosts, the old "
		    "revision kept warm %s of %s",
		    strcmp(d->state, "paused") == 0 ? "paused, " : "",
		    c->hosts, text_duration(a, sizeof(a), c->step_run_ms),
		    text_duration(b, sizeof(b), c->keep_old_ms));
	else if (c->step_waits)
		snprintf(buf, len, "%scanary %u%% on %u host%s, step %u/%u, %s "
		    "(waits for ferry promote %llu)",
		    strcmp(d->state, "paused") == 0 ? "paused, " : "",
		    c->weight, c->hosts, c->hosts == 1 ? "" : "s", c->step,
		    c->steps, text_duration(a, sizeof(a), c->step_run_ms),
		    (unsigned long long)d->id);
	else
		snprintf(buf, len, "%scanary %u%% on %u host%s, step %u/%u, %s "
		    "of %s", strcmp(d->state, "paused") == 0 ? "paused, " : "",
		    c->weight, c->hosts, c->hosts == 1 ? "" : "s", c->step,
		    c->steps, text_duration(a, sizeof(a), c->step_run_ms),
		    text_duration(b, sizeof(b), c->step_for_ms));
	return buf;
}

/* show_analysis prints the newest interval's figures, as an expert cites
 * them, and the last verdicts. */
static void
show_analysis(const Ferry__DeploymentInfo *d)
{
	const Ferry__CanaryInfo *c = d->canary;
	const Ferry__AnalysisInterval *v;
	char a[32], b[32], n[32], w[32];
	size_t i, k;

	if (c == NULL || !c->analysis)
		return;
	if (c->n_recent == 0) {
		printf("Analysis: every %s, no interval judged yet\n",
		    text_duration(w, sizeof(w), c->interval_ms));
		return;
	}
	v = c->recent[0];
	printf("Analysis: error rate %s", pct(a, sizeof(a), v->canary_errors,
	    v->canary_requests));
	if (v->stable_requests > 0)
		printf(" (stable %s)", pct(b, sizeof(b), v->stable_errors,
		    v->stable_requests));
	if (v->canary_p95_ms >= 0)
		printf(", p95 %.*f ms", v->canary_p95_ms < 10 ? 1 : 0,
		    v->canary_p95_ms);
	if (v->canary_p95_ms >= 0 && v->stable_p95_ms >= 0 &&
	    v->stable_requests > 0)
		printf(" (stable %.*f ms)", v->stable_p95_ms < 10 ? 1 : 0,
		    v->stable_p95_ms);
	printf(", %s requests over %s; ", text_thousands(n, sizeof(n),
	    v->canary_requests), text_duration(w, sizeof(w),
	    v->end_ms > v->start_ms ? v->end_ms - v->start_ms : 0));
	k = c->n_recent < 3 ? c->n_recent : 3;
	if (k == 1)
		printf("last interval %s", c->recent[0]->verdict);
	else
		printf("last %zu intervals", k);
	for (i = 0; k > 1 && i < k; i++)
		printf("%s %s", i ? "," : "", c->recent[k - 1 - i]->verdict);
	printf(" (%u failed of failure_limit %u)\n", c->fails,
	    c->failure_limit);
	if (strcmp(v->verdict, "pass") != 0)
		printf("  interval %llu: %s\n", (unsigned long long)v->seq,
		    shown(v->reason));
}

/* show prints the evidence: state and batch, healthy hosts with each
 * failure's cause, the rollback target. */
static void
show(const Ferry__DeploymentInfo *d, int hosts)
{
	struct table *t;
	size_t i, healthy = 0, failed = 0;
	uint64_t el = (d->updated_ms > d->created_ms ? d->updated_ms :
	    d->created_ms) - d->created_ms;

	char text[600];

	printf("Deployment %llu of %s: %s", (unsigned long long)d->id,
	    d->service, finished(d) ? outcome(d, text, sizeof(text)) :
	    d->canary != NULL && d->canary->step <= d->canary->steps ?
	    canary_line(d, text, sizeof(text)) : d->state);
	if ((d->canary == NULL || d->canary->step > d->canary->steps ||
	    finished(d)) && (strcmp(d->state, "running") == 0 ||
	    strcmp(d->state, "rolling_back") == 0 ||
	    strcmp(d->state, "paused") == 0))
		printf(" (batch %u/%u)", d->batch, d->batches);
	printf(", revision %llu, %llu.%llus\n", (unsigned long long)d->revision,
	    (unsigned long long)(el / 1000),
	    (unsigned long long)(el % 1000 / 100));
	if (d->cause[0])
		printf("Cause: %s\n", shown(d->cause));
	show_analysis(d);
	if (d->n_skipped > 0) {
		printf("Skipped:");
		for (i = 0; i < d->n_skipped; i++)
			printf("%s %s (%s)", i ? "," : "",
			    shown(d->skipped[i]->name),
			    shown(d->skipped[i]->cause));
		putchar('\n');
	}
	for (i = 0; i < d->n_hosts; i++) {
		healthy += strcmp(d->hosts[i]->state, "done") == 0 ||
		    strcmp(d->hosts[i]->state, "reverted") == 0 ||
		    strcmp(d->hosts[i]->state, "beside") == 0;
		failed += strcmp(d->hosts[i]->state, "failed") == 0 ||
		    strcmp(d->hosts[i]->state, "revert_failed") == 0;
	}
	printf("Health: %zu/%zu hosts passing", healthy, d->n_hosts);
	if (failed) {
		size_t k = 0;
		printf("; %zu failed:", failed);
		for (i = 0; i < d->n_hosts; i++)
			if (strcmp(d->hosts[i]->state, "failed") == 0 ||
			    strcmp(d->hosts[i]->state, "revert_failed") == 0)
				printf("%s %s (%s)", k++ ? "," : "",
				    shown(d->hosts[i]->name),
				    shown(d->hosts[i]->cause[0] ?
				    d->hosts[i]->cause : d->hosts[i]->state));
	}
	putchar('\n');
	if (d->previous_revision)
		printf("Rollback available to revision %llu (%s)\n",
		    (unsigned long long)d->previous_revision,
		    d->previous_image);
	else
		printf("No rollback target: revision %llu is the first\n",
		    (unsigned long long)d->revision);
	if (!hosts)
		return;
	show_traffic(d);
	if (d->n_hosts == 0)
		return;
	t = table_new();
	table_col(t, "BATCH", 0, TABLE_RIGHT);
	table_col(t, "HOST", 0.2, 0);
	table_col(t, "STATE", 0, 0);
	table_col(t, "CAUSE", 0.5, TABLE_WRAP);
	for (i = 0; i < d->n_hosts; i++) {
		table_row(t);
		table_cell(t, "%u", d->hosts[i]->batch);
		table_cell(t, "%s", d->hosts[i]->name);
		table_cell(t, "%s", d->hosts[i]->state);
		table_cell(t, "%s", d->hosts[i]->cause);
	}
	table_print(t, stdout);
	for (i = 0; i < d->n_hosts; i++) {
		size_t k;

		if (d->hosts[i]->n_logs == 0)
			continue;
		printf("Last lines of the failed container on %s:\n",
		    shown(d->hosts[i]->name));
		for (k = 0; k < d->hosts[i]->n_logs; k++)
			printf("  %s | %s\n", shown(d->hosts[i]->name),
			    shown(d->hosts[i]->logs[k]));
	}
}

static Ferry__CtlReply *
get_status(uint64_t id, const char *service)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__DeploymentRef ref = FERRY__DEPLOYMENT_REF__INIT;

	ref.id = id;
	ref.service = (char *)(service ? service : "");
	req.op_case = FERRY__CTL_REQUEST__OP_STATUS;
	req.status = &ref;
	return call(&req, 10000);
}

/* frame_put writes a frame of a watch on the terminal over the one before
 * (prev lines): up over them (CSI n A), from the line's start down cleared
 * (CSI J), then the frame, each line cut to the terminal's width so that
 * none wraps (a wrapped line would throw the count off) and no more lines
 * than the terminal has rows, less one (the cursor cannot go up past the
 * top).  Returns how many lines it wrote. */
static int
frame_put(const char *text, int prev)
{
	struct winsize ws;
	int cols = 80, rows = 24, n = 0, w;
	const char *p, *e;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
		cols = ws.ws_col;
		rows = ws.ws_row > 1 ? ws.ws_row : rows;
	}
	if (prev > 0)
		printf("\033[%dA", prev);
	fputs("\r\033[J", stdout);
	for (p = text; *p != '\0' && n < rows - 1; p = *e ? e + 1 : e) {
		e = strchr(p, '\n');
		if (e == NULL)
			e = p + strlen(p);
		if (n == rows - 2 && *e != '\0' && e[1] != '\0') {
			/* The last row left: say the rest is cut. */
			fputs("...\n", stdout);
			n++;
			break;
		}
		/* Width in columns: every byte but UTF-8's continuations
		 * (the text is escaped: no control characters in it). */
		for (w = 0; p < e; p++) {
			if (((unsigned char)*p & 0xc0) != 0x80 && ++w >= cols)
				break;
			putchar(*p);
		}
		putchar('\n');
		n++;
	}
	fflush(stdout);
	return n;
}

/* watch_frame renders what `ferry status` shows into a string, below a
 * line whose clock runs: the time, how long the deployment has run (by the
 * wall clock since it started, until it ends) and how to leave.  show()
 * and the tables write to stdout: glibc's stdout is a variable that a
 * program may set (the GNU C Library manual, "Standard Streams"), so
 * it points at the frame's memory stream meanwhile. */
static char *
watch_frame(const Ferry__DeploymentInfo *d)
{
	FILE *real = stdout, *mem;
	char *buf = NULL, now[16], el[32];
	size_t len = 0;
	uint64_t wall = clock_wall_ms(), end;
	time_t t = (time_t)(wall / 1000);
	struct tm tm;

	fflush(stdout);
	if ((mem = open_memstream(&buf, &len)) == NULL)
		die(EXIT_FAIL, "out of memory");
	end = finished(d) ? d->updated_ms : wall;
	localtime_r(&t, &tm);
	strftime(now, sizeof(now), "%H:%M:%S", &tm);
	fprintf(mem, "%s  deployment %llu, %s %s%s\n\n", now,
	    (unsigned long long)d->id, finished(d) ? "ended after" :
	    "running for", text_duration(el, sizeof(el), end > d->created_ms ?
	    end - d->created_ms : 0), finished(d) ? "" : "  (Ctrl-C stops "
	    "watching; the deployment goes on)");
	stdout = mem;
	show(d, 1);
	fflush(mem);
	stdout = real;
	if (fclose(mem) != 0 || buf == NULL)
		die(EXIT_FAIL, "out of memory");
	return buf;
}

/* watch shows a deployment until it ends: on a terminal, redrawn in place
 * with a running clock; otherwise one line per change.  Returns its exit
 * status. */
static int
watch(uint64_t id, int json)
{
	int tty = isatty(1), drawn = 0;
	char last[4096] = "";
	uint64_t start = clock_mono_us();
	Ferry__CtlReply *r;
	int rc;

	for (;;) {
		const Ferry__DeploymentInfo *d;
		char line[4096];
		size_t i, off;

		r = get_status(id, NULL);
		if (r->n_deployments == 0)
			die(EXIT_FAIL, "deployment %llu vanished",
			    (unsigned long long)id);
		d = r->deployments[0];
		if (json) {
			if (finished(d)) {
				print_json(info_json(d));
				rc = succeeded(d) ? 0 : EXIT_FAIL;
				ferry__ctl_reply__free_unpacked(r, NULL);
				return rc;
			}
		} else if (tty) {
			char *frame = watch_frame(d);

			drawn = frame_put(frame, drawn);
			free(frame);
		} else {
			const Ferry__CanaryInfo *c = d->canary;

			if (c != NULL && c->step <= c->steps && !finished(d))
				/* No clock in it: a line per change. */
				off = (size_t)snprintf(line, sizeof(line), "%s "
				    "%s step %u/%u at %u%% (%s), %u interval(s) "
				    "judged%s%s:", d->state, c->strategy,
				    c->step, c->steps, c->weight, c->phase,
				    c->intervals, c->n_recent ? ", last " : "",
				    c->n_recent ? c->recent[0]->reason : "");
			else
				off = (size_t)snprintf(line, sizeof(line), "%s "
				    "batch %u/%u:", d->state, d->batch,
				    d->batches);
			for (i = 0; i < d->n_hosts && off < sizeof(line); i++)
				off += (size_t)snprintf(line + off,
				    sizeof(line) - off, " %s=%s",
				    d->hosts[i]->name, d->hosts[i]->state);
			if (strcmp(line, last) != 0) {
				printf("[%6.1fs] deployment %llu: %s\n",
				    (double)(clock_mono_us() - start) / 1e6,
				    (unsigned long long)id, line);
				fflush(stdout);
				snprintf(last, sizeof(last), "%s", line);
			}
		}
		if (finished(d)) {
			if (!tty)
				show(d, 0);
			rc = succeeded(d) ? 0 : EXIT_FAIL;
			ferry__ctl_reply__free_unpacked(r, NULL);
			return rc;
		}
		ferry__ctl_reply__free_unpacked(r, NULL);
		if (clock_mono_us() - start > (uint64_t)WATCH_LIMIT_MS * 1000)
			die(EXIT_FAIL, "gave up watching after 6 hours");
		usleep(WATCH_MS * 1000);
	}
}

static int
after_start(Ferry__CtlReply *r, int w, int json)
{
	const Ferry__DeploymentInfo *d;
	uint64_t id;

	if (r->n_deployments == 0)
		die(EXIT_FAIL, "ferryd did not say which deployment");
	d = r->deployments[0];
	id = d->id;
	if (!w) {
		if (json)
			print_json(info_json(d));
		else
			printf("deployment %llu of %s: revision %llu to %zu "
			    "host(s) in %u batch(es)\n",
			    (unsigned long long)id, d->service,
			    (unsigned long long)d->revision, d->n_hosts,
			    d->batches);
		ferry__ctl_reply__free_unpacked(r, NULL);
		return 0;
	}
	ferry__ctl_reply__free_unpacked(r, NULL);
	return watch(id, json);
}

/* ---- the commands --------------------------------------------------------- */

int
cmd_deploy(int argc, char **argv, int plan)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__DeployRequest dr = FERRY__DEPLOY_REQUEST__INIT;
	Ferry__CtlReply *r;
	const char *image;
	int w, json;
	char *text;
	size_t len, i;

	cmd_usage = plan ? usage_plan : usage_deploy;
	if (flag(&argc, argv, "--help") || flag(&argc, argv, "-h")) {
		fputs(cmd_usage, stdout);
		return 0;
	}
	w = !plan && flag(&argc, argv, "--watch");
	json = flag(&argc, argv, "--json");
	dr.skip_offline = flag(&argc, argv, "--skip-offline");
	image = flag_value(&argc, argv, "--image");
	unknown_flags(argc, argv, plan ? "plan" : "deploy", NULL);
	if (argc != 1)
		die(EXIT_USAGE, argc == 0 ? "%s: expected SPEC.yml" :
		    "%s: one SPEC.yml, not more", plan ? "plan" : "deploy");
	text = read_spec(argv[0], &len);
	dr.spec_file = argv[0];
	dr.spec.data = (uint8_t *)text;
	dr.spec.len = len;
	dr.image = (char *)(image ? image : "");
	if (plan) {
		req.op_case = FERRY__CTL_REQUEST__OP_PLAN;
		req.plan = &dr;
	} else {
		req.op_case = FERRY__CTL_REQUEST__OP_DEPLOY;
		req.deploy = &dr;
	}
	r = call(&req, 30000);
	free(text);
	if (!plan)
		return after_start(r, w, json);
	if (json) {
		cJSON *o = cJSON_CreateObject(), *hs, *cs;
		cJSON_AddStringToObject(o, "service", r->plan->service);
		cJSON_AddNumberToObject(o, "current_revision",
		    (double)r->plan->current_revision);
		cJSON_AddNumberToObject(o, "batches", r->plan->batches);
		hs = cJSON_AddArrayToObject(o, "hosts");
		for (i = 0; i < r->plan->n_hosts; i++) {
			cJSON *h = cJSON_CreateObject();
			cJSON_AddStringToObject(h, "name",
			    r->plan->hosts[i]->name);
			cJSON_AddNumberToObject(h, "batch",
			    r->plan->hosts[i]->batch);
			cJSON_AddStringToObject(h, "state",
			    r->plan->hosts[i]->state);
			cJSON_AddStringToObject(h, "cause",
			    r->plan->hosts[i]->cause);
			cJSON_AddItemToArray(hs, h);
		}
		cJSON_AddStringToObject(o, "strategy", r->plan->strategy ?
		    r->plan->strategy : "");
		cs = cJSON_AddArrayToObject(o, "changes");
		for (i = 0; i < r->plan->n_changes; i++)
			cJSON_AddItemToArray(cs,
			    cJSON_CreateString(r->plan->changes[i]));
		print_json(o);
	} else {
		uint32_t b;
		printf("Plan for %s (current revision %s%llu): %u batch(es)\n",
		    r->plan->service, r->plan->current_revision ? "" :
		    "none, ", (unsigned long long)r->plan->current_revision,
		    r->plan->batches);
		for (b = 1; b <= r->plan->batches; b++) {
			printf("  batch %u:", b);
			for (i = 0; i < r->plan->n_hosts; i++)
				if (r->plan->hosts[i]->batch == b)
					printf(" %s", r->plan->hosts[i]->name);
			putchar('\n');
		}
		if (r->plan->strategy && r->plan->strategy[0])
			printf("Strategy: %s\n", r->plan->strategy);
		for (i = 0; i < r->plan->n_hosts; i++)
			if (r->plan->hosts[i]->batch == 0)
				printf("  offline: %s: %s\n",
				    r->plan->hosts[i]->name,
				    r->plan->hosts[i]->cause);
		printf("Changes:\n");
		for (i = 0; i < r->plan->n_changes; i++)
			printf("  %s\n", r->plan->changes[i]);
		if (r->plan->n_changes == 0)
			printf("  none\n");
	}
	ferry__ctl_reply__free_unpacked(r, NULL);
	return 0;
}

/* ---- ferry status SERVICE ------------------------------------------------ */

static int
is_number(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* service_word: a service's name as a spec writes it (spec.c): lowercase
 * letters, digits, '_', '.' and '-', starting with a letter or digit, at
 * most 63 characters. */
static int
service_word(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 63 || !((s[0] >= 'a' && s[0] <= 'z') ||
	    (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9') || s[i] == '_' || s[i] == '.' ||
		    s[i] == '-'))
			return 0;
	return 1;
}

/* host_healthy_now: a container of the current revision runs on the host,
 * none of them unhealthy, and nothing drifted. */
static int
host_healthy_now(const Ferry__ServiceStatus *ss,
    const Ferry__ServiceHostInfo *h)
{
	size_t i;
	int up = 0;

	if (h->drift != NULL || strcmp(h->state, "online") != 0)
		return 0;
	for (i = 0; i < h->n_containers; i++) {
		const Ferry__Container *c = h->containers[i];

		if (strcmp(c->state, "running") != 0 ||
		    strtoull(c->revision, NULL, 10) != ss->revision)
			continue;
		if (strncmp(c->health, "unhealthy", 9) == 0)
			return 0;
		up = 1;
	}
	return up;
}

static cJSON *
service_json(const Ferry__CtlReply *r)
{
	const Ferry__ServiceStatus *ss = r->service;
	cJSON *o = cJSON_CreateObject(), *hs, *a;
	size_t i, j;

	cJSON_AddStringToObject(o, "service", ss->service);
	cJSON_AddNumberToObject(o, "revision", (double)ss->revision);
	cJSON_AddStringToObject(o, "image", ss->image);
	cJSON_AddStringToObject(o, "digest", ss->digest);
	cJSON_AddStringToObject(o, "catch_up", ss->catch_up ? "auto" : "off");
	cJSON_AddNumberToObject(o, "current_by_deployment",
	    (double)ss->deployment);
	/* Stopped or removed on purpose: "" when neither. */
	cJSON_AddStringToObject(o, "lifecycle", ss->lifecycle);
	cJSON_AddStringToObject(o, "lifecycle_by", ss->lifecycle_by);
	cJSON_AddNumberToObject(o, "lifecycle_at_ms",
	    (double)ss->lifecycle_at_ms);
	hs = cJSON_AddArrayToObject(o, "hosts");
	for (i = 0; i < ss->n_hosts; i++) {
		const Ferry__ServiceHostInfo *h = ss->hosts[i];
		cJSON *ho = cJSON_CreateObject();

		cJSON_AddStringToObject(ho, "name", h->name);
		cJSON_AddStringToObject(ho, "state", h->state);
		cJSON_AddBoolToObject(ho, "should_run", h->should_run);
		cJSON_AddBoolToObject(ho, "healthy", host_healthy_now(ss, h));
		a = cJSON_AddArrayToObject(ho, "containers");
		for (j = 0; j < h->n_containers; j++)
			cJSON_AddItemToArray(a, container_json(
			    h->containers[j]));
		if (h->drift != NULL)
			cJSON_AddItemToObject(ho, "drift",
			    drift_json(h->drift));
		else
			cJSON_AddNullToObject(ho, "drift");
		cJSON_AddItemToArray(hs, ho);
	}
	a = cJSON_AddArrayToObject(o, "traffic");
	for (i = 0; i < ss->n_traffic; i++)
		cJSON_AddItemToArray(a, traffic_json(ss->traffic[i]));
	if (r->n_deployments > 0)
		cJSON_AddItemToObject(o, "latest",
		    info_json(r->deployments[0]));
	else
		cJSON_AddNullToObject(o, "latest");
	return o;
}

/* service_show prints the service as it is now; returns how many hosts
 * drifted. */
static size_t
service_show(const Ferry__CtlReply *r)
{
	const Ferry__ServiceStatus *ss = r->service;
	char runs[512], text[600];
	size_t i, j, healthy = 0, drifted = 0;
	struct table *t;

	if (ss->revision == 0)
		printf("Service %s: no current revision (%s)\n",
		    shown(ss->service), strcmp(ss->lifecycle, "removed") == 0 ?
		    "removed" : "no deployment of it succeeded");
	else
		printf("Service %s: revision %llu (%s), current since "
		    "deployment %llu; catch_up: %s\n", shown(ss->service),
		    (unsigned long long)ss->revision, shown(ss->image),
		    (unsigned long long)ss->deployment, ss->catch_up ? "auto" :
		    "off");
	/* Stopped or removed on purpose: who, and how long ago. */
	lifecycle_line(ss);
	for (i = 0; i < ss->n_hosts; i++) {
		healthy += host_healthy_now(ss, ss->hosts[i]);
		drifted += ss->hosts[i]->drift != NULL;
	}
	printf("Health now: %zu/%zu hosts healthy", healthy, ss->n_hosts);
	if (drifted)
		printf("; drift on %zu", drifted);
	putchar('\n');
	/* Host by host, as ferry hosts lays out its table; what catch-up
	 * does about a drift under it. */
	t = table_new();
	table_col(t, "HOST", 0.15, 0);
	table_col(t, "STATE", 0, 0);
	table_col(t, "RUNS", 0.3, TABLE_WRAP);
	table_col(t, "NOW", 0.4, TABLE_WRAP);
	for (i = 0; i < ss->n_hosts; i++) {
		const Ferry__ServiceHostInfo *h = ss->hosts[i];
		size_t off = 0;

		runs[0] = '\0';
		for (j = 0; j < h->n_containers && off < sizeof(runs); j++) {
			const Ferry__Container *c = h->containers[j];

			off += (size_t)snprintf(runs + off, sizeof(runs) - off,
			    "%sr%s %s%s%s", j ? ", " : "", c->revision,
			    c->state, c->health[0] ? " " : "", c->health);
			if (c->exited && off < sizeof(runs))
				off += (size_t)snprintf(runs + off,
				    sizeof(runs) - off, " (code %d)",
				    c->exit_code);
		}
		table_row(t);
		table_cell(t, "%s", h->name);
		table_cell(t, "%s", h->state);
		table_cell(t, "%s", runs[0] ? runs : "nothing");
		table_cell(t, "%s", h->drift != NULL ? h->drift->detail :
		    !h->should_run ? "not one of its hosts" :
		    strcmp(h->state, "online") != 0 ? "(not heard: offline)" :
		    "as it should");
	}
	if (table_rows(t) > 0)
		table_print(t, stdout);
	else
		table_free(t);
	for (i = 0; i < ss->n_hosts; i++) {
		const Ferry__ServiceHostInfo *h = ss->hosts[i];

		if (h->drift != NULL && h->drift->catch_up[0])
			printf("  %s: catch-up: %s\n", shown(h->name),
			    shown(h->drift->catch_up));
	}
	if (r->n_deployments > 0) {
		const Ferry__DeploymentInfo *d = r->deployments[0];

		printf("Latest: deployment %llu (%s) %s, revision %llu, by "
		    "%s\n", (unsigned long long)d->id, d->kind[0] ? d->kind :
		    "deploy", finished(d) ? outcome(d, text, sizeof(text)) :
		    d->state, (unsigned long long)d->revision,
		    shown(d->actor));
	}
	traffic_lines(ss->traffic, ss->n_traffic, ss->n_hosts);
	return drifted;
}

static Ferry__CtlReply *
get_service(const char *service)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__DeploymentRef ref = FERRY__DEPLOYMENT_REF__INIT;

	ref.service = (char *)service;
	req.op_case = FERRY__CTL_REQUEST__OP_SERVICE_STATUS;
	req.service_status = &ref;
	return call(&req, 10000);
}

static int
status_service(const char *service, int w, int json)
{
	Ferry__CtlReply *r;
	size_t drifted;

	for (;;) {
		r = get_service(service);
		if (r->service == NULL)
			die(EXIT_FAIL, "ferryd sent no status of %s", service);
		if (w && !json && isatty(STDOUT_FILENO))
			fputs("\033[H\033[2J", stdout);
		if (json) {
			drifted = 0;
			print_json(service_json(r));
			{
				size_t i;
				for (i = 0; i < r->service->n_hosts; i++)
					drifted += r->service->hosts[i]->drift
					    != NULL;
			}
		} else {
			drifted = service_show(r);
		}
		ferry__ctl_reply__free_unpacked(r, NULL);
		if (!w)
			return drifted ? EXIT_FAIL : 0;
		fflush(stdout);
		sleep(2);
	}
}

int
cmd_status(int argc, char **argv)
{
	Ferry__CtlReply *r;
	uint64_t id = 0;
	int w, json, rc;

	cmd_usage = usage_status;
	if (flag(&argc, argv, "--help") || flag(&argc, argv, "-h")) {
		fputs(usage_status, stdout);
		return 0;
	}
	w = flag(&argc, argv, "--watch");
	json = flag(&argc, argv, "--json");
	unknown_flags(argc, argv, "status", NULL);
	if (argc > 1)
		die(EXIT_USAGE, "status: unexpected \"%s\" (one DEPLOYMENT "
		    "or SERVICE at most)", argv[1]);
	if (argc == 1 && !is_number(argv[0]) && !service_word(argv[0]))
		die(EXIT_USAGE, "status: \"%s\" is neither a DEPLOYMENT id "
		    "nor a SERVICE name (lowercase letters, digits, '_', '.' "
		    "and '-')", argv[0]);
	if (argc == 1 && !is_number(argv[0]))
		return status_service(argv[0], w, json);
	if (argc == 1)
		id = parse_id(argv[0], "DEPLOYMENT");
	r = get_status(id, NULL);
	if (r->n_deployments == 0)
		die(EXIT_FAIL, "no deployments yet");
	id = r->deployments[0]->id;
	if (w) {
		ferry__ctl_reply__free_unpacked(r, NULL);
		return watch(id, json);
	}
	if (json)
		print_json(info_json(r->deployments[0]));
	else
		show(r->deployments[0], 1);
	rc = succeeded(r->deployments[0]) || !finished(r->deployments[0]) ?
	    0 : EXIT_FAIL;
	ferry__ctl_reply__free_unpacked(r, NULL);
	return rc;
}

int
cmd_history(int argc, char **argv)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__DeploymentRef ref = FERRY__DEPLOYMENT_REF__INIT;
	Ferry__CtlReply *r;
	int json;
	size_t i;

	cmd_usage = usage_history;
	if (flag(&argc, argv, "--help") || flag(&argc, argv, "-h")) {
		fputs(usage_history, stdout);
		return 0;
	}
	json = flag(&argc, argv, "--json");
	unknown_flags(argc, argv, "history", NULL);
	if (argc != 1)
		die(EXIT_USAGE, argc == 0 ? "history: expected a SERVICE" :
		    "history: one SERVICE, not more");
	ref.service = argv[0];
	req.op_case = FERRY__CTL_REQUEST__OP_HISTORY;
	req.history = &ref;
	r = call(&req, 10000);
	if (json) {
		cJSON *a = cJSON_CreateArray();
		for (i = 0; i < r->n_deployments; i++)
			cJSON_AddItemToArray(a, info_json(r->deployments[i]));
		print_json(a);
	} else {
		struct table *t = table_new();

		table_col(t, "ID", 0, TABLE_RIGHT);
		table_col(t, "WHEN", 0, 0);
		table_col(t, "AGO", 0, TABLE_RIGHT);
		table_col(t, "WHO", 0.15, TABLE_TRUNC);
		table_col(t, "KIND", 0, 0);
		table_col(t, "REVISION", 0, TABLE_RIGHT);
		table_col(t, "STATE", 0, 0);
		table_col(t, "HOSTS", 0, TABLE_RIGHT);
		table_col(t, "IMAGE", 0.3, TABLE_TRUNC);
		for (i = 0; i < r->n_deployments; i++) {
			const Ferry__DeploymentInfo *d = r->deployments[i];
			char hosts[32], text[600], at[32], since[32];

			snprintf(hosts, sizeof(hosts), d->n_skipped ?
			    "%zu of %zu" : "%zu", d->n_hosts, d->n_hosts +
			    d->n_skipped);
			local_time(d->created_ms, at, sizeof(at));
			ago(d->created_ms, since, sizeof(since));
			table_row(t);
			table_cell(t, "%llu", (unsigned long long)d->id);
			table_cell(t, "%s", at);
			table_cell(t, "%s", since);
			table_cell(t, "%s", who(d->actor, text, sizeof(text)));
			table_cell(t, "%s", d->kind[0] ? d->kind : "deploy");
			table_cell(t, "%llu", (unsigned long long)d->revision);
			table_cell(t, "%s", d->state);
			table_cell(t, "%s", hosts);
			table_cell(t, "%s", short_image(d, text,
			    sizeof(text)));
		}
		table_print(t, stdout);
		/* What "2 of 3" left out, and why. */
		for (i = 0; i < r->n_deployments; i++) {
			const Ferry__DeploymentInfo *d = r->deployments[i];
			char text[600];

			if (d->n_skipped > 0)
				printf("deployment %llu: %s\n",
				    (unsigned long long)d->id,
				    shown(outcome(d, text, sizeof(text))));
		}
	}
	ferry__ctl_reply__free_unpacked(r, NULL);
	return 0;
}

int
cmd_rollback(int argc, char **argv)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__RollbackRequest rb = FERRY__ROLLBACK_REQUEST__INIT;
	const char *to;
	int w, json;

	cmd_usage = usage_rollback;
	if (flag(&argc, argv, "--help") || flag(&argc, argv, "-h")) {
		fputs(usage_rollback, stdout);
		return 0;
	}
	w = flag(&argc, argv, "--watch");
	json = flag(&argc, argv, "--json");
	to = flag_value(&argc, argv, "--to");
	unknown_flags(argc, argv, "rollback", NULL);
	if (argc != 1)
		die(EXIT_USAGE, argc == 0 ? "rollback: expected a SERVICE" :
		    "rollback: one SERVICE, not more");
	rb.service = argv[0];
	rb.to_revision = to ? parse_id(to, "--to") : 0;
	req.op_case = FERRY__CTL_REQUEST__OP_ROLLBACK;
	req.rollback = &rb;
	return after_start(call(&req, 30000), w, json);
}

int
cmd_lifecycle(int argc, char **argv, const char *what)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__ServiceOp op = FERRY__SERVICE_OP__INIT;
	int w, json, yes;

	cmd_usage = usage_lifecycle;
	if (flag(&argc, argv, "--help") || flag(&argc, argv, "-h")) {
		fputs(usage_lifecycle, stdout);
		return 0;
	}
	w = flag(&argc, argv, "--watch");
	json = flag(&argc, argv, "--json");
	yes = flag(&argc, argv, "--yes");
	unknown_flags(argc, argv, what, NULL);
	if (argc != 1)
		die(EXIT_USAGE, argc == 0 ? "%s: expected a SERVICE" :
		    "%s: one SERVICE, not more", what);
	if (yes && strcmp(what, "remove") != 0)
		die(EXIT_USAGE, "%s: --yes is for ferry remove only", what);
	op.service = argv[0];
	op.yes = yes;
	if (strcmp(what, "restart") == 0) {
		req.op_case = FERRY__CTL_REQUEST__OP_SERVICE_RESTART;
		req.service_restart = &op;
	} else if (strcmp(what, "stop") == 0) {
		req.op_case = FERRY__CTL_REQUEST__OP_SERVICE_STOP;
		req.service_stop = &op;
	} else if (strcmp(what, "start") == 0) {
		req.op_case = FERRY__CTL_REQUEST__OP_SERVICE_START;
		req.service_start = &op;
	} else {
		req.op_case = FERRY__CTL_REQUEST__OP_SERVICE_REMOVE;
		req.service_remove = &op;
	}
	return after_start(call(&req, 30000), w, json);
}

int
cmd_control(int argc, char **argv, const char *what)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__DeploymentRef ref = FERRY__DEPLOYMENT_REF__INIT;
	Ferry__CtlReply *r;

	int json;

	cmd_usage = usage_ctl;
	if (flag(&argc, argv, "--help") || flag(&argc, argv, "-h")) {
		fputs(usage_ctl, stdout);
		return 0;
	}
	json = flag(&argc, argv, "--json");
	unknown_flags(argc, argv, what, NULL);
	if (argc != 1)
		die(EXIT_USAGE, argc == 0 ? "%s: expected a DEPLOYMENT" :
		    "%s: one DEPLOYMENT, not more", what);
	ref.id = parse_id(argv[0], "DEPLOYMENT");
	if (strcmp(what, "pause") == 0) {
		req.op_case = FERRY__CTL_REQUEST__OP_PAUSE;
		req.pause = &ref;
	} else if (strcmp(what, "resume") == 0) {
		req.op_case = FERRY__CTL_REQUEST__OP_RESUME;
		req.resume = &ref;
	} else if (strcmp(what, "promote") == 0) {
		req.op_case = FERRY__CTL_REQUEST__OP_PROMOTE;
		req.promote = &ref;
	} else {
		req.op_case = FERRY__CTL_REQUEST__OP_ABORT;
		req.abort = &ref;
	}
	r = call(&req, 10000);
	if (r->n_deployments > 0 && json)
		print_json(info_json(r->deployments[0]));
	else if (r->n_deployments > 0)
		show(r->deployments[0], strcmp(what, "abort") == 0);
	ferry__ctl_reply__free_unpacked(r, NULL);
	return 0;
}

#define EVENTS_LIMIT_DEFAULT	50
#define EVENTS_LIMIT_MAX	10000

/* parse_since reads --since: a duration back from now ("10m") or a UTC
 * time ("2026-05-01T12:00:00Z", "2026-05-01T12:00:00", "2026-05-01");
 * returns the wall-clock ms, or dies with a usage error. */
static uint64_t
parse_since(const char *s)
{
	uint64_t now = clock_wall_ms(), ms;
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
	struct tm tm;
	time_t t;

	if (s[0] >= '0' && s[0] <= '9' && strchr(s, '-') == NULL) {
		if (parse_duration_ms(s, &ms) != 0)
			die(EXIT_USAGE, "--since: expected a duration (30s, "
			    "10m, 2h) or a UTC time (2026-05-01T12:00:00Z), "
			    "got \"%s\"", s);
		return ms >= now ? 1 : now - ms;
	}
	if ((sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 &&
	    s[n] == '\0') || ((sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo,
	    &d, &h, &mi, &sec, &n) == 6) && (strcmp(s + n, "Z") == 0 ||
	    s[n] == '\0'))) {
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = sec;
		if (y >= 1970 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 &&
		    h <= 23 && mi <= 59 && sec <= 60 &&
		    (t = timegm(&tm)) != (time_t)-1 && t >= 0) {
			if ((uint64_t)t * 1000 > now)
				die(EXIT_USAGE, "--since: %s is in the future",
				    s);
			return (uint64_t)t * 1000;
		}
	}
	die(EXIT_USAGE, "--since: expected a duration (30s, 10m, 2h) or a "
	    "UTC time (2026-05-01T12:00:00Z), got \"%s\"", s);
}

/* event_cells writes one event's cells, every text escaped (text.c):
 * what ferryd recorded is escaped already, and escaping twice changes
 * nothing. */
static void
event_cells(const Ferry__Event *e, char when[32], char count[32])
{
	time_t t = (time_t)(e->at_ms / 1000);
	char sec[24];

	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", gmtime(&t));
	snprintf(when, 32, "%s.%03lluZ", sec,
	    (unsigned long long)(e->at_ms % 1000));
	count[0] = '\0';
	if (e->times > 1)
		snprintf(count, 32, " [x%llu]", (unsigned long long)e->times);
}

/* event_line prints one event as a line of its own (--follow: a stream,
 * not a table). */
static void
event_line(const Ferry__Event *e)
{
	char when[32], count[32], *actor, *kind, *host, *detail;

	event_cells(e, when, count);
	actor = text_escape_dup(e->actor);
	kind = text_escape_dup(e->kind);
	host = text_escape_dup(e->host);
	detail = text_escape_dup(e->detail);
	if (actor == NULL || kind == NULL || host == NULL || detail == NULL)
		die(1, "out of memory");
	printf("%-6llu %s %-4llu %-10s %-16s %-12s %s%s\n",
	    (unsigned long long)e->id, when,
	    (unsigned long long)e->deployment, actor, kind,
	    host[0] ? host : "-", detail, count);
	free(actor);
	free(kind);
	free(host);
	free(detail);
}

/* events_table starts the table of events. */
static struct table *
events_table(void)
{
	struct table *t = table_new();

	table_col(t, "ID", 0, TABLE_RIGHT);
	table_col(t, "TIME (UTC)", 0, 0);
	table_col(t, "DEPLOYMENT", 0, TABLE_RIGHT);
	table_col(t, "ACTOR", 0.1, TABLE_TRUNC);
	table_col(t, "KIND", 0, 0);
	table_col(t, "HOST", 0.1, 0);
	table_col(t, "DETAIL", 0.5, TABLE_WRAP);
	return t;
}

static void
event_row(struct table *t, const Ferry__Event *e)
{
	char when[32], count[32];

	event_cells(e, when, count);
	table_row(t);
	table_cell(t, "%llu", (unsigned long long)e->id);
	table_cell(t, "%s", when);
	if (e->deployment)
		table_cell(t, "%llu", (unsigned long long)e->deployment);
	else
		table_cell(t, "-");
	table_cell(t, "%s", e->actor);
	table_cell(t, "%s", e->kind);
	table_cell(t, "%s", e->host[0] ? e->host : "-");
	table_cell(t, "%s%s", e->detail, count);
}

static cJSON *
event_json(const Ferry__Event *e)
{
	cJSON *o = cJSON_CreateObject();
	const char *keys[] = { "actor", "kind", "host", "detail" };
	const char *vals[] = { e->actor, e->kind, e->host, e->detail };
	size_t i;

	cJSON_AddNumberToObject(o, "id", (double)e->id);
	cJSON_AddNumberToObject(o, "at_ms", (double)e->at_ms);
	cJSON_AddNumberToObject(o, "deployment", (double)e->deployment);
	for (i = 0; i < 4; i++) {
		char *v = text_escape_dup(vals[i]);

		if (v == NULL)
			die(1, "out of memory");
		cJSON_AddStringToObject(o, keys[i], v);
		free(v);
	}
	cJSON_AddNumberToObject(o, "count", (double)(e->times ? e->times : 1));
	return o;
}

static void
event_show(const Ferry__Event *e, int json, cJSON *all, struct table *t)
{
	if (!json && t != NULL) {
		event_row(t, e);
	} else if (!json) {
		event_line(e);
	} else if (all != NULL) {
		cJSON_AddItemToArray(all, event_json(e));
	} else {
		cJSON *o = event_json(e);
		char *s = cJSON_PrintUnformatted(o);

		puts(s);
		free(s);
		cJSON_Delete(o);
	}
}

int
cmd_events(int argc, char **argv)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__EventsRequest er = FERRY__EVENTS_REQUEST__INIT;
	Ferry__CtlReply *r;
	const char *dep, *lim, *before, *after, *since;
	int follow, json, oldest;
	cJSON *all = NULL;
	struct table *t = NULL;
	size_t i, n, limit = EVENTS_LIMIT_DEFAULT;

	cmd_usage = usage_events;
	if (flag(&argc, argv, "--help") || flag(&argc, argv, "-h")) {
		fputs(usage_events, stdout);
		return 0;
	}
	follow = flag(&argc, argv, "--follow");
	json = flag(&argc, argv, "--json");
	oldest = flag(&argc, argv, "--oldest-first");
	dep = flag_value(&argc, argv, "--deployment");
	lim = flag_value(&argc, argv, "--limit");
	before = flag_value(&argc, argv, "--before");
	after = flag_value(&argc, argv, "--after");
	since = flag_value(&argc, argv, "--since");
	er.kind = (char *)flag_value(&argc, argv, "--kind");
	er.host = (char *)flag_value(&argc, argv, "--host");
	unknown_flags(argc, argv, "events", NULL);
	if (argc != 0)
		die(EXIT_USAGE, "events: unexpected \"%s\"", argv[0]);
	if (er.kind != NULL && (er.kind[0] == '\0' || !text_is_clean(er.kind)))
		die(EXIT_USAGE, "--kind: expected an event kind (refused, "
		    "host-online, ...)");
	if (er.host != NULL && (er.host[0] == '\0' || !text_is_clean(er.host)))
		die(EXIT_USAGE, "--host: expected a host name");
	if (er.kind == NULL)
		er.kind = "";
	if (er.host == NULL)
		er.host = "";
	er.deployment = dep ? parse_id(dep, "--deployment") : 0;
	if (lim != NULL) {
		uint64_t v = parse_id(lim, "--limit");

		if (v > EVENTS_LIMIT_MAX)
			die(EXIT_USAGE, "--limit: at most %d, got %s",
			    EVENTS_LIMIT_MAX, lim);
		limit = (size_t)v;
	}
	/* One more than shown: whether there is a next page. */
	er.limit = (uint32_t)limit + 1;
	if (before != NULL) {
		if (follow)
			die(EXIT_USAGE, "--before and --follow do not go "
			    "together: --follow starts from the newest");
		er.before_id = parse_id(before, "--before");
	}
	er.after_id = after ? parse_id(after, "--after") : 0;
	er.since_ms = since ? parse_since(since) : 0;
	/* --follow: the newest page, then what comes, oldest first. */
	er.newest_first = !oldest;
	req.op_case = FERRY__CTL_REQUEST__OP_EVENTS;
	req.events = &er;
	if (json && !follow)
		all = cJSON_CreateArray();
	if (!json && !follow)
		t = events_table();
	r = call(&req, 10000);
	n = r->n_events < limit ? r->n_events : limit;
	for (i = 0; i < n; i++) {
		const Ferry__Event *e = r->events[follow && !oldest ?
		    n - 1 - i : i];

		event_show(e, json, all, t);
		if (e->id > er.after_id)
			er.after_id = e->id;
	}
	if (t != NULL)
		table_print(t, stdout);
	if (!follow && r->n_events > limit)
		fprintf(stderr, "ferry: more events: add --%s %llu\n",
		    oldest ? "after" : "before",
		    (unsigned long long)r->events[n - 1]->id);
	ferry__ctl_reply__free_unpacked(r, NULL);
	if (all != NULL)
		print_json(all);
	fflush(stdout);
	er.newest_first = 0;
	er.limit = 1000;
	while (follow) {
		usleep(WATCH_MS * 1000);
		r = call(&req, 10000);
		for (i = 0; i < r->n_events; i++) {
			event_show(r->events[i], json, NULL, NULL);
			er.after_id = r->events[i]->id;
		}
		ferry__ctl_reply__free_unpacked(r, NULL);
		fflush(stdout);
	}
	return 0;
}
