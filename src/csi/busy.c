/* csi/busy: operations in progress (busy.h). */
#include "csi/busy.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void csi_busy_init(struct csi_busy *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->mu, NULL);
	b->max = max;
}

void csi_busy_destroy(struct csi_busy *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->keys[i]);
	free(b->keys);
	pthread_mutex_destroy(&b->mu);
}

/* Room for n more keys; false when over the bound or out of memory. */
static bool room(struct csi_busy *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 16;
	char **k;

	if (b->max && b->n + n > b->max)
		return false;
	if (b->n + n <= b->cap)
		return true;
	while (cap < b->n + n)
		cap *= 2;
	if (!(k = realloc(b->keys, cap * sizeof(*k))))
		return false;
	b->keys = k;
	b->cap = cap;
	return true;
}

bool csi_busy_take(struct csi_busy *b, const char *const *keys, size_t n)
{
	bool ok = true;
	size_t got = 0;

	pthread_mutex_lock(&b->mu);
	for (size_t i = 0; i < n && ok; i++)
		for (size_t j = 0; j < b->n && ok; j++)
			if (strcasecmp(b->keys[j], keys[i]) == 0)
				ok = false;
	ok = ok && room(b, n);
	for (; ok && got < n; got++)
		if (!(b->keys[b->n + got] = strdup(keys[got])))
			ok = false;
	if (ok)
		b->n += n;
	else
		while (got > 0)
			free(b->keys[b->n + --got]);
	pthread_mutex_unlock(&b->mu);
	return ok;
}

void csi_busy_give(struct csi_busy *b, const char *const *keys, size_t n)
{
	pthread_mutex_lock(&b->mu);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < b->n; j++)
			if (strcasecmp(b->keys[j], keys[i]) == 0) {
				free(b->keys[j]);
				b->keys[j] = b->keys[--b->n];
				break;
			}
	pthread_mutex_unlock(&b->mu);
}
