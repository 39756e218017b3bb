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


def segment_tcp(frame: bytes, mtu: int) -> list[bytes]:
    """Cut a TCP frame larger than ``mtu`` (IP packet size) into MTU-sized frames, as a
    NIC with TSO would: sequence numbers advance, FIN/PSH stay on the last segment and CWR
    on the first, IPv4 ids count up, and every checksum is computed.  Returns ``[]`` for
    frames that are not IPv4/IPv6 TCP (the caller counts and drops them)."""
    flow, lay = extract_with_layout(frame, 0)
    et = flow[Slot.ETH_TYPE]
    if (flow[Slot.NW_PROTO] != IPPROTO_TCP or lay.l7 < 0
            or et not in (ETH_TYPE_IP, ETH_TYPE_IPV6)):
        return []
    l3, l4, l7, end = lay.l3, lay.l4, lay.l7, lay.end
    mss = mtu - (l7 - l3)
    if mss <= 0:
        return []
    head = frame[:l4]
    tcp = frame[l4:l7]
    payload = frame[l7:end]
    seq = int.from_bytes(tcp[4:8], "big")
    flags = tcp[13]
    ip_id = int.from_bytes(frame[l3 + 4:l3 + 6], "big") if et == ETH_TYPE_IP else 0
    out = []
    n = (len(payload) + mss - 1) // mss or 1
    for k in range(n):
        chunk = payload[k * mss:(k + 1) * mss]
        h = bytearray(head)
        t = bytearray(tcp)
        t[4:8] = ((seq + k * mss) & 0xFFFFFFFF).to_bytes(4, "big")
        f = flags
        if k:
            f &= ~0x80                      # CWR only on the first segment
        if k != n - 1:
            f &= ~0x09                      # FIN and PSH only on the last
        t[13] = f
        t[16:18] = b"\0\0"
        seg = bytes(t) + chunk
        if et == ETH_TYPE_IP:
            h[l3 + 2:l3 + 4] = (l7 - l3 + len(chunk)).to_bytes(2, "big")
            h[l3 + 4:l3 + 6] = ((ip_id + k) & 0xFFFF).to_bytes(2, "big")
            h[l3 + 10:l3 + 12] = b"\0\0"
            h[l3 + 10:l3 + 12] = checksum.checksum(h[l3:l4]).to_bytes(2, "big")
            cs = checksum.l4_checksum_ipv4(flow[Slot.NW_SRC], flow[Slot.NW_DST],
                                           IPPROTO_TCP, seg)
        else:
            h[l3 + 4:l3 + 6] = (l7 - l3 - 40 + len(chunk)).to_bytes(2, "big")
            cs = checksum.l4_checksum_ipv6(flow[Slot.IPV6_SRC], flow[Slot.IPV6_DST],
                                           IPPROTO_TCP, seg)
        out.append(bytes(h) + seg[:16] + cs.to_bytes(2, "big") + seg[18:])
    return out
