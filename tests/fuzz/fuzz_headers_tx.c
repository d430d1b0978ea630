/*
 * fuzz_headers_tx: the Libstorage-Tx header parser (api/headers.h),
 * "txID=<id>, txCR=<unix time>".
 *
 * Input: the header value (an embedded NUL ends it).
 * Invariants:
 *  - success: id is 1-63 bytes of [A-Za-z0-9._-], created >= 0;
 *    tx_header_format gives a value that parses to the same id and time;
 *  - failure: -EINVAL with a message, id "" and created 0.
 */
#include <ctype.h>

#include "api/headers.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = fuzz_cstr(data, size);
	char id[64], id2[64];
	int64_t created = -1, created2 = -1;
	struct err e = ERR_INIT;
	size_t len;
	char *f;
	int r;

	memset(id, 'x', sizeof(id));
	r = tx_header_parse(value, id, &created, &e);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL);
		FUZZ_CHECK(e.code == r && e.msg[0]);
		FUZZ_CHECK(id[0] == '\0' && created == 0);
		free(value);
		return 0;
	}
	len = strnlen(id, sizeof(id));
	FUZZ_CHECK(len >= 1 && len <= 63);
	for (size_t i = 0; i < len; i++)
		FUZZ_CHECK(isalnum((unsigned char)id[i]) || strchr("._-", id[i]));
	FUZZ_CHECK(created >= 0);

	f = tx_header_format(id, created);
	FUZZ_CHECK(f);
	r = tx_header_parse(f, id2, &created2, &e);
	FUZZ_CHECK_MSG(r == 0, "'%s' -> '%s': %s", value, f, e.msg);
	FUZZ_CHECK(strcmp(id, id2) == 0 && created == created2);
	free(f);
	free(value);
	return 0;
}
