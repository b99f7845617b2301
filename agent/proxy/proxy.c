/* SPDX-License-Identifier: Apache-2.0 */
/* proxy.c: ferry-proxy's start: flags and settings, inherited sockets
 * (systemd, or a running proxy handing over), routes restored, the loop,
 * and signals. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "args.h"
#include "clock.h"
#include "keys.h"
#include "log.h"
#include "notify.h"
#include "proxy.h"

struct proxy *P;

static const char usage[] =
"usage: ferry-proxy [-d] [-v] [-n] [-f FILE] [--state-dir DIR]\n"
"                   [--control PATH] [--header-max BYTES]\n"
"                   [--header-timeout D] [--idle-timeout D]\n"
"                   [--connections-max N]\n"
"\n"
"ferry's per-host reverse proxy: serves each service's host port and\n"
"routes requests (HTTP) or connections (TCP) to its containers by weight,\n"
"holding and draining as ferry-agent says over the control socket.\n"
"\n"
"  -d                      stay in the foreground, log to stderr\n"
"  -v                      verbose (debug) logging\n"
"  -n                      check the configuration, print "
"\"configuration OK\"\n"
"  -f FILE                 config file (default "
"/etc/ferry/ferry-proxy.conf)\n"
"  --state-dir DIR         where routes.pb lives "
"(default /var/lib/ferry-proxy)\n"
"  --control PATH          the control socket, root only\n"
"                          (default /run/ferry-proxy/control.sock)\n"
"  --header-max BYTES      largest request head; larger: 431 "
"(default 16384)\n"
"  --header-timeout D      time to read a request head; then 408 "
"(default 10s)\n"
"  --idle-timeout D        an idle client keep-alive connection closes "
"after D\n"
"                          (default 60s)\n"
"  --connections-max N     client connections at once; 0: from "
"RLIMIT_NOFILE\n"
"                          (default 0)\n"
"\n"
"A ferry-proxy started while another runs on the same control socket\n"
"takes its listening sockets over (no connection refused); see "
"ferry-proxy(8).\n";

#define NOPTS 7

static void
conf_init(struct proxy_conf *c, struct config_opt *opts)
{
	struct config_opt o[NOPTS] = {
		{ "state_dir", CONF_STRING, c->state_dir, sizeof(c->state_dir),
		    0, 0, 0 },
		{ "control", CONF_STRING, c->control, sizeof(c->control), 0,
		    0, 0 },
		{ "header_max", CONF_UINT, &c->header_max, 0, 1024,
		    1024 * 1024, 0 },
		{ "header_timeout", CONF_DURATION, &c->header_timeout_ms, 0,
		    0, 0, 0 },
		{ "idle_timeout", CONF_DURATION, &c->idle_timeout_ms, 0, 0, 0,
		    0 },
		{ "connections_max", CONF_UINT, &c->connections_max, 0, 0,
		    10000000, 0 },
		{ NULL, 0, NULL, 0, 0, 0, 0 },
	};

	memset(c, 0, sizeof(*c));
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/ferry-proxy");
	snprintf(c->control, sizeof(c->control),
	    "/run/ferry-proxy/control.sock");
	c->header_max = 16384;
	c->header_timeout_ms = 10000;
	c->idle_timeout_ms = 60000;
	memcpy(opts, o, sizeof(o));
}

/* raise_nofile lifts the soft descriptor limit to the hard one and
 * derives connections_max (two descriptors a client connection). */
static void
raise_nofile(struct proxy_conf *c)
{
	struct rlimit rl;
	uint64_t room;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warn("cannot raise RLIMIT_NOFILE");
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	room = rl.rlim_cur > 128 ? (rl.rlim_cur - 64) / 2 : 32;
	if (c->connections_max == 0 || c->connections_max > room) {
		if (c->connections_max > room)
			log_warnx("connections_max %u: the descriptor limit "
			    "(%llu) allows %llu", c->connections_max,
			    (unsigned long long)rl.rlim_cur,
			    (unsigned long long)room);
		c->connections_max = (uint32_t)room;
	}
}

/* systemd_inherit takes the sockets systemd passed (LISTEN_FDS, named
 * "address:port" by the fd store). */
