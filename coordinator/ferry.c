/* SPDX-License-Identifier: Apache-2.0 */
/* ferry.c: the operator's CLI; talks to ferryd over its local socket. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>

#include "clock.h"
#include "config.h"
#include "ferry.h"
#include "text.h"
#include "ferry.pb-c.h"
#include "keys.h"
#include "token.h"


#define DEFAULT_SOCKET	"/run/ferry/ferryd.sock"
#define REPLY_MAX	(16u * 1024u * 1024u)
#define SPEC_READ_MAX	(1024u * 1024u)
/* A swap answers when its health deadline has passed at the latest. */
#define SWAP_WAIT_MS	(30 * 60 * 1000)

static const char *socket_path;

static const char usage_main[] =
"usage: ferry [--socket PATH] COMMAND [ARGS]\n"
"\n"
"Commands:\n"
"  token create [--ttl 1h] [--label k=v ...] [--json]\n"
"                          a one-time join token\n"
"  hosts [--json]          the fleet: state, labels, drift, what runs,\n"
"                          traffic\n"
"  hosts accept NAME [--key FINGERPRINT]\n"
"                          admit a pending host (or, with --key, the key\n"
"                          that claims its name)\n"
"  hosts revoke NAME       shut a host out\n"
"  hosts label NAME k=v ...  set labels (k= removes k)\n"
"  hosts drain NAME        maintenance: deployments skip it, its proxy\n"
"                          takes no new connections\n"
"  hosts undrain NAME      back in service\n"
"  ping [HOST ...] [--timeout 5s] [--json]\n"
"                          signed round trip, with latency\n"
"  swap HOST SPEC.yml [--weight N [--keep-old]] [--json]\n"
"                          one swap on one host, outside any rollout\n"
"                          (--weight: N% of new traffic to it, beside\n"
"                          the old)\n"
"  swap HOST --rollback SERVICE [--json]\n"
"                          put back the revision the host keeps\n"
"  swap HOST --remove SERVICE [--json]\n"
"                          stop and remove the service on the host\n"
"  plan SPEC.yml [--image REF] [--skip-offline] [--json]\n"
"                          batches and changes; changes nothing\n"
"  deploy SPEC.yml [--image REF] [--skip-offline] [--watch] [--json]\n"
"                          a deployment: rolling, canary or blue-green,\n"
"                          as the spec says\n"
"  status [DEPLOYMENT] [--watch] [--json]\n"
"                          state, health, rollback target\n"
"  status SERVICE [--watch] [--json]\n"
"                          the service now: each host's health, drift\n"
"  pause|resume|abort DEPLOYMENT [--json]\n"
"                          hold, go on, stop a deployment\n"
"  promote DEPLOYMENT [--json]\n"
"                          skip a canary's steps left\n"
"  rollback SERVICE [--to REVISION] [--watch] [--json]\n"
"                          roll an earlier revision out\n"
"  history SERVICE [--json]  its deployments: when, who, what kind\n"
"  restart SERVICE [--watch] [--json]\n"
"                          recreate its containers, batch by batch,\n"
"                          health-gated\n"
"  stop|start SERVICE [--watch] [--json]\n"
"                          stop (kept) or start its containers\n"
"  remove SERVICE --yes [--watch] [--json]\n"
"                          its containers and routes go\n"
"  events [--limit N] [--before ID | --after ID] [--kind KIND]\n"
"         [--host HOST] [--deployment ID] [--since DURATION|TIME]\n"
"         [--oldest-first] [--follow] [--json]\n"
"                          the audit log\n"
"  logs SERVICE [--host HOST ...] [--since DURATION] [--tail N|all]\n"
"       [--follow] [--revision R] [--json]\n"
"                          its containers' lines on every host, each\n"
"                          prefixed by its host, in time order\n"
"  secret set SERVICE NAME [--file PATH]\n"
"                          a secret's new version, from stdin or a file\n"
"  secret list SERVICE [--json]\n"
"                          names, versions, when, by whom; never values\n"
"  secret rm SERVICE NAME  every version of a secret gone\n"
"  registry login HOST --username USER [--password-file PATH]\n"
"                          credentials hosts pull with\n"
"  registry logout HOST    forget them\n"
"  registry list [--json]  the registries with a login\n"
"  help [COMMAND]          this text, or COMMAND --help\n"
"\n"
"Every command takes --help (`ferry COMMAND --help` tells more); every\n"
"listing takes --json.  ferry finds ferryd through --socket, else\n"
"FERRY_SOCKET, else " DEFAULT_SOCKET ".\n"
"Exit status: 0 success, 1 the operation failed (deploy, status and\n"
"rollback: the deployment failed, was rolled back or aborted), 2 bad\n"
"arguments, 3 ferryd cannot be reached.\n";

static const char usage_token[] =
"usage: ferry token create [--ttl DURATION] [--label k=v ...] [--json]\n"
"\n"
"Prints a one-time join token on stdout.  It carries ferryd's address and\n"
"key fingerprint and expires after --ttl (default: ferryd's token_ttl,\n"
"1h).  Labels are given to the host that joins with it.  On stderr it\n"
"prints the command to run on the new host, as root, once the\n"
"ferry-agent package is installed, and paste the token into:\n"
"  ferry-agent join - [--name NAME]\n"
"which enrols the host and starts ferry-agent.service.\n";

static const char usage_hosts[] =
"usage: ferry hosts [--json]\n"
"       ferry hosts accept NAME [--key FINGERPRINT]\n"
"       ferry hosts revoke NAME\n"
"       ferry hosts label NAME k=v [k=v ...]\n"
"       ferry hosts drain|undrain NAME\n"
"\n"
"Without a subcommand, lists every host: name, state (pending, online,\n"
"offline, revoked), address, last seen, labels and the containers it\n"
"runs; DRIFT, where what a host runs differs from what it should (the\n"
"cause under it: offline during a deployment, another revision, removed,\n"
"stopped or exited, unhealthy since, an extra container; and what\n"
"catch-up does about it; --json: \"drift\"); and, under the table, any\n"
"other key that claims an enrolled\n"
"host's name: its fingerprint, the address it came from, when, and\n"
"whether a valid join token came with it (--json: new_key_fingerprint,\n"
"new_key_from, new_key_at_ms, new_key_with_token).\n"
"\n"
"accept NAME admits a host that asked to join without a token (ferryd's\n"
"allow_tokenless_joins); it never changes an enrolled host's key.\n"
"accept NAME --key FINGERPRINT replaces an enrolled host's key with the\n"
"key that claims its name, and only when FINGERPRINT is exactly that\n"
"key's; it first prints where the key came from.  Anyone who reaches\n"
"ferryd's agent port can claim a name: name a key only after checking on\n"
"the host itself that it is its key (`ferry-agent join` prints it).\n"
"revoke refuses the host from then on; label sets labels (k= removes\n"
"k).\n"
"\n"
"drain NAME puts a host under maintenance, recorded with who and when\n"
"until undrain NAME: deployments, restarts, starts and rollbacks skip it\n"
"and say so (\"skipped: drained\"); catch-up waits for it; and its\n"
"ferry-proxy stops taking new connections on every route (requests in\n"
"flight finish, connections kept alive are closed once idle, new ones are\n"
"refused, so a load balancer in front moves them to other hosts at once),\n"
"also across agent and proxy restarts.  A host away when drained is told\n"
"when it comes back.  undrain NAME restores both.  The STATE column says\n"
"\"drained\" (--json: drained_by, drained_at_ms).  A host whose agent speaks in cleartext (insecure_cleartext_link)\n"
"is named below the table (--json: \"link\").\n"
"\n"
"Below the table, TRAFFIC: per host, service and revision, what its\n"
"ferry-proxy counted in the last 60 s (request rate, error rate = the\n"
"requests that got a 5xx or a broken response over all, p95 latency,\n"
"requests), or why there are no counts (no proxy, or no proxy answer and\n"
"why).  --json has, per\n"
"host, \"proxy\" (state, error, version, uptime_ms, age_ms), \"traffic\":\n"
"every figure for the last 60 s and the last 5 minutes (window_ms), and\n"
"\"refusals\": per service, what the proxy refused or answered itself.\n";

