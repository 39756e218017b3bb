"""Flow key extraction against scapy: every frame kind a switch meets, field by field.

The expected flow is read from scapy's own dissection of the frame (``Ether(raw)``), so a
mistake in our parser cannot hide in the expectation.  Only what scapy does not model is
written by hand: Open vSwitch conventions (``eth_type`` 0x05ff for 802.3, the CFI bit as
"tag present") and the OpenFlow 1.3 IPv6 extension-header bits.
"""

from __future__ import annotations

import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR
from scapy.layers.inet6 import (
    ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop, IPv6ExtHdrRouting,
)
from scapy.layers.ipsec import AH, ESP
from scapy.layers.l2 import ARP, LLC, SNAP, Dot1AD, Dot1Q, Dot3, Ether
from scapy.layers.sctp import SCTP, SCTPChunkData
from scapy.layers.l2 import STP
from scapy.packet import Raw

from pyvswitch.packet import addr
from pyvswitch.packet.extract import (
    IEH_AUTH, IEH_DEST, IEH_ESP, IEH_FRAG, IEH_HOP, IEH_NONEXT, IEH_ROUTER, IEH_UNREP,
    IEH_UNSEQ, extract, extract_with_layout,
)
from pyvswitch.packet.fields import N_SLOTS, PIPELINE_SLOTS, Slot

S = Slot
MAC1, MAC2 = "00:11:22:33:44:55", "66:77:88:99:aa:bb"
L4_SLOTS = (S.TP_SRC, S.TP_DST, S.TCP_FLAGS, S.ND_TARGET)
L3_SLOTS = (S.NW_SRC, S.NW_DST, S.NW_PROTO, S.NW_TOS, S.NW_TTL, S.NW_FRAG, S.IPV6_SRC,
            S.IPV6_DST, S.IPV6_LABEL, S.IPV6_EXTHDR, S.ARP_SHA, S.ARP_THA) + L4_SLOTS
EXT_LAYERS = (IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
              AH)


def ip6(text: str) -> int:
    return addr.ipv6_to_int(text)


def scapy_flow(raw: bytes, in_port: int) -> dict[Slot, int]:
    """The flow a switch should see, read from scapy's dissection of ``raw``."""
    pkt = Ether(raw) if raw[12:14] >= b"\x06\x00" else Dot3(raw)
    exp = {S.IN_PORT: in_port, S.ETH_DST: addr.mac_to_int(pkt.dst),
           S.ETH_SRC: addr.mac_to_int(pkt.src)}
    layer = pkt.payload
    eth_type = pkt.type if isinstance(pkt, Ether) else 0x05FF
    tags = 0
    while isinstance(layer, (Dot1Q, Dot1AD)):
        if tags == 0:
            exp[S.VLAN_TCI] = layer.prio << 13 | 0x1000 | layer.vlan
        tags += 1
        eth_type = layer.type
        layer = layer.payload
    if isinstance(layer, LLC) and isinstance(layer.payload, SNAP):
        eth_type = layer.payload.code
        layer = layer.payload.payload
    exp[S.ETH_TYPE] = eth_type
    if eth_type == 0x8035 and isinstance(layer, Raw):  # scapy leaves RARP undissected
        layer = ARP(bytes(layer))
    if isinstance(layer, MPLS):
        exp[S.MPLS_LSE] = layer.label << 12 | layer.cos << 9 | layer.s << 8 | layer.ttl
    elif isinstance(layer, ARP):
        exp.update({S.NW_PROTO: layer.op, S.NW_SRC: addr.ipv4_to_int(layer.psrc),
                    S.NW_DST: addr.ipv4_to_int(layer.pdst),
                    S.ARP_SHA: addr.mac_to_int(layer.hwsrc),
                    S.ARP_THA: addr.mac_to_int(layer.hwdst)})
    elif isinstance(layer, IP):
        exp.update({S.NW_SRC: addr.ipv4_to_int(layer.src), S.NW_DST: addr.ipv4_to_int(layer.dst),
                    S.NW_PROTO: layer.proto, S.NW_TOS: layer.tos, S.NW_TTL: layer.ttl})
        if layer.frag or layer.flags.MF:
            exp[S.NW_FRAG] = 1 | (2 if layer.frag else 0)
        if not layer.frag:
            _transport(layer.payload, exp)
    elif isinstance(layer, IPv6):
        exp.update({S.IPV6_SRC: ip6(layer.src), S.IPV6_DST: ip6(layer.dst),
                    S.IPV6_LABEL: layer.fl, S.NW_TOS: layer.tc, S.NW_TTL: layer.hlim,
                    S.NW_PROTO: layer.nh})
        later = False
        layer = layer.payload
        while isinstance(layer, EXT_LAYERS):
            exp[S.NW_PROTO] = layer.nh
            if isinstance(layer, IPv6ExtHdrFragment):
                if layer.offset or layer.m:
                    exp[S.NW_FRAG] = 1 | (2 if layer.offset else 0)
                if layer.offset:
                    exp[S.NW_PROTO] = 44
                    later = True
                    break
            layer = layer.payload
        if not later:
            _transport(layer, exp)
    return exp


