"""Queue statistics, queue configuration and table descriptions vs os-ken and ovs-ofctl."""

from __future__ import annotations

import pytest

from oracles import VERSIONS, ofp_print, osken, osken_bytes, osken_parse
from pyvswitch.openflow import codec
from pyvswitch.openflow.ofpacts import OFPP_ANY
from pyvswitch.openflow.wire_queue import (OFPQ_ALL, QueueConfig, QueueGetConfigReply,
                                           QueueGetConfigRequest, QueueStats, QueueStatsReply,
                                           QueueStatsRequest, TableDesc, TableDescReply,
                                           TableDescRequest)


@pytest.mark.parametrize("version", VERSIONS)
def test_queue_stats(version):
    dp, ofp, parser = osken(version)
    any_port = 0xFFFC if version == 1 else ofp.OFPP_ANY
    req = codec.decode(osken_bytes(parser.OFPQueueStatsRequest(dp, 0, any_port, OFPQ_ALL)))
    assert req.queue_id == OFPQ_ALL
    reply = QueueStatsReply((QueueStats(2, 1, 1000, 10, 0, 5, 0),))
    raw = codec.encode(reply, version, 1)
    text = ofp_print(raw)
    assert "port 2 queue 1: bytes=1000, pkts=10, errors=0" in text
    body = osken_parse(raw).body
    assert (body[0].port_no, body[0].queue_id, body[0].tx_bytes) == (2, 1, 1000)
    back = codec.decode(raw).stats[0]
    assert (back.tx_packets, back.duration_sec) == (10, 0 if version == 1 else 5)


@pytest.mark.parametrize("version", VERSIONS)
def test_queue_config(version):
    dp, ofp, parser = osken(version)
    if version in (1, 4):
        req = parser.OFPQueueGetConfigRequest(dp, 2)
        assert codec.decode(osken_bytes(req)) == QueueGetConfigRequest(2)
    else:
        req = parser.OFPQueueDescStatsRequest(dp, 0, 2, OFPQ_ALL)
        assert codec.decode(osken_bytes(req)) == QueueGetConfigRequest(2, OFPQ_ALL)
    reply = QueueGetConfigReply(2, (QueueConfig(1, 2, min_rate=100, max_rate=500),
                                    QueueConfig(7, 2)))
    raw = codec.encode(reply, version, 1)
    text = ofp_print(raw)
    assert "queue 1:" in text and "min_rate:10.0%" in text and "max_rate:50.0%" in text
    assert "queue 7:" in text
    assert codec.decode(raw).queues == reply.queues


@pytest.mark.parametrize("version", (5, 6))
def test_table_desc(version):
    dp, ofp, parser = osken(version)
    assert codec.decode(osken_bytes(parser.OFPTableDescStatsRequest(dp, 0))) == \
        TableDescRequest()
    reply = TableDescReply((TableDesc(0, 0), TableDesc(1, 0)))
    raw = codec.encode(reply, version, 1)
    text = ofp_print(raw)
    assert "table 0:" in text and "table 1:" in text
    assert [t.table_id for t in osken_parse(raw).body] == [0, 1]
    assert codec.decode(raw) == reply


def test_of10_queue_request_for_all_ports_maps_to_32_bits():
    raw = codec.encode(QueueStatsRequest(), 1, 1)
    assert codec.decode(raw) == QueueStatsRequest(OFPP_ANY, OFPQ_ALL)
