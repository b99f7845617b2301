/* SPDX-License-Identifier: Apache-2.0 */
/* promq.h: one PromQL instant query against a Prometheus server, for the
 * analysis's `prometheus: { url, query, max }` checks. */
#ifndef FERRY_PROMQ_H
#define FERRY_PROMQ_H

#include <stddef.h>
#include <stdint.h>

#define PROMQ_ANSWER_MAX	(1u << 20)	/* bytes of an answer, at most */
#define PROMQ_QUERY_MAX		8192	/* bytes of an expanded query */
#define PROMQ_TIMEOUT_MAX_MS	300000u	/* 5 minutes */
#define PROMQ_REASON_LEN	256	/* a reason fits in this, NUL included */

/* What a query's placeholders stand for. */
struct promq_vars {
	const char *service;		/* {{service}}: the service's name */
	uint64_t revision;		/* {{revision}}: the new revision */
	uint64_t stable_revision;	/* {{stable_revision}}; 0: none */
};

/*
 * promq_expand writes query with its placeholders substituted into a new
 * heap string *out: {{service}} by the service's name, {{revision}} and
 * {{stable_revision}} by the numbers in decimal (spaces inside the braces
 * are allowed: "{{ revision }}").  Any other {{...}} is refused, as is
 * {{stable_revision}} when there is none (0), {{service}} when the name
 * holds anything but letters, digits, '_', '.' and '-' (it would change
 * the query's meaning), and a result longer than PROMQ_QUERY_MAX.
 * Returns 0, or a negative ferr (FERR_ARG, FERR_TOOBIG, FERR_NOMEM) with
 * a one-line reason in reason (reason_len bytes; *out is then NULL).
 */
int
promq_expand(const char *query, const struct promq_vars *vars, char **out,
    char *reason, size_t reason_len);

/*
 * promq_query asks the Prometheus server at url (http:// or https://, an
 * optional path prefix, no query string or fragment) for the value of
 * query, its placeholders substituted by promq_expand: one GET of
 * {url}/api/v1/query?query=...&timeout=..., URL-encoded, through libcurl
 * (TLS verified as curl does by default; no redirects followed; the
 * proxies of the environment honoured, as curl does). It blocks for at
 * most timeout_ms (1..PROMQ_TIMEOUT_MAX_MS), connecting included, so it
 * must never run on a libuv loop; it is safe on any number of threads at
 * once.  The process must ignore SIGPIPE (ferryd does): with curl's
 * signals off, a TLS write to a closed connection could raise it.
 *
 * The value is one number: the answer's scalar, or the one sample of its
 * vector. A vector of no sample or of several, any other result type, a
 * value that is NaN or infinite, is no value. Returns 0 with *value set,
 * or a negative ferr with a one-line reason in reason (reason_len bytes,
 * escaped for a log: text from the server is never trusted) and *value
 * NaN:
 *   FERR_ARG        bad url or timeout, a placeholder refused, or the
 *                   server refused the query (its error text in reason:
 *                   "prometheus: bad_data: 1:5: parse error: ...")
 *   FERR_TIMEOUT    no whole answer within timeout_ms
 *   FERR_IO         connection refused or failed, TLS, an HTTP status
 *                   other than 200 without Prometheus's error in it
 *   FERR_TOOBIG     an answer longer than PROMQ_ANSWER_MAX bytes
 *   FERR_MALFORMED  not JSON, or not the shape the query API documents
 *   FERR_NOTFOUND   no value (no sample, several, another type, NaN/Inf)
 *   FERR_NOMEM      out of memory
 * Neither the url (it may hold credentials) nor the answer is ever part of
 * the reason.  It does not log.
 */
int
promq_query(const char *url, const char *query,
    const struct promq_vars *vars, uint32_t timeout_ms, double *value,
    char *reason, size_t reason_len);

#endif
