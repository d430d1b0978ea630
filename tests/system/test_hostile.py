"""Hostile input corpus (issue 8, section 4).

Every case is sent to one engine (the vfs service) over its three sockets:
the libStorage REST API on a UNIX socket and on TCP 127.0.0.1, and the
Docker volume plugin on $REXRAY_HOME/run/docker/plugins/rexray.sock. Each
case asserts that

  * the answer is a 4xx/5xx with a clear message (`message` for REST,
    `Err` for the plugin; an error libmicrohttpd produces itself before the
    engine sees the request is HTML, and only its status line is checked),
  * it came within a bound (BOUND seconds, scaled by HOSTILE_TIME_SCALE,
    which `make stress` raises for the run under valgrind),
  * the engine still answers a normal request on all three sockets
    right after, and
  * nothing changed: the file tree under the home, the mounts under it, the
    REST volume list (with attachments) and the plugin's List.

Cases that could change the engine's state run on an engine of their own
(the `fresh` fixture). Each of them once failed (free-form options with
shell metacharacters, lock files left behind, duplicate JSON keys, methods
other than POST on the plugin, %00 in URLs, invalid UTF-8 in instance IDs,
request smuggling, 1,000 idle connections) and the engine was fixed.

test_bad_input.py already covers the REST API over its UNIX socket with bad
names, invalid JSON, wrong types and malformed HTTP; this file goes beyond
it (the plugin socket, TCP, sizes, connection abuse, smuggling, headers).

Shell metacharacter payloads never say `reboot`: each one would touch a
canary file if any shell ever ran it, and the canary must not exist.
"""

import base64
import json
import os
import resource
import select
import socket
import tempfile
import threading
import time

import pytest

from conftest import (Api, Home, assert_error_body, free_tcp_port, iid_header,
                      mounts_under, release_home)

SCALE = float(os.environ.get("HOSTILE_TIME_SCALE", "1") or 1)
BOUND = 2.0 * SCALE           # seconds for any one hostile exchange
BIG_BOUND = 30.0 * SCALE      # seconds for a 100 MiB upload and its answer
NORMAL_BOUND = 2.0 * SCALE    # seconds for a normal request next to an attack
MIB = 1024 * 1024
PLUGIN_CT = "application/vnd.docker.plugins.v1.1+json"
PLUGIN_METHODS = ("Create", "Mount", "Unmount", "Path", "Get", "Remove")


# --------------------------------------------------------------------------
# raw HTTP


class Reply:
    """One HTTP response parsed from raw bytes."""

    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers  # lower-case name -> value
        self.body = body
        self.elapsed = elapsed

    @property
    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as ex:
            raise AssertionError("reply %s is not JSON (%s): %r" % (self.status, ex,
                                                                    self.body[:300]))

    def __repr__(self):
        return "<Reply %s %.3fs %r>" % (self.status, self.elapsed, self.body[:300])


def parse_replies(data, elapsed=0.0):
    """Every complete response in data, in order (a pipelined exchange
    gives several). Stops at the first thing that is not a response."""
    out = []
    while data.startswith(b"HTTP/1."):
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.split(b"\r\n")
        try:
            status = int(lines[0].split()[1])
        except (IndexError, ValueError):
            break
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
        n = int(headers.get("content-length", len(rest)))
        out.append(Reply(status, headers, rest[:n], elapsed))
        data = rest[n:]
    return out


def recv_until_closed(s, deadline, limit=4 * MIB):
    data = b""
    while len(data) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        data += chunk
    return data


def exchange(api, payload, bound=None):
    """Send payload on a new connection, half-close, read until the server
    closes. Returns (raw bytes, seconds)."""
    bound = BOUND if bound is None else bound
    s = api.raw_socket(timeout=bound)
    t0 = time.monotonic()
    try:
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before reading it all
        data = recv_until_closed(s, t0 + bound)
    finally:
        s.close()
    return data, time.monotonic() - t0


def request_bytes(method, path, body=b"", headers=(), host=True, length=True, close=True):
    if isinstance(body, str):
        body = body.encode()
    if isinstance(path, str):
        path = path.encode()
    lines = [b"%s %s HTTP/1.1" % (method.encode() if isinstance(method, str) else method,
                                  path)]
    if host:
        lines.append(b"Host: rexray")
    for h in headers:
        lines.append(h.encode() if isinstance(h, str) else h)
    if length:
        lines.append(b"Content-Length: %d" % len(body))
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def one_reply(api, payload, bound=None):
    data, elapsed = exchange(api, payload, bound)
    replies = parse_replies(data, elapsed)
    assert replies, "no HTTP reply within %.1fs (got %r)" % (elapsed, data[:300])
    r = replies[0]
    assert elapsed < (BOUND if bound is None else bound), r
    return r


# --------------------------------------------------------------------------
# what a clear refusal is


def check_rest_error(r, status=None):
    """A libStorage error body, as conftest.assert_error_body for Reply."""
    if status is not None:
        assert r.status == status, r
    assert 400 <= r.status < 600, r
    body = r.json
    assert isinstance(body, dict), body
    assert isinstance(body.get("message"), str) and body["message"].strip(), body
    assert body.get("status") == r.status, body
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    return body["message"]


def check_plugin_error(r, status=None):
    """Docker's plugin protocol: 4xx/5xx with {"Err": "<non-empty>"}."""
    if status is not None:
        assert r.status == status, r
    assert 400 <= r.status < 600, r
    assert r.headers.get("content-type", "") == PLUGIN_CT, r.headers
    body = r.json
    assert isinstance(body, dict) and isinstance(body.get("Err"), str), body
    assert body["Err"].strip(), body
    return body["Err"]


def check_protocol_error(r):
    """Refused by libmicrohttpd before the engine's handler ran (its own
    HTML page), or by the handler (JSON): either way a 4xx/5xx with a body
    that says something."""
    assert 400 <= r.status < 600, r
    assert r.body.strip(), r


# --------------------------------------------------------------------------
# the engine under attack


