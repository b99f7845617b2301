/* SPDX-License-Identifier: Apache-2.0 */
// links:
/* test_link.c: the live link: ping, heartbeats, offline/online, restarts of
 * ferryd and agents, network cuts, Docker inventory; all on loopback with
 * real processes. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "harness.h"

static struct h_fleet F;
static struct h_run R;

static void setup(void) { h_init(&F); }
static void teardown(void) { h_fini(&F); }

TestSuite(link, .init = setup, .fini = teardown, .timeout = 60);

static int
ping_ok(const char *host)
{
	h_ferry(&F, &R, (const char *[]){ "ping", host, NULL });
	return R.status == 0 && strstr(R.out, " ok ") != NULL;
}

Test(link, ping_every_host_with_latency)
{
	cJSON *arr, *it;
	int n = 0;

	h_start_ferryd(&F, NULL);
	h_add_agent(&F, "web-1", "127.0.0.2");
	h_add_agent(&F, "web-2", "127.0.0.3");
	h_add_agent(&F, "web-3", "127.0.0.4");
	h_ferry(&F, &R, (const char *[]){ "ping", "--json", NULL });
	cr_assert_eq(R.status, 0, "%s %s", R.out, R.err);
	arr = cJSON_Parse(R.out);
	cr_assert_not_null(arr, "%s", R.out);
	cJSON_ArrayForEach(it, arr) {
		cJSON *ok = cJSON_GetObjectItem(it, "ok");
		cJSON *lat = cJSON_GetObjectItem(it, "latency_ms");
		cr_assert(cJSON_IsTrue(ok), "%s", R.out);
		cr_assert(cJSON_IsNumber(lat) && lat->valuedouble > 0 &&
		    lat->valuedouble < 5000, "%s", R.out);
		n++;
	}
	cJSON_Delete(arr);
	cr_assert_eq(n, 3);
	/* The table form names each host with its latency. */
	h_ferry(&F, &R, (const char *[]){ "ping", "web-2", NULL });
	cr_assert_eq(R.status, 0);
	cr_assert(strstr(R.out, "web-2") && strstr(R.out, " ms"), "%s", R.out);
	cr_assert(strstr(R.out, "web-1") == NULL, "pinged more than asked");
}

/* metric reads one counter of ferryd's /metrics, -1 when absent. */
static long long
metric(const char *name)
{
	char body[65536], *at;
	size_t n = strlen(name);

	if (h_http_get("127.0.0.1", atoi(strchr(F.http, ':') + 1), "/metrics",
	    body, sizeof(body)) != 200)
		return -1;
	for (at = body; (at = strstr(at, name)) != NULL; at += n)
		if ((at == body || at[-1] == '\n') && at[n] == ' ')
			return atoll(at + n + 1);
	return -1;
}

Test(link, a_ping_answer_rides_on_the_next_heartbeat)
{
	char rel[64];
	uint64_t end;
	int i;

	h_start_ferryd(&F, NULL);
	h_add_agent(&F, "web-1", NULL);
	for (i = 0; i < 5; i++)
		cr_assert(ping_ok("web-1"), "%s%s", R.out, R.err);
	/* Each answer came once, on the heartbeat that followed its command,
	 * under that heartbeat's signature; none needed a message of its
	 * own, and none came again although the next ping answered that
	 * heartbeat. */
	cr_assert_eq(metric("ferry_reports_on_heartbeats_total"), 5);
	cr_assert_eq(metric("ferry_reports_alone_total"), 0);
	/* ferryd's next Idle (once a heartbeat is held for its interval)
	 * named them all: acknowledged. */
	snprintf(rel, sizeof(rel), "web-1/agent.db");
	end = h_mono_ms() + 3000;
	while (h_db_int(&F, rel, "SELECT count(*) FROM commands WHERE "
	    "acked = 0", NULL, 0, NULL) != 0 && h_mono_ms() < end)
		h_sleep_ms(50);
	cr_assert_eq(h_db_int(&F, rel, "SELECT count(*) FROM commands WHERE "
	    "acked = 0", NULL, 0, NULL), 0, "reports left unacknowledged");
	cr_assert_eq(h_db_int(&F, rel, "SELECT count(*) FROM commands WHERE "
	    "state = 'succeeded'", NULL, 0, NULL), 5);
	/* ferryd noted every answer after handing it over. */
	cr_assert_eq(h_db_int(&F, "ferryd/ferryd.db", "SELECT count(*) FROM "
	    "commands WHERE kind = 'ping' AND state = 'succeeded'", NULL, 0,
	    NULL), 5);
}

