/* SPDX-License-Identifier: Apache-2.0 */
/* control.c: the ferry CLI's requests, over ferryd's local socket. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>
#include <sodium.h>

#include "clock.h"
#include "driftwatch.h"
#include "ferr.h"
#include "ferryd.h"
#include "log.h"
#include "logs.h"
#include "token.h"

#define CONTROL_MAX_SIZE	(2u * 1024u * 1024u)	/* a spec fits */
#define TOKEN_TTL_MAX_MS	(30ull * 24 * 3600 * 1000)
#define PING_TIMEOUT_DEFAULT_MS	5000u
#define PING_TIMEOUT_MAX_MS	60000u

void
ctl_reply(struct rep_slot *slot, const Ferry__CtlReply *r)
{
	size_t n = ferry__ctl_reply__get_packed_size(r);
	uint8_t *buf = malloc(n + 1);

	if (buf == NULL) {
		repsrv_drop(slot);
		return;
	}
	ferry__ctl_reply__pack(r, buf);
	repsrv_reply(slot, buf, n);
	free(buf);
}

void
ctl_error(struct rep_slot *slot, const char *fmt, ...)
{
	Ferry__CtlReply r = FERRY__CTL_REPLY__INIT;
	char msg[8192];		/* a spec's problems, one a line */
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r.ok = 0;
	r.error = msg;
	ctl_reply(slot, &r);
}

static void
reply_ok(struct rep_slot *slot)
{
	Ferry__CtlReply r = FERRY__CTL_REPLY__INIT;

	r.ok = 1;
	ctl_reply(slot, &r);
}

/* ---- who may ask ---------------------------------------------------- */

/* A group database entry is read into a buffer that grows up to this. */
#define NSS_BUF_MAX	(1u << 20)

/*
 * group_gid looks up the group called name: 0 with *gid set when it
 * exists, FERR_NOTFOUND when it does not, FERR_NOMEM or FERR_IO when the
 * lookup itself failed.
 */
static int
group_gid(const char *name, gid_t *gid)
{
	struct group gr, *g = NULL;
	char *buf = NULL, *nb;
	size_t len = 1024;
	int rv;

	for (;;) {
		if ((nb = realloc(buf, len)) == NULL) {
			free(buf);
			return FERR_NOMEM;
		}
		buf = nb;
		rv = getgrnam_r(name, &gr, buf, len, &g);
		if (rv != ERANGE || len >= NSS_BUF_MAX)
			break;
		len *= 2;
	}
	if (g != NULL)
		*gid = g->gr_gid;
	free(buf);
	if (g != NULL)
		return 0;
	/* Not found is 0 with no entry (some NSS modules say ENOENT). */
	return rv == 0 || rv == ENOENT || rv == ESRCH ? FERR_NOTFOUND :
	    FERR_IO;
}

/*
 * uid_in_group returns 1 when the user uid belongs to the group gid as the
 * group database says (its primary group, or listed as a member), 0 when
 * it does not or has no user entry, or a negative error when the lookup
 * failed.
 */
static int
uid_in_group(uid_t uid, gid_t gid)
{
	struct passwd pw, *p = NULL;
	char *buf = NULL, *nb;
	gid_t *groups = NULL, *ng;
	size_t len = 1024;
	int n = 32, i, rv, in = 0;

	for (;;) {
		if ((nb = realloc(buf, len)) == NULL) {
			in = FERR_NOMEM;
			goto out;
		}
		buf = nb;
		rv = getpwuid_r(uid, &pw, buf, len, &p);
		if (rv != ERANGE || len >= NSS_BUF_MAX)
			break;
		len *= 2;
	}
	if (p == NULL) {
		in = rv == 0 || rv == ENOENT || rv == ESRCH ? 0 : FERR_IO;
		goto out;
	}
	if (p->pw_gid == gid) {
		in = 1;
		goto out;
	}
	for (;;) {
		int want = n;

		if ((ng = realloc(groups, (size_t)n * sizeof(*ng))) == NULL) {
			in = FERR_NOMEM;
			goto out;
		}
		groups = ng;
		if (getgrouplist(p->pw_name, p->pw_gid, groups, &n) >= 0)
			break;
		/* n now says how many there are. */
		if (n <= want)
			n = want * 2;
		if (n > 65536) {
			in = FERR_IO;
			goto out;
		}
	}
	for (i = 0; i < n; i++)
		if (groups[i] == gid)
			in = 1;
out:
	free(groups);
	free(buf);
	return in;
}

