/* SPDX-License-Identifier: Apache-2.0 */
/* harness.c: starting, driving and ending real ferry processes in tests. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <sodium.h>
#include <criterion/criterion.h>

#include "clock.h"
#include "ferr.h"
#include "harness.h"
#include "keys.h"
#include "proxywire.h"

#define RUN_LIMIT_MS 30000

void
h_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
h_bin(const char *name, char *buf, size_t len)
{
	const char *dir = getenv("FERRY_BIN");

	snprintf(buf, len, "%s/%s", dir && dir[0] ? dir : "build", name);
	return buf;
}

const char *
h_path(struct h_fleet *f, const char *rel, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", f->dir, rel);
	return buf;
}

int
h_port_free_on(const char *addr, int port)
{
	struct sockaddr_in sa;
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1, ok;

	if (s < 0)
		return 0;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, addr, &sa.sin_addr);
	ok = bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(s);
	return ok;
}

void
h_init(struct h_fleet *f)
{
	int i;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/ferry-itest-XXXXXX");
	cr_assert_not_null(mkdtemp(f->dir), "mkdtemp: %s", strerror(errno));
	snprintf(f->sock, sizeof(f->sock), "%s/ferryd.sock", f->dir);
	srand((unsigned)(getpid() ^ time(NULL)));
	for (i = 0; i < 200; i++) {
		int p = 20000 + rand() % 30000;
		if (h_port_free_on("127.0.0.1", p)) {
			f->port = p;
			break;
		}
	}
	cr_assert(f->port != 0, "no free port");
	for (i = 0; i < 200 && f->http[0] == '\0'; i++) {
		int p = 20000 + rand() % 30000;
		if (p != f->port && h_port_free_on("127.0.0.1", p))
			snprintf(f->http, sizeof(f->http), "127.0.0.1:%d", p);
	}
	cr_assert(f->http[0] != '\0', "no free port");
	snprintf(f->listen, sizeof(f->listen), "tcp://127.0.0.1:%d", f->port);
}

int
h_alive(struct h_proc *p)
{
	int st;

	if (p == NULL || p->pid <= 0)
		return 0;
	if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
		p->pid = -1;
		return 0;
	}
	return kill(p->pid, 0) == 0;
}

static int
reap(struct h_proc *p, int ms)
{
	long long end = now_ms() + ms;
	int st;

	while (now_ms() < end) {
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid) {
			p->pid = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
		}
		if (r < 0) {
			p->pid = -1;
			return -1;
		}
		h_sleep_ms(20);
	}
	return -2;
}

int
h_kill(struct h_proc *p, int sig)
{
	int rc;

	if (p == NULL || p->pid <= 0)
		return -1;
	kill(p->pid, sig);
	if (sig != SIGKILL && sig != SIGTERM)
		return 0;
	rc = reap(p, 10000);
	if (rc == -2) {
		kill(p->pid, SIGKILL);
		rc = reap(p, 5000);
	}
	return rc;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void
h_fini(struct h_fleet *f)
{
	int i, dirty = 0;

	/* Everything but the proxies, then the proxies: each went before
	 * its agent and goes after it. */
	for (i = 0; i < f->nprocs; i++)
		if (f->procs[i].pid > 0 && strncmp(f->procs[i].name, "proxy-",
		    6) != 0)
			h_kill(&f->procs[i], SIGTERM);
	for (i = 0; i < f->nprocs; i++)
		if (f->procs[i].pid > 0)
			h_kill(&f->procs[i], SIGTERM);
	for (i = 0; i < f->nhosts; i++)
		h_docker_rm_host(f->hosts[i]);
	/* Under `make asan` the daemons are sanitized too: any report in
	 * their logs fails the test that ran them. */
	for (i = 0; i < f->nprocs; i++)
		if (h_log_has(&f->procs[i], "Sanitizer") ||
		    h_log_has(&f->procs[i], "runtime error:")) {
			cr_log_error("sanitizer report in %s", f->procs[i].log);
			dirty = 1;
		}
	if (dirty) {
		/* Keep the logs to read. */
		cr_assert_fail("sanitizer reports (logs kept in %s)", f->dir);
		return;
	}
	if (f->dir[0] != '\0' && getenv("FERRY_KEEP_TEST_DIR") == NULL)
		nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

