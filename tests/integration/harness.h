/* SPDX-License-Identifier: Apache-2.0 */
/* harness.h: real ferryd and ferry-agent processes for integration tests.
 *
 * Every test gets its own temporary folder, its own ports and its own
 * sockets; processes it starts are ended by pid when it finishes.  Every
 * wait is bounded. */
#ifndef FERRY_HARNESS_H
#define FERRY_HARNESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>
#include <sys/types.h>

#define H_MAX_PROCS 32

struct h_proc {
	pid_t pid;
	char name[64];
	char log[512];
};

#define H_MAX_HOSTS 8

struct h_fleet {
	char dir[256];		/* the test's temporary folder */
	char sock[512];		/* ferryd's CLI socket */
	char listen[64];	/* tcp://127.0.0.1:PORT */
	int port;
	char http[32];		/* 127.0.0.1:PORT for ferryd's /healthz */
	struct h_proc procs[H_MAX_PROCS];
	int nprocs;
	struct h_proc *ferryd;
	/* Hosts whose agents were started here: their containers (labelled
	 * ferry.host=NAME) are removed by h_fini. */
	char hosts[H_MAX_HOSTS][64];
	int nhosts;
	/* Each agent started here gets its own ferry-proxy (state dir and
	 * control socket in DIR/NAME-proxy), started before the agent and
	 * ended after it, kept across the agent's restarts.  A test whose
	 * agents need none sets no_proxy before it starts them: they get
	 * --proxy-control "" (containers publish their ports themselves). */
	int no_proxy;
	struct h_proc *proxies[H_MAX_HOSTS];	/* by index in hosts */
};

/* Output of one CLI run. */
struct h_run {
	int status;		/* exit status, or 128+signal */
	char out[65536];
	char err[8192];
};

/* h_init makes the folder and picks a free port; never fails quietly. */
void h_init(struct h_fleet *f);
/* h_fini ends every process started here (TERM, then KILL) and removes the
 * folder. */
void h_fini(struct h_fleet *f);

/* h_bin returns the path of a ferry binary (FERRY_BIN or build/). */
const char *h_bin(const char *name, char *buf, size_t len);

/* h_spawn starts argv[0] (a ferry binary name, or a path) with its stderr
 * and stdout going to DIR/<name>.log. */
struct h_proc *h_spawn(struct h_fleet *f, const char *name,
    const char *const *argv);

/* h_start_ferryd starts ferryd -d -v on the fleet's port and socket, with
 * extra flags appended, and waits until the CLI answers. */
struct h_proc *h_start_ferryd(struct h_fleet *f, const char *const *extra);

/* h_ferry runs the CLI against the fleet's socket (bounded: 30 s). */
void h_ferry(struct h_fleet *f, struct h_run *r, const char *const *args);
/* h_ferry_ms: the same, bounded by ms (a whole rollout watched). */
void h_ferry_ms(struct h_fleet *f, struct h_run *r, const char *const *args,
    int ms);
/* h_run runs any command line (bounded: 30 s). */
void h_run(struct h_run *r, const char *const *argv);

/* h_token creates a token; extra args ("--ttl", "1s", ...) optional. */
void h_token(struct h_fleet *f, char *tok, size_t len,
    const char *const *extra);

/* h_join enrols NAME with TOKEN (state dir DIR/NAME) and returns the run. */
void h_join(struct h_fleet *f, struct h_run *r, const char *token,
    const char *name, const char *publish);

/* h_start_agent starts the agent of NAME (state dir DIR/NAME) with a 200ms
 * heartbeat, plus extra flags. */
struct h_proc *h_start_agent(struct h_fleet *f, const char *name,
    const char *const *extra);

/* h_proxy_control writes the control socket of NAME's ferry-proxy. */
const char *h_proxy_control(struct h_fleet *f, const char *name, char *buf,
    size_t len);
/* h_start_proxy starts NAME's ferry-proxy (-d -v) unless it runs, and
 * waits (bounded: 10 s) until its control socket answers a Status. */
struct h_proc *h_start_proxy(struct h_fleet *f, const char *name);
/* h_wait_proxy waits (bounded by ms) until ferryd has heard NAME's
 * ferry-proxy answer its agent (`ferry hosts --json`: proxy.state), as a
 * start-first plan with a host port needs. */
void h_wait_proxy(struct h_fleet *f, const char *name, int ms);
/* h_add_agent: token, join, start; the host is online when it returns,
 * and, unless no_proxy, ferryd has heard from its ferry-proxy.
 * h_add_agent_with starts the agent with extra arguments (NULL-ended). */
struct h_proc *h_add_agent(struct h_fleet *f, const char *name,
    const char *publish);
struct h_proc *h_add_agent_with(struct h_fleet *f, const char *name,
    const char *publish, const char *const *extra);

/* h_host_state returns the host's state from `ferry hosts --json` in buf
 * ("online", "pending", ...; "" when absent). */
const char *h_host_state(struct h_fleet *f, const char *name, char *buf,
    size_t len);

