/*
 * sink: a reply body as libcurl delivers it, growing up to a limit.
 * Pass sink_write as CURLOPT_WRITEFUNCTION and the sink as CURLOPT_WRITEDATA;
 * past max bytes (or on OOM) the transfer is aborted with too_big (oom)
 * set. buf.data is NUL-terminated and owned by the sink (sink_release).
 */
#ifndef RR_SINK_H
#define RR_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

struct sink {
	struct buf buf; /* the body; buf.max is the largest accepted */
	bool too_big;
	bool oom;
};

size_t sink_write(char *ptr, size_t size, size_t nmemb, void *userdata);
void sink_release(struct sink *s);

#endif
