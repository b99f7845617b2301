/* SPDX-License-Identifier: Apache-2.0 */
/* chancall.c: one request and its answer through the channel, blocking. */
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "chancall.h"
#include "ferr.h"

/* roundtrip sends len bytes and receives the answer (nng's heap). */
static int
roundtrip(nng_socket s, const uint8_t *buf, size_t len, nng_msg **out,
    int *nngerr)
{
	nng_msg *m = NULL;
	int rv;

	*out = NULL;
	if ((rv = nng_msg_alloc(&m, 0)) != 0 ||
	    (rv = nng_msg_append(m, buf, len)) != 0 ||
	    (rv = nng_sendmsg(s, m, 0)) != 0) {
		if (m != NULL && rv != 0)
			nng_msg_free(m);
		goto fail;
	}
	if ((rv = nng_recvmsg(s, out, 0)) != 0)
		goto fail;
	return 0;
fail:
	if (nngerr != NULL)
		*nngerr = rv;
	return rv == NNG_ETIMEDOUT ? FERR_TIMEOUT : FERR_IO;
}

int
chan_call(nng_socket s, struct chan_client *c, const uint8_t *pinned,
    const uint8_t *want_fpr, const uint8_t *req, size_t len, uint8_t **reply,
    size_t *reply_len, int *nngerr)
{
	uint8_t hello[CHAN_HELLO_LEN], *frame = NULL;
	const uint8_t *plain;
	size_t flen, plen;
	uint64_t counter;
	nng_msg *m = NULL;
	int rc, tries;

	*reply = NULL;
	if (nngerr != NULL)
		*nngerr = 0;
	for (tries = 0; tries < 2; tries++) {
		if (!c->ready) {
			chan_hello(c, hello);
			if ((rc = roundtrip(s, hello, sizeof(hello), &m,
			    nngerr)) != 0)
				return rc;
			rc = chan_welcome(c, nng_msg_body(m), nng_msg_len(m),
			    pinned, want_fpr);
			nng_msg_free(m);
			if (rc != 0)
				return rc;
		}
		if ((rc = chan_client_seal(c, req, len, &frame, &flen,
		    &counter)) != 0)
			return rc;
		rc = roundtrip(s, frame, flen, &m, nngerr);
		free(frame);
		if (rc != 0)
			return rc;
		rc = chan_client_open(c, counter, nng_msg_body(m),
		    nng_msg_len(m), &plain, &plen);
		if (rc == FERR_SESSION) {
			/* ferryd restarted: a new session, once. */
			nng_msg_free(m);
			chan_client_reset(c);
			continue;
		}
		if (rc == 0 && (*reply = malloc(plen + 1)) == NULL)
			rc = FERR_NOMEM;
		if (rc == 0) {
			memcpy(*reply, plain, plen);
			*reply_len = plen;
		}
		nng_msg_free(m);
		return rc;
	}
	return FERR_SESSION;
}
