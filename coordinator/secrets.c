/* SPDX-License-Identifier: Apache-2.0 */
/* secrets.c: services' secrets and registry logins: the key they are
 * encrypted with at rest (a file of its own, never in the database), the
 * CLI's secret requests, the versions a revision pins, and each value
 * opened for the one moment it is sealed to a host (specwire.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "clock.h"
#include "ferr.h"
#include "ferryd.h"
#include "imageref.h"
#include "log.h"
#include "spec.h"
#include "specwire.h"

#define AD_MAX	(sizeof(SECRET_AD_TAG) + 2 * 73 + 8)
#define SECRET_AD_TAG	"ferry-secret-v1"

/* read_key reads the 32-byte key file at path, which must be a regular
 * file of mode 0600 (or stricter) holding exactly the key. */
static int
read_key(const char *path, uint8_t key[SECRETS_KEY_LEN])
{
	struct stat sb;
	uint8_t buf[SECRETS_KEY_LEN + 1];
	ssize_t n;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return errno == ENOENT ? FERR_NOTFOUND : FERR_IO;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
		rc = FERR_IO;
	else if ((sb.st_mode & 077) != 0)
		rc = FERR_PERM;
	else if ((n = read(fd, buf, sizeof(buf))) != SECRETS_KEY_LEN)
		rc = FERR_MALFORMED;
	else
		memcpy(key, buf, SECRETS_KEY_LEN);
	sodium_memzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

int
secrets_key_load_or_create(const char *path, uint8_t key[SECRETS_KEY_LEN],
    int *created)
{
	char tmp[1100];
	int fd, rc;

	*created = 0;
	if ((rc = read_key(path, key)) != FERR_NOTFOUND)
		return rc;
	/* First start: a new key, written whole before it is named. */
	randombytes_buf(key, SECRETS_KEY_LEN);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) < 0)
		return FERR_IO;
	if (write(fd, key, SECRETS_KEY_LEN) != SECRETS_KEY_LEN ||
	    fsync(fd) != 0) {
		close(fd);
		unlink(tmp);
		return FERR_IO;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return FERR_IO;
	}
	*created = 1;
	return 0;
}

/* ad builds the associated data of a value: it binds the ciphertext to
 * its service, name and version, so that no row opens in another's
 * place. */
static size_t
ad(uint8_t *buf, const char *service, const char *name, uint64_t version)
{
	size_t n = 0, l;
	int i;

	memcpy(buf, SECRET_AD_TAG, sizeof(SECRET_AD_TAG));
	n += sizeof(SECRET_AD_TAG);
	l = strlen(service) + 1;
	memcpy(buf + n, service, l);
	n += l;
	l = strlen(name) + 1;
	memcpy(buf + n, name, l);
	n += l;
	for (i = 0; i < 8; i++)
		buf[n++] = (uint8_t)(version >> (8 * i));
	return n;
}

/* put encrypts value under the next version of (service, name) and
 * records it with its event; *version gets the version. */
static int
put(struct ferryd *fd, const char *service, const char *name,
    const uint8_t *value, size_t len, const char *actor, const char *what,
    uint64_t *version)
{
	struct secret_rec r;
	uint8_t adbuf[AD_MAX], *ct = NULL;
	unsigned long long ctlen;
	char detail[256];
	int rc;

	memset(&r, 0, sizeof(r));
	snprintf(r.service, sizeof(r.service), "%s", service);
	snprintf(r.name, sizeof(r.name), "%s", name);
	snprintf(r.created_by, sizeof(r.created_by), "%s", actor);
	r.created_ms = clock_wall_ms();
	r.size = (uint32_t)len;
	if ((rc = store_secret_next(fd->store, service, name,
	    &r.version)) != 0)
		return rc;
	if ((ct = malloc(len + crypto_aead_xchacha20poly1305_ietf_ABYTES)) ==
	    NULL)
		return FERR_NOMEM;
	randombytes_buf(r.nonce, sizeof(r.nonce));
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ctlen, value, len,
	    adbuf, ad(adbuf, service, name, r.version), NULL, r.nonce,
	    fd->secrets_key);
	if (strcmp(service, SECRETS_REGISTRY_SCOPE) == 0)
		snprintf(detail, sizeof(detail), "%s for %s: version %llu",
		    what, name, (unsigned long long)r.version);
	else
		snprintf(detail, sizeof(detail), "%s %s of %s: version %llu",
		    what, name, service, (unsigned long long)r.version);
	rc = store_secret_put(fd->store, &r, ct, (size_t)ctlen, detail);
	free(ct);
	if (rc == 0)
		*version = r.version;
	return rc;
}

