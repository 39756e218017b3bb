"""Test harness: run a real pyvswitchd (and real Open vSwitch tools) in a private rundir.

``Switch`` starts ``pyvswitchd --config FILE.toml`` as a subprocess with its own run
directory, waits until its management socket answers, and offers helpers that run
``ovs-ofctl`` / ``ovs-appctl`` against it exactly as a user would (OVS_RUNDIR set).  The
process is always stopped and the rundir removed, also when a test fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager

from processes import DAEMON_PYTHON, TestProcess

ALL_OF_VERSIONS = "OpenFlow10,OpenFlow11,OpenFlow12,OpenFlow13,OpenFlow14,OpenFlow15"


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


class Switch(TestProcess):
    """A running pyvswitchd."""

    def __init__(self, config_text: str, name: str = "sw", netns: str | None = None,
                 python: str | None = None) -> None:
        super().__init__(f"pyvs-{name}-", "pyvswitchd.log")
        self.python = python or DAEMON_PYTHON     # the interpreter the daemon runs on
        self.rundir = self.dir / "run"
        self.rundir.mkdir()
        self.config = self.dir / "config.toml"
        self.config.write_text(config_text)
        self.env = dict(os.environ, OVS_RUNDIR=str(self.rundir))
        self.netns = netns          # run the daemon inside this network namespace

    def start(self, bridges: tuple[str, ...] = ("br0",), timeout: float = 15.0) -> "Switch":
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.proc = subprocess.Popen(
            prefix + [self.python, "-m", "pyvswitch.vswitchd.main", "--config", str(self.config),
             "--rundir", str(self.rundir), f"--log-file={self.log}", "-vfile:dbg",
             "-vconsole:off"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for br in bridges:
            wait_for(lambda: self._answers(br), timeout, what=f"{br}.mgmt to answer")
        return self

    def _answers(self, bridge: str) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"pyvswitchd exited with {self.proc.returncode}: "
                                 f"{self.proc.stderr.read().decode()}\n{self.log_text()}")
        if not (self.rundir / f"{bridge}.mgmt").exists():
            return False
        r = subprocess.run(["ovs-ofctl", "-O", ALL_OF_VERSIONS, "show", bridge], env=self.env,
                           capture_output=True, timeout=10)
        return r.returncode == 0

    def ofctl(self, *args: str, check: bool = True, timeout: float = 30,
              input: str | None = None) -> subprocess.CompletedProcess:
        r = subprocess.run(["ovs-ofctl", *args], env=self.env, capture_output=True,
                           text=True, timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise AssertionError(f"ovs-ofctl {' '.join(args)} failed: {r.stderr}")
        return r

    def appctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run(["ovs-appctl", "-t", "pyvswitchd", *args], env=self.env,
                           capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise AssertionError(f"ovs-appctl {' '.join(args)} failed: {r.stderr}")
        return r

    def stop(self, sig: int = signal.SIGTERM, grace: float = 10.0) -> int | None:
        return super().stop(sig, grace)

    def __enter__(self) -> "Switch":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()


def bridge_toml(name: str = "br0", ports: int = 2, controllers: list[dict] | None = None,
                extra: str = "", datapath_type: str = "dummy",
                protocols: str = '["OpenFlow10", "OpenFlow13", "OpenFlow14", "OpenFlow15"]',
                datapath_id: str = "0000000000000001") -> str:
    """A TOML bridge section with ``ports`` dummy ports p1..pN on OpenFlow ports 1..N."""
    lines = ["[[bridge]]", f'name = "{name}"', f'datapath_type = "{datapath_type}"',
             'fail_mode = "secure"', f"protocols = {protocols}",
             f'datapath_id = "{datapath_id}"', extra]
    prefix = "" if name == "br0" else f"{name}-"
    for i in range(1, ports + 1):
        lines += ["[[bridge.port]]", f'name = "{prefix}p{i}"', 'type = "dummy"',
                  f"ofport_request = {i}"]
    for c in controllers or []:
        lines.append("[[bridge.controller]]")
        for k, v in c.items():
            if isinstance(v, bool):
                lines.append(f"{k} = {str(v).lower()}")
            elif isinstance(v, str):
                lines.append(f'{k} = "{v}"')
            else:
                lines.append(f"{k} = {v}")
    return "\n".join(lines) + "\n"


def netdev_bridge(hosts, n: int, fail_mode: str = "standalone", flows=(),
                  controllers=None, extra_ports: str = "") -> str:
    """A TOML netdev bridge br0 whose ports 1..n are the switch-side veths of ``hosts``
    (a ``topology.Hosts``), with optional startup ``flows`` and ``controllers``."""
    lines = ["[[bridge]]", 'name = "br0"', 'datapath_type = "netdev"',
             f'fail_mode = "{fail_mode}"', 'datapath_id = "0000000000000001"']
    if flows:
        lines.append("flows = [" + ", ".join(f'"{f}"' for f in flows) + "]")
    for i in range(1, n + 1):
        lines += ["[[bridge.port]]", f'name = "{hosts.port(i)}"', 'type = "system"',
                  f"ofport_request = {i}"]
    for c in controllers or []:
        lines += ["[[bridge.controller]]"] + [f'{k} = "{v}"' if isinstance(v, str)
                                              else f"{k} = {v}" for k, v in c.items()]
    return "\n".join(lines) + "\n" + extra_ports


@contextmanager
def switch_between_hosts(n: int, **bridge_kw):
    """``n`` hosts in namespaces and a started pyvswitchd whose br0 joins them
    (``netdev_bridge(hosts, n, **bridge_kw)``); yields ``(hosts, switch)`` and removes
    both afterwards, also when starting or the body fails.  For module-scoped fixtures."""
    from topology import Hosts
    hosts = Hosts(n).up()
    try:
        sw = Switch(netdev_bridge(hosts, n, **bridge_kw), netns=hosts.switch_ns)
        try:
            sw.start()
            yield hosts, sw
        finally:
            sw.cleanup()
    finally:
        hosts.cleanup()
