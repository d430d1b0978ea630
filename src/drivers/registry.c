#include "drivers/driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/config.h"

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

const char *driver_names(void)
{
	return "loop, vfs";
}

int executor_default_instance_id(const char *driver, const struct exec_ctx *x,
				 struct instance_id *out, struct err *e)
{
	char key[128], host[256], meta[300];
	const char *id = NULL;
	json_t *js;

	memset(out, 0, sizeof(*out));
	snprintf(key, sizeof(key), "%s.instanceid", driver);
	if (cfg_str(x->cfg, x->scopes, key, NULL, &id) < 0 || !id || !*id)
		id = NULL;
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	js = json_string(host);
	if (!js)
		return err_set(e, -ENOMEM, "out of memory");
	{
		char *t = json_dumps(js, JSON_ENCODE_ANY);
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
