"""Frame edits: the datapath's header-rewriting primitives (OVS lib/packets.c, odp-execute).

What this module owns
---------------------
Functions that take a frame (``bytes``/``bytearray``/``memoryview``) and return the edited
frame as new ``bytes``:

* ``set_field(frame, field, value, mask=None)`` writes one catalogue field
  (``packet.fields.FIELDS``), masked or whole, keeping every checksum valid: the IPv4
  header checksum, the TCP/UDP/ICMPv6 checksums over the pseudo-header, ICMP checksums,
  and SCTP's CRC32c (recomputed).  A UDP checksum of zero ("none") stays zero.  The
  fields that say what a header is are writable too (Open vSwitch refuses them):
  ``eth_type`` rewrites the innermost EtherType (after VLAN tags), ``ip_proto`` the
  IPv4 protocol or the IPv6 (last) next header, updating the transport checksum that
  the old protocol's header carries for its pseudo-header, ``mpls_bos`` the top label's
  S bit.  Nothing else moves: the bytes that follow are read under the new type.
* ``push_vlan``/``pop_vlan``, ``push_mpls``/``pop_mpls``, ``push_pbb``/``pop_pbb`` (an
  802.1ah backbone header: B-DA, B-SA, type 0x88e7 and the I-TAG, in front of the whole
  customer frame), ``copy_ttl_out``/``copy_ttl_in`` (between the outermost MPLS entry and
  the entry or IP header beneath it) and ``truncate``.

Conventions
-----------
* A set on a field the frame does not carry (its prerequisite fails, or the header it
  lives in is truncated or malformed) returns the frame unchanged.  So does a set on a
  field that is not part of the frame at all (registers, metadata, tunnel id, packet mark,
  in_port) or that OpenFlow does not allow to be written.
* ``vlan_tci`` in the flow uses bit 12 (CFI) as "a tag is present".  The frame never gets
  that bit: OVS writes tags with the DEI/CFI bit clear, and so do we.
* A pop that takes a frame of at least the Ethernet minimum (60 bytes without the FCS)
  below it pads the frame back to 60 with zeros, as any Ethernet transmitter must.
* Checksums change incrementally (RFC 1624) so a frame with a deliberately wrong checksum
  keeps it wrong by the same amount, as on a real switch.  Transport checksums of later
  IP fragments are left alone: those bytes are payload.  After an IPv6 destination change
  the transport checksum is left alone when a routing header is present, since the
  pseudo-header then carries the final destination, not the current one.

Must not import: anything in pyvswitch except ``packet.fields``, ``packet.extract`` and
``packet.checksum``.  No I/O, no clocks.
"""

from __future__ import annotations

import struct
from typing import Callable, Union

from pyvswitch.packet import checksum
from pyvswitch.packet.extract import IEH_ROUTER, Layout, extract_with_layout
from pyvswitch.packet.fields import (
    ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_MPLS, ETH_TYPE_MPLS_MCAST,
    ETH_TYPE_PBB, ETH_TYPE_RARP, ETH_TYPE_VLAN, ETH_TYPE_VLAN_8021AD, IPPROTO_ICMP,
    IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, VLAN_CFI, FIELDS, Field, Prereq,
    Slot,
)

__all__ = ["set_field", "push_vlan", "pop_vlan", "push_mpls", "pop_mpls", "push_pbb",
           "pop_pbb", "copy_ttl_out", "copy_ttl_in", "truncate"]

Frame = Union[bytes, bytearray, memoryview]     # not ``|``: PyPy is Python 3.9
Flow = tuple[int, ...]
_Writer = Callable[[bytearray, Flow, Layout, int, int], None]

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


def set_field(frame: Frame, field: Field, value: int, mask: int | None = None) -> bytes:
    """``frame`` with ``field`` set to ``value`` (only the bits in ``mask``, if given).

    ``value`` and ``mask`` are in the field's own bit positions, as in ``Match.set``.
    """
    plan = _PLANS.get(field.name)
    if plan is None:
        return bytes(frame)
    writer, prereq_ok, slot, shift, full = plan
    if mask is None and (writer is _w_eth_dst or writer is _w_eth_src):
        if len(frame) < 14:
            return bytes(frame)
        at = 0 if writer is _w_eth_dst else 6
        return bytes(frame[:at]) + (value & full).to_bytes(6, "big") + bytes(frame[at + 6:])
    flow, layout = extract_with_layout(frame, 0)
    if layout.l3 < 0 or not prereq_ok(flow):
        return bytes(frame)
    bits = (full if mask is None else mask & full) << shift
    old = flow[slot]
    new = (old & ~bits) | ((value << shift) & bits)
    buf = bytearray(frame)
    writer(buf, flow, layout, old, new)
    return bytes(buf)