static const char usage_ping[] =
"usage: ferry ping [HOST ...] [--timeout DURATION] [--json]\n"
"\n"
"Sends a signed Ping command to each host (default: every accepted host)\n"
"and prints the round-trip latency.  Exit status 1 when any host does not\n"
"answer.\n";

static const char usage_swap[] =
"usage: ferry swap HOST SPEC.yml [--weight N [--keep-old]] [--json]\n"
"       ferry swap HOST --rollback SERVICE [--json]\n"
"       ferry swap HOST --remove SERVICE [--json]\n"
"\n"
"Swaps the service of SPEC.yml on one host, outside any rollout: the host\n"
"pulls the image (the tag resolves to a digest), starts the new revision,\n"
"checks its health as the spec says and keeps the previous revision\n"
"stopped for a rollback.  --rollback puts that kept revision back;\n"
"--remove stops and removes every container of the service there.\n"
"--weight N (1..99) starts the new revision beside the one that runs\n"
"(health-gated) and has the host's ferry-proxy send it N% of new\n"
"requests (HTTP) or connections (TCP), the old one the rest; the same\n"
"SPEC.yml again with another --weight changes the split, and without\n"
"--weight (or with 100) completes the swap: the old one drains and\n"
"stops.  --keep-old keeps the other revision running whatever the\n"
"weight: --weight 0 (which implies it) starts the new revision beside\n"
"the old, health-gated, with no new traffic; --weight 100 --keep-old\n"
"sends it all new traffic and keeps the old one running, warm, for a\n"
"switch back (the old SPEC.yml with --weight 100 --keep-old, or without\n"
"--weight to stop the other).  A revision already running beside the\n"
"other only has its weights changed: nothing starts.\n"
"Needs ferry-proxy on the host and a host port.\n"
"Waits for the host's signed result and prints it.  Exit status 0 only\n"
"when the new revision runs and is healthy.\n";

const char *cmd_usage;

/* synopsis prints usage up to its first blank line: the "usage:" lines. */
static void
synopsis(const char *usage)
{
	const char *end = strstr(usage, "\n\n");

	fprintf(stderr, "%.*s", end ? (int)(end - usage + 1) :
	    (int)strlen(usage), usage);
}

static void __attribute__((format(printf, 2, 0), noreturn))
vdie(int status, const char *fmt, va_list ap)
{
	fputs("ferry: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	if (status == EXIT_USAGE && cmd_usage != NULL) {
		synopsis(cmd_usage);
		fputs("(--help tells more)\n", stderr);
	} else if (status == EXIT_USAGE) {
		fputs("(see ferry --help)\n", stderr);
	}
	exit(status);
}

void
die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdie(status, fmt, ap);
}

void
usage_die(const char *usage, const char *fmt, ...)
{
	va_list ap;

	if (usage != NULL)
		cmd_usage = usage;
	va_start(ap, fmt);
	vdie(EXIT_USAGE, fmt, ap);
}

void
unknown_flags(int argc, char **argv, const char *cmd, const char *usage)
{
	int i;

	for (i = 0; i < argc; i++)
		if (argv[i][0] == '-' && argv[i][1] != '\0')
			usage_die(usage, "%s: unknown flag \"%s\"", cmd,
			    argv[i]);
}

/* call sends req to ferryd and returns its reply; dies when ferryd cannot
 * be reached or answers with an error. */
Ferry__CtlReply *
call(const Ferry__CtlRequest *req, nng_duration timeout)
{
	nng_socket s;
	char url[600];
	uint8_t *buf;
	size_t n;
	void *rbuf = NULL;
	size_t rlen = 0;
	Ferry__CtlReply *r;
	int rv;

	snprintf(url, sizeof(url), "ipc://%s", socket_path);
	if ((rv = nng_req0_open(&s)) != 0)
		die(EXIT_FAIL, "%s", nng_strerror(rv));
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 5000);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, REPLY_MAX);
	if ((rv = nng_dial(s, url, NULL, 0)) == NNG_EPERM)
		die(EXIT_NOFERRYD, "not allowed to use ferryd's socket %s: "
		    "only root, ferryd's user and the members of ferryd's "
		    "operators group (ferry-operators unless ferryd.conf "
		    "names another) may", socket_path);
	if (rv != 0)
		die(EXIT_NOFERRYD, "cannot reach ferryd at %s: %s (is ferryd "
		    "running? set --socket or FERRY_SOCKET)", socket_path,
		    nng_strerror(rv));
	n = ferry__ctl_request__get_packed_size(req);
	buf = malloc(n + 1);
	if (buf == NULL)
		die(EXIT_FAIL, "out of memory");
	ferry__ctl_request__pack(req, buf);
	if ((rv = nng_send(s, buf, n, 0)) != 0)
		die(EXIT_NOFERRYD, "sending to ferryd: %s", nng_strerror(rv));
	free(buf);
	if ((rv = nng_recv(s, &rbuf, &rlen, NNG_FLAG_ALLOC)) != 0)
		die(EXIT_NOFERRYD, "no answer from ferryd: %s",
		    nng_strerror(rv));
	r = ferry__ctl_reply__unpack(NULL, rlen, rbuf);
	nng_free(rbuf, rlen);
	nng_close(s);
	if (r == NULL)
		die(EXIT_FAIL, "malformed answer from ferryd");
	if (!r->ok)	/* unconfirmed (ferry remove without --yes): exit 2 */
		die(r->needs_confirmation ? EXIT_USAGE : EXIT_FAIL, "%s",
		    r->error && r->error[0] ? r->error :
		    "ferryd refused the request");
	return r;
}

static int
has_flag(int argc, char **argv, const char *flag)
{
	int i;

	for (i = 0; i < argc; i++)
		if (strcmp(argv[i], flag) == 0)
			return 1;
	return 0;
}

/* parse_label splits "k=v" into a Ferry__Label (pointing into s). */
static Ferry__Label *
parse_label(char *s, int allow_empty)
{
	Ferry__Label *l = malloc(sizeof(*l));
	char *eq = strchr(s, '=');

	if (l == NULL)
		die(EXIT_FAIL, "out of memory");
	if (eq == NULL || eq == s || (!allow_empty && eq[1] == '\0'))
		die(EXIT_USAGE, "bad label \"%s\": expected key=value", s);
	*eq = '\0';
	ferry__label__init(l);
	l->key = s;
	l->value = eq + 1;
	return l;
}

static uint64_t
parse_duration_flag(const char *flag, const char *v)
{
	uint64_t ms;

	if (v == NULL || parse_duration_ms(v, &ms) != 0)
		die(EXIT_USAGE, "%s: expected a duration such as 30s, 10m or "
		    "1h, got \"%s\"", flag, v ? v : "");
	return ms;
}

