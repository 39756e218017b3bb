"""Match codecs (OF1.0 ofp_match, OXM, NXM) against os-ken, plus OVS's decode errors.

os-ken builds and serializes matches that we decode, and parses the matches we encode;
the expected values are written with our own field names so a disagreement in either
direction fails.  Error cases are hand-built byte strings with the error OVS returns.
A hypothesis test feeds random and mutated bytes: only OFPError may escape.
"""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from os_ken.ofproto import ofproto_v1_0_parser as p10
from os_ken.ofproto import ofproto_v1_3_parser as p13
from os_ken.ofproto import ofproto_v1_5_parser as p15

from pyvswitch.openflow import match_codec as MC
from pyvswitch.openflow import match_plans as MP
from pyvswitch.openflow import match_ofp10
from pyvswitch.openflow import ofpacts as A
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.flow_format import format_match
from pyvswitch.openflow.flow_parse import parse_match
from pyvswitch.packet.fields import BY_NAME, Match, Slot

OXM_VERSIONS = (0x04, 0x05, 0x06)


def _mac(text: str) -> int:
    return int(text.replace(":", ""), 16)


def _ip(text: str) -> int:
    return int(ipaddress.ip_address(text))


def _osken_value(name: str, value):
    """os-ken's value (maybe a (value, mask) tuple) as our ints."""
    def conv(v):
        if isinstance(v, str):
            return _mac(v) if ":" in v and "." not in v and v.count(":") == 5 else _ip(v)
        return v
    if isinstance(value, tuple):
        return conv(value[0]), conv(value[1])
    return conv(value), None


# (os-ken keyword arguments, our field name for each keyword when it differs)
OSKEN_MATCHES = [
    dict(in_port=1),
    dict(in_port=0xFFFFFFFE, eth_dst="01:02:03:04:05:06"),
    dict(eth_src=("00:11:22:00:00:00", "ff:ff:ff:00:00:00"), eth_type=0x88CC),
    dict(eth_type=0x0800, ip_proto=6, ipv4_src=("10.0.0.0", "255.0.0.0"), tcp_dst=80),
    dict(eth_type=0x0800, ip_proto=17, ipv4_dst="192.168.1.1", udp_src=53, udp_dst=5353),
    dict(eth_type=0x0800, ip_proto=132, sctp_src=1, sctp_dst=2),
    dict(eth_type=0x0800, ip_proto=1, icmpv4_type=8, icmpv4_code=0),
    dict(eth_type=0x0800, ip_dscp=46, ip_ecn=1),
    dict(eth_type=0x0806, arp_op=2, arp_spa="10.0.0.1", arp_tpa=("10.0.0.0", "255.255.255.0"),
         arp_sha="00:00:00:00:00:01", arp_tha="00:00:00:00:00:02"),
    dict(eth_type=0x86DD, ipv6_src=("2001:db8::", "ffff:ffff::"), ipv6_dst="2001:db8::1",
         ipv6_flabel=0x12345),
    dict(eth_type=0x86DD, ip_proto=58, icmpv6_type=135, icmpv6_code=0,
         ipv6_nd_target="2001:db8::7", ipv6_nd_sll="00:00:00:00:00:09"),
    dict(eth_type=0x86DD, ip_proto=58, icmpv6_type=136, ipv6_nd_tll="00:00:00:00:00:0a"),
    dict(vlan_vid=0x1005, vlan_pcp=3),
    dict(vlan_vid=(0x1000, 0x1000)),
    dict(vlan_vid=0x0000),
    dict(eth_type=0x8847, mpls_label=0x12345, mpls_tc=5, mpls_bos=1),
    dict(eth_type=0x88E7, pbb_isid=(0x123400, 0xFFFF00)),
    dict(metadata=(0x10, 0xF0), tunnel_id=0x55),
    dict(reg0=5, reg3=(0x80000000, 0x80000000), pkt_mark=7),
    dict(eth_type=0x86DD, ipv6_exthdr=(0x10, 0x0F0)),
    dict(eth_type=0x0800, ip_proto=6, tcp_flags=(0x12, 0x12)),
    dict(reg1=(0x10, 0xF0)),
]
_NAMES = {"icmpv4_type": "icmp_type", "icmpv4_code": "icmp_code", "ipv4_src": "ip_src",
          "ipv4_dst": "ip_dst", "ipv6_flabel": "ipv6_label", "ipv6_nd_target": "nd_target",
          "ipv6_nd_sll": "nd_sll", "ipv6_nd_tll": "nd_tll", "tunnel_id": "tun_id"}


