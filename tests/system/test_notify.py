"""Type=notify: the service tells systemd READY=1 only once it answers,
RELOADING/READY around SIGHUP, and STOPPING=1 before it stops (issue 15)."""
import os
import signal
import socket
import time

from conftest import Api


def recv_until(sock, word, timeout=30):
    deadline = time.monotonic() + timeout
    got = []
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            break
        got.append(msg)
        if word in msg.split("\n"):
            return got
    raise AssertionError("no %s from the service; got %r" % (word, got))


def test_ready_once_serving_then_reloading_and_stopping(home):
    path = os.path.join(home.root, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    try:
        svc = home.start_service(wait=False, env=home.env(NOTIFY_SOCKET=path))
        got = recv_until(sock, "READY=1")
        # the first message it sends is READY, and by then the API answers
        assert Api(home.address).alive(), got
        ready = [m for m in got if "READY=1" in m.split("\n")][0]
        assert "MAINPID=%d" % svc.pid in ready, ready
        assert "STATUS=serving" in ready, ready
        os.kill(svc.pid, signal.SIGHUP)
        got = recv_until(sock, "READY=1")
        assert any("RELOADING=1" in m.split("\n") for m in got), got
        assert svc.running()
        os.kill(svc.pid, signal.SIGTERM)
        recv_until(sock, "STOPPING=1")
        assert svc.wait_exit() == 0
    finally:
        sock.close()

