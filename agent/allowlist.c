/* SPDX-License-Identifier: Apache-2.0 */
/* allowlist.c: which container settings an agent runs, and which it
 * refuses. */
#include <stdio.h>
#include <string.h>

#include "allowlist.h"
#include "ferr.h"

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
allowlist_bind(const char *src, const char *allowed)
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

int
allowlist_check(const Ferry__Swap *s, const char *allowed_binds, char *why,
    size_t len)
{
	size_t i;

	if (s->privileged) {
		snprintf(why, len, "refused: privileged containers are not "
		    "allowed on this agent");
		return FERR_PERM;
	}
	if (s->network_mode != NULL && s->network_mode[0] != '\0' &&
	    strcmp(s->network_mode, "bridge") != 0 &&
	    strcmp(s->network_mode, "default") != 0) {
		snprintf(why, len, "refused: network mode \"%s\" is not "
		    "allowed on this agent", s->network_mode);
		return FERR_PERM;
	}
	if (s->pid_mode != NULL && s->pid_mode[0] != '\0') {
		snprintf(why, len, "refused: pid mode \"%s\" is not allowed "
		    "on this agent", s->pid_mode);
		return FERR_PERM;
	}
	if (s->n_cap_add > 0) {
		snprintf(why, len, "refused: added capabilities (%s) are not "
		    "allowed on this agent", s->cap_add[0]);
		return FERR_PERM;
	}
	for (i = 0; i < s->n_binds; i++) {
		const char *src = s->binds[i] != NULL ?
		    s->binds[i]->source : NULL;

		if (!allowlist_bind(src, allowed_binds)) {
			snprintf(why, len, "refused: bind of %s is outside the "
			    "agent's allowed paths", src != NULL ? src : "");
			return FERR_PERM;
		}
	}
	return 0;
}
