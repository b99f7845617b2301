/* SPDX-License-Identifier: Apache-2.0 */
/* ferry.h: what the CLI's files share. */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <stdio.h>

#include <cJSON.h>
#include <nng/nng.h>

#include "ferry.pb-c.h"

/* Exit statuses. */
#define EXIT_FAIL	1	/* the operation failed */
#define EXIT_USAGE	2	/* bad arguments */
#define EXIT_NOFERRYD	3	/* ferryd cannot be reached */

/* die prints "ferry: MESSAGE" and exits with status; with EXIT_USAGE, it
 * then prints the synopsis of cmd_usage (the running command's usage, set
 * by the command before it reads its arguments), or where to look.
 * usage_die sets cmd_usage to usage (unless NULL) and dies with
 * EXIT_USAGE: how every command refuses its arguments.  unknown_flags
 * refuses the first word left in argv (after the command took its own
 * flags and their values) that looks like a flag, naming it. */
extern const char *cmd_usage;
void die(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
void usage_die(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
void unknown_flags(int argc, char **argv, const char *cmd,
    const char *usage);
/* call sends req to ferryd and returns its reply; dies when ferryd cannot
 * be reached or answers with an error. */
Ferry__CtlReply *call(const Ferry__CtlRequest *req, nng_duration timeout);
/* print_json prints and frees j. */
void print_json(cJSON *j);
/* shown returns s (text ferryd passed on, which may have come from an
 * agent) escaped for the terminal (text.c): newlines, escape sequences
 * and invalid UTF-8 made visible.  The result lives in one of 8 buffers
 * used in turn: good until 8 more calls. */
const char *shown(const char *s);

/* ago writes how long ago the wall-clock time ms was, as people say it:
 * "42s ago", "3m ago", "5h ago", "2d ago"; "never" for 0. */
void ago(uint64_t ms, char *buf, size_t len);

/* lifecycle_line prints who stopped or removed service ss on purpose, how
 * long ago, and what brings it back, as one line (nothing when nobody
 * did). */
void lifecycle_line(const Ferry__ServiceStatus *ss);

/* ferry-proxy's counts as ferryd reads them (ferry.c): traffic_json and
 * proxy_json make JSON objects of every figure; proxy_said says in words
 * why a host has no counts ("no proxy", "no proxy answer: WHY", "not heard
 * from yet"), NULL when its proxy answered; traffic_text writes "12.5
 * req/s, errors 0.40%, p95 3.2 ms" into buf. */
cJSON *traffic_json(const Ferry__TrafficFigures *f);
cJSON *proxy_json(const Ferry__ProxyState *p);
const char *proxy_said(const Ferry__ProxyState *p, char *buf, size_t len);
const char *traffic_text(const Ferry__TrafficFigures *f, char *buf,
    size_t len);

/* table.c: the CLI's tables (libsmartcols).  table_new starts one;
 * table_col adds a column (whint: its width, or below 1 a share of the
 * terminal's; flags: TABLE_RIGHT for figures, TABLE_TRUNC for a column
 * that may be cut to fit a terminal, TABLE_WRAP for one that may wrap);
 * table_row starts a row, table_cell fills its next cell, escaped for the
 * terminal (text.c); table_print writes the table to out (fitted to the
 * terminal when stdout is one, whole on a pipe) and frees it; table_free
 * frees it unprinted (safe on NULL); table_rows counts its rows.  Each
 * dies when out of memory. */
enum {
	TABLE_RIGHT = 1,
	TABLE_TRUNC = 2,
	TABLE_WRAP = 4,
};
struct table;
struct table *table_new(void);
void table_col(struct table *t, const char *name, double whint, int flags);
void table_row(struct table *t);
void table_cell(struct table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int table_rows(const struct table *t);
void table_print(struct table *t, FILE *out);
void table_free(struct table *t);
/* container_json: a container as a heartbeat said (ferry.c);
 * drift_json: a service's drift on a host and what catch-up does. */
cJSON *container_json(const Ferry__Container *c);
cJSON *drift_json(const Ferry__DriftInfo *d);

/* ferry_deploy.c */
int cmd_deploy(int argc, char **argv, int plan);
int cmd_status(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_control(int argc, char **argv, const char *what);
/* cmd_lifecycle: ferry restart|stop|start|remove SERVICE (what). */
int cmd_lifecycle(int argc, char **argv, const char *what);
int cmd_events(int argc, char **argv);

/* ferry_logs.c */
int cmd_logs(int argc, char **argv);

/* ferry_secret.c */
int cmd_secret(int argc, char **argv);
int cmd_registry(int argc, char **argv);

#endif
