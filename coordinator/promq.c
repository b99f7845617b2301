/* SPDX-License-Identifier: Apache-2.0 */
/* promq.c: one PromQL instant query against a Prometheus server (libcurl,
 * cJSON), reduced to one number or a one-line reason; contract in
 * promq.h. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "ferr.h"
#include "promq.h"
#include "text.h"

#define PROMQ_URL_MAX	2048	/* bytes of a server's url */
#define PEER_TEXT_MAX	160	/* bytes of the server's error text kept */

struct answer {
	char *buf;
	size_t len, cap;
	int toobig;
	int nomem;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;

static void
curl_start(void)
{
	curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static int
fail(int err, char *reason, size_t reason_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(int err, char *reason, size_t reason_len, const char *fmt, ...)
{
	va_list ap;

	if (reason_len > 0) {
		va_start(ap, fmt);
		vsnprintf(reason, reason_len, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* Text from the server, escaped and cut to PEER_TEXT_MAX bytes. */
static void
peer_text(char *dst, size_t dstlen, const char *src)
{
	char cut[PEER_TEXT_MAX + 1];
	size_t n = strlen(src);

	if (n > PEER_TEXT_MAX)
		n = PEER_TEXT_MAX;
	memcpy(cut, src, n);
	cut[n] = '\0';
	text_escape(dst, dstlen, cut);
}

static int
name_ok(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' &&
		    *s != '-')
			return 0;
	return 1;
}

int
promq_expand(const char *query, const struct promq_vars *vars, char **out,
    char *reason, size_t reason_len)
{
	char *buf = NULL, num[24];
	const char *p = query, *open, *close, *rep;
	size_t len = 0, n;
	int rc;

	*out = NULL;
	if (query == NULL || *query == '\0')
		return fail(FERR_ARG, reason, reason_len, "empty query");
	if ((buf = malloc(PROMQ_QUERY_MAX + 1)) == NULL)
		return fail(FERR_NOMEM, reason, reason_len, "out of memory");
	while ((open = strstr(p, "{{")) != NULL) {
		const char *a, *b;

		if ((close = strstr(open + 2, "}}")) == NULL) {
			rc = fail(FERR_ARG, reason, reason_len, "query: "
			    "\"{{\" without \"}}\" at byte %zu",
			    (size_t)(open - query) + 1);
			goto out;
		}
		a = open + 2;
		b = close;
		while (a < b && *a == ' ')
			a++;
		while (b > a && b[-1] == ' ')
			b--;
		n = (size_t)(b - a);
		if (n == 7 && !memcmp(a, "service", 7)) {
			if (!name_ok(vars->service)) {
				rc = fail(FERR_ARG, reason, reason_len,
				    "query: {{service}}: the service's name "
				    "may hold only letters, digits, '_', '.' "
				    "and '-'");
				goto out;
			}
			rep = vars->service;
		} else if (n == 8 && !memcmp(a, "revision", 8)) {
			snprintf(num, sizeof(num), "%" PRIu64, vars->revision);
			rep = num;
		} else if (n == 15 && !memcmp(a, "stable_revision", 15)) {
			if (vars->stable_revision == 0) {
				rc = fail(FERR_ARG, reason, reason_len,
				    "query: {{stable_revision}}: the service "
				    "has no stable revision");
				goto out;
			}
			snprintf(num, sizeof(num), "%" PRIu64,
			    vars->stable_revision);
			rep = num;
		} else {
			char name[40];

			snprintf(name, sizeof(name), "%.*s",
			    n > 32 ? 32 : (int)n, a);
			rc = fail(FERR_ARG, reason, reason_len, "query: "
			    "unknown placeholder {{%s}} (known: {{service}}, "
			    "{{revision}}, {{stable_revision}})", name);
			goto out;
		}
		n = (size_t)(open - p);
		if (len + n + strlen(rep) > PROMQ_QUERY_MAX)
			goto toobig;
		memcpy(buf + len, p, n);
		len += n;
		memcpy(buf + len, rep, strlen(rep));
		len += strlen(rep);
		p = close + 2;
	}
	n = strlen(p);
	if (len + n > PROMQ_QUERY_MAX)
		goto toobig;
	memcpy(buf + len, p, n);
	len += n;
	buf[len] = '\0';
	*out = buf;
	return 0;
toobig:
	rc = fail(FERR_TOOBIG, reason, reason_len, "query: longer than %d "
	    "bytes once its placeholders are substituted", PROMQ_QUERY_MAX);
out:
	free(buf);
	return rc;
}

/* The url checked: http:// or https://, a host, no space, control
 * character, query string or fragment; *base_len without a trailing '/'. */
static int
url_check(const char *url, size_t *base_len, char *reason, size_t reason_len)
{
	size_t n, scheme;

	if (url == NULL || *url == '\0')
		return fail(FERR_ARG, reason, reason_len, "url: empty");
	if (!strncasecmp(url, "http://", 7))
		scheme = 7;
	else if (!strncasecmp(url, "https://", 8))
		scheme = 8;
	else
		return fail(FERR_ARG, reason, reason_len, "url: only http:// "
		    "and https:// are allowed");
	n = strlen(url);
	if (n > PROMQ_URL_MAX)
		return fail(FERR_ARG, reason, reason_len, "url: longer than "
		    "%d bytes", PROMQ_URL_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c <= 0x20 || c >= 0x7f)
			return fail(FERR_ARG, reason, reason_len, "url: a "
			    "space, control or non-ASCII character at byte "
			    "%zu", i + 1);
		if (c == '?' || c == '#')
			return fail(FERR_ARG, reason, reason_len, "url: no "
			    "query string or fragment (ferry adds "
			    "/api/v1/query?query=...)");
	}
	if (url[scheme] == '\0' || url[scheme] == '/')
		return fail(FERR_ARG, reason, reason_len, "url: no host");
	while (n > scheme && url[n - 1] == '/')
		n--;
	*base_len = n;
	return 0;
}

static size_t
collect(char *p, size_t size, size_t nmemb, void *arg)
{
	struct answer *a = arg;
	size_t n = size * nmemb;

	if (n > PROMQ_ANSWER_MAX - a->len) {
		a->toobig = 1;
		return 0;	/* curl stops with CURLE_WRITE_ERROR */
	}
	if (a->len + n + 1 > a->cap) {
		size_t cap = a->cap ? a->cap : 4096;
		char *b;

		while (cap < a->len + n + 1)
			cap *= 2;
		if (cap > PROMQ_ANSWER_MAX + 1)
			cap = PROMQ_ANSWER_MAX + 1;
		if ((b = realloc(a->buf, cap)) == NULL) {
			a->nomem = 1;
			return 0;
		}
		a->buf = b;
		a->cap = cap;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
	a->buf[a->len] = '\0';
	return n;
}

/* A sample's value: [ <time>, "<number>" ]. */
static int
sample_value(const cJSON *pair, double *value, char *reason,
    size_t reason_len)
{
	const cJSON *v;
	char *end;
	double d;

	if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2 ||
	    !cJSON_IsNumber(cJSON_GetArrayItem(pair, 0)) ||
	    !cJSON_IsString(v = cJSON_GetArrayItem(pair, 1)))
		return fail(FERR_MALFORMED, reason, reason_len, "prometheus: "
		    "a sample is not [time, \"value\"]");
	errno = 0;
	d = strtod(v->valuestring, &end);
	if (end == v->valuestring || *end != '\0' || errno == ERANGE) {
		char t[64];

		peer_text(t, sizeof(t), v->valuestring);
		return fail(FERR_MALFORMED, reason, reason_len, "prometheus: "
		    "the value \"%s\" is not a number", t);
	}
	if (isnan(d))
		return fail(FERR_NOTFOUND, reason, reason_len, "no value: the "
		    "query's value is NaN");
	if (isinf(d))
		return fail(FERR_NOTFOUND, reason, reason_len, "no value: the "
		    "query's value is %sInf", d < 0 ? "-" : "+");
	*value = d;
	return 0;
}

/* The value in a query API answer (or Prometheus's error in it). */
static int
parse_answer(const struct answer *a, long status, double *value,
    char *reason, size_t reason_len)
{
	const cJSON *st, *data, *type, *res;
	cJSON *root;
	char t1[PEER_TEXT_MAX * 2], t2[64];
	int rc, n;

	root = a->buf ? cJSON_ParseWithLength(a->buf, a->len) : NULL;
	if (root == NULL || !cJSON_IsObject(root) ||
	    !cJSON_IsString(st = cJSON_GetObjectItemCaseSensitive(root,
	    "status"))) {
		if (status != 200)
			rc = fail(FERR_IO, reason, reason_len, "prometheus: "
			    "HTTP %ld", status);
		else
			rc = fail(FERR_MALFORMED, reason, reason_len,
			    "prometheus: the answer is not the query API's "
			    "JSON");
		goto out;
	}
	if (strcmp(st->valuestring, "success") != 0) {
		const cJSON *et = cJSON_GetObjectItemCaseSensitive(root,
		    "errorType");
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(root,
		    "error");

		peer_text(t1, sizeof(t1), cJSON_IsString(e) ? e->valuestring :
		    "(no error text)");
		peer_text(t2, sizeof(t2), cJSON_IsString(et) ?
		    et->valuestring : "error");
		/* bad_data is the query refused; anything else is the
		 * server's trouble (timeout, canceled, execution...). */
		rc = fail(!strcmp(t2, "bad_data") ? FERR_ARG :
		    !strcmp(t2, "timeout") ? FERR_TIMEOUT : FERR_IO,
		    reason, reason_len, "prometheus: %s: %s", t2, t1);
		goto out;
	}
	if (status != 200) {
		rc = fail(FERR_IO, reason, reason_len, "prometheus: HTTP %ld",
		    status);
		goto out;
	}
	data = cJSON_GetObjectItemCaseSensitive(root, "data");
	type = cJSON_GetObjectItemCaseSensitive(data, "resultType");
	res = cJSON_GetObjectItemCaseSensitive(data, "result");
	if (!cJSON_IsObject(data) || !cJSON_IsString(type) || res == NULL) {
		rc = fail(FERR_MALFORMED, reason, reason_len, "prometheus: "
		    "the answer has no data.resultType and data.result");
		goto out;
	}
	if (!strcmp(type->valuestring, "scalar")) {
		rc = sample_value(res, value, reason, reason_len);
		goto out;
	}
	if (strcmp(type->valuestring, "vector") != 0) {
		peer_text(t2, sizeof(t2), type->valuestring);
		rc = fail(FERR_NOTFOUND, reason, reason_len, "no value: the "
		    "query gives a %s, not a scalar or an instant vector", t2);
		goto out;
	}
	if (!cJSON_IsArray(res)) {
		rc = fail(FERR_MALFORMED, reason, reason_len, "prometheus: "
		    "the vector is not a list");
		goto out;
	}
	n = cJSON_GetArraySize(res);
	if (n == 0) {
		rc = fail(FERR_NOTFOUND, reason, reason_len, "no value: the "
		    "query gives no sample");
		goto out;
	}
	if (n > 1) {
		rc = fail(FERR_NOTFOUND, reason, reason_len, "no value: the "
		    "query gives %d samples, not one (aggregate it, e.g. "
		    "sum(...))", n);
		goto out;
	}
	rc = sample_value(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetArrayItem(res, 0), "value"), value, reason, reason_len);
out:
	cJSON_Delete(root);
	return rc;
}

int
promq_query(const char *url, const char *query,
    const struct promq_vars *vars, uint32_t timeout_ms, double *value,
    char *reason, size_t reason_len)
{
	struct answer a = { NULL, 0, 0, 0, 0 };
	char *q = NULL, *esc = NULL, *full = NULL, errbuf[CURL_ERROR_SIZE];
	size_t base_len = 0, full_len;
	long status = 0;
	CURLcode cc;
	CURL *c = NULL;
	int rc;

	*value = NAN;
	if ((rc = url_check(url, &base_len, reason, reason_len)) < 0)
		return rc;
	if (timeout_ms == 0 || timeout_ms > PROMQ_TIMEOUT_MAX_MS)
		return fail(FERR_ARG, reason, reason_len, "timeout: %" PRIu32
		    " ms is not within 1..%u ms", timeout_ms,
		    PROMQ_TIMEOUT_MAX_MS);
	if ((rc = promq_expand(query, vars, &q, reason, reason_len)) < 0)
		return rc;
	pthread_once(&curl_once, curl_start);
	if (!curl_ok) {
		rc = fail(FERR_NOMEM, reason, reason_len, "libcurl did not "
		    "start");
		goto out;
	}
	if ((c = curl_easy_init()) == NULL ||
	    (esc = curl_easy_escape(c, q, 0)) == NULL) {
		rc = fail(FERR_NOMEM, reason, reason_len, "out of memory");
		goto out;
	}
	/* Prometheus's own limit a little under ours, so that a slow query
	 * is ended there too; "timeout" takes a duration ("1500ms"). */
	full_len = base_len + strlen(esc) + 64;
	if ((full = malloc(full_len)) == NULL) {
		rc = fail(FERR_NOMEM, reason, reason_len, "out of memory");
		goto out;
	}
	snprintf(full, full_len, "%.*s/api/v1/query?query=%s&timeout=%" PRIu32
	    "ms", (int)base_len, url, esc, timeout_ms > 200 ?
	    timeout_ms - 100 : timeout_ms);

	errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, full);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE, (long)PROMQ_ANSWER_MAX);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ferryd");
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		char t[CURL_ERROR_SIZE];

		if (a.toobig || cc == CURLE_FILESIZE_EXCEEDED) {
			rc = fail(FERR_TOOBIG, reason, reason_len, "prometheus:"
			    " the answer is larger than %u bytes",
			    PROMQ_ANSWER_MAX);
			goto out;
		}
		if (a.nomem) {
			rc = fail(FERR_NOMEM, reason, reason_len, "out of "
			    "memory");
			goto out;
		}
		/* errbuf names the host and port, never the whole url. */
		peer_text(t, sizeof(t), errbuf[0] ? errbuf :
		    curl_easy_strerror(cc));
		if (cc == CURLE_OPERATION_TIMEDOUT)
			rc = fail(FERR_TIMEOUT, reason, reason_len, "prometheus:"
			    " no answer within %" PRIu32 " ms", timeout_ms);
		else if (cc == CURLE_COULDNT_CONNECT)
			rc = fail(FERR_IO, reason, reason_len, "prometheus: "
			    "connection failed: %s", t);
		else
			rc = fail(FERR_IO, reason, reason_len, "prometheus: "
			    "%s", t);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	rc = parse_answer(&a, status, value, reason, reason_len);
out:
	if (rc < 0)
		*value = NAN;
	if (esc != NULL)
		curl_free(esc);
	if (c != NULL)
		curl_easy_cleanup(c);
	free(full);
	free(a.buf);
	free(q);
	return rc;
}
