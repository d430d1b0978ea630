/*
 * csi/node: the CSI Node service of a csi module (issue #17), a thin
 * translation onto integration/, the host-side workflow every front end
 * shares, so that use counts stay exact across Docker, the CLI and CSI.
 *
 * The mapping (docs/csi.md, "Node"):
 *
 *   NodeStageVolume, mount access
 *       integ_mount(volume, caller "csi:<staging path>"): attach if the
 *       controller did not, the device, format on first use (fs_type of
 *       the capability, else volume_context fsType, else the volume's or
 *       the default), mount at the engine's own mount path, count ONE use
 *       for that caller; then bind the engine's mount path (with its
 *       rootPath, as Docker sees it) onto staging_target_path.
 *   NodeStageVolume, block access
 *       integ_device_use: attach, the device, one use; nothing is
 *       formatted or mounted and nothing is put at the staging path.
 *   NodeUnstageVolume
 *       unbind the staging path, then integ_unmount(caller): the last use
 *       unmounts, releases the device and detaches.
 *   NodePublishVolume
 *       bind the staging path (block: the device node) onto target_path,
 *       which is made (a directory, or for block an empty file) when
 *       missing; read-only (and mount_flags nosuid, nodev, noexec,
 *       noatime, nodiratime, relatime) set on the new bind mount before
 *       it is attached, so it is never writable for an instant.
 *   NodeUnpublishVolume
 *       unmount target_path and remove the directory or empty file there.
 *   NodeGetVolumeStats
 *       statvfs of the path: bytes and inodes; block: the device's size.
 *       A path that exists but no longer holds the volume's mount is
 *       reported with an abnormal VolumeCondition.
 *   NodeExpandVolume
 *       integ_refresh (loop: the device sees its grown image), then the
 *       filesystem grows to the device (osfs_grow); the device's size.
 *   NodeGetInfo
 *       node_id = this host's instance ID for the module's service (what
 *       the server attaches volumes to, so what ControllerPublish gets);
 *       max_volumes_per_node 0 (no bound of ours: loop devices are made
 *       on demand); no accessible_topology, since the plugin does not
 *       advertise VOLUME_ACCESSIBILITY_CONSTRAINTS.
 *
 * volume_id is the libStorage volume ID, or the volume's name (both are
 * accepted; the ID is tried first). Paths from the CO are used as given
 * and validated: absolute, canonical (no "." or ".." component, no "//",
 * no trailing "/"), shorter than PATH_MAX; nothing is resolved through a
 * symbolic link (os/safepath), and a symbolic link at a path is refused,
 * never followed. A second call for a volume while one is in flight is
 * ABORTED (the CO retries), never queued behind a lock.
 */
#ifndef RR_CSI_NODE_H
#define RR_CSI_NODE_H

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

#include "client/client.h"
#include "util/err.h"
#include "util/paths.h"

struct cfg;
struct store;
struct csi_module;
struct csi_node;

/* The node half of a csi module: its own integration for service, with
 * the module's config scope ("rexray.modules.<name>") tried first. All
 * pointers are borrowed and must outlive it. */
int csi_node_new(const char *module, const struct cfg *cfg, const struct paths *paths,
		 struct store *st, struct storage_client *client, const char *service,
		 struct csi_node **out, struct err *e);
void csi_node_free(struct csi_node *n);

/* The module's node half, NULL when it serves no node (csi/plugin.c). */
struct csi_node *csi_module_node(const struct csi_module *m);

/* The node half's integration (borrowed): the engine renews its leases,
 * fences and grows its volumes as it does a Docker module's. */
struct integration *csi_node_integration(const struct csi_node *n);

/* The handlers (csi/server.h csi_handler_fn); ctx is the csi_module. A
 * module without a node half answers UNIMPLEMENTED. */
#define CSI_NODE_HANDLER(fn)                                                                     \
	int fn(void *ctx, const ProtobufCMessage *req, ProtobufCMessage **reply,                 \
	       grpc_status_code *code, char *msg, size_t msgsz)
CSI_NODE_HANDLER(csi_node_stage);
CSI_NODE_HANDLER(csi_node_unstage);
CSI_NODE_HANDLER(csi_node_publish);
CSI_NODE_HANDLER(csi_node_unpublish);
CSI_NODE_HANDLER(csi_node_get_volume_stats);
CSI_NODE_HANDLER(csi_node_expand);
CSI_NODE_HANDLER(csi_node_get_capabilities);
CSI_NODE_HANDLER(csi_node_get_info);

/* ---- pure helpers (unit-tested) ---- */

/* A path the CO gives: absolute, canonical, shorter than PATH_MAX. 0, or
 * -EINVAL / -ENAMETOOLONG with what names the field in the message. */
int csi_node_path_check(const char *what, const char *path, struct err *e);

#endif
