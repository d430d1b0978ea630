/*
 * fuzz_volume_names: the checks on names that come from outside
 * (util/names.h): volume_name_check (REST and plugin volume names, which
 * become path components), service_name_check, and name_sanitise, which
 * quotes any of them in messages.
 *
 * Input: the name (an embedded NUL ends it for the checks; name_sanitise
 * gets all the bytes).
 * Invariants:
 *  - the checks agree with a model of the rule: 1-255 (service: 64)
 *    bytes of [A-Za-z0-9_.-], not "." or "..";
 *  - a refusal is -EINVAL with a message quoting only printable ASCII;
 *  - name_sanitise writes at most outsz bytes, NUL-terminated, printable
 *    ASCII without quotes, the bytes themselves when they fit, else
 *    ending in "...".
 */
#include "fuzz.h"
#include "util/names.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static bool model_ok(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len == 0 || len > max || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static void check_msg(const struct err *e)
{
	FUZZ_CHECK(e->code == -EINVAL && e->msg[0]);
	for (const char *p = e->msg; *p; p++)
		FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
}

static void check_sanitise(const uint8_t *data, size_t size)
{
	static const size_t sizes[] = { 1, 2, 4, 5, 16, 64, 300 };
	char out[301];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t sz = sizes[i], len;

		memset(out, 0x7f, sizeof(out));
		name_sanitise(out, sz, (const char *)data, size);
		len = strnlen(out, sz);
		FUZZ_CHECK(len < sz);
		FUZZ_CHECK((unsigned char)out[sz] == 0x7f); /* nothing past outsz */
		for (size_t j = 0; j < len; j++)
			FUZZ_CHECK(out[j] >= 0x20 && out[j] < 0x7f && out[j] != '\'');
		if (size <= sz - 1) {
			FUZZ_CHECK(len == size);
			for (size_t j = 0; j < size; j++)
				FUZZ_CHECK(out[j] == (char)data[j] || out[j] == '?');
		} else {
			FUZZ_CHECK(len == sz - 1);
			if (sz > 4)
				FUZZ_CHECK(memcmp(out + sz - 4, "...", 4) == 0);
		}
	}
	out[0] = 'x';
	name_sanitise(out, 0, (const char *)data, size);
	FUZZ_CHECK(out[0] == 'x');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = fuzz_cstr(data, size);
	struct err e = ERR_INIT;
	int r;

	r = volume_name_check(name, &e);
	if (model_ok(name, VOLUME_NAME_MAX)) {
		FUZZ_CHECK(r == 0);
	} else {
		FUZZ_CHECK(r == -EINVAL);
		check_msg(&e);
	}

	err_clear(&e);
	r = service_name_check(name, &e);
	if (model_ok(name, 64)) {
		FUZZ_CHECK(r == 0);
	} else {
		FUZZ_CHECK(r == -EINVAL);
		check_msg(&e);
	}

	check_sanitise(data, size);
	free(name);
	return 0;
}