/*
 * admit decides whether the process that sent msg may use ferryd: root,
 * ferryd's own user and the members of the operators group (the setting
 * operators_group: the peer's group, or its user's groups as the group
 * database lists them) may; nobody else.  The peer's credentials are the
 * kernel's (SO_PEERCRED, through NNG), taken when it connected.  actor
 * gets "uid:N" for the audit log.  Returns 0, or FERR_PERM with why
 * saying in words what refused the peer.
 */
static int
admit(const struct ferryd *fd, nng_msg *msg, char *actor, size_t actorlen,
    char *why, size_t whylen)
{
	const char *group = fd->conf.operators_group;
	nng_pipe p = nng_msg_get_pipe(msg);
	uint64_t uid, gid;
	int rc;

	if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid) != 0 ||
	    nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_GID, &gid) != 0) {
		snprintf(actor, actorlen, "an unknown peer");
		snprintf(why, whylen, "ferryd cannot tell who is asking (the "
		    "socket gives no peer credentials)");
		return FERR_PERM;
	}
	snprintf(actor, actorlen, "uid:%llu", (unsigned long long)uid);
	if (uid == 0 || uid == (uint64_t)geteuid())
		return 0;
	if (group[0] == '\0') {
		snprintf(why, whylen, "uid %llu is not root and not ferryd's "
		    "user, and ferryd has no operators group",
		    (unsigned long long)uid);
		return FERR_PERM;
	}
	if (!fd->ops_known) {
		snprintf(why, whylen, "uid %llu is not root and not ferryd's "
		    "user, and ferryd's operators group \"%s\" does not exist "
		    "(as ferryd found at start)", (unsigned long long)uid,
		    group);
		return FERR_PERM;
	}
	if (gid == fd->ops_gid)
		return 0;
	if ((rc = uid_in_group((uid_t)uid, (gid_t)fd->ops_gid)) == 1)
		return 0;
	snprintf(why, whylen, "uid %llu is not root, not ferryd's user and "
	    "not in ferryd's operators group \"%s\"%s",
	    (unsigned long long)uid, group, rc < 0 ?
	    " (its groups cannot be looked up)" : "");
	return FERR_PERM;
}

static void
do_hosts(struct ferryd *fd, struct rep_slot *slot)
{
	Ferry__CtlReply r = FERRY__CTL_REPLY__INIT;
	Ferry__HostInfo *infos = NULL, **ptrs = NULL;
	Ferry__Label *labels = NULL, **lptrs = NULL;
	uint8_t (*newfprs)[KEY_FPR_LEN] = NULL;
	struct driftwatch dw;
	size_t i, j, nl = 0;

	/* Drift as it is now (drift16); without it the hosts still show. */
	if (driftwatch_gather(fd, &dw) != 0)
		log_warnx("hosts: drift cannot be judged now");

	newfprs = calloc(fd->nhosts + 1, sizeof(*newfprs));
	infos = calloc(fd->nhosts + 1, sizeof(*infos));
	ptrs = calloc(fd->nhosts + 1, sizeof(*ptrs));
	labels = calloc(fd->nhosts * LABELS_MAX + 1, sizeof(*labels));
	lptrs = calloc(fd->nhosts * LABELS_MAX + 1, sizeof(*lptrs));
	if (!infos || !ptrs || !labels || !lptrs || !newfprs) {
		ctl_error(slot, "%s", "ferryd is out of memory");
		goto out;
	}
	for (i = 0; i < fd->nhosts; i++) {
		struct host *h = fd->hosts[i];
		Ferry__HostInfo *hi = &infos[i];

		ferry__host_info__init(hi);
		hi->name = h->rec.name;
		hi->state = (char *)host_state_name(h);
		hi->address = h->rec.address;
		hi->last_seen_ms = h->rec.last_seen_ms;
		hi->fingerprint.data = h->fpr;
		hi->fingerprint.len = KEY_FPR_LEN;
		hi->last_sequence = h->agent_last_seq;
		if (h->rec.has_new_pk) {
			keys_fingerprint(h->rec.new_pk, newfprs[i]);
			hi->new_fingerprint.data = newfprs[i];
			hi->new_fingerprint.len = KEY_FPR_LEN;
			hi->new_key_from = h->rec.new_key_from;
			hi->new_key_at_ms = h->rec.new_key_at_ms;
			hi->new_key_token = h->rec.new_key_token;
		}
		hi->labels = &lptrs[nl];
		for (j = 0; j < h->rec.nlabels; j++, nl++) {
			ferry__label__init(&labels[nl]);
			labels[nl].key = h->rec.labels[j].key;
			labels[nl].value = h->rec.labels[j].value;
			lptrs[nl] = &labels[nl];
		}
		hi->n_labels = h->rec.nlabels;
		if (h->status != NULL) {
			hi->docker_ok = h->status->docker_ok;
			hi->docker_error = h->status->docker_error;
			hi->containers = h->status->containers;
			hi->n_containers = h->status->n_containers;
			hi->agent_version = h->status->version;
			hi->link = h->cleartext ? "cleartext" : "sealed";
		}
		hi->drained_by = h->rec.drained_by;
		hi->drained_at_ms = h->rec.drained_at_ms;
		hi->proxy = views_proxy_state(fd, h->rec.name);
		if (views_host_traffic(fd, h->rec.name, &hi->traffic,
		    &hi->n_traffic, &hi->refusals, &hi->n_refusals) != 0 ||
		    hi->proxy == NULL || views_host_drift(&dw, h->rec.name,
		    &hi->drift, &hi->n_drift) != 0) {
			ptrs[i] = hi;
			ctl_error(slot, "%s", "ferryd is out of memory");
			goto out;
		}
		ptrs[i] = hi;
	}
	/* Services stopped on purpose, for the notes under the table. */
	if (views_stopped(fd, &dw, &r.stopped, &r.n_stopped) != 0) {
		ctl_error(slot, "%s", "ferryd is out of memory");
		goto out;
	}
	r.ok = 1;
	r.hosts = ptrs;
	r.n_hosts = fd->nhosts;
	r.fingerprint.data = fd->fpr;
	r.fingerprint.len = KEY_FPR_LEN;
	ctl_reply(slot, &r);
out:
	for (i = 0; infos != NULL && i < fd->nhosts; i++) {
		free(infos[i].proxy);
		views_traffic_free(infos[i].traffic, infos[i].n_traffic);
		views_refusals_free(infos[i].refusals, infos[i].n_refusals);
		views_drift_free(infos[i].drift, infos[i].n_drift);
	}
	views_stopped_free(r.stopped, r.n_stopped);
	driftwatch_free(&dw);
	free(newfprs);
	free(infos);
	free(ptrs);
	free(labels);
	free(lptrs);
}