def _expected(kwargs: dict) -> Match:
    match = Match()
    for name, value in kwargs.items():
        v, m = _osken_value(name, value)
        if name == "arp_op":
            match.set_slot(Slot.NW_PROTO, v, 0xFF)
        else:
            match.set(BY_NAME[_NAMES.get(name, name)], v, m)
    if "vlan_pcp" in kwargs:  # a priority is only matched on tagged packets
        match.masks[Slot.VLAN_TCI] |= 0x1000
    return match


def _osken_oxm(kwargs: dict, parser=p13) -> bytes:
    buf = bytearray()
    parser.OFPMatch(**kwargs).serialize(buf, 0)
    return bytes(buf)


@pytest.mark.parametrize("kwargs", OSKEN_MATCHES, ids=lambda k: ",".join(k))
def test_oxm_decodes_what_osken_encodes(kwargs: dict) -> None:
    raw = _osken_oxm(kwargs)
    match, used = MC.decode_oxm_match(raw + b"trailer!", 0)
    assert used == len(raw)
    assert match == _expected(kwargs)


@pytest.mark.parametrize("kwargs", OSKEN_MATCHES, ids=lambda k: ",".join(k))
@pytest.mark.parametrize("version", OXM_VERSIONS)
def test_osken_decodes_what_we_encode(kwargs: dict, version: int) -> None:
    match = _expected(kwargs)
    raw = MC.encode_oxm_match(match, version)
    assert len(raw) % 8 == 0
    parser = p15 if version == 0x06 else p13
    theirs = dict(parser.OFPMatch.parser(raw, 0).items())
    ours = {}
    for name, value in kwargs.items():
        v, m = _osken_value(name, value)
        ours[name] = v if m is None else (v, m)
    got = {}
    for name, value in theirs.items():
        if name == "tcp_flags_nxm":
            name = "tcp_flags"
        v, m = _osken_value(name, value)
        got[name] = v if m is None else (v, m)
    assert got == ours
    assert MC.decode_oxm_match(raw, 0) == (match, len(raw))


def test_oxm_uses_each_versions_tcp_flags_header() -> None:
    match = _expected(dict(eth_type=0x0800, ip_proto=6, tcp_flags=2))
    onf = MC.encode_oxm_match(match, 0x04)
    basic = MC.encode_oxm_match(match, 0x06)
    assert struct.pack("!II", 0xFFFF5406, 0x4F4E4600) in onf        # ONF experimenter 42
    assert struct.pack("!I", 0x80005402) in basic                   # OXM_OF_TCP_FLAGS
    assert MC.decode_oxm_match(onf, 0)[0] == MC.decode_oxm_match(basic, 0)[0] == match


def test_xreg_covers_two_registers_high_half_first() -> None:
    raw = _osken_oxm(dict(xreg1=(0x0000000500000007, 0xFFFFFFFF0000FFFF)))
    match, _ = MC.decode_oxm_match(raw, 0)
    assert match.get("reg2") == (5, 0xFFFFFFFF)
    assert match.get("reg3") == (7, 0xFFFF)


def test_nicira_fields_inside_oxm() -> None:
    raw = _osken_oxm(dict(eth_type_nxm=0x0800, vlan_tci=(0x1000, 0x1000), nw_tos=0x20,
                          ipv4_src_nxm="10.1.2.3", reg5=9))
    match, _ = MC.decode_oxm_match(raw, 0)
    assert match.get("vlan_tci") == (0x1000, 0x1000)
    assert match.get("ip_dscp") == (8, 0x3F)
    assert match.get("ip_ecn") == (0, 0)
    assert match.get("ip_src") == (0x0A010203, 0xFFFFFFFF)
    assert match.get("reg5") == (9, 0xFFFFFFFF)


