/* SPDX-License-Identifier: Apache-2.0 */
/* table.c: the CLI's tables, laid out by libsmartcols (util-linux): on a
 * terminal they fit its width (the columns marked TABLE_TRUNC are cut,
 * those marked TABLE_WRAP wrap onto more lines), on a pipe every cell is
 * whole.  The only file of ferry that includes libsmartcols.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libsmartcols.h>

#include "ferry.h"
#include "text.h"

#define CELL_MAX	8192

struct table {
	struct libscols_table	*tb;
	struct libscols_line	*ln;
	size_t			 ncols;
	size_t			 next;	/* the current row's next cell */
};

struct table *
table_new(void)
{
	struct table *t = calloc(1, sizeof(*t));

	if (t == NULL || (t->tb = scols_new_table()) == NULL)
		die(EXIT_FAIL, "out of memory");
	/* Cells are escaped here (text_escape): libsmartcols' own \x
	 * encoding would escape them a second time. */
	scols_table_enable_noencoding(t->tb, 1);
	return t;
}

void
table_col(struct table *t, const char *name, double whint, int flags)
{
	int fl = 0;

	if (flags & TABLE_RIGHT)
		fl |= SCOLS_FL_RIGHT;
	if (flags & TABLE_TRUNC)
		fl |= SCOLS_FL_TRUNC;
	if (flags & TABLE_WRAP)
		fl |= SCOLS_FL_WRAP;
	if (scols_table_new_column(t->tb, name, whint, fl) == NULL)
		die(EXIT_FAIL, "out of memory");
	t->ncols++;
}

void
table_row(struct table *t)
{
	if ((t->ln = scols_table_new_line(t->tb, NULL)) == NULL)
		die(EXIT_FAIL, "out of memory");
	t->next = 0;
}

void
table_cell(struct table *t, const char *fmt, ...)
{
	char raw[CELL_MAX], *shown;
	va_list ap;

	if (t->ln == NULL || t->next >= t->ncols)
		die(EXIT_FAIL, "table: cell %zu of %zu (a bug in ferry)",
		    t->next + 1, t->ncols);
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	if ((shown = text_escape_dup(raw)) == NULL ||
	    scols_line_refer_data(t->ln, t->next++, shown) != 0)
		die(EXIT_FAIL, "out of memory");
}

int
table_rows(const struct table *t)
{
	return (int)scols_table_get_nlines(t->tb);
}

void
table_print(struct table *t, FILE *out)
{
	if (t == NULL)
		return;
	scols_table_set_stream(t->tb, out);
	scols_print_table(t->tb);
	fflush(out);
	table_free(t);
}

void
table_free(struct table *t)
{
	if (t == NULL)
		return;
	scols_unref_table(t->tb);
	free(t);
}
