#include "util/size.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <strings.h>

static const struct {
	const char *suffix;
	int64_t mib; /* MiB per unit */
} units[] = {
	{ "", 1024 },	    { "g", 1024 },	 { "gb", 1024 },      { "gib", 1024 },
	{ "t", 1024 * 1024 }, { "tb", 1024 * 1024 }, { "tib", 1024 * 1024 }, { "m", 1 },
	{ "mb", 1 },	    { "mib", 1 },
};

int size_parse_gib(const char *what, const char *s, int64_t max_gib, int64_t *gib,
		   bool *rounded, struct err *e)
{
	const char *p = s;
	char *end;
	long long n;

	*rounded = false;
	while (*p == ' ')
		p++;
	if (!isdigit((unsigned char)*p))
		goto bad;
	errno = 0;
	n = strtoll(p, &end, 10);
	if (errno)
		goto bad;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		int64_t mib, g;
		if (strcasecmp(end, units[i].suffix) != 0)
			continue;
		if (n > (max_gib * 1024) / units[i].mib)
			return err_set(e, -EINVAL, "%s: '%s' is larger than %lld GiB", what, s,
				       (long long)max_gib);
		mib = (int64_t)n * units[i].mib;
		g = (mib + 1023) / 1024;
		if (g < 1)
			return err_set(e, -EINVAL, "%s: '%s': a volume has at least 1 GiB", what,
				       s);
		*rounded = g * 1024 != mib;
		*gib = g;
		return 0;
	}
bad:
	return err_set(e, -EINVAL, "%s: invalid size '%s': expected a whole number of GiB (10, "
		       "10G, 10GiB), TiB (1T) or MiB (512M, rounded up to whole GiB)", what, s);
}
