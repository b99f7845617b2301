/* SPDX-License-Identifier: Apache-2.0 */
/* args.c: parsing the flags shared by ferryd and ferry-agent. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "ferr.h"

int
daemon_args(int argc, char **argv, struct config_opt *opts,
    const char *default_conf, struct daemon_flags *f, char *err,
    size_t errlen)
{
	char why[300];
	int i, rc;

	memset(f, 0, sizeof(*f));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (a[1] != '-') {
			const char *p;
			for (p = a + 1; *p; p++) {
				switch (*p) {
				case 'd': f->foreground = 1; break;
				case 'v': f->verbose = 1; break;
				case 'n': f->check = 1; break;
				case 'h': f->help = 1; break;
				case 'f':
					if (p[1] != '\0' || i + 1 >= argc) {
						snprintf(err, errlen, "-f needs"
						    " a file name");
						return FERR_ARG;
					}
					f->conf_file = argv[++i];
					break;
				default:
					snprintf(err, errlen, "unknown flag "
					    "-%c (see --help)", *p);
					return FERR_ARG;
				}
				if (*p == 'f')
					break;
			}
			continue;
		}
		if (strcmp(a, "--help") == 0) {
			f->help = 1;
			continue;
		}
		{
			char name[64];
			const char *eq = strchr(a + 2, '='), *val;
			size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);

			if (n >= sizeof(name)) {
				snprintf(err, errlen, "unknown flag %.64s", a);
				return FERR_ARG;
			}
			memcpy(name, a + 2, n);
			name[n] = '\0';
			if (eq != NULL) {
				val = eq + 1;
			} else if (config_find(opts, name) != NULL &&
			    config_find(opts, name)->type == CONF_BOOL) {
				/* "--name yes|no", or a switch: "--name"
				 * alone means yes. */
				if (i + 1 < argc && (strcmp(argv[i + 1],
				    "yes") == 0 || strcmp(argv[i + 1], "no") ==
				    0))
					val = argv[++i];
				else
					val = "yes";
			} else if (i + 1 < argc) {
				val = argv[++i];
			} else {
				snprintf(err, errlen, "--%s needs a value",
				    name);
				return FERR_ARG;
			}
			if (config_set(opts, name, val, why, sizeof(why))
			    != 0) {
				snprintf(err, errlen, "--%s", why);
				return FERR_ARG;
			}
			config_find(opts, name)->set = 1;
		}
	}
	f->rest = argv + i;
	f->nrest = argc - i;
	if (f->help)
		return 0;
	if (f->conf_file != NULL) {
		if ((rc = config_load(opts, f->conf_file, err, errlen)) != 0)
			return rc;
	} else if (default_conf != NULL && access(default_conf, F_OK) == 0) {
		if ((rc = config_load(opts, default_conf, err, errlen)) != 0)
			return rc;
		f->conf_file = default_conf;
	}
	return 0;
}
