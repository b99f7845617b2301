/* SPDX-License-Identifier: Apache-2.0 */
/* logs.h: `ferry logs` on the agent: a Logs command's readers (one thread
 * per container, beside any swap), its chunks (bounded in bytes per chunk
 * and per second on this host, the excess dropped and counted), sent as
 * reports that go alone and are never recorded, and its lease. */
#ifndef FERRY_AGENT_LOGS_H
#define FERRY_AGENT_LOGS_H

#include <stddef.h>
#include <stdint.h>

#include "ferry.pb-c.h"

struct agent;
struct logstream;

/* Bounds an agent keeps whatever a command asks. */
#define LOGS_STREAMS_MAX	8	/* at once on this host */
#define LOGS_READERS_MAX	16	/* containers read in a stream's life */
#define LOGS_CHUNK_MAX		(32u * 1024u)
#define LOGS_RATE_MAX		(1024u * 1024u)	/* bytes/s, per host */
#define LOGS_LEASE_MIN_MS	2000u
#define LOGS_LEASE_MAX_MS	60000u
/* An idle stream still sends an empty chunk this often: its lease is
 * renewed by the acknowledgement. */
#define LOGS_KEEPALIVE_MS	2000u

/* logs_start sets up the agent's log streams (none running); logs_stop
 * ends every stream at once and waits for its readers; their commands
 * are left accepted (the next start reports them interrupted). */
int logs_start(struct agent *a);
void logs_stop(struct agent *a);

/* logs_submit starts an accepted Logs command; takes cmd on success.  It
 * fails when LOGS_STREAMS_MAX run already: the command is then answered
 * failed by the caller. */
int logs_submit(struct agent *a, Ferry__Command *cmd, char *err,
    size_t errlen);

/* logs_acked: ferryd answered the chunk of stream s that was on its way:
 * live 1 (the acknowledgement names its command: someone reads it, the
 * lease is renewed), 0 (it names nothing: nobody reads it, the stream
 * stops), -1 (no answer: the chunk is lost, never sent again, and the
 * lease is not renewed). */
void logs_acked(struct agent *a, struct logstream *s, int live);

/* session.c: queue the packed report of a chunk of s (taken).  Chunks go
 * alone, after every other report waiting, one at a time. */
void report_log(struct agent *a, struct logstream *s, uint8_t *report,
    size_t len);

#endif
