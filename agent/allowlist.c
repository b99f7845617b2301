/* SPDX-License-Identifier: Apache-2.0 */
/* allowlist.c: which container settings an agent runs, and which it
 * refuses. */
#include <stdio.h>
#include <string.h>

#include "allowlist.h"
#include "bindpath.h"
#include "ferr.h"

int
allowlist_bind(const char *src, const char *allowed)
{
	return bindpath_allowed(src, allowed);
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
