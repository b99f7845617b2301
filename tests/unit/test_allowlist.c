/* SPDX-License-Identifier: Apache-2.0 */
// links: agent/allowlist.c
/* test_allowlist.c: the container settings an agent refuses: privileged,
 * the host's (or another container's) namespaces, added capabilities, and
 * binds outside its allowed folders. */
#include <string.h>

#include <criterion/criterion.h>

#include "allowlist.h"
#include "ferr.h"

#define ALLOWED	"/srv/data"

/* ---- binds --------------------------------------------------------------- */

Test(allowlist_bind, the_allowed_folder_itself)
{
	cr_assert_eq(allowlist_bind("/srv/data", ALLOWED), 1);
	cr_assert_eq(allowlist_bind("/srv/data/", ALLOWED), 1);
	/* Written with a trailing slash in the list: the same folder. */
	cr_assert_eq(allowlist_bind("/srv/data", "/srv/data/"), 1);
}

Test(allowlist_bind, folders_below_it)
{
	cr_assert_eq(allowlist_bind("/srv/data/web", ALLOWED), 1);
	cr_assert_eq(allowlist_bind("/srv/data/web/logs/today", ALLOWED), 1);
	/* Names that merely start with dots are names. */
	cr_assert_eq(allowlist_bind("/srv/data/..web", ALLOWED), 1);
	cr_assert_eq(allowlist_bind("/srv/data/web..", ALLOWED), 1);
	cr_assert_eq(allowlist_bind("/srv/data/.cache", ALLOWED), 1);
}

Test(allowlist_bind, a_prefix_that_is_not_a_folder_boundary)
{
	cr_assert_eq(allowlist_bind("/srv/data2", ALLOWED), 0);
	cr_assert_eq(allowlist_bind("/srv/database", ALLOWED), 0);
	cr_assert_eq(allowlist_bind("/srv/data2/x", ALLOWED), 0);
	cr_assert_eq(allowlist_bind("/srv/data.old", ALLOWED), 0);
	cr_assert_eq(allowlist_bind("/srv/dat", ALLOWED), 0);
}

Test(allowlist_bind, folders_above_or_beside_it)
{
	cr_assert_eq(allowlist_bind("/srv", ALLOWED), 0);
	cr_assert_eq(allowlist_bind("/", ALLOWED), 0);
	cr_assert_eq(allowlist_bind("/etc", ALLOWED), 0);
	cr_assert_eq(allowlist_bind("/var/run/docker.sock", ALLOWED), 0);
}

Test(allowlist_bind, dot_dot_anywhere)
{
	cr_assert_eq(allowlist_bind("/srv/data/../../etc", ALLOWED), 0);
	cr_assert_eq(allowlist_bind("/srv/data/web/../../../etc", ALLOWED),
	    0);
	cr_assert_eq(allowlist_bind("/srv/data/..", ALLOWED), 0);
	cr_assert_eq(allowlist_bind("/srv/data/../", ALLOWED), 0);
	cr_assert_eq(allowlist_bind("/srv/data/web/..", ALLOWED), 0);
	cr_assert_eq(allowlist_bind("/srv/data/web/../x", ALLOWED), 0);
	/* Refused even where it would land inside. */
	cr_assert_eq(allowlist_bind("/srv/data/web/../x", "/"), 0);
}

Test(allowlist_bind, relative_or_empty_paths)
{
	cr_assert_eq(allowlist_bind("srv/data", ALLOWED), 0);
	cr_assert_eq(allowlist_bind("./srv/data", ALLOWED), 0);
	cr_assert_eq(allowlist_bind("..", ALLOWED), 0);
	cr_assert_eq(allowlist_bind("", ALLOWED), 0);
	cr_assert_eq(allowlist_bind(NULL, ALLOWED), 0);
	/* A named volume is not a host path. */
	cr_assert_eq(allowlist_bind("data", ALLOWED), 0);
}

Test(allowlist_bind, docker_separators_in_the_path)
{
	/* "src:dst[:mode]": a ':' would move the rest into the target. */
	cr_assert_eq(allowlist_bind("/srv/data/:/etc", ALLOWED), 0);
	cr_assert_eq(allowlist_bind("/srv/data/x:rw", ALLOWED), 0);
	cr_assert_eq(allowlist_bind("/srv/data/a,b", ALLOWED), 0);
}

Test(allowlist_bind, lists_of_folders)
{
	const char *list = " /srv/www , /srv/data/ ,, /opt/app";

	cr_assert_eq(allowlist_bind("/srv/www/site", list), 1);
	cr_assert_eq(allowlist_bind("/srv/data", list), 1);
	cr_assert_eq(allowlist_bind("/opt/app", list), 1);
	cr_assert_eq(allowlist_bind("/srv/www2", list), 0);
	cr_assert_eq(allowlist_bind("/opt", list), 0);
	cr_assert_eq(allowlist_bind("/srv", list), 0);
}

Test(allowlist_bind, nothing_allowed_allows_nothing)
{
	cr_assert_eq(allowlist_bind("/srv/data", ""), 0);
	cr_assert_eq(allowlist_bind("/srv/data", " , "), 0);
	cr_assert_eq(allowlist_bind("/srv/data", NULL), 0);
	/* A relative entry names no folder. */
	cr_assert_eq(allowlist_bind("/srv/data", "srv/data"), 0);
}

