/* SPDX-License-Identifier: Apache-2.0 */
/* spec.h: the service spec a user writes (DESIGN "The operator's
 * interface"), parsed and checked against its schema.  Its wire form is
 * specwire.h's, its image grammar imageref.h's. */
#ifndef FERRY_SPEC_H
#define FERRY_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "imageref.h"

#define SPEC_MAX_BYTES		(1024 * 1024)	/* larger files are refused */
#define SPEC_SERVICE_MAX	63	/* [a-z0-9][a-z0-9_.-]{0,62} */
#define SPEC_IMAGE_MAX		IMAGEREF_MAX	/* spec_image_check's */
#define SPEC_HOST_MAX		63	/* a host name or label key */
#define SPEC_LABEL_VALUE_MAX	127
#define SPEC_HOSTS_MAX		4096	/* names in hosts: [...] */
#define SPEC_LABELS_MAX		16	/* labels in hosts: { labels: ... } */
#define SPEC_ENV_MAX		1024
#define SPEC_ARGV_MAX		256	/* words in health.exec */
#define SPEC_PATH_MAX		1024	/* health.http.path */
#define SPEC_DURATION_MAX_MS	(24u * 3600 * 1000)	/* any duration */
#define SPEC_THRESHOLD_MAX	1000	/* healthy_/unhealthy_threshold */
#define SPEC_START_INTERVAL_MS	100	/* health.start_interval default */
#define SPEC_SECRETS_MAX	64	/* names in secrets: [...] */
#define SPEC_SECRET_NAME_MAX	64	/* [A-Za-z0-9_][A-Za-z0-9_.-]{0,63} */
#define SPEC_ERRORS_MAX		20	/* problems listed, then "and N
					 * more" */

/* The container's own settings (issue 16). */
#define SPEC_PORTS_MAX		16	/* entries of ports: */
#define SPEC_VOLUMES_MAX	32	/* entries of volumes: */
#define SPEC_VOLUME_NAME_MAX	64	/* [A-Za-z0-9][A-Za-z0-9_.-]+ */
#define SPEC_USER_MAX		64	/* user: name or uid[:gid] */
#define SPEC_CLABELS_MAX	64	/* entries of labels: */
#define SPEC_CLABEL_KEY_MAX	128
#define SPEC_CLABEL_VALUE_MAX	1024
#define SPEC_LOG_OPTS_MAX	16	/* log.options */
#define SPEC_LOG_OPT_MAX	256	/* bytes of a log option's value */
#define SPEC_MEMORY_MIN		(6ull << 20)	/* Docker's least: 6 MiB */
#define SPEC_MEMORY_MAX		(1ull << 50)	/* 1 PiB */
#define SPEC_CPUS_MAX		1024
#define SPEC_STOP_TIMEOUT_MAX_S	3600	/* stop_timeout: at most 1h */
#define SPEC_SIGNAL_MAX		15	/* SIGRTMIN+15 */

/* How the hosts of a rollout are chosen: by name or by label. */
enum spec_hosts {
	SPEC_HOSTS_NAMES = 1,	/* hosts: [web-1, web-2] */
	SPEC_HOSTS_LABELS = 2,	/* hosts: { labels: { role: web } } */
};

/* The health check; the numbers are the proto's HealthSpec check cases. */
enum spec_check {
	SPEC_CHECK_HTTP = 1,	/* http: { path, port, status } */
	SPEC_CHECK_TCP = 2,	/* tcp: PORT */
	SPEC_CHECK_EXEC = 3,	/* exec: [cmd, args...] */
	SPEC_CHECK_DOCKER = 4,	/* docker: true (the image's HEALTHCHECK) */
};

/* The numbers are the proto's Order values. */
enum spec_order {
	SPEC_ORDER_STOP_FIRST = 0,
	SPEC_ORDER_START_FIRST = 1,
};

/* The numbers are the proto's ProxyMode values. */
enum spec_proxy_mode {
	SPEC_PROXY_HTTP = 0,	/* per request: keep-alive, X-Forwarded-For */
	SPEC_PROXY_TCP = 1,	/* per connection, bytes as they come */
};

#define SPEC_DRAIN_MS		30000u	/* proxy.drain_timeout default */
#define SPEC_PAUSE_MS		30000u	/* proxy.max_pause default */
#define SPEC_UPSTREAM_MS	60000u	/* proxy.upstream_timeout default */
#define SPEC_PROXY_TIME_MAX_MS	(3600u * 1000)	/* any of the three */
#define SPEC_MAX_BODY_MAX	(1ull << 40)	/* proxy.max_body: 1 TiB */

