/* SPDX-License-Identifier: Apache-2.0 */
/* yamltree.h: a YAML document read into a small tree of nodes that
 * remember their lines; the one module of ferryd that includes yaml.h. */
#ifndef FERRY_YAMLTREE_H
#define FERRY_YAMLTREE_H

#include <stddef.h>

enum ynode_type {
	YNODE_SCALAR,
	YNODE_SEQ,
	YNODE_MAP,
};

/* One value of the document: a scalar, a list or a mapping. */
struct ynode {
	enum ynode_type type;
	unsigned line;		/* 1-based */
	unsigned key_line;	/* a mapping's value: its key's line, else 0 */
	int null;		/* a plain "", "~" or "null" scalar */
	int plain;		/* a plain (unquoted) scalar */
	char *text;		/* YNODE_SCALAR: NUL-terminated copy */
	size_t len;		/* bytes of text (it may hold a NUL) */
	struct ynode **kid;	/* YNODE_SEQ: items; YNODE_MAP: key, value,
				 * key, value, ... in the file's order */
	size_t nkid;
	size_t cap;		/* the loader's: room in kid */
};

/*
 * yamltree_load reads text (len bytes, need not be NUL-terminated) with
 * libyaml and stores its document in *root as a tree of nodes, to be freed
 * with yamltree_free; *root is NULL when text holds no document.  What a
 * configuration file never needs is refused: YAML aliases (*name), a
 * second document, collections nested deeper than 16 levels, more than
 * 65536 values in all and more than 8192 keys and values (or items) in
 * one collection.
 *
 * Returns 0, FERR_MALFORMED (not YAML, or refused) or FERR_NOMEM.  On
 * FERR_MALFORMED, *line is the 1-based line to blame and why (when not
 * NULL) says what is wrong in one sentence, without file or line:
 *
 *	a second YAML document: a spec is one document (remove the extra ---)
 *
 * On failure *root is NULL and nothing is leaked.
 */
int
yamltree_load(const char *text, size_t len, struct ynode **root,
    unsigned *line, char *why, size_t whylen);

/* yamltree_free frees n and every node below it.  NULL is safe. */
void
yamltree_free(struct ynode *n);

#endif