class Engine:
    """One running engine with a REST UNIX socket, REST TCP and the plugin."""

    def __init__(self, root):
        self.home = Home(root)
        self.port = free_tcp_port()
        self.home.write_config(
            "libstorage:\n"
            "  server:\n"
            "    endpoints:\n"
            "      local:\n"
            "        address: unix://%s\n"
            "      public:\n"
            "        address: tcp://127.0.0.1:%d\n" % (self.home.sock, self.port))
        self.plugin_sock = os.path.join(root, "run", "docker", "plugins", "rexray.sock")
        self.rest = Api(self.home.address)
        self.tcp = Api("tcp://127.0.0.1:%d" % self.port)
        self.plugin = Api("unix://" + self.plugin_sock)
        self.canary = os.path.join(root, "cnry")

    def start(self):
        self.svc = self.home.start_service(address=self.home.address)
        deadline = time.monotonic() + 5 * SCALE
        while not self.plugin_alive():
            assert time.monotonic() < deadline, "the plugin socket never answered\n" + \
                self.svc.logs()
            time.sleep(0.05)
        assert self.tcp.alive(), "TCP endpoint is not answering"
        return self

    @property
    def endpoints(self):
        return {"unix": self.rest, "tcp": self.tcp, "plugin": self.plugin}

    # ---- normal requests

    def call(self, method, body=None, raw=None, timeout=None):
        """POST /VolumeDriver.<method>; returns a conftest Response."""
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.plugin.post("/VolumeDriver." + method, data,
                                headers={"Content-Type": "application/json"},
                                timeout=timeout or 10 * SCALE)

    def call_ok(self, method, body=None):
        r = self.call(method, body)
        assert r.status == 200, r
        j = r.json
        assert j.get("Err") == "", j
        return j

    def plugin_alive(self):
        try:
            return self.call("List", {}, timeout=2 * SCALE).status == 200
        except OSError:
            return False

    def assert_serving(self, bound=NORMAL_BOUND):
        """Each socket answers a normal request within bound."""
        for name, api in (("unix", self.rest), ("tcp", self.tcp)):
            t0 = time.monotonic()
            r = api.get("/volumes/vfs", timeout=bound + 1)
            took = time.monotonic() - t0
            assert r.status == 200, (name, r)
            assert took < bound, "%s answered a normal request in %.2fs" % (name, took)
        t0 = time.monotonic()
        r = self.call("List", {}, timeout=bound + 1)
        took = time.monotonic() - t0
        assert r.status == 200, r
        assert took < bound, "the plugin answered List in %.2fs" % took

    # ---- state

    def snapshot(self):
        r = self.rest.get("/volumes/vfs?attachments=1")
        assert r.status == 200, r
        listed = self.call_ok("List", {})
        return {
            "tree": self.home.snapshot_tree(),
            "mounts": mounts_under(self.home.root),
            "volumes": r.json,
            "plugin": sorted(json.dumps(v, sort_keys=True) for v in listed["Volumes"]),
        }

    def assert_unchanged(self, before):
        self.assert_serving()
        assert not os.path.lexists(self.canary), "a shell ran an injected command"
        after = self.snapshot()
        assert after["volumes"] == before["volumes"], "the volume list changed"
        assert after["plugin"] == before["plugin"], "the plugin's List changed"
        assert after["mounts"] == before["mounts"], "mounts changed"
        assert after["tree"] == before["tree"], (
            "files under the home changed: +%s -%s" % (sorted(after["tree"] - before["tree"]),
                                                       sorted(before["tree"] - after["tree"])))

    def rss_kb(self):
        with open("/proc/%d/status" % self.svc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def release(self):
        release_home(self.home)


def _new_engine():
    # the engine inherits this: 1,000 idle connections need more than 1,024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    e = Engine(tempfile.mkdtemp(prefix="rrh"))
    try:
        e.start()
    except BaseException:
        e.release()
        raise
    return e


@pytest.fixture(scope="module")
def eng():
    """The shared engine, with a REST volume `keep` and a plugin volume
    `dock` mounted for container c1 (a real bind mount)."""
    e = _new_engine()
    try:
        e.rest.create("keep", size=1)
        e.call_ok("Create", {"Name": "dock", "Opts": {"size": "1"}})
        e.call_ok("Mount", {"Name": "dock", "ID": "c1"})
        yield e
    finally:
        e.release()


@pytest.fixture(autouse=True)
def revived(request):
    """A test that brought the shared engine down fails by itself: the
    next test gets it running again on the same home and state."""
    yield
    if "eng" in request.fixturenames:
        e = request.getfixturevalue("eng")
        if not e.svc.running():
            e.start()


@pytest.fixture
def fresh():
    """An engine of the test's own, for cases that change state today."""
    e = _new_engine()
    try:
        yield e
    finally:
        e.release()


@pytest.fixture
def state(eng):
    return eng.snapshot()


def metachars(canary):
    """Shell metacharacter payloads; each would create the canary."""
    return {
        "subst": "$(touch %s)" % canary,
        "backtick": "`touch %s`" % canary,
        "semicolon": "x;touch %s" % canary,
        "pipe": "x|touch %s" % canary,
        "and": "x&&touch %s" % canary,
        "newline": "x\ntouch %s" % canary,
    }


META_IDS = ["subst", "backtick", "semicolon", "pipe", "and", "newline"]


# --------------------------------------------------------------------------
# plugin: names


def _json_name(name):
    """A plugin body with Name as raw bytes (may be invalid JSON on purpose)."""
    if isinstance(name, bytes):
        return b'{"Name":"' + name + b'","ID":"c9"}'
    return json.dumps({"Name": name, "ID": "c9"}).encode()


PLUGIN_BAD_NAMES = [
    pytest.param("a/b", id="slash"),
    pytest.param("../../etc", id="dotdot-path"),
    pytest.param("..", id="dotdot"),
    pytest.param("/etc/passwd", id="absolute"),
    pytest.param("a\u0000b", id="nul-escaped"),
    pytest.param(b"a\x00b", id="nul-raw"),
    pytest.param("n" * 10240, id="10KiB"),
    pytest.param("n" * (MIB - 64), id="1MiB"),
    pytest.param(b"caf\xc3", id="invalid-utf8-truncated"),
    pytest.param(b"a\xc0\xafb", id="invalid-utf8-overlong"),
    pytest.param("\u202edock", id="bidi-override"),
    pytest.param("$(reboot)", id="shell-subst"),
    pytest.param("`reboot`", id="shell-backtick"),
    pytest.param("a;b", id="shell-semicolon"),
    pytest.param("a|b", id="shell-pipe"),
    pytest.param("a&&b", id="shell-and"),
    pytest.param("a\nb", id="shell-newline"),
]


@pytest.mark.parametrize("name", PLUGIN_BAD_NAMES)
def test_plugin_bad_names_in_every_method(eng, state, name):
    for method in PLUGIN_METHODS:
        r = one_reply(eng.plugin, request_bytes("POST", "/VolumeDriver." + method,
                                                _json_name(name)))
        err = check_plugin_error(r, 500)
        if isinstance(name, str) and len(name) > 1000:
            assert "longer than 255" in err, err
    eng.assert_unchanged(state)


def test_plugin_name_over_1mib_body(eng, state):
    body = json.dumps({"Name": "n" * (MIB + 16)}).encode()
    for method in ("Create", "Mount"):
        r = one_reply(eng.plugin, request_bytes("POST", "/VolumeDriver." + method, body))
        assert "larger than 1 MiB" in check_plugin_error(r), r
    eng.assert_unchanged(state)


# --------------------------------------------------------------------------
# plugin: bodies


ALL3 = ("Create", "Mount", "Remove")
CREATE = ("Create",)  # Opts only matter to Create; the others ignore them

PLUGIN_BAD_BODIES = [
    pytest.param(b'{"Name":"dock\xff"}', ALL3, id="invalid-utf8"),
    pytest.param(b'{"Name":"dock","Opts":{"k":"\xed\xa0\x80"}}', ALL3,
                 id="utf8-surrogate-bytes"),
    pytest.param(b'{"Name":"dock","Opts":{"k":"\\ud800"}}', ALL3, id="lone-surrogate-escape"),
    pytest.param(b'{"Name":"dock","Opts":{"k":"a\\u0000b"}}', ALL3, id="nul-in-option"),
    pytest.param(b'{"Name":"dock","Opts":' + b'{"a":' * 10000 + b'1' + b'}' * 10000 + b'}',
                 ALL3, id="nested-10000-objects"),
    pytest.param(b'{"Name":"dock","Opts":{"k":' + b'[' * 10000 + b']' * 10000 + b'}}', ALL3,
                 id="nested-10000-arrays"),
    pytest.param(b'[' * 10000 + b']' * 10000, ALL3, id="top-nested-arrays"),
    pytest.param(b'[{"Name":"dock"}]', ALL3, id="top-array"),
    pytest.param(b'"dock"', ALL3, id="top-string"),
    pytest.param(b'null', ALL3, id="top-null"),
    pytest.param(b'{"Name":"dock"} {"Name":"keep"}', ALL3, id="two-documents"),
    pytest.param(b'\xef\xbb\xbf{"Name":"dock"}', ALL3, id="bom"),
    pytest.param(b'{"Name":"dock" /* c */}', ALL3, id="comment"),
    pytest.param(b"{'Name':'dock'}", ALL3, id="single-quotes"),
    pytest.param(b'{"Name":5}', ALL3, id="name-int"),
    pytest.param(b'{"Name":["dock"]}', ALL3, id="name-array"),
    pytest.param(b'{"Name":{"x":"dock"}}', ALL3, id="name-object"),
    pytest.param(b'{"Name":true}', ALL3, id="name-bool"),
    pytest.param(b'{"Name":1e400}', ALL3, id="name-huge-real"),
    pytest.param(b'{"Name":"dock","ID":7}', ALL3, id="id-int"),
    pytest.param(b'{"Name":"dock","ID":{"a":1}}', ALL3, id="id-object"),
    pytest.param(b'{"Name":"dock","Opts":"size=1"}', CREATE, id="opts-string"),
    pytest.param(b'{"Name":"dock","Opts":["size","1"]}', CREATE, id="opts-array"),
    pytest.param(b'{"Name":"dock","Opts":{"size":NaN}}', ALL3, id="nan"),
    pytest.param(b'{"Name":"dock","Opts":{"size":Infinity}}', ALL3, id="infinity"),
]


@pytest.mark.parametrize("body,methods", PLUGIN_BAD_BODIES)
def test_plugin_bad_bodies(eng, state, body, methods):
    # "dock" exists and is mounted for c1: a wrongly accepted Create is a
    # no-op, but a wrongly accepted Mount adds a use and Remove removes it,
    # which the state check sees
    for method in methods:
        r = one_reply(eng.plugin, request_bytes("POST", "/VolumeDriver." + method, body))
        check_plugin_error(r, 500)
    eng.assert_unchanged(state)


PLUGIN_BAD_OPTS = [
    pytest.param({"size": 1.5}, id="size-float"),
    pytest.param({"size": -0.0}, id="size-negative-zero-real"),
    pytest.param({"size": "-0"}, id="size-negative-zero"),
    pytest.param({"size": "1e400"}, id="size-1e400-string"),
    pytest.param({"size": str(2 ** 63)}, id="size-2pow63"),
    pytest.param({"size": str(2 ** 64 + 1)}, id="size-2pow64"),
    pytest.param({"size": "0x10"}, id="size-hex"),
    pytest.param({"size": "1 "}, id="size-trailing-space"),
    pytest.param({"size": ""}, id="size-empty"),
    pytest.param({"size": {"gb": 1}}, id="size-object"),
    pytest.param({"size": [1]}, id="size-array"),
    pytest.param({"size": None}, id="size-null"),
    pytest.param({"iops": str(-(2 ** 63))}, id="iops-min-int64"),
    pytest.param({"iops": "1.5"}, id="iops-float-string"),
    pytest.param({"fsType": "ntfs"}, id="fstype-unknown"),
    pytest.param({"fsType": "ext4\u0000"}, id="fstype-nul"),
    pytest.param({"newfstype": "../../bin/sh"}, id="newfstype-path"),
]


@pytest.mark.parametrize("opts", PLUGIN_BAD_OPTS)
def test_plugin_create_rejects_bad_option_values(eng, state, opts):
    # on the existing volume: options are checked before the name is looked
    # up, and no lock file is made for a name that has one already (fresh
    # names: see test_plugin_failures_leave_no_lock_files)
    body = json.dumps({"Name": "dock", "Opts": opts}).encode()
    r = one_reply(eng.plugin, request_bytes("POST", "/VolumeDriver.Create", body))
    check_plugin_error(r, 500)
    eng.assert_unchanged(state)


def test_plugin_huge_integer_literals(eng, state):
    for lit in (b"9223372036854775808", b"-9223372036854775809", b"1e400", b"-1e400",
                b"1" * 400):
        body = b'{"Name":"dock","Opts":{"size":' + lit + b'}}'
        r = one_reply(eng.plugin, request_bytes("POST", "/VolumeDriver.Create", body))
        check_plugin_error(r, 500)
    eng.assert_unchanged(state)


@pytest.mark.parametrize("meta", META_IDS)
def test_plugin_checked_options_with_shell_metacharacters(eng, state, meta):
    payload = metachars(eng.canary)[meta]
    for key in ("size", "iops", "fsType", "newfstype", "SIZE", "FsType"):
        body = json.dumps({"Name": "dock", "Opts": {key: payload}}).encode()
        r = one_reply(eng.plugin, request_bytes("POST", "/VolumeDriver.Create", body))
        err = check_plugin_error(r, 500)
        assert key in err, err
    eng.assert_unchanged(state)


def test_plugin_free_form_options_are_inert_data(fresh):
    """type, volumetype, availabilityZone, overwritefs, unknown keys and the
    Mount ID are free-form: whatever the engine does with metacharacters in
    them (refuse, or keep them as data), no shell runs and what it keeps is
    byte-exact and removed with the volume."""
    e = fresh
    for meta, payload in sorted(metachars(e.canary).items()):
        name = "inert-" + meta
        opts = {"type": payload, "volumetype": payload, "availabilityZone": payload,
                "overwritefs": payload, "x-" + meta: payload}
        r = e.call("Create", {"Name": name, "Opts": opts})
        if r.status == 200:
            st = e.call_ok("Get", {"Name": name})["Volume"]["Status"]
            assert st["fields"]["x-" + meta] == payload, st
            assert st["availabilityZone"] == payload, st
            r = e.call("Mount", {"Name": name, "ID": payload})
            if r.status == 200:
                e.call_ok("Unmount", {"Name": name, "ID": payload})
            e.call_ok("Remove", {"Name": name})
        else:
            assert r.status == 500 and r.json["Err"], r
        assert not os.path.lexists(e.canary), "a shell ran %r" % payload
    assert e.call_ok("List", {})["Volumes"] == []
    assert mounts_under(e.home.root) == []


@pytest.mark.parametrize("meta", META_IDS)
def test_plugin_free_form_options_with_shell_metacharacters_are_refused(fresh, meta):
    e = fresh
    payload = metachars(e.canary)[meta]
    for key in ("type", "volumetype", "availabilityZone", "overwritefs", "custom"):
        r = e.call("Create", {"Name": "ff-" + meta, "Opts": {key: payload}})
        assert r.status == 500 and r.json.get("Err"), (key, r)
    e.call_ok("Create", {"Name": "ffm"})
    before = e.snapshot()
    r = e.call("Mount", {"Name": "ffm", "ID": payload})
    assert r.status == 500 and r.json.get("Err"), ("ID", r)
    e.assert_unchanged(before)


def test_plugin_failures_leave_no_lock_files(fresh):
    e = fresh
    before = e.snapshot()
    for i in range(3):
        r = e.call("Create", {"Name": "absent-c%d" % i, "Opts": {"size": "big"}})
        assert r.status == 500, r
        for method in ("Remove", "Unmount", "Path", "Get"):
            r = e.call(method, {"Name": "absent-%s%d" % (method[:2].lower(), i)})
            assert r.status == 500, r
    e.assert_unchanged(before)


def test_duplicate_keys_are_refused(fresh):
    e = fresh
    before = e.snapshot()
    r = one_reply(e.plugin, request_bytes(
        "POST", "/VolumeDriver.Create", b'{"Name":"a/b","Name":"dup-plugin"}'))
    check_plugin_error(r)
    r = one_reply(e.tcp, request_bytes(
        "POST", "/volumes/vfs", b'{"name":"../x","name":"dup-rest"}',
        headers=["Content-Type: application/json"]))
    check_rest_error(r, 400)
    e.assert_unchanged(before)


# --------------------------------------------------------------------------
# plugin: paths and methods


@pytest.mark.parametrize("path", [
    "/VolumeDriver.Get/../Create",
    "/VolumeDriver.Frob",
    "/VolumeDriver.",
    "/volumedriver.create",
    "//VolumeDriver.Create",
    "/VolumeDriver.Create/",
    "/VolumeDriver.Create%2f..%2fRemove",
    "/../VolumeDriver.Create",
    "/VolumeDriver.Create%20",
    "/VolumeDriver.%ff",
    "/" + "V" * 1500,
])
def test_plugin_unknown_paths_are_404(eng, state, path):
    body = json.dumps({"Name": "dock", "ID": "c9"}).encode()
    r = one_reply(eng.plugin, request_bytes("POST", path, body))
    check_plugin_error(r, 404)
    eng.assert_unchanged(state)


def test_plugin_refuses_methods_other_than_post(fresh):
    e = fresh
    before = e.snapshot()
    for m in ("GET", "PUT", "DELETE", "FROB", "PATCH"):
        r = one_reply(e.plugin, request_bytes(
            m, "/VolumeDriver.Create", json.dumps({"Name": "via-" + m.lower()})))
        assert r.status in (400, 405, 501), (m, r)
    e.assert_unchanged(before)


def test_nul_in_url_is_refused(fresh):
    e = fresh
    e.call_ok("Create", {"Name": "victim"})
    before = e.snapshot()
    r = one_reply(e.plugin, request_bytes("POST", "/VolumeDriver.Remove%00.Get",
                                          json.dumps({"Name": "victim"})))
    check_plugin_error(r, 404)
    r = one_reply(e.tcp, request_bytes(
        "POST", "/volumes/vfs/%00?attach", json.dumps({"name": "from-attach"}),
        headers=["Content-Type: application/json", "Libstorage-Instanceid: vfs=h1"]))
    check_rest_error(r)
    for path in ("/volumes/vfs/%00?byName", "/volumes/vfs%00/x", "/volumes/vfs?attachments=1%00"):
        r = one_reply(e.tcp, request_bytes("GET", path))
        check_rest_error(r)
    e.assert_unchanged(before)


# --------------------------------------------------------------------------
# REST over TCP and UNIX: bodies, names, numbers


REST_BAD_BODIES = [
    pytest.param(b'{"name":"' + b"n" * 10240 + b'"}', id="name-10KiB"),
    pytest.param(b'{"name":"' + b"n" * (MIB - 64) + b'"}', id="name-1MiB"),
    pytest.param(b'{"name":"a\x00b"}', id="name-nul-raw"),
    pytest.param(b'{"name":"a\\u0000b"}', id="name-nul-escaped"),
    pytest.param(b'{"name":"a\xc0\xafb"}', id="name-overlong-utf8"),
    pytest.param(b'{"name":"x","type":"\\udc00"}', id="lone-low-surrogate"),
    pytest.param(b'{"name":"`id`"}', id="name-backtick"),
    pytest.param(b'{"name":"a;b"}', id="name-semicolon"),
    pytest.param(b'{"name":"a|b"}', id="name-pipe"),
    pytest.param(b'{"name":"a&&b"}', id="name-and"),
    pytest.param(b'{"name":"x","size":1e400}', id="size-1e400"),
    pytest.param(b'{"name":"x","size":-1e400}', id="size-minus-1e400"),
    pytest.param(b'{"name":"x","iops":18446744073709551617}', id="iops-2pow64"),
    pytest.param(b'{"name":"x","size":-0.0}', id="size-negative-zero-real"),
    pytest.param(b'{"name":"x","size":1.0}', id="size-float-whole"),
    pytest.param(b'{"name":"x","size":1e2}', id="size-exponent"),
    pytest.param(b'{"name":"x","size":NaN}', id="size-nan"),
    pytest.param(b'{"name":"x","encrypted":1}', id="encrypted-int"),
    pytest.param(b'{"name":"x","opts":[]}', id="opts-array"),
    pytest.param(b'{"name":"x","opts":' + b'{"a":' * 10000 + b'1' + b'}' * 10000 + b'}',
                 id="nested-10000"),
    pytest.param(b'{"name":"x","opts":{"a":' + b'[' * 3000 + b']' * 3000 + b'}}',
                 id="nested-3000-arrays"),
    pytest.param(b'\xef\xbb\xbf{"name":"x"}', id="bom"),
    pytest.param(b'{"name":"x"}\x00', id="trailing-nul"),
    pytest.param(b'\x00{"name":"x"}', id="leading-nul"),
]


@pytest.mark.parametrize("body", REST_BAD_BODIES)
def test_rest_create_rejects_hostile_bodies(eng, state, body):
    for api in (eng.tcp, eng.rest):
        r = one_reply(api, request_bytes("POST", "/volumes/vfs", body,
                                         headers=["Content-Type: application/json"]))
        check_rest_error(r, 400)
    eng.assert_unchanged(state)


BOTH = ("attach", "detach")


@pytest.mark.parametrize("body,queries", [
    pytest.param(b'{"force":"true"}', BOTH, id="force-string"),
    pytest.param(b'{"force":1}', BOTH, id="force-int"),
    pytest.param(b'{"nextDeviceName":["/dev/x"]}', ("attach",), id="device-array"),
    pytest.param(b'{"opts":"x"}', BOTH, id="opts-string"),
    pytest.param(b'{"opts":' + b'{"a":' * 10000 + b'1' + b'}' * 10000 + b'}', BOTH,
                 id="nested"),
    pytest.param(b'{"nextDeviceName":"\xff"}', BOTH, id="device-invalid-utf8"),
])
def test_rest_attach_and_detach_reject_hostile_bodies(eng, state, body, queries):
    vid = next(iter(state["volumes"]))
    for api in (eng.tcp, eng.rest):
        for q in queries:
            r = one_reply(api, request_bytes(
                "POST", "/volumes/vfs/%s?%s" % (vid, q), body,
                headers=["Content-Type: application/json", "Libstorage-Instanceid: vfs=h1"]))
            check_rest_error(r, 400)
    eng.assert_unchanged(state)


@pytest.mark.parametrize("meta", META_IDS)
def test_rest_free_form_fields_with_shell_metacharacters_are_refused(fresh, meta):
    e = fresh
    payload = metachars(e.canary)[meta]
    v = e.rest.create("target", size=1)
    before = e.snapshot()
    for field in ("type", "availabilityZone", "encryptionKey"):
        r = e.tcp.post("/volumes/vfs", {"name": "rf-" + meta, field: payload})
        assert_error_body(r, 400)
    r = e.tcp.post("/volumes/vfs", {"name": "rf-" + meta, "opts": {"k": payload}})
    assert_error_body(r, 400)
    r = e.tcp.post("/volumes/vfs/%s?attach" % v["id"], {"nextDeviceName": payload},
                   iid=iid_header("h1"))
    assert_error_body(r, 400)
    e.assert_unchanged(before)


def test_rest_free_form_fields_are_inert_data(fresh):
    e = fresh
    for meta, payload in sorted(metachars(e.canary).items()):
        r = e.tcp.post("/volumes/vfs", {"name": "ri-" + meta, "type": payload,
                                        "availabilityZone": payload,
                                        "opts": {"k": payload}})
        if r.status == 201:
            v = r.json
            assert v["type"] == payload and v["availabilityZone"] == payload, v
            assert e.tcp.delete("/volumes/vfs/%s" % v["id"]).status == 204
        else:
            assert_error_body(r, 400)
        assert not os.path.lexists(e.canary), "a shell ran %r" % payload
    assert e.rest.volumes() == {}


# --------------------------------------------------------------------------
# URLs


TRAVERSALS = [
    "/volumes/vfs/..%2f..%2fetc",
    "/volumes/vfs/..%2F..%2F..%2Fetc%2Fpasswd?byName",
    "/volumes/vfs/%2e%2e%2f%2e%2e%2fetc",
    "/volumes/vfs/%252e%252e%252fetc",
    "/volumes/vfs/..%5c..%5cetc",
    "/volumes/vfs/..;/..;/etc",
    "/volumes/vfs/%c0%ae%c0%ae%c0%afetc",
    "/volumes/vfs/%ff%fe",
    "/volumes/%2e%2e/vfs/x",
    "/volumes/vfs/keep%2f..%2f..",
    "/volumes/vfs/a/b/c/d",
    "/volumes/vfs/" + "%41" * 3000,
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_rest_path_traversal_in_urls(eng, state, path):
    for api in (eng.tcp, eng.rest):
        for method in ("GET", "DELETE"):
            r = one_reply(api, request_bytes(method, path))
            check_rest_error(r)
            assert r.status < 500, (method, path, r)
        base = path.split("?")[0]
        r = one_reply(api, request_bytes(
            "POST", base + "?attach", b'{"nextDeviceName":"/dev/xvda"}',
            headers=["Content-Type: application/json", "Libstorage-Instanceid: vfs=h1"]))
        check_rest_error(r)
        assert r.status < 500, (path, r)
    eng.assert_unchanged(state)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "TRACE", "FROB", "get", "PROPFIND",
                                    "CONNECT"])
