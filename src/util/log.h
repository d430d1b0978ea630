/*
 * log: the only place library code prints. Levels follow REX-Ray
 * (panic fatal error warn info debug); the default is warn. One format
 * for the whole program: logrus's text (time=... level=... msg="..."), or
 * its JSON with log_set_json (rexray.logFormat: json). Lines go to the
 * stream (stderr) and, when one is open, to a log file too, which
 * log_reopen opens again by its name (SIGHUP, for logrotate).
 * Thread-safe: each line is one write per sink.
 */
#ifndef RR_LOG_H
#define RR_LOG_H

#include <stdbool.h>
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

/* JSON lines instead of text. */
void log_set_json(bool on);
/* Also write every line to path (appended, created 0640). 0 or -errno. */
int log_open_file(const char *path);
/* Open the log file again by its name (after logrotate moved it). */
int log_reopen(void);
void log_close_file(void);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* At info, whatever the level: what a service says it does (listening). */
void log_always(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
