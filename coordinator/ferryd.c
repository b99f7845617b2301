/* SPDX-License-Identifier: Apache-2.0 */
/* ferryd.c: the coordinator daemon's start, loop and shutdown. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "args.h"
#include "clock.h"
#include "ferr.h"
#include "driftwatch.h"
#include "ferryd.h"
#include "traffic.h"
#include "keys.h"
#include "log.h"
#include "logs.h"
#include "metrics.h"
#include "notify.h"

#define SWEEP_MS	100

static const char usage[] =
"usage: ferryd [-d] [-v] [-n] [-f FILE] [--state-dir DIR] [--listen URL]\n"
"              [--socket PATH] [--http ADDR] [--advertise URL]\n"
"              [--missed-beats N] [--token-ttl DURATION]\n"
"              [--operators-group GROUP] [--allow-tokenless-joins]\n"
"              [--pending-hosts-max N] [--tokenless-join-rate N]\n"
"              [--agent-connections N]\n"
"              [--agent-auth-timeout D] [--http-connections N]\n"
"              [--http-header-timeout D] [--http-idle-timeout D]\n"
"              [--refusal-interval DURATION]\n"
"       ferryd [-f FILE] [--state-dir DIR] rotate-secrets-key\n"
"\n"
"The ferry coordinator: keeps the fleet database, signs commands, listens\n"
"for agents and for the ferry CLI.\n"
"\n"
"  -d                 stay in the foreground, log to stderr\n"
"  -v                 verbose (debug) logging\n"
"  -n                 check the configuration, print \"configuration OK\"\n"
"  -f FILE            config file (default /etc/ferry/ferryd.conf if present)\n"
"  --state-dir DIR    key and database (default /var/lib/ferry)\n"
"  --listen URL       where agents connect (default tcp://0.0.0.0:7400)\n"
"  --socket PATH      the CLI's socket (default /run/ferry/ferryd.sock)\n"
"  --http ADDR        /healthz (and metrics) on ADDR (default\n"
"                     127.0.0.1:7401; \"off\" serves nothing)\n"
"  --advertise URL    address put in join tokens (default: the listen\n"
"                     URL, with this machine's name for 0.0.0.0)\n"
"  --missed-beats N   heartbeats missed before a host is offline (default 3)\n"
"  --token-ttl D      default lifetime of join tokens (default 1h)\n"
"  --operators-group G\n"
"                     who besides root and ferryd's user may use the\n"
"                     socket (default ferry-operators)\n"
"  --insecure-cleartext-link yes|no\n"
"                     INSECURE: also take agents' messages in cleartext\n"
"                     (default no: the link is sealed, see ferryd(8))\n"
"  --allow-tokenless-joins [yes|no]\n"
"                     let hosts ask to join without a token; they wait as\n"
"                     pending until `ferry hosts accept` (default: no,\n"
"                     such joins are refused)\n"
"  --pending-hosts-max N\n"
"                     pending hosts kept at most; more joins without a\n"
"                     token are refused (default 64)\n"
"  --tokenless-join-rate N\n"
"                     joins without a valid token that may record\n"
"                     anything (a pending host, a new key's claim on a\n"
"                     name), per minute, in bursts of up to N\n"
"                     (default 30)\n"
"  --agent-connections N\n"
"                     agents' connections at once (default: the open\n"
"                     files limit less a reserve for everything else)\n"
"  --agent-auth-timeout D\n"
"                     a connection that brings no message from a known\n"
"                     host within D is closed (default 10s)\n"
"  --http-connections N  HTTP connections at once (default 64)\n"
"  --http-header-timeout D\n"
"                     a request's headers must be in within D of its\n"
"                     first byte's wait (default 10s)\n"
"  --http-idle-timeout D\n"
"                     a kept-alive connection idle this long is closed\n"
"                     (default 30s)\n"
"  --refusal-interval D\n"
"                     refusals on the agent link are counted by source and\n"
"                     reason: the first is logged at once, the rest summed\n"
"                     up once per interval (default 10s)\n"
"  --log-rate N       bytes of `ferry logs` lines per second a host sends,\n"
"                     1024 to 1048576; lines beyond are dropped and\n"
"                     counted (default 65536)\n"
"\n"
"rotate-secrets-key, with ferryd stopped, replaces DIR/secrets.key (the key\n"
"of the secrets at rest, kept apart from DIR/ferryd.db) and re-encrypts\n"
"every stored secret under the new one; run it again if it was stopped.\n"
"\n"
"Every flag can be set in the config file as \"name = value\" (state_dir,\n"
"listen, socket, http, advertise, missed_beats, token_ttl,\n"
"operators_group, insecure_cleartext_link, allow_tokenless_joins,\n"
"pending_hosts_max, tokenless_join_rate, agent_connections,\n"
"agent_auth_timeout, http_connections, http_header_timeout,\n"
"http_idle_timeout, refusal_interval, log_rate).\n";

/* Descriptors kept for everything but the agents' connections: the CLI's
 * socket and its clients, the database, the HTTP port and its
 * connections, NNG's and libuv's own, connections still in NNG's
 * handshake. */
