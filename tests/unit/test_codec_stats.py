"""Flow, aggregate, table and port statistics against os-ken and ovs-ofctl."""

from __future__ import annotations

import pytest

from oracles import VERSIONS, ofp_print, osken, osken_bytes, osken_parse
from pyvswitch.openflow import codec
from pyvswitch.openflow import messages as m
from pyvswitch.openflow.framing import MAX_MESSAGE, parse_header
from pyvswitch.openflow.messages_stats import (
    AggregateStatsReply, AggregateStatsRequest, FlowStats, FlowStatsReply, FlowStatsRequest,
    PortStats, PortStatsReply, PortStatsRequest, TableStats, TableStatsReply,
    TableStatsRequest)
from pyvswitch.openflow.ofpacts import OFPP_ANY, Output
from pyvswitch.packet.fields import Match

ARP_IN1 = Match().set("in_port", 1).set("eth_type", 0x0806)


def _flow(version, **kw):
    inst = m.Instructions(apply=(Output(2),)) if version == 1 else \
        m.Instructions(apply=(Output(2),), goto_table=4)
    base = dict(table_id=0 if version == 1 else 3, duration_sec=7, duration_nsec=0,
                priority=200, idle_timeout=60, cookie=0x99, packet_count=5, byte_count=300)
    base.update(kw)
    return FlowStats(ARP_IN1, inst, **base)


@pytest.mark.parametrize("version", VERSIONS)
def test_flow_stats_request_from_osken(version):
    dp, ofp, parser = osken(version)
    if version == 1:
        match = parser.OFPMatch(in_port=1, dl_type=0x0806)
        req = parser.OFPFlowStatsRequest(dp, 0, match, 0xFF, 0xFFFF)
    else:
        match = parser.OFPMatch(in_port=1, eth_type=0x0806)
        # OF1.5 renamed the flow request FLOW_DESC (type 1), the one OVS answers.
        cls = parser.OFPFlowDescStatsRequest if version == 6 else parser.OFPFlowStatsRequest
        req = cls(dp, 0, 3, ofp.OFPP_ANY, ofp.OFPG_ANY, 0x9, 0xF, match)
    got = codec.decode(osken_bytes(req))
    assert isinstance(got, FlowStatsRequest)
    assert got.match.get("in_port")[0] == 1 and got.match.get("eth_type")[0] == 0x0806
    assert got.out_port == OFPP_ANY
    if version > 1:
        assert (got.table_id, got.cookie, got.cookie_mask) == (3, 9, 0xF)


@pytest.mark.parametrize("version", VERSIONS)
def test_aggregate_request_from_osken(version):
    dp, ofp, parser = osken(version)
    if version == 1:
        req = parser.OFPAggregateStatsRequest(dp, 0, parser.OFPMatch(), 0xFF, 0xFFFF)
    else:
        req = parser.OFPAggregateStatsRequest(dp, 0, 0xFF, ofp.OFPP_ANY, ofp.OFPG_ANY, 0, 0,
                                              parser.OFPMatch())
    got = codec.decode(osken_bytes(req))
    assert got == AggregateStatsRequest(Match())


@pytest.mark.parametrize("version", VERSIONS)
def test_flow_stats_reply_prints_like_dump_flows(version):
    raw = codec.encode(FlowStatsReply((_flow(version),)), version, 5)
    text = ofp_print(raw)
    assert "cookie=0x99" in text and "duration=7" in text
    assert "n_packets=5" in text and "n_bytes=300" in text
    assert "idle_timeout=60" in text and "priority=200,arp,in_port=1" in text
    if version == 1:
        assert "actions=output:2" in text
    else:
        assert "table=3" in text and "actions=output:2,goto_table:4" in text
    assert codec.decode(raw).flows == (_flow(version),)
    if version < 6:     # os-ken's OF1.5 flow-desc parser predates the final layout
        body = osken_parse(raw).body
        assert (body[0].cookie, body[0].packet_count, body[0].byte_count) == (0x99, 5, 300)


