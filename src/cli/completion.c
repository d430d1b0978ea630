/*
 * completion: `rexray completion bash`, the bash completion script.
 *
 * The script is generated from the help table (help.c, through
 * cli_command_at) and the overview's global flags, so a command, alias or
 * flag added there completes without a second list to keep. It completes:
 * commands and their aliases, subcommands, the flags of the command on the
 * line and the global flags (anywhere), the values help names
 * ("--format tmpl|json|jsonp"), files for FILE values and arguments, log
 * levels, configured services, and the volume names of the commands whose
 * usage takes VOLUME, from `rexray [-c F] [-s S] [-h H] volume ls -q` run
 * at completion time (under `timeout 2` when there is one).
 *
 * `rexray completion list` (not in the help: for tests and other shells'
 * scripts) prints the table the script is made from: one command a line,
 * PATH<TAB>ALIASES<TAB>FLAGS, aliases and flags space-separated.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/help.h"
#include "drivers/driver.h"
#include "util/log.h"

static const char *const shells[] = { "bash", NULL };

/* ---- reading the help table ---- */

typedef void (*flag_fn)(const char *name, size_t name_len, const char *arg, size_t arg_len,
			void *ctx);

/*
 * Each flag of help's flag lines ("  -f, --format tmpl|json|jsonp  as ..."):
 * its name and its argument (empty when it takes none). The flags of a line
 * end at the first two spaces and are separated by ", "; a flag without an
 * argument of its own shares the last one's ("-f" is "-f tmpl|json|jsonp",
 * while "--key KEY, --alg A" are two); a line that does not start with '-'
 * continues the one before.
 */
static void each_flag(const char *text, flag_fn fn, void *ctx)
{
	while (text && *text) {
		const char *eol = text + strcspn(text, "\n");
		const char *p = text + strspn(text, " ");
		const char *end = p, *name[4], *arg[4];
		size_t name_len[4], arg_len[4], n = 0;

		while (*p == '-' && end < eol && !(end[0] == ' ' && end[1] == ' '))
			end++;
		while (*p == '-' && p < end && n < 4) {
			const char *item = p, *sp;

			while (item < end && !(item[0] == ',' && item[1] == ' '))
				item++;
			sp = memchr(p, ' ', (size_t)(item - p));
			name[n] = p;
			name_len[n] = (size_t)((sp ? sp : item) - p);
			arg[n] = sp ? sp + 1 : item;
			arg_len[n] = (size_t)(item - arg[n]);
			n++;
			p = item < end ? item + 2 : end;
		}
		for (size_t i = 0; i < n; i++) {
			if (arg_len[i])
				fn(name[i], name_len[i], arg[i], arg_len[i], ctx);
			else
				fn(name[i], name_len[i], arg[n - 1], arg_len[n - 1], ctx);
		}
		text = *eol ? eol + 1 : eol;
	}
}

/* The overview's "Global flags" lines (the text after that heading up to
 * the blank line), into an allocated string the caller frees; NULL when
 * out of memory. */
