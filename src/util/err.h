/*
 * err: the error detail every fallible call fills.
 *
 * Functions return 0 or a negative errno-style code; when they fail they
 * also fill the caller's struct err with the same code and a message that
 * names what was wrong ("volume name 'a/b': only A-Z a-z 0-9 _ . - allowed").
 * Messages are lower case, without a final full stop, git-style.
 * A NULL struct err is allowed: the message is then dropped.
 */
#ifndef RR_ERR_H
#define RR_ERR_H

#include <errno.h>

#define ERR_MSG_MAX 512

struct err {
	int code;		/* negative errno, 0 when unset */
	char msg[ERR_MSG_MAX];	/* NUL-terminated, may be empty */
};

#define ERR_INIT { 0, "" }

/* Fill e (if not NULL) and return code (which must be negative). */
int err_set(struct err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix the existing message with "prefix: ". For failures only: returns
 * e->code, which is -EIO (and the message says so) when whatever failed
 * left e unset, so that a caller's "return err_prefix(...)" never returns 0. */
int err_prefix(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Reset to no error. */
void err_clear(struct err *e);

#endif
