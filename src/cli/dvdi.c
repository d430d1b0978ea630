/*
 * dvdi: `rexray dvdi prepare|cleanup|recover|run`, the Mesos DVDI volume
 * lifecycle (dvdi/dvdi.h) as commands an orchestrator hook can call.
 *
 *   prepare --container-id ID [--env-file F] [--bind]
 *       mounts the task's DVDI_VOLUME_* volumes (from F, else this
 *       process's environment); prints DVDI_VOLUME_MOUNTPOINT[N]=<path>
 *       lines, and for a container path without --bind the original's
 *       bind command as DVDI_VOLUME_BIND[N]=mount -n --rbind <mp> <path>
 *   cleanup --container-id ID
 *   recover --running ID,ID,...
 *   run [--container-id ID] [--env-file F] -- CMD ARGS...
 *       prepare, run CMD in its own mount namespace with the container
 *       paths bound, clean up when it exits (also on SIGTERM/SIGINT)
 *
 * --timeout SECONDS bounds each plugin call (default 120, as Mesos).
 */
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/help.h"
#include "dvdi/dvdi.h"
#include "util/fs.h"

#define ENV_FILE_MAX (1024 * 1024)

extern char **environ;

/* KEY=VALUE lines; blank lines and # comments skipped. envp is malloc'd,
 * its strings point into *buf. */
