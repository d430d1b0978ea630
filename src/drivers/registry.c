#include "drivers/driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/config.h"

extern const struct storage_driver vfs_driver;
extern const struct storage_executor vfs_executor;

static const struct storage_driver *const drivers[] = {
	&vfs_driver,
};

static const struct storage_executor *const executors[] = {
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
	return "vfs";
}

int executor_default_instance_id(const char *driver, const struct cfg *cfg,
				 const char *const *scopes, struct instance_id *out,
				 struct err *e)
{
	char key[128], host[256], meta[300];
	const char *id = NULL;
	json_t *js;

	memset(out, 0, sizeof(*out));
	snprintf(key, sizeof(key), "%s.instanceid", driver);
	if (cfg_str(cfg, scopes, key, NULL, &id) < 0 || !id || !*id)
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
