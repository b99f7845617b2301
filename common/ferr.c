/* SPDX-License-Identifier: Apache-2.0 */
/* ferr.c: descriptions of ferry's error numbers. */
#include "ferr.h"

const char *
ferr_str(int err)
{
	switch (err) {
	case FERR_OK: return "ok";
	case FERR_NOMEM: return "out of memory";
	case FERR_IO: return "I/O error";
	case FERR_TOOBIG: return "too large";
	case FERR_MALFORMED: return "malformed";
	case FERR_VERSION: return "unsupported envelope version";
	case FERR_SIGNATURE: return "bad signature";
	case FERR_SIGNER: return "unexpected signer";
	case FERR_KIND: return "unexpected message kind";
	case FERR_UNPACK: return "body does not unpack";
	case FERR_EXPIRED: return "expired";
	case FERR_FUTURE: return "issued in the future beyond clock-skew tolerance";
	case FERR_TARGET: return "addressed to another host";
	case FERR_REPLAY: return "command id already executed";
	case FERR_SEQUENCE: return "sequence not above the last executed";
	case FERR_NOTFOUND: return "not found";
	case FERR_EXISTS: return "already exists";
	case FERR_STORE: return "database error";
	case FERR_TOKEN: return "bad, used or expired token";
	case FERR_ARG: return "bad argument";
	case FERR_PERM: return "permission denied";
	case FERR_STATE: return "not allowed in this state";
	case FERR_TIMEOUT: return "timed out";
	case FERR_CLOSED: return "closed";
	case FERR_DOCKER: return "Docker error";
	case FERR_REVOKED: return "host revoked";
	case FERR_PENDING: return "host pending acceptance";
	case FERR_SESSION: return "link session unknown to ferryd";
	case FERR_CLEARTEXT: return "cleartext message on a sealed link";
	case FERR_READONLY: return "cannot be written: the file, its folder "
	    "or its file system is read-only";
	case FERR_CORRUPT: return "the database is corrupt (SQLite's "
	    "quick_check failed)";
	case FERR_NOTDB: return "the file is not an SQLite database";
	case FERR_TRUNCATED: return "the database file is truncated";
	case FERR_FULL: return "the disk is full";
	}
	return "unknown error";
}
