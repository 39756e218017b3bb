"""Text forms of datapath flows, for ``ovs-appctl dpctl/dump-flows`` and logs.

What this module owns: ``format_key(key, mask)`` and ``format_dp_flow(flow, now)``, close
to Open vSwitch's spelling (``in_port(1),eth_type(0x0800),... packets:3, bytes:180,
used:0.020s, actions:2``) but driven by the field catalogue, one ``name(value[/mask])`` per
matched field, after ``recirc_id(N)`` for the flows of recirculated packets.
Invariants: pure functions; wildcarded fields are omitted; ``used:never`` when no packet hit.
Time model: ``now`` (ms) is a parameter, only to print ``used`` as an age.
Must not import: ofproto/, openflow/.
"""

from __future__ import annotations

import ipaddress

from pyvswitch.datapath.actions import format_actions
from pyvswitch.datapath.dpif import DpFlow
from pyvswitch.packet.fields import Match, Slot, iter_set_fields

_MAC = {"eth_src", "eth_dst", "arp_sha", "arp_tha", "nd_sll", "nd_tll"}
_IP4 = {"ip_src", "ip_dst", "arp_spa", "arp_tpa"}
_IP6 = {"ipv6_src", "ipv6_dst", "nd_target"}


def _value(name: str, v: int) -> str:
    if name in _MAC:
        return v.to_bytes(6, "big").hex(":")
    if name in _IP4:
        return str(ipaddress.IPv4Address(v))
    if name in _IP6:
        return str(ipaddress.IPv6Address(v))
    if name in ("eth_type", "vlan_tci", "tcp_flags"):
        return f"{v:#06x}"
    return str(v)


def format_key(key: tuple[int, ...], mask: tuple[int, ...]) -> str:
    parts = []
    if key[Slot.RECIRC_ID] & mask[Slot.RECIRC_ID]:
        parts.append(f"recirc_id({key[Slot.RECIRC_ID]:#x})")
    for fld, value, m in iter_set_fields(Match(key, mask)):
        full = (1 << fld.n_bits) - 1
        text = _value(fld.name, value)
        if m != full:
            text += "/" + _value(fld.name, m)
        parts.append(f"{fld.name}({text})")
    return ",".join(parts)


def format_dp_flow(flow: DpFlow, now: float) -> str:
    used = "never" if not flow.packets else f"{max(0.0, now - flow.used_ms) / 1000:.3f}s"
    flags = ""
    if flow.tcp_flags:
        flags = f", flags:{flow.tcp_flags:#x}"
    return (f"{format_key(flow.key, flow.mask)}, packets:{flow.packets}, "
            f"bytes:{flow.bytes}, used:{used}{flags}, actions:{format_actions(flow.actions)}")
