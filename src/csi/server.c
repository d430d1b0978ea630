#include "csi/server.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "csi/grpcdl.h" /* after the gRPC headers: calls go through the loaded table */

#include "util/log.h"
#include "util/metrics.h"
#include "util/time.h"

#define CSI_WORKERS 4
#define CSI_MAX_METHODS 32

/*
 * Every tag on the completion queue points at a struct tag; kind says
 * what it is. A call slot lives from its request (REQUESTED) through its
 * reply (FINISHING) and is freed when the reply's batch completes, or
 * when its request fails (the server is stopping).
 */
enum tag_kind { TAG_CALL, TAG_SHUTDOWN };
enum call_state { REQUESTED, FINISHING };

struct tag {
	enum tag_kind kind;
};

struct call {
	struct tag tag; /* first: the queue's tag */
	struct csi_server *s;
	const struct csi_method *m; /* NULL: an unregistered method */
	size_t mi;
	enum call_state state;
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_call_details details; /* unregistered calls only */
	grpc_byte_buffer *payload;
	grpc_byte_buffer *reply;
	grpc_slice status_msg;
	int cancelled; /* RECV_CLOSE_ON_SERVER's answer */
};

struct csi_server {
	grpc_server *srv;
	grpc_completion_queue *cq;
	const struct csi_method *methods;
	size_t n;
	void *method_tags[CSI_MAX_METHODS];
	void *ctx;
	pthread_t workers[CSI_WORKERS];
	size_t n_workers;
	pthread_mutex_t mu; /* guards stopping against new requests */
	struct mx_requests requests; /* by method and status code */
	bool stopping, grpc_up;
	struct tag shutdown_tag;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char address[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	dev_t sock_dev; /* the socket file we made, to remove only ours */
	ino_t sock_ino;
};

/* ---- status codes ---- */

grpc_status_code csi_status_from_errno(int r)
{
	switch (-r) {
	case 0: return GRPC_STATUS_OK;
	case EINVAL: case ENAMETOOLONG: case E2BIG: case EBADMSG: return GRPC_STATUS_INVALID_ARGUMENT;
	case ENOENT: case ENODEV: case ENXIO: return GRPC_STATUS_NOT_FOUND;
	case EEXIST: return GRPC_STATUS_ALREADY_EXISTS;
	case EBUSY: case ENOTEMPTY: case EROFS: return GRPC_STATUS_FAILED_PRECONDITION;
	case EAGAIN: case EALREADY: case EINPROGRESS: return GRPC_STATUS_ABORTED;
	case ERANGE: case EOVERFLOW: case EFBIG: return GRPC_STATUS_OUT_OF_RANGE;
	case ENOSPC: case EDQUOT: case ENOMEM: case EMFILE: return GRPC_STATUS_RESOURCE_EXHAUSTED;
	case ENOTSUP: case ENOSYS: return GRPC_STATUS_UNIMPLEMENTED;
	case EACCES: case EPERM: return GRPC_STATUS_PERMISSION_DENIED;
	case ETIMEDOUT: return GRPC_STATUS_DEADLINE_EXCEEDED;
	case ECONNREFUSED: case ECONNRESET: case EHOSTUNREACH: case ENETUNREACH:
		return GRPC_STATUS_UNAVAILABLE;
	case ECANCELED: return GRPC_STATUS_CANCELLED;
	default: return GRPC_STATUS_INTERNAL;
	}
}

const char *csi_status_name(grpc_status_code code)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
		"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
		"UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
	};

	if ((unsigned)code < sizeof(names) / sizeof(names[0]))
		return names[code];
	return "UNKNOWN";
}

/* ---- gRPC's own log lines go through ours ---- */

static void grpc_log(gpr_log_func_args *a)
{
	enum log_level lvl = a->severity == GPR_LOG_SEVERITY_ERROR ? LOG_WARN : LOG_DEBUG;

	log_msg(lvl, "grpc: %s", a->message);
}

/* ---- calls ---- */

static void call_free(struct call *c)
{
	if (!c)
		return;
	if (c->call)
		grpc_call_unref(c->call);
	grpc_metadata_array_destroy(&c->md);
	if (!c->m)
		grpc_call_details_destroy(&c->details);
	if (c->payload)
		grpc_byte_buffer_destroy(c->payload);
	if (c->reply)
		grpc_byte_buffer_destroy(c->reply);
	grpc_slice_unref(c->status_msg);
	free(c);
}

