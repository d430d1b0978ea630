/*
 * loadgen: a closed-loop HTTP/1.1 load generator over AF_UNIX sockets, for
 * the rexray-c benchmarks (bench/README.md). Raw sockets and one epoll
 * thread: the client costs as little CPU as possible, so that on a small
 * machine the server under test gets the cores.
 *
 *   loadgen plugin --socket PATH [--clients 8] [--duration S | --requests N]
 *                  [--names 10000] [--prefix b] [--warmup S] [--methods Get,Path]
 *       Keep-alive clients, each with one request in flight, POSTing
 *       /VolumeDriver.<Method> {"Name":"<prefix><NNNNN>"} round-robin over the
 *       methods, names drawn at random from the first --names. Prints one
 *       JSON line: requests, seconds, rps, p50/p90/p99/max latency (us),
 *       errors (non-200 replies or broken connections).
 *
 *   loadgen create --socket PATH [--service vfs] [--clients 8] --count N [--prefix b]
 *       POST /volumes/<service> {"name":"<prefix><NNNNN>"} for N names over
 *       the libStorage REST API (201 expected; 409 "exists" is counted apart).
 *
 *   loadgen coldstart --socket PATH [--name b00000] [--timeout S] -- CMD ARGS...
 *       Start CMD, poll the socket every 100 us until it accepts, send one
 *       /VolumeDriver.Get (or GET / with --rest), and report the time from
 *       fork to the complete reply; then SIGTERM CMD (SIGKILL after 10 s)
 *       and wait for it.
 *
 * Exit status 0 when the run completed (errors are reported, not fatal),
 * 1 on a setup failure, 2 on a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 256
#define BUF_SZ	    (1 << 16)
#define MAX_METHODS 8

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int unix_connect(const char *path, bool nonblock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	if (nonblock)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* ---- HTTP response parsing ---- */

/* 1 = a complete response of *used bytes (status in *status), 0 = need
 * more, -1 = malformed. Only Content-Length bodies (what libmicrohttpd
 * sends for buffer responses). */
static int parse_response(const char *buf, size_t len, int *status, size_t *used)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	const char *p;
	long clen = -1;

	if (!end)
		return len > BUF_SZ / 2 ? -1 : 0;
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
		return -1;
	*status = atoi(buf + 9);
	for (p = buf; p && p < end;) {
		p = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!p)
			break;
		p += 2;
		if ((size_t)(end - p) > 15 && strncasecmp(p, "Content-Length:", 15) == 0)
			clen = strtol(p + 15, NULL, 10);
	}
	if (clen < 0)
		return -1;
	if ((size_t)(end + 4 - buf) + (size_t)clen > len)
		return 0;
	*used = (size_t)(end + 4 - buf) + (size_t)clen;
	return 1;
}

/* ---- the request mix ---- */

struct opts {
	const char *mode;
	const char *socket;
	const char *service;
	const char *prefix;
	const char *name;
	const char *methods_s;
	int clients;
	double duration;
	double warmup;
	long requests;
	long names;
	long count;
	double timeout;
	bool rest;
	char **cmd;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

struct conn {
	int fd;
	char out[1024];
	size_t out_len, out_off;
	char in[BUF_SZ];
	size_t in_len;
	double t0;
	bool busy;
};

struct stats {
	double *lat;
	size_t n, cap;
	long errors, bad_status, closed, conflicts;
};

static void stats_add(struct stats *s, double us)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 65536;
		s->lat = realloc(s->lat, s->cap * sizeof(*s->lat));
		if (!s->lat)
			die("out of memory");
	}
	s->lat[s->n++] = us;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double pct(const struct stats *s, double p)
{
	size_t i;

	if (!s->n)
		return 0;
	i = (size_t)(p / 100.0 * (double)(s->n - 1) + 0.5);
	return s->lat[i < s->n ? i : s->n - 1];
}

/* what one request is; returns its length */
typedef size_t (*make_req_fn)(const struct opts *o, long seq, char *buf, size_t sz);

