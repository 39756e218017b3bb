"""Hosts in network namespaces around a switch namespace, for tests and the demo.

``Hosts(n)`` makes a namespace for the switch and ``n`` host namespaces ``h1..hn``; host
``i`` has ``eth0`` (MAC 02:00:00:00:00:0i, 10.0.0.i/24) whose veth peer ``vethi`` sits in
the switch namespace, ready to be a ``system`` port.  Everything lives in namespaces this
object created and is removed on ``cleanup`` (also after a failure): deleting a namespace
deletes its veths, taps and the processes' view of them.  Needs root.
"""

from __future__ import annotations

import itertools
import os
import subprocess

_counter = itertools.count()


def run(*cmd: str, ns: str | None = None, check: bool = True,
        timeout: float = 30) -> subprocess.CompletedProcess:
    full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
    r = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(full)} failed: {r.stderr.strip()}")
    return r


class Hosts:
    def __init__(self, n: int = 2, prefix: str | None = None) -> None:
        self.prefix = prefix or f"pvs{os.getpid() % 10000}x{next(_counter)}"
        self.switch_ns = f"{self.prefix}sw"
        self.hosts = [f"{self.prefix}h{i}" for i in range(1, n + 1)]
        self.made: list[str] = []

    def up(self) -> "Hosts":
        try:
            run("ip", "netns", "add", self.switch_ns)
            self.made.append(self.switch_ns)
            run("ip", "-n", self.switch_ns, "link", "set", "lo", "up")
            self._no_ipv6(self.switch_ns)
            for i, host in enumerate(self.hosts, 1):
                run("ip", "netns", "add", host)
                self.made.append(host)
                self._no_ipv6(host)
                run("ip", "-n", host, "link", "set", "lo", "up")
                run("ip", "-n", self.switch_ns, "link", "add", self.port(i), "type", "veth",
                    "peer", "name", "eth0", "netns", host)
                run("ip", "-n", host, "link", "set", "eth0", "address", self.mac(i))
                run("ip", "-n", host, "addr", "add", f"{self.ip(i)}/24", "dev", "eth0")
                run("ip", "-n", host, "link", "set", "eth0", "up")
                run("ip", "-n", self.switch_ns, "link", "set", self.port(i), "up")
        except BaseException:
            self.cleanup()
            raise
        return self

    @staticmethod
    def _no_ipv6(ns: str) -> None:
        """No IPv6 chatter (MLD reports, router solicitations, DAD) in captures and
        counters: off before any interface exists, so none ever sends a packet."""
        run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1", ns=ns)

    @staticmethod
    def port(i: int) -> str:
        return f"veth{i}"

    @staticmethod
    def mac(i: int) -> str:
        return f"02:00:00:00:00:{i:02x}"

    @staticmethod
    def ip(i: int) -> str:
        return f"10.0.0.{i}"

    def ping(self, src: int, dst: int, count: int = 1, wait: float = 1.0) -> bool:
        r = run("ping", "-c", str(count), "-W", str(wait), "-i", "0.2", self.ip(dst),
                ns=self.hosts[src - 1], check=False, timeout=count * wait + 10)
        return r.returncode == 0

    def exec(self, host: int, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(*cmd, ns=self.hosts[host - 1], check=check)

    def cleanup(self) -> None:
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "pids", ns], capture_output=True)
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                  text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.made = []

    def __enter__(self) -> "Hosts":
        return self.up()

    def __exit__(self, *exc) -> None:
        self.cleanup()
