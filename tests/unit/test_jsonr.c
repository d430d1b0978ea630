/* Unit tests for api/jsonr.c, the pull reader, and the decoders of
 * api/codec.h built on it (volume_from_text, volume_map_from_text,
 * json_body_strings): what they accept is what jansson accepts, they
 * decode it to the same values, and malformed or hostile text fails with
 * a message that says where. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/codec.h"
#include "api/jsonr.h"

/* ---- helpers ---- */

/* The whole text through jr_skip + jr_end: 0 or the error code; the
 * message in msg (may be NULL). */
static int check_text(const char *text, size_t len, unsigned max_depth, char *msg, size_t msgsz)
{
	struct jr r;
	int rc;

	jr_init(&r, text, len, max_depth);
	rc = jr_skip(&r);
	if (rc == 0)
		rc = jr_end(&r);
	if (msg)
		snprintf(msg, msgsz, "%s", r.err.msg);
	jr_release(&r);
	return rc;
}

/* The reader and jansson (JSON_DECODE_ANY, its parser's own depth limit)
 * agree on text. */
static void assert_agrees_n(const char *text, size_t len)
{
	char msg[ERR_MSG_MAX];
	json_error_t jerr;
	json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
	int rc = check_text(text, len, JR_MAX_DEPTH, msg, sizeof(msg));

	if ((rc == 0) != (j != NULL))
		fail_msg("'%.*s': reader %s (%s), jansson %s (%s)", (int)(len > 200 ? 200 : len), text,
			 rc == 0 ? "accepts" : "refuses", msg, j ? "accepts" : "refuses",
			 j ? "" : jerr.text);
	json_decref(j);
}

static void assert_agrees(const char *text)
{
	assert_agrees_n(text, strlen(text));
}

static void assert_refused(const char *text, const char *what)
{
	char msg[ERR_MSG_MAX];
	int rc = check_text(text, strlen(text), JR_MAX_DEPTH, msg, sizeof(msg));

	if (rc != -EINVAL)
		fail_msg("'%s' not refused (%d)", text, rc);
	if (!strstr(msg, what))
		fail_msg("'%s': message '%s' does not say '%s'", text, msg, what);
	assert_agrees(text);
}

/* The one string of text ("..."), decoded. */
static char *read_string(const char *text, size_t *len)
{
	struct jr r;
	char *s = NULL;

	jr_init(&r, text, strlen(text), JR_MAX_DEPTH);
	assert_int_equal(jr_str_dup(&r, &s, len), 0);
	assert_int_equal(jr_end(&r), 0);
	jr_release(&r);
	return s;
}

/* ---- walking ---- */

