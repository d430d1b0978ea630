"""The `rexray` CLI (spec/rexray.md section 1), with and without a running
service on the same REXRAY_HOME."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

import prereq

from conftest import REXRAY, Home, free_tcp_port, iid_header


@pytest.fixture(params=["embedded", "service"])
def mode_home(request, home):
    """A home where the CLI runs embedded, or talks to a running service."""
    if request.param == "service":
        home.start_service()
    home.mode = request.param
    return home


def parse_table(text):
    """{name: {"ID":..,"Name":..,"Status":..,"Size":..}} from the tmpl table."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        cols = ln.split()
        if cols[:4] == ["ID", "Name", "Status", "Size"]:
            header = cols
            rows = {}
            for row in lines[i + 1:]:
                vals = row.split()
                assert len(vals) >= 4, "short table row %r in\n%s" % (row, text)
                rec = dict(zip(header, vals))
                rows[rec["Name"]] = rec
            return rows
    raise AssertionError("no `ID Name Status Size` header in:\n%s" % text)


def by_name(vols):
    return {v["name"]: v for v in vols}


# --------------------------------------------------------------------------


def test_version(home):
    p = home.cli_ok("version")
    m = re.search(r"^\s*SemVer:\s*(\S+)\s*$", p.stdout, re.M)
    assert m, p.stdout
    assert re.match(r"^\d+\.\d+\.\d+", m.group(1)), m.group(1)


def test_env_prints_key_value_lines(home):
    p = home.cli_ok("-l", "debug", "env")
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    assert lines, p.stdout
    bad = [ln for ln in lines if not re.match(r"^[A-Za-z0-9_.\-]+=", ln)]
    assert not bad, bad
    keys = dict(ln.split("=", 1) for ln in lines)
    assert any(k.startswith(("REXRAY_", "LIBSTORAGE_")) for k in keys), keys
    assert keys.get("REXRAY_LOGLEVEL") == "debug", keys


def test_volume_lifecycle(mode_home):
    h = mode_home
    p = h.cli_ok("volume", "create", "--size", "2", "life1")
    assert "life1" in p.stdout, p.stdout

    # tmpl (default) table
    rows = parse_table(h.cli_ok("volume", "ls").stdout)
    assert set(rows) == {"life1"}, rows
    assert rows["life1"]["Status"] == "available" and rows["life1"]["Size"] == "2", rows
    vid = rows["life1"]["ID"]

    # json
    vols = h.volumes_cli()
    assert len(vols) == 1, vols
    v = vols[0]
    assert (v["id"], v["name"], v["size"], v["attachmentState"]) == (vid, "life1", 2, 3), v
    assert "type" in v, v

    # jsonp: the same, pretty-printed
    pj = h.cli_ok("volume", "ls", "-f", "jsonp").stdout
    assert json.loads(pj) == vols
    assert "\n " in pj, pj

    # attach / detach
    h.cli_ok("volume", "attach", "life1")
    rows = parse_table(h.cli_ok("volume", "ls").stdout)
    assert rows["life1"]["Status"] == "attached", rows
    v = h.volumes_cli()[0]
    assert v["attachmentState"] == 2, v
    assert len(v["attachments"]) == 1 and v["attachments"][0]["instanceID"]["id"], v
    assert v["attachments"][0]["volumeID"] == vid, v

    h.cli_ok("volume", "detach", "life1")
    rows = parse_table(h.cli_ok("volume", "ls").stdout)
    assert rows["life1"]["Status"] == "available", rows
    assert h.volumes_cli()[0]["attachmentState"] == 3

    # rm prints the name
    p = h.cli_ok("volume", "rm", "life1")
    assert "life1" in p.stdout, p.stdout
    assert h.volumes_cli() == []
    assert parse_table(h.cli_ok("volume", "ls").stdout) == {}


def test_table_is_sorted_by_name_and_quiet_prints_only_names(mode_home):
    h = mode_home
    h.cli_ok("volume", "create", "zeta", "alpha", "mid")
    out = h.cli_ok("volume", "ls").stdout
    names = [ln.split()[1] for ln in out.splitlines()[1:] if ln.strip()]
    assert names == ["alpha", "mid", "zeta"], out
    # for scripts, as docker volume ls -q: one name per line, nothing else
    assert h.cli_ok("volume", "ls", "-q").stdout == "alpha\nmid\nzeta\n"


