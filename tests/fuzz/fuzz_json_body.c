/*
 * fuzz_json_body: what the REST server and the Docker plugin do with a
 * request body (api/codec.h): json_body_parse, then the decoders of
 * POST /volumes/{svc} (volume_create_req_from_json), ?attach and ?detach.
 * The Docker plugin's handlers take "Name"/"ID"/"Opts" out of the same
 * parsed object; those, and the routing, are reachable only through HTTP
 * and are covered by the system tests (tests/system/test_bad_input.py).
 *
 * Input: the raw body.
 * Invariants:
 *  - a body over max_len is -E2BIG whatever it holds;
 *  - success gives an object nested at most CODEC_MAX_DEPTH deep, and
 *    json_dump_compact / json_dump_pretty (the Go-compatible escaping)
 *    give text that parses back to an equal object;
 *  - failure is -EINVAL with a message and *out NULL;
 *  - each request decoder either fails with -EINVAL, a message and the
 *    struct released, or succeeds within the documented bounds, and then
 *    encode(decode(encode(x))) == encode(x);
 *  - json_body_strings (the plugin's quick way, api/jsonr.h) takes a body
 *    only if json_body_parse takes it too, with the same "Name" and "ID"
 *    and no other member.
 */
#include <jansson.h>

#include "api/codec.h"
#include "fuzz.h"

#define BODY_MAX (1024 * 1024) /* HTTPD_BODY_MAX */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static int depth(const json_t *j)
{
	int max = 0, d;
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach ((json_t *)j, k, v)
			if ((d = depth(v)) > max)
				max = d;
		return max + 1;
	}
	if (json_is_array(j)) {
		json_array_foreach (j, i, v)
			if ((d = depth(v)) > max)
				max = d;
		return max + 1;
	}
	return 0;
}

/* The dump parses back to an equal value. */
static void check_dump(const json_t *j, char *text)
{
	json_error_t jerr;
	json_t *back;

	FUZZ_CHECK(text);
	back = json_loads(text, JSON_DECODE_ANY, &jerr);
	FUZZ_CHECK_MSG(back, "dump does not parse: %s: %s", jerr.text, text);
	FUZZ_CHECK_MSG(json_equal((json_t *)j, back), "dump differs: %s", text);
	json_decref(back);
	free(text);
}

/* encode(x) goes out as a compact body, comes back through
 * json_body_parse and decodes to something that encodes the same. */
#define CHECK_STABLE(type, enc, dec, rel, x)                                          \
	do {                                                                          \
		struct err e2 = ERR_INIT;                                             \
		type y;                                                               \
		json_t *j1 = enc(x), *j2, *body;                                      \
		char *text;                                                           \
		FUZZ_CHECK(j1);                                                       \
		text = json_dump_compact(j1);                                         \
		FUZZ_CHECK(text);                                                     \
		FUZZ_CHECK_MSG(json_body_parse(text, strlen(text), BODY_MAX, &body,   \
					       &e2) == 0, "%s: %s", text, e2.msg);    \
		FUZZ_CHECK_MSG(dec(body, &y, &e2) == 0, "%s: %s", text, e2.msg);     \
		j2 = enc(&y);                                                         \
		FUZZ_CHECK(j2);                                                       \
		FUZZ_CHECK_MSG(json_equal(j1, j2), "not stable: %s", text);           \
		rel(&y);                                                              \
		json_decref(body);                                                    \
		json_decref(j1);                                                      \
		json_decref(j2);                                                      \
		free(text);                                                           \
	} while (0)

