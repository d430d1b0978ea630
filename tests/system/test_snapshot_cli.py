"""The snapshot, copy and resize commands of the CLI (issue 16):
`rexray snapshot ls|create|rm|copy`, `volume create --snapshotID`, `volume
copy`, `volume resize`, on a real engine in a temporary REXRAY_HOME with
two services, loop (the default here) and vfs. The loop tests mount real
filesystems and check the data by checksum; every bad input is refused
with a message naming it, its exit status, and nothing changed."""

import hashlib
import json
import os
import re
import tempfile

import pytest

import prereq
from conftest import Home, LoopHome, release_home

TWO_SERVICES = """libstorage:
  service: loop
  server:
    services:
      loop:
        driver: loop
      vfs:
        driver: vfs
"""

_LOOP = prereq.missing(root=True, loop=True, commands=("mkfs.ext4", "resize2fs"))
needs_loop = pytest.mark.skipif(_LOOP is not None, reason=str(_LOOP))


@pytest.fixture
def h():
    home = LoopHome(tempfile.mkdtemp(prefix="rrsn"))
    home.write_config(TWO_SERVICES)
    try:
        yield home
    finally:
        release_home(home)


@pytest.fixture
def vh():
    """The same two services, vfs chosen: needs no root."""
    home = Home(tempfile.mkdtemp(prefix="rrsv"))
    home.write_config(TWO_SERVICES)
    try:
        yield home
    finally:
        release_home(home)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def df_gib(path):
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize / float(1 << 30)


def snaps(home, *args):
    out = home.cli_json(*(list(args) + ["snapshot", "ls", "-f", "json"]))
    assert isinstance(out, list), out
    return out


def refused(home, args, code, message):
    p = home.cli(*args)
    assert p.returncode == code, (args, p.returncode, p.stdout, p.stderr)
    assert re.search(message, p.stderr), (args, p.stderr)
    assert p.stderr.startswith("rexray: "), p.stderr
    return p


# --------------------------------------------------------------------------
# loop: snapshots of a mounted volume with data, clones, copies


