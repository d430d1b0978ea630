/* pqdl: libpq through dlopen (pqdl.h says why). */
#define PQDL_NO_MACROS
#include "store/pqdl.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct pqdl pqdl;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_rc;
static char load_msg[ERR_MSG_MAX];

static void load(void)
{
	/* RTLD_LOCAL: its symbols stay out of the global scope */
	void *h = dlopen(PQDL_SONAME, RTLD_NOW | RTLD_LOCAL);
	void *fn;

	if (!h) {
		snprintf(load_msg, sizeof(load_msg), "%s", dlerror());
		load_rc = -ELIBACC;
		return;
	}
	/* POSIX: a function pointer has the representation of a void * */
#define PQ_SYM(name)                                                                  \
	if (load_rc == 0) {                                                           \
		if ((fn = dlsym(h, #name)))                                           \
			memcpy(&pqdl.name, &fn, sizeof(fn));                          \
		else {                                                                \
			snprintf(load_msg, sizeof(load_msg), "%s", dlerror());        \
			load_rc = -ELIBACC;                                           \
		}                                                                     \
	}
	PQDL_FUNCS(PQ_SYM)
#undef PQ_SYM
}

int pqdl_load(struct err *e)
{
	pthread_once(&once, load);
	if (load_rc < 0)
		return err_set(e, load_rc, "cannot load " PQDL_SONAME " (needed for a "
			       "postgres:// store; Debian package libpq5): %s", load_msg);
	return 0;
}