static void test_walk_all_types(void **state)
{
	const char *text = " {\"s\": \"x\", \"i\": -12, \"r\": 1.5e2, \"t\": true, \"f\": false,\n"
			   "  \"n\": null, \"a\": [1, [], {}], \"o\": {\"k\": \"v\"}} ";
	const char *k, *s;
	size_t kl, sl;
	enum jr_type t;
	long long i;
	double d;
	bool b;
	struct jr r;

	(void)state;
	jr_init(&r, text, strlen(text), JR_MAX_DEPTH);
	assert_int_equal(jr_peek(&r), JR_OBJECT);
	assert_int_equal(jr_obj_begin(&r), 0);

	assert_int_equal(jr_obj_next(&r, &k, &kl), 1);
	assert_int_equal(kl, 1);
	assert_memory_equal(k, "s", 1);
	assert_true(jr_in_text(&r, k));
	assert_int_equal(jr_peek(&r), JR_STRING);
	assert_int_equal(jr_str(&r, &s, &sl), 0);
	assert_int_equal(sl, 1);
	assert_memory_equal(s, "x", 1);

	assert_int_equal(jr_obj_next(&r, &k, &kl), 1);
	assert_int_equal(jr_peek(&r), JR_INTEGER);
	assert_int_equal(jr_int(&r, &i), 0);
	assert_int_equal(i, -12);

	assert_int_equal(jr_obj_next(&r, &k, &kl), 1);
	assert_int_equal(jr_peek(&r), JR_REAL);
	assert_int_equal(jr_num(&r, &t, &i, &d), 0);
	assert_int_equal(t, JR_REAL);
	assert_true(d == 150.0);

	assert_int_equal(jr_obj_next(&r, &k, &kl), 1);
	assert_int_equal(jr_peek(&r), JR_TRUE);
	assert_int_equal(jr_bool(&r, &b), 0);
	assert_true(b);
	assert_int_equal(jr_obj_next(&r, &k, &kl), 1);
	assert_int_equal(jr_peek(&r), JR_FALSE);
	assert_int_equal(jr_bool(&r, &b), 0);
	assert_false(b);
	assert_int_equal(jr_obj_next(&r, &k, &kl), 1);
	assert_int_equal(jr_peek(&r), JR_NULL);
	assert_int_equal(jr_null(&r), 0);

	/* an array walked by hand */
	assert_int_equal(jr_obj_next(&r, &k, &kl), 1);
	assert_int_equal(jr_arr_begin(&r), 0);
	assert_int_equal(jr_arr_next(&r), 1);
	assert_int_equal(jr_int(&r, &i), 0);
	assert_int_equal(i, 1);
	assert_int_equal(jr_arr_next(&r), 1);
	assert_int_equal(jr_arr_begin(&r), 0);
	assert_int_equal(jr_arr_next(&r), 0);
	assert_int_equal(jr_arr_next(&r), 1);
	assert_int_equal(jr_obj_begin(&r), 0);
	assert_int_equal(jr_obj_next(&r, &k, &kl), 0);
	assert_int_equal(jr_arr_next(&r), 0);

	/* an object skipped whole */
	assert_int_equal(jr_obj_next(&r, &k, &kl), 1);
	assert_memory_equal(k, "o", 1);
	assert_int_equal(jr_skip(&r), 0);
	assert_int_equal(jr_obj_next(&r, &k, &kl), 0);
	assert_int_equal(jr_end(&r), 0);
	assert_int_equal(r.err.code, 0);
	jr_release(&r);
}

static void test_top_level_scalars(void **state)
{
	(void)state;
	/* any value at the top, as JSON_DECODE_ANY */
	assert_int_equal(check_text("\"x\"", 3, JR_MAX_DEPTH, NULL, 0), 0);
	assert_int_equal(check_text(" 7 ", 3, JR_MAX_DEPTH, NULL, 0), 0);
	assert_int_equal(check_text("null", 4, JR_MAX_DEPTH, NULL, 0), 0);
	assert_agrees("true");
	assert_agrees("[]");
	assert_refused("", "a value expected, found the end of the text");
	assert_refused("   ", "a value expected");
	assert_refused("{} {}", "the end of the text expected");
	assert_refused("1 2", "the end of the text expected");
	assert_refused("{}x", "found 'x'");
}

static void test_grammar_errors(void **state)
{
	(void)state;
	assert_refused("{\"a\":1,}", "a member's name (a string) expected, found '}'");
	assert_refused("[1,]", "a value expected, found ']'");
	assert_refused("[,1]", "a value expected, found ','");
	assert_refused("{,}", "a member's name");
	assert_refused("{\"a\" 1}", "':' expected, found '1'");
	assert_refused("{\"a\":1 \"b\":2}", "',' or '}' expected, found '\"'");
	assert_refused("[1 2]", "',' or ']' expected, found '2'");
	assert_refused("{\"a\":1]", "',' or '}' expected, found ']'");
	assert_refused("[1}", "',' or ']' expected, found '}'");
	assert_refused("{1:2}", "a member's name");
	assert_refused("{\"a\":}", "a value expected, found '}'");
	assert_refused("{\"a\"", "':' expected, found the end of the text");
	assert_refused("{\"a\":", "a value expected, found the end of the text");
	assert_refused("[", "a value expected, found the end of the text");
	assert_refused("[[", "found the end of the text");
	assert_refused("{", "found the end of the text");
	assert_refused("tru", "true expected");
	assert_refused("nul", "null expected");
	assert_refused("truex", "found 'x'");
	assert_refused("[true false]", "',' or ']' expected");
	assert_refused("'a'", "a value expected, found '''");
	assert_refused("\xef\xbb\xbf{}", "byte 0xef"); /* a BOM is not JSON */
	assert_int_equal(check_text("{}\0", 3, JR_MAX_DEPTH, NULL, 0), -EINVAL);
	assert_agrees_n("{}\0", 3);
	assert_agrees_n("\0{}", 3);
	/* jansson's quirk: one NUL right after a number or literal is nothing */
	assert_int_equal(check_text("[5\0]", 4, JR_MAX_DEPTH, NULL, 0), 0);
	assert_agrees_n("[5\0]", 4);
	assert_agrees_n("[5\0\0]", 5);
	assert_agrees_n("[true\0,null\0,-1.5e3\0]", 24);
	assert_agrees_n("7\0", 2);
	assert_agrees_n("[\"a\"\0]", 5);
	assert_agrees_n("{\"a\"\0:1}", 8);
	assert_agrees_n("[5 \0]", 5);
	assert_agrees(" \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n[ 1 , 2 ] \t\r\n} \t\r\n");
	assert_refused("\f{}", "byte 0x0c"); /* form feed is not white space */
}

