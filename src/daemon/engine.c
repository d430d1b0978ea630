#include "daemon/engine.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "config/keys.h"
#include "docker/plugin.h"
#include "integration/integration.h"
#include "drivers/driver.h"
#include "server/rest.h"
#include "server/service.h"
#include "store/store.h"
#include "util/fs.h"
#include "util/log.h"

/* How long a server waits for the database's previous server to go. */
#define SERVER_CLAIM_WAIT_MS 30000

static int setup_logging(const struct cfg *cfg, struct err *e)
{
	const char *key, *lvl = cfg_lookup(cfg, NULL, cfg_keys[CFGK_REXRAY_LOGLEVEL].name, &key);
	enum log_level l;

	const char *fmt = cfg_key_get(cfg, CFGK_REXRAY_LOGFORMAT);

	if (fmt && *fmt && strcasecmp(fmt, "text") != 0 && strcasecmp(fmt, "json") != 0)
		return err_set(e, -EINVAL, "config: %s: invalid value '%s': expected text or json",
			       cfg_keys[CFGK_REXRAY_LOGFORMAT].name, fmt);
	log_set_json(fmt && strcasecmp(fmt, "json") == 0);
	if (!lvl || !*lvl)
		lvl = cfg_lookup(cfg, NULL, cfg_keys[CFGK_LOGGING_LEVEL].name, &key);
	if (!lvl || !*lvl)
		return 0;
	if (log_level_parse(lvl, &l) < 0)
		return err_set(e, -EINVAL, "config: %s: invalid value '%s': expected panic, fatal, "
			       "error, warn, info or debug", key, lvl);
	log_set_level(l);
	return 0;
}

int engine_init(struct engine *en, struct cfg *cfg, const char *config_file, struct err *e)
{
	int r;

	memset(en, 0, sizeof(*en));
	en->cfg = cfg;
	if ((r = paths_init(&en->paths, e)) < 0)
		return r;
	if ((r = cfg_load_default(cfg, config_file, &en->paths, &en->config_file, e)) < 0)
		return r;
	if ((r = setup_logging(cfg, e)) < 0)
		return r;
	if (en->config_file && *en->config_file)
		log_debug("config: loaded %s", en->config_file);
	return 0;
}

/* One database holds the server's volumes and this host's use counts. */
int engine_open_store(struct engine *en, struct err *e)
{
	char db[PATH_MAX + 16];
	int r;

	if (en->store)
		return 0;
	if ((r = paths_mkdirs(&en->paths, e)) < 0)
		return r;
	snprintf(db, sizeof(db), "%s/rexray.db", en->paths.lib);
	return store_open(db, &en->store, e);
}

/* The server's records: this host's file, or the shared database that
 * libstorage.server.store names. */
static int open_records(struct engine *en, struct err *e)
{
	const char *uri = cfg_key_get(en->cfg, CFGK_SERVER_STORE);
	int r;

	if (en->records)
		return 0;
	if (!uri || !*uri) {
		en->records = en->store;
		return 0;
	}
	if ((r = store_open_uri(uri, &en->records, e)) < 0)
		return err_prefix(e, "libstorage.server.store");
	log_info("store: the server's records are in %s (shared by every server on it)",
		 store_backend(en->records));
	return 0;
}

int engine_open_server(struct engine *en, struct err *e)
{
	int r;

	if (en->server)
		return 0;
	if ((r = engine_open_store(en, e)) < 0 || (r = open_records(en, e)) < 0)
		return r;
	/* one server per database (a shared one: any number); a service
	 * restarting, or a CLI command that serves itself, finishes first */
	if ((r = store_claim(en->records, SERVER_CLAIM_WAIT_MS, e)) < 0)
		return r;
	return ls_server_new(en->cfg, &en->paths, en->records, &en->server, e);
}

int engine_integration(struct engine *en, struct integration **out, struct err *e)
{
	int r;

	if (!en->integration) {
		if ((r = engine_open_store(en, e)) < 0)
			return r;
		r = integration_new(en->cfg, &en->paths, en->store, en->client, en->service, NULL,
				    &en->integration, e);
		if (r < 0)
			return r;
	}
	*out = en->integration;
	return 0;
}

static bool address_alive(const char *address)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	bool alive;
	int fd;

	if (strncmp(address, "unix://", 7) != 0)
		return true; /* a tcp spec: let the client find out */
	if (strlen(address + 7) >= sizeof(sa.sun_path))
		return false;
	strcpy(sa.sun_path, address + 7);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return alive;
}

/* The running service's address from <run>/rexray.spec, if it answers. */
static bool spec_host(const struct engine *en, char *out, size_t outsz)
{
	char path[PATH_MAX + 16], *buf = NULL;
	bool ok = false;

	snprintf(path, sizeof(path), "%s/rexray.spec", en->paths.run);
	if (fs_read_file(path, 4096, &buf, NULL) < 0)
		return false;
	buf[strcspn(buf, "\r\n")] = '\0';
	if (*buf && strlen(buf) < outsz && address_alive(buf)) {
		strcpy(out, buf);
		ok = true;
	}
	free(buf);
	return ok;
}

