/*
 * yaml: a configuration file's text into the flat map: the checks that
 * keep libfyaml 0.7.12 away from inputs it crashes on (control bytes,
 * ill-formed UTF-8, explicit keys, directives, path aliases), the parse,
 * and the flattening (scopes as dotted keys, sequences, anchors, merge
 * keys without cycles, $VAR expansion). config.c has the map it fills.
 */
#include "config/config_int.h"

#include <errno.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/names.h"

/* ------------------------------------------------------------------ */
/* $VAR expansion */

/* A value being built: a util/buf bounded by CFG_VALUE_MAX; past it the
 * callers say -E2BIG. */
static int sbuf_add(struct buf *b, const char *s, size_t n)
{
	int r = buf_add(b, s, n);

	return r == -EFBIG ? -E2BIG : r;
}

static bool is_name_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '_';
}

/*
 * s[*i] is '$': append what it stands for and move *i past it. "$$" is a
 * dollar; a "$" not followed by a name, and an unclosed or empty "${",
 * stay as written.
 */
static int expand_one(const struct cfgi_target *t, const char *s, size_t len, size_t *i,
		      struct buf *b)
{
	size_t start = *i + 1, end;
	char name[256];
	const char *v;

	if (start < len && s[start] == '$') {
		*i = start + 1;
		return sbuf_add(b, "$", 1);
	}
	if (start < len && s[start] == '{') {
		end = ++start;
		while (end < len && s[end] != '}')
			end++;
		if (end >= len || end == start) {
			*i += 1;
			return sbuf_add(b, "$", 1);
		}
		*i = end + 1;
	} else {
		for (end = start; end < len && is_name_char(s[end]); end++)
			;
		if (end == start) {
			*i += 1;
			return sbuf_add(b, "$", 1);
		}
		*i = end;
	}
	if (end - start >= sizeof(name))
		return 0;	/* no such variable can exist here */
	memcpy(name, s + start, end - start);
	name[end - start] = '\0';
	v = t->env(t->arg, name);
	return v ? sbuf_add(b, v, strlen(v)) : 0;
}

/* Expand s[0..len) into a malloc'd string. Returns 0, -E2BIG or -ENOMEM. */
static int expand_vars(const struct cfgi_target *t, const char *s, size_t len, char **ret)
{
	struct buf b = { .max = CFG_VALUE_MAX };
	size_t i = 0, run;
	int r = sbuf_add(&b, "", 0);

	while (r == 0 && i < len) {
		for (run = i; run < len && s[run] != '$'; run++)
			;
		r = sbuf_add(&b, s + i, run - i);
		i = run;
		if (r == 0 && i < len)
			r = expand_one(t, s, len, &i, &b);
	}
	if (r < 0) {
		buf_release(&b);
		return r;
	}
	*ret = b.data;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Flattening a YAML document */

struct flat {
	const struct cfgi_target *t; /* where pairs go; its environment expands $VAR */
	const char *name;	/* the file, for messages */
	struct err *e;
	size_t nodes;		/* visited, to bound alias expansion */
	/* mappings being flattened through merge keys: a merge of one of
	 * these would recurse forever (a mapping merging itself or an
	 * enclosing one, which libfyaml's path aliases make possible) */
	struct fy_node *merging[CFG_MERGE_DEPTH];
	int n_merging;
	char key[CFG_KEY_MAX];	/* the dotted key being built */
};

/* 0-based position of the first token in or under n, or 0:0. */
static void node_mark(struct fy_node *n, int *line, int *col)
{
	const struct fy_mark *m = NULL;
	void *it = NULL;

	*line = *col = 0;
	while (n && fy_node_get_type(n) != FYNT_SCALAR) {
		if (fy_node_get_type(n) == FYNT_MAPPING) {
			struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);

			n = p ? fy_node_pair_key(p) : NULL;
		} else {
			n = fy_node_sequence_iterate(n, &it);
		}
		it = NULL;
	}
	if (n)
		m = fy_token_start_mark(fy_node_get_scalar_token(n));
	if (m) {
		*line = m->line;
		*col = m->column;
	}
}

