#!/usr/bin/python3
"""B8: the snapshot primitive osclone_file (src/os/clone.h, issue 16)
against coreutils cp, side by side in one run, alternating which goes
first, each side a whole process (fork to exit) followed by the same
`sync DST` is timed too, since osclone_file fsyncs and cp does not:

  reflink   on an xfs made for the purpose (a sparse image file,
            mkfs.xfs -m reflink=1, a loop device, mounted under a temp
            dir): osclone_file of half-full images of --small-gib and
            --large-gib vs `cp --reflink=always`, in two layouts:
            "striped" (1 MiB of data every 2 MiB: an extent per MiB, the
            worst case, as a reflink costs per extent) and "contiguous"
            (the first half written: few large extents)
  copy      on an ext4 made the same way: the copy fallback (FICLONE
            refused, SEEK_DATA/SEEK_HOLE + copy_file_range) of a
            half-full --copy-gib image vs `cp --sparse=always`

Targets (issue 16): reflink of the large image within 1.5x of the small
one and of cp --reflink=always; the copy within 1.2x of cp
--sparse=always. Prints the rows and writes build/bench/results/b8_snapshot.json.
bench/run runs it with --quick (its setup writes --large-gib/2 of data per
layout: 25 GiB each for the 50 GiB default).

  bench/b8_snapshot.py [--rounds R] [--small-gib G] [--large-gib G] [--copy-gib G] [--quick]
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import benchlib as bl  # noqa: E402

AP = argparse.ArgumentParser(description=__doc__.split("\n")[0])
AP.add_argument("--rounds", type=int, default=5)
AP.add_argument("--small-gib", type=float, default=1)
AP.add_argument("--large-gib", type=float, default=50)
AP.add_argument("--copy-gib", type=float, default=1)
AP.add_argument("--quick", action="store_true",
                help="an 8 GiB large image (what bench/run runs; its setup writes 9 GiB)")
ARGS = AP.parse_args()
if ARGS.quick:
    ARGS.large_gib = 8
if ARGS.rounds < 5:
    sys.exit("bench: at least 5 rounds")
CLEAN = bl.Cleanup()
MiB = 1 << 20
GiB = 1 << 30
CLONEBENCH = os.path.join(bl.BUILD, "clonebench")


def build_driver():
    bl.log("make build/bench/clonebench")
    subprocess.run(["make", "-s", "build/bench/clonebench"], cwd=bl.REPO, check=True)


def make_fs(root, name, fstype, size):
    """A sparse image under root, attached, mkfs'd, mounted at root/name.mnt."""
    img = os.path.join(root, name + ".img")
    mnt = os.path.join(root, name + ".mnt")
    with open(img, "wb") as f:
        f.truncate(size)
    os.mkdir(mnt)
    dev = bl.run(["losetup", "--find", "--show", img]).stdout.strip()
    if fstype == "xfs":
        bl.run(["mkfs.xfs", "-q", "-f", "-m", "reflink=1", dev])
    else:
        bl.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-E",
                "lazy_itable_init=1,lazy_journal_init=1", dev])
    bl.run(["mount", "-t", fstype, dev, mnt])
    return mnt


def half_full(path, size, layout="striped"):
    """Half the file data, fsynced: "striped" = 1 MiB every 2 MiB (an
    extent per MiB: the worst case for a reflink, whose cost is per
    extent), "contiguous" = the first half written in 8 MiB steps (as
    large extents as the filesystem makes)."""
    t0 = time.monotonic()
    step, every = (MiB, 2 * MiB) if layout == "striped" else (8 * MiB, 8 * MiB)
    base = os.urandom(step)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.ftruncate(fd, size)
        end = size if layout == "striped" else size // 2
        for i, off in enumerate(range(0, end, every)):
            os.pwrite(fd, i.to_bytes(8, "little") + base[8:], off)
        os.fsync(fd)
    finally:
        os.close(fd)
    bl.log("made %s (%.1f GiB, half full, %s) in %.1f s"
           % (path, size / GiB, layout, time.monotonic() - t0))


def extents(path):
    """How many data extents SEEK_DATA/SEEK_HOLE see."""
    n, off = 0, 0
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        while off < size:
            try:
                data = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                break
            off = os.lseek(fd, data, os.SEEK_HOLE)
            n += 1
    finally:
        os.close(fd)
    return n


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def timed_proc(cmd, dst, sync):
    """Seconds of cmd (and `sync DST` when sync), whole processes."""
    t0 = time.monotonic()
    p = bl.run(cmd)
    if sync:
        bl.run(["sync", dst])
    dt = time.monotonic() - t0
    return dt, p.stdout


def ours(src, dst, no_reflink=False):
    remove(dst)
    cmd = [CLONEBENCH] + (["--no-reflink"] if no_reflink else []) + [src, dst]
    dt, out = timed_proc(cmd, dst, False)
    r = json.loads(out.strip().splitlines()[-1])
    r["process_s"] = dt
    remove(dst)
    return r


def theirs(args, src, dst, sync):
    remove(dst)
    dt, _ = timed_proc(["cp"] + args + [src, dst], dst, sync)
    remove(dst)
    return dt


