"""Tests of plfs, the power-loss simulating FUSE filesystem (plfs.c).

Run from the repository root:  python3 -m pytest -q tests/powerloss/test_plfs.py
(Debian's python3 with python3-pytest; needs /dev/fuse and, to install
libfuse3-dev/fuse3 when missing, root.)

Each test mounts its own plfs over a fresh backing dir under /tmp and
tears it down (unmount, stop the process it started by PID, remove the
temp dirs) even when it fails.
"""

import ctypes
import errno
import mmap
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
STATUS_RE = re.compile(r"^undo_entries=(\d+) bytes=(\d+) drops=(\d+)\n$")

pytestmark = pytest.mark.skipif(
    not os.path.exists("/dev/fuse"), reason="no /dev/fuse on this machine"
)


@pytest.fixture(scope="session")
def plfs_bin():
    """plfs built by build.sh into a temp dir, removed after the session.
    PLFS_BIN=/path/to/plfs tests a ready binary instead (e.g. one built
    with CFLAGS=-fsanitize=address sh build.sh OUT)."""
    if os.environ.get("PLFS_BIN"):
        yield os.environ["PLFS_BIN"]
        return
    d = tempfile.mkdtemp(prefix="plfs-bin-", dir="/tmp")
    try:
        out = os.path.join(d, "plfs")
        r = subprocess.run(
            ["sh", os.path.join(HERE, "build.sh"), out],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )
        assert r.returncode == 0, "build.sh failed:\n" + r.stdout
        yield out
    finally:
        shutil.rmtree(d, ignore_errors=True)


class Mount:
    """One plfs process serving a temp backing dir at a temp mountpoint."""

    def __init__(self, binary):
        self.binary = binary
        self.backing = tempfile.mkdtemp(prefix="plfs-backing-", dir="/tmp")
        self.mnt = tempfile.mkdtemp(prefix="plfs-mnt-", dir="/tmp")
        fd, self.logpath = tempfile.mkstemp(prefix="plfs-log-", dir="/tmp")
        os.close(fd)
        self.proc = None

    def start(self, timeout=10.0):
        t0 = time.monotonic()
        with open(self.logpath, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, self.backing, self.mnt],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        # Ready once the virtual control file shows through the mount.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("plfs exited early:\n" + self.log())
            if os.path.ismount(self.mnt) and os.path.exists(self.ctlpath):
                self.startup = time.monotonic() - t0
                return
            time.sleep(0.01)
        raise AssertionError("plfs did not come up:\n" + self.log())

    @property
    def ctlpath(self):
        return os.path.join(self.mnt, ".plfs-ctl")

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def ctl(self, cmd):
        fd = os.open(self.ctlpath, os.O_WRONLY)
        try:
            os.write(fd, cmd.encode())
        finally:
            os.close(fd)

    def drop(self):
        self.ctl("drop")

    def status_line(self):
        with open(self.ctlpath) as f:
            return f.read()

    def status(self):
        m = STATUS_RE.match(self.status_line())
        assert m, self.status_line()
        return {
            "undo_entries": int(m.group(1)),
            "bytes": int(m.group(2)),
            "drops": int(m.group(3)),
        }

    def trash(self):
        return sorted(os.listdir(os.path.join(self.backing, ".plfs-trash")))

    def unmount(self):
        if os.path.ismount(self.mnt):
            r = subprocess.run(["fusermount3", "-u", self.mnt],
                               capture_output=True)
            if r.returncode != 0:
                subprocess.run(["umount", "-l", self.mnt],
                               capture_output=True)

    def stop(self):
        """Unmount, then make sure the process we started is gone."""
        try:
            self.unmount()
        finally:
            if self.proc is not None and self.proc.poll() is None:
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()  # by the PID we started
                    self.proc.wait(timeout=10)
            if os.path.ismount(self.mnt):
                subprocess.run(["umount", "-l", self.mnt],
                               capture_output=True)

    def cleanup(self):
        shutil.rmtree(self.backing, ignore_errors=True)
        try:
            os.rmdir(self.mnt)
        except OSError:
            pass
        try:
            os.unlink(self.logpath)
        except OSError:
            pass


