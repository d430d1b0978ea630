"""Snapshots, clones and online resize (issue 16), through the libStorage
REST API: the original's status codes and Snapshot JSON, the data a
snapshot and a clone carry (checksums), independence from the source,
reflink on an xfs test filesystem made for the purpose and the sparse
copy elsewhere, a clean filesystem when the volume was frozen mid-write,
growth while a writer writes, every bad input, and kill -9 inside each
multi-step operation with a retry that works."""
import glob
import hashlib
import os
import subprocess
import threading
import time

import pytest

import prereq
from conftest import RECORDS_PG, Api, assert_error_body, loops_under, mounts_under

_MISSING = prereq.missing(root=True, loop=True, commands=("mkfs.xfs", "e2fsck"))
needs_loop = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))

SERVICES = ("libstorage:\n  server:\n    services:\n      loop:\n        driver: loop\n"
            "      vfs:\n        driver: vfs\n")


def config(h, volume_path=None, extra=""):
    text = SERVICES
    if volume_path:
        text += "loop:\n  volumePath: %s\n" % volume_path
    h.write_config(text + extra)


@pytest.fixture
def reflink_dir(lh):
    """An xfs filesystem with reflink=1 on a sparse image inside the home,
    mounted; the loop service keeps its images there. Undone in order: the
    services, the volumes' mounts and loop devices on it, then it (a lazy
    unmount first would hide their backing files from release_home)."""
    img = os.path.join(lh.root, "reflink.img")
    mp = os.path.join(lh.root, "reflink")
    os.makedirs(mp)
    with open(img, "wb") as f:
        f.truncate(8 << 30)
    subprocess.run(["mkfs.xfs", "-q", "-m", "reflink=1", img], check=True)
    subprocess.run(["mount", "-o", "loop", img, mp], check=True)
    try:
        yield os.path.join(mp, "images")
    finally:
        for s in lh.services:
            s.stop()
        for m in mounts_under(lh.root):
            if m != mp:
                subprocess.run(["umount", m], check=False)
        for dev in loops_under(mp):
            subprocess.run(["losetup", "-d", dev], check=False)
        subprocess.run(["umount", mp], check=False)


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_random(path, mib):
    with open(path, "wb") as f:
        f.write(os.urandom(mib << 20))
        f.flush()
        os.fsync(f.fileno())
    return sha(path)


def snap(api, svc, vid, name, **opts):
    body = {"snapshotName": name}
    if opts:
        body["opts"] = opts
    return api.post("/volumes/%s/%s?snapshot" % (svc, vid), body)


def hidden_files(directory):
    """What an interrupted operation could leave: hidden .new/.gone/.tmp files."""
    return sorted(n for n in os.listdir(directory) if n.startswith("."))


# ---------------------------------------------------------------- the wire


def test_snapshot_routes_answer_as_the_original(home):
    config(home)
    svc = home.start_service()
    api = svc.api
    v = api.create("v1", svc="vfs")
    r = snap(api, "vfs", v["id"], "s1", description="before the upgrade")
    assert r.status == 201, r
    s = r.json
    assert list(s)[:2] == ["description", "name"] and s["name"] == "s1", s
    assert s["id"] == v["id"] + "-000" and s["status"] == "online", s
    assert s["volumeID"] == v["id"] and s["volumeSize"] == 1, s
    assert abs(s["startTime"] - time.time()) < 60, s
    assert s["description"] == "before the upgrade"
    assert s["fields"]["consistency"] == "detached", s
    assert api.get("/snapshots").json == {"vfs": {s["id"]: s}, "loop": {}}
    assert api.get("/snapshots/vfs").json == {s["id"]: s}
    assert api.get("/snapshots/vfs/" + s["id"]).json == s
    # a volume from it, a copy of it, a copy of the volume
    r = api.post("/snapshots/vfs/%s?create" % s["id"], {"name": "c1"})
    assert r.status == 201 and r.json["name"] == "c1" and r.json["attachmentState"] == 3, r
    r = api.post("/snapshots/vfs/%s?copy" % s["id"], {"snapshotName": "s1copy"})
    assert_error_body(r, 400)
    assert "destinationID" in r.json["message"]
    r = api.post("/snapshots/vfs/%s?copy" % s["id"],
                 {"snapshotName": "s1copy", "destinationID": "vfs"})
    assert r.status == 201 and r.json["id"] == v["id"] + "-001", r
    assert r.json["volumeID"] == v["id"] and r.json["name"] == "s1copy"
    r = api.post("/volumes/vfs/%s?copy" % v["id"], {"volumeName": "v1copy"})
    assert r.status == 201 and r.json["name"] == "v1copy", r
    # a later snapshot never reuses an ID (the original's could)
    r = api.delete("/snapshots/vfs/" + s["id"])
    assert r.status == 205 and r.body == b"", r
    assert snap(api, "vfs", v["id"], "s3").json["id"] == v["id"] + "-002"
    # not found: named in resourceID
    r = api.get("/snapshots/vfs/nope")
    assert r.status == 404 and r.json["error"] == {"resourceID": "nope"}, r
    r = snap(api, "vfs", "nope", "s4")
    assert r.status == 404 and r.json["error"] == {"resourceID": "nope"}, r
    assert sorted(api.get("/snapshots/vfs").json) == [v["id"] + "-001", v["id"] + "-002"]


