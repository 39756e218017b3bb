"""The two switches of a conformance run and their topology (split out of
tools/conformance.py): the target pyvswitchd and the tester (Open vSwitch's userspace
datapath with a private rundir, or a second pyvswitchd), each in a network namespace of its
own, joined by three veth pairs plus a control link to the os-ken tester.  Needs root;
everything it makes is removed by ``Topology.down``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CTL_PORT = 6653
CTL_TARGET_IP = "172.31.254.1"
CTL_TESTER_IP = "172.31.254.2"
TARGET_DPID = "0000000000000001"
TESTER_DPID = "0000000000000002"


def sh(*cmd: str, ns: str | None = None, check: bool = True, env=None,
       timeout: float = 60) -> subprocess.CompletedProcess:
    full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
    r = subprocess.run(full, capture_output=True, text=True, timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(full)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def wait_until(pred, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def stop_pid(pid: int, grace: float = 5.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:   # reap it if it is our child
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


class Topology:
    """Target and tester namespaces joined by veths t1-x1, t2-x2, t3-x3 and ct-cx."""

    def __init__(self, prefix: str) -> None:
        self.target_ns = f"{prefix}t"
        self.tester_ns = f"{prefix}x"
        self.made: list[str] = []

    def up(self) -> "Topology":
        for ns in (self.target_ns, self.tester_ns):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            for conf in ("all", "default"):
                sh("sysctl", "-qw", f"net.ipv6.conf.{conf}.disable_ipv6=1", ns=ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        t, x = self.target_ns, self.tester_ns
        for i in (1, 2, 3):
            sh("ip", "-n", t, "link", "add", f"t{i}", "type", "veth", "peer", "name", f"x{i}",
               "netns", x)
        sh("ip", "-n", t, "link", "add", "ct", "type", "veth", "peer", "name", "cx", "netns", x)
        sh("ip", "-n", t, "addr", "add", f"{CTL_TARGET_IP}/30", "dev", "ct")
        sh("ip", "-n", x, "addr", "add", f"{CTL_TESTER_IP}/30", "dev", "cx")
        for ns, names in ((t, ("t1", "t2", "t3", "ct")), (x, ("x1", "x2", "x3", "cx"))):
            for n in names:
                sh("ip", "-n", ns, "link", "set", n, "up")
        return self

    def down(self) -> None:
        for ns in reversed(self.made):
            pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:     # only processes inside the namespaces this run made
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", ns, check=False)
        self.made = []


def pyvswitchd_toml(bridge: str, dpid: str, protocol: str, ports: list[str],
                    controller: str) -> str:
    lines = ["[[bridge]]", f'name = "{bridge}"', 'datapath_type = "netdev"',
             f'datapath_id = "{dpid}"', 'fail_mode = "secure"', f'protocols = ["{protocol}"]']
    for i, name in enumerate(ports, 1):
        lines += ["[[bridge.port]]", f'name = "{name}"', 'type = "system"',
                  f"ofport_request = {i}"]
    lines += ["[[bridge.controller]]", f'target = "{controller}"', "max_backoff = 1000",
              'connection_mode = "out-of-band"']
    return "\n".join(lines) + "\n"


class PyvsSwitch:
    """A pyvswitchd inside a namespace, restartable."""

    def __init__(self, workdir: Path, name: str, ns: str, config: str,
                 python: str = sys.executable) -> None:
        self.dir = workdir / name
        self.rundir = self.dir / "run"
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "config.toml"
        self.config.write_text(config)
        self.log = self.dir / "pyvswitchd.log"
        self.ns = ns
        self.python = python
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self.stderr = self.dir / "stderr.txt"

    def start(self) -> "PyvsSwitch":
        env = dict(os.environ, OVS_RUNDIR=str(self.rundir))
        env.pop("PYTHONPATH", None)
        with open(self.stderr, "ab") as err:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, self.python, "-m", "pyvswitch.vswitchd.main",
                 "--config", str(self.config), "--rundir", str(self.rundir),
                 f"--log-file={self.log}", "-vconsole:off"],
                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def restart(self) -> None:
        self.restarts += 1
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_pid(self.proc.pid, grace=10)
            self.proc.wait()


class OvsSwitch:
    """Debian's ovsdb-server + ovs-vswitchd (userspace datapath) in a namespace with a
    private rundir: one secure-mode bridge, ``ports`` on OpenFlow ports 1, 2, 3."""

    def __init__(self, workdir: Path, name: str, ns: str, bridge: str, dpid: str,
                 ports: list[str], protocol: str, controller: str) -> None:
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ns = ns
        self.bridge, self.dpid, self.ports = bridge, dpid, ports
        self.protocol = protocol
        self.controller = controller
        d = str(self.dir)
        self.env = dict(os.environ, OVS_RUNDIR=d, OVS_LOGDIR=d, OVS_DBDIR=d)
        self.pidfiles = [self.dir / "ovs-vswitchd.pid", self.dir / "ovsdb-server.pid"]
        self.log = self.dir / "ovs-vswitchd.log"
        self.restarts = 0

    def vsctl(self, *args: str) -> str:
        return sh("ovs-vsctl", "--timeout=30", f"--db=unix:{self.dir}/db.sock", *args,
                  env=self.env).stdout

    def start(self) -> "OvsSwitch":
        d = self.dir
        schema = "/usr/share/openvswitch/vswitch.ovsschema"
        sh("ovsdb-tool", "create", f"{d}/conf.db", schema, env=self.env)
        sh("ovsdb-server", f"{d}/conf.db", f"--remote=punix:{d}/db.sock",
           f"--pidfile={d}/ovsdb-server.pid", f"--log-file={d}/ovsdb-server.log",
           f"--unixctl={d}/ovsdb-server.ctl", "--detach", ns=self.ns, env=self.env)
        sh("ovs-vsctl", "--no-wait", f"--db=unix:{d}/db.sock", "init", env=self.env)
        sh("ovs-vswitchd", f"unix:{d}/db.sock", f"--pidfile={d}/ovs-vswitchd.pid",
           f"--log-file={self.log}", f"--unixctl={d}/ovs-vswitchd.ctl", "--detach",
           ns=self.ns, env=self.env)
        br = self.bridge
        args = ["add-br", br, "--", "set", "bridge", br, "datapath_type=netdev",
                "fail_mode=secure", f"protocols={self.protocol}",
                f"other-config:datapath-id={self.dpid}"]
        for i, port in enumerate(self.ports, 1):
            args += ["--", "add-port", br, port, "--", "set", "interface", port,
                     f"ofport_request={i}"]
        args += ["--", "set-controller", br, self.controller]
        self.vsctl(*args)
        self.vsctl("set", "controller", br, "connection-mode=out-of-band",
                   "max_backoff=1000")
        return self

    def alive(self) -> bool:
        try:
            pid = int((self.dir / "ovs-vswitchd.pid").read_text())
            os.kill(pid, 0)
            return True
        except (OSError, ValueError):
            return False

    def restart(self) -> None:
        raise RuntimeError("Open vSwitch exited; see " + str(self.log))

    def stop(self) -> None:
        for pf in self.pidfiles:
            try:
                stop_pid(int(pf.read_text()))
            except (OSError, ValueError):
                pass
