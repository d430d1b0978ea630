"""rexray config check|show (issue 15): every error with FILE:LINE:COL and
the exit status; the effective values with where each came from."""
import json
import os
import re

from conftest import REXRAY

CONFIG = """\
rexray:
  logLevel: loud
libstorage:
  server:
    services:
      vfs:
        driver: vfs
        integration:
          volume:
            operations:
              mount:
                preempt: maybe
    auth:
      key: s3cret-value
  integration:
    volume:
      operations:
        mount:
          preemt: true
  device:
    attachTimeout: 10 minutes
vfs:
  someoption: x
volume:
  mount:
    preempt: true
"""


def test_check_lists_every_problem_with_its_position(home):
    path = home.write_config(CONFIG)
    p = home.cli("config", "check")
    assert p.returncode == 1, p
    lines = p.stdout.splitlines()
    assert lines[0] == ("%s:2:13: error: rexray.loglevel: invalid value 'loud': expected a "
                        "log level: panic, fatal, error, warn, info or debug" % path)
    assert ("%s:12:26: error: libstorage.server.services.vfs.integration.volume.operations."
            "mount.preempt: invalid value 'maybe': expected a boolean (true or false)"
            % path) in lines
    assert any(l.startswith("%s:19:19: warning: libstorage.integration.volume.operations."
                            "mount.preemt: unknown key" % path) and
               "did you mean libstorage.integration.volume.operations.mount.preempt?" in l
               for l in lines), lines
    assert any(l.startswith("%s:21:20: error: libstorage.device.attachtimeout: invalid value "
                            "'10 minutes'" % path) for l in lines), lines
    assert any(l.startswith("%s:23:15: warning: vfs.someoption" % path) for l in lines)
    assert any(l.startswith("%s:26:14: note: volume.mount.preempt: the old name of "
                            "libstorage.integration.volume.operations.mount.preempt" % path)
               for l in lines), lines
    assert lines[-1] == "%s: 3 error(s), 2 warning(s)" % path
    # the engine refuses the same file at start-up (it is what check is for)
    assert home.cli("volume", "ls").returncode != 0


def test_check_a_good_file_and_a_given_file(home, tmp_path):
    home.write_config("libstorage:\n  service: vfs\n  server:\n    services:\n"
                      "      vfs:\n        driver: vfs\n")
    p = home.cli_ok("config", "check")
    assert p.stdout.strip().endswith("0 error(s), 0 warning(s): good"), p.stdout
    other = tmp_path / "other.yml"
    other.write_text("rexray:\n  logLevel: debug\n  metrics:\n    address: tcp//x\n")
    p = home.cli("config", "check", str(other))
    assert p.returncode == 1
    assert p.stdout.startswith("%s:4:14: error: rexray.metrics.address" % other), p.stdout
    # -c names the file too
    p = home.cli("-c", str(other), "config", "check")
    assert p.returncode == 1 and "rexray.metrics.address" in p.stdout


def test_check_syntax_error_missing_file_and_no_file(home, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("a:\n  b: [1\n")
    p = home.cli("config", "check", str(bad))
    assert p.returncode == 1
    assert p.stdout.startswith("%s:3:1: error: " % bad), p.stdout
    p = home.cli("config", "check", str(tmp_path / "nosuch.yml"))
    assert p.returncode == 1 and "no such file" in p.stderr, p.stderr
    p = home.cli_ok("config", "check")  # no file anywhere: the defaults
    assert "the defaults apply" in p.stdout
    for args, word in ((("config",), "give check or show"),
                       (("config", "chek"), "did you mean 'check'")):
        p = home.cli(*args)
        assert p.returncode == 2 and word in p.stderr, p.stderr


def test_show_says_where_each_value_comes_from(home):
    path = home.write_config(CONFIG.replace("loud", "info"))
    p = home.cli_ok("-s", "vfs", "config", "show", env=home.env(REXRAY_LOGLEVEL="debug"))
    rows = {}
    for line in p.stdout.splitlines()[2:]:
        parts = re.split(r"\s{2,}", line.strip())
        rows[parts[0]] = parts[1:] if len(parts) == 3 else [""] + parts[1:]
    assert p.stdout.splitlines()[0] == "# " + path
    assert rows["rexray.logLevel"] == ["debug", "env REXRAY_LOGLEVEL"]
    assert rows["libstorage.service"] == ["vfs", "flag"]
    assert rows["libstorage.device.attachTimeout"] == ["10 minutes", "%s:21" % path]
    assert rows["libstorage.integration.volume.operations.mount.preempt"] == \
        ["true", "%s:26 (old name)" % path]
    assert rows["libstorage.server.auth.alg"] == ["HS256", "default"]
    assert rows["vfs.someoption"] == ["x", "%s:23" % path]
    # a secret is never shown
    assert rows["libstorage.server.auth.key"][0] == "******"
    assert "s3cret" not in p.stdout

    j = home.cli_json("config", "show", "-f", "json")
    by_key = {r["key"]: r for r in j}
    assert by_key["vfs.someoption"] == {"key": "vfs.someoption", "value": "x",
                                        "source": "file", "variable": "VFS_SOMEOPTION",
                                        "file": path, "line": 23}
    assert by_key["libstorage.server.auth.key"]["value"] == "******"
    assert by_key["rexray.logFormat"]["source"] == "default"
    assert "s3cret" not in json.dumps(j)
    p = home.cli("config", "show", "-f", "jsno")
    assert p.returncode == 2 and "--format: invalid value 'jsno'" in p.stderr, p.stderr


def test_the_shipped_example_config_is_good(home):
    example = os.path.join(os.path.dirname(REXRAY), "..", "packaging", "config.yml")
    p = home.cli_ok("config", "check", os.path.normpath(example))
    assert p.stdout.strip().endswith("0 error(s), 0 warning(s): good"), p.stdout