static struct host *
need_host(struct ferryd *fd, struct rep_slot *slot, const char *name)
{
	struct host *h = name != NULL ? fleet_find(fd, name) : NULL;

	if (h == NULL)
		ctl_error(slot, "unknown host \"%s\"", name ? name : "");
	return h;
}

static void
fail_outbox(struct ferryd *fd, struct host *h, const char *why)
{
	struct cmd *c, *next;

	for (c = h->outbox; c != NULL; c = next) {
		next = c->next;
		store_command_set_state(fd->store, c->rec.id, "failed", why);
		if (c->done != NULL)
			c->done(c->done_arg, h, c, NULL, why);
		free(c->rec.envelope);
		free(c);
	}
	h->outbox = NULL;
}

/*
 * do_accept admits a pending host, or replaces an enrolled host's key with
 * the key that claims its name.  A key is replaced only when the operator
 * names that key's fingerprint (--key): `accept NAME` alone never does,
 * whatever claims the name, since anyone who reaches the agent port can
 * make a claim.
 */
static void
do_accept(struct ferryd *fd, struct rep_slot *slot, const Ferry__HostName *hn,
    const char *actor)
{
	const char *name = hn->name;
	const char *key = hn->key != NULL && hn->key[0] ? hn->key : NULL;
	struct host *h = need_host(fd, slot, name);
	char fpr[KEY_FPR_STRLEN], oldfpr[KEY_FPR_STRLEN], detail[256];
	int rc;

	if (h == NULL)
		return;
	keys_pk_fingerprint_str(h->rec.pk, oldfpr);
	if (h->rec.has_new_pk && h->rec.state != HOST_PENDING) {
		keys_pk_fingerprint_str(h->rec.new_pk, fpr);
		if (key == NULL) {
			ctl_error(slot, "host \"%s\" is enrolled with key %s; "
			    "another key claims its name (see `ferry hosts`). "
			    "Nothing changed: a host's key is replaced only "
			    "with --key naming the new key's fingerprint, once "
			    "checked on the host itself", name, oldfpr);
			return;
		}
		if (strcmp(key, fpr) != 0) {
			ctl_error(slot, "key %s does not claim host \"%s\"; "
			    "nothing changed (see `ferry hosts`)", key, name);
			return;
		}
		if ((rc = store_host_take_new_key(fd->store, name,
		    h->rec.new_pk)) != 0) {
			ctl_error(slot, "cannot record: %s", ferr_str(rc));
			return;
		}
		memcpy(h->rec.pk, h->rec.new_pk, KEY_PUBLIC_LEN);
		fleet_reindex(fd);
		snprintf(detail, sizeof(detail), "key %s (claimed from %s, %s) "
		    "replaces key %s", fpr, h->rec.new_key_from,
		    h->rec.new_key_token ? "with a valid token" :
		    "without a token", oldfpr);
		h->rec.has_new_pk = 0;
		h->rec.new_key_from[0] = '\0';
		h->rec.new_key_at_ms = 0;
		h->rec.new_key_token = 0;
		keys_fingerprint(h->rec.pk, h->fpr);
		/* Whatever waited for the old key is void now. */
		fail_outbox(fd, h, "host key replaced");
		link_release(fd, h);
		h->online = 0;
		h->rec.state = HOST_ACCEPTED;
		log_info("host %s: %s, by %s", name, detail, actor);
		store_event(fd->store, actor, "host-key-replaced", name,
		    detail);
		reply_ok(slot);
		return;
	}
	if (key != NULL && (h->rec.state != HOST_PENDING ||
	    strcmp(key, oldfpr) != 0)) {
		ctl_error(slot, "key %s does not claim host \"%s\"; nothing "
		    "changed (see `ferry hosts`)", key, name);
		return;
	}
	if (h->rec.state == HOST_ACCEPTED) {
		ctl_error(slot, "host \"%s\" is already accepted", name);
		return;
	}
	if ((rc = store_host_set_state(fd->store, name, HOST_ACCEPTED)) != 0) {
		ctl_error(slot, "cannot record: %s", ferr_str(rc));
		return;
	}
	h->rec.state = HOST_ACCEPTED;
	log_info("host %s: accepted by %s (key %s)", name, actor, oldfpr);
	store_event(fd->store, actor, "host-accepted", name, oldfpr);
	reply_ok(slot);
}

