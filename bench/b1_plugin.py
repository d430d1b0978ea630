#!/usr/bin/python3
"""B1 and B6: the Docker plugin's Get and Path with 10,000 volumes, and the
engine at that scale (bench/README.md).

  B1  loadgen (8 keep-alive clients, /VolumeDriver.Get and .Path alternating,
      random names among the 10,000) against the engine's plugin socket and
      against bench/static_server (libmicrohttpd, thread per connection, unix
      socket) answering the engine's own Get/Path JSON. Rounds alternate;
      the ratio is the median of the per-round req/s ratios.
      Then instructions per request under valgrind --tool=callgrind (two runs
      of N1 and N2 requests; (Ir2 - Ir1) / (N2 - N1), so start-up and
      shut-down cancel out) for both servers, and the per-request profile of
      the engine's hottest functions from the same difference.
  B6  `rexray volume ls -f json` and `rexray volume ls` (table) wall time
      against the running engine
      (alternating with `rexray version`, the floor of a CLI run), the
      engine's VmHWM, and the cold start: fork of `rexray service start -f`
      to the first answered /VolumeDriver.Get (alternating with the static
      server's cold start).

The volumes are made with the vfs service (a directory and a row each)
through the REST API, 8 requests at a time.

  bench/b1_plugin.py [--volumes N] [--rounds R] [--duration S] [--no-callgrind]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in bench/
import benchlib as bl  # noqa: E402


def loadgen_json(cmd, env=None, timeout=600):
    p = bl.run(cmd, env=env, timeout=timeout)
    return json.loads(p.stdout.strip().splitlines()[-1])


def create_volumes(loadgen, eng, n):
    bl.log("creating %d vfs volumes through the REST API" % n)
    r = loadgen_json([loadgen, "create", "--socket", eng.rest_sock, "--service", "vfs",
                      "--clients", "8", "--count", str(n), "--prefix", "b"])
    if r["errors"]:
        raise RuntimeError("volume creation failed: %r" % r)
    bl.log("created %d volumes in %.2f s (%.0f/s)" % (n, r["seconds"], r["rps"]))
    return r


# ---- callgrind


def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("no totals in " + path)


ANN_RE = re.compile(r"^\s*([\d,]+)\s+(?:\([\s\d.]+%\)\s+)?(.+?)\s*$")


def annotate(path, inclusive):
    """{function: Ir} from callgrind_annotate (every function: threshold 100)."""
    cmd = ["callgrind_annotate", "--threshold=100", "--auto=no"]
    if inclusive:
        cmd.append("--inclusive=yes")
    p = bl.run(cmd + [path], timeout=300)
    out, started = {}, False
    for line in p.stdout.splitlines():
        if "file:function" in line:
            started = True
            continue
        if not started or line.startswith("-") or "=>" in line:
            continue
        if not line.strip():
            if out:
                break
            continue
        m = ANN_RE.match(line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", ""))
        fn = m.group(2)
        if "PROGRAM TOTALS" in fn:
            continue
        out[fn] = max(ir, out.get(fn, 0))
    return out, p.stdout


def short_fn(fn):
    """'rrhead/src/store/store.c:get_one [/x/build/rexray]' -> 'store.c:get_one (rexray)'."""
    m = re.match(r"^(.*?):(.*?)(?: \[(.*)\])?$", fn)
    if not m:
        return fn
    file, func, obj = m.group(1), m.group(2), m.group(3) or ""
    base = os.path.basename(obj)
    if file.startswith("???"):
        return "%s (%s)" % (func, base)
    return "%s:%s (%s)" % (os.path.basename(file), func, base)


LIBRARY_CALLS = (":sqlite3_prepare_v2 ", ":sqlite3_finalize ", ":sqlite3_step ", ":json_dumps ",
                 ":json_vpack_ex ", ":json_loadb ", ":json_loads ", "realpath", ":malloc ",
                 ":free ", "pthread_mutex_lock ", ":MHD_queue_response ", ":__vfprintf_internal",
                 ":sqlite3_reset ", "memset")


def func_name(fn):
    m = re.match(r"^(?:.*?):(.*?)(?: \[.*\])?$", fn)
    return m.group(1) if m else fn


def top_unique(rows, total, n):
    seen, top = set(), []
    for d, fn in rows:
        s = short_fn(fn)
        key = s.split(" (")[0]
        if key in seen:
            continue
        seen.add(key)
        top.append({"fn": s, "ir": round(d), "share": d / total})
        if len(top) == n:
            break
    return top


def profile_diff(small, big, dn, inclusive, keep):
    a = annotate(small, inclusive)[0] if small else {}
    b, text = annotate(big, inclusive)
    rows = []
    for fn, ir in b.items():
        d = (ir - a.get(fn, 0)) / dn
        if d > 0 and keep(fn):
            rows.append((d, fn))
    rows.sort(reverse=True)
    return rows, text


def under_callgrind(cmd_fn, sock, probe, loadgen, requests, outdir, tag, env, then=None):
    """Run a server under callgrind, send `requests` plugin requests (and
    call then()), stop it. Returns the callgrind output path."""
    suffix = "ls" if then else str(requests)
    out = os.path.join(outdir, "callgrind.%s.%s.out" % (tag, suffix))
    logf = open(os.path.join(outdir, "callgrind.%s.%s.log" % (tag, suffix)), "wb")
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out] + cmd_fn()
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                         start_new_session=True)
    logf.close()
    CLEAN.procs.append(p)
    try:
        bl.wait_socket(sock, p, timeout=120, probe=probe)
        if requests:
            loadgen_json([loadgen, "plugin", "--socket", sock, "--clients", "8",
                          "--requests", str(requests), "--names", str(ARGS.volumes)])
        if then:
            then()
    finally:
        bl.stop_proc(p, timeout=120)
    if not os.path.exists(out):
        raise RuntimeError("callgrind wrote no " + out)
    return out


def callgrind_part(loadgen, static_server, eng, static_cmd, static_sock, outdir):
    n1, n2 = ARGS.cg_requests
    dn = n2 - n1
    res = {"n1": n1, "n2": n2}

    def probe_of(sock):
        def probe():
            st, _ = bl.unix_request(sock, "POST", "/VolumeDriver.Get",
                                    body={"Name": "b00000"}, timeout=60)
            return st == 200
        return probe

    files = {}
    for tag, cmd_fn, sock, env in (
            ("engine", lambda: eng.command(), eng.plugin_sock, eng.env()),
            ("static", lambda: static_cmd, static_sock, None)):
        files[tag] = []
        for n in (n1, n2):
            bl.log("callgrind: %s, %d requests" % (tag, n))
            files[tag].append(under_callgrind(cmd_fn, sock, probe_of(sock), loadgen, n, outdir,
                                              tag, env))
        t1, t2 = (callgrind_total(f) for f in files[tag])
        res[tag + "_ir_per_request"] = (t2 - t1) / dn
        res[tag + "_ir_total"] = [t1, t2]
    res["ratio"] = res["engine_ir_per_request"] / res["static_ir_per_request"]
    res_ls = None

    small, big = files["engine"]
    excl, _ = profile_diff(small, big, dn, False, lambda fn: True)
    incl, text = profile_diff(small, big, dn, True,
                              lambda fn: "/rexray]" in fn and "'" not in fn)
    with open(os.path.join(outdir, "callgrind.engine.annotate.txt"), "w") as f:
        f.write(text)
    per = res["engine_ir_per_request"]
    res["exclusive_top"] = [{"fn": short_fn(fn), "ir": round(d), "share": d / per}
                            for d, fn in excl[:15]]
    res["inclusive_top"] = top_unique(incl, per, 20)
    lib, _ = profile_diff(small, big, dn, True, lambda fn: "'" not in fn and any(
        k in fn for k in LIBRARY_CALLS))
    res["library_top"] = top_unique(lib, per, 12)

    # B6's listing under callgrind: the CLI, and the server's share as the
    # difference to the N1 run
    ls_out = os.path.join(outdir, "callgrind.cli.ls.out")

    def cli_ls():
        bl.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + ls_out, bl.REXRAY,
                "volume", "ls", "-f", "json"], env=eng.env(), timeout=600)

    bl.log("callgrind: volume ls -f json")
    srv_ls = under_callgrind(lambda: eng.command(), eng.plugin_sock,
                             probe_of(eng.plugin_sock), loadgen, 0, outdir, "engine", eng.env(),
                             then=cli_ls)
    cli_total = callgrind_total(ls_out)
    cli_rows, _ = profile_diff(None, ls_out, 1, True, lambda fn: "'" not in fn and (
        "/rexray]" in fn or "json_" in fn) and func_name(fn) not in (
            "main", "cli_main", "cli_volume", "cmd_ls", "(below main)"))
    srv_total = callgrind_total(srv_ls) - (callgrind_total(small) - n1 * per)
    srv_rows, _ = profile_diff(small, srv_ls, 1, True, lambda fn: "'" not in fn and (
        "/rexray]" in fn or "json_" in fn or "sqlite3_step" in fn))
    res_ls = {"cli": {"total": cli_total, "top": top_unique(cli_rows, cli_total, 8)},
              "server": {"total": round(srv_total), "top": top_unique(srv_rows, srv_total, 8)}}
    files["engine"] += [srv_ls, ls_out]
    os.makedirs(bl.RESULTS, exist_ok=True)
    for f in files["engine"] + files["static"]:
        shutil.copy(f, bl.RESULTS)
    return res, res_ls


# ---- main


def main():
    loadgen, static_server = bl.build_helpers()
    bl.check_binaries(bl.REXRAY)
    outdir = CLEAN.tempdir("rrbw")
    res = {"machine": bl.machine(), "volumes": ARGS.volumes, "rounds": ARGS.rounds,
           "duration": ARGS.duration, "service": "vfs"}

    eng = bl.Engine(CLEAN, service="vfs")
    eng.start()
    res["create"] = create_volumes(loadgen, eng, ARGS.volumes)

    # the engine's own replies, served by the static server
    st, get_body = eng.plugin_call("Get", {"Name": "b00042"})
    assert st == 200, get_body
    st, path_body = eng.plugin_call("Path", {"Name": "b00042"})
    assert st == 200, path_body
    gpath, ppath = os.path.join(outdir, "get.json"), os.path.join(outdir, "path.json")
    with open(gpath, "wb") as f:
        f.write(get_body)
    with open(ppath, "wb") as f:
        f.write(path_body)
    res["get_reply"] = get_body.decode()
    static_sock = os.path.join(os.path.dirname(eng.plugin_sock), eng.plugin + "-static.sock")
    CLEAN.files.append(static_sock)
    static_cmd = [static_server, static_sock, gpath, ppath]
    eng.stop()

    # ---- B6: cold start, engine vs static server, alternating
    def cold(cmd, sock, env):
        def f():
            r = loadgen_json([loadgen, "coldstart", "--socket", sock, "--name", "b00000",
                              "--timeout", "30", "--"] + cmd, env=env)
            if r["status"] != 200:
                raise RuntimeError("cold start: first reply %r" % r)
            return r["first_answer_ms"]
        return f

    bl.log("B6 cold start: %d rounds" % ARGS.rounds)
    ce, cs = bl.alternate(cold(eng.command(), eng.plugin_sock, eng.env()),
                          cold(static_cmd, static_sock, None), ARGS.rounds)
    res["coldstart"] = {"engine_ms": ce, "static_ms": cs, "engine_median_ms": bl.median(ce),
                        "static_median_ms": bl.median(cs)}

    # ---- B1: a fresh engine, alternating with the static server, once the
    # engine's start-up work (reconciliation of every volume) is over
    eng.start()
    idle_s, idle_cpu = eng.wait_idle()
    res["start_to_idle"] = {"seconds": idle_s, "cpu_seconds": idle_cpu,
                            "log_lines": len(open(eng.log_path, "rb").read().splitlines())}
    static = subprocess.Popen(static_cmd, stdin=subprocess.DEVNULL, start_new_session=True)
    CLEAN.procs.append(static)
    bl.wait_socket(static_sock, static)
    res["vmhwm_kb_started"] = bl.vmhwm_kb(eng.pid)

    def load(sock):
        def f():
            return loadgen_json([loadgen, "plugin", "--socket", sock, "--clients", "8",
                                 "--duration", str(ARGS.duration), "--warmup", "0.3",
                                 "--names", str(ARGS.volumes)])
        return f

    bl.log("B1: %d rounds of %.1f s per side" % (ARGS.rounds, ARGS.duration))
    le, ls_ = bl.alternate(load(eng.plugin_sock), load(static_sock), ARGS.rounds)
    for r in le + ls_:
        if r["errors"]:
            raise RuntimeError("B1: errors in a run: %r" % r)
    res["b1"] = {
        "engine": le, "static": ls_,
        "ratio_rounds": [a["rps"] / b["rps"] for a, b in zip(le, ls_)],
        "engine_rps": bl.median([r["rps"] for r in le]),
        "static_rps": bl.median([r["rps"] for r in ls_]),
        "engine_p99_us": bl.median([r["p99_us"] for r in le]),
        "static_p99_us": bl.median([r["p99_us"] for r in ls_]),
        "engine_p50_us": bl.median([r["p50_us"] for r in le]),
        "static_p50_us": bl.median([r["p50_us"] for r in ls_]),
    }
    res["b1"]["ratio"] = bl.median(res["b1"]["ratio_rounds"])
    res["vmhwm_kb_after_b1"] = bl.vmhwm_kb(eng.pid)

    # B1 again once every volume has been mounted here before: unmount
    # leaves <mount.path>/<name> behind, and Get/Path then check it against
    # /proc/self/mountinfo on every call
    vdir = os.path.join(eng.lib, "volumes")
    names = ["b%05d" % i for i in range(ARGS.volumes)]
    for n in names:
        os.makedirs(os.path.join(vdir, n), exist_ok=True)
    with open("/proc/self/mountinfo") as f:
        mi_lines = sum(1 for _ in f)
    bl.log("B1 with every volume's mount directory present (%d mountinfo lines): %d rounds"
           % (mi_lines, ARGS.rounds))
    me, ms_ = bl.alternate(load(eng.plugin_sock), load(static_sock), ARGS.rounds)
    for n in names:
        os.rmdir(os.path.join(vdir, n))
    res["b1_mounted_once"] = {
        "engine": me, "static": ms_, "mountinfo_lines": mi_lines,
        "ratio": bl.median([a["rps"] / b["rps"] for a, b in zip(me, ms_)]),
        "engine_rps": bl.median([r["rps"] for r in me]),
        "static_rps": bl.median([r["rps"] for r in ms_]),
        "engine_p99_us": bl.median([r["p99_us"] for r in me]),
    }
    bl.stop_proc(static)

    # ---- B6: volume ls -f json, alternating with `rexray version`
    env = eng.env()

    def ls():
        t0 = time.monotonic()
        p = subprocess.run([bl.REXRAY, "volume", "ls", "-f", "json"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t = time.monotonic() - t0
        if p.returncode != 0:
            raise RuntimeError("volume ls: %s" % p.stderr[-500:])
        n = len(json.loads(p.stdout))
        if n != ARGS.volumes:
            raise RuntimeError("volume ls listed %d volumes, not %d" % (n, ARGS.volumes))
        return t

    def ls_table():
        t0 = time.monotonic()
        p = subprocess.run([bl.REXRAY, "volume", "ls"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t = time.monotonic() - t0
        if p.returncode != 0:
            raise RuntimeError("volume ls: %s" % p.stderr[-500:])
        n = len(p.stdout.splitlines()) - 1  # the header line
        if n != ARGS.volumes:
            raise RuntimeError("volume ls listed %d volumes, not %d" % (n, ARGS.volumes))
        return t

    def version():
        return bl.timed(lambda: subprocess.run([bl.REXRAY, "version"], env=env,
                                               stdout=subprocess.DEVNULL, check=True))

    def rest_list():
        t0 = time.monotonic()
        st, body = bl.unix_request(eng.rest_sock, "GET", "/volumes/vfs?attachments=1")
        t = time.monotonic() - t0
        if st != 200:
            raise RuntimeError("GET /volumes/vfs: %d %s" % (st, body[:300]))
        return t, len(body)

    bl.log("B6 volume ls: %d rounds" % ARGS.rounds)
    tl, tv = bl.alternate(ls, version, ARGS.rounds)
    tt, _ = bl.alternate(ls_table, version, ARGS.rounds)
    tr = [rest_list() for _ in range(ARGS.rounds)]
    res["ls"] = {"ls_s": tl, "version_s": tv, "ls_median_s": bl.median(tl),
                 "version_median_s": bl.median(tv),
                 "table_s": tt, "table_median_s": bl.median(tt),
                 "rest_s": [x[0] for x in tr], "rest_median_s": bl.median([x[0] for x in tr]),
                 "rest_bytes": tr[0][1]}
    res["vmhwm_kb"] = bl.vmhwm_kb(eng.pid)
    eng.stop()

    # ---- instructions per request
    if ARGS.callgrind and shutil.which("valgrind") and shutil.which("callgrind_annotate"):
        res["callgrind"], ls_profile = callgrind_part(loadgen, static_server, eng, static_cmd,
                                                      static_sock, outdir)
        if ls_profile:
            res["ls_profile"] = ls_profile
    else:
        bl.log("callgrind skipped")

    bl.save_result("b1_plugin", res)
    b1, b6 = res["b1"], res["ls"]
    print("B1 engine %.0f req/s, static %.0f req/s: ratio %.2f (target >= 0.8); "
          "p99 %.0f us (target <= 1000)" % (b1["engine_rps"], b1["static_rps"], b1["ratio"],
                                           b1["engine_p99_us"]))
    m1 = res["b1_mounted_once"]
    print("B1 after every volume was mounted once: engine %.0f req/s, static %.0f: ratio %.2f, "
          "p99 %.0f us" % (m1["engine_rps"], m1["static_rps"], m1["ratio"], m1["engine_p99_us"]))
    if "callgrind" in res:
        cg = res["callgrind"]
        print("B1 instructions/request: engine %.0f, static %.0f (%.1fx)"
              % (cg["engine_ir_per_request"], cg["static_ir_per_request"], cg["ratio"]))
    print("B6 volume ls -f json %.1f ms, table %.1f ms (version %.1f ms; target <= 50), "
          "VmHWM %.1f MB (target <= 16), cold start %.1f ms (static %.1f ms; target <= 50)"
          % (b6["ls_median_s"] * 1e3, b6["table_median_s"] * 1e3, b6["version_median_s"] * 1e3,
             res["vmhwm_kb"] / 1024, res["coldstart"]["engine_median_ms"],
             res["coldstart"]["static_median_ms"]))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--volumes", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--duration", type=float, default=2.0, help="seconds per B1 run")
    ap.add_argument("--no-callgrind", dest="callgrind", action="store_false")
    ap.add_argument("--cg-requests", type=int, nargs=2, default=[200, 2200],
                    metavar=("N1", "N2"))
    ARGS = ap.parse_args()
    if ARGS.rounds < 5:
        sys.exit("bench: at least 5 rounds")
    CLEAN = bl.Cleanup()
    try:
        main()
    finally:
        CLEAN.run()
