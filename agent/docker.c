/* docker.c: the Docker Engine API over its Unix socket (libcurl, cJSON).
 * Calls block: the agent runs them on libuv's worker threads, one at a
 * time per handle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "agent.h"
#include "ferr.h"

/* The Engine API version ferry speaks, pinned in every path. */
#define DOCKER_API	"v1.41"
#define DOCKER_MAX_BODY	(8u * 1024u * 1024u)

struct docker {
	CURL *curl;
	char socket_path[512];
};

struct buf {
	char *data;
	size_t len;
	int too_big;
};

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t add = size * n;
	char *d;

	if (b->len + add > DOCKER_MAX_BODY) {
		b->too_big = 1;
		return 0;
	}
	d = realloc(b->data, b->len + add + 1);
	if (d == NULL)
		return 0;
	memcpy(d + b->len, p, add);
	b->data = d;
	b->len += add;
	b->data[b->len] = '\0';
	return add;
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

/* get performs GET path and returns the body when the status is 2xx. */
static int
get(struct docker *d, const char *path, struct buf *b, char *err,
    size_t errlen)
{
	char url[2048];
	long status = 0;
	CURLcode cc;

	memset(b, 0, sizeof(*b));
	snprintf(url, sizeof(url), "http://localhost/%s%s", DOCKER_API, path);
	curl_easy_reset(d->curl);
	curl_easy_setopt(d->curl, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
	curl_easy_setopt(d->curl, CURLOPT_URL, url);
	curl_easy_setopt(d->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(d->curl, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(d->curl, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(d->curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(d->curl, CURLOPT_NOSIGNAL, 1L);
	cc = curl_easy_perform(d->curl);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", d->socket_path,
		    b->too_big ? "answer too large" : curl_easy_strerror(cc));
		free(b->data);
		b->data = NULL;
		return FERR_DOCKER;
	}
	curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		cJSON *j = b->data ? cJSON_Parse(b->data) : NULL;
		cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
		snprintf(err, errlen, "Docker answered %ld: %s", status,
		    cJSON_IsString(m) ? m->valuestring : "no message");
		cJSON_Delete(j);
		free(b->data);
		b->data = NULL;
		return FERR_DOCKER;
	}
	return 0;
}

static char *
dup_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return strdup(cJSON_IsString(v) ? v->valuestring : "");
}

static char *
dup_label(const cJSON *labels, const char *key)
{
	return dup_str(labels, key);
}

void
docker_list_free(Ferry__Container **list, size_t n)
{
	size_t i;

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
		free(c);
	}
	free(list);
}

int
docker_list(struct docker *d, const char *host, Ferry__Container ***out,
    size_t *n, char *err, size_t errlen)
{
	char filter[256], *esc, path[512];
	struct buf b;
	cJSON *arr = NULL, *it;
	Ferry__Container **list = NULL;
	size_t i = 0, cap;
	int rc;

	*out = NULL;
	*n = 0;
	snprintf(filter, sizeof(filter), "{\"label\":[\"ferry.host=%s\"]}",
	    host);
	esc = curl_easy_escape(d->curl, filter, 0);
	if (esc == NULL)
		return FERR_NOMEM;
	snprintf(path, sizeof(path), "/containers/json?all=1&filters=%s", esc);
	curl_free(esc);
	if ((rc = get(d, path, &b, err, errlen)) != 0)
		return rc;
	arr = cJSON_Parse(b.data);
	free(b.data);
	if (!cJSON_IsArray(arr)) {
		snprintf(err, errlen, "Docker's container list is not a JSON "
		    "array");
		cJSON_Delete(arr);
		return FERR_DOCKER;
	}
	cap = (size_t)cJSON_GetArraySize(arr);
	list = calloc(cap + 1, sizeof(*list));
	if (list == NULL) {
		cJSON_Delete(arr);
		return FERR_NOMEM;
	}
	cJSON_ArrayForEach(it, arr) {
		const cJSON *labels = cJSON_GetObjectItemCaseSensitive(it,
		    "Labels");
		const cJSON *names = cJSON_GetObjectItemCaseSensitive(it,
		    "Names");
		const cJSON *first = cJSON_GetArrayItem(names, 0);
		Ferry__Container *c = malloc(sizeof(*c));

		if (c == NULL || i >= cap)
			break;
		ferry__container__init(c);
		c->id = dup_str(it, "Id");
		c->name = strdup(cJSON_IsString(first) ?
		    first->valuestring + (first->valuestring[0] == '/') : "");
		c->image = dup_str(it, "Image");
		c->service = dup_label(labels, "ferry.service");
		c->revision = dup_label(labels, "ferry.revision");
		c->state = dup_str(it, "State");
		list[i++] = c;
		if (!c->id || !c->name || !c->image || !c->service ||
		    !c->revision || !c->state) {
			docker_list_free(list, i);
			cJSON_Delete(arr);
			return FERR_NOMEM;
		}
	}
	cJSON_Delete(arr);
	*out = list;
	*n = i;
	return 0;
}
