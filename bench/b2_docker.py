#!/usr/bin/python3
"""B2: `docker volume create` + `inspect` + `rm`, 100 times, with our plugin
against Docker's built-in `local` driver, on a private dockerd
(tests/system/dockerd.py: its own data root, exec root and socket).

The calls go to dockerd's Engine API over its unix socket, on one
keep-alive connection (POST /volumes/create, GET /volumes/<name>, DELETE
/volumes/<name>): exactly what the docker CLI sends, without the ~30 ms the
CLI binary itself costs per command on both sides, which would only pull
the ratio towards 1. Two engines serve the plugin side, one with the loop
service (sparse image files, the engine's default) and one with vfs
(directories, what `local` does too); both plugins are in
/run/docker/plugins under unique names, where dockerd looks for them.
The three sides run in rotation each round; ratios are the median of the
per-round ratios. Then a breakdown: the plugin calls dockerd makes per
cycle (through a counting proxy) and each method's latency on the socket.

  bench/b2_docker.py [--count 100] [--rounds 7]
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "system"))
sys.dont_write_bytecode = True  # no __pycache__ in bench/
import benchlib as bl  # noqa: E402
import dockerd  # noqa: E402


class DockerAPI:
    def __init__(self, sock):
        self.sock = sock
        self.conn = bl.UnixHTTPConnection(sock, timeout=120)

    def call(self, method, url, body=None, want=(200,)):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        st, data = bl.unix_request(self.sock, method, url, body=body, headers=headers,
                                   conn=self.conn)
        if st not in want:
            raise RuntimeError("docker API %s %s: %d %s" % (method, url, st, data[:300]))
        return data

    def cycle(self, driver, name):
        self.call("POST", "/volumes/create", {"Name": name, "Driver": driver}, want=(200, 201))
        info = json.loads(self.call("GET", "/volumes/" + name))
        if info.get("Driver") != driver:
            raise RuntimeError("volume %s has driver %r, not %r" % (name, info.get("Driver"),
                                                                    driver))
        self.call("DELETE", "/volumes/" + name, want=(204,))


class CountingProxy:
    """A plugin socket that forwards to another one and records the plugin
    methods dockerd calls: which calls one docker volume cycle costs."""

    def __init__(self, path, target):
        self.path, self.target, self.calls = path, target, []
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(16)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            u.connect(self.target)
            threading.Thread(target=self.pipe, args=(c, u, True), daemon=True).start()
            threading.Thread(target=self.pipe, args=(u, c, False), daemon=True).start()

    def pipe(self, a, b, record):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if record:
                    self.calls += re.findall(rb"POST /([A-Za-z.]+) HTTP", data)
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.srv.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def method_latencies(eng, n):
    """Median latency of each plugin method called straight on the socket
    (one keep-alive connection, a Python client), in a cycle's order."""
    conn = bl.UnixHTTPConnection(eng.plugin_sock)
    lat = {m: [] for m in ("Create", "Get", "Path", "Remove")}
    for i in range(n):
        name = "b2m%d" % i
        for m in lat:
            t0 = time.monotonic()
            st, body = bl.unix_request(eng.plugin_sock, "POST", "/VolumeDriver." + m,
                                       body={"Name": name, "Opts": {}}, conn=conn)
            lat[m].append(time.monotonic() - t0)
            if st != 200:
                raise RuntimeError("%s: %d %s" % (m, st, body[:200]))
    conn.close()
    return {m: bl.median(v) * 1e3 for m, v in lat.items()}


def sync_costs(d, n=50):
    """Median ms of the two syncs a create or remove pays for on d's disk:
    an fdatasync of a file just appended to (as SQLite's WAL commit) and an
    fsync of a directory just changed (as a new volume's name)."""
    fdata, fdir = [], []
    path = os.path.join(d, "b2sync")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i in range(n):
            os.pwrite(fd, b"x" * 4096, i * 4096)
            t0 = time.monotonic()
            os.fdatasync(fd)
            fdata.append(time.monotonic() - t0)
            sub = os.path.join(d, "b2sync%d" % i)
            os.mkdir(sub)
            t0 = time.monotonic()
            os.fsync(dfd)
            fdir.append(time.monotonic() - t0)
            os.rmdir(sub)
    finally:
        os.close(fd)
        os.close(dfd)
        os.unlink(path)
    return {"fdatasync": bl.median(fdata) * 1e3, "dir_fsync": bl.median(fdir) * 1e3}


def rotate(fns, rounds):
    """Each round runs every fn once; the order rotates from round to round."""
    out = [[] for _ in fns]
    for r in range(rounds):
        for k in range(len(fns)):
            i = (k + r) % len(fns)
            out[i].append(fns[i]())
    return out