/* Commands one after another answer every heartbeat with the next command,
 * so no hold ends with an Idle: ferryd names what it read at once when
 * enough waits to be named, and every answer still rides, on time, past
 * the 64 reports an agent keeps in flight. */
Test(link, a_hundred_pings_in_a_row_all_ride_and_are_acknowledged)
{
	uint64_t end;
	int i;

	h_start_ferryd(&F, NULL);
	/* Held for 5 s: no Idle comes from a hold running out meanwhile. */
	h_add_agent_with(&F, "web-1", NULL, (const char *[]){
	    "--heartbeat-interval", "5s", NULL });
	for (i = 0; i < 100; i++) {
		h_ferry(&F, &R, (const char *[]){ "ping", "web-1", "--timeout",
		    "2s", NULL });
		cr_assert(R.status == 0 && strstr(R.out, " ok ") != NULL,
		    "ping %d: %s%s", i + 1, R.out, R.err);
	}
	cr_assert_eq(metric("ferry_reports_on_heartbeats_total"), 100);
	cr_assert_eq(metric("ferry_reports_alone_total"), 0);
	end = h_mono_ms() + 8000;
	while (h_db_int(&F, "web-1/agent.db", "SELECT count(*) FROM commands "
	    "WHERE acked = 0", NULL, 0, NULL) != 0 && h_mono_ms() < end)
		h_sleep_ms(50);
	cr_assert_eq(h_db_int(&F, "web-1/agent.db", "SELECT count(*) FROM "
	    "commands WHERE acked = 0", NULL, 0, NULL), 0,
	    "reports left unacknowledged");
	cr_assert_eq(h_db_int(&F, "web-1/agent.db", "SELECT count(*) FROM "
	    "commands WHERE state = 'succeeded'", NULL, 0, NULL), 100);
}

Test(link, ferryd_killed_and_restarted_agents_return_within_10s)
{
	char name[16];
	int i;

	h_start_ferryd(&F, NULL);
	/* The default heartbeat interval (5 s), as on a real fleet. */
	for (i = 1; i <= 3; i++) {
		snprintf(name, sizeof(name), "web-%d", i);
		h_add_agent_with(&F, name, NULL, (const char *[]){
		    "--heartbeat-interval", "5s", NULL });
		cr_assert(ping_ok(name));
	}
	cr_assert_eq(h_kill(F.ferryd, SIGKILL), 128 + SIGKILL);
	h_start_ferryd(&F, NULL);
	/* Every agent is back online and pingable within 10 s. */
	for (i = 1; i <= 3; i++) {
		snprintf(name, sizeof(name), "web-%d", i);
		cr_assert(h_wait_state(&F, name, "online", 10000),
		    "%s not back online", name);
	}
	h_ferry(&F, &R, (const char *[]){ "ping", NULL });
	cr_assert_eq(R.status, 0, "%s", R.out);
	/* Sequences went on from the database: nothing was refused. */
	for (i = 0; i < F.nprocs; i++)
		cr_assert(!h_log_has(&F.procs[i], "refused"), "%s refused "
		    "something", F.procs[i].name);
}

