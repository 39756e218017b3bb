"""Frame edits as a receiver sees them: scapy dissects the edited frame, recomputes every
checksum itself and must find them already right; extract() must see the new value and
every other field as before."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    IPv6ExtHdrDestOpt, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr, IPv6, IPv6ExtHdrFragment, IPv6ExtHdrRouting,
)
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.layers.sctp import SCTP, SCTPChunkData
from scapy.packet import Raw

from pyvswitch.packet import addr
from pyvswitch.packet.edit import pop_mpls, pop_vlan, push_mpls, push_vlan, set_field, truncate
from pyvswitch.packet.extract import extract
from pyvswitch.packet.edit import _PREREQ_OK
from pyvswitch.packet.fields import (
    BY_NAME, FIELDS, N_SLOTS, PIPELINE_SLOTS, Prereq, Slot, flow_prereqs_ok,
)

E = Ether(src="00:11:22:33:44:55", dst="66:77:88:99:aa:bb")
V4 = IP(src="10.1.2.3", dst="192.168.7.9", tos=0x31, ttl=17)
V6 = IPv6(src="2001:db8::1", dst="fe80::abcd", tc=0x2E, fl=0xBEEF5, hlim=9)
PAY = Raw(b"some payload bytes")

TCP4 = E / V4 / TCP(sport=1234, dport=80, flags="PA") / PAY
UDP4 = E / V4 / UDP(sport=5353, dport=53) / PAY
SCTP4 = E / V4 / SCTP(sport=3868, dport=2905) / SCTPChunkData(data=b"abcdef")
ICMP4 = E / V4 / ICMP(type=8, code=0, id=7, seq=9) / PAY
TCP6 = E / V6 / TCP(sport=999, dport=8080) / PAY
UDP6 = E / V6 / UDP(sport=546, dport=547) / PAY
SCTP6 = E / V6 / SCTP(sport=1, dport=2) / SCTPChunkData(data=b"xyz")
ICMP6 = E / V6 / ICMPv6EchoRequest(id=3, seq=4) / PAY
NS = E / V6 / ICMPv6ND_NS(tgt="2001:db8::99") / ICMPv6NDOptSrcLLAddr(lladdr="0a:0b:0c:0d:0e:0f")
NA = E / V6 / ICMPv6ND_NA(tgt="2001:db8::77") / ICMPv6NDOptDstLLAddr(lladdr="1a:1b:1c:1d:1e:1f")
ARP_REQ = E / ARP(op=1, psrc="10.0.0.1", pdst="10.0.0.2", hwsrc="00:11:22:33:44:55")
VLAN = E / Dot1Q(vlan=100, prio=2) / V4 / UDP() / PAY
MPLS_F = E / MPLS(label=77, cos=1, s=1, ttl=20) / V4 / UDP()

mac = addr.mac_to_int
v4 = addr.ipv4_to_int
v6 = addr.ipv6_to_int

#: (field, frame, new value, what scapy reads back in the edited frame)
CASES = [
    ("eth_src", TCP4, mac("02:00:00:00:00:01"), lambda p: mac(p[Ether].src)),
    ("eth_dst", UDP6, mac("02:00:00:00:00:02"), lambda p: mac(p[Ether].dst)),
    ("vlan_tci", VLAN, 0x1000 | 6 << 13 | 42, lambda p: 0x1000 | p[Dot1Q].prio << 13
     | p[Dot1Q].vlan),
    ("vlan_vid", VLAN, 0x1000 | 4094, lambda p: 0x1000 | p[Dot1Q].vlan),
    ("vlan_pcp", VLAN, 7, lambda p: p[Dot1Q].prio),
    ("mpls_label", MPLS_F, 0xABCDE, lambda p: p[MPLS].label),
    ("mpls_tc", MPLS_F, 6, lambda p: p[MPLS].cos),
    ("mpls_ttl", MPLS_F, 1, lambda p: p[MPLS].ttl),
    ("ip_src", TCP4, v4("172.16.0.1"), lambda p: v4(p[IP].src)),
    ("ip_dst", UDP4, v4("8.8.8.8"), lambda p: v4(p[IP].dst)),
    ("ip_src", ICMP4, v4("1.1.1.1"), lambda p: v4(p[IP].src)),
    ("ip_dst", SCTP4, v4("9.9.9.9"), lambda p: v4(p[IP].dst)),
    ("ip_dscp", TCP4, 46, lambda p: p[IP].tos >> 2),
    ("nw_tos", UDP4, 0xFC, lambda p: p[IP].tos),
    ("ip_ecn", TCP4, 3, lambda p: p[IP].tos & 3),
    ("nw_ttl", TCP4, 1, lambda p: p[IP].ttl),
    ("ipv6_src", TCP6, v6("2001:db8::beef"), lambda p: v6(p[IPv6].src)),
    ("ipv6_dst", UDP6, v6("ff02::1:ff00:1"), lambda p: v6(p[IPv6].dst)),
    ("ipv6_src", ICMP6, v6("::1"), lambda p: v6(p[IPv6].src)),
    ("ipv6_dst", SCTP6, v6("2001::2"), lambda p: v6(p[IPv6].dst)),
    ("ipv6_label", TCP6, 0x12345, lambda p: p[IPv6].fl),
    ("ip_dscp", UDP6, 10, lambda p: p[IPv6].tc >> 2),
    ("nw_tos", TCP6, 0x11, lambda p: p[IPv6].tc),
    ("nw_ttl", UDP6, 255, lambda p: p[IPv6].hlim),
    ("arp_op", ARP_REQ, 2, lambda p: p[ARP].op),
    ("arp_spa", ARP_REQ, v4("10.9.9.9"), lambda p: v4(p[ARP].psrc)),
    ("arp_tpa", ARP_REQ, v4("10.8.8.8"), lambda p: v4(p[ARP].pdst)),
    ("arp_sha", ARP_REQ, mac("aa:aa:aa:aa:aa:aa"), lambda p: mac(p[ARP].hwsrc)),
    ("arp_tha", ARP_REQ, mac("bb:bb:bb:bb:bb:bb"), lambda p: mac(p[ARP].hwdst)),
    ("tcp_src", TCP4, 4321, lambda p: p[TCP].sport),
    ("tcp_dst", TCP6, 22, lambda p: p[TCP].dport),
    ("udp_src", UDP6, 1, lambda p: p[UDP].sport),
    ("udp_dst", UDP4, 65535, lambda p: p[UDP].dport),
    ("sctp_src", SCTP4, 100, lambda p: p[SCTP].sport),
    ("sctp_dst", SCTP6, 200, lambda p: p[SCTP].dport),
    ("icmp_type", ICMP4, 0, lambda p: p[ICMP].type),
    ("icmp_code", ICMP4, 3, lambda p: p[ICMP].code),
    ("icmpv6_type", ICMP6, 129, lambda p: p[IPv6].payload.type),
    ("icmpv6_code", ICMP6, 5, lambda p: p[IPv6].payload.code),
    ("nd_target", NS, v6("fe80::1234"), lambda p: v6(p[ICMPv6ND_NS].tgt)),
    ("nd_target", NA, v6("fe80::4321"), lambda p: v6(p[ICMPv6ND_NA].tgt)),
    ("nd_sll", NS, mac("02:02:02:02:02:02"), lambda p: mac(p[ICMPv6NDOptSrcLLAddr].lladdr)),
    ("nd_tll", NA, mac("04:04:04:04:04:04"), lambda p: mac(p[ICMPv6NDOptDstLLAddr].lladdr)),
]


PBB = Ether(type=0x88E7) / Raw(bytes.fromhex("60123456") + bytes(30))
CASES.append(("pbb_isid", PBB, 0xABCDEF,
              lambda p: int.from_bytes(bytes(p.payload)[1:4], "big")))
CASES.append(("pbb_uca", PBB, 1, lambda p: bytes(p.payload)[0] >> 3 & 1))


# The fields that say what comes next (Open vSwitch cannot write them): cases whose new
# value leaves the rest of the frame parsed the same way.
CASES += [
    ("eth_type", ARP_REQ, 0x8035, lambda p: p[Ether].type),            # ARP -> RARP
    ("mpls_bos", MPLS_F, 0, lambda p: p[MPLS].s),
    ("ip_proto", E / IP(src="10.1.2.3", proto=253) / PAY, 254, lambda p: p[IP].proto),
    ("ip_proto", E / IPv6(src="2001:db8::1", nh=253) / PAY, 254, lambda p: p[IPv6].nh),
]


def assert_checksums_valid(raw: bytes) -> None:
    """scapy, recomputing every checksum of ``raw`` itself, must reproduce ``raw``."""
    pkt = Ether(raw)
    layer = pkt
    while layer:
        for name in ("chksum", "cksum"):
            if name in layer.fields and not (isinstance(layer, UDP) and layer.chksum == 0):
                layer.fields[name] = None
        layer = layer.payload
    assert bytes(Ether(bytes(pkt))) == raw


def test_cases_cover_every_writable_packet_field():
    writable = {f.name for f in FIELDS if f.writable and f.slot not in PIPELINE_SLOTS
                and f.slot not in (Slot.IN_PORT, Slot.TUN_ID, Slot.PKT_MARK)}
    assert writable - {c[0] for c in CASES} == set()


@pytest.mark.parametrize("name,pkt,value,read", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_set_field(name, pkt, value, read):
    fld = BY_NAME[name]
    raw = bytes(pkt)
    assert_checksums_valid(raw)
    before = extract(raw, 1)
    out = set_field(raw, fld, value)
    assert out != raw
    assert read(Ether(out)) == value
    assert_checksums_valid(out)
    after = extract(out, 1)
    assert fld.get(after) == value
    keep = ~fld.mask
    assert [a & keep if i == fld.slot else a for i, a in enumerate(after)] == \
        [b & keep if i == fld.slot else b for i, b in enumerate(before)]


def test_masked_set_changes_only_masked_bits():
    raw = bytes(TCP4)
    out = set_field(raw, BY_NAME["ip_src"], v4("255.255.0.0"), mask=0xFF000000)
    assert Ether(out)[IP].src == "255.1.2.3"
    assert_checksums_valid(out)
    out = set_field(raw, BY_NAME["eth_dst"], 0, mask=0xFF)
    assert Ether(out).dst == "66:77:88:99:aa:00"


def test_udp_zero_checksum_stays_zero():
    pkt = E / V4 / UDP(sport=1, dport=2, chksum=0) / PAY
    out = set_field(bytes(pkt), BY_NAME["ip_src"], v4("1.2.3.4"))
    out = set_field(out, BY_NAME["udp_dst"], 999)
    assert Ether(out)[UDP].chksum == 0 and Ether(out)[UDP].dport == 999
    assert_checksums_valid(out)


def test_set_on_absent_field_is_noop():
    assert set_field(bytes(UDP4), BY_NAME["tcp_src"], 5) == bytes(UDP4)
    assert set_field(bytes(TCP4), BY_NAME["vlan_vid"], 0x1005) == bytes(TCP4)
    assert set_field(bytes(TCP4), BY_NAME["ipv6_src"], 1) == bytes(TCP4)
    assert set_field(bytes(TCP6), BY_NAME["nd_target"], 1) == bytes(TCP6)
    ns_no_opt = bytes(E / V6 / ICMPv6ND_NS(tgt="::5"))
    assert set_field(ns_no_opt, BY_NAME["nd_sll"], 5) == ns_no_opt
    assert set_field(bytes(TCP4), BY_NAME["reg3"], 5) == bytes(TCP4)
    assert set_field(bytes(TCP4)[:30], BY_NAME["ip_src"], 5) == bytes(TCP4)[:30]
    assert set_field(b"\x01\x02", BY_NAME["eth_src"], 5) == b"\x01\x02"


def test_later_fragment_payload_untouched_by_address_change():
    pkt = E / IP(flags="MF", frag=10, proto=6, src="1.1.1.1") / Raw(bytes(range(40)))
    out = set_field(bytes(pkt), BY_NAME["ip_src"], v4("2.2.2.2"))
    assert out[34:] == bytes(pkt)[34:]
    assert Ether(out)[IP].src == "2.2.2.2"
    assert_checksums_valid(out)


def test_ipv6_dst_with_routing_header_keeps_checksum_of_final_destination():
    pkt = E / V6 / IPv6ExtHdrRouting(addresses=["2001:db8::5"], segleft=1) / UDP() / PAY
    raw = bytes(pkt)
    out = set_field(raw, BY_NAME["ipv6_dst"], v6("2001:db8::4"))
    assert Ether(out)[IPv6].dst == "2001:db8::4"
    assert_checksums_valid(out)


def test_ipv6_first_fragment_tcp_port_change():
    raw = bytes(E / V6 / IPv6ExtHdrFragment(m=1) / TCP(sport=1) / PAY)
    out = set_field(raw, BY_NAME["tcp_src"], 2)
    assert Ether(out)[TCP].sport == 2


def test_push_and_pop_vlan():
    raw = bytes(TCP4)
    tagged = push_vlan(raw, 0x8100, 0x1000 | 5 << 13 | 123)
    pkt = Ether(tagged)
    assert pkt[Dot1Q].vlan == 123 and pkt[Dot1Q].prio == 5 and pkt[Dot1Q].id == 0
    flow = extract(tagged, 1)
    assert flow[Slot.VLAN_TCI] == 0x1000 | 5 << 13 | 123
    assert pop_vlan(tagged) == raw
    double = push_vlan(tagged, 0x88A8, 0x1000 | 7)
    assert extract(double, 1)[Slot.VLAN_TCI] == 0x1007
    assert extract(double, 1)[Slot.TP_DST] == 80
    assert pop_vlan(pop_vlan(double)) == raw
    assert pop_vlan(raw) == raw


def test_push_and_pop_mpls():
    raw = bytes(VLAN)
    lse = 500 << 12 | 1 << 8 | 64
    pushed = push_mpls(raw, 0x8847, lse)
    pkt = Ether(pushed)
    assert pkt[Dot1Q].type == 0x8847 and pkt[MPLS].label == 500 and pkt[MPLS].ttl == 64
    flow = extract(pushed, 1)
    assert flow[Slot.ETH_TYPE] == 0x8847 and flow[Slot.MPLS_LSE] == lse
    assert flow[Slot.VLAN_TCI] == extract(raw, 1)[Slot.VLAN_TCI]
    twice = push_mpls(pushed, 0x8847, 600 << 12 | 32)
    assert extract(twice, 1)[Slot.MPLS_LSE] == 600 << 12 | 32
    once = pop_mpls(twice, 0x8847)
    assert once == pushed
    assert pop_mpls(once, 0x0800) == raw
    assert pop_mpls(raw, 0x0800) == raw
    assert push_mpls(raw, 0x0800, lse) == raw


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([0x0800, 0x86DD, 0x0806, 0x8035, 0x8847, 0x8848, 0x88E7, 0x1234]),
       st.sampled_from([0, 1, 6, 17, 58, 132]), st.integers(0, 0xFFFF),
       st.sampled_from([0, 1, 135, 136]), st.sampled_from([0, 1]))
def test_edit_prerequisites_agree_with_the_field_catalogue(eth_type, proto, tci, tp_src, tp_dst):
    flow = [0] * N_SLOTS
    flow[Slot.ETH_TYPE], flow[Slot.NW_PROTO], flow[Slot.VLAN_TCI] = eth_type, proto, tci
    flow[Slot.TP_SRC], flow[Slot.TP_DST] = tp_src, tp_dst
    for prereq in Prereq:
        assert _PREREQ_OK[prereq](tuple(flow)) == flow_prereqs_ok(flow, prereq), prereq


def test_truncate():
    raw = bytes(TCP4)
    assert truncate(raw, 20) == raw[:20]
    assert truncate(raw, 10_000) == raw


def _l4_checksum_ok(ip, proto: int, l4: bytes) -> bool:
    """The transport checksum in ``l4`` is right for a pseudo-header naming ``proto``."""
    import socket
    import struct
    from scapy.utils import checksum
    if ip.version == 4:
        pseudo = (socket.inet_aton(ip.src) + socket.inet_aton(ip.dst)
                  + struct.pack("!BBH", 0, proto, len(l4)))
    else:
        pseudo = (socket.inet_pton(socket.AF_INET6, ip.src)
                  + socket.inet_pton(socket.AF_INET6, ip.dst)
                  + struct.pack("!I3xB", len(l4), proto))
    return checksum(pseudo + l4) == 0


@pytest.mark.parametrize("pkt", [TCP4, E / Dot1Q(vlan=5) / V4 / TCP() / PAY, UDP4])
def test_ip_proto_ipv4_keeps_both_checksums(pkt):
    """The IPv4 checksum is recomputed; the transport checksum, which covers the protocol
    through the pseudo-header, is updated for the new one (as os-ken's model packets)."""
    out = set_field(bytes(pkt), BY_NAME["ip_proto"], 17 if TCP in pkt else 6)
    ip = Ether(out)[IP]
    assert ip.proto == (17 if TCP in pkt else 6)
    fixed = Ether(out)
    del fixed[IP].chksum
    assert Ether(bytes(fixed))[IP].chksum == ip.chksum
    assert _l4_checksum_ok(ip, ip.proto, bytes(ip.payload))
    assert len(out) == len(bytes(pkt))
    assert extract(out, 1)[Slot.NW_PROTO] == ip.proto


def test_ip_proto_ipv6_rewrites_the_last_next_header():
    from scapy.layers.inet6 import IPv6ExtHdrHopByHop
    pkt = E / V6 / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / TCP(sport=7) / PAY
    out = set_field(bytes(pkt), BY_NAME["ip_proto"], 17)
    p = Ether(out)
    assert p[IPv6].nh == 0 and p[IPv6ExtHdrHopByHop].nh == 60 and p[IPv6ExtHdrDestOpt].nh == 17
    assert _l4_checksum_ok(p[IPv6], 17, bytes(p[IPv6ExtHdrDestOpt].payload))
    assert extract(out, 1)[Slot.NW_PROTO] == 17
    plain = set_field(bytes(TCP6), BY_NAME["ip_proto"], 17)
    assert Ether(plain)[IPv6].nh == 17
    assert _l4_checksum_ok(Ether(plain)[IPv6], 17, bytes(Ether(plain)[IPv6].payload))


def test_ip_proto_leaves_later_ipv6_fragments_and_non_ip_alone():
    later = bytes(E / V6 / IPv6ExtHdrFragment(offset=5, nh=6) / Raw(bytes(16)))
    assert set_field(later, BY_NAME["ip_proto"], 17) == later
    assert set_field(bytes(ARP_REQ), BY_NAME["ip_proto"], 17) == bytes(ARP_REQ)


def test_eth_type_rewrites_the_innermost_ethertype():
    out = set_field(bytes(VLAN), BY_NAME["eth_type"], 0x8848)
    assert Ether(out)[Ether].type == 0x8100 and Ether(out)[Dot1Q].type == 0x8848
    assert out[18:] == bytes(VLAN)[18:]
    assert extract(out, 1)[Slot.ETH_TYPE] == 0x8848
    out = set_field(bytes(TCP4), BY_NAME["eth_type"], 0x86DD)
    assert out[12:14] == b"\x86\xdd" and out[14:] == bytes(TCP4)[14:]
    llc = bytes(Ether(type=40)) + bytes(40)             # 802.3 without SNAP: no EtherType
    assert set_field(llc, BY_NAME["eth_type"], 0x0800) == llc


def test_mpls_bos_changes_only_the_s_bit():
    raw = bytes(MPLS_F)
    out = set_field(raw, BY_NAME["mpls_bos"], 0)
    assert out[16] == raw[16] & ~1 and out[:16] == raw[:16] and out[17:] == raw[17:]
    assert set_field(out, BY_NAME["mpls_bos"], 1) == raw
    assert set_field(bytes(TCP4), BY_NAME["mpls_bos"], 0) == bytes(TCP4)


def test_pbb_uca_and_isid_share_the_i_tag_word():
    raw = bytes(Ether(type=0x88E7) / Raw(bytes.fromhex("6c123456") + bytes(30)))
    flow = extract(raw, 1)
    assert BY_NAME["pbb_uca"].get(flow) == 1 and BY_NAME["pbb_isid"].get(flow) == 0x123456
    out = set_field(raw, BY_NAME["pbb_isid"], 0xABCDEF)
    assert out[14:18] == bytes.fromhex("6cabcdef")          # PCP, DEI, UCA, Res kept
    out = set_field(out, BY_NAME["pbb_uca"], 0)
    assert out[14:18] == bytes.fromhex("64abcdef")          # only the UCA bit
