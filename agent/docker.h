/* SPDX-License-Identifier: Apache-2.0 */
/* docker.h: the Docker Engine API over its Unix socket.
 *
 * Every call blocks (libcurl) and must run off the agent's event loop, on a
 * libuv worker thread.  One struct docker is one connection: never use the
 * same one from two threads at once (docker_open a handle per worker).
 * Errors come back as FERR_DOCKER (or FERR_NOTFOUND for a missing image or
 * container) with a one-line reason in err that names what failed, e.g.
 * "pull 127.0.0.1:5000/web:9: manifest unknown".  A daemon that does not
 * answer in time is FERR_TIMEOUT; a container name, id or image reference
 * with characters Docker never uses is FERR_ARG.  err never carries
 * registry credentials. */
#ifndef FERRY_DOCKER_H
#define FERRY_DOCKER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry.pb-c.h"

/* The Engine API version ferry speaks, pinned in every request path. */
#define DOCKER_API_VERSION	"1.41"

struct docker;

int docker_open(struct docker **out, const char *socket_path);
void docker_close(struct docker *d);

/* docker_check asks the daemon its version and refuses one whose API is
 * older than DOCKER_API_VERSION; version gets the daemon's version. */
int docker_check(struct docker *d, char *version, size_t vlen, char *err,
    size_t errlen);

/*
 * docker_pull pulls ref (repo:tag or repo@sha256:...), with optional
 * registry credentials (NULL for none; never logged).  Docker answers 200
 * and reports failures inside the progress stream: those are errors too.
 */
int docker_pull(struct docker *d, const char *ref, const char *username,
    const char *password, char *err, size_t errlen);

/* docker_image_digest finds the repo@sha256:... reference of a local image
 * (from RepoDigests, for ref's repository).  FERR_NOTFOUND when the image
 * is not there or has no digest for that repository. */
int docker_image_digest(struct docker *d, const char *ref, char *digest,
    size_t len, char *err, size_t errlen);

/* docker_image_remove_unused takes ferry's names off the image ref (a
 * digest reference, repo@sha256:...) names, when no container at all was
 * made from it: ref itself and the tags of ref's repository, one by one
 * and never forced, so that Docker deletes the image with its last name
 * and keeps one a name in another repository still has (*gone says
 * whether the image went).  FERR_STATE (err says so) when a container
 * was made from it, FERR_NOTFOUND when ref is not here. */
int docker_image_remove_unused(struct docker *d, const char *ref, int *gone,
    char *err, size_t errlen);
/* docker_image_user reads the user a local image runs as (its
 * Config.User: "", "name", "uid" or "uid:gid"). */
int docker_image_user(struct docker *d, const char *ref, char *user,
    size_t len, char *err, size_t errlen);

struct docker_label {
	const char *key, *value;
};

/* A host port and the container port it goes to. */
struct docker_port {
	uint32_t host, container;
};

/* What a container is created with. */
struct docker_create_opts {
	const char *name;
	const char *image;		/* by digest */
	const char *const *env;		/* "K=V", NULL-terminated, or NULL */
	const struct docker_label *labels;
	size_t nlabels;
	const char *publish_ip;		/* host address ports bind to
					 * (NULL: every address) */
	uint32_t host_port, container_port;	/* 0: no port */
	const char *restart_policy;	/* "no", "unless-stopped", ... */
	const char *stop_signal;	/* NULL: the image's */
	uint32_t stop_timeout_s;	/* 0: Docker's default (10 s) */
	/* Only ever set after the agent's allowlist said yes. */
	int privileged;
	const char *network_mode;
	const char *pid_mode;
	const char *const *cap_add;	/* NULL-terminated or NULL */
	const char *const *binds;	/* "src:dst[:ro]", NULL-terminated */
	/* Replaces the image's CMD (NULL-terminated, or NULL for the
	 * image's own): the spec's command:, or a test's. */
	const char *const *cmd;
	/* The spec's container settings (ferry.yml(5)); each NULL or 0 for
	 * the image's own or Docker's default. */
	const char *const *entrypoint;	/* NULL-terminated */
	const char *workdir;
	const char *user;
	const struct docker_port *more_ports;	/* published besides
						 * host_port */
	size_t nmore_ports;
	const char *const *volumes;	/* "name:/dst[:ro]", NULL-terminated */
	uint64_t memory;		/* bytes */
	uint64_t nano_cpus;
	const char *log_driver;		/* LogConfig.Type */
	const struct docker_label *log_opts;	/* LogConfig.Config */
	size_t nlog_opts;
	const char *const *health_test;	/* Healthcheck.Test, NULL-ended */
	uint32_t health_interval_ms, health_timeout_ms, health_start_ms;
	uint32_t health_retries;
};

/* docker_create creates (does not start) a container; id gets its id.
 * A name already taken is FERR_EXISTS; a missing image FERR_NOTFOUND
 * (create does not pull). */
int docker_create(struct docker *d, const struct docker_create_opts *o,
    char *id, size_t idlen, char *err, size_t errlen);

