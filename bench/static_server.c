/*
 * static_server: the B1 baseline (bench/README.md). A Docker volume plugin
 * that answers every /VolumeDriver.Get and /VolumeDriver.Path with a fixed
 * body, on the same HTTP library, threading model and socket type as the
 * engine's plugin (src/net/httpd.c): libmicrohttpd with an internal
 * polling thread and a thread per connection, on a unix socket it created
 * and listens on itself (backlog 128, mode 0660). The request body is read
 * and dropped; the reply carries the same Content-Type as the engine's.
 *
 *   static_server SOCKET GET_BODY_FILE PATH_BODY_FILE
 *   static_server SOCKET --memory
 *
 * --memory is B2's floor: a plugin that keeps volume names in memory and
 * answers Create, Get, Remove, Path, List and Capabilities at once, so that
 * what dockerd spends on a plugin (its client, the round trips) can be told
 * from what the engine spends behind it.
 *
 * Runs until SIGTERM or SIGINT; removes its socket on the way out.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTENT_TYPE "application/vnd.docker.plugins.v1.1+json"

static char *get_body, *path_body;
static size_t get_len, path_len;
static const char activate[] = "{\"Implements\":[\"VolumeDriver\"]}";
static const char notfound[] = "{\"Err\":\"no such plugin method\"}";

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			n--;
		buf[n] = '\0';
		*len = (size_t)n;
	}
	return buf;
}

static enum MHD_Result reply_mode(struct MHD_Connection *conn, unsigned status,
				  const char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, mode);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", CONTENT_TYPE);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body,
			     size_t len)
{
	return reply_mode(conn, status, body, len, MHD_RESPMEM_PERSISTENT);
}

/* ---- --memory: names in a small table ---- */

#define MEM_NAMES 4096
#define MEM_BODY 4096

static char *names[MEM_NAMES];
static pthread_mutex_t names_mu = PTHREAD_MUTEX_INITIALIZER;

struct body {
	size_t len;
	char text[MEM_BODY];
};

/* The "Name" of a request body (no escapes in the bench's names). */
static void name_of(const char *body, char *out, size_t sz)
{
	const char *p = strstr(body, "\"Name\":\"");
	size_t n = 0;

	if (p)
		for (p += 8; *p && *p != '"' && n + 1 < sz; p++)
			out[n++] = *p;
	out[n] = '\0';
}

