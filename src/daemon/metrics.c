/* daemon/metrics: the Prometheus exporter of a serving engine (metrics.h). */
#include "daemon/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "config/keys.h"
#include "csi/plugin.h"
#include "docker/plugin.h"
#include "integration/integration.h"
#include "net/addr.h"
#include "net/httpd.h"
#include "server/service.h"
#include "server/tls.h"
#include "store/store.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/version.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define PEM_MAX (256 * 1024)

struct metrics_exporter {
	struct httpd *h;
};

/* A label list built in a scratch buffer: reset, then n mx_label pairs
 * (key, value, ...), NULL after the last. */
__attribute__((sentinel)) static const char *labels(struct buf *lb, int n, ...)
{
	va_list ap;

	lb->len = 0;
	if (lb->data)
		lb->data[0] = '\0';
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		const char *k = va_arg(ap, const char *), *v = va_arg(ap, const char *);
		if (mx_label(lb, k, v) < 0)
			break;
	}
	va_end(ap);
	return lb->data ? lb->data : "";
}

/* ---- the engine's parts ---- */

static int write_build(struct buf *b, struct buf *lb)
{
	return mx_family(b, "rexray_build_info", "gauge",
			 "The version of this engine; the value is always 1.") ||
	       mx_sample(b, "rexray_build_info",
			 labels(lb, 3, "version", RR_SEMVER, "commit", version_commit(), "branch",
				version_branch(), NULL),
			 1);
}

static int write_requests(struct engine *en, struct buf *b, struct buf *lb)
{
	int r = 0;

	if (en->server) {
		r = mx_family(b, "rexray_libstorage_request_duration_seconds", "histogram",
			      "libStorage REST requests by route and status: how long each took.");
		if (r == 0)
			r = mx_requests_write(b, ls_server_requests(en->server),
					      "rexray_libstorage_request_duration_seconds", "route",
					      NULL);
	}
	if (r == 0 && en->n_modules)
		r = mx_family(b, "rexray_docker_request_duration_seconds", "histogram",
			      "Docker volume plugin requests by module, method and status: how "
			      "long each took.");
	for (size_t i = 0; r == 0 && i < en->n_modules; i++)
		r = mx_requests_write(b, docker_module_requests(en->modules[i]),
				      "rexray_docker_request_duration_seconds", "method",
				      labels(lb, 1, "module", docker_module_name(en->modules[i]),
					     NULL));
	if (r == 0 && en->n_csi)
		r = mx_family(b, "rexray_csi_request_duration_seconds", "histogram",
			      "CSI gRPC calls by module, method and status code (0 is OK): how "
			      "long each took.");
	for (size_t i = 0; r == 0 && i < en->n_csi; i++)
		r = mx_requests_write(b, csi_module_requests(en->csi[i]),
				      "rexray_csi_request_duration_seconds", "method",
				      labels(lb, 1, "module", csi_module_name(en->csi[i]), NULL));
	return r;
}

/* The integrations of this process, grouped by service: the Docker
 * modules', the csi modules' node halves' and the engine's own (made by the CLI side on first use). */
struct ig_sum {
	const char *service;
	struct mx_snap attach, format, mount;
	unsigned long long ops[INTEG_OPS];
};

static size_t gather_integrations(struct engine *en, struct ig_sum *sums, size_t max)
{
	struct integration *all[DOCKER_MAX_MODULES + CSI_MAX_MODULES + 1];
	size_t n_all = 0, n = 0;

	for (size_t i = 0; i < en->n_module_igs; i++)
		all[n_all++] = en->module_igs[i];
	if (en->integration)
		all[n_all++] = en->integration;
	for (size_t i = 0; i < n_all; i++) {
		const struct integ_stats *st = integ_stats(all[i]);
		const char *svc = integ_service(all[i]);
		size_t k = 0;

		while (k < n && strcasecmp(sums[k].service, svc) != 0)
			k++;
		if (k == n) {
			if (n == max)
				continue;
			memset(&sums[n], 0, sizeof(sums[n]));
			sums[n++].service = svc;
		}
		mx_snap_add(&sums[k].attach, &st->attach);
		mx_snap_add(&sums[k].format, &st->format);
		mx_snap_add(&sums[k].mount, &st->mount);
		for (int o = 0; o < INTEG_OPS; o++)
			sums[k].ops[o] += atomic_load(&st->ops[o]);
	}
	return n;
}

