"""The OpenFlow 1.0 ``ofp_match``: 40 fixed bytes with wildcard bits.

What this module owns
---------------------
``decode_ofp10_match`` / ``encode_ofp10_match`` (re-exported by ``match_codec``): the
wildcard bits, CIDR nw_src/nw_dst wildcard counts, 16-bit port numbers, ``dl_vlan``
0xffff meaning "no VLAN" (OFP_VLAN_NONE) on top of our ``vlan_tci``, tp_src/tp_dst
doubling as ICMP type/code.  Like Open vSwitch for an OF1.0 flow_mod, decoding drops
fields whose prerequisites are wildcarded (ofputil_normalize_match) and never fails
on content; encoding raises ValueError for what OF1.0 cannot say.

Must not import: anything in pyvswitch except ``packet.fields``, ``openflow.errors`` and
``openflow.ofpacts``.
"""

from __future__ import annotations

import struct

from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.ofpacts import of10_port_to_of11, of11_port_to_of10
from pyvswitch.packet import fields as F
from pyvswitch.packet.fields import Match, Slot

__all__ = ["decode_ofp10_match", "encode_ofp10_match", "OFP10_MATCH_LEN"]

OFP10_MATCH_LEN = 40

OFPFW10_IN_PORT = 1 << 0
OFPFW10_DL_VLAN = 1 << 1
OFPFW10_DL_SRC = 1 << 2
OFPFW10_DL_DST = 1 << 3
OFPFW10_DL_TYPE = 1 << 4
OFPFW10_NW_PROTO = 1 << 5
OFPFW10_TP_SRC = 1 << 6
OFPFW10_TP_DST = 1 << 7
OFPFW10_NW_SRC_SHIFT = 8
OFPFW10_NW_DST_SHIFT = 14
OFPFW10_DL_VLAN_PCP = 1 << 20
OFPFW10_NW_TOS = 1 << 21
OFPFW10_ALL = (1 << 22) - 1
OFP10_VLAN_NONE = 0xFFFF

_OFP10 = struct.Struct("!IH6s6sHBxHBB2xIIHH")


def _prefix_mask(wild_bits: int) -> int:
    return 0 if wild_bits >= 32 else (0xFFFFFFFF << wild_bits) & 0xFFFFFFFF


def _normalize(match: Match) -> None:
    """Drop fields whose prerequisites the match lacks (OVS ofputil_normalize_match)."""
    v, m = match.values, match.masks
    eth_type = v[Slot.ETH_TYPE] if m[Slot.ETH_TYPE] else None
    proto = v[Slot.NW_PROTO] if m[Slot.NW_PROTO] else None
    nw_addr = nw_proto = ip = tp = False
    if eth_type == F.ETH_TYPE_IP:
        nw_addr = nw_proto = ip = True
        tp = proto in (F.IPPROTO_TCP, F.IPPROTO_UDP, F.IPPROTO_SCTP, F.IPPROTO_ICMP)
    elif eth_type == F.ETH_TYPE_IPV6:
        nw_proto = ip = True
        tp = proto in (F.IPPROTO_TCP, F.IPPROTO_UDP, F.IPPROTO_SCTP, F.IPPROTO_ICMPV6)
    elif eth_type in (F.ETH_TYPE_ARP, F.ETH_TYPE_RARP):
        nw_addr = nw_proto = True
    drop = []
    if not nw_addr:
        drop += [Slot.NW_SRC, Slot.NW_DST]
    if not nw_proto:
        drop.append(Slot.NW_PROTO)
    if not ip:
        drop.append(Slot.NW_TOS)
    if not tp:
        drop += [Slot.TP_SRC, Slot.TP_DST]
    for slot in drop:
        v[slot] = m[slot] = 0


