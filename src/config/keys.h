/*
 * config/keys: the one table of the configuration keys the engine reads
 * (redis' standardConfig). Each row gives the key's canonical name as
 * users write it (mixed case; look-ups ignore case), its legacy alias, its
 * type, its default as text, the scopes it may also be set in, and a
 * one-line doc. The environment variable is derived from the name by
 * cfg_env_name ("a.b" -> "A_B"). docs/configuration.md's key reference is
 * generated from this table (`make docs`, src/main/cfgdoc.c).
 *
 * Rows are looked up by id: cfg_keys[CFGK_...]; config.h's cfg_key_*
 * getters take an id and use the row's name, default and range, so a call
 * site carries neither. The table is constant data: no state, no
 * allocation, safe from any thread.
 *
 * Defaults: NULL = unset (a text key reads NULL); "" = the empty string;
 * text containing '<' is computed at run time by the caller ("<lib>/loop",
 * "<hostname>") and documented as such: the caller uses the *_or getter
 * with the value it computes. Any other default of a boolean, integer,
 * duration or mode key parses as that type (tests/unit/test_keys.c).
 *
 * Patterns: a name with a placeholder ("<driver>.instanceID",
 * "rexray.modules.<module>.host") stands for one key per value;
 * cfg_key_name fills the placeholder.
 */
#ifndef RR_CONFIG_KEYS_H
#define RR_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cfg_type {
	CFG_T_TEXT,	/* any text */
	CFG_T_BOOL,	/* true/false, yes/no, on/off, 1/0 */
	CFG_T_INT,	/* decimal within [min, max] */
	CFG_T_DURATION,	/* Go syntax: 30s, 1m, 500ms */
	CFG_T_MODE,	/* octal file mode */
	CFG_T_PATH,	/* an absolute path */
	CFG_T_RATIO,	/* a decimal number within [min, max] */
	CFG_T_LIST,	/* a YAML sequence or comma-separated text */
	CFG_T_LEVEL,	/* a log level */
	CFG_T_ADDRESS,	/* unix:///path.sock or tcp://host:port */
	CFG_T_SECRET,	/* the secret itself or the path of a file holding it */
	CFG_T_ADDRESSES, /* one address or several: a YAML sequence or comma-separated
			  * text (cfg_list_next), each as CFG_T_ADDRESS */
	CFG_T_DATABASE, /* postgres://..., postgresql://... or sqlite:///path */
};

/* Where a key may be set besides the root (bits; 0 = the root only). The
 * order of the look-up is in config.h. */
enum cfg_scope {
	CFG_SC_GLOBAL = 0,
	CFG_SC_MODULE = 1 << 0,   /* rexray.modules.<module>.<key> */
	CFG_SC_SERVICE = 1 << 1,  /* libstorage.server.services.<service>.<key>, then
				   * libstorage.server.<key> */
	CFG_SC_ENDPOINT = 1 << 2, /* libstorage.server.endpoints.<endpoint>.<key> */
	CFG_SC_CLIENT = 1 << 3,   /* libstorage.client.<key> */
};

