/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/dkit.c tests/integration/fake.c
/* test_sealed.c: the agent link as an attacker on the network sees it: a
 * relay in the middle records every byte of a deploy with env values, and
 * none of them is there; cleartext only when both ends are told so; and
 * what it recorded, replayed after restarts of ferryd and of the agent,
 * changes nothing. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "chan.h"
#include "dkit.h"
#include "fake.h"

static void fake_script(struct fake_link *l);
FAKE_MAIN(fake_script)

static struct h_relay RELAY;
static char WIRE[600];		/* the recordings' prefix */
static char ENV_VALUE[64], LEVEL_VALUE[64], SECRET_VALUE[64];
static char SECDIR[700];	/* the agent's secrets_dir */

/* The agent mounted a tmpfs on its secrets_dir: off it comes first. */
static void
sealed_teardown(void)
{
	if (NAGENTS > 0 && AGENT[0] != NULL && h_alive(AGENT[0]))
		h_kill(AGENT[0], SIGTERM);
	h_docker_rm_host(HOST[0]);
	if (SECDIR[0] != '\0') {
		h_run(&R, (const char *[]){ "/bin/umount", "-l", SECDIR,
		    NULL });
		SECDIR[0] = '\0';
	}
	teardown();
}

TestSuite(sealed, .init = setup, .fini = sealed_teardown, .timeout = 150);

/* through_relay: host 0 joins, then runs its agent dialling ferryd
 * through a recording relay, with extra flags. */
static void
through_relay(const char *const *extra)
{
	char tok[1100], url[64];
	const char *argv[16];
	int i = 0, j;

	h_relay_start(&RELAY, F.port);
	h_path(&F, "wire", WIRE, sizeof(WIRE));
	h_relay_record(&RELAY, WIRE);
	h_token(&F, tok, sizeof(tok), NULL);
	h_join(&F, &R, tok, HOST[0], ADDR[0]);
	cr_assert_eq(R.status, 0, "join: %s", R.err);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", RELAY.port);
	snprintf(SECDIR, sizeof(SECDIR), "%s/%s-secrets", F.dir, HOST[0]);
	argv[i++] = "--coordinator";
	argv[i++] = url;
	argv[i++] = "--secrets-dir";
	argv[i++] = SECDIR;
	for (j = 0; extra != NULL && extra[j] != NULL && i < 15; j++)
		argv[i++] = extra[j];
	argv[i] = NULL;
	AGENT[0] = h_start_agent(&F, HOST[0], argv);
	NAGENTS = 1;
}

static void
label_and_deploy(void)
{
	/* The plan is start-first: it needs ferryd to have heard the
	 * host's proxy. */
	cr_assert(h_wait_state(&F, HOST[0], "online", 10000));
	h_wait_proxy(&F, HOST[0], 10000);
	h_ferry(&F, &R, (const char *[]){ "hosts", "label", HOST[0],
	    "role=web", NULL });
	cr_assert_eq(R.status, 0, "label: %s", R.err);
	h_unique("k3y", ENV_VALUE, sizeof(ENV_VALUE));
	h_unique("chatty", LEVEL_VALUE, sizeof(LEVEL_VALUE));
	h_unique("s3cret", SECRET_VALUE, sizeof(SECRET_VALUE));
	h_write(&F, "secret.txt", "%s", SECRET_VALUE);
	h_ferry(&F, &R, (const char *[]){ "secret", "set", "web",
	    "DB_PASSWORD", "--file", path("secret.txt"), NULL });
	cr_assert_eq(R.status, 0, "secret set: %s%s", R.out, R.err);
	h_write(&F, "web.yml",
	    "service: web\n"
	    "image: " IMG "1\n"
	    "hosts: " LABELS "\n"
	    "port: { host: %d, container: 80 }\n"
	    "env: { API_KEY: \"%s\", LOG_LEVEL: \"%s\" }\n"
	    "secrets: [DB_PASSWORD]\n"
	    "health:\n"
	    "  http: { path: /health, port: 80 }\n"
	    "  interval: 200ms\n"
	    "  deadline: 10s\n"
	    "  min_healthy: 300ms\n", PORT, ENV_VALUE, LEVEL_VALUE);
	cr_assert_eq(deploy_watch("web.yml"), 0, "deploy failed: %s", R.out);
	/* Heartbeats after it carry what runs. */
	h_sleep_ms(1000);
}