/* How ferry-proxy serves a service with a host port (proxy: { ... }). */
struct spec_proxy {
	enum spec_proxy_mode mode;	/* default http with an HTTP health
					 * check, else tcp */
	uint32_t drain_timeout_ms;	/* in flight finish, default 30s */
	uint32_t max_pause_ms;		/* held requests wait, default 30s */
	uint32_t upstream_timeout_ms;	/* a slow container: 504, 60s */
	uint64_t max_body;		/* request body bytes; 0: no limit
					 * (the default) */
	int sticky;			/* http: a cookie keeps a client on
					 * its revision (default false) */
};

enum spec_on_failure {
	SPEC_ON_FAILURE_ROLLBACK = 0,
	SPEC_ON_FAILURE_PAUSE = 1,
	SPEC_ON_FAILURE_CONTINUE = 2,
};

/* How a revision replaces the one before (strategy:). */
enum spec_strategy {
	SPEC_STRATEGY_ROLLING = 0,	/* batches of hosts (the default) */
	SPEC_STRATEGY_CANARY = 1,	/* canary: steps of traffic weight */
	SPEC_STRATEGY_BLUE_GREEN = 2,	/* every host switches together */
};

#define SPEC_STEPS_MAX		16	/* canary.steps */
#define SPEC_PROM_MAX		8	/* analysis.prometheus */
#define SPEC_PROM_NAME_MAX	32	/* [a-z0-9_-]{1,32} */
#define SPEC_PROM_QUERY_MAX	4096	/* bytes of PromQL */
#define SPEC_PROM_URL_MAX	2048	/* bytes of http(s):// URL */
#define SPEC_PROGRESS_MS	600000u	/* rollout.progress_deadline default */
#define SPEC_KEEP_OLD_MS	600000u	/* blue_green.keep_old default */
#define SPEC_INTERVAL_MS	30000u	/* analysis.interval default */
#define SPEC_MIN_REQUESTS	200u	/* analysis.min_requests default */
#define SPEC_MIN_REQUESTS_MAX	1000000000ull	/* 10^9 */
#define SPEC_FAILURE_LIMIT	2u	/* analysis.failure_limit default */
#define SPEC_FAILURE_LIMIT_MAX	1000u
#define SPEC_FACTOR_MAX		1000.0	/* analysis.relative factors */

/* One step of a canary: the share of traffic the new revision takes on
 * the canary hosts, and for how long. */
struct spec_step {
	uint32_t weight;		/* percent of new traffic, 1..100 */
	uint32_t for_ms;		/* how long; 0 with wait */
	int wait;			/* no for: waits for ferry promote */
};

/* canary: { hosts, steps }, with strategy: canary. */
struct spec_canary {
	int hosts_all;			/* hosts: all (the default) */
	uint32_t hosts;			/* hosts: N, or ... */
	int hosts_percent;		/* ... hosts: N% (hosts holds N) */
	struct spec_step steps[SPEC_STEPS_MAX];
	size_t nsteps;			/* 1..SPEC_STEPS_MAX */
};

/* What an interval with too few requests on either side leads to. */
enum spec_inconclusive {
	SPEC_INCONCLUSIVE_PAUSE = 0,	/* the deployment pauses (default) */
	SPEC_INCONCLUSIVE_FAIL = 1,	/* counts as a failed interval */
};

/* One analysis.prometheus check: the query's value must not exceed max. */
struct spec_prom {
	char *name;			/* prometheus-N when not given */
	char *url;			/* http:// or https:// */
	char *query;			/* PromQL */
	double max;			/* the value must not exceed it */
};

/* analysis: { ... }, with strategy canary or blue-green. */
struct spec_analysis {
	int set;			/* analysis: present */
	uint32_t interval_ms;		/* default 30s */
	uint64_t min_requests;		/* per side and interval, default 200 */
	double error_rate_max;		/* a fraction 0..1; < 0: no check */
	uint32_t p95_max_ms;		/* 0: no check */
	double relative_error_rate;	/* a factor > 1; 0: no check */
	double relative_p95;		/* a factor > 1; 0: no check */
	uint32_t failure_limit;		/* default 2 */
	enum spec_inconclusive inconclusive;	/* default pause */
	struct spec_prom *prom;		/* nprom of them, file order */
	size_t nprom;
};

/* A name and its value: an environment variable or a host label. */
struct spec_pair {
	char *name;
	char *value;
};

