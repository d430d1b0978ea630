#include "cli/help.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct cmd_help {
	const char *path;    /* "volume create" */
	const char *aliases; /* shown as is; NULL when none */
	const char *usage;
	const char *summary;
	const char *flags;   /* one flag per line, indented; NULL when none */
	const char *example;
};

#define OUTPUT_FLAGS                                                                       \
	"  -f, --format tmpl|json|jsonp  output as a table (default), JSON, pretty JSON\n" \
	"  -q, --quiet                 only the volume names, one per line\n"

#define SNAPSHOT_OUTPUT_FLAGS                                                              \
	"  -f, --format tmpl|json|jsonp  output as a table (default), JSON, pretty JSON\n" \
	"  -q, --quiet                 only the snapshot IDs, one per line\n"

#define RUNASYNC_FLAG                                                                      \
	"  --runasync                  accepted for REX-Ray's scripts: every operation\n"  \
	"                              finishes before the command returns\n"

static const struct cmd_help cmds[] = {
	{ "volume", "volumes, vol", "rexray volume COMMAND [flags] [VOLUME...]",
	  "Manage volumes: ls, inspect, create, rm, attach, detach, mount, unmount, copy,\n"
	  "resize. Without a command, ls.",
	  NULL, "rexray volume ls" },
	{ "volume ls", "l, list, get", "rexray volume ls [flags] [VOLUME...]",
	  "List the volumes.\n"
	  "All of them, or those named: by ID or name, exact, then in any case, then by a\n"
	  "unique prefix.",
	  "  --attached                  only volumes attached to this host\n"
	  "  --available                 only volumes attached nowhere\n"
	  "  --path                      add each volume's mount path on this host\n" OUTPUT_FLAGS,
	  "rexray volume ls --path -f json" },
	{ "volume inspect", NULL, "rexray volume inspect [flags] [VOLUME...]",
	  "Show everything known of volumes.\n"
	  "Size, filesystem, device and image, attachments, mount path, use counts per\n"
	  "caller, creation time.",
	  "  -f, --format tmpl|json|jsonp  as text (default), JSON, pretty JSON\n",
	  "rexray volume inspect data1" },
	{ "volume create", "c, n, new", "rexray volume create [flags] NAME...",
	  "Create volumes.\n"
	  "Unset flags take the configured create.default.* values.",
	  "  --size SIZE                 GiB: 10, 10G, 10GiB; or 512M/512MiB (rounded up\n"
	  "                              to whole GiB)\n"
	  "  --iops N                    provisioned IOPS (drivers that have them)\n"
	  "  --volumeType T              the driver's volume type\n"
	  "  --availabilityZone Z        the driver's availability zone\n"
	  "  --snapshotID SNAPSHOT       make the volume from a snapshot (ID or name); its\n"
	  "                              size unless --size, which may only be larger\n"
	  OUTPUT_FLAGS,
	  "rexray volume create --size 10G data1" },
	{ "volume rm", "r, remove, delete, del", "rexray volume rm [--force] VOLUME...",
	  "Remove volumes.\n"
	  "By exact ID or name, never a prefix. A volume attached elsewhere is refused\n"
	  "unless --force; a mounted one always.",
	  "  --force                     remove even when attached\n", "rexray volume rm data1" },
	{ "volume attach", "a", "rexray volume attach [--force] VOLUME...",
	  "Attach volumes to this host.\n"
	  "Volumes already attached here are skipped.",
	  "  --force                     take the volume from another host\n" OUTPUT_FLAGS,
	  "rexray volume attach data1" },
	{ "volume detach", "d", "rexray volume detach [--force] VOLUME...",
	  "Detach volumes from this host.\n"
	  "A volume mounted here is refused: unmount it first.",
	  "  --force                     detach even from another host\n" OUTPUT_FLAGS,
	  "rexray volume detach data1" },
	{ "volume mount", "m", "rexray volume mount [flags] VOLUME...",
	  "Mount volumes on this host.\n"
	  "Attaches, formats on first use, mounts, and prints each mount path. A name no\n"
	  "volume has is created (create.implicit), and says so. Each mount counts one use:\n"
	  "unmount once for each.",
	  "  --fsType ext4|xfs           the filesystem to make on first use\n"
	  "  --overwriteFS               format even a formatted volume (loses its data)\n",
	  "rexray volume mount data1" },
	{ "volume unmount", "u, umount", "rexray volume unmount VOLUME...",
	  "Unmount volumes.\n"
	  "Gives back one use of each; the last unmounts and detaches it.", NULL,
	  "rexray volume unmount data1" },
	{ "volume copy", NULL, "rexray volume copy [flags] VOLUME NEWNAME",
	  "Copy a volume into a new one.\n"
	  "VOLUME by exact ID or name. The copy has its data as at one instant (a volume\n"
	  "mounted here is frozen for it), its size, type and options.",
	  OUTPUT_FLAGS, "rexray volume copy data1 data1-copy" },
	{ "volume resize", NULL, "rexray volume resize --size SIZE [flags] VOLUME",
	  "Grow a volume.\n"
	  "VOLUME by exact ID or name. A volume mounted here grows with its filesystem\n"
	  "(where the host allows it, else at its next mount); never smaller.",
	  "  --size SIZE                 the new size in GiB: 20, 20G, 20GiB, 1T\n" OUTPUT_FLAGS,
	  "rexray volume resize --size 20G data1" },
	{ "snapshot", "snapshots, snap", "rexray snapshot COMMAND [flags] [SNAPSHOT...]",
	  "Manage snapshots: ls, create, rm, copy.\n"
	  "A snapshot is a volume's data at one instant, kept apart from the volume: make\n"
	  "new volumes from it with volume create --snapshotID. Without a command, ls.",
	  NULL, "rexray snapshot ls" },
	{ "snapshot ls", "get, list", "rexray snapshot ls [flags] [SNAPSHOT...]",
	  "List the snapshots.\n"
	  "All of them, or those named: by ID or name, exact, then in any case, then by a\n"
	  "unique prefix.",
	  "  --volumeid VOLUME           only the snapshots of this volume (ID or name)\n"
	  SNAPSHOT_OUTPUT_FLAGS,
	  "rexray snapshot ls --volumeid data1" },
	{ "snapshot create", "new",
	  "rexray snapshot create --volumeid VOLUME [flags]",
	  "Take a snapshot of a volume.\n"
	  "VOLUME by exact ID or name. A volume mounted here is frozen for the instant it\n"
	  "takes; prints the new snapshot.",
	  "  --volumeid VOLUME           the volume (ID or name)\n"
	  "  --snapshotname NAME         the snapshot's name (default VOLUME-yyyymmddThhmmss,\n"
	  "                              in UTC)\n"
	  "  --description TEXT          kept with the snapshot\n" RUNASYNC_FLAG
	  SNAPSHOT_OUTPUT_FLAGS,
	  "rexray snapshot create --volumeid data1 --snapshotname data1-before-upgrade" },
	{ "snapshot rm", "remove", "rexray snapshot rm SNAPSHOT...",
	  "Remove snapshots.\n"
	  "By exact ID, or a name only one snapshot has. Volumes made from a snapshot\n"
	  "stay. Prints each removed ID; exit status 1 when any could not be removed.",
	  RUNASYNC_FLAG, "rexray snapshot rm loop-snap-000001" },
	{ "snapshot copy", NULL,
	  "rexray snapshot copy --snapshotid SNAPSHOT --destinationsnapshotname NAME",
	  "Copy a snapshot into a new one.\n"
	  "SNAPSHOT by exact ID or a name only one snapshot has (or as the argument).\n"
	  "Prints the new snapshot.",
	  "  --snapshotid SNAPSHOT       the snapshot to copy\n"
	  "  --destinationsnapshotname NAME  the copy's name\n"
	  "  --destinationregion REGION  only this service's name: a local service copies\n"
	  "                              within itself\n" RUNASYNC_FLAG SNAPSHOT_OUTPUT_FLAGS,
	  "rexray snapshot copy --snapshotid data1-before-upgrade "
	  "--destinationsnapshotname keep" },
	{ "service", NULL, "rexray service start|stop|status|restart [flags]",
	  "Run the engine, or control the one that runs.\n"
	  "The engine: the libStorage server, the Docker plugin, the fencing of leases.",
	  NULL, "rexray service start" },
	{ "service start", "start", "rexray service start [-f] [--nopid] [--force]",
	  "Start the engine in the foreground (as REX-Ray since 0.10).",
	  "  -f, --foreground            accepted for REX-Ray's scripts; always foreground\n"
	  "  --nopid                     write no PID file\n"
	  "  --force                     start even when the PID file names a live process\n",
	  "rexray service start" },
	{ "service stop", "stop", "rexray service stop",
	  "Stop the running engine (SIGTERM, then wait up to 15 s).", NULL,
	  "rexray service stop" },
	{ "service status", "status", "rexray service status",
	  "Say whether the engine runs; exit status 3 when it does not.", NULL,
	  "rexray service status" },
	{ "service restart", "restart", "rexray service restart",
	  "Stop the running engine, then start it.", NULL, "rexray service restart" },
	{ "dvdi", NULL, "rexray dvdi prepare|cleanup|recover|run [flags]",
	  "The Mesos DVDI volume lifecycle.\n"
	  "What mesos-module-dvdi runs, from DVDI_VOLUME_NAME, _DRIVER, _OPTS and\n"
	  "_CONTAINERPATH (numbered 1-9).",
	  NULL, "rexray dvdi prepare --container-id c1 --env-file task.env" },
	{ "dvdi prepare", NULL, "rexray dvdi prepare --container-id ID --env-file FILE",
	  "Mount a container's volumes; prints DVDI_VOLUME_MOUNTPOINT lines.",
	  "  --container-id ID           the container\n"
	  "  --env-file FILE             the DVDI_* variables, one NAME=value per line\n"
	  "  --timeout SECONDS           for each plugin call\n"
	  "  --bind                      bind each volume at its DVDI_VOLUME_CONTAINERPATH\n",
	  "rexray dvdi prepare --container-id c1 --env-file task.env" },
	{ "dvdi cleanup", NULL, "rexray dvdi cleanup --container-id ID",
	  "Unmount what prepare mounted for the container.",
	  "  --container-id ID           the container\n",
	  "rexray dvdi cleanup --container-id c1" },
	{ "dvdi recover", NULL, "rexray dvdi recover --running ID,ID,...",
	  "Unmount the volumes of containers that no longer run.\n"
	  "After an agent restart.",
	  "  --running IDS               the containers that still run, comma-separated\n",
	  "rexray dvdi recover --running c1,c2" },
	{ "dvdi run", NULL, "rexray dvdi run [--container-id ID] --env-file FILE -- COMMAND...",
	  "Prepare, run COMMAND, clean up (also on SIGTERM or SIGINT).",
	  "  --container-id ID           the container (default: a new one)\n"
	  "  --env-file FILE             the DVDI_* variables\n",
	  "rexray dvdi run --env-file task.env -- sh -c 'ls $DVDI_VOLUME_MOUNTPOINT'" },
	{ "token", NULL, "rexray token new|decode [flags]",
	  "Make or read the bearer tokens of libstorage.server.auth.", NULL,
	  "rexray token new --key secret alice" },
	{ "token new", "create, c, n", "rexray token new --key KEY [--alg A] [--exp D] SUBJECT",
	  "Make a signed JWT for SUBJECT.",
	  "  --key KEY                   the signing key\n"
	  "  --alg HS256|HS384|HS512     the algorithm (default HS256)\n"
	  "  --exp DURATION              lifetime (default 8760h)\n",
	  "rexray token new --key secret --exp 24h alice" },
	{ "token decode", "dec, d", "rexray token decode [--verify --key KEY [--alg A]] TOKEN",
	  "Show a token's claims; with --verify, check its signature and times too.",
	  "  --verify                    check the signature and the times\n"
	  "  --key KEY, --alg A          the key and algorithm to check with\n",
	  "rexray token decode --verify --key secret eyJhbGciOi..." },
	{ "env", NULL, "rexray env [--all]",
	  "Print the effective configuration.\n"
	  "As NAME=value lines, and whether commands talk to a running engine or serve\n"
	  "themselves.",
	  "  --all                       every known key: variable, source, value\n",
	  "rexray env --all" },
	{ "config", NULL, "rexray config check|show [FILE]",
	  "Check a configuration file, or show the effective configuration.", NULL,
	  "rexray config check /etc/rexray/config.yml" },
	{ "config check", NULL, "rexray config check [FILE]",
	  "Check a configuration file.\n"
	  "Every error with FILE:LINE:COL; exit status 0 when the file is good, 1 when not.",
	  NULL, "rexray config check /etc/rexray/config.yml" },
	{ "config show", NULL, "rexray config show [FILE]",
	  "Show the effective configuration.\n"
	  "Each set key, its value and where it came from: FILE:LINE, an environment\n"
	  "variable, a flag, or the default.",
	  "  -f, --format tmpl|json|jsonp  as text (default), JSON, pretty JSON\n",
	  "rexray config show" },
	{ "install", NULL, "rexray install",
	  "Install the systemd unit and a self-signed TLS pair.\n"
	  "For engines built from source; the Debian package does this itself.",
	  NULL, "rexray install" },
	{ "uninstall", NULL, "rexray uninstall",
	  "Remove what rexray install installed.", NULL, "rexray uninstall" },
	{ "completion", NULL, "rexray completion bash",
	  "Print the bash completion script.", NULL,
	  "source <(rexray completion bash)" },
	{ "version", NULL, "rexray version   (or rexray --version)", "Print the version.", NULL,
	  "rexray version" },
	{ "help", NULL, "rexray help [COMMAND...]", "Print the help of a command.", NULL,
	  "rexray help volume create" },
};

