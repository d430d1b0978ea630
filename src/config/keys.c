/* config/keys: the table of configuration keys (see keys.h). */
#include "config/keys.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define OPS "libstorage.integration.volume.operations."
#define OPS_SCOPES (CFG_SC_MODULE | CFG_SC_SERVICE)

#define S_REXRAY "`rexray.*` and the engine"
#define S_AUTH "Server authentication (`libstorage.server.auth.*`)"
#define S_TLS "TLS (`libstorage.tls.*`)"
#define S_CLIENT "Client (`libstorage.client.*`)"
#define S_OPS "Volume operations (`libstorage.integration.volume.operations.*`)"
#define S_HOST "Host"
#define S_DRIVERS "Drivers"

#define TEXT(n, d, sc, sec, doc) { n, NULL, CFG_T_TEXT, d, 0, 0, sc, sec, doc }
#define BOOL(n, d, sc, sec, doc) { n, NULL, CFG_T_BOOL, d, 0, 0, sc, sec, doc }
#define TYPED(n, t, d, sc, sec, doc) { n, NULL, t, d, 0, 0, sc, sec, doc }

const struct cfg_key cfg_keys[CFGK_COUNT] = {
	[CFGK_REXRAY_LOGLEVEL] = TYPED("rexray.logLevel", CFG_T_LEVEL, "warn", CFG_SC_GLOBAL,
		S_REXRAY, "`panic`, `fatal`, `error`, `warn`, `info` or `debug`; `-l` sets it"),
	[CFGK_LOGGING_LEVEL] = TYPED("libstorage.logging.level", CFG_T_LEVEL, "warn",
		CFG_SC_GLOBAL, S_REXRAY, "used when `rexray.logLevel` is not set"),
	[CFGK_REXRAY_LOGFORMAT] = TEXT("rexray.logFormat", "text", CFG_SC_GLOBAL, S_REXRAY,
		"`text` (logrus's `time=... level=... msg=\"...\"`, as REX-Ray) or `json` (one "
		"object per line)"),
	[CFGK_REXRAY_LOGFILE] = TEXT("rexray.logFile", "rexray.log", CFG_SC_GLOBAL, S_REXRAY,
		"the file the service logs to as well as stderr, relative to the log directory "
		"(`/var/log/rexray`, under `REXRAY_HOME`); reopened on SIGHUP (logrotate); "
		"empty: stderr only"),
	[CFGK_METRICS_ADDRESS] = TYPED("rexray.metrics.address", CFG_T_ADDRESS, NULL,
		CFG_SC_GLOBAL, S_REXRAY,
		"where the service serves Prometheus metrics at `/metrics` "
		"(`tcp://127.0.0.1:9779`); unset: no metrics endpoint. A `tcp://` address "
		"that is not loopback needs `rexray.metrics.tls.certFile` and `keyFile`"),
	[CFGK_METRICS_CERTFILE] = TYPED("rexray.metrics.tls.certFile", CFG_T_PATH, NULL,
		CFG_SC_GLOBAL, S_REXRAY, "the metrics endpoint's TLS certificate (PEM); with "
		"`keyFile`, it serves HTTPS"),
	[CFGK_METRICS_KEYFILE] = TYPED("rexray.metrics.tls.keyFile", CFG_T_PATH, NULL,
		CFG_SC_GLOBAL, S_REXRAY, "the metrics endpoint's TLS private key (PEM)"),
	[CFGK_HOST] = TYPED("libstorage.host", CFG_T_ADDRESSES, NULL, CFG_SC_GLOBAL, S_REXRAY,
		"the server the client talks to (`-h` sets it), or a list of servers it fails "
		"over between, tried in order (a YAML list or `tcp://a:7979,tcp://b:7979`; "
		"docs/multi-host.md); also the server's endpoint when no endpoints are defined "
		"(the first of a list); unset: the embedded server"),
	[CFGK_SERVICE] = TEXT("libstorage.service", NULL, CFG_SC_MODULE, S_REXRAY,
		"the default service (`-s` sets it); unset: the first configured service"),
	[CFGK_EMBEDDED] = BOOL("libstorage.embedded", "false", CFG_SC_GLOBAL, S_REXRAY,
		"run a server in this process even though `libstorage.host` is set"),
	[CFGK_CLIENT_LEASE] = TYPED("libstorage.client.lease", CFG_T_DURATION, "15s",
		CFG_SC_GLOBAL, S_REXRAY,
		"the lease an agent holds its attachments for and renews (every sixth of it): "
		"an agent that cannot renew fences its volumes within half of it, and a "
		"`preempt` by another host waits at most one lease (`0`: the default)"),
	[CFGK_SERVER_LEASE] = TYPED("libstorage.server.lease", CFG_T_DURATION, "15s",
		CFG_SC_GLOBAL, S_REXRAY,
		"the lease of a host that attached a volume and never renews (REX-Ray's own "
		"agents, a bare REST client): a `preempt` waits this long for it"),
	[CFGK_SERVER_STORE] = TYPED("libstorage.server.store", CFG_T_DATABASE, NULL, CFG_SC_GLOBAL,
		S_REXRAY,
		"where the server keeps its volume records: unset, this host's SQLite file "
		"(one server); a PostgreSQL connection URI (`postgres://user@db.example/rexray"
		"?sslmode=verify-full`) that several servers share (`docs/multi-host.md`); "
		"keep passwords out of it (`passfile=` or `~/.pgpass`)"),
	[CFGK_MODULE_TYPE] = TEXT("rexray.modules.<module>.type", "docker", CFG_SC_GLOBAL,
		S_REXRAY, "`docker` (a Docker volume plugin) or `csi` (a CSI plugin: gRPC, "
		"`docs/csi.md`); a module of another type is skipped with a warning"),
	[CFGK_MODULE_HOST] = TYPED("rexray.modules.<module>.host", CFG_T_ADDRESS,
		"unix://<home>/run/docker/plugins/<module>.sock", CFG_SC_GLOBAL, S_REXRAY,
		"the plugin socket; the implicit module `default-docker` uses `rexray.sock`; "
		"`<home>` is `$REXRAY_HOME` (empty by default); a `csi` module's default is "
		"`unix://<run>/csi/<module>.sock` (mode 0600)"),
	[CFGK_MODULE_SPEC] = TYPED("rexray.modules.<module>.spec", CFG_T_PATH, NULL,
		CFG_SC_GLOBAL, S_REXRAY, "a Docker plugin spec file to write with the "
		"module's address; unset: none"),
	[CFGK_MODULE_DISABLED] = BOOL("rexray.modules.<module>.disabled", "false", CFG_SC_GLOBAL,
		S_REXRAY, "do not start the module"),
	[CFGK_MODULE_CSI_SERVICES] = TYPED("rexray.modules.<module>.csi.services", CFG_T_LIST,
		"controller,node", CFG_SC_GLOBAL, S_REXRAY,
		"what a `csi` module serves besides Identity: `controller`, `node` or both (a "
		"central server the controller, each agent the node)"),
	[CFGK_MODULE_CSI_DRIVERNAME] = TEXT("rexray.modules.<module>.csi.driverName",
		"csi.rexray.io", CFG_SC_GLOBAL, S_REXRAY,
		"the name a `csi` module reports in GetPluginInfo (DNS style, at most 63 "
		"characters): the `provisioner` and CSIDriver name on Kubernetes"),
	[CFGK_CSI_ENDPOINT] = TYPED("csi.endpoint", CFG_T_ADDRESS, NULL, CFG_SC_GLOBAL,
		S_REXRAY, "the socket of a `csi` module named `csi` (made when not configured), "
		"as Kubernetes sidecars and Nomad set `CSI_ENDPOINT`; unset: none"),
	[CFGK_SERVICE_DRIVER] = TEXT("libstorage.server.services.<service>.driver", "<service>",
		CFG_SC_GLOBAL, S_REXRAY, "defines a service and names its driver (`vfs`, "
		"`loop`); with no service defined, one service named `libstorage.service` (or "
		"`loop`) is made"),
	[CFGK_ENDPOINT_ADDRESS] = TYPED("libstorage.server.endpoints.<endpoint>.address",
		CFG_T_ADDRESS, NULL, CFG_SC_GLOBAL, S_REXRAY, "required for each endpoint: "
		"`unix:///var/run/rexray/rexray.sock`, `tcp://:7979`"),

	[CFGK_AUTH_KEY] = TYPED("libstorage.server.auth.key", CFG_T_SECRET, NULL, CFG_SC_GLOBAL,
		S_AUTH, "the HMAC secret tokens are signed with, or a file holding it; unset: "
		"no tokens needed"),
	[CFGK_AUTH_ALG] = TEXT("libstorage.server.auth.alg", "HS256", CFG_SC_GLOBAL, S_AUTH,
		"`HS256`, `HS384` or `HS512` (HMAC; see docs/security-tls.md)"),
	[CFGK_AUTH_ALLOW] = TYPED("libstorage.server.auth.allow", CFG_T_LIST, NULL, CFG_SC_GLOBAL,
		S_AUTH, "subjects admitted; when not empty, only these"),
	[CFGK_AUTH_DENY] = TYPED("libstorage.server.auth.deny", CFG_T_LIST, NULL, CFG_SC_GLOBAL,
		S_AUTH, "subjects refused; a deny beats an allow"),
	[CFGK_AUTH_DISABLED] = BOOL("libstorage.server.auth.disabled", "false", CFG_SC_GLOBAL,
		S_AUTH, "ignore the key: no tokens needed"),

	[CFGK_TLS_DISABLED] = BOOL("libstorage.tls.disabled", "false", CFG_SC_ENDPOINT, S_TLS,
		"never TLS: allows plain HTTP on any address (server) and turns the client's "
		"automatic TLS off"),
	[CFGK_TLS_SOCKITTOME] = BOOL("libstorage.tls.sockitToMe", "false", CFG_SC_GLOBAL, S_TLS,
		"TLS on UNIX sockets too"),
	[CFGK_TLS_CERTFILE] = TYPED("libstorage.tls.certFile", CFG_T_PATH,
		"<etc>/tls/rexray.crt", CFG_SC_ENDPOINT, S_TLS,
		"the server's certificate (chain), PEM"),
	[CFGK_TLS_KEYFILE] = TYPED("libstorage.tls.keyFile", CFG_T_PATH, "<etc>/tls/rexray.key",
		CFG_SC_ENDPOINT, S_TLS, "its private key, PEM"),
	[CFGK_TLS_TRUSTEDCERTSFILE] = TYPED("libstorage.tls.trustedCertsFile", CFG_T_PATH,
		"<etc>/tls/cacerts", CFG_SC_ENDPOINT, S_TLS,
		"CAs client certificates must chain to; the client's CAs when "
		"`libstorage.client.tls.trustedCertsFile` is not set"),
	[CFGK_TLS_CLIENTCERTREQUIRED] = BOOL("libstorage.tls.clientCertRequired", "false",
		CFG_SC_ENDPOINT, S_TLS, "refuse (403) requests without a valid client certificate"),
	[CFGK_TLS_INSECURE] = BOOL("libstorage.tls.insecure", "false", CFG_SC_GLOBAL, S_TLS,
		"the client does not check the server at all"),
	[CFGK_TLS_KNOWNHOSTS] = TYPED("libstorage.tls.knownHosts", CFG_T_PATH, NULL,
		CFG_SC_GLOBAL, S_TLS, "the client's known-hosts file when "
		"`libstorage.client.tls.knownHosts` is not set"),
	[CFGK_TLS_SERVERNAME] = TEXT("libstorage.tls.serverName", NULL, CFG_SC_GLOBAL, S_TLS,
		"the name the client expects in the server's certificate when "
		"`libstorage.client.tls.serverName` is not set"),

	[CFGK_CLIENT_TLS] = TEXT("libstorage.client.tls", NULL, CFG_SC_GLOBAL, S_CLIENT,
		"`false`, `true`, `insecure`, `verifyPeers`, a known-hosts line "
		"`HOST sha256 AA:BB:...`, or a map of the keys below; unset: TLS for a TCP host "
		"that is not loopback"),
	[CFGK_CLIENT_TLS_VERIFYPEERS] = BOOL("libstorage.client.tls.verifyPeers", "true",
		CFG_SC_GLOBAL, S_CLIENT, "`false`: no check of the server (as `insecure`)"),
	[CFGK_CLIENT_TLS_INSECURE] = BOOL("libstorage.client.tls.insecure", "false",
		CFG_SC_GLOBAL, S_CLIENT, "no check of the server"),
	[CFGK_CLIENT_TLS_KNOWNHOSTS] = TYPED("libstorage.client.tls.knownHosts", CFG_T_PATH,
		"<etc>/tls/known_hosts", CFG_SC_GLOBAL, S_CLIENT,
		"fingerprints of servers; unset: `<etc>/tls/known_hosts` and "
		"`$HOME/.rexray/known_hosts`"),
	[CFGK_CLIENT_TLS_TRUSTEDCERTSFILE] = TYPED("libstorage.client.tls.trustedCertsFile",
		CFG_T_PATH, "<etc>/tls/cacerts", CFG_SC_GLOBAL, S_CLIENT,
		"CAs the server's certificate must chain to (the default when it exists; "
		"else the system CAs)"),
	[CFGK_CLIENT_TLS_CERTFILE] = TYPED("libstorage.client.tls.certFile", CFG_T_PATH, NULL,
		CFG_SC_GLOBAL, S_CLIENT, "a client certificate, PEM"),
	[CFGK_CLIENT_TLS_KEYFILE] = TYPED("libstorage.client.tls.keyFile", CFG_T_PATH, NULL,
		CFG_SC_GLOBAL, S_CLIENT, "its private key, PEM"),
	[CFGK_CLIENT_TLS_SERVERNAME] = TEXT("libstorage.client.tls.serverName", NULL,
		CFG_SC_GLOBAL, S_CLIENT, "the name expected in the server's certificate; "
		"unset: the host's"),
	[CFGK_CLIENT_AUTH_TOKEN] = TYPED("libstorage.client.auth.token", CFG_T_SECRET, NULL,
		CFG_SC_GLOBAL, S_CLIENT, "a token or a file holding it; sent as "
		"`Authorization: Bearer`"),

	[CFGK_OPS_CREATE_DEFAULT_SIZE] = { OPS "create.default.size", "docker.size", CFG_T_INT,
		"<the driver's>", 1, 1 << 20, OPS_SCOPES, S_OPS,
		"GiB of a volume created by Docker or by an implicit create; unset: the "
		"driver's default (loop: 1)" },
	[CFGK_OPS_CREATE_DEFAULT_TYPE] = { OPS "create.default.type", "docker.volumeType",
		CFG_T_TEXT, "", 0, 0, OPS_SCOPES, S_OPS, "volume type passed to the driver" },
	[CFGK_OPS_CREATE_DEFAULT_IOPS] = { OPS "create.default.IOPS", "docker.iops", CFG_T_INT,
		"0", 0, 1LL << 31, OPS_SCOPES, S_OPS, "IOPS passed to the driver" },
	[CFGK_OPS_CREATE_DEFAULT_AZ] = { OPS "create.default.availabilityZone",
		"docker.availabilityZone", CFG_T_TEXT, "", 0, 0, OPS_SCOPES, S_OPS,
		"availability zone passed to the driver" },
	[CFGK_OPS_CREATE_DEFAULT_FSTYPE] = { OPS "create.default.fsType", "docker.fsType",
		CFG_T_TEXT, "ext4", 0, 0, OPS_SCOPES, S_OPS,
		"filesystem made when an empty volume is first mounted: `ext4` or `xfs`" },
	[CFGK_OPS_CREATE_DISABLE] = { OPS "create.disable", "volume.create.disable", CFG_T_BOOL,
		"false", 0, 0, OPS_SCOPES, S_OPS, "create becomes a successful no-op" },
	[CFGK_OPS_CREATE_IMPLICIT] = BOOL(OPS "create.implicit", "true", OPS_SCOPES, S_OPS,
		"mounting an unknown name creates it with the defaults"),
	[CFGK_OPS_MOUNT_PREEMPT] = { OPS "mount.preempt", "volume.mount.preempt", CFG_T_BOOL,
		"false", 0, 0, OPS_SCOPES, S_OPS,
		"attach by force, detaching from another host first" },
	[CFGK_OPS_MOUNT_PATH] = { OPS "mount.path", "docker.mountDirPath", CFG_T_PATH,
		"<lib>/volumes", 0, 0, OPS_SCOPES, S_OPS,
		"a volume of the primary service is mounted at `<mount.path>/<name>`, of any "
		"other service at `<mount.path>/@<service>/<name>` (docs/volumes.md)" },
	[CFGK_OPS_MOUNT_ROOTPATH] = { OPS "mount.rootPath", "linux.volume.rootpath", CFG_T_TEXT,
		"/data", 0, 0, OPS_SCOPES, S_OPS,
		"the directory inside the volume handed to the container; a plain directory of "
		"the volume (never a symlink), handed out as a bind mount (docs/security.md)" },
	[CFGK_OPS_MOUNT_NOSUID] = BOOL(OPS "mount.nosuid", "true", OPS_SCOPES, S_OPS,
		"mount volume filesystems `nosuid`: setuid binaries on a volume do not act as "
		"such"),
	[CFGK_OPS_MOUNT_RETRYCOUNT] = { OPS "mount.retryCount", NULL, CFG_T_INT, "0", 0, 100,
		OPS_SCOPES, S_OPS, "how many times a failed mount is tried again (not a refusal: "
		"an unknown volume, a damaged filesystem, a bad option)" },
	[CFGK_OPS_MOUNT_RETRYWAIT] = TYPED(OPS "mount.retryWait", CFG_T_DURATION, "5s", OPS_SCOPES,
		S_OPS, "the wait before each of those tries"),
	[CFGK_OPS_MOUNT_NODEV] = BOOL(OPS "mount.nodev", "true", OPS_SCOPES, S_OPS,
		"mount volume filesystems `nodev`: device nodes on a volume do not act as such"),
	[CFGK_OPS_UNMOUNT_IGNOREUSEDCOUNT] = { OPS "unmount.ignoreUsedCount",
		"volume.unmount.ignoreUsedCount", CFG_T_BOOL, "false", 0, 0, OPS_SCOPES, S_OPS,
		"every unmount really unmounts" },
	[CFGK_OPS_REMOVE_DISABLE] = { OPS "remove.disable", "volume.remove.disable", CFG_T_BOOL,
		"false", 0, 0, OPS_SCOPES, S_OPS, "remove becomes a successful no-op" },
	[CFGK_OPS_REMOVE_FORCE] = BOOL(OPS "remove.force", "false", OPS_SCOPES, S_OPS,
		"every remove is forced"),
	[CFGK_OPS_PATH_CACHE_ENABLED] = { OPS "path.cache.enabled", "volume.path.cache",
		CFG_T_BOOL, "true", 0, 0, OPS_SCOPES, S_OPS,
		"accepted and not used: paths come from the mount table" },

	[CFGK_DEVICE_ATTACHTIMEOUT] = TYPED("libstorage.device.attachTimeout", CFG_T_DURATION,
		"30s", OPS_SCOPES, S_HOST,
		"how long a mount waits for the volume's device to appear"),
	[CFGK_LINUX_VOLUME_FILEMODE] = TYPED("linux.volume.filemode", CFG_T_MODE, "0700",
		OPS_SCOPES, S_HOST, "mode of the `rootPath` directory created inside a volume "
		"(set through the checked descriptor, never a path)"),

	[CFGK_DRIVER_INSTANCEID] = TEXT("<driver>.instanceID", "<hostname>",
		OPS_SCOPES | CFG_SC_CLIENT, S_DRIVERS,
		"this host's instance ID for the driver; the first one used is kept in "
		"`<lib>/instance-id.<driver>`, and a new one takes effect only while no volume "
		"of the driver has a device on this host"),
	[CFGK_VFS_ROOT] = TYPED("vfs.root", CFG_T_PATH, "<lib>/vfs", CFG_SC_SERVICE, S_DRIVERS,
		"directory holding the vfs volumes"),
	[CFGK_LOOP_VOLUMEPATH] = TYPED("loop.volumePath", CFG_T_PATH, "<lib>/loop",
		CFG_SC_SERVICE, S_DRIVERS, "directory of the loop volumes' sparse images "
		"`<id>.img`; may be shared by several hosts"),
	[CFGK_LOOP_OVERCOMMIT] = { "loop.overcommit", NULL, CFG_T_RATIO, "1", 1, 1000,
		CFG_SC_SERVICE, S_DRIVERS, "how far the sizes promised to loop volumes may "
		"exceed what their images can get (what they hold plus the free space); `1` "
		"promises only what exists" },
	[CFGK_LOOP_PREALLOCATE] = BOOL("loop.preallocate", "false", CFG_SC_SERVICE, S_DRIVERS,
		"reserve each new image's whole size on disk (`fallocate`), so its writes never "
		"meet a full disk"),
};