# --- OpenFlow 1.0 -------------------------------------------------------------------------------

def test_ofp10_decodes_what_osken_encodes() -> None:
    om = p10.OFPMatch(wildcards=p10.ofproto.OFPFW_ALL & ~(
        p10.ofproto.OFPFW_IN_PORT | p10.ofproto.OFPFW_DL_TYPE | p10.ofproto.OFPFW_NW_PROTO
        | p10.ofproto.OFPFW_TP_DST | p10.ofproto.OFPFW_DL_VLAN)
        & ~(0x3F << 8) | (8 << 8), in_port=0xFFFE, dl_type=0x0800, nw_proto=6,
        nw_src="10.1.2.3", tp_dst=22, dl_vlan=10)
    buf = bytearray()
    om.serialize(buf, 0)
    match = MC.decode_ofp10_match(bytes(buf), 0)
    assert match.get("in_port") == (A.OFPP_LOCAL, 0xFFFFFFFF)
    assert match.get("ip_src") == (0x0A010200, 0xFFFFFF00)
    assert match.get("tcp_dst") == (22, 0xFFFF)
    assert match.get("vlan_tci") == (0x100A, 0x1FFF)
    ours = MC.encode_ofp10_match(match)
    assert MC.decode_ofp10_match(ours, 0) == match
    # Only the all-wildcarded nw_dst count differs: os-ken writes 63, OVS (and we) 32.
    theirs = p10.OFPMatch.parse(ours, 0)
    assert (theirs.in_port, theirs.dl_type, theirs.nw_proto, theirs.tp_dst, theirs.dl_vlan,
            theirs.nw_src) == (0xFFFE, 0x0800, 6, 22, 10, 0x0A010203 & 0xFFFFFF00)


def test_nicira_field_before_its_prerequisite_is_refused_like_ovs() -> None:
    """os-ken sorts TLVs by class, so Nicira nw_ttl lands before eth_type: OVS refuses."""
    with pytest.raises(OFPError) as err:
        MC.decode_oxm_match(_osken_oxm(dict(eth_type=0x0800, nw_ttl=64)), 0)
    assert err.value.name == "OFPBMC_BAD_PREREQ"


@pytest.mark.parametrize("text", [
    "in_port=1", "tcp,nw_src=10.0.0.0/8,tp_dst=80", "udp,nw_dst=1.2.3.4,tp_src=53",
    "icmp,icmp_type=8,icmp_code=0", "arp,arp_spa=10.0.0.1,arp_op=2", "dl_vlan=5",
    "dl_vlan_pcp=3", "dl_vlan=5,dl_vlan_pcp=3", "vlan_tci=0x0000", "ip,nw_tos=16",
    "dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,dl_type=0x88cc",
])
def test_ofp10_round_trip_and_osken_agrees(text: str) -> None:
    match = parse_match(text)
    raw = MC.encode_ofp10_match(match)
    assert len(raw) == 40
    assert MC.decode_ofp10_match(raw, 0) == match
    theirs = p10.OFPMatch.parse(raw, 0)
    for name in ("in_port", "dl_type", "nw_proto", "tp_src", "tp_dst", "dl_vlan",
                 "dl_vlan_pcp", "nw_tos"):
        fld = {"in_port": "in_port", "dl_type": "eth_type", "nw_proto": "ip_proto"}.get(name)
        if fld and not match.is_wild(fld):
            want = match.get(fld)[0]
            assert getattr(theirs, name) == (want & 0xFFFF if fld == "in_port" else want)
    wild = theirs.wildcards
    assert bool(wild & p10.ofproto.OFPFW_TP_DST) == match.is_wild("tcp_dst")
    assert bool(wild & p10.ofproto.OFPFW_DL_VLAN) == (match.get("vlan_tci")[1] & 0xFFF == 0
                                                      and match.get("vlan_tci") != (0, 0xFFFF))


