"""Several libStorage servers in libstorage.host (issue 19): the CLI and an
agent fail over between them.

Two real engines serve the vfs service on loopback TCP ports, each with its
own REXRAY_HOME (so its own SQLite database); a port nobody listens on is
the dead server; a small Python server ("Fake") stands for a server that
takes a POST and dies before answering (or answers 503), while it passes
GETs on to a live engine so that the client has no reason to leave it
before the POST. Every process is stopped by its PID, every directory
removed.
"""

import http.client
import json
import os
import re
import socket
import socketserver
import tempfile
import threading
import time

import pytest

from conftest import Home, free_tcp_port, plugin_call, release_home


def tcp(port):
    return "tcp://127.0.0.1:%d" % port


@pytest.fixture
def homes():
    """Make Homes on demand; each is released (services stopped by PID,
    directory removed) at the end."""
    made = []

    def make():
        h = Home(tempfile.mkdtemp(prefix="rrf"))
        made.append(h)
        return h

    try:
        yield make
    finally:
        for h in made:
            release_home(h)


def start_server(home, port):
    """An engine serving vfs on tcp://127.0.0.1:port (plain HTTP: loopback)."""
    home.write_config(
        "libstorage:\n"
        "  service: vfs\n"
        "  server:\n"
        "    endpoints:\n"
        "      public:\n"
        "        address: %s\n"
        "rexray:\n"
        "  modules:\n"
        "    default-docker:\n"
        "      disabled: true\n" % tcp(port))
    return home.start_service(address=tcp(port))


def names_in(home):
    """The volumes of a stopped server's home, read from its own database."""
    return sorted(v["name"] for v in home.volumes_cli())


def failovers(text, to=None):
    lines = [ln for ln in text.splitlines() if "failed over to libstorage server" in ln]
    if to is not None:
        lines = [ln for ln in lines if "failed over to libstorage server %s " % to in ln]
    return lines


class Fake:
    """A TCP server that acts like a libStorage server which takes a POST or
    DELETE and then (mode "close") closes the connection without a word, as
    one that crashed after acting would, or (mode "503") says 503. GETs go
    on to the live engine at `upstream` and its reply comes back, so that
    they give the client no reason to fail over."""

    def __init__(self, upstream_port, mode):
        self.upstream_port = upstream_port
        self.mode = mode
        self.acting = []  # "METHOD target" of every POST and DELETE received
        self.gets = 0
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                fake.handle(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return tcp(self.port)

    def handle(self, conn):
        conn.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target = lines[0].split(" ")[:2]
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        want = int(headers.get("content-length", "0"))
        while len(body) < want:
            chunk = conn.recv(65536)
            if not chunk:
                return
            body += chunk
        if method in ("GET", "HEAD"):
            self.gets += 1
            self.relay(conn, method, target, headers, body)
            return
        self.acting.append("%s %s" % (method, target))
        if self.mode == "503":
            msg = b'{"message":"database unavailable","status":503}'
            conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json"
                         b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                         % (len(msg), msg))
        # "close": the request was read (and might have been acted on); no reply
        conn.shutdown(socket.SHUT_RDWR)

    def relay(self, conn, method, target, headers, body):
        up = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=10)
        try:
            fwd = {k: v for k, v in headers.items()
                   if k not in ("host", "connection", "content-length")}
            up.request(method, target, body=body or None, headers=fwd)
            r = up.getresponse()
            data = r.read()
            out = "HTTP/1.1 %d %s\r\n" % (r.status, r.reason)
            for k, v in r.getheaders():
                if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                    out += "%s: %s\r\n" % (k, v)
            out += "Content-Length: %d\r\nConnection: close\r\n\r\n" % len(data)
            conn.sendall(out.encode("latin-1") + data)
        finally:
            up.close()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join(5)


