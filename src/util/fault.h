/*
 * fault: test-only crash points. A multi-step operation names the points
 * between its steps (fault_point("mount.after-attach")); when the
 * environment variable REXRAY_CRASH_AT is "name" or "name:N", the process
 * kills itself with SIGKILL the first (or Nth) time it reaches that point,
 * as a power cut would. The crash tests use it to check that every
 * operation can be interrupted anywhere and completed by a retry.
 * REXRAY_PAUSE_AT ("name" or "name:N", when REXRAY_CRASH_AT is unset)
 * stops the process there instead (SIGSTOP): a test changes the world
 * under it, as a racing process would, and sends SIGCONT. Unset, a
 * point costs one pointer compare.
 */
#ifndef RR_FAULT_H
#define RR_FAULT_H

void fault_point(const char *name);

#endif
