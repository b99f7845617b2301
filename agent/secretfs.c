/* SPDX-License-Identifier: Apache-2.0 */
/* secretfs.c: containers' secrets as files on a tmpfs the agent owns. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>
#include <sodium.h>

#include "ferr.h"
#include "secretfs.h"

int
secretfs_ready(const char *dir, char *why, size_t whylen)
{
	struct statfs sf;
	char path[1024];
	char *p;

	/* mkdir -p, each new folder 0700. */
	snprintf(path, sizeof(path), "%s", dir);
	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			snprintf(why, whylen, "secrets_dir %s: cannot make "
			    "%s: %s", dir, path, strerror(errno));
			return FERR_IO;
		}
		*p = '/';
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		snprintf(why, whylen, "secrets_dir %s: %s", dir,
		    strerror(errno));
		return FERR_IO;
	}
	if (statfs(dir, &sf) != 0) {
		snprintf(why, whylen, "secrets_dir %s: %s", dir,
		    strerror(errno));
		return FERR_IO;
	}
	if (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC)
		return 0;
	if (mount("ferry-secrets", dir, "tmpfs", MS_NODEV | MS_NOSUID |
	    MS_NOEXEC, "size=64m,mode=0700") != 0) {
		snprintf(why, whylen, "secrets_dir %s is not on a tmpfs and "
		    "a tmpfs cannot be mounted there (%s): secrets are never "
		    "written to a disk", dir, strerror(errno));
		return FERR_IO;
	}
	return 0;
}

/* plain_name: 1 to max characters of [A-Za-z0-9_.-], not starting with
 * '.' or '-': a safe file or folder name. */
static int
plain_name(const char *s, size_t max)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > max || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return 0;
	return 1;
}

/* name_ok: a secret's name, as ferryd's spec_secret_name_valid. */
static int
name_ok(const char *s)
{
	return plain_name(s, 64);
}

/* container_ok: a container name Docker takes, and a safe folder name. */
static int
container_ok(const char *s)
{
	return plain_name(s, 200);
}

/* rm_folder removes path and the plain files in it. */
static int
rm_folder(const char *path)
{
	char f[1400];
	struct dirent *e;
	DIR *d;

	if ((d = opendir(path)) == NULL)
		return errno == ENOENT ? 0 : FERR_IO;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(f, sizeof(f), "%s/%s", path, e->d_name);
		unlink(f);
	}
	closedir(d);
	return rmdir(path) == 0 || errno == ENOENT ? 0 : FERR_IO;
}

int
secretfs_remove(const char *dir, const char *container)
{
	char path[1200];

	if (!container_ok(container))
		return FERR_ARG;
	snprintf(path, sizeof(path), "%s/%s", dir, container);
	return rm_folder(path);
}

/* write_one opens one sealed value into path, mode 0400, owned by
 * uid:gid. */
static int
write_one(const char *path, const Ferry__SealedSecret *s, const uint8_t *xpk,
    const uint8_t *xsk, uid_t uid, gid_t gid, char *why, size_t whylen)
{
	uint8_t *v;
	size_t n, off = 0;
	ssize_t w;
	int fd, rc = 0;

	if (s->sealed.len < crypto_box_SEALBYTES) {
		snprintf(why, whylen, "secret %s: sealed value too short",
		    s->name);
		return FERR_MALFORMED;
	}
	n = s->sealed.len - crypto_box_SEALBYTES;
	if ((v = sodium_malloc(n + 1)) == NULL) {
		snprintf(why, whylen, "secret %s: out of memory", s->name);
		return FERR_NOMEM;
	}
	if (crypto_box_seal_open(v, s->sealed.data, s->sealed.len, xpk,
	    xsk) != 0) {
		sodium_free(v);
		snprintf(why, whylen, "secret %s: does not open with this "
		    "host's key", s->name);
		return FERR_MALFORMED;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0400)) < 0) {
		sodium_free(v);
		snprintf(why, whylen, "secret %s: %s", s->name,
		    strerror(errno));
		return FERR_IO;
	}
	while (off < n) {
		if ((w = write(fd, v + off, n - off)) < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = FERR_IO;
			break;
		}
		off += (size_t)w;
	}
	sodium_free(v);
	if (rc == 0 && (fchown(fd, uid, gid) != 0 || fchmod(fd, 0400) != 0))
		rc = FERR_IO;
	if (rc != 0)
		snprintf(why, whylen, "secret %s: %s", s->name,
		    strerror(errno));
	close(fd);
	return rc;
}

int
secretfs_write(const char *dir, const char *container,
    Ferry__SealedSecret *const *sealed, size_t n, const uint8_t *xpk,
    const uint8_t *xsk, uid_t uid, gid_t gid, char *bind, size_t bindlen,
    char *why, size_t whylen)
{
	char path[1200], file[1300];
	size_t i, j;
	int rc;

	if (!container_ok(container)) {
		snprintf(why, whylen, "container name %s cannot name a "
		    "secrets folder", container);
		return FERR_ARG;
	}
	for (i = 0; i < n; i++) {
		if (sealed[i]->name == NULL || !name_ok(sealed[i]->name)) {
			snprintf(why, whylen, "refused: a secret's name is not "
			    "a plain file name");
			return FERR_ARG;
		}
		for (j = 0; j < i; j++)
			if (strcmp(sealed[i]->name, sealed[j]->name) == 0) {
				snprintf(why, whylen, "refused: secret %s "
				    "comes twice", sealed[i]->name);
				return FERR_ARG;
			}
	}
	if ((rc = secretfs_ready(dir, why, whylen)) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", dir, container);
	if (rm_folder(path) != 0 || mkdir(path, 0700) != 0) {
		snprintf(why, whylen, "secrets folder %s: %s", path,
		    strerror(errno));
		return FERR_IO;
	}
	for (i = 0; i < n; i++) {
		snprintf(file, sizeof(file), "%s/%s", path, sealed[i]->name);
		if ((rc = write_one(file, sealed[i], xpk, xsk, uid, gid, why,
		    whylen)) != 0) {
			rm_folder(path);
			return rc;
		}
	}
	/* The container's user reads the folder and nothing else does. */
	if (chown(path, uid, gid) != 0 || chmod(path, 0500) != 0) {
		snprintf(why, whylen, "secrets folder %s: %s", path,
		    strerror(errno));
		rm_folder(path);
		return FERR_IO;
	}
	snprintf(bind, bindlen, "%s:" SECRETFS_TARGET ":ro", path);
	return 0;
}

int
secretfs_sweep(const char *dir, const char *const *live, size_t n)
{
	char path[1200];
	struct dirent *e;
	size_t i;
	int removed = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : FERR_IO;
	while ((e = readdir(d)) != NULL) {
		if (!container_ok(e->d_name))
			continue;
		for (i = 0; i < n; i++)
			if (strcmp(live[i], e->d_name) == 0)
				break;
		if (i < n)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (rm_folder(path) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

void
secretfs_user(const char *user, uid_t *uid, gid_t *gid)
{
	char *end;
	unsigned long u, g;

	*uid = 0;
	*gid = 0;
	if (user == NULL || user[0] < '0' || user[0] > '9')
		return;
	u = strtoul(user, &end, 10);
	if (*end != '\0' && *end != ':')
		return;
	g = u;
	if (*end == ':') {
		if (end[1] < '0' || end[1] > '9')
			return;
		g = strtoul(end + 1, &end, 10);
		if (*end != '\0')
			return;
	}
	*uid = (uid_t)u;
	*gid = (gid_t)g;
}
