"""The Docker volume plugin against a real dockerd (issue 4): a private
dockerd, a busybox image made with `docker import`, and an engine whose
plugin sockets have names unique to this run."""

import json
import os
import socket
import time
import uuid

import pytest

import dockerd
from conftest import LoopHome, loops_under, mounts_under, release_home

pytestmark = pytest.mark.skipif(not dockerd.available(), reason=str(dockerd.missing()))

PLUGIN_DIR = "/run/docker/plugins"


@pytest.fixture(scope="module")
def dk():
    d = dockerd.Dockerd()
    try:
        d.start()
        d.import_busybox("bb")
        yield d
    finally:
        d.stop()


def module(name, plugin, operations=None):
    """One Docker module of the engine's config, with its own operations."""
    text = "    %s:\n      type: docker\n      host: unix://%s/%s.sock\n" % (
        name, PLUGIN_DIR, plugin)
    if operations:
        text += ("      libstorage:\n        integration:\n          volume:\n"
                 "            operations:\n")
        text += "".join("              %s\n" % line for line in operations.split("\n"))
    return text


@pytest.fixture(scope="module")
def engine(dk):
    """One engine for the module: plugin P (normal), P-keep (remove.disable) and
    P-ign (unmount.ignoreUsedCount)."""
    import tempfile
    tag = "rrt" + uuid.uuid4().hex[:8]
    root = tempfile.mkdtemp(prefix="rre")
    h = LoopHome(root)
    h.plugin, h.keep, h.ign = tag, tag + "-keep", tag + "-ign"
    h.write_config("rexray:\n  modules:\n" + module("main", h.plugin)
                   + module("keep", h.keep, "remove:\n  disable: true")
                   + module("ign", h.ign, "unmount:\n  ignoreUsedCount: true"))
    try:
        h.start_service()
        yield h
    finally:
        release_home(h, stop_timeout=10)


@pytest.fixture(autouse=True)
def isolated(request):
    """Each test starts as if alone: what a failed one left (containers,
    mounted or attached volumes) is undone after it, so that one failure
    does not fail the tests after it."""
    yield
    if "engine" not in request.fixturenames:
        return
    dk, engine = request.getfixturevalue("dk"), request.getfixturevalue("engine")
    ids = dk.docker("ps", "-aq", check=False).stdout.split()
    if ids:
        dk.docker("rm", "-f", *ids, check=False)
    for v in engine.volumes_cli():
        if v.get("attachments"):
            engine.cli("volume", "detach", "--force", v["name"])


def run(dk, *args, **kw):
    return dk.docker("run", "--rm", "--network", "none", *args, **kw)


def plugin_call(sock, method, body):
    """POST /VolumeDriver.<method> straight to the plugin socket."""
    import http.client

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(10)
            self.sock.connect(sock)

    c = Conn("plugin")
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    c.request("POST", "/" + method, body=data)
    r = c.getresponse()
    out = (r.status, r.getheader("Content-Type"), r.read())
    c.close()
    return out


def state_of(engine, name):
    vols = [v for v in engine.volumes_cli() if v["name"] == name]
    return vols[0] if vols else None


def test_create_ls_inspect(dk, engine):
    dk.docker("volume", "create", "-d", engine.plugin, "--opt", "size=1", "vol1")
    ls = dk.docker("volume", "ls", "--format", "{{.Driver}} {{.Name}}").stdout.split("\n")
    assert "%s vol1" % engine.plugin in ls, ls
    info = json.loads(dk.docker("volume", "inspect", "vol1").stdout)[0]
    assert info["Driver"] == engine.plugin and info["Scope"] == "global", info
    assert info["Status"]["size"] == 1 and info["Status"]["service"] == "loop", info
    assert info["Status"]["fields"] == {"size": "1"}, info
    assert info["Mountpoint"] == "", "not mounted yet"
    assert state_of(engine, "vol1")["size"] == 1


def test_write_then_read_in_another_container(dk, engine):
    dk.docker("volume", "create", "-d", engine.plugin, "--opt", "size=1", "rw1")
    run(dk, "-v", "rw1:/data", "bb", "sh", "-c", "echo hi > /data/f")
    assert run(dk, "-v", "rw1:/data", "bb", "cat", "/data/f").stdout == "hi\n"
    assert loops_under(engine.root) == {}, "unmounted and detached after each container"
    assert state_of(engine, "rw1")["attachmentState"] == 3


