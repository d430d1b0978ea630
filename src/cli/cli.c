#include "cli/cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/help.h"
#include "config/config.h"
#include "util/log.h"
#include "util/time.h"
#include "util/version.h"

enum flag_id {
	F_CONFIG, F_HOST, F_SERVICE, F_LOGLEVEL, F_HELP, F_FORMAT, F_QUIET, F_FORCE,
	F_FOREGROUND, F_NOPID, F_SIZE, F_IOPS, F_VOLTYPE, F_AZ, F_ATTACHED, F_AVAILABLE, F_PATH,
	F_VERBOSE, F_FSTYPE, F_OVERWRITEFS, F_CONTAINER_ID, F_ENV_FILE, F_RUNNING, F_TIMEOUT,
	F_BIND, F_KEY, F_ALG, F_EXP, F_VERIFY, F_ALL, F_VERSION, F_SNAPSHOTID, F_SNAPSHOTNAME,
	F_VOLUMEID, F_DESCRIPTION, F_RUNASYNC, F_DESTSNAPSHOTNAME, F_DESTREGION,
};

struct flag {
	const char *lng;
	char shrt;
	bool value;
	enum flag_id id;
};

static const struct flag flags[] = {
	{ "config", 'c', true, F_CONFIG },
	{ "host", 'h', true, F_HOST },
	{ "service", 's', true, F_SERVICE },
	{ "logLevel", 'l', true, F_LOGLEVEL },
	{ "help", '?', false, F_HELP },
	{ "verbose", 'v', false, F_VERBOSE },
	{ "format", 'f', true, F_FORMAT },
	{ "quiet", 'q', false, F_QUIET },
	{ "force", 0, false, F_FORCE },
	{ "foreground", 0, false, F_FOREGROUND },
	{ "nopid", 0, false, F_NOPID },
	{ "size", 0, true, F_SIZE },
	{ "iops", 0, true, F_IOPS },
	{ "volumeType", 0, true, F_VOLTYPE },
	{ "availabilityZone", 0, true, F_AZ },
	{ "attached", 0, false, F_ATTACHED },
	{ "available", 0, false, F_AVAILABLE },
	{ "path", 0, false, F_PATH },
	{ "fsType", 0, true, F_FSTYPE },
	{ "overwriteFS", 0, false, F_OVERWRITEFS },
	{ "container-id", 0, true, F_CONTAINER_ID },
	{ "env-file", 0, true, F_ENV_FILE },
	{ "running", 0, true, F_RUNNING },
	{ "timeout", 0, true, F_TIMEOUT },
	{ "bind", 0, false, F_BIND },
	{ "key", 0, true, F_KEY },
	{ "alg", 0, true, F_ALG },
	{ "exp", 0, true, F_EXP },
	{ "verify", 0, false, F_VERIFY },
	{ "all", 0, false, F_ALL },
	{ "version", 0, false, F_VERSION },
	/* the snapshot commands' (REX-Ray spells them in lower case; volume
	 * create's --snapshotID is the same flag: names match in any case) */
	{ "snapshotID", 0, true, F_SNAPSHOTID },
	{ "snapshotName", 0, true, F_SNAPSHOTNAME },
	{ "volumeID", 0, true, F_VOLUMEID },
	{ "description", 0, true, F_DESCRIPTION },
	{ "runAsync", 0, false, F_RUNASYNC },
	{ "destinationSnapshotName", 0, true, F_DESTSNAPSHOTNAME },
	{ "destinationRegion", 0, true, F_DESTREGION },
};

/* Which command the first word names; "service" for the top-level aliases. */
static bool service_alias(const char *w)
{
	return strcmp(w, "start") == 0 || strcmp(w, "stop") == 0 || strcmp(w, "status") == 0 ||
	       strcmp(w, "restart") == 0;
}

static const struct flag *find_flag(const char *arg, const char **inline_val)
{
	*inline_val = NULL;
	if (arg[1] == '-') {
		const char *name = arg + 2, *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
			if (strlen(flags[i].lng) == len && strncasecmp(flags[i].lng, name, len) == 0) {
				*inline_val = eq ? eq + 1 : NULL;
				return &flags[i];
			}
		}
		return NULL;
	}
	if (arg[1] && !arg[2]) {
		for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
			if (flags[i].shrt == arg[1])
				return &flags[i];
	}
	return NULL;
}

