#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <strings.h>
#include <time.h>

static const char *const level_names[] = { "panic", "fatal", "error", "warn", "info", "debug" };
static enum log_level cur_level = LOG_WARN;
static FILE *cur_stream;

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

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[2048], stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (lvl > cur_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One call per line so concurrent threads never interleave within a line. */
	fprintf(cur_stream ? cur_stream : stderr, "time=%s.%03ldZ level=%s msg=\"%s\"\n", stamp,
		ts.tv_nsec / 1000000, level_names[lvl], line);
}
