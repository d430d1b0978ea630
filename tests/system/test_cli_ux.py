"""The `rexray` command as people expect it (issue 14): help on every
command, suggestions for typos, sizes with units, create.default.* at
create, mount and unmount that say what they did, `volume inspect`, names
only with -q, usage errors that exit 2, and which engine a command talks
to."""

import json
import os
import re
import signal
import subprocess
import time

import pytest

import prereq

from conftest import mounts_under

COMMANDS = [("volume",), ("volume", "ls"), ("volume", "inspect"), ("volume", "create"),
            ("volume", "rm"), ("volume", "attach"), ("volume", "detach"), ("volume", "mount"),
            ("volume", "unmount"), ("volume", "copy"), ("volume", "resize"), ("snapshot",),
            ("snapshot", "ls"), ("snapshot", "create"), ("snapshot", "rm"), ("snapshot", "copy"),
            ("service",), ("service", "start"), ("service", "stop"),
            ("service", "status"), ("service", "restart"), ("dvdi",), ("dvdi", "prepare"),
            ("dvdi", "cleanup"), ("dvdi", "recover"), ("dvdi", "run"), ("token",),
            ("token", "new"), ("token", "decode"), ("env",), ("version",), ("help",)]


@pytest.mark.parametrize("words", COMMANDS, ids=lambda w: "-".join(w))
def test_every_command_has_its_own_help(home, words):
    by_help = home.cli_ok("help", *words).stdout
    by_flag = home.cli_ok(*(list(words) + ["--help"])).stdout
    by_q = home.cli_ok(*(list(words) + ["-?"])).stdout
    assert by_help == by_flag == by_q
    usage = by_help.splitlines()[0]
    assert usage.startswith("Usage: rexray " + " ".join(words)), by_help
    assert "\nExample:\n  rexray " in by_help, by_help
    if len(words) == 2 and words[0] == "volume" and words[1] not in ("unmount",):
        assert "\nFlags:\n" in by_help, by_help


def test_help_without_a_command_and_the_host_flag(home):
    p = home.cli_ok("help")
    assert "Usage: rexray [global flags] COMMAND" in p.stdout
    assert "-h is --host" in p.stdout
    # -h keeps its REX-Ray meaning; alone, it says how to get help
    p = home.cli("-h")
    assert p.returncode == 2 and "-h is --host" in p.stderr and "rexray help" in p.stderr
    p = home.cli()
    assert p.returncode == 2 and "Usage: rexray" in p.stderr
    p = home.cli_ok("--version")
    assert "SemVer:" in p.stdout


@pytest.mark.parametrize("args,near", [(("volme", "ls"), "volume"),
                                       (("volume", "crate", "x"), "create"),
                                       (("volume", "lss"), "ls"),
                                       (("service", "stp"), "stop"),
                                       (("dvdi", "prepar"), "prepare"),
                                       (("help", "volum"), "volume")])
def test_unknown_commands_suggest_the_nearest(home, args, near):
    p = home.cli(*args)
    assert p.returncode == 2, p
    assert "unknown command" in p.stderr and "did you mean '%s'?" % near in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(home.lib, "rexray.db")), "a typo touched state"


def test_usage_errors_exit_2(home):
    for args, needle in [(("-l", "verbose", "volume", "ls"), "--logLevel"),
                         (("volume", "create", "../etc"), "volume name"),
                         (("volume", "create", "--size", "10X", "a"), "invalid size"),
                         (("volume", "create", "--size", "0", "a"), "at least 1 GiB"),
                         (("volume", "create", "--size", "-1", "a"), "invalid size")]:
        p = home.cli(*args)
        assert p.returncode == 2 and needle in p.stderr, (args, p.returncode, p.stderr)
    assert home.volumes_cli() == []


@pytest.mark.parametrize("size,gib,rounded", [("3", 3, False), ("3G", 3, False),
                                              ("3gib", 3, False), ("2GB", 2, False),
                                              ("512M", 1, True), ("1025MiB", 2, True),
                                              ("1T", 1024, False)])
