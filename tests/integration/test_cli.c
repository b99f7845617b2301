/* SPDX-License-Identifier: Apache-2.0 */
// links:
/* test_cli.c: the CLI itself: `ferry --help` names every command and
 * flag, each command answers --help and ferry.1 names it; every argument
 * error of every command exits 2 naming what is wrong, before anything
 * reaches ferryd; tables fit a narrow terminal and are whole on a pipe. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

#define MAN_PAGE	"man/ferry.1"
#define MAX_CMDS	64
/* No ferryd there: a command that tried to reach one would exit 3. */
#define NO_FERRYD	"/nonexistent/ferryd.sock"

static struct h_fleet F;
static struct h_run R;
static char TMUX_SOCK[64];

static void
setup(void)
{
	h_init(&F);
	snprintf(TMUX_SOCK, sizeof(TMUX_SOCK), "ferry-cli-%d", (int)getpid());
}

static void
teardown(void)
{
	/* The tmux server of this test only, by its own socket name. */
	h_run(&R, (const char *[]){ "/usr/bin/tmux", "-L", TMUX_SOCK,
	    "kill-server", NULL });
	h_fini(&F);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 120);

/* ferry runs the CLI against no ferryd with args (NULL-ended). */
static void
ferry(const char *const *args)
{
	const char *argv[32];
	char bin[512];
	int i = 0, j;

	argv[i++] = h_bin("ferry", bin, sizeof(bin));
	argv[i++] = "--socket";
	argv[i++] = NO_FERRYD;
	for (j = 0; args[j] != NULL && i < 31; j++)
		argv[i++] = args[j];
	argv[i] = NULL;
	h_run(&R, argv);
}

/* A command of `ferry --help`: its words before the first argument. */
struct cmd {
	char words[4][32];
	int n;
	char line[256];		/* its synopsis line(s), for the flags */
};

/* placeholder: a word of a synopsis that stands for a value. */
static int
placeholder(const char *w)
{
	const char *p;

	if (w[0] == '[' || w[0] == '-' || strchr(w, '=') != NULL ||
	    strchr(w, '.') != NULL)
		return 1;
	for (p = w; *p != '\0'; p++)
		if (isupper((unsigned char)*p))
			return 1;
	return 0;
}

/* commands reads `ferry --help`'s Commands section: each line that opens
 * with two spaces and a lower-case word starts one ("pause|resume|abort"
 * are three); its words up to the first placeholder name it. */
static int
commands(struct cmd *c, int max)
{
	char out[sizeof(R.out)], *line, *save = NULL;
	int n = 0, in = 0;

	ferry((const char *[]){ "--help", NULL });
	cr_assert_eq(R.status, 0, "ferry --help: %s", R.err);
	snprintf(out, sizeof(out), "%s", R.out);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char copy[256], *w, *ws = NULL, *alt, *as = NULL;
		struct cmd one;

		if (strncmp(line, "Commands:", 9) == 0) {
			in = 1;
			continue;
		}
		if (!in)
			continue;
		if (line[0] != ' ') {
			if (line[0] != '\0')
				in = 0;
			continue;
		}
		if (strncmp(line, "  ", 2) != 0 || !islower((unsigned char)
		    line[2])) {
			/* A continuation: its flags count for the one
			 * before. */
			if (n > 0 && line[strspn(line, " ")] == '[')
				strncat(c[n - 1].line, line,
				    sizeof(c[n - 1].line) -
				    strlen(c[n - 1].line) - 1);
			continue;
		}
		memset(&one, 0, sizeof(one));
		/* The synopsis ends where two spaces start the description. */
		snprintf(one.line, sizeof(one.line), "%.*s",
		    strstr(line + 2, "  ") ? (int)(strstr(line + 2, "  ") -
		    line) : (int)strlen(line), line);
		snprintf(copy, sizeof(copy), "%s", one.line);
		for (w = strtok_r(copy, " ", &ws); w != NULL && one.n < 4 &&
		    !placeholder(w); w = strtok_r(NULL, " ", &ws))
			snprintf(one.words[one.n++], sizeof(one.words[0]),
			    "%s", w);
		if (one.n == 0)
			continue;
		/* "pause|resume|abort DEPLOYMENT": one command each. */
		snprintf(copy, sizeof(copy), "%s", one.words[0]);
		for (alt = strtok_r(copy, "|", &as); alt != NULL && n < max;
		    alt = strtok_r(NULL, "|", &as)) {
			c[n] = one;
			snprintf(c[n].words[0], sizeof(c[n].words[0]), "%s",
			    alt);
			n++;
		}
	}
	return n;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	cr_assert_not_null(f, "%s: cannot open (run from the source tree)",
	    path);
	buf = malloc(1 << 20);
	cr_assert_not_null(buf);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* man_flag writes a flag as troff writes it: "--watch" is "\-\-watch". */
