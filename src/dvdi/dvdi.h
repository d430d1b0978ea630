/*
 * dvdi: the DVDI contract of mesos-module-dvdi (spec/dvdi.md section 2)
 * as a library: a task's DVDI_VOLUME_* environment names the volumes it
 * needs; prepare mounts them on this host through their Docker volume
 * plugin (volplugin/volplugin.h, never a shell), cleanup unmounts a volume when
 * the last container using it is gone, recover reconciles the checkpoint
 * with the containers still running and unmounts orphans.
 *
 * Fixed here (spec/dvdi.md section 6): a failed prepare rolls back every
 * mount it made (the original rolled back one); every plugin call has a
 * timeout; the checkpoint is the host's SQLite store, written before the
 * mount and updated after it, so kill -9 at any point leaves it
 * consistent; recover works; DVDI_VOLUME_EXPLICITCREATE works;
 * DVDI_VOLUME_DVDCLI is accepted but not executed (nothing goes through a
 * shell); a volume shared by two containers may be bound into both.
 *
 * Reference counts are per (driver, name), case-insensitive, across the
 * containers of this host. All functions return 0 or a negative errno
 * and fill e.
 */
#ifndef RR_DVDI_H
#define RR_DVDI_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct store;

#define DVDI_SLOTS 10
#define DVDI_DEFAULT_DRIVER "rexray"
/* the plugin ID our mounts carry: one use per volume per host */
#define DVDI_PLUGIN_ID "mesos-dvdi"

struct dvdi_volume {
	int slot;			/* 0-9 */
	char name[256];
	char driver[128];
	char opts[4096];		/* k=v,k=v */
	char container_path[PATH_MAX];
	bool explicit_create;
};

struct dvdi_request {
	struct dvdi_volume vols[DVDI_SLOTS];
	size_t n;			/* in slot order */
};

/*
 * Parse DVDI_VOLUME_{NAME,DRIVER,OPTS,CONTAINERPATH,DVDCLI,EXPLICITCREATE}
 * and their numbered forms (one digit 0-9; bare = slot 0) from envp
 * ("K=V" strings). A variable that starts with one of these names but is
 * not a valid form, or a NAME/DRIVER/OPTS/EXPLICITCREATE value with a
 * forbidden character, is an error naming it. Slots without a name are
 * skipped. A container path must be absolute.
 */
int dvdi_parse_env(char *const *envp, struct dvdi_request *out, struct err *e);

struct dvdi {
	struct store *store;	/* borrowed */
	const char *lock_path;	/* host-wide lock file serialising DVDI operations */
	long timeout_ms;	/* per plugin call; 0 = 120 s */
	long discover_ms;	/* plugin discovery retries; 0 = 30 s */
};

/* One prepared volume, for the caller to report or bind. */
struct dvdi_mounted {
	int slot;
	char driver[128];
	char name[256];
	char mountpoint[PATH_MAX];
	char container_path[PATH_MAX];
};

/*
 * Mount what req asks for, for container_id. A volume another container
 * on this host already holds is reused without a plugin call. With
 * do_bind, each container path gets an rbind of the mountpoint (after
 * the mountpoint takes the container path's mode and owner, as the
 * original did). out[] (DVDI_SLOTS entries) gets the results. On failure
 * nothing is left: mounts made are unmounted and the checkpoint rows go.
 */
int dvdi_prepare(struct dvdi *d, const char *container_id, const struct dvdi_request *req,
		 bool do_bind, struct dvdi_mounted *out, size_t *n_out, struct err *e);

/* Unmount (via the plugin) the volumes no other container holds, undo
 * binds, forget the container. An unknown container is success. A plugin
 * error is logged and cleanup goes on (the volume may have been unmounted
 * by hand), bounded by the timeout. */
int dvdi_cleanup(struct dvdi *d, const char *container_id, struct err *e);

/* Clean up every checkpointed container not in running[] (n entries).
 * *cleaned gets how many containers were cleaned. */
int dvdi_recover(struct dvdi *d, char *const *running, size_t n, size_t *cleaned,
		 struct err *e);

/* The bind prepare does for a container path: the mountpoint takes the
 * path's mode and owner, then an rbind onto it (in the caller's mount
 * namespace: `rexray dvdi run` calls it in the task's own). */
int dvdi_bind(const char *mountpoint, const char *container_path, struct err *e);

/* Check a container ID: 1-255 bytes of [A-Za-z0-9_.:-]. */
int dvdi_container_id_check(const char *id, struct err *e);

#endif