def test_clone_from_a_snapshot_and_copy_of_a_volume(dk, engine):
    """issue 16: --opt snapshotID / --opt sourceVolume, the data carried."""
    dk.docker("volume", "create", "-d", engine.plugin, "orig1")
    run(dk, "-v", "orig1:/data", "bb", "sh", "-c", "echo before > /data/f")
    snap = json.loads(engine.cli_ok("snapshot", "create", "--volumeid", "orig1",
                                    "--snapshotname", "s", "-f", "json").stdout)[0]
    run(dk, "-v", "orig1:/data", "bb", "sh", "-c", "echo after > /data/f")
    dk.docker("volume", "create", "-d", engine.plugin, "--opt", "snapshotID=" + snap["id"],
              "clone1")
    dk.docker("volume", "create", "-d", engine.plugin, "--opt", "sourceVolume=orig1", "copy1")
    assert run(dk, "-v", "clone1:/data", "bb", "cat", "/data/f").stdout == "before\n"
    assert run(dk, "-v", "copy1:/data", "bb", "cat", "/data/f").stdout == "after\n"
    p = dk.docker("volume", "create", "-d", engine.plugin, "--opt", "snapshotID=nope",
                  "clone2", check=False)
    assert p.returncode != 0 and "resource not found" in p.stderr, p.stderr
    assert state_of(engine, "clone2") is None
    assert loops_under(engine.root) == {}


def test_two_containers_share_a_volume(dk, engine):
    dk.docker("volume", "create", "-d", engine.plugin, "shared1")
    for c in ("c1", "c2"):
        dk.docker("run", "-d", "--name", c, "--network", "none", "-v", "shared1:/data", "bb",
                  "sleep", "300")
    try:
        dk.docker("exec", "c1", "sh", "-c", "echo one > /data/a")
        assert dk.docker("exec", "c2", "cat", "/data/a").stdout == "one\n"
        assert len(loops_under(engine.root)) == 1, "one loop device for both"
        dk.docker("rm", "-f", "c1")
        dk.docker("exec", "c2", "sh", "-c", "echo two > /data/b")
        assert dk.docker("exec", "c2", "cat", "/data/a", "/data/b").stdout == "one\ntwo\n"
        assert len(loops_under(engine.root)) == 1, "c2 still uses it"
        dk.docker("rm", "-f", "c2")
        assert loops_under(engine.root) == {}
        assert not [m for m in mounts_under(engine.root) if "shared1" in m]
    finally:
        dk.docker("rm", "-f", "c1", "c2", check=False)


def test_ignore_used_count_never_gives_a_live_filesystem_a_second_device(dk, engine):
    """Issue 22, case 4: with unmount.ignoreUsedCount, stopping one of two
    containers unmounts on the host, but the filesystem lives on in the
    other's mount namespace: its device stays, and a third container gets
    that same filesystem, never a second loop device on the image."""
    for c in ("i1", "i2"):
        dk.docker("run", "-d", "--name", c, "--network", "none", "--volume-driver", engine.ign,
                  "-v", "ign1:/data", "bb", "sleep", "300")
    try:
        dk.docker("exec", "i1", "sh", "-c", "echo one > /data/a")
        dk.docker("rm", "-f", "i1")
        dk.docker("exec", "i2", "sh", "-c", "echo two > /data/b; sync")
        assert len(loops_under(engine.root)) == 1, "i2's filesystem keeps its device"
        assert state_of(engine, "ign1")["attachmentState"] == 2, "still attached here"
        dk.docker("run", "-d", "--name", "i3", "--network", "none", "--volume-driver",
                  engine.ign, "-v", "ign1:/data", "bb", "sleep", "300")
        assert len(loops_under(engine.root)) == 1, "never a second device on the image"
        assert dk.docker("exec", "i3", "cat", "/data/a", "/data/b").stdout == "one\ntwo\n"
        dk.docker("exec", "i3", "sh", "-c", "echo three > /data/c")
        assert dk.docker("exec", "i2", "cat", "/data/c").stdout == "three\n", "one filesystem"
        dk.docker("rm", "-f", "i2", "i3")
        deadline = time.time() + 10
        while loops_under(engine.root) and time.time() < deadline:
            time.sleep(0.2)
        # the last one out: every unmount unmounts, the device goes with the last user
        assert loops_under(engine.root) == {}
    finally:
        dk.docker("rm", "-f", "i1", "i2", "i3", check=False)


