#!/usr/bin/python3
"""Write docs/performance.md from build/bench/results/*.json (bench/run
calls this; run it alone to regenerate the page from the last results)."""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in bench/
import benchlib as bl  # noqa: E402

DOC = os.path.join(bl.REPO, "docs", "performance.md")

# Why a target is missed and what to do next, shown under the table for every
# row whose target does not hold. Each note starts from evidence measured in
# the same run (profiles, breakdowns), so it stays true as the code changes;
# the "next" advice is written by hand (bench/report.py): update it when a
# lever has been pulled.


def _top(rows, n, skip=()):
    out = []
    for t in rows or []:
        if any(k in t["fn"] for k in skip):
            continue
        out.append("`%s` %d (%.0f%%)" % (t["fn"].replace(" (rexray)", ""), t["ir"],
                                          t["share"] * 100))
        if len(out) == n:
            break
    return ", ".join(out)


def _ir(cg, name):
    for key in ("inclusive_top", "library_top"):
        for t in cg.get(key, []):
            if t["fn"].startswith(name):
                return t["ir"]
    return 0


def note_b1(b1, b2, b3):
    cg = b1.get("callgrind")
    text = ""
    if cg:
        own = cg["engine_ir_per_request"] - cg["static_ir_per_request"]
        text = ("Per request the engine executes %.0f instructions, libmicrohttpd's part "
                "(the static server) %.0f, so %.0f are ours; 0.8x of the static server's "
                "throughput leaves room for about %.0f. Where ours go (inclusive, per "
                "request): %s. Library calls: %s. "
                % (cg["engine_ir_per_request"], cg["static_ir_per_request"], own,
                   cg["static_ir_per_request"] / 0.8 - cg["static_ir_per_request"],
                   _top(cg["inclusive_top"], 9, ("on_request", "answer", "handle",
                                                  "local_volume", "ls_volume_inspect",
                                                  "inspect_by_name", "records_volume")),
                   _top(cg.get("library_top"), 5, ("memset",))))
        ratio_ir = cg["static_ir_per_request"] / cg["engine_ir_per_request"]
        r = b1["b1"]["ratio"]
        if r < ratio_ir * 0.9:
            text += ("The wall-clock ratio (%.2fx) is below the instruction ratio (%.2fx): "
                     "the engine also makes system calls per request that the static server "
                     "does not (the poll of /proc/self/mountinfo that tells whether the mount "
                     "table changed, and, for a volume not known unmounted, a `stat` of its "
                     "directory and a `statx` of its mount point), "
                     "and the load generator competes for the same 2 CPUs, so every "
                     "microsecond of ours is paid twice in throughput. "
                     % (r, ratio_ir))
    return text + (
        "Done since the first run (134k instructions per request, 0.30x): the server "
        "keeps the volume records it owns in memory (src/store/vcache.c; a hit takes a "
        "read lock only: no SQL, no store mutex), executors resolve `vfs.root` / "
        "`loop.volumePath` once, the replies are written straight into a buffer "
        "(src/api/jsonw.c) instead of a jansson tree, and `Path` of a bind-mount volume "
        "does no device look-up. Then (issue 20): the plugin reads the `{\"Name\":...}` "
        "body with the pull reader (src/api/jsonr.c) instead of a jansson tree; `Get` and "
        "`Path` read the cached record under the cache's read lock "
        "(store_volume_view_by_name) instead of copying it out and freeing it; a volume "
        "found not mounted is remembered while the mount table stays as it was (poll(2) "
        "on /proc/self/mountinfo: any process's mount moves its generation), and a "
        "directory volume's binds are looked for among the mount roots gathered once per "
        "generation instead of reading mountinfo on every call. Next: write the fixed "
        "parts of the Get/Path replies as literals (the keys go through the escaping "
        "writer), and look the service and the caller's instance ID up once per "
        "connection rather than once per request (`Get` looks the volume up twice).")


def note_b1p99(b1, b2, b3):
    return ("With 8 clients on 2 CPUs (the load generator on the same CPUs) a request "
            "waits for the others' turns: the p50 is %.2f ms. Readers no longer take the "
            "store's mutex (see B1); what remains is CPU time per request. Next: as B1."
            % (b1["b1"]["engine_p50_us"] / 1e3))


def note_b1mi(b1, b2, b3):
    return ("Unmount used to leave `<mount.path>/<name>` behind and `Get`/`Path` then "
            "parsed /proc/self/mountinfo on every call; check `osfs_is_mount_point` and "
            "the last unmount's clean-up if this row falls behind the one above.")


