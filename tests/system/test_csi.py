"""The CSI plugin module (issue #17, first step): the Identity service over
gRPC on a unix socket, with a real gRPC client (python3-grpcio) and stubs
generated from src/csi/csi.proto at test time (python3-grpc-tools).

The Controller and Node services have their own tests
(test_csi_controller.py, test_csi_node.py); ControllerModifyVolume is not served.
"""

import os
import socket
import stat

from csihelp import RPC_TIMEOUT, channel, grpc, pb, rpc_error  # noqa: F401 (pb: a fixture)


def csi_home(home, modules=""):
    """A config with a csi module named `k8s` on a socket under the home."""
    sock = os.path.join(home.root, "k8s.sock")
    home.write_config("rexray:\n  modules:\n    k8s:\n      type: csi\n"
                      "      host: unix://%s\n%s" % (sock, modules))
    return sock


def test_identity(home, pb):
    p, g = pb
    sock = csi_home(home, "      csi:\n        driverName: csi.example.org\n")
    svc = home.start_service()
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert stat.S_ISSOCK(os.stat(sock).st_mode)
    with channel(sock) as ch:
        ident = g.IdentityStub(ch)
        info = ident.GetPluginInfo(p.GetPluginInfoRequest(), timeout=RPC_TIMEOUT)
        assert info.name == "csi.example.org"
        ver = home.cli_ok("version").stdout
        assert info.vendor_version and info.vendor_version in ver, (info, ver)

        caps = ident.GetPluginCapabilities(p.GetPluginCapabilitiesRequest(),
                                           timeout=RPC_TIMEOUT).capabilities
        services = [c.service.type for c in caps if c.HasField("service")]
        expansion = [c.volume_expansion.type for c in caps if c.HasField("volume_expansion")]
        assert services == [p.PluginCapability.Service.CONTROLLER_SERVICE]
        assert expansion == [p.PluginCapability.VolumeExpansion.ONLINE]

        probe = ident.Probe(p.ProbeRequest(), timeout=RPC_TIMEOUT)
        assert probe.HasField("ready") and probe.ready.value is True
    log = open(svc.err_path).read() + open(svc.out_path).read()
    assert "csi module k8s listening on unix://" + sock in log, log
    assert svc.stop() == 0
    assert not os.path.exists(sock)


def test_node_only_module_has_no_controller_capability(home, pb):
    p, g = pb
    sock = csi_home(home, "      csi:\n        services: node\n")
    home.start_service()
    with channel(sock) as ch:
        caps = g.IdentityStub(ch).GetPluginCapabilities(
            p.GetPluginCapabilitiesRequest(), timeout=RPC_TIMEOUT).capabilities
        assert not [c for c in caps if c.HasField("service")]
        info = g.IdentityStub(ch).GetPluginInfo(p.GetPluginInfoRequest(), timeout=RPC_TIMEOUT)
        assert info.name == "csi.rexray.io"  # the default


def test_unimplemented_and_malformed(home, pb):
    p, g = pb
    sock = csi_home(home)
    home.start_service()
    with channel(sock) as ch:
        # ControllerModifyVolume is not served (no MODIFY_VOLUME)
        e = rpc_error(g.ControllerStub(ch).ControllerModifyVolume,
                      p.ControllerModifyVolumeRequest(volume_id="v"))
        assert e.code() == grpc.StatusCode.UNIMPLEMENTED, e
        # a path no service has
        raw = ch.unary_unary("/csi.v1.Identity/NoSuchRpc")
        e = rpc_error(raw, b"")
        assert e.code() == grpc.StatusCode.UNIMPLEMENTED, e
        # bytes that do not decode: field 1, length-delimited, length cut short
        for bad in (b"\x0a\xff", b"\x0a\x05ab", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"):
            for path in ("/csi.v1.Identity/GetPluginInfo", "/csi.v1.Identity/Probe"):
                e = rpc_error(ch.unary_unary(path), bad)
                assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (path, bad, e)
                assert e.details(), e
        # unknown fields are not malformed (proto3 keeps them): still answered
        ok = ch.unary_unary("/csi.v1.Identity/GetPluginInfo",
                            response_deserializer=p.GetPluginInfoResponse.FromString)
        assert ok(b"\x08\x01", timeout=RPC_TIMEOUT).name == "csi.rexray.io"
        # the server goes on serving after all that, many calls at once
        from concurrent.futures import ThreadPoolExecutor
        ident = g.IdentityStub(ch)
        with ThreadPoolExecutor(16) as ex:
            res = list(ex.map(lambda _: ident.Probe(p.ProbeRequest(), timeout=RPC_TIMEOUT),
                              range(200)))
        assert all(r.ready.value for r in res)


def test_stale_socket_replaced_live_one_refused(home, pb):
    p, g = pb
    sock = csi_home(home)
    # a socket file nobody listens on: a crashed engine's
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sock)
    s.close()
    assert os.path.exists(sock)
    svc = home.start_service()
    with channel(sock) as ch:
        assert g.IdentityStub(ch).Probe(p.ProbeRequest(), timeout=RPC_TIMEOUT).ready.value
    svc.stop()
    assert not os.path.exists(sock)

    # a live listener on the path: the engine refuses it and leaves it alone
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sock)
    s.listen(1)
    try:
        other = home.start_service(wait=False)
        rc = other.wait_exit(timeout=10)
        assert rc not in (0, None), other.logs()
        assert "in use by a running server" in other.logs(), other.logs()
        assert stat.S_ISSOCK(os.stat(sock).st_mode)
    finally:
        s.close()
        os.unlink(sock)

    # a file that is not a socket is not removed
    with open(sock, "w") as f:
        f.write("keep me")
    other = home.start_service(wait=False)
    assert other.wait_exit(timeout=10) not in (0, None), other.logs()
    assert "not a socket" in other.logs(), other.logs()
    assert open(sock).read() == "keep me"
    os.unlink(sock)


def test_csi_endpoint_env(home, pb):
    p, g = pb
    sock = os.path.join(home.root, "plugin", "csi.sock")  # its directory is made
    svc = home.start_service(env=home.env(CSI_ENDPOINT="unix://" + sock))
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    with channel(sock) as ch:
        info = g.IdentityStub(ch).GetPluginInfo(p.GetPluginInfoRequest(), timeout=RPC_TIMEOUT)
        assert info.name == "csi.rexray.io"
    assert "csi module csi listening on unix://" + sock in svc.logs(), svc.logs()
    # the default docker module still runs beside it
    assert os.path.exists(os.path.join(home.root, "run", "docker", "plugins", "rexray.sock"))
    assert svc.stop() == 0
    assert not os.path.exists(sock)


def test_default_socket_path_and_bad_config(home, pb):
    p, g = pb
    home.write_config("rexray:\n  modules:\n    node1:\n      type: csi\n")
    svc = home.start_service()
    sock = os.path.join(home.run, "csi", "node1.sock")
    with channel(sock) as ch:
        assert g.IdentityStub(ch).Probe(p.ProbeRequest(), timeout=RPC_TIMEOUT).ready.value
    # a csi module does not replace the docker ones: none configured, none run
    assert not os.path.exists(os.path.join(home.root, "run", "docker", "plugins",
                                           "rexray.sock"))
    svc.stop()

    for extra, words in (("      csi:\n        services: nodes\n", "unknown service"),
                         ("      csi:\n        driverName: -bad-\n", "driver name")):
        home.write_config("rexray:\n  modules:\n    node1:\n      type: csi\n" + extra)
        other = home.start_service(wait=False)
        assert other.wait_exit(timeout=10) not in (0, None), other.logs()
        assert words in other.logs(), other.logs()