def main():
    res = {"machine": bl.machine(), "count": ARGS.count, "rounds": ARGS.rounds}
    if not dockerd.available():
        res["skipped"] = "needs root, dockerd, busybox and loop devices"
        bl.save_result("b2_docker", res)
        print("B2 skipped: " + res["skipped"])
        return
    bl.check_binaries(bl.REXRAY)
    os.makedirs(bl.PLUGIN_DIR, exist_ok=True)
    dk = dockerd.Dockerd()
    CLEAN.hooks.append(dk.stop)
    bl.log("starting a private dockerd in " + dk.root)
    dk.start()
    engines = {}
    for svc in ("loop", "vfs"):
        eng = bl.Engine(CLEAN, service=svc, plugin_dir=bl.PLUGIN_DIR)
        eng.start()
        engines[svc] = eng
    # the floor: a plugin that keeps names in memory and does nothing else
    # (bench/static_server --memory): what any plugin costs dockerd
    _, static_server = bl.build_helpers()
    null_name = bl.unique_plugin("rrnull")
    null_sock = os.path.join(bl.PLUGIN_DIR, null_name + ".sock")
    CLEAN.files.append(null_sock)
    null_proc = subprocess.Popen([static_server, null_sock, "--memory"])
    CLEAN.procs.append(null_proc)
    bl.wait_socket(null_sock, null_proc)
    api = DockerAPI(dk.sock)
    seq = [0]

    def side(driver):
        def f():
            seq[0] += 1
            t0 = time.monotonic()
            for i in range(ARGS.count):
                api.cycle(driver, "b2r%dv%d" % (seq[0], i))
            return time.monotonic() - t0
        return f

    drivers = {"local": "local", "loop": engines["loop"].plugin, "vfs": engines["vfs"].plugin,
               "null": null_name}
    for d in drivers.values():  # warm-up: dockerd finds and activates the plugins
        api.cycle(d, "b2warm")
    bl.log("B2: %d rounds of %d create+inspect+rm per driver" % (ARGS.rounds, ARGS.count))
    names = list(drivers)
    times = rotate([side(drivers[n]) for n in names], ARGS.rounds)
    t = dict(zip(names, times))
    for n in names:
        res[n + "_s"] = t[n]
        res[n + "_median_s"] = bl.median(t[n])
    for svc in ("loop", "vfs", "null"):
        res[svc + "_ratio_rounds"] = [a / b for a, b in zip(t[svc], t["local"])]
        res[svc + "_ratio"] = bl.median(res[svc + "_ratio_rounds"])

    # where the plugin side's time goes: the calls of one cycle, and each
    # method's latency on the socket itself
    eng = engines["loop"]
    proxy_name = eng.plugin + "-count"
    proxy = CountingProxy(os.path.join(bl.PLUGIN_DIR, proxy_name + ".sock"), eng.plugin_sock)
    CLEAN.hooks.append(proxy.close)
    api.cycle(proxy_name, "b2warm2")
    proxy.calls.clear()
    api.cycle(proxy_name, "b2count")
    res["plugin_calls_per_cycle"] = [c.decode() for c in proxy.calls]
    for svc in ("loop", "vfs"):
        res[svc + "_method_ms"] = method_latencies(engines[svc], 30)
    res["sync_ms"] = sync_costs(engines["vfs"].lib)

    # nothing left behind, asked of the engines themselves (dockerd's GET
    # /volumes would also call List on every other plugin of the machine)
    for svc, e in engines.items():
        st, body = bl.unix_request(e.rest_sock, "GET", "/volumes/" + svc)
        left = [v["name"] for v in json.loads(body).values()] if st == 200 else []
        if st != 200 or left:
            raise RuntimeError("engine %s: %d, volumes left behind: %r" % (svc, st, left[:10]))
    bl.save_result("b2_docker", res)
    print("B2 %d x create+inspect+rm: local %.0f ms, rexray loop %.0f ms (%.2fx), "
          "rexray vfs %.0f ms (%.2fx); target <= 1.2x; a plugin doing nothing %.0f ms (%.2fx)"
          % (ARGS.count, res["local_median_s"] * 1e3, res["loop_median_s"] * 1e3,
             res["loop_ratio"], res["vfs_median_s"] * 1e3, res["vfs_ratio"],
             res["null_median_s"] * 1e3, res["null_ratio"]))
    print("B2 plugin calls per cycle: %s; loop method latencies (ms): %s"
          % (" ".join(res["plugin_calls_per_cycle"]),
             ", ".join("%s %.2f" % kv for kv in res["loop_method_ms"].items())))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=7)
    ARGS = ap.parse_args()
    if ARGS.rounds < 5:
        sys.exit("bench: at least 5 rounds")
    CLEAN = bl.Cleanup()
    try:
        main()
    finally:
        CLEAN.run()
