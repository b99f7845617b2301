/* SPDX-License-Identifier: Apache-2.0 */
/* unit.h: what several unit tests share. */
#ifndef FERRY_UNIT_H
#define FERRY_UNIT_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static int
unit_rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* unit_rmtree removes the folder dir and everything below it, links
 * themselves rather than what they point at. */
static inline void
unit_rmtree(const char *dir)
{
	nftw(dir, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
