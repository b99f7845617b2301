/* SPDX-License-Identifier: Apache-2.0 */
/* yamltree.c: libyaml's events turned into a tree of nodes with lines,
 * refusing what a configuration file never needs. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "ferr.h"
#include "yamltree.h"

#define MAX_DEPTH	16	/* collections inside collections */
#define MAX_NODES	65536	/* nodes in one file */
#define MAX_KIDS	8192	/* entries (keys + values) in one collection */

/* One run of yamltree_load: where a refusal goes. */
struct load {
	unsigned *line;
	char *why;
	size_t whylen;
	size_t nodes;		/* made so far, for MAX_NODES */
};

static int
refuse(struct load *l, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* refuse blames line, writes the reason into the caller's buffer and
 * returns FERR_MALFORMED. */
static int
refuse(struct load *l, unsigned line, const char *fmt, ...)
{
	va_list ap;

	*l->line = line;
	if (l->why == NULL || l->whylen == 0)
		return FERR_MALFORMED;
	va_start(ap, fmt);
	vsnprintf(l->why, l->whylen, fmt, ap);
	va_end(ap);
	return FERR_MALFORMED;
}

void
yamltree_free(struct ynode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkid; i++)
		yamltree_free(n->kid[i]);	/* at most MAX_DEPTH deep */
	free(n->kid);
	free(n->text);
	free(n);
}

static int
is_null(const char *s, size_t len)
{
	return len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* node_new makes a node from a scalar or collection-start event. */
static int
node_new(struct load *l, const yaml_event_t *ev, struct ynode **out)
{
	struct ynode *n;

	*out = NULL;
	if (++l->nodes > MAX_NODES)
		return refuse(l, (unsigned)ev->start_mark.line + 1,
		    "more than %d values in one file", MAX_NODES);
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return FERR_NOMEM;
	n->line = (unsigned)ev->start_mark.line + 1;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n->type = YNODE_SCALAR;
		n->len = ev->data.scalar.length;
		if ((n->text = malloc(n->len + 1)) == NULL) {
			free(n);
			return FERR_NOMEM;
		}
		memcpy(n->text, ev->data.scalar.value, n->len);
		n->text[n->len] = '\0';
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		n->null = n->plain && is_null(n->text, n->len);
		break;
	case YAML_SEQUENCE_START_EVENT:
		n->type = YNODE_SEQ;
		break;
	default:
		n->type = YNODE_MAP;
		break;
	}
	*out = n;
	return 0;
}

/* node_add hangs kid under parent, which then owns it; on failure kid is
 * freed.  A collection too large is blamed on its key's line when it has
 * one, since a block collection starts on the line after it. */
static int
node_add(struct load *l, struct ynode *parent, struct ynode *kid)
{
	if (parent->nkid == MAX_KIDS) {
		yamltree_free(kid);
		return refuse(l, parent->key_line ? parent->key_line :
		    parent->line, "more than %d entries in one %s",
		    MAX_KIDS / (parent->type == YNODE_MAP ? 2 : 1),
		    parent->type == YNODE_MAP ? "mapping" : "list");
	}
	if (parent->nkid == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		struct ynode **k = realloc(parent->kid, cap * sizeof(*k));

		if (k == NULL) {
			yamltree_free(kid);
			return FERR_NOMEM;
		}
		parent->kid = k;
		parent->cap = cap;
	}
	if (parent->type == YNODE_MAP && parent->nkid % 2 == 1)
		kid->key_line = parent->kid[parent->nkid - 1]->line;
	parent->kid[parent->nkid++] = kid;
	return 0;
}

/* line_at counts the lines before byte off of text, for reader errors that
 * carry an offset instead of a mark. */
static unsigned
line_at(const char *text, size_t len, size_t off)
{
	unsigned line = 1;
	size_t i;

	for (i = 0; i < off && i < len; i++)
		if (text[i] == '\n')
			line++;
	return line;
}

/* syntax_error translates the parser's error into ours. */
static int
syntax_error(struct load *l, const yaml_parser_t *p, const char *text,
    size_t len)
{
	const char *problem = p->problem ? p->problem : "not valid YAML";
	unsigned line;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return FERR_NOMEM;
	case YAML_READER_ERROR:
		line = line_at(text, len, p->problem_offset);
		if (p->problem_value != -1)
			return refuse(l, line, "YAML syntax error: %s "
			    "(byte 0x%02x)", problem, p->problem_value & 0xff);
		return refuse(l, line, "YAML syntax error: %s", problem);
	default:
		line = (unsigned)p->problem_mark.line + 1;
		if (p->context != NULL)
			return refuse(l, line, "YAML syntax error: %s "
			    "(%s at line %u)", problem, p->context,
			    (unsigned)p->context_mark.line + 1);
		return refuse(l, line, "YAML syntax error: %s", problem);
	}
}

int
yamltree_load(const char *text, size_t len, struct ynode **root,
    unsigned *line, char *why, size_t whylen)
{
	struct load l = { line, why, whylen, 0 };
	yaml_parser_t p;
	yaml_event_t ev;
	struct ynode *stack[MAX_DEPTH], *n;
	int depth = 0, docs = 0, done = 0, rc = 0;

	*root = NULL;
	*line = 0;
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (!yaml_parser_initialize(&p))
		return FERR_NOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			rc = syntax_error(&l, &p, text, len);
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				rc = refuse(&l, (unsigned)ev.start_mark.line +
				    1, "a second YAML document: a spec is "
				    "one document (remove the extra ---)");
			break;
		case YAML_ALIAS_EVENT:
			rc = refuse(&l, (unsigned)ev.start_mark.line + 1,
			    "YAML aliases are not supported (*%s): write the "
			    "value out in full", (char *)ev.data.alias.anchor);
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (ev.type != YAML_SCALAR_EVENT &&
			    depth == MAX_DEPTH) {
				rc = refuse(&l, (unsigned)ev.start_mark.line +
				    1, "nested deeper than %d levels",
				    MAX_DEPTH);
				break;
			}
			if ((rc = node_new(&l, &ev, &n)) != 0)
				break;
			if (depth == 0)
				*root = n;
			else if ((rc = node_add(&l, stack[depth - 1], n)) != 0)
				break;
			if (ev.type != YAML_SCALAR_EVENT)
				stack[depth++] = n;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (rc != 0)
			break;
	}
	yaml_parser_delete(&p);
	if (rc != 0) {
		yamltree_free(*root);
		*root = NULL;
	}
	return rc;
}
