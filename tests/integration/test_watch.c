/* SPDX-License-Identifier: Apache-2.0 */
// links:
/* test_watch.c: `ferry deploy --watch` on a real terminal (tmux runs it;
 * the test reads the screen), and on a pipe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

static struct h_fleet F;
static struct h_run R;
static char HOST[2][64], TMUX_SOCK[64];
static int PORT;

static void
setup(void)
{
	char base[24];

	h_init(&F);
	h_unique("wt", base, sizeof(base));
	snprintf(HOST[0], sizeof(HOST[0]), "%s-1", base);
	snprintf(HOST[1], sizeof(HOST[1]), "%s-2", base);
	snprintf(TMUX_SOCK, sizeof(TMUX_SOCK), "ferry-watch-%d", (int)getpid());
	PORT = h_free_port();
	h_start_ferryd(&F, NULL);
	h_add_agent(&F, HOST[0], "127.0.0.2");
	h_add_agent(&F, HOST[1], "127.0.0.3");
	h_write(&F, "web.yml",
	    "service: web\nimage: 127.0.0.1:5000/ferry-test/web:1\n"
	    "hosts: [%s, %s]\nport: { host: %d, container: 80 }\n"
	    "health:\n  http: { path: /health, port: 80 }\n"
	    "  interval: 200ms\n  deadline: 10s\n  min_healthy: 1500ms\n"
	    "rollout: { batch: 1 }\n", HOST[0], HOST[1], PORT);
}

static void
teardown(void)
{
	/* The tmux server of this test only, by its own socket name. */
	h_run(&R, (const char *[]){ "/usr/bin/tmux", "-L", TMUX_SOCK,
	    "kill-server", NULL });
	h_fini(&F);
}

TestSuite(watch, .init = setup, .fini = teardown, .timeout = 90);

static void
screen(char *out, size_t len)
{
	h_run(&R, (const char *[]){ "/usr/bin/tmux", "-L", TMUX_SOCK,
	    "capture-pane", "-p", "-t", "w", NULL });
	snprintf(out, len, "%.4000s", R.out);
}

/* screen_joined: the screen with each wrapped line joined back whole
 * (tmux capture-pane -J), so that a line longer than the terminal shows
 * as such. */
static void
screen_joined(char *out, size_t len)
{
	h_run(&R, (const char *[]){ "/usr/bin/tmux", "-L", TMUX_SOCK,
	    "capture-pane", "-p", "-J", "-t", "w", NULL });
	snprintf(out, len, "%.4000s", R.out);
}

/* running_for: the seconds a watch's clock line shows, or -1. */
static double
running_for(const char *scr)
{
	const char *p = strstr(scr, ", running for ");
	double v;

	if (p == NULL || sscanf(p + 14, "%lf", &v) != 1)
		return -1;
	return v;
}

Test(watch, terminal_redraws_in_place_with_a_running_clock)
{
	char cmd[1200], bin[512], spec[600], scr[4096];
	int saw_running = 0, saw_done = 0, ticks = 0, k;
	double clock = -1, c;

	/* What the terminal showed before stays: the watch redraws its own
	 * lines only, it never clears the screen. */
	snprintf(cmd, sizeof(cmd), "echo BEFORE-THE-WATCH; %s --socket %s "
	    "deploy %s --watch; echo EXIT=$?; sleep 60",
	    h_bin("ferry", bin, sizeof(bin)), F.sock,
	    h_path(&F, "web.yml", spec, sizeof(spec)));
	/* The tmux server outlives the command that starts it: it must not
	 * hold the harness's pipes. */
	{
		char sh[1600];
		snprintf(sh, sizeof(sh), "exec /usr/bin/tmux -L %s new-session "
		    "-d -s w -x 160 -y 40 '%s' </dev/null >/dev/null 2>&1",
		    TMUX_SOCK, cmd);
		h_run(&R, (const char *[]){ "/bin/sh", "-c", sh, NULL });
	}
	cr_assert_eq(R.status, 0, "tmux: %s", R.err);
	for (k = 0; k < 300 && !saw_done; k++) {
		screen(scr, sizeof(scr));
		/* Redrawn in place: the screen holds one view, never a
		 * scroll of old ones, under what was there before. */
		cr_assert(strstr(scr, "Deployment 1 of web") == NULL ||
		    strstr(strstr(scr, "Deployment 1 of web") + 1,
		    "Deployment 1 of web") == NULL, "not redrawn: %s", scr);
		cr_assert(strstr(scr, "Deployment 1 of web") == NULL ||
		    strstr(scr, "BEFORE-THE-WATCH") != NULL,
		    "the screen was cleared: %s", scr);
		if (strstr(scr, "running (batch") != NULL &&
		    strstr(scr, "swapping") != NULL)
			saw_running = 1;
		/* The clock runs between two views. */
		if ((c = running_for(scr)) > clock && clock >= 0)
			ticks++;
		if (c >= 0)
			clock = c;
		if (strstr(scr, "EXIT=") != NULL)
			saw_done = 1;
		else
			h_sleep_ms(100);
	}
	cr_assert(saw_running, "never showed a batch in flight: %s", scr);
	cr_assert(saw_done, "the watch did not end: %s", scr);
	cr_assert_geq(ticks, 2, "the clock did not run: %s", scr);
	cr_assert(strstr(scr, "EXIT=0") != NULL, "%s", scr);
	cr_assert(strstr(scr, "succeeded") != NULL, "%s", scr);
	cr_assert(strstr(scr, "deployment 1, ended after ") != NULL, "%s",
	    scr);
	cr_assert(strstr(scr, "Health: 2/2 hosts passing") != NULL, "%s", scr);
	/* Per host: its batch and phase, in a table. */
	cr_assert(strstr(scr, "BATCH") && strstr(scr, "HOST") &&
	    strstr(scr, HOST[0]) && strstr(scr, HOST[1]), "%s", scr);
	cr_assert(strstr(scr, "\033") == NULL, "raw escapes on screen");
}

