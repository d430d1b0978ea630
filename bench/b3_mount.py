#!/usr/bin/python3
"""B3, B4 and B5: loop volumes mounted through `build/dvdcli` and the
engine's Docker plugin, against the same kernel steps from a shell script
(bench/shell_mount.sh) and against the engine itself.

  B3  first mount of a new 1 GiB ext4 loop volume: `dvdcli mount` (Get,
      Create, Mount: image, attach, mkfs, mount, data/) vs `shell_mount.sh
      first` (truncate, losetup, mkfs.ext4 with the engine's options, mount,
      mkdir). Each side cleans up after itself, untimed.
  B4  remount of a formatted volume (`dvdcli mount` vs losetup + mount) and
      unmount + detach (`dvdcli unmount` vs umount + losetup -d), --cycles
      per side per round; a round's value is the mean of its cycles.
  B5  16 first mounts of distinct new volumes: 16 `dvdcli mount` at once vs
      the same 16 one after another, both through the engine.

Every side runs as one process (dvdcli or sh) timed from fork to exit.
Rounds alternate the sides; ratios are medians of per-round ratios.

  bench/b3_mount.py [--rounds 7] [--b5-rounds 5] [--cycles 3] [--parallel 16]
"""

import argparse
import concurrent.futures
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in bench/
import benchlib as bl  # noqa: E402

SHELL = os.path.join(bl.BENCH, "shell_mount.sh")


