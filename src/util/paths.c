#include "util/paths.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fs.h"

/* Append s at out + *at (outsz bytes in all, *at < outsz), truncating;
 * false when it did not fit. (Paths are built on every Docker request:
 * snprintf's format parsing cost more than the copying.) */
static bool put(char *out, size_t outsz, size_t *at, const char *s)
{
	size_t n = strlen(s), room = outsz - 1 - *at;
	bool fits = n <= room;

	memcpy(out + *at, s, fits ? n : room);
	*at += fits ? n : room;
	out[*at] = '\0';
	return fits;
}

int path_join(char *out, size_t outsz, const char *dir, const char *name)
{
	size_t at = 0;

	if (outsz == 0)
		return -ENAMETOOLONG;
	out[0] = '\0';
	if (put(out, outsz, &at, dir) && put(out, outsz, &at, "/") && put(out, outsz, &at, name))
		return 0;
	return -ENAMETOOLONG;
}

int path_join3(char *out, size_t outsz, const char *a, const char *b, const char *c)
{
	size_t at = 0;

	if (outsz == 0)
		return -ENAMETOOLONG;
	out[0] = '\0';
	if (put(out, outsz, &at, a) && put(out, outsz, &at, "/") && put(out, outsz, &at, b) &&
	    put(out, outsz, &at, "/") && put(out, outsz, &at, c))
		return 0;
	return -ENAMETOOLONG;
}

static int pick(char *out, const char *env, const char *home, const char *def, struct err *e)
{
	const char *v = getenv(env);
	int n;

	if (v && *v)
		n = snprintf(out, PATH_MAX, "%s", v);
	else
		n = snprintf(out, PATH_MAX, "%s%s", home, def);
	if (n < 0 || n >= PATH_MAX)
		return err_set(e, -ENAMETOOLONG, "path for %s is too long", env);
	return 0;
}

int paths_init(struct paths *p, struct err *e)
{
	const char *home = getenv("REXRAY_HOME");
	size_t n;
	int r;

	memset(p, 0, sizeof(*p));
	if (home && *home) {
		if (strlen(home) >= sizeof(p->home))
			return err_set(e, -ENAMETOOLONG, "REXRAY_HOME is too long");
		strcpy(p->home, home);
		/* "/x/" and "/x" mean the same home */
		n = strlen(p->home);
		while (n > 1 && p->home[n - 1] == '/')
			p->home[--n] = '\0';
		if (strcmp(p->home, "/") == 0)
			p->home[0] = '\0';
	}
	if ((r = pick(p->etc, "REXRAY_HOME_ETC", p->home, "/etc/rexray", e)) < 0 ||
	    (r = pick(p->lib, "REXRAY_HOME_LIB", p->home, "/var/lib/rexray", e)) < 0 ||
	    (r = pick(p->run, "REXRAY_HOME_RUN", p->home, "/var/run/rexray", e)) < 0 ||
	    (r = pick(p->log, "REXRAY_HOME_LOG", p->home, "/var/log/rexray", e)) < 0)
		return r;
	return 0;
}

int paths_mkdirs(const struct paths *p, struct err *e)
{
	const char *dirs[] = { p->lib, p->run, p->log };
	int r;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		r = fs_mkdir_p(dirs[i], 0755);
		if (r < 0)
			return err_set(e, r, "cannot create directory '%s': %s", dirs[i], strerror(-r));
	}
	return 0;
}
