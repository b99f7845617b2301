/* SPDX-License-Identifier: Apache-2.0 */
/* ferr.h: the one error space shared by every ferry module. */
#ifndef FERRY_FERR_H
#define FERRY_FERR_H

/*
 * Functions return 0 on success or one of these negative numbers.  Modules
 * translate the errors of the libraries they own (sqlite, nng, curl) into
 * these; callers decide whether and how to log.
 */
enum ferr {
	FERR_OK = 0,
	FERR_NOMEM = -1,	/* out of memory */
	FERR_IO = -2,		/* file or socket I/O failed (see errno) */
	FERR_TOOBIG = -3,	/* input larger than its limit */
	FERR_MALFORMED = -4,	/* input does not have the expected shape */
	FERR_VERSION = -5,	/* envelope version not supported */
	FERR_SIGNATURE = -6,	/* signature does not verify */
	FERR_SIGNER = -7,	/* signed by a key other than the expected one */
	FERR_KIND = -8,		/* unknown or unexpected message kind */
	FERR_UNPACK = -9,	/* verified body does not unpack */
	FERR_EXPIRED = -10,	/* command past its expiry */
	FERR_FUTURE = -11,	/* issued beyond the clock-skew tolerance */
	FERR_TARGET = -12,	/* addressed to another host or key */
	FERR_REPLAY = -13,	/* command id already executed */
	FERR_SEQUENCE = -14,	/* sequence not above the last executed */
	FERR_NOTFOUND = -15,	/* no such host, token, record */
	FERR_EXISTS = -16,	/* already exists */
	FERR_STORE = -17,	/* database error */
	FERR_TOKEN = -18,	/* join token bad, used or expired */
	FERR_ARG = -19,		/* bad argument */
	FERR_PERM = -20,	/* permission or file mode wrong */
	FERR_STATE = -21,	/* not allowed in the current state */
	FERR_TIMEOUT = -22,	/* timed out */
	FERR_CLOSED = -23,	/* closed or shutting down */
	FERR_DOCKER = -24,	/* Docker Engine error */
	FERR_REVOKED = -25,	/* host revoked */
	FERR_PENDING = -26,	/* host waits for an operator */
	FERR_SESSION = -27,	/* link session unknown: say Hello again */
	FERR_CLEARTEXT = -28,	/* cleartext on a link that must be sealed */
	FERR_READONLY = -29,	/* database file, folder or file system is
				 * read-only */
	FERR_CORRUPT = -30,	/* database fails SQLite's checks */
	FERR_NOTDB = -31,	/* the file is not an SQLite database */
	FERR_TRUNCATED = -32,	/* database file shorter than it says */
	FERR_FULL = -33,	/* the disk is full */
};

/* ferr_str returns a short constant description of err. */
const char *
ferr_str(int err);

#endif