void
print_json(cJSON *j)
{
	char *s = cJSON_Print(j);

	if (s == NULL)
		die(EXIT_FAIL, "out of memory");
	puts(s);
	free(s);
	cJSON_Delete(j);
}

static int
cmd_token(int argc, char **argv)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__TokenCreate tc = FERRY__TOKEN_CREATE__INIT;
	Ferry__Label *labels[64];
	Ferry__CtlReply *r;
	int i, json = 0;
	char when[64];
	time_t t;

	cmd_usage = usage_token;
	if (has_flag(argc, argv, "--help") || has_flag(argc, argv, "-h")) {
		fputs(usage_token, stdout);
		return 0;
	}
	if (argc < 1)
		die(EXIT_USAGE, "token: expected a subcommand (create)");
	if (argv[0][0] == '-')
		die(EXIT_USAGE, "token: unknown flag \"%s\" (the subcommand, "
		    "create, comes first)", argv[0]);
	if (strcmp(argv[0], "create") != 0)
		die(EXIT_USAGE, "token: unknown subcommand \"%s\" (expected "
		    "create)", argv[0]);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ttl") == 0) {
			uint64_t ms = parse_duration_flag("--ttl",
			    i + 1 < argc ? argv[++i] : NULL);
			if (ms < 1000)
				die(EXIT_USAGE, "--ttl: at least 1s");
			tc.ttl_s = ms / 1000;
		} else if (strcmp(argv[i], "--label") == 0) {
			if (i + 1 >= argc)
				die(EXIT_USAGE, "--label needs k=v");
			if (tc.n_labels == 64)
				die(EXIT_USAGE, "too many labels");
			labels[tc.n_labels++] = parse_label(argv[++i], 0);
		} else if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (argv[i][0] == '-') {
			die(EXIT_USAGE, "token create: unknown flag \"%s\"",
			    argv[i]);
		} else {
			die(EXIT_USAGE, "token create: unexpected \"%s\"",
			    argv[i]);
		}
	}
	tc.labels = labels;
	req.op_case = FERRY__CTL_REQUEST__OP_TOKEN_CREATE;
	req.token_create = &tc;
	r = call(&req, 10000);
	t = (time_t)(r->token_expires_at_ms / 1000);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
	if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "token", r->token);
		cJSON_AddNumberToObject(j, "expires_at_ms",
		    (double)r->token_expires_at_ms);
		print_json(j);
	} else {
		struct join_token jt;
		char addr[sizeof(jt.address)] = "";

		if (token_decode(r->token, &jt) == 0)
			snprintf(addr, sizeof(addr), "%s", jt.address);
		sodium_memzero(&jt, sizeof(jt));
		puts(r->token);
		fflush(stdout);
		fprintf(stderr, "One-time join token, valid until %s.  On the "
		    "new host, with the\nferry-agent package installed, run "
		    "as root:\n\n  ferry-agent join -\n\nand paste the token "
		    "(read from standard input, it shows in neither\n`ps` nor "
		    "the shell's history; --token-file FILE works too).  It "
		    "enrols the\nhost and starts ferry-agent.service; the "
		    "host must reach ferryd at\n%s (ferryd's advertise "
		    "setting).\n", when, addr[0] ? addr : "the address in "
		    "the token");
	}
	for (i = 0; i < (int)tc.n_labels; i++)
		free(labels[i]);
	sodium_memzero(r->token, strlen(r->token));
	ferry__ctl_reply__free_unpacked(r, NULL);
	return 0;
}

void
ago(uint64_t ms, char *buf, size_t len)
{
	uint64_t now = clock_wall_ms(), d;

	if (ms == 0) {
		snprintf(buf, len, "never");
		return;
	}
	d = now > ms ? (now - ms) / 1000 : 0;
	if (d < 120)
		snprintf(buf, len, "%llus ago", (unsigned long long)d);
	else if (d < 7200)
		snprintf(buf, len, "%llum ago", (unsigned long long)d / 60);
	else if (d < 2 * 86400)
		snprintf(buf, len, "%lluh ago", (unsigned long long)d / 3600);
	else
		snprintf(buf, len, "%llud ago", (unsigned long long)d / 86400);
}

void
lifecycle_line(const Ferry__ServiceStatus *ss)
{
	int stopped = strcmp(ss->lifecycle, "stopped") == 0;
	char when[32];

	if (ss->lifecycle[0] == '\0')
		return;
	ago(ss->lifecycle_at_ms, when, sizeof(when));
	printf("%s was %s by %s %s: %s%s%s\n", shown(ss->service),
	    shown(ss->lifecycle), shown(ss->lifecycle_by), when, stopped ?
	    "its containers are kept; `ferry start " : "`ferry deploy` "
	    "starts it afresh", stopped ? shown(ss->service) : "", stopped ?
	    "` starts them" : "");
}

/* ---- ferry-proxy's counts ---------------------------------------------- */

static void
add_ms(cJSON *o, const char *name, double ms)
{
	if (ms < 0)
		cJSON_AddNullToObject(o, name);
	else
		cJSON_AddNumberToObject(o, name, ms);
}

cJSON *
traffic_json(const Ferry__TrafficFigures *f)
{
	static const char *const cls[] = { "1xx", "2xx", "3xx", "4xx",
	    "5xx" };
	cJSON *o = cJSON_CreateObject(), *c;
	size_t k;

	cJSON_AddStringToObject(o, "service", f->service);
	cJSON_AddNumberToObject(o, "revision", (double)f->revision);
	if (f->host[0] != '\0')
		cJSON_AddStringToObject(o, "host", f->host);
	cJSON_AddNumberToObject(o, "hosts", f->hosts);
	cJSON_AddNumberToObject(o, "window_ms", (double)f->window_ms);
	cJSON_AddNumberToObject(o, "span_ms", (double)f->span_ms);
	cJSON_AddNumberToObject(o, "requests", (double)f->requests);
	c = cJSON_AddObjectToObject(o, "responses");
	for (k = 0; k < 5; k++)
		cJSON_AddNumberToObject(c, cls[k], k < f->n_status_class ?
		    (double)f->status_class[k] : 0);
	c = cJSON_AddObjectToObject(o, "upstream_failures");
	cJSON_AddNumberToObject(c, "refused", (double)f->failed_refused);
	cJSON_AddNumberToObject(c, "reset", (double)f->failed_reset);
	cJSON_AddNumberToObject(c, "timeout", (double)f->failed_timeout);
	cJSON_AddNumberToObject(c, "unanswered",
	    (double)f->failed_unanswered);
	cJSON_AddNumberToObject(o, "rate", f->rate);
	cJSON_AddNumberToObject(o, "error_rate", f->error_rate);
	add_ms(o, "p50_ms", f->p50_ms);
	add_ms(o, "p95_ms", f->p95_ms);
	add_ms(o, "p99_ms", f->p99_ms);
	cJSON_AddNumberToObject(o, "active", (double)f->active);
	return o;
}

static cJSON *
refusals_json(const Ferry__RefusalFigures *f)
{
	const Ferry__ServiceRefusals *c = f->counts;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "service", f->service);
	cJSON_AddNumberToObject(o, "window_ms", (double)f->window_ms);
#define N(name) cJSON_AddNumberToObject(o, #name, c ? (double)c->name : 0)
	N(no_target);
	N(held_expired);
	N(bad_request);
	N(header_timeout);
	N(body_too_large);
	N(header_too_large);
	N(client_aborted);
	N(drain_closed);
#undef N
	return o;
}