/* Ask the server for the next call of method mi (or of any unregistered
 * method when mi == n). Returns false when none was asked for (stopping,
 * no memory). */
static bool request_call(struct csi_server *s, size_t mi)
{
	struct call *c = calloc(1, sizeof(*c));
	grpc_call_error ce;
	bool ok = false;

	if (!c) {
		log_error("csi: out of memory: a method stops taking calls");
		return false;
	}
	c->tag.kind = TAG_CALL;
	c->s = s;
	c->mi = mi;
	c->m = mi < s->n ? &s->methods[mi] : NULL;
	c->state = REQUESTED;
	c->status_msg = grpc_empty_slice();
	grpc_metadata_array_init(&c->md);
	if (!c->m)
		grpc_call_details_init(&c->details);
	pthread_mutex_lock(&s->mu);
	if (!s->stopping) {
		if (c->m)
			ce = grpc_server_request_registered_call(s->srv, s->method_tags[mi], &c->call,
								 &c->deadline, &c->md, &c->payload,
								 s->cq, s->cq, c);
		else
			ce = grpc_server_request_call(s->srv, &c->call, &c->details, &c->md, s->cq,
						      s->cq, c);
		ok = ce == GRPC_CALL_OK;
		if (!ok)
			log_error("csi: cannot ask for calls: grpc error %d", (int)ce);
	}
	pthread_mutex_unlock(&s->mu);
	if (!ok)
		call_free(c);
	return ok;
}

/* Decode the request, run the handler, encode its reply. Sets c->reply
 * (OK) or the status to send. */