@pytest.fixture
def fakes():
    made = []

    def make(upstream_port, mode):
        f = Fake(upstream_port, mode)
        made.append(f)
        return f

    try:
        yield make
    finally:
        for f in made:
            f.stop()


# --------------------------------------------------------------------------
# the CLI


def test_cli_fails_over_from_a_dead_server_and_says_so(homes):
    a, cli = homes(), homes()
    pa, dead = free_tcp_port(), free_tcp_port()
    start_server(a, pa)
    hosts = "%s,%s" % (tcp(dead), tcp(pa))

    p = cli.cli_ok("-h", hosts, "volume", "create", "fo1")
    assert "fo1" in p.stdout, p.stdout
    lines = failovers(p.stderr)
    # several requests (the service, the create): one switch, said once
    assert len(lines) == 1, p.stderr
    assert "level=warn" in lines[0], lines
    assert ("failed over to libstorage server %s (%s: connection refused)"
            % (tcp(pa), tcp(dead))) in lines[0], lines
    assert a.services[0].api.names() == ["fo1"]
    assert cli.volumes_cli() == []  # nothing happened in the CLI's own home

    # the list from the environment too, with blanks; and `rexray env` shows it
    env = cli.env(LIBSTORAGE_HOST=" %s , %s " % (tcp(dead), tcp(pa)))
    vols = cli.cli_json("volume", "ls", "-f", "json", env=env)
    assert [v["name"] for v in vols] == ["fo1"], vols
    p = cli.cli_ok("env", env=env)
    assert "REXRAY_ENGINE= %s , %s " % (tcp(dead), tcp(pa)) in p.stdout, p.stdout


def test_cli_names_every_server_when_none_answers(homes):
    cli = homes()
    d1, d2 = free_tcp_port(), free_tcp_port()
    p = cli.cli("-h", "%s,%s" % (tcp(d1), tcp(d2)), "volume", "ls")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert ("no libstorage server answered: %s: connection refused; %s: connection refused"
            % (tcp(d1), tcp(d2))) in p.stderr, p.stderr
    assert not failovers(p.stderr), p.stderr


def test_bad_address_in_a_list_is_named(homes):
    cli = homes()
    p = cli.cli("-h", "%s,10.0.0.1:7979" % tcp(free_tcp_port()), "volume", "ls")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert ("invalid libstorage host '10.0.0.1:7979': expected unix:///path.sock or "
            "tcp://host:port") in p.stderr, p.stderr
    cfg = cli.write_config("libstorage:\n  host:\n    - tcp://10.0.0.1:7979\n"
                           "    - tcp://10.0.0.2\n")
    p = cli.cli("config", "check", cfg)
    assert p.returncode == 1, p.stdout
    assert "config.yml:4:" in p.stdout and "'tcp://10.0.0.2' is not one" in p.stdout, p.stdout
    cli.write_config("libstorage:\n  host:\n    - tcp://10.0.0.1:7979\n"
                     "    - tcp://10.0.0.2:7979\n")
    p = cli.cli_ok("config", "check", cfg)
    assert "0 error(s)" in p.stdout, p.stdout
    p = cli.cli_ok("config", "show", cfg)
    assert re.search(r"^libstorage\.host\s+tcp://10\.0\.0\.1:7979,tcp://10\.0\.0\.2:7979\s",
                     p.stdout, re.M), p.stdout


def test_post_reset_after_sending_is_not_repeated(homes, fakes):
    a, cli = homes(), homes()
    pa = free_tcp_port()
    start_server(a, pa)
    fake = fakes(pa, "close")
    hosts = "%s,%s" % (fake.address, tcp(pa))

    p = cli.cli("-h", hosts, "volume", "create", "once")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "cannot reach libstorage server at %s" % fake.address in p.stderr, p.stderr
    assert "closed the connection" in p.stderr or "Empty reply" in p.stderr, p.stderr
    assert fake.gets >= 1  # the client stayed with it until the POST
    assert fake.acting == ["POST /volumes/vfs"], fake.acting  # sent once, here only
    assert a.services[0].api.names() == []  # never sent to the second server
    assert not failovers(p.stderr), p.stderr


