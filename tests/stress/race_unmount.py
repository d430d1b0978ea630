#!/usr/bin/python3
"""Unmount racing List (found by the soak): one thread mounts and unmounts a
vfs volume through the Docker plugin in a loop while three others send
List; every Unmount must succeed. A control phase sends Plugin.Activate
instead of List, to show that the failures come from List.

What the soak saw: now and then `unmount '<...>/volumes/<name>': Device or
resource busy`. List looks at every volume's mount point (statx) without
the volume's lock; a path walk into a mount holds a reference on it for a
moment, and a plain umount2() at that moment fails with EBUSY.

It is rare (about 1 Unmount in 14,000 here), so the List phase runs
RACE_SECONDS (default 120: ~35,000 cycles, caught 9 times in 10); the control
phase runs at most 30 s. The soak, with ~490,000 Unmounts, catches it
reliably. Environment: RACE_SECONDS, REXRAY_BIN. Exit status 0 when no
Unmount failed.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import soak  # noqa: E402 - the engine and client of the soak

SECONDS = float(os.environ.get("RACE_SECONDS", "120"))


def phase(eng, other, seconds):
    stop = threading.Event()
    cycles = [0]
    calls = [0]
    failures = []

    def mounter():
        c = soak.Conn(eng.plugin)
        c.post("VolumeDriver.Create", {"Name": "racev"})
        while not stop.is_set():
            st, r = c.post("VolumeDriver.Mount", {"Name": "racev", "ID": "r1"})
            if st != 200:
                failures.append(("Mount", r))
                continue
            st, r = c.post("VolumeDriver.Unmount", {"Name": "racev", "ID": "r1"})
            cycles[0] += 1
            if st != 200:
                failures.append(("Unmount", r))
                # the use is still counted: take it back for the next round
                for _ in range(100):
                    st, _r = c.post("VolumeDriver.Unmount", {"Name": "racev", "ID": "r1"})
                    if st == 200:
                        break
                    time.sleep(0.01)
        c.close()

    def caller():
        c = soak.Conn(eng.plugin)
        while not stop.is_set():
            if other == "List":
                c.post("VolumeDriver.List", {})
            else:
                c.post("Plugin.Activate", None)
            calls[0] += 1
        c.close()

    threads = [threading.Thread(target=mounter)] + [threading.Thread(target=caller)
                                                    for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(60)
    return cycles[0], calls[0], failures


def main():
    eng = soak.Engine()
    ok = False
    try:
        eng.start()
        results = {}
        for other in ("List", "Activate"):
            cycles, calls, failures = phase(eng, other,
                                            SECONDS if other == "List" else min(SECONDS, 30))
            results[other] = failures
            print("race: %-8s %6d mount/unmount cycles next to %8d %s calls: %d failed%s"
                  % (other, cycles, calls, other, len(failures),
                     (": %s %s" % failures[0]) if failures else ""), flush=True)
        ok = not any(results.values())
        print("race: %s" % ("PASS" if ok else "FAIL"), flush=True)
    finally:
        eng.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