#define FD_RESERVE_MIN	256
#define FD_RESERVE_MAX	1024
#define AGENT_CONNS_MAX	100000

/* fd_limit raises the soft limit on open files to the hard one and
 * returns the limit in force. */
static uint64_t
fd_limit(void)
{
	struct rlimit rl;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	was = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			log_warn("ferryd: cannot raise the open files limit "
			    "from %llu to %llu", (unsigned long long)was,
			    (unsigned long long)rl.rlim_max);
			rl.rlim_cur = was;
		}
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		rl.rlim_cur = (rlim_t)1 << 20;
	log_debug("ferryd: open files limit %llu (was %llu)",
	    (unsigned long long)rl.rlim_cur, (unsigned long long)was);
	return rl.rlim_cur;
}

/* agent_cap fits the agents' connections under the open files limit,
 * keeping a reserve for everything else. */
static void
agent_cap(struct ferryd_conf *c, uint64_t limit)
{
	uint64_t reserve = limit / 4, fit;

	if (reserve < FD_RESERVE_MIN)
		reserve = FD_RESERVE_MIN;
	if (reserve > FD_RESERVE_MAX)
		reserve = FD_RESERVE_MAX;
	reserve += c->http_connections;
	fit = limit > reserve + 16 ? limit - reserve : 16;
	if (fit > AGENT_CONNS_MAX)
		fit = AGENT_CONNS_MAX;
	if (c->agent_connections == 0) {
		c->agent_connections = (uint32_t)fit;
	} else if (c->agent_connections > fit) {
		log_warnx("ferryd: agent_connections %u leaves too few of the "
		    "%llu open files for the rest; %llu it is",
		    c->agent_connections, (unsigned long long)limit,
		    (unsigned long long)fit);
		c->agent_connections = (uint32_t)fit;
	}
	log_debug("ferryd: at most %u agent connections, %u HTTP "
	    "connections", c->agent_connections, c->http_connections);
}

/* db_remedy says what an operator does about a database that fails with
 * err; NULL when err is not about the state itself. */
static const char *
db_remedy(int err)
{
	switch (err) {
	case FERR_READONLY:
		return "make the file and its folder writable by ferryd's user "
		    "(and the file system read-write), then restart ferryd";
	case FERR_FULL:
		return "free space on its file system, then restart ferryd";
	case FERR_IO:
		return "check the disk (dmesg); if the file is damaged, restore "
		    "it from a backup";
	case FERR_CORRUPT:
	case FERR_TRUNCATED:
	case FERR_NOTDB:
		return "stop ferryd, move the file aside and restore ferryd.db "
		    "from a backup (keep ferryd.key: agents pin it); see "
		    "ferryd(8), DIAGNOSTICS";
	}
	return NULL;
}

