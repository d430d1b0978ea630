"""Safe preempt (issue 23): a preempted host stops writing before the new
host mounts. A server and two agents in network namespaces share one
loop.volumePath (the Lab of test_multihost.py). A writer inside host A's
mount namespace holds a file open on the volume and writes numbered,
timestamped 512-byte records with O_DIRECT|O_DSYNC every 5 ms; host B then
takes the volume with mount.preempt. Everything is checked offline, after
every engine stopped: the records in the file and anywhere in the image's
bytes, e2fsck, B's file."""

import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import loops_under
from test_multihost import IP, _MISSING, call, lab, server_state, sh, wait_for  # noqa: F401

pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))

MAGIC = b"RRPREEMPT-REC\0\0\0"  # 16 bytes
REC = struct.Struct("<16sQQ")   # magic, sequence, CLOCK_MONOTONIC ns when issued

WRITER = r'''
import mmap, os, struct, sys, time
path, log = sys.argv[1], sys.argv[2]
REC = struct.Struct("<16sQQ")
buf = mmap.mmap(-1, 512)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_DIRECT | os.O_DSYNC, 0o644)
out = open(log, "w", buffering=1)
seq = 0
while True:
    issued = time.monotonic_ns()
    buf.seek(0)
    buf.write(REC.pack(b"RRPREEMPT-REC\0\0\0", seq, issued).ljust(512, b"\0"))
    try:
        os.pwrite(fd, buf, seq * 512)
    except OSError as e:
        out.write("err %d %d %d\n" % (seq, e.errno, time.monotonic_ns()))
        sys.exit(0)
    out.write("ack %d %d %d\n" % (seq, issued, time.monotonic_ns()))
    seq += 1
    time.sleep(0.005)
'''