# --- prerequisites --------------------------------------------------------------------------

def _eth_type_in(*types: int) -> Callable[[Flow], bool]:
    return lambda flow: flow[_ETH_TYPE] in types


def _ip_proto(proto: int, *types: int) -> Callable[[Flow], bool]:
    return lambda flow: flow[_NW_PROTO] == proto and flow[_ETH_TYPE] in types


def _nd(*icmp_types: int) -> Callable[[Flow], bool]:
    return lambda flow: (flow[_ETH_TYPE] == ETH_TYPE_IPV6 and flow[_NW_PROTO] == IPPROTO_ICMPV6
                         and flow[_TP_SRC] in icmp_types and flow[_TP_DST] == 0)


_ETH_TYPE, _NW_PROTO, _TP_SRC, _TP_DST = (int(Slot.ETH_TYPE), int(Slot.NW_PROTO),
                                          int(Slot.TP_SRC), int(Slot.TP_DST))
_IP_ANY = (ETH_TYPE_IP, ETH_TYPE_IPV6)
#: ``fields.flow_prereqs_ok`` as one precomputed test per prerequisite (that function walks
#: an if-chain of enum comparisons, too slow for the per-packet path).  The tests check
#: the two agree.
_PREREQ_OK: dict[Prereq, Callable[[Flow], bool]] = {
    Prereq.NONE: lambda flow: True,
    Prereq.ARP: _eth_type_in(ETH_TYPE_ARP, ETH_TYPE_RARP),
    Prereq.IPV4: _eth_type_in(ETH_TYPE_IP),
    Prereq.IPV6: _eth_type_in(ETH_TYPE_IPV6),
    Prereq.IP_ANY: _eth_type_in(*_IP_ANY),
    Prereq.MPLS: _eth_type_in(ETH_TYPE_MPLS, ETH_TYPE_MPLS_MCAST),
    Prereq.PBB: _eth_type_in(ETH_TYPE_PBB),
    Prereq.VLAN_VID: lambda flow: bool(flow[Slot.VLAN_TCI] & VLAN_CFI),
    Prereq.TCP: _ip_proto(IPPROTO_TCP, *_IP_ANY),
    Prereq.UDP: _ip_proto(IPPROTO_UDP, *_IP_ANY),
    Prereq.SCTP: _ip_proto(IPPROTO_SCTP, *_IP_ANY),
    Prereq.ICMPV4: _ip_proto(IPPROTO_ICMP, ETH_TYPE_IP),
    Prereq.ICMPV6: _ip_proto(IPPROTO_ICMPV6, ETH_TYPE_IPV6),
    Prereq.ND: _nd(135, 136),
    Prereq.ND_SOLICIT: _nd(135),
    Prereq.ND_ADVERT: _nd(136),
}
assert set(_PREREQ_OK) == set(Prereq)


# --- checksum plumbing ---------------------------------------------------------------------

def _fix16(buf: bytearray, at: int, old: int, new: int) -> None:
    """Update the 16-bit checksum at ``at`` for a covered value changing old -> new."""
    _U16.pack_into(buf, at, checksum.update(_U16.unpack_from(buf, at)[0], old, new))


def _fix_l4(buf: bytearray, flow: Flow, lay: Layout, old: int, new: int,
            pseudo: bool) -> None:
    """Update the transport checksum for a covered change (``pseudo``: in the pseudo-header).

    ICMPv4 has no pseudo-header, so only changes inside its own message count.
    """
    if lay.l7 < 0:
        return
    proto = flow[_NW_PROTO]
    l4 = lay.l4
    if proto == IPPROTO_TCP:
        _fix16(buf, l4 + 16, old, new)
    elif proto == IPPROTO_UDP:
        csum = _U16.unpack_from(buf, l4 + 6)[0]
        if csum:
            _U16.pack_into(buf, l4 + 6, checksum.update(csum, old, new) or 0xFFFF)
    elif proto == IPPROTO_ICMPV6 or (proto == IPPROTO_ICMP and not pseudo):
        _fix16(buf, l4 + 2, old, new)


