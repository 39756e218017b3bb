"""Flow text in ovs-ofctl syntax: matches and instructions as ``ovs-ofctl dump-flows`` shows.

What this module owns
---------------------
* ``format_match(match)``: ``tcp,reg0=0x5,in_port=1,dl_vlan=5,nw_src=10.0.0.0/24,tp_dst=80``
  with OVS's field order, protocol shorthands (ip, tcp, udp, sctp, icmp, arp, rarp, ipv6,
  tcp6, udp6, sctp6, icmp6, mpls, mplsm) and its number styles (registers and metadata in
  hex, ports and TTLs in decimal, addresses in CIDR form when the mask is a prefix).
* ``format_actions(instructions)``: ``actions=meter:1,output:1,clear_actions,
  write_actions(...),write_metadata:0x1/0xff,goto_table:2`` (``actions=drop`` if empty).
* ``format_field_value`` / ``format_subfield`` / ``port_name`` / ``NXM_NAMES``: the
  pieces ``flow_parse`` reads back.

Invariant: ``flow_parse.parse_match(format_match(m)) == m`` and
``flow_parse.parse_flow("..., " + format_actions(i))`` gives back ``i`` for everything
our codecs produce.  Pure functions; no I/O.

Must not import: anything in pyvswitch except ``packet.fields`` and ``openflow.ofpacts``.
"""

from __future__ import annotations

import ipaddress

from pyvswitch.openflow import ofpacts as A
from pyvswitch.packet import fields as F
from pyvswitch.packet.fields import Field, Match, Slot

__all__ = ["format_match", "format_actions", "format_action", "format_field_value",
           "format_subfield", "port_name", "NXM_NAMES", "PORT_NAMES", "REASON_NAMES"]

PORT_NAMES = {A.OFPP_IN_PORT: "IN_PORT", A.OFPP_TABLE: "TABLE", A.OFPP_NORMAL: "NORMAL",
              A.OFPP_FLOOD: "FLOOD", A.OFPP_ALL: "ALL", A.OFPP_CONTROLLER: "CONTROLLER",
              A.OFPP_LOCAL: "LOCAL", A.OFPP_ANY: "ANY", A.OFPP_UNSET: "UNSET"}

REASON_NAMES = {0: "no_match", 1: "action", 2: "invalid_ttl", 3: "action_set",
                4: "group", 5: "packet_out"}

#: Field name -> the Nicira/OXM name ovs-ofctl prints in load/move/output_reg.
NXM_NAMES = {
    "in_port": "NXM_OF_IN_PORT", "eth_dst": "NXM_OF_ETH_DST", "eth_src": "NXM_OF_ETH_SRC",
    "eth_type": "NXM_OF_ETH_TYPE", "vlan_tci": "NXM_OF_VLAN_TCI", "nw_tos": "NXM_OF_IP_TOS",
    "ip_proto": "NXM_OF_IP_PROTO", "ip_src": "NXM_OF_IP_SRC", "ip_dst": "NXM_OF_IP_DST",
    "tcp_src": "NXM_OF_TCP_SRC", "tcp_dst": "NXM_OF_TCP_DST", "udp_src": "NXM_OF_UDP_SRC",
    "udp_dst": "NXM_OF_UDP_DST", "icmp_type": "NXM_OF_ICMP_TYPE",
    "icmp_code": "NXM_OF_ICMP_CODE", "arp_op": "NXM_OF_ARP_OP", "arp_spa": "NXM_OF_ARP_SPA",
    "arp_tpa": "NXM_OF_ARP_TPA", "tun_id": "NXM_NX_TUN_ID", "arp_sha": "NXM_NX_ARP_SHA",
    "arp_tha": "NXM_NX_ARP_THA", "ipv6_src": "NXM_NX_IPV6_SRC", "ipv6_dst": "NXM_NX_IPV6_DST",
    "icmpv6_type": "NXM_NX_ICMPV6_TYPE", "icmpv6_code": "NXM_NX_ICMPV6_CODE",
    "nd_target": "NXM_NX_ND_TARGET", "nd_sll": "NXM_NX_ND_SLL", "nd_tll": "NXM_NX_ND_TLL",
    "ip_frag": "NXM_NX_IP_FRAG", "ipv6_label": "NXM_NX_IPV6_LABEL", "ip_ecn": "NXM_NX_IP_ECN",
    "nw_ttl": "NXM_NX_IP_TTL", "mpls_ttl": "NXM_NX_MPLS_TTL", "pkt_mark": "NXM_NX_PKT_MARK",
    "tcp_flags": "NXM_NX_TCP_FLAGS", "metadata": "OXM_OF_METADATA",
    "vlan_vid": "OXM_OF_VLAN_VID", "vlan_pcp": "OXM_OF_VLAN_PCP", "ip_dscp": "OXM_OF_IP_DSCP",
    "mpls_label": "OXM_OF_MPLS_LABEL", "mpls_tc": "OXM_OF_MPLS_TC",
    "mpls_bos": "OXM_OF_MPLS_BOS", "sctp_src": "OXM_OF_SCTP_SRC", "sctp_dst": "OXM_OF_SCTP_DST",
    "pbb_isid": "OXM_OF_PBB_ISID", "ipv6_exthdr": "OXM_OF_IPV6_EXTHDR",
    "actset_output": "ONFOXM_ET_ACTSET_OUTPUT",
    **{f"reg{i}": f"NXM_NX_REG{i}" for i in range(16)},
}

