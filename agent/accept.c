/* SPDX-License-Identifier: Apache-2.0 */
/* accept.c: verifying and checking a command before it may run. */
#include <string.h>

#include <sodium.h>

#include "accept.h"
#include "envelope.h"
#include "ferr.h"

int
accept_open(const uint8_t *buf, size_t len,
    const uint8_t pinned[KEY_PUBLIC_LEN], Ferry__Command **out)
{
	struct envelope ev;
	int rc;

	*out = NULL;
	if ((rc = envelope_open(buf, len, pinned, &ev)) != 0)
		return rc;
	return accept_unpack(&ev, out);
}

int
accept_unpack(const struct envelope *ev, Ferry__Command **out)
{
	ProtobufCMessage *m;
	int rc;

	*out = NULL;
	if (ev->kind != FERRY__KIND__KIND_COMMAND)
		return FERR_KIND;
	if ((rc = envelope_unpack(ev, &ferry__command__descriptor, &m)) != 0)
		return rc;
	*out = (Ferry__Command *)m;
	return 0;
}

int
accept_check(const Ferry__Command *cmd, const struct accept_self *self,
    uint64_t now_ms)
{
	if (cmd->id.len != 16 ||
	    cmd->payload_case == FERRY__COMMAND__PAYLOAD__NOT_SET)
		return FERR_MALFORMED;
	if (cmd->target_host == NULL || strcmp(cmd->target_host,
	    self->name) != 0)
		return FERR_TARGET;
	if (cmd->target_fingerprint.len != KEY_FPR_LEN ||
	    sodium_memcmp(cmd->target_fingerprint.data, self->fingerprint,
	    KEY_FPR_LEN) != 0)
		return FERR_TARGET;
	if (cmd->issued_at_ms > now_ms + ACCEPT_SKEW_MS)
		return FERR_FUTURE;
	if (cmd->expires_at_ms <= now_ms)
		return FERR_EXPIRED;
	if (cmd->sequence <= self->last_sequence)
		return FERR_SEQUENCE;
	return 0;
}
