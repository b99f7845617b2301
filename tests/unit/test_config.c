/* SPDX-License-Identifier: Apache-2.0 */
/* test_config.c: settings from flags and config files, named the same way. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "args.h"
#include "config.h"
#include "ferr.h"

static char state_dir[32];
static char listen_url[64];
static uint32_t workers;
static uint64_t poll_wait;
static uint64_t timeout;
static struct config_opt opts[6];
static char dir[64];

static void
setup(void)
{
	struct config_opt o[] = {
		{ .name = "state_dir", .type = CONF_STRING, .dst = state_dir,
		  .size = sizeof(state_dir) },
		{ .name = "listen", .type = CONF_STRING, .dst = listen_url,
		  .size = sizeof(listen_url) },
		{ .name = "workers", .type = CONF_UINT, .dst = &workers,
		  .min = 1, .max = 64 },
		{ .name = "poll_wait", .type = CONF_DURATION, .dst = &poll_wait },
		{ .name = "timeout", .type = CONF_DURATION, .dst = &timeout },
		{ .name = NULL },
	};

	memcpy(opts, o, sizeof(opts));
	strcpy(state_dir, "/var/lib/ferry");
	strcpy(listen_url, "tcp://0.0.0.0:7400");
	workers = 4;
	poll_wait = 30000;
	timeout = 1000;
	snprintf(dir, sizeof(dir), "/tmp/ferry-test-config.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static char file_path[128];

static void
teardown(void)
{
	if (file_path[0])
		unlink(file_path);
	rmdir(dir);
}

TestSuite(config, .init = setup, .fini = teardown, .timeout = 20);

static const char *
write_conf(const char *text)
{
	FILE *f;

	snprintf(file_path, sizeof(file_path), "%s/ferry.conf", dir);
	f = fopen(file_path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fputs(text, f) >= 0, 1);
	cr_assert_eq(fclose(f), 0);
	return file_path;
}

Test(config, set_string)
{
	char err[256] = "";

	cr_assert_eq(config_set(opts, "state_dir", "/srv/ferry", err,
	    sizeof(err)), 0);
	cr_assert_str_eq(state_dir, "/srv/ferry");
	/* The longest value that fits, and one longer. */
	char v[sizeof(state_dir) + 1];
	memset(v, 'x', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	v[sizeof(state_dir) - 1] = '\0';
	cr_assert_eq(config_set(opts, "state_dir", v, err, sizeof(err)), 0);
	cr_assert_str_eq(state_dir, v);
	v[sizeof(state_dir) - 1] = 'x';
	cr_assert_eq(config_set(opts, "state_dir", "/a", err, sizeof(err)), 0);
	cr_assert_eq(config_set(opts, "state_dir", v, err, sizeof(err)),
	    FERR_ARG);
	cr_assert_str_eq(state_dir, "/a");
	cr_assert_not_null(strstr(err, "state_dir"), "%s", err);
}

Test(config, set_uint)
{
	char err[256] = "";

	cr_assert_eq(config_set(opts, "workers", "16", err, sizeof(err)), 0);
	cr_assert_eq(workers, 16);
	cr_assert_eq(config_set(opts, "workers", "1", err, sizeof(err)), 0);
	cr_assert_eq(workers, 1);
	cr_assert_eq(config_set(opts, "workers", "64", err, sizeof(err)), 0);
	cr_assert_eq(workers, 64);
}

Test(config, uint_out_of_range_or_not_a_number)
{
	static const char *bad[] = {
		"0", "65", "4294967296", "99999999999999999999999", "-1",
		"", "abc", "5x", " 5", "+5", "0x10", "1.5",
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_assert_eq(config_set(opts, "workers", bad[i], err,
		    sizeof(err)), FERR_ARG, "\"%s\"", bad[i]);
		cr_assert_eq(workers, 4, "\"%s\" changed it", bad[i]);
		cr_assert_not_null(strstr(err, "workers"), "%s", err);
	}
}

