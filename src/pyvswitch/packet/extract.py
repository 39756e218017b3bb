"""Flow key extraction: one received frame -> the flow vector (OVS's miniflow_extract).

What this module owns
---------------------
``extract(frame, in_port)`` reads an Ethernet frame and returns the flow vector defined in
``packet.fields`` (a tuple of ``N_SLOTS`` ints).  ``extract_with_layout`` also returns a
``Layout`` of header offsets, which the frame editors in ``packet.edit`` use.

Behaviour follows Open vSwitch's userspace extraction:

* A frame shorter than an Ethernet header yields only ``in_port``.
* Up to two VLAN tags (TPID 0x8100 or 0x88a8) are walked; the outer one is kept in
  ``VLAN_TCI`` with the CFI bit set as "tag present", the inner one is skipped.
* An Ethernet type below 0x600 is an 802.3 length: an LLC/SNAP header with the Ethernet
  OUI supplies the real type, anything else gives ``eth_type`` 0x05ff.
* MPLS: the outer label stack entry goes to ``MPLS_LSE``; nothing past MPLS is parsed.
* IPv4 and IPv6 headers must be self-consistent (header length, total/payload length
  within the frame) or no network field is filled; trailing Ethernet padding is ignored.
  IPv4 fragments set ``NW_FRAG`` (ANY, plus LATER when the offset is non-zero) and later
  fragments get no transport fields.  IPv6 extension headers are walked (hop-by-hop,
  routing, destination options, AH, fragment); ``IPV6_EXTHDR`` reports them with the
  OpenFlow 1.3 ``OFPIEH_*`` bits.  A truncated extension header leaves only the IPv6
  addresses and flow label set, as OVS does; a later IPv6 fragment gets ``NW_PROTO`` 44.
* Transport fields are filled only when the whole fixed header is present (TCP 20, UDP 8,
  SCTP 12, ICMP/IGMP/ICMPv6 8 bytes).  ICMP type/code go to ``TP_SRC``/``TP_DST``.
  Neighbour discovery (ICMPv6 135/136, code 0) fills ``ND_TARGET`` and the source and
  target link-layer address options (``ARP_SHA``/``ARP_THA``); a repeated option voids all
  three, as in OVS.
* ARP/RARP for Ethernet/IPv4 only (htype 1, ptype 0x0800, lengths 6/4); opcodes above 255
  leave ``NW_PROTO`` zero.  PBB (0x88e7): the I-SID of the I-TAG.

Never raises on any byte string; a malformed layer simply ends the walk.

Speed: IPv4 TCP/UDP/ICMP frames with a 20-byte IP header, untagged or behind one VLAN
tag, take a fast path of one ``struct`` unpack and one tuple build; every other frame
takes the general walk.  The paths must agree (the fuzz tests compare them).

Must not import: anything in pyvswitch except ``packet.fields``.  No I/O, no clocks.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from pyvswitch.packet.fields import (
    ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_MPLS, ETH_TYPE_MPLS_MCAST,
    ETH_TYPE_PBB, ETH_TYPE_RARP, ETH_TYPE_VLAN, ETH_TYPE_VLAN_8021AD, FRAG_ANY,
    FRAG_LATER, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP,
    N_SLOTS, VLAN_CFI, Slot,
)

__all__ = ["extract", "extract_with_layout", "Layout", "ETH_TYPE_NONE", "IPPROTO_IGMP",
           "IEH_NONEXT", "IEH_ESP", "IEH_AUTH", "IEH_DEST", "IEH_FRAG", "IEH_ROUTER",
           "IEH_HOP", "IEH_UNREP", "IEH_UNSEQ"]

#: ``eth_type`` of an 802.3 frame without an Ethernet SNAP header (OVS FLOW_DL_TYPE_NONE).
ETH_TYPE_NONE = 0x05FF
IPPROTO_IGMP = 2
IPPROTO_HOPOPTS = 0
IPPROTO_ROUTING = 43
IPPROTO_FRAGMENT = 44
IPPROTO_ESP = 50
IPPROTO_AH = 51
IPPROTO_NONE = 59
IPPROTO_DSTOPTS = 60

# OpenFlow 1.3 ofp_ipv6exthdr_flags.
IEH_NONEXT = 1 << 0   # "no next header" (59) ends the chain
IEH_ESP = 1 << 1
IEH_AUTH = 1 << 2
IEH_DEST = 1 << 3
IEH_FRAG = 1 << 4
IEH_ROUTER = 1 << 5
IEH_HOP = 1 << 6
IEH_UNREP = 1 << 7    # an extension header appears more often than allowed
IEH_UNSEQ = 1 << 8    # extension headers out of RFC 8200's recommended order


class Layout(NamedTuple):
    """Offsets of one frame's headers, each -1 when the frame does not have that layer.

    ``eth_type_ofs``: the 2-byte Ethernet type the flow's ``eth_type`` came from (after
    VLAN tags; inside the SNAP header for 802.3 frames).  ``l2_5``: the MPLS label stack.
    ``l3``: first byte after L2 and MPLS (where a network header would start).  ``l4``:
    just past a well-formed network header (IPv4; IPv6 and its extension headers; or an
    Ethernet/IPv4 ARP header).  ``l7``: just past a parsed transport header.  ``end``:
    end of the IP packet (excluding Ethernet padding), else the frame length.
    """

    eth_type_ofs: int
    l2_5: int
    l3: int
    l4: int
    l7: int
    end: int


_NO_LAYOUT = Layout(-1, -1, -1, -1, -1, 0)
# Layout(...) runs a Python-level __new__; tuple.__new__ builds the same object in C.
_layout = tuple.__new__

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_MACS = struct.Struct("!HIHI")
_MAC = struct.Struct("!HI")
_IP4 = struct.Struct("!BBHxxHBBxxII")
_IP6 = struct.Struct("!IHBBQQQQ")
_PORTS = struct.Struct("!HH")
_TCP = struct.Struct("!HH8xH")
_ARP = struct.Struct("!HHBBHHIIHII")
_U128 = struct.Struct("!QQ")
# Ethernet + 20-byte IPv4 header + the first 14 bytes of TCP (or of UDP/ICMP and their
# payload, unused), for the fast path.
_FAST = struct.Struct("!HIHIH" "BBHxxHBBxxII" "HH8xH")
# The same behind one VLAN tag (its TPID already checked by _FAST).
_FAST_TAGGED = struct.Struct("!HIHI2xHH" "BBHxxHBBxxII" "HH8xH")

_SNAP_ETHERNET = b"\xaa\xaa\x03\x00\x00\x00"

# Slot indices as plain ints (IntEnum lookups are slow in the per-packet path).
_IN_PORT = int(Slot.IN_PORT)
_ETH_SRC = int(Slot.ETH_SRC)
_ETH_DST = int(Slot.ETH_DST)
_ETH_TYPE = int(Slot.ETH_TYPE)
_VLAN_TCI = int(Slot.VLAN_TCI)
_MPLS_LSE = int(Slot.MPLS_LSE)
_NW_SRC = int(Slot.NW_SRC)
_NW_DST = int(Slot.NW_DST)
_IPV6_SRC = int(Slot.IPV6_SRC)
_IPV6_DST = int(Slot.IPV6_DST)
_IPV6_LABEL = int(Slot.IPV6_LABEL)
_NW_PROTO = int(Slot.NW_PROTO)
_NW_TOS = int(Slot.NW_TOS)
_NW_TTL = int(Slot.NW_TTL)
_NW_FRAG = int(Slot.NW_FRAG)
_ARP_SHA = int(Slot.ARP_SHA)
_ARP_THA = int(Slot.ARP_THA)
_TP_SRC = int(Slot.TP_SRC)
_TP_DST = int(Slot.TP_DST)
_TCP_FLAGS = int(Slot.TCP_FLAGS)
_ND_TARGET = int(Slot.ND_TARGET)
_PBB_ISID = int(Slot.PBB_ISID)
_IPV6_EXTHDR = int(Slot.IPV6_EXTHDR)

# The fast path builds the vector as a literal; it relies on this slot order.
assert [s.name for s in Slot][_ETH_SRC:] == [
    "ETH_SRC", "ETH_DST", "ETH_TYPE", "VLAN_TCI", "MPLS_LSE", "NW_SRC", "NW_DST",
    "IPV6_SRC", "IPV6_DST", "IPV6_LABEL", "NW_PROTO", "NW_TOS", "NW_TTL", "NW_FRAG",
    "ARP_SHA", "ARP_THA", "TP_SRC", "TP_DST", "TCP_FLAGS", "ND_TARGET", "PBB_ISID",
    "IPV6_EXTHDR", "RECIRC_ID"] and _ETH_SRC == 21 and N_SLOTS == 44


# The fast path's vector starts with in_port and the 20 pipeline/tunnel slots (all zero);
# those 21-slot prefixes are cached per port number, up to a bound.
_PREFIXES: dict[int, tuple[int, ...]] = {}
_MAX_PREFIXES = 4096


def _prefix(in_port: int) -> tuple[int, ...]:
    prefix = (in_port,) + (0,) * (_ETH_SRC - 1)
    if len(_PREFIXES) < _MAX_PREFIXES:
        _PREFIXES[in_port] = prefix
    return prefix


def extract(frame: bytes | bytearray | memoryview, in_port: int) -> tuple[int, ...]:
    """The flow vector of ``frame`` received on ``in_port`` (pipeline slots zero)."""
    n = len(frame)
    if n >= 48:
        (dh, dl, sh, sl, et, vi, tos, tot, frag, ttl, proto, src, dst,
         sp, dp, offfl) = _FAST.unpack_from(frame)
        if et == 0x0800 and vi == 0x45 and not frag & 0x3FFF and tot + 14 <= n:
            if proto == 6 and tot >= 40:
                return (_PREFIXES.get(in_port) or _prefix(in_port)) + (
                    sh << 32 | sl, dh << 32 | dl, 0x0800, 0, 0, src, dst, 0, 0, 0,
                    6, tos, ttl, 0, 0, 0, sp, dp, offfl & 0xFFF, 0, 0, 0, 0)
            if proto == 17 and tot >= 28:
                return (_PREFIXES.get(in_port) or _prefix(in_port)) + (
                    sh << 32 | sl, dh << 32 | dl, 0x0800, 0, 0, src, dst, 0, 0, 0,
                    17, tos, ttl, 0, 0, 0, sp, dp, 0, 0, 0, 0, 0)
            if proto == 1 and tot >= 28:  # ICMP: the first 16 bits are type and code
                return (_PREFIXES.get(in_port) or _prefix(in_port)) + (
                    sh << 32 | sl, dh << 32 | dl, 0x0800, 0, 0, src, dst, 0, 0, 0,
                    1, tos, ttl, 0, 0, 0, sp >> 8, sp & 0xFF, 0, 0, 0, 0, 0)
        elif (et == ETH_TYPE_VLAN or et == ETH_TYPE_VLAN_8021AD) and n >= 52:
            flow = _tagged(frame, in_port, n)
            if flow is not None:
                return flow
    return _walk(frame, in_port)[0]


def _tagged(frame, in_port: int, n: int) -> tuple[int, ...] | None:
    """The fast path for one VLAN tag in front of IPv4 TCP/UDP/ICMP; None for others."""
    (dh, dl, sh, sl, tci, et, vi, tos, tot, frag, ttl, proto, src, dst,
     sp, dp, offfl) = _FAST_TAGGED.unpack_from(frame)
    if et != 0x0800 or vi != 0x45 or frag & 0x3FFF or tot + 18 > n:
        return None
    if proto == 6 and tot >= 40:
        l4 = (sp, dp, offfl & 0xFFF, 0, 0, 0, 0)
    elif proto == 17 and tot >= 28:
        l4 = (sp, dp, 0, 0, 0, 0, 0)
    elif proto == 1 and tot >= 28:
        l4 = (sp >> 8, sp & 0xFF, 0, 0, 0, 0, 0)
    else:
        return None
    return (_PREFIXES.get(in_port) or _prefix(in_port)) + (
        sh << 32 | sl, dh << 32 | dl, 0x0800, tci | VLAN_CFI, 0, src, dst, 0, 0, 0,
        proto, tos, ttl, 0, 0, 0) + l4


def extract_with_layout(frame: bytes | bytearray | memoryview,
                        in_port: int) -> tuple[tuple[int, ...], Layout]:
    """``(extract(frame, in_port), Layout)``, always through the general walk."""
    return _walk(frame, in_port)


# --- the general walk ---------------------------------------------------------------------

def _walk(frame, in_port: int) -> tuple[tuple[int, ...], Layout]:
    n = len(frame)
    f = [0] * N_SLOTS
    f[_IN_PORT] = in_port
    if n < 14:
        return tuple(f), _NO_LAYOUT._replace(end=n)
    dh, dl, sh, sl = _MACS.unpack_from(frame)
    f[_ETH_DST] = dh << 32 | dl
    f[_ETH_SRC] = sh << 32 | sl

    # VLAN tags: at most two; a tag needs 4 bytes plus the 2-byte type after it.
    ofs = 12
    eth_type = _U16.unpack_from(frame, 12)[0]
    for depth in (0, 1):
        if (eth_type != ETH_TYPE_VLAN and eth_type != ETH_TYPE_VLAN_8021AD) or n - ofs < 6:
            break
        if depth == 0:
            f[_VLAN_TCI] = _U16.unpack_from(frame, ofs + 2)[0] | VLAN_CFI
        ofs += 4
        eth_type = _U16.unpack_from(frame, ofs)[0]
    type_ofs = ofs
    ofs += 2
    if eth_type < 0x600:
        if n - ofs >= 8 and frame[ofs:ofs + 6] == _SNAP_ETHERNET:
            type_ofs = ofs + 6
            eth_type = _U16.unpack_from(frame, type_ofs)[0]
            ofs += 8
            if eth_type < 0x600:
                eth_type = ETH_TYPE_NONE
        else:
            eth_type = ETH_TYPE_NONE
    f[_ETH_TYPE] = eth_type

    if eth_type == ETH_TYPE_IP:
        l4, l7, end = _ipv4(frame, ofs, n, f)
        return tuple(f), _layout(Layout, (type_ofs, -1, ofs, l4, l7, end))
    if eth_type == ETH_TYPE_IPV6:
        l4, l7, end = _ipv6(frame, ofs, n, f)
        return tuple(f), _layout(Layout, (type_ofs, -1, ofs, l4, l7, end))
    if eth_type == ETH_TYPE_ARP or eth_type == ETH_TYPE_RARP:
        l4 = _arp(frame, ofs, n, f)
        return tuple(f), _layout(Layout, (type_ofs, -1, ofs, l4, -1, n))
    if eth_type == ETH_TYPE_MPLS or eth_type == ETH_TYPE_MPLS_MCAST:
        l2_5 = ofs
        if n - ofs >= 4:
            f[_MPLS_LSE] = _U32.unpack_from(frame, ofs)[0]
        while n - ofs >= 4:
            ofs += 4
            if frame[ofs - 2] & 1:  # bottom of stack
                break
        return tuple(f), _layout(Layout, (type_ofs, l2_5, ofs, -1, -1, n))
    if eth_type == ETH_TYPE_PBB and n - ofs >= 4:
        f[_PBB_ISID] = _U32.unpack_from(frame, ofs)[0] & 0x08FFFFFF   # UCA, I-SID
    return tuple(f), _layout(Layout, (type_ofs, -1, ofs, -1, -1, n))


def _ipv4(frame, ofs: int, n: int, f: list[int]) -> tuple[int, int, int]:
    """Fill the IPv4 and transport slots; return (l4, l7, end of the IP packet)."""
    if n - ofs < 20:
        return -1, -1, n
    vi, tos, tot, frag, ttl, proto, src, dst = _IP4.unpack_from(frame, ofs)
    ihl = (vi & 0x0F) * 4
    if ihl < 20 or n - ofs < ihl or tot > n - ofs or ihl > tot:
        return -1, -1, n
    f[_NW_SRC] = src
    f[_NW_DST] = dst
    f[_NW_PROTO] = proto
    f[_NW_TOS] = tos
    f[_NW_TTL] = ttl
    l4 = ofs + ihl
    end = ofs + tot
    if frag & 0x3FFF:  # MF set or a non-zero offset
        if frag & 0x1FFF:
            f[_NW_FRAG] = FRAG_ANY | FRAG_LATER
            return l4, -1, end
        f[_NW_FRAG] = FRAG_ANY
    return l4, _transport(frame, l4, end, proto, f), end


def _ipv6(frame, ofs: int, n: int, f: list[int]) -> tuple[int, int, int]:
    """Fill the IPv6, extension-header and transport slots; return (l4, l7, end)."""
    if n - ofs < 40:
        return -1, -1, n
    vtcfl, plen, proto, hlim, sh, sl, dh, dl = _IP6.unpack_from(frame, ofs)
    p = ofs + 40
    if plen > n - p:
        return -1, -1, n
    end = p + plen
    f[_IPV6_SRC] = sh << 64 | sl
    f[_IPV6_DST] = dh << 64 | dl
    f[_IPV6_LABEL] = vtcfl & 0xFFFFF

    flags = 0        # IEH_* bits seen so far
    rank = 0         # furthest position reached in RFC 8200's recommended order
    dest_ranks = 0   # positions at which destination options were seen
    frag_bits = 0
    while proto in _EXT_HEADERS:
        if end - p < 8:
            return -1, -1, end
        nxt = frame[p]
        if proto == IPPROTO_AH:
            hlen = (frame[p + 1] + 2) * 4
        elif proto == IPPROTO_FRAGMENT:
            hlen = 8
        else:
            hlen = (frame[p + 1] + 1) * 8
        if hlen > end - p:
            return -1, -1, end
        bit = _EXT_HEADERS[proto]
        if proto == IPPROTO_DSTOPTS:
            # Allowed twice: before a routing header and again at the end of the chain.
            this_rank = 7 if rank >= 3 else 2
            if dest_ranks & (1 << this_rank):
                flags |= IEH_UNREP
            dest_ranks |= 1 << this_rank
        else:
            this_rank = _EXT_RANK[proto]
            if flags & bit:
                flags |= IEH_UNREP
        if this_rank < rank or (proto == IPPROTO_HOPOPTS and p != ofs + 40):
            flags |= IEH_UNSEQ
        flags |= bit
        rank = max(rank, this_rank)
        if proto == IPPROTO_FRAGMENT:
            offlg = _U16.unpack_from(frame, p + 2)[0]
            if offlg:
                frag_bits = FRAG_ANY
                if offlg & 0xFFF8:
                    frag_bits = FRAG_ANY | FRAG_LATER
                    p += hlen
                    proto = IPPROTO_FRAGMENT
                    break
        p += hlen
        proto = nxt
    else:
        if proto == IPPROTO_ESP:
            if rank > 6:
                flags |= IEH_UNSEQ
            flags |= IEH_ESP
        elif proto == IPPROTO_NONE:
            flags |= IEH_NONEXT
    f[_NW_PROTO] = proto
    f[_NW_TOS] = (vtcfl >> 20) & 0xFF
    f[_NW_TTL] = hlim
    f[_NW_FRAG] = frag_bits
    f[_IPV6_EXTHDR] = flags
    if frag_bits & FRAG_LATER:
        return p, -1, end
    return p, _transport(frame, p, end, proto, f), end


_EXT_HEADERS = {IPPROTO_HOPOPTS: IEH_HOP, IPPROTO_DSTOPTS: IEH_DEST,
                IPPROTO_ROUTING: IEH_ROUTER, IPPROTO_FRAGMENT: IEH_FRAG,
                IPPROTO_AH: IEH_AUTH}
_EXT_RANK = {IPPROTO_HOPOPTS: 1, IPPROTO_ROUTING: 3, IPPROTO_FRAGMENT: 4, IPPROTO_AH: 5}


def _transport(frame, l4: int, end: int, proto: int, f: list[int]) -> int:
    """Fill TP_SRC/TP_DST (and TCP flags, ND fields); return l7 or -1."""
    size = end - l4
    if proto == IPPROTO_TCP:
        if size < 20:
            return -1
        sp, dp, offfl = _TCP.unpack_from(frame, l4)
        f[_TP_SRC] = sp
        f[_TP_DST] = dp
        f[_TCP_FLAGS] = offfl & 0xFFF
        hlen = (offfl >> 12) * 4
        return l4 + (hlen if 20 <= hlen <= size else 20)
    if proto == IPPROTO_UDP:
        if size < 8:
            return -1
        f[_TP_SRC], f[_TP_DST] = _PORTS.unpack_from(frame, l4)
        return l4 + 8
    if proto == IPPROTO_SCTP:
        if size < 12:
            return -1
        f[_TP_SRC], f[_TP_DST] = _PORTS.unpack_from(frame, l4)
        return l4 + 12
    if proto == IPPROTO_ICMP or proto == IPPROTO_IGMP:
        if size < 8:
            return -1
        f[_TP_SRC] = frame[l4]
        f[_TP_DST] = frame[l4 + 1]
        return l4 + 8
    if proto == IPPROTO_ICMPV6:
        if size < 8:
            return -1
        icmp_type = f[_TP_SRC] = frame[l4]
        code = f[_TP_DST] = frame[l4 + 1]
        if code == 0 and (icmp_type == 135 or icmp_type == 136):
            _nd(frame, l4 + 8, end, f)
        return l4 + 8
    return -1


def _nd(frame, p: int, end: int, f: list[int]) -> None:
    """Neighbour solicitation/advertisement body: target address and LLA options."""
    if end - p < 16:
        return
    th, tl = _U128.unpack_from(frame, p)
    p += 16
    sll = tll = 0
    while end - p >= 8:
        opt_type = frame[p]
        opt_len = frame[p + 1] * 8
        if not opt_len or opt_len > end - p:
            break
        if opt_len == 8 and (opt_type == 1 or opt_type == 2):
            hi, lo = _MAC.unpack_from(frame, p + 2)
            if opt_type == 1:
                if sll:
                    return  # a repeated option: the whole ND key is void
                sll = hi << 32 | lo
            else:
                if tll:
                    return
                tll = hi << 32 | lo
        p += opt_len
    f[_ND_TARGET] = th << 64 | tl
    f[_ARP_SHA] = sll
    f[_ARP_THA] = tll


def _arp(frame, ofs: int, n: int, f: list[int]) -> int:
    """Fill the ARP slots for an Ethernet/IPv4 ARP header; return l4 or -1."""
    if n - ofs < 28:
        return -1
    hrd, pro, hln, pln, op, sha_hi, sha_lo, spa, tha_hi, tha_lo, tpa = \
        _ARP.unpack_from(frame, ofs)
    if hrd != 1 or pro != ETH_TYPE_IP or hln != 6 or pln != 4:
        return -1
    f[_NW_SRC] = spa
    f[_NW_DST] = tpa
    if op <= 0xFF:
        f[_NW_PROTO] = op
    f[_ARP_SHA] = sha_hi << 32 | sha_lo
    f[_ARP_THA] = tha_hi << 32 | tha_lo
    return ofs + 28
