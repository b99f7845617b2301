/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/dkit.c
/* test_secrets.c: secrets end to end, on a real dockerd and registry:
 * `ferry secret set` from stdin or a file and never from argv, `list`
 * without values, the database without a value in the clear, each
 * container's /run/secrets files (mode 0400, on the agent's tmpfs, bound
 * read-only) and no value in any log, event, status, plan or `docker
 * inspect`, a new value rolled out batch by batch as a new revision,
 * `ferry rollback` bringing the old value back, a missing secret refused
 * at plan time, the files gone with their container; and `ferry registry
 * login` against a registry that wants a password. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "dkit.h"

#define V1 "S3cret-v1-xyzzy-4417"
#define V2 "S3cret-v2-plugh-9021"
#define KEYV "api-key-from-a-file-5150"
#define NS 3

static char SECDIR[NS][700];	/* each agent's secrets_dir */

static void
secrets_teardown(void)
{
	int i;

	/* The agents mounted a tmpfs on their secrets_dir: off it comes
	 * before the folder goes. */
	for (i = 0; i < NAGENTS && i < NS; i++) {
		if (AGENT[i] != NULL && h_alive(AGENT[i]))
			h_kill(AGENT[i], SIGTERM);
	}
	h_docker_rm_host(HOST[0]);
	for (i = 0; i < NS; i++)
		if (SECDIR[i][0] != '\0') {
			h_run(&R, (const char *[]){ "/bin/umount", "-l",
			    SECDIR[i], NULL });
			SECDIR[i][0] = '\0';
		}
	teardown();
}

TestSuite(secrets, .init = setup, .fini = secrets_teardown, .timeout = 240);

/* sfleet starts n agents, each with a secrets_dir of its own under the
 * test's folder (not a tmpfs: the agent mounts one there). */
static void
sfleet(int n)
{
	int i;

	for (i = 0; i < n; i++) {
		snprintf(SECDIR[i], sizeof(SECDIR[i]), "%s/%s-secrets", F.dir,
		    HOST[i]);
		AGENT[i] = h_add_agent_with(&F, HOST[i], ADDR[i],
		    (const char *[]){ "--secrets-dir", SECDIR[i], NULL });
		h_ferry(&F, &R, (const char *[]){ "hosts", "label", HOST[i],
		    "role=web", NULL });
		cr_assert_eq(R.status, 0, "label %s: %s", HOST[i], R.err);
	}
	NAGENTS = n;
}

/* sh runs a shell line with FERRY (the CLI, on the fleet's socket). */
static int
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int
sh(const char *fmt, ...)
{
	char line[2048], cmd[2600], bin[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "FERRY='%s --socket %s'; %s",
	    h_bin("ferry", bin, sizeof(bin)), F.sock, line);
	h_run(&R, (const char *[]){ "/bin/sh", "-c", cmd, NULL });
	return R.status;
}

/* file_has: the file at p holds text (its bytes, whatever they are). */
static int
file_has(const char *p, const char *text)
{
	FILE *f = fopen(p, "rb");
	size_t n, l = strlen(text), cap = 1 << 20, len = 0, i;
	char *buf;
	int found = 0;

	if (f == NULL)
		return 0;
	buf = malloc(cap);
	cr_assert_not_null(buf);
	while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
	}
	fclose(f);
	for (i = 0; i + l <= len && !found; i++)
		found = memcmp(buf + i, text, l) == 0;
	free(buf);
	return found;
}

/* running_name: the name of host i's running container of web. */
static void
running_name(int i, char *buf, size_t len)
{
	char filter[128];

	snprintf(filter, sizeof(filter), "label=ferry.host=%s", HOST[i]);
	cr_assert_eq(h_docker(&R, (const char *[]){ "ps", "--filter", filter,
	    "--filter", "status=running", "--format", "{{.Names}}", NULL }),
	    0, "%s", R.err);
	cr_assert(strchr(R.out, '\n') == strrchr(R.out, '\n') &&
	    R.out[0] != '\0', "%s runs: %s", HOST[i], R.out);
	snprintf(buf, len, "%.*s", (int)strcspn(R.out, "\n"), R.out);
}

/* in_container runs busybox applet argv in host i's running container
 * and returns its output (static). */