#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static const char overview[] =
	"rexray: persistent volumes for containers (REX-Ray / libStorage compatible)\n"
	"\n"
	"Usage: rexray [global flags] COMMAND [flags] [ARGS...]\n"
	"\n"
	"Commands:\n"
	"  volume      ls, inspect, create, rm, copy, resize, (de)attach, (un)mount\n"
	"  snapshot    ls, create, rm, copy: volumes' data at one instant\n"
	"  service     start, stop, status, restart (also as top-level commands)\n"
	"  dvdi        prepare, cleanup, recover, run: the Mesos DVDI lifecycle\n"
	"  token       new, decode: bearer tokens\n"
	"  env         the effective configuration\n"
	"  config      check, show: the configuration file and where each value comes from\n"
	"  install     install the systemd unit and a TLS pair (uninstall removes them)\n"
	"  completion  the bash completion script\n"
	"  version     the version\n"
	"  help        this help, or a command's: rexray help volume create\n"
	"\n"
	"Global flags (anywhere on the line):\n"
	"  -c, --config FILE           configuration file (default /etc/rexray/config.yml)\n"
	"  -h, --host ADDR             libStorage server: unix:///path.sock or tcp://host:port,\n"
	"                              or several, comma-separated, to fail over between\n"
	"                              (-h is --host, as in REX-Ray: help is --help or -?)\n"
	"  -s, --service NAME          libStorage service (loop, vfs, ...)\n"
	"  -l, --logLevel LEVEL        panic, fatal, error, warn (default), info, debug\n"
	"  -?, --help                  help of the command given\n"
	"      --version               the version\n"
	"\n"
	"Exit status: 0 done, 1 an operation failed, 2 a usage error, 3 service status of\n"
	"a stopped engine.\n";

