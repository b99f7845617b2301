/* SPDX-License-Identifier: Apache-2.0 */
/* bindpath.c: whether a host folder may be bound into a container under
 * an agent's --allowed-bind-paths: the agent's rule (allowlist.c), which
 * ferryd applies too before it plans (plan.c). */
#include <stdio.h>
#include <string.h>

#include "bindpath.h"

/* has_dotdot: some component of path is "..". */
static int
has_dotdot(const char *path)
{
	const char *p = path, *end;

	while (*p != '\0') {
		end = strchr(p, '/');
		if (end == NULL)
			end = p + strlen(p);
		if (end - p == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		p = *end == '/' ? end + 1 : end;
	}
	return 0;
}

int
bindpath_allowed(const char *src, const char *allowed)
{
	char list[512], *p, *save = NULL;
	size_t n;

	if (src == NULL || src[0] != '/' || has_dotdot(src) ||
	    strpbrk(src, ":,") != NULL)
		return 0;
	if (allowed == NULL || strlen(allowed) >= sizeof(list))
		return 0;
	snprintf(list, sizeof(list), "%s", allowed);
	for (p = strtok_r(list, ",", &save); p != NULL;
	    p = strtok_r(NULL, ",", &save)) {
		while (*p == ' ' || *p == '\t')
			p++;
		n = strlen(p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			p[--n] = '\0';
		while (n > 1 && p[n - 1] == '/')
			p[--n] = '\0';
		if (n == 0 || p[0] != '/')
			continue;	/* not an absolute folder */
		if (n == 1)
			return 1;	/* "/": everything */
		if (strncmp(src, p, n) == 0 &&
		    (src[n] == '/' || src[n] == '\0'))
			return 1;
	}
	return 0;
}

