"""The daemon as an operator sees it: bad files, bad rows, signals, pidfile, idle CPU."""

import os
import signal
import subprocess
import time

from harness import Switch, bridge_toml, wait_for
from processes import DAEMON_PYTHON


def run_daemon(*args, env=None, timeout=20):
    return subprocess.run([DAEMON_PYTHON, "-m", "pyvswitch.vswitchd.main", *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_bad_config_file_exits_nonzero_naming_file_and_key(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[[bridge]]\nname = "br0"\nfail_mode = "sometimes"\n')
    r = run_daemon("--config", str(cfg), "--rundir", str(tmp_path))
    assert r.returncode == 1
    assert "bad.toml" in r.stderr and "fail_mode" in r.stderr and "sometimes" in r.stderr


def test_bad_port_and_controller_are_skipped_rest_runs(make_switch):
    text = bridge_toml(ports=1) + """
[[bridge.port]]
name = "ghost0"
type = "system"
[[bridge.port]]
name = "p9"
type = "dummy"
ofport_request = 9
[[bridge.controller]]
target = "smoke-signal:1.2.3.4"
"""
    sw = make_switch(text)
    out = sw.ofctl("-O", "OpenFlow13", "show", "br0").stdout
    assert " 1(p1)" in out and " 9(p9)" in out and "ghost0" not in out
    log = sw.log_text()
    assert "interface ghost0" in log and "could not open network device ghost0" in log
    assert "smoke-signal" in log and "unknown connection method" in log


def test_sigterm_removes_sockets_and_pidfile(make_switch):
    sw = make_switch(bridge_toml())
    assert (sw.rundir / "pyvswitchd.pid").exists()
    pid = int((sw.rundir / "pyvswitchd.pid").read_text())
    assert pid == sw.proc.pid
    sw.proc.send_signal(signal.SIGTERM)
    assert sw.proc.wait(10) == 0
    for name in ("br0.mgmt", "br0.snoop", "pyvswitchd.pid", f"pyvswitchd.{pid}.ctl"):
        assert not (sw.rundir / name).exists(), name


def test_sigint_also_shuts_down_cleanly(make_switch):
    sw = make_switch(bridge_toml())
    sw.proc.send_signal(signal.SIGINT)
    assert sw.proc.wait(10) == 0
    assert not (sw.rundir / "br0.mgmt").exists()


def test_idle_daemon_uses_almost_no_cpu(make_switch):
    sw = make_switch(bridge_toml(controllers=[{"target": "tcp:127.0.0.1:1", "max_backoff": 1000}]))

    def cpu_seconds():
        with open(f"/proc/{sw.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    before = cpu_seconds()
    time.sleep(3)
    used = cpu_seconds() - before
    assert used < 0.3, f"idle daemon used {used:.2f} s of CPU in 3 s"


def test_detach_and_unixctl_exit(tmp_path):
    sw = Switch(bridge_toml())
    try:
        r = subprocess.run([DAEMON_PYTHON, "-m", "pyvswitch.vswitchd.main", "--config",
                            str(sw.config), "--rundir", str(sw.rundir), "--detach",
                            f"--log-file={sw.log}"], env=sw.env, capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 0, r.stderr
        pid = int((sw.rundir / "pyvswitchd.pid").read_text())
        wait_for(lambda: (sw.rundir / "br0.mgmt").exists(), 10, what="mgmt socket")
        assert "OF1.3" in sw.ofctl("-O", "OpenFlow13", "show", "br0").stdout
        sw.appctl("exit")
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, what="daemon exit")
    finally:
        pid_file = sw.rundir / "pyvswitchd.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        sw.cleanup()
