/*
 * buf: one growable byte buffer, after git's strbuf and curl's dynbuf:
 * always NUL-terminated once it holds anything, bounded by max (0 = no
 * bound), doubling as it grows (or exactly what a reservation asks first).
 * The buffer owns data; buf_release frees it, buf_detach hands it over.
 */
#ifndef RR_BUF_H
#define RR_BUF_H

#include <stddef.h>

struct buf {
	char *data; /* NULL until the first byte (or reservation) */
	size_t len, cap;
	size_t max; /* the most bytes it may hold; 0 = no bound */
};

/* Room for n more bytes and the NUL. 0, -EFBIG past max (nothing changes),
 * -ENOMEM. */
int buf_reserve(struct buf *b, size_t n);
/* Append n bytes of p. 0, -EFBIG, -ENOMEM; on error nothing is added. */
int buf_add(struct buf *b, const void *p, size_t n);
int buf_addstr(struct buf *b, const char *s);
/* Append printf-style text. 0, -EFBIG, -ENOMEM, -EINVAL (a bad format);
 * on error nothing is added. */
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The bytes reserved and then written at data + len: count them in. */
void buf_commit(struct buf *b, size_t n);
void buf_release(struct buf *b);

#endif