/* h_host_json returns the object of name in `ferry hosts --json` (NULL
 * when absent); the caller deletes the whole answer, *arr. */
struct cJSON;
struct cJSON *h_host_json(struct h_fleet *f, const char *name,
    struct cJSON **arr);

/* h_wait_state waits (bounded by ms) until the host has state; returns 1
 * when it did. */
int h_wait_state(struct h_fleet *f, const char *name, const char *state,
    int ms);

/* h_log_has: the process's log contains text. */
int h_log_has(const struct h_proc *p, const char *text);
/* h_wait_log waits (bounded by ms) for text in the log. */
int h_wait_log(const struct h_proc *p, const char *text, int ms);

/* h_kill sends sig and, for KILL and TERM, reaps the process; returns the
 * exit status (or 128+signal). */
int h_kill(struct h_proc *p, int sig);
/* h_alive: the process runs. */
int h_alive(struct h_proc *p);

/* h_sleep_ms sleeps for a bounded, short time. */
void h_sleep_ms(int ms);

/* h_port_free_on: nothing listens on addr:port now. */
int h_port_free_on(const char *addr, int port);
/* h_free_port returns a TCP port free on 127.0.0.1 now. */
int h_free_port(void);

/* h_unique writes a name unique to this test process: PREFIX-<pid>. */
const char *h_unique(const char *prefix, char *buf, size_t len);

/* h_write writes a file DIR/rel from a printf format. */
void h_write(struct h_fleet *f, const char *rel, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* h_http_get GETs http://ip:port/path (bounded: 3 s) and returns the HTTP
 * status, 0 when nothing answered; body gets the start of the answer. */
int h_http_get(const char *ip, int port, const char *path, char *body,
    size_t len);

/* h_docker runs /usr/bin/docker with args (bounded). */
int h_docker(struct h_run *r, const char *const *args);

/* h_docker_rm_host removes every container labelled ferry.host=host. */
void h_docker_rm_host(const char *host);

/* h_mono_ms is a monotonic clock in milliseconds. */
uint64_t h_mono_ms(void);

/* h_hex writes n bytes as lowercase hex into out. */
void h_hex(const uint8_t *b, size_t n, char *out, size_t outlen);

/* A cut-able relay on 127.0.0.1: connections to port go on to target
 * (both on 127.0.0.1) until it is cut.  Cut, it drops every connection and
 * refuses new ones; uncut, it relays again. */
struct h_relay {
	int port, target;
	int lfd;
	atomic_int cut, stop;
	pthread_t th;
	/* With h_relay_record: every byte relayed is also written to
	 * <record>.<n>.up (from the side that connected) and .down, n
	 * counting connections from 1. */
	char record[512];
	atomic_int nconn;
};

/* h_relay_start listens on a free port of 127.0.0.1 (r->port). */
void h_relay_start(struct h_relay *r, int target);
/* h_relay_cut cuts the relay (on 1) or lets it relay again (on 0). */
void h_relay_cut(struct h_relay *r, int on);
/* h_relay_stop ends the relay's thread and closes its socket. */
void h_relay_stop(struct h_relay *r);
/* h_relay_record records the connections made from now on under prefix
 * (see struct h_relay). */
void h_relay_record(struct h_relay *r, const char *prefix);
/* h_sp_messages calls fn with the body of each message recorded in file
 * (one direction of one NNG connection: the SP header, then messages of a
 * 64-bit length, a 4-byte request id and the body); returns how many. */
int h_sp_messages(const char *file, void (*fn)(const uint8_t *body,
    size_t len, void *arg), void *arg);

/* h_db_open opens DIR/rel, a database of a daemon the test started (read
 * and write, with a busy timeout); the caller closes it. */
sqlite3 *h_db_open(struct h_fleet *f, const char *rel);
/*
 * h_db_row runs sql on DIR/rel, with at most one blob and one text
 * parameter, bound in that order when given, and copies the first row's
 * columns: column 0 as text into t0 (when not NULL), column 1 as a blob
 * into *b1 (heap, when not NULL).  Returns 1 when there was a row.
 */
int h_db_row(struct h_fleet *f, const char *rel, const char *sql,
    const void *blob, int blen, const char *text, char *t0, size_t t0len,
    uint8_t **b1, size_t *b1len);
/* h_db_int: the first column of the first row as an integer, -1 for none. */
long long h_db_int(struct h_fleet *f, const char *rel, const char *sql,
    const void *blob, int blen, const char *text);

struct keypair;
/* h_load_key loads the key pair at DIR/rel (the test owns the state dirs
 * of the daemons it starts). */
void h_load_key(struct h_fleet *f, const char *rel, struct keypair *kp);

/* h_log_count counts the lines of the process's log that contain text. */
int h_log_count(const struct h_proc *p, const char *text);

/* h_path writes DIR/rel into buf. */
const char *h_path(struct h_fleet *f, const char *rel, char *buf, size_t len);

#endif
