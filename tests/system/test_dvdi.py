"""`rexray dvdi prepare|cleanup|recover|run`: the DVDI contract of
mesos-module-dvdi against our own plugin (issue 5)."""

import os
import signal
import subprocess
import time
import uuid

import pytest

import prereq

from conftest import REXRAY, LoopHome, fstype_of, loops_under, mounts_under

_MISSING = prereq.missing(root=True, loop=True)
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))


@pytest.fixture
def dv(lh):
    """An engine whose Docker plugin is /run/docker/plugins/<unique>.sock."""
    lh.plugin = "rrv" + uuid.uuid4().hex[:8]
    lh.write_config("rexray:\n  modules:\n    default-docker:\n"
                    "      host: unix:///run/docker/plugins/%s.sock\n" % lh.plugin)
    lh.start_service()
    return lh


def envfile(h, name, **vars):
    path = os.path.join(h.root, name)
    with open(path, "w") as f:
        for k, v in vars.items():
            f.write("%s=%s\n" % (k, v))
    return path


def prepare(h, cid, path, *extra, ok=True):
    p = h.cli("dvdi", "prepare", "--container-id", cid, "--env-file", path, "--timeout", "20",
              *extra)
    if ok:
        assert p.returncode == 0, (p.stdout, p.stderr)
    return p


def mountpoints(p):
    return dict(line.split("=", 1) for line in p.stdout.splitlines() if "=" in line)


def test_seed_example_prepare_and_cleanup(dv):
    f = envfile(dv, "task.env", DVDI_VOLUME_NAME="test12345", DVDI_VOLUME_DRIVER=dv.plugin,
                DVDI_VOLUME_OPTS="size=1,iops=150,volumetype=io1,newfstype=xfs,overwritefs=true")
    out = mountpoints(prepare(dv, "task1", f))
    mp = out["DVDI_VOLUME_MOUNTPOINT"]
    assert mp == os.path.join(dv.lib, "volumes", "test12345", "data")
    assert fstype_of(os.path.dirname(mp)) == "xfs"
    vol = [v for v in dv.volumes_cli() if v["name"] == "test12345"][0]
    assert vol["size"] == 1 and vol["type"] == "io1" and vol["iops"] == 150, vol
    with open(os.path.join(mp, "hello"), "w") as fh:
        fh.write("x")
    dv.cli_ok("dvdi", "cleanup", "--container-id", "task1")
    assert loops_under(dv.root) == {} and mounts_under(dv.root) == []
    # a second cleanup of an unknown container is fine
    dv.cli_ok("dvdi", "cleanup", "--container-id", "task1")


def test_refcount_across_containers(dv):
    f = envfile(dv, "t.env", DVDI_VOLUME_NAME="shared", DVDI_VOLUME_DRIVER=dv.plugin)
    a = mountpoints(prepare(dv, "c1", f))["DVDI_VOLUME_MOUNTPOINT"]
    b = mountpoints(prepare(dv, "c2", f))["DVDI_VOLUME_MOUNTPOINT"]
    assert a == b
    dv.cli_ok("dvdi", "cleanup", "--container-id", "c1")
    assert os.path.ismount(os.path.dirname(a)), "c2 still uses it"
    dv.cli_ok("dvdi", "cleanup", "--container-id", "c2")
    assert loops_under(dv.root) == {} and mounts_under(dv.root) == []


def test_numbered_slots_and_default_driver(dv):
    # the default driver is "rexray"; point slot 0 at ours, leave slot 3 default
    f = envfile(dv, "n.env", DVDI_VOLUME_NAME="s0", DVDI_VOLUME_DRIVER=dv.plugin,
                DVDI_VOLUME_NAME1="s1", DVDI_VOLUME_DRIVER1=dv.plugin,
                DVDI_VOLUME_NAME9="s9", DVDI_VOLUME_DRIVER9=dv.plugin,
                DVDI_VOLUME_OPTS9="size=2")
    out = mountpoints(prepare(dv, "multi", f))
    assert set(out) == {"DVDI_VOLUME_MOUNTPOINT", "DVDI_VOLUME_MOUNTPOINT1",
                        "DVDI_VOLUME_MOUNTPOINT9"}, out
    sizes = {v["name"]: v["size"] for v in dv.volumes_cli()}
    assert sizes["s9"] == 2 and sizes["s0"] == 1
    assert len(loops_under(dv.root)) == 3
    dv.cli_ok("dvdi", "cleanup", "--container-id", "multi")
    assert loops_under(dv.root) == {}