def test_ls_attached_and_available_flags(mode_home):
    h = mode_home
    h.cli_ok("volume", "create", "on", "off")
    h.cli_ok("volume", "attach", "on")
    assert [v["name"] for v in h.volumes_cli("--attached")] == ["on"]
    assert [v["name"] for v in h.volumes_cli("--available")] == ["off"]


def test_create_options(mode_home):
    h = mode_home
    h.cli_ok("volume", "create", "--size", "7", "--iops", "300", "--volumeType", "io1",
             "--availabilityZone", "zone-b", "opts1")
    v = by_name(h.volumes_cli())["opts1"]
    assert (v["size"], v["iops"], v["type"], v["availabilityZone"]) == \
        (7, 300, "io1", "zone-b"), v


def test_create_json_output(home):
    out = home.cli_json("volume", "create", "-f", "json", "--size", "3", "j1")
    vols = out if isinstance(out, list) else [out]
    assert [v["name"] for v in vols] == ["j1"] and vols[0]["size"] == 3, out


def test_several_names_at_once(mode_home):
    h = mode_home
    h.cli_ok("volume", "create", "m1", "m2", "m3")
    assert sorted(by_name(h.volumes_cli())) == ["m1", "m2", "m3"]
    p = h.cli_ok("volume", "rm", "m1", "m3")
    assert "m1" in p.stdout and "m3" in p.stdout, p.stdout
    assert sorted(by_name(h.volumes_cli())) == ["m2"]


@pytest.mark.parametrize("alias", ["c", "n", "new"])
def test_create_aliases(home, alias):
    home.cli_ok("volume", alias, "al-" + alias)
    assert [v["name"] for v in home.volumes_cli()] == ["al-" + alias]


@pytest.mark.parametrize("alias", ["l", "list", "get", "inspect"])
def test_ls_aliases(home, alias):
    home.cli_ok("volume", "create", "x1")
    vols = home.cli_json("volume", alias, "-f", "json")
    assert [v["name"] for v in vols] == ["x1"]


@pytest.mark.parametrize("alias", ["r", "remove", "delete", "del"])
def test_rm_aliases(home, alias):
    home.cli_ok("volume", "create", "keep", "drop")
    home.cli_ok("volume", alias, "drop")
    assert [v["name"] for v in home.volumes_cli()] == ["keep"]


def test_attach_detach_aliases(home):
    home.cli_ok("volume", "create", "ad")
    home.cli_ok("volume", "a", "ad")
    assert home.volumes_cli()[0]["attachmentState"] == 2
    home.cli_ok("volume", "d", "ad")
    assert home.volumes_cli()[0]["attachmentState"] == 3


def test_argument_matching(mode_home):
    h = mode_home
    h.cli_ok("volume", "create", "alpha", "Beta", "data1", "data2")
    ids = {v["name"]: v["id"] for v in h.volumes_cli()}

    def ls(arg):
        return sorted(v["name"] for v in h.volumes_cli(arg))

    assert ls("alpha") == ["alpha"]            # exact name
    assert ls("ALPHA") == ["alpha"]            # ignoring case
    assert ls("beta") == ["Beta"]
    assert ls("alp") == ["alpha"]              # unique prefix
    assert ls(ids["data2"]) == ["data2"]       # exact id
    assert ls("data1") == ["data1"]
    assert sorted(v["name"] for v in h.volumes_cli("alpha", "data1")) == ["alpha", "data1"]

    # an ambiguous prefix matches nothing: rm removes neither
    p = h.cli("volume", "rm", "dat")
    assert p.returncode != 0, p.stdout
    assert p.stderr.strip()
    assert sorted(by_name(h.volumes_cli())) == ["Beta", "alpha", "data1", "data2"]

    # rm is destructive: an exact name or id only (issue 12); a loose match
    # names what it would have matched and removes nothing
    p = h.cli("volume", "rm", "BET")
    assert p.returncode == 1 and "'Beta'" in p.stderr, p.stderr
    assert len(h.volumes_cli()) == 4
    h.cli_ok("volume", "rm", "Beta")
    h.cli_ok("volume", "rm", ids["data1"])
    assert sorted(by_name(h.volumes_cli())) == ["alpha", "data2"]


