/*
 * client: the storage client interface. integration/, docker/, dvdi/ and
 * cli/ call storage operations through it without knowing whether the
 * libStorage server runs in this process (client/local.c, a direct call
 * into server/service.h) or elsewhere (client/rest.c: HTTP on a unix
 * socket with net/unixhttp.c, TCP and TLS with libcurl, loaded on
 * demand).
 *
 * Every operation returns 0 or a negative errno and fills e; the codes
 * are the server's: -ENOENT not found (404), -EINVAL bad request (400),
 * -EEXIST/-EBUSY conflict (409), -EACCES unauthorised (401), -ENOTSUP
 * (501), -ETIMEDOUT (408 or a transport timeout), -ECONNREFUSED/-EIO
 * transport failures. Outputs are filled only on success and are owned by
 * the caller (release with the api/types.h functions).
 *
 * ctx carries the caller's identity, what the Libstorage-Instanceid and
 * Libstorage-Localdevices headers carry on the wire; it is borrowed.
 *
 * A client is used by one thread at a time unless the implementation says
 * otherwise (local: any number; http: any number, each request on a
 * connection of its own from a small pool).
 */
#ifndef RR_CLIENT_H
#define RR_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "api/types.h"
#include "util/err.h"

struct storage_client;

struct storage_client_ops {
	const char *name; /* "local" or "http" */
	void (*close)(struct storage_client *c);

	int (*services)(struct storage_client *c, struct service_list *out, struct err *e);
	/* With want_instance, the service's instance for ctx's instance ID is
	 * filled in (GET /services/{svc}?instance). */
	int (*service_inspect)(struct storage_client *c, const char *svc, bool want_instance,
			       const struct ls_ctx *ctx, struct service_info *out, struct err *e);
	/* GET /volumes/{svc}?attachments=mask */
	int (*volumes)(struct storage_client *c, const char *svc, int mask,
		       const struct ls_ctx *ctx, struct volume_list *out, struct err *e);
	/* GET /volumes/{svc}/{id}?attachments=mask[&byName] */
	int (*volume_inspect)(struct storage_client *c, const char *svc, const char *id_or_name,
			      bool by_name, int mask, const struct ls_ctx *ctx, struct volume *out,
			      struct err *e);
	int (*volume_create)(struct storage_client *c, const char *svc,
			     const struct volume_create_req *req, const struct ls_ctx *ctx,
			     struct volume *out, struct err *e);
	/* token may be NULL when the caller does not want it */
	int (*volume_attach)(struct storage_client *c, const char *svc, const char *id,
			     const struct volume_attach_req *req, const struct ls_ctx *ctx,
			     struct volume *out, char **token, struct err *e);
	int (*volume_detach)(struct storage_client *c, const char *svc, const char *id,
			     const struct volume_detach_req *req, const struct ls_ctx *ctx,
			     struct volume *out, struct err *e);
	int (*volume_remove)(struct storage_client *c, const char *svc, const char *id, bool force,
			     const struct ls_ctx *ctx, struct err *e);
	/* Snapshots, copies, resize (server/service.h ls_snapshots ...):
	 * GET /snapshots/{svc}[/{id}], POST /volumes/{svc}/{id}?snapshot,
	 * DELETE /snapshots/{svc}/{id}, POST /snapshots/{svc}/{id}?copy and
	 * ?create, POST /volumes/{svc}/{id}?copy and (ours) ?resize. */
	int (*snapshots)(struct storage_client *c, const char *svc, const struct ls_ctx *ctx,
			 struct snapshot_list *out, struct err *e);
	int (*snapshot_inspect)(struct storage_client *c, const char *svc, const char *id,
				const struct ls_ctx *ctx, struct snapshot *out, struct err *e);
	int (*volume_snapshot)(struct storage_client *c, const char *svc, const char *volume_id,
			       const struct volume_snapshot_req *req, const struct ls_ctx *ctx,
			       struct snapshot *out, struct err *e);
	int (*snapshot_remove)(struct storage_client *c, const char *svc, const char *id,
			       const struct ls_ctx *ctx, struct err *e);
	int (*snapshot_copy)(struct storage_client *c, const char *svc, const char *id,
			     const struct snapshot_copy_req *req, const struct ls_ctx *ctx,
			     struct snapshot *out, struct err *e);
	int (*snapshot_create_volume)(struct storage_client *c, const char *svc, const char *id,
				      const struct volume_create_req *req,
				      const struct ls_ctx *ctx, struct volume *out,
				      struct err *e);
	int (*volume_copy)(struct storage_client *c, const char *svc, const char *volume_id,
			   const struct volume_copy_req *req, const struct ls_ctx *ctx,
			   struct volume *out, struct err *e);
	int (*volume_resize)(struct storage_client *c, const char *svc, const char *volume_id,
			     const struct volume_resize_req *req, const struct ls_ctx *ctx,
			     struct volume *out, struct err *e);
	/* Ours (POST /leases): renew the leases of ctx's attachments and wait
	 * up to wait_ms for a revocation (server/service.h ls_lease_renew). */
	int (*lease_renew)(struct storage_client *c, const struct ls_ctx *ctx, long long lease_ms,
			   long long wait_ms, struct volume_ref **out, size_t *n, struct err *e);
	/* POST /leases/{svc}/{id}?fenced: this host no longer writes the volume. */
	int (*lease_fenced)(struct storage_client *c, const char *svc, const char *id,
			    const struct ls_ctx *ctx, struct err *e);
	/* Ours, for CSI GetCapacity: the bytes a new volume of svc could be
	 * given now (server/service.h ls_service_capacity). NULL: the
	 * implementation cannot tell (the HTTP client, for now). */
	int (*service_capacity)(struct storage_client *c, const char *svc,
				const struct ls_ctx *ctx, int64_t *available, struct err *e);
	/* Ours: volume_inspect by name with ATT_REQUESTED, the volume lent to
	 * fn (types.h volume_view_fn) rather than copied out; it may run
	 * under the server's read lock. NULL: the implementation cannot lend
	 * (the HTTP client); inspect and lend the copy. */
	int (*volume_view)(struct storage_client *c, const char *svc, const char *name,
			   const struct ls_ctx *ctx, volume_view_fn fn, void *arg, struct err *e);
};

