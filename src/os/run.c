/*
 * run: fork+exec with a deadline, after git's run-command.c.
 *
 * The program is looked up in the parent (PATH plus /usr/sbin and /sbin,
 * which a daemon started from a minimal environment often lacks), so the
 * child only calls async-signal-safe functions between fork and exec: the
 * engine is multi-threaded. The child runs in its own process group so a
 * timeout can kill whatever it spawned. An exec failure travels back as an
 * errno over a CLOEXEC pipe: EOF on that pipe means exec succeeded.
 */
#include "os/run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/time.h"
#include "util/sys.h"

#define RUN_STDERR_MAX	4096
#define RUN_PATH_MAX	4096
#define RUN_POLL_SLICE	20	/* ms between waitpid checks without a pidfd */

static const char *const run_extra_path[] = { "/usr/sbin", "/sbin" };

static bool path_has_dir(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	for (const char *p = path; p; p = strchr(p, ':')) {
		if (*p == ':')
			p++;
		if (strncmp(p, dir, n) == 0 && (p[n] == ':' || p[n] == '\0'))
			return true;
	}
	return false;
}

/* PATH as the child should search it: the caller's, plus the sbin dirs. */
static int build_search_path(char *buf, size_t size)
{
	const char *path = getenv("PATH");
	size_t len;

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	len = strlen(path);
	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (size_t i = 0; i < sizeof(run_extra_path) / sizeof(run_extra_path[0]); i++) {
		const char *dir = run_extra_path[i];
		size_t dl = strlen(dir);

		if (path_has_dir(buf, dir))
			continue;
		if (len + 1 + dl >= size)
			return -ENAMETOOLONG;
		buf[len++] = ':';
		memcpy(buf + len, dir, dl + 1);
		len += dl;
	}
	return 0;
}

