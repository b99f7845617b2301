/* SPDX-License-Identifier: Apache-2.0 */
// links: agent/secretfs.c
/* test_secretfs.c: containers' secret files: opened from their sealed
 * form with the host's key, mode 0400 in a folder of 0500 owned by the
 * container's user, refused whole on a bad name or a value sealed to
 * another key, removed, swept; the image's user read as an owner. */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "unit.h"
#include <sodium.h>

#include "ferr.h"
#include "secretfs.h"

static char dir[64];
static uint8_t xpk[32], xsk[32];

static void
setup(void)
{
	cr_assert(sodium_init() >= 0);
	/* /dev/shm is a tmpfs: secretfs_ready mounts nothing there. */
	snprintf(dir, sizeof(dir), "/dev/shm/ferry-test-secretfs.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	crypto_box_keypair(xpk, xsk);
}

static void
teardown(void)
{
	unit_rmtree(dir);
}

TestSuite(secretfs, .init = setup, .fini = teardown, .timeout = 20);

static Ferry__SealedSecret *
sealed(const char *name, const char *value, const uint8_t *pk)
{
	Ferry__SealedSecret *s = calloc(1, sizeof(*s));
	size_t n = strlen(value);

	cr_assert_not_null(s);
	ferry__sealed_secret__init(s);
	s->name = (char *)name;
	s->sealed.len = n + crypto_box_SEALBYTES;
	s->sealed.data = malloc(s->sealed.len);
	cr_assert_eq(crypto_box_seal(s->sealed.data, (const uint8_t *)value,
	    n, pk), 0);
	return s;
}

static void
free_sealed(Ferry__SealedSecret *s)
{
	free(s->sealed.data);
	free(s);
}

static void
read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	cr_assert_not_null(f, "%s", path);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

Test(secretfs, written_opened_owned_and_removed)
{
	Ferry__SealedSecret *s[2] = { sealed("DB_PASSWORD", "hunter2", xpk),
	    sealed("api.key", "", xpk) };
	char bind[1400], why[200], p[1200], buf[64];
	struct stat sb;

	cr_assert_eq(secretfs_write(dir, "ferry-h-web-r3", s, 2, xpk, xsk,
	    1000, 1001, bind, sizeof(bind), why, sizeof(why)), 0, "%s", why);
	snprintf(p, sizeof(p), "%s/ferry-h-web-r3:/run/secrets:ro", dir);
	cr_assert_str_eq(bind, p);
	snprintf(p, sizeof(p), "%s/ferry-h-web-r3", dir);
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0500);
	cr_assert(sb.st_uid == 1000 && sb.st_gid == 1001);
	snprintf(p, sizeof(p), "%s/ferry-h-web-r3/DB_PASSWORD", dir);
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0400);
	cr_assert(sb.st_uid == 1000 && sb.st_gid == 1001);
	read_file(p, buf, sizeof(buf));
	cr_assert_str_eq(buf, "hunter2");
	snprintf(p, sizeof(p), "%s/ferry-h-web-r3/api.key", dir);
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_eq(sb.st_size, 0, "an empty value is an empty file");

	/* Written again (a kept container started again): afresh. */
	cr_assert_eq(secretfs_write(dir, "ferry-h-web-r3", s, 1, xpk, xsk, 0,
	    0, bind, sizeof(bind), why, sizeof(why)), 0, "%s", why);
	cr_assert_neq(stat(p, &sb), 0, "api.key is no longer there");

	cr_assert_eq(secretfs_remove(dir, "ferry-h-web-r3"), 0);
	snprintf(p, sizeof(p), "%s/ferry-h-web-r3", dir);
	cr_assert_neq(stat(p, &sb), 0);
	cr_assert_eq(secretfs_remove(dir, "ferry-h-web-r3"), 0, "twice");
	free_sealed(s[0]);
	free_sealed(s[1]);
}

Test(secretfs, refused_whole)
{
	uint8_t opk[32], osk[32];
	Ferry__SealedSecret *s[2] = { sealed("OK", "v", xpk),
	    sealed("../escape", "v", xpk) };
	char bind[1400], why[200], p[1200];
	struct stat sb;

	cr_assert_eq(secretfs_write(dir, "c1", s, 2, xpk, xsk, 0, 0, bind,
	    sizeof(bind), why, sizeof(why)), FERR_ARG);
	cr_assert_str_eq(why, "refused: a secret's name is not a plain file "
	    "name");
	snprintf(p, sizeof(p), "%s/c1", dir);
	cr_assert_neq(stat(p, &sb), 0, "nothing written");
	free_sealed(s[1]);

	/* Sealed to another host: does not open, nothing is left. */
	crypto_box_keypair(opk, osk);
	s[1] = sealed("OTHER", "v", opk);
	cr_assert_eq(secretfs_write(dir, "c1", s, 2, xpk, xsk, 0, 0, bind,
	    sizeof(bind), why, sizeof(why)), FERR_MALFORMED);
	cr_assert_str_eq(why, "secret OTHER: does not open with this host's "
	    "key");
	cr_assert_neq(stat(p, &sb), 0, "nothing left");
	free_sealed(s[1]);
	s[1] = sealed("OK", "w", xpk);
	cr_assert_eq(secretfs_write(dir, "c1", s, 2, xpk, xsk, 0, 0, bind,
	    sizeof(bind), why, sizeof(why)), FERR_ARG);
	cr_assert_str_eq(why, "refused: secret OK comes twice");
	cr_assert_eq(secretfs_write(dir, "../c1", s, 1, xpk, xsk, 0, 0, bind,
	    sizeof(bind), why, sizeof(why)), FERR_ARG);
	free_sealed(s[0]);
	free_sealed(s[1]);
}

Test(secretfs, sweep_keeps_only_live_containers)
{
	Ferry__SealedSecret *s[1] = { sealed("A", "v", xpk) };
	const char *live[] = { "c2" };
	char bind[1400], why[200], p[1200];
	struct stat sb;

	cr_assert_eq(secretfs_write(dir, "c1", s, 1, xpk, xsk, 0, 0, bind,
	    sizeof(bind), why, sizeof(why)), 0);
	cr_assert_eq(secretfs_write(dir, "c2", s, 1, xpk, xsk, 0, 0, bind,
	    sizeof(bind), why, sizeof(why)), 0);
	cr_assert_eq(secretfs_sweep(dir, live, 1), 1);
	snprintf(p, sizeof(p), "%s/c1", dir);
	cr_assert_neq(stat(p, &sb), 0);
	snprintf(p, sizeof(p), "%s/c2/A", dir);
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_eq(secretfs_sweep("/dev/shm/ferry-no-such-dir", live, 1), 0);
	free_sealed(s[0]);
}

Test(secretfs, the_image_user_as_owner)
{
	uid_t u;
	gid_t g;

	secretfs_user("", &u, &g);
	cr_assert(u == 0 && g == 0);
	secretfs_user("1000", &u, &g);
	cr_assert(u == 1000 && g == 1000);
	secretfs_user("1000:50", &u, &g);
	cr_assert(u == 1000 && g == 50);
	secretfs_user("nobody", &u, &g);
	cr_assert(u == 0 && g == 0, "a name means nothing outside the image");
	secretfs_user("1000:staff", &u, &g);
	cr_assert(u == 0 && g == 0);
	secretfs_user("10x", &u, &g);
	cr_assert(u == 0 && g == 0);
}