int cfg_key_def_computed(const struct cfg_key *k)
{
	return k->def && strchr(k->def, '<') != NULL;
}

int cfg_key_is_pattern(const struct cfg_key *k)
{
	return strchr(k->name, '<') != NULL;
}

int cfg_key_name(enum cfg_key_id id, const char *arg, char *buf, size_t bufsz)
{
	const char *name = cfg_keys[id].name, *open = strchr(name, '<');
	const char *close = open ? strchr(open, '>') : NULL;
	int n;

	if (!open || !close)
		n = snprintf(buf, bufsz, "%s", name);
	else if (!arg)
		return -EINVAL;
	else
		n = snprintf(buf, bufsz, "%.*s%s%s", (int)(open - name), name, arg, close + 1);
	return n < 0 || (size_t)n >= bufsz ? -ENAMETOOLONG : 0;
}

void cfg_key_type_text(const struct cfg_key *k, char *buf, size_t bufsz)
{
	static const char *const names[] = {
		[CFG_T_TEXT] = "text", [CFG_T_BOOL] = "boolean", [CFG_T_INT] = "integer",
		[CFG_T_DURATION] = "duration", [CFG_T_MODE] = "file mode", [CFG_T_PATH] = "path",
		[CFG_T_RATIO] = "ratio", [CFG_T_LIST] = "list", [CFG_T_LEVEL] = "log level",
		[CFG_T_ADDRESS] = "address", [CFG_T_SECRET] = "secret or file",
		[CFG_T_ADDRESSES] = "address list", [CFG_T_DATABASE] = "database URI",
	};

	if (k->type == CFG_T_INT || k->type == CFG_T_RATIO)
		snprintf(buf, bufsz, "%s %" PRId64 "..%" PRId64, names[k->type], k->min, k->max);
	else
		snprintf(buf, bufsz, "%s", names[k->type]);
}

