"""The whole CSI lifecycle through one engine serving Controller and Node
(issue #17), as a CO drives it: CreateVolume -> ControllerPublish ->
NodeStage -> NodePublish (write data) -> NodeUnpublish -> NodeUnstage ->
ControllerUnpublish -> CreateSnapshot -> CreateVolume from it -> read the
data -> expand -> NodeGetVolumeStats shows the new size -> DeleteVolume,
with the same volumes visible to `rexray volume ls` and nothing left
mounted or attached. Needs root and loop devices."""

import hashlib
import os
import tempfile

import pytest

import prereq
from conftest import LoopHome, loops_under, mounts_under, release_home
from csihelp import (RPC_TIMEOUT, channel, pb,  # noqa: F401 - pb is a fixture
                     stage_and_publish, unpublish_and_unstage)

grpc = pytest.importorskip("grpc")

_MISSING = prereq.missing(root=True, loop=True, commands=("mkfs.xfs", "xfs_growfs"))
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))

GIB = 1 << 30


@pytest.fixture
def co(pb):
    """(home, p, controller stub, node stub, co dir): one engine, both services."""
    p, g = pb
    h = LoopHome(tempfile.mkdtemp(prefix="rrcl"))
    sock = os.path.join(h.root, "csi.sock")
    h.write_config("rexray:\n  modules:\n    k8s:\n      type: csi\n"
                   "      host: unix://%s\n" % sock)
    d = os.path.join(h.root, "co")
    os.makedirs(d)
    try:
        h.start_service()
        with channel(sock) as ch:
            yield h, p, g.ControllerStub(ch), g.NodeStub(ch), d
    finally:
        release_home(h)


def call(fn, req):
    return fn(req, timeout=RPC_TIMEOUT * 6)


def cap(p, fs="xfs"):
    # xfs: it grows online in any sandbox (ext4's online resize needs
    # CAP_SYS_RESOURCE, which the test machine may lack)
    return p.VolumeCapability(mount=p.VolumeCapability.MountVolume(fs_type=fs),
                              access_mode=p.VolumeCapability.AccessMode(mode=1))


def use_volume(h, p, ctl, node, d, vid, tag, write=None):
    """Publish, stage, publish on this node; write or read a file; undo it
    all. Returns the file's digest."""
    node_id = call(node.NodeGetInfo, p.NodeGetInfoRequest()).node_id
    pub = call(ctl.ControllerPublishVolume, p.ControllerPublishVolumeRequest(
        volume_id=vid, node_id=node_id, volume_capability=cap(p)))
    staging, target = os.path.join(d, tag + "-staging"), os.path.join(d, tag + "-target")
    os.makedirs(staging, exist_ok=True)
    stage_and_publish(p, node, vid, cap(p), pub.publish_context, staging, target)
    f = os.path.join(target, "data.bin")
    if write:
        with open(f, "wb") as out:
            out.write(write)
            out.flush()
            os.fsync(out.fileno())
    with open(f, "rb") as inp:
        digest = hashlib.sha256(inp.read()).hexdigest()
    usage = {u.unit: u for u in call(node.NodeGetVolumeStats, p.NodeGetVolumeStatsRequest(
        volume_id=vid, volume_path=target)).usage}
    unpublish_and_unstage(p, node, vid, staging, target)
    call(ctl.ControllerUnpublishVolume, p.ControllerUnpublishVolumeRequest(
        volume_id=vid, node_id=node_id))
    return digest, usage


def test_create_publish_stage_write_snapshot_clone_expand_delete(co):
    h, p, ctl, node, d = co
    data = os.urandom(3 << 20)
    want = hashlib.sha256(data).hexdigest()
    v = call(ctl.CreateVolume, p.CreateVolumeRequest(
        name="pvc-1", capacity_range=p.CapacityRange(required_bytes=GIB),
        volume_capabilities=[cap(p)])).volume
    assert v.capacity_bytes == GIB
    # the same volume for every front end
    assert [x["id"] for x in h.volumes_cli() if x["name"] == "pvc-1"] == [v.volume_id]
    got, _ = use_volume(h, p, ctl, node, d, v.volume_id, "a", write=data)
    assert got == want
    snap = call(ctl.CreateSnapshot, p.CreateSnapshotRequest(
        source_volume_id=v.volume_id, name="snap-1")).snapshot
    assert snap.ready_to_use and snap.source_volume_id == v.volume_id
    clone = call(ctl.CreateVolume, p.CreateVolumeRequest(
        name="pvc-2", capacity_range=p.CapacityRange(required_bytes=GIB),
        volume_capabilities=[cap(p)],
        volume_content_source=p.VolumeContentSource(
            snapshot=p.VolumeContentSource.SnapshotSource(snapshot_id=snap.snapshot_id)))).volume
    got, usage = use_volume(h, p, ctl, node, d, clone.volume_id, "b")
    assert got == want, "the clone carries the snapshot's data"
    before = usage[p.VolumeUsage.BYTES].total
    # grow it, then the node sees the new size in its stats
    r = call(ctl.ControllerExpandVolume, p.ControllerExpandVolumeRequest(
        volume_id=clone.volume_id, capacity_range=p.CapacityRange(required_bytes=3 * GIB)))
    assert r.capacity_bytes == 3 * GIB
    got, usage = use_volume(h, p, ctl, node, d, clone.volume_id, "c")
    assert got == want
    after = usage[p.VolumeUsage.BYTES].total
    assert after > 2.5 * GIB > before, (before, after)
    for vid in (clone.volume_id, v.volume_id):
        call(ctl.DeleteVolume, p.DeleteVolumeRequest(volume_id=vid))
    call(ctl.DeleteSnapshot, p.DeleteSnapshotRequest(snapshot_id=snap.snapshot_id))
    assert [x for x in h.volumes_cli() if x["name"] in ("pvc-1", "pvc-2")] == []
    assert loops_under(h.root) == {} and mounts_under(h.root) == []
