/* SPDX-License-Identifier: Apache-2.0 */
/* check_docker.c: the docker health check: the image's own HEALTHCHECK, as
 * Docker last judged it. */
#include <stdio.h>
#include <string.h>

#include "probe.h"

int
check_docker(const struct docker_state *st, char *out, size_t outlen)
{
	if (st->health[0] == '\0') {
		snprintf(out, outlen, "the image has no HEALTHCHECK");
		return 0;
	}
	snprintf(out, outlen, "docker health %s%s%.200s", st->health,
	    st->health_output[0] ? ": " : "", st->health_output);
	if (strcmp(st->health, "starting") == 0)
		return -1;
	return strcmp(st->health, "healthy") == 0;
}
