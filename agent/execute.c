/* SPDX-License-Identifier: Apache-2.0 */
/* execute.c: the agent's acceptance rules, records and command execution. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "accept.h"
#include "agent.h"
#include "clock.h"
#include "envelope.h"
#include "ferr.h"
#include "log.h"
#include "logs.h"

static int
pack_report(const Ferry__Report *r, uint8_t **out, size_t *len)
{
	size_t n = ferry__report__get_packed_size(r);

	*out = malloc(n + 1);
	if (*out == NULL)
		return FERR_NOMEM;
	ferry__report__pack(r, *out);
	*len = n;
	return 0;
}

void
execute_refused_unreadable(struct agent *a, const char *why)
{
	Ferry__Report r = FERRY__REPORT__INIT;
	char msg[256];
	uint8_t *buf;
	size_t len;

	snprintf(msg, sizeof(msg), "refused a message: %s", why);
	r.status = FERRY__REPORT__STATUS__REFUSED;
	r.message = msg;
	r.sent_at_ms = clock_wall_ms();
	if (pack_report(&r, &buf, &len) == 0)
		report_adhoc(a, buf, len);
}

static const char *
payload_name(const Ferry__Command *c)
{
	switch (c->payload_case) {
	case FERRY__COMMAND__PAYLOAD_PING:
		return "ping";
	case FERRY__COMMAND__PAYLOAD_PULL:
		return "pull";
	case FERRY__COMMAND__PAYLOAD_SWAP:
		return "swap";
	case FERRY__COMMAND__PAYLOAD_ROLLBACK:
		return "rollback";
	case FERRY__COMMAND__PAYLOAD_REMOVE:
		return "remove";
	case FERRY__COMMAND__PAYLOAD_INVENTORY:
		return "inventory";
	case FERRY__COMMAND__PAYLOAD_DRAIN:
		return "drain";
	case FERRY__COMMAND__PAYLOAD_LIFECYCLE:
		return "stop";
	case FERRY__COMMAND__PAYLOAD_LOGS:
		return "logs";
	default:
		return "unknown";
	}
}

/* answer_repeat answers a command id already recorded with what the
 * records hold, marked as a repeat; nothing is executed. */
static void
answer_repeat(struct agent *a, const Ferry__Command *cmd, struct record *rec,
    const char *idhex)
{
	Ferry__Report *stored = NULL, fresh = FERRY__REPORT__INIT;
	uint8_t *buf;
	size_t len;
	int rc;

	log_info("command %s seq %llu: already %s; answering from the records",
	    idhex, (unsigned long long)cmd->sequence, rec->state);
	if (rec->report != NULL)
		stored = ferry__report__unpack(NULL, rec->report_len,
		    rec->report);
	if (stored != NULL) {
		stored->repeat = 1;
		rc = pack_report(stored, &buf, &len);
		ferry__report__free_unpacked(stored, NULL);
	} else {
		/* Accepted and still running: say so. */
		fresh.command_id = cmd->id;
		fresh.sequence = cmd->sequence;
		fresh.status = FERRY__REPORT__STATUS__ACCEPTED;
		fresh.repeat = 1;
		fresh.sent_at_ms = clock_wall_ms();
		rc = pack_report(&fresh, &buf, &len);
	}
	if (rc == 0)
		report_adhoc(a, buf, len);
}

static void
refuse(struct agent *a, const Ferry__Command *cmd, int why,
    const char *idhex)
{
	Ferry__Report r = FERRY__REPORT__INIT;
	char msg[256];
	uint8_t *buf;
	size_t len;
	int rc;

	snprintf(msg, sizeof(msg), "refused: %s", ferr_str(why));
	log_warnx("command %s seq %llu (%s) for %s: refused: %s (last "
	    "executed sequence %llu)", idhex,
	    (unsigned long long)cmd->sequence, payload_name(cmd),
	    cmd->target_host ? cmd->target_host : "?", ferr_str(why),
	    (unsigned long long)a->last_seq);
	r.command_id = cmd->id;
	r.sequence = cmd->sequence;
	r.status = FERRY__REPORT__STATUS__REFUSED;
	r.message = msg;
	r.sent_at_ms = clock_wall_ms();
	if (pack_report(&r, &buf, &len) != 0)
		return;
	/* Recorded, so that the same id gets the same answer again. */
	if (cmd->id.len == 16 && (rc = records_refuse(a->records,
	    cmd->id.data, cmd->id.len, cmd->sequence, buf, len)) == 0) {
		free(buf);
		report_kick(a);
		return;
	}
	report_adhoc(a, buf, len);
}

/* run executes an accepted command and fills the report. */
static void
run(struct agent *a, const Ferry__Command *cmd, Ferry__Report *r,
    Ferry__Pong *pong)
{
	(void)a;
	switch (cmd->payload_case) {
	case FERRY__COMMAND__PAYLOAD_PING:
		pong->agent_time_ms = clock_wall_ms();
		r->result_case = FERRY__REPORT__RESULT_PONG;
		r->pong = pong;
		r->status = FERRY__REPORT__STATUS__SUCCEEDED;
		break;
	default:
		r->status = FERRY__REPORT__STATUS__FAILED;
		r->message = "command not supported by this agent";
		break;
	}
}

