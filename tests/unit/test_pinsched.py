"""pinsched and its token bucket, driven by a stepped fake clock (no sockets, no sleeps)."""

import random

import pytest
from hypothesis import given, settings, strategies as st

from pyvswitch.conn.pinsched import MAX_RELEASE_PER_RUN, PinSched, adjust_limits
from pyvswitch.util.token_bucket import TokenBucket


def simulate(sched, offers, seconds, step_ms=1, start=0):
    """Offer packets every ``step_ms`` (``offers``: port -> packets per second), run the
    scheduler after every step; returns (delivered per second per port, offered per port)."""
    delivered = [dict.fromkeys(offers, 0) for _ in range(seconds)]
    offered = dict.fromkeys(offers, 0)
    credit = dict.fromkeys(offers, 0.0)
    seq = 0
    for t in range(start, start + seconds * 1000, step_ms):
        sec = (t - start) // 1000
        out = []
        for port, pps in offers.items():
            credit[port] += pps * step_ms / 1000
            while credit[port] >= 1:
                credit[port] -= 1
                offered[port] += 1
                seq += 1
                out += sched.send(port, (port, seq), t)
        out += sched.run(t)
        for port, _ in out:
            delivered[sec][port] += 1
    return delivered, offered


def test_token_bucket_starts_full_and_refills_at_rate():
    tb = TokenBucket(rate=2, burst=10)
    assert tb.withdraw(10, 0)
    assert not tb.withdraw(1, 0)
    assert tb.deadline(4, 0) == 2
    assert not tb.withdraw(4, 1)
    assert tb.withdraw(4, 2)
    tb.refill(1000)
    assert tb.tokens == 10                      # capped at burst
    tb.set(2, 5)
    assert tb.tokens == 5


def test_defaults_as_ovs():
    assert adjust_limits(None, None) == (1000, 250)
    assert adjust_limits(100, None) == (100, 25)
    assert adjust_limits(2, None) == (2, 1)
    assert adjust_limits(100, 30) == (100, 30)


def test_rate_100_burst_25_against_10000_pps():
    sched = PinSched(100, 25, rng=random.Random(1))
    delivered, offered = simulate(sched, {1: 10_000}, seconds=10)
    per_sec = [d[1] for d in delivered]
    assert 100 + 25 - 2 <= per_sec[0] <= 100 + 25 + 2      # the burst, then the rate
    for n in per_sec[1:]:
        assert 98 <= n <= 102
    total = sum(per_sec)
    assert sched.n_queued == 25                              # the queue is full
    assert sched.n_queue_dropped == offered[1] - total - sched.n_queued
    st = sched.stats()
    assert st["bypassed"] + st["queued"] == offered[1]
    assert st["backlog"] == sched.n_queued


def test_quiet_port_gets_every_packet_through_a_flood():
    sched = PinSched(100, 25, rng=random.Random(2))
    delivered, offered = simulate(sched, {"A": 10_000, "B": 10}, seconds=10)
    got_b = sum(d["B"] for d in delivered)
    # Every B packet offered got out, except at most the one still queued at the end.
    assert got_b >= offered["B"] - len(sched.queues.get("B", ()))
    assert offered["B"] == 100
    got_a = sum(d["A"] for d in delivered)
    assert sum(d["A"] + d["B"] for d in delivered[1:]) <= 9 * 102
    assert got_a > 0
    assert (sched.n_queue_dropped
            == sum(offered.values()) - got_a - got_b - sched.n_queued)


def test_two_busy_ports_share_the_rate_evenly():
    sched = PinSched(100, 25, rng=random.Random(3))
    delivered, _ = simulate(sched, {1: 5000, 2: 5000}, seconds=5)
    a = sum(d[1] for d in delivered[1:])
    b = sum(d[2] for d in delivered[1:])
    assert abs(a - b) <= 4


def test_at_most_50_released_per_run():
    sched = PinSched(1000, 500)
    for i in range(600):                        # 500 pass at once (the burst), rest queued
        sched.send(i % 7, i, 0)
    assert sched.n_normal == 500 and sched.n_queued == 100
    released = sched.run(10_000)                 # plenty of tokens by now
    assert len(released) == MAX_RELEASE_PER_RUN
    assert sched.n_queued == 50
    assert len(sched.run(10_000)) == 50
    assert sched.run(10_000) == [] and sched.next_wakeup(10_000) is None


def test_round_robin_order_and_wakeup():
    sched = PinSched(100, 25)
    for i in range(25):                          # use up the burst
        assert sched.send("x", i, 0) == [i]
    for i in range(3):
        sched.send("a", f"a{i}", 0)
        sched.send("b", f"b{i}", 0)
    assert sched.next_wakeup(0) == 10            # 1000 tokens at 100 tokens/ms
    assert sched.run(5) == []
    out = []
    for t in range(10, 70, 10):
        out += sched.run(t)
    assert out == ["a0", "b0", "a1", "b1", "a2", "b2"]


def test_drop_takes_head_of_longest_queue():
    sched = PinSched(100, 25)
    for i in range(25):
        sched.send("x", i, 0)
    for i in range(20):
        sched.send("long", i, 0)
    for i in range(5):
        sched.send("short", i, 0)
    sched.send("short", 5, 0)                   # full: the oldest "long" packet goes
    assert sched.n_queue_dropped == 1
    assert sched.queues["long"][0] == 1
    assert len(sched.queues["short"]) == 6


def test_set_limits_trims_the_backlog():
    sched = PinSched(100, 25)
    for i in range(50):
        sched.send(i % 3, i, 0)
    assert sched.n_queued == 25
    sched.set_limits(100, 10)
    assert sched.n_queued == 10 and sched.n_queue_dropped == 15
    assert sched.bucket.tokens <= 10 * 1000


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 30)), max_size=300),
       st.integers(100, 400), st.integers(1, 60))
