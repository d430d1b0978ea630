"""Shared fixtures for the rexray-c system tests.

Everything the engine writes lands in a short per-test temporary directory
used as REXRAY_HOME (and HOME); short because a UNIX socket path must fit in
108 bytes. Standard library only: HTTP goes over AF_UNIX with http.client.

The binary is build/rexray, or $REXRAY_BIN when set.
"""

import base64
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REXRAY = os.environ.get("REXRAY_BIN") or os.path.join(REPO, "build", "rexray")

START_TIMEOUT = 5.0   # seconds for a service to answer GET /
STOP_TIMEOUT = 5.0    # seconds for a SIGTERMed service to exit
CLI_TIMEOUT = 30.0    # seconds for one CLI command
HTTP_TIMEOUT = 15.0   # seconds for one HTTP request

SQLITE_NOISE = ("-wal", "-shm", "-journal")


# --------------------------------------------------------------------------
# HTTP over a UNIX socket or TCP


def unix_connect(path, timeout):
    """Connect an AF_UNIX stream socket. The connect itself is blocking
    (bounded by SO_SNDTIMEO): with a Python timeout set, a full listen
    backlog would fail at once with EAGAIN instead of waiting."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sec = int(timeout)
        usec = int((timeout - sec) * 1e6)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", sec, usec))
        s.connect(path)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 0, 0))
        s.settimeout(timeout)
    except OSError:
        s.close()
        raise
    return s


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over an AF_UNIX stream socket."""

    def __init__(self, path, timeout=HTTP_TIMEOUT):
        super().__init__("libstorage-server", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = unix_connect(self.unix_path, self.timeout)


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage (case-insensitive)
        self.body = body

    @property
    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as ex:
            raise AssertionError("response %d is not JSON (%s): %r"
                                 % (self.status, ex, self.body[:500]))

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:300])


def iid_header(iid, driver="vfs", service="vfs"):
    """Libstorage-Instanceid value for a plain instance id."""
    if service:
        return "%s:%s=%s" % (driver, service, iid)
    return "%s=%s" % (driver, iid)


def iid_metadata_header(value, driver="vfs"):
    """`vfs=,,<base64 of a JSON string>`: what the vfs executor sends."""
    meta = base64.b64encode(json.dumps(value).encode()).decode()
    return "%s=,,%s" % (driver, meta)


