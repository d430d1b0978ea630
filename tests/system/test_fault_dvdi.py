"""Every error path of the DVDI lifecycle (issue 24): `rexray dvdi
prepare`, `cleanup` and `recover` (what the Mesos isolator runs), with
their 1st, 2nd, ... call through the seam (src/util/sys.h) failing: the
checkpoint's database steps, its files, the container paths and binds.
The Docker plugin serves them from a separate service, which no fault
touches. After every round: a failed run said what failed; a failed
prepare left no mount and no checkpoint (the same prepare then works);
a failed cleanup or recover then works when run again; and in the end no
mount or loop device is left.

Sampling as in test_fault_loops: every call up to the 40th, then every
3rd, and always the last 10."""

import pytest

import prereq

from conftest import loops_under, mounts_under
from test_dvdi import dv, envfile  # noqa: F401 - the fixture
from test_fault_loops import calls_of, cli, points, run_armed

_MISSING = prereq.missing(root=True, loop=True)
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))


def nothing_left(h):
    return loops_under(h.root) == {} and mounts_under(h.root) == []


def lifecycle(h):
    """(name: (precondition, armed command, undo)) over two volumes."""
    env = envfile(h, "two.env", DVDI_VOLUME_NAME="fa", DVDI_VOLUME_DRIVER=h.plugin,
                  DVDI_VOLUME_NAME1="fb", DVDI_VOLUME_DRIVER1=h.plugin,
                  DVDI_VOLUME_OPTS1="size=1")
    prepare = ("dvdi", "prepare", "--container-id", "c1", "--env-file", env, "--timeout", "20")
    cleanup = ("dvdi", "cleanup", "--container-id", "c1")
    recover = ("dvdi", "recover", "--running", "")
    return {"prepare": ((), prepare, cleanup),
            "cleanup": ((prepare,), cleanup, cleanup),
            "recover": ((prepare,), recover, recover)}


@pytest.mark.parametrize("op", ["prepare", "cleanup", "recover"])
def test_fault_loop_dvdi(dv, op):  # noqa: F811 - the fixture
    pre, cmd, undo = lifecycle(dv)[op]
    for step in pre:
        dv.cli_ok(*step)
    total = calls_of(dv, *cmd)
    dv.cli_ok(*undo)
    assert nothing_left(dv)
    covered = failed = 0
    for n in points(total):
        for step in pre:
            dv.cli_ok(*step)
        p, fired = run_armed(dv, cmd, "any:%d:%s" % (n, ("EIO", "ENOSPC", "EACCES")[n % 3]),
                             (op, n))
        covered += fired is not None
        if p.returncode != 0:
            failed += 1
            if op == "prepare":
                assert nothing_left(dv), (op, n, fired, mounts_under(dv.root))
            p2, _ = cli(dv, *cmd)  # the same run, unarmed, now works
            assert p2.returncode == 0, (op, n, fired, p.stderr, p2.stderr)
        dv.cli_ok(*undo)
        assert nothing_left(dv), (op, n, fired, mounts_under(dv.root), loops_under(dv.root))
    print("\ndvdi %s: %d calls, %d failure points run, %d gave an error"
          % (op, total, covered, failed))
    assert covered > 10 and failed > 0
