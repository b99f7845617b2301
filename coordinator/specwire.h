/* SPDX-License-Identifier: Apache-2.0 */
/* specwire.h: a checked service spec in its wire form: the HealthSpec and
 * the Swap command that ferryd sends to an agent. */
#ifndef FERRY_SPECWIRE_H
#define FERRY_SPECWIRE_H

#include <stdint.h>

#include "ferry.pb-c.h"
#include "spec.h"

/*
 * spec_health_new builds the wire form of s's health settings: a new
 * HealthSpec tree (the check, its HttpCheck or ExecCheck, all strings) on
 * the heap, copied from s, so it outlives s.  Free it with
 * spec_health_free.  Returns 0 or FERR_NOMEM (*out is then NULL).
 */
int
spec_health_new(const struct spec *s, Ferry__HealthSpec **out);

/* spec_health_free frees a tree made by spec_health_new, including one
 * left half-built.  NULL is safe. */
void
spec_health_free(Ferry__HealthSpec *h);

/*
 * spec_proxy_new builds the wire form of s's proxy settings (a new
 * ProxySettings on the heap; free() it), or NULL in *out when s publishes
 * no host port (the proxy serves host ports only).  Returns 0 or
 * FERR_NOMEM.
 */
int
spec_proxy_new(const struct spec *s, Ferry__ProxySettings **out);

/*
 * How a Swap's secrets are sealed for its host: open gives the value of a
 * secret at the version the spec pins (memory that free_value wipes and
 * frees), and each is sealed (crypto_box_seal) to the X25519 form of
 * host_pk, the host's enrolled Ed25519 key.
 */
struct swap_seal {
	const uint8_t *host_pk;
	int (*open)(void *arg, const char *service,
	    const struct spec_secret *sec, uint8_t **value, size_t *len);
	void (*free_value)(uint8_t *value);
	void *arg;
};

/*
 * specwire_seal seals len bytes of value to the host whose Ed25519 public
 * key is host_pk: *out (heap, *outlen bytes) opens only with that host's
 * secret key.  Returns 0, FERR_NOMEM or FERR_ARG (a key that has no X25519
 * form).
 */
int
specwire_seal(const uint8_t *host_pk, const uint8_t *value, size_t len,
    uint8_t **out, size_t *outlen);

/*
 * spec_swap_fill builds the Swap command that runs s at revision on a
 * host, whole: it is the one place that sets a Swap's fields.  From s:
 * service, env, port (NULL when the spec publishes none), health, order
 * and proxy (NULL without a port), and the container's settings: command,
 * entrypoint, workdir, user, more_ports (ports: after the first), binds
 * (volumes: from host paths) and volumes (named ones), memory, nano_cpus,
 * restart (always set, "unless-stopped" by default), stop_signal,
 * stop_timeout_s, labels, log and healthcheck; weight stays 0 (the whole swap:
 * `ferry swap --weight` sets it after); then revision, image (what the host runs, by digest:
 * repo@sha256:<64 hex>) and deployment, the rollout's id in decimal, or ""
 * when deployment is 0 (a swap outside any rollout, `ferry swap`).  Every
 * string is a new heap copy, so swap outlives s and image.  swap must be
 * unset (FERRY__SWAP__INIT, or after spec_swap_clear): it is overwritten,
 * not freed.  The secrets s names are sealed for the host as seal says
 * (seal may be NULL only when s names none), each with its name and
 * pinned version; no value is kept in the clear.  Returns 0, FERR_ARG (s,
 * image or swap NULL, or secrets without seal), FERR_NOMEM, or what
 * seal->open returned; on failure swap is unchanged.
 */
int
spec_swap_fill(const struct spec *s, uint64_t revision, const char *image,
    uint64_t deployment, const struct swap_seal *seal, Ferry__Swap *swap);

/* spec_swap_clear frees what spec_swap_fill set in swap and puts swap back
 * to its unset values (ferry__swap__init).  Safe on a swap just
 * initialized, and twice.  NULL is safe. */
void
spec_swap_clear(Ferry__Swap *swap);

#endif