void
execute_command(struct agent *a, const struct envelope *ev)
{
	Ferry__Command *cmd = NULL;
	Ferry__Report r = FERRY__REPORT__INIT;
	Ferry__Pong pong = FERRY__PONG__INIT;
	struct accept_self self;
	struct record rec;
	char idhex[33] = "?";
	uint8_t *buf;
	size_t len;
	int rc;

	if ((rc = accept_unpack(ev, &cmd)) != 0) {
		log_warnx("refused command from ferryd: %s", ferr_str(rc));
		execute_refused_unreadable(a, ferr_str(rc));
		return;
	}
	if (cmd->id.len == 16)
		sodium_bin2hex(idhex, sizeof(idhex), cmd->id.data, 16);

	/* A repeat gets the stored result and re-executes nothing. */
	if (cmd->id.len > 0 && cmd->id.len <= 16 && (rc = records_get(
	    a->records, cmd->id.data, cmd->id.len, &rec)) != FERR_NOTFOUND) {
		if (rc == 0)
			answer_repeat(a, cmd, &rec, idhex);
		else
			log_warnx("command %s: cannot read the records: %s",
			    idhex, ferr_str(rc));
		free(rec.report);
		goto out;
	}

	self.name = a->conf.name;
	memcpy(self.fingerprint, a->fpr, KEY_FPR_LEN);
	self.last_sequence = a->last_seq;
	/* Expiry is judged on ferryd's clock as the last Idle told it, and
	 * the time elapsed since: steps of either wall clock move neither.
	 * Until an Idle has come, on our own wall clock. */
	if ((rc = accept_check(cmd, &self, clock_peer_now(
	    &a->coordinator_clock, clock_mono_us(), clock_wall_ms()))) != 0) {
		refuse(a, cmd, rc, idhex);
		goto out;
	}

	if (cmd->payload_case == FERRY__COMMAND__PAYLOAD_PING) {
		/* A ping acts on nothing: its answer rides on the poll that
		 * goes next, at once, and is recorded with it once that poll
		 * is on its way.  Should the agent die in between, the ping
		 * may be run again; nothing else below this sequence number
		 * can (it was accepted, so the mark stands above it). */
		r.command_id = cmd->id;
		r.sequence = cmd->sequence;
		run(a, cmd, &r, &pong);
		r.sent_at_ms = clock_wall_ms();
		if (pack_report(&r, &buf, &len) != 0)
			goto out;
		answer_keep(a, cmd->id.data, cmd->id.len, cmd->sequence,
		    payload_name(cmd), r.status ==
		    FERRY__REPORT__STATUS__SUCCEEDED ? "succeeded" : "failed",
		    buf, len);
		a->last_seq = cmd->sequence;
		goto out;
	}

	/* Durable before acting: a restart never reopens this id or any
	 * sequence at or below it. */
	if ((rc = records_accept(a->records, cmd->id.data, cmd->id.len,
	    cmd->sequence, payload_name(cmd))) != 0) {
		log_warnx("command %s seq %llu: cannot record it, not "
		    "executing: %s", idhex, (unsigned long long)cmd->sequence,
		    ferr_str(rc));
		goto out;
	}
	a->last_seq = cmd->sequence;
	log_debug("command %s seq %llu (%s): accepted", idhex,
	    (unsigned long long)cmd->sequence, payload_name(cmd));

	/* Long work runs off the loop; ferryd hears at once that it was
	 * accepted, then progress, then the result. */
	r.command_id = cmd->id;
	r.sequence = cmd->sequence;
	r.status = FERRY__REPORT__STATUS__ACCEPTED;
	r.sent_at_ms = clock_wall_ms();
	if (pack_report(&r, &buf, &len) == 0)
		report_adhoc(a, buf, len);
	if (cmd->payload_case == FERRY__COMMAND__PAYLOAD_LOGS) {
		char why[200];

		/* Beside any swap, on threads of its own. */
		if ((rc = logs_submit(a, cmd, why, sizeof(why))) == 0) {
			cmd = NULL;	/* the stream owns it */
			goto out;
		}
		log_warnx("command %s: logs refused: %s", idhex, why);
		memset(&r, 0, sizeof(r));
		ferry__report__init(&r);
		r.command_id = cmd->id;
		r.sequence = cmd->sequence;
		r.status = FERRY__REPORT__STATUS__FAILED;
		r.message = why;
		r.sent_at_ms = clock_wall_ms();
		if (pack_report(&r, &buf, &len) == 0) {
			if ((rc = records_finish(a->records, cmd->id.data,
			    cmd->id.len, "failed", buf, len)) != 0)
				log_warnx("command %s: cannot record the "
				    "result: %s", idhex, ferr_str(rc));
			free(buf);
			report_kick(a);
		}
		goto out;
	}
	if ((rc = swap_submit(a, cmd)) != 0)
		log_warnx("command %s: cannot queue it: %s", idhex,
		    ferr_str(rc));
	else
		cmd = NULL;	/* the job owns it */
out:
	if (cmd != NULL)
		ferry__command__free_unpacked(cmd, NULL);
}