class Writer:
    """The writer, run in an engine's mount namespace (nsenter), logging
    each acknowledged record to a file outside the volume."""

    def __init__(self, lab, engine, path):
        script = os.path.join(lab.root, "writer.py")
        with open(script, "w") as f:
            f.write(WRITER)
        self.log = os.path.join(lab.root, "writer-%s.log" % engine.name)
        self.proc = subprocess.Popen(["nsenter", "-t", str(engine.proc.pid), "-m", "--",
                                      sys.executable, script, path, self.log],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def lines(self):
        try:
            with open(self.log) as f:
                return [line.split() for line in f if line.endswith("\n")]
        except FileNotFoundError:
            return []

    def acks(self):
        return [(int(x[1]), int(x[2]), int(x[3])) for x in self.lines() if x[0] == "ack"]

    def failed(self):
        return [x for x in self.lines() if x[0] == "err"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def records_in(data):
    """(sequence, issued) of every record found in data."""
    out, i = [], data.find(MAGIC)
    while i >= 0:
        if i + REC.size <= len(data):
            _, seq, issued = REC.unpack_from(data, i)
            out.append((seq, issued))
        i = data.find(MAGIC, i + 1)
    return out


def image_of(lab, name):
    vid = server_state(lab, name)["id"]
    return os.path.join(lab.shared, vid + ".img")


def offline_check(image, b_file_digest, fstype="ext4"):
    """The image after everything stopped: e2fsck -fn (xfs_repair -n) clean,
    the record file and B's file as the next mount sees them, and every
    record in the raw bytes."""
    assert not loops_under(os.path.dirname(image)), "a loop device was left"
    check = ["e2fsck", "-fn", image] if fstype == "ext4" else ["xfs_repair", "-n", "-f", image]
    p = subprocess.run(check, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert p.returncode == 0, p.stdout
    with open(image, "rb") as f:
        raw = records_in(f.read())
    dev = sh("losetup", "-f", "--show", "-r", image).stdout.strip()
    mnt = tempfile.mkdtemp(prefix="rrpre")
    try:
        sh("mount", "-o", "ro,noload" if fstype == "ext4" else "ro,norecovery", dev, mnt)
        try:
            data = os.path.join(mnt, "data")
            with open(os.path.join(data, "a.rec"), "rb") as f:
                in_file = records_in(f.read())
            with open(os.path.join(data, "b.dat"), "rb") as f:
                assert hashlib.sha256(f.read()).hexdigest() == b_file_digest, "B's file"
        finally:
            sh("umount", mnt)
    finally:
        sh("losetup", "-d", dev, check=False)
        os.rmdir(mnt)
    return in_file, raw


def start_writing(lab, name, lease, server_lease=None, fstype="ext4"):
    """The server, A (no preempt) and B (preempt); A mounts name and its
    writer has written 50 records. Returns (server, A, B, writer)."""
    srv = lab.server(lease=server_lease).start()
    a = lab.agent("hosta", 1, preempt=False, lease=lease, fstype=fstype).start()
    b = lab.agent("hostb", 2, preempt=True, lease=lease, fstype=fstype).start()
    for e in (a, b):
        e.wait_file(e.sock)
    st, r = call(a.sock, "Mount", {"Name": name, "ID": "ctr-a"})
    assert st == 200, r
    w = Writer(lab, a, os.path.join(r["Mountpoint"], "a.rec"))
    wait_for(lambda: len(w.acks()) >= 50, 15, "the writer on A to write 50 records")
    return srv, a, b, w


def write_blob(engine, mountpoint, size):
    """size random bytes written and fsynced as b.dat; their SHA-256."""
    blob = os.urandom(size)
    with open(engine.path_in(mountpoint, "b.dat"), "wb") as f:
        f.write(blob)
        f.flush()
        os.fsync(f.fileno())
    return hashlib.sha256(blob).hexdigest()


def run_trial(lab, cut_link, agent_lease="1s", server_lease=None, fstype="ext4"):
    """The trial of the issue. Returns (B's mount latency in s, acks, file
    records, raw records, B's mount return time in monotonic ns)."""
    srv, a, b, w = start_writing(lab, "pre1", agent_lease, server_lease, fstype)
    try:
        if cut_link:
            sh(IP, "-n", lab.ns["a"], "link", "set", "ra1%s" % lab.tag, "down")
        t0 = time.monotonic_ns()
        st, r = call(b.sock, "Mount", {"Name": "pre1", "ID": "ctr-b"})
        t_b = time.monotonic_ns()
        assert st == 200, (r, srv.logs())
        digest = write_blob(b, r["Mountpoint"], 1 << 20)
        # A's writer was cut off before B's mount returned
        wait_for(lambda: w.proc.poll() is not None, 10, "A's writer to fail")
        assert w.failed() and int(w.failed()[0][2]) == 5, w.lines()[-3:]  # EIO
        if cut_link:
            sh(IP, "-n", lab.ns["a"], "link", "set", "ra1%s" % lab.tag, "up")
            time.sleep(2.5)  # A is back on the network: nothing of it writes again
            assert not a.mounted(os.path.dirname(r["Mountpoint"]))
            assert len(loops_under(lab.root)) == 1, "A kept its loop device"
            st2, r2 = call(a.sock, "Mount", {"Name": "pre1", "ID": "ctr-a2"})
            assert st2 == 500 and "another host" in r2["Err"], r2
        st, r = call(b.sock, "Unmount", {"Name": "pre1", "ID": "ctr-b"})
        assert st == 200, r
        image = image_of(lab, "pre1")
    finally:
        w.stop()
    acks = w.acks()
    for e in reversed(lab.engines):
        e.stop()
    in_file, raw = offline_check(image, digest, fstype)
    return (t_b - t0) / 1e9, acks, in_file, raw, t_b


def check_no_overlap(acks, in_file, raw, t_b):
    assert acks, "the writer acknowledged nothing"
    # no record of A issued after B's mount returned, in the file or anywhere
    assert all(issued < t_b for _, issued in raw), "a record of A issued after B's mount"
    assert all(t_ack < t_b for _, _, t_ack in acks), "A was told a write succeeded after B mounted"
    # every write acknowledged to A is in the file, as written
    have, anywhere = dict(in_file), dict(raw)
    for seq, issued, _ in acks:
        assert have.get(seq) == issued, (
            "acknowledged record %d is missing from the file (%d records in it, last %s; in "
            "the image's bytes: %s)" % (seq, len(in_file), max(have) if have else None,
                                        anywhere.get(seq) == issued))


@pytest.mark.parametrize("lease,fstype", [("1s", "ext4"), ("15s", "ext4"), ("1s", "xfs")])
def test_preempt_waits_for_the_old_host_to_fence(lab, lease, fstype):
    if fstype == "xfs" and not shutil.which("mkfs.xfs"):
        pytest.skip("needs xfsprogs (mkfs.xfs, xfs_repair)")
    took, acks, in_file, raw, t_b = run_trial(lab, cut_link=False, agent_lease=lease,
                                              fstype=fstype)
    check_no_overlap(acks, in_file, raw, t_b)
    # A was reachable: it fenced at once, B did not wait for the lease
    assert took < 2.0, took
    print("\npreempt latency, A cooperative, %s, lease %s: %.3f s (%d records acknowledged "
          "to A)" % (fstype, lease, took, len(acks)))


@pytest.mark.parametrize("lease", ["1s", "15s"])
def test_preempt_of_a_partitioned_host_waits_one_lease(lab, lease):
    secs = float(lease.rstrip("s"))
    took, acks, in_file, raw, t_b = run_trial(lab, cut_link=True, agent_lease=lease,
                                              server_lease=lease)
    check_no_overlap(acks, in_file, raw, t_b)
    # B waited for A's lease to end, and not much longer
    assert took <= secs + 1.5, took
    print("\npreempt latency, A partitioned, lease %s: %.3f s (%d records acknowledged to A)"
          % (lease, took, len(acks)))


def test_server_restart_during_a_revocation(lab):
    """A is cut off, B's preempt waits for A's lease, the server restarts
    in the middle: B's first mount fails, its retry waits a full lease of
    the restarted server, and A had fenced itself long before."""
    srv, a, b, w = start_writing(lab, "pre2", "3s", "3s")
    try:
        sh(IP, "-n", lab.ns["a"], "link", "set", "ra1%s" % lab.tag, "down")
        first = {}
        t = threading.Thread(target=lambda: first.update(
            r=call(b.sock, "Mount", {"Name": "pre2", "ID": "ctr-b"})))
        t.start()
        time.sleep(0.7)
        srv.stop()
        srv.start()
        t.join(30)
        wait_for(lambda: call(b.sock, "Get", {"Name": "pre2"})[0] == 200, 15, "the server")
        st, r = first["r"]
        if st != 200:  # the first attempt died with the server: the retry
            st, r = call(b.sock, "Mount", {"Name": "pre2", "ID": "ctr-b"})
        t_b = time.monotonic_ns()
        assert st == 200, (r, srv.logs())
        digest = write_blob(b, r["Mountpoint"], 1 << 16)
        wait_for(lambda: w.proc.poll() is not None, 10, "A's writer to fail")
        st, r = call(b.sock, "Unmount", {"Name": "pre2", "ID": "ctr-b"})
        assert st == 200, r
        image = image_of(lab, "pre2")
    finally:
        w.stop()
    acks = w.acks()
    for e in reversed(lab.engines):
        e.stop()
    in_file, raw = offline_check(image, digest)
    check_no_overlap(acks, in_file, raw, t_b)


def test_two_hosts_preempting_each_other(lab):
    """100 rounds: the host that mounts finds the other already cut off,
    never two writers; at the end no loop device is left and the use
    counts are exact (one unmount detaches)."""
    lab.server().start()
    hosts = [lab.agent("hosta", 1, preempt=True).start(),
             lab.agent("hostb", 2, preempt=True).start()]
    for e in hosts:
        e.wait_file(e.sock)
    rounds, latencies = 100, []
    mp = None
    for i in range(rounds):
        me, other = hosts[i % 2], hosts[1 - i % 2]
        t0 = time.monotonic()
        st, r = call(me.sock, "Mount", {"Name": "pingpong", "ID": "ctr-%d" % i})
        latencies.append(time.monotonic() - t0)
        assert st == 200, (i, r)
        mp = r["Mountpoint"]
        # the other host let go before this mount returned
        assert not other.mounted(os.path.dirname(mp)), "round %d: two hosts mounted" % i
        with open(me.path_in(mp, "round"), "w") as f:
            f.write(str(i))
            f.flush()
            os.fsync(f.fileno())
        if i:
            with open(me.path_in(mp, "prev"), "r") as f:
                assert f.read() == str(i - 1), "round %d lost the previous round" % i
        with open(me.path_in(mp, "prev"), "w") as f:
            f.write(str(i))
            f.flush()
            os.fsync(f.fileno())
    last = hosts[(rounds - 1) % 2]
    st, r = call(last.sock, "Unmount", {"Name": "pingpong", "ID": "ctr-%d" % (rounds - 1)})
    assert st == 200, r
    left = loops_under(lab.root)
    assert left == {}, ("a loop device was left", left,
                        "".join("==== %s\n%s\n" % (h.name, h.logs()) for h in hosts))
    assert "attachments" not in server_state(lab, "pingpong")
    latencies.sort()
    print("\n%d rounds, no overlap; preempt latency median %.3f s, max %.3f s"
          % (rounds, latencies[len(latencies) // 2], latencies[-1]))


def test_preempt_while_the_old_host_is_mid_mount(lab):
    """B preempts while A's first mount (attach, mkfs, mount) is under way:
    whichever order the server sees, B's mount returns only once A's mount
    is gone, and nothing leaks."""
    lab.server().start()
    a = lab.agent("hosta", 1, preempt=False).start()
    b = lab.agent("hostb", 2, preempt=True).start()
    for e in (a, b):
        e.wait_file(e.sock)
    for k, delay in enumerate((0.0, 0.02, 0.05, 0.1, 0.2)):
        name = "mid%d" % k
        got = {}
        t = threading.Thread(target=lambda: got.update(
            a=call(a.sock, "Mount", {"Name": name, "ID": "ctr-a"})))
        t.start()
        time.sleep(delay)
        st, r = call(b.sock, "Mount", {"Name": name, "ID": "ctr-b"})
        assert st == 200, r
        mp = r["Mountpoint"]
        assert not a.mounted(os.path.dirname(mp)), "delay %s: two hosts mounted" % delay
        t.join(30)
        sta, ra = got["a"]
        # A lost the race (refused) or won it and was fenced after its mount
        assert sta == 200 or "attached to" in ra.get("Err", ""), ra
        wait_for(lambda: not a.mounted(os.path.dirname(mp)), 5, "A to stay unmounted")
        st, r = call(b.sock, "Unmount", {"Name": name, "ID": "ctr-b"})
        assert st == 200, r
        assert loops_under(lab.root) == {}, "delay %s: a loop device was left" % delay


def test_preempt_of_a_holder_that_never_renews_waits_the_server_lease(lab):
    """A client that knows nothing of leases (REX-Ray's own agents, a bare
    REST client) attaches; B's preempt takes the volume once
    libstorage.server.lease has passed since that attach, and not before."""
    lab.server(lease="2s").start()
    b = lab.agent("hostb", 2, preempt=True).start()
    b.wait_file(b.sock)
    st, r = call(b.sock, "Create", {"Name": "old1"})
    assert st == 200, r
    vid = server_state(lab, "old1")["id"]
    attach = ("import http.client, json, sys\n"
              "c = http.client.HTTPConnection('127.0.0.1', 7979, timeout=30)\n"
              "c.request('POST', '/volumes/loop/%s?attach', body=json.dumps({}),\n"
              "          headers={'Libstorage-Instanceid': 'loop=rexray-agent'})\n"
              "r = c.getresponse(); body = r.read()\n"
              "sys.exit(0 if r.status == 200 else body.decode())\n" % vid)
    p = sh(IP, "netns", "exec", lab.ns["s"], sys.executable, "-c", attach, check=False)
    attached = time.monotonic()
    assert p.returncode == 0, p.stderr
    assert server_state(lab, "old1")["attachments"][0]["instanceID"]["id"] == "rexray-agent"
    st, r = call(b.sock, "Mount", {"Name": "old1", "ID": "ctr-b"})
    took = time.monotonic() - attached
    assert st == 200, r
    assert 1.8 <= took <= 4.0, took
    assert server_state(lab, "old1")["attachments"][0]["instanceID"]["id"] == "hostb"
    st, r = call(b.sock, "Unmount", {"Name": "old1", "ID": "ctr-b"})
    assert st == 200, r
    print("\npreempt of a holder that never renews (server lease 2 s): %.2f s after its attach"
          % took)