def test_rest_unknown_methods(eng, state, method):
    for api in (eng.tcp, eng.rest):
        for path in ("/", "/volumes/vfs", "/volumes/vfs/keep"):
            r = one_reply(api, request_bytes(method, path, b'{"name":"m"}'))
            check_rest_error(r)
            assert r.status in (404, 405, 501), (method, path, r)
    eng.assert_unchanged(state)


# --------------------------------------------------------------------------
# Libstorage headers


def _b64(raw):
    return base64.b64encode(raw).decode()


BAD_HEADERS = [
    pytest.param(["Libstorage-Instanceid: vfs=h%d" % i for i in range(17)], id="iid-17-headers"),
    pytest.param(["Libstorage-Instanceid: vfs:=h1"], id="iid-empty-service"),
    pytest.param(["Libstorage-Instanceid: :vfs=h1"], id="iid-empty-driver-with-service"),
    pytest.param(["Libstorage-Instanceid: vfs=h1\x7f"], id="iid-del-byte"),
    pytest.param(["Libstorage-Instanceid: vfs=h1\x1b[2J"], id="iid-escape-sequence"),
    pytest.param(["Libstorage-Instanceid: vfs=h1,%"], id="iid-lone-percent"),
    pytest.param(["Libstorage-Instanceid: vfs=h1,a=%ff%fe"], id="iid-fields-invalid-utf8"),
    pytest.param(["Libstorage-Instanceid: vfs=,," + _b64(b"[" * 3000 + b"]" * 3000)],
                 id="iid-metadata-deep"),
    pytest.param(["Libstorage-Instanceid: vfs=,," + _b64(b'"\xff"')],
                 id="iid-metadata-invalid-utf8"),
    pytest.param(["Libstorage-Instanceid: vfs=,,===="], id="iid-metadata-padding-only"),
    pytest.param(["Libstorage-Instanceid: "], id="iid-empty"),
    pytest.param(["Libstorage-Localdevices: garbage"], id="ld-no-equals"),
    pytest.param(["Libstorage-Localdevices: =v1::/dev/x"], id="ld-empty-driver"),
    pytest.param(["Libstorage-Localdevices: vfs=,"], id="ld-empty-entry"),
    pytest.param(["Libstorage-Localdevices: vfs=::/dev/x"], id="ld-empty-volume"),
    pytest.param(["Libstorage-Localdevices: vfs=a::/dev/x,a::/dev/y"], id="ld-duplicate"),
    pytest.param(["Libstorage-Localdevices: vfs=" + ",".join("v%d::/dev/x" % i
                                                               for i in range(700))],
                 id="ld-over-8KiB"),
    pytest.param(["Libstorage-Localdevices: vfs=v1::/dev/x"] * 17, id="ld-17-headers"),
    pytest.param(["Libstorage-Tx: txID=a b, txCR=1"], id="tx-space-in-id"),
    pytest.param(["Libstorage-Tx: txID=%s, txCR=1" % ("t" * 64)], id="tx-long-id"),
    pytest.param(["Libstorage-Tx: txID=t1, txCR=abc"], id="tx-cr-text"),
    pytest.param(["Libstorage-Tx: txID=t1, txCR=99999999999999999999999"], id="tx-cr-huge"),
    pytest.param(["Libstorage-Tx: txID=t1, txID=t2"], id="tx-id-twice"),
    pytest.param(["Libstorage-Tx: txID=t1, evil=$(id)"], id="tx-unknown-key"),
    pytest.param(["Libstorage-Tx: txID=`id`, txCR=1"], id="tx-backtick"),
]


