/*
 * time: the monotonic clock in milliseconds and a sleep that survives
 * signals, for deadlines, timeouts and backoffs everywhere (wall-clock
 * time is for log lines and records only). No state; thread-safe.
 */
#ifndef RR_TIME_H
#define RR_TIME_H

/* CLOCK_MONOTONIC in milliseconds. */
long long time_now_ms(void);

/* CLOCK_MONOTONIC in nanoseconds, for durations that metrics measure. */
long long time_now_ns(void);

/* Sleep ms milliseconds, resuming after a signal handler. */
void time_sleep_ms(long ms);

/* Unix time t as "2006-01-02T15:04:05Z" (UTC) into out (at least
 * TIME_STAMP_MAX bytes): the text gmtime_r + strftime("%Y-%m-%dT%H:%M:%SZ")
 * make, without their time-zone lock and format parsing (the Docker
 * plugin's Get writes one per call). "" when t cannot be broken down. */
#define TIME_STAMP_MAX 32
void time_utc_stamp(long long t, char *out);

#endif
