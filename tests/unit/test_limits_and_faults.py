"""Bounded resources and fault isolation, as a user of the switch sees them.

* A controller that stops reading costs bounded memory: packet-ins beyond
  controller_queue_size and other async messages beyond ofconn.ASYNC_TXQ_MAX are dropped
  and counted (coverage/show), the transmit queue stops growing.
* A listener holds at most max-connections sessions; the next ones are closed at once.
* A bug hit by one OpenFlow message is answered with an OFPT_ERROR and logged once with
  its traceback; the same session and the others keep working.  A bug hit while running
  one session ends that session only.  A bug hit by one packet loses that packet only.

Real Bridges on a temporary rundir with dummy ports; controllers are unix-socket clients
in this process, so no root and no network are needed.
"""

from __future__ import annotations

import socket
import struct

import pytest

from pyvswitch.config.model import (
    BridgeConfig, ControllerConfig, InterfaceConfig, PortConfig, SwitchConfig,
)
from pyvswitch.conn.rconn import Rconn
from pyvswitch.ofproto import handlers, ofconn as ofconn_mod
from pyvswitch.ofproto.connmgr import ConnMgr
from pyvswitch.ofproto.ofconn import ConnType, OfConn
from pyvswitch.ofproto_dpif.upcall import UpcallHandler
from pyvswitch.openflow import messages as m
from pyvswitch.util import coverage, vlog
from pyvswitch.vswitchd.bridge import Bridges

OFPT_HELLO, OFPT_ERROR, OFPT_ECHO_REQUEST, OFPT_ECHO_REPLY = 0, 1, 2, 3
OFPT_FEATURES_REQUEST, OFPT_BARRIER_REQUEST_13 = 5, 20


# --- helpers -------------------------------------------------------------------------------

class StuckVconn:
    """A connected vconn whose peer never reads: every send is refused."""

    name = "stuck"
    version = 0x04

    def connect(self):
        return 0

    def recv(self):
        return None

    def send(self, msg):
        return False

    def run(self):
        pass

    def wait(self, poller, want_recv, want_send):
        pass

    def close(self):
        pass


def stuck_ofconn(now=0.0, queue_limit=100):
    rconn = Rconn("br0<->stuck", now, echo_request=lambda v: b"")
    rconn.connect_unreliably(StuckVconn(), now)
    rconn.run(now)
    assert rconn.is_connected()
    return OfConn(rconn, ConnType.PRIMARY, queue_limit=queue_limit)


def hdr(mtype, xid=1, body=b"", version=0x04):
    return struct.pack("!BBHI", version, mtype, 8 + len(body), xid) + body


