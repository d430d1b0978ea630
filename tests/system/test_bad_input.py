"""Bad input gets a clear 4xx (or a non-zero CLI exit with a message) and
changes nothing: the volume list and the files under REXRAY_HOME stay the
same, and the server keeps answering."""

import base64
import json
import socket

import pytest

from conftest import assert_error_body, iid_header

BAD_NAMES = [
    pytest.param("../../etc", id="dotdot-path"),
    pytest.param("a/b", id="slash"),
    pytest.param("a b", id="space"),
    pytest.param("$(id)", id="shell"),
    pytest.param("a" * 256, id="256-chars"),
    pytest.param("", id="empty"),
    pytest.param(".", id="dot"),
    pytest.param("..", id="dotdot"),
    pytest.param("caf\u00e9", id="unicode"),
    pytest.param("\u2603", id="snowman"),
    pytest.param("a\nb", id="newline"),
    pytest.param("a\u0000b", id="nul"),
    pytest.param("a\\b", id="backslash"),
    pytest.param("a'b", id="quote"),
]


class Unchanged:
    """Snapshot of the visible state; .check() asserts nothing changed."""

    def __init__(self, api, home):
        self.api, self.home = api, home
        self.vols = api.volumes()
        self.tree = home.snapshot_tree()

    def check(self):
        assert self.api.alive(), "the server stopped answering"
        assert self.api.volumes() == self.vols
        assert self.home.snapshot_tree() == self.tree


@pytest.fixture
def state(api, home):
    api.create("existing", size=1)
    return Unchanged(api, home)


# --------------------------------------------------------------------------
# names


@pytest.mark.parametrize("name", BAD_NAMES)
def test_rest_create_rejects_bad_names(api, state, name):
    r = api.post("/volumes/vfs", {"name": name, "size": 1})
    assert_error_body(r, 400)
    state.check()


def test_rest_create_accepts_the_longest_and_widest_valid_name(api):
    for name in ("a" * 255, "Az09_.-x", "..a", "a..", "-lead"):
        v = api.create(name)
        assert v["name"] == name
    assert len(api.volumes()) == 5


@pytest.mark.parametrize("path", [
    "/volumes/vfs/..%2F..%2Fetc?byName",
    "/volumes/vfs/..%2F..%2Fetc",
    "/volumes/vfs/%24(id)?byName",
    "/volumes/vfs/a%00b",
    "/volumes/vfs/%2e%2e",
    "/volumes/..%2Fvfs",
    "/volumes/vfs/" + "a" * 300,
])
def test_rest_bad_ids_in_urls(api, state, path):
    for method in ("GET", "DELETE"):
        r = api.request(method, path)
        assert 400 <= r.status < 500, (method, path, r)
    r = api.post(path.split("?")[0] + "?attach", {"nextDeviceName": "/dev/xvda"},
                 iid=iid_header("h1"))
    assert 400 <= r.status < 500, (path, r)
    state.check()


# --------------------------------------------------------------------------
# bodies


@pytest.mark.parametrize("body", [
    pytest.param(b'{"name":', id="truncated"),
    pytest.param(b"not json", id="text"),
    pytest.param(b'{"name":"x",}', id="trailing-comma"),
    pytest.param(b"", id="empty"),
    pytest.param(b"[]", id="array"),
    pytest.param(b'"x"', id="string"),
    pytest.param(b"null", id="null"),
    pytest.param(b'{"name":"x"} {"name":"y"}', id="two-documents"),
    pytest.param(b'{"name":"x\xff"}', id="invalid-utf8"),
])
def test_rest_create_rejects_invalid_json(api, state, body):
    r = api.post("/volumes/vfs", body, headers={"Content-Type": "application/json"})
    assert_error_body(r, 400)
    state.check()


@pytest.mark.parametrize("body", [
    pytest.param({}, id="no-name"),
    pytest.param({"name": 1}, id="name-int"),
    pytest.param({"name": None}, id="name-null"),
    pytest.param({"name": ["x"]}, id="name-array"),
    pytest.param({"name": "x", "size": "big"}, id="size-string"),
    pytest.param({"name": "x", "size": 1.5}, id="size-fraction"),
    pytest.param({"name": "x", "size": True}, id="size-bool"),
    pytest.param({"name": "x", "iops": "many"}, id="iops-string"),
    pytest.param({"name": "x", "type": 5}, id="type-int"),
    pytest.param({"name": "x", "availabilityZone": {}}, id="az-object"),
    pytest.param({"name": "x", "encrypted": "yes"}, id="encrypted-string"),
    pytest.param({"name": "x", "opts": "o"}, id="opts-string"),
])
def test_rest_create_rejects_wrong_json_types(api, state, body):
    assert_error_body(api.post("/volumes/vfs", body), 400)
    state.check()