static void
do_revoke(struct ferryd *fd, struct rep_slot *slot, const char *name,
    const char *actor)
{
	struct host *h = need_host(fd, slot, name);
	int rc;

	if (h == NULL)
		return;
	if (h->rec.state == HOST_REVOKED) {
		ctl_error(slot, "host \"%s\" is already revoked", name);
		return;
	}
	if ((rc = store_host_set_state(fd->store, name, HOST_REVOKED)) != 0) {
		ctl_error(slot, "cannot record: %s", ferr_str(rc));
		return;
	}
	h->rec.state = HOST_REVOKED;
	h->online = 0;
	fail_outbox(fd, h, "host revoked");
	/* Its waiting poll is let go without a command. */
	link_release(fd, h);
	log_info("host %s: revoked by %s", name, actor);
	store_event(fd->store, actor, "host-revoked", name, "");
	reply_ok(slot);
}

static void
do_label(struct ferryd *fd, struct rep_slot *slot, const Ferry__HostLabel *l,
    const char *actor)
{
	struct host *h = need_host(fd, slot, l->name);
	struct host_rec next;
	char detail[256];
	size_t i, j;
	int rc;

	if (h == NULL)
		return;
	if (l->n_labels == 0) {
		ctl_error(slot, "%s", "no labels given (expected k=v)");
		return;
	}
	next = h->rec;
	for (i = 0; i < l->n_labels; i++) {
		const char *k = l->labels[i]->key, *v = l->labels[i]->value;
		if (!label_ok(k, v)) {
			ctl_error(slot, "bad label \"%s\": keys are letters, "
			    "digits, '.', '-', '_' (up to 63), values are "
			    "printable (up to 127)", k);
			return;
		}
		for (j = 0; j < next.nlabels; j++)
			if (strcmp(next.labels[j].key, k) == 0)
				break;
		if (v[0] == '\0') {	/* k= removes k */
			if (j < next.nlabels)
				next.labels[j] = next.labels[--next.nlabels];
			continue;
		}
		if (j == LABELS_MAX) {
			ctl_error(slot, "too many labels (at most %s)", "16");
			return;
		}
		snprintf(next.labels[j].key, sizeof(next.labels[j].key), "%s",
		    k);
		snprintf(next.labels[j].value, sizeof(next.labels[j].value),
		    "%s", v);
		if (j == next.nlabels)
			next.nlabels++;
	}
	if ((rc = store_host_set_labels(fd->store, h->rec.name, next.labels,
	    next.nlabels)) != 0) {
		ctl_error(slot, "cannot record: %s", ferr_str(rc));
		return;
	}
	memcpy(h->rec.labels, next.labels, sizeof(next.labels));
	h->rec.nlabels = next.nlabels;
	snprintf(detail, sizeof(detail), "%zu label(s) set", l->n_labels);
	store_event(fd->store, actor, "host-labelled", h->rec.name, detail);
	reply_ok(slot);
}

