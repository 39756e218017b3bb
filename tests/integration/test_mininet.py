"""Mininet (Debian ``mininet``) runs its topologies on pyvswitchd.

``mn --custom tools/mininet_pyvswitch.py --switch pyvswitch --controller remote,...
--test pingall``: Mininet builds hosts and links, our switch class starts one pyvswitchd
per Mininet switch, a controller (``ovs-testcontroller``, or os-ken running our MAC-learning
app) programs them, Mininet pings every pair and reports 0% dropped, then stops every
daemon it started.

Isolation on a shared machine: ``mn`` runs inside a network namespace this test made, so
Mininet's ``s1-eth1``-style links, the switches and the controller live there (and go with
it); the hosts are Mininet's own namespaces.  Mininet's error path runs a machine-wide
clean-up (``killall ping ovs-testcontroller ...``); the test sets
``PYVSWITCH_MN_SCOPED_CLEANUP=1`` so the switch file replaces it by one that stops only its
own daemons, and puts no-op ``killall``/``pkill``/``pgrep`` first on mn's PATH as a second
guard.  Teardown kills mn and its children, everything left in the namespace, stops any
pyvswitchd the run left behind (pidfiles in its /tmp/pyvs-mn-* directories) and deletes
the namespace, also on failure.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from harness import free_tcp_port
from osken_launcher import OsKen
from test_testcontroller import TestController

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[2]
SWITCH_FILE = REPO / "tools" / "mininet_pyvswitch.py"
_counter = itertools.count()


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc)."""
    parent_of: dict[int, int] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
            parent_of[int(stat.split("/")[2])] = int(text.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent_of.items() if pp == p]
        found += kids
        frontier += kids
    return found


def _kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _stop_pidfile(rundir: str) -> None:
    try:
        pid = int(Path(rundir, "pyvswitchd.pid").read_text().strip())
    except (OSError, ValueError):
        return
    _kill([pid])


class MininetRun:
    """A namespace to run ``mn`` in, with everything it starts removed at the end."""

    def __init__(self) -> None:
        self.ns = f"pvs{os.getpid() % 10000}mn{next(_counter)}"
        self.dir = Path(tempfile.mkdtemp(prefix="pyvs-mntest-"))
        self.shims = self.dir / "bin"
        self.proc: subprocess.Popen | None = None
        self.rundirs_before = set(glob.glob("/tmp/pyvs-mn-*"))
        self.made_ns = False

    def up(self) -> "MininetRun":
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        self.made_ns = True
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True)
        self.shims.mkdir()
        for name, code in (("killall", 0), ("pkill", 0), ("pgrep", 1)):
            shim = self.shims / name
            shim.write_text(f"#!/bin/sh\nexit {code}\n")
            shim.chmod(0o755)
        return self

    def mn(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        env = dict(os.environ, PYVSWITCH_MN_SCOPED_CLEANUP="1",
                   PATH=f"{self.shims}:{os.environ.get('PATH', '')}")
        if "--switch" not in args:
            args = ("--switch", "pyvswitch", *args)
        argv = ["ip", "netns", "exec", self.ns, "mn", "--custom", str(SWITCH_FILE), *args]
        self.proc = subprocess.Popen(argv, env=env, cwd=str(REPO), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_mn()
            out, _ = self.proc.communicate()
            raise AssertionError(f"mn did not finish in {timeout}s:\n{out}")
        return subprocess.CompletedProcess(argv, self.proc.returncode, out, "")

    def kill_mn(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            _kill(_children(self.proc.pid) + [self.proc.pid])
            self.proc.wait()

    def ns_pids(self) -> list[int]:
        r = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True)
        return [int(p) for p in r.stdout.split()]

    def new_rundirs(self) -> set[str]:
        return set(glob.glob("/tmp/pyvs-mn-*")) - self.rundirs_before

    def cleanup(self) -> None:
        self.kill_mn()
        for rundir in self.new_rundirs():
            _stop_pidfile(rundir)
            shutil.rmtree(rundir, ignore_errors=True)
        if self.made_ns:
            _kill(self.ns_pids())
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
            self.made_ns = False
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def mininet():
    run = MininetRun()
    try:
        yield run.up()
    finally:
        run.cleanup()


@pytest.fixture
def controllers():
    started: list = []
    yield started
    for ctl in started:
        ctl.cleanup()


@pytest.mark.parametrize("controller,topo", [("ovs-testcontroller", "linear,3"),
                                             ("os-ken", "single,3")])
def test_mn_pingall_on_pyvswitch(mininet, controllers, controller, topo):
    port = free_tcp_port()
    if controller == "ovs-testcontroller":
        ctl = TestController(port, mininet.ns, "OpenFlow13")
    else:
        ctl = OsKen(port, ["osken_apps.learning_switch13"], ofp="1.3", netns=mininet.ns)
    controllers.append(ctl)
    ctl.start()

    r = mininet.mn("--controller", f"remote,ip=127.0.0.1,port={port}", "--topo", topo,
                   "--test", "pingall")
    n_switches = 3 if topo.startswith("linear") else 1
    assert r.returncode == 0, r.stdout
    assert "Caught exception" not in r.stdout, r.stdout
    assert f"*** Starting {n_switches} switches" in r.stdout, r.stdout
    assert "*** Results: 0% dropped (6/6 received)" in r.stdout, r.stdout
    assert "*** Done" in r.stdout, r.stdout

    # Mininet stopped every pyvswitchd it started and their run directories are gone;
    # only the controller is left in the namespace.
    time.sleep(0.2)
    assert mininet.new_rundirs() == set(), r.stdout
    assert set(mininet.ns_pids()) <= {ctl.proc.pid}, subprocess.run(
        ["ps", "-o", "pid,cmd", "-p", ",".join(map(str, mininet.ns_pids()))],
        capture_output=True, text=True).stdout


def test_mn_standalone_switch_needs_no_controller(mininet):
    """``--switch pyvswitch,failMode=standalone`` with no controller: a learning switch
    (the NORMAL flow), and ``mn --wait`` does not wait for a controller session."""
    r = mininet.mn("--switch", "pyvswitch,failMode=standalone,protocols=OpenFlow13",
                   "--controller", "none", "--topo", "single,3", "--test", "pingall",
                   timeout=90)
    assert r.returncode == 0, r.stdout
    assert "*** Results: 0% dropped (6/6 received)" in r.stdout, r.stdout
    assert mininet.new_rundirs() == set()
    assert mininet.ns_pids() == []
