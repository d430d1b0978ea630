/*
 * jsonw: a JSON writer that reproduces jansson's json_dumps layout
 * (dump.c: "{" then, per member, a newline and the indent, the key, ": ",
 * the value, "," between members, a newline and the outer indent before
 * "}"; "{}" and "[]" when empty) and, with JW_GO_ESCAPES, the rewrite
 * codec's go_escape applies to jansson's text. tests/unit/test_codec.c
 * compares the two byte for byte.
 */
#include "api/jsonw.h"
#include "util/jsondump.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JW_MIN_CAP 4096

/* a newline and the indent of up to 32 levels */
static const char indent[] = "\n                                                                ";

void jw_init(struct jw *w, int flags)
{
	memset(w, 0, sizeof(*w));
	w->flags = flags;
}

void jw_release(struct jw *w)
{
	buf_release(&w->text);
	jw_init(w, w->flags);
}

int jw_finish(struct jw *w, char **out, size_t *len)
{
	*out = NULL;
	if (!w->oom && buf_reserve(&w->text, 0) < 0) /* nothing written: "" */
		w->oom = true;
	if (w->oom) {
		jw_release(w);
		return -ENOMEM;
	}
	*out = w->text.data;
	if (len)
		*len = w->text.len;
	w->text.data = NULL;
	jw_release(w);
	return 0;
}

/* The slow half of reserve: a bigger buffer (at least JW_MIN_CAP: a
 * reply is rarely smaller, and doubling from there keeps copies few). */
static bool grow(struct jw *w, size_t n)
{
	if (w->oom)
		return false;
	if (!w->text.cap && n < JW_MIN_CAP && buf_reserve(&w->text, JW_MIN_CAP) < 0)
		w->oom = true;
	else if (buf_reserve(&w->text, n) < 0)
		w->oom = true;
	return !w->oom;
}

/* Room for n more bytes and the final NUL; false on OOM. (After an OOM
 * the writes that still fit go on; jw_finish drops the text anyway.) */
static inline bool reserve(struct jw *w, size_t n)
{
	return n < w->text.cap - w->text.len || grow(w, n);
}

static inline void put(struct jw *w, const void *p, size_t n)
{
	if (reserve(w, n)) {
		memcpy(w->text.data + w->text.len, p, n);
		buf_commit(&w->text, n);
	}
}

static inline void putc1(struct jw *w, char c)
{
	if (reserve(w, 1)) {
		w->text.data[w->text.len] = c;
		buf_commit(&w->text, 1);
	}
}

/* jansson's dump_indent: a newline and two spaces per level (pretty only). */
static void newline(struct jw *w)
{
	size_t n = (size_t)w->depth * 2 + 1;

	if (!(w->flags & JW_PRETTY))
		return;
	if (n <= sizeof(indent) - 1) {
		put(w, indent, n);
		return;
	}
	putc1(w, '\n');
	for (n--; n; ) {
		size_t k = n < sizeof(indent) - 2 ? n : sizeof(indent) - 2;
		put(w, indent + 1, k);
		n -= k;
	}
}

/* Before a member or element: "," after the first, then the indent. */
static void separate(struct jw *w)
{
	if (!w->first)
		putc1(w, ',');
	w->first = false;
	newline(w);
}

static void open_container(struct jw *w, char c)
{
	putc1(w, c);
	w->depth++;
	w->first = true;
}

static void close_container(struct jw *w, char c)
{
	w->depth--;
	if (!w->first) /* empty containers stay "{}" and "[]" */
		newline(w);
	putc1(w, c);
	w->first = false;
}

void jw_obj_begin(struct jw *w)
{
	open_container(w, '{');
}

void jw_obj_end(struct jw *w)
{
	close_container(w, '}');
}

void jw_arr_begin(struct jw *w)
{
	open_container(w, '[');
}

void jw_arr_end(struct jw *w)
{
	close_container(w, ']');
}

void jw_item(struct jw *w)
{
	separate(w);
}

void jw_keyn(struct jw *w, const char *key, size_t len)
{
	separate(w);
	jw_strn(w, key, len);
	if (w->flags & JW_PRETTY)
		put(w, ": ", 2);
	else
		putc1(w, ':');
}

void jw_key(struct jw *w, const char *key)
{
	jw_keyn(w, key ? key : "", key ? strlen(key) : 0);
}

/* ---- strings ---- */