/* advertise_address: where agents reach ferryd, for tokens. */
static void
advertise_address(struct ferryd *fd, char *buf, size_t len)
{
	const char *l = fd->conf.listen, *port;
	char host[200];

	if (fd->conf.advertise[0] != '\0') {
		snprintf(buf, len, "%s", fd->conf.advertise);
		return;
	}
	if (strstr(l, "://0.0.0.0:") == NULL && strstr(l, "://*:") == NULL) {
		snprintf(buf, len, "%s", l);
		return;
	}
	port = strrchr(l, ':');
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(buf, len, "tcp://%s%s", host, port);
}

static void
do_token(struct ferryd *fd, struct rep_slot *slot, const Ferry__TokenCreate *t,
    const char *actor)
{
	Ferry__CtlReply r = FERRY__CTL_REPLY__INIT;
	struct join_token tok;
	struct label labels[LABELS_MAX];
	uint64_t ttl, now = clock_wall_ms();
	char *text = NULL, idhex[TOKEN_ID_LEN * 2 + 1];
	uint8_t verifier[TOKEN_VERIFIER_LEN];
	size_t i;
	int rc;

	ttl = t->ttl_s ? t->ttl_s * 1000 : fd->conf.default_token_ttl_ms;
	if (ttl > TOKEN_TTL_MAX_MS) {
		ctl_error(slot, "%s", "--ttl: at most 720h (30 days)");
		return;
	}
	if (t->n_labels > LABELS_MAX) {
		ctl_error(slot, "too many labels (at most %s)", "16");
		return;
	}
	for (i = 0; i < t->n_labels; i++) {
		if (!label_ok(t->labels[i]->key, t->labels[i]->value) ||
		    t->labels[i]->value[0] == '\0') {
			ctl_error(slot, "bad label \"%s\"",
			    t->labels[i]->key);
			return;
		}
		snprintf(labels[i].key, sizeof(labels[i].key), "%s",
		    t->labels[i]->key);
		snprintf(labels[i].value, sizeof(labels[i].value), "%s",
		    t->labels[i]->value);
	}
	memset(&tok, 0, sizeof(tok));
	advertise_address(fd, tok.address, sizeof(tok.address));
	memcpy(tok.fingerprint, fd->fpr, KEY_FPR_LEN);
	randombytes_buf(tok.id, TOKEN_ID_LEN);
	randombytes_buf(tok.secret, TOKEN_SECRET_LEN);
	token_verifier(tok.secret, verifier);
	if ((rc = store_token_insert(fd->store, tok.id, verifier, now,
	    now + ttl, labels, t->n_labels)) != 0 ||
	    (rc = token_encode(&tok, &text)) != 0) {
		ctl_error(slot, "cannot create token: %s", ferr_str(rc));
		goto out;
	}
	sodium_bin2hex(idhex, sizeof(idhex), tok.id, TOKEN_ID_LEN);
	/* The token id is public; the secret is never logged. */
	log_info("token %s created by %s, expires in %llu s", idhex, actor,
	    (unsigned long long)(ttl / 1000));
	store_event(fd->store, actor, "token-created", "", idhex);
	r.ok = 1;
	r.token = text;
	r.token_expires_at_ms = now + ttl;
	r.fingerprint.data = fd->fpr;
	r.fingerprint.len = KEY_FPR_LEN;
	ctl_reply(slot, &r);
out:
	sodium_memzero(&tok, sizeof(tok));
	if (text != NULL) {
		sodium_memzero(text, strlen(text));
		free(text);
	}
}

/* One `ferry ping`: answered when every host has answered or timed out. */
struct ping_wait {
	struct rep_slot *slot;
	size_t n, remaining;
	Ferry__PingResult *res;
	char (*names)[HOST_NAME_MAX_LEN + 1];
	char (*errors)[128];
};

static void
ping_finish(struct ping_wait *w)
{
	Ferry__CtlReply r = FERRY__CTL_REPLY__INIT;
	Ferry__PingResult **ptrs = calloc(w->n + 1, sizeof(*ptrs));
	size_t i;

	if (ptrs == NULL) {
		repsrv_drop(w->slot);
	} else {
		for (i = 0; i < w->n; i++)
			ptrs[i] = &w->res[i];
		r.ok = 1;
		r.pings = ptrs;
		r.n_pings = w->n;
		ctl_reply(w->slot, &r);
	}
	free(ptrs);
	free(w->res);
	free(w->names);
	free(w->errors);
	free(w);
}