def test_implicit_create_by_run_and_rm(dk, engine):
    run(dk, "--volume-driver", engine.plugin, "-v", "implicit1:/d", "bb", "touch", "/d/x")
    assert state_of(engine, "implicit1") is not None
    dk.docker("volume", "rm", "implicit1")
    assert state_of(engine, "implicit1") is None
    assert "implicit1" not in dk.docker("volume", "ls", "-q").stdout.split()


def test_remove_disable_keeps_the_volume(dk, engine):
    dk.docker("volume", "create", "-d", engine.keep, "kept1")
    dk.docker("volume", "rm", "kept1")  # Docker forgets it; the plugin says yes...
    assert state_of(engine, "kept1") is not None, "...and remove.disable keeps the storage"
    # the plugin still lists it, so Docker can find it again
    assert dk.docker("volume", "inspect", "kept1").returncode == 0


def test_seed_nginx_example(dk, engine):
    # Marathon's "volume-driver": "rexray", "volume": "nginx-data:/data/www"
    run(dk, "--volume-driver", engine.plugin, "-v", "nginx-data:/data/www", "bb", "sh", "-c",
        "echo '<h1>hello</h1>' > /data/www/index.html")
    out = run(dk, "--volume-driver", engine.plugin, "-v", "nginx-data:/data/www", "bb",
              "cat", "/data/www/index.html").stdout
    assert out == "<h1>hello</h1>\n"


def test_engine_restart_while_a_container_holds_the_volume(dk, engine):
    dk.docker("run", "-d", "--name", "held", "--network", "none", "-v", "hold1:/data",
              "--volume-driver", engine.plugin, "bb", "sleep", "300")
    try:
        dk.docker("exec", "held", "sh", "-c", "echo before > /data/f")
        svc = engine.services[-1]
        svc.stop()
        # the engine is gone; the container's volume is not
        dk.docker("exec", "held", "sh", "-c", "echo during >> /data/f")
        assert len(loops_under(engine.root)) == 1
        engine.start_service()
        dk.docker("exec", "held", "sh", "-c", "echo after >> /data/f")
        assert dk.docker("exec", "held", "cat", "/data/f").stdout == "before\nduring\nafter\n"
        dk.docker("rm", "-f", "held")
        assert loops_under(engine.root) == {}, "the unmount after the restart detaches"
    finally:
        dk.docker("rm", "-f", "held", check=False)


@pytest.mark.parametrize("opt,needle", [("size=abc", "size"), ("size=-1", "size"),
                                        ("fsType=ntfs", "ntfs"), ("size=0", "size")])
def test_bad_options_are_refused_by_docker(dk, engine, opt, needle):
    p = dk.docker("volume", "create", "-d", engine.plugin, "--opt", opt, "badopt1", check=False)
    assert p.returncode != 0 and needle in p.stderr, p.stderr
    assert state_of(engine, "badopt1") is None
    assert "badopt1" not in dk.docker("volume", "ls", "-q").stdout.split()


def test_bad_requests_straight_to_the_plugin(engine):
    sock = os.path.join(PLUGIN_DIR, engine.plugin + ".sock")
    before = {v["name"] for v in engine.volumes_cli()}
    cases = [
        ("VolumeDriver.Create", {"Name": "a/b"}), ("VolumeDriver.Create", {"Name": ".."}),
        ("VolumeDriver.Create", {"Name": "x" * 256}), ("VolumeDriver.Create", {"Name": "a\u0000b"}),
        ("VolumeDriver.Create", b"{not json"), ("VolumeDriver.Create", {"Name": 7}),
        ("VolumeDriver.Create", {"Name": "okname", "Opts": "size=1"}),
        ("VolumeDriver.Create", {"Name": "okname", "Opts": {"size": "1; rm -rf /"}}),
        ("VolumeDriver.Mount", {"Name": "../../etc", "ID": "x"}),
        ("VolumeDriver.Get", {"Name": "nosuchvolume"}), ("VolumeDriver.Remove", {}),
    ]
    for method, body in cases:
        status, ctype, data = plugin_call(sock, method, body)
        assert status == 500, (method, body, status, data)
        assert ctype == "application/vnd.docker.plugins.v1.1+json", ctype
        err = json.loads(data)["Err"]
        assert err and isinstance(err, str), (method, body, data)
    status, _, _ = plugin_call(sock, "VolumeDriver.Nope", {})
    assert status == 404
    assert {v["name"] for v in engine.volumes_cli()} == before, "nothing created"