def test_cli_attach_is_seen_by_the_api_with_the_cli_host_id(home):
    svc = home.start_service()
    home.cli_ok("volume", "create", "shared")
    home.cli_ok("volume", "attach", "shared")
    v = home.volumes_cli()[0]
    host = v["attachments"][0]["instanceID"]["id"]
    assert host
    seen = svc.api.inspect(v["id"], iid=iid_header(host))
    assert seen["attachmentState"] == 2, seen
    other = svc.api.inspect(v["id"], iid=iid_header(host + "-not"))
    assert other["attachmentState"] == 4, other


def test_volume_attached_elsewhere_shows_unavailable(home):
    svc = home.start_service()
    v = svc.api.create("elsewhere")
    svc.api.attach(v["id"], "some-other-host")
    rows = parse_table(home.cli_ok("volume", "ls").stdout)
    assert rows["elsewhere"]["Status"] == "unavailable", rows
    assert home.volumes_cli()[0]["attachmentState"] == 4


def test_embedded_and_service_share_state(home):
    home.cli_ok("volume", "create", "--size", "4", "before")   # embedded
    svc = home.start_service()
    assert svc.api.names() == ["before"]
    svc.api.create("viarest")
    assert sorted(by_name(home.volumes_cli())) == ["before", "viarest"]  # via the service
    home.cli_ok("volume", "create", "viacli")
    assert svc.api.names() == ["before", "viacli", "viarest"]
    assert svc.stop() == 0
    assert sorted(by_name(home.volumes_cli())) == ["before", "viacli", "viarest"]  # embedded


def test_cli_uses_the_service_named_by_host_flag(home):
    svc = home.start_service()
    svc.api.create("remote-only")
    other = Home(tempfile.mkdtemp(prefix="rr"))
    try:
        assert other.volumes_cli() == []
        vols = other.volumes_cli(pre=("-h", home.address))
        assert [v["name"] for v in vols] == ["remote-only"]
        other.cli_ok("-h", home.address, "volume", "create", "made-remotely")
        assert svc.api.names() == ["made-remotely", "remote-only"]
        assert other.volumes_cli() == []
    finally:
        shutil.rmtree(other.root, ignore_errors=True)


def test_host_flag_with_nothing_listening_fails_fast(home):
    dead = os.path.join(home.root, "dead.sock")
    t0 = time.monotonic()
    p = home.cli("-h", "unix://" + dead, "volume", "ls")
    assert p.returncode != 0, p.stdout
    assert p.stderr.strip(), "no message"
    assert time.monotonic() - t0 < 20


def test_stale_spec_file_falls_back_to_embedded(home):
    os.makedirs(home.run, exist_ok=True)
    dead = os.path.join(home.run, "gone.sock")
    with open(home.spec, "w") as f:
        f.write("unix://%s\n" % dead)
    home.cli_ok("volume", "create", "stale1")
    assert [v["name"] for v in home.volumes_cli()] == ["stale1"]


def test_service_flag(home):
    home.cli_ok("-s", "vfs", "volume", "create", "s1")
    assert [v["name"] for v in home.volumes_cli(pre=("-s", "vfs"))] == ["s1"]
    p = home.cli("-s", "nosuchsvc", "volume", "ls")
    assert p.returncode != 0
    assert "nosuchsvc" in p.stderr, p.stderr
    p = home.cli("-s", "nosuchsvc", "volume", "create", "s2")
    assert p.returncode != 0
    assert [v["name"] for v in home.volumes_cli()] == ["s1"]


def test_config_file_flag_defines_services(home):
    cfg = home.write_config(
        "libstorage:\n"
        "  server:\n"
        "    services:\n"
        "      pool1:\n"
        "        driver: vfs\n", path=os.path.join(home.root, "custom.yml"))
    home.cli_ok("-c", cfg, "-s", "pool1", "volume", "create", "inpool")
    assert [v["name"] for v in home.volumes_cli(pre=("-c", cfg, "-s", "pool1"))] == ["inpool"]
    svc = home.start_service("-c", cfg, env=home.env(LIBSTORAGE_SERVICE="pool1"))
    r = svc.api.get("/services")
    assert r.status == 200 and set(r.json) == {"pool1"}, r
    assert r.json["pool1"]["driver"]["name"] == "vfs", r.json
    assert svc.api.names("pool1") == ["inpool"]


