/* curldl: libcurl through dlopen (curldl.h says why). */
#include "net/curldl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define SYM(field, name) { name, offsetof(struct curldl, field) }

static const struct {
	const char *name;
	size_t offset; /* of the function pointer in struct curldl */
} syms[] = {
	SYM(global_init, "curl_global_init"),
	SYM(easy_strerror, "curl_easy_strerror"),
	SYM(easy_init, "curl_easy_init"),
	SYM(easy_setopt, "curl_easy_setopt"),
	SYM(easy_perform, "curl_easy_perform"),
	SYM(easy_getinfo, "curl_easy_getinfo"),
	SYM(easy_reset, "curl_easy_reset"),
	SYM(easy_cleanup, "curl_easy_cleanup"),
	SYM(easy_escape, "curl_easy_escape"),
	SYM(free, "curl_free"),
	SYM(slist_append, "curl_slist_append"),
	SYM(slist_free_all, "curl_slist_free_all"),
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct curldl api;
static int load_rc;
static bool load_failed; /* dlopen or dlsym: the message names the library */
static char load_msg[ERR_MSG_MAX];

static void fail(int code, bool loading, const char *detail)
{
	load_rc = code;
	load_failed = loading;
	snprintf(load_msg, sizeof(load_msg), "%s", detail ? detail : "unknown error");
}

static void load(void)
{
	/* RTLD_LOCAL: its symbols stay out of the global scope */
	void *h = dlopen(CURLDL_SONAME, RTLD_NOW | RTLD_LOCAL);
	CURLcode rc;

	if (!h) {
		fail(-ELIBACC, true, dlerror());
		return;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		void *fn = dlsym(h, syms[i].name);

		if (!fn) {
			fail(-ELIBACC, true, dlerror());
			return; /* h stays loaded: the library may have started threads */
		}
		/* POSIX: a function pointer has the representation of a void * */
		memcpy((char *)&api + syms[i].offset, &fn, sizeof(fn));
	}
	rc = api.global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK)
		fail(-EIO, false, api.easy_strerror(rc));
}

int curldl_get(const struct curldl **out, const char *purpose, struct err *e)
{
	pthread_once(&once, load);
	*out = NULL;
	if (load_rc < 0 && load_failed)
		return err_set(e, load_rc, "cannot load " CURLDL_SONAME " (needed for %s): %s",
			       purpose, load_msg);
	if (load_rc < 0)
		return err_set(e, load_rc, "libcurl: %s", load_msg);
	*out = &api;
	return 0;
}
