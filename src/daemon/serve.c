/*
 * serve: the engine as a process that serves: its roles (server, agent),
 * the REST endpoints, the Docker and CSI plugin modules, the fencing loop,
 * the start-up reconciliation, the pid and spec files, and the signals
 * that stop it. engine.c has the engine object and the client side.
 */
#include "daemon/engine.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "config/config.h"
#include "config/keys.h"
#include "csi/plugin.h"
#include "daemon/metrics.h"
#include "docker/plugin.h"
#include "integration/integration.h"
#include "server/rest.h"
#include "server/service.h"
#include "store/store.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/time.h"

/* ---- serving ---- */

static int endpoint_addresses(struct engine *en, char addrs[][PATH_MAX + 32], size_t *n,
			      struct err *e)
{
	char **names = NULL;
	const char *host, *first;
	size_t len;
	int count;

	*n = 0;
	count = cfg_children(en->cfg, "libstorage.server.endpoints", &names);
	if (count < 0)
		return err_set(e, -ENOMEM, "out of memory");
	for (int i = 0; i < count && *n < ENGINE_MAX_ENDPOINTS; i++) {
		char key[320];
		const char *a;
		a = cfg_key_name(CFGK_ENDPOINT_ADDRESS, names[i], key, sizeof(key)) < 0
			    ? NULL : cfg_get(en->cfg, key);
		if (!a || !*a) {
			cfg_names_free(names);
			return err_set(e, -EINVAL, "config: %s is not set", key);
		}
		snprintf(addrs[(*n)++], PATH_MAX + 32, "%s", a);
	}
	cfg_names_free(names);
	if (*n)
		return 0;
	/* libstorage.host: a list's first address (the others are servers
	 * elsewhere) */
	host = cfg_key_get(en->cfg, CFGK_HOST);
	if (host && *host && cfg_list_next(&host, &first, &len))
		snprintf(addrs[(*n)++], PATH_MAX + 32, "%.*s", (int)len, first);
	else
		snprintf(addrs[(*n)++], PATH_MAX + 32, "unix://%s/rexray.sock", en->paths.run);
	return 0;
}

static int write_pid(struct engine *en, bool force, struct err *e)
{
	char path[PATH_MAX + 16], buf[32];
	long pid = engine_running_pid(en);
	int r;

	if (pid && pid != (long)getpid() && !force)
		return err_set(e, -EEXIST, "rexray is already running (pid %ld); stop it first "
			       "or use --force", pid);
	snprintf(path, sizeof(path), "%s/rexray.pid", en->paths.run);
	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if ((r = fs_write_atomic(path, buf, strlen(buf), 0644)) < 0)
		return err_set(e, r, "cannot write '%s': %s", path, strerror(-r));
	en->wrote_pid = true;
	return 0;
}

static void remove_run_file(const struct engine *en, const char *name)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/%s", en->paths.run, name);
	unlink(path);
}

static int write_spec(struct engine *en, struct err *e)
{
	char path[PATH_MAX + 16], line[PATH_MAX + 32];
	const char *addr = http_endpoint_address(en->endpoints[0]);
	int r;

	/* the CLI prefers a unix socket: no TLS or token questions on the same host */
	for (size_t i = 0; i < en->n_endpoints; i++) {
		if (strncmp(http_endpoint_address(en->endpoints[i]), "unix://", 7) == 0) {
			addr = http_endpoint_address(en->endpoints[i]);
			break;
		}
	}
	snprintf(path, sizeof(path), "%s/rexray.spec", en->paths.run);
	snprintf(line, sizeof(line), "%s\n", addr);
	if ((r = fs_write_atomic(path, line, strlen(line), 0644)) < 0)
		return err_set(e, r, "cannot write '%s': %s", path, strerror(-r));
	en->wrote_spec = true;
	return 0;
}

static void stop_endpoints(struct engine *en)
{
	/* the plugin modules first: they call into the server */
	en->n_module_igs = 0;
	for (size_t i = 0; i < en->n_csi; i++)
		csi_module_stop(en->csi[i]);
	en->n_csi = 0;
	for (size_t i = 0; i < en->n_modules; i++)
		docker_module_stop(en->modules[i]);
	en->n_modules = 0;
	for (size_t i = 0; i < en->n_endpoints; i++)
		http_endpoint_stop(en->endpoints[i]);
	en->n_endpoints = 0;
}