struct h_proc *
h_spawn(struct h_fleet *f, const char *name, const char *const *argv)
{
	struct h_proc *p;
	char bin[512];
	pid_t parent = getpid();
	int fd;

	cr_assert(f->nprocs < H_MAX_PROCS, "too many processes");
	p = &f->procs[f->nprocs++];
	{
		char logpath[sizeof(p->log)];
		snprintf(logpath, sizeof(logpath), "%s/%s.log", f->dir, name);
		memcpy(p->log, logpath, sizeof(p->log));
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
	/* A path is used as is; a bare name is a ferry binary. */
	if (strchr(argv[0], '/') != NULL)
		snprintf(bin, sizeof(bin), "%s", argv[0]);
	else
		h_bin(argv[0], bin, sizeof(bin));
	p->pid = fork();
	cr_assert(p->pid >= 0, "fork: %s", strerror(errno));
	if (p->pid == 0) {
		/* Ends with the test, whatever happens to the test. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
		fd = open("/dev/null", O_RDONLY);
		dup2(fd, 0);
		close(fd);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	return p;
}

static void run_ms(struct h_run *r, const char *const *argv, int ms);

void
h_run(struct h_run *r, const char *const *argv)
{
	run_ms(r, argv, RUN_LIMIT_MS);
}

static void
run_ms(struct h_run *r, const char *const *argv, int ms)
{
	int out[2], err[2];
	size_t no = 0, ne = 0;
	long long end = now_ms() + ms;
	pid_t pid, parent = getpid();
	int st, open_fds = 2;

	memset(r, 0, sizeof(*r));
	cr_assert(pipe(out) == 0 && pipe(err) == 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(out[1], 1);
		dup2(err[1], 2);
		/* Only 1 and 2 may hold the pipes: a daemon the command
		 * leaves behind must not keep them open. */
		close(out[0]);
		close(err[0]);
		close(out[1]);
		close(err[1]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	while (open_fds > 0 && now_ms() < end) {
		struct pollfd pf[2] = { { out[0], POLLIN, 0 },
		    { err[0], POLLIN, 0 } };
		if (poll(pf, 2, 100) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			char *buf = i == 0 ? r->out : r->err;
			size_t *n = i == 0 ? &no : &ne;
			size_t cap = i == 0 ? sizeof(r->out) : sizeof(r->err);
			ssize_t got;
			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP)))
				continue;
			if (*n + 1 >= cap) {
				char sink[4096];
				got = read(pf[i].fd, sink, sizeof(sink));
			} else {
				got = read(pf[i].fd, buf + *n, cap - *n - 1);
				if (got > 0)
					*n += (size_t)got;
			}
			if (got <= 0) {
				close(pf[i].fd);
				if (i == 0)
					out[0] = -1;
				else
					err[0] = -1;
				open_fds--;
			}
		}
	}
	if (out[0] >= 0)
		close(out[0]);
	if (err[0] >= 0)
		close(err[0]);
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (now_ms() >= end)
			kill(pid, SIGKILL);
		h_sleep_ms(10);
	}
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void
h_ferry(struct h_fleet *f, struct h_run *r, const char *const *args)
{
	h_ferry_ms(f, r, args, RUN_LIMIT_MS);
}

void
h_ferry_ms(struct h_fleet *f, struct h_run *r, const char *const *args,
    int ms)
{
	const char *argv[64];
	char bin[512];
	int i = 0, j;

	argv[i++] = h_bin("ferry", bin, sizeof(bin));
	argv[i++] = "--socket";
	argv[i++] = f->sock;
	for (j = 0; args[j] != NULL && i < 63; j++)
		argv[i++] = args[j];
	argv[i] = NULL;
	run_ms(r, argv, ms);
}