def test_ofp10_drops_fields_without_their_prerequisites() -> None:
    raw = bytearray(MC.encode_ofp10_match(parse_match("tcp,nw_src=10.0.0.1,tp_dst=80")))
    struct.pack_into("!I", raw, 0, struct.unpack_from("!I", raw)[0] | match_ofp10.OFPFW10_DL_TYPE)
    match = MC.decode_ofp10_match(bytes(raw), 0)
    assert match.is_wild("ip_src") and match.is_wild("tcp_dst") and match.is_wild("ip_proto")


@pytest.mark.parametrize("text", ["reg0=1", "ipv6,ipv6_src=::1",
                                  "dl_src=00:00:00:00:00:00/01:00:00:00:00:00",
                                  "ip,nw_src=10.0.0.0/255.0.255.0", "metadata=1",
                                  "tcp,tcp_flags=+syn"])
def test_ofp10_refuses_what_it_cannot_express(text: str) -> None:
    with pytest.raises(ValueError):
        MC.encode_ofp10_match(parse_match(text))


# --- NXM ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "in_port=LOCAL", "reg0=0x5/0xff,reg15=1", "tun_id=0x55/0xff", "pkt_mark=0x5",
    "tcp,nw_src=10.0.0.0/8,tp_dst=80,tcp_flags=+syn-ack", "udp6,ipv6_dst=2001:db8::1,tp_dst=53",
    "icmp6,icmp_type=135,nd_target=2001:db8::1,nd_sll=00:00:00:00:00:01",
    "arp,arp_spa=10.0.0.1,arp_op=1,arp_tha=00:00:00:00:00:03", "vlan_tci=0x1000/0x1000",
    "ip,nw_tos=16,nw_ecn=1,nw_ttl=3,nw_frag=first", "mpls,mpls_label=5,mpls_tc=1,mpls_ttl=9",
    "metadata=0x10/0xf0", "sctp,tp_src=1",
])
def test_nxm_round_trip(text: str) -> None:
    match = parse_match(text)
    raw = MC.encode_nxm(match)
    assert MC.decode_nxm(raw, 0, len(raw)) == match
    for version in OXM_VERSIONS:
        assert MC.decode_oxm_match(MC.encode_oxm_match(match, version), 0)[0] == match


def test_set_field_tlv_round_trip_and_errors() -> None:
    for name, value, mask in (("eth_src", 0x001122334455, None), ("reg3", 5, 0xFF),
                              ("vlan_vid", 0x1005, None), ("ipv6_dst", 1 << 100, None),
                              ("ip_dscp", 46, None), ("tun_id", 7, None)):
        fld = BY_NAME[name]
        raw = MC.encode_oxm_field(fld, value, mask, 0x06)
        assert MC.decode_oxm_field(raw + bytes(8), 0) == (fld, value, mask, len(raw))
    with pytest.raises(OFPError) as err:
        MC.decode_oxm_field(struct.pack("!IB", 0x80000A01, 8), 0)  # eth_type in 1 byte
    assert err.value.name == "OFPBAC_BAD_SET_LEN"
    with pytest.raises(OFPError) as err:
        MC.decode_oxm_field(struct.pack("!I", 0x80007E01) + b"\0", 0)  # unknown field 63
    assert err.value.name == "OFPBAC_BAD_SET_TYPE"
    with pytest.raises(OFPError) as err:
        MC.decode_oxm_field(struct.pack("!IB", 0x80001001, 99), 0)  # ip_dscp 99
    assert err.value.name == "OFPBAC_BAD_SET_ARGUMENT"


# --- decode errors ----------------------------------------------------------------------------

def _oxm(*tlvs: bytes) -> bytes:
    body = b"".join(tlvs)
    length = 4 + len(body)
    return struct.pack("!HH", 1, length) + body + bytes(-length % 8)


def _tlv(cls: int, field: int, payload: bytes, hasmask: bool = False) -> bytes:
    return struct.pack("!I", (cls << 16) | (field << 9) | (hasmask << 8) | len(payload)) + payload


