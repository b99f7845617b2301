/* SPDX-License-Identifier: Apache-2.0 */
/* join.c: `ferry-agent join TOKEN`: enrol this host with ferryd. */
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>

#include "agent.h"
#include "clock.h"
#include "chancall.h"
#include "envelope.h"
#include "ferr.h"
#include "notify.h"
#include "token.h"

#define JOIN_TIMEOUT_MS	10000
#define AGENT_UNIT	"ferry-agent.service"
#define AGENT_CONF	"/etc/ferry/ferry-agent.conf"

extern char **environ;

static const char usage[] =
"usage: ferry-agent join TOKEN | --token-file FILE | - [--name NAME]\n"
"                         [--label k=v ...] [--state-dir DIR]\n"
"                         [--publish-address ADDR] [-f FILE] [--no-start]\n"
"\n"
"Enrols this host with the ferryd named in the token (from `ferry token\n"
"create`): creates the host key pair, proves the token, pins ferryd's key\n"
"and writes DIR/" ENROLMENT_FILE ".  The token is read from --token-file\n"
"FILE, or from standard input when given as - (or left out while standard\n"
"input is not a terminal), or else taken as the argument TOKEN, which\n"
"other users of this machine can read in the process list while join\n"
"runs: prefer a file or standard input.  NAME defaults to this machine's\n"
"host name; DIR to state_dir of the config file (-f FILE, default\n"
AGENT_CONF "), else /var/lib/ferry-agent.\n"
"\n"
"When systemd runs this machine and no --state-dir was given, join then\n"
"enables and (re)starts " AGENT_UNIT "; --no-start leaves the service\n"
"alone.  Otherwise it prints the command that starts the agent.\n"
"\n"
"join prints this host's key fingerprint: an operator compares it with\n"
"`ferry hosts` before naming a new key for a known host.\n"
"\n"
"Exit status: 0 joined (and the service started, when join starts it),\n"
"1 refused, unreachable or the service did not start, 2 bad arguments.\n";

/* fail prints "ferry-agent: join: " and the message on standard error, and
 * returns status (join's exit status). */
static int
fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("ferry-agent: join: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

static int
valid_name(const char *n)
{
	size_t i, len = strlen(n);

	if (len == 0 || len > 63 || !((n[0] >= 'a' && n[0] <= 'z') ||
	    (n[0] >= 'A' && n[0] <= 'Z') || (n[0] >= '0' && n[0] <= '9')))
		return 0;
	for (i = 0; i < len; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.-_", n[i]))
			return 0;
	return 1;
}

/* exchange sends one signed join request, sealed to the ferryd whose key
 * has the token's fingerprint, and returns ferryd's answer. */
static int
exchange(const struct join_token *tok, const uint8_t *req, size_t reqlen,
    uint8_t **reply, size_t *replylen, char *why, size_t whylen)
{
	struct chan_client c;
	nng_socket s;
	int rv = 0, rc;

	if ((rv = nng_req0_open(&s)) != 0)
		goto nngfail;
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, JOIN_TIMEOUT_MS);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, JOIN_TIMEOUT_MS);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, ENVELOPE_MAX_SIZE +
	    CHAN_OVERHEAD);
	if ((rv = nng_dial(s, tok->address, NULL, 0)) != 0) {
		nng_close(s);
		goto nngfail;
	}
	memset(&c, 0, sizeof(c));
	rc = chan_call(s, &c, NULL, tok->fingerprint, req, reqlen, reply,
	    replylen, &rv);
	chan_client_reset(&c);
	nng_close(s);
	if (rc != 0 && rv != 0)
		goto nngfail;
	if (rc != 0)
		snprintf(why, whylen, "no sealed link with ferryd at %s: %s",
		    tok->address, rc == FERR_SIGNER ? "it presented a key "
		    "without the token's fingerprint" : ferr_str(rc));
	return rc;
nngfail:
	snprintf(why, whylen, "cannot reach ferryd at %s: %s", tok->address,
	    nng_strerror(rv));
	return FERR_IO;
}

/* read_token reads one token from fp (a file or standard input): the
 * first line, surrounding blanks left out.  0 with the text in buf, or
 * FERR_TOOBIG / FERR_MALFORMED (empty) / FERR_IO. */