def test_sizes_with_units(home, size, gib, rounded):
    p = home.cli_ok("volume", "create", "--size", size, "s")
    assert home.volumes_cli("s")[0]["size"] == gib
    assert ("rounded up to %d GiB" % gib in p.stderr) == rounded, p.stderr


def test_create_applies_the_configured_defaults(home):
    env = home.env(LIBSTORAGE_INTEGRATION_VOLUME_OPERATIONS_CREATE_DEFAULT_SIZE="3",
                   LIBSTORAGE_INTEGRATION_VOLUME_OPERATIONS_CREATE_DEFAULT_TYPE="gold")
    home.cli_ok("volume", "create", "d", env=env)
    home.cli_ok("volume", "create", "--size", "2", "e", env=env)
    vols = {v["name"]: v for v in home.volumes_cli()}
    assert (vols["d"]["size"], vols["d"]["type"]) == (3, "gold"), vols
    assert (vols["e"]["size"], vols["e"]["type"]) == (2, "gold"), vols


def test_quiet_prints_only_names(home):
    home.cli_ok("volume", "create", "b", "a")
    assert home.cli_ok("volume", "ls", "-q").stdout == "a\nb\n"


def test_mount_and_unmount_say_what_they_did(home):
    p = home.cli_ok("volume", "mount", "typo")
    assert "created volume 'typo'" in p.stderr, p.stderr
    path = p.stdout.strip()
    p = home.cli_ok("volume", "mount", "typo")
    assert p.stdout.strip() == path and "2 uses now" in p.stderr, p.stderr
    p = home.cli_ok("volume", "unmount", "typo")
    assert "1 use left, still mounted at " + path in p.stderr, p.stderr
    assert mounts_under(home.root)
    p = home.cli_ok("volume", "unmount", "typo")
    assert p.stderr == "" and p.stdout == "typo\n", p
    assert mounts_under(home.root) == []
    p = home.cli_ok("volume", "unmount", "typo")
    assert "was not mounted on this host" in p.stderr, p.stderr
    # create.implicit off: still refused, nothing made
    env = home.env(LIBSTORAGE_INTEGRATION_VOLUME_OPERATIONS_CREATE_IMPLICIT="false")
    p = home.cli("volume", "mount", "other", env=env)
    assert p.returncode == 1 and "not found" in p.stderr, p.stderr
    assert [v["name"] for v in home.volumes_cli()] == ["typo"]


@pytest.mark.skipif(prereq.missing(root=True, loop=True) is not None,
                    reason=str(prereq.missing(root=True, loop=True)))
def test_inspect_tells_everything(lh):
    lh.cli_ok("volume", "create", "--size", "1", "insp")
    out = lh.cli_ok("volume", "inspect", "insp").stdout
    assert re.search(r"^Filesystem: +none yet", out, re.M), out
    assert re.search(r"^Mounted at: +not mounted", out, re.M), out
    path = lh.mount("insp")
    lh.mount("insp")
    out = lh.cli_ok("volume", "inspect", "insp").stdout
    for pattern in (r"^Name: +insp$", r"^Size: +1 GiB$", r"^Status: +attached$",
                    r"^Filesystem: +ext4$", r"^Storage: +\S+/loop/loop-\d+\.img$",
                    r"^Device here: +/dev/loop\d+$", r"^Mounted at: +" + re.escape(path) + "$",
                    r"^Uses here: +2 \(cli 2\)$", r"^Created: +\d{4}-\d\d-\d\dT"):
        assert re.search(pattern, out, re.M), (pattern, out)
    j = json.loads(lh.cli_ok("volume", "inspect", "-f", "json", "insp").stdout)[0]
    assert (j["name"], j["fsType"], j["path"], j["usesTotal"], j["uses"]) == \
        ("insp", "ext4", path, 2, {"": 2}), j
    assert j["device"].startswith("/dev/loop") and j["storage"].endswith(".img"), j
    lh.unmount("insp")
    lh.unmount("insp")
    p = lh.cli("volume", "inspect", "nosuch")
    assert p.returncode == 1 and "nosuch" in p.stderr, p.stderr


