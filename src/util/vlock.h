/*
 * vlock: the lock of one volume across threads and processes, so that a
 * mount (integration/, in the daemon, a CLI or a DVDI process) and a
 * destructive operation (the loop driver's remove, in whichever process
 * serves it) never interleave on one volume.
 *
 * The lock is an flock(LOCK_EX) on <run>/locks/<service>/<name, lower-
 * cased>, created 0600 (O_NOFOLLOW) and unlinked by its holder on release,
 * so no file stays behind per name ever asked for. It is reentrant within
 * one thread: a thread that holds a volume's lock and calls down into the
 * in-process server (a mount undoing its implicit create) gets it again
 * without blocking on itself; the outermost release lets go.
 *
 * Names must be validated volume names (util/names.h) before they get here.
 */
#ifndef RR_VLOCK_H
#define RR_VLOCK_H

#include "util/err.h"

/* Make the service's lock directory now, so that no lock has to (a lock
 * still makes it when it is missing). 0 or -errno. */
int vlock_prepare(const char *run_dir, const char *service, struct err *e);

/* Returns the lock's handle (>= 0) or -errno. */
int vlock_acquire(const char *run_dir, const char *service, const char *name, struct err *e);
/* Gives back one acquire of handle; a negative handle is ignored. */
void vlock_release(int handle);

#endif
