"""What the CSI system tests share: Python stubs generated from
src/csi/csi.proto at test time (python3-grpc-tools), a channel to a
module's socket, and an RPC that must fail.

Use: `from csihelp import pb, channel, rpc_error, RPC_TIMEOUT` (pb is a
module-scoped fixture: importing it into a test module makes it usable
there)."""

import contextlib
import importlib
import os
import subprocess
import sys
import tempfile

import pytest

from conftest import REPO, START_TIMEOUT

grpc = pytest.importorskip("grpc")
pytest.importorskip("grpc_tools")

PROTO = os.path.join(REPO, "src", "csi", "csi.proto")
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
RPC_TIMEOUT = 10
GIB = 1 << 30


@pytest.fixture(scope="module")
def pb():
    """(csi_pb2, csi_pb2_grpc) generated from our .proto into a temp dir."""
    with make_stubs() as stubs:
        yield stubs


@contextlib.contextmanager
def make_stubs():
    """The stubs of pb, for one block of a test."""
    import grpc_tools

    out = tempfile.mkdtemp(prefix="rrpb")
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    subprocess.run([PY, "-m", "grpc_tools.protoc", "-I" + os.path.dirname(PROTO),
                    "-I" + wkt, "--python_out=" + out, "--grpc_python_out=" + out,
                    "csi.proto"], check=True, capture_output=True, timeout=60)
    sys.path.insert(0, out)
    try:
        for m in ("csi_pb2", "csi_pb2_grpc"):
            sys.modules.pop(m, None)
        yield importlib.import_module("csi_pb2"), importlib.import_module("csi_pb2_grpc")
    finally:
        sys.path.remove(out)
        for m in ("csi_pb2", "csi_pb2_grpc"):
            sys.modules.pop(m, None)
        subprocess.run(["rm", "-rf", out], check=False)


def channel(sock):
    ch = grpc.insecure_channel("unix://" + sock)
    grpc.channel_ready_future(ch).result(timeout=START_TIMEOUT)
    return ch


def rpc_error(fn, *args, code=None):
    """Call fn(*args); it must fail (with `code` when given). The RpcError."""
    with pytest.raises(grpc.RpcError) as ex:
        fn(*args, timeout=RPC_TIMEOUT)
    if code is not None:
        assert ex.value.code() == code, (ex.value.code(), ex.value.details())
    return ex.value


def stage_and_publish(p, node, vid, capability, publish_context, staging, target):
    """NodeStage at staging, then NodePublish at target, as a CO does."""
    node.NodeStageVolume(p.NodeStageVolumeRequest(
        volume_id=vid, staging_target_path=staging, volume_capability=capability,
        publish_context=publish_context), timeout=RPC_TIMEOUT * 6)
    node.NodePublishVolume(p.NodePublishVolumeRequest(
        volume_id=vid, staging_target_path=staging, target_path=target,
        volume_capability=capability, publish_context=publish_context),
        timeout=RPC_TIMEOUT * 6)


def unpublish_and_unstage(p, node, vid, staging, target):
    """NodeUnpublish at target, then NodeUnstage at staging."""
    node.NodeUnpublishVolume(p.NodeUnpublishVolumeRequest(volume_id=vid, target_path=target),
                             timeout=RPC_TIMEOUT * 6)
    node.NodeUnstageVolume(p.NodeUnstageVolumeRequest(volume_id=vid,
                                                      staging_target_path=staging),
                           timeout=RPC_TIMEOUT * 6)
