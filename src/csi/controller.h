/*
 * csi/controller: the CSI Controller service of a csi module (issue #17),
 * a translation onto the storage client (client/client.h): volumes are
 * libStorage volumes of the module's service (the CSI volume_id is the
 * libStorage volume ID, the CSI name its name), node IDs are instance IDs,
 * snapshots are libStorage snapshots. docs/csi.md states the rules.
 *
 * Two calls on one volume (or one new name) at once: the second answers
 * ABORTED at once (an in-progress set, not a lock), as the spec allows.
 * Secrets in requests are never read, copied or logged.
 */
#ifndef RR_CSI_CONTROLLER_H
#define RR_CSI_CONTROLLER_H

#include <stdint.h>

#include "client/client.h"
#include "csi/server.h"
#include "util/err.h"
#include "util/paths.h"

struct cfg;
struct csi_module;
struct csi_ctl;

/* The controller state of module `module` (config scope
 * rexray.modules.<module>) serving libStorage service `service` through
 * client (borrowed; thread-safe). Returns 0 or -errno. */
int csi_ctl_new(const struct cfg *cfg, const struct paths *paths, struct storage_client *client,
		const char *module, const char *service, struct csi_ctl **out, struct err *e);
void csi_ctl_free(struct csi_ctl *c);

/* The module's controller state; NULL when it serves no controller. */
struct csi_ctl *csi_module_ctl(const struct csi_module *m);

/* The handlers (csi/server.h csi_handler_fn); ctx is the csi_module. On
 * a module that serves no controller (csi.services: node) they answer
 * UNIMPLEMENTED. */
#define CSI_CTL_HANDLER(name)                                                             \
	int name(void *ctx, const ProtobufCMessage *req, ProtobufCMessage **reply,        \
		 grpc_status_code *code, char *msg, size_t msgsz)
CSI_CTL_HANDLER(csi_ctl_create_volume);
CSI_CTL_HANDLER(csi_ctl_delete_volume);
CSI_CTL_HANDLER(csi_ctl_publish_volume);
CSI_CTL_HANDLER(csi_ctl_unpublish_volume);
CSI_CTL_HANDLER(csi_ctl_validate_volume_capabilities);
CSI_CTL_HANDLER(csi_ctl_list_volumes);
CSI_CTL_HANDLER(csi_ctl_get_capacity);
CSI_CTL_HANDLER(csi_ctl_get_capabilities);
CSI_CTL_HANDLER(csi_ctl_create_snapshot);
CSI_CTL_HANDLER(csi_ctl_delete_snapshot);
CSI_CTL_HANDLER(csi_ctl_list_snapshots);
CSI_CTL_HANDLER(csi_ctl_expand_volume);
CSI_CTL_HANDLER(csi_ctl_get_volume);

/* ---- pure helpers (unit-tested) ---- */

/*
 * A CapacityRange to whole GiB: required_bytes rounded up; none required
 * but a limit: the default size, or the limit rounded down if smaller;
 * neither: def_gib. -EINVAL for a negative value, -ERANGE when no whole
 * GiB fits (limit below the rounded size) or above 2^20 GiB.
 */
int csi_capacity_gib(int64_t required, int64_t limit, int64_t def_gib, int64_t *gib);

#endif
