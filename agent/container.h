/* SPDX-License-Identifier: Apache-2.0 */
/* container.h: a Swap's container settings (its spec's command, volumes,
 * limits, labels, log and HEALTHCHECK) turned into Docker's create
 * options, each checked again here: the agent takes nothing on ferryd's
 * word that Docker would misread. */
#ifndef FERRY_CONTAINER_H
#define FERRY_CONTAINER_H

#include <stddef.h>

#include "docker.h"
#include "ferry.pb-c.h"

/* What container_opts_fill allocates for a docker_create_opts; freed by
 * container_opts_fini.  Zeroed memory is a valid empty one. */
struct container_opts {
	char **binds;			/* "src:dst[:ro]", NULL-ended */
	char **volumes;			/* "name:dst[:ro]", NULL-ended */
	const char **cmd, **entrypoint, **test;	/* into the Swap */
	struct docker_label *labels;
	struct docker_label *log_opts;
	struct docker_port *ports;
};

/*
 * container_opts_fill sets co's settings from s: cmd, entrypoint,
 * workdir, user, more_ports, binds (s's binds, then extra_bind when not
 * NULL: the secrets' folder), volumes, memory, nano_cpus, the log driver
 * and its options, the Healthcheck, and labels: the nown of own (ferry's)
 * then ferry.restart (s->restart, "unless-stopped" when empty), then the
 * user's.  Strings point into s and own, which must outlive co.  Refuses
 * (FERR_ARG, why "refused: ...") a user label under ferry., a bind or
 * volume whose paths Docker would split or misread, a volume name Docker
 * refuses, a restart policy Docker does not know, a log driver whose logs
 * Docker does not read back; FERR_NOMEM.  Bind sources are the
 * allowlist's (allowlist_check) to judge, before this.  On failure m
 * still needs container_opts_fini.
 */
int
container_opts_fill(struct container_opts *m, const Ferry__Swap *s,
    const struct docker_label *own, size_t nown, const char *extra_bind,
    struct docker_create_opts *co, char *why, size_t len);

/* container_opts_fini frees what container_opts_fill allocated.  Safe on
 * zeroed memory and twice. */
void
container_opts_fini(struct container_opts *m);

#endif
