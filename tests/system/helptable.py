"""The commands, aliases and flags of `rexray`, read two independent ways:
from the help it prints (`rexray help`, `rexray help CMD`), and from the
table the completion script is made of (`rexray completion list`). The man
page and completion tests check their pages and scripts against these."""

import re
import subprocess

from conftest import REXRAY, check_binary

ENV = {"PATH": "/usr/bin:/bin", "REXRAY_HOME": "/nonexistent-rexray-home"}


def run(*args):
    check_binary()
    p = subprocess.run([REXRAY] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=ENV, timeout=30)
    assert p.returncode == 0, (args, p.returncode, p.stderr)
    return p.stdout


def section(text, title):
    """The indented lines under `Title:` up to the blank line."""
    m = re.search(r"^%s[^\n]*:\n((?:[ \t]+[^\n]*\n)+)" % re.escape(title), text, re.M)
    return m.group(1) if m else ""


def flag_names(lines):
    """Every flag named by help's flag lines: `-f, --format tmpl|json|jsonp  ...`."""
    names = []
    for line in lines.splitlines():
        spec = re.split(r"\s{2,}", line.strip())[0]
        if not spec.startswith("-"):
            continue
        for item in spec.split(", "):
            names.append(item.split()[0])
    return names


def help_of(path):
    return run("help", *path.split())


def paths_from_help():
    """{path: help text}: the overview's commands and each group's commands."""
    out = {}
    for line in section(run("help"), "Commands").splitlines():
        word = line.split()[0]
        text = help_of(word)
        out[word] = text
        for sub in section(text, "Commands").splitlines():
            path = "%s %s" % (word, sub.split()[0])
            out[path] = help_of(path)
    return out


def aliases_of(help_text):
    m = re.search(r"^Aliases: (.*)$", help_text, re.M)
    return m.group(1).split(", ") if m else []


def listing():
    """[(path, [aliases], [flags])] from `rexray completion list`."""
    rows = []
    for line in run("completion", "list").splitlines():
        path, aliases, flags = line.split("\t")
        rows.append((path, aliases.split(), flags.split()))
    return rows


def global_flags():
    return flag_names(section(run("help"), "Global flags"))
