/* SPDX-License-Identifier: Apache-2.0 */
/* spec.c: the schema of the service spec a user writes: each field checked,
 * so that a bad file is refused with an exact message for each problem. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ferr.h"
#include "spec.h"
#include "yamltree.h"

/*
 * Reading happens in two steps.  load() has yamltree.c turn the text into
 * a small tree of nodes that remember their line, refusing what a spec
 * never needs (aliases, several documents, deep nesting, huge
 * collections).  Then read_spec() walks that tree against the schema, one
 * reader per section, and fills a struct spec.  Every error goes through
 * fail(), which notes "FILE:LINE: PATH: what was expected" and returns
 * FERR_MALFORMED: a section's reader stops there, read_spec goes on to the
 * next section, and spec_parse writes every problem noted, in file order.
 */

#define SHOW_MAX	40	/* bytes of a bad value quoted back */

/* The problems found so far: the first PROBLEMS_KEPT as written, the
 * rest only counted. */
#define PROBLEMS_KEPT	64

struct problem {
	unsigned line;
	unsigned seq;			/* the order found, for ties */
	char text[640];
};

struct problems {
	struct problem p[PROBLEMS_KEPT];
	size_t kept;
	size_t total;
};

struct ctx {
	const char *file;
	char *err;
	size_t errlen;
	struct problems *probs;		/* NULL: only the first, in err */
};

/* A key and its value in a mapping with fixed keys. */
struct kv {
	const struct ynode *k;
	const struct ynode *v;
};

/* An entry of a list or free-form mapping, for finding repeats. */
struct ent {
	const char *s;
	const struct ynode *n;
	size_t i;
};

static const char DURATION_EXPECT[] =
    "a duration like 500ms, 5s or 2m";

/* ---- messages ------------------------------------------------------- */

static int
fail(const struct ctx *c, unsigned line, const char *path, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

/* fail writes "file:line: path: message" (line 0: no line; path NULL or
 * empty: no path) as one more problem of the spec and returns
 * FERR_MALFORMED; spec_parse writes them all out at the end. */
static int
fail(const struct ctx *c, unsigned line, const char *path, const char *fmt,
    ...)
{
	char msg[512], where[32] = "", *out;
	size_t outlen;
	va_list ap;
	struct problem *pb = NULL;

	if (c->probs != NULL) {
		c->probs->total++;
		if (c->probs->kept == PROBLEMS_KEPT)
			return FERR_MALFORMED;
		pb = &c->probs->p[c->probs->kept];
		pb->line = line;
		pb->seq = (unsigned)c->probs->kept++;
		out = pb->text;
		outlen = sizeof(pb->text);
	} else if (c->err != NULL && c->errlen > 0) {
		out = c->err;
		outlen = c->errlen;
	} else {
		return FERR_MALFORMED;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(where, sizeof(where), ":%u", line);
	if (path != NULL && path[0] != '\0')
		snprintf(out, outlen, "%s%s: %s: %s", c->file, where, path,
		    msg);
	else
		snprintf(out, outlen, "%s%s: %s", c->file, where, msg);
	return FERR_MALFORMED;
}

static int
problem_cmp(const void *a, const void *b)
{
	const struct problem *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* problems_write writes the problems found into err, in the file's order
 * (those with no line first: a key missing from the whole file), at most
 * SPEC_ERRORS_MAX, then "and N more problems"; a line after the first
 * that does not fit is left out whole and counted with the rest, and a
 * first line too long for err is cut. */
static void
problems_write(struct problems *pr, char *err, size_t errlen)
{
	size_t i, o = 0, shown = 0, len;
	char more[64];

	if (err == NULL || errlen == 0)
		return;
	err[0] = '\0';
	qsort(pr->p, pr->kept, sizeof(pr->p[0]), problem_cmp);
	for (i = 0; i < pr->kept && shown < SPEC_ERRORS_MAX; i++) {
		len = strlen(pr->p[i].text);
		/* Room for this line, and for the "and N more" after it; the
		 * first is cut to fit rather than left out. */
		if (shown == 0 && len + 1 + sizeof(more) >= errlen) {
			snprintf(err, errlen, "%s", pr->p[i].text);
			return;
		}
		if (o + len + 1 + sizeof(more) >= errlen)
			break;
		o += (size_t)snprintf(err + o, errlen - o, "%s%s",
		    shown ? "\n" : "", pr->p[i].text);
		shown++;
	}
	if (shown < pr->total) {
		snprintf(more, sizeof(more), "%sand %zu more problem%s",
		    shown ? "\n" : "", pr->total - shown,
		    pr->total - shown == 1 ? "" : "s");
		if (o + strlen(more) < errlen)
			snprintf(err + o, errlen - o, "%s", more);
	}
}

static int
nomem(const struct ctx *c)
{
	if (c->err != NULL && c->errlen > 0)
		snprintf(c->err, c->errlen, "%s: out of memory", c->file);
	return FERR_NOMEM;
}

/* quote writes s (len bytes) in double quotes, escaped, cut at SHOW_MAX
 * bytes, into buf. */
static void
quote(const char *s, size_t len, char *buf, size_t buflen)
{
	size_t i, o = 0;

	if (buflen < 8) {
		if (buflen > 0)
			buf[0] = '\0';
		return;
	}
	buf[o++] = '"';
	for (i = 0; i < len && o + 8 < buflen; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (i == SHOW_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)ch;
		} else if (ch == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else if (ch == '\t') {
			buf[o++] = '\\';
			buf[o++] = 't';
		} else if (ch < 0x20 || ch == 0x7f) {
			o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x",
			    ch);
		} else {
			buf[o++] = (char)ch;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
}

/* looks_numeric: an unquoted number is shown bare ("got 0"). */
static int
looks_numeric(const struct ynode *n)
{
	size_t i = 0;

	if (!n->plain || n->len == 0 || n->len > SHOW_MAX)
		return 0;
	if (n->text[0] == '-' || n->text[0] == '+')
		i++;
	if (i == n->len)
		return 0;
	for (; i < n->len; i++)
		if (!isdigit((unsigned char)n->text[i]) && n->text[i] != '.')
			return 0;
	return 1;
}

/* describe says what a node is, for "got ...": a mapping, a list,
 * nothing, 0, "fast". */
static void
describe(const struct ynode *n, char *buf, size_t buflen)
{
	if (n->type == YNODE_MAP)
		snprintf(buf, buflen, "a mapping");
	else if (n->type == YNODE_SEQ)
		snprintf(buf, buflen, "a list");
	else if (n->null)
		snprintf(buf, buflen, "nothing");
	else if (looks_numeric(n))
		snprintf(buf, buflen, "%s", n->text);
	else
		quote(n->text, n->len, buf, buflen);
}

/* at: the line to blame for a collection as a whole (a key missing, two
 * that exclude each other): the line of its key when it has one, since a
 * block mapping starts on the line after it. */
static unsigned
at(const struct ynode *n)
{
	return n->key_line ? n->key_line : n->line;
}

/* expected: "path: expected WHAT, got HOW n LOOKS". */
static int
expected(const struct ctx *c, const struct ynode *n, const char *path,
    const char *what)
{
	char got[SHOW_MAX * 4 + 16];

	describe(n, got, sizeof(got));
	return fail(c, n->line, path, "expected %s, got %s", what, got);
}

/* show_duration writes a duration for a message: as the user wrote it
 * (a bare number gets its implied "s"), or, for a default (v NULL), in
 * seconds or milliseconds. */
static void
show_duration(const struct ynode *v, uint32_t ms, char *buf, size_t buflen)
{
	size_t i;

	if (v != NULL) {
		for (i = 0; isdigit((unsigned char)v->text[i]); i++)
			;
		snprintf(buf, buflen, "%.*s%s", SHOW_MAX, v->text,
		    v->text[i] == '\0' ? "s" : "");
	} else if (ms % 1000 == 0) {
		snprintf(buf, buflen, "%us", ms / 1000);
	} else {
		snprintf(buf, buflen, "%ums", ms);
	}
}

/* ---- the node tree -------------------------------------------------- */

/* load reads text into a tree of nodes (yamltree.h), turning a refusal
 * into "file:line: why". */
static int
load(const struct ctx *c, const char *text, size_t len, struct ynode **root)
{
	char why[512];
	unsigned line = 0;
	int rc;

	rc = yamltree_load(text, len, root, &line, why, sizeof(why));
	if (rc == FERR_NOMEM)
		return nomem(c);
	if (rc != 0)
		return fail(c, line, NULL, "%s", why);
	return 0;
}

/* ---- schema helpers ------------------------------------------------- */

/*
 * A key DESIGN names that this version of ferry does not act on.  Rather
 * than accept it and do nothing (a spec with a proxy would run without
 * one), the spec is refused with why, which says so.
 */
struct refusal {
	const char *key;
	const char *why;
};

/* refusal_of: the entry of refused (may be NULL) for key k, or NULL. */
static const struct refusal *
refusal_of(const struct refusal *refused, const struct ynode *k)
{
	for (; refused != NULL && refused->key != NULL; refused++)
		if (strcmp(k->text, refused->key) == 0 &&
		    k->len == strlen(refused->key))
			return refused;
	return NULL;
}

/*
 * map_get reads the mapping n whose keys must be among names (a NULL-ended
 * list of at most 16): out[i] gets the key and value for names[i], both
 * NULL when absent.  Refuses another type (saying it expected what), keys
 * that are not names, unknown keys and repeated keys.  A key found in
 * refused (NULL, or ended by a NULL key) is refused with its own reason,
 * as "path.key: why".
 */
static int
map_get(const struct ctx *c, const struct ynode *n, const char *path,
    const char *what, const char *const *names,
    const struct refusal *refused, struct kv *out)
{
	const struct refusal *r;
	size_t i, j, nnames;
	int rc = 0;
	char list[512], q[SHOW_MAX * 4 + 16], sub[128];

	for (nnames = 0; names[nnames] != NULL; nnames++)
		out[nnames].k = out[nnames].v = NULL;
	if (n->type != YNODE_MAP)
		return expected(c, n, path, what);
	for (i = 0; i < n->nkid; i += 2) {
		const struct ynode *k = n->kid[i];

		if (k->type != YNODE_SCALAR || k->null) {
			rc = expected(c, k, path, "a key name");
			continue;
		}
		for (j = 0; j < nnames; j++)
			if (strcmp(k->text, names[j]) == 0 &&
			    k->len == strlen(names[j]))
				break;
		quote(k->text, k->len, q, sizeof(q));
		if (j == nnames && (r = refusal_of(refused, k)) != NULL) {
			snprintf(sub, sizeof(sub), "%s%s%s", path ? path : "",
			    path ? "." : "", r->key);
			rc = fail(c, k->line, sub, "%s", r->why);
			continue;
		}
		if (j == nnames) {
			size_t o = 0;

			list[0] = '\0';
			for (j = 0; j < nnames && o < sizeof(list); j++)
				o += (size_t)snprintf(list + o,
				    sizeof(list) - o, "%s%s", j ? ", " : "",
				    names[j]);
			rc = fail(c, k->line, path, "unknown key %s "
			    "(expected one of: %s)", q, list);
			continue;
		}
		if (out[j].k != NULL) {
			rc = fail(c, k->line, path, "duplicate key %s "
			    "(first at line %u)", q, out[j].k->line);
			continue;
		}
		out[j].k = k;
		out[j].v = n->kid[i + 1];
	}
	return rc;
}

/* scalar: n must be a non-null scalar without NUL bytes. */
static int
scalar(const struct ctx *c, const struct ynode *n, const char *path,
    const char *what, const char **out)
{
	if (n->type != YNODE_SCALAR || n->null)
		return expected(c, n, path, what);
	if (strlen(n->text) != n->len)
		return fail(c, n->line, path, "expected %s, got a value with "
		    "a NUL byte in it", what);
	*out = n->text;
	return 0;
}

/* parse_count: a plain decimal number, at most max. */
static int
parse_count(const char *s, uint32_t max, uint32_t *out)
{
	unsigned long long v = 0;
	size_t i;

	if (s[0] == '\0')
		return FERR_ARG;
	for (i = 0; s[i] != '\0'; i++) {
		if (!isdigit((unsigned char)s[i]))
			return FERR_ARG;
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > max)
			return FERR_ARG;
	}
	*out = (uint32_t)v;
	return 0;
}

/* parse_percent: "1%" to "100%". */
static int
parse_percent(const char *s, uint32_t *out)
{
	char num[8];
	size_t len = strlen(s);
	uint32_t v;

	if (len < 2 || len - 1 >= sizeof(num) || s[len - 1] != '%')
		return FERR_ARG;
	memcpy(num, s, len - 1);
	num[len - 1] = '\0';
	if (parse_count(num, 100, &v) != 0 || v == 0)
		return FERR_ARG;
	*out = v;
	return 0;
}

/* number: a whole number from min to max; what says so in words. */
static int
number(const struct ctx *c, const struct ynode *n, const char *path,
    uint32_t min, uint32_t max, const char *what, uint32_t *out)
{
	const char *s;
	uint32_t v;
	int rc;

	if ((rc = scalar(c, n, path, what, &s)) != 0)
		return rc;
	if (parse_count(s, max, &v) != 0 || v < min)
		return expected(c, n, path, what);
	*out = v;
	return 0;
}

static int
port_number(const struct ctx *c, const struct ynode *n, const char *path,
    uint32_t *out)
{
	return number(c, n, path, 1, 65535, "a port number from 1 to 65535",
	    out);
}

/* duration: at most SPEC_DURATION_MAX_MS; above 0 unless zero_ok. */
static int
duration(const struct ctx *c, const struct ynode *n, const char *path,
    int zero_ok, uint32_t *out)
{
	const char *s;
	uint64_t ms;
	char q[SHOW_MAX * 4 + 16];
	int rc;

	if ((rc = scalar(c, n, path, DURATION_EXPECT, &s)) != 0)
		return rc;
	if (parse_duration_ms(s, &ms) != 0)
		return expected(c, n, path, DURATION_EXPECT);
	describe(n, q, sizeof(q));
	if (ms > SPEC_DURATION_MAX_MS)
		return fail(c, n->line, path, "must be at most 24h, got %s",
		    q);
	if (ms == 0 && !zero_ok)
		return fail(c, n->line, path, "must be above 0, got %s", q);
	*out = (uint32_t)ms;
	return 0;
}

/* one_of: a word from words (NULL-ended); *out is its index. */
static int
one_of(const struct ctx *c, const struct ynode *n, const char *path,
    const char *const *words, const char *what, int *out)
{
	const char *s;
	int i, rc;

	if ((rc = scalar(c, n, path, what, &s)) != 0)
		return rc;
	for (i = 0; words[i] != NULL; i++)
		if (strcmp(s, words[i]) == 0) {
			*out = i;
			return 0;
		}
	return expected(c, n, path, what);
}

static int
ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	int d = strcmp(x->s, y->s);

	if (d != 0)
		return d;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * first_repeat finds, among e[0..n) (in file order), the earliest entry
 * whose text came before: *again is it, *first its first appearance.
 * Returns 1 when there is one, 0 when all differ, FERR_NOMEM.  Sorting
 * keeps this fast for thousands of hosts.
 */
static int
first_repeat(struct ent *e, size_t n, const struct ynode **again,
    const struct ynode **first)
{
	size_t i, best = n;

	qsort(e, n, sizeof(*e), ent_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(e[i].s, e[i - 1].s) == 0 &&
		    (best == n || e[i].i < e[best].i) &&
		    (i == 1 || strcmp(e[i - 1].s, e[i - 2].s) != 0))
			best = i;	/* the second of its run */
	if (best == n)
		return 0;
	*again = e[best].n;
	*first = e[best - 1].n;
	return 1;
}

/* A host name or label key: a letter or digit, then letters, digits,
 * '-', '_' or '.'; at most SPEC_HOST_MAX (as ferryd's host_name_ok). */
static int
host_name_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > SPEC_HOST_MAX || !isalnum((unsigned char)s[0]))
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!(ch < 0x80 && isalnum(ch)) && ch != '-' && ch != '_' &&
		    ch != '.')
			return 0;
	}
	return 1;
}

