/* SPDX-License-Identifier: Apache-2.0 */
/* docker.c: the Docker Engine API over its Unix socket (libcurl, cJSON).
 * Calls block: the agent runs them on libuv's worker threads, one at a
 * time per handle.  Every request goes through request(); every failure
 * becomes one line "<call> <object>: <reason>" and one ferr code. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "docker.h"
#include "ferr.h"

/* The Engine API version ferry speaks, pinned in every path. */
#define DOCKER_API		"v" DOCKER_API_VERSION
#define DOCKER_MAX_BODY		(8u * 1024u * 1024u)
/* The longest line of a pull's progress stream. */
#define DOCKER_MAX_LINE		(64u * 1024u)
#define DOCKER_TIMEOUT_MS	30000L		/* ordinary calls */
#define DOCKER_CONNECT_MS	3000L
/* A pull has no natural bound; Docker's own registry timeouts end a dead
 * one long before this. */
#define DOCKER_PULL_TIMEOUT_MS	(30L * 60L * 1000L)
/* docker_stop: how long past the stop timeout to wait for Docker. */
#define DOCKER_STOP_GRACE_MS	30000L

struct docker {
	CURL *curl;
	char socket_path[512];
};

struct buf {
	char *data;		/* NUL-terminated when not NULL */
	size_t len;
};

/*
 * One request.  The caller fills the first block; request() fills the
 * rest.  A 2xx body goes to stream() as it arrives when stream is set, and
 * into b otherwise; an error body always goes into b, for its "message".
 */
struct req {
	const char *what;	/* the call, for messages: "pull" */
	const char *obj;	/* what it is about: image ref, container */
	const char *method;	/* "GET", "POST", "DELETE" */
	const char *path;	/* after /v1.41, query included */
	const char *body;	/* JSON, or NULL */
	const char *auth;	/* X-Registry-Auth value or NULL; a secret */
	long timeout_ms;
	int (*stream)(void *arg, const char *p, size_t n);
	void *stream_arg;
	/* Set: the call gives up (FERR_CLOSED) soon after it turns non-zero,
	 * even while Docker sends nothing (checked about once a second). */
	const atomic_int *cancel;

	long status;		/* HTTP status */
	struct buf b;
	int abort_rc;		/* why the body was refused, or 0 */
	CURL *curl;
};

