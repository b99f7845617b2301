/* SPDX-License-Identifier: Apache-2.0 */
/* fake.c: NNG peers in a process of their own (see fake.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>

#include "clock.h"
#include "envelope.h"
#include "ferr.h"
#include "ferry.pb-c.h"
#include "chan.h"
#include "fake.h"
#include "harness.h"

/* The map of one fake agent's request: the request, then the answer, in
 * data. */
struct fake_ask_map {
	struct fake_link link;
	int cleartext;			/* send as it is, not sealed */
	int ms;
	int rv;
	size_t len;			/* of the request */
	size_t reply_len;
	size_t cap;			/* of data */
	uint8_t data[];
};

uint64_t
fake_mono_ms(void)
{
	return clock_mono_us() / 1000;
}

/* fake_map maps path: size bytes of zeroes when size > 0 (created), or the
 * whole file as it is (size 0). */
static void *
fake_map(const char *path, size_t size)
{
	struct stat st;
	void *p;
	int fd = open(path, size ? O_RDWR | O_CREAT | O_TRUNC : O_RDWR, 0600);

	if (fd < 0)
		return NULL;
	if (size > 0 && ftruncate(fd, (off_t)size) != 0) {
		close(fd);
		return NULL;
	}
	if (size == 0) {
		if (fstat(fd, &st) != 0 || st.st_size <= 0) {
			close(fd);
			return NULL;
		}
		size = (size_t)st.st_size;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

/* ---- in the test process ------------------------------------------------ */

void *
fake_new(struct h_fleet *f, const char *name, size_t size)
{
	char rel[128], path[600];
	struct fake_link *l;

	cr_assert_geq(size, sizeof(*l));
	snprintf(rel, sizeof(rel), "%s.map", name);
	l = fake_map(h_path(f, rel, path, sizeof(path)), size);
	cr_assert_not_null(l, "%s: %s", path, strerror(errno));
	snprintf(l->url, sizeof(l->url), "%s", f->listen);
	return l;
}

void
fake_run(struct h_fleet *f, struct fake_link *l, const char *name, int ms)
{
	char rel[128], path[600], logpath[600];
	pid_t parent = getpid(), pid;
	uint64_t end;
	int st = 0, fd;

	snprintf(rel, sizeof(rel), "%s.map", name);
	h_path(f, rel, path, sizeof(path));
	snprintf(rel, sizeof(rel), "%s.log", name);
	h_path(f, rel, logpath, sizeof(logpath));
	l->error[0] = '\0';
	pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* Nothing of NNG, nothing of Criterion here: exec at once. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(3);
		if ((fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND,
		    0600)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		setenv(FAKE_ENV, path, 1);
		execl("/proc/self/exe", name, (char *)NULL);
		_exit(127);
	}
	end = fake_mono_ms() + (uint64_t)ms + 5000;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (fake_mono_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			cr_assert_fail("%s still runs after %d ms", name, ms);
		}
		h_sleep_ms(5);
	}
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: %s (status %d)",
	    name, l->error[0] ? l->error : "died", st);
}

static int
ask_as(struct h_fleet *f, const char *url, const void *buf, size_t len,
    int ms, uint8_t **reply, size_t *reply_len, int cleartext)
{
	size_t cap = (len > ENVELOPE_MAX_SIZE ? len : ENVELOPE_MAX_SIZE) +
	    CHAN_OVERHEAD;
	struct fake_ask_map *a = fake_new(f, "fake-agent", sizeof(*a) + cap);
	int rv;

	*reply = NULL;
	*reply_len = 0;
	a->link.mode = FAKE_ASK;
	a->cleartext = cleartext;
	snprintf(a->link.url, sizeof(a->link.url), "%s", url);
	a->ms = ms;
	a->len = len;
	a->cap = cap;
	memcpy(a->data, buf, len);
	fake_run(f, &a->link, "fake-agent", 2 * ms);
	rv = a->rv;
	if (rv == 0) {
		*reply = malloc(a->reply_len + 1);
		cr_assert_not_null(*reply);
		memcpy(*reply, a->data, a->reply_len);
		*reply_len = a->reply_len;
	}
	munmap(a, sizeof(*a) + cap);
	return rv;
}

int
fake_ask(struct h_fleet *f, const char *url, const void *buf, size_t len,
    int ms, uint8_t **reply, size_t *reply_len)
{
	return ask_as(f, url, buf, len, ms, reply, reply_len, 0);
}