/* In `service start`, -f means --foreground (REX-Ray's meaning), not --format. */
static int parse_args(int argc, char **argv, struct cli_args *a, struct cfg *cfg,
		      const char **positional)
{
	bool service_cmd = false;

	memset(a, 0, sizeof(*a));
	a->args = positional;
	a->dashdash = -1;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = NULL;
		const struct flag *f;
		if (arg[0] != '-' || !arg[1] || strcmp(arg, "--") == 0) {
			if (strcmp(arg, "--") == 0) {
				a->dashdash = a->n_words;
				for (i++; i < argc; i++)
					positional[a->n_words++] = argv[i];
				break;
			}
			positional[a->n_words++] = arg;
			if (a->n_words == 1)
				service_cmd = strcmp(arg, "service") == 0 || service_alias(arg);
			continue;
		}
		f = find_flag(arg, &val);
		if (!f) {
			fprintf(stderr, "rexray: unknown flag '%s' (see rexray help)\n", arg);
			return -EINVAL;
		}
		if (f->id == F_FORMAT && service_cmd && arg[1] != '-') {
			a->foreground = true;
			continue;
		}
		if (f->value && !val) {
			if (i + 1 >= argc && f->id == F_HOST && arg[1] != '-') {
				fprintf(stderr, "rexray: -h is --host (as in REX-Ray) and needs an "
					"address; for help: rexray help, --help or -?\n");
				return -EINVAL;
			}
			if (i + 1 >= argc) {
				fprintf(stderr, "rexray: flag '%s' needs a value (see rexray help)\n",
					arg);
				return -EINVAL;
			}
			val = argv[++i];
		}
		switch (f->id) {
		case F_CONFIG: a->config_file = val; break;
		case F_HOST: cfg_set(cfg, cfg_keys[CFGK_HOST].name, val); break;
		case F_SERVICE: cfg_set(cfg, cfg_keys[CFGK_SERVICE].name, val); break;
		case F_LOGLEVEL: {
			enum log_level lvl;
			if (log_level_parse(val, &lvl) < 0) {
				fprintf(stderr, "rexray: --logLevel: invalid value '%s': expected panic, "
					"fatal, error, warn, info or debug\n", val);
				return -EINVAL;
			}
			cfg_set(cfg, cfg_keys[CFGK_REXRAY_LOGLEVEL].name, val);
			break;
		}
		case F_HELP: a->help = true; break;
		case F_VERBOSE: break;
		case F_FORMAT: a->format = val; break;
		case F_QUIET: a->quiet = true; break;
		case F_FORCE: a->force = true; break;
		case F_FOREGROUND: a->foreground = true; break;
		case F_NOPID: a->nopid = true; break;
		case F_SIZE: a->size = val; break;
		case F_IOPS: a->iops = val; break;
		case F_VOLTYPE: a->volume_type = val; break;
		case F_AZ: a->availability_zone = val; break;
		case F_ATTACHED: a->attached = true; break;
		case F_AVAILABLE: a->available = true; break;
		case F_PATH: a->path = true; break;
		case F_FSTYPE: a->fs_type = val; break;
		case F_OVERWRITEFS: a->overwrite_fs = true; break;
		case F_CONTAINER_ID: a->container_id = val; break;
		case F_ENV_FILE: a->env_file = val; break;
		case F_RUNNING: a->running = val; break;
		case F_TIMEOUT: a->timeout = val; break;
		case F_BIND: a->bind = true; break;
		case F_KEY: a->key = val; break;
		case F_ALG: a->alg = val; break;
		case F_EXP: a->exp = val; break;
		case F_VERIFY: a->verify = true; break;
		case F_ALL: a->all = true; break;
		case F_VERSION: a->version = true; break;
		case F_SNAPSHOTID: a->snapshot_id = val; break;
		case F_SNAPSHOTNAME: a->snapshot_name = val; break;
		case F_VOLUMEID: a->volume_id = val; break;
		case F_DESCRIPTION: a->description = val; break;
		case F_RUNASYNC: a->run_async = true; break;
		case F_DESTSNAPSHOTNAME: a->dest_snapshot_name = val; break;
		case F_DESTREGION: a->dest_region = val; break;
		}
	}
	for (int i = 0; i < a->n_words && i < 8; i++)
		a->words[i] = positional[i];
	return 0;
}

static int cmd_version(void)
{
	printf("REX-Ray\n-------\n");
	printf("Binary: rexray\n");
	printf("Flavor: client+agent+controller\n");
	printf("SemVer: %s\n", RR_SEMVER);
	printf("OsArch: %s\n", version_osarch());
	printf("Branch: %s\n", version_branch());
	printf("Commit: %s\n", version_commit());
	printf("Formed: %s\n", version_formed());
	return 0;
}

