/* Unit tests for api/headers.c: the three libStorage header grammars. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/headers.h"

/* ---- Libstorage-Instanceid ---- */

static void test_iid_driver_service_id(void **state)
{
	struct instance_id iid;
	struct err e = ERR_INIT;
	char *s;

	(void)state;
	assert_int_equal(iid_header_parse("vfs:vfs=vm", &iid, &e), 0);
	assert_string_equal(iid.driver, "vfs");
	assert_string_equal(iid.service, "vfs");
	assert_string_equal(iid.id, "vm");
	assert_null(iid.fields);
	assert_null(iid.metadata);
	s = iid_header_format(&iid);
	assert_string_equal(s, "vfs:vfs=vm");
	free(s);
	instance_id_release(&iid);
}

static void test_iid_metadata_only(void **state)
{
	struct instance_id iid;
	struct err e = ERR_INIT;
	char *s;

	(void)state;
	assert_int_equal(iid_header_parse("vfs=,,InZtIg==", &iid, &e), 0);
	assert_string_equal(iid.driver, "vfs");
	assert_null(iid.service);
	assert_string_equal(iid.id, "");
	assert_null(iid.fields);
	assert_string_equal(iid.metadata, "\"vm\"");
	s = iid_header_format(&iid);
	assert_string_equal(s, "vfs=,,InZtIg==");
	free(s);
	instance_id_release(&iid);
}

static void test_iid_fields(void **state)
{
	const char *hdr = "ebs=i-1234,availabilityZone=us-west-2a&region=us-west-2";
	struct instance_id iid;
	struct err e = ERR_INIT;
	char *s;

	(void)state;
	assert_int_equal(iid_header_parse(hdr, &iid, &e), 0);
	assert_string_equal(iid.driver, "ebs");
	assert_string_equal(iid.id, "i-1234");
	assert_non_null(iid.fields);
	assert_int_equal(json_object_size(iid.fields), 2);
	assert_string_equal(json_string_value(json_object_get(iid.fields, "availabilityZone")),
			    "us-west-2a");
	assert_string_equal(json_string_value(json_object_get(iid.fields, "region")), "us-west-2");
	assert_null(iid.metadata);
	s = iid_header_format(&iid);
	assert_string_equal(s, hdr);
	free(s);
	instance_id_release(&iid);
}

static void test_iid_escapes_round_trip(void **state)
{
	struct instance_id iid = { 0 }, back;
	struct err e = ERR_INIT;
	char *s;

	(void)state;
	iid.driver = strdup("scaleio");
	iid.service = strdup("sio2");
	iid.id = strdup("abc");
	iid.fields = json_pack("{s:s, s:s, s:s}", "z key", "a b&c=d", "a", "100%", "m", "ü");
	iid.metadata = strdup("{\"guid\":\"1bb2\",\"n\":[1,2]}");
	assert_non_null(iid.fields);
	s = iid_header_format(&iid);
	assert_non_null(s);
	assert_string_equal(s, "scaleio:sio2=abc,a=100%25&m=%C3%BC&z+key=a+b%26c%3Dd,"
			       "eyJndWlkIjoiMWJiMiIsIm4iOlsxLDJdfQ==");
	assert_int_equal(iid_header_parse(s, &back, &e), 0);
	assert_string_equal(back.driver, "scaleio");
	assert_string_equal(back.service, "sio2");
	assert_string_equal(back.id, "abc");
	assert_true(json_equal(back.fields, iid.fields));
	assert_string_equal(back.metadata, iid.metadata);
	free(s);
	instance_id_release(&back);
	instance_id_release(&iid);
}

static void test_iid_round_trip_variants(void **state)
{
	static const char *const ok[] = {
		"vfs=vm",
		"vfs=",
		"ebs=i-1,a=1",
		"ebs:svc=i-1,a=1&b=",
		"vfs=id,,bnVsbA==", /* metadata JSON null */
		"vfs=id,k=v,MQ==",  /* metadata JSON 1 */
		"vfs=id,k=v,e30=",  /* {} */
		"virtualbox=,,WyIwODowMDoyNzpmNzpmNzozNiJd",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct instance_id iid;
		struct err e = ERR_INIT;
		char *s;

		(void)state;
		assert_int_equal(iid_header_parse(ok[i], &iid, &e), 0);
		s = iid_header_format(&iid);
		assert_string_equal(s, ok[i]);
		free(s);
		instance_id_release(&iid);
	}
}