def _transport(layer, exp: dict[Slot, int]) -> None:
    if isinstance(layer, TCP):
        exp.update({S.TP_SRC: layer.sport, S.TP_DST: layer.dport,
                    S.TCP_FLAGS: layer.reserved << 9 | int(layer.flags)})
    elif isinstance(layer, (UDP, SCTP)):
        exp.update({S.TP_SRC: layer.sport, S.TP_DST: layer.dport})
    elif isinstance(layer, ICMP) or type(layer).__name__.startswith("ICMPv6"):
        exp.update({S.TP_SRC: layer.type, S.TP_DST: layer.code})
        if isinstance(layer, (ICMPv6ND_NS, ICMPv6ND_NA)):
            exp[S.ND_TARGET] = ip6(layer.tgt)
            opt = layer.payload
            while opt and not isinstance(opt, Raw):
                if isinstance(opt, ICMPv6NDOptDstLLAddr):  # (a subclass of Src)
                    exp[S.ARP_THA] = addr.mac_to_int(opt.lladdr)
                elif isinstance(opt, ICMPv6NDOptSrcLLAddr):
                    exp[S.ARP_SHA] = addr.mac_to_int(opt.lladdr)
                opt = opt.payload


E = Ether(src=MAC1, dst=MAC2)
V4 = IP(src="10.1.2.3", dst="192.168.7.9", tos=0xB8, ttl=17)
V6 = IPv6(src="2001:db8::1", dst="fe80::abcd", tc=0x2E, fl=0xBEEF5, hlim=9)
NS = ICMPv6ND_NS(tgt="2001:db8::99")
NA = ICMPv6ND_NA(tgt="2001:db8::77")
SLL = ICMPv6NDOptSrcLLAddr(lladdr="0a:0b:0c:0d:0e:0f")
TLL = ICMPv6NDOptDstLLAddr(lladdr="1a:1b:1c:1d:1e:1f")
PAY = Raw(b"payload!" * 3)