static int pick_service(struct engine *en, struct err *e)
{
	struct service_list l = { 0 };
	const char *want = cfg_key_get(en->cfg, CFGK_SERVICE);
	int r;

	if (want && *want) {
		snprintf(en->service, sizeof(en->service), "%s", want);
		return 0;
	}
	if (en->server) {
		snprintf(en->service, sizeof(en->service), "%s",
			 ls_server_default_service(en->server));
		return 0;
	}
	if ((r = en->client->ops->services(en->client, &l, e)) < 0)
		return r;
	if (l.n == 0) {
		service_list_release(&l);
		return err_set(e, -ENOENT, "the server at %s has no services",
			       client_http_current(en->client) ? client_http_current(en->client)
							       : en->host);
	}
	snprintf(en->service, sizeof(en->service), "%s", l.s[0].name);
	service_list_release(&l);
	return 0;
}

/* This host's instance ID for the chosen service, from its driver's executor. */
static int resolve_iid(struct engine *en, struct err *e)
{
	struct service_info si = { 0 };
	const struct storage_executor *ex;
	const char *scopes[] = { NULL, "libstorage.client", NULL };
	char scope0[128];
	int r;

	if ((r = en->client->ops->service_inspect(en->client, en->service, false, NULL, &si, e)) < 0)
		return r;
	ex = executor_find(si.driver_name);
	if (!ex) {
		log_debug("no executor for driver %s: calls carry no instance ID", si.driver_name);
		service_info_release(&si);
		return 0;
	}
	snprintf(scope0, sizeof(scope0), "libstorage.server.services.%s", en->service);
	scopes[0] = scope0;
	{
		struct exec_ctx x = { .cfg = en->cfg, .scopes = scopes, .paths = &en->paths };
		r = ex->instance_id(&x, &en->iid, e);
	}
	if (r == 0) {
		free(en->iid.service);
		en->iid.service = strdup(en->service);
		en->have_iid = en->iid.service != NULL;
	}
	service_info_release(&si);
	return r;
}

/* The HTTP client for en->host, secured as libstorage.client.tls and
 * libstorage.client.auth.token say. */
static int http_client_open(struct engine *en, struct err *e)
{
	struct http_client_opts o;
	int r = http_client_opts_from_cfg(en->cfg, &en->paths, &o, e);

	if (r == 0)
		r = client_http_new_opts(en->host, &o, &en->client, e);
	http_client_opts_release(&o);
	return r;
}

/* en->host = host (one address or a list), which must fit. */
static int set_host(struct engine *en, const char *host, struct err *e)
{
	if (strlen(host) >= sizeof(en->host))
		return err_set(e, -ENAMETOOLONG, "config: %s is longer than %zu bytes",
			       cfg_keys[CFGK_HOST].name, sizeof(en->host) - 1);
	snprintf(en->host, sizeof(en->host), "%s", host);
	return 0;
}

int engine_connect_host(struct engine *en, const char *host, struct err *e)
{
	int r;

	if ((r = set_host(en, host ? host : "", e)) < 0)
		return r;
	if ((r = http_client_open(en, e)) < 0)
		return r;
	return pick_service(en, e);
}

bool engine_target(const struct engine *en, char *out, size_t outsz)
{
	const char *host = cfg_key_get(en->cfg, CFGK_HOST);

	if (host && *host) {
		snprintf(out, outsz, "%s", host);
		return true;
	}
	return spec_host(en, out, outsz);
}

int engine_connect(struct engine *en, struct err *e)
{
	const char *host = cfg_key_get(en->cfg, CFGK_HOST);
	int r;

	if (host && *host) {
		if ((r = set_host(en, host, e)) < 0)
			return r;
	} else if (!spec_host(en, en->host, sizeof(en->host))) {
		en->host[0] = '\0';
	}
	if (en->host[0]) {
		log_debug("client: talking to %s", en->host);
		r = http_client_open(en, e);
	} else {
		log_debug("client: no running service; using an in-process server");
		if ((r = engine_open_server(en, e)) < 0)
			return r;
		r = client_local_new(en->server, &en->client, e);
	}
	if (r < 0)
		return r;
	if ((r = pick_service(en, e)) < 0)
		return r;
	return resolve_iid(en, e);
}

struct ls_ctx engine_ctx(const struct engine *en)
{
	struct ls_ctx ctx = { 0 };

	if (en->have_iid) {
		ctx.iids = &en->iid;
		ctx.n_iids = 1;
	}
	return ctx;
}

/* Alive and not a zombie: a parent that has not reaped the stopped
 * service must not make it look as if it were still running. */
static bool process_alive(pid_t pid)
{
	char path[64], *buf = NULL, *p;
	bool alive;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (fs_read_file(path, 4096, &buf, NULL) < 0)
		return true;
	p = strrchr(buf, ')'); /* the state follows the command name */
	alive = !(p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
	free(buf);
	return alive;
}

bool engine_process_alive(long pid)
{
	return pid > 0 && process_alive((pid_t)pid);
}

long engine_running_pid(const struct engine *en)
{
	char path[PATH_MAX + 16], *buf = NULL;
	long pid = 0;

	snprintf(path, sizeof(path), "%s/rexray.pid", en->paths.run);
	if (fs_read_file(path, 64, &buf, NULL) < 0)
		return 0;
	pid = strtol(buf, NULL, 10);
	free(buf);
	if (pid <= 0 || !process_alive((pid_t)pid))
		return 0;
	return pid;
}

void engine_release(struct engine *en)
{
	/* engine_serve stopped what it started (fencing, endpoints) before it
	 * returned, on every path */
	integration_free(en->integration);
	client_free(en->client);
	ls_server_free(en->server);
	if (en->records != en->store)
		store_close(en->records);
	store_close(en->store);
	instance_id_release(&en->iid);
	cfg_free(en->cfg);
	memset(en, 0, sizeof(*en));
}