static void print_env_line(const char *key, const char *value, const char *env_name, void *arg)
{
	(void)key;
	(void)arg;
	printf("%s=%s\n", env_name, value);
}

/* env --all: every key of the table (patterns left out) at the root: its
 * variable, where its value comes from, the value (or the default). */
static void print_all_keys(const struct cfg *cfg)
{
	char env[256];
	int w = 3;

	for (size_t i = 0; i < CFGK_COUNT; i++)
		if (!cfg_key_is_pattern(&cfg_keys[i]) && (int)strlen(cfg_keys[i].name) > w)
			w = (int)strlen(cfg_keys[i].name);
	printf("%-*s  %-*s  %-7s  %s\n", w, "KEY", w, "VARIABLE", "SOURCE", "VALUE");
	for (size_t i = 0; i < CFGK_COUNT; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		const char *src, *v;
		if (cfg_key_is_pattern(k))
			continue;
		cfg_env_name(k->name, env, sizeof(env));
		src = cfg_source(cfg, k->name);
		v = src ? cfg_key_get(cfg, (enum cfg_key_id)i) : k->def;
		printf("%-*s  %-*s  %-7s  %s\n", w, k->name, w, env, src ? src : "default",
		       v ? v : "");
	}
}

static int cmd_env(struct engine *en, const struct cli_args *a)
{
	if (a->all) {
		print_all_keys(en->cfg);
		return 0;
	}
	printf("REXRAY_HOME_ETC=%s\n", en->paths.etc);
	printf("REXRAY_HOME_LIB=%s\n", en->paths.lib);
	printf("REXRAY_HOME_LOG=%s\n", en->paths.log);
	printf("REXRAY_HOME_RUN=%s\n", en->paths.run);
	printf("REXRAY_LOGLEVEL=%s\n", log_level_name(log_get_level()));
	cfg_foreach(en->cfg, print_env_line, NULL);
	/* not a key: where the commands of this shell go */
	{
		char target[512];
		printf("REXRAY_ENGINE=%s\n", engine_target(en, target, sizeof(target))
			? target : "embedded (no engine runs: each command serves itself)");
	}
	return 0;
}

static int cmd_service(struct engine *en, const char *sub, struct cli_args *a)
{
	struct err e = ERR_INIT;
	long pid;

	if (!sub) {
		fprintf(stderr, "rexray: service: give start, stop, status or restart (see rexray "
			"help service)\n");
		return 2;
	}
	if (strcmp(sub, "start") == 0) {
		if (engine_serve(en, a->nopid, a->force, &e) < 0) {
			cli_error("service start", &e);
			return 1;
		}
		return 0;
	}
	pid = engine_running_pid(en);
	if (strcmp(sub, "status") == 0) {
		if (!pid) {
			printf("REX-Ray is stopped (commands serve themselves)\n");
			return 3;
		}
		printf("REX-Ray is running at PID %ld\n", pid);
		{
			char target[512];
			if (engine_target(en, target, sizeof(target)))
				printf("Commands talk to it at %s\n", target);
		}
		return 0;
	}
	if (strcmp(sub, "stop") == 0 || strcmp(sub, "restart") == 0) {
		if (!pid) {
			printf("REX-Ray is already stopped\n");
		} else {
			int waited = 0;
			kill((pid_t)pid, SIGTERM);
			/* wait up to 15 s for a clean exit */
			while (engine_process_alive(pid) && waited++ < 300)
				time_sleep_ms(50);
			if (engine_process_alive(pid)) {
				fprintf(stderr, "rexray: service stop: pid %ld did not exit within "
					"15 s\n", pid);
				return 1;
			}
			printf("Shut down REX-Ray (PID %ld)\n", pid);
		}
		if (strcmp(sub, "restart") == 0)
			return cmd_service(en, "start", a);
		return 0;
	}
	return cli_unknown("service", sub, cli_subcommands("service"));
}