static char *global_flag_lines(void)
{
	char *text = NULL, *start, *end;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	cli_help(NULL, 0, f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	start = strstr(text, "\nGlobal flags");
	start = start ? strchr(start + 1, '\n') : NULL;
	if (!start) {
		text[0] = '\0';
		return text;
	}
	end = strstr(start, "\n\n");
	if (end)
		end[1] = '\0';
	memmove(text, start + 1, strlen(start + 1) + 1);
	return text;
}

/* Is path a group: does another row's path start with "path "? */
static bool is_group(const char *path)
{
	struct cli_command c;
	size_t l = strlen(path);

	for (size_t i = 0; cli_command_at(i, &c); i++)
		if (strncmp(c.path, path, l) == 0 && c.path[l] == ' ')
			return true;
	return false;
}

static const char *last_word(const char *path)
{
	const char *sp = strrchr(path, ' ');

	return sp ? sp + 1 : path;
}

/* Print the aliases ("c, n, new") as words, sep before each but the first
 * (first before that one); skip one equal to skip (a service command's
 * alias that is its own name). */
static void put_aliases(FILE *out, const char *aliases, const char *first, const char *sep,
			const char *skip)
{
	const char *a = aliases;
	int n = 0;

	while (a && *a) {
		size_t l = strcspn(a, ", ");
		if (!(skip && strlen(skip) == l && strncmp(a, skip, l) == 0))
			fprintf(out, "%s%.*s", n++ ? sep : first, (int)l, a);
		a += l;
		a += strspn(a, ", ");
	}
}

/* ---- the script ---- */

/* What a flag's argument offers: the words of "a|b|c", or a kind the
 * script expands (@file, @level, @addr, @service); "" for a free value. */
static void put_value_kind(FILE *out, const char *name, size_t name_len, const char *arg,
			   size_t arg_len)
{
	if ((name_len == 2 && strncmp(name, "-s", 2) == 0) ||
	    (name_len == 9 && strncmp(name, "--service", 9) == 0)) {
		fputs("@service", out);
		return;
	}
	if (memchr(arg, '|', arg_len)) {
		for (size_t i = 0; i < arg_len; i++)
			fputc(arg[i] == '|' ? ' ' : arg[i], out);
		return;
	}
	if (arg_len == 4 && strncmp(arg, "FILE", 4) == 0)
		fputs("@file", out);
	else if (arg_len == 5 && strncmp(arg, "LEVEL", 5) == 0)
		fputs("@level", out);
	else if (arg_len == 4 && strncmp(arg, "ADDR", 4) == 0)
		fputs("@addr", out);
}

struct emit {
	FILE *out;
	const char *path; /* NULL: the global flags */
	int n;		  /* names printed so far */
};

static void emit_name(const char *name, size_t name_len, const char *arg, size_t arg_len,
		      void *ctx)
{
	struct emit *em = ctx;

	(void)arg;
	(void)arg_len;
	fprintf(em->out, "%s%.*s", em->n++ ? " " : "", (int)name_len, name);
}

static void emit_value_case(const char *name, size_t name_len, const char *arg, size_t arg_len,
			    void *ctx)
{
	struct emit *em = ctx;

	if (!arg_len)
		return;
	if (em->path)
		fprintf(em->out, "\t'%s %.*s')\n\t\tREPLY='", em->path, (int)name_len, name);
	else
		fprintf(em->out, "\t\t'%.*s')\n\t\t\tREPLY='", (int)name_len, name);
	put_value_kind(em->out, name, name_len, arg, arg_len);
	fputs("' ;;\n", em->out);
}

/* What the positional arguments of a command are: volume names when its
 * usage takes VOLUME, files when it ends with [FILE], command words for
 * help's [COMMAND...], the shells for completion; "" for anything else. */
static void put_args_kind(FILE *out, const struct cli_command *c)
{
	const char *u = c->usage;
	size_t l = strlen(u);

	if (strstr(u, "VOLUME"))
		fputs("@volume", out);
	else if ((l >= 7 && strcmp(u + l - 7, " [FILE]") == 0))
		fputs("@file", out);
	else if (strstr(u, " [COMMAND...]"))
		fputs("@help", out);
	else if (strcmp(c->path, "completion") == 0)
		for (size_t i = 0; shells[i]; i++)
			fprintf(out, "%s%s", i ? " " : "", shells[i]);
}

static const char script_head[] =
	"# bash completion for rexray, made by `rexray completion bash` from the\n"
	"# command table of `rexray help`. Source it (source <(rexray completion bash))\n"
	"# or install it as /usr/share/bash-completion/completions/rexray.\n"
	"\n";

/* The main function: walk the words before the cursor (the command path,
 * the flags and their values, -c/-s/-h kept for the volume look-up), then
 * offer what fits the word under the cursor. */
static const char script_main[] =
	"# COMPREPLY := the words of $1 that start with $cur (no globbing of -?)\n"
	"_rexray_reply()\n"
	"{\n"
	"\tmapfile -t COMPREPLY < <(compgen -W \"$1\" -- \"$cur\")\n"
	"}\n"
	"\n"
	"# the volume names, from the program on the line with its -c, -s, -h\n"
	"_rexray_volumes()\n"
	"{\n"
	"\tlocal -a t=()\n"
	"\ttype timeout >/dev/null 2>&1 && t=(timeout -k 1 2)\n"
	"\t\"${t[@]}\" \"$prog\" \"${pre[@]}\" volume ls -q </dev/null 2>/dev/null\n"
	"}\n"
	"\n"
	"# the configured services, else the drivers (a service of that name works\n"
	"# when none is configured)\n"
	"_rexray_services()\n"
	"{\n"
	"\tlocal -a t=() s=()\n"
	"\tlocal line\n"
	"\ttype timeout >/dev/null 2>&1 && t=(timeout -k 1 2)\n"
	"\twhile IFS= read -r line; do\n"
	"\t\tline=${line#LIBSTORAGE_SERVER_SERVICES_}\n"
	"\t\t[[ $line == *_DRIVER=* ]] && s+=(\"${line%%_DRIVER=*}\")\n"
	"\tdone < <(\"${t[@]}\" \"$prog\" \"${pre[@]}\" env </dev/null 2>/dev/null |\n"
	"\t\t  grep '^LIBSTORAGE_SERVER_SERVICES_.*_DRIVER=')\n"
	"\tif ((${#s[@]})); then\n"
	"\t\tprintf '%s\\n' \"${s[@],,}\"\n"
	"\telse\n"
	"\t\tprintf '%s\\n' $_rexray_drivers\n"
	"\tfi\n"
	"}\n"
	"\n"
	"# offer what a flag's value may be ($1: words or a kind)\n"
	"_rexray_offer()\n"
	"{\n"
	"\tcase $1 in\n"
	"\t@file)\n"
	"\t\tcompopt -o filenames 2>/dev/null\n"
	"\t\tmapfile -t COMPREPLY < <(compgen -f -- \"$cur\") ;;\n"
	"\t@level)\n"
	"\t\t_rexray_reply \"$_rexray_levels\" ;;\n"
	"\t@addr)\n"
	"\t\tcompopt -o nospace 2>/dev/null\n"
	"\t\t_rexray_reply 'unix:/// tcp://' ;;\n"
	"\t@service)\n"
	"\t\t_rexray_reply \"$(_rexray_services)\" ;;\n"
	"\t@volume)\n"
	"\t\t_rexray_reply \"$(_rexray_volumes)\" ;;\n"
	"\t@help)\n"
	"\t\tif ((${#args[@]} == 0)); then\n"
	"\t\t\t_rexray_words ''\n"
	"\t\t\t_rexray_reply \"$REPLY\"\n"
	"\t\telif ((${#args[@]} == 1)); then\n"
	"\t\t\t_rexray_top \"${args[0]}\"\n"
	"\t\t\t_rexray_words \"$REPLY\"\n"
	"\t\t\t_rexray_reply \"$REPLY\"\n"
	"\t\tfi ;;\n"
	"\t*)\n"
	"\t\t_rexray_reply \"$1\" ;;\n"
	"\tesac\n"
	"}\n"
	"\n"
	"_rexray()\n"
	"{\n"
	"\tlocal REPLY cur=${COMP_WORDS[COMP_CWORD]} prog=${COMP_WORDS[0]}\n"
	"\tlocal path= group= valflag= flag w i\n"
	"\tlocal -a pre=() args=()\n"
	"\n"
	"\tCOMPREPLY=()\n"
	"\t[[ $prog == '~/'* ]] && prog=$HOME/${prog#'~/'}\n"
	"\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
	"\t\tw=${COMP_WORDS[i]}\n"
	"\t\tif [[ $w == -- ]]; then\n"
	"\t\t\t# a command of the user's (dvdi run): the shell's default\n"
	"\t\t\tcompopt -o bashdefault -o default 2>/dev/null\n"
	"\t\t\treturn 0\n"
	"\t\tfi\n"
	"\t\tif [[ $w == -?* ]]; then\n"
	"\t\t\t[[ $w == *=* ]] && continue\n"
	"\t\t\tflag=$w\n"
	"\t\t\t_rexray_value \"$path\" \"$flag\" || continue\n"
	"\t\t\tif [[ ${COMP_WORDS[i+1]} == = ]]; then\n"
	"\t\t\t\tif ((i + 1 == COMP_CWORD)); then\n"
	"\t\t\t\t\tvalflag=$flag cur=\n"
	"\t\t\t\t\tbreak\n"
	"\t\t\t\tfi\n"
	"\t\t\t\t((i += 2))\n"
	"\t\t\telse\n"
	"\t\t\t\t((i += 1))\n"
	"\t\t\tfi\n"
	"\t\t\tif ((i >= COMP_CWORD)); then\n"
	"\t\t\t\tvalflag=$flag\n"
	"\t\t\t\tbreak\n"
	"\t\t\tfi\n"
	"\t\t\t# bash splits a value at ':' (unix:///s.sock): glue it back\n"
	"\t\t\tw=${COMP_WORDS[i]}\n"
	"\t\t\twhile ((i + 2 < COMP_CWORD)) && [[ ${COMP_WORDS[i+1]} == : ]]; do\n"
	"\t\t\t\tw+=:${COMP_WORDS[i+2]}\n"
	"\t\t\t\t((i += 2))\n"
	"\t\t\tdone\n"
	"\t\t\tcase $flag in\n"
	"\t\t\t-c | --config | -s | --service | -h | --host)\n"
	"\t\t\t\t[[ $w == '~/'* ]] && w=$HOME/${w#'~/'}\n"
	"\t\t\t\tpre+=(\"$flag\" \"$w\") ;;\n"
	"\t\t\tesac\n"
	"\t\t\tcontinue\n"
	"\t\tfi\n"
	"\t\tif [[ -z $path ]]; then\n"
	"\t\t\t_rexray_top \"$w\"\n"
	"\t\t\tpath=${REPLY:-?}\n"
	"\t\t\t_rexray_words \"$path\"\n"
	"\t\t\t[[ -n $REPLY ]] && group=1\n"
	"\t\telif [[ -n $group ]]; then\n"
	"\t\t\tgroup=\n"
	"\t\t\t_rexray_sub \"$path\" \"$w\"\n"
	"\t\t\tif [[ -n $REPLY ]]; then path=$REPLY; else args+=(\"$w\"); fi\n"
	"\t\telse\n"
	"\t\t\targs+=(\"$w\")\n"
	"\t\tfi\n"
	"\tdone\n"
	"\n"
	"\tif [[ -n $valflag ]]; then\n"
	"\t\t_rexray_value \"$path\" \"$valflag\"\n"
	"\t\t_rexray_offer \"$REPLY\"\n"
	"\telif [[ $cur == --*=* ]]; then\n"
	"\t\t# --flag=value in one word (a COMP_WORDBREAKS without =)\n"
	"\t\tflag=${cur%%=*}\n"
	"\t\tcur=${cur#*=}\n"
	"\t\t_rexray_value \"$path\" \"$flag\" && _rexray_offer \"$REPLY\"\n"
	"\t\tCOMPREPLY=(\"${COMPREPLY[@]/#/$flag=}\")\n"
	"\telif [[ $cur == -* ]]; then\n"
	"\t\t_rexray_flags \"$path\"\n"
	"\t\t_rexray_reply \"$REPLY $_rexray_global_flags\"\n"
	"\telif [[ -z $path ]]; then\n"
	"\t\t_rexray_words ''\n"
	"\t\t_rexray_reply \"$REPLY\"\n"
	"\telif [[ -n $group ]]; then\n"
	"\t\t_rexray_words \"$path\"\n"
	"\t\t_rexray_reply \"$REPLY\"\n"
	"\telse\n"
	"\t\t_rexray_args \"$path\"\n"
	"\t\t[[ -n $REPLY ]] && _rexray_offer \"$REPLY\"\n"
	"\tfi\n"
	"\treturn 0\n"
	"}\n"
	"\n"
	"complete -F _rexray rexray\n";

/* _rexray_top WORD: REPLY := the command path a first word names. */
static void emit_top(FILE *out)
{
	struct cli_command c;

	fputs("# REPLY := the command a first word names (\"volume\" for \"vol\")\n"
	      "_rexray_top()\n{\n\tcase $1 in\n", out);
	for (size_t i = 0; cli_command_at(i, &c); i++) {
		if (!strchr(c.path, ' ')) {
			fprintf(out, "\t'%s'", c.path);
			put_aliases(out, c.aliases, "|", "|", NULL);
			fprintf(out, ") REPLY='%s' ;;\n", c.path);
		} else if (strncmp(c.path, "service ", 8) == 0 && c.aliases) {
			/* as help.c's find(): a service command's alias is a top-level command */
			put_aliases(out, c.aliases, "\t", "|", NULL);
			fprintf(out, ") REPLY='%s' ;;\n", c.path);
		}
	}
	fputs("\t*) REPLY= ;;\n\tesac\n}\n\n", out);
}

/* _rexray_sub PATH WORD: REPLY := the subcommand path WORD names in PATH. */
static void emit_sub(FILE *out)
{
	struct cli_command c;

	fputs("# REPLY := the subcommand a word names (\"volume ls\" for \"volume l\")\n"
	      "_rexray_sub()\n{\n\tcase \"$1 $2\" in\n", out);
	for (size_t i = 0; cli_command_at(i, &c); i++) {
		const char *sp = strchr(c.path, ' ');
		if (!sp)
			continue;
		fprintf(out, "\t'%s'", c.path);
		for (const char *a = c.aliases; a && *a;) {
			size_t l = strcspn(a, ", ");
			if (strlen(sp + 1) != l || strncmp(a, sp + 1, l) != 0)
				fprintf(out, "|'%.*s %.*s'", (int)(sp - c.path), c.path, (int)l, a);
			a += l;
			a += strspn(a, ", ");
		}
		fprintf(out, ") REPLY='%s' ;;\n", c.path);
	}
	fputs("\t*) REPLY= ;;\n\tesac\n}\n\n", out);
}

/* _rexray_words PATH: REPLY := the commands ('' the top level) or the
 * subcommands of a group, aliases included; '' for a command that has none. */
static void emit_words(FILE *out)
{
	struct cli_command c, s;

	fputs("# REPLY := the commands (PATH '') or a group's subcommands, with aliases\n"
	      "_rexray_words()\n{\n\tcase $1 in\n\t'')\n\t\tREPLY='", out);
	for (size_t i = 0, n = 0; cli_command_at(i, &c); i++) {
		if (!strchr(c.path, ' ')) {
			fprintf(out, "%s%s", n++ ? " " : "", c.path);
			put_aliases(out, c.aliases, " ", " ", NULL);
		} else if (strncmp(c.path, "service ", 8) == 0) {
			put_aliases(out, c.aliases, " ", " ", NULL);
		}
	}
	fputs("' ;;\n", out);
	for (size_t i = 0; cli_command_at(i, &c); i++) {
		size_t l = strlen(c.path);
		if (strchr(c.path, ' ') || !is_group(c.path))
			continue;
		fprintf(out, "\t'%s')\n\t\tREPLY='", c.path);
		for (size_t j = 0, n = 0; cli_command_at(j, &s); j++) {
			if (strncmp(s.path, c.path, l) != 0 || s.path[l] != ' ')
				continue;
			fprintf(out, "%s%s", n++ ? " " : "", last_word(s.path));
			put_aliases(out, s.aliases, " ", " ", last_word(s.path));
		}
		fputs("' ;;\n", out);
	}
	fputs("\t*) REPLY= ;;\n\tesac\n}\n\n", out);
}

/* _rexray_flags PATH: REPLY := the command's own flags. */
static void emit_flags(FILE *out)
{
	struct cli_command c;
	struct emit em = { out, NULL, 0 };

	fputs("# REPLY := the flags of a command (the global ones aside)\n"
	      "_rexray_flags()\n{\n\tcase $1 in\n", out);
	for (size_t i = 0; cli_command_at(i, &c); i++) {
		if (!c.flags)
			continue;
		fprintf(out, "\t'%s')\n\t\tREPLY='", c.path);
		em.n = 0;
		each_flag(c.flags, emit_name, &em);
		fputs("' ;;\n", out);
	}
	fputs("\t*) REPLY= ;;\n\tesac\n}\n\n", out);
}

/* _rexray_value PATH FLAG: status 1 when FLAG takes no value; else REPLY :=
 * what its value may be (words, @kind, or '' for anything). */
static void emit_value(FILE *out, const char *globals)
{
	struct cli_command c;
	struct emit em = { out, NULL, 0 };

	fputs("# status 1 when a flag takes no value; else REPLY := the values\n"
	      "_rexray_value()\n{\n\tcase \"$1 $2\" in\n", out);
	for (size_t i = 0; cli_command_at(i, &c); i++) {
		em.path = c.path;
		each_flag(c.flags, emit_value_case, &em);
	}
	fputs("\t*)\n\t\tcase $2 in\n", out);
	em.path = NULL;
	each_flag(globals, emit_value_case, &em);
	fputs("\t\t*) return 1 ;;\n\t\tesac ;;\n\tesac\n\treturn 0\n}\n\n", out);
}

/* _rexray_args PATH: REPLY := what the command's arguments are. */
static void emit_args(FILE *out)
{
	struct cli_command c;

	fputs("# REPLY := what a command's arguments are (@volume, @file, @help, words)\n"
	      "_rexray_args()\n{\n\tcase $1 in\n", out);
	for (size_t i = 0; cli_command_at(i, &c); i++) {
		if (is_group(c.path))
			continue;
		fprintf(out, "\t'%s') REPLY='", c.path);
		put_args_kind(out, &c);
		fputs("' ;;\n", out);
	}
	fputs("\t*) REPLY= ;;\n\tesac\n}\n\n", out);
}

static int print_bash(FILE *out)
{
	char *globals = global_flag_lines();
	struct emit em = { out, NULL, 0 };
	const char *drivers = driver_names();

	if (!globals) {
		fprintf(stderr, "rexray: completion: out of memory\n");
		return 1;
	}
	fputs(script_head, out);
	fputs("_rexray_global_flags='", out);
	each_flag(globals, emit_name, &em);
	fputs(" '\n_rexray_levels='", out);
	for (int l = LOG_PANIC; l <= LOG_DEBUG; l++)
		fprintf(out, "%s%s", l == LOG_PANIC ? "" : " ", log_level_name((enum log_level)l));
	fputs("'\n_rexray_drivers='", out);
	for (const char *d = drivers; *d; d++)
		if (*d != ',')
			fputc(*d, out);
	fputs("'\n\n", out);
	emit_top(out);
	emit_sub(out);
	emit_words(out);
	emit_flags(out);
	emit_value(out, globals);
	emit_args(out);
	fputs(script_main, out);
	free(globals);
	return 0;
}

/* completion list: PATH<TAB>ALIASES<TAB>FLAGS, one command a line. */
static int print_list(FILE *out)
{
	struct cli_command c;
	struct emit em = { out, NULL, 0 };

	for (size_t i = 0; cli_command_at(i, &c); i++) {
		fprintf(out, "%s\t", c.path);
		put_aliases(out, c.aliases, "", " ", NULL);
		fputs("\t", out);
		em.n = 0;
		each_flag(c.flags, emit_name, &em);
		fputs("\n", out);
	}
	return 0;
}

/* A usage error: what was wrong, and the shells there are. Returns 2. */
static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rexray: completion: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; expected one of:");
	for (size_t i = 0; shells[i]; i++)
		fprintf(stderr, " %s", shells[i]);
	fprintf(stderr, " (see rexray help completion)\n");
	return 2;
}

int cli_completion(const char *shell, struct cli_args *a)
{
	if (!shell)
		return usage("no shell given");
	if (a && a->n_words > 2)
		return usage("one shell only, after '%s'", shell);
	if (strcmp(shell, "bash") == 0)
		return print_bash(stdout);
	if (strcmp(shell, "list") == 0)
		return print_list(stdout);
	return usage("unknown shell '%s'", shell);
}
