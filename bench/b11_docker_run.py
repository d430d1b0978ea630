#!/usr/bin/python3
"""B11: the figures REX-Ray users quote, through a private dockerd
(tests/system/dockerd.py: its own data root, exec root and socket), our
plugin against Docker's built-in `local` driver in the same dockerd, the
sides in rotation round by round:

  run   `docker run --volume-driver <driver> -v <new volume>:/data bb sh -c
        'echo x > /data/f'`: a container of a busybox image (a static
        busybox made into an image with `docker import`, no registry)
        writes a file into a volume that does not exist yet and exits.
        Timed from the container's create to its exit, through the Engine
        API on one keep-alive connection (POST /containers/create, .../start,
        .../wait; the exit code must be 0): what the docker CLI sends,
        without the CLI's own start-up, which is the same on both sides.
        dockerd creates the volume, mounts it, starts the container and
        unmounts it after the exit. Our plugin on the loop service (a new
        1 GiB image: attach, mkfs.ext4, mount; what REX-Ray users get) and
        on vfs (a directory, as `local`). The container and the volume are
        removed after each run, untimed.
  ls    `docker volume ls` with --volumes volumes of our plugin (vfs) vs as
        many `local` volumes: GET /volumes, and the same with the docker
        CLI (`docker volume ls -q`, process start included). dockerd asks
        every volume driver it knows for its whole list on each ls (a
        driver filter applies afterwards), so each side has a dockerd of
        its own: one whose plugin directory is empty, with the `local`
        volumes, and one whose plugin directory holds our plugin only,
        with its volumes and no `local` ones (see Dockerd below).

Ratios are the medians of the per-round ratios. Writes
build/bench/results/b11_docker_run.json.

  bench/b11_docker_run.py [--runs 3] [--rounds 5] [--volumes 1000] [--quick]
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "system"))
sys.dont_write_bytecode = True  # no __pycache__ in bench/
import benchlib as bl  # noqa: E402
import dockerd  # noqa: E402
from b2_docker import DockerAPI, rotate  # noqa: E402

IMAGE = "bb"


class Dockerd(dockerd.Dockerd):
    """A private dockerd in a mount namespace of its own, where
    /run/docker/plugins is plugin_dir: `docker volume ls` asks every
    plugin there for its list, and a shared machine's other plugins, or a
    dead socket left by a crashed test (a 15 s wait per call), would land
    in the measurement. shared_roots (the engines' homes) are made shared
    mount points first, so that the volumes the engines mount later show
    in dockerd's namespace too."""

    def __init__(self, plugin_dir, shared_roots):
        super().__init__()
        self.plugin_dir, self.shared_roots = plugin_dir, shared_roots

    def start(self, timeout=60):
        for r in self.shared_roots:
            bl.run(["mount", "--bind", r, r])
            bl.run(["mount", "--make-shared", r])
        return super().start(timeout, wrap=[
            "unshare", "-m", "--propagation", "unchanged", "sh", "-c",
            'mount --bind "$0" /run/docker/plugins && exec "$@"', self.plugin_dir])


def container_run(api, driver, vol, timing):
    """One `docker run -v vol:/data --volume-driver driver`: seconds from
    the create to the exit; the container and the volume go afterwards."""
    body = {"Image": IMAGE, "Cmd": ["sh", "-c", "echo x > /data/f"],
            "HostConfig": {"Binds": [vol + ":/data"], "VolumeDriver": driver,
                           "NetworkMode": "none"}}
    t0 = time.monotonic()
    cid = json.loads(api.call("POST", "/containers/create", body, want=(201,)))["Id"]
    t1 = time.monotonic()
    api.call("POST", "/containers/%s/start" % cid, want=(204,))
    t2 = time.monotonic()
    code = json.loads(api.call("POST", "/containers/%s/wait" % cid))["StatusCode"]
    t3 = time.monotonic()
    if code != 0:
        raise RuntimeError("container of %s on %s exited with %d" % (vol, driver, code))
    api.call("DELETE", "/containers/%s?force=1" % cid, want=(204,))
    api.call("DELETE", "/volumes/" + vol, want=(204,))
    for k, v in (("create", t1 - t0), ("start", t2 - t1), ("wait", t3 - t2)):
        timing[k].append(v)
    return t3 - t0


def volume_ls(api, driver, want):
    """GET /volumes on a dockerd whose volumes are all driver's."""
    t0 = time.monotonic()
    vols = json.loads(api.call("GET", "/volumes")).get("Volumes") or []
    dt = time.monotonic() - t0
    if len(vols) != want or any(v["Driver"] != driver for v in vols):
        raise RuntimeError("volume ls: %d volumes, expected %d of %s"
                           % (len(vols), want, driver))
    return dt


def cli_ls(dk, want):
    t0 = time.monotonic()
    p = dk.docker("volume", "ls", "-q")
    dt = time.monotonic() - t0
    if len(p.stdout.split()) != want:
        raise RuntimeError("docker volume ls: %d lines, expected %d"
                           % (len(p.stdout.split()), want))
    return dt


def ls_dockerd(plugin_dir, driver, n):
    """A dockerd whose plugin directory is plugin_dir, with n volumes of
    driver made through it (untimed)."""
    dk = Dockerd(plugin_dir, [])
    CLEAN.hooks.append(dk.stop)
    dk.start()
    api = DockerAPI(dk.sock)
    t0 = time.monotonic()
    for i in range(n):
        api.call("POST", "/volumes/create", {"Name": "b11l%05d" % i, "Driver": driver},
                 want=(200, 201))
    bl.log("B11 ls: %d volumes of %s made in %.1f s" % (n, driver, time.monotonic() - t0))
    volume_ls(api, driver, n)  # warm-up
    return dk, api


def main():
    res = {"machine": bl.machine(), "runs": ARGS.runs, "rounds": ARGS.rounds,
           "volumes": ARGS.volumes}
    if not dockerd.available():
        res["skipped"] = "needs root, dockerd, busybox and loop devices"
        bl.save_result("b11_docker_run", res)
        print("B11 skipped: " + res["skipped"])
        return
    bl.check_binaries(bl.REXRAY)
    plugins = CLEAN.tempdir("rrb11p")
    engines = {svc: bl.Engine(CLEAN, service=svc, plugin_dir=plugins) for svc in ("loop", "vfs")}
    dk = Dockerd(plugins, [e.root for e in engines.values()])
    CLEAN.hooks.append(dk.stop)
    bl.log("starting a private dockerd in " + dk.root)
    dk.start()
    dk.import_busybox(IMAGE)
    for e in engines.values():
        e.start()
    api = DockerAPI(dk.sock)
    drivers = {"local": "local", "loop": engines["loop"].plugin, "vfs": engines["vfs"].plugin}

    # run: a new volume each time, the sides in rotation
    timing = {n: {"create": [], "start": [], "wait": []} for n in drivers}
    seq = [0]

    def side(name):
        def f():
            seq[0] += 1
            total = 0.0
            for i in range(ARGS.runs):
                total += container_run(api, drivers[name], "b11r%dv%d" % (seq[0], i),
                                       timing[name])
            return total / ARGS.runs
        return f

    for n, d in drivers.items():  # warm-up: the image's layers, the plugins' activation
        container_run(api, d, "b11warm", {"create": [], "start": [], "wait": []})
    bl.log("B11 run: %d rounds of %d containers per driver" % (ARGS.rounds, ARGS.runs))
    names = list(drivers)
    t = dict(zip(names, rotate([side(n) for n in names], ARGS.rounds)))
    run = {}
    for n in names:
        run[n + "_s"] = t[n]
        run[n + "_median_s"] = bl.median(t[n])
        run[n + "_parts_median_s"] = {k: bl.median(v) for k, v in timing[n].items()}
    for n in ("loop", "vfs"):
        run[n + "_ratio_rounds"] = [a / b for a, b in zip(t[n], t["local"])]
        run[n + "_ratio"] = bl.median(run[n + "_ratio_rounds"])
    res["run"] = run

    # ls: a dockerd with --volumes local volumes and no plugin, and one with
    # as many of a vfs engine's of its own and no local ones
    n = ARGS.volumes
    lsp = CLEAN.tempdir("rrb11q")
    ls_engine = bl.Engine(CLEAN, service="vfs", plugin_dir=lsp).start()
    sides = {"local": ls_dockerd(CLEAN.tempdir("rrb11e"), "local", n),
             "vfs": ls_dockerd(lsp, ls_engine.plugin, n)}
    ls = {}

    def ls_side(name, cli):
        dk_, api_ = sides[name]
        driver = "local" if name == "local" else ls_engine.plugin

        def f():
            if cli:
                return cli_ls(dk_, n)
            return bl.median([volume_ls(api_, driver, n) for _ in range(3)])
        return f

    for key, cli in (("api", False), ("cli", True)):
        a, b = rotate([ls_side("local", cli), ls_side("vfs", cli)], ARGS.rounds)
        ls[key] = {"local_s": a, "vfs_s": b, "local_median_s": bl.median(a),
                   "vfs_median_s": bl.median(b),
                   "ratio": bl.median([y / x for x, y in zip(a, b)])}
    res["ls"] = ls
    bl.save_result("b11_docker_run", res)
    print("B11 docker run -v <new volume> to the container's first write and exit: local "
          "%.0f ms, rexray loop %.0f ms (%.2fx), rexray vfs %.0f ms (%.2fx)"
          % (run["local_median_s"] * 1e3, run["loop_median_s"] * 1e3, run["loop_ratio"],
             run["vfs_median_s"] * 1e3, run["vfs_ratio"]))
    print("B11 docker volume ls, %d volumes: API local %.1f ms, rexray vfs %.1f ms (%.2fx); "
          "CLI local %.1f ms, rexray vfs %.1f ms (%.2fx)"
          % (n, ls["api"]["local_median_s"] * 1e3, ls["api"]["vfs_median_s"] * 1e3,
             ls["api"]["ratio"], ls["cli"]["local_median_s"] * 1e3,
             ls["cli"]["vfs_median_s"] * 1e3, ls["cli"]["ratio"]))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="containers per driver per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--volumes", type=int, default=1000, help="volumes per side for ls")
    ap.add_argument("--quick", action="store_true", help="2 containers per round")
    ARGS = ap.parse_args()
    if ARGS.quick:
        ARGS.runs = 2
    if ARGS.rounds < 5:
        sys.exit("bench: at least 5 rounds")
    CLEAN = bl.Cleanup()
    try:
        main()
    finally:
        CLEAN.run()
