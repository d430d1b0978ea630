/*
 * paths: the directories the engine writes, REX-Ray style.
 *
 * Defaults: /etc/rexray, /var/lib/rexray, /var/run/rexray, /var/log/rexray.
 * REXRAY_HOME=/x moves them all under /x (/x/etc/rexray, /x/var/lib/rexray,
 * ...); REXRAY_HOME_ETC, _LIB, _RUN, _LOG override one each. The strings
 * live inside the struct; nothing is allocated.
 */
#ifndef RR_PATHS_H
#define RR_PATHS_H

#include <limits.h>
#include <stddef.h>

#include "util/err.h"

struct paths {
	char home[PATH_MAX];	/* "" when REXRAY_HOME is unset */
	char etc[PATH_MAX];
	char lib[PATH_MAX];
	char run[PATH_MAX];
	char log[PATH_MAX];
};

/* Fill p from the environment. Returns 0 or -ENAMETOOLONG. */
int paths_init(struct paths *p, struct err *e);

/* Create the lib, run and log directories (0755). Returns 0 or -errno. */
int paths_mkdirs(const struct paths *p, struct err *e);

/* out = dir + "/" + name, bounded. Returns 0 or -ENAMETOOLONG (then out
 * holds as much as fits, NUL-terminated, as snprintf leaves it). */
int path_join(char *out, size_t outsz, const char *dir, const char *name);
/* out = a + "/" + b + "/" + c, the same way. */
int path_join3(char *out, size_t outsz, const char *a, const char *b, const char *c);

#endif
