/* SPDX-License-Identifier: Apache-2.0 */
/* config.h: settings from a config file and flags, named the same way. */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum config_type {
	CONF_STRING,	/* char buffer of .size bytes */
	CONF_UINT,	/* uint32_t */
	CONF_DURATION,	/* uint64_t milliseconds; "250ms", "5s", "2m", "1h" */
	CONF_BOOL,	/* int; "yes" or "no"; as a flag the value may be left
			 * out: "--name" alone means yes */
};

/* One setting: the same name in the file ("name = value") and as a flag
 * ("--name value", with '_' written '-'). */
struct config_opt {
	const char *name;
	enum config_type type;
	void *dst;
	size_t size;
	uint32_t min, max;	/* for CONF_UINT */
	int set;		/* set by a flag: the file does not override it */
};

/*
 * config_set parses value into the setting called name.  On failure writes
 * a one-line reason into err and returns FERR_ARG (unknown setting, bad
 * number, bad duration, too long); the setting is then unchanged.
 */
int
config_set(struct config_opt *opts, const char *name, const char *value,
    char *err, size_t errlen);

/* config_find returns the setting called name ("state-dir" and
 * "state_dir" are the same), or NULL. */
struct config_opt *
config_find(struct config_opt *opts, const char *name);

/*
 * config_load reads "name = value" lines from path ('#' comments, no
 * sections), skipping settings already set by a flag.  On failure err
 * names the file, line and setting.
 */
int
config_load(struct config_opt *opts, const char *path, char *err,
    size_t errlen);

/* parse_duration_ms parses "250ms", "5s", "2m", "1h" or a bare number of
 * seconds. */
int
parse_duration_ms(const char *s, uint64_t *ms);

/* format_duration_ms is its inverse: ms in the largest unit that holds it
 * whole ("15m", "30s", "250ms"), as a spec or a config file writes it.
 * Returns buf. */
char *
format_duration_ms(char *buf, size_t len, uint64_t ms);

#endif