ETH_IP = _tlv(0x8000, 5, b"\x08\x00")
ERRORS = [
    ("unknown field", _oxm(_tlv(0x8000, 60, b"\0\0")), "OFPBMC_BAD_FIELD"),
    ("wrong length", _oxm(_tlv(0x8000, 5, b"\x08\x00\x00")), "OFPBMC_BAD_FIELD"),
    ("duplicate", _oxm(ETH_IP, ETH_IP), "OFPBMC_DUP_FIELD"),
    ("missing prerequisite", _oxm(_tlv(0x8000, 11, b"\x0a\0\0\1")), "OFPBMC_BAD_PREREQ"),
    ("prerequisite after", _oxm(_tlv(0x8000, 11, b"\x0a\0\0\1"), ETH_IP), "OFPBMC_BAD_PREREQ"),
    ("vlan_pcp without tag", _oxm(_tlv(0x8000, 7, b"\x03")), "OFPBMC_BAD_PREREQ"),
    ("mask on in_port", _oxm(_tlv(0x8000, 0, b"\0\0\0\1\0\0\0\xff", True)), "OFPBMC_BAD_MASK"),
    ("value outside mask", _oxm(_tlv(0x8000, 3, bytes.fromhex("ffffffffffff" "ffffff000000"),
                                     True)), "OFPBMC_BAD_WILDCARDS"),
    ("vlan_pcp > 7", _oxm(_tlv(0x8000, 6, b"\x10\x01"), _tlv(0x8000, 7, b"\x08")),
     "OFPBMC_BAD_VALUE"),
    ("ip_dscp > 63", _oxm(ETH_IP, _tlv(0x8000, 8, b"\x40")), "OFPBMC_BAD_VALUE"),
    ("vlan_vid > 0x1fff", _oxm(_tlv(0x8000, 6, b"\x20\x00")), "OFPBMC_BAD_VALUE"),
    ("in_port in the hole", _oxm(_tlv(0x8000, 0, struct.pack("!I", 0x10000))),
     "OFPBMC_BAD_VALUE"),
    ("truncated TLV", struct.pack("!HH", 1, 10) + struct.pack("!I", 0x80000A04) + b"\0\0"
     + bytes(6), "OFPBMC_BAD_LEN"),
    ("partial header", struct.pack("!HH", 1, 6) + b"\x80\x00" + bytes(2), "OFPBMC_BAD_LEN"),
    ("length past buffer", struct.pack("!HH", 1, 64) + bytes(4), "OFPBMC_BAD_LEN"),
    ("match type", struct.pack("!HH", 0, 4) + bytes(4), "OFPBMC_BAD_TYPE"),
]


@pytest.mark.parametrize("what,raw,error", ERRORS, ids=[e[0] for e in ERRORS])
def test_oxm_decode_errors_match_ovs(what: str, raw: bytes, error: str) -> None:
    with pytest.raises(OFPError) as err:
        MC.decode_oxm_match(raw, 0)
    assert err.value.name == error


def test_nxm_ip_tos_with_ecn_bits_is_a_bad_value() -> None:
    raw = _tlv(0, 3, b"\x08\x00") + _tlv(0, 5, b"\x21")
    with pytest.raises(OFPError) as err:
        MC.decode_nxm(raw, 0, len(raw))
    assert err.value.name == "OFPBMC_BAD_VALUE"


def test_encoders_refuse_inexpressible_matches() -> None:
    m = Match()
    m.set("in_port", 5, 0xFF)
    with pytest.raises(ValueError):
        MC.encode_oxm_match(m, 0x04)
    ports = Match()
    ports.set_slot(Slot.TP_DST, 80, 0xFFFF)
    with pytest.raises(ValueError):
        MC.encode_nxm(ports)


# --- fuzz ---------------------------------------------------------------------------------------

_SEEDS = [_osken_oxm(k) for k in OSKEN_MATCHES]


@st.composite
def _mutated(draw) -> bytes:
    raw = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(raw) - 1))
        raw[pos] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(raw)))
    return bytes(raw[:cut] if draw(st.booleans()) else raw)


