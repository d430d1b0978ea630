"""TLS on the libStorage endpoints and bearer-token auth, end to end.

A CA, a server certificate for 127.0.0.1 and an unrelated second CA are
made once per module with the openssl command line. The service serves
TLS on a TCP endpoint on 127.0.0.1; Python's ssl module and the rexray CLI
talk to it in every client mode. Tokens are made by `rexray token new`
and, for the ones rexray would never make (expired, alg none), by hand
with hmac.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time

import pytest

from conftest import Api, assert_error_body, free_tcp_port

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")

KEY = "s3cret-signing-key"


# --------------------------------------------------------------------------
# certificates and tokens


def openssl(*args, cwd):
    subprocess.run([OPENSSL] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=60)


class Pki:
    def __init__(self, d):
        self.dir = d
        self.ca = os.path.join(d, "ca.crt")
        self.other_ca = os.path.join(d, "other.crt")
        self.crt = os.path.join(d, "srv.crt")
        self.key = os.path.join(d, "srv.key")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                "-subj", "/CN=rexray-test-ca", cwd=d)
        openssl("req", "-x509", *ec, "-keyout", "other.key", "-out", "other.crt", "-days", "2",
                "-subj", "/CN=some-other-ca", cwd=d)
        openssl("req", "-new", *ec, "-keyout", "srv.key", "-out", "srv.csr",
                "-subj", "/CN=127.0.0.1", cwd=d)
        with open(os.path.join(d, "ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "srv.crt", "-days", "2", "-extfile", "ext", cwd=d)
        out = subprocess.run([OPENSSL, "x509", "-in", self.crt, "-noout", "-fingerprint",
                              "-sha256"], check=True, stdout=subprocess.PIPE, text=True).stdout
        # "sha256 Fingerprint=AB:CD:..." (the label's case varies between versions)
        self.fingerprint = out.strip().split("=", 1)[1]
        assert len(self.fingerprint) == 95, out

    def context(self, cafile=None):
        return ssl.create_default_context(cafile=cafile or self.ca)


@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="rr-pki")
    try:
        yield Pki(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(claims, key=KEY, alg="HS256", header=None):
    """A token made here, not by rexray: for what rexray would refuse to make."""
    header = header or {"alg": alg, "typ": "JWT"}
    signing = "%s.%s" % (b64u(json.dumps(header).encode()), b64u(json.dumps(claims).encode()))
    digests = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    sig = ""
    if alg in digests:
        sig = b64u(hmac.new(key.encode(), signing.encode(), digests[alg]).digest())
    return signing + "." + sig


# --------------------------------------------------------------------------
# helpers


class HttpsApi(Api):
    """Api over TLS with an ssl context."""

    def __init__(self, address, context):
        super().__init__(address)
        self.context = context

    def connection(self, timeout=15.0):
        host, port = self.address[len("tcp://"):].rsplit(":", 1)
        return http.client.HTTPSConnection(host, int(port), timeout=timeout,
                                           context=self.context)


def wait_answering(svc, api, timeout=5.0):
    """Wait until the service answers anything at all over api (GET /
    may well be a 401 here)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not svc.running():
            pytest.fail("the service exited with %s\n%s" % (svc.proc.returncode, svc.logs()),
                        pytrace=False)
        try:
            api.get("/", timeout=2)
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.05)
    pytest.fail("the service did not answer on %s\n%s" % (api.address, svc.logs()),
                pytrace=False)


def tls_config(pki, port, server_extra=""):
    return ("libstorage:\n"
            "  server:\n"
            "    endpoints:\n"
            "      public:\n"
            "        address: tcp://127.0.0.1:%d\n"
            "%s"
            "  tls:\n"
            "    certFile: %s\n"
            "    keyFile: %s\n" % (port, server_extra, pki.crt, pki.key))


def start_tls_service(home, pki, server_extra=""):
    port = free_tcp_port()
    home.write_config(tls_config(pki, port, server_extra))
    addr = "tcp://127.0.0.1:%d" % port
    svc = home.start_service(address=addr, wait=False)
    api = HttpsApi(addr, pki.context())
    wait_answering(svc, api)
    return svc, api, addr


def cli_env(home, **kv):
    return home.env(**{k: str(v) for k, v in kv.items()})