@pytest.fixture
def fs(plfs_bin):
    m = Mount(plfs_bin)
    try:
        m.start()
        yield m
    finally:
        try:
            m.stop()
        finally:
            log = m.log()
            print("plfs log:\n" + log)  # shown when the test fails
            m.cleanup()
    # A clean unmount ends plfs with 0 (a crash, a kill or a sanitizer
    # report would not).
    assert m.proc.returncode == 0, log
    assert "undo" not in log, log  # every undo step worked


# ---------------------------------------------------------------- helpers


def read(path):
    with open(path, "rb") as f:
        return f.read()


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path, data, sync=False):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def durable_file(fs, name, data):
    """A file whose name and contents are both durable."""
    write_file(fs.path(name), data, sync=True)
    fsync_dir(os.path.dirname(fs.path(name)))


def pwrite(path, data, off, sync=False):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, off)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------- a. file data


def test_fsynced_write_survives_drop(fs):
    p = fs.path("f")
    durable_file(fs, "f", b"old contents")
    pwrite(p, b"NEW", 0, sync=True)
    assert fs.status()["undo_entries"] == 0
    fs.drop()
    assert read(p) == b"NEW contents"


def test_fdatasync_counts_as_durable(fs):
    p = fs.path("f")
    durable_file(fs, "f", b"0123456789")
    fd = os.open(p, os.O_WRONLY)
    try:
        os.pwrite(fd, b"abc", 8)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    fs.drop()
    assert read(p) == b"01234567abc"


def test_unsynced_write_is_undone(fs):
    p = fs.path("f")
    durable_file(fs, "f", b"hello world")
    pwrite(p, b"WORLD, and more", 6)
    # A running system sees the write at once.
    assert read(p) == b"hello WORLD, and more"
    st = fs.status()
    assert st["undo_entries"] == 1
    assert st["bytes"] == 5  # only the old bytes 6..11 needed saving
    fs.drop()
    assert read(p) == b"hello world"
    assert os.stat(p).st_size == 11
    assert fs.status()["undo_entries"] == 0


def test_only_writes_after_last_fsync_are_undone(fs):
    p = fs.path("f")
    durable_file(fs, "f", b"A" * 8192)
    pwrite(p, b"B" * 100, 100, sync=True)  # durable
    pwrite(p, b"C" * 100, 150)  # not durable, overlaps the durable write
    pwrite(p, b"D" * 10, 5000)
    pwrite(p, b"E" * 10, 1 << 20)  # sparse growth
    assert os.stat(p).st_size == (1 << 20) + 10
    fs.drop()
    want = bytearray(b"A" * 8192)
    want[100:200] = b"B" * 100
    assert read(p) == bytes(want)


def test_close_and_flush_are_not_durable(fs):
    p = fs.path("f")
    durable_file(fs, "f", b"before")
    with open(p, "r+b") as f:
        f.write(b"AFTER!")
        f.flush()
    fs.drop()
    assert read(p) == b"before"


def test_unsynced_truncate_is_undone(fs):
    p = fs.path("f")
    durable_file(fs, "f", b"0123456789" * 100)
    os.truncate(p, 3)
    assert os.stat(p).st_size == 3
    fs.drop()
    assert read(p) == b"0123456789" * 100


def test_unsynced_grow_and_otrunc_are_undone(fs):
    p = fs.path("f")
    durable_file(fs, "f", b"payload")
    os.truncate(p, 4096)
    fs.drop()
    assert read(p) == b"payload"
    with open(p, "wb") as f:  # O_TRUNC, then new contents
        f.write(b"replaced entirely")
    assert read(p) == b"replaced entirely"
    fs.drop()
    assert read(p) == b"payload"


