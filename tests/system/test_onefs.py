"""One image, one live filesystem (issue 22): the engine never formats over
data, never mounts a damaged filesystem read-write unchecked, never binds a
second loop device to an image, and never releases or deletes what a live
filesystem still uses. Real loop devices, mkfs, e2fsck and xfs_repair."""

import glob
import hashlib
import os
import subprocess

import pytest

import prereq

from conftest import REXRAY as REXRAY_BIN, loop_backings, loops_under, mounts_under, run_paused

_MISSING = prereq.missing(root=True, loop=True, commands=("e2fsck", "debugfs", "xfs_repair"))
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))


def image_of(lh, name):
    vid = lh.volume(name)["id"]
    return os.path.join(lh.lib, "loop", vid + ".img")


def write_file(path, mib):
    data = os.urandom(1 << 20)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(data)
            h.update(data)
        f.flush()
        os.fsync(f.fileno())
    return h.hexdigest()


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def poke(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


# ---- case 1: a damaged superblock is never formatted over -----------------

def test_damaged_ext4_superblock_is_refused_then_repaired(lh):
    path = lh.mount("dmg")
    want = write_file(os.path.join(path, "big"), 40)
    lh.unmount("dmg")
    img = image_of(lh, "dmg")
    poke(img, 1080, b"\0\0")  # ext4's magic
    p = lh.cli("volume", "mount", "dmg")
    assert p.returncode == 1, p
    assert "no filesystem signature" in p.stderr and "e2fsck -b 32768 " + img in p.stderr, \
        p.stderr
    assert "overwriteFS" in p.stderr
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []
    # the advice works: the backup superblock brings everything back
    r = subprocess.run(["e2fsck", "-fy", "-b", "32768", img], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    assert r.returncode in (0, 1), r.stdout
    path = lh.mount("dmg")
    assert digest(os.path.join(path, "big")) == want
    lh.unmount("dmg")


def test_wiped_start_of_a_formatted_volume_is_refused(lh):
    """Even a volume whose first MiB is all zeros again: the image records
    that the engine formatted it."""
    lh.mount("wiped")
    lh.unmount("wiped")
    img = image_of(lh, "wiped")
    poke(img, 0, b"\0" * (1 << 20))
    p = lh.cli("volume", "mount", "wiped")
    assert p.returncode == 1 and "the engine made a ext4 filesystem" in p.stderr, p.stderr
    # overwriteFS is the explicit way to format it again
    lh.mount("wiped", "--overwriteFS")
    lh.unmount("wiped")


def test_first_mount_records_the_filesystem_quietly(lh):
    """The first mount formats and records what it made on the image (the
    record the two refusals above rest on), with nothing on stderr."""
    lh.cli_ok("volume", "create", "--size", "1", "rec")
    p = lh.cli_ok("volume", "mount", "rec")
    assert p.stderr == "", p.stderr
    assert os.getxattr(image_of(lh, "rec"), "trusted.rexray.fstype") == b"ext4"
    lh.unmount("rec")


def test_data_without_a_record_is_refused(lh):
    """An image copied without its extended attributes, whose signature is
    gone but whose data is not: still not formatted over."""
    path = lh.mount("norec")
    write_file(os.path.join(path, "f"), 2)
    lh.unmount("norec")
    img = image_of(lh, "norec")
    os.removexattr(img, "trusted.rexray.fstype")
    poke(img, 1080, b"\0\0")
    p = lh.cli("volume", "mount", "norec")
    assert p.returncode == 1 and "it holds data" in p.stderr, p.stderr
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []


def test_damaged_xfs_superblock_is_refused(lh):
    path = lh.mount("xdmg", "--fsType", "xfs")
    write_file(os.path.join(path, "f"), 4)
    lh.unmount("xdmg")
    img = image_of(lh, "xdmg")
    poke(img, 0, b"\0\0\0\0")  # "XFSB"
    p = lh.cli("volume", "mount", "xdmg")
    assert p.returncode == 1, p
    assert "no filesystem signature" in p.stderr and "xfs_repair -f " + img in p.stderr, \
        p.stderr
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []


# ---- the check before a read-write mount -----------------------------------

def test_unrepairable_ext4_is_refused_read_write_until_repaired(lh):
    path = lh.mount("broken")
    want = write_file(os.path.join(path, "keep"), 2)
    lh.unmount("broken")
    img = image_of(lh, "broken")
    # the root directory's inode cleared, the filesystem marked as having
    # errors: e2fsck -p stops and asks for a person
    subprocess.run(["debugfs", "-w", "-R", "clri <2>", img], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["debugfs", "-w", "-R", "ssv state 3", img], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    p = lh.cli("volume", "mount", "broken")
    assert p.returncode == 1, p
    assert "e2fsck -f " + img in p.stderr and "read-write" in p.stderr, p.stderr
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []
    r = subprocess.run(["e2fsck", "-fy", img], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    assert r.returncode in (1, 2), r.stdout
    path = lh.mount("broken")
    found = [os.path.join(d, f) for d, _, fs in os.walk(os.path.dirname(path)) for f in fs]
    assert any(digest(f) == want for f in found), "the file is in lost+found after repair"
    lh.unmount("broken")


def test_damage_the_check_cannot_see_is_refused_by_the_kernel_with_advice(lh):
    """A filesystem marked clean is not checked (as at boot); when the
    kernel then refuses it, the error still names the repair."""
    lh.mount("quiet")
    lh.unmount("quiet")
    img = image_of(lh, "quiet")
    subprocess.run(["debugfs", "-w", "-R", "clri <2>", img], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    p = lh.cli("volume", "mount", "quiet")
    assert p.returncode == 1 and "e2fsck -f " + img in p.stderr, p.stderr
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []


def test_errors_flag_is_repaired_by_the_check(lh):
    lh.mount("flagged")
    lh.unmount("flagged")
    img = image_of(lh, "flagged")
    # "clean with errors", as after an aborted journal
    subprocess.run(["debugfs", "-w", "-R", "ssv state 3", img], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lh.mount("flagged")
    out = subprocess.run(["dumpe2fs", "-h", loops_and_dev(lh)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True).stdout
    assert "clean with errors" not in out, out
    lh.unmount("flagged")


def loops_and_dev(lh):
    devs = list(loops_under(lh.root))
    assert len(devs) == 1, devs
    return devs[0]


# ---- never xfs nouuid --------------------------------------------------------

def test_xfs_is_mounted_without_nouuid(lh):
    path = lh.mount("xu", "--fsType", "xfs")
    with open("/proc/self/mountinfo") as f:
        line = [ln for ln in f if " %s " % os.path.dirname(path) in ln][0]
    assert "nouuid" not in line, line
    lh.unmount("xu")
    assert glob.glob(os.path.join(lh.lib, "loop", ".*")) == []


# ---- case 2: a mount racing a forced remove --------------------------------

def deleted_backings():
    return [(dev, b) for dev, b in loop_backings().items()
            if b.endswith("(deleted)") or ".img.gone" in b]


def test_image_in_use_through_a_device_of_another_host_is_not_mounted_again(lh):
    """Another host (here: a loop device and a mount the engine did not
    make, as a host sharing the volumePath would have) has the image's
    filesystem live: a mount here waits, then refuses; it neither binds a
    second device nor reuses that one."""
    lh.cli_ok("volume", "create", "--size", "1", "shared1")
    path = lh.mount("shared1")
    lh.unmount("shared1")
    img = image_of(lh, "shared1")
    dev = subprocess.run(["losetup", "-f", "--show", img], stdout=subprocess.PIPE, text=True,
                         check=True).stdout.strip()
    other = os.path.join(lh.root, "otherhost")
    os.makedirs(other)
    # the other host's mount, in a mount namespace of its own (this one
    # does not see it, as it would not see another machine's)
    holder = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                               "mount %s %s && echo up && exec sleep 60" % (dev, other)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "up"
        env = lh.env(LIBSTORAGE_DEVICE_ATTACHTIMEOUT="1s")
        p = lh.cli("volume", "mount", "shared1", env=env)
        assert p.returncode == 1 and "in use" in p.stderr and dev in p.stderr, p.stderr
        assert list(loops_under(lh.root)) == [dev], "a second device on the image"
        assert mounts_under(lh.root) == [], mounts_under(lh.root)
        # nor does a forced remove take the image from under it
        p = lh.cli("volume", "rm", "--force", "shared1")
        assert p.returncode == 1 and "its device %s is in use (mounted in another mount " \
            "namespace" % dev in p.stderr, p.stderr
        assert os.path.exists(img)
    finally:
        holder.kill()
        holder.wait()
        subprocess.run(["losetup", "-d", dev], check=False)
    assert lh.mount("shared1") == path
    lh.unmount("shared1")
    assert loops_under(lh.root) == {}


def test_mount_racing_a_forced_remove_never_lands_on_a_removed_image(lh):
    rounds = int(os.environ.get("RACE_ROUNDS", "40"))
    lh.start_service()
    rng = __import__("random").Random(22)
    outcomes = {"mounted": 0, "removed": 0, "both-then-new": 0}
    for i in range(rounds):
        lh.cli_ok("volume", "create", "--size", "1", "race")
        env = lh.env()
        mount = subprocess.Popen([REXRAY_BIN, "volume", "mount", "race"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        __import__("time").sleep(rng.uniform(0, 0.02))
        rm = subprocess.run([REXRAY_BIN, "volume", "rm", "--force", "race"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = mount.communicate(timeout=60)
        assert deleted_backings() == [], (i, deleted_backings(), err, rm.stderr)
        names = [v["name"] for v in lh.volumes_cli()]
        if mount.returncode == 0:
            path = out.strip()
            assert os.path.ismount(os.path.dirname(path)), (i, path)
            assert names == ["race"], (i, names, rm.returncode, rm.stderr)
            outcomes["mounted" if rm.returncode != 0 else "both-then-new"] += 1
            # what is mounted is the image of the volume that exists now
            img = image_of(lh, "race")
            assert [b for b in loops_under(lh.root).values()] == [img], (i, img)
            lh.unmount("race")
            lh.cli_ok("volume", "rm", "race")
        elif rm.returncode == 0:
            outcomes["removed"] += 1
            assert names == [], (i, names)
        else:
            # each saw the other half-way (the mount's device not yet given
            # back when the remove checked): both refuse, the volume stays
            # whole, and the remove then works
            assert "removed while it was being attached" in err, (i, err)
            assert names == ["race"], (i, names, rm.stderr)
            outcomes["both-refused"] = outcomes.get("both-refused", 0) + 1
            lh.cli_ok("volume", "rm", "race")
        assert loops_under(lh.root) == {}, i
        assert [m for m in mounts_under(lh.root)] == [], i
        assert glob.glob(os.path.join(lh.lib, "loop", "*")) == [], i
    print("race outcomes over %d rounds: %s" % (rounds, outcomes))


# ---- case 5: no forced remove deletes a mounted vfs volume ----------------

def test_forced_remove_of_a_mounted_vfs_volume_is_refused(home):
    path = home.cli_ok("volume", "mount", "vv").stdout.strip()
    with open(os.path.join(path, "keep"), "w") as f:
        f.write("precious")
    for args in (("volume", "rm", "vv"), ("volume", "rm", "--force", "vv")):
        p = home.cli(*args)
        assert p.returncode == 1, p
        assert "unmount" in p.stderr and "--force" not in p.stderr.split(";")[-1], p.stderr
    with open(os.path.join(path, "keep")) as f:
        assert f.read() == "precious"
    home.cli_ok("volume", "unmount", "vv")
    home.cli_ok("volume", "rm", "vv")
    assert not os.path.exists(path)


# ---- case 6: capacity you can trust -----------------------------------------

@pytest.fixture
def small_disk(lh):
    """loop.volumePath on a 1300 MiB filesystem of its own."""
    d = os.path.join(lh.root, "small")
    os.makedirs(d)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1300m", "rrsmall", d], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", d], check=False)


def test_creates_beyond_the_backing_store_are_refused(lh, small_disk):
    lh.write_config("loop:\n  volumePath: %s\n" % small_disk)
    lh.cli_ok("volume", "create", "--size", "1", "c1")
    p = lh.cli("volume", "create", "--size", "1", "c2")
    assert p.returncode == 1, p
    assert "cannot promise 1 GiB more" in p.stderr and "loop.overcommit" in p.stderr, p.stderr
    assert "promised 1.00 GiB" in p.stderr, p.stderr
    assert [v["name"] for v in lh.volumes_cli()] == ["c1"]
    # overcommit is a decision the operator makes, with the figures in hand
    lh.write_config("loop:\n  volumePath: %s\n  overcommit: 3\n" % small_disk)
    lh.cli_ok("volume", "create", "--size", "1", "c2")
    lh.cli_ok("volume", "create", "--size", "1", "c3")
    p = lh.cli("volume", "create", "--size", "2", "c4")
    assert p.returncode == 1 and "GiB" in p.stderr, p.stderr
    p = lh.cli("volume", "create", "--size", "1", "c4")
    assert p.returncode == 1, "3 x 1.27 GiB holds no fourth GiB"


def test_preallocated_images_hold_their_space(lh, small_disk):
    lh.write_config("loop:\n  volumePath: %s\n  preallocate: true\n" % small_disk)
    lh.cli_ok("volume", "create", "--size", "1", "pre")
    img = os.path.join(small_disk, lh.volume("pre")["id"] + ".img")
    assert os.stat(img).st_blocks * 512 >= 1 << 30
    p = lh.cli("volume", "create", "--size", "1", "pre2")
    assert p.returncode == 1, p


# ---- case 3: a stable identity -----------------------------------------------

def start_in_uts(lh, hostname):
    """The engine in a UTS namespace of its own, with its own hostname."""
    log = open(os.path.join(lh.root, "uts-%s.log" % hostname), "ab")
    proc = subprocess.Popen(["unshare", "--uts", "sh", "-c", 'hostname "$1" && shift && exec "$@"',
                             "sh", hostname, REXRAY_BIN, "service", "start", "-f"],
                            env=lh.env(), stdout=log, stderr=log, start_new_session=True)
    log.close()
    deadline = __import__("time").time() + 15
    while not os.path.exists(lh.sock):
        assert proc.poll() is None, open(os.path.join(lh.root, "uts-%s.log" % hostname)).read()
        assert __import__("time").time() < deadline, "the engine did not start"
        __import__("time").sleep(0.05)
    return proc


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(prereq.missing(commands=("unshare", "hostname")) is not None,
                    reason=str(prereq.missing(commands=("unshare", "hostname"))))
def test_a_hostname_change_does_not_fence_the_host_itself(lh):
    time = __import__("time")
    sock = os.path.join(lh.root, "p.sock")
    lh.write_config("libstorage:\n  client:\n    lease: 1s\nrexray:\n  modules:\n"
                    "    default-docker:\n      host: unix://%s\n" % sock)
    proc = start_in_uts(lh, "node1")
    try:
        path = lh.mount("ident")
        stop(proc)
        proc = start_in_uts(lh, "node1.example.com")
        writer = open(os.path.join(path, "log"), "w")
        for i in range(25):  # 2.5 s: two and a half leases
            writer.write("line %d\n" % i)
            writer.flush()
            os.fsync(writer.fileno())
            time.sleep(0.1)
        writer.close()
        assert os.path.ismount(os.path.dirname(path))
        logs = open(os.path.join(lh.root, "uts-node1.example.com.log")).read()
        assert "fence" not in logs, logs
        assert lh.volume("ident")["attachmentState"] == 2
        # an explicit new ID while the volume is mounted here is kept back
        stop(proc)
        lh.write_config("loop:\n  instanceID: renamed\nlibstorage:\n  client:\n    lease: 1s\n"
                        "rexray:\n  modules:\n    default-docker:\n      host: unix://%s\n"
                        % sock)
        proc = start_in_uts(lh, "node1.example.com")
        time.sleep(2.5)
        logs = open(os.path.join(lh.root, "uts-node1.example.com.log")).read()
        assert "keeping 'node1'" in logs and "fence" not in logs, logs
        assert os.path.ismount(os.path.dirname(path))
        lh.unmount("ident")
        assert loops_under(lh.root) == {}
    finally:
        stop(proc)


def test_a_remove_during_an_attach_wins(lh):
    """The image renamed away (what a remove does first) after the mount's
    attach bound a device to it: the attach notices, gives the device
    back, forgets it, and says why; with the image back, the mount works."""
    lh.cli_ok("volume", "create", "--size", "1", "race")
    img = image_of(lh, "race")
    p = run_paused(lh, ("volume", "mount", "race"), "loop.attach.after-device",
                   lambda: os.rename(img, img + ".aside"))
    assert p.returncode == 1 and "removed while it was being attached" in p.stderr, p.stderr
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []
    assert glob.glob(os.path.join(lh.run, "loop", "*")) == []
    os.rename(img + ".aside", img)
    lh.mount("race")
    lh.unmount("race")
    assert loops_under(lh.root) == {}
