"""The user command line, `pyvswitch`."""

import subprocess
import sys

from harness import bridge_toml


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "pyvswitch.cli", *args], capture_output=True,
                          text=True, env=env, timeout=30)


def test_check_config_reports_ok_fatal_and_skipped(tmp_path):
    r = cli("check-config", "examples/br0.toml")
    assert r.returncode == 0 and r.stdout.startswith("ok: 1 bridge(s), 2 port(s)")
    bad = tmp_path / "bad.toml"
    bad.write_text('[[bridge]]\nname = "br0"\nfail_mode = "maybe"\n')
    r = cli("check-config", str(bad))
    assert r.returncode == 1 and "fail_mode" in r.stderr
    skip = tmp_path / "skip.toml"
    skip.write_text('[[bridge]]\nname = "br0"\n[[bridge.port]]\nname = "x"\ntype = "bogus"\n')
    r = cli("check-config", str(skip))
    assert r.returncode == 2 and "bogus" in r.stderr


def test_ctl_talks_to_the_running_daemon(make_switch):
    sw = make_switch(bridge_toml())
    r = cli("ctl", "--rundir", str(sw.rundir), "ofproto/list")
    assert r.returncode == 0 and r.stdout.split() == ["br0"]
    r = cli("ctl", "--rundir", str(sw.rundir), "fdb/show", "nosuchbridge")
    assert r.returncode == 2 and "unknown bridge" in r.stderr
