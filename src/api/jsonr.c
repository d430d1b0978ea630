/*
 * jsonr: the pull reader of api/jsonr.h. Every rule below mirrors one of
 * jansson 2.14's (load.c): lex_scan_string, lex_scan_number, parse_value.
 */
#include "api/jsonr.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/jsonw.h"
#include "util/sys.h"
#include "util/urlesc.h"

/* ---- errors ---- */

static int vfail_at(struct jr *r, const char *at, const char *fmt, va_list ap)
{
	char what[256];
	unsigned line = 1, col = 1;

	if (r->err.code)
		return r->err.code;
	vsnprintf(what, sizeof(what), fmt, ap);
	for (const char *q = r->text; q < at && q < r->end; q++) {
		if (*q == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	return err_set(&r->err, -EINVAL, "line %u, column %u: %s", line, col, what);
}

static int fail_at(struct jr *r, const char *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_at(struct jr *r, const char *at, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail_at(r, at, fmt, ap);
	va_end(ap);
	return rc;
}

int jr_fail(struct jr *r, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail_at(r, r->p, fmt, ap);
	va_end(ap);
	return rc;
}

static int oom(struct jr *r)
{
	if (r->err.code)
		return r->err.code;
	return err_set(&r->err, -ENOMEM, "out of memory");
}

/* What stands at q, for messages: "'x'", "byte 0x01", "the end of the text". */
static const char *seen(const struct jr *r, const char *q, char *buf, size_t sz)
{
	unsigned char c;

	if (q >= r->end)
		return "the end of the text";
	c = (unsigned char)*q;
	if (c >= 0x21 && c < 0x7f)
		snprintf(buf, sz, "'%c'", c);
	else
		snprintf(buf, sz, "byte 0x%02x", c);
	return buf;
}

static int unexpected(struct jr *r, const char *wanted)
{
	char b[16];

	return fail_at(r, r->p, "%s expected, found %s", wanted, seen(r, r->p, b, sizeof(b)));
}

/* ---- set-up ---- */

void jr_init(struct jr *r, const char *text, size_t len, unsigned max_depth)
{
	memset(r, 0, offsetof(struct jr, objs));
	r->text = text ? text : "";
	r->p = r->text;
	r->end = r->text + (text ? len : 0);
	r->max_depth = max_depth < 1 ? 1 : max_depth > JR_MAX_DEPTH ? JR_MAX_DEPTH : max_depth;
	r->want_value = true;
	r->kbuf = (struct buf){ 0 };
	r->vbuf = (struct buf){ 0 };
	r->err = (struct err)ERR_INIT;
}

void jr_release(struct jr *r)
{
	buf_release(&r->kbuf);
	buf_release(&r->vbuf);
}

size_t jr_offset(const struct jr *r)
{
	return (size_t)(r->p - r->text);
}

bool jr_in_text(const struct jr *r, const char *s)
{
	return s >= r->text && s <= r->end;
}

static inline void skip_ws(struct jr *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
		r->p++;
}

/* ---- containers ---- */

static bool top_is_obj(const struct jr *r)
{
	unsigned d = r->depth - 1;

	return (r->objs[d / 8] >> (d % 8)) & 1;
}

/* Before a value: the grammar must want one here. */
static int value_start(struct jr *r)
{
	if (r->err.code)
		return r->err.code;
	skip_ws(r);
	if (!r->want_value)
		return fail_at(r, r->p, "no value may stand here (a ',' or the container's end "
			       "is missing)");
	return 0;
}

/* After a whole value (a scalar, or a container's end). */
static void value_done(struct jr *r)
{
	r->want_value = false;
	r->first = false;
}

static int open_container(struct jr *r, char c, bool obj)
{
	int rc = value_start(r);
	unsigned d = r->depth;

	if (rc < 0)
		return rc;
	if (r->p >= r->end || *r->p != c)
		return unexpected(r, obj ? "'{'" : "'['");
	if (d >= r->max_depth)
		return fail_at(r, r->p, "nested deeper than %u levels", r->max_depth);
	if (obj)
		r->objs[d / 8] |= (unsigned char)(1u << (d % 8));
	else
		r->objs[d / 8] &= (unsigned char)~(1u << (d % 8));
	r->depth++;
	r->p++;
	r->first = true;
	r->want_value = false; /* jr_obj_next / jr_arr_next first */
	return 0;
}

int jr_obj_begin(struct jr *r)
{
	return open_container(r, '{', true);
}

int jr_arr_begin(struct jr *r)
{
	return open_container(r, '[', false);
}

/* At a container's end or at the separator before its next entry: 0 when
 * the container ended (close read), 1 when an entry follows (',' read, or
 * nothing yet read in it). */
static int next_entry(struct jr *r, bool obj)
{
	const char close = obj ? '}' : ']';

	if (r->err.code)
		return r->err.code;
	if (r->depth == 0 || top_is_obj(r) != obj)
		return fail_at(r, r->p, "%s: not inside %s", obj ? "member" : "element",
			       obj ? "an object" : "an array");
	/* the previous entry's value must have been read */
	if (!r->first && r->want_value)
		return fail_at(r, r->p, "a value is missing");
	skip_ws(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		r->depth--;
		value_done(r);
		return 0;
	}
	if (!r->first) {
		if (r->p >= r->end || *r->p != ',')
			return unexpected(r, obj ? "',' or '}'" : "',' or ']'");
		r->p++;
		skip_ws(r);
	}
	r->first = false;
	return 1;
}

int jr_arr_next(struct jr *r)
{
	int rc = next_entry(r, false);

	if (rc == 1)
		r->want_value = true;
	return rc;
}

/* ---- strings ---- */

/* Bytes that stand for themselves in a string: 0x20-0x7f but " and \. */
static const unsigned char plain[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* The 4 hex digits at q (q + 4 <= end checked by the caller), or -1. */
static long hex4(const char *q)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		int h = hex_digit(q[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* The \u escape (pair) at q ('\\' at q[0], 'u' at q[1]): its code point
 * in *cp and its length in the text, or a failure. */
static int unicode_escape(struct jr *r, const char *q, long *cp, size_t *n)
{
	long hi, lo;

	if (r->end - q < 6 || (hi = hex4(q + 2)) < 0)
		return fail_at(r, q, "invalid escape: \\u needs four hex digits");
	if (hi == 0)
		return fail_at(r, q, "\\u0000 is not allowed in a string");
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return fail_at(r, q, "invalid Unicode escape \\u%04lX: a low surrogate alone", hi);
	if (hi < 0xd800 || hi > 0xdbff) {
		*cp = hi;
		*n = 6;
		return 0;
	}
	if (r->end - q < 12 || q[6] != '\\' || q[7] != 'u')
		return fail_at(r, q, "invalid Unicode escape \\u%04lX: a high surrogate alone", hi);
	if ((lo = hex4(q + 8)) < 0)
		return fail_at(r, q + 6, "invalid escape: \\u needs four hex digits");
	if (lo < 0xdc00 || lo > 0xdfff)
		return fail_at(r, q,
			       "invalid Unicode escape \\u%04lX\\u%04lX: not a surrogate pair", hi,
			       lo);
	*cp = ((hi - 0xd800) << 10) + (lo - 0xdc00) + 0x10000;
	*n = 12;
	return 0;
}

static size_t utf8_put(char *d, long cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xc0 | (cp >> 6));
		d[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xe0 | (cp >> 12));
		d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		d[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | (cp >> 18));
	d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decode the checked raw string [s, q) (escapes in it) into b. */
static int decode(struct jr *r, struct buf *b, const char *s, const char *q)
{
	char *d;
	size_t o = 0;

	b->len = 0;
	/* never longer than the text: every escape shrinks */
	if (buf_reserve(b, (size_t)(q - s)) < 0)
		return oom(r);
	d = b->data;
	while (s < q) {
		long cp;
		size_t n;

		if (*s != '\\') {
			d[o++] = *s++;
			continue;
		}
		switch (s[1]) {
		case 'b': d[o++] = '\b'; break;
		case 'f': d[o++] = '\f'; break;
		case 'n': d[o++] = '\n'; break;
		case 'r': d[o++] = '\r'; break;
		case 't': d[o++] = '\t'; break;
		case 'u':
			unicode_escape(r, s, &cp, &n); /* checked by scan_string */
			o += utf8_put(d + o, cp);
			s += n;
			continue;
		default: d[o++] = s[1]; break; /* " \ / */
		}
		s += 2;
	}
	buf_commit(b, o);
	return 0;
}

/*
 * The string at r->p (the opening quote), checked; the reader moves past
 * its closing quote. With out, *out and *len get its decoded bytes: into
 * the text when it holds no escape, else decoded into b.
 */
static int scan_string(struct jr *r, struct buf *b, const char **out, size_t *len)
{
	const char *s = r->p + 1, *q = s;
	bool esc = false;

	for (;;) {
		unsigned char c;
		while (q < r->end && plain[(unsigned char)*q])
			q++;
		if (q >= r->end)
			return fail_at(r, q, "the text ends inside a string");
		c = (unsigned char)*q;
		if (c == '"')
			break;
		if (c == '\\') {
			long cp;
			size_t n;

			esc = true;
			if (q + 1 >= r->end)
				return fail_at(r, q, "the text ends inside a string");
			switch (q[1]) {
			case '"': case '\\': case '/':
			case 'b': case 'f': case 'n': case 'r': case 't':
				q += 2;
				continue;
			case 'u':
				if (unicode_escape(r, q, &cp, &n) < 0)
					return r->err.code;
				q += n;
				continue;
			default: {
				char sb[16];
				return fail_at(r, q, "invalid escape: '\\' before %s",
					       seen(r, q + 1, sb, sizeof(sb)));
			}
			}
		}
		if (c < 0x20)
			return fail_at(r, q, "control character 0x%02x in a string", c);
		/* c >= 0x80 */
		{
			size_t n = jw_utf8_len((const unsigned char *)q, (size_t)(r->end - q));
			if (n == 0)
				return fail_at(r, q, "invalid UTF-8: byte 0x%02x", c);
			q += n;
		}
	}
	r->p = q + 1;
	if (!out)
		return 0;
	if (!esc) {
		*out = s;
		*len = (size_t)(q - s);
		return 0;
	}
	if (decode(r, b, s, q) < 0)
		return r->err.code;
	*out = b->data;
	*len = b->len;
	return 0;
}

int jr_obj_next(struct jr *r, const char **key, size_t *klen)
{
	int rc = next_entry(r, true);

	if (rc != 1)
		return rc;
	if (r->p >= r->end || *r->p != '"')
		return unexpected(r, "a member's name (a string)");
	if ((rc = scan_string(r, &r->kbuf, key, klen)) < 0)
		return rc;
	skip_ws(r);
	if (r->p >= r->end || *r->p != ':')
		return unexpected(r, "':'");
	r->p++;
	r->want_value = true;
	return 1;
}

int jr_str(struct jr *r, const char **s, size_t *len)
{
	int rc = value_start(r);

	if (rc < 0)
		return rc;
	if (r->p >= r->end || *r->p != '"')
		return unexpected(r, "a string");
	if ((rc = scan_string(r, &r->vbuf, s, len)) < 0)
		return rc;
	value_done(r);
	return 0;
}

int jr_str_dup(struct jr *r, char **out, size_t *len)
{
	const char *s;
	size_t n;
	int rc;

	*out = NULL;
	if ((rc = jr_str(r, &s, &n)) < 0)
		return rc;
	if (!(*out = sys_malloc(n + 1)))
		return oom(r);
	memcpy(*out, s, n);
	(*out)[n] = '\0';
	if (len)
		*len = n;
	return 0;
}

/* ---- numbers and literals ---- */

/*
 * After a number or a literal, jansson's lexer puts the byte that ended it
 * back, and a NUL byte put back is lost: one NUL right there is taken as
 * nothing ("[5\0]" is [5]). So that both take the same texts, so does this.
 */
static void token_end(struct jr *r)
{
	if (r->p < r->end && *r->p == '\0')
		r->p++;
}

static bool is_digit(const char *q, const char *end)
{
	return q < end && *q >= '0' && *q <= '9';
}

enum jr_type jr_peek(struct jr *r)
{
	const char *q;

	if (r->err.code)
		return JR_NONE;
	skip_ws(r);
	if (r->p >= r->end)
		return JR_NONE;
	switch (*r->p) {
	case '{': return JR_OBJECT;
	case '[': return JR_ARRAY;
	case '"': return JR_STRING;
	case 't': return JR_TRUE;
	case 'f': return JR_FALSE;
	case 'n': return JR_NULL;
	case '-': case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
	case '8': case '9':
		q = r->p + (*r->p == '-');
		while (is_digit(q, r->end))
			q++;
		return q < r->end && (*q == '.' || *q == 'e' || *q == 'E') ? JR_REAL : JR_INTEGER;
	default:
		return JR_NONE;
	}
}

int jr_num(struct jr *r, enum jr_type *type, long long *i, double *d)
{
	const char *s, *q;
	bool neg;
	int rc = value_start(r);

	if (rc < 0)
		return rc;
	s = q = r->p;
	neg = q < r->end && *q == '-';
	q += neg;
	if (q < r->end && *q == '0') {
		q++;
		if (is_digit(q, r->end))
			return fail_at(r, s, "invalid number: a leading zero");
	} else if (is_digit(q, r->end)) {
		while (is_digit(q, r->end))
			q++;
	} else {
		return unexpected(r, "a number");
	}
	if (q < r->end && (*q == '.' || *q == 'e' || *q == 'E')) {
		if (*q == '.') {
			q++;
			if (!is_digit(q, r->end))
				return fail_at(r, s, "invalid number: no digit after '.'");
			while (is_digit(q, r->end))
				q++;
		}
		if (q < r->end && (*q == 'e' || *q == 'E')) {
			q++;
			if (q < r->end && (*q == '+' || *q == '-'))
				q++;
			if (!is_digit(q, r->end))
				return fail_at(r, s, "invalid number: no digit in the exponent");
			while (is_digit(q, r->end))
				q++;
		}
		/* strtod wants a NUL: the number's text, copied */
		r->vbuf.len = 0;
		if (buf_add(&r->vbuf, s, (size_t)(q - s)) < 0)
			return oom(r);
		errno = 0;
		*d = strtod(r->vbuf.data, NULL);
		if ((*d == HUGE_VAL || *d == -HUGE_VAL) && errno == ERANGE)
			return fail_at(r, s, "real number overflow");
		*type = JR_REAL;
		*i = 0;
	} else {
		const unsigned long long limit = neg ? 9223372036854775808ULL
						     : 9223372036854775807ULL;
		unsigned long long u = 0;

		for (const char *p = s + neg; p < q; p++) {
			unsigned dig = (unsigned)(*p - '0');
			if (u > (limit - dig) / 10)
				return fail_at(r, s, neg ? "too big negative integer"
							 : "too big integer");
			u = u * 10 + dig;
		}
		*i = !neg ? (long long)u : u == 0 ? 0 : -(long long)(u - 1) - 1;
		*type = JR_INTEGER;
		*d = 0;
	}
	r->p = q;
	token_end(r);
	value_done(r);
	return 0;
}

int jr_int(struct jr *r, long long *out)
{
	enum jr_type t;
	double d;
	int rc;

	*out = 0;
	if (jr_peek(r) == JR_REAL)
		return unexpected(r, "an integer");
	if ((rc = jr_num(r, &t, out, &d)) < 0)
		return rc;
	return 0;
}

/* The literal word at r->p. */
static int literal(struct jr *r, const char *word, size_t n)
{
	int rc = value_start(r);

	if (rc < 0)
		return rc;
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return unexpected(r, word);
	r->p += n;
	token_end(r);
	value_done(r);
	return 0;
}

int jr_bool(struct jr *r, bool *out)
{
	*out = false;
	switch (jr_peek(r)) {
	case JR_TRUE:
		*out = true;
		return literal(r, "true", 4);
	case JR_FALSE:
		return literal(r, "false", 5);
	default:
		return r->err.code ? r->err.code : unexpected(r, "true or false");
	}
}

int jr_null(struct jr *r)
{
	return literal(r, "null", 4);
}

/* ---- whole values ---- */

/* One value; a container is only opened. */
static int skip_one(struct jr *r)
{
	enum jr_type t;
	long long i;
	double d;
	bool b;
	int rc;

	switch (jr_peek(r)) {
	case JR_OBJECT:
		return jr_obj_begin(r);
	case JR_ARRAY:
		return jr_arr_begin(r);
	case JR_STRING:
		if ((rc = value_start(r)) < 0 || (rc = scan_string(r, NULL, NULL, NULL)) < 0)
			return rc;
		value_done(r);
		return 0;
	case JR_INTEGER:
	case JR_REAL:
		return jr_num(r, &t, &i, &d);
	case JR_TRUE:
	case JR_FALSE:
		return jr_bool(r, &b);
	case JR_NULL:
		return jr_null(r);
	default:
		return r->err.code ? r->err.code : unexpected(r, "a value");
	}
}

int jr_skip(struct jr *r)
{
	const unsigned base = r->depth;
	const char *k;
	size_t kl;
	int rc;

	for (;;) {
		if ((rc = skip_one(r)) < 0)
			return rc;
		/* close what ends here, until the next value or the end of ours */
		for (;;) {
			if (r->depth == base)
				return 0;
			rc = top_is_obj(r) ? jr_obj_next(r, &k, &kl) : jr_arr_next(r);
			if (rc < 0)
				return rc;
			if (rc == 1)
				break;
		}
	}
}

int jr_end(struct jr *r)
{
	if (r->err.code)
		return r->err.code;
	skip_ws(r);
	if (r->depth > 0)
		return fail_at(r, r->p, "the text ends inside %s",
			       top_is_obj(r) ? "an object" : "an array");
	if (r->want_value)
		return unexpected(r, "a value");
	if (r->p < r->end)
		return unexpected(r, "the end of the text");
	return 0;
}