@needs_loop
def test_snapshot_clone_copy_and_remove_keep_the_data(h):
    h.cli_ok("volume", "create", "--size", "1", "src")
    src = h.mount("src")
    first = os.urandom(1 << 20)
    write(os.path.join(src, "data"), first)
    vid = h.volume("src")["id"]

    made = h.cli_json("snapshot", "create", "--volumeid", "src", "--snapshotname", "snap1",
                      "--description", "before the change", "-f", "json")
    assert len(made) == 1, made
    s1 = made[0]
    assert s1["name"] == "snap1" and s1["volumeID"] == vid and s1["volumeSize"] == 1, s1
    assert s1["description"] == "before the change" and s1["id"], s1

    # the source changes after the snapshot; the snapshot keeps the old data
    second = os.urandom(1 << 20)
    write(os.path.join(src, "data"), second)

    # ls: table, JSON, IDs, by volume (ID or name), by name and ID prefix
    table = h.cli_ok("snapshot", "ls").stdout.splitlines()
    assert table[0].split() == ["ID", "Name", "VolumeID", "Size", "Status", "Created"], table
    row = table[1].split()
    assert row[:4] == [s1["id"], "snap1", vid, "1"], table
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", row[5]), table
    assert [s["id"] for s in snaps(h)] == [s1["id"]]
    assert h.cli_ok("snapshot", "list", "-q").stdout.split() == [s1["id"]]
    assert h.cli_ok("snapshot", "get", "-q", "--volumeid", "src").stdout.split() == [s1["id"]]
    assert h.cli_ok("snapshots", "ls", "-q", "--volumeID", vid).stdout.split() == [s1["id"]]
    assert h.cli_ok("snap", "ls", "-q", "SNAP1").stdout.split() == [s1["id"]]
    pretty = h.cli_ok("snapshot", "ls", "-f", "jsonp", "snap1").stdout
    assert json.loads(pretty) == [s1] and "\n  {" in pretty, pretty

    # a volume from the snapshot has the data of that instant
    clone = h.cli_json("volume", "create", "--snapshotID", "snap1", "clone", "-f", "json")
    assert clone[0]["name"] == "clone" and clone[0]["size"] == 1, clone
    cpath = h.mount("clone")
    assert sha(os.path.join(cpath, "data")) == hashlib.sha256(first).hexdigest()
    # writing the clone leaves the source alone
    write(os.path.join(cpath, "data"), b"clone's own")
    write(os.path.join(cpath, "more"), b"x" * 4096)
    assert sha(os.path.join(src, "data")) == hashlib.sha256(second).hexdigest()
    assert not os.path.exists(os.path.join(src, "more"))

    # volume copy: the source's current data, in a volume of its own
    cp = h.cli_json("volume", "copy", "src", "srccopy", "-f", "json")
    assert cp[0]["name"] == "srccopy" and cp[0]["size"] == 1, cp
    ppath = h.mount("srccopy")
    assert sha(os.path.join(ppath, "data")) == hashlib.sha256(second).hexdigest()

    # snapshot copy (the positional form and --snapshotid) makes new snapshots
    s2 = h.cli_json("snapshot", "copy", "--snapshotid", s1["id"],
                    "--destinationsnapshotname", "snap2", "--runasync", "-f", "json")[0]
    s3 = h.cli_json("snapshot", "copy", "snap1", "--destinationsnapshotname", "snap3",
                    "--destinationregion", "loop", "-f", "json")[0]
    for s in (s2, s3):
        assert s["id"] not in (s1["id"],) and s["volumeID"] == vid, s
    assert sorted(s["name"] for s in snaps(h)) == ["snap1", "snap2", "snap3"]
    h.cli_ok("volume", "create", "--snapshotID", "snap3", "clone3")
    c3 = h.mount("clone3")
    assert sha(os.path.join(c3, "data")) == hashlib.sha256(first).hexdigest()

    # rm: each one, by ID or name; the volumes made from them stay
    p = h.cli_ok("snapshot", "rm", s1["id"], "snap2", "snap3")
    assert p.stdout.split() == [s1["id"], s2["id"], s3["id"]], p.stdout
    assert snaps(h) == []
    for name in ("clone", "clone3"):
        h.unmount(name)
        path = h.mount(name)
        assert os.path.exists(os.path.join(path, "data"))
    assert open(os.path.join(h.mount("clone"), "data"), "rb").read() == b"clone's own"
    for name in ("clone", "clone", "clone3", "srccopy", "src"):
        h.unmount(name)
    assert h.cli_ok("volume", "rm", "clone", "clone3", "srccopy", "src").returncode == 0


@needs_loop
def test_snapshot_name_defaults_to_the_volume_and_utc_time(h):
    h.cli_ok("volume", "create", "--size", "1", "v1")
    s = h.cli_json("snapshot", "new", "--volumeid", "v1", "-f", "json")[0]
    assert re.match(r"^v1-\d{8}T\d{6}$", s["name"]), s
    assert s.get("description") is None, s
    assert h.cli_ok("snapshot", "remove", s["name"]).stdout.split() == [s["id"]]


# --------------------------------------------------------------------------
# resize


@needs_loop
def test_resize_a_mounted_ext4_volume(h):
    h.cli_ok("volume", "create", "--size", "1", "grow")
    path = h.mount("grow")
    write(os.path.join(path, "keep"), b"kept")
    assert df_gib(path) < 1.1
    p = h.cli("volume", "resize", "grow", "--size", "2G", "-f", "json")
    # online ext4 growth needs CAP_SYS_RESOURCE, which a sandbox may lack:
    # then the volume is bigger now and its filesystem at the next mount
    assert p.returncode == 0, (p.stdout, p.stderr)
    out = json.loads(p.stdout)
    assert out[0]["name"] == "grow" and out[0]["size"] == 2, out
    assert h.volume("grow")["size"] == 2
    # grown at once when the host lets resize2fs, else at the next mount
    h.unmount("grow")
    path = h.mount("grow")
    grown = df_gib(path)
    assert open(os.path.join(path, "keep"), "rb").read() == b"kept"
    h.unmount("grow")
    assert grown > 1.5, grown


