/* SPDX-License-Identifier: Apache-2.0 */
/* dkit.c: the fleet and helpers the deployment tests share (dkit.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "dkit.h"


struct h_fleet F;
struct h_run R;
char HOST[NH][32];
struct h_proc *AGENT[NH];
const char *const ADDR[NH] = { "127.0.0.2", "127.0.0.3",
    "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7" };
int PORT;
int NAGENTS;

long long
now_ms(void)
{
	return (long long)h_mono_ms();
}

/* db_count runs a COUNT(*) query on ferryd's database. */
long long
db_count(const char *sql)
{
	return h_db_int(&F, "ferryd/ferryd.db", sql, NULL, 0, NULL);
}

void
setup(void)
{
	char base[24];
	int i, k;

	h_init(&F);
	h_unique("dp", base, sizeof(base));
	for (i = 0; i < NH; i++)
		snprintf(HOST[i], sizeof(HOST[i]), "%s-%u", base,
		    (unsigned)(i + 1) % 100u);
	/* The service port must be free on every publish address. */
	for (k = 0; k < 50; k++) {
		PORT = h_free_port();
		for (i = 0; i < NH && h_port_free_on(ADDR[i], PORT); i++)
			;
		if (i == NH)
			break;
	}
	NAGENTS = 0;
	h_start_ferryd(&F, NULL);
}

/* A tmpfs mounted over ferryd's state dir by a test, unmounted after. */
char TMPFS[600];

void
teardown(void)
{
	if (TMPFS[0] != '\0') {
		struct h_run *r = malloc(sizeof(*r));

		if (F.ferryd != NULL && h_alive(F.ferryd))
			h_kill(F.ferryd, SIGKILL);
		if (r != NULL)
			h_run(r, (const char *[]){ "/bin/umount", "-l", TMPFS,
			    NULL });
		free(r);
		TMPFS[0] = '\0';
	}
	h_fini(&F);
}


/* fleet starts the first n agents, each labelled role=web. */
void
fleet(int n)
{
	int i;

	for (i = NAGENTS; i < n; i++) {
		AGENT[i] = h_add_agent(&F, HOST[i], ADDR[i]);
		h_ferry(&F, &R, (const char *[]){ "hosts", "label", HOST[i],
		    "role=web", NULL });
		cr_assert_eq(R.status, 0, "label %s: %s", HOST[i], R.err);
	}
	NAGENTS = n;
}

/* names writes "[h1, h2, ...]" for hosts first..last (1-based). */
const char *
names(char *buf, size_t len, int first, int last)
{
	size_t off = (size_t)snprintf(buf, len, "[");
	int i;

	for (i = first; i <= last; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		    i > first ? ", " : "", HOST[i - 1]);
	snprintf(buf + off, len - off, "]");
	return buf;
}


/* spec writes FILE: image tag, hosts (a YAML value), the HTTP check on the
 * published port, extra health lines and extra rollout lines (batch 2
 * unless they set the batch). */
void
spec(const char *file, const char *tag, const char *hosts,
    const char *health, const char *rollout)
{
	h_write(&F, file,
	    "service: web\n"
	    "image: " IMG "%s\n"
	    "hosts: %s\n"
	    "port: { host: %d, container: 80 }\n"
	    "health:\n"
	    "  http: { path: /health, port: 80 }\n"
	    "  interval: 200ms\n"
	    "  timeout: 1s\n"
	    "  deadline: 10s\n"
	    "  min_healthy: 300ms\n"
	    "%s"
	    "rollout:\n"
	    "%s"
	    "%s", tag, hosts, PORT, health ? health : "",
	    rollout && strstr(rollout, "batch:") ? "" : "  batch: 2\n",
	    rollout ? rollout : "");
}

const char *
path(const char *file)
{
	static char buf[600];

	return h_path(&F, file, buf, sizeof(buf));
}

/* deploy_watch runs `ferry deploy FILE --watch` and returns its status.
 * Bounded at 90 s, not the CLI's usual 30: six hosts swapped stop-first
 * in three batches took more than 30 s on a busy engine. */
int
deploy_watch(const char *file)
{
	h_ferry_ms(&F, &R, (const char *[]){ "deploy", path(file), "--watch",
	    NULL }, 90000);
	return R.status;
}

/* deploy_bg starts a deployment without watching and returns its id. */
unsigned
deploy_bg(const char *file)
{
	cJSON *o;
	unsigned id;

	h_ferry(&F, &R, (const char *[]){ "deploy", path(file), "--json",
	    NULL });
	cr_assert_eq(R.status, 0, "deploy %s: %s%s", file, R.out, R.err);
	o = cJSON_Parse(R.out);
	cr_assert_not_null(o, "not JSON: %s", R.out);
	id = (unsigned)cJSON_GetObjectItem(o, "id")->valuedouble;
	cJSON_Delete(o);
	cr_assert(id > 0);
	return id;
}

/* status returns `ferry status ID --json` parsed (NULL when it did not
 * answer); free with cJSON_Delete. */
