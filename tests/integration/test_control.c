/* SPDX-License-Identifier: Apache-2.0 */
// links:
/* test_control.c: who may use ferryd's CLI socket.  Its mode and group as
 * ferryd leaves them, and the credentials ferryd checks on every request:
 * root, ferryd's user (here root too) and the operators group are
 * admitted; anyone else is refused, told why, and nothing runs.
 *
 * The tests run as root and play other users with setpriv(1): uid 65534
 * (nobody), and a uid with no user entry at all.  A test that needs an
 * operators group makes one with groupadd, named ferry-t<pid>, and removes
 * it when it ends, whatever happened. */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

#define SETPRIV		"/usr/bin/setpriv"
#define NOBODY		"65534"
#define NO_USER		"64999"	/* no user entry */
#define DB		"ferryd/ferryd.db"

static struct h_fleet F;
static struct h_run R;
static char group[32];		/* the test's group; "" when none */

static void
setup(void)
{
	group[0] = '\0';
	h_init(&F);
}

static void
teardown(void)
{
	struct h_run *r;

	if (group[0] != '\0') {
		r = malloc(sizeof(*r));
		if (r != NULL) {
			h_run(r, (const char *[]){ "/usr/sbin/groupdel", group,
			    NULL });
			free(r);
		}
		group[0] = '\0';
	}
	h_fini(&F);
}

TestSuite(control, .init = setup, .fini = teardown, .timeout = 60);

/* make_group adds the test's group, with member as a listed member when
 * not NULL, and returns its gid. */
static gid_t
make_group(const char *member)
{
	struct group *g;

	snprintf(group, sizeof(group), "ferry-t%d", (int)getpid());
	if (member != NULL)
		h_run(&R, (const char *[]){ "/usr/sbin/groupadd", "-U", member,
		    group, NULL });
	else
		h_run(&R, (const char *[]){ "/usr/sbin/groupadd", group,
		    NULL });
	if (R.status != 0)
		group[0] = '\0';	/* not ours to remove */
	cr_assert_eq(R.status, 0, "groupadd: %s", R.err);
	g = getgrnam(group);
	cr_assert_not_null(g, "group %s not found after groupadd", group);
	return g->gr_gid;
}

/* start runs ferryd with operators_group set to ops. */
static void
start(const char *ops)
{
	h_start_ferryd(&F, (const char *[]){ "--operators-group", ops, NULL });
}

/* reach lets everyone through the test's folder to the socket; with
 * open_socket the socket itself is opened to everyone too, so that only
 * ferryd's own check stands between a stranger and ferryd. */
static void
reach(int open_socket)
{
	cr_assert_eq(chmod(F.dir, 0711), 0, "chmod %s: %s", F.dir,
	    strerror(errno));
	if (open_socket)
		cr_assert_eq(chmod(F.sock, 0666), 0, "chmod %s: %s", F.sock,
		    strerror(errno));
}

/* as runs the CLI as uid, with gid as its group and, with init_groups,
 * the supplementary groups the group database gives uid's user (else
 * none). */
static void
as(const char *uid, const char *gid, int init_groups,
    const char *const *args)
{
	const char *argv[32];
	char bin[512], reuid[32], regid[32];
	int i = 0, j;

	snprintf(reuid, sizeof(reuid), "--reuid=%s", uid);
	snprintf(regid, sizeof(regid), "--regid=%s", gid);
	argv[i++] = SETPRIV;
	argv[i++] = reuid;
	argv[i++] = regid;
	argv[i++] = init_groups ? "--init-groups" : "--clear-groups";
	argv[i++] = h_bin("ferry", bin, sizeof(bin));
	argv[i++] = "--socket";
	argv[i++] = F.sock;
	for (j = 0; args[j] != NULL && i < 31; j++)
		argv[i++] = args[j];
	argv[i] = NULL;
	h_run(&R, argv);
}

static long long
tokens(void)
{
	return h_db_int(&F, DB, "SELECT count(*) FROM tokens", NULL, 0, NULL);
}

static long long
token_events(const char *actor)
{
	return h_db_int(&F, DB, "SELECT count(*) FROM events WHERE kind = "
	    "'token-created' AND actor = ?", NULL, 0, actor);
}

/* ---- the socket file ------------------------------------------------- */

Test(control, socket_is_0600_without_an_operators_group)
{
	struct stat sb;
	char missing[48];

	snprintf(missing, sizeof(missing), "ferry-none%d", (int)getpid());
	cr_assert_null(getgrnam(missing), "group %s exists", missing);
	start(missing);
	cr_assert_eq(stat(F.sock, &sb), 0, "stat %s: %s", F.sock,
	    strerror(errno));
	cr_assert(S_ISSOCK(sb.st_mode));
	cr_assert_eq(sb.st_mode & 07777, 0600, "socket mode %04o, want 0600",
	    (unsigned)(sb.st_mode & 07777));
	cr_assert_eq(sb.st_uid, geteuid());
	cr_assert(h_log_has(F.ferryd, "does not exist: only root and "
	    "ferryd's user may use"), "ferryd does not say why the socket "
	    "stays 0600");
}