def test_vfs_snapshot_carries_the_tree_and_no_link_is_followed(home):
    config(home)
    svc = home.start_service()
    api = svc.api
    path = home.cli_ok("-s", "vfs", "volume", "mount", "t1").stdout.strip()
    with open(os.path.join(path, "a"), "w") as f:
        f.write("data")
    os.symlink("/etc/shadow", os.path.join(path, "evil"))
    os.mkfifo(os.path.join(path, "fifo"))
    vid = [i for i, v in api.volumes("vfs").items() if v["name"] == "t1"][0]
    s = snap(api, "vfs", vid, "ts").json
    assert s["fields"]["consistency"] == "crash-consistent", s  # mounted: a directory cannot freeze
    assert api.post("/snapshots/vfs/%s?create" % s["id"], {"name": "t2"}).status == 201
    p2 = home.cli_ok("-s", "vfs", "volume", "mount", "t2").stdout.strip()
    assert open(os.path.join(p2, "a")).read() == "data"
    assert os.readlink(os.path.join(p2, "evil")) == "/etc/shadow"  # a link, not the file
    assert os.path.islink(os.path.join(p2, "evil"))
    home.cli_ok("-s", "vfs", "volume", "unmount", "t1", "t2")


# ------------------------------------------------------------ loop volumes


@needs_loop
def test_reflink_snapshot_clone_and_independence(lh, reflink_dir):
    config(lh, reflink_dir)
    svc = lh.start_service()
    api = svc.api
    path = lh.mount("src")
    digest = write_random(os.path.join(path, "data.bin"), 24)
    vid = lh.volume("src")["id"]
    r = snap(api, "loop", vid, "s1")
    assert r.status == 201, r
    s = r.json
    # mounted here: frozen for the clone, which is a reflink on this xfs
    assert s["fields"] == {"clone": "reflink", "consistency": "frozen"}, s
    assert os.path.exists(os.path.join(reflink_dir, s["id"] + ".snap"))
    r = api.post("/snapshots/loop/%s?create" % s["id"], {"name": "clone"})
    assert r.status == 201, r
    cpath = lh.mount("clone")
    assert sha(os.path.join(cpath, "data.bin")) == digest
    # the clone diverges; the source and the snapshot do not
    write_random(os.path.join(cpath, "data.bin"), 4)
    assert sha(os.path.join(path, "data.bin")) == digest
    lh.unmount("clone")
    lh.unmount("src")
    # the source goes; its snapshot stays usable, and so does the clone
    lh.cli_ok("volume", "rm", "src")
    assert api.get("/snapshots/loop/" + s["id"]).status == 200
    assert api.post("/snapshots/loop/%s?create" % s["id"], {"name": "again"}).status == 201
    p = lh.mount("again")
    assert sha(os.path.join(p, "data.bin")) == digest
    lh.unmount("again")
    assert api.delete("/snapshots/loop/" + s["id"]).status == 205
    p = lh.mount("clone")
    assert os.path.getsize(os.path.join(p, "data.bin")) == 4 << 20
    lh.unmount("clone")
    assert hidden_files(reflink_dir) == []


@needs_loop
def test_copy_fallback_keeps_the_image_sparse(lh):
    config(lh)
    svc = lh.start_service()
    api = svc.api
    lh.cli_ok("volume", "create", "--size", "2", "sp")
    path = lh.mount("sp")
    digest = write_random(os.path.join(path, "d"), 8)
    lh.unmount("sp")
    vid = lh.volume("sp")["id"]
    s = snap(api, "loop", vid, "s").json
    assert s["fields"]["consistency"] == "detached", s
    image = os.path.join(lh.lib, "loop", s["id"] + ".snap")
    st = os.stat(image)
    assert st.st_size == 2 << 30
    assert st.st_blocks * 512 < 256 << 20, "holes stay holes: %d bytes held" % (st.st_blocks * 512)
    r = api.post("/volumes/loop/%s?copy" % vid, {"volumeName": "spcopy"})
    assert r.status == 201 and r.json["size"] == 2, r
    p = lh.mount("spcopy")
    assert sha(os.path.join(p, "d")) == digest
    lh.unmount("spcopy")


