/* SPDX-License-Identifier: Apache-2.0 */
// links:
/* test_join.c: enrolment by token, pending hosts, keys, labels, CLI errors;
 * against a real ferryd and real agents on loopback. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "harness.h"

static struct h_fleet F;
static struct h_run R;

static void setup(void) { h_init(&F); }
static void teardown(void) { h_fini(&F); }

TestSuite(join, .init = setup, .fini = teardown, .timeout = 60);


static const char *
str(cJSON *o, const char *k)
{
	cJSON *v = cJSON_GetObjectItem(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

Test(join, three_agents_join_by_token_and_show_in_hosts)
{
	char tok[1100], name[16], pub[16];
	cJSON *arr, *h;
	int i;

	h_start_ferryd(&F, NULL);
	for (i = 1; i <= 3; i++) {
		snprintf(name, sizeof(name), "web-%d", i);
		snprintf(pub, sizeof(pub), "127.0.0.%d", i + 1);
		h_token(&F, tok, sizeof(tok), (const char *[]){ "--label",
		    "role=web", NULL });
		cr_assert_str_not_empty(tok);
		cr_assert(strncmp(tok, "ferry1_", 7) == 0, "token: %s", tok);
		h_join(&F, &R, tok, name, pub);
		cr_assert_eq(R.status, 0, "join %s: %s", name, R.err);
		cr_assert(strstr(R.out, "joined ferryd") != NULL);
		h_start_agent(&F, name, NULL);
	}
	for (i = 1; i <= 3; i++) {
		snprintf(name, sizeof(name), "web-%d", i);
		cr_assert(h_wait_state(&F, name, "online", 10000),
		    "%s not online", name);
	}
	for (i = 1; i <= 3; i++) {
		snprintf(name, sizeof(name), "web-%d", i);
		snprintf(pub, sizeof(pub), "127.0.0.%d", i + 1);
		h = h_host_json(&F, name, &arr);
		cr_assert_not_null(h, "%s missing from hosts", name);
		cr_assert_str_eq(str(h, "address"), pub);
		cr_assert_str_eq(str(cJSON_GetObjectItem(h, "labels") ?
		    cJSON_GetObjectItem(h, "labels") : h, "role"), "web");
		cr_assert_eq(strlen(str(h, "fingerprint")), 32);
		cJSON_Delete(arr);
	}
	/* The table names every host. */
	h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
	cr_assert_eq(R.status, 0);
	cr_assert(strstr(R.out, "web-1") && strstr(R.out, "web-2") &&
	    strstr(R.out, "web-3") && strstr(R.out, "online"), "%s", R.out);
	/* Keys are private to their owner. */
	{
		const char *keys[] = { "ferryd/ferryd.key", "web-1/host.key",
		    "web-1/coordinator.pub", "web-1/enrolment.conf" };
		char path[600];
		struct stat st;
		for (i = 0; i < 4; i++) {
			cr_assert_eq(stat(h_path(&F, keys[i], path,
			    sizeof(path)), &st), 0, "%s", keys[i]);
			cr_assert_eq(st.st_mode & 0777, 0600, "%s is %o",
			    keys[i], st.st_mode & 0777);
		}
	}
	/* The join is in the audit log; the token secret is nowhere in the
	 * daemon's log. */
	cr_assert(h_log_has(F.ferryd, "host web-1: joined by token"));
	cr_assert(!h_log_has(F.ferryd, tok + 7));
}

Test(join, used_token_is_refused)
{
	char tok[1100];
	cJSON *arr;

	h_start_ferryd(&F, NULL);
	h_token(&F, tok, sizeof(tok), NULL);
	h_join(&F, &R, tok, "a1", NULL);
	cr_assert_eq(R.status, 0, "%s", R.err);
	h_join(&F, &R, tok, "a2", NULL);
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(R.err, "token already used") != NULL, "%s", R.err);
	cr_assert_null(h_host_json(&F, "a2", &arr), "a2 was enrolled");
	cJSON_Delete(arr);
	cr_assert(h_log_has(F.ferryd, "refused join of a2"));
}

