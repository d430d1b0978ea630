"""No data loss through ordinary use (issue 12): each path that lost a
user's file before, with real loop devices, mounts and a running engine.

  - a detach of a mounted volume (CLI, REST, forced) is refused, and the
    fencing loop never unmounts a volume this host still uses;
  - two services never share a mount point; unmount checks what it unmounts;
  - destructive commands take exact names only;
  - `dvdi run` turns SIGTERM at any moment into exit 143 and a clean host.
"""

import json
import os
import random
import signal
import subprocess
import time
import uuid

import pytest

import prereq

from conftest import REXRAY, iid_header, loops_under, mounts_under

_MISSING = prereq.missing(root=True, loop=True)
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))

TWO_SERVICES = """
libstorage:
  server:
    services:
      loop:
        driver: loop
      vfs:
        driver: vfs
"""


def state(lh, name, svc=None):
    pre = ("-s", svc) if svc else ()
    vols = [v for v in lh.volumes_cli(pre=pre) if v["name"] == name]
    assert len(vols) == 1, vols
    return vols[0]["attachmentState"]


# ---- 1. detach of a mounted volume ----------------------------------------

def test_detach_of_a_mounted_volume_is_refused_and_fencing_keeps_it(lh):
    lh.write_config("libstorage:\n  client:\n    lease: 1s\n")
    svc = lh.start_service()
    path = lh.mount("busy1")
    user = open(os.path.join(path, "log"), "w")  # a shell, a task: a user of the volume
    try:
        user.write("first\n")
        user.flush()
        p = lh.cli("volume", "detach", "busy1")
        assert p.returncode == 1, p
        assert path in p.stderr and "unmount it first" in p.stderr, p.stderr
        # forced: unmount first, and a busy mount is refused, never lazily unmounted
        p = lh.cli("volume", "detach", "--force", "busy1")
        assert p.returncode == 1 and "busy" in p.stderr.lower(), p.stderr
        # the REST API refuses too, forced or not, whoever asks
        vid = lh.volume("busy1")["id"]
        for q in ("detach", "detach&force"):
            r = svc.api.post("/volumes/loop/%s?%s" % (vid, q), {},
                             iid=iid_header("anyhost", driver="loop", service="loop"))
            assert r.status >= 400 and b"unmount it first" in r.body, r
        # two leases later the fencing loop has left it alone
        time.sleep(2.5)
        assert os.path.ismount(os.path.dirname(path))
        user.write("second\n")
        user.flush()
        os.fsync(user.fileno())
        assert state(lh, "busy1") == 2
        for args in (("volume", "rm", "busy1"), ("volume", "rm", "--force", "busy1")):
            p = lh.cli(*args)
            assert p.returncode == 1, p
            assert "force" not in p.stderr.split(";")[-1], "no hint at a destructive command"
        assert "fence" not in svc.logs() or "unmounting" not in svc.logs(), svc.logs()
    finally:
        user.close()
    with open(os.path.join(path, "log")) as f:
        assert f.read() == "first\nsecond\n"
    # with no user left, a forced detach unmounts it properly first
    p = lh.cli_ok("volume", "detach", "--force", "busy1")
    assert mounts_under(lh.root) == [] and loops_under(lh.root) == {}
    assert state(lh, "busy1") == 3
    path = lh.mount("busy1")
    with open(os.path.join(path, "log")) as f:
        assert f.read() == "first\nsecond\n", "the data survived the forced detach"
    lh.unmount("busy1")
    lh.cli_ok("volume", "rm", "busy1")


def test_detach_of_an_attached_unmounted_volume_works(lh):
    lh.cli_ok("volume", "create", "--size", "1", "att1")
    lh.cli_ok("volume", "attach", "att1")
    assert state(lh, "att1") == 2
    lh.cli_ok("volume", "detach", "att1")
    assert state(lh, "att1") == 3
    assert loops_under(lh.root) == {}


# ---- 2. two services, one name ----------------------------------------------

def test_two_services_never_share_a_mount_point(lh):
    lh.write_config(TWO_SERVICES)
    loop_path = lh.cli_ok("-s", "loop", "volume", "mount", "ghost").stdout.strip()
    vfs_path = lh.cli_ok("-s", "vfs", "volume", "mount", "ghost").stdout.strip()
    assert loop_path == os.path.join(lh.volumes_dir, "ghost", "data")
    assert vfs_path == os.path.join(lh.volumes_dir, "@vfs", "ghost", "data"), vfs_path
    with open(os.path.join(loop_path, "who"), "w") as f:
        f.write("loop")
    with open(os.path.join(vfs_path, "who"), "w") as f:
        f.write("vfs")
    lh.cli_ok("-s", "vfs", "volume", "unmount", "ghost")
    assert os.path.ismount(os.path.dirname(loop_path)), "vfs's unmount took the loop volume"
    assert not os.path.ismount(os.path.dirname(vfs_path))
    assert state(lh, "ghost", "loop") == 2
    with open(os.path.join(loop_path, "who")) as f:
        assert f.read() == "loop"
    # the configuration changes and vfs becomes primary: its mount point
    # would be the loop volume's; refused, and its unmount leaves it alone
    lh.write_config(TWO_SERVICES.replace("      loop:\n        driver: loop\n", "")
                    + "      loop:\n        driver: loop\n")
    p = lh.cli("-s", "vfs", "volume", "mount", "ghost")
    assert p.returncode == 1 and "another filesystem is mounted there" in p.stderr, p.stderr
    lh.cli_ok("-s", "vfs", "volume", "unmount", "ghost")
    assert os.path.ismount(os.path.dirname(loop_path))
    out = lh.cli_ok("-s", "loop", "volume", "ls", "--path", "-f", "json").stdout
    assert [v["path"] for v in json.loads(out) if v["name"] == "ghost"] == [loop_path]
    lh.cli_ok("-s", "loop", "volume", "unmount", "ghost")
    assert mounts_under(lh.root) == [] and loops_under(lh.root) == {}


