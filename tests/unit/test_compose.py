"""compose(): a flow becomes a frame that a receiver (scapy, and our own extract) reads back
as the same flow, with every checksum right."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import UDP
from scapy.layers.l2 import ARP, Ether

from pyvswitch.packet import addr
from pyvswitch.packet.compose import compose, rarp_frame
from pyvswitch.packet.extract import (
    IEH_AUTH, IEH_DEST, IEH_ESP, IEH_FRAG, IEH_HOP, IEH_NONEXT, IEH_ROUTER, extract,
)
from pyvswitch.packet.fields import N_SLOTS, Slot

S = Slot
u = lambda bits: st.integers(0, (1 << bits) - 1)  # noqa: E731
SPECIAL_TYPES = {0x0800, 0x86DD, 0x0806, 0x8035, 0x8847, 0x8848, 0x88E7, 0x8100, 0x88A8}


def transport(draw, f: dict, proto: int, v6: bool) -> None:
    if proto == 6:
        f.update({S.TP_SRC: draw(u(16)), S.TP_DST: draw(u(16)), S.TCP_FLAGS: draw(u(12))})
    elif proto in (17, 132):
        f.update({S.TP_SRC: draw(u(16)), S.TP_DST: draw(u(16))})
    elif proto in (1, 2) or (proto == 58 and v6):
        f.update({S.TP_SRC: draw(u(8)), S.TP_DST: draw(u(8))})
        if proto == 58 and draw(st.booleans()):
            f.update({S.TP_SRC: draw(st.sampled_from([135, 136])), S.TP_DST: 0,
                      S.ND_TARGET: draw(u(128)),
                      S.ARP_SHA: draw(st.sampled_from([0, 0x020000000001])),
                      S.ARP_THA: draw(st.sampled_from([0, 0x0A0B0C0D0E0F]))})


@st.composite
def flows(draw) -> tuple[int, ...]:
    """Flows that some real frame produces (the population compose() promises to handle)."""
    f = {S.IN_PORT: draw(u(16)), S.ETH_SRC: draw(u(48)), S.ETH_DST: draw(u(48))}
    if draw(st.booleans()):
        f[S.VLAN_TCI] = 0x1000 | draw(u(16)) & 0xEFFF
    kind = draw(st.sampled_from(["ipv4", "ipv6", "arp", "mpls", "pbb", "llc", "other"]))
    if kind == "ipv4":
        proto = draw(st.sampled_from([6, 17, 132, 1, 2, 0, 47, 255]))
        frag = draw(st.sampled_from([0, 0, 1, 3]))
        f.update({S.ETH_TYPE: 0x0800, S.NW_SRC: draw(u(32)), S.NW_DST: draw(u(32)),
                  S.NW_PROTO: proto, S.NW_TOS: draw(u(8)), S.NW_TTL: draw(u(8)),
                  S.NW_FRAG: frag})
        if not frag & 2:
            transport(draw, f, proto, v6=False)
    elif kind == "ipv6":
        flags = draw(st.sampled_from([0, IEH_HOP, IEH_DEST, IEH_ROUTER, IEH_HOP | IEH_DEST,
                                      IEH_HOP | IEH_ROUTER | IEH_DEST]))
        frag = draw(st.sampled_from([None, None, 0, 1, 3]))  # None: no fragment header
        f.update({S.ETH_TYPE: 0x86DD, S.IPV6_SRC: draw(u(128)), S.IPV6_DST: draw(u(128)),
                  S.IPV6_LABEL: draw(u(20)), S.NW_TOS: draw(u(8)), S.NW_TTL: draw(u(8))})
        if frag is not None:
            flags |= IEH_FRAG
            f[S.NW_FRAG] = frag
        if frag == 3:
            f[S.NW_PROTO] = 44
        else:
            if draw(st.booleans()):
                flags |= IEH_AUTH
            proto = draw(st.sampled_from([6, 17, 132, 58, 1, 50, 59, 47]))
            f[S.NW_PROTO] = proto
            flags |= {50: IEH_ESP, 59: IEH_NONEXT}.get(proto, 0)
            transport(draw, f, proto, v6=True)
        f[S.IPV6_EXTHDR] = flags
    elif kind == "arp":
        f.update({S.ETH_TYPE: draw(st.sampled_from([0x0806, 0x8035])), S.NW_PROTO: draw(u(8)),
                  S.NW_SRC: draw(u(32)), S.NW_DST: draw(u(32)), S.ARP_SHA: draw(u(48)),
                  S.ARP_THA: draw(u(48))})
    elif kind == "mpls":
        f.update({S.ETH_TYPE: draw(st.sampled_from([0x8847, 0x8848])), S.MPLS_LSE: draw(u(32))})
    elif kind == "pbb":
        f.update({S.ETH_TYPE: 0x88E7, S.PBB_ISID: draw(u(24))})
    elif kind == "llc":
        f[S.ETH_TYPE] = 0x05FF
    else:
        f[S.ETH_TYPE] = draw(st.integers(0x0600, 0xFFFF).filter(lambda t: t not in SPECIAL_TYPES))
    return tuple(f.get(Slot(i), 0) for i in range(N_SLOTS))


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


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flows(), st.integers(0, 64))
def test_compose_round_trips_through_extract(flow, payload_len):
    raw = compose(flow, payload_len)
    assert extract(raw, flow[S.IN_PORT]) == flow


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flows(), st.integers(0, 16))
def test_composed_frames_have_valid_checksums(flow, payload_len):
    raw = compose(flow, payload_len)
    if flow[S.ETH_TYPE] in (0x0800, 0x86DD):
        assert_checksums_valid(raw)


def test_compose_tcp_frame_as_scapy_reads_it():
    flow = [0] * N_SLOTS
    flow[S.ETH_SRC], flow[S.ETH_DST] = addr.mac_to_int("00:00:00:00:00:01"), 0xFFFFFFFFFFFF
    flow[S.ETH_TYPE], flow[S.NW_PROTO], flow[S.NW_TTL] = 0x0800, 6, 64
    flow[S.NW_SRC], flow[S.NW_DST] = addr.ipv4_to_int("10.0.0.1"), addr.ipv4_to_int("10.0.0.2")
    flow[S.TP_SRC], flow[S.TP_DST], flow[S.TCP_FLAGS] = 1000, 80, 0x002
    pkt = Ether(compose(tuple(flow), 10))
    assert (pkt.src, pkt["IP"].dst, pkt["TCP"].dport, str(pkt["TCP"].flags)) == \
        ("00:00:00:00:00:01", "10.0.0.2", 80, "S")
    assert len(pkt["TCP"].payload) == 10


def test_rarp_frame_is_a_rarp_request_from_the_mac():
    mac = addr.mac_to_int("02:aa:bb:cc:dd:ee")
    raw = rarp_frame(mac)
    pkt = Ether(raw)
    assert pkt.type == 0x8035 and pkt.dst == "ff:ff:ff:ff:ff:ff" and pkt.src == "02:aa:bb:cc:dd:ee"
    arp = ARP(bytes(pkt.payload))
    assert (arp.op, arp.hwsrc, arp.hwdst, arp.psrc, arp.pdst) == \
        (3, "02:aa:bb:cc:dd:ee", "02:aa:bb:cc:dd:ee", "0.0.0.0", "0.0.0.0")
    flow = extract(raw, 1)
    assert (flow[S.NW_PROTO], flow[S.ARP_SHA], flow[S.ETH_TYPE]) == (3, mac, 0x8035)