def test_fsynced_truncate_survives(fs):
    p = fs.path("f")
    durable_file(fs, "f", b"0123456789")
    fd = os.open(p, os.O_RDWR)
    try:
        os.ftruncate(fd, 4)
        os.fsync(fd)
    finally:
        os.close(fd)
    fs.drop()
    assert read(p) == b"0123"


def test_fallocate_growth_is_undone(fs):
    p = fs.path("f")
    durable_file(fs, "f", b"abc")
    fd = os.open(p, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, 65536)
    finally:
        os.close(fd)
    assert os.stat(p).st_size == 65536
    fs.drop()
    assert read(p) == b"abc"


def test_random_data_ops_match_a_model(fs):
    """Random writes, truncates and fsyncs on a few durable files; after
    each drop every file must hold exactly its contents at its last
    fsync."""
    rng = random.Random(1234)
    names = ["r%d" % i for i in range(4)]
    durable, current = {}, {}
    for n in names:
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(20000)))
        durable_file(fs, n, data)
        durable[n] = current[n] = data
    for step in range(400):
        n = rng.choice(names)
        p = fs.path(n)
        op = rng.random()
        if op < 0.6:
            off = rng.randrange(len(current[n]) + 9000)
            data = bytes([rng.randrange(256)]) * rng.randrange(1, 9000)
            pwrite(p, data, off)
            cur = bytearray(current[n])
            if off > len(cur):
                cur.extend(b"\0" * (off - len(cur)))
            cur[off:off + len(data)] = data
            current[n] = bytes(cur)
        elif op < 0.8:
            size = rng.randrange(len(current[n]) + 9000)
            os.truncate(p, size)
            cur = current[n][:size]
            current[n] = cur + b"\0" * (size - len(cur))
        elif op < 0.95:
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            durable[n] = current[n]
        else:
            fs.drop()
            current = dict(durable)
        if step % 50 == 0 or op >= 0.95:
            for m in names:
                assert read(fs.path(m)) == current[m], (step, m)
    fs.drop()
    for m in names:
        assert read(fs.path(m)) == durable[m], m


# ----------------------------------------------------- b. new names


def test_new_file_without_dir_fsync_disappears(fs):
    p = fs.path("new")
    write_file(p, b"synced data", sync=True)
    assert read(p) == b"synced data"
    fs.drop()
    assert not os.path.exists(p)
    assert os.listdir(fs.mnt) == [".plfs-ctl"]


def test_new_file_with_dir_fsync_survives_with_synced_data(fs):
    p = fs.path("new")
    write_file(p, b"synced data", sync=True)
    fsync_dir(fs.mnt)
    with open(p, "ab") as f:
        f.write(b" + unsynced tail")
    fs.drop()
    assert read(p) == b"synced data"


def test_new_file_named_but_data_unsynced_is_empty(fs):
    p = fs.path("new")
    write_file(p, b"never synced")
    fsync_dir(fs.mnt)
    fs.drop()
    assert os.path.exists(p)
    assert read(p) == b""


def test_subdirectory_needs_parent_fsync(fs):
    d = fs.path("d")
    os.mkdir(d)
    write_file(os.path.join(d, "f"), b"x", sync=True)
    fsync_dir(d)  # f's name is durable in d, but d's is not in the root
    fs.drop()
    assert not os.path.exists(d)

    os.mkdir(d)
    fsync_dir(fs.mnt)
    write_file(os.path.join(d, "f"), b"y", sync=True)
    fsync_dir(d)
    fs.drop()
    assert read(os.path.join(d, "f")) == b"y"


def test_fsync_of_other_directory_does_not_help(fs):
    os.mkdir(fs.path("a"))
    os.mkdir(fs.path("b"))
    fsync_dir(fs.mnt)
    write_file(fs.path("a", "f"), b"x", sync=True)
    fsync_dir(fs.path("b"))
    fs.drop()
    assert os.path.isdir(fs.path("a"))
    assert not os.path.exists(fs.path("a", "f"))