bool cli_command_at(size_t i, struct cli_command *out)
{
	if (i >= N_CMDS)
		return false;
	out->path = cmds[i].path;
	out->aliases = cmds[i].aliases;
	out->usage = cmds[i].usage;
	out->flags = cmds[i].flags;
	return true;
}

/* The entry whose path is the first n words exactly (aliases included). */
static const struct cmd_help *find(const char *const *words, int n);

static bool alias_of(const struct cmd_help *c, const char *word)
{
	const char *a = c->aliases;
	size_t len = strlen(word);

	while (a && *a) {
		size_t l = strcspn(a, ",");
		if (l == len && strncmp(a, word, len) == 0)
			return true;
		a += l;
		while (*a == ',' || *a == ' ')
			a++;
	}
	return false;
}

/* Does c's path start with the words (a word may be an alias of its level)? */
static bool names(const struct cmd_help *c, const char *const *words, int n)
{
	const char *p = c->path;

	for (int i = 0; i < n; i++) {
		size_t l = strcspn(p, " ");
		bool last = p[l] == '\0';
		if (!((strlen(words[i]) == l && strncmp(p, words[i], l) == 0) ||
		      (last && alias_of(c, words[i]))))
			return false;
		if (last)
			return i == n - 1;
		p += l + 1;
	}
	return strchr(p, ' ') == NULL && *p == '\0';
}

