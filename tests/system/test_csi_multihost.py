"""CSI across hosts (issue #17): the Controller service on the central
libStorage server, the Node service on two agents, each engine in its own
network namespace (and mount namespace) as the multi-host tests run them,
sharing one loop.volumePath.

A volume is created and published to host A through the server's
controller, staged and written on A, moved to host B (unpublished from A,
published to B) where B reads A's data; then the controller publishes it
back to A with preempt while B still has it staged: B's engine fences it
(its staging and target mounts go, its loop device is released) before A
gets it, and B's later NodeUnstage does not take it from A. Expanding it
on the server grows A's mounted filesystem. Needs root, loop devices,
network namespaces."""

import hashlib
import os

import pytest

from conftest import loops_under
from csihelp import (RPC_TIMEOUT, channel, pb,  # noqa: F401 - pb is a fixture
                     stage_and_publish, unpublish_and_unstage)
from test_multihost import Engine, Lab, netns_missing, wait_for

grpc = pytest.importorskip("grpc")

_MISSING = netns_missing()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))

GIB = 1 << 30


def server_config(lab, sock):
    return ("libstorage:\n  service: loop\n  tls:\n    disabled: true\n"
            "  server:\n    endpoints:\n      public:\n        address: tcp://0.0.0.0:7979\n"
            "  integration:\n    volume:\n      operations:\n        mount:\n"
            "          preempt: true\n"
            "loop:\n  volumePath: %s\n"
            "rexray:\n  modules:\n    default-docker:\n      disabled: true\n"
            "    csi:\n      type: csi\n      host: unix://%s\n"
            "      csi:\n        services: controller\n" % (lab.shared, sock))


def agent_config(lab, name, subnet, sock):
    return ("libstorage:\n  host: tcp://10.%d.%d.1:7979\n  service: loop\n"
            "  client:\n    lease: 1s\n    tls: false\n"
            "loop:\n  volumePath: %s\n  instanceID: %s\n"
            "rexray:\n  modules:\n    default-docker:\n      disabled: true\n"
            "    csi:\n      type: csi\n      host: unix://%s\n"
            "      csi:\n        services: node\n" % (lab.net, subnet, lab.shared, name, sock))


class Host:
    """An engine and a stub of its CSI socket."""

    def __init__(self, lab, name, ns, config_of):
        self.sock = os.path.join(lab.root, name + "-csi.sock")
        self.engine = Engine(lab, name, ns, config_of(self.sock))
        lab.engines.append(self.engine)
        self.engine.start()
        self.engine.wait_file(self.sock)
        self.ch = channel(self.sock)

    def mounted(self, path):
        return self.engine.mounted(path)


@pytest.fixture
def rig(pb):
    lab = Lab()
    hosts = []
    try:
        lab.setup_network()
        srv = Host(lab, "server", lab.ns["s"], lambda s: server_config(lab, s))
        a = Host(lab, "hosta", lab.ns["a"], lambda s: agent_config(lab, "hosta", 1, s))
        b = Host(lab, "hostb", lab.ns["b"], lambda s: agent_config(lab, "hostb", 2, s))
        hosts = [srv, a, b]
        yield lab, pb, srv, a, b
    finally:
        for h in hosts:
            h.ch.close()
        lab.teardown()


def call(fn, req):
    return fn(req, timeout=RPC_TIMEOUT * 6)


def cap(p):
    # xfs: it grows online in any sandbox
    return p.VolumeCapability(mount=p.VolumeCapability.MountVolume(fs_type="xfs"),
                              access_mode=p.VolumeCapability.AccessMode(mode=1))


def stage_and_publish_at(lab, p, node, vid, pub, tag):
    """Stage and publish under <lab>/<tag>: (staging, target)."""
    d = os.path.join(lab.root, tag)
    staging, target = os.path.join(d, "staging"), os.path.join(d, "target")
    os.makedirs(staging)
    stage_and_publish(p, node, vid, cap(p), pub.publish_context, staging, target)
    return staging, target