int
secrets_open(struct ferryd *fd, const char *service, const char *name,
    uint64_t version, uint8_t **value, size_t *len, char *why,
    size_t whylen)
{
	struct secret_rec r;
	uint8_t adbuf[AD_MAX], *ct = NULL, *v = NULL;
	unsigned long long vlen;
	size_t ctlen;
	int rc;

	*value = NULL;
	*len = 0;
	if ((rc = store_secret_get(fd->store, service, name, version, &r, &ct,
	    &ctlen)) != 0) {
		snprintf(why, whylen, "secret %s of %s has no version %llu",
		    name, service, (unsigned long long)version);
		return rc;
	}
	if (r.deleted || ct == NULL ||
	    ctlen < crypto_aead_xchacha20poly1305_ietf_ABYTES) {
		snprintf(why, whylen, "secret %s of %s: version %llu was "
		    "removed (ferry secret rm)", name, service,
		    (unsigned long long)r.version);
		free(ct);
		return FERR_NOTFOUND;
	}
	/* One byte more, so that an empty value is still an allocation. */
	if ((v = sodium_malloc(ctlen + 1)) == NULL) {
		free(ct);
		snprintf(why, whylen, "ferryd is out of memory");
		return FERR_NOMEM;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(v, &vlen, NULL, ct,
	    ctlen, adbuf, ad(adbuf, service, name, r.version), r.nonce,
	    fd->secrets_key) != 0) {
		sodium_free(v);
		free(ct);
		snprintf(why, whylen, "secret %s of %s: version %llu does not "
		    "open with secrets.key (was the key replaced?)", name,
		    service, (unsigned long long)r.version);
		return FERR_MALFORMED;
	}
	free(ct);
	*value = v;
	*len = (size_t)vlen;
	return 0;
}

void
secrets_value_free(uint8_t *value)
{
	if (value != NULL)
		sodium_free(value);
}

int
secrets_pin(struct ferryd *fd, struct spec *s, char *why, size_t whylen)
{
	struct secret_rec r;
	uint8_t *ct;
	size_t i, ctlen;
	int rc;

	for (i = 0; i < s->nsecrets; i++) {
		rc = store_secret_get(fd->store, s->service, s->secrets[i].name,
		    0, &r, &ct, &ctlen);
		free(ct);
		if (rc == FERR_NOTFOUND) {
			snprintf(why, whylen, "secrets: %s is not set for %s: "
			    "set it first with `ferry secret set %s %s`",
			    s->secrets[i].name, s->service, s->service,
			    s->secrets[i].name);
			return rc;
		}
		if (rc != 0) {
			snprintf(why, whylen, "secrets: %s: cannot be read: "
			    "%s", s->secrets[i].name, ferr_str(rc));
			return rc;
		}
		s->secrets[i].version = r.version;
	}
	return 0;
}

/* ---- the CLI's requests ------------------------------------------------- */

static int
service_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > SPEC_SERVICE_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9') || (i > 0 && (s[i] == '_' || s[i] == '.' ||
		    s[i] == '-'))))
			return 0;
	return 1;
}

/* ref_check says what is wrong with a service and name from the CLI. */
static int
ref_check(struct rep_slot *slot, const char *service, const char *name,
    const char *actor)
{
	if (!service_ok(service)) {
		log_warnx("control: secret request from %s refused: bad "
		    "service name", actor);
		ctl_error(slot, "\"%s\" is not a service name (lowercase "
		    "letters, digits, '_', '.' and '-', at most 63)", service);
		return FERR_ARG;
	}
	if (name != NULL && !spec_secret_name_valid(name)) {
		log_warnx("control: secret request from %s refused: bad "
		    "secret name", actor);
		ctl_error(slot, "\"%s\" is not a secret name (letters, "
		    "digits, '_', '.' and '-', not starting with '.' or '-', "
		    "at most %d)", name, SPEC_SECRET_NAME_MAX);
		return FERR_ARG;
	}
	return 0;
}

