/*
 * version: what this binary is (REX-Ray's `version` block and
 * libStorage's /help/version). The commit and build time come from the
 * Makefile; unknown when built otherwise.
 */
#ifndef RR_VERSION_H
#define RR_VERSION_H

#include <jansson.h>

#define RR_SEMVER "0.1.0"
#define RR_VERSION_MAJOR 0
#define RR_VERSION_MINOR 1
#define RR_VERSION_PATCH 0

const char *version_commit(void);
const char *version_branch(void);
const char *version_formed(void);
const char *version_osarch(void); /* "Linux-x86_64" */

/* libStorage's SemVer object; a new reference (NULL on OOM). */
json_t *version_to_json(void);

#endif
