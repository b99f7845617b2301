/* SPDX-License-Identifier: Apache-2.0 */
/* opskit.h: helpers of the everyday-operations tests (test_ops.c,
 * test_lifecycle.c) over dkit's fleet: connections refused or served,
 * container ids, the batch invariant read from the events. */
#ifndef FERRY_OPSKIT_H
#define FERRY_OPSKIT_H

#include <stddef.h>

#include <cJSON.h>

#include "dkit.h"

#define NT 3	/* hosts in these tests */

/* Each is documented where it is defined, in opskit.c. */
int refused(int i);
void wait_traffic(int i, int want, int v, int ms);
void web(const char *tag);
unsigned last_id(void);
void ids(int i, char *buf, size_t len);
void one_at_a_time(unsigned id, int n);
cJSON *host_json(int i);

#endif