@pytest.mark.parametrize("var,val,needle", [
    ("DVDI_VOLUME_NAMEX", "v", "illegal"), ("DVDI_VOLUME_NAME10", "v", "illegal"),
    ("DVDI_VOLUME_NAME", "a;b", "forbidden"), ("DVDI_VOLUME_NAME", "$(id)", "forbidden"),
    ("DVDI_VOLUME_OPTS", "size=1|reboot", "forbidden"),
    ("DVDI_VOLUME_DRIVER", "../x", "forbidden"),
    ("DVDI_VOLUME_CONTAINERPATH", "relative/path", "must start with /"),
])
def test_bad_environment_mounts_nothing(dv, var, val, needle):
    env = {"DVDI_VOLUME_NAME": "okvol", "DVDI_VOLUME_DRIVER": dv.plugin}
    env[var] = val
    p = prepare(dv, "bad1", envfile(dv, "bad.env", **env), ok=False)
    assert p.returncode == 1 and needle in p.stderr, p.stderr
    assert loops_under(dv.root) == {} and dv.volumes_cli() == []


def test_failure_rolls_back_every_mount(dv):
    f = envfile(dv, "rb.env",
                DVDI_VOLUME_NAME="first", DVDI_VOLUME_DRIVER=dv.plugin,
                DVDI_VOLUME_NAME1="second", DVDI_VOLUME_DRIVER1=dv.plugin,
                DVDI_VOLUME_NAME2="missing", DVDI_VOLUME_DRIVER2=dv.plugin,
                DVDI_VOLUME_EXPLICITCREATE2="true")
    p = prepare(dv, "rb", f, ok=False)
    assert p.returncode == 1 and "missing" in p.stderr, p.stderr
    assert loops_under(dv.root) == {} and mounts_under(dv.root) == [], \
        "both earlier mounts are undone (the original undid one)"
    # nothing was checkpointed: the same container can be prepared again
    f2 = envfile(dv, "ok.env", DVDI_VOLUME_NAME="first", DVDI_VOLUME_DRIVER=dv.plugin)
    prepare(dv, "rb", f2)
    dv.cli_ok("dvdi", "cleanup", "--container-id", "rb")


def test_explicit_create_of_an_existing_volume(dv):
    dv.cli_ok("volume", "create", "exists1")
    path = dv.cli_ok("volume", "mount", "exists1").stdout.strip()
    with open(os.path.join(path, "before"), "w") as f:
        f.write("kept")
    dv.cli_ok("volume", "unmount", "exists1")
    f = envfile(dv, "ex.env", DVDI_VOLUME_NAME="exists1", DVDI_VOLUME_DRIVER=dv.plugin,
                DVDI_VOLUME_EXPLICITCREATE="True")
    mp = mountpoints(prepare(dv, "ex", f))["DVDI_VOLUME_MOUNTPOINT"]
    # the existing volume, mounted, its data intact: not a new one
    assert mp == path, (mp, path)
    with open(os.path.join(mp, "before")) as f:
        assert f.read() == "kept"
    assert [v["name"] for v in dv.volumes_cli()] == ["exists1"]
    dv.cli_ok("dvdi", "cleanup", "--container-id", "ex")
    assert mounts_under(dv.root) == []


def test_prepare_twice_is_refused(dv):
    f = envfile(dv, "tw.env", DVDI_VOLUME_NAME="twice", DVDI_VOLUME_DRIVER=dv.plugin)
    prepare(dv, "tw", f)
    p = prepare(dv, "tw", f, ok=False)
    assert p.returncode == 1 and "already been prepared" in p.stderr, p.stderr
    dv.cli_ok("dvdi", "cleanup", "--container-id", "tw")
    assert loops_under(dv.root) == {}


