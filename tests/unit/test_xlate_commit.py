"""Header changes reach the datapath as Open vSwitch commits them: one set per header
before the next output, in its datapath syntax, and the frames that leave carry them."""

from pyvswitch.datapath import actions as dp
from pyvswitch.openflow import ofpacts as of
from pyvswitch.packet import fields as F
from pyvswitch.packet.compose import compose
from pyvswitch.packet.extract import extract
from pyvswitch.packet.fields import Match, Slot
from pyvswitch.ofproto_dpif.xlate import translate

from tests.unit.test_xlate import H2, H3, apply, ip_flow, make_bridge

SF = F.BY_NAME


def text(provider, flow) -> str:
    return dp.format_actions(translate(provider, flow).actions)


def run(provider, now=0):
    for i in range(3):
        provider.run(now + i)


def mac(v: int) -> str:
    return v.to_bytes(6, "big").hex(":")


def test_sets_between_outputs_become_one_masked_set_per_header_in_ovs_order():
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match(), 1, apply(
        of.SetField(SF["udp_dst"], 53), of.SetField(SF["ip_dscp"], 2),
        of.SetField(SF["eth_dst"], H3), of.SetField(SF["ip_src"], 0x0A000009),
        of.Output(2)))
    o2 = provider.ofp_to_odp[2]
    assert text(provider, ip_flow(1)) == (
        f"set(eth(dst={mac(H3)})),set(ipv4(src=10.0.0.9,tos=0x8/0xfc)),"
        f"set(udp(dst=53)),{o2}")
    ports[1].inject(compose(ip_flow(1), payload_len=8))
    run(provider)
    (sent,) = ports[2].captured
    flow = extract(sent, 0)
    assert (flow[Slot.ETH_DST], flow[Slot.NW_SRC], flow[Slot.NW_TOS], flow[Slot.TP_DST]) \
        == (H3, 0x0A000009, 8, 53)


def test_no_ip_rewrite_while_nw_proto_is_0_and_no_set_for_an_unchanged_value():
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match(), 1, apply(of.SetField(SF["ip_dscp"], 2), of.Output(2)))
    o2 = provider.ofp_to_odp[2]
    assert text(provider, ip_flow(1, nw_proto=0)) == f"{o2}"
    out = translate(provider, ip_flow(1, nw_tos=8))      # already DSCP 2
    assert dp.format_actions(out.actions) == f"{o2}"
    assert out.wc[Slot.NW_TOS] & 0xFC == 0xFC           # so the megaflow says so


def test_a_change_undone_before_the_output_costs_nothing():
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match(), 1, apply(
        of.SetField(SF["eth_dst"], H3), of.SetField(SF["eth_dst"], H2), of.Output(2)))
    assert text(provider, ip_flow(1)) == f"{provider.ofp_to_odp[2]}"


def test_vlan_push_carries_the_whole_tag_and_a_retag_pops_and_pushes():
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match().set("in_port", 1), 1, apply(
        of.SetVlanVid(9), of.SetField(SF["eth_src"], H3), of.Output(2)))
    ofproto.flows.add(0, Match().set("in_port", 2), 1, apply(
        of.SetVlanVid(7), of.Output(3)))
    o2, o3 = provider.ofp_to_odp[2], provider.ofp_to_odp[3]
    assert text(provider, ip_flow(1)) == \
        f"set(eth(src={mac(H3)})),push_vlan(vid=9,pcp=0),{o2}"
    tagged = ip_flow(2, vlan_tci=F.VLAN_CFI | (3 << 13) | 5)
    assert text(provider, tagged) == f"pop_vlan,push_vlan(vid=7,pcp=3),{o3}"
    ports[2].inject(compose(tagged, payload_len=8))
    run(provider)
    (sent,) = ports[3].captured
    assert extract(sent, 0)[Slot.VLAN_TCI] == F.VLAN_CFI | (3 << 13) | 7


def test_push_mpls_carries_the_label_set_after_it():
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match(), 1, apply(
        of.PushMpls(0x8847), of.SetMplsLabel(10), of.Output(2)))
    assert text(provider, ip_flow(1, nw_ttl=64)) == \
        f"push_mpls(label=10,tc=0,ttl=64,bos=1,eth_type=0x8847),{provider.ofp_to_odp[2]}"


def test_a_clone_leaves_the_packet_as_it_was_for_the_actions_after_it():
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match(), 1, apply(
        of.Clone((of.SetField(SF["eth_dst"], H3), of.PushVlan(0x8100), of.Output(2))),
        of.Output(3)))
    o2, o3 = provider.ofp_to_odp[2], provider.ofp_to_odp[3]
    assert text(provider, ip_flow(1)) == (
        f"set(eth(dst={mac(H3)})),push_vlan(vid=0,pcp=0),{o2},"
        f"set(eth(dst={mac(H2)})),pop_vlan,{o3}")
    frame = compose(ip_flow(1), payload_len=8)
    ports[1].inject(frame)
    run(provider)
    assert ports[3].captured == [frame]
    (sent,) = ports[2].captured
    assert extract(sent, 0)[Slot.ETH_DST] == H3
