"""The CSI Node service (issue #17) with a real gRPC client (python3-grpcio,
stubs generated from src/csi/csi.proto at test time), on loop volumes made
with the CLI, in a temporary REXRAY_HOME. Needs root and loop devices.

Stage = the engine's own mount (one use, caller "csi:<staging path>") bound
onto the staging path; publish = a bind of the staging path (block: of the
device node onto a file); every call idempotent; nothing left mounted or
attached after unstage.

Concurrent calls on one volume: the second call while one is in flight is
ABORTED (the CO retries); a call that comes after the first finished
succeeds idempotently. So of two racing NodeStageVolume calls each is OK or
ABORTED, at least one is OK, and the volume counts exactly one use.
"""

import os
import stat
import tempfile
import threading

import pytest

import prereq
from conftest import LoopHome, loops_under, mounts_under, release_home
from csihelp import RPC_TIMEOUT, channel, pb  # noqa: F401 - pb is a fixture

grpc = pytest.importorskip("grpc")

_MISSING = prereq.missing(root=True, loop=True, commands=("mkfs.ext4", "resize2fs"))
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))

GIB = 1 << 30


@pytest.fixture
def node(pb):
    """(home, p, stub, co): a loop home running a node-only csi module;
    co is a directory for the CO's staging and target paths."""
    p, g = pb
    h = LoopHome(tempfile.mkdtemp(prefix="rrcn"))
    sock = os.path.join(h.root, "n.sock")
    h.write_config("rexray:\n  modules:\n    k8s:\n      type: csi\n"
                   "      host: unix://%s\n      csi:\n        services: node\n" % sock)
    co = os.path.join(h.root, "co")
    os.makedirs(co)
    try:
        h.start_service()
        with channel(sock) as ch:
            yield h, p, g.NodeStub(ch), co
    finally:
        release_home(h)


def mount_cap(p, fs="ext4", mode=1, flags=()):
    return p.VolumeCapability(mount=p.VolumeCapability.MountVolume(fs_type=fs,
                                                                  mount_flags=list(flags)),
                              access_mode=p.VolumeCapability.AccessMode(mode=mode))


def block_cap(p):
    return p.VolumeCapability(block=p.VolumeCapability.BlockVolume(),
                              access_mode=p.VolumeCapability.AccessMode(mode=1))


def call(fn, req):
    return fn(req, timeout=RPC_TIMEOUT * 6)


def code_of(fn, req):
    with pytest.raises(grpc.RpcError) as ex:
        call(fn, req)
    return ex.value.code()


def create(h, name, size=1):
    h.cli_ok("volume", "create", "--size", str(size), name)
    return h.volume(name)["id"]


def inspect(h, name):
    out = h.cli_json("volume", "inspect", "-f", "json", name)
    return out[0] if isinstance(out, list) else out


def uses(h, name):
    d = inspect(h, name)
    return d["usesTotal"], d["uses"]


def stage(p, s, vid, path, cap):
    return call(s.NodeStageVolume, p.NodeStageVolumeRequest(
        volume_id=vid, staging_target_path=path, volume_capability=cap))


def unstage(p, s, vid, path):
    return call(s.NodeUnstageVolume, p.NodeUnstageVolumeRequest(volume_id=vid,
                                                                staging_target_path=path))


def publish(p, s, vid, staging, target, cap, ro=False):
    return call(s.NodePublishVolume, p.NodePublishVolumeRequest(
        volume_id=vid, staging_target_path=staging, target_path=target,
        volume_capability=cap, readonly=ro))


def unpublish(p, s, vid, target):
    return call(s.NodeUnpublishVolume, p.NodeUnpublishVolumeRequest(volume_id=vid,
                                                                    target_path=target))


def stats(p, s, vid, path):
    r = call(s.NodeGetVolumeStats, p.NodeGetVolumeStatsRequest(volume_id=vid, volume_path=path))
    return {u.unit: u for u in r.usage}, r.volume_condition