struct h_proc *
h_start_ferryd(struct h_fleet *f, const char *const *extra)
{
	const char *argv[64] = { "ferryd", "-d", "-v", "--state-dir", NULL,
	    "--listen", f->listen, "--socket", f->sock, "--missed-beats",
	    "3", "--http", f->http, NULL };
	char state[600];
	struct h_run *r = malloc(sizeof(*r));
	int i = 13, j, k;

	argv[4] = h_path(f, "ferryd", state, sizeof(state));
	for (j = 0; extra != NULL && extra[j] != NULL && i < 63; j++)
		argv[i++] = extra[j];
	argv[i] = NULL;
	f->ferryd = h_spawn(f, "ferryd", argv);
	for (k = 0; k < 100; k++) {
		h_ferry(f, r, (const char *[]){ "hosts", NULL });
		if (r->status == 0)
			break;
		cr_assert(h_alive(f->ferryd), "ferryd exited at start");
		h_sleep_ms(50);
	}
	cr_assert_eq(r->status, 0, "ferryd did not answer: %s", r->err);
	free(r);
	return f->ferryd;
}

void
h_token(struct h_fleet *f, char *tok, size_t len, const char *const *extra)
{
	const char *args[16] = { "token", "create", NULL };
	struct h_run *r = malloc(sizeof(*r));
	int i = 2, j;

	for (j = 0; extra != NULL && extra[j] != NULL && i < 15; j++)
		args[i++] = extra[j];
	args[i] = NULL;
	h_ferry(f, r, args);
	cr_assert_eq(r->status, 0, "token create: %s", r->err);
	r->out[strcspn(r->out, "\n")] = '\0';
	snprintf(tok, len, "%s", r->out);
	free(r);
}

void
h_join(struct h_fleet *f, struct h_run *r, const char *token,
    const char *name, const char *publish)
{
	char bin[512], state[600];

	h_run(r, (const char *[]){ h_bin("ferry-agent", bin, sizeof(bin)),
	    "join", token, "--name", name, "--state-dir",
	    h_path(f, name, state, sizeof(state)), "--publish-address",
	    publish ? publish : "127.0.0.1", NULL });
}

/* host_index: name's index in f->hosts, added when new. */
static int
host_index(struct h_fleet *f, const char *name)
{
	int k;

	for (k = 0; k < f->nhosts; k++)
		if (strcmp(f->hosts[k], name) == 0)
			return k;
	cr_assert_lt(f->nhosts, H_MAX_HOSTS, "too many hosts");
	snprintf(f->hosts[f->nhosts], sizeof(f->hosts[0]), "%s", name);
	return f->nhosts++;
}

const char *
h_proxy_control(struct h_fleet *f, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s-proxy/control.sock", f->dir, name);
	cr_assert_lt(strlen(buf), 100, "control socket path too long: %s",
	    buf);
	return buf;
}

struct h_proc *
h_start_proxy(struct h_fleet *f, const char *name)
{
	int k = host_index(f, name);
	char state[600], ctl[600], pname[80], saved[600];
	struct h_proc *p = f->proxies[k];
	const char *notify;
	uint64_t end;

	if (p != NULL && p->pid > 0 && h_alive(p))
		return p;
	snprintf(state, sizeof(state), "%s/%s-proxy", f->dir, name);
	mkdir(state, 0700);
	h_proxy_control(f, name, ctl, sizeof(ctl));
	snprintf(pname, sizeof(pname), "proxy-%s", name);
	/* A test that listens on NOTIFY_SOCKET means it for ferryd or the
	 * agent: the proxy, started beside them, must not answer it. */
	notify = getenv("NOTIFY_SOCKET");
	if (notify != NULL)
		snprintf(saved, sizeof(saved), "%s", notify);
	unsetenv("NOTIFY_SOCKET");
	p = h_spawn(f, pname, (const char *[]){ "ferry-proxy", "-d", "-v",
	    "--state-dir", state, "--control", ctl, NULL });
	if (notify != NULL)
		setenv("NOTIFY_SOCKET", saved, 1);
	f->proxies[k] = p;
	for (end = h_mono_ms() + 10000; h_mono_ms() < end; h_sleep_ms(20)) {
		Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
		Ferry__ProxyReply *rp = NULL;
		char err[300];

		rq.op_case = FERRY__PROXY_REQUEST__OP_STATUS;
		rq.status = 1;
		if (proxywire_call(ctl, &rq, &rp, NULL, NULL, 1000, err,
		    sizeof(err)) == 0) {
			ferry__proxy_reply__free_unpacked(rp, NULL);
			return p;
		}
		cr_assert(h_alive(p), "ferry-proxy of %s exited (see %s)",
		    name, p->log);
	}
	cr_assert_fail("ferry-proxy of %s did not answer in 10 s (see %s)",
	    name, p->log);
	return NULL;
}