Test(link, host_goes_offline_after_missed_beats_and_returns)
{
	struct h_proc *a;

	h_start_ferryd(&F, NULL);
	a = h_add_agent(&F, "web-1", NULL);
	/* 200 ms beats, 3 missed: offline well within 3 s. */
	kill(a->pid, SIGSTOP);
	cr_assert(h_wait_state(&F, "web-1", "offline", 3000));
	cr_assert(h_log_has(F.ferryd, "host web-1: offline"));
	h_ferry(&F, &R, (const char *[]){ "ping", "web-1", NULL });
	cr_assert_eq(R.status, 1);
	cr_assert(strstr(R.out, "offline") != NULL, "%s", R.out);
	kill(a->pid, SIGCONT);
	cr_assert(h_wait_state(&F, "web-1", "online", 5000));
	cr_assert(ping_ok("web-1"));
}

Test(link, agent_restart_keeps_its_high_water_mark)
{
	struct h_proc *a;

	h_start_ferryd(&F, NULL);
	a = h_add_agent(&F, "web-1", NULL);
	long long seq = 0;
	uint64_t end;

	cr_assert(ping_ok("web-1"));
	cr_assert(ping_ok("web-1"));
	cr_assert(ping_ok("web-1"));
	/* A ping is answered first and recorded right after: the kill waits
	 * for the record, which is what must survive it. */
	for (end = h_mono_ms() + 5000; h_mono_ms() < end && seq < 3;
	    h_sleep_ms(20))
		seq = h_db_int(&F, "web-1/agent.db", "SELECT last_seq FROM "
		    "mark", NULL, 0, NULL);
	cr_assert_eq(seq, 3, "the third ping was never recorded");
	cr_assert_eq(h_kill(a, SIGKILL), 128 + SIGKILL);
	a = h_start_agent(&F, "web-1", NULL);
	cr_assert(h_wait_log(a, "last sequence 3", 5000),
	    "the restarted agent lost its high-water mark");
	cr_assert(h_wait_state(&F, "web-1", "online", 10000));
	cr_assert(ping_ok("web-1"));
}

Test(link, sigterm_shuts_both_daemons_down_cleanly)
{
	char url[64];
	struct h_proc *a;

	h_start_ferryd(&F, NULL);
	/* While it runs, ferryd answers /healthz on its HTTP port. */
	snprintf(url, sizeof(url), "http://%s/healthz", F.http);
	h_run(&R, (const char *[]){ "/usr/bin/curl", "-sS", "--max-time", "5",
	    "-w", " %{http_code}", url, NULL });
	cr_assert_eq(R.status, 0, "curl: %s", R.err);
	cr_assert(strncmp(R.out, "{\"status\": \"ok\", \"database\": \"ok\"",
	    33) == 0 && strstr(R.out, "}\n 200") != NULL, "%s", R.out);
	a = h_add_agent(&F, "web-1", NULL);
	cr_assert_eq(h_kill(a, SIGTERM), 0);
	cr_assert(h_log_has(a, "ferry-agent: stopped"));
	cr_assert_eq(h_kill(F.ferryd, SIGTERM), 0);
	cr_assert(h_log_has(F.ferryd, "ferryd: stopped"));
	/* The socket is gone with it: the CLI says ferryd is not running. */
	h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
	cr_assert_eq(R.status, 3);
}

Test(link, agent_without_docker_connects_and_says_so)
{
	cJSON *arr, *it;
	int seen = 0;

	h_start_ferryd(&F, NULL);
	h_add_agent_with(&F, "nodocker", NULL, (const char *[]){
	    "--docker-socket", "/nonexistent/docker.sock", NULL });
	h_ferry(&F, &R, (const char *[]){ "hosts", "--json", NULL });
	arr = cJSON_Parse(R.out);
	cJSON_ArrayForEach(it, arr) {
		cJSON *ok = cJSON_GetObjectItem(it, "docker_ok");
		cJSON *e = cJSON_GetObjectItem(it, "docker_error");
		cr_assert(cJSON_IsFalse(ok));
		cr_assert(cJSON_IsString(e) && strstr(e->valuestring,
		    "/nonexistent/docker.sock"), "%s", R.out);
		seen++;
	}
	cJSON_Delete(arr);
	cr_assert_eq(seen, 1);
	h_ferry(&F, &R, (const char *[]){ "hosts", NULL });
	cr_assert(strstr(R.out, "docker unreachable") != NULL, "%s", R.out);
	cr_assert(ping_ok("nodocker"));
}

