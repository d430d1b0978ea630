#!/usr/bin/python3
"""Write docs/performance.md from build/bench/results/*.json (bench/run
calls this; run it alone to regenerate the page from the last results)."""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib as bl  # noqa: E402

DOC = os.path.join(bl.REPO, "docs", "performance.md")

# Why a target is missed and what to do next: shown under the table for
# every row whose target does not hold in the run. The evidence (profiles,
# breakdowns) is in the sections below the table, measured in the same run.
NOTES = {
    "B1": "Per request the engine runs two `sqlite3_prepare_v2` (the volume by name in "
          "`store.c:get_one`, its attachments in `load_attachments`) and two "
          "`sqlite3_finalize`: compiling SQL is over half of its instructions (see the "
          "profile). Next: prepare each statement once per connection "
          "(`sqlite3_prepare_v3(..., SQLITE_PREPARE_PERSISTENT)`, kept in `struct store`, "
          "`sqlite3_reset` + `sqlite3_clear_bindings` after use) and fetch a volume and its "
          "attachments in one statement (`LEFT JOIN`); then a read-mostly in-memory index "
          "by name (lower-cased) in front of the store, so `Get`/`Path` take no SQLite at "
          "all. The store's single connection and recursive mutex also serialise every "
          "request (the p99), which the cache removes too.",
    "B1p99": "The same cost as B1 queued behind the store's one mutex (every request takes "
             "`store->mu` and SQLite's FULLMUTEX for the whole lookup): with 8 clients on 2 "
             "cores a request waits for the others' SQL compilation. Next: as B1.",
    "B2": "Each docker cycle is 6 plugin calls (Get, Create, Get, Get, Get, Remove; the "
          "counting proxy in b2_docker.py records them); the breakdown shows each method's "
          "own latency. Create runs the name lookup twice (integration `find_volume`, "
          "then `ls_volume_create`'s `inspect_by_name`), takes a sequence number in its "
          "own write transaction (`store_next_seq`) and inserts in a second one; loop "
          "volumes also `fsync` the new image. Next: the statement cache (B1), one "
          "transaction for sequence + insert, skip the second lookup under the keylock.",
    "B3": "Most of the difference is dvdcli's own start-up (see `dvdcli get` in the B4 "
          "breakdown): it links libcurl, whose 30-odd shared libraries cost ~5 ms of "
          "dynamic loading and relocation per run, and it makes three HTTP requests. In "
          "the engine, the first mount probes the device with libblkid twice (before "
          "mkfs, and again in `osfs_mount` because no fstype is passed) and writes the "
          "loop marker file twice with `fsync`. Next: dvdcli speaks HTTP/1.1 itself over "
          "unix sockets (libcurl only for tcp/https, or dlopen'ed), link it with only what "
          "it uses (`-Wl,--as-needed` on an archive of src/); pass the probed/made fstype "
          "to `osfs_mount`; one marker write.",
    "B4": "As B3: the engine alone (plugin calls straight on the socket) is near the "
          "shell, and dvdcli's fixed start-up cost is most of the rest. Remount also runs "
          "the full blkid probe twice and fsyncs the marker twice; unmount reads "
          "/proc/self/mountinfo twice. Next: as B3.",
    "B5": "Mounts of distinct volumes should only share the store's mutex; if the ratio "
          "is high, look at the store's write transactions and `loopdev_attach` retries.",
    "B6ls": "`rexray volume ls -f json` spends most of its instructions in the CLI: "
            "`output.c:sort_by_name` is an insertion sort, O(n^2) with 10,000 volumes "
            "(the store returns them by id, and ids sort as text: vfs-100, vfs-1000, ...); "
            "then it decodes the 10,000-volume reply with jansson and encodes it again. "
            "The server pretty-prints (`json_dump_pretty`) and runs one attachments "
            "query per volume. Next: qsort by name; ask the store for `ORDER BY name`; "
            "one `LEFT JOIN` for the attachments; compact JSON on the wire.",
    "B6rss": "VmHWM is the peak: listing 10,000 volumes builds the whole list in memory "
             "three times (rows, the jansson tree, the encoded text). Next: stream the "
             "list encoding, and `malloc_trim`/smaller MHD thread stacks.",
    "B6cold": "Start-up: config, store migration check, two HTTP daemons. Next: profile "
              "with `strace -r`/callgrind of `service start` if it misses.",
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
                    % (b3["parallel"], b3["parallel"]), ms(r5["concurrent_median_s"]),
                    "one after another %s" % ms(r5["sequential_median_s"]), x(r5["ratio"]),
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
    return out


def fmt_list(xs, scale=1e3, unit="ms"):
    return ", ".join("%.1f" % (v * scale) for v in xs) + " " + unit


def details():
    b1, b2, b3 = load("b1_plugin"), load("b2_docker"), load("b3_mount")
    d = []
    if b1 and "b1" in b1:
        r = b1["b1"]
        d.append("### B1 and B6: the plugin with %d volumes\n" % b1["volumes"])
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
        d.append("A private dockerd (tests/system/dockerd.py), Engine API calls on one "
                 "keep-alive connection; %d rounds, the three drivers in rotation.\n"
                 % b2["rounds"])
        d.append("| driver | per round (ms for %d cycles) | median |\n|---|---|---|" % b2["count"])
        for n in ("local", "loop", "vfs"):
            d.append("| %s | %s | %s |" % (n, fmt_list(b2[n + "_s"]), ms(b2[n + "_median_s"])))
        d.append("")
        d.append("Plugin calls dockerd makes per cycle: %s.\n"
                 % ", ".join(b2["plugin_calls_per_cycle"]))
        d.append("Each method's median latency on the plugin socket (Python client, one "
                 "keep-alive connection): loop %s; vfs %s.\n" % (
                     ", ".join("%s %.2f ms" % kv for kv in b2["loop_method_ms"].items()),
                     ", ".join("%s %.2f ms" % kv for kv in b2["vfs_method_ms"].items())))
    if b3 and "b3" in b3:
        r3, r4, r5 = b3["b3"], b3["b4"], b3["b5"]
        d.append("### B3-B5: loop volumes\n")
        d.append("B3 rounds: dvdcli %s; shell %s.\n" % (fmt_list(r3["engine_s"]),
                                                         fmt_list(r3["shell_s"])))
        d.append("B4, %d cycles per side per round: dvdcli mount %s, unmount %s; shell mount "
                 "%s, unmount %s.\n" % (b3["cycles"], fmt_list(r4["engine_mount_s"]),
                                        fmt_list(r4["engine_unmount_s"]),
                                        fmt_list(r4["shell_mount_s"]),
                                        fmt_list(r4["shell_unmount_s"])))
        if "direct_mount_s" in r4:
            d.append("Without dvdcli (the same `Mount`/`Unmount` sent straight to the plugin "
                     "socket, alternating with the shell): Mount %s (**%s** the shell), "
                     "Unmount %s (**%s**). `dvdcli get` (start, find the plugin, Activate, "
                     "Get; no storage work): %s. dvdcli's fixed cost is the larger part of "
                     "the B3/B4 gap.\n" % (
                         ms(r4["direct_mount_median_s"]), x(r4["direct_mount_ratio"]),
                         ms(r4["direct_unmount_median_s"]), x(r4["direct_unmount_ratio"]),
                         ms(r4["dvdcli_get_median_s"])))
        d.append("B5 rounds (%d volumes): concurrent %s; sequential %s.\n"
                 % (b3["parallel"], fmt_list(r5["concurrent_s"]),
                    fmt_list(r5["sequential_s"])))
    return "\n".join(d)


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
    missed = []
    for i, what, meas, base, ratio, target, met, note in rs:
        if met is False and note and note not in [n for n, _ in missed]:
            missed.append((note, "%s (%s: %s %s)" % (i, what.rstrip(), meas, target)))
    if missed:
        lines.append("## Targets not met: why, and the next step\n")
        for note, label in missed:
            lines.append("- **%s.** %s\n" % (label, NOTES.get(note, "")))
    lines.append("## How to reproduce\n")
    lines.append("```sh\nmake bench                      # builds, runs bench/run, writes "
                 "this page (~5 min)\nbench/run --quick               # smaller sizes, "
                 "a smoke test\nbench/b1_plugin.py --rounds 9   # one benchmark; results in "
                 "build/bench/results/*.json\nbench/run --report              # rewrite "
                 "this page from the last results\n```\n")
    lines.append("Needs root (loop devices, mounts), dockerd for B2 (skipped without it), "
                 "valgrind for the instruction counts (skipped without it). Everything runs "
                 "under temp directories (`/tmp/rrb*`, a private dockerd in `/tmp/rrd*`) and "
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