void
secrets_ctl_set(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__SecretSet *req, const char *actor)
{
	Ferry__CtlReply rep = FERRY__CTL_REPLY__INIT;
	const char *service = req->service ? req->service : "";
	const char *name = req->name ? req->name : "";
	uint64_t version;
	int rc;

	if (ref_check(slot, service, name, actor) != 0)
		return;
	if (req->value.len > SECRET_VALUE_MAX) {
		log_warnx("control: secret %s of %s from %s refused: %zu "
		    "bytes", name, service, actor, req->value.len);
		ctl_error(slot, "the value is %zu bytes, more than the limit "
		    "of %u", req->value.len, SECRET_VALUE_MAX);
		return;
	}
	if ((rc = put(fd, service, name, req->value.data, req->value.len,
	    actor, "secret", &version)) != 0) {
		log_warnx("secret %s of %s: cannot record it: %s", name,
		    service, ferr_str(rc));
		ctl_error(slot, "cannot record the secret: %s", ferr_str(rc));
		return;
	}
	log_info("secret %s of %s: version %llu set by %s", name, service,
	    (unsigned long long)version, actor);
	rep.ok = 1;
	rep.revision = version;
	ctl_reply(slot, &rep);
}

struct listing {
	Ferry__SecretInfo *info;
	Ferry__SecretInfo **ptrs;
	struct secret_rec *recs;
	size_t n, cap;
	int nomem;
};

static void
on_secret(void *arg, const struct secret_rec *r)
{
	struct listing *l = arg;
	size_t cap;
	void *p;

	if (l->nomem)
		return;
	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 16;
		if ((p = realloc(l->recs, cap * sizeof(*l->recs))) == NULL) {
			l->nomem = 1;
			return;
		}
		l->recs = p;
		l->cap = cap;
	}
	l->recs[l->n++] = *r;
}

void
secrets_ctl_list(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__SecretRef *req, const char *actor)
{
	Ferry__CtlReply rep = FERRY__CTL_REPLY__INIT;
	const char *service = req->service ? req->service : "";
	struct listing l;
	size_t i;
	int rc;

	memset(&l, 0, sizeof(l));
	if (strcmp(service, SECRETS_REGISTRY_SCOPE) != 0 &&
	    ref_check(slot, service, NULL, actor) != 0)
		return;
	rc = store_secret_list(fd->store, service, on_secret, &l);
	if (rc == 0 && (l.nomem || (l.n > 0 && ((l.info = calloc(l.n,
	    sizeof(*l.info))) == NULL || (l.ptrs = calloc(l.n,
	    sizeof(*l.ptrs))) == NULL))))
		rc = FERR_NOMEM;
	if (rc != 0) {
		ctl_error(slot, "cannot list the secrets: %s", ferr_str(rc));
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		ferry__secret_info__init(&l.info[i]);
		l.info[i].service = l.recs[i].service;
		l.info[i].name = l.recs[i].name;
		l.info[i].version = l.recs[i].version;
		l.info[i].created_ms = l.recs[i].created_ms;
		l.info[i].created_by = l.recs[i].created_by;
		l.info[i].size = l.recs[i].size;
		l.ptrs[i] = &l.info[i];
	}
	rep.ok = 1;
	rep.secrets = l.ptrs;
	rep.n_secrets = l.n;
	ctl_reply(slot, &rep);
out:
	free(l.info);
	free(l.ptrs);
	free(l.recs);
}

void
secrets_ctl_rm(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__SecretRef *req, const char *actor)
{
	Ferry__CtlReply rep = FERRY__CTL_REPLY__INIT;
	const char *service = req->service ? req->service : "";
	const char *name = req->name ? req->name : "";
	char detail[256];
	int rc;

	if (strcmp(service, SECRETS_REGISTRY_SCOPE) != 0 &&
	    ref_check(slot, service, name, actor) != 0)
		return;
	snprintf(detail, sizeof(detail), "secret %s of %s removed", name,
	    service);
	if ((rc = store_secret_rm(fd->store, service, name, actor,
	    detail)) != 0) {
		ctl_error(slot, rc == FERR_NOTFOUND ? "%s has no secret %s" :
		    "cannot remove the secret of %s %s", service, name);
		return;
	}
	log_info("secret %s of %s: removed by %s", name, service, actor);
	rep.ok = 1;
	ctl_reply(slot, &rep);
}