static void test_iid_go_leniencies(void **state)
{
	struct instance_id iid;
	struct err e = ERR_INIT;

	(void)state;
	/* empty pairs skipped, a key alone is "", the first repeated key wins */
	assert_int_equal(iid_header_parse("d=x,a=1&&b&a=2", &iid, &e), 0);
	assert_int_equal(json_object_size(iid.fields), 2);
	assert_string_equal(json_string_value(json_object_get(iid.fields, "a")), "1");
	assert_string_equal(json_string_value(json_object_get(iid.fields, "b")), "");
	instance_id_release(&iid);
	/* the ID may hold '=' (only the first '=' ends the driver) */
	assert_int_equal(iid_header_parse("d=a=b", &iid, &e), 0);
	assert_string_equal(iid.id, "a=b");
	instance_id_release(&iid);
}

static void expect_iid_bad(const char *value, const char *needle)
{
	struct instance_id iid;
	struct err e = ERR_INIT;

	memset(&iid, 0xa5, sizeof(iid));
	assert_int_equal(iid_header_parse(value, &iid, &e), -EINVAL);
	assert_int_equal(e.code, -EINVAL);
	if (!strstr(e.msg, needle))
		fail_msg("'%s': message '%s' lacks '%s'", value, e.msg, needle);
	assert_non_null(strstr(e.msg, "Libstorage-Instanceid"));
	/* left released */
	assert_null(iid.id);
	assert_null(iid.driver);
	assert_null(iid.service);
	assert_null(iid.fields);
	assert_null(iid.metadata);
}

static void test_iid_malformed(void **state)
{
	char big[HEADER_VALUE_MAX + 2];

	(void)state;
	expect_iid_bad("", "empty");
	expect_iid_bad("vfs", "missing '='");
	expect_iid_bad("=vm", "empty driver");
	expect_iid_bad(":svc=vm", "empty driver");
	expect_iid_bad("vfs:=vm", "empty service");
	expect_iid_bad("vfs=,,InZtIg=", "base64");    /* bad length */
	expect_iid_bad("vfs=,,InZtI!==", "base64");   /* bad alphabet */
	expect_iid_bad("vfs=,,InZtIh==", "base64");   /* non-zero trailing bits */
	expect_iid_bad("vfs=,,dm0=", "not JSON");     /* "vm" without quotes */
	expect_iid_bad("vfs=,,eyJhIjox", "not JSON"); /* {"a":1 */
	expect_iid_bad("vfs=,,AA==", "not JSON");     /* a NUL byte */
	expect_iid_bad("vfs=x,a=%zz", "escape");
	expect_iid_bad("vfs=x,a=%4", "escape");
	expect_iid_bad("vfs=x,a=%", "escape");
	expect_iid_bad("vfs=x,a=%00", "escape"); /* decoded NUL */
	expect_iid_bad("vfs=x,a=%0A", "escape"); /* decoded newline */
	expect_iid_bad("vfs=x,a=%FF", "UTF-8");
	expect_iid_bad("vfs=x\ny", "control");
	expect_iid_bad("vfs=x\ty", "control");
	expect_iid_bad("vfs=x\x7fy", "control");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "vfs=", 4);
	expect_iid_bad(big, "8192");
}

static void test_iid_max_length_ok(void **state)
{
	char big[HEADER_VALUE_MAX + 1];
	struct instance_id iid;
	struct err e = ERR_INIT;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "vfs=", 4);
	assert_int_equal(iid_header_parse(big, &iid, &e), 0);
	assert_int_equal(strlen(iid.id), HEADER_VALUE_MAX - 4);
	instance_id_release(&iid);
}

static void test_iid_null_value(void **state)
{
	struct instance_id iid;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(iid_header_parse(NULL, &iid, &e), -EINVAL);
	/* a NULL struct err is allowed */
	assert_int_equal(iid_header_parse("x", &iid, NULL), -EINVAL);
}

/* ---- Libstorage-Localdevices ---- */