@needs_loop
def test_resize_an_unmounted_volume_grows_its_filesystem_at_the_next_mount(h):
    h.cli_ok("volume", "create", "--size", "1", "later")
    write(os.path.join(h.mount("later"), "keep"), b"kept")
    h.unmount("later")
    table = h.cli_ok("volume", "resize", "later", "--size", "2").stdout
    assert re.search(r"\blater\s+available\s+2\b", table), table
    p = h.cli("volume", "resize", "later", "--size", "2")
    assert p.returncode == 0 and "is 2 GiB already" in p.stderr, (p.stdout, p.stderr)
    path = h.mount("later")
    grown = df_gib(path)
    assert open(os.path.join(path, "keep"), "rb").read() == b"kept"
    h.unmount("later")
    assert grown > 1.5, grown


@needs_loop
@pytest.mark.skipif(prereq.missing(commands=("mkfs.xfs", "xfs_growfs")) is not None,
                    reason=str(prereq.missing(commands=("mkfs.xfs", "xfs_growfs"))))
def test_resize_a_mounted_xfs_volume_grows_it_at_once(h):
    h.cli_ok("volume", "create", "--size", "1", "gx")
    path = h.mount("gx", "--fsType", "xfs")
    assert df_gib(path) < 1.1
    table = h.cli_ok("volume", "resize", "--size", "3", "gx").stdout
    assert re.search(r"\bgx\s+attached\s+3\b", table), table
    assert df_gib(path) > 2.5, df_gib(path)
    h.unmount("gx")


# --------------------------------------------------------------------------
# bad input: a clear message, the exit status, nothing changed


def state(home):
    out = {}
    for svc in ("loop", "vfs"):
        out[svc] = (home.volumes_cli(pre=("-s", svc)),
                    snaps(home, "-s", svc))
    return out, home.snapshot_tree()


@needs_loop
def test_bad_input_is_refused_and_changes_nothing(h):
    h.cli_ok("volume", "create", "--size", "2", "v1")
    h.cli_ok("-s", "vfs", "volume", "create", "w1")
    sid = h.cli_json("snapshot", "create", "--volumeid", "v1", "--snapshotname", "s1",
                     "-f", "json")[0]["id"]
    before = state(h)
    cases = [
        (("snapshot", "ls", "nosuch"), 1, r"no snapshot has the ID or name 'nosuch'"),
        (("snapshot", "rm", "nosuch"), 1, r"no snapshot has the ID or name 'nosuch'"),
        (("snapshot", "rm"), 2, r"give at least one snapshot"),
        (("snapshot", "create", "--volumeid", "missing"), 1, r"no volume matches 'missing'"),
        (("snapshot", "create"), 2, r"give the volume"),
        (("snapshot", "create", "--volumeid", "v1", "--snapshotname", "../x"), 2,
         r"--snapshotname.*'\.\./x'"),
        (("snapshot", "ls", "--volumeid", "missing"), 1, r"no volume matches 'missing'"),
        (("snapshot", "copy", "s1"), 2, r"--destinationsnapshotname"),
        (("snapshot", "copy", "--destinationsnapshotname", "c"), 2, r"--snapshotid"),
        (("snapshot", "copy", "s1", "--destinationsnapshotname", "../x"), 2,
         r"--destinationsnapshotname.*'\.\./x'"),
        (("snapshot", "copy", "s1", "--destinationsnapshotname", "c",
          "--destinationregion", "elsewhere"), 2,
         r"--destinationregion 'elsewhere'.*within itself"),
        (("snapshot", "copy", "nosuch", "--destinationsnapshotname", "c"), 1,
         r"no snapshot has the ID or name 'nosuch'"),
        (("snapshot", "crate"), 2, r"unknown command 'crate'; did you mean 'create'"),
        (("volume", "create", "--snapshotID", "nosuch", "x"), 1,
         r"no snapshot has the ID or name 'nosuch'"),
        (("volume", "create", "--snapshotID", "s1", "../x"), 2, r"'\.\./x'"),
        (("volume", "create", "--snapshotID", "s1", "--size", "1", "small"), 1,
         r"needs at least its 2 GiB"),
        (("volume", "copy", "v1"), 2, r"volume copy SOURCE NEWNAME"),
        (("volume", "copy", "v1", "../x"), 2, r"'\.\./x'"),
        (("volume", "copy", "nosuch", "c"), 1, r"no volume matches 'nosuch'"),
        (("volume", "copy", "v1", "w1x", "extra"), 2, r"volume copy SOURCE NEWNAME"),
        (("volume", "resize", "v1"), 2, r"--size SIZE"),
        (("volume", "resize", "--size", "3"), 2, r"--size SIZE"),
        (("volume", "resize", "v1", "--size", "lots"), 2, r"--size.*'lots'"),
        (("volume", "resize", "v1", "--size", "1"), 1, r"cannot shrink volume 'v1' from 2"),
        (("volume", "resize", "nosuch", "--size", "3"), 1, r"no volume matches 'nosuch'"),
        (("-s", "vfs", "volume", "resize", "w1", "--size", "3"), 1,
         r"driver 'vfs' cannot resize volumes"),
    ]
    for args, code, message in cases:
        refused(h, args, code, message)
    assert state(h) == before
    h.cli_ok("snapshot", "rm", sid)


