/* SPDX-License-Identifier: Apache-2.0 */
/* logs.h: `ferry logs` in ferryd: log streams between the CLI and the
 * hosts.  A stream is opened by a LogsRequest, sends a Logs command to
 * each host (recorded as every command, with no deployment, so that a
 * restart never sends it again), takes the hosts' chunks into a bounded
 * buffer and hands the CLI the lines in time order across hosts, from a
 * cursor.  Nothing of a line goes into the events or ferryd's log. */
#ifndef FERRY_LOGS_H
#define FERRY_LOGS_H

#include "ferry.pb-c.h"

struct ferryd;
struct host;
struct rep_slot;

/* Bounds of ferryd's side. */
#define LOGS_OPEN_MAX		32	/* streams at once */
#define LOGS_READER_LEASE_MS	10000	/* a stream not read this long closes */
#define LOGS_HOST_LEASE_MS	10000	/* a host's follow without an ack */
#define LOGS_BUF_LINES		20000	/* lines kept unread per stream */
#define LOGS_BUF_BYTES		(8u * 1024u * 1024u)	/* ... and their text */
#define LOGS_REPLY_LINES	2000	/* lines per reply */
#define LOGS_REPLY_BYTES	(512u * 1024u)
#define LOGS_FOLLOW_MAX_MS	(12u * 3600u * 1000u)
#define LOGS_TAIL_MAX		100000

/* logs_request answers a CLI's LogsRequest: opens a stream, reads one
 * from its cursor, or closes it. */
void logs_request(struct ferryd *fd, struct rep_slot *slot,
    const Ferry__LogsRequest *q, const char *actor);

/* logs_chunk takes a LogChunk report from host h (its text escaped
 * here); returns 1 when someone reads its stream (the acknowledgement
 * names its command) and 0 when nobody does (the host stops). */
int logs_chunk(struct ferryd *fd, struct host *h, Ferry__Report *r);

/* logs_sweep closes the streams nobody read for LOGS_READER_LEASE_MS. */
void logs_sweep(struct ferryd *fd);

#endif
