#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = { "panic", "fatal", "error", "warn", "info", "debug" };
/* as logrus spells them in JSON */
static const char *const json_levels[] = { "panic", "fatal", "error", "warning", "info",
					   "debug" };
static enum log_level cur_level = LOG_WARN;
static FILE *cur_stream;
static bool json_format;
/* the log file: its path, for reopening, and its descriptor (-1: none) */
static pthread_mutex_t file_mu = PTHREAD_MUTEX_INITIALIZER;
static char file_path[4096];
static int file_fd = -1;

int log_level_parse(const char *name, enum log_level *ret)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*ret = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(name, "warning") == 0) {
		*ret = LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

const char *log_level_name(enum log_level lvl)
{
	return lvl <= LOG_DEBUG ? level_names[lvl] : "unknown";
}

void log_set_level(enum log_level lvl)
{
	cur_level = lvl;
}

enum log_level log_get_level(void)
{
	return cur_level;
}

void log_set_stream(FILE *f)
{
	cur_stream = f;
}

void log_set_json(bool on)
{
	json_format = on;
}

static int open_file(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
}

int log_open_file(const char *path)
{
	int fd;

	if (strlen(path) >= sizeof(file_path))
		return -ENAMETOOLONG;
	if ((fd = open_file(path)) < 0)
		return -errno;
	pthread_mutex_lock(&file_mu);
	if (file_fd >= 0)
		close(file_fd);
	file_fd = fd;
	strcpy(file_path, path);
	pthread_mutex_unlock(&file_mu);
	return 0;
}

int log_reopen(void)
{
	int fd, r = 0;

	pthread_mutex_lock(&file_mu);
	if (file_fd >= 0) {
		/* the old file stays ours until the new one is open */
		if ((fd = open_file(file_path)) < 0) {
			r = -errno;
		} else {
			close(file_fd);
			file_fd = fd;
		}
	}
	pthread_mutex_unlock(&file_mu);
	return r;
}

void log_close_file(void)
{
	pthread_mutex_lock(&file_mu);
	if (file_fd >= 0)
		close(file_fd);
	file_fd = -1;
	file_path[0] = '\0';
	pthread_mutex_unlock(&file_mu);
}

/* msg into out as the inside of a quoted string: logfmt's and JSON's
 * escapes (\" \\ \n \t, other controls as \u00XX) agree. */
static void escape(const char *msg, char *out, size_t sz)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)msg; *p && o + 7 < sz; p++) {
		if (*p == '"' || *p == '\\') {
			out[o++] = '\\';
			out[o++] = (char)*p;
		} else if (*p == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (*p == '\t') {
			out[o++] = '\\';
			out[o++] = 't';
		} else if (*p < 0x20 || *p == 0x7f) {
			o += (size_t)snprintf(out + o, sz - o, "\\u%04x", *p);
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o] = '\0';
}

static void emit(enum log_level lvl, const char *fmt, va_list ap)
{
	char msg[2048], esc[4096 + 16], line[4096 + 128], stamp[32];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	escape(msg, esc, sizeof(esc));
	if (json_format)
		n = snprintf(line, sizeof(line), "{\"level\":\"%s\",\"msg\":\"%s\",\"time\":"
			     "\"%s.%03ldZ\"}\n", json_levels[lvl], esc, stamp, ts.tv_nsec / 1000000);
	else
		n = snprintf(line, sizeof(line), "time=%s.%03ldZ level=%s msg=\"%s\"\n", stamp,
			     ts.tv_nsec / 1000000, level_names[lvl], esc);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	/* one write per sink, so that threads never interleave within a line */
	fwrite(line, 1, (size_t)n, cur_stream ? cur_stream : stderr);
	pthread_mutex_lock(&file_mu);
	if (file_fd >= 0 && write(file_fd, line, (size_t)n) < 0) {
		/* a full disk must not stop the engine; stderr still has it */
	}
	pthread_mutex_unlock(&file_mu);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (lvl > cur_level)
		return;
	va_start(ap, fmt);
	emit(lvl, fmt, ap);
	va_end(ap);
}

void log_always(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(LOG_INFO, fmt, ap);
	va_end(ap);
}
