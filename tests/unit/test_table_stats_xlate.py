"""Table lookup/match counters move for packets only: not when revalidation re-translates
a cached flow, not for ofproto/trace (the os-ken tool's table-miss check reads them)."""

from pyvswitch.netdev.base import open_netdev
from pyvswitch.ofproto.ofproto import Ofproto
from pyvswitch.ofproto_dpif.ofproto_dpif import OfprotoDpif
from pyvswitch.ofproto_dpif.xlate import translate
from pyvswitch.openflow.messages import FlowMod
from pyvswitch.openflow.ofpacts import Instructions, Output
from pyvswitch.packet.compose import compose
from pyvswitch.packet.fields import Match

from tests.unit.test_xlate import ip_flow


def bridge():
    ofproto = Ofproto("br0", 1)
    provider = OfprotoDpif(ofproto)
    ports = {}
    for i in (1, 2):
        ports[i] = open_netdev(f"p{i}", "dummy")
        ofproto.add_port(f"p{i}", ports[i], i)
    ofproto.flows.apply_flow_mod(FlowMod(Match().set("in_port", 1),
                                         Instructions(apply=(Output(2),)), table_id=0), 0)
    return ofproto, provider, ports


def counters(ofproto, table_id=0):
    t = ofproto.flows.tables[table_id]
    return t.n_lookups, t.n_matched


def test_a_packet_counts_a_lookup_and_a_match_revalidation_and_trace_do_not():
    ofproto, provider, ports = bridge()
    ports[1].inject(compose(ip_flow(1), payload_len=20))
    provider.run(0)
    assert len(ports[2].captured) == 1
    assert counters(ofproto) == (1, 1)
    provider.tables_changed()
    provider.run(10)                                   # re-translates the cached flow
    assert provider.upcalls.n_revalidations >= 1
    assert counters(ofproto) == (1, 1)
    provider.may_learn = False                         # as ofproto/trace translates
    try:
        translate(provider, ip_flow(1), 20, trace=True)
    finally:
        provider.may_learn = True
    assert counters(ofproto) == (1, 1)
    ports[2].inject(compose(ip_flow(2), payload_len=20))    # misses table 0
    provider.run(30)
    assert counters(ofproto) == (2, 1)


def test_packets_the_datapath_cache_answers_count_as_lookups_at_the_next_push():
    """As OVS's xlate cache credits tables: a miss and a match cached in the datapath
    still count for every packet (the os-ken tool's table-miss cases send repeats)."""
    ofproto, provider, ports = bridge()
    for _ in range(3):
        ports[1].inject(compose(ip_flow(1), payload_len=20))     # matches
        provider.run(0)
        ports[2].inject(compose(ip_flow(2), payload_len=20))     # misses
        provider.run(0)
    assert counters(ofproto) == (2, 1)                  # the two upcalls only, so far
    provider.upcalls.push_stats(600)
    assert counters(ofproto) == (6, 3)
    provider.upcalls.push_stats(1200)                   # nothing new: no change
    assert counters(ofproto) == (6, 3)