def side_by_side(src, dst, cp_args, expect_how):
    """Alternate ours, cp+sync, cp. Returns a dict of per-round lists."""
    rows = {"ours_s": [], "ours_call_s": [], "cp_sync_s": [], "cp_s": [], "how": set()}
    for i in range(ARGS.rounds):
        order = ["o", "cs", "c"] if i % 2 == 0 else ["c", "cs", "o"]
        for side in order:
            if side == "o":
                r = ours(src, dst)
                rows["ours_s"].append(r["process_s"])
                rows["ours_call_s"].append(r["seconds"])
                rows["how"].add(r["how"])
            elif side == "cs":
                rows["cp_sync_s"].append(theirs(cp_args, src, dst, True))
            else:
                rows["cp_s"].append(theirs(cp_args, src, dst, False))
    rows["how"] = sorted(rows["how"])
    if rows["how"] != [expect_how]:
        raise RuntimeError("osclone_file said %s, expected %s" % (rows["how"], expect_how))
    rows["ratio_vs_cp_sync"] = bl.median([a / b for a, b in zip(rows["ours_s"],
                                                                 rows["cp_sync_s"])])
    rows["ratio_vs_cp"] = bl.median([a / b for a, b in zip(rows["ours_s"], rows["cp_s"])])
    return rows


def main():
    import shutil
    why = ("needs root (loop devices, mounts)" if os.geteuid() != 0 else
           "needs mkfs.xfs (xfsprogs) for the reflink filesystem"
           if not shutil.which("mkfs.xfs") else None)
    if why:
        bl.save_result("b8_snapshot", {"machine": bl.machine(), "skipped": why})
        print("B8 skipped: " + why)
        return
    build_driver()
    bl.check_binaries(CLONEBENCH)
    res = {"rounds": ARGS.rounds, "small_gib": ARGS.small_gib, "large_gib": ARGS.large_gib,
           "copy_gib": ARGS.copy_gib, "loadavg_start": bl.loadavg(), "machine": bl.machine()}
    root = CLEAN.tempdir("rrb8")
    small, large = int(ARGS.small_gib * GiB), int(ARGS.large_gib * GiB)
    copy = int(ARGS.copy_gib * GiB)

    # reflink on xfs, per layout; the large image is removed before the next is made
    xmnt = make_fs(root, "xfs", "xfs", int(small + large * 0.5) + 8 * GiB)
    xs, xl = os.path.join(xmnt, "small.img"), os.path.join(xmnt, "large.img")
    for layout in ("striped", "contiguous"):
        half_full(xs, small, layout)
        half_full(xl, large, layout)
        bl.log("reflink (%s): %d rounds per size" % (layout, ARGS.rounds))
        r = {"extents_small": extents(xs), "extents_large": extents(xl)}
        r["small"] = side_by_side(xs, os.path.join(xmnt, "dst.img"), ["--reflink=always"],
                                  "reflink")
        r["large"] = side_by_side(xl, os.path.join(xmnt, "dst.img"), ["--reflink=always"],
                                  "reflink")
        r["large_over_small"] = bl.median(
            [a / b for a, b in zip(r["large"]["ours_s"], r["small"]["ours_s"])])
        r["cp_large_over_small"] = bl.median(
            [a / b for a, b in zip(r["large"]["cp_sync_s"], r["small"]["cp_sync_s"])])
        res["reflink_" + layout] = r
        remove(xs)
        remove(xl)

    # the copy fallback on ext4
    emnt = make_fs(root, "ext4", "ext4", 3 * copy + 2 * GiB)
    es = os.path.join(emnt, "src.img")
    half_full(es, copy)
    bl.log("copy: %d rounds" % ARGS.rounds)
    res["copy"] = side_by_side(es, os.path.join(emnt, "dst.img"), ["--sparse=always"], "copy")
    bl.save_result("b8_snapshot", res)

    def row(name, r, cp):
        print("  %-44s ours %8.1f ms (call %8.1f)  %-22s %8.1f ms (+sync %8.1f)  "
              "ours/cp+sync %.2f  ours/cp %.2f"
              % (name, 1e3 * bl.median(r["ours_s"]), 1e3 * bl.median(r["ours_call_s"]), cp,
                 1e3 * bl.median(r["cp_s"]), 1e3 * bl.median(r["cp_sync_s"]),
                 r["ratio_vs_cp_sync"], r["ratio_vs_cp"]))

    print("B8 snapshot primitive, median of %d rounds (whole processes; lower is better):"
          % ARGS.rounds)
    for layout in ("striped", "contiguous"):
        r = res["reflink_" + layout]
        row("reflink xfs %g GiB %s (%d regions)" % (ARGS.small_gib, layout, r["extents_small"]),
            r["small"], "cp --reflink=always")
        row("reflink xfs %g GiB %s (%d regions)" % (ARGS.large_gib, layout, r["extents_large"]),
            r["large"], "cp --reflink=always")
        print("  reflink %s %g GiB / %g GiB: ours %.2f, cp --reflink=always %.2f "
              "(target <= 1.5)" % (layout, ARGS.large_gib, ARGS.small_gib,
                                   r["large_over_small"], r["cp_large_over_small"]))
    row("copy ext4 %g GiB (half full)" % ARGS.copy_gib, res["copy"], "cp --sparse=always")
    print("  targets: reflink ours/cp <= 1.5, copy ours/cp+sync <= 1.2")


if __name__ == "__main__":
    main()