void
secrets_ctl_registry_login(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__RegistryLogin *req, const char *actor)
{
	Ferry__CtlReply rep = FERRY__CTL_REPLY__INIT;
	Ferry__RegistryAuth a = FERRY__REGISTRY_AUTH__INIT;
	const char *reg = req->registry ? req->registry : "";
	const char *user = req->username ? req->username : "";
	uint8_t *packed = NULL;
	char *pw = NULL;
	size_t n, i;
	uint64_t version;
	int rc;

	for (i = 0; reg[i] != '\0'; i++)
		if (!((reg[i] >= 'a' && reg[i] <= 'z') || (reg[i] >= 'A' &&
		    reg[i] <= 'Z') || (reg[i] >= '0' && reg[i] <= '9') ||
		    reg[i] == '.' || reg[i] == '-' || reg[i] == ':' ||
		    reg[i] == '[' || reg[i] == ']'))
			break;
	if (i == 0 || reg[i] != '\0' || i > SPEC_SECRET_NAME_MAX) {
		log_warnx("control: registry login from %s refused: bad "
		    "registry", actor);
		ctl_error(slot, "\"%s\" is not a registry host (host or "
		    "host:port, as image references name it)", reg);
		return;
	}
	if (user[0] == '\0' || strlen(user) > 256 || req->password.len == 0 ||
	    req->password.len > 4096 ||
	    memchr(req->password.data, '\0', req->password.len) != NULL) {
		log_warnx("control: registry login for %s from %s refused: "
		    "empty or oversized username or password", reg, actor);
		ctl_error(slot, "a registry login needs a username and a "
		    "password (at most 256 and 4096 bytes, no NUL)");
		return;
	}
	if ((pw = sodium_malloc(req->password.len + 1)) == NULL) {
		ctl_error(slot, "ferryd is out of memory");
		return;
	}
	memcpy(pw, req->password.data, req->password.len);
	pw[req->password.len] = '\0';
	a.username = (char *)user;
	a.password = pw;
	n = ferry__registry_auth__get_packed_size(&a);
	if ((packed = sodium_malloc(n + 1)) == NULL) {
		sodium_free(pw);
		ctl_error(slot, "ferryd is out of memory");
		return;
	}
	ferry__registry_auth__pack(&a, packed);
	rc = put(fd, SECRETS_REGISTRY_SCOPE, reg, packed, n, actor,
	    "registry login", &version);
	sodium_free(packed);
	sodium_free(pw);
	if (rc != 0) {
		ctl_error(slot, "cannot record the login: %s", ferr_str(rc));
		return;
	}
	log_info("registry %s: login for %s stored by %s (version %llu)",
	    reg, user, actor, (unsigned long long)version);
	rep.ok = 1;
	rep.revision = version;
	ctl_reply(slot, &rep);
}

int
secrets_registry_value(struct ferryd *fd, const char *image, uint8_t **value,
    size_t *len)
{
	char host[IMAGEREF_MAX + 1], why[200];
	size_t i;
	int rc;

	*value = NULL;
	*len = 0;
	/* The registry is the reference's first component when it looks
	 * like a host (a '.' or ':' in it, or localhost), as Docker reads
	 * it. */
	for (i = 0; image[i] != '\0' && image[i] != '/' && i < sizeof(host) -
	    1; i++)
		host[i] = image[i];
	host[i] = '\0';
	if (image[i] != '/' || (strchr(host, '.') == NULL &&
	    strchr(host, ':') == NULL && strcmp(host, "localhost") != 0))
		return 0;
	rc = secrets_open(fd, SECRETS_REGISTRY_SCOPE, host, 0, value, len,
	    why, sizeof(why));
	if (rc == FERR_NOTFOUND)
		return 0;
	if (rc != 0)
		log_warnx("registry %s: %s", host, why);
	return rc;
}

/* seal_open is a swap_seal's open: the pinned version, whose failure is
 * logged (names and versions only). */
static int
seal_open(void *arg, const char *service, const struct spec_secret *sec,
    uint8_t **value, size_t *len)
{
	char why[256];
	int rc;

	if ((rc = secrets_open(arg, service, sec->name, sec->version, value,
	    len, why, sizeof(why))) != 0)
		log_warnx("%s", why);
	return rc;
}

void
secrets_swap_seal(struct ferryd *fd, const uint8_t *host_pk,
    struct swap_seal *out)
{
	out->host_pk = host_pk;
	out->open = seal_open;
	out->free_value = secrets_value_free;
	out->arg = fd;
}

int
secrets_check_pins(struct ferryd *fd, const struct spec *s, uint64_t rev,
    char *why, size_t whylen)
{
	uint8_t *v;
	size_t i, len;
	char w[256];
	int rc;

	for (i = 0; i < s->nsecrets; i++) {
		if ((rc = secrets_open(fd, s->service, s->secrets[i].name,
		    s->secrets[i].version, &v, &len, w, sizeof(w))) != 0) {
			snprintf(why, whylen, "revision %llu of %s cannot be "
			    "deployed: %s", (unsigned long long)rev,
			    s->service, w);
			return rc;
		}
		secrets_value_free(v);
	}
	return 0;
}

/* ---- rotating the key ------------------------------------------------------ */

