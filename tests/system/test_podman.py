"""The plugin with Podman 4.3, registered through containers.conf
[engine.volume_plugins] (issue 4): the create / run / read cycle."""

import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

import prereq

from conftest import LoopHome, loops_under, release_home

PODMAN = shutil.which("podman")
BUSYBOX = next((p for p in ("/bin/busybox", "/usr/bin/busybox") if os.path.exists(p)), None)
_MISSING = prereq.missing(root=True, commands=("podman", "busybox"), loop=True, real_root=True)
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))


@pytest.fixture
def pm():
    root = tempfile.mkdtemp(prefix="rrp")
    plugin = "rrp" + uuid.uuid4().hex[:8]
    h = LoopHome(os.path.join(root, "home"))
    h.plugin = plugin
    h.write_config("rexray:\n  modules:\n    default-docker:\n"
                   "      host: unix:///run/docker/plugins/%s.sock\n" % plugin)
    conf = os.path.join(root, "containers.conf")
    with open(conf, "w") as f:
        f.write("[containers]\n"
                "default_ulimits = []\n"   # podman's default rlimits are refused here
                "netns = \"none\"\n"
                "[engine]\n"
                "cgroup_manager = \"cgroupfs\"\n"
                "events_logger = \"file\"\n"
                "volume_plugin_timeout = 30\n"
                "[engine.volume_plugins]\n"
                "%s = \"/run/docker/plugins/%s.sock\"\n" % (plugin, plugin))
    env = dict(os.environ, CONTAINERS_CONF=conf)

    def podman(*args, check=True):
        p = subprocess.run([PODMAN, "--root", os.path.join(root, "storage"), "--runroot",
                            os.path.join(root, "run"), "--storage-driver", "vfs",
                            "--tmpdir", os.path.join(root, "tmp")] + list(args),
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=120)
        if check:
            assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p

    h.podman = podman
    try:
        rootfs = os.path.join(root, "rootfs")
        os.makedirs(os.path.join(rootfs, "bin"))
        shutil.copy(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
        for applet in ("sh", "cat", "echo"):
            os.symlink("busybox", os.path.join(rootfs, "bin", applet))
        tarball = os.path.join(root, "bb.tar")
        subprocess.run(["tar", "-C", rootfs, "-cf", tarball, "."], check=True)
        podman("import", tarball, "bb")
        h.start_service()
        yield h
    finally:
        release_home(h, root=root, stop_timeout=10)


def test_podman_create_run_read(pm):
    pm.podman("volume", "create", "--driver", pm.plugin, "-o", "size=1", "pvol")
    assert pm.plugin in pm.podman("volume", "ls").stdout
    pm.podman("run", "--rm", "-v", "pvol:/data", "bb", "sh", "-c", "echo hi > /data/f")
    out = pm.podman("run", "--rm", "-v", "pvol:/data", "bb", "cat", "/data/f").stdout
    assert out == "hi\n"
    vols = [v for v in pm.volumes_cli() if v["name"] == "pvol"]
    assert len(vols) == 1 and vols[0]["size"] == 1, vols
    assert loops_under(pm.root) == {}, "unmounted and detached after the containers"
    pm.podman("volume", "rm", "pvol")
    assert [v for v in pm.volumes_cli() if v["name"] == "pvol"] == []
