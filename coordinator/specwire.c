/* SPDX-License-Identifier: Apache-2.0 */
/* specwire.c: a checked service spec turned into protobuf-c messages for
 * the agent; every string a heap copy, so the messages outlive the spec. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ferr.h"
#include "specwire.h"

/* free_pb_string frees a string field unless it is protobuf-c's shared
 * empty string. */
static void
free_pb_string(char *p)
{
	if (p != NULL && p != protobuf_c_empty_string)
		free(p);
}

void
spec_health_free(Ferry__HealthSpec *h)
{
	size_t i;

	if (h == NULL)
		return;
	if (h->check_case == FERRY__HEALTH_SPEC__CHECK_HTTP &&
	    h->http != NULL) {
		free_pb_string(h->http->path);
		free(h->http);
	} else if (h->check_case == FERRY__HEALTH_SPEC__CHECK_EXEC &&
	    h->exec != NULL) {
		for (i = 0; i < h->exec->n_argv; i++)
			free_pb_string(h->exec->argv[i]);
		free(h->exec->argv);
		free(h->exec);
	}
	free(h);
}

int
spec_health_new(const struct spec *s, Ferry__HealthSpec **out)
{
	const struct spec_health *sh = &s->health;
	Ferry__HealthSpec *h;
	size_t i;

	*out = NULL;
	if ((h = malloc(sizeof(*h))) == NULL)
		return FERR_NOMEM;
	ferry__health_spec__init(h);
	h->interval_ms = sh->interval_ms;
	h->timeout_ms = sh->timeout_ms;
	h->start_period_ms = sh->start_period_ms;
	h->start_interval_ms = sh->start_interval_ms;
	h->healthy_threshold = sh->healthy_threshold;
	h->unhealthy_threshold = sh->unhealthy_threshold;
	h->deadline_ms = sh->deadline_ms;
	h->min_healthy_ms = sh->min_healthy_ms;
	switch (sh->check) {
	case SPEC_CHECK_HTTP:
		h->check_case = FERRY__HEALTH_SPEC__CHECK_HTTP;
		if ((h->http = malloc(sizeof(*h->http))) == NULL)
			goto nomem;
		ferry__http_check__init(h->http);
		h->http->port = sh->http_port;
		h->http->status = sh->http_status;
		if ((h->http->path = strdup(sh->http_path)) == NULL)
			goto nomem;
		break;
	case SPEC_CHECK_TCP:
		h->check_case = FERRY__HEALTH_SPEC__CHECK_TCP_PORT;
		h->tcp_port = sh->tcp_port;
		break;
	case SPEC_CHECK_EXEC:
		h->check_case = FERRY__HEALTH_SPEC__CHECK_EXEC;
		if ((h->exec = malloc(sizeof(*h->exec))) == NULL)
			goto nomem;
		ferry__exec_check__init(h->exec);
		if ((h->exec->argv = calloc(sh->argc, sizeof(char *))) == NULL)
			goto nomem;
		for (i = 0; i < sh->argc; i++) {
			if ((h->exec->argv[i] = strdup(sh->argv[i])) == NULL)
				goto nomem;
			h->exec->n_argv = i + 1;
		}
		break;
	case SPEC_CHECK_DOCKER:
		h->check_case = FERRY__HEALTH_SPEC__CHECK_DOCKER;
		h->docker = 1;
		break;
	}
	*out = h;
	return 0;
nomem:
	spec_health_free(h);
	return FERR_NOMEM;
}

/* free_env frees n variables and the array; NULL entries are skipped. */
static void
free_env(Ferry__EnvVar **env, size_t n)
{
	size_t i;

	if (env == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (env[i] == NULL)
			continue;
		free_pb_string(env[i]->name);
		free_pb_string(env[i]->value);
		free(env[i]);
	}
	free(env);
}

int
specwire_seal(const uint8_t *host_pk, const uint8_t *value, size_t len,
    uint8_t **out, size_t *outlen)
{
	uint8_t xpk[crypto_box_PUBLICKEYBYTES];

	*out = NULL;
	*outlen = 0;
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, host_pk) != 0)
		return FERR_ARG;
	if ((*out = malloc(len + crypto_box_SEALBYTES)) == NULL)
		return FERR_NOMEM;
	if (crypto_box_seal(*out, value, len, xpk) != 0) {
		free(*out);
		*out = NULL;
		return FERR_ARG;
	}
	*outlen = len + crypto_box_SEALBYTES;
	return 0;
}

/* free_sealed frees n sealed secrets and the array; NULL entries are
 * skipped. */
static void
free_sealed(Ferry__SealedSecret **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (v[i] == NULL)
			continue;
		free_pb_string(v[i]->name);
		free(v[i]->sealed.data);
		free(v[i]);
	}
	free(v);
}

/* seal_secrets seals each secret s names for the host, as seal says. */
static int
seal_secrets(const struct spec *s, const struct swap_seal *seal,
    Ferry__SealedSecret ***out)
{
	Ferry__SealedSecret **v;
	uint8_t *value = NULL;
	size_t i, len;
	int rc = 0;

	*out = NULL;
	if (s->nsecrets == 0)
		return 0;
	if (seal == NULL || seal->open == NULL || seal->host_pk == NULL)
		return FERR_ARG;
	if ((v = calloc(s->nsecrets, sizeof(*v))) == NULL)
		return FERR_NOMEM;
	for (i = 0; i < s->nsecrets && rc == 0; i++) {
		if ((v[i] = malloc(sizeof(*v[i]))) == NULL) {
			rc = FERR_NOMEM;
			break;
		}
		ferry__sealed_secret__init(v[i]);
		v[i]->version = s->secrets[i].version;
		if ((v[i]->name = strdup(s->secrets[i].name)) == NULL) {
			rc = FERR_NOMEM;
			break;
		}
		if ((rc = seal->open(seal->arg, s->service, &s->secrets[i],
		    &value, &len)) != 0)
			break;
		rc = specwire_seal(seal->host_pk, value, len,
		    &v[i]->sealed.data, &v[i]->sealed.len);
		seal->free_value(value);
		value = NULL;
	}
	if (rc != 0) {
		free_sealed(v, s->nsecrets);
		return rc;
	}
	*out = v;
	return 0;
}

int
spec_proxy_new(const struct spec *s, Ferry__ProxySettings **out)
{
	Ferry__ProxySettings *p;

	*out = NULL;
	if (!s->port.set)
		return 0;
	if ((p = malloc(sizeof(*p))) == NULL)
		return FERR_NOMEM;
	ferry__proxy_settings__init(p);
	p->mode = s->proxy.mode == SPEC_PROXY_TCP ?
	    FERRY__PROXY_MODE__PROXY_TCP : FERRY__PROXY_MODE__PROXY_HTTP;
	p->drain_timeout_ms = s->proxy.drain_timeout_ms;
	p->max_pause_ms = s->proxy.max_pause_ms;
	p->upstream_timeout_ms = s->proxy.upstream_timeout_ms;
	p->max_body = s->proxy.max_body;
	p->sticky = s->proxy.sticky;
	*out = p;
	return 0;
}

/* strings_dup copies n strings into a new array; *out NULL when n is 0.
 * Returns 0 or FERR_NOMEM (nothing left allocated). */
static int
strings_dup(char *const *v, size_t n, char ***out)
{
	size_t i;

	*out = NULL;
	if (n == 0)
		return 0;
	if ((*out = calloc(n, sizeof(char *))) == NULL)
		return FERR_NOMEM;
	for (i = 0; i < n; i++)
		if (((*out)[i] = strdup(v[i])) == NULL) {
			while (i-- > 0)
				free((*out)[i]);
			free(*out);
			*out = NULL;
			return FERR_NOMEM;
		}
	return 0;
}

static void
strings_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free_pb_string(v[i]);
	free(v);
}

static void
labels_free(Ferry__Label **l, size_t n)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (l[i] == NULL)
			continue;
		free_pb_string(l[i]->key);
		free_pb_string(l[i]->value);
		free(l[i]);
	}
	free(l);
}

/* labels_dup turns n pairs into Labels; *out NULL when n is 0. */
static int
labels_dup(const struct spec_pair *p, size_t n, Ferry__Label ***out)
{
	size_t i;

	*out = NULL;
	if (n == 0)
		return 0;
	if ((*out = calloc(n, sizeof(**out))) == NULL)
		return FERR_NOMEM;
	for (i = 0; i < n; i++) {
		if (((*out)[i] = malloc(sizeof(Ferry__Label))) == NULL)
			goto nomem;
		ferry__label__init((*out)[i]);
		if (((*out)[i]->key = strdup(p[i].name)) == NULL ||
		    ((*out)[i]->value = strdup(p[i].value)) == NULL)
			goto nomem;
	}
	return 0;
nomem:
	labels_free(*out, n);	/* unset entries are NULL or empty */
	*out = NULL;
	return FERR_NOMEM;
}

static void
binds_free(Ferry__Bind **b, size_t n)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (b[i] == NULL)
			continue;
		free_pb_string(b[i]->source);
		free_pb_string(b[i]->target);
		free(b[i]);
	}
	free(b);
}

/* volumes_dup sorts s's volumes into binds (host paths) and named
 * volumes, in the file's order. */
