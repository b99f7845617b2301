/* SPDX-License-Identifier: Apache-2.0 */
// links: tests/integration/dkit.c
/* test_metrics.c: ferryd's /metrics and /healthz on a live fleet (three
 * agents, each with its ferry-proxy, on the real dockerd) that ran
 * deployments, a failed one rolled back and a rollback: the whole scrape
 * passes Debian's `promtool check metrics` without a word; durations are
 * histograms labelled by service, host, outcome and kind; ferry_build_info
 * names the version and commit; /healthz counts the hosts online. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "dkit.h"

#define PROMTOOL	"/usr/bin/promtool"
#define NM		3

TestSuite(metrics, .init = setup, .fini = teardown, .timeout = 240);

/* web_spec writes FILE: web at TAG on the fleet's hosts, one host a
 * batch; a generous health deadline, as a busy machine may need (the
 * figures here count swaps, they time nothing). */
static void
web_spec(const char *file, const char *tag)
{
	h_write(&F, file, "service: web\nimage: " IMG "%s\nhosts: " LABELS
	    "\nport: { host: %d, container: 80 }\nhealth:\n  http: { path: "
	    "/health, port: 80 }\n  interval: 200ms\n  timeout: 2s\n"
	    "  deadline: 40s\n  min_healthy: 300ms\nrollout:\n  batch: 1\n",
	    tag, PORT);
}

/* scrape writes ferryd's /metrics into the test's folder and returns its
 * text (free it). */
static char *
scrape(const char *file)
{
	char url[96], out[600], *text;
	FILE *f;
	long n;

	snprintf(url, sizeof(url), "http://%s/metrics", F.http);
	h_run(&R, (const char *[]){ "/usr/bin/curl", "-sS", "--max-time", "5",
	    "-o", h_path(&F, file, out, sizeof(out)), url, NULL });
	cr_assert_eq(R.status, 0, "curl: %s", R.err);
	f = fopen(out, "r");
	cr_assert_not_null(f, "%s", out);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	cr_assert_not_null(text);
	cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return text;
}

/* sample returns the value of the sample whose line starts with series
 * ("name{labels}"), or -1. */
static double
sample(const char *text, const char *series)
{
	const char *p = text;
	size_t n = strlen(series);

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

Test(metrics, a_live_scrape_passes_promtool_with_labels_and_histograms)
{
	char file[600], sh[1400], series[400], body[512];
	char *text;
	cJSON *j;
	int i, port;

	fleet(NM);
	web_spec("v1.yml", "1");
	web_spec("v2.yml", "2");
	web_spec("crash.yml", "crash");
	cr_assert_eq(deploy_watch("v1.yml"), 0, "v1: %s%s", R.out, R.err);
	cr_assert_eq(deploy_watch("v2.yml"), 0, "v2: %s%s", R.out, R.err);
	/* A revision that crashes: its first host fails, and it is rolled
	 * back. */
	cr_assert_neq(deploy_watch("crash.yml"), 0, "crash: %s", R.out);
	h_ferry_ms(&F, &R, (const char *[]){ "rollback", "web", "--to", "1",
	    "--watch", NULL }, 90000);
	cr_assert_eq(R.status, 0, "rollback: %s%s", R.out, R.err);

	text = scrape("metrics.txt");
	/* promtool: exit 0 and not a word (it prints each lint problem). */
	snprintf(sh, sizeof(sh), PROMTOOL " check metrics < '%s' 2>&1",
	    h_path(&F, "metrics.txt", file, sizeof(file)));
	h_run(&R, (const char *[]){ "/bin/sh", "-c", sh, NULL });
	cr_assert_eq(R.status, 0, "promtool check metrics: %d: %s", R.status,
	    R.out);
	cr_assert_eq(R.out[0], '\0', "promtool check metrics says: %s",
	    R.out);

	/* What it holds. */
	cr_assert(strstr(text, "ferry_build_info{version=\"0.1.0\",commit=\"")
	    != NULL, "no ferry_build_info");
	cr_assert(strstr(text, "# TYPE ferry_swap_duration_seconds "
	    "histogram\n") && strstr(text, "# TYPE "
	    "ferry_deployment_duration_seconds histogram\n") &&
	    strstr(text, "# TYPE ferry_batch_duration_seconds histogram\n"),
	    "durations are not histograms");
	for (i = 0; i < NM; i++) {
		snprintf(series, sizeof(series), "ferry_swap_duration_seconds_"
		    "count{service=\"web\",host=\"%s\",outcome=\"succeeded\"}",
		    HOST[i]);
		/* v1, v2 and the rollback on every host; crash's rollback
		 * reverted the first host. */
		cr_assert_geq(sample(text, series), 3, "%s", series);
		snprintf(series, sizeof(series), "ferry_swap_duration_seconds_"
		    "bucket{service=\"web\",host=\"%s\",outcome=\"succeeded\","
		    "le=\"+Inf\"}", HOST[i]);
		cr_assert_geq(sample(text, series), 3, "%s", series);
	}
	snprintf(series, sizeof(series), "ferry_swap_duration_seconds_count{"
	    "service=\"web\",host=\"%s\",outcome=\"failed\"}", HOST[0]);
	cr_assert_eq(sample(text, series), 1, "%s", series);
	cr_assert_eq(sample(text, "ferry_deployment_duration_seconds_count{"
	    "service=\"web\",kind=\"deploy\",state=\"succeeded\"}"), 2);
	cr_assert_eq(sample(text, "ferry_deployment_duration_seconds_count{"
	    "service=\"web\",kind=\"deploy\",state=\"rolled_back\"}"), 1);
	cr_assert_eq(sample(text, "ferry_deployment_duration_seconds_count{"
	    "service=\"web\",kind=\"rollback\",state=\"succeeded\"}"), 1);
	cr_assert_gt(sample(text, "ferry_deployment_duration_seconds_sum{"
	    "service=\"web\",kind=\"deploy\",state=\"succeeded\"}"), 0);
	cr_assert_geq(sample(text, "ferry_batch_duration_seconds_count{"
	    "service=\"web\"}"), 3 * NM);
	free(text);

	/* /healthz: the database answers, every host online. */
	port = atoi(strchr(F.http, ':') + 1);
	cr_assert_eq(h_http_get("127.0.0.1", port, "/healthz", body,
	    sizeof(body)), 200, "%s", body);
	j = cJSON_Parse(strstr(body, "{"));
	cr_assert_not_null(j, "%s", body);
	cr_assert_str_eq(cJSON_GetObjectItem(j, "database")->valuestring,
	    "ok");
	cr_assert_eq(cJSON_GetObjectItem(j, "hosts_online")->valueint, NM);
	cr_assert_eq(cJSON_GetObjectItem(j, "hosts")->valueint, NM);
	cJSON_Delete(j);
}
