/* SPDX-License-Identifier: Apache-2.0 */
/* swapsm.c: the state machine of one swap on the agent (specified in
 * swapsm.h), checked after every move. */
#include <assert.h>
#include <string.h>

#include "ferr.h"
#include "swapsm.h"

static const char *const state_names[] = {
	[SWAPSM_BEGIN] = "begin",
	[SWAPSM_CREATED] = "created",
	[SWAPSM_STOPPED] = "stopped",
	[SWAPSM_STARTED] = "started",
	[SWAPSM_HEALTHY] = "healthy",
	[SWAPSM_DONE] = "done",
	[SWAPSM_REVERTED] = "reverted",
};

static const char *const kind_names[] = {
	[SWAPSM_SWAP] = "swap",
	[SWAPSM_ROLLBACK] = "rollback",
};

#define NSTATES	(sizeof(state_names) / sizeof(state_names[0]))
#define NKINDS	(sizeof(kind_names) / sizeof(kind_names[0]))

/* copy: src into dst of size bytes; 0, or FERR_ARG when it does not fit. */
static int
copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		return FERR_ARG;
	memcpy(dst, src, n + 1);
	return 0;
}

int
swapsm_init(struct swapsm *sm, enum swapsm_kind kind,
    enum swapsm_order order, const char *old_id, const char *new_id,
    const char *new_name)
{
	memset(sm, 0, sizeof(*sm));
	if (old_id == NULL)
		old_id = "";
	if (new_id == NULL)
		new_id = "";
	if ((kind != SWAPSM_SWAP && kind != SWAPSM_ROLLBACK) ||
	    (order != SWAPSM_STOP_FIRST && order != SWAPSM_START_FIRST) ||
	    new_name == NULL || new_name[0] == '\0' ||
	    (kind == SWAPSM_ROLLBACK && new_id[0] == '\0') ||
	    copy(sm->old_id, sizeof(sm->old_id), old_id) != 0 ||
	    copy(sm->new_id, sizeof(sm->new_id), new_id) != 0 ||
	    copy(sm->new_name, sizeof(sm->new_name), new_name) != 0 ||
	    (new_id[0] != '\0' && strcmp(new_id, old_id) == 0)) {
		memset(sm, 0, sizeof(*sm));
		return FERR_ARG;
	}
	sm->kind = kind;
	sm->order = order;
	sm->state = kind == SWAPSM_ROLLBACK ? SWAPSM_CREATED : SWAPSM_BEGIN;
	sm->old_runs = old_id[0] != '\0';
	assert(swapsm_check(sm));
	return 0;
}

/* The old container has to stop before the new one starts. */
static int
stops_first(const struct swapsm *sm)
{
	return sm->old_id[0] != '\0' && sm->order == SWAPSM_STOP_FIRST;
}

/* forward moves state on to next: only from a state the journal holds. */
static int
forward(struct swapsm *sm, enum swapsm_state from, enum swapsm_state next)
{
	if (sm->state != from || !sm->recorded)
		return FERR_STATE;
	sm->state = next;
	sm->recorded = 0;
	return 0;
}

/* apply moves sm as ev says, or refuses before it changes anything. */
static int
apply(struct swapsm *sm, const struct swapsm_event *ev)
{
	switch (ev->input) {
	case SWI_RECORDED:
		if (!swapsm_journalled(sm->state) || sm->recorded)
			return FERR_STATE;
		sm->recorded = 1;
		return 0;
	case SWI_CREATED:
		if (ev->new_id == NULL || ev->new_id[0] == '\0' ||
		    strlen(ev->new_id) >= sizeof(sm->new_id) ||
		    strcmp(ev->new_id, sm->old_id) == 0)
			return FERR_ARG;
		if (forward(sm, SWAPSM_BEGIN, SWAPSM_CREATED) != 0)
			return FERR_STATE;
		copy(sm->new_id, sizeof(sm->new_id), ev->new_id);
		return 0;
	case SWI_OLD_STOPPED:
		if (!stops_first(sm) || forward(sm, SWAPSM_CREATED,
		    SWAPSM_STOPPED) != 0)
			return FERR_STATE;
		sm->old_runs = 0;
		return 0;
	case SWI_NEW_STARTED:
		if (forward(sm, stops_first(sm) ? SWAPSM_STOPPED :
		    SWAPSM_CREATED, SWAPSM_STARTED) != 0)
			return FERR_STATE;
		sm->new_runs = 1;
		return 0;
	case SWI_HEALTHY:
		return forward(sm, SWAPSM_STARTED, SWAPSM_HEALTHY);
	case SWI_TIDIED:
		if (forward(sm, SWAPSM_HEALTHY, SWAPSM_DONE) != 0)
			return FERR_STATE;
		sm->old_runs = 0;
		return 0;
	case SWI_SHARED:
		if (sm->kind != SWAPSM_SWAP || sm->order != SWAPSM_START_FIRST ||
		    sm->old_id[0] == '\0' ||
		    forward(sm, SWAPSM_HEALTHY, SWAPSM_DONE) != 0)
			return FERR_STATE;
		sm->shared = 1;
		return 0;
	case SWI_REVERTED:
		if (ev->old_runs && sm->old_id[0] == '\0')
			return FERR_ARG;
		if (!swapsm_journalled(sm->state))
			return FERR_STATE;
		sm->state = SWAPSM_REVERTED;
		sm->recorded = 0;
		sm->new_runs = 0;
		sm->old_runs = ev->old_runs != 0;
		return 0;
	}
	return FERR_ARG;
}

