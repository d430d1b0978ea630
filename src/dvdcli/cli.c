/*
 * dvdcli: the command line (dvdcli.h says what it is). The call sequences
 * and outputs are those of dvdcli 0.2's commands.go; the differences are
 * listed in docs/dvdcli.md.
 */
#include "dvdcli/dvdcli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "volplugin/volplugin.h"
#include "util/log.h"
#include "util/version.h"

#define MAX_TIMEOUT_S 86400.0

static const char usage_text[] =
    "dvdcli: a Docker volume driver CLI (rexray-c)\n"
    "\n"
    "Usage:\n"
    "  dvdcli <command> [flags]\n"
    "\n"
    "Commands:\n"
    "  mount     get the volume (create it unless --explicitcreate), mount it,\n"
    "            print its mountpoint\n"
    "  unmount   unmount the volume\n"
    "  path      print the volume's mountpoint (nothing when not mounted)\n"
    "  get       print the volume's name if the plugin has it\n"
    "  list      print the plugin's volumes, one name per line\n"
    "  create    create the volume\n"
    "  remove    remove the volume\n"
    "  version   print the version\n"
    "  help      print this help\n"
    "\n"
    "Flags (before or after the command):\n"
    "  --volumedriver=NAME     the Docker volume plugin (all but version)\n"
    "  --volumename=NAME       the volume (all but list and version)\n"
    "  --volumeopts=K=V[,K=V]  create and mount options; repeatable\n"
    "  --explicitcreate[=BOOL] mount: fail when the volume does not exist\n"
    "  --timeout=SECONDS       bound each plugin call (default 120)\n"
    "  -h, --help              print this help\n"
    "\n"
    "Exit status: 0 ok, 1 failed, 2 usage error. Results go to stdout, logs to stderr.\n";

/* ---- logging: logrus's text format on stderr ---- */

/* logrus writes a value bare only when it is made of these */
static bool bare_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.';
}

/* Append s to buf (at *len, bounded by sz) bare or quoted as Go's %q would. */
static void put_value(char *buf, size_t sz, size_t *len, const char *s)
{
	bool bare = true;

#define PUT(...)                                                                     \
	do {                                                                         \
		if (*len < sz)                                                       \
			*len += (size_t)snprintf(buf + *len, sz - *len, __VA_ARGS__); \
	} while (0)
	for (const char *c = s; *c; c++)
		bare = bare && bare_char(*c);
	if (bare) {
		PUT("%s", s);
		return;
	}
	PUT("\"");
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			PUT("\\%c", *c);
		else if (*c == '\n')
			PUT("\\n");
		else if (*c == '\t')
			PUT("\\t");
		else if (*c == '\r')
			PUT("\\r");
		else if (*c < 0x20 || *c == 0x7f)
			PUT("\\x%02x", *c);
		else
			PUT("%c", *c);
	}
	PUT("\"");
#undef PUT
}

static const char *level_word(enum log_level lvl)
{
	switch (lvl) {
	case LOG_DEBUG:
		return "debug";
	case LOG_INFO:
		return "info";
	case LOG_WARN:
		return "warning"; /* logrus's word */
	case LOG_ERROR:
		return "error";
	default:
		return "fatal";
	}
}