void cfg_key_scope_text(const struct cfg_key *k, char *buf, size_t bufsz)
{
	static const char *const names[] = { "module", "service", "endpoint", "client" };
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(k->scopes & (1u << i)))
			continue;
		len += (size_t)snprintf(buf + len, len < bufsz ? bufsz - len : 0, "%s%s",
					len ? ", " : "", names[i]);
		if (len >= bufsz)
			return;
	}
	if (!len)
		snprintf(buf, bufsz, "global");
}

/* Does key (klen bytes) fit name, a "<x>" in name standing for one
 * non-empty segment? Case-insensitive. */
static bool name_fits(const char *name, const char *key, size_t klen)
{
	const char *k = key, *end = key + klen;

	while (*name) {
		if (*name == '<') {
			const char *close = strchr(name, '>');
			const char *seg = k;

			if (!close)
				return false;
			while (k < end && *k != '.')
				k++;
			if (k == seg)
				return false;
			name = close + 1;
			continue;
		}
		if (k == end || tolower((unsigned char)*name) != tolower((unsigned char)*k))
			return false;
		name++;
		k++;
	}
	return k == end;
}

/* Does key fit prefix + name (or prefix + name without "libstorage.")? */
static bool scoped_fits(const char *prefix, const char *name, const char *key)
{
	char full[512];
	size_t klen = strlen(key);

	if (snprintf(full, sizeof(full), "%s%s", prefix, name) < (int)sizeof(full) &&
	    name_fits(full, key, klen))
		return true;
	return strncasecmp(name, "libstorage.", 11) == 0 &&
	       snprintf(full, sizeof(full), "%s%s", prefix, name + 11) < (int)sizeof(full) &&
	       name_fits(full, key, klen);
}