static void
ping_done(void *arg, struct host *h, const struct cmd *c,
    const Ferry__Report *report, const char *err)
{
	struct ping_wait *w = arg;
	size_t i;

	for (i = 0; i < w->n; i++)
		if (strcmp(w->names[i], h->rec.name) == 0)
			break;
	if (i == w->n)
		return;
	if (report != NULL &&
	    report->status == FERRY__REPORT__STATUS__SUCCEEDED) {
		w->res[i].ok = 1;
		w->res[i].latency_us = clock_mono_us() - c->created_us;
	} else {
		snprintf(w->errors[i], sizeof(w->errors[i]), "%s",
		    report != NULL ? (report->message && report->message[0] ?
		    report->message : "failed") : err);
	}
	if (--w->remaining == 0)
		ping_finish(w);
}

static void
do_ping(struct ferryd *fd, struct rep_slot *slot, const Ferry__PingHosts *p)
{
	struct ping_wait *w;
	uint32_t timeout = p->timeout_ms ? p->timeout_ms :
	    PING_TIMEOUT_DEFAULT_MS;
	struct cmd **cmds, *c;
	size_t i, n, nc = 0, *at;
	int batch;

	if (timeout > PING_TIMEOUT_MAX_MS)
		timeout = PING_TIMEOUT_MAX_MS;
	for (i = 0; i < p->n_hosts; i++) {
		size_t j;
		if (fleet_find(fd, p->hosts[i]) == NULL) {
			ctl_error(slot, "unknown host \"%s\"", p->hosts[i]);
			return;
		}
		for (j = 0; j < i; j++)
			if (strcmp(p->hosts[i], p->hosts[j]) == 0) {
				ctl_error(slot, "host \"%s\" named twice",
				    p->hosts[i]);
				return;
			}
	}
	n = p->n_hosts;
	if (n == 0)
		for (i = 0; i < fd->nhosts; i++)
			n += fd->hosts[i]->rec.state == HOST_ACCEPTED;
	if (n == 0) {
		ctl_error(slot, "%s", "no accepted hosts to ping");
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL || (w->res = calloc(n, sizeof(*w->res))) == NULL ||
	    (w->names = calloc(n, sizeof(*w->names))) == NULL ||
	    (w->errors = calloc(n, sizeof(*w->errors))) == NULL) {
		if (w != NULL) {
			free(w->res);
			free(w->names);
		}
		free(w);
		ctl_error(slot, "%s", "ferryd is out of memory");
		return;
	}
	cmds = calloc(n, sizeof(*cmds));
	at = calloc(n, sizeof(*at));
	if (cmds == NULL || at == NULL) {
		free(cmds);
		free(at);
		free(w->res);
		free(w->names);
		free(w->errors);
		free(w);
		ctl_error(slot, "%s", "ferryd is out of memory");
		return;
	}
	w->slot = slot;
	w->n = n;
	w->remaining = n + 1;	/* held until every host is asked */
	batch = store_batch_begin(fd->store, 0);
	for (i = 0, n = 0; n < w->n; i++) {
		struct host *h = p->n_hosts ? fleet_find(fd, p->hosts[i]) :
		    fd->hosts[i];
		Ferry__Command cmd = FERRY__COMMAND__INIT;
		Ferry__Ping ping = FERRY__PING__INIT;

		if (!p->n_hosts && h->rec.state != HOST_ACCEPTED)
			continue;
		snprintf(w->names[n], sizeof(w->names[n]), "%s", h->rec.name);
		ferry__ping_result__init(&w->res[n]);
		w->res[n].host = w->names[n];
		w->res[n].error = w->errors[n];
		n++;
		if (h->rec.state != HOST_ACCEPTED) {
			snprintf(w->errors[n - 1], sizeof(w->errors[0]),
			    "host %s", host_state_name(h));
			w->remaining--;
			continue;
		}
		if (!h->online) {
			snprintf(w->errors[n - 1], sizeof(w->errors[0]),
			    "offline");
			w->remaining--;
			continue;
		}
		ping.sent_at_ms = clock_wall_ms();
		cmd.payload_case = FERRY__COMMAND__PAYLOAD_PING;
		cmd.ping = &ping;
		c = link_prepare(fd, h, &cmd, "ping", timeout, 0, ping_done,
		    w);
		if (c == NULL) {
			snprintf(w->errors[n - 1], sizeof(w->errors[0]),
			    "cannot send: %s", ferr_str(FERR_NOMEM));
			w->remaining--;
			continue;
		}
		cmds[nc] = c;
		at[nc++] = n - 1;
	}
	/*
	 * Every ping is sent, then recorded as it stands (sent, or queued for
	 * the host's next heartbeat), in one commit that does not wait for
	 * the disk, made once all are on their way: a ping acts on nothing,
	 * and no answer is read before the commit (this loop reads them).
	 * Should ferryd die before it, an agent may have run a ping ferryd
	 * has no record of; its sequence number is learnt again from the
	 * agent's heartbeat.
	 */
	for (i = 0; i < nc; i++) {
		int rc;

		c = cmds[i];
		if (batch != 0) {	/* no transaction: nothing recorded */
			snprintf(w->errors[at[i]], sizeof(w->errors[0]),
			    "cannot send: %s", ferr_str(batch));
			link_discard(c);
			w->remaining--;
			continue;
		}
		c->unrecorded = 1;
		link_enqueue(fd, fleet_find(fd, c->rec.host), c);
		if ((rc = store_command_insert(fd->store, &c->rec)) != 0)
			log_warnx("host %s: ping seq %llu sent but not "
			    "recorded: %s", c->rec.host,
			    (unsigned long long)c->rec.seq, ferr_str(rc));
		c->unrecorded = 0;
	}
	if (batch == 0 && (batch = store_batch_end(fd->store, 0)) != 0)
		log_warnx("ping: cannot record the commands: %s",
		    ferr_str(batch));
	free(cmds);
	free(at);
	if (--w->remaining == 0)
		ping_finish(w);
}

