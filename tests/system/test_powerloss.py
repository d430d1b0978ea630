"""Power loss (issue 12): the engine's state directory (<lib>: the SQLite
database, the loop images, the mount points) lives on plfs, a FUSE
filesystem that keeps every write not yet made durable in an undo log and
rolls it back on command (tests/powerloss/). Rounds of Docker plugin calls
(Create, Mount, Unmount, Remove) run against the engine; at a random moment
the machine "loses power": the engine is killed, every mount and loop
device goes (as at a reboot), and plfs drops what was not synced. The
volumes' own filesystems are unmounted before the drop, so their images
are flushed: what is tested is the engine's state (the database, the image
names), not ext4's journal. After a restart, nothing acknowledged is lost
and nothing leaks:

  - every volume whose Create was answered and whose Remove was not is
    there, with its image; every answered Remove is gone;
  - no side files, no loop devices, no mounts, no use counted (the mounts
    those uses counted died with the machine);
  - each volume then mounts with its data and its one unmount really
    unmounts.

POWERLOSS_ROUNDS sets the number of simulated losses (default 6).
"""

import glob
import os
import random
import subprocess
import tempfile
import time

import pytest

import prereq

from conftest import REPO, LoopHome, loops_under, mounts_under, release_home
from test_crash import Engine, plugin

ROUNDS = int(os.environ.get("POWERLOSS_ROUNDS", "6"))
PLFS = os.path.join(REPO, "build", "powerloss", "plfs")
BUILD_SH = os.path.join(REPO, "tests", "powerloss", "build.sh")

_MISSING = prereq.missing(root=True, loop=True, files=("/dev/fuse",))
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))


def build_plfs():
    """make test builds it; a lone pytest run builds it here."""
    src = os.path.join(REPO, "tests", "powerloss", "plfs.c")
    if os.access(PLFS, os.X_OK) and os.path.getmtime(PLFS) >= os.path.getmtime(src):
        return
    p = subprocess.run(["sh", BUILD_SH, PLFS], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=600)
    assert p.returncode == 0 and os.access(PLFS, os.X_OK), p.stdout