struct storage_client {
	const struct storage_client_ops *ops;
	void *impl;
};

struct ls_server;
struct cfg;
struct paths;

/* In-process client on a server the caller owns (borrowed; must outlive
 * the client). Returns 0 or -ENOMEM. */
int client_local_new(struct ls_server *srv, struct storage_client **out, struct err *e);

/*
 * HTTP client. host is "unix:///path.sock" or "tcp://host:port", or a
 * list of them, "tcp://a:7979,tcp://b:7979" (what libstorage.host holds):
 * requests start with the first and fail over to the next ones as
 * client/failover.h says. timeout_ms bounds each whole request to one
 * server (0 = 120 s). Plain HTTP, no token.
 * Returns 0, or -EINVAL naming a malformed host.
 */
int client_http_new(const char *host, long timeout_ms, struct storage_client **out,
		    struct err *e);

/* How the HTTP client secures a connection (libstorage.client.tls). */
enum http_tls_mode {
	HTTP_TLS_AUTO = 0,    /* unset: TLS for a TCP host that is not loopback, else off */
	HTTP_TLS_OFF,	      /* plain HTTP */
	HTTP_TLS_VERIFY,      /* the certificate must verify against ca_file (or the
			       * system CAs) and name the host (or server_name) */
	HTTP_TLS_INSECURE,    /* TLS without any check of the server */
	HTTP_TLS_KNOWN_HOSTS, /* no CA: the certificate's SHA-256 fingerprint must be
			       * listed for the host in known_hosts */
};

/*
 * Client options; every string is malloc'd and owned by the struct
 * (http_client_opts_release). The client copies what it keeps.
 */
struct http_client_opts {
	long timeout_ms;	  /* 0 = 120 s */
	int tls_mode;		  /* enum http_tls_mode */
	bool tls_unix;		  /* TLS on a unix socket too (LIBSTORAGE_TLS_SOCKITTOME) */
	char *ca_file;		  /* trusted CAs (PEM); NULL = the system's */
	char *cert_file;	  /* client certificate (PEM), or NULL */
	char *key_file;		  /* its key (PEM), or NULL */
	char *server_name;	  /* name the certificate must have, instead of the host */
	char *known_hosts_file;	  /* "host sha256 AA:BB:.." lines; NULL = none */
	char *user_known_hosts;	  /* a second one ($HOME/.rexray/known_hosts), or NULL */
	char *known_host;	  /* one inline line of that form, or NULL */
	char *token;		  /* bearer token sent with every request, or NULL */
};

/*
 * Read libstorage.client.tls and libstorage.client.auth.token (see
 * docs/security-tls.md) into *out (zeroed first):
 *   tls: false | true | verifyPeers | insecure | "HOST sha256 AA:BB:.." |
 *   a map {certFile, keyFile, trustedCertsFile, serverName, verifyPeers,
 *   knownHosts, insecure}; unset = HTTP_TLS_AUTO. libstorage.tls.* give
 *   trustedCertsFile (default <etc>/tls/cacerts when it exists),
 *   serverName, knownHosts (default <etc>/tls/known_hosts, plus
 *   $HOME/.rexray/known_hosts), insecure, and disabled (turns AUTO off).
 *   token: a JWT, or the path of a file holding one.
 * Returns 0, -EINVAL naming the key, -ENOMEM, -errno of reading the token.
 */
int http_client_opts_from_cfg(const struct cfg *cfg, const struct paths *paths,
			      struct http_client_opts *out, struct err *e);
void http_client_opts_release(struct http_client_opts *o);

/*
 * HTTP client with options (o may be NULL: plain HTTP, default timeout).
 * AUTO resolves here: unix sockets stay plain (unless tls_unix), loopback
 * TCP hosts stay plain, others use TLS: VERIFY with ca_file when one is
 * set, else KNOWN_HOSTS when a known_hosts file lists the host, else
 * VERIFY with the system CAs. In KNOWN_HOSTS mode the fingerprint is
 * checked before the request (and its token) is sent, on a new
 * connection per request. Plain HTTP on a unix socket needs no libcurl;
 * anything else loads it here.
 * With a list of hosts, each gets these options and its own TLS mode.
 * Returns 0, -EINVAL (bad host), -ENOMEM, -errno of reading a known_hosts
 * file, -ELIBACC when libcurl.so.4 is needed and cannot be loaded.
 */
int client_http_new_opts(const char *host, const struct http_client_opts *o,
			 struct storage_client **out, struct err *e);

/* The address an HTTP client sends its next request to first (its current
 * server, as given), or NULL when c is not an HTTP client. Borrowed from c;
 * it changes when the client fails over. */
const char *client_http_current(const struct storage_client *c);
/* How many servers an HTTP client has; 0 when c is not one. */
size_t client_http_servers(const struct storage_client *c);

/* Close and free; NULL is fine. */
void client_free(struct storage_client *c);

#endif