struct h_proc *
h_start_agent(struct h_fleet *f, const char *name, const char *const *extra)
{
	const char *argv[64] = { "ferry-agent", "-d", "-v", "--state-dir",
	    NULL, "--heartbeat-interval", "200ms", "--docker-socket",
	    "/var/run/docker.sock", "--proxy-control", "", NULL };
	char state[600], pname[80], ctl[600];
	int i = 11, j;

	host_index(f, name);
	if (!f->no_proxy) {
		h_start_proxy(f, name);
		argv[10] = h_proxy_control(f, name, ctl, sizeof(ctl));
	}
	argv[4] = h_path(f, name, state, sizeof(state));
	for (j = 0; extra != NULL && extra[j] != NULL && i < 63; j++)
		argv[i++] = extra[j];
	argv[i] = NULL;
	snprintf(pname, sizeof(pname), "agent-%s", name);
	return h_spawn(f, pname, argv);
}

struct h_proc *
h_add_agent(struct h_fleet *f, const char *name, const char *publish)
{
	return h_add_agent_with(f, name, publish, NULL);
}

struct h_proc *
h_add_agent_with(struct h_fleet *f, const char *name, const char *publish,
    const char *const *extra)
{
	char tok[1100];
	struct h_run *r = malloc(sizeof(*r));
	struct h_proc *p;

	h_token(f, tok, sizeof(tok), NULL);
	h_join(f, r, tok, name, publish);
	cr_assert_eq(r->status, 0, "join %s: %s", name, r->err);
	free(r);
	p = h_start_agent(f, name, extra);
	cr_assert(h_wait_state(f, name, "online", 10000),
	    "%s not online in 10 s", name);
	if (!f->no_proxy)
		h_wait_proxy(f, name, 10000);
	return p;
}

void
h_wait_proxy(struct h_fleet *f, const char *name, int ms)
{
	uint64_t end = h_mono_ms() + (uint64_t)ms;
	char last[64] = "";

	for (;;) {
		cJSON *arr = NULL, *h = h_host_json(f, name, &arr);
		const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(
		    cJSON_GetObjectItem(h, "proxy"), "state"));

		snprintf(last, sizeof(last), "%s", st ? st : "");
		cJSON_Delete(arr);	/* st goes with it: read last */
		if (last[0] != '\0' && strcmp(last, "unheard") != 0 &&
		    strcmp(last, "unanswered") != 0 &&
		    strcmp(last, "none") != 0)
			return;
		cr_assert(h_mono_ms() < end, "ferryd did not hear of %s's "
		    "ferry-proxy in %d ms (proxy state \"%s\")", name, ms,
		    last);
		h_sleep_ms(100);
	}
}

cJSON *
h_host_json(struct h_fleet *f, const char *name, cJSON **arr)
{
	struct h_run *r = malloc(sizeof(*r));
	cJSON *it;

	cr_assert_not_null(r);
	h_ferry(f, r, (const char *[]){ "hosts", "--json", NULL });
	cr_assert_eq(r->status, 0, "hosts --json: %s", r->err);
	*arr = cJSON_Parse(r->out);
	cr_assert_not_null(*arr, "hosts --json is not JSON: %s", r->out);
	free(r);
	cJSON_ArrayForEach(it, *arr) {
		cJSON *n = cJSON_GetObjectItem(it, "name");
		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
			return it;
	}
	return NULL;
}