def note_b2(b1, b2, b3):
    lat = b2.get("loop_method_ms", {})
    text = ("Each docker cycle costs %d plugin calls (%s, recorded through a counting "
            "proxy) where `local` works in-process; measured per method on the socket "
            "(loop, from Python, connection set-up included): %s. "
            % (len(b2["plugin_calls_per_cycle"]), ", ".join(
                c.replace("VolumeDriver.", "") for c in b2["plugin_calls_per_cycle"]),
               ", ".join("%s %.2f ms" % kv for kv in lat.items())))
    if "null_ratio" in b2:
        per = (b2["vfs_median_s"] - b2["null_median_s"]) / b2["count"] * 1e3
        room = (1.2 - b2["null_ratio"]) * b2["local_median_s"] / b2["count"] * 1e3
        text += ("A plugin that does nothing at all already takes %.2fx `local` in the same "
                 "run: that is dockerd's own cost of going through a plugin, the floor of "
                 "any plugin, " % b2["null_ratio"])
        text += ("which leaves the engine %.2f ms per cycle within 1.2x; " % room if room > 0
                 else "already %.2f ms per cycle above 1.2x; " % -room)
        text += "the engine adds %.2f ms per cycle above it (vfs). " % per
    vm = b2.get("vfs_method_ms")
    if vm:
        text += ("The vfs calls of a cycle take %.2f ms on the socket (Create %.2f, Remove "
                 "%.2f, 4 Gets %.2f; Python client included). "
                 % (vm["Create"] + vm["Remove"] + 4 * vm["Get"], vm["Create"], vm["Remove"],
                    4 * vm["Get"]))
    sync = b2.get("sync_ms")
    text += ("A large part is what the engine promises: a created volume survives a power "
             "loss (docs/volumes.md), so a create syncs the directory that holds the new "
             "volume (loop: and the new image file) and then the record's commit, and a "
             "remove syncs the directory after renaming the volume aside, then the record's "
             "delete: 4 syncs per vfs cycle, 5 per loop cycle")
    if sync:
        text += (", %.2f ms (an fdatasync) and %.2f ms (a directory fsync) each alone on "
                 "this disk, measured in the same run, more within a create or remove "
                 "(each forces a journal commit that carries the directory's change)"
                 % (sync["fdatasync"], sync["dir_fsync"]))
        if "null_ratio" in b2:
            per_local = b2["local_median_s"] / b2["count"] * 1e3
            one = b2["null_ratio"] + 2 * sync["fdatasync"] / per_local
            two = b2["null_ratio"] + 2 * (sync["fdatasync"] + sync["dir_fsync"]) / per_local
            text += (". Lower bounds in this run (%.2f ms per `local` cycle), for a plugin "
                     "with nothing else to do: the floor plus one sync per create and per "
                     "remove, %.2fx; plus the directory's sync as well (what the engine's "
                     "promise takes: the volume's name on disk before its record, and aside "
                     "before its record goes), %.2fx. " % (per_local, one, two))
            text += ("So no plugin that answers a create or a remove only once the disk has "
                     "it reaches 1.2x in this run, whatever else it does" if one > 1.2 else
                     "So 1.2x needs a create and a remove durable in one sync each, a change "
                     "of design (the record and the name in one journal)")
    return text + (". `local` syncs nothing of its own: its volume is a directory, named "
                   "in dockerd's metadata (which both sides pay for). Done since the first run: a sequence step commits "
                   "without a sync of its own (durable with the record that uses the "
                   "number), no fsync of a vfs create's last rename (the start's sweep "
                   "names a `.new` whose record exists, as for loop), a loop remove asks "
                   "sysfs twice instead of five times and relative to "
                   "/sys/devices/virtual/block, the search for bind mounts of a vfs "
                   "volume (its Get, its remove) stats only the mounts whose root has the "
                   "directory's name, no second name look-up under the create "
                   "lock, and the bench's run directory (the volume lock files) on a tmpfs, "
                   "as /var/run is in production; and B1's work serves the 4 `Get`s of a "
                   "cycle (the body read without a jansson tree, the cached record read in "
                   "place, the mount state from the mount table's watch). Next, each a "
                   "design change: a remove whose record's delete also writes a tombstone "
                   "that the start's sweep obeys, so that the rename aside needs no sync of "
                   "its own (one sync per remove); and a create that puts its record into "
                   "the store's cache at its commit, so that the Gets right after it do not "
                   "read SQLite.")


def _b4_split(b3):
    r4 = b3["b4"]
    if "direct_mount_median_s" not in r4:
        return ""
    return ("Sent straight to the plugin socket (no dvdcli) the engine's Mount takes %.1f ms "
            "(%.2fx the shell's losetup + mount) and Unmount %.1f ms (%.2fx); a `dvdcli "
            "get`, which does no storage work at all, takes %.1f ms. "
            % (r4["direct_mount_median_s"] * 1e3, r4["direct_mount_ratio"],
               r4["direct_unmount_median_s"] * 1e3, r4["direct_unmount_ratio"],
               r4["dvdcli_get_median_s"] * 1e3))


DVDCLI_NEXT = (
    "Done: dvdcli speaks HTTP/1.1 itself over unix sockets (src/net/unixhttp.c; "
    "libcurl is dlopen'ed only for tcp/https plugins) and links libc and jansson only "
    "(gnutls, whose constructor cost about 1 ms per exec, went with the certificate "
    "fingerprints to net/certfp.c, which dvdcli never calls); the mount no longer "
    "probes the device twice; the loop markers (run-state) are not `fsync`ed; a use "
    "count's commit is not synced on its own (no mount outlives a power loss); and the "
    "loop devices bound to an image are found from /proc/partitions instead of one "
    "sysfs open per device on the machine (3-4 passes per mount). What is left is the "
    "kernel's work (LOOP_CONFIGURE, the ext4 mount and its journal on unmount), "
    "dvdcli's three requests (Activate, Get, Mount) and the attach record's synced "
    "commit. Next: if this row misses on a quiet machine, compare CPU time per side "
    "(bench/b3_mount.py records it for B5) to tell the load from a regression.")


def note_b3(b1, b2, b3):
    return _b4_split(b3) + DVDCLI_NEXT


def note_b4(b1, b2, b3):
    return _b4_split(b3) + "Next: as B3."


def note_b5(b1, b2, b3):
    r5 = b3["b5"]
    text = ""
    if "concurrent_cpu_median_s" in r5:
        busy_c = r5["concurrent_cpu_median_s"] / r5["concurrent_median_s"]
        busy_q = r5["sequential_cpu_median_s"] / r5["sequential_median_s"]
        text = ("16 mounts at once used %.0f ms of CPU (engine, mkfs, dvdcli), 16 in a row "
                "%.0f ms: the concurrent run kept %.2f CPUs busy, the sequential one %.2f, "
                "on a %d-CPU machine whose load average was %s at the start. "
                % (r5["concurrent_cpu_median_s"] * 1e3, r5["sequential_cpu_median_s"] * 1e3,
                   busy_c, busy_q, r5["nproc"], b3.get("machine", {}).get("loadavg", "?")))
    if "shell_ratio" in r5:
        text += ("The same 16 first mounts from the shell: %.2fx at once vs in a row. "
                 % r5["shell_ratio"])
    return text + (
        "Nothing in the engine is held across mkfs or the loop set-up; the store's mutex "
        "is held only for each short write transaction. Next: re-measure on a quiet "
        "machine.")


def note_b6ls(b1, b2, b3):
    lp = b1.get("ls_profile", {})
    text = ("The REST call alone (the server's part) takes %.0f ms of the %.0f ms; "
            "`rexray version` (process start and exit, nothing else) %.0f ms. "
            % (b1["ls"]["rest_median_s"] * 1e3, b1["ls"]["ls_median_s"] * 1e3,
               b1["ls"]["version_median_s"] * 1e3))
    if lp:
        text += ("Instructions: the CLI %.0fM (%s), the server %.0fM (%s). "
                 % (lp["cli"]["total"] / 1e6, _top(lp["cli"]["top"], 5, ("select_volumes",)),
                    lp["server"]["total"] / 1e6, _top(lp["server"]["top"], 4,
                                                      ("dispatch", "answer", "on_request"))))
    return text + (
        "Done since the first run (325 ms): the server writes the 1.2 MB listing from the "
        "store rows straight into one buffer (same bytes, no jansson tree, no full list in "
        "memory), and the CLI decodes each volume in one pass and writes its output with "
        "the same writer; the CLI no longer links libcurl (process start 5 -> 2.5 ms) and "
        "speaks HTTP itself on the unix socket. Then (issue 20) the CLI decodes the reply "
        "straight into `struct volume`s with the pull reader (src/api/jsonr.c; no jansson "
        "tree, about a fifth of its instructions), falling back to the tree only for a "
        "reply it declines (malformed, or keys out of order). Next: the server's part "
        "(the store walk and the shaping of each volume), and the CLI's output writer.")