# --------------------------------------------------------------------------
# vfs: the same commands without root


def test_vfs_snapshots_copies_and_clones(vh):
    vh.cli_ok("volume", "create", "a")
    s = vh.cli_json("snapshot", "create", "--volumeid", "a", "--snapshotname", "sa",
                    "-f", "json")[0]
    assert s["name"] == "sa" and s["id"].startswith("vfs-"), s
    assert vh.cli_ok("snapshot", "ls", "-q").stdout.split() == [s["id"]]
    # -s picks the service: loop has none of vfs's snapshots
    assert snaps(vh, "-s", "loop") == []
    vh.cli_ok("volume", "create", "--snapshotID", "sa", "fromsnap")
    vh.cli_ok("volume", "copy", "a", "acopy")
    c = vh.cli_json("snapshot", "copy", "sa", "--destinationsnapshotname", "sb",
                    "--destinationregion", "VFS", "-f", "json")[0]
    assert sorted(v["name"] for v in vh.volumes_cli()) == ["a", "acopy", "fromsnap"]
    assert sorted(x["name"] for x in snaps(vh)) == ["sa", "sb"]
    p = vh.cli("snapshot", "rm", "sa", "nosuch", c["id"])
    assert p.returncode == 1 and p.stdout.split() == [s["id"], c["id"]], (p.stdout, p.stderr)
    assert "no snapshot has the ID or name 'nosuch'" in p.stderr
    assert snaps(vh) == []
    refused(vh, ("volume", "resize", "a", "--size", "2"), 1,
            r"driver 'vfs' cannot resize volumes")
    vh.cli_ok("volume", "rm", "a", "acopy", "fromsnap")


def test_the_commands_through_a_running_engine(vh):
    """The same commands over the engine's socket (the HTTP client)."""
    vh.start_service()
    vh.cli_ok("volume", "create", "b")
    s = vh.cli_json("snapshot", "create", "--volumeid", "b", "--snapshotname", "sb",
                    "--description", "over http", "-f", "json")[0]
    assert s["description"] == "over http", s
    assert [x["id"] for x in snaps(vh, "-h", vh.address)] == [s["id"]]
    vh.cli_ok("volume", "create", "--snapshotID", s["id"], "b2")
    vh.cli_ok("volume", "copy", "b", "b3")
    c = vh.cli_json("snapshot", "copy", "sb", "--destinationsnapshotname", "sc", "-f",
                    "json")[0]
    refused(vh, ("snapshot", "copy", "sb", "--destinationsnapshotname", "sd",
                 "--destinationregion", "loop"), 2, r"'loop'.*within itself")
    refused(vh, ("volume", "resize", "b", "--size", "2"), 1,
            r"driver 'vfs' cannot resize volumes")
    assert vh.cli_ok("snapshot", "rm", "sb", c["id"]).stdout.split() == [s["id"], c["id"]]
    assert sorted(v["name"] for v in vh.volumes_cli()) == ["b", "b2", "b3"]
    vh.cli_ok("volume", "rm", "b", "b2", "b3")
