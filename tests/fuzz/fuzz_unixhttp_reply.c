/*
 * fuzz_unixhttp_reply: what a Docker volume plugin sends back to dvdcli,
 * or a libStorage server to the rexray CLI, on a unix socket
 * (net/unixhttp.h): the status line, headers, chunked or counted or
 * until-close bodies, interim 1xx replies.
 *
 * Input: the bytes the plugin writes (at most 64 KiB), then it stops
 * writing (shutdown). The client reads them from one end of a socketpair
 * it adopted, after sending a request to it.
 * Invariants:
 *  - failure is a negative errno with the same code and a message in e,
 *    no body, no connect attempt reported, and the connection dropped;
 *  - success has a final status (200-999), a body of at most max_body
 *    bytes, NUL-terminated at len (NULL only when empty);
 *  - everything is freed whatever the result (LeakSanitizer).
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/unixhttp.h"
#include "fuzz.h"

#define MAX_INPUT (64u << 10)
#define MAX_BODY  4096

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct unixhttp_reply rep;
	struct err e = ERR_INIT;
	struct unixhttp c;
	int sv[2], r;

	if (size > MAX_INPUT)
		size = MAX_INPUT;
	/* a path nothing listens on: a reconnect attempt would show as connect_failed */
	FUZZ_CHECK(unixhttp_init(&c, "/nonexistent/rr-fuzz.sock", "plugin", 1000, MAX_BODY,
				 &e) == 0);
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	/* the socket buffer (>= 200 KiB) takes the whole input at once */
	FUZZ_CHECK(size == 0 || send(sv[1], data, size, MSG_DONTWAIT) == (ssize_t)size);
	FUZZ_CHECK(shutdown(sv[1], SHUT_WR) == 0);
	FUZZ_CHECK(unixhttp_adopt(&c, sv[0], &e) == 0);
	r = unixhttp_post(&c, "/VolumeDriver.Get", "Accept: x\r\n", "{}\n", 3, &rep, &e);
	if (r < 0) {
		FUZZ_CHECK_MSG(e.code == r && e.msg[0], "r=%d code=%d", r, e.code);
		FUZZ_CHECK(!rep.body && !rep.connect_failed && c.fd == -1);
	} else {
		FUZZ_CHECK_MSG(r == 0 && rep.status >= 200 && rep.status <= 999, "status %d",
			       rep.status);
		FUZZ_CHECK(rep.len <= MAX_BODY && rep.len < size);
		FUZZ_CHECK(rep.body ? rep.body[rep.len] == '\0' : rep.len == 0);
	}
	unixhttp_reply_release(&rep);
	unixhttp_release(&c);
	close(sv[1]);
	return 0;
}