cJSON *
status(unsigned id)
{
	char ids[32];

	snprintf(ids, sizeof(ids), "%u", id);
	h_ferry(&F, &R, (const char *[]){ "status", ids, "--json", NULL });
	return cJSON_Parse(R.out);
}

const char *
jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

int
jnum(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);

	return cJSON_IsNumber(v) ? (int)v->valuedouble : -1;
}

/* host_state: the state of host i (0-based) in a status object. */
const char *
host_state(const cJSON *st, int i)
{
	const cJSON *h;

	cJSON_ArrayForEach(h, cJSON_GetObjectItem(st, "hosts"))
		if (strcmp(jstr(h, "name"), HOST[i]) == 0)
			return jstr(h, "state");
	return "";
}

const char *
host_cause(const cJSON *st, int i)
{
	const cJSON *h;

	cJSON_ArrayForEach(h, cJSON_GetObjectItem(st, "hosts"))
		if (strcmp(jstr(h, "name"), HOST[i]) == 0)
			return jstr(h, "cause");
	return "";
}

int
finished_state(const char *s)
{
	return strcmp(s, "succeeded") == 0 || strcmp(s, "failed") == 0 ||
	    strcmp(s, "rolled_back") == 0 || strcmp(s, "aborted") == 0;
}

/* wait_state waits (bounded) until deployment id has state (or, with
 * state NULL, any final state); returns its status object or fails. */
cJSON *
wait_state(unsigned id, const char *state, int ms)
{
	long long end = now_ms() + ms;
	char last[64] = "";

	for (;;) {
		cJSON *st = status(id);
		if (st != NULL) {
			const char *s = jstr(st, "state");
			snprintf(last, sizeof(last), "%s", s);
			if (state ? strcmp(s, state) == 0 : finished_state(s))
				return st;
			if (state != NULL && finished_state(s)) {
				cr_log_error("%s", R.out);
				cr_assert_fail("deployment %u ended %s, "
				    "waiting for %s", id, s, state);
			}
			cJSON_Delete(st);
		}
		if (now_ms() > end)
			break;
		h_sleep_ms(100);
	}
	cr_assert_fail("deployment %u is still %s after %d ms (waiting for "
	    "%s)", id, last, ms, state ? state : "its end");
	return NULL;
}

/* wait_host waits (bounded) until host i of deployment id has state, the
 * deployment still under way, and returns its status object. */
cJSON *
wait_host(unsigned id, int i, const char *state, int ms)
{
	long long end = now_ms() + ms;
	cJSON *st;

	for (;;) {
		st = status(id);
		cr_assert_not_null(st, "%s", R.err);
		if (strcmp(host_state(st, i), state) == 0)
			return st;
		cr_assert(!finished_state(jstr(st, "state")), "%s ended "
		    "before %s was %s: %s", jstr(st, "state"), HOST[i],
		    state, R.out);
		cJSON_Delete(st);
		cr_assert(now_ms() < end, "%s was never %s in deployment %u",
		    HOST[i], state, id);
		h_sleep_ms(50);
	}
}

/* serving returns the version host i's index page names: 0 when it does
 * not answer 200, -1 when it answers without a version. */
int
serving(int i)
{
	char body[4096], *v;

	if (h_http_get(ADDR[i], PORT, "/", body, sizeof(body)) != 200)
		return 0;
	v = strstr(body, "version ");
	return v ? atoi(v + 8) : -1;
}

void
assert_all_serve(int first, int last, int version)
{
	int i;

	for (i = first; i <= last; i++)
		cr_assert_eq(serving(i), version, "%s (%s) serves %d, not "
		    "version %d", HOST[i], ADDR[i], serving(i), version);
}

/* containers writes host i's running container ids (sorted, one a line)
 * into buf and returns how many there are; all counts every state. */
int
containers(int i, char *buf, size_t len, int *all)
{
	struct h_run *r = malloc(sizeof(*r));
	char filter[128];
	int n = 0;
	char *p;

	snprintf(filter, sizeof(filter), "label=ferry.host=%s", HOST[i]);
	cr_assert_eq(h_docker(r, (const char *[]){ "ps", "-a", "--no-trunc",
	    "--format", "{{.State}} {{.ID}} {{.Names}}", "--filter", filter,
	    NULL }), 0, "%s", r->err);
	if (buf != NULL && len > 0)
		buf[0] = '\0';
	if (all != NULL)
		*all = 0;
	for (p = strtok(r->out, "\n"); p != NULL; p = strtok(NULL, "\n")) {
		if (all != NULL)
			(*all)++;
		if (strncmp(p, "running ", 8) == 0) {
			n++;
			if (buf != NULL)
				snprintf(buf + strlen(buf), len - strlen(buf),
				    "%s\n", p + 8);
		}
	}
	free(r);
	return n;
}

/* the_container writes host i's one running container id into id (it
 * must run exactly one). */
