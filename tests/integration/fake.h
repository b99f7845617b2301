/* SPDX-License-Identifier: Apache-2.0 */
/* fake.h: NNG peers that live in a process of their own.
 *
 * nng_close of Debian's NNG 1.5.2 was seen to hang for good (all NNG threads
 * idle, no socket left open; compare nanomsg/nng#1543).  A Criterion test
 * process left with a hung close can never report or exit (Criterion's own
 * IPC is NNG, and ending NNG waits for that socket), so no test may open an
 * NNG socket of its own.  Instead the test binary runs itself again with
 * FAKE_ENV naming a file both processes map: a constructor (FAKE_MAIN) takes
 * over before Criterion starts, opens the socket, does its work, writes what
 * it saw into the map and leaves with _exit, never closing the socket; the
 * kernel frees the port.  Plain fork() is no way out: NNG, already running
 * in the Criterion worker, is not fork-reentrant safe.
 *
 * Nothing that runs in the fake may use Criterion: a failed check
 * (FAKE_CHECK) writes link->error and ends the process with status 1, and
 * fake_run fails the test with that message.
 *
 * Two kinds of fake:
 *   FAKE_SCRIPT  a fake ferryd: a REP socket listening on link->url, driven
 *                by the test file's script (FAKE_MAIN(script)) through
 *                fake_poll / fake_answer / fake_idle;
 *   FAKE_ASK     a fake agent's one request: fake_ask dials link->url from a
 *                fresh REQ socket, says Hello, sends the request sealed in
 *                that channel, waits, and hands back the answer opened.
 *
 * The fake ferryd speaks the channel too (chan.h): it answers Hellos, opens
 * sealed requests, and seals its answers in the channel of the request.
 */
#ifndef FERRY_FAKE_H
#define FERRY_FAKE_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include "envelope.h"
#include "ferry.pb-c.h"
#include "harness.h"
#include "keys.h"

#define FAKE_ENV	"FERRY_TEST_FAKE_FERRYD"

enum fake_mode { FAKE_SCRIPT = 1, FAKE_ASK };

struct fake_link;
typedef void (*fake_report_fn)(struct fake_link *, const struct envelope *);
/* A report that rode on a poll (verified with it); returns 1 when the Idle
 * that names it is to be forged. */
typedef int (*fake_riding_fn)(struct fake_link *, const Ferry__Report *);

/* The head of every map; a test's own state follows it (first member). */
struct fake_link {
	/* set by the test before fake_run */
	enum fake_mode mode;
	char url[64];
	uint64_t deadline;		/* monotonic ms: every wait ends here */
	struct keypair coord;		/* ferryd's real key: Idles */
	uint8_t agent_pk[KEY_PUBLIC_LEN]; /* every request verifies with it */
	/* the fake's own */
	nng_socket sock;
	fake_report_fn on_report;	/* set by the script, in the fake */
	fake_riding_fn on_riding;	/* set by the script, in the fake */
	/* The reports that rode on polls since the last Idle, which names
	 * them; when one of them asked for it (on_riding), that Idle is
	 * forged: sealed with forger instead of ferryd's key or, with
	 * idle_wrong_hash set, sealed with ferryd's key but naming every
	 * report with the hash of other bytes (an acknowledgement meant for
	 * something else). */
	uint8_t read_ids[64][16];
	uint8_t read_hashes[64][ENVELOPE_DIGEST_LEN];
	int nread;
	int forge_idle;
	int idle_wrong_hash;
	struct keypair forger;
	/* results */
	int polls;
	uint64_t poll_last_seq;		/* as the last poll said */
	uint64_t poll_sent_at_ms;	/* ... and its time, */
	uint64_t poll_counter;		/* and its count: Idles name them */
	uint32_t poll_pipe;		/* connection of the last poll */
	char error[512];
};

/* ---- in the test process ------------------------------------------------ */

/* fake_new maps DIR/<name>.map, size bytes of zeroes, to share with a fake;
 * the link's url is ferryd's.  munmap(p, size) when done. */
void *fake_new(struct h_fleet *f, const char *name, size_t size);

/* fake_run runs the fake on the map DIR/<name>.map (its output goes to
 * DIR/<name>.log) and waits for it, at most ms and 5 s more; a fake that
 * failed or still runs fails the test. */
void fake_run(struct h_fleet *f, struct fake_link *l, const char *name,
    int ms);

/* fake_ask sends buf as a fake agent from a fresh REQ socket to url, in a
 * process of its own, and waits up to ms for the answer: 0 with *reply
 * (heap, the caller frees) and *reply_len, or the NNG error (*reply NULL). */
int fake_ask(struct h_fleet *f, const char *url, const void *buf, size_t len,
    int ms, uint8_t **reply, size_t *reply_len);
/* fake_ask_cleartext: the same, buf sent as it is, not sealed in a
 * channel (what an agent set to insecure_cleartext_link sends). */
int fake_ask_cleartext(struct h_fleet *f, const char *url, const void *buf,
    size_t len, int ms, uint8_t **reply, size_t *reply_len);

/* ---- in the fake ------------------------------------------------------- */

/* FAKE_MAIN(script) in a test file makes its binary able to run as a fake:
 * script runs a fake ferryd on the map's link once it listens. */
#define FAKE_MAIN(script) \
	__attribute__((constructor)) static void \
	fake_ctor_(void) \
	{ \
		fake_main(script); \
	}

void fake_main(void (*script)(struct fake_link *));

void fake_fail(struct fake_link *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

#define FAKE_CHECK(l, cond, ...) \
	do { if (!(cond)) fake_fail((l), __VA_ARGS__); } while (0)

/* fake_seal seals m as kind with kp, or fails the fake. */
void fake_seal(struct fake_link *l, uint32_t kind, const ProtobufCMessage *m,
    const struct keypair *kp, uint8_t **buf, size_t *len);

/* fake_acknowledge answers the report in hand, r, with an acknowledgement
 * of its command, sealed with ferryd's key or, when forged, with forger. */
void fake_acknowledge(struct fake_link *l, const Ferry__Report *r,
    int forged);

/* fake_send answers the request in hand with buf. */
void fake_send(struct fake_link *l, const void *buf, size_t len);

/* fake_poll waits (until l->deadline) for the agent's next poll, handing
 * every report that comes first to l->on_report, which must answer it, and
 * every report riding on the poll to l->on_riding (when set).
 * Each request must verify with the agent's key.  The caller frees the
 * poll and answers it. */
nng_msg *fake_poll(struct fake_link *l);

/* fake_answer answers the agent's next poll with buf. */
void fake_answer(struct fake_link *l, const void *buf, size_t len);

/* fake_idle answers one poll with a genuine Idle (ferryd's real key), held
 * briefly as ferryd holds polls, so the agent does not spin. */
void fake_idle(struct fake_link *l);

uint64_t fake_mono_ms(void);

#endif
