"""rconn timing against a stepped clock: backoff, connect timeout, inactivity probes,
transmit-queue limits and discards, admission, unreliable connections."""

import errno

import pytest

from pyvswitch.conn.rconn import PacketCounter, Rconn, State, is_admission_msg

ECHO = b"\x04\x02\x00\x08\x00\x00\x00\x00"


def hdr(version, mtype, extra=b""):
    length = 8 + len(extra)
    return bytes([version, mtype]) + length.to_bytes(2, "big") + b"\0\0\0\1" + extra


class FakeVconn:
    """A vconn whose behaviour the test scripts: connect result, inbox, writability."""

    def __init__(self, name, connect_result=0, version=4):
        self.name = name
        self.version = version
        self.connect_result = connect_result
        self.inbox = []
        self.sent = []
        self.writable = True
        self.closed = False
        self.fail_recv = None

    def connect(self):
        return self.connect_result

    def recv(self):
        if self.fail_recv:
            raise self.fail_recv
        return self.inbox.pop(0) if self.inbox else None

    def send(self, msg):
        if not self.writable:
            return False
        self.sent.append(msg)
        return True

    def run(self):
        pass

    def wait(self, poller, want_recv, want_send):
        pass

    def close(self):
        self.closed = True


class Opener:
    def __init__(self, **kw):
        self.kw = kw
        self.opened = []  # (time, vconn)
        self.now = 0

    def __call__(self, target):
        v = FakeVconn(target, **self.kw)
        self.opened.append((self.now, v))
        return v


def make(opener, now=0, **kw):
    r = Rconn("br0<->tcp:1.2.3.4:6653", now, opener=opener,
              echo_request=lambda v: ECHO, **kw)
    r.connect("tcp:1.2.3.4:6653", now)
    return r


def step(r, opener, until, tick=100):
    t = opener.now
    while t <= until:
        opener.now = t
        r.run(t)
        while r.recv(t) is not None:
            pass
        t += tick


def test_backoff_doubles_to_max_then_stays():
    opener = Opener(connect_result=errno.ECONNREFUSED)
    r = make(opener, max_backoff_ms=8000)
    step(r, opener, 40_000)
    times = [t for t, _ in opener.opened]
    gaps = [(b - a) / 1000 for a, b in zip(times, times[1:])]
    assert gaps[:5] == [1, 2, 4, 8, 8]
    assert r.state is State.BACKOFF
    assert r.last_error == errno.ECONNREFUSED


def test_backoff_respects_configured_max():
    opener = Opener(connect_result=errno.ECONNREFUSED)
    r = make(opener, max_backoff_ms=2000)
    step(r, opener, 12_000)
    times = [t for t, _ in opener.opened]
    gaps = [(b - a) / 1000 for a, b in zip(times, times[1:])]
    assert gaps[:4] == [1, 2, 2, 2]


def test_connect_timeout_is_at_least_one_second():
    opener = Opener(connect_result=errno.EAGAIN)
    r = make(opener)
    step(r, opener, 900)
    assert r.state is State.CONNECTING
    step(r, opener, 1100)
    assert r.state is State.BACKOFF
    assert r.last_error == errno.ETIMEDOUT


def test_probe_then_disconnect_after_two_silent_intervals():
    opener = Opener()
    r = make(opener, probe_interval_ms=5000)
    step(r, opener, 0)
    assert r.state is State.ACTIVE
    vconn = opener.opened[0][1]
    step(r, opener, 4900)
    assert vconn.sent == []
    step(r, opener, 5200)  # probes fire within one 100 ms tick of the deadline
    assert r.state is State.IDLE
    assert vconn.sent == [ECHO]
    step(r, opener, 9900)
    assert r.state is State.IDLE
    step(r, opener, 10_300)
    assert r.state is State.BACKOFF
    assert r.last_error == errno.ETIMEDOUT and vconn.closed


def test_reply_to_probe_keeps_connection():
    opener = Opener()
    r = make(opener, probe_interval_ms=5000)
    step(r, opener, 5200)
    vconn = opener.opened[0][1]
    assert r.state is State.IDLE
    vconn.inbox.append(hdr(4, 3))  # echo reply
    assert r.recv(5200) is not None
    assert r.state is State.ACTIVE
    step(r, opener, 10_000)
    assert r.state is State.ACTIVE


def test_probe_interval_floor_and_disable():
    opener = Opener()
    r = make(opener)
    r.set_probe_interval(1000)
    assert r.probe_interval_ms == 5000
    r.set_probe_interval(0)
    step(r, opener, 60_000)
    assert r.state is State.ACTIVE


def test_queue_is_discarded_on_disconnect_and_counters_return():
    opener = Opener()
    r = make(opener)
    step(r, opener, 0)
    vconn = opener.opened[0][1]
    vconn.writable = False
    pins = PacketCounter()
    for _ in range(3):
        assert r.send_with_limit(hdr(4, 10), pins, limit=2) or pins.n_packets == 2
    assert pins.n_packets == 2 and r.counters.n_overflow == 1
    vconn.fail_recv = EOFError()
    assert r.recv(100) is None
    assert r.state is State.BACKOFF
    assert pins.n_packets == 0 and pins.n_bytes == 0
    assert r.counters.n_discarded == 2
    assert not r.send(hdr(4, 10))


def test_admission_requires_a_real_request():
    assert not is_admission_msg(hdr(4, 5))    # features request
    assert not is_admission_msg(hdr(4, 2))    # echo
    assert is_admission_msg(hdr(4, 14))       # flow_mod
    assert not is_admission_msg(hdr(4, 18, (12).to_bytes(2, "big") + b"\0" * 6))
    assert is_admission_msg(hdr(4, 18, (1).to_bytes(2, "big") + b"\0" * 6))
    opener = Opener()
    r = make(opener)
    step(r, opener, 0)
    vconn = opener.opened[0][1]
    vconn.inbox.append(hdr(4, 5))
    r.recv(10)
    assert not r.is_admitted()
    vconn.inbox.append(hdr(4, 20))  # barrier
    r.recv(20)
    assert r.is_admitted() and r.failure_duration(30) == 0


def test_unreliable_connection_ends_disconnected():
    r = Rconn("br0<->unix#1", 0, echo_request=lambda v: ECHO)
    vconn = FakeVconn("unix#1")
    r.connect_unreliably(vconn, 0)
    r.run(0)
    assert r.state is State.ACTIVE and r.is_connected()
    vconn.fail_recv = OSError(errno.ECONNRESET, "reset")
    r.recv(10)
    r.run(20)
    assert r.state is State.DISCONNECTED and not r.is_alive()


def test_peer_gone_while_flushing_is_a_disconnect_not_a_crash():
    """The vconn's own buffered output fails to flush (the peer closed: EPIPE): the
    rconn drops the connection and backs off; nothing propagates to its caller."""
    opener = Opener()
    r = make(opener)
    step(r, opener, 0)
    vconn = opener.opened[0][1]

    def broken_pipe():
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")
    vconn.run = broken_pipe
    r.run(100)
    assert r.state is State.BACKOFF and not r.is_connected()
    assert r.last_error == errno.EPIPE and vconn.closed
