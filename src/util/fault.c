#include "util/fault.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char target[128];
static long crash_on = 1;
static atomic_long hits;
static bool pause_only;

static void load(void)
{
	const char *v = getenv("REXRAY_CRASH_AT");
	const char *colon;

	if (!v || !*v) {
		v = getenv("REXRAY_PAUSE_AT");
		pause_only = true;
	}
	if (!v || !*v || strlen(v) >= sizeof(target))
		return;
	strcpy(target, v);
	colon = strchr(target, ':');
	if (colon) {
		crash_on = strtol(colon + 1, NULL, 10);
		target[colon - target] = '\0';
		if (crash_on < 1)
			crash_on = 1;
	}
}

/* raise(), not kill(getpid()): a signal sent to the process may be taken
 * by another thread, and this one would run on past the point (a rename,
 * a commit) before the stop or the kill reached it; one sent to this
 * thread is taken on the way back from the call. */
void fault_point(const char *name)
{
	pthread_once(&once, load);
	if (!target[0] || strcmp(name, target) != 0)
		return;
	if (atomic_fetch_add(&hits, 1) + 1 != crash_on)
		return;
	if (pause_only) { /* the test does its part, then sends SIGCONT */
		log_warn("fault: stopping at %s", name);
		raise(SIGSTOP);
		return;
	}
	log_warn("fault: crashing at %s", name);
	raise(SIGKILL);
}
