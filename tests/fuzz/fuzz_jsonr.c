/*
 * fuzz_jsonr: api/jsonr.h, the pull reader, against jansson on the same
 * text (what the CLI reads a listing with, and the Docker plugin a body).
 *
 * Input: any text.
 * Invariants:
 *  - the reader takes exactly the texts json_loadb(JSON_DECODE_ANY) takes
 *    (jansson's own depth limit is JR_MAX_DEPTH);
 *  - what it reads builds the value jansson builds (json_equal): strings
 *    decoded alike (escapes, surrogate pairs), integers and reals alike,
 *    members in order, a repeated key's last value in its first place;
 *  - jr_skip checks as much as reading every value does;
 *  - a refusal is -EINVAL with a "line L, column C: ..." message.
 */
#include <jansson.h>

#include "api/jsonr.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

/* The next value, read into a tree (NULL once the reader failed). */
static json_t *build(struct jr *r)
{
	enum jr_type t;
	const char *s;
	long long i;
	double d;
	size_t len;
	json_t *o, *v;
	char *key;
	bool b;
	int rc;

	switch (jr_peek(r)) {
	case JR_OBJECT:
		if (jr_obj_begin(r) < 0 || !(o = json_object()))
			return NULL;
		while ((rc = jr_obj_next(r, &s, &len)) > 0) {
			/* the key's bytes are the reader's until its next call */
			key = malloc(len + 1);
			FUZZ_CHECK(key);
			memcpy(key, s, len);
			key[len] = '\0';
			FUZZ_CHECK(strlen(key) == len); /* never a NUL inside */
			v = build(r);
			if (v)
				FUZZ_CHECK(json_object_setn_new_nocheck(o, key, len, v) == 0);
			free(key);
			if (!v)
				break;
		}
		if (rc != 0) {
			json_decref(o);
			return NULL;
		}
		return o;
	case JR_ARRAY:
		if (jr_arr_begin(r) < 0 || !(o = json_array()))
			return NULL;
		while ((rc = jr_arr_next(r)) > 0) {
			if (!(v = build(r)))
				break;
			FUZZ_CHECK(json_array_append_new(o, v) == 0);
		}
		if (rc != 0) {
			json_decref(o);
			return NULL;
		}
		return o;
	case JR_STRING:
		return jr_str(r, &s, &len) < 0 ? NULL : json_stringn_nocheck(s, len);
	case JR_INTEGER:
	case JR_REAL:
		if (jr_num(r, &t, &i, &d) < 0)
			return NULL;
		return t == JR_INTEGER ? json_integer(i) : json_real(d);
	case JR_TRUE:
	case JR_FALSE:
		return jr_bool(r, &b) < 0 ? NULL : json_boolean(b);
	case JR_NULL:
		return jr_null(r) < 0 ? NULL : json_null();
	default:
		jr_fail(r, "no value");
		return NULL;
	}
}

static void check_refusal(const struct jr *r, int rc)
{
	unsigned line, col;

	FUZZ_CHECK_MSG(rc == -EINVAL, "%d", rc);
	FUZZ_CHECK(r->err.code == rc);
	FUZZ_CHECK_MSG(sscanf(r->err.msg, "line %u, column %u: ", &line, &col) == 2 && line >= 1 &&
			       col >= 1,
		       "%s", r->err.msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	json_error_t jerr;
	json_t *want = json_loadb(text, size, JSON_DECODE_ANY, &jerr), *got;
	struct jr r;
	int rc;

	/* read value by value */
	jr_init(&r, text, size, JR_MAX_DEPTH);
	got = build(&r);
	rc = got ? jr_end(&r) : r.err.code;
	FUZZ_CHECK_MSG((rc == 0) == (want != NULL), "reader %d (%s), jansson %s", rc, r.err.msg,
		       want ? "takes it" : jerr.text);
	if (rc == 0) {
		char *a = json_dumps(got, JSON_ENCODE_ANY), *b = json_dumps(want, JSON_ENCODE_ANY);
		FUZZ_CHECK_MSG(json_equal(got, want), "reader %s, jansson %s", a, b);
		free(a);
		free(b);
	} else {
		check_refusal(&r, rc);
	}
	json_decref(got);
	jr_release(&r);

	/* skipped whole: the same verdict */
	jr_init(&r, text, size, JR_MAX_DEPTH);
	rc = jr_skip(&r);
	if (rc == 0)
		rc = jr_end(&r);
	FUZZ_CHECK_MSG((rc == 0) == (want != NULL), "skip %d (%s)", rc, r.err.msg);
	if (rc != 0)
		check_refusal(&r, rc);
	jr_release(&r);
	json_decref(want);
	return 0;
}
