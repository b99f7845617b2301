/* SPDX-License-Identifier: Apache-2.0 */
/* keys.h: Ed25519 key pairs on disk, fingerprints, atomic private files. */
#ifndef FERRY_KEYS_H
#define FERRY_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KEY_PUBLIC_LEN	32
#define KEY_SECRET_LEN	64
#define KEY_FPR_LEN	16
#define KEY_FPR_STRLEN	(KEY_FPR_LEN * 2 + 1)

struct keypair {
	uint8_t pk[KEY_PUBLIC_LEN];
	uint8_t sk[KEY_SECRET_LEN];
};

/* crypto_init initialises libsodium; call once before anything else here. */
int
crypto_init(void);

/* keys_generate fills kp with a fresh Ed25519 key pair. */
int
keys_generate(struct keypair *kp);

/*
 * keys_save writes kp to path atomically with mode 0600 (temporary file,
 * fsync, rename, fsync of the folder).  On failure path is unchanged.
 */
int
keys_save(const char *path, const struct keypair *kp);

/*
 * keys_load reads a key pair written by keys_save.  Returns FERR_PERM when
 * the file can be read by group or others (it is not used then),
 * FERR_NOTFOUND when it does not exist, FERR_MALFORMED when it is damaged.
 */
int
keys_load(const char *path, struct keypair *kp);

/* keys_load_or_create loads path or, when it does not exist, creates and
 * saves a new pair; *created says which happened. */
int
keys_load_or_create(const char *path, struct keypair *kp, int *created);

/* keys_save_public / keys_load_public: a pinned public key (mode 0600). */
int
keys_save_public(const char *path, const uint8_t pk[KEY_PUBLIC_LEN]);
int
keys_load_public(const char *path, uint8_t pk[KEY_PUBLIC_LEN]);

/* keys_fingerprint: first 16 bytes of BLAKE2b-256 of the public key. */
void
keys_fingerprint(const uint8_t pk[KEY_PUBLIC_LEN], uint8_t fpr[KEY_FPR_LEN]);

/* keys_fingerprint_str writes the fingerprint as 32 lowercase hex digits. */
void
keys_fingerprint_str(const uint8_t fpr[KEY_FPR_LEN], char out[KEY_FPR_STRLEN]);

/* keys_pk_fingerprint_str: fingerprint of pk, as text. */
void
keys_pk_fingerprint_str(const uint8_t pk[KEY_PUBLIC_LEN],
    char out[KEY_FPR_STRLEN]);

/*
 * file_write_atomic writes len bytes to path with mode, atomically: the file
 * holds either its old content or all of the new.
 */
int
file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* file_read reads a whole small file (at most max bytes) into a NUL-ended
 * heap buffer the caller frees. */
int
file_read(const char *path, size_t max, char **out, size_t *out_len);

/* mkdir_private creates dir (and not its parents) with mode 0700 if it is
 * missing. */
int
mkdir_private(const char *dir);

#endif
