/* Unit tests for csi/node's pure helpers: the check of paths the CO gives. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csi/node.h"

static int check(const char *p)
{
	struct err e = ERR_INIT;
	int r = csi_node_path_check("target_path", p, &e);

	if (r < 0) /* every refusal says which field */
		assert_non_null(strstr(e.msg, "target_path"));
	return r;
}

static void test_path_check(void **state)
{
	char *big = malloc(PATH_MAX + 2);

	(void)state;
	assert_int_equal(check("/var/lib/kubelet/pods/x/volumes/v/mount"), 0);
	assert_int_equal(check("/a"), 0);
	assert_int_equal(check("/a/.b/c..d/..e"), 0); /* dots inside names are fine */
	assert_int_equal(check(NULL), -EINVAL);
	assert_int_equal(check(""), -EINVAL);
	assert_int_equal(check("relative/path"), -EINVAL);
	assert_int_equal(check("/"), -EINVAL);
	assert_int_equal(check("/a/"), -EINVAL);
	assert_int_equal(check("/a//b"), -EINVAL);
	assert_int_equal(check("/a/./b"), -EINVAL);
	assert_int_equal(check("/a/../etc"), -EINVAL);
	assert_int_equal(check("/a/.."), -EINVAL);
	assert_int_equal(check("/.."), -EINVAL);
	assert_int_equal(check("/a/b\nc"), -EINVAL);
	assert_non_null(big);
	big[0] = '/';
	memset(big + 1, 'a', PATH_MAX);
	big[PATH_MAX + 1] = '\0';
	for (size_t i = 200; i < PATH_MAX; i += 200)
		big[i] = '/';
	assert_int_equal(check(big), -ENAMETOOLONG);
	big[PATH_MAX - 1] = '\0'; /* PATH_MAX - 1 bytes: the longest allowed */
	assert_int_equal(check(big), 0);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
