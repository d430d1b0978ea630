/*
 * csi/server: a small unary gRPC server on gRPC's core C API (completion
 * queue, worker threads) with protobuf-c messages: the transport of the
 * CSI services (spec/protocols.md section 2). Nothing outside csi/ names
 * grpc_ or protobuf_c_.
 *
 * The caller gives a table of methods {path, request descriptor, handler};
 * the server owns the socket, the calls and every buffer. A request for a
 * path not in the table (or with a NULL handler) is answered UNIMPLEMENTED;
 * a request whose message does not decode as the method's request type is
 * answered INVALID_ARGUMENT without calling the handler.
 *
 * Handlers run on the server's worker threads, several at once: they must
 * be thread-safe and may block (a slow handler occupies one worker).
 *
 * Only unix:///path addresses: the socket gets the mode asked for before
 * the server accepts; a stale socket file (nobody answers on it) is
 * replaced, a live one is an error; the socket is removed at stop.
 */
#ifndef RR_CSI_SERVER_H
#define RR_CSI_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

#include "util/err.h"

struct csi_server;
struct mx_requests;

/*
 * A handler: decode nothing, allocate the reply. On success set *reply to
 * a message of the method's response type and return 0; the server packs
 * it and frees it with protobuf_c_message_free_unpacked (so every string,
 * array and sub-message in it must be malloc'ed on its own, or be the
 * field's default). On failure return a negative errno and set *code
 * (GRPC_STATUS_*; left at OK, it is derived from the errno with
 * csi_status_from_errno) and msg (a human-readable message, NUL-terminated
 * within msgsz); *reply is then ignored and freed if set. req is borrowed.
 */
typedef int (*csi_handler_fn)(void *ctx, const ProtobufCMessage *req, ProtobufCMessage **reply,
			      grpc_status_code *code, char *msg, size_t msgsz);

struct csi_method {
	const char *path;                          /* "/csi.v1.Identity/Probe" */
	const ProtobufCMessageDescriptor *request; /* its request type */
	csi_handler_fn fn;                         /* NULL: UNIMPLEMENTED */
};

/* Start serving methods[0..n) (borrowed: they must outlive the server) on
 * address ("unix:///path.sock"), the socket chmod'ed to mode; ctx is passed
 * to every handler. Returns 0 and *out, or a negative errno (-EADDRINUSE:
 * a live server has the socket; -EEXIST: the path is not a socket). */
int csi_server_start(const char *address, mode_t mode, const struct csi_method *methods,
		     size_t n, void *ctx, struct csi_server **out, struct err *e);

/* Stop accepting, cancel the calls in flight, wait for the workers, remove
 * the socket and free everything. NULL is allowed. */
void csi_server_stop(struct csi_server *s);

/* Its calls so far, by method name ("NodeStageVolume") and gRPC status
 * code, with their durations (util/metrics.h); owned by s. */
struct mx_requests *csi_server_requests(struct csi_server *s);

/* "unix:///path.sock"; owned by s. */
const char *csi_server_address(const struct csi_server *s);

/* The gRPC status for a negative errno: -EINVAL INVALID_ARGUMENT, -ENOENT
 * NOT_FOUND, -EEXIST ALREADY_EXISTS, -EBUSY FAILED_PRECONDITION, -EAGAIN
 * ABORTED, -ERANGE OUT_OF_RANGE, -ENOSPC RESOURCE_EXHAUSTED, -ENOTSUP
 * UNIMPLEMENTED, ... INTERNAL for anything else (0: OK). */
grpc_status_code csi_status_from_errno(int r);

/* "INVALID_ARGUMENT" ...; for logs. */
const char *csi_status_name(grpc_status_code code);

#endif