Test(join, expired_token_is_refused)
{
	char tok[1100];
	cJSON *arr;

	h_start_ferryd(&F, NULL);
	h_token(&F, tok, sizeof(tok), (const char *[]){ "--ttl", "1s", NULL });
	h_sleep_ms(1300);
	h_join(&F, &R, tok, "late", NULL);
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(R.err, "token expired") != NULL, "%s", R.err);
	cr_assert_null(h_host_json(&F, "late", &arr));
	cJSON_Delete(arr);
}

Test(join, malformed_token_and_bad_names_are_refused_locally)
{
	char tok[1100];

	h_start_ferryd(&F, NULL);
	h_join(&F, &R, "ferry1_notatoken", "x1", NULL);
	cr_assert_eq(R.status, 2);
	cr_assert(strstr(R.err, "bad token") != NULL, "%s", R.err);
	h_token(&F, tok, sizeof(tok), NULL);
	/* One character changed: no longer a whole token. */
	tok[strlen(tok) - 3] = tok[strlen(tok) - 3] == 'A' ? 'B' : 'A';
	h_join(&F, &R, tok, "x1", NULL);
	cr_assert_neq(R.status, 0, "a damaged token joined");
	h_token(&F, tok, sizeof(tok), NULL);
	h_join(&F, &R, tok, "bad name!", NULL);
	cr_assert_eq(R.status, 2);
	cr_assert(strstr(R.err, "bad name") != NULL, "%s", R.err);
	/* The token was not spent by the refused attempt. */
	h_join(&F, &R, tok, "x1", NULL);
	cr_assert_eq(R.status, 0, "%s", R.err);
}

