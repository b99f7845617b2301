/* SPDX-License-Identifier: Apache-2.0 */
/* args.h: the flags every ferry daemon takes, and config files. */
#ifndef FERRY_ARGS_H
#define FERRY_ARGS_H

#include <stddef.h>

#include "config.h"

/* What the common daemon flags asked for. */
struct daemon_flags {
	int foreground;		/* -d */
	int verbose;		/* -v */
	int check;		/* -n: check the configuration and exit */
	int help;		/* -h, --help */
	const char *conf_file;	/* -f FILE */
	char **rest;		/* arguments after the flags */
	int nrest;
};

/*
 * daemon_args parses -d, -v, -n, -f FILE, -h/--help and "--NAME VALUE" or
 * "--NAME=VALUE" for every setting in opts (flags set .set so the file does
 * not override them), then loads the config file: -f FILE when given (it
 * must exist), else default_conf when it exists.  On failure err holds a
 * one-line message naming the flag, file or line, and FERR_ARG (or
 * FERR_IO) is returned.
 */
int
daemon_args(int argc, char **argv, struct config_opt *opts,
    const char *default_conf, struct daemon_flags *f, char *err,
    size_t errlen);

#endif