int
fake_ask_cleartext(struct h_fleet *f, const char *url, const void *buf,
    size_t len, int ms, uint8_t **reply, size_t *reply_len)
{
	return ask_as(f, url, buf, len, ms, reply, reply_len, 1);
}

/* ---- in the fake ------------------------------------------------------- */

void
fake_fail(struct fake_link *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->error, sizeof(l->error), fmt, ap);
	va_end(ap);
	fprintf(stderr, "fake: %s\n", l->error);
	_exit(1);
}

void
fake_seal(struct fake_link *l, uint32_t kind, const ProtobufCMessage *m,
    const struct keypair *kp, uint8_t **buf, size_t *len)
{
	int rc = envelope_seal_msg(kind, m, kp, buf, len);

	FAKE_CHECK(l, rc == 0, "seal: %s", ferr_str(rc));
}

/* The fake ferryd's channel sessions, and how to answer the request in
 * hand (in the fake's process only). */
static struct chan_server *fake_chan;
static struct chan_reply fake_reply;

static void
send_raw(struct fake_link *l, const void *buf, size_t len)
{
	nng_msg *m;
	int rv;

	FAKE_CHECK(l, nng_msg_alloc(&m, 0) == 0 &&
	    nng_msg_append(m, buf, len) == 0, "nng_msg_alloc");
	if ((rv = nng_sendmsg(l->sock, m, 0)) != 0) {
		nng_msg_free(m);
		fprintf(stderr, "fake ferryd: send: %s\n", nng_strerror(rv));
	}
}

void
fake_send(struct fake_link *l, const void *buf, size_t len)
{
	uint8_t *frame;
	size_t flen;

	FAKE_CHECK(l, chan_reply_seal(&fake_reply, buf, len, &frame, &flen) ==
	    0, "chan_reply_seal");
	send_raw(l, frame, flen);
	free(frame);
}

/* fake_unframe takes the channel off a request: answers a Hello (returns
 * 0), or opens a sealed request in place (returns 1, *body and *len its
 * envelope); a cleartext one passes as it is. */
static int
fake_unframe(struct fake_link *l, nng_msg *m, const uint8_t **body,
    size_t *len)
{
	uint8_t welcome[CHAN_WELCOME_LEN];
	int kind, rc;

	*body = nng_msg_body(m);
	*len = nng_msg_len(m);
	memset(&fake_reply, 0, sizeof(fake_reply));
	if (fake_chan == NULL)
		FAKE_CHECK(l, (fake_chan = chan_server_new(&l->coord, 64)) !=
		    NULL, "chan_server_new");
	kind = chan_frame_kind(*body, *len);
	if (kind == CHAN_NONE)
		return 1;
	if (kind == CHAN_HELLO) {
		FAKE_CHECK(l, chan_server_hello(fake_chan, *body, *len,
		    fake_mono_ms(), welcome) == 0, "hello");
		send_raw(l, welcome, sizeof(welcome));
		return 0;
	}
	rc = chan_server_open(fake_chan, nng_msg_body(m), nng_msg_len(m),
	    fake_mono_ms(), &fake_reply, body, len);
	if (rc == FERR_SESSION) {
		/* The agent's session was with the real ferryd. */
		chan_unknown((const uint8_t *)nng_msg_body(m) + CHAN_HEAD_LEN,
		    welcome);
		send_raw(l, welcome, CHAN_UNKNOWN_LEN);
		return 0;
	}
	FAKE_CHECK(l, rc == 0, "fake ferryd: sealed request: %s", ferr_str(rc));
	return 1;
}

void
fake_acknowledge(struct fake_link *l, const Ferry__Report *r, int forged)
{
	Ferry__ReportAck ack = FERRY__REPORT_ACK__INIT;
	uint8_t *buf, hash[ENVELOPE_DIGEST_LEN], *packed;
	size_t len = protobuf_c_message_get_packed_size(&r->base);

	/* The agent packed the report with protobuf-c too: the same bytes. */
	FAKE_CHECK(l, (packed = malloc(len + 1)) != NULL, "malloc");
	protobuf_c_message_pack(&r->base, packed);
	envelope_digest(packed, len, hash);
	free(packed);
	ack.command_id = r->command_id;
	ack.report_hash.data = hash;
	ack.report_hash.len = sizeof(hash);
	fake_seal(l, FERRY__KIND__KIND_REPORT_ACK, &ack.base, forged ?
	    &l->forger : &l->coord, &buf, &len);
	fake_send(l, buf, len);
	free(buf);
}