static void test_error_position(void **state)
{
	char msg[ERR_MSG_MAX];

	(void)state;
	assert_int_equal(check_text("{\n  \"a\": 1,\n  \"b\" 2\n}", 22, JR_MAX_DEPTH, msg,
				    sizeof(msg)),
			 -EINVAL);
	assert_string_equal(msg, "line 3, column 7: ':' expected, found '2'");
	assert_int_equal(check_text("[\"\\x\"]", 6, JR_MAX_DEPTH, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "line 1, column 3: invalid escape: '\\' before 'x'");
}

static void test_sticky_error_and_misuse(void **state)
{
	const char *k, *s;
	size_t kl, sl;
	long long i;
	struct jr r;

	(void)state;
	/* the first error stays, whatever is called next */
	jr_init(&r, "[x, 1]", 6, JR_MAX_DEPTH);
	assert_int_equal(jr_arr_begin(&r), 0);
	assert_int_equal(jr_arr_next(&r), 1);
	assert_int_equal(jr_int(&r, &i), -EINVAL);
	assert_non_null(strstr(r.err.msg, "column 2"));
	assert_int_equal(jr_arr_next(&r), -EINVAL);
	assert_int_equal(jr_skip(&r), -EINVAL);
	assert_int_equal(jr_peek(&r), JR_NONE);
	assert_int_equal(jr_end(&r), -EINVAL);
	assert_non_null(strstr(r.err.msg, "column 2"));
	jr_release(&r);

	/* a value without jr_arr_next / jr_obj_next first */
	jr_init(&r, "[\"a\"]", 5, JR_MAX_DEPTH);
	assert_int_equal(jr_arr_begin(&r), 0);
	assert_int_equal(jr_str(&r, &s, &sl), -EINVAL);
	assert_non_null(strstr(r.err.msg, "no value may stand here"));
	jr_release(&r);

	/* two values for one member */
	jr_init(&r, "{\"a\":1 2}", 9, JR_MAX_DEPTH);
	assert_int_equal(jr_obj_begin(&r), 0);
	assert_int_equal(jr_obj_next(&r, &k, &kl), 1);
	assert_int_equal(jr_int(&r, &i), 0);
	assert_int_equal(jr_int(&r, &i), -EINVAL);
	jr_release(&r);

	/* a member asked for in an array, an element in an object */
	jr_init(&r, "[1]", 3, JR_MAX_DEPTH);
	assert_int_equal(jr_arr_begin(&r), 0);
	assert_int_equal(jr_obj_next(&r, &k, &kl), -EINVAL);
	assert_non_null(strstr(r.err.msg, "not inside an object"));
	jr_release(&r);
	jr_init(&r, "{}", 2, JR_MAX_DEPTH);
	assert_int_equal(jr_obj_begin(&r), 0);
	assert_int_equal(jr_arr_next(&r), -EINVAL);
	jr_release(&r);

	/* the next member before the value of this one */
	jr_init(&r, "{\"a\":1,\"b\":2}", 13, JR_MAX_DEPTH);
	assert_int_equal(jr_obj_begin(&r), 0);
	assert_int_equal(jr_obj_next(&r, &k, &kl), 1);
	assert_int_equal(jr_obj_next(&r, &k, &kl), -EINVAL);
	assert_non_null(strstr(r.err.msg, "a value is missing"));
	jr_release(&r);

	/* jr_fail: the caller's complaint sticks the same way */
	jr_init(&r, "{\"a\":1}", 7, JR_MAX_DEPTH);
	assert_int_equal(jr_obj_begin(&r), 0);
	assert_int_equal(jr_obj_next(&r, &k, &kl), 1);
	assert_int_equal(jr_fail(&r, "field '%s' is wrong", "a"), -EINVAL);
	assert_string_equal(r.err.msg, "line 1, column 6: field 'a' is wrong");
	assert_int_equal(jr_fail(&r, "another"), -EINVAL);
	assert_string_equal(r.err.msg, "line 1, column 6: field 'a' is wrong");
	jr_release(&r);

	/* the wrong type */
	jr_init(&r, "\"1\"", 3, JR_MAX_DEPTH);
	assert_int_equal(jr_int(&r, &i), -EINVAL);
	assert_non_null(strstr(r.err.msg, "a number expected"));
	jr_release(&r);
	jr_init(&r, "1.0", 3, JR_MAX_DEPTH);
	assert_int_equal(jr_int(&r, &i), -EINVAL);
	assert_non_null(strstr(r.err.msg, "an integer expected"));
	jr_release(&r);
}

/* ---- strings ---- */

static void test_string_escapes(void **state)
{
	size_t len;
	char *s;

	(void)state;
	s = read_string("\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"", &len);
	assert_int_equal(len, 17);
	assert_memory_equal(s, "a\"b\\c/d\be\ff\ng\rh\ti", 17);
	free(s);
	s = read_string("\"\\u0041\\u00e9\\u20AC\\uD83D\\uDE00\\u0001\\u007f\"", &len);
	assert_string_equal(s, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x01\x7f");
	free(s);
	/* the smallest and largest pairs */
	s = read_string("\"\\ud800\\udc00\\udbff\\udfff\"", &len);
	assert_string_equal(s, "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
	free(s);
	/* UTF-8 as it is, DEL too */
	s = read_string("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f\"", &len);
	assert_string_equal(s, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f");
	free(s);
	s = read_string("\"\"", &len);
	assert_int_equal(len, 0);
	assert_string_equal(s, "");
	free(s);
	/* a key with an escape is decoded too */
	assert_agrees("{\"\\u0061\":1,\"a\":2}");
}

static void test_string_errors(void **state)
{
	(void)state;
	assert_refused("\"\\x\"", "invalid escape");
	assert_refused("\"\\", "the text ends inside a string");
	assert_refused("\"abc", "the text ends inside a string");
	assert_refused("\"\\u12\"", "four hex digits");
	assert_refused("\"\\u12g4\"", "four hex digits");
	assert_refused("\"\\u", "four hex digits");
	assert_refused("\"\\u0000\"", "\\u0000 is not allowed");
	assert_refused("{\"\\u0000\":1}", "\\u0000 is not allowed");
	assert_refused("\"\\ud800\"", "a high surrogate alone");
	assert_refused("\"\\ud800x\"", "a high surrogate alone");
	assert_refused("\"\\ud800\\n\"", "a high surrogate alone");
	assert_refused("\"\\ud800\\u0041\"", "not a surrogate pair");
	assert_refused("\"\\ud800\\ud800\"", "not a surrogate pair");
	assert_refused("\"\\ud800\\udc0\"", "four hex digits");
	assert_refused("\"\\udc00\"", "a low surrogate alone");
	assert_refused("\"\\udfff\\ud800\"", "a low surrogate alone");
	assert_refused("\"a\x01\"", "control character 0x01");
	assert_refused("\"a\nb\"", "control character 0x0a");
	assert_refused("\"a\x1f\"", "control character 0x1f");
	assert_refused("\"\xc0\x80\"", "invalid UTF-8: byte 0xc0");	   /* overlong NUL */
	assert_refused("\"\xe0\x80\x80\"", "invalid UTF-8");	   /* overlong */
	assert_refused("\"\xed\xa0\x80\"", "invalid UTF-8");	   /* a surrogate */
	assert_refused("\"\xf4\x90\x80\x80\"", "invalid UTF-8");	   /* above U+10FFFF */
	assert_refused("\"\xf5\x80\x80\x80\"", "invalid UTF-8");
	assert_refused("\"\x80\"", "invalid UTF-8: byte 0x80");	   /* a lone continuation */
	assert_refused("\"\xc3\"", "invalid UTF-8");		   /* cut short */
	assert_refused("\"\xe2\x82\"", "invalid UTF-8");
	assert_refused("\"\xff\"", "invalid UTF-8: byte 0xff");
	assert_agrees_n("\"a\0b\"", 5);
}

/* ---- numbers ---- */

static long long read_int(const char *text)
{
	long long i = 42;
	struct jr r;

	jr_init(&r, text, strlen(text), JR_MAX_DEPTH);
	assert_int_equal(jr_int(&r, &i), 0);
	assert_int_equal(jr_end(&r), 0);
	jr_release(&r);
	return i;
}

static void test_numbers(void **state)
{
	(void)state;
	assert_true(read_int("0") == 0);
	assert_true(read_int("-0") == 0);
	assert_true(read_int("9223372036854775807") == INT64_MAX);
	assert_true(read_int("-9223372036854775808") == INT64_MIN);
	assert_true(read_int("-1") == -1);
	assert_refused("9223372036854775808", "too big integer");
	assert_refused("-9223372036854775809", "too big negative integer");
	assert_refused("100000000000000000000000000000000000000", "too big integer");
	assert_refused("01", "a leading zero");
	assert_refused("-01", "a leading zero");
	assert_refused("-", "a number expected");
	assert_refused("-a", "a number expected");
	assert_refused("+1", "a value expected, found '+'");
	assert_refused(".5", "a value expected, found '.'");
	assert_refused("1.", "no digit after '.'");
	assert_refused("1.e5", "no digit after '.'");
	assert_refused("1e", "no digit in the exponent");
	assert_refused("1e+", "no digit in the exponent");
	assert_refused("1e400", "real number overflow");
	assert_refused("-1e400", "real number overflow");
	assert_refused("[1.5.3]", "',' or ']' expected, found '.'");
	assert_refused("0x10", "found 'x'");
	assert_refused("Infinity", "a value expected");
	assert_refused("NaN", "a value expected");
	assert_agrees("1e-400"); /* underflow is 0, not an error */
	assert_agrees("1.7976931348623157e308");
	assert_agrees("1.7976931348623159e308");
	assert_agrees("-0.0e-0");
	assert_agrees("1E+2");
	assert_agrees("[0,-0,1.0e1,2E-2]");
	/* a real of many digits (the copy for strtod grows) */
	{
		char big[5000];
		memset(big, '1', sizeof(big));
		big[1] = '.';
		big[sizeof(big) - 1] = '\0';
		assert_agrees(big);
	}
}

/* ---- depth ---- */

static char *nested(unsigned n, char open, char close)
{
	char *s = malloc(2 * n + 1);

	assert_non_null(s);
	memset(s, open, n);
	memset(s + n, close, n);
	s[2 * n] = '\0';
	return s;
}

static void test_depth(void **state)
{
	char msg[ERR_MSG_MAX];
	char *s;

	(void)state;
	/* jansson's own limit, both ways */
	s = nested(JR_MAX_DEPTH, '[', ']');
	assert_int_equal(check_text(s, strlen(s), JR_MAX_DEPTH, NULL, 0), 0);
	assert_agrees(s);
	free(s);
	s = nested(JR_MAX_DEPTH + 1, '[', ']');
	assert_int_equal(check_text(s, strlen(s), JR_MAX_DEPTH, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "nested deeper than 2048 levels"));
	assert_agrees(s);
	free(s);
	/* a far deeper text is refused at the limit, without recursion */
	s = nested(1000000, '[', ']');
	assert_int_equal(check_text(s, strlen(s), JR_MAX_DEPTH, NULL, 0), -EINVAL);
	free(s);
	/* a smaller limit of the caller's */
	assert_int_equal(check_text("[[[]]]", 6, 3, NULL, 0), 0);
	assert_int_equal(check_text("[[[[]]]]", 8, 3, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "line 1, column 4: nested deeper than 3 levels");
	assert_int_equal(check_text("{\"a\":{\"b\":{\"c\":{}}}}", 20, 3, NULL, 0), -EINVAL);
	/* mixed brackets deep inside */
	s = nested(100, '[', ']');
	s[150] = '}';
	assert_int_equal(check_text(s, strlen(s), JR_MAX_DEPTH, NULL, 0), -EINVAL);
	assert_agrees(s);
	free(s);
}

/* ---- agreement with jansson on a mixed bag ---- */

static void test_agrees_with_jansson(void **state)
{
	static const char *const texts[] = {
		"{}", "[]", "{\"a\":[{},[],\"\",0,-0,true,false,null]}", "[[[[[[]]]]]]",
		"{\"a\":1,\"a\":2}", "{\"\":\"\"}", "[\"\\/\"]", "{\"a\":{\"b\":{\"c\":[1,2,{\"d\":\"e\"}]}}}",
		"[1,2", "{\"a\"::1}", "{\"a\":1,,\"b\":2}", "[\"a\",]", "[01]", "[1e5,1E-5,-1.25e+3]",
		"[\"\\uD834\\uDD1E\"]", "[\"\\uDD1E\\uD834\"]", "[\"\xf0\x9d\x84\x9e\"]", "nul",
		"[true,fals]", "[null,nulll]", "{\"a\":1}}", "[]]", "]", "}", ":", ",", "\"",
		"[\"a\\u00\"]", "[-]", "[--1]", "[1-1]", "[1e1.5]", "{\"a\":\"b\"\"c\":1}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		assert_agrees(texts[i]);
}

/* ---- the decoders of codec.h on the reader ---- */

/* The text decoded both ways: the quick decoder takes it and gives what
 * the tree gives. */
static void assert_map_same(const char *text)
{
	struct volume_list quick = { 0 }, tree = { 0 };
	struct err e = ERR_INIT;
	json_t *j = json_loads(text, 0, NULL), *a, *b;

	assert_non_null(j);
	if (volume_map_from_text(text, strlen(text), &quick, &e) < 0)
		fail_msg("declined: %s", e.msg);
	assert_int_equal(volume_map_from_json(j, &tree, &e), 0);
	assert_int_equal(quick.n, tree.n);
	for (size_t i = 0; i < quick.n; i++) {
		a = volume_to_json(&quick.v[i]);
		b = volume_to_json(&tree.v[i]);
		assert_true(json_equal(a, b));
		assert_string_equal(quick.v[i].id, tree.v[i].id);
		assert_int_equal(quick.v[i].attachments_present, tree.v[i].attachments_present);
		assert_int_equal(quick.v[i].n_attachments, tree.v[i].n_attachments);
		assert_int_equal(!quick.v[i].fields, !tree.v[i].fields);
		for (size_t k = 0; k < quick.v[i].n_attachments; k++) {
			const struct instance_id *qi = &quick.v[i].attachments[k].iid,
						 *ti = &tree.v[i].attachments[k].iid;
			assert_int_equal(!qi->metadata, !ti->metadata);
			if (qi->metadata)
				assert_string_equal(qi->metadata, ti->metadata);
		}
		json_decref(a);
		json_decref(b);
	}
	volume_list_release(&quick);
	volume_list_release(&tree);
	json_decref(j);
}

static void assert_map_declined(const char *text, const char *why)
{
	struct volume_list l = { 0 };
	struct err e = ERR_INIT;

	assert_int_equal(volume_map_from_text(text, strlen(text), &l, &e), -EINVAL);
	assert_int_equal(e.code, -EINVAL);
	assert_null(l.v);
	assert_int_equal(l.n, 0);
	if (!strstr(e.msg, why))
		fail_msg("'%s': message '%s' does not say '%s'", text, e.msg, why);
}

static void test_volume_map_from_text(void **state)
{
	(void)state;
	assert_map_same("{}");
	assert_map_same("{\n  \"vfs-000\": {\n    \"attachmentState\": 3,\n    \"name\": \"t1\",\n"
			"    \"size\": 1,\n    \"id\": \"vfs-000\",\n    \"type\": \"\",\n"
			"    \"fields\": {\n      \"size\": \"1\"\n    }\n  },\n"
			"  \"vfs-001\": {\n    \"name\": \"v1\",\n    \"id\": \"vfs-001\",\n"
			"    \"type\": \"\"\n  }\n}");
	/* every member, attachments with everything an instance ID holds */
	assert_map_same("{\"a\":{\"attachments\":[{\"deviceName\":\"/dev/x\",\"mountPoint\":\"/m\","
			"\"instanceID\":{\"id\":\"i\",\"driver\":\"d\",\"service\":\"s\","
			"\"fields\":{\"k\":\"v\"},\"metadata\":{\"z\":[1,2.5,\"\\u00e9\"],\"a\":null}},"
			"\"status\":\"attached\",\"volumeID\":\"a\",\"fields\":{\"x\":\"y\"}},"
			"{\"instanceID\":null,\"deviceName\":null}],"
			"\"attachmentState\":2,\"availabilityZone\":\"az\",\"encrypted\":true,"
			"\"iops\":9223372036854775807,\"name\":\"n\\u00e9\",\"networkName\":\"net\","
			"\"size\":5,\"status\":\"ok\",\"id\":\"a\",\"type\":\"t\","
			"\"fields\":{\"b\":\"2\",\"a\":\"1\",\"b\":\"3\"},\"unknown\":[{\"deep\":[{}]}]}}");
	/* empty attachments stay present; null members are absent */
	assert_map_same("{\"a\":{\"attachments\":[],\"name\":null,\"size\":null,\"fields\":null,"
			"\"encrypted\":null,\"attachmentState\":null,\"id\":null}}");
	assert_map_same("{\"a\":{\"attachments\":null,\"fields\":{}}}");
	/* the key stands in for a missing id, escapes and all */
	assert_map_same("{\"\\u0061\\n\":{\"name\":\"x\"},\"b\":{\"id\":\"\"}}");
	/* metadata of every kind */
	assert_map_same("{\"a\":{\"attachments\":[{\"instanceID\":{\"metadata\":\"s\"}},"
			"{\"instanceID\":{\"metadata\":[]}},{\"instanceID\":{\"metadata\":1e2}},"
			"{\"instanceID\":{\"metadata\":{\"k\":1,\"k\":2}}}]}}");
	/* the map's keys in ascending byte order, UTF-8 after ASCII */
	assert_map_same("{\"A\":{},\"B\":{},\"a\":{},\"ab\":{},\"b\":{},\"\xc3\xa9\":{}}");

	/* what the tree refuses */
	assert_map_declined("[]", "expected an object");
	assert_map_declined("\"x\"", "expected an object");
	assert_map_declined("", "expected an object");
	assert_map_declined("{\"a\":null}", "volume: expected an object");
	assert_map_declined("{\"a\":{\"size\":\"1\"}}", "field 'size': expected an integer");
	assert_map_declined("{\"a\":{\"size\":1.0}}", "field 'size': expected an integer");
	assert_map_declined("{\"a\":{\"size\":-1}}", "out of range");
	assert_map_declined("{\"a\":{\"attachmentState\":2147483648}}", "out of range");
	assert_map_declined("{\"a\":{\"name\":1}}", "field 'name': expected a string");
	assert_map_declined("{\"a\":{\"encrypted\":\"yes\"}}", "expected a boolean");
	assert_map_declined("{\"a\":{\"fields\":[]}}", "expected an object");
	assert_map_declined("{\"a\":{\"fields\":{\"k\":1}}}", "not a string");
	assert_map_declined("{\"a\":{\"fields\":{\"k\":null}}}", "not a string");
	assert_map_declined("{\"a\":{\"attachments\":{}}}", "expected an array");
	assert_map_declined("{\"a\":{\"attachments\":[null]}}", "attachment: expected an object");
	assert_map_declined("{\"a\":{\"attachments\":[{\"instanceID\":[]}]}}", "expected an object");
	assert_map_declined("{\"a\":{\"attachments\":[{\"status\":false}]}}", "expected a string");
	/* malformed or truncated */
	assert_map_declined("{\"a\":{\"name\":\"x\"}", "the end of the text");
	assert_map_declined("{\"a\":{\"name\":\"x\"}}x", "the end of the text expected");
	assert_map_declined("{\"a\":{\"name\":\"\\q\"}}", "invalid escape");
	assert_map_declined("{\"a\":{\"x\":1e999}}", "real number overflow");
	/* what the tree takes another way: duplicates, keys out of order */
	assert_map_declined("{\"a\":{\"size\":1,\"size\":2}}", "member 'size' given twice");
	assert_map_declined("{\"a\":{},\"a\":{}}", "keys not in ascending order");
	assert_map_declined("{\"b\":{},\"a\":{}}", "keys not in ascending order");
	assert_map_declined("{\"a\":{\"attachments\":[{\"status\":\"x\",\"status\":\"y\"}]}}",
			    "given twice");
}

static void test_volume_from_text(void **state)
{
	static const char text[] = "{\n  \"attachmentState\": 3,\n  \"name\": \"tr1\",\n"
				   "  \"size\": 2,\n  \"id\": \"vfs-201\",\n  \"type\": \"\"\n}";
	struct err e = ERR_INIT;
	struct volume v;

	(void)state;
	assert_int_equal(volume_from_text(text, strlen(text), &v, &e), 0);
	assert_string_equal(v.name, "tr1");
	assert_string_equal(v.id, "vfs-201");
	assert_string_equal(v.type, "");
	assert_int_equal(v.size, 2);
	assert_int_equal(v.attachment_state, 3);
	assert_null(v.fields);
	volume_release(&v);
	assert_int_equal(volume_from_text("{\"name\":2}", 10, &v, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "field 'name'"));
	assert_null(v.name);
	assert_int_equal(volume_from_text("{\"name\":\"a\",\"id\":\"b\"", 20, &v, &e), -EINVAL);
	assert_null(v.name);
	assert_null(v.id);
	assert_int_equal(volume_from_text(NULL, 0, &v, &e), -EINVAL);
}

static void test_body_strings(void **state)
{
	static const char *const keys[] = { "Name", "ID" };
	const char *vals[2];
	char buf[64];

#define TAKES(body) json_body_strings(body, strlen(body), keys, 2, vals, buf, sizeof(buf))
	(void)state;
	assert_true(TAKES("{\"Name\":\"v1\"}"));
	assert_string_equal(vals[0], "v1");
	assert_null(vals[1]);
	assert_true(TAKES(" { \"ID\" : \"abc\" , \"Name\" : \"v\\u00e9\\n\" } "));
	assert_string_equal(vals[0], "v\xc3\xa9\n");
	assert_string_equal(vals[1], "abc");
	assert_true(TAKES("{\"Name\":null,\"ID\":null}"));
	assert_null(vals[0]);
	assert_null(vals[1]);
	assert_true(TAKES("{}"));
	assert_null(vals[0]);
	assert_true(TAKES(""));
	assert_true(TAKES(" \n"));
	assert_true(json_body_strings(NULL, 0, keys, 2, vals, buf, sizeof(buf)));
	/* the tree's way for everything else */
	assert_false(TAKES("{\"Name\":\"v\",\"Opts\":{}}"));
	assert_null(vals[0]);
	assert_false(TAKES("{\"Name\":\"v\",\"Opts\":null}"));
	assert_false(TAKES("{\"Name\":\"a\",\"Name\":\"b\"}"));
	assert_false(TAKES("{\"Name\":null,\"Name\":\"b\"}"));
	assert_false(TAKES("{\"Name\":1}"));
	assert_false(TAKES("{\"Name\":[\"v\"]}"));
	assert_false(TAKES("{\"name\":\"v\"}"));
	assert_false(TAKES("{\"Name\":\"v\"} x"));
	assert_false(TAKES("{\"Name\":\"v\""));
	assert_false(TAKES("{\"Name\":\"v\\u0000\"}"));
	assert_false(TAKES("[\"Name\"]"));
	assert_false(TAKES("\"Name\""));
	assert_false(TAKES("{\"Name\":\"\xff\"}"));
	/* too long for buf: the tree takes it */
	assert_false(TAKES("{\"Name\":\"0123456789012345678901234567890123456789"
			   "0123456789012345678901234\"}"));
	assert_true(TAKES("{\"Name\":\"0123456789012345678901234567890123456789\","
			  "\"ID\":\"0123456789012345678\"}"));
	assert_false(TAKES("{\"Name\":\"0123456789012345678901234567890123456789\","
			   "\"ID\":\"01234567890123456789012\"}"));
#undef TAKES
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk_all_types),
		cmocka_unit_test(test_top_level_scalars),
		cmocka_unit_test(test_grammar_errors),
		cmocka_unit_test(test_error_position),
		cmocka_unit_test(test_sticky_error_and_misuse),
		cmocka_unit_test(test_string_escapes),
		cmocka_unit_test(test_string_errors),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_agrees_with_jansson),
		cmocka_unit_test(test_volume_map_from_text),
		cmocka_unit_test(test_volume_from_text),
		cmocka_unit_test(test_body_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