@pytest.mark.parametrize("headers", BAD_HEADERS)
def test_rest_malformed_libstorage_headers(eng, state, headers):
    vid = next(iter(state["volumes"]))
    if not headers[0].startswith("Libstorage-Instanceid"):
        headers = headers + ["Libstorage-Instanceid: vfs=h2"]
    for api in (eng.tcp, eng.rest):
        r = one_reply(api, request_bytes("GET", "/volumes/vfs?attachments=7", headers=headers))
        check_rest_error(r, 400)
        r = one_reply(api, request_bytes("GET", "/", headers=headers))
        check_rest_error(r, 400)
        r = one_reply(api, request_bytes(
            "POST", "/volumes/vfs/%s?attach" % vid, b'{"nextDeviceName":"/dev/xvdb"}',
            headers=headers + ["Content-Type: application/json"]))
        check_rest_error(r, 400)
    eng.assert_unchanged(state)


def test_rest_instance_id_with_invalid_utf8_is_400(fresh):
    e = fresh
    v = e.rest.create("u8", size=1)
    before = e.snapshot()
    r = one_reply(e.tcp, request_bytes(
        "POST", "/volumes/vfs/%s?attach" % v["id"], b"{}",
        headers=[b"Libstorage-Instanceid: vfs=\xff\xfe", b"Content-Type: application/json"]))
    check_rest_error(r, 400)
    e.assert_unchanged(before)