Test(control, socket_is_0660_for_the_operators_group)
{
	struct stat sb;
	gid_t gid = make_group(NULL);

	start(group);
	cr_assert_eq(stat(F.sock, &sb), 0, "stat %s: %s", F.sock,
	    strerror(errno));
	cr_assert(S_ISSOCK(sb.st_mode));
	/* Nothing for others, ever: the group and the owner only. */
	cr_assert_eq(sb.st_mode & 07777, 0660, "socket mode %04o, want 0660",
	    (unsigned)(sb.st_mode & 07777));
	cr_assert_eq(sb.st_gid, gid, "socket group %u, want %s (%u)",
	    (unsigned)sb.st_gid, group, (unsigned)gid);
	cr_assert_eq(sb.st_uid, geteuid());
}

/* ---- who is admitted ------------------------------------------------- */

Test(control, stranger_is_refused_and_nothing_runs)
{
	make_group(NULL);
	start(group);
	reach(1);
	/* Root (ferryd's user here too) is admitted. */
	h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
	cr_assert_eq(R.status, 0, "root: %s", R.err);

	/* nobody, not in the group: refused before anything is read. */
	as(NOBODY, NOBODY, 1, (const char *[]){ "token", "create", NULL });
	cr_assert_eq(R.status, 1, "status %d: %s%s", R.status, R.out, R.err);
	cr_assert(strstr(R.err, "ferry: not allowed: uid " NOBODY " is not "
	    "root, not ferryd's user and not in ferryd's operators group") !=
	    NULL, "%s", R.err);
	cr_assert(strstr(R.err, group) != NULL, "%s", R.err);
	cr_assert_str_eq(R.out, "");
	cr_assert(h_wait_log(F.ferryd, "control: refused uid:" NOBODY ": uid "
	    NOBODY " is not root", 3000), "the refusal is not logged");
	cr_assert_eq(tokens(), 0, "a refused request created a token");
	cr_assert_eq(token_events("uid:" NOBODY), 0);

	/* A uid with no user entry, whatever it asks. */
	as(NO_USER, NO_USER, 0, (const char *[]){ "hosts", NULL });
	cr_assert_eq(R.status, 1, "status %d: %s%s", R.status, R.out, R.err);
	cr_assert(strstr(R.err, "not allowed: uid " NO_USER " is not root") !=
	    NULL, "%s", R.err);
	cr_assert(h_wait_log(F.ferryd, "control: refused uid:" NO_USER,
	    3000));

	/* The refusals changed nothing: root still gets its token, the
	 * only one. */
	h_ferry(&F, &R, (const char *[]){ "token", "create", NULL });
	cr_assert_eq(R.status, 0, "root: %s", R.err);
	cr_assert_eq(tokens(), 1);
}

Test(control, missing_operators_group_admits_no_one_else)
{
	char missing[48];

	snprintf(missing, sizeof(missing), "ferry-none%d", (int)getpid());
	start(missing);
	reach(1);
	as(NOBODY, NOBODY, 0, (const char *[]){ "hosts", NULL });
	cr_assert_eq(R.status, 1, "status %d: %s%s", R.status, R.out, R.err);
	cr_assert(strstr(R.err, "not allowed: uid " NOBODY " is not root and "
	    "not ferryd's user, and ferryd's operators group") != NULL, "%s",
	    R.err);
	cr_assert(strstr(R.err, "does not exist") != NULL, "%s", R.err);
}

Test(control, stranger_without_access_to_the_socket_is_told_so)
{
	make_group(NULL);
	start(group);
	reach(0);	/* the socket as ferryd made it: 0660 */
	as(NOBODY, NOBODY, 1, (const char *[]){ "hosts", NULL });
	cr_assert_eq(R.status, 3, "status %d: %s%s", R.status, R.out, R.err);
	cr_assert(strstr(R.err, "not allowed to use ferryd's socket") != NULL,
	    "%s", R.err);
}

Test(control, operator_listed_in_the_group_is_admitted)
{
	make_group("nobody");
	start(group);
	reach(0);	/* the socket as ferryd made it: the group's way in */
	/* nobody's own group is nogroup; the group database lists it in
	 * the operators group, which its login (initgroups) gives it. */
	as(NOBODY, NOBODY, 1, (const char *[]){ "token", "create", NULL });
	cr_assert_eq(R.status, 0, "status %d: %s", R.status, R.err);
	cr_assert_eq(tokens(), 1);
	/* The audit log names who asked. */
	cr_assert_eq(token_events("uid:" NOBODY), 1);
	as(NOBODY, NOBODY, 1, (const char *[]){ "hosts", NULL });
	cr_assert_eq(R.status, 0, "status %d: %s", R.status, R.err);
	cr_assert(!h_log_has(F.ferryd, "control: refused"));
}

Test(control, process_of_the_operators_group_is_admitted)
{
	char gid[16];

	/* A uid the group database knows nothing of, running with the
	 * operators group as its own group: the peer's gid admits it. */
	snprintf(gid, sizeof(gid), "%u", (unsigned)make_group(NULL));
	start(group);
	reach(0);
	as(NO_USER, gid, 0, (const char *[]){ "token", "create", NULL });
	cr_assert_eq(R.status, 0, "status %d: %s", R.status, R.err);
	cr_assert_eq(token_events("uid:" NO_USER), 1);
	cr_assert(!h_log_has(F.ferryd, "control: refused"));
}
