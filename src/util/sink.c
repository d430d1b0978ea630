#include "util/sink.h"

#include <errno.h>
#include <string.h>

size_t sink_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;
	int r = buf_add(&s->buf, ptr, n);

	if (r == 0)
		return n;
	if (r == -EFBIG)
		s->too_big = true;
	else
		s->oom = true;
	return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
}

void sink_release(struct sink *s)
{
	buf_release(&s->buf);
	memset(s, 0, sizeof(*s));
}