static int read_env_file(const char *path, char **buf, char ***envp, struct err *e)
{
	size_t n = 0, len = 0;
	char *save = NULL;
	int r;

	if ((r = fs_read_file(path, ENV_FILE_MAX, buf, &len)) < 0)
		return err_set(e, r, "cannot read env file '%s': %s", path, strerror(-r));
	*envp = calloc(len / 2 + 2, sizeof(**envp));
	if (!*envp) {
		free(*buf);
		return err_set(e, -ENOMEM, "out of memory");
	}
	for (char *l = strtok_r(*buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		l[strcspn(l, "\r")] = '\0';
		if (*l && *l != '#' && strchr(l, '='))
			(*envp)[n++] = l;
	}
	return 0;
}

static int timeout_ms(const struct cli_args *a, long *out, struct err *e)
{
	char *end;
	long s;

	*out = 120000;
	if (!a->timeout)
		return 0;
	s = strtol(a->timeout, &end, 10);
	if (*end || end == a->timeout || s < 1 || s > 86400)
		return err_set(e, -EINVAL, "--timeout: invalid value '%s': expected seconds from 1 "
			       "to 86400", a->timeout);
	*out = s * 1000;
	return 0;
}

static int setup(struct engine *en, const struct cli_args *a, struct dvdi *d, char *lock,
		 size_t locksz, struct err *e)
{
	int r;

	memset(d, 0, sizeof(*d));
	if ((r = timeout_ms(a, &d->timeout_ms, e)) < 0 || (r = engine_open_store(en, e)) < 0)
		return r;
	snprintf(lock, locksz, "%s/dvdi.lock", en->paths.run);
	d->store = en->store;
	d->lock_path = lock;
	return 0;
}

static void slot_suffix(int slot, char *buf)
{
	if (slot == 0)
		buf[0] = '\0';
	else
		sprintf(buf, "%d", slot);
}

static int load_request(const struct cli_args *a, struct dvdi_request *req, struct err *e)
{
	char *buf = NULL, **envp = NULL;
	int r;

	if (!a->env_file)
		return dvdi_parse_env(environ, req, e);
	if ((r = read_env_file(a->env_file, &buf, &envp, e)) < 0)
		return r;
	r = dvdi_parse_env(envp, req, e);
	free(envp);
	free(buf);
	return r;
}

static int cmd_prepare(struct engine *en, struct cli_args *a)
{
	struct dvdi_mounted m[DVDI_SLOTS];
	struct dvdi_request req;
	struct err e = ERR_INIT;
	struct dvdi d;
	char lock[PATH_MAX + 16], sfx[4];
	size_t n = 0;

	if (!a->container_id) {
		fprintf(stderr, "rexray: dvdi prepare: --container-id is required\n");
		return 2;
	}
	if (setup(en, a, &d, lock, sizeof(lock), &e) < 0 || load_request(a, &req, &e) < 0 ||
	    dvdi_prepare(&d, a->container_id, &req, a->bind, m, &n, &e) < 0) {
		cli_error("dvdi prepare", &e);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		slot_suffix(m[i].slot, sfx);
		printf("DVDI_VOLUME_MOUNTPOINT%s=%s\n", sfx, m[i].mountpoint);
		if (m[i].container_path[0] && !a->bind)
			printf("DVDI_VOLUME_BIND%s=mount -n --rbind %s %s\n", sfx, m[i].mountpoint,
			       m[i].container_path);
	}
	return 0;
}

static int cmd_cleanup(struct engine *en, struct cli_args *a)
{
	struct err e = ERR_INIT;
	struct dvdi d;
	char lock[PATH_MAX + 16];

	if (!a->container_id) {
		fprintf(stderr, "rexray: dvdi cleanup: --container-id is required\n");
		return 2;
	}
	if (setup(en, a, &d, lock, sizeof(lock), &e) < 0 ||
	    dvdi_cleanup(&d, a->container_id, &e) < 0) {
		cli_error("dvdi cleanup", &e);
		return 1;
	}
	return 0;
}

static int cmd_recover(struct engine *en, struct cli_args *a)
{
	char lock[PATH_MAX + 16], *list = NULL, *save = NULL, **ids = NULL;
	struct err e = ERR_INIT;
	size_t n = 0, cleaned = 0;
	struct dvdi d;
	int rc = 0;

	if (!a->running) {
		fprintf(stderr, "rexray: dvdi recover: --running ID,ID... is required (may be "
			"empty: --running '')\n");
		return 2;
	}
	list = strdup(a->running);
	ids = calloc(strlen(a->running) / 2 + 2, sizeof(*ids));
	if (!list || !ids) {
		free(list);
		free(ids);
		return 1;
	}
	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
		ids[n++] = t;
	if (setup(en, a, &d, lock, sizeof(lock), &e) < 0 ||
	    dvdi_recover(&d, ids, n, &cleaned, &e) < 0) {
		cli_error("dvdi recover", &e);
		rc = 1;
	} else {
		printf("cleaned up %zu orphaned container(s)\n", cleaned);
	}
	free(ids);
	free(list);
	return rc;
}

/* ---- run ---- */

/*
 * Termination signals never cut a mount or an unmount in half: from the
 * start of `run` they are only noted (and passed on to the command while
 * it runs). A signal that came before the command started means it never
 * starts; either way the volumes are cleaned up and run exits 128 + the
 * signal, as a shell would.
 */
static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t pending_sig;

static void note_signal(int sig)
{
	int saved = errno;

	if (!pending_sig)
		pending_sig = sig;
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
	errno = saved;
}

static void run_signals_set(void (*handler)(int))
{
	struct sigaction sa = { .sa_handler = handler };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(cli_term_signals) / sizeof(cli_term_signals[0]); i++)
		sigaction(cli_term_signals[i], &sa, NULL);
}

void cli_dvdi_guard_signals(void)
{
	run_signals_set(note_signal);
}

/* In the child: a mount namespace of its own, so the container-path binds
 * are the task's alone and vanish with it. */
