"""pop_mpls then a look at the inner headers: translation freezes, the datapath
recirculates the popped packet, and the next tables see its IPv4/L4 fields."""

from pyvswitch.datapath import actions as dp
from pyvswitch.ofproto_dpif.recirc import GRACE_MS, RecircTable
from pyvswitch.ofproto_dpif.xlate import translate
from pyvswitch.openflow import ofpacts as of
from pyvswitch.packet import edit
from pyvswitch.packet import fields as F
from pyvswitch.packet.compose import compose
from pyvswitch.packet.extract import extract
from pyvswitch.packet.fields import Match, Slot

from tests.unit.test_xlate import apply, ip_flow, make_bridge

MPLS_LSE = (100 << 12) | (3 << 9) | 0x100 | 64      # label 100, TC 3, bottom, TTL 64


def mpls_frame(**kw) -> bytes:
    return edit.push_mpls(compose(ip_flow(1, **kw), payload_len=20), 0x8847, MPLS_LSE)


def mpls_flow(in_port=1) -> tuple:
    return extract(mpls_frame(), in_port)


def pop_then_goto(ofproto, *table1):
    """Table 0 pops the label and goes to table 1, which holds ``table1`` rules."""
    first = ofproto.flows.add(0, Match().set("eth_type", 0x8847), 10, of.Instructions(
        apply=(of.PopMpls(0x0800),), goto_table=1))
    return [first] + [ofproto.flows.add(1, match, 10, apply(*actions))
                      for match, actions in table1]


def udp_dst(port):
    return Match().set("eth_type", 0x0800).set("ip_proto", 17).set("udp_dst", port)


def run(provider, now, rounds=3):
    for i in range(rounds):
        provider.run(now + i)


def test_first_pass_pops_and_recirculates_matching_recirc_id_exactly():
    ofproto, provider, _ = make_bridge()
    pop_then_goto(ofproto, (udp_dst(2000), (of.Output(2),)))
    out = translate(provider, mpls_flow())
    assert out.actions[0] == dp.PopMpls(0x0800)
    assert type(out.actions[1]) is dp.Recirc and len(out.actions) == 2
    assert out.wc[Slot.RECIRC_ID] == 0xFFFFFFFF
    assert out.wc[Slot.NW_PROTO] == 0 and out.wc[Slot.TP_DST] == 0   # not known yet
    # The same translation again (revalidation) names the same continuation.
    assert translate(provider, mpls_flow()).actions == out.actions


def test_resumed_translation_matches_the_inner_l4_port():
    ofproto, provider, _ = make_bridge()
    pop_then_goto(ofproto, (udp_dst(2000), (of.Output(2),)))
    rid = translate(provider, mpls_flow()).actions[-1].recirc_id
    inner = list(extract(compose(ip_flow(1)), 1))
    inner[Slot.RECIRC_ID] = rid
    out = translate(provider, tuple(inner))
    assert out.actions == [dp.Output(provider.ofp_to_odp[2])]
    assert out.wc[Slot.TP_DST] == 0xFFFF and out.wc[Slot.RECIRC_ID] == 0xFFFFFFFF
    inner[Slot.RECIRC_ID] = rid + 99                  # an id nobody froze: dropped
    assert translate(provider, tuple(inner)).actions == []


def test_datapath_forwards_the_popped_packet_by_its_inner_port_and_caches_both_passes():
    ofproto, provider, ports = make_bridge()
    pop, to2, to3 = pop_then_goto(ofproto, (udp_dst(2000), (of.Output(2),)),
                                  (udp_dst(3000), (of.Output(3),)))
    ports[1].inject(mpls_frame())
    run(provider, 1000)
    (sent,) = ports[2].captured
    assert sent == compose(ip_flow(1), payload_len=20)      # label gone, inner intact
    assert not ports[3].captured
    ports[1].inject(mpls_frame(tp_dst=3000))
    run(provider, 1100)
    assert len(ports[3].captured) == 1 and len(ports[2].captured) == 1
    missed = provider.dpif.stats().n_missed
    for _ in range(4):
        ports[1].inject(mpls_frame())
    run(provider, 1200)
    assert len(ports[2].captured) == 5
    assert provider.dpif.stats().n_missed == missed        # both passes hit the cache
    provider.flush_stats(1300)
    assert (pop.packet_count, to2.packet_count, to3.packet_count) == (6, 5, 1)
    # Revalidation re-translates both passes to the same actions: nothing is deleted.
    n_flows = len(provider.dpif.flow_dump())
    provider.tables_changed()
    run(provider, 1400, rounds=1)
    assert len(provider.dpif.flow_dump()) == n_flows
    assert len(provider.recirc) == 1


def test_dec_nw_ttl_after_pop_mpls_reads_the_inner_ttl():
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match().set("eth_type", 0x8847), 10, apply(
        of.PopMpls(0x0800), of.DecNwTtl(), of.Output(2)))
    ports[1].inject(mpls_frame(nw_ttl=30))
    run(provider, 0)
    (sent,) = ports[2].captured
    assert extract(sent, 0)[Slot.NW_TTL] == 29
    assert extract(sent, 0)[Slot.ETH_TYPE] == F.ETH_TYPE_IP


