/*
 * names: validation of names that come from outside (volume names,
 * service names). A volume name is 1-255 bytes of [A-Za-z0-9_.-] and is
 * neither "." nor "..": it becomes a path component under mount.path, so
 * anything else (the original accepted "../../etc") is refused here.
 */
#ifndef RR_NAMES_H
#define RR_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define VOLUME_NAME_MAX 255

/* Returns 0, or -EINVAL with a message that quotes the (sanitised) name. */
int volume_name_check(const char *name, struct err *e);

/* The same rules for service and driver names (1-64 bytes). */
int service_name_check(const char *name, struct err *e);

/* Copy at most outsz-1 bytes of s into out, replacing bytes outside
 * printable ASCII with '?', and "..." when cut: safe to quote in messages. */
void name_sanitise(char *out, size_t outsz, const char *s, size_t len);

#endif
