"""The Prometheus endpoint (rexray.metrics.address; issue 15): off by
default, loopback unless TLS, the exposition format promtool accepts, the
series moving with real Docker plugin calls, and a real Prometheus server
from Debian scraping it."""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import prereq
from conftest import free_tcp_port, loops_under, mounts_under, plugin_call

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")


def metrics_home(home, port):
    home.write_config("rexray:\n  metrics:\n    address: tcp://127.0.0.1:%d\n" % port)
    return "http://127.0.0.1:%d/metrics" % port


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def sample(text, name, **labels):
    """The value of the one sample of name with (at least) these labels."""
    found = []
    for line in text.splitlines():
        m = re.match(r'^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$', line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            found.append(float(m.group(3)))
    assert len(found) == 1, "%s%r: %r" % (name, labels, found)
    return found[0]


def plugin_sock(home):
    return os.path.join(home.root, "run", "docker", "plugins", "rexray.sock")


def test_off_by_default(home):
    svc = home.start_service()
    assert svc.stop() == 0
    assert "metrics at" not in svc.logs()


def test_scrape_moves_with_plugin_calls_and_passes_promtool(home):
    url = metrics_home(home, free_tcp_port())
    svc = home.start_service()
    before = scrape(url)
    assert sample(before, "rexray_build_info", version="0.1.0") == 1
    assert sample(before, "rexray_volume_operations_total", service="vfs",
                  operation="mount", result="ok") == 0
    sock = plugin_sock(home)
    assert plugin_call(sock, "Create", {"Name": "m1"})[0] == 200
    st, body = plugin_call(sock, "Mount", {"Name": "m1", "ID": "c1"})
    assert st == 200 and body.get("Mountpoint"), body
    after = scrape(url)
    assert sample(after, "rexray_volume_operations_total", service="vfs",
                  operation="mount", result="ok") == 1
    assert sample(after, "rexray_docker_request_duration_seconds_count",
                  module="default-docker", method="VolumeDriver.Mount", code="200") == 1
    assert sample(after, "rexray_volumes", service="vfs", state="attached") == 1
    assert sample(after, "rexray_mounted_volumes", service="vfs") == 1
    assert sample(after, "rexray_volume_uses", service="vfs") == 1
    assert sample(after, "rexray_store_transaction_duration_seconds_count") > 0
    assert sample(after, "process_open_fds") > 0
    # a libStorage route is a template, never a volume ID
    vid = list(svc.api.volumes())[0]
    assert svc.api.get("/volumes/vfs/" + vid).status == 200
    assert svc.api.get("/volumes/vfs/nosuch").status == 404
    after = scrape(url)
    assert sample(after, "rexray_libstorage_request_duration_seconds_count",
                  route="GET /volumes/{service}/{id}", code="200") == 1
    assert sample(after, "rexray_libstorage_request_duration_seconds_count",
                  route="GET /volumes/{service}/{id}", code="404") == 1
    series = re.sub(r"(?m)^#.*$", "", after)
    assert "m1" not in series and vid not in series and "nosuch" not in series
    # an unmount that gives the use back
    assert plugin_call(sock, "Unmount", {"Name": "m1", "ID": "c1"})[0] == 200
    last = scrape(url)
    assert sample(last, "rexray_volume_operations_total", service="vfs",
                  operation="unmount", result="ok") == 1
    assert "rexray_volume_uses{" not in last  # nothing mounted here now
    if PROMTOOL:
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=last, text=True,
                           capture_output=True, timeout=60)
        assert p.returncode == 0 and not (p.stdout + p.stderr).strip(), p.stdout + p.stderr
    else:
        pytest.fail("promtool is missing: scripts/deps installs prometheus")


def test_wrong_path_and_method(home):
    url = metrics_home(home, free_tcp_port())
    home.start_service()
    with pytest.raises(urllib.error.HTTPError) as ex:
        urllib.request.urlopen(url.replace("/metrics", "/nope"), timeout=10)
    assert ex.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as ex:
        urllib.request.urlopen(urllib.request.Request(url, data=b"x"), timeout=10)
    assert ex.value.code == 405


@pytest.mark.parametrize("address", ["tcp://0.0.0.0:%d", "tcp://:%d"])
def test_not_loopback_without_tls_is_refused(home, address):
    home.write_config("rexray:\n  metrics:\n    address: %s\n" % (address % free_tcp_port()))
    svc = home.start_service(wait=False)
    rc = svc.wait_exit()
    assert rc not in (0, None), svc.logs()
    assert "rexray.metrics.address" in svc.logs() and "loopback" in svc.logs(), svc.logs()
    assert not os.path.exists(home.pidfile)


def test_tls_needs_both_files(home):
    port = free_tcp_port()
    home.write_config("rexray:\n  metrics:\n    address: tcp://0.0.0.0:%d\n"
                      "    tls:\n      certFile: /nonexistent.crt\n" % port)
    svc = home.start_service(wait=False)
    assert svc.wait_exit() not in (0, None)
    assert "certFile and keyFile" in svc.logs(), svc.logs()