/* Does this process run a libStorage server? Without libstorage.host,
 * always (the embedded default); with it, only when endpoints are
 * configured or libstorage.embedded says so. Otherwise it is an agent. */
static int runs_server(const struct engine *en, bool *out, struct err *e)
{
	const char *host = cfg_key_get(en->cfg, CFGK_HOST);
	char **names = NULL;
	bool embedded;
	int n, r;

	if ((r = cfg_key_bool(en->cfg, NULL, CFGK_EMBEDDED, &embedded, e)) < 0)
		return r;
	n = cfg_children(en->cfg, "libstorage.server.endpoints", &names);
	cfg_names_free(names);
	*out = !host || !*host || embedded || n > 0;
	return 0;
}

/* Sleep up to ms unless the engine stops; true when it stops. */
static bool fence_sleep(struct engine *en, long long ms)
{
	struct timespec until;
	bool stop;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&en->fence_mu);
	if (!en->fence_stop)
		pthread_cond_timedwait(&en->fence_cv, &en->fence_mu, &until);
	stop = en->fence_stop;
	pthread_mutex_unlock(&en->fence_mu);
	return stop;
}

static struct integration *module_ig(struct engine *en, size_t i)
{
	return en->module_igs[i];
}

/* Every module's integration, once the modules started. */
static void gather_module_igs(struct engine *en)
{
	en->n_module_igs = 0;
	for (size_t i = 0; i < en->n_modules; i++)
		en->module_igs[en->n_module_igs++] = docker_module_integration(en->modules[i]);
	for (size_t i = 0; i < en->n_csi; i++) {
		struct integration *ig = csi_module_integration(en->csi[i]);
		if (ig)
			en->module_igs[en->n_module_igs++] = ig;
	}
}

/* Fence what the server revoked, and say so: a preempt waits for it. */
static void fence_revoked(struct engine *en, struct storage_client *c, const struct volume_ref *rv)
{
	for (size_t i = 0; i < en->n_module_igs; i++) {
		struct integration *ig = module_ig(en, i);
		struct ls_ctx ctx = integ_ctx(ig);
		struct err e = ERR_INIT;
		bool found = false;
		long long t0;

		if (strcasecmp(integ_service(ig), rv->service) != 0)
			continue;
		t0 = time_now_ms();
		if (integ_fence_volume(ig, rv->volume_id, &found, &e) < 0)
			log_warn("fence: %s", e.msg);
		t0 = time_now_ms() - t0;
		if (found)
			atomic_fetch_add(&en->fenced[ENGINE_FENCE_REVOKED], 1);
		if (c->ops->lease_fenced(c, rv->service, rv->volume_id, &ctx, &e) < 0)
			log_warn("fence: cannot confirm the fence of %s: %s", rv->volume_id, e.msg);
		else if (found)
			log_warn("fence: volume %s was taken by another host: fenced in %lld ms "
				 "(shutdown, unmount, detach)", rv->volume_id, t0);
		else
			log_info("fence: volume %s was taken by another host; nothing of it was "
				 "here", rv->volume_id);
		return;
	}
}

/*
 * Renew this host's leases (one long poll, wait ms) and fence what was
 * revoked. Returns 0, or the failure: a transport error means the server
 * may be out of reach; any other (a server without leases answers 404)
 * does not.
 */
static int renew(struct engine *en, struct storage_client *c, long long lease, long long wait)
{
	bool polled = false;

	for (size_t i = 0; i < en->n_module_igs; i++) {
		struct ls_ctx ctx = integ_ctx(module_ig(en, i));
		struct volume_ref *rv = NULL;
		struct err e = ERR_INIT;
		size_t n = 0;
		int r;

		/* a module learns its instance ID at its first request: until
		 * then it holds nothing */
		if (!ctx.n_iids || !ctx.iids[0].id || !*ctx.iids[0].id)
			continue;
		r = c->ops->lease_renew(c, &ctx, lease, polled ? 0 : wait, &rv, &n, &e);
		polled = true;

		if (r < 0) {
			log_debug("lease: %s", e.msg);
			return r;
		}
		for (size_t k = 0; k < n; k++)
			fence_revoked(en, c, &rv[k]);
		volume_refs_free(rv, n);
	}
	return polled ? 0 : -ENODATA;
}

