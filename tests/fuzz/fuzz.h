/*
 * fuzz.h: helpers shared by the libFuzzer targets in tests/fuzz.
 *
 * Every target defines LLVMFuzzerTestOneInput, treats its input as
 * outside data (a header value, a request body, a YAML file, an
 * environment, an argv), calls the parser, checks the invariants its
 * contract promises and frees everything (LeakSanitizer is on). A broken
 * invariant prints what broke and aborts, which libFuzzer reports as a
 * crash with the input saved.
 */
#ifndef RR_FUZZ_H
#define RR_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define FUZZ_CHECK(cond)                                                                    \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "fuzz invariant broken at %s:%d: %s\n", __FILE__,   \
				__LINE__, #cond);                                           \
			abort();                                                            \
		}                                                                           \
	} while (0)

/* The same, with a message (e.g. the parser's error text). */
#define FUZZ_CHECK_MSG(cond, ...)                                                           \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "fuzz invariant broken at %s:%d: %s: ", __FILE__,   \
				__LINE__, #cond);                                           \
			fprintf(stderr, __VA_ARGS__);                                       \
			fputc('\n', stderr);                                                \
			abort();                                                            \
		}                                                                           \
	} while (0)

/* A NUL-terminated malloc'd copy of the input (an embedded NUL ends the
 * C string early, as it would for a header or an environment value). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static inline bool fuzz_streq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Parsers may log (warnings, debug lines): format every line, so the
 * logging code is fuzzed too, but into /dev/null. Call once. */
static inline void fuzz_quiet(void)
{
	static FILE *devnull;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (devnull) {
		log_set_stream(devnull);
		log_set_level(LOG_DEBUG);
	} else {
		log_set_level(LOG_PANIC);
	}
}

#endif
