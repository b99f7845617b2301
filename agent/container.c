/* SPDX-License-Identifier: Apache-2.0 */
/* container.c: a Swap's container settings turned into Docker's create
 * options (container.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "ferr.h"

/* path_ok: absolute, printable, no ':' or ',' (Docker's separators in a
 * bind), at most 1024 bytes. */
static int
path_ok(const char *p)
{
	size_t i, n;

	if (p == NULL || p[0] != '/' || (n = strlen(p)) > 1024)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 ||
		    (unsigned char)p[i] >= 0x7f || p[i] == ':' || p[i] == ',')
			return 0;
	return 1;
}

/* volume_name_ok: [A-Za-z0-9][A-Za-z0-9_.-]+, as Docker takes it. */
static int
volume_name_ok(const char *v)
{
	size_t i, n;

	if (v == NULL || (n = strlen(v)) < 2 || n > 64 ||
	    !isalnum((unsigned char)v[0]))
		return 0;
	for (i = 0; i < n; i++)
		if (!((unsigned char)v[i] < 0x80 && isalnum((unsigned char)
		    v[i])) && v[i] != '_' && v[i] != '.' && v[i] != '-')
			return 0;
	return 1;
}

static int
restart_ok(const char *r)
{
	char *end;
	long n;

	if (strcmp(r, "no") == 0 || strcmp(r, "always") == 0 ||
	    strcmp(r, "unless-stopped") == 0 || strcmp(r, "on-failure") == 0)
		return 1;
	if (strncmp(r, "on-failure:", 11) != 0 ||
	    !isdigit((unsigned char)r[11]))
		return 0;
	n = strtol(r + 11, &end, 10);
	return *end == '\0' && n > 0 && n <= 1000;
}

/* words returns a NULL-ended copy of the pointers v[0..n), or NULL when n
 * is 0; *nomem on failure. */
static const char **
words(char **v, size_t n, int *nomem)
{
	const char **w;
	size_t i;

	if (n == 0)
		return NULL;
	if ((w = calloc(n + 1, sizeof(*w))) == NULL) {
		*nomem = 1;
		return NULL;
	}
	for (i = 0; i < n; i++)
		w[i] = v[i];
	return w;
}

/* mounts writes "src:dst[:ro]" for each of b into a NULL-ended array,
 * then extra when not NULL. */
static int
mounts(Ferry__Bind **b, size_t n, const char *extra, int named, char ***out,
    char *why, size_t len)
{
	size_t i, k = 0;
	char **v;

	*out = NULL;
	if (n == 0 && extra == NULL)
		return 0;
	if ((v = calloc(n + 2, sizeof(*v))) == NULL)
		return FERR_NOMEM;
	*out = v;
	for (i = 0; i < n; i++) {
		const char *src = b[i]->source, *dst = b[i]->target;
		size_t l;

		if (named ? !volume_name_ok(src) : !path_ok(src)) {
			snprintf(why, len, "refused: %s \"%.80s\" is not a %s",
			    named ? "volume" : "bind source", src ? src : "",
			    named ? "volume name Docker takes" :
			    "usable host path");
			return FERR_ARG;
		}
		if (!path_ok(dst) || strcmp(dst, "/") == 0) {
			snprintf(why, len, "refused: mount target \"%.80s\" "
			    "is not a usable path in the container", dst ?
			    dst : "");
			return FERR_ARG;
		}
		l = strlen(src) + strlen(dst) + 5;
		if ((v[k] = malloc(l)) == NULL)
			return FERR_NOMEM;
		snprintf(v[k++], l, "%s:%s%s", src, dst, b[i]->read_only ?
		    ":ro" : "");
	}
	if (extra != NULL && (v[k++] = strdup(extra)) == NULL)
		return FERR_NOMEM;
	return 0;
}

static void
strings_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

int
container_opts_fill(struct container_opts *m, const Ferry__Swap *s,
    const struct docker_label *own, size_t nown, const char *extra_bind,
    struct docker_create_opts *co, char *why, size_t len)
{
	static const char *const drivers[] = { "json-file", "local",
	    "journald", NULL };
	const char *restart = s->restart != NULL && s->restart[0] != '\0' ?
	    s->restart : "unless-stopped";
	size_t i, n;
	int nomem = 0, rc;

	if (!restart_ok(restart)) {
		snprintf(why, len, "refused: restart policy \"%.40s\" is not "
		    "one Docker knows", restart);
		return FERR_ARG;
	}
	for (i = 0; i < s->n_labels; i++)
		if (s->labels[i]->key == NULL ||
		    strncmp(s->labels[i]->key, "ferry.", 6) == 0 ||
		    s->labels[i]->key[0] == '\0') {
			snprintf(why, len, "refused: label \"%.80s\": the "
			    "prefix ferry. is the agent's own",
			    s->labels[i]->key ? s->labels[i]->key : "");
			return FERR_ARG;
		}
	if ((m->labels = calloc(nown + 1 + s->n_labels,
	    sizeof(*m->labels))) == NULL)
		return FERR_NOMEM;
	for (n = 0; n < nown; n++)
		m->labels[n] = own[n];
	m->labels[n++] = (struct docker_label){ "ferry.restart", restart };
	for (i = 0; i < s->n_labels; i++)
		m->labels[n++] = (struct docker_label){ s->labels[i]->key,
		    s->labels[i]->value };
	co->labels = m->labels;
	co->nlabels = n;

	if ((rc = mounts(s->binds, s->n_binds, extra_bind, 0, &m->binds, why,
	    len)) != 0 || (rc = mounts(s->volumes, s->n_volumes, NULL, 1,
	    &m->volumes, why, len)) != 0)
		return rc;
	co->binds = (const char *const *)m->binds;
	co->volumes = (const char *const *)m->volumes;

	if (s->workdir != NULL && s->workdir[0] != '\0' &&
	    !path_ok(s->workdir)) {
		snprintf(why, len, "refused: working directory \"%.80s\" is "
		    "not an absolute path", s->workdir);
		return FERR_ARG;
	}
	co->workdir = s->workdir;
	co->user = s->user;
	co->memory = s->memory;
	co->nano_cpus = s->nano_cpus;

	m->cmd = words(s->command, s->n_command, &nomem);
	m->entrypoint = words(s->entrypoint, s->n_entrypoint, &nomem);
	if (s->healthcheck != NULL)
		m->test = words(s->healthcheck->test, s->healthcheck->n_test,
		    &nomem);
	if (nomem)
		return FERR_NOMEM;
	if (m->cmd != NULL)
		co->cmd = m->cmd;
	co->entrypoint = m->entrypoint;
	if (m->test != NULL) {
		co->health_test = m->test;
		co->health_interval_ms = s->healthcheck->interval_ms;
		co->health_timeout_ms = s->healthcheck->timeout_ms;
		co->health_start_ms = s->healthcheck->start_period_ms;
		co->health_retries = s->healthcheck->retries;
	}

	if (s->n_more_ports > 0) {
		if ((m->ports = calloc(s->n_more_ports,
		    sizeof(*m->ports))) == NULL)
			return FERR_NOMEM;
		for (i = 0; i < s->n_more_ports; i++) {
			if (s->more_ports[i]->host == 0 ||
			    s->more_ports[i]->host > 65535 ||
			    s->more_ports[i]->container == 0 ||
			    s->more_ports[i]->container > 65535) {
				snprintf(why, len, "refused: port %u:%u is "
				    "not a pair of ports from 1 to 65535",
				    s->more_ports[i]->host,
				    s->more_ports[i]->container);
				return FERR_ARG;
			}
			m->ports[i].host = s->more_ports[i]->host;
			m->ports[i].container = s->more_ports[i]->container;
		}
		co->more_ports = m->ports;
		co->nmore_ports = s->n_more_ports;
	}

	if (s->log != NULL) {
		for (i = 0; drivers[i] != NULL; i++)
			if (s->log->driver != NULL &&
			    strcmp(s->log->driver, drivers[i]) == 0)
				break;
		if (drivers[i] == NULL) {
			snprintf(why, len, "refused: log driver \"%.40s\": "
			    "the agent reads logs back only from json-file, "
			    "local and journald", s->log->driver ?
			    s->log->driver : "");
			return FERR_ARG;
		}
		co->log_driver = drivers[i];
		if (s->log->n_options > 0 && (m->log_opts = calloc(
		    s->log->n_options, sizeof(*m->log_opts))) == NULL)
			return FERR_NOMEM;
		for (i = 0; i < s->log->n_options; i++)
			m->log_opts[i] = (struct docker_label){
			    s->log->options[i]->key,
			    s->log->options[i]->value };
		co->log_opts = m->log_opts;
		co->nlog_opts = s->log->n_options;
	}
	return 0;
}

void
container_opts_fini(struct container_opts *m)
{
	if (m == NULL)
		return;
	strings_free(m->binds);
	strings_free(m->volumes);
	free(m->cmd);
	free(m->entrypoint);
	free(m->test);
	free(m->labels);
	free(m->log_opts);
	free(m->ports);
	memset(m, 0, sizeof(*m));
}
