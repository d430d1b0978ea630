/*
 * jsondump: JSON text that is whole or nothing. jansson's json_dumps
 * ignores a failed append of an object key (dump.c drops dump_string's
 * result), so under memory pressure it can return a document with a key
 * missing: the wrong answer sent, or stored, as if it were right. Here
 * every chunk is appended by us and any failure discards the whole text.
 */
#ifndef RR_JSONDUMP_H
#define RR_JSONDUMP_H

#include <jansson.h>

/* As json_dumps(j, flags); NULL when j is NULL or memory ran out at any
 * point. The caller frees the text. */
char *json_text(const json_t *j, size_t flags);

#endif
