"""Open vSwitch itself, as the reference in benchmarks: ovsdb-server and ovs-vswitchd
(userspace datapath) with a private run directory, ovs-vswitchd inside a network namespace
of the benchmark's own (two userspace datapaths in one namespace would fight over the
``ovs-netdev`` tap).  Never touches a system-wide Open vSwitch.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


class ReferenceOvs:
    def __init__(self, netns: str, rundir: Path) -> None:
        self.netns = netns
        self.rundir = Path(rundir)
        self.env = dict(os.environ, OVS_RUNDIR=str(self.rundir), OVS_LOGDIR=str(self.rundir),
                        OVS_DBDIR=str(self.rundir))

    def run(self, *cmd: str, in_netns: bool = False, timeout: float = 60) -> str:
        full = (["ip", "netns", "exec", self.netns] if in_netns else []) + list(cmd)
        return subprocess.run(full, check=True, env=self.env, capture_output=True, text=True,
                              timeout=timeout).stdout

    def start(self, bridge_args: tuple[str, ...] = ()) -> "ReferenceOvs":
        d = self.rundir
        d.mkdir(parents=True, exist_ok=True)
        self.run("ovsdb-tool", "create", f"{d}/conf.db", SCHEMA)
        self.run("ovsdb-server", f"{d}/conf.db", f"--remote=punix:{d}/db.sock",
                 f"--pidfile={d}/ovsdb-server.pid", f"--log-file={d}/ovsdb-server.log",
                 "--detach")
        self.run("ovs-vsctl", "--no-wait", "init")
        self.run("ovs-vswitchd", f"unix:{d}/db.sock", f"--pidfile={d}/ovs-vswitchd.pid",
                 f"--log-file={d}/ovs-vswitchd.log", "--detach", in_netns=True)
        self.run("ovs-vsctl", "add-br", "br0", "--", "set", "bridge", "br0",
                 "datapath_type=netdev", *bridge_args)
        return self

    @property
    def pid(self) -> int:
        return int((self.rundir / "ovs-vswitchd.pid").read_text())

    def stop(self) -> None:
        subprocess.run(["ovs-vsctl", "--timeout=5", "--if-exists", "del-br", "br0"],
                       env=self.env, capture_output=True)
        for name in ("ovs-vswitchd", "ovsdb-server"):
            try:
                pid = int((self.rundir / f"{name}.pid").read_text())
                os.kill(pid, signal.SIGTERM)
            except (OSError, ValueError):
                continue
            deadline = time.monotonic() + 10
            while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
                time.sleep(0.1)
        for dev in ("br0", "ovs-netdev"):
            subprocess.run(["ip", "-n", self.netns, "link", "del", dev], capture_output=True)
        shutil.rmtree(self.rundir, ignore_errors=True)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
