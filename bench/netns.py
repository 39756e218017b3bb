"""Namespaces and veth pairs for forwarding benchmarks and integration tests.

Topology (as the bench kit's netns-setup.sh): three namespaces,
``A: p1ns == p1 [S: switch under test] p2 == p2ns :B``.  ``A`` sends, ``B`` receives and
counts; frames go to a MAC nobody owns, so ``B`` drops them cheaply after counting them.

``Topology`` is a context manager: it removes everything it made on exit, also when the
body raised, and ``down()`` is safe to call twice.  Needs root.
"""

from __future__ import annotations

import os
import signal
import subprocess


def sh(*cmd: str, check: bool = True, ns: str | None = None) -> str:
    full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
    r = subprocess.run(full, check=check, capture_output=True, text=True)
    return r.stdout


class Topology:
    def __init__(self, prefix: str | None = None) -> None:
        p = prefix or f"pv{os.getpid() % 100000}"
        self.a, self.s, self.b = f"{p}A", f"{p}S", f"{p}B"
        self._made: list[str] = []

    def up(self) -> "Topology":
        try:
            for n in (self.a, self.s, self.b):
                sh("ip", "netns", "add", n)
                self._made.append(n)
                sh("ip", "-n", n, "link", "set", "lo", "up")
            sh("ip", "-n", self.s, "link", "add", "p1", "type", "veth", "peer", "name",
               "p1ns", "netns", self.a)
            sh("ip", "-n", self.s, "link", "add", "p2", "type", "veth", "peer", "name",
               "p2ns", "netns", self.b)
            sh("ip", "-n", self.a, "link", "set", "p1ns", "address", "02:00:00:00:00:01")
            sh("ip", "-n", self.b, "link", "set", "p2ns", "address", "02:00:00:00:00:02")
            for ns, dev in ((self.a, "p1ns"), (self.b, "p2ns"), (self.s, "p1"),
                            (self.s, "p2")):
                sh("sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1", ns=ns)
                sh("ip", "-n", ns, "link", "set", dev, "up")
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        while self._made:
            sh("ip", "netns", "del", self._made.pop(), check=False)

    def counter(self, ns: str, dev: str, what: str) -> int:
        return int(sh("cat", f"/sys/class/net/{dev}/statistics/{what}", ns=ns))

    def __enter__(self) -> "Topology":
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()


def start_trafgen(ns: str, dev: str, cfg_path: str, *extra: str, cpu: int | None = None
                  ) -> subprocess.Popen:
    """trafgen (netsniff-ng) sending ``cfg_path`` out of ``dev`` in namespace ``ns``."""
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    return subprocess.Popen(["ip", "netns", "exec", ns, *pin, "trafgen", "-o", dev, "-i",
                             cfg_path, "-P", "1", "-q", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_trafgen(gen: subprocess.Popen) -> None:
    """Stop trafgen and the worker it forks (a worker left behind keeps sending, and keeps
    its namespace alive after ``ip netns del``)."""
    try:
        with open(f"/proc/{gen.pid}/task/{gen.pid}/children") as f:
            workers = [int(k) for k in f.read().split()]
    except OSError:
        workers = []
    for pid in workers + [gen.pid]:
        try:
            os.kill(pid, signal.SIGINT)
        except OSError:
            pass
    try:
        gen.wait(timeout=10)
    except subprocess.TimeoutExpired:
        gen.kill()
        gen.wait()
    for pid in workers:                  # not our children: make sure they are gone
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
