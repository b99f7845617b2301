/* SPDX-License-Identifier: Apache-2.0 */
/* rssfloor.c: the memory floor of an idle agent on this machine: a process
 * that links the libraries ferry-agent links (the same Debian packages),
 * starts each the way the agent does, and then does nothing.  Its RSS is
 * what those libraries take before the agent does anything of its own.
 *
 *   rssfloor [SECONDS]     prints "ready" on stdout, then sleeps SECONDS
 *                          (default 30, at most 300) or until SIGTERM
 *
 * Built twice: with libcurl (the agent's Docker client), and with
 * -DNO_CURL, without it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cJSON.h>
#include <ini.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <protobuf-c/protobuf-c.h>
#include <sodium.h>
#include <sqlite3.h>
#include <systemd/sd-daemon.h>
#include <uv.h>
#ifndef NO_CURL
#include <curl/curl.h>
#endif

static void
on_term(int sig)
{
	(void)sig;
	_exit(0);
}

static int
on_ini(void *user, const char *section, const char *name, const char *value)
{
	(void)user;
	(void)section;
	(void)name;
	(void)value;
	return 1;
}

int
main(int argc, char **argv)
{
	int secs = argc > 1 ? atoi(argv[1]) : 30;
	sqlite3 *db;
	nng_socket s;
	uv_loop_t *loop;
	cJSON *j;

	if (secs < 1 || secs > 300) {
		fprintf(stderr, "usage: rssfloor [SECONDS]  (1 <= SECONDS <= "
		    "300)\n");
		return 2;
	}
	signal(SIGTERM, on_term);
	/* What the agent starts, each the least way. */
	if (sodium_init() < 0 ||
	    sqlite3_open(":memory:", &db) != SQLITE_OK ||
	    sqlite3_exec(db, "CREATE TABLE t (x BLOB PRIMARY KEY);"
	    "INSERT INTO t VALUES (x'00')", NULL, NULL, NULL) != SQLITE_OK ||
	    nng_req0_open(&s) != 0 || (loop = uv_default_loop()) == NULL) {
		fprintf(stderr, "rssfloor: a library did not start\n");
		return 1;
	}
	ini_parse_string("a = b\n", on_ini, NULL);
	if ((j = cJSON_Parse("{\"a\": 1}")) != NULL)
		cJSON_Delete(j);
	(void)protobuf_c_version();
	(void)sd_booted();
#ifndef NO_CURL
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "rssfloor: libcurl did not start\n");
		return 1;
	}
	curl_easy_cleanup(curl_easy_init());
#endif
	printf("ready\n");
	fflush(stdout);
	sleep((unsigned)secs);
	return 0;
}
