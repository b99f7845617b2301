/* SPDX-License-Identifier: Apache-2.0 */
// links: agent/docker.c
/* test_docker.c: agent/docker.c against the machine's real dockerd and the
 * local registry (127.0.0.1:5000, images from tests/images/build.sh).
 *
 * Every test names its containers "ferry-dtest-<pid>-<n>-...", labels them
 * with its own ferry.host, and removes exactly those (by name) when it
 * ends: other containers on this Docker are never touched. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <criterion/criterion.h>
#include <curl/curl.h>

#include "docker.h"
#include "ferr.h"

#define SOCK		"/var/run/docker.sock"
#define REPO		"127.0.0.1:5000/ferry-test/web"
#define WEB1		REPO ":1"
#define PUBLISH_IP	"127.0.0.2"
#define MAX_MADE	16

static struct docker *D;
static char err[1024];
static char prefix[48];		/* ferry-dtest-<pid>-<n> */
static char host[96];		/* this test's ferry.host label */
static char made[MAX_MADE][128];	/* names to remove at the end */
static int nmade;

static void
setup(void)
{
	static unsigned n;

	snprintf(prefix, sizeof(prefix), "ferry-dtest-%d-%u", (int)getpid(),
	    n++);
	snprintf(host, sizeof(host), "%s-host", prefix);
	nmade = 0;
	cr_assert_eq(docker_open(&D, SOCK), 0);
}

static void
teardown(void)
{
	char e[256];
	int i;

	for (i = 0; i < nmade; i++)
		docker_remove(D, made[i], 1, e, sizeof(e));
	docker_close(D);
	D = NULL;
}

