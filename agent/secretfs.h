/* SPDX-License-Identifier: Apache-2.0 */
/* secretfs.h: containers' secrets as files on a tmpfs the agent owns.
 *
 * Each container that has secrets gets a folder DIR/<container name> on a
 * tmpfs (DIR is the setting secrets_dir), mode 0500, owned by the user
 * the container runs as, holding one file per secret, mode 0400, with the
 * value opened from its sealed form; the folder is bound read-only at
 * /run/secrets in the container.  Nothing of a value goes in the
 * container's Env, Labels or Cmd, nor in any log line.  Functions block
 * (file system) and run on worker threads; they never log. */
#ifndef FERRY_SECRETFS_H
#define FERRY_SECRETFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ferry.pb-c.h"

#define SECRETFS_TARGET	"/run/secrets"

/*
 * secretfs_ready makes sure dir exists (mode 0700) and is on a tmpfs:
 * when it is not, a tmpfs is mounted on it (size 64 MiB, mode 0700,
 * nodev, nosuid, noexec).  Returns 0, or FERR_IO with why saying what is
 * wrong; secrets are then never written to a disk.
 */
int
secretfs_ready(const char *dir, char *why, size_t whylen);

/*
 * secretfs_write opens each of the n sealed secrets with the host's
 * X25519 key pair (xpk, xsk) and writes them under dir/container (made
 * afresh: anything there before goes) owned by uid:gid, then fills bind
 * with the "source:/run/secrets:ro" bind for Docker.  A name that is not a
 * plain file name, or a value that does not open, fails the whole
 * write (nothing is left behind).  Returns 0, FERR_ARG, FERR_MALFORMED or
 * FERR_IO; why names the secret, never its value.
 */
int
secretfs_write(const char *dir, const char *container,
    Ferry__SealedSecret *const *sealed, size_t n, const uint8_t *xpk,
    const uint8_t *xsk, uid_t uid, gid_t gid, char *bind, size_t bindlen,
    char *why, size_t whylen);

/* secretfs_remove removes dir/container and its files, if there; 0 or
 * FERR_IO. */
int
secretfs_remove(const char *dir, const char *container);

/*
 * secretfs_sweep removes every folder under dir whose name is not one of
 * the n live container names: the secrets of containers that went.
 * Returns how many it removed, or FERR_IO when dir cannot be read (a
 * missing dir is 0).
 */
int
secretfs_sweep(const char *dir, const char *const *live, size_t n);

/* secretfs_user reads a Docker image's User ("", "name", "uid",
 * "uid:gid") as the owner of its secret files: numeric ids as given, and
 * root (0:0) otherwise, as names mean nothing outside the image. */
void
secretfs_user(const char *user, uid_t *uid, gid_t *gid);

#endif
