/* Unit tests for util/metrics: buckets, the request table's bound, label
 * escaping and the text format; and buf_addf. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/buf.h"
#include "util/metrics.h"

static void test_buckets_are_cumulative(void **state)
{
	struct mx_hist h = { 0 };
	struct mx_snap s = { 0 };
	struct buf b = { 0 };

	(void)state;
	mx_observe(&h, 500000);	    /* 0.5 ms: the first bucket */
	mx_observe(&h, 1000000);    /* exactly 1 ms: still the first (le) */
	mx_observe(&h, 3000000);    /* 3 ms: le 0.005 */
	mx_observe(&h, 120000000000LL); /* 2 min: +Inf only */
	mx_observe(&h, -5);	    /* a clock step back counts as 0 */
	mx_snap_add(&s, &h);
	assert_int_equal(s.count, 5);
	assert_int_equal(mx_hist_write(&b, "t", "a=\"1\"", &s), 0);
	assert_non_null(strstr(b.data, "t_bucket{a=\"1\",le=\"0.001\"} 3\n"));
	assert_non_null(strstr(b.data, "t_bucket{a=\"1\",le=\"0.0025\"} 3\n"));
	assert_non_null(strstr(b.data, "t_bucket{a=\"1\",le=\"0.005\"} 4\n"));
	assert_non_null(strstr(b.data, "t_bucket{a=\"1\",le=\"60\"} 4\n"));
	assert_non_null(strstr(b.data, "t_bucket{a=\"1\",le=\"+Inf\"} 5\n"));
	assert_non_null(strstr(b.data, "t_sum{a=\"1\"} 120.0045\n"));
	assert_non_null(strstr(b.data, "t_count{a=\"1\"} 5\n"));
	buf_release(&b);
	/* without labels: no braces on _sum and _count */
	assert_int_equal(mx_hist_write(&b, "u", NULL, &s), 0);
	assert_non_null(strstr(b.data, "u_bucket{le=\"+Inf\"} 5\n"));
	assert_non_null(strstr(b.data, "\nu_count 5\n"));
	buf_release(&b);
}

static void test_request_table_is_bounded(void **state)
{
	static char labels[MX_REQ_SLOTS + 10][16];
	struct mx_requests r;
	struct buf b = { 0 };

	(void)state;
	mx_requests_init(&r);
	for (int i = 0; i < MX_REQ_SLOTS + 10; i++) {
		snprintf(labels[i], sizeof(labels[i]), "r%d", i);
		mx_requests_observe(&r, labels[i], 200, 1000);
	}
	mx_requests_observe(&r, "r0", 200, 1000);
	assert_int_equal(r.n, MX_REQ_SLOTS);
	assert_int_equal(r.row[0].h.count, 2);
	/* the rows that found no room all went to one place */
	assert_int_equal(mx_requests_write(&b, &r, "req", "route", "m=\"x\""), 0);
	assert_non_null(strstr(b.data, "req_count{m=\"x\",route=\"r0\",code=\"200\"} 2\n"));
	assert_null(strstr(b.data, "route=\"r70\""));
	assert_non_null(strstr(b.data, "req_count{m=\"x\",route=\"r62\",code=\"200\"} 1\n"));
	assert_non_null(strstr(b.data, "req_count{m=\"x\",route=\"other\",code=\"0\"} 11\n"));
	mx_requests_destroy(&r);
	buf_release(&b);
}

static void test_labels_are_escaped(void **state)
{
	struct buf b = { 0 };

	(void)state;
	assert_int_equal(mx_label(&b, "a", "x\"y\\z\nw"), 0);
	assert_int_equal(mx_label(&b, "b", NULL), 0);
	assert_string_equal(b.data, "a=\"x\\\"y\\\\z\\nw\",b=\"\"");
	buf_release(&b);
	assert_int_equal(mx_sample(&b, "n", NULL, 3), 0);
	assert_int_equal(mx_sample(&b, "f", "", 0.25), 0);
	assert_int_equal(mx_sample(&b, "big", NULL, 1796553990.5), 0);
	assert_string_equal(b.data, "n 3\nf 0.25\nbig 1796553990.5\n");
	buf_release(&b);
}

static void test_buf_addf_bounded(void **state)
{
	struct buf b = { .max = 8 };

	(void)state;
	assert_int_equal(buf_addf(&b, "%d-%s", 12, "ab"), 0);
	assert_string_equal(b.data, "12-ab");
	assert_int_equal(buf_addf(&b, "%s", "toolong"), -EFBIG);
	assert_string_equal(b.data, "12-ab"); /* nothing added */
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_are_cumulative),
		cmocka_unit_test(test_request_table_is_bounded),
		cmocka_unit_test(test_labels_are_escaped),
		cmocka_unit_test(test_buf_addf_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
