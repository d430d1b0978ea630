/*
 * csi/busy: the set of operations in progress that a CSI service keeps,
 * so that a second call on the same volume (or name, or snapshot) while
 * one runs is answered ABORTED at once, as the spec asks, instead of
 * waiting on a lock. Keys are compared without case (volume names are
 * case-insensitive everywhere in the engine).
 *
 * A set owns copies of its keys; it is thread-safe (its own mutex).
 */
#ifndef RR_CSI_BUSY_H
#define RR_CSI_BUSY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct csi_busy {
	pthread_mutex_t mu;
	char **keys;
	size_t n, cap;
	size_t max; /* keys in progress at most (0: no bound) */
};

void csi_busy_init(struct csi_busy *b, size_t max);
void csi_busy_destroy(struct csi_busy *b);
/* Take all n keys or none: false when one is in progress already, the set
 * is full, or memory ran out (the caller answers ABORTED: the CO retries). */
bool csi_busy_take(struct csi_busy *b, const char *const *keys, size_t n);
/* Give back keys taken by csi_busy_take. */
void csi_busy_give(struct csi_busy *b, const char *const *keys, size_t n);

#endif
