/* SPDX-License-Identifier: Apache-2.0 */
/* text.h: text from a peer made safe for one line of a log, an event or a
 * terminal. */
#ifndef FERRY_TEXT_H
#define FERRY_TEXT_H

#include <stddef.h>
#include <stdint.h>

/*
 * text_escape copies the NUL-ended src into dst (dstlen bytes, always
 * NUL-ended when dstlen > 0) with everything that could end a line, move a
 * terminal's cursor or hide what follows written as visible escapes:
 * newline, CR and tab as \n \r \t; every other C0 control and DEL as \xHH;
 * C1 controls (U+0080..U+009F), the line and paragraph separators and the
 * bidirectional overrides (U+2028..U+202E, U+2066..U+2069) as \uHHHH; any
 * byte that is not part of valid UTF-8 (a stray continuation, an overlong
 * form, a surrogate, past U+10FFFF, a sequence cut short) as \xHH.  A
 * backslash is left as it is, so escaping escaped text changes nothing:
 * text may be escaped where it enters ferryd and again where it is shown.
 * Output that does not fit is cut before a whole character or escape,
 * never inside one.  Returns the length written (without the NUL).
 */
size_t
text_escape(char *dst, size_t dstlen, const char *src);

/* text_escape_len is the size text_escape needs for all of src, its NUL
 * included (at most 6 bytes per byte of src, plus one). */
size_t
text_escape_len(const char *src);

/* text_escape_dup returns src escaped in a new heap string, or NULL when
 * out of memory (src NULL: an empty string). */
char *
text_escape_dup(const char *src);

/* text_escape_lines_dup is text_escape_dup for text of several lines (a
 * container's last log lines): newlines stay, everything else is escaped
 * the same way, so each line shows as one line. */
char *
text_escape_lines_dup(const char *src);

/* text_duration writes ms as people read it: "500 ms", "30 s", "2.5 s",
 * "4m12s", "15m", "1h5m".  Returns dst. */
char *
text_duration(char *dst, size_t len, uint64_t ms);

/* text_thousands writes n with thousands separators: "1,204".  Returns
 * dst. */
char *
text_thousands(char *dst, size_t len, uint64_t n);

/* text_tail_lines points at where the last max_lines lines of src begin
 * (a trailing newline ends the last line, it starts none), moved on to
 * the next line's start while more than max_bytes would follow; a single
 * line longer than max_bytes keeps its last max_bytes bytes, cut before a
 * UTF-8 continuation byte never inside a character. */
const char *
text_tail_lines(const char *src, size_t max_lines, size_t max_bytes);

/* text_is_clean: src needs no escaping. */
int
text_is_clean(const char *src);

#endif