static void test_ld_vfs(void **state)
{
	const char *hdr = "vfs=/dev/xvda::,/dev/xvdb::,/dev/xvdc::,/dev/xvdd::";
	static const char *const vols[] = { "/dev/xvda", "/dev/xvdb", "/dev/xvdc", "/dev/xvdd" };
	struct local_devices ld;
	struct err e = ERR_INIT;
	char *s;

	(void)state;
	assert_int_equal(localdevices_header_parse(hdr, &ld, &e), 0);
	assert_string_equal(ld.driver, "vfs");
	assert_int_equal(ld.n, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(ld.map[i].volume_id, vols[i]);
		assert_string_equal(ld.map[i].device, "");
	}
	s = localdevices_header_format(&ld);
	assert_string_equal(s, hdr);
	free(s);
	local_devices_release(&ld);
}

static void test_ld_scaleio(void **state)
{
	struct local_devices ld;
	struct err e = ERR_INIT;
	char *s;

	(void)state;
	assert_int_equal(localdevices_header_parse("scaleio=vol-1235::/dev/scini1", &ld, &e), 0);
	assert_string_equal(ld.driver, "scaleio");
	assert_int_equal(ld.n, 1);
	assert_string_equal(ld.map[0].volume_id, "vol-1235");
	assert_string_equal(ld.map[0].device, "/dev/scini1");
	s = localdevices_header_format(&ld);
	assert_string_equal(s, "scaleio=vol-1235::/dev/scini1");
	free(s);
	local_devices_release(&ld);
}

static void test_ld_empty_and_sorted(void **state)
{
	struct local_device m[] = {
		{ (char *)"vol-b", (char *)"/dev/xvdg" },
		{ (char *)"vol-a", (char *)"/dev/disk/by-id/x::y" },
	};
	struct local_devices ld = { (char *)"ebs", m, 2 };
	struct local_devices back;
	struct err e = ERR_INIT;
	char *s;

	(void)state;
	s = localdevices_header_format(&ld);
	assert_string_equal(s, "ebs=vol-a::/dev/disk/by-id/x::y,vol-b::/dev/xvdg");
	assert_int_equal(localdevices_header_parse(s, &back, &e), 0);
	assert_int_equal(back.n, 2);
	assert_string_equal(back.map[0].device, "/dev/disk/by-id/x::y");
	free(s);
	local_devices_release(&back);

	assert_int_equal(localdevices_header_parse("vfs=", &back, &e), 0);
	assert_string_equal(back.driver, "vfs");
	assert_int_equal(back.n, 0);
	s = localdevices_header_format(&back);
	assert_string_equal(s, "vfs=");
	free(s);
	local_devices_release(&back);
}

static void expect_ld_bad(const char *value, const char *needle)
{
	struct local_devices ld;
	struct err e = ERR_INIT;

	assert_int_equal(localdevices_header_parse(value, &ld, &e), -EINVAL);
	if (!strstr(e.msg, needle))
		fail_msg("'%s': message '%s' lacks '%s'", value, e.msg, needle);
	assert_non_null(strstr(e.msg, "Libstorage-Localdevices"));
	assert_null(ld.driver);
	assert_null(ld.map);
	assert_int_equal(ld.n, 0);
}

static void test_ld_malformed(void **state)
{
	(void)state;
	expect_ld_bad("", "empty");
	expect_ld_bad("vfs", "missing '='");
	expect_ld_bad("=a::b", "empty driver");
	expect_ld_bad("vfs=/dev/xvda", "'::'");
	expect_ld_bad("vfs=a::b,", "empty entry");
	expect_ld_bad("vfs=a::b,,c::d", "empty entry");
	expect_ld_bad("vfs=,a::b", "empty entry");
	expect_ld_bad("vfs=::/dev/x", "empty volume");
	expect_ld_bad("vfs=a::b,a::c", "twice");
	expect_ld_bad("vfs=a::b\r\n", "control");
}

/* ---- Libstorage-Tx ---- */

static void test_tx_trace(void **state)
{
	char id[64];
	int64_t cr;
	struct err e = ERR_INIT;
	char *s;

	(void)state;
	assert_int_equal(
	    tx_header_parse("txID=9ca4e97a-aedc-49a4-4855-f1c01346060a, txCR=1795616263", id, &cr,
			    &e),
	    0);
	assert_string_equal(id, "9ca4e97a-aedc-49a4-4855-f1c01346060a");
	assert_int_equal(cr, 1795616263);
	s = tx_header_format(id, cr);
	assert_string_equal(s, "txID=9ca4e97a-aedc-49a4-4855-f1c01346060a, txCR=1795616263");
	free(s);
}