static const struct cmd_help *find(const char *const *words, int n)
{
	for (size_t i = 0; i < N_CMDS; i++)
		if (names(&cmds[i], words, n))
			return &cmds[i];
	/* a top-level alias of a service command: "start" */
	if (n == 1)
		for (size_t i = 0; i < N_CMDS; i++)
			if (strncmp(cmds[i].path, "service ", 8) == 0 && alias_of(&cmds[i], words[0]))
				return &cmds[i];
	return NULL;
}

static void print(const struct cmd_help *c, FILE *out)
{
	fprintf(out, "Usage: %s\n\n%s\n", c->usage, c->summary);
	if (c->aliases)
		fprintf(out, "\nAliases: %s\n", c->aliases);
	/* the subcommands of a group */
	for (size_t i = 0, first = 1; i < N_CMDS; i++) {
		size_t l = strlen(c->path);
		if (strncmp(cmds[i].path, c->path, l) == 0 && cmds[i].path[l] == ' ') {
			if (first)
				fprintf(out, "\nCommands:\n");
			first = 0;
			fprintf(out, "  %-12s%.*s\n", cmds[i].path + l + 1,
				(int)strcspn(cmds[i].summary, "\n"), cmds[i].summary);
		}
	}
	if (c->flags)
		fprintf(out, "\nFlags:\n%s", c->flags);
	fprintf(out, "\nGlobal flags: -c FILE, -h ADDR (host), -s SERVICE, -l LEVEL (see rexray "
		     "help)\n\nExample:\n  %s\n", c->example);
}

