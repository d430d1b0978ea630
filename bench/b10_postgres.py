#!/usr/bin/python3
"""B10: the server's records on PostgreSQL (issue 19) against the same on
SQLite, side by side in one run, rounds alternating:

  create  loadgen create: --volumes vfs volumes through the REST API, 8
          clients, into an engine whose records are in SQLite (its own
          file) vs one whose records are in PostgreSQL (a scratch server,
          tests/pgscratch.py, on a unix socket); each round a fresh
          database on both sides
  get     loadgen plugin: Docker plugin Get/Path over those volumes, 8
          keep-alive clients, --duration seconds, on both engines
  scale   two engines on one PostgreSQL database, 8 clients each (16 in
          all, two loadgen processes at once) vs one engine with 16
          clients: the Get/Path throughput of two servers over one

Prints the medians and the ratios (PostgreSQL/SQLite; two/one) and writes
build/bench/results/b10_postgres.json. bench/run runs it with --quick.

  bench/b10_postgres.py [--rounds R] [--volumes N] [--duration S] [--quick]
"""

import argparse
import json
import os
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
sys.dont_write_bytecode = True
import benchlib as bl  # noqa: E402
import pgscratch  # noqa: E402

AP = argparse.ArgumentParser(description=__doc__.split("\n")[0])
AP.add_argument("--rounds", type=int, default=5)
AP.add_argument("--volumes", type=int, default=2000)
AP.add_argument("--duration", type=float, default=4)
AP.add_argument("--quick", action="store_true", help="500 volumes, 2 s")
ARGS = AP.parse_args()
if ARGS.quick:
    ARGS.volumes, ARGS.duration = 500, 2
if ARGS.rounds < 5:
    sys.exit("bench: at least 5 rounds")
CLEAN = bl.Cleanup()


def loadgen_json(cmd):
    p = bl.run(cmd, timeout=900)
    return json.loads(p.stdout.strip().splitlines()[-1])


def engine(uri=None, vfs_root=None):
    extra = "libstorage:\n  service: vfs\n"
    if uri:
        extra += "  server:\n    store: \"%s\"\n" % uri
    if vfs_root:  # servers that share records share the volumes' directory too
        extra += "vfs:\n  root: %s\n" % vfs_root
    return bl.Engine(CLEAN, service="vfs", extra_config=extra).start()


def check_get(eng, name):
    """The engine knows the volume (a Get that answers an error would be
    counted as a fast request)."""
    st, body = eng.plugin_call("Get", json.dumps({"Name": name}))[:2]
    reply = json.loads(body)
    if st != 200 or reply.get("Err") or reply.get("Volume", {}).get("Name") != name:
        raise RuntimeError("Get %s on %s: %s %r" % (name, eng.root, st, reply))


def create(loadgen, eng, n):
    r = loadgen_json([loadgen, "create", "--socket", eng.rest_sock, "--service", "vfs",
                      "--clients", "8", "--count", str(n), "--prefix", "b"])
    if r["errors"]:
        raise RuntimeError("create: %r\n%s" % (r, eng.logs()))
    return r["rps"]


def get(loadgen, sock, clients, n):
    r = loadgen_json([loadgen, "plugin", "--socket", sock, "--clients", str(clients),
                      "--duration", str(ARGS.duration), "--names", str(n), "--prefix", "b",
                      "--warmup", "0.5"])
    if r["errors"]:
        raise RuntimeError("get: %r" % r)
    return r["rps"]


def main():
    if os.geteuid() != 0 or pgscratch.missing():
        why = "needs root and PostgreSQL: %s" % (pgscratch.missing() or "not root")
        bl.save_result("b10_postgres", {"machine": bl.machine(), "skipped": why})
        print("B10 skipped: " + why)
        return
    loadgen, _ = bl.build_helpers()
    bl.check_binaries(bl.REXRAY)
    pg = pgscratch.PgScratch(CLEAN.tempdir("rrpgb"))
    pg.start()
    res = {"machine": bl.machine(), "loadavg_start": bl.loadavg(), "args": vars(ARGS)}
    n = ARGS.volumes
    try:
        rows = {"create": ([], []), "get": ([], [])}
        for i in range(ARGS.rounds):
            uri = pg.create_db("b10_%d" % i)
            sides = [("sqlite", None), ("postgres", uri)]
            if i % 2:
                sides.reverse()
            for name, u in sides:
                eng = engine(u)
                c = create(loadgen, eng, n)
                check_get(eng, "b%05d" % (n - 1))
                g = get(loadgen, eng.plugin_sock, 8, n)
                eng.stop()
                k = 0 if name == "sqlite" else 1
                rows["create"][k].append(c)
                rows["get"][k].append(g)
                bl.log("round %d %s: create %.0f/s, get %.0f/s" % (i, name, c, g))
        # two servers on one database vs one, 16 clients in all
        uri = pg.create_db("b10_scale")
        shared = CLEAN.tempdir("rrb10v")
        one, two = engine(uri, shared), engine(uri, shared)
        create(loadgen, one, n)
        for e in (one, two):
            check_get(e, "b%05d" % (n - 1))
        scale = ([], [])

        def both():
            out = [0.0, 0.0]
            ts = [threading.Thread(target=lambda k=k, e=e: out.__setitem__(
                k, get(loadgen, e.plugin_sock, 8, n))) for k, e in enumerate((one, two))]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            return sum(out)

        a, b = bl.alternate(lambda: get(loadgen, one.plugin_sock, 16, n), both, ARGS.rounds)
        scale = (a, b)
        one.stop()
        two.stop()
    finally:
        pg.destroy()
        CLEAN.run()
    out = {}
    for what, (sq, pq) in rows.items():
        ms, mp = bl.median(sq), bl.median(pq)
        out[what] = {"sqlite_rps": ms, "postgres_rps": mp, "ratio": mp / ms,
                     "sqlite_rounds": sq, "postgres_rounds": pq}
        print("%-7s sqlite %8.0f/s  postgres %8.0f/s  postgres/sqlite %.2f"
              % (what, ms, mp, mp / ms))
    m1, m2 = bl.median(scale[0]), bl.median(scale[1])
    out["scale"] = {"one_rps": m1, "two_rps": m2, "ratio": m2 / m1, "one_rounds": scale[0],
                    "two_rounds": scale[1]}
    print("scale   one server %8.0f/s  two servers %8.0f/s  two/one %.2f" % (m1, m2, m2 / m1))
    res.update(out)
    bl.save_result("b10_postgres", res)


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as ex:
        sys.exit("bench: %s" % ex)