def prom_query(base, q):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url, timeout=10) as r:
        d = json.loads(r.read())
    assert d["status"] == "success", d
    return d["data"]["result"]


def wait_value(base, q, want, timeout=60):
    deadline = time.monotonic() + timeout
    res = None
    while time.monotonic() < deadline:
        try:
            res = prom_query(base, q)
        except (urllib.error.URLError, ConnectionError):
            res = None
        if res and float(res[0]["value"][1]) == want:
            return res
        time.sleep(0.5)
    raise AssertionError("%s never became %s: %r" % (q, want, res))


def test_a_real_prometheus_scrapes_it(home, tmp_path):
    if not PROMETHEUS:
        pytest.fail("prometheus is missing: scripts/deps installs it")
    port, prom_port = free_tcp_port(), free_tcp_port()
    metrics_home(home, port)
    home.start_service()
    conf = tmp_path / "prometheus.yml"
    conf.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: rexray\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % port)
    log = open(tmp_path / "prometheus.log", "wb")
    prom = subprocess.Popen([PROMETHEUS, "--config.file=%s" % conf,
                             "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
                             "--web.listen-address=127.0.0.1:%d" % prom_port],
                            stdout=log, stderr=log, start_new_session=True)
    base = "http://127.0.0.1:%d" % prom_port
    try:
        wait_value(base, 'up{job="rexray"}', 1)
        q = 'rexray_volume_operations_total{operation="mount",result="ok"}'
        wait_value(base, q, 0)
        sock = plugin_sock(home)
        assert plugin_call(sock, "Create", {"Name": "p1"})[0] == 200
        assert plugin_call(sock, "Mount", {"Name": "p1", "ID": "c1"})[0] == 200
        wait_value(base, q, 1)
        assert plugin_call(sock, "Unmount", {"Name": "p1", "ID": "c1"})[0] == 200
    finally:
        prom.terminate()
        try:
            prom.wait(30)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait(5)
        log.close()


@pytest.mark.skipif(bool(prereq.missing(root=True, loop=True)), reason="needs root and loop")
def test_loop_mount_times_attach_format_and_mount(lh):
    url = metrics_home(lh, free_tcp_port())
    lh.start_service()
    sock = plugin_sock(lh)
    try:
        assert plugin_call(sock, "Create", {"Name": "l1", "Opts": {"size": "1"}})[0] == 200
        st, body = plugin_call(sock, "Mount", {"Name": "l1", "ID": "c1"})
        assert st == 200, body
        text = scrape(url)
        for h in ("attach", "format", "mount"):
            assert sample(text, "rexray_%s_duration_seconds_count" % h, service="loop") == 1
            assert sample(text, "rexray_%s_duration_seconds_sum" % h, service="loop") > 0
        # a second mount of a formatted volume does not format again
        assert plugin_call(sock, "Unmount", {"Name": "l1", "ID": "c1"})[0] == 200
        assert plugin_call(sock, "Mount", {"Name": "l1", "ID": "c2"})[0] == 200
        text = scrape(url)
        assert sample(text, "rexray_format_duration_seconds_count", service="loop") == 1
        assert sample(text, "rexray_mount_duration_seconds_count", service="loop") == 2
    finally:
        plugin_call(sock, "Unmount", {"Name": "l1", "ID": "c2"})
    assert loops_under(lh.root) == {} and mounts_under(lh.root) == []


def test_csi_calls_by_method_and_code(home):
    pytest.importorskip("grpc")
    pytest.importorskip("grpc_tools")
    from csihelp import channel, make_stubs, rpc_error

    port = free_tcp_port()
    sock = os.path.join(home.root, "csi.sock")
    home.write_config("rexray:\n  metrics:\n    address: tcp://127.0.0.1:%d\n"
                      "  modules:\n    k8s:\n      type: csi\n      host: unix://%s\n"
                      "      csi:\n        services: controller\n" % (port, sock))
    url = "http://127.0.0.1:%d/metrics" % port
    home.start_service()
    with make_stubs() as (p, g), channel(sock) as ch:
        g.IdentityStub(ch).Probe(p.ProbeRequest(), timeout=10)
        g.IdentityStub(ch).Probe(p.ProbeRequest(), timeout=10)
        import grpc
        rpc_error(g.ControllerStub(ch).DeleteVolume, p.DeleteVolumeRequest(),
                  code=grpc.StatusCode.INVALID_ARGUMENT)
        rpc_error(g.NodeStub(ch).NodeGetInfo, p.NodeGetInfoRequest(),
                  code=grpc.StatusCode.UNIMPLEMENTED)
    text = scrape(url)
    assert sample(text, "rexray_csi_request_duration_seconds_count", module="k8s",
                  method="Probe", code="0") == 2
    assert sample(text, "rexray_csi_request_duration_seconds_count", module="k8s",
                  method="DeleteVolume", code="3") == 1
    assert sample(text, "rexray_csi_request_duration_seconds_count", module="k8s",
                  method="NodeGetInfo", code="12") == 1
    if PROMTOOL:
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, text=True,
                           capture_output=True, timeout=60)
        assert p.returncode == 0 and not (p.stdout + p.stderr).strip(), p.stdout + p.stderr
