"""Packet composition: a flow vector -> a frame carrying exactly those header fields.

What this module owns
---------------------
``compose(flow, payload_len=0)`` builds the frame ``ofproto/trace`` and tests use when
they are given a flow rather than a packet (OVS's flow_compose), and ``rarp_frame(mac)``
builds the RARP request a fail-open switch sends as its "bogus" packet-in.

Invariant (the round trip): for a flow some real frame could produce,
``extract(compose(flow), flow[IN_PORT])`` equals ``flow`` in every header slot.  The
composed frame has valid IPv4, TCP, UDP, ICMP, ICMPv6 and SCTP checksums and consistent
length fields.  Limits: metadata slots (registers, tunnel id, packet mark) are not part
of a frame; a VLAN tag is written with DEI clear; IPv6 extension headers are emitted
once each in RFC 8200's order from the ``IPV6_EXTHDR`` bits, so the UNREP and UNSEQ bits
are not reproduced; 802.3 frames (``eth_type`` 0x05ff) get an STP-style LLC header.
No Ethernet padding is added.

Must not import: anything in pyvswitch except ``packet.fields``, ``packet.extract`` and
``packet.checksum``.  No I/O, no clocks.
"""

from __future__ import annotations

import struct
from typing import List, Tuple, Union

from pyvswitch.packet import checksum
from pyvswitch.packet.extract import (
    ETH_TYPE_NONE, IEH_AUTH, IEH_DEST, IEH_ESP, IEH_FRAG, IEH_HOP, IEH_NONEXT, IEH_ROUTER,
    IPPROTO_IGMP,
)
from pyvswitch.packet.fields import (
    ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_MPLS, ETH_TYPE_MPLS_MCAST,
    ETH_TYPE_PBB, ETH_TYPE_RARP, FRAG_ANY, FRAG_LATER, IPPROTO_ICMP, IPPROTO_ICMPV6,
    IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, VLAN_CFI, Slot,
)

__all__ = ["compose", "rarp_frame"]

Flow = Union[Tuple[int, ...], List[int]]     # not ``|``: PyPy is Python 3.9
_ARP_HDR = struct.Struct("!HHBBH6s4s6s4s")
_IP4_HDR = struct.Struct("!BBHHHBBHII")
_IP6_HDR = struct.Struct("!IHBB16s16s")
_LLC_STP = b"\x42\x42\x03"


def rarp_frame(mac: int) -> bytes:
    """A broadcast RARP request ("reverse request", opcode 3) sent from and about ``mac``."""
    raw = mac.to_bytes(6, "big")
    return (b"\xff" * 6 + raw + struct.pack("!H", ETH_TYPE_RARP)
            + _ARP_HDR.pack(1, ETH_TYPE_IP, 6, 4, 3, raw, bytes(4), raw, bytes(4)))


def compose(flow: Flow, payload_len: int = 0) -> bytes:
    """A frame whose extracted header fields equal ``flow``'s, plus ``payload_len`` bytes."""
    payload = bytes(payload_len)
    eth_type = flow[Slot.ETH_TYPE]
    l2 = flow[Slot.ETH_DST].to_bytes(6, "big") + flow[Slot.ETH_SRC].to_bytes(6, "big")
    tci = flow[Slot.VLAN_TCI]
    if tci & VLAN_CFI:
        l2 += struct.pack("!HH", 0x8100, tci & ~VLAN_CFI)
    if eth_type == ETH_TYPE_NONE:
        body = _LLC_STP + payload
        return l2 + struct.pack("!H", len(body)) + body
    if eth_type == ETH_TYPE_IP:
        body = _ipv4(flow, payload)
    elif eth_type == ETH_TYPE_IPV6:
        body = _ipv6(flow, payload)
    elif eth_type in (ETH_TYPE_ARP, ETH_TYPE_RARP):
        body = _ARP_HDR.pack(1, ETH_TYPE_IP, 6, 4, flow[Slot.NW_PROTO],
                             flow[Slot.ARP_SHA].to_bytes(6, "big"),
                             flow[Slot.NW_SRC].to_bytes(4, "big"),
                             flow[Slot.ARP_THA].to_bytes(6, "big"),
                             flow[Slot.NW_DST].to_bytes(4, "big")) + payload
    elif eth_type in (ETH_TYPE_MPLS, ETH_TYPE_MPLS_MCAST):
        body = struct.pack("!I", flow[Slot.MPLS_LSE]) + payload
    elif eth_type == ETH_TYPE_PBB:
        body = struct.pack("!I", flow[Slot.PBB_ISID] & 0xFFFFFF) + payload
    else:
        body = payload
    return l2 + struct.pack("!H", eth_type) + body