static const char *
in_container(int i, const char *applet, const char *a1, const char *a2)
{
	static char out[65536 + 1];
	char name[200];

	running_name(i, name, sizeof(name));
	cr_assert_eq(h_docker(&R, (const char *[]){ "exec", name,
	    "/bin/busybox", applet, a1, a2, NULL }), 0, "%s %s: %s%s",
	    name, applet, R.out, R.err);
	memcpy(out, R.out, sizeof(R.out));
	out[sizeof(out) - 1] = '\0';
	return out;
}

/* assert_mode: mode, owner and mount of host i's secret files. */
static void
assert_mode(int i)
{
	char name[200];

	running_name(i, name, sizeof(name));
	cr_assert_eq(h_docker(&R, (const char *[]){ "exec", name,
	    "/bin/busybox", "stat", "-c", "%a %u:%g",
	    "/run/secrets/DB_PASSWORD", NULL }), 0, "%s", R.err);
	cr_assert_str_eq(R.out, "400 0:0\n", "%s", HOST[i]);
	cr_assert_eq(h_docker(&R, (const char *[]){ "exec", name,
	    "/bin/busybox", "grep", " /run/secrets ", "/proc/mounts", NULL }),
	    0, "%s", R.err);
	cr_assert(strstr(R.out, "tmpfs") != NULL && strstr(R.out, "ro,") !=
	    NULL, "/run/secrets is a read-only tmpfs bind: %s", R.out);
	/* The environment has no value in it. */
	cr_assert_eq(h_docker(&R, (const char *[]){ "exec", name,
	    "/bin/busybox", "env", NULL }), 0, "%s", R.err);
	cr_assert_null(strstr(R.out, "S3cret"), "%s", R.out);
}

/* assert_nowhere: no value appears in ferryd's or the agents' logs, the
 * events, status, history, docker inspect, or ferryd's database files. */
static void
assert_nowhere(const char *const *values)
{
	const char *v;
	char name[200], p[800];
	int i, k;

	for (k = 0; (v = values[k]) != NULL; k++) {
		cr_assert(!h_log_has(F.ferryd, v), "ferryd's log has a value");
		for (i = 0; i < NS; i++) {
			cr_assert(!h_log_has(AGENT[i], v), "%s's log has a "
			    "value", HOST[i]);
			running_name(i, name, sizeof(name));
			cr_assert_eq(h_docker(&R, (const char *[]){ "inspect",
			    name, NULL }), 0, "%s", R.err);
			cr_assert_null(strstr(R.out, v), "docker inspect %s "
			    "shows a value", name);
			cr_assert(strstr(R.out, "\"Destination\": "
			    "\"/run/secrets\"") != NULL, "%s", R.out);
		}
		h_ferry(&F, &R, (const char *[]){ "events", "--limit", "10000",
		    "--json", NULL });
		cr_assert_eq(R.status, 0, "%s", R.err);
		cr_assert(strstr(R.out, "secret-set") != NULL, "%s", R.out);
		cr_assert_null(strstr(R.out, v), "an event has a value");
		h_ferry(&F, &R, (const char *[]){ "status", "--json", NULL });
		cr_assert_null(strstr(R.out, v), "status has a value");
		h_ferry(&F, &R, (const char *[]){ "hosts", "--json", NULL });
		cr_assert_null(strstr(R.out, v), "hosts has a value");
		h_ferry(&F, &R, (const char *[]){ "history", "web", "--json",
		    NULL });
		cr_assert_null(strstr(R.out, v), "history has a value");
		cr_assert(!file_has(h_path(&F, "ferryd/ferryd.db", p,
		    sizeof(p)), v), "ferryd.db holds a value in the clear");
		cr_assert(!file_has(h_path(&F, "ferryd/ferryd.db-wal", p,
		    sizeof(p)), v), "ferryd.db-wal holds a value in the "
		    "clear");
		for (i = 0; i < NS; i++) {
			snprintf(p, sizeof(p), "%s/%s/agent.db", F.dir,
			    HOST[i]);
			cr_assert(!file_has(p, v), "%s's records hold a value "
			    "in the clear", HOST[i]);
			snprintf(p, sizeof(p), "%s/%s/agent.db-wal", F.dir,
			    HOST[i]);
			cr_assert(!file_has(p, v), "%s's records hold a value "
			    "in the clear", HOST[i]);
		}
	}
}

