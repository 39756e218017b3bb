"""Test harness for the OVSDB path: a private ovsdb-server and ``pyvswitchd DATABASE``.

``OvsdbServer`` creates a database from Open vSwitch's shipped schema in a temporary
directory and runs ``ovsdb-server`` on ``punix:<dir>/db.sock`` as a child process (never a
system-wide one); ``vsctl()`` runs the real ``ovs-vsctl`` against it, waiting for the
switch by default (no ``--no-wait``) with a timeout so that a bug fails fast.
``OvsdbSwitch`` runs ``pyvswitchd unix:<dir>/db.sock`` with its own run directory,
optionally inside a network namespace.  Both stop their processes and remove their
directories on ``cleanup()``, also after a failure.

The ``ovsdb`` and ``vswitchd`` fixtures make them (import them into a test module to use
them); ``FakeController`` is a minimal OpenFlow controller on a unix socket.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from harness import ALL_OF_VERSIONS, wait_for
from processes import DAEMON_PYTHON
from topology import Hosts

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


def _stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class OvsdbServer:
    """A private ovsdb-server with a fresh Open_vSwitch database."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pyvs-ovsdb-"))
        self.db = self.dir / "conf.db"
        self.sock = self.dir / "db.sock"
        self.remote = f"unix:{self.sock}"
        self.log = self.dir / "ovsdb-server.log"
        self.proc: subprocess.Popen | None = None
        subprocess.run(["ovsdb-tool", "create", str(self.db), SCHEMA], check=True,
                       capture_output=True, timeout=10)

    def start(self) -> "OvsdbServer":
        self.proc = subprocess.Popen(
            ["ovsdb-server", str(self.db), f"--remote=punix:{self.sock}",
             f"--unixctl={self.dir / 'ovsdb-server.ctl'}", "--no-chdir",
             f"--log-file={self.log}", "-vconsole:off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.vsctl("--no-wait", "show", check=False).returncode == 0,
                 10, what="ovsdb-server to answer")
        return self

    def init(self) -> "OvsdbServer":
        """Create the Open_vSwitch row (as ovs-ctl does at boot)."""
        self.vsctl("--no-wait", "init")
        return self

    def kill(self) -> None:
        """Stop the server abruptly (SIGKILL), leaving its socket file behind."""
        _stop(self.proc, signal.SIGKILL)

    def transact_offline(self, *ops: dict) -> None:
        """Change the database file directly while the server is stopped."""
        import json
        subprocess.run(["ovsdb-tool", "transact", str(self.db),
                        json.dumps(["Open_vSwitch", *ops])], check=True,
                       capture_output=True, timeout=10)

    def vsctl(self, *args: str, check: bool = True,
              timeout: int = 10) -> subprocess.CompletedProcess:
        r = subprocess.run(["ovs-vsctl", f"--db={self.remote}", f"--timeout={timeout}",
                            *args], capture_output=True, text=True, timeout=timeout + 5)
        if check and r.returncode != 0:
            raise AssertionError(f"ovs-vsctl {' '.join(args)} failed "
                                 f"({r.returncode}): {r.stderr}")
        return r

    def get(self, table: str, record: str, column: str) -> str:
        return self.vsctl("--no-wait", "get", table, record, column).stdout.strip()

    def cleanup(self) -> None:
        _stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class OvsdbSwitch:
    """``pyvswitchd DATABASE`` with a private run directory."""

    def __init__(self, server: OvsdbServer, netns: str | None = None,
                 name: str = "sw") -> None:
        self.server = server
        self.netns = netns
        self.dir = Path(tempfile.mkdtemp(prefix=f"pyvs-{name}-"))
        self.rundir = self.dir / "run"
        self.rundir.mkdir()
        self.log = self.dir / "pyvswitchd.log"
        self.env = dict(os.environ, OVS_RUNDIR=str(self.rundir))
        self.proc: subprocess.Popen | None = None
        self.detached_pid: int | None = None

    def _command(self) -> list[str]:
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        return prefix + [DAEMON_PYTHON, "-m", "pyvswitch.vswitchd.main", self.server.remote,
                         "--rundir", str(self.rundir), f"--log-file={self.log}",
                         "-vfile:dbg", "-vconsole:off"]

    def start(self) -> "OvsdbSwitch":
        self.proc = subprocess.Popen(self._command(), env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: self._started(), 15, what="pyvswitchd to start")
        return self

    def start_detached(self, timeout: float = 20) -> subprocess.CompletedProcess:
        """``pyvswitchd --detach``: returns when the parent process exits."""
        pidfile = self.rundir / "pyvswitchd.pid"
        try:
            return subprocess.run(self._command() + ["--detach", f"--pidfile={pidfile}"],
                                  env=self.env, capture_output=True, text=True,
                                  timeout=timeout)
        finally:
            if pidfile.exists():
                self.detached_pid = int(pidfile.read_text().split()[0])

    def _started(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"pyvswitchd exited with {self.proc.returncode}: "
                                 f"{self.proc.stderr.read().decode()}\n{self.log_text()}")
        return "started" in self.log_text()

    def ofctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run(["ovs-ofctl", *args], env=self.env, capture_output=True,
                           text=True, timeout=15)
        if check and r.returncode != 0:
            raise AssertionError(f"ovs-ofctl {' '.join(args)} failed: {r.stderr}\n"
                                 f"{self.log_text()[-3000:]}")
        return r

    def appctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run_tool("ovs-appctl", ("-t", "pyvswitchd", *args), self.env, check,
                         self.log)

    def answers(self, bridge: str, versions: str = ALL_OF_VERSIONS) -> bool:
        return self.ofctl("-O", versions, "show", bridge, check=False).returncode == 0

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> int | None:
        if self.detached_pid is not None:
            try:
                os.kill(self.detached_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            wait_for(lambda: not Path(f"/proc/{self.detached_pid}").exists(), 10,
                     what="the detached pyvswitchd to exit")
            self.detached_pid = None
        _stop(self.proc)
        return self.proc.returncode if self.proc else None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def ovsdb():
    """``ovsdb()`` starts a private ovsdb-server with an initialised database."""
    made: list[OvsdbServer] = []

    def make() -> OvsdbServer:
        server = OvsdbServer()
        made.append(server)
        return server.start().init()

    yield make
    for server in made:
        server.cleanup()


@pytest.fixture
def vswitchd():
    """``vswitchd(server, netns=None)`` starts ``pyvswitchd DATABASE``."""
    made: list[OvsdbSwitch] = []

    def make(server: OvsdbServer, netns: str | None = None,
             name: str = "sw") -> OvsdbSwitch:
        sw = OvsdbSwitch(server, netns, name)
        made.append(sw)
        return sw.start()

    yield make
    for sw in made:
        sw.cleanup()


class FakeController:
    """A unix-socket OpenFlow 1.3 controller: HELLO, then echo replies."""

    def __init__(self, path: str) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        self.listener.settimeout(0.2)
        self.stopping = False
        self.connected = threading.Event()      # set once the switch has connected
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn = None
        while not self.stopping and conn is None:
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
        if conn is None:
            return
        self.connected.set()
        conn.settimeout(0.2)
        conn.sendall(struct.pack("!BBHI", 4, 0, 8, 1))              # HELLO
        buf = b""
        while not self.stopping:
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            if not data:
                break
            buf += data
            while len(buf) >= 8:
                version, mtype, length, xid = struct.unpack("!BBHI", buf[:8])
                msg, buf = buf[:length], buf[length:]
                if mtype == 2:                                        # ECHO_REQUEST
                    conn.sendall(struct.pack("!BBHI", version, 3, length, xid) + msg[8:])
        conn.close()

    def close(self) -> None:
        self.stopping = True
        self.thread.join(2)
        self.listener.close()


def record(text: str) -> dict[str, str]:
    """``ovs-vsctl list`` output of one record as a dict of raw column texts."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def ports_of(sw: OvsdbSwitch, bridge: str = "br0") -> dict[str, int]:
    """OpenFlow port numbers by name, from ``ovs-ofctl show``."""
    text = sw.ofctl("show", bridge).stdout
    return {name: int(num) for num, name in re.findall(r"^ (\d+)\((\S+)\):", text, re.M)}


class ReferenceVswitchd:
    """Open vSwitch's own ``ovs-vswitchd`` (Debian's), on ``server``, for differential
    tests: userspace datapath only (``--disable-system``), dummy ports allowed
    (``--enable-dummy``), its own run directory (OVS_RUNDIR: its ``<bridge>.mgmt`` sockets
    and control socket live there) and, since a netdev bridge's LOCAL port is a tap
    device, run inside ``netns``.  The same calls as ``OvsdbSwitch`` (``ofctl``,
    ``appctl``, ``cleanup``), so a test drives either one."""

    program = "ovs-vswitchd"

    def __init__(self, server: OvsdbServer, netns: str) -> None:
        self.server = server
        self.netns = netns
        self.dir = Path(tempfile.mkdtemp(prefix="pyvs-ref-"))
        self.rundir = self.dir / "run"
        self.rundir.mkdir()
        self.log = self.dir / "ovs-vswitchd.log"
        self.env = dict(os.environ, OVS_RUNDIR=str(self.rundir),
                        OVS_LOGDIR=str(self.dir), OVS_DBDIR=str(self.dir))
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ReferenceVswitchd":
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "ovs-vswitchd", self.server.remote,
             "--disable-system", "--enable-dummy", "--no-chdir",
             f"--pidfile={self.rundir / 'ovs-vswitchd.pid'}", f"--log-file={self.log}",
             "-vconsole:off"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.appctl("version", check=False).returncode == 0, 15,
                 what="ovs-vswitchd to start")
        return self

    def ofctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run_tool("ovs-ofctl", args, self.env, check, self.log)

    def appctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run_tool("ovs-appctl", ("-t", self.program, *args), self.env, check,
                         self.log)

    def cleanup(self) -> None:
        _stop(self.proc)
        subprocess.run(["ip", "-n", self.netns, "link", "del", "ovs-netdev"],
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def side_by_side(script: Callable[[Any, OvsdbServer], Any], prefix: str,
                 name: str) -> tuple[Any, Any]:
    """``script(target, server)`` run against Open vSwitch's ovs-vswitchd, then against
    pyvswitchd (``name`` for its directory), each on a fresh ovsdb-server and in network
    namespaces named from ``prefix``: (Open vSwitch's result, ours).  Everything it
    starts is stopped and removed, also when the script fails."""
    results = []
    for make in (lambda db, ns: ReferenceVswitchd(db, ns),
                 lambda db, ns: OvsdbSwitch(db, ns, name=name)):
        hosts = Hosts(0, prefix=f"{prefix}r{len(results)}").up()
        server = target = None
        try:
            server = OvsdbServer()
            server.start().init()
            target = make(server, hosts.switch_ns)
            target.start()
            results.append(script(target, server))
        finally:
            if target is not None:
                target.cleanup()
            if server is not None:
                server.cleanup()
            hosts.cleanup()
    return results[0], results[1]


def _run_tool(tool: str, args, env: dict, check: bool,
              log: Path) -> subprocess.CompletedProcess:
    r = subprocess.run([tool, *args], env=env, capture_output=True, text=True, timeout=15)
    if check and r.returncode != 0:
        tail = log.read_text()[-3000:] if log.exists() else ""
        raise AssertionError(f"{tool} {' '.join(args)} failed: {r.stderr}\n{tail}")
    return r
