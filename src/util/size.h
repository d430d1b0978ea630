/*
 * size: volume sizes as people write them. Whole GiB is the unit of every
 * libStorage size; "10", "10G", "10GB", "10GiB" are 10 GiB, "1T"/"1TiB"
 * 1024 GiB, and "512M"/"512MiB" one GiB: sizes in MiB are rounded up to
 * whole GiB, and the caller is told so. Letters in any case.
 */
#ifndef RR_SIZE_H
#define RR_SIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

/* s into *gib (1 to max_gib); *rounded says a MiB size was rounded up.
 * -EINVAL with a message naming what (e.g. "--size") and the value. */
int size_parse_gib(const char *what, const char *s, int64_t max_gib, int64_t *gib,
		   bool *rounded, struct err *e);

#endif