def test_503_moves_even_a_post_to_the_next_server(homes, fakes):
    a, cli = homes(), homes()
    pa = free_tcp_port()
    start_server(a, pa)
    fake = fakes(pa, "503")
    p = cli.cli_ok("-h", "%s,%s" % (fake.address, tcp(pa)), "volume", "create", "moved")
    assert fake.acting == ["POST /volumes/vfs"], fake.acting
    assert a.services[0].api.names() == ["moved"]
    lines = failovers(p.stderr, to=tcp(pa))
    assert len(lines) == 1, p.stderr
    assert "%s: 503 database unavailable" % fake.address in lines[0], lines


# --------------------------------------------------------------------------
# an agent: one long-running client


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def agent_log(svc):
    with open(svc.err_path, errors="replace") as f:
        return f.read()


def test_agent_fails_over_and_follows_the_live_server(homes):
    a, b, ag = homes(), homes(), homes()
    pa, pb, dead = free_tcp_port(), free_tcp_port(), free_tcp_port()
    hosts = [tcp(dead), tcp(pa), tcp(pb)]
    sock = os.path.join(ag.root, "plugin.sock")
    ag.write_config(
        "libstorage:\n"
        "  service: vfs\n"
        "  host:\n" + "".join("    - %s\n" % h for h in hosts) +
        "  client:\n"
        "    tls: false\n"
        "rexray:\n"
        "  modules:\n"
        "    default-docker:\n"
        "      host: unix://%s\n" % sock)
    srv_a = start_server(a, pa)
    agent = ag.start_service("-l", "info", wait=False)
    wait_for(lambda: os.path.exists(sock) or not agent.running(), 15, "the agent's plugin socket")
    assert agent.running(), agent.logs()
    assert "agent of the libStorage servers at %s" % ",".join(hosts) in agent_log(agent), \
        agent.logs()

    # the first request meets the dead server, goes on to A and stays there
    st, r = plugin_call(sock, "Create", {"Name": "fo1"})
    assert st == 200 and not r.get("Err"), r
    assert srv_a.api.names() == ["fo1"]
    settled = settle(agent, tcp(pa))
    for _ in range(5):
        st, r = plugin_call(sock, "List", {})
        assert st == 200 and [v["Name"] for v in r["Volumes"]] == ["fo1"], r
    assert len(failovers(agent_log(agent), to=tcp(pa))) == settled, agent.logs()

    # A goes, B comes: the next request goes to B (its own, empty database)
    assert srv_a.stop() == 0
    srv_b = start_server(b, pb)
    st, r = plugin_call(sock, "Create", {"Name": "fo2"})
    assert st == 200 and not r.get("Err"), r
    assert srv_b.api.names() == ["fo2"]
    log = agent_log(agent)
    assert ("failed over to libstorage server %s (%s: connection refused)"
            % (tcp(pb), tcp(pa))) in log, log
    settled = settle(agent, tcp(pb))
    for _ in range(5):
        st, r = plugin_call(sock, "List", {})
        assert st == 200 and [v["Name"] for v in r["Volumes"]] == ["fo2"], r
    assert len(failovers(agent_log(agent), to=tcp(pb))) == settled, agent.logs()
    assert names_in(a) == ["fo1"]  # A's database, read with A stopped
    assert agent.stop() == 0


def settle(agent, to):
    """The agent has two clients, each failing over on its own and saying
    so once: the storage calls' and the lease renewals' (every second).
    Wait until the count of switches to `to` stops growing (one or two)."""
    n, deadline = -1, time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(1.5)
        now = len(failovers(agent_log(agent), to=to))
        if now == n:
            break
        n = now
    assert 1 <= n <= 2, agent.logs()
    return n