static int run(struct engine *en, struct cli_args *a)
{
	const char *cmd = a->words[0];
	struct err e = ERR_INIT;
	int first_arg = 2;

	if (a->help)
		return cli_help(a->words, a->n_words < 8 ? a->n_words : 8, stdout);
	if (a->version)
		return cmd_version();
	if (!cmd) {
		cli_help(NULL, 0, stderr);
		return 2;
	}
	if (strcmp(cmd, "help") == 0)
		return cli_help(a->words + 1, a->n_words < 8 ? a->n_words - 1 : 7, stdout);
	if (strcmp(cmd, "version") == 0)
		return cmd_version();
	if (strcmp(cmd, "env") == 0)
		return cmd_env(en, a);
	if (service_alias(cmd))
		return cmd_service(en, cmd, a);
	if (strcmp(cmd, "service") == 0)
		return cmd_service(en, a->words[1], a);
	if (strcmp(cmd, "token") == 0) {
		a->args += first_arg;
		a->n_args = a->n_words > first_arg ? a->n_words - first_arg : 0;
		return cli_token(en, a->words[1], a);
	}
	if (strcmp(cmd, "install") == 0 || strcmp(cmd, "uninstall") == 0)
		return cli_install(en, cmd, a);
	if (strcmp(cmd, "completion") == 0)
		return cli_completion(a->words[1], a);
	if (strcmp(cmd, "dvdi") == 0) {
		a->args += first_arg;
		a->n_args = a->n_words > first_arg ? a->n_words - first_arg : 0;
		return cli_dvdi(en, a->words[1], a);
	}
	if (strcmp(cmd, "volume") == 0 || strcmp(cmd, "volumes") == 0 || strcmp(cmd, "vol") == 0) {
		/* a typo is told before anything is opened or started */
		if (a->words[1] && !cli_is_one_of(a->words[1], cli_subcommands("volume")))
			return cli_unknown("volume", a->words[1], cli_subcommands("volume"));
		a->args += first_arg;
		a->n_args = a->n_words > first_arg ? a->n_words - first_arg : 0;
		if (engine_connect(en, &e) < 0) {
			cli_error("volume", &e);
			return 1;
		}
		return cli_volume(en, a->words[1], a);
	}
	if (strcmp(cmd, "snapshot") == 0 || strcmp(cmd, "snapshots") == 0 ||
	    strcmp(cmd, "snap") == 0) {
		if (a->words[1] && !cli_is_one_of(a->words[1], cli_subcommands("snapshot")))
			return cli_unknown("snapshot", a->words[1], cli_subcommands("snapshot"));
		a->args += first_arg;
		a->n_args = a->n_words > first_arg ? a->n_words - first_arg : 0;
		if (engine_connect(en, &e) < 0) {
			cli_error("snapshot", &e);
			return 1;
		}
		return cli_snapshot(en, a->words[1], a);
	}
	return cli_unknown(NULL, cmd, cli_subcommands(NULL));
}

const int cli_term_signals[4] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT };

void cli_term_signals_mask(int how)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(cli_term_signals) / sizeof(cli_term_signals[0]); i++)
		sigaddset(&set, cli_term_signals[i]);
	sigprocmask(how, &set, NULL);
}

/* Does argv ask for `dvdi run` (the words in order, flags between)? */
static bool asks_for_dvdi_run(int argc, char **argv)
{
	int i = 1;

	while (i < argc && strcmp(argv[i], "dvdi") != 0 && strcmp(argv[i], "--") != 0)
		i++;
	while (++i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0)
		;
	return i < argc && strcmp(argv[i], "run") == 0;
}

static bool needs_no_engine(const struct cli_args *a)
{
	static const char *const words[] = { "config", "help", "version", "completion", NULL };

	return a->help || a->version || !a->words[0] || cli_is_one_of(a->words[0], words);
}

int cli_main(int argc, char **argv)
{
	/* every word could be positional: one slot each */
	const char **positional = calloc((size_t)argc + 1, sizeof(*positional));
	struct cli_args a;
	struct engine en;
	struct err e = ERR_INIT;
	struct cfg *cfg = cfg_new();
	int rc;

	if (asks_for_dvdi_run(argc, argv))
		cli_dvdi_guard_signals();
	if (!cfg || !positional) {
		fprintf(stderr, "rexray: out of memory\n");
		cfg_free(cfg);
		free(positional);
		return 1;
	}
	if (parse_args(argc, argv, &a, cfg, positional) < 0) {
		cfg_free(cfg);
		free(positional);
		return 2;
	}
	/* what needs no configuration works with a broken one: help, the
	 * version, completion; and a file the engine would refuse can still
	 * be checked and shown */
	if (needs_no_engine(&a)) {
		rc = a.words[0] && strcmp(a.words[0], "config") == 0 && !a.help
			     ? cli_config(cfg, a.words[1], &a) : run(NULL, &a);
		cfg_free(cfg);
		free(positional);
		return rc;
	}
	if (engine_init(&en, cfg, a.config_file, &e) < 0) {
		fprintf(stderr, "rexray: %s\n", e.msg); /* the message names the file and key */
		engine_release(&en);
		free(positional);
		return 1;
	}
	rc = run(&en, &a);
	engine_release(&en);
	free(positional);
	return rc;
}