/* [A-Za-z_][A-Za-z0-9_]*, at most 255 bytes. */
static int
env_name_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 255 || isdigit((unsigned char)s[0]))
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!(ch < 0x80 && isalnum(ch)) && ch != '_')
			return 0;
	}
	return 1;
}

/* [a-z0-9][a-z0-9_.-]{0,62} */
static int
service_name_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > SPEC_SERVICE_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
			continue;
		if (i == 0 || (ch != '_' && ch != '.' && ch != '-'))
			return 0;
	}
	return 1;
}

int
spec_secret_name_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > SPEC_SECRET_NAME_MAX || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!(ch < 0x80 && isalnum(ch)) && ch != '_' && ch != '.' &&
		    ch != '-')
			return 0;
	}
	return 1;
}

/* ---- the sections --------------------------------------------------- */

static char *
dup_str(const struct ctx *c, const char *s, int *rc)
{
	char *d = strdup(s);

	if (d == NULL)
		*rc = nomem(c);
	return d;
}

/* read_names reads a list of distinct names (hosts).  ok() judges each;
 * what says what one is; kind names one in messages ("host"). */
static int
read_names(const struct ctx *c, const struct ynode *n, const char *path,
    size_t max, int (*ok)(const char *), const char *what,
    const char *kind, char ***out, size_t *nout)
{
	char sub[160], q[SHOW_MAX * 4 + 16], listwhat[256];
	struct ent *e = NULL;
	const struct ynode *again, *first;
	const char *s;
	size_t i;
	int rc = 0;

	snprintf(listwhat, sizeof(listwhat), "a list of %ss like [a, b]",
	    kind);
	if (n->type != YNODE_SEQ)
		return expected(c, n, path, listwhat);
	if (n->nkid == 0)
		return fail(c, at(n), path, "expected at least one %s",
		    kind);
	if (n->nkid > max)
		return fail(c, at(n), path, "more than %zu %ss", max, kind);
	for (i = 0; i < n->nkid; i++) {
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		if ((rc = scalar(c, n->kid[i], sub, what, &s)) != 0)
			return rc;
		if (!ok(s))
			return expected(c, n->kid[i], sub, what);
	}
	if ((e = calloc(n->nkid, sizeof(*e))) == NULL)
		return nomem(c);
	for (i = 0; i < n->nkid; i++) {
		e[i].s = n->kid[i]->text;
		e[i].n = n->kid[i];
		e[i].i = i;
	}
	if (first_repeat(e, n->nkid, &again, &first)) {
		for (i = 0; n->kid[i] != again; i++)
			;
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		quote(again->text, again->len, q, sizeof(q));
		rc = fail(c, again->line, sub, "%s %s is listed twice (first "
		    "at line %u)", kind, q, first->line);
		goto out;
	}
	if ((*out = calloc(n->nkid, sizeof(**out))) == NULL) {
		rc = nomem(c);
		goto out;
	}
	*nout = n->nkid;
	for (i = 0; i < n->nkid && rc == 0; i++)
		(*out)[i] = dup_str(c, n->kid[i]->text, &rc);
out:
	free(e);
	return rc;
}

/*
 * read_pairs reads a free-form mapping of distinct names to scalar values
 * (env, labels).  name_ok/name_what judge the names; value_ok (may be NULL)
 * judges values.  show_values 0 keeps values out of messages.
 */
static int
read_pairs(const struct ctx *c, const struct ynode *n, const char *path,
    const char *what, size_t max, const char *kind,
    int (*name_ok)(const char *), const char *name_what,
    int (*value_ok)(const char *), const char *value_what, int show_values,
    struct spec_pair **out, size_t *nout)
{
	char sub[320], q[SHOW_MAX * 4 + 16];
	struct ent *e = NULL;
	const struct ynode *again, *first, *k, *v;
	const char *s;
	size_t i, np;
	int rc = 0;

	if (n->type != YNODE_MAP)
		return expected(c, n, path, what);
	np = n->nkid / 2;
	if (np == 0)
		return fail(c, at(n), path, "expected at least one %s",
		    kind);
	if (np > max)
		return fail(c, at(n), path, "more than %zu %ss", max, kind);
	for (i = 0; i < np; i++) {
		k = n->kid[2 * i];
		v = n->kid[2 * i + 1];
		if ((rc = scalar(c, k, path, name_what, &s)) != 0)
			return rc;
		if (!name_ok(s))
			return expected(c, k, path, name_what);
		snprintf(sub, sizeof(sub), "%s.%s", path, s);
		if (v->type != YNODE_SCALAR || v->null) {
			if (!show_values || v->type != YNODE_SCALAR)
				return fail(c, v->line, sub, "expected %s, "
				    "got %s", value_what,
				    v->type == YNODE_MAP ? "a mapping" :
				    v->type == YNODE_SEQ ? "a list" :
				    "nothing (write \"\" for an empty value)");
			return expected(c, v, sub, value_what);
		}
		if (strlen(v->text) != v->len || (value_ok && !value_ok(
		    v->text))) {
			if (!show_values)
				return fail(c, v->line, sub, "expected %s",
				    value_what);
			return expected(c, v, sub, value_what);
		}
	}
	if ((e = calloc(np, sizeof(*e))) == NULL)
		return nomem(c);
	for (i = 0; i < np; i++) {
		e[i].s = n->kid[2 * i]->text;
		e[i].n = n->kid[2 * i];
		e[i].i = i;
	}
	if (first_repeat(e, np, &again, &first)) {
		quote(again->text, again->len, q, sizeof(q));
		rc = fail(c, again->line, path, "duplicate key %s (first at "
		    "line %u)", q, first->line);
		goto out;
	}
	if ((*out = calloc(np, sizeof(**out))) == NULL) {
		rc = nomem(c);
		goto out;
	}
	*nout = np;
	for (i = 0; i < np && rc == 0; i++) {
		(*out)[i].name = dup_str(c, n->kid[2 * i]->text, &rc);
		if (rc == 0)
			(*out)[i].value = dup_str(c, n->kid[2 * i + 1]->text,
			    &rc);
	}
out:
	free(e);
	return rc;
}

static int
label_value_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n > SPEC_LABEL_VALUE_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static const char HOST_WHAT[] = "a host name (letters, digits, '-', '_' "
    "and '.', starting with a letter or digit, at most 63 characters)";

static int
read_host_names(const struct ctx *c, const struct ynode *n, const char *path,
    struct spec *s)
{
	s->hosts = SPEC_HOSTS_NAMES;
	return read_names(c, n, path, SPEC_HOSTS_MAX, host_name_valid,
	    HOST_WHAT, "host", &s->host_names, &s->nhost_names);
}

static int
read_hosts(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	static const char *const keys[] = { "names", "labels", NULL };
	static const char what[] = "a list of host names like [web-1, web-2] "
	    "or { labels: { role: web } }";
	struct kv kv[2];
	int rc;

	if (n->type == YNODE_SEQ)
		return read_host_names(c, n, "hosts", s);
	if ((rc = map_get(c, n, "hosts", what, keys, NULL, kv)) != 0)
		return rc;
	if (kv[0].k != NULL && kv[1].k != NULL)
		return fail(c, kv[1].k->line, "hosts", "expected names or "
		    "labels, not both");
	if (kv[0].k != NULL)
		return read_host_names(c, kv[0].v, "hosts.names", s);
	if (kv[1].k == NULL)
		return fail(c, at(n), "hosts", "expected names: [web-1, "
		    "...] or labels: { key: value }, got neither");
	s->hosts = SPEC_HOSTS_LABELS;
	return read_pairs(c, kv[1].v, "hosts.labels", "labels like "
	    "{ role: web }", SPEC_LABELS_MAX, "label", host_name_valid,
	    "a label key (letters, digits, '-', '_' and '.', at most 63 "
	    "characters)", label_value_valid, "a label value (printable, at "
	    "most 127 characters)", 1, &s->host_labels, &s->nhost_labels);
}

static int
read_port(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	static const char *const keys[] = { "host", "container", NULL };
	struct kv kv[2];
	int rc;

	if ((rc = map_get(c, n, "port", "a mapping like { host: 8080, "
	    "container: 80 }", keys, NULL, kv)) != 0)
		return rc;
	if (kv[0].k == NULL)
		return fail(c, at(n), "port", "missing required key "
		    "\"host\"");
	if (kv[1].k == NULL)
		return fail(c, at(n), "port", "missing required key "
		    "\"container\"");
	if ((rc = port_number(c, kv[0].v, "port.host", &s->port.host)) != 0 ||
	    (rc = port_number(c, kv[1].v, "port.container",
	    &s->port.container)) != 0)
		return rc;
	s->port.set = 1;
	return 0;
}

static int
url_path_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > SPEC_PATH_MAX || s[0] != '/')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static int
read_http(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	static const char *const keys[] = { "path", "port", "status", NULL };
	static const char path_what[] = "a URL path starting with '/' "
	    "(no spaces)";
	struct kv kv[3];
	const char *p;
	int rc;

	if ((rc = map_get(c, n, "health.http", "a mapping like { path: "
	    "/health, port: 80, status: 200 }", keys, NULL, kv)) != 0)
		return rc;
	if (kv[0].k == NULL)
		return fail(c, at(n), "health.http", "missing required key "
		    "\"path\"");
	if (kv[1].k == NULL)
		return fail(c, at(n), "health.http", "missing required key "
		    "\"port\"");
	if ((rc = scalar(c, kv[0].v, "health.http.path", path_what, &p)) != 0)
		return rc;
	if (!url_path_valid(p))
		return expected(c, kv[0].v, "health.http.path", path_what);
	if ((rc = port_number(c, kv[1].v, "health.http.port",
	    &s->health.http_port)) != 0)
		return rc;
	if (kv[2].k != NULL && (rc = number(c, kv[2].v, "health.http.status",
	    100, 599, "an HTTP status from 100 to 599",
	    &s->health.http_status)) != 0)
		return rc;
	s->health.check = SPEC_CHECK_HTTP;
	s->health.http_path = dup_str(c, p, &rc);
	return rc;
}