def _ipv4_ok(flow: Flow, lay: Layout) -> bool:
    return flow[_ETH_TYPE] == ETH_TYPE_IP and lay.l4 >= 0


def _ipv6_ok(buf: bytearray, flow: Flow, lay: Layout) -> bool:
    """The IPv6 header itself is whole and consistent (extension headers may not be)."""
    if flow[_ETH_TYPE] != ETH_TYPE_IPV6 or len(buf) - lay.l3 < 40:
        return False
    return _U16.unpack_from(buf, lay.l3 + 4)[0] <= len(buf) - lay.l3 - 40


# --- one writer per flow slot ----------------------------------------------------------------

def _w_eth_dst(buf, flow, lay, old, new):
    buf[0:6] = new.to_bytes(6, "big")


def _w_eth_src(buf, flow, lay, old, new):
    buf[6:12] = new.to_bytes(6, "big")


def _w_eth_type(buf, flow, lay, old, new):
    """The EtherType the flow's ``eth_type`` came from (after VLAN tags, or in the SNAP
    header); frames without a real EtherType (plain 802.2) are left alone."""
    at = lay.eth_type_ofs
    if at >= 0 and _U16.unpack_from(buf, at)[0] >= 0x600:
        _U16.pack_into(buf, at, new)


def _w_ip_proto(buf, flow, lay, old, new):
    """The IPv4 protocol or the IPv6 next header that names the transport (the last
    extension header's, if any).  The IPv4 header checksum is kept right, and so is the
    transport checksum, which covers the protocol in its pseudo-header."""
    l3 = lay.l3
    if _ipv4_ok(flow, lay):
        word = _U16.unpack_from(buf, l3 + 8)[0]
        new_word = (word & 0xFF00) | new
        _U16.pack_into(buf, l3 + 8, new_word)
        _fix16(buf, l3 + 10, word, new_word)
    elif _ipv6_ok(buf, flow, lay) and lay.l4 >= 0:
        at = _ipv6_next_header(buf, lay)
        if at < 0 or buf[at] != old:      # a later fragment: the flow holds 44
            return
        buf[at] = new
    else:
        return
    _fix_l4(buf, flow, lay, old, new, pseudo=True)


def _ipv6_next_header(buf: bytearray, lay: Layout) -> int:
    """Offset of the next-header byte that points at ``lay.l4`` (-1 if the chain, walked
    again, does not end there)."""
    at, p = lay.l3 + 6, lay.l3 + 40
    while p < lay.l4:
        proto = buf[at]
        hlen = 8 if proto == 44 else (buf[p + 1] + 2) * 4 if proto == 51 else \
            (buf[p + 1] + 1) * 8
        at, p = p, p + hlen
    return at if p == lay.l4 else -1


def _w_vlan_tci(buf, flow, lay, old, new):
    if old & VLAN_CFI:
        _U16.pack_into(buf, 14, new & ~VLAN_CFI)


def _w_mpls_lse(buf, flow, lay, old, new):
    if lay.l2_5 >= 0 and len(buf) - lay.l2_5 >= 4:
        _U32.pack_into(buf, lay.l2_5, new)


def _w_ipv4_addr(offset_in_ip: int, offset_in_arp: int) -> _Writer:
    def write(buf, flow, lay, old, new):
        if flow[_ETH_TYPE] == ETH_TYPE_IP:
            if lay.l4 < 0:
                return
            _U32.pack_into(buf, lay.l3 + offset_in_ip, new)
            _fix16(buf, lay.l3 + 10, old, new)
            _fix_l4(buf, flow, lay, old, new, pseudo=True)
        elif lay.l4 >= 0:  # ARP
            _U32.pack_into(buf, lay.l3 + offset_in_arp, new)
    return write


def _w_ipv6_addr(offset: int, is_dst: bool) -> _Writer:
    def write(buf, flow, lay, old, new):
        if not _ipv6_ok(buf, flow, lay):
            return
        buf[lay.l3 + offset:lay.l3 + offset + 16] = new.to_bytes(16, "big")
        if not (is_dst and flow[Slot.IPV6_EXTHDR] & IEH_ROUTER and _segments_left(buf, lay)):
            _fix_l4(buf, flow, lay, old, new, pseudo=True)
    return write


