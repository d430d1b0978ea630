/*
 * help: the help of every `rexray` command, and the nearest name for a
 * word that names none ("did you mean ...?").
 *
 * `rexray help [COMMAND...]`, `rexray COMMAND... --help` (or -?) print the
 * help of the longest command path the words name, else the overview.
 * -h stays --host, as in REX-Ray; the overview says so.
 */
#ifndef RR_CLI_HELP_H
#define RR_CLI_HELP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Print the help of the command words[0..n) name (the overview for n 0).
 * Returns 0, or 2 when a word names no command (said on stderr, with the
 * nearest name). */
int cli_help(const char *const *words, int n, FILE *out);

/* One row of the help table, as `rexray help PATH` shows it; the strings
 * are static. For the completion script (completion.c), which derives its
 * commands and flags from the table instead of keeping a second list. */
struct cli_command {
	const char *path;    /* "volume create" */
	const char *aliases; /* "c, n, new"; NULL when none */
	const char *usage;   /* "rexray volume create [flags] NAME..." */
	const char *flags;   /* the help's flag lines ("  --size SIZE   ..."); NULL when none */
};

/* Row i of the help table into *out. Returns false when i is past the end. */
bool cli_command_at(size_t i, struct cli_command *out);

/* The subcommands of command ("volume", "service", ...), NULL-terminated
 * and including aliases; the top-level commands for NULL; NULL for an
 * unknown command or one without. */
const char *const *cli_subcommands(const char *command);

/* Is w (may be NULL) one of names (NULL-terminated, may be NULL)? */
bool cli_is_one_of(const char *w, const char *const *names);

/* The candidate nearest to word (at most a third of its letters off, and
 * at least one letter right), or NULL. */
const char *cli_nearest(const char *word, const char *const *candidates);

/* "rexray: <where>: unknown command '<word>'" with the nearest candidate,
 * on stderr (where NULL: the top level). Returns 2 (a usage error). */
int cli_unknown(const char *where, const char *word, const char *const *candidates);

#endif