def note_b6rss(b1, b2, b3):
    return ("VmHWM is %.1f MB just started, %.1f MB after B1's load, %.1f MB after the "
            "listings. Listings no longer hold the rows, a tree and the text at once; "
            "replies over 256 KiB are followed by `malloc_trim(0)`, and the engine no longer "
            "links libcurl (its ~30 libraries added ~3 MB of resident pages). Most of the rest "
            "is shared libraries' pages (libc, SQLite, GnuTLS and its dependencies). Next: "
            "load GnuTLS only when TLS is configured."
            % (b1["vmhwm_kb_started"] / 1024, b1["vmhwm_kb_after_b1"] / 1024,
               b1["vmhwm_kb"] / 1024))


def note_b6cold(b1, b2, b3):
    si = b1.get("start_to_idle", {})
    return ("After its start the engine worked for %.0f ms (%.0f ms CPU) before going "
            "idle; its start-up reconciliation lists every volume (which also fills the "
            "volume cache). Next: reconcile from the `use_counts` rows and the executor's "
            "local devices only, not the whole list."
            % (si.get("seconds", 0) * 1e3, si.get("cpu_seconds", 0) * 1e3))


def note_b8(*_):
    b8 = load("b8_snapshot")
    c, st, cp = b8["reflink_contiguous"], b8["reflink_striped"], b8["copy"]
    return ("The primitive is `osclone_file` (src/os/clone.c), run as a whole process by "
            "`build/bench/clonebench`, as cp is. The %g GiB image: FICLONE took %s of the "
            "process's %s (large extents) and %s of %s (striped); cp --reflink=always %s and "
            "%s. The copy fallback (SEEK_DATA/SEEK_HOLE + copy_file_range, then fsync) took "
            "%s of %s; cp --sparse=always %s, %s with its `sync`. Next: for a reflink row, "
            "check that the whole file goes in one FICLONE (its cost is the kernel's, per "
            "extent); for the copy row, the copy_file_range chunk size and the fsync."
            % (b8["large_gib"], ms(bl.median(c["large"]["ours_call_s"])),
               ms(bl.median(c["large"]["ours_s"])), ms(bl.median(st["large"]["ours_call_s"])),
               ms(bl.median(st["large"]["ours_s"])), ms(bl.median(c["large"]["cp_s"])),
               ms(bl.median(st["large"]["cp_s"])), ms(bl.median(cp["ours_call_s"])),
               ms(bl.median(cp["ours_s"])), ms(bl.median(cp["cp_s"])),
               ms(bl.median(cp["cp_sync_s"]))))


def note_b9(*_):
    b9 = load("b9_csi_stage")
    return ("Per round: ours %s, shell %s (ratios %s). The stage attaches the image "
            "(LOOP_CONFIGURE), probes it (libblkid), formats it with the shell's mkfs.ext4 "
            "options, mounts it at the staging path and records the use; the publish "
            "bind-mounts it; the shell runs losetup, mkfs.ext4, mount and mount --bind. Both "
            "sides' work is mostly mkfs.ext4 and the first mount, so a few ms of the engine's "
            "bookkeeping (two gRPC calls, the attach record's synced commit, the use count's "
            "unsynced one, the search for devices already bound to the image) show as a "
            "large ratio. Done: as B3 (no sync of the use count, bound devices from "
            "/proc/partitions). Next: time each step of the stage from the engine's debug "
            "log."
            % (fmt_list(b9["ours_s"]), fmt_list(b9["shell_s"]),
               ", ".join("%.2f" % v for v in b9["ratio_rounds"])))


NOTES = {
    "B8": note_b8, "B9": note_b9,
    "B1": note_b1, "B1p99": note_b1p99, "B1mi": note_b1mi, "B2": note_b2, "B3": note_b3,
    "B4": note_b4, "B5": note_b5, "B6ls": note_b6ls, "B6rss": note_b6rss,
    "B6cold": note_b6cold,
}


def load(name):
    try:
        with open(os.path.join(bl.RESULTS, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ms(s):
    return "%.1f ms" % (s * 1e3) if s is not None else "n/a"


def x(r):
    return "%.2f×" % r


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", bl.REPO, "rev-parse", "--short", "HEAD"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", bl.REPO, "status", "--porcelain", "--", "src"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True).stdout.strip()
        return rev + (" (with uncommitted changes in src/)" if dirty else "")
    except OSError:
        return "unknown"


def rows():
    """(id, what, measured, baseline, ratio, target, met or None, note key)"""
    out = []
    b1, b2, b3, run = load("b1_plugin"), load("b2_docker"), load("b3_mount"), load("run")
    status = (run or {}).get("status", {})

    def missing(name, ids):
        st = status.get(name)
        why = "not run" if not st else ("failed (exit %s)" % st["rc"] if st["rc"] else "no result")
        for i, what in ids:
            out.append((i, what, why, "", "", "", None, None))

    if b1 and "b1" in b1:
        r = b1["b1"]
        out.append(("B1", "Plugin `Get`+`Path`, %d volumes, 8 keep-alive clients: req/s"
                    % b1["volumes"], "%.0f req/s" % r["engine_rps"],
                    "static server %.0f req/s" % r["static_rps"], x(r["ratio"]), "≥ 0.8×",
                    r["ratio"] >= 0.8, "B1"))
        out.append(("B1", "… p99 latency", "%.2f ms" % (r["engine_p99_us"] / 1e3),
                    "static server %.2f ms" % (r["static_p99_us"] / 1e3),
                    x(r["engine_p99_us"] / r["static_p99_us"]), "≤ 1 ms",
                    r["engine_p99_us"] <= 1000, "B1p99"))
        m1 = b1.get("b1_mounted_once")
        if m1:
            out.append(("B1", "… the same once every volume has been mounted here before "
                        "(its mount directory left behind)", "%.0f req/s, p99 %.2f ms"
                        % (m1["engine_rps"], m1["engine_p99_us"] / 1e3),
                        "static server %.0f req/s" % m1["static_rps"], x(m1["ratio"]),
                        "≥ 0.8×", m1["ratio"] >= 0.8, "B1mi"))
        cg = b1.get("callgrind")
        if cg:
            out.append(("B1", "… instructions per request (callgrind)",
                        "%.0f" % cg["engine_ir_per_request"],
                        "static server %.0f" % cg["static_ir_per_request"], x(cg["ratio"]),
                        "recorded", None, None))
    else:
        missing("b1_plugin", [("B1", "Plugin Get/Path req/s and p99")])
    if b2 and "loop_ratio" in b2:
        for svc in ("loop", "vfs"):
            out.append(("B2", "`docker volume create`+`inspect`+`rm` ×%d, plugin on the %s "
                        "service" % (b2["count"], svc), ms(b2[svc + "_median_s"]),
                        "`local` driver %s" % ms(b2["local_median_s"]), x(b2[svc + "_ratio"]),
                        "≤ 1.2×", b2[svc + "_ratio"] <= 1.2, "B2"))
        if "null_ratio" in b2:
            out.append(("B2", "… the floor: a plugin that keeps names in memory and does "
                        "nothing else (`static_server --memory`)", ms(b2["null_median_s"]),
                        "`local` driver %s" % ms(b2["local_median_s"]), x(b2["null_ratio"]),
                        "recorded", None, None))
    elif b2 and b2.get("skipped"):
        out.append(("B2", "docker volume cycles", "skipped: " + b2["skipped"], "", "", "≤ 1.2×",
                    None, None))
    else:
        missing("b2_docker", [("B2", "docker volume create+inspect+rm")])
    if b3 and "b3" in b3:
        r3, r4, r5 = b3["b3"], b3["b4"], b3["b5"]
        out.append(("B3", "First mount of a new 1 GiB ext4 loop volume, `dvdcli mount`",
                    ms(r3["engine_median_s"]), "shell script %s" % ms(r3["shell_median_s"]),
                    x(r3["ratio"]), "≤ 1.10×", r3["ratio"] <= 1.10, "B3"))
        out.append(("B4", "Remount (attach + mount), `dvdcli mount`",
                    ms(r4["engine_mount_median_s"]),
                    "losetup + mount %s" % ms(r4["shell_mount_median_s"]),
                    x(r4["mount_ratio"]), "≤ 1.10×", r4["mount_ratio"] <= 1.10, "B4"))
        out.append(("B4", "Unmount + detach, `dvdcli unmount`",
                    ms(r4["engine_unmount_median_s"]),
                    "umount + losetup -d %s" % ms(r4["shell_unmount_median_s"]),
                    x(r4["unmount_ratio"]), "≤ 1.10×", r4["unmount_ratio"] <= 1.10, "B4"))
        out.append(("B5", "%d concurrent first mounts (`dvdcli mount` ×%d at once)"
                    % (b3["parallel"], b3["parallel"]),
                    ms(r5.get("concurrent_median_s", bl.median(r5["concurrent_s"]))),
                    "one after another %s" % ms(r5.get("sequential_median_s",
                                                        bl.median(r5["sequential_s"]))),
                    x(r5["ratio"]),
                    "≤ 0.6×", r5["ratio"] <= 0.6, "B5"))
    elif b3 and b3.get("skipped"):
        out.append(("B3-B5", "loop mounts", "skipped: " + b3["skipped"], "", "", "", None, None))
    else:
        missing("b3_mount", [("B3-B5", "loop volume mounts")])
    if b1 and "ls" in b1:
        n = b1["volumes"]
        out.append(("B6", "`rexray volume ls -f json`, %d volumes" % n, ms(b1["ls"]["ls_median_s"]),
                    "`rexray version` %s" % ms(b1["ls"]["version_median_s"]), "", "≤ 50 ms",
                    b1["ls"]["ls_median_s"] <= 0.050, "B6ls"))
        if "table_median_s" in b1["ls"]:
            out.append(("B6", "`rexray volume ls` (table), %d volumes" % n,
                        ms(b1["ls"]["table_median_s"]),
                        "`rexray version` %s" % ms(b1["ls"]["version_median_s"]), "", "≤ 50 ms",
                        b1["ls"]["table_median_s"] <= 0.050, "B6ls"))
        out.append(("B6", "Engine VmHWM with %d volumes (after B1 and the listings)" % n,
                    "%.1f MB" % (b1["vmhwm_kb"] / 1024), "", "", "≤ 16 MB",
                    b1["vmhwm_kb"] / 1024 <= 16, "B6rss"))
        c = b1["coldstart"]
        out.append(("B6", "Cold start to the first answered `VolumeDriver.Get`",
                    "%.1f ms" % c["engine_median_ms"],
                    "static server %.1f ms" % c["static_median_ms"],
                    x(c["engine_median_ms"] / c["static_median_ms"]), "≤ 50 ms",
                    c["engine_median_ms"] <= 50, "B6cold"))
    else:
        missing("b1_plugin", [("B6", "volume ls, RSS, cold start")])
    rows_b8_b11(out, missing)
    return out


def skipped(r, i, what, target=""):
    return (i, what, "skipped: " + r["skipped"], "", "", target, None, None)


def rows_b8_b11(out, missing):
    """B8-B11 rows appended to out (missing() appends a row for a program
    that did not run or failed)."""
    b8 = load("b8_snapshot")
    if b8 and "copy" in b8:
        sg, lg = b8["small_gib"], b8["large_gib"]
        c, st = b8["reflink_contiguous"], b8["reflink_striped"]
        out.append(("B8", "Snapshot by reflink (xfs) of a half-full %g GiB image vs of a %g GiB "
                    "one, data in large extents" % (lg, sg), ms(bl.median(c["large"]["ours_s"])),
                    "%g GiB %s" % (sg, ms(bl.median(c["small"]["ours_s"]))),
                    x(c["large_over_small"]), "≤ 1.5×", c["large_over_small"] <= 1.5, "B8"))
        out.append(("B8", "… the %g GiB image vs `cp --reflink=always`" % lg,
                    ms(bl.median(c["large"]["ours_s"])),
                    "cp %s" % ms(bl.median(c["large"]["cp_s"])), x(c["large"]["ratio_vs_cp"]),
                    "≤ 1.5×", c["large"]["ratio_vs_cp"] <= 1.5, "B8"))
        out.append(("B8", "… striped (1 MiB of data every 2 MiB: %d extents) vs `cp "
                    "--reflink=always`" % st["extents_large"], ms(bl.median(st["large"]["ours_s"])),
                    "cp %s" % ms(bl.median(st["large"]["cp_s"])), x(st["large"]["ratio_vs_cp"]),
                    "≤ 1.5×", st["large"]["ratio_vs_cp"] <= 1.5, "B8"))
        out.append(("B8", "… striped, %g GiB vs %g GiB (%d vs %d extents: a reflink's cost is per "
                    "extent)" % (lg, sg, st["extents_large"], st["extents_small"]),
                    ms(bl.median(st["large"]["ours_s"])),
                    "%g GiB %s; cp's own ratio %s" % (sg, ms(bl.median(st["small"]["ours_s"])),
                                                     x(st["cp_large_over_small"])),
                    x(st["large_over_small"]), "recorded", None, None))
        out.append(("B8", "Snapshot by copy (ext4: no reflink; holes kept) of a half-full %g GiB "
                    "image vs `cp --sparse=always` + `sync`" % b8["copy_gib"],
                    ms(bl.median(b8["copy"]["ours_s"])),
                    "cp + sync %s" % ms(bl.median(b8["copy"]["cp_sync_s"])),
                    x(b8["copy"]["ratio_vs_cp_sync"]), "≤ 1.2×",
                    b8["copy"]["ratio_vs_cp_sync"] <= 1.2, "B8"))
    elif b8 and b8.get("skipped"):
        out.append(skipped(b8, "B8", "snapshots (reflink, copy)"))
    else:
        missing("b8_snapshot", [("B8", "snapshots (reflink, copy) vs cp")])
    b9 = load("b9_csi_stage")
    if b9 and "ratio" in b9:
        out.append(("B9", "CSI `NodeStageVolume`+`NodePublishVolume` of a new 1 GiB ext4 loop "
                    "volume (gRPC)", "%.1f ms" % b9["ours_ms"],
                    "losetup, mkfs.ext4, mount, mount --bind %.1f ms" % b9["shell_ms"],
                    x(b9["ratio"]), "≤ 1.5×", b9["ratio"] <= 1.5, "B9"))
    elif b9 and b9.get("skipped"):
        out.append(skipped(b9, "B9", "CSI stage + publish"))
    else:
        missing("b9_csi_stage", [("B9", "CSI stage + publish")])
    b10 = load("b10_postgres")
    if b10 and "scale" in b10:
        c, g, sc = b10["create"], b10["get"], b10["scale"]
        out.append(("B10", "Server records on PostgreSQL vs SQLite: REST creates, 8 clients",
                    "%.0f/s" % c["postgres_rps"], "SQLite %.0f/s" % c["sqlite_rps"],
                    x(c["ratio"]), "recorded", None, None))
        out.append(("B10", "… plugin `Get`+`Path`, %d volumes, 8 clients" % b10["args"]["volumes"],
                    "%.0f/s" % g["postgres_rps"], "SQLite %.0f/s" % g["sqlite_rps"],
                    x(g["ratio"]), "recorded", None, None))
        out.append(("B10", "Two servers on one PostgreSQL database (8 clients each) vs one "
                    "server (16 clients): `Get`+`Path`", "%.0f/s" % sc["two_rps"],
                    "one server %.0f/s" % sc["one_rps"], x(sc["ratio"]), "recorded", None, None))
    elif b10 and b10.get("skipped"):
        out.append(skipped(b10, "B10", "PostgreSQL vs SQLite"))
    else:
        missing("b10_postgres", [("B10", "PostgreSQL vs SQLite")])
    b11 = load("b11_docker_run")
    if b11 and "run" in b11:
        r, ls = b11["run"], b11["ls"]
        for svc, what in (("loop", "`docker run --volume-driver <plugin> -v <new volume>:/data`"
                                   ", create to the exit of a container that writes a file, "
                                   "plugin on the loop service (a new 1 GiB image: attach, "
                                   "mkfs.ext4, mount)"),
                          ("vfs", "… plugin on the vfs service (a new directory, as `local`)")):
            out.append(("B11", what, ms(r[svc + "_median_s"]),
                        "`local` driver %s" % ms(r["local_median_s"]), x(r[svc + "_ratio"]),
                        "recorded", None, None))
        out.append(("B11", "`docker volume ls`, %d volumes of the plugin (vfs) vs %d `local` "
                    "volumes (Engine API)" % (b11["volumes"], b11["volumes"]),
                    ms(ls["api"]["vfs_median_s"]), "`local` %s" % ms(ls["api"]["local_median_s"]),
                    x(ls["api"]["ratio"]), "recorded", None, None))
        out.append(("B11", "… with the docker CLI (`docker volume ls -q`, process start "
                    "included)", ms(ls["cli"]["vfs_median_s"]),
                    "`local` %s" % ms(ls["cli"]["local_median_s"]), x(ls["cli"]["ratio"]),
                    "recorded", None, None))
    elif b11 and b11.get("skipped"):
        out.append(skipped(b11, "B11", "docker run, docker volume ls"))
    else:
        missing("b11_docker_run", [("B11", "docker run, docker volume ls")])


def fmt_list(xs, scale=1e3, unit="ms"):
    return ", ".join("%.1f" % (v * scale) for v in xs) + " " + unit


def load_note(r):
    """The machine's load around one benchmark, and a warning when it was busy."""
    m = r.get("machine", {})
    start, end = m.get("loadavg", "?"), r.get("loadavg_end", "?")
    text = "Load average (1, 5, 15 min) at the start %s, at the end %s." % (start, end)
    loads = []
    for v in (start, end):
        try:
            loads.append(float(v.split()[0]))
        except (ValueError, IndexError, AttributeError):
            pass
    busy = bool(loads) and max(loads) > (m.get("nproc") or 1)
    if busy:
        text += (" **The machine was busy** (more runnable tasks than CPUs): the sides "
                 "alternate, but process start-up and disk waits grow unevenly under load, "
                 "so these ratios move more than usual; re-run on a quiet machine to "
                 "confirm.")
    return text + "\n"


def details():
    b1, b2, b3 = load("b1_plugin"), load("b2_docker"), load("b3_mount")
    d = []
    if b1 and "b1" in b1:
        r = b1["b1"]
        d.append("### B1 and B6: the plugin with %d volumes\n" % b1["volumes"])
        d.append(load_note(b1))
        d.append("Volumes made through the REST API on the **vfs** service (a directory and a "
                 "row each; 8 concurrent creates): %d in %.2f s (%.0f/s, p99 %.1f ms).\n"
                 % (b1["volumes"], b1["create"]["seconds"], b1["create"]["rps"],
                    b1["create"]["p99_us"] / 1e3))
        d.append("Load: `bench/loadgen plugin`, 8 keep-alive connections on one epoll thread, "
                 "one request in flight per connection, `Get` and `Path` alternating on names "
                 "drawn at random; %g s per run after 0.3 s of warm-up; %d rounds, engine and "
                 "static server alternating. The static server answers the engine's own "
                 "replies:\n" % (b1["duration"], b1["rounds"]))
        d.append("```\n%s\n```\n" % b1["get_reply"])
        d.append("| round | engine req/s | static req/s | ratio | engine p50 / p99 (µs) | "
                 "static p50 / p99 (µs) |\n|---|---|---|---|---|---|")
        for i, (a, b) in enumerate(zip(r["engine"], r["static"])):
            d.append("| %d | %.0f | %.0f | %.3f | %.0f / %.0f | %.0f / %.0f |"
                     % (i + 1, a["rps"], b["rps"], a["rps"] / b["rps"], a["p50_us"],
                        a["p99_us"], b["p50_us"], b["p99_us"]))
        d.append("")
        m1 = b1.get("b1_mounted_once")
        if m1:
            d.append("Again with every volume's mount directory present, as after one mount "
                     "and unmount each (%d lines in /proc/self/mountinfo on this machine): "
                     "engine %s req/s, static %s req/s per round.\n" % (
                         m1["mountinfo_lines"], ", ".join("%.0f" % r["rps"] for r in m1["engine"]),
                         ", ".join("%.0f" % r["rps"] for r in m1["static"])))
        cg = b1.get("callgrind")
        if cg:
            d.append("**Instructions per request** (valgrind --tool=callgrind; runs of %d and "
                     "%d requests, the difference divided by %d, so start-up and shut-down "
                     "cancel out; exact and repeatable, unlike the wall clock here): engine "
                     "**%.0f**, static server %.0f (libmicrohttpd's own share, most of it "
                     "the `memset` of its per-connection memory pool). Compare later "
                     "changes against the engine figure.\n"
                     % (cg["n1"], cg["n2"], cg["n2"] - cg["n1"], cg["engine_ir_per_request"],
                        cg["static_ir_per_request"]))
            d.append("Hottest functions per request, inclusive (the engine's own code; "
                     "each includes its callees):\n")
            d.append("| Ir per request | share | function |\n|---|---|---|")
            for t in cg["inclusive_top"]:
                d.append("| %d | %.1f%% | `%s` |" % (t["ir"], t["share"] * 100, t["fn"]))
            d.append("\nHottest functions per request, exclusive (every library):\n")
            d.append("| Ir per request | share | function |\n|---|---|---|")
            for t in cg["exclusive_top"]:
                d.append("| %d | %.1f%% | `%s` |" % (t["ir"], t["share"] * 100, t["fn"]))
            lib = cg.get("library_top")
            if lib:
                d.append("\nSelected library calls, inclusive, per request:\n")
                d.append("| Ir per request | share | function |\n|---|---|---|")
                for t in lib:
                    d.append("| %d | %.1f%% | `%s` |" % (t["ir"], t["share"] * 100, t["fn"]))
            d.append("\nThe callgrind files are kept in build/bench/results/ "
                     "(`callgrind_annotate --inclusive=yes` them).\n")
        ls = b1["ls"]
        d.append("**B6** `volume ls -f json` rounds: %s (`rexray version`: %s). The REST "
                 "call alone (`GET /volumes/vfs?attachments=1`, %d bytes, from Python): "
                 "median %s, so the rest is the CLI. Engine VmHWM: %.1f MB just started, "
                 "%.1f MB after B1, %.1f MB after the listings. Cold start rounds: engine %s, "
                 "static server %s (fork to the first complete reply).\n"
                 % (fmt_list(ls["ls_s"]), fmt_list(ls["version_s"]), ls["rest_bytes"],
                    ms(ls["rest_median_s"]), b1["vmhwm_kb_started"] / 1024,
                    b1["vmhwm_kb_after_b1"] / 1024, b1["vmhwm_kb"] / 1024,
                    fmt_list(b1["coldstart"]["engine_ms"], 1),
                    fmt_list(b1["coldstart"]["static_ms"], 1)))
        si = b1.get("start_to_idle")
        if si:
            d.append("After its start the engine kept working for **%s** (%s of CPU, %d log "
                     "lines) before it went idle: the first rounds of B1 wait for that. "
                     "Cold start measures the first answer, which comes while this goes on.\n"
                     % (ms(si["seconds"]), ms(si["cpu_seconds"]), si["log_lines"]))
        if "ls_profile" in b1:
            d.append("Where `volume ls -f json` spends its instructions (callgrind, one run "
                     "each):\n")
            d.append("| side | total Ir | top functions (inclusive) |\n|---|---|---|")
            for side in ("cli", "server"):
                p = b1["ls_profile"].get(side)
                if p:
                    d.append("| %s | %d | %s |" % (side, p["total"], "; ".join(
                        "`%s` %.0f%%" % (t["fn"], t["share"] * 100) for t in p["top"])))
            d.append("")
    if b2 and "loop_ratio" in b2:
        d.append("### B2: docker volume cycles\n")
        d.append(load_note(b2))
        d.append("A private dockerd (tests/system/dockerd.py), Engine API calls on one "
                 "keep-alive connection; %d rounds, the drivers in rotation (`null`: "
                 "bench/static_server --memory, a plugin that does nothing).\n"
                 % b2["rounds"])
        d.append("| driver | per round (ms for %d cycles) | median |\n|---|---|---|" % b2["count"])
        for n in ("local", "loop", "vfs", "null"):
            if n + "_s" not in b2:
                continue
            d.append("| %s | %s | %s |" % (n, fmt_list(b2[n + "_s"]), ms(b2[n + "_median_s"])))
        d.append("")
        d.append("Plugin calls dockerd makes per cycle: %s.\n"
                 % ", ".join(b2["plugin_calls_per_cycle"]))
        d.append("Each method's median latency on the plugin socket (Python client, one "
                 "keep-alive connection): loop %s; vfs %s.\n" % (
                     ", ".join("%s %.2f ms" % kv for kv in b2["loop_method_ms"].items()),
                     ", ".join("%s %.2f ms" % kv for kv in b2["vfs_method_ms"].items())))
        if "sync_ms" in b2:
            d.append("Syncs on the engines' disk (median of 50): an fdatasync of a file just "
                     "appended to %.2f ms, an fsync of a directory just changed %.2f ms.\n"
                     % (b2["sync_ms"]["fdatasync"], b2["sync_ms"]["dir_fsync"]))
    if b3 and "b3" in b3:
        r3, r4, r5 = b3["b3"], b3["b4"], b3["b5"]
        d.append("### B3-B5: loop volumes\n")
        d.append(load_note(b3))
        d.append("B3 rounds: dvdcli %s; shell %s.\n" % (fmt_list(r3["engine_s"]),
                                                         fmt_list(r3["shell_s"])))
        d.append("B4, %d cycles per side per round: dvdcli mount %s, unmount %s; shell mount "
                 "%s, unmount %s.\n" % (b3["cycles"], fmt_list(r4["engine_mount_s"]),
                                        fmt_list(r4["engine_unmount_s"]),
                                        fmt_list(r4["shell_mount_s"]),
                                        fmt_list(r4["shell_unmount_s"])))
        if "direct_mount_s" in r4:
            gap_m = r4["engine_mount_median_s"] - r4["shell_mount_median_s"]
            via_m = r4["engine_mount_median_s"] - r4["direct_mount_median_s"]
            gap_u = r4["engine_unmount_median_s"] - r4["shell_unmount_median_s"]
            via_u = r4["engine_unmount_median_s"] - r4["direct_unmount_median_s"]
            d.append("Without dvdcli (the same `Mount`/`Unmount` sent straight to the plugin "
                     "socket, alternating with the shell): Mount %s (**%s** the shell), "
                     "Unmount %s (**%s**). `dvdcli get` (start, find the plugin, Activate, "
                     "Get; no storage work): %s. Of the remount's gap to the shell (%s), "
                     "going through dvdcli accounts for %s; of the unmount's (%s), %s.\n" % (
                         ms(r4["direct_mount_median_s"]), x(r4["direct_mount_ratio"]),
                         ms(r4["direct_unmount_median_s"]), x(r4["direct_unmount_ratio"]),
                         ms(r4["dvdcli_get_median_s"]), ms(gap_m), ms(via_m), ms(gap_u),
                         ms(via_u)))
        d.append("B5 rounds (%d volumes): concurrent %s; sequential %s.\n"
                 % (b3["parallel"], fmt_list(r5["concurrent_s"]),
                    fmt_list(r5["sequential_s"])))
        if "concurrent_cpu_s" in r5:
            d.append("CPU used (engine with its mkfs children, and the dvdcli processes): "
                     "%s for the 16 at once, %s for the 16 in a row. Even with all %d cores "
                     "busy the concurrent run would need %s of wall time per round "
                     "(%s the sequential run): the CPU is not what holds it back.\n"
                     % (ms(r5["concurrent_cpu_median_s"]), ms(r5["sequential_cpu_median_s"]),
                        r5["nproc"], ms(r5["concurrent_cpu_median_s"] / r5["nproc"]),
                        x(r5["cpu_floor_ratio"])))
        if "shell_ratio" in r5:
            d.append("Reference, the same 16 first mounts from the shell (`shell_mount.sh "
                     "first`): at once %s, in a row %s: **%s**.\n"
                     % (ms(r5["shell_concurrent_median_s"]), ms(r5["shell_sequential_median_s"]),
                        x(r5["shell_ratio"])))
    d += details_b8_b11()
    return "\n".join(d)


def details_b8_b11():
    d = []
    b8 = load("b8_snapshot")
    if b8 and "copy" in b8:
        d.append("### B8: snapshots (bench/b8_snapshot.py --quick)\n")
        d.append(load_note(b8))
        d.append("Half-full images on an xfs made with reflink=1 (a loop device in a temp dir) "
                 "and on an ext4 for the copy fallback; each side a whole process, `cp` also "
                 "timed with a `sync` of its copy since ours fsyncs; %d rounds, sides "
                 "alternating.\n" % b8["rounds"])
        d.append("| image | ours (its call) | cp | cp + sync | ours/cp | ours/(cp+sync) |\n"
                 "|---|---|---|---|---|---|")
        for layout in ("contiguous", "striped"):
            r = b8["reflink_" + layout]
            for size, gib, ext in (("small", b8["small_gib"], r["extents_small"]),
                                   ("large", b8["large_gib"], r["extents_large"])):
                q = r[size]
                d.append("| reflink %g GiB %s (%d extent%s) | %s (%s) | %s | %s | %s | %s |"
                         % (gib, layout, ext, "" if ext == 1 else "s", ms(bl.median(q["ours_s"])),
                            ms(bl.median(q["ours_call_s"])), ms(bl.median(q["cp_s"])),
                            ms(bl.median(q["cp_sync_s"])), x(q["ratio_vs_cp"]),
                            x(q["ratio_vs_cp_sync"])))
        q = b8["copy"]
        d.append("| copy %g GiB (ext4) | %s (%s) | %s | %s | %s | %s |\n"
                 % (b8["copy_gib"], ms(bl.median(q["ours_s"])), ms(bl.median(q["ours_call_s"])),
                    ms(bl.median(q["cp_s"])), ms(bl.median(q["cp_sync_s"])),
                    x(q["ratio_vs_cp"]), x(q["ratio_vs_cp_sync"])))
    b9 = load("b9_csi_stage")
    if b9 and "ratio" in b9:
        d.append("### B9: CSI stage and publish (bench/b9_csi_stage.py)\n")
        d.append(load_note(b9))
        d.append("A real gRPC client on the engine's CSI Node service (loop), a new volume each "
                 "round, never formatted; the shell does the same kernel steps. Rounds: ours "
                 "%s; shell %s.\n" % (fmt_list(b9["ours_s"]), fmt_list(b9["shell_s"])))
    b10 = load("b10_postgres")
    if b10 and "scale" in b10:
        a = b10["args"]
        d.append("### B10: PostgreSQL vs SQLite (bench/b10_postgres.py --quick)\n")
        d.append(load_note(b10))
        d.append("Each round a fresh database on both sides (a scratch PostgreSQL server on a "
                 "unix socket, tests/pgscratch.py); %d vfs volumes created through the REST "
                 "API by 8 clients, then %g s of plugin Get/Path by 8 keep-alive clients.\n"
                 % (a["volumes"], a["duration"]))
        d.append("| | SQLite per round | PostgreSQL per round |\n|---|---|---|")
        for what in ("create", "get"):
            r = b10[what]
            if "sqlite_rounds" in r:
                d.append("| %s (req/s) | %s | %s |" % (
                    what, ", ".join("%.0f" % v for v in r["sqlite_rounds"]),
                    ", ".join("%.0f" % v for v in r["postgres_rounds"])))
        sc = b10["scale"]
        if "one_rounds" in sc:
            d.append("\nTwo servers on one database (8 clients each, at once) vs one (16 "
                     "clients): %s vs %s req/s per round.\n"
                     % (", ".join("%.0f" % v for v in sc["two_rounds"]),
                        ", ".join("%.0f" % v for v in sc["one_rounds"])))
        else:
            d.append("")
    b11 = load("b11_docker_run")
    if b11 and "run" in b11:
        r, ls = b11["run"], b11["ls"]
        d.append("### B11: docker run and docker volume ls (bench/b11_docker_run.py)\n")
        d.append(load_note(b11))
        d.append("A private dockerd in a mount namespace whose /run/docker/plugins holds only "
                 "the engines' plugins; a busybox image made with `docker import`. `docker "
                 "run`: %d rounds, %d containers per driver per round (the drivers in "
                 "rotation), each with a volume that does not exist yet; ms per container "
                 "from the create to the exit:\n" % (b11["rounds"], b11["runs"]))
        d.append("| driver | per round | median | create / start / wait (median) |\n"
                 "|---|---|---|---|")
        for n in ("local", "loop", "vfs"):
            p = r[n + "_parts_median_s"]
            d.append("| %s | %s | %s | %s / %s / %s |" % (
                n, fmt_list(r[n + "_s"]), ms(r[n + "_median_s"]), ms(p["create"]),
                ms(p["start"]), ms(p["wait"])))
        d.append("\n`docker volume ls` with %d volumes per side, filtered by driver: Engine "
                 "API (median of 3 calls per round) local %s, plugin %s; docker CLI local %s, "
                 "plugin %s.\n" % (b11["volumes"], fmt_list(ls["api"]["local_s"]),
                                   fmt_list(ls["api"]["vfs_s"]), fmt_list(ls["cli"]["local_s"]),
                                   fmt_list(ls["cli"]["vfs_s"])))
    return d


def write():
    run = load("run") or {}
    m = run.get("machine") or bl.machine()
    rs = rows()
    lines = []
    lines.append("# Performance\n")
    lines.append("Written by `make bench` (bench/run); do not edit by hand. Every figure is "
                 "measured against a baseline run in the same invocation, the two sides "
                 "alternating (A B, B A, ...), and is the median of at least 5 rounds: this "
                 "machine is shared and noisy, so only the ratios compare across runs.\n")
    lines.append("- **Date:** %s" % m.get("date", "?"))
    lines.append("- **Machine:** %s CPUs (`nproc`), %s, kernel %s, %s RAM; load average "
                 "at the start %s" % (m.get("nproc"), m.get("cpu"), m.get("kernel"),
                                      m.get("memory"), m.get("loadavg")))
    lines.append("- **Code:** %s%s" % (git_rev(), ", quick mode (smaller sizes)"
                                       if run.get("quick") else ""))
    if run.get("seconds"):
        lines.append("- **Suite time:** %.0f s" % run["seconds"])
    lines.append("")
    lines.append("| # | What | Measured | Baseline, same run | Ratio | Target | Met |")
    lines.append("|---|---|---|---|---|---|---|")
    for i, what, meas, base, ratio, target, met, _ in rs:
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            i, what, meas, base, ratio, target,
            "yes" if met else ("**no**" if met is False else "")))
    lines.append("")
    busy = []
    for name in ("b1_plugin", "b2_docker", "b3_mount", "b8_snapshot", "b9_csi_stage",
                 "b10_postgres", "b11_docker_run"):
        r = load(name)
        if r and "machine was busy" in load_note(r):
            busy.append(name)
    if busy:
        lines.append("**This run was made on a busy machine** (more runnable tasks than CPUs "
                     "during %s; see each section's load average). Ratios of whole-process "
                     "and disk-bound work (B2-B5, B8-B11) move with the load even though the "
                     "sides alternate, in either direction; the instruction counts do not. "
                     "Re-run `make bench` on a quiet machine before reading such a ratio "
                     "close to its target as met or missed.\n" % ", ".join(busy))
    missed = []
    for i, what, meas, base, ratio, target, met, note in rs:
        if met is False and note and note not in [n for n, _ in missed]:
            missed.append((note, "%s, %s: %s, target %s" % (
                i, what.rstrip(), ratio if "×" in target else meas, target)))
    if missed:
        lines.append("## Targets not met: why, and the next step\n")
        res = (load("b1_plugin") or {}, load("b2_docker") or {}, load("b3_mount") or {})
        for note, label in missed:
            try:
                text = NOTES[note](*res)
            except (KeyError, TypeError, ValueError, ZeroDivisionError) as ex:
                text = "(no note: %s)" % ex
            lines.append("- **%s.** %s\n" % (label, text))
    lines.append("## How to reproduce\n")
    lines.append("```sh\nmake bench                      # builds, runs bench/run, writes "
                 "this page (~10 min)\nbench/run --quick               # smaller sizes, "
                 "a smoke test\nbench/b1_plugin.py --rounds 9   # one benchmark; results in "
                 "build/bench/results/*.json\nbench/run --report              # rewrite "
                 "this page from the last results\n```\n")
    lines.append("Needs root (loop devices, mounts), dockerd for B2 and B11, xfsprogs for "
                 "B8, python3-grpcio for B9, PostgreSQL for B10 (each skipped without it), "
                 "valgrind for the instruction counts (skipped without it). Everything runs "
                 "under temp directories (`/tmp/rrb*`, the engines' run directories in "
                 "`/run/rrbrun*` or `/dev/shm/rrbrun*`, private dockerds in `/tmp/rrd*`) and "
                 "is removed at the end, also on failure or Ctrl-C: processes by PID, "
                 "mounts, loop devices, sockets. Set `REXRAY_BIN`/`DVDCLI_BIN` to measure "
                 "other binaries. See bench/README.md for what each program does.\n")
    lines.append("## Details\n")
    lines.append(details())
    os.makedirs(os.path.dirname(DOC), exist_ok=True)
    with open(DOC, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    bl.log("wrote " + DOC)


if __name__ == "__main__":
    write()
