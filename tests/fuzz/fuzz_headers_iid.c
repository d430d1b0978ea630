/*
 * fuzz_headers_iid: the Libstorage-Instanceid header parser
 * (api/headers.h), DRIVER[:SERVICE]=ID[,FIELDS[,METADATA]].
 *
 * Input: the header value (an embedded NUL ends it, as in HTTP).
 * Invariants:
 *  - success: a non-empty driver, a non-NULL id, a service that is NULL or
 *    non-empty, fields an object of strings, metadata NUL-free JSON text;
 *    iid_header_format gives a value that parses again to the same
 *    instance ID and formats to the same string (when it still fits the
 *    8 KiB header limit: re-escaping may lengthen fields);
 *    the JSON encoding is stable: to_json(from_json(to_json(x))) == to_json(x);
 *  - failure: -EINVAL (or -ENOMEM) with a message, the output released.
 */
#include <jansson.h>

#include "api/codec.h"
#include "api/headers.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static bool fields_equal(const json_t *a, const json_t *b)
{
	bool ea = !a || json_object_size(a) == 0, eb = !b || json_object_size(b) == 0;

	if (ea || eb)
		return ea && eb;
	return json_equal((json_t *)a, (json_t *)b);
}

static void check_parsed(const struct instance_id *iid)
{
	const char *k;
	json_t *v;

	FUZZ_CHECK(iid->driver && *iid->driver);
	FUZZ_CHECK(!strchr(iid->driver, '=') && !strchr(iid->driver, ':'));
	FUZZ_CHECK(iid->id && !strchr(iid->id, ','));
	FUZZ_CHECK(!iid->service || (*iid->service && !strchr(iid->service, '=')));
	if (iid->fields) {
		FUZZ_CHECK(json_is_object(iid->fields));
		json_object_foreach (iid->fields, k, v)
			FUZZ_CHECK(json_is_string(v));
	}
	if (iid->metadata) {
		json_t *m = json_loads(iid->metadata, JSON_DECODE_ANY, NULL);
		FUZZ_CHECK(*iid->metadata && m);
		json_decref(m);
	}
}

static void check_json_stable(const struct instance_id *iid)
{
	struct instance_id back;
	struct err e = ERR_INIT;
	json_t *j1, *j2;

	j1 = instance_id_to_json(iid);
	FUZZ_CHECK(j1);
	FUZZ_CHECK_MSG(instance_id_from_json(j1, &back, &e) == 0, "%s", e.msg);
	j2 = instance_id_to_json(&back);
	FUZZ_CHECK(j2);
	FUZZ_CHECK(json_equal(j1, j2));
	json_decref(j1);
	json_decref(j2);
	instance_id_release(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = fuzz_cstr(data, size);
	struct instance_id a, b;
	struct err e = ERR_INIT;
	char *f1, *f2;
	int r;

	r = iid_header_parse(value, &a, &e);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL || r == -ENOMEM);
		FUZZ_CHECK(e.code == r && e.msg[0]);
		FUZZ_CHECK(!a.id && !a.driver && !a.service && !a.fields && !a.metadata);
		free(value);
		return 0;
	}
	check_parsed(&a);
	check_json_stable(&a);

	f1 = iid_header_format(&a);
	FUZZ_CHECK(f1);
	if (strlen(f1) <= HEADER_VALUE_MAX) {
		r = iid_header_parse(f1, &b, &e);
		FUZZ_CHECK_MSG(r == 0, "'%s' -> '%s': %s", value, f1, e.msg);
		FUZZ_CHECK(fuzz_streq(a.driver, b.driver));
		FUZZ_CHECK(fuzz_streq(a.service, b.service));
		FUZZ_CHECK(fuzz_streq(a.id, b.id));
		FUZZ_CHECK(fuzz_streq(a.metadata, b.metadata));
		FUZZ_CHECK(fields_equal(a.fields, b.fields));
		f2 = iid_header_format(&b);
		FUZZ_CHECK(f2 && strcmp(f1, f2) == 0);
		free(f2);
		instance_id_release(&b);
	}
	free(f1);
	instance_id_release(&a);
	free(value);
	return 0;
}