/* db_faults says, at most every 10 s, what the writes that failed since
 * the last time have in common: the file, what is wrong, the remedy. */
static void
db_faults(void)
{
	static uint64_t last;
	uint64_t now = clock_mono_ms();
	char path[PATH_MAX];
	unsigned n;
	int err;

	if (last != 0 && now - last < 10000)
		return;
	if ((err = store_fault_take(path, sizeof(path), &n)) == 0)
		return;
	last = now;
	log_warnx("ferryd: database %s: %u operation(s) failed: %s; %s", path,
	    n, ferr_str(err), db_remedy(err) != NULL ? db_remedy(err) :
	    "see ferryd(8), DIAGNOSTICS");
}

/*
 * rotate runs `ferryd rotate-secrets-key`, ferryd being stopped: a new
 * secrets.key, every stored value re-encrypted under it (secrets_rotate).
 */
static int
rotate(const struct ferryd_conf *c)
{
	char key[PATH_MAX], db[PATH_MAX], why[600];
	size_t n;

	if (crypto_init() != 0) {
		fprintf(stderr, "ferryd: cannot initialise libsodium\n");
		return 1;
	}
	umask(077);
	snprintf(key, sizeof(key), "%s/secrets.key", c->state_dir);
	snprintf(db, sizeof(db), "%s/ferryd.db", c->state_dir);
	if (secrets_rotate(key, db, &n, why, sizeof(why)) != 0) {
		fprintf(stderr, "ferryd: rotate-secrets-key: %s (nothing "
		    "changed that running it again does not finish)\n", why);
		return 1;
	}
	printf("secrets.key replaced; %zu stored value(s) re-encrypted under "
	    "it.\nBack up %s now: the backups of the old key open only the "
	    "old database backups.\n", n, key);
	return 0;
}

/* gauges refreshes what /metrics counts afresh, once a second. */
static void
gauges(struct ferryd *fd)
{
	static uint64_t last;
	uint64_t now = clock_mono_ms(), by[RO_LAST + 1], online = 0;
	const char *names[RO_LAST + 1];
	size_t i;

	if (now - last < 1000)
		return;
	last = now;
	for (i = 0; i < fd->nhosts; i++)
		online += fd->hosts[i]->online;
	for (i = 0; i <= RO_LAST; i++)
		names[i] = rollout_state_name((enum rollout_state)i);
	if (store_deploy_counts(fd->store, by, RO_LAST + 1) == 0)
		metrics_gauges(fd->nhosts, online, by, RO_LAST + 1, names);
	deploy_metrics();
}

static void
on_sweep(uv_timer_t *t)
{
	struct ferryd *fd = t->data;

	gauges(fd);
	db_faults();
	repsrv_sweep(fd->agents, clock_mono_ms());
	http_sweep(fd, clock_mono_ms());
	link_sweep(fd);
	logs_sweep(fd);
	fleet_sweep(fd, clock_mono_ms());
	drain_sweep(fd);
	deploy_tick(fd, clock_steady_ms());
	driftwatch_tick(fd, clock_mono_ms());
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct ferryd *fd = s->data;

	if (fd->stopping) {
		log_info("ferryd: %s: already shutting down",
		    strsignal(signum));
		return;
	}
	fd->stopping = 1;
	log_info("ferryd: %s: shutting down", strsignal(signum));
	notify_stopping();
	uv_timer_stop(&fd->sweep);
	http_stop(fd);
	control_stop(fd);
	link_stop(fd);
	uv_close((uv_handle_t *)&fd->sweep, NULL);
	/* Still caught, so that a second TERM or INT while it stops does
	 * not kill it half-way; unreferenced, so that the loop ends. */
	uv_unref((uv_handle_t *)&fd->sigterm);
	uv_unref((uv_handle_t *)&fd->sigint);
	mailbox_close(&fd->mb);
}

