/*
 * fuzz_headers_localdevices: the Libstorage-Localdevices header parser
 * (api/headers.h), DRIVER=VOLID::DEV[,VOLID::DEV].
 *
 * Input: the header value (an embedded NUL ends it).
 * Invariants:
 *  - success: a non-empty driver without '='; every entry has a non-empty
 *    volume ID without ',' and "::", a device without ',', no volume ID
 *    twice; localdevices_header_format gives a value that parses again to
 *    the same map (as a set: the formatter sorts) and formats the same;
 *  - failure: -EINVAL (or -ENOMEM) with a message, the output released.
 */
#include "api/headers.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static int cmp_dev(const void *x, const void *y)
{
	const struct local_device *a = x, *b = y;

	return strcmp(a->volume_id, b->volume_id);
}

/* A sorted shallow copy of the entries. */
static struct local_device *sorted(const struct local_devices *ld)
{
	struct local_device *m = malloc((ld->n ? ld->n : 1) * sizeof(*m));

	FUZZ_CHECK(m);
	if (ld->n)
		memcpy(m, ld->map, ld->n * sizeof(*m));
	qsort(m, ld->n, sizeof(*m), cmp_dev);
	return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = fuzz_cstr(data, size);
	struct local_devices a, b;
	struct err e = ERR_INIT;
	struct local_device *sa, *sb;
	char *f1, *f2;
	int r;

	r = localdevices_header_parse(value, &a, &e);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL || r == -ENOMEM);
		FUZZ_CHECK(e.code == r && e.msg[0]);
		FUZZ_CHECK(!a.driver && !a.map && a.n == 0);
		free(value);
		return 0;
	}
	FUZZ_CHECK(a.driver && *a.driver && !strchr(a.driver, '='));
	FUZZ_CHECK(a.n == 0 || a.map);
	for (size_t i = 0; i < a.n; i++) {
		const struct local_device *d = &a.map[i];
		FUZZ_CHECK(d->volume_id && *d->volume_id && d->device);
		FUZZ_CHECK(!strchr(d->volume_id, ',') && !strstr(d->volume_id, "::"));
		FUZZ_CHECK(!strchr(d->device, ','));
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(a.map[j].volume_id, d->volume_id) != 0);
	}

	f1 = localdevices_header_format(&a);
	FUZZ_CHECK(f1);
	FUZZ_CHECK(strlen(f1) == strlen(value));	/* the same entries, reordered */
	r = localdevices_header_parse(f1, &b, &e);
	FUZZ_CHECK_MSG(r == 0, "'%s' -> '%s': %s", value, f1, e.msg);
	FUZZ_CHECK(strcmp(a.driver, b.driver) == 0);
	FUZZ_CHECK(a.n == b.n);
	sa = sorted(&a);
	sb = sorted(&b);
	for (size_t i = 0; i < a.n; i++) {
		FUZZ_CHECK(strcmp(sa[i].volume_id, sb[i].volume_id) == 0);
		FUZZ_CHECK(strcmp(sa[i].device, sb[i].device) == 0);
	}
	/* the formatter sorts, so its output is already in order */
	for (size_t i = 0; i < b.n; i++)
		FUZZ_CHECK(strcmp(sb[i].volume_id, b.map[i].volume_id) == 0);
	f2 = localdevices_header_format(&b);
	FUZZ_CHECK(f2 && strcmp(f1, f2) == 0);
	free(sa);
	free(sb);
	free(f1);
	free(f2);
	local_devices_release(&a);
	local_devices_release(&b);
	free(value);
	return 0;
}
