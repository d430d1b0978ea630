/*
 * vcache: the store's in-memory copy of volume records, by (service,
 * name), so that the lookups Docker makes all the time (VolumeDriver.Get,
 * Path, and every mount's first step) run no SQL.
 *
 * Contract: not thread-safe; the store calls it with its mutex held. An
 * entry is a packed snapshot of one committed row plus its attachments;
 * vcache_get hands out a deep copy the caller owns, vcache_view lends the
 * entry itself for one call; both only read, so readers may share a read
 * lock (held across the whole vcache_view). The store keeps it true: only the
 * database's one server (store_claim) uses it, it fills entries only
 * outside transactions and forgets a volume's entry on every write to
 * that volume. Names match
 * as SQLite's NOCASE does (ASCII case folding). At most VCACHE_MAX
 * entries; past that, puts are dropped (the store still answers).
 */
#ifndef RR_STORE_VCACHE_H
#define RR_STORE_VCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/types.h"

#define VCACHE_MAX 131072

struct vcache_entry;

struct vcache {
	struct vcache_entry **slots;	/* chains by name; NULL until the first put */
	struct vcache_entry **id_slots; /* the same entries chained by id */
	size_t nslots;			/* of each */
	size_t n;
};

/* 0 and a copy in *out, -ENOENT if not cached, -ENOMEM. */
int vcache_get(struct vcache *c, const char *service, const char *name, struct volume *out);
/* The entry itself lent to fn (types.h volume_view_fn), without a copy:
 * its strings and attachments are the entry's, its fields (kept as text)
 * parsed for the call, as vcache_get gives them. The caller holds the
 * lock that keeps the entry for the whole call. *hit says whether it was
 * cached; then fn's result is returned, else 0 (fn not called). */
int vcache_view(struct vcache *c, const char *service, const char *name, volume_view_fn fn,
		void *arg, bool *hit, struct err *e);
/* Remember a copy of v (a committed row). Best effort: silently nothing
 * on OOM or when full. */
void vcache_put(struct vcache *c, const char *service, const struct volume *v);
/* Forget the entry of the volume with this id, if cached. */
void vcache_forget_id(struct vcache *c, const char *service, const char *id);
void vcache_clear(struct vcache *c);

#endif