cJSON *
proxy_json(const Ferry__ProxyState *p)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "state", p ? p->state : "unheard");
	cJSON_AddStringToObject(o, "error", p ? p->error : "");
	cJSON_AddStringToObject(o, "version", p ? p->version : "");
	cJSON_AddNumberToObject(o, "uptime_ms", p ? (double)p->uptime_ms : 0);
	cJSON_AddNumberToObject(o, "age_ms", p ? (double)p->age_ms : 0);
	return o;
}

const char *
proxy_said(const Ferry__ProxyState *p, char *buf, size_t len)
{
	if (p == NULL || strcmp(p->state, "unheard") == 0)
		snprintf(buf, len, "not heard from yet");
	else if (strcmp(p->state, "none") == 0)
		snprintf(buf, len, "no proxy (its agent has no "
		    "proxy_control)");
	else if (strcmp(p->state, "unanswered") == 0)
		snprintf(buf, len, "no proxy answer: %s", shown(p->error));
	else
		return NULL;
	return buf;
}

const char *
traffic_text(const Ferry__TrafficFigures *f, char *buf, size_t len)
{
	char p95[32];

	if (f->p95_ms < 0)
		snprintf(p95, sizeof(p95), "-");
	else if (f->p95_ms < 10)
		snprintf(p95, sizeof(p95), "%.2f ms", f->p95_ms);
	else
		snprintf(p95, sizeof(p95), "%.0f ms", f->p95_ms);
	snprintf(buf, len, "%.1f req/s, errors %.2f%%, p95 %s",
	    f->rate, f->error_rate * 100.0, p95);
	return buf;
}

/* refusals_line says, under the traffic table, what a host's proxy
 * refused or answered by itself in the last minute, when anything. */
static void
refusals_line(const char *host, const Ferry__RefusalFigures *f)
{
	const Ferry__ServiceRefusals *c = f->counts;
	const struct {
		uint64_t n;
		const char *what;
	} k[] = {
		{ c ? c->no_target : 0, "no target (503)" },
		{ c ? c->held_expired : 0, "held too long (503)" },
		{ c ? c->bad_request : 0, "bad request (400)" },
		{ c ? c->header_timeout : 0, "header timeout (408)" },
		{ c ? c->body_too_large : 0, "body too large (413)" },
		{ c ? c->header_too_large : 0, "header too large (431)" },
		{ c ? c->client_aborted : 0, "client left" },
		{ c ? c->drain_closed : 0, "closed at drain timeout" },
	};
	char line[512];
	size_t i, off = 0;

	if (f->window_ms != 60000)
		return;
	for (i = 0; i < sizeof(k) / sizeof(k[0]) && off < sizeof(line); i++)
		if (k[i].n > 0)
			off += (size_t)snprintf(line + off, sizeof(line) - off,
			    "%s%llu %s", off ? ", " : "",
			    (unsigned long long)k[i].n, k[i].what);
	if (off > 0)
		printf("%s %s: refused: %s\n", shown(host), shown(f->service),
		    line);
}

/* hosts_traffic_table prints, under the hosts, a table of what each
 * host's ferry-proxy counted per service and revision in the last 60 s;
 * then, a line each, the hosts without counts (and why) and what the
 * proxies refused. */
static void
hosts_traffic_table(const Ferry__CtlReply *r)
{
	struct table *t;
	size_t i, j;
	char said[512], p95[32];
	int any = 0, rows = 0;

	for (i = 0; i < r->n_hosts; i++)
		any |= r->hosts[i]->n_traffic > 0 || (r->hosts[i]->proxy &&
		    strcmp(r->hosts[i]->proxy->state, "unanswered") == 0);
	if (!any)
		return;
	printf("\nTRAFFIC (ferry-proxy, last 60 s)\n");
	t = table_new();
	table_col(t, "HOST", 0.2, 0);
	table_col(t, "SERVICE", 0.2, 0);
	table_col(t, "REV", 0, TABLE_RIGHT);
	table_col(t, "REQ/S", 0, TABLE_RIGHT);
	table_col(t, "ERRORS", 0, TABLE_RIGHT);
	table_col(t, "P95", 0, TABLE_RIGHT);
	table_col(t, "REQUESTS", 0, TABLE_RIGHT);
	for (i = 0; i < r->n_hosts; i++) {
		const Ferry__HostInfo *h = r->hosts[i];

		for (j = 0; j < h->n_traffic; j++) {
			const Ferry__TrafficFigures *f = h->traffic[j];

			if (f->window_ms != 60000 ||
			    proxy_said(h->proxy, said, sizeof(said)) != NULL)
				continue;
			if (f->p95_ms < 0)
				snprintf(p95, sizeof(p95), "-");
			else
				snprintf(p95, sizeof(p95), f->p95_ms < 10 ?
				    "%.2f ms" : "%.0f ms", f->p95_ms);
			table_row(t);
			table_cell(t, "%s", h->name);
			table_cell(t, "%s", f->service);
			table_cell(t, "%llu", (unsigned long long)f->revision);
			table_cell(t, "%.1f", f->rate);
			table_cell(t, "%.2f%%", f->error_rate * 100.0);
			table_cell(t, "%s", p95);
			table_cell(t, "%llu", (unsigned long long)f->requests);
			rows++;
		}
	}
	if (rows > 0)
		table_print(t, stdout);
	else
		table_free(t);
	for (i = 0; i < r->n_hosts; i++) {
		const Ferry__HostInfo *h = r->hosts[i];

		if (strcmp(h->state, "pending") == 0 ||
		    strcmp(h->state, "revoked") == 0)
			continue;
		if (proxy_said(h->proxy, said, sizeof(said)) != NULL) {
			printf("%s: %s\n", shown(h->name), said);
			continue;
		}
		if (h->n_traffic == 0)
			printf("%s: nothing counted yet\n", shown(h->name));
		for (j = 0; j < h->n_refusals; j++)
			refusals_line(h->name, h->refusals[j]);
	}
}

cJSON *
container_json(const Ferry__Container *c)
{
	cJSON *co = cJSON_CreateObject();

	cJSON_AddStringToObject(co, "id", c->id);
	cJSON_AddStringToObject(co, "name", c->name);
	cJSON_AddStringToObject(co, "image", c->image);
	cJSON_AddStringToObject(co, "service", c->service);
	cJSON_AddStringToObject(co, "revision", c->revision);
	cJSON_AddStringToObject(co, "state", c->state);
	cJSON_AddStringToObject(co, "digest", c->digest);
	cJSON_AddStringToObject(co, "health", c->health);
	cJSON_AddStringToObject(co, "deployment", c->deployment);
	if (c->exited)
		cJSON_AddNumberToObject(co, "exit_code", c->exit_code);
	else
		cJSON_AddNullToObject(co, "exit_code");
	return co;
}

cJSON *
drift_json(const Ferry__DriftInfo *d)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "service", d->service);
	cJSON_AddStringToObject(o, "host", d->host);
	cJSON_AddStringToObject(o, "cause", d->cause);
	cJSON_AddStringToObject(o, "detail", d->detail);
	cJSON_AddNumberToObject(o, "runs_revision", (double)d->runs_revision);
	cJSON_AddNumberToObject(o, "revision", (double)d->revision);
	cJSON_AddStringToObject(o, "catch_up", d->catch_up);
	return o;
}