/* A frame never wraps: on a narrow terminal each line is cut to its
 * width, so that redrawing goes up over exactly the lines drawn. */
Test(watch, narrow_terminal_lines_are_cut_not_wrapped)
{
	char cmd[1200], bin[512], spec[600], scr[4096];
	const char *p, *e;
	int saw_done = 0, k;

	snprintf(cmd, sizeof(cmd), "echo BEFORE-THE-WATCH; %s --socket %s "
	    "deploy %s --watch; echo EXIT=$?; sleep 60",
	    h_bin("ferry", bin, sizeof(bin)), F.sock,
	    h_path(&F, "web.yml", spec, sizeof(spec)));
	{
		char sh[1600];
		snprintf(sh, sizeof(sh), "exec /usr/bin/tmux -L %s new-session "
		    "-d -s w -x 40 -y 40 '%s' </dev/null >/dev/null 2>&1",
		    TMUX_SOCK, cmd);
		h_run(&R, (const char *[]){ "/bin/sh", "-c", sh, NULL });
	}
	cr_assert_eq(R.status, 0, "tmux: %s", R.err);
	for (k = 0; k < 300 && !saw_done; k++) {
		screen_joined(scr, sizeof(scr));
		cr_assert(strstr(scr, "Deployment 1 of web") == NULL ||
		    strstr(scr, "BEFORE-THE-WATCH") != NULL,
		    "the frame went up past its own lines: %s", scr);
		cr_assert(strstr(scr, "Deployment 1 of web") == NULL ||
		    strstr(strstr(scr, "Deployment 1 of web") + 1,
		    "Deployment 1 of web") == NULL, "not redrawn: %s", scr);
		if (strstr(scr, "EXIT=") != NULL)
			saw_done = 1;
		else
			h_sleep_ms(100);
	}
	cr_assert(saw_done, "the watch did not end: %s", scr);
	cr_assert(strstr(scr, "EXIT=0") != NULL, "%s", scr);
	/* Every line within 40 columns (a longer one would have wrapped,
	 * and shows joined back whole). */
	for (p = scr; *p != '\0'; p = *e ? e + 1 : e) {
		e = strchr(p, '\n');
		if (e == NULL)
			e = p + strlen(p);
		cr_assert_leq(e - p, 40, "%.*s", (int)(e - p), p);
	}
	/* The cut shows: the rollback line is longer than 40 columns. */
	cr_assert(strstr(scr, "Health: 2/2 hosts passing") != NULL, "%s", scr);
}

Test(watch, pipe_gets_one_line_per_change_with_elapsed_time)
{
	char spec[600];
	const char *line;
	int lines = 0;

	h_ferry(&F, &R, (const char *[]){ "deploy", h_path(&F, "web.yml",
	    spec, sizeof(spec)), "--watch", NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	cr_assert(strstr(R.out, "\033") == NULL, "escapes on a pipe: %s",
	    R.out);
	for (line = R.out; (line = strstr(line, "] deployment 1: ")) != NULL;
	    line++)
		lines++;
	cr_assert(lines >= 3, "too few progress lines: %s", R.out);
	cr_assert(strstr(R.out, "running batch 2/2") != NULL, "%s", R.out);
	cr_assert(strstr(R.out, "Deployment 1 of web: succeeded") != NULL,
	    "%s", R.out);
}
