#!/usr/bin/python3
"""Soak test (issue 8, section 5): mixed Docker plugin requests against one
engine (vfs service) from several threads, then a check that nothing went
wrong and that the engine's resident memory stayed flat.

Each thread owns a few volume names and keeps its own model of them
(exists, mounted by which IDs), so every request it sends has one right
answer: 200 with "Err":"" and the Name/Mountpoint the model predicts. Any
other answer, a dropped connection or a timeout is an error; the run passes
with 0 errors. The mix: Get, Path, List, Create (new and idempotent), Mount
and Unmount (real bind mounts of vfs volumes, one or two container IDs per
volume, sometimes none as dvdcli sends), Remove, Capabilities and
Plugin.Activate. Most requests reuse a keep-alive connection; one in
RECONNECT_EVERY opens a new one, as a Docker daemon does now and then.

VmRSS of the engine is sampled every SAMPLE_EVERY seconds; after the
warm-up (the first WARMUP_FRACTION of the run, at least 30 s in a full
run) max - min must be <= RSS_LIMIT_KB.

Environment:
  STRESS_SECONDS   minimum run time (default 600)
  STRESS_REQUESTS  minimum number of requests (default 1,000,000 for a
                   600 s run, in proportion for a shorter one)
  STRESS_THREADS   client threads (default 4)
  STRESS_RSS_KB    allowed RSS spread after warm-up (default 1024)
  STRESS_REPORT    write the JSON summary there as well
  REXRAY_BIN       the engine (default build/rexray)

Exit status 0 when both targets were reached with 0 errors and a flat RSS.
Everything it starts (the engine, its mounts, the temporary home) is
stopped and removed at the end, also on failure or Ctrl-C.
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REXRAY = os.environ.get("REXRAY_BIN") or os.path.join(REPO, "build", "rexray")

SECONDS = float(os.environ.get("STRESS_SECONDS", "600"))
REQUESTS = int(os.environ.get("STRESS_REQUESTS", str(int(1_000_000 * min(1.0, SECONDS / 600)))))
THREADS = int(os.environ.get("STRESS_THREADS", "4"))
RSS_LIMIT_KB = int(os.environ.get("STRESS_RSS_KB", "1024"))
REPORT = os.environ.get("STRESS_REPORT", "")
NAMES_PER_THREAD = 6
RECONNECT_EVERY = 200
SAMPLE_EVERY = 2.0
WARMUP_FRACTION = 0.2
REQUEST_TIMEOUT = 30.0
MAX_ERRORS_SHOWN = 20

MIX = [  # (operation, weight)
    ("Get", 24), ("Path", 18), ("List", 8), ("Create", 12), ("Mount", 13),
    ("Unmount", 13), ("Remove", 8), ("Capabilities", 2), ("Activate", 2),
]


# --------------------------------------------------------------------------
# a minimal keep-alive HTTP/1.1 client over the plugin's UNIX socket


class Conn:
    def __init__(self, path):
        self.path = path
        self.sock = None
        self.buf = b""

    def open(self):
        self.close()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(REQUEST_TIMEOUT)
        s.connect(self.path)
        self.sock, self.buf = s, b""

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock, self.buf = None, b""

    def post(self, method, body):
        """POST /<method>; returns (status, parsed JSON). Raises OSError or
        ValueError on a broken exchange."""
        if self.sock is None:
            self.open()
        data = json.dumps(body).encode() if body is not None else b""
        self.sock.sendall(b"POST /%s HTTP/1.1\r\nHost: plugin\r\n"
                          b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                          % (method.encode(), len(data), data))
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = None
        close = False
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"connection" and v.strip().lower() == b"close":
                close = True
        if length is None:
            raise ValueError("reply without Content-Length: %r" % head[:200])
        self.buf = rest
        while len(self.buf) < length:
            self._fill()
        payload, self.buf = self.buf[:length], self.buf[length:]
        if close:
            self.close()
        return status, json.loads(payload.decode("utf-8"))

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the engine closed the connection")
        self.buf += chunk


# --------------------------------------------------------------------------
# the engine


class Engine:
    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="rrsoak")
        self.plugin = os.path.join(self.root, "run", "docker", "plugins", "rexray.sock")
        self.mount_dir = os.path.join(self.root, "var", "lib", "rexray", "volumes")
        self.proc = None

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.upper().startswith(("REXRAY", "LIBSTORAGE", "VFS_", "DOCKER_"))}
        env.update(REXRAY_HOME=self.root, HOME=self.root, LIBSTORAGE_SERVICE="vfs",
                   REXRAY_LOGLEVEL="warn")
        return env

    def start(self):
        self.out = open(os.path.join(self.root, "engine.log"), "wb")
        self.proc = subprocess.Popen([REXRAY, "service", "start", "-f"], cwd=self.root,
                                     env=self.env(), stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the engine exited with %s:\n%s" % (self.proc.returncode,
                                                                        self.log()))
            try:
                c = Conn(self.plugin)
                st, _ = c.post("Plugin.Activate", None)
                c.close()
                if st == 200:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError("the plugin socket did not answer within 60 s:\n" + self.log())

    def log(self):
        try:
            with open(os.path.join(self.root, "engine.log"), "rb") as f:
                return f.read()[-3000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def status(self):
        """{VmRSS, VmHWM (KiB), Threads} of the engine."""
        out = {}
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "Threads"):
                    out[k] = int(v.split()[0])
        try:
            out["fds"] = len(os.listdir("/proc/%d/fd" % self.proc.pid))
        except OSError:
            pass
        return out

    def mounts(self):
        out = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4]
                if mp == self.root or mp.startswith(self.root + "/"):
                    out.append(mp)
        return sorted(out, key=len, reverse=True)

    def stop(self):
        """SIGTERM by PID; returns the exit status (None if it had to be killed)."""
        rc = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        elif self.proc:
            rc = self.proc.returncode
        if getattr(self, "out", None):
            self.out.close()
        return rc

    def cleanup(self):
        self.stop()
        for mp in self.mounts():
            subprocess.run(["umount", "-l", mp], check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def who_holds(root):
    """For an EBUSY: the processes with a cwd, root or open file under root,
    and those in another mount namespace (a copy of the mount may be busy
    there), as they are right now."""
    out = []
    try:
        my_ns = os.readlink("/proc/self/ns/mnt")
    except OSError:
        my_ns = None
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        base = "/proc/" + pid
        try:
            with open(base + "/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")[:120]
            ns = os.readlink(base + "/ns/mnt")
        except OSError:
            continue
        held = []
        for link in ["cwd", "root"] + ["fd/" + fd for fd in _listdir(base + "/fd")]:
            try:
                target = os.readlink(base + "/" + link)
            except OSError:
                continue
            if target.startswith(root):
                held.append("%s -> %s" % (link, target))
        if held:
            out.append("pid %s (%s) holds %s" % (pid, cmd, ", ".join(held[:4])))
        elif my_ns and ns != my_ns and cmd:
            out.append("pid %s (%s) is in mount namespace %s" % (pid, cmd, ns))
    return out[:30] or ["no process holds it now"]


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


# --------------------------------------------------------------------------
# one client thread


class Worker(threading.Thread):
    def __init__(self, idx, eng, stop, seed):
        super().__init__(name="soak-%d" % idx, daemon=True)
        self.idx = idx
        self.eng = eng
        self.stop_ev = stop
        self.rng = random.Random(seed)
        self.names = ["soak%d-%d" % (idx, k) for k in range(NAMES_PER_THREAD)]
        self.exists = set()
        self.users = {n: [] for n in self.names}  # mount IDs ("" = no ID)
        self.count = 0
        self.by_op = {op: 0 for op, _ in MIX}
        self.errors = []
        self.conn = Conn(eng.plugin)
        self.ops = [op for op, w in MIX for _ in range(w)]

    def error(self, op, body, what):
        msg = "%s %s: %s" % (op, json.dumps(body), what)
        self.errors.append(msg)
        if len(self.errors) <= 5:  # at once too, with the time: the run may go on long
            print("soak: ERROR at %s (thread %d): %s" % (time.strftime("%H:%M:%S"), self.idx,
                                                         msg), flush=True)
            if "busy" in what.lower():
                for line in who_holds(self.eng.root):
                    print("soak:   %s" % line, flush=True)

    def expect(self, op, body, check=None):
        """One request that must succeed; returns its reply or None."""
        try:
            status, reply = self.conn.post("VolumeDriver." + op if op not in
                                           ("Activate",) else "Plugin.Activate", body)
        except (OSError, ValueError) as ex:
            self.conn.close()
            self.error(op, body, "exchange failed: %r" % ex)
            return None
        finally:
            self.count += 1
            self.by_op[op] = self.by_op.get(op, 0) + 1
        if status != 200:
            self.error(op, body, "status %d %r" % (status, reply))
            return None
        if op not in ("Activate", "Capabilities") and reply.get("Err") != "":
            self.error(op, body, "Err %r" % reply.get("Err"))
            return None
        if check:
            why = check(reply)
            if why:
                self.error(op, body, "%s: %r" % (why, reply))
                return None
        return reply

    def mountpoint(self, name):
        return os.path.join(self.eng.mount_dir, name, "data")

    def step(self):
        op = self.rng.choice(self.ops)
        name = self.rng.choice(self.names)
        if self.count % RECONNECT_EVERY == 0:
            self.conn.close()
        if op in ("Get", "Path", "Remove", "Unmount") and name not in self.exists:
            op = "Create"  # only requests with one right answer
        if op == "Remove" and self.users[name]:
            op = "Unmount"
        if op == "Unmount" and not self.users[name]:
            op = "Mount"
        body = {"Name": name}
        if op == "Create":
            if self.rng.random() < 0.5:
                body["Opts"] = {"size": str(self.rng.randint(1, 8))}
            if self.expect(op, body):
                self.exists.add(name)
        elif op == "Get":
            mp = self.mountpoint(name) if self.users[name] else None
            self.expect(op, body, lambda r: None if r["Volume"]["Name"] == name and
                        r["Volume"].get("Mountpoint") == mp else "wrong volume or mountpoint")
        elif op == "Path":
            mp = self.mountpoint(name) if self.users[name] else ""
            self.expect(op, body, lambda r: None if r.get("Mountpoint", "") == mp
                        else "wrong mountpoint (want %r)" % mp)
        elif op == "List":
            mine = set(self.exists)
            self.expect(op, None if self.rng.random() < 0.5 else {},
                        lambda r: None if mine <= {v["Name"] for v in r["Volumes"]}
                        else "own volumes missing")
        elif op == "Mount":
            if len(self.users[name]) >= 2:
                op = "Unmount"
            else:
                # one caller without an ID (as dvdcli sends) at a time
                mid = "c%d-%d" % (self.idx, self.count)
                if "" not in self.users[name] and self.rng.random() < 0.2:
                    mid = ""
                if mid:
                    body["ID"] = mid
                mp = self.mountpoint(name)
                if self.expect(op, body, lambda r: None if r.get("Mountpoint") == mp
                               else "wrong mountpoint"):
                    self.users[name].append(mid)
                    self.exists.add(name)
                return
        if op == "Unmount":
            mid = self.rng.choice(self.users[name])
            if mid:
                body["ID"] = mid
            if self.expect(op, body):
                self.users[name].remove(mid)
        elif op == "Remove":
            if self.expect(op, body):
                self.exists.discard(name)
        elif op == "Capabilities":
            self.expect(op, None, lambda r: None if r == {"Capabilities": {"Scope": "global"}}
                        else "wrong capabilities")
        elif op == "Activate":
            self.expect(op, None, lambda r: None if r == {"Implements": ["VolumeDriver"]}
                        else "wrong implements")

    def run(self):
        try:
            while not self.stop_ev.is_set():
                self.step()
        except Exception as ex:  # noqa: BLE001 - reported as an error
            self.errors.append("worker crashed: %r" % ex)

    def tidy(self):
        """Unmount and remove what this thread left (not counted)."""
        for name in self.names:
            for mid in list(self.users[name]):
                body = {"Name": name}
                if mid:
                    body["ID"] = mid
                if self.expect("Unmount", body):
                    self.users[name].remove(mid)
            if name in self.exists and self.expect("Remove", {"Name": name}):
                self.exists.discard(name)
        self.conn.close()


# --------------------------------------------------------------------------


def main():
    if not (os.path.isfile(REXRAY) and os.access(REXRAY, os.X_OK)):
        print("soak: %s is not built (run `make build/rexray`)" % REXRAY, file=sys.stderr)
        return 2
    eng = Engine()
    stop = threading.Event()
    samples = []  # (seconds since start, requests so far, status dict)
    workers = []
    result = {"ok": False}
    try:
        eng.start()
        print("soak: engine pid %d, home %s; %d threads, at least %d requests and %.0f s"
              % (eng.proc.pid, eng.root, THREADS, REQUESTS, SECONDS), flush=True)
        seed = int(os.environ.get("STRESS_SEED", str(int(time.time()))))
        workers = [Worker(i, eng, stop, seed + i) for i in range(THREADS)]
        t0 = time.monotonic()
        for w in workers:
            w.start()
        next_sample = t0
        next_print = t0 + 30
        while True:
            now = time.monotonic()
            done = sum(w.count for w in workers)
            if now >= next_sample:
                if eng.proc.poll() is not None:
                    print("soak: the engine died with %s" % eng.proc.returncode, flush=True)
                    break
                samples.append((round(now - t0, 1), done, eng.status()))
                next_sample += SAMPLE_EVERY
            if now >= next_print:
                st = samples[-1][2]
                print("soak: %6.0fs %9d requests (%5.0f/s) errors %d RSS %d KiB threads %d"
                      % (now - t0, done, done / (now - t0), sum(len(w.errors) for w in workers),
                         st["VmRSS"], st["Threads"]), flush=True)
                next_print += 30
            if now - t0 >= SECONDS and done >= REQUESTS:
                break
            if sum(len(w.errors) for w in workers) > 1000:
                print("soak: too many errors, stopping", flush=True)
                break
            time.sleep(0.05)
        stop.set()
        for w in workers:
            w.join(REQUEST_TIMEOUT + 5)
        elapsed = time.monotonic() - t0
        total = sum(w.count for w in workers)
        samples.append((round(elapsed, 1), total, eng.status()))
        errors = [e for w in workers for e in w.errors]
        by_op = {}
        for w in workers:
            for op, n in w.by_op.items():
                by_op[op] = by_op.get(op, 0) + n

        warm = max(WARMUP_FRACTION * elapsed, 30.0 if SECONDS >= 300 else 0.0)
        after = [s for s in samples if s[0] >= warm]
        rss = [s[2]["VmRSS"] for s in after]
        spread = (max(rss) - min(rss)) if rss else None

        # tidy up through the plugin, then the engine must still be whole
        for w in workers:
            w.tidy()
        tidy_errors = [e for w in workers for e in w.errors[len(errors):]]
        left = []
        try:
            c = Conn(eng.plugin)
            _, lst = c.post("VolumeDriver.List", {})
            c.close()
            left = [v["Name"] for v in lst.get("Volumes", [])]
        except (OSError, ValueError) as ex:
            tidy_errors.append("final List failed: %r" % ex)
        mounts_left = eng.mounts()
        rc = eng.stop()

        result = {
            "requests": total,
            "seconds": round(elapsed, 1),
            "rate_per_s": round(total / elapsed, 1) if elapsed else 0,
            "threads": THREADS,
            "errors": len(errors),
            "by_operation": by_op,
            "rss_kb_first": samples[0][2]["VmRSS"] if samples else None,
            "rss_kb_peak": max(s[2]["VmRSS"] for s in samples) if samples else None,
            "warmup_s": round(warm, 1),
            "rss_kb_min_after_warmup": min(rss) if rss else None,
            "rss_kb_max_after_warmup": max(rss) if rss else None,
            "rss_spread_kb": spread,
            "rss_limit_kb": RSS_LIMIT_KB,
            "engine_threads_last": samples[-1][2].get("Threads") if samples else None,
            "engine_fds_last": samples[-1][2].get("fds") if samples else None,
            "samples": len(samples),
            "volumes_left": left,
            "mounts_left": mounts_left,
            "tidy_errors": tidy_errors,
            "engine_exit": rc,
        }
        ok = (not errors and not tidy_errors and total >= REQUESTS and elapsed >= SECONDS
              and spread is not None and spread <= RSS_LIMIT_KB and not left
              and not mounts_left and rc == 0)
        result["ok"] = ok
        for e in errors[:MAX_ERRORS_SHOWN]:
            print("soak: ERROR %s" % e)
        for e in tidy_errors[:MAX_ERRORS_SHOWN]:
            print("soak: ERROR (tidy) %s" % e)
        print("soak: RSS samples after warm-up (KiB): %s" % " ".join(str(r) for r in rss[::max(1, len(rss) // 40)]))
        print("soak: " + json.dumps(result, sort_keys=True))
        print("soak: %s: %d requests in %.0f s (%.0f/s), %d errors, RSS spread %s KiB "
              "after %.0f s warm-up (limit %d)"
              % ("PASS" if ok else "FAIL", total, elapsed, total / elapsed if elapsed else 0,
                 len(errors), spread, warm, RSS_LIMIT_KB), flush=True)
        if not ok and eng.proc and eng.proc.returncode not in (0, None):
            print(eng.log())
    except KeyboardInterrupt:
        print("soak: interrupted", file=sys.stderr)
    finally:
        stop.set()
        if REPORT:
            with open(REPORT, "w") as f:
                json.dump(result, f, indent=2, sort_keys=True)
        eng.cleanup()
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
