/*
 * Unit tests for TLS: server/tls.c (when an endpoint serves TLS, and the
 * refusal of plain HTTP off loopback), client/http_tls.c (the
 * libstorage.client.tls forms, known_hosts, fingerprints), and the two
 * ends together: net/httpd.c with TLS against client/rest.c in every
 * mode, bearer token and client certificates included.
 *
 * The certificates below were made once with the openssl command line
 * (EC P-256, valid 2000-2126): a CA, a server certificate for 127.0.0.1
 * and localhost, and a client certificate, both signed by the CA.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <microhttpd.h>
#include <pthread.h>
#include <unistd.h>

#include "client/client.h"
#include "client/http_tls.h"
#include "config/config.h"
#include "net/addr.h"
#include "net/certfp.h"
#include "net/httpc.h"
#include "net/httpd.h"
#include "server/tls.h"

static const char CA_CRT[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBYjCCAQigAwIBAgIBATAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5yZXhyYXkt\n"
	"dGVzdC1jYTAgFw0wMDAxMDEwMDAwMDBaGA8yMTI2MDEwMTAwMDAwMFowGTEXMBUG\n"
	"A1UEAwwOcmV4cmF5LXRlc3QtY2EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARb\n"
	"jXYTZD5aIao0K6cm9Yj7wqp0lCgBYl/fiAYyadUJBbPTp7XLGFlpALKPRyqXwS+Z\n"
	"U5TQxWDZbqcLdGwmsxkToz8wPTAPBgNVHRMBAf8EBTADAQH/MAsGA1UdDwQEAwIB\n"
	"BjAdBgNVHQ4EFgQUNW1fDjEdazIdK/t72+6N6cN4YRkwCgYIKoZIzj0EAwIDSAAw\n"
	"RQIhALBbRMd0IFZBLcs+xHinHYxvBUjBqRURIlwhEvJUq7jeAiBqvYhjFP0VVbUp\n"
	"vf7giVpevLCcCR49DlNUQXf8w7vFrQ==\n"
	"-----END CERTIFICATE-----\n";

static const char SRV_CRT[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBjDCCATGgAwIBAgIBAjAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5yZXhyYXkt\n"
	"dGVzdC1jYTAgFw0wMDAxMDEwMDAwMDBaGA8yMTI2MDEwMTAwMDAwMFowDjEMMAoG\n"
	"A1UEAwwDc3J2MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEyUrdAr5ErU4XeSsd\n"
	"rO76QLg5oTSJR8dPOxlkqNfSY14+Glq18VzvcTDEuBWuDVOksz/VfzrdbulpbOJX\n"
	"1WgpQqNzMHEwGgYDVR0RBBMwEYcEfwAAAYIJbG9jYWxob3N0MBMGA1UdJQQMMAoG\n"
	"CCsGAQUFBwMBMB0GA1UdDgQWBBTlbPHzDah3LyMXbHfaPuCM5JIplzAfBgNVHSME\n"
	"GDAWgBQ1bV8OMR1rMh0r+3vb7o3pw3hhGTAKBggqhkjOPQQDAgNJADBGAiEAto5P\n"
	"CF/WYw5KG9KeXNYCLitQjI6XqCl/PEIMaLss1NICIQDI4itGqaxlhjDkztE141qO\n"
	"BuzOInXCdznvzPBB4D2vQg==\n"
	"-----END CERTIFICATE-----\n";

static const char SRV_KEY[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgll+D8MkwIYa3NvbX\n"
	"pZWu9vZaq82W0XuWInCjbi+zV2WhRANCAATJSt0CvkStThd5Kx2s7vpAuDmhNIlH\n"
	"x087GWSo19JjXj4aWrXxXO9xMMS4Fa4NU6SzP9V/Ot1u6Wls4lfVaClC\n"
	"-----END PRIVATE KEY-----\n";

static const char CLI_CRT[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBbjCCARWgAwIBAgIBAzAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5yZXhyYXkt\n"
	"dGVzdC1jYTAgFw0wMDAxMDEwMDAwMDBaGA8yMTI2MDEwMTAwMDAwMFowDjEMMAoG\n"
	"A1UEAwwDY2xpMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEgYAE7BMniPgW78Wf\n"
	"8MoN2QhwEXNzBTpvze1HeaezPiyu4CeeeNXBcE8ppoBfBEuf/OGOooaOO5adXn1L\n"
	"DRTvI6NXMFUwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHQYDVR0OBBYEFJPjtDezGTkW\n"
	"xeES0evxZmx2/8G9MB8GA1UdIwQYMBaAFDVtXw4xHWsyHSv7e9vujenDeGEZMAoG\n"
	"CCqGSM49BAMCA0cAMEQCIE4qFETBaT5jEMBkP5lOxOAi1nt54Ivq36IFqdKrf0Ax\n"
	"AiAkk/S63tEfYIxbyJ0noXiKIg9frufAZxp3Ew3XYTSRDg==\n"
	"-----END CERTIFICATE-----\n";

static const char CLI_KEY[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAFbrzJyPJ6zW9P0y\n"
	"gcPad16sXp4yfeLiSGN2xYWyVwahRANCAASBgATsEyeI+BbvxZ/wyg3ZCHARc3MF\n"
	"Om/N7Ud5p7M+LK7gJ5541cFwTymmgF8ES5/84Y6iho47lp1efUsNFO8j\n"
	"-----END PRIVATE KEY-----\n";

/* openssl x509 -in srv.crt -noout -fingerprint -sha256 */
#define SRV_FP                                                                                     \
	"B9:24:E2:AB:34:B2:74:10:05:B5:23:DE:4A:8B:DA:6B:1C:69:4E:C7:23:79:44:2A:BE:B6:6F:DE:20:"  \
	"5A:89:DE"