static const char *methods[MAX_METHODS];
static int n_methods;

static size_t make_plugin_req(const struct opts *o, long seq, char *buf, size_t sz)
{
	char body[160];
	long idx = (long)(rng() % (uint64_t)(o->names > 0 ? o->names : 1));
	int bl = snprintf(body, sizeof(body), "{\"Name\":\"%s%05ld\"}\n", o->prefix, idx);
	const char *m = methods[seq % n_methods];

	return (size_t)snprintf(buf, sz,
				"POST /VolumeDriver.%s HTTP/1.1\r\nHost: plugin\r\n"
				"Accept: application/vnd.docker.plugins.v1.2+json\r\n"
				"Content-Length: %d\r\n\r\n%s",
				m, bl, body);
}

static size_t make_create_req(const struct opts *o, long seq, char *buf, size_t sz)
{
	char body[160];
	int bl = snprintf(body, sizeof(body), "{\"name\":\"%s%05ld\"}", o->prefix, seq);

	return (size_t)snprintf(buf, sz,
				"POST /volumes/%s HTTP/1.1\r\nHost: libstorage-server\r\n"
				"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
				o->service, bl, body);
}

/*
 * The closed loop. Requests are numbered 0.. in issue order; stop issuing
 * at `limit` requests (when > 0) or at the deadline. Latencies are kept
 * only for requests issued after the warm-up.
 */
static void run_loop(const struct opts *o, make_req_fn make, long limit, double duration,
		     double warmup, int ok_status, struct stats *st, double *elapsed)
{
	struct conn *c = calloc((size_t)o->clients, sizeof(*c));
	struct epoll_event ev, evs[MAX_CLIENTS];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	long issued = 0, done = 0, inflight = 0;
	double start, measure_from, deadline, last_progress;
	bool stop = false;

	if (!c || ep < 0)
		die("setup: %s", strerror(errno));
	for (int i = 0; i < o->clients; i++) {
		c[i].fd = unix_connect(o->socket, true);
		if (c[i].fd < 0)
			die("connect %s: %s", o->socket, strerror(-c[i].fd));
		ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
		ev.data.u32 = (uint32_t)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev) < 0)
			die("epoll_ctl: %s", strerror(errno));
	}
	start = now_s();
	measure_from = start + warmup;
	deadline = measure_from + duration;
	last_progress = start;

#define ISSUE(k)                                                                      \
	do {                                                                          \
		c[k].out_len = make(o, issued++, c[k].out, sizeof(c[k].out));         \
		c[k].out_off = 0;                                                     \
		c[k].in_len = 0;                                                      \
		c[k].t0 = now_s();                                                    \
		c[k].busy = true;                                                     \
		inflight++;                                                           \
	} while (0)

	for (int i = 0; i < o->clients && (limit <= 0 || issued < limit); i++)
		ISSUE(i);
	while (inflight > 0) {
		int n = epoll_wait(ep, evs, MAX_CLIENTS, 1000);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait: %s", strerror(errno));
		if (n > 0)
			last_progress = now_s();
		else if (now_s() - last_progress > 30)
			die("no progress for 30 s (%ld requests in flight)", inflight);
		for (int j = 0; j < n; j++) {
			int k = (int)evs[j].data.u32;
			struct conn *cc = &c[k];
			bool progress = true;

			while (progress && cc->busy) {
				progress = false;
				if (cc->out_off < cc->out_len) {
					ssize_t w = send(cc->fd, cc->out + cc->out_off,
							 cc->out_len - cc->out_off, MSG_NOSIGNAL);
					if (w > 0) {
						cc->out_off += (size_t)w;
						progress = true;
					} else if (w < 0 && errno != EAGAIN) {
						die("send: %s", strerror(errno));
					}
					continue;
				}
				{
					ssize_t r = recv(cc->fd, cc->in + cc->in_len,
							 sizeof(cc->in) - cc->in_len, 0);
					int status = 0, pr;
					size_t used = 0;

					if (r == 0) {
						st->closed++;
						die("the server closed a connection after %ld replies",
						    done);
					}
					if (r < 0) {
						if (errno != EAGAIN)
							die("recv: %s", strerror(errno));
						break;
					}
					cc->in_len += (size_t)r;
					progress = true;
					pr = parse_response(cc->in, cc->in_len, &status, &used);
					if (pr < 0)
						die("malformed response: %.200s", cc->in);
					if (pr == 0)
						continue;
					if (used != cc->in_len)
						die("extra bytes after a response");
					{
						double t1 = now_s();
						if (cc->t0 >= measure_from)
							stats_add(st, (t1 - cc->t0) * 1e6);
						if (status == 409 && ok_status == 201)
							st->conflicts++;
						else if (status != ok_status)
							st->bad_status++;
						if (status != ok_status && st->bad_status <= 3 &&
						    status != 409)
							fprintf(stderr, "loadgen: status %d: %.300s\n",
								status, cc->in);
						cc->busy = false;
						inflight--;
						done++;
						if (t1 >= deadline && duration > 0)
							stop = true;
						if (!stop && (limit <= 0 || issued < limit)) {
							ISSUE(k);
							/* write at once: EPOLLOUT is edge-triggered */
						}
					}
				}
			}
		}
	}