static int
read_exec(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	static const char what[] = "a command and its arguments like "
	    "[pg_isready, -q]";
	char sub[64];
	const char *w;
	size_t i;
	int rc = 0;

	if (n->type != YNODE_SEQ)
		return expected(c, n, "health.exec", what);
	if (n->nkid == 0)
		return fail(c, at(n), "health.exec", "expected %s, got an "
		    "empty list", what);
	if (n->nkid > SPEC_ARGV_MAX)
		return fail(c, at(n), "health.exec", "more than %d words",
		    SPEC_ARGV_MAX);
	for (i = 0; i < n->nkid; i++) {
		snprintf(sub, sizeof(sub), "health.exec[%zu]", i);
		if (n->kid[i]->type == YNODE_SCALAR && n->kid[i]->null &&
		    i > 0)
			return fail(c, n->kid[i]->line, sub, "expected a word, "
			    "got nothing (write \"\" for an empty argument)");
		if ((rc = scalar(c, n->kid[i], sub, i ? "a word" :
		    "a command", &w)) != 0)
			return rc;
		if (i == 0 && w[0] == '\0')
			return expected(c, n->kid[i], sub, "a command");
	}
	s->health.check = SPEC_CHECK_EXEC;
	if ((s->health.argv = calloc(n->nkid, sizeof(char *))) == NULL)
		return nomem(c);
	s->health.argc = n->nkid;
	for (i = 0; i < n->nkid && rc == 0; i++)
		s->health.argv[i] = dup_str(c, n->kid[i]->text, &rc);
	return rc;
}

/* ---- the container (issue 16) ------------------------------------- */

static int
decimal(const char *s, size_t len, int sign_ok, double *out);

/* ports: [ { host: 8080, container: 80[, mode: http|tcp] }, ... ]:
 * distinct host ports, each served through ferry-proxy in its own mode
 * or the service's. */
static int
read_ports(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	static const char *const keys[] = { "host", "container", "mode",
	    NULL };
	static const char *const modes[] = { "http", "tcp", NULL };
	static const char what[] = "a list of ports like [ { host: 8080, "
	    "container: 80 }, { host: 9090, container: 9090 } ]";
	char sub[64], sub2[80];
	struct kv kv[3];
	size_t i, j;
	int rc, m;

	if (n->type != YNODE_SEQ)
		return expected(c, n, "ports", what);
	if (n->nkid == 0)
		return fail(c, at(n), "ports", "expected at least one port "
		    "(leave ports: out for none)");
	if (n->nkid > SPEC_PORTS_MAX)
		return fail(c, at(n), "ports", "more than %d ports",
		    SPEC_PORTS_MAX);
	if ((s->ports = calloc(n->nkid, sizeof(*s->ports))) == NULL)
		return nomem(c);
	for (i = 0; i < n->nkid; i++) {
		snprintf(sub, sizeof(sub), "ports[%zu]", i);
		if ((rc = map_get(c, n->kid[i], sub, "a mapping like { host: "
		    "8080, container: 80 }", keys, NULL, kv)) != 0)
			return rc;
		if (kv[0].k == NULL || kv[1].k == NULL)
			return fail(c, at(n->kid[i]), sub, "missing required "
			    "key \"%s\"", kv[0].k == NULL ? "host" :
			    "container");
		snprintf(sub2, sizeof(sub2), "%s.host", sub);
		if ((rc = port_number(c, kv[0].v, sub2,
		    &s->ports[i].host)) != 0)
			return rc;
		snprintf(sub2, sizeof(sub2), "%s.container", sub);
		if ((rc = port_number(c, kv[1].v, sub2,
		    &s->ports[i].container)) != 0)
			return rc;
		if (kv[2].k != NULL) {
			snprintf(sub2, sizeof(sub2), "%s.mode", sub);
			if ((rc = one_of(c, kv[2].v, sub2, modes, "http or "
			    "tcp", &m)) != 0)
				return rc;
			s->ports[i].mode = m == 0 ? SPEC_PORT_MODE_HTTP :
			    SPEC_PORT_MODE_TCP;
		}
		for (j = 0; j < i; j++)
			if (s->ports[j].host == s->ports[i].host)
				return fail(c, kv[0].v->line, sub, "host port "
				    "%u is listed twice (first at line %u)",
				    s->ports[i].host, n->kid[j]->line);
	}
	s->nports = n->nkid;
	s->port.set = 1;
	s->port.host = s->ports[0].host;
	s->port.container = s->ports[0].container;
	return 0;
}

/* read_words reads command: or entrypoint: (what says which): a list of
 * 1 to SPEC_ARGV_MAX words, the first not empty.  One string is refused:
 * splitting it as a shell would is a guess (quotes, $VAR) that Docker
 * and Compose make differently; a list says exactly what runs. */
static int
read_words(const struct ctx *c, const struct ynode *n, const char *path,
    char ***out, size_t *nout)
{
	char sub[64];
	const char *w;
	size_t i;
	int rc = 0;

	if (n->type == YNODE_SCALAR && !n->null)
		return fail(c, n->line, path, "expected a list of words like "
		    "[nginx, -g, \"daemon off;\"], got one string: ferry "
		    "does not split it; write each word as an item (or "
		    "[sh, -c, \"...\"] for a shell)");
	if (n->type != YNODE_SEQ)
		return expected(c, n, path, "a list of words like [nginx, "
		    "-g, \"daemon off;\"]");
	if (n->nkid == 0)
		return fail(c, at(n), path, "expected at least one word "
		    "(leave %s: out for the image's own)", path);
	if (n->nkid > SPEC_ARGV_MAX)
		return fail(c, at(n), path, "more than %d words",
		    SPEC_ARGV_MAX);
	for (i = 0; i < n->nkid; i++) {
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		if (n->kid[i]->type == YNODE_SCALAR && n->kid[i]->null)
			return fail(c, n->kid[i]->line, sub, "expected a "
			    "word, got nothing (write \"\" for an empty "
			    "argument)");
		if ((rc = scalar(c, n->kid[i], sub, "a word", &w)) != 0)
			return rc;
		if (strlen(w) > SPEC_PATH_MAX * 4)
			return fail(c, n->kid[i]->line, sub, "longer than %d "
			    "bytes", SPEC_PATH_MAX * 4);
		if (i == 0 && w[0] == '\0')
			return fail(c, n->kid[i]->line, sub, "expected a "
			    "program, got an empty word");
	}
	if ((*out = calloc(n->nkid, sizeof(char *))) == NULL)
		return nomem(c);
	*nout = n->nkid;
	for (i = 0; i < n->nkid && rc == 0; i++)
		(*out)[i] = dup_str(c, n->kid[i]->text, &rc);
	return rc;
}

/* An absolute path: '/', then printable ASCII without ':' or ',' (Docker's
 * separators in a bind), no ".." part, at most SPEC_PATH_MAX bytes. */
static int
abs_path_valid(const char *s)
{
	size_t i, n = strlen(s);
	const char *p;

	if (n == 0 || n > SPEC_PATH_MAX || s[0] != '/')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 ||
		    (unsigned char)s[i] >= 0x7f || s[i] == ':' || s[i] == ',')
			return 0;
	for (p = s; (p = strstr(p, "..")) != NULL; p += 2)
		if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0'))
			return 0;
	return 1;
}

static const char PATH_WHAT[] = "an absolute path like /srv/app (no ':', "
    "',' or \"..\" part)";

/* user: a name ([a-z_][a-z0-9_.-]*) or a number, and optionally ':' and a
 * group written either way. */
static int
user_part_valid(const char *s, size_t n)
{
	size_t i;
	int digits = 1;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			digits = 0;
	if (digits)
		return n <= 10;
	if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || isdigit((unsigned char)
		    s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return 0;
	return 1;
}

static int
user_valid(const char *s)
{
	const char *colon = strchr(s, ':');

	if (strlen(s) > SPEC_USER_MAX)
		return 0;
	if (colon == NULL)
		return user_part_valid(s, strlen(s));
	return user_part_valid(s, (size_t)(colon - s)) &&
	    user_part_valid(colon + 1, strlen(colon + 1));
}

/* A named volume as Docker takes it: [A-Za-z0-9][A-Za-z0-9_.-]+. */
static int
volume_name_valid(const char *s, size_t n)
{
	size_t i;

	if (n < 2 || n > SPEC_VOLUME_NAME_MAX || !isalnum((unsigned char)s[0]))
		return 0;
	for (i = 0; i < n; i++)
		if (!((unsigned char)s[i] < 0x80 && isalnum((unsigned char)
		    s[i])) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return 0;
	return 1;
}

/* volumes: [ "data:/var/lib/app", "/srv/web/static:/static:ro" ]. */
static int
read_volumes(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	static const char what[] = "a list like [ \"data:/var/lib/app\", "
	    "\"/srv/static:/static:ro\" ]";
	static const char one[] = "SOURCE:TARGET or SOURCE:TARGET:ro (SOURCE "
	    "a volume name like data, or an absolute host path)";
	char sub[64], src[SPEC_PATH_MAX + 1], dst[SPEC_PATH_MAX + 1];
	char q[SHOW_MAX * 4 + 16];
	const char *v, *c1, *c2;
	struct spec_volume *vol;
	size_t i, j;
	int rc;

	if (n->type != YNODE_SEQ)
		return expected(c, n, "volumes", what);
	if (n->nkid == 0)
		return fail(c, at(n), "volumes", "expected at least one "
		    "volume (leave volumes: out for none)");
	if (n->nkid > SPEC_VOLUMES_MAX)
		return fail(c, at(n), "volumes", "more than %d volumes",
		    SPEC_VOLUMES_MAX);
	if ((s->volumes = calloc(n->nkid, sizeof(*s->volumes))) == NULL)
		return nomem(c);
	for (i = 0; i < n->nkid; i++) {
		const struct ynode *k = n->kid[i];

		snprintf(sub, sizeof(sub), "volumes[%zu]", i);
		if ((rc = scalar(c, k, sub, one, &v)) != 0)
			return rc;
		describe(k, q, sizeof(q));
		c1 = strchr(v, ':');
		c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
		if (c1 == NULL || (size_t)(c1 - v) > SPEC_PATH_MAX ||
		    strlen(c1 + 1) > SPEC_PATH_MAX)
			return expected(c, k, sub, one);
		snprintf(src, sizeof(src), "%.*s", (int)(c1 - v), v);
		snprintf(dst, sizeof(dst), "%.*s", c2 ? (int)(c2 - c1 - 1) :
		    (int)strlen(c1 + 1), c1 + 1);
		vol = &s->volumes[i];
		if (c2 != NULL && strcmp(c2 + 1, "ro") != 0 &&
		    strcmp(c2 + 1, "rw") != 0)
			return fail(c, k->line, sub, "the mode after the "
			    "target must be ro or rw, got %s", q);
		vol->read_only = c2 != NULL && strcmp(c2 + 1, "ro") == 0;
		vol->bind = src[0] == '/';
		if (vol->bind && !abs_path_valid(src))
			return fail(c, k->line, sub, "the host path must be "
			    "%s, got %s", PATH_WHAT, q);
		if (!vol->bind && !volume_name_valid(src, strlen(src)))
			return fail(c, k->line, sub, "a volume name is 2 to "
			    "64 letters, digits, '_', '.' or '-', starting "
			    "with a letter or digit (Docker's rule), and a "
			    "host path starts with '/'; got %s", q);
		if (!abs_path_valid(dst) || strcmp(dst, "/") == 0)
			return fail(c, k->line, sub, "the target must be %s, "
			    "not / itself; got %s", PATH_WHAT, q);
		if (strcmp(dst, "/run/secrets") == 0 ||
		    strncmp(dst, "/run/secrets/", 13) == 0)
			return fail(c, k->line, sub, "the target /run/secrets "
			    "is where ferry puts the service's secrets");
		for (j = 0; j < i; j++)
			if (strcmp(s->volumes[j].target, dst) == 0)
				return fail(c, k->line, sub, "target %s is "
				    "mounted twice (first at line %u)", dst,
				    n->kid[j]->line);
		rc = 0;
		vol->source = dup_str(c, src, &rc);
		if (rc == 0)
			vol->target = dup_str(c, dst, &rc);
		if (rc != 0)
			return rc;
		s->nvolumes = i + 1;
	}
	return 0;
}

/* parse_memory: a whole number with b, k, m or g (Docker's, powers of
 * 1024; upper case too) or KiB, MiB, GiB, TiB; at least 6 MiB. */
static int
parse_memory(const char *s, uint64_t *out)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = { { "b", 1 }, { "k", 1ull << 10 }, { "m", 1ull << 20 },
	    { "g", 1ull << 30 }, { "t", 1ull << 40 }, { "KiB", 1ull << 10 },
	    { "MiB", 1ull << 20 }, { "GiB", 1ull << 30 },
	    { "TiB", 1ull << 40 } };
	uint64_t v = 0;
	size_t i, u;

	if (!isdigit((unsigned char)s[0]))
		return FERR_ARG;
	for (i = 0; isdigit((unsigned char)s[i]); i++) {
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > SPEC_MEMORY_MAX)
			return FERR_ARG;
	}
	for (u = 0; u < sizeof(units) / sizeof(units[0]); u++)
		if (strcmp(s + i, units[u].unit) == 0 ||
		    (strlen(units[u].unit) == 1 && s[i] == toupper(
		    (unsigned char)units[u].unit[0]) && s[i + 1] == '\0'))
			break;
	if (u == sizeof(units) / sizeof(units[0]))
		return FERR_ARG;
	if (v > SPEC_MEMORY_MAX / units[u].mult)
		return FERR_ARG;
	*out = v * units[u].mult;
	return 0;
}