static void
hosts_json(const Ferry__CtlReply *r)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i, j;

	for (i = 0; i < r->n_hosts; i++) {
		const Ferry__HostInfo *h = r->hosts[i];
		cJSON *o = cJSON_CreateObject(), *labels, *cs;
		char fpr[KEY_FPR_STRLEN] = "";

		cJSON_AddStringToObject(o, "name", h->name);
		cJSON_AddStringToObject(o, "state", h->state);
		cJSON_AddBoolToObject(o, "drained", h->drained_by != NULL &&
		    h->drained_by[0] != '\0');
		cJSON_AddStringToObject(o, "drained_by", h->drained_by ?
		    h->drained_by : "");
		cJSON_AddNumberToObject(o, "drained_at_ms",
		    (double)h->drained_at_ms);
		cJSON_AddStringToObject(o, "address", h->address);
		cJSON_AddNumberToObject(o, "last_seen_ms",
		    (double)h->last_seen_ms);
		if (h->fingerprint.len == KEY_FPR_LEN)
			keys_fingerprint_str(h->fingerprint.data, fpr);
		cJSON_AddStringToObject(o, "fingerprint", fpr);
		fpr[0] = '\0';
		if (h->new_fingerprint.len == KEY_FPR_LEN)
			keys_fingerprint_str(h->new_fingerprint.data, fpr);
		cJSON_AddStringToObject(o, "new_key_fingerprint", fpr);
		cJSON_AddStringToObject(o, "new_key_from", h->new_key_from ?
		    h->new_key_from : "");
		cJSON_AddNumberToObject(o, "new_key_at_ms",
		    (double)h->new_key_at_ms);
		cJSON_AddBoolToObject(o, "new_key_with_token",
		    h->new_key_token);
		labels = cJSON_AddObjectToObject(o, "labels");
		for (j = 0; j < h->n_labels; j++)
			cJSON_AddStringToObject(labels, h->labels[j]->key,
			    h->labels[j]->value);
		cJSON_AddBoolToObject(o, "docker_ok", h->docker_ok);
		cJSON_AddStringToObject(o, "docker_error", h->docker_error);
		cJSON_AddNumberToObject(o, "last_sequence",
		    (double)h->last_sequence);
		cJSON_AddStringToObject(o, "agent_version", h->agent_version);
		cJSON_AddStringToObject(o, "link", h->link);
		cJSON_AddItemToObject(o, "proxy", proxy_json(h->proxy));
		cs = cJSON_AddArrayToObject(o, "traffic");
		for (j = 0; j < h->n_traffic; j++)
			cJSON_AddItemToArray(cs, traffic_json(h->traffic[j]));
		cs = cJSON_AddArrayToObject(o, "refusals");
		for (j = 0; j < h->n_refusals; j++)
			cJSON_AddItemToArray(cs, refusals_json(h->refusals[j]));
		cs = cJSON_AddArrayToObject(o, "containers");
		for (j = 0; j < h->n_containers; j++)
			cJSON_AddItemToArray(cs, container_json(
			    h->containers[j]));
		cJSON_AddBoolToObject(o, "drifted", h->n_drift > 0);
		cs = cJSON_AddArrayToObject(o, "drift");
		for (j = 0; j < h->n_drift; j++)
			cJSON_AddItemToArray(cs, drift_json(h->drift[j]));
		cJSON_AddItemToArray(arr, o);
	}
	print_json(arr);
}

const char *
shown(const char *s)
{
	static char bufs[8][4096];
	static unsigned next;
	char *b = bufs[next++ % 8];

	text_escape(b, sizeof(bufs[0]), s ? s : "");
	return b;
}

/* claim_print says which key claims an enrolled host's name, from where
 * and when: what the operator checks on the host before naming the key. */
static void
claim_print(const Ferry__HostInfo *h, const char *fpr)
{
	char oldfpr[KEY_FPR_STRLEN] = "?", when[32];

	if (h->fingerprint.len == KEY_FPR_LEN)
		keys_fingerprint_str(h->fingerprint.data, oldfpr);
	ago(h->new_key_at_ms, when, sizeof(when));
	printf("\n%s: another key claims this name; the host keeps its "
	    "enrolled key %s.\n  claiming key: %s\n  from:         %s, %s, "
	    "%s\n", h->name, oldfpr, fpr, h->new_key_from &&
	    h->new_key_from[0] ? h->new_key_from : "(address not recorded)",
	    when, h->new_key_token ? "with a valid join token" :
	    "without a token");
	printf("  Nothing changes unless an operator names the claiming key "
	    "(`ferry hosts accept %s --key FINGERPRINT`); do so only after "
	    "checking on %s itself that it is its new key.\n", h->name,
	    h->name);
}

/* hosts_drift_lines says, below the table, why each drifted host drifted,
 * service by service, and what catch-up does about it. */
static void
hosts_drift_lines(const Ferry__CtlReply *r)
{
	size_t i, j, k = 0;

	for (i = 0; i < r->n_hosts; i++)
		for (j = 0; j < r->hosts[i]->n_drift; j++) {
			const Ferry__DriftInfo *d = r->hosts[i]->drift[j];

			if (k++ == 0)
				printf("\nDRIFT (what runs against what "
				    "should):\n");
			printf("  %s: %s: %s\n", shown(r->hosts[i]->name),
			    shown(d->service), shown(d->detail));
			if (d->catch_up[0])
				printf("    catch-up: %s\n",
				    shown(d->catch_up));
		}
}

static void
hosts_table(const Ferry__CtlReply *r)
{
	struct table *t;
	size_t i, j;

	if (r->n_hosts == 0) {
		printf("no hosts yet: `ferry token create`, then `ferry-agent "
		    "join TOKEN` on a host\n");
		return;
	}
	t = table_new();
	table_col(t, "NAME", 0.15, 0);
	table_col(t, "STATE", 0, 0);
	table_col(t, "ADDRESS", 0, 0);
	table_col(t, "LAST SEEN", 0, 0);
	table_col(t, "LABELS", 0.2, TABLE_TRUNC);
	table_col(t, "DRIFT", 0, 0);
	table_col(t, "RUNS", 0.4, TABLE_WRAP);
	for (i = 0; i < r->n_hosts; i++) {
		const Ferry__HostInfo *h = r->hosts[i];
		char seen[32], labels[512] = "", runs[1024] = "", state[64];
		size_t off = 0;

		ago(h->last_seen_ms, seen, sizeof(seen));
		for (j = 0; j < h->n_labels && off < sizeof(labels); j++)
			off += (size_t)snprintf(labels + off,
			    sizeof(labels) - off, "%s%s=%s", j ? "," : "",
			    h->labels[j]->key, h->labels[j]->value);
		off = 0;
		if (!h->docker_ok && h->docker_error && h->docker_error[0])
			snprintf(runs, sizeof(runs), "(docker unreachable: "
			    "%s)", h->docker_error);
		for (j = 0; j < h->n_containers && off < sizeof(runs); j++) {
			const Ferry__Container *c = h->containers[j];
			const char *dg = c->digest ? strstr(c->digest,
			    "@sha256:") : NULL;
			off += (size_t)snprintf(runs + off, sizeof(runs) - off,
			    "%s%s r%s %s%s%s%s%.19s", j ? ", " : "",
			    c->service, c->revision, c->state,
			    c->health && c->health[0] ? " " : "",
			    c->health ? c->health : "", dg ? " " : "",
			    dg ? dg + 1 : "");
		}
		/* "online,drained": a drained host says so where its state
		 * is shown. */
		snprintf(state, sizeof(state), "%s%s", h->state,
		    h->drained_by && h->drained_by[0] ? ",drained" : "");
		table_row(t);
		table_cell(t, "%s", h->name);
		table_cell(t, "%s", state);
		table_cell(t, "%s", h->address[0] ? h->address : "-");
		table_cell(t, "%s", seen);
		table_cell(t, "%s", labels[0] ? labels : "-");
		table_cell(t, "%s", h->n_drift == 0 ? "-" : h->n_drift == 1 ?
		    h->drift[0]->cause : "several");
		table_cell(t, "%s", runs[0] ? runs : "-");
	}
	table_print(t, stdout);
	hosts_drift_lines(r);
	hosts_traffic_table(r);
	for (i = 0; i < r->n_hosts; i++)
		if (r->hosts[i]->drained_by && r->hosts[i]->drained_by[0]) {
			char when[32];

			ago(r->hosts[i]->drained_at_ms, when, sizeof(when));
			printf("\n%s was drained by %s %s: deployments skip "
			    "it and its proxy takes no new connections; "
			    "`ferry hosts undrain %s` brings it back\n",
			    shown(r->hosts[i]->name),
			    shown(r->hosts[i]->drained_by), when,
			    shown(r->hosts[i]->name));
		}
	/* Services stopped on purpose: their containers show stopped in
	 * RUNS; who did it, and when. */
	for (i = 0; i < r->n_stopped; i++) {
		putchar('\n');
		lifecycle_line(r->stopped[i]);
	}
	for (i = 0; i < r->n_hosts; i++)
		if (strcmp(r->hosts[i]->link, "cleartext") == 0)
			printf("\n%s speaks in cleartext (insecure_cleartext_link)"
			    ": anyone on its path reads and can alter its link\n",
			    r->hosts[i]->name);
	for (i = 0; i < r->n_hosts; i++) {
		const Ferry__HostInfo *h = r->hosts[i];
		char fpr[KEY_FPR_STRLEN];

		if (h->new_fingerprint.len != KEY_FPR_LEN)
			continue;
		keys_fingerprint_str(h->new_fingerprint.data, fpr);
		claim_print(h, fpr);
	}
}