int cli_help(const char *const *words, int n, FILE *out)
{
	const struct cmd_help *c = NULL;
	const char *w[2] = { NULL, NULL };
	int k;

	if (n == 0) {
		fputs(overview, out);
		return 0;
	}
	for (k = 0; k < 2 && k < n; k++)
		w[k] = words[k];
	if (strcmp(w[0], "volumes") == 0 || strcmp(w[0], "vol") == 0)
		w[0] = "volume";
	if (strcmp(w[0], "snapshots") == 0 || strcmp(w[0], "snap") == 0)
		w[0] = "snapshot";
	/* the longest path the words name; extra words (volume names) are fine */
	for (k = n < 2 ? n : 2; k > 0 && !(c = find(w, k)); k--)
		;
	if (k > 0) {
		print(c, out);
		return 0;
	}
	return cli_unknown(NULL, words[0], cli_subcommands(NULL));
}

const char *const *cli_subcommands(const char *command)
{
	static const char *const volume[] = { "ls", "l", "list", "get", "inspect", "create",
					       "c", "n", "new", "rm", "r", "remove",
					       "delete", "del", "attach", "a", "detach", "d",
					       "mount", "m", "unmount", "u", "umount", "copy",
					       "resize", NULL };
	static const char *const snapshot[] = { "ls", "get", "list", "create", "new", "rm",
						 "remove", "copy", NULL };
	static const char *const service[] = { "start", "stop", "status", "restart", NULL };
	static const char *const dvdi[] = { "prepare", "cleanup", "recover", "run", NULL };
	static const char *const token[] = { "new", "create", "c", "n", "decode", "dec", "d",
					      NULL };
	static const char *const top[] = { "volume", "snapshot", "service", "start", "stop", "status",
					    "restart", "dvdi", "token", "env", "config", "install",
					    "uninstall", "completion", "version", "help", NULL };
	static const char *const config[] = { "check", "show", NULL };

	if (!command)
		return top;
	if (strcmp(command, "volume") == 0)
		return volume;
	if (strcmp(command, "snapshot") == 0)
		return snapshot;
	if (strcmp(command, "service") == 0)
		return service;
	if (strcmp(command, "dvdi") == 0)
		return dvdi;
	if (strcmp(command, "token") == 0)
		return token;
	if (strcmp(command, "config") == 0)
		return config;
	return NULL;
}

bool cli_is_one_of(const char *w, const char *const *names)
{
	for (; w && names && *names; names++)
		if (strcmp(w, *names) == 0)
			return true;
	return false;
}

/* Levenshtein distance, ignoring case, of two short words. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];

	if (la >= 63 || lb >= 63)
		return 64;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) !=
				      tolower((unsigned char)b[j - 1]);
			size_t best = diag + cost;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			if (up + 1 < best)
				best = up + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *cli_nearest(const char *word, const char *const *candidates)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1, len = strlen(word);

	for (; candidates && *candidates; candidates++) {
		size_t d = distance(word, *candidates);
		/* one-letter aliases would match everything short */
		if (strlen(*candidates) < 2)
			continue;
		if (d < best_d) {
			best_d = d;
			best = *candidates;
		}
	}
	if (!best || best_d == 0 || best_d * 3 > (len > strlen(best) ? len : strlen(best)) ||
	    best_d >= (len > strlen(best) ? len : strlen(best)))
		return NULL;
	return best;
}

int cli_unknown(const char *where, const char *word, const char *const *candidates)
{
	const char *near = cli_nearest(word, candidates);

	fprintf(stderr, "rexray: %s%sunknown command '%s'", where ? where : "", where ? ": " : "",
		word);
	if (near)
		fprintf(stderr, "; did you mean '%s'?", near);
	fprintf(stderr, " (see rexray help%s%s)\n", where ? " " : "", where ? where : "");
	return 2;
}