static const char *
man_flag(const char *flag, char *buf, size_t len)
{
	size_t o = 0;

	for (; *flag != '\0' && o + 3 < len; flag++) {
		if (*flag == '-')
			buf[o++] = '\\';
		buf[o++] = *flag;
	}
	buf[o] = '\0';
	return buf;
}

Test(cli, help_names_every_command_and_flag_and_each_answers_help)
{
	struct cmd c[MAX_CMDS];
	char all[sizeof(R.out)], want[64], *man;
	int n, i;

	n = commands(c, MAX_CMDS);
	snprintf(all, sizeof(all), "%s", R.out);
	/* The commands of DESIGN.md's interface, at least. */
	cr_assert_geq(n, 20, "only %d commands in ferry --help:\n%s", n, all);
	man = slurp(MAN_PAGE);
	for (i = 0; i < n; i++) {
		const char *argv[6] = { NULL };
		char synopsis[4096], *p, *end;
		int k;

		/* ferry CMD [SUB] --help: 0, its usage on stdout. */
		for (k = 0; k < c[i].n; k++)
			argv[k] = c[i].words[k];
		argv[k] = "--help";
		ferry(argv);
		cr_assert_eq(R.status, 0, "ferry %s --help: %d %s",
		    c[i].words[0], R.status, R.err);
		snprintf(want, sizeof(want), "usage: ferry %.31s", c[i].words[0]);
		cr_assert(strstr(R.out, want) != NULL || (strstr(R.out,
		    "usage: ferry ") != NULL && strstr(R.out, c[i].words[0])
		    != NULL), "ferry %s --help: %s", c[i].words[0], R.out);
		/* Every flag of its synopsis is in ferry --help, and in
		 * ferry.1. */
		end = strstr(R.out, "\n\n");
		snprintf(synopsis, sizeof(synopsis), "%.*s", end ?
		    (int)(end - R.out) : (int)strlen(R.out), R.out);
		for (p = synopsis; (p = strstr(p, "--")) != NULL; p += 2) {
			char flag[48], troff[128];
			size_t fl = 2 + strspn(p + 2,
			    "abcdefghijklmnopqrstuvwxyz-");

			if (fl <= 2 || fl >= sizeof(flag))
				continue;
			snprintf(flag, sizeof(flag), "%.*s", (int)fl, p);
			cr_assert(strstr(all, flag) != NULL, "ferry --help "
			    "lacks %s (ferry %s --help has it)", flag,
			    c[i].words[0]);
			cr_assert(strstr(man, man_flag(flag, troff,
			    sizeof(troff))) != NULL, "ferry.1 lacks %s "
			    "(ferry %s --help has it)", troff, c[i].words[0]);
		}
		/* The man page names the command: ".B pause\fR|\fBresume"
		 * names resume. */
		snprintf(want, sizeof(want), ".B %.31s", c[i].words[0]);
		{
			char alt[64];

			snprintf(alt, sizeof(alt), "\\fB%.31s\\fR",
			    c[i].words[0]);
			cr_assert(strstr(man, want) != NULL ||
			    strstr(man, alt) != NULL, "ferry.1 does not "
			    "name %s", c[i].words[0]);
		}
	}
	/* ferry help COMMAND is COMMAND --help. */
	ferry((const char *[]){ "help", "history", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_assert(strncmp(R.out, "usage: ferry history", 20) == 0, "%s",
	    R.out);
	free(man);
}

Test(cli, every_command_refuses_an_unknown_flag_with_2_naming_it)
{
	struct cmd c[MAX_CMDS];
	int n, i;

	n = commands(c, MAX_CMDS);
	for (i = 0; i < n; i++) {
		const char *argv[12] = { NULL };
		char copy[256], *w, *ws = NULL;
		int k = 0, seen = 0;

		/* Its words, then a value for each placeholder up to the
		 * first optional part, then the unknown flag. */
		snprintf(copy, sizeof(copy), "%s", c[i].line);
		for (w = strtok_r(copy, " ", &ws); w != NULL && k < 9;
		    w = strtok_r(NULL, " ", &ws)) {
			if (w[0] == '[' || w[0] == '-' || strcmp(w, "...") ==
			    0)
				break;
			if (seen < c[i].n) {
				argv[k++] = c[i].words[seen++];
				continue;
			}
			if (!placeholder(w))
				break;
			argv[k++] = strchr(w, '=') ? "k=v" : strchr(w, '.') ?
			    "x.yml" : "x";
		}
		argv[k++] = "--no-such-flag";
		argv[k] = NULL;
		ferry(argv);
		cr_assert_eq(R.status, 2, "ferry %s ... --no-such-flag: exit "
		    "%d, %s%s", c[i].words[0], R.status, R.out, R.err);
		cr_assert(strstr(R.err, "--no-such-flag") != NULL,
		    "ferry %s ... --no-such-flag does not name it: %s",
		    c[i].words[0], R.err);
		cr_assert(strstr(R.err, "usage: ferry") != NULL,
		    "ferry %s ... --no-such-flag: no usage: %s",
		    c[i].words[0], R.err);
		cr_assert_eq(R.out[0], '\0', "ferry %s: printed %s",
		    c[i].words[0], R.out);
	}
}

Test(cli, bad_values_and_missing_or_extra_arguments_exit_2)
{
	static const struct {
		const char *argv[8];
		const char *names;	/* what the message must name */
	} bad[] = {
		{ { "token", "create", "--ttl", "-1" }, "--ttl" },
		{ { "token", "create", "--ttl", "abc" }, "--ttl" },
		{ { "token", "create", "--ttl" }, "--ttl" },
		{ { "token", "create", "--label", "novalue" }, "novalue" },
		{ { "token" }, "create" },
		{ { "token", "make" }, "make" },
		{ { "events", "--since", "abc" }, "--since" },
		{ { "events", "--since", "2999-01-01" }, "future" },
		{ { "events", "--limit", "0" }, "--limit" },
		{ { "events", "--limit", "100001" }, "--limit" },
		{ { "events", "--deployment", "x" }, "--deployment" },
		{ { "events", "stray" }, "stray" },
		{ { "ping", "--timeout", "1h" }, "--timeout" },
		{ { "ping", "--timeout" }, "--timeout" },
		{ { "status", "Web/1" }, "Web/1" },	/* a word is a SERVICE */
		{ { "status", "1", "2" }, "\"2\"" },
		{ { "rollback", "web", "--to", "x" }, "--to" },
		{ { "rollback" }, "SERVICE" },
		{ { "swap", "h", "x.yml", "--weight", "101" }, "--weight" },
		{ { "swap", "h" }, "SPEC.yml" },
		{ { "pause", "0" }, "\"0\"" },
		{ { "abort" }, "DEPLOYMENT" },
		{ { "history" }, "SERVICE" },
		{ { "history", "a", "b" }, "one SERVICE" },
		{ { "deploy" }, "SPEC.yml" },
		{ { "deploy", "a.yml", "b.yml" }, "one SPEC.yml" },
		{ { "plan", "a.yml", "--watch" }, "--watch" },
		{ { "hosts", "label", "h", "novalue" }, "novalue" },
		{ { "hosts", "accept" }, "NAME" },
		{ { "hosts", "revoke", "a", "b" }, "\"b\"" },
		{ { "hosts", "frobnicate" }, "frobnicate" },
		{ { "secret", "set", "s" }, "NAME" },
		{ { "secret", "list" }, "SERVICE" },
		{ { "secret", "shred", "s" }, "shred" },
		{ { "registry", "login", "h" }, "--username" },
		{ { "registry", "logout" }, "HOST" },
		{ { "help", "--x" }, "--x" },
		{ { "nosuchcommand" }, "nosuchcommand" },
		{ { "--socket" }, "--socket" },
		{ { NULL }, "expected a command" },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ferry(bad[i].argv);
		cr_assert_eq(R.status, 2, "ferry %s %s: exit %d: %s",
		    bad[i].argv[0] ? bad[i].argv[0] : "",
		    bad[i].argv[0] && bad[i].argv[1] ? bad[i].argv[1] : "",
		    R.status, R.err);
		cr_assert(strstr(R.err, bad[i].names) != NULL, "ferry %s %s: "
		    "the message does not name %s: %s", bad[i].argv[0] ?
		    bad[i].argv[0] : "", bad[i].argv[0] && bad[i].argv[1] ?
		    bad[i].argv[1] : "", bad[i].names, R.err);
		cr_assert(strstr(R.err, "usage: ferry") != NULL, "ferry %s: "
		    "no usage: %s", bad[i].argv[0] ? bad[i].argv[0] : "",
		    R.err);
	}
}

/* ---- tables ------------------------------------------------------------- */

/* screen: the tmux pane with each wrapped line joined back whole, so that
 * a line longer than the terminal shows as such. */
static void
screen(char *out, size_t len)
{
	h_run(&R, (const char *[]){ "/usr/bin/tmux", "-L", TMUX_SOCK,
	    "capture-pane", "-p", "-J", "-t", "t", NULL });
	snprintf(out, len, "%.8000s", R.out);
}

Test(cli, tables_fit_a_narrow_terminal_and_are_whole_on_a_pipe)
{
	char host[64], label[128], cmd[1200], bin[512], sh[1600], scr[8192];
	const char *p, *e;
	int k, done = 0;

	F.no_proxy = 1;
	h_unique("tb", host, sizeof(host));
	h_start_ferryd(&F, NULL);
	h_add_agent(&F, host, "127.0.0.2");
	/* A label far wider than the terminal. */
	snprintf(label, sizeof(label), "note=%s",
	    "a-label-far-too-long-for-a-narrow-terminal-0123456789-"
	    "abcdefghijklmnopqrstuvwxyz-END");
	h_ferry(&F, &R, (const char *[]){ "hosts", "label", host, label,
	    NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);

	/* On a pipe: every cell whole. */
	h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_assert(strstr(R.out, label) != NULL, "cut on a pipe: %s", R.out);
	cr_assert(strstr(R.out, "NAME") && strstr(R.out, "LABELS") &&
	    strstr(R.out, host), "%s", R.out);

	/* On a 50-column terminal: every line within 50 columns, the
	 * host still named. */
	snprintf(cmd, sizeof(cmd), "%s --socket %s hosts; echo EXIT=$?; "
	    "sleep 60", h_bin("ferry", bin, sizeof(bin)), F.sock);
	snprintf(sh, sizeof(sh), "exec /usr/bin/tmux -L %s new-session -d -s "
	    "t -x 50 -y 30 '%s' </dev/null >/dev/null 2>&1", TMUX_SOCK, cmd);
	h_run(&R, (const char *[]){ "/bin/sh", "-c", sh, NULL });
	cr_assert_eq(R.status, 0, "tmux: %s", R.err);
	for (k = 0; k < 100 && !done; k++) {
		screen(scr, sizeof(scr));
		if (strstr(scr, "EXIT=") != NULL)
			done = 1;
		else
			h_sleep_ms(100);
	}
	cr_assert(done, "ferry hosts did not end: %s", scr);
	cr_assert(strstr(scr, "EXIT=0") != NULL, "%s", scr);
	cr_assert(strstr(scr, host) != NULL && strstr(scr, "NAME") != NULL,
	    "%s", scr);
	cr_assert(strstr(scr, label) == NULL, "not cut: %s", scr);
	cr_assert(strstr(scr, "note=") != NULL, "the label's start is gone: "
	    "%s", scr);
	for (p = scr; *p != '\0'; p = *e ? e + 1 : e) {
		e = strchr(p, '\n');
		if (e == NULL)
			e = p + strlen(p);
		cr_assert_leq(e - p, 50, "wider than the terminal: %.*s",
		    (int)(e - p), p);
	}
}
