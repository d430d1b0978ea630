/* grpcdl: gRPC core through dlopen (grpcdl.h says why). */
#define GRPCDL_NO_MACROS
#include "csi/grpcdl.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct grpcdl grpcdl;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_rc;
static char load_msg[ERR_MSG_MAX];

/* The function name in lib h into the table's slot at p. */
static int sym(void *h, const char *name, void *p)
{
	void *fn = dlsym(h, name);

	if (!fn) {
		snprintf(load_msg, sizeof(load_msg), "%s", dlerror());
		return -ELIBACC;
	}
	/* POSIX: a function pointer has the representation of a void * */
	memcpy(p, &fn, sizeof(fn));
	return 0;
}

static void load(void)
{
	/* RTLD_LOCAL: their symbols stay out of the global scope */
	void *g = dlopen(GRPCDL_SONAME, RTLD_NOW | RTLD_LOCAL);
	void *gpr = g ? dlopen(GPRDL_SONAME, RTLD_NOW | RTLD_LOCAL) : NULL;

	if (!g || !gpr) {
		snprintf(load_msg, sizeof(load_msg), "%s", dlerror());
		load_rc = -ELIBACC;
		return;
	}
#define GRPC_SYM(name) if (load_rc == 0) load_rc = sym(g, #name, &grpcdl.name);
#define GPR_SYM(name) if (load_rc == 0) load_rc = sym(gpr, #name, &grpcdl.name);
	GRPCDL_FUNCS(GRPC_SYM, GPR_SYM)
#undef GRPC_SYM
#undef GPR_SYM
}

int grpcdl_load(struct err *e)
{
	pthread_once(&once, load);
	if (load_rc < 0)
		return err_set(e, load_rc, "cannot load " GRPCDL_SONAME " (needed for the CSI "
			       "module; Debian package libgrpc29): %s", load_msg);
	return 0;
}