# ------------------------------------------------- c. unlink and rename


def test_unlink_without_dir_fsync_is_undone(fs):
    p = fs.path("f")
    durable_file(fs, "f", b"durable")
    pwrite(p, b"XXXXXXXXXXXX", 0)  # unsynced change before the unlink
    os.unlink(p)
    assert not os.path.exists(p)
    assert ".plfs-trash" not in os.listdir(fs.mnt)
    assert len(fs.trash()) == 1
    fs.drop()
    assert read(p) == b"durable"
    assert fs.trash() == []


def test_unlink_with_dir_fsync_is_durable(fs):
    p = fs.path("f")
    durable_file(fs, "f", b"durable")
    os.unlink(p)
    fsync_dir(fs.mnt)
    assert fs.trash() == []  # really deleted once durable
    fs.drop()
    assert not os.path.exists(p)


def test_unlink_of_open_file(fs):
    p = fs.path("f")
    durable_file(fs, "f", b"durable")
    fd = os.open(p, os.O_RDWR)
    try:
        os.unlink(p)
        os.pwrite(fd, b"still writable", 0)
        assert os.pread(fd, 100, 0) == b"still writable"
        assert os.fstat(fd).st_size == 14
    finally:
        os.close(fd)
    fs.drop()
    assert read(p) == b"durable"


def test_rename_without_dir_fsync_is_undone_with_target(fs):
    a, b = fs.path("a"), fs.path("b")
    durable_file(fs, "a", b"AAA")
    durable_file(fs, "b", b"BBB")
    os.rename(a, b)
    assert not os.path.exists(a)
    assert read(b) == b"AAA"
    fs.drop()
    assert read(a) == b"AAA"
    assert read(b) == b"BBB"
    assert fs.trash() == []


def test_rename_over_open_target(fs):
    """libfuse hides an open target (.fuse_hidden*) before the rename."""
    a, b = fs.path("a"), fs.path("b")
    durable_file(fs, "a", b"AAA")
    durable_file(fs, "b", b"BBB")
    fd = os.open(b, os.O_RDONLY)
    try:
        os.rename(a, b)
        assert os.fstat(fd).st_size == 3
        assert os.pread(fd, 3, 0) == b"BBB"
        assert sorted(os.listdir(fs.mnt)) == [".plfs-ctl", "b"]
    finally:
        os.close(fd)
    assert read(b) == b"AAA"
    fs.drop()
    assert read(a) == b"AAA"
    assert read(b) == b"BBB"
    assert fs.trash() == []


def test_rename_with_dir_fsync_is_durable(fs):
    a, b = fs.path("a"), fs.path("b")
    durable_file(fs, "a", b"AAA")
    durable_file(fs, "b", b"BBB")
    os.rename(a, b)
    fsync_dir(fs.mnt)
    assert fs.trash() == []
    fs.drop()
    assert not os.path.exists(a)
    assert read(b) == b"AAA"


def test_atomic_replace_pattern(fs):
    """write tmp, fsync tmp, rename over, fsync dir: the classic recipe."""
    target = fs.path("config")
    durable_file(fs, "config", b"v1")
    write_file(fs.path("config.tmp"), b"v2", sync=True)
    os.rename(fs.path("config.tmp"), target)
    fs.drop()  # power lost before the directory fsync
    assert read(target) == b"v1"
    assert not os.path.exists(fs.path("config.tmp"))

    write_file(fs.path("config.tmp"), b"v2", sync=True)
    os.rename(fs.path("config.tmp"), target)
    fsync_dir(fs.mnt)
    fs.drop()
    assert read(target) == b"v2"


