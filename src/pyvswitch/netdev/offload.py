"""Finishing what a sender's checksum offload left undone.

What this module owns: ``complete_checksum(frame)``.  A frame that a local stack sent
through a veth (or tap) with TX checksum offload on arrives on a packet socket before any
NIC computed its TCP/UDP checksum (the kernel flags it TP_STATUS_CSUMNOTREADY in the ring).
Forwarded as is, the receiver would drop it; so the system device computes the checksum
in software before handing the frame up, and the datapath sees the frame as it should have
been on the wire.

Invariants: only untagged or VLAN-tagged IPv4/IPv6 TCP and UDP are completed (the cases a
Linux stack offloads); anything else is returned unchanged.  A computed UDP checksum of 0
is sent as 0xffff (RFC 768).
Time model: pure.
Must not import: datapath/, ofproto/, openflow/.
"""

from __future__ import annotations

from pyvswitch.packet import checksum
from pyvswitch.packet.extract import extract_with_layout
from pyvswitch.packet.fields import (ETH_TYPE_IP, ETH_TYPE_IPV6, IPPROTO_TCP, IPPROTO_UDP,
                                     Slot)

_CSUM_AT = {IPPROTO_TCP: 16, IPPROTO_UDP: 6}


def complete_checksum(frame: bytes) -> bytes:
    """``frame`` with its TCP/UDP checksum computed (see module docstring)."""
    flow, lay = extract_with_layout(frame, 0)
    proto = flow[Slot.NW_PROTO]
    at = _CSUM_AT.get(proto)
    et = flow[Slot.ETH_TYPE]
    if at is None or lay.l4 < 0 or lay.end - lay.l4 < at + 2 or et not in (ETH_TYPE_IP,
                                                                           ETH_TYPE_IPV6):
        return frame
    buf = bytearray(frame)
    c = lay.l4 + at
    buf[c:c + 2] = b"\0\0"
    seg = buf[lay.l4:lay.end]
    if et == ETH_TYPE_IP:
        cs = checksum.l4_checksum_ipv4(flow[Slot.NW_SRC], flow[Slot.NW_DST], proto, seg)
    else:
        cs = checksum.l4_checksum_ipv6(flow[Slot.IPV6_SRC], flow[Slot.IPV6_DST], proto, seg)
    if cs == 0 and proto == IPPROTO_UDP:
        cs = 0xFFFF
    buf[c:c + 2] = cs.to_bytes(2, "big")
    return bytes(buf)
