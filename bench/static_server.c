/*
 * static_server: the B1 baseline (bench/README.md). A Docker volume plugin
 * that answers every /VolumeDriver.Get and /VolumeDriver.Path with a fixed
 * body, on the same HTTP library, threading model and socket type as the
 * engine's plugin (src/server/httpd.c): libmicrohttpd with an internal
 * polling thread and a thread per connection, on a unix socket it created
 * and listens on itself (backlog 128, mode 0660). The request body is read
 * and dropped; the reply carries the same Content-Type as the engine's.
 *
 *   static_server SOCKET GET_BODY_FILE PATH_BODY_FILE
 *
 * Runs until SIGTERM or SIGINT; removes its socket on the way out.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
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

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body,
			     size_t len)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", CONTENT_TYPE);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
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

	if (argc != 4) {
		fprintf(stderr, "usage: static_server SOCKET GET_BODY_FILE PATH_BODY_FILE\n");
		return 2;
	}
	get_body = slurp(argv[2], &get_len);
	path_body = slurp(argv[3], &path_len);
	if (!get_body || !path_body) {
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
			     0, NULL, NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
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
