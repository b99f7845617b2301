/* SPDX-License-Identifier: Apache-2.0 */
/* bindpath.h: the rule for binds under --allowed-bind-paths, shared by the
 * agent, which enforces it, and ferryd, which refuses a plan that would
 * break it. */
#ifndef FERRY_BINDPATH_H
#define FERRY_BINDPATH_H

/*
 * bindpath_allowed returns 1 when the host path src may be bound into a
 * container under allowed, a comma-separated list of absolute folders
 * (spaces around an entry and trailing slashes do not count; "/" allows
 * every absolute path), else 0.  src must be absolute, have no ".."
 * component and no ':' or ',' (Docker's separators in a bind), and be one
 * of the folders itself or lie below it: the match ends at a folder
 * boundary, so /srv/data allows /srv/data and /srv/data/x but not
 * /srv/data2.  allowed NULL or empty allows nothing.
 */
int
bindpath_allowed(const char *src, const char *allowed);

#endif