/* fingerprint reads ferryd's key fingerprint with `ferryd -n`. */
static void
fingerprint(char *out, size_t len)
{
	char bin[512], state[600];
	char *p;

	h_run(&R, (const char *[]){ h_bin("ferryd", bin, sizeof(bin)), "-n",
	    "--state-dir", h_path(&F, "ferryd", state, sizeof(state)),
	    "--socket", F.sock, NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_assert(strstr(R.out, "configuration OK") != NULL);
	p = strstr(R.out, "key fingerprint ");
	cr_assert_not_null(p, "%s", R.out);
	snprintf(out, len, "%.32s", p + 16);
}

Test(join, host_without_token_waits_pending_until_accepted)
{
	char fpr[64];
	struct h_proc *a;

	h_start_ferryd(&F, (const char *[]){ "--allow-tokenless-joins", NULL });
	fingerprint(fpr, sizeof(fpr));
	a = h_start_agent(&F, "p1", (const char *[]){ "--coordinator",
	    F.listen, "--coordinator-fingerprint", fpr, "--name", "p1",
	    NULL });
	cr_assert(h_wait_state(&F, "p1", "pending", 10000), "not pending");
	cr_assert(h_wait_log(a, "waiting for an operator", 5000));
	h_ferry(&F, &R, (const char *[]){ "ping", "p1", NULL });
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(R.out, "pending") != NULL, "%s", R.out);

	h_ferry(&F, &R, (const char *[]){ "hosts", "accept", "p1", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_assert(h_wait_state(&F, "p1", "online", 10000), "not online");
	h_ferry(&F, &R, (const char *[]){ "ping", "p1", NULL });
	cr_assert_eq(R.status, 0, "%s %s", R.out, R.err);
	/* Accepting twice says so. */
	h_ferry(&F, &R, (const char *[]){ "hosts", "accept", "p1", NULL });
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(R.err, "already accepted") != NULL, "%s", R.err);
}

Test(join, known_name_with_new_key_is_refused_until_accepted)
{
	char tok[1100], fpr[64], fold[64], fnew[64];
	struct h_proc *old, *imp;
	cJSON *arr, *h;

	h_start_ferryd(&F, NULL);
	fingerprint(fpr, sizeof(fpr));
	old = h_add_agent(&F, "web-1", NULL);
	h = h_host_json(&F, "web-1", &arr);
	snprintf(fold, sizeof(fold), "%s", str(h, "fingerprint"));
	cJSON_Delete(arr);

	/* Another key claims the name with a valid token: refused, and the
	 * token is not consumed by the refusal... */
	h_token(&F, tok, sizeof(tok), NULL);
	{
		char bin[512], state[600];
		h_run(&R, (const char *[]){ h_bin("ferry-agent", bin,
		    sizeof(bin)), "join", tok, "--name", "web-1",
		    "--state-dir", h_path(&F, "imposter", state,
		    sizeof(state)), NULL });
	}
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(R.err, "another key") != NULL, "%s", R.err);
	cr_assert(h_log_has(F.ferryd, "host web-1: refused key"));
	/* ...and the known host keeps working with its pinned key. */
	h = h_host_json(&F, "web-1", &arr);
	cr_assert_str_eq(str(h, "fingerprint"), fold);
	cJSON_Delete(arr);
	h_ferry(&F, &R, (const char *[]){ "ping", "web-1", NULL });
	cr_assert_eq(R.status, 0, "%s", R.out);

	/* The operator decides: the old machine is gone, the new key is
	 * accepted, and the new agent takes over the name. */
	h_kill(old, SIGTERM);
	imp = h_start_agent(&F, "imposter", (const char *[]){ "--coordinator",
	    F.listen, "--coordinator-fingerprint", fpr, "--name", "web-1",
	    NULL });
	cr_assert(h_wait_log(imp, "another key", 5000) ||
	    h_wait_log(imp, "refused", 1000), "new agent was not refused");
	/* ferry hosts names the waiting key; accepting without naming it
	 * changes nothing. */
	h = h_host_json(&F, "web-1", &arr);
	snprintf(fnew, sizeof(fnew), "%s", str(h, "new_key_fingerprint"));
	cJSON_Delete(arr);
	cr_assert_eq(strlen(fnew), 32, "no new key shown");
	cr_assert_str_neq(fnew, fold);
	h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
	cr_assert(strstr(R.out, fnew) != NULL, "%s", R.out);
	h_ferry(&F, &R, (const char *[]){ "hosts", "accept", "web-1", NULL });
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(R.err, "--key") != NULL, "%s", R.err);
	h_ferry(&F, &R, (const char *[]){ "hosts", "accept", "web-1", "--key",
	    fold, NULL });
	cr_assert_eq(R.status, 1, "accepted the wrong key");
	h_ferry(&F, &R, (const char *[]){ "hosts", "accept", "web-1", "--key",
	    fnew, NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_assert(h_wait_state(&F, "web-1", "online", 15000));
	h = h_host_json(&F, "web-1", &arr);
	cr_assert_str_eq(str(h, "fingerprint"), fnew, "key was not replaced");
	cr_assert_str_eq(str(h, "new_key_fingerprint"), "");
	cJSON_Delete(arr);
	h_ferry(&F, &R, (const char *[]){ "ping", "web-1", NULL });
	cr_assert_eq(R.status, 0, "%s", R.out);
}

Test(join, labels_are_set_and_removed)
{
	cJSON *arr, *h, *labels;

	h_start_ferryd(&F, NULL);
	h_add_agent(&F, "web-1", NULL);
	h_ferry(&F, &R, (const char *[]){ "hosts", "label", "web-1",
	    "zone=a", "role=web", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	h = h_host_json(&F, "web-1", &arr);
	labels = cJSON_GetObjectItem(h, "labels");
	cr_assert_str_eq(str(labels, "zone"), "a");
	cr_assert_str_eq(str(labels, "role"), "web");
	cJSON_Delete(arr);
	h_ferry(&F, &R, (const char *[]){ "hosts", "label", "web-1", "zone=",
	    NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	h = h_host_json(&F, "web-1", &arr);
	labels = cJSON_GetObjectItem(h, "labels");
	cr_assert_null(cJSON_GetObjectItem(labels, "zone"));
	cr_assert_str_eq(str(labels, "role"), "web");
	cJSON_Delete(arr);
	/* Bad labels change nothing. */
	h_ferry(&F, &R, (const char *[]){ "hosts", "label", "web-1",
	    "bad key=x", NULL });
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(R.err, "bad label") != NULL, "%s", R.err);
	h_ferry(&F, &R, (const char *[]){ "hosts", "label", "web-1", "novalue",
	    NULL });
	cr_assert_eq(R.status, 2, "%s", R.err);
	/* Labels survive a restart of ferryd. */
	h_kill(F.ferryd, SIGTERM);
	h_start_ferryd(&F, NULL);
	h = h_host_json(&F, "web-1", &arr);
	cr_assert_str_eq(str(cJSON_GetObjectItem(h, "labels"), "role"), "web");
	cJSON_Delete(arr);
}

Test(join, cli_errors_are_clear_and_exit_nonzero)
{
	/* ferryd not running. */
	h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
	cr_assert_eq(R.status, 3);
	cr_assert(strstr(R.err, "cannot reach ferryd") != NULL, "%s", R.err);

	h_start_ferryd(&F, NULL);
	h_ferry(&F, &R, (const char *[]){ "hosts", "accept", "nope", NULL });
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(R.err, "unknown host \"nope\"") != NULL, "%s", R.err);
	h_ferry(&F, &R, (const char *[]){ "hosts", "revoke", "nope", NULL });
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(R.err, "unknown host") != NULL, "%s", R.err);
	h_ferry(&F, &R, (const char *[]){ "ping", "nope", NULL });
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(R.err, "unknown host") != NULL, "%s", R.err);
	h_ferry(&F, &R, (const char *[]){ "ping", NULL });
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(R.err, "no accepted hosts") != NULL, "%s", R.err);
	/* Bad arguments. */
	h_ferry(&F, &R, (const char *[]){ "frobnicate", NULL });
	cr_assert_eq(R.status, 2);
	h_ferry(&F, &R, (const char *[]){ "token", "create", "--ttl", "soon",
	    NULL });
	cr_assert_eq(R.status, 2);
	cr_assert(strstr(R.err, "--ttl") != NULL, "%s", R.err);
	h_ferry(&F, &R, (const char *[]){ "hosts", "accept", NULL });
	cr_assert_eq(R.status, 2);
	/* --help everywhere. */
	h_ferry(&F, &R, (const char *[]){ "--help", NULL });
	cr_assert_eq(R.status, 0);
	cr_assert(strstr(R.out, "usage: ferry") != NULL);
	h_ferry(&F, &R, (const char *[]){ "hosts", "--help", NULL });
	cr_assert_eq(R.status, 0);
	cr_assert(strstr(R.out, "ferry hosts accept NAME") != NULL);
	h_ferry(&F, &R, (const char *[]){ "ping", "--help", NULL });
	cr_assert_eq(R.status, 0);
	h_ferry(&F, &R, (const char *[]){ "token", "--help", NULL });
	cr_assert_eq(R.status, 0);
	{
		char bin[512];
		h_run(&R, (const char *[]){ h_bin("ferry-agent", bin,
		    sizeof(bin)), "join", "--help", NULL });
		cr_assert_eq(R.status, 0);
		h_run(&R, (const char *[]){ h_bin("ferryd", bin, sizeof(bin)),
		    "--help", NULL });
		cr_assert_eq(R.status, 0);
		cr_assert(strstr(R.out, "usage: ferryd") != NULL);
		h_run(&R, (const char *[]){ h_bin("ferryd", bin, sizeof(bin)),
		    "--missed-beats", "zero", NULL });
		cr_assert_eq(R.status, 2);
		cr_assert(strstr(R.err, "missed_beats") != NULL, "%s", R.err);
		h_run(&R, (const char *[]){ h_bin("ferry-agent", bin,
		    sizeof(bin)), "--state-dir", "/nonexistent-ferry", NULL });
		cr_assert_eq(R.status, 2);
		cr_assert(strstr(R.err, "not enrolled") != NULL, "%s", R.err);
	}
}

Test(join, config_file_settings_and_errors)
{
	char bin[512], conf[600], state[600], text[1200];
	FILE *fp;

	h_path(&F, "ferryd.conf", conf, sizeof(conf));
	fp = fopen(conf, "w");
	cr_assert_not_null(fp);
	fprintf(fp, "# test\nstate_dir = %s\nlisten = %s\nsocket = %s\n"
	    "http = %s\nmissed_beats = 4\n", h_path(&F, "ferryd", state,
	    sizeof(state)), F.listen, F.sock, F.http);
	fclose(fp);
	h_run(&R, (const char *[]){ h_bin("ferryd", bin, sizeof(bin)), "-n",
	    "-f", conf, NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_assert(strstr(R.out, "configuration OK") != NULL, "%s", R.out);
	/* -n creates nothing. */
	cr_assert_neq(access(state, F_OK), 0, "-n created the state dir");

	/* A daemon started from the file serves the CLI on its socket. */
	h_spawn(&F, "ferryd-conf", (const char *[]){ "ferryd", "-d", "-f",
	    conf, NULL });
	for (int k = 0; k < 100; k++) {
		h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
		if (R.status == 0)
			break;
		h_sleep_ms(50);
	}
	cr_assert_eq(R.status, 0, "%s", R.err);

	/* A bad line names the file, the line and the setting; a flag
	 * names itself. */
	fp = fopen(conf, "w");
	cr_assert_not_null(fp);
	fprintf(fp, "listen = %s\nmissed_beats = many\n", F.listen);
	fclose(fp);
	h_run(&R, (const char *[]){ h_bin("ferryd", bin, sizeof(bin)), "-n",
	    "-f", conf, NULL });
	cr_assert_eq(R.status, 2);
	snprintf(text, sizeof(text), "%s:2: missed_beats", conf);
	cr_assert(strstr(R.err, text) != NULL, "%s", R.err);
	h_run(&R, (const char *[]){ h_bin("ferryd", bin, sizeof(bin)), "-n",
	    "-f", "/nonexistent/ferryd.conf", NULL });
	cr_assert_eq(R.status, 2);
	cr_assert(strstr(R.err, "cannot open") != NULL, "%s", R.err);
	h_run(&R, (const char *[]){ h_bin("ferry-agent", bin, sizeof(bin)),
	    "-n", "--heartbeat-interval", "fast", NULL });
	cr_assert_eq(R.status, 2);
	cr_assert(strstr(R.err, "heartbeat_interval") != NULL, "%s", R.err);
}

Test(join, token_create_prints_the_command_and_join_follows_the_config_file)
{
	char tok[1100], want[1300], conf[600], state[600], enrol[700];
	char bin[512];
	struct h_proc *a;
	char *nl;

	h_start_ferryd(&F, NULL);
	h_ferry(&F, &R, (const char *[]){ "token", "create", NULL });
	cr_assert_eq(R.status, 0, "token create: %s", R.err);
	/* stdout: the token alone; stderr: the exact command to paste. */
	cr_assert(strlen(R.out) < sizeof(tok), "token too long");
	memcpy(tok, R.out, strlen(R.out) + 1);
	nl = strchr(tok, '\n');
	cr_assert(nl != NULL && nl[1] == '\0', "stdout is not one line: %s",
	    R.out);
	*nl = '\0';
	/* The command reads the token from standard input: the token is
	 * never put in a command line (ps, the shell's history). */
	cr_assert(strstr(R.err, "\n  ferry-agent join -\n") != NULL,
	    "no command to run: %s", R.err);
	cr_assert_null(strstr(R.err, tok), "the token in the command: %s",
	    R.err);
	cr_assert(strstr(R.err, F.listen) != NULL,
	    "stderr does not say where the host must reach ferryd: %s", R.err);

	/* join writes where the agent's config file says, not elsewhere. */
	h_path(&F, "from-conf", state, sizeof(state));
	h_write(&F, "agent.conf", "state_dir = %s\nheartbeat_interval = "
	    "200ms\n", state);
	h_path(&F, "agent.conf", conf, sizeof(conf));
	h_run(&R, (const char *[]){ h_bin("ferry-agent", bin, sizeof(bin)),
	    "join", tok, "--name", "conf-1", "-f", conf, "--publish-address",
	    "127.0.0.1", "--no-start", NULL });
	cr_assert_eq(R.status, 0, "join: %s", R.err);
	snprintf(enrol, sizeof(enrol), "%s/enrolment.conf", state);
	cr_assert(access(enrol, F_OK) == 0, "no %s", enrol);
	snprintf(want, sizeof(want), "start the agent: ferry-agent -f %s\n",
	    conf);
	cr_assert(strstr(R.out, want) != NULL, "%s", R.out);
	/* The printed command works as printed. */
	if (F.nhosts < H_MAX_HOSTS)
		snprintf(F.hosts[F.nhosts++], sizeof(F.hosts[0]), "conf-1");
	a = h_spawn(&F, "agent-conf-1", (const char *[]){ "ferry-agent", "-d",
	    "-f", conf, NULL });
	cr_assert(h_wait_state(&F, "conf-1", "online", 10000),
	    "conf-1 not online in 10 s");
	cr_assert(h_alive(a));
}

/* example_check: the example config at path, every "#name = value" line
 * uncommented, passes `BIN -n`, and names every --flag of `BIN --help`
 * (but -f, join's and the ones listed in skip). */
static void
example_check(const char *bin, const char *path, const char *const *extra,
    const char *skip)
{
	char b[512], out[600], line[512], names[4096] = " ", *p, *q;
	const char *argv[16];
	FILE *in, *o;
	int i = 0, j;

	in = fopen(path, "r");
	cr_assert_not_null(in, "%s: missing", path);
	h_path(&F, "example.conf", out, sizeof(out));
	o = fopen(out, "w");
	cr_assert_not_null(o);
	while (fgets(line, sizeof(line), in) != NULL) {
		if (line[0] != '#' || strstr(line, " = ") == NULL ||
		    strchr(line, ' ') < strstr(line, " = "))
			continue;
		fputs(line + 1, o);
		*strstr(line, " = ") = '\0';
		strcat(names, line + 1);
		strcat(names, " ");
	}
	fclose(in);
	fclose(o);
	argv[i++] = h_bin(bin, b, sizeof(b));
	argv[i++] = "-n";
	argv[i++] = "-f";
	argv[i++] = out;
	for (j = 0; extra[j] != NULL; j++)
		argv[i++] = extra[j];
	argv[i] = NULL;
	h_run(&R, argv);
	cr_assert_eq(R.status, 0, "%s with every setting: %s", path, R.err);
	cr_assert(strstr(R.out, "configuration OK") != NULL, "%s", R.out);
	h_run(&R, (const char *[]){ b, "--help", NULL });
	cr_assert_eq(R.status, 0);
	for (p = R.out; (p = strstr(p, "\n  --")) != NULL; p = q) {
		char want[80];
		size_t n;

		p += 5;
		q = p + strcspn(p, " \n");
		n = (size_t)(q - p);
		cr_assert(n < 60);
		want[0] = ' ';
		memcpy(want + 1, p, n);
		want[n + 1] = ' ';
		want[n + 2] = '\0';
		for (char *c = want; *c; c++)
			if (*c == '-')
				*c = '_';
		if (strstr(skip, want) != NULL)
			continue;
		cr_expect(strstr(names, want) != NULL,
		    "%s does not list the setting%s", path, want);
	}
}

Test(join, example_configs_list_every_setting_and_parse)
{
	char state[600];

	h_path(&F, "state", state, sizeof(state));
	example_check("ferryd", "deploy/etc/ferryd.conf",
	    (const char *[]){ "--state-dir", state, NULL }, "");
	example_check("ferry-agent", "deploy/etc/ferry-agent.conf",
	    (const char *[]){ "--state-dir", state, NULL }, "");
}
