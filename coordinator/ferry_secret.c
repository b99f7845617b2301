/* SPDX-License-Identifier: Apache-2.0 */
/* ferry_secret.c: `ferry secret` and `ferry registry`: values read from
 * stdin or a file, never from the command line, and never printed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <sodium.h>

#include "ferry.h"

#define VALUE_MAX	(64u * 1024u)	/* ferryd's SECRET_VALUE_MAX */
#define REGISTRY_SCOPE	"@registry"	/* ferryd's SECRETS_REGISTRY_SCOPE */

static const char usage_secret[] =
"usage: ferry secret set SERVICE NAME [--file PATH]\n"
"       ferry secret list SERVICE [--json]\n"
"       ferry secret rm SERVICE NAME\n"
"\n"
"set stores a new version of the secret NAME of SERVICE.  The value is\n"
"read from stdin (one trailing newline dropped), or byte for byte from\n"
"--file PATH; never from the command line, where the shell's history and\n"
"ps would keep it.  At most 64 KiB.  ferryd encrypts it at rest; a spec\n"
"that names it (secrets: [NAME]) gets it as the file /run/secrets/NAME in\n"
"each container, and the next deployment rolls the new version out.\n"
"list shows each secret's name, version, size, and when and by whom it\n"
"was set; never a value.  rm removes every version of it: revisions that\n"
"pin it can no longer be deployed or rolled back to.\n";

static const char usage_registry[] =
"usage: ferry registry login HOST --username USER [--password-file PATH]\n"
"       ferry registry logout HOST\n"
"       ferry registry list [--json]\n"
"\n"
"login stores the credentials hosts use to pull images from the registry\n"
"HOST (host or host:port, as image references name it): the password is\n"
"read from stdin (one trailing newline dropped) or from --password-file,\n"
"never from the command line.  They are kept like secrets: encrypted at\n"
"rest, sealed to each host with its pulls, never shown.\n";

/* read_value reads at most VALUE_MAX bytes from fd into a guarded buffer;
 * dies when there are more, or on a read error. */
