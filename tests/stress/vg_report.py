#!/usr/bin/python3
"""Summarise the memcheck logs (vg-<pid>.log) of the valgrind pass.

usage: vg_report.py LOG_DIR [--json FILE]

For each process: its command, ERROR SUMMARY, the LEAK SUMMARY (definitely,
indirectly, possibly lost, still reachable), a fatal signal if any. A log
without an ERROR SUMMARY is a process that did not finish under valgrind
(SIGKILLed by a test, or a fork that exec'd another program): counted
apart, it says nothing about leaks.

Exit status 1 when any process has memcheck errors or definitely or
indirectly lost bytes, or died of a signal other than SIGTERM/SIGINT/SIGKILL;
the distinct error and leak records (by their top frames) are printed.
"""

import collections
import glob
import json
import os
import re
import sys

PID_RE = re.compile(r"^==(\d+)== ?(.*)$")
ERR_SUMMARY_RE = re.compile(r"ERROR SUMMARY: ([\d,]+) errors? from ([\d,]+) contexts?")
LEAK_RE = re.compile(r"(definitely lost|indirectly lost|possibly lost|still reachable|"
                     r"suppressed): ([\d,]+) bytes in ([\d,]+) blocks")
SIGNAL_RE = re.compile(r"Process terminating with default action of signal (\d+) \((\w+)\)")
FRAME_RE = re.compile(r"^\s+(?:at|by) 0x[0-9A-Fa-f]+: (.*)$")
HARMLESS_SIGNALS = {"SIGTERM", "SIGINT", "SIGKILL"}


def num(s):
    return int(s.replace(",", ""))


def parse(path):
    info = {"log": os.path.basename(path), "command": "", "errors": None, "contexts": None,
            "leaks": {}, "signal": None, "records": []}
    block = []

    def flush():
        if not block:
            return
        head = block[0]
        if head.startswith("Warning: "):
            block.clear()
            return
        frames = [FRAME_RE.match(b).group(1) for b in block[1:] if FRAME_RE.match(b)]
        kind = None
        if "are definitely lost" in head or "are indirectly lost" in head:
            kind = "leak"
        elif "are possibly lost" in head:
            kind = "possible-leak"
        elif frames and not head.startswith(("HEAP SUMMARY", "LEAK SUMMARY", "Memcheck",
                                             "Copyright", "Using Valgrind", "Command",
                                             "Process terminating", "in use at exit",
                                             "total heap usage")) \
                and "still reachable" not in head:
            kind = "error"
        if kind:
            info["records"].append({"kind": kind, "what": head, "frames": frames[:12]})
        block.clear()

    with open(path, errors="replace") as f:
        for line in f:
            m = PID_RE.match(line.rstrip("\n"))
            if not m:
                continue
            text = m.group(2)
            if text.startswith("Command: "):
                info["command"] = text[len("Command: "):]
            if not text.strip():
                flush()
                continue
            if text.startswith("Warning: ") or (block and block[0].startswith("Warning: ")):
                block.append(text)  # valgrind's own notes (unhandled ioctl ...): no record
                continue
            if re.match(r"^Thread \d+( [^:]*)?:$", text) and not block:
                continue  # "Thread 7 MHD-connection:" names the thread of the next record
            block.append(text)
            em = ERR_SUMMARY_RE.search(text)
            if em:
                info["errors"], info["contexts"] = num(em.group(1)), num(em.group(2))
            lm = LEAK_RE.search(text)
            if lm and text.lstrip().startswith(lm.group(1)):
                info["leaks"][lm.group(1)] = (num(lm.group(2)), num(lm.group(3)))
            sm = SIGNAL_RE.search(text)
            if sm:
                info["signal"] = sm.group(2)
    flush()
    return info


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    logdir = sys.argv[1]
    logs = sorted(glob.glob(os.path.join(logdir, "vg-*.log")))
    procs = [parse(p) for p in logs]
    finished = [p for p in procs if p["errors"] is not None]
    unfinished = [p for p in procs if p["errors"] is None]
    tot = collections.Counter()
    for p in finished:
        tot["errors"] += p["errors"]
        for k, (b, n) in p["leaks"].items():
            tot[k + " bytes"] += b
            tot[k + " blocks"] += n
    bad_signal = [p for p in procs if p["signal"] and p["signal"] not in HARMLESS_SIGNALS]
    distinct = collections.OrderedDict()
    for p in procs:
        for r in p["records"]:
            if r["kind"] == "possible-leak":
                key = ("possible-leak", tuple(r["frames"][:6]))
            else:
                key = (r["kind"], tuple(r["frames"][:6]))
            d = distinct.setdefault(key, {"kind": r["kind"], "what": r["what"],
                                          "frames": r["frames"], "count": 0, "logs": []})
            d["count"] += 1
            if len(d["logs"]) < 3:
                d["logs"].append(p["log"])
    summary = {
        "processes": len(procs),
        "finished": len(finished),
        "unfinished": len(unfinished),
        "errors": tot["errors"],
        "definitely_lost_bytes": tot["definitely lost bytes"],
        "definitely_lost_blocks": tot["definitely lost blocks"],
        "indirectly_lost_bytes": tot["indirectly lost bytes"],
        "possibly_lost_bytes": tot["possibly lost bytes"],
        "possibly_lost_blocks": tot["possibly lost blocks"],
        "still_reachable_bytes": tot["still reachable bytes"],
        "fatal_signals": [(p["log"], p["signal"]) for p in bad_signal],
        "distinct_records": [dict(v, frames=v["frames"][:8]) for v in distinct.values()],
    }
    print("valgrind: %d processes under memcheck (%d finished, %d did not finish: "
          "SIGKILLed or exec'd)" % (summary["processes"], summary["finished"],
                                    summary["unfinished"]))
    print("valgrind: ERROR SUMMARY total %d errors" % summary["errors"])
    print("valgrind: definitely lost %d bytes in %d blocks; indirectly lost %d bytes; "
          "possibly lost %d bytes in %d blocks; still reachable %d bytes"
          % (summary["definitely_lost_bytes"], summary["definitely_lost_blocks"],
             summary["indirectly_lost_bytes"], summary["possibly_lost_bytes"],
             summary["possibly_lost_blocks"], summary["still_reachable_bytes"]))
    for log, sig in summary["fatal_signals"]:
        print("valgrind: %s died of %s" % (log, sig))
    for d in summary["distinct_records"]:
        print("---- %s x%d (%s): %s" % (d["kind"], d["count"], ", ".join(d["logs"]), d["what"]))
        for fr in d["frames"][:10]:
            print("       %s" % fr)
    if len(sys.argv) > 3 and sys.argv[2] == "--json":
        with open(sys.argv[3], "w") as f:
            json.dump(summary, f, indent=2)
    bad = (summary["errors"] or summary["definitely_lost_bytes"] or
           summary["indirectly_lost_bytes"] or summary["fatal_signals"])
    if not procs:
        print("valgrind: no logs in %s" % logdir)
        return 1
    print("valgrind: %s" % ("FAIL" if bad else "PASS (0 errors, 0 bytes definitely or "
                                                "indirectly lost)"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
