/*
 * log: the only place library code prints. Levels follow REX-Ray
 * (panic fatal error warn info debug); the default is warn. Thread-safe:
 * each line is written with one fprintf to an unbuffered stream.
 * The level and the stream are the process's only logging globals.
 */
#ifndef RR_LOG_H
#define RR_LOG_H

#include <stdio.h>

enum log_level {
	LOG_PANIC = 0,
	LOG_FATAL,
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

/* Parse "warn", "DEBUG", ... Returns 0, or -EINVAL for an unknown name. */
int log_level_parse(const char *name, enum log_level *ret);
const char *log_level_name(enum log_level lvl);

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Where lines go; NULL means stderr. The stream is borrowed. */
void log_set_stream(FILE *f);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
