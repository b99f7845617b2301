/* SPDX-License-Identifier: Apache-2.0 */
// links: coordinator/promq.c
/* test_promq.c: promq_expand, the placeholders of a Prometheus check's
 * query (promq_query itself runs against a real Prometheus in
 * tests/integration/test_prom.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ferr.h"
#include "promq.h"

static const struct promq_vars V = { "web-api", 12, 11 };

static char *
expand_ok(const char *q, const struct promq_vars *v)
{
	char why[PROMQ_REASON_LEN], *out = NULL;

	cr_assert_eq(promq_expand(q, v, &out, why, sizeof(why)), 0, "%s: %s",
	    q, why);
	cr_assert_not_null(out);
	return out;
}

Test(promq, substitutes_every_placeholder)
{
	char *out = expand_ok("sum(rate(http_requests_total{service="
	    "\"{{service}}\",revision=\"{{revision}}\",code=~\"5..\"}[1m]))"
	    " / sum(rate(http_requests_total{revision=\"{{ stable_revision "
	    "}}\"}[1m])) > {{revision}}", &V);

	cr_assert_str_eq(out, "sum(rate(http_requests_total{service="
	    "\"web-api\",revision=\"12\",code=~\"5..\"}[1m])) / "
	    "sum(rate(http_requests_total{revision=\"11\"}[1m])) > 12");
	free(out);
	out = expand_ok("up", &V);	/* none: unchanged */
	cr_assert_str_eq(out, "up");
	free(out);
	/* Single braces are PromQL's own. */
	out = expand_ok("up{job=\"x\"}", &V);
	cr_assert_str_eq(out, "up{job=\"x\"}");
	free(out);
}

Test(promq, refusals_name_the_problem)
{
	struct promq_vars first = { "web", 1, 0 }, odd = { "web\"} or up{x=\"",
	    1, 0 }, huge = { "web", UINT64_MAX, 1 };
	char why[PROMQ_REASON_LEN], *out = (char *)1, big[PROMQ_QUERY_MAX];

	cr_assert_eq(promq_expand("up{{rev}}", &V, &out, why, sizeof(why)),
	    FERR_ARG);
	cr_assert_null(out);
	cr_assert_str_eq(why, "query: unknown placeholder {{rev}} (known: "
	    "{{service}}, {{revision}}, {{stable_revision}})");
	cr_assert_eq(promq_expand("x{{revision", &V, &out, why, sizeof(why)),
	    FERR_ARG);
	cr_assert_str_eq(why, "query: \"{{\" without \"}}\" at byte 2");
	cr_assert_eq(promq_expand("{{stable_revision}}", &first, &out, why,
	    sizeof(why)), FERR_ARG);
	cr_assert_str_eq(why, "query: {{stable_revision}}: the service has "
	    "no stable revision");
	/* A name that would rewrite the query is refused, not quoted. */
	cr_assert_eq(promq_expand("up{job=\"{{service}}\"}", &odd, &out, why,
	    sizeof(why)), FERR_ARG);
	cr_assert_eq(promq_expand("", &V, &out, why, sizeof(why)), FERR_ARG);
	cr_assert_str_eq(why, "empty query");
	/* Just fits, then one byte too many after substitution. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(promq_expand(big, &V, &out, why, sizeof(why)), 0);
	free(out);
	memcpy(big + sizeof(big) - 13, "{{revision}}", 12);	/* 12 bytes */
	cr_assert_eq(promq_expand(big, &huge, &out, why, sizeof(why)),
	    FERR_TOOBIG);	/* 20 digits in its place */
	cr_assert_str_eq(why, "query: longer than 8192 bytes once its "
	    "placeholders are substituted");
	cr_assert_null(out);
}
