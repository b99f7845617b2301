/* SPDX-License-Identifier: Apache-2.0 */
/* keys.c: key pairs, fingerprints and the atomic writes that keep them. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ferr.h"
#include "keys.h"

#define SECRET_PREFIX	"ferry-ed25519-secret "
#define PUBLIC_PREFIX	"ferry-ed25519-public "

int
crypto_init(void)
{
	return sodium_init() < 0 ? FERR_IO : 0;
}

int
keys_generate(struct keypair *kp)
{
	return crypto_sign_keypair(kp->pk, kp->sk) == 0 ? 0 : FERR_IO;
}

static int
fsync_dir_of(const char *path)
{
	char buf[PATH_MAX];
	int fd, rc;

	if (strlen(path) >= sizeof(buf))
		return FERR_ARG;
	strcpy(buf, path);
	fd = open(dirname(buf), O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return FERR_IO;
	rc = fsync(fd) == 0 ? 0 : FERR_IO;
	close(fd);
	return rc;
}

int
file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	const char *p = data;
	int fd = -1, rc = FERR_IO;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
	    (int)sizeof(tmp))
		return FERR_ARG;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return FERR_IO;
	/* The umask must not widen or narrow what the caller asked for. */
	if (fchmod(fd, mode) != 0)
		goto out;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out;
	rc = fsync_dir_of(path);
	return rc;
out:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int
file_read(const char *path, size_t max, char **out, size_t *out_len)
{
	FILE *f;
	char *buf = NULL;
	size_t n;
	int rc = FERR_IO;

	*out = NULL;
	f = fopen(path, "rbe");
	if (f == NULL)
		return errno == ENOENT ? FERR_NOTFOUND : FERR_IO;
	buf = malloc(max + 1);
	if (buf == NULL) {
		rc = FERR_NOMEM;
		goto out;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f))
		goto out;
	if (n > max) {
		rc = FERR_TOOBIG;
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	if (out_len != NULL)
		*out_len = n;
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

int
mkdir_private(const char *dir)
{
	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	return FERR_IO;
}

/* save_b64 writes "PREFIX<base64>\n" with mode 0600. */
static int
save_b64(const char *path, const char *prefix, const uint8_t *bin, size_t len)
{
	char line[256];
	size_t plen = strlen(prefix);
	int rc;

	memcpy(line, prefix, plen);
	sodium_bin2base64(line + plen, sizeof(line) - plen - 1, bin, len,
	    sodium_base64_VARIANT_ORIGINAL);
	strcat(line, "\n");
	rc = file_write_atomic(path, line, strlen(line), 0600);
	sodium_memzero(line, sizeof(line));
	return rc;
}

/* load_b64 reads a file written by save_b64; the mode must keep group and
 * others out. */
static int
load_b64(const char *path, const char *prefix, uint8_t *bin, size_t len)
{
	struct stat st;
	char *text = NULL;
	size_t got = 0, plen = strlen(prefix);
	int rc;

	if (stat(path, &st) != 0)
		return errno == ENOENT ? FERR_NOTFOUND : FERR_IO;
	if ((st.st_mode & 077) != 0)
		return FERR_PERM;
	if ((rc = file_read(path, 255, &text, NULL)) != 0)
		return rc;
	rc = FERR_MALFORMED;
	if (strncmp(text, prefix, plen) != 0)
		goto out;
	if (sodium_base642bin(bin, len, text + plen, strlen(text + plen),
	    "\n", &got, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != len)
		goto out;
	rc = 0;
out:
	sodium_memzero(text, strlen(text));
	free(text);
	return rc;
}

int
keys_save(const char *path, const struct keypair *kp)
{
	return save_b64(path, SECRET_PREFIX, kp->sk, sizeof(kp->sk));
}

int
keys_load(const char *path, struct keypair *kp)
{
	uint8_t sk[KEY_SECRET_LEN];
	int rc;

	if ((rc = load_b64(path, SECRET_PREFIX, kp->sk, sizeof(kp->sk))) != 0)
		return rc;
	/*
	 * An Ed25519 secret key is its 32-byte seed followed by its public
	 * half.  Derive the pair from the seed again: a damaged file whose
	 * halves no longer belong together is malformed, not a key.
	 */
	rc = crypto_sign_seed_keypair(kp->pk, sk, kp->sk) == 0 &&
	    sodium_memcmp(sk, kp->sk, sizeof(sk)) == 0 ? 0 : FERR_MALFORMED;
	sodium_memzero(sk, sizeof(sk));
	return rc;
}

int
keys_load_or_create(const char *path, struct keypair *kp, int *created)
{
	int rc;

	*created = 0;
	rc = keys_load(path, kp);
	if (rc != FERR_NOTFOUND)
		return rc;
	if ((rc = keys_generate(kp)) != 0)
		return rc;
	if ((rc = keys_save(path, kp)) != 0)
		return rc;
	*created = 1;
	return 0;
}

int
keys_save_public(const char *path, const uint8_t pk[KEY_PUBLIC_LEN])
{
	return save_b64(path, PUBLIC_PREFIX, pk, KEY_PUBLIC_LEN);
}

int
keys_load_public(const char *path, uint8_t pk[KEY_PUBLIC_LEN])
{
	return load_b64(path, PUBLIC_PREFIX, pk, KEY_PUBLIC_LEN);
}

void
keys_fingerprint(const uint8_t pk[KEY_PUBLIC_LEN], uint8_t fpr[KEY_FPR_LEN])
{
	uint8_t h[32];

	crypto_generichash(h, sizeof(h), pk, KEY_PUBLIC_LEN, NULL, 0);
	memcpy(fpr, h, KEY_FPR_LEN);
}

void
keys_fingerprint_str(const uint8_t fpr[KEY_FPR_LEN], char out[KEY_FPR_STRLEN])
{
	sodium_bin2hex(out, KEY_FPR_STRLEN, fpr, KEY_FPR_LEN);
}

void
keys_pk_fingerprint_str(const uint8_t pk[KEY_PUBLIC_LEN],
    char out[KEY_FPR_STRLEN])
{
	uint8_t fpr[KEY_FPR_LEN];

	keys_fingerprint(pk, fpr);
	keys_fingerprint_str(fpr, out);
}