static void check_create(const json_t *j)
{
	struct volume_create_req r;
	struct err e = ERR_INIT;
	int rc = volume_create_req_from_json(j, &r, &e);

	if (rc < 0) {
		FUZZ_CHECK(rc == -EINVAL && e.code == rc && e.msg[0]);
		FUZZ_CHECK(!r.name && !r.availability_zone && !r.encryption_key && !r.type &&
			   !r.opts);
		return;
	}
	FUZZ_CHECK(r.name);
	FUZZ_CHECK(r.has_size ? r.size >= 0 && r.size <= CODEC_MAX_SIZE_GB : r.size == 0);
	FUZZ_CHECK(r.has_iops ? r.iops >= 0 && r.iops <= CODEC_MAX_IOPS : r.iops == 0);
	FUZZ_CHECK(r.has_encrypted || !r.encrypted);
	FUZZ_CHECK(!r.opts || json_is_object(r.opts));
	CHECK_STABLE(struct volume_create_req, volume_create_req_to_json,
		     volume_create_req_from_json, volume_create_req_release, &r);
	volume_create_req_release(&r);
}

static void check_attach(const json_t *j)
{
	struct volume_attach_req r;
	struct err e = ERR_INIT;
	int rc = volume_attach_req_from_json(j, &r, &e);

	if (rc < 0) {
		FUZZ_CHECK(rc == -EINVAL && e.code == rc && e.msg[0]);
		FUZZ_CHECK(!r.next_device_name && !r.opts);
		return;
	}
	FUZZ_CHECK(!r.opts || json_is_object(r.opts));
	CHECK_STABLE(struct volume_attach_req, volume_attach_req_to_json,
		     volume_attach_req_from_json, volume_attach_req_release, &r);
	volume_attach_req_release(&r);
}

static void check_detach(const json_t *j)
{
	struct volume_detach_req r;
	struct err e = ERR_INIT;
	int rc = volume_detach_req_from_json(j, &r, &e);

	if (rc < 0) {
		FUZZ_CHECK(rc == -EINVAL && e.code == rc && e.msg[0]);
		FUZZ_CHECK(!r.opts);
		return;
	}
	FUZZ_CHECK(!r.opts || json_is_object(r.opts));
	CHECK_STABLE(struct volume_detach_req, volume_detach_req_to_json,
		     volume_detach_req_from_json, volume_detach_req_release, &r);
	volume_detach_req_release(&r);
}

static void check_body_strings(const char *body, size_t size)
{
	static const char *const keys[] = { "Name", "ID" };
	struct err e = ERR_INIT;
	const char *vals[2];
	char buf[2048];
	const char *k;
	json_t *j, *v;

	if (!json_body_strings(body, size, keys, 2, vals, buf, sizeof(buf))) {
		FUZZ_CHECK(!vals[0] && !vals[1]);
		return;
	}
	FUZZ_CHECK_MSG(json_body_parse(body, size, BODY_MAX, &j, &e) == 0, "%s", e.msg);
	for (size_t i = 0; i < 2; i++) {
		v = json_object_get(j, keys[i]);
		if (!vals[i]) {
			FUZZ_CHECK(!v || json_is_null(v));
			continue;
		}
		FUZZ_CHECK(v && json_is_string(v));
		FUZZ_CHECK(json_string_length(v) == strlen(vals[i]));
		FUZZ_CHECK(strcmp(json_string_value(v), vals[i]) == 0);
	}
	json_object_foreach (j, k, v)
		FUZZ_CHECK(strcmp(k, keys[0]) == 0 || strcmp(k, keys[1]) == 0);
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct err e = ERR_INIT;
	json_t *j = (json_t *)1;
	int r;

	/* too long for the limit: refused before it is looked at */
	if (size > 0) {
		r = json_body_parse(body, size, size - 1, &j, &e);
		FUZZ_CHECK(r == -E2BIG && !j && e.code == r);
	}

	check_body_strings(body, size);
	r = json_body_parse(body, size, BODY_MAX, &j, &e);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL && e.code == r && e.msg[0]);
		FUZZ_CHECK(!j);
		return 0;
	}
	FUZZ_CHECK(j && json_is_object(j));
	FUZZ_CHECK(depth(j) <= CODEC_MAX_DEPTH);
	check_dump(j, json_dump_compact(j));
	check_dump(j, json_dump_pretty(j));

	check_create(j);
	check_attach(j);
	check_detach(j);
	json_decref(j);
	return 0;
}