@pytest.mark.parametrize("field,value", [
    ("size", -1),
    ("size", -(2 ** 63)),
    ("size", 2 ** 63),
    ("size", 10 ** 30),
    ("iops", -5),
    ("iops", 10 ** 30),
])
def test_rest_create_rejects_negative_or_absurd_numbers(api, state, field, value):
    body = '{"name":"x","%s":%d}' % (field, value)
    assert_error_body(api.post("/volumes/vfs", body,
                               headers={"Content-Type": "application/json"}), 400)
    state.check()


def test_rest_body_over_1mib_is_413(api, state):
    body = json.dumps({"name": "big", "size": 1, "opts": {"pad": "p" * (1024 * 1024 + 16)}})
    s = api.raw_socket()
    try:
        s.sendall(("POST /volumes/vfs HTTP/1.1\r\nHost: libstorage-server\r\n"
                   "Content-Type: application/json\r\nContent-Length: %d\r\n"
                   "Connection: close\r\n\r\n" % len(body)).encode())
        try:
            s.sendall(body.encode())
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer before reading it all
        reply = recv_all(s)
    finally:
        s.close()
    status_line = reply.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 413"), reply[:300]
    state.check()


def test_rest_chunked_body_over_1mib_is_413(api, state):
    s = api.raw_socket()
    try:
        s.sendall(b"POST /volumes/vfs HTTP/1.1\r\nHost: libstorage-server\r\n"
                  b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                  b"Connection: close\r\n\r\n")
        chunk = b"p" * 65536
        try:
            s.sendall(b'%x\r\n{"name":"big","opts":{"pad":"\r\n' % 30)
            for _ in range(20):  # 1.25 MiB
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            s.sendall(b'4\r\n"}}\n\r\n0\r\n\r\n')
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = recv_all(s)
    finally:
        s.close()
    assert reply.split(b"\r\n", 1)[0].startswith(b"HTTP/1.1 413"), reply[:300]
    state.check()


def test_rest_body_just_under_1mib_is_accepted(api):
    pad = "p" * (1024 * 1024 - 200)
    body = json.dumps({"name": "nearly", "size": 1, "opts": {"pad": pad}})
    assert len(body) < 1024 * 1024
    r = api.post("/volumes/vfs", body, headers={"Content-Type": "application/json"})
    assert r.status == 201, r


# --------------------------------------------------------------------------
# services, instance ids


def test_rest_unknown_service(api, state):
    assert_error_body(api.post("/volumes/nosuch", {"name": "x"}), 404)
    assert_error_body(api.get("/volumes/nosuch"), 404)
    assert_error_body(api.get("/services/nosuch"), 404)
    state.check()


MALFORMED_IIDS = [
    pytest.param("novalue", id="no-equals"),
    pytest.param("=host1", id="empty-driver"),
    pytest.param("vfs=,,!!!notbase64!!!", id="bad-base64"),
    pytest.param("vfs=,," + base64.b64encode(b"{not json").decode(), id="metadata-not-json"),
    pytest.param("vfs=h1,a=%zz", id="bad-percent-escape"),
    pytest.param("vfs=" + "h" * 9000, id="over-8k"),
]


@pytest.mark.parametrize("iid", MALFORMED_IIDS)
def test_rest_malformed_instance_id_is_400(api, state, iid):
    vid = next(iter(state.vols))
    assert_error_body(api.post("/volumes/vfs/%s?attach" % vid,
                               {"nextDeviceName": "/dev/xvda"}, iid=iid), 400)
    assert_error_body(api.get("/volumes/vfs?attachments=11", iid=iid), 400)
    assert_error_body(api.get("/services/vfs?instance", iid=iid), 400)
    state.check()


def test_rest_attach_without_instance_id_is_400(api, state):
    vid = next(iter(state.vols))
    assert_error_body(api.post("/volumes/vfs/%s?attach" % vid,
                               {"nextDeviceName": "/dev/xvda"}), 400)
    assert_error_body(api.get("/volumes/vfs?attachments=2"), 400)
    state.check()
    v = api.inspect(vid, iid=iid_header("h1"))
    assert v["attachmentState"] == 3 and not v.get("attachments"), v


@pytest.mark.parametrize("body", [
    pytest.param(b"[]", id="array"),
    pytest.param(b"{", id="truncated"),
    pytest.param(b'{"force":"yes"}', id="force-string"),
    pytest.param(b'{"nextDeviceName":5}', id="device-int"),
])
def test_rest_attach_rejects_bad_bodies(api, state, body):
    vid = next(iter(state.vols))
    r = api.post("/volumes/vfs/%s?attach" % vid, body, iid=iid_header("h1"),
                 headers={"Content-Type": "application/json"})
    assert_error_body(r, 400)
    state.check()


@pytest.mark.parametrize("query", ["attachments=abc", "attachments=-1"])
def test_rest_bad_attachments_mask(api, state, query):
    r = api.get("/volumes/vfs?" + query, iid=iid_header("h1"))
    assert_error_body(r, 400)
    state.check()


# --------------------------------------------------------------------------
# malformed HTTP: the server answers 4xx or closes, and stays up