/* resources: { memory: 512m, cpus: 1.5 }. */
static int
read_resources(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	static const char *const keys[] = { "memory", "cpus", NULL };
	static const char mem_what[] = "a size like 512m or 2g (b, k, m, g, "
	    "or KiB, MiB, GiB), at least 6m";
	static const char cpu_what[] = "a number of CPUs like 1.5, from 0.01 "
	    "to 1024";
	struct kv kv[2];
	const char *v;
	double d;
	int rc;

	if ((rc = map_get(c, n, "resources", "a mapping like { memory: 512m, "
	    "cpus: 1.5 }", keys, NULL, kv)) != 0)
		return rc;
	if (kv[0].k == NULL && kv[1].k == NULL)
		return fail(c, at(n), "resources", "expected memory, cpus or "
		    "both");
	if (kv[0].k != NULL) {
		if ((rc = scalar(c, kv[0].v, "resources.memory", mem_what,
		    &v)) != 0)
			return rc;
		if (parse_memory(v, &s->memory) != 0 ||
		    s->memory < SPEC_MEMORY_MIN)
			return expected(c, kv[0].v, "resources.memory",
			    mem_what);
	}
	if (kv[1].k != NULL) {
		if ((rc = scalar(c, kv[1].v, "resources.cpus", cpu_what,
		    &v)) != 0)
			return rc;
		if (decimal(v, strlen(v), 0, &d) != 0 || d < 0.01 ||
		    d > SPEC_CPUS_MAX)
			return expected(c, kv[1].v, "resources.cpus",
			    cpu_what);
		s->nano_cpus = (uint64_t)(d * 1e9 + 0.5);
	}
	return 0;
}

/* restart: no | on-failure[:N] | always | unless-stopped. */
static int
read_restart(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	static const char what[] = "no, on-failure, on-failure:N (N from 1 "
	    "to 1000), always or unless-stopped";
	const char *v;
	int rc;

	if ((rc = scalar(c, n, "restart", what, &v)) != 0)
		return rc;
	/* YAML reads a bare no as false: take it as written. */
	if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0) {
		s->restart = SPEC_RESTART_NO;
	} else if (strcmp(v, "always") == 0) {
		s->restart = SPEC_RESTART_ALWAYS;
	} else if (strcmp(v, "unless-stopped") == 0) {
		s->restart = SPEC_RESTART_UNLESS_STOPPED;
	} else if (strcmp(v, "on-failure") == 0) {
		s->restart = SPEC_RESTART_ON_FAILURE;
	} else if (strncmp(v, "on-failure:", 11) == 0 &&
	    parse_count(v + 11, 1000, &s->restart_max) == 0 &&
	    s->restart_max > 0) {
		s->restart = SPEC_RESTART_ON_FAILURE;
	} else {
		return expected(c, n, "restart", what);
	}
	return 0;
}

void
spec_restart_text(const struct spec *s, char *buf, size_t len)
{
	switch (s->restart) {
	case SPEC_RESTART_NO:
		snprintf(buf, len, "no");
		break;
	case SPEC_RESTART_ALWAYS:
		snprintf(buf, len, "always");
		break;
	case SPEC_RESTART_ON_FAILURE:
		if (s->restart_max > 0)
			snprintf(buf, len, "on-failure:%u", s->restart_max);
		else
			snprintf(buf, len, "on-failure");
		break;
	case SPEC_RESTART_UNLESS_STOPPED:
	default:
		snprintf(buf, len, "unless-stopped");
		break;
	}
}

/* stop_signal: SIGTERM, SIGQUIT, SIGRTMIN+3, ...: a Linux signal's name
 * (as Docker takes it), or its number from 1 to 64. */
static int
read_stop_signal(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	static const char *const names[] = { "HUP", "INT", "QUIT", "ILL",
	    "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
	    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP",
	    "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH",
	    "IO", "PWR", "SYS", NULL };
	static const char what[] = "a signal name like SIGTERM or SIGQUIT, "
	    "or a number from 1 to 64";
	const char *v;
	uint32_t num;
	size_t i;
	int rc;

	if ((rc = scalar(c, n, "stop_signal", what, &v)) != 0)
		return rc;
	if (parse_count(v, 64, &num) == 0 && num > 0)
		goto ok;
	if (strncmp(v, "SIG", 3) != 0)
		return expected(c, n, "stop_signal", what);
	for (i = 0; names[i] != NULL; i++)
		if (strcmp(v + 3, names[i]) == 0)
			goto ok;
	if ((strncmp(v + 3, "RTMIN+", 6) == 0 || strncmp(v + 3, "RTMAX-",
	    6) == 0) && parse_count(v + 9, SPEC_SIGNAL_MAX, &num) == 0)
		goto ok;
	return expected(c, n, "stop_signal", what);
ok:
	snprintf(s->stop_signal, sizeof(s->stop_signal), "%s", v);
	return 0;
}

/* stop_timeout: whole seconds, 1s to an hour (Docker's default: 10s). */
static int
read_stop_timeout(const struct ctx *c, const struct ynode *n,
    struct spec *s)
{
	char q[SHOW_MAX * 4 + 16];
	uint32_t ms;
	int rc;

	if ((rc = duration(c, n, "stop_timeout", 0, &ms)) != 0)
		return rc;
	describe(n, q, sizeof(q));
	if (ms % 1000 != 0)
		return fail(c, n->line, "stop_timeout", "must be whole "
		    "seconds (Docker counts it so), got %s", q);
	if (ms / 1000 > SPEC_STOP_TIMEOUT_MAX_S)
		return fail(c, n->line, "stop_timeout", "must be at most 1h, "
		    "got %s", q);
	s->stop_timeout_s = ms / 1000;
	return 0;
}

/* A label key: printable ASCII without spaces, at most
 * SPEC_CLABEL_KEY_MAX bytes. */
static int
clabel_key_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > SPEC_CLABEL_KEY_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

/* text_up_to: at most max bytes, no control characters (a label's value,
 * a log option's). */
static int
text_up_to(const char *s, size_t max)
{
	size_t i, n = strlen(s);

	if (n > max)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return 0;
	return 1;
}

static int
clabel_value_valid(const char *s)
{
	return text_up_to(s, SPEC_CLABEL_VALUE_MAX);
}

/* labels: { team: payments, ... }: the container's own labels.  ferry.
 * is ferry's (the agent finds its containers by them) and the prefixes
 * Docker reserves are Docker's. */
static int
read_labels(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	static const char *const reserved[] = { "ferry.", "com.docker.",
	    "io.docker.", "org.dockerproject.", NULL };
	char q[SHOW_MAX * 4 + 16];
	size_t i, r;

	for (i = 0; n->type == YNODE_MAP && i < n->nkid; i += 2) {
		const struct ynode *k = n->kid[i];

		if (k->type != YNODE_SCALAR)
			continue;
		for (r = 0; reserved[r] != NULL; r++)
			if (strncmp(k->text, reserved[r],
			    strlen(reserved[r])) == 0) {
				quote(k->text, k->len, q, sizeof(q));
				return fail(c, k->line, "labels", "label %s: "
				    "the prefix %s is %s's own", q,
				    reserved[r], r == 0 ? "ferry" : "Docker");
			}
	}
	return read_pairs(c, n, "labels", "a mapping of labels like { team: "
	    "payments }", SPEC_CLABELS_MAX, "label", clabel_key_valid,
	    "a label key (printable, no spaces, at most 128 characters)",
	    clabel_value_valid, "a label value (no control characters, at "
	    "most 1024 characters)", 1, &s->labels, &s->nlabels);
}

/* [a-z0-9][a-z0-9_.-]*: a log option's name, as the drivers write them. */
static int
log_opt_name_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || isdigit((unsigned char)
		    s[i]) || (i > 0 && (s[i] == '_' || s[i] == '.' ||
		    s[i] == '-'))))
			return 0;
	return 1;
}

static int
log_opt_value_valid(const char *s)
{
	return text_up_to(s, SPEC_LOG_OPT_MAX);
}

/* log: { driver: json-file, options: { max-size: 10m } }.  Only drivers
 * whose logs Docker reads back: ferry logs and a failed swap's last lines
 * come from Docker's logs API, which the others leave empty. */
static int
read_log(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	static const char *const keys[] = { "driver", "options", NULL };
	static const char *const drivers[] = { "json-file", "local",
	    "journald", NULL };
	static const char driver_what[] = "json-file, local or journald (the "
	    "drivers whose logs Docker reads back, which ferry logs and a "
	    "failed swap's last lines need)";
	struct kv kv[2];
	int rc, i;

	if ((rc = map_get(c, n, "log", "a mapping like { driver: json-file, "
	    "options: { max-size: 10m, max-file: 3 } }", keys, NULL,
	    kv)) != 0)
		return rc;
	if (kv[0].k == NULL)
		return fail(c, at(n), "log", "missing required key \"driver\" "
		    "(json-file, local or journald)");
	if ((rc = one_of(c, kv[0].v, "log.driver", drivers, driver_what,
	    &i)) != 0)
		return rc;
	s->log_driver = dup_str(c, drivers[i], &rc);
	if (rc != 0)
		return rc;
	if (kv[1].k != NULL && (rc = read_pairs(c, kv[1].v, "log.options",
	    "a mapping of the driver's options like { max-size: 10m }",
	    SPEC_LOG_OPTS_MAX, "option", log_opt_name_valid, "an option name "
	    "like max-size (lowercase letters, digits, '_', '.' and '-')",
	    log_opt_value_valid, "an option value (no control characters, "
	    "at most 256 characters)", 1, &s->log_opts, &s->nlog_opts)) != 0)
		return rc;
	return 0;
}

/* health.docker: { test: [CMD, ...], interval, timeout, start_period,
 * retries }: the container's own HEALTHCHECK, judged by the docker check.
 * Timings not written take health's (read before: h is filled). */
static int
read_healthcheck(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	enum { D_TEST, D_INTERVAL, D_TIMEOUT, D_START, D_RETRIES, D_N };
	static const char *const keys[] = { "test", "interval", "timeout",
	    "start_period", "retries", NULL };
	static const char test_what[] = "a list like [CMD, pg_isready, -q] "
	    "or [CMD-SHELL, \"curl -f http://localhost/ || exit 1\"]";
	struct spec_healthcheck *hc = &s->healthcheck;
	struct kv kv[D_N];
	const struct ynode *t;
	char sub[64];
	const char *w;
	size_t i;
	int rc = 0;

	hc->interval_ms = s->health.interval_ms;
	hc->timeout_ms = s->health.timeout_ms;
	hc->start_period_ms = s->health.start_period_ms;
	hc->retries = s->health.unhealthy_threshold;
	if ((rc = map_get(c, n, "health.docker", "true, false, or a mapping "
	    "like { test: [CMD, pg_isready, -q] }", keys, NULL, kv)) != 0)
		return rc;
	if (kv[D_TEST].k == NULL)
		return fail(c, at(n), "health.docker", "missing required key "
		    "\"test\" (%s)", test_what);
	t = kv[D_TEST].v;
	if (t->type != YNODE_SEQ)
		return expected(c, t, "health.docker.test", test_what);
	if (t->nkid < 2 || t->nkid > SPEC_ARGV_MAX)
		return fail(c, at(t), "health.docker.test", "expected %s, "
		    "with 2 to %d words", test_what, SPEC_ARGV_MAX);
	for (i = 0; i < t->nkid; i++) {
		snprintf(sub, sizeof(sub), "health.docker.test[%zu]", i);
		if ((rc = scalar(c, t->kid[i], sub, "a word", &w)) != 0)
			return rc;
		if (i == 0 && strcmp(w, "CMD") != 0 &&
		    strcmp(w, "CMD-SHELL") != 0)
			return expected(c, t->kid[i], sub, "CMD or CMD-SHELL");
		if (i == 1 && w[0] == '\0')
			return fail(c, t->kid[i]->line, sub, "expected a "
			    "command, got an empty word");
	}
	if (strcmp(t->kid[0]->text, "CMD-SHELL") == 0 && t->nkid != 2)
		return fail(c, at(t), "health.docker.test", "CMD-SHELL takes "
		    "one string, the shell's command line; got %zu", t->nkid -
		    1);
	if ((kv[D_INTERVAL].k && (rc = duration(c, kv[D_INTERVAL].v,
	    "health.docker.interval", 0, &hc->interval_ms)) != 0) ||
	    (kv[D_TIMEOUT].k && (rc = duration(c, kv[D_TIMEOUT].v,
	    "health.docker.timeout", 0, &hc->timeout_ms)) != 0) ||
	    (kv[D_START].k && (rc = duration(c, kv[D_START].v,
	    "health.docker.start_period", 1, &hc->start_period_ms)) != 0) ||
	    (kv[D_RETRIES].k && (rc = number(c, kv[D_RETRIES].v,
	    "health.docker.retries", 1, SPEC_THRESHOLD_MAX, "a whole number "
	    "from 1 to 1000", &hc->retries)) != 0))
		return rc;
	if ((hc->test = calloc(t->nkid, sizeof(char *))) == NULL)
		return nomem(c);
	hc->ntest = t->nkid;
	for (i = 0; i < t->nkid && rc == 0; i++)
		hc->test[i] = dup_str(c, t->kid[i]->text, &rc);
	hc->set = 1;
	return rc;
}

