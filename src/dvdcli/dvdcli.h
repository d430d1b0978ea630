/*
 * dvdcli: a drop-in for dvdcli 0.2, the Docker volume driver CLI Mesos
 * runs (spec/dvdi.md section 1; docs/dvdcli.md). It talks to any Docker
 * volume plugin through volplugin/volplugin.h: mount, unmount, path, get, list,
 * create, remove, version.
 *
 * stdout carries only results (a mountpoint, a name per line); everything
 * else goes to stderr as logrus-style lines. Exit status: 0 success,
 * 1 failure (the plugin, discovery, a timeout, an empty mountpoint),
 * 2 usage error (the original exited 0 for those).
 *
 * The parser is public for the unit tests; it never prints.
 */
#ifndef RR_DVDCLI_H
#define RR_DVDCLI_H

#include <jansson.h>
#include <stdbool.h>

#include "util/err.h"

#define DVDCLI_EXIT_OK	  0
#define DVDCLI_EXIT_FAIL  1
#define DVDCLI_EXIT_USAGE 2

#define DVDCLI_DEFAULT_TIMEOUT_S 120

struct dvdcli_args {
	const char *command; /* borrowed from argv; NULL when none was given */
	const char *driver;  /* --volumedriver, borrowed; NULL when not given */
	const char *name;    /* --volumename, borrowed; NULL when not given */
	json_t *opts;	     /* owned: every --volumeopts item, an object of strings */
	bool opts_given;
	bool explicit_create;
	bool explicit_given;
	bool help;	 /* -h, --help or the help command */
	long timeout_ms; /* --timeout; 120 s by default */
};

/*
 * Parse argv (argv[0] is the program). Flags may come before or after the
 * command. Returns 0, or -EINVAL with the usage error in e (unknown flag or
 * command, a missing --volumedriver or --volumename, a bad value). When
 * help is set the command and the required flags are not checked.
 * Release a with dvdcli_args_release whatever the result.
 */
int dvdcli_parse(int argc, char **argv, struct dvdcli_args *a, struct err *e);
void dvdcli_args_release(struct dvdcli_args *a);

/*
 * Add one --volumeopts value to opts: items separated by ',' (an item in
 * double quotes may hold commas; "" is a quote, as in pflag's CSV), each
 * "key=value" with the value being everything after the first '='. A
 * later key replaces an earlier one; the key's case is kept; empty items
 * are skipped. -EINVAL for an item without '=' or with an empty key.
 */
int dvdcli_opts_add(json_t *opts, const char *value, struct err *e);

/* The whole command; returns the exit status. */
int dvdcli_main(int argc, char **argv);

#endif