def test_which_engine_a_command_talks_to(home):
    p = home.cli_ok("env")
    assert "REXRAY_ENGINE=embedded" in p.stdout, p.stdout
    svc = home.start_service()
    p = home.cli_ok("env")
    assert "REXRAY_ENGINE=" + home.address in p.stdout, p.stdout
    p = home.cli_ok("service", "status")
    assert "Commands talk to it at " + home.address in p.stdout, p.stdout
    # an unknown service: the running server names the ones it has
    p = home.cli("-s", "nosuch", "volume", "ls")
    assert p.returncode == 1 and "(this server has: vfs)" in p.stderr, p.stderr
    svc.stop()


def test_mount_retry_count_and_wait(home):
    """mount.retryCount / retryWait, as REX-Ray documents them: a mount that
    fails (here its mount(2), once) is tried again after the wait."""
    ops = "LIBSTORAGE_INTEGRATION_VOLUME_OPERATIONS_MOUNT_"
    home.cli_ok("volume", "create", "r")
    p = home.cli("volume", "mount", "r", env=home.env(REXRAY_FAULT="mount:1:EIO"))
    assert p.returncode == 1 and mounts_under(home.root) == [], p.stderr
    env = home.env(REXRAY_FAULT="mount:1:EIO", **{ops + "RETRYCOUNT": "2",
                                                   ops + "RETRYWAIT": "200ms"})
    t0 = time.monotonic()
    p = home.cli("volume", "mount", "r", env=env)
    assert p.returncode == 0 and "trying again in 200 ms (1 of 2)" in p.stderr, p.stderr
    assert time.monotonic() - t0 >= 0.2
    home.cli_ok("volume", "unmount", "r")
    # a refusal is not tried again
    env = home.env(**{ops + "RETRYCOUNT": "3", ops + "RETRYWAIT": "10s",
                      "LIBSTORAGE_INTEGRATION_VOLUME_OPERATIONS_CREATE_IMPLICIT": "false"})
    t0 = time.monotonic()
    p = home.cli("volume", "mount", "nosuch", env=env)
    assert p.returncode == 1 and time.monotonic() - t0 < 5, p.stderr


def test_service_logs_to_its_file_and_reopens_it_on_sighup(home):
    svc = home.start_service()
    log = os.path.join(home.log, "rexray.log")
    with open(log) as f:
        assert "listening on unix://" + home.sock in f.read()
    os.rename(log, log + ".1")
    os.kill(svc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 5
    while not os.path.exists(log):
        assert time.monotonic() < deadline, "no new log file after SIGHUP"
        time.sleep(0.02)
    assert svc.running()
    svc.stop()
    # one format everywhere; JSON on request
    p = home.cli_ok("-l", "info", "volume", "ls", env=home.env(REXRAY_LOGFORMAT="json"))
    lines = [json.loads(ln) for ln in p.stderr.splitlines()]
    assert lines and all(set(j) == {"level", "msg", "time"} for j in lines), p.stderr


def test_docs_show_the_help_of_every_command():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.run([os.path.join(root, "scripts", "cli-help-doc"), "--check"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert p.returncode == 0, p.stdout


def test_ls_path_lists_every_volume(home):
    home.cli_ok("volume", "create", "here", "there")
    path = home.cli_ok("volume", "mount", "here").stdout.strip()
    vols = {v["name"]: v.get("path") for v in
            json.loads(home.cli_ok("volume", "ls", "--path", "-f", "json").stdout)}
    assert vols == {"here": path, "there": ""}, vols
    home.cli_ok("volume", "unmount", "here")


def test_detach_prints_the_detached_volume(home):
    home.cli_ok("volume", "create", "dt")
    home.cli_ok("volume", "attach", "dt")
    out = json.loads(home.cli_ok("volume", "detach", "-f", "json", "dt").stdout)
    assert [(v["name"], v["attachmentState"]) for v in out] == [("dt", 3)], out


def test_help_version_and_completion_work_with_a_broken_config(home):
    home.write_config("rexray: [unclosed\n")
    for args in (("help",), ("version",), ("completion", "bash"), ("volume", "ls", "--help")):
        p = home.cli(*args)
        assert p.returncode == 0 and p.stdout and not p.stderr, (args, p)
    p = home.cli("volume", "ls")
    assert p.returncode == 1 and "config.yml:2:1" in p.stderr, p.stderr