const char *
h_host_state(struct h_fleet *f, const char *name, char *buf, size_t len)
{
	struct h_run *r = malloc(sizeof(*r));
	cJSON *arr, *it;

	buf[0] = '\0';
	h_ferry(f, r, (const char *[]){ "hosts", "--json", NULL });
	if (r->status == 0 && (arr = cJSON_Parse(r->out)) != NULL) {
		cJSON_ArrayForEach(it, arr) {
			cJSON *n = cJSON_GetObjectItem(it, "name");
			cJSON *s = cJSON_GetObjectItem(it, "state");
			if (cJSON_IsString(n) && strcmp(n->valuestring,
			    name) == 0 && cJSON_IsString(s))
				snprintf(buf, len, "%s", s->valuestring);
		}
		cJSON_Delete(arr);
	}
	free(r);
	return buf;
}

int
h_wait_state(struct h_fleet *f, const char *name, const char *state, int ms)
{
	long long end = now_ms() + ms;
	char buf[32];

	do {
		if (strcmp(h_host_state(f, name, buf, sizeof(buf)), state) == 0)
			return 1;
		h_sleep_ms(50);
	} while (now_ms() < end);
	return 0;
}

int
h_log_has(const struct h_proc *p, const char *text)
{
	FILE *fp = fopen(p->log, "r");
	char line[4096];
	int found = 0;

	if (fp == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), fp) != NULL)
		found = strstr(line, text) != NULL;
	fclose(fp);
	return found;
}

int
h_wait_log(const struct h_proc *p, const char *text, int ms)
{
	long long end = now_ms() + ms;

	do {
		if (h_log_has(p, text))
			return 1;
		h_sleep_ms(50);
	} while (now_ms() < end);
	return 0;
}

int
h_free_port(void)
{
	int i;

	for (i = 0; i < 500; i++) {
		int p = 20000 + rand() % 30000;
		if (h_port_free_on("127.0.0.1", p))
			return p;
	}
	cr_assert_fail("no free port");
	return 0;
}

const char *
h_unique(const char *prefix, char *buf, size_t len)
{
	snprintf(buf, len, "%s-%d", prefix, (int)getpid());
	return buf;
}

void
h_write(struct h_fleet *f, const char *rel, const char *fmt, ...)
{
	char path[600];
	va_list ap;
	FILE *fp;

	fp = fopen(h_path(f, rel, path, sizeof(path)), "w");
	cr_assert_not_null(fp, "%s: %s", path, strerror(errno));
	va_start(ap, fmt);
	vfprintf(fp, fmt, ap);
	va_end(ap);
	fclose(fp);
}

int
h_http_get(const char *ip, int port, const char *path, char *body,
    size_t len)
{
	struct h_run *r = malloc(sizeof(*r));
	char url[300];
	int code = 0;
	char *nl;

	snprintf(url, sizeof(url), "http://%s:%d%s", ip, port, path);
	h_run(r, (const char *[]){ "/usr/bin/curl", "-s", "--max-time", "3",
	    "-w", "\n%{http_code}", url, NULL });
	nl = strrchr(r->out, '\n');
	if (nl != NULL) {
		code = atoi(nl + 1);
		*nl = '\0';
	}
	/* A body cut short would make a test's search fail for a reason
	 * that is not ferry's: said, not hidden. */
	cr_assert_lt(strlen(r->out), sizeof(r->out) - 2, "GET %s: the answer "
	    "does not fit h_run's %zu bytes", url, sizeof(r->out));
	if (body != NULL)
		cr_assert_lt(strlen(r->out), len, "GET %s: the answer (%zu "
		    "bytes) does not fit the test's buffer of %zu", url,
		    strlen(r->out), len);
	if (body != NULL)
		snprintf(body, len, "%s", r->out);
	free(r);
	return code;
}