int cfg_key_find(const char *key, bool *legacy)
{
	static const struct {
		unsigned scope;
		const char *prefix;
	} scopes[] = {
		{ CFG_SC_MODULE, "rexray.modules.<module>." },
		{ CFG_SC_SERVICE, "libstorage.server.services.<service>." },
		{ CFG_SC_SERVICE, "libstorage.server." },
		{ CFG_SC_ENDPOINT, "libstorage.server.endpoints.<endpoint>." },
		{ CFG_SC_CLIENT, "libstorage.client." },
	};
	size_t klen = strlen(key);

	*legacy = false;
	for (int i = 0; i < CFGK_COUNT; i++)
		if (name_fits(cfg_keys[i].name, key, klen))
			return i;
	for (int i = 0; i < CFGK_COUNT; i++)
		if (cfg_keys[i].alias && strcasecmp(cfg_keys[i].alias, key) == 0) {
			*legacy = true;
			return i;
		}
	for (int i = 0; i < CFGK_COUNT; i++)
		for (size_t s = 0; s < sizeof(scopes) / sizeof(scopes[0]); s++)
			if ((cfg_keys[i].scopes & scopes[s].scope) &&
			    scoped_fits(scopes[s].prefix, cfg_keys[i].name, key))
				return i;
	return -1;
}