/* fake_read: one report riding on a poll, named by the next Idle. */
static void
fake_read(struct fake_link *l, const uint8_t *body, size_t len)
{
	Ferry__Report *r = ferry__report__unpack(NULL, len, body);

	FAKE_CHECK(l, r != NULL, "a report riding on a poll does not unpack");
	if (r->command_id.len == 16 && l->nread < 64) {
		memcpy(l->read_ids[l->nread], r->command_id.data, 16);
		envelope_digest(body, len, l->read_hashes[l->nread]);
		l->nread++;
	}
	if (l->on_riding != NULL && l->on_riding(l, r))
		l->forge_idle = 1;
	ferry__report__free_unpacked(r, NULL);
}

nng_msg *
fake_poll(struct fake_link *l)
{
	for (;;) {
		struct envelope ev;
		nng_msg *m;
		const uint8_t *body;
		size_t blen;
		uint64_t now = fake_mono_ms();
		int rv, rc;

		FAKE_CHECK(l, now < l->deadline, "fake ferryd: no poll in "
		    "time (%d so far)", l->polls);
		nng_socket_set_ms(l->sock, NNG_OPT_RECVTIMEO,
		    (nng_duration)(l->deadline - now));
		rv = nng_recvmsg(l->sock, &m, 0);
		FAKE_CHECK(l, rv == 0, "fake ferryd: recv after %d polls: %s",
		    l->polls, nng_strerror(rv));
		if (!fake_unframe(l, m, &body, &blen)) {
			nng_msg_free(m);
			continue;
		}
		rc = envelope_open(body, blen, l->agent_pk, &ev);
		FAKE_CHECK(l, rc == 0, "request not sealed by the agent: %s",
		    ferr_str(rc));
		if (ev.kind == FERRY__KIND__KIND_POLL) {
			Ferry__Poll *p = NULL;
			FAKE_CHECK(l, envelope_unpack(&ev,
			    &ferry__poll__descriptor,
			    (ProtobufCMessage **)&p) == 0, "poll does not "
			    "unpack");
			l->poll_last_seq = p->last_sequence;
			l->poll_sent_at_ms = p->sent_at_ms;
			l->poll_counter = p->counter;
			for (size_t i = 0; i < p->n_reports; i++)
				fake_read(l, p->reports[i].data,
				    p->reports[i].len);
			ferry__poll__free_unpacked(p, NULL);
			l->poll_pipe = nng_pipe_id(nng_msg_get_pipe(m));
			l->polls++;
			return m;
		}
		FAKE_CHECK(l, ev.kind == FERRY__KIND__KIND_REPORT, "agent sent "
		    "kind %u", ev.kind);
		FAKE_CHECK(l, l->on_report != NULL, "a report, and no script "
		    "to answer it");
		l->on_report(l, &ev);
		nng_msg_free(m);
	}
}

void
fake_answer(struct fake_link *l, const void *buf, size_t len)
{
	nng_msg *poll = fake_poll(l);

	nng_msg_free(poll);
	fake_send(l, buf, len);
}

void
fake_idle(struct fake_link *l)
{
	Ferry__Idle idle = FERRY__IDLE__INIT;
	nng_msg *poll = fake_poll(l);
	ProtobufCBinaryData read[64], hashes[64];
	uint8_t *buf;
	size_t len;
	int i;

	nng_msg_free(poll);
	h_sleep_ms(50);
	idle.server_time_ms = clock_wall_ms();
	idle.poll_sent_at_ms = l->poll_sent_at_ms;
	idle.poll_counter = l->poll_counter;
	for (i = 0; i < l->nread; i++) {
		read[i].data = l->read_ids[i];
		read[i].len = 16;
		hashes[i].data = l->read_hashes[i];
		hashes[i].len = ENVELOPE_DIGEST_LEN;
	}
	idle.read_reports = read;
	idle.n_read_reports = (size_t)l->nread;
	idle.read_hashes = hashes;
	idle.n_read_hashes = (size_t)l->nread;
	if (l->forge_idle && l->idle_wrong_hash)
		for (i = 0; i < l->nread; i++)
			l->read_hashes[i][0] ^= 0xff;
	fake_seal(l, FERRY__KIND__KIND_IDLE, &idle.base, l->forge_idle &&
	    !l->idle_wrong_hash ? &l->forger : &l->coord, &buf, &len);
	l->nread = 0;
	l->forge_idle = 0;
	fake_send(l, buf, len);
	free(buf);
}

