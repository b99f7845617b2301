/* SPDX-License-Identifier: Apache-2.0 */
/* test_keys.c: key pairs on disk, fingerprints and atomic private files. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "unit.h"
#include <sodium.h>

#include "ferr.h"
#include "keys.h"

static char dir[64];

static void
setup(void)
{
	cr_assert_eq(crypto_init(), 0);
	snprintf(dir, sizeof(dir), "/tmp/ferry-test-keys.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void
teardown(void)
{
	unit_rmtree(dir);
}

TestSuite(keys, .init = setup, .fini = teardown, .timeout = 20);

static const char *
in_dir(const char *name)
{
	static char buf[4][PATH_MAX];
	static int next;
	char *p = buf[next++ % 4];

	cr_assert_lt(snprintf(p, PATH_MAX, "%s/%s", dir, name), PATH_MAX);
	return p;
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "stat %s", path);
	return st.st_mode & 07777;
}

/* Number of entries in dir other than . and .. */
static int
entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
write_raw(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

static char *
read_all(const char *path)
{
	char *text;

	cr_assert_eq(file_read(path, 4096, &text, NULL), 0);
	return text;
}

/* A signature made with kp verifies with kp's public key. */
static void
assert_signs(const struct keypair *kp)
{
	static const uint8_t msg[] = "ferry";
	uint8_t sig[crypto_sign_BYTES];

	crypto_sign_detached(sig, NULL, msg, sizeof(msg), kp->sk);
	cr_assert_eq(crypto_sign_verify_detached(sig, msg, sizeof(msg),
	    kp->pk), 0);
}

Test(keys, generate_gives_distinct_working_pairs)
{
	struct keypair a, b;

	cr_assert_eq(keys_generate(&a), 0);
	cr_assert_eq(keys_generate(&b), 0);
	cr_assert_neq(memcmp(a.pk, b.pk, KEY_PUBLIC_LEN), 0);
	assert_signs(&a);
	assert_signs(&b);
}

Test(keys, save_load_round_trip)
{
	struct keypair kp, back;
	const char *path = in_dir("host.key");

	cr_assert_eq(keys_generate(&kp), 0);
	cr_assert_eq(keys_save(path, &kp), 0);
	memset(&back, 0, sizeof(back));
	cr_assert_eq(keys_load(path, &back), 0);
	cr_assert_eq(memcmp(back.pk, kp.pk, KEY_PUBLIC_LEN), 0);
	cr_assert_eq(memcmp(back.sk, kp.sk, KEY_SECRET_LEN), 0);
	assert_signs(&back);
	/* Only the key file is left behind. */
	cr_assert_eq(entries(), 1);
}

Test(keys, saved_mode_is_0600_whatever_the_umask)
{
	static const mode_t masks[] = { 0, 022, 0277, 0777 };
	struct keypair kp;
	uint8_t pk[KEY_PUBLIC_LEN];
	const char *path = in_dir("host.key"), *pub = in_dir("ferryd.pub");

	cr_assert_eq(keys_generate(&kp), 0);
	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		mode_t old = umask(masks[i]);
		cr_assert_eq(keys_save(path, &kp), 0, "umask %o", masks[i]);
		cr_assert_eq(keys_save_public(pub, kp.pk), 0);
		umask(old);
		cr_assert_eq(mode_of(path), 0600, "umask %o: mode %o",
		    masks[i], mode_of(path));
		cr_assert_eq(mode_of(pub), 0600, "umask %o", masks[i]);
		cr_assert_eq(keys_load(path, &kp), 0);
		cr_assert_eq(keys_load_public(pub, pk), 0);
	}
}