static int
read_health(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	enum { H_HTTP, H_TCP, H_EXEC, H_DOCKER, H_INTERVAL, H_TIMEOUT,
	    H_START, H_START_INTERVAL, H_HEALTHY, H_UNHEALTHY, H_DEADLINE,
	    H_MIN_HEALTHY, H_N };
	static const char *const keys[] = { "http", "tcp", "exec", "docker",
	    "interval", "timeout", "start_period", "start_interval",
	    "healthy_threshold", "unhealthy_threshold", "deadline",
	    "min_healthy", NULL };
	static const char *const bools[] = { "false", "true", "False",
	    "True", "FALSE", "TRUE", NULL };
	static const char thr[] = "a whole number from 1 to 1000";
	struct spec_health *h = &s->health;
	struct kv kv[H_N];
	const struct ynode *first_kind = NULL;
	char a[SHOW_MAX + 8], b[SHOW_MAX + 8];
	size_t nk = 0, i;
	int rc, docker = 0;

	if ((rc = map_get(c, n, "health", "a mapping of health settings "
	    "like { http: { path: /health, port: 80 } }", keys, NULL,
	    kv)) != 0)
		return rc;
	if (kv[H_DOCKER].k != NULL && kv[H_DOCKER].v->type == YNODE_MAP) {
		docker = 1;	/* read below, once health's timings are */
	} else if (kv[H_DOCKER].k != NULL) {
		if ((rc = one_of(c, kv[H_DOCKER].v, "health.docker", bools,
		    "true, false, or a mapping like { test: [CMD, "
		    "pg_isready, -q] }", &docker)) != 0)
			return rc;
		docker %= 2;	/* odd entries of bools are true */
	}
	/* Exactly one check; docker: false chooses none.  Two are reported
	 * in the file's order, at the second. */
	for (i = 0; i < n->nkid; i += 2) {
		const struct ynode *k = n->kid[i];

		if (k == kv[H_HTTP].k || k == kv[H_TCP].k ||
		    k == kv[H_EXEC].k || (k == kv[H_DOCKER].k && docker)) {
			if (nk == 1)
				return fail(c, k->line, "health", "more than "
				    "one check (%s and %s): choose one of "
				    "http, tcp, exec or docker",
				    first_kind->text, k->text);
			first_kind = k;
			nk++;
		}
	}
	if (nk == 0)
		return fail(c, at(n), "health", "expected a check: one of "
		    "http, tcp, exec or docker: true");
	if (kv[H_HTTP].k != NULL)
		rc = read_http(c, kv[H_HTTP].v, s);
	else if (kv[H_TCP].k != NULL) {
		rc = port_number(c, kv[H_TCP].v, "health.tcp", &h->tcp_port);
		h->check = SPEC_CHECK_TCP;
	} else if (kv[H_EXEC].k != NULL)
		rc = read_exec(c, kv[H_EXEC].v, s);
	else
		h->check = SPEC_CHECK_DOCKER;
	if (rc != 0)
		return rc;

	if ((kv[H_INTERVAL].k && (rc = duration(c, kv[H_INTERVAL].v,
	    "health.interval", 0, &h->interval_ms)) != 0) ||
	    (kv[H_TIMEOUT].k && (rc = duration(c, kv[H_TIMEOUT].v,
	    "health.timeout", 0, &h->timeout_ms)) != 0) ||
	    (kv[H_START].k && (rc = duration(c, kv[H_START].v,
	    "health.start_period", 1, &h->start_period_ms)) != 0) ||
	    (kv[H_START_INTERVAL].k && (rc = duration(c,
	    kv[H_START_INTERVAL].v, "health.start_interval", 0,
	    &h->start_interval_ms)) != 0) ||
	    (kv[H_HEALTHY].k && (rc = number(c, kv[H_HEALTHY].v,
	    "health.healthy_threshold", 1, SPEC_THRESHOLD_MAX, thr,
	    &h->healthy_threshold)) != 0) ||
	    (kv[H_UNHEALTHY].k && (rc = number(c, kv[H_UNHEALTHY].v,
	    "health.unhealthy_threshold", 1, SPEC_THRESHOLD_MAX, thr,
	    &h->unhealthy_threshold)) != 0) ||
	    (kv[H_DEADLINE].k && (rc = duration(c, kv[H_DEADLINE].v,
	    "health.deadline", 0, &h->deadline_ms)) != 0) ||
	    (kv[H_MIN_HEALTHY].k && (rc = duration(c, kv[H_MIN_HEALTHY].v,
	    "health.min_healthy", 1, &h->min_healthy_ms)) != 0))
		return rc;
	if (h->min_healthy_ms >= h->deadline_ms) {
		show_duration(kv[H_DEADLINE].v, h->deadline_ms, a, sizeof(a));
		show_duration(kv[H_MIN_HEALTHY].v, h->min_healthy_ms, b,
		    sizeof(b));
		/* Blame the one the user wrote; both: min_healthy. */
		if (kv[H_MIN_HEALTHY].k != NULL)
			return fail(c, kv[H_MIN_HEALTHY].k->line,
			    "health.min_healthy", "must be below "
			    "health.deadline (%s)", a);
		return fail(c, kv[H_DEADLINE].k->line, "health.deadline",
		    "must be above health.min_healthy (%s by default)", b);
	}
	if (kv[H_DOCKER].k != NULL && kv[H_DOCKER].v->type == YNODE_MAP &&
	    (rc = read_healthcheck(c, kv[H_DOCKER].v, s)) != 0)
		return rc;
	/* Not given: the default, or the interval when that is shorter.
	 * Given above the interval: refused, since failures count only
	 * every interval and checks faster than that are the point. */
	if (kv[H_START_INTERVAL].k == NULL) {
		if (h->start_interval_ms > h->interval_ms)
			h->start_interval_ms = h->interval_ms;
	} else if (h->start_interval_ms > h->interval_ms) {
		show_duration(kv[H_INTERVAL].v, h->interval_ms, a, sizeof(a));
		return fail(c, kv[H_START_INTERVAL].k->line,
		    "health.start_interval", "must not be above "
		    "health.interval (%s%s)", a, kv[H_INTERVAL].k ? "" :
		    " by default");
	}
	return 0;
}

/* The keys of rollout: that check_strategy weighs against the strategy,
 * as written (NULL when absent), for their lines. */
struct rollout_keys {
	const struct ynode *batch;
	const struct ynode *canary;
	const struct ynode *pause;
	const struct ynode *deadline;	/* progress_deadline */
};

/* rollout: { ... }.  *rk gets the keys check_strategy needs. */
static int
read_rollout(const struct ctx *c, const struct ynode *n, struct spec *s,
    struct rollout_keys *rk)
{
	enum { R_BATCH, R_CANARY, R_ORDER, R_PAUSE, R_MAX_FAILURES,
	    R_ON_FAILURE, R_SKIP_OFFLINE, R_PROGRESS_DEADLINE, R_N };
	static const char *const keys[] = { "batch", "canary", "order",
	    "pause", "max_failures", "on_failure", "skip_offline",
	    "progress_deadline", NULL };
	static const char *const bools[] = { "false", "true", "False",
	    "True", "FALSE", "TRUE", NULL };
	static const char *const orders[] = { "stop-first", "start-first",
	    NULL };
	static const char *const on_failure[] = { "rollback", "pause",
	    "continue", NULL };
	static const char batch_what[] = "a count (1 or more) or a "
	    "percentage like \"25%\"";
	struct spec_rollout *r = &s->rollout;
	struct kv kv[R_N];
	int rc, i;

	if ((rc = map_get(c, n, "rollout", "a mapping of rollout settings "
	    "like { batch: 2 }", keys, NULL, kv)) != 0)
		return rc;
	if (kv[R_BATCH].k != NULL) {
		const struct ynode *v = kv[R_BATCH].v;
		const char *b;
		size_t len;

		if ((rc = scalar(c, v, "rollout.batch", batch_what, &b)) != 0)
			return rc;
		len = strlen(b);
		if (len > 1 && b[len - 1] == '%') {
			if (parse_percent(b, &r->batch) != 0) {
				char q[SHOW_MAX * 4 + 16];

				describe(v, q, sizeof(q));
				return fail(c, v->line, "rollout.batch",
				    "expected a percentage from 1%% to "
				    "100%%, got %s", q);
			}
			r->batch_percent = 1;
		} else if (parse_count(b, UINT32_MAX, &r->batch) != 0 ||
		    r->batch == 0) {
			return expected(c, v, "rollout.batch", batch_what);
		}
	}
	if ((kv[R_CANARY].k && (rc = number(c, kv[R_CANARY].v,
	    "rollout.canary", 1, UINT32_MAX, "a count of hosts (1 or more)",
	    &r->canary)) != 0))
		return rc;
	if (kv[R_ORDER].k) {
		if ((rc = one_of(c, kv[R_ORDER].v, "rollout.order", orders,
		    "stop-first or start-first", &i)) != 0)
			return rc;
		r->order = i ? SPEC_ORDER_START_FIRST : SPEC_ORDER_STOP_FIRST;
	}
	if (kv[R_PAUSE].k && (rc = duration(c, kv[R_PAUSE].v,
	    "rollout.pause", 1, &r->pause_ms)) != 0)
		return rc;
	if (kv[R_MAX_FAILURES].k && (rc = number(c, kv[R_MAX_FAILURES].v,
	    "rollout.max_failures", 0, UINT32_MAX, "a count (0 or more)",
	    &r->max_failures)) != 0)
		return rc;
	if (kv[R_ON_FAILURE].k) {
		if ((rc = one_of(c, kv[R_ON_FAILURE].v, "rollout.on_failure",
		    on_failure, "rollback, pause or continue", &i)) != 0)
			return rc;
		r->on_failure = i == 0 ? SPEC_ON_FAILURE_ROLLBACK :
		    i == 1 ? SPEC_ON_FAILURE_PAUSE : SPEC_ON_FAILURE_CONTINUE;
	}
	if (kv[R_SKIP_OFFLINE].k) {
		if ((rc = one_of(c, kv[R_SKIP_OFFLINE].v,
		    "rollout.skip_offline", bools, "true or false", &i)) != 0)
			return rc;
		r->skip_offline = i % 2;	/* odd entries are true */
	}
	if (kv[R_PROGRESS_DEADLINE].k) {
		if ((rc = duration(c, kv[R_PROGRESS_DEADLINE].v,
		    "rollout.progress_deadline", 0,
		    &r->progress_deadline_ms)) != 0)
			return rc;
		if (r->progress_deadline_ms < 1000) {
			char q[SHOW_MAX * 4 + 16];

			describe(kv[R_PROGRESS_DEADLINE].v, q, sizeof(q));
			return fail(c, kv[R_PROGRESS_DEADLINE].v->line,
			    "rollout.progress_deadline", "must be at least "
			    "1s, got %s", q);
		}
	}
	rk->batch = kv[R_BATCH].k;
	rk->canary = kv[R_CANARY].k;
	rk->pause = kv[R_PAUSE].k;
	rk->deadline = kv[R_PROGRESS_DEADLINE].k;
	return 0;
}

/* parse_size: a whole number of bytes, with B, KiB, MiB or GiB after it
 * (or nothing: bytes), at most max. */
static int
parse_size(const char *s, uint64_t max, uint64_t *out)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = { { "", 1 }, { "B", 1 }, { "KiB", 1ull << 10 },
	    { "MiB", 1ull << 20 }, { "GiB", 1ull << 30 } };
	uint64_t v = 0;
	size_t i;

	if (!isdigit((unsigned char)s[0]))
		return FERR_ARG;
	for (i = 0; isdigit((unsigned char)s[i]); i++) {
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > max)
			return FERR_ARG;
	}
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++)
		if (strcmp(s + i, units[u].unit) == 0) {
			if (v > max / units[u].mult)
				return FERR_ARG;
			*out = v * units[u].mult;
			return 0;
		}
	return FERR_ARG;
}

/* proxy_time: a duration above 0, at most an hour. */
static int
proxy_time(const struct ctx *c, const struct ynode *n, const char *path,
    uint32_t *out)
{
	char q[SHOW_MAX * 4 + 16];
	int rc;

	if ((rc = duration(c, n, path, 0, out)) != 0)
		return rc;
	if (*out > SPEC_PROXY_TIME_MAX_MS) {
		describe(n, q, sizeof(q));
		return fail(c, n->line, path, "must be at most 1h, got %s", q);
	}
	return 0;
}

/* proxy: { mode, drain_timeout, max_pause, upstream_timeout, max_body,
 * sticky }: how ferry-proxy serves the service's host port. */
static int
read_proxy(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	enum { P_MODE, P_DRAIN, P_PAUSE, P_UPSTREAM, P_MAX_BODY, P_STICKY,
	    P_N };
	static const char *const keys[] = { "mode", "drain_timeout",
	    "max_pause", "upstream_timeout", "max_body", "sticky", NULL };
	static const char *const modes[] = { "http", "tcp", NULL };
	static const char *const bools[] = { "false", "true", "False",
	    "True", "FALSE", "TRUE", NULL };
	static const char size_what[] = "a size like 10MiB (B, KiB, MiB or "
	    "GiB; at most 1024GiB), or 0 for no limit";
	struct spec_proxy *p = &s->proxy;
	struct kv kv[P_N];
	const char *v;
	int rc, i;

	if ((rc = map_get(c, n, "proxy", "a mapping of proxy settings like "
	    "{ mode: http, drain_timeout: 30s }", keys, NULL, kv)) != 0)
		return rc;
	if (kv[P_MODE].k) {
		if ((rc = one_of(c, kv[P_MODE].v, "proxy.mode", modes,
		    "http or tcp", &i)) != 0)
			return rc;
		p->mode = i ? SPEC_PROXY_TCP : SPEC_PROXY_HTTP;
	}
	if (kv[P_DRAIN].k && (rc = proxy_time(c, kv[P_DRAIN].v,
	    "proxy.drain_timeout", &p->drain_timeout_ms)) != 0)
		return rc;
	if (kv[P_PAUSE].k && (rc = proxy_time(c, kv[P_PAUSE].v,
	    "proxy.max_pause", &p->max_pause_ms)) != 0)
		return rc;
	if (kv[P_UPSTREAM].k && (rc = proxy_time(c, kv[P_UPSTREAM].v,
	    "proxy.upstream_timeout", &p->upstream_timeout_ms)) != 0)
		return rc;
	if (kv[P_MAX_BODY].k) {
		if ((rc = scalar(c, kv[P_MAX_BODY].v, "proxy.max_body",
		    size_what, &v)) != 0)
			return rc;
		if (parse_size(v, SPEC_MAX_BODY_MAX, &p->max_body) != 0)
			return expected(c, kv[P_MAX_BODY].v, "proxy.max_body",
			    size_what);
	}
	if (kv[P_STICKY].k) {
		if ((rc = one_of(c, kv[P_STICKY].v, "proxy.sticky", bools,
		    "true or false", &i)) != 0)
			return rc;
		p->sticky = i % 2;	/* odd entries are true */
	}
	if (p->mode == SPEC_PROXY_TCP && p->sticky)
		return fail(c, kv[P_STICKY].k->line, "proxy.sticky", "needs "
		    "proxy.mode http (a cookie keeps a client on its "
		    "revision; tcp has no cookies)");
	if (p->mode == SPEC_PROXY_TCP && p->max_body != 0)
		return fail(c, kv[P_MAX_BODY].k->line, "proxy.max_body",
		    "needs proxy.mode http (tcp passes bytes and knows no "
		    "bodies)");
	return 0;
}