/* Find prog like execvp would; a name with a slash is taken as is. */
static int resolve_program(const char *prog, char *out, size_t size)
{
	char search[RUN_PATH_MAX];
	int r, last = -ENOENT;

	if (strchr(prog, '/')) {
		if (strlen(prog) >= size)
			return -ENAMETOOLONG;
		strcpy(out, prog);
		return 0;
	}
	r = build_search_path(search, sizeof(search));
	if (r < 0)
		return r;
	for (char *save = NULL, *dir = strtok_r(search, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		struct stat st;

		if (snprintf(out, size, "%s/%s", dir, prog) >= (int)size)
			continue;
		if (stat(out, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (access(out, X_OK) == 0)
			return 0;
		last = -EACCES;
	}
	return last;
}

/* Between fork and exec: async-signal-safe calls only. Never returns. */
static void child_exec(const char *path, const char *const argv[], int devnull, int errw,
		       int execw)
{
	struct sigaction sa;
	sigset_t none;
	int saved;

	setpgid(0, 0);
	/* dies with the engine (the forking thread waits for it, so only the
	 * engine's death fires this): an orphaned mkfs would hold the device
	 * open after a crash, and the restart could not release it */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(127);
	/* the engine may block or ignore signals; mkfs must start clean */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &sa, NULL);
	if (dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0 ||
	    dup2(errw, STDERR_FILENO) < 0)
		goto fail;
	execv(path, (char *const *)argv);
fail:
	saved = errno;
	while (write(execw, &saved, sizeof(saved)) < 0 && errno == EINTR)
		;
	_exit(127);
}

/* Trim, and fold newlines and control bytes to keep the message on one line. */
static void tidy_stderr(char *s)
{
	char *w = s;
	bool space = false;

	for (char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '\n') {
			if (w > s && !space) {
				/* in place: "; " only where it overwrites nothing
				 * still to be read (w < p), else ";" alone */
				*w++ = ';';
				if (w <= p)
					*w++ = ' ';
				space = true;
			}
			continue;
		}
		if (c < 0x20 || c == 0x7f || c == ' ') {
			if (w > s && !space) {
				*w++ = ' ';
				space = true;
			}
			continue;
		}
		*w++ = (char)c;
		space = false;
	}
	while (w > s && (w[-1] == ' ' || w[-1] == ';'))
		w--;
	*w = '\0';
}

struct capture {
	char buf[RUN_STDERR_MAX + 1];
	size_t len;
};

/* Read what is there; returns 1 at EOF, 0 when more may come, -errno. */
static int capture_read(int fd, struct capture *c)
{
	char scratch[512];

	for (;;) {
		size_t room = RUN_STDERR_MAX - c->len;
		char *dst = room ? c->buf + c->len : scratch;
		ssize_t n = read(fd, dst, room ? room : sizeof(scratch));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		if (n == 0)
			return 1;
		/* past the cap we keep draining so the child never blocks on a full pipe */
		if (room)
			c->len += (size_t)n;
	}
}

static int pidfd_open_compat(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/*
 * Wait for the child to exit, collecting stderr, until deadline (<0: none).
 * Returns 0 with *status filled, or -ETIMEDOUT (child still running).
 * Exit is watched through a pidfd rather than stderr EOF: a grandchild may
 * hold the pipe open after the child is gone.
 */
static int wait_child(pid_t pid, int errfd, long long deadline, struct capture *cap,
		      int *status)
{
	int pidfd = pidfd_open_compat(pid);
	bool err_open = true;
	int r = -ETIMEDOUT;

	for (;;) {
		struct pollfd pfd[2];
		nfds_t nfds = 0;
		int slice = -1;
		pid_t w;

		w = waitpid(pid, status, WNOHANG);
		if (w == pid) {
			if (err_open)
				capture_read(errfd, cap);
			r = 0;
			break;
		}
		if (w < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (deadline >= 0) {
			long long left = deadline - time_now_ms();

			if (left <= 0)
				break;
			slice = left > INT_MAX ? INT_MAX : (int)left;
		}
		if (pidfd < 0 && (slice < 0 || slice > RUN_POLL_SLICE))
			slice = RUN_POLL_SLICE;
		if (err_open)
			pfd[nfds++] = (struct pollfd){ .fd = errfd, .events = POLLIN };
		if (pidfd >= 0)
			pfd[nfds++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		if (poll(pfd, nfds, slice) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (err_open && pfd[0].revents && capture_read(errfd, cap) != 0)
			err_open = false;
	}
	if (pidfd >= 0)
		close(pidfd);
	return r;
}

static int report_status(const char *prog, int status, struct capture *cap, int *exit_code,
			 struct err *e)
{
	cap->buf[cap->len] = '\0';
	tidy_stderr(cap->buf);
	if (WIFEXITED(status)) {
		int code = WEXITSTATUS(status);

		if (exit_code)
			*exit_code = code;
		if (code == 0)
			return 0;
		if (cap->buf[0])
			return err_set(e, -EIO, "%s: %s (exit status %d)", prog, cap->buf, code);
		return err_set(e, -EIO, "%s: exit status %d", prog, code);
	}
	if (WIFSIGNALED(status))
		return err_set(e, -EIO, "%s: killed by signal %d%s%s", prog, WTERMSIG(status),
			       cap->buf[0] ? ": " : "", cap->buf);
	return err_set(e, -EIO, "%s: unexpected wait status %#x", prog, (unsigned)status);
}

/* EOF: exec worked. Otherwise the child's errno, and the child is reaped. */
static int read_exec_error(int execr, pid_t pid)
{
	int child_errno;
	ssize_t n;

	do
		n = read(execr, &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(child_errno))
		return 0;
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return child_errno > 0 ? -child_errno : -EIO;
}

static void kill_and_reap(pid_t pid)
{
	/* the group may not exist yet if the child has not reached setpgid */
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int run_command(const char *const argv[], long timeout_ms, struct err *e)
{
	return run_command_exit(argv, timeout_ms, NULL, e);
}

int run_command_exit(const char *const argv[], long timeout_ms, int *exit_code, struct err *e)
{
	int errp[2] = { -1, -1 }, execp[2] = { -1, -1 }, devnull = -1;
	struct capture *cap = NULL;
	char path[PATH_MAX];
	const char *prog;
	long long deadline;
	int r, status = 0;
	pid_t pid;

	if (exit_code)
		*exit_code = -1;
	if (!argv || !argv[0] || !argv[0][0])
		return err_set(e, -EINVAL, "run: empty command");
	prog = argv[0];
	r = resolve_program(prog, path, sizeof(path));
	if (r < 0)
		return err_set(e, r, "%s: %s", prog,
			       r == -ENOENT ? "command not found" : strerror(-r));
	if (sys_fault(SYS_EXEC)) { /* as a tool that failed: exit status 8 */
		int err = errno;

		if (exit_code)
			*exit_code = 8;
		return err_set(e, -EIO, "%s: %s (injected failure, exit status 8)", prog,
			       strerror(err));
	}
	deadline = timeout_ms > 0 ? time_now_ms() + timeout_ms : -1;

	cap = calloc(1, sizeof(*cap));
	if (!cap)
		return err_set(e, -ENOMEM, "%s: out of memory", prog);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		r = err_set(e, -errno, "open '/dev/null': %s", strerror(errno));
		goto out;
	}
	if (pipe2(errp, O_CLOEXEC) < 0 || pipe2(execp, O_CLOEXEC) < 0) {
		r = err_set(e, -errno, "%s: pipe: %s", prog, strerror(errno));
		goto out;
	}
	log_debug("run: %s", path);
	pid = fork();
	if (pid < 0) {
		r = err_set(e, -errno, "%s: fork: %s", prog, strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_exec(path, argv, devnull, errp[1], execp[1]);

	/* both the parent and the child set the group, so kill(-pid) works at once */
	setpgid(pid, pid);
	close(errp[1]);
	errp[1] = -1;
	close(execp[1]);
	execp[1] = -1;
	r = read_exec_error(execp[0], pid);
	if (r < 0) {
		r = err_set(e, r, "%s: exec '%s': %s", prog, path, strerror(-r));
		goto out;
	}
	if (fcntl(errp[0], F_SETFL, O_NONBLOCK) < 0) {
		r = err_set(e, -errno, "%s: fcntl: %s", prog, strerror(errno));
		kill_and_reap(pid);
		goto out;
	}
	r = wait_child(pid, errp[0], deadline, cap, &status);
	if (r == -ETIMEDOUT) {
		kill_and_reap(pid);
		r = err_set(e, -ETIMEDOUT, "%s: timed out after %ld ms", prog, timeout_ms);
		goto out;
	}
	if (r < 0) {
		kill_and_reap(pid);
		r = err_set(e, r, "%s: wait: %s", prog, strerror(-r));
		goto out;
	}
	r = report_status(prog, status, cap, exit_code, e);
out:
	for (int i = 0; i < 2; i++) {
		if (errp[i] >= 0)
			close(errp[i]);
		if (execp[i] >= 0)
			close(execp[i]);
	}
	if (devnull >= 0)
		close(devnull);
	free(cap);
	return r;
}
