"""The CSI Controller service (issue #17) through a real gRPC client
(python3-grpcio, stubs generated from src/csi/csi.proto at test time) on
an engine with the loop service in a temporary REXRAY_HOME: every RPC,
the spec's error codes, idempotency (each call repeated), pagination with
stable tokens, two calls on one volume at once (ABORTED), snapshot ->
volume from snapshot (the data) and clone, expansion, GetCapacity against
the room the loop driver would give, and that CSI volumes are the engine's
volumes (`rexray volume ls`). Secrets are never logged.

The controller never binds a loop device or mounts: these tests need no
root; a publish is the libStorage attachment (a record)."""

import glob
import os
import threading
import time

import pytest

from csihelp import GIB, RPC_TIMEOUT, channel, grpc, pb, rpc_error  # noqa: F401 (pb: fixture)

SECRET = "s3cr3t-Do-Not-Log-4711"
C = grpc.StatusCode


def csi_config(h, extra_module="", extra=""):
    """A csi module `k8s` (controller only) on the loop service, debug logs."""
    sock = os.path.join(h.root, "k8s.sock")
    h.write_config("rexray:\n  logLevel: debug\n  modules:\n    k8s:\n      type: csi\n"
                   "      host: unix://%s\n      csi:\n        services: controller\n%s%s"
                   % (sock, extra_module, extra))
    return sock


@pytest.fixture
def ctl(lh, pb):
    """(pb2, stub, home, service) for a running engine with the module."""
    p, g = pb
    sock = csi_config(lh)
    svc = lh.start_service()
    with channel(sock) as ch:
        yield p, g.ControllerStub(ch), lh, svc


def mount_cap(p, fs="", mode=None):
    m = p.VolumeCapability.AccessMode
    return p.VolumeCapability(mount=p.VolumeCapability.MountVolume(fs_type=fs),
                              access_mode=m(mode=mode or m.SINGLE_NODE_WRITER))


def block_cap(p):
    m = p.VolumeCapability.AccessMode
    return p.VolumeCapability(block=p.VolumeCapability.BlockVolume(),
                              access_mode=m(mode=m.SINGLE_NODE_WRITER))


def create(p, stub, name, required=0, limit=0, caps=None, params=None, source=None):
    req = p.CreateVolumeRequest(
        name=name, volume_capabilities=caps or [mount_cap(p, "ext4")],
        parameters=params or {}, secrets={"password": SECRET})
    if required or limit:
        req.capacity_range.required_bytes = required
        req.capacity_range.limit_bytes = limit
    if source is not None:
        req.volume_content_source.CopyFrom(source)
    return stub.CreateVolume(req, timeout=RPC_TIMEOUT).volume


def image_of(h, vid):
    found = glob.glob(os.path.join(h.root, "**", vid + ".img"), recursive=True)
    assert len(found) == 1, found
    return found[0]


def all_logs(svc):
    text = ""
    for path in (svc.out_path, svc.err_path):
        with open(path, "rb") as f:
            text += f.read().decode("utf-8", "replace")
    return text


def test_capabilities_and_unimplemented(ctl):
    p, stub, h, svc = ctl
    caps = stub.ControllerGetCapabilities(p.ControllerGetCapabilitiesRequest(),
                                          timeout=RPC_TIMEOUT).capabilities
    T = p.ControllerServiceCapability.RPC
    got = {c.rpc.type for c in caps}
    assert got == {T.CREATE_DELETE_VOLUME, T.PUBLISH_UNPUBLISH_VOLUME, T.LIST_VOLUMES,
                   T.LIST_VOLUMES_PUBLISHED_NODES, T.GET_CAPACITY, T.CREATE_DELETE_SNAPSHOT,
                   T.LIST_SNAPSHOTS, T.CLONE_VOLUME, T.EXPAND_VOLUME, T.GET_VOLUME}, got
    rpc_error(stub.ControllerModifyVolume, p.ControllerModifyVolumeRequest(volume_id="x"),
              code=C.UNIMPLEMENTED)
    rpc_error(stub.GetSnapshot, p.GetSnapshotRequest(snapshot_id="x"), code=C.UNIMPLEMENTED)