static void
systemd_inherit(void)
{
	char **names = NULL;
	int n, i;

	n = sd_listen_fds_with_names(1, &names);
	for (i = 0; i < n && P->ninh < 256; i++) {
		P->inh_fd[P->ninh] = SD_LISTEN_FDS_START + i;
		P->inh_name[P->ninh] = names != NULL && names[i] != NULL ?
		    strdup(names[i]) : NULL;
		P->ninh++;
	}
	if (names != NULL) {
		for (i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	if (n > 0)
		log_info("%d listening socket(s) from systemd", n);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	uint64_t longest = 0;
	struct route *r;

	(void)s;
	if (P->leaving)
		return;
	log_info("ferry-proxy: %s: finishing in-flight work, then exiting",
	    strsignal(signum));
	notify_stopping();
	for (r = P->routes; r != NULL; r = r->next)
		if (r->spec->drain_timeout_ms > longest)
			longest = r->spec->drain_timeout_ms;
	control_stop(1);
	uv_close((uv_handle_t *)&P->sigterm, NULL);
	uv_close((uv_handle_t *)&P->sigint, NULL);
	proxy_leave(longest);
}

int
main(int argc, char **argv)
{
	static struct proxy proxy;
	struct config_opt opts[NOPTS];
	struct daemon_flags fl;
	char err[700];
	uv_loop_t loop;
	struct route *r;
	size_t nr = 0;

	P = &proxy;
	conf_init(&P->conf, opts);
	if (daemon_args(argc, argv, opts, "/etc/ferry/ferry-proxy.conf", &fl,
	    err, sizeof(err)) != 0) {
		fprintf(stderr, "ferry-proxy: %s\n", err);
		return 2;
	}
	if (fl.help) {
		fputs(usage, stdout);
		return 0;
	}
	if (fl.nrest > 0) {
		fprintf(stderr, "ferry-proxy: unexpected argument \"%s\" (see "
		    "--help)\n", fl.rest[0]);
		return 2;
	}
	if (P->conf.header_timeout_ms < 100 ||
	    P->conf.header_timeout_ms > 3600000) {
		fprintf(stderr, "ferry-proxy: header_timeout: from 100ms to "
		    "1h\n");
		return 2;
	}
	if (P->conf.idle_timeout_ms < 100 ||
	    P->conf.idle_timeout_ms > 86400000) {
		fprintf(stderr, "ferry-proxy: idle_timeout: from 100ms to "
		    "24h\n");
		return 2;
	}
	if (P->conf.state_dir[0] != '/' || P->conf.control[0] != '/') {
		fprintf(stderr, "ferry-proxy: %s: an absolute path, please\n",
		    P->conf.state_dir[0] != '/' ? "state_dir" : "control");
		return 2;
	}
	if (fl.check) {
		printf("configuration OK\n");
		return 0;
	}
	log_init("ferry-proxy", 1, fl.verbose);
	umask(077);
	if (mkdir_private(P->conf.state_dir) != 0)
		fatal("state dir %s", P->conf.state_dir);
	raise_nofile(&P->conf);
	if (getrandom(P->boot, sizeof(P->boot), 0) != sizeof(P->boot))
		fatal("getrandom");
	P->start_ms = clock_mono_ms();
	P->systemd = getenv("NOTIFY_SOCKET") != NULL;
	signal(SIGPIPE, SIG_IGN);
	if (!fl.foreground) {
		if (daemon(0, 0) != 0)
			fatal("daemon");
		log_init("ferry-proxy", 0, fl.verbose);
	}
	systemd_inherit();
	if (control_handoff_take(err, sizeof(err)) != 0)
		fatalx("%s", err);

	if (uv_loop_init(&loop) != 0)
		fatalx("cannot create the event loop");
	P->loop = &loop;
	uv_timer_init(P->loop, &P->tick);
	if (routes_load(err, sizeof(err)) != 0)
		fatalx("%s", err);
	inherited_close_unused();
	if (control_start(err, sizeof(err)) != 0)
		fatalx("%s", err);
	uv_signal_init(P->loop, &P->sigterm);
	uv_signal_init(P->loop, &P->sigint);
	uv_signal_start(&P->sigterm, on_signal, SIGTERM);
	uv_signal_start(&P->sigint, on_signal, SIGINT);
	for (r = P->routes; r != NULL; r = r->next)
		nr++;
	log_info("ferry-proxy %s: %zu route(s), control %s, up to %u "
	    "connections", PROXY_VERSION, nr, P->conf.control,
	    P->conf.connections_max);
	snprintf(err, sizeof(err), "%zu route(s)", nr);
	if (notify_ready(err) != 0)
		log_warnx("ferry-proxy: cannot tell the service manager we "
		    "are ready (NOTIFY_SOCKET)");

	uv_run(P->loop, UV_RUN_DEFAULT);
	log_info("ferry-proxy: stopped");
	return 0;
}