def _segments_left(buf: bytearray, lay: Layout) -> int:
    """Segments left in the first routing header of a well-formed IPv6 header chain."""
    proto, p = buf[lay.l3 + 6], lay.l3 + 40
    while p < lay.l4:
        if proto == 43:
            return buf[p + 3]
        hlen = 8 if proto == 44 else (buf[p + 1] + 2) * 4 if proto == 51 else \
            (buf[p + 1] + 1) * 8
        proto, p = buf[p], p + hlen
    return 0


def _w_ipv6_label(buf, flow, lay, old, new):
    if _ipv6_ok(buf, flow, lay):
        word = _U32.unpack_from(buf, lay.l3)[0]
        _U32.pack_into(buf, lay.l3, (word & ~0xFFFFF) | (new & 0xFFFFF))


def _w_nw_tos(buf, flow, lay, old, new):
    l3 = lay.l3
    if _ipv4_ok(flow, lay):
        word = _U16.unpack_from(buf, l3)[0]
        new_word = (word & 0xFF00) | new
        _U16.pack_into(buf, l3, new_word)
        _fix16(buf, l3 + 10, word, new_word)
    elif _ipv6_ok(buf, flow, lay):
        word = _U32.unpack_from(buf, l3)[0]
        _U32.pack_into(buf, l3, (word & ~0x0FF00000) | (new << 20))


def _w_nw_ttl(buf, flow, lay, old, new):
    l3 = lay.l3
    if _ipv4_ok(flow, lay):
        word = _U16.unpack_from(buf, l3 + 8)[0]
        new_word = (word & 0x00FF) | (new << 8)
        _U16.pack_into(buf, l3 + 8, new_word)
        _fix16(buf, l3 + 10, word, new_word)
    elif _ipv6_ok(buf, flow, lay):
        buf[l3 + 7] = new


def _w_arp_op(buf, flow, lay, old, new):
    if lay.l4 >= 0:  # a well-formed ARP header (the prerequisite checked it is ARP)
        _U16.pack_into(buf, lay.l3 + 6, new)


def _nd_option(buf: bytearray, lay: Layout, opt_type: int) -> int:
    """Offset of the first 8-byte link-layer address option of ``opt_type``, or -1."""
    p, end = lay.l7 + 16, lay.end
    while end - p >= 8:
        length = buf[p + 1] * 8
        if not length or length > end - p:
            break
        if buf[p] == opt_type and length == 8:
            return p
        p += length
    return -1


def _w_lla(offset_in_arp: int, nd_option: int) -> _Writer:
    def write(buf, flow, lay, old, new):
        if flow[_ETH_TYPE] == ETH_TYPE_IPV6:  # ND link-layer address option
            if lay.l7 < 0:
                return
            p = _nd_option(buf, lay, nd_option)
            if p < 0:
                return
            old_mac = int.from_bytes(buf[p + 2:p + 8], "big")
            buf[p + 2:p + 8] = new.to_bytes(6, "big")
            _fix16(buf, lay.l4 + 2, old_mac, new)
        elif lay.l4 >= 0:  # ARP
            buf[lay.l3 + offset_in_arp:lay.l3 + offset_in_arp + 6] = new.to_bytes(6, "big")
    return write


def _w_tp(is_dst: bool) -> _Writer:
    def write(buf, flow, lay, old, new):
        if lay.l7 < 0:
            return
        proto, l4 = flow[_NW_PROTO], lay.l4
        if proto in (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP):
            at = l4 + 2 if is_dst else l4
            old_port = _U16.unpack_from(buf, at)[0]
            _U16.pack_into(buf, at, new)
            if proto == IPPROTO_SCTP:
                _U32.pack_into(buf, l4 + 8, checksum.sctp_checksum(buf[l4:lay.end]))
            else:
                _fix_l4(buf, flow, lay, old_port, new, pseudo=False)
        elif proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
            word = _U16.unpack_from(buf, l4)[0]
            new_word = (word & 0xFF00) | new if is_dst else (word & 0x00FF) | (new << 8)
            _U16.pack_into(buf, l4, new_word)
            _fix16(buf, l4 + 2, word, new_word)
    return write


def _w_nd_target(buf, flow, lay, old, new):
    at = lay.l7
    if at >= 0 and lay.end - at >= 16:
        old = int.from_bytes(buf[at:at + 16], "big")
        buf[at:at + 16] = new.to_bytes(16, "big")
        _fix16(buf, lay.l4 + 2, old, new)


