"""The loop driver and the mount workflow with real loop devices, mkfs and
mount (issue 3). Every loop device and mount a test makes lives under its
REXRAY_HOME; the fixture removes whatever is left, even after a failure."""

import glob
import json
import os
import subprocess

import pytest

import prereq

from conftest import fstype_of, loops_under, mounts_under, plugin_call, run_paused

_MISSING = prereq.missing(root=True, loop=True)
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))


def test_mount_write_unmount_remount_keeps_data(lh):
    path = lh.mount("v1")
    assert os.path.ismount(os.path.dirname(path))
    assert oct(os.stat(path).st_mode & 0o777) == "0o700"
    with open(os.path.join(path, "f"), "w") as f:
        f.write("hello")
    v = lh.volume("v1")
    assert v["attachmentState"] == 2 and v["size"] == 1, v
    assert len(loops_under(lh.root)) == 1
    lh.unmount("v1")
    assert loops_under(lh.root) == {}, "the last unmount must detach the loop device"
    assert mounts_under(lh.root) == []
    assert lh.volume("v1")["attachmentState"] == 3
    path2 = lh.mount("v1")
    with open(os.path.join(path2, "f")) as f:
        assert f.read() == "hello"
    assert fstype_of(os.path.dirname(path2)) == "ext4"
    lh.unmount("v1")
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []


def test_size_is_honoured_exactly(lh):
    lh.cli_ok("volume", "create", "--size", "2", "big")
    img = [f for f in glob.glob(os.path.join(lh.lib, "loop", "*.img"))]
    assert len(img) == 1 and os.stat(img[0]).st_size == 2 * 1024 ** 3, img
    assert os.stat(img[0]).st_blocks * 512 < 1024 ** 2, "the image must be sparse"
    path = lh.mount("big")
    dev = list(loops_under(lh.root))[0]
    blk = subprocess.run(["blockdev", "--getsize64", dev], stdout=subprocess.PIPE, text=True)
    assert int(blk.stdout) == 2 * 1024 ** 3
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    assert 1.8 * 1024 ** 3 < total <= 2 * 1024 ** 3, total
    lh.unmount("big")


def test_xfs_by_create_option_and_reformat_with_overwrite(lh):
    # ext4 first, with data
    path = lh.mount("fsv")
    open(os.path.join(path, "old"), "w").close()
    lh.unmount("fsv")
    # newfstype without overwritefs keeps the existing filesystem
    path = lh.mount("fsv", "--fsType", "xfs")
    assert fstype_of(os.path.dirname(path)) == "ext4"
    assert os.path.exists(os.path.join(path, "old"))
    lh.unmount("fsv")
    # newfstype=xfs + overwritefs reformats
    path = lh.mount("fsv", "--fsType", "xfs", "--overwriteFS")
    assert fstype_of(os.path.dirname(path)) == "xfs"
    assert not os.path.exists(os.path.join(path, "old"))
    lh.unmount("fsv")
    assert loops_under(lh.root) == {}


def test_create_default_fstype_xfs(lh):
    env = lh.env(LIBSTORAGE_INTEGRATION_VOLUME_OPERATIONS_CREATE_DEFAULT_FSTYPE="xfs")
    path = lh.mount("x1", env=env)
    assert fstype_of(os.path.dirname(path)) == "xfs"
    lh.unmount("x1", env=env)


def test_two_users_last_unmount_detaches(lh):
    p1 = lh.mount("shared")
    p2 = lh.mount("shared")
    assert p1 == p2
    # the filesystem's mount and the rootPath bind inside it (issue 26), once
    assert sorted(mounts_under(lh.root)) == sorted([os.path.dirname(p1), p1]), "no second mount"
    lh.unmount("shared")
    assert os.path.ismount(os.path.dirname(p1)), "one user left: still mounted"
    assert len(loops_under(lh.root)) == 1
    lh.unmount("shared")
    assert mounts_under(lh.root) == [] and loops_under(lh.root) == {}