class Api:
    """A tiny libStorage REST client. `address` is unix:///path or tcp://h:p."""

    def __init__(self, address):
        self.address = address

    def connection(self, timeout=HTTP_TIMEOUT):
        if self.address.startswith("unix://"):
            return UnixHTTPConnection(self.address[len("unix://"):], timeout=timeout)
        if self.address.startswith("tcp://"):
            hostport = self.address[len("tcp://"):]
            host, port = hostport.rsplit(":", 1)
            return http.client.HTTPConnection(host, int(port), timeout=timeout)
        raise ValueError("bad address %r" % self.address)

    def raw_socket(self, timeout=HTTP_TIMEOUT):
        if self.address.startswith("unix://"):
            return unix_connect(self.address[len("unix://"):], timeout)
        host, port = self.address[len("tcp://"):].rsplit(":", 1)
        return socket.create_connection((host, int(port)), timeout=timeout)

    def request(self, method, path, body=None, headers=None, iid=None, timeout=HTTP_TIMEOUT):
        hdrs = {}
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode()
        if iid is not None:
            hdrs["Libstorage-Instanceid"] = iid
        hdrs.update(headers or {})
        c = self.connection(timeout)
        try:
            c.request(method, path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            return Response(r.status, r.reason, r.msg, data)
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # ---- helpers with assertions

    def volumes(self, svc="vfs", mask=None, iid=None):
        """{id: Volume} of one service, asserting 200."""
        path = "/volumes/%s" % svc
        if mask is not None:
            path += "?attachments=%d" % mask
        r = self.get(path, iid=iid)
        assert r.status == 200, r
        vols = r.json
        assert isinstance(vols, dict), vols
        return vols

    def names(self, svc="vfs"):
        return sorted(v["name"] for v in self.volumes(svc).values())

    def create(self, name, size=None, svc="vfs", **extra):
        body = {"name": name}
        if size is not None:
            body["size"] = size
        body.update(extra)
        r = self.post("/volumes/%s" % svc, body)
        assert r.status == 201, r
        v = r.json
        assert v["name"] == name, v
        return v

    def inspect(self, vid, iid=None, mask=1, svc="vfs"):
        r = self.get("/volumes/%s/%s?attachments=%d" % (svc, vid, mask), iid=iid)
        assert r.status == 200, r
        return r.json

    def attach(self, vid, host, device="/dev/xvda", svc="vfs"):
        r = self.post("/volumes/%s/%s?attach" % (svc, vid), {"nextDeviceName": device},
                      iid=iid_header(host, service=svc))
        assert r.status == 200, r
        return r.json

    def alive(self):
        try:
            return self.get("/", timeout=2).status == 200
        except OSError:
            return False


def assert_error_body(r, status=None):
    """A libStorage error: {"message": non-empty, "status": N, ...}."""
    if status is not None:
        assert r.status == status, r
    assert 400 <= r.status < 600, r
    body = r.json
    assert isinstance(body, dict), body
    assert isinstance(body.get("message"), str) and body["message"].strip(), body
    assert body.get("status") == r.status, body
    assert isinstance(body.get("error", {}), dict), body
    assert r.headers.get("Content-Type", "").startswith("application/json"), dict(r.headers)
    return body


def free_tcp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# REXRAY_HOME and the binary


# The socket directory of a scratch PostgreSQL (scripts/run-tests): every
# home's server keeps its records in a database of its own there.
RECORDS_PG = os.environ.get("RR_TEST_RECORDS_PG")


def records_uri():
    """A fresh PostgreSQL database for one home's records, or None."""
    if not RECORDS_PG:
        return None
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pgscratch
    return pgscratch.create_db_at(RECORDS_PG, "rrh_" + uuid.uuid4().hex[:12])


class Home:
    """One REXRAY_HOME: paths, config, environment and CLI runs."""

    def __init__(self, root):
        self.records = records_uri()
        self.root = root
        self.etc = os.path.join(root, "etc", "rexray")
        self.lib = os.path.join(root, "var", "lib", "rexray")
        self.run = os.path.join(root, "var", "run", "rexray")
        self.log = os.path.join(root, "var", "log", "rexray")
        self.sock = os.path.join(self.run, "rexray.sock")
        self.spec = os.path.join(self.run, "rexray.spec")
        self.pidfile = os.path.join(self.run, "rexray.pid")
        self.user_home = os.path.join(root, "home")
        os.makedirs(self.user_home, exist_ok=True)
        self.services = []

    @property
    def address(self):
        return "unix://" + self.sock

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items()
               if not k.upper().startswith(("REXRAY", "LIBSTORAGE", "VFS_", "X_CSI",
                                            "CSI_", "DOCKER_"))}
        env["REXRAY_HOME"] = self.root
        env["HOME"] = self.user_home
        # these tests drive the vfs service; the engine's default is loop
        env["LIBSTORAGE_SERVICE"] = "vfs"
        if self.records:
            env["LIBSTORAGE_SERVER_STORE"] = self.records
        env.update(extra)
        return env

    def write_config(self, text, path=None):
        path = path or os.path.join(self.etc, "config.yml")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def cli(self, *args, timeout=CLI_TIMEOUT, env=None, input=None):
        """Run build/rexray ARGS; returns CompletedProcess with text output."""
        check_binary()
        return subprocess.run([REXRAY] + [str(a) for a in args], cwd=self.root,
                              env=env or self.env(), input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, text=True, errors="replace")

    def cli_ok(self, *args, **kw):
        p = self.cli(*args, **kw)
        assert p.returncode == 0, "rexray %s: exit %d\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(map(str, args)), p.returncode, p.stdout, p.stderr)
        return p

    def cli_json(self, *args, **kw):
        """Run a command (the caller includes `-f json`); parse its stdout."""
        p = self.cli_ok(*args, **kw)
        try:
            return json.loads(p.stdout)
        except ValueError as ex:
            raise AssertionError("rexray %s: not JSON (%s): %r"
                                 % (" ".join(map(str, args)), ex, p.stdout[:500]))

    def volumes_cli(self, *names, pre=()):
        """`[pre...] volume ls -f json [names...]` as a list of Volume objects."""
        vols = self.cli_json(*(list(pre) + ["volume", "ls", "-f", "json"] + list(names)))
        assert isinstance(vols, list), vols
        return vols

    def snapshot_tree(self):
        """Every path under the home, minus logs and SQLite side files."""
        out = set()
        for d, dirs, files in os.walk(self.root):
            rel = os.path.relpath(d, self.root)
            if rel.startswith(os.path.join("var", "log")) or rel.startswith("svc-logs"):
                continue
            for n in dirs + files:
                if n.endswith(SQLITE_NOISE) or n.startswith("svc-"):
                    continue
                out.add(os.path.normpath(os.path.join(rel, n)))
        return out

    def start_service(self, *args, address=None, wait=True, env=None):
        svc = Service(self, args, address=address, env=env)
        self.services.append(svc)
        svc.start(wait=wait)
        return svc


