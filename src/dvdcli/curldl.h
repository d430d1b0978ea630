/*
 * curldl: libcurl loaded at run time with dlopen, for the plugin addresses
 * dvdcli does not speak itself (tcp://, http://, https://: unixhttp.h
 * covers unix sockets). Linked normally, libcurl and its ~32 libraries
 * (gnutls, krb5, ldap, ssh ...) would be loaded and relocated at every
 * dvdcli exec, ~5 ms, even though nearly every plugin is on a unix socket.
 *
 * Only the functions vplugin.c calls are looked up. The library is loaded
 * once per process, with curl_global_init, and never unloaded; in the
 * rexray binary, which links libcurl for src/client, dlopen finds the copy
 * already loaded. <curl/curl.h> is included for its types and constants
 * only: nothing here needs libcurl at link time.
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
	void (*easy_cleanup)(CURL *curl);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
};

/*
 * The loaded library's functions in *api.
 * Returns 0; -ELIBACC "cannot load libcurl.so.4 (needed for tcp:// and
 * http(s):// plugins): <dlerror>" when it is missing or lacks a function;
 * -EIO when curl_global_init fails. The outcome of the first call is kept:
 * later calls return it again without retrying.
 */
int curldl_get(const struct curldl **api, struct err *e);

#endif