class Plfs:
    """plfs BACKING MOUNT, started and stopped by its PID."""

    def __init__(self, backing, mount):
        self.backing, self.mount = backing, mount
        os.makedirs(backing, exist_ok=True)
        os.makedirs(mount, exist_ok=True)
        self.log = open(mount.rstrip("/") + ".plfs.log", "wb")
        self.proc = subprocess.Popen([PLFS, backing, mount], stdout=self.log,
                                     stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not os.path.ismount(mount):
            assert self.proc.poll() is None, "plfs exited at start"
            assert time.time() < deadline, "plfs did not mount"
            time.sleep(0.02)

    def ctl(self, word):
        with open(os.path.join(self.mount, ".plfs-ctl"), "w") as f:
            f.write(word)
        with open(os.path.join(self.mount, ".plfs-ctl")) as f:
            return f.read()

    def stop(self):
        subprocess.run(["umount", "-l", self.mount], stderr=subprocess.DEVNULL, check=False)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def pl():
    build_plfs()
    root = tempfile.mkdtemp(prefix="rrpl")
    lh = LoopHome(os.path.join(root, "home"))
    fs = Plfs(os.path.join(root, "backing"), lh.lib)
    try:
        yield lh, fs
    finally:
        # the home's mounts and loop devices first, plfs (under them) last
        for mp in mounts_under(lh.root):
            if mp != lh.lib:
                subprocess.run(["umount", "-l", mp], check=False)
        for dev in loops_under(lh.root):
            subprocess.run(["losetup", "-d", dev], check=False)
        fs.stop()
        release_home(lh, root=root)


def reboot(lh, eng, fs):
    """What a power loss does to the machine: every process, mount and loop
    device of the engine gone; then plfs forgets what was never synced."""
    eng.kill()
    for mp in mounts_under(lh.root):
        if mp != lh.lib:
            assert subprocess.run(["umount", mp]).returncode == 0, mp
    for dev in loops_under(lh.root):
        assert subprocess.run(["losetup", "-d", dev]).returncode == 0, dev
    deadline = time.time() + 5
    while loops_under(lh.root) and time.time() < deadline:
        time.sleep(0.05)
    return fs.ctl("drop")


def test_power_loss_keeps_what_was_acknowledged(pl):
    lh, fs = pl
    rnd = random.Random(os.getpid())
    eng = Engine(lh)
    alive, removed, mounted = set(), set(), {}   # acknowledged: names, names, uses
    drops = []
    try:
        eng.start()
        for rnd_i in range(ROUNDS):
            deadline = time.time() + rnd.uniform(0.3, 1.5)
            in_flight = None
            while time.time() < deadline:
                name = "pl%d" % rnd.randint(0, 5)
                op = rnd.choice(["Create", "Mount", "Mount", "Unmount", "Remove"])
                if op == "Unmount" and not mounted.get(name):
                    continue
                if op == "Remove" and (mounted.get(name) or name not in alive):
                    continue
                body = {"Name": name}
                if op in ("Mount", "Unmount"):
                    body["ID"] = "c1"
                if op == "Create":
                    body["Opts"] = {"size": "1"}
                in_flight = (op, name)
                st, r = plugin(eng.sock, op, body, timeout=60)
                assert st == 200 and not r.get("Err"), (op, name, r, eng.logs())
                in_flight = None
                if op in ("Create", "Mount"):
                    alive.add(name)
                    removed.discard(name)
                if op == "Mount":
                    mounted[name] = mounted.get(name, 0) + 1
                    with open(os.path.join(r["Mountpoint"], "f"), "w") as f:
                        f.write(name)  # not synced: may go, the volume may not
                elif op == "Unmount":
                    mounted[name] -= 1
                elif op == "Remove":
                    alive.discard(name)
                    removed.add(name)
            assert in_flight is None
            drops.append(reboot(lh, eng, fs))
            mounted = {}
            eng.start()
            check_after_loss(lh, eng, alive, removed)
    finally:
        eng.kill()
    print("power-loss rounds: %d; plfs said: %s" % (ROUNDS, drops[-1].strip() if drops else ""))


def check_after_loss(lh, eng, alive, removed):
    deadline = time.time() + 10
    while True:
        vols = {v["name"]: v for v in lh.volumes_cli()}
        loopdir = os.path.join(lh.lib, "loop")
        side = glob.glob(os.path.join(loopdir, ".*"))
        images = {os.path.basename(p)[:-4] for p in glob.glob(os.path.join(loopdir, "*.img"))}
        if not side or time.time() > deadline:
            break
        time.sleep(0.1)
    assert alive <= set(vols), ("acknowledged volumes lost", alive - set(vols))
    assert not (removed & set(vols)), ("acknowledged removes undone", removed & set(vols))
    assert images == {v["id"] for v in vols.values()}, (images, vols, eng.logs())
    assert side == [], side
    assert loops_under(lh.root) == {}
    assert [m for m in mounts_under(lh.root) if m != lh.lib] == []
    assert all(v["attachmentState"] != 4 for v in vols.values()), vols
    # every volume mounts again, and its one unmount really unmounts: no
    # use count survived the machine's mounts
    for name in sorted(vols):
        st, r = plugin(eng.sock, "Mount", {"Name": name, "ID": "after"})
        assert st == 200 and not r.get("Err"), (name, r, eng.logs())
        st, r = plugin(eng.sock, "Unmount", {"Name": name, "ID": "after"})
        assert st == 200 and not r.get("Err"), (name, r)
        assert loops_under(lh.root) == {}, (name, eng.logs())
        assert [m for m in mounts_under(lh.root) if m != lh.lib] == [], name