/* ensure_parent creates the folder of a socket path if missing. */
static int
ensure_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) == 0 || errno == EEXIST)
		return 0;
	return FERR_IO;
}

int
main(int argc, char **argv)
{
	static struct ferryd ferryd;
	struct ferryd *fd = &ferryd;
	struct ferryd_conf *c = &fd->conf;
	struct config_opt opts[] = {
		{ "state_dir", CONF_STRING, c->state_dir, sizeof(c->state_dir),
		    0, 0, 0 },
		{ "listen", CONF_STRING, c->listen, sizeof(c->listen), 0, 0, 0 },
		{ "socket", CONF_STRING, c->socket, sizeof(c->socket), 0, 0, 0 },
		{ "http", CONF_STRING, c->http, sizeof(c->http), 0, 0, 0 },
		{ "advertise", CONF_STRING, c->advertise, sizeof(c->advertise),
		    0, 0, 0 },
		{ "missed_beats", CONF_UINT, &c->missed_beats, 0, 1, 100, 0 },
		{ "token_ttl", CONF_DURATION, &c->default_token_ttl_ms, 0, 0, 0,
		    0 },
		{ "operators_group", CONF_STRING, c->operators_group,
		    sizeof(c->operators_group), 0, 0, 0 },
		{ "insecure_cleartext_link", CONF_BOOL,
		    &c->insecure_cleartext_link, 0, 0, 0, 0 },
		{ "allow_tokenless_joins", CONF_BOOL,
		    &c->allow_tokenless_joins, 0, 0, 0, 0 },
		{ "pending_hosts_max", CONF_UINT, &c->pending_hosts_max, 0, 1,
		    100000, 0 },
		{ "tokenless_join_rate", CONF_UINT, &c->tokenless_join_rate, 0,
		    1, 100000, 0 },
		{ "agent_connections", CONF_UINT, &c->agent_connections, 0,
		    1, AGENT_CONNS_MAX, 0 },
		{ "agent_auth_timeout", CONF_DURATION,
		    &c->agent_auth_timeout_ms, 0, 0, 0, 0 },
		{ "http_connections", CONF_UINT, &c->http_connections, 0, 1,
		    4096, 0 },
		{ "http_header_timeout", CONF_DURATION,
		    &c->http_header_timeout_ms, 0, 0, 0, 0 },
		{ "http_idle_timeout", CONF_DURATION, &c->http_idle_timeout_ms,
		    0, 0, 0, 0 },
		{ "refusal_interval", CONF_DURATION, &c->refusal_interval_ms,
		    0, 0, 0, 0 },
		{ "log_rate", CONF_UINT, &c->log_rate, 0, 1024, 1048576, 0 },
		{ NULL, 0, NULL, 0, 0, 0, 0 },
	};
	struct daemon_flags fl;
	char err[512], path[PATH_MAX], fpr[KEY_FPR_STRLEN];
	int created, skey_created = 0, rc;
	uv_loop_t loop;

	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/ferry");
	snprintf(c->listen, sizeof(c->listen), "tcp://0.0.0.0:7400");
	snprintf(c->socket, sizeof(c->socket), "/run/ferry/ferryd.sock");
	snprintf(c->http, sizeof(c->http), "127.0.0.1:7401");
	snprintf(c->operators_group, sizeof(c->operators_group),
	    "ferry-operators");
	c->missed_beats = 3;
	c->default_token_ttl_ms = 3600 * 1000;
	c->allow_tokenless_joins = 0;
	c->pending_hosts_max = 64;
	c->tokenless_join_rate = 30;
	c->agent_auth_timeout_ms = 10 * 1000;
	c->http_connections = 64;
	c->http_header_timeout_ms = 10 * 1000;
	c->http_idle_timeout_ms = 30 * 1000;
	c->refusal_interval_ms = 10000;
	c->log_rate = 65536;

	if (daemon_args(argc, argv, opts, "/etc/ferry/ferryd.conf", &fl, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "ferryd: %s\n", err);
		return 2;
	}
	if (fl.help) {
		fputs(usage, stdout);
		return 0;
	}
	if (fl.nrest == 1 && strcmp(fl.rest[0], "rotate-secrets-key") == 0)
		return rotate(c);
	if (fl.nrest > 0) {
		fprintf(stderr, "ferryd: unexpected argument \"%s\" (see "
		    "--help)\n", fl.rest[0]);
		return 2;
	}
	if (c->default_token_ttl_ms < 1000) {
		fprintf(stderr, "ferryd: token_ttl: at least 1s\n");
		return 2;
	}
	if (c->agent_auth_timeout_ms != 0 && c->agent_auth_timeout_ms < 1000) {
		fprintf(stderr, "ferryd: agent_auth_timeout: at least 1s (0: "
		    "never)\n");
		return 2;
	}
	if (c->http_header_timeout_ms < 100 || c->http_idle_timeout_ms < 100) {
		fprintf(stderr, "ferryd: http_header_timeout, "
		    "http_idle_timeout: at least 100ms\n");
		return 2;
	}
	if (c->refusal_interval_ms < 100 ||
	    c->refusal_interval_ms > 3600 * 1000) {
		fprintf(stderr, "ferryd: refusal_interval: between 100ms and "
		    "1h\n");
		return 2;
	}
	if (strncmp(c->listen, "tcp://", 6) != 0 &&
	    strncmp(c->listen, "ipc://", 6) != 0) {
		fprintf(stderr, "ferryd: listen: expected tcp://HOST:PORT or "
		    "ipc://PATH, got \"%s\"\n", c->listen);
		return 2;
	}
	log_init("ferryd", 1, fl.verbose);
	if (crypto_init() != 0)
		fatalx("cannot initialise libsodium");
	umask(077);
	if (fl.check) {
		/* Check only: nothing is created. */
		snprintf(path, sizeof(path), "%s/ferryd.key", c->state_dir);
		rc = keys_load(path, &fd->kp);
		if (rc != 0 && rc != FERR_NOTFOUND) {
			fprintf(stderr, "ferryd: key %s: %s\n", path,
			    ferr_str(rc));
			return 1;
		}
		printf("configuration OK\n");
		if (rc == 0) {
			keys_pk_fingerprint_str(fd->kp.pk, fpr);
			printf("key fingerprint %s\n", fpr);
		}
		return 0;
	}
	if (mkdir_private(c->state_dir) != 0)
		fatal("state dir %s", c->state_dir);
	agent_cap(c, fd_limit());
	snprintf(path, sizeof(path), "%s/ferryd.key", c->state_dir);
	if ((rc = keys_load_or_create(path, &fd->kp, &created)) != 0)
		fatalx("key %s: %s%s", path, ferr_str(rc), rc == FERR_PERM ?
		    " (the key file must be mode 0600)" : "");
	keys_fingerprint(fd->kp.pk, fd->fpr);
	keys_fingerprint_str(fd->fpr, fpr);
	/* The key of the secrets at rest: a file of its own, never in the
	 * database, so that a copy of ferryd.db alone opens no secret. */
	snprintf(path, sizeof(path), "%s/secrets.key", c->state_dir);
	if (secrets_key_check(path) != 0)
		fatalx("%s.new exists: a key rotation was stopped before it "
		    "ended; run `ferryd rotate-secrets-key` again to finish "
		    "it", path);
	if ((rc = secrets_key_load_or_create(path, fd->secrets_key,
	    &skey_created)) != 0)
		fatalx("secrets key %s: %s%s", path, ferr_str(rc),
		    rc == FERR_PERM ? " (the key file must be mode 0600)" :
		    rc == FERR_MALFORMED ? " (it must hold exactly 32 bytes)" :
		    "");
	if (secrets_key_lock(path) < 0)
		fatalx("secrets key %s: a key rotation holds it", path);
	snprintf(path, sizeof(path), "%s/ferryd.db", c->state_dir);
	if ((rc = store_open(&fd->store, path)) != 0)
		fatalx("database %s: %s%s%s", path, ferr_str(rc),
		    db_remedy(rc) != NULL ? "; " : "",
		    db_remedy(rc) != NULL ? db_remedy(rc) : "");
	if (!fl.foreground) {
		if (daemon(0, 0) != 0)
			fatal("daemon");
		log_init("ferryd", 0, fl.verbose);
	}
	if (created)
		log_info("ferryd: created key %s/ferryd.key", c->state_dir);
	if (skey_created)
		log_info("ferryd: created %s/secrets.key: back it up apart "
		    "from ferryd.db", c->state_dir);
	log_info("ferryd: key fingerprint %s", fpr);

	if (uv_loop_init(&loop) != 0)
		fatalx("cannot create the event loop");
	fd->loop = &loop;
	if (mailbox_init(&fd->mb, fd->loop) != 0)
		fatalx("cannot create the mailbox");
	/* The upcalls of the lower layers, before any of them starts. */
	fd->up.reloaded_done = deploy_on_result;
	fd->up.host_offline = deploy_host_offline;
	fd->up.arg = fd;
	if (traffic_alloc(&fd->traffic) != 0)
		fatalx("out of memory");
	if ((rc = fleet_load(fd)) != 0)
		fatalx("loading hosts: %s", ferr_str(rc));
	if (ensure_parent(c->socket) != 0)
		fatal("socket folder of %s", c->socket);
	if ((rc = link_start(fd)) != 0)
		fatalx("cannot listen for agents on %s: %s", c->listen,
		    ferr_str(rc));
	if ((rc = deploy_load(fd)) != 0)
		fatalx("loading deployments: %s", ferr_str(rc));
	if ((rc = control_start(fd)) != 0)
		fatalx("cannot listen on %s: %s", c->socket, ferr_str(rc));
	if ((rc = http_start(fd)) != 0)
		fatalx("cannot serve HTTP on %s: %s", c->http, ferr_str(rc));
	uv_timer_init(fd->loop, &fd->sweep);
	fd->sweep.data = fd;
	uv_timer_start(&fd->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
	uv_signal_init(fd->loop, &fd->sigterm);
	uv_signal_init(fd->loop, &fd->sigint);
	fd->sigterm.data = fd->sigint.data = fd;
	uv_signal_start(&fd->sigterm, on_signal, SIGTERM);
	uv_signal_start(&fd->sigint, on_signal, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	log_info("ferryd: listening for agents on %s, for ferry on %s; %zu "
	    "host(s) known", c->listen, c->socket, fd->nhosts);
	if (c->allow_tokenless_joins)
		log_info("ferryd: joins without a token are allowed: pending "
		    "hosts at most %u, %u per minute", c->pending_hosts_max,
		    c->tokenless_join_rate);
	else
		log_info("ferryd: hosts join only with a token "
		    "(allow_tokenless_joins is off)");
	/* Every socket listens: under systemd (Type=notify) the service is
	 * started from here on. */
	snprintf(path, sizeof(path), "listening for agents on %s, for ferry "
	    "on %s", c->listen, c->socket);
	if (notify_ready(path) != 0)
		log_warnx("ferryd: cannot tell the service manager we are "
		    "ready (NOTIFY_SOCKET)");

	uv_run(fd->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&fd->sigterm, NULL);
	uv_close((uv_handle_t *)&fd->sigint, NULL);
	uv_run(fd->loop, UV_RUN_DEFAULT);	/* the closes above */

	deploy_free_all();
	fleet_free(fd);
	traffic_free(fd->traffic);
	free(fd->notes);
	store_close(fd->store);
	uv_loop_close(fd->loop);
	sodium_memzero(&fd->kp, sizeof(fd->kp));
	log_info("ferryd: stopped");
	return 0;
}
