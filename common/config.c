/* SPDX-License-Identifier: Apache-2.0 */
/* config.c: config files (via inih) and flags share one table of settings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "config.h"
#include "ferr.h"

int
parse_duration_ms(const char *s, uint64_t *ms)
{
	char *end;
	unsigned long long v;
	uint64_t mul;

	if (s[0] < '0' || s[0] > '9')
		return FERR_ARG;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return FERR_ARG;
	if (strcmp(end, "ms") == 0)
		mul = 1;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		mul = 1000;
	else if (strcmp(end, "m") == 0)
		mul = 60000;
	else if (strcmp(end, "h") == 0)
		mul = 3600000;
	else
		return FERR_ARG;
	if (v > UINT64_MAX / mul / 1000)
		return FERR_ARG;
	*ms = v * mul;
	return 0;
}

struct config_opt *
config_find(struct config_opt *opts, const char *name)
{
	for (; opts->name != NULL; opts++) {
		const char *a = opts->name, *b = name;
		/* "state_dir" and "state-dir" name the same setting. */
		while (*a && (*a == *b || (*a == '_' && *b == '-'))) {
			a++;
			b++;
		}
		if (*a == '\0' && *b == '\0')
			return opts;
	}
	return NULL;
}

int
config_set(struct config_opt *opts, const char *name, const char *value,
    char *err, size_t errlen)
{
	struct config_opt *o = config_find(opts, name);
	unsigned long v;
	char *end;

	if (o == NULL) {
		snprintf(err, errlen, "unknown setting \"%s\"", name);
		return FERR_ARG;
	}
	switch (o->type) {
	case CONF_STRING:
		if (strlen(value) >= o->size) {
			snprintf(err, errlen, "%s: value longer than %zu bytes",
			    o->name, o->size - 1);
			return FERR_ARG;
		}
		strcpy(o->dst, value);
		return 0;
	case CONF_UINT:
		errno = 0;
		v = strtoul(value, &end, 10);
		if (value[0] < '0' || value[0] > '9' || *end != '\0' ||
		    errno != 0 || v < o->min || v > o->max) {
			snprintf(err, errlen, "%s: expected a whole number "
			    "from %u to %u, got \"%s\"", o->name, o->min,
			    o->max, value);
			return FERR_ARG;
		}
		*(uint32_t *)o->dst = (uint32_t)v;
		return 0;
	case CONF_BOOL:
		if (strcmp(value, "yes") == 0 || strcmp(value, "no") == 0) {
			*(int *)o->dst = value[0] == 'y';
			return 0;
		}
		snprintf(err, errlen, "%s: expected yes or no, got \"%s\"",
		    o->name, value);
		return FERR_ARG;
	case CONF_DURATION:
		if (parse_duration_ms(value, o->dst) != 0) {
			snprintf(err, errlen, "%s: expected a duration such as "
			    "500ms, 5s or 2m, got \"%s\"", o->name, value);
			return FERR_ARG;
		}
		return 0;
	}
	return FERR_ARG;
}

struct load_ctx {
	struct config_opt *opts;
	char *err;
	size_t errlen;
	int failed;
	FILE *f;
	int line;		/* lines read so far: the one being handled */
	int failed_line;	/* the line of the first failed setting */
};

/*
 * read_line is fgets counting lines, so that a failed setting knows its
 * line.  inih counts lines the same way (one per reader call) and keeps
 * parsing after an error, returning the first error's line: the reason in
 * err must be that line's, not a later one's.
 */
static char *
read_line(char *str, int num, void *stream)
{
	struct load_ctx *c = stream;
	char *s = fgets(str, num, c->f);

	if (s != NULL)
		c->line++;
	return s;
}

/* uncomment: value without a comment after it ("5s  # the default"): a
 * '#' after a space or tab starts one, as at the start of a line; a '#'
 * inside a word ("a#b") does not. */
static void
uncomment(char *value)
{
	char *p;
	size_t n;

	for (p = value; *p != '\0'; p++)
		if (*p == '#' && p > value && (p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
	n = strlen(value);
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		value[--n] = '\0';
}

static int
on_line(void *user, const char *section, const char *name,
    const char *raw)
{
	struct load_ctx *c = user;
	struct config_opt *o;
	char value[1024];

	/* After the first error nothing more is set or explained. */
	if (c->failed)
		return 0;
	if (section[0] != '\0') {
		snprintf(c->err, c->errlen, "sections are not used "
		    "(\"[%s]\")", section);
		c->failed = 1;
		c->failed_line = c->line;
		return 0;
	}
	o = config_find(c->opts, name);
	if (o != NULL && o->set)
		return 1;
	if (strlen(raw) >= sizeof(value)) {
		snprintf(c->err, c->errlen, "%s: value too long", name);
		c->failed = 1;
		c->failed_line = c->line;
		return 0;
	}
	snprintf(value, sizeof(value), "%s", raw);
	uncomment(value);
	if (config_set(c->opts, name, value, c->err, c->errlen) != 0) {
		c->failed = 1;
		c->failed_line = c->line;
		return 0;
	}
	return 1;
}

int
config_load(struct config_opt *opts, const char *path, char *err,
    size_t errlen)
{
	struct load_ctx c = { opts, NULL, 0, 0, NULL, 0, 0 };
	char why[256] = "";
	int line;

	c.err = why;
	c.errlen = sizeof(why);
	c.f = fopen(path, "re");
	if (c.f == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return FERR_IO;
	}
	line = ini_parse_stream(read_line, &c, on_line, &c);
	fclose(c.f);
	if (line == -2) {
		snprintf(err, errlen, "%s: out of memory", path);
		return FERR_NOMEM;
	}
	if (line != 0) {
		snprintf(err, errlen, "%s:%d: %s", path, line,
		    c.failed && c.failed_line == line ? why :
		    "expected \"name = value\"");
		return FERR_ARG;
	}
	return 0;
}

char *
format_duration_ms(char *buf, size_t len, uint64_t ms)
{
	if (ms % 3600000 == 0 && ms > 0)
		snprintf(buf, len, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms % 60000 == 0 && ms > 0)
		snprintf(buf, len, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, len, "%llums", (unsigned long long)ms);
	return buf;
}