def test_cross_directory_rename_needs_both_dirs(fs):
    os.mkdir(fs.path("d1"))
    os.mkdir(fs.path("d2"))
    fsync_dir(fs.mnt)
    durable_file(fs, "d1/x", b"X")
    os.rename(fs.path("d1", "x"), fs.path("d2", "x"))
    fsync_dir(fs.path("d2"))
    fs.drop()
    assert read(fs.path("d1", "x")) == b"X"
    assert not os.path.exists(fs.path("d2", "x"))

    os.rename(fs.path("d1", "x"), fs.path("d2", "x"))
    fsync_dir(fs.path("d2"))
    fsync_dir(fs.path("d1"))
    fs.drop()
    assert read(fs.path("d2", "x")) == b"X"
    assert not os.path.exists(fs.path("d1", "x"))


def renameat2(src, dst, flags):
    """renameat2(2) through libc; returns 0 or the errno."""
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD = -100
    r = libc.renameat2(AT_FDCWD, os.fsencode(src), AT_FDCWD,
                       os.fsencode(dst), ctypes.c_uint(flags))
    return 0 if r == 0 else ctypes.get_errno()


def test_rename_noreplace_and_exchange_flags(fs):
    RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
    durable_file(fs, "a", b"A")
    durable_file(fs, "b", b"B")
    assert renameat2(fs.path("a"), fs.path("b"),
                     RENAME_NOREPLACE) == errno.EEXIST
    assert renameat2(fs.path("a"), fs.path("b"),
                     RENAME_EXCHANGE) == errno.EINVAL
    assert read(fs.path("a")) == b"A" and read(fs.path("b")) == b"B"
    assert renameat2(fs.path("a"), fs.path("c"), RENAME_NOREPLACE) == 0
    assert read(fs.path("c")) == b"A"
    fs.drop()
    assert read(fs.path("a")) == b"A"
    assert not os.path.exists(fs.path("c"))


def test_mkdir_and_rmdir_are_undone(fs):
    keep = fs.path("keep")
    os.mkdir(keep)
    fsync_dir(fs.mnt)
    os.rmdir(keep)
    assert not os.path.exists(keep)
    os.mkdir(fs.path("tmpdir"))
    write_file(fs.path("tmpdir", "f"), b"x", sync=True)
    os.symlink("keep", fs.path("link"))
    os.link(fs.path("tmpdir", "f"), fs.path("hard"))
    fs.drop()
    assert os.path.isdir(keep)
    assert not os.path.exists(fs.path("tmpdir"))
    assert not os.path.lexists(fs.path("link"))
    assert not os.path.exists(fs.path("hard"))
    assert sorted(os.listdir(fs.mnt)) == [".plfs-ctl", "keep"]


def test_durably_removed_directory_and_a_new_one(fs):
    """Changes pending inside a directory that is then removed for good
    are dropped quietly; a new directory (maybe with the old inode
    number) keeps its own undo entries."""
    os.mkdir(fs.path("d"))
    write_file(fs.path("d", "f"), b"x")
    os.unlink(fs.path("d", "f"))
    os.rmdir(fs.path("d"))
    fsync_dir(fs.mnt)  # mkdir d and rmdir d durable; d's inside is not
    for i in range(5):
        os.mkdir(fs.path("n%d" % i))
        write_file(fs.path("n%d" % i, "g"), b"y", sync=True)
    fsync_dir(fs.mnt)
    fs.drop()
    assert sorted(os.listdir(fs.mnt)) == [".plfs-ctl"] + [
        "n%d" % i for i in range(5)]
    assert all(os.listdir(fs.path("n%d" % i)) == [] for i in range(5))
    assert fs.trash() == []


def test_rmdir_of_nonempty_dir_fails(fs):
    os.mkdir(fs.path("d"))
    write_file(fs.path("d", "f"), b"x")
    with pytest.raises(OSError) as e:
        os.rmdir(fs.path("d"))
    assert e.value.errno == errno.ENOTEMPTY
    assert fs.trash() == []


