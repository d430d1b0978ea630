/*
 * cli: the `rexray` command line (spec/rexray.md section 1).
 *
 *   rexray [global flags] COMMAND [SUBCOMMAND] [flags] [ARGS...]
 *
 * Global flags may appear anywhere: -c/--config FILE, -h/--host ADDR,
 * -s/--service NAME, -l/--logLevel LEVEL, -?/--help. Output flags for the
 * volume and snapshot commands: -f/--format tmpl|json|jsonp, -q/--quiet.
 * Exit status: 0 success, 1 an operation failed, 2 a usage error,
 * 3 `service status` of a stopped service.
 */
#ifndef RR_CLI_H
#define RR_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/engine.h"

enum out_format { OUT_TMPL, OUT_JSON, OUT_JSONP };

/* What the parser found on the command line. */
struct cli_args {
	const char *words[8];	/* command, subcommand, and the positional args */
	int n_words;
	const char *config_file;
	const char *format;
	bool quiet;
	bool force;
	bool foreground;
	bool nopid;
	bool attached;
	bool available;
	bool path;
	bool help;
	bool overwrite_fs;
	const char *size, *iops, *volume_type, *availability_zone, *fs_type;
	const char **args;	/* positional args after the (sub)command */
	int n_args;
	int dashdash;		/* index in words where "--" stood, or -1 */
	const char *container_id, *env_file, *running, *timeout;
	bool bind;
	const char *key, *alg, *exp;	/* token new|decode */
	bool verify;
	bool all;      /* env --all */
	bool version;  /* --version */
	/* snapshot commands; snapshot_id is also volume create's --snapshotID */
	const char *snapshot_id, *snapshot_name, *volume_id, *description;
	const char *dest_snapshot_name, *dest_region;
	bool run_async; /* accepted, ignored: every operation finishes first */
};

int cli_main(int argc, char **argv);

/* volume subcommands (cli/volume.c); return the exit status */
int cli_volume(struct engine *en, const char *sub, struct cli_args *a);
/* snapshot subcommands (cli/snapshot.c) */
int cli_snapshot(struct engine *en, const char *sub, struct cli_args *a);
/* The one volume arg names (cli/volume.c): its exact ID, else its exact
 * name (then, with loose, REX-Ray's case-insensitive and unique-prefix
 * matches), into *out (the caller releases it). -ENOENT or -EINVAL with a
 * message naming arg. */
int cli_find_volume(struct engine *en, const char *arg, bool loose, struct volume *out,
		    struct err *e);
/* The one snapshot arg names (cli/snapshot.c): its exact ID, else a name
 * only one snapshot has, into *out (the caller releases it). -ENOENT or
 * -EINVAL with a message naming arg. */
int cli_find_snapshot(struct engine *en, const char *arg, struct snapshot *out, struct err *e);
/* dvdi subcommands (cli/dvdi.c) */
int cli_dvdi(struct engine *en, const char *sub, struct cli_args *a);
/* `dvdi run` notes termination signals from its first instruction on (see
 * cmd_run in dvdi.c); cli_main calls this before parsing when argv asks
 * for `dvdi run`. */
void cli_dvdi_guard_signals(void);

/* The termination signals (TERM, INT, HUP, QUIT) that never cut a mount
 * or an unmount in half: blocked (SIG_BLOCK) across one, delivered after
 * (SIG_UNBLOCK). cli_term_signals lists them, for handlers. */
extern const int cli_term_signals[4];
void cli_term_signals_mask(int how);
/* token new|decode (cli/token.c); a->args are the words after sub */
int cli_token(struct engine *en, const char *sub, struct cli_args *a);

/* config check|show (cli/config.c): before the engine is set up, on the
 * cfg that holds the flags; loads the file itself */
int cli_config(struct cfg *cfg, const char *sub, struct cli_args *a);
/* install|uninstall (cli/install.c): cmd is "install" or "uninstall" */
int cli_install(struct engine *en, const char *cmd, struct cli_args *a);
/* completion SHELL (cli/completion.c); shell may be NULL */
int cli_completion(const char *shell, struct cli_args *a);

/* output helpers (cli/output.c) */
/* -f/--format: tmpl (or NULL), json, jsonp; anything else is said on
 * stderr and is -EINVAL (a usage error). */
int cli_parse_format(const char *s, enum out_format *out);
/* Print volumes as the table (ID Name Status Size [Path]) or JSON array;
 * paths (parallel to l, may be NULL) adds the Path column / "path" member. */
void cli_print_volumes(const struct volume_list *l, char **paths, enum out_format f, bool quiet);
const char *cli_state_name(int attachment_state);
/* Print snapshots as the table (ID Name VolumeID Size Status Created, by
 * name) or a JSON array of libStorage Snapshots; quiet: the IDs only. */
void cli_print_snapshots(const struct snapshot_list *l, enum out_format f, bool quiet);
/* Print an error the same way everywhere: "rexray: <what>: <msg>". */
void cli_error(const char *what, const struct err *e);

#endif