size_t jw_utf8_len(const unsigned char *s, size_t avail)
{
	if (avail == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return avail >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if (avail < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f))
			return 0;
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if (avail < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/* Bytes 0-127 that are copied as they are: bit c of plain_bits[go][c / 64]:
 * all from 0x20 but " and \, and for Go not <, > and & either. */
#define BIT(c) (1ULL << ((c) & 63))
static const unsigned long long plain_bits[2][2] = {
	{ ~0xffffffffULL & ~BIT('"'), ~0ULL & ~BIT('\\') },
	{ ~0xffffffffULL & ~BIT('"') & ~BIT('<') & ~BIT('>') & ~BIT('&'), ~0ULL & ~BIT('\\') },
};

static inline bool plain(unsigned char c, bool go)
{
	return c < 0x80 && (plain_bits[go][c >> 6] & BIT(c));
}

/* U+2028 LINE SEPARATOR or U+2029 PARAGRAPH SEPARATOR (3 bytes). */
static bool line_sep(const unsigned char *s, size_t n)
{
	return n == 3 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9);
}

/* "\u00xx": lower-case hex for Go, upper-case as jansson writes it. */
static void put_u00(struct jw *w, unsigned char c, bool go)
{
	const char *hex = go ? "0123456789abcdef" : "0123456789ABCDEF";
	char seq[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

	put(w, seq, sizeof(seq));
}

/* The escape for the ASCII byte c. */
static void put_ascii_escape(struct jw *w, unsigned char c, bool go)
{
	switch (c) {
	case '"':
		put(w, "\\\"", 2);
		return;
	case '\\':
		put(w, "\\\\", 2);
		return;
	case '\n':
		put(w, "\\n", 2);
		return;
	case '\r':
		put(w, "\\r", 2);
		return;
	case '\t':
		put(w, "\\t", 2);
		return;
	case '\b':
		if (!go) {
			put(w, "\\b", 2);
			return;
		}
		break;
	case '\f':
		if (!go) {
			put(w, "\\f", 2);
			return;
		}
		break;
	}
	put_u00(w, c, go);
}

/* The escape for what starts at s; returns the bytes it stands for. */
static size_t put_escape(struct jw *w, const unsigned char *s, size_t avail, bool go)
{
	size_t n;

	if (s[0] < 0x80) {
		put_ascii_escape(w, s[0], go);
		return 1;
	}
	n = jw_utf8_len(s, avail);
	if (n == 0) {
		put(w, "\xef\xbf\xbd", 3); /* U+FFFD for one bad byte, as codec's jstr */
		return 1;
	}
	put(w, s[2] == 0xa8 ? "\\u2028" : "\\u2029", 6); /* line_sep, Go only */
	return n;
}

void jw_strn(struct jw *w, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str, *end = s + len, *run = s;
	bool go = (w->flags & JW_GO_ESCAPES) != 0;

	if (!str)
		s = end = run = (const unsigned char *)"";
	reserve(w, len + 2); /* the common case: nothing to escape */
	putc1(w, '"');
	while (s < end) {
		size_t n;

		if (plain(*s, go)) {
			s++;
			continue;
		}
		if (*s >= 0x80) {
			n = jw_utf8_len(s, (size_t)(end - s));
			if (n && !(go && line_sep(s, n))) {
				s += n; /* well-formed UTF-8 is copied */
				continue;
			}
		}
		put(w, run, (size_t)(s - run));
		s += put_escape(w, s, (size_t)(end - s), go);
		run = s;
	}
	put(w, run, (size_t)(s - run));
	putc1(w, '"');
}

void jw_str(struct jw *w, const char *s)
{
	jw_strn(w, s ? s : "", s ? strlen(s) : 0);
}

/* ---- other values ---- */

void jw_int(struct jw *w, long long v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	put(w, p, (size_t)(tmp + sizeof(tmp) - p));
}

void jw_bool(struct jw *w, bool v)
{
	if (v)
		put(w, "true", 4);
	else
		put(w, "false", 5);
}

/* A real as jansson formats it (%.17g and its ".0" rule): rare enough
 * to borrow jansson's own dump. */
static void put_real(struct jw *w, const json_t *j)
{
	char *text = json_text(j, JSON_ENCODE_ANY);

	if (!text) {
		w->oom = true;
		return;
	}
	put(w, text, strlen(text));
	free(text);
}

static void put_object(struct jw *w, const json_t *j)
{
	const char *k;
	json_t *v;
	size_t klen;

	jw_obj_begin(w);
	json_object_keylen_foreach ((json_t *)j, k, klen, v) {
		jw_keyn(w, k, klen);
		jw_json(w, v);
	}
	jw_obj_end(w);
}

static void put_array(struct jw *w, const json_t *j)
{
	json_t *v;
	size_t i;

	jw_arr_begin(w);
	json_array_foreach (j, i, v) {
		jw_item(w);
		jw_json(w, v);
	}
	jw_arr_end(w);
}

void jw_json(struct jw *w, const json_t *j)
{
	switch (j ? json_typeof(j) : JSON_NULL) {
	case JSON_OBJECT:
		put_object(w, j);
		return;
	case JSON_ARRAY:
		put_array(w, j);
		return;
	case JSON_STRING:
		jw_strn(w, json_string_value(j), json_string_length(j));
		return;
	case JSON_INTEGER:
		jw_int(w, (long long)json_integer_value(j));
		return;
	case JSON_REAL:
		put_real(w, j);
		return;
	case JSON_TRUE:
		jw_bool(w, true);
		return;
	case JSON_FALSE:
		jw_bool(w, false);
		return;
	case JSON_NULL:
		put(w, "null", 4);
		return;
	}
}
