/*
 * records: what the drivers that keep their volumes in the store (vfs,
 * loop) share: listing and inspecting records, opts kept as fields, the
 * one-holder attach rule, and the attach/detach bookkeeping. The functions
 * with driver-slot signatures can stand in a driver table directly.
 */
#ifndef RR_RECORDS_H
#define RR_RECORDS_H

#include "drivers/driver.h"

int records_instance_inspect(struct service *svc, const struct instance_id *in,
			     struct instance *out, struct err *e);
int records_volumes(struct service *svc, const struct volume_query *q, struct volume_list *out,
		    struct err *e);
int records_volumes_each(struct service *svc, const struct volume_query *q, volume_visit_fn fn,
			 void *arg, struct err *e);
int records_volume_inspect(struct service *svc, const char *id, const struct volume_query *q,
			   struct volume *out, struct err *e);
int records_volume_inspect_by_name(struct service *svc, const char *name,
				   const struct volume_query *q, struct volume *out,
				   struct err *e);
int records_volume_view_by_name(struct service *svc, const char *name,
				const struct volume_query *q, volume_view_fn fn, void *arg,
				struct err *e);

/*
 * May a start-up sweep settle the leftover at path (a ".new", ".gone",
 * ".tmp-" of an operation cut short)? Where one server owns the records,
 * always: nothing else is half-way. Where several servers share them
 * (store_is_shared), another server may be in the middle of that very
 * operation: only leftovers untouched for RECORDS_SHARED_SWEEP_AGE are
 * settled (the next start settles younger ones).
 */
#define RECORDS_SHARED_SWEEP_AGE (60 * 60)
bool records_sweep_may_touch(struct service *svc, const char *path);

/* A create request's opts as string fields; NULL when there are none or
 * on OOM (*oom says which). */
json_t *records_fields_of(const json_t *opts, bool *oom);

/* Remove may go ahead: the volume exists and is not attached (or force). */
int records_check_removable(struct service *svc, const char *id, bool force, struct err *e);

/*
 * Attach id to o->iid with this device name: one holder at a time, force
 * takes it over; the change is one transaction. out gets the volume.
 */
int records_attach(struct service *svc, const char *id, const struct attach_opts *o,
		   const char *device, struct volume *out, struct err *e);
/* Drop the caller's attachment (all with force); out gets the volume. */
int records_detach(struct service *svc, const char *id, const struct detach_opts *o,
		   struct volume *out, struct err *e);

/* ---- snapshots (version 3 slots backed by the store) ---- */
int records_snapshots(struct service *svc, struct snapshot_list *out, struct err *e);
int records_snapshot_inspect(struct service *svc, const char *id, struct snapshot *out,
			     struct err *e);

/* A fresh snapshot ID of volume_id: "<volume_id>-NNN" from a sequence of
 * its own, never reused (the original counted files and could). */
int records_next_snapshot_id(struct service *svc, const char *volume_id, char *out, size_t sz,
			     struct err *e);

/*
 * The record of a new snapshot of v: id, name, description, the volume's
 * ID, size and encryption, status "online", start time now, and as fields
 * the request's opts (description aside) plus extra (may be NULL; each
 * string member is added). The caller releases out.
 */
int records_snapshot_of(const struct volume *v, const char *id, const char *name,
			const char *description, const json_t *opts, const json_t *extra,
			struct snapshot *out, struct err *e);

#endif