/* wire_bytes: everything the relay recorded, both ways, in one buffer. */
static uint8_t *
wire_bytes(size_t *len)
{
	char path[700];
	uint8_t *all = NULL;
	size_t n = 0;
	int c, d;

	for (c = 1; c <= RELAY.nconn; c++)
		for (d = 0; d < 2; d++) {
			FILE *f;
			struct stat st;

			snprintf(path, sizeof(path), "%s.%d.%s", WIRE, c,
			    d ? "down" : "up");
			if (stat(path, &st) != 0 || (f = fopen(path, "rb")) ==
			    NULL)
				continue;
			all = realloc(all, n + (size_t)st.st_size + 1);
			cr_assert_not_null(all);
			n += fread(all + n, 1, (size_t)st.st_size, f);
			fclose(f);
		}
	*len = n;
	return all;
}

static int
has(const uint8_t *p, size_t len, const char *text)
{
	size_t k = strlen(text), i;

	for (i = 0; i + k <= len; i++)
		if (memcmp(p + i, text, k) == 0)
			return 1;
	return 0;
}

struct frames {
	int n, sealed, hello, welcome, other;
};

static void
count_frame(const uint8_t *body, size_t len, void *arg)
{
	struct frames *fr = arg;

	fr->n++;
	switch (chan_frame_kind(body, len)) {
	case CHAN_SEALED: fr->sealed++; break;
	case CHAN_HELLO: fr->hello++; break;
	case CHAN_WELCOME: fr->welcome++; break;
	default: fr->other++; break;
	}
}

Test(sealed, nothing_of_a_deploy_is_readable_on_the_wire)
{
	struct frames up = { 0 }, down = { 0 };
	char path[700];
	uint8_t *w;
	size_t len;
	int c;

	through_relay(NULL);
	cr_assert(h_wait_state(&F, HOST[0], "online", 10000));
	label_and_deploy();
	h_relay_stop(&RELAY);
	h_ferry(&F, &R, (const char *[]){ "hosts", "--json", NULL });
	cr_assert(strstr(R.out, "\"sealed\"") != NULL, "%s", R.out);

	for (c = 1; c <= RELAY.nconn; c++) {
		snprintf(path, sizeof(path), "%s.%d.up", WIRE, c);
		h_sp_messages(path, count_frame, &up);
		snprintf(path, sizeof(path), "%s.%d.down", WIRE, c);
		h_sp_messages(path, count_frame, &down);
	}
	/* The whole deploy went through the relay, every message of it
	 * sealed: a Hello and its Welcome, then sealed frames only. */
	cr_assert_geq(up.n, 10, "only %d messages recorded", up.n);
	cr_assert_eq(up.other, 0, "%d of %d messages up not sealed", up.other,
	    up.n);
	cr_assert_eq(down.other, 0, "%d of %d messages down not sealed",
	    down.other, down.n);
	cr_assert_geq(up.hello, 1);
	cr_assert_eq(down.welcome, up.hello);
	cr_assert_geq(up.sealed, 8);

	w = wire_bytes(&len);
	cr_assert_gt(len, 4000, "only %zu bytes recorded", len);
	cr_assert_not(has(w, len, ENV_VALUE), "an env value on the wire");
	cr_assert_not(has(w, len, SECRET_VALUE), "a secret on the wire");
	cr_assert_not(has(w, len, "DB_PASSWORD"), "a secret's name on the wire");
	cr_assert_not(has(w, len, LEVEL_VALUE), "an env value on the wire");
	cr_assert_not(has(w, len, "ferry-test/web"), "the image on the wire");
	cr_assert_not(has(w, len, HOST[0]), "the host name on the wire");
	cr_assert_not(has(w, len, "role"), "a label on the wire");
	cr_assert_not(has(w, len, "/health"), "the health check on the wire");
	free(w);
}

