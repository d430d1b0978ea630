/* Unit tests for small pieces: err_prefix, size_parse_gib, json_text,
 * cli_nearest. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/help.h"
#include "util/err.h"
#include "util/jsondump.h"
#include "util/size.h"
#include "util/sys.h"
#include "util/paths.h"
#include "util/time.h"

#include <stdio.h>
#include <time.h>

static void test_err_prefix(void **state)
{
	struct err e = ERR_INIT;

	(void)state;
	err_set(&e, -ENOENT, "no such thing");
	assert_int_equal(err_prefix(&e, "volume '%s'", "v"), -ENOENT);
	assert_string_equal(e.msg, "volume 'v': no such thing");
	/* a callee that failed without saying so: still a failure */
	err_clear(&e);
	assert_int_equal(err_prefix(&e, "service 'x'"), -EIO);
	assert_string_equal(e.msg, "service 'x': failed without saying why");
}

static void test_sizes(void **state)
{
	static const struct {
		const char *in;
		int64_t gib;
		bool rounded;
	} ok[] = {
		{ "1", 1, false },	{ "10G", 10, false }, { "10gb", 10, false },
		{ "10GiB", 10, false }, { "2T", 2048, false }, { "1024M", 1, false },
		{ "1025MiB", 2, true }, { "1m", 1, true },     { " 3", 3, false },
	};
	static const char *const bad[] = { "", "G", "-1", "1.5G", "10X", "10 G", "0", "0M",
					   "99999999999999999999", "2000000G", "1Gi" };
	struct err e = ERR_INIT;
	int64_t g;
	bool r;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(size_parse_gib("--size", ok[i].in, 1 << 20, &g, &r, &e), 0);
		assert_int_equal(g, ok[i].gib);
		assert_int_equal(r, ok[i].rounded);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&e);
		assert_int_equal(size_parse_gib("--size", bad[i], 1 << 20, &g, &r, &e), -EINVAL);
		assert_non_null(strstr(e.msg, "--size"));
	}
	/* the bound is inclusive */
	assert_int_equal(size_parse_gib("x", "1024", 1024, &g, &r, &e), 0);
	assert_int_equal(size_parse_gib("x", "1025", 1024, &g, &r, &e), -EINVAL);
}

/* jansson drops an object key it had no memory for and returns the rest;
 * json_text returns all of it or nothing, whichever allocation fails. */
static void test_json_text_is_whole_or_nothing(void **state)
{
	json_t *j = json_pack("{s:i,s:s,s:[i,i]}", "attachmentState", 3, "name", "v", "a", 1, 2);
	char *whole;
	unsigned long n;

	(void)state;
	assert_non_null(j);
	json_set_alloc_funcs(sys_malloc, free);
	whole = json_text(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_non_null(whole);
	for (n = 1; n < 100; n++) {
		char *t;
		bool fired;

		sys_alloc_scope(true);
		sys_fault_arm(SYS_ALLOC, false, n, ENOMEM, false);
		t = json_text(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
		fired = sys_fault_calls() >= n;
		sys_fault_arm(SYS_ALLOC, false, 0, 0, false);
		sys_alloc_scope(false);
		if (t)
			assert_string_equal(t, whole);
		else
			assert_true(fired);
		free(t);
		if (!fired)
			break;
	}
	assert_true(n > 1);
	json_set_alloc_funcs(malloc, free);
	free(whole);
	json_decref(j);
}

static void test_nearest(void **state)
{
	static const char *const words[] = { "volume", "service", "start", "stop", "status",
					      "ls", "l", "create", NULL };

	(void)state;
	assert_string_equal(cli_nearest("volme", words), "volume");
	assert_string_equal(cli_nearest("stp", words), "stop");
	assert_string_equal(cli_nearest("lss", words), "ls");
	assert_string_equal(cli_nearest("CRATE", words), "create");
	assert_null(cli_nearest("xyzzy", words));
	assert_null(cli_nearest("volume", words)); /* a name is no typo of itself */
	assert_null(cli_nearest("q", words));	   /* one-letter aliases are never offered */
}

/* time_utc_stamp writes what gmtime_r + strftime write. */
static void test_utc_stamp(void **state)
{
	static const long long fixed[] = {
		1, 59, 60, 86399, 86400, 951782400 /* 2000-02-29 */, 951868800, 1709164800,
		4102444799LL /* 2099-12-31T23:59:59 */, 253402300799LL /* 9999-12-31T23:59:59 */,
		253402300800LL /* 10000: strftime's own */, 1796214657,
	};
	char got[TIME_STAMP_MAX], want[64];
	struct tm tm;

	(void)state;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) + 200000; i++) {
		long long t = i < sizeof(fixed) / sizeof(fixed[0])
				      ? fixed[i]
				      : (long long)(i * 2654435761ULL % 253402300800ULL);
		time_t tt = (time_t)t;
		assert_non_null(gmtime_r(&tt, &tm));
		strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);
		time_utc_stamp(t, got);
		if (strcmp(got, want) != 0)
			fail_msg("%lld: %s, want %s", t, got, want);
	}
}

/* path_join and path_join3 write what snprintf writes, truncated alike. */
static void test_path_join(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(path_join(out, sizeof(out), "/a/b", "c"), 0);
	assert_string_equal(out, "/a/b/c");
	assert_int_equal(path_join3(out, sizeof(out), "/r", "vol", "x1"), 0);
	assert_string_equal(out, "/r/vol/x1");
	assert_int_equal(path_join(out, sizeof(out), "/0123456789", "abc"), 0);
	assert_string_equal(out, "/0123456789/abc");
	assert_int_equal(path_join(out, sizeof(out), "/0123456789", "abcd"), -ENAMETOOLONG);
	assert_string_equal(out, "/0123456789/abc"); /* as snprintf truncates */
	assert_int_equal(path_join(out, sizeof(out), "/0123456789abcdefgh", "x"), -ENAMETOOLONG);
	assert_string_equal(out, "/0123456789abcd");
	assert_int_equal(path_join3(out, sizeof(out), "/0123456789", "ab", "cd"), -ENAMETOOLONG);
	assert_string_equal(out, "/0123456789/ab/");
	assert_int_equal(path_join(out, 1, "a", "b"), -ENAMETOOLONG);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_prefix),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_json_text_is_whole_or_nothing),
		cmocka_unit_test(test_nearest),
		cmocka_unit_test(test_utc_stamp),
		cmocka_unit_test(test_path_join),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
