/*
 * fuzz_dvdi_env: the DVDI_VOLUME_* contract (dvdi/dvdi.h): dvdi_parse_env
 * on a task's environment, and dvdi_container_id_check on the container
 * ID Mesos hands over.
 *
 * Input: "K=V" strings separated by NUL or newline bytes (at most 64);
 * the first string is also tried as a container ID.
 * Invariants:
 *  - failure is -EINVAL with a message and an empty request;
 *  - success gives at most 10 volumes in increasing slot order, each with
 *    the name of the last NAME variable of its slot (non-empty, not "."
 *    or "..", < 256 bytes, no forbidden character), the slot's last
 *    non-empty DRIVER or "rexray", options without forbidden characters,
 *    a container path that is empty or absolute and free of control bytes;
 *    every slot whose last NAME is non-empty is there;
 *  - a container ID passes only if 1-255 bytes of [A-Za-z0-9_.:-].
 */
#include <ctype.h>

#include "dvdi/dvdi.h"
#include "fuzz.h"

#define MAX_VARS 64

static const char forbidden[] = "%/:;<>|`$'?^& {\"}[]\n\t\v\b\r\\";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static bool clean(const char *s)
{
	return strpbrk(s, forbidden) == NULL;
}

/* The slot of "<base>" or "<base><digit>", else -1. */
static int slot_of(const char *kv, const char *base)
{
	size_t n = strlen(base);
	const char *eq = strchr(kv, '=');

	if (!eq || strncmp(kv, base, n) != 0)
		return -1;
	if (kv + n == eq)
		return 0;
	if (kv + n + 1 == eq && isdigit((unsigned char)kv[n]))
		return kv[n] - '0';
	return -1;
}

static void check_container_id(const char *id)
{
	struct err e = ERR_INIT;
	size_t len = strlen(id);
	bool ok = len >= 1 && len <= 255;
	int r;

	for (size_t i = 0; ok && i < len; i++)
		ok = isalnum((unsigned char)id[i]) || strchr("_.:-", id[i]);
	r = dvdi_container_id_check(id, &e);
	FUZZ_CHECK(ok ? r == 0 : r == -EINVAL && e.msg[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fuzz_cstr(data, size);
	char *envp[MAX_VARS + 1];
	const char *name[DVDI_SLOTS] = { 0 }, *driver[DVDI_SLOTS] = { 0 };
	struct dvdi_request req;
	struct err e = ERR_INIT;
	size_t n = 0, start = 0;
	int r, last_slot = -1;

	/* split at NUL and newline bytes */
	for (size_t i = 0; i <= size && n < MAX_VARS; i++) {
		if (i == size || buf[i] == '\0' || buf[i] == '\n') {
			buf[i] = '\0';
			envp[n++] = buf + start;
			start = i + 1;
		}
	}
	envp[n] = NULL;
	check_container_id(envp[0]);

	memset(&req, 0xa5, sizeof(req));
	r = dvdi_parse_env(envp, &req, &e);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL && e.code == r && e.msg[0]);
		FUZZ_CHECK(req.n == 0);
		free(buf);
		return 0;
	}

	/* the model: the last NAME and DRIVER of each slot */
	for (size_t i = 0; i < n; i++) {
		int s;

		if ((s = slot_of(envp[i], "DVDI_VOLUME_NAME")) >= 0)
			name[s] = strchr(envp[i], '=') + 1;
		if ((s = slot_of(envp[i], "DVDI_VOLUME_DRIVER")) >= 0)
			driver[s] = strchr(envp[i], '=') + 1;
	}

	FUZZ_CHECK(req.n <= DVDI_SLOTS);
	for (size_t i = 0; i < req.n; i++) {
		const struct dvdi_volume *v = &req.vols[i];
		const char *want_driver;

		FUZZ_CHECK(v->slot > last_slot && v->slot < DVDI_SLOTS);
		last_slot = v->slot;
		FUZZ_CHECK(name[v->slot] && strcmp(v->name, name[v->slot]) == 0);
		FUZZ_CHECK(v->name[0] && strlen(v->name) < sizeof(v->name) && clean(v->name));
		FUZZ_CHECK(strcmp(v->name, ".") != 0 && strcmp(v->name, "..") != 0);
		want_driver = driver[v->slot] && *driver[v->slot] ? driver[v->slot]
								   : DVDI_DEFAULT_DRIVER;
		FUZZ_CHECK(strcmp(v->driver, want_driver) == 0 && clean(v->driver));
		FUZZ_CHECK(strlen(v->opts) < sizeof(v->opts) && clean(v->opts));
		FUZZ_CHECK(!v->container_path[0] || v->container_path[0] == '/');
		for (const char *p = v->container_path; *p; p++)
			FUZZ_CHECK((unsigned char)*p >= 0x20);
	}
	for (int s = 0; s < DVDI_SLOTS; s++) {
		bool listed = false;

		for (size_t i = 0; i < req.n; i++)
			listed = listed || req.vols[i].slot == s;
		FUZZ_CHECK(listed == (name[s] && *name[s]));
	}
	free(buf);
	return 0;
}