def decode_ofp10_match(buf, offset: int) -> Match:
    """Decode the 40-byte OpenFlow 1.0 ``ofp_match`` at ``offset``.

    Like OVS for an OF1.0 flow_mod, fields whose prerequisites are wildcarded are
    dropped (nw_src without dl_type=0x0800 means nothing)."""
    if len(buf) - offset < OFP10_MATCH_LEN:
        raise OFPError("OFPBMC_BAD_LEN", "short OpenFlow 1.0 match")
    (wc, in_port, dl_src, dl_dst, dl_vlan, dl_vlan_pcp, dl_type, nw_tos, nw_proto,
     nw_src, nw_dst, tp_src, tp_dst) = _OFP10.unpack_from(buf, offset)
    match = Match()
    v, m = match.values, match.masks
    if not wc & OFPFW10_IN_PORT:
        v[Slot.IN_PORT], m[Slot.IN_PORT] = of10_port_to_of11(in_port), 0xFFFFFFFF
    if not wc & OFPFW10_DL_SRC:
        v[Slot.ETH_SRC], m[Slot.ETH_SRC] = int.from_bytes(dl_src, "big"), (1 << 48) - 1
    if not wc & OFPFW10_DL_DST:
        v[Slot.ETH_DST], m[Slot.ETH_DST] = int.from_bytes(dl_dst, "big"), (1 << 48) - 1
    if not wc & OFPFW10_DL_TYPE:
        v[Slot.ETH_TYPE], m[Slot.ETH_TYPE] = dl_type, 0xFFFF
    if not wc & OFPFW10_DL_VLAN and dl_vlan == OFP10_VLAN_NONE:
        v[Slot.VLAN_TCI], m[Slot.VLAN_TCI] = 0, 0xFFFF
    else:
        tmask = 0
        if not wc & OFPFW10_DL_VLAN:
            tmask |= F.VLAN_VID_MASK | F.VLAN_CFI
        if not wc & OFPFW10_DL_VLAN_PCP:
            tmask |= F.VLAN_PCP_MASK | F.VLAN_CFI
        tci = (dl_vlan & F.VLAN_VID_MASK) | ((dl_vlan_pcp << 13) & F.VLAN_PCP_MASK) | F.VLAN_CFI
        v[Slot.VLAN_TCI], m[Slot.VLAN_TCI] = tci & tmask, tmask
    if not wc & OFPFW10_NW_TOS:
        v[Slot.NW_TOS], m[Slot.NW_TOS] = nw_tos & 0xFC, 0xFC
    if not wc & OFPFW10_NW_PROTO:
        v[Slot.NW_PROTO], m[Slot.NW_PROTO] = nw_proto, 0xFF
    smask = _prefix_mask((wc >> OFPFW10_NW_SRC_SHIFT) & 0x3F)
    dmask = _prefix_mask((wc >> OFPFW10_NW_DST_SHIFT) & 0x3F)
    v[Slot.NW_SRC], m[Slot.NW_SRC] = nw_src & smask, smask
    v[Slot.NW_DST], m[Slot.NW_DST] = nw_dst & dmask, dmask
    if not wc & OFPFW10_TP_SRC:
        v[Slot.TP_SRC], m[Slot.TP_SRC] = tp_src, 0xFFFF
    if not wc & OFPFW10_TP_DST:
        v[Slot.TP_DST], m[Slot.TP_DST] = tp_dst, 0xFFFF
    _normalize(match)
    if m[Slot.NW_PROTO] and (v[Slot.ETH_TYPE], v[Slot.NW_PROTO]) in (
            (F.ETH_TYPE_IP, F.IPPROTO_ICMP), (F.ETH_TYPE_IPV6, F.IPPROTO_ICMPV6)):
        # ICMP type/code are 8-bit fields: keep one representation whatever the codec.
        for slot in (Slot.TP_SRC, Slot.TP_DST):
            if m[slot] == 0xFFFF and v[slot] <= 0xFF:
                m[slot] = 0xFF
    return match


_OFP10_SLOTS = frozenset([Slot.IN_PORT, Slot.ETH_SRC, Slot.ETH_DST, Slot.ETH_TYPE,
                          Slot.VLAN_TCI, Slot.NW_TOS, Slot.NW_PROTO, Slot.NW_SRC,
                          Slot.NW_DST, Slot.TP_SRC, Slot.TP_DST])