struct spec_health {
	enum spec_check check;
	char *http_path;		/* SPEC_CHECK_HTTP: starts with '/' */
	uint32_t http_port;		/* container port, 1..65535 */
	uint32_t http_status;		/* expected status, default 200 */
	uint32_t tcp_port;		/* SPEC_CHECK_TCP: container port */
	char **argv;			/* SPEC_CHECK_EXEC: argc words */
	size_t argc;
	uint32_t interval_ms;		/* default 1s */
	uint32_t timeout_ms;		/* default 1s */
	uint32_t start_period_ms;	/* default 0s */
	uint32_t start_interval_ms;	/* between checks until the first
					 * pass: default 100ms, or interval
					 * when less; never above interval */
	uint32_t healthy_threshold;	/* default 1 */
	uint32_t unhealthy_threshold;	/* default 3 */
	uint32_t deadline_ms;		/* default 60s */
	uint32_t min_healthy_ms;	/* default 5s, always below deadline */
};

struct spec_rollout {
	uint32_t batch;			/* hosts per batch (default 1), or */
	int batch_percent;		/* ... a percentage 1..100 of them */
	uint32_t canary;		/* size of the first batch; 0: none */
	enum spec_order order;		/* default start-first (ferry-proxy
					 * moves the traffic; an agent without
					 * one refuses it for a host port) */
	uint32_t pause_ms;		/* between batches, default 0s */
	uint32_t max_failures;		/* default 0 */
	enum spec_on_failure on_failure;	/* default rollback */
	int skip_offline;		/* matched hosts offline at the start
					 * are left out (default: refused) */
	uint32_t progress_deadline_ms;	/* the longest a canary or blue-green
					 * goes without progress, default 10m */
};

/* A secret the spec names, and (once ferryd has looked it up, or loaded
 * a revision) the version the revision pins. */
struct spec_secret {
	char name[SPEC_SECRET_NAME_MAX + 1];
	uint64_t version;		/* 0: not looked up yet */
};

/* Docker's RestartPolicy once a swap is done (restart:); the names are
 * Docker's.  While a swap judges a new container it has none. */
enum spec_restart {
	SPEC_RESTART_UNLESS_STOPPED = 0,	/* the default */
	SPEC_RESTART_NO = 1,
	SPEC_RESTART_ON_FAILURE = 2,		/* restart_max: 0 unbounded */
	SPEC_RESTART_ALWAYS = 3,
};

/* One entry of ports: (port: is the one-entry form). */
/* How ferry-proxy serves one of ports: (its mode:); the numbers are the
 * proto's PortBinding.mode values. */
enum spec_port_mode {
	SPEC_PORT_MODE_SERVICE = 0,	/* the service's proxy.mode */
	SPEC_PORT_MODE_HTTP = 1,
	SPEC_PORT_MODE_TCP = 2,
};

struct spec_port {
	uint32_t host;			/* 1..65535, distinct */
	uint32_t container;		/* 1..65535 */
	enum spec_port_mode mode;	/* through ferry-proxy */
};

/* One entry of volumes: "SOURCE:TARGET[:ro|:rw]". */
struct spec_volume {
	char *source;			/* an absolute host path (a bind) or
					 * a named volume */
	char *target;			/* an absolute path in the container */
	int bind;			/* source is a host path */
	int read_only;
};

/* health: { docker: { test: [...], ... } }: a HEALTHCHECK of the spec's
 * own, given to the container (Docker's Healthcheck), by which the docker
 * check judges instead of the image's. */
struct spec_healthcheck {
	int set;
	char **test;			/* Docker's Test: [CMD, ...],
					 * [CMD-SHELL, "..."] */
	size_t ntest;
	uint32_t interval_ms;		/* default health.interval */
	uint32_t timeout_ms;		/* default health.timeout */
	uint32_t start_period_ms;	/* default health.start_period */
	uint32_t retries;		/* default
					 * health.unhealthy_threshold */
};

/* One service spec, as checked.  Everything it points to is owned by it
 * and freed by spec_free. */
struct spec {
	char service[SPEC_SERVICE_MAX + 1];
	char image[SPEC_IMAGE_MAX + 1];	/* as written: repo:tag, repo@sha256 */
	enum spec_hosts hosts;
	char **host_names;		/* SPEC_HOSTS_NAMES, distinct */
	size_t nhost_names;
	struct spec_pair *host_labels;	/* SPEC_HOSTS_LABELS, distinct keys */
	size_t nhost_labels;
	struct {
		int set;		/* 0: the service publishes no port */
		uint32_t host;		/* 1..65535 */
		uint32_t container;	/* 1..65535 */
	} port;
	struct spec_pair *env;		/* in the file's order, distinct */
	size_t nenv;
	struct spec_health health;
	struct spec_rollout rollout;
	struct spec_proxy proxy;	/* always filled: defaults when the
					 * spec has no proxy: key */
	struct spec_secret *secrets;	/* in the file's order, distinct */
	size_t nsecrets;
	enum spec_strategy strategy;	/* default rolling */
	struct spec_canary canary;	/* SPEC_STRATEGY_CANARY */
	uint32_t keep_old_ms;		/* SPEC_STRATEGY_BLUE_GREEN: the old
					 * containers stay warm, default 10m */
	struct spec_analysis analysis;	/* canary or blue-green, optional */