# --------------------------------------------------------------------------
# TLS


def test_tls_endpoint_trusts_only_its_ca(home, pki):
    svc, api, addr = start_tls_service(home, pki)
    r = api.get("/")
    assert r.status == 200, r
    assert "/volumes" in r.json
    # a client that trusts another CA fails the handshake
    with pytest.raises(ssl.SSLError) as ex:
        HttpsApi(addr, pki.context(pki.other_ca)).get("/")
    assert "CERTIFICATE_VERIFY_FAILED" in str(ex.value)
    # plain HTTP gets no HTTP answer
    with pytest.raises((OSError, http.client.HTTPException)):
        Api(addr).get("/", timeout=5)
    # and the service is still serving
    assert api.get("/volumes/vfs").status == 200
    assert svc.running()


def test_cli_over_tls(home, pki):
    svc, api, addr = start_tls_service(home, pki)
    api.create("tlsvol")
    ls = ["-h", addr, "volume", "ls", "-f", "json"]

    p = home.cli(*ls, env=cli_env(home, LIBSTORAGE_CLIENT_TLS="insecure"))
    assert p.returncode == 0, p.stderr
    assert [v["name"] for v in json.loads(p.stdout)] == ["tlsvol"]

    # the CA given in the map form
    vols = home.cli_json(*ls, env=cli_env(home, LIBSTORAGE_CLIENT_TLS_TRUSTEDCERTSFILE=pki.ca))
    assert [v["name"] for v in vols] == ["tlsvol"]

    # the wrong CA: a clear error naming what to configure
    p = home.cli(*ls, env=cli_env(home, LIBSTORAGE_CLIENT_TLS_TRUSTEDCERTSFILE=pki.other_ca))
    assert p.returncode == 1, p.stdout
    assert "certificate" in p.stderr and "trustedCertsFile" in p.stderr, p.stderr

    # no TLS on the client: loopback defaults to plain HTTP, which gets nowhere
    p = home.cli(*ls)
    assert p.returncode == 1
    assert "libstorage.client.tls" in p.stderr, p.stderr
    assert svc.running()


def test_cli_known_hosts(home, pki):
    svc, api, addr = start_tls_service(home, pki)
    ls = ["-h", addr, "volume", "ls", "-f", "json"]

    # one inline known-hosts line
    good = "127.0.0.1 sha256 %s" % pki.fingerprint
    p = home.cli(*ls, env=cli_env(home, LIBSTORAGE_CLIENT_TLS=good))
    assert p.returncode == 0, p.stderr

    bad_fp = ("00" + pki.fingerprint[2:]) if not pki.fingerprint.startswith("00") \
        else ("11" + pki.fingerprint[2:])
    p = home.cli(*ls, env=cli_env(home, LIBSTORAGE_CLIENT_TLS="127.0.0.1 sha256 " + bad_fp))
    assert p.returncode == 1
    assert "does not match" in p.stderr, p.stderr

    # a known_hosts file: matching, then a wrong line for this host
    kh = os.path.join(home.root, "known_hosts")
    with open(kh, "w") as f:
        f.write("# test\nother.example sha256 %s\n%s\n" % (bad_fp, good.lower()))
    p = home.cli(*ls, env=cli_env(home, LIBSTORAGE_CLIENT_TLS_KNOWNHOSTS=kh))
    assert p.returncode == 0, p.stderr
    with open(kh, "w") as f:
        f.write("127.0.0.1 sha256 %s\n" % bad_fp)
    p = home.cli(*ls, env=cli_env(home, LIBSTORAGE_CLIENT_TLS_KNOWNHOSTS=kh))
    assert p.returncode == 1
    assert "does not match" in p.stderr, p.stderr

    # a host not listed: the error gives the line to add
    with open(kh, "w") as f:
        f.write("")
    p = home.cli(*ls, env=cli_env(home, LIBSTORAGE_CLIENT_TLS_KNOWNHOSTS=kh))
    assert p.returncode == 1
    assert "127.0.0.1 sha256 %s" % pki.fingerprint in p.stderr, p.stderr
    assert svc.running()


