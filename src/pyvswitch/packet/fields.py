"""The flow vector and the catalogue of matchable fields (OVS's meta-flow).

What this module owns
---------------------
* The **flow vector**: a flow (the headers of one packet plus the pipeline's metadata) is a
  tuple of ``N_SLOTS`` Python ints, indexed by ``Slot``.  Slots follow Open vSwitch's
  ``struct flow``: ARP's sender/target protocol addresses share the IPv4 address slots, the
  ARP opcode shares ``NW_PROTO``, ICMP type/code share ``TP_SRC``/``TP_DST``, and the ND
  link-layer addresses share ``ARP_SHA``/``ARP_THA``.  ``VLAN_TCI`` carries the outer tag as
  OVS does: PCP in bits 13-15, bit 12 (``VLAN_CFI``) set when a tag is present, VID in 0-11.
* The **field catalogue** (``FIELDS``): every field a controller can match or set, as a
  bit range ``[shift, shift + n_bits)`` of one slot, with its OVS names, its OXM/NXM code
  points, whether it may be masked or written, and its prerequisite.  Unlike Open
  vSwitch, ``eth_type``, ``ip_proto`` and ``mpls_bos`` are writable (OpenFlow 1.3 lets a
  switch set them; os-ken's switch test tool expects it): ``packet.edit`` rewrites the
  innermost EtherType, the IPv4 protocol / IPv6 next header, and the top label's S bit.
* ``Match``: a value/mask pair over the whole flow vector, the version-independent form
  every codec decodes into and the classifier indexes.

Invariants: slot values are non-negative ints that fit ``SLOT_BITS[slot]``; a ``Match``
keeps ``value & mask == value`` in every slot.

Must not import: anything else in pyvswitch (this is the bottom of the stack).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable, Iterator


class Slot(enum.IntEnum):
    """Positions in the flow vector."""

    IN_PORT = 0
    METADATA = enum.auto()
    REG0 = enum.auto()
    REG1 = enum.auto()
    REG2 = enum.auto()
    REG3 = enum.auto()
    REG4 = enum.auto()
    REG5 = enum.auto()
    REG6 = enum.auto()
    REG7 = enum.auto()
    REG8 = enum.auto()
    REG9 = enum.auto()
    REG10 = enum.auto()
    REG11 = enum.auto()
    REG12 = enum.auto()
    REG13 = enum.auto()
    REG14 = enum.auto()
    REG15 = enum.auto()
    TUN_ID = enum.auto()
    PKT_MARK = enum.auto()
    ACTSET_OUTPUT = enum.auto()
    ETH_SRC = enum.auto()
    ETH_DST = enum.auto()
    ETH_TYPE = enum.auto()
    VLAN_TCI = enum.auto()
    MPLS_LSE = enum.auto()
    NW_SRC = enum.auto()
    NW_DST = enum.auto()
    IPV6_SRC = enum.auto()
    IPV6_DST = enum.auto()
    IPV6_LABEL = enum.auto()
    NW_PROTO = enum.auto()
    NW_TOS = enum.auto()
    NW_TTL = enum.auto()
    NW_FRAG = enum.auto()
    ARP_SHA = enum.auto()
    ARP_THA = enum.auto()
    TP_SRC = enum.auto()
    TP_DST = enum.auto()
    TCP_FLAGS = enum.auto()
    ND_TARGET = enum.auto()
    PBB_ISID = enum.auto()
    IPV6_EXTHDR = enum.auto()
    RECIRC_ID = enum.auto()    # datapath metadata: which frozen translation a packet resumes


N_SLOTS = len(Slot)

#: Width in bits of each slot.
SLOT_BITS: tuple[int, ...] = tuple(
    {
        Slot.IN_PORT: 32, Slot.METADATA: 64, Slot.TUN_ID: 64, Slot.PKT_MARK: 32,
        Slot.ACTSET_OUTPUT: 32, Slot.ETH_SRC: 48, Slot.ETH_DST: 48, Slot.ETH_TYPE: 16,
        Slot.VLAN_TCI: 16, Slot.MPLS_LSE: 32, Slot.NW_SRC: 32, Slot.NW_DST: 32,
        Slot.IPV6_SRC: 128, Slot.IPV6_DST: 128, Slot.IPV6_LABEL: 20, Slot.NW_PROTO: 8,
        Slot.NW_TOS: 8, Slot.NW_TTL: 8, Slot.NW_FRAG: 2, Slot.ARP_SHA: 48,
        Slot.ARP_THA: 48, Slot.TP_SRC: 16, Slot.TP_DST: 16, Slot.TCP_FLAGS: 12,
        Slot.ND_TARGET: 128, Slot.PBB_ISID: 28, Slot.IPV6_EXTHDR: 9,
        Slot.RECIRC_ID: 32,
    }.get(s, 32)
    for s in Slot
)

#: Slots that describe pipeline state rather than packet headers.  The datapath never
#: sees them: a megaflow's mask is zero there.
PIPELINE_SLOTS = frozenset(
    [Slot.METADATA, Slot.ACTSET_OUTPUT] + [Slot(Slot.REG0 + i) for i in range(16)]
)

ZERO_FLOW: tuple[int, ...] = (0,) * N_SLOTS

# VLAN_TCI bits (OVS's "CFI" bit doubles as "a tag is present").
VLAN_CFI = 0x1000
VLAN_VID_MASK = 0x0FFF
VLAN_PCP_MASK = 0xE000
VLAN_PCP_SHIFT = 13

# NW_FRAG bits.
FRAG_ANY = 1     # the packet is a fragment (first or later)
FRAG_LATER = 2   # the packet is a fragment other than the first

# Ethernet types the prerequisites and extraction care about.
ETH_TYPE_IP = 0x0800
ETH_TYPE_ARP = 0x0806
ETH_TYPE_RARP = 0x8035
ETH_TYPE_VLAN = 0x8100
ETH_TYPE_VLAN_8021AD = 0x88A8
ETH_TYPE_IPV6 = 0x86DD
ETH_TYPE_MPLS = 0x8847
ETH_TYPE_MPLS_MCAST = 0x8848
ETH_TYPE_PBB = 0x88E7

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58
IPPROTO_SCTP = 132


class Prereq(enum.Enum):
    """What a match must already pin down before a field may be matched or set."""

    NONE = "none"
    ARP = "arp"            # eth_type in (0x0806, 0x8035)
    IPV4 = "ipv4"          # eth_type 0x0800
    IPV6 = "ipv6"          # eth_type 0x86dd
    IP_ANY = "ip_any"      # eth_type 0x0800 or 0x86dd
    MPLS = "mpls"          # eth_type 0x8847 or 0x8848
    VLAN_VID = "vlan_vid"  # a VLAN tag is present (vlan_tci CFI bit matched to 1)
    PBB = "pbb"            # eth_type 0x88e7
    TCP = "tcp"            # IP_ANY and ip_proto 6
    UDP = "udp"            # IP_ANY and ip_proto 17
    SCTP = "sctp"          # IP_ANY and ip_proto 132
    ICMPV4 = "icmpv4"      # IPV4 and ip_proto 1
    ICMPV6 = "icmpv6"      # IPV6 and ip_proto 58
    ND = "nd"              # ICMPV6 and icmpv6_type in (135, 136) and code 0
    ND_SOLICIT = "nd_solicit"  # ND and type 135
    ND_ADVERT = "nd_advert"    # ND and type 136


@dataclass(frozen=True)
class Field:
    """One matchable field: a bit range of one slot.

    ``oxm`` is ``(class, field)`` for OpenFlow 1.2+ (class 0x8000 basic, 0x8001 packet
    registers, 0x0000/0x0001 Nicira NXM), ``nxm`` the Nicira NXM code used in OF1.0 NXM
    sessions; either may be ``None``.  ``oxm_bits`` is the width on the wire when it differs
    from ``n_bits`` (e.g. OXM in_port is 32 bits, NXM in_port is 16).
    """

    name: str
    slot: Slot
    shift: int
    n_bits: int
    maskable: bool = True
    writable: bool = True
    prereq: Prereq = Prereq.NONE
    oxm: tuple[int, int] | None = None
    nxm: tuple[int, int] | None = None
    aliases: tuple[str, ...] = ()
    min_version: int = 0x04  # lowest OpenFlow version whose OXM table has this field

    @property
    def mask(self) -> int:
        """The bits of the slot this field covers."""
        return ((1 << self.n_bits) - 1) << self.shift

    @property
    def n_bytes(self) -> int:
        return (self.n_bits + 7) // 8

    def get(self, flow: tuple[int, ...] | list[int]) -> int:
        return (flow[self.slot] >> self.shift) & ((1 << self.n_bits) - 1)


_BASIC = 0x8000
_NXM0 = 0x0000
_NXM1 = 0x0001
#: OXM class of the 64-bit packet registers xreg0-7 (each spans reg2i+1:reg2i).
OXM_CLASS_PACKET_REGS = 0x8001


def _f(name, slot, n_bits, shift=0, **kw) -> Field:
    return Field(name=name, slot=slot, shift=shift, n_bits=n_bits, **kw)


FIELDS: tuple[Field, ...] = (
    _f("in_port", Slot.IN_PORT, 32, maskable=False, oxm=(_BASIC, 0), nxm=(_NXM0, 0)),
    _f("metadata", Slot.METADATA, 64, oxm=(_BASIC, 2), nxm=(_BASIC, 2)),
    *(_f(f"reg{i}", Slot(Slot.REG0 + i), 32, nxm=(_NXM1, i), oxm=(_NXM1, i))
      for i in range(16)),
    _f("tun_id", Slot.TUN_ID, 64, oxm=(_BASIC, 38), nxm=(_NXM1, 16), aliases=("tunnel_id",)),
    _f("pkt_mark", Slot.PKT_MARK, 32, oxm=(_NXM1, 33), nxm=(_NXM1, 33)),
    _f("actset_output", Slot.ACTSET_OUTPUT, 32, maskable=False, writable=False,
       oxm=(_BASIC, 43), min_version=0x06),
    _f("eth_src", Slot.ETH_SRC, 48, oxm=(_BASIC, 4), nxm=(_NXM0, 2), aliases=("dl_src",)),
    _f("eth_dst", Slot.ETH_DST, 48, oxm=(_BASIC, 3), nxm=(_NXM0, 1), aliases=("dl_dst",)),
    _f("eth_type", Slot.ETH_TYPE, 16, maskable=False,
       oxm=(_BASIC, 5), nxm=(_NXM0, 3), aliases=("dl_type",)),
    _f("vlan_tci", Slot.VLAN_TCI, 16, nxm=(_NXM0, 4), oxm=(_NXM0, 4)),
    # OXM vlan_vid is 13 bits: the VID plus OFPVID_PRESENT (0x1000), i.e. our CFI bit.
    _f("vlan_vid", Slot.VLAN_TCI, 13, oxm=(_BASIC, 6), aliases=("dl_vlan",)),
    _f("vlan_pcp", Slot.VLAN_TCI, 3, shift=13, maskable=False, prereq=Prereq.VLAN_VID,
       oxm=(_BASIC, 7), aliases=("dl_vlan_pcp",)),
    _f("mpls_label", Slot.MPLS_LSE, 20, shift=12, maskable=False, prereq=Prereq.MPLS,
       oxm=(_BASIC, 34)),
    _f("mpls_tc", Slot.MPLS_LSE, 3, shift=9, maskable=False, prereq=Prereq.MPLS,
       oxm=(_BASIC, 35)),
    _f("mpls_bos", Slot.MPLS_LSE, 1, shift=8, maskable=False,
       prereq=Prereq.MPLS, oxm=(_BASIC, 36)),
    _f("mpls_ttl", Slot.MPLS_LSE, 8, maskable=False, prereq=Prereq.MPLS, oxm=(_NXM1, 30)),
    _f("ip_src", Slot.NW_SRC, 32, prereq=Prereq.IPV4, oxm=(_BASIC, 11), nxm=(_NXM0, 7),
       aliases=("nw_src", "ipv4_src")),
    _f("ip_dst", Slot.NW_DST, 32, prereq=Prereq.IPV4, oxm=(_BASIC, 12), nxm=(_NXM0, 8),
       aliases=("nw_dst", "ipv4_dst")),
    _f("ipv6_src", Slot.IPV6_SRC, 128, prereq=Prereq.IPV6, oxm=(_BASIC, 26),
       nxm=(_NXM1, 19)),
    _f("ipv6_dst", Slot.IPV6_DST, 128, prereq=Prereq.IPV6, oxm=(_BASIC, 27),
       nxm=(_NXM1, 20)),
    _f("ipv6_label", Slot.IPV6_LABEL, 20, prereq=Prereq.IPV6, oxm=(_BASIC, 28),
       nxm=(_NXM1, 27), aliases=("ipv6_flabel",)),
    _f("ip_proto", Slot.NW_PROTO, 8, maskable=False, prereq=Prereq.IP_ANY,
       oxm=(_BASIC, 10), nxm=(_NXM0, 6), aliases=("nw_proto",)),
    _f("ip_dscp", Slot.NW_TOS, 6, shift=2, maskable=False, prereq=Prereq.IP_ANY,
       oxm=(_BASIC, 8)),
    _f("nw_tos", Slot.NW_TOS, 8, maskable=False, prereq=Prereq.IP_ANY, nxm=(_NXM0, 5),
       oxm=(_NXM0, 5)),
    _f("ip_ecn", Slot.NW_TOS, 2, maskable=False, prereq=Prereq.IP_ANY, oxm=(_BASIC, 9),
       nxm=(_NXM1, 28), aliases=("nw_ecn",)),
    _f("nw_ttl", Slot.NW_TTL, 8, maskable=False, prereq=Prereq.IP_ANY, oxm=(_NXM1, 29),
       nxm=(_NXM1, 29), aliases=("ip_ttl",)),
    _f("ip_frag", Slot.NW_FRAG, 2, writable=False, prereq=Prereq.IP_ANY, oxm=(_NXM1, 26),
       nxm=(_NXM1, 26), aliases=("nw_frag",)),
    _f("arp_op", Slot.NW_PROTO, 16, maskable=False, prereq=Prereq.ARP, oxm=(_BASIC, 21),
       nxm=(_NXM0, 15)),
    _f("arp_spa", Slot.NW_SRC, 32, prereq=Prereq.ARP, oxm=(_BASIC, 22), nxm=(_NXM0, 16)),
    _f("arp_tpa", Slot.NW_DST, 32, prereq=Prereq.ARP, oxm=(_BASIC, 23), nxm=(_NXM0, 17)),
    _f("arp_sha", Slot.ARP_SHA, 48, prereq=Prereq.ARP, oxm=(_BASIC, 24), nxm=(_NXM1, 17)),
    _f("arp_tha", Slot.ARP_THA, 48, prereq=Prereq.ARP, oxm=(_BASIC, 25), nxm=(_NXM1, 18)),
    _f("tcp_src", Slot.TP_SRC, 16, prereq=Prereq.TCP, oxm=(_BASIC, 13), nxm=(_NXM0, 9)),
    _f("tcp_dst", Slot.TP_DST, 16, prereq=Prereq.TCP, oxm=(_BASIC, 14), nxm=(_NXM0, 10)),
    _f("tcp_flags", Slot.TCP_FLAGS, 12, writable=False, prereq=Prereq.TCP,
       oxm=(_BASIC, 42), nxm=(_NXM1, 34), min_version=0x05),
    _f("udp_src", Slot.TP_SRC, 16, prereq=Prereq.UDP, oxm=(_BASIC, 15), nxm=(_NXM0, 11)),
    _f("udp_dst", Slot.TP_DST, 16, prereq=Prereq.UDP, oxm=(_BASIC, 16), nxm=(_NXM0, 12)),
    _f("sctp_src", Slot.TP_SRC, 16, prereq=Prereq.SCTP, oxm=(_BASIC, 17)),
    _f("sctp_dst", Slot.TP_DST, 16, prereq=Prereq.SCTP, oxm=(_BASIC, 18)),
    _f("icmp_type", Slot.TP_SRC, 8, maskable=False, prereq=Prereq.ICMPV4, oxm=(_BASIC, 19),
       nxm=(_NXM0, 13), aliases=("icmpv4_type",)),
    _f("icmp_code", Slot.TP_DST, 8, maskable=False, prereq=Prereq.ICMPV4, oxm=(_BASIC, 20),
       nxm=(_NXM0, 14), aliases=("icmpv4_code",)),
    _f("icmpv6_type", Slot.TP_SRC, 8, maskable=False, prereq=Prereq.ICMPV6,
       oxm=(_BASIC, 29), nxm=(_NXM1, 21)),
    _f("icmpv6_code", Slot.TP_DST, 8, maskable=False, prereq=Prereq.ICMPV6,
       oxm=(_BASIC, 30), nxm=(_NXM1, 22)),
    _f("nd_target", Slot.ND_TARGET, 128, prereq=Prereq.ND, oxm=(_BASIC, 31),
       nxm=(_NXM1, 23), aliases=("ipv6_nd_target",)),
    _f("nd_sll", Slot.ARP_SHA, 48, prereq=Prereq.ND_SOLICIT, oxm=(_BASIC, 32),
       nxm=(_NXM1, 24), aliases=("ipv6_nd_sll",)),
    _f("nd_tll", Slot.ARP_THA, 48, prereq=Prereq.ND_ADVERT, oxm=(_BASIC, 33),
       nxm=(_NXM1, 25), aliases=("ipv6_nd_tll",)),
    # PBB_ISID holds the I-TAG's I-SID and its UCA bit (bit 27, where the I-TAG has it).
    _f("pbb_isid", Slot.PBB_ISID, 24, prereq=Prereq.PBB, oxm=(_BASIC, 37)),
    _f("pbb_uca", Slot.PBB_ISID, 1, shift=27, maskable=False, prereq=Prereq.PBB,
       oxm=(_BASIC, 41), min_version=0x05),
    _f("ipv6_exthdr", Slot.IPV6_EXTHDR, 9, writable=False, prereq=Prereq.IPV6,
       oxm=(_BASIC, 39)),
)

BY_NAME: dict[str, Field] = {}
for _fld in FIELDS:
    BY_NAME[_fld.name] = _fld
    for _alias in _fld.aliases:
        BY_NAME.setdefault(_alias, _fld)

#: OXM (class, field) -> Field, for OpenFlow 1.2+ matches and set_field.
BY_OXM: dict[tuple[int, int], Field] = {f.oxm: f for f in FIELDS if f.oxm is not None}
#: NXM (class, field) -> Field, for OF1.0 NXM matches and Nicira actions.
BY_NXM: dict[tuple[int, int], Field] = {f.nxm: f for f in FIELDS if f.nxm is not None}


def field(name: str) -> Field:
    """The field called ``name`` (OVS spelling or alias); KeyError if unknown."""
    return BY_NAME[name]


class Match:
    """A value/mask pair over the flow vector.

    A 1 bit in ``mask`` means "this bit of the flow must equal the bit in ``value``".
    Instances are mutable while being built (``set``) and hashable once ``frozen()``
    produced the immutable ``(values, masks)`` key the classifier uses.
    """

    __slots__ = ("values", "masks")

    def __init__(self, values: Iterable[int] | None = None,
                 masks: Iterable[int] | None = None) -> None:
        self.values = list(values) if values is not None else [0] * N_SLOTS
        self.masks = list(masks) if masks is not None else [0] * N_SLOTS

    # --- building -----------------------------------------------------------------
    def set(self, fld: Field | str, value: int, mask: int | None = None) -> "Match":
        """Match ``fld`` against ``value`` under ``mask`` (all ones when None).

        Value and mask are in the field's own bit positions (not shifted into the slot).
        """
        if isinstance(fld, str):
            fld = BY_NAME[fld]
        full = (1 << fld.n_bits) - 1
        mask = full if mask is None else mask & full
        value &= mask
        slot, shift = fld.slot, fld.shift
        self.masks[slot] = (self.masks[slot] & ~(full << shift)) | (mask << shift)
        self.values[slot] = (self.values[slot] & ~(full << shift)) | (value << shift)
        return self

    def set_slot(self, slot: int, value: int, mask: int) -> "Match":
        """Set a whole slot's value and mask (both already in slot bit positions)."""
        self.masks[slot] = mask
        self.values[slot] = value & mask
        return self

    # --- reading ------------------------------------------------------------------
    def get(self, fld: Field | str) -> tuple[int, int]:
        """``(value, mask)`` of ``fld`` in the field's own bit positions."""
        if isinstance(fld, str):
            fld = BY_NAME[fld]
        full = (1 << fld.n_bits) - 1
        return ((self.values[fld.slot] >> fld.shift) & full,
                (self.masks[fld.slot] >> fld.shift) & full)

    def is_exact(self, fld: Field | str) -> bool:
        if isinstance(fld, str):
            fld = BY_NAME[fld]
        return self.get(fld)[1] == (1 << fld.n_bits) - 1

    def is_wild(self, fld: Field | str) -> bool:
        return self.get(fld)[1] == 0

    def matches(self, flow: tuple[int, ...] | list[int]) -> bool:
        """True if ``flow`` satisfies this match (the linear reference test)."""
        for v, m, f in zip(self.values, self.masks, flow):
            if m and (f & m) != v:
                return False
        return True

    def frozen(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return tuple(self.values), tuple(self.masks)

    def copy(self) -> "Match":
        return Match(self.values, self.masks)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Match) and self.values == other.values
                and self.masks == other.masks)

    def __hash__(self) -> int:
        return hash(self.frozen())

    def is_catchall(self) -> bool:
        return not any(self.masks)

    def __repr__(self) -> str:
        return f"Match({to_string(self) or 'any'})"