def _w_pbb_isid(buf, flow, lay, old, new):
    """The I-TAG's I-SID and UCA bit (the flow slot holds both where the I-TAG does)."""
    if len(buf) - lay.l3 >= 4:
        word = _U32.unpack_from(buf, lay.l3)[0]
        _U32.pack_into(buf, lay.l3, (word & ~0x08FFFFFF) | (new & 0x08FFFFFF))


_WRITERS: dict[int, _Writer] = {
    Slot.ETH_DST: _w_eth_dst,
    Slot.ETH_SRC: _w_eth_src,
    Slot.ETH_TYPE: _w_eth_type,
    Slot.VLAN_TCI: _w_vlan_tci,
    Slot.MPLS_LSE: _w_mpls_lse,
    Slot.NW_SRC: _w_ipv4_addr(12, 14),
    Slot.NW_DST: _w_ipv4_addr(16, 24),
    Slot.IPV6_SRC: _w_ipv6_addr(8, is_dst=False),
    Slot.IPV6_DST: _w_ipv6_addr(24, is_dst=True),
    Slot.IPV6_LABEL: _w_ipv6_label,
    Slot.NW_TOS: _w_nw_tos,
    Slot.NW_TTL: _w_nw_ttl,
    Slot.NW_PROTO: _w_arp_op,
    Slot.ARP_SHA: _w_lla(8, 1),
    Slot.ARP_THA: _w_lla(18, 2),
    Slot.TP_SRC: _w_tp(is_dst=False),
    Slot.TP_DST: _w_tp(is_dst=True),
    Slot.ND_TARGET: _w_nd_target,
    Slot.PBB_ISID: _w_pbb_isid,
}

#: field name -> (writer, prerequisite test, slot, shift, all-ones value of the field), for
#: every writable field that lives in the frame.  Keyed by name: hashing a str is cheap,
#: hashing a Field dataclass or an Enum runs Python code.
#: Fields whose slot another field shares with a different writer (``NW_PROTO`` is the
#: ARP opcode too).
_FIELD_WRITERS: dict[str, _Writer] = {"ip_proto": _w_ip_proto}
_PLANS: dict[str, tuple[_Writer, Callable[[Flow], bool], int, int, int]] = {
    f.name: (_FIELD_WRITERS.get(f.name) or _WRITERS[f.slot], _PREREQ_OK[f.prereq],
             int(f.slot), f.shift, (1 << f.n_bits) - 1)
    for f in FIELDS if f.writable and f.slot in _WRITERS
}


# --- tags and label stacks -------------------------------------------------------------------

def push_vlan(frame: Frame, tpid: int, tci: int) -> bytes:
    """``frame`` with a new outermost VLAN tag (``tci``'s CFI bit is not written)."""
    if len(frame) < 14:
        return bytes(frame)
    tag = _U16.pack(tpid) + _U16.pack(tci & ~VLAN_CFI & 0xFFFF)
    return bytes(frame[:12]) + tag + bytes(frame[12:])


def pop_vlan(frame: Frame) -> bytes:
    """``frame`` without its outermost VLAN tag (unchanged if it has none)."""
    if len(frame) >= 18 and _U16.unpack_from(frame, 12)[0] in (ETH_TYPE_VLAN,
                                                              ETH_TYPE_VLAN_8021AD):
        return _pad(bytes(frame[:12]) + bytes(frame[16:]), len(frame))
    return bytes(frame)


def push_mpls(frame: Frame, ethertype: int, lse: int) -> bytes:
    """``frame`` with label stack entry ``lse`` pushed, and Ethernet type ``ethertype``.

    The entry goes after the Ethernet header and VLAN tags (on top of an existing label
    stack); ``ethertype`` must be 0x8847 or 0x8848, or nothing changes.
    """
    if ethertype not in (ETH_TYPE_MPLS, ETH_TYPE_MPLS_MCAST):
        return bytes(frame)
    _, lay = extract_with_layout(frame, 0)
    at = lay.l2_5 if lay.l2_5 >= 0 else lay.l3
    if at < 0:
        return bytes(frame)
    buf = bytearray(frame)
    buf[at:at] = _U32.pack(lse & 0xFFFFFFFF)
    _U16.pack_into(buf, lay.eth_type_ofs, ethertype)
    return bytes(buf)


def pop_mpls(frame: Frame, ethertype: int) -> bytes:
    """``frame`` without its outermost label stack entry, with Ethernet type ``ethertype``.

    As in OVS the caller chooses the new type: the payload's type when the popped entry
    was the bottom of the stack, an MPLS type otherwise.  Non-MPLS frames are unchanged.
    """
    flow, lay = extract_with_layout(frame, 0)
    if lay.l2_5 < 0 or len(frame) - lay.l2_5 < 4:
        return bytes(frame)
    buf = bytearray(frame)
    del buf[lay.l2_5:lay.l2_5 + 4]
    _U16.pack_into(buf, lay.eth_type_ofs, ethertype & 0xFFFF)
    return _pad(bytes(buf), len(frame))


def push_pbb(frame: Frame, ethertype: int, itag: int) -> bytes:
    """``frame`` carried as the customer frame of a new backbone header: the backbone
    addresses are the frame's own, then ``ethertype`` (0x88e7) and the 32-bit I-TAG
    ``itag`` (PCP, DEI, UCA, I-SID)."""
    if len(frame) < 14:
        return bytes(frame)
    return (bytes(frame[:12]) + _U16.pack(ethertype & 0xFFFF)
            + _U32.pack(itag & 0xFFFFFFFF) + bytes(frame))


def pop_pbb(frame: Frame) -> bytes:
    """The customer frame inside a PBB frame (its backbone header, any B-TAG and the
    I-TAG removed); other frames are unchanged."""
    _, lay = extract_with_layout(frame, 0)
    if lay.eth_type_ofs < 0 or _U16.unpack_from(frame, lay.eth_type_ofs)[0] != ETH_TYPE_PBB:
        return bytes(frame)
    inner = lay.eth_type_ofs + 6
    if len(frame) - inner < 14:
        return bytes(frame)
    return _pad(bytes(frame[inner:]), len(frame))


ETH_MIN_FRAME = 60


def _pad(frame: bytes, old_len: int) -> bytes:
    """``frame`` zero-padded to the Ethernet minimum if a pop took it below."""
    if len(frame) < ETH_MIN_FRAME <= old_len:
        return frame + bytes(ETH_MIN_FRAME - len(frame))
    return frame


def _ttl_beneath(frame: Frame, lay: Layout) -> tuple[int, int]:
    """(kind, offset) of the TTL under the outermost MPLS entry: kind 1 another label
    stack entry, 4 an IPv4 header, 6 an IPv6 header, 0 none."""
    top = lay.l2_5
    if top < 0 or len(frame) - top < 4:
        return 0, -1
    if not frame[top + 2] & 1:                       # not the bottom of the stack
        return (1, top + 7) if len(frame) - top >= 8 else (0, -1)
    at = top + 4
    version = frame[at] >> 4 if len(frame) > at else 0
    if version == 4 and len(frame) - at >= 20:
        return 4, at
    if version == 6 and len(frame) - at >= 40:
        return 6, at
    return 0, -1


def copy_ttl_out(frame: Frame) -> bytes:
    """The outermost MPLS TTL takes the TTL of what lies beneath it (the next entry, or
    the IPv4 TTL / IPv6 hop limit under the bottom of the stack)."""
    _, lay = extract_with_layout(frame, 0)
    kind, at = _ttl_beneath(frame, lay)
    if not kind:
        return bytes(frame)
    ttl = frame[at] if kind == 1 else frame[at + (8 if kind == 4 else 7)]
    buf = bytearray(frame)
    buf[lay.l2_5 + 3] = ttl
    return bytes(buf)


def copy_ttl_in(frame: Frame) -> bytes:
    """What lies beneath the outermost MPLS entry takes its TTL (IPv4 header checksum
    kept valid)."""
    _, lay = extract_with_layout(frame, 0)
    kind, at = _ttl_beneath(frame, lay)
    if not kind:
        return bytes(frame)
    ttl = frame[lay.l2_5 + 3]
    buf = bytearray(frame)
    if kind == 1:
        buf[at] = ttl
    elif kind == 6:
        buf[at + 7] = ttl
    else:
        old = _U16.unpack_from(buf, at + 8)[0]
        buf[at + 8] = ttl
        _fix16(buf, at + 10, old, _U16.unpack_from(buf, at + 8)[0])
    return bytes(buf)


def truncate(frame: Frame, max_len: int) -> bytes:
    """At most the first ``max_len`` bytes of ``frame``."""
    return bytes(frame[:max(max_len, 0)])