def test_recover_unmounts_orphans_only(dv):
    prepare(dv, "alive", envfile(dv, "a.env", DVDI_VOLUME_NAME="keepme",
                                 DVDI_VOLUME_DRIVER=dv.plugin))
    prepare(dv, "dead", envfile(dv, "d.env", DVDI_VOLUME_NAME="orphan",
                                DVDI_VOLUME_DRIVER=dv.plugin))
    p = dv.cli_ok("dvdi", "recover", "--running", "alive,other")
    assert "1 orphaned" in p.stdout, p.stdout
    mounted = " ".join(mounts_under(dv.root))
    assert "keepme" in mounted and "orphan" not in mounted, mounted
    dv.cli_ok("dvdi", "recover", "--running", "")
    assert loops_under(dv.root) == {} and mounts_under(dv.root) == []


def test_prepare_with_bind(dv):
    cp = os.path.join("/tmp", "rrcp" + uuid.uuid4().hex[:8])
    try:
        f = envfile(dv, "b.env", DVDI_VOLUME_NAME="bound", DVDI_VOLUME_DRIVER=dv.plugin,
                    DVDI_VOLUME_CONTAINERPATH=cp)
        out = mountpoints(prepare(dv, "b1", f))
        assert out["DVDI_VOLUME_BIND"] == "mount -n --rbind %s %s" % (
            out["DVDI_VOLUME_MOUNTPOINT"], cp)
        dv.cli_ok("dvdi", "cleanup", "--container-id", "b1")
        out = mountpoints(prepare(dv, "b2", f, "--bind"))
        assert os.path.ismount(cp)
        with open(os.path.join(cp, "x"), "w") as fh:
            fh.write("through the bind")
        with open(os.path.join(out["DVDI_VOLUME_MOUNTPOINT"], "x")) as fh:
            assert fh.read() == "through the bind"
        dv.cli_ok("dvdi", "cleanup", "--container-id", "b2")
        assert not os.path.ismount(cp) and loops_under(dv.root) == {}
    finally:
        subprocess.run(["umount", "-l", cp], stderr=subprocess.DEVNULL, check=False)
        subprocess.run(["rm", "-rf", cp], check=False)


@pytest.mark.skipif(prereq.missing(real_root=True) is not None,
                    reason=str(prereq.missing(real_root=True)))
def test_run_wraps_a_command(dv):
    cp = os.path.join("/tmp", "rrcp" + uuid.uuid4().hex[:8])
    try:
        f = envfile(dv, "r.env", DVDI_VOLUME_NAME="runvol", DVDI_VOLUME_DRIVER=dv.plugin,
                    DVDI_VOLUME_CONTAINERPATH=cp)
        p = dv.cli("dvdi", "run", "--env-file", f, "--", "sh", "-c",
                   'echo hi > "$DVDI_VOLUME_MOUNTPOINT/f"; cat %s/f; exit 7' % cp)
        assert p.returncode == 7 and p.stdout == "hi\n", (p.returncode, p.stdout, p.stderr)
        assert not os.path.ismount(cp), "the bind lived in the task's namespace only"
        assert loops_under(dv.root) == {} and mounts_under(dv.root) == []
    finally:
        subprocess.run(["rm", "-rf", cp], check=False)


def test_run_cleans_up_on_sigterm(dv):
    f = envfile(dv, "s.env", DVDI_VOLUME_NAME="sigvol", DVDI_VOLUME_DRIVER=dv.plugin)
    proc = subprocess.Popen([REXRAY, "dvdi", "run", "--container-id", "sig1", "--env-file", f,
                             "--", "sleep", "60"], env=dv.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 15
        while time.time() < deadline and not loops_under(dv.root):
            time.sleep(0.1)
        assert loops_under(dv.root), "mounted while the command runs"
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
        assert rc == 128 + signal.SIGTERM, (rc, proc.stderr.read())
        assert loops_under(dv.root) == {} and mounts_under(dv.root) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