def test_info_and_capabilities(node):
    h, p, s, co = node
    info = call(s.NodeGetInfo, p.NodeGetInfoRequest())
    assert info.node_id and len(info.node_id) <= 256, info
    assert info.max_volumes_per_node == 0
    assert not info.HasField("accessible_topology")  # no VOLUME_ACCESSIBILITY_CONSTRAINTS
    caps = {c.rpc.type for c in call(s.NodeGetCapabilities,
                                     p.NodeGetCapabilitiesRequest()).capabilities}
    T = p.NodeServiceCapability.RPC
    assert caps == {T.STAGE_UNSTAGE_VOLUME, T.GET_VOLUME_STATS, T.EXPAND_VOLUME,
                    T.VOLUME_CONDITION}, caps


def test_mount_lifecycle_idempotent_and_use_counted(node):
    h, p, s, co = node
    vid = create(h, "v1")
    staging, target = os.path.join(co, "staging"), os.path.join(co, "target")
    os.mkdir(staging)
    cap = mount_cap(p)
    for _ in range(3):  # every call idempotent
        stage(p, s, vid, staging, cap)
    assert uses(h, "v1") == (1, {"csi:" + staging: 1})
    assert len(loops_under(h.root)) == 1
    for _ in range(3):
        publish(p, s, vid, staging, target, cap)
    assert os.path.isdir(target) and os.path.ismount(target)
    with open(os.path.join(target, "data"), "w") as f:
        f.write("kept by csi")
    # the same volume through the engine's own path, as Docker sees it
    engine_path = inspect(h, "v1")["path"]
    assert engine_path == os.path.join(h.volumes_dir, "v1", "data"), engine_path
    assert open(os.path.join(engine_path, "data")).read() == "kept by csi"

    by_unit, cond = stats(p, s, vid, target)
    b, i = by_unit[p.VolumeUsage.BYTES], by_unit[p.VolumeUsage.INODES]
    assert 0.9 * GIB < b.total <= GIB and 0 < b.used < b.total and 0 < b.available < b.total
    assert i.total > 0 and 0 < i.used < i.total
    assert not cond.abnormal, cond
    by_unit, cond = stats(p, s, vid, staging)
    assert by_unit[p.VolumeUsage.BYTES].total == b.total and not cond.abnormal

    # a CLI unmount does not pull the volume from under the pod
    h.cli("volume", "unmount", "v1")
    assert os.path.ismount(target) and open(os.path.join(target, "data")).read() == "kept by csi"
    assert uses(h, "v1")[0] == 1

    for _ in range(3):
        unpublish(p, s, vid, target)
    assert not os.path.exists(target), "NodeUnpublishVolume removes what it created"
    for _ in range(3):
        unstage(p, s, vid, staging)
    assert uses(h, "v1")[0] == 0
    assert mounts_under(h.root) == [] and loops_under(h.root) == {}
    assert h.volume("v1")["attachmentState"] == 3

    # again, by the volume's name: the data is there
    stage(p, s, "v1", staging, cap)
    publish(p, s, "v1", staging, target, cap)
    assert open(os.path.join(target, "data")).read() == "kept by csi"
    # read-only publish at a second target refuses writes
    ro = os.path.join(co, "ro")
    publish(p, s, vid, staging, ro, cap, ro=True)
    publish(p, s, vid, staging, ro, cap, ro=True)
    assert open(os.path.join(ro, "data")).read() == "kept by csi"
    with pytest.raises(OSError) as ex:
        open(os.path.join(ro, "new"), "w")
    assert ex.value.errno == 30  # EROFS
    # same target, other readonly flag: ALREADY_EXISTS
    assert code_of(s.NodePublishVolume, p.NodePublishVolumeRequest(
        volume_id=vid, staging_target_path=staging, target_path=ro, volume_capability=cap,
        readonly=False)) == grpc.StatusCode.ALREADY_EXISTS
    # ControllerPublishVolume's readonly, handed on in publish_context
    pro = os.path.join(co, "pro")
    call(s.NodePublishVolume, p.NodePublishVolumeRequest(
        volume_id=vid, staging_target_path=staging, target_path=pro, volume_capability=cap,
        publish_context={"readonly": "true"}))
    with pytest.raises(OSError) as ex:
        open(os.path.join(pro, "new"), "w")
    assert ex.value.errno == 30  # EROFS
    for t in (ro, pro, target):
        unpublish(p, s, vid, t)
    unstage(p, s, vid, staging)
    assert mounts_under(h.root) == [] and loops_under(h.root) == {}
    assert os.path.isdir(staging)  # the CO's directory stays