#: (name, frame, IPV6_EXTHDR expected by the OpenFlow 1.3 definitions)
FRAMES = [
    ("ipv4/tcp", E / V4 / TCP(sport=1234, dport=80, flags="SA") / PAY, 0),
    ("ipv4/tcp all flags+ns", E / V4 / TCP(flags=0x1FF, reserved=0) / PAY, 0),
    ("ipv4/udp", E / V4 / UDP(sport=5353, dport=53) / PAY, 0),
    ("ipv4/udp tiny", E / V4 / UDP(sport=7, dport=9), 0),
    ("ipv4/sctp", E / V4 / SCTP(sport=3868, dport=2905) / SCTPChunkData(data=b"x"), 0),
    ("ipv4/icmp echo", E / V4 / ICMP(type=8, code=0) / PAY, 0),
    ("ipv4/icmp unreach", E / V4 / ICMP(type=3, code=13) / PAY, 0),
    ("ipv4/igmp-ish other proto", E / IP(proto=47) / PAY, 0),
    ("ipv4 options", E / IP(options=[IPOption_RR(routers=["1.1.1.1"])]) / TCP() / PAY, 0),
    ("ipv4 first fragment", E / IP(flags="MF", frag=0) / UDP(sport=9, dport=10) / PAY, 0),
    ("ipv4 later fragment", E / IP(flags="MF", frag=100, proto=6) / PAY, 0),
    ("ipv4 last fragment", E / IP(frag=7, proto=17) / PAY, 0),
    ("ipv4 DF not a fragment", E / IP(flags="DF") / TCP(dport=22) / PAY, 0),
    ("ipv4 padded", E / IP() / UDP() / Raw(b"\0" * 30), 0),
    ("vlan/ipv4/tcp", E / Dot1Q(vlan=100, prio=5) / V4 / TCP(dport=443) / PAY, 0),
    ("vlan dei bit", E / Dot1Q(vlan=4095, prio=7, id=1) / V4 / UDP() / PAY, 0),
    ("qinq 802.1ad", E / Dot1AD(vlan=10, prio=1) / Dot1Q(vlan=20, prio=2) / V4 / UDP() / PAY,
     0),
    ("qinq 8100/8100", E / Dot1Q(vlan=30) / Dot1Q(vlan=40) / V6 / UDP() / PAY, 0),
    ("mpls single", E / MPLS(label=1000, cos=5, s=1, ttl=63) / V4 / TCP(), 0),
    ("mpls stack", E / MPLS(label=17, s=0, ttl=2) / MPLS(label=18, s=1) / V4 / TCP(), 0),
    ("vlan/mpls", E / Dot1Q(vlan=7) / MPLS(label=0xFFFFF, cos=7, ttl=255) / V4, 0),
    ("arp request", E / ARP(op=1, psrc="10.0.0.1", pdst="10.0.0.2", hwsrc=MAC1), 0),
    ("arp reply", E / ARP(op=2, psrc="10.0.0.2", pdst="10.0.0.1", hwsrc=MAC2, hwdst=MAC1), 0),
    ("rarp", Ether(src=MAC1, dst=MAC2, type=0x8035) / ARP(op=3, hwsrc=MAC1, hwdst=MAC1), 0),
    ("vlan/arp", E / Dot1Q(vlan=3) / ARP(op=1), 0),
    ("ipv6/tcp", E / V6 / TCP(sport=999, dport=8080, flags="FPU") / PAY, 0),
    ("ipv6/udp", E / V6 / UDP(sport=546, dport=547) / PAY, 0),
    ("ipv6/sctp", E / V6 / SCTP(sport=1, dport=2) / PAY, 0),
    ("ipv6/icmpv6 echo", E / V6 / ICMPv6EchoRequest() / PAY, 0),
    ("ipv6 hop-by-hop", E / V6 / IPv6ExtHdrHopByHop() / UDP() / PAY, IEH_HOP),
    ("ipv6 routing", E / V6 / IPv6ExtHdrRouting(addresses=["2001:db8::5"]) / TCP() / PAY,
     IEH_ROUTER),
    ("ipv6 dest opts", E / V6 / IPv6ExtHdrDestOpt() / TCP() / PAY, IEH_DEST),
    ("ipv6 atomic fragment", E / V6 / IPv6ExtHdrFragment(m=0, offset=0) / UDP() / PAY,
     IEH_FRAG),
    ("ipv6 first fragment", E / V6 / IPv6ExtHdrFragment(m=1) / UDP(dport=4) / PAY, IEH_FRAG),
    ("ipv6 later fragment", E / V6 / IPv6ExtHdrFragment(offset=9, nh=6) / PAY, IEH_FRAG),
    ("ipv6 AH", E / V6 / AH(nh=6, icv=b"\0" * 12) / TCP() / PAY, IEH_AUTH),
    ("ipv6 ESP", E / V6 / ESP(spi=1, seq=2, data=b"x" * 16), IEH_ESP),
    ("ipv6 no next header", E / IPv6(nh=59), IEH_NONEXT),
    ("ipv6 full chain", E / V6 / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()
     / IPv6ExtHdrRouting() / IPv6ExtHdrFragment() / AH(nh=17, icv=b"\0" * 4) / UDP() / PAY,
     IEH_HOP | IEH_DEST | IEH_ROUTER | IEH_FRAG | IEH_AUTH),
    ("ipv6 dest opts before routing and at the end", E / V6 / IPv6ExtHdrDestOpt()
     / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt() / UDP() / PAY, IEH_DEST | IEH_ROUTER),
    ("ipv6 dest opts twice in a row", E / V6 / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt()
     / UDP() / PAY, IEH_DEST | IEH_UNREP),
    ("ipv6 repeated routing", E / V6 / IPv6ExtHdrRouting() / IPv6ExtHdrRouting() / UDP(),
     IEH_ROUTER | IEH_UNREP),
    ("ipv6 out of order", E / V6 / IPv6ExtHdrFragment() / IPv6ExtHdrHopByHop() / UDP(),
     IEH_FRAG | IEH_HOP | IEH_UNSEQ),
    ("nd solicit + sll", E / V6 / NS / SLL, 0),
    ("nd advert + tll", E / V6 / NA / TLL, 0),
    ("nd solicit no options", E / V6 / NS, 0),
    ("nd both options", E / V6 / NA / SLL / TLL, 0),
    ("nd after hop-by-hop", E / V6 / IPv6ExtHdrHopByHop() / NS / SLL, IEH_HOP),
    ("802.3 snap ipv4", Dot3(src=MAC1, dst=MAC2) / LLC(dsap=0xAA, ssap=0xAA, ctrl=3)
     / SNAP(OUI=0, code=0x0800) / V4 / UDP() / PAY, 0),
    ("802.3 llc stp", Dot3(src=MAC1, dst=MAC2) / LLC() / STP(), 0),
]