Test(keys, readable_by_others_refused)
{
	static const mode_t bad[] = { 0644, 0640, 0604, 0660, 0606, 0610,
	    0601 };
	struct keypair kp, back;
	uint8_t pk[KEY_PUBLIC_LEN];
	const char *path = in_dir("host.key"), *pub = in_dir("ferryd.pub");

	cr_assert_eq(keys_generate(&kp), 0);
	cr_assert_eq(keys_save(path, &kp), 0);
	cr_assert_eq(keys_save_public(pub, kp.pk), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(chmod(path, bad[i]), 0);
		cr_assert_eq(keys_load(path, &back), FERR_PERM, "mode %o",
		    bad[i]);
		cr_assert_eq(chmod(pub, bad[i]), 0);
		cr_assert_eq(keys_load_public(pub, pk), FERR_PERM, "mode %o",
		    bad[i]);
	}
	/* Owner-only modes are fine. */
	cr_assert_eq(chmod(path, 0400), 0);
	cr_assert_eq(keys_load(path, &back), 0);
	cr_assert_eq(memcmp(back.pk, kp.pk, KEY_PUBLIC_LEN), 0);
}

Test(keys, missing_is_notfound)
{
	struct keypair kp;
	uint8_t pk[KEY_PUBLIC_LEN];

	cr_assert_eq(keys_load(in_dir("nope.key"), &kp), FERR_NOTFOUND);
	cr_assert_eq(keys_load_public(in_dir("nope.pub"), pk), FERR_NOTFOUND);
	cr_assert_eq(entries(), 0);
}

Test(keys, damaged_is_malformed)
{
	struct keypair kp, back;
	const char *path = in_dir("host.key");
	char *good, *text;
	size_t n;

	cr_assert_eq(keys_generate(&kp), 0);
	cr_assert_eq(keys_save(path, &kp), 0);
	good = read_all(path);
	n = strlen(good);
	cr_assert_eq(strncmp(good, "ferry-ed25519-secret ", 21), 0);
	cr_assert_eq(good[n - 1], '\n');

	const char *cases[] = {
		"",
		"\n",
		"ferry-ed25519-secret \n",
		"ferry-ed25519-secret !!!!\n",
		"ferry-ed25519-public AAAA\n",
		"ferry-ed25519-secret AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_raw(path, cases[i], 0600);
		cr_assert_eq(keys_load(path, &back), FERR_MALFORMED,
		    "case %zu", i);
	}

	text = strdup(good);
	cr_assert_not_null(text);
	/* Truncated anywhere inside the key. */
	for (size_t cut = 21; cut < n - 3; cut += 7) {
		text[cut] = '\n';
		text[cut + 1] = '\0';
		write_raw(path, text, 0600);
		cr_assert_eq(keys_load(path, &back), FERR_MALFORMED,
		    "cut at %zu", cut);
		strcpy(text, good);
	}
	/* Wrong prefix on an otherwise good key. */
	text[6] = 'X';
	write_raw(path, text, 0600);
	cr_assert_eq(keys_load(path, &back), FERR_MALFORMED);
	strcpy(text, good);
	/* One character of the key changed, in the seed half and in the
	 * public half: the halves no longer belong together. */
	for (size_t at = 22; at < n - 4; at += 11) {
		text[at] = text[at] == 'A' ? 'B' : 'A';
		write_raw(path, text, 0600);
		cr_assert_eq(keys_load(path, &back), FERR_MALFORMED,
		    "changed at %zu", at);
		strcpy(text, good);
	}
	/* Garbage after the key. */
	free(text);
	text = malloc(n + 16);
	cr_assert_not_null(text);
	snprintf(text, n + 16, "%sgarbage\n", good);
	write_raw(path, text, 0600);
	cr_assert_eq(keys_load(path, &back), FERR_MALFORMED);
	free(text);
	/* A file far too large to be a key. */
	text = malloc(8192);
	cr_assert_not_null(text);
	memset(text, 'A', 8191);
	text[8191] = '\0';
	write_raw(path, text, 0600);
	cr_assert_neq(keys_load(path, &back), 0);
	free(text);

	/* And the original still loads. */
	write_raw(path, good, 0600);
	cr_assert_eq(keys_load(path, &back), 0);
	cr_assert_eq(memcmp(back.sk, kp.sk, KEY_SECRET_LEN), 0);
	free(good);
}