enum cfg_key_id {
	/* rexray.* and the engine */
	CFGK_REXRAY_LOGLEVEL,
	CFGK_LOGGING_LEVEL,
	CFGK_REXRAY_LOGFORMAT,
	CFGK_REXRAY_LOGFILE,
	CFGK_METRICS_ADDRESS,
	CFGK_METRICS_CERTFILE,
	CFGK_METRICS_KEYFILE,
	CFGK_HOST,
	CFGK_SERVICE,
	CFGK_EMBEDDED,
	CFGK_CLIENT_LEASE,
	CFGK_SERVER_LEASE,
	CFGK_SERVER_STORE,
	CFGK_MODULE_TYPE,
	CFGK_MODULE_HOST,
	CFGK_MODULE_SPEC,
	CFGK_MODULE_DISABLED,
	CFGK_MODULE_CSI_SERVICES,
	CFGK_MODULE_CSI_DRIVERNAME,
	CFGK_CSI_ENDPOINT,
	CFGK_SERVICE_DRIVER,
	CFGK_ENDPOINT_ADDRESS,
	/* server auth */
	CFGK_AUTH_KEY,
	CFGK_AUTH_ALG,
	CFGK_AUTH_ALLOW,
	CFGK_AUTH_DENY,
	CFGK_AUTH_DISABLED,
	/* TLS, server and shared */
	CFGK_TLS_DISABLED,
	CFGK_TLS_SOCKITTOME,
	CFGK_TLS_CERTFILE,
	CFGK_TLS_KEYFILE,
	CFGK_TLS_TRUSTEDCERTSFILE,
	CFGK_TLS_CLIENTCERTREQUIRED,
	CFGK_TLS_INSECURE,
	CFGK_TLS_KNOWNHOSTS,
	CFGK_TLS_SERVERNAME,
	/* client */
	CFGK_CLIENT_TLS,
	CFGK_CLIENT_TLS_VERIFYPEERS,
	CFGK_CLIENT_TLS_INSECURE,
	CFGK_CLIENT_TLS_KNOWNHOSTS,
	CFGK_CLIENT_TLS_TRUSTEDCERTSFILE,
	CFGK_CLIENT_TLS_CERTFILE,
	CFGK_CLIENT_TLS_KEYFILE,
	CFGK_CLIENT_TLS_SERVERNAME,
	CFGK_CLIENT_AUTH_TOKEN,
	/* volume operations */
	CFGK_OPS_CREATE_DEFAULT_SIZE,
	CFGK_OPS_CREATE_DEFAULT_TYPE,
	CFGK_OPS_CREATE_DEFAULT_IOPS,
	CFGK_OPS_CREATE_DEFAULT_AZ,
	CFGK_OPS_CREATE_DEFAULT_FSTYPE,
	CFGK_OPS_CREATE_DISABLE,
	CFGK_OPS_CREATE_IMPLICIT,
	CFGK_OPS_MOUNT_PREEMPT,
	CFGK_OPS_MOUNT_PATH,
	CFGK_OPS_MOUNT_ROOTPATH,
	CFGK_OPS_MOUNT_NOSUID,
	CFGK_OPS_MOUNT_NODEV,
	CFGK_OPS_MOUNT_RETRYCOUNT,
	CFGK_OPS_MOUNT_RETRYWAIT,
	CFGK_OPS_UNMOUNT_IGNOREUSEDCOUNT,
	CFGK_OPS_REMOVE_DISABLE,
	CFGK_OPS_REMOVE_FORCE,
	CFGK_OPS_PATH_CACHE_ENABLED,
	/* host */
	CFGK_DEVICE_ATTACHTIMEOUT,
	CFGK_LINUX_VOLUME_FILEMODE,
	/* drivers */
	CFGK_DRIVER_INSTANCEID,
	CFGK_VFS_ROOT,
	CFGK_LOOP_VOLUMEPATH,
	CFGK_LOOP_OVERCOMMIT,
	CFGK_LOOP_PREALLOCATE,
	CFGK_COUNT
};

struct cfg_key {
	const char *name;    /* canonical, e.g. "libstorage.tls.certFile" */
	const char *alias;   /* the legacy name read at the root, or NULL */
	enum cfg_type type;
	const char *def;     /* default as text (see above) */
	int64_t min, max;    /* CFG_T_INT and CFG_T_RATIO */
	unsigned scopes;     /* enum cfg_scope bits */
	const char *section; /* the heading it is documented under */
	const char *doc;     /* one line, Markdown */
};

/* The table, indexed by enum cfg_key_id; every row is filled. */
extern const struct cfg_key cfg_keys[CFGK_COUNT];

/* Is the row's default computed by the caller (contains '<')? */
int cfg_key_def_computed(const struct cfg_key *k);

/* Does the name contain a placeholder such as "<driver>"? */
int cfg_key_is_pattern(const struct cfg_key *k);

/* The row's name with its placeholder (if any) replaced by arg, into buf.
 * Returns 0, -EINVAL (a pattern without arg) or -ENAMETOOLONG. */
int cfg_key_name(enum cfg_key_id id, const char *arg, char *buf, size_t bufsz);

/* The row a full key (any case) is read under: its name with any
 * placeholder filled, its legacy alias, or its name under one of the
 * scopes the row allows (config.h's scoped look-ups). The id, or -1 for a
 * key the table does not name (a driver option, a typo). *legacy says it
 * matched the alias. */
int cfg_key_find(const char *key, bool *legacy);

/* "boolean", "integer 1..1048576", "duration", ...: for docs and listings,
 * into buf. */
void cfg_key_type_text(const struct cfg_key *k, char *buf, size_t bufsz);

/* "global" or "module, service, ...": where else the key may be set. */
void cfg_key_scope_text(const struct cfg_key *k, char *buf, size_t bufsz);

#endif