def test_non_loopback_needs_tls_or_explicit_plain(home, pki):
    port = free_tcp_port()
    base = ("libstorage:\n"
            "  server:\n"
            "    endpoints:\n"
            "      public:\n"
            "        address: tcp://0.0.0.0:%d\n" % port)
    home.write_config(base)
    svc = home.start_service(address="tcp://127.0.0.1:%d" % port, wait=False)
    rc = svc.wait_exit(10)
    assert rc not in (0, None), svc.logs()
    logs = svc.logs()
    assert "refusing to serve plain HTTP on tcp://0.0.0.0:%d" % port in logs, logs
    assert "libstorage.tls.disabled: true" in logs, logs
    assert "certFile" in logs, logs
    svc.close_files()

    # plain HTTP when asked for explicitly
    home.write_config(base + "  tls:\n    disabled: true\n")
    svc = home.start_service(address="tcp://127.0.0.1:%d" % port)
    assert svc.api.get("/").status == 200
    svc.stop()

    # or TLS
    home.write_config(base + "  tls:\n    certFile: %s\n    keyFile: %s\n" % (pki.crt, pki.key))
    svc = home.start_service(address="tcp://127.0.0.1:%d" % port, wait=False)
    api = HttpsApi("tcp://127.0.0.1:%d" % port, pki.context())
    wait_answering(svc, api)
    assert api.get("/").status == 200


# --------------------------------------------------------------------------
# tokens


def auth_config(key_file, extra=""):
    return ("libstorage:\n"
            "  server:\n"
            "    auth:\n"
            "      key: %s\n" % key_file) + extra


def start_auth_service(home, extra=""):
    key_file = os.path.join(home.root, "auth.key")
    with open(key_file, "w") as f:
        f.write(KEY + "\n")
    home.write_config(auth_config(key_file, extra))
    svc = home.start_service(wait=False)
    wait_answering(svc, svc.api)
    return svc, svc.api


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def token_new(home, sub, *flags):
    return home.cli_ok("token", "new", *flags, sub).stdout.strip()


def assert_401(r, words):
    body = assert_error_body(r, 401)
    assert words in body["message"], body
    return body


def test_tokens_on_every_request(home):
    svc, api = start_auth_service(home)
    now = int(time.time())

    body = assert_401(api.get("/volumes"), "missing bearer token")
    assert body["error"]["reason"] == "missing"
    assert_401(api.get("/", headers={"Authorization": "Basic dXNlcjpwdw=="}), "Bearer")

    # made by the CLI with the configured key (no --key needed on the server's host)
    good = token_new(home, "alice")
    assert api.get("/volumes", headers=bearer(good)).status == 200
    r = api.post("/volumes/vfs", {"name": "authvol"}, headers=bearer(good))
    assert r.status == 201, r

    expired = make_jwt({"sub": "alice", "iat": now - 7200, "exp": now - 3600})
    body = assert_401(api.get("/volumes", headers=bearer(expired)), "expired")
    assert body["error"]["claim"] == "exp"

    future = make_jwt({"sub": "alice", "nbf": now + 3600})
    assert_401(api.get("/volumes", headers=bearer(future)), "not valid yet")

    forged = token_new(home, "alice", "--key", "another-key")
    body = assert_401(api.get("/volumes", headers=bearer(forged)), "signature")
    assert body["error"]["invalidSig"] is True

    none = make_jwt({"sub": "alice"}, alg="none")
    assert_401(api.get("/volumes", headers=bearer(none)), "'none'")

    hs512 = make_jwt({"sub": "alice"}, alg="HS512")
    assert_401(api.get("/volumes", headers=bearer(hs512)), "not the configured HS256")

    assert_401(api.get("/volumes", headers=bearer("not.a.token")), "malformed")

    # an externally made HS256 token with our key is as good as ours
    assert api.get("/volumes", headers=bearer(make_jwt({"sub": "x"}))).status == 200

    # the CLI without a token is told why
    p = home.cli("volume", "ls")
    assert p.returncode == 1
    assert "missing bearer token" in p.stderr, p.stderr
    assert svc.running()