def test_shared_mmap_writes_reach_plfs(fs):
    p = fs.path("m")
    durable_file(fs, "m", b"\0" * 8192)
    fd = os.open(p, os.O_RDWR)
    try:
        with mmap.mmap(fd, 8192, mmap.MAP_SHARED) as mm:
            mm[0:5] = b"first"
            mm.flush()  # msync(MS_SYNC) is an fsync on Linux: durable
            mm[4096:4102] = b"second"  # dirty page, not synced
        assert os.pread(fd, 6, 4096) == b"second"
    finally:
        os.close(fd)  # close writes the dirty page back through plfs
    # The kernel writes back whole pages: the old page 2 got saved.
    assert fs.status() == {"undo_entries": 1, "bytes": 4096, "drops": 0}
    fs.drop()
    data = read(p)
    assert data[0:5] == b"first"
    assert data[4096:4102] == b"\0" * 6


def snapshot(root):
    """{relative path: file bytes, symlink target or None for a dir}."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            out[os.path.relpath(p, root)] = (
                ("link", os.readlink(p)) if os.path.islink(p) else None)
        for f in filenames:
            p = os.path.join(dirpath, f)
            rel = os.path.relpath(p, root)
            if rel == ".plfs-ctl":
                continue
            out[rel] = (("link", os.readlink(p)) if os.path.islink(p)
                        else read(p))
    return out


def random_namespace_ops(fs, rng, count):
    """Random creates, writes, unlinks, renames, mkdirs, rmdirs, links and
    symlinks, none followed by a directory fsync."""
    for _ in range(count):
        tree = snapshot(fs.mnt)
        dirs = [""] + [p for p, v in tree.items() if v is None]
        files = [p for p, v in tree.items() if isinstance(v, bytes)]
        anyp = list(tree)
        newname = os.path.join(rng.choice(dirs), "n%d" % rng.randrange(50))
        op = rng.randrange(9)
        try:
            if op == 0:
                write_file(fs.path(newname), b"new%d" % rng.randrange(99),
                           sync=rng.random() < 0.5)
            elif op == 1 and files:
                pwrite(fs.path(rng.choice(files)), b"XYZ", rng.randrange(9))
            elif op == 2 and files:
                os.unlink(fs.path(rng.choice(files)))
            elif op == 3 and anyp:
                os.rename(fs.path(rng.choice(anyp)), fs.path(newname))
            elif op == 4:
                os.mkdir(fs.path(newname))
            elif op == 5 and len(dirs) > 1:
                os.rmdir(fs.path(rng.choice(dirs[1:])))
            elif op == 6 and files:
                os.link(fs.path(rng.choice(files)), fs.path(newname))
            elif op == 7:
                os.symlink("target%d" % rng.randrange(9), fs.path(newname))
            elif op == 8 and files:
                os.truncate(fs.path(rng.choice(files)), rng.randrange(9))
        except OSError:
            pass  # ENOTEMPTY, EEXIST, EINVAL (dir into itself), ...


def test_random_namespace_ops_are_all_undone(fs):
    rng = random.Random(99)
    os.makedirs(fs.path("a", "b"))
    os.mkdir(fs.path("c"))
    for name in ("f1", "a/f2", "a/b/f3", "c/f4"):
        write_file(fs.path(name), name.encode() * 3, sync=True)
    os.symlink("f1", fs.path("s1"))
    for d in ("", "a", "a/b", "c"):
        fsync_dir(fs.path(d))
    before = snapshot(fs.mnt)
    for _ in range(8):
        random_namespace_ops(fs, rng, 40)
        assert snapshot(fs.mnt) != before
        fs.drop()
        assert snapshot(fs.mnt) == before
        assert fs.trash() == []
        assert fs.status()["undo_entries"] == 0


# ------------------------------------------------------------ d. SQLite


def sqlite_rows(dbpath, sync, n, start=0):
    con = sqlite3.connect(dbpath, isolation_level=None)
    try:
        mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        assert mode == "wal"
        con.execute("PRAGMA synchronous=%s" % sync)
        con.execute("CREATE TABLE IF NOT EXISTS t"
                    "(id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        for i in range(start, start + n):
            con.execute("BEGIN")
            con.execute("INSERT INTO t(id, v) VALUES (?, ?)",
                        (i, "row-%d-" % i + "x" * (i % 300)))
            con.execute("COMMIT")
    finally:
        con.close()


def sqlite_check(dbpath):
    """(integrity_check result, ids present or None without table t)."""
    con = sqlite3.connect(dbpath, isolation_level=None)
    try:
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        has_t = con.execute("SELECT count(*) FROM sqlite_master "
                            "WHERE name='t'").fetchone()[0]
        ids = None
        if has_t:
            ids = [r[0] for r in con.execute("SELECT id FROM t ORDER BY id")]
        return ok, ids
    finally:
        con.close()


def test_sqlite_wal_synchronous_full_keeps_every_commit(fs):
    db = fs.path("state.db")
    sqlite_rows(db, "FULL", 200)
    fs.drop()
    ok, ids = sqlite_check(db)
    assert ok == "ok"
    assert ids == list(range(200))
    # Again on the recovered database, with a second drop.
    sqlite_rows(db, "FULL", 50, start=200)
    fs.drop()
    ok, ids = sqlite_check(db)
    assert ok == "ok"
    assert ids == list(range(250))
    assert fs.status()["drops"] == 2


def test_sqlite_wal_synchronous_off_still_opens(fs):
    db = fs.path("state.db")
    sqlite_rows(db, "OFF", 200)
    fs.drop()
    ok, ids = sqlite_check(db)
    assert ok == "ok"
    # Loss is allowed (nothing was fsynced); what is left must be a prefix.
    assert ids is None or ids == list(range(len(ids)))
    print("synchronous=OFF: %s of 200 rows survived"
          % (0 if ids is None else len(ids)))


WRITER = r"""
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA synchronous=" + sys.argv[3])
con.execute("PRAGMA mmap_size=1048576")
con.execute("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)")
for i in range(int(sys.argv[2])):
    con.execute("BEGIN")
    con.execute("INSERT INTO t VALUES (?, ?)", (i, "v%d" % i * 20))
    con.execute("COMMIT")
    print(i, flush=True)