@settings(max_examples=6000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(_mutated(), st.binary(max_size=96)))
def test_fuzz_match_decoders_raise_only_ofperror(raw: bytes) -> None:
    for decode in (lambda: MC.decode_oxm_match(raw, 0), lambda: MC.decode_nxm(raw, 4, len(raw) - 4),
                   lambda: MC.decode_ofp10_match(raw, 0),
                   lambda: MC.decode_nxm_cookie(raw, 4, len(raw) - 4),
                   lambda: MC.decode_oxm_field(raw, 4)):
        try:
            result = decode()
        except OFPError:
            continue
        if isinstance(result, tuple) and isinstance(result[0], Match):
            match = result[0]
            # Whatever we accept we can write again, and read back identically.
            again = MC.encode_oxm_match(match, 0x06)
            assert MC.decode_oxm_match(again, 0)[0] == match


# --- property: any match we can write in ovs-ofctl syntax survives every codec -----------------

_CONTEXTS = ["", "ip", "tcp", "udp", "sctp", "icmp", "arp", "ipv6", "tcp6", "udp6",
             "icmp6,icmp_type=135", "icmp6,icmp_type=136", "mpls"]


@st.composite
def _flow_text(draw) -> str:
    ctx = draw(st.sampled_from(_CONTEXTS))
    u = lambda bits: draw(st.integers(0, (1 << bits) - 1))  # noqa: E731
    mac = lambda: ":".join(f"{b:02x}" for b in u(48).to_bytes(6, "big"))  # noqa: E731
    ip4 = lambda: str(ipaddress.IPv4Address(u(32)))  # noqa: E731
    ip6 = lambda: str(ipaddress.IPv6Address(u(128)))  # noqa: E731
    parts = [ctx] if ctx else []
    generic = [
        lambda: f"in_port={draw(st.integers(1, 0xFEFF))}",
        lambda: f"reg{u(4)}={u(32):#x}/{u(32):#x}",
        lambda: f"metadata={u(64):#x}/{u(64):#x}",
        lambda: f"tun_id={u(64):#x}",
        lambda: f"pkt_mark={u(32):#x}",
        lambda: f"dl_src={mac()}",
        lambda: f"dl_dst={mac()}/{mac()}",
        lambda: f"dl_vlan={u(12)}",
        lambda: f"dl_vlan={u(12)},dl_vlan_pcp={u(3)}",
        lambda: f"vlan_tci={u(16):#06x}/{u(16):#06x}",
    ]
    specific = {
        "ip": [lambda: f"nw_src={ip4()}/{draw(st.integers(0, 32))}",
               lambda: f"nw_dst={ip4()}/{ip4()}", lambda: f"nw_tos={u(6) << 2}",
               lambda: f"nw_ecn={u(2)}", lambda: f"nw_ttl={u(8)}",
               lambda: f"nw_frag={draw(st.sampled_from(['no', 'yes', 'first', 'later']))}"],
        "proto": [lambda: f"nw_proto={draw(st.sampled_from([2, 47, 89]))}"],
        "code": [lambda: "icmp_code=0"],
        "ports": [lambda: f"tp_src={u(16)}", lambda: f"tp_dst={u(16):#x}/{u(16):#x}"],
        "tcp": [lambda: f"tcp_flags={u(12):#x}/{u(12):#x}"],
        "icmp": [lambda: f"icmp_type={u(8)}", lambda: f"icmp_code={u(8)}"],
        "arp": [lambda: f"arp_spa={ip4()}", lambda: f"arp_tpa={ip4()}/{draw(st.integers(1, 32))}",
                lambda: f"arp_op={u(8)}", lambda: f"arp_sha={mac()}", lambda: f"arp_tha={mac()}"],
        "ipv6": [lambda: f"ipv6_src={ip6()}/{draw(st.integers(0, 128))}",
                 lambda: f"ipv6_dst={ip6()}", lambda: f"ipv6_label={u(20):#x}"],
        "nd": [lambda: f"nd_target={ip6()}"],
        "mpls": [lambda: f"mpls_label={u(20)}", lambda: f"mpls_tc={u(3)}",
                 lambda: f"mpls_bos={u(1)}", lambda: f"mpls_ttl={u(8)}"],
    }
    groups = {"": [], "ip": ["ip", "proto"], "tcp": ["ip", "ports", "tcp"], "udp": ["ip", "ports"],
              "sctp": ["ip", "ports"], "icmp": ["ip", "icmp"], "arp": ["arp"],
              "ipv6": ["ipv6"], "tcp6": ["ipv6", "ports", "tcp"], "udp6": ["ipv6", "ports"],
              "mpls": ["mpls"]}
    chosen = groups.get(ctx, ["ipv6", "code", "nd"])
    pool = generic + [g for name in chosen for g in specific[name]]
    seen = set()
    for _ in range(draw(st.integers(0, 5))):
        index = draw(st.integers(0, len(pool) - 1))
        if index not in seen:
            seen.add(index)
            parts.append(pool[index]())
    return ",".join(parts)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(_flow_text())
