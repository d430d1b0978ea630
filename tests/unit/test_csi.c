/* Unit tests for csi/: the errno -> gRPC status map, the csi.services
 * parser and the driver name check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csi/plugin.h"
#include "csi/server.h"

static void test_status_from_errno(void **state)
{
	(void)state;
	assert_int_equal(csi_status_from_errno(0), GRPC_STATUS_OK);
	assert_int_equal(csi_status_from_errno(-EINVAL), GRPC_STATUS_INVALID_ARGUMENT);
	assert_int_equal(csi_status_from_errno(-ENOENT), GRPC_STATUS_NOT_FOUND);
	assert_int_equal(csi_status_from_errno(-EEXIST), GRPC_STATUS_ALREADY_EXISTS);
	assert_int_equal(csi_status_from_errno(-EBUSY), GRPC_STATUS_FAILED_PRECONDITION);
	assert_int_equal(csi_status_from_errno(-EAGAIN), GRPC_STATUS_ABORTED);
	assert_int_equal(csi_status_from_errno(-ERANGE), GRPC_STATUS_OUT_OF_RANGE);
	assert_int_equal(csi_status_from_errno(-ENOSPC), GRPC_STATUS_RESOURCE_EXHAUSTED);
	assert_int_equal(csi_status_from_errno(-ENOTSUP), GRPC_STATUS_UNIMPLEMENTED);
	assert_int_equal(csi_status_from_errno(-EACCES), GRPC_STATUS_PERMISSION_DENIED);
	assert_int_equal(csi_status_from_errno(-ETIMEDOUT), GRPC_STATUS_DEADLINE_EXCEEDED);
	assert_int_equal(csi_status_from_errno(-ECONNREFUSED), GRPC_STATUS_UNAVAILABLE);
	/* anything else is INTERNAL, never OK */
	assert_int_equal(csi_status_from_errno(-EIO), GRPC_STATUS_INTERNAL);
	assert_int_equal(csi_status_from_errno(-12345), GRPC_STATUS_INTERNAL);
	assert_string_equal(csi_status_name(GRPC_STATUS_UNIMPLEMENTED), "UNIMPLEMENTED");
	assert_string_equal(csi_status_name(GRPC_STATUS_UNAUTHENTICATED), "UNAUTHENTICATED");
	assert_string_equal(csi_status_name((grpc_status_code)99), "UNKNOWN");
}

static unsigned parse_ok(const char *text)
{
	struct err e = ERR_INIT;
	unsigned bits = 0;

	if (csi_services_parse(text, &bits, &e) != 0)
		fail_msg("'%s' refused: %s", text, e.msg);
	return bits;
}

static void test_services_parse(void **state)
{
	struct err e = ERR_INIT;
	unsigned bits = 77;

	(void)state;
	assert_int_equal(parse_ok("controller,node"), CSI_SVC_CONTROLLER | CSI_SVC_NODE);
	assert_int_equal(parse_ok("node"), CSI_SVC_NODE);
	assert_int_equal(parse_ok("Controller"), CSI_SVC_CONTROLLER);
	assert_int_equal(parse_ok(" node , controller "), CSI_SVC_CONTROLLER | CSI_SVC_NODE);
	assert_int_equal(parse_ok("[controller, node]"), CSI_SVC_CONTROLLER | CSI_SVC_NODE);
	assert_int_equal(parse_ok("node node"), CSI_SVC_NODE);
	assert_int_equal(csi_services_parse("nodes", &bits, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "'nodes'"));
	assert_int_equal(bits, 77); /* untouched on failure */
	assert_int_equal(csi_services_parse("", &bits, &e), -EINVAL);
	assert_int_equal(csi_services_parse(" , ", &bits, &e), -EINVAL);
	assert_int_equal(csi_services_parse(NULL, &bits, NULL), -EINVAL);
	assert_int_equal(csi_services_parse("node,identity", &bits, &e), -EINVAL);
}

static void test_driver_name(void **state)
{
	char long_name[80];

	(void)state;
	assert_true(csi_driver_name_valid("csi.rexray.io"));
	assert_true(csi_driver_name_valid("a"));
	assert_true(csi_driver_name_valid("my-driver.example.org"));
	assert_false(csi_driver_name_valid(""));
	assert_false(csi_driver_name_valid(NULL));
	assert_false(csi_driver_name_valid("-a"));
	assert_false(csi_driver_name_valid("a."));
	assert_false(csi_driver_name_valid("a_b"));
	assert_false(csi_driver_name_valid("a/b"));
	assert_false(csi_driver_name_valid("a b"));
	memset(long_name, 'a', 63);
	long_name[63] = '\0';
	assert_true(csi_driver_name_valid(long_name));
	long_name[63] = 'a';
	long_name[64] = '\0';
	assert_false(csi_driver_name_valid(long_name));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_from_errno),
		cmocka_unit_test(test_services_parse),
		cmocka_unit_test(test_driver_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