def test_log_level_flag_sets_what_is_logged(home):
    for args in (("-l", "debug"), ("--logLevel", "debug"), ("--logLevel=debug",)):
        p = home.cli_ok(*args, "volume", "ls")
        assert "level=debug" in p.stderr, (args, p.stderr)
    for lvl in ("info", "warn", "error"):
        for args in (("-l", lvl), ("--logLevel", lvl)):
            p = home.cli_ok(*args, "volume", "ls")
            assert "level=debug" not in p.stderr, (args, p.stderr)
            if lvl != "info":
                assert "level=info" not in p.stderr, (args, p.stderr)


def test_invalid_log_level_is_rejected(home):
    p = home.cli("-l", "shouting", "volume", "ls")
    assert p.returncode != 0 and "shouting" in p.stderr, p.stderr


def test_tcp_host_flag(home):
    port = free_tcp_port()
    home.write_config(
        "libstorage:\n"
        "  server:\n"
        "    endpoints:\n"
        "      public:\n"
        "        address: tcp://127.0.0.1:%d\n" % port)
    svc = home.start_service(address="tcp://127.0.0.1:%d" % port)
    assert svc.api.create("overtcp")["name"] == "overtcp"
    host = "tcp://127.0.0.1:%d" % port
    assert [v["name"] for v in home.volumes_cli(pre=("-h", host))] == ["overtcp"]
    home.cli_ok("-h", host, "volume", "create", "clitcp")
    assert svc.api.names() == ["clitcp", "overtcp"]


def test_libcurl_is_not_linked(home):
    """rexray speaks HTTP itself to a libStorage server on a unix socket and
    loads libcurl (dlopen) only for a tcp:// or TLS host: linked, libcurl's
    ~30 libraries were ~90% of the instructions of every CLI call."""
    with open(REXRAY, "rb") as f:
        if f.read(4) != b"\x7fELF":  # a wrapper (tests/stress runs engines under valgrind)
            pytest.skip("REXRAY_BIN is not the binary itself: %s" % REXRAY)
    p = subprocess.run(["readelf", "-d", REXRAY], stdout=subprocess.PIPE, text=True,
                       check=True)
    needed = [line.split()[-1] for line in p.stdout.splitlines() if "(NEEDED)" in line]
    assert needed, p.stdout
    assert not [n for n in needed if "curl" in n], needed
    # nor does a running engine load it
    svc = home.start_service()
    with open("/proc/%d/maps" % svc.pid) as f:
        assert "libcurl" not in f.read()


def libcurl_path():
    out = subprocess.run(["ldconfig", "-p"], stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    for line in out.splitlines():
        if line.strip().startswith("libcurl.so.4 ") and "x86-64" in line:
            return os.path.realpath(line.split("=>")[-1].strip())
    pytest.skip("libcurl.so.4 is not installed")


def cli_without_libcurl(home, *args):
    """rexray ARGS in a mount namespace where libcurl.so.4 reads as empty."""
    why = prereq.missing(root=True, commands=("unshare",), real_root=True)
    if why:
        pytest.skip(why)
    script = 'mount --bind /dev/null "$1" && shift && exec "$@"'
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", libcurl_path(), REXRAY]
                          + list(args), cwd=home.root, env=home.env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=30)


def test_unix_hosts_need_no_libcurl_and_tcp_hosts_say_so(home):
    svc = home.start_service()
    svc.api.create("nocurl")
    p = cli_without_libcurl(home, "volume", "ls", "-f", "json")
    assert p.returncode == 0, p.stderr
    assert [v["name"] for v in json.loads(p.stdout)] == ["nocurl"]
    p = cli_without_libcurl(home, "-h", "tcp://127.0.0.1:%d" % free_tcp_port(), "volume", "ls")
    assert p.returncode == 1, p.stdout
    assert ("cannot load libcurl.so.4 (needed for libstorage hosts on tcp:// or with TLS)"
            in p.stderr), p.stderr
