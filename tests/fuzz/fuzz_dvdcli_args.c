/*
 * fuzz_dvdcli_args: the dvdcli command line (dvdcli/dvdcli.h):
 * dvdcli_parse, which Mesos and users drive with any argv, and through it
 * dvdcli_opts_add (the --volumeopts CSV).
 *
 * Input: the arguments after argv[0] ("dvdcli"), separated by NUL or
 * newline bytes (at most 64).
 * Invariants:
 *  - failure is -EINVAL (or -ENOMEM) with a message;
 *  - success without help names a known command with the flags it needs
 *    (non-empty --volumedriver except for version, non-empty --volumename
 *    except for list and version); the borrowed strings point into argv;
 *    the timeout is 1 ms .. 24 h; opts is an object of strings, empty
 *    unless --volumeopts was given;
 *  - dvdcli_args_release frees everything whatever the result.
 */
#include <jansson.h>

#include "dvdcli/dvdcli.h"
#include "fuzz.h"

#define MAX_ARGS 64

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static bool in_argv(const char *s, char **argv, int argc)
{
	for (int i = 0; i < argc; i++) {
		size_t len = strlen(argv[i]);
		if (s >= argv[i] && s <= argv[i] + len)
			return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const needs_name[] = { "mount", "unmount", "path", "get",
						  "create", "remove" };
	static const char *const others[] = { "list", "version", "help" };
	char *buf = fuzz_cstr(data, size);
	char prog[] = "dvdcli";
	char *argv[MAX_ARGS + 2];
	struct dvdcli_args a;
	struct err e = ERR_INIT;
	size_t start = 0;
	int argc = 0, r;

	argv[argc++] = prog;
	for (size_t i = 0; i <= size && argc <= MAX_ARGS; i++) {
		if (i == size || buf[i] == '\0' || buf[i] == '\n') {
			buf[i] = '\0';
			argv[argc++] = buf + start;
			start = i + 1;
		}
	}
	if (size == 0)
		argc = 1; /* no arguments at all */
	argv[argc] = NULL;

	r = dvdcli_parse(argc, argv, &a, &e);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL || r == -ENOMEM);
		FUZZ_CHECK(e.code == r && e.msg[0]);
	} else if (!a.help) {
		bool named = false, known = false;
		const char *k;
		json_t *v;

		FUZZ_CHECK(a.command && in_argv(a.command, argv, argc));
		for (size_t i = 0; i < sizeof(needs_name) / sizeof(needs_name[0]); i++)
			named = named || strcmp(a.command, needs_name[i]) == 0;
		known = named;
		for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
			known = known || strcmp(a.command, others[i]) == 0;
		FUZZ_CHECK(known && strcmp(a.command, "help") != 0);
		if (strcmp(a.command, "version") != 0)
			FUZZ_CHECK(a.driver && *a.driver && in_argv(a.driver, argv, argc));
		if (named)
			FUZZ_CHECK(a.name && *a.name && in_argv(a.name, argv, argc));
		FUZZ_CHECK(a.timeout_ms >= 1 && a.timeout_ms <= 86400L * 1000);
		FUZZ_CHECK(a.opts && json_is_object(a.opts));
		FUZZ_CHECK(a.opts_given || json_object_size(a.opts) == 0);
		FUZZ_CHECK(a.explicit_given || !a.explicit_create);
		json_object_foreach (a.opts, k, v)
			FUZZ_CHECK(k[0] && json_is_string(v));
	}
	dvdcli_args_release(&a);
	free(buf);
	return 0;
}