/* roundtrip: one request and its answer on s, as they are. */
static int
roundtrip(nng_socket s, const void *buf, size_t len, nng_msg **reply)
{
	nng_msg *m;
	int rv;

	*reply = NULL;
	if ((rv = nng_msg_alloc(&m, 0)) != 0)
		return rv;
	if ((rv = nng_msg_append(m, buf, len)) != 0 ||
	    (rv = nng_sendmsg(s, m, 0)) != 0) {
		nng_msg_free(m);
		return rv;
	}
	return nng_recvmsg(s, reply, 0);
}

/*
 * ask: a fake agent's one request (FAKE_ASK), sealed in a channel of its
 * own (trusting whichever key signs the Welcome: the test is the attacker
 * here, not the one to protect) unless a->cleartext.  A sealed answer is
 * handed back opened; one that does not open counts as NNG_ECRYPTO.
 */
static void
ask(struct fake_ask_map *a)
{
	struct fake_link *l = &a->link;
	struct chan_client c;
	uint8_t hello[CHAN_HELLO_LEN], *frame;
	const uint8_t *out;
	size_t flen, olen;
	uint64_t counter;
	nng_socket s;
	nng_msg *reply = NULL;
	int rv;

	FAKE_CHECK(l, nng_req0_open(&s) == 0, "nng_req0_open");
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, a->ms);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, a->ms);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0);
	rv = nng_dial(s, l->url, NULL, 0);
	FAKE_CHECK(l, rv == 0, "dial %s: %s", l->url, nng_strerror(rv));
	if (a->cleartext) {
		rv = roundtrip(s, a->data, a->len, &reply);
	} else {
		memset(&c, 0, sizeof(c));
		chan_hello(&c, hello);
		rv = roundtrip(s, hello, sizeof(hello), &reply);
		FAKE_CHECK(l, rv == 0, "hello: %s", nng_strerror(rv));
		FAKE_CHECK(l, chan_frame_kind(nng_msg_body(reply),
		    nng_msg_len(reply)) == CHAN_WELCOME, "no welcome");
		FAKE_CHECK(l, chan_welcome(&c, nng_msg_body(reply),
		    nng_msg_len(reply), (const uint8_t *)nng_msg_body(reply) +
		    CHAN_HEAD_LEN + CHAN_ID_LEN + crypto_kx_PUBLICKEYBYTES,
		    NULL) == 0, "welcome does not verify");
		nng_msg_free(reply);
		FAKE_CHECK(l, chan_client_seal(&c, a->data, a->len, &frame,
		    &flen, &counter) == 0, "seal");
		rv = roundtrip(s, frame, flen, &reply);
		free(frame);
	}
	if (rv == 0) {
		out = nng_msg_body(reply);
		olen = nng_msg_len(reply);
		if (!a->cleartext && chan_client_open(&c, counter,
		    nng_msg_body(reply), nng_msg_len(reply), &out, &olen) != 0)
			rv = NNG_ECRYPTO;
	}
	if (rv == 0) {
		FAKE_CHECK(l, olen <= a->cap, "an answer of %zu bytes", olen);
		memcpy(a->data, out, olen);
		a->reply_len = olen;
	}
	if (reply != NULL)
		nng_msg_free(reply);
	a->rv = rv;
	_exit(0);	/* no nng_close: see fake.h */
}

void
fake_main(void (*script)(struct fake_link *))
{
	const char *path = getenv(FAKE_ENV);
	struct fake_link *l;
	int rv;

	if (path == NULL || path[0] == '\0')
		return;
	if ((l = fake_map(path, 0)) == NULL)
		_exit(4);
	FAKE_CHECK(l, crypto_init() == 0, "crypto_init");
	if (l->mode == FAKE_ASK)
		ask((struct fake_ask_map *)l);
	FAKE_CHECK(l, l->mode == FAKE_SCRIPT, "no mode %d", (int)l->mode);
	FAKE_CHECK(l, nng_rep0_open(&l->sock) == 0, "nng_rep0_open");
	/* The port was ferryd's a moment ago: retry while the kernel lets go
	 * of it. */
	while ((rv = nng_listen(l->sock, l->url, NULL, 0)) != 0 &&
	    fake_mono_ms() < l->deadline)
		h_sleep_ms(50);
	FAKE_CHECK(l, rv == 0, "fake ferryd: listen %s: %s", l->url,
	    nng_strerror(rv));
	script(l);
	_exit(0);	/* no nng_close: see fake.h */
}