/* time="..." level=... msg=... [key=value]: one write per line. */
static void dlog(enum log_level lvl, const char *key, const char *val, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void dlog(enum log_level lvl, const char *key, const char *val, const char *fmt, ...)
{
	char msg[1024], line[4096], stamp[40];
	size_t len = 0;
	struct tm tm;
	time_t now;
	va_list ap;

	if (lvl > log_get_level())
		return;
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	len = (size_t)snprintf(line, sizeof(line), "time=\"%s\" level=%s msg=", stamp,
			       level_word(lvl));
	put_value(line, sizeof(line) - 1, &len, msg);
	if (key && len < sizeof(line) - 1) {
		len += (size_t)snprintf(line + len, sizeof(line) - 1 - len, " %s=", key);
		put_value(line, sizeof(line) - 1, &len, val ? val : "");
	}
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	fwrite(line, 1, len, stderr);
}

/* The plugin client's retry warnings and debug lines, in the same format. */
static void plugin_log(enum log_level lvl, const char *msg)
{
	dlog(lvl, NULL, NULL, "%s", msg);
}

/* ---- --volumeopts ---- */

/*
 * One CSV field of s from *pos into field (as long as s); *more says a ','
 * followed, so another field (perhaps empty) comes. -EINVAL on a bad quote.
 */
static int csv_field(const char *s, size_t *pos, char *field, bool *more, struct err *e)
{
	const char *p = s + *pos;
	size_t n = 0;

	if (*p != '"') {
		/* unlike Go's strict csv, a quote inside a plain field is just a character */
		while (*p && *p != ',')
			field[n++] = *p++;
	} else {
		for (p++;; p++) {
			if (!*p)
				return err_set(e, -EINVAL,
					       "volume options '%.200s': missing closing '\"'", s);
			if (*p == '"' && p[1] == '"') {
				field[n++] = '"';
				p++;
			} else if (*p == '"') {
				p++;
				break;
			} else {
				field[n++] = *p;
			}
		}
		if (*p && *p != ',')
			return err_set(e, -EINVAL,
				       "volume options '%.200s': text after a closing '\"'", s);
	}
	field[n] = '\0';
	*more = *p == ',';
	*pos = (size_t)(p - s) + (*more ? 1 : 0);
	return 0;
}

static int opt_item(json_t *opts, char *item, struct err *e)
{
	char *eq = strchr(item, '=');
	json_t *v;

	if (!*item)
		return 0;
	if (!eq)
		return err_set(e, -EINVAL, "volume option '%.200s' has no '=' (expected key=value)",
			       item);
	if (eq == item)
		return err_set(e, -EINVAL, "volume option '%.200s' has an empty key", item);
	*eq = '\0';
	v = json_string(eq + 1);
	if (!v || json_object_set_new(opts, item, v) < 0)
		return err_set(e, -EINVAL, "volume option '%.200s' is not valid UTF-8", item);
	return 0;
}

int dvdcli_opts_add(json_t *opts, const char *value, struct err *e)
{
	size_t len = strlen(value), pos = 0;
	char *field;
	int r = 0;

	if (len == 0)
		return 0;
	field = malloc(len + 1);
	if (!field)
		return err_set(e, -ENOMEM, "out of memory");
	for (bool more = true; r == 0 && more;) {
		if ((r = csv_field(value, &pos, field, &more, e)) == 0)
			r = opt_item(opts, field, e);
	}
	free(field);
	return r;
}

/* ---- argv ---- */

enum flag_id { F_DRIVER, F_NAME, F_OPTS, F_EXPLICIT, F_TIMEOUT, F_HELP };

struct flag {
	const char *name;
	enum flag_id id;
	bool is_bool;
};

static const struct flag flag_table[] = {
	{ "volumedriver", F_DRIVER, false },  { "volumename", F_NAME, false },
	{ "volumeopts", F_OPTS, false },      { "explicitcreate", F_EXPLICIT, true },
	{ "explicitCreate", F_EXPLICIT, true }, /* the spelling of the README and the module */
	{ "timeout", F_TIMEOUT, false },      { "help", F_HELP, true },
};

struct command {
	const char *name;
	bool needs_driver;
	bool needs_name;
};

static const struct command command_table[] = {
	{ "mount", true, true },   { "unmount", true, true }, { "path", true, true },
	{ "get", true, true },	   { "list", true, false },   { "create", true, true },
	{ "remove", true, true },  { "version", false, false }, { "help", false, false },
};

static const struct command *command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(command_table) / sizeof(command_table[0]); i++) {
		if (strcmp(command_table[i].name, name) == 0)
			return &command_table[i];
	}
	return NULL;
}

static const struct flag *flag_find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(flag_table) / sizeof(flag_table[0]); i++) {
		const char *n = flag_table[i].name;

		if (strlen(n) == len && strncmp(n, name, len) == 0)
			return &flag_table[i];
	}
	return NULL;
}

/* strconv.ParseBool, which pflag uses */
static int parse_bool(const char *flag, const char *v, bool *out, struct err *e)
{
	static const char *const yes[] = { "1", "t", "T", "true", "TRUE", "True" };
	static const char *const no[] = { "0", "f", "F", "false", "FALSE", "False" };

	for (size_t i = 0; i < 6; i++) {
		if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0) {
			*out = strcmp(v, yes[i]) == 0;
			return 0;
		}
	}
	return err_set(e, -EINVAL, "invalid argument \"%.64s\" for --%s: expected true or false",
		       v, flag);
}

static int parse_timeout(const char *v, long *ms, struct err *e)
{
	char *end;
	double s;

	errno = 0;
	s = strtod(v, &end);
	if (!*v || *end || errno || !isfinite(s) || s <= 0 || s > MAX_TIMEOUT_S)
		return err_set(e, -EINVAL, "invalid argument \"%.64s\" for --timeout: expected "
			       "seconds, more than 0 and at most %.0f", v, MAX_TIMEOUT_S);
	/* round up: --timeout=0.0001 must not become "no time at all" */
	*ms = (long)(s * 1000);
	if ((double)*ms < s * 1000)
		(*ms)++;
	return 0;
}

