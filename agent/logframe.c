/* SPDX-License-Identifier: Apache-2.0 */
/* logframe.c: Docker's log stream cut into lines, and the bytes bucket
 * (logframe.h).  Pure: no I/O, no clock of its own. */
#include <string.h>
#include <time.h>

#include "logframe.h"

void
logframe_init(struct logframe *f, int raw)
{
	memset(f, 0, sizeof(*f));
	f->raw = raw;
	f->stream = 1;
}

static int
digits(const char *s, size_t n, int *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		*v = *v * 10 + (s[i] - '0');
	}
	return 1;
}

uint64_t
logframe_ts(const char *s, size_t n, size_t *used)
{
	struct tm tm;
	int y, mo, d, h, mi, se, k;
	uint64_t ns = 0, scale = 100000000;
	size_t i = 19;
	time_t t;

	*used = 0;
	/* 2026-12-05T10:04:49 */
	if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || !digits(s, 4, &y) ||
	    !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
	    !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) ||
	    !digits(s + 17, 2, &se))
		return 0;
	if (s[i] == '.') {
		for (i++, k = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++, k++)
			if (k < 9) {
				ns += (uint64_t)(s[i] - '0') * scale;
				scale /= 10;
			}
	}
	if (i >= n || s[i] != 'Z' || mo < 1 || mo > 12 || d < 1 || d > 31 ||
	    h > 23 || mi > 59 || se > 60 || y < 1970)
		return 0;
	i++;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	if ((t = timegm(&tm)) < 0)
		return 0;
	if (i < n && s[i] == ' ')
		i++;
	*used = i;
	return (uint64_t)t * 1000000000u + ns;
}

/* line passes on one whole line of stream s (its newline gone). */
static int
line(int s, const char *p, size_t n, logframe_line_fn fn, void *arg)
{
	size_t used;
	uint64_t ts = logframe_ts(p, n, &used);

	if (n > 0 && p[n - 1] == '\r')
		n--;	/* a TTY's line end */
	if (used > n)
		used = n;
	return fn(arg, s, ts, p + used, n - used);
}

/* text takes payload bytes of stream s. */
static int
text(struct logframe *f, int s, const char *p, size_t n,
    logframe_line_fn fn, void *arg)
{
	char *buf = f->part[s].buf;
	size_t *len = &f->part[s].len, k;
	const char *nl;
	int rc;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		k = nl != NULL ? (size_t)(nl - p) : n;
		if (*len == 0 && nl != NULL && k <= LOGLINE_MAX) {
			/* A whole line in place: no copy. */
			if ((rc = line(s, p, k, fn, arg)) != 0)
				return rc;
		} else {
			while (k > 0) {
				size_t room = LOGLINE_MAX - *len;
				size_t take = k < room ? k : room;

				memcpy(buf + *len, p, take);
				*len += take;
				p += take;
				n -= take;
				k -= take;
				if (*len == LOGLINE_MAX) {
					rc = line(s, buf, *len, fn, arg);
					*len = 0;
					if (rc != 0)
						return rc;
				}
			}
			if (nl == NULL)
				return 0;
			rc = line(s, buf, *len, fn, arg);
			*len = 0;
			if (rc != 0)
				return rc;
			k = 0;
		}
		p += k + 1;
		n -= k + 1;
	}
	return 0;
}

int
logframe_feed(struct logframe *f, const char *p, size_t n,
    logframe_line_fn fn, void *arg)
{
	size_t k;
	int rc;

	if (f->raw)
		return text(f, 1, p, n, fn, arg);
	while (n > 0) {
		if (f->left == 0) {
			k = sizeof(f->hdr) - f->nhdr;
			k = k < n ? k : n;
			memcpy(f->hdr + f->nhdr, p, k);
			f->nhdr += k;
			p += k;
			n -= k;
			if (f->nhdr < sizeof(f->hdr))
				return 0;
			f->nhdr = 0;
			f->stream = f->hdr[0];
			f->left = (uint32_t)f->hdr[4] << 24 |
			    (uint32_t)f->hdr[5] << 16 |
			    (uint32_t)f->hdr[6] << 8 | f->hdr[7];
			continue;
		}
		k = f->left < n ? f->left : n;
		if ((f->stream == 1 || f->stream == 2) &&
		    (rc = text(f, f->stream, p, k, fn, arg)) != 0)
			return rc;
		f->left -= (uint32_t)k;
		p += k;
		n -= k;
	}
	return 0;
}

int
logframe_flush(struct logframe *f, logframe_line_fn fn, void *arg)
{
	int s, rc;

	for (s = 1; s <= 2; s++)
		if (f->part[s].len > 0) {
			rc = line(s, f->part[s].buf, f->part[s].len, fn, arg);
			f->part[s].len = 0;
			if (rc != 0)
				return rc;
		}
	return 0;
}

/* Tokens are kept in millionths of a byte: a microsecond earns rate of
 * them, exactly, however short the time between two calls. */
void
logbucket_init(struct logbucket *b, uint64_t rate, uint64_t burst,
    uint64_t now_us)
{
	b->rate = rate;
	b->burst = burst;
	b->tokens = burst * 1000000u;
	b->last_us = now_us;
}

int
logbucket_take(struct logbucket *b, uint64_t n, uint64_t now_us)
{
	uint64_t cap = b->burst * 1000000u;

	if (now_us > b->last_us) {
		uint64_t add = (now_us - b->last_us) * b->rate;

		b->tokens = add >= cap || b->tokens > cap - add ? cap :
		    b->tokens + add;
		b->last_us = now_us;
	}
	if (b->tokens < n * 1000000u)
		return 0;
	b->tokens -= n * 1000000u;
	return 1;
}
