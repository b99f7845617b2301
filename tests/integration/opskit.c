/* SPDX-License-Identifier: Apache-2.0 */
/* opskit.c: what the everyday-operations tests share (opskit.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "opskit.h"


/* refused: a connect to host i's service port is refused (1), accepted
 * (0), or neither within a second (-1). */
int
refused(int i)
{
	struct sockaddr_in sa;
	struct pollfd pf;
	socklen_t len = sizeof(int);
	int fd, err = 0, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)PORT);
	inet_pton(AF_INET, ADDR[i], &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc != 0 && errno == EINPROGRESS) {
		pf.fd = fd;
		pf.events = POLLOUT;
		if (poll(&pf, 1, 1000) != 1) {
			close(fd);
			return -1;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		rc = err == 0 ? 0 : -1;
		errno = err;
	}
	close(fd);
	if (rc == 0)
		return 0;
	return errno == ECONNREFUSED ? 1 : -1;
}

/* wait_traffic waits (bounded by ms) until host i refuses connections
 * (want 1) or serves version v (want 0). */
void
wait_traffic(int i, int want, int v, int ms)
{
	long long end = now_ms() + ms;

	while (now_ms() < end) {
		if (want ? refused(i) == 1 : serving(i) == v)
			return;
		h_sleep_ms(100);
	}
	cr_assert_fail("%s: still %s after %d ms (refused: %d, serves %d)",
	    HOST[i], want ? "takes connections" : "does not serve", ms,
	    refused(i), serving(i));
}

/* web writes web.yml for image tag, batch 1, start-first, on every host
 * labelled role=web. */
void
web(const char *tag)
{
	spec("web.yml", tag, LABELS, NULL, "  batch: 1\n"
	    "  order: start-first\n");
}

/* last_id: the newest deployment's id. */
unsigned
last_id(void)
{
	return (unsigned)db_count("SELECT max(id) FROM deployments");
}

/* ids writes host i's container ids of the service, every state. */
void
ids(int i, char *buf, size_t len)
{
	struct h_run *r = malloc(sizeof(*r));
	char filter[128];
	size_t n;

	snprintf(filter, sizeof(filter), "label=ferry.host=%s", HOST[i]);
	cr_assert_eq(h_docker(r, (const char *[]){ "ps", "-a", "--no-trunc",
	    "--format", "{{.ID}} {{.State}} {{.Label \"ferry.revision\"}}",
	    "--filter", filter, NULL }), 0, "%s", r->err);
	n = strlen(r->out) < len - 1 ? strlen(r->out) : len - 1;
	memcpy(buf, r->out, n);
	buf[n] = '\0';
	free(r);
}

/* one_at_a_time: in deployment id, no host started swapping while another
 * was swapping (batch 1), and n hosts got done. */
void
one_at_a_time(unsigned id, int n)
{
	char sql[1200];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM events s1 JOIN "
	    "events d1 ON d1.deployment = s1.deployment AND d1.host = "
	    "s1.host AND d1.kind = 'host' AND d1.detail LIKE 'done%%' AND "
	    "d1.id > s1.id JOIN events s2 ON s2.deployment = s1.deployment "
	    "AND s2.kind = 'host' AND s2.detail LIKE 'swapping%%' AND "
	    "s2.host != s1.host AND s2.id > s1.id AND s2.id < d1.id WHERE "
	    "s1.deployment = %u AND s1.kind = 'host' AND s1.detail LIKE "
	    "'swapping%%'", id);
	cr_assert_eq(db_count(sql), 0, "two hosts swapped at once");
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE "
	    "deployment = %u AND kind = 'host' AND detail LIKE 'done%%'", id);
	cr_assert_eq(db_count(sql), n);
}

/* host_json: host i as `ferry hosts --json` shows it. */
cJSON *
host_json(int i)
{
	cJSON *arr, *h, *copy = NULL;

	h_ferry(&F, &R, (const char *[]){ "hosts", "--json", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	arr = cJSON_Parse(R.out);
	cr_assert_not_null(arr);
	cJSON_ArrayForEach(h, arr)
		if (strcmp(jstr(h, "name"), HOST[i]) == 0)
			copy = cJSON_Duplicate(h, 1);
	cJSON_Delete(arr);
	cr_assert_not_null(copy);
	return copy;
}