_binary_checked = []


def check_binary():
    if not _binary_checked:
        if not (os.path.isfile(REXRAY) and os.access(REXRAY, os.X_OK)):
            pytest.fail("%s is not built (run `make build/rexray`)" % REXRAY, pytrace=False)
        _binary_checked.append(True)


class Service:
    """`rexray service start -f` in the foreground under a Home."""

    def __init__(self, home, args=(), address=None, env=None):
        self.home = home
        self.args = list(args)
        self.address = address or home.address
        self.api = Api(self.address)
        self.env = env
        self.proc = None
        self.n = len(home.services)
        self.out_path = os.path.join(home.root, "svc-%d.out" % self.n)
        self.err_path = os.path.join(home.root, "svc-%d.err" % self.n)

    def start(self, wait=True):
        check_binary()
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([REXRAY] + self.args + ["service", "start", "-f"],
                                     cwd=self.home.root, env=self.env or self.home.env(),
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=self.err, start_new_session=True)
        # Reap the child as soon as it exits, like init would: otherwise a
        # `rexray service stop` polling kill(pid, 0) sees a zombie that
        # looks alive.
        threading.Thread(target=self._reap, daemon=True).start()
        if wait:
            self.wait_ready()
        return self

    def _reap(self):
        try:
            self.proc.wait()
        except Exception:  # noqa: BLE001 - the main thread reports
            pass

    @property
    def pid(self):
        return self.proc.pid

    def logs(self):
        text = ""
        for p in (self.out_path, self.err_path):
            try:
                with open(p, "rb") as f:
                    text += "---- %s\n%s\n" % (os.path.basename(p),
                                              f.read()[-4000:].decode("utf-8", "replace"))
            except OSError:
                pass
        return text

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail("rexray service start exited with %d before answering\n%s"
                            % (self.proc.returncode, self.logs()), pytrace=False)
            if self.api.alive():
                return
            time.sleep(0.05)
        pytest.fail("rexray service did not answer GET / on %s within %.0fs\n%s"
                    % (self.address, timeout, self.logs()), pytrace=False)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal by PID and wait; kill -9 after the timeout. Returns the exit
        status, or None when it had to be killed."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
                rc = None
        self.close_files()
        return rc

    def wait_exit(self, timeout=STOP_TIMEOUT):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close_files(self):
        for f in (getattr(self, "out", None), getattr(self, "err", None)):
            if f and not f.closed:
                f.close()


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture
def home():
    root = tempfile.mkdtemp(prefix="rr")
    h = Home(root)
    try:
        yield h
    finally:
        # services, then any mount a failed test left (vfs bind mounts)
        release_home(h)


