/* http.c: ferryd's HTTP port on localhost: /healthz and /metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "ferr.h"
#include "ferryd.h"
#include "log.h"
#include "metrics.h"

static const char healthz[] = "ok\n";

/* on_metrics runs on an NNG thread: it reads only the metrics module,
 * which keeps its own lock. */
static void
on_metrics(nng_aio *aio)
{
	nng_http_res *res = NULL;
	size_t len;
	char *text = metrics_render(&len);

	if (text == NULL || nng_http_res_alloc(&res) != 0 ||
	    nng_http_res_set_header(res, "Content-Type",
	    "text/plain; version=0.0.4") != 0 ||
	    nng_http_res_copy_data(res, text, len) != 0) {
		free(text);
		if (res != NULL)
			nng_http_res_free(res);
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	free(text);
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

int
http_start(struct ferryd *fd)
{
	nng_http_handler *h = NULL;
	nng_url *url = NULL;
	char text[200];
	int rv;

	if (fd->conf.http[0] == '\0' || strcmp(fd->conf.http, "off") == 0)
		return 0;
	snprintf(text, sizeof(text), "http://%s", fd->conf.http);
	if ((rv = nng_url_parse(&url, text)) != 0)
		goto fail;
	if ((rv = nng_http_server_hold(&fd->http, url)) != 0)
		goto fail;
	/* Liveness only: the server answers while ferryd's process runs.
	 * The handler owns no state, so it may run on NNG's threads. */
	if ((rv = nng_http_handler_alloc_static(&h, "/healthz", healthz,
	    sizeof(healthz) - 1, "text/plain")) != 0 ||
	    (rv = nng_http_server_add_handler(fd->http, h)) != 0) {
		if (h != NULL)
			nng_http_handler_free(h);
		goto fail;
	}
	h = NULL;
	if ((rv = nng_http_handler_alloc(&h, "/metrics", on_metrics)) != 0 ||
	    (rv = nng_http_server_add_handler(fd->http, h)) != 0) {
		if (h != NULL)
			nng_http_handler_free(h);
		goto fail;
	}
	if ((rv = nng_http_server_start(fd->http)) != 0)
		goto fail;
	nng_url_free(url);
	return 0;
fail:
	log_warnx("http %s: %s", fd->conf.http, nng_strerror(rv));
	if (fd->http != NULL) {
		nng_http_server_release(fd->http);
		fd->http = NULL;
	}
	if (url != NULL)
		nng_url_free(url);
	return rv == NNG_EADDRINUSE ? FERR_EXISTS : FERR_ARG;
}

void
http_stop(struct ferryd *fd)
{
	if (fd->http == NULL)
		return;
	nng_http_server_stop(fd->http);
	nng_http_server_release(fd->http);
	fd->http = NULL;
}
