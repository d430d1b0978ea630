/*
 * sink: a reply body as libcurl delivers it, growing up to a limit.
 * Pass sink_write as CURLOPT_WRITEFUNCTION and the sink as CURLOPT_WRITEDATA;
 * past max bytes (or on OOM) the transfer is aborted with too_big (oom)
 * set. data is NUL-terminated and owned by the sink (sink_release).
 */
#ifndef RR_SINK_H
#define RR_SINK_H

#include <stdbool.h>
#include <stddef.h>

struct sink {
	char *data;
	size_t len, cap;
	size_t max;	/* the largest body accepted */
	bool too_big;
	bool oom;
};

size_t sink_write(char *ptr, size_t size, size_t nmemb, void *userdata);
void sink_release(struct sink *s);

#endif
