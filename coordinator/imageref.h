/* SPDX-License-Identifier: Apache-2.0 */
/* imageref.h: the grammar of a container image reference, as ferry accepts
 * one in a spec's image and in `ferry deploy --image`. */
#ifndef FERRY_IMAGEREF_H
#define FERRY_IMAGEREF_H

#include <stddef.h>

#define IMAGEREF_MAX	255	/* characters in a reference */

/*
 * spec_image_check says whether ref is an image reference ferry accepts:
 * [registry[:port]/]path[:tag][@sha256:<64 hex>], no whitespace, at most
 * IMAGEREF_MAX characters.  For a spec's image and for `ferry deploy
 * --image`, which replaces it.  Returns 0, or FERR_MALFORMED with the
 * reason in why (when not NULL): "expected a tag of letters, digits, '_',
 * '.' and '-' after ':'".
 */
int
spec_image_check(const char *ref, char *why, size_t whylen);

#endif