class Client:
    """A blocking OpenFlow 1.3 client on a unix socket, pumped by the test."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.setblocking(False)
        self.buf = b""
        self.sock.sendall(hdr(OFPT_HELLO))

    def messages(self):
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError
                self.buf += chunk
        except BlockingIOError:
            pass
        out = []
        while len(self.buf) >= 8:
            length = struct.unpack("!H", self.buf[2:4])[0]
            if len(self.buf) < length:
                break
            out.append(self.buf[:length])
            self.buf = self.buf[length:]
        return out

    def is_closed(self):
        """True once the switch closed the connection (pending messages are read)."""
        try:
            self.messages()
        except (EOFError, ConnectionResetError):
            return True
        return False

    def close(self):
        self.sock.close()


class Switch:
    """Bridges with one bridge br0, dummy ports p1 and p2 and optional controllers."""

    def __init__(self, tmp_path, controllers=()):
        self.bridges = Bridges(str(tmp_path))
        self.now = 0.0
        ports = {n: PortConfig(n, (InterfaceConfig(n, "dummy"),)) for n in ("p1", "p2")}
        br = BridgeConfig(name="br0", datapath_type="dummy", ports=ports,
                          controllers=tuple(controllers))
        assert self.bridges.reconfigure(SwitchConfig(bridges={"br0": br}), self.now) == []
        self.br = self.bridges.bridges["br0"]

    def pump(self, n=5):
        for _ in range(n):
            self.now += 10
            self.bridges.run(self.now)

    def exchange(self, client, raw, want_type, rounds=50):
        """Send ``raw`` and pump until a message of ``want_type`` comes back."""
        if raw:
            client.sock.sendall(raw)
        got = []
        for _ in range(rounds):
            self.pump(1)
            got += client.messages()
            if any(msg[1] == want_type for msg in got):
                return got
        raise AssertionError(f"no message of type {want_type}; got {[g[1] for g in got]}")

    def close(self):
        self.bridges.close(self.now + 10)


@pytest.fixture
def switch(tmp_path):
    made = []

    def make(controllers=()):
        sw = Switch(tmp_path, controllers)
        made.append(sw)
        return sw
    yield make
    for sw in made:
        sw.close()


def frame(src_last, dst_last=0xFF):
    dst = bytes([0x02, 0, 0, 0, 0, dst_last]) if dst_last != 0xFF else b"\xff" * 6
    return dst + bytes([0x02, 0, 0, 0, 0, src_last]) + b"\x08\x00" + bytes(46)


# --- bounded queues ------------------------------------------------------------------------

def test_packet_ins_to_a_controller_that_never_reads_are_capped_and_counted():
    conn = stuck_ofconn(queue_limit=100)
    before = coverage.value("rconn_overflow")
    for i in range(5000):
        conn.send_packet_in(hdr(10, i), in_port=1, miss=True, now=float(i))
    assert len(conn.rconn.txq) == 100
    assert conn.packet_in_counter.n_packets == 100
    assert conn.n_async_dropped == 4900
    assert coverage.value("rconn_overflow") - before == 4900


def test_other_async_messages_to_a_controller_that_never_reads_are_capped_and_counted():
    mgr = ConnMgr("br0", lambda *a: None)
    conn = stuck_ofconn()
    mgr.all_ofconns = lambda: [conn]
    before = coverage.value("ofconn_async_overflow")
    sent = 0
    for _ in range(ofconn_mod.ASYNC_TXQ_MAX + 500):
        sent += mgr.send_async("port_status", 0, m.EchoRequest())
    assert sent == ofconn_mod.ASYNC_TXQ_MAX
    assert len(conn.rconn.txq) == ofconn_mod.ASYNC_TXQ_MAX
    assert conn.n_async_overflow == 500
    assert coverage.value("ofconn_async_overflow") - before == 500


def test_listener_refuses_connections_beyond_max_connections(switch, tmp_path):
    path = str(tmp_path / "ctl.sock")
    sw = switch([ControllerConfig(f"punix:{path}", other_config={"max-connections": "2"})])
    before = coverage.value("connmgr_refused")
    clients = []
    for _ in range(5):
        clients.append(Client(path))
        sw.pump(3)
    svc = sw.br.ofproto.connmgr.services[f"punix:{path}"]
    assert len(svc.accepted) == 2
    assert svc.n_refused == 3
    assert coverage.value("connmgr_refused") - before == 3
    assert [c.is_closed() for c in clients] == [False, False, True, True, True]
    # The admitted sessions work; once one leaves, a newcomer is admitted.
    sw.exchange(clients[0], hdr(OFPT_ECHO_REQUEST, 9), OFPT_ECHO_REPLY)
    clients[1].close()
    sw.pump(3)
    late = Client(path)
    sw.pump(3)
    assert not late.is_closed() and len(svc.accepted) == 2
    for c in clients + [late]:
        c.close()


def test_max_connections_default_is_generous_and_bad_values_fall_back():
    from pyvswitch.ofproto.connmgr import MAX_CONNECTIONS, Service
    for raw in (None, "0", "-3", "lots"):
        other = {} if raw is None else {"max-connections": raw}
        svc = Service(ControllerConfig("ptcp:6653", other_config=other), ConnType.SERVICE,
                      frozenset({4}))
        assert svc.max_connections == MAX_CONNECTIONS >= 100


# --- fault isolation -----------------------------------------------------------------------

def test_a_crashing_handler_answers_eperm_and_everything_else_keeps_working(
        switch, monkeypatch):
    sw = switch()
    mgmt = sw.bridges.mgmt_path("br0")
    victim, bystander = Client(mgmt), Client(mgmt)
    real_dispatch = handlers.dispatch

    def buggy(ofproto, conn, msgs, raw, now):
        if isinstance(msgs[0], m.FeaturesRequest):
            raise ZeroDivisionError("injected fault")
        return real_dispatch(ofproto, conn, msgs, raw, now)
    monkeypatch.setattr(handlers, "dispatch", buggy)
    logged = []
    monkeypatch.setattr(vlog.Logger, "exception",
                        lambda self, msg, *args: logged.append(msg % args))
    crashes = sw.br.ofproto.n_handler_crashes
    for xid in range(1, 4):
        got = sw.exchange(victim, hdr(OFPT_FEATURES_REQUEST, xid), OFPT_ERROR)
        (err,) = [g for g in got if g[1] == OFPT_ERROR]
        assert struct.unpack("!I", err[4:8])[0] == xid
        assert struct.unpack("!HH", err[8:12]) == (1, 5)   # BAD_REQUEST / EPERM
    assert sw.br.ofproto.n_handler_crashes - crashes == 3
    assert len(logged) == 3 and "unexpected error" in logged[0]
    # The same session and another one still get answers.
    sw.exchange(victim, hdr(OFPT_ECHO_REQUEST, 40), OFPT_ECHO_REPLY)
    sw.exchange(bystander, hdr(OFPT_BARRIER_REQUEST_13, 41), 21)
    victim.close()
    bystander.close()


def test_a_crash_while_running_one_session_ends_only_that_session(switch, monkeypatch):
    sw = switch()
    mgmt = sw.bridges.mgmt_path("br0")
    victim, bystander = Client(mgmt), Client(mgmt)
    sw.pump(5)
    svc = next(iter(sw.br.ofproto.connmgr.services.values()))
    assert len(svc.accepted) == 2
    doomed = svc.accepted[0]
    real_run = OfConn.run

    def run(self, now, handle):
        if self is doomed:
            raise RuntimeError("injected fault in the session")
        return real_run(self, now, handle)
    monkeypatch.setattr(OfConn, "run", run)
    before = coverage.value("ofconn_crash")
    sw.pump(5)
    assert coverage.value("ofconn_crash") - before == 1
    assert doomed not in svc.accepted and len(svc.accepted) == 1
    closed = [c.is_closed() for c in (victim, bystander)]
    assert sorted(closed) == [False, True]
    alive = bystander if closed[0] else victim
    sw.exchange(alive, hdr(OFPT_ECHO_REQUEST, 7), OFPT_ECHO_REPLY)
    victim.close()
    bystander.close()


def test_a_packet_that_hits_a_bug_is_lost_alone(switch, monkeypatch):
    sw = switch()
    p1, p2 = sw.br.netdevs["p1"], sw.br.netdevs["p2"]
    real_miss = UpcallHandler.handle_miss

    def buggy(self, up, now):
        if up.frame[11] == 0x66:
            raise KeyError("injected fault in one packet")
        return real_miss(self, up, now)
    monkeypatch.setattr(UpcallHandler, "handle_miss", buggy)
    monkeypatch.setattr(vlog.Logger, "exception", lambda self, msg, *args: None)
    before = coverage.value("unexpected_exception")
    p1.inject(frame(0x66))
    sw.pump(5)
    p1.inject(frame(0x01))
    sw.pump(5)
    assert p2.captured == [frame(0x01)]
    assert getattr(sw.br.provider, "n_crashes", 0) == 1
    assert coverage.value("unexpected_exception") == before   # the logger was replaced
    # Still forwarding afterwards, in both directions.
    p2.inject(frame(0x02, 0x01))
    sw.pump(5)
    assert p1.captured == [frame(0x02, 0x01)]


def test_exception_log_is_rate_limited_per_call_site(monkeypatch):
    class Sink:
        def __init__(self):
            self.tracebacks, self.lines = [], []

        def exception(self, text):
            self.tracebacks.append(text)

        def err(self, text):
            self.lines.append(text)
    logger = vlog.Logger("pyvswitch")
    sink = Sink()
    monkeypatch.setattr(logger, "_vlog", sink)
    clock = [1000.0]
    monkeypatch.setattr(vlog.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(vlog, "_EXC_STATES", {})
    before = coverage.value("unexpected_exception")

    def fail_once():
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("handling %s", "x")
    for _ in range(1000):                 # a burst within one millisecond
        fail_once()
    assert len(sink.tracebacks) == 1 and sink.lines == []
    clock[0] += 1.5                       # a summary line, with the suppressed count
    fail_once()
    assert sink.lines == ["handling x (999 similar errors suppressed): ValueError: boom "
                          "(traceback logged earlier)"]
    clock[0] += vlog.EXC_TRACEBACK_INTERVAL_S   # the traceback again, later
    fail_once()
    assert len(sink.tracebacks) == 2
    assert coverage.value("unexpected_exception") - before == 1002


def test_coverage_show_lists_hit_counters():
    counter = coverage.Counter("test_only_event")
    assert coverage.Counter("test_only_event") is counter
    counter.inc(3)
    text = coverage.show()
    assert text.startswith("Event coverage")
    assert any(line.split()[0] == "test_only_event"
               and line.endswith(f"total: {counter.total}") for line in text.splitlines())
    assert text.rstrip().endswith("events never hit")


def test_snoop_connections_stuck_in_hello_are_capped(switch):
    from pyvswitch.ofproto.connmgr import MAX_PENDING_SNOOPS
    sw = switch()
    path = sw.bridges.snoop_path("br0")
    clients = []
    for _ in range(MAX_PENDING_SNOOPS + 4):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)                    # and never says HELLO
        clients.append(s)
        sw.pump(2)
    assert len(sw.br.ofproto.connmgr._pending_snoops) == MAX_PENDING_SNOOPS
    closed = 0
    for s in clients:
        s.setblocking(False)
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    closed += 1
                    break
        except BlockingIOError:
            pass
        s.close()
    assert closed == 4


def test_a_bug_in_flow_expiry_or_a_device_does_not_stop_the_loop(switch, monkeypatch):
    from pyvswitch.ofproto.tables import FlowTables
    sw = switch()
    p1, p2 = sw.br.netdevs["p1"], sw.br.netdevs["p2"]
    monkeypatch.setattr(vlog.Logger, "exception", lambda self, msg, *args: None)

    def broken(self, now):
        raise RuntimeError("injected fault")
    monkeypatch.setattr(FlowTables, "run", broken)
    monkeypatch.setattr(type(p1), "run", broken)
    p1.inject(frame(0x01))
    sw.pump(5)                              # would raise out of Bridges.run before
    assert p2.captured == [frame(0x01)]
    mgmt = Client(sw.bridges.mgmt_path("br0"))
    sw.exchange(mgmt, hdr(OFPT_ECHO_REQUEST, 5), OFPT_ECHO_REPLY)
    mgmt.close()