int docker_start(struct docker *d, const char *id, char *err, size_t errlen);
/* docker_stop stops with the container's stop signal, then kills after
 * timeout_s; stopping a stopped container is not an error. */
int docker_stop(struct docker *d, const char *id, uint32_t timeout_s,
    char *err, size_t errlen);
/* docker_update_restart sets a container's restart policy ("no",
 * "unless-stopped", ...). */
int docker_update_restart(struct docker *d, const char *id,
    const char *policy, char *err, size_t errlen);
/* docker_remove removes (force: even running); a missing one is not an
 * error. */
int docker_remove(struct docker *d, const char *id, int force, char *err,
    size_t errlen);

/* The longest ferry.health label read back (livehealth.h). */
#define DOCKER_HEALTH_LABEL_MAX	4096

struct docker_state {
	char id[80];
	char name[128];
	char image[256];	/* as created (our digest reference) */
	char status[32];	/* created, running, exited, ... */
	int running;
	int exit_code;
	char health[32];	/* Docker HEALTHCHECK: healthy, unhealthy,
				 * starting, or "" without one */
	char health_output[512];	/* last HEALTHCHECK output */
	char service[128], revision[32], deployment[64], host[128];
	char command[64];	/* ferry.command label */
	char ip[64];		/* its address on its first network, or "" */
	uint32_t port;		/* ferry.port label: the container port the
				 * proxy reaches it on (0: none) */
	uint32_t published;	/* a host port it publishes itself (its
				 * HostConfig's PortBindings), or 0 */
	uint32_t listen;	/* ferry.listen label: the host port the
				 * proxy serves it on (0: not proxied) */
	uint32_t weight;	/* ferry.weight label: its share (0..100)
				 * when it was started beside another */
	int weighted;		/* it has that label (0 is a share) */
	char proxy[96];		/* ferry.proxy label: the route's settings
				 * (swap.c writes and reads it) */
	char more_ports[200];	/* ferry.ports label: the proxy's other
				 * host ports of it, "listen:port ..."
				 * (swap.c writes and reads it) */
	uint32_t stop_timeout_s;	/* its Config.StopTimeout (the spec's
					 * stop_timeout), 0: not set (10 s) */
	/* ferry.health label: the check the agent keeps probing it by
	 * between deployments (livehealth.c writes and reads its text;
	 * "" on containers made before it) */
	char health_check[DOCKER_HEALTH_LABEL_MAX];
	char restart[32];	/* ferry.restart label: its RestartPolicy
				 * once a swap is done ("" before issue
				 * 16: unless-stopped) */
};

/* docker_inspect reads one container; FERR_NOTFOUND when it is gone. */
int docker_inspect(struct docker *d, const char *id, struct docker_state *st,
    char *err, size_t errlen);

/*
 * docker_list_host lists every container (any state) labelled
 * ferry.host=host, as docker_states (heap array, caller frees).
 */
int docker_list_host(struct docker *d, const char *host,
    struct docker_state **out, size_t *n, char *err, size_t errlen);

/* docker_list fills Ferry__Container entries for a heartbeat (labels
 * ferry.host=host); free with docker_list_free. */
int docker_list(struct docker *d, const char *host, Ferry__Container ***out,
    size_t *n, char *err, size_t errlen);
void docker_list_free(Ferry__Container **list, size_t n);

/* docker_logs returns the last tail lines (tail < 0: all) of stdout and
 * stderr as text (heap; caller frees), stripped of Docker's stream
 * framing; beyond 8 MiB the rest is dropped. */
int docker_logs(struct docker *d, const char *id, int tail, char **out,
    char *err, size_t errlen);

/* What docker_logs_read asks for. */
struct docker_logs_opts {
	uint64_t since_ns;	/* unix ns; 0: from the start */
	int tail;		/* the last lines only; -1: all */
	int follow;		/* then wait for new ones */
	long timeout_ms;	/* the whole call; 0: the default */
	const atomic_int *cancel;	/* non-zero: give up (FERR_CLOSED) */
};

/*
 * docker_logs_read streams a container's log (stdout and stderr, each line
 * with Docker's timestamp) to data as it comes, as Docker sends it: with
 * its multiplexed framing unless *tty (set before the first byte comes)
 * says the container has a TTY (logframe.h reads both).  data
 * returning non-zero ends the call with that error.  A follow ends when the
 * container stops, with FERR_TIMEOUT at timeout_ms, or with FERR_CLOSED
 * soon after *cancel turns non-zero.
 */
int docker_logs_read(struct docker *d, const char *id,
    const struct docker_logs_opts *o,
    int (*data)(void *arg, const char *p, size_t n), void *arg, int *tty,
    char *err, size_t errlen);

/*
 * docker_exec runs argv inside a running container, waits at most
 * timeout_ms, and returns its exit code and (up to outlen-1 bytes of)
 * output.  A run past the timeout is FERR_TIMEOUT (with the output so
 * far); Docker cannot kill an exec, so the command itself runs on until
 * it ends or its container stops.
 */
int docker_exec(struct docker *d, const char *id, const char *const *argv,
    uint32_t timeout_ms, int *exit_code, char *out, size_t outlen, char *err,
    size_t errlen);

#endif