def writer(path, stop, errors):
    """Append to a file until told to stop; any failure is kept."""
    try:
        with open(path, "ab") as f:
            while not stop.is_set():
                f.write(os.urandom(64 << 10))
                f.flush()
    except OSError as ex:
        errors.append(ex)


@needs_loop
def test_snapshot_while_writing_is_a_clean_filesystem(lh, reflink_dir):
    config(lh, reflink_dir)
    svc = lh.start_service()
    path = lh.mount("busy")
    stop, errors = threading.Event(), []
    t = threading.Thread(target=writer, args=(os.path.join(path, "log"), stop, errors))
    t.start()
    try:
        time.sleep(0.3)
        s = snap(svc.api, "loop", lh.volume("busy")["id"], "hot").json
    finally:
        stop.set()
        t.join()
    assert errors == [], errors
    assert s["fields"]["consistency"] == "frozen", s
    # frozen: the snapshot's ext4 needs no journal replay and has no error
    image = os.path.join(reflink_dir, s["id"] + ".snap")
    p = subprocess.run(["e2fsck", "-fn", image], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    lh.unmount("busy")


@needs_loop
def test_xfs_grows_while_a_writer_writes(lh):
    config(lh)
    svc = lh.start_service()
    path = lh.mount("grow", "--fsType", "xfs")
    before = os.statvfs(path)
    stop, errors = threading.Event(), []
    t = threading.Thread(target=writer, args=(os.path.join(path, "log"), stop, errors))
    t.start()
    try:
        time.sleep(0.2)
        r = svc.api.post("/volumes/loop/%s?resize" % lh.volume("grow")["id"], {"size": 3})
    finally:
        stop.set()
        t.join()
    assert r.status == 200 and r.json["size"] == 3, r
    assert errors == [], errors
    after = os.statvfs(path)
    assert after.f_blocks * after.f_frsize > 2.5 * (1 << 30) > before.f_blocks * before.f_frsize
    lh.unmount("grow")


@needs_loop
def test_ext4_grows_now_or_at_the_next_mount(lh):
    config(lh)
    svc = lh.start_service()
    path = lh.mount("g4")
    digest = write_random(os.path.join(path, "d"), 2)
    r = svc.api.post("/volumes/loop/%s?resize" % lh.volume("g4")["id"], {"size": 2})
    assert r.status == 200 and r.json["size"] == 2, r
    lh.unmount("g4")
    path = lh.mount("g4")
    st = os.statvfs(path)
    assert st.f_blocks * st.f_frsize > 1.8 * (1 << 30), st
    assert sha(os.path.join(path, "d")) == digest
    lh.unmount("g4")
    assert lh.volume("g4")["size"] == 2


# -------------------------------------------------------------- bad input


@needs_loop
def test_bad_input_is_refused_and_changes_nothing(lh):
    config(lh)
    svc = lh.start_service()
    api = svc.api
    lh.cli_ok("volume", "create", "--size", "2", "b1")
    vid = lh.volume("b1")["id"]
    sid = snap(api, "loop", vid, "bs").json["id"]
    wid = api.create("w1", svc="vfs")["id"]
    loop_dir = os.path.join(lh.lib, "loop")

    def state():
        return (api.get("/snapshots").json, api.volumes("loop"), api.volumes("vfs"),
                sorted(os.listdir(loop_dir)))

    before = state()
    cases = [
        (api.get, "/snapshots/loop/loop-999-000", None, 404, "resource not found"),
        (api.post, "/volumes/loop/loop-999?snapshot", {"snapshotName": "x"}, 404, "not found"),
        (api.post, "/volumes/loop/%s?snapshot" % vid, {"snapshotName": "../x"}, 400,
         "snapshot name"),
        (api.post, "/volumes/loop/%s?snapshot" % vid, {}, 400, "snapshotName"),
        (api.post, "/volumes/loop/%s?resize" % vid, {"size": 1}, 400, "cannot shrink"),
        (api.post, "/volumes/loop/%s?resize" % vid, {"size": 0}, 400, "size"),
        (api.post, "/volumes/loop/%s?resize" % vid, {}, 400, "size"),
        (api.post, "/volumes/vfs/%s?resize" % wid, {"size": 5}, 501,
         "driver 'vfs' cannot resize volumes"),
        (api.post, "/snapshots/loop/%s?create" % sid, {"name": "b1"}, 409, "already exists"),
        (api.post, "/snapshots/loop/%s?create" % sid, {"name": "c", "size": 1}, 400,
         "at least"),
        (api.post, "/snapshots/loop/%s?create" % sid, {"name": "../../etc"}, 400, "name"),
        (api.post, "/snapshots/loop/%s?copy" % sid,
         {"snapshotName": "x", "destinationID": "elsewhere"}, 400, "within its service"),
        (api.post, "/volumes/loop/%s?copy" % vid, {"volumeName": "b1"}, 409,
         "already exists"),
        (api.post, "/volumes/loop/%s?copy" % vid, {}, 400, "volumeName"),
        (api.delete, "/snapshots/loop/nope", None, 404, "resource not found"),
        (api.post, "/snapshots/nosuch/%s?create" % sid, {"name": "z"}, 404, "service"),
    ]
    for method, path, body, status, words in cases:
        r = method(path) if body is None else method(path, body)
        assert_error_body(r, status)
        assert words in r.json["message"], (path, r.json)
    assert state() == before


# ------------------------------------------------------------------ crashes


CRASH_POINTS = [
    ("loop.snapshot.before-record", "snapshot"),
    ("loop.snapshot.after-record", "snapshot"),
    ("loop.clone.before-record", "create"),
    ("loop.clone.after-record", "create"),
    ("loop.clone.before-record", "copy"),
    ("loop.snapremove.after-rename", "remove"),
    ("loop.resize.after-file", "resize"),
]


@needs_loop
@pytest.mark.parametrize("point,op", CRASH_POINTS)
def test_kill_inside_an_operation_then_retry(lh, point, op):
    if RECORDS_PG is not None and not point.endswith(".after-record"):
        # a committed ".new" is settled at once on any store; the rest waits
        pytest.skip("records in PostgreSQL: the start-up sweep leaves leftovers younger "
                    "than an hour to the server that may be making them (docs/multi-host.md)")
    config(lh)
    lh.cli_ok("volume", "create", "k1")
    svc = lh.start_service()
    vid = lh.volume("k1")["id"]
    sid = snap(svc.api, "loop", vid, "base").json["id"]
    svc.stop()
    requests = {
        "snapshot": ("/volumes/loop/%s?snapshot" % vid, {"snapshotName": "s2"}),
        "create": ("/snapshots/loop/%s?create" % sid, {"name": "from"}),
        "copy": ("/volumes/loop/%s?copy" % vid, {"volumeName": "dup"}),
        "remove": ("/snapshots/loop/%s" % sid, None),
        "resize": ("/volumes/loop/%s?resize" % vid, {"size": 2}),
    }
    path, body = requests[op]
    crashing = lh.start_service(env=lh.env(REXRAY_CRASH_AT=point))
    try:
        if body is None:
            crashing.api.delete(path, timeout=30)
        else:
            crashing.api.post(path, body, timeout=30)
    except OSError:
        pass
    assert crashing.wait_exit() is not None and not crashing.running()
    loop_dir = os.path.join(lh.lib, "loop")
    # a clone cut short where O_TMPFILE is missing leaves a hidden temp
    tmp = os.path.join(loop_dir, ".." + vid + "-009.snap.new.tmp-AbC123")
    open(tmp, "w").close()
    if RECORDS_PG is not None:  # shared records: only an old one is anybody's to drop
        os.utime(tmp, (time.time() - 7200, time.time() - 7200))
    # the next start settles the files by the records
    svc = lh.start_service()
    api = svc.api
    assert hidden_files(loop_dir) == [], os.listdir(loop_dir)
    snaps = api.get("/snapshots/loop").json
    vols = api.volumes("loop")
    assert sorted(n[:-5] for n in os.listdir(loop_dir) if n.endswith(".snap")) == sorted(snaps)
    assert sorted(n[:-4] for n in os.listdir(loop_dir) if n.endswith(".img")) == sorted(vols)
    # the retry does it (or finds it done)
    r = api.delete(path) if body is None else api.post(path, body)
    done = {"snapshot": 201, "create": (201, 409), "copy": (201, 409), "remove": (205, 404),
            "resize": 200}[op]
    assert r.status in (done if isinstance(done, tuple) else (done,)), r
    if op == "resize":
        assert api.inspect(vid, svc="loop")["size"] == 2
        st = os.stat(os.path.join(loop_dir, vid + ".img"))
        assert st.st_size == 2 << 30
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []
    assert glob.glob(os.path.join(loop_dir, ".*")) == []


# ------------------------------------------------------- the Docker plugin


@needs_loop
def test_docker_create_from_a_snapshot_or_a_volume(lh):
    from conftest import plugin_call
    config(lh)
    svc = lh.start_service()
    sock = os.path.join(lh.root, "run", "docker", "plugins", "rexray.sock")
    path = lh.mount("orig")
    digest = write_random(os.path.join(path, "d"), 3)
    lh.unmount("orig")
    sid = snap(svc.api, "loop", lh.volume("orig")["id"], "s").json["id"]
    assert plugin_call(sock, "Create", {"Name": "fromsnap", "Opts": {"snapshotID": sid}})[0] \
        == 200
    assert plugin_call(sock, "Create", {"Name": "fromvol", "Opts": {"sourceVolume": "orig"}})[0] \
        == 200
    for name in ("fromsnap", "fromvol"):
        st, body = plugin_call(sock, "Mount", {"Name": name, "ID": "c1"})
        assert st == 200, body
        assert sha(os.path.join(body["Mountpoint"], "d")) == digest
        assert plugin_call(sock, "Unmount", {"Name": name, "ID": "c1"})[0] == 200
    st, body = plugin_call(sock, "Create", {"Name": "bad", "Opts": {"snapshotID": "loop-9-000"}})
    assert st == 500 and "resource not found" in body["Err"], body
    st, body = plugin_call(sock, "Create", {"Name": "bad", "Opts": {"sourceVolume": "nope"}})
    assert st == 500 and "no volume 'nope'" in body["Err"], body
    st, body = plugin_call(sock, "Create",
                           {"Name": "bad", "Opts": {"sourceVolume": "orig", "snapshotID": sid}})
    assert st == 500 and "not both" in body["Err"], body
    assert "bad" not in [v["name"] for v in lh.volumes_cli()]


@needs_loop
def test_a_resize_from_elsewhere_reaches_a_mount_at_the_lease_check(lh):
    """Another host's server grew the image on shared storage: this host's
    engine finds it at its next lease check (every lease), refreshes the
    loop device and grows the mounted xfs, under its container."""
    from conftest import plugin_call
    lh.write_config(SERVICES.replace("libstorage:\n", "libstorage:\n  client:\n    lease: 1s\n"))
    lh.start_service()
    sock = os.path.join(lh.root, "run", "docker", "plugins", "rexray.sock")
    assert plugin_call(sock, "Create", {"Name": "far", "Opts": {"fsType": "xfs"}})[0] == 200
    st, body = plugin_call(sock, "Mount", {"Name": "far", "ID": "c1"})
    assert st == 200, body
    mp = body["Mountpoint"]
    image = os.path.join(lh.lib, "loop", lh.volume("far")["id"] + ".img")
    os.truncate(image, 3 << 30)  # as the other host's resize did
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        st_ = os.statvfs(mp)
        if st_.f_blocks * st_.f_frsize > 2.5 * (1 << 30):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the mount never grew: %r" % (os.statvfs(mp),))
    assert plugin_call(sock, "Unmount", {"Name": "far", "ID": "c1"})[0] == 200


@needs_loop
def test_a_snapshot_never_takes_the_room_promised_to_volumes(lh):
    """A snapshot may come to hold every block its volume holds (at once as
    a copy, over time as a shared reflink diverges): refused when that room
    was promised to the volumes (loop.overcommit 1), with the numbers."""
    img = os.path.join(lh.root, "small.img")
    mp = os.path.join(lh.root, "small")
    os.makedirs(mp)
    with open(img, "wb") as f:
        f.truncate(1300 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", img], check=True)
    subprocess.run(["mount", "-o", "loop", img, mp], check=True)
    try:
        config(lh, os.path.join(mp, "images"))
        svc = lh.start_service()
        path = lh.mount("tight")
        write_random(os.path.join(path, "fill"), 600)
        lh.unmount("tight")
        vid = lh.volume("tight")["id"]
        before = sorted(os.listdir(os.path.join(mp, "images")))
        r = snap(svc.api, "loop", vid, "toobig")
        assert_error_body(r, 500)
        assert "a snapshot of what the volume holds" in r.json["message"], r.json
        assert "loop.overcommit" in r.json["message"]
        assert sorted(os.listdir(os.path.join(mp, "images"))) == before
        assert svc.api.get("/snapshots/loop").json == {}
        svc.stop()
    finally:
        for m in mounts_under(lh.root):
            if m != mp:
                subprocess.run(["umount", m], check=False)
        for dev in loops_under(mp):
            subprocess.run(["losetup", "-d", dev], check=False)
        subprocess.run(["umount", mp], check=False)