# --------------------------------------------------------------------------
# HTTP framing: sizes, smuggling, header abuse


def _upload(api, path, total, chunked, eng):
    """Stream total bytes of JSON-ish body; stop when the server answers.
    Returns (Reply, bytes sent, peak RSS growth in KiB)."""
    base = eng.rss_kb()
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                peak[0] = max(peak[0], eng.rss_kb())
            except OSError:
                return
            time.sleep(0.005)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    s = api.raw_socket(timeout=BIG_BOUND)
    t0 = time.monotonic()
    sent = 0
    data = b""
    try:
        head = [b"POST %s HTTP/1.1" % path.encode(), b"Host: rexray",
                b"Content-Type: application/json", b"Connection: close"]
        head.append(b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % total)
        s.sendall(b"\r\n".join(head) + b"\r\n\r\n")
        block = b'{"Name":"' + b"p" * (MIB - 9)
        try:
            while sent < total:
                piece = block if sent == 0 else b"p" * MIB
                piece = piece[:total - sent]
                s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
                if select.select([s], [], [], 0)[0]:
                    break  # answered early
            else:
                if chunked:
                    s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = recv_until_closed(s, t0 + BIG_BOUND)
    finally:
        s.close()
        done.set()
        th.join()
    elapsed = time.monotonic() - t0
    replies = parse_replies(data, elapsed)
    assert replies, "no reply to a %d MiB body in %.1fs: %r" % (sent // MIB, elapsed, data[:200])
    assert elapsed < BIG_BOUND, replies[0]
    return replies[0], sent, peak[0] - base


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("where", ["unix", "tcp", "plugin"])
def test_100mib_body_is_refused_without_buffering(eng, state, where, chunked):
    api = eng.endpoints[where]
    path = "/VolumeDriver.Create" if where == "plugin" else "/volumes/vfs"
    r, sent, grew_kb = _upload(api, path, 100 * MIB, chunked, eng)
    if where == "plugin":
        assert "larger than 1 MiB" in check_plugin_error(r), r
    else:
        check_rest_error(r, 413)
    if not chunked:
        assert sent < 100 * MIB, "a declared 100 MiB body was read before the 413"
    assert grew_kb < 16 * 1024, "RSS grew by %d KiB during a 100 MiB upload" % grew_kb
    eng.assert_unchanged(state)


@pytest.mark.parametrize("where", ["unix", "tcp", "plugin"])
def test_header_line_of_100kib(eng, state, where):
    api = eng.endpoints[where]
    path = "/VolumeDriver.List" if where == "plugin" else "/volumes/vfs"
    r = one_reply(api, request_bytes("POST" if where == "plugin" else "GET", path,
                                     headers=["X-Long: " + "v" * (100 * 1024)]))
    check_protocol_error(r)
    assert r.status == 431, r
    eng.assert_unchanged(state)


@pytest.mark.parametrize("where", ["unix", "tcp", "plugin"])
def test_1000_headers(eng, state, where):
    api = eng.endpoints[where]
    path = "/VolumeDriver.List" if where == "plugin" else "/volumes/vfs"
    for headers in (["X-H%d: v" % i for i in range(1000)],
                    ["Libstorage-Instanceid: vfs=h%d" % i for i in range(1000)]):
        r = one_reply(api, request_bytes("POST" if where == "plugin" else "GET", path,
                                         headers=headers))
        check_protocol_error(r)
    eng.assert_unchanged(state)


@pytest.mark.parametrize("payload", [
    pytest.param(b"POST /volumes/vfs HTTP/1.1\r\nHost: x\r\nContent-Length: 14, 15\r\n\r\n"
                 b"{\"name\":\"cl\"}", id="length-list"),
    pytest.param(b"POST /volumes/vfs HTTP/1.1\r\nHost: x\r\nContent-Length: +14\r\n\r\n"
                 b"{\"name\":\"cl\"}", id="length-plus"),
    pytest.param(b"POST /volumes/vfs HTTP/1.1\r\nHost: x\r\nContent-Length: 0x0e\r\n\r\n"
                 b"{\"name\":\"cl\"}", id="length-hex"),
    pytest.param(b"POST /volumes/vfs HTTP/1.1\r\nHost: x\r\nContent-Length: "
                 b"1180591620717411303424\r\n\r\n{}", id="length-2pow70"),
    pytest.param(b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", id="tab-in-request-line"),
    pytest.param(b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", id="extra-in-request-line"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", id="header-without-colon"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nX\x00Y: 1\r\n\r\n", id="nul-in-header-name"),
    pytest.param(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", id="http2-preface"),
    pytest.param(b"GET /?" + b"&".join(b"a%d=1" % i for i in range(5000)) +
                 b" HTTP/1.1\r\nHost: x\r\n\r\n", id="5000-query-args"),
])
@pytest.mark.parametrize("where", ["tcp", "plugin"])
def test_malformed_framing_is_refused(eng, state, where, payload):
    if where == "plugin":
        payload = payload.replace(b"/volumes/vfs", b"/VolumeDriver.Create")
    r = one_reply(eng.endpoints[where], payload)
    check_protocol_error(r)
    eng.assert_unchanged(state)


SMUGGLE_NEXT = (b"POST /volumes/vfs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 21\r\n\r\n{\"name\":\"smuggled1\"}\n")
SMUGGLE_NEXT_PLUGIN = (b"POST /VolumeDriver.Create HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 21\r\n\r\n{\"Name\":\"smuggled2\"}\n")


def test_request_smuggling_is_refused(fresh):
    e = fresh
    before = e.snapshot()
    cases = [
        (e.tcp, b"POST /volumes/vfs HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLE_NEXT),
        (e.plugin, b"POST /VolumeDriver.List HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLE_NEXT_PLUGIN),
        (e.tcp, b"POST /volumes/vfs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                b"Transfer-Encoding: identity\r\n\r\n0\r\n\r\n" + SMUGGLE_NEXT),
        (e.tcp, b"POST /volumes/vfs HTTP/1.1\r\nHost: x\r\nContent-Length: 21\r\n"
                b"Content-Length: 0\r\n\r\n{\"name\":\"smuggled5\"}\n"),
        (e.tcp, b"POST /volumes/vfs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n"
                b"Content-Length: 21\r\n\r\n{\"name\":\"smuggled3\"}\n"),
        (e.tcp, b"POST /volumes/vfs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n"
                b"\r\n{\"name\":\"smuggled4\"}"),
        (e.plugin, b"POST /VolumeDriver.Create HTTP/1.1\r\nHost: x\r\n"
                   b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
    ]
    for api, payload in cases:
        s = api.raw_socket(timeout=BOUND)
        t0 = time.monotonic()
        try:
            s.sendall(payload)  # no half-close: a real client would wait
            data = recv_until_closed(s, t0 + BOUND)
        finally:
            s.close()
        replies = parse_replies(data)
        assert len(replies) == 1, (payload[:80], replies or data[:200])
        assert 400 <= replies[0].status < 600, (payload[:80], replies[0])
    e.assert_unchanged(before)


def test_pipelined_requests_after_an_error_stay_in_order(eng, state):
    """A keep-alive connection: two refused requests, then a normal one."""
    data, _ = exchange(eng.tcp, b"".join([
        request_bytes("POST", "/volumes/vfs", b'{"name":".."}', close=False,
                      headers=["Content-Type: application/json"]),
        request_bytes("DELETE", "/volumes/vfs/..%2f..", close=False),
        request_bytes("GET", "/volumes/vfs")]))
    replies = parse_replies(data)
    assert [r.status for r in replies][::2] == [400, 200], replies
    assert 400 <= replies[1].status < 500, replies
    check_rest_error(replies[0])
    check_rest_error(replies[1])
    eng.assert_unchanged(state)


# --------------------------------------------------------------------------
# connection abuse


def _raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < n:
        pytest.skip("RLIMIT_NOFILE hard limit %d is below %d" % (hard, n))


def test_slowloris_does_not_block_other_clients(eng, state):
    """20 connections per socket trickle a hostile request a byte at a time
    while normal clients are served at full speed; finished at last, each
    trickled request gets its refusal."""
    victims = []
    payloads = {
        "unix": request_bytes("POST", "/volumes/vfs", b'{"name":"a;b"}',
                              headers=["Content-Type: application/json"]),
        "tcp": request_bytes("POST", "/volumes/vfs", b'{"name":"a|b"}',
                             headers=["Content-Type: application/json"]),
        "plugin": request_bytes("POST", "/VolumeDriver.Create", b'{"Name":"a&&b"}'),
    }
    for where, payload in payloads.items():
        for _ in range(20):
            victims.append([eng.endpoints[where].raw_socket(timeout=BIG_BOUND), payload, where, 0])
    stop = threading.Event()
    errors = []

    def trickle():
        while not stop.is_set():
            for v in victims:
                s, p, _, pos = v
                if pos < len(p) - 1:  # the last byte waits for the end
                    try:
                        s.send(p[pos:pos + 1])
                        v[3] = pos + 1
                    except OSError as ex:
                        errors.append(ex)
            time.sleep(0.03)

    th = threading.Thread(target=trickle, daemon=True)
    th.start()
    served = 0
    try:
        t_end = time.monotonic() + 2.0
        while time.monotonic() < t_end:
            eng.assert_serving(bound=1.0 * SCALE)
            served += 1
    finally:
        stop.set()
        th.join()
    assert served >= 3, served
    assert not errors, errors[:3]
    assert all(v[3] > 20 for v in victims), "the trickle did not get far"
    try:
        for s, p, where, pos in victims:
            s.sendall(p[pos:])
        deadline = time.monotonic() + BOUND
        for s, p, where, pos in victims:
            replies = parse_replies(recv_until_closed(s, deadline))
            assert replies, (where, "no reply once the request was complete")
            if where == "plugin":
                check_plugin_error(replies[0], 500)
            else:
                check_rest_error(replies[0], 400)
    finally:
        for v in victims:
            v[0].close()
    eng.assert_unchanged(state)


def test_slowloris_requests_are_answered_when_complete(eng, state):
    """A request trickled byte by byte is still parsed right and refused."""
    payload = request_bytes("POST", "/VolumeDriver.Mount", b'{"Name":"../x","ID":"c2"}')
    s = eng.plugin.raw_socket(timeout=BOUND)
    try:
        for i in range(len(payload)):
            s.send(payload[i:i + 1])
            time.sleep(0.002)
        t0 = time.monotonic()
        data = recv_until_closed(s, t0 + BOUND)
    finally:
        s.close()
    r = parse_replies(data)[0]
    check_plugin_error(r, 500)
    eng.assert_unchanged(state)


def _open_idle(api, n):
    socks = []
    try:
        for _ in range(n):
            socks.append(api.raw_socket(timeout=10 * SCALE))
    except OSError:
        for s in socks:
            s.close()
        raise
    return socks


def test_1000_idle_connections_do_not_stop_the_other_sockets(eng, state):
    _raise_nofile(4096)
    socks = _open_idle(eng.rest, 1000)
    try:
        time.sleep(0.3)
        for api in (eng.tcp,):
            t0 = time.monotonic()
            assert api.get("/volumes/vfs", timeout=NORMAL_BOUND).status == 200
            assert time.monotonic() - t0 < NORMAL_BOUND
        t0 = time.monotonic()
        assert eng.call("List", {}, timeout=NORMAL_BOUND).status == 200
        assert time.monotonic() - t0 < NORMAL_BOUND
    finally:
        for s in socks:
            s.close()
    eng.assert_unchanged(state)


def test_1000_idle_connections_then_a_normal_request_on_the_same_socket(eng, state):
    _raise_nofile(4096)
    socks = _open_idle(eng.plugin, 1000)
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        try:
            # below the engine's 60 s idle timeout, which would free a slot
            r = eng.call("List", {}, timeout=min(3 * SCALE, 20))
        except OSError as ex:
            raise AssertionError("no answer within %.1fs: %r" % (time.monotonic() - t0, ex))
        assert r.status == 200, r
    finally:
        for s in socks:
            s.close()
    eng.assert_unchanged(state)