def test_nxst_flow_request_and_reply_for_of10_nxm_sessions():
    match = Match().set("reg1", 7).set("in_port", 2)
    req = FlowStatsRequest(match, nxm=True)
    raw = codec.encode(req, 1, 1)
    assert "NXST_FLOW request" in ofp_print(raw) and "reg1=0x7" in ofp_print(raw)
    assert codec.decode(raw) == req
    flow = FlowStats(match, m.Instructions(apply=(Output(3),)), priority=9, idle_age=4,
                     packet_count=1)
    reply = codec.encode(FlowStatsReply((flow,), nxm=True), 1, 1)
    text = ofp_print(reply)
    assert "NXST_FLOW reply" in text and "idle_age=4" in text
    assert "priority=9,reg1=0x7,in_port=2 actions=output:3" in text
    assert codec.decode(reply).flows == (flow,)


def test_nxst_aggregate():
    raw = codec.encode(AggregateStatsRequest(Match().set("reg0", 1), nxm=True), 1, 1)
    assert "NXST_AGGREGATE request" in ofp_print(raw)
    reply = codec.encode(AggregateStatsReply(10, 1000, 2, nxm=True), 1, 1)
    text = ofp_print(reply)
    assert "NXST_AGGREGATE reply" in text and "packet_count=10" in text
    assert "flow_count=2" in text
    assert codec.decode(reply) == AggregateStatsReply(10, 1000, 2, nxm=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_aggregate_reply(version):
    raw = codec.encode(AggregateStatsReply(10, 1000, 2), version, 1)
    text = ofp_print(raw)
    assert "packet_count=10 byte_count=1000 flow_count=2" in text
    assert codec.decode(raw) == AggregateStatsReply(10, 1000, 2)
    if version < 6:
        body = osken_parse(raw).body
        body = body[0] if isinstance(body, list) else body
        assert (body.packet_count, body.byte_count, body.flow_count) == (10, 1000, 2)


@pytest.mark.parametrize("version", (1, 4, 6))
def test_long_flow_stats_replies_split_with_the_more_flag(version):
    flows = tuple(_flow(version, cookie=i) for i in range(1200))
    parts = codec.encode_all(FlowStatsReply(flows), version, 4)
    assert len(parts) > 1
    got = []
    for i, raw in enumerate(parts):
        assert parse_header(raw).length == len(raw) <= MAX_MESSAGE
        reply = codec.decode(raw)
        assert reply.more == (i < len(parts) - 1)
        got += reply.flows
    assert [f.cookie for f in got] == list(range(1200))


@pytest.mark.parametrize("version", VERSIONS)
def test_table_stats(version):
    dp, ofp, parser = osken(version)
    assert codec.decode(osken_bytes(parser.OFPTableStatsRequest(dp, 0))) == TableStatsRequest()
    tables = (TableStats(0, 4, 100, 60, "classifier"), TableStats(1, 0, 40, 0, "t1"))
    raw = codec.encode(TableStatsReply(tables), version, 2)
    text = ofp_print(raw)
    assert "active=4, lookup=100, matched=60" in text.replace("\n", " ") or \
        ("active=4" in text and "lookup=100" in text and "matched=60" in text)
    body = osken_parse(raw).body
    assert [(t.table_id, t.active_count, t.lookup_count) for t in body][:2] == \
        [(0, 4, 100), (1, 0, 40)]
    back = codec.decode(raw).tables
    assert [(t.table_id, t.active_count, t.matched_count) for t in back] == [(0, 4, 60),
                                                                          (1, 0, 0)]


@pytest.mark.parametrize("version", VERSIONS)
def test_port_stats(version):
    dp, ofp, parser = osken(version)
    any_port = 0xFFFF if version == 1 else ofp.OFPP_ANY
    req = codec.decode(osken_bytes(parser.OFPPortStatsRequest(dp, 0, any_port)))
    assert req == PortStatsRequest(OFPP_ANY)
    stats = PortStats(3, 10, 20, 1000, 2000, 1, 2, 3, 4, 5, 6, 7, 8, duration_sec=9)
    raw = codec.encode(PortStatsReply((stats,)), version, 2)
    text = ofp_print(raw)
    assert "port  3: rx pkts=10, bytes=1000, drop=1, errs=3, frame=5, over=6, crc=7" in text
    assert "tx pkts=20, bytes=2000, drop=2, errs=4, coll=8" in text
    body = osken_parse(raw).body
    assert (body[0].port_no, body[0].rx_packets, body[0].tx_bytes) == (3, 10, 2000)
    back = codec.decode(raw).stats[0]
    assert back.rx_crc_err == 7 and back.collisions == 8
    assert back.duration_sec == (0 if version == 1 else 9)