def test_ignore_used_count_unmounts_every_time(lh):
    env = lh.env(LIBSTORAGE_INTEGRATION_VOLUME_OPERATIONS_UNMOUNT_IGNOREUSEDCOUNT="true")
    lh.mount("ig", env=env)
    lh.mount("ig", env=env)
    lh.unmount("ig", env=env)
    assert mounts_under(lh.root) == [] and loops_under(lh.root) == {}
    # and its uses are forgotten with the mount
    j = json.loads(lh.cli_ok("volume", "inspect", "-f", "json", "ig", env=env).stdout)[0]
    assert j["usesTotal"] == 0 and j["uses"] == {}, j


def test_create_implicit_false_fails_clearly(lh):
    env = lh.env(LIBSTORAGE_INTEGRATION_VOLUME_OPERATIONS_CREATE_IMPLICIT="false")
    p = lh.cli("volume", "mount", "nosuch", env=env)
    assert p.returncode == 1, p
    assert "volume 'nosuch' not found in service 'loop' (create.implicit is off)" in \
        p.stderr, p.stderr
    assert lh.volumes_cli() == []
    assert loops_under(lh.root) == {}
    p = lh.cli("volume", "unmount", "nosuch")
    assert p.returncode == 1 and "volume 'nosuch' not found in service 'loop'\n" in p.stderr, \
        p.stderr


def test_docker_list_gives_the_mountpoint_of_mounted_volumes(lh):
    lh.start_service()
    sock = os.path.join(lh.root, "run", "docker", "plugins", "rexray.sock")
    lh.cli_ok("volume", "create", "--size", "1", "idle")
    st, r = plugin_call(sock, "Mount", {"Name": "busy", "ID": "c1"})
    assert st == 200 and not r["Err"], r
    st, r = plugin_call(sock, "List", {})
    got = {v["Name"]: v.get("Mountpoint", "") for v in r["Volumes"]}
    assert set(got) == {"busy", "idle"} and got["idle"] == "", got
    assert got["busy"].endswith("/busy/data") and os.path.ismount(os.path.dirname(got["busy"]))
    st, r = plugin_call(sock, "Unmount", {"Name": "busy", "ID": "c1"})
    assert st == 200 and not r["Err"], r


def test_counts_survive_an_engine_restart(lh):
    svc = lh.start_service()
    p1 = lh.mount("keep")
    lh.mount("keep")
    svc.stop()
    svc2 = lh.start_service()
    lh.unmount("keep")
    assert os.path.ismount(os.path.dirname(p1)), "a use is left after the restart"
    lh.unmount("keep")
    assert mounts_under(lh.root) == [] and loops_under(lh.root) == {}
    svc2.stop()


def test_mount_through_a_running_service(lh):
    lh.start_service()
    path = lh.mount("viasvc")
    assert os.path.ismount(os.path.dirname(path))
    p = lh.cli_ok("volume", "ls", "--path")
    assert path in p.stdout, p.stdout
    lh.unmount("viasvc")
    assert loops_under(lh.root) == {}


def test_ls_path_column(lh):
    path = lh.mount("pv")
    vols = lh.volumes_cli("--path") if False else json.loads(
        lh.cli_ok("volume", "ls", "--path", "-f", "json").stdout)
    assert [v["path"] for v in vols if v["name"] == "pv"] == [path], vols
    head = lh.cli_ok("volume", "ls", "--path").stdout.splitlines()[0].split()
    assert head == ["ID", "Name", "Status", "Size", "Path"], head
    lh.unmount("pv")


def test_mkfs_failure_leaves_nothing(lh):
    fake = os.path.join(lh.root, "fakebin")
    os.makedirs(fake)
    for tool in ("mkfs.ext4", "mkfs.xfs"):
        with open(os.path.join(fake, tool), "w") as f:
            f.write("#!/bin/sh\necho 'mkfs exploded' >&2\nexit 1\n")
        os.chmod(os.path.join(fake, tool), 0o755)
    env = lh.env(PATH=fake + ":" + os.environ.get("PATH", "/usr/bin:/bin"))
    p = lh.cli("volume", "mount", "doomed", env=env)
    assert p.returncode == 1, p
    assert "mkfs exploded" in p.stderr, p.stderr
    assert lh.volumes_cli() == [], "the implicitly created volume must be gone"
    assert glob.glob(os.path.join(lh.lib, "loop", "*.img")) == []
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []


def test_unknown_fstype_creates_nothing(lh):
    for bad in ("btrfs", "$(id)", "ext4;reboot"):
        p = lh.cli("volume", "mount", "--fsType", bad, "nofs")
        assert p.returncode != 0 and "file system" in p.stderr, (bad, p.stderr)
    assert lh.volumes_cli() == []
    assert loops_under(lh.root) == {}


@pytest.mark.parametrize("size,needle", [("0", "at least 1"), ("-1", "size"),
                                         ("99999", "free"), ("abc", "size")])
def test_bad_sizes_create_nothing(lh, size, needle):
    p = lh.cli("volume", "create", "--size", size, "sz")
    assert p.returncode != 0 and needle in p.stderr, p.stderr
    assert lh.volumes_cli() == []
    assert glob.glob(os.path.join(lh.lib, "loop", "*")) == []


@pytest.mark.parametrize("name", ["../../etc", "a/b", "/abs", "..", "x y", "$(id)"])
def test_names_that_are_paths_are_refused(lh, name):
    p = lh.cli("volume", "mount", name)
    assert p.returncode != 0 and "volume name" in p.stderr, p.stderr
    assert lh.volumes_cli() == []
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []


def test_remove_refuses_attached_unless_forced(lh):
    lh.mount("busy")
    p = lh.cli("volume", "rm", "busy")
    assert p.returncode == 1 and "attached" in p.stderr, p.stderr
    p = lh.cli("volume", "rm", "--force", "busy")
    assert p.returncode == 1 and "mounted" in p.stderr, "never pull an image from a mount"
    lh.unmount("busy")
    lh.cli_ok("volume", "rm", "busy")
    assert glob.glob(os.path.join(lh.lib, "loop", "*.img")) == []


def test_unmount_takes_the_bind_at_an_earlier_mount_path(home):
    """A vfs volume mounted before mount.path changed: the unmount finds the
    bind of its directory at the old place, takes it, and detaches."""
    old = home.cli_ok("volume", "mount", "moved").stdout.strip()
    with open(os.path.join(old, "f"), "w") as f:
        f.write("kept")
    newdir = os.path.join(home.root, "newmnt")
    home.write_config("libstorage:\n  integration:\n    volume:\n      operations:\n"
                      "        mount:\n          path: %s\n" % newdir)
    # the path is still the old mount's while it lives
    assert home.cli_ok("volume", "ls", "--path", "moved").stdout.split()[-1].startswith(old)
    home.cli_ok("volume", "unmount", "moved")
    assert mounts_under(home.root) == []
    vol = home.volumes_cli("moved")[0]
    assert not vol.get("attachments"), vol
    assert not os.path.exists(os.path.join(newdir, "moved"))
    new = home.cli_ok("volume", "mount", "moved").stdout.strip()
    assert new == os.path.join(newdir, "moved", "data")
    with open(os.path.join(new, "f")) as f:
        assert f.read() == "kept"
    home.cli_ok("volume", "unmount", "moved")
    assert mounts_under(home.root) == []


@pytest.mark.parametrize("key", ["fsType", "NEWFSTYPE"])
def test_fstype_given_at_create_is_used_at_first_mount(lh, key):
    """A filesystem type among the create options (any case, as Docker's
    -o fstype=xfs) is what the first mount makes."""
    svc = lh.start_service()
    r = svc.api.post("/volumes/loop", {"name": "cx", "size": 1,
                                       "opts": {"other": "1", key: "xfs"}})
    assert r.status == 201, r
    path = lh.mount("cx")
    assert fstype_of(os.path.dirname(path)) == "xfs"
    lh.unmount("cx")