Test(keys, load_or_create)
{
	struct keypair a, b;
	const char *path = in_dir("host.key");
	int created = -1;

	cr_assert_eq(keys_load_or_create(path, &a, &created), 0);
	cr_assert_eq(created, 1);
	cr_assert_eq(mode_of(path), 0600);
	assert_signs(&a);
	created = -1;
	cr_assert_eq(keys_load_or_create(path, &b, &created), 0);
	cr_assert_eq(created, 0);
	cr_assert_eq(memcmp(a.pk, b.pk, KEY_PUBLIC_LEN), 0);
	cr_assert_eq(memcmp(a.sk, b.sk, KEY_SECRET_LEN), 0);

	/* A key with a bad mode is refused, never replaced. */
	cr_assert_eq(chmod(path, 0644), 0);
	cr_assert_eq(keys_load_or_create(path, &b, &created), FERR_PERM);
	cr_assert_eq(created, 0);
	cr_assert_eq(chmod(path, 0600), 0);
	cr_assert_eq(keys_load(path, &b), 0);
	cr_assert_eq(memcmp(a.sk, b.sk, KEY_SECRET_LEN), 0);

	/* So is a damaged one. */
	write_raw(path, "ferry-ed25519-secret AAAA\n", 0600);
	cr_assert_eq(keys_load_or_create(path, &b, &created), FERR_MALFORMED);
	cr_assert_eq(created, 0);
	cr_assert_eq(keys_load(path, &b), FERR_MALFORMED);
}

Test(keys, public_round_trip)
{
	struct keypair kp;
	uint8_t pk[KEY_PUBLIC_LEN];
	const char *pub = in_dir("ferryd.pub"), *sec = in_dir("host.key");
	char *text;

	cr_assert_eq(keys_generate(&kp), 0);
	cr_assert_eq(keys_save_public(pub, kp.pk), 0);
	cr_assert_eq(keys_load_public(pub, pk), 0);
	cr_assert_eq(memcmp(pk, kp.pk, KEY_PUBLIC_LEN), 0);
	text = read_all(pub);
	cr_assert_eq(strncmp(text, "ferry-ed25519-public ", 21), 0);
	free(text);

	/* A public key file is not a secret key file, nor the reverse. */
	cr_assert_eq(keys_load(pub, &kp), FERR_MALFORMED);
	cr_assert_eq(keys_save(sec, &kp), 0);
	cr_assert_eq(keys_load_public(sec, pk), FERR_MALFORMED);
}

Test(keys, fingerprint)
{
	struct keypair a, b;
	uint8_t f1[KEY_FPR_LEN], f2[KEY_FPR_LEN], h[32];
	char s1[KEY_FPR_STRLEN], s2[KEY_FPR_STRLEN], s3[KEY_FPR_STRLEN];

	cr_assert_eq(keys_generate(&a), 0);
	cr_assert_eq(keys_generate(&b), 0);
	keys_fingerprint(a.pk, f1);
	keys_fingerprint(a.pk, f2);
	cr_assert_eq(memcmp(f1, f2, KEY_FPR_LEN), 0);
	/* The first 16 bytes of BLAKE2b-256 of the key. */
	crypto_generichash(h, sizeof(h), a.pk, KEY_PUBLIC_LEN, NULL, 0);
	cr_assert_eq(memcmp(f1, h, KEY_FPR_LEN), 0);

	keys_fingerprint_str(f1, s1);
	keys_pk_fingerprint_str(a.pk, s2);
	cr_assert_str_eq(s1, s2);
	cr_assert_eq(strlen(s1), 32);
	cr_assert_eq(strspn(s1, "0123456789abcdef"), 32);
	for (int i = 0; i < KEY_FPR_LEN; i++) {
		unsigned v;
		cr_assert_eq(sscanf(s1 + 2 * i, "%2x", &v), 1);
		cr_assert_eq(v, f1[i]);
	}

	keys_pk_fingerprint_str(b.pk, s3);
	cr_assert_str_neq(s1, s3);
	keys_fingerprint(b.pk, f2);
	cr_assert_neq(memcmp(f1, f2, KEY_FPR_LEN), 0);
}

