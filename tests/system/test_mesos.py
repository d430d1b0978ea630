"""The seed's Mesos paths end to end (issue 5): the hello-play task with
exactly the seed's DVDI_VOLUME_* values wrapped by `rexray dvdi run`, and
a replay of what Mesos' docker/volume isolator runs: dvdcli mount/unmount
with its exact argv, once per container."""

import os
import socket
import subprocess
import threading
import time

import pytest

import prereq

from conftest import REPO, REXRAY, fstype_of, loops_under, mounts_under, plugin_call

DVDCLI = os.path.join(REPO, "build", "dvdcli")
_MISSING = prereq.missing(root=True, loop=True)
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))

SEED_ENV = {
    "DVDI_VOLUME_NAME": "test12345",
    "DVDI_VOLUME_DRIVER": "rexray",
    "DVDI_VOLUME_OPTS": "size=5,iops=150,volumetype=io1,newfstype=xfs,overwritefs=true",
}


@pytest.fixture
def seed(lh):
    """The engine as the seed recommends, its plugin named "rexray" in a
    private plugin directory (the discovery roots point there)."""
    lh.plugins = os.path.join(lh.root, "plugins")
    os.makedirs(lh.plugins)
    lh.write_config(
        "libstorage:\n  integration:\n    volume:\n      operations:\n"
        "        mount:\n          preempt: true\n"
        "        unmount:\n          ignoreusedcount: true\n"
        "        remove:\n          disable: true\n"
        "rexray:\n  modules:\n    default-docker:\n      host: unix://%s/rexray.sock\n"
        % lh.plugins)
    lh.start_service()
    lh.discovery = {"DVDCLI_SOCKET_DIR": lh.plugins, "DVDCLI_SPEC_DIRS": "",
                    "DVDCLI_DISCOVERY_TIMEOUT": "2"}
    return lh


def test_hello_play_task(seed):
    volumes = os.path.join(seed.lib, "volumes")
    # the seed's cmd, bounded: touch <mount.path>/test12345/hello in a loop
    cmd = ("i=0; while [ $i -lt 5 ]; do touch %s/test12345/hello; i=$((i+1)); sleep 0.1; done"
           % volumes)
    env = seed.env(**SEED_ENV, **seed.discovery)
    p = subprocess.run([REXRAY, "dvdi", "run", "--container-id", "hello-play.1", "--",
                        "sh", "-c", cmd + "; grep -q ' %s/test12345 xfs ' /proc/mounts && "
                        "blockdev --getsize64 $(awk '$2==\"%s/test12345\"{print $1}' "
                        "/proc/mounts)" % (volumes, volumes)],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=120)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert int(p.stdout.strip()) == 5 * 1024 ** 3, "created with 5 GiB, mounted as xfs"
    # after cleanup: unmounted, detached, and (remove.disable) still there
    assert mounts_under(seed.root) == [] and loops_under(seed.root) == {}
    vol = [v for v in seed.cli_json("volume", "ls", "-f", "json") if v["name"] == "test12345"]
    assert len(vol) == 1 and vol[0]["size"] == 5 and vol[0]["attachmentState"] == 3, vol
    assert vol[0]["type"] == "io1" and vol[0]["iops"] == 150, vol
    # the file the task touched is on the volume
    path = subprocess.run([REXRAY, "volume", "mount", "test12345"], env=seed.env(),
                          stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    assert os.path.exists(os.path.join(os.path.dirname(path), "hello"))
    assert fstype_of(os.path.dirname(path)) == "xfs"
    seed.cli_ok("volume", "unmount", "test12345")
    # remove.disable: what Docker (or the isolator) asks the plugin to
    # remove is kept, answered with success as REX-Ray did
    assert plugin_call(os.path.join(seed.plugins, "rexray.sock"), "Remove",
                       {"Name": "test12345"}) == (200, {"Err": ""})
    assert [v["name"] for v in seed.cli_json("volume", "ls", "-f", "json")] == ["test12345"]


def dvdcli(seed, *args):
    env = dict(os.environ, **seed.discovery)
    return subprocess.run([DVDCLI] + list(args), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=120)


def test_mesos_docker_volume_isolator_replay(lh):
    # the counting engine (no ignoreUsedCount): Mesos mounts once per container
    lh.plugins = os.path.join(lh.root, "plugins")
    os.makedirs(lh.plugins)
    lh.write_config("rexray:\n  modules:\n    default-docker:\n"
                    "      host: unix://%s/rexray.sock\n" % lh.plugins)
    lh.start_service()
    lh.discovery = {"DVDCLI_SOCKET_DIR": lh.plugins, "DVDCLI_SPEC_DIRS": ""}
    argv = ["--volumedriver=rexray", "--volumename=mesosvol", "--volumeopts=size=1",
            "--volumeopts=newfstype=ext4"]
    p1 = dvdcli(lh, "mount", *argv)
    assert p1.returncode == 0, p1.stderr
    expected = os.path.join(lh.lib, "volumes", "mesosvol", "data") + "\n"
    assert p1.stdout == expected, "stdout is the mount path alone"
    p2 = dvdcli(lh, "mount", *argv)  # a second container
    assert p2.returncode == 0 and p2.stdout == expected
    u = ["--volumedriver=rexray", "--volumename=mesosvol"]
    assert dvdcli(lh, "unmount", *u).returncode == 0
    assert os.path.ismount(os.path.dirname(expected.strip())), "the other container still uses it"
    assert dvdcli(lh, "unmount", *u).returncode == 0
    assert mounts_under(lh.root) == [] and loops_under(lh.root) == {}


class HungPlugin:
    """A plugin socket that accepts and never answers."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.conns = []
        self.stop = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                return

    def close(self):
        self.stop = True
        for c in self.conns:
            c.close()
        self.sock.close()


def test_dvdi_with_a_hung_or_missing_plugin(lh):
    plugins = os.path.join(lh.root, "plugins")
    os.makedirs(plugins)
    hung = HungPlugin(os.path.join(plugins, "stuck.sock"))
    try:
        env = lh.env(DVDI_VOLUME_NAME="v1", DVDI_VOLUME_DRIVER="stuck",
                     DVDCLI_SOCKET_DIR=plugins, DVDCLI_SPEC_DIRS="",
                     DVDCLI_DISCOVERY_TIMEOUT="1")
        t0 = time.time()
        p = lh.cli("dvdi", "prepare", "--container-id", "c1", "--timeout", "1", env=env)
        assert p.returncode == 1 and p.stderr, p
        assert time.time() - t0 < 15
        env["DVDI_VOLUME_DRIVER"] = "nosuchplugin"
        p = lh.cli("dvdi", "prepare", "--container-id", "c2", "--timeout", "1", env=env)
        assert p.returncode == 1 and "not found" in p.stderr, p.stderr
        assert mounts_under(lh.root) == [] and loops_under(lh.root) == {}
        # nothing was checkpointed: cleanup has nothing to do
        lh.cli_ok("dvdi", "cleanup", "--container-id", "c1", env=env)
    finally:
        hung.close()
