"""pop_mpls inside a resubmit, a group bucket or a clone, then an action or a table that
needs the IPv4 header: translation freezes where Open vSwitch does, the popped packet
recirculates, and the second pass runs the rest of the inner action list and then the
rest of each enclosing one (a resubmit's caller), or only the rest of the bucket or clone
(the packet itself goes on after the group or clone as it was)."""

from pyvswitch.datapath import actions as dp
from pyvswitch.datapath.format import format_dp_flow
from pyvswitch.ofproto_dpif.xlate import translate
from pyvswitch.openflow import ofpacts as of
from pyvswitch.openflow import messages_gm as gm
from pyvswitch.openflow.messages_gm import Bucket, GroupMod
from pyvswitch.packet import fields as F
from pyvswitch.packet.compose import compose
from pyvswitch.packet.extract import extract
from pyvswitch.packet.fields import Match, Slot

from tests.unit.test_xlate import apply, ip_flow, make_bridge
from tests.unit.test_xlate_recirc import mpls_flow, mpls_frame, run, udp_dst

MPLS = Match().set("eth_type", 0x8847)
NW_DST = F.BY_NAME["ip_dst"]


def inner(**kw) -> bytes:
    """The frame beneath the label, as the tests' MPLS frames carry it."""
    return compose(ip_flow(1, **kw), payload_len=20)


def add_group(ofproto, gtype, gid, *buckets):
    ofproto.groups.apply(GroupMod(gm.OFPGC_ADD, gtype, gid, tuple(buckets)), now=0)


def dump(provider) -> list[str]:
    return sorted(format_dp_flow(f, 10) for f in provider.dpif.flow_dump())


def two_passes(provider) -> tuple[str, str]:
    """The two datapath flows of one recirculating packet: (first pass, second pass)."""
    (rid,) = provider.recirc.by_id
    texts = dump(provider)
    first = [t for t in texts if f"recirc({rid:#x})" in t]
    second = [t for t in texts if t.startswith(f"recirc_id({rid:#x}),")]
    assert len(first) == 1 and len(second) == 1, texts
    return first[0], second[0]


# --- resubmit -----------------------------------------------------------------------------

def resubmit_then_pop(ofproto):
    """Table 0 resubmits to table 1, which pops and decrements the inner TTL; after the
    resubmit table 0 still outputs to port 3."""
    r0 = ofproto.flows.add(0, MPLS, 10, apply(
        of.Resubmit(of.OFPP_IN_PORT, 1), of.Output(3)))
    r1 = ofproto.flows.add(1, Match(), 10, apply(
        of.PopMpls(0x0800), of.DecNwTtl(), of.Output(2)))
    return r0, r1


def test_pop_inside_a_resubmit_freezes_and_the_outer_rest_follows_the_inner_rest():
    ofproto, provider, ports = make_bridge()
    r0, r1 = resubmit_then_pop(ofproto)
    out = translate(provider, mpls_flow())
    assert out.actions[0] == dp.PopMpls(0x0800) and type(out.actions[1]) is dp.Recirc
    assert len(out.actions) == 2           # output:3 waits for the second pass too
    (state,) = provider.recirc.by_id.values()
    assert [(t, r, ins.apply) for t, r, ins in state.frames] == [
        (1, r1, (of.DecNwTtl(), of.Output(2))), (0, r0, (of.Output(3),))]
    for _ in range(3):
        ports[1].inject(mpls_frame(nw_ttl=30))
    run(provider, 0)
    want = inner(nw_ttl=29)
    assert ports[2].captured == [want] * 3 and ports[3].captured == [want] * 3
    first, second = two_passes(provider)
    assert "eth_type(0x8847)" in first and first.endswith(
        f"actions:pop_mpls(eth_type=0x800),recirc({state.recirc_id:#x})")
    p2, p3 = provider.ofp_to_odp[2], provider.ofp_to_odp[3]
    assert second.endswith(f"actions:set(ipv4(ttl=29)),{p2},{p3}")
    provider.flush_stats(100)
    assert (r0.packet_count, r1.packet_count) == (3, 3)    # the first pass credits them


