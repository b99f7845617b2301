/* SPDX-License-Identifier: Apache-2.0 */
/* agent.c: ferry-agent's start, configuration, inventory and shutdown. */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "agent.h"
#include "args.h"
#include "clock.h"
#include "ferr.h"
#include "log.h"
#include "livehealth.h"
#include "logs.h"
#include "notify.h"
#include "proxywire.h"

static const char usage[] =
"usage: ferry-agent [-d] [-v] [-n] [-f FILE] [--state-dir DIR]\n"
"                   [--publish-address ADDR] [--docker-socket PATH]\n"
"                   [--heartbeat-interval DURATION] [--name NAME]\n"
"                   [--coordinator URL] [--coordinator-fingerprint FP]\n"
"       ferry-agent join TOKEN [--name NAME] [--label k=v ...]\n"
"                   [--state-dir DIR] [--publish-address ADDR]\n"
"\n"
"The ferry agent: dials ferryd, heartbeats what this host runs, verifies\n"
"and executes signed commands, and reports signed results.\n"
"\n"
"  -d                        stay in the foreground, log to stderr\n"
"  -v                        verbose (debug) logging\n"
"  -n                        check the configuration, print "
"\"configuration OK\"\n"
"  -f FILE                   config file (default "
"/etc/ferry/ferry-agent.conf)\n"
"  --state-dir DIR           keys, enrolment and records "
"(default /var/lib/ferry-agent)\n"
"  --publish-address ADDR    address containers publish ports on "
"(default 0.0.0.0)\n"
"  --docker-socket PATH      Docker Engine socket "
"(default /var/run/docker.sock)\n"
"  --heartbeat-interval D    how often to tell ferryd what runs "
"(default 5s)\n"
"  --keep-revisions N        previous revisions kept stopped for a "
"rollback\n"
"                            (default 1)\n"
"  --allowed-bind-paths P    comma-separated folders containers may "
"bind\n"
"                            (default: none)\n"
"  --secrets-dir DIR         where containers' secret files live, on a "
"tmpfs\n"
"                            (mounted there if it is not one; default\n"
"                            /run/ferry-agent/secrets)\n"
"  --proxy-control PATH      ferry-proxy's control socket; empty: no "
"proxy\n"
"                            (default /run/ferry-proxy/control.sock)\n"
"  --live-health-interval D  probe running containers with their spec's\n"
"                            check between deployments, every D or the\n"
"                            spec's interval, whichever is longer; 0: off\n"
"                            (default 10s)\n"
"  --insecure-cleartext-link yes|no\n"
"                            INSECURE: send messages to ferryd unsealed\n"
"                            (default no; see ferry-agent(8))\n"
"  --name NAME               this host's name (set by join)\n"
"  --coordinator URL         ferryd's address (set by join)\n"
"  --coordinator-fingerprint FP  ferryd's key fingerprint (set by join)\n"
"\n"
"`ferry-agent join TOKEN` enrols the host and writes name, coordinator and\n"
"fingerprint into DIR/" ENROLMENT_FILE ".  Without a token, set them by hand:\n"
"the host then waits as pending until `ferry hosts accept NAME`.\n";