#undef ISSUE
	*elapsed = now_s() - (warmup > 0 ? measure_from : start);
	for (int i = 0; i < o->clients; i++)
		close(c[i].fd);
	close(ep);
	free(c);
}

static void print_stats(const char *mode, struct stats *st, double secs, long requests)
{
	qsort(st->lat, st->n, sizeof(*st->lat), cmp_d);
	printf("{\"mode\":\"%s\",\"requests\":%ld,\"measured\":%zu,\"seconds\":%.6f,"
	       "\"rps\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
	       "\"errors\":%ld,\"conflicts\":%ld}\n",
	       mode, requests, st->n, secs, secs > 0 ? (double)st->n / secs : 0, pct(st, 50),
	       pct(st, 90), pct(st, 99), st->n ? st->lat[st->n - 1] : 0,
	       st->bad_status + st->closed, st->conflicts);
}

/* ---- cold start ---- */

static int one_request(const char *sock, const char *req, size_t len, int *status)
{
	char buf[BUF_SZ];
	size_t have = 0, used;
	int fd = unix_connect(sock, false);

	if (fd < 0)
		return fd;
	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		close(fd);
		return -EIO;
	}
	for (;;) {
		ssize_t r = recv(fd, buf + have, sizeof(buf) - have - 1, 0);
		int pr;
		if (r <= 0) {
			close(fd);
			return -EIO;
		}
		have += (size_t)r;
		buf[have] = '\0';
		pr = parse_response(buf, have, status, &used);
		if (pr < 0) {
			close(fd);
			return -EPROTO;
		}
		if (pr > 0)
			break;
	}
	close(fd);
	return 0;
}

static int coldstart(const struct opts *o)
{
	char req[512];
	size_t len;
	double t0, t_conn = -1, t_ans = -1;
	int status = 0, wst;
	pid_t pid;

	if (o->rest) {
		len = (size_t)snprintf(req, sizeof(req),
				       "GET / HTTP/1.1\r\nHost: libstorage-server\r\n\r\n");
	} else {
		char body[160];
		int bl = snprintf(body, sizeof(body), "{\"Name\":\"%s\"}\n", o->name);
		len = (size_t)snprintf(req, sizeof(req),
				       "POST /VolumeDriver.Get HTTP/1.1\r\nHost: plugin\r\n"
				       "Content-Length: %d\r\n\r\n%s",
				       bl, body);
	}
	unlink(o->socket); /* a stale socket would answer "refused" anyway */
	t0 = now_s();
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		setsid();
		execvp(o->cmd[0], o->cmd);
		_exit(127);
	}
	while (now_s() - t0 < o->timeout) {
		int r = one_request(o->socket, req, len, &status);
		if (r == 0) {
			t_ans = now_s();
			break;
		}
		if (r != -ENOENT && r != -ECONNREFUSED && t_conn < 0)
			t_conn = now_s();
		if (waitpid(pid, &wst, WNOHANG) == pid)
			die("%s exited (status %d) before answering", o->cmd[0], wst);
		{
			struct timespec ts = { 0, 100000 };
			nanosleep(&ts, NULL);
		}
	}
	kill(pid, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(pid, &wst, WNOHANG) == pid) {
			pid = 0;
			break;
		}
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	if (pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &wst, 0);
	}
	if (t_ans < 0)
		die("no answer within %.1f s", o->timeout);
	printf("{\"mode\":\"coldstart\",\"first_answer_ms\":%.3f,\"status\":%d}\n",
	       (t_ans - t0) * 1e3, status);
	return 0;
}