static int
volumes_dup(const struct spec *s, Ferry__Bind ***binds, size_t *nbinds,
    Ferry__Bind ***vols, size_t *nvols)
{
	Ferry__Bind *b;
	size_t i;

	*binds = *vols = NULL;
	*nbinds = *nvols = 0;
	if (s->nvolumes == 0)
		return 0;
	if ((*binds = calloc(s->nvolumes, sizeof(**binds))) == NULL ||
	    (*vols = calloc(s->nvolumes, sizeof(**vols))) == NULL)
		goto nomem;
	for (i = 0; i < s->nvolumes; i++) {
		if ((b = malloc(sizeof(*b))) == NULL)
			goto nomem;
		ferry__bind__init(b);
		if (s->volumes[i].bind)
			(*binds)[(*nbinds)++] = b;
		else
			(*vols)[(*nvols)++] = b;
		b->read_only = s->volumes[i].read_only;
		if ((b->source = strdup(s->volumes[i].source)) == NULL ||
		    (b->target = strdup(s->volumes[i].target)) == NULL)
			goto nomem;
	}
	return 0;
nomem:
	binds_free(*binds, *nbinds);
	binds_free(*vols, *nvols);
	*binds = *vols = NULL;
	*nbinds = *nvols = 0;
	return FERR_NOMEM;
}

/* container_fill sets the Swap's container settings (fields 9, 10, 24
 * and 29 to 40) from s.  On failure what it set is freed by
 * spec_swap_clear's part for them (container_clear). */
static int
container_fill(const struct spec *s, Ferry__Swap *w)
{
	char restart[32];
	size_t i;

	if (strings_dup(s->command, s->ncommand, &w->command) != 0)
		return FERR_NOMEM;
	w->n_command = s->ncommand;
	if (strings_dup(s->entrypoint, s->nentrypoint, &w->entrypoint) != 0)
		return FERR_NOMEM;
	w->n_entrypoint = s->nentrypoint;
	if ((s->workdir != NULL && (w->workdir = strdup(s->workdir)) ==
	    NULL) || (s->user != NULL && (w->user = strdup(s->user)) == NULL))
		return FERR_NOMEM;
	if (s->nports > 1) {
		if ((w->more_ports = calloc(s->nports - 1,
		    sizeof(*w->more_ports))) == NULL)
			return FERR_NOMEM;
		for (i = 1; i < s->nports; i++) {
			Ferry__PortBinding *pb = malloc(sizeof(*pb));

			if (pb == NULL)
				return FERR_NOMEM;
			ferry__port_binding__init(pb);
			pb->host = s->ports[i].host;
			pb->container = s->ports[i].container;
			pb->mode = s->ports[i].mode;
			w->more_ports[w->n_more_ports++] = pb;
		}
	}
	if (volumes_dup(s, &w->binds, &w->n_binds, &w->volumes,
	    &w->n_volumes) != 0)
		return FERR_NOMEM;
	w->memory = s->memory;
	w->nano_cpus = s->nano_cpus;
	spec_restart_text(s, restart, sizeof(restart));
	if ((w->restart = strdup(restart)) == NULL)
		return FERR_NOMEM;
	if (s->stop_signal[0] != '\0' &&
	    (w->stop_signal = strdup(s->stop_signal)) == NULL)
		return FERR_NOMEM;
	w->stop_timeout_s = s->stop_timeout_s;
	if (labels_dup(s->labels, s->nlabels, &w->labels) != 0)
		return FERR_NOMEM;
	w->n_labels = s->nlabels;
	if (s->log_driver != NULL) {
		if ((w->log = malloc(sizeof(*w->log))) == NULL)
			return FERR_NOMEM;
		ferry__log_settings__init(w->log);
		if ((w->log->driver = strdup(s->log_driver)) == NULL ||
		    labels_dup(s->log_opts, s->nlog_opts,
		    &w->log->options) != 0)
			return FERR_NOMEM;
		w->log->n_options = s->nlog_opts;
	}
	if (s->healthcheck.set) {
		if ((w->healthcheck = malloc(sizeof(*w->healthcheck))) ==
		    NULL)
			return FERR_NOMEM;
		ferry__docker_healthcheck__init(w->healthcheck);
		w->healthcheck->interval_ms = s->healthcheck.interval_ms;
		w->healthcheck->timeout_ms = s->healthcheck.timeout_ms;
		w->healthcheck->start_period_ms =
		    s->healthcheck.start_period_ms;
		w->healthcheck->retries = s->healthcheck.retries;
		if (strings_dup(s->healthcheck.test, s->healthcheck.ntest,
		    &w->healthcheck->test) != 0)
			return FERR_NOMEM;
		w->healthcheck->n_test = s->healthcheck.ntest;
	}
	return 0;
}

