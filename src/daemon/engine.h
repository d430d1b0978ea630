/*
 * engine: the one object main builds and passes down (daemon/: the
 * engine process; serve.c is its serving half). It holds the
 * paths, the configuration, the server-side state (store + services) when
 * this process runs them, the HTTP endpoints when it serves, and the
 * storage client the commands use.
 *
 * Life cycle: engine_init (paths, config, logging) -> either
 * engine_serve (service start) or engine_connect (every other command:
 * the running service's socket when the spec file points at a live one,
 * or libstorage.host, else an in-process server on the same state)
 * -> engine_release.
 */
#ifndef RR_ENGINE_H
#define RR_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/client.h"
#include "csi/plugin.h"
#include "docker/plugin.h"
#include "util/err.h"
#include "util/paths.h"

struct cfg;
struct store;
struct ls_server;
struct http_endpoint;
struct integration;
struct docker_module;

#define ENGINE_MAX_ENDPOINTS 8

/* Why the engine fenced volumes here (counted for the metrics). */
enum engine_fence_kind {
	ENGINE_FENCE_REVOKED,	 /* the server revoked it: another host preempted */
	ENGINE_FENCE_LEASE_LOST, /* the server was out of reach for half a lease */
	ENGINE_FENCE_TAKEN,	 /* the periodic check found it attached elsewhere */
	ENGINE_FENCE_KINDS
};

struct metrics_exporter;

struct engine {
	struct paths paths;
	struct cfg *cfg;
	const char *config_file;	/* the file loaded, "" if none */
	struct store *store;	/* this host's (SQLite) */
	struct store *records;	/* the server's records: store, or a shared database */
	struct ls_server *server;
	struct http_endpoint *endpoints[ENGINE_MAX_ENDPOINTS];
	size_t n_endpoints;
	struct docker_module *modules[DOCKER_MAX_MODULES];
	size_t n_modules;
	struct csi_module *csi[CSI_MAX_MODULES]; /* the CSI plugin modules */
	size_t n_csi;
	/* the host-side integrations of the modules above (the Docker
	 * modules', the csi modules' node halves): what the lease loop
	 * renews, fences and grows */
	struct integration *module_igs[DOCKER_MAX_MODULES + CSI_MAX_MODULES];
	size_t n_module_igs;
	/* the fencing thread of a serving engine */
	pthread_t fence_thread;
	pthread_mutex_t fence_mu;
	pthread_cond_t fence_cv;
	bool fence_stop, fencing;
	_Atomic unsigned long long fenced[ENGINE_FENCE_KINDS]; /* volumes, by kind */
	struct metrics_exporter *metrics; /* rexray.metrics.address, or NULL */
	bool wrote_pid, wrote_spec;	/* run files this process owns */
	int64_t lease_ms;
	struct storage_client *client;
	struct integration *integration; /* host side, made on first use */
	char host[PATH_MAX + 16];	/* where the client talks: "" for in-process; one
					 * address or a list (libstorage.host) */
	/* the caller's identity for the chosen service */
	char service[65];
	struct instance_id iid;
	bool have_iid;
};

/* Set up paths, load the config (explicit file or the defaults) and apply
 * the flag overrides already set on cfg by the caller. cfg is taken over. */
int engine_init(struct engine *en, struct cfg *cfg, const char *config_file, struct err *e);

/* Open the state database (<lib>/rexray.db) if not open yet. */
int engine_open_store(struct engine *en, struct err *e);

/* Open the store and the services in this process. */
int engine_open_server(struct engine *en, struct err *e);

/* Choose and open the client; resolve the service (flag, config, or the
 * server's default) and this host's instance ID for it. */
int engine_connect(struct engine *en, struct err *e);

/* The client of an agent: the libStorage server at host (libstorage.host)
 * over HTTP(S), and the service to use there. */
int engine_connect_host(struct engine *en, const char *host, struct err *e);

/* The host-side workflow (mount, unmount, path) for the chosen service;
 * engine_connect first. Borrowed from en. */
int engine_integration(struct engine *en, struct integration **out, struct err *e);

/* Serve the REST API on the configured endpoints and the Docker plugin
 * modules until SIGTERM/SIGINT. Writes <run>/rexray.pid (unless nopid)
 * and <run>/rexray.spec. */
int engine_serve(struct engine *en, bool nopid, bool force, struct err *e);

/* The ctx to pass to client calls (borrows en). */
struct ls_ctx engine_ctx(const struct engine *en);

void engine_release(struct engine *en);

/* pid of the running service from the pid file, or 0. */
long engine_running_pid(const struct engine *en);
/* Where a command of this process would send its requests: libstorage.host
 * (one address or the list its client fails over between, as given), else
 * the running engine's address (its spec file); false when it would serve
 * itself (no engine runs). */
bool engine_target(const struct engine *en, char *out, size_t outsz);
/* true when pid runs and is not a zombie */
bool engine_process_alive(long pid);

#endif