#: Width a Nicira field reference sees (NXM_OF_IN_PORT is 16 bits, IP_TOS a whole byte).
_REF_BITS = {"in_port": 16, "nw_tos": 8}

_DECIMAL = frozenset(["vlan_vid", "vlan_pcp", "ip_dscp", "ip_ecn", "nw_ttl", "mpls_label",
                      "mpls_tc", "mpls_bos", "mpls_ttl", "ip_proto", "nw_tos", "arp_op",
                      "tcp_src", "tcp_dst", "udp_src", "udp_dst", "sctp_src", "sctp_dst",
                      "icmp_type", "icmp_code", "icmpv6_type", "icmpv6_code"])
_ETHER = frozenset(["eth_src", "eth_dst", "arp_sha", "arp_tha", "nd_sll", "nd_tll"])
_IPV4 = frozenset(["ip_src", "ip_dst", "arp_spa", "arp_tpa"])
_IPV6 = frozenset(["ipv6_src", "ipv6_dst", "nd_target"])
_PORTS = frozenset(["in_port", "actset_output"])

TCP_FLAG_NAMES = ("fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns")


def _hx(value: int) -> str:
    """C's ``%#x``: ``0`` for zero, ``0x...`` otherwise."""
    return hex(value) if value else "0"


def port_name(port: int) -> str:
    return PORT_NAMES.get(port, str(port))


def _mac(value: int) -> str:
    return ":".join(f"{b:02x}" for b in value.to_bytes(6, "big"))