void
the_container(int i, char *id, size_t len)
{
	char buf[1024], *sp;

	cr_assert_eq(containers(i, buf, sizeof(buf), NULL), 1, "%s runs: %s",
	    HOST[i], buf);
	if ((sp = strchr(buf, ' ')) != NULL)
		*sp = '\0';
	snprintf(id, len, "%.100s", buf);
}

/* ---- occupying a service port ------------------------------------------ */

/* hold_port listens on addr:PORT, so Docker cannot publish there and a
 * swap on that host fails. */
int
hold_port(const char *addr)
{
	struct sockaddr_in sa;
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	cr_assert(s >= 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)PORT);
	inet_pton(AF_INET, addr, &sa.sin_addr);
	cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0,
	    "bind %s:%d: %s", addr, PORT, strerror(errno));
	cr_assert_eq(listen(s, 4), 0);
	return s;
}

/* ---- ferry-load (tests/tools/ferry-load.c) -------------------------------- */

/* load_start runs ferry-load against hosts first..last (0-based) on PORT:
 * GET /version every interval_ms on conns connections per host, for at
 * most limit_s seconds. */
/* load_spawn runs ferry-load with pace (--interval or --rate) at value. */
static struct h_proc *
load_spawn(const char *name, int first, int last, int conns, const char *pace,
    int value, int limit_s, int timeout_s)
{
	const char *argv[32];
	static char urls[NH][96];
	char bin[600], c[16], iv[16], lim[16], to[16];
	int n = 0, i;

	h_bin("tests/ferry-load", bin, sizeof(bin));
	snprintf(c, sizeof(c), "%d", conns);
	snprintf(iv, sizeof(iv), "%d", value);
	snprintf(lim, sizeof(lim), "%d", limit_s);
	snprintf(to, sizeof(to), "%d", timeout_s);
	argv[n++] = bin;
	argv[n++] = "--connections";
	argv[n++] = c;
	argv[n++] = pace;
	argv[n++] = iv;
	argv[n++] = "--duration";
	argv[n++] = lim;
	argv[n++] = "--timeout";
	argv[n++] = to;
	argv[n++] = "--json";
	for (i = first; i <= last; i++) {
		snprintf(urls[i], sizeof(urls[i]), "http://%s:%d/version",
		    ADDR[i], PORT);
		argv[n++] = urls[i];
	}
	argv[n] = NULL;
	return h_spawn(&F, name, argv);
}

struct h_proc *
load_start_t(const char *name, int first, int last, int conns,
    int interval_ms, int limit_s, int timeout_s)
{
	return load_spawn(name, first, last, conns, "--interval", interval_ms,
	    limit_s, timeout_s);
}

/* load_start_rate: each connection starts rate requests a second on a
 * fixed clock (the traffic a test can count on per second). */
struct h_proc *
load_start_rate(const char *name, int first, int last, int conns, int rate,
    int limit_s)
{
	return load_spawn(name, first, last, conns, "--rate", rate, limit_s,
	    5);
}

/* load_start: as load_start_t, with ferry-load's 5 s timeout. */
struct h_proc *
load_start(const char *name, int first, int last, int conns, int interval_ms,
    int limit_s)
{
	return load_start_t(name, first, last, conns, interval_ms, limit_s,
	    5);
}

/* load_stop ends ferry-load (SIGTERM: it lets the requests in flight
 * finish) and returns its JSON summary (cJSON_Delete it). */
cJSON *
load_stop(struct h_proc *p)
{
	FILE *fp;
	char *line = NULL;
	size_t cap = 0;
	cJSON *o = NULL;

	cr_assert_eq(h_kill(p, SIGTERM), 0, "ferry-load did not exit 0 "
	    "(see %s)", p->log);
	fp = fopen(p->log, "r");
	cr_assert_not_null(fp, "%s", p->log);
	while (getline(&line, &cap, fp) > 0)
		if (line[0] == '{') {
			cJSON_Delete(o);
			o = cJSON_Parse(line);
		}
	free(line);
	fclose(fp);
	cr_assert_not_null(o, "no JSON summary in %s", p->log);
	return o;
}

double
jd(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItem(o, a);

	if (b != NULL)
		v = cJSON_GetObjectItem(v, b);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* no_failures asserts that every request ferry-load sent was answered
 * 2xx: none refused, reset, timed out or answered 5xx. */
void
no_failures(const cJSON *o, const char *what)
{
	char *text = cJSON_PrintUnformatted(o);

	cr_assert_gt(jd(o, "sent", NULL), 100, "%s: too few requests: %s",
	    what, text);
	cr_assert_eq(jd(o, "failed", NULL), 0, "%s: failed requests: %s",
	    what, text);
	cr_assert_eq(jd(o, "responses", NULL), jd(o, "sent", NULL), "%s: %s",
	    what, text);
	cr_assert_eq(jd(o, "by_class", "2xx"), jd(o, "responses", NULL),
	    "%s: answers other than 2xx: %s", what, text);
	cr_log_info("%s: %s", what, text);
	free(text);
}