static void
secret_spec(const char *file, const char *secrets)
{
	h_write(&F, file,
	    "service: web\n"
	    "image: " IMG "1\n"
	    "hosts: " LABELS "\n"
	    "port: { host: %d, container: 80 }\n"
	    "secrets: %s\n"
	    "health:\n"
	    "  http: { path: /health, port: 80 }\n"
	    "  interval: 200ms\n"
	    "  deadline: 10s\n"
	    "  min_healthy: 300ms\n"
	    "rollout:\n"
	    "  batch: 1\n", PORT, secrets);
}

Test(secrets, files_in_each_container_pinned_by_revision)
{
	const char *values[] = { V1, V2, KEYV, NULL };
	struct statfs sf;
	cJSON *st;
	char p[2400], name[200];
	int i;

	sfleet(NS);

	/* Never from the command line: refused before anything is read,
	 * and the would-be value is not echoed. */
	h_ferry(&F, &R, (const char *[]){ "secret", "set", "web",
	    "DB_PASSWORD", V1, NULL });
	cr_assert_eq(R.status, 2, "%s%s", R.out, R.err);
	cr_assert(strstr(R.err, "never taken from the command line") != NULL,
	    "%s", R.err);
	cr_assert_null(strstr(R.err, V1));
	cr_assert_eq(db_count("SELECT COUNT(*) FROM secrets"), 0);

	/* A spec that names a secret ferryd lacks: refused at plan time. */
	secret_spec("missing.yml", "[DB_PASSWORD]");
	h_ferry(&F, &R, (const char *[]){ "plan", path("missing.yml"),
	    NULL });
	cr_assert_eq(R.status, 1, "%s%s", R.out, R.err);
	cr_assert(strstr(R.err, "missing.yml: secrets: DB_PASSWORD is not "
	    "set for web: set it first with `ferry secret set web "
	    "DB_PASSWORD`") != NULL, "%s", R.err);
	h_ferry(&F, &R, (const char *[]){ "deploy", path("missing.yml"),
	    NULL });
	cr_assert_eq(R.status, 1, "%s%s", R.out, R.err);
	cr_assert(strstr(R.err, "DB_PASSWORD is not set for web") != NULL,
	    "%s", R.err);
	cr_assert_eq(db_count("SELECT COUNT(*) FROM revisions"), 0);

	/* From stdin (its newline dropped) and from a file (as it is). */
	cr_assert_eq(sh("printf '%%s\\n' '" V1 "' | $FERRY secret set web "
	    "DB_PASSWORD"), 0, "%s%s", R.out, R.err);
	cr_assert_str_eq(R.out, "secret DB_PASSWORD of web: version 1\n");
	h_write(&F, "key.txt", KEYV "\n");
	h_ferry(&F, &R, (const char *[]){ "secret", "set", "web", "API_KEY",
	    "--file", path("key.txt"), NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);

	/* list: names, versions, when and who; never a value. */
	h_ferry(&F, &R, (const char *[]){ "secret", "list", "web", NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	cr_assert(strstr(R.out, "DB_PASSWORD") && strstr(R.out, "API_KEY") &&
	    strstr(R.out, "uid:0"), "%s", R.out);
	cr_assert_null(strstr(R.out, V1));
	cr_assert_null(strstr(R.out, KEYV));
	h_ferry(&F, &R, (const char *[]){ "secret", "list", "web", "--json",
	    NULL });
	cr_assert_eq(R.status, 0, "%s", R.err);
	st = cJSON_Parse(R.out);
	cr_assert_not_null(st, "%s", R.out);
	cr_assert_eq(cJSON_GetArraySize(st), 2);
	cr_assert_str_eq(jstr(cJSON_GetArrayItem(st, 0), "name"), "API_KEY");
	cr_assert_eq(jnum(cJSON_GetArrayItem(st, 1), "version"), 1);
	cr_assert_eq(jnum(cJSON_GetArrayItem(st, 1), "size"),
	    (int)strlen(V1));
	cr_assert_str_eq(jstr(cJSON_GetArrayItem(st, 1), "created_by"),
	    "uid:0");
	cJSON_Delete(st);
	cr_assert_null(strstr(R.out, V1));

	/* The key at rest is a file of its own, 0600, and not in the
	 * database. */
	{
		struct stat sb;

		cr_assert_eq(stat(h_path(&F, "ferryd/secrets.key", p,
		    sizeof(p)), &sb), 0);
		cr_assert_eq(sb.st_mode & 0777, 0600);
		cr_assert_eq(sb.st_size, 32);
	}

	/* The plan says which versions, never a value; the deploy runs. */
	secret_spec("web.yml", "[DB_PASSWORD, API_KEY]");
	h_ferry(&F, &R, (const char *[]){ "plan", path("web.yml"), NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	cr_assert(strstr(R.out, "secret DB_PASSWORD: version 1") != NULL,
	    "%s", R.out);
	cr_assert_null(strstr(R.out, V1));
	cr_assert_eq(deploy_watch("web.yml"), 0, "%s%s", R.out, R.err);
	assert_all_serve(0, NS - 1, 1);
	for (i = 0; i < NS; i++) {
		cr_assert_str_eq(in_container(i, "cat",
		    "/run/secrets/DB_PASSWORD", NULL), V1, "%s", HOST[i]);
		cr_assert_str_eq(in_container(i, "cat", "/run/secrets/API_KEY",
		    NULL), KEYV "\n");
		assert_mode(i);
		/* On the agent's side: a tmpfs it mounted, a folder per
		 * container. */
		cr_assert_eq(statfs(SECDIR[i], &sf), 0);
		cr_assert_eq(sf.f_type, TMPFS_MAGIC, "%s is not a tmpfs",
		    SECDIR[i]);
		running_name(i, name, sizeof(name));
		snprintf(p, sizeof(p), "%s/%s/DB_PASSWORD", SECDIR[i], name);
		cr_assert(file_has(p, V1), "%s", p);
	}

	/* A new value: the plan says version 1 -> 2; the deploy is a new
	 * revision, one host per batch. */
	cr_assert_eq(sh("printf '%%s' '" V2 "' | $FERRY secret set web "
	    "DB_PASSWORD"), 0, "%s%s", R.out, R.err);
	cr_assert_str_eq(R.out, "secret DB_PASSWORD of web: version 2\n");
	h_ferry(&F, &R, (const char *[]){ "plan", path("web.yml"), NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	cr_assert(strstr(R.out, "secret DB_PASSWORD: version 1 -> 2") !=
	    NULL, "%s", R.out);
	cr_assert_null(strstr(R.out, "API_KEY: version"), "unchanged: %s",
	    R.out);
	cr_assert_null(strstr(R.out, V2));
	cr_assert_null(strstr(R.out, V1));
	h_ferry(&F, &R, (const char *[]){ "plan", path("web.yml"), "--json",
	    NULL });
	cr_assert_null(strstr(R.out, V2));
	{
		unsigned id = deploy_bg("web.yml");

		st = wait_state(id, "succeeded", 60000);
		cr_assert_eq(jnum(st, "revision"), 2);
		cr_assert_eq(jnum(st, "batches"), NS, "one host per batch");
		cJSON_Delete(st);
	}
	for (i = 0; i < NS; i++)
		cr_assert_str_eq(in_container(i, "cat",
		    "/run/secrets/DB_PASSWORD", NULL), V2, "%s", HOST[i]);
	cr_assert_eq(db_count("SELECT COUNT(*) FROM revision_secrets WHERE "
	    "revision = 2 AND name = 'DB_PASSWORD' AND version = 2"), 1);

	/* Rollback: revision 1, and the value that went with it. */
	h_ferry(&F, &R, (const char *[]){ "rollback", "web", "--to", "1",
	    "--watch", NULL });
	cr_assert_eq(R.status, 0, "rollback: %s%s", R.out, R.err);
	for (i = 0; i < NS; i++)
		cr_assert_str_eq(in_container(i, "cat",
		    "/run/secrets/DB_PASSWORD", NULL), V1, "%s", HOST[i]);

	assert_nowhere(values);

	/* The files go with their container. */
	h_ferry(&F, &R, (const char *[]){ "swap", HOST[0], "--remove", "web",
	    NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	{
		char cmd[900];
		struct h_run *r = malloc(sizeof(*r));

		snprintf(cmd, sizeof(cmd), "ls -A '%s'", SECDIR[0]);
		h_run(r, (const char *[]){ "/bin/sh", "-c", cmd, NULL });
		cr_assert_eq(r->status, 0, "%s", r->err);
		cr_assert_str_eq(r->out, "", "left behind: %s", r->out);
		free(r);
	}

	/* rm: the value is gone; the revisions that pin it refuse. */
	h_ferry(&F, &R, (const char *[]){ "secret", "rm", "web",
	    "DB_PASSWORD", NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	h_ferry(&F, &R, (const char *[]){ "secret", "list", "web", NULL });
	cr_assert_null(strstr(R.out, "DB_PASSWORD"), "%s", R.out);
	cr_assert_eq(db_count("SELECT COUNT(*) FROM secrets WHERE name = "
	    "'DB_PASSWORD' AND (deleted = 0 OR length(ciphertext) > 0)"), 0);
	h_ferry(&F, &R, (const char *[]){ "rollback", "web", "--to", "2",
	    NULL });
	cr_assert_eq(R.status, 1, "%s%s", R.out, R.err);
	cr_assert(strstr(R.err, "revision 2 of web cannot be deployed: secret "
	    "DB_PASSWORD of web: version 2 was removed") != NULL, "%s", R.err);
	h_ferry(&F, &R, (const char *[]){ "plan", path("web.yml"), NULL });
	cr_assert_eq(R.status, 1, "%s%s", R.out, R.err);
	cr_assert(strstr(R.err, "DB_PASSWORD is not set for web") != NULL,
	    "%s", R.err);
}

/* ferryd refuses bad names and oversized values, and the key file must
 * be its own and private. */
Test(secrets, bad_requests_change_nothing)
{
	char p[800];

	h_ferry(&F, &R, (const char *[]){ "secret", "set", "web", "../x",
	    "--file", "/etc/hostname", NULL });
	cr_assert_eq(R.status, 1, "%s%s", R.out, R.err);
	cr_assert(strstr(R.err, "\"../x\" is not a secret name") != NULL,
	    "%s", R.err);
	h_ferry(&F, &R, (const char *[]){ "secret", "set", "Web", "X",
	    "--file", "/etc/hostname", NULL });
	cr_assert_eq(R.status, 1, "%s%s", R.out, R.err);
	cr_assert(strstr(R.err, "is not a service name") != NULL, "%s", R.err);
	cr_assert_eq(sh("head -c 70000 /dev/zero | $FERRY secret set web X"),
	    2, "%s%s", R.out, R.err);
	cr_assert(strstr(R.err, "larger than the limit of 64 KiB") != NULL,
	    "%s", R.err);
	h_ferry(&F, &R, (const char *[]){ "secret", "rm", "web", "X", NULL });
	cr_assert_eq(R.status, 1, "%s%s", R.out, R.err);
	cr_assert(strstr(R.err, "web has no secret X") != NULL, "%s", R.err);
	cr_assert_eq(db_count("SELECT COUNT(*) FROM secrets"), 0);

	/* A key file open to others: ferryd will not start. */
	h_kill(F.ferryd, SIGTERM);
	cr_assert_eq(chmod(h_path(&F, "ferryd/secrets.key", p, sizeof(p)),
	    0644), 0);
	F.ferryd = h_spawn(&F, "ferryd-again", (const char *[]){ "ferryd",
	    "-d", "--state-dir", h_path(&F, "ferryd", p, sizeof(p)),
	    "--listen", F.listen, "--socket", F.sock, "--http", F.http,
	    NULL });
	for (int i = 0; i < 50 && h_alive(F.ferryd); i++)
		h_sleep_ms(100);
	cr_assert(!h_alive(F.ferryd), "ferryd started with a 0644 key");
	cr_assert(h_log_has(F.ferryd, "secrets.key: ") &&
	    h_log_has(F.ferryd, "(the key file must be mode 0600)"), "log");
}

/* ---- ferry registry login ------------------------------------------------ */

#define REG_USER "ferrytest"
#define REG_PW "reg-Pa55-qwerty-7731"

/* start_auth_registry starts Debian's docker-registry on a free port of
 * 127.0.0.1 with htpasswd auth (a bcrypt hash of REG_PW), pushes the
 * test image web:1 to it (with a Docker client config of the test's own)
 * and removes the local tag, so that hosts must pull it with the login.
 * Returns the registry's host:port in reg. */
static void
start_auth_registry(char *reg, size_t len)
{
	char conf[800], dir[800], cfg[800];
	int port = h_free_port(), k;

	snprintf(reg, len, "127.0.0.1:%d", port);
	h_path(&F, "registry", dir, sizeof(dir));
	h_path(&F, "docker-config", cfg, sizeof(cfg));
	cr_assert_eq(mkdir(dir, 0700), 0);
	cr_assert_eq(sh("python3 -W ignore -c 'import crypt; print(\"" REG_USER
	    ":\" + crypt.crypt(\"" REG_PW "\", crypt.mksalt("
	    "crypt.METHOD_BLOWFISH)))' > '%s/htpasswd'", dir), 0, "%s",
	    R.err);
	h_write(&F, "registry.yml",
	    "version: 0.1\n"
	    "log: { level: warn }\n"
	    "storage: { filesystem: { rootdirectory: %s/data } }\n"
	    "auth:\n"
	    "  htpasswd: { realm: ferry-test, path: %s/htpasswd }\n"
	    "http: { addr: \"%s\" }\n", dir, dir, reg);
	h_spawn(&F, "registry", (const char *[]){
	    "/usr/bin/docker-registry", "serve", h_path(&F, "registry.yml",
	    conf, sizeof(conf)), NULL });
	for (k = 0; k < 100; k++) {
		if (h_http_get("127.0.0.1", port, "/v2/", NULL, 0) == 401)
			break;
		h_sleep_ms(100);
	}
	cr_assert_lt(k, 100, "the registry with auth did not answer 401");
	cr_assert_eq(sh("export DOCKER_CONFIG='%s'; D=/usr/bin/docker; "
	    "printf '%%s' '" REG_PW "' | $D login -u " REG_USER
	    " --password-stdin %s >/dev/null && "
	    "$D tag " IMG "1 %s/ferry-test/web:1 && "
	    "$D push -q %s/ferry-test/web:1 >/dev/null && "
	    "$D rmi %s/ferry-test/web:1 >/dev/null", cfg, reg, reg, reg,
	    reg), 0, "push: %s%s", R.out, R.err);
}

Test(secrets, registry_login_lets_hosts_pull_with_a_password)
{
	char reg[64], p[2400];
	unsigned id;
	cJSON *st;
	int i;

	sfleet(2);
	start_auth_registry(reg, sizeof(reg));
	h_write(&F, "priv.yml",
	    "service: web\n"
	    "image: %s/ferry-test/web:1\n"
	    "hosts: " LABELS "\n"
	    "port: { host: %d, container: 80 }\n"
	    "health:\n"
	    "  http: { path: /health, port: 80 }\n"
	    "  interval: 200ms\n"
	    "  deadline: 10s\n"
	    "  min_healthy: 300ms\n", reg, PORT);

	/* Without a login the registry refuses the pull. */
	id = deploy_bg("priv.yml");
	st = wait_state(id, "failed", 60000);
	cr_assert_not_null(st);
	cr_assert(strstr(jstr(st, "cause"), "cannot resolve") != NULL &&
	    strstr(jstr(st, "cause"), ": pull ") != NULL, "%s",
	    jstr(st, "cause"));
	cJSON_Delete(st);

	/* The password never on the command line. */
	h_ferry(&F, &R, (const char *[]){ "registry", "login", reg,
	    "--username", REG_USER, REG_PW, NULL });
	cr_assert_eq(R.status, 2, "%s%s", R.out, R.err);
	cr_assert_null(strstr(R.err, REG_PW));
	cr_assert_eq(sh("printf '%%s\\n' '" REG_PW "' | $FERRY registry login "
	    "%s --username " REG_USER, reg), 0, "%s%s", R.out, R.err);
	h_ferry(&F, &R, (const char *[]){ "registry", "list", NULL });
	cr_assert(strstr(R.out, reg) != NULL, "%s", R.out);
	cr_assert_null(strstr(R.out, REG_PW));

	/* With it, every host pulls the image and runs it. */
	cr_assert_eq(deploy_watch("priv.yml"), 0, "%s%s", R.out, R.err);
	assert_all_serve(0, 1, 1);
	for (i = 0; i < 2; i++)
		cr_assert(!h_log_has(AGENT[i], REG_PW));
	cr_assert(!h_log_has(F.ferryd, REG_PW));
	cr_assert(!file_has(h_path(&F, "ferryd/ferryd.db", p, sizeof(p)),
	    REG_PW));
	cr_assert(!file_has(h_path(&F, "ferryd/ferryd.db-wal", p, sizeof(p)),
	    REG_PW));
	h_ferry(&F, &R, (const char *[]){ "events", "--limit", "10000",
	    "--json", NULL });
	cr_assert_null(strstr(R.out, REG_PW));
}

/* ---- rotating secrets.key ------------------------------------------------ */

/* read_key_file reads DIR/ferryd/secrets.key. */
static void
read_key_file(uint8_t key[32])
{
	char p[800];
	FILE *f = fopen(h_path(&F, "ferryd/secrets.key", p, sizeof(p)), "rb");

	cr_assert_not_null(f);
	cr_assert_eq(fread(key, 1, 32, f), 32);
	fclose(f);
}

Test(secrets, key_rotation_keeps_every_value)
{
	uint8_t k0[32], k1[32];
	char state[800], p[900], bin[600];
	struct stat sb;

	sfleet(1);
	cr_assert_eq(sh("printf '%%s' '" V1 "' | $FERRY secret set web "
	    "DB_PASSWORD && printf k | $FERRY secret set web API_KEY && "
	    "printf gone | $FERRY secret set web OLD && "
	    "$FERRY secret rm web OLD"), 0, "%s%s", R.out, R.err);
	read_key_file(k0);
	h_path(&F, "ferryd", state, sizeof(state));

	/* Not while ferryd runs. */
	h_run(&R, (const char *[]){ h_bin("ferryd", bin, sizeof(bin)),
	    "--state-dir", state, "rotate-secrets-key", NULL });
	cr_assert_eq(R.status, 1, "%s%s", R.out, R.err);
	cr_assert(strstr(R.err, "ferryd is running") != NULL, "%s", R.err);

	h_kill(F.ferryd, SIGTERM);
	h_run(&R, (const char *[]){ h_bin("ferryd", bin, sizeof(bin)),
	    "--state-dir", state, "rotate-secrets-key", NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	cr_assert(strstr(R.out, "2 stored value(s) re-encrypted") != NULL,
	    "%s", R.out);
	read_key_file(k1);
	cr_assert_neq(memcmp(k0, k1, 32), 0, "a new key");
	cr_assert_eq(stat(h_path(&F, "ferryd/secrets.key", p, sizeof(p)),
	    &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600);

	/* A rotation stopped half-way (its new key written): ferryd will
	 * not start until it is finished. */
	h_write(&F, "ferryd/secrets.key.new", "%s",
	    "0123456789abcdef0123456789abcdef");
	chmod(h_path(&F, "ferryd/secrets.key.new", p, sizeof(p)), 0600);
	{
		struct h_proc *d = h_spawn(&F, "ferryd-stopped",
		    (const char *[]){ "ferryd", "-d", "--state-dir", state,
		    "--listen", F.listen, "--socket", F.sock, "--http",
		    F.http, NULL });

		for (int i = 0; i < 50 && h_alive(d); i++)
			h_sleep_ms(100);
		cr_assert(!h_alive(d));
		cr_assert(h_log_has(d, "run `ferryd rotate-secrets-key` again"));
	}
	h_run(&R, (const char *[]){ h_bin("ferryd", bin, sizeof(bin)),
	    "--state-dir", state, "rotate-secrets-key", NULL });
	cr_assert_eq(R.status, 0, "%s%s", R.out, R.err);
	read_key_file(k0);
	cr_assert_eq(memcmp(k0, "0123456789abcdef0123456789abcdef", 32), 0,
	    "the stopped rotation's key was taken");
	cr_assert_neq(stat(p, &sb), 0, "secrets.key.new is gone");

	/* Every value still opens: a deploy delivers it. */
	h_start_ferryd(&F, NULL);
	cr_assert(h_wait_state(&F, HOST[0], "online", 15000));
	h_write(&F, "one.yml",
	    "service: web\n"
	    "image: " IMG "1\n"
	    "hosts: [%s]\n"
	    "port: { host: %d, container: 80 }\n"
	    "secrets: [DB_PASSWORD, API_KEY]\n"
	    "health:\n"
	    "  http: { path: /health, port: 80 }\n"
	    "  interval: 200ms\n"
	    "  deadline: 10s\n"
	    "  min_healthy: 300ms\n", HOST[0], PORT);
	cr_assert_eq(deploy_watch("one.yml"), 0, "%s%s", R.out, R.err);
	cr_assert_str_eq(in_container(0, "cat", "/run/secrets/DB_PASSWORD",
	    NULL), V1);
	cr_assert_str_eq(in_container(0, "cat", "/run/secrets/API_KEY", NULL),
	    "k");
}
