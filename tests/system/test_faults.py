"""Fault injection (issue 8): a failing mount, a full volumePath, a locked
database, and a Docker client that hangs up mid-request each give a clean
error (or a clean outcome) and leave the state consistent."""

import json
import os
import socket
import sqlite3
import subprocess
import time

import pytest

import prereq

from conftest import loops_under, mounts_under

_MISSING = prereq.missing(root=True, loop=True)
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))


def test_mount_failure_undoes_everything(lh):
    # the mount point cannot be made: a file sits where the directory goes
    os.makedirs(os.path.join(lh.lib, "volumes"))
    with open(os.path.join(lh.lib, "volumes", "blocked"), "w") as f:
        f.write("in the way")
    p = lh.cli("volume", "mount", "blocked")
    assert p.returncode == 1 and "blocked" in p.stderr, p.stderr
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []
    assert lh.volumes_cli() == [], "the implicitly created volume is removed again"


def test_full_volume_path(lh):
    small = os.path.join(lh.root, "small")
    img = os.path.join(lh.root, "small.img")
    os.makedirs(small)
    subprocess.run(["truncate", "-s", "64M", img], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True)
    subprocess.run(["mount", "-o", "loop", img, small], check=True)
    try:
        env = lh.env(LOOP_VOLUMEPATH=small)
        p = lh.cli("volume", "create", "--size", "1", "toobig", env=env)
        assert p.returncode == 1 and "free" in p.stderr, p.stderr
        assert os.listdir(small) == ["lost+found"]
        assert lh.cli_json("volume", "ls", "-f", "json", env=env) == []
        p = lh.cli("volume", "mount", "toobig2", env=env)
        assert p.returncode == 1, p.stderr
        assert os.listdir(small) == ["lost+found"]
    finally:
        subprocess.run(["umount", small], check=False)


def test_locked_database_gives_a_clean_error(lh):
    lh.cli_ok("volume", "create", "before")
    db = sqlite3.connect(os.path.join(lh.lib, "rexray.db"), timeout=1, isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.time()
        p = lh.cli("volume", "create", "during")
        assert p.returncode == 1, p
        assert "locked" in p.stderr or "busy" in p.stderr, p.stderr
        assert time.time() - t0 < 30, "bounded by the busy timeout"
    finally:
        db.execute("ROLLBACK")
        db.close()
    names = [v["name"] for v in lh.volumes_cli()]
    assert names == ["before"], names
    lh.cli_ok("volume", "create", "after")


def test_client_hangs_up_mid_mount(lh):
    sock = os.path.join(lh.root, "p.sock")
    lh.write_config("rexray:\n  modules:\n    default-docker:\n      host: unix://%s\n" % sock)
    lh.start_service()
    body = json.dumps({"Name": "hangup", "ID": "x1"}).encode()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.sendall(b"POST /VolumeDriver.Mount HTTP/1.1\r\nHost: p\r\nContent-Length: %d\r\n\r\n"
              % len(body) + body)
    s.close()  # gone before the reply
    deadline = time.time() + 20
    while time.time() < deadline:
        vols = [v for v in lh.volumes_cli() if v["name"] == "hangup"]
        if vols and vols[0].get("attachmentState") == 3 and not loops_under(lh.root):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the undelivered mount was not taken back: %s %s"
                             % (lh.volumes_cli(), loops_under(lh.root)))
    assert mounts_under(lh.root) == []