static void
on_control(void *arg, struct rep_slot *slot, nng_msg *msg)
{
	struct ferryd *fd = arg;
	Ferry__CtlRequest *req;
	char actor[64], why[256];

	if (admit(fd, msg, actor, sizeof(actor), why, sizeof(why)) != 0) {
		/* Nothing of the request is read. */
		nng_msg_free(msg);
		log_warnx("control: refused %s: %s", actor, why);
		ctl_error(slot, "not allowed: %s", why);
		return;
	}
	req = ferry__ctl_request__unpack(NULL, nng_msg_len(msg),
	    nng_msg_body(msg));
	nng_msg_free(msg);
	if (req == NULL) {
		log_warnx("control: refused request from %s: malformed", actor);
		ctl_error(slot, "%s", "malformed request");
		return;
	}
	switch (req->op_case) {
	case FERRY__CTL_REQUEST__OP_HOSTS_LIST:
		do_hosts(fd, slot);
		break;
	case FERRY__CTL_REQUEST__OP_HOST_ACCEPT:
		do_accept(fd, slot, req->host_accept, actor);
		break;
	case FERRY__CTL_REQUEST__OP_HOST_REVOKE:
		do_revoke(fd, slot, req->host_revoke->name, actor);
		break;
	case FERRY__CTL_REQUEST__OP_HOST_LABEL:
		do_label(fd, slot, req->host_label, actor);
		break;
	case FERRY__CTL_REQUEST__OP_TOKEN_CREATE:
		do_token(fd, slot, req->token_create, actor);
		break;
	case FERRY__CTL_REQUEST__OP_PING:
		do_ping(fd, slot, req->ping);
		break;
	case FERRY__CTL_REQUEST__OP_SWAP:
		swapone_start(fd, slot, req->swap, actor);
		break;
	case FERRY__CTL_REQUEST__OP_DEPLOY:
		deploy_request(fd, slot, req->deploy, actor);
		break;
	case FERRY__CTL_REQUEST__OP_PLAN:
		deploy_plan(fd, slot, req->plan);
		break;
	case FERRY__CTL_REQUEST__OP_STATUS:
		deploy_status(fd, slot, req->status);
		break;
	case FERRY__CTL_REQUEST__OP_HISTORY:
		deploy_history(fd, slot, req->history);
		break;
	case FERRY__CTL_REQUEST__OP_SERVICE_STATUS:
		views_service(fd, slot, req->service_status);
		break;
	case FERRY__CTL_REQUEST__OP_PAUSE:
		deploy_control(fd, slot, req->pause, RI_PAUSE, actor);
		break;
	case FERRY__CTL_REQUEST__OP_RESUME:
		deploy_control(fd, slot, req->resume, RI_RESUME, actor);
		break;
	case FERRY__CTL_REQUEST__OP_ABORT:
		deploy_control(fd, slot, req->abort, RI_ABORT, actor);
		break;
	case FERRY__CTL_REQUEST__OP_PROMOTE:
		deploy_control(fd, slot, req->promote, RI_PROMOTE, actor);
		break;
	case FERRY__CTL_REQUEST__OP_LOGS:
		logs_request(fd, slot, req->logs, actor);
		break;
	case FERRY__CTL_REQUEST__OP_ROLLBACK:
		deploy_rollback(fd, slot, req->rollback, actor);
		break;
	case FERRY__CTL_REQUEST__OP_EVENTS:
		deploy_events(fd, slot, req->events);
		break;
	case FERRY__CTL_REQUEST__OP_SECRET_SET:
		secrets_ctl_set(fd, slot, req->secret_set, actor);
		break;
	case FERRY__CTL_REQUEST__OP_SECRET_LIST:
		secrets_ctl_list(fd, slot, req->secret_list, actor);
		break;
	case FERRY__CTL_REQUEST__OP_SECRET_RM:
		secrets_ctl_rm(fd, slot, req->secret_rm, actor);
		break;
	case FERRY__CTL_REQUEST__OP_HOST_DRAIN:
		drain_request(fd, slot, req->host_drain->name, 1, actor);
		break;
	case FERRY__CTL_REQUEST__OP_HOST_UNDRAIN:
		drain_request(fd, slot, req->host_undrain->name, 0, actor);
		break;
	case FERRY__CTL_REQUEST__OP_SERVICE_STOP:
		deploy_lifecycle(fd, slot, req->service_stop,
		    DEPLOY_KIND_STOP, actor);
		break;
	case FERRY__CTL_REQUEST__OP_SERVICE_START:
		deploy_lifecycle(fd, slot, req->service_start,
		    DEPLOY_KIND_START, actor);
		break;
	case FERRY__CTL_REQUEST__OP_SERVICE_RESTART:
		deploy_lifecycle(fd, slot, req->service_restart,
		    DEPLOY_KIND_RESTART, actor);
		break;
	case FERRY__CTL_REQUEST__OP_SERVICE_REMOVE:
		deploy_lifecycle(fd, slot, req->service_remove,
		    DEPLOY_KIND_REMOVE, actor);
		break;
	case FERRY__CTL_REQUEST__OP_REGISTRY_LOGIN:
		secrets_ctl_registry_login(fd, slot, req->registry_login,
		    actor);
		break;
	default:
		log_warnx("control: refused request from %s: unknown "
		    "operation", actor);
		ctl_error(slot, "%s", "unknown operation (is ferry newer "
		    "than ferryd?)");
		break;
	}
	ferry__ctl_request__free_unpacked(req, NULL);
}