def test_block_access_binds_the_device_onto_a_file(node):
    h, p, s, co = node
    vid = create(h, "blk")
    staging, target = os.path.join(co, "bstage"), os.path.join(co, "bdev")
    os.mkdir(staging)
    cap = block_cap(p)
    for _ in range(2):
        stage(p, s, vid, staging, cap)
    assert mounts_under(h.root) == [], "block staging mounts nothing"
    assert len(loops_under(h.root)) == 1
    for _ in range(2):
        publish(p, s, vid, staging, target, cap)
    assert stat.S_ISBLK(os.stat(target).st_mode)
    fd = os.open(target, os.O_RDWR)
    try:
        os.pwrite(fd, b"raw block bytes", 4096)
        os.fsync(fd)
        assert os.pread(fd, 15, 4096) == b"raw block bytes"
    finally:
        os.close(fd)
    by_unit, cond = stats(p, s, vid, target)
    assert by_unit[p.VolumeUsage.BYTES].total == GIB and not cond.abnormal
    # the same path staged with mount access: ALREADY_EXISTS
    assert code_of(s.NodeStageVolume, p.NodeStageVolumeRequest(
        volume_id=vid, staging_target_path=staging,
        volume_capability=mount_cap(p))) == grpc.StatusCode.ALREADY_EXISTS
    for _ in range(2):
        unpublish(p, s, vid, target)
    assert not os.path.exists(target)
    for _ in range(2):
        unstage(p, s, vid, staging)
    assert mounts_under(h.root) == [] and loops_under(h.root) == {}
    assert uses(h, "blk")[0] == 0


