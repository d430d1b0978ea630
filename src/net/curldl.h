/*
 * curldl: libcurl loaded at run time with dlopen, for the addresses that
 * unixhttp.h does not cover: dvdcli's tcp://, http:// and https://
 * plugins (volplugin/volplugin.c), and the libStorage client's tcp:// hosts and
 * TLS on a unix socket (client/rest.c). Neither binary links libcurl:
 * linked, it and its ~30 libraries (krb5, ldap, ssh, libcrypto ...) would
 * be loaded and relocated at every exec, ~5 ms and ~90% of the start-up
 * instructions of a CLI call, and ~3 MB of the engine's memory, even
 * though nearly every host and plugin is on a unix socket.
 *
 * Only the functions the callers use are looked up. The library is loaded
 * once per process, with curl_global_init, and never unloaded.
 * <curl/curl.h> is included for its types and constants only: nothing
 * here needs libcurl at link time.
 *
 * Thread-safe (pthread_once). The table is read-only and lives until exit.
 */
#ifndef RR_CURLDL_H
#define RR_CURLDL_H

#include <curl/curl.h>

#include "util/err.h"

#define CURLDL_SONAME "libcurl.so.4"

struct curldl {
	CURLcode (*global_init)(long flags);
	const char *(*easy_strerror)(CURLcode code);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_perform)(CURL *curl);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	void (*easy_reset)(CURL *curl);
	void (*easy_cleanup)(CURL *curl);
	char *(*easy_escape)(CURL *curl, const char *s, int length);
	void (*free)(void *p);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
};

/*
 * The loaded library's functions in *api. purpose says what needs it, for
 * the message ("tcp:// and http(s):// plugins").
 * Returns 0; -ELIBACC "cannot load libcurl.so.4 (needed for <purpose>):
 * <dlerror>" when it is missing or lacks a function; -EIO when
 * curl_global_init fails. The outcome of the first call is kept: later
 * calls return it again without retrying.
 */
int curldl_get(const struct curldl **api, const char *purpose, struct err *e);

#endif