static int
read_token(FILE *fp, char *buf, size_t len)
{
	size_t n, i;

	if (fgets(buf, (int)len, fp) == NULL)
		return ferror(fp) ? FERR_IO : FERR_MALFORMED;
	n = strlen(buf);
	if (n == len - 1 && buf[n - 1] != '\n')
		return FERR_TOOBIG;
	while (n > 0 && strchr(" \t\r\n", buf[n - 1]) != NULL)
		buf[--n] = '\0';
	for (i = 0; buf[i] == ' ' || buf[i] == '\t'; i++)
		;
	memmove(buf, buf + i, n - i + 1);
	return buf[0] == '\0' ? FERR_MALFORMED : 0;
}

/* token_from fills text (TOKEN_MAX_TEXT + 2 bytes) from the token's file,
 * "-" for standard input; returns join's exit status, 0 when read. */
static int
token_from(const char *file, char *text, size_t len)
{
	FILE *fp = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	const char *what = fp == stdin ? "standard input" : file;
	int rc;

	if (fp == NULL)
		return fail(2, "--token-file %s: %s", file, strerror(errno));
	rc = read_token(fp, text, len);
	if (fp != stdin)
		fclose(fp);
	if (rc == FERR_TOOBIG)
		return fail(2, "bad token in %s: longer than a join token",
		    what);
	if (rc != 0)
		return fail(2, "no token in %s", what);
	return 0;
}

/* systemctl runs `systemctl VERB [FLAG] UNIT`, its output going to ours,
 * and returns 0 when it exits 0. */
static int
systemctl(const char *verb, const char *flag)
{
	char *argv[] = { "systemctl", (char *)verb, (char *)flag, AGENT_UNIT,
	    NULL };
	pid_t pid;
	int st;

	if (flag == NULL) {
		argv[2] = AGENT_UNIT;
		argv[3] = NULL;
	}
	if (posix_spawnp(&pid, "systemctl", NULL, NULL, argv, environ) != 0)
		return FERR_IO;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return FERR_IO;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : FERR_IO;
}

/* start_service enables the agent's unit and (re)starts it: the agent may
 * already run, waiting for this enrolment.  The unit starts only where it
 * finds the enrolment (ConditionPathExists=), so join asks whether it
 * really runs.  Returns the exit status. */
static int
start_service(const char *state_dir)
{
	if (systemctl("enable", "--quiet") != 0 ||
	    systemctl("restart", NULL) != 0) {
		fprintf(stderr, "ferry-agent: join: the host is enrolled, but "
		    "systemctl could not enable and start " AGENT_UNIT "; see "
		    "`systemctl status " AGENT_UNIT "`, then `systemctl enable "
		    "--now " AGENT_UNIT "`\n");
		return 1;
	}
	if (systemctl("is-active", "--quiet") != 0) {
		fprintf(stderr, "ferry-agent: join: the host is enrolled, but "
		    AGENT_UNIT " is not running: see `systemctl status "
		    AGENT_UNIT "` (the unit starts only when "
		    "/var/lib/ferry-agent/" ENROLMENT_FILE " exists; the "
		    "enrolment is in %s)\n", state_dir);
		return 1;
	}
	printf("enabled and started " AGENT_UNIT " (logs: journalctl -u "
	    AGENT_UNIT ")\n");
	return 0;
}

