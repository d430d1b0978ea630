/*
 * plugin: the Docker volume plugin protocol (spec/protocols.md section 1,
 * spec/rexray.md section 4) on a unix socket: a thin translation of
 * /VolumeDriver.* calls onto integration/.
 *
 * Modules come from rexray.modules.<name> (type docker, not disabled),
 * each with its own socket (host), optional spec file, and libStorage
 * service (rexray.modules.<name>.libstorage.service). With no module
 * configured there is one, "default-docker", on
 * unix:///run/docker/plugins/rexray.sock (under $REXRAY_HOME/run/docker/
 * plugins when REXRAY_HOME moves the engine's paths). Sockets are mode
 * 0660; a stale one is replaced, a live one is an error; they are removed
 * at stop.
 *
 * Replies: 200 with {"Err":""} plus the result, or 500 {"Err":"message"};
 * Content-Type application/vnd.docker.plugins.v1.1+json; 404 for an
 * unknown path. Mount and Unmount count one use per Docker mount ID.
 */
#ifndef RR_DOCKER_PLUGIN_H
#define RR_DOCKER_PLUGIN_H

#include "client/client.h"
#include "util/err.h"
#include "util/paths.h"

struct cfg;
struct store;
struct docker_module;

#define DOCKER_MAX_MODULES 8

/* Start every configured module (or the default one). client must be
 * usable from many threads (the local client is). default_service is used
 * when a module names none. On failure nothing is left running.
 * Returns the number started (>= 0) into *n. */
int docker_modules_start(const struct cfg *cfg, const struct paths *paths, struct store *st,
			 struct storage_client *client, const char *default_service,
			 struct docker_module *out[DOCKER_MAX_MODULES], size_t *n, struct err *e);
void docker_module_stop(struct docker_module *m);

const char *docker_module_name(const struct docker_module *m);
const char *docker_module_address(const struct docker_module *m);
/* Its requests by plugin method and status (util/metrics.h), for the
 * exporter. */
struct mx_requests *docker_module_requests(struct docker_module *m);
/* The module's workflow (for fencing); borrowed. */
struct integration *docker_module_integration(const struct docker_module *m);

#endif
