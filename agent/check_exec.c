/* SPDX-License-Identifier: Apache-2.0 */
/* check_exec.c: the exec health check: a command run inside the container
 * through the Docker client, judged by its exit code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

int
check_exec(struct docker *d, const char *cid, const Ferry__ExecCheck *c,
    uint32_t timeout_ms, char *out, size_t outlen)
{
	/* The wire's argv is counted; Docker's client wants it
	 * NULL-terminated. */
	const char **argv = calloc(c->n_argv + 1, sizeof(*argv));
	char err[300];
	size_t l;
	int code = -1, rc;

	if (argv == NULL || c->n_argv == 0) {
		free(argv);
		snprintf(out, outlen, "exec check without a command");
		return 0;
	}
	memcpy(argv, c->argv, c->n_argv * sizeof(*argv));
	rc = docker_exec(d, cid, argv, timeout_ms, &code, out, outlen, err,
	    sizeof(err));
	free(argv);
	if (rc != 0) {
		snprintf(out, outlen, "%s", err);
		return 0;
	}
	if (code != 0) {
		l = strlen(out);
		while (l > 0 && (out[l - 1] == '\n' || out[l - 1] == ' '))
			out[--l] = '\0';
		snprintf(err, sizeof(err), "exit %d%s%.200s", code,
		    l ? ": " : "", out);
		snprintf(out, outlen, "%s", err);
		return 0;
	}
	snprintf(out, outlen, "exit 0");
	return 1;
}