TestSuite(docker, .init = setup, .fini = teardown, .timeout = 60);

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void
pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* free_port finds a port nobody listens on at PUBLISH_IP. */
static unsigned
free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	inet_pton(AF_INET, PUBLISH_IP, &sa.sin_addr);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* digest_of pulls WEB1 and returns its repo@sha256 reference. */
static void
digest_of(char *digest, size_t len)
{
	cr_assert_eq(docker_pull(D, WEB1, NULL, NULL, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(docker_image_digest(D, WEB1, digest, len, err,
	    sizeof(err)), 0, "%s", err);
}

struct spec {
	const char *suffix;	/* name: <prefix>-<suffix> */
	const char *image;
	const char *host;	/* ferry.host label; NULL: this test's */
	const char *const *env;
	const char *const *cmd;
	unsigned host_port, container_port;
	int start;
};

/* make creates (and maybe starts) a container, remembering its name for
 * teardown; id gets its id, name (when not NULL) its name. */
static void
make(const struct spec *s, char *id, size_t idlen, char *name)
{
	struct docker_label labels[] = {
		{ "ferry.service", "web" },
		{ "ferry.revision", "7" },
		{ "ferry.deployment", "dep-42" },
		{ "ferry.host", s->host != NULL ? s->host : host },
		{ "ferry.command", "cmd-1" },
	};
	struct docker_create_opts o = {
		.image = s->image != NULL ? s->image : WEB1,
		.env = s->env,
		.labels = labels,
		.nlabels = sizeof(labels) / sizeof(labels[0]),
		.publish_ip = PUBLISH_IP,
		.host_port = s->host_port,
		.container_port = s->container_port,
		.restart_policy = "no",
		.stop_signal = "SIGTERM",
		.stop_timeout_s = 5,
		.cmd = s->cmd,
	};

	cr_assert_lt(nmade, MAX_MADE);
	snprintf(made[nmade], sizeof(made[nmade]), "%s-%s", prefix,
	    s->suffix);
	o.name = made[nmade];
	nmade++;
	if (name != NULL)
		strcpy(name, o.name);
	cr_assert_eq(docker_create(D, &o, id, idlen, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(strlen(id), 64, "id %s", id);
	if (s->start)
		cr_assert_eq(docker_start(D, id, err, sizeof(err)), 0, "%s",
		    err);
}

/* wait_exit waits (at most 10 s) until the container is not running. */
static void
wait_exit(const char *id, struct docker_state *st)
{
	long end = now_ms() + 10000;

	for (;;) {
		cr_assert_eq(docker_inspect(D, id, st, err, sizeof(err)), 0,
		    "%s", err);
		if (!st->running && strcmp(st->status, "exited") == 0)
			return;
		cr_assert_lt(now_ms(), end, "%s still %s", id, st->status);
		pause_ms(50);
	}
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* http_status GETs url once; 0 when nothing answers. */
static long
http_status(const char *url)
{
	CURL *c = curl_easy_init();
	long status = 0;

	cr_assert_not_null(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status;
}

static int
is_digest_ref(const char *s)
{
	const char *want = REPO "@sha256:";
	size_t i, n = strlen(want);

	if (strncmp(s, want, n) != 0 || strlen(s) != n + 64)
		return 0;
	for (i = n; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* ---- daemon and images ---------------------------------------------- */

Test(docker, check_reports_the_version)
{
	char version[64];

	cr_assert_eq(docker_check(D, version, sizeof(version), err,
	    sizeof(err)), 0, "%s", err);
	cr_assert(version[0] >= '1' && version[0] <= '9', "version %s",
	    version);
	cr_assert_not_null(strchr(version, '.'), "version %s", version);
}

Test(docker, pull_by_tag_then_by_digest)
{
	char digest[256], again[256];

	digest_of(digest, sizeof(digest));
	cr_assert(is_digest_ref(digest), "digest %s", digest);
	cr_assert_eq(docker_pull(D, digest, NULL, NULL, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(docker_image_digest(D, digest, again, sizeof(again), err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(again, digest);
	/* Too small a buffer is refused, not cut. */
	cr_assert_eq(docker_image_digest(D, WEB1, again, 20, err,
	    sizeof(err)), FERR_TOOBIG);
}

/*
 * Fake registries.  FAKE_LOGIN wants a login: it answers 401 with a Basic
 * challenge to every request without credentials, records the
 * Authorization header of the first that has one, and answers that with
 * "manifest unknown".  FAKE_NO_BLOBS serves a manifest but none of the
 * blobs it names, so Docker fails after its progress stream has begun.
 * Anything that is not plain HTTP (Docker tries TLS first) is hung up on.
 */
enum fake_mode { FAKE_LOGIN, FAKE_NO_BLOBS };

#define JSON_TYPE	"Content-Type: application/json\r\n"

struct fake_registry {
	enum fake_mode mode;
	int fd;
	unsigned port;
	atomic_int stop;
	char auth[256];		/* Authorization header Docker sent */
	pthread_t thread;
};

/* fake_answer writes one answer; extra (headers, each ending in CRLF)
 * includes its Content-Type. */
static void
fake_answer(int c, const char *status, const char *extra, const char *body)
{
	char msg[1024];
	int n = snprintf(msg, sizeof(msg), "HTTP/1.1 %s\r\n"
	    "Docker-Distribution-Api-Version: registry/2.0\r\n%s"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", status,
	    extra, strlen(body), body);

	if (write(c, msg, (size_t)n) < 0)
		return;
}

static void
fake_no_blobs(int c, const char *req)
{
	static const char manifest[] = "{\"schemaVersion\":2,\"mediaType\":"
	    "\"application/vnd.docker.distribution.manifest.v2+json\","
	    "\"config\":{\"mediaType\":"
	    "\"application/vnd.docker.container.image.v1+json\",\"size\":2,"
	    "\"digest\":\"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaa\"},\"layers\":[{\"mediaType\":"
	    "\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":2,"
	    "\"digest\":\"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	    "bbbbbbbbbbbbbbbbbbbb\"}]}";

	if (strncmp(req, "GET /v2/ ", 9) == 0)
		fake_answer(c, "200 OK", JSON_TYPE, "{}");
	else if (strstr(req, "/manifests/") != NULL)
		fake_answer(c, "200 OK", "Content-Type: application/"
		    "vnd.docker.distribution.manifest.v2+json\r\n", manifest);
	else
		fake_answer(c, "404 Not Found", JSON_TYPE,
		    "{\"errors\":[{\"code\":\"BLOB_UNKNOWN\","
		    "\"message\":\"blob unknown to registry\"}]}");
}

static void *
fake_registry_run(void *arg)
{
	struct fake_registry *f = arg;
	struct pollfd pfd = { .fd = f->fd, .events = POLLIN };
	char req[4096], *a;
	ssize_t got;
	size_t len;
	int c;

	while (!atomic_load(&f->stop)) {
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if ((c = accept(f->fd, NULL, NULL)) < 0)
			continue;
		len = 0;
		/* Read the request head (bounded: 2 s, 4 KiB). */
		while (len < sizeof(req) - 1) {
			struct pollfd cp = { .fd = c, .events = POLLIN };

			if (poll(&cp, 1, 2000) <= 0 ||
			    (got = read(c, req + len, sizeof(req) - 1 -
			    len)) <= 0)
				break;
			len += (size_t)got;
			req[len] = '\0';
			if (req[0] != 'G' && req[0] != 'H')
				break;	/* a TLS hello: no HTTP here */
			if (strstr(req, "\r\n\r\n") != NULL)
				break;
		}
		req[len] = '\0';
		if (strncmp(req, "GET ", 4) != 0 &&
		    strncmp(req, "HEAD ", 5) != 0) {
			close(c);
			continue;
		}
		a = strstr(req, "\r\nAuthorization: ");
		if (f->mode == FAKE_NO_BLOBS)
			fake_no_blobs(c, req);
		else if (a == NULL)
			fake_answer(c, "401 Unauthorized",
			    JSON_TYPE "WWW-Authenticate: Basic "
			    "realm=\"ferry-test\"\r\n",
			    "{\"errors\":[{\"code\":\"UNAUTHORIZED\","
			    "\"message\":\"authentication required\"}]}");
		else {
			a += strlen("\r\nAuthorization: ");
			if (f->auth[0] == '\0')
				snprintf(f->auth, sizeof(f->auth), "%.*s",
				    (int)strcspn(a, "\r\n"), a);
			fake_answer(c, "404 Not Found", JSON_TYPE,
			    "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\","
			    "\"message\":\"manifest unknown\"}]}");
		}
		close(c);
	}
	return NULL;
}

static void
fake_registry_start(struct fake_registry *f, enum fake_mode mode)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int one = 1;

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(f->fd, 0);
	setsockopt(f->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(f->fd, 16), 0);
	cr_assert_eq(getsockname(f->fd, (struct sockaddr *)&sa, &len), 0);
	f->port = ntohs(sa.sin_port);
	cr_assert_eq(pthread_create(&f->thread, NULL, fake_registry_run, f),
	    0);
}

static void
fake_registry_stop(struct fake_registry *f)
{
	atomic_store(&f->stop, 1);
	pthread_join(f->thread, NULL);
	close(f->fd);
}

Test(docker, pull_sends_credentials_and_keeps_them_out_of_errors)
{
	struct fake_registry f;
	char ref[128];
	int rc;

	fake_registry_start(&f, FAKE_LOGIN);
	snprintf(ref, sizeof(ref), "127.0.0.1:%u/ferry-test/web:1", f.port);
	rc = docker_pull(D, ref, "ferry", "s3cr3t-pw", err, sizeof(err));
	fake_registry_stop(&f);
	cr_assert_neq(rc, 0);
	cr_log_info("fake registry: %s", err);
	/* base64("ferry:s3cr3t-pw"): Docker decoded our X-Registry-Auth. */
	cr_assert_str_eq(f.auth, "Basic ZmVycnk6czNjcjN0LXB3", "%s", err);
	cr_assert_not_null(strstr(err, ref), "%s", err);
	cr_assert_null(strstr(err, "s3cr3t"), "%s", err);

	/* Against the real registry (no login), credentials do no harm. */
	cr_assert_eq(docker_pull(D, WEB1, "ferry", "s3cr3t-pw", err,
	    sizeof(err)), 0, "%s", err);
}

Test(docker, pull_failing_inside_the_progress_stream)
{
	struct fake_registry f;
	char ref[128];
	int rc;

	fake_registry_start(&f, FAKE_NO_BLOBS);
	snprintf(ref, sizeof(ref), "127.0.0.1:%u/ferry-test/web:1", f.port);
	rc = docker_pull(D, ref, NULL, NULL, err, sizeof(err));
	fake_registry_stop(&f);
	cr_log_info("blobs missing: %s", err);
	cr_assert_eq(rc, FERR_DOCKER, "rc %d: %s", rc, err);
	cr_assert_not_null(strstr(err, ref), "%s", err);
	/* Docker answered 200: this came from the stream. */
	cr_assert_not_null(strstr(err, "unknown blob"), "%s", err);
}

Test(docker, pull_of_a_missing_tag_names_the_ref)
{
	int rc = docker_pull(D, REPO ":nope", NULL, NULL, err, sizeof(err));

	cr_assert_eq(rc, FERR_NOTFOUND, "rc %d: %s", rc, err);
	cr_assert_not_null(strstr(err, "pull " REPO ":nope: "), "%s", err);
	cr_assert_not_null(strstr(err, "not found"), "%s", err);
}

Test(docker, pull_from_a_registry_not_there)
{
	long t0 = now_ms();
	int rc = docker_pull(D, "127.0.0.1:1/ferry-test/web:1", NULL, NULL,
	    err, sizeof(err));

	cr_assert_eq(rc, FERR_DOCKER, "rc %d: %s", rc, err);
	cr_assert_not_null(strstr(err, "pull 127.0.0.1:1/ferry-test/web:1: "),
	    "%s", err);
	cr_assert_not_null(strstr(err, "connection refused"), "%s", err);
	cr_assert_lt(now_ms() - t0, 10000);
}

Test(docker, bad_names_are_refused_before_docker)
{
	char id[80];
	struct docker_state st;

	cr_assert_eq(docker_pull(D, "web:1?x=1", NULL, NULL, err,
	    sizeof(err)), FERR_ARG);
	cr_assert_eq(docker_inspect(D, "../images/json", &st, err,
	    sizeof(err)), FERR_ARG);
	cr_assert_eq(docker_image_digest(D, REPO ":nope", id, sizeof(id), err,
	    sizeof(err)), FERR_NOTFOUND, "%s", err);
	cr_assert_not_null(strstr(err, REPO ":nope"), "%s", err);
}

/* ---- containers ----------------------------------------------------- */

Test(docker, run_serve_list_stop_remove)
{
	char digest[256], id[80], other[80], name[128], env[32], url[128];
	char other_host[96];
	const char *envv[] = { env, NULL };
	unsigned port = free_port();
	struct docker_state st, *list = NULL;
	Ferry__Container **hb = NULL;
	size_t n = 0, i;
	long end, status = 0, t0;
	int found;

	digest_of(digest, sizeof(digest));
	snprintf(env, sizeof(env), "PORT=%u", 8080u);
	make(&(struct spec){ .suffix = "web", .image = digest, .env = envv,
	    .host_port = port, .container_port = 8080, .start = 1 }, id,
	    sizeof(id), name);
	snprintf(other_host, sizeof(other_host), "%s-other", prefix);
	make(&(struct spec){ .suffix = "other", .image = digest,
	    .host = other_host }, other, sizeof(other), NULL);

	cr_assert_eq(docker_inspect(D, id, &st, err, sizeof(err)), 0, "%s",
	    err);
	cr_assert_str_eq(st.id, id);
	cr_assert_str_eq(st.name, name);
	cr_assert_str_eq(st.image, digest);
	cr_assert_str_eq(st.status, "running");
	cr_assert_eq(st.running, 1);
	cr_assert_str_eq(st.service, "web");
	cr_assert_str_eq(st.revision, "7");
	cr_assert_str_eq(st.deployment, "dep-42");
	cr_assert_str_eq(st.host, host);
	cr_assert_str_eq(st.command, "cmd-1");
	cr_assert_str_eq(st.health, "");
	/* Its own stop timeout, by which the agent stops it. */
	cr_assert_eq(st.stop_timeout_s, 5);
	/* By name too. */
	cr_assert_eq(docker_inspect(D, name, &st, err, sizeof(err)), 0, "%s",
	    err);
	cr_assert_str_eq(st.id, id);

	snprintf(url, sizeof(url), "http://%s:%u/health", PUBLISH_IP, port);
	end = now_ms() + 10000;
	while ((status = http_status(url)) != 200 && now_ms() < end)
		pause_ms(50);
	cr_assert_eq(status, 200, "%s answered %ld", url, status);

	cr_assert_eq(docker_list_host(D, host, &list, &n, err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(n, 1, "%zu containers for %s", n, host);
	cr_assert_str_eq(list[0].id, id);
	cr_assert_str_eq(list[0].status, "running");
	cr_assert_str_eq(list[0].deployment, "dep-42");
	free(list);
	list = NULL;
	cr_assert_eq(docker_list_host(D, other_host, &list, &n, err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(list[0].id, other);
	cr_assert_str_eq(list[0].status, "created");
	free(list);
	list = NULL;

	cr_assert_eq(docker_list(D, host, &hb, &n, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(hb[0]->id, id);
	cr_assert_str_eq(hb[0]->name, name);
	cr_assert_str_eq(hb[0]->state, "running");
	cr_assert_str_eq(hb[0]->digest, digest);
	cr_assert_str_eq(hb[0]->health, "");
	cr_assert_str_eq(hb[0]->deployment, "dep-42");
	cr_assert_str_eq(hb[0]->service, "web");
	cr_assert_str_eq(hb[0]->revision, "7");
	docker_list_free(hb, n);

	/* Stop is quick: the image's shell exits on TERM. */
	t0 = now_ms();
	cr_assert_eq(docker_stop(D, id, 5, err, sizeof(err)), 0, "%s", err);
	cr_assert_lt(now_ms() - t0, 3000, "stop took %ld ms", now_ms() - t0);
	cr_assert_eq(docker_inspect(D, id, &st, err, sizeof(err)), 0, "%s",
	    err);
	cr_assert_str_eq(st.status, "exited");
	cr_assert_eq(st.running, 0);
	cr_assert_eq(docker_stop(D, id, 5, err, sizeof(err)), 0, "%s", err);

	cr_assert_eq(docker_remove(D, id, 1, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(docker_inspect(D, id, &st, err, sizeof(err)),
	    FERR_NOTFOUND, "%s", err);
	cr_assert_not_null(strstr(err, id), "%s", err);
	cr_assert_eq(docker_remove(D, id, 1, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(docker_stop(D, id, 1, err, sizeof(err)), FERR_NOTFOUND,
	    "%s", err);
	cr_assert_eq(docker_start(D, id, err, sizeof(err)), FERR_NOTFOUND,
	    "%s", err);
	cr_assert_eq(docker_list_host(D, host, &list, &n, err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(n, 0);
	free(list);
	found = 0;
	cr_assert_eq(docker_list(D, other_host, &hb, &n, err, sizeof(err)), 0,
	    "%s", err);
	for (i = 0; i < n; i++)
		found += strcmp(hb[i]->id, other) == 0;
	docker_list_free(hb, n);
	cr_assert_eq(found, 1);
}

Test(docker, exec_returns_exit_code_and_output)
{
	const char *argv[] = { "/bin/sh", "-c", "echo hi; exit 3", NULL };
	const char *both[] = { "/bin/sh", "-c", "echo out; echo err >&2",
	    NULL };
	char id[80], out[256], small[4];
	int code = 0;

	make(&(struct spec){ .suffix = "exec", .start = 1 }, id, sizeof(id),
	    NULL);
	cr_assert_eq(docker_exec(D, id, argv, 5000, &code, out, sizeof(out),
	    err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(code, 3);
	cr_assert_str_eq(out, "hi\n");
	cr_assert_eq(docker_exec(D, id, both, 5000, &code, out, sizeof(out),
	    err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(code, 0);
	cr_assert_not_null(strstr(out, "out\n"), "%s", out);
	cr_assert_not_null(strstr(out, "err\n"), "%s", out);
	/* Output past outlen is dropped, and the result still ends. */
	cr_assert_eq(docker_exec(D, id, both, 5000, &code, small,
	    sizeof(small), err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(strlen(small), 3);
}

Test(docker, exec_past_its_timeout)
{
	const char *argv[] = { "/bin/sh", "-c", "sleep 5", NULL };
	char id[80], out[64];
	int code = 0, rc;
	long t0;

	make(&(struct spec){ .suffix = "slow", .start = 1 }, id, sizeof(id),
	    NULL);
	t0 = now_ms();
	rc = docker_exec(D, id, argv, 500, &code, out, sizeof(out), err,
	    sizeof(err));
	cr_assert_eq(rc, FERR_TIMEOUT, "rc %d: %s", rc, err);
	cr_assert_lt(now_ms() - t0, 1500, "took %ld ms", now_ms() - t0);
	cr_assert_not_null(strstr(err, id), "%s", err);
	cr_assert_not_null(strstr(err, "500 ms"), "%s", err);
}

Test(docker, exec_in_a_missing_or_stopped_container)
{
	const char *argv[] = { "/bin/true", NULL };
	const char *cmd[] = { "/bin/sh", "-c", "exit 0", NULL };
	char id[80], out[16], missing[128];
	struct docker_state st;
	int code;

	snprintf(missing, sizeof(missing), "%s-missing", prefix);
	cr_assert_eq(docker_exec(D, missing, argv, 1000, &code, out,
	    sizeof(out), err, sizeof(err)), FERR_NOTFOUND, "%s", err);
	cr_assert_not_null(strstr(err, missing), "%s", err);
	make(&(struct spec){ .suffix = "done", .cmd = cmd, .start = 1 }, id,
	    sizeof(id), NULL);
	wait_exit(id, &st);
	cr_assert_eq(docker_exec(D, id, argv, 1000, &code, out, sizeof(out),
	    err, sizeof(err)), FERR_DOCKER, "%s", err);
	cr_assert_not_null(strstr(err, "not running"), "%s", err);
}

Test(docker, logs_without_framing)
{
	const char *cmd[] = { "/bin/sh", "-c",
	    "echo out-1; echo err-1 >&2; sleep 0.2; echo out-2", NULL };
	char id[80], *logs = NULL;
	struct docker_state st;
	size_t i;

	make(&(struct spec){ .suffix = "logs", .cmd = cmd, .start = 1 }, id,
	    sizeof(id), NULL);
	wait_exit(id, &st);
	cr_assert_eq(st.exit_code, 0);
	cr_assert_eq(docker_logs(D, id, 10, &logs, err, sizeof(err)), 0, "%s",
	    err);
	cr_assert_not_null(strstr(logs, "out-1\n"), "%s", logs);
	cr_assert_not_null(strstr(logs, "err-1\n"), "%s", logs);
	cr_assert_not_null(strstr(logs, "out-2\n"), "%s", logs);
	for (i = 0; logs[i] != '\0'; i++)
		cr_assert(logs[i] == '\n' || (logs[i] >= 0x20 &&
		    logs[i] < 0x7f), "framing byte %d at %zu", logs[i], i);
	free(logs);
	/* Docker copies stdout and stderr to its log separately, so lines
	 * of the two streams written together may swap: out-2 comes last
	 * only thanks to the pause before it. */
	cr_assert_eq(docker_logs(D, id, 1, &logs, err, sizeof(err)), 0, "%s",
	    err);
	cr_assert_str_eq(logs, "out-2\n");
	free(logs);
	cr_assert_eq(docker_logs(D, id, 0, &logs, err, sizeof(err)), 0, "%s",
	    err);
	cr_assert_str_eq(logs, "");
	free(logs);
}

Test(docker, container_that_exits_at_once)
{
	const char *cmd[] = { "/bin/sh", "-c", "exit 7", NULL };
	char id[80];
	struct docker_state st;

	make(&(struct spec){ .suffix = "exit7", .cmd = cmd, .start = 1 }, id,
	    sizeof(id), NULL);
	wait_exit(id, &st);
	cr_assert_eq(st.running, 0);
	cr_assert_eq(st.exit_code, 7);
	cr_assert_str_eq(st.status, "exited");
	/* Stopping a stopped container is not an error (304). */
	cr_assert_eq(docker_stop(D, id, 1, err, sizeof(err)), 0, "%s", err);
}

static size_t
collect(char *p, size_t size, size_t n, void *arg)
{
	char *b = arg;
	size_t have = strlen(b), add = size * n;

	if (have + add >= 65536)
		return 0;
	memcpy(b + have, p, add);
	b[have + add] = '\0';
	return add;
}

/* restart_policy asks Docker directly (not through docker.c) for a
 * container's HostConfig.RestartPolicy.Name. */
static void
restart_policy(const char *id, char *name, size_t len)
{
	static char body[65536];
	char url[256];
	CURL *c = curl_easy_init();
	cJSON *j;
	const char *s;

	body[0] = '\0';
	snprintf(url, sizeof(url), "http://localhost/v1.41/containers/%s/json",
	    id);
	cr_assert_not_null(c);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, SOCK);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	cr_assert_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_cleanup(c);
	j = cJSON_Parse(body);
	s = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(j, "HostConfig"), "RestartPolicy"), "Name"));
	snprintf(name, len, "%s", s != NULL ? s : "?");
	cJSON_Delete(j);
}

Test(docker, update_restart_policy)
{
	char id[80], policy[32], missing[128];
	int rc;

	make(&(struct spec){ .suffix = "restart" }, id, sizeof(id), NULL);
	restart_policy(id, policy, sizeof(policy));
	cr_assert_str_eq(policy, "no");
	cr_assert_eq(docker_update_restart(D, id, "unless-stopped", err,
	    sizeof(err)), 0, "%s", err);
	restart_policy(id, policy, sizeof(policy));
	cr_assert_str_eq(policy, "unless-stopped");
	cr_assert_eq(docker_update_restart(D, id, "no", err, sizeof(err)), 0,
	    "%s", err);
	restart_policy(id, policy, sizeof(policy));
	cr_assert_str_eq(policy, "no");

	rc = docker_update_restart(D, id, "sometimes", err, sizeof(err));
	cr_assert_eq(rc, FERR_DOCKER, "rc %d: %s", rc, err);
	cr_assert_not_null(strstr(err, id), "%s", err);
	cr_log_info("bad policy: %s", err);
	snprintf(missing, sizeof(missing), "%s-missing", prefix);
	rc = docker_update_restart(D, missing, "no", err, sizeof(err));
	cr_assert_eq(rc, FERR_NOTFOUND, "rc %d: %s", rc, err);
	cr_assert_not_null(strstr(err, missing), "%s", err);
}

Test(docker, create_errors)
{
	char id[80], name[128];
	struct docker_label label = { "ferry.host", host };
	struct docker_create_opts o = { .labels = &label, .nlabels = 1 };
	int rc;

	make(&(struct spec){ .suffix = "taken" }, id, sizeof(id), name);
	o.name = name;
	o.image = WEB1;
	rc = docker_create(D, &o, id, sizeof(id), err, sizeof(err));
	cr_assert_eq(rc, FERR_EXISTS, "rc %d: %s", rc, err);
	cr_assert_not_null(strstr(err, "create "), "%s", err);
	cr_assert_not_null(strstr(err, name), "%s", err);
	cr_assert_not_null(strstr(err, "already in use"), "%s", err);

	/* A missing image is not pulled by create. */
	cr_assert_lt(nmade, MAX_MADE);
	snprintf(made[nmade], sizeof(made[nmade]), "%s-noimage", prefix);
	o.name = made[nmade++];
	o.image = REPO "@sha256:"
	    "0000000000000000000000000000000000000000000000000000000000000000";
	rc = docker_create(D, &o, id, sizeof(id), err, sizeof(err));
	cr_assert_eq(rc, FERR_NOTFOUND, "rc %d: %s", rc, err);
	cr_assert_not_null(strstr(err, o.name), "%s", err);
}

Test(docker, socket_not_there)
{
	const char *path = "/nonexistent/ferry-dtest.sock";
	struct docker *bad;
	struct docker_state st;
	char version[32];
	int rc;

	cr_assert_eq(docker_open(&bad, path), 0);
	rc = docker_check(bad, version, sizeof(version), err, sizeof(err));
	cr_assert_eq(rc, FERR_DOCKER, "rc %d: %s", rc, err);
	cr_assert_not_null(strstr(err, path), "%s", err);
	rc = docker_inspect(bad, "web-1", &st, err, sizeof(err));
	cr_assert_eq(rc, FERR_DOCKER, "rc %d: %s", rc, err);
	cr_assert_not_null(strstr(err, "inspect web-1: "), "%s", err);
	cr_assert_not_null(strstr(err, path), "%s", err);
	cr_assert_not_null(strstr(err, "No such file"), "%s", err);
	rc = docker_pull(bad, WEB1, "u", "p", err, sizeof(err));
	cr_assert_eq(rc, FERR_DOCKER, "rc %d: %s", rc, err);
	cr_assert_not_null(strstr(err, path), "%s", err);
	docker_close(bad);
}