static int find_name(const char *name)
{
	for (int i = 0; i < MEM_NAMES; i++)
		if (names[i] && strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/* 1: the name was there; then Remove drops it, Create keeps it. */
static bool names_op(const char *name, char op)
{
	bool had;
	int i;

	pthread_mutex_lock(&names_mu);
	i = find_name(name);
	had = i >= 0;
	if (op == 'c' && !had)
		for (i = 0; i < MEM_NAMES; i++)
			if (!names[i]) {
				names[i] = strdup(name);
				break;
			}
	if (op == 'r' && had) {
		free(names[i]);
		names[i] = NULL;
	}
	pthread_mutex_unlock(&names_mu);
	return had;
}

static enum MHD_Result reply_copy(struct MHD_Connection *conn, unsigned status, const char *body)
{
	return reply_mode(conn, status, body, strlen(body), MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result memory_answer(struct MHD_Connection *conn, const char *url,
				     const char *body)
{
	char name[256], out[512];

	name_of(body, name, sizeof(name));
	if (strcmp(url, "/Plugin.Activate") == 0)
		return reply(conn, 200, activate, sizeof(activate) - 1);
	if (strcmp(url, "/VolumeDriver.Capabilities") == 0)
		return reply_copy(conn, 200, "{\"Capabilities\":{\"Scope\":\"global\"}}");
	if (strcmp(url, "/VolumeDriver.List") == 0)
		return reply_copy(conn, 200, "{\"Volumes\":[],\"Err\":\"\"}");
	if (strcmp(url, "/VolumeDriver.Create") == 0) {
		names_op(name, 'c');
		return reply_copy(conn, 200, "{\"Err\":\"\"}");
	}
	if (strcmp(url, "/VolumeDriver.Remove") == 0)
		return reply_copy(conn, 200, names_op(name, 'r') ? "{\"Err\":\"\"}"
								  : "{\"Err\":\"not found\"}");
	if (strcmp(url, "/VolumeDriver.Get") == 0) {
		if (!names_op(name, 'g'))
			return reply_copy(conn, 500, "{\"Err\":\"not found\"}");
		snprintf(out, sizeof(out), "{\"Volume\":{\"Name\":\"%s\",\"Status\":{}},\"Err\":\"\"}",
			 name);
		return reply_copy(conn, 200, out);
	}
	if (strcmp(url, "/VolumeDriver.Path") == 0)
		return reply_copy(conn, 200, "{\"Mountpoint\":\"\",\"Err\":\"\"}");
	return reply(conn, 404, notfound, sizeof(notfound) - 1);
}

static enum MHD_Result on_memory_request(void *cls, struct MHD_Connection *conn, const char *url,
					 const char *method, const char *version,
					 const char *upload_data, size_t *upload_data_size,
					 void **con_cls)
{
	struct body *b = *con_cls;
	enum MHD_Result r;

	(void)cls;
	(void)method;
	(void)version;
	if (!b) {
		if (!(b = calloc(1, sizeof(*b))))
			return MHD_NO;
		*con_cls = b;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		if (n > MEM_BODY - 1 - b->len)
			n = MEM_BODY - 1 - b->len;
		memcpy(b->text + b->len, upload_data, n);
		b->len += n;
		*upload_data_size = 0;
		return MHD_YES;
	}
	r = memory_answer(conn, url, b->text);
	free(b);
	*con_cls = NULL;
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	static int marker;

	(void)cls;
	(void)method;
	(void)version;
	(void)upload_data;
	if (!*con_cls) { /* the headers: wait for the body */
		*con_cls = &marker;
		return MHD_YES;
	}
	if (*upload_data_size) { /* read and dropped */
		*upload_data_size = 0;
		return MHD_YES;
	}
	*con_cls = NULL;
	if (strcmp(url, "/VolumeDriver.Get") == 0)
		return reply(conn, 200, get_body, get_len);
	if (strcmp(url, "/VolumeDriver.Path") == 0)
		return reply(conn, 200, path_body, path_len);
	if (strcmp(url, "/Plugin.Activate") == 0)
		return reply(conn, 200, activate, sizeof(activate) - 1);
	return reply(conn, 404, notfound, sizeof(notfound) - 1);
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct MHD_Daemon *d;
	sigset_t set;
	int fd, sig;

	bool memory = argc == 3 && strcmp(argv[2], "--memory") == 0;

	if (argc != 4 && !memory) {
		fprintf(stderr, "usage: static_server SOCKET GET_BODY_FILE PATH_BODY_FILE\n"
				"       static_server SOCKET --memory\n");
		return 2;
	}
	if (!memory) {
		get_body = slurp(argv[2], &get_len);
		path_body = slurp(argv[3], &path_len);
	}
	if (!memory && (!get_body || !path_body)) {
		fprintf(stderr, "static_server: cannot read the reply bodies\n");
		return 1;
	}
	if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "static_server: socket path too long\n");
		return 1;
	}
	strcpy(sa.sun_path, argv[1]);
	unlink(argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(argv[1], 0660) < 0 || listen(fd, 128) < 0) {
		fprintf(stderr, "static_server: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	/* the stop signals go to sigwait, not to the server's threads */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
				     MHD_USE_ERROR_LOG,
			     0, NULL, NULL, memory ? on_memory_request : on_request, NULL,
			     MHD_OPTION_LISTEN_SOCKET, fd,
			     MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_CONNECTION_LIMIT,
			     1000u, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "static_server: cannot start libmicrohttpd\n");
		unlink(argv[1]);
		return 1;
	}
	while (sigwait(&set, &sig) != 0)
		;
	MHD_stop_daemon(d);
	unlink(argv[1]);
	return 0;
}
