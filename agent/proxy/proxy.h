/* SPDX-License-Identifier: Apache-2.0 */
/* proxy.h: ferry-proxy, the per-host reverse proxy ferry-agent drives.
 *
 * One libuv loop owns everything.  A route is one host port of a service:
 * its listening socket and its targets (the service's containers, by revision, with
 * weights); HTTP routes proxy requests (http.c), TCP routes pipe
 * connections (tcp.c).  The agent changes routes over the control socket
 * (control.c); routes.pb in the state dir keeps them across restarts. */
#ifndef FERRY_PROXY_H
#define FERRY_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "ferry.pb-c.h"
#include "hist.h"

#define PROXY_VERSION "0.1"
#define PROXY_MAX_TARGETS 16	/* targets in one set request */
#define PROXY_MAX_PORTS 16	/* routes (host ports) of one service */
#define PROXY_HOLD_MAX 1024	/* held requests or connections per route */
#define PROXY_WBUF_MAX (64 * 1024)	/* a write queue above this stops the
					 * reading side */
#define PROXY_BUF 16384		/* one read buffer */
#define PROXY_POOL_MAX 64	/* idle upstream connections kept a target */
#define PROXY_RESP_HEAD_MAX (64 * 1024)
#define PROXY_MAX_ROUTES_FILE (16 << 20)

struct proxy_conf {
	char state_dir[256];
	char control[256];
	uint32_t header_max;
	uint64_t header_timeout_ms;
	uint64_t idle_timeout_ms;
	uint32_t connections_max;
};

/* A tiny intrusive doubly linked list. */
struct link {
	struct link *prev, *next;
};

void link_init(struct link *l);
void link_add(struct link *head, struct link *l);
void link_del(struct link *l);
int link_empty(const struct link *head);

/* Counts of one revision of one service, since boot. */
struct revstat {
	struct revstat *next;
	char service[64];
	uint64_t revision;
	uint64_t requests;
	uint64_t status[5];
	uint64_t refused, reset, timeout;
	uint64_t unanswered;	/* of those, no 5xx sent (Traffic) */
	uint64_t hist[HIST_BUCKETS];
	uint64_t sum_us;
	uint64_t active;
};

/* What the proxy refused by itself, per service. */
struct svcstat {
	struct svcstat *next;
	char service[64];
	uint64_t no_target, held_expired, bad_request, header_timeout;
	uint64_t body_too_large, header_too_large, client_aborted;
	uint64_t drain_closed;
};

struct route;
struct upconn;

struct target {
	struct target *next;
	struct route *route;
	struct revstat *st;
	uint64_t revision;
	char address[64];
	uint32_t port;
	struct sockaddr_storage sa;
	uint32_t weight;
	int64_t current;		/* smooth weighted round-robin */
	int draining;
	uint64_t drain_deadline;	/* monotonic ms */
	uint64_t active;		/* requests or connections in flight */
	struct link idle;		/* idle upstream connections (upconn) */
	uint32_t nidle;			/* how many, at most PROXY_POOL_MAX */
	struct link tunnels;		/* raw tunnels (TCP, upgraded HTTP) */
};

/* A raw tunnel (TCP connection, upgraded HTTP) on a target: closed when
 * the target's drain_timeout passes. */
struct tunnel {
	struct link l;
	void (*kill)(struct tunnel *t);
};

/* Something waiting in a route's hold queue: an HTTP request or a TCP
 * connection. */
struct held {
	struct link l;
	uint64_t deadline;
	void (*go)(struct held *h, struct target *t);	/* t NULL: expired */
};

struct route {
	struct route *next;
	Ferry__ProxyRoute *spec;	/* as set (targets without replies'
					 * fields) */
	char service[64];
	char listen_name[80];		/* "address:port" */
	struct svcstat *st;
	uv_tcp_t listener;
	int listener_inited;		/* set up but failed to listen */
	int listening;
	/* Drained (the whole proxy, ferry hosts drain): the listener's
	 * socket kept bound but not listening (paused_fd), so new
	 * connections are refused and the port stays the route's. */
	int paused;
	int paused_fd;
	int listener_closing;		/* its uv_close has not called back */
	int removed;
	struct target *targets;
	struct link holdq;
	uint64_t nheld;
	uint64_t refs;			/* connections that point here */
};