def test_pop_in_a_resubmit_then_a_table_matching_the_inner_port():
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, MPLS, 10, apply(of.Resubmit(of.OFPP_IN_PORT, 1)))
    ofproto.flows.add(1, Match(), 10, apply(of.PopMpls(0x0800), of.Resubmit(
        of.OFPP_IN_PORT, 2), of.SetField(NW_DST, 0x0A0000FE), of.Output(3)))
    to2 = ofproto.flows.add(2, udp_dst(2000), 10, apply(of.Output(2)))
    ofproto.flows.add(2, udp_dst(3000), 10, apply(of.Output(4)))
    ports[1].inject(mpls_frame())
    run(provider, 0)
    assert ports[2].captured == [inner()]
    assert ports[3].captured == [inner(nw_dst=0x0A0000FE)]
    _first, second = two_passes(provider)
    assert "_dst(2000)" in second and "set(ipv4(dst=10.0.0.254))" in second
    provider.flush_stats(100)
    assert to2.packet_count == 1           # looked up in the second pass only


def test_thawed_trace_restores_the_inner_rest_then_the_outer_rest():
    from pyvswitch.ofproto_dpif.xlate_trace import format_trace
    ofproto, provider, _ = make_bridge()
    resubmit_then_pop(ofproto)
    rid = translate(provider, mpls_flow()).actions[-1].recirc_id
    flow = list(extract(inner(), 1))
    flow[Slot.RECIRC_ID] = rid
    text = "\n".join(format_trace(translate(provider, tuple(flow), trace=True).trace))
    assert ("Restoring actions: unroll_xlate(table=1, cookie=0),dec_ttl,output:2,"
            "unroll_xlate(table=0, cookie=0),output:3") in text


def test_a_second_pop_after_the_thaw_freezes_again_keeping_the_outer_rest():
    from pyvswitch.packet import edit
    ofproto, provider, ports = make_bridge(n_ports=4)
    ofproto.flows.add(0, MPLS, 10, apply(of.Resubmit(of.OFPP_IN_PORT, 1), of.Output(3)))
    ofproto.flows.add(1, Match(), 10, apply(
        of.PopMpls(0x8847), of.Resubmit(of.OFPP_IN_PORT, 2), of.Output(4)))
    ofproto.flows.add(2, MPLS, 10, apply(of.PopMpls(0x0800), of.DecNwTtl(), of.Output(2)))
    two_labels = edit.push_mpls(mpls_frame(nw_ttl=9), 0x8847, (7 << 12) | 64)
    ports[1].inject(two_labels)
    run(provider, 0, rounds=4)
    for port in (2, 4, 3):
        assert ports[port].captured == [inner(nw_ttl=8)], port
    assert len(provider.recirc) == 2
    last = max(provider.recirc.by_id.values(), key=lambda st: st.recirc_id)
    assert [(t, ins.apply) for t, _r, ins in last.frames] == [
        (2, (of.DecNwTtl(), of.Output(2))), (1, (of.Output(4),)), (0, (of.Output(3),))]


# --- group buckets ------------------------------------------------------------------------

def test_pop_in_a_bucket_of_an_all_group_recirculates_that_copy_only():
    ofproto, provider, ports = make_bridge(n_ports=4)
    add_group(ofproto, gm.OFPGT_ALL, 1,
              Bucket((of.PopMpls(0x0800), of.DecNwTtl(), of.Output(2))),
              Bucket((of.Output(4),)))
    ofproto.flows.add(0, MPLS, 10, apply(of.GroupAction(1), of.Output(3)))
    ports[1].inject(mpls_frame(nw_ttl=30))
    run(provider, 0)
    assert ports[2].captured == [inner(nw_ttl=29)]
    assert ports[3].captured == [mpls_frame(nw_ttl=30)]    # the packet as it came
    assert ports[4].captured == [mpls_frame(nw_ttl=30)]
    first, second = two_passes(provider)
    (rid,) = provider.recirc.by_id
    p3, p4 = provider.ofp_to_odp[3], provider.ofp_to_odp[4]
    assert f"actions:pop_mpls(eth_type=0x800),recirc({rid:#x}),push_mpls(" in first
    assert first.endswith(f",{p4},{p3}")
    assert second.endswith(f"actions:set(ipv4(ttl=29)),{provider.ofp_to_odp[2]}")
    (state,) = provider.recirc.by_id.values()
    assert [ins.apply for _t, _r, ins in state.frames] == [(of.DecNwTtl(), of.Output(2))]


def test_each_bucket_that_pops_recirculates_on_its_own():
    ofproto, provider, ports = make_bridge(n_ports=4)
    add_group(ofproto, gm.OFPGT_ALL, 1,
              Bucket((of.PopMpls(0x0800), of.SetField(NW_DST, 0x0A0000FE),
                      of.Output(2))),
              Bucket((of.PopMpls(0x0800), of.DecNwTtl(), of.Output(3))))
    ofproto.flows.add(0, MPLS, 10, apply(of.GroupAction(1)))
    ports[1].inject(mpls_frame(nw_ttl=30))
    run(provider, 0)
    assert ports[2].captured == [inner(nw_dst=0x0A0000FE, nw_ttl=30)]
    assert ports[3].captured == [inner(nw_ttl=29)]
    assert len(provider.recirc) == 2


