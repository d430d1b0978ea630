"""Many hosts on one machine (issue 6): a libStorage server and two agents,
each in its own network namespace (and, through `ip netns exec`, its own
mount namespace), sharing one loop.volumePath. Only the namespaces, veth
pairs and addresses made here are used."""

import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

import prereq

from conftest import REXRAY, loops_under, plugin_call as call

IP = shutil.which("ip")


def sh(*args, check=True):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), p.stderr))
    return p


def netns_missing():
    """None when network namespaces work here, else the real reason."""
    why = prereq.missing(root=True, commands=("ip",), loop=True, real_root=True)
    if why:
        return why
    name = "rrprobe%d" % os.getpid()
    p = sh(IP, "netns", "add", name, check=False)
    if p.returncode != 0:
        return "'ip netns add' failed: %s" % p.stderr.strip()
    sh(IP, "netns", "del", name, check=False)
    return None


_MISSING = netns_missing()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))


class Engine:
    def __init__(self, lab, name, ns, config):
        self.lab, self.name, self.ns = lab, name, ns
        self.home = os.path.join(lab.root, name)
        os.makedirs(os.path.join(self.home, "etc", "rexray"))
        with open(os.path.join(self.home, "etc", "rexray", "config.yml"), "w") as f:
            f.write(config)
        self.sock = os.path.join(self.home, "plugin.sock")
        self.proc = None

    def start(self, **extra_env):
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "REXRAY_HOME": self.home, "HOME": self.home, **extra_env}
        self.log = open(os.path.join(self.home, "engine.log"), "ab")
        self.proc = subprocess.Popen([IP, "netns", "exec", self.ns, REXRAY, "service", "start",
                                      "-l", "info"], env=env, stdout=self.log,
                                     stderr=self.log, start_new_session=True)
        return self

    def wait_file(self, path, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited: %s" % (self.name, self.logs()))
            if os.path.exists(path):
                return
            time.sleep(0.05)
        raise RuntimeError("%s: %s did not appear: %s" % (self.name, path, self.logs()))

    def logs(self):
        with open(os.path.join(self.home, "engine.log"), errors="replace") as f:
            return f.read()[-3000:]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc:
            self.log.close()

    def path_in(self, mountpoint, *rest):
        """A path as this engine's mount namespace sees it."""
        return os.path.join("/proc/%d/root" % self.proc.pid, mountpoint.lstrip("/"), *rest)

    def mounted(self, mountpoint):
        with open("/proc/%d/mountinfo" % self.proc.pid) as f:
            return any(line.split()[4] == mountpoint for line in f)


class Lab:
    def __init__(self):
        self.tag = uuid.uuid4().hex[:6]
        self.root = tempfile.mkdtemp(prefix="rrm")
        self.shared = os.path.join(self.root, "shared")
        os.makedirs(self.shared)
        self.net = random.randint(100, 250)
        self.ns = {k: "rr%s%s" % (k, self.tag) for k in ("s", "a", "b")}
        self.engines = []

    def setup_network(self):
        for ns in self.ns.values():
            sh(IP, "netns", "add", ns)
            sh(IP, "-n", ns, "link", "set", "lo", "up")
        for i, agent in ((1, "a"), (2, "b")):
            srv_if, ag_if = "rv%d%s" % (i, self.tag), "ra%d%s" % (i, self.tag)
            sh(IP, "link", "add", srv_if, "netns", self.ns["s"], "type", "veth", "peer", "name",
               ag_if, "netns", self.ns[agent])
            sh(IP, "-n", self.ns["s"], "addr", "add", "10.%d.%d.1/24" % (self.net, i), "dev",
               srv_if)
            sh(IP, "-n", self.ns[agent], "addr", "add", "10.%d.%d.2/24" % (self.net, i),
               "dev", ag_if)
            sh(IP, "-n", self.ns["s"], "link", "set", srv_if, "up")
            sh(IP, "-n", self.ns[agent], "link", "set", ag_if, "up")

    def server(self, lease=None):
        cfg = ("libstorage:\n  service: loop\n  tls:\n    disabled: true\n"
               "  server:\n%s    endpoints:\n      public:\n        address: tcp://0.0.0.0:7979\n"
               "loop:\n  volumePath: %s\n"
               "rexray:\n  modules:\n    default-docker:\n      disabled: true\n"
               % ("    lease: %s\n" % lease if lease else "", self.shared))
        e = Engine(self, "server", self.ns["s"], cfg)
        self.engines.append(e)
        return e

    def agent(self, name, subnet, preempt, lease="1s", fstype="ext4"):
        cfg = ("libstorage:\n  host: tcp://10.%d.%d.1:7979\n  service: loop\n"
               "  client:\n    lease: %s\n    tls: false\n"
               "  integration:\n    volume:\n      operations:\n        mount:\n"
               "          preempt: %s\n"
               "        create:\n          default:\n            fsType: %s\n"
               "loop:\n  volumePath: %s\n  instanceID: %s\n"
               "rexray:\n  modules:\n    default-docker:\n      host: unix://%s/%s/plugin.sock\n"
               % (self.net, subnet, lease, "true" if preempt else "false", fstype, self.shared,
                  name, self.root, name))
        e = Engine(self, name, self.ns[name[-1]], cfg)
        self.engines.append(e)
        return e

    def teardown(self):
        for e in reversed(self.engines):
            try:
                e.stop()
            except Exception:  # noqa: BLE001 - cleanup goes on
                pass
        for dev in loops_under(self.root):
            sh("losetup", "-d", dev, check=False)
        for ns in self.ns.values():
            sh(IP, "netns", "del", ns, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def lab():
    lab = Lab()
    try:
        lab.setup_network()
        yield lab
    finally:
        lab.teardown()


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def server_state(lab, name):
    """The volume as the server records it (asked from inside its namespace)."""
    p = sh(IP, "netns", "exec", lab.ns["s"], "env", "REXRAY_HOME=" + lab.engines[0].home,
           REXRAY, "-h", "tcp://127.0.0.1:7979", "volume", "ls", "-f", "json", name)
    return json.loads(p.stdout)[0]


def test_preempt_moves_a_volume_and_fences_the_old_host(lab):
    srv = lab.server().start()
    a = lab.agent("hosta", 1, preempt=False).start()
    b = lab.agent("hostb", 2, preempt=True).start()
    for e in (a, b):
        e.wait_file(e.sock)

    # A mounts and writes
    st, r = call(a.sock, "Mount", {"Name": "mh1", "ID": "ctr-a"})
    assert st == 200, r
    mp = r["Mountpoint"]
    with open(a.path_in(mp, "f"), "w") as f:
        f.write("written on A")
        f.flush()
        os.fsync(f.fileno())
    assert server_state(lab, "mh1")["attachments"][0]["instanceID"]["id"] == "hosta"

    # B takes it with preempt and reads A's data
    st, r = call(b.sock, "Mount", {"Name": "mh1", "ID": "ctr-b"})
    assert st == 200, r
    with open(b.path_in(r["Mountpoint"], "f")) as f:
        assert f.read() == "written on A"
    assert server_state(lab, "mh1")["attachments"][0]["instanceID"]["id"] == "hostb"

    # A lets go within its lease (1 s here)
    markers = os.path.join(a.home, "var", "run", "rexray", "loop")
    # fencing unmounts first, then releases the device
    wait_for(lambda: not a.mounted(os.path.dirname(mp)) and not os.listdir(markers), 10,
             "A's mount and loop device to be fenced")
    wait_for(lambda: len(loops_under(lab.root)) == 1, 5, "only B's loop device to be left")

    # without preempt A cannot take it back
    st, r = call(a.sock, "Mount", {"Name": "mh1", "ID": "ctr-a2"})
    assert st == 500 and "attached to another host" in r["Err"], r

    # the server restarts: nothing is lost, B's later unmount still detaches
    srv.stop()
    srv.start()
    wait_for(lambda: call(b.sock, "Get", {"Name": "mh1"})[0] == 200, 15, "the server to return")
    assert server_state(lab, "mh1")["attachments"][0]["instanceID"]["id"] == "hostb"
    st, r = call(b.sock, "Unmount", {"Name": "mh1", "ID": "ctr-b"})
    assert st == 200, r
    assert loops_under(lab.root) == {}
    assert "attachments" not in server_state(lab, "mh1")


def make_certs(d, ip):
    """A CA, another CA, and a server certificate for ip."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run = lambda *a: sh("openssl", *a)  # noqa: E731
    for name, cn in (("ca", "rr-ca"), ("other", "rr-other")):
        run("req", "-x509", *ec, "-keyout", os.path.join(d, name + ".key"), "-out",
            os.path.join(d, name + ".crt"), "-days", "2", "-subj", "/CN=" + cn)
    run("req", "-new", *ec, "-keyout", os.path.join(d, "srv.key"), "-out",
        os.path.join(d, "srv.csr"), "-subj", "/CN=" + ip)
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=IP:%s\n" % ip)
    run("x509", "-req", "-in", os.path.join(d, "srv.csr"), "-CA", os.path.join(d, "ca.crt"),
        "-CAkey", os.path.join(d, "ca.key"), "-CAcreateserial", "-out",
        os.path.join(d, "srv.crt"), "-days", "2", "-extfile", os.path.join(d, "ext"))


def jwt(claims, key):
    import base64
    import hashlib
    import hmac
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(key.encode(), ("%s.%s" % (head, body)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (head, body, b64(sig))


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")
def test_tls_and_tokens_across_hosts(lab):
    ip = "10.%d.1.1" % lab.net
    pki = os.path.join(lab.root, "pki")
    os.makedirs(pki)
    make_certs(pki, ip)
    keyfile = os.path.join(pki, "jwt.key")
    with open(keyfile, "w") as f:
        f.write("a-secret-shared-by-server-and-token-maker")
    cfg = ("libstorage:\n  service: loop\n"
           "  tls:\n    certFile: %s/srv.crt\n    keyFile: %s/srv.key\n"
           "  server:\n    auth:\n      key: %s\n"
           "    endpoints:\n      public:\n        address: tcp://%s:7979\n"
           "loop:\n  volumePath: %s\n"
           "rexray:\n  modules:\n    default-docker:\n      disabled: true\n"
           % (pki, pki, keyfile, ip, lab.shared))
    srv = Engine(lab, "tlsserver", lab.ns["s"], cfg)
    lab.engines.append(srv)
    srv.start()
    now = int(time.time())
    good = jwt({"sub": "agent-a", "iat": now, "exp": now + 3600}, open(keyfile).read())
    expired = jwt({"sub": "agent-a", "iat": now - 7200, "exp": now - 3600}, open(keyfile).read())
    forged = jwt({"sub": "agent-a", "iat": now, "exp": now + 3600}, "not-the-key")

    def agent_ls(name, ca, token):
        home = os.path.join(lab.root, name)
        os.makedirs(os.path.join(home, "etc", "rexray"), exist_ok=True)
        tok = ""
        if token is not None:
            with open(os.path.join(home, "token"), "w") as f:
                f.write(token)
            tok = "    auth:\n      token: %s/token\n" % home
        with open(os.path.join(home, "etc", "rexray", "config.yml"), "w") as f:
            f.write("libstorage:\n  host: tcp://%s:7979\n  service: loop\n"
                    "  client:\n    tls:\n      trustedCertsFile: %s\n%s" % (ip, ca, tok))
        return sh(IP, "netns", "exec", lab.ns["a"], "env", "REXRAY_HOME=" + home, "HOME=" + home,
                  REXRAY, "volume", "ls", "-f", "json", check=False)

    deadline = time.time() + 15
    while time.time() < deadline:
        p = agent_ls("ok", os.path.join(pki, "ca.crt"), good)
        if p.returncode == 0:
            break
        time.sleep(0.2)
    assert p.returncode == 0 and json.loads(p.stdout) == [], (p.stdout, p.stderr, srv.logs())
    p = agent_ls("wrongca", os.path.join(pki, "other.crt"), good)
    assert p.returncode == 1 and ("certificate" in p.stderr or "SSL" in p.stderr), p.stderr
    for name, token, words in (("notoken", None, "missing"), ("expired", expired, "expired"),
                               ("forged", forged, "signature")):
        p = agent_ls(name, os.path.join(pki, "ca.crt"), token)
        assert p.returncode == 1 and words in p.stderr.lower(), (name, p.stderr)
