"""Hostile input: random, truncated and mutated frames through extraction and every edit.

Nothing may raise; extraction's fast path and general walk must agree; every slot must fit
its width; a set_field never changes a frame's length.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR
from scapy.layers.inet6 import (
    ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, IPv6,
    IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting,
)
from scapy.layers.ipsec import AH
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.layers.sctp import SCTP, SCTPChunkData
from scapy.packet import Raw

from pyvswitch.packet.edit import pop_mpls, pop_vlan, push_mpls, push_vlan, set_field, truncate
from pyvswitch.packet.extract import extract, extract_with_layout
from pyvswitch.packet.fields import FIELDS, N_SLOTS, SLOT_BITS

E = Ether(src="00:11:22:33:44:55", dst="66:77:88:99:aa:bb")
PAY = Raw(b"0123456789abcdef")
SEEDS = [bytes(p) for p in [
    E / IP() / TCP() / PAY,
    E / IP(options=[IPOption_RR()]) / UDP() / PAY,
    E / IP(flags="MF") / SCTP() / SCTPChunkData(data=b"abc"),
    E / IP() / ICMP() / PAY,
    E / Dot1Q(vlan=5) / IP() / UDP() / PAY,
    E / Dot1Q(vlan=6, prio=3) / IP() / TCP() / PAY,
    E / Dot1AD(vlan=7) / IP() / ICMP() / PAY,
    E / Dot1AD(vlan=5) / Dot1Q(vlan=6) / IPv6() / TCP() / PAY,
    E / MPLS(label=3, s=0) / MPLS(label=4) / IP() / UDP(),
    E / ARP(),
    E / IPv6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting()
    / IPv6ExtHdrFragment(m=1) / AH(nh=17, payloadlen=2, icv=b"\0" * 4) / UDP() / PAY,
    E / IPv6() / ICMPv6ND_NS(tgt="::1") / ICMPv6NDOptSrcLLAddr() / ICMPv6NDOptDstLLAddr(),
    E / IPv6() / ICMPv6ND_NA(tgt="::2") / ICMPv6NDOptDstLLAddr(),
    E / IPv6() / SCTP() / PAY,
    Ether(type=0x88E7) / Raw(bytes(24)),
]]
WRITABLE = [f for f in FIELDS if f.writable]


def mutate(rng: random.Random) -> bytes:
    """A seed frame, cut short and/or with bytes overwritten, inserted or removed; or noise."""
    if rng.random() < 0.1:
        return rng.randbytes(rng.randrange(0, 128))
    raw = bytearray(rng.choice(SEEDS))
    for _ in range(rng.randrange(0, 5)):
        op, pos = rng.randrange(3), rng.randrange(0, len(raw) + 1)
        if op == 0 and pos < len(raw):
            raw[pos] = rng.randrange(256)
        elif op == 1:
            raw[pos:pos] = rng.randbytes(rng.randrange(1, 9))
        else:
            del raw[pos:pos + rng.randrange(1, 9)]
    if rng.random() < 0.5:
        del raw[rng.randrange(0, len(raw) + 1):]
    return bytes(raw)


def mutants(seed: int, n: int) -> list[bytes]:
    rng = random.Random(seed)
    return [mutate(rng) for _ in range(n)]


def check_extract(raw: bytes) -> None:
    flow = extract(raw, 5)
    walked, layout = extract_with_layout(raw, 5)
    assert flow == walked
    assert len(flow) == N_SLOTS
    assert all(0 <= v < (1 << SLOT_BITS[i]) for i, v in enumerate(flow))
    assert all(-1 <= o <= len(raw) for o in layout)


# Each example is a batch of FRAMES_PER_EXAMPLE frames derived from one hypothesis-drawn
# seed: 200 examples x 50 = 10,000 frames per test (a failing seed reproduces exactly).
FRAMES_PER_EXAMPLE = 50
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.integers(0, 2**64))
def test_extract_never_raises_and_paths_agree(seed):
    for raw in mutants(seed, FRAMES_PER_EXAMPLE):
        check_extract(raw)


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200))
def test_extract_on_arbitrary_bytes(raw):
    check_extract(raw)
    check_extract(b"\x00" * 12 + b"\x08\x00" + raw)
    check_extract(b"\x00" * 12 + b"\x86\xdd" + raw)


@FUZZ
@given(st.integers(0, 2**64))
def test_every_edit_survives_hostile_frames(seed):
    rng = random.Random(seed)
    for raw in mutants(seed, FRAMES_PER_EXAMPLE):
        for fld in WRITABLE:
            full = (1 << fld.n_bits) - 1
            mask = rng.getrandbits(fld.n_bits) if rng.random() < 0.3 else None
            out = set_field(raw, fld, rng.getrandbits(fld.n_bits) & full, mask)
            assert len(out) == len(raw)
        check_extract(out)
        value = rng.getrandbits(32)
        for out in (push_vlan(raw, 0x8100, value & 0xFFFF), pop_vlan(raw),
                    push_mpls(raw, 0x8847, value), pop_mpls(raw, 0x0800),
                    truncate(raw, value & 0xFF)):
            check_extract(out)
        assert len(push_vlan(raw, 0x88A8, value & 0xFFFF)) == \
            len(raw) + (4 if len(raw) >= 14 else 0)
