"""Shared helpers of the rexray-c benchmarks (bench/README.md).

Standard library only. Everything a benchmark makes lives under a temp
directory (REXRAY_HOME, images, mount points) plus uniquely named plugin
sockets in /run/docker/plugins; `Cleanup` undoes it all (processes by PID,
mounts, loop devices, sockets, dirs) even when a benchmark fails or is
interrupted.

Every figure is a ratio against a baseline measured in the same process
invocation: `alternate()` runs the two sides in turns (A B, B A, A B, ...)
and the result is the median of the per-round values.
"""

import atexit
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "bench")
BUILD = os.path.join(REPO, "build", "bench")
REXRAY = os.environ.get("REXRAY_BIN") or os.path.join(REPO, "build", "rexray")
DVDCLI = os.environ.get("DVDCLI_BIN") or os.path.join(REPO, "build", "dvdcli")
PLUGIN_DIR = "/run/docker/plugins"
RESULTS = os.environ.get("BENCH_RESULTS") or os.path.join(BUILD, "results")

WARN = ["-Wall", "-Wextra", "-Werror", "-Wshadow"]


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# the C helpers


def build_helpers():
    """Compile bench/loadgen.c and bench/static_server.c into build/bench/."""
    os.makedirs(BUILD, exist_ok=True)
    mhd = subprocess.run(["pkg-config", "--cflags", "--libs", "libmicrohttpd"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout.split()
    for name, libs in (("loadgen", []), ("static_server", mhd + ["-lpthread"])):
        src = os.path.join(BENCH, name + ".c")
        out = os.path.join(BUILD, name)
        if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
            continue
        cmd = [os.environ.get("CC", "cc"), "-std=c11", "-D_GNU_SOURCE", "-O2", "-g"] + WARN + \
            ["-o", out, src] + libs
        log(" ".join(cmd))
        subprocess.run(cmd, check=True)
    return os.path.join(BUILD, "loadgen"), os.path.join(BUILD, "static_server")


def check_binaries(*paths):
    for p in paths:
        if not (os.path.isfile(p) and os.access(p, os.X_OK)):
            sys.exit("bench: %s is not built (run `make build/rexray build/dvdcli`)" % p)


# --------------------------------------------------------------------------
# statistics


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def alternate(a, b, rounds):
    """Run a() and b() `rounds` times each, alternating which goes first.
    Returns (list of a results, list of b results)."""
    ra, rb = [], []
    for i in range(rounds):
        if i % 2 == 0:
            ra.append(a())
            rb.append(b())
        else:
            rb.append(b())
            ra.append(a())
    return ra, rb


def timed(fn):
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def run(cmd, check=True, env=None, timeout=300, quiet=False):
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d\nstdout: %s\nstderr: %s"
                           % (" ".join(cmd), p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
    return p


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def save_result(name, data):
    data.setdefault("loadavg_end", loadavg())
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, name + ".json")
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    log("wrote " + path)
    return path


# --------------------------------------------------------------------------
# the host: mounts and loop devices under a root


def mounts_under(root):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == root or mp.startswith(root + "/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


def loops_under(root):
    out = {}
    for bf in glob.glob("/sys/block/loop*/loop/backing_file"):
        try:
            with open(bf) as f:
                path = f.read().strip()
        except OSError:
            continue
        if path.startswith(root + "/"):
            out["/dev/" + bf.split("/")[3]] = path
    return out


def vmhwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


class Cleanup:
    """Everything to undo, undone in reverse at exit or on SIGTERM/SIGINT."""

    def __init__(self):
        self.procs = []   # Popen, stopped by PID
        self.roots = []   # temp dirs: unmount, detach loops, delete
        self.files = []   # sockets and other paths to unlink
        self.hooks = []   # callables
        self.done = False
        atexit.register(self.run)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, sig, frame):
        raise SystemExit(128 + sig)

    def tempdir(self, prefix):
        # short: unix socket paths under it must fit in 108 bytes
        d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        self.roots.append(d)
        return d

    def run(self):
        if self.done:
            return
        self.done = True
        for fn in reversed(self.hooks):
            try:
                fn()
            except Exception as ex:  # noqa: BLE001 - cleanup goes on
                log("cleanup: %s" % ex)
        for p in reversed(self.procs):
            stop_proc(p)
        for root in reversed(self.roots):
            release_root(root)
        for f in self.files:
            try:
                os.unlink(f)
            except OSError:
                pass


def stop_proc(p, timeout=15):
    if p.poll() is not None:
        return p.returncode
    try:
        os.kill(p.pid, signal.SIGTERM)
        return p.wait(timeout)
    except ProcessLookupError:
        return None
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
        return p.wait(10)


def procs_of_root(root):
    """PIDs of processes started with REXRAY_HOME=root (engines a helper such
    as loadgen started and could not stop)."""
    want = ("REXRAY_HOME=" + root).encode()
    out = []
    for env_path in glob.glob("/proc/[0-9]*/environ"):
        try:
            with open(env_path, "rb") as f:
                if want in f.read().split(b"\0"):
                    out.append(int(env_path.split("/")[2]))
        except OSError:
            pass
    return [p for p in out if p != os.getpid()]


def release_root(root):
    for pid in procs_of_root(root):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while procs_of_root(root) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in procs_of_root(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for mp in mounts_under(root):
        subprocess.run(["umount", "-l", mp], check=False)
    for dev in loops_under(root):
        subprocess.run(["losetup", "-d", dev], check=False)
    shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------
# HTTP over unix sockets


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def unix_request(path, method, url, body=None, headers=None, conn=None, timeout=60):
    """One request; returns (status, body bytes). Reuses conn when given."""
    c = conn or UnixHTTPConnection(path, timeout)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        c.request(method, url, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        if conn is None:
            c.close()


def wait_socket(path, proc=None, timeout=30, probe=None):
    """Wait until path accepts connections (and probe() is true)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("the process exited with %d before answering" % proc.returncode)
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            s.close()
            if probe is None or probe():
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError("%s did not answer within %ds" % (path, timeout))


# --------------------------------------------------------------------------
# the engine under a temp REXRAY_HOME


def tmpfs_dir():
    """/run when it is a tmpfs (as on a systemd host), else /dev/shm."""
    for d in ("/run", "/dev/shm"):
        try:
            with open("/proc/self/mountinfo") as f:
                for line in f:
                    parts = line.split()
                    fstype = parts[parts.index("-") + 1]
                    if parts[4] == d and fstype == "tmpfs":
                        return d
        except (OSError, ValueError, IndexError):
            pass
    return "/tmp"


def run_tmpfs_dir(cleanup):
    d = tempfile.mkdtemp(prefix="rrbrun", dir=tmpfs_dir())
    cleanup.roots.append(d)
    return d


def unique_plugin(prefix="rrbench"):
    return "%s%d%s" % (prefix, os.getpid(), uuid.uuid4().hex[:6])


class Engine:
    """`rexray service start -f` under its own REXRAY_HOME, with one Docker
    plugin module on <plugin_dir>/<plugin>.sock.

    plugin_dir defaults to <home>/plugins, not /run/docker/plugins: every
    dockerd on a shared machine scans that directory and sends each plugin
    there Plugin.Activate and VolumeDriver.List (a full listing) on its
    `docker volume ls`, which would land in the middle of a measurement.
    Only B2, where dockerd must find the plugin, uses PLUGIN_DIR; dvdcli is
    pointed at the socket directory with DVDCLI_SOCKET_DIR.

    The run directory (REXRAY_HOME_RUN: sockets, pid file, volume locks,
    loop markers) is on a tmpfs, as /var/run is in production (/run), not
    under the temp home: a lock file made and unlinked per create or
    remove on a journalling disk rides along with the next fsync's journal
    commit (0.1-0.2 ms per call here)."""

    def __init__(self, cleanup, service="vfs", extra_config="", plugin=None, plugin_dir=None):
        self.cleanup = cleanup
        self.root = cleanup.tempdir("rrb")
        self.service = service
        self.plugin = plugin or unique_plugin()
        self.plugin_dir = plugin_dir or os.path.join(self.root, "plugins")
        os.makedirs(self.plugin_dir, exist_ok=True)
        self.plugin_sock = os.path.join(self.plugin_dir, self.plugin + ".sock")
        cleanup.files.append(self.plugin_sock)
        self.run = run_tmpfs_dir(cleanup)
        self.rest_sock = os.path.join(self.run, "rexray.sock")
        self.lib = os.path.join(self.root, "var", "lib", "rexray")
        self.proc = None
        os.makedirs(os.path.join(self.root, "etc", "rexray"), exist_ok=True)
        os.makedirs(os.path.join(self.root, "home"), exist_ok=True)
        with open(os.path.join(self.root, "etc", "rexray", "config.yml"), "w") as f:
            f.write("rexray:\n"
                    "  modules:\n"
                    "    bench:\n"
                    "      type: docker\n"
                    "      host: unix://%s\n" % self.plugin_sock + extra_config)

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.upper().startswith(("REXRAY", "LIBSTORAGE", "VFS_", "DOCKER_",
                                            "DVDCLI"))}
        env["REXRAY_HOME"] = self.root
        env["REXRAY_HOME_RUN"] = self.run
        env["HOME"] = os.path.join(self.root, "home")
        env["LIBSTORAGE_SERVICE"] = self.service
        return env

    def command(self, wrapper=()):
        return list(wrapper) + [REXRAY, "service", "start", "-f"]

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            st = f.read().rsplit(")", 1)[1].split()
        return sum(int(v) for v in st[11:15]) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, window=0.3, timeout=60):
        """Wait until the engine has used no CPU for `window` seconds (its
        start-up work done). Returns (seconds since start() began, CPU
        seconds used by then)."""
        deadline = time.monotonic() + timeout
        last, last_change = self.cpu_seconds(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            now, cpu = time.monotonic(), self.cpu_seconds()
            if cpu != last:
                last, last_change = cpu, now
            elif now - last_change >= window:
                return last_change - self.started_at, last
        raise RuntimeError("the engine stayed busy for %ds after its start" % timeout)

    def start(self, wrapper=(), timeout=30):
        self.log_path = os.path.join(self.root, "engine-%d.log" % int(time.time() * 1000))
        out = open(self.log_path, "wb")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.command(wrapper), cwd=self.root, env=self.env(),
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                     start_new_session=True)
        out.close()
        self.cleanup.procs.append(self.proc)
        try:
            wait_socket(self.rest_sock, self.proc, timeout)
            wait_socket(self.plugin_sock, self.proc, timeout)
        except RuntimeError as ex:
            raise RuntimeError("%s\n%s" % (ex, self.logs()))
        return self

    def logs(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None:
            rc = stop_proc(self.proc, timeout=60)
            self.proc = None
            return rc
        return None

    @property
    def pid(self):
        return self.proc.pid

    def cli(self, *args, check=True, timeout=300):
        return run([REXRAY] + list(args), check=check, env=self.env(), timeout=timeout)

    def plugin_call(self, method, body):
        return unix_request(self.plugin_sock, "POST", "/VolumeDriver." + method, body=body)

    def dvdcli_env(self):
        env = self.env()
        env["DVDCLI_DISCOVERY_TIMEOUT"] = "0"
        env["DVDCLI_SOCKET_DIR"] = self.plugin_dir
        env["DVDCLI_SPEC_DIRS"] = ""
        return env

    def dvdcli(self, cmd, name, *extra, check=True):
        return run([DVDCLI, cmd, "--volumedriver=" + self.plugin, "--volumename=" + name]
                   + list(extra), check=check, env=self.dvdcli_env())


# --------------------------------------------------------------------------
# the machine, for the report


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = "%d MiB" % (int(f.readline().split()[1]) // 1024)
    except (OSError, ValueError, IndexError):
        pass
    load = loadavg()
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": os.uname().release,
            "memory": mem, "loadavg": load,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def fmt_ms(s):
    return "%.1f ms" % (s * 1e3)
