"""FLOW_MOD and flow/aggregate/table statistics through ``Ofproto.handle_openflow``: wire
bytes in, decoded replies out, errors as the OFPT_ERROR Open vSwitch sends."""

from __future__ import annotations

import pytest

from pyvswitch.ofproto.flow_handlers import flow_stats
from pyvswitch.ofproto.ofproto import Ofproto
from pyvswitch.openflow import codec
from pyvswitch.openflow import messages as m
from pyvswitch.openflow import messages_stats as ms
from pyvswitch.openflow.ofpacts import Instructions, Output, SetField
from pyvswitch.openflow.wire_table_features import TableFeaturesReply, TableFeaturesRequest
from pyvswitch.packet import fields as F
from pyvswitch.packet.fields import Match

from fake_session import FakeOfConn


@pytest.fixture
def ofp():
    return Ofproto("br0", 1)


def send(ofp, conn, msg, xid=7, now=1000.0):
    ofp.handle_openflow(conn, codec.encode(msg, conn.version, xid), now)
    return conn.replies()


def add(match, port=2, **kw):
    kw.setdefault("table_id", 0)
    return m.FlowMod(match, Instructions(apply=(Output(port),)), **kw)


@pytest.mark.parametrize("version", [0x01, 0x04, 0x05, 0x06])
def test_flow_mod_then_flow_stats_in_every_version(ofp, version):
    conn = FakeOfConn(version)
    match = Match().set("in_port", 1).set("eth_type", 0x0800).set("ip_dst", 0x0A000000,
                                                                   0xFF000000)
    assert send(ofp, conn, add(match, cookie=0x42, idle_timeout=30, priority=99), now=0) == []
    rule = next(ofp.flows.rules())
    rule.add_stats(3, 180, 500)
    (reply,) = send(ofp, conn, ms.FlowStatsRequest(Match()), now=2500)
    assert isinstance(reply, ms.FlowStatsReply)
    (fs,) = reply.flows
    assert fs.match == match and fs.priority == 99 and fs.idle_timeout == 30
    assert (fs.packet_count, fs.byte_count) == (3, 180)
    assert (fs.duration_sec, fs.duration_nsec) == (2, 500_000_000)
    assert fs.instructions.apply == (Output(2),)
    if version != 0x01:
        assert fs.cookie == 0x42
    (agg,) = send(ofp, conn, ms.AggregateStatsRequest(Match()), now=2500)
    assert (agg.flow_count, agg.packet_count, agg.byte_count) == (1, 3, 180)


@pytest.mark.parametrize("version", [0x01, 0x04, 0x05, 0x06])
def test_barrier_reply_after_the_flow_mod_it_follows(ofp, version):
    conn = FakeOfConn(version)
    fm = codec.encode(add(Match().set("in_port", 1)), version, 5)
    barrier = codec.encode(m.BarrierRequest(), version, 0x01020304)
    ofp.handle_openflow(conn, fm, 1000.0)
    ofp.handle_openflow(conn, barrier, 1000.0)
    assert conn.rconn.sent == [codec.encode(m.BarrierReply(), version, 0x01020304)]
    assert len(list(ofp.flows.rules())) == 1
    # A barrier request with a body is malformed: the generic path answers it.
    ofp.handle_openflow(conn, barrier[:2] + b"\x00\x0c" + barrier[4:] + b"\0" * 4, 1000.0)
    (err,) = conn.replies()[1:]
    assert isinstance(err, m.ErrorMsg)


def test_repeated_dumps_in_other_versions_read_the_same_flow(ofp):
    """A rule keeps its encoded match/instructions between dumps; a session of another
    version (or the Nicira form) still gets its own encoding, and the counters and
    durations of every dump are current."""
    match = Match().set("eth_type", 0x0800).set("ip_proto", 6).set("tcp_dst", 80)
    send(ofp, FakeOfConn(0x04), add(match, priority=7), now=0)
    rule = next(ofp.flows.rules())
    for n, version in enumerate([0x04, 0x04, 0x06, 0x01, 0x04, 0x05]):
        rule.add_stats(1, 60, n)
        (reply,) = send(ofp, FakeOfConn(version), ms.FlowStatsRequest(Match()), now=1000 * n)
        (fs,) = reply.flows
        assert fs.match == match and fs.priority == 7, version
        assert fs.instructions.apply == (Output(2),)
        assert fs.packet_count == n + 1 and fs.duration_sec == n
    assert rule.wire is not None


def test_flow_stats_filters(ofp):
    conn = FakeOfConn(0x04)
    send(ofp, conn, add(Match().set("in_port", 1), port=2, cookie=1))
    send(ofp, conn, add(Match().set("in_port", 2), port=3, cookie=2, table_id=5))
    # A hidden rule (in-band style, priority > 65535) cannot come from the wire.
    ofp.flows.apply_flow_mod(add(Match().set("in_port", 3), port=3, priority=180000), 0)

    def ports(**kw):
        (reply,) = send(ofp, conn, ms.FlowStatsRequest(Match(), **kw))
        return sorted(fs.match.get("in_port")[0] for fs in reply.flows)
    assert ports() == [1, 2]                          # hidden rule never reported
    assert ports(table_id=5) == [2]
    assert ports(out_port=3) == [2]
    assert ports(cookie=1, cookie_mask=0xFF) == [1]
    (tables,) = send(ofp, conn, ms.TableStatsRequest())
    counts = {t.table_id: t.active_count for t in tables.tables}
    assert len(counts) == 254 and counts[0] == 1 and counts[5] == 1


