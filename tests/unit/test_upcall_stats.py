"""Datapath statistics pushed into OpenFlow rules, and idle megaflows deleted, by the
upcall handler (a bridge on in-memory ports, stepped clock)."""

from pyvswitch.netdev.base import open_netdev
from pyvswitch.ofproto.ofproto import Ofproto
from pyvswitch.ofproto_dpif.ofproto_dpif import OfprotoDpif
from pyvswitch.ofproto_dpif.upcall import STATS_INTERVAL_MS
from pyvswitch.openflow import ofpacts as of
from pyvswitch.openflow.messages import FlowMod
from pyvswitch.packet.fields import Match

FRAME_A = bytes.fromhex("020000000002" "020000000001" "0800") + bytes(46)
FRAME_B = bytes.fromhex("020000000003" "020000000001" "0800") + bytes(46)


def bridge():
    ofproto = Ofproto("br0", 1)
    provider = OfprotoDpif(ofproto)
    ports = {}
    for i in (1, 2, 3):
        ports[i] = open_netdev(f"p{i}", "dummy")
        ofproto.add_port(f"p{i}", ports[i], i)
    # dl_dst decides: each destination MAC gets a megaflow of its own
    ofproto.flows.apply_flow_mod(FlowMod(
        match=Match().set("eth_dst", 0x020000000002),
        instructions=of.Instructions(apply=(of.Output(2),)), table_id=0, priority=10), 0)
    ofproto.flows.apply_flow_mod(FlowMod(
        match=Match(), instructions=of.Instructions(apply=(of.Output(3),)),
        table_id=0, priority=0), 0)
    return ofproto, provider, ports


def send(provider, port, frame, n, now):
    for _ in range(n):
        port.inject(frame)
        provider.run(now)


def packet_counts(ofproto):
    return sorted((r.priority, r.packet_count) for r in ofproto.flows.collect(0xFF, Match()))


def test_cache_hits_reach_the_rules_at_the_next_push():
    ofproto, provider, ports = bridge()
    send(provider, ports[1], FRAME_A, 5, 100)    # 1 upcall, then 4 datapath hits
    send(provider, ports[1], FRAME_B, 3, 100)
    assert ports[2].get_stats().tx_packets == 5 and ports[3].get_stats().tx_packets == 3
    assert packet_counts(ofproto) == [(0, 1), (10, 1)]     # only the upcalls so far
    provider.upcalls.push_stats(200)
    assert packet_counts(ofproto) == [(0, 3), (10, 5)]
    send(provider, ports[1], FRAME_A, 2, 300)    # only A is used after the last push
    provider.upcalls.push_stats(400)
    assert packet_counts(ofproto) == [(0, 3), (10, 7)]


def test_idle_megaflows_are_deleted_with_their_last_hits_credited():
    ofproto, provider, ports = bridge()
    idle = provider.upcalls.max_idle_ms
    send(provider, ports[1], FRAME_A, 2, 1)
    send(provider, ports[1], FRAME_B, 2, 1)
    assert len(provider.upcalls.ukeys) == 2
    t = idle - STATS_INTERVAL_MS
    send(provider, ports[1], FRAME_A, 1, t)      # A stays busy, B goes idle
    provider.upcalls.push_stats(idle + 2)
    assert len(provider.upcalls.ukeys) == 1
    assert len(provider.dpif.flow_dump()) == 1
    assert packet_counts(ofproto) == [(0, 2), (10, 3)]
    provider.upcalls.push_stats(t + idle + 1)
    assert provider.upcalls.ukeys == {} and provider.dpif.flow_dump() == []
    assert provider.upcalls.n_flows_evicted == 2