void
agent_conf_init(struct agent_conf *c, struct config_opt *opts)
{
	struct config_opt o[AGENT_NOPTS] = {
		{ "state_dir", CONF_STRING, c->state_dir, sizeof(c->state_dir),
		    0, 0, 0 },
		{ "publish_address", CONF_STRING, c->publish_address,
		    sizeof(c->publish_address), 0, 0, 0 },
		{ "docker_socket", CONF_STRING, c->docker_socket,
		    sizeof(c->docker_socket), 0, 0, 0 },
		{ "coordinator", CONF_STRING, c->coordinator,
		    sizeof(c->coordinator), 0, 0, 0 },
		{ "coordinator_fingerprint", CONF_STRING,
		    c->coordinator_fingerprint,
		    sizeof(c->coordinator_fingerprint), 0, 0, 0 },
		{ "name", CONF_STRING, c->name, sizeof(c->name), 0, 0, 0 },
		{ "heartbeat_interval", CONF_DURATION,
		    &c->heartbeat_interval_ms, 0, 0, 0, 0 },
		{ "keep_revisions", CONF_UINT, &c->keep_revisions, 0, 0, 10,
		    0 },
		{ "allowed_bind_paths", CONF_STRING, c->allowed_bind_paths,
		    sizeof(c->allowed_bind_paths), 0, 0, 0 },
		{ "insecure_cleartext_link", CONF_BOOL,
		    &c->insecure_cleartext_link, 0, 0, 0, 0 },
		{ "secrets_dir", CONF_STRING, c->secrets_dir,
		    sizeof(c->secrets_dir), 0, 0, 0 },
		{ "proxy_control", CONF_STRING, c->proxy_control,
		    sizeof(c->proxy_control), 0, 0, 0 },
		{ "live_health_interval", CONF_DURATION,
		    &c->live_health_interval_ms, 0, 0, 0, 0 },
		{ NULL, 0, NULL, 0, 0, 0, 0 },
	};

	memset(c, 0, sizeof(*c));
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/ferry-agent");
	snprintf(c->publish_address, sizeof(c->publish_address), "0.0.0.0");
	snprintf(c->docker_socket, sizeof(c->docker_socket),
	    "/var/run/docker.sock");
	c->heartbeat_interval_ms = 5000;
	c->live_health_interval_ms = LIVE_INTERVAL_DEFAULT_MS;
	c->keep_revisions = 1;
	snprintf(c->secrets_dir, sizeof(c->secrets_dir),
	    "/run/ferry-agent/secrets");
	snprintf(c->proxy_control, sizeof(c->proxy_control),
	    "/run/ferry-proxy/control.sock");
	memcpy(opts, o, sizeof(o));
}

/* load_enrolment fills what flags and the config file left unset from the
 * file `ferry-agent join` wrote. */
static int
load_enrolment(struct agent_conf *c, struct config_opt *opts, char *err,
    size_t errlen)
{
	char path[600];
	struct config_opt *o;

	snprintf(path, sizeof(path), "%s/" ENROLMENT_FILE, c->state_dir);
	if (access(path, F_OK) != 0)
		return 0;
	for (o = opts; o->name != NULL; o++) {
		if (o->type == CONF_STRING && ((char *)o->dst)[0] != '\0' &&
		    !(strcmp(o->name, "publish_address") == 0 &&
		    strcmp(c->publish_address, "0.0.0.0") == 0))
			o->set = 1;
		else if (o->type != CONF_STRING)
			o->set = 1;
	}
	return config_load(opts, path, err, errlen);
}

static int
fpr_parse(const char *hex, uint8_t out[KEY_FPR_LEN])
{
	size_t n = 0;

	if (strlen(hex) != KEY_FPR_LEN * 2 || sodium_hex2bin(out, KEY_FPR_LEN,
	    hex, strlen(hex), NULL, &n, NULL) != 0 || n != KEY_FPR_LEN)
		return FERR_MALFORMED;
	return 0;
}

static int
name_ok(const char *n)
{
	size_t i;

	if (n[0] == '\0' || !isalnum((unsigned char)n[0]))
		return 0;
	for (i = 0; n[i]; i++)
		if (!isalnum((unsigned char)n[i]) && !strchr(".-_", n[i]))
			return 0;
	return i <= 63;
}

/* ---- inventory: what runs, read from Docker off the loop ------------- */

static void
inv_run(uv_work_t *w)
{
	struct agent *a = w->data;

	a->inv_err[0] = '\0';
	a->inv_ok = docker_list(a->docker, a->conf.name, &a->inv_new,
	    &a->inv_n, a->inv_err, sizeof(a->inv_err)) == 0;
}