def digest_of(host, target):
    with open(host.engine.path_in(target, "data.bin"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_controller_on_the_server_nodes_on_agents(rig):
    lab, (p, g), srv, a, b = rig
    ctl = g.ControllerStub(srv.ch)
    na, nb = g.NodeStub(a.ch), g.NodeStub(b.ch)
    # each engine serves only what it was given
    assert call(g.IdentityStub(a.ch).GetPluginCapabilities,
                p.GetPluginCapabilitiesRequest()) is not None
    with pytest.raises(grpc.RpcError) as ex:
        call(g.ControllerStub(a.ch).ListVolumes, p.ListVolumesRequest())
    assert ex.value.code() == grpc.StatusCode.UNIMPLEMENTED
    with pytest.raises(grpc.RpcError) as ex:
        call(g.NodeStub(srv.ch).NodeGetInfo, p.NodeGetInfoRequest())
    assert ex.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # the node IDs are the agents' instance IDs
    assert call(na.NodeGetInfo, p.NodeGetInfoRequest()).node_id == "hosta"
    assert call(nb.NodeGetInfo, p.NodeGetInfoRequest()).node_id == "hostb"

    vid = call(ctl.CreateVolume, p.CreateVolumeRequest(
        name="mhcsi", capacity_range=p.CapacityRange(required_bytes=GIB),
        volume_capabilities=[cap(p)])).volume.volume_id

    # A: publish, stage, write
    pub = call(ctl.ControllerPublishVolume, p.ControllerPublishVolumeRequest(
        volume_id=vid, node_id="hosta", volume_capability=cap(p)))
    sa, ta = stage_and_publish_at(lab, p, na, vid, pub, "a1")
    data = os.urandom(2 << 20)
    with open(a.engine.path_in(ta, "data.bin"), "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    want = hashlib.sha256(data).hexdigest()
    assert a.mounted(sa) and a.mounted(ta) and not os.path.exists(os.path.join(ta, "data.bin"))
    listed = call(ctl.ListVolumes, p.ListVolumesRequest()).entries
    assert [list(e.status.published_node_ids) for e in listed if e.volume.volume_id == vid] \
        == [["hosta"]]

    # the move: A lets go, B takes it and reads A's data
    unpublish_and_unstage(p, na, vid, sa, ta)
    call(ctl.ControllerUnpublishVolume, p.ControllerUnpublishVolumeRequest(
        volume_id=vid, node_id="hosta"))
    assert not a.mounted(sa) and loops_under(lab.root) == {}
    pub = call(ctl.ControllerPublishVolume, p.ControllerPublishVolumeRequest(
        volume_id=vid, node_id="hostb", volume_capability=cap(p)))
    sb, tb = stage_and_publish_at(lab, p, nb, vid, pub, "b1")
    assert digest_of(b, tb) == want

    # preempt: the controller gives it back to A while B still has it
    # staged; B fences (unmounts both, releases its device) first
    pub = call(ctl.ControllerPublishVolume, p.ControllerPublishVolumeRequest(
        volume_id=vid, node_id="hosta", volume_capability=cap(p)))
    wait_for(lambda: not b.mounted(sb) and not b.mounted(tb), 10, "B's mounts to be fenced")
    wait_for(lambda: len(loops_under(lab.root)) == 0, 10, "B's loop device to be released")
    sa, ta = stage_and_publish_at(lab, p, na, vid, pub, "a2")
    assert digest_of(a, ta) == want
    # B's CO cleans up late: that must not take the volume from A
    unpublish_and_unstage(p, nb, vid, sb, tb)
    listed = call(ctl.ListVolumes, p.ListVolumesRequest()).entries
    assert [list(e.status.published_node_ids) for e in listed if e.volume.volume_id == vid] \
        == [["hosta"]]
    assert a.mounted(ta) and digest_of(a, ta) == want

    # expand on the server: A's mounted filesystem grows
    r = call(ctl.ControllerExpandVolume, p.ControllerExpandVolumeRequest(
        volume_id=vid, capacity_range=p.CapacityRange(required_bytes=2 * GIB)))
    assert r.capacity_bytes == 2 * GIB
    if r.node_expansion_required:
        call(na.NodeExpandVolume, p.NodeExpandVolumeRequest(
            volume_id=vid, volume_path=ta, capacity_range=p.CapacityRange(
                required_bytes=2 * GIB)))

    def total():
        usage = call(na.NodeGetVolumeStats, p.NodeGetVolumeStatsRequest(
            volume_id=vid, volume_path=ta)).usage
        return [u.total for u in usage if u.unit == p.VolumeUsage.BYTES][0]
    wait_for(lambda: total() > 1.5 * GIB, 10, "A's filesystem to grow")

    # the end: nothing left anywhere
    unpublish_and_unstage(p, na, vid, sa, ta)
    call(ctl.ControllerUnpublishVolume, p.ControllerUnpublishVolumeRequest(
        volume_id=vid, node_id="hosta"))
    call(ctl.DeleteVolume, p.DeleteVolumeRequest(volume_id=vid))
    assert loops_under(lab.root) == {}
    assert not a.mounted(ta) and not b.mounted(tb)
    assert list(call(ctl.ListVolumes, p.ListVolumesRequest()).entries) == []