def test_uses_of_a_volume_the_host_lost_are_forgotten(lh):
    """After a restart of the host, its mounts and loop devices are gone but
    the use counts are not: the engine forgets them at start, so that the
    next mount's last unmount unmounts."""
    lh.mount("lost")
    lh.mount("lost")  # two uses
    for mp in mounts_under(lh.root):
        subprocess.run(["umount", mp], check=True)
    for dev in loops_under(lh.root):
        subprocess.run(["losetup", "-d", dev], check=True)
    svc = lh.start_service()  # the start-up reconciliation
    svc.stop()
    lh.mount("lost")
    lh.unmount("lost")
    assert mounts_under(lh.root) == [] and loops_under(lh.root) == {}


def test_a_root_path_replaced_during_the_mount_is_refused(lh):
    """The volume's rootPath directory renamed and replaced between its
    check and its bind (what a hostile task inside the volume could try):
    the mount refuses it, takes its bind back, and leaves nothing."""
    fsroot = os.path.join(lh.volumes_dir, "swap")

    def swap():
        os.rename(os.path.join(fsroot, "data"), os.path.join(fsroot, "data.old"))
        os.mkdir(os.path.join(fsroot, "data"))

    p = run_paused(lh, ("volume", "mount", "swap"), "mount.rootpath.before-bind", swap)
    assert p.returncode == 1 and "replaced while it was being checked" in p.stderr, p.stderr
    assert mounts_under(lh.root) == [] and loops_under(lh.root) == {}


def test_a_clean_start_warns_of_nothing(lh):
    """A service starting on a home whose volumes are all settled has
    nothing to reconcile and says nothing above info."""
    lh.mount("w")
    lh.unmount("w")
    lh.cli_ok("volume", "create", "--size", "1", "w2")
    svc = lh.start_service()
    assert svc.stop() == 0
    logs = svc.logs()
    assert "level=warn" not in logs and "level=error" not in logs, logs


def _path_and_get(sock, name):
    """The plugin's Path of a volume, checked to agree with its Get."""
    st, p = plugin_call(sock, "Path", {"Name": name})
    assert st == 200 and not p["Err"], p
    st, g = plugin_call(sock, "Get", {"Name": name})
    assert st == 200 and not g["Err"], g
    assert g["Volume"].get("Mountpoint", "") == p["Mountpoint"], (p, g)
    return p["Mountpoint"]


def _mounts_by_others_show_at_once(h):
    h.start_service()
    sock = os.path.join(h.root, "run", "docker", "plugins", "rexray.sock")
    h.cli_ok("volume", "create", "--size", "1", "seen")
    for _ in range(3):  # known not mounted, kept by the engine
        assert _path_and_get(sock, "seen") == ""
    path = h.cli_ok("volume", "mount", "seen").stdout.strip()
    assert _path_and_get(sock, "seen") == path
    h.cli_ok("volume", "unmount", "seen")
    assert _path_and_get(sock, "seen") == ""
    return sock


def test_path_sees_a_mount_made_by_another_process(lh):
    """Get and Path remember a volume found not mounted (issue 20) only
    while the mount table stays as it was: a mount by the CLI, another
    process, shows in the engine's very next answer, and so does its
    unmount."""
    _mounts_by_others_show_at_once(lh)


def test_path_sees_a_bind_made_by_another_process(home):
    """The same for a vfs volume, and for a bind of its directory made
    by mount(8) somewhere else."""
    sock = _mounts_by_others_show_at_once(home)
    vid = home.volumes_cli("seen")[0]["id"]
    elsewhere = os.path.join(home.root, "elsewhere")
    os.makedirs(elsewhere)
    subprocess.run(["mount", "--bind", os.path.join(home.lib, "vfs", "vol", vid), elsewhere],
                   check=True)
    try:
        assert _path_and_get(sock, "seen") == os.path.join(elsewhere, "data")
    finally:
        subprocess.run(["umount", elsewhere], check=True)
    assert _path_and_get(sock, "seen") == ""