static int write_integrations(struct engine *en, struct buf *b, struct buf *lb)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} hist[] = {
		{ "rexray_attach_duration_seconds",
		  "Attaching a volume to this host (the server's attach call).",
		  offsetof(struct ig_sum, attach) },
		{ "rexray_format_duration_seconds", "Making a filesystem on a new volume (mkfs).",
		  offsetof(struct ig_sum, format) },
		{ "rexray_mount_duration_seconds", "The mount call of a volume's filesystem.",
		  offsetof(struct ig_sum, mount) },
	};
	static const char *const op[INTEG_OPS][2] = { { "mount", "ok" }, { "mount", "error" },
						      { "unmount", "ok" },
						      { "unmount", "error" } };
	struct ig_sum sums[DOCKER_MAX_MODULES + 1];
	size_t n = gather_integrations(en, sums, DOCKER_MAX_MODULES + 1);
	int r = 0;

	if (!n)
		return 0;
	for (size_t h = 0; r == 0 && h < sizeof(hist) / sizeof(hist[0]); h++) {
		r = mx_family(b, hist[h].name, "histogram", hist[h].help);
		for (size_t i = 0; r == 0 && i < n; i++)
			r = mx_hist_write(b, hist[h].name,
					  labels(lb, 1, "service", sums[i].service, NULL),
					  (const struct mx_snap *)((const char *)&sums[i] +
								   hist[h].off));
	}
	if (r == 0)
		r = mx_family(b, "rexray_volume_operations_total", "counter",
			      "Mounts and unmounts asked of this host (Docker, dvdcli, the CLI), "
			      "by result.");
	for (size_t i = 0; r == 0 && i < n; i++)
		for (int o = 0; r == 0 && o < INTEG_OPS; o++)
			r = mx_sample(b, "rexray_volume_operations_total",
				      labels(lb, 3, "service", sums[i].service, "operation",
					     op[o][0], "result", op[o][1], NULL),
				      (double)sums[i].ops[o]);
	return r;
}

static int write_fencing(struct engine *en, struct buf *b, struct buf *lb)
{
	static const char *const reason[ENGINE_FENCE_KINDS] = { "revoked", "lease_lost",
								"taken" };
	int r = mx_family(b, "rexray_fenced_volumes_total", "counter",
			  "Volumes this host fenced (shut down, unmounted, detached), by why: "
			  "revoked by the server for another host's preempt, the server out of "
			  "reach for half a lease, or found attached elsewhere.");

	for (int k = 0; r == 0 && k < ENGINE_FENCE_KINDS; k++)
		r = mx_sample(b, "rexray_fenced_volumes_total",
			      labels(lb, 1, "reason", reason[k], NULL),
			      (double)atomic_load(&en->fenced[k]));
	return r;
}

static int write_store(struct engine *en, struct buf *b)
{
	struct mx_snap s = { 0 };

	if (!en->store)
		return 0;
	mx_snap_add(&s, store_tx_latency(en->store));
	if (en->records && en->records != en->store) /* the shared database's */
		mx_snap_add(&s, store_tx_latency(en->records));
	return mx_family(b, "rexray_store_transaction_duration_seconds", "histogram",
			 "Write transactions of the state databases, begin to commit.") ||
	       mx_hist_write(b, "rexray_store_transaction_duration_seconds", NULL, &s);
}

/* ---- volumes and uses ---- */

struct vol_count {
	unsigned long long attached, available;
};

static int count_volume(void *arg, struct volume *v, struct err *e)
{
	struct vol_count *c = arg;

	(void)e;
	if (v->n_attachments)
		c->attached++;
	else
		c->available++;
	return 0;
}

static int write_volumes(struct engine *en, struct buf *b, struct buf *lb)
{
	size_t n;
	int r;

	if (!en->server)
		return 0; /* an agent: the server it talks to exports them */
	n = ls_server_service_count(en->server);
	r = mx_family(b, "rexray_volumes", "gauge",
		      "Volumes of each service, by state: attached to some host, or available.");
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct service *svc = ls_server_service_at(en->server, i);
		struct ls_ctx ctx = { 0 };
		struct vol_count c = { 0 };
		struct err e = ERR_INIT;

		if (ls_volumes_each(en->server, svc->name, ATT_REQUESTED, &ctx, count_volume, &c,
				    &e) < 0) {
			log_warn("metrics: volumes of %s: %s", svc->name, e.msg);
			continue;
		}
		r = mx_sample(b, "rexray_volumes",
			      labels(lb, 2, "service", svc->name, "state", "attached", NULL),
			      (double)c.attached);
		if (r == 0)
			r = mx_sample(b, "rexray_volumes",
				      labels(lb, 2, "service", svc->name, "state", "available",
					     NULL),
				      (double)c.available);
	}
	return r;
}

struct use_write {
	struct buf *b, *lb;
	const char *name;
	int which; /* 0: volumes, 1: uses */
	int r;
};

static void write_use_row(void *arg, const char *service, int64_t volumes, int64_t uses)
{
	struct use_write *w = arg;

	if (w->r == 0)
		w->r = mx_sample(w->b, w->name, labels(w->lb, 1, "service", service, NULL),
				 (double)(w->which ? uses : volumes));
}

static int write_uses(struct engine *en, struct buf *b, struct buf *lb)
{
	struct use_write w = { b, lb, "rexray_mounted_volumes", 0, 0 };
	struct err e = ERR_INIT;
	int r;

	if (!en->store)
		return 0;
	r = mx_family(b, w.name, "gauge", "Volumes mounted on this host (a use count above 0).");
	if (r == 0 && store_use_totals(en->store, write_use_row, &w, &e) < 0)
		log_warn("metrics: %s", e.msg);
	if ((r = r ? r : w.r) != 0)
		return r;
	w.name = "rexray_volume_uses";
	w.which = 1;
	r = mx_family(b, w.name, "gauge",
		      "Uses of the volumes mounted on this host: each container or caller that "
		      "mounted one and has not unmounted it.");
	if (r == 0 && store_use_totals(en->store, write_use_row, &w, &e) < 0)
		log_warn("metrics: %s", e.msg);
	return r ? r : w.r;
}

/* ---- the process ---- */

static double boot_time(void)
{
	char *text = NULL, *p;
	size_t len;
	double t = 0;

	if (fs_read_file("/proc/stat", 1 << 20, &text, &len) < 0)
		return 0;
	if ((p = strstr(text, "\nbtime ")))
		t = strtod(p + 7, NULL);
	free(text);
	return t;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own */
}

static int write_process(struct buf *b)
{
	unsigned long utime = 0, stime = 0, vsize = 0;
	unsigned long long start = 0;
	long rss = 0, tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	char *text = NULL, *p;
	struct rlimit rl;
	size_t len;
	int r = 0, fds = count_fds();

	if (fs_read_file("/proc/self/stat", 4096, &text, &len) < 0)
		return 0;
	/* after the command's closing parenthesis: fields 3.. */
	p = strrchr(text, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d "
			 "%*d %*d %*d %llu %lu %ld", &utime, &stime, &start, &vsize, &rss) != 5) {
		free(text);
		return 0;
	}
	free(text);
	if (tick <= 0)
		tick = 100;
	r = mx_family(b, "process_cpu_seconds_total", "counter",
		      "Total user and system CPU time spent in seconds.") ||
	    mx_sample(b, "process_cpu_seconds_total", NULL, (double)(utime + stime) / tick) ||
	    mx_family(b, "process_resident_memory_bytes", "gauge",
		      "Resident memory size in bytes.") ||
	    mx_sample(b, "process_resident_memory_bytes", NULL, (double)rss * page) ||
	    mx_family(b, "process_virtual_memory_bytes", "gauge",
		      "Virtual memory size in bytes.") ||
	    mx_sample(b, "process_virtual_memory_bytes", NULL, (double)vsize) ||
	    mx_family(b, "process_start_time_seconds", "gauge",
		      "Start time of the process since unix epoch in seconds.") ||
	    mx_sample(b, "process_start_time_seconds", NULL, boot_time() + (double)start / tick);
	if (r == 0 && fds >= 0)
		r = mx_family(b, "process_open_fds", "gauge", "Number of open file descriptors.") ||
		    mx_sample(b, "process_open_fds", NULL, fds);
	if (r == 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0)
		r = mx_family(b, "process_max_fds", "gauge",
			      "Maximum number of open file descriptors.") ||
		    mx_sample(b, "process_max_fds", NULL, (double)rl.rlim_cur);
	return r;
}