Test(sealed, cleartext_only_when_both_ends_are_told_and_then_readable)
{
	uint8_t *w;
	size_t len;
	char st[32];

	/* An agent told to speak in cleartext to a ferryd that is not: it
	 * hears why it is refused, and its host never comes online. */
	through_relay((const char *[]){ "--insecure-cleartext-link", "yes",
	    NULL });
	cr_assert(h_wait_log(AGENT[0], "ferryd takes sealed messages only",
	    5000), "the agent was not told why");
	cr_assert(h_log_has(F.ferryd, "cleartext message on a sealed link"));
	cr_assert_str_neq(h_host_state(&F, HOST[0], st, sizeof(st)), "online");

	/* Both told: it works, and the relay reads everything. */
	cr_assert_eq(h_kill(F.ferryd, SIGTERM), 0);
	h_start_ferryd(&F, (const char *[]){ "--insecure-cleartext-link",
	    "yes", NULL });
	cr_assert(h_wait_state(&F, HOST[0], "online", 10000));
	h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
	cr_assert(strstr(R.out, "speaks in cleartext") != NULL, "%s", R.out);
	label_and_deploy();
	h_relay_stop(&RELAY);
	w = wire_bytes(&len);
	cr_assert(has(w, len, ENV_VALUE), "cleartext, and the env value not "
	    "seen: the recording misses the deploy");
	cr_assert(has(w, len, HOST[0]));
	/* A secret is sealed to the host whatever the link: even here. */
	cr_assert_not(has(w, len, SECRET_VALUE), "a secret on a cleartext "
	    "link");
	free(w);
}

/* ---- replays after restarts ------------------------------------------- */

#define CAP_MAX		48
#define CAP_LEN		8192

/* What the relay recorded one way, message by message. */
struct captured {
	int n;
	size_t len[CAP_MAX];
	uint8_t data[CAP_MAX][CAP_LEN];
};

static void
capture(const uint8_t *body, size_t len, void *arg)
{
	struct captured *c = arg;

	if (c->n < CAP_MAX && len <= CAP_LEN) {
		memcpy(c->data[c->n], body, len);
		c->len[c->n++] = len;
	}
}

static void
captured_way(struct captured *c, const char *way)
{
	char path[700];
	int k;

	c->n = 0;
	for (k = 1; k <= RELAY.nconn; k++) {
		snprintf(path, sizeof(path), "%s.%d.%s", WIRE, k, way);
		h_sp_messages(path, capture, c);
	}
}

/* replay_to_ferryd sends every captured request again, each on a
 * connection of its own, as it was recorded; returns how many got an
 * answer that tells the agent its session is unknown. */
static int
replay_to_ferryd(const struct captured *up, int *answered)
{
	uint8_t *reply;
	size_t rlen;
	int i, unknown = 0;

	*answered = 0;
	for (i = 0; i < up->n; i++) {
		if (chan_frame_kind(up->data[i], up->len[i]) != CHAN_SEALED)
			continue;
		if (fake_ask_cleartext(&F, F.listen, up->data[i], up->len[i],
		    300, &reply, &rlen) != 0)
			continue;
		(*answered)++;
		if (chan_frame_kind(reply, rlen) == CHAN_UNKNOWN)
			unknown++;
		free(reply);
	}
	return unknown;
}

/* The fake ferryd for the agent's side: every request it gets is answered
 * with the next answer ferryd gave on the recorded link, as it was. */
struct replayer {
	struct fake_link link;
	struct captured down;
	int answered;
};

static void
replay_answers(struct fake_link *l)
{
	struct replayer *rp = (struct replayer *)l;
	int i;

	for (i = 0; i < rp->down.n && fake_mono_ms() < l->deadline; i++) {
		nng_msg *m, *a;

		nng_socket_set_ms(l->sock, NNG_OPT_RECVTIMEO,
		    (nng_duration)(l->deadline - fake_mono_ms()));
		if (nng_recvmsg(l->sock, &m, 0) != 0)
			break;
		nng_msg_free(m);
		FAKE_CHECK(l, nng_msg_alloc(&a, 0) == 0 && nng_msg_append(a,
		    rp->down.data[i], rp->down.len[i]) == 0, "nng_msg_alloc");
		if (nng_sendmsg(l->sock, a, 0) != 0)
			nng_msg_free(a);
		else
			rp->answered++;
	}
}

static void
fake_script(struct fake_link *l)
{
	replay_answers(l);
}