static bool unreachable(int r)
{
	return r == -ECONNREFUSED || r == -ETIMEDOUT || r == -EIO || r == -ECONNRESET;
}

/* Run one integration step (integ_fence_all, integ_reconcile, integ_fence)
 * on every module; when it acted on volumes, log done with their count.
 * Returns how many volumes it acted on. */
static size_t each_module(struct engine *en, int (*step)(struct integration *, size_t *,
							 struct err *),
			  enum log_level lvl, const char *done)
{
	size_t total = 0;

	for (size_t i = 0; i < en->n_module_igs; i++) {
		struct err e = ERR_INIT;
		size_t n = 0;

		if (step(module_ig(en, i), &n, &e) < 0)
			log_warn("fence: %s", e.msg);
		else if (n && done)
			log_msg(lvl, "fence: %s: %zu volume(s)", done, n);
		total += n;
	}
	return total;
}

/* The lease lost: fence every volume with a device here, before the
 * server can give any of them to another host. */
static void self_fence(struct engine *en)
{
	size_t n = each_module(en, integ_fence_all, LOG_ERROR,
			       "the server has not answered for half a lease: fenced here so "
			       "that no other host's preempt can meet our writes");

	atomic_fetch_add(&en->fenced[ENGINE_FENCE_LEASE_LOST], n);
}

/* The server answers again after a self-fence: the use counts of the
 * volumes fenced then (their names were out of reach) are stale now. */
static void forget_fenced(struct engine *en)
{
	each_module(en, integ_reconcile, LOG_WARN, NULL);
}

/* The check of every local volume against the server, for servers that
 * revoke nothing (REX-Ray's own): a volume another host took is let go. */
/* A volume resized on the server: its device here, and its mounted
 * filesystem, grow to match (checked with the lease, every lease). */
static void refresh_sizes(struct engine *en)
{
	each_module(en, integ_refresh, LOG_INFO, "grown to the size the server gave them");
}

static void fence_taken(struct engine *en)
{
	size_t n = each_module(en, integ_fence, LOG_WARN, "released, taken by other hosts");

	atomic_fetch_add(&en->fenced[ENGINE_FENCE_TAKEN], n);
}

/* A dedicated client for the lease polls of an agent, bounded by a third
 * of a lease, so that a silent server is noticed in time. */
static struct storage_client *lease_client(struct engine *en, long long lease)
{
	struct storage_client *c = NULL;
	struct http_client_opts o;
	struct err e = ERR_INIT;

	if (!en->host[0])
		return NULL;
	if (http_client_opts_from_cfg(en->cfg, &en->paths, &o, &e) == 0) {
		o.timeout_ms = lease / 3 > 100 ? lease / 3 : 100;
		if (client_http_new_opts(en->host, &o, &c, &e) < 0)
			log_warn("lease: %s", e.msg);
		http_client_opts_release(&o);
	}
	return c;
}

/*
 * The lease loop. Renew every sixth of a lease (at most every second) by a
 * poll the server answers at once when it revokes one of our volumes;
 * fence those and confirm. When renewals fail for half a lease, fence
 * everything here (the server's lease of us, counted from a renewal it
 * received, ends later than ours counted from when we sent it; the other
 * half is the margin for the fence itself and clock-rate drift).
 */
static void *fence_loop(void *arg)
{
	struct engine *en = arg;
	long long lease = en->lease_ms, last_ok = time_now_ms(), next_check = 0;
	long long wait = lease / 6 < 1000 ? lease / 6 : 1000;
	struct storage_client *lc = lease_client(en, lease);
	struct storage_client *c = lc ? lc : en->client;
	bool fenced_all = false;

	while (!fence_sleep(en, 0)) {
		long long sent = time_now_ms();
		int r = en->n_module_igs ? renew(en, c, lease, wait) : -ENOENT;

		if (r == 0 || r == -ENODATA) { /* renewed, or nothing held to renew */
			last_ok = sent;
			if (fenced_all)
				forget_fenced(en);
			fenced_all = false;
		} else if (unreachable(r) && !fenced_all && time_now_ms() - last_ok >= lease / 2) {
			self_fence(en);
			fenced_all = true;
		}
		if (time_now_ms() >= next_check) {
			fence_taken(en);
			refresh_sizes(en);
			next_check = time_now_ms() + lease;
		}
		if (r < 0 && fence_sleep(en, r == -ENODATA ? 100 : r == -ENOENT ? lease : lease / 10))
			break;
	}
	client_free(lc);
	return NULL;
}

