#include "server/keylock.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct keylock_entry {
	struct keylock_entry *next;
	pthread_cond_t cond;
	unsigned users; /* holder + waiters */
	bool held;
	char key[];
};

void keylock_init(struct keylock *kl)
{
	pthread_mutex_init(&kl->mu, NULL);
	kl->head = NULL;
}

void keylock_destroy(struct keylock *kl)
{
	pthread_mutex_destroy(&kl->mu);
}

static struct keylock_entry *find(struct keylock *kl, const char *key)
{
	for (struct keylock_entry *en = kl->head; en; en = en->next)
		if (strcmp(en->key, key) == 0)
			return en;
	return NULL;
}

int keylock_acquire(struct keylock *kl, const char *key)
{
	struct keylock_entry *en;

	pthread_mutex_lock(&kl->mu);
	en = find(kl, key);
	if (!en) {
		size_t len = strlen(key);
		en = calloc(1, sizeof(*en) + len + 1);
		if (!en) {
			pthread_mutex_unlock(&kl->mu);
			return -ENOMEM;
		}
		memcpy(en->key, key, len + 1);
		pthread_cond_init(&en->cond, NULL);
		en->next = kl->head;
		kl->head = en;
	}
	en->users++;
	while (en->held)
		pthread_cond_wait(&en->cond, &kl->mu);
	en->held = true;
	pthread_mutex_unlock(&kl->mu);
	return 0;
}

void keylock_release(struct keylock *kl, const char *key)
{
	struct keylock_entry **pp, *en;

	pthread_mutex_lock(&kl->mu);
	for (pp = &kl->head; (en = *pp) != NULL; pp = &en->next)
		if (strcmp(en->key, key) == 0)
			break;
	if (en) {
		en->held = false;
		if (--en->users == 0) {
			*pp = en->next;
			pthread_cond_destroy(&en->cond);
			free(en);
		} else {
			pthread_cond_signal(&en->cond);
		}
	}
	pthread_mutex_unlock(&kl->mu);
}