static int set_flag(struct dvdcli_args *a, const struct flag *f, const char *v, struct err *e)
{
	switch (f->id) {
	case F_DRIVER:
		a->driver = v;
		return 0;
	case F_NAME:
		a->name = v;
		return 0;
	case F_OPTS:
		a->opts_given = true;
		return dvdcli_opts_add(a->opts, v, e);
	case F_EXPLICIT:
		a->explicit_given = true;
		return parse_bool(f->name, v, &a->explicit_create, e);
	case F_TIMEOUT:
		return parse_timeout(v, &a->timeout_ms, e);
	case F_HELP:
		return parse_bool(f->name, v, &a->help, e);
	}
	return 0;
}

/* "--name[=value]" at argv[*i]; a string flag without '=' takes the next argument. */
static int long_flag(int argc, char **argv, int *i, struct dvdcli_args *a, struct err *e)
{
	const char *arg = argv[*i] + 2, *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	const struct flag *f = flag_find(arg, len);

	if (!f)
		return err_set(e, -EINVAL, "unknown flag: --%.*s", (int)(len > 64 ? 64 : len), arg);
	if (eq)
		return set_flag(a, f, eq + 1, e);
	if (f->is_bool)
		return set_flag(a, f, "true", e);
	if (*i + 1 >= argc)
		return err_set(e, -EINVAL, "flag needs an argument: --%s", f->name);
	return set_flag(a, f, argv[++*i], e);
}

static int positional(struct dvdcli_args *a, const char *arg, struct err *e)
{
	if (!a->command) {
		a->command = arg;
		return 0;
	}
	if (strcmp(a->command, "help") == 0)
		return 0; /* "help mount": there is one help text */
	return err_set(e, -EINVAL, "unexpected argument \"%.64s\"", arg);
}

static int check_required(const struct dvdcli_args *a, struct err *e)
{
	const struct command *c;

	if (!a->command)
		return err_set(e, -EINVAL, "missing command");
	c = command_find(a->command);
	if (!c)
		return err_set(e, -EINVAL, "unknown command \"%.64s\" for \"dvdcli\"", a->command);
	if (c->needs_driver && (!a->driver || !*a->driver))
		return err_set(e, -EINVAL, "Missing volume driver name (--volumedriver)");
	if (c->needs_name && (!a->name || !*a->name))
		return err_set(e, -EINVAL, "missing volume name (--volumename)");
	return 0;
}

/* One argument at argv[*i] (a string flag may take the next one too). */
static int parse_arg(int argc, char **argv, int *i, bool *only_positional,
		     struct dvdcli_args *a, struct err *e)
{
	const char *arg = argv[*i];

	if (*only_positional || arg[0] != '-' || strcmp(arg, "-") == 0)
		return positional(a, arg, e);
	if (strcmp(arg, "--") == 0) {
		*only_positional = true;
		return 0;
	}
	if (strcmp(arg, "-h") == 0) {
		a->help = true;
		return 0;
	}
	if (arg[1] == '-')
		return long_flag(argc, argv, i, a, e);
	return err_set(e, -EINVAL, "unknown shorthand flag: '%c' in %.64s", arg[1], arg);
}

int dvdcli_parse(int argc, char **argv, struct dvdcli_args *a, struct err *e)
{
	bool only_positional = false;
	int r;

	memset(a, 0, sizeof(*a));
	a->timeout_ms = DVDCLI_DEFAULT_TIMEOUT_S * 1000L;
	a->opts = json_object();
	if (!a->opts)
		return err_set(e, -ENOMEM, "out of memory");
	for (int i = 1; i < argc; i++) {
		if ((r = parse_arg(argc, argv, &i, &only_positional, a, e)) < 0)
			return r;
	}
	if (a->command && strcmp(a->command, "help") == 0)
		a->help = true;
	return a->help ? 0 : check_required(a, e);
}

void dvdcli_args_release(struct dvdcli_args *a)
{
	json_decref(a->opts);
	a->opts = NULL;
}

/* ---- output ---- */

/* One result line on stdout; a result the caller cannot read is a failure. */
static int emit(const char *line)
{
	if (printf("%s\n", line) < 0 || fflush(stdout) != 0) {
		dlog(LOG_ERROR, NULL, NULL, "cannot write to stdout: %s", strerror(errno));
		return DVDCLI_EXIT_FAIL;
	}
	return DVDCLI_EXIT_OK;
}