	/* The container (issue 16): each empty or 0 when not written (the
	 * image's own, or Docker's default). */
	struct spec_port *ports;	/* ports:, or port: as its one entry;
					 * ports[0] is also port */
	size_t nports;
	char **command;			/* Cmd */
	size_t ncommand;
	char **entrypoint;		/* Entrypoint */
	size_t nentrypoint;
	char *workdir;			/* WorkingDir */
	char *user;			/* User: name or uid[:gid] */
	struct spec_volume *volumes;	/* file order, distinct targets */
	size_t nvolumes;
	uint64_t memory;		/* bytes (Memory); 0: no limit */
	uint64_t nano_cpus;		/* NanoCpus; 0: no limit */
	enum spec_restart restart;	/* default unless-stopped */
	uint32_t restart_max;		/* on-failure:N */
	char stop_signal[16];		/* "" : the image's (SIGTERM) */
	uint32_t stop_timeout_s;	/* 0: 10 s */
	struct spec_pair *labels;	/* the user's labels, file order */
	size_t nlabels;
	char *log_driver;		/* NULL: the daemon's default */
	struct spec_pair *log_opts;	/* log.options */
	size_t nlog_opts;
	struct spec_healthcheck healthcheck;	/* health.docker mapping */
	int catch_up_off;		/* catch_up: off (default auto) */
};

/* spec_restart_text writes s's restart policy as Docker names it
 * ("unless-stopped", "on-failure:3", ...) into buf. */
void
spec_restart_text(const struct spec *s, char *buf, size_t len);

/*
 * spec_parse reads the service spec in text (len bytes, need not be
 * NUL-terminated) with libyaml, checks every field, and on success stores a
 * new spec in *out, to be freed with spec_free.  filename is used only in
 * messages (NULL reads as "spec").
 *
 * Required keys: service, image, hosts, health (with exactly one check).
 * Every other setting takes DESIGN's default when absent.  Every key
 * accepted has an effect: proxy: for a service without a host port is
 * refused (the proxy serves host ports only), and so are strategy canary
 * and blue-green without one (ferry-proxy splits their traffic); canary:
 * and blue_green: need their strategy, analysis: needs canary or
 * blue-green and at least one check, rollout.canary (a first batch) does
 * not go with strategy: canary (canary.hosts says which hosts), and
 * rollout.progress_deadline must be above analysis.interval.  Unknown
 * keys, duplicate keys, wrong types, bad values and impossible
 * combinations are refused, as are YAML aliases (*name), more than one document and files
 * larger than SPEC_MAX_BYTES.  A scalar is read by its text, quoted or
 * not: port: "8080" is port 8080, and env values are kept as written.
 *
 * Returns 0, FERR_MALFORMED (not YAML, or not a valid spec), FERR_TOOBIG
 * (the file is too large), FERR_NOMEM or FERR_ARG (out or text NULL).  On
 * failure *out is NULL and err (when not NULL) holds every problem found,
 * one a line in the file's order, each naming the file, the 1-based line
 * and the field, and saying what was expected:
 *
 *	web.yml:7: health.interval: expected a duration like 500ms, 5s or
 *	2m, got "fast"
 *	web.yml:12: restart: expected no, on-failure[:N], always or
 *	unless-stopped, got "sometimes"
 *
 * Each section is read to its first problem and the next section is read
 * still; the checks across sections run only when the sections read
 * cleanly.  At most SPEC_ERRORS_MAX lines are written, then "and N more
 * problems"; what does not fit in errlen is cut at a line's end.
 *
 * Environment values never appear in messages.  Nothing is leaked on any
 * path.
 */
int
spec_parse(const char *filename, const char *text, size_t len,
    struct spec **out, char *err, size_t errlen);

/* spec_secret_name_valid: s is a secret's name, a file name under
 * /run/secrets: [A-Za-z0-9_][A-Za-z0-9_.-]{0,63}. */
int
spec_secret_name_valid(const char *s);

/* spec_free frees s and everything it owns.  NULL is safe. */
void
spec_free(struct spec *s);

#endif
