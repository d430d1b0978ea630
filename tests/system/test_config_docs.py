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