int metrics_render(struct engine *en, struct buf *b)
{
	struct buf lb = { 0 };
	int r = write_build(b, &lb) || write_requests(en, b, &lb) ||
		write_integrations(en, b, &lb) || write_fencing(en, b, &lb) ||
		write_store(en, b) || write_volumes(en, b, &lb) || write_uses(en, b, &lb) ||
		write_process(b);

	buf_release(&lb);
	return r ? -ENOMEM : 0;
}

/* ---- the endpoint ---- */

static void handle(void *arg, struct httpd_request *rq, const char *method, const char *url,
		   const char *body, size_t len, bool too_big, struct httpd_reply *out)
{
	struct engine *en = arg;
	struct buf b = { 0 };

	(void)rq;
	(void)body;
	(void)len;
	(void)too_big;
	out->content_type = "text/plain; charset=utf-8";
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		out->status = 405;
		out->body = strdup("only GET is allowed\n");
		return;
	}
	if (strcmp(url, "/metrics") != 0) {
		out->status = 404;
		out->body = strdup("the metrics are at /metrics\n");
		return;
	}
	if (metrics_render(en, &b) < 0) {
		buf_release(&b);
		out->status = 500;
		out->body = strdup("out of memory\n");
		return;
	}
	out->status = 200;
	out->content_type = CONTENT_TYPE;
	out->body = b.data ? b.data : strdup("");
}

static int load_tls(const struct cfg *cfg, const char *address, struct httpd_tls *tls,
		    bool *on, struct err *e)
{
	const char *cert = cfg_key_get(cfg, CFGK_METRICS_CERTFILE);
	const char *key = cfg_key_get(cfg, CFGK_METRICS_KEYFILE);
	char host[256];
	size_t len;
	int r;

	memset(tls, 0, sizeof(*tls));
	*on = cert && *cert && key && *key;
	if (!*on) {
		if ((cert && *cert) || (key && *key))
			return err_set(e, -EINVAL, "config: rexray.metrics.tls: set both certFile "
				       "and keyFile, or neither");
		if (strncasecmp(address, "tcp://", 6) != 0 ||
		    (tls_address_host(address, host, sizeof(host)) == 0 &&
		     net_host_is_loopback(host)))
			return 0;
		return err_set(e, -EPERM, "config: rexray.metrics.address: '%s' is not a "
			       "loopback address: the metrics name volumes and services, so "
			       "serving them to the network needs rexray.metrics.tls.certFile and "
			       "keyFile", address);
	}
	if ((r = fs_read_file(cert, PEM_MAX, &tls->cert_pem, &len)) < 0)
		return err_set(e, r, "config: rexray.metrics.tls.certFile: cannot read '%s': %s",
			       cert, strerror(-r));
	if ((r = fs_read_file(key, PEM_MAX, &tls->key_pem, &len)) < 0) {
		httpd_tls_release(tls);
		return err_set(e, r, "config: rexray.metrics.tls.keyFile: cannot read '%s': %s",
			       key, strerror(-r));
	}
	return 0;
}

int metrics_start(struct engine *en, struct err *e)
{
	const char *address = cfg_key_get(en->cfg, CFGK_METRICS_ADDRESS);
	struct metrics_exporter *m;
	struct httpd_tls tls;
	bool on = false;
	int r;

	if (!address || !*address)
		return 0;
	if ((r = load_tls(en->cfg, address, &tls, &on, e)) < 0)
		return r;
	if (!(m = calloc(1, sizeof(*m)))) {
		httpd_tls_release(&tls);
		return err_set(e, -ENOMEM, "out of memory");
	}
	r = httpd_start_tls(address, 0600, on ? &tls : NULL, handle, en, &m->h, e);
	httpd_tls_release(&tls);
	if (r < 0) {
		free(m);
		return err_prefix(e, "metrics endpoint (rexray.metrics.address)");
	}
	en->metrics = m;
	return 0;
}

void metrics_stop(struct engine *en)
{
	if (!en->metrics)
		return;
	httpd_stop(en->metrics->h);
	free(en->metrics);
	en->metrics = NULL;
}

const char *metrics_address(const struct engine *en)
{
	return en->metrics ? httpd_address(en->metrics->h) : NULL;
}