def test_flow_mod_errors_are_ofpt_error_and_change_nothing(ofp):
    conn = FakeOfConn(0x04)
    send(ofp, conn, add(Match().set("in_port", 1)))
    bad = [
        (m.FlowMod(Match(), Instructions(apply=(SetField(F.field("tcp_dst"), 80),)),
                   table_id=0), "OFPBAC_MATCH_INCONSISTENT", (2, 10)),
        (add(Match(), table_id=254), "OFPBRC_EPERM", (1, 5)),
        (add(Match(), table_id=0xFF), "OFPFMFC_BAD_TABLE_ID", (5, 2)),
        (m.FlowMod(Match(), Instructions(goto_table=1), table_id=2),
         "OFPBIC_BAD_TABLE_ID", (3, 2)),
    ]
    for msg, name, (etype, ecode) in bad:
        (err,) = send(ofp, conn, msg, xid=99)
        assert isinstance(err, m.ErrorMsg) and err.name == name
        assert (err.type, err.code) == (etype, ecode)
    assert [r.match.get("in_port")[0] for r in ofp.flows.rules()] == [1]


def test_slave_may_not_send_flow_mod(ofp):
    conn = FakeOfConn(0x04, role=m.ROLE_SLAVE)
    (err,) = send(ofp, conn, add(Match().set("in_port", 1)))
    assert err.name == "OFPBRC_IS_SLAVE"
    assert ofp.flows.n_flows() == 0
    # ... but may read statistics.
    (reply,) = send(ofp, conn, ms.FlowStatsRequest(Match()))
    assert reply.flows == ()


def test_flow_removed_reaches_a_session_with_its_version(ofp):
    conn = FakeOfConn(0x04)
    ofp.connmgr.all_ofconns = lambda: [conn]
    conn.receives_async = lambda kind, reason: kind == "flow_removed"
    send(ofp, conn, add(Match().set("in_port", 1), hard_timeout=1,
                        flags=m.OFPFF_SEND_FLOW_REM), now=0)
    ofp.flows.run(1500)
    (fr,) = conn.replies()
    assert isinstance(fr, m.FlowRemoved) and fr.reason == m.OFPRR_HARD_TIMEOUT
    assert fr.match == Match().set("in_port", 1) and fr.duration_sec == 1


def test_table_features_query_lists_the_visible_tables(ofp):
    conn = FakeOfConn(0x04)
    ofp.flows.configure_table(3, 0, name="acl", max_flows=10)
    replies = send(ofp, conn, TableFeaturesRequest())
    tables = [t for r in replies if isinstance(r, TableFeaturesReply) for t in r.tables]
    assert [t.table_id for t in tables] == list(range(254))
    assert tables[3].name == "acl" and tables[3].max_entries == 10
    assert tables[0].max_entries == 1_000_000


def test_table_mod_turns_eviction_on_in_of14(ofp):
    conn = FakeOfConn(0x05)
    ofp.flows.configure_table(0, 0, max_flows=1)
    send(ofp, conn, add(Match().set("in_port", 1), hard_timeout=9))
    (err,) = send(ofp, conn, add(Match().set("in_port", 2)))
    assert err.name == "OFPFMFC_TABLE_FULL"
    assert send(ofp, conn, m.TableMod(0, 1 << 2)) == []
    assert send(ofp, conn, add(Match().set("in_port", 2))) == []
    assert [r.match.get("in_port")[0] for r in ofp.flows.rules()] == [2]
    (err,) = send(ofp, conn, m.TableMod(254, 0))
    assert err.name == "OFPTMFC_EPERM"
    bad_flags = (2).to_bytes(2, "big") + (8).to_bytes(2, "big") + (1).to_bytes(4, "big")
    (err,) = send(ofp, conn, m.TableMod(0, 1 << 2, bad_flags))
    assert err.name == "OFPTMFC_BAD_CONFIG"


def test_big_dump_streams_while_the_peer_reads_and_later_requests_wait():
    """A flow-stats reply of many messages goes out as the socket takes it: the first
    parts are sent before the rest is encoded, a barrier sent meanwhile is answered only
    after the last part, and the parts are exactly the whole reply's messages."""
    from pyvswitch.conn.rconn import Rconn
    from pyvswitch.ofproto.ofconn import STREAM_TXQ, ConnType, OfConn
    from pyvswitch.openflow import framing
    from test_rconn import FakeVconn
    ofp = Ofproto("br0", 1)
    for n in range(3000):
        ofp.flows.apply_flow_mod(add(Match().set("eth_type", 0x0800).set("ip_dst", n)),
                                 0.0, None, version=4)
    rconn = Rconn("br0<->t", 0, echo_request=lambda v: b"")
    vconn = FakeVconn("t", version=4)
    rconn.connect_unreliably(vconn, 0)
    rconn.run(0)
    conn = OfConn(rconn, ConnType.PRIMARY)
    vconn.writable = False                       # the peer is not reading yet
    vconn.inbox = [codec.encode(ms.FlowStatsRequest(Match()), 4, 77),
                   codec.encode(m.BarrierRequest(), 4, 78)]
    conn.run(1000.0, ofp.handle_openflow)
    assert conn.streaming and len(rconn.txq) == STREAM_TXQ
    assert all(msg[1] == 19 for msg, _ in rconn.txq)      # the barrier waits
    parts = []
    for _ in range(100):
        vconn.writable = True
        conn.run(1000.0, ofp.handle_openflow)
        parts += vconn.sent
        vconn.sent = []
        if not conn.streaming and not vconn.inbox and not rconn.txq:
            break
    replies = [codec.decode(p) for p in parts]
    assert isinstance(replies[-1], m.BarrierReply)
    whole = codec.encode_all(ms.FlowStatsReply(tuple(
        flow_stats(ofp.flows, ms.FlowStatsRequest(Match()), 1000.0))), 4, 77)
    assert parts[:-1] == whole and len(whole) > STREAM_TXQ
    assert sum(len(r.flows) for r in replies[:-1]) == 3000
