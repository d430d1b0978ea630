#include "util/jsondump.h"

#include <stdbool.h>
#include <stdlib.h>

#include "util/buf.h"

struct sink {
	struct buf b;
	bool failed;
};

static int append(const char *chunk, size_t len, void *arg)
{
	struct sink *s = arg;

	if (!s->failed && buf_add(&s->b, chunk, len) < 0)
		s->failed = true; /* remembered: jansson may go on after a -1 */
	return s->failed ? -1 : 0;
}

char *json_text(const json_t *j, size_t flags)
{
	struct sink s = { { 0 }, false };

	if (!j)
		return NULL;
	if (json_dump_callback(j, append, &s, flags) < 0 || s.failed ||
	    buf_add(&s.b, "", 1) < 0) {
		buf_release(&s.b);
		return NULL;
	}
	return s.b.data;
}
