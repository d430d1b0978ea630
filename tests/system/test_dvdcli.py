"""build/dvdcli, the drop-in for dvdcli 0.2: against our engine's Docker
plugin (real loop devices, mkfs, mounts), against a minimal plugin written
here (stdlib only, so nothing of ours answers), and against plugins that
are missing, hung, or behind a .spec / .json file."""

import http.server
import json
import os
import re
import shutil
import socket
import socketserver
import ssl
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

import prereq

from conftest import REPO, fstype_of, loops_under, mounts_under

DVDCLI = os.environ.get("DVDCLI_BIN") or os.path.join(REPO, "build", "dvdcli")
PLUGIN_DIR = "/run/docker/plugins"
ACCEPT = "application/vnd.docker.plugins.v1.2+json"

_NO_LOOP = prereq.missing(root=True, loop=True)
needs_loop = pytest.mark.skipif(_NO_LOOP is not None, reason=str(_NO_LOOP))


@pytest.fixture(autouse=True)
def built():
    if not (os.path.isfile(DVDCLI) and os.access(DVDCLI, os.X_OK)):
        pytest.fail("%s is not built (run `make build/dvdcli`)" % DVDCLI, pytrace=False)


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="rrd")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def empty_dir(root, name):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    return d


def dvdcli(*args, env=None, timeout=60):
    """Run build/dvdcli; DVDCLI_* of the caller's environment are not inherited.
    Spec dirs default to none, so that files on this host play no part, and
    discovery gives up after 2 s instead of 30."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("DVDCLI_")}
    e["DVDCLI_SPEC_DIRS"] = ""
    e["DVDCLI_DISCOVERY_TIMEOUT"] = "2"
    e.update(env or {})
    return subprocess.run([DVDCLI] + [str(a) for a in args], env=e, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                          text=True, errors="replace")


def ok(p):
    assert p.returncode == 0, "exit %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout,
                                                                  p.stderr)
    return p


def fails(p, code=1):
    assert p.returncode == code, "exit %d (want %d)\nstdout:\n%s\nstderr:\n%s" % (
        p.returncode, code, p.stdout, p.stderr)
    assert p.stdout == "", p.stdout
    return p


# --------------------------------------------------------------------------
# our engine's plugin


@pytest.fixture
def eng(lh):
    """An engine whose Docker plugin is /run/docker/plugins/<unique>.sock."""
    lh.plugin = "rrd" + uuid.uuid4().hex[:8]
    lh.write_config("rexray:\n  modules:\n    default-docker:\n"
                    "      host: unix://%s/%s.sock\n" % (PLUGIN_DIR, lh.plugin))
    lh.start_service()
    lh.drv = "--volumedriver=" + lh.plugin
    return lh


def volume_named(h, name):
    vols = [v for v in h.volumes_cli() if v["name"] == name]
    return vols[0] if vols else None


@needs_loop
def test_mount_path_get_list_unmount_remove(eng):
    want = os.path.join(eng.lib, "volumes", "dv1", "data")
    p = ok(dvdcli("mount", eng.drv, "--volumename=dv1"))
    assert p.stdout == want + "\n"
    assert 'level=info msg="%s"' % want in p.stderr, p.stderr
    assert os.path.ismount(os.path.dirname(want))
    assert len(loops_under(eng.root)) == 1
    assert ok(dvdcli("path", eng.drv, "--volumename=dv1")).stdout == want + "\n"
    # flags before the command, and --volumedriver NAME as two words
    assert ok(dvdcli("--volumedriver", eng.plugin, "--volumename=dv1", "get")).stdout == "dv1\n"
    assert "dv1" in ok(dvdcli("list", eng.drv)).stdout.splitlines()
    p = ok(dvdcli("unmount", eng.drv, "--volumename=dv1"))
    assert p.stdout == ""
    assert loops_under(eng.root) == {} and mounts_under(eng.root) == []
    assert ok(dvdcli("path", eng.drv, "--volumename=dv1")).stdout == "", "not mounted"
    ok(dvdcli("remove", eng.drv, "--volumename=dv1"))
    assert volume_named(eng, "dv1") is None
    p = fails(dvdcli("get", eng.drv, "--volumename=dv1"))
    assert "level=error" in p.stderr and "volumeName=dv1" in p.stderr, p.stderr


@needs_loop
def test_create_with_opts_and_mount_again(eng):
    p = ok(dvdcli("create", eng.drv, "--volumename=dv2", "--volumeopts=size=2"))
    assert p.stdout == "", "create prints nothing on stdout"
    assert "level=info msg=dv2" in p.stderr, p.stderr
    assert volume_named(eng, "dv2")["size"] == 2
    # an existing volume is mounted as it is (the options of a mount do not resize it)
    path = ok(dvdcli("mount", eng.drv, "--volumename=dv2", "--volumeopts=size=5")).stdout
    assert path == os.path.join(eng.lib, "volumes", "dv2", "data") + "\n"
    assert volume_named(eng, "dv2")["size"] == 2
    ok(dvdcli("unmount", eng.drv, "--volumename=dv2"))
    assert loops_under(eng.root) == {}


@needs_loop
@pytest.mark.parametrize("flag", ["--explicitcreate", "--explicitCreate", "--explicitcreate=true"])
def test_explicitcreate_on_a_missing_volume(eng, flag):
    p = fails(dvdcli("mount", eng.drv, "--volumename=dv3", flag))
    assert "volumeName=dv3" in p.stderr, p.stderr
    assert volume_named(eng, "dv3") is None, "nothing may be created"
    assert loops_under(eng.root) == {} and mounts_under(eng.root) == []
    # with the volume there, the same mount works
    ok(dvdcli("create", eng.drv, "--volumename=dv3"))
    ok(dvdcli("mount", eng.drv, "--volumename=dv3", flag))
    ok(dvdcli("unmount", eng.drv, "--volumename=dv3"))
    assert loops_under(eng.root) == {}


@needs_loop
def test_seed_options_make_xfs(eng):
    # the seed's Marathon options (size=5 there; 1 GiB here)
    path = ok(dvdcli("mount", eng.drv, "--volumename=test12345",
                     "--volumeopts=size=1,iops=150,volumetype=io1,newfstype=xfs,"
                     "overwritefs=true")).stdout.strip()
    assert path == os.path.join(eng.lib, "volumes", "test12345", "data")
    assert fstype_of(os.path.dirname(path)) == "xfs"
    v = volume_named(eng, "test12345")
    assert v["size"] == 1 and v["iops"] == 150 and v["type"] == "io1", v
    ok(dvdcli("unmount", eng.drv, "--volumename=test12345"))
    assert loops_under(eng.root) == {} and mounts_under(eng.root) == []


@needs_loop
def test_an_option_without_equals_is_a_usage_error(eng):
    p = fails(dvdcli("mount", eng.drv, "--volumename=dv4", "--volumeopts=size=1,oops"), 2)
    assert "'oops' has no '='" in p.stderr and "panic" not in p.stderr, p.stderr
    assert volume_named(eng, "dv4") is None
    assert loops_under(eng.root) == {}


@needs_loop
def test_plugin_found_through_a_spec_file(eng, tmp):
    specs = empty_dir(tmp, "specs")
    with open(os.path.join(specs, eng.plugin + ".spec"), "w") as f:
        f.write("  unix://%s/%s.sock\n" % (PLUGIN_DIR, eng.plugin))
    env = {"DVDCLI_SOCKET_DIR": empty_dir(tmp, "run"), "DVDCLI_SPEC_DIRS": specs}
    ok(dvdcli("create", eng.drv, "--volumename=dv5", env=env))
    assert "dv5" in ok(dvdcli("list", eng.drv, env=env)).stdout.splitlines()
    # a spec without a scheme is refused with Docker's words
    with open(os.path.join(specs, "noscheme.spec"), "w") as f:
        f.write("%s/%s.sock\n" % (PLUGIN_DIR, eng.plugin))
    env["DVDCLI_DISCOVERY_TIMEOUT"] = "0"
    p = fails(dvdcli("list", "--volumedriver=noscheme", env=env))
    assert "Error looking up volume plugin noscheme: Unknown protocol" in p.stderr, p.stderr


# --------------------------------------------------------------------------
# usage errors, missing and hung plugins


@pytest.mark.parametrize("args,needle", [
    (["mount", "--volumename=v"], "Missing volume driver name"),
    (["mount", "--volumedriver=x"], "missing volume name"),
    (["--bogus", "list", "--volumedriver=x"], "unknown flag: --bogus"),
    (["frob", "--volumedriver=x"], 'unknown command "frob"'),
    (["mount", "--volumedriver=x", "--volumename=v", "extra"], 'unexpected argument "extra"'),
    (["list", "--volumedriver=x", "--timeout=0"], "--timeout"),
    (["mount", "--volumedriver=x", "--volumename=v", "--explicitcreate=maybe"], "maybe"),
    (["--volumedriver=x", "--volumename=v"], "missing command"),
])
def test_usage_errors_exit_2(args, needle):
    t0 = time.monotonic()
    p = fails(dvdcli(*args), 2)
    assert needle in p.stderr, p.stderr
    assert time.monotonic() - t0 < 2, "a usage error must not look for a plugin"


def test_help_and_version():
    p = ok(dvdcli("--help"))
    assert "Usage:" in p.stdout and "--volumeopts" in p.stdout
    assert ok(dvdcli()).stdout == p.stdout
    lines = ok(dvdcli("version")).stdout.splitlines()
    assert lines[0] == "Binary: " + os.path.realpath(DVDCLI), lines
    assert [line.split(":")[0] for line in lines] == ["Binary", "SemVer", "OsArch", "Branch",
                                                      "Commit", "Formed"]


def test_only_libc_and_jansson_are_linked():
    """dvdcli speaks HTTP itself on unix sockets and loads libcurl (dlopen)
    only for a tcp or https plugin: linked, its ~32 libraries would be
    loaded and relocated at every exec, ~5 ms each time (docs/performance.md
    B3). gnutls (certificate pinning, the server's TLS) is the rexray
    binary's alone: its constructor costs ~1 ms per start. test_a_plugin_over_tcp
    and ..._https_... show the dlopen path works."""
    p = subprocess.run(["readelf", "-d", DVDCLI], stdout=subprocess.PIPE, text=True,
                       check=True)
    needed = [line.split()[-1] for line in p.stdout.splitlines() if "(NEEDED)" in line]
    assert needed, p.stdout
    assert sorted(n.strip("[]").split(".so")[0] for n in needed) == ["libc", "libjansson"], \
        needed


def test_unknown_driver_after_a_short_discovery(tmp):
    env = {"DVDCLI_SOCKET_DIR": empty_dir(tmp, "run"), "DVDCLI_SPEC_DIRS": empty_dir(tmp, "etc"),
           "DVDCLI_DISCOVERY_TIMEOUT": "2"}
    t0 = time.monotonic()
    p = fails(dvdcli("mount", "--volumedriver=nosuch", "--volumename=v", env=env))
    took = time.monotonic() - t0
    # as Docker's logrus prints it (the plugin library's lines go through dvdcli's logger)
    assert re.search(r'^time="[^"]+" level=warning msg="Unable to locate plugin: nosuch, '
                     r'retrying in 1s"$', p.stderr, re.M), p.stderr
    assert "Error looking up volume plugin nosuch: plugin not found" in p.stderr, p.stderr
    assert "volumeDriver=nosuch" in p.stderr
    assert 0.9 < took < 5, took


class HungServer:
    """A unix socket that accepts connections and never answers."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.conns = []
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def stop(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            c.close()
        self.thread.join(5)


def test_a_hung_plugin_is_bounded_by_timeout(tmp):
    run = empty_dir(tmp, "run")
    hung = HungServer(os.path.join(run, "hung.sock"))
    try:
        t0 = time.monotonic()
        p = fails(dvdcli("mount", "--volumedriver=hung", "--volumename=v", "--timeout=1",
                         env={"DVDCLI_SOCKET_DIR": run}, timeout=30))
        took = time.monotonic() - t0
        assert took < 2.5, took
        assert "Plugin.Activate: no reply from the plugin" in p.stderr, p.stderr
        assert len(hung.conns) == 1, "a timeout is not retried"
    finally:
        hung.stop()


# --------------------------------------------------------------------------
# a plugin that is not ours


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Docker's clients use it

    def log_message(self, *args):
        pass

    def do_POST(self):
        plugin = self.server.plugin
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        method = self.path.lstrip("/")
        plugin.calls.append({"method": method, "accept": self.headers.get("Accept"),
                             "ctype": self.headers.get("Content-Type"), "body": body})
        if method in plugin.hang:
            plugin.stop_event.wait(30)
        status, reply = plugin.answer(method, json.loads(body) if body.strip() else None)
        data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1.1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakePlugin:
    """A Docker volume plugin in the spirit of go-plugins-helpers: volumes
    in a dict, Mount makes a directory (no real mount)."""

    def __init__(self, root, sock=None, tls=None):
        self.root = root
        self.volumes = {}
        self.calls = []
        self.hang = set()
        self.empty_mountpoint = False
        self.stop_event = threading.Event()
        if sock:
            self.server = _UnixServer(sock, _Handler)
        else:
            self.server = _TCPServer(("127.0.0.1", 0), _Handler)
            if tls:
                self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.server.plugin = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.server.server_address[1]

    def methods(self):
        return [c["method"] for c in self.calls]

    def answer(self, method, req):
        name = (req or {}).get("Name")
        if method == "Plugin.Activate":
            return 200, {"Implements": ["VolumeDriver"]}
        if method == "VolumeDriver.Create":
            self.volumes.setdefault(name, {"opts": req.get("Opts"), "mp": ""})
            return 200, {"Err": ""}
        if method == "VolumeDriver.List":
            return 200, {"Volumes": [{"Name": n, "Mountpoint": v["mp"]}
                                     for n, v in sorted(self.volumes.items())], "Err": ""}
        if method not in ("VolumeDriver.Get", "VolumeDriver.Mount", "VolumeDriver.Unmount",
                          "VolumeDriver.Path", "VolumeDriver.Remove"):
            return 404, b"404 page not found\n"
        vol = self.volumes.get(name)
        if vol is None:
            return 500, {"Err": "no such volume: %s" % name}
        if method == "VolumeDriver.Get":
            return 200, {"Volume": {"Name": name, "Mountpoint": vol["mp"]}, "Err": ""}
        if method == "VolumeDriver.Mount":
            vol["mp"] = os.path.join(self.root, "mnt", name)
            os.makedirs(vol["mp"], exist_ok=True)
            return 200, {"Mountpoint": "" if self.empty_mountpoint else vol["mp"], "Err": ""}
        if method == "VolumeDriver.Unmount":
            vol["mp"] = ""
            return 200, {"Err": ""}
        if method == "VolumeDriver.Path":
            return 200, {"Mountpoint": vol["mp"], "Err": ""}
        del self.volumes[name]
        return 200, {"Err": ""}

    def stop(self):
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def foreign(tmp):
    run = empty_dir(tmp, "run")
    name = "fp" + uuid.uuid4().hex[:6]
    fp = FakePlugin(tmp, sock=os.path.join(run, name + ".sock"))
    fp.name = name
    fp.env = {"DVDCLI_SOCKET_DIR": run}
    fp.drv = "--volumedriver=" + name
    try:
        yield fp
    finally:
        fp.stop()


def test_a_foreign_plugin_end_to_end(foreign):
    fp = foreign
    mp = os.path.join(fp.root, "mnt", "fv1")
    p = ok(dvdcli("mount", fp.drv, "--volumename=fv1", "--volumeopts=a=1,B=x=y", env=fp.env))
    assert p.stdout == mp + "\n"
    assert fp.methods() == ["Plugin.Activate", "VolumeDriver.Get", "VolumeDriver.Create",
                            "VolumeDriver.Mount"]
    # the wire format: Accept, no Content-Type, JSON + "\n", empty Activate, no ID
    assert all(c["accept"] == ACCEPT and c["ctype"] is None for c in fp.calls), fp.calls
    assert fp.calls[0]["body"] == b""
    assert fp.calls[2]["body"] == b'{"Name":"fv1","Opts":{"a":"1","B":"x=y"}}\n'
    assert fp.calls[3]["body"] == b'{"Name":"fv1"}\n'
    assert ok(dvdcli("path", fp.drv, "--volumename=fv1", env=fp.env)).stdout == mp + "\n"
    assert ok(dvdcli("get", fp.drv, "--volumename=fv1", env=fp.env)).stdout == "fv1\n"
    ok(dvdcli("create", fp.drv, "--volumename=fv2", env=fp.env))
    assert fp.calls[-1]["body"] == b'{"Name":"fv2","Opts":{}}\n'
    assert ok(dvdcli("list", fp.drv, env=fp.env)).stdout == "fv1\nfv2\n"
    del fp.calls[:]
    ok(dvdcli("unmount", fp.drv, "--volumename=fv1", env=fp.env))
    assert fp.methods() == ["Plugin.Activate", "VolumeDriver.Get", "VolumeDriver.Unmount"]
    assert ok(dvdcli("path", fp.drv, "--volumename=fv1", env=fp.env)).stdout == ""
    ok(dvdcli("remove", fp.drv, "--volumename=fv1", env=fp.env))
    assert sorted(fp.volumes) == ["fv2"]
    # the plugin's error text, as Docker words it: "<Method>: <Err>"
    p = fails(dvdcli("remove", fp.drv, "--volumename=fv1", env=fp.env))
    assert 'msg="VolumeDriver.Get: no such volume: fv1" volumeName=fv1' in p.stderr, p.stderr


def test_a_foreign_plugin_explicitcreate_and_empty_mountpoint(foreign):
    fp = foreign
    fails(dvdcli("mount", fp.drv, "--volumename=fv3", "--explicitcreate", env=fp.env))
    assert "VolumeDriver.Create" not in fp.methods() and fp.volumes == {}
    fp.empty_mountpoint = True
    p = fails(dvdcli("mount", fp.drv, "--volumename=fv3", env=fp.env))
    assert "empty mountpoint" in p.stderr, p.stderr


def test_a_foreign_plugin_hanging_in_mount(foreign):
    fp = foreign
    fp.hang.add("VolumeDriver.Mount")
    t0 = time.monotonic()
    p = fails(dvdcli("mount", fp.drv, "--volumename=fv4", "--timeout=1", env=fp.env))
    assert time.monotonic() - t0 < 2.5
    assert "VolumeDriver.Mount: no reply from the plugin" in p.stderr, p.stderr
    assert fp.methods().count("VolumeDriver.Mount") == 1, "a timeout is not retried"


# --------------------------------------------------------------------------
# TCP and TLS through .spec and .json files


def make_cert(d, name):
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return key, crt


def test_a_plugin_over_tcp(tmp):
    fp = FakePlugin(tmp)
    try:
        specs = empty_dir(tmp, "specs")
        with open(os.path.join(specs, "tcpp.spec"), "w") as f:
            f.write("tcp://127.0.0.1:%d\n" % fp.port)
        env = {"DVDCLI_SOCKET_DIR": "", "DVDCLI_SPEC_DIRS": specs}
        ok(dvdcli("create", "--volumedriver=tcpp", "--volumename=t1", env=env))
        assert ok(dvdcli("list", "--volumedriver=tcpp", env=env)).stdout == "t1\n"
    finally:
        fp.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_a_plugin_over_https_with_a_tls_config(tmp):
    key, crt = make_cert(tmp, "server")
    _, other = make_cert(tmp, "other")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    fp = FakePlugin(tmp, tls=ctx)
    specs = empty_dir(tmp, "specs")
    env = {"DVDCLI_SOCKET_DIR": "", "DVDCLI_SPEC_DIRS": specs, "DVDCLI_DISCOVERY_TIMEOUT": "0"}

    def spec(name, tls):
        with open(os.path.join(specs, name + ".json"), "w") as f:
            json.dump({"Name": name, "Addr": "https://127.0.0.1:%d" % fp.port,
                       "TLSConfig": tls}, f)

    try:
        spec("good", {"CAFile": crt})          # verified against our CA
        spec("wrongca", {"CAFile": other})      # verification fails
        spec("skip", {"CAFile": other, "InsecureSkipVerify": True})
        spec("noca", {})                        # Docker: no CAFile, no verification
        ok(dvdcli("create", "--volumedriver=good", "--volumename=s1", env=env))
        p = fails(dvdcli("list", "--volumedriver=wrongca", env=env))
        assert "Error looking up volume plugin wrongca: Plugin.Activate:" in p.stderr, p.stderr
        assert ok(dvdcli("list", "--volumedriver=skip", env=env)).stdout == "s1\n"
        assert ok(dvdcli("list", "--volumedriver=noca", env=env)).stdout == "s1\n"
    finally:
        fp.stop()
