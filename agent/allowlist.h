/* SPDX-License-Identifier: Apache-2.0 */
/* allowlist.h: the container settings an agent refuses to run: privileged
 * containers, the host's namespaces, added capabilities, and binds outside
 * the folders its configuration allows. */
#ifndef FERRY_ALLOWLIST_H
#define FERRY_ALLOWLIST_H

#include <stddef.h>

#include "ferry.pb-c.h"

/*
 * allowlist_bind returns 1 when the host path src may be bound into a
 * container under allowed, a comma-separated list of absolute folders
 * (spaces around an entry and trailing slashes do not count; "/" allows
 * every absolute path), else 0.  src must be absolute, have no ".."
 * component and no ':' or ',' (Docker's separators in a bind), and be one
 * of the folders itself or lie below it: the match ends at a folder
 * boundary, so /srv/data allows /srv/data and /srv/data/x but not
 * /srv/data2.
 */
int
allowlist_bind(const char *src, const char *allowed);

/*
 * allowlist_check refuses a Swap asking for a setting the agent does not
 * allow: privileged; a network mode other than the default bridge ("",
 * "bridge", "default"), such as "host", "none" or "container:ID" (another
 * container's namespace); any pid mode ("host", "container:ID"); added
 * capabilities; a bind whose source allowlist_bind refuses under
 * allowed_binds.  Returns 0 when every setting is allowed, else FERR_PERM
 * with why naming the first refused setting ("refused: ...").
 */
int
allowlist_check(const Ferry__Swap *s, const char *allowed_binds, char *why,
    size_t len);

#endif
