"""`rexray service start|stop|status`, endpoints, files under
REXRAY_HOME/var/run/rexray, restart persistence."""

import os
import signal
import time

from conftest import Api, free_tcp_port, iid_header, sock_mode


def read(path):
    with open(path) as f:
        return f.read()


def wait_gone(paths, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(os.path.lexists(p) for p in paths):
            return True
        time.sleep(0.05)
    return False


def test_start_writes_socket_spec_and_pid_then_sigterm_cleans_up(home):
    svc = home.start_service()
    assert sock_mode(home.sock) == 0o600, oct(sock_mode(home.sock))
    spec = read(home.spec)
    assert spec.strip() == "unix://" + home.sock, spec
    assert len(spec.strip().splitlines()) == 1, spec
    assert int(read(home.pidfile).strip()) == svc.pid
    assert svc.api.get("/").status == 200

    rc = svc.stop(signal.SIGTERM)
    assert rc == 0, "exit status after SIGTERM: %r\n%s" % (rc, svc.logs())
    for p in (home.sock, home.spec, home.pidfile):
        assert not os.path.lexists(p), "%s left behind" % p


def test_sigint_also_exits_cleanly(home):
    svc = home.start_service()
    assert svc.stop(signal.SIGINT) == 0, svc.logs()
    assert not os.path.lexists(home.sock)
    assert not os.path.lexists(home.pidfile)


def test_status_and_stop(home):
    p = home.cli("service", "status")
    assert p.returncode != 0, "status says running with nothing started:\n" + p.stdout

    svc = home.start_service()
    p = home.cli_ok("service", "status")
    assert str(svc.pid) in p.stdout, p.stdout

    home.cli_ok("service", "stop")
    assert svc.wait_exit() == 0, svc.logs()
    assert wait_gone([home.sock, home.spec, home.pidfile]), os.listdir(home.run)
    p = home.cli("service", "status")
    assert p.returncode != 0, p.stdout


def test_second_start_is_refused_and_first_keeps_running(home):
    first = home.start_service()
    second = home.start_service(wait=False)
    rc = second.wait_exit(timeout=10)
    assert rc is not None and rc != 0, "a second service started on the same home"
    assert first.running() and first.api.alive()
    assert int(read(home.pidfile).strip()) == first.pid
    assert read(home.spec).strip() == "unix://" + home.sock


def test_start_after_a_crash_recovers_stale_files(home):
    svc = home.start_service()
    svc.api.create("survivor")
    svc.stop(signal.SIGKILL)
    assert os.path.lexists(home.pidfile)  # nothing could clean up
    again = home.start_service()
    assert again.api.names() == ["survivor"]
    assert int(read(home.pidfile).strip()) == again.pid
    assert again.stop() == 0


def test_restart_keeps_volumes_and_attachments(home):
    svc = home.start_service()
    a = svc.api.create("persist-a", size=3, iops=10, type="t1", availabilityZone="z1")
    b = svc.api.create("persist-b", size=1)
    svc.api.attach(a["id"], "host1", device="/dev/xvdc")
    before = svc.api.volumes(mask=1, iid=iid_header("host1"))
    assert svc.stop() == 0

    svc2 = home.start_service()
    after = svc2.api.volumes(mask=1, iid=iid_header("host1"))
    assert after == before
    va = after[a["id"]]
    assert (va["name"], va["size"], va["iops"], va["type"], va["availabilityZone"]) == \
        ("persist-a", 3, 10, "t1", "z1"), va
    assert va["attachmentState"] == 2, va
    assert va["attachments"][0]["instanceID"]["id"] == "host1", va
    assert va["attachments"][0]["deviceName"] == "/dev/xvdc", va
    assert after[b["id"]]["attachmentState"] == 3
    assert svc2.api.inspect(a["id"], iid=iid_header("host2"))["attachmentState"] == 4

    # new volumes do not reuse ids
    c = svc2.api.create("persist-c")
    assert c["id"] not in (a["id"], b["id"]), c


def test_tcp_endpoint(home):
    port = free_tcp_port()
    home.write_config(
        "libstorage:\n"
        "  server:\n"
        "    endpoints:\n"
        "      public:\n"
        "        address: tcp://127.0.0.1:%d\n" % port)
    svc = home.start_service(address="tcp://127.0.0.1:%d" % port)
    api = svc.api
    r = api.get("/services")
    assert r.status == 200 and "vfs" in r.json, r
    assert r.headers.get("Libstorage-Servername")
    v = api.create("tcp1", size=2)
    assert api.attach(v["id"], "h1")["volume"]["attachmentState"] == 2
    assert api.names() == ["tcp1"]
    assert api.post("/volumes/vfs/%s?detach" % v["id"], {}, iid=iid_header("h1")).status == 205
    assert api.delete("/volumes/vfs/%s" % v["id"]).status == 204
    assert api.names() == []
    assert svc.stop() == 0


def test_unix_and_tcp_endpoints_together(home):
    port = free_tcp_port()
    sock = os.path.join(home.root, "custom.sock")
    home.write_config(
        "libstorage:\n"
        "  server:\n"
        "    endpoints:\n"
        "      local:\n"
        "        address: unix://%s\n"
        "      public:\n"
        "        address: tcp://127.0.0.1:%d\n" % (sock, port))
    svc = home.start_service(address="unix://" + sock)
    tcp = Api("tcp://127.0.0.1:%d" % port)
    assert tcp.alive()
    assert sock_mode(sock) == 0o600
    svc.api.create("over-unix")
    tcp.create("over-tcp")
    assert svc.api.names() == tcp.names() == ["over-tcp", "over-unix"]
    # both ends answer as the same server
    n1 = svc.api.get("/").headers.get("Libstorage-Servername")
    n2 = tcp.get("/").headers.get("Libstorage-Servername")
    assert n1 and n1 == n2
    assert svc.stop() == 0
    assert not os.path.lexists(sock)
    assert not tcp.alive()


def test_port_in_use_fails_clearly(home):
    import socket
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        home.write_config(
            "libstorage:\n  server:\n    endpoints:\n      public:\n"
            "        address: tcp://127.0.0.1:%d\n" % port)
        svc = home.start_service(address="tcp://127.0.0.1:%d" % port, wait=False)
        rc = svc.wait_exit(timeout=10)
        assert rc is not None and rc != 0, "started although the port is taken"
        assert str(port) in svc.logs(), svc.logs()
    finally:
        blocker.close()


def test_service_serves_what_cli_created_while_stopped(home):
    home.cli_ok("volume", "create", "--size", "2", "offline")
    svc = home.start_service()
    vols = svc.api.volumes()
    assert [(v["name"], v["size"]) for v in vols.values()] == [("offline", 2)]


def test_sigterm_under_load_exits_cleanly(home):
    import threading
    svc = home.start_service()
    svc.api.create("busy")
    stop = threading.Event()
    errors = []

    def hammer():
        while not stop.is_set():
            try:
                r = svc.api.get("/volumes/vfs?attachments=1", timeout=3)
                if r.status >= 500:
                    errors.append(r)
            except OSError:
                pass  # connection refused/reset once it is going down
            except Exception as ex:  # noqa: BLE001 - http.client errors while closing
                if "RemoteDisconnected" not in type(ex).__name__ and \
                        "BadStatusLine" not in type(ex).__name__ and \
                        "IncompleteRead" not in type(ex).__name__:
                    errors.append(repr(ex))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        rc = svc.stop(signal.SIGTERM)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert rc == 0, "exit status %r after SIGTERM under load\n%s" % (rc, svc.logs())
    assert not errors, errors[:5]
    assert not os.path.lexists(home.sock)
    # and the state is intact
    assert [v["name"] for v in home.volumes_cli()] == ["busy"]


def test_stop_when_nothing_runs_is_harmless(home):
    p = home.cli_ok("service", "stop")
    assert "stopped" in p.stdout, p.stdout
    p = home.cli("service", "status")
    assert p.returncode == 3, (p.returncode, p.stdout, p.stderr)
