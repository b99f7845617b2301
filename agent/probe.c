/* probe.c: HTTP and TCP health probes.
 *
 * The HTTP probe uses libcurl, like the Docker client: two users of one
 * library, each with its own easy handle, because a health check is not a
 * Docker call and should not be routed through the Docker module. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
probe_http(const char *ip, uint32_t port, const char *path, uint32_t want,
    uint32_t timeout_ms, char *out, size_t outlen)
{
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
		snprintf(out, outlen, "%s on %s", cc == CURLE_OPERATION_TIMEDOUT
		    ? "timeout" : curl_easy_strerror(cc), path);
		curl_easy_cleanup(c);
		return 0;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	snprintf(out, outlen, "HTTP %ld on %s", status, path);
	return status == (long)want;
}

int
probe_tcp(const char *ip, uint32_t port, uint32_t timeout_ms, char *out,
    size_t outlen)
{
	struct sockaddr_in sa;
	struct pollfd p;
	socklen_t len = sizeof(int);
	int s, err = 0, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
		snprintf(out, outlen, "bad address %s", ip);
		return 0;
	}
	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0) {
		snprintf(out, outlen, "socket: %s", strerror(errno));
		return 0;
	}
	rc = connect(s, (struct sockaddr *)&sa, sizeof(sa));
	if (rc != 0 && errno == EINPROGRESS) {
		p.fd = s;
		p.events = POLLOUT;
		rc = poll(&p, 1, (int)timeout_ms);
		if (rc == 0) {
			close(s);
			snprintf(out, outlen, "TCP %s:%u: timeout", ip, port);
			return 0;
		}
		getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
		rc = err == 0 ? 0 : -1;
		errno = err;
	}
	close(s);
	if (rc != 0) {
		snprintf(out, outlen, "TCP %s:%u: %s", ip, port,
		    strerror(errno));
		return 0;
	}
	snprintf(out, outlen, "TCP %s:%u open", ip, port);
	return 1;
}