static void test_tx_variants(void **state)
{
	char id[64];
	int64_t cr;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(tx_header_parse("txID=abc", id, &cr, &e), 0);
	assert_string_equal(id, "abc");
	assert_int_equal(cr, 0);
	assert_int_equal(tx_header_parse("txcr=5,txid=abc", id, &cr, &e), 0);
	assert_string_equal(id, "abc");
	assert_int_equal(cr, 5);
	assert_int_equal(tx_header_parse("  txID=x ,   txCR=9223372036854775807 ", id, &cr, &e), 0);
	assert_int_equal(cr, INT64_MAX);
}

static void expect_tx_bad(const char *value, const char *needle)
{
	char id[64];
	int64_t cr;
	struct err e = ERR_INIT;

	memset(id, 'x', sizeof(id));
	cr = 77;
	assert_int_equal(tx_header_parse(value, id, &cr, &e), -EINVAL);
	if (!strstr(e.msg, needle))
		fail_msg("'%s': message '%s' lacks '%s'", value, e.msg, needle);
	assert_non_null(strstr(e.msg, "Libstorage-Tx"));
	assert_string_equal(id, "");
	assert_int_equal(cr, 0);
}

static void test_tx_malformed(void **state)
{
	char longid[80];

	(void)state;
	expect_tx_bad("", "empty");
	expect_tx_bad("txCR=5", "missing txID");
	expect_tx_bad("txID=", "1-63");
	expect_tx_bad("txID=a b", "may hold only");
	expect_tx_bad("txID=a;rm", "may hold only");
	expect_tx_bad("txID=a, txCR=", "unix time");
	expect_tx_bad("txID=a, txCR=-1", "unix time");
	expect_tx_bad("txID=a, txCR=12x", "unix time");
	expect_tx_bad("txID=a, txCR=9223372036854775808", "out of range");
	expect_tx_bad("txID=a, txID=b", "twice");
	expect_tx_bad("txID=a, txCR=1, txCR=2", "twice");
	expect_tx_bad("txID=a, foo=1", "unknown key");
	expect_tx_bad("txID=a, txCR", "key=value");
	expect_tx_bad("txID=a,", "key=value");
	expect_tx_bad("txID=a\n", "control");
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	memcpy(longid, "txID=", 5);
	expect_tx_bad(longid, "1-63");
}

/* ---- uuid ---- */

static void test_uuid_format(void **state)
{
	char a[37], b[37];
	struct err e = ERR_INIT;
	char id[64];
	int64_t cr;
	char *s;

	(void)state;
	for (int n = 0; n < 100; n++) {
		uuid_v4(a);
		assert_int_equal(strlen(a), 36);
		for (int i = 0; i < 36; i++) {
			if (i == 8 || i == 13 || i == 18 || i == 23)
				assert_int_equal(a[i], '-');
			else
				assert_non_null(strchr("0123456789abcdef", a[i]));
		}
		assert_int_equal(a[14], '4');
		assert_non_null(strchr("89ab", a[19]));
	}
	uuid_v4(b);
	assert_string_not_equal(a, b);
	/* a generated ID is a valid txID */
	s = tx_header_format(b, 1);
	assert_int_equal(tx_header_parse(s, id, &cr, &e), 0);
	assert_string_equal(id, b);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iid_driver_service_id),
		cmocka_unit_test(test_iid_metadata_only),
		cmocka_unit_test(test_iid_fields),
		cmocka_unit_test(test_iid_escapes_round_trip),
		cmocka_unit_test(test_iid_round_trip_variants),
		cmocka_unit_test(test_iid_go_leniencies),
		cmocka_unit_test(test_iid_malformed),
		cmocka_unit_test(test_iid_max_length_ok),
		cmocka_unit_test(test_iid_null_value),
		cmocka_unit_test(test_ld_vfs),
		cmocka_unit_test(test_ld_scaleio),
		cmocka_unit_test(test_ld_empty_and_sorted),
		cmocka_unit_test(test_ld_malformed),
		cmocka_unit_test(test_tx_trace),
		cmocka_unit_test(test_tx_variants),
		cmocka_unit_test(test_tx_malformed),
		cmocka_unit_test(test_uuid_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