def iter_set_fields(match: Match) -> Iterator[tuple[Field, int, int]]:
    """Yield ``(field, value, mask)`` for catalogue fields with any mask bit set.

    Fields overlapping in one slot (vlan_tci/vlan_vid/vlan_pcp, nw_tos/ip_dscp/ip_ecn,
    mpls parts) are reported once, preferring the widest exact description; a codec that
    needs its own choice reads slots directly.
    """
    seen_bits = [0] * N_SLOTS
    for fld in FIELDS:
        m = (match.masks[fld.slot] >> fld.shift) & ((1 << fld.n_bits) - 1)
        if not m:
            continue
        covered = (seen_bits[fld.slot] >> fld.shift) & ((1 << fld.n_bits) - 1)
        if covered & m == m:
            continue
        seen_bits[fld.slot] |= m << fld.shift
        yield fld, (match.values[fld.slot] >> fld.shift) & ((1 << fld.n_bits) - 1), m


def to_string(match: Match) -> str:
    """A short ``name=value[/mask]`` rendering, for logs and reprs (not ovs-ofctl syntax)."""
    parts = []
    for fld, value, mask in iter_set_fields(match):
        full = (1 << fld.n_bits) - 1
        parts.append(f"{fld.name}={value:#x}" if mask == full
                     else f"{fld.name}={value:#x}/{mask:#x}")
    return ",".join(parts)


