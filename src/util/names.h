/*
 * names: validation of names that come from outside (volume names,
 * service names). A volume name is 1-255 bytes of [A-Za-z0-9_.-] and is
 * neither "." nor "..": it becomes a path component under mount.path, so
 * anything else (the original accepted "../../etc") is refused here.
 */
#ifndef RR_NAMES_H
#define RR_NAMES_H

#include <stdbool.h>
#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

#define VOLUME_NAME_MAX 255

/* Returns 0, or -EINVAL with a message that quotes the (sanitised) name. */
int volume_name_check(const char *name, struct err *e);

/* The same rules for service and driver names (1-64 bytes). */
int service_name_check(const char *name, struct err *e);

/*
 * Free-form option values (a volume type, an availability zone, driver
 * options, a device name, a mount ID) are data, never run through a
 * shell; still, the characters a shell would act on ($ ` ; | & < >) and
 * control characters have no business in them, so they are refused
 * rather than stored and handed to other tools. what names the option.
 */
int option_value_check(const char *what, const char *value, struct err *e);
/* The same for every string value of a JSON object (one level). */
int option_values_check(const char *what, const json_t *opts, struct err *e);

/* Copy at most outsz-1 bytes of s into out, replacing bytes outside
 * printable ASCII with '?', and "..." when cut: safe to quote in messages. */
void name_sanitise(char *out, size_t outsz, const char *s, size_t len);

#endif