static void child_exec(const struct dvdi_mounted *m, size_t n, char **argv)
{
	struct err e = ERR_INIT;
	char key[40], sfx[4];
	sigset_t none;

	/* the command gets the default actions; the parent forwards to it */
	run_signals_set(SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (size_t i = 0; i < n; i++) {
		slot_suffix(m[i].slot, sfx);
		snprintf(key, sizeof(key), "DVDI_VOLUME_MOUNTPOINT%s", sfx);
		setenv(key, m[i].mountpoint, 1);
	}
	bool binds = false;
	for (size_t i = 0; i < n; i++)
		binds = binds || m[i].container_path[0];
	if (binds && (unshare(CLONE_NEWNS) < 0 ||
		      mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)) {
		/* MS_SLAVE on / fails with EINVAL where / is no mount point (a
		 * chroot): say so, not just "Invalid argument" */
		fprintf(stderr, "rexray: dvdi run: cannot make a mount namespace: %s%s\n",
			strerror(errno), errno == EINVAL ? " (is / a mount point here? a "
			"chroot is not enough: enter the root with pivot_root)" : "");
		_exit(126);
	}
	for (size_t i = 0; i < n; i++) {
		if (m[i].container_path[0] && dvdi_bind(m[i].mountpoint, m[i].container_path, &e) < 0) {
			fprintf(stderr, "rexray: dvdi run: %s\n", e.msg);
			_exit(126);
		}
	}
	execvp(argv[0], argv);
	fprintf(stderr, "rexray: dvdi run: cannot run '%s': %s\n", argv[0], strerror(errno));
	_exit(127);
}

static int wait_child(pid_t pid)
{
	int status = 0;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return 1;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static int cmd_run(struct engine *en, struct cli_args *a)
{
	struct dvdi_mounted m[DVDI_SLOTS];
	char lock[PATH_MAX + 16], idbuf[64], **argv;
	const char *id = a->container_id;
	struct dvdi_request req;
	struct err e = ERR_INIT;
	struct dvdi d;
	size_t n = 0;
	int rc, argc;
	pid_t pid;

	if (a->dashdash < 2 || a->n_words <= a->dashdash) {
		fprintf(stderr, "rexray: dvdi run: give the command after --\n");
		return 2;
	}
	argc = a->n_words - a->dashdash;
	if (!id) {
		snprintf(idbuf, sizeof(idbuf), "run-%ld-%ld", (long)getpid(), (long)time(NULL));
		id = idbuf;
	}
	run_signals_set(note_signal);
	if (setup(en, a, &d, lock, sizeof(lock), &e) < 0 || load_request(a, &req, &e) < 0 ||
	    dvdi_prepare(&d, id, &req, false, m, &n, &e) < 0) {
		cli_error("dvdi run", &e);
		return pending_sig ? 128 + pending_sig : 1;
	}
	argv = calloc((size_t)argc + 1, sizeof(*argv));
	if (!argv) {
		dvdi_cleanup(&d, id, &e);
		return 1;
	}
	for (int i = 0; i < argc; i++)
		argv[i] = (char *)a->args[a->dashdash - 2 + i];
	fflush(NULL);
	/* blocked across fork: a signal in between is forwarded, not lost */
	cli_term_signals_mask(SIG_BLOCK);
	pid = pending_sig ? -1 : fork();
	if (pid == 0)
		child_exec(m, n, argv);
	if (pid > 0)
		child_pid = pid;
	cli_term_signals_mask(SIG_UNBLOCK);
	if (pending_sig && pid < 0) { /* came during the mounts: the command never starts */
		rc = 128 + pending_sig;
	} else if (pid < 0) {
		rc = 1;
		fprintf(stderr, "rexray: dvdi run: fork: %s\n", strerror(errno));
	} else {
		rc = wait_child(pid);
		child_pid = 0;
	}
	free(argv);
	if (dvdi_cleanup(&d, id, &e) < 0) {
		cli_error("dvdi run: cleanup", &e);
		if (rc == 0)
			rc = 1;
	}
	return rc;
}

int cli_dvdi(struct engine *en, const char *sub, struct cli_args *a)
{
	if (!sub) {
		fprintf(stderr, "rexray: dvdi: give prepare, cleanup, recover or run\n");
		return 2;
	}
	if (strcmp(sub, "prepare") == 0)
		return cmd_prepare(en, a);
	if (strcmp(sub, "cleanup") == 0)
		return cmd_cleanup(en, a);
	if (strcmp(sub, "recover") == 0)
		return cmd_recover(en, a);
	if (strcmp(sub, "run") == 0)
		return cmd_run(en, a);
	return cli_unknown("dvdi", sub, cli_subcommands("dvdi"));
}