static void
inv_after(uv_work_t *w, int status)
{
	struct agent *a = w->data;

	a->inv_busy = 0;
	if (status != 0 || a->stopping) {
		docker_list_free(a->inv_new, a->inv_n);
		a->inv_new = NULL;
		return;
	}
	if (a->inv_ok) {
		/* Docker answers again: settle what it may have missed. */
		if (!a->reconciled)
			swap_reconcile(a);
		if (!a->docker_ok)
			log_info("docker at %s: reachable, %zu ferry "
			    "container(s)", a->conf.docker_socket, a->inv_n);
		docker_list_free(a->containers, a->ncontainers);
		a->containers = a->inv_new;
		a->ncontainers = a->inv_n;
		/* The live verdict first; the last swap's where there is
		 * none (yet). */
		livehealth_fill(a->containers, a->ncontainers);
		swap_fill_health(a, a->containers, a->ncontainers);
		a->docker_ok = 1;
		a->docker_error[0] = '\0';
	} else {
		if (a->docker_ok || strcmp(a->docker_error, a->inv_err) != 0)
			log_warnx("docker: %s", a->inv_err);
		a->docker_ok = 0;
		snprintf(a->docker_error, sizeof(a->docker_error), "%s",
		    a->inv_err);
		docker_list_free(a->containers, a->ncontainers);
		a->containers = NULL;
		a->ncontainers = 0;
	}
	a->inv_new = NULL;
	a->inv_n = 0;
	if (!a->inv_done_once) {
		a->inv_done_once = 1;
		session_kick(a);
	}
}

/* ---- ferry-proxy's counts, read off the loop --------------------------
 * Each heartbeat interval a worker asks the proxy for its status (a
 * blocking call on its control socket, bounded by PROXY_READ_MS at most);
 * the loop keeps the last answer, and every poll carries its Traffic
 * (agent_traffic).  A proxy that does not answer makes the polls carry
 * only the reason. */
#define PROXY_READ_MS	1000

static void
proxy_run(uv_work_t *w)
{
	struct agent *a = w->data;
	Ferry__ProxyRequest rq = FERRY__PROXY_REQUEST__INIT;
	uint64_t ms = a->conf.heartbeat_interval_ms / 2;

	rq.op_case = FERRY__PROXY_REQUEST__OP_STATUS;
	rq.status = 1;
	a->proxy_err[0] = '\0';
	a->proxy_new = NULL;
	if (ms > PROXY_READ_MS)
		ms = PROXY_READ_MS;
	if (ms < 100)
		ms = 100;
	if (proxywire_call(a->conf.proxy_control, &rq, &a->proxy_new, NULL,
	    NULL, (int)ms, a->proxy_err, sizeof(a->proxy_err)) != 0) {
		a->proxy_new = NULL;
		return;
	}
	if (!a->proxy_new->ok) {
		snprintf(a->proxy_err, sizeof(a->proxy_err), "refused the "
		    "status request: %s", a->proxy_new->error ?
		    a->proxy_new->error : "no reason given");
	} else if (a->proxy_new->traffic == NULL)
		snprintf(a->proxy_err, sizeof(a->proxy_err), "answered "
		    "without its counts");
	else
		return;
	ferry__proxy_reply__free_unpacked(a->proxy_new, NULL);
	a->proxy_new = NULL;
}

static void
proxy_after(uv_work_t *w, int status)
{
	struct agent *a = w->data;

	a->proxy_busy = 0;
	if (status != 0 || a->stopping) {
		if (a->proxy_new != NULL)
			ferry__proxy_reply__free_unpacked(a->proxy_new, NULL);
		a->proxy_new = NULL;
		return;
	}
	a->proxy_read = 1;
	if (a->proxy_new != NULL) {
		if (a->proxy_error[0] != '\0')
			log_info("ferry-proxy at %s answers again",
			    a->conf.proxy_control);
		if (a->proxy_reply != NULL)
			ferry__proxy_reply__free_unpacked(a->proxy_reply,
			    NULL);
		a->proxy_reply = a->proxy_new;
		a->proxy_new = NULL;
		a->proxy_error[0] = '\0';
		return;
	}
	/* Said once per change, not once per heartbeat. */
	if (strcmp(a->proxy_error, a->proxy_err) != 0)
		log_warnx("ferry-proxy does not answer: %s (heartbeats say "
		    "so until it does)", a->proxy_err);
	snprintf(a->proxy_error, sizeof(a->proxy_error), "%s",
	    a->proxy_err[0] ? a->proxy_err : "no answer");
	if (a->proxy_reply != NULL)
		ferry__proxy_reply__free_unpacked(a->proxy_reply, NULL);
	a->proxy_reply = NULL;
}