def test_any_written_match_survives_every_codec(text: str) -> None:
    match = parse_match(text)
    assert parse_match(format_match(match)) == match, format_match(match)
    nxm = MC.encode_nxm(match)
    assert MC.decode_nxm(nxm, 0, len(nxm)) == match
    for version in OXM_VERSIONS:
        assert MC.decode_oxm_match(MC.encode_oxm_match(match, version), 0)[0] == match
    try:
        of10 = MC.encode_ofp10_match(match)
    except ValueError:
        return
    again = MC.decode_ofp10_match(of10, 0)
    # OF1.0 writes "no VLAN" as 0xffff, which reads back as vlan_tci=0/0xffff.
    if match.get("vlan_tci") == (0, 0x1FFF):
        match.set_slot(Slot.VLAN_TCI, 0, 0xFFFF)
    assert again == match


def test_nxm_cookie_pseudo_field() -> None:
    body = MC.encode_nxm(parse_match("tcp,tp_dst=80"))
    cookie = struct.pack("!IQQ", 0x00013D10, 0x50, 0xF0)       # NXM_NX_COOKIE_W
    raw = cookie + body
    match, value, mask = MC.decode_nxm_cookie(raw, 0, len(raw))
    assert (match, value, mask) == (parse_match("tcp,tp_dst=80"), 0x50, 0xF0)
    with pytest.raises(OFPError) as err:
        MC.decode_nxm(raw, 0, len(raw))   # not allowed where no cookie is expected
    assert err.value.name == "OFPBMC_BAD_FIELD"
    with pytest.raises(OFPError) as err:
        MC.decode_nxm_cookie(cookie + cookie, 0, 2 * len(cookie))
    assert err.value.name == "OFPBMC_DUP_FIELD"
    # The same (class, field) with one byte is mpls_ttl, an ordinary field.
    ttl = MC.encode_nxm(parse_match("mpls,mpls_ttl=5"))
    assert MC.decode_nxm_cookie(ttl, 0, len(ttl)) == (parse_match("mpls,mpls_ttl=5"), 0, 0)


# --- encoding plans (the cached replay of the generic encoder) ------------------------------

_PLAN_MATCHES = [
    "ip,nw_dst=10.1.2.3",
    "tcp,nw_dst=11.0.0.7,tcp_dst=80",
    "udp,nw_src=12.1.1.1,nw_dst=13.0.0.0/8,udp_dst=53",
    "tcp,nw_dst=14.1.2.0/24,nw_src=15.3.0.0/16,tcp_dst=0x100/0xff00",
    "arp,arp_spa=10.0.0.1,arp_op=2",
    "icmp,icmp_type=8,icmp_code=0",
    "ipv6,ipv6_src=2001:db8::1/64,ipv6_label=5",
    "in_port=3,dl_vlan=10,dl_vlan_pcp=3",
    "dl_src=00:11:22:33:44:55/ff:ff:ff:00:00:00,reg3=0x5/0xff,metadata=0x9",
    "mpls,mpls_label=17",
    "ip,nw_tos=32,nw_ttl=4",
    "tcp6,ipv6_dst=::1,tcp_flags=+syn-ack",
    "",
]