int
h_docker(struct h_run *r, const char *const *args)
{
	const char *argv[40] = { "/usr/bin/docker" };
	int i;

	for (i = 0; args[i] != NULL && i < 38; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	h_run(r, argv);
	return r->status;
}

void
h_docker_rm_host(const char *host)
{
	struct h_run *r = malloc(sizeof(*r));
	char filter[128], *id, *save = NULL;

	snprintf(filter, sizeof(filter), "label=ferry.host=%s", host);
	if (h_docker(r, (const char *[]){ "ps", "-aq", "--filter", filter,
	    NULL }) == 0) {
		char ids[8192];
		size_t n = strnlen(r->out, sizeof(ids) - 1);
		memcpy(ids, r->out, n);
		ids[n] = '\0';
		for (id = strtok_r(ids, "\n", &save); id != NULL;
		    id = strtok_r(NULL, "\n", &save))
			h_docker(r, (const char *[]){ "rm", "-f", id, NULL });
	}
	free(r);
}

uint64_t
h_mono_ms(void)
{
	return clock_mono_us() / 1000;
}

void
h_hex(const uint8_t *b, size_t n, char *out, size_t outlen)
{
	sodium_bin2hex(out, outlen, b, n);
}

void
h_load_key(struct h_fleet *f, const char *rel, struct keypair *kp)
{
	char path[700];
	int rc;

	h_path(f, rel, path, sizeof(path));
	rc = keys_load(path, kp);
	cr_assert_eq(rc, 0, "keys_load %s: %s", path, ferr_str(rc));
}

int
h_log_count(const struct h_proc *p, const char *text)
{
	FILE *fp = fopen(p->log, "r");
	char line[4096];
	int n = 0;

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		n += strstr(line, text) != NULL;
	fclose(fp);
	return n;
}

/* ---- a cut-able relay on 127.0.0.1 ------------------------------------ */

/* Its sockets are close-on-exec: a daemon started while it relays must not
 * hold a copy that keeps a cut connection open. */

struct relay_conn {
	int a, b;
	struct h_relay *r;
	int rec[2];		/* recordings of a's bytes and b's, or -1 */
};

/* relay_pipe copies both ways until either side closes or the relay is
 * cut. */
static void *
relay_pipe(void *arg)
{
	struct relay_conn *c = arg;
	char buf[65536];

	while (!atomic_load(&c->r->cut)) {
		struct pollfd p[2] = { { c->a, POLLIN, 0 },
		    { c->b, POLLIN, 0 } };
		int i;

		if (poll(p, 2, 100) <= 0)
			continue;
		for (i = 0; i < 2; i++) {
			ssize_t got;
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = read(p[i].fd, buf, sizeof(buf));
			if (got > 0 && c->rec[i] >= 0 &&
			    write(c->rec[i], buf, (size_t)got) != got)
				goto out;
			if (got <= 0 || write(p[1 - i].fd, buf, (size_t)got) !=
			    got)
				goto out;
		}
	}
out:
	close(c->a);
	close(c->b);
	if (c->rec[0] >= 0)
		close(c->rec[0]);
	if (c->rec[1] >= 0)
		close(c->rec[1]);
	free(c);
	return NULL;
}

static void *
relay_main(void *arg)
{
	struct h_relay *r = arg;

	while (!atomic_load(&r->stop)) {
		struct pollfd p = { r->lfd, POLLIN, 0 };
		struct sockaddr_in sa;
		struct relay_conn *rc;
		int c, t;
		pthread_t th;

		if (poll(&p, 1, 100) <= 0)
			continue;
		c = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		if (atomic_load(&r->cut)) {
			close(c);
			continue;
		}
		t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)r->target);
		sa.sin_addr.s_addr = htonl(0x7f000001);
		if (connect(t, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			close(c);
			close(t);
			continue;
		}
		rc = calloc(1, sizeof(*rc));
		cr_assert_not_null(rc);
		rc->a = c;
		rc->b = t;
		rc->r = r;
		rc->rec[0] = rc->rec[1] = -1;
		if (r->record[0] != '\0') {
			char path[600];
			int n = atomic_fetch_add(&r->nconn, 1) + 1;

			snprintf(path, sizeof(path), "%s.%d.up", r->record, n);
			rc->rec[0] = open(path, O_WRONLY | O_CREAT | O_TRUNC |
			    O_CLOEXEC, 0600);
			snprintf(path, sizeof(path), "%s.%d.down", r->record,
			    n);
			rc->rec[1] = open(path, O_WRONLY | O_CREAT | O_TRUNC |
			    O_CLOEXEC, 0600);
		}
		pthread_create(&th, NULL, relay_pipe, rc);
		pthread_detach(th);
	}
	return NULL;
}

