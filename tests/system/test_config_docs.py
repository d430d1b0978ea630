"""docs/configuration.md's key reference is what the table of keys
(src/config/keys.c) generates: each block between "<!-- NAME:begin -->"
and "<!-- NAME:end -->" equals `build/cfgdoc --block NAME`. When this
fails, run `make docs` and commit the page.

The binary is build/cfgdoc, or $CFGDOC_BIN when set.
"""

import os
import re
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFGDOC = os.environ.get("CFGDOC_BIN") or os.path.join(REPO, "build", "cfgdoc")
PAGE = os.path.join(REPO, "docs", "configuration.md")
BLOCKS = ("keys", "aliases")


def generated(name):
    p = subprocess.run([CFGDOC, "--block", name], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def written(name):
    with open(PAGE, encoding="utf-8") as f:
        page = f.read()
    m = re.search(r"<!-- %s:begin -->\n(.*?)<!-- %s:end -->" % (name, name), page, re.S)
    assert m, "docs/configuration.md has no %s markers" % name
    return m.group(1)


@pytest.mark.parametrize("name", BLOCKS)
def test_docs_block_is_generated(name):
    want, have = generated(name), written(name)
    if want != have:
        diff = [ln for ln in set(want.splitlines()) ^ set(have.splitlines())]
        pytest.fail("docs/configuration.md block '%s' differs from the table of keys "
                    "(run `make docs`); differing lines:\n%s" % (name, "\n".join(sorted(diff))))


def test_cfgdoc_check_agrees():
    p = subprocess.run([CFGDOC, "--check", PAGE], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr


def test_known_drifts_are_fixed():
    keys = generated("keys")
    assert "`libstorage.client.lease`" in keys
    row = [ln for ln in keys.splitlines() if ln.startswith("| `libstorage.server.auth.alg`")]
    assert row and "HS256" in row[0] and "HS512" in row[0] and "RS" not in row[0], row


def test_every_variable_is_the_key_upper_cased():
    for ln in generated("keys").splitlines():
        m = re.match(r"^\| `([^`]+)` \|.*\| `([^`]+)` \| [^|]*\|$", ln)
        if m:
            assert m.group(2) == m.group(1).upper().replace(".", "_"), ln


def test_env_all_lists_every_key_with_its_source(tmp_path):
    rexray = os.environ.get("REXRAY_BIN") or os.path.join(REPO, "build", "rexray")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "REXRAY_HOME": str(tmp_path), "LIBSTORAGE_CLIENT_LEASE": "5s"}
    cfgfile = tmp_path / "c.yml"
    cfgfile.write_text("docker:\n  size: 3\n")
    p = subprocess.run([rexray, "-c", str(cfgfile), "-l", "info", "env", "--all"],
                       capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode == 0, p.stderr
    rows = {}
    for ln in p.stdout.splitlines()[1:]:
        f = ln.split(None, 3)
        rows[f[0]] = (f[1], f[2], f[3] if len(f) > 3 else "")
    assert rows["libstorage.client.lease"] == ("LIBSTORAGE_CLIENT_LEASE", "env", "5s"), rows
    assert rows["rexray.logLevel"] == ("REXRAY_LOGLEVEL", "flag", "info"), rows
    assert rows["libstorage.integration.volume.operations.create.default.size"][1:] == \
        ("alias", "3"), rows
    assert rows["libstorage.device.attachTimeout"] == \
        ("LIBSTORAGE_DEVICE_ATTACHTIMEOUT", "default", "30s"), rows
    documented = set(re.findall(r"^\| `([^`<]+)` \|", generated("keys"), re.M))
    assert documented == set(rows), documented ^ set(rows)