Test(config, durations)
{
	static const struct { const char *in; uint64_t ms; } ok[] = {
		{ "250ms", 250 }, { "5s", 5000 }, { "2m", 120000 },
		{ "1h", 3600000 }, { "7", 7000 }, { "0", 0 }, { "0ms", 0 },
		{ "90s", 90000 }, { "24h", 86400000 },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t ms = 12345;
		cr_assert_eq(parse_duration_ms(ok[i].in, &ms), 0, "%s",
		    ok[i].in);
		cr_assert_eq(ms, ok[i].ms, "%s", ok[i].in);
		cr_assert_eq(config_set(opts, "timeout", ok[i].in, err,
		    sizeof(err)), 0);
		cr_assert_eq(timeout, ok[i].ms, "%s", ok[i].in);
	}
}

Test(config, bad_durations)
{
	static const char *bad[] = {
		"5x", "", "-1s", "s", "ms", "5 s", " 5s", "5s ", "1.5s",
		"5sec", "5S", "5ms5", "1d", "+5s",
		"99999999999999999999999", "18446744073709551615h",
		"18446744073709551615",
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t ms = 12345;
		cr_assert_eq(parse_duration_ms(bad[i], &ms), FERR_ARG,
		    "\"%s\"", bad[i]);
		cr_assert_eq(ms, 12345);
		err[0] = '\0';
		cr_assert_eq(config_set(opts, "poll_wait", bad[i], err,
		    sizeof(err)), FERR_ARG, "\"%s\"", bad[i]);
		cr_assert_eq(poll_wait, 30000, "\"%s\" changed it", bad[i]);
		cr_assert_not_null(strstr(err, "poll_wait"), "%s", err);
	}
}

Test(config, unknown_setting)
{
	char err[256] = "";

	cr_assert_eq(config_set(opts, "colour", "blue", err, sizeof(err)),
	    FERR_ARG);
	cr_assert_not_null(strstr(err, "colour"), "%s", err);
	cr_assert_not_null(strstr(err, "unknown"), "%s", err);
	/* Prefixes and extensions of a real name are not that name. */
	cr_assert_eq(config_set(opts, "state", "/x", err, sizeof(err)),
	    FERR_ARG);
	cr_assert_eq(config_set(opts, "state_dirs", "/x", err, sizeof(err)),
	    FERR_ARG);
	cr_assert_eq(config_set(opts, "", "/x", err, sizeof(err)), FERR_ARG);
	cr_assert_str_eq(state_dir, "/var/lib/ferry");
}

Test(config, dash_and_underscore_name_the_same_setting)
{
	char err[256] = "";

	cr_assert_eq(config_set(opts, "state-dir", "/one", err, sizeof(err)),
	    0);
	cr_assert_str_eq(state_dir, "/one");
	cr_assert_eq(config_set(opts, "state_dir", "/two", err, sizeof(err)),
	    0);
	cr_assert_str_eq(state_dir, "/two");
	cr_assert_eq(config_set(opts, "poll-wait", "2m", err, sizeof(err)), 0);
	cr_assert_eq(poll_wait, 120000);
	/* Only '-' for '_': other characters stay distinct. */
	cr_assert_eq(config_set(opts, "state.dir", "/x", err, sizeof(err)),
	    FERR_ARG);
	cr_assert_eq(config_set(opts, "statedir", "/x", err, sizeof(err)),
	    FERR_ARG);
	cr_assert_str_eq(state_dir, "/two");
}

