/* specwire.h: a checked service spec in its wire form: the HealthSpec and
 * the Swap command that ferryd sends to an agent. */
#ifndef FERRY_SPECWIRE_H
#define FERRY_SPECWIRE_H

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
 * spec_swap_fill sets the fields of swap that come from the spec: service,
 * env, port (NULL when the spec publishes none), health and order, each a
 * new heap copy.  image, revision, deployment and every other field are
 * the caller's and left alone.  Those five must be unset (as after
 * ferry__swap__init or spec_swap_clear): they are overwritten, not freed.
 * Returns 0, or FERR_NOMEM with swap unchanged.
 */
int
spec_swap_fill(const struct spec *s, Ferry__Swap *swap);

/* spec_swap_clear frees what spec_swap_fill set in swap and puts those
 * fields back to their unset values; the rest of swap is left alone.  Safe
 * on a swap just initialized with ferry__swap__init. */
void
spec_swap_clear(Ferry__Swap *swap);

#endif
