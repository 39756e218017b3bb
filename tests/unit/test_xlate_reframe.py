"""set_field of eth_type, ip_proto and mpls_bos (OpenFlow 1.3 allows them, Open vSwitch
refuses them): the actions as a controller encodes them (os-ken), decoded, translated and
run on frames; what leaves is os-ken's model packet, byte for byte; later tables see the
new value."""

from __future__ import annotations

from os_ken.lib.packet import ethernet, ipv4, ipv6, mpls, packet, tcp, vlan
from os_ken.ofproto import ofproto_v1_3_parser as p13

from pyvswitch.datapath import actions as dp
from pyvswitch.ofproto_dpif.xlate import translate
from pyvswitch.openflow import action_codec as AC
from pyvswitch.openflow import ofpacts as of
from pyvswitch.packet.extract import extract
from pyvswitch.packet.fields import BY_NAME, Match, Slot

from tests.unit.test_xlate import apply, make_bridge

PAYLOAD = bytes(range(1, 32))


def set_field(**kw) -> of.SetField:
    """One OFPActionSetField as os-ken encodes it, decoded by our codec."""
    buf = bytearray()
    p13.OFPActionSetField(**kw).serialize(buf, 0)
    (act,) = AC.decode_actions(0x04, bytes(buf), 0, len(buf))
    return act


def frame(*layers) -> bytes:
    """os-ken builds the frame (and every checksum) from ``layers``."""
    pkt = packet.Packet()
    for layer in layers:
        pkt.add_protocol(layer)
    pkt.add_protocol(PAYLOAD)
    pkt.serialize()
    return bytes(pkt.data)


def eth(ethertype):
    return ethernet.ethernet("22:22:22:22:22:22", "12:11:11:11:11:11", ethertype)


def ip4(proto=6):
    return ipv4.ipv4(tos=32, proto=proto, src="192.168.10.10", dst="192.168.20.20", ttl=64)


def ip6(nxt=6):
    return ipv6.ipv6(src="10::10", dst="20::20", flow_label=100, nxt=nxt, hop_limit=64,
                     traffic_class=32)


def l4():
    return tcp.tcp(src_port=11111, dst_port=2222, option=b"\x00" * 4)


def forward(actions, in_frame: bytes, match: Match | None = None) -> bytes:
    """Install ``actions`` + output:2 in table 0, send ``in_frame`` in on port 1 and
    return the one frame port 2 sends."""
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, match or Match(), 10, apply(*actions, of.Output(2)))
    ports[1].inject(in_frame)
    for i in range(3):
        provider.run(i)
    (sent,) = ports[2].captured
    return sent


def test_the_three_fields_decode_as_writable_set_fields():
    assert set_field(eth_type=0x8848) == of.SetField(BY_NAME["eth_type"], 0x8848)
    assert set_field(ip_proto=17) == of.SetField(BY_NAME["ip_proto"], 17)
    assert set_field(mpls_bos=0) == of.SetField(BY_NAME["mpls_bos"], 0)


def test_eth_type_ipv4_ipv6_and_behind_a_vlan_tag():
    for ethertype, l3 in ((0x0800, ip4()), (0x86DD, ip6())):
        got = forward([set_field(eth_type=0x8848)], frame(eth(ethertype), l3, l4()))
        assert got == frame(eth(0x8848), l3, l4())
    tagged = frame(eth(0x8100), vlan.vlan(pcp=3, vid=100, ethertype=0x0800), ip4(), l4())
    got = forward([set_field(eth_type=0x88E7)], tagged)
    assert got == frame(eth(0x8100), vlan.vlan(pcp=3, vid=100, ethertype=0x88E7), ip4(),
                        l4())


def test_ip_proto_ipv4_and_ipv6_keep_their_checksums():
    # os-ken's model computes the TCP checksum over a pseudo-header naming the new
    # protocol; the rewrite must land on the same bytes.
    got = forward([set_field(ip_proto=17)], frame(eth(0x0800), ip4(6), l4()))
    assert got == frame(eth(0x0800), ip4(17), l4())
    got = forward([set_field(ip_proto=17)], frame(eth(0x86DD), ip6(6), l4()))
    assert got == frame(eth(0x86DD), ip6(17), l4())