/* accept_show_claim prints, before a key is taken, where the named key
 * came from, as ferryd recorded it. */
static void
accept_show_claim(const char *name, const char *key)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__HostsList hl = FERRY__HOSTS_LIST__INIT;
	Ferry__CtlReply *r;
	char fpr[KEY_FPR_STRLEN];
	size_t i;

	req.op_case = FERRY__CTL_REQUEST__OP_HOSTS_LIST;
	req.hosts_list = &hl;
	r = call(&req, 10000);
	for (i = 0; i < r->n_hosts; i++) {
		const Ferry__HostInfo *h = r->hosts[i];

		if (strcmp(h->name, name) != 0 ||
		    h->new_fingerprint.len != KEY_FPR_LEN)
			continue;
		keys_fingerprint_str(h->new_fingerprint.data, fpr);
		if (strcmp(fpr, key) == 0)
			claim_print(h, fpr);
	}
	ferry__ctl_reply__free_unpacked(r, NULL);
}

static int
cmd_hosts(int argc, char **argv)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__HostsList hl = FERRY__HOSTS_LIST__INIT;
	Ferry__HostName hn = FERRY__HOST_NAME__INIT;
	Ferry__HostLabel lab = FERRY__HOST_LABEL__INIT;
	Ferry__Label *labels[64];
	Ferry__CtlReply *r;
	int i, json = 0;

	cmd_usage = usage_hosts;
	if (has_flag(argc, argv, "--help") || has_flag(argc, argv, "-h")) {
		fputs(usage_hosts, stdout);
		return 0;
	}
	if (argc == 0 || argv[0][0] == '-') {
		for (i = 0; i < argc; i++)
			if (strcmp(argv[i], "--json") == 0)
				json = 1;
			else if (argv[i][0] == '-')
				die(EXIT_USAGE, "hosts: unknown flag \"%s\"",
				    argv[i]);
			else
				die(EXIT_USAGE, "hosts: unexpected \"%s\" (a "
				    "subcommand comes first)", argv[i]);
		req.op_case = FERRY__CTL_REQUEST__OP_HOSTS_LIST;
		req.hosts_list = &hl;
		r = call(&req, 10000);
		if (json)
			hosts_json(r);
		else
			hosts_table(r);
		ferry__ctl_reply__free_unpacked(r, NULL);
		return 0;
	}
	if (strcmp(argv[0], "accept") == 0 || strcmp(argv[0], "revoke") == 0) {
		const char *name = NULL;

		for (i = 1; i < argc; i++)
			if (argv[0][0] == 'a' && strcmp(argv[i], "--key") ==
			    0) {
				if (i + 1 >= argc)
					die(EXIT_USAGE, "hosts accept: --key "
					    "needs a FINGERPRINT");
				hn.key = argv[++i];
			} else if (argv[i][0] == '-') {
				die(EXIT_USAGE, "hosts %s: unknown flag "
				    "\"%s\"", argv[0], argv[i]);
			} else if (name == NULL) {
				name = argv[i];
			} else {
				die(EXIT_USAGE, "hosts %s: unexpected \"%s\" "
				    "(one host NAME)", argv[0], argv[i]);
			}
		if (name == NULL)
			die(EXIT_USAGE, "hosts %s: expected a host NAME",
			    argv[0]);
		hn.name = (char *)name;
		if (hn.key != NULL)
			accept_show_claim(hn.name, hn.key);
		if (argv[0][0] == 'a') {
			req.op_case = FERRY__CTL_REQUEST__OP_HOST_ACCEPT;
			req.host_accept = &hn;
		} else {
			req.op_case = FERRY__CTL_REQUEST__OP_HOST_REVOKE;
			req.host_revoke = &hn;
		}
		r = call(&req, 10000);
		if (hn.key != NULL)
			printf("host %s: key %s accepted; it replaces the "
			    "host's key\n", name, hn.key);
		else
			printf("host %s %s\n", name, argv[0][0] == 'a' ?
			    "accepted" : "revoked");
		ferry__ctl_reply__free_unpacked(r, NULL);
		return 0;
	}
	if (strcmp(argv[0], "drain") == 0 || strcmp(argv[0], "undrain") == 0) {
		unknown_flags(argc - 1, argv + 1, argv[0][0] == 'd' ?
		    "hosts drain" : "hosts undrain", NULL);
		if (argc != 2)
			die(EXIT_USAGE, argc < 2 ? "hosts %s: expected a host "
			    "NAME" : "hosts %s: one NAME, not more", argv[0]);
		hn.name = argv[1];
		if (argv[0][0] == 'd') {
			req.op_case = FERRY__CTL_REQUEST__OP_HOST_DRAIN;
			req.host_drain = &hn;
		} else {
			req.op_case = FERRY__CTL_REQUEST__OP_HOST_UNDRAIN;
			req.host_undrain = &hn;
		}
		r = call(&req, 10000);
		printf("host %s %s\n", argv[1], argv[0][0] == 'd' ?
		    "drained: deployments skip it and its proxy takes no new "
		    "connections" : "undrained: deployments include it and "
		    "its proxy takes new connections again");
		ferry__ctl_reply__free_unpacked(r, NULL);
		return 0;
	}
	if (strcmp(argv[0], "label") == 0) {
		unknown_flags(argc - 1, argv + 1, "hosts label", NULL);
		if (argc < 3)
			die(EXIT_USAGE, "hosts label: expected a host NAME and "
			    "k=v ...");
		if (argc - 2 > 64)
			die(EXIT_USAGE, "too many labels");
		lab.name = argv[1];
		for (i = 2; i < argc; i++)
			labels[lab.n_labels++] = parse_label(argv[i], 1);
		lab.labels = labels;
		req.op_case = FERRY__CTL_REQUEST__OP_HOST_LABEL;
		req.host_label = &lab;
		r = call(&req, 10000);
		printf("host %s labelled\n", argv[1]);
		for (i = 0; i < (int)lab.n_labels; i++)
			free(labels[i]);
		ferry__ctl_reply__free_unpacked(r, NULL);
		return 0;
	}
	die(EXIT_USAGE, "hosts: unknown subcommand \"%s\" (see ferry hosts "
	    "--help)", argv[0]);
}