def test_bad_input(node):
    h, p, s, co = node
    vid = create(h, "bad")
    staging = os.path.join(co, "s")
    os.mkdir(staging)
    cap = mount_cap(p)
    INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    bad_paths = ("relative/path", co + "/../etc", co + "//s", co + "/./s", co + "/s/",
                 "/" + "a" * 5000, "")
    for bad in bad_paths:
        assert code_of(s.NodeStageVolume, p.NodeStageVolumeRequest(
            volume_id=vid, staging_target_path=bad, volume_capability=cap)) == INVALID, bad
        assert code_of(s.NodeUnstageVolume, p.NodeUnstageVolumeRequest(
            volume_id=vid, staging_target_path=bad)) == INVALID, bad
        assert code_of(s.NodePublishVolume, p.NodePublishVolumeRequest(
            volume_id=vid, staging_target_path=staging, target_path=bad,
            volume_capability=cap)) == INVALID, bad
        assert code_of(s.NodeUnpublishVolume, p.NodeUnpublishVolumeRequest(
            volume_id=vid, target_path=bad)) == INVALID, bad
        assert code_of(s.NodeGetVolumeStats, p.NodeGetVolumeStatsRequest(
            volume_id=vid, volume_path=bad)) == INVALID, bad
    # missing fields
    assert code_of(s.NodeStageVolume, p.NodeStageVolumeRequest(
        staging_target_path=staging, volume_capability=cap)) == INVALID
    assert code_of(s.NodeStageVolume, p.NodeStageVolumeRequest(
        volume_id=vid, staging_target_path=staging)) == INVALID
    assert code_of(s.NodeStageVolume, p.NodeStageVolumeRequest(
        volume_id=vid, staging_target_path=staging,
        volume_capability=p.VolumeCapability(mount=p.VolumeCapability.MountVolume()))) == INVALID
    assert code_of(s.NodeStageVolume, p.NodeStageVolumeRequest(
        volume_id=vid, staging_target_path=staging,
        volume_capability=mount_cap(p, fs="ntfs"))) == INVALID
    assert code_of(s.NodeUnpublishVolume, p.NodeUnpublishVolumeRequest(
        target_path=staging)) == INVALID
    assert code_of(s.NodeExpandVolume, p.NodeExpandVolumeRequest(volume_id=vid)) == INVALID
    # unknown volume
    for fn, req in ((s.NodeStageVolume, p.NodeStageVolumeRequest(
                        volume_id="nope", staging_target_path=staging, volume_capability=cap)),
                    (s.NodeUnstageVolume, p.NodeUnstageVolumeRequest(
                        volume_id="nope", staging_target_path=staging)),
                    (s.NodePublishVolume, p.NodePublishVolumeRequest(
                        volume_id="nope", staging_target_path=staging,
                        target_path=co + "/t", volume_capability=cap)),
                    (s.NodeUnpublishVolume, p.NodeUnpublishVolumeRequest(
                        volume_id="nope", target_path=co + "/t")),
                    (s.NodeGetVolumeStats, p.NodeGetVolumeStatsRequest(
                        volume_id="nope", volume_path=staging)),
                    (s.NodeExpandVolume, p.NodeExpandVolumeRequest(
                        volume_id="nope", volume_path=staging))):
        assert code_of(fn, req) == NOT_FOUND, fn
    # a path where the volume is not
    assert code_of(s.NodeGetVolumeStats, p.NodeGetVolumeStatsRequest(
        volume_id=vid, volume_path=co + "/nowhere")) == NOT_FOUND
    # publish before stage, and without a staging path
    assert code_of(s.NodePublishVolume, p.NodePublishVolumeRequest(
        volume_id=vid, staging_target_path=staging, target_path=co + "/t",
        volume_capability=cap)) == grpc.StatusCode.FAILED_PRECONDITION
    assert code_of(s.NodePublishVolume, p.NodePublishVolumeRequest(
        volume_id=vid, target_path=co + "/t",
        volume_capability=cap)) == grpc.StatusCode.FAILED_PRECONDITION
    assert not os.path.exists(co + "/t")
    # a symlink at the target is never followed
    stage(p, s, vid, staging, cap)
    victim = os.path.join(co, "victim")
    os.mkdir(victim)
    link = os.path.join(co, "link")
    os.symlink(victim, link)
    assert code_of(s.NodePublishVolume, p.NodePublishVolumeRequest(
        volume_id=vid, staging_target_path=staging, target_path=link,
        volume_capability=cap)) == INVALID
    assert not os.path.ismount(victim) and os.path.islink(link)
    # nor one in a parent of the target
    assert code_of(s.NodePublishVolume, p.NodePublishVolumeRequest(
        volume_id=vid, staging_target_path=staging, target_path=link + "/t",
        volume_capability=cap)) != grpc.StatusCode.OK
    assert os.listdir(victim) == []
    # another volume at a staging path / target
    other = create(h, "other")
    assert code_of(s.NodeStageVolume, p.NodeStageVolumeRequest(
        volume_id=other, staging_target_path=staging,
        volume_capability=cap)) == grpc.StatusCode.FAILED_PRECONDITION
    t = os.path.join(co, "t")
    publish(p, s, vid, staging, t, cap)
    s2 = os.path.join(co, "s2")
    stage(p, s, other, s2, cap)
    assert code_of(s.NodePublishVolume, p.NodePublishVolumeRequest(
        volume_id=other, staging_target_path=s2, target_path=t,
        volume_capability=cap)) == grpc.StatusCode.ALREADY_EXISTS
    assert code_of(s.NodeUnpublishVolume, p.NodeUnpublishVolumeRequest(
        volume_id=other, target_path=t)) == grpc.StatusCode.FAILED_PRECONDITION
    assert os.path.ismount(t)
    unpublish(p, s, vid, t)
    unstage(p, s, vid, staging)
    unstage(p, s, other, s2)
    assert mounts_under(h.root) == [] and loops_under(h.root) == {}