def test_protocol_basics(engine):
    sock = os.path.join(PLUGIN_DIR, engine.plugin + ".sock")
    assert oct(os.stat(sock).st_mode & 0o777) == "0o660"
    status, ctype, data = plugin_call(sock, "Plugin.Activate", b"")
    assert status == 200 and json.loads(data) == {"Implements": ["VolumeDriver"]}
    status, _, data = plugin_call(sock, "VolumeDriver.Capabilities", b"")
    assert json.loads(data) == {"Capabilities": {"Scope": "global"}}
    status, _, data = plugin_call(sock, "VolumeDriver.List", b"")
    assert status == 200 and json.loads(data)["Err"] == ""
    t0 = time.time()
    status, _, data = plugin_call(sock, "VolumeDriver.Get", {"Name": "unknown-fast"})
    assert status == 500 and time.time() - t0 < 1.0, "Get of an unknown name answers fast"
    # Get of a known volume: CreatedAt in RFC 3339
    plugin_call(sock, "VolumeDriver.Create", {"Name": "proto1", "Opts": None})
    status, _, data = plugin_call(sock, "VolumeDriver.Get", {"Name": "proto1"})
    vol = json.loads(data)["Volume"]
    assert status == 200 and vol["Name"] == "proto1", data
    assert time.strptime(vol["CreatedAt"], "%Y-%m-%dT%H:%M:%SZ")
    # mount counting by ID: two IDs, an unknown ID, then the last one
    _, _, d1 = plugin_call(sock, "VolumeDriver.Mount", {"Name": "proto1", "ID": "a"})
    _, _, d2 = plugin_call(sock, "VolumeDriver.Mount", {"Name": "proto1", "ID": "b"})
    mp = json.loads(d1)["Mountpoint"]
    assert mp == json.loads(d2)["Mountpoint"] and os.path.isdir(mp)
    assert plugin_call(sock, "VolumeDriver.Unmount", {"Name": "proto1", "ID": "zz"})[0] == 200
    assert plugin_call(sock, "VolumeDriver.Unmount", {"Name": "proto1", "ID": "a"})[0] == 200
    assert json.loads(plugin_call(sock, "VolumeDriver.Path", {"Name": "proto1"})[2])[
        "Mountpoint"] == mp
    assert plugin_call(sock, "VolumeDriver.Unmount", {"Name": "proto1", "ID": "b"})[0] == 200
    assert json.loads(plugin_call(sock, "VolumeDriver.Path", {"Name": "proto1"})[2])[
        "Mountpoint"] == ""
    assert loops_under(engine.root) == {}


def test_create_inspect_rm_time_vs_local_driver(dk, engine, capsys):
    """Not a benchmark: a sanity bound, and the figure for the closing note."""
    def cycle(driver, n):
        t0 = time.time()
        for i in range(n):
            name = "t%s%d" % (driver[:3], i)
            dk.docker("volume", "create", "-d", driver, name)
            dk.docker("volume", "inspect", name)
            dk.docker("volume", "rm", name)
        return time.time() - t0
    ours, local = [], []
    for _ in range(3):
        ours.append(cycle(engine.plugin, 10))
        local.append(cycle("local", 10))
    ratio = sorted(ours)[1] / sorted(local)[1]
    with capsys.disabled():
        print("\n  docker volume create+inspect+rm x10: plugin %.3fs, local %.3fs, ratio %.2f"
              % (sorted(ours)[1], sorted(local)[1], ratio))
    assert ratio < 3.0, (ours, local)
