/* SPDX-License-Identifier: Apache-2.0 */
/* log.c: timestamped log lines to stderr or syslog, thread-safe; every
 * line escaped (text.c). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "text.h"

static const char *log_name = "ferry";
static int log_fg = 1;
static int log_verbose;
static pthread_mutex_t log_mtx = PTHREAD_MUTEX_INITIALIZER;

void
log_init(const char *name, int foreground, int verbose)
{
	log_name = name;
	log_fg = foreground;
	log_verbose = verbose;
	if (!foreground)
		openlog(name, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static void
vlog(int pri, const char *level, int with_errno, const char *fmt, va_list ap)
{
	char raw[2048], msg[4096];
	int saved = errno;
	int n;

	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	if (n < 0)
		return;
	if (with_errno && (size_t)n < sizeof(raw))
		snprintf(raw + n, sizeof(raw) - (size_t)n, ": %s",
		    strerror(saved));
	/* One line, whatever a peer's text inside it holds: a newline or an
	 * escape sequence cannot forge a line or drive a terminal. */
	text_escape(msg, sizeof(msg), raw);
	if (!log_fg) {
		syslog(pri, "%s", msg);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&log_mtx);
	fprintf(stderr, "%s.%03ldZ %s[%d] %s: %s\n", stamp,
	    ts.tv_nsec / 1000000, log_name, (int)getpid(), level, msg);
	fflush(stderr);
	pthread_mutex_unlock(&log_mtx);
}

#define LOG_FN(fn, pri, level, with_errno, gate)			\
void									\
fn(const char *fmt, ...)						\
{									\
	va_list ap;							\
									\
	if (gate)							\
		return;							\
	va_start(ap, fmt);						\
	vlog(pri, level, with_errno, fmt, ap);				\
	va_end(ap);							\
}

LOG_FN(log_info, LOG_INFO, "info", 0, 0)
LOG_FN(log_debug, LOG_DEBUG, "debug", 0, !log_verbose)
LOG_FN(log_warn, LOG_WARNING, "warning", 1, 0)
LOG_FN(log_warnx, LOG_WARNING, "warning", 0, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, "fatal", 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, "fatal", 0, fmt, ap);
	va_end(ap);
	exit(1);
}