/* "2024-05-01T10:00:00Z" -> "Wed, 01 May 2024 10:00:00 UTC" (Go's RFC1123). */
static void formed_rfc1123(char *out, size_t sz)
{
	const char *formed = version_formed();
	struct tm tm = { 0 };
	const char *end = strptime(formed, "%Y-%m-%dT%H:%M:%SZ", &tm);

	if (!end || *end || strftime(out, sz, "%a, %d %b %Y %H:%M:%S UTC", &tm) == 0)
		snprintf(out, sz, "%s", formed);
}

static int cmd_version(void)
{
	char exe[PATH_MAX], formed[64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	exe[n > 0 ? n : 0] = '\0';
	formed_rfc1123(formed, sizeof(formed));
	printf("Binary: %s\n", n > 0 ? exe : "dvdcli");
	printf("SemVer: %s\n", RR_SEMVER);
	printf("OsArch: %s\n", version_osarch());
	printf("Branch: %s\n", version_branch());
	printf("Commit: %s\n", version_commit());
	printf("Formed: %s\n", formed);
	return fflush(stdout) == 0 ? DVDCLI_EXIT_OK : DVDCLI_EXIT_FAIL;
}

/* ---- the plugin commands ---- */

struct run {
	const struct dvdcli_args *a;
	struct volplugin *p;
};

/* Failures of the named volume carry volumeName=..., as the original's do. */
static int fail_vol(const struct run *c, const struct err *e)
{
	dlog(LOG_ERROR, "volumeName", c->a->name, "%s", e->msg);
	return DVDCLI_EXIT_FAIL;
}

static int fail(const struct err *e)
{
	dlog(LOG_ERROR, NULL, NULL, "%s", e->msg);
	return DVDCLI_EXIT_FAIL;
}

/* Later calls name the volume as the plugin's Get did, like Docker's adapter. */
static const char *as_named(const char *vname, const char *name)
{
	return vname && *vname ? vname : name;
}

static int cmd_mount(const struct run *c)
{
	struct err e = ERR_INIT;
	char *vname = NULL, *mp = NULL;
	int rc = DVDCLI_EXIT_FAIL;

	if (volplugin_get(c->p, c->a->name, &vname, NULL, &e) < 0) {
		if (c->a->explicit_create) {
			rc = fail_vol(c, &e);
			goto out;
		}
		dlog(LOG_DEBUG, "volumeName", c->a->name, "creating the volume: %s", e.msg);
		err_clear(&e);
		if (volplugin_create(c->p, c->a->name, c->a->opts, &e) < 0) {
			rc = fail_vol(c, &e);
			goto out;
		}
	}
	if (volplugin_mount(c->p, as_named(vname, c->a->name), NULL, &mp, &e) < 0) {
		rc = fail(&e);
		goto out;
	}
	if (!*mp) {
		err_set(&e, -EIO, "VolumeDriver.Mount: the plugin returned an empty mountpoint");
		rc = fail(&e);
		goto out;
	}
	dlog(LOG_INFO, NULL, NULL, "%s", mp);
	rc = emit(mp);
out:
	free(vname);
	free(mp);
	return rc;
}

static int cmd_unmount(const struct run *c)
{
	struct err e = ERR_INIT;
	char *vname = NULL;
	int rc = DVDCLI_EXIT_OK;

	if (volplugin_get(c->p, c->a->name, &vname, NULL, &e) < 0)
		rc = fail_vol(c, &e);
	else if (volplugin_unmount(c->p, as_named(vname, c->a->name), NULL, &e) < 0)
		rc = fail(&e);
	free(vname);
	return rc;
}

static int cmd_path(const struct run *c)
{
	struct err e = ERR_INIT;
	char *vname = NULL, *mp = NULL;
	int rc = DVDCLI_EXIT_OK;

	if (volplugin_get(c->p, c->a->name, &vname, &mp, &e) < 0) {
		rc = fail_vol(c, &e);
		goto out;
	}
	if (!*mp) {
		/* the original ignores Path's error: no path is printed */
		free(mp);
		if (volplugin_path(c->p, as_named(vname, c->a->name), &mp, &e) < 0)
			dlog(LOG_DEBUG, "volumeName", c->a->name, "%s", e.msg);
	}
	if (mp && *mp) {
		dlog(LOG_INFO, NULL, NULL, "%s", mp);
		rc = emit(mp);
	}
out:
	free(vname);
	free(mp);
	return rc;
}

static int cmd_get(const struct run *c)
{
	struct err e = ERR_INIT;
	char *vname = NULL;
	int rc;

	if (volplugin_get(c->p, c->a->name, &vname, NULL, &e) < 0)
		rc = fail_vol(c, &e);
	else
		rc = emit(as_named(vname, c->a->name));
	free(vname);
	return rc;
}

static int cmd_list(const struct run *c)
{
	struct err e = ERR_INIT;
	char **names = NULL;
	int rc = DVDCLI_EXIT_OK;

	if (volplugin_list(c->p, &names, &e) < 0)
		return fail(&e);
	for (char **n = names; *n && rc == DVDCLI_EXIT_OK; n++)
		rc = emit(*n);
	volplugin_names_free(names);
	return rc;
}

static int cmd_create(const struct run *c)
{
	struct err e = ERR_INIT;

	if (volplugin_create(c->p, c->a->name, c->a->opts, &e) < 0)
		return fail_vol(c, &e);
	dlog(LOG_INFO, NULL, NULL, "%s", c->a->name);
	return DVDCLI_EXIT_OK;
}

static int cmd_remove(const struct run *c)
{
	struct err e = ERR_INIT;
	char *vname = NULL;
	int rc = DVDCLI_EXIT_OK;

	if (volplugin_get(c->p, c->a->name, &vname, NULL, &e) < 0 ||
	    volplugin_remove(c->p, as_named(vname, c->a->name), &e) < 0)
		rc = fail_vol(c, &e);
	free(vname);
	return rc;
}

/* Flags a command has no use for are ignored (the original refused them and did nothing). */
static void warn_unused(const struct dvdcli_args *a)
{
	bool takes_opts = strcmp(a->command, "mount") == 0 || strcmp(a->command, "create") == 0;

	if (a->opts_given && !takes_opts)
		dlog(LOG_WARN, NULL, NULL, "--volumeopts is ignored by %s", a->command);
	if (a->explicit_given && strcmp(a->command, "mount") != 0)
		dlog(LOG_WARN, NULL, NULL, "--explicitcreate is ignored by %s", a->command);
}

static int run_plugin_command(const struct dvdcli_args *a)
{
	static const struct {
		const char *name;
		int (*fn)(const struct run *c);
	} cmds[] = {
		{ "mount", cmd_mount }, { "unmount", cmd_unmount }, { "path", cmd_path },
		{ "get", cmd_get }, { "list", cmd_list }, { "create", cmd_create },
		{ "remove", cmd_remove },
	};
	struct volplugin_opts o = { .timeout_ms = a->timeout_ms, .log = plugin_log };
	struct err e = ERR_INIT;
	struct run c = { a, NULL };
	int rc = DVDCLI_EXIT_FAIL;

	warn_unused(a);
	if (volplugin_open(a->driver, &o, &c.p, &e) < 0) {
		dlog(LOG_ERROR, "volumeDriver", a->driver, "Error looking up volume plugin %s: %s",
		     a->driver, e.msg);
		return DVDCLI_EXIT_FAIL;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmds[i].name, a->command) == 0)
			rc = cmds[i].fn(&c);
	}
	volplugin_close(c.p);
	return rc;
}

static void set_log_level(void)
{
	const char *env = getenv("DVDCLI_LOG_LEVEL");
	enum log_level lvl = LOG_INFO;

	if (env && *env && log_level_parse(env, &lvl) < 0)
		lvl = LOG_INFO;
	log_set_level(lvl);
}

int dvdcli_main(int argc, char **argv)
{
	struct dvdcli_args a;
	struct err e = ERR_INIT;
	int rc;

	set_log_level();
	if (argc <= 1) {
		/* a bare "dvdcli" asks what it can do, as the original answered */
		fputs(usage_text, stdout);
		return DVDCLI_EXIT_OK;
	}
	if (dvdcli_parse(argc, argv, &a, &e) < 0) {
		fprintf(stderr, "Error: %s\nRun 'dvdcli --help' for usage.\n", e.msg);
		rc = e.code == -ENOMEM ? DVDCLI_EXIT_FAIL : DVDCLI_EXIT_USAGE;
	} else if (a.help) {
		fputs(usage_text, stdout);
		rc = DVDCLI_EXIT_OK;
	} else if (strcmp(a.command, "version") == 0) {
		rc = cmd_version();
	} else {
		rc = run_plugin_command(&a);
	}
	dvdcli_args_release(&a);
	return rc;
}