def _ipv4(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def _prefix_len(mask: int, bits: int) -> int | None:
    inv = ~mask & ((1 << bits) - 1)
    return bits - inv.bit_length() if inv & (inv + 1) == 0 else None


def _ip_masked(value: int, mask: int, bits: int) -> str:
    addr = (_ipv4 if bits == 32 else lambda v: str(ipaddress.IPv6Address(v)))
    if mask == (1 << bits) - 1:
        return addr(value)
    plen = _prefix_len(mask, bits)
    if plen is not None:
        return f"{addr(value)}/{plen}"
    return f"{addr(value)}/{addr(mask)}"


def _tcp_flags(value: int, mask: int) -> str:
    if (mask | value) & 0xE00:  # reserved bits have no names: plain numbers
        return f"{value:#x}/{mask:#x}" if mask != 0xFFF else f"{value:#x}"
    if mask == 0xFFF:
        names = [TCP_FLAG_NAMES[i] if i < len(TCP_FLAG_NAMES) else f"[{1 << i:#x}]"
                 for i in range(12) if value >> i & 1]
        return "|".join(names) or "0"
    parts = []
    for i in range(12):
        if mask >> i & 1:
            name = TCP_FLAG_NAMES[i] if i < len(TCP_FLAG_NAMES) else f"{1 << i:#x}"
            parts.append(("+" if value >> i & 1 else "-") + name)
    return "".join(parts) or "0/0"


def format_field_value(fld: Field, value: int, mask: int | None = None) -> str:
    """A field value (and mask if partial) as ovs-ofctl writes it in set_field."""
    name = fld.name
    full = (1 << fld.n_bits) - 1
    if mask is not None and mask == full:
        mask = None
    if name in _ETHER:
        return _mac(value) if mask is None else f"{_mac(value)}/{_mac(mask)}"
    if name in _IPV4:
        return _ip_masked(value, full if mask is None else mask, 32)
    if name in _IPV6:
        return _ip_masked(value, full if mask is None else mask, 128)
    if name in _PORTS and mask is None:
        return port_name(value)
    if name == "tcp_flags":
        return _tcp_flags(value, full if mask is None else mask)
    text = str(value) if name in _DECIMAL else hex(value)
    return text if mask is None else f"{text}/{hex(mask)}"


def format_subfield(ref: A.FieldRef) -> str:
    """``NXM_NX_REG0[0..15]``, ``NXM_OF_ETH_SRC[]`` or ``NXM_NX_REG1[5]``."""
    fld = ref.field
    name = NXM_NAMES.get(fld.name, fld.name)
    width = _REF_BITS.get(fld.name, fld.n_bits)
    n_bits = ref.width if ref.n_bits >= 0 else width - ref.ofs
    if ref.ofs == 0 and n_bits == width:
        return f"{name}[]"
    if n_bits == 1:
        return f"{name}[{ref.ofs}]"
    return f"{name}[{ref.ofs}..{ref.ofs + n_bits - 1}]"


# --- matches ---------------------------------------------------------------------------------

def format_match(match: Match) -> str:
    """``match`` in ovs-ofctl syntax, in the order ``ovs-ofctl dump-flows`` prints fields
    (no priority; an empty string for a match-everything)."""
    v, m = match.values, match.masks
    out: list[str] = []
    put = out.append

    def hex_masked(name: str, slot: int, full: int) -> None:
        if m[slot]:
            put(f"{name}={_hx(v[slot])}" if m[slot] == full
                else f"{name}={_hx(v[slot])}/{_hx(m[slot])}")

    def dec_masked(name: str, value: int, mask: int, full: int) -> None:
        if mask:
            put(f"{name}={value}" if mask == full else f"{name}={value:#x}/{mask:#x}")

    hex_masked("pkt_mark", Slot.PKT_MARK, 0xFFFFFFFF)
    if m[Slot.ACTSET_OUTPUT]:
        put(f"actset_output={port_name(v[Slot.ACTSET_OUTPUT])}")
    eth_type = v[Slot.ETH_TYPE] if m[Slot.ETH_TYPE] else None
    proto = v[Slot.NW_PROTO] if m[Slot.NW_PROTO] else None
    skip_type = skip_proto = False
    if eth_type is not None:
        skip_type = True
        if eth_type == F.ETH_TYPE_IP:
            short = {F.IPPROTO_ICMP: "icmp", F.IPPROTO_TCP: "tcp", F.IPPROTO_UDP: "udp",
                     F.IPPROTO_SCTP: "sctp"}.get(proto)
            skip_proto = short is not None
            put(short or "ip")
        elif eth_type == F.ETH_TYPE_IPV6:
            short = {F.IPPROTO_ICMPV6: "icmp6", F.IPPROTO_TCP: "tcp6", F.IPPROTO_UDP: "udp6",
                     F.IPPROTO_SCTP: "sctp6"}.get(proto)
            skip_proto = short is not None
            put(short or "ipv6")
        else:
            short = {F.ETH_TYPE_ARP: "arp", F.ETH_TYPE_RARP: "rarp",
                     F.ETH_TYPE_MPLS: "mpls", F.ETH_TYPE_MPLS_MCAST: "mplsm"}.get(eth_type)
            skip_type = short is not None
            if short:
                put(short)
    for i in range(16):
        hex_masked(f"reg{i}", Slot.REG0 + i, 0xFFFFFFFF)
    hex_masked("tun_id", Slot.TUN_ID, (1 << 64) - 1)
    hex_masked("metadata", Slot.METADATA, (1 << 64) - 1)
    if m[Slot.IN_PORT]:
        put(f"in_port={port_name(v[Slot.IN_PORT])}")
    _format_vlan(v[Slot.VLAN_TCI], m[Slot.VLAN_TCI], put)
    for name, slot in (("dl_src", Slot.ETH_SRC), ("dl_dst", Slot.ETH_DST)):
        if m[slot]:
            put(f"{name}={format_field_value(F.BY_NAME['eth_src'], v[slot], m[slot])}")
    if not skip_type and m[Slot.ETH_TYPE]:
        put(f"dl_type=0x{v[Slot.ETH_TYPE]:04x}")
    is_arp = eth_type in (F.ETH_TYPE_ARP, F.ETH_TYPE_RARP)
    if eth_type == F.ETH_TYPE_IPV6:
        for name, slot in (("ipv6_src", Slot.IPV6_SRC), ("ipv6_dst", Slot.IPV6_DST)):
            if m[slot]:
                put(f"{name}={_ip_masked(v[slot], m[slot], 128)}")
        if m[Slot.IPV6_LABEL]:
            put(f"ipv6_label=0x{v[Slot.IPV6_LABEL]:05x}" if m[Slot.IPV6_LABEL] == 0xFFFFF
                else f"ipv6_label=0x{v[Slot.IPV6_LABEL]:05x}/0x{m[Slot.IPV6_LABEL]:05x}")
    else:
        names = ("arp_spa", "arp_tpa") if is_arp else ("nw_src", "nw_dst")
        for name, slot in zip(names, (Slot.NW_SRC, Slot.NW_DST)):
            if m[slot]:
                put(f"{name}={_ip_masked(v[slot], m[slot], 32)}")
    if not skip_proto and m[Slot.NW_PROTO]:
        put(f"{'arp_op' if is_arp else 'nw_proto'}={v[Slot.NW_PROTO]}")
    if is_arp:
        for name, slot in (("arp_sha", Slot.ARP_SHA), ("arp_tha", Slot.ARP_THA)):
            if m[slot]:
                put(f"{name}={format_field_value(F.BY_NAME['arp_sha'], v[slot], m[slot])}")
    if m[Slot.NW_TOS] & 0xFC:
        put(f"nw_tos={v[Slot.NW_TOS] & 0xFC}")
    if m[Slot.NW_TOS] & 0x03:
        put(f"nw_ecn={v[Slot.NW_TOS] & 0x03}")
    if m[Slot.NW_TTL]:
        put(f"nw_ttl={v[Slot.NW_TTL]}")
    lse, lmask = v[Slot.MPLS_LSE], m[Slot.MPLS_LSE]
    if lmask & 0xFFFFF000:
        put(f"mpls_label={lse >> 12}")
    if lmask & 0xE00:
        put(f"mpls_tc={(lse >> 9) & 7}")
    if lmask & 0xFF:
        put(f"mpls_ttl={lse & 0xFF}")
    if lmask & 0x100:
        put(f"mpls_bos={(lse >> 8) & 1}")
    _format_frag(v[Slot.NW_FRAG], m[Slot.NW_FRAG], put)
    icmp = ((eth_type == F.ETH_TYPE_IP and proto == F.IPPROTO_ICMP)
            or (eth_type == F.ETH_TYPE_IPV6 and proto == F.IPPROTO_ICMPV6))
    if icmp:
        dec_masked("icmp_type", v[Slot.TP_SRC], m[Slot.TP_SRC], m[Slot.TP_SRC] | 0xFF)
        dec_masked("icmp_code", v[Slot.TP_DST], m[Slot.TP_DST], m[Slot.TP_DST] | 0xFF)
        if eth_type == F.ETH_TYPE_IPV6:
            if m[Slot.ND_TARGET]:
                put(f"nd_target={_ip_masked(v[Slot.ND_TARGET], m[Slot.ND_TARGET], 128)}")
            for name, slot in (("nd_sll", Slot.ARP_SHA), ("nd_tll", Slot.ARP_THA)):
                if m[slot]:
                    put(f"{name}={format_field_value(F.BY_NAME['nd_sll'], v[slot], m[slot])}")
    else:
        dec_masked("tp_src", v[Slot.TP_SRC], m[Slot.TP_SRC], 0xFFFF)
        dec_masked("tp_dst", v[Slot.TP_DST], m[Slot.TP_DST], 0xFFFF)
    if m[Slot.TCP_FLAGS]:
        put(f"tcp_flags={_tcp_flags(v[Slot.TCP_FLAGS], m[Slot.TCP_FLAGS])}")
    for name in ("pbb_isid", "pbb_uca", "ipv6_exthdr"):    # (the PBB slot holds two)
        fld = F.BY_NAME[name]
        full = (1 << fld.n_bits) - 1
        fmask = (m[fld.slot] >> fld.shift) & full
        if fmask:
            put(f"{name}={format_field_value(fld, (v[fld.slot] >> fld.shift) & full, fmask)}")
    return ",".join(out)


def _format_vlan(tci: int, mask: int, put) -> None:
    if not mask:
        return
    vid_mask, pcp_mask, cfi = mask & 0x0FFF, mask & 0xE000, mask & F.VLAN_CFI
    if (cfi and tci & F.VLAN_CFI and vid_mask in (0, 0x0FFF) and pcp_mask in (0, 0xE000)
            and (vid_mask or pcp_mask)):
        if vid_mask:
            put(f"dl_vlan={tci & 0x0FFF}")
        if pcp_mask:
            put(f"dl_vlan_pcp={tci >> 13}")
    elif mask == 0xFFFF:
        put(f"vlan_tci=0x{tci:04x}")
    else:
        put(f"vlan_tci=0x{tci:04x}/0x{mask:04x}")


def _format_frag(value: int, mask: int, put) -> None:
    if mask == 3:
        put("nw_frag=" + (("later" if value & 2 else "first") if value & 1
                          else ("<error>" if value & 2 else "no")))
    elif mask == 1:
        put("nw_frag=" + ("yes" if value & 1 else "no"))
    elif mask == 2:
        put("nw_frag=" + ("later" if value & 2 else "not_later"))


# --- actions ---------------------------------------------------------------------------------

def format_actions(instructions: A.Instructions) -> str:
    """``actions=...`` as ovs-ofctl prints a flow's instructions."""
    ins = instructions
    parts: list[str] = []
    if ins.meter_id is not None:
        parts.append(f"meter:{ins.meter_id}")
    parts.extend(format_action(a) for a in ins.apply or ())
    if ins.clear:
        parts.append("clear_actions")
    if ins.write is not None:
        parts.append(f"write_actions({','.join(format_action(a) for a in ins.write)})")
    if ins.write_metadata is not None:
        value, mask = ins.write_metadata
        text = f"write_metadata:{_hx(value)}"
        parts.append(text if mask == (1 << 64) - 1 else f"{text}/{_hx(mask)}")
    if ins.goto_table is not None:
        parts.append(f"goto_table:{ins.goto_table}")
    return "actions=" + (",".join(parts) if parts else "drop")


def _format_controller(act: A.Controller) -> str:
    if (act.reason == 1 and not act.controller_id and not act.userdata and not act.pause
            and act.meter_id is None):
        return f"CONTROLLER:{act.max_len}"
    opts = []
    if act.reason != 1:
        opts.append(f"reason={REASON_NAMES.get(act.reason, act.reason)}")
    if act.max_len != A.OFPCML_NO_BUFFER:
        opts.append(f"max_len={act.max_len}")
    if act.controller_id:
        opts.append(f"id={act.controller_id}")
    if act.userdata:
        opts.append("userdata=" + ".".join(f"{b:02x}" for b in act.userdata))
    if act.pause:
        opts.append("pause")
    if act.meter_id is not None:
        opts.append(f"meter_id={act.meter_id}")
    return f"controller({','.join(opts)})"


def _format_set_field(act: A.SetField) -> str:
    fld = act.field
    full = (1 << fld.n_bits) - 1
    mask = full if act.mask is None else act.mask
    if mask != full and mask and fld.name in NXM_NAMES and fld.nxm is not None:
        ofs = (mask & -mask).bit_length() - 1
        run = mask >> ofs
        if run & (run + 1) == 0 and run.bit_length() <= 64:
            ref = A.FieldRef(fld, ofs, run.bit_length())
            return f"load:{hex(act.value >> ofs)}->{format_subfield(ref)}"
    return f"set_field:{format_field_value(fld, act.value, act.mask)}->{fld.name}"


def format_action(act) -> str:
    """One action in ovs-ofctl syntax."""
    cls = type(act)
    if cls is A.Output:
        if act.port == A.OFPP_CONTROLLER:
            return f"CONTROLLER:{act.max_len}"
        return port_name(act.port) if act.port in PORT_NAMES else f"output:{act.port}"
    if cls is A.SetField:
        return _format_set_field(act)
    if cls is A.Controller:
        return _format_controller(act)
    if cls is A.Resubmit:
        if act.table_id == 255:
            return f"resubmit:{port_name(act.in_port)}"
        port = "" if act.in_port == A.OFPP_IN_PORT else port_name(act.in_port)
        return f"resubmit({port},{act.table_id})"
    if cls is A.GroupAction:
        return f"group:{act.group_id}"
    if cls is A.SetQueue:
        return f"set_queue:{act.queue_id}"
    if cls is A.Enqueue:
        return f"enqueue:{port_name(act.port)}:{act.queue_id}"
    if cls is A.StripVlan:
        return "strip_vlan"
    if cls is A.SetVlanVid:
        return f"{'mod' if act.push_if_none else 'set'}_vlan_vid:{act.vid}"
    if cls is A.SetVlanPcp:
        return f"{'mod' if act.push_if_none else 'set'}_vlan_pcp:{act.pcp}"
    if cls is A.PushVlan:
        return f"push_vlan:{act.ethertype:#x}"
    if cls is A.PushMpls:
        return f"push_mpls:{act.ethertype:#x}"
    if cls is A.PopMpls:
        return f"pop_mpls:0x{act.ethertype:04x}"
    if cls is A.SetMplsLabel:
        return f"set_mpls_label({act.label})"
    if cls is A.SetMplsTc:
        return f"set_mpls_tc({act.tc})"
    if cls is A.SetMplsTtl:
        return f"set_mpls_ttl({act.ttl})"
    if cls is A.DecMplsTtl:
        return "dec_mpls_ttl"
    if cls is A.SetNwTtl:
        return f"mod_nw_ttl:{act.ttl}"
    if cls is A.DecNwTtl:
        if act.controller_ids == (0,):
            return "dec_ttl"
        return f"dec_ttl({','.join(str(i) for i in act.controller_ids)})"
    if cls is A.CopyField:
        return f"move:{format_subfield(act.src)}->{format_subfield(act.dst)}"
    if cls is A.OutputReg:
        if act.max_len != A.OFPCML_NO_BUFFER:
            return f"output(port={format_subfield(act.src)},max_len={act.max_len})"
        return f"output:{format_subfield(act.src)}"
    if cls is A.Note:
        return "note:" + ".".join(f"{b:02x}" for b in act.data)
    if cls is A.Exit:
        return "exit"
    if cls is A.MeterAction:
        return f"meter:{act.meter_id}"
    if cls is A.Clone:
        return f"clone({','.join(format_action(a) for a in act.actions)})"
    if cls is A.CopyTtlOut:
        return "copy_ttl_out"
    if cls is A.CopyTtlIn:
        return "copy_ttl_in"
    if cls is A.PushPbb:
        return f"push_pbb:{act.ethertype:#x}"
    if cls is A.PopPbb:
        return "pop_pbb"
    if cls is A.Experimenter:
        return f"experimenter({act.experimenter:#x},{act.data.hex()})"
    return repr(act)
