/* SPDX-License-Identifier: Apache-2.0 */
/* imageref.c: checking an image reference against Docker's grammar, so a
 * bad one is refused with a reason before anything is stored or pulled. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "ferr.h"
#include "imageref.h"

static int
lower_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* A repository path component: lowercase letters and digits, joined by
 * '.', '_', '__' or dashes. */
static int
path_component_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
		return 0;
	for (i = 0; i < n; i++)
		if (!lower_alnum(s[i]) && s[i] != '.' && s[i] != '_' &&
		    s[i] != '-')
			return 0;
	return 1;
}

/* A registry: host name or address, then :port optionally. */
static int
registry_ok(const char *s, size_t n)
{
	size_t i, colon = n;

	for (i = 0; i < n; i++)
		if (s[i] == ':') {
			colon = i;
			break;
		}
	if (colon == 0)
		return 0;
	for (i = 0; i < colon; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '-')
			return 0;
	if (colon < n) {
		if (n - colon - 1 == 0 || n - colon - 1 > 5)
			return 0;
		for (i = colon + 1; i < n; i++)
			if (!isdigit((unsigned char)s[i]))
				return 0;
	}
	return 1;
}

/* why writes msg into buf (when given) and returns FERR_MALFORMED. */
static int
why(char *buf, size_t len, const char *msg)
{
	if (buf != NULL && len > 0)
		snprintf(buf, len, "%s", msg);
	return FERR_MALFORMED;
}

int
spec_image_check(const char *ref, char *whybuf, size_t whylen)
{
	const char *at, *name_end, *slash, *colon, *p, *end;
	size_t i, n;

	if (ref == NULL || ref[0] == '\0')
		return why(whybuf, whylen, "must not be empty");
	n = strlen(ref);
	for (i = 0; i < n; i++)
		if (isspace((unsigned char)ref[i]) ||
		    iscntrl((unsigned char)ref[i]) ||
		    (unsigned char)ref[i] >= 0x80)
			return why(whybuf, whylen, "must not contain "
			    "whitespace, control or non-ASCII characters");
	if (n > IMAGEREF_MAX)
		return why(whybuf, whylen, "is longer than 255 characters");
	name_end = ref + n;
	if ((at = strchr(ref, '@')) != NULL) {
		const char *d = at + 1;

		if (strncmp(d, "sha256:", 7) != 0 || strlen(d + 7) != 64)
			return why(whybuf, whylen, "expected a digest of "
			    "@sha256: and 64 hex digits after '@'");
		for (i = 7; i < 71; i++)
			if (!isdigit((unsigned char)d[i]) &&
			    !(d[i] >= 'a' && d[i] <= 'f'))
				return why(whybuf, whylen, "expected a digest "
				    "of @sha256: and 64 lowercase hex digits "
				    "after '@'");
		name_end = at;
	}
	/* The tag: after the last ':' that follows the last '/'. */
	slash = NULL;
	colon = NULL;
	for (p = ref; p < name_end; p++) {
		if (*p == '/')
			slash = p;
		else if (*p == ':')
			colon = p;
	}
	if (colon != NULL && (slash == NULL || colon > slash)) {
		size_t tl = (size_t)(name_end - colon - 1);

		if (tl == 0 || tl > 128 || colon[1] == '.' || colon[1] == '-')
			return why(whybuf, whylen, "expected a tag of "
			    "letters, digits, '_', '.' and '-' after ':'");
		for (p = colon + 1; p < name_end; p++)
			if (!isalnum((unsigned char)*p) && *p != '_' &&
			    *p != '.' && *p != '-')
				return why(whybuf, whylen, "expected a tag of "
				    "letters, digits, '_', '.' and '-' after "
				    "':'");
		name_end = colon;
	}
	/* The repository: [registry/]component[/component...]. */
	p = ref;
	end = memchr(p, '/', (size_t)(name_end - p));
	if (end != NULL) {
		size_t fl = (size_t)(end - p);
		int is_registry = fl == 9 && strncmp(p, "localhost", 9) == 0;

		for (i = 0; i < fl; i++)
			if (p[i] == '.' || p[i] == ':' ||
			    isupper((unsigned char)p[i]))
				is_registry = 1;
		if (is_registry) {
			if (!registry_ok(p, fl))
				return why(whybuf, whylen, "expected a "
				    "registry like registry.example.com:5000 "
				    "before the first '/'");
			p = end + 1;
		}
	}
	for (;;) {
		end = memchr(p, '/', (size_t)(name_end - p));
		if (end == NULL)
			end = name_end;
		if (!path_component_ok(p, (size_t)(end - p)))
			return why(whybuf, whylen, "expected a repository "
			    "name of lowercase letters and digits, like "
			    "registry:5000/team/web:1.0");
		if (end == name_end)
			break;
		p = end + 1;
	}
	return 0;
}