static uint8_t *
read_value(int fd, const char *what, size_t *len)
{
	uint8_t *buf;
	size_t n = 0;
	ssize_t r;

	/* Guarded memory: locked, wiped when freed. */
	if (sodium_init() < 0 || (buf = sodium_malloc(VALUE_MAX + 1)) == NULL)
		die(EXIT_FAIL, "out of memory");
	while (n <= VALUE_MAX) {
		r = read(fd, buf + n, VALUE_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die(EXIT_FAIL, "%s: %s", what, strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > VALUE_MAX)
		die(EXIT_USAGE, "%s: the value is larger than the limit of "
		    "64 KiB", what);
	*len = n;
	return buf;
}

/* value_from reads the value from path (byte for byte) or, path NULL,
 * from stdin (one trailing newline dropped), which must not be a
 * terminal: what is typed there is echoed. */
static uint8_t *
value_from(const char *path, size_t *len)
{
	uint8_t *v;
	int fd;

	if (path == NULL) {
		if (isatty(STDIN_FILENO))
			die(EXIT_USAGE, "give the value on stdin (a pipe or a "
			    "redirect, not a terminal, which would echo it) "
			    "or with --file PATH");
		v = read_value(STDIN_FILENO, "stdin", len);
		if (*len > 0 && v[*len - 1] == '\n')
			(*len)--;
		return v;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		die(EXIT_FAIL, "%s: %s", path, strerror(errno));
	v = read_value(fd, path, len);
	close(fd);
	return v;
}

static int
secret_set(int argc, char **argv)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__SecretSet set = FERRY__SECRET_SET__INIT;
	Ferry__CtlReply *r;
	const char *file = NULL;
	uint8_t *v;
	size_t len;
	int i, npos = 0;
	char *pos[2];

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--file") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "--file") == 0)
			die(EXIT_USAGE, "--file needs a PATH");
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			die(EXIT_USAGE, "secret set: unknown flag \"%s\"",
			    argv[i]);
		else if (npos < 2)
			pos[npos++] = argv[i];
		else
			/* Never echo what may be the value itself. */
			die(EXIT_USAGE, "secret set takes SERVICE NAME and "
			    "nothing more: the value is never taken from the "
			    "command line (the shell's history and ps would "
			    "keep it); give it on stdin or with --file PATH");
	}
	if (npos != 2)
		die(EXIT_USAGE, "secret set: expected SERVICE and NAME");
	v = value_from(file, &len);
	set.service = pos[0];
	set.name = pos[1];
	set.value.data = v;
	set.value.len = len;
	req.op_case = FERRY__CTL_REQUEST__OP_SECRET_SET;
	req.secret_set = &set;
	r = call(&req, 10000);
	sodium_free(v);
	printf("secret %s of %s: version %llu\n", pos[1], pos[0],
	    (unsigned long long)r->revision);
	ferry__ctl_reply__free_unpacked(r, NULL);
	return 0;
}

static void
when(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
secret_list(const char *service, int json)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__SecretRef ref = FERRY__SECRET_REF__INIT;
	Ferry__CtlReply *r;
	char at[32];
	size_t i;

	ref.service = (char *)service;
	req.op_case = FERRY__CTL_REQUEST__OP_SECRET_LIST;
	req.secret_list = &ref;
	r = call(&req, 10000);
	if (json) {
		cJSON *a = cJSON_CreateArray();

		for (i = 0; i < r->n_secrets; i++) {
			const Ferry__SecretInfo *s = r->secrets[i];
			cJSON *o = cJSON_CreateObject();

			when(s->created_ms, at, sizeof(at));
			cJSON_AddStringToObject(o, "name", s->name);
			cJSON_AddNumberToObject(o, "version",
			    (double)s->version);
			cJSON_AddNumberToObject(o, "size", s->size);
			cJSON_AddStringToObject(o, "created", at);
			cJSON_AddStringToObject(o, "created_by",
			    s->created_by);
			cJSON_AddItemToArray(a, o);
		}
		print_json(a);
	} else {
		struct table *t = table_new();

		table_col(t, "NAME", 0.3, 0);
		table_col(t, "VERSION", 0, TABLE_RIGHT);
		table_col(t, "SIZE", 0, TABLE_RIGHT);
		table_col(t, "SET", 0, 0);
		table_col(t, "BY", 0.2, TABLE_TRUNC);
		for (i = 0; i < r->n_secrets; i++) {
			const Ferry__SecretInfo *s = r->secrets[i];

			when(s->created_ms, at, sizeof(at));
			table_row(t);
			table_cell(t, "%s", s->name);
			table_cell(t, "%llu", (unsigned long long)s->version);
			table_cell(t, "%u", s->size);
			table_cell(t, "%s", at);
			table_cell(t, "%s", s->created_by);
		}
		table_print(t, stdout);
	}
	ferry__ctl_reply__free_unpacked(r, NULL);
	return 0;
}

static int
secret_rm(const char *service, const char *name)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__SecretRef ref = FERRY__SECRET_REF__INIT;
	Ferry__CtlReply *r;

	ref.service = (char *)service;
	ref.name = (char *)name;
	req.op_case = FERRY__CTL_REQUEST__OP_SECRET_RM;
	req.secret_rm = &ref;
	r = call(&req, 10000);
	ferry__ctl_reply__free_unpacked(r, NULL);
	printf("secret %s of %s: removed\n", name, service);
	return 0;
}

int
cmd_secret(int argc, char **argv)
{
	int json = 0, i, n = 0;

	cmd_usage = usage_secret;
	for (i = 0; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			fputs(usage_secret, stdout);
			return 0;
		}
	if (argc == 0)
		die(EXIT_USAGE, "secret: expected a subcommand (set, list, "
		    "rm)");
	if (argv[0][0] == '-')
		die(EXIT_USAGE, "secret: unknown flag \"%s\" (the "
		    "subcommand comes first)", argv[0]);
	if (strcmp(argv[0], "set") == 0)
		return secret_set(argc - 1, argv + 1);
	if (strcmp(argv[0], "list") != 0 && strcmp(argv[0], "rm") != 0)
		die(EXIT_USAGE, "secret: unknown subcommand \"%s\" (set, "
		    "list, rm)", argv[0]);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 && argv[0][0] == 'l')
			json = 1;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			die(EXIT_USAGE, "secret %s: unknown flag \"%s\"",
			    argv[0], argv[i]);
		else
			argv[1 + n++] = argv[i];
	}
	if (strcmp(argv[0], "list") == 0 && n == 1)
		return secret_list(argv[1], json);
	if (strcmp(argv[0], "rm") == 0 && n == 2)
		return secret_rm(argv[1], argv[2]);
	die(EXIT_USAGE, "secret %s: expected %s", argv[0],
	    argv[0][0] == 'l' ? "one SERVICE" : "SERVICE and NAME");
}