static int fail(int rc, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* fail writes one line into err (control characters become spaces,
 * trailing blanks go) and returns rc. */
static int
fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	size_t n;
	char *p;

	if (err == NULL || errlen == 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	for (p = err; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	n = strlen(err);
	while (n > 0 && err[n - 1] == ' ')
		err[--n] = '\0';
	return rc;
}

static int
buf_add(struct buf *b, const char *p, size_t n, size_t max)
{
	char *d;

	if (n > max || b->len > max - n)
		return FERR_TOOBIG;
	if ((d = realloc(b->data, b->len + n + 1)) == NULL)
		return FERR_NOMEM;
	memcpy(d + b->len, p, n);
	b->data = d;
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct req *r = arg;
	size_t add = size * n;
	long status = 0;
	int rc;

	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	if (r->stream != NULL && status >= 200 && status <= 299)
		rc = r->stream(r->stream_arg, p, add);
	else
		rc = buf_add(&r->b, p, add, DOCKER_MAX_BODY);
	if (rc != 0) {
		r->abort_rc = rc;
		return 0;
	}
	return add;
}

static int
on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct req *r = arg;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return atomic_load(r->cancel) ? 1 : 0;
}

/* wipe_headers overwrites header text before it goes back to the heap: one
 * of them may carry registry credentials. */
static void
wipe_headers(struct curl_slist *h)
{
	struct curl_slist *i;

	for (i = h; i != NULL; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(h);
}

/*
 * request performs r against the daemon.  It returns 0 once Docker has
 * answered, whatever the status (r->status; the caller judges it), and an
 * error when there was no complete answer: FERR_TIMEOUT past
 * r->timeout_ms, FERR_DOCKER when the socket does not answer.  On error
 * r->b is empty; otherwise the caller frees it with buf_free.
 */
static int
request(struct docker *d, struct req *r, char *err, size_t errlen)
{
	struct curl_slist *hdrs = NULL, *h;
	char url[2048], *authhdr, why[128];
	const char *sep = *r->obj != '\0' ? " " : "";
	long oserr = 0;
	CURLcode cc;
	int rc = 0;

	r->status = 0;
	r->b.data = NULL;
	r->b.len = 0;
	r->abort_rc = 0;
	r->curl = d->curl;
	if (snprintf(url, sizeof(url), "http://localhost/%s%s", DOCKER_API,
	    r->path) >= (int)sizeof(url))
		return fail(FERR_ARG, err, errlen, "%s%s%s: request too long",
		    r->what, sep, r->obj);

	curl_easy_reset(d->curl);
	curl_easy_setopt(d->curl, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
	curl_easy_setopt(d->curl, CURLOPT_URL, url);
	curl_easy_setopt(d->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(d->curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(d->curl, CURLOPT_TIMEOUT_MS, r->timeout_ms);
	curl_easy_setopt(d->curl, CURLOPT_CONNECTTIMEOUT_MS,
	    DOCKER_CONNECT_MS < r->timeout_ms ? DOCKER_CONNECT_MS :
	    r->timeout_ms);
	curl_easy_setopt(d->curl, CURLOPT_NOSIGNAL, 1L);
	if (r->cancel != NULL) {
		curl_easy_setopt(d->curl, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(d->curl, CURLOPT_XFERINFOFUNCTION,
		    on_progress);
		curl_easy_setopt(d->curl, CURLOPT_XFERINFODATA, r);
	}
	if (strcmp(r->method, "POST") == 0) {
		const char *body = r->body != NULL ? r->body : "";

		curl_easy_setopt(d->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(d->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(d->curl, CURLOPT_POSTFIELDSIZE,
		    (long)strlen(body));
		/* No "Expect: 100-continue" round trip for larger bodies. */
		if ((h = curl_slist_append(hdrs, "Expect:")) == NULL)
			goto nomem;
		hdrs = h;
	} else if (strcmp(r->method, "GET") != 0)
		curl_easy_setopt(d->curl, CURLOPT_CUSTOMREQUEST, r->method);
	if (r->body != NULL) {
		h = curl_slist_append(hdrs, "Content-Type: application/json");
		if (h == NULL)
			goto nomem;
		hdrs = h;
	}
	if (r->auth != NULL) {
		size_t len = strlen("X-Registry-Auth: ") + strlen(r->auth) + 1;

		if ((authhdr = malloc(len)) == NULL)
			goto nomem;
		snprintf(authhdr, len, "X-Registry-Auth: %s", r->auth);
		h = curl_slist_append(hdrs, authhdr);
		explicit_bzero(authhdr, len);
		free(authhdr);
		if (h == NULL)
			goto nomem;
		hdrs = h;
	}
	if (hdrs != NULL)
		curl_easy_setopt(d->curl, CURLOPT_HTTPHEADER, hdrs);

	cc = curl_easy_perform(d->curl);
	curl_easy_setopt(d->curl, CURLOPT_HTTPHEADER, NULL);
	wipe_headers(hdrs);
	hdrs = NULL;
	curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (cc == CURLE_OK)
		return 0;

	if (r->cancel != NULL && atomic_load(r->cancel))
		rc = fail(FERR_CLOSED, err, errlen, "%s%s%s: given up",
		    r->what, sep, r->obj);
	else if (r->abort_rc == FERR_TOOBIG)
		rc = fail(FERR_TOOBIG, err, errlen, "%s%s%s: Docker's answer "
		    "is too large", r->what, sep, r->obj);
	else if (r->abort_rc != 0)
		rc = fail(r->abort_rc, err, errlen, "%s%s%s: out of memory",
		    r->what, sep, r->obj);
	else if (cc == CURLE_OPERATION_TIMEDOUT)
		rc = fail(FERR_TIMEOUT, err, errlen, "%s%s%s: no answer from "
		    "Docker within %ld ms", r->what, sep, r->obj,
		    r->timeout_ms);
	else {
		curl_easy_getinfo(d->curl, CURLINFO_OS_ERRNO, &oserr);
		why[0] = '\0';
		if (oserr != 0 && strerror_r((int)oserr, why,
		    sizeof(why)) != 0)
			why[0] = '\0';
		rc = fail(FERR_DOCKER, err, errlen, "%s%s%s: %s: %s%s%s%s",
		    r->what, sep, r->obj, d->socket_path,
		    curl_easy_strerror(cc), why[0] ? " (" : "", why,
		    why[0] ? ")" : "");
	}
	buf_free(&r->b);
	return rc;

nomem:
	wipe_headers(hdrs);
	return fail(FERR_NOMEM, err, errlen, "%s%s%s: out of memory",
	    r->what, sep, r->obj);
}

/*
 * answer_fail turns Docker's refusal into rc (FERR_NOTFOUND for 404 when
 * rc is 0, FERR_DOCKER otherwise) and a message carrying Docker's own
 * "message", and frees the answer.
 */
static int
answer_fail(struct req *r, int rc, char *err, size_t errlen)
{
	cJSON *j = cJSON_Parse(r->b.data);
	const char *m = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(j, "message"));
	const char *sep = *r->obj != '\0' ? " " : "";

	if (rc == 0)
		rc = r->status == 404 ? FERR_NOTFOUND : FERR_DOCKER;
	if (m != NULL && *m != '\0')
		fail(rc, err, errlen, "%s%s%s: %s", r->what, sep, r->obj, m);
	else
		fail(rc, err, errlen, "%s%s%s: Docker answered HTTP %ld",
		    r->what, sep, r->obj, r->status);
	cJSON_Delete(j);
	buf_free(&r->b);
	return rc;
}

/* parse_answer parses a 2xx JSON answer (and frees its text). */
static int
parse_answer(struct req *r, cJSON **out, char *err, size_t errlen)
{
	*out = cJSON_Parse(r->b.data);
	buf_free(&r->b);
	if (*out == NULL)
		return fail(FERR_DOCKER, err, errlen, "%s %s: Docker's answer "
		    "is not JSON", r->what, r->obj);
	return 0;
}

static const cJSON *
at(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

static void
copy_str(char *dst, size_t len, const cJSON *v)
{
	const char *s = cJSON_GetStringValue(v);

	snprintf(dst, len, "%s", s != NULL ? s : "");
}

/* Names that go into a URL path unescaped: a container id or name (no
 * '/'), or an image reference (with '/', ':' and '@'). */
static int
valid_name(const char *s, int image)
{
	const char *p;

	if (s == NULL || *s == '\0' || strlen(s) > 255)
		return 0;
	for (p = s; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		    *p == '-')
			continue;
		if (image && (*p == '/' || *p == ':' || *p == '@'))
			continue;
		return 0;
	}
	return 1;
}

static int
bad_name(const char *what, const char *s, int image, char *err,
    size_t errlen)
{
	return fail(FERR_ARG, err, errlen, "%s: not a valid %s: \"%.64s\"",
	    what, image ? "image reference" : "container name or id",
	    s != NULL ? s : "");
}

/*
 * split_ref splits an image reference into its repository and its tag or
 * digest ("latest" when it has neither, as the docker CLI does: an empty
 * tag would pull every tag).  A ':' counts as a tag only after the last
 * '/', so a registry's port is not taken for one.
 */
static int
split_ref(const char *ref, char *repo, size_t rlen, char *tag, size_t tlen)
{
	const char *at_sign = strchr(ref, '@'), *slash, *colon;
	size_t n;

	if (at_sign != NULL) {
		n = (size_t)(at_sign - ref);
		snprintf(tag, tlen, "%s", at_sign + 1);
	} else {
		slash = strrchr(ref, '/');
		colon = strrchr(slash != NULL ? slash : ref, ':');
		n = colon != NULL ? (size_t)(colon - ref) : strlen(ref);
		snprintf(tag, tlen, "%s", colon != NULL ? colon + 1 :
		    "latest");
	}
	if (n == 0 || n >= rlen || *tag == '\0')
		return -1;
	memcpy(repo, ref, n);
	repo[n] = '\0';
	return 0;
}

/* familiar drops what Docker leaves out of a repository's name when it
 * shows it: "docker.io/library/busybox" is "busybox". */
static const char *
familiar(const char *repo)
{
	static const char *const prefixes[] = { "docker.io/",
	    "index.docker.io/", NULL };
	size_t i, n;

	for (i = 0; prefixes[i] != NULL; i++) {
		n = strlen(prefixes[i]);
		if (strncmp(repo, prefixes[i], n) == 0) {
			repo += n;
			if (strncmp(repo, "library/", 8) == 0 &&
			    strchr(repo + 8, '/') == NULL)
				repo += 8;
			break;
		}
	}
	return repo;
}

int
docker_open(struct docker **out, const char *socket_path)
{
	static int curl_ready;
	struct docker *d;

	*out = NULL;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
			return FERR_IO;
		curl_ready = 1;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return FERR_NOMEM;
	snprintf(d->socket_path, sizeof(d->socket_path), "%s", socket_path);
	if ((d->curl = curl_easy_init()) == NULL) {
		free(d);
		return FERR_NOMEM;
	}
	*out = d;
	return 0;
}

void
docker_close(struct docker *d)
{
	if (d == NULL)
		return;
	curl_easy_cleanup(d->curl);
	free(d);
}

int
docker_check(struct docker *d, char *version, size_t vlen, char *err,
    size_t errlen)
{
	/* No object: request() names the socket when it does not answer. */
	struct req r = { .what = "version", .obj = "", .method = "GET",
	    .path = "/version", .timeout_ms = DOCKER_TIMEOUT_MS };
	const char *ver, *api;
	cJSON *j = NULL;
	int rc, major = 0, minor = 0, want_major = 0, want_minor = 0;

	if (vlen > 0)
		version[0] = '\0';
	if ((rc = request(d, &r, err, errlen)) != 0)
		return rc;
	if (r.status != 200)
		return answer_fail(&r, FERR_DOCKER, err, errlen);
	r.obj = d->socket_path;
	if ((rc = parse_answer(&r, &j, err, errlen)) != 0)
		return rc;
	ver = cJSON_GetStringValue(at(j, "Version"));
	api = cJSON_GetStringValue(at(j, "ApiVersion"));
	sscanf(DOCKER_API_VERSION, "%d.%d", &want_major, &want_minor);
	if (ver == NULL || api == NULL ||
	    sscanf(api, "%d.%d", &major, &minor) != 2) {
		rc = fail(FERR_DOCKER, err, errlen, "version %s: Docker did "
		    "not say its version", d->socket_path);
		goto out;
	}
	if (vlen > 0)
		snprintf(version, vlen, "%s", ver);
	if (major < want_major || (major == want_major &&
	    minor < want_minor))
		rc = fail(FERR_DOCKER, err, errlen, "version %s: Docker %s "
		    "speaks API %s, ferry needs %s", d->socket_path, ver, api,
		    DOCKER_API_VERSION);
out:
	cJSON_Delete(j);
	return rc;
}

/* ---- pull ----------------------------------------------------------- */

/* What the pull's progress stream (one JSON object a line) said. */
struct pull_state {
	struct buf line;	/* the line not yet ended */
	char error[512];	/* the first error reported, or "" */
};

static void
pull_line(struct pull_state *ps, const char *line)
{
	cJSON *j;
	const char *m;

	if (ps->error[0] != '\0' || strstr(line, "rror") == NULL)
		return;
	if ((j = cJSON_Parse(line)) == NULL)
		return;
	m = cJSON_GetStringValue(at(at(j, "errorDetail"), "message"));
	if (m == NULL)
		m = cJSON_GetStringValue(at(j, "error"));
	if (m != NULL)
		snprintf(ps->error, sizeof(ps->error), "%s",
		    *m != '\0' ? m : "Docker reported an error");
	cJSON_Delete(j);
}

static int
pull_feed(void *arg, const char *p, size_t n)
{
	struct pull_state *ps = arg;
	const char *nl;
	size_t k;
	int rc;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		k = nl != NULL ? (size_t)(nl - p) : n;
		if ((rc = buf_add(&ps->line, p, k, DOCKER_MAX_LINE)) != 0)
			return rc;
		if (nl == NULL)
			break;
		if (ps->line.data != NULL)
			pull_line(ps, ps->line.data);
		buf_free(&ps->line);
		p += k + 1;
		n -= k + 1;
	}
	return 0;
}

/* base64url encodes n bytes (with padding, as Docker's decoder wants). */
static char *
base64url(const unsigned char *s, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (out == NULL)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		*o++ = t[s[i] >> 2];
		*o++ = t[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		*o++ = t[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
		*o++ = t[s[i + 2] & 63];
	}
	if (i < n) {
		*o++ = t[s[i] >> 2];
		if (i + 1 < n) {
			*o++ = t[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
			*o++ = t[(s[i + 1] & 15) << 2];
		} else {
			*o++ = t[(s[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* registry_auth builds the X-Registry-Auth value; the caller wipes and
 * frees it. */
static char *
registry_auth(const char *username, const char *password)
{
	cJSON *j = cJSON_CreateObject();
	char *text = NULL, *enc = NULL;

	if (j == NULL || cJSON_AddStringToObject(j, "username",
	    username) == NULL || cJSON_AddStringToObject(j, "password",
	    password != NULL ? password : "") == NULL)
		goto out;
	if ((text = cJSON_PrintUnformatted(j)) == NULL)
		goto out;
	enc = base64url((const unsigned char *)text, strlen(text));
	explicit_bzero(text, strlen(text));
out:
	/* The password also sits in the cJSON tree: wipe it there too. */
	if (j != NULL) {
		cJSON *pw = cJSON_GetObjectItemCaseSensitive(j, "password");

		if (cJSON_IsString(pw) && pw->valuestring != NULL)
			explicit_bzero(pw->valuestring,
			    strlen(pw->valuestring));
	}
	cJSON_free(text);
	cJSON_Delete(j);
	return enc;
}

int
docker_pull(struct docker *d, const char *ref, const char *username,
    const char *password, char *err, size_t errlen)
{
	struct pull_state ps;
	struct req r = { .what = "pull", .obj = ref, .method = "POST",
	    .timeout_ms = DOCKER_PULL_TIMEOUT_MS, .stream = pull_feed,
	    .stream_arg = &ps };
	char repo[256], tag[160], path[1024], *erepo = NULL, *etag = NULL;
	char *auth = NULL;
	int rc;

	memset(&ps, 0, sizeof(ps));
	if (!valid_name(ref, 1) || split_ref(ref, repo, sizeof(repo), tag,
	    sizeof(tag)) != 0)
		return bad_name("pull", ref, 1, err, errlen);
	erepo = curl_easy_escape(d->curl, repo, 0);
	etag = curl_easy_escape(d->curl, tag, 0);
	if (erepo == NULL || etag == NULL) {
		rc = fail(FERR_NOMEM, err, errlen, "pull %s: out of memory",
		    ref);
		goto out;
	}
	snprintf(path, sizeof(path), "/images/create?fromImage=%s&tag=%s",
	    erepo, etag);
	if (username != NULL && *username != '\0') {
		if ((auth = registry_auth(username, password)) == NULL) {
			rc = fail(FERR_NOMEM, err, errlen, "pull %s: out of "
			    "memory", ref);
			goto out;
		}
		r.auth = auth;
	}
	r.path = path;
	if ((rc = request(d, &r, err, errlen)) != 0)
		goto out;
	if (r.status < 200 || r.status > 299) {
		rc = answer_fail(&r, 0, err, errlen);
		goto out;
	}
	buf_free(&r.b);
	/* A last line without its newline. */
	if (ps.line.data != NULL)
		pull_line(&ps, ps.line.data);
	if (ps.error[0] != '\0')
		rc = fail(FERR_DOCKER, err, errlen, "pull %s: %s", ref,
		    ps.error);
out:
	if (auth != NULL) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	buf_free(&ps.line);
	curl_free(erepo);
	curl_free(etag);
	return rc;
}

/* containers_json is GET /containers/json?all=1 with one filter (key:
 * [value]), parsed (a JSON array); what and obj name it in messages. */
static int
containers_json(struct docker *d, const char *what, const char *obj,
    const char *key, const char *value, cJSON **out, char *err,
    size_t errlen)
{
	struct req r = { .what = what, .obj = obj, .method = "GET",
	    .timeout_ms = DOCKER_TIMEOUT_MS };
	char path[1024], *text = NULL, *esc = NULL;
	cJSON *f = cJSON_CreateObject(), *a, *s;
	int rc;

	*out = NULL;
	if (f != NULL && (a = cJSON_AddArrayToObject(f, key)) != NULL &&
	    (s = cJSON_CreateString(value)) != NULL &&
	    !cJSON_AddItemToArray(a, s))
		cJSON_Delete(s);
	if (f != NULL)
		text = cJSON_PrintUnformatted(f);
	cJSON_Delete(f);
	if (text != NULL)
		esc = curl_easy_escape(d->curl, text, 0);
	cJSON_free(text);
	if (esc == NULL)
		return fail(FERR_NOMEM, err, errlen, "%s %s: out of memory",
		    what, obj);
	snprintf(path, sizeof(path), "/containers/json?all=1&filters=%s",
	    esc);
	curl_free(esc);
	r.path = path;
	if ((rc = request(d, &r, err, errlen)) != 0)
		return rc;
	if (r.status != 200)
		return answer_fail(&r, FERR_DOCKER, err, errlen);
	if ((rc = parse_answer(&r, out, err, errlen)) != 0)
		return rc;
	if (!cJSON_IsArray(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		return fail(FERR_DOCKER, err, errlen, "%s %s: Docker's "
		    "container list is not a JSON array", what, obj);
	}
	return 0;
}

/* image_json: GET /images/REF/json, parsed (*j: the caller frees). */
static int
image_json(struct docker *d, struct req *r, const char *ref, cJSON **j,
    char *err, size_t errlen)
{
	char path[512];
	int rc;

	snprintf(path, sizeof(path), "/images/%s/json", ref);
	r->path = path;
	if ((rc = request(d, r, err, errlen)) != 0)
		return rc;
	if (r->status != 200)
		return answer_fail(r, 0, err, errlen);
	return parse_answer(r, j, err, errlen);
}

int
docker_image_digest(struct docker *d, const char *ref, char *digest,
    size_t len, char *err, size_t errlen)
{
	struct req r = { .what = "image digest", .obj = ref, .method = "GET",
	    .timeout_ms = DOCKER_TIMEOUT_MS };
	char repo[256], tag[160];
	const cJSON *it;
	const char *want;
	cJSON *j = NULL;
	int rc;

	if (len > 0)
		digest[0] = '\0';
	if (!valid_name(ref, 1) || split_ref(ref, repo, sizeof(repo), tag,
	    sizeof(tag)) != 0)
		return bad_name("image digest", ref, 1, err, errlen);
	if ((rc = image_json(d, &r, ref, &j, err, errlen)) != 0)
		return rc;
	want = familiar(repo);
	rc = FERR_NOTFOUND;
	cJSON_ArrayForEach(it, at(j, "RepoDigests")) {
		const char *s = cJSON_GetStringValue(it);
		const char *sign = s != NULL ? strchr(s, '@') : NULL;
		size_t n = sign != NULL ? (size_t)(sign - s) : 0;

		if (sign == NULL || strlen(want) != n ||
		    strncmp(s, want, n) != 0)
			continue;
		if (strlen(s) >= len)
			rc = fail(FERR_TOOBIG, err, errlen, "image digest %s: "
			    "%s does not fit", ref, s);
		else {
			snprintf(digest, len, "%s", s);
			rc = 0;
		}
		break;
	}
	if (rc == FERR_NOTFOUND)
		fail(rc, err, errlen, "image digest %s: the image has no "
		    "registry digest for %s", ref, want);
	cJSON_Delete(j);
	return rc;
}

/* image_untag is DELETE /images/NAME without force: Docker takes that
 * one name off its image, and the image itself only when no name is left
 * (and no container uses it).  0, FERR_NOTFOUND (no such name), or
 * FERR_STATE (409: Docker refuses). */
static int
image_untag(struct docker *d, const char *name, char *err, size_t errlen)
{
	struct req r = { .what = "image remove", .obj = name,
	    .method = "DELETE", .timeout_ms = DOCKER_TIMEOUT_MS };
	char path[1024];
	int rc;

	snprintf(path, sizeof(path), "/images/%s?noprune=0", name);
	r.path = path;
	if ((rc = request(d, &r, err, errlen)) != 0)
		return rc;
	if (r.status == 404)
		return answer_fail(&r, FERR_NOTFOUND, err, errlen);
	if (r.status == 409)
		return answer_fail(&r, FERR_STATE, err, errlen);
	if (r.status != 200)
		return answer_fail(&r, FERR_DOCKER, err, errlen);
	buf_free(&r.b);
	return 0;
}

int
docker_image_remove_unused(struct docker *d, const char *ref, int *gone,
    char *err, size_t errlen)
{
	struct req r = { .what = "image remove", .obj = ref, .method = "GET",
	    .timeout_ms = DOCKER_TIMEOUT_MS };
	char id[160] = "", repo[256], tag[160], name[400];
	char (*tags)[400] = NULL;
	const cJSON *it;
	const char *want;
	cJSON *j = NULL;
	size_t ntags = 0, i;
	int rc, n;

	*gone = 0;
	if (!valid_name(ref, 1) || split_ref(ref, repo, sizeof(repo), tag,
	    sizeof(tag)) != 0)
		return bad_name("image remove", ref, 1, err, errlen);
	if ((rc = image_json(d, &r, ref, &j, err, errlen)) != 0)
		return r.status == 404 ? FERR_NOTFOUND : rc;
	copy_str(id, sizeof(id), at(j, "Id"));
	if (strncmp(id, "sha256:", 7) != 0 || strlen(id) != 71 ||
	    strspn(id + 7, "0123456789abcdef") != 64) {
		cJSON_Delete(j);
		return fail(FERR_DOCKER, err, errlen, "image remove %s: Docker "
		    "gave no image id", ref);
	}
	/* The tags of ref's own repository (the one a tag's resolution left
	 * beside the digest): ferry's too.  A name in another repository is
	 * someone else's and keeps the image. */
	want = familiar(repo);
	n = cJSON_GetArraySize(at(j, "RepoTags"));
	if (n > 0 && (tags = calloc((size_t)n, sizeof(*tags))) == NULL) {
		cJSON_Delete(j);
		return fail(FERR_NOMEM, err, errlen, "image remove %s: out of "
		    "memory", ref);
	}
	cJSON_ArrayForEach(it, at(j, "RepoTags")) {
		const char *t = cJSON_GetStringValue(it);
		char trepo[256], ttag[160];

		if (t != NULL && ntags < (size_t)n &&
		    strlen(t) < sizeof(*tags) && split_ref(t, trepo,
		    sizeof(trepo), ttag, sizeof(ttag)) == 0 &&
		    strcmp(familiar(trepo), want) == 0)
			snprintf(tags[ntags++], sizeof(*tags), "%s", t);
	}
	cJSON_Delete(j);
	j = NULL;
	/* Any container made from it, running or not, of any host or none:
	 * the image stays, every name with it. */
	if ((rc = containers_json(d, "image remove", ref, "ancestor", id, &j,
	    err, errlen)) != 0)
		goto out;
	n = cJSON_GetArraySize(j);
	cJSON_Delete(j);
	j = NULL;
	if (n != 0) {
		rc = fail(FERR_STATE, err, errlen, "image %s: a container "
		    "uses it", ref);
		goto out;
	}
	/* Name by name, never forced: Docker deletes the image with its
	 * last name, and keeps one another name still has. */
	for (i = 0; i < ntags; i++)
		if ((rc = image_untag(d, tags[i], err, errlen)) != 0 &&
		    rc != FERR_NOTFOUND)
			goto out;
	/* Untagging the repository's last tag may have taken the digest
	 * with it. */
	if ((rc = image_untag(d, ref, err, errlen)) == FERR_NOTFOUND &&
	    ntags > 0)
		rc = 0;
	if (rc != 0)
		goto out;
	memset(&r, 0, sizeof(r));
	r.what = "image remove";
	r.obj = ref;
	r.method = "GET";
	r.timeout_ms = DOCKER_TIMEOUT_MS;
	snprintf(name, sizeof(name), "%s", id);
	if (image_json(d, &r, name, &j, err, errlen) != 0 && r.status == 404)
		*gone = 1;
	cJSON_Delete(j);
	j = NULL;
	err[0] = '\0';
out:
	cJSON_Delete(j);
	free(tags);
	return rc;
}

int
docker_image_user(struct docker *d, const char *ref, char *user, size_t len,
    char *err, size_t errlen)
{
	struct req r = { .what = "image user", .obj = ref, .method = "GET",
	    .timeout_ms = DOCKER_TIMEOUT_MS };
	const char *u;
	cJSON *j = NULL;
	int rc;

	if (len > 0)
		user[0] = '\0';
	if (!valid_name(ref, 1))
		return bad_name("image user", ref, 1, err, errlen);
	if ((rc = image_json(d, &r, ref, &j, err, errlen)) != 0)
		return rc;
	u = cJSON_GetStringValue(at(at(j, "Config"), "User"));
	snprintf(user, len, "%s", u != NULL ? u : "");
	cJSON_Delete(j);
	return 0;
}

/* ---- containers ----------------------------------------------------- */

/* add_strings adds key: [v...] when v is not NULL; -1 when out of
 * memory. */
static int
add_strings(cJSON *o, const char *key, const char *const *v)
{
	cJSON *a, *s;

	if (v == NULL)
		return 0;
	if ((a = cJSON_AddArrayToObject(o, key)) == NULL)
		return -1;
	for (; *v != NULL; v++) {
		if ((s = cJSON_CreateString(*v)) == NULL)
			return -1;
		if (!cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			return -1;
		}
	}
	return 0;
}

/* add_restart_policy adds RestartPolicy to o: "on-failure:3" is Name
 * on-failure, MaximumRetryCount 3.  -1 when out of memory. */
static int
add_restart_policy(cJSON *o, const char *policy)
{
	char name[64], *colon;
	cJSON *x;

	snprintf(name, sizeof(name), "%s", policy);
	if ((colon = strchr(name, ':')) != NULL)
		*colon++ = '\0';
	if ((x = cJSON_AddObjectToObject(o, "RestartPolicy")) == NULL ||
	    cJSON_AddStringToObject(x, "Name", name) == NULL)
		return -1;
	if (colon != NULL && cJSON_AddNumberToObject(x, "MaximumRetryCount",
	    atoi(colon)) == NULL)
		return -1;
	return 0;
}

/* add_port publishes container port cport/tcp on host port hport: in
 * ExposedPorts of j and PortBindings of hc.  -1 when out of memory. */
static int
add_port(cJSON *j, cJSON *hc, const char *ip, uint32_t hport, uint32_t cport)
{
	char port[24], hp[16];
	cJSON *x, *y;

	snprintf(port, sizeof(port), "%u/tcp", (unsigned)cport);
	snprintf(hp, sizeof(hp), "%u", (unsigned)hport);
	if ((x = cJSON_GetObjectItemCaseSensitive(j, "ExposedPorts")) ==
	    NULL && (x = cJSON_AddObjectToObject(j, "ExposedPorts")) == NULL)
		return -1;
	if (cJSON_GetObjectItemCaseSensitive(x, port) == NULL &&
	    cJSON_AddObjectToObject(x, port) == NULL)
		return -1;
	if ((x = cJSON_GetObjectItemCaseSensitive(hc, "PortBindings")) ==
	    NULL && (x = cJSON_AddObjectToObject(hc, "PortBindings")) == NULL)
		return -1;
	if ((y = cJSON_GetObjectItemCaseSensitive(x, port)) == NULL &&
	    (y = cJSON_AddArrayToObject(x, port)) == NULL)
		return -1;
	x = cJSON_CreateObject();
	if (x == NULL || !cJSON_AddItemToArray(y, x)) {
		cJSON_Delete(x);
		return -1;
	}
	if (cJSON_AddStringToObject(x, "HostIp", ip != NULL ? ip : "") ==
	    NULL || cJSON_AddStringToObject(x, "HostPort", hp) == NULL)
		return -1;
	return 0;
}

/* add_container_spec adds the spec's own container settings to j and its
 * HostConfig hc.  -1 when out of memory. */
static int
add_container_spec(cJSON *j, cJSON *hc, const struct docker_create_opts *o)
{
	cJSON *x, *y;
	size_t i;
	int bad = 0;

	bad |= add_strings(j, "Entrypoint", o->entrypoint) != 0;
	if (o->workdir != NULL && o->workdir[0] != '\0')
		bad |= cJSON_AddStringToObject(j, "WorkingDir", o->workdir) ==
		    NULL;
	if (o->user != NULL && o->user[0] != '\0')
		bad |= cJSON_AddStringToObject(j, "User", o->user) == NULL;
	for (i = 0; i < o->nmore_ports; i++)
		bad |= add_port(j, hc, o->publish_ip, o->more_ports[i].host,
		    o->more_ports[i].container) != 0;
	if (o->memory > 0)
		bad |= cJSON_AddNumberToObject(hc, "Memory",
		    (double)o->memory) == NULL;
	if (o->nano_cpus > 0)
		bad |= cJSON_AddNumberToObject(hc, "NanoCpus",
		    (double)o->nano_cpus) == NULL;
	if (o->log_driver != NULL && o->log_driver[0] != '\0') {
		if ((x = cJSON_AddObjectToObject(hc, "LogConfig")) == NULL ||
		    cJSON_AddStringToObject(x, "Type", o->log_driver) ==
		    NULL || (y = cJSON_AddObjectToObject(x, "Config")) ==
		    NULL)
			return -1;
		for (i = 0; i < o->nlog_opts; i++)
			bad |= cJSON_AddStringToObject(y, o->log_opts[i].key,
			    o->log_opts[i].value) == NULL;
	}
	if (o->health_test != NULL) {
		/* Docker counts these in nanoseconds. */
		if ((x = cJSON_AddObjectToObject(j, "Healthcheck")) == NULL)
			return -1;
		bad |= add_strings(x, "Test", o->health_test) != 0;
		bad |= cJSON_AddNumberToObject(x, "Interval",
		    (double)o->health_interval_ms * 1e6) == NULL;
		bad |= cJSON_AddNumberToObject(x, "Timeout",
		    (double)o->health_timeout_ms * 1e6) == NULL;
		bad |= cJSON_AddNumberToObject(x, "StartPeriod",
		    (double)o->health_start_ms * 1e6) == NULL;
		bad |= cJSON_AddNumberToObject(x, "Retries",
		    o->health_retries) == NULL;
	}
	return bad ? -1 : 0;
}

/* create_body is the JSON of POST /containers/create (heap), or NULL when
 * out of memory. */
static char *
create_body(const struct docker_create_opts *o)
{
	cJSON *j = cJSON_CreateObject(), *hc = NULL, *x, *y;
	char port[24], hport[16], *text = NULL;
	int bad = j == NULL;
	size_t i;

	if (bad)
		return NULL;
	bad |= cJSON_AddStringToObject(j, "Image", o->image) == NULL;
	bad |= add_strings(j, "Env", o->env) != 0;
	bad |= add_strings(j, "Cmd", o->cmd) != 0;
	if ((x = cJSON_AddObjectToObject(j, "Labels")) == NULL)
		bad = 1;
	for (i = 0; x != NULL && i < o->nlabels; i++)
		bad |= cJSON_AddStringToObject(x, o->labels[i].key,
		    o->labels[i].value != NULL ? o->labels[i].value : "") ==
		    NULL;
	if (o->stop_signal != NULL && *o->stop_signal != '\0')
		bad |= cJSON_AddStringToObject(j, "StopSignal",
		    o->stop_signal) == NULL;
	if (o->stop_timeout_s > 0)
		bad |= cJSON_AddNumberToObject(j, "StopTimeout",
		    o->stop_timeout_s) == NULL;
	if ((hc = cJSON_AddObjectToObject(j, "HostConfig")) == NULL) {
		bad = 1;
		goto out;
	}
	if (o->container_port != 0) {
		snprintf(port, sizeof(port), "%u/tcp",
		    (unsigned)o->container_port);
		x = cJSON_AddObjectToObject(j, "ExposedPorts");
		bad |= x == NULL || cJSON_AddObjectToObject(x, port) == NULL;
	}
	if (o->container_port != 0 && o->host_port != 0) {
		snprintf(hport, sizeof(hport), "%u", (unsigned)o->host_port);
		x = cJSON_AddObjectToObject(hc, "PortBindings");
		x = x != NULL ? cJSON_AddArrayToObject(x, port) : NULL;
		y = cJSON_CreateObject();
		if (x == NULL || y == NULL || !cJSON_AddItemToArray(x, y)) {
			cJSON_Delete(y);
			bad = 1;
		} else {
			bad |= cJSON_AddStringToObject(y, "HostIp",
			    o->publish_ip != NULL ? o->publish_ip : "") ==
			    NULL;
			bad |= cJSON_AddStringToObject(y, "HostPort", hport) ==
			    NULL;
		}
	}
	if (o->restart_policy != NULL && *o->restart_policy != '\0')
		bad |= add_restart_policy(hc, o->restart_policy) != 0;
	if (o->privileged)
		bad |= cJSON_AddTrueToObject(hc, "Privileged") == NULL;
	if (o->network_mode != NULL && *o->network_mode != '\0')
		bad |= cJSON_AddStringToObject(hc, "NetworkMode",
		    o->network_mode) == NULL;
	if (o->pid_mode != NULL && *o->pid_mode != '\0')
		bad |= cJSON_AddStringToObject(hc, "PidMode", o->pid_mode) ==
		    NULL;
	bad |= add_strings(hc, "CapAdd", o->cap_add) != 0;
	bad |= add_strings(hc, "Binds", o->binds) != 0;
	/* Named volumes go in Binds too ("name:/dst"): Docker makes a
	 * volume missing on first use. */
	if (o->volumes != NULL) {
		x = cJSON_GetObjectItemCaseSensitive(hc, "Binds");
		if (x == NULL)
			bad |= add_strings(hc, "Binds", o->volumes) != 0;
		for (i = 0; x != NULL && o->volumes[i] != NULL; i++) {
			y = cJSON_CreateString(o->volumes[i]);
			if (y == NULL || !cJSON_AddItemToArray(x, y)) {
				cJSON_Delete(y);
				bad = 1;
			}
		}
	}
	bad |= add_container_spec(j, hc, o) != 0;
out:
	if (!bad)
		text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return text;
}

int
docker_create(struct docker *d, const struct docker_create_opts *o,
    char *id, size_t idlen, char *err, size_t errlen)
{
	struct req r = { .what = "create", .obj = o->name, .method = "POST",
	    .timeout_ms = DOCKER_TIMEOUT_MS };
	char path[512], *body = NULL;
	const char *cid;
	cJSON *j = NULL;
	int rc;

	if (idlen > 0)
		id[0] = '\0';
	if (!valid_name(o->name, 0))
		return bad_name("create", o->name, 0, err, errlen);
	if (!valid_name(o->image, 1))
		return fail(FERR_ARG, err, errlen, "create %s: not a valid "
		    "image reference: \"%.64s\"", o->name,
		    o->image != NULL ? o->image : "");
	if ((body = create_body(o)) == NULL)
		return fail(FERR_NOMEM, err, errlen, "create %s: out of "
		    "memory", o->name);
	snprintf(path, sizeof(path), "/containers/create?name=%s", o->name);
	r.path = path;
	r.body = body;
	rc = request(d, &r, err, errlen);
	cJSON_free(body);
	if (rc != 0)
		return rc;
	if (r.status != 201)
		return answer_fail(&r, r.status == 409 ? FERR_EXISTS : 0, err,
		    errlen);
	if ((rc = parse_answer(&r, &j, err, errlen)) != 0)
		return rc;
	cid = cJSON_GetStringValue(at(j, "Id"));
	if (cid == NULL || strlen(cid) >= idlen)
		rc = fail(FERR_DOCKER, err, errlen, "create %s: Docker "
		    "answered without a usable id", o->name);
	else
		snprintf(id, idlen, "%s", cid);
	cJSON_Delete(j);
	return rc;
}

/* container_post runs POST /containers/{id}/<verb>; 204 and 304 (already
 * in that state) are success. */
static int
container_post(struct docker *d, const char *what, const char *id,
    const char *query, long timeout_ms, char *err, size_t errlen)
{
	struct req r = { .what = what, .obj = id, .method = "POST",
	    .timeout_ms = timeout_ms };
	char path[512];
	int rc;

	if (!valid_name(id, 0))
		return bad_name(what, id, 0, err, errlen);
	snprintf(path, sizeof(path), "/containers/%s/%s%s", id, what, query);
	r.path = path;
	if ((rc = request(d, &r, err, errlen)) != 0)
		return rc;
	if (r.status != 204 && r.status != 304)
		return answer_fail(&r, 0, err, errlen);
	buf_free(&r.b);
	return 0;
}

int
docker_start(struct docker *d, const char *id, char *err, size_t errlen)
{
	return container_post(d, "start", id, "", DOCKER_TIMEOUT_MS, err,
	    errlen);
}

int
docker_stop(struct docker *d, const char *id, uint32_t timeout_s,
    char *err, size_t errlen)
{
	char query[32];

	snprintf(query, sizeof(query), "?t=%u", (unsigned)timeout_s);
	return container_post(d, "stop", id, query,
	    (long)timeout_s * 1000L + DOCKER_STOP_GRACE_MS, err, errlen);
}

int
docker_update_restart(struct docker *d, const char *id,
    const char *policy, char *err, size_t errlen)
{
	struct req r = { .what = "update restart policy", .obj = id,
	    .method = "POST", .timeout_ms = DOCKER_TIMEOUT_MS };
	char path[512], *body = NULL;
	cJSON *j;
	int rc;

	if (!valid_name(id, 0))
		return bad_name("update restart policy", id, 0, err, errlen);
	if (policy == NULL || *policy == '\0')
		return fail(FERR_ARG, err, errlen, "update restart policy %s: "
		    "no policy", id);
	if ((j = cJSON_CreateObject()) != NULL &&
	    add_restart_policy(j, policy) == 0)
		body = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (body == NULL)
		return fail(FERR_NOMEM, err, errlen, "update restart policy "
		    "%s: out of memory", id);
	snprintf(path, sizeof(path), "/containers/%s/update", id);
	r.path = path;
	r.body = body;
	rc = request(d, &r, err, errlen);
	cJSON_free(body);
	if (rc != 0)
		return rc;
	if (r.status != 200)
		return answer_fail(&r, 0, err, errlen);
	buf_free(&r.b);
	return 0;
}

int
docker_remove(struct docker *d, const char *id, int force, char *err,
    size_t errlen)
{
	struct req r = { .what = "remove", .obj = id, .method = "DELETE",
	    .timeout_ms = DOCKER_TIMEOUT_MS };
	char path[512];
	int rc;

	if (!valid_name(id, 0))
		return bad_name("remove", id, 0, err, errlen);
	snprintf(path, sizeof(path), "/containers/%s?force=%d&v=1", id,
	    force ? 1 : 0);
	r.path = path;
	if ((rc = request(d, &r, err, errlen)) != 0)
		return rc;
	if (r.status != 204 && r.status != 404)
		return answer_fail(&r, 0, err, errlen);
	buf_free(&r.b);
	return 0;
}

/* inspect_json is GET /containers/{id}/json, parsed. */
static int
inspect_json(struct docker *d, const char *what, const char *id,
    cJSON **out, char *err, size_t errlen)
{
	struct req r = { .what = what, .obj = id, .method = "GET",
	    .timeout_ms = DOCKER_TIMEOUT_MS };
	char path[512];
	int rc;

	*out = NULL;
	if (!valid_name(id, 0))
		return bad_name(what, id, 0, err, errlen);
	snprintf(path, sizeof(path), "/containers/%s/json", id);
	r.path = path;
	if ((rc = request(d, &r, err, errlen)) != 0)
		return rc;
	if (r.status != 200)
		return answer_fail(&r, 0, err, errlen);
	return parse_answer(&r, out, err, errlen);
}

static void
state_from_json(const cJSON *j, struct docker_state *st)
{
	const cJSON *state = at(j, "State"), *config = at(j, "Config");
	const cJSON *labels = at(config, "Labels"), *health, *log, *pb;
	const char *name = cJSON_GetStringValue(at(j, "Name"));
	char num[16];
	size_t n;

	memset(st, 0, sizeof(*st));
	copy_str(st->id, sizeof(st->id), at(j, "Id"));
	snprintf(st->name, sizeof(st->name), "%s", name == NULL ? "" :
	    name + (name[0] == '/'));
	copy_str(st->image, sizeof(st->image), at(config, "Image"));
	copy_str(st->status, sizeof(st->status), at(state, "Status"));
	st->running = cJSON_IsTrue(at(state, "Running"));
	if (cJSON_IsNumber(at(state, "ExitCode")))
		st->exit_code = at(state, "ExitCode")->valueint;
	health = at(state, "Health");
	copy_str(st->health, sizeof(st->health), at(health, "Status"));
	log = at(health, "Log");
	if (cJSON_IsArray(log) && cJSON_GetArraySize(log) > 0) {
		copy_str(st->health_output, sizeof(st->health_output),
		    at(cJSON_GetArrayItem(log, cJSON_GetArraySize(log) - 1),
		    "Output"));
		n = strlen(st->health_output);
		while (n > 0 && (st->health_output[n - 1] == '\n' ||
		    st->health_output[n - 1] == '\r' ||
		    st->health_output[n - 1] == ' '))
			st->health_output[--n] = '\0';
	}
	copy_str(st->service, sizeof(st->service), at(labels,
	    "ferry.service"));
	copy_str(st->revision, sizeof(st->revision), at(labels,
	    "ferry.revision"));
	copy_str(st->deployment, sizeof(st->deployment), at(labels,
	    "ferry.deployment"));
	copy_str(st->host, sizeof(st->host), at(labels, "ferry.host"));
	copy_str(st->command, sizeof(st->command), at(labels,
	    "ferry.command"));
	copy_str(num, sizeof(num), at(labels, "ferry.port"));
	st->port = (uint32_t)strtoul(num, NULL, 10);
	if (st->port > 65535)
		st->port = 0;
	copy_str(num, sizeof(num), at(labels, "ferry.listen"));
	st->listen = (uint32_t)strtoul(num, NULL, 10);
	if (st->listen > 65535)
		st->listen = 0;
	copy_str(num, sizeof(num), at(labels, "ferry.weight"));
	st->weight = (uint32_t)strtoul(num, NULL, 10);
	st->weighted = num[0] >= '0' && num[0] <= '9' && st->weight <= 100;
	if (!st->weighted)
		st->weight = 0;
	copy_str(st->proxy, sizeof(st->proxy), at(labels, "ferry.proxy"));
	copy_str(st->more_ports, sizeof(st->more_ports), at(labels,
	    "ferry.ports"));
	copy_str(st->restart, sizeof(st->restart), at(labels,
	    "ferry.restart"));
	copy_str(st->health_check, sizeof(st->health_check), at(labels,
	    "ferry.health"));
	if (cJSON_IsNumber(at(config, "StopTimeout")) &&
	    at(config, "StopTimeout")->valuedouble > 0 &&
	    at(config, "StopTimeout")->valuedouble <= 3600)
		st->stop_timeout_s = (uint32_t)at(config,
		    "StopTimeout")->valuedouble;
	cJSON_ArrayForEach(pb, at(at(j, "HostConfig"), "PortBindings")) {
		const cJSON *b;

		cJSON_ArrayForEach(b, pb) {
			copy_str(num, sizeof(num), at(b, "HostPort"));
			if (st->published == 0 && strtoul(num, NULL, 10) > 0 &&
			    strtoul(num, NULL, 10) <= 65535)
				st->published = (uint32_t)strtoul(num, NULL,
				    10);
		}
	}
	/* The default bridge says it at the top; any network in the list. */
	copy_str(st->ip, sizeof(st->ip), at(at(j, "NetworkSettings"),
	    "IPAddress"));
	if (st->ip[0] == '\0') {
		const cJSON *net;

		cJSON_ArrayForEach(net, at(at(j, "NetworkSettings"),
		    "Networks")) {
			copy_str(st->ip, sizeof(st->ip), at(net, "IPAddress"));
			if (st->ip[0] != '\0')
				break;
		}
	}
}

int
docker_inspect(struct docker *d, const char *id, struct docker_state *st,
    char *err, size_t errlen)
{
	cJSON *j;
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = inspect_json(d, "inspect", id, &j, err, errlen)) != 0)
		return rc;
	state_from_json(j, st);
	cJSON_Delete(j);
	return 0;
}

/* list_json is GET /containers/json for every container labelled
 * ferry.host=host, parsed (a JSON array). */
static int
list_json(struct docker *d, const char *what, const char *host,
    cJSON **out, char *err, size_t errlen)
{
	char label[256];

	*out = NULL;
	if (host == NULL || *host == '\0')
		return fail(FERR_ARG, err, errlen, "%s: no host name", what);
	snprintf(label, sizeof(label), "ferry.host=%s", host);
	return containers_json(d, what, host, "label", label, out, err,
	    errlen);
}

int
docker_list_host(struct docker *d, const char *host,
    struct docker_state **out, size_t *n, char *err, size_t errlen)
{
	struct docker_state *st = NULL;
	cJSON *arr = NULL;
	const cJSON *it;
	size_t cap, i = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = list_json(d, "list", host, &arr, err, errlen)) != 0)
		return rc;
	cap = (size_t)cJSON_GetArraySize(arr);
	if ((st = calloc(cap + 1, sizeof(*st))) == NULL) {
		rc = fail(FERR_NOMEM, err, errlen, "list %s: out of memory",
		    host);
		goto out;
	}
	/* The list lacks exit codes and health output: inspect each. */
	cJSON_ArrayForEach(it, arr) {
		const char *id = cJSON_GetStringValue(at(it, "Id"));

		if (id == NULL || i >= cap)
			continue;
		rc = docker_inspect(d, id, &st[i], err, errlen);
		if (rc == FERR_NOTFOUND) {	/* removed since the list */
			rc = 0;
			continue;
		}
		if (rc != 0)
			goto out;
		i++;
	}
	*out = st;
	*n = i;
	st = NULL;
out:
	free(st);
	cJSON_Delete(arr);
	return rc;
}

void
docker_list_free(Ferry__Container **list, size_t n)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < n; i++) {
		Ferry__Container *c = list[i];

		if (c == NULL)
			continue;
		free(c->id);
		free(c->name);
		free(c->image);
		free(c->service);
		free(c->revision);
		free(c->state);
		free(c->digest);
		free(c->health);
		free(c->deployment);
		free(c);
	}
	free(list);
}

static char *
dup_str(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(at(o, key));

	return strdup(s != NULL ? s : "");
}

/* health_of reads Docker's HEALTHCHECK verdict from a list entry's Status
 * ("Up 5 minutes (healthy)"). */
static const char *
health_of(const char *status)
{
	if (status == NULL)
		return "";
	if (strstr(status, "(unhealthy)") != NULL)
		return "unhealthy";
	if (strstr(status, "(healthy)") != NULL)
		return "healthy";
	if (strstr(status, "(health: starting)") != NULL)
		return "starting";
	return "";
}

/* exit_of reads an exited container's code from a list entry's Status
 * ("Exited (137) 5 seconds ago"), for drift's "exited (code 137)". */
static void
exit_of(const char *status, Ferry__Container *c)
{
	char *end;
	long v;

	if (status == NULL || strncmp(status, "Exited (", 8) != 0)
		return;
	v = strtol(status + 8, &end, 10);
	if (end == status + 8 || *end != ')' || v < -255 || v > 255)
		return;
	c->exited = 1;
	c->exit_code = (int32_t)v;
}

/*
 * image_as_created is the image reference a container was created with.
 * The list shows it while it still names the container's image; once the
 * image is gone or the name moved on, the list shows the image id and only
 * the container's own config keeps the reference.
 */
static char *
image_as_created(struct docker *d, const cJSON *it)
{
	const char *image = cJSON_GetStringValue(at(it, "Image"));
	const char *id = cJSON_GetStringValue(at(it, "Id"));
	char err[8];
	cJSON *j = NULL;
	char *s;

	if (image != NULL && strncmp(image, "sha256:", 7) == 0 &&
	    id != NULL && inspect_json(d, "inspect", id, &j, err,
	    sizeof(err)) == 0) {
		s = dup_str(at(j, "Config"), "Image");
		cJSON_Delete(j);
		return s;
	}
	return strdup(image != NULL ? image : "");
}

int
docker_list(struct docker *d, const char *host, Ferry__Container ***out,
    size_t *n, char *err, size_t errlen)
{
	cJSON *arr = NULL;
	const cJSON *it;
	Ferry__Container **list = NULL;
	size_t i = 0, cap;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = list_json(d, "list", host, &arr, err, errlen)) != 0)
		return rc;
	cap = (size_t)cJSON_GetArraySize(arr);
	if ((list = calloc(cap + 1, sizeof(*list))) == NULL)
		goto nomem;
	cJSON_ArrayForEach(it, arr) {
		const cJSON *labels = at(it, "Labels");
		const char *first = cJSON_GetStringValue(
		    cJSON_GetArrayItem(at(it, "Names"), 0));
		Ferry__Container *c;

		if (i >= cap)
			break;
		if ((c = malloc(sizeof(*c))) == NULL)
			goto nomem;
		ferry__container__init(c);
		list[i++] = c;
		/* Every field becomes heap (or NULL) before the check, so
		 * docker_list_free can free them all. */
		c->id = dup_str(it, "Id");
		c->name = strdup(first != NULL ? first + (first[0] == '/') :
		    "");
		c->image = dup_str(it, "Image");
		c->service = dup_str(labels, "ferry.service");
		c->revision = dup_str(labels, "ferry.revision");
		c->state = dup_str(it, "State");
		c->digest = image_as_created(d, it);
		c->health = strdup(health_of(cJSON_GetStringValue(at(it,
		    "Status"))));
		c->deployment = dup_str(labels, "ferry.deployment");
		exit_of(cJSON_GetStringValue(at(it, "Status")), c);
		if (!c->id || !c->name || !c->image || !c->service ||
		    !c->revision || !c->state || !c->digest || !c->health ||
		    !c->deployment)
			goto nomem;
	}
	cJSON_Delete(arr);
	*out = list;
	*n = i;
	return 0;

nomem:
	docker_list_free(list, i);
	cJSON_Delete(arr);
	return fail(FERR_NOMEM, err, errlen, "list %s: out of memory", host);
}

/* ---- logs and exec: Docker's multiplexed stream ---------------------- */

/*
 * Without a TTY, Docker frames stdout and stderr: an 8-byte header (stream
 * type, three zero bytes, big-endian payload length) before each payload.
 * demux_feed strips the framing (or passes raw bytes through for a TTY)
 * and keeps the first cap bytes of payload.
 */
struct demux {
	int raw;
	unsigned char hdr[8];
	size_t nhdr;
	uint32_t left;		/* payload bytes left in this frame */
	struct buf out;
	size_t cap;
	int truncated;
};

static int
demux_keep(struct demux *m, const char *p, size_t n)
{
	size_t room = m->cap - m->out.len;

	if (n > room) {
		m->truncated = 1;
		n = room;
	}
	return n > 0 ? buf_add(&m->out, p, n, m->cap) : 0;
}

static int
demux_feed(void *arg, const char *p, size_t n)
{
	struct demux *m = arg;
	size_t k;
	int rc;

	if (m->raw)
		return demux_keep(m, p, n);
	while (n > 0) {
		if (m->left == 0) {
			k = sizeof(m->hdr) - m->nhdr;
			k = k < n ? k : n;
			memcpy(m->hdr + m->nhdr, p, k);
			m->nhdr += k;
			p += k;
			n -= k;
			if (m->nhdr < sizeof(m->hdr))
				break;
			m->nhdr = 0;
			m->left = (uint32_t)m->hdr[4] << 24 |
			    (uint32_t)m->hdr[5] << 16 |
			    (uint32_t)m->hdr[6] << 8 | m->hdr[7];
			continue;
		}
		k = m->left < n ? m->left : n;
		if ((rc = demux_keep(m, p, k)) != 0)
			return rc;
		m->left -= (uint32_t)k;
		p += k;
		n -= k;
	}
	return 0;
}

int
docker_logs(struct docker *d, const char *id, int tail, char **out,
    char *err, size_t errlen)
{
	struct demux m;
	struct req r = { .what = "logs", .obj = id, .method = "GET",
	    .timeout_ms = DOCKER_TIMEOUT_MS, .stream = demux_feed,
	    .stream_arg = &m };
	char path[512], ntail[16];
	cJSON *j;
	int rc;

	*out = NULL;
	memset(&m, 0, sizeof(m));
	m.cap = DOCKER_MAX_BODY;
	/* Framed or not depends on the container's TTY. */
	if ((rc = inspect_json(d, "logs", id, &j, err, errlen)) != 0)
		return rc;
	m.raw = cJSON_IsTrue(at(at(j, "Config"), "Tty"));
	cJSON_Delete(j);
	if (tail < 0)
		snprintf(ntail, sizeof(ntail), "all");
	else
		snprintf(ntail, sizeof(ntail), "%d", tail);
	snprintf(path, sizeof(path), "/containers/%s/logs?stdout=1&stderr=1"
	    "&tail=%s", id, ntail);
	r.path = path;
	if ((rc = request(d, &r, err, errlen)) != 0)
		goto out;
	if (r.status != 200) {
		rc = answer_fail(&r, 0, err, errlen);
		goto out;
	}
	buf_free(&r.b);
	if (m.out.data == NULL && (m.out.data = strdup("")) == NULL) {
		rc = fail(FERR_NOMEM, err, errlen, "logs %s: out of memory",
		    id);
		goto out;
	}
	*out = m.out.data;
	m.out.data = NULL;
out:
	buf_free(&m.out);
	return rc;
}

int
docker_logs_read(struct docker *d, const char *id,
    const struct docker_logs_opts *o,
    int (*data)(void *arg, const char *p, size_t n), void *arg, int *tty,
    char *err, size_t errlen)
{
	struct req r = { .what = "logs", .obj = id, .method = "GET",
	    .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms :
	    DOCKER_TIMEOUT_MS, .stream = data, .stream_arg = arg,
	    .cancel = o->cancel };
	char path[512], ntail[16], since[48];
	cJSON *j;
	int rc;

	if ((rc = inspect_json(d, "logs", id, &j, err, errlen)) != 0)
		return rc;
	*tty = cJSON_IsTrue(at(at(j, "Config"), "Tty"));
	cJSON_Delete(j);
	if (o->tail < 0)
		snprintf(ntail, sizeof(ntail), "all");
	else
		snprintf(ntail, sizeof(ntail), "%d", o->tail);
	/* Docker takes since as seconds with up to nine decimals. */
	snprintf(since, sizeof(since), "%llu.%09llu",
	    (unsigned long long)(o->since_ns / 1000000000u),
	    (unsigned long long)(o->since_ns % 1000000000u));
	snprintf(path, sizeof(path), "/containers/%s/logs?stdout=1&stderr=1"
	    "&timestamps=1&tail=%s%s%s%s", id, ntail,
	    o->since_ns ? "&since=" : "", o->since_ns ? since : "",
	    o->follow ? "&follow=1" : "");
	r.path = path;
	if ((rc = request(d, &r, err, errlen)) != 0)
		return rc;
	if (r.status != 200)
		return answer_fail(&r, 0, err, errlen);
	buf_free(&r.b);
	return 0;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* exec_result reads an exec's exit code: 0 when it has exited. */
static int
exec_result(struct docker *d, const char *eid, const char *id,
    int *running, int *exit_code, char *err, size_t errlen)
{
	struct req r = { .what = "exec", .obj = id, .method = "GET",
	    .timeout_ms = DOCKER_TIMEOUT_MS };
	char path[256];
	cJSON *j;
	int rc;

	snprintf(path, sizeof(path), "/exec/%s/json", eid);
	r.path = path;
	if ((rc = request(d, &r, err, errlen)) != 0)
		return rc;
	if (r.status != 200)
		return answer_fail(&r, 0, err, errlen);
	if ((rc = parse_answer(&r, &j, err, errlen)) != 0)
		return rc;
	*running = cJSON_IsTrue(at(j, "Running"));
	if (cJSON_IsNumber(at(j, "ExitCode")))
		*exit_code = at(j, "ExitCode")->valueint;
	cJSON_Delete(j);
	return 0;
}

int
docker_exec(struct docker *d, const char *id, const char *const *argv,
    uint32_t timeout_ms, int *exit_code, char *out, size_t outlen, char *err,
    size_t errlen)
{
	struct demux m;
	struct req r = { .what = "exec", .obj = id, .method = "POST",
	    .timeout_ms = DOCKER_TIMEOUT_MS };
	char path[512], eid[80];
	const char *s;
	char *body = NULL;
	cJSON *j = NULL;
	long deadline = now_ms() + (long)timeout_ms, left;
	int rc, running = 1;
	struct timespec pause = { 0, 10 * 1000 * 1000 };

	*exit_code = -1;
	if (outlen > 0)
		out[0] = '\0';
	memset(&m, 0, sizeof(m));
	m.cap = outlen > 0 ? outlen - 1 : 0;
	if (!valid_name(id, 0))
		return bad_name("exec", id, 0, err, errlen);
	if (argv == NULL || argv[0] == NULL)
		return fail(FERR_ARG, err, errlen, "exec %s: no command", id);

	/* 1. Make the exec instance. */
	if ((j = cJSON_CreateObject()) == NULL ||
	    cJSON_AddTrueToObject(j, "AttachStdout") == NULL ||
	    cJSON_AddTrueToObject(j, "AttachStderr") == NULL ||
	    add_strings(j, "Cmd", argv) != 0 ||
	    (body = cJSON_PrintUnformatted(j)) == NULL) {
		cJSON_Delete(j);
		return fail(FERR_NOMEM, err, errlen, "exec %s: out of memory",
		    id);
	}
	cJSON_Delete(j);
	j = NULL;
	snprintf(path, sizeof(path), "/containers/%s/exec", id);
	r.path = path;
	r.body = body;
	rc = request(d, &r, err, errlen);
	cJSON_free(body);
	if (rc != 0)
		return rc;
	if (r.status != 201)
		return answer_fail(&r, 0, err, errlen);
	if ((rc = parse_answer(&r, &j, err, errlen)) != 0)
		return rc;
	s = cJSON_GetStringValue(at(j, "Id"));
	if (s == NULL || !valid_name(s, 0) || strlen(s) >= sizeof(eid)) {
		cJSON_Delete(j);
		return fail(FERR_DOCKER, err, errlen, "exec %s: Docker "
		    "answered without a usable exec id", id);
	}
	snprintf(eid, sizeof(eid), "%s", s);
	cJSON_Delete(j);

	/* 2. Start it attached: the answer is its output until it exits. */
	if ((left = deadline - now_ms()) < 1)
		left = 1;
	snprintf(path, sizeof(path), "/exec/%s/start", eid);
	r = (struct req){ .what = "exec", .obj = id, .method = "POST",
	    .path = path, .body = "{\"Detach\":false,\"Tty\":false}",
	    .timeout_ms = left, .stream = demux_feed, .stream_arg = &m };
	rc = request(d, &r, err, errlen);
	if (rc == FERR_TIMEOUT) {
		fail(rc, err, errlen, "exec %s in %s: still running after %u "
		    "ms", argv[0], id, (unsigned)timeout_ms);
		goto out;
	}
	if (rc != 0)
		goto out;
	if (r.status != 200) {
		rc = answer_fail(&r, 0, err, errlen);
		goto out;
	}
	buf_free(&r.b);

	/*
	 * 3. Its exit code.  The stream can end a moment before Docker
	 * records the exit: ask again, briefly, within the deadline (this
	 * runs on a worker thread, where a short wait blocks nobody).
	 */
	for (;;) {
		rc = exec_result(d, eid, id, &running, exit_code, err,
		    errlen);
		if (rc != 0 || !running)
			break;
		if (now_ms() >= deadline) {
			rc = fail(FERR_TIMEOUT, err, errlen, "exec %s in %s: "
			    "still running after %u ms", argv[0], id,
			    (unsigned)timeout_ms);
			break;
		}
		nanosleep(&pause, NULL);
	}
out:
	if (outlen > 0 && m.out.data != NULL)
		snprintf(out, outlen, "%s", m.out.data);
	buf_free(&m.out);
	return rc;
}