/*
 * share gives the socket to the operators group, mode 0660, so that its
 * members can connect at all (admit still checks every request).  Without
 * that group, or when ferryd may not give its files to it (ferryd's user
 * must be a member), the socket stays 0600: root and ferryd's user only.
 */
static void
share(struct ferryd *fd)
{
	const char *group = fd->conf.operators_group, *path = fd->conf.socket;
	gid_t gid;
	int rc;

	if (group[0] == '\0')
		return;
	if ((rc = group_gid(group, &gid)) != 0) {
		log_info("control: operators group \"%s\" %s: only root and "
		    "ferryd's user may use %s", group, rc == FERR_NOTFOUND ?
		    "does not exist" : "cannot be looked up", path);
		return;
	}
	/* Requests are checked against it from now on, without looking it
	 * up on the loop again. */
	fd->ops_known = 1;
	fd->ops_gid = gid;
	if (chown(path, (uid_t)-1, gid) != 0) {
		log_warn("control: cannot give %s to the operators group "
		    "\"%s\" (is ferryd's user a member?); only root and "
		    "ferryd's user may use it", path, group);
		return;
	}
	if (chmod(path, 0660) != 0) {
		log_warn("control: %s: cannot open it to the operators group "
		    "\"%s\"", path, group);
		return;
	}
	log_debug("control: %s: mode 0660, group %s", path, group);
}

/*
 * control_start listens for the CLI on conf.socket: created 0600, then
 * shared with the operators group (share); every request is then admitted
 * or refused by the peer's credentials (admit).
 */
int
control_start(struct ferryd *fd)
{
	char url[600];
	int rc;

	snprintf(url, sizeof(url), "ipc://%s", fd->conf.socket);
	if ((rc = repsrv_open(&fd->control, url, CONTROL_MAX_SIZE, 0600,
	    &fd->mb, on_control, fd)) != 0)
		return rc;
	share(fd);
	return 0;
}

void
control_stop(struct ferryd *fd)
{
	repsrv_close(fd->control);
	fd->control = NULL;
}