@pytest.mark.parametrize("name,pkt,exthdr", FRAMES, ids=[f[0] for f in FRAMES])
def test_extract_matches_scapy(name, pkt, exthdr):
    raw = bytes(pkt)
    flow, layout = extract_with_layout(raw, 7)
    expected = scapy_flow(raw, 7)
    if expected.get(S.ETH_TYPE) == 0x86DD:
        expected[S.IPV6_EXTHDR] = exthdr
    got = {Slot(i): v for i, v in enumerate(flow) if v}
    assert got == {k: v for k, v in expected.items() if v}
    assert len(flow) == N_SLOTS and all(flow[s] == 0 for s in PIPELINE_SLOTS)
    assert extract(raw, 7) == flow  # fast path and general walk agree


def test_802_3_without_snap_has_eth_type_05ff():
    flow = extract(bytes(Dot3(src=MAC1, dst=MAC2) / LLC() / STP()), 1)
    assert flow[S.ETH_TYPE] == 0x05FF


def test_layout_offsets_point_at_headers():
    raw = bytes(E / Dot1Q(vlan=1) / IP(options=[IPOption_RR()]) / TCP(dataofs=6, options=[
        ("MSS", 1460)]) / PAY)
    _, lay = extract_with_layout(raw, 1)
    assert (lay.eth_type_ofs, lay.l3) == (16, 18)
    assert raw[lay.l3] >> 4 == 4
    assert lay.l4 == lay.l3 + 24 and lay.l7 == lay.l4 + 24
    assert raw[lay.l7:lay.end] == bytes(PAY)
    raw = bytes(E / MPLS(label=5, s=0) / MPLS(label=6) / V4)
    _, lay = extract_with_layout(raw, 1)
    assert (lay.l2_5, lay.l3, lay.l4) == (14, 22, -1)


# --- truncated and malformed frames: extraction stops at the last good layer ---------------

def _cut(pkt, keep: int) -> bytes:
    return bytes(pkt)[:keep]


def _fix_ip_len(raw: bytes, l3: int) -> bytes:
    """Make the IPv4 total length (and header checksum) agree with a cut frame."""
    ip = IP(raw[l3:])
    ip.len = len(raw) - l3
    del ip.chksum
    return raw[:l3] + bytes(ip)[:len(raw) - l3]