def _transport(flow: Flow, proto: int, payload: bytes) -> bytes:
    """The transport header and payload, with a zero checksum field where there is one."""
    src, dst = flow[Slot.TP_SRC], flow[Slot.TP_DST]
    if proto == IPPROTO_TCP:
        return struct.pack("!HHIIHHHH", src, dst, 0, 0, 5 << 12 | flow[Slot.TCP_FLAGS],
                           8192, 0, 0) + payload
    if proto == IPPROTO_UDP:
        return struct.pack("!HHHH", src, dst, 8 + len(payload), 0) + payload
    if proto == IPPROTO_SCTP:
        seg = struct.pack("!HHII", src, dst, 0, 0) + payload
        return seg[:8] + struct.pack("!I", checksum.sctp_checksum(seg)) + seg[12:]
    if proto in (IPPROTO_ICMP, IPPROTO_IGMP, IPPROTO_ICMPV6):
        head = struct.pack("!BBHI", src, dst, 0, 0)
        if proto == IPPROTO_ICMPV6 and dst == 0 and src in (135, 136):
            head += flow[Slot.ND_TARGET].to_bytes(16, "big")
            if flow[Slot.ARP_SHA]:
                head += b"\x01\x01" + flow[Slot.ARP_SHA].to_bytes(6, "big")
            if flow[Slot.ARP_THA]:
                head += b"\x02\x01" + flow[Slot.ARP_THA].to_bytes(6, "big")
        return head + payload
    return payload


def _csum_at(proto: int) -> int:
    """Offset of the 16-bit checksum a pseudo-header covers, or -1 (SCTP has its CRC)."""
    return {IPPROTO_TCP: 16, IPPROTO_UDP: 6, IPPROTO_ICMPV6: 2}.get(proto, -1)


def _ipv4(flow: Flow, payload: bytes) -> bytes:
    proto, frag = flow[Slot.NW_PROTO], flow[Slot.NW_FRAG]
    if frag & FRAG_LATER:
        seg, frag_off = payload, 0x2000 | 1  # MF, offset 8 bytes
    else:
        seg = _transport(flow, proto, payload)
        frag_off = 0x2000 if frag & FRAG_ANY else 0
        src, dst = flow[Slot.NW_SRC], flow[Slot.NW_DST]
        at = _csum_at(proto) if proto != IPPROTO_ICMPV6 else -1
        if proto in (IPPROTO_ICMP, IPPROTO_IGMP):
            seg = seg[:2] + struct.pack("!H", checksum.checksum(seg)) + seg[4:]
        elif at >= 0 and len(seg) >= at + 2:
            csum = checksum.l4_checksum_ipv4(src, dst, proto, seg)
            if proto == IPPROTO_UDP and csum == 0:
                csum = 0xFFFF
            seg = seg[:at] + struct.pack("!H", csum) + seg[at + 2:]
    head = _IP4_HDR.pack(0x45, flow[Slot.NW_TOS], 20 + len(seg), 0, frag_off,
                         flow[Slot.NW_TTL], proto, 0, flow[Slot.NW_SRC], flow[Slot.NW_DST])
    head = head[:10] + struct.pack("!H", checksum.checksum(head)) + head[12:]
    return head + seg


def _ipv6(flow: Flow, payload: bytes) -> bytes:
    proto, frag, flags = flow[Slot.NW_PROTO], flow[Slot.NW_FRAG], flow[Slot.IPV6_EXTHDR]
    if frag:
        flags |= IEH_FRAG
    later = bool(frag & FRAG_LATER)
    if later:
        seg = payload
        inner = 59
    elif flags & IEH_ESP:
        seg, inner = struct.pack("!II", 1, 1) + payload, 50
    elif flags & IEH_NONEXT:
        seg, inner = payload, 59
    else:
        seg, inner = _transport(flow, proto, payload), proto
        at = _csum_at(proto)
        if proto in (IPPROTO_ICMP, IPPROTO_IGMP):
            seg = seg[:2] + struct.pack("!H", checksum.checksum(seg)) + seg[4:]
        elif at >= 0 and len(seg) >= at + 2:
            csum = checksum.l4_checksum_ipv6(flow[Slot.IPV6_SRC], flow[Slot.IPV6_DST], proto,
                                             seg)
            if proto == IPPROTO_UDP and csum == 0:
                csum = 0xFFFF
            seg = seg[:at] + struct.pack("!H", csum) + seg[at + 2:]
    # Extension headers, innermost first, each pointing at what follows it.
    chain = [(IEH_AUTH, 51), (IEH_FRAG, 44), (IEH_ROUTER, 43), (IEH_DEST, 60), (IEH_HOP, 0)]
    nxt = inner
    for bit, number in chain:
        if not flags & bit:
            continue
        if number == 51:
            seg = struct.pack("!BBHII", nxt, 2, 0, 1, 1) + bytes(4) + seg
        elif number == 44:
            offlg = (1 << 3) if later else (1 if frag & FRAG_ANY else 0)
            seg = struct.pack("!BBHI", nxt, 0, offlg, 1) + seg
        elif number == 43:
            seg = struct.pack("!BBBB", nxt, 0, 0, 0) + bytes(4) + seg
        else:
            seg = struct.pack("!BBBB", nxt, 0, 1, 4) + bytes(4) + seg  # PadN option
        nxt = number
    vtcfl = 6 << 28 | flow[Slot.NW_TOS] << 20 | flow[Slot.IPV6_LABEL]
    return _IP6_HDR.pack(vtcfl, len(seg), nxt, flow[Slot.NW_TTL],
                         flow[Slot.IPV6_SRC].to_bytes(16, "big"),
                         flow[Slot.IPV6_DST].to_bytes(16, "big")) + seg