/* docker runs the Docker CLI (bounded). */
static int
docker(const char *const *args)
{
	const char *argv[32] = { "/usr/bin/docker" };
	int i;

	for (i = 0; args[i] != NULL && i < 30; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	h_run(&R, argv);
	return R.status;
}

/* host_label_of writes the ferry.host label Docker has for container id
 * into buf ("" when it has none); 0, or -1 when Docker does not know it. */
static int
host_label_of(const char *id, char *buf, size_t len)
{
	size_t n;

	if (docker((const char *[]){ "inspect", "--format", "{{index "
	    ".Config.Labels \"ferry.host\"}}", id, NULL }) != 0)
		return -1;
	n = strcspn(R.out, "\n");
	if (n >= len)
		n = len - 1;
	memcpy(buf, R.out, n);
	buf[n] = '\0';
	return 0;
}

/*
 * check_inventory reads `ferry hosts --json` once and checks the whole
 * inventory of host: every container it lists is one Docker labels
 * ferry.host=host, and none is another's.  Returns 1 when it lists
 * container id mine.
 */
static int
check_inventory(const char *host, const char *mine, const char *other)
{
	char id[80], label[80];
	cJSON *arr, *it, *cs, *c;
	int hosts = 0, found = 0;

	h_ferry(&F, &R, (const char *[]){ "hosts", "--json", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	arr = cJSON_Parse(R.out);
	cr_assert_not_null(arr, "%s", R.out);
	cJSON_ArrayForEach(it, arr) {
		cJSON *name = cJSON_GetObjectItem(it, "name");
		cr_assert(cJSON_IsString(name), "%s", R.out);
		cr_assert_str_eq(name->valuestring, host, "%s", R.out);
		hosts++;
		cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(it, "docker_ok")),
		    "%s", R.out);
		cs = cJSON_GetObjectItem(it, "containers");
		cr_assert(cJSON_IsArray(cs), "%s", R.out);
		cJSON_ArrayForEach(c, cs) {
			cJSON *cid = cJSON_GetObjectItem(c, "id");
			cr_assert(cJSON_IsString(cid) && cid->valuestring[0],
			    "a container without an id: %s", R.out);
			snprintf(id, sizeof(id), "%s", cid->valuestring);
			cr_assert(strncmp(other, id, strlen(id)) != 0 &&
			    strncmp(id, other, strlen(other)) != 0,
			    "another host's container %s was listed: %s",
			    id, R.out);
			cr_assert_eq(host_label_of(id, label, sizeof(label)),
			    0, "listed container %s is unknown to Docker: %s",
			    id, R.err);
			cr_assert_str_eq(label, host, "listed container %s "
			    "belongs to \"%s\", not %s", id, label, host);
			if (strncmp(mine, id, strlen(id)) == 0 ||
			    strncmp(id, mine, strlen(mine)) == 0)
				found = 1;
		}
	}
	cJSON_Delete(arr);
	cr_assert_eq(hosts, 1, "%s", R.out);
	return found;
}

Test(link, heartbeat_carries_the_ferry_containers_docker_runs)
{
	char host[64], other[64], cname[96], oname[96], label[96];
	char mine_id[80], other_id[80];
	int k, seen;

	cr_assert_eq(docker((const char *[]){ "version", NULL }), 0,
	    "dockerd must run for this test (deploy/services.sh start): %s",
	    R.err);
	/* Names of this test process alone: other runs on the same Docker
	 * keep their containers to themselves. */
	h_unique("inv", host, sizeof(host));
	h_unique("inv-other", other, sizeof(other));
	snprintf(cname, sizeof(cname), "ferry-itest-%s", host);
	snprintf(oname, sizeof(oname), "ferry-itest-%s", other);
	/* h_fini removes both hosts' containers, whatever happens. */
	snprintf(F.hosts[F.nhosts++], sizeof(F.hosts[0]), "%s", other);
	h_start_ferryd(&F, NULL);
	h_add_agent(&F, host, NULL);
	/* Another host's container first: every inventory that shows this
	 * host's container was read after it existed. */
	snprintf(label, sizeof(label), "ferry.host=%s", other);
	cr_assert_eq(docker((const char *[]){ "create", "--name", oname,
	    "--label", label, "--label", "ferry.service=db", "--label",
	    "ferry.revision=3", "127.0.0.1:5000/ferry-test/web:1", NULL }), 0,
	    "docker create: %s", R.err);
	snprintf(other_id, sizeof(other_id), "%.64s", R.out);
	snprintf(label, sizeof(label), "ferry.host=%s", host);
	cr_assert_eq(docker((const char *[]){ "create", "--name", cname,
	    "--label", label, "--label", "ferry.service=web", "--label",
	    "ferry.revision=7", "127.0.0.1:5000/ferry-test/web:1", NULL }), 0,
	    "docker create: %s", R.err);
	snprintf(mine_id, sizeof(mine_id), "%.64s", R.out);
	cr_assert_eq(strlen(mine_id), 64, "docker create said %s", mine_id);
	cr_assert_eq(strlen(other_id), 64, "docker create said %s",
	    other_id);
	for (k = 0; k < 100 && !check_inventory(host, mine_id, other_id); k++)
		h_sleep_ms(100);
	cr_assert_lt(k, 100, "container never showed up in ferry hosts");
	/* And it stays that way, heartbeat after heartbeat (200 ms). */
	for (seen = 0; seen < 5; seen++) {
		h_sleep_ms(250);
		cr_assert(check_inventory(host, mine_id, other_id),
		    "the container went missing from ferry hosts");
	}
}

Test(link, agents_reconnect_after_the_network_drops)
{
	struct h_relay rl;
	char url[64], fpr[40], tok[1100], bin[512], state[600];
	struct h_proc *a;
	char *p;

	h_start_ferryd(&F, NULL);
	h_relay_start(&rl, F.port);
	h_token(&F, tok, sizeof(tok), NULL);
	h_join(&F, &R, tok, "web-1", NULL);
	cr_assert_eq(R.status, 0, "%s", R.err);
	/* The agent reaches ferryd only through the relay. */
	h_run(&R, (const char *[]){ h_bin("ferryd", bin, sizeof(bin)), "-n",
	    "--state-dir", h_path(&F, "ferryd", state, sizeof(state)), NULL });
	p = strstr(R.out, "key fingerprint ");
	cr_assert_not_null(p);
	snprintf(fpr, sizeof(fpr), "%.32s", p + 16);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", rl.port);
	a = h_start_agent(&F, "web-1", (const char *[]){ "--coordinator", url,
	    NULL });
	cr_assert(h_wait_state(&F, "web-1", "online", 10000));
	cr_assert(ping_ok("web-1"));

	/* Cut: every connection dropped, new ones refused. */
	h_relay_cut(&rl, 1);
	cr_assert(h_wait_state(&F, "web-1", "offline", 5000));
	cr_assert(h_wait_log(a, "retrying", 5000));
	h_sleep_ms(1500);
	h_relay_cut(&rl, 0);
	cr_assert(h_wait_state(&F, "web-1", "online", 10000),
	    "agent did not come back after the network returned");
	cr_assert(ping_ok("web-1"));
	h_relay_stop(&rl);
}