/* Finish the mounts and unmounts a crash of this engine cut short, before
 * any socket opens: once the engine answers, its state is settled. */
static void reconcile(struct engine *en)
{
	struct integration *ig = NULL;
	struct err e = ERR_INIT;
	size_t n = 0;

	if (integration_new(en->cfg, &en->paths, en->store, en->client, en->service, NULL, &ig,
			    &e) < 0 || integ_reconcile(ig, &n, &e) < 0)
		log_warn("reconcile: %s (the server may be down; later requests settle it)",
			 e.msg);
	else if (n)
		log_warn("reconcile: settled %zu volume(s) left mid-operation", n);
	integration_free(ig);
}

static int start_fencing(struct engine *en, struct err *e)
{
	int64_t ms;
	int r;

	if ((r = cfg_key_duration_ms(en->cfg, NULL, CFGK_CLIENT_LEASE, &ms, e)) < 0)
		return r;
	en->lease_ms = ms > 0 ? ms : 15000; /* "0s": the table's default, 15s */
	pthread_mutex_init(&en->fence_mu, NULL);
	pthread_cond_init(&en->fence_cv, NULL);
	en->fence_stop = false;
	if (pthread_create(&en->fence_thread, NULL, fence_loop, en) != 0)
		return err_set(e, -EAGAIN, "cannot start the fencing thread");
	en->fencing = true;
	return 0;
}

static void stop_fencing(struct engine *en)
{
	if (!en->fencing)
		return;
	pthread_mutex_lock(&en->fence_mu);
	en->fence_stop = true;
	pthread_cond_signal(&en->fence_cv);
	pthread_mutex_unlock(&en->fence_mu);
	if (en->server) /* a renewal waiting in our own server */
		ls_server_closing(en->server);
	pthread_join(en->fence_thread, NULL);
	pthread_cond_destroy(&en->fence_cv);
	pthread_mutex_destroy(&en->fence_mu);
	en->fencing = false;
}

static int start_server(struct engine *en, bool nopid, bool force, struct err *e)
{
	int r;

	/* the pid file before the server: a second service is refused at
	 * once, not after waiting for the first one's claim on the database */
	if ((r = engine_open_store(en, e)) < 0)
		return r;
	if (!nopid && (r = write_pid(en, force, e)) < 0)
		return r;
	if ((r = engine_open_server(en, e)) < 0)
		return r;
	snprintf(en->service, sizeof(en->service), "%s", ls_server_default_service(en->server));
	return client_local_new(en->server, &en->client, e);
}

/* The REST endpoints and the spec file come last: once the API answers,
 * everything else (the Docker modules) is up too. */
