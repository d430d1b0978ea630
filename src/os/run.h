/*
 * run: fork+exec of a helper program with a timeout, git run-command
 * style: argv only, never a shell; stdin from /dev/null; stdout ignored;
 * stderr captured (bounded) for the error message; the child is killed
 * (SIGKILL to its process group) when the timeout passes.
 */
#ifndef RR_RUN_H
#define RR_RUN_H

#include <stddef.h>

#include "util/err.h"

/* Run argv[0] (looked up in PATH, plus /usr/sbin and /sbin; a name with a
 * '/' is used as is) with argv (NULL-terminated). timeout_ms <= 0 means no
 * limit. The child gets the caller's environment, its own process group
 * and a clean signal mask; call with SIGCHLD not ignored.
 * Returns 0 when it exits 0; -ETIMEDOUT (the group is killed and reaped);
 * -ENOENT when the program is missing; -EACCES when not executable; -EIO
 * when it fails, with "<prog>: <stderr, trimmed to one line> (exit status
 * N)" in e (stderr is captured up to 4 KiB). */
int run_command(const char *const argv[], long timeout_ms, struct err *e);

/* The same, and *exit_code gets the program's exit status when it exited
 * (else -1), for tools whose non-zero statuses carry meaning (fsck). */
int run_command_exit(const char *const argv[], long timeout_ms, int *exit_code, struct err *e);

#endif