def test_mpls_bos_clears_the_s_bit_of_the_top_label():
    def lse(bsb):
        return mpls.mpls(label=100, exp=3, bsb=bsb, ttl=64)
    got = forward([set_field(mpls_bos=0)], frame(eth(0x8847), lse(1), ip4(), l4()),
                  Match().set("eth_type", 0x8847).set("mpls_bos", 1))
    assert got == frame(eth(0x8847), lse(0), ip4(), l4())


def test_translation_commits_earlier_changes_first_and_later_tables_see_the_new_value():
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match(), 10, of.Instructions(
        apply=(set_field(ipv4_src="10.9.9.9"), set_field(ip_proto=17)), goto_table=1))
    ofproto.flows.add(1, Match().set("eth_type", 0x0800).set("ip_proto", 17), 10,
                      apply(set_field(eth_type=0x8847), set_field(mpls_label=7),
                            of.Output(2)))
    flow = extract(frame(eth(0x0800), ip4(6), l4()), 1)
    out = translate(provider, flow)
    text = dp.format_actions(out.actions)
    o2 = provider.ofp_to_odp[2]
    # The IPv4 source goes out before the protocol changes; after the type changed to
    # MPLS the label is written in the first four bytes of what follows (the flow does
    # not know them: its TC and TTL print as 0, and only the label is written).
    assert text == (f"set(ipv4(src=10.9.9.9)),set(ip_proto=0x11),set(eth_type=0x8847),"
                    f"set(mpls(label=7,tc=0,ttl=0,bos=0)),{o2}"), text
    assert out.wc[Slot.NW_PROTO] == 0xFF
    ports[1].inject(frame(eth(0x0800), ip4(6), l4()))
    for i in range(3):
        provider.run(i)
    (sent,) = ports[2].captured
    assert extract(sent, 0)[Slot.ETH_TYPE] == 0x8847
    assert extract(sent, 0)[Slot.MPLS_LSE] >> 12 == 7
    model = ip4(17)
    model.src = "10.9.9.9"
    assert sent[18:] == frame(eth(0x0800), model, l4())[18:]       # the rest of the IP


def test_nothing_to_commit_when_the_value_is_already_there():
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match(), 10, apply(set_field(ip_proto=6), of.Output(2)))
    out = translate(provider, extract(frame(eth(0x0800), ip4(6), l4()), 1))
    assert out.actions == [dp.Output(provider.ofp_to_odp[2])]
    assert out.wc[Slot.NW_PROTO] == 0xFF


def test_ip_proto_on_a_frame_without_ip_is_skipped():
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match(), 10, apply(set_field(ip_proto=17), of.Output(2)))
    out = translate(provider, extract(frame(eth(0x8847), mpls.mpls(label=1), ip4(), l4()), 1))
    assert out.actions == [dp.Output(provider.ofp_to_odp[2])]


def test_a_clone_that_rewrites_ip_proto_runs_in_a_datapath_clone():
    """(Group buckets are clones too.)  One copy leaves as UDP; the packet after the
    clone is the TCP packet as it came in: the rewrite is not undone by a second one,
    which would read the TCP header as UDP."""
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match(), 10, apply(
        of.Clone((set_field(ip_proto=17), set_field(eth_type=0x0800), of.Output(2))),
        of.Output(3)))
    tcp_in = frame(eth(0x0800), ip4(6), l4())
    out = translate(provider, extract(tcp_in, 1))
    o2, o3 = provider.ofp_to_odp[2], provider.ofp_to_odp[3]
    assert dp.format_actions(out.actions) == f"clone(set(ip_proto=0x11),{o2}),{o3}"
    ports[1].inject(tcp_in)
    for i in range(3):
        provider.run(i)
    assert ports[2].captured == [frame(eth(0x0800), ip4(17), l4())]
    assert ports[3].captured == [tcp_in]


def test_arp_op_alone_is_committed():
    """(NW_PROTO is the ARP opcode too: a change of it alone is an ARP rewrite.)"""
    from scapy.layers.l2 import ARP, Ether
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match(), 10, apply(set_field(arp_op=2), of.Output(2)))
    request = bytes(Ether(src="12:11:11:11:11:11") / ARP(op=1))
    out = translate(provider, extract(request, 1))
    assert dp.format_actions(out.actions) == f"set(arp(op=2)),{provider.ofp_to_odp[2]}"
    ports[1].inject(request)
    for i in range(3):
        provider.run(i)
    (sent,) = ports[2].captured
    assert Ether(sent)[ARP].op == 2