static void
spec_defaults(struct spec *s)
{
	s->health.http_status = 200;
	s->health.interval_ms = 1000;
	s->health.timeout_ms = 1000;
	s->health.start_period_ms = 0;
	s->health.start_interval_ms = SPEC_START_INTERVAL_MS;
	s->health.healthy_threshold = 1;
	s->health.unhealthy_threshold = 3;
	s->health.deadline_ms = 60000;
	s->health.min_healthy_ms = 5000;
	s->rollout.batch = 1;
	s->rollout.order = SPEC_ORDER_START_FIRST;
	s->proxy.mode = SPEC_PROXY_HTTP;	/* read_spec: tcp without an
						 * HTTP check */
	s->proxy.drain_timeout_ms = SPEC_DRAIN_MS;
	s->proxy.max_pause_ms = SPEC_PAUSE_MS;
	s->proxy.upstream_timeout_ms = SPEC_UPSTREAM_MS;
	s->rollout.on_failure = SPEC_ON_FAILURE_ROLLBACK;
	s->rollout.progress_deadline_ms = SPEC_PROGRESS_MS;
	s->strategy = SPEC_STRATEGY_ROLLING;
	s->canary.hosts_all = 1;
	s->keep_old_ms = SPEC_KEEP_OLD_MS;
	s->analysis.interval_ms = SPEC_INTERVAL_MS;
	s->analysis.min_requests = SPEC_MIN_REQUESTS;
	s->analysis.error_rate_max = -1.0;
	s->analysis.failure_limit = SPEC_FAILURE_LIMIT;
	s->analysis.inconclusive = SPEC_INCONCLUSIVE_PAUSE;
}

/* secrets: [A, B]: names of secrets stored in ferryd (`ferry secret set
 * SERVICE NAME`), each a file under /run/secrets in the container. */
static int
read_secrets(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	char **names = NULL;
	size_t i, nn = 0;
	int rc;

	if ((rc = read_names(c, n, "secrets", SPEC_SECRETS_MAX,
	    spec_secret_name_valid, "a secret name (letters, digits, '_', "
	    "'.' and '-', not starting with '.' or '-', at most 64 "
	    "characters)", "secret", &names, &nn)) != 0)
		return rc;
	if ((s->secrets = calloc(nn, sizeof(*s->secrets))) == NULL)
		rc = nomem(c);
	for (i = 0; i < nn; i++) {
		if (rc == 0)
			snprintf(s->secrets[i].name,
			    sizeof(s->secrets[i].name), "%s", names[i]);
		free(names[i]);
	}
	free(names);
	if (rc == 0)
		s->nsecrets = nn;
	return rc;
}

/* strategy: rolling, canary or blue-green. */
static int
read_strategy(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	static const char *const words[] = { "rolling", "canary",
	    "blue-green", NULL };
	int i, rc;

	if ((rc = one_of(c, n, "strategy", words, "rolling, canary or "
	    "blue-green", &i)) != 0)
		return rc;
	s->strategy = i == 0 ? SPEC_STRATEGY_ROLLING : i == 1 ?
	    SPEC_STRATEGY_CANARY : SPEC_STRATEGY_BLUE_GREEN;
	return 0;
}

/* catch_up: auto (the default) or off: whether ferryd brings a host that
 * missed a deployment, or lost its container, back on its own. */
static int
read_catch_up(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	static const char *const words[] = { "auto", "off", NULL };
	int i, rc;

	if ((rc = one_of(c, n, "catch_up", words, "auto or off", &i)) != 0)
		return rc;
	s->catch_up_off = i == 1;
	return 0;
}

/* ---- strategy, canary, blue_green, analysis (issue 15) --------------- */

/*
 * decimal reads s as a plain decimal number: digits, then optionally '.'
 * and digits; a leading '-' when sign_ok.  No exponent, no hex, no inf or
 * nan, at most 32 bytes: what a person writes in a spec.
 */
static int
decimal(const char *s, size_t len, int sign_ok, double *out)
{
	char buf[33];
	size_t i = 0, lead = 0, frac = 0;
	int dot = 0;

	if (len == 0 || len >= sizeof(buf))
		return FERR_ARG;
	if (s[0] == '-' && sign_ok)
		i++;
	for (; i < len; i++) {
		if (s[i] >= '0' && s[i] <= '9') {
			if (dot)
				frac++;
			else
				lead++;
		} else if (s[i] == '.' && !dot) {
			dot = 1;
		} else {
			return FERR_ARG;
		}
	}
	if (lead == 0 || (dot && frac == 0))
		return FERR_ARG;
	memcpy(buf, s, len);
	buf[len] = '\0';
	*out = strtod(buf, NULL);
	return 0;
}

/* parse_weight: "5%" or "5", 1 to 100. */
static int
parse_weight(const char *s, uint32_t *out)
{
	size_t len = strlen(s);

	if (len > 1 && s[len - 1] == '%')
		return parse_percent(s, out);
	if (parse_count(s, 100, out) != 0 || *out == 0)
		return FERR_ARG;
	return 0;
}

static const char WEIGHT_WHAT[] = "a weight from 1% to 100%, like 5% (or 5)";

/* canary.steps[i]: { weight, for }. */
static int
read_step(const struct ctx *c, const struct ynode *n, size_t i,
    struct spec_step *st)
{
	static const char *const keys[] = { "weight", "for", NULL };
	char path[64], sub[80];
	struct kv kv[2];
	const char *w;
	int rc;

	snprintf(path, sizeof(path), "canary.steps[%zu]", i);
	if ((rc = map_get(c, n, path, "a step like { weight: 5%, for: 15m }",
	    keys, NULL, kv)) != 0)
		return rc;
	if (kv[0].k == NULL)
		return fail(c, at(n), path, "missing required key \"weight\"");
	snprintf(sub, sizeof(sub), "%s.weight", path);
	if ((rc = scalar(c, kv[0].v, sub, WEIGHT_WHAT, &w)) != 0)
		return rc;
	if (parse_weight(w, &st->weight) != 0)
		return expected(c, kv[0].v, sub, WEIGHT_WHAT);
	if (kv[1].k == NULL) {
		st->wait = 1;	/* until ferry promote */
		return 0;
	}
	snprintf(sub, sizeof(sub), "%s.for", path);
	if ((rc = duration(c, kv[1].v, sub, 1, &st->for_ms)) != 0)
		return rc;
	if (st->for_ms == 0)
		return fail(c, kv[1].v->line, sub, "must be above 0 (leave "
		    "for: out and the step waits for ferry promote)");
	return 0;
}

/* canary: { hosts: all | N | N%, steps: [ ... ] }. */
static int
read_canary(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	static const char *const keys[] = { "hosts", "steps", NULL };
	static const char hosts_what[] = "all, a count of hosts (1 or more) "
	    "or a percentage of them like 25%";
	struct spec_canary *ca = &s->canary;
	struct kv kv[2];
	const struct ynode *l;
	const char *h;
	size_t i;
	int rc;

	if ((rc = map_get(c, n, "canary", "a mapping like { hosts: all, "
	    "steps: [ { weight: 5%, for: 15m } ] }", keys, NULL, kv)) != 0)
		return rc;
	if (kv[0].k != NULL) {
		size_t len;

		if ((rc = scalar(c, kv[0].v, "canary.hosts", hosts_what,
		    &h)) != 0)
			return rc;
		len = strlen(h);
		if (strcmp(h, "all") == 0) {
			ca->hosts_all = 1;
		} else if (len > 1 && h[len - 1] == '%') {
			if (parse_percent(h, &ca->hosts) != 0)
				return expected(c, kv[0].v, "canary.hosts",
				    hosts_what);
			ca->hosts_all = 0;
			ca->hosts_percent = 1;
		} else if (parse_count(h, UINT32_MAX, &ca->hosts) != 0 ||
		    ca->hosts == 0) {
			return expected(c, kv[0].v, "canary.hosts",
			    hosts_what);
		} else {
			ca->hosts_all = 0;
		}
	}
	if (kv[1].k == NULL)
		return fail(c, at(n), "canary", "missing required key "
		    "\"steps\" (a list like [ { weight: 5%%, for: 15m }, "
		    "{ weight: 50%% } ])");
	l = kv[1].v;
	if (l->type != YNODE_SEQ)
		return expected(c, l, "canary.steps", "a list of steps like "
		    "[ { weight: 5%, for: 15m } ]");
	if (l->nkid == 0)
		return fail(c, at(l), "canary.steps", "expected at least one "
		    "step");
	if (l->nkid > SPEC_STEPS_MAX)
		return fail(c, at(l), "canary.steps", "more than %d steps",
		    SPEC_STEPS_MAX);
	for (i = 0; i < l->nkid; i++)
		if ((rc = read_step(c, l->kid[i], i, &ca->steps[i])) != 0)
			return rc;
	ca->nsteps = l->nkid;
	return 0;
}

/* blue_green: { keep_old }. */
static int
read_blue_green(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	static const char *const keys[] = { "keep_old", NULL };
	struct kv kv[1];
	int rc;

	if ((rc = map_get(c, n, "blue_green", "a mapping like { keep_old: "
	    "10m }", keys, NULL, kv)) != 0)
		return rc;
	if (kv[0].k != NULL && (rc = duration(c, kv[0].v,
	    "blue_green.keep_old", 1, &s->keep_old_ms)) != 0)
		return rc;
	return 0;
}

/* A mapping whose one key is max: error_rate: { max: 1% }. */
static int
read_max(const struct ctx *c, const struct ynode *n, const char *path,
    const char *like, const struct ynode **v)
{
	static const char *const keys[] = { "max", NULL };
	struct kv kv[1];
	int rc;

	if ((rc = map_get(c, n, path, like, keys, NULL, kv)) != 0)
		return rc;
	if (kv[0].k == NULL)
		return fail(c, at(n), path, "missing required key \"max\"");
	*v = kv[0].v;
	return 0;
}

static const char RATE_WHAT[] = "a percentage from 0% to 100% like 1% or "
    "0.5%";

/* analysis.error_rate: { max: 1% }, stored as a fraction. */
static int
read_error_rate(const struct ctx *c, const struct ynode *n,
    struct spec_analysis *a)
{
	const struct ynode *v;
	const char *p;
	double d;
	int rc;

	if ((rc = read_max(c, n, "analysis.error_rate", "a mapping like "
	    "{ max: 1% }", &v)) != 0)
		return rc;
	if ((rc = scalar(c, v, "analysis.error_rate.max", RATE_WHAT, &p)) != 0)
		return rc;
	if (strlen(p) < 2 || p[strlen(p) - 1] != '%' ||
	    decimal(p, strlen(p) - 1, 0, &d) != 0 || d > 100.0)
		return expected(c, v, "analysis.error_rate.max", RATE_WHAT);
	a->error_rate_max = d / 100.0;
	return 0;
}

static const char FACTOR_WHAT[] = "a factor above 1 and at most 1000, like "
    "2x or 1.5x";

/* factor: "2x", "2" or "1.5x": above 1, at most SPEC_FACTOR_MAX. */
static int
factor(const struct ctx *c, const struct ynode *n, const char *path,
    double *out)
{
	const char *s;
	size_t len;
	double d;
	int rc;

	if ((rc = scalar(c, n, path, FACTOR_WHAT, &s)) != 0)
		return rc;
	len = strlen(s);
	if (len > 1 && s[len - 1] == 'x')
		len--;
	if (decimal(s, len, 0, &d) != 0 || !(d > 1.0) ||
	    d > SPEC_FACTOR_MAX)
		return expected(c, n, path, FACTOR_WHAT);
	*out = d;
	return 0;
}

/* analysis.relative: { error_rate: 2x, p95: 1.5x }, at least one. */
static int
read_relative(const struct ctx *c, const struct ynode *n,
    struct spec_analysis *a)
{
	static const char *const keys[] = { "error_rate", "p95", NULL };
	struct kv kv[2];
	int rc;

