/*
 * vplugin: a client of any Docker volume plugin (spec/protocols.md
 * section 1, spec/dvdi.md sections 1.2-1.3): discovery by name as Docker
 * 1.11 does it, activation, and the /VolumeDriver.* calls. Used by the
 * dvdcli binary and by dvdi/; it works with any plugin, not only ours.
 *
 * Discovery for name N: sockets <socket_dir>/N.sock, <socket_dir>/N/N.sock
 * (must be sockets); then for each spec dir: N.spec, N/N.spec, N.json,
 * N/N.json. Defaults /run/docker/plugins and /etc/docker/plugins:
 * /usr/lib/docker/plugins; overridable (for tests) with the environment
 * variables DVDCLI_SOCKET_DIR and DVDCLI_SPEC_DIRS (colon-separated).
 * A name that is not found is looked up again with the original backoff
 * (1, 2, 4, 8, 16 s; stop when elapsed + next >= 30 s), logging a warning
 * each time; connection failures are retried the same way; HTTP errors
 * are not retried. Every request is bounded by the client's timeout.
 *
 * Errors follow the original wording: an HTTP 200 with a non-empty Err is
 * that Err text; another status is "<Method>: <Err or raw body>".
 * All functions return 0 or a negative errno and fill e.
 */
#ifndef RR_VPLUGIN_H
#define RR_VPLUGIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct vplugin;

struct vplugin_opts {
	long timeout_ms;	/* per request; 0 = 120 s */
	long discover_ms;	/* how long to retry discovery and connecting; 0 = 30 s,
				 * < 0 = no retry */
};

/* Find, connect and activate plugin name ("Plugin does not implement the
 * requested driver" when it has no VolumeDriver). -ENOENT "plugin not
 * found" after the retries. */
int vplugin_open(const char *name, const struct vplugin_opts *o, struct vplugin **out,
		 struct err *e);
void vplugin_close(struct vplugin *p);

/* The address the plugin was found at ("unix:///run/docker/plugins/x.sock"). */
const char *vplugin_address(const struct vplugin *p);

/* opts: an object of strings, or NULL for {}. */
int vplugin_create(struct vplugin *p, const char *name, const json_t *opts, struct err *e);
int vplugin_remove(struct vplugin *p, const char *name, struct err *e);
/* id may be NULL: no "ID" member is sent (dvdcli and Docker < 1.13). */
int vplugin_mount(struct vplugin *p, const char *name, const char *id, char **mountpoint,
		  struct err *e);
int vplugin_unmount(struct vplugin *p, const char *name, const char *id, struct err *e);
/* *mountpoint may be "" (not mounted). */
int vplugin_path(struct vplugin *p, const char *name, char **mountpoint, struct err *e);
/* -ENOENT "no such volume" when the plugin answers without a volume;
 * otherwise the plugin's error. mountpoint may be NULL. */
int vplugin_get(struct vplugin *p, const char *name, char **vol_name, char **mountpoint,
		struct err *e);
/* Volume names, a NULL-terminated malloc'd array of malloc'd strings. */
int vplugin_list(struct vplugin *p, char ***names, struct err *e);
void vplugin_names_free(char **names);

#endif
