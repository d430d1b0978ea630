/*
 * volplugin: a client of any Docker volume plugin (spec/protocols.md
 * section 1, spec/dvdi.md sections 1.2-1.3): discovery by name as Docker
 * 1.11 does it, activation, and the /VolumeDriver.* calls. Used by the
 * dvdcli binary and by dvdi/; it works with any plugin, not only ours.
 *
 * Discovery for name N: sockets <socket_dir>/N.sock, <socket_dir>/N/N.sock
 * (must be sockets); then for each spec dir: N.spec, N/N.spec, N.json,
 * N/N.json. Defaults /run/docker/plugins and /etc/docker/plugins:
 * /usr/lib/docker/plugins; overridable (for tests) with the environment
 * variables DVDCLI_SOCKET_DIR and DVDCLI_SPEC_DIRS (colon-separated).
 * Set but empty, a variable means no such directory.
 * A name that is not found is looked up again with the original backoff
 * (waits of 1, 2, 4, 8 ... s, doubling; stop when elapsed + the next wait
 * would reach 30 s, i.e. after 15 s of waiting), logging a warning
 * each time; failures to connect are retried the same way; HTTP errors,
 * timeouts and broken replies are not (the plugin may have acted on the
 * request). Every request is bounded by the client's timeout and every
 * reply by 16 MiB. Proxy environment variables are not used.
 *
 * Transport: unix:// plugins are spoken to directly (net/unixhttp.h),
 * one kept-alive connection per volplugin; tcp://, http:// and https:// ones
 * through libcurl, which is loaded (dlopen) only when such an address is
 * found, so that dvdcli does not link it (net/curldl.h).
 *
 * Errors follow the original wording: an HTTP 200 with a non-empty Err is
 * that Err text; another status is "<Method>: <Err or raw body>"; a reply
 * that is not JSON is "<Method>: error reading plugin resp: <why>".
 * All functions return 0 or a negative errno and fill e: -EIO for an error
 * the plugin reported, -ETIMEDOUT, -ECONNREFUSED (or the connect errno),
 * -EPROTO for a reply that cannot be decoded, -EFBIG for one too large,
 * -EINVAL for a bad name, spec file or address, -ELIBACC when a tcp or
 * http(s) plugin needs libcurl and libcurl.so.4 cannot be loaded. Output
 * pointers are NULL after a failure. A vplugin is used by one thread at a
 * time.
 */
#ifndef RR_VOLPLUGIN_H
#define RR_VOLPLUGIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"
#include "util/log.h"

struct volplugin;

struct volplugin_opts {
	long timeout_ms;	/* per request; 0 = 120 s */
	long discover_ms;	/* how long to retry discovery and connecting; 0 = 30 s or
				 * $DVDCLI_DISCOVERY_TIMEOUT seconds when set (0 there
				 * also means no retry), < 0 = no retry */
	/* Where the retry warnings and debug lines go (one message, no line
	 * break); NULL = util/log. dvdcli writes them in logrus's format. */
	void (*log)(enum log_level lvl, const char *msg);
};

/* Find, connect and activate plugin name (-ENOTSUP "Plugin does not
 * implement the requested driver" when it has no VolumeDriver). -ENOENT
 * "plugin not found" after the retries; -EINVAL for a name with '/'
 * (a managed plugin) or control characters. *out is freed with
 * volplugin_close (which takes NULL). */
int volplugin_open(const char *name, const struct volplugin_opts *o, struct volplugin **out,
		 struct err *e);
void volplugin_close(struct volplugin *p);

/* The address the plugin was found at ("unix:///run/docker/plugins/x.sock"). */
const char *volplugin_address(const struct volplugin *p);

/* Discovery alone, once, without connecting: *address (malloc'd) is what
 * volplugin_address would say. -ENOENT "plugin not found"; -EINVAL
 * "Unknown protocol" for a spec without a scheme. */
int volplugin_locate(const char *name, char **address, struct err *e);

/* opts: an object of strings, or NULL for {}. */
int volplugin_create(struct volplugin *p, const char *name, const json_t *opts, struct err *e);
int volplugin_remove(struct volplugin *p, const char *name, struct err *e);
/* id may be NULL: no "ID" member is sent (dvdcli and Docker < 1.13). */
int volplugin_mount(struct volplugin *p, const char *name, const char *id, char **mountpoint,
		  struct err *e);
int volplugin_unmount(struct volplugin *p, const char *name, const char *id, struct err *e);
/* *mountpoint may be "" (not mounted). */
int volplugin_path(struct volplugin *p, const char *name, char **mountpoint, struct err *e);
/* -ENOENT "no such volume" when the plugin answers without a volume;
 * otherwise the plugin's error. mountpoint may be NULL. */
int volplugin_get(struct volplugin *p, const char *name, char **vol_name, char **mountpoint,
		struct err *e);
/* Volume names, a NULL-terminated malloc'd array of malloc'd strings. */
int volplugin_list(struct volplugin *p, char ***names, struct err *e);
void volplugin_names_free(char **names);

#endif