int
swapsm_step(struct swapsm *sm, const struct swapsm_event *ev)
{
	int rc;

	assert(swapsm_check(sm));
	rc = apply(sm, ev);
	assert(swapsm_check(sm));
	return rc;
}

/* ---- the invariants ---------------------------------------------------- */

static int
terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

int
swapsm_check(const struct swapsm *sm)
{
	int has_old, beside;

	if ((unsigned)sm->kind >= NKINDS ||
	    (sm->order != SWAPSM_STOP_FIRST &&
	    sm->order != SWAPSM_START_FIRST) ||
	    (unsigned)sm->state >= NSTATES ||
	    (sm->recorded != 0 && sm->recorded != 1) ||
	    (sm->old_runs != 0 && sm->old_runs != 1) ||
	    (sm->new_runs != 0 && sm->new_runs != 1) ||
	    (sm->shared != 0 && sm->shared != 1) ||
	    !terminated(sm->old_id, sizeof(sm->old_id)) ||
	    !terminated(sm->new_id, sizeof(sm->new_id)) ||
	    !terminated(sm->new_name, sizeof(sm->new_name)))
		return 0;
	if (sm->new_name[0] == '\0')
		return 0;
	/* Only what the journal holds can be recorded. */
	if (sm->recorded && !swapsm_journalled(sm->state))
		return 0;
	/* A rollback brings back a kept container. */
	if (sm->kind == SWAPSM_ROLLBACK && (sm->state == SWAPSM_BEGIN ||
	    sm->new_id[0] == '\0'))
		return 0;
	/* Only a weighted start-first swap ends with both running. */
	if (sm->shared && (sm->state != SWAPSM_DONE ||
	    sm->kind != SWAPSM_SWAP || sm->order != SWAPSM_START_FIRST))
		return 0;
	/* Once created, the new container has an id, never the old one's. */
	if (sm->state != SWAPSM_BEGIN && sm->state != SWAPSM_REVERTED &&
	    sm->new_id[0] == '\0')
		return 0;
	if (sm->new_id[0] != '\0' && strcmp(sm->new_id, sm->old_id) == 0)
		return 0;
	has_old = sm->old_id[0] != '\0';
	if (sm->state == SWAPSM_STOPPED && (!has_old ||
	    sm->order != SWAPSM_STOP_FIRST))
		return 0;
	/* What runs, as each state says: under stop-first never both. */
	beside = has_old && sm->order == SWAPSM_START_FIRST;
	switch (sm->state) {
	case SWAPSM_BEGIN:
	case SWAPSM_CREATED:
		if (sm->new_runs || sm->old_runs != has_old)
			return 0;
		break;
	case SWAPSM_STOPPED:
		if (sm->new_runs || sm->old_runs)
			return 0;
		break;
	case SWAPSM_STARTED:
	case SWAPSM_HEALTHY:
		if (!sm->new_runs || sm->old_runs != beside)
			return 0;
		break;
	case SWAPSM_DONE:
		if (!sm->new_runs || sm->old_runs != (sm->shared && has_old))
			return 0;
		break;
	case SWAPSM_REVERTED:
		if (sm->new_runs || (sm->old_runs && !has_old))
			return 0;
		break;
	}
	return 1;
}

/* ---- names ------------------------------------------------------------- */

int
swapsm_journalled(enum swapsm_state s)
{
	return s == SWAPSM_BEGIN || s == SWAPSM_CREATED ||
	    s == SWAPSM_STOPPED || s == SWAPSM_STARTED || s == SWAPSM_HEALTHY;
}

const char *
swapsm_state_name(enum swapsm_state s)
{
	if ((unsigned)s >= NSTATES)
		return "unknown";
	return state_names[s];
}

const char *
swapsm_kind_name(enum swapsm_kind k)
{
	if ((unsigned)k >= NKINDS)
		return "unknown";
	return kind_names[k];
}

int
swapsm_parse_step(const char *name, enum swapsm_state *out)
{
	size_t i;

	for (i = 0; i < NSTATES; i++)
		if (swapsm_journalled((enum swapsm_state)i) &&
		    strcmp(name, state_names[i]) == 0) {
			*out = (enum swapsm_state)i;
			return 0;
		}
	return FERR_MALFORMED;
}

int
swapsm_parse_kind(const char *name, enum swapsm_kind *out)
{
	size_t i;

	for (i = 0; i < NKINDS; i++)
		if (strcmp(name, kind_names[i]) == 0) {
			*out = (enum swapsm_kind)i;
			return 0;
		}
	return FERR_MALFORMED;
}