static void
proxy_read(struct agent *a)
{
	if (a->conf.proxy_control[0] == '\0' || a->proxy_busy ||
	    a->stopping)
		return;
	a->proxy_busy = 1;
	a->proxy_work.data = a;
	if (uv_queue_work(a->loop, &a->proxy_work, proxy_run,
	    proxy_after) != 0)
		a->proxy_busy = 0;
}

Ferry__Traffic *
agent_traffic(struct agent *a)
{
	if (a->conf.proxy_control[0] == '\0')
		return NULL;
	if (a->proxy_reply != NULL)
		return a->proxy_reply->traffic;
	ferry__traffic__init(&a->proxy_unanswered);
	a->proxy_unanswered.error = a->proxy_read ? a->proxy_error :
	    "not read yet";
	return &a->proxy_unanswered;
}

Ferry__DrainState
agent_drain_state(struct agent *a)
{
	if (a->conf.proxy_control[0] == '\0' || a->proxy_reply == NULL)
		return FERRY__DRAIN_STATE__DRAIN_UNKNOWN;
	return a->proxy_reply->drained ? FERRY__DRAIN_STATE__DRAIN_DRAINED :
	    FERRY__DRAIN_STATE__DRAIN_SERVING;
}

/* db_remedy says what an operator does about agent.db failing with err;
 * NULL when err is not about the state itself. */
static const char *
db_remedy(int err)
{
	switch (err) {
	case FERR_READONLY:
		return "make the file and its folder writable by the agent's "
		    "user (and the file system read-write), then restart "
		    "ferry-agent";
	case FERR_FULL:
		return "free space on its file system, then restart "
		    "ferry-agent";
	case FERR_IO:
		return "check the disk (dmesg); if the file is damaged, "
		    "restore it from a backup";
	case FERR_CORRUPT:
	case FERR_TRUNCATED:
	case FERR_NOTDB:
		return "stop ferry-agent and restore agent.db from a backup, "
		    "or enrol the host again: `ferry hosts revoke NAME` on "
		    "the coordinator, move the state dir aside, `ferry-agent "
		    "join TOKEN`, then `ferry hosts accept NAME --key FPR` "
		    "with the new key's fingerprint; see ferry-agent(8), "
		    "DIAGNOSTICS";
	}
	return NULL;
}

/* db_faults says, at most every 10 s, what the record writes that failed
 * since the last time have in common: the file, what, the remedy. */
static void
db_faults(void)
{
	static uint64_t last;
	uint64_t now = clock_mono_ms();
	char path[700];
	unsigned n;
	int err;

	if (last != 0 && now - last < 10000)
		return;
	if ((err = records_fault_take(path, sizeof(path), &n)) == 0)
		return;
	last = now;
	log_warnx("ferry-agent: records %s: %u operation(s) failed: %s; %s",
	    path, n, ferr_str(err), db_remedy(err) != NULL ?
	    db_remedy(err) : "see ferry-agent(8), DIAGNOSTICS");
}

static void
on_inv_timer(uv_timer_t *t)
{
	struct agent *a = t->data;

	db_faults();
	proxy_read(a);
	if (a->inv_busy || a->stopping)
		return;
	a->inv_busy = 1;
	a->inv_work.data = a;
	if (uv_queue_work(a->loop, &a->inv_work, inv_run, inv_after) != 0)
		a->inv_busy = 0;
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct agent *a = s->data;

	if (a->stopping) {
		log_info("ferry-agent: %s: already shutting down",
		    strsignal(signum));
		return;
	}
	log_info("ferry-agent: %s: shutting down", strsignal(signum));
	notify_stopping();
	swap_stop(a);
	session_stop(a);
	logs_stop(a);
	uv_timer_stop(&a->inv_timer);
	uv_close((uv_handle_t *)&a->inv_timer, NULL);
	/* Still caught, so that a second TERM or INT while it stops does
	 * not kill it half-way; unreferenced, so that the loop ends. */
	uv_unref((uv_handle_t *)&a->sigterm);
	uv_unref((uv_handle_t *)&a->sigint);
	mailbox_close(&a->mb);
}