print("done", flush=True)
time.sleep(600)
"""


def run_killed_writer(db, sync, n):
    """Commit n rows in a child, SIGKILL it with the database open (no
    checkpoint, no close); returns the last id it reported committed."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, db, str(n), sync],
                            stdout=subprocess.PIPE, text=True)
    try:
        committed = -1
        for line in proc.stdout:
            if line.strip() == "done":
                break
            committed = int(line)
        assert os.path.exists(db + "-wal") and os.path.exists(db + "-shm")
    finally:
        proc.send_signal(signal.SIGKILL)  # the PID we started
        proc.wait(timeout=30)
        proc.stdout.close()
    return committed


def test_sqlite_wal_killed_writer_keeps_every_commit(fs):
    """The daemon case: the writer dies (SIGKILL) with the database open
    and nothing checkpointed, then the power goes."""
    db = fs.path("state.db")
    assert run_killed_writer(db, "FULL", 300) == 299
    fs.drop()
    ok, ids = sqlite_check(db)
    assert ok == "ok"
    assert ids == list(range(300))


def test_sqlite_wal_synchronous_normal_loses_commits(fs):
    """plfs has teeth: in WAL mode synchronous=NORMAL does not fsync at
    commit, so unless a checkpoint ran, a power loss takes the commits
    (here even the database file: SQLite fsyncs the directory only at the
    first sync of its WAL)."""
    db = fs.path("state.db")
    assert run_killed_writer(db, "NORMAL", 100) == 99
    fs.drop()
    ok, ids = sqlite_check(db)
    assert ok == "ok"
    assert ids is None or len(ids) < 100