Test(allowlist_bind, the_root_allows_every_absolute_path)
{
	cr_assert_eq(allowlist_bind("/etc", "/"), 1);
	cr_assert_eq(allowlist_bind("/srv/data/x", "/"), 1);
	cr_assert_eq(allowlist_bind("etc", "/"), 0);
}

/* ---- whole Swaps ---------------------------------------------------------- */

static char why[256];

/* check runs allowlist_check on s, binds allowed under ALLOWED. */
static int
check(const Ferry__Swap *s)
{
	memset(why, 0, sizeof(why));
	return allowlist_check(s, ALLOWED, why, sizeof(why));
}

/* refused: s is refused, and why starts "refused: " and says text. */
static void
refused(const Ferry__Swap *s, const char *text)
{
	cr_assert_eq(check(s), FERR_PERM, "allowed; want refused for %s",
	    text);
	cr_assert(strncmp(why, "refused: ", 9) == 0, "%s", why);
	cr_assert(strstr(why, text) != NULL, "\"%s\" does not say \"%s\"",
	    why, text);
}

Test(allowlist_check, a_plain_swap_passes)
{
	Ferry__Swap s = FERRY__SWAP__INIT;

	cr_assert_eq(check(&s), 0, "%s", why);
	s.network_mode = "";
	s.pid_mode = "";
	cr_assert_eq(check(&s), 0, "%s", why);
	s.network_mode = "bridge";
	cr_assert_eq(check(&s), 0, "%s", why);
	s.network_mode = "default";
	cr_assert_eq(check(&s), 0, "%s", why);
}

Test(allowlist_check, privileged)
{
	Ferry__Swap s = FERRY__SWAP__INIT;

	s.privileged = 1;
	refused(&s, "privileged containers are not allowed");
}

Test(allowlist_check, host_network)
{
	Ferry__Swap s = FERRY__SWAP__INIT;

	s.network_mode = "host";
	refused(&s, "network mode \"host\" is not allowed");
}

Test(allowlist_check, other_network_namespaces)
{
	Ferry__Swap s = FERRY__SWAP__INIT;

	/* Another container's namespace, none at all, a name Docker may
	 * take for a network, a case Docker does not use. */
	s.network_mode = "container:0123abcd";
	refused(&s, "network mode \"container:0123abcd\"");
	s.network_mode = "none";
	refused(&s, "network mode \"none\"");
	s.network_mode = "my-net";
	refused(&s, "network mode \"my-net\"");
	s.network_mode = "HOST";
	refused(&s, "network mode \"HOST\"");
}

Test(allowlist_check, host_pid)
{
	Ferry__Swap s = FERRY__SWAP__INIT;

	s.pid_mode = "host";
	refused(&s, "pid mode \"host\" is not allowed");
}

Test(allowlist_check, other_pid_namespaces)
{
	Ferry__Swap s = FERRY__SWAP__INIT;

	s.pid_mode = "container:0123abcd";
	refused(&s, "pid mode \"container:0123abcd\"");
	s.pid_mode = "private";
	refused(&s, "pid mode \"private\"");
}

Test(allowlist_check, added_capabilities)
{
	Ferry__Swap s = FERRY__SWAP__INIT;
	char *caps[] = { "SYS_ADMIN" };

	s.n_cap_add = 1;
	s.cap_add = caps;
	refused(&s, "added capabilities (SYS_ADMIN)");
}

Test(allowlist_check, binds_inside_pass_and_outside_are_named)
{
	Ferry__Swap s = FERRY__SWAP__INIT;
	Ferry__Bind in = FERRY__BIND__INIT, below = FERRY__BIND__INIT;
	Ferry__Bind out = FERRY__BIND__INIT;
	Ferry__Bind *binds[3] = { &in, &below, &out };

	in.source = "/srv/data";
	in.target = "/data";
	below.source = "/srv/data/web";
	below.target = "/web";
	below.read_only = 1;
	s.binds = binds;
	s.n_binds = 2;
	cr_assert_eq(check(&s), 0, "%s", why);

	out.source = "/srv/data2";
	out.target = "/x";
	s.n_binds = 3;
	refused(&s, "bind of /srv/data2 is outside the agent's allowed "
	    "paths");
	out.source = "/srv/data/../../etc";
	refused(&s, "bind of /srv/data/../../etc");
	out.source = "/etc";
	refused(&s, "bind of /etc");

	/* With nothing allowed, no bind passes. */
	s.n_binds = 1;
	memset(why, 0, sizeof(why));
	cr_assert_eq(allowlist_check(&s, "", why, sizeof(why)), FERR_PERM);
	cr_assert(strstr(why, "bind of /srv/data") != NULL, "%s", why);
}

Test(allowlist_check, the_first_refused_setting_is_named)
{
	Ferry__Swap s = FERRY__SWAP__INIT;

	s.network_mode = "host";
	s.pid_mode = "host";
	refused(&s, "network mode \"host\"");
	cr_assert(strstr(why, "pid") == NULL, "%s", why);
}
