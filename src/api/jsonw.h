/*
 * jsonw: JSON text written straight into one growing buffer, byte for
 * byte what jansson's json_dumps (and codec's json_dump_pretty on top of
 * it) writes for the same tree. For the big replies (volume listings),
 * where building a jansson tree only to dump it costs more than the text.
 *
 * Styles (flags of jw_init):
 *   JW_PRETTY | JW_GO_ESCAPES   = json_dump_pretty: 2-space indent,
 *                                 "key": value, Go's escapes (<, >, & as
 *                                 \u003c..., U+2028/9, \u0008 \u000c,
 *                                 lower-case hex): the REST wire format
 *   0                           = json_dumps(JSON_COMPACT): no white
 *                                 space, jansson's escapes (\b \f,
 *                                 upper-case hex)
 * Strings are written as codec's encoders store them: each byte that is
 * not part of well-formed UTF-8 becomes U+FFFD, as Go's encoder does.
 *
 * Layout is the caller's: open a container, then jw_key before each
 * member's value (objects) or jw_item before each element (arrays).
 * Errors are sticky: after a failed allocation the text is lost (oom is
 * set) and jw_finish returns -ENOMEM, so a writer checks once, at the end.
 *
 * Ownership: the buffer is the writer's until jw_finish hands it over;
 * jw_release frees it (also after jw_finish: then it does nothing).
 * Not thread-safe; one writer per reply.
 */
#ifndef RR_JSONW_H
#define RR_JSONW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

enum {
	JW_PRETTY = 1,	   /* JSON_INDENT(2); else JSON_COMPACT */
	JW_GO_ESCAPES = 2, /* codec's go_escape applied to the text */
};

struct jw {
	struct buf text; /* the text so far (util/buf: NUL-terminated, unbounded) */
	unsigned depth; /* open containers */
	bool first;	/* nothing written yet in the innermost open container */
	int flags;
	bool oom;
};

void jw_init(struct jw *w, int flags);
/* Free the text (if not handed over) and reset w to empty. */
void jw_release(struct jw *w);
/* Hand over the text: *out is malloc'd, NUL-terminated, *len bytes
 * without the NUL (len may be NULL); w is left empty. Returns 0, or
 * -ENOMEM (after any failed allocation on the way; nothing handed over). */
int jw_finish(struct jw *w, char **out, size_t *len);

void jw_obj_begin(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr_begin(struct jw *w);
void jw_arr_end(struct jw *w);
/* Start the next member of the open object: separator, name, colon. */
void jw_key(struct jw *w, const char *key);
void jw_keyn(struct jw *w, const char *key, size_t len);
/* Start the next element of the open array. */
void jw_item(struct jw *w);

void jw_str(struct jw *w, const char *s); /* NULL is "" */
void jw_strn(struct jw *w, const char *s, size_t len);
void jw_int(struct jw *w, long long v);
void jw_bool(struct jw *w, bool v);
/* Any jansson value, members in the object's order; NULL is null. */
void jw_json(struct jw *w, const json_t *j);

/* Length of the well-formed UTF-8 sequence at s (at most avail bytes; RFC
 * 3629: no overlongs, no surrogates, nothing above U+10FFFF), else 0. */
size_t jw_utf8_len(const unsigned char *s, size_t avail);

#endif
