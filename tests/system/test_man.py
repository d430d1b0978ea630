"""The man pages (issue 15): rexray(1), rexray-config(5) and dvdcli(1),
written in scdoc in docs/man. They build, render without a warning, and
keep up with what they describe: every command, alias and flag of `rexray
help` in rexray(1) (each flag in its command's section), every key and old
name of docs/configuration.md in rexray-config(5), every command, flag and
DVDCLI_* variable of src/dvdcli in dvdcli(1)."""

import os
import re
import shutil
import subprocess

import pytest

import helptable
from conftest import REPO

MAN_SRC = os.path.join(REPO, "docs", "man")
PAGES = ["rexray.1", "rexray-config.5", "dvdcli.1"]


def scdoc(page):
    with open(os.path.join(MAN_SRC, page + ".scd"), "rb") as f:
        p = subprocess.run(["scdoc"], stdin=f, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
    assert p.returncode == 0, (page, p.stderr.decode())
    return p.stdout.decode()


def roff_text(line):
    """The text of a roff line: font changes and escapes undone."""
    line = re.sub(r"\\f[BIRP]", "", line)
    line = line.replace("\\&", "").replace("\\(aq", "'").replace("\\*(Aq", "'")
    line = line.replace("\\-", "-").replace("\\e", "\\")
    return line


def sections(roff):
    """{".SH NAME" or ".SS path": the text under it, one line, spaces collapsed}."""
    out, cur = {}, None
    for line in roff.splitlines():
        m = re.match(r'^\.(SH|SS) "?(.*?)"?$', line)
        if m:
            cur = ".%s %s" % (m.group(1), roff_text(m.group(2)))
            out[cur] = ""
        elif cur and not line.startswith((".", "'")):
            out[cur] += " " + roff_text(line)
        elif cur and line.startswith(".TS"):
            out[cur] += " "
    return {k: " ".join(v.split()) for k, v in out.items()}


def words_in(text):
    """The words of text, each also without a final '.' (a sentence's)."""
    words = set(re.findall(r"[A-Za-z0-9_.<>*?-]+", text))
    return words | {w.rstrip(".") for w in words}


@pytest.fixture(scope="module")
def rexray1():
    return sections(scdoc("rexray.1"))


@pytest.mark.parametrize("page", PAGES)
def test_pages_build_and_render_without_warnings(page, tmp_path):
    if not shutil.which("scdoc") or not shutil.which("groff"):
        pytest.fail("scdoc and groff are needed (Debian packages scdoc, groff-base)")
    roff = scdoc(page)
    name, section = page.rsplit(".", 1)
    assert re.search(r'^\.TH "%s" "%s"' % (re.escape(name), section), roff, re.M), roff[:300]
    out = tmp_path / page
    out.write_text(roff)
    p = subprocess.run(["groff", "-man", "-ww", "-z", str(out)], stderr=subprocess.PIPE,
                       text=True, timeout=30)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    if shutil.which("man"):
        p = subprocess.run(["man", "--warnings", "-l", str(out)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30,
                           env={"PATH": "/usr/bin:/bin", "MANWIDTH": "80", "LANG": "C.UTF-8"})
        assert p.returncode == 0 and p.stderr == "", p.stderr
        assert p.stdout.startswith(name + "(" + section + ")"), p.stdout[:200]
        for head in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
            assert "\n" + head + "\n" in p.stdout, head
    # what `make man` built is this page (the Makefile's rule is the same scdoc)
    built = os.path.join(REPO, "build", "man", page)
    if os.path.exists(built):
        undated = lambda t: re.sub(r'^(\.TH "[^"]*" "[^"]*") "[^"]*"', r"\1", t, flags=re.M)
        with open(built) as f:
            assert undated(f.read()) == undated(roff), "build/man/%s is stale: make man" % page


def test_rexray1_has_every_command_with_its_aliases_and_flags(rexray1):
    listed = {path: (aliases, flags) for path, aliases, flags in helptable.listing()}
    from_help = helptable.paths_from_help()
    # the two readings of the table agree, so neither can miss a command
    assert set(from_help) <= set(listed), set(from_help) - set(listed)
    missing = []
    for path in listed:
        sec = rexray1.get(".SS " + path)
        if sec is None:
            missing.append("no section '%s'" % path)
            continue
        text = from_help.get(path) or helptable.help_of(path)
        flags = helptable.flag_names(helptable.section(text, "Flags"))
        assert flags == listed[path][1], path
        have = words_in(sec)
        missing += ["%s: flag %s" % (path, f) for f in flags if f not in have]
        aliases = helptable.aliases_of(text)
        if aliases and "Aliases: %s" % ", ".join(aliases) not in sec:
            missing.append("%s: 'Aliases: %s'" % (path, ", ".join(aliases)))
        if not aliases and "Aliases:" in sec:
            missing.append("%s: aliases the help does not have" % path)
        if not sec.startswith("rexray " + path):
            missing.append("%s: the section does not open with its usage" % path)
    assert not missing, missing
    # no section for a command that is gone
    stale = [k[4:] for k in rexray1 if k.startswith(".SS ") and k[4:] not in listed]
    assert not stale, stale


def test_rexray1_global_flags_environment_and_exit_status(rexray1):
    have = words_in(rexray1[".SH GLOBAL FLAGS"])
    flags = helptable.global_flags()
    assert {"-c", "--config", "-h", "--host", "-s", "--service", "-l", "--logLevel"} <= set(flags)
    assert [f for f in flags if f not in have] == []
    env = rexray1[".SH ENVIRONMENT"]
    for var in ("REXRAY_HOME", "REXRAY_HOME_ETC", "LIBSTORAGE_SERVICE"):
        assert var in env, var
    status = rexray1[".SH EXIT STATUS"]
    for code, word in (("0", "Success"), ("1", "failed"), ("2", "usage"), ("3", "stopped")):
        assert re.search(r"\b%s\b.*%s" % (code, word), status), (code, status)
    assert "rexray-config(5)" in rexray1[".SH SEE ALSO"]


def config_md_names():
    with open(os.path.join(REPO, "docs", "configuration.md")) as f:
        md = f.read()
    keys = md.split("<!-- keys:begin -->", 1)[1].split("<!-- keys:end -->", 1)[0]
    aliases = md.split("<!-- aliases:begin -->", 1)[1].split("<!-- aliases:end -->", 1)[0]
    row = re.compile(r"^\| `([^`]+)` \| (?:[^|]*\| ){3}`([^`]+)` \|", re.M)
    found = row.findall(keys)
    old = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|$", aliases, re.M)
    return [k for k, _ in found], [v for _, v in found], old


def test_rexray_config5_has_every_key_variable_and_old_name():
    keys, variables, old = config_md_names()
    assert len(keys) > 40 and "libstorage.service" in keys and "vfs.root" in keys, keys
    assert len(old) >= 10, old
    secs = sections(scdoc("rexray-config.5"))
    have = words_in(secs[".SH KEYS"] + " " + " ".join(v for k, v in secs.items()
                                                      if k.startswith(".SS ")))
    assert [k for k in keys if k not in have] == []
    assert [v for v in variables if v not in have] == []
    olds = words_in(secs[".SH OLD NAMES"])
    assert [o for o, k in old if o not in olds or k not in olds] == []
    for head in ("THE FILE", "FORMAT", "ENVIRONMENT", "SCOPES", "VALUE TYPES"):
        assert ".SH " + head in secs, head
    assert "REXRAY_HOME" in secs[".SH ENVIRONMENT"]
    assert "libstorage.server.services.vfs.integration.volume.operations.mount.preempt" in \
        secs[".SH SCOPES"]


def test_rexray_config5_key_reference_is_up_to_date():
    p = subprocess.run([os.path.join(REPO, "scripts", "man-keys"), "--check"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    assert p.returncode == 0, p.stdout


def test_dvdcli1_has_every_command_flag_and_variable():
    src = ""
    for name in sorted(os.listdir(os.path.join(REPO, "src", "dvdcli"))):
        if name.endswith(".c"):
            with open(os.path.join(REPO, "src", "dvdcli", name)) as f:
                src += f.read()
    flags = re.findall(r'\{ "([A-Za-z-]+)", F_[A-Z_]+, (?:true|false) \}', src)
    commands = re.findall(r'\{ "([a-z]+)", (?:true|false), (?:true|false) \}', src)
    assert {"volumedriver", "volumename", "volumeopts", "explicitcreate", "explicitCreate",
            "timeout", "help"} <= set(flags), flags
    assert {"mount", "unmount", "path", "get", "list", "create", "remove", "version"} <= set(
        commands), commands
    variables = set()
    for d in ("dvdcli", "volplugin"):
        for name in os.listdir(os.path.join(REPO, "src", d)):
            with open(os.path.join(REPO, "src", d, name)) as f:
                variables |= set(re.findall(r'"(DVDCLI_[A-Z_]+)"', f.read()))
    assert "DVDCLI_LOG_LEVEL" in variables, variables
    # and what its usage shows
    usage = subprocess.run([os.path.join(REPO, "build", "dvdcli"), "--help"],
                           stdout=subprocess.PIPE, text=True, timeout=30).stdout
    secs = sections(scdoc("dvdcli.1"))
    have_flags = words_in(secs[".SH FLAGS"])
    have_cmds = words_in(secs[".SH COMMANDS"])
    missing = ["--" + f for f in flags if "--" + f not in have_flags]
    usage_flags = re.findall(r"(--?[a-zA-Z]+)", helptable.section(usage, "Flags"))
    assert "--volumedriver" in usage_flags and "-h" in usage_flags, usage
    missing += [f for f in usage_flags if f not in have_flags]
    missing += [c for c in commands if c not in have_cmds]
    missing += [c.split()[0] for c in helptable.section(usage, "Commands").splitlines()
                if re.match(r"^  [a-z]", c) and c.split()[0] not in have_cmds]
    missing += [v for v in variables if v not in words_in(secs[".SH ENVIRONMENT"])]
    assert not missing, missing