/* container_clear frees what container_fill set (and only that). */
static void
container_clear(Ferry__Swap *w)
{
	size_t i;

	strings_free(w->command, w->n_command);
	strings_free(w->entrypoint, w->n_entrypoint);
	free_pb_string(w->workdir);
	free_pb_string(w->user);
	for (i = 0; w->more_ports != NULL && i < w->n_more_ports; i++)
		free(w->more_ports[i]);
	free(w->more_ports);
	binds_free(w->binds, w->n_binds);
	binds_free(w->volumes, w->n_volumes);
	free_pb_string(w->restart);
	free_pb_string(w->stop_signal);
	labels_free(w->labels, w->n_labels);
	if (w->log != NULL) {
		free_pb_string(w->log->driver);
		labels_free(w->log->options, w->log->n_options);
		free(w->log);
	}
	if (w->healthcheck != NULL) {
		strings_free(w->healthcheck->test, w->healthcheck->n_test);
		free(w->healthcheck);
	}
}

int
spec_swap_fill(const struct spec *s, uint64_t revision, const char *image,
    uint64_t deployment, const struct swap_seal *seal, Ferry__Swap *swap)
{
	char *service = NULL, *img = NULL, *dep = NULL, id[24];
	Ferry__SealedSecret **sealed = NULL;
	Ferry__EnvVar **env = NULL;
	Ferry__PortBinding *port = NULL;
	Ferry__HealthSpec *health = NULL;
	Ferry__ProxySettings *proxy = NULL;
	Ferry__Swap c = FERRY__SWAP__INIT;
	size_t i;
	int rc = FERR_NOMEM;

	if (s == NULL || image == NULL || swap == NULL)
		return FERR_ARG;
	if ((service = strdup(s->service)) == NULL ||
	    (img = strdup(image)) == NULL)
		goto fail;
	if (deployment != 0) {
		snprintf(id, sizeof(id), "%llu",
		    (unsigned long long)deployment);
		if ((dep = strdup(id)) == NULL)
			goto fail;
	}
	if (s->nenv > 0) {
		if ((env = calloc(s->nenv, sizeof(*env))) == NULL)
			goto fail;
		for (i = 0; i < s->nenv; i++) {
			if ((env[i] = malloc(sizeof(*env[i]))) == NULL)
				goto fail;
			ferry__env_var__init(env[i]);
			if ((env[i]->name = strdup(s->env[i].name)) == NULL ||
			    (env[i]->value = strdup(s->env[i].value)) == NULL)
				goto fail;
		}
	}
	if (s->port.set) {
		if ((port = malloc(sizeof(*port))) == NULL)
			goto fail;
		ferry__port_binding__init(port);
		port->host = s->port.host;
		port->container = s->port.container;
		/* ports:'s first, in its own mode when it has one. */
		port->mode = s->nports > 0 ? s->ports[0].mode : 0;
	}
	if ((rc = spec_proxy_new(s, &proxy)) != 0)
		goto fail;
	if ((rc = spec_health_new(s, &health)) != 0)
		goto fail;
	if ((rc = seal_secrets(s, seal, &sealed)) != 0) {
		spec_health_free(health);
		goto fail;
	}
	if (container_fill(s, &c) != 0) {
		container_clear(&c);
		free_sealed(sealed, s->nsecrets);
		spec_health_free(health);
		rc = FERR_NOMEM;
		goto fail;
	}
	/* The container's settings, then what is set here: c was only
	 * ever written in those fields. */
	*swap = c;
	swap->service = service;
	swap->revision = revision;
	swap->deployment = dep != NULL ? dep :
	    (char *)protobuf_c_empty_string;
	swap->image = img;
	swap->n_env = s->nenv;
	swap->env = env;
	swap->port = port;
	swap->health = health;
	swap->order = s->rollout.order == SPEC_ORDER_START_FIRST ?
	    FERRY__ORDER__ORDER_START_FIRST : FERRY__ORDER__ORDER_STOP_FIRST;
	swap->n_secrets = sealed != NULL ? s->nsecrets : 0;
	swap->secrets = sealed;
	swap->proxy = proxy;
	return 0;
fail:
	free(proxy);
	free(service);
	free(img);
	free(dep);
	free_env(env, s->nenv);	/* unset entries are NULL or empty */
	free(port);
	return rc;
}

void
spec_swap_clear(Ferry__Swap *swap)
{
	if (swap == NULL)
		return;
	free_pb_string(swap->service);
	free_pb_string(swap->deployment);
	free_pb_string(swap->image);
	free_env(swap->env, swap->n_env);
	free(swap->port);
	free(swap->proxy);
	spec_health_free(swap->health);
	free_sealed(swap->secrets, swap->n_secrets);
	container_clear(swap);
	ferry__swap__init(swap);
}
