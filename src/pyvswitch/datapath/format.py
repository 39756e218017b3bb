"""Text forms of datapath flows, for ``ovs-appctl dpctl/dump-flows`` and logs.

What this module owns: ``format_odp_key(key, mask)``, a megaflow key in Open vSwitch's own
datapath syntax (``dpif/dump-flows``), and ``format_key(key, mask)`` and
``format_dp_flow(flow, now)``, close to that spelling (``in_port(1),eth_type(0x0800),...
packets:3, bytes:180, used:0.020s, actions:2``) but driven by the field catalogue, one
``name(value[/mask])`` per matched field, after ``recirc_id(N)`` for the flows of
recirculated packets.
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


# --- Open vSwitch's datapath key syntax (dpif/dump-flows) ----------------------------------

def _hx(v: int) -> str:
    return f"{v:#x}" if v else "0"          # C's %#x


def _attr_fields(key, mask, fields) -> str:
    """``name=value[/mask]`` for each field of an attribute whose mask is not zero."""
    parts = []
    for name, slot, shift, bits, kind in fields:
        full = (1 << bits) - 1
        m = (mask[slot] >> shift) & full
        if not m:
            continue
        v = (key[slot] >> shift) & full & m
        if kind == "mac":
            text, mt = v.to_bytes(6, "big").hex(":"), m.to_bytes(6, "big").hex(":")
        elif kind == "ip4":
            text, mt = str(ipaddress.IPv4Address(v)), str(ipaddress.IPv4Address(m))
        elif kind == "ip6":
            text, mt = str(ipaddress.IPv6Address(v)), str(ipaddress.IPv6Address(m))
        elif kind == "hex":
            text, mt = _hx(v), _hx(m)
        elif kind == "frag":
            text, mt = ("no", "first", "later", "later")[v], ""
            m = full
        else:
            text, mt = str(v), _hx(m)
        parts.append(f"{name}={text}" if m == full else f"{name}={text}/{mt}")
    return ",".join(parts)


S = Slot
_ETH_ATTR = (("src", S.ETH_SRC, 0, 48, "mac"), ("dst", S.ETH_DST, 0, 48, "mac"))
_IPV4_ATTR = (("src", S.NW_SRC, 0, 32, "ip4"), ("dst", S.NW_DST, 0, 32, "ip4"),
              ("proto", S.NW_PROTO, 0, 8, "dec"), ("tos", S.NW_TOS, 0, 8, "hex"),
              ("ttl", S.NW_TTL, 0, 8, "dec"), ("frag", S.NW_FRAG, 0, 2, "frag"))
_IPV6_ATTR = (("src", S.IPV6_SRC, 0, 128, "ip6"), ("dst", S.IPV6_DST, 0, 128, "ip6"),
              ("label", S.IPV6_LABEL, 0, 20, "hex"), ("proto", S.NW_PROTO, 0, 8, "dec"),
              ("tclass", S.NW_TOS, 0, 8, "hex"), ("hlimit", S.NW_TTL, 0, 8, "dec"),
              ("frag", S.NW_FRAG, 0, 2, "frag"))
_PORTS_ATTR = (("src", S.TP_SRC, 0, 16, "dec"), ("dst", S.TP_DST, 0, 16, "dec"))
_ICMP_ATTR = (("type", S.TP_SRC, 0, 8, "dec"), ("code", S.TP_DST, 0, 8, "dec"))
_ARP_ATTR = (("sip", S.NW_SRC, 0, 32, "ip4"), ("tip", S.NW_DST, 0, 32, "ip4"),
             ("op", S.NW_PROTO, 0, 16, "dec"), ("sha", S.ARP_SHA, 0, 48, "mac"),
             ("tha", S.ARP_THA, 0, 48, "mac"))
_ND_ATTR = (("target", S.ND_TARGET, 0, 128, "ip6"), ("sll", S.ARP_SHA, 0, 48, "mac"),
            ("tll", S.ARP_THA, 0, 48, "mac"))
_L4 = {6: "tcp", 17: "udp", 132: "sctp"}


def _attr(name: str, key, mask, fields, always: bool = False) -> list[str]:
    text = _attr_fields(key, mask, fields)
    return [f"{name}({text})"] if text or always else []


def _mpls_attr(key, mask) -> list[str]:
    v, m = key[Slot.MPLS_LSE], mask[Slot.MPLS_LSE]
    if not m:
        return []
    label, tc, ttl, bos = v >> 12, (v >> 9) & 7, v & 0xFF, (v >> 8) & 1
    if m == 0xFFFFFFFF:
        return [f"mpls(label={label},tc={tc},ttl={ttl},bos={bos})"]
    return [f"mpls(label={label}/{m >> 12:#x},tc={tc}/{(m >> 9) & 7:x},"
            f"ttl={ttl}/{m & 0xFF:#x},bos={bos}/{(m >> 8) & 1:x})"]


def _vlan_attr(tci: int, m: int) -> str:
    vid, pcp = tci & 0xFFF, tci >> 13
    parts = []
    if vid or m & 0xFFF:
        parts.append(f"vid={vid}" + ("" if m & 0xFFF == 0xFFF else f"/{m & 0xFFF:#x}"))
    if pcp or m >> 13:
        parts.append(f"pcp={pcp}" + ("" if m >> 13 == 7 else f"/{m >> 13:#x}"))
    return f"vlan({','.join(parts)})"


def format_odp_key(key: tuple[int, ...], mask: tuple[int, ...]) -> str:
    """A megaflow as Open vSwitch prints a datapath flow key (``recirc_id(0),in_port(2),
    packet_type(ns=0,id=0),eth(src=...),eth_type(0x0800),ipv4(proto=6,frag=no),...``):
    attributes whose fields are all wildcarded are left out, partly masked fields carry
    their mask; ``in_port`` is the datapath port number."""
    parts = [f"recirc_id({_hx(key[Slot.RECIRC_ID])})"]
    if mask[Slot.PKT_MARK]:
        m = mask[Slot.PKT_MARK]
        parts.append(f"skb_mark({_hx(key[Slot.PKT_MARK] & m)}"
                     + ("" if m == 0xFFFFFFFF else f"/{_hx(m)}") + ")")
    parts.append(f"in_port({key[Slot.IN_PORT]})")
    parts.append("packet_type(ns=0,id=0)")
    parts += _attr("eth", key, mask, _ETH_ATTR)
    inner = []
    eth_type = key[Slot.ETH_TYPE]
    inner.append(f"eth_type({eth_type:#06x})")
    proto = key[Slot.NW_PROTO] if mask[Slot.NW_PROTO] == 0xFF else None
    if eth_type == 0x0800:
        inner += _attr("ipv4", key, mask, _IPV4_ATTR)
    elif eth_type == 0x86DD:
        inner += _attr("ipv6", key, mask, _IPV6_ATTR)
    elif eth_type in (0x0806, 0x8035):
        inner += _attr("arp", key, mask, _ARP_ATTR)
    elif eth_type in (0x8847, 0x8848):
        inner += _mpls_attr(key, mask)
    if eth_type in (0x0800, 0x86DD) and proto is not None:
        if proto in _L4:
            inner += _attr(_L4[proto], key, mask, _PORTS_ATTR)
            if proto == 6 and mask[Slot.TCP_FLAGS]:
                m = mask[Slot.TCP_FLAGS]
                inner.append(f"tcp_flags({key[Slot.TCP_FLAGS] & m:#05x}/{m:#05x})")
        elif (eth_type, proto) == (0x0800, 1):
            inner += _attr("icmp", key, mask, _ICMP_ATTR)
        elif (eth_type, proto) == (0x86DD, 58):
            inner += _attr("icmpv6", key, mask, _ICMP_ATTR)
            if key[Slot.TP_SRC] in (135, 136):
                inner += _attr("nd", key, mask, _ND_ATTR)
    tci, tci_mask = key[Slot.VLAN_TCI], mask[Slot.VLAN_TCI]
    if tci & 0x1000 and tci_mask & 0x1000:
        parts += ["eth_type(0x8100)", _vlan_attr(tci & ~0x1000, tci_mask & ~0x1000),
                  f"encap({','.join(inner)})"]
    else:
        parts += inner
    return ",".join(parts)