int
secrets_key_lock(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return FERR_IO;
	if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
		close(fd);
		return FERR_STATE;
	}
	return fd;	/* held open, and so locked, while the process lives */
}

int
secrets_key_check(const char *path)
{
	char tmp[1100];

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	return access(tmp, F_OK) == 0 ? FERR_STATE : 0;
}

struct rekey {
	uint8_t old[SECRETS_KEY_LEN], new[SECRETS_KEY_LEN];
	uint8_t *buf;
	size_t cap;
};

/* rekey_one opens a value with the old key and seals it with the new one
 * under a new nonce; a value that already opens with the new key (a
 * rotation committed, then stopped before the key file was renamed) is
 * left as it is. */
static int
rekey_one(void *arg, struct secret_rec *r, uint8_t *ct, size_t len)
{
	struct rekey *k = arg;
	uint8_t adbuf[AD_MAX];
	unsigned long long n;
	size_t adlen = ad(adbuf, r->service, r->name, r->version);

	if (len < crypto_aead_xchacha20poly1305_ietf_ABYTES)
		return FERR_MALFORMED;
	if (k->cap < len) {
		if (k->buf != NULL)
			sodium_free(k->buf);
		if ((k->buf = sodium_malloc(len)) == NULL) {
			k->cap = 0;
			return FERR_NOMEM;
		}
		k->cap = len;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(k->buf, &n, NULL, ct,
	    len, adbuf, adlen, r->nonce, k->old) != 0) {
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(k->buf, &n,
		    NULL, ct, len, adbuf, adlen, r->nonce, k->new) == 0)
			return 0;
		return FERR_MALFORMED;
	}
	randombytes_buf(r->nonce, sizeof(r->nonce));
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &n, k->buf,
	    len - crypto_aead_xchacha20poly1305_ietf_ABYTES, adbuf, adlen,
	    NULL, r->nonce, k->new);
	sodium_memzero(k->buf, k->cap);
	return 0;
}

/* write_key writes a key file whole (mode 0600) and syncs it. */
static int
write_key(const char *path, const uint8_t key[SECRETS_KEY_LEN])
{
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) < 0)
		return FERR_IO;
	if (write(fd, key, SECRETS_KEY_LEN) != SECRETS_KEY_LEN ||
	    fsync(fd) != 0) {
		close(fd);
		return FERR_IO;
	}
	return close(fd) == 0 ? 0 : FERR_IO;
}

int
secrets_rotate(const char *path, const char *db, size_t *count, char *why,
    size_t whylen)
{
	struct rekey k;
	struct store *st = NULL;
	char tmp[1100];
	int rc, lock;

	*count = 0;
	memset(&k, 0, sizeof(k));
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	/* ferryd holds its key file locked while it runs. */
	if ((lock = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0 &&
	    flock(lock, LOCK_EX | LOCK_NB) != 0) {
		snprintf(why, whylen, "ferryd is running (it holds %s): stop "
		    "it first", path);
		close(lock);
		return FERR_STATE;
	}
	if ((rc = read_key(path, k.old)) != 0) {
		snprintf(why, whylen, "%s: %s", path, ferr_str(rc));
		goto out;
	}
	/* A rotation stopped earlier left its new key: finish with it. */
	rc = read_key(tmp, k.new);
	if (rc == FERR_NOTFOUND) {
		randombytes_buf(k.new, sizeof(k.new));
		if ((rc = write_key(tmp, k.new)) != 0) {
			snprintf(why, whylen, "%s: cannot write it", tmp);
			unlink(tmp);
			goto out;
		}
	} else if (rc != 0) {
		snprintf(why, whylen, "%s: %s", tmp, ferr_str(rc));
		goto out;
	}
	if ((rc = store_open(&st, db)) != 0) {
		snprintf(why, whylen, "database %s: %s", db, ferr_str(rc));
		goto out;
	}
	if ((rc = store_secrets_rekey(st, rekey_one, &k, count)) != 0) {
		snprintf(why, whylen, "re-encrypting the secrets: %s%s",
		    ferr_str(rc), rc == FERR_MALFORMED ? " (a value opens "
		    "with neither key: is this secrets.key the database's?)" :
		    "");
		goto out;
	}
	/* Committed: only now does the new key take the old one's name. */
	if (rename(tmp, path) != 0) {
		snprintf(why, whylen, "renaming %s: %s", tmp,
		    strerror(errno));
		rc = FERR_IO;
	}
out:
	store_close(st);
	if (k.buf != NULL)
		sodium_free(k.buf);
	sodium_memzero(&k, sizeof(k));
	if (lock >= 0)
		close(lock);
	return rc;
}