def test_create_volume_rules_and_idempotency(ctl):
    p, stub, h, svc = ctl
    m = p.VolumeCapability.AccessMode
    # missing or bad fields
    rpc_error(stub.CreateVolume, p.CreateVolumeRequest(volume_capabilities=[mount_cap(p)]),
              code=C.INVALID_ARGUMENT)
    rpc_error(stub.CreateVolume, p.CreateVolumeRequest(name="nocaps"), code=C.INVALID_ARGUMENT)
    for bad in ([mount_cap(p, "btrfs")], [mount_cap(p, mode=m.MULTI_NODE_MULTI_WRITER)],
                [p.VolumeCapability(access_mode=m(mode=m.SINGLE_NODE_WRITER))],
                [mount_cap(p, "ext4"), mount_cap(p, "xfs")]):
        rpc_error(stub.CreateVolume, p.CreateVolumeRequest(name="bad", volume_capabilities=bad),
                  code=C.INVALID_ARGUMENT)
    for params in ({"fsType": "ntfs"}, {"fsType": "xfs"}, {"size": "3"}):
        rpc_error(stub.CreateVolume, p.CreateVolumeRequest(
            name="bad", volume_capabilities=[mount_cap(p, "ext4")], parameters=params),
            code=C.INVALID_ARGUMENT)
    rpc_error(stub.CreateVolume, p.CreateVolumeRequest(
        name="bad/name", volume_capabilities=[mount_cap(p)]), code=C.INVALID_ARGUMENT)
    neg = p.CreateVolumeRequest(name="neg", volume_capabilities=[mount_cap(p)])
    neg.capacity_range.required_bytes = -1
    rpc_error(stub.CreateVolume, neg, code=C.INVALID_ARGUMENT)
    # a limit below the rounded size: no whole GiB fits
    rpc_error(stub.CreateVolume, p.CreateVolumeRequest(
        name="tight", volume_capabilities=[mount_cap(p)],
        capacity_range=p.CapacityRange(required_bytes=1, limit_bytes=1000)),
        code=C.OUT_OF_RANGE)
    assert not [v for v in h.volumes_cli() if v["name"] in ("bad", "neg", "tight")]

    # 1.5 GiB rounds up to 2 GiB; the same request again is the same volume
    v = create(p, stub, "pvc-one", required=GIB + GIB // 2)
    assert v.capacity_bytes == 2 * GIB and v.volume_id, v
    assert dict(v.volume_context) == {"fsType": "ext4"}
    for _ in range(3):
        again = create(p, stub, "pvc-one", required=GIB + GIB // 2)
        assert again.volume_id == v.volume_id and again.capacity_bytes == 2 * GIB
    # compatible: a smaller request fits the 2 GiB volume; an exact range too
    assert create(p, stub, "pvc-one", required=GIB).volume_id == v.volume_id
    assert create(p, stub, "pvc-one", required=2 * GIB, limit=2 * GIB).volume_id == v.volume_id
    # incompatible: a bigger size, a limit below it, another filesystem
    for kw in ({"required": 5 * GIB}, {"required": GIB, "limit": GIB},
               {"required": GIB, "caps": [mount_cap(p, "xfs")]}):
        with pytest.raises(grpc.RpcError) as ex:
            create(p, stub, "pvc-one", **kw)
        assert ex.value.code() == C.ALREADY_EXISTS, (kw, ex.value.details())

    # the parameters: fsType (any spelling) and the driver's options
    x = create(p, stub, "pvc-xfs", caps=[mount_cap(p)],
               params={"csi.storage.k8s.io/fstype": "xfs", "csi.storage.k8s.io/pvc/name": "c",
                       "type": "fast"})
    assert dict(x.volume_context) == {"fsType": "xfs"} and x.capacity_bytes == GIB
    blk = create(p, stub, "pvc-block", required=3 * GIB, caps=[block_cap(p)])
    assert blk.capacity_bytes == 3 * GIB and dict(blk.volume_context) == {}
    lim = create(p, stub, "pvc-limit", limit=GIB + 5)  # default 1 GiB fits under the limit
    assert lim.capacity_bytes == GIB

    # the engine's own volumes: `rexray volume ls` lists them, ID = volume_id
    cli = {d["name"]: d for d in h.volumes_cli()}
    assert cli["pvc-one"]["id"] == v.volume_id and cli["pvc-one"]["size"] == 2
    assert cli["pvc-xfs"]["type"] == "fast" and cli["pvc-block"]["size"] == 3
    assert not [n for n in cli if "csi.storage" in n]


def test_delete_volume(ctl):
    p, stub, h, svc = ctl
    v = create(p, stub, "pvc-del")
    rpc_error(stub.DeleteVolume, p.DeleteVolumeRequest(), code=C.INVALID_ARGUMENT)
    # in use: published to a node
    stub.ControllerPublishVolume(p.ControllerPublishVolumeRequest(
        volume_id=v.volume_id, node_id="node-a", volume_capability=mount_cap(p)),
        timeout=RPC_TIMEOUT)
    rpc_error(stub.DeleteVolume, p.DeleteVolumeRequest(volume_id=v.volume_id),
              code=C.FAILED_PRECONDITION)
    stub.ControllerUnpublishVolume(p.ControllerUnpublishVolumeRequest(
        volume_id=v.volume_id, node_id="node-a"), timeout=RPC_TIMEOUT)
    for _ in range(3):  # gone, then already gone: success each time
        stub.DeleteVolume(p.DeleteVolumeRequest(volume_id=v.volume_id,
                                                secrets={"password": SECRET}),
                          timeout=RPC_TIMEOUT)
    for unknown in ("no-such-volume", "../../etc", "x" * 300):
        stub.DeleteVolume(p.DeleteVolumeRequest(volume_id=unknown), timeout=RPC_TIMEOUT)
    assert "pvc-del" not in [d["name"] for d in h.volumes_cli()]


def published(p, stub, vid):
    st = stub.ControllerGetVolume(p.ControllerGetVolumeRequest(volume_id=vid),
                                  timeout=RPC_TIMEOUT).status
    return sorted(st.published_node_ids)


def test_publish_unpublish(ctl):
    p, stub, h, svc = ctl
    v = create(p, stub, "pvc-pub")
    vid = v.volume_id
    pub = lambda node, **kw: stub.ControllerPublishVolume(p.ControllerPublishVolumeRequest(  # noqa
        volume_id=kw.get("vid", vid), node_id=node, volume_capability=kw.get("cap", mount_cap(p)),
        volume_context=v.volume_context, secrets={"password": SECRET}), timeout=RPC_TIMEOUT)
    unpub = lambda node, **kw: stub.ControllerUnpublishVolume(  # noqa
        p.ControllerUnpublishVolumeRequest(volume_id=kw.get("vid", vid), node_id=node),
        timeout=RPC_TIMEOUT)

    # missing fields, unknown volume
    for req in (p.ControllerPublishVolumeRequest(node_id="a", volume_capability=mount_cap(p)),
                p.ControllerPublishVolumeRequest(volume_id=vid, volume_capability=mount_cap(p)),
                p.ControllerPublishVolumeRequest(volume_id=vid, node_id="a"),
                p.ControllerPublishVolumeRequest(volume_id=vid, node_id="a",
                                                 volume_capability=mount_cap(p, "xfs"))):
        rpc_error(stub.ControllerPublishVolume, req, code=C.INVALID_ARGUMENT)
    for unknown in ("no-such-volume", "../x"):
        with pytest.raises(grpc.RpcError) as ex:
            pub("node-a", vid=unknown)
        assert ex.value.code() == C.NOT_FOUND, ex.value.details()
    rpc_error(stub.ControllerUnpublishVolume, p.ControllerUnpublishVolumeRequest(node_id="a"),
              code=C.INVALID_ARGUMENT)

    ctx = dict(pub("node-a").publish_context)
    assert ctx == {"token": vid, "readonly": "false"}, ctx
    for _ in range(3):  # idempotent
        assert dict(pub("node-a").publish_context) == ctx
    assert published(p, stub, vid) == ["node-a"]
    entry = [e for e in stub.ListVolumes(p.ListVolumesRequest(), timeout=RPC_TIMEOUT).entries
             if e.volume.volume_id == vid][0]
    assert list(entry.status.published_node_ids) == ["node-a"]
    # another node: refused while node-a has it (no mount.preempt)
    with pytest.raises(grpc.RpcError) as ex:
        pub("node-b")
    assert ex.value.code() == C.FAILED_PRECONDITION and "node-a" in ex.value.details()
    # the engine sees the attachment: the CLI lists it attached
    # node-b never had it: its unpublish is a success that changes nothing
    unpub("node-b")
    assert published(p, stub, vid) == ["node-a"]
    for _ in range(3):
        unpub("node-a")
    assert published(p, stub, vid) == []
    unpub("node-a", vid="no-such-volume")  # gone: nothing published
    # now node-b may; an empty node_id unpublishes every node
    assert dict(pub("node-b").publish_context)["token"] == vid
    assert published(p, stub, vid) == ["node-b"]
    unpub("")
    assert published(p, stub, vid) == []
    # block access publishes as well, readonly is passed to the node
    r = stub.ControllerPublishVolume(p.ControllerPublishVolumeRequest(
        volume_id=vid, node_id="node-c", volume_capability=block_cap(p), readonly=True),
        timeout=RPC_TIMEOUT)
    assert dict(r.publish_context)["readonly"] == "true"
    unpub("node-c")


def test_publish_preempts_with_mount_preempt(lh, pb):
    p, g = pb
    sock = csi_config(lh, "      libstorage:\n        integration:\n          volume:\n"
                      "            operations:\n              mount:\n"
                      "                preempt: true\n",
                      "libstorage:\n  server:\n    lease: 1s\n")
    lh.start_service()
    with channel(sock) as ch:
        stub = g.ControllerStub(ch)
        vid = create(p, stub, "pvc-pre").volume_id
        for node in ("node-a", "node-b"):
            stub.ControllerPublishVolume(p.ControllerPublishVolumeRequest(
                volume_id=vid, node_id=node, volume_capability=mount_cap(p)),
                timeout=RPC_TIMEOUT)
        assert published(p, stub, vid) == ["node-b"]


def test_validate_volume_capabilities(ctl):
    p, stub, h, svc = ctl
    m = p.VolumeCapability.AccessMode
    v = create(p, stub, "pvc-val")
    caps = [mount_cap(p, "ext4"), mount_cap(p, "", m.SINGLE_NODE_READER_ONLY), block_cap(p)]
    for _ in range(2):
        r = stub.ValidateVolumeCapabilities(p.ValidateVolumeCapabilitiesRequest(
            volume_id=v.volume_id, volume_capabilities=caps, volume_context=v.volume_context,
            parameters={"type": "x"}, secrets={"password": SECRET}), timeout=RPC_TIMEOUT)
        assert r.HasField("confirmed"), r
        assert list(r.confirmed.volume_capabilities) == caps
        assert dict(r.confirmed.volume_context) == dict(v.volume_context)
        assert dict(r.confirmed.parameters) == {"type": "x"}
    for bad in ([mount_cap(p, "", m.MULTI_NODE_MULTI_WRITER)], [mount_cap(p, "xfs")]):
        r = stub.ValidateVolumeCapabilities(p.ValidateVolumeCapabilitiesRequest(
            volume_id=v.volume_id, volume_capabilities=bad), timeout=RPC_TIMEOUT)
        assert not r.HasField("confirmed") and r.message, r
    rpc_error(stub.ValidateVolumeCapabilities, p.ValidateVolumeCapabilitiesRequest(
        volume_id="no-such-volume", volume_capabilities=caps), code=C.NOT_FOUND)
    rpc_error(stub.ValidateVolumeCapabilities, p.ValidateVolumeCapabilitiesRequest(
        volume_id=v.volume_id), code=C.INVALID_ARGUMENT)
    rpc_error(stub.ValidateVolumeCapabilities, p.ValidateVolumeCapabilitiesRequest(
        volume_capabilities=caps), code=C.INVALID_ARGUMENT)


def page_all(list_call, req_type, size, **filters):
    """Every entry through pages of `size`; the pages' lengths."""
    got, lens, token = [], [], ""
    while True:
        r = list_call(req_type(max_entries=size, starting_token=token, **filters),
                      timeout=RPC_TIMEOUT)
        got += list(r.entries)
        lens.append(len(r.entries))
        token = r.next_token
        if not token:
            return got, lens
        assert len(lens) < 50


def test_list_volumes_pages(ctl):
    p, stub, h, svc = ctl
    ids = sorted(create(p, stub, "pvc-page-%d" % i, required=(i % 3 + 1) * GIB).volume_id
                 for i in range(7))
    got, lens = page_all(stub.ListVolumes, p.ListVolumesRequest, 3)
    assert lens == [3, 3, 1], lens
    assert [e.volume.volume_id for e in got] == ids
    sizes = {e.volume.volume_id: e.volume.capacity_bytes for e in got}
    assert sorted(sizes.values()) == sorted((i % 3 + 1) * GIB for i in range(7))
    assert all(dict(e.volume.volume_context) == {"fsType": "ext4"} for e in got)
    # every one at once; the same again (a listing changes nothing)
    for _ in range(2):
        r = stub.ListVolumes(p.ListVolumesRequest(), timeout=RPC_TIMEOUT)
        assert [e.volume.volume_id for e in r.entries] == ids and not r.next_token
    # a token stays good when its volume goes: the next page follows it
    first = stub.ListVolumes(p.ListVolumesRequest(max_entries=3), timeout=RPC_TIMEOUT)
    stub.DeleteVolume(p.DeleteVolumeRequest(volume_id=ids[2]), timeout=RPC_TIMEOUT)
    nxt = stub.ListVolumes(p.ListVolumesRequest(max_entries=3,
                                                starting_token=first.next_token),
                           timeout=RPC_TIMEOUT)
    assert [e.volume.volume_id for e in nxt.entries] == ids[3:6]
    for bad in ("invalid-token", "after:", "after:../x", "x" * 500):
        rpc_error(stub.ListVolumes, p.ListVolumesRequest(starting_token=bad), code=C.ABORTED)
    rpc_error(stub.ListVolumes, p.ListVolumesRequest(max_entries=-1), code=C.INVALID_ARGUMENT)


def test_get_capacity(ctl):
    p, stub, h, svc = ctl
    m = p.VolumeCapability.AccessMode

    def cap(**kw):
        return stub.GetCapacity(p.GetCapacityRequest(**kw), timeout=RPC_TIMEOUT)

    before = cap(volume_capabilities=[mount_cap(p, "ext4")])
    vid = create(p, stub, "pvc-cap", required=2 * GIB).volume_id
    img = image_of(h, vid)
    st = os.statvfs(os.path.dirname(img))
    free = st.f_bavail * st.f_frsize
    after = cap()
    assert 0 < after.available_capacity <= free + 64 * 2**20, (after, free)
    # two GiB more promised: two GiB less to give (the sparse image holds ~nothing)
    assert abs(before.available_capacity - after.available_capacity - 2 * GIB) < 256 * 2**20, \
        (before, after)
    assert after.maximum_volume_size.value == after.available_capacity // GIB * GIB
    assert after.minimum_volume_size.value == GIB
    # what it cannot serve has no room
    assert cap(volume_capabilities=[mount_cap(p, "", m.MULTI_NODE_MULTI_WRITER)]) \
        .available_capacity == 0


def test_snapshots_and_volumes_from_them(ctl):
    p, stub, h, svc = ctl
    src = create(p, stub, "pvc-src", required=GIB)
    other = create(p, stub, "pvc-other")
    # data in the source's image (the controller never mounts: raw bytes do)
    data = os.urandom(1 << 20)
    with open(image_of(h, src.volume_id), "r+b") as f:
        f.seek(5 << 20)
        f.write(data)

    snap = lambda name, vid: stub.CreateSnapshot(p.CreateSnapshotRequest(  # noqa: E731
        source_volume_id=vid, name=name, secrets={"password": SECRET}),
        timeout=RPC_TIMEOUT).snapshot
    s = snap("snap-1", src.volume_id)
    assert s.ready_to_use and s.size_bytes == GIB and s.source_volume_id == src.volume_id
    assert abs(s.creation_time.seconds - time.time()) < 120, s
    for _ in range(3):
        assert snap("snap-1", src.volume_id).snapshot_id == s.snapshot_id
    with pytest.raises(grpc.RpcError) as ex:
        snap("snap-1", other.volume_id)
    assert ex.value.code() == C.ALREADY_EXISTS
    for name, vid, code in (("snap-x", "no-such-volume", C.NOT_FOUND),
                            ("", src.volume_id, C.INVALID_ARGUMENT),
                            ("snap-y", "", C.INVALID_ARGUMENT)):
        with pytest.raises(grpc.RpcError) as ex:
            snap(name, vid)
        assert ex.value.code() == code, (name, vid, ex.value.details())

    # more snapshots, for the filters and the pages
    s2 = snap("snap-2", src.volume_id)
    s3 = snap("snap-3", other.volume_id)
    s4 = snap("snap-4", src.volume_id)
    ls = lambda **kw: stub.ListSnapshots(p.ListSnapshotsRequest(**kw),  # noqa: E731
                                         timeout=RPC_TIMEOUT)
    all_ids = sorted(x.snapshot_id for x in (s, s2, s3, s4))
    assert [e.snapshot.snapshot_id for e in ls().entries] == all_ids
    got, lens = page_all(stub.ListSnapshots, p.ListSnapshotsRequest, 3)
    assert lens == [3, 1] and [e.snapshot.snapshot_id for e in got] == all_ids
    got, lens = page_all(stub.ListSnapshots, p.ListSnapshotsRequest, 2,
                         source_volume_id=src.volume_id)
    assert [e.snapshot.snapshot_id for e in got] == sorted(x.snapshot_id for x in (s, s2, s4))
    one = ls(snapshot_id=s3.snapshot_id).entries
    assert [e.snapshot.snapshot_id for e in one] == [s3.snapshot_id]
    assert one[0].snapshot.source_volume_id == other.volume_id
    assert not ls(snapshot_id=s3.snapshot_id, source_volume_id=src.volume_id).entries
    assert not ls(snapshot_id="no-such-snapshot").entries
    assert not ls(source_volume_id="no-such-volume").entries
    rpc_error(stub.ListSnapshots, p.ListSnapshotsRequest(starting_token="bogus"),
              code=C.ABORTED)
    rpc_error(stub.ListSnapshots, p.ListSnapshotsRequest(max_entries=-3),
              code=C.INVALID_ARGUMENT)

    # a volume from the snapshot: its data, the source echoed, idempotent
    source = p.VolumeContentSource(
        snapshot=p.VolumeContentSource.SnapshotSource(snapshot_id=s.snapshot_id))
    for _ in range(2):
        restored = create(p, stub, "pvc-restored", required=GIB, source=source)
        assert restored.content_source == source and restored.capacity_bytes == GIB
    with open(image_of(h, restored.volume_id), "rb") as f:
        f.seek(5 << 20)
        assert f.read(len(data)) == data
    # bigger than the snapshot when asked
    big = create(p, stub, "pvc-restored-big", required=3 * GIB, source=source)
    assert big.capacity_bytes == 3 * GIB
    # a snapshot bigger than the limit, a snapshot that is not there
    rpc_error(stub.CreateVolume, p.CreateVolumeRequest(
        name="pvc-small", volume_capabilities=[mount_cap(p)], volume_content_source=source,
        capacity_range=p.CapacityRange(limit_bytes=GIB // 2)), code=C.OUT_OF_RANGE)
    missing = p.VolumeContentSource(
        snapshot=p.VolumeContentSource.SnapshotSource(snapshot_id="no-such-snapshot"))
    rpc_error(stub.CreateVolume, p.CreateVolumeRequest(
        name="pvc-nosnap", volume_capabilities=[mount_cap(p)], volume_content_source=missing),
        code=C.NOT_FOUND)

    # a clone of a volume: its data, at least its size
    vsrc = p.VolumeContentSource(
        volume=p.VolumeContentSource.VolumeSource(volume_id=src.volume_id))
    clone = create(p, stub, "pvc-clone", source=vsrc)
    assert clone.capacity_bytes == GIB and clone.content_source == vsrc
    clone2 = create(p, stub, "pvc-clone-2", required=2 * GIB, source=vsrc)
    assert clone2.capacity_bytes == 2 * GIB
    for vid in (clone.volume_id, clone2.volume_id):
        with open(image_of(h, vid), "rb") as f:
            f.seek(5 << 20)
            assert f.read(len(data)) == data
    rpc_error(stub.CreateVolume, p.CreateVolumeRequest(
        name="pvc-noclone", volume_capabilities=[mount_cap(p)],
        volume_content_source=p.VolumeContentSource(
            volume=p.VolumeContentSource.VolumeSource(volume_id="no-such-volume"))),
        code=C.NOT_FOUND)

    # delete: idempotent, unknown IDs are success
    rpc_error(stub.DeleteSnapshot, p.DeleteSnapshotRequest(), code=C.INVALID_ARGUMENT)
    for _ in range(3):
        stub.DeleteSnapshot(p.DeleteSnapshotRequest(snapshot_id=s.snapshot_id,
                                                    secrets={"password": SECRET}),
                            timeout=RPC_TIMEOUT)
    stub.DeleteSnapshot(p.DeleteSnapshotRequest(snapshot_id="no-such-snapshot"),
                        timeout=RPC_TIMEOUT)
    assert s.snapshot_id not in [e.snapshot.snapshot_id for e in ls().entries]
    # the restored volume does not depend on its snapshot
    with open(image_of(h, restored.volume_id), "rb") as f:
        f.seek(5 << 20)
        assert f.read(len(data)) == data


def test_expand_volume(ctl):
    p, stub, h, svc = ctl
    vid = create(p, stub, "pvc-grow").volume_id
    exp = lambda req, lim=0, cap=None, timeout=RPC_TIMEOUT: stub.ControllerExpandVolume(  # noqa
        p.ControllerExpandVolumeRequest(
            volume_id=vid, capacity_range=p.CapacityRange(required_bytes=req, limit_bytes=lim),
            volume_capability=cap, secrets={"password": SECRET}), timeout=timeout)
    r = exp(GIB + 1)  # rounds up
    assert r.capacity_bytes == 2 * GIB and r.node_expansion_required
    for _ in range(2):
        assert exp(GIB + 1).capacity_bytes == 2 * GIB
    # smaller than it is: it already is that big (volumes never shrink)
    assert exp(GIB).capacity_bytes == 2 * GIB
    # a block volume has nothing for the node to grow
    r = exp(3 * GIB, cap=block_cap(p))
    assert r.capacity_bytes == 3 * GIB and not r.node_expansion_required
    assert h.volume("pvc-grow")["size"] == 3
    assert os.path.getsize(image_of(h, vid)) == 3 * GIB
    rpc_error(exp, GIB, GIB, code=C.OUT_OF_RANGE)  # its 3 GiB exceed the limit
    rpc_error(exp, 4 * GIB + 1, 4 * GIB, code=C.OUT_OF_RANGE)
    rpc_error(exp, -1, code=C.INVALID_ARGUMENT)
    rpc_error(stub.ControllerExpandVolume, p.ControllerExpandVolumeRequest(volume_id=vid),
              code=C.INVALID_ARGUMENT)
    rpc_error(stub.ControllerExpandVolume, p.ControllerExpandVolumeRequest(
        volume_id="no-such-volume", capacity_range=p.CapacityRange(required_bytes=GIB)),
        code=C.NOT_FOUND)
    g = stub.ControllerGetVolume(p.ControllerGetVolumeRequest(volume_id=vid),
                                 timeout=RPC_TIMEOUT)
    assert g.volume.capacity_bytes == 3 * GIB and g.volume.volume_id == vid
    assert not g.status.published_node_ids
    rpc_error(stub.ControllerGetVolume, p.ControllerGetVolumeRequest(volume_id="nope"),
              code=C.NOT_FOUND)
    rpc_error(stub.ControllerGetVolume, p.ControllerGetVolumeRequest(),
              code=C.INVALID_ARGUMENT)


def test_concurrent_calls_on_one_volume_abort(lh, pb):
    """A publish that must wait (a preempt waits for the old node's lease:
    1 s here) holds its volume: every other call on that volume meanwhile
    answers ABORTED at once; calls on other volumes go on."""
    p, g = pb
    sock = csi_config(lh, "      libstorage:\n        integration:\n          volume:\n"
                      "            operations:\n              mount:\n"
                      "                preempt: true\n",
                      "libstorage:\n  server:\n    lease: 2s\n")
    lh.start_service()
    with channel(sock) as ch:
        stub = g.ControllerStub(ch)
        vid = create(p, stub, "pvc-busy").volume_id
        free_vid = create(p, stub, "pvc-free").volume_id
        pubreq = lambda node, v=vid: p.ControllerPublishVolumeRequest(  # noqa: E731
            volume_id=v, node_id=node, volume_capability=mount_cap(p))
        stub.ControllerPublishVolume(pubreq("node-a"), timeout=RPC_TIMEOUT)
        slow = {}

        def take_over():
            t0 = time.monotonic()
            try:
                slow["r"] = stub.ControllerPublishVolume(pubreq("node-b"), timeout=RPC_TIMEOUT)
            except grpc.RpcError as ex:  # noqa: PERF203
                slow["err"] = ex
            slow["took"] = time.monotonic() - t0

        t = threading.Thread(target=take_over)
        t.start()
        time.sleep(0.4)
        try:
            calls = [
                (stub.ControllerPublishVolume, pubreq("node-c")),
                (stub.ControllerUnpublishVolume,
                 p.ControllerUnpublishVolumeRequest(volume_id=vid, node_id="node-a")),
                (stub.DeleteVolume, p.DeleteVolumeRequest(volume_id=vid)),
                (stub.ControllerExpandVolume, p.ControllerExpandVolumeRequest(
                    volume_id=vid, capacity_range=p.CapacityRange(required_bytes=2 * GIB))),
                (stub.CreateSnapshot, p.CreateSnapshotRequest(source_volume_id=vid,
                                                              name="snap-busy")),
            ]
            for fn, req in calls:
                t0 = time.monotonic()
                e = rpc_error(fn, req, code=C.ABORTED)
                assert time.monotonic() - t0 < 0.5, "ABORTED must not wait"
                assert vid in e.details()
            # another volume is not held up
            t0 = time.monotonic()
            stub.ControllerPublishVolume(pubreq("node-c", free_vid), timeout=RPC_TIMEOUT)
            assert time.monotonic() - t0 < 0.5
            assert "took" not in slow, "the preempt should still be waiting"
        finally:
            t.join(30)
        assert "err" not in slow, slow
        assert slow["took"] >= 0.5, slow
        assert published(p, stub, vid) == ["node-b"]
        # nothing is left held: the same calls now work
        stub.ControllerExpandVolume(p.ControllerExpandVolumeRequest(
            volume_id=vid, capacity_range=p.CapacityRange(required_bytes=2 * GIB)),
            timeout=RPC_TIMEOUT)


def test_secrets_never_logged_and_node_only_module(lh, pb):
    p, g = pb
    sock = csi_config(lh)
    svc = lh.start_service()
    with channel(sock) as ch:
        stub = g.ControllerStub(ch)
        v = create(p, stub, "pvc-sec")
        stub.ControllerPublishVolume(p.ControllerPublishVolumeRequest(
            volume_id=v.volume_id, node_id="n1", volume_capability=mount_cap(p),
            secrets={"password": SECRET}), timeout=RPC_TIMEOUT)
        stub.ControllerUnpublishVolume(p.ControllerUnpublishVolumeRequest(
            volume_id=v.volume_id, node_id="n1", secrets={"password": SECRET}),
            timeout=RPC_TIMEOUT)
        with pytest.raises(grpc.RpcError):
            stub.CreateVolume(p.CreateVolumeRequest(
                name="bad/x", volume_capabilities=[mount_cap(p)],
                secrets={"token": SECRET}), timeout=RPC_TIMEOUT)
        stub.DeleteVolume(p.DeleteVolumeRequest(volume_id=v.volume_id,
                                                secrets={"password": SECRET}),
                          timeout=RPC_TIMEOUT)
    assert svc.stop() == 0
    logs = all_logs(svc)
    assert "created volume pvc-sec" in logs, logs[-2000:]  # debug logs were on
    assert SECRET not in logs

    # a node-only module serves no controller
    sock = os.path.join(lh.root, "k8s.sock")
    lh.write_config("rexray:\n  modules:\n    k8s:\n      type: csi\n"
                    "      host: unix://%s\n      csi:\n        services: node\n" % sock)
    lh.start_service()
    with channel(sock) as ch:
        stub = g.ControllerStub(ch)
        rpc_error(stub.ControllerGetCapabilities, p.ControllerGetCapabilitiesRequest(),
                  code=C.UNIMPLEMENTED)
        rpc_error(stub.CreateVolume, p.CreateVolumeRequest(
            name="x", volume_capabilities=[mount_cap(p)]), code=C.UNIMPLEMENTED)
    assert "x" not in [d["name"] for d in lh.volumes_cli()]