static int
cmd_ping(int argc, char **argv)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__PingHosts ph = FERRY__PING_HOSTS__INIT;
	Ferry__CtlReply *r;
	char **hosts;
	uint64_t timeout = 5000;
	int i, json = 0, failed = 0;
	size_t k;

	cmd_usage = usage_ping;
	if (has_flag(argc, argv, "--help") || has_flag(argc, argv, "-h")) {
		fputs(usage_ping, stdout);
		return 0;
	}
	hosts = calloc((size_t)argc + 1, sizeof(*hosts));
	if (hosts == NULL)
		die(EXIT_FAIL, "out of memory");
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--timeout") == 0) {
			timeout = parse_duration_flag("--timeout",
			    i + 1 < argc ? argv[++i] : NULL);
			if (timeout < 100 || timeout > 60000)
				die(EXIT_USAGE, "--timeout: from 100ms to 60s");
		} else if (argv[i][0] == '-')
			die(EXIT_USAGE, "ping: unknown flag \"%s\"", argv[i]);
		else
			hosts[ph.n_hosts++] = argv[i];
	}
	ph.hosts = hosts;
	ph.timeout_ms = (uint32_t)timeout;
	req.op_case = FERRY__CTL_REQUEST__OP_PING;
	req.ping = &ph;
	r = call(&req, (nng_duration)timeout + 5000);
	if (json) {
		cJSON *arr = cJSON_CreateArray();
		for (k = 0; k < r->n_pings; k++) {
			const Ferry__PingResult *p = r->pings[k];
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "host", p->host);
			cJSON_AddBoolToObject(o, "ok", p->ok);
			if (p->ok)
				cJSON_AddNumberToObject(o, "latency_ms",
				    (double)p->latency_us / 1000.0);
			else
				cJSON_AddStringToObject(o, "error", p->error);
			cJSON_AddItemToArray(arr, o);
			failed |= !p->ok;
		}
		print_json(arr);
	} else {
		struct table *t = table_new();

		table_col(t, "HOST", 0.2, 0);
		table_col(t, "RESULT", 0, 0);
		table_col(t, "LATENCY", 0, TABLE_RIGHT);
		table_col(t, "ERROR", 0.5, TABLE_WRAP);
		for (k = 0; k < r->n_pings; k++) {
			const Ferry__PingResult *p = r->pings[k];

			table_row(t);
			table_cell(t, "%s", p->host);
			table_cell(t, "%s", p->ok ? "ok" : "FAILED");
			if (p->ok)
				table_cell(t, "%.2f ms",
				    (double)p->latency_us / 1000.0);
			else
				table_cell(t, "-");
			table_cell(t, "%s", p->ok ? "" : p->error);
			failed |= !p->ok;
		}
		table_print(t, stdout);
	}
	free(hosts);
	ferry__ctl_reply__free_unpacked(r, NULL);
	return failed ? EXIT_FAIL : 0;
}

static const char *
outcome_name(Ferry__SwapResult__Outcome o)
{
	switch (o) {
	case FERRY__SWAP_RESULT__OUTCOME__SWAPPED:
		return "swapped";
	case FERRY__SWAP_RESULT__OUTCOME__REVERTED:
		return "reverted";
	case FERRY__SWAP_RESULT__OUTCOME__REMOVED:
		return "removed";
	default:
		return "failed";
	}
}

