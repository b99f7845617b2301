/* SPDX-License-Identifier: Apache-2.0 */
/* check_http.c: the HTTP health check: one GET, judged by its status.
 *
 * It uses libcurl, like the Docker client: two users of one library, each
 * with its own easy handle, because a health check is not a Docker call
 * and should not be routed through the Docker module. */
#include <stdio.h>

#include <curl/curl.h>

#include "probe.h"

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

int
check_http(const char *ip, uint32_t port, const Ferry__HttpCheck *hc,
    uint32_t timeout_ms, char *out, size_t outlen)
{
	const char *path = hc->path && hc->path[0] ? hc->path : "/";
	uint32_t want = hc->status ? hc->status : 200;
	char url[600];
	long status = 0;
	CURLcode cc;
	CURL *c;

	snprintf(url, sizeof(url), "http://%s:%u%s%s", ip, port,
	    path[0] == '/' ? "" : "/", path);
	if ((c = curl_easy_init()) == NULL) {
		snprintf(out, outlen, "out of memory");
		return 0;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	/* Only to the container's own address: no redirects elsewhere. */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		snprintf(out, outlen, "%s on %s",
		    cc == CURLE_OPERATION_TIMEDOUT ? "timeout" :
		    curl_easy_strerror(cc), path);
		curl_easy_cleanup(c);
		return 0;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	snprintf(out, outlen, "HTTP %ld on %s", status, path);
	return status == (long)want;
}
