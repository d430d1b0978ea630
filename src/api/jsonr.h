/*
 * jsonr: JSON text read in place, value by value, without building a
 * tree. For where jansson's tree costs more than the work it serves: the
 * CLI's decoding of a listing of 10,000 volumes, and the tiny body of each
 * Docker plugin call. One reader for both (api/codec.h has the decoders).
 *
 * The caller walks the text in the order its grammar says:
 *
 *	jr_init(&r, text, len, JR_MAX_DEPTH);
 *	if (jr_obj_begin(&r) < 0) ...
 *	while ((rc = jr_obj_next(&r, &key, &klen)) > 0)
 *		... one of jr_str, jr_int, jr_num, jr_bool, jr_null, jr_skip,
 *		    jr_obj_begin, jr_arr_begin for the member's value ...
 *	if (rc < 0 || jr_end(&r) < 0) ... r.err says why ...
 *	jr_release(&r);
 *
 * and arrays alike with jr_arr_begin / jr_arr_next. jr_peek tells the type
 * of the next value. The reader checks the grammar as it goes, whatever
 * the caller does: a value where none may stand, a member outside an
 * object, a container closed by the wrong bracket are all errors.
 *
 * What it accepts is what jansson 2.14's json_loadb(JSON_DECODE_ANY)
 * accepts, no more (tests/fuzz/fuzz_jsonr.c checks both ways):
 *  - RFC 8259 JSON; white space is space, tab, CR, LF;
 *  - strings of well-formed UTF-8 (no overlongs, no surrogates, nothing
 *    above U+10FFFF), no control bytes, the escapes \" \\ \/ \b \f \n \r
 *    \t and \uXXXX, surrogates only as a high-low pair, and no \u0000 (our
 *    strings are C strings; jansson refuses it without JSON_ALLOW_NUL);
 *  - numbers of JSON's grammar: an integer (no fraction, no exponent)
 *    must fit in 64 bits ("too big integer", as jansson), any other number
 *    is a real and must not overflow a double (strtod: the process must
 *    not have changed LC_NUMERIC, which nothing here does);
 *  - at most max_depth containers open at once (jansson's limit is
 *    JR_MAX_DEPTH);
 *  - and jansson's one quirk: a single NUL byte right after a number or
 *    a literal is taken as nothing ("[5\0]" is [5]); anywhere else a NUL
 *    byte is an error.
 * Duplicate object keys are the caller's business (the reader hands each
 * over; jansson keeps the last value at the first one's place).
 *
 * Errors: calls return 0 (or 1, see jr_obj_next), -EINVAL for text that is
 * not what was asked for, -ENOMEM. The first error sticks: every later
 * call returns it, and r.err keeps its message, "line L, column C: what"
 * (column in bytes). A caller's own complaint about a value goes through
 * jr_fail, so it sticks the same way.
 *
 * Ownership: the reader borrows the text, which must outlive it and is
 * never changed. A string handed out as (s, len) is not NUL-terminated and
 * stays valid until the next call on the reader, or as long as the text
 * when it held no escape (then it points into the text: jr_in_text).
 * jr_release frees the reader's buffers. Not thread-safe; one reader per
 * text.
 */
#ifndef RR_JSONR_H
#define RR_JSONR_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

#define JR_MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */

enum jr_type {
	JR_NONE = 0, /* no value can start here (or the reader failed) */
	JR_OBJECT,
	JR_ARRAY,
	JR_STRING,
	JR_INTEGER,
	JR_REAL,
	JR_TRUE,
	JR_FALSE,
	JR_NULL,
};

struct jr {
	const char *text, *p, *end; /* the whole text; the next byte; its end */
	unsigned depth;		    /* containers open */
	unsigned max_depth;
	bool first;		    /* nothing read yet in the innermost container */
	bool want_value;	    /* a value may (must) come next */
	unsigned char objs[JR_MAX_DEPTH / 8]; /* bit d: container d is an object */
	struct buf kbuf, vbuf;	    /* decoded keys; decoded strings, number text */
	struct err err;		    /* the first error; code 0 while none */
};

/* A reader at the start of text (len bytes; need not be NUL-terminated).
 * max_depth is clamped to 1..JR_MAX_DEPTH. */
void jr_init(struct jr *r, const char *text, size_t len, unsigned max_depth);
void jr_release(struct jr *r);

/* The type of the next value, after white space (an invalid number is
 * still JR_INTEGER or JR_REAL: reading it fails). JR_NONE when no value
 * can start here, or when the reader has failed. */
enum jr_type jr_peek(struct jr *r);
/* The byte offset of the next unread byte (after jr_peek: of the value). */
size_t jr_offset(const struct jr *r);
/* Does s point into the text (a string without escapes)? */
bool jr_in_text(const struct jr *r, const char *s);

/* '{'. 0 or -errno. */
int jr_obj_begin(struct jr *r);
/* The next member: 1 with its name in (*key, *klen) (the ':' read; its
 * value comes next), 0 when the object ended ('}' read), or -errno. */
int jr_obj_next(struct jr *r, const char **key, size_t *klen);
/* '['. 0 or -errno. */
int jr_arr_begin(struct jr *r);
/* 1 when an element comes next, 0 when the array ended (']' read), -errno. */
int jr_arr_next(struct jr *r);

/* A string, decoded, in (*s, *len). 0 or -errno. */
int jr_str(struct jr *r, const char **s, size_t *len);
/* The same as a malloc'd NUL-terminated copy (len may be NULL). */
int jr_str_dup(struct jr *r, char **out, size_t *len);
/* An integer (a real, or an integer out of range, is an error). */
int jr_int(struct jr *r, long long *out);
/* Any number: *type JR_INTEGER with *i, or JR_REAL with *d. */
int jr_num(struct jr *r, enum jr_type *type, long long *i, double *d);
int jr_bool(struct jr *r, bool *out);
int jr_null(struct jr *r);
/* Any one value, containers and all, checked as thoroughly as if read. */
int jr_skip(struct jr *r);
/* After the top value: nothing but white space may follow. 0 or -errno. */
int jr_end(struct jr *r);

/* Fail the reader at the current position with the caller's message
 * (when it has not failed already). Returns r->err.code: -EINVAL. */
int jr_fail(struct jr *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
