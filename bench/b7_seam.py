#!/usr/bin/python3
"""B7: what the system-call seam (src/util/sys.h, issue 24) costs when no
fault is armed: the engine as released against the same tree built with
-DRR_SYS_NOSEAM, where every wrapper is the bare call. Side by side in one
run, alternating which goes first:

  B1-style  the Docker plugin's Get and Path (loadgen, 8 keep-alive
            clients) with 200 vfs volumes: every request's allocations
            and JSON go through the seam
  B3-style  `rexray volume mount` + `unmount` of a loop volume from the
            CLI (attach, probe, mount, unmount, detach: the seam's
            opens, ioctls, mounts and syncs), whole processes timed

Prints the ratios (seam / bare; 1.00 = no cost) and writes
build/bench/results/b7_seam.json.

  bench/b7_seam.py [--rounds R] [--duration S] [--cycles C]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import benchlib as bl  # noqa: E402

AP = argparse.ArgumentParser(description=__doc__.split("\n")[0])
AP.add_argument("--rounds", type=int, default=5)
AP.add_argument("--duration", type=float, default=2.0)
AP.add_argument("--cycles", type=int, default=10)
ARGS = AP.parse_args()
CLEAN = bl.Cleanup()


def build_bare():
    """The checkout copied to build/bench/noseam and built without the seam."""
    tree = os.path.join(bl.BUILD, "noseam")
    shutil.rmtree(tree, ignore_errors=True)
    files = subprocess.run(["git", "ls-files"], cwd=bl.REPO, stdout=subprocess.PIPE, text=True,
                           check=True).stdout.split()
    for f in files:
        src, dst = os.path.join(bl.REPO, f), os.path.join(tree, f)
        if os.path.isfile(src):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)
    bl.log("building the bare baseline (-DRR_SYS_NOSEAM) in %s" % tree)
    subprocess.run(["make", "-s", "-j2", "CFLAGS=-O2 -g -DRR_SYS_NOSEAM", "build/rexray"],
                   cwd=tree, check=True, stdout=subprocess.DEVNULL)
    return os.path.join(tree, "build", "rexray")


class Engine(bl.Engine):
    def __init__(self, binary, **kw):
        super().__init__(CLEAN, **kw)
        self.binary = binary

    def command(self, wrapper=()):
        return list(wrapper) + [self.binary, "service", "start", "-f"]

    def cli(self, *args, check=True, timeout=300):
        return bl.run([self.binary] + list(args), check=check, env=self.env(), timeout=timeout)


def loadgen_json(cmd):
    p = bl.run(cmd, timeout=600)
    return json.loads(p.stdout.strip().splitlines()[-1])


def b1(loadgen, seam, bare):
    engines = []
    for binary in (seam, bare):
        eng = Engine(binary, service="vfs")
        eng.start()
        r = loadgen_json([loadgen, "create", "--socket", eng.rest_sock, "--service", "vfs",
                          "--clients", "8", "--count", "200", "--prefix", "b"])
        assert not r["errors"], r
        eng.wait_idle()
        engines.append(eng)

    def load(eng):
        def f():
            r = loadgen_json([loadgen, "plugin", "--socket", eng.plugin_sock, "--clients", "8",
                              "--duration", str(ARGS.duration), "--warmup", "0.3",
                              "--names", "200"])
            assert not r["errors"], r
            return r["rps"]
        return f

    bl.log("B1-style: %d rounds of %.1f s per side" % (ARGS.rounds, ARGS.duration))
    rs, rb = bl.alternate(load(engines[0]), load(engines[1]), ARGS.rounds)
    for eng in engines:
        eng.stop()
    ratios = [a / b for a, b in zip(rs, rb)]
    return {"seam_rps": rs, "bare_rps": rb, "ratio_rounds": ratios, "ratio": bl.median(ratios)}


def b3(seam, bare):
    engines = [Engine(b, service="loop") for b in (seam, bare)]
    for i, eng in enumerate(engines):
        eng.cli("volume", "create", "--size", "1", "m%d" % i)
        eng.cli("volume", "mount", "m%d" % i)  # formatted once, outside the timing
        eng.cli("volume", "unmount", "m%d" % i)

    def cycle(i):
        eng = engines[i]

        def f():
            return bl.timed(lambda: [(eng.cli("volume", "mount", "m%d" % i),
                                      eng.cli("volume", "unmount", "m%d" % i))
                                     for _ in range(ARGS.cycles)]) / ARGS.cycles
        return f

    bl.log("B3-style: %d rounds of %d mount+unmount cycles per side" % (ARGS.rounds, ARGS.cycles))
    ts, tb = bl.alternate(cycle(0), cycle(1), ARGS.rounds)
    for i, eng in enumerate(engines):
        eng.cli("volume", "rm", "m%d" % i)
    ratios = [a / b for a, b in zip(ts, tb)]
    return {"seam_s": ts, "bare_s": tb, "ratio_rounds": ratios, "ratio": bl.median(ratios)}


def main():
    loadgen, _ = bl.build_helpers()
    bl.check_binaries(bl.REXRAY)
    bare = build_bare()
    res = {"machine": bl.machine(), "rounds": ARGS.rounds}
    res["b1"] = b1(loadgen, bl.REXRAY, bare)
    res["b3"] = b3(bl.REXRAY, bare)
    bl.save_result("b7_seam", res)
    print("B7 seam cost, seam / bare (1.00 = none; B1 higher is better, B3 lower is better):")
    print("  B1-style plugin Get/Path: %.3f (%.0f vs %.0f requests/s)"
          % (res["b1"]["ratio"], bl.median(res["b1"]["seam_rps"]),
             bl.median(res["b1"]["bare_rps"])))
    print("  B3-style mount+unmount:   %.3f (%.1f vs %.1f ms per cycle)"
          % (res["b3"]["ratio"], 1000 * bl.median(res["b3"]["seam_s"]),
             1000 * bl.median(res["b3"]["bare_s"])))


if __name__ == "__main__":
    try:
        main()
    finally:
        CLEAN.run()
