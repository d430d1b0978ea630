"""A volume's contents are untrusted (issue 26): whatever a volume holds,
no path the engine resolves in it leads the engine or a container out of it.

The hostile volume: its `data` directory (the rootPath) replaced, while the
volume was mounted, by a symlink to a host directory of the test tree (never
the real /), a symlink to a "/"-like tree, a relative symlink climbing out,
a symlink loop, a regular file or a FIFO. Then, through the CLI, the Docker
plugin (and a real dockerd), dvdcli and DVDI, every time: the mount is
refused with what was found, the host directory is unchanged (mode, owner,
contents), and no runtime ever gets a path outside the volume.
"""

import os
import random
import stat
import subprocess
import threading
import time
import uuid

import pytest

import prereq

from conftest import REPO, loops_under, mounts_under
from test_crash import Engine, plugin

DVDCLI = os.environ.get("DVDCLI_BIN") or os.path.join(REPO, "build", "dvdcli")
_MISSING = prereq.missing(root=True, loop=True)
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))

HOSTILE = ["symlink-host", "symlink-rootlike", "symlink-relative", "symlink-loop",
           "regular-file", "fifo"]


def host_tree(lh):
    """A host directory the attacker aims at, and a "/"-like tree."""
    victim = os.path.join(lh.root, "victim")
    os.makedirs(os.path.join(victim, "etc"), exist_ok=True)
    with open(os.path.join(victim, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0::/root:/bin/sh\n")
    os.chmod(victim, 0o755)
    return victim


def snapshot(path):
    out = {}
    for d, dirs, files in os.walk(path):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            out[os.path.relpath(p, path)] = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                                             st.st_size)
    st = os.lstat(path)
    out["."] = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    return out


def make_hostile(root, kind, victim):
    """Replace <root>/data (root: the volume's mounted filesystem)."""
    data = os.path.join(root, "data")
    subprocess.run(["umount", data], stderr=subprocess.DEVNULL, check=False)
    if os.path.isdir(data) and not os.path.islink(data):
        os.rename(data, os.path.join(root, "old-data-%s" % uuid.uuid4().hex[:6]))
    elif os.path.lexists(data):
        os.unlink(data)
    if kind == "symlink-host":
        os.symlink(victim, data)
    elif kind == "symlink-rootlike":
        os.symlink(os.path.join(victim, "etc", ".."), data)
    elif kind == "symlink-relative":
        os.symlink("../../../../../../../../../../" + victim.lstrip("/"), data)
    elif kind == "symlink-loop":
        os.symlink("data", data)
    elif kind == "regular-file":
        with open(data, "w") as f:
            f.write("not a directory")
    elif kind == "fifo":
        os.mkfifo(data)


def poison(lh, name, kind, victim):
    """Mount the volume, make its data hostile from inside, unmount."""
    path = lh.mount(name)
    make_hostile(os.path.dirname(path), kind, victim)
    lh.unmount(name)
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []


def outside(path, volume_root_dev):
    """True when path does not resolve to the volume's own filesystem."""
    try:
        return os.stat(path).st_dev != volume_root_dev
    except OSError:
        return False


@pytest.mark.parametrize("kind", HOSTILE)
def test_cli_refuses_a_hostile_root_path(lh, kind):
    victim = host_tree(lh)
    before = snapshot(victim)
    poison(lh, "hv", kind, victim)
    p = lh.cli("volume", "mount", "hv")
    assert p.returncode == 1, (kind, p)
    assert "volume 'hv', rootPath '/data'" in p.stderr and "refusing" in p.stderr, p.stderr
    assert snapshot(victim) == before, "the host directory is unchanged"
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []


def test_plugin_and_dvdcli_never_hand_out_a_path_outside_the_volume(lh):
    victim = host_tree(lh)
    before = snapshot(victim)
    poison(lh, "hp", "symlink-host", victim)
    name = "rru" + uuid.uuid4().hex[:8]
    sock = "/run/docker/plugins/%s.sock" % name
    lh.write_config("rexray:\n  modules:\n    default-docker:\n      host: unix://%s\n" % sock)
    lh.start_service()
    st, r = plugin(sock, "Mount", {"Name": "hp", "ID": "c1"})
    assert r.get("Err") and "symbolic link" in r["Err"], r
    assert not r.get("Mountpoint"), r
    p = subprocess.run([DVDCLI, "mount", "--volumedriver=" + name, "--volumename=hp"],
                       env=lh.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    assert p.returncode != 0 and victim not in p.stdout, (p.stdout, p.stderr)
    assert "symbolic link" in p.stderr, p.stderr
    assert snapshot(victim) == before
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []


def test_dvdi_refuses_hostile_data_and_a_hostile_container_path(lh):
    victim = host_tree(lh)
    before = snapshot(victim)
    plugin_name = "rru" + uuid.uuid4().hex[:8]
    lh.write_config("rexray:\n  modules:\n    default-docker:\n"
                    "      host: unix:///run/docker/plugins/%s.sock\n" % plugin_name)
    lh.start_service()
    env_file = os.path.join(lh.root, "u.env")

    def prepare(cid, **env):
        with open(env_file, "w") as f:
            for k, v in env.items():
                f.write("%s=%s\n" % (k, v))
        return lh.cli("dvdi", "prepare", "--container-id", cid, "--env-file", env_file,
                      "--timeout", "20")

    # a container path that is a symlink (the container's image planted it)
    rootfs = os.path.join(lh.root, "rootfs")
    os.makedirs(rootfs)
    os.symlink(victim, os.path.join(rootfs, "mnt"))
    p = prepare("u1", DVDI_VOLUME_NAME="dv1", DVDI_VOLUME_DRIVER=plugin_name,
                DVDI_VOLUME_CONTAINERPATH=os.path.join(rootfs, "mnt"))
    out = p.stdout + p.stderr
    assert p.returncode != 0 and "symbolic link" in out, out
    assert snapshot(victim) == before
    assert not os.path.ismount(victim)
    # hostile data inside the volume
    path = lh.mount("dv2")
    make_hostile(os.path.dirname(path), "symlink-host", victim)
    lh.unmount("dv2")
    p = prepare("u2", DVDI_VOLUME_NAME="dv2", DVDI_VOLUME_DRIVER=plugin_name)
    out = p.stdout + p.stderr
    assert p.returncode != 0 and "symbolic link" in out, out
    assert snapshot(victim) == before
    lh.cli("dvdi", "cleanup", "--container-id", "u1")
    lh.cli("dvdi", "cleanup", "--container-id", "u2")
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []


def test_the_path_handed_out_cannot_be_swapped(lh):
    path = lh.mount("sw")
    victim = host_tree(lh)
    root = os.path.dirname(path)
    assert path in mounts_under(lh.root), "the rootPath is a bind mount of the checked directory"
    with pytest.raises(OSError) as ex:
        os.rename(path, os.path.join(root, "moved"))
    assert ex.value.errno == 16  # EBUSY
    with pytest.raises(OSError):
        os.rmdir(path)
    assert os.path.samefile(path, path) and not outside(path, os.stat(root).st_dev)
    assert not os.path.ismount(victim)
    lh.unmount("sw")
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []


def test_swapping_data_while_mounts_run_never_leads_out(lh):
    """A process swaps data and a symlink to a host directory as fast as it
    can while Mount/Unmount cycles run: never a Mountpoint outside."""
    cycles = int(os.environ.get("SWAP_CYCLES", "200"))
    victim = host_tree(lh)
    before = snapshot(victim)
    eng = Engine(lh)
    stop = threading.Event()
    swaps = [0]
    target = os.path.join(lh.volumes_dir, "race")

    def swapper():
        data, aside = os.path.join(target, "data"), os.path.join(target, "aside")
        rng = random.Random(26)
        while not stop.is_set():
            try:
                # put things back first: an unmount may have cut a swap short
                if os.path.islink(data):
                    os.unlink(data)
                if os.path.isdir(aside) and not os.path.lexists(data):
                    os.rename(aside, data)
                os.rename(data, aside)
                os.symlink(victim, data)
                swaps[0] += 1
                time.sleep(rng.choice((0, 0, 0.0005)))
                os.unlink(data)
                os.rename(aside, data)
            except OSError:
                pass
            # bursts and pauses, so that both sides of the race happen
            time.sleep(rng.choice((0, 0, 0, 0.002)))

    refused = handed = 0
    try:
        eng.start()
        t = threading.Thread(target=swapper)
        t.start()
        for i in range(cycles):
            st, r = plugin(eng.sock, "Mount", {"Name": "race", "ID": "c%d" % i})
            if r.get("Err"):
                refused += 1
                continue
            mp = r["Mountpoint"]
            handed += 1
            assert not outside(mp, os.stat(target).st_dev), (i, mp)
            assert mp in mounts_under(lh.root), (i, mp, eng.logs()[-1500:])
            st, r = plugin(eng.sock, "Unmount", {"Name": "race", "ID": "c%d" % i})
            assert not r.get("Err"), r
        stop.set()
        t.join()
    finally:
        stop.set()
        eng.kill()
    assert snapshot(victim) == before
    print("swap race: %d cycles, %d mountpoints handed out, %d refused, %d swaps"
          % (cycles, handed, refused, swaps[0]))
    assert handed > 0 and refused > 0, "both sides of the race happened"


@pytest.mark.skipif(prereq.missing(commands=("dockerd", "docker", "busybox"), real_root=True)
                    is not None, reason=str(prereq.missing(commands=("dockerd", "docker",
                                                                      "busybox"),
                                                            real_root=True)))
def test_a_container_never_sees_the_host_directory(lh):
    import dockerd
    victim = host_tree(lh)
    with open(os.path.join(victim, "secret"), "w") as f:
        f.write("host only")
    before = snapshot(victim)
    name = "rrd" + uuid.uuid4().hex[:8]
    lh.write_config("rexray:\n  modules:\n    default-docker:\n"
                    "      host: unix:///run/docker/plugins/%s.sock\n" % name)
    poison(lh, "dock", "symlink-host", victim)
    lh.start_service()
    dk = dockerd.Dockerd()
    try:
        dk.start()
        dk.import_busybox("bb")
        p = dk.docker("run", "--rm", "--network", "none", "--volume-driver", name, "-v",
                      "dock:/data", "bb", "cat", "/data/secret", check=False)
        assert p.returncode != 0 and "host only" not in p.stdout, (p.stdout, p.stderr)
        assert "symbolic link" in p.stderr, p.stderr
    finally:
        dk.stop()
    assert snapshot(victim) == before


def mount_options(mp):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if parts[4] == mp:
                return parts[5].split(",")
    return None


def test_volumes_are_mounted_nosuid_nodev_unless_configured(lh):
    path = lh.mount("ns1")
    opts = mount_options(os.path.dirname(path))
    assert "nosuid" in opts and "nodev" in opts, opts
    lh.unmount("ns1")
    lh.write_config("libstorage:\n  integration:\n    volume:\n      operations:\n"
                    "        mount:\n          nosuid: false\n          nodev: false\n")
    path = lh.mount("ns1")
    opts = mount_options(os.path.dirname(path))
    assert "nosuid" not in opts and "nodev" not in opts, opts
    lh.unmount("ns1")


def test_a_busy_unmount_leaves_the_path_pinned(lh):
    """A forced detach refused because the volume's root is busy leaves the
    rootPath bind in place (it is taken down only with its filesystem)."""
    path = lh.mount("pin")
    root = os.path.dirname(path)
    holder = subprocess.Popen(["sleep", "30"], cwd=root)
    try:
        p = lh.cli("volume", "detach", "--force", "pin")
        assert p.returncode == 1 and "busy" in p.stderr, p.stderr
        assert path in mounts_under(lh.root), mounts_under(lh.root)
    finally:
        holder.kill()
        holder.wait()
    lh.unmount("pin")
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []
