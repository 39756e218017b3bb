"""Every datapath action, executed by the datapath on dummy ports, changes the frame as a
receiver would see it (checked by decoding the output with scapy)."""

import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Dot1Q, Ether

from pyvswitch.datapath import (DpifNetdev, Output, PopMpls, PopVlan, PushMpls, PushVlan,
                                SetField, Truncate, UpcallKind, Userspace)
from pyvswitch.datapath.actions import ActionError, apply_actions, format_actions
from pyvswitch.netdev import open_netdev
from pyvswitch.packet.fields import field


def tcp_frame():
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                 / IP(src="10.0.0.1", dst="10.0.0.2", ttl=64)
                 / TCP(sport=1234, dport=80, flags="S") / b"payload")


@pytest.fixture
def dp():
    d = DpifNetdev()
    ports = {i: open_netdev(f"a{i}", "dummy") for i in (1, 2, 3)}
    for i, dev in ports.items():
        d.port_add(dev, i)
    d.devs = ports
    return d


def run(dp, frame, actions):
    dp.execute(frame, actions, now=0, in_odp_port=1)
    return dp.devs[2].captured


def checksums_ok(pkt):
    again = Ether(bytes(pkt))
    for layer in (IP, TCP, UDP):
        if layer in again:
            want = again[layer].chksum
            del again[layer].chksum
            assert Ether(bytes(again))[layer].chksum == want, layer
            again = Ether(bytes(pkt))


def test_set_fields_rewrite_headers_and_fix_checksums(dp):
    (out,) = run(dp, tcp_frame(), [
        SetField(field("eth_dst"), 0x0200000000AA),
        SetField(field("ip_dst"), 0xC0A80001),
        SetField("tcp_dst", 8080),
        SetField("nw_ttl", 9),
        Output(2)])
    p = Ether(out)
    assert p.dst == "02:00:00:00:00:aa" and p[IP].dst == "192.168.0.1"
    assert p[TCP].dport == 8080 and p[IP].ttl == 9 and bytes(p[TCP].payload) == b"payload"
    checksums_ok(p)


def test_masked_set_field_changes_only_masked_bits(dp):
    (out,) = run(dp, tcp_frame(), [SetField("ip_src", 0x00000063, 0x000000FF), Output(2)])
    assert Ether(out)[IP].src == "10.0.0.99"
    checksums_ok(Ether(out))


def test_push_and_pop_vlan(dp):
    f = tcp_frame()
    (tagged,) = run(dp, f, [PushVlan(0x8100, (5 << 13) | 42), Output(2)])
    p = Ether(tagged)
    assert p.type == 0x8100 and p[Dot1Q].vlan == 42 and p[Dot1Q].prio == 5
    assert bytes(p[IP]) == bytes(Ether(f)[IP])
    dp.devs[2].captured.clear()
    (untagged,) = run(dp, tagged, [PopVlan(), Output(2)])
    assert untagged == f


def test_push_and_pop_mpls(dp):
    f = tcp_frame()
    lse = (1000 << 12) | (1 << 8) | 63
    (labelled,) = run(dp, f, [PushMpls(0x8847, lse), Output(2)])
    p = Ether(labelled)
    assert p.type == 0x8847 and p[MPLS].label == 1000 and p[MPLS].ttl == 63
    dp.devs[2].captured.clear()
    (plain,) = run(dp, labelled, [PopMpls(0x0800), Output(2)])
    assert plain == f


def test_truncate_only_cuts_the_next_output(dp):
    f = tcp_frame()
    dp.execute(f, [Truncate(30), Output(2), Output(3)], now=0)
    assert dp.devs[2].captured == [f[:30]] and dp.devs[3].captured == [f]


def test_userspace_action_in_execute_yields_action_upcall(dp):
    f = tcp_frame()
    dp.execute(f, [Userspace(cookie=b"\x01\x02"), Output(2)], now=0, in_odp_port=3)
    assert dp.devs[2].captured == [f]
    (up,) = dp.run(now=0)
    assert up.kind is UpcallKind.ACTION and up.cookie == b"\x01\x02"
    assert up.in_odp_port == 3 and up.frame == f


def test_inapplicable_edits_leave_the_frame_alone_and_bad_actions_are_refused(dp):
    f = tcp_frame()
    dp.execute(f, [PopVlan(), PopMpls(0x800), SetField("arp_op", 2), Output(2)], now=0)
    assert dp.devs[2].captured == [f]
    with pytest.raises(TypeError):
        dp.execute(f, ["output:2"], now=0)


def test_edit_errors_become_action_errors_and_the_datapath_counts_them(dp):
    class Boom(Exception):
        pass

    import pyvswitch.packet.edit as edit
    orig = edit.pop_vlan
    edit.pop_vlan = lambda frame: (_ for _ in ()).throw(Boom("no tag"))
    try:
        with pytest.raises(ActionError):
            apply_actions(tcp_frame(), [PopVlan()], lambda p, f: None, lambda f, c: None)
        dp.execute(tcp_frame(), [PopVlan(), Output(2)], now=0)
        assert dp.devs[2].captured == [] and dp.stats().n_action_errors == 1
    finally:
        edit.pop_vlan = orig


def test_format_actions_reads_like_ovs():
    assert format_actions([]) == "drop"
    assert format_actions([PushVlan(0x8100, 0x2005), Output(2), Truncate(100),
                           PopVlan()]) == "push_vlan(vid=5,pcp=1),2,trunc(100),pop_vlan"


def test_masked_set_of_a_header_rewrites_its_fields_and_reads_like_ovs(dp):
    from pyvswitch.datapath.actions import SetMasked
    act = SetMasked("ipv4", (("src", field("ip_src"), 0x0A000009, 0xFFFFFFFF),
                             ("tos", field("nw_tos"), 0x08, 0xFC),
                             ("ttl", field("nw_ttl"), 7, 0xFF)))
    assert format_actions([act, Output(2)]) == \
        "set(ipv4(src=10.0.0.9,tos=0x8/0xfc,ttl=7)),2"
    frame = bytes(Ether() / IP(src="10.0.0.1", tos=0x03, ttl=64) / TCP() / b"x")
    (out,) = run(dp, frame, [act, Output(2)])
    p = Ether(out)
    assert (p[IP].src, p[IP].tos, p[IP].ttl) == ("10.0.0.9", 0x0B, 7)  # ECN bits kept
    checksums_ok(p)
    eth = SetMasked("eth", (("dst", field("eth_dst"), 0x0200000000AA, (1 << 48) - 1),))
    tcp = SetMasked("tcp", (("dst", field("tcp_dst"), 0x0100, 0xFF00),))
    assert format_actions([eth, tcp]) == \
        "set(eth(dst=02:00:00:00:00:aa)),set(tcp(dst=256/0xff00))"
    out = run(dp, frame, [eth, tcp, Output(2)])[-1]
    assert Ether(out).dst == "02:00:00:00:00:aa" and Ether(out)[TCP].dport == 0x0150


def test_megaflow_keys_read_like_ovs_datapath_flows():
    from pyvswitch.datapath.format import format_odp_key
    from pyvswitch.packet.fields import N_SLOTS, SLOT_BITS, Slot
    key, mask = [0] * N_SLOTS, [0] * N_SLOTS

    def put(slot, value, m=None):
        key[slot] = value
        mask[slot] = (1 << SLOT_BITS[slot]) - 1 if m is None else m
    put(Slot.IN_PORT, 3)
    put(Slot.RECIRC_ID, 0)
    put(Slot.ETH_TYPE, 0x0800)
    put(Slot.VLAN_TCI, 0)
    put(Slot.ETH_SRC, 0x020000000003)
    put(Slot.NW_SRC, 0x0A000000, 0xFF000000)
    put(Slot.NW_PROTO, 6)
    put(Slot.NW_FRAG, 0)
    put(Slot.NW_TOS, 0, 0xFC)
    put(Slot.TP_DST, 80)
    assert format_odp_key(key, mask) == (
        "recirc_id(0),in_port(3),packet_type(ns=0,id=0),eth(src=02:00:00:00:00:03),"
        "eth_type(0x0800),ipv4(src=10.0.0.0/255.0.0.0,proto=6,tos=0/0xfc,frag=no),"
        "tcp(dst=80)")
    put(Slot.VLAN_TCI, 0x1005, 0x1FFF)         # the VID matched, the priority not
    put(Slot.ETH_SRC, 0, 0)
    put(Slot.NW_SRC, 0, 0)
    put(Slot.NW_PROTO, 0, 0)
    put(Slot.NW_TOS, 0, 0)
    assert format_odp_key(key, mask) == (
        "recirc_id(0),in_port(3),packet_type(ns=0,id=0),eth_type(0x8100),"
        "vlan(vid=5),encap(eth_type(0x0800),ipv4(frag=no))")
