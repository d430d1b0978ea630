/*
 * loop_int: what loop.c (volumes, the executor) and loop_snap.c
 * (snapshots, copies, resize) share of the loop driver.
 *
 * Files in loop.volumePath: "<id>.img" a volume's image, "<sid>.snap" a
 * snapshot's; ".<name>.new" while one is being made and ".<name>.gone"
 * while one is being removed, settled at the next start by whether its
 * record exists (sweep).
 *
 * A ".new" whose record is committed is finished by whoever sees it first:
 * its creator's rename, any server's sweep, or an attach of the volume
 * (loop_name_after_record treats a rename somebody else did as done), so
 * a server killed between the two steps never leaves a volume without an
 * image, on shared records too.
 */
#ifndef RR_LOOP_INT_H
#define RR_LOOP_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "drivers/driver.h"

#define GIB (1024ULL * 1024 * 1024)
#define ID_TRIES 100

/* trusted.*: root only, and kept by ext4, xfs, btrfs and tmpfs alike */
#define FORMAT_XATTR "trusted.rexray.fstype"

struct loop_priv {
	char dir[PATH_MAX];
	int64_t default_size;
	double overcommit; /* loop.overcommit: promised / (held + free), 1 = none */
	bool preallocate;  /* loop.preallocate: fallocate each image whole */
};

/* "<dir>/<id>.img"; id must pass the volume name rules (-EINVAL). */
int loop_image_path(const char *dir, const char *id, char *out, size_t outsz, struct err *e);
/* "<dir>/.<id>.img.<suffix>" */
int loop_side_path(const char *dir, const char *id, const char *suffix, char *out, size_t sz,
		   struct err *e);
/* Give a made file its live name once its record is committed: rename
 * tmp to final; a tmp already gone with final in place (another server's
 * sweep or attach finished it) counts as done. 0 or -errno, e filled. */
int loop_name_after_record(const char *tmp, const char *final, struct err *e);
/* A sweep's verdict on the ".new" or ".gone" file at path, whose live
 * name is live and whose record exists when has_record: it takes the live
 * name when the record is there and the live file is not (a committed
 * create, an undone remove); else it goes, a ".new" on shared records
 * only once it is old (another server may be about to commit its record;
 * the caller already kept a young ".gone"). Logged as "the interrupted
 * <made> of <kind><id>". */
void loop_settle_leftover(struct service *svc, const char *path, const char *live, bool is_new,
			  bool has_record, const char *made, const char *kind, const char *id);
/* May the service promise size_gb more GiB (loop.overcommit)? 0 or -ENOSPC. */
int loop_check_capacity(struct service *svc, int64_t size_gb, struct err *e);
/* The same for want bytes that what (for the message) will take. */
int loop_check_room(struct service *svc, unsigned long long want, const char *what,
		    struct err *e);
/* Allocate the file's first bytes (fallocate, else zeros). 0 or an errno. */
int loop_preallocate(int fd, uint64_t bytes);

/* loop_snap.c: the version 3 slots, and the start-up settling of the
 * snapshot files (called by loop.c's sweep). */
int loop_snapshots(struct service *svc, struct snapshot_list *out, struct err *e);
int loop_snapshot_inspect(struct service *svc, const char *id, struct snapshot *out,
			  struct err *e);
int loop_volume_snapshot(struct service *svc, const char *volume_id,
			 const struct volume_snapshot_req *req, struct snapshot *out,
			 struct err *e);
int loop_snapshot_remove(struct service *svc, const char *id, struct err *e);
int loop_snapshot_copy(struct service *svc, const char *id, const struct snapshot_copy_req *req,
		       struct snapshot *out, struct err *e);
int loop_volume_create_from_snapshot(struct service *svc, const char *snapshot_id,
				     const struct volume_create_req *req, struct volume *out,
				     struct err *e);
int loop_volume_copy(struct service *svc, const char *volume_id,
		     const struct volume_copy_req *req, struct volume *out, struct err *e);
int loop_volume_resize(struct service *svc, const char *volume_id, int64_t size,
		       struct volume *out, struct err *e);
void loop_sweep_snapshots(struct service *svc);

#endif