def test_pop_in_an_indirect_or_fast_failover_bucket_then_a_table_lookup():
    for gtype in (gm.OFPGT_INDIRECT, gm.OFPGT_FF):
        ofproto, provider, ports = make_bridge()
        watch = {} if gtype == gm.OFPGT_INDIRECT else {"watch_port": 2}
        add_group(ofproto, gtype, 1, Bucket(
            (of.PopMpls(0x0800), of.Resubmit(of.OFPP_IN_PORT, 1)), **watch))
        ofproto.flows.add(0, MPLS, 10, apply(of.GroupAction(1)))
        ofproto.flows.add(1, udp_dst(2000), 10, apply(of.Output(2)))
        ofproto.flows.add(1, udp_dst(3000), 10, apply(of.Output(3)))
        ports[1].inject(mpls_frame(tp_dst=3000))
        run(provider, 0)
        assert ports[3].captured == [inner(tp_dst=3000)], gtype
        assert not ports[2].captured
        _first, second = two_passes(provider)
        assert "_dst(3000)" in second


def test_pop_before_a_select_group_freezes_before_the_group():
    ofproto, provider, ports = make_bridge()
    add_group(ofproto, gm.OFPGT_SELECT, 1, Bucket((of.DecNwTtl(), of.Output(2)), weight=1))
    ofproto.flows.add(0, MPLS, 10, apply(of.PopMpls(0x0800), of.GroupAction(1)))
    out = translate(provider, mpls_flow())
    assert out.actions[0] == dp.PopMpls(0x0800) and type(out.actions[1]) is dp.Recirc
    assert out.wc[Slot.NW_SRC] == 0             # the hash reads the inner header later
    (state,) = provider.recirc.by_id.values()
    assert state.frames[0][2].apply == (of.GroupAction(1),)
    ports[1].inject(mpls_frame(nw_ttl=5))
    run(provider, 0)
    assert ports[2].captured == [inner(nw_ttl=4)]
    from pyvswitch.ofproto_dpif.xlate_trace import format_trace
    text = format_trace(translate(provider, mpls_flow(), trace=True).trace)
    assert [line.strip() for line in text][-2:] == ["pop_mpls:0x0800", "group:1"]


def test_pop_before_an_all_group_freezes_inside_the_bucket_not_before_the_group():
    ofproto, provider, ports = make_bridge()
    add_group(ofproto, gm.OFPGT_ALL, 1, Bucket((of.DecNwTtl(), of.Output(2))))
    ofproto.flows.add(0, MPLS, 10, apply(of.PopMpls(0x0800), of.GroupAction(1),
                                         of.Output(3)))
    ports[1].inject(mpls_frame(nw_ttl=5))
    run(provider, 0)
    assert ports[2].captured == [inner(nw_ttl=4)]
    assert ports[3].captured == [inner(nw_ttl=5)]     # popped, not decremented
    first, _second = two_passes(provider)
    assert first.endswith(f",{provider.ofp_to_odp[3]}")


# --- clone --------------------------------------------------------------------------------

def test_pop_inside_a_clone_recirculates_the_clone_and_the_first_pass_ends_there():
    ofproto, provider, ports = make_bridge(n_ports=4)
    ofproto.flows.add(0, MPLS, 10, apply(of.Resubmit(of.OFPP_IN_PORT, 1), of.Output(4)))
    ofproto.flows.add(1, Match(), 10, apply(
        of.Clone((of.PopMpls(0x0800), of.SetField(NW_DST, 0x0A0000FE), of.Output(2))),
        of.Output(3)))
    ports[1].inject(mpls_frame())
    run(provider, 0)
    assert ports[2].captured == [inner(nw_dst=0x0A0000FE)]
    # Open vSwitch's exit stays set after the clone froze: nothing after it runs, in
    # this rule or in the one that resubmitted.
    assert ports[3].captured == [] and ports[4].captured == []
    first, second = two_passes(provider)
    (rid,) = provider.recirc.by_id
    assert first.endswith(f"actions:pop_mpls(eth_type=0x800),recirc({rid:#x})")
    assert second.endswith(f"actions:set(ipv4(dst=10.0.0.254)),{provider.ofp_to_odp[2]}")