def recv_all(s, limit=1 << 20):
    data = b""
    try:
        while len(data) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def raw_exchange(api, payload, timeout=5):
    s = api.raw_socket(timeout=timeout)
    try:
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return recv_all(s)
    finally:
        s.close()


@pytest.mark.parametrize("payload", [
    pytest.param(b"GARBAGE\r\n\r\n", id="garbage"),
    pytest.param(b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", id="bad-version"),
    pytest.param(b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="huge-url"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 5000 + b"\r\n",
                 id="header-flood"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"v" * 100000 + b"\r\n\r\n",
                 id="huge-header"),
    pytest.param(b"POST /volumes/vfs HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                 id="negative-length"),
    pytest.param(b"POST /volumes/vfs HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"na",
                 id="short-body"),
    pytest.param(b"POST /volumes/vfs HTTP/1.1\r\nHost: x\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", id="bad-chunk"),
    pytest.param(b"\x00\x01\x02\xff" * 100, id="binary"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nLibstorage-Instanceid: \x01\x02\r\n\r\n",
                 id="control-bytes-header"),
])
def test_malformed_http_is_rejected_and_server_survives(api, state, payload):
    reply = raw_exchange(api, payload)
    if reply:
        line = reply.split(b"\r\n", 1)[0]
        assert line.startswith(b"HTTP/1."), reply[:200]
        code = int(line.split()[1])
        # 505 for an unknown HTTP version; a 200 only for the harmless GET
        # whose odd header the server may ignore
        assert 400 <= code < 500 or (code == 505 and b"HTTP/9.9" in payload) or \
            (code == 200 and b"Instanceid" in payload), reply[:300]
    state.check()


def test_half_open_connections_do_not_block_the_server(api, state):
    idle = []
    try:
        for _ in range(10):
            s = api.raw_socket()
            s.sendall(b"POST /volumes/vfs HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
            idle.append(s)
        r = api.get("/volumes/vfs", timeout=5)
        assert r.status == 200, r
    finally:
        for s in idle:
            s.close()
    state.check()


# --------------------------------------------------------------------------
# the same through the CLI


CLI_BAD_NAMES = ["../../etc", "a/b", "a b", "$(id)", "a" * 256, "", ".", "..", "caf\u00e9"]


@pytest.mark.parametrize("with_service", [False, True], ids=["embedded", "service"])
def test_cli_create_rejects_bad_names(home, with_service):
    if with_service:
        home.start_service()
    home.cli_ok("volume", "create", "existing")
    before_tree = home.snapshot_tree()
    for name in CLI_BAD_NAMES:
        p = home.cli("volume", "create", "--size", "1", name)
        assert p.returncode != 0, (name, p.stdout, p.stderr)
        assert p.stderr.strip(), ("no message on stderr", name)
        if name and name.isascii() and name.isprintable() and len(name) < 40:
            assert name in p.stderr, (name, p.stderr)
        assert "existing" not in p.stdout
    assert [v["name"] for v in home.volumes_cli()] == ["existing"]
    assert home.snapshot_tree() == before_tree


@pytest.mark.parametrize("args", [
    ["volume", "create", "--size", "-1", "neg"],
    ["volume", "create", "--size", "big", "word"],
    ["volume", "create", "--size", "99999999999999999999999", "huge"],
    ["volume", "create", "--iops", "x", "iops"],
])
def test_cli_create_rejects_bad_numbers(home, args):
    p = home.cli(*args)
    assert p.returncode != 0, (args, p.stdout)
    assert p.stderr.strip(), args
    assert home.volumes_cli() == []


@pytest.mark.parametrize("verb", ["rm", "attach", "detach"])
def test_cli_missing_volume(home, verb):
    home.cli_ok("volume", "create", "present")
    p = home.cli("volume", verb, "absent-vol")
    assert p.returncode != 0, (verb, p.stdout)
    assert "absent-vol" in p.stderr, p.stderr
    vols = home.volumes_cli()
    assert [v["name"] for v in vols] == ["present"]
    assert vols[0]["attachmentState"] == 3, vols


def test_cli_unknown_command_and_flag(home):
    for args in (["frobnicate"], ["volume", "frobnicate"], ["volume", "ls", "--nosuchflag"],
                 ["volume", "ls", "-f", "xml"]):
        p = home.cli(*args)
        assert p.returncode != 0, (args, p.stdout)
        assert p.stderr.strip(), args


def test_cli_bad_config_file(home):
    missing = home.cli("-c", "/nonexistent/rexray.yml", "volume", "ls")
    assert missing.returncode != 0
    assert "/nonexistent/rexray.yml" in missing.stderr, missing.stderr
    bad = home.write_config("libstorage: [unclosed\n  x: {\n", path=home.root + "/bad.yml")
    p = home.cli("-c", bad, "volume", "ls")
    assert p.returncode != 0
    assert "bad.yml" in p.stderr, p.stderr