def proc_cpu(pid):
    """CPU seconds of a process and its waited-for children (mkfs)."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in st[11:15]) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed_run(cmd, env=None):
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr[-800:]))
    return t, p.stdout.strip()


class Sides:
    def __init__(self, eng, root):
        self.eng = eng
        self.root = root
        self.env = eng.dvdcli_env()
        self.shell_dir = os.path.join(root, "shell")
        os.makedirs(os.path.join(self.shell_dir, "mnt"), exist_ok=True)
        self.n = 0

    def dvd(self, cmd, name, *extra):
        return [bl.DVDCLI, cmd, "--volumedriver=" + self.eng.plugin, "--volumename=" + name] + \
            list(extra)

    def expect_path(self, name, out):
        want = os.path.join(self.eng.lib, "volumes", name, "data")
        if out != want:
            raise RuntimeError("dvdcli mount %s printed %r, not %r" % (name, out, want))

    def engine_cleanup(self, name):
        bl.run(self.dvd("unmount", name), env=self.env)
        bl.run(self.dvd("remove", name), env=self.env)

    # ---- B3
    def engine_first(self):
        self.n += 1
        name = "f%de" % self.n
        t, out = timed_run(self.dvd("mount", name, "--volumeopts=size=1"), self.env)
        self.expect_path(name, out)
        self.engine_cleanup(name)
        return t

    def shell_first(self):
        self.n += 1
        name = "f%ds" % self.n
        img = os.path.join(self.shell_dir, name + ".img")
        mp = os.path.join(self.shell_dir, "mnt", name)
        t, dev = timed_run(["sh", SHELL, "first", img, mp, name])
        bl.run(["sh", SHELL, "unmount", mp, dev])
        os.unlink(img)
        return t

    # ---- B4
    def engine_remount(self, name, cycles):
        tm, tu = [], []
        for _ in range(cycles):
            t, out = timed_run(self.dvd("mount", name), self.env)
            self.expect_path(name, out)
            tm.append(t)
            t, _ = timed_run(self.dvd("unmount", name), self.env)
            tu.append(t)
        return sum(tm) / cycles, sum(tu) / cycles

    def shell_remount(self, img, mp, cycles):
        tm, tu = [], []
        for _ in range(cycles):
            t, dev = timed_run(["sh", SHELL, "remount", img, mp])
            tm.append(t)
            t, _ = timed_run(["sh", SHELL, "unmount", mp, dev])
            tu.append(t)
        return sum(tm) / cycles, sum(tu) / cycles

    # ---- B4, engine side only: the plugin calls without dvdcli
    def engine_remount_direct(self, name, cycles):
        tm, tu = [], []
        for _ in range(cycles):
            for method, acc in (("Mount", tm), ("Unmount", tu)):
                t0 = time.monotonic()
                st, body = bl.unix_request(self.eng.plugin_sock, "POST", "/VolumeDriver." + method,
                                           body={"Name": name})
                acc.append(time.monotonic() - t0)
                if st != 200:
                    raise RuntimeError("%s %s: %d %s" % (method, name, st, body[:300]))
        return sum(tm) / cycles, sum(tu) / cycles

    def dvdcli_floor(self):
        """dvdcli's own cost: a run that loads, finds the plugin and calls
        Plugin.Activate + Get, with no storage work."""
        return timed_run(self.dvd("get", "remount1"), self.env)[0]

    # ---- B5
    def b5(self, parallel, at_once):
        self.n += 1
        names = ["p%d%s%d" % (self.n, "c" if at_once else "s", i) for i in range(parallel)]
        cpu0 = proc_cpu(self.eng.pid) + children_cpu()
        t0 = time.monotonic()
        if at_once:
            procs = [subprocess.Popen(self.dvd("mount", n, "--volumeopts=size=1"), env=self.env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for n in names]
            outs = [p.communicate() for p in procs]
            t = time.monotonic() - t0
            for n, p, (out, err) in zip(names, procs, outs):
                if p.returncode != 0:
                    raise RuntimeError("dvdcli mount %s: %s" % (n, err[-500:]))
                self.expect_path(n, out.strip())
        else:
            for n in names:
                _, out = timed_run(self.dvd("mount", n, "--volumeopts=size=1"), self.env)
                self.expect_path(n, out)
            t = time.monotonic() - t0
        cpu = proc_cpu(self.eng.pid) + children_cpu() - cpu0
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            list(ex.map(self.engine_cleanup, names))
        return t, cpu


    def shell_b5(self, parallel, at_once):
        """The same 16 first mounts from the shell: how far this machine's
        kernel and disk let 16 at once beat 16 in a row."""
        self.n += 1
        names = ["q%d%s%d" % (self.n, "c" if at_once else "s", i) for i in range(parallel)]
        args = [(os.path.join(self.shell_dir, n + ".img"), os.path.join(self.shell_dir, "mnt", n),
                 n) for n in names]
        t0 = time.monotonic()
        if at_once:
            procs = [subprocess.Popen(["sh", SHELL, "first", img, mp, n], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for img, mp, n in args]
            outs = [p.communicate() for p in procs]
            t = time.monotonic() - t0
            for p, (out, err) in zip(procs, outs):
                if p.returncode != 0:
                    raise RuntimeError("shell_mount.sh first: %s" % err[-500:])
            devs = [out.strip() for out, _ in outs]
        else:
            devs = [timed_run(["sh", SHELL, "first", img, mp, n])[1] for img, mp, n in args]
            t = time.monotonic() - t0
        for (img, mp, _), dev in zip(args, devs):
            bl.run(["sh", SHELL, "unmount", mp, dev])
            os.unlink(img)
        return t


def main():
    res = {"machine": bl.machine(), "rounds": ARGS.rounds, "b5_rounds": ARGS.b5_rounds,
           "cycles": ARGS.cycles, "parallel": ARGS.parallel}
    if os.geteuid() != 0 or not os.path.exists("/dev/loop-control"):
        res["skipped"] = "needs root and loop devices"
        bl.save_result("b3_mount", res)
        print("B3-B5 skipped: " + res["skipped"])
        return
    bl.check_binaries(bl.REXRAY, bl.DVDCLI)
    eng = bl.Engine(CLEAN, service="loop")
    eng.start()
    s = Sides(eng, eng.root)

    # warm-up: the first mkfs, the first loop device, page cache
    s.engine_first()
    s.shell_first()

    bl.log("B3 first mount: %d rounds" % ARGS.rounds)
    te, ts = bl.alternate(s.engine_first, s.shell_first, ARGS.rounds)
    res["b3"] = {"engine_s": te, "shell_s": ts, "engine_median_s": bl.median(te),
                 "shell_median_s": bl.median(ts),
                 "ratio": bl.median([a / b for a, b in zip(te, ts)])}

    # B4: one formatted volume per side, detached between cycles
    _, out = timed_run(s.dvd("mount", "remount1", "--volumeopts=size=1"), s.env)
    s.expect_path("remount1", out)
    bl.run(s.dvd("unmount", "remount1"), env=s.env)
    img = os.path.join(s.shell_dir, "remount1.img")
    mp = os.path.join(s.shell_dir, "mnt", "remount1")
    _, dev = timed_run(["sh", SHELL, "first", img, mp, "remount1"])
    bl.run(["sh", SHELL, "unmount", mp, dev])
    bl.log("B4 remount/unmount: %d rounds of %d cycles" % (ARGS.rounds, ARGS.cycles))
    re_, rs = bl.alternate(lambda: s.engine_remount("remount1", ARGS.cycles),
                           lambda: s.shell_remount(img, mp, ARGS.cycles), ARGS.rounds)
    res["b4"] = {
        "engine_mount_s": [x[0] for x in re_], "engine_unmount_s": [x[1] for x in re_],
        "shell_mount_s": [x[0] for x in rs], "shell_unmount_s": [x[1] for x in rs],
        "mount_ratio": bl.median([a[0] / b[0] for a, b in zip(re_, rs)]),
        "unmount_ratio": bl.median([a[1] / b[1] for a, b in zip(re_, rs)]),
    }
    # where the difference goes: the engine alone (plugin calls over the
    # socket, no dvdcli) against the shell, and dvdcli's fixed cost
    de, ds = bl.alternate(lambda: s.engine_remount_direct("remount1", ARGS.cycles),
                          lambda: s.shell_remount(img, mp, ARGS.cycles), ARGS.rounds)
    res["b4"].update({
        "direct_mount_s": [x[0] for x in de], "direct_unmount_s": [x[1] for x in de],
        "shell2_mount_s": [x[0] for x in ds], "shell2_unmount_s": [x[1] for x in ds],
        "direct_mount_ratio": bl.median([a[0] / b[0] for a, b in zip(de, ds)]),
        "direct_unmount_ratio": bl.median([a[1] / b[1] for a, b in zip(de, ds)]),
        "dvdcli_get_s": [s.dvdcli_floor() for _ in range(ARGS.rounds)],
    })
    for k in ("engine_mount_s", "engine_unmount_s", "shell_mount_s", "shell_unmount_s",
              "direct_mount_s", "direct_unmount_s", "dvdcli_get_s"):
        res["b4"][k[:-2] + "_median_s"] = bl.median(res["b4"][k])
    bl.run(s.dvd("remove", "remount1"), env=s.env)

    bl.log("B5 %d first mounts, concurrent vs sequential: %d rounds"
           % (ARGS.parallel, ARGS.b5_rounds))
    tc, tq = bl.alternate(lambda: s.b5(ARGS.parallel, True), lambda: s.b5(ARGS.parallel, False),
                          ARGS.b5_rounds)
    bl.log("B5 reference: the same from the shell, %d rounds" % ARGS.b5_rounds)
    sc, sq = bl.alternate(lambda: s.shell_b5(ARGS.parallel, True),
                          lambda: s.shell_b5(ARGS.parallel, False), ARGS.b5_rounds)
    ncpu = os.cpu_count() or 1
    res["b5"] = {"concurrent_s": [x[0] for x in tc], "sequential_s": [x[0] for x in tq],
                 "concurrent_cpu_s": [x[1] for x in tc], "sequential_cpu_s": [x[1] for x in tq],
                 "ratio": bl.median([a[0] / b[0] for a, b in zip(tc, tq)]),
                 # the wall time the concurrent run needs at the least, with every
                 # core busy: its CPU seconds (engine, mkfs, dvdcli) / nproc
                 "cpu_floor_ratio": bl.median([a[1] / ncpu / b[0] for a, b in zip(tc, tq)]),
                 "nproc": ncpu, "shell_concurrent_s": sc, "shell_sequential_s": sq,
                 "shell_ratio": bl.median([a / b for a, b in zip(sc, sq)])}
    for k in ("concurrent_s", "sequential_s", "concurrent_cpu_s", "sequential_cpu_s",
              "shell_concurrent_s", "shell_sequential_s"):
        res["b5"][k[:-2] + "_median_s"] = bl.median(res["b5"][k])
    eng.stop()
    left = bl.loops_under(eng.root)
    if left:
        raise RuntimeError("loop devices left behind: %r" % left)
    bl.save_result("b3_mount", res)
    b3, b4, b5 = res["b3"], res["b4"], res["b5"]
    print("B3 first mount: dvdcli %.0f ms, shell %.0f ms: %.2fx (target <= 1.10x)"
          % (b3["engine_median_s"] * 1e3, b3["shell_median_s"] * 1e3, b3["ratio"]))
    print("B4 remount: dvdcli %.1f ms, shell %.1f ms: %.2fx; unmount+detach: dvdcli %.1f ms, "
          "shell %.1f ms: %.2fx (target <= 1.10x)"
          % (b4["engine_mount_median_s"] * 1e3, b4["shell_mount_median_s"] * 1e3,
             b4["mount_ratio"], b4["engine_unmount_median_s"] * 1e3,
             b4["shell_unmount_median_s"] * 1e3, b4["unmount_ratio"]))
    print("B4 without dvdcli (plugin calls on the socket): Mount %.1f ms (%.2fx the shell), "
          "Unmount %.1f ms (%.2fx); `dvdcli get` alone %.1f ms"
          % (b4["direct_mount_median_s"] * 1e3, b4["direct_mount_ratio"],
             b4["direct_unmount_median_s"] * 1e3, b4["direct_unmount_ratio"],
             b4["dvdcli_get_median_s"] * 1e3))
    print("B5 %d first mounts: concurrent %.0f ms, sequential %.0f ms: %.2fx (target <= 0.6x); "
          "CPU %.0f ms concurrent, %.0f ms sequential: with %d cores busy the floor is %.2fx"
          % (ARGS.parallel, b5["concurrent_median_s"] * 1e3, b5["sequential_median_s"] * 1e3,
             b5["ratio"], b5["concurrent_cpu_median_s"] * 1e3,
             b5["sequential_cpu_median_s"] * 1e3, b5["nproc"], b5["cpu_floor_ratio"]))
    print("B5 reference, the shell: 16 at once %.0f ms, in a row %.0f ms: %.2fx"
          % (b5["shell_concurrent_median_s"] * 1e3, b5["shell_sequential_median_s"] * 1e3,
             b5["shell_ratio"]))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--b5-rounds", type=int, default=5)
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=16)
    ARGS = ap.parse_args()
    if ARGS.rounds < 5 or ARGS.b5_rounds < 5:
        sys.exit("bench: at least 5 rounds")
    CLEAN = bl.Cleanup()
    try:
        main()
    finally:
        CLEAN.run()
