"""Every error path of the CLI's volume operations (issue 24): create,
remove, attach, detach, mount and unmount, on the loop and vfs services;
each
operation runs with its 1st, 2nd, ... call through the system-call seam
(src/util/sys.h) failing, until it makes no more calls than the failing
one; and at every 4th of those points with every call from there on
failing (a lasting fault). After every round: a failed run said what failed on stderr; the
volume's record and its directory or image agree; and the same operation
then succeeds, after which undoing it leaves no volume, file, loop device
or mount behind.

The CLI serves itself here (no service runs), so one process makes every
call of an operation, start-up included. Sampling: every call up to the
40th, then every 3rd, and always the last 10 (a fixed plan, no random)."""

import functools
import glob
import os

import pytest

import prereq

from conftest import LoopHome, loops_under, mounts_under

_MISSING = prereq.missing(root=True, loop=True)
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))

ERRNOS = ("EIO", "ENOSPC", "EBUSY", "EACCES")
NAME = "fv"


class Driver:
    """What 'the volume's storage' means for one service."""

    def __init__(self, h, kind):
        self.h, self.kind = h, kind

    def storage(self):
        """The image files or directories that exist for volumes."""
        if self.kind == "loop":
            return sorted(glob.glob(os.path.join(self.h.lib, "loop", "*.img")))
        return sorted(p for p in glob.glob(os.path.join(self.h.lib, "vfs", "vol", "*"))
                      if not p.endswith(".gone"))

    def leftovers(self):
        if self.kind == "loop":  # ".<id>.img.new", ".<id>.img.gone": hidden names
            return sorted(glob.glob(os.path.join(self.h.lib, "loop", ".*.gone")) +
                          glob.glob(os.path.join(self.h.lib, "loop", ".*.new")) +
                          glob.glob(os.path.join(self.h.lib, "loop", "*.tmp*")))
        return sorted(glob.glob(os.path.join(self.h.lib, "vfs", "vol", "*.gone")) +
                      glob.glob(os.path.join(self.h.lib, "vfs", "vol", "*.new")))


def volumes(h):
    return [v["name"] for v in h.volumes_cli()]


def attached(h):
    return any(v["name"] == NAME and v.get("attachments") for v in h.volumes_cli())


def mounted(h):
    return any(mp.endswith(os.path.join(NAME, "data")) or mp.endswith(os.sep + NAME)
               for mp in mounts_under(h.root))


def cli(h, *args, fault=None):
    env = h.env()
    log = os.path.join(h.root, "fault.log")
    if os.path.exists(log):
        os.unlink(log)
    if fault:
        env["REXRAY_FAULT"] = fault
        env["REXRAY_FAULT_LOG"] = log
    p = h.cli(*args, env=env)
    fired = open(log).read().split() if os.path.exists(log) else None
    return p, fired


def calls_of(h, *args):
    env = h.env()
    count = os.path.join(h.root, "count")
    env["REXRAY_FAULT_COUNT"] = count
    p = h.cli(*args, env=env)
    assert p.returncode == 0, p.stderr
    with open(count) as f:
        return int(f.read())


# operation: (steps that make its precondition, the command, is it done?, undo)
OPS = {
    "create": ((), ("volume", "create", "--size", "1", NAME),
               lambda h: NAME in volumes(h)),
    "remove": ((("volume", "create", "--size", "1", NAME),), ("volume", "rm", NAME),
               lambda h: NAME not in volumes(h)),
    "mount": ((("volume", "create", "--size", "1", NAME),), ("volume", "mount", NAME),
              mounted),
    "unmount": ((("volume", "create", "--size", "1", NAME), ("volume", "mount", NAME)),
                ("volume", "unmount", NAME), lambda h: not mounted(h) and not attached(h)),
    "attach": ((("volume", "create", "--size", "1", NAME),), ("volume", "attach", NAME),
               attached),
    "detach": ((("volume", "create", "--size", "1", NAME), ("volume", "attach", NAME)),
               ("volume", "detach", NAME), lambda h: not attached(h)),
}


def reset(h):
    """No volume, mount or loop device left (what every round ends with)."""
    if mounted(h):
        h.cli("volume", "unmount", NAME)
    if attached(h):
        h.cli("volume", "detach", NAME)
    if NAME in volumes(h):
        p = h.cli("volume", "rm", NAME)
        assert p.returncode == 0, p.stderr


def check_consistent(h, drv):
    names = volumes(h)  # also runs the start-up sweep of a half-done remove
    assert len(drv.storage()) == len(names), (names, drv.storage())
    assert drv.leftovers() == [], drv.leftovers()


def points(total):
    pts = set(range(1, min(total, 40) + 1)) | set(range(41, total + 1, 3))
    pts |= set(range(max(1, total - 9), total + 1))
    return sorted(pts) + [total + 1]


def run_armed(h, cmd, fault, where):
    """cmd run with fault armed: (process, the injections or None). A run
    the fault never reached succeeds; a failed one says what failed on its
    last line (warnings of its undo may come first)."""
    p, fired = cli(h, *cmd, fault=fault)
    if fired is None:
        assert p.returncode == 0, (where, p.stderr)
    elif p.returncode != 0:
        msg = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
        assert msg.startswith("rexray:") and len(msg) > 12, (where, fired, p.stderr)
    return p, fired