int
main(int argc, char **argv)
{
	static struct agent agent;
	struct agent *a = &agent;
	struct agent_conf *c = &a->conf;
	struct config_opt opts[AGENT_NOPTS];
	struct daemon_flags fl;
	char err[700], path[700], fpr[KEY_FPR_STRLEN];
	int created, rc;
	uv_loop_t loop;

	if (argc > 1 && strcmp(argv[1], "join") == 0)
		return join_main(argc - 1, argv + 1);
	agent_conf_init(c, opts);
	if (daemon_args(argc, argv, opts, "/etc/ferry/ferry-agent.conf", &fl,
	    err, sizeof(err)) != 0) {
		fprintf(stderr, "ferry-agent: %s\n", err);
		return 2;
	}
	if (fl.help) {
		fputs(usage, stdout);
		return 0;
	}
	if (fl.nrest > 0) {
		fprintf(stderr, "ferry-agent: unexpected argument \"%s\" (see "
		    "--help)\n", fl.rest[0]);
		return 2;
	}
	if (load_enrolment(c, opts, err, sizeof(err)) != 0) {
		fprintf(stderr, "ferry-agent: %s\n", err);
		return 2;
	}
	if (c->coordinator[0] == '\0' || c->name[0] == '\0') {
		fprintf(stderr, "ferry-agent: not enrolled: run `ferry-agent "
		    "join TOKEN --state-dir %s`, or set coordinator, "
		    "coordinator_fingerprint and name\n", c->state_dir);
		return 2;
	}
	if (!name_ok(c->name)) {
		fprintf(stderr, "ferry-agent: name \"%s\": letters, digits, "
		    "'.', '-', '_', up to 63\n", c->name);
		return 2;
	}
	if (fpr_parse(c->coordinator_fingerprint, a->want_fpr) != 0) {
		fprintf(stderr, "ferry-agent: coordinator_fingerprint: "
		    "expected 32 hex digits, got \"%s\"\n",
		    c->coordinator_fingerprint);
		return 2;
	}
	if (c->heartbeat_interval_ms < 100 ||
	    c->heartbeat_interval_ms > 30000) {
		fprintf(stderr, "ferry-agent: heartbeat_interval: from 100ms "
		    "to 30s\n");
		return 2;
	}
	if (c->live_health_interval_ms != 0 &&
	    (c->live_health_interval_ms < LIVE_INTERVAL_MIN_MS ||
	    c->live_health_interval_ms > LIVE_INTERVAL_MAX_MS)) {
		fprintf(stderr, "ferry-agent: live_health_interval: 0 (off), "
		    "or from 200ms to 1h\n");
		return 2;
	}
	if (fl.check) {
		printf("configuration OK\n");
		return 0;
	}
	log_init("ferry-agent", 1, fl.verbose);
	if (crypto_init() != 0)
		fatalx("cannot initialise libsodium");
	umask(077);
	if (mkdir_private(c->state_dir) != 0)
		fatal("state dir %s", c->state_dir);
	snprintf(path, sizeof(path), "%s/host.key", c->state_dir);
	if ((rc = keys_load_or_create(path, &a->kp, &created)) != 0)
		fatalx("host key %s: %s%s", path, ferr_str(rc),
		    rc == FERR_PERM ? " (must be mode 0600)" : "");
	keys_fingerprint(a->kp.pk, a->fpr);
	/* This run's heartbeats are numbered in a session of their own. */
	randombytes_buf(a->session, sizeof(a->session));
	snprintf(path, sizeof(path), "%s/coordinator.pub", c->state_dir);
	rc = keys_load_public(path, a->pinned);
	if (rc == 0) {
		uint8_t pf[KEY_FPR_LEN];
		keys_fingerprint(a->pinned, pf);
		if (sodium_memcmp(pf, a->want_fpr, KEY_FPR_LEN) != 0)
			fatalx("%s does not match coordinator_fingerprint %s",
			    path, c->coordinator_fingerprint);
		a->have_pinned = 1;
	} else if (rc != FERR_NOTFOUND) {
		fatalx("pinned key %s: %s", path, ferr_str(rc));
	}
	snprintf(path, sizeof(path), "%s/agent.db", c->state_dir);
	if ((rc = records_open(&a->records, path)) != 0)
		fatalx("records %s: %s%s%s", path, ferr_str(rc),
		    db_remedy(rc) != NULL ? "; " : "",
		    db_remedy(rc) != NULL ? db_remedy(rc) : "");
	if ((rc = records_last_seq(a->records, &a->last_seq)) != 0)
		fatalx("records %s: %s", path, ferr_str(rc));
	a->start_seq = a->last_seq;
	if ((rc = docker_open(&a->docker, c->docker_socket)) != 0)
		fatalx("docker client: %s", ferr_str(rc));
	snprintf(a->docker_error, sizeof(a->docker_error), "not checked yet");
	if (!fl.foreground) {
		if (daemon(0, 0) != 0)
			fatal("daemon");
		log_init("ferry-agent", 0, fl.verbose);
	}
	keys_fingerprint_str(a->fpr, fpr);
	log_info("ferry-agent %s: host %s, key %s%s, last sequence %llu",
	    AGENT_VERSION, c->name, fpr, created ? " (new)" : "",
	    (unsigned long long)a->last_seq);

	if (uv_loop_init(&loop) != 0)
		fatalx("cannot create the event loop");
	a->loop = &loop;
	if (mailbox_init(&a->mb, a->loop) != 0)
		fatalx("cannot create the mailbox");
	signal(SIGPIPE, SIG_IGN);
	uv_timer_init(a->loop, &a->inv_timer);
	a->inv_timer.data = a;
	uv_timer_start(&a->inv_timer, on_inv_timer, 0,
	    c->heartbeat_interval_ms);
	uv_signal_init(a->loop, &a->sigterm);
	uv_signal_init(a->loop, &a->sigint);
	a->sigterm.data = a->sigint.data = a;
	uv_signal_start(&a->sigterm, on_signal, SIGTERM);
	uv_signal_start(&a->sigint, on_signal, SIGINT);
	/* Before the reconciliation, which holds every probe off. */
	livehealth_start(a);
	swap_reconcile(a);
	/* The first heartbeat already says what the proxy counts (ferryd
	 * plans start-first only on hosts whose proxy answered): one read
	 * now, the later ones on a worker each interval. */
	if (c->proxy_control[0] != '\0') {
		a->proxy_work.data = a;
		proxy_run(&a->proxy_work);
		proxy_after(&a->proxy_work, 0);
	}
	logs_start(a);
	if ((rc = session_start(a)) != 0)
		fatalx("cannot start the link to %s: %s", c->coordinator,
		    ferr_str(rc));
	/* Keys, records and Docker client are set up and the link dials:
	 * ready.  Reaching ferryd is not awaited (it may be down; the agent
	 * keeps dialing). */
	snprintf(err, sizeof(err), "host %s, dialing ferryd at %s", c->name,
	    c->coordinator);
	if (notify_ready(err) != 0)
		log_warnx("ferry-agent: cannot tell the service manager we "
		    "are ready (NOTIFY_SOCKET)");

	uv_run(a->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&a->sigterm, NULL);
	uv_close((uv_handle_t *)&a->sigint, NULL);
	uv_run(a->loop, UV_RUN_DEFAULT);	/* the closes above */

	livehealth_stop(a);

	docker_list_free(a->containers, a->ncontainers);
	if (a->proxy_reply != NULL)
		ferry__proxy_reply__free_unpacked(a->proxy_reply, NULL);
	docker_close(a->docker);
	records_close(a->records);
	uv_loop_close(a->loop);
	sodium_memzero(&a->kp, sizeof(a->kp));
	log_info("ferry-agent: stopped");
	return 0;
}
