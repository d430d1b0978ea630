/*
 * csi/plugin: the CSI plugin modules (spec/protocols.md section 2; issue
 * #17): gRPC endpoints serving the CSI Identity service (this step) and,
 * next, Controller and Node, as a thin translation onto the storage client
 * and integration/.
 *
 * Modules come from rexray.modules.<name> with type csi (not disabled):
 * host (unix:///path.sock; default unix://<run>/csi/<name>.sock), which
 * services it serves (csi.services: controller, node or both) and the
 * driver name it reports (csi.driverName, DNS style). CSI_ENDPOINT (the
 * key csi.endpoint), when set, is the host of a module named "csi", made
 * if no such module is configured: what Kubernetes sidecars and Nomad set.
 * Sockets are 0600; a stale one is replaced, a live one is an error; they
 * are removed at stop.
 *
 * RPCs not built yet answer UNIMPLEMENTED. Secrets in requests are never
 * logged.
 */
#ifndef RR_CSI_PLUGIN_H
#define RR_CSI_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "client/client.h"
#include "util/err.h"
#include "util/paths.h"

struct cfg;
struct csi_module;
struct integration;
struct mx_requests;
struct store;

#define CSI_MAX_MODULES 4
#define CSI_DRIVER_NAME_MAX 63

/* What a module serves besides Identity (bits). */
enum csi_services {
	CSI_SVC_CONTROLLER = 1 << 0,
	CSI_SVC_NODE = 1 << 1,
};

/* Start every configured csi module (and the CSI_ENDPOINT one). st (the
 * host's store: the node service counts its uses there, as every front
 * end does) and client are borrowed; client must be usable from many
 * threads (the local client is); default_service is used when a module
 * names none. On failure nothing is left running. The number started goes to *n. Returns 0 or -errno. */
int csi_modules_start(const struct cfg *cfg, const struct paths *paths, struct store *st,
		      struct storage_client *client, const char *default_service,
		      struct csi_module *out[CSI_MAX_MODULES], size_t *n, struct err *e);
void csi_module_stop(struct csi_module *m);

const char *csi_module_name(const struct csi_module *m);
const char *csi_module_address(const struct csi_module *m);
unsigned csi_module_services(const struct csi_module *m);
/* The node half's host-side integration (borrowed), NULL without one: the
 * engine renews its leases, fences and grows its volumes as it does a
 * Docker module's. */
struct integration *csi_module_integration(const struct csi_module *m);
/* Its gRPC calls by method and status code (util/metrics.h). */
struct mx_requests *csi_module_requests(struct csi_module *m);

/* ---- pure helpers (unit-tested) ---- */

/* "controller,node", "node", "controller node", a YAML list's text: the
 * bits into *out. Empty or unknown words are -EINVAL. */
int csi_services_parse(const char *text, unsigned *out, struct err *e);

/* A CSI plugin name: 1..63 characters, alphanumeric at both ends, with
 * '-', '.' and alphanumerics between (the spec's domain name notation). */
bool csi_driver_name_valid(const char *name);

#endif