static int
registry_login(int argc, char **argv)
{
	Ferry__CtlRequest req = FERRY__CTL_REQUEST__INIT;
	Ferry__RegistryLogin login = FERRY__REGISTRY_LOGIN__INIT;
	Ferry__CtlReply *r;
	const char *host = NULL, *user = NULL, *file = NULL;
	uint8_t *pw;
	size_t len;
	int i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--username") == 0 && i + 1 < argc)
			user = argv[++i];
		else if (strcmp(argv[i], "--password-file") == 0 &&
		    i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "--username") == 0 ||
		    strcmp(argv[i], "--password-file") == 0)
			die(EXIT_USAGE, "registry login: %s needs a value",
			    argv[i]);
		else if (argv[i][0] == '-')
			die(EXIT_USAGE, "registry login: unknown flag \"%s\" "
			    "(the password is never taken from the command "
			    "line: stdin or --password-file)", argv[i]);
		else if (host == NULL)
			host = argv[i];
		else
			die(EXIT_USAGE, "registry login takes HOST and "
			    "nothing more: the password is never taken from "
			    "the command line; give it on stdin or with "
			    "--password-file PATH");
	}
	if (host == NULL || user == NULL)
		die(EXIT_USAGE, "registry login: expected HOST and --username "
		    "USER");
	pw = value_from(file, &len);
	if (file != NULL && len > 0 && pw[len - 1] == '\n')
		len--;	/* a password file's own newline is not the password */
	login.registry = (char *)host;
	login.username = (char *)user;
	login.password.data = pw;
	login.password.len = len;
	req.op_case = FERRY__CTL_REQUEST__OP_REGISTRY_LOGIN;
	req.registry_login = &login;
	r = call(&req, 10000);
	sodium_free(pw);
	printf("registry %s: login for %s stored (version %llu)\n", host, user,
	    (unsigned long long)r->revision);
	ferry__ctl_reply__free_unpacked(r, NULL);
	return 0;
}

int
cmd_registry(int argc, char **argv)
{
	int i;

	cmd_usage = usage_registry;
	for (i = 0; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			fputs(usage_registry, stdout);
			return 0;
		}
	if (argc == 0)
		die(EXIT_USAGE, "registry: expected a subcommand (login, "
		    "logout, list)");
	if (argv[0][0] == '-')
		die(EXIT_USAGE, "registry: unknown flag \"%s\" (the "
		    "subcommand comes first)", argv[0]);
	if (strcmp(argv[0], "login") == 0)
		return registry_login(argc - 1, argv + 1);
	if (strcmp(argv[0], "logout") == 0) {
		unknown_flags(argc - 1, argv + 1, "registry logout", NULL);
		if (argc != 2)
			die(EXIT_USAGE, "registry logout: expected one HOST");
		return secret_rm(REGISTRY_SCOPE, argv[1]);
	}
	if (strcmp(argv[0], "list") == 0) {
		int json = 0;

		for (i = 1; i < argc; i++)
			if (strcmp(argv[i], "--json") == 0)
				json = 1;
			else if (argv[i][0] == '-')
				die(EXIT_USAGE, "registry list: unknown flag "
				    "\"%s\"", argv[i]);
			else
				die(EXIT_USAGE, "registry list: unexpected "
				    "\"%s\"", argv[i]);
		return secret_list(REGISTRY_SCOPE, json);
	}
	die(EXIT_USAGE, "registry: unknown subcommand \"%s\" (login, "
	    "logout, list)", argv[0]);
}