struct proxy {
	uv_loop_t *loop;
	struct proxy_conf conf;
	uint8_t boot[16];
	uint64_t start_ms;
	struct route *routes;
	struct revstat *revstats;
	struct svcstat *svcstats;
	uint64_t nconns;
	uv_timer_t tick;
	int ticking;
	uv_pipe_t control;
	int control_open;
	int leaving;			/* handed off or stopping */
	int loading;			/* routes.pb being read */
	int drained;			/* no route takes new connections
					 * (kept in routes.pb) */
	uint64_t leave_deadline;
	uv_signal_t sigterm, sigint;
	/* Sockets inherited (handoff, systemd) not yet claimed by a route. */
	int inh_fd[256];
	char *inh_name[256];
	size_t ninh;
	int systemd;			/* NOTIFY_SOCKET is set */
};

extern struct proxy *P;

/* route.c */
struct revstat *stat_rev(const char *service, uint64_t revision);
struct svcstat *stat_svc(const char *service);
/* A service has a route per host port (keyed (service, listen_port)).
 * route_set_ports replaces the service's routes with rs[0..n) together:
 * written to routes.pb once, every new listener open before anything
 * changes (one that cannot listen: nothing changed), the service's other
 * ports removed (draining) unless others_stay (loading routes.pb).
 * route_set is that with one route. */
int route_set_ports(const char *service, Ferry__ProxyRoute *const *rs,
    size_t n, int others_stay, char *err, size_t errlen);
int route_set(const Ferry__ProxyRoute *r, char *err, size_t errlen);
int route_remove(const char *service, char *err, size_t errlen);
struct route *route_find(const char *service, uint32_t listen_port);
int route_validate(const Ferry__ProxyRoute *r, char *err, size_t errlen);
struct target *route_pick(struct route *r, uint64_t sticky_rev,
    int have_sticky);
int route_can_serve(struct route *r);
int route_hold(struct route *r, struct held *h);
void route_unhold(struct route *r, struct held *h);
void route_release(struct route *r);
void route_ref(struct route *r);
void route_unref(struct route *r);
void target_done(struct target *t);	/* one request or connection ended */
void proxy_tick_start(void);
int routes_save(const char *skip, Ferry__ProxyRoute *const *add,
    size_t nadd, char *err, size_t errlen);
int routes_load(char *err, size_t errlen);
void routes_close_all(void);
/* proxy_drain drains (every route stops taking new connections: their
 * sockets stay bound and stop listening, so connections are refused;
 * in-flight work finishes; kept-alive connections close after their next
 * response) or undrains the proxy; recorded in routes.pb first.  0, or
 * -1 with err. */
int proxy_drain(int drained, char *err, size_t errlen);
void routes_unhold_all(void);
int inherited_take(const char *name);
void inherited_add(int fd, const char *name);
void inherited_close_unused(void);
void systemd_store(const char *name, int fd);
void systemd_unstore(const char *name);
void latency_add(struct revstat *s, uint64_t us);
void status_add(struct revstat *s, int code);
void conn_refused_log(struct route *r);

/* buffers: reference-counted read buffers from a small free list */
void buf_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b);
void buf_ref(char *base);
void buf_free(char *base);	/* drops one reference */

/* http.c */
void http_accept(struct route *r, uv_stream_t *server);
void http_target_closing(struct target *t);
void http_leave(void);

/* tcp.c */
void tcp_accept(struct route *r, uv_stream_t *server);
void tunnels_close(struct target *t, int count);

/* control.c */
int control_start(char *err, size_t errlen);
void control_stop(int unlink_path);
int control_handoff_take(char *err, size_t errlen);
void proxy_leave(uint64_t deadline_ms);
void proxy_maybe_exit(void);

#endif