#define OTHER_FP                                                                                   \
	"00:24:E2:AB:34:B2:74:10:05:B5:23:DE:4A:8B:DA:6B:1C:69:4E:C7:23:79:44:2A:BE:B6:6F:DE:20:"  \
	"5A:89:DE"

static char tmp[64];
static struct paths paths;

static void path_of(char *out, size_t sz, const char *name)
{
	snprintf(out, sz, "%s/%s", tmp, name);
}

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	path_of(path, sizeof(path), name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void remove_file(const char *name)
{
	char path[256];

	path_of(path, sizeof(path), name);
	unlink(path);
}

static int setup(void **state)
{
	char cmd[256];

	(void)state;
	strcpy(tmp, "/tmp/rr-tls-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/etc/tls %s/home", tmp, tmp);
	if (system(cmd) != 0)
		return -1;
	memset(&paths, 0, sizeof(paths));
	snprintf(paths.etc, sizeof(paths.etc), "%s/etc", tmp);
	snprintf(cmd, sizeof(cmd), "%s/home", tmp);
	setenv("HOME", cmd, 1);
	write_file("ca.crt", CA_CRT);
	write_file("srv.crt", SRV_CRT);
	write_file("srv.key", SRV_KEY);
	write_file("cli.crt", CLI_CRT);
	write_file("cli.key", CLI_KEY);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

/* A cfg from YAML, with only the given environment. */
static struct cfg *cfg_of(const char *yaml, char **envp)
{
	char *no_env[] = { NULL };
	struct cfg *c = cfg_new();
	struct err e = ERR_INIT;

	assert_non_null(c);
	assert_int_equal(cfg_set_environ(c, envp ? envp : no_env), 0);
	if (cfg_load_string(c, "test.yml", yaml, strlen(yaml), &e) != 0)
		fail_msg("yaml: %s", e.msg);
	return c;
}

/* ---- server: when TLS ---- */

static void test_loopback(void **state)
{
	static const char *const yes[] = { "127.0.0.1", "127.9.8.7", "::1", "localhost",
					   "LOCALHOST", "::ffff:127.0.0.1", NULL };
	static const char *const no[] = { "", "0.0.0.0", "::", "10.1.2.3", "192.168.0.1",
					  "::ffff:10.0.0.1", NULL };
	char host[64];

	(void)state;
	for (int i = 0; yes[i]; i++)
		assert_true(net_host_is_loopback(yes[i]));
	for (int i = 0; no[i]; i++) {
		if (net_host_is_loopback(no[i]))
			fail_msg("'%s' taken for loopback", no[i]);
	}
	assert_int_equal(tls_address_host("tcp://[::1]:7979", host, sizeof(host)), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(tls_address_host("tcp://:7979", host, sizeof(host)), 0);
	assert_string_equal(host, "");
	assert_int_equal(tls_address_host("tcp://h.example:1", host, sizeof(host)), 0);
	assert_string_equal(host, "h.example");
	assert_int_equal(tls_address_host("unix:///x.sock", host, sizeof(host)), -EINVAL);
	assert_int_equal(tls_address_host("tcp://nohost", host, sizeof(host)), -EINVAL);
}

static int server_cfg(const char *yaml, char **envp, const char *name, const char *address,
		      struct httpd_tls *t, bool *on, struct err *e)
{
	struct cfg *c = cfg_of(yaml, envp);
	int r = tls_server_config(c, &paths, name, address, t, on, e);

	cfg_free(c);
	return r;
}

static void test_server_without_files(void **state)
{
	struct httpd_tls t;
	struct err e = ERR_INIT;
	bool on = true;

	(void)state;
	assert_int_equal(server_cfg("{}", NULL, NULL, "tcp://127.0.0.1:0", &t, &on, &e), 0);
	assert_false(on);
	assert_null(t.cert_pem);
	assert_int_equal(server_cfg("{}", NULL, NULL, "tcp://localhost:7979", &t, &on, &e), 0);
	assert_int_equal(server_cfg("{}", NULL, NULL, "tcp://[::1]:7979", &t, &on, &e), 0);
	assert_int_equal(server_cfg("{}", NULL, NULL, "unix:///tmp/x.sock", &t, &on, &e), 0);
	assert_false(on);
	/* reachable from elsewhere in clear text: refused, with the fix */
	assert_int_equal(server_cfg("{}", NULL, NULL, "tcp://0.0.0.0:7979", &t, &on, &e), -EPERM);
	assert_non_null(strstr(e.msg, "tcp://0.0.0.0:7979"));
	assert_non_null(strstr(e.msg, "libstorage.tls.certFile"));
	assert_non_null(strstr(e.msg, "libstorage.tls.disabled: true"));
	assert_int_equal(server_cfg("{}", NULL, NULL, "tcp://:7979", &t, &on, &e), -EPERM);
	assert_int_equal(server_cfg("{}", NULL, NULL, "tcp://10.1.2.3:7979", &t, &on, &e), -EPERM);
	/* unless plain HTTP is asked for */
	assert_int_equal(server_cfg("libstorage: {tls: {disabled: true}}", NULL, NULL,
				    "tcp://0.0.0.0:7979", &t, &on, &e), 0);
	assert_false(on);
	{
		char *env[] = { "LIBSTORAGE_TLS_DISABLED=true", NULL };
		assert_int_equal(server_cfg("{}", env, NULL, "tcp://:7979", &t, &on, &e), 0);
	}
	/* per endpoint */
	assert_int_equal(server_cfg("libstorage: {server: {endpoints: {pub: {tls: "
				    "{disabled: true}}}}}", NULL, "pub", "tcp://:7979", &t, &on,
				    &e), 0);
	assert_int_equal(server_cfg("libstorage: {server: {endpoints: {pub: {tls: "
				    "{disabled: true}}}}}", NULL, "other", "tcp://:7979", &t, &on,
				    &e), -EPERM);
}

static void test_server_default_files(void **state)
{
	struct httpd_tls t;
	struct err e = ERR_INIT;
	bool on = false;
	char *sock_env[] = { "LIBSTORAGE_TLS_SOCKITTOME=true", NULL };

	(void)state;
	write_file("etc/tls/rexray.crt", SRV_CRT);
	write_file("etc/tls/rexray.key", SRV_KEY);
	assert_int_equal(server_cfg("{}", NULL, NULL, "tcp://0.0.0.0:7979", &t, &on, &e), 0);
	assert_true(on);
	assert_string_equal(t.cert_pem, SRV_CRT);
	assert_string_equal(t.key_pem, SRV_KEY);
	assert_null(t.trust_pem);
	assert_false(t.client_cert_required);
	httpd_tls_release(&t);
	assert_int_equal(server_cfg("{}", NULL, NULL, "tcp://127.0.0.1:7979", &t, &on, &e), 0);
	assert_true(on);
	httpd_tls_release(&t);
	/* unix sockets stay plain unless sockittome */
	assert_int_equal(server_cfg("{}", NULL, NULL, "unix:///tmp/x.sock", &t, &on, &e), 0);
	assert_false(on);
	assert_int_equal(server_cfg("{}", sock_env, NULL, "unix:///tmp/x.sock", &t, &on, &e), 0);
	assert_true(on);
	httpd_tls_release(&t);
	assert_int_equal(server_cfg("libstorage: {tls: {disabled: true}}", NULL, NULL,
				    "tcp://0.0.0.0:7979", &t, &on, &e), 0);
	assert_false(on);
	/* client certificates need the CAs */
	assert_int_equal(server_cfg("libstorage: {tls: {clientCertRequired: true}}", NULL, NULL,
				    "tcp://0.0.0.0:7979", &t, &on, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "etc/tls/cacerts"));
	write_file("etc/tls/cacerts", CA_CRT);
	assert_int_equal(server_cfg("libstorage: {tls: {clientCertRequired: true}}", NULL, NULL,
				    "tcp://0.0.0.0:7979", &t, &on, &e), 0);
	assert_true(on);
	assert_true(t.client_cert_required);
	assert_string_equal(t.trust_pem, CA_CRT);
	httpd_tls_release(&t);
	remove_file("etc/tls/cacerts");
	/* half a pair is an error, not plain HTTP */
	remove_file("etc/tls/rexray.key");
	assert_int_equal(server_cfg("{}", NULL, NULL, "tcp://127.0.0.1:7979", &t, &on, &e),
			 -ENOENT);
	assert_non_null(strstr(e.msg, "rexray.key"));
	remove_file("etc/tls/rexray.crt");
}

static void test_server_bad_files(void **state)
{
	char yaml[1024];
	struct httpd_tls t;
	struct err e = ERR_INIT;
	bool on;

	(void)state;
	snprintf(yaml, sizeof(yaml), "libstorage: {tls: {certFile: %s/nope.crt, keyFile: "
		 "%s/srv.key}}", tmp, tmp);
	assert_int_equal(server_cfg(yaml, NULL, NULL, "tcp://127.0.0.1:1", &t, &on, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "nope.crt"));
	write_file("junk.crt", "not a certificate\n");
	snprintf(yaml, sizeof(yaml), "libstorage: {tls: {certFile: %s/junk.crt, keyFile: "
		 "%s/srv.key}}", tmp, tmp);
	assert_int_equal(server_cfg(yaml, NULL, NULL, "tcp://127.0.0.1:1", &t, &on, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "junk.crt"));
	assert_null(t.cert_pem);
	/* a key that is not the certificate's */
	snprintf(yaml, sizeof(yaml), "libstorage: {tls: {certFile: %s/srv.crt, keyFile: "
		 "%s/cli.key}}", tmp, tmp);
	assert_int_equal(server_cfg(yaml, NULL, NULL, "tcp://127.0.0.1:1", &t, &on, &e), -EINVAL);
	/* per-endpoint files win */
	snprintf(yaml, sizeof(yaml), "libstorage: {tls: {certFile: %s/junk.crt, keyFile: "
		 "%s/junk.key}, server: {endpoints: {a: {tls: {certFile: %s/srv.crt, keyFile: "
		 "%s/srv.key}}}}}", tmp, tmp, tmp, tmp);
	assert_int_equal(server_cfg(yaml, NULL, "a", "tcp://127.0.0.1:1", &t, &on, &e), 0);
	assert_true(on);
	httpd_tls_release(&t);
}

/* ---- client: libstorage.client.tls ---- */

static int opts_of(const char *yaml, char **envp, struct http_client_opts *o, struct err *e)
{
	struct cfg *c = cfg_of(yaml, envp);
	int r = http_client_opts_from_cfg(c, &paths, o, e);

	cfg_free(c);
	return r;
}

static void expect_mode(const char *yaml, int mode)
{
	struct http_client_opts o;
	struct err e = ERR_INIT;

	if (opts_of(yaml, NULL, &o, &e) != 0)
		fail_msg("%s: %s", yaml, e.msg);
	if (o.tls_mode != mode)
		fail_msg("%s: mode %d, not %d", yaml, o.tls_mode, mode);
	http_client_opts_release(&o);
}

static void test_client_modes(void **state)
{
	struct http_client_opts o;
	struct err e = ERR_INIT;
	char want[256];

	(void)state;
	assert_int_equal(opts_of("{}", NULL, &o, &e), 0);
	assert_int_equal(o.tls_mode, HTTP_TLS_AUTO);
	assert_null(o.ca_file);
	assert_null(o.token);
	assert_null(o.known_host);
	path_of(want, sizeof(want), "etc/tls/known_hosts");
	assert_string_equal(o.known_hosts_file, want);
	path_of(want, sizeof(want), "home/.rexray/known_hosts");
	assert_string_equal(o.user_known_hosts, want);
	http_client_opts_release(&o);

	expect_mode("libstorage: {client: {tls: false}}", HTTP_TLS_OFF);
	expect_mode("libstorage: {client: {tls: true}}", HTTP_TLS_VERIFY);
	expect_mode("libstorage: {client: {tls: verifyPeers}}", HTTP_TLS_VERIFY);
	expect_mode("libstorage: {client: {tls: insecure}}", HTTP_TLS_INSECURE);
	expect_mode("libstorage: {client: {tls: {insecure: true}}}", HTTP_TLS_INSECURE);
	expect_mode("libstorage: {client: {tls: {verifyPeers: false}}}", HTTP_TLS_INSECURE);
	expect_mode("libstorage: {client: {tls: {verifyPeers: true}}}", HTTP_TLS_VERIFY);
	expect_mode("libstorage: {client: {tls: {serverName: x}}}", HTTP_TLS_VERIFY);
	expect_mode("libstorage: {tls: {disabled: true}}", HTTP_TLS_OFF);
	expect_mode("libstorage: {tls: {insecure: true}}", HTTP_TLS_INSECURE);

	assert_int_equal(opts_of("libstorage: {client: {tls: '10.0.0.1 sha256 " SRV_FP "'}}",
				 NULL, &o, &e), 0);
	assert_int_equal(o.tls_mode, HTTP_TLS_KNOWN_HOSTS);
	assert_string_equal(o.known_host, "10.0.0.1 sha256 " SRV_FP);
	http_client_opts_release(&o);

	assert_int_equal(opts_of("libstorage: {client: {tls: {knownHosts: /k/h, "
				 "trustedCertsFile: /ca, certFile: /c, keyFile: /k, serverName: "
				 "srv.example}}}", NULL, &o, &e), 0);
	assert_int_equal(o.tls_mode, HTTP_TLS_KNOWN_HOSTS);
	assert_string_equal(o.known_hosts_file, "/k/h");
	assert_null(o.user_known_hosts);
	assert_string_equal(o.ca_file, "/ca");
	assert_string_equal(o.cert_file, "/c");
	assert_string_equal(o.key_file, "/k");
	assert_string_equal(o.server_name, "srv.example");
	http_client_opts_release(&o);

	{
		char *env[] = { "LIBSTORAGE_CLIENT_TLS=insecure", NULL };
		assert_int_equal(opts_of("{}", env, &o, &e), 0);
		assert_int_equal(o.tls_mode, HTTP_TLS_INSECURE);
		http_client_opts_release(&o);
	}
	assert_int_equal(opts_of("libstorage: {client: {tls: maybe}}", NULL, &o, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "libstorage.client.tls"));
	assert_int_equal(opts_of("libstorage: {client: {tls: 'h sha256 AB:CD'}}", NULL, &o, &e),
			 -EINVAL);
	assert_int_equal(opts_of("libstorage: {client: {tls: 'h md5 " SRV_FP "'}}", NULL, &o,
				 &e), -EINVAL);
	assert_int_equal(opts_of("libstorage: {client: {tls: {insecure: perhaps}}}", NULL, &o,
				 &e), -EINVAL);

	/* <etc>/tls/cacerts is the default CA file once it exists */
	write_file("etc/tls/cacerts", CA_CRT);
	assert_int_equal(opts_of("{}", NULL, &o, &e), 0);
	path_of(want, sizeof(want), "etc/tls/cacerts");
	assert_string_equal(o.ca_file, want);
	http_client_opts_release(&o);
	remove_file("etc/tls/cacerts");
}

static void test_client_token(void **state)
{
	struct http_client_opts o;
	struct err e = ERR_INIT;
	char yaml[512];

	(void)state;
	assert_int_equal(opts_of("libstorage: {client: {auth: {token: aaa.bbb.ccc}}}", NULL, &o,
				 &e), 0);
	assert_string_equal(o.token, "aaa.bbb.ccc");
	http_client_opts_release(&o);
	write_file("token", "eyJ.x-y.z_\n");
	snprintf(yaml, sizeof(yaml), "libstorage: {client: {auth: {token: %s/token}}}", tmp);
	assert_int_equal(opts_of(yaml, NULL, &o, &e), 0);
	assert_string_equal(o.token, "eyJ.x-y.z_");
	http_client_opts_release(&o);
	snprintf(yaml, sizeof(yaml), "libstorage: {client: {auth: {token: %s/no-token}}}", tmp);
	assert_int_equal(opts_of(yaml, NULL, &o, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "neither a token nor a readable file"));
}

/* ---- known_hosts ---- */

static void test_known_hosts(void **state)
{
	struct http_client_opts o = { 0 };
	struct kh_list l;
	struct err e = ERR_INIT;
	char hex[CERTFP_HEX_LEN + 1], shown[CERTFP_SHOW_LEN + 1], path[256];

	(void)state;
	assert_int_equal(cert_fingerprint(SRV_CRT, strlen(SRV_CRT), hex, shown), 0);
	assert_string_equal(shown, SRV_FP);
	assert_int_equal(strlen(hex), CERTFP_HEX_LEN);
	assert_int_equal(cert_fingerprint("junk", 4, hex, shown), -EINVAL);

	write_file("kh", "# comment\n\n"
			 "other.example sha256 " OTHER_FP "\n"
			 "a.example,b.example:7979 sha256 " SRV_FP " # trailing comment\n"
			 "[::1]:7979 sha256 "
			 "b924e2ab34b2741005b523de4a8bda6b1c694ec72379442abeb66fde205a89de\n"
			 "c.example md5 00:11\n");
	path_of(path, sizeof(path), "kh");
	o.known_hosts_file = path;
	assert_int_equal(kh_lookup(&o, "a.example", 1, &l, &e), 0);
	assert_int_equal(l.n, 1);
	assert_true(kh_list_has(&l, hex));
	assert_non_null(strstr(l.sources, "/kh"));
	kh_list_release(&l);
	assert_int_equal(kh_lookup(&o, "b.example", 7979, &l, &e), 0);
	assert_int_equal(l.n, 1);
	kh_list_release(&l);
	assert_int_equal(kh_lookup(&o, "b.example", 7980, &l, &e), 0);
	assert_int_equal(l.n, 0);
	kh_list_release(&l);
	assert_int_equal(kh_lookup(&o, "::1", 7979, &l, &e), 0);
	assert_int_equal(l.n, 1);
	assert_true(kh_list_has(&l, hex));
	kh_list_release(&l);
	assert_int_equal(kh_lookup(&o, "other.example", 1, &l, &e), 0);
	assert_false(kh_list_has(&l, hex));
	kh_list_release(&l);
	assert_int_equal(kh_lookup(&o, "c.example", 1, &l, &e), 0);
	assert_int_equal(l.n, 0);
	kh_list_release(&l);

	/* the inline line comes first; a missing file is no error */
	o.known_host = "d.example sha256 " SRV_FP;
	o.user_known_hosts = "/nonexistent/known_hosts";
	assert_int_equal(kh_lookup(&o, "d.example", 1, &l, &e), 0);
	assert_int_equal(l.n, 1);
	kh_list_release(&l);

	write_file("kh", "bad.example sha256 XYZ\n");
	assert_int_equal(kh_lookup(&o, "bad.example", 1, &l, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "/kh:1"));
}

/* ---- both ends ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int hits;
static char last_auth[1024];

static void handler(void *arg, struct httpd_request *rq, const char *method, const char *url,
		    const char *body, size_t len, bool too_big, struct httpd_reply *out)
{
	const char *a = httpd_header(rq, "Authorization");

	(void)arg;
	(void)method;
	(void)url;
	(void)body;
	(void)len;
	(void)too_big;
	pthread_mutex_lock(&mu);
	hits++;
	snprintf(last_auth, sizeof(last_auth), "%s", a ? a : "");
	pthread_mutex_unlock(&mu);
	out->status = 200;
	out->body = strdup("{}");
	out->content_type = "application/json";
}

static int hit_count(void)
{
	int n;

	pthread_mutex_lock(&mu);
	n = hits;
	pthread_mutex_unlock(&mu);
	return n;
}

static struct httpd *serve(bool client_certs)
{
	struct httpd_tls t = { .cert_pem = (char *)SRV_CRT, .key_pem = (char *)SRV_KEY };
	struct httpd *h = NULL;
	struct err e = ERR_INIT;

	if (client_certs) {
		t.trust_pem = (char *)CA_CRT;
		t.client_cert_required = true;
	}
	if (httpd_start_tls("tcp://127.0.0.1:0", 0600, &t, handler, NULL, &h, &e) != 0)
		fail_msg("httpd_start_tls: %s", e.msg);
	return h;
}

/* One GET /services with these options. */
static int call(struct httpd *h, const struct http_client_opts *o, struct err *e)
{
	struct storage_client *c = NULL;
	struct service_list l = { 0 };
	int r = client_http_new_opts(httpd_address(h), o, &c, e);

	if (r == 0)
		r = c->ops->services(c, &l, e);
	service_list_release(&l);
	client_free(c);
	return r;
}

static void test_https_modes(void **state)
{
	struct httpd *h = serve(false);
	struct http_client_opts o = { .timeout_ms = 5000 };
	char ca[256];
	struct err e = ERR_INIT;
	int before;

	(void)state;
	path_of(ca, sizeof(ca), "ca.crt");
	/* plain HTTP against TLS: no reply, and a hint */
	o.tls_mode = HTTP_TLS_OFF;
	assert_int_equal(call(h, &o, &e), -EIO);
	assert_non_null(strstr(e.msg, "libstorage.client.tls"));
	/* AUTO is plain on loopback */
	o.tls_mode = HTTP_TLS_AUTO;
	assert_int_equal(call(h, &o, &e), -EIO);

	o.tls_mode = HTTP_TLS_INSECURE;
	assert_int_equal(call(h, &o, &e), 0);

	o.tls_mode = HTTP_TLS_VERIFY;
	o.ca_file = ca;
	assert_int_equal(call(h, &o, &e), 0);
	o.server_name = "localhost"; /* in the certificate too */
	assert_int_equal(call(h, &o, &e), 0);
	o.server_name = "elsewhere.example";
	assert_int_equal(call(h, &o, &e), -EIO);
	o.server_name = NULL;
	o.ca_file = NULL; /* the system's CAs do not know ours */
	assert_int_equal(call(h, &o, &e), -EIO);
	assert_non_null(strstr(e.msg, "trustedCertsFile"));

	/* known hosts: checked before the request (and its token) leaves */
	o.tls_mode = HTTP_TLS_KNOWN_HOSTS;
	o.token = "aaa.bbb.ccc";
	o.known_host = "127.0.0.1 sha256 " SRV_FP;
	assert_int_equal(call(h, &o, &e), 0);
	assert_string_equal(last_auth, "Bearer aaa.bbb.ccc");
	before = hit_count();
	o.known_host = "127.0.0.1 sha256 " OTHER_FP;
	assert_int_equal(call(h, &o, &e), -EACCES);
	assert_non_null(strstr(e.msg, "does not match"));
	assert_int_equal(hit_count(), before);
	o.known_host = "10.9.9.9 sha256 " SRV_FP;
	assert_int_equal(call(h, &o, &e), -EACCES);
	assert_non_null(strstr(e.msg, "'127.0.0.1 sha256 " SRV_FP "'"));
	assert_int_equal(hit_count(), before);
	httpd_stop(h);
}

static void test_client_certificates(void **state)
{
	struct httpd *h = serve(true);
	struct http_client_opts o = { .timeout_ms = 5000, .tls_mode = HTTP_TLS_INSECURE };
	char crt[256], key[256];
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(call(h, &o, &e), -EACCES);
	assert_non_null(strstr(e.msg, "client certificate"));
	path_of(crt, sizeof(crt), "cli.crt");
	path_of(key, sizeof(key), "cli.key");
	o.cert_file = crt;
	o.key_file = key;
	assert_int_equal(call(h, &o, &e), 0);
	httpd_stop(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_server_without_files),
		cmocka_unit_test(test_server_default_files),
		cmocka_unit_test(test_server_bad_files),
		cmocka_unit_test(test_client_modes),
		cmocka_unit_test(test_client_token),
		cmocka_unit_test(test_known_hosts),
		cmocka_unit_test(test_https_modes),
		cmocka_unit_test(test_client_certificates),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