def test_conservation(offers, rate, burst):
    """Every packet offered is delivered, dropped or still queued; the queue stays bounded."""
    sched = PinSched(rate, burst, rng=random.Random(0))
    now = 0
    delivered = 0
    for port, gap in offers:
        now += gap
        delivered += len(sched.send(port, object(), now))
        delivered += len(sched.run(now))
        assert sched.n_queued <= sched.burst_limit
        assert sched.n_queued == sum(len(q) for q in sched.queues.values())
    assert len(offers) == delivered + sched.n_queue_dropped + sched.n_queued


# --- the session end of the path: ofconn schedulers and packet_in.dispatch ---------------

from pyvswitch.conn.rconn import Rconn                         # noqa: E402
from pyvswitch.ofproto import packet_in                        # noqa: E402
from pyvswitch.ofproto.ofconn import ConnType, OfConn          # noqa: E402
from pyvswitch.ofproto_dpif.xlate import PacketInCookie        # noqa: E402
from pyvswitch.openflow import codec                           # noqa: E402
from pyvswitch.openflow import messages as m                   # noqa: E402

FRAME = bytes(range(256)) * 2


class FakeVconn:
    def __init__(self, version):
        self.name, self.version = "fake", version
        self.sent, self.writable, self.closed = [], True, False

    def connect(self):
        return 0

    def recv(self):
        return None

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


class FakeConnMgr:
    def __init__(self, *ofconns):
        self.ofconns = list(ofconns)
        self.n_async_unsent = 0

    def all_ofconns(self):
        return self.ofconns


def session(version=4, **kw):
    vconn = FakeVconn(version)
    rconn = Rconn("br0<->fake", 0, echo_request=lambda v: b"")
    rconn.connect_unreliably(vconn, 0)
    rconn.run(0)
    assert rconn.is_connected()
    return OfConn(rconn, ConnType.PRIMARY, **kw), vconn


def pin(reason=0, max_len=0xFFFF, controller_id=0, in_port=1):
    return PacketInCookie(reason=reason, table_id=0, cookie=0, max_len=max_len,
                          controller_id=controller_id, pipeline=(), in_port=in_port)


def decoded(vconn):
    return [codec.decode(raw) for raw in vconn.sent]


def test_rate_limited_session_schedules_by_reason():
    ofconn, vconn = session(rate_limit=100, burst_limit=25)
    mgr = FakeConnMgr(ofconn)
    for i in range(40):
        packet_in.dispatch(mgr, pin(reason=0), FRAME, 0)          # table miss
        packet_in.dispatch(mgr, pin(reason=1), FRAME, 0)          # controller action
    assert len(vconn.sent) == 50                                  # one burst per scheduler
    stats = packet_in.controller_stats(ofconn)
    assert stats["packet-in-miss-bypassed"] == 25
    assert stats["packet-in-action-bypassed"] == 25
    assert stats["packet-in-miss-backlog"] == 15 and stats["packet-in-action-queued"] == 15
    ofconn.run(100, lambda *a: None)                              # 10 tokens each
    assert len(vconn.sent) == 70
    ofconn.close()                                                # the session ended
    assert ofconn.packet_in_backlog() == 0


def test_miss_send_len_buffer_id_and_formats():
    of10, v10 = session(version=1)
    of13, v13 = session(version=4)
    mgr = FakeConnMgr(of10, of13)
    packet_in.dispatch(mgr, pin(reason=7), FRAME, 0)              # implicit miss: OF1.0 only
    (msg,) = decoded(v10)
    assert len(msg.data) == 128 and msg.total_len == len(FRAME)
    assert msg.buffer_id == m.NO_BUFFER and msg.reason == m.OFPR_NO_MATCH
    assert v13.sent == []
    packet_in.dispatch(mgr, pin(reason=1, max_len=64), FRAME, 0)
    assert len(decoded(v13)[0].data) == 64
    of10.packet_in_format = m.NXPIF_NXT_PACKET_IN
    packet_in.dispatch(mgr, pin(reason=1), FRAME, 0)
    raw = v10.sent[-1]
    assert raw[1] == 4 and int.from_bytes(raw[12:16], "big") == 17  # NXT_PACKET_IN


def test_controller_id_role_and_unsent():
    ofconn, vconn = session()
    mgr = FakeConnMgr(ofconn)
    assert packet_in.dispatch(mgr, pin(reason=1, controller_id=5), FRAME, 0) == 0
    ofconn.controller_id = 5
    assert packet_in.dispatch(mgr, pin(reason=1, controller_id=5), FRAME, 0) == 1
    ofconn.role = m.ROLE_SLAVE
    assert packet_in.dispatch(mgr, pin(reason=1, controller_id=5), FRAME, 0) == 0
    assert mgr.n_async_unsent == 2


def test_transmit_queue_cap_without_rate_limit():
    ofconn, vconn = session(queue_limit=100)
    vconn.writable = False                                        # a slow controller
    mgr = FakeConnMgr(ofconn)
    for _ in range(1000):
        packet_in.dispatch(mgr, pin(reason=1), FRAME, 0)
    assert len(ofconn.rconn.txq) == 100
    assert ofconn.n_async_dropped == 900
    vconn.writable = True
    ofconn.run(1, lambda *a: None)
    assert len(vconn.sent) == 100 and ofconn.packet_in_counter.n_packets == 0


def test_gathering_queue_is_bounded():
    q = packet_in.PacketInQueue()
    for i in range(1100):
        q.put(pin(), b"x")
    assert len(q) == 1024 and q.n_overflow == 76
    assert len(q.drain()) == 1024 and len(q) == 0