Test(config, load_file_with_comments)
{
	char err[256] = "";
	const char *path = write_conf(
	    "# ferryd configuration\n"
	    "\n"
	    "; an ini-style comment\n"
	    "state_dir = /srv/ferry\n"
	    "   # an indented comment\n"
	    "listen=tcp://127.0.0.1:7500\n"
	    "workers = 8\n"
	    "poll-wait = 250ms\n"
	    "timeout = 2m\n");

	cr_assert_eq(config_load(opts, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(state_dir, "/srv/ferry");
	cr_assert_str_eq(listen_url, "tcp://127.0.0.1:7500");
	cr_assert_eq(workers, 8);
	cr_assert_eq(poll_wait, 250);
	cr_assert_eq(timeout, 120000);
}

/* A '#' after a space or a tab ends the value, as at the start of a line. */
Test(config, comment_after_a_value_is_not_part_of_it)
{
	char err[256] = "";
	const char *path = write_conf(
	    "state_dir = /srv/ferry   # where the state lives\n"
	    "listen = tcp://127.0.0.1:7500\t# loopback only\n"
	    "timeout = 2m # the default is 1s\n");

	cr_assert_eq(config_load(opts, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(state_dir, "/srv/ferry");
	cr_assert_str_eq(listen_url, "tcp://127.0.0.1:7500");
	cr_assert_eq(timeout, 120000);
}

/* A '#' inside a word is part of the value. */
Test(config, a_hash_inside_a_word_is_kept)
{
	char err[256] = "";
	const char *path = write_conf(
	    "state_dir = /srv/a#b\n"
	    "timeout = 2m#x\n");

	cr_assert_eq(config_load(opts, path, err, sizeof(err)), FERR_ARG);
	cr_assert_str_eq(state_dir, "/srv/a#b");
	cr_assert_not_null(strstr(err, ":2:"), "%s", err);
	cr_assert_not_null(strstr(err, "2m#x"), "%s", err);
	cr_assert_eq(timeout, 1000);
}

Test(config, bad_value_reports_path_line_and_setting)
{
	char err[256] = "", want[160];
	const char *path = write_conf(
	    "# comment\n"
	    "state_dir = /srv/ferry\n"
	    "timeout = 5x\n"
	    "workers = 8\n");

	cr_assert_eq(config_load(opts, path, err, sizeof(err)), FERR_ARG);
	snprintf(want, sizeof(want), "%s:3:", path);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
	cr_assert_not_null(strstr(err, "timeout"), "%s", err);
	cr_assert_not_null(strstr(err, "5x"), "%s", err);
	cr_assert_eq(timeout, 1000);
}

Test(config, unknown_setting_in_file)
{
	char err[256] = "", want[160];
	const char *path = write_conf(
	    "state_dir = /srv/ferry\n"
	    "\n"
	    "colour = blue\n");

	cr_assert_eq(config_load(opts, path, err, sizeof(err)), FERR_ARG);
	snprintf(want, sizeof(want), "%s:3:", path);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
	cr_assert_not_null(strstr(err, "colour"), "%s", err);
}

Test(config, syntax_error_line)
{
	char err[256] = "", want[160];
	const char *path = write_conf(
	    "state_dir = /srv/ferry\n"
	    "this line has no equals sign\n");

	cr_assert_eq(config_load(opts, path, err, sizeof(err)), FERR_ARG);
	snprintf(want, sizeof(want), "%s:2:", path);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
}

/* With several bad lines, the message is about the first, whole: its line
 * number and its own reason. */
Test(config, first_error_is_reported)
{
	char err[256] = "", want[160];
	const char *path = write_conf(
	    "workers = 100\n"
	    "timeout = 5x\n"
	    "colour = blue\n");

	cr_assert_eq(config_load(opts, path, err, sizeof(err)), FERR_ARG);
	snprintf(want, sizeof(want), "%s:1:", path);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
	cr_assert_not_null(strstr(err, "workers"), "%s", err);
	cr_assert_null(strstr(err, "colour"), "%s", err);
	cr_assert_null(strstr(err, "timeout"), "%s", err);

	/* A syntax error first, a bad value after. */
	path = write_conf(
	    "no equals here\n"
	    "timeout = 5x\n");
	cr_assert_eq(config_load(opts, path, err, sizeof(err)), FERR_ARG);
	snprintf(want, sizeof(want), "%s:1:", path);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
	cr_assert_null(strstr(err, "timeout"), "%s", err);
}

Test(config, sections_refused)
{
	char err[256] = "", want[160];
	const char *path = write_conf(
	    "[ferryd]\n"
	    "state_dir = /srv/ferry\n");

	cr_assert_eq(config_load(opts, path, err, sizeof(err)), FERR_ARG);
	snprintf(want, sizeof(want), "%s:2:", path);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
	cr_assert_not_null(strstr(err, "ferryd"), "%s", err);
	cr_assert_str_eq(state_dir, "/var/lib/ferry");
}

Test(config, flag_wins_over_file)
{
	char err[256] = "";
	const char *path = write_conf(
	    "state_dir = /from/file\n"
	    "workers = 8\n"
	    "timeout = 9s\n");

	/* As a flag parser would: set the value, then mark it. */
	cr_assert_eq(config_set(opts, "state-dir", "/from/flag", err,
	    sizeof(err)), 0);
	opts[0].set = 1;
	cr_assert_eq(config_set(opts, "timeout", "3s", err, sizeof(err)), 0);
	opts[4].set = 1;
	cr_assert_eq(config_load(opts, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(state_dir, "/from/flag");
	cr_assert_eq(timeout, 3000);
	cr_assert_eq(workers, 8);

	/* A flagged setting is skipped even when the file's value is bad. */
	path = write_conf("timeout = nonsense\n");
	cr_assert_eq(config_load(opts, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(timeout, 3000);
}

Test(config, missing_file)
{
	char err[256] = "", want[160];

	snprintf(want, sizeof(want), "%s/none.conf", dir);
	cr_assert_eq(config_load(opts, want, err, sizeof(err)), FERR_IO);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
}

Test(config, find)
{
	cr_assert_eq(config_find(opts, "state_dir"), &opts[0]);
	cr_assert_eq(config_find(opts, "state-dir"), &opts[0]);
	cr_assert_eq(config_find(opts, "poll-wait"), &opts[3]);
	cr_assert_null(config_find(opts, "state"));
	cr_assert_null(config_find(opts, "state_dir_"));
	cr_assert_null(config_find(opts, ""));
}

/* A yes/no setting: "yes" or "no" in the file and after its flag; the flag
 * alone means yes, and does not swallow the argument after it. */
Test(config, bool_switch_and_values)
{
	int on = 0, other = 1;
	uint32_t n = 0;
	struct config_opt b[] = {
		{ .name = "allow_it", .type = CONF_BOOL, .dst = &on },
		{ .name = "other", .type = CONF_BOOL, .dst = &other },
		{ .name = "n", .type = CONF_UINT, .dst = &n, .min = 0,
		  .max = 9 },
		{ .name = NULL },
	};
	struct daemon_flags fl;
	char err[256] = "";
	char *argv1[] = { "d", "--allow-it", "--n", "3", "rest", NULL };
	char *argv2[] = { "d", "--allow-it", "no", "--other", "yes", NULL };
	char *argv3[] = { "d", "--allow-it=maybe", NULL };
	const char *path;

	cr_assert_eq(daemon_args(5, argv1, b, NULL, &fl, err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(on, 1);
	cr_assert_eq(n, 3);
	cr_assert_eq(fl.nrest, 1);
	cr_assert_str_eq(fl.rest[0], "rest");

	cr_assert_eq(daemon_args(5, argv2, b, NULL, &fl, err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(on, 0);
	cr_assert_eq(other, 1);
	cr_assert_eq(fl.nrest, 0);

	cr_assert_eq(daemon_args(2, argv3, b, NULL, &fl, err, sizeof(err)),
	    FERR_ARG);
	cr_assert(strstr(err, "allow_it") != NULL, "%s", err);

	b[0].set = b[1].set = 0;
	path = write_conf("allow_it = yes\nother = no\n");
	cr_assert_eq(config_load(b, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(on, 1);
	cr_assert_eq(other, 0);
	path = write_conf("allow_it = perhaps\n");
	cr_assert_eq(config_load(b, path, err, sizeof(err)), FERR_ARG);
	cr_assert(strstr(err, "allow_it") != NULL, "%s", err);
}