/* ---- main ---- */

static void usage(void)
{
	fputs("usage: loadgen plugin --socket PATH [--clients N] [--duration S | --requests N]\n"
	      "                      [--names N] [--prefix P] [--warmup S] [--methods Get,Path]\n"
	      "       loadgen create --socket PATH [--service vfs] [--clients N] --count N "
	      "[--prefix P]\n"
	      "       loadgen coldstart --socket PATH [--name N] [--rest] [--timeout S] -- CMD...\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = { .clients = 8, .duration = 0, .names = 10000, .prefix = "b",
			  .service = "vfs", .name = "b00000", .timeout = 30,
			  .methods_s = "Get,Path" };
	struct stats st = { 0 };
	double secs = 0;
	int i;

	if (argc < 2)
		usage();
	o.mode = argv[1];
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];
#define ARG(name) (strcmp(a, name) == 0 && i + 1 < argc)
		if (strcmp(a, "--") == 0) {
			o.cmd = argv + i + 1;
			break;
		} else if (ARG("--socket")) {
			o.socket = argv[++i];
		} else if (ARG("--clients")) {
			o.clients = atoi(argv[++i]);
		} else if (ARG("--duration")) {
			o.duration = atof(argv[++i]);
		} else if (ARG("--warmup")) {
			o.warmup = atof(argv[++i]);
		} else if (ARG("--requests")) {
			o.requests = atol(argv[++i]);
		} else if (ARG("--names")) {
			o.names = atol(argv[++i]);
		} else if (ARG("--count")) {
			o.count = atol(argv[++i]);
		} else if (ARG("--prefix")) {
			o.prefix = argv[++i];
		} else if (ARG("--service")) {
			o.service = argv[++i];
		} else if (ARG("--name")) {
			o.name = argv[++i];
		} else if (ARG("--methods")) {
			o.methods_s = argv[++i];
		} else if (ARG("--timeout")) {
			o.timeout = atof(argv[++i]);
		} else if (strcmp(a, "--rest") == 0) {
			o.rest = true;
		} else {
			usage();
		}
#undef ARG
	}
	if (!o.socket || o.clients < 1 || o.clients > MAX_CLIENTS)
		usage();
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(o.mode, "plugin") == 0) {
		char *m = strdup(o.methods_s), *save = NULL;
		for (char *t = strtok_r(m, ",", &save); t && n_methods < MAX_METHODS;
		     t = strtok_r(NULL, ",", &save))
			methods[n_methods++] = t;
		if (!n_methods || (o.duration <= 0 && o.requests <= 0))
			usage();
		run_loop(&o, make_plugin_req, o.requests, o.duration, o.warmup, 200, &st, &secs);
		print_stats("plugin", &st, secs, (long)st.n);
	} else if (strcmp(o.mode, "create") == 0) {
		if (o.count <= 0)
			usage();
		run_loop(&o, make_create_req, o.count, 0, 0, 201, &st, &secs);
		print_stats("create", &st, secs, o.count);
	} else if (strcmp(o.mode, "coldstart") == 0) {
		if (!o.cmd || !o.cmd[0])
			usage();
		return coldstart(&o);
	} else {
		usage();
	}
	return 0;
}
