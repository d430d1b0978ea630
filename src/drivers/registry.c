#include "drivers/driver.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/config.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/jsondump.h"

extern const struct storage_driver vfs_driver, loop_driver;
extern const struct storage_executor vfs_executor, loop_executor;

static const struct storage_driver *const drivers[] = {
	&loop_driver,
	&vfs_driver,
};

static const struct storage_executor *const executors[] = {
	&loop_executor,
	&vfs_executor,
};

const struct storage_driver *driver_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (strcasecmp(drivers[i]->name, name) == 0)
			return drivers[i];
	return NULL;
}

const struct storage_executor *executor_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(executors) / sizeof(executors[0]); i++)
		if (strcasecmp(executors[i]->name, name) == 0)
			return executors[i];
	return NULL;
}

static char driver_names_buf[128];

/* "loop, vfs": the table's names, joined once */
static void fill_driver_names(void)
{
	size_t n = 0;

	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]) &&
			   n < sizeof(driver_names_buf); i++)
		n += (size_t)snprintf(driver_names_buf + n, sizeof(driver_names_buf) - n, "%s%s",
				      i ? ", " : "", drivers[i]->name);
}

const char *driver_names(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, fill_driver_names);
	return driver_names_buf;
}

/* Does this host have a device of one of the driver's volumes? */
static bool has_local_devices(const char *driver, const struct exec_ctx *x)
{
	const struct storage_executor *ex = executor_find(driver);
	struct local_devices ld = { 0 };
	bool any;

	if (!ex || !ex->local_devices || ex->local_devices(x, &ld, NULL) < 0)
		return false;
	any = ld.n > 0;
	local_devices_release(&ld);
	return any;
}

/*
 * A stable identity. The ID a host uses for a driver is chosen once (the
 * configured <driver>.instanceID, else the hostname) and kept in
 * <lib>/instance-id.<driver>: a later hostname change does not change it.
 * A configured ID that differs from the kept one replaces it only while
 * this host has no device of the driver's volumes; with volumes attached
 * here the kept ID stays (loudly), since under a new ID the fencing loop
 * would see another host holding them and take them away.
 */
static void stable_id(const char *driver, const struct exec_ctx *x, const char *configured,
		      const char *host, char *out, size_t sz)
{
	char path[PATH_MAX + 64], line[310], *kept = NULL;
	const char *want = configured ? configured : host;
	bool keep = false;

	snprintf(out, sz, "%s", want);
	if (!x->paths || !x->paths->lib[0])
		return;
	snprintf(path, sizeof(path), "%s/instance-id.%s", x->paths->lib, driver);
	if (fs_read_file(path, 1024, &kept, NULL) == 0)
		kept[strcspn(kept, "\n")] = '\0';
	if (kept && kept[0]) {
		/* the same, a hostname that changed, or volumes still here */
		keep = strcmp(kept, want) == 0 || !configured || has_local_devices(driver, x);
		if (keep && configured && strcmp(kept, want) != 0)
			log_error("%s.instanceID is now '%s', but volumes are attached here as "
				  "'%s': keeping '%s' until they are unmounted", driver, configured,
				  kept, kept);
		else if (!keep)
			log_warn("%s: instance ID changes from '%s' to '%s' (configured)", driver,
				 kept, configured);
	}
	if (keep) {
		snprintf(out, sz, "%s", kept);
	} else {
		snprintf(line, sizeof(line), "%.300s\n", out);
		if (fs_write_atomic(path, line, strlen(line), 0600) < 0)
			log_warn("%s: cannot keep the instance ID in '%s'", driver, path);
	}
	free(kept);
}

int executor_default_instance_id(const char *driver, const struct exec_ctx *x,
				 struct instance_id *out, struct err *e)
{
	char key[128], host[256], meta[300], chosen[300];
	const char *id = NULL;
	json_t *js;

	memset(out, 0, sizeof(*out));
	if (cfg_key_name(CFGK_DRIVER_INSTANCEID, driver, key, sizeof(key)) < 0 ||
	    cfg_str(x->cfg, x->scopes, key, NULL, &id) < 0 || !id || !*id)
		id = NULL;
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	stable_id(driver, x, id, host, chosen, sizeof(chosen));
	id = chosen;
	js = json_string(host);
	if (!js)
		return err_set(e, -ENOMEM, "out of memory");
	{
		char *t = json_text(js, JSON_ENCODE_ANY);
		json_decref(js);
		if (!t)
			return err_set(e, -ENOMEM, "out of memory");
		snprintf(meta, sizeof(meta), "%s", t);
		free(t);
	}
	out->id = strdup(id ? id : host);
	out->driver = strdup(driver);
	out->metadata = strdup(meta);
	if (!out->id || !out->driver || !out->metadata) {
		instance_id_release(out);
		return err_set(e, -ENOMEM, "out of memory");
	}
	return 0;
}

int driver_instance_inspect_default(const char *driver, const struct instance_id *in,
				    struct instance *out, struct err *e)
{
	json_t *meta = NULL;
	const char *id = in->id;
	char name[64];
	int r = 0;

	memset(out, 0, sizeof(*out));
	/* An ID of only metadata is the executor's hostname as a JSON string. */
	if ((!id || !*id) && in->metadata) {
		meta = json_loads(in->metadata, JSON_DECODE_ANY, NULL);
		if (!json_is_string(meta)) {
			json_decref(meta);
			return err_set(e, -EINVAL, "%s: instance metadata must be a JSON string",
				       driver);
		}
		id = json_string_value(meta);
	}
	if (!id || !*id) {
		json_decref(meta);
		return err_set(e, -EINVAL, "%s: the instance ID has neither an id nor metadata",
			       driver);
	}
	snprintf(name, sizeof(name), "%sInstance", driver);
	out->iid.id = strdup(id);
	out->iid.driver = strdup(driver);
	out->iid.service = strdup(in->service ? in->service : "");
	out->name = strdup(name);
	out->provider_name = strdup("");
	if (!out->iid.id || !out->iid.driver || !out->iid.service || !out->name ||
	    !out->provider_name) {
		instance_release(out);
		r = err_set(e, -ENOMEM, "out of memory");
	}
	json_decref(meta);
	return r;
}

int executor_dir_open(struct exec_ctx *x, exec_dir_fn resolve, struct err *e)
{
	char *dir = malloc(PATH_MAX);
	int r;

	if (!dir)
		return err_set(e, -ENOMEM, "out of memory");
	if ((r = resolve(x->cfg, x->scopes, x->paths, dir, PATH_MAX, e)) < 0) {
		free(dir);
		return r;
	}
	x->priv = dir;
	return 0;
}

void executor_dir_close(struct exec_ctx *x)
{
	free(x->priv);
	x->priv = NULL;
}

int executor_dir(const struct exec_ctx *x, exec_dir_fn resolve, char buf[PATH_MAX],
		 struct err *e)
{
	if (!x->priv)
		return resolve(x->cfg, x->scopes, x->paths, buf, PATH_MAX, e);
	memcpy(buf, x->priv, strlen(x->priv) + 1);
	return 0;
}
