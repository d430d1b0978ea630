/*
 * keylock: mutual exclusion per key (a volume id, a name), so operations
 * on one volume are serialised while different volumes run in parallel.
 * Entries exist only while someone holds or waits for the key.
 */
#ifndef RR_KEYLOCK_H
#define RR_KEYLOCK_H

#include <pthread.h>

struct keylock_entry;

struct keylock {
	pthread_mutex_t mu;
	struct keylock_entry *head;
};

void keylock_init(struct keylock *kl);
void keylock_destroy(struct keylock *kl);
/* Block until key is free, then hold it. 0 or -ENOMEM. */
int keylock_acquire(struct keylock *kl, const char *key);
void keylock_release(struct keylock *kl, const char *key);

#endif