	if ((rc = map_get(c, n, "analysis.relative", "a mapping like "
	    "{ error_rate: 2x, p95: 1.5x }", keys, NULL, kv)) != 0)
		return rc;
	if (kv[0].k == NULL && kv[1].k == NULL)
		return fail(c, at(n), "analysis.relative", "expected "
		    "error_rate, p95 or both, like { error_rate: 2x }");
	if (kv[0].k != NULL && (rc = factor(c, kv[0].v,
	    "analysis.relative.error_rate", &a->relative_error_rate)) != 0)
		return rc;
	if (kv[1].k != NULL && (rc = factor(c, kv[1].v,
	    "analysis.relative.p95", &a->relative_p95)) != 0)
		return rc;
	return 0;
}

/* [a-z0-9_-]{1,32} */
static int
prom_name_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > SPEC_PROM_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		    s[i] == '-'))
			return 0;
	return 1;
}

/* http:// or https://, a host, printable ASCII without spaces, at most
 * SPEC_PROM_URL_MAX bytes.  *userinfo tells a URL with user@ in it. */
static int
prom_url_valid(const char *s, int *userinfo)
{
	size_t i, n = strlen(s), start, end;

	*userinfo = 0;
	if (n > SPEC_PROM_URL_MAX)
		return 0;
	if (strncmp(s, "http://", 7) == 0)
		start = 7;
	else if (strncmp(s, "https://", 8) == 0)
		start = 8;
	else
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	end = start + strcspn(s + start, "/?#");
	if (end == start || s[start] == ':')
		return 0;
	for (i = start; i < end; i++)
		if (s[i] == '@')
			*userinfo = 1;
	return 1;
}

/* One analysis.prometheus check at path; i is its 0-based place. */
static int
read_prom(const struct ctx *c, const struct ynode *n, const char *path,
    size_t i, struct spec_prom *p)
{
	enum { P_NAME, P_URL, P_QUERY, P_MAX, P_N };
	static const char *const keys[] = { "name", "url", "query", "max",
	    NULL };
	static const char name_what[] = "a name of lowercase letters, "
	    "digits, '_' and '-', at most 32 characters";
	static const char url_what[] = "an http:// or https:// URL like "
	    "http://127.0.0.1:9090";
	static const char max_what[] = "a number like 0.01";
	static const char *const required[] = { "url", "query", "max" };
	char sub[96], def[32];
	struct kv kv[P_N];
	const char *v;
	double d;
	int rc = 0, userinfo;
	size_t k;

	if ((rc = map_get(c, n, path, "a mapping like { url: "
	    "\"http://127.0.0.1:9090\", query: \"...\", max: 0.01 }", keys,
	    NULL, kv)) != 0)
		return rc;
	for (k = 0; k < 3; k++)
		if (kv[P_URL + k].k == NULL)
			return fail(c, at(n), path, "missing required key "
			    "\"%s\"", required[k]);
	if (kv[P_NAME].k != NULL) {
		snprintf(sub, sizeof(sub), "%s.name", path);
		if ((rc = scalar(c, kv[P_NAME].v, sub, name_what, &v)) != 0)
			return rc;
		if (!prom_name_valid(v))
			return expected(c, kv[P_NAME].v, sub, name_what);
	} else {
		snprintf(def, sizeof(def), "prometheus-%zu", i + 1);
		v = def;
	}
	p->name = dup_str(c, v, &rc);
	if (rc != 0)
		return rc;

	snprintf(sub, sizeof(sub), "%s.url", path);
	if ((rc = scalar(c, kv[P_URL].v, sub, url_what, &v)) != 0)
		return rc;
	/* A URL with an '@' is never shown back: it may hold a password. */
	if (!prom_url_valid(v, &userinfo))
		return strchr(v, '@') != NULL ? fail(c, kv[P_URL].v->line, sub,
		    "expected %s", url_what) : expected(c, kv[P_URL].v, sub,
		    url_what);
	if (userinfo)
		return fail(c, kv[P_URL].v->line, sub, "credentials in the "
		    "URL (user@host) are refused: the spec is stored and "
		    "shown with every revision");
	p->url = dup_str(c, v, &rc);
	if (rc != 0)
		return rc;

	snprintf(sub, sizeof(sub), "%s.query", path);
	if ((rc = scalar(c, kv[P_QUERY].v, sub, "a PromQL query", &v)) != 0)
		return rc;
	if (v[0] == '\0')
		return fail(c, kv[P_QUERY].v->line, sub, "expected a PromQL "
		    "query, got an empty one");
	if (strlen(v) > SPEC_PROM_QUERY_MAX)
		return fail(c, kv[P_QUERY].v->line, sub, "longer than %d "
		    "bytes", SPEC_PROM_QUERY_MAX);
	p->query = dup_str(c, v, &rc);
	if (rc != 0)
		return rc;

	snprintf(sub, sizeof(sub), "%s.max", path);
	if ((rc = scalar(c, kv[P_MAX].v, sub, max_what, &v)) != 0)
		return rc;
	if (decimal(v, strlen(v), 1, &d) != 0)
		return expected(c, kv[P_MAX].v, sub, max_what);
	p->max = d;
	return 0;
}

/* analysis.prometheus: one mapping, or a list of 1 to SPEC_PROM_MAX, with
 * distinct names. */
static int
read_proms(const struct ctx *c, const struct ynode *n,
    struct spec_analysis *a)
{
	const struct ynode *one[1], *const *items;
	char sub[64];
	size_t i, j, count;
	int rc = 0;

	if (n->type == YNODE_SEQ) {
		if (n->nkid == 0)
			return fail(c, at(n), "analysis.prometheus", "expected "
			    "at least one query");
		if (n->nkid > SPEC_PROM_MAX)
			return fail(c, at(n), "analysis.prometheus", "more "
			    "than %d queries", SPEC_PROM_MAX);
		items = (const struct ynode *const *)n->kid;
		count = n->nkid;
	} else {
		one[0] = n;
		items = one;
		count = 1;
	}
	if ((a->prom = calloc(count, sizeof(*a->prom))) == NULL)
		return nomem(c);
	a->nprom = count;
	for (i = 0; i < count; i++) {
		if (n->type == YNODE_SEQ)
			snprintf(sub, sizeof(sub), "analysis.prometheus[%zu]",
			    i);
		else
			snprintf(sub, sizeof(sub), "analysis.prometheus");
		if ((rc = read_prom(c, items[i], sub, i, &a->prom[i])) != 0)
			return rc;
		for (j = 0; j < i; j++)
			if (strcmp(a->prom[j].name, a->prom[i].name) == 0)
				return fail(c, items[i]->line, sub, "name "
				    "\"%s\" is used twice (first at line %u)",
				    a->prom[i].name, items[j]->line);
	}
	return 0;
}

/* analysis: { ... }: how each interval of a canary or blue-green is
 * judged.  At least one check. */
static int
read_analysis(const struct ctx *c, const struct ynode *n, struct spec *s)
{
	enum { A_INTERVAL, A_MIN_REQUESTS, A_ERROR_RATE, A_P95, A_RELATIVE,
	    A_FAILURE_LIMIT, A_INCONCLUSIVE, A_PROMETHEUS, A_N };
	static const char *const keys[] = { "interval", "min_requests",
	    "error_rate", "p95", "relative", "failure_limit", "inconclusive",
	    "prometheus", NULL };
	static const char *const inconclusive[] = { "pause", "fail", NULL };
	struct spec_analysis *a = &s->analysis;
	struct kv kv[A_N];
	const struct ynode *v;
	char q[SHOW_MAX * 4 + 16];
	uint32_t mr;
	int rc, i;

	if ((rc = map_get(c, n, "analysis", "a mapping like { interval: "
	    "30s, error_rate: { max: 1% } }", keys, NULL, kv)) != 0)
		return rc;
	a->set = 1;
	if (kv[A_INTERVAL].k) {
		if ((rc = duration(c, kv[A_INTERVAL].v, "analysis.interval",
		    0, &a->interval_ms)) != 0)
			return rc;
		if (a->interval_ms < 1000) {
			describe(kv[A_INTERVAL].v, q, sizeof(q));
			return fail(c, kv[A_INTERVAL].v->line,
			    "analysis.interval", "must be at least 1s, got %s",
			    q);
		}
	}
	if (kv[A_MIN_REQUESTS].k) {
		if ((rc = number(c, kv[A_MIN_REQUESTS].v,
		    "analysis.min_requests", 1,
		    (uint32_t)SPEC_MIN_REQUESTS_MAX, "a count of requests from "
		    "1 to 1000000000", &mr)) != 0)
			return rc;
		a->min_requests = mr;
	}
	if (kv[A_ERROR_RATE].k && (rc = read_error_rate(c,
	    kv[A_ERROR_RATE].v, a)) != 0)
		return rc;
	if (kv[A_P95].k) {
		if ((rc = read_max(c, kv[A_P95].v, "analysis.p95", "a mapping "
		    "like { max: 500ms }", &v)) != 0 ||
		    (rc = duration(c, v, "analysis.p95.max", 0,
		    &a->p95_max_ms)) != 0)
			return rc;
	}
	if (kv[A_RELATIVE].k && (rc = read_relative(c, kv[A_RELATIVE].v,
	    a)) != 0)
		return rc;
	if (kv[A_FAILURE_LIMIT].k && (rc = number(c, kv[A_FAILURE_LIMIT].v,
	    "analysis.failure_limit", 1, SPEC_FAILURE_LIMIT_MAX, "a count "
	    "of failed intervals from 1 to 1000", &a->failure_limit)) != 0)
		return rc;
	if (kv[A_INCONCLUSIVE].k) {
		if ((rc = one_of(c, kv[A_INCONCLUSIVE].v,
		    "analysis.inconclusive", inconclusive, "pause or fail",
		    &i)) != 0)
			return rc;
		a->inconclusive = i ? SPEC_INCONCLUSIVE_FAIL :
		    SPEC_INCONCLUSIVE_PAUSE;
	}
	if (kv[A_PROMETHEUS].k && (rc = read_proms(c, kv[A_PROMETHEUS].v,
	    a)) != 0)
		return rc;
	if (!kv[A_ERROR_RATE].k && !kv[A_P95].k && !kv[A_RELATIVE].k &&
	    !kv[A_PROMETHEUS].k)
		return fail(c, at(n), "analysis", "expected at least one "
		    "check (error_rate, p95, relative or prometheus): with "
		    "none, every interval would pass");
	return 0;
}

/* find_key: the key node of key in the mapping n, or NULL; *v gets its
 * value (left alone when absent).  For a mapping read before. */
static const struct ynode *
find_key(const struct ynode *n, const char *key, const struct ynode **v)
{
	size_t i;

	for (i = 0; n->type == YNODE_MAP && i < n->nkid; i += 2)
		if (strcmp(n->kid[i]->text, key) == 0) {
			*v = n->kid[i + 1];
			return n->kid[i];
		}
	return NULL;
}

static const char *const STRATEGY_NAMES[] = { "rolling", "canary",
    "blue-green" };

/*
 * check_strategy refuses the combinations of strategy, canary, blue_green,
 * analysis and rollout that cannot work, or where a key would have no
 * effect, once each has been read: kv holds the top-level keys and values
 * as written (NULL when absent), rk rollout's, for their lines.
 */
static int
check_strategy(const struct ctx *c, const struct kv *strategy,
    const struct kv *canary, const struct kv *blue_green,
    const struct kv *analysis, const struct rollout_keys *rk,
    const struct spec *s)
{
	const char *name = STRATEGY_NAMES[s->strategy];
	const char *dflt = strategy->k ? "" : " by default";
	char a[SHOW_MAX + 8], b[SHOW_MAX + 8];
	const struct ynode *k, *v = NULL;

	if (canary->k != NULL && s->strategy != SPEC_STRATEGY_CANARY)
		return fail(c, canary->k->line, "canary", "needs strategy: "
		    "canary (the strategy is %s%s); write strategy: canary, "
		    "or leave canary: out", name, dflt);
	if (blue_green->k != NULL && s->strategy != SPEC_STRATEGY_BLUE_GREEN)
		return fail(c, blue_green->k->line, "blue_green", "needs "
		    "strategy: blue-green (the strategy is %s%s); write "
		    "strategy: blue-green, or leave blue_green: out", name,
		    dflt);
	if (analysis->k != NULL && s->strategy == SPEC_STRATEGY_ROLLING)
		return fail(c, analysis->k->line, "analysis", "needs strategy "
		    "canary or blue-green (the strategy is rolling%s, whose "
		    "hosts are judged by their health checks alone)", dflt);
	if (rk->deadline != NULL && s->strategy == SPEC_STRATEGY_ROLLING)
		return fail(c, rk->deadline->line, "rollout.progress_deadline",
		    "needs strategy canary or blue-green (the strategy is "
		    "rolling%s, whose hosts are bounded by health.deadline)",
		    dflt);
	if (s->strategy == SPEC_STRATEGY_ROLLING)
		return 0;
	if (!s->port.set)
		return fail(c, strategy->k->line, "strategy", "%s needs a host "
		    "port (port:): ferry-proxy splits the traffic between the "
		    "revisions, and it serves host ports only", name);
	if (s->strategy == SPEC_STRATEGY_CANARY && canary->k == NULL)
		return fail(c, strategy->k->line, "strategy", "canary needs a "
		    "canary: mapping with its steps, like canary: { steps: "
		    "[ { weight: 5%%, for: 15m }, { weight: 50%% } ] }");
	if (s->strategy == SPEC_STRATEGY_CANARY && rk->canary != NULL)
		return fail(c, rk->canary->line, "rollout.canary", "is the "
		    "size of a rolling deployment's first batch and does not "
		    "go with strategy: canary; use canary.hosts to choose how "
		    "many hosts run the canary");
	if (s->strategy == SPEC_STRATEGY_BLUE_GREEN) {
		k = rk->batch ? rk->batch : rk->canary ? rk->canary : rk->pause;
		if (k != NULL)
			return fail(c, k->line, k == rk->batch ?
			    "rollout.batch" : k == rk->canary ?
			    "rollout.canary" : "rollout.pause", "does not go "
			    "with strategy: blue-green, which switches every "
			    "host together, in no batches; leave it out");
	}
	if (s->strategy == SPEC_STRATEGY_CANARY && !s->canary.hosts_all &&
	    !s->canary.hosts_percent && s->hosts == SPEC_HOSTS_NAMES &&
	    s->canary.hosts > s->nhost_names) {
		find_key(canary->v, "hosts", &v);
		return fail(c, v->line, "canary.hosts", "%u hosts, but hosts: "
		    "lists %zu; write all, or a count up to %zu",
		    s->canary.hosts, s->nhost_names, s->nhost_names);
	}
	if (!s->analysis.set) {
		if (rk->deadline != NULL)
			return fail(c, rk->deadline->line,
			    "rollout.progress_deadline", "needs an analysis: "
			    "block (progress is counted in judged intervals; "
			    "without analysis there are none)");
		return 0;
	}
	if (s->strategy == SPEC_STRATEGY_BLUE_GREEN &&
	    (k = find_key(analysis->v, "relative", &v)) != NULL)
		return fail(c, k->line, "analysis.relative", "does not go "
		    "with strategy: blue-green: after the switch the old "
		    "revision serves nothing to compare with; use "
		    "error_rate and p95 limits");
	v = NULL;
	k = find_key(analysis->v, "interval", &v);
	show_duration(v, s->analysis.interval_ms, a, sizeof(a));
	if (s->rollout.progress_deadline_ms > s->analysis.interval_ms)
		return 0;
	if (rk->deadline != NULL)
		return fail(c, rk->deadline->line, "rollout.progress_deadline",
		    "must be above analysis.interval (%s%s), or no interval "
		    "could end before it", a, k ? "" : " by default");
	/* The deadline is the default: the interval was written. */
	snprintf(b, sizeof(b), "%um", SPEC_PROGRESS_MS / 60000);
	return fail(c, k->line, "analysis.interval", "must be below "
	    "rollout.progress_deadline (%s by default), or no interval could "
	    "end before it", b);
}