def run_loop(h, drv, op):
    pre, cmd, done = OPS[op]
    reset(h)
    for step in pre:
        h.cli_ok(*step)
    total = calls_of(h, *cmd)
    reset(h)
    covered, failed = 0, 0
    # one failure at each point; then, at every 4th, a lasting one (every
    # call from the Nth on fails, as on a disk gone bad)
    plan = [(n, "") for n in points(total)] + [(n, "+") for n in points(total)[::4]]
    for n, sticky in plan:
        for step in pre:
            h.cli_ok(*step)
        p, fired = run_armed(h, cmd, "any:%d%s:%s" % (n, sticky, ERRNOS[n % len(ERRNOS)]),
                             (op, n))
        covered += fired is not None
        failed += p.returncode != 0
        # a failure the command could undo leaves no half-made file, even
        # before the sweep of the next start (a lasting one may: its undo
        # fails too, and the sweep finishes it)
        if p.returncode != 0 and not sticky:
            assert drv.leftovers() == [], (op, n, fired, drv.leftovers(), p.stderr)
        check_consistent(h, drv)
        # a success is the work done, not a promise: no retry may be needed
        assert p.returncode != 0 or done(h), (op, n, fired, "succeeded but not done", p.stderr)
        if not done(h):
            p2, _ = cli(h, *cmd)
            assert p2.returncode == 0, (op, n, fired, p.stderr, p2.stderr)
        assert done(h), (op, n, fired)
        reset(h)
        assert volumes(h) == [] and drv.storage() == [], (op, n, drv.storage())
        assert loops_under(h.root) == {} and mounts_under(h.root) == [], (op, n)
        # a marker stays only when its own removal was the failing call,
        # and then names no live device (the volume's next use drops it)
        for m in glob.glob(os.path.join(h.root, "var", "run", "rexray", "loop", "*")):
            assert fired and "unlink" in fired[0::3], (op, n, fired, m)
            with open(m) as f:
                assert f.read().strip() not in loops_under(h.root), (op, n, m)
    return total, covered, failed


@pytest.mark.parametrize("op", sorted(OPS))
def test_fault_loop_loop(lh, op):
    total, covered, failed = run_loop(lh, Driver(lh, "loop"), op)
    print("\nloop %s: %d calls, %d failure points run, %d gave an error" %
          (op, total, covered, failed))
    assert covered > 10


def test_fault_loop_loop_preallocated(lh):
    """create with loop.preallocate: the image's blocks are allocated whole."""
    lh.env = functools.partial(LoopHome.env, lh, LOOP_PREALLOCATE="true")
    total, covered, failed = run_loop(lh, Driver(lh, "loop"), "create")
    assert covered > 10 and failed > 0


@pytest.mark.parametrize("op", sorted(OPS))
def test_fault_loop_vfs(home, op):
    total, covered, failed = run_loop(home, Driver(home, "vfs"), op)
    print("\nvfs %s: %d calls, %d failure points run, %d gave an error" %
          (op, total, covered, failed))
    assert covered > 10


def test_a_volume_directory_that_cannot_be_synced_stops_the_service(lh):
    """Images are promised once their directory's name is durable: a
    service whose directory cannot be synced does not start, and says so.
    (The store syncs its own directories first, as many as the path is
    deep; the loop service's come next.)"""
    lh.cli_ok("volume", "ls")
    for n in range(1, 40):
        p, fired = cli(lh, "volume", "ls", fault="fsync:%d:EIO" % n)
        if "loop: cannot sync" in p.stderr:
            assert p.returncode == 1, p
            return
        assert p.returncode == 1 and "store: cannot sync" in p.stderr, (n, p.stderr)
    pytest.fail("no fsync of the loop service's directory in its first 40")


def startup_syncs(h):
    """How many fsyncs a command makes before its own work (start-up)."""
    for k in range(1, 80):
        p, fired = cli(h, "volume", "ls", fault="fsync:%d:EIO" % k)
        if p.returncode == 0:
            return k - 1
    pytest.fail("volume ls never got past its start-up syncs")


@pytest.mark.parametrize("fixture,drv", [("lh", "loop"), ("home", "vfs")])
@pytest.mark.parametrize("op", ["create", "remove"])
def test_a_failed_sync_fails_the_operation(request, fixture, drv, op):
    """A sync that fails is never taken for done: the create or remove
    whose own sync fails says so, and changes nothing."""
    lh = request.getfixturevalue(fixture)
    pre, cmd, _ = OPS[op]
    reset(lh)
    skip = startup_syncs(lh)
    reported = 0
    for n in range(skip + 1, skip + 20):
        reset(lh)
        for step in pre:
            lh.cli_ok(*step)
        before = (volumes(lh), Driver(lh, drv).storage())
        p, fired = cli(lh, *cmd, fault="fsync:%d:EIO" % n)
        if fired is None:
            break
        # (a sync after the commit, of a rename the next start would redo,
        # is only a warning)
        if p.returncode != 0 and "%s: cannot sync" % drv in p.stderr.strip().splitlines()[-1]:
            reported += 1
            assert (volumes(lh), Driver(lh, drv).storage()) == before, (n, p.stderr)
    reset(lh)
    assert reported > 0, "no failed sync of the %s driver's own was reported" % drv
