/* Unit tests for csi/controller's pure helpers: a CSI CapacityRange to the
 * whole GiB of a volume. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csi/controller.h"

#define GIB (1024LL * 1024 * 1024)

static int64_t gib_of(int64_t req, int64_t lim, int64_t def)
{
	int64_t g = -1;
	int r = csi_capacity_gib(req, lim, def, &g);

	return r < 0 ? r : g;
}

static void test_capacity_gib(void **state)
{
	(void)state;
	/* neither: the default (at least 1) */
	assert_int_equal(gib_of(0, 0, 4), 4);
	assert_int_equal(gib_of(0, 0, 0), 1);
	/* required rounds up */
	assert_int_equal(gib_of(1, 0, 4), 1);
	assert_int_equal(gib_of(GIB, 0, 4), 1);
	assert_int_equal(gib_of(GIB + 1, 0, 4), 2);
	assert_int_equal(gib_of(3 * GIB / 2, 2 * GIB, 4), 2);
	assert_int_equal(gib_of(GIB, GIB, 4), 1); /* exact */
	/* only a limit: the default, or the limit rounded down */
	assert_int_equal(gib_of(0, 10 * GIB, 4), 4);
	assert_int_equal(gib_of(0, 3 * GIB + 5, 4), 3);
	assert_int_equal(gib_of(0, GIB, 4), 1);
	/* no whole GiB fits */
	assert_int_equal(gib_of(1, 1000, 4), -ERANGE);
	assert_int_equal(gib_of(0, GIB - 1, 4), -ERANGE);
	assert_int_equal(gib_of(GIB + 1, 2 * GIB - 1, 4), -ERANGE);
	assert_int_equal(gib_of((1LL << 20) * GIB + 1, 0, 4), -ERANGE);
	assert_int_equal(gib_of(INT64_MAX, 0, 4), -ERANGE);
	assert_int_equal(gib_of((1LL << 20) * GIB, 0, 4), 1LL << 20);
	/* negative */
	assert_int_equal(gib_of(-1, 0, 4), -EINVAL);
	assert_int_equal(gib_of(0, -1, 4), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capacity_gib),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