@pytest.mark.parametrize("text", _PLAN_MATCHES)
@pytest.mark.parametrize("version", [0, 0x04, 0x05, 0x06])
def test_planned_encoding_equals_the_generic_encoder(text, version):
    """Every match encodes, through a cached plan or not, exactly as the generic encoder
    does - on first use and on reuse, also for another match of the same shape."""
    from pyvswitch.openflow.flow_parse import parse_match
    match = parse_match(text)
    generic = MC._encode_tlvs(match, version)
    assert MP.encode_tlvs(match, version) == generic
    assert MP.encode_tlvs(match, version) == generic
    other = Match(list(match.values), list(match.masks))
    for slot, mask in enumerate(other.masks):   # same shape, other values
        if mask and slot not in (Slot.ETH_TYPE, Slot.NW_PROTO, Slot.VLAN_TCI,
                                 Slot.MPLS_LSE, Slot.TCP_FLAGS):
            other.values[slot] = (other.values[slot] ^ 0x5A5A) & mask
    assert MP.encode_tlvs(other, version) == MC._encode_tlvs(other, version)


def test_common_matches_get_a_plan():
    match = parse_match("tcp,nw_dst=11.0.0.7,tcp_dst=80")
    MP.encode_tlvs(match, 0x04)
    key = (0x04, 0x0800, 6, *match.masks)
    assert MP._ENCODE_PLANS[key] is not None
    vlan = parse_match("dl_vlan=10")            # value-dependent headers: never planned
    MP.encode_tlvs(vlan, 0x04)
    assert not any(k[3:] == tuple(vlan.masks) for k in MP._ENCODE_PLANS)


def _oxm_body(match, version=0x04) -> bytes:
    return MC._encode_tlvs(match, version)


@pytest.mark.parametrize("text", _PLAN_MATCHES)
def test_planned_decoding_equals_the_generic_decoder(text):
    """A match decodes, through a recorded plan or not, exactly as the generic decoder
    does; another match of the same shape reuses the plan and still decodes right."""
    match = parse_match(text)
    body = _oxm_body(match)
    for _ in range(3):
        assert MP.decode_tlvs(body, 0, len(body)) == MC._decode_tlvs(body, 0, len(body))
    other = Match(list(match.values), list(match.masks))
    for slot, mask in enumerate(other.masks):
        if mask and slot not in (Slot.ETH_TYPE, Slot.NW_PROTO, Slot.VLAN_TCI):
            other.values[slot] = (other.values[slot] ^ 0x1234) & mask
    body2 = _oxm_body(other)
    assert MP.decode_tlvs(body2, 0, len(body2)) == MC._decode_tlvs(body2, 0, len(body2))


def test_decoding_plan_is_used_and_errors_still_come_from_the_generic_decoder():
    good = _oxm_body(parse_match("tcp,nw_dst=14.1.2.0/24,tcp_dst=0x100/0xff00"))
    MP.decode_tlvs(good, 0, len(good))
    assert MP._DECODE_PLANS[(len(good), struct.unpack_from("!I", good)[0])]
    # Same shape, but a value bit outside its mask: the plan refuses, the generic decoder
    # answers OFPBMC_BAD_WILDCARDS as before.
    bad = bytearray(good)
    bad[-3] |= 0x01                   # tcp_dst value 0x0101 under mask 0xff00
    with pytest.raises(OFPError) as err:
        MP.decode_tlvs(bytes(bad), 0, len(bad))
    assert err.value.name == "OFPBMC_BAD_WILDCARDS"
    # Same headers but another ip_proto (pinned): udp_dst would then be a bad prereq.
    other = _oxm_body(parse_match("tcp,tcp_dst=80"))
    MP.decode_tlvs(other, 0, len(other))
    flipped = bytearray(other)
    flipped[other.index(bytes([0x80, 0x00, 0x14, 0x01])) + 4] = 17     # ip_proto = udp
    with pytest.raises(OFPError) as err:
        MP.decode_tlvs(bytes(flipped), 0, len(flipped))
    assert err.value.name == "OFPBMC_BAD_PREREQ"