Test(keys, fingerprint_known_value)
{
	uint8_t pk[KEY_PUBLIC_LEN];
	char s[KEY_FPR_STRLEN];

	/* Fixed input, fixed output, computed apart from libsodium
	 * (Python: blake2b(bytes(range(32)), digest_size=32)): the fingerprint
	 * an operator compares never changes between builds or machines. */
	for (int i = 0; i < KEY_PUBLIC_LEN; i++)
		pk[i] = (uint8_t)i;
	keys_pk_fingerprint_str(pk, s);
	cr_assert_str_eq(s, "cb2f5160fc1f7e05a55ef49d340b48da");
}

Test(keys, file_write_atomic_replaces)
{
	const char *path = in_dir("state");
	char *text;
	size_t len;

	cr_assert_eq(file_write_atomic(path, "old content\n", 12, 0600), 0);
	cr_assert_eq(file_write_atomic(path, "new\n", 4, 0644), 0);
	cr_assert_eq(file_read(path, 4096, &text, &len), 0);
	cr_assert_eq(len, 4);
	cr_assert_str_eq(text, "new\n");
	free(text);
	cr_assert_eq(mode_of(path), 0644);
	cr_assert_eq(entries(), 1);

	/* Empty content is content too. */
	cr_assert_eq(file_write_atomic(path, "", 0, 0600), 0);
	cr_assert_eq(file_read(path, 4096, &text, &len), 0);
	cr_assert_eq(len, 0);
	free(text);
	cr_assert_eq(entries(), 1);
}

Test(keys, file_write_atomic_mode_ignores_umask)
{
	const char *path = in_dir("pub");
	mode_t old = umask(077);

	cr_assert_eq(file_write_atomic(path, "x", 1, 0644), 0);
	umask(old);
	cr_assert_eq(mode_of(path), 0644);
}

Test(keys, file_write_atomic_failure_leaves_nothing)
{
	const char *sub = in_dir("sub");
	char *text;

	/* Cannot replace a directory: it stays, and no temp file is left. */
	cr_assert_eq(mkdir(sub, 0700), 0);
	cr_assert_eq(file_write_atomic(sub, "data", 4, 0600), FERR_IO);
	cr_assert_eq(mode_of(sub), 0700);
	cr_assert_eq(entries(), 1);
	/* A folder that does not exist. */
	cr_assert_eq(file_write_atomic(in_dir("no/such/file"), "d", 1, 0600),
	    FERR_IO);
	cr_assert_eq(entries(), 1);
	cr_assert_eq(file_read(in_dir("no/such/file"), 10, &text, NULL),
	    FERR_NOTFOUND);
	cr_assert_null(text);
}

Test(keys, file_read_limits)
{
	const char *path = in_dir("f");
	char *text;
	size_t len;

	cr_assert_eq(file_write_atomic(path, "0123456789", 10, 0600), 0);
	cr_assert_eq(file_read(path, 10, &text, &len), 0);
	cr_assert_eq(len, 10);
	cr_assert_str_eq(text, "0123456789");
	free(text);
	cr_assert_eq(file_read(path, 9, &text, &len), FERR_TOOBIG);
	cr_assert_null(text);
}

Test(keys, mkdir_private)
{
	const char *sub = in_dir("state");
	mode_t old = umask(0);

	cr_assert_eq(mkdir_private(sub), 0);
	umask(old);
	cr_assert_eq(mode_of(sub), 0700);
	/* Already there: fine. */
	cr_assert_eq(mkdir_private(sub), 0);
	/* Parents are not created. */
	cr_assert_eq(mkdir_private(in_dir("a/b")), FERR_IO);
}