int
join_main(int argc, char **argv)
{
	struct agent_conf c;
	struct config_opt opts[AGENT_NOPTS];
	struct join_token tok;
	struct keypair kp;
	Ferry__JoinRequest jr = FERRY__JOIN_REQUEST__INIT;
	Ferry__Label *labels[16], lab[16];
	char path[700], hostname[64], why[512], fpr[KEY_FPR_STRLEN];
	char hostfpr[KEY_FPR_STRLEN], tokbuf[TOKEN_MAX_TEXT + 2];
	char *text = NULL;
	uint8_t proof[TOKEN_PROOF_LEN], got_fpr[KEY_FPR_LEN];
	uint8_t *req = NULL, *reply = NULL;
	size_t reqlen, replylen, nl = 0;
	struct envelope ev;
	const char *tokstr = NULL, *conf_file = NULL, *tokfile = NULL;
	int i, created, rc, status = 1, no_start = 0, dir_flag = 0;

	agent_conf_init(&c, opts);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		}
		if (strcmp(a, "--label") == 0 && v != NULL) {
			char *eq = strchr(argv[++i], '=');
			if (eq == NULL || eq == argv[i] || eq[1] == '\0')
				return fail(2, "bad label \"%s\": expected "
				    "key=value", argv[i]);
			if (nl == 16)
				return fail(2, "too many labels");
			*eq = '\0';
			ferry__label__init(&lab[nl]);
			lab[nl].key = argv[i];
			lab[nl].value = eq + 1;
			labels[nl] = &lab[nl];
			nl++;
		} else if ((strcmp(a, "--name") == 0 ||
		    strcmp(a, "--state-dir") == 0 ||
		    strcmp(a, "--publish-address") == 0) && v != NULL) {
			if (config_set(opts, a + 2, v, why, sizeof(why)) != 0)
				return fail(2, "--%s", why);
			config_find(opts, a + 2)->set = 1;
			dir_flag |= strcmp(a, "--state-dir") == 0;
			i++;
		} else if (strcmp(a, "-f") == 0 && v != NULL) {
			conf_file = argv[++i];
		} else if (strcmp(a, "--no-start") == 0) {
			no_start = 1;
		} else if (strcmp(a, "--token-file") == 0 && v != NULL) {
			tokfile = argv[++i];
		} else if (strcmp(a, "-") == 0 && tokfile == NULL &&
		    tokstr == NULL) {
			tokfile = "-";
		} else if (a[0] == '-') {
			return fail(2, "unknown or incomplete flag \"%s\" (see "
			    "ferry-agent join --help)", a);
		} else if (tokstr == NULL) {
			tokstr = a;
		} else {
			return fail(2, "unexpected argument \"%s\"", a);
		}
	}
	if (tokstr != NULL && tokfile != NULL)
		return fail(2, "two tokens: give TOKEN, --token-file FILE or -, "
		    "not more than one");
	if (tokstr == NULL && tokfile == NULL && !isatty(STDIN_FILENO))
		tokfile = "-";
	if (tokstr == NULL && tokfile == NULL) {
		fputs(usage, stderr);
		return 2;
	}
	if (tokfile != NULL) {
		if ((rc = token_from(tokfile, tokbuf, sizeof(tokbuf))) != 0)
			return rc;
		tokstr = tokbuf;
	}
	/* The service reads the config file: join writes where it looks. */
	if (conf_file == NULL && access(AGENT_CONF, F_OK) == 0)
		conf_file = AGENT_CONF;
	if (conf_file != NULL && config_load(opts, conf_file, why,
	    sizeof(why)) != 0)
		return fail(2, "%s", why);
	if (token_decode(tokstr, &tok) != 0)
		return fail(2, "bad token: not a whole ferry join token (copy "
		    "it again from `ferry token create`)");
	if (c.name[0] == '\0') {
		if (gethostname(hostname, sizeof(hostname)) != 0)
			return fail(2, "no --name and no host name");
		hostname[strcspn(hostname, ".")] = '\0';
		snprintf(c.name, sizeof(c.name), "%s", hostname);
	}
	if (!valid_name(c.name))
		return fail(2, "bad name \"%s\": letters, digits, '.', '-', "
		    "'_', up to 63, starting with a letter or digit", c.name);
	if (crypto_init() != 0)
		return fail(1, "cannot initialise libsodium");
	umask(077);
	if (mkdir_private(c.state_dir) != 0)
		return fail(1, "cannot create %s", c.state_dir);
	snprintf(path, sizeof(path), "%s/" ENROLMENT_FILE, c.state_dir);
	if (access(path, F_OK) == 0)
		return fail(1, "%s exists: this state dir is already enrolled;"
		    " stop the agent and remove %s to enrol again", path,
		    c.state_dir);
	snprintf(path, sizeof(path), "%s/host.key", c.state_dir);
	if ((rc = keys_load_or_create(path, &kp, &created)) != 0)
		return fail(1, "host key %s: %s", path, ferr_str(rc));
	keys_pk_fingerprint_str(kp.pk, hostfpr);
	printf("this host's key: %s\n", hostfpr);
	fflush(stdout);

	token_proof(tok.secret, kp.pk, c.name, proof);
	jr.name = c.name;
	jr.labels = labels;
	jr.n_labels = nl;
	jr.token_id.data = tok.id;
	jr.token_id.len = TOKEN_ID_LEN;
	jr.token_proof.data = proof;
	jr.token_proof.len = TOKEN_PROOF_LEN;
	jr.sent_at_ms = clock_wall_ms();
	jr.publish_address = c.publish_address;
	if ((rc = envelope_seal_msg(FERRY__KIND__KIND_JOIN_REQUEST, &jr.base,
	    &kp, &req, &reqlen)) != 0) {
		status = fail(1, "cannot sign the request: %s", ferr_str(rc));
		goto out;
	}
	if (exchange(&tok, req, reqlen, &reply, &replylen, why,
	    sizeof(why)) != 0) {
		status = fail(1, "%s", why);
		goto out;
	}
	/* The answer must be signed by the key the token names. */
	if ((rc = envelope_open(reply, replylen, NULL, &ev)) != 0) {
		status = fail(1, "refused ferryd's answer: %s", ferr_str(rc));
		goto out;
	}
	keys_fingerprint(ev.signer, got_fpr);
	if (sodium_memcmp(got_fpr, tok.fingerprint, KEY_FPR_LEN) != 0) {
		keys_fingerprint_str(got_fpr, fpr);
		status = fail(1, "refused ferryd's answer: signed by key %s, "
		    "not the one the token names", fpr);
		goto out;
	}
	if (ev.kind == FERRY__KIND__KIND_REFUSAL) {
		Ferry__Refusal *r = NULL;
		envelope_unpack(&ev, &ferry__refusal__descriptor,
		    (ProtobufCMessage **)&r);
		status = fail(1, "refused by ferryd: %s",
		    r && r->message ? r->message : "no reason given");
		if (r != NULL)
			ferry__refusal__free_unpacked(r, NULL);
		goto out;
	}
	if (ev.kind != FERRY__KIND__KIND_JOIN_ANSWER) {
		status = fail(1, "refused ferryd's answer: unexpected kind");
		goto out;
	}
	{
		Ferry__JoinAnswer *ans = NULL;
		int ok = envelope_unpack(&ev, &ferry__join_answer__descriptor,
		    (ProtobufCMessage **)&ans) == 0 && ans->status ==
		    FERRY__JOIN_ANSWER__STATUS__ACCEPTED;
		if (ans != NULL)
			ferry__join_answer__free_unpacked(ans, NULL);
		if (!ok) {
			status = fail(1, "ferryd did not accept the join");
			goto out;
		}
	}
	snprintf(path, sizeof(path), "%s/coordinator.pub", c.state_dir);
	if ((rc = keys_save_public(path, ev.signer)) != 0) {
		status = fail(1, "%s: %s", path, ferr_str(rc));
		goto out;
	}
	keys_fingerprint_str(tok.fingerprint, fpr);
	{
		char conf[1200];
		time_t now = time(NULL);
		int n = snprintf(conf, sizeof(conf),
		    "# Written by `ferry-agent join` on %s"
		    "name = %s\ncoordinator = %s\ncoordinator_fingerprint = "
		    "%s\n%s%s%s", ctime(&now), c.name, tok.address, fpr,
		    c.publish_address[0] && strcmp(c.publish_address,
		    "0.0.0.0") ? "publish_address = " : "",
		    c.publish_address[0] && strcmp(c.publish_address,
		    "0.0.0.0") ? c.publish_address : "",
		    c.publish_address[0] && strcmp(c.publish_address,
		    "0.0.0.0") ? "\n" : "");
		snprintf(path, sizeof(path), "%s/" ENROLMENT_FILE, c.state_dir);
		if ((rc = file_write_atomic(path, conf, (size_t)n, 0600)) != 0) {
			status = fail(1, "%s: %s", path, ferr_str(rc));
			goto out;
		}
	}
	printf("joined ferryd at %s as %s (ferryd key %s)\n", tok.address,
	    c.name, fpr);
	if (!no_start && !dir_flag && notify_systemd_runs()) {
		status = start_service(c.state_dir);
		goto out;
	}
	if (dir_flag || conf_file == NULL)
		printf("start the agent: ferry-agent --state-dir %s\n",
		    c.state_dir);
	else
		printf("start the agent: ferry-agent -f %s\n", conf_file);
	status = 0;
out:
	sodium_memzero(&tok, sizeof(tok));
	sodium_memzero(tokbuf, sizeof(tokbuf));
	sodium_memzero(&kp, sizeof(kp));
	free(req);
	free(reply);
	free(text);
	return status;
}