def _cidr_bits(mask: int, what: str) -> int:
    """Wildcard bit count for a CIDR ``mask``; ValueError if it is not a prefix."""
    inverted = ~mask & 0xFFFFFFFF
    if inverted & (inverted + 1):
        raise ValueError(f"{what} mask {mask:#x} is not a CIDR prefix")
    return inverted.bit_length()


def encode_ofp10_match(match: Match) -> bytes:
    """The 40-byte OpenFlow 1.0 ``ofp_match``; ValueError if OF1.0 cannot express it."""
    v, m = match.values, match.masks
    for slot, mask in enumerate(m):
        if mask and slot not in _OFP10_SLOTS:
            raise ValueError(f"{Slot(slot).name.lower()} cannot be matched in OpenFlow 1.0")
    wc = 0
    in_port = 0
    if m[Slot.IN_PORT] == 0:
        wc |= OFPFW10_IN_PORT
    elif m[Slot.IN_PORT] == 0xFFFFFFFF:
        in_port = of11_port_to_of10(v[Slot.IN_PORT])
    else:
        raise ValueError("in_port cannot be masked")
    macs = []
    for slot, bit in ((Slot.ETH_SRC, OFPFW10_DL_SRC), (Slot.ETH_DST, OFPFW10_DL_DST)):
        if m[slot] == 0:
            wc |= bit
            macs.append(bytes(6))
        elif m[slot] == (1 << 48) - 1:
            macs.append(v[slot].to_bytes(6, "big"))
        else:
            raise ValueError("Ethernet addresses cannot be masked in OpenFlow 1.0")
    exact = {Slot.ETH_TYPE: (OFPFW10_DL_TYPE, 0xFFFF), Slot.NW_PROTO: (OFPFW10_NW_PROTO, 0xFF),
             Slot.TP_SRC: (OFPFW10_TP_SRC, 0xFFFF), Slot.TP_DST: (OFPFW10_TP_DST, 0xFFFF),
             Slot.NW_TOS: (OFPFW10_NW_TOS, 0xFC)}
    for slot, (bit, full) in exact.items():
        if m[slot] == 0:
            wc |= bit
        elif m[slot] == 0xFF and slot in (Slot.TP_SRC, Slot.TP_DST):
            pass  # an ICMP type or code: OF1.0 carries it in the 16-bit port field
        elif m[slot] != full:
            raise ValueError(f"{Slot(slot).name.lower()} cannot be masked in OpenFlow 1.0")
    tci, tmask = v[Slot.VLAN_TCI], m[Slot.VLAN_TCI]
    dl_vlan = dl_vlan_pcp = 0
    if tmask == 0:
        wc |= OFPFW10_DL_VLAN | OFPFW10_DL_VLAN_PCP
    elif tmask & F.VLAN_CFI and not tci & F.VLAN_CFI and tmask in (0x1FFF, 0xFFFF) and not tci:
        dl_vlan = OFP10_VLAN_NONE  # "no tag" (decodes back as vlan_tci=0/0xffff)
    elif tci & F.VLAN_CFI and tmask in (0x1FFF, 0xF000, 0xFFFF):
        if tmask & F.VLAN_VID_MASK:
            dl_vlan = tci & F.VLAN_VID_MASK
        else:
            wc |= OFPFW10_DL_VLAN
        if tmask & F.VLAN_PCP_MASK:
            dl_vlan_pcp = tci >> 13
        else:
            wc |= OFPFW10_DL_VLAN_PCP
    else:
        raise ValueError(f"vlan_tci={tci:#x}/{tmask:#x} cannot be expressed in OpenFlow 1.0")
    wc |= _cidr_bits(m[Slot.NW_SRC], "nw_src") << OFPFW10_NW_SRC_SHIFT
    wc |= _cidr_bits(m[Slot.NW_DST], "nw_dst") << OFPFW10_NW_DST_SHIFT
    return _OFP10.pack(wc, in_port, macs[0], macs[1], dl_vlan, dl_vlan_pcp,
                       v[Slot.ETH_TYPE], v[Slot.NW_TOS], v[Slot.NW_PROTO], v[Slot.NW_SRC],
                       v[Slot.NW_DST], v[Slot.TP_SRC], v[Slot.TP_DST])