def test_concurrent_stage_of_one_volume(node):
    h, p, s, co = node
    vid = create(h, "race")
    staging = os.path.join(co, "rs")
    os.mkdir(staging)
    cap = mount_cap(p)
    for _ in range(3):
        results = []

        def go():
            try:
                stage(p, s, vid, staging, cap)
                results.append(grpc.StatusCode.OK)
            except grpc.RpcError as ex:
                results.append(ex.code())

        threads = [threading.Thread(target=go) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(results) <= {grpc.StatusCode.OK, grpc.StatusCode.ABORTED}, results
        assert grpc.StatusCode.OK in results, results
        assert uses(h, "race") == (1, {"csi:" + staging: 1})
    stage(p, s, vid, staging, cap)
    assert uses(h, "race")[0] == 1
    unstage(p, s, vid, staging)
    assert mounts_under(h.root) == [] and loops_under(h.root) == {}


@pytest.mark.parametrize("fs", ["xfs", "ext4"])
def test_expand_after_resize_shows_the_new_size(node, fs):
    if fs == "xfs" and prereq.missing(commands=("mkfs.xfs", "xfs_growfs")):
        pytest.skip(prereq.missing(commands=("mkfs.xfs", "xfs_growfs")))
    h, p, s, co = node
    vid = create(h, "grow")
    staging, target = os.path.join(co, "gs"), os.path.join(co, "gt")
    os.mkdir(staging)
    cap = mount_cap(p, fs=fs)
    stage(p, s, vid, staging, cap)
    publish(p, s, vid, staging, target, cap)
    with open(os.path.join(target, "keep"), "w") as f:
        f.write("kept")
    assert stats(p, s, vid, target)[0][p.VolumeUsage.BYTES].total < 1.1 * GIB
    h.cli_ok("volume", "resize", "grow", "--size", "2")
    req = p.NodeExpandVolumeRequest(volume_id=vid, volume_path=target,
                                    staging_target_path=staging,
                                    capacity_range=p.CapacityRange(required_bytes=2 * GIB))
    try:
        for _ in range(2):  # idempotent
            assert call(s.NodeExpandVolume, req).capacity_bytes == 2 * GIB
    except grpc.RpcError as ex:
        # online ext4 growth needs CAP_SYS_RESOURCE, which a sandbox may
        # lack: said so, and the filesystem grows at its next stage
        assert fs == "ext4" and ex.code() == grpc.StatusCode.PERMISSION_DENIED, ex
        assert "CAP_SYS_RESOURCE" in ex.details(), ex
        unpublish(p, s, vid, target)
        unstage(p, s, vid, staging)
        stage(p, s, vid, staging, cap)
        publish(p, s, vid, staging, target, cap)
    total = stats(p, s, vid, target)[0][p.VolumeUsage.BYTES].total
    assert total > 1.8 * GIB, total
    assert open(os.path.join(target, "keep")).read() == "kept"
    # more than the volume has: OUT_OF_RANGE
    assert code_of(s.NodeExpandVolume, p.NodeExpandVolumeRequest(
        volume_id=vid, volume_path=target,
        capacity_range=p.CapacityRange(required_bytes=5 * GIB))) == grpc.StatusCode.OUT_OF_RANGE
    unpublish(p, s, vid, target)
    unstage(p, s, vid, staging)
    assert mounts_under(h.root) == [] and loops_under(h.root) == {}


def test_stats_condition_when_the_mount_is_gone(node):
    h, p, s, co = node
    vid = create(h, "cond")
    staging, target = os.path.join(co, "cs"), os.path.join(co, "ct")
    os.mkdir(staging)
    cap = mount_cap(p)
    stage(p, s, vid, staging, cap)
    publish(p, s, vid, staging, target, cap)
    os.system("umount " + target)  # someone took the mount away
    by_unit, cond = stats(p, s, vid, target)
    assert cond.abnormal and "no longer mounted" in cond.message, cond
    unpublish(p, s, vid, target)
    unstage(p, s, vid, staging)
    assert mounts_under(h.root) == [] and loops_under(h.root) == {}
