/* SPDX-License-Identifier: Apache-2.0 */
/* connhold.c: opens N keep-alive connections to one address, sends one
 * request on each, reads each answer, and holds them all open: what the
 * bench's memory section measures a proxy's RSS under.
 *
 *   connhold ADDR:PORT N HOLD_S
 *
 * Prints "open N ok M" (M answers with status 200) once every answer is in,
 * then holds the connections until HOLD_S seconds have passed or standard
 * input closes, whichever comes first.  Each connect, write and read waits
 * at most 5 s.  Exit status 0 when all N were answered 200, 1 otherwise,
 * 2 for bad arguments. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	static const char req[] =
	    "GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: connhold\r\n\r\n";
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 5 };
	char addr[64], *colon, buf[4096];
	long n, hold;
	int *fds, ok = 0;

	if (argc != 4 || strlen(argv[1]) >= sizeof(addr)) {
		fprintf(stderr, "usage: connhold ADDR:PORT N HOLD_S\n");
		return 2;
	}
	strcpy(addr, argv[1]);
	n = strtol(argv[2], NULL, 10);
	hold = strtol(argv[3], NULL, 10);
	if ((colon = strrchr(addr, ':')) == NULL || n < 1 || n > 100000 ||
	    hold < 0 || hold > 3600) {
		fprintf(stderr, "connhold: ADDR:PORT, N 1-100000, HOLD_S "
		    "0-3600\n");
		return 2;
	}
	*colon = '\0';
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "connhold: not an IPv4 address: %s\n", addr);
		return 2;
	}
	fds = calloc((size_t)n, sizeof(*fds));
	for (long i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0) {
			perror("connhold: socket");
			return 1;
		}
		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fds[i], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    write(fds[i], req, sizeof(req) - 1) !=
		    (ssize_t)sizeof(req) - 1) {
			fprintf(stderr, "connhold: connection %ld: ", i + 1);
			perror(NULL);
			return 1;
		}
	}
	/* One answer each: enough of it to see its status and header end
	 * (the bench's backends send small bodies in the same segment). */
	for (long i = 0; i < n; i++) {
		size_t len = 0;

		while (len < sizeof(buf) - 1) {
			ssize_t r = read(fds[i], buf + len,
			    sizeof(buf) - 1 - len);
			if (r <= 0)
				break;
			len += (size_t)r;
			buf[len] = '\0';
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		buf[len] = '\0';
		if (len >= 12 && !strncmp(buf, "HTTP/1.1 200", 12))
			ok++;
	}
	printf("open %ld ok %d\n", n, ok);
	fflush(stdout);
	{
		struct pollfd p = { .fd = 0, .events = POLLIN };
		char c;

		/* Until stdin closes (or says anything) or HOLD_S pass. */
		if (poll(&p, 1, (int)hold * 1000) > 0)
			(void)!read(0, &c, 1);
	}
	return ok == n ? 0 : 1;
}