static int start_endpoints(struct engine *en, struct err *e)
{
	char addrs[ENGINE_MAX_ENDPOINTS][PATH_MAX + 32];
	size_t n;
	int r;

	if ((r = endpoint_addresses(en, addrs, &n, e)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		r = http_endpoint_start_paths(en->server, en->cfg, &en->paths, addrs[i], 0600,
					      &en->endpoints[en->n_endpoints], e);
		if (r < 0)
			return r;
		en->n_endpoints++;
	}
	return write_spec(en, e);
}

/* An agent: the storage calls go to libstorage.host. */
static int start_agent(struct engine *en, bool nopid, bool force, struct err *e)
{
	const char *host = cfg_key_get(en->cfg, CFGK_HOST);
	int r;

	if ((r = engine_open_store(en, e)) < 0)
		return r;
	if (!nopid && (r = write_pid(en, force, e)) < 0)
		return r;
	return engine_connect_host(en, host, e);
}

/* rexray.logFile, relative to the log directory: the service's lines go
 * there as well as to stderr. One that cannot be opened is said, not fatal. */
static void open_log_file(struct engine *en)
{
	const char *name = cfg_key_get(en->cfg, CFGK_REXRAY_LOGFILE);
	char path[PATH_MAX + 256];
	int r;

	if (!name) /* unset: the default; set empty: stderr only */
		name = cfg_keys[CFGK_REXRAY_LOGFILE].def;
	if (!name || !*name)
		return;
	if (name[0] == '/')
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%s/%s", en->paths.log, name);
	if ((r = fs_mkdir_p(en->paths.log, 0755)) < 0 || (r = log_open_file(path)) < 0)
		log_warn("cannot open the log file %s: %s; logging to stderr only", path,
			 strerror(-r));
}

int engine_serve(struct engine *en, bool nopid, bool force, struct err *e)
{
	bool server;
	sigset_t set;
	int r, sig = 0;

	/* block the stop signals before any thread starts, then wait for them */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Big buffers (a listing's reply: 1.2 MB for 10,000 volumes) get a
	 * mapping of their own, grown by mremap and unmapped when freed. By
	 * default glibc raises this threshold to the size of the first big
	 * block freed (the start-up reconciliation's list), and later replies
	 * then grow by copying inside a thread's arena: twice the memory at
	 * the peak, and kept after. Setting it fixes it. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	open_log_file(en);
	if ((r = runs_server(en, &server, e)) < 0)
		return r;
	r = server ? start_server(en, nopid, force, e) : start_agent(en, nopid, force, e);
	if (r < 0)
		goto out;
	reconcile(en);
	r = docker_modules_start(en->cfg, &en->paths, en->store, en->client, en->service,
				 en->modules, &en->n_modules, e);
	if (r == 0)
		r = csi_modules_start(en->cfg, &en->paths, en->store, en->client, en->service,
				      en->csi, &en->n_csi, e);
	if (r < 0 || (server && (r = start_endpoints(en, e)) < 0))
		goto out;
	gather_module_igs(en);
	if (en->n_module_igs && (r = start_fencing(en, e)) < 0)
		goto out;
	if ((r = metrics_start(en, e)) < 0)
		goto out;
	for (size_t i = 0; i < en->n_endpoints; i++)
		log_always("libStorage server %s listening on %s", ls_server_name(en->server),
			   http_endpoint_address(en->endpoints[i]));
	if (!server && client_http_servers(en->client) > 1)
		log_always("agent of the libStorage servers at %s (now %s)", en->host,
			   client_http_current(en->client));
	else if (!server)
		log_always("agent of the libStorage server at %s", en->host);
	for (size_t i = 0; i < en->n_modules; i++)
		log_always("docker module %s listening on %s", docker_module_name(en->modules[i]),
			   docker_module_address(en->modules[i]));
	for (size_t i = 0; i < en->n_csi; i++)
		log_always("csi module %s listening on %s", csi_module_name(en->csi[i]),
			   csi_module_address(en->csi[i]));
	if (en->metrics)
		log_always("metrics at %s/metrics", metrics_address(en));
	/* systemd's Type=notify: every socket listens and the state is open.
	 * Outside systemd (no NOTIFY_SOCKET) this does nothing. */
	sd_notifyf(0, "READY=1\nSTATUS=serving (%zu endpoint(s), %zu docker module(s), "
		   "%zu csi module(s))\nMAINPID=%ld", en->n_endpoints, en->n_modules, en->n_csi,
		   (long)getpid());
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) { /* logrotate moved the file; config is not reloaded */
			sd_notify(0, "RELOADING=1");
			if ((r = log_reopen()) < 0)
				log_warn("cannot reopen the log file: %s", strerror(-r));
			sd_notify(0, "READY=1");
			continue;
		}
		break;
	}
	log_info("received signal %d: stopping", sig);
	sd_notify(0, "STOPPING=1");
	r = 0;
out:
	metrics_stop(en);
	stop_fencing(en);
	stop_endpoints(en);
	/* only what this process wrote: a refused second start must not take
	 * the running service's files away */
	if (en->wrote_spec)
		remove_run_file(en, "rexray.spec");
	if (en->wrote_pid)
		remove_run_file(en, "rexray.pid");
	log_close_file();
	return r;
}
