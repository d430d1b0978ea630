"""`rexray completion bash` (issue 15): the script, sourced in a real bash,
completes commands, aliases, subcommands, each command's flags, the values
help names, files, and the volume names of a real engine state, asking
`rexray volume ls -q` with the -c and -s on the line and never hanging."""

import os
import shlex
import shutil
import subprocess
import time

import pytest

import helptable
from conftest import REXRAY

BASH = shutil.which("bash") or "/bin/bash"


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("completion") / "rexray.bash"
    path.write_text(helptable.run("completion", "bash"))
    return str(path)


def complete(script, words, env=None, prog=REXRAY, timeout=20, raw=False):
    """COMPREPLY for the command line `words` (the last one is the word
    under the cursor; "" for a new word), as bash gives it to _rexray.
    Words are split at "=" as bash's default COMP_WORDBREAKS does, unless
    raw."""
    comp_words = [prog]
    for i, w in enumerate(words):
        if not raw and "=" in w and w.startswith("--"):
            flag, val = w.split("=", 1)
            if val == "" and i == len(words) - 1:
                comp_words += [flag, "="]  # the cursor right after "="
            else:
                comp_words += [flag, "=", val]
        else:
            comp_words.append(w)
    line = " ".join(comp_words).replace(" = ", "=").replace(" =", "=")
    prog_body = (
        "source %s\n"
        "COMP_WORDS=(%s)\n"
        "COMP_CWORD=%d\n"
        "COMP_LINE=%s\n"
        "COMP_POINT=${#COMP_LINE}\n"
        "_rexray\n"
        "printf '%%s\\n' \"${COMPREPLY[@]}\"\n"
    ) % (shlex.quote(script), " ".join(shlex.quote(w) for w in comp_words),
         len(comp_words) - 1, shlex.quote(line))
    p = subprocess.run([BASH, "--norc", "--noprofile", "-c", prog_body], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    assert p.returncode == 0, (words, p.stderr)
    return [w for w in p.stdout.split("\n") if w]


def test_the_script_is_valid_bash_and_registers_rexray(script):
    p = subprocess.run([BASH, "-n", script], stderr=subprocess.PIPE, text=True)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([BASH, "--norc", "-c", "source %s && complete -p rexray"
                        % shlex.quote(script)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.strip() == "complete -F _rexray rexray", p.stdout


def test_unknown_or_missing_shell_is_a_usage_error(home):
    for args in (("completion", "zsh"), ("completion",), ("completion", "bash", "zsh")):
        p = home.cli(*args)
        assert p.returncode == 2, (args, p)
        assert p.stdout == "", p.stdout
        assert "bash" in p.stderr, p.stderr
    assert "'zsh'" in home.cli("completion", "zsh").stderr


def test_top_level_commands_and_aliases(script):
    got = complete(script, [""])
    rows = helptable.listing()
    want = set()
    for path, aliases, _ in rows:
        if " " not in path:
            want |= {path} | set(aliases)
        elif path.startswith("service "):
            want |= set(aliases)  # rexray start|stop|status|restart
    # the table behind the script has every command the help shows
    assert {p for p in helptable.paths_from_help() if " " not in p} <= want
    assert set(got) == want, sorted(set(got) ^ want)
    assert {"volume", "vol", "volumes", "uninstall", "start", "completion"} <= set(got)
    assert sorted(complete(script, ["vo"])) == ["vol", "volume", "volumes"]


def test_subcommands_with_aliases_and_a_prefix(script):
    assert sorted(complete(script, ["volume", "d"])) == ["d", "del", "delete", "detach"]
    assert sorted(complete(script, ["vol", "r"])) == ["r", "remove", "resize", "rm"]
    assert sorted(complete(script, ["snap", "c"])) == ["copy", "create"]
    assert sorted(complete(script, ["service", ""])) == ["restart", "start", "status", "stop"]
    assert sorted(complete(script, ["token", "de"])) == ["dec", "decode"]
    # every subcommand the help lists completes under its group
    for path in helptable.paths_from_help():
        if " " in path:
            group, sub = path.split()
            assert sub in complete(script, [group, ""]), path


def test_every_command_completes_its_own_and_the_global_flags(script):
    globals_ = helptable.global_flags()
    assert {"-c", "--config", "-s", "--service", "-l", "--logLevel", "-h", "--host"} <= set(
        globals_)
    for path, text in helptable.paths_from_help().items():
        own = helptable.flag_names(helptable.section(text, "Flags"))
        got = complete(script, path.split() + ["-"])
        assert set(own) | set(globals_) == set(got), (path, sorted(set(got) ^ set(own)))


def test_volume_create_flags(script):
    got = complete(script, ["volume", "create", "--"])
    assert {"--size", "--iops", "--volumeType", "--availabilityZone", "--format", "--quiet",
            "--config", "--service", "--logLevel", "--host"} <= set(got), got
    assert "--force" not in got and "--attached" not in got, got
    # an alias names the same command; a global flag before it changes nothing
    assert complete(script, ["-l", "debug", "vol", "n", "--"]) == got
    assert complete(script, ["volume", "create", "--vol"]) == ["--volumeType"]


def test_format_and_other_values(script):
    fmts = ["json", "jsonp", "tmpl"]
    assert sorted(complete(script, ["volume", "ls", "--format", ""])) == fmts
    assert sorted(complete(script, ["volume", "ls", "-f", "j"])) == ["json", "jsonp"]
    assert sorted(complete(script, ["volume", "inspect", "--format=j"])) == ["json", "jsonp"]
    assert sorted(complete(script, ["volume", "inspect", "--format="])) == fmts
    assert sorted(complete(script, ["volume", "ls", "--format=js"], raw=True)) == [
        "--format=json", "--format=jsonp"]
    assert sorted(complete(script, ["volume", "mount", "--fsType", ""])) == ["ext4", "xfs"]
    assert sorted(complete(script, ["token", "new", "--alg", "HS5"])) == ["HS512"]
    assert complete(script, ["-l", ""]) == ["panic", "fatal", "error", "warn", "info", "debug"]
    assert complete(script, ["volume", "ls", "--logLevel", "de"]) == ["debug"]
    assert complete(script, ["completion", ""]) == ["bash"]
    assert complete(script, ["help", "volume", "mo"]) == ["mount"]
    # in `service start`, -f is --foreground and takes no value
    assert complete(script, ["service", "start", "-f", ""]) == []
    # a value of a flag is not taken for the command
    assert sorted(complete(script, ["-l", "debug", "volume", "ls", "-f", "json", "--p"])) == [
        "--path"]


def test_files_for_config_and_env_file(script, tmp_path):
    (tmp_path / "conf.yml").write_text("")
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "task.env").write_text("")
    prefix = str(tmp_path / "con")
    want = sorted([str(tmp_path / "conf.yml"), str(tmp_path / "conf.d")])
    assert sorted(complete(script, ["-c", prefix])) == want
    assert sorted(complete(script, ["volume", "ls", "--config", prefix])) == want
    assert complete(script, ["dvdi", "prepare", "--env-file", str(tmp_path / "t")]) == [
        str(tmp_path / "task.env")]
    assert sorted(complete(script, ["config", "check", prefix])) == want
    # a new volume's name is the user's: no files, no volumes
    assert complete(script, ["volume", "create", ""]) == []


def test_volume_names_from_the_engine(script, home):
    home.cli_ok("volume", "create", "alpha1", "alpha2", "beta")
    env = home.env()
    for sub in ("ls", "inspect", "rm", "attach", "detach", "mount", "unmount", "l", "del"):
        assert sorted(complete(script, ["volume", sub, ""], env=env)) == [
            "alpha1", "alpha2", "beta"], sub
    assert sorted(complete(script, ["volume", "rm", "al"], env=env)) == ["alpha1", "alpha2"]
    assert complete(script, ["volume", "rm", "--force", "b"], env=env) == ["beta"]
    assert complete(script, ["volume", "rm", "x"], env=env) == []
    assert complete(script, ["volume", "create", "al"], env=env) == []


def test_volume_names_respect_the_config_and_service_on_the_line(script, home):
    cfg = home.write_config(
        "libstorage:\n"
        "  server:\n"
        "    services:\n"
        "      pool1:\n"
        "        driver: vfs\n"
        "        vfs:\n"
        "          root: %s\n"
        "      pool2:\n"
        "        driver: vfs\n"
        "        vfs:\n"
        "          root: %s\n" % (os.path.join(home.root, "p1"), os.path.join(home.root, "p2")),
        path=os.path.join(home.root, "custom.yml"))
    home.cli_ok("-c", cfg, "-s", "pool1", "volume", "create", "one1")
    home.cli_ok("-c", cfg, "-s", "pool2", "volume", "create", "two2")
    env = home.env()
    assert complete(script, ["-c", cfg, "-s", "pool1", "volume", "rm", ""], env=env) == ["one1"]
    assert complete(script, ["-c", cfg, "volume", "rm", "-s", "pool2", ""], env=env) == ["two2"]
    assert complete(script, ["--config=" + cfg, "--service=pool2", "volume", "ls", ""],
                    env=env) == ["two2"]
    # the services themselves, from that configuration
    assert sorted(complete(script, ["-c", cfg, "-s", ""], env=env)) == ["pool1", "pool2"]
    # without a configuration: the drivers
    assert sorted(complete(script, ["-s", ""], env=env)) == ["loop", "vfs"]


def test_a_hanging_engine_does_not_hang_the_shell(script, tmp_path):
    if not shutil.which("timeout"):
        pytest.skip("missing command 'timeout' (Debian package coreutils)")
    slow = tmp_path / "rexray"
    slow.write_text("#!/bin/sh\nsleep 30\n")
    slow.chmod(0o755)
    t0 = time.monotonic()
    assert complete(script, ["volume", "rm", ""], prog=str(slow), timeout=15) == []
    assert time.monotonic() - t0 < 6


def test_volume_names_from_the_host_on_the_line(script, home):
    """-h unix:///...sock reaches `volume ls -q`, though bash splits it at
    the colon (COMP_WORDBREAKS) into unix, :, ///...sock."""
    svc = home.start_service()
    home.cli_ok("-h", svc.address, "volume", "create", "viahost")
    sock = svc.address[len("unix:"):]
    # the CLI may not find the service any other way than -h
    env = home.env(REXRAY_HOME=os.path.join(home.root, "elsewhere"))
    assert complete(script, ["-h", "unix", ":", sock, "volume", "rm", ""], env=env, raw=True) \
        == ["viahost"]
    assert complete(script, ["volume", "rm", "-h", "unix", ":", sock, "v"], env=env, raw=True) \
        == ["viahost"]
    assert complete(script, ["-h", "unix", ":", "///nonexistent.sock", "volume", "rm", ""],
                    env=env, raw=True) == []
