/* SPDX-License-Identifier: Apache-2.0 */
/* log.h: the one logger every ferry daemon and tool uses. */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

/*
 * log_init sets the program name, where lines go (stderr when foreground,
 * else syslog) and whether log_debug prints.  Safe to call again.
 * Lines never carry secrets: callers log ids, names and reasons only.
 * Each message is written as one line: control characters and invalid
 * UTF-8 in it (a peer's text quoted) are escaped (text_escape).
 */
void
log_init(const char *name, int foreground, int verbose);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warn appends strerror(errno); log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal and fatalx log and exit(1). */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
