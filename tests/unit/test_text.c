/* SPDX-License-Identifier: Apache-2.0 */
// links:
/* test_text.c: agent-supplied text escaped for one line. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "text.h"

static void
expect(const char *in, const char *want)
{
	char out[256];

	text_escape(out, sizeof(out), in);
	cr_assert_str_eq(out, want, "escape of \"%s\"", in);
	cr_assert_eq(text_escape_len(in), strlen(want) + 1);
	/* Escaping is idempotent: what is shown once is shown the same. */
	text_escape(out, sizeof(out), want);
	cr_assert_str_eq(out, want);
}

Test(text, plain_text_and_utf8_pass_as_they_are)
{
	expect("", "");
	expect("HTTP 500 on /health", "HTTP 500 on /health");
	expect("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\xa2", "caf\xc3\xa9 "
	    "\xe2\x82\xac \xf0\x9f\x9a\xa2");
	expect("a\\nb", "a\\nb");	/* a backslash stays */
	cr_assert(text_is_clean("web-1: swap ok"));
}

Test(text, line_breaks_and_terminal_escapes_are_visible)
{
	expect("line\nforged", "line\\nforged");
	expect("a\r\n\tb", "a\\r\\n\\tb");
	expect("\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07");
	expect("del\x7f", "del\\x7f");
	expect("\x01\x1f", "\\x01\\x1f");
	cr_assert(!text_is_clean("a\nb"));
}

Test(text, c1_controls_separators_and_bidi_overrides_are_visible)
{
	expect("\xc2\x9b" "2J", "\\u009b2J");	/* C1 CSI */
	expect("\xc2\x85", "\\u0085");		/* NEL */
	expect("a\xe2\x80\xa8" "b", "a\\u2028b");	/* line separator */
	expect("\xe2\x80\xae" "gnp.exe", "\\u202egnp.exe");
	expect("\xe2\x81\xa6x", "\\u2066x");
}

Test(text, invalid_utf8_is_shown_byte_by_byte)
{
	expect("\xff", "\\xff");
	expect("a\x80" "b", "a\\x80b");			/* stray continuation */
	expect("\xc0\xaf", "\\xc0\\xaf");		/* overlong '/' */
	expect("\xe0\x80\xaf", "\\xe0\\x80\\xaf");	/* overlong */
	expect("\xed\xa0\x80", "\\xed\\xa0\\x80");	/* surrogate */
	expect("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* > U+10FFFF */
	expect("\xe2\x82", "\\xe2\\x82");		/* cut short */
}

Test(text, output_is_cut_between_escapes_never_inside)
{
	char out[8];

	cr_assert_eq(text_escape(out, sizeof(out), "abcdef\ng"), 6);
	cr_assert_str_eq(out, "abcdef");
	cr_assert_eq(text_escape(out, sizeof(out), "\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9"), 6);
	cr_assert_str_eq(out, "\xc3\xa9\xc3\xa9\xc3\xa9");
	cr_assert_eq(text_escape(out, 1, "abc"), 0);
	cr_assert_str_eq(out, "");
	{
		char *d = text_escape_dup("x\x1b");
		cr_assert_str_eq(d, "x\\x1b");
		free(d);
	}
}

Test(text, lines_keep_their_newlines_and_nothing_else)
{
	char *d = text_escape_lines_dup("one\ntwo\r\x1b[2J\n");

	cr_assert_str_eq(d, "one\ntwo\\r\\x1b[2J\n");
	free(d);
}

Test(text, tail_lines_keeps_the_last_lines_within_bytes)
{
	const char *s = "one\ntwo\nthree\nfour\n";

	cr_assert_str_eq(text_tail_lines(s, 2, 100), "three\nfour\n");
	cr_assert_str_eq(text_tail_lines(s, 10, 100), s);
	cr_assert_str_eq(text_tail_lines("a\nb", 1, 100), "b");
	/* Fewer bytes than the lines take: whole lines drop first. */
	cr_assert_str_eq(text_tail_lines(s, 4, 12), "three\nfour\n");
	/* One line past the bound keeps its end, never half a character. */
	cr_assert_str_eq(text_tail_lines("abcdef", 1, 3), "def");
	cr_assert_str_eq(text_tail_lines("ab\xc3\xa9z", 1, 2), "z");
	cr_assert_str_eq(text_tail_lines("", 5, 5), "");
}