def test_pop_before_a_clone_freezes_before_the_clone():
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, MPLS, 10, apply(
        of.PopMpls(0x0800), of.Clone((of.DecNwTtl(), of.Output(2))), of.Output(3)))
    out = translate(provider, mpls_flow())
    assert [type(a) for a in out.actions] == [dp.PopMpls, dp.Recirc]
    ports[1].inject(mpls_frame(nw_ttl=7))
    run(provider, 0)
    assert ports[2].captured == [inner(nw_ttl=6)]
    assert ports[3].captured == [inner(nw_ttl=7)]


def test_a_clone_freezes_with_its_own_action_set_not_the_packets():
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, MPLS, 10, of.Instructions(
        write=(of.Output(3),), goto_table=1))
    ofproto.flows.add(1, Match(), 10, apply(
        of.Clone((of.PopMpls(0x0800), of.DecNwTtl(), of.Output(2)))))
    ports[1].inject(mpls_frame(nw_ttl=7))
    run(provider, 0)
    (state,) = provider.recirc.by_id.values()
    assert state.action_set == ()                 # not the packet's {output:3}
    assert ports[2].captured == [inner(nw_ttl=6)]
    assert ports[3].captured == []     # and the first pass ends after the clone froze


def test_a_bucket_clears_the_end_a_clone_that_froze_in_it_called_for():
    ofproto, provider, ports = make_bridge(n_ports=4)
    add_group(ofproto, gm.OFPGT_ALL, 1,
              Bucket((of.Clone((of.PopMpls(0x0800), of.DecNwTtl(), of.Output(2))),
                      of.Output(4))),
              Bucket((of.Output(4),)))
    ofproto.flows.add(0, MPLS, 10, apply(of.GroupAction(1), of.Output(3)))
    ports[1].inject(mpls_frame(nw_ttl=7))
    run(provider, 0)
    assert ports[2].captured == [inner(nw_ttl=6)]
    assert ports[4].captured == [mpls_frame(nw_ttl=7)]   # the second bucket only
    assert ports[3].captured == [mpls_frame(nw_ttl=7)]


def test_a_bucket_freezes_with_the_packets_action_set_which_runs_in_both_passes():
    ofproto, provider, ports = make_bridge(n_ports=4)
    add_group(ofproto, gm.OFPGT_ALL, 1,
              Bucket((of.PopMpls(0x0800), of.DecNwTtl(), of.Output(2))))
    ofproto.flows.add(0, MPLS, 10, of.Instructions(write=(of.Output(4),), goto_table=1))
    ofproto.flows.add(1, Match(), 10, apply(of.GroupAction(1), of.Output(3)))
    ports[1].inject(mpls_frame(nw_ttl=7))
    run(provider, 0)
    (state,) = provider.recirc.by_id.values()
    assert [a for _k, a in state.action_set] == [of.Output(4)]
    assert ports[2].captured == [inner(nw_ttl=6)]
    assert ports[3].captured == [mpls_frame(nw_ttl=7)]
    # As Open vSwitch: the packet's action set, and the recirculated copy's.
    assert ports[4].captured == [mpls_frame(nw_ttl=7), inner(nw_ttl=6)]


def test_pop_pbb_inside_a_resubmit_or_a_bucket_then_the_customer_headers():
    from pyvswitch.packet import edit
    from pyvswitch.packet.fields import ETH_TYPE_PBB
    pbb = edit.push_pbb(inner(), ETH_TYPE_PBB, 100)
    is_pbb = Match().set("eth_type", ETH_TYPE_PBB)
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, is_pbb, 10, apply(of.Resubmit(of.OFPP_IN_PORT, 1), of.Output(3)))
    ofproto.flows.add(1, Match(), 10, apply(of.PopPbb(), of.Resubmit(of.OFPP_IN_PORT, 2)))
    ofproto.flows.add(2, udp_dst(2000), 10, apply(of.Output(2)))
    ports[1].inject(pbb)
    run(provider, 0)
    assert ports[2].captured == [inner()] and ports[3].captured == [inner()]
    assert "_dst(2000)" in two_passes(provider)[1]
    ofproto, provider, ports = make_bridge()
    add_group(ofproto, gm.OFPGT_INDIRECT, 1,
              Bucket((of.PopPbb(), of.Output(of.OFPP_TABLE))))
    ofproto.flows.add(0, is_pbb, 10, apply(of.GroupAction(1), of.Output(3)))
    ofproto.flows.add(0, udp_dst(2000), 10, apply(of.Output(2)))
    ports[1].inject(pbb)
    run(provider, 0)
    assert ports[2].captured == [inner()]        # output:TABLE, in the second pass
    assert ports[3].captured == [pbb]            # the packet itself, re-encapsulated