static grpc_status_code run_handler(struct call *c, char *msg, size_t msgsz)
{
	const struct csi_method *m = c->m;
	ProtobufCMessage *req = NULL, *reply = NULL;
	grpc_status_code code = GRPC_STATUS_OK;
	grpc_byte_buffer_reader rd;
	grpc_slice all;
	uint8_t *buf = NULL;
	size_t len;
	int r;

	if (!c->payload) {
		snprintf(msg, msgsz, "no request message");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	if (!grpc_byte_buffer_reader_init(&rd, c->payload)) {
		snprintf(msg, msgsz, "cannot read the request message");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	all = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	req = protobuf_c_message_unpack(m->request, NULL, GRPC_SLICE_LENGTH(all),
					GRPC_SLICE_START_PTR(all));
	grpc_slice_unref(all);
	if (!req) {
		snprintf(msg, msgsz, "malformed %s", m->request->name);
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	msg[0] = '\0';
	r = m->fn(c->s->ctx, req, &reply, &code, msg, msgsz);
	protobuf_c_message_free_unpacked(req, NULL);
	if (r < 0 || code != GRPC_STATUS_OK) {
		if (code == GRPC_STATUS_OK)
			code = csi_status_from_errno(r);
		if (!msg[0])
			snprintf(msg, msgsz, "%s", strerror(r < 0 ? -r : EIO));
		goto out;
	}
	if (!reply) {
		snprintf(msg, msgsz, "the handler of %s gave no reply", m->path);
		code = GRPC_STATUS_INTERNAL;
		goto out;
	}
	len = protobuf_c_message_get_packed_size(reply);
	if (!(buf = malloc(len ? len : 1))) {
		snprintf(msg, msgsz, "out of memory");
		code = GRPC_STATUS_RESOURCE_EXHAUSTED;
		goto out;
	}
	protobuf_c_message_pack(reply, buf);
	{
		grpc_slice sl = grpc_slice_from_copied_buffer((const char *)buf, len);
		c->reply = grpc_raw_byte_buffer_create(&sl, 1);
		grpc_slice_unref(sl);
	}
out:
	free(buf);
	if (reply)
		protobuf_c_message_free_unpacked(reply, NULL);
	return code;
}

/* A call arrived: ask for the next one of its kind, answer this one. */
static void serve_call(struct call *c)
{
	struct csi_server *s = c->s;
	grpc_status_code code;
	char msg[512];
	grpc_op ops[4];
	size_t nops = 0;
	grpc_call_error ce;
	long long t0 = time_now_ns();

	request_call(s, c->mi);
	if (c->m && c->m->fn) {
		code = run_handler(c, msg, sizeof(msg));
	} else {
		const grpc_slice *p = &c->details.method;
		code = GRPC_STATUS_UNIMPLEMENTED;
		if (c->m)
			snprintf(msg, sizeof(msg), "%s is not implemented", c->m->path);
		else
			snprintf(msg, sizeof(msg), "%.*s is not implemented",
				 (int)(GRPC_SLICE_LENGTH(*p) > 200 ? 200 : GRPC_SLICE_LENGTH(*p)),
				 (const char *)GRPC_SLICE_START_PTR(*p));
	}
	if (code != GRPC_STATUS_OK)
		log_info("csi: %s: %s: %s", c->m ? c->m->path : "unregistered method",
			 csi_status_name(code), msg);
	mx_requests_observe(&s->requests, c->m ? strrchr(c->m->path, '/') + 1 : "other",
			    (unsigned)code, time_now_ns() - t0);
	memset(ops, 0, sizeof(ops));
	ops[nops++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (code == GRPC_STATUS_OK) {
		ops[nops].op = GRPC_OP_SEND_MESSAGE;
		ops[nops++].data.send_message.send_message = c->reply;
	}
	ops[nops].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[nops].data.send_status_from_server.status = code;
	if (code != GRPC_STATUS_OK) {
		c->status_msg = grpc_slice_from_copied_string(msg);
		ops[nops].data.send_status_from_server.status_details = &c->status_msg;
	}
	nops++;
	ops[nops].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[nops++].data.recv_close_on_server.cancelled = &c->cancelled;
	c->state = FINISHING;
	ce = grpc_call_start_batch(c->call, ops, nops, c, NULL);
	if (ce != GRPC_CALL_OK) {
		log_error("csi: cannot answer a call: grpc error %d", (int)ce);
		call_free(c);
	}
}

static void *worker(void *arg)
{
	struct csi_server *s = arg;

	for (;;) {
		grpc_event ev = grpc_completion_queue_next(s->cq,
							   gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		struct tag *t;

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		t = ev.tag;
		if (t->kind == TAG_SHUTDOWN) {
			/* every call is done: nothing more will be queued */
			grpc_completion_queue_shutdown(s->cq);
			continue;
		}
		{
			struct call *c = (struct call *)t;
			if (c->state == REQUESTED && ev.success)
				serve_call(c);
			else /* answered, or a request the stop cancelled */
				call_free(c);
		}
	}
	return NULL;
}

/* ---- the socket ---- */

static bool unix_socket_alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return alive;
}

/* Make the path free for our socket: a stale socket goes, a live one or
 * another file stays and is an error. (gRPC itself unlinks any socket
 * file at the path before binding, live or not: this check comes first.) */
static int clear_path(const char *path, struct err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(e, -ENAMETOOLONG, "unix socket path '%s' is longer than %zu bytes",
			       path, sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return err_set(e, -EEXIST, "'%s' exists and is not a socket", path);
	if (unix_socket_alive(&sa))
		return err_set(e, -EADDRINUSE, "'%s' is in use by a running server", path);
	log_info("csi: replacing the stale socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return err_set(e, -errno, "cannot remove the stale socket '%s': %s", path,
			       strerror(errno));
	return 0;
}

static int parse_address(struct csi_server *s, const char *address, struct err *e)
{
	const char *p;

	if (!address || strncmp(address, "unix://", 7) != 0)
		return err_set(e, -EINVAL, "csi address '%s': expected unix:///path.sock",
			       address ? address : "");
	p = address + 7;
	if (p[0] != '/')
		return err_set(e, -EINVAL, "csi address '%s': the path must be absolute", address);
	if (strlen(p) >= sizeof(s->path))
		return err_set(e, -ENAMETOOLONG, "unix socket path '%s' is longer than %zu bytes",
			       p, sizeof(s->path) - 1);
	strcpy(s->path, p);
	snprintf(s->address, sizeof(s->address), "unix://%s", s->path);
	return 0;
}

/* ---- start and stop ---- */

int csi_server_start(const char *address, mode_t mode, const struct csi_method *methods,
		     size_t n, void *ctx, struct csi_server **out, struct err *e)
{
	struct csi_server *s;
	grpc_server_credentials *creds;
	char target[sizeof(s->path) + 8];
	struct stat st;
	int r, port;

	*out = NULL;
	if (n > CSI_MAX_METHODS)
		return err_set(e, -E2BIG, "csi: more than %d methods", CSI_MAX_METHODS);
	if (!(s = calloc(1, sizeof(*s))))
		return err_set(e, -ENOMEM, "out of memory");
	pthread_mutex_init(&s->mu, NULL);
	mx_requests_init(&s->requests);
	s->methods = methods;
	s->n = n;
	s->ctx = ctx;
	s->shutdown_tag.kind = TAG_SHUTDOWN;
	if ((r = parse_address(s, address, e)) < 0 || (r = clear_path(s->path, e)) < 0 ||
	    (r = grpcdl_load(e)) < 0)
		goto fail;

	gpr_set_log_function(grpc_log);
	gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
	grpc_init();
	s->grpc_up = true;
	if (!(s->srv = grpc_server_create(NULL, NULL)) ||
	    !(s->cq = grpc_completion_queue_create_for_next(NULL))) {
		r = err_set(e, -ENOMEM, "csi: cannot create the gRPC server");
		goto fail;
	}
	grpc_server_register_completion_queue(s->srv, s->cq, NULL);
	for (size_t i = 0; i < n; i++) {
		if (!methods[i].fn)
			continue; /* answered UNIMPLEMENTED with the unknown paths */
		s->method_tags[i] = grpc_server_register_method(
			s->srv, methods[i].path, NULL, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
		if (!s->method_tags[i]) {
			r = err_set(e, -EINVAL, "csi: cannot register %s", methods[i].path);
			goto fail;
		}
	}
	snprintf(target, sizeof(target), "unix:%s", s->path);
	creds = grpc_insecure_server_credentials_create();
	port = grpc_server_add_http2_port(s->srv, target, creds);
	grpc_server_credentials_release(creds);
	if (port == 0) {
		r = err_set(e, -EADDRNOTAVAIL, "csi: cannot listen on '%s' (is its directory "
			    "there and writable?)", s->path);
		goto fail;
	}
	/* bound, not yet accepting: the mode is set before anyone is served */
	if (chmod(s->path, mode) < 0 || lstat(s->path, &st) < 0) {
		r = err_set(e, -errno, "csi: cannot set the mode of '%s': %s", s->path,
			    strerror(errno));
		goto fail;
	}
	s->sock_dev = st.st_dev;
	s->sock_ino = st.st_ino;
	grpc_server_start(s->srv);
	for (size_t i = 0; i <= n; i++) {
		if (i < n && !methods[i].fn)
			continue;
		/* one request outstanding per worker and method: a burst of calls
		 * of one kind waits for nothing but a free worker */
		for (int k = 0; k < CSI_WORKERS; k++)
			if (!request_call(s, i)) {
				r = err_set(e, -ENOMEM, "csi: cannot ask for calls");
				goto fail;
			}
	}
	for (; s->n_workers < CSI_WORKERS; s->n_workers++) {
		if (pthread_create(&s->workers[s->n_workers], NULL, worker, s) != 0) {
			r = err_set(e, -EAGAIN, "csi: cannot start a worker thread");
			goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	csi_server_stop(s);
	return r;
}

void csi_server_stop(struct csi_server *s)
{
	struct stat st;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_mutex_unlock(&s->mu);
	if (s->srv && s->cq) {
		/* started or not: a server with a listener must be shut down */
		grpc_server_shutdown_and_notify(s->srv, s->cq, &s->shutdown_tag);
		grpc_server_cancel_all_calls(s->srv);
		if (s->n_workers) {
			for (size_t i = 0; i < s->n_workers; i++)
				pthread_join(s->workers[i], NULL);
		} else {
			worker(s); /* failed before any worker: drain here */
		}
	} else if (s->cq) {
		grpc_completion_queue_shutdown(s->cq);
		worker(s);
	}
	if (s->srv)
		grpc_server_destroy(s->srv);
	if (s->cq)
		grpc_completion_queue_destroy(s->cq);
	/* only the socket we made: another server may have replaced it */
	if (s->sock_ino && lstat(s->path, &st) == 0 && st.st_ino == s->sock_ino &&
	    st.st_dev == s->sock_dev)
		unlink(s->path);
	if (s->grpc_up)
		grpc_shutdown();
	pthread_mutex_destroy(&s->mu);
	mx_requests_destroy(&s->requests);
	free(s);
}

struct mx_requests *csi_server_requests(struct csi_server *s)
{
	return &s->requests;
}

const char *csi_server_address(const struct csi_server *s)
{
	return s->address;
}