def test_cli_sends_token(home):
    svc, api = start_auth_service(home)
    tok = token_new(home, "alice")
    p = home.cli("volume", "ls", "-f", "json", env=cli_env(home, LIBSTORAGE_CLIENT_AUTH_TOKEN=tok))
    assert p.returncode == 0, p.stderr
    # from a file
    tf = os.path.join(home.root, "token")
    with open(tf, "w") as f:
        f.write(tok + "\n")
    home.cli_ok("volume", "create", "--size", "1", "fromfile",
                env=cli_env(home, LIBSTORAGE_CLIENT_AUTH_TOKEN=tf))
    vols = home.cli_json("volume", "ls", "-f", "json",
                         env=cli_env(home, LIBSTORAGE_CLIENT_AUTH_TOKEN=tf))
    assert "fromfile" in [v["name"] for v in vols]
    # a token made with another key is refused
    bad = token_new(home, "alice", "--key", "other")
    p = home.cli("volume", "ls", env=cli_env(home, LIBSTORAGE_CLIENT_AUTH_TOKEN=bad))
    assert p.returncode == 1
    assert "signature" in p.stderr, p.stderr


def test_allow_and_deny(home):
    svc, api = start_auth_service(home, "      allow: [alice, mallory]\n"
                                        "      deny:\n"
                                        "        - mallory\n")
    assert api.get("/volumes", headers=bearer(token_new(home, "alice"))).status == 200
    body = assert_401(api.get("/volumes", headers=bearer(token_new(home, "mallory"))),
                      "denied")
    assert body["error"]["denied"] is True
    assert_401(api.get("/volumes", headers=bearer(token_new(home, "bob"))), "denied")
    assert_401(api.get("/volumes"), "missing")


def test_tls_and_token_together(home, pki):
    key_file = os.path.join(home.root, "auth.key")
    with open(key_file, "w") as f:
        f.write(KEY)
    svc, api, addr = start_tls_service(home, pki, "    auth:\n"
                                                  "      key: %s\n" % key_file)
    tok = token_new(home, "alice")
    assert_401(api.get("/volumes"), "missing bearer token")
    assert api.get("/volumes", headers=bearer(tok)).status == 200
    ls = ["-h", addr, "volume", "ls", "-f", "json"]
    p = home.cli(*ls, env=cli_env(home, LIBSTORAGE_CLIENT_TLS_TRUSTEDCERTSFILE=pki.ca,
                                  LIBSTORAGE_CLIENT_AUTH_TOKEN=tok))
    assert p.returncode == 0, p.stderr
    p = home.cli(*ls, env=cli_env(home, LIBSTORAGE_CLIENT_TLS_TRUSTEDCERTSFILE=pki.ca))
    assert p.returncode == 1
    assert "missing bearer token" in p.stderr, p.stderr


def test_token_command(home):
    tok = home.cli_ok("token", "new", "--key", KEY, "--alg", "HS384", "--exp", "1h",
                      "carol").stdout.strip()
    assert tok.count(".") == 2
    out = json.loads(home.cli_ok("token", "decode", tok).stdout)
    assert out["header"] == {"alg": "HS384", "typ": "JWT"}
    claims = out["claims"]
    assert claims["sub"] == "carol"
    assert claims["nbf"] == claims["iat"]
    assert 3590 <= claims["exp"] - claims["iat"] <= 3610
    home.cli_ok("token", "decode", "--verify", "--key", KEY, "--alg", "HS384", tok)
    p = home.cli("token", "decode", "--verify", "--key", "wrong", "--alg", "HS384", tok)
    assert p.returncode == 1
    assert "signature" in p.stderr
    p = home.cli("token", "decode", "--verify", "--key", KEY, tok)  # HS256 expected
    assert p.returncode == 1
    assert "HS384" in p.stderr
    # the key from a file; --exp 0 never expires
    kf = os.path.join(home.root, "k")
    with open(kf, "w") as f:
        f.write(KEY + "\n")
    tok = home.cli_ok("token", "new", "--key", kf, "--exp", "0", "dave").stdout.strip()
    out = json.loads(home.cli_ok("token", "decode", "--verify", "--key", KEY, tok).stdout)
    assert "exp" not in out["claims"]
    # usage errors
    assert home.cli("token", "new", "--key", KEY).returncode == 2
    assert home.cli("token", "frobnicate").returncode == 2
    p = home.cli("token", "new", "--key", KEY, "--alg", "none", "eve")
    assert p.returncode == 1 and "HS256" in p.stderr
    p = home.cli("token", "decode", "garbage")
    assert p.returncode == 1 and "malformed" in p.stderr