Test(sealed, recorded_messages_replayed_after_restarts_change_nothing)
{
	static struct captured up;
	struct replayer *rp;
	char st[32], url[64];
	long long seen, cmds, agent_cmds;
	int answered, unknown;

	through_relay(NULL);
	cr_assert(h_wait_state(&F, HOST[0], "online", 10000));
	label_and_deploy();
	captured_way(&up, "up");
	cr_assert_geq(up.n, 10);

	/* The agent dies; its host goes offline. */
	h_kill(AGENT[0], SIGKILL);
	cr_assert(h_wait_state(&F, HOST[0], "offline", 10000));
	h_sleep_ms(300);
	seen = h_db_int(&F, "ferryd/ferryd.db", "SELECT last_seen_ms FROM "
	    "hosts WHERE name = ?", NULL, 0, HOST[0]);
	cmds = db_count("SELECT count(*) FROM commands");

	/* Its polls and reports replayed to the same ferryd: every number
	 * was taken; nothing is answered. */
	unknown = replay_to_ferryd(&up, &answered);
	cr_assert_eq(answered, 0, "%d replayed requests answered", answered);
	cr_assert(h_log_has(F.ferryd, "its number was taken before"));
	cr_assert_str_eq(h_host_state(&F, HOST[0], st, sizeof(st)), "offline");

	/* ... and to ferryd restarted: no session of before is known, so
	 * nothing recorded opens. */
	cr_assert_eq(h_kill(F.ferryd, SIGTERM), 0);
	/* Every replay was refused: the first logged at once, the others
	 * counted and summed up (at the latest as ferryd stops). */
	cr_assert_geq(h_db_int(&F, "ferryd/ferryd.db", "SELECT sum(times) "
	    "FROM events WHERE kind = 'refused' AND (detail LIKE "
	    "'%its number was taken before%' OR detail LIKE "
	    "'%: replayed sealed message %')", NULL, 0, NULL), 5);
	h_start_ferryd(&F, NULL);
	unknown = replay_to_ferryd(&up, &answered);
	cr_assert_geq(answered, 5);
	cr_assert_eq(unknown, answered, "a replayed request was answered "
	    "other than with 'unknown session'");
	h_sleep_ms(500);
	cr_assert_str_neq(h_host_state(&F, HOST[0], st, sizeof(st)), "online");
	cr_assert_eq(h_db_int(&F, "ferryd/ferryd.db", "SELECT last_seen_ms "
	    "FROM hosts WHERE name = ?", NULL, 0, HOST[0]), seen,
	    "a replayed heartbeat was heard");
	cr_assert_eq(db_count("SELECT count(*) FROM commands"), cmds);

	/* The agent restarted, and ferryd's recorded answers replayed to it
	 * (Welcome, commands, Idles, acknowledgements) by an impostor at
	 * the address it dials: none is taken. */
	snprintf(url, sizeof(url), "%s/agent.db", HOST[0]);
	agent_cmds = h_db_int(&F, url, "SELECT count(*) FROM commands", NULL,
	    0, NULL);
	cr_assert_geq(agent_cmds, 2);
	rp = fake_new(&F, "replayer", sizeof(*rp));
	rp->link.mode = FAKE_SCRIPT;
	snprintf(rp->link.url, sizeof(rp->link.url), "tcp://127.0.0.1:%d",
	    h_free_port());
	rp->link.deadline = fake_mono_ms() + 6000;
	captured_way(&rp->down, "down");
	cr_assert_geq(rp->down.n, 10);
	snprintf(url, sizeof(url), "%s", rp->link.url);
	AGENT[0] = h_start_agent(&F, HOST[0], (const char *[]){
	    "--coordinator", url, "--secrets-dir", SECDIR, NULL });
	fake_run(&F, &rp->link, "replayer", 8000);
	cr_assert_geq(rp->answered, 3, "the agent asked only %d times",
	    rp->answered);
	h_kill(AGENT[0], SIGTERM);
	cr_assert(h_log_has(AGENT[0], "refused ferryd's answer to a hello"));
	snprintf(url, sizeof(url), "%s/agent.db", HOST[0]);
	cr_assert_eq(h_db_int(&F, url, "SELECT count(*) FROM commands", NULL,
	    0, NULL), agent_cmds, "a replayed command was taken");
	munmap(rp, sizeof(*rp));
}