static int flat_error(struct flat *f, struct fy_node *n, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "config: FILE:LINE:COL: what", 1-based like the parser's own errors. */
static int flat_error(struct flat *f, struct fy_node *n, int code, const char *fmt, ...)
{
	char what[ERR_MSG_MAX];
	int line, col;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (code == -ENOMEM)
		return err_set(f->e, code, "config: out of memory");
	node_mark(n, &line, &col);
	return err_set(f->e, code, "config: %s:%d:%d: %s", f->name, line + 1, col + 1, what);
}

static bool scalar_is_null(struct fy_node *n)
{
	size_t len;
	const char *s;

	if (fy_node_get_style(n) != FYNS_PLAIN)
		return false;
	s = fy_node_get_scalar(n, &len);
	if (!s || len == 0)
		return true;
	return (len == 1 && s[0] == '~') ||
	       (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

/* Follow an alias to its anchored node; non-aliases pass through. */
static int deref(struct flat *f, struct fy_node **n)
{
	struct fy_node *target;

	const char *alias;

	if (!*n || !fy_node_is_alias(*n))
		return 0;
	/* An alias naming a path ('*' then "/a/0") is libfyaml's extension,
	 * not YAML, and can name an enclosing node (the root): refuse it */
	alias = fy_node_get_scalar0(*n);
	if (alias && strchr(alias, '/'))
		return flat_error(f, *n, -EINVAL, "alias '*%s': path aliases are not allowed",
				  alias);
	target = fy_node_resolve_alias(*n);
	if (!target)
		return flat_error(f, *n, -EINVAL, "alias '*%s' has no anchor",
				  fy_node_get_scalar0(*n) ? fy_node_get_scalar0(*n) : "");
	*n = target;
	return 0;
}

static int flat_put(struct flat *f, struct fy_node *n, const char *value, bool weak)
{
	int line, col;

	node_mark(n, &line, &col);
	if (f->t->put(f->t->arg, f->key, value, weak, line + 1, col + 1) < 0)
		return flat_error(f, n, -ENOMEM, "out of memory");
	return 0;
}

/* The expanded text of a non-null scalar into a malloc'd *ret. */
static int scalar_text(struct flat *f, struct fy_node *n, char **ret)
{
	size_t len;
	const char *s = fy_node_get_scalar(n, &len);
	int r = expand_vars(f->t, s ? s : "", s ? len : 0, ret);

	if (r == -E2BIG)
		return flat_error(f, n, -EINVAL, "value of '%s' is longer than %d bytes",
				  f->key, CFG_VALUE_MAX);
	if (r < 0)
		return flat_error(f, n, r, "out of memory");
	return 0;
}

static int flat_node(struct flat *f, struct fy_node *n, size_t klen, bool weak);

static int flat_scalar(struct flat *f, struct fy_node *n, bool weak)
{
	char *v;
	int r;

	if (scalar_is_null(n))
		return flat_put(f, n, NULL, weak);
	if ((r = scalar_text(f, n, &v)) < 0)
		return r;
	r = flat_put(f, n, v, weak);
	free(v);
	return r;
}

/* Append item's text to the "a,b,c" form of a sequence, if it is a scalar. */
static int join_item(struct flat *f, struct fy_node *item, struct buf *joined, bool *any)
{
	char *v;
	int r;

	if ((r = deref(f, &item)) < 0)
		return r;
	if (!item || fy_node_get_type(item) != FYNT_SCALAR || scalar_is_null(item))
		return 0;
	if ((r = scalar_text(f, item, &v)) < 0)
		return r;
	r = *any ? sbuf_add(joined, ",", 1) : 0;
	if (r == 0)
		r = sbuf_add(joined, v, strlen(v));
	free(v);
	*any = true;
	if (r == -E2BIG)
		return flat_error(f, item, -EINVAL, "value of '%s' is longer than %d bytes",
				  f->key, CFG_VALUE_MAX);
	return r < 0 ? flat_error(f, item, r, "out of memory") : 0;
}

/* key.0, key.1, ... and key = the scalar items joined by ","; a sequence
 * without scalar items leaves key null. */
static int flat_seq(struct flat *f, struct fy_node *n, size_t klen, bool weak)
{
	struct buf joined = { .max = CFG_VALUE_MAX };
	struct fy_node *item;
	void *it = NULL;
	bool any = false;
	size_t i = 0;
	int r = 0;

	while (r == 0 && (item = fy_node_sequence_iterate(n, &it))) {
		int w = snprintf(f->key + klen, sizeof(f->key) - klen, ".%zu", i++);

		if (w < 0 || (size_t)w >= sizeof(f->key) - klen)
			r = flat_error(f, item, -EINVAL, "key is longer than %d bytes",
				       CFG_KEY_MAX - 1);
		else
			r = flat_node(f, item, klen + (size_t)w, weak);
		f->key[klen] = '\0';
		if (r == 0)
			r = join_item(f, item, &joined, &any);
	}
	if (r == 0)
		r = flat_put(f, n, any ? joined.data : NULL, weak);
	buf_release(&joined);
	return r;
}

static bool is_merge_key(struct fy_node *k)
{
	size_t len;
	const char *s;

	if (!k || fy_node_get_type(k) != FYNT_SCALAR || fy_node_get_style(k) != FYNS_PLAIN)
		return false;
	s = fy_node_get_scalar(k, &len);
	return s && len == 2 && s[0] == '<' && s[1] == '<';
}

/* Extend f->key by ".<k lower-cased>"; *ret_len is the new length. */
static int key_append(struct flat *f, struct fy_node *k, size_t klen, size_t *ret_len)
{
	const char *s = NULL;
	size_t len = 0, at = klen ? klen + 1 : 0;
	int r;

	if ((r = deref(f, &k)) < 0)
		return r;
	if (k && fy_node_get_type(k) != FYNT_SCALAR)
		return flat_error(f, k, -EINVAL, "a key must be a scalar");
	if (k && !scalar_is_null(k))
		s = fy_node_get_scalar(k, &len);
	if (!s || !len || memchr(s, '\0', len))
		return flat_error(f, k, -EINVAL, "empty or invalid key under '%s'", f->key);
	if (at + len >= sizeof(f->key))
		return flat_error(f, k, -EINVAL, "key is longer than %d bytes", CFG_KEY_MAX - 1);
	if (klen)
		f->key[klen] = '.';
	for (size_t i = 0; i < len; i++)
		f->key[at + i] = ascii_lower(s[i]);
	f->key[at + len] = '\0';
	*ret_len = at + len;
	return 0;
}

static int flat_map(struct flat *f, struct fy_node *n, size_t klen, bool weak);

/* Flatten a mapping a merge key names, refusing cycles. */
static int merge_map(struct flat *f, struct fy_node *m, size_t klen)
{
	int r;

	if (++f->nodes > CFG_NODES_MAX)
		return flat_error(f, m, -EINVAL, "more than %d nodes (aliases expanding?)",
				  CFG_NODES_MAX);
	for (int i = 0; i < f->n_merging; i++)
		if (f->merging[i] == m)
			return flat_error(f, m, -EINVAL, "merge key '<<' refers to an enclosing "
					  "mapping");
	if (f->n_merging == CFG_MERGE_DEPTH)
		return flat_error(f, m, -EINVAL, "merge keys nested deeper than %d",
				  CFG_MERGE_DEPTH);
	f->merging[f->n_merging++] = m;
	r = flat_map(f, m, klen, true);
	f->n_merging--;
	return r;
}

/* "<<: *anchor" or "<<: [*a, *b]": weak copies under the current key. */
static int flat_merge(struct flat *f, struct fy_node *v, size_t klen)
{
	struct fy_node *item;
	void *it = NULL;
	int r;

	if ((r = deref(f, &v)) < 0)
		return r;
	if (v && fy_node_get_type(v) == FYNT_MAPPING)
		return merge_map(f, v, klen);
	if (!v || fy_node_get_type(v) != FYNT_SEQUENCE)
		return flat_error(f, v, -EINVAL, "a merge key '<<' needs a mapping");
	while ((item = fy_node_sequence_iterate(v, &it))) {
		if ((r = deref(f, &item)) < 0)
			return r;
		if (!item || fy_node_get_type(item) != FYNT_MAPPING)
			return flat_error(f, item ? item : v, -EINVAL,
					  "a merge key '<<' needs a mapping");
		if ((r = merge_map(f, item, klen)) < 0)
			return r;
	}
	return 0;
}

/* A merge key inside mapping n: n counts as enclosing while its merge runs. */
static int flat_merge_from(struct flat *f, struct fy_node *n, struct fy_node *v, size_t klen)
{
	bool pushed = false;
	int r;

	for (int i = 0; i < f->n_merging; i++)
		pushed = pushed || f->merging[i] == n;
	if (!pushed) {
		if (f->n_merging == CFG_MERGE_DEPTH)
			return flat_error(f, n, -EINVAL, "merge keys nested deeper than %d",
					  CFG_MERGE_DEPTH);
		f->merging[f->n_merging++] = n;
	}
	r = flat_merge(f, v, klen);
	if (!pushed)
		f->n_merging--;
	return r;
}

/* An empty map still names its key, so cfg_children can see "vfs: {}". */
static int flat_map(struct flat *f, struct fy_node *n, size_t klen, bool weak)
{
	struct fy_node_pair *p;
	void *it = NULL;
	size_t nlen = 0;
	int r = 0;

	if (fy_node_mapping_item_count(n) == 0)
		return klen ? flat_put(f, n, NULL, weak) : 0;
	while (r == 0 && (p = fy_node_mapping_iterate(n, &it))) {
		struct fy_node *k = fy_node_pair_key(p);

		if (is_merge_key(k))
			r = flat_merge_from(f, n, fy_node_pair_value(p), klen);
		else if ((r = key_append(f, k, klen, &nlen)) == 0)
			r = flat_node(f, fy_node_pair_value(p), nlen, weak);
		f->key[klen] = '\0';
	}
	return r;
}

static int flat_node(struct flat *f, struct fy_node *n, size_t klen, bool weak)
{
	int r;

	if (++f->nodes > CFG_NODES_MAX)
		return flat_error(f, n, -EINVAL, "more than %d nodes (aliases expanding?)",
				  CFG_NODES_MAX);
	if ((r = deref(f, &n)) < 0)
		return r;
	if (!n)
		return flat_put(f, n, NULL, weak);
	switch (fy_node_get_type(n)) {
	case FYNT_SEQUENCE:
		return flat_seq(f, n, klen, weak);
	case FYNT_MAPPING:
		return flat_map(f, n, klen, weak);
	default:
		return flat_scalar(f, n, weak);
	}
}

/* The document's root must be a mapping; an empty document is no keys. */
static int flat_document(struct flat *f, struct fy_document *doc)
{
	struct fy_node *root = doc ? fy_document_root(doc) : NULL;

	f->key[0] = '\0';
	if (!root || (fy_node_get_type(root) == FYNT_SCALAR && scalar_is_null(root)))
		return 0;
	if (fy_node_get_type(root) != FYNT_MAPPING)
		return err_set(f->e, -EINVAL, "config: %s: the top level is not a mapping",
			       f->name);
	return flat_map(f, root, 0, false);
}

/* ------------------------------------------------------------------ */
/* Parsing */

/* libfyaml's text that is not a collected error, kept for the message
 * instead of being printed. */
struct diag_text {
	char msg[200];
};

static void diag_capture(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
	struct diag_text *t = user;

	(void)diag;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		len--;
	if (len)
		name_sanitise(t->msg, sizeof(t->msg), buf, len);
}

static int syntax_error(struct fy_diag *diag, const struct diag_text *t, const char *name,
			struct err *e)
{
	struct fy_diag_error *de;
	void *it = NULL;

	while ((de = fy_diag_errors_iterate(diag, &it)))
		if (de->type >= FYET_ERROR)
			return err_set(e, -EINVAL, "config: %s:%d:%d: %s", name, de->line,
				       de->column, de->msg ? de->msg : "syntax error");
	return err_set(e, -EINVAL, "config: %s: %s", name, t->msg[0] ? t->msg : "cannot parse YAML");
}

static struct fy_diag *diag_new(struct diag_text *t)
{
	struct fy_diag_cfg dc;
	struct fy_diag *diag;

	fy_diag_cfg_default(&dc);
	dc.fp = NULL;
	dc.output_fn = diag_capture;
	dc.user = t;
	dc.colorize = false;
	diag = fy_diag_create(&dc);
	if (diag)
		fy_diag_set_collect_errors(diag, true);
	return diag;
}

/*
 * The code point of the well-formed UTF-8 sequence at t[0..avail) in *cp
 * and its length, or 0 if it is not well formed (overlongs, surrogates,
 * beyond U+10FFFF, truncated).
 */
static size_t utf8_decode(const unsigned char *t, size_t avail, unsigned *cp)
{
	static const unsigned min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t n = t[0] < 0x80 ? 1 : (t[0] >> 5) == 6 ? 2 : (t[0] >> 4) == 14 ? 3 :
		   (t[0] >> 3) == 30 ? 4 : 0;
	unsigned v;

	if (n == 0 || n > avail)
		return 0;
	v = n == 1 ? t[0] : t[0] & (0x7f >> n);
	for (size_t k = 1; k < n; k++) {
		if ((t[k] >> 6) != 2)
			return 0;
		v = v << 6 | (t[k] & 0x3f);
	}
	if (v < min[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/* Characters YAML 1.2 does not allow in a stream (its c-printable set):
 * C0 controls but TAB, LF, CR; DEL; C1 controls but NEL; U+FFFE/U+FFFF. */
static bool yaml_unprintable(unsigned cp)
{
	return (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
	       (cp >= 0x7f && cp <= 0x9f && cp != 0x85) || cp == 0xfffe || cp == 0xffff;
}

/*
 * YAML is Unicode text, and a config file needs no directives: refuse
 * invalid UTF-8, characters YAML does not allow and lines starting with
 * '%', naming line and column. libfyaml 0.7.12 must never see them: it
 * loops forever on a directive line with bytes that are not UTF-8
 * (libfyaml#101) and frees a simple key twice when the stream stops at
 * a control byte (tests/fuzz/crashes/config/README.md, 2 and 4).
 */
static int text_check(const char *t, size_t len, const char *name, struct err *e)
{
	int line = 1, col = 1;

	for (size_t i = 0; i < len;) {
		unsigned cp = 0;
		size_t n = utf8_decode((const unsigned char *)t + i, len - i, &cp);

		if (n == 0)
			return err_set(e, -EINVAL, "config: %s:%d:%d: invalid UTF-8", name, line, col);
		if (yaml_unprintable(cp))
			return err_set(e, -EINVAL, "config: %s:%d:%d: control character U+%04X "
				       "is not allowed in YAML", name, line, col, cp);
		if (cp == '%' && col == 1)
			return err_set(e, -EINVAL, "config: %s:%d:%d: YAML directives ('%%') are "
				       "not allowed in a config file", name, line, col);
		if (cp == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
		i += n;
	}
	return 0;
}

/* Parse the first document of yaml and flatten it into out. */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool ends_token(const char *t, size_t i, size_t end)
{
	return i >= end || is_blank(t[i]) || t[i] == '\r' || t[i] == '\n';
}

/* Does the line t[b..end) (comments and trailing blanks aside) end with a
 * block scalar header ('|' or '>' and its indicators)? */
static bool opens_block_scalar(const char *t, size_t b, size_t end)
{
	size_t i = b, last;

	for (bool quoted = false; i < end; i++) {
		if (t[i] == '\'' || t[i] == '"')
			quoted = !quoted;
		else if (!quoted && t[i] == '#' && (i == b || is_blank(t[i - 1])))
			break;
	}
	last = i;
	while (last > b && (is_blank(t[last - 1]) || t[last - 1] == '\r'))
		last--;
	while (last > b && (t[last - 1] == '-' || t[last - 1] == '+' ||
			    (t[last - 1] >= '1' && t[last - 1] <= '9')))
		last--;
	return last > b && (t[last - 1] == '|' || t[last - 1] == '>') &&
	       (last - 1 == b || is_blank(t[last - 2]));
}

/*
 * Is t[i], a '?', the explicit key indicator? It is when it starts a token
 * (line start, also after a lone CR, which YAML reads as a line break, or
 * after a blank or a flow or block indicator) and a blank
 * or the line's end follows.
 */
static bool key_indicator(const char *t, size_t b, size_t i, size_t end)
{
	return (i == b || strchr(" \t\r-:,[{", t[i - 1])) && ends_token(t, i + 1, end);
}

/*
 * Refuse explicit keys ('?'), wherever they stand outside quotes, comments
 * and block scalars: a config file needs only plain keys, and libfyaml
 * 0.7.12 crashes in fy_parser_destroy on some of them ("? e:<TAB>-",
 * ": ? e:<TAB>-"; crashes/config README, 6). Lines inside a block scalar
 * ('|', '>') are text, not structure, and are skipped.
 */
static int explicit_key_check(const char *t, size_t len, const char *name, struct err *e)
{
	long scalar_indent = -1; /* inside a block scalar opened at this indent */
	int line = 1;

	for (size_t b = 0; b < len; line++) {
		size_t end = b, ind = b;
		char quote = 0;

		while (end < len && t[end] != '\n')
			end++;
		while (ind < end && t[ind] == ' ')
			ind++;
		if (scalar_indent >= 0 && (ind == end || (long)(ind - b) > scalar_indent)) {
			b = end + 1;
			continue;
		}
		scalar_indent = -1;
		for (size_t i = ind; i < end; i++) {
			if (quote) {
				if (t[i] == quote)
					quote = 0;
			} else if ((t[i] == '\'' || t[i] == '"') &&
				   (i == b || strchr(" \t\r,[{", t[i - 1]))) {
				/* a quote opens a quoted scalar only where a token
				 * starts; inside a plain scalar it is a character */
				quote = t[i];
			} else if (t[i] == '#' && (i == b || is_blank(t[i - 1]))) {
				break;
			} else if (t[i] == '?' && key_indicator(t, b, i, end)) {
				return err_set(e, -EINVAL, "config: %s:%d:%zu: explicit keys ('?') are "
					       "not allowed in a config file", name, line, i - b + 1);
			}
		}
		if (opens_block_scalar(t, b, end))
			scalar_indent = (long)(ind - b);
		b = end + 1;
	}
	return 0;
}

/*
 * A '?' that could be an explicit key by the strictest reading: where a
 * token starts (line start, after a blank, a CR or an indicator), followed
 * by a blank or the line's end, wherever it stands (quotes, comments and
 * block scalars not considered).
 */
static bool maybe_explicit_key(const char *t, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (t[i] != '?' || (i > 0 && !strchr(" \t\r\n-:,[{", t[i - 1])))
			continue;
		if (i + 1 == len || strchr(" \t\r\n", t[i + 1]))
			return true;
	}
	return false;
}

static void trial_died(int sig)
{
	_exit(128 + sig);
}

/* Parse and destroy text (NUL-terminated) in a child process: does
 * libfyaml survive it? */
static bool survives_in_child(const char *text, size_t len)
{
	struct fy_parse_cfg pc = { .flags = FYPCF_QUIET };
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		static const int fatal[] = { SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE };
		struct sigaction sa = { .sa_handler = trial_died };
		struct fy_parser *fyp;
		struct fy_document *doc;

		/* die quietly: no core, and not through inherited crash
		 * handlers (a fuzzer's would report the parent's input) */
		for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
			sigaction(fatal[i], &sa, NULL);
		fyp = fy_parser_create(&pc);

		if (fyp && fy_parser_set_string(fyp, text, len) == 0) {
			doc = fy_parse_load_document(fyp);
			if (doc)
				fy_parse_document_destroy(fyp, doc);
		}
		if (fyp)
			fy_parser_destroy(fyp);
		_exit(0);
	}
	if (pid < 0)
		return false;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/*
 * The lexical check lets a '?' through inside quotes, comments and block
 * scalars, where it is text. Should libfyaml 0.7.12 read one of them as a
 * key after all, its cleanup crashes the process (tests/fuzz/crashes/config
 * README, 6-9: each fuzz campaign found another way to hide one). So a
 * text with such a '?' is first parsed in a child process; if that dies,
 * the file is refused. Config files are read at start, before any thread.
 */
static int crash_check(const char *text, size_t len, const char *name, struct err *e)
{
	if (!maybe_explicit_key(text, len) || survives_in_child(text, len))
		return 0;
	return err_set(e, -EINVAL, "config: %s: the YAML parser cannot read this file safely "
		       "(it failed on it in a trial parse); look for a '?' followed by a blank "
		       "and remove or rephrase it", name);
}

int cfgi_parse_into(const struct cfgi_target *t, const char *name, const char *yaml, size_t len,
		    struct err *e)
{
	struct diag_text text = { "" };
	struct fy_parse_cfg pc = { .flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG };
	struct flat *f = NULL;
	struct fy_document *doc = NULL;
	struct fy_parser *fyp = NULL;
	char *copy = NULL;
	int r = -ENOMEM;

	if (!(pc.diag = diag_new(&text)) || !(fyp = fy_parser_create(&pc)) ||
	    !(f = calloc(1, sizeof(*f))))
		goto oom;
	if ((r = text_check(yaml, len, name, e)) < 0 ||
	    (r = explicit_key_check(yaml, len, name, e)) < 0)
		goto out;
	/* libfyaml reads some tokens with strtol, past len when the text is
	 * not NUL-terminated (crashes/config README, 5): give it a copy */
	if (!(copy = malloc(len + 1)))
		goto oom;
	memcpy(copy, yaml, len);
	copy[len] = '\0';
	if ((r = crash_check(copy, len, name, e)) < 0)
		goto out;
	r = -ENOMEM;
	if (fy_parser_set_string(fyp, copy, len) < 0)
		goto oom;
	doc = fy_parse_load_document(fyp);
	if (fy_parser_get_stream_error(fyp) || fy_diag_got_error(pc.diag)) {
		r = syntax_error(pc.diag, &text, name, e);
		goto out;
	}
	*f = (struct flat){ .t = t, .name = name, .e = e };
	r = flat_document(f, doc);
	goto out;
oom:
	r = err_set(e, -ENOMEM, "config: %s: out of memory", name);
out:
	if (doc)
		fy_parse_document_destroy(fyp, doc);
	if (fyp)
		fy_parser_destroy(fyp);
	if (pc.diag)
		fy_diag_destroy(pc.diag);
	free(copy);
	free(f);
	return r;
}