/* step: a section's reader returned rc: out of memory stops everything,
 * a problem in the spec was noted (fail) and the other sections are read
 * still. */
#define STEP(expr) do {							\
	int step_rc_ = (expr);						\
	if (step_rc_ == FERR_NOMEM)					\
		return step_rc_;					\
	if (step_rc_ != 0)						\
		bad = step_rc_;						\
} while (0)

static int
read_spec(const struct ctx *c, const struct ynode *root, struct spec *s)
{
	enum { K_SERVICE, K_IMAGE, K_HOSTS, K_PORT, K_ENV, K_HEALTH,
	    K_STRATEGY, K_ROLLOUT, K_SECRETS, K_PROXY, K_CANARY, K_BLUE_GREEN,
	    K_ANALYSIS, K_PORTS, K_COMMAND, K_ENTRYPOINT, K_WORKDIR, K_USER,
	    K_VOLUMES, K_RESOURCES, K_RESTART, K_STOP_SIGNAL, K_STOP_TIMEOUT,
	    K_LABELS, K_LOG, K_CATCH_UP, K_N };
	static const char *const keys[] = { "service", "image", "hosts",
	    "port", "env", "health", "strategy", "rollout", "secrets",
	    "proxy", "canary", "blue_green", "analysis", "ports", "command",
	    "entrypoint", "workdir", "user", "volumes", "resources",
	    "restart", "stop_signal", "stop_timeout", "labels", "log",
	    "catch_up", NULL };
	static const int required[] = { K_SERVICE, K_IMAGE, K_HOSTS,
	    K_HEALTH };
	static const char service_what[] = "a service name of lowercase "
	    "letters, digits, '_', '.' and '-', starting with a letter or "
	    "digit, at most 63 characters";
	static const char user_what[] = "a user name or uid, optionally "
	    "with :group or :gid, like app or 1000:1000";
	struct kv kv[K_N];
	struct rollout_keys rk = { NULL, NULL, NULL, NULL };
	const char *v;
	char reason[160], q[SHOW_MAX * 4 + 16];
	size_t i;
	int rc, bad = 0;

	if (root == NULL || (root->type == YNODE_SCALAR && root->null))
		return fail(c, 0, NULL, "the file is empty (expected a "
		    "mapping of service, image, hosts, health, ...)");
	if (root->type != YNODE_MAP)
		return map_get(c, root, NULL, "a mapping of settings "
		    "(service: ..., image: ..., hosts: ..., health: ...)",
		    keys, NULL, kv);
	/* Unknown and repeated keys are noted; the others are read. */
	STEP(map_get(c, root, NULL, "a mapping of settings", keys, NULL, kv));
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (kv[required[i]].k == NULL)
			bad = fail(c, 0, NULL, "missing required key \"%s\"",
			    keys[required[i]]);

	if (kv[K_SERVICE].k != NULL) {
		if ((rc = scalar(c, kv[K_SERVICE].v, "service", service_what,
		    &v)) != 0)
			bad = rc;
		else if (!service_name_valid(v))
			bad = expected(c, kv[K_SERVICE].v, "service",
			    service_what);
		else
			snprintf(s->service, sizeof(s->service), "%s", v);
	}
	if (kv[K_IMAGE].k != NULL) {
		if ((rc = scalar(c, kv[K_IMAGE].v, "image", "an image "
		    "reference like registry:5000/web:1.4.2", &v)) != 0) {
			bad = rc;
		} else if (spec_image_check(v, reason, sizeof(reason)) != 0) {
			quote(v, strlen(v), q, sizeof(q));
			bad = fail(c, kv[K_IMAGE].v->line, "image", "%s, "
			    "got %s", reason, q);
		} else {
			snprintf(s->image, sizeof(s->image), "%s", v);
		}
	}
	if (kv[K_HOSTS].k)
		STEP(read_hosts(c, kv[K_HOSTS].v, s));
	if (kv[K_PORT].k && kv[K_PORTS].k)
		bad = fail(c, kv[K_PORTS].k->line, "ports", "port: and ports: "
		    "go not together (port: is at line %u): write one; "
		    "ports: [ ... ] lists the first port too",
		    kv[K_PORT].k->line);
	else if (kv[K_PORT].k)
		STEP(read_port(c, kv[K_PORT].v, s));
	else if (kv[K_PORTS].k)
		STEP(read_ports(c, kv[K_PORTS].v, s));
	if (kv[K_ENV].k)
		STEP(read_pairs(c, kv[K_ENV].v, "env", "a mapping of "
		    "variables like { LOG_LEVEL: info }", SPEC_ENV_MAX,
		    "variable",
		    env_name_valid, "a variable name ([A-Za-z_][A-Za-z0-9_]*)",
		    NULL, "a value", 0, &s->env, &s->nenv));
	if (kv[K_HEALTH].k)
		STEP(read_health(c, kv[K_HEALTH].v, s));
	if (kv[K_STRATEGY].k)
		STEP(read_strategy(c, kv[K_STRATEGY].v, s));
	if (kv[K_ROLLOUT].k)
		STEP(read_rollout(c, kv[K_ROLLOUT].v, s, &rk));
	if (kv[K_SECRETS].k)
		STEP(read_secrets(c, kv[K_SECRETS].v, s));
	if (kv[K_CATCH_UP].k)
		STEP(read_catch_up(c, kv[K_CATCH_UP].v, s));
	s->proxy.mode = s->health.check == SPEC_CHECK_HTTP ? SPEC_PROXY_HTTP :
	    SPEC_PROXY_TCP;
	if (kv[K_PROXY].k)
		STEP(read_proxy(c, kv[K_PROXY].v, s));
	if (kv[K_CANARY].k)
		STEP(read_canary(c, kv[K_CANARY].v, s));
	if (kv[K_BLUE_GREEN].k)
		STEP(read_blue_green(c, kv[K_BLUE_GREEN].v, s));
	if (kv[K_ANALYSIS].k)
		STEP(read_analysis(c, kv[K_ANALYSIS].v, s));
	if (kv[K_COMMAND].k)
		STEP(read_words(c, kv[K_COMMAND].v, "command", &s->command,
		    &s->ncommand));
	if (kv[K_ENTRYPOINT].k)
		STEP(read_words(c, kv[K_ENTRYPOINT].v, "entrypoint",
		    &s->entrypoint, &s->nentrypoint));
	if (kv[K_WORKDIR].k) {
		if ((rc = scalar(c, kv[K_WORKDIR].v, "workdir", PATH_WHAT,
		    &v)) != 0)
			bad = rc;
		else if (!abs_path_valid(v))
			bad = expected(c, kv[K_WORKDIR].v, "workdir",
			    PATH_WHAT);
		else if ((s->workdir = strdup(v)) == NULL)
			return nomem(c);
	}
	if (kv[K_USER].k) {
		if ((rc = scalar(c, kv[K_USER].v, "user", user_what, &v)) != 0)
			bad = rc;
		else if (!user_valid(v))
			bad = expected(c, kv[K_USER].v, "user", user_what);
		else if ((s->user = strdup(v)) == NULL)
			return nomem(c);
	}
	if (kv[K_VOLUMES].k)
		STEP(read_volumes(c, kv[K_VOLUMES].v, s));
	if (kv[K_RESOURCES].k)
		STEP(read_resources(c, kv[K_RESOURCES].v, s));
	if (kv[K_RESTART].k)
		STEP(read_restart(c, kv[K_RESTART].v, s));
	if (kv[K_STOP_SIGNAL].k)
		STEP(read_stop_signal(c, kv[K_STOP_SIGNAL].v, s));
	if (kv[K_STOP_TIMEOUT].k)
		STEP(read_stop_timeout(c, kv[K_STOP_TIMEOUT].v, s));
	if (kv[K_LABELS].k)
		STEP(read_labels(c, kv[K_LABELS].v, s));
	if (kv[K_LOG].k)
		STEP(read_log(c, kv[K_LOG].v, s));
	/* The checks across sections weigh what the sections hold: only
	 * when each read cleanly, or they would blame a key for another's
	 * mistake. */
	if (bad != 0)
		return bad;
	if (kv[K_PROXY].k && !s->port.set)
		return fail(c, kv[K_PROXY].k->line, "proxy", "the service "
		    "publishes no host port (port:), and ferry-proxy serves "
		    "host ports only: there is no proxy to set");
	return check_strategy(c, &kv[K_STRATEGY], &kv[K_CANARY],
	    &kv[K_BLUE_GREEN], &kv[K_ANALYSIS], &rk, s);
}

#undef STEP

int
spec_parse(const char *filename, const char *text, size_t len,
    struct spec **out, char *err, size_t errlen)
{
	struct ctx c = { filename ? filename : "spec", err, errlen, NULL };
	struct ynode *root = NULL;
	struct spec *s = NULL;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL)
		return FERR_ARG;
	*out = NULL;
	if (text == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: no text", c.file);
		return FERR_ARG;
	}
	if (len > SPEC_MAX_BYTES) {
		fail(&c, 0, NULL, "the file is %zu bytes, larger than the "
		    "limit of 1 MiB", len);
		return FERR_TOOBIG;
	}
	if ((rc = load(&c, text, len, &root)) != 0)
		goto out;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		rc = nomem(&c);
		goto out;
	}
	spec_defaults(s);
	if ((c.probs = calloc(1, sizeof(*c.probs))) == NULL) {
		rc = nomem(&c);
		goto out;
	}
	rc = read_spec(&c, root, s);
	if (rc == 0 && c.probs->total > 0)
		rc = FERR_MALFORMED;	/* noted below a reader that went on */
	if (rc == FERR_MALFORMED)
		problems_write(c.probs, err, errlen);
	if (rc != 0)
		goto out;
	*out = s;
	s = NULL;
out:
	free(c.probs);
	spec_free(s);
	yamltree_free(root);
	return rc;
}

static void
free_strings(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
free_pairs(struct spec_pair *p, size_t n)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
}

void
spec_free(struct spec *s)
{
	if (s == NULL)
		return;
	free_strings(s->host_names, s->nhost_names);
	free_pairs(s->host_labels, s->nhost_labels);
	free_pairs(s->env, s->nenv);
	free(s->health.http_path);
	free_strings(s->health.argv, s->health.argc);
	free(s->secrets);
	for (size_t i = 0; s->analysis.prom != NULL &&
	    i < s->analysis.nprom; i++) {
		free(s->analysis.prom[i].name);
		free(s->analysis.prom[i].url);
		free(s->analysis.prom[i].query);
	}
	free(s->analysis.prom);
	free(s->ports);
	free_strings(s->command, s->ncommand);
	free_strings(s->entrypoint, s->nentrypoint);
	free(s->workdir);
	free(s->user);
	for (size_t i = 0; s->volumes != NULL && i < s->nvolumes; i++) {
		free(s->volumes[i].source);
		free(s->volumes[i].target);
	}
	free(s->volumes);
	free_pairs(s->labels, s->nlabels);
	free(s->log_driver);
	free_pairs(s->log_opts, s->nlog_opts);
	free_strings(s->healthcheck.test, s->healthcheck.ntest);
	free(s);
}