static int
cmd_swap(int argc, char **argv)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__SwapOne so = FERRY__SWAP_ONE__INIT;
	Ferry__CtlReply *r;
	const Ferry__SwapResult *sr;
	char *text = NULL;
	size_t len = 0;
	int i, json = 0, ok, weight_given = 0, keep_old = 0;
	const char *args[3] = { NULL, NULL, NULL };
	int nargs = 0;

	cmd_usage = usage_swap;
	if (has_flag(argc, argv, "--help") || has_flag(argc, argv, "-h")) {
		fputs(usage_swap, stdout);
		return 0;
	}
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--rollback") == 0) {
			if (i + 1 >= argc)
				die(EXIT_USAGE, "--rollback needs a SERVICE");
			so.rollback_service = argv[++i];
		} else if (strcmp(argv[i], "--remove") == 0) {
			if (i + 1 >= argc)
				die(EXIT_USAGE, "--remove needs a SERVICE");
			so.remove_service = argv[++i];
		} else if (strcmp(argv[i], "--weight") == 0) {
			char *end;
			unsigned long w;

			if (i + 1 >= argc)
				die(EXIT_USAGE, "--weight needs a share from 0 "
				    "to 100");
			errno = 0;
			w = strtoul(argv[++i], &end, 10);
			if (errno != 0 || end == argv[i] || *end != '\0' ||
			    argv[i][0] < '0' || argv[i][0] > '9' || w > 100)
				die(EXIT_USAGE, "swap: --weight wants a share "
				    "from 0 to 100 (percent of new traffic), "
				    "not \"%s\"", argv[i]);
			so.weight = (uint32_t)w;
			weight_given = 1;
		} else if (strcmp(argv[i], "--keep-old") == 0) {
			keep_old = 1;
		} else if (argv[i][0] == '-')
			die(EXIT_USAGE, "swap: unknown flag \"%s\"", argv[i]);
		else if (nargs < 2)
			args[nargs++] = argv[i];
		else
			die(EXIT_USAGE, "swap: unexpected \"%s\" (HOST and "
			    "SPEC.yml, or HOST and --rollback/--remove "
			    "SERVICE)", argv[i]);
	}
	if (so.rollback_service[0] && so.remove_service[0])
		die(EXIT_USAGE, "swap: --rollback or --remove, not both");
	if ((weight_given || keep_old) && (so.rollback_service[0] ||
	    so.remove_service[0]))
		die(EXIT_USAGE, "swap: %s goes with SPEC.yml, not with "
		    "--rollback or --remove", weight_given ? "--weight" :
		    "--keep-old");
	if (keep_old && !weight_given)
		die(EXIT_USAGE, "swap: --keep-old needs --weight N (0..100: "
		    "the new revision's share of new traffic; the old one "
		    "keeps running with the rest)");
	/* 0 leaves the old one all the traffic: it can only keep it. */
	so.beside = keep_old || (weight_given && so.weight == 0);
	if (nargs != (so.rollback_service[0] || so.remove_service[0] ? 1 :
	    2))
		die(EXIT_USAGE, "swap: expected %s",
		    so.rollback_service[0] || so.remove_service[0] ?
		    "one HOST" : nargs == 0 ? "HOST and SPEC.yml" :
		    nargs == 1 ? "SPEC.yml after the HOST" : "HOST and "
		    "SPEC.yml only");
	so.host = (char *)args[0];
	if (!so.rollback_service[0] && !so.remove_service[0]) {
		FILE *f = fopen(args[1], "r");
		if (f == NULL)
			die(EXIT_USAGE, "%s: %s", args[1], strerror(errno));
		text = malloc(SPEC_READ_MAX + 1);
		if (text == NULL)
			die(EXIT_FAIL, "out of memory");
		len = fread(text, 1, SPEC_READ_MAX + 1, f);
		fclose(f);
		if (len > SPEC_READ_MAX)
			die(EXIT_USAGE, "%s: larger than 1 MiB", args[1]);
		so.spec_file = (char *)args[1];
		so.spec.data = (uint8_t *)text;
		so.spec.len = len;
	}
	req.op_case = FERRY__CTL_REQUEST__OP_SWAP;
	req.swap = &so;
	r = call(&req, SWAP_WAIT_MS);
	free(text);
	sr = r->swap;
	if (sr == NULL)
		die(EXIT_FAIL, "ferryd gave no result");
	ok = sr->outcome == FERRY__SWAP_RESULT__OUTCOME__SWAPPED ||
	    (so.remove_service[0] &&
	    sr->outcome == FERRY__SWAP_RESULT__OUTCOME__REMOVED);
	if (json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "host", so.host);
		cJSON_AddStringToObject(o, "service", sr->service);
		cJSON_AddStringToObject(o, "outcome", outcome_name(sr->outcome));
		cJSON_AddNumberToObject(o, "revision", (double)sr->revision);
		cJSON_AddNumberToObject(o, "asked_revision",
		    (double)r->revision);
		cJSON_AddNumberToObject(o, "previous_revision",
		    (double)sr->previous_revision);
		cJSON_AddStringToObject(o, "image", sr->image);
		cJSON_AddStringToObject(o, "container_id", sr->container_id);
		cJSON_AddStringToObject(o, "reason", sr->reason);
		cJSON_AddStringToObject(o, "health_output", sr->health_output);
		cJSON_AddNumberToObject(o, "exit_code", sr->exit_code);
		cJSON_AddStringToObject(o, "logs", sr->logs);
		cJSON_AddBoolToObject(o, "beside", sr->beside);
		if (sr->beside)
			cJSON_AddNumberToObject(o, "weight",
			    (double)sr->weight);
		cJSON_AddNumberToObject(o, "switched_at_ms",
		    (double)sr->switched_at_ms);
		print_json(o);
	} else if (ok && so.remove_service[0]) {
		printf("%s: %s removed: nothing of it runs there\n", so.host,
		    so.remove_service);
	} else if (ok) {
		printf("%s: %s revision %llu runs and is healthy (%s)",
		    so.host, shown(sr->service),
		    (unsigned long long)sr->revision,
		    shown(sr->image && sr->image[0] ? sr->image : r->digest));
		if (sr->beside)
			printf("; %u%% of new traffic, revision %llu beside "
			    "it with %u%%", sr->weight,
			    (unsigned long long)sr->previous_revision,
			    100 - sr->weight);
		else if (sr->previous_revision)
			printf("; revision %llu kept for rollback",
			    (unsigned long long)sr->previous_revision);
		if (sr->reason && sr->reason[0])
			printf(" (%s)", shown(sr->reason));
		putchar('\n');
	} else {
		printf("%s: %s revision %llu %s: %s\n", so.host,
		    shown(sr->service), (unsigned long long)r->revision,
		    outcome_name(sr->outcome), shown(sr->reason));
		if (sr->outcome == FERRY__SWAP_RESULT__OUTCOME__REVERTED)
			printf("  revision %llu runs again\n",
			    (unsigned long long)sr->revision);
		if (sr->health_output && sr->health_output[0])
			printf("  last check: %s\n",
			    shown(sr->health_output));
		if (sr->exit_code >= 0)
			printf("  exit code: %d\n", sr->exit_code);
		if (sr->logs && sr->logs[0]) {
			char *logs = text_escape_lines_dup(sr->logs);

			if (logs == NULL)
				die(EXIT_FAIL, "out of memory");
			printf("  last log lines:\n%s%s", logs,
			    logs[0] && logs[strlen(logs) - 1] == '\n' ? "" :
			    "\n");
			free(logs);
		}
	}
	ferry__ctl_reply__free_unpacked(r, NULL);
	return ok ? 0 : EXIT_FAIL;
}

/* run runs the command cmd with its arguments. */
static int
run(const char *cmd, int argc, char **argv)
{
	if (strcmp(cmd, "token") == 0)
		return cmd_token(argc, argv);
	if (strcmp(cmd, "hosts") == 0)
		return cmd_hosts(argc, argv);
	if (strcmp(cmd, "ping") == 0)
		return cmd_ping(argc, argv);
	if (strcmp(cmd, "swap") == 0)
		return cmd_swap(argc, argv);
	if (strcmp(cmd, "deploy") == 0 || strcmp(cmd, "plan") == 0)
		return cmd_deploy(argc, argv, cmd[0] == 'p');
	if (strcmp(cmd, "status") == 0)
		return cmd_status(argc, argv);
	if (strcmp(cmd, "history") == 0)
		return cmd_history(argc, argv);
	if (strcmp(cmd, "rollback") == 0)
		return cmd_rollback(argc, argv);
	if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0 ||
	    strcmp(cmd, "abort") == 0 || strcmp(cmd, "promote") == 0)
		return cmd_control(argc, argv, cmd);
	if (strcmp(cmd, "events") == 0)
		return cmd_events(argc, argv);
	if (strcmp(cmd, "restart") == 0 || strcmp(cmd, "stop") == 0 ||
	    strcmp(cmd, "start") == 0 || strcmp(cmd, "remove") == 0)
		return cmd_lifecycle(argc, argv, cmd);
	if (strcmp(cmd, "logs") == 0)
		return cmd_logs(argc, argv);
	if (strcmp(cmd, "secret") == 0)
		return cmd_secret(argc, argv);
	if (strcmp(cmd, "registry") == 0)
		return cmd_registry(argc, argv);
	if (strcmp(cmd, "help") == 0 && argc > 0) {
		/* ferry help COMMAND: that command's --help. */
		char *help[] = { "--help", NULL };

		if (strcmp(argv[0], "--help") == 0 ||
		    strcmp(argv[0], "-h") == 0) {
			fputs(usage_main, stdout);
			return 0;
		}
		if (argv[0][0] == '-')
			usage_die(usage_main, "help: unknown flag \"%s\"",
			    argv[0]);
		if (argc > 1)
			usage_die(usage_main, "help: unexpected \"%s\" (one "
			    "COMMAND)", argv[1]);
		if (strcmp(argv[0], "help") != 0)
			return run(argv[0], 1, help);
	}
	if (strcmp(cmd, "help") == 0) {
		fputs(usage_main, stdout);
		return 0;
	}
	usage_die(usage_main, "unknown command \"%s\"", cmd);
}

int
main(int argc, char **argv)
{
	int i = 1;

	cmd_usage = usage_main;
	socket_path = getenv("FERRY_SOCKET");
	if (socket_path == NULL || socket_path[0] == '\0')
		socket_path = DEFAULT_SOCKET;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			socket_path = argv[++i];
		else if (strcmp(argv[i], "--socket") == 0)
			die(EXIT_USAGE, "--socket needs a PATH");
		else if (strncmp(argv[i], "--socket=", 9) == 0)
			socket_path = argv[i] + 9;
		else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			fputs(usage_main, stdout);
			return 0;
		} else
			die(EXIT_USAGE, "unknown flag \"%s\"", argv[i]);
	}
	if (i >= argc)
		usage_die(usage_main, "expected a command");
	return run(argv[i], argc - i - 1, argv + i + 1);
}
