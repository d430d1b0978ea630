/* Unit tests for util/names.c: volume and service name validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/names.h"

static void expect_ok(const char *name)
{
	struct err e = ERR_INIT;

	if (volume_name_check(name, &e) != 0)
		fail_msg("'%s' refused: %s", name, e.msg);
	assert_int_equal(e.code, 0);
}

static void expect_bad_msg(const char *name, const char *msg)
{
	struct err e = ERR_INIT;

	assert_int_equal(volume_name_check(name, &e), -EINVAL);
	assert_int_equal(e.code, -EINVAL);
	assert_string_equal(e.msg, msg);
}

static void expect_bad_charset(const char *name, const char *shown)
{
	char want[ERR_MSG_MAX];

	snprintf(want, sizeof(want),
		 "volume name '%s': only letters, digits, '_', '.' and '-' are allowed", shown);
	expect_bad_msg(name, want);
}

static void test_valid_names(void **state)
{
	char max[VOLUME_NAME_MAX + 1];

	(void)state;
	expect_ok("a");
	expect_ok("Z");
	expect_ok("0");
	expect_ok("vol-1_2.3");
	expect_ok("..a");
	expect_ok("a..");
	expect_ok("...");
	expect_ok(".hidden");
	expect_ok("-leading-dash");
	memset(max, 'x', VOLUME_NAME_MAX);
	max[VOLUME_NAME_MAX] = '\0';
	expect_ok(max);
}

static void test_empty_and_dots(void **state)
{
	(void)state;
	expect_bad_msg("", "volume name is empty");
	expect_bad_msg(NULL, "volume name is empty");
	expect_bad_msg(".", "volume name '.' is not allowed");
	expect_bad_msg("..", "volume name '..' is not allowed");
}

static void test_paths_refused(void **state)
{
	(void)state;
	expect_bad_charset("../../etc", "../../etc");
	expect_bad_charset("a/b", "a/b");
	expect_bad_charset("/abs", "/abs");
	expect_bad_charset("a\\b", "a\\b");
}

static void test_nul_inside(void **state)
{
	/* The check sees a C string: bytes after a NUL are never part of the
	 * name, so "ab\0/../x" is the valid name "ab" and nothing else. */
	static const char buf[] = { 'a', 'b', '\0', '/', '.', '.', '/', 'x', '\0' };
	static const char lead[] = { '\0', 'a', '\0' };

	(void)state;
	expect_ok(buf);
	expect_bad_msg(lead, "volume name is empty");
}

static void test_length_limit(void **state)
{
	char name[VOLUME_NAME_MAX + 2];
	struct err e = ERR_INIT;

	(void)state;
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(strlen(name), 256);
	assert_int_equal(volume_name_check(name, &e), -EINVAL);
	/* the name is shown cut to 63 bytes, ending in "..." */
	assert_string_equal(e.msg, "volume name '"
				   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa..."
				   "' is longer than 255 bytes");
	name[VOLUME_NAME_MAX] = '\0';
	assert_int_equal(volume_name_check(name, &e), 0);
}

static void test_shell_metacharacters(void **state)
{
	static const char *const bad[] = {
		"a;rm -rf /", "$(reboot)", "`id`",  "a b", "a|b",  "a&b", "a>b", "a<b",
		"*",	      "?",	   "~root", "a$b", "a\"b", "a=b", "a,b", "a:b",
		"a@b",	      "a#b",	   "a%b",   "a+b", "a!b",  "(a)", "{a}", "[a]",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct err e = ERR_INIT;

		assert_int_equal(volume_name_check(bad[i], &e), -EINVAL);
		assert_non_null(strstr(e.msg, "only letters, digits"));
	}
	/* control bytes and the quote itself are shown as '?' */
	expect_bad_charset("a\nb", "a?b");
	expect_bad_charset("a\tb", "a?b");
	expect_bad_charset("a'b", "a?b");
	expect_bad_charset("\x1b[31m", "?[31m");
}

static void test_non_ascii(void **state)
{
	(void)state;
	expect_bad_charset("caf\xc3\xa9", "caf??");
	expect_bad_charset("\xe2\x80\xae"
			   "cod.exe",
			   "???cod.exe"); /* RLO */
	expect_bad_charset("\xff", "?");
}

static void test_service_names(void **state)
{
	char name[66];
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(service_name_check("vfs", &e), 0);
	assert_int_equal(service_name_check("ebs-2.east_1", &e), 0);
	assert_int_equal(service_name_check("", &e), -EINVAL);
	assert_string_equal(e.msg, "service name is empty");
	assert_int_equal(service_name_check("..", &e), -EINVAL);
	assert_string_equal(e.msg, "service name '..' is not allowed");
	assert_int_equal(service_name_check("a/b", &e), -EINVAL);
	assert_string_equal(
	    e.msg, "service name 'a/b': only letters, digits, '_', '.' and '-' are allowed");
	memset(name, 's', 64);
	name[64] = '\0';
	assert_int_equal(service_name_check(name, &e), 0);
	name[64] = 's';
	name[65] = '\0';
	assert_int_equal(service_name_check(name, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "is longer than 64 bytes"));
}

static void test_null_err(void **state)
{
	(void)state;
	assert_int_equal(volume_name_check("a/b", NULL), -EINVAL);
	assert_int_equal(volume_name_check("ok", NULL), 0);
}

static void test_sanitise(void **state)
{
	char out[8];

	(void)state;
	memset(out, 'Z', sizeof(out));
	name_sanitise(out, 0, "abc", 3); /* writes nothing */
	assert_int_equal(out[0], 'Z');
	name_sanitise(out, sizeof(out), "abc", 3);
	assert_string_equal(out, "abc");
	name_sanitise(out, sizeof(out), "abcdefg", 7); /* exact fit: no ellipsis */
	assert_string_equal(out, "abcdefg");
	name_sanitise(out, sizeof(out), "abcdefgh", 8);
	assert_string_equal(out, "abcd...");
	name_sanitise(out, 4, "abcdefgh", 8); /* too small for an ellipsis */
	assert_string_equal(out, "abc");
	name_sanitise(out, 1, "abc", 3);
	assert_string_equal(out, "");
	name_sanitise(out, sizeof(out), "a\0b", 3); /* len, not the NUL, bounds it */
	assert_string_equal(out, "a?b");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_names),   cmocka_unit_test(test_empty_and_dots),
		cmocka_unit_test(test_paths_refused), cmocka_unit_test(test_nul_inside),
		cmocka_unit_test(test_length_limit),  cmocka_unit_test(test_shell_metacharacters),
		cmocka_unit_test(test_non_ascii),     cmocka_unit_test(test_service_names),
		cmocka_unit_test(test_null_err),      cmocka_unit_test(test_sanitise),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