@pytest.fixture
def service(home):
    """A running default service (embedded vfs on the home's socket)."""
    return home.start_service()


@pytest.fixture
def api(service):
    return service.api


def sock_mode(path):
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode), path
    return stat.S_IMODE(st.st_mode)


# --------------------------------------------------------------------------
# loop volumes: a home on the loop service, and cleanup of what it made


def loop_backings():
    """{/dev/loopN: backing file as the kernel shows it} for every bound loop device."""
    out = {}
    for bf in glob.glob("/sys/block/loop*/loop/backing_file"):
        try:
            with open(bf) as f:
                out["/dev/" + bf.split("/")[3]] = f.read().strip()
        except OSError:
            continue
    return out


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("plugin", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def plugin_call(sock, method, body, timeout=60):
    """POST /VolumeDriver.<method> with body (JSON) to a Docker volume
    plugin's unix socket: (status, decoded reply)."""
    c = _UnixHTTP(sock, timeout)
    c.request("POST", "/VolumeDriver." + method, body=json.dumps(body))
    r = c.getresponse()
    out = r.status, json.loads(r.read() or b"{}")
    c.close()
    return out


def loops_under(root):
    """{/dev/loopN: backing file} for loop devices whose image is under root."""
    return {dev: path for dev, path in loop_backings().items() if path.startswith(root + "/")}


def mounts_under(root):
    """Mount points under root, deepest first."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == root or mp.startswith(root + "/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


def fstype_of(mountpoint):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if parts[4] == mountpoint:
                return parts[parts.index("-") + 1]
    return None


class LoopHome(Home):
    def env(self, **extra):
        env = super().env(**extra)
        if "LIBSTORAGE_SERVICE" not in extra:
            env["LIBSTORAGE_SERVICE"] = "loop"
        return env

    @property
    def volumes_dir(self):
        return os.path.join(self.lib, "volumes")

    def mount(self, name, *flags, **kw):
        p = self.cli_ok("volume", "mount", *flags, name, **kw)
        path = p.stdout.strip()
        assert path == os.path.join(self.volumes_dir, name, "data"), p.stdout
        return path

    def unmount(self, name, **kw):
        return self.cli_ok("volume", "unmount", name, **kw)

    def volume(self, name, **kw):
        vols = [v for v in self.volumes_cli(**kw) if v["name"] == name]
        assert len(vols) == 1, vols
        return vols[0]


def release_home(h, root=None, stop_timeout=3):
    """Stop a home's services, then undo every mount and loop device under
    root (default: the home) and delete it: what a failed test left too."""
    root = root or h.root
    for s in h.services:
        try:
            s.stop(timeout=stop_timeout)
        except Exception:  # noqa: BLE001 - cleanup goes on
            pass
    for mp in mounts_under(root):
        subprocess.run(["umount", "-l", mp], check=False)
    for dev in loops_under(root):
        subprocess.run(["losetup", "-d", dev], check=False)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def lh():
    h = LoopHome(tempfile.mkdtemp(prefix="rrl"))
    try:
        yield h
    finally:
        release_home(h)




def run_paused(h, args, point, change, timeout=60):
    """Run `rexray ARGS` stopped at the fault point POINT
    (REXRAY_PAUSE_AT), call change() while it is stopped, as a racing
    process would act, then let it go on. Returns its CompletedProcess."""
    proc = subprocess.Popen([REXRAY] + list(args), cwd=h.root,
                            env=h.env(REXRAY_PAUSE_AT=point), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with open("/proc/%d/stat" % proc.pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "T":
                    break
            assert proc.poll() is None, "exited before %s: %r" % (point, proc.communicate())
            assert time.monotonic() < deadline, "never reached " + point
            time.sleep(0.01)
        change()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
