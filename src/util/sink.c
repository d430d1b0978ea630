#include "util/sink.h"

#include <stdlib.h>
#include <string.h>

size_t sink_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;

	if (n > s->max - s->len) {
		s->too_big = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *d;

		while (cap < s->len + n + 1)
			cap *= 2;
		d = realloc(s->data, cap);
		if (!d) {
			s->oom = true;
			return 0;
		}
		s->data = d;
		s->cap = cap;
	}
	memcpy(s->data + s->len, ptr, n);
	s->len += n;
	s->data[s->len] = '\0';
	return n;
}

void sink_release(struct sink *s)
{
	free(s->data);
	memset(s, 0, sizeof(*s));
}