TRUNCATED = [
    # (name, frame, slots that must read zero although the full frame had them)
    ("13 bytes", _cut(E / V4 / TCP(), 13), "all"),
    ("ethernet only", _cut(E / V4 / TCP(), 14), L3_SLOTS),
    ("ipv4 cut in header", _cut(E / V4 / TCP(), 14 + 19), L3_SLOTS),
    ("ipv4 tot_len beyond frame", _cut(E / V4 / TCP() / PAY, 14 + 40), L3_SLOTS),
    ("tcp cut in header", _fix_ip_len(_cut(E / V4 / TCP() / PAY, 14 + 20 + 19), 14),
     L4_SLOTS),
    ("udp cut in header", _fix_ip_len(_cut(E / V4 / UDP() / PAY, 14 + 20 + 7), 14), L4_SLOTS),
    ("icmp cut", _fix_ip_len(_cut(E / V4 / ICMP() / PAY, 14 + 20 + 4), 14), L4_SLOTS),
    ("vlan tag cut", _cut(E / Dot1Q(vlan=5) / V4, 17), L3_SLOTS),
    ("mpls cut", _cut(E / MPLS(label=5) / V4, 16), ()),
    ("arp cut", _cut(E / ARP(), 14 + 27), L3_SLOTS),
    ("ipv6 cut in header", _cut(E / V6 / UDP(), 14 + 39), L3_SLOTS),
    ("ipv6 plen beyond frame", _cut(E / V6 / UDP() / PAY, 14 + 40 + 8), L3_SLOTS),
    ("nd target cut", bytes(E / IPv6(plen=12) / ICMPv6ND_NS())[:14 + 40 + 12],
     (S.ND_TARGET,)),
]


@pytest.mark.parametrize("name,raw,zeroed", TRUNCATED, ids=[t[0] for t in TRUNCATED])
def test_truncated_frames_keep_the_good_layers(name, raw, zeroed):
    flow = extract(raw, 3)
    assert extract_with_layout(raw, 3)[0] == flow
    if zeroed == "all":
        assert flow == (3,) + (0,) * (N_SLOTS - 1)
        return
    assert flow[S.ETH_DST] == addr.mac_to_int(MAC2) and flow[S.ETH_SRC] == addr.mac_to_int(MAC1)
    for slot in zeroed:
        assert flow[slot] == 0, slot.name


def test_truncated_tcp_keeps_ip_fields():
    raw = _fix_ip_len(_cut(E / V4 / TCP(sport=5) / PAY, 14 + 20 + 10), 14)
    flow = extract(raw, 1)
    assert flow[S.NW_PROTO] == 6 and flow[S.NW_TTL] == 17
    assert flow[S.NW_SRC] == addr.ipv4_to_int("10.1.2.3")
    assert flow[S.TP_SRC] == 0


def test_truncated_ipv6_extension_header_keeps_addresses_only():
    raw = bytes(E / V6 / IPv6ExtHdrHopByHop(len=4) / UDP())  # claims 40 bytes, has 8+8
    flow = extract(raw, 1)
    assert flow[S.IPV6_SRC] == ip6("2001:db8::1") and flow[S.IPV6_LABEL] == 0xBEEF5
    assert (flow[S.NW_PROTO], flow[S.NW_TTL], flow[S.TP_SRC]) == (0, 0, 0)


def test_duplicate_nd_option_voids_nd_fields():
    flow = extract(bytes(E / V6 / NS / SLL / SLL), 1)
    assert flow[S.TP_SRC] == 135
    assert (flow[S.ND_TARGET], flow[S.ARP_SHA], flow[S.ARP_THA]) == (0, 0, 0)


def test_arp_with_foreign_hardware_type_has_no_arp_fields():
    flow = extract(bytes(E / ARP(hwtype=6, psrc="1.2.3.4")), 1)
    assert flow[S.ETH_TYPE] == 0x0806 and flow[S.NW_SRC] == 0


def test_arp_opcode_above_255_is_not_matched():
    flow = extract(bytes(E / ARP(op=0x101, psrc="1.2.3.4")), 1)
    assert flow[S.NW_PROTO] == 0 and flow[S.NW_SRC] == addr.ipv4_to_int("1.2.3.4")


def test_third_vlan_tag_becomes_the_eth_type():
    flow = extract(bytes(E / Dot1Q(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3) / V4), 1)
    assert flow[S.ETH_TYPE] == 0x8100 and flow[S.VLAN_TCI] == 0x1001


def test_pbb_isid():
    raw = bytes(Ether(src=MAC1, dst=MAC2, type=0x88E7)) + bytes.fromhex("00abcdef") + bytes(20)
    assert extract(raw, 1)[S.PBB_ISID] == 0xABCDEF


def test_extract_accepts_bytearray_and_memoryview():
    raw = bytes(E / V4 / TCP() / PAY)
    assert extract(bytearray(raw), 2) == extract(memoryview(raw), 2) == extract(raw, 2)