void
h_relay_start(struct h_relay *r, int target)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int one = 1;

	memset(r, 0, sizeof(*r));
	r->target = target;
	r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(0x7f000001);
	cr_assert_eq(bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(r->lfd, 16), 0);
	getsockname(r->lfd, (struct sockaddr *)&sa, &len);
	r->port = ntohs(sa.sin_port);
	pthread_create(&r->th, NULL, relay_main, r);
}

void
h_relay_cut(struct h_relay *r, int on)
{
	atomic_store(&r->cut, on);
}

void
h_relay_record(struct h_relay *r, const char *prefix)
{
	snprintf(r->record, sizeof(r->record), "%s", prefix);
}

int
h_sp_messages(const char *file, void (*fn)(const uint8_t *body, size_t len,
    void *arg), void *arg)
{
	FILE *f = fopen(file, "rb");
	uint8_t head[8], *msg;
	uint64_t len;
	int n = 0, i;

	cr_assert_not_null(f, "%s: %s", file, strerror(errno));
	/* The SP header: 00 'S' 'P' 00, protocol, reserved. */
	if (fread(head, 1, 8, f) != 8 || head[1] != 'S' || head[2] != 'P') {
		fclose(f);
		return 0;
	}
	while (fread(head, 1, 8, f) == 8) {
		for (len = 0, i = 0; i < 8; i++)
			len = len << 8 | head[i];
		if (len < 4 || len > 16u * 1024 * 1024)
			break;
		msg = malloc(len);
		cr_assert_not_null(msg);
		if (fread(msg, 1, len, f) != len) {
			free(msg);
			break;	/* cut off where the recording ended */
		}
		fn(msg + 4, len - 4, arg);
		free(msg);
		n++;
	}
	fclose(f);
	return n;
}

void
h_relay_stop(struct h_relay *r)
{
	atomic_store(&r->stop, 1);
	pthread_join(r->th, NULL);
	close(r->lfd);
}

/* ---- the daemons' databases ------------------------------------------- */

sqlite3 *
h_db_open(struct h_fleet *f, const char *rel)
{
	char path[700];
	sqlite3 *db = NULL;

	h_path(f, rel, path, sizeof(path));
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
	    SQLITE_OK, "open %s", path);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

int
h_db_row(struct h_fleet *f, const char *rel, const char *sql,
    const void *blob, int blen, const char *text, char *t0, size_t t0len,
    uint8_t **b1, size_t *b1len)
{
	sqlite3 *db = h_db_open(f, rel);
	sqlite3_stmt *s = NULL;
	int i = 1, row;

	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(db));
	if (blob != NULL)
		sqlite3_bind_blob(s, i++, blob, blen, SQLITE_TRANSIENT);
	if (text != NULL)
		sqlite3_bind_text(s, i++, text, -1, SQLITE_TRANSIENT);
	row = sqlite3_step(s) == SQLITE_ROW;
	if (t0 != NULL) {
		const unsigned char *t = row ? sqlite3_column_text(s, 0) :
		    NULL;
		snprintf(t0, t0len, "%s", t ? (const char *)t : "");
	}
	if (b1 != NULL) {
		int n = row ? sqlite3_column_bytes(s, 1) : 0;
		*b1 = malloc((size_t)n + 1);
		cr_assert_not_null(*b1);
		if (n > 0)
			memcpy(*b1, sqlite3_column_blob(s, 1), (size_t)n);
		*b1len = (size_t)n;
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	return row;
}

long long
h_db_int(struct h_fleet *f, const char *rel, const char *sql,
    const void *blob, int blen, const char *text)
{
	char buf[64];

	if (!h_db_row(f, rel, sql, blob, blen, text, buf, sizeof(buf), NULL,
	    NULL))
		return -1;
	return strtoll(buf, NULL, 10);
}
