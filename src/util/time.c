#include "util/time.h"

#include <errno.h>
#include <time.h>

long long time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long time_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* d as n decimal digits at p (0 <= d < 10^n). */
static void digits(char *p, unsigned d, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + d % 10);
		d /= 10;
	}
}

void time_utc_stamp(long long t, char *out)
{
	long long days = t / 86400, secs = t % 86400, z, era, y;
	unsigned doe, yoe, doy, mp, d, m;
	time_t tt = (time_t)t;
	struct tm tm;

	if (secs < 0) {
		secs += 86400;
		days--;
	}
	/* the proleptic Gregorian date of a day count (H. Hinnant's civil_from_days) */
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = (long long)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	if (y < 1000 || y > 9999) { /* %Y's width varies: strftime itself */
		if (!gmtime_r(&tt, &tm) ||
		    !strftime(out, TIME_STAMP_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm))
			out[0] = '\0';
		return;
	}
	digits(out, (unsigned)y, 4);
	out[4] = '-';
	digits(out + 5, m, 2);
	out[7] = '-';
	digits(out + 8, d, 2);
	out[10] = 'T';
	digits(out + 11, (unsigned)(secs / 3600), 2);
	out[13] = ':';
	digits(out + 14, (unsigned)(secs / 60 % 60), 2);
	out[16] = ':';
	digits(out + 17, (unsigned)(secs % 60), 2);
	out[19] = 'Z';
	out[20] = '\0';
}

void time_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