# --- prerequisites -----------------------------------------------------------------------

def _eth_type_is(match: Match, *types: int) -> bool:
    value, mask = match.values[Slot.ETH_TYPE], match.masks[Slot.ETH_TYPE]
    return mask == 0xFFFF and value in types


def _proto_is(match: Match, proto: int) -> bool:
    return match.masks[Slot.NW_PROTO] & 0xFF == 0xFF and match.values[Slot.NW_PROTO] & 0xFF == proto


def prereqs_ok(match: Match, prereq: Prereq) -> bool:
    """True if ``match`` satisfies ``prereq`` (OVS's mf_are_prereqs_ok)."""
    if prereq is Prereq.NONE:
        return True
    if prereq is Prereq.ARP:
        return _eth_type_is(match, ETH_TYPE_ARP, ETH_TYPE_RARP)
    if prereq is Prereq.IPV4:
        return _eth_type_is(match, ETH_TYPE_IP)
    if prereq is Prereq.IPV6:
        return _eth_type_is(match, ETH_TYPE_IPV6)
    if prereq is Prereq.IP_ANY:
        return _eth_type_is(match, ETH_TYPE_IP, ETH_TYPE_IPV6)
    if prereq is Prereq.MPLS:
        return _eth_type_is(match, ETH_TYPE_MPLS, ETH_TYPE_MPLS_MCAST)
    if prereq is Prereq.PBB:
        return _eth_type_is(match, ETH_TYPE_PBB)
    if prereq is Prereq.VLAN_VID:
        return (match.masks[Slot.VLAN_TCI] & VLAN_CFI
                and match.values[Slot.VLAN_TCI] & VLAN_CFI) != 0
    if prereq is Prereq.TCP:
        return prereqs_ok(match, Prereq.IP_ANY) and _proto_is(match, IPPROTO_TCP)
    if prereq is Prereq.UDP:
        return prereqs_ok(match, Prereq.IP_ANY) and _proto_is(match, IPPROTO_UDP)
    if prereq is Prereq.SCTP:
        return prereqs_ok(match, Prereq.IP_ANY) and _proto_is(match, IPPROTO_SCTP)
    if prereq is Prereq.ICMPV4:
        return prereqs_ok(match, Prereq.IPV4) and _proto_is(match, IPPROTO_ICMP)
    if prereq is Prereq.ICMPV6:
        return prereqs_ok(match, Prereq.IPV6) and _proto_is(match, IPPROTO_ICMPV6)
    # Neighbour discovery: like OVS, the ICMPv6 type and code are checked by value (a
    # wildcarded code reads as 0).
    ttype = match.values[Slot.TP_SRC] & 0xFF
    code_ok = match.values[Slot.TP_DST] & 0xFF == 0
    if prereq is Prereq.ND:
        return prereqs_ok(match, Prereq.ICMPV6) and ttype in (135, 136) and code_ok
    if prereq is Prereq.ND_SOLICIT:
        return prereqs_ok(match, Prereq.ICMPV6) and ttype == 135 and code_ok
    if prereq is Prereq.ND_ADVERT:
        return prereqs_ok(match, Prereq.ICMPV6) and ttype == 136 and code_ok
    raise AssertionError(prereq)