def test_sqlite_two_processes_share_the_wal_index(fs):
    """A reader in this process must see each commit of a writer process
    at once: the -shm file, mmap'd by both, stays coherent through plfs."""
    db = fs.path("state.db")
    sqlite_rows(db, "FULL", 0)  # the table, in WAL mode
    reader = sqlite3.connect(db, isolation_level=None)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, db, "150", "FULL"],
                            stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.strip() == "done":
                break
            i = int(line)
            got = reader.execute("SELECT count(*) FROM t WHERE id=?",
                                 (i,)).fetchone()[0]
            assert got == 1, i
        assert i == 149
    finally:
        proc.send_signal(signal.SIGKILL)  # the PID we started
        proc.wait(timeout=30)
        proc.stdout.close()
        reader.close()
    fs.drop()
    ok, ids = sqlite_check(db)
    assert ok == "ok"
    assert ids == list(range(150))


# --------------------------------------------------- e. control file


def test_ctl_status_counts_drops(fs):
    line = fs.status_line()
    assert STATUS_RE.match(line), line
    assert fs.status() == {"undo_entries": 0, "bytes": 0, "drops": 0}
    durable_file(fs, "f", b"data")
    pwrite(fs.path("f"), b"DA", 0)
    assert fs.status() == {"undo_entries": 1, "bytes": 2, "drops": 0}
    fs.ctl("sync\n")  # like: echo sync > .plfs-ctl
    assert fs.status() == {"undo_entries": 0, "bytes": 0, "drops": 0}
    fs.drop()
    assert read(fs.path("f")) == b"DAta"
    fs.drop()
    assert fs.status()["drops"] == 2
    with pytest.raises(OSError) as e:
        fs.ctl("bogus")
    assert e.value.errno == errno.EINVAL
    assert fs.status()["drops"] == 2


def test_ctl_through_buffered_open_for_writing(fs):
    """open(ctl, "w") truncates first and writes at close."""
    with open(fs.ctlpath, "w") as f:
        f.write("drop")
    with open(fs.ctlpath) as f:
        assert f.read() == "undo_entries=0 bytes=0 drops=1\n"
    subprocess.run("echo drop > " + fs.ctlpath, shell=True, check=True)
    assert fs.status()["drops"] == 2


def test_ctl_listed_and_trash_hidden(fs):
    assert os.listdir(fs.mnt) == [".plfs-ctl"]
    assert os.path.isdir(os.path.join(fs.backing, ".plfs-trash"))
    with pytest.raises(FileNotFoundError):
        os.stat(fs.path(".plfs-trash"))
    with pytest.raises(OSError):
        os.mkdir(fs.path(".plfs-trash"))
    with pytest.raises(OSError):
        os.unlink(fs.ctlpath)


def test_stale_handle_fails_after_drop(fs):
    durable_file(fs, "f", b"data")
    fd = os.open(fs.path("f"), os.O_RDWR)
    try:
        fs.drop()
        with pytest.raises(OSError) as e:
            os.pwrite(fd, b"zombie", 0)
        assert e.value.errno == errno.EIO
    finally:
        os.close(fd)
    assert read(fs.path("f")) == b"data"


# ------------------------------------------------------------ lifecycle


def test_sigterm_unmounts_and_unmount_is_a_clean_shutdown(plfs_bin):
    m = Mount(plfs_bin)
    try:
        m.start()
        durable_file(m, "f", b"x")
        os.unlink(m.path("f"))  # pending: the trash holds f
        assert len(m.trash()) == 1
        m.proc.send_signal(signal.SIGTERM)  # the PID we started
        assert m.proc.wait(timeout=10) == 0
        assert not os.path.ismount(m.mnt)
        assert m.trash() == []
        assert os.listdir(m.backing) == [".plfs-trash"]
    finally:
        try:
            m.stop()
        finally:
            m.cleanup()
