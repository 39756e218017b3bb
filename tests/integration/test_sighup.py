"""SIGHUP with a TOML configuration: the file is re-read and only the difference applied.

A primary controller connection (the switch connects to a socket the test listens on and
the test speaks raw OpenFlow 1.3 on it) and flows added with ovs-ofctl must survive a
reload that adds a port: no reconnection, the session keeps answering and is told about
the new port.  A file that cannot be used (bad TOML, a bad row) changes nothing.
"""

import select
import signal
import socket
import struct

import pytest

from harness import bridge_toml, wait_for

OFPT_HELLO, OFPT_ECHO_REQUEST, OFPT_ECHO_REPLY, OFPT_PORT_STATUS = 0, 2, 3, 12


class RawController:
    """A primary controller: listens, takes the switch's connection, speaks OpenFlow 1.3."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sock: socket.socket | None = None
        self.seen: list[int] = []

    def accept(self) -> "RawController":
        self.listener.settimeout(15)
        self.sock, _ = self.listener.accept()
        self.sock.settimeout(5)
        self.sock.sendall(struct.pack("!BBHI", 4, OFPT_HELLO, 8, 1))
        assert self.read()[0] == OFPT_HELLO
        return self

    def reconnected(self) -> bool:
        """Did the switch open another connection (it would if it had dropped ours)?"""
        return bool(select.select([self.listener], [], [], 0.5)[0])

    def read(self) -> tuple[int, int, bytes]:
        while True:
            head = self._exact(8)
            _, kind, length, xid = struct.unpack("!BBHI", head)
            body = self._exact(length - 8)
            self.seen.append(kind)
            if kind != OFPT_ECHO_REQUEST:
                return kind, xid, body
            self.sock.sendall(struct.pack("!BBHI", 4, OFPT_ECHO_REPLY, length, xid) + body)

    def _exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("the switch closed the controller connection")
            buf += chunk
        return buf

    def echo(self, xid: int) -> None:
        """ECHO_REQUEST answered on this same connection (messages before it kept)."""
        self.sock.sendall(struct.pack("!BBHI", 4, OFPT_ECHO_REQUEST, 8, xid))
        while True:
            kind, got, _ = self.read()
            if kind == OFPT_ECHO_REPLY and got == xid:
                return

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.listener.close()


@pytest.fixture
def ctl():
    c = RawController()
    yield c
    c.close()


def config(port: int, ports: int) -> str:
    return bridge_toml(ports=ports, controllers=[{"target": f"tcp:127.0.0.1:{port}"}])


def flows(sw) -> list[str]:
    out = sw.ofctl("-O", "OpenFlow13", "dump-flows", "br0", "--no-stats").stdout
    return sorted(line.strip() for line in out.splitlines() if "actions=" in line)


def hup_and_wait(sw, marker: str) -> None:
    before = sw.log_text().count(marker)
    sw.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: sw.log_text().count(marker) > before, 10, what=marker)


def test_reload_adds_a_port_and_keeps_connections_and_flows(make_switch, ctl):
    sw = make_switch(config(ctl.port, ports=2))
    ctl.accept()
    ctl.echo(100)
    sw.ofctl("-O", "OpenFlow13", "add-flow", "br0", "priority=10,in_port=1,actions=output:2")
    sw.ofctl("-O", "OpenFlow13", "add-flow", "br0", "priority=5,actions=drop")
    before = flows(sw)
    assert len(before) == 2

    sw.config.write_text(config(ctl.port, ports=3))
    hup_and_wait(sw, "reloaded")
    assert " 3(p3)" in sw.ofctl("-O", "OpenFlow13", "show", "br0").stdout
    ctl.echo(101)                                     # the same TCP session answers
    assert OFPT_PORT_STATUS in ctl.seen               # ... and was told about p3
    assert flows(sw) == before
    assert "removed primary controller" not in sw.log_text()
    assert not ctl.reconnected()

    # Removing the port again is a difference too; the rest stays.
    sw.config.write_text(config(ctl.port, ports=2))
    hup_and_wait(sw, "reloaded")
    assert " 3(p3)" not in sw.ofctl("-O", "OpenFlow13", "show", "br0").stdout
    ctl.echo(102)
    assert flows(sw) == before


@pytest.mark.parametrize("bad", [
    "[[bridge]\nname = 'br0'\n",                                     # not TOML
    "[[bridge]]\nname = 'this-name-is-far-too-long'\n",              # unusable bridge
    "[[bridge]]\nname = 'br0'\ncolour = 'blue'\n",                   # unknown key
    None,                                                            # a bad port row
])
def test_a_bad_file_changes_nothing(make_switch, ctl, bad):
    sw = make_switch(config(ctl.port, ports=2))
    ctl.accept()
    sw.ofctl("-O", "OpenFlow13", "add-flow", "br0", "priority=10,in_port=1,actions=output:2")
    before_flows = flows(sw)
    before_show = sw.ofctl("-O", "OpenFlow13", "show", "br0").stdout
    if bad is None:     # p2 left out and a broken p3: must not remove p2
        bad = bridge_toml(ports=1, controllers=[
            {"target": f"tcp:127.0.0.1:{ctl.port}"}]) + \
            '[[bridge.port]]\nname = "p3"\ntype = "dummy"\nfrobnicate = 1\n'
    sw.config.write_text(bad)
    hup_and_wait(sw, "keeping the running configuration")
    assert sw.proc.poll() is None
    assert sw.ofctl("-O", "OpenFlow13", "show", "br0").stdout == before_show
    assert flows(sw) == before_flows
    ctl.echo(7)
    assert not ctl.reconnected()

    # Fixed file: applied on the next SIGHUP.
    sw.config.write_text(config(ctl.port, ports=3))
    hup_and_wait(sw, "reloaded")
    assert " 3(p3)" in sw.ofctl("-O", "OpenFlow13", "show", "br0").stdout
    ctl.echo(8)


def test_reload_adds_and_removes_bridges_without_touching_the_others(make_switch, ctl):
    sw = make_switch(config(ctl.port, ports=2))
    ctl.accept()
    sw.ofctl("-O", "OpenFlow13", "add-flow", "br0", "priority=10,actions=drop")
    before = flows(sw)
    second = bridge_toml(name="br1", ports=1, datapath_id="0000000000000002")
    sw.config.write_text(config(ctl.port, ports=2) + second)
    hup_and_wait(sw, "reloaded")
    wait_for(lambda: (sw.rundir / "br1.mgmt").exists(), 5, what="br1.mgmt")
    assert "br1-p1" in sw.ofctl("-O", "OpenFlow13", "show", "br1").stdout
    sw.config.write_text(config(ctl.port, ports=2))
    hup_and_wait(sw, "reloaded")
    assert not (sw.rundir / "br1.mgmt").exists()
    assert flows(sw) == before
    ctl.echo(9)
    assert not ctl.reconnected()
