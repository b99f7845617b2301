/* SPDX-License-Identifier: Apache-2.0 */
// links: agent/container.c
/* test_container_opts.c: a Swap's container settings turned into Docker's
 * create options (agent/container.c): each field where Docker reads it,
 * ferry's labels first and never the user's under ferry., and what Docker
 * would misread refused again at the agent. */
#include <string.h>

#include <criterion/criterion.h>

#include "container.h"
#include "ferr.h"

TestSuite(container_opts, .timeout = 10);

static const struct docker_label OWN[] = {
	{ "ferry.host", "web-1" }, { "ferry.service", "web" },
};

Test(container_opts, every_setting_lands_in_the_options)
{
	char *cmd[] = { "nginx", "-g", "daemon off;" }, *ep[] = { "/init" };
	char *test[] = { "CMD", "check" };
	Ferry__Bind b = FERRY__BIND__INIT, v = FERRY__BIND__INIT;
	Ferry__Bind *binds[] = { &b }, *vols[] = { &v };
	Ferry__PortBinding pb = FERRY__PORT_BINDING__INIT, *pbs[] = { &pb };
	Ferry__Label l = FERRY__LABEL__INIT, *ls[] = { &l };
	Ferry__Label o = FERRY__LABEL__INIT, *os[] = { &o };
	Ferry__LogSettings log = FERRY__LOG_SETTINGS__INIT;
	Ferry__DockerHealthcheck hc = FERRY__DOCKER_HEALTHCHECK__INIT;
	Ferry__Swap s = FERRY__SWAP__INIT;
	struct container_opts m = { 0 };
	struct docker_create_opts co;
	char why[256] = "";

	b.source = "/srv/s";
	b.target = "/s";
	b.read_only = 1;
	v.source = "data";
	v.target = "/d";
	pb.host = 9090;
	pb.container = 90;
	l.key = "team";
	l.value = "pay";
	o.key = "max-size";
	o.value = "10m";
	log.driver = "local";
	log.n_options = 1;
	log.options = os;
	hc.n_test = 2;
	hc.test = test;
	hc.interval_ms = 500;
	hc.retries = 4;
	s.n_command = 3;
	s.command = cmd;
	s.n_entrypoint = 1;
	s.entrypoint = ep;
	s.workdir = "/srv";
	s.user = "1000:1000";
	s.n_binds = 1;
	s.binds = binds;
	s.n_volumes = 1;
	s.volumes = vols;
	s.n_more_ports = 1;
	s.more_ports = pbs;
	s.memory = 1 << 30;
	s.nano_cpus = 500000000;
	s.restart = "on-failure:3";
	s.n_labels = 1;
	s.labels = ls;
	s.log = &log;
	s.healthcheck = &hc;
	memset(&co, 0, sizeof(co));
	cr_assert_eq(container_opts_fill(&m, &s, OWN, 2, "/run/x:/run/secrets:ro",
	    &co, why, sizeof(why)), 0, "%s", why);
	cr_assert_str_eq(co.cmd[2], "daemon off;");
	cr_assert_null(co.cmd[3]);
	cr_assert_str_eq(co.entrypoint[0], "/init");
	cr_assert_str_eq(co.workdir, "/srv");
	cr_assert_str_eq(co.user, "1000:1000");
	cr_assert_str_eq(co.binds[0], "/srv/s:/s:ro");
	cr_assert_str_eq(co.binds[1], "/run/x:/run/secrets:ro");
	cr_assert_null(co.binds[2]);
	cr_assert_str_eq(co.volumes[0], "data:/d");
	cr_assert_null(co.volumes[1]);
	cr_assert_eq(co.nmore_ports, 1);
	cr_assert_eq(co.more_ports[0].host, 9090);
	cr_assert_eq(co.memory, 1 << 30);
	cr_assert_eq(co.nano_cpus, 500000000);
	cr_assert_str_eq(co.log_driver, "local");
	cr_assert_str_eq(co.log_opts[0].key, "max-size");
	cr_assert_str_eq(co.health_test[1], "check");
	cr_assert_eq(co.health_interval_ms, 500);
	cr_assert_eq(co.health_retries, 4);
	/* ferry's labels, then its restart policy, then the user's. */
	cr_assert_eq(co.nlabels, 4);
	cr_assert_str_eq(co.labels[0].key, "ferry.host");
	cr_assert_str_eq(co.labels[2].key, "ferry.restart");
	cr_assert_str_eq(co.labels[2].value, "on-failure:3");
	cr_assert_str_eq(co.labels[3].key, "team");
	container_opts_fini(&m);
	container_opts_fini(&m);	/* twice is harmless */
}

Test(container_opts, nothing_set_leaves_the_images_own)
{
	Ferry__Swap s = FERRY__SWAP__INIT;
	struct container_opts m = { 0 };
	struct docker_create_opts co;
	char why[256] = "";

	memset(&co, 0, sizeof(co));
	cr_assert_eq(container_opts_fill(&m, &s, OWN, 2, NULL, &co, why,
	    sizeof(why)), 0, "%s", why);
	cr_assert_null(co.cmd);
	cr_assert_null(co.entrypoint);
	cr_assert_null(co.binds);
	cr_assert_null(co.volumes);
	cr_assert_null(co.health_test);
	cr_assert_null(co.log_driver);
	cr_assert_eq(co.nmore_ports, 0);
	/* An agent before the spec said it: unless-stopped, as before. */
	cr_assert_eq(co.nlabels, 3);
	cr_assert_str_eq(co.labels[2].value, "unless-stopped");
	container_opts_fini(&m);
}

/* refused: s with one bad setting is refused, why saying want. */
static void
refused(const Ferry__Swap *s, const char *want)
{
	struct container_opts m = { 0 };
	struct docker_create_opts co;
	char why[256] = "";

	memset(&co, 0, sizeof(co));
	cr_assert_eq(container_opts_fill(&m, s, OWN, 2, NULL, &co, why,
	    sizeof(why)), FERR_ARG);
	cr_assert(strstr(why, want) != NULL, "\"%s\" lacks \"%s\"", why,
	    want);
	container_opts_fini(&m);
}

Test(container_opts, what_docker_would_misread_is_refused)
{
	Ferry__Swap s = FERRY__SWAP__INIT;
	Ferry__Label l = FERRY__LABEL__INIT, *ls[] = { &l };
	Ferry__Bind b = FERRY__BIND__INIT, *bs[] = { &b };
	Ferry__LogSettings log = FERRY__LOG_SETTINGS__INIT;

	s.restart = "sometimes";
	refused(&s, "refused: restart policy \"sometimes\"");
	s.restart = "on-failure:0";
	refused(&s, "refused: restart policy");
	s.restart = "";
	l.key = "ferry.service";
	l.value = "other";
	s.n_labels = 1;
	s.labels = ls;
	refused(&s, "refused: label \"ferry.service\": the prefix ferry. is "
	    "the agent's own");
	s.n_labels = 0;
	b.source = "data:x";
	b.target = "/d";
	s.n_volumes = 1;
	s.volumes = bs;
	refused(&s, "refused: volume \"data:x\" is not a volume name");
	b.source = "data";
	b.target = "/d:rw";
	refused(&s, "refused: mount target \"/d:rw\"");
	s.n_volumes = 0;
	s.workdir = "srv";
	refused(&s, "refused: working directory \"srv\"");
	s.workdir = NULL;
	log.driver = "syslog";
	s.log = &log;
	refused(&s, "refused: log driver \"syslog\"");
}