# ---- 3. exact names for destructive commands -------------------------------

@pytest.mark.parametrize("cmd", [("volume", "rm"), ("volume", "rm", "--force"),
                                 ("volume", "detach")])
def test_destructive_commands_take_exact_names(lh, cmd):
    lh.cli_ok("volume", "create", "--size", "1", "scratchvolume")
    lh.cli_ok("volume", "attach", "scratchvolume")
    p = lh.cli(*cmd, "scr")
    assert p.returncode == 1, p
    assert "scratchvolume" in p.stderr and "exact" in p.stderr, p.stderr
    p = lh.cli(*cmd, "SCRATCHVOLUME")
    assert p.returncode == 1 and "scratchvolume" in p.stderr, p.stderr
    assert state(lh, "scratchvolume") == 2, "nothing was done"
    # read-only commands keep REX-Ray's prefix matching
    vols = json.loads(lh.cli_ok("volume", "ls", "-f", "json", "scr").stdout)
    assert [v["name"] for v in vols] == ["scratchvolume"]
    lh.cli_ok("volume", "detach", "scratchvolume")
    lh.cli_ok("volume", "rm", "scratchvolume")
    assert lh.volumes_cli() == []


# ---- 4. dvdi run and SIGTERM at any moment ---------------------------------

def test_dvdi_run_sigterm_at_random_moments(lh):
    rounds = int(os.environ.get("DVDI_SIGTERM_ROUNDS", "50"))
    plugin = "rrs" + uuid.uuid4().hex[:8]
    lh.write_config("rexray:\n  modules:\n    default-docker:\n"
                    "      host: unix:///run/docker/plugins/%s.sock\n" % plugin)
    lh.start_service()
    env_file = os.path.join(lh.root, "sig.env")
    with open(env_file, "w") as f:
        f.write("DVDI_VOLUME_NAME=sigvol\nDVDI_VOLUME_DRIVER=%s\n" % plugin)
    rng = random.Random(12)
    for i in range(rounds):
        proc = subprocess.Popen([REXRAY, "dvdi", "run", "--container-id", "sig%d" % i,
                                 "--env-file", env_file, "--", "sleep", "60"],
                                env=lh.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # from 5 ms on: before its first instruction (exec, the dynamic
            # loader) no program can handle a signal; nothing is mounted then
            time.sleep(rng.uniform(0.005, 0.3))
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=60)
            err = proc.stderr.read().decode()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert rc == 128 + signal.SIGTERM, (i, rc, err)
        assert loops_under(lh.root) == {} and mounts_under(lh.root) == [], i
    # the host is clean and nothing is counted
    p = lh.cli_ok("dvdi", "recover", "--running", "")
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []
    assert p.returncode == 0


def test_a_lost_attachment_is_taken_back_not_fenced(lh):
    """The attachment of a volume this host still uses is lost (a hand edit
    here; a power loss or a bug elsewhere): the fencing loop takes it back,
    loudly, and leaves the filesystem mounted read-write under its user."""
    import sqlite3
    sock = os.path.join(lh.root, "p.sock")
    lh.write_config("libstorage:\n  client:\n    lease: 1s\nrexray:\n  modules:\n"
                    "    default-docker:\n      host: unix://%s\n" % sock)
    svc = lh.start_service()
    path = lh.mount("lost1")
    svc.stop()
    db = sqlite3.connect(os.path.join(lh.lib, "rexray.db"))
    with db:
        assert db.execute("DELETE FROM attachments").rowcount == 1
    db.close()
    assert state(lh, "lost1") == 3, "nobody holds it now"
    svc = lh.start_service()
    with open(os.path.join(path, "f"), "w") as f:
        for i in range(25):  # through two leases and a half
            f.write("%d\n" % i)
            f.flush()
            os.fsync(f.fileno())
            time.sleep(0.1)
    assert os.path.ismount(os.path.dirname(path))
    assert state(lh, "lost1") == 2, "taken back by this host"
    assert "taking its attachment back" in svc.logs(), svc.logs()
    assert "now belongs to another host" not in svc.logs()
    lh.unmount("lost1")
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []
