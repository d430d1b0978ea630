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

#endif