def flow_prereqs_ok(flow: tuple[int, ...] | list[int], prereq: Prereq) -> bool:
    """True if a concrete ``flow`` satisfies ``prereq`` (used before a set_field)."""
    eth_type = flow[Slot.ETH_TYPE]
    proto = flow[Slot.NW_PROTO]
    is_ip = eth_type in (ETH_TYPE_IP, ETH_TYPE_IPV6)
    if prereq is Prereq.NONE:
        return True
    if prereq is Prereq.ARP:
        return eth_type in (ETH_TYPE_ARP, ETH_TYPE_RARP)
    if prereq is Prereq.IPV4:
        return eth_type == ETH_TYPE_IP
    if prereq is Prereq.IPV6:
        return eth_type == ETH_TYPE_IPV6
    if prereq is Prereq.IP_ANY:
        return is_ip
    if prereq is Prereq.MPLS:
        return eth_type in (ETH_TYPE_MPLS, ETH_TYPE_MPLS_MCAST)
    if prereq is Prereq.PBB:
        return eth_type == ETH_TYPE_PBB
    if prereq is Prereq.VLAN_VID:
        return bool(flow[Slot.VLAN_TCI] & VLAN_CFI)
    if prereq is Prereq.TCP:
        return is_ip and proto == IPPROTO_TCP
    if prereq is Prereq.UDP:
        return is_ip and proto == IPPROTO_UDP
    if prereq is Prereq.SCTP:
        return is_ip and proto == IPPROTO_SCTP
    if prereq is Prereq.ICMPV4:
        return eth_type == ETH_TYPE_IP and proto == IPPROTO_ICMP
    is_icmp6 = eth_type == ETH_TYPE_IPV6 and proto == IPPROTO_ICMPV6
    if prereq is Prereq.ICMPV6:
        return is_icmp6
    icmp_type, icmp_code = flow[Slot.TP_SRC], flow[Slot.TP_DST]
    if prereq is Prereq.ND:
        return is_icmp6 and icmp_type in (135, 136) and icmp_code == 0
    if prereq is Prereq.ND_SOLICIT:
        return is_icmp6 and icmp_type == 135 and icmp_code == 0
    if prereq is Prereq.ND_ADVERT:
        return is_icmp6 and icmp_type == 136 and icmp_code == 0
    raise AssertionError(prereq)
