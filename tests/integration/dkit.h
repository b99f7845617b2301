/* SPDX-License-Identifier: Apache-2.0 */
/* dkit.h: what the deployment integration tests share: a fleet of up to
 * six agents publishing on 127.0.0.2-7 against one ferryd, specs written
 * into the test's folder, and the CLI's answers read back as JSON.  Each
 * test binary declares its own suite with setup and teardown. */
#ifndef FERRY_DKIT_H
#define FERRY_DKIT_H

#include <stddef.h>

#include <cJSON.h>

#include "harness.h"

#define IMG "127.0.0.1:5000/ferry-test/web:"
#define NH 6
#define LABELS "{ labels: { role: web } }"

extern struct h_fleet F;
extern struct h_run R;
extern char HOST[NH][32];		/* host names, unique to the test */
extern struct h_proc *AGENT[NH];
extern const char *const ADDR[NH];	/* their publish addresses */
extern int PORT;			/* the service port, free on all */
extern int NAGENTS;			/* agents started so far */
extern char TMPFS[600];			/* a tmpfs over ferryd's state dir,
					 * unmounted by teardown */

/* Each is documented where it is defined, in dkit.c. */
long long now_ms(void);
long long db_count(const char *sql);
void setup(void);
void teardown(void);
void fleet(int n);
const char *names(char *buf, size_t len, int first, int last);
void spec(const char *file, const char *tag, const char *hosts,
    const char *health, const char *rollout);
const char *path(const char *file);
int deploy_watch(const char *file);
unsigned deploy_bg(const char *file);
cJSON *status(unsigned id);
const char *jstr(const cJSON *o, const char *key);
int jnum(const cJSON *o, const char *key);
const char *host_state(const cJSON *st, int i);
const char *host_cause(const cJSON *st, int i);
int finished_state(const char *s);
cJSON *wait_state(unsigned id, const char *state, int ms);
cJSON *wait_host(unsigned id, int i, const char *state, int ms);
int serving(int i);
void assert_all_serve(int first, int last, int version);
int containers(int i, char *buf, size_t len, int *all);
void the_container(int i, char *id, size_t len);
int hold_port(const char *addr);
struct h_proc *load_start_t(const char *name, int first, int last, int conns,
    int interval_ms, int limit_s, int timeout_s);
struct h_proc *load_start(const char *name, int first, int last, int conns,
    int interval_ms, int limit_s);
struct h_proc *load_start_rate(const char *name, int first, int last,
    int conns, int rate, int limit_s);
cJSON *load_stop(struct h_proc *p);
double jd(const cJSON *o, const char *a, const char *b);
void no_failures(const cJSON *o, const char *what);

#endif
