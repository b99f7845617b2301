/* SPDX-License-Identifier: Apache-2.0 */
/* text.c: text from a peer escaped for one line of a log, an event or a
 * terminal. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/*
 * utf8_next decodes one character at s: returns its length in bytes (1..4)
 * and the code point in *cp, or 0 when s does not start a valid UTF-8
 * sequence (overlong, surrogate, past U+10FFFF, cut short).
 */
static size_t
utf8_next(const unsigned char *s, uint32_t *cp)
{
	uint32_t c;
	size_t n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)	/* also stops at the NUL */
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* shown_as writes the escape for the character at s (n bytes, code point
 * cp; n 0 for a byte that is not valid UTF-8) into esc, or leaves it empty
 * when the character is shown as it is. */
static void
shown_as(const unsigned char *s, size_t n, uint32_t cp, char esc[12],
    int lines)
{
	esc[0] = '\0';
	if (n == 0)
		snprintf(esc, 12, "\\x%02x", s[0]);
	else if (cp == '\n' && lines)
		;
	else if (cp == '\n')
		snprintf(esc, 12, "\\n");
	else if (cp == '\r')
		snprintf(esc, 12, "\\r");
	else if (cp == '\t')
		snprintf(esc, 12, "\\t");
	else if (cp < 0x20 || cp == 0x7f)
		snprintf(esc, 12, "\\x%02x", (unsigned)cp);
	else if ((cp >= 0x80 && cp <= 0x9f) ||
	    (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
		snprintf(esc, 12, "\\u%04x", (unsigned)(cp & 0xffff));
}

static size_t
escape(char *dst, size_t dstlen, const char *src, int lines)
{
	const unsigned char *s = (const unsigned char *)(src ? src : "");
	size_t out = 0, n, w;
	uint32_t cp = 0;
	char esc[12];

	if (dstlen == 0)
		return 0;
	while (*s != '\0') {
		n = utf8_next(s, &cp);
		shown_as(s, n, cp, esc, lines);
		w = esc[0] != '\0' ? strlen(esc) : n;
		if (out + w >= dstlen)
			break;
		memcpy(dst + out, esc[0] != '\0' ? esc : (const char *)s, w);
		out += w;
		s += n ? n : 1;
	}
	dst[out] = '\0';
	return out;
}

size_t
text_escape(char *dst, size_t dstlen, const char *src)
{
	return escape(dst, dstlen, src, 0);
}

static size_t
escape_len(const char *src, int lines)
{
	const unsigned char *s = (const unsigned char *)(src ? src : "");
	size_t len = 1, n;
	uint32_t cp = 0;
	char esc[12];

	while (*s != '\0') {
		n = utf8_next(s, &cp);
		shown_as(s, n, cp, esc, lines);
		len += esc[0] != '\0' ? strlen(esc) : n;
		s += n ? n : 1;
	}
	return len;
}

size_t
text_escape_len(const char *src)
{
	return escape_len(src, 0);
}

char *
text_escape_dup(const char *src)
{
	size_t len = escape_len(src, 0);
	char *d = malloc(len);

	if (d != NULL)
		escape(d, len, src, 0);
	return d;
}

char *
text_escape_lines_dup(const char *src)
{
	size_t len = escape_len(src, 1);
	char *d = malloc(len);

	if (d != NULL)
		escape(d, len, src, 1);
	return d;
}

int
text_is_clean(const char *src)
{
	return text_escape_len(src) == strlen(src ? src : "") + 1;
}

char *
text_thousands(char *dst, size_t len, uint64_t n)
{
	char digits[24], out[32];
	size_t nd, i, o = 0;

	nd = (size_t)snprintf(digits, sizeof(digits), "%llu",
	    (unsigned long long)n);
	for (i = 0; i < nd; i++) {
		if (i > 0 && (nd - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
	snprintf(dst, len, "%s", out);
	return dst;
}

char *
text_duration(char *dst, size_t len, uint64_t ms)
{
	unsigned long long h, m, s, tenths;

	if (ms < 1000) {
		snprintf(dst, len, "%llu ms", (unsigned long long)ms);
		return dst;
	}
	if (ms < 60000) {
		tenths = ((unsigned long long)ms + 50) / 100;
		if (tenths % 10 == 0)
			snprintf(dst, len, "%llu s", tenths / 10);
		else
			snprintf(dst, len, "%llu.%llu s", tenths / 10,
			    tenths % 10);
		return dst;
	}
	h = ms / 3600000;
	m = ms / 60000 % 60;
	s = ms / 1000 % 60;
	if (h > 0 && s > 0)
		snprintf(dst, len, "%lluh%llum%llus", h, m, s);
	else if (h > 0 && m > 0)
		snprintf(dst, len, "%lluh%llum", h, m);
	else if (h > 0)
		snprintf(dst, len, "%lluh", h);
	else if (s > 0)
		snprintf(dst, len, "%llum%llus", m, s);
	else
		snprintf(dst, len, "%llum", m);
	return dst;
}

const char *
text_tail_lines(const char *src, size_t max_lines, size_t max_bytes)
{
	size_t len = strlen(src), end = len, lines = 0, i;
	const char *p;

	if (end > 0 && src[end - 1] == '\n')
		end--;
	/* Back from the end to the start of the max_lines-th line. */
	for (i = end; i > 0; i--)
		if (src[i - 1] == '\n' && ++lines == max_lines)
			break;
	p = src + i;
	while ((size_t)(src + len - p) > max_bytes) {
		const char *nl = strchr(p, '\n');

		if (nl == NULL || nl[1] == '\0') {
			p = src + len - max_bytes;
			while (*p != '\0' && ((unsigned char)*p & 0xc0) == 0x80)
				p++;
			break;
		}
		p = nl + 1;
	}
	return p;
}