def test_pop_then_output_needs_no_recirculation():
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match(), 1, apply(of.PopMpls(0x0800), of.Output(2)))
    out = translate(provider, mpls_flow())
    assert out.actions == [dp.PopMpls(0x0800), dp.Output(provider.ofp_to_odp[2])]
    assert len(provider.recirc) == 0


def test_action_set_and_metadata_survive_the_recirculation():
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match().set("eth_type", 0x8847), 10, of.Instructions(
        apply=(of.PopMpls(0x0800),), write=(of.Output(3),),
        write_metadata=(0x5, 0xFF), goto_table=1))
    ofproto.flows.add(1, Match().set("metadata", 0x5).set("eth_type", 0x0800)
                      .set("ip_proto", 17), 10, apply(of.Output(2)))
    ports[1].inject(mpls_frame())
    run(provider, 0)
    assert len(ports[2].captured) == 1 and len(ports[3].captured) == 1


def test_recirc_table_shares_ids_and_collects_unused_ones():
    table = RecircTable()
    a = table.intern(((0, None, of.Instructions(goto_table=1)),), (), (), now=0)
    assert table.intern(((0, None, of.Instructions(goto_table=1)),), (), (), now=5) == a
    b = table.intern(((0, None, of.Instructions(goto_table=2)),), (), (), now=5)
    assert b != a and 0 not in (a, b)
    assert table.gc({a}, now=5 + GRACE_MS + 1) == 1
    assert table.get(a) is not None and table.get(b) is None


def test_dump_flows_names_the_recirculation():
    from pyvswitch.datapath.format import format_dp_flow
    ofproto, provider, ports = make_bridge()
    pop_then_goto(ofproto, (udp_dst(2000), (of.Output(2),)))
    ports[1].inject(mpls_frame())
    run(provider, 0)
    texts = sorted(format_dp_flow(f, 10) for f in provider.dpif.flow_dump())
    rid = provider.recirc.by_id and next(iter(provider.recirc.by_id))
    assert any(f"recirc({rid:#x})" in t and "eth_type(0x8847)" in t for t in texts)
    assert any(t.startswith(f"recirc_id({rid:#x}),") and "_dst(2000)" in t
               for t in texts)


def test_pop_mpls_in_the_action_set_resumes_the_rest_of_the_set_after_recirculating():
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match().set("eth_type", 0x8847), 10, of.Instructions(
        write=(of.PopMpls(0x0800), of.DecNwTtl(), of.Output(2))))
    ports[1].inject(mpls_frame(nw_ttl=10))
    run(provider, 0)
    (sent,) = ports[2].captured
    assert extract(sent, 0)[Slot.NW_TTL] == 9


def test_inside_a_resubmit_pop_then_output_needs_no_recirculation():
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match(), 1, apply(of.Resubmit(of.OFPP_IN_PORT, 1)))
    ofproto.flows.add(1, Match(), 1, apply(of.PopMpls(0x0800), of.Output(2)))
    out = translate(provider, mpls_flow())
    assert out.actions == [dp.PopMpls(0x0800), dp.Output(provider.ofp_to_odp[2])]


def test_revalidation_forgets_continuations_no_cached_flow_uses():
    from pyvswitch.classifier.classifier import Classifier
    ofproto, provider, ports = make_bridge()
    pop_then_goto(ofproto, (udp_dst(2000), (of.Output(2),)))
    ports[1].inject(mpls_frame())
    run(provider, 0)
    assert len(provider.recirc) == 1
    ofproto.flows.tables[0] = Classifier()              # the popping flow is gone
    ofproto.flows.add(0, Match(), 1, apply(of.Output(3)))
    provider.tables_changed()
    run(provider, 100, rounds=1)
    assert len(provider.recirc) == 1          # the resumed flow is still cached, idle
    later = 100 + provider.upcalls.max_idle_ms + GRACE_MS + 1
    run(provider, later, rounds=1)            # statistics pass: the idle flow expires
    provider.tables_changed()
    run(provider, later + 1, rounds=1)
    assert len(provider.recirc) == 0


def test_push_vlan_after_pop_mpls_freezes_as_open_vswitch_but_a_second_pop_need_not():
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match().set("eth_type", 0x8847), 10, apply(
        of.PopMpls(0x0800), of.PushVlan(0x8100), of.SetVlanVid(7), of.Output(2)))
    out = translate(provider, mpls_flow())
    assert [type(a) for a in out.actions] == [dp.PopMpls, dp.Recirc]
    ports[1].inject(mpls_frame())
    run(provider, 0)
    (sent,) = ports[2].captured
    assert sent == edit.push_vlan(compose(ip_flow(1), payload_len=20), 0x8100, 7)
    ofproto.flows.add(0, Match().set("eth_type", 0x8847), 20, apply(
        of.PopMpls(0x8847), of.PopMpls(0x0800), of.Output(2)))
    out = translate(provider, mpls_flow())
    assert out.actions == [dp.PopMpls(0x8847), dp.PopMpls(0x0800),
                           dp.Output(provider.ofp_to_odp[2])]
