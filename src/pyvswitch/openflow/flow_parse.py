"""Parsing ovs-ofctl flow syntax into ``Match``, ``Instructions`` and flow options.

What this module owns
---------------------
* ``parse_flow(text) -> (Match, Instructions, dict)``: ``"priority=10,table=1,tcp,
  nw_src=10.0.0.0/8,tp_dst=80,actions=output:1,goto_table:2"``; the dict holds the
  non-match keys (priority, table, cookie, cookie_mask, idle_timeout, hard_timeout,
  importance, out_port, out_group, flags such as send_flow_rem...; dump-only counters
  such as n_packets or duration are accepted and returned too).
* ``parse_match(text) -> Match`` and ``parse_actions(text) -> Instructions``.

Accepted syntax follows ``ovs-ofctl(8)``/``ovs-fields(7)``: protocol shorthands, field
names and their legacy aliases (dl_src, nw_src, tp_dst...), values in decimal or hex with
``/mask``, addresses with CIDR or dotted masks, port names (LOCAL, IN_PORT...), and the
actions ``flow_format`` prints plus their usual spellings (mod_dl_src, load, move,
set_field, resubmit, enqueue, controller(...), ...).  Tokens are split on commas and
white space outside parentheses (``ovs.flow``'s KV decoders are not used: they return
strings and dicts we would have to re-parse, and they reject ``table=`` in the match).

Errors: ValueError with a message naming the offending token.  Pure functions; no I/O.

Must not import: anything in pyvswitch except ``packet.fields``, ``openflow.ofpacts``,
``openflow.flow_format``, ``openflow.match_codec`` (prerequisites) and
``openflow.action_nx`` (for reg_load conversion).
"""

from __future__ import annotations

import ipaddress
import re

from pyvswitch.openflow import action_nx as nx
from pyvswitch.openflow.match_codec import prereqs_ok
from pyvswitch.openflow import ofpacts as A
from pyvswitch.openflow.flow_format import NXM_NAMES, PORT_NAMES, REASON_NAMES, TCP_FLAG_NAMES
from pyvswitch.packet import fields as F
from pyvswitch.packet.fields import BY_NAME, Field, Match, Slot

__all__ = ["parse_flow", "parse_match", "parse_actions", "parse_port"]

_INT_KEYS = frozenset(["priority", "table", "idle_timeout", "hard_timeout", "importance",
                       "out_group", "n_packets", "n_bytes", "idle_age", "hard_age"])
_FLAG_KEYS = frozenset(["send_flow_rem", "check_overlap", "reset_counts",
                        "no_packet_counts", "no_byte_counts", "no_readonly_table"])
_SHORTHANDS = {
    "ip": (F.ETH_TYPE_IP, None), "ipv4": (F.ETH_TYPE_IP, None),
    "icmp": (F.ETH_TYPE_IP, 1), "tcp": (F.ETH_TYPE_IP, 6), "udp": (F.ETH_TYPE_IP, 17),
    "sctp": (F.ETH_TYPE_IP, 132), "igmp": (F.ETH_TYPE_IP, 2),
    "ipv6": (F.ETH_TYPE_IPV6, None), "icmp6": (F.ETH_TYPE_IPV6, 58),
    "tcp6": (F.ETH_TYPE_IPV6, 6), "udp6": (F.ETH_TYPE_IPV6, 17),
    "sctp6": (F.ETH_TYPE_IPV6, 132), "arp": (F.ETH_TYPE_ARP, None),
    "rarp": (F.ETH_TYPE_RARP, None), "mpls": (F.ETH_TYPE_MPLS, None),
    "mplsm": (F.ETH_TYPE_MPLS_MCAST, None),
}
_PORT_BY_NAME = {name: port for port, name in PORT_NAMES.items()}
_PORT_BY_NAME["NONE"] = A.OFPP_ANY
_FIELD_BY_NXM = {nxm: BY_NAME[name] for name, nxm in NXM_NAMES.items()}
_FIELD_BY_NXM["OXM_OF_IN_PORT"] = BY_NAME["in_port"]
_FIELD_BY_NXM["OXM_OF_TUNNEL_ID"] = BY_NAME["tun_id"]
_REASON_BY_NAME = {name: code for code, name in REASON_NAMES.items()}
_REF_RE = re.compile(r"^([A-Za-z_0-9]+)\[(?:(\d+)(?:\.\.(\d+))?)?\]$")

_ETHER = frozenset(["eth_src", "eth_dst", "arp_sha", "arp_tha", "nd_sll", "nd_tll"])
_IPV4 = frozenset(["ip_src", "ip_dst", "arp_spa", "arp_tpa"])
_IPV6 = frozenset(["ipv6_src", "ipv6_dst", "nd_target"])


# --- tokenizing ------------------------------------------------------------------------------

def _split(text: str, seps: str = ", \t\n") -> list[str]:
    """Split on ``seps`` outside parentheses; drop empty pieces."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if depth == 0 and ch in seps:
            if cur:
                out.append("".join(cur))
                cur = []
            continue
        cur.append(ch)
    if depth:
        raise ValueError(f"unbalanced parentheses in {text!r}")
    if cur:
        out.append("".join(cur))
    return out


def _split_actions_part(text: str) -> tuple[str, str | None]:
    """Split a flow into (match and options, actions text or None)."""
    depth = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and text.startswith("actions", i) and (i == 0 or text[i - 1] in ", \t"):
            rest = text[i + len("actions"):].lstrip()
            if rest[:1] in ("=", ":"):
                return text[:i], rest[1:].strip()
    return text, None


# --- values ----------------------------------------------------------------------------------

def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise ValueError(f"bad number {text!r}") from None


def parse_port(text: str) -> int:
    """A port number or name (LOCAL, IN_PORT, CONTROLLER, ANY...) as a 32-bit number."""
    name = text.upper()
    if name in _PORT_BY_NAME:
        return _PORT_BY_NAME[name]
    return _int(text)


def _mac(text: str) -> int:
    parts = text.split(":")
    if len(parts) != 6:
        raise ValueError(f"bad Ethernet address {text!r}")
    return int("".join(p.zfill(2) for p in parts), 16)


def _ip_masked(text: str, bits: int) -> tuple[int, int]:
    cls = ipaddress.IPv4Address if bits == 32 else ipaddress.IPv6Address
    full = (1 << bits) - 1
    if "/" not in text:
        return int(cls(text)), full
    addr, mask = text.split("/", 1)
    if mask.isdigit():
        plen = int(mask)
        if plen > bits:
            raise ValueError(f"bad prefix length in {text!r}")
        mask_int = (full << (bits - plen)) & full
    else:
        mask_int = int(cls(mask))
    return int(cls(addr)) & mask_int, mask_int


def _tcp_flags(text: str) -> tuple[int, int]:
    if text[:1] in "+-":
        value = mask = 0
        for sign, name in re.findall(r"([+-])([a-z]+)", text):
            bit = 1 << TCP_FLAG_NAMES.index(name)
            mask |= bit
            if sign == "+":
                value |= bit
        return value, mask
    if "/" in text:
        v, m = text.split("/", 1)
        return _int(v), _int(m)
    if text and not text[0].isdigit():
        value = 0
        for name in text.split("|"):
            value |= 1 << TCP_FLAG_NAMES.index(name)
        return value, 0xFFF
    return _int(text), 0xFFF


def parse_field_value(fld: Field, text: str) -> tuple[int, int | None]:
    """Value and mask (None if exact) of ``fld`` written as ovs-ofctl does."""
    name = fld.name
    full = (1 << fld.n_bits) - 1
    if name in _ETHER:
        if "/" in text:
            v, m = text.split("/", 1)
            return _mac(v) & _mac(m), _mac(m)
        return _mac(text), None
    if name in _IPV4 or name in _IPV6:
        value, mask = _ip_masked(text, 32 if name in _IPV4 else 128)
        return value, None if mask == full else mask
    if name == "tcp_flags":
        value, mask = _tcp_flags(text)
        return value, None if mask == full else mask
    if name in ("in_port", "actset_output"):
        return parse_port(text), None
    if "/" in text:
        v, m = text.split("/", 1)
        mask = _int(m)
        return _int(v) & mask, None if mask == full else mask
    return _int(text), None


# --- matches ---------------------------------------------------------------------------------

def parse_match(text: str) -> Match:
    """The match part of an ovs-ofctl flow (no options, no actions)."""
    match, opts = _parse_match_tokens(_split(text))
    if opts:
        raise ValueError(f"not match fields: {', '.join(opts)}")
    return match


def _parse_match_tokens(tokens: list[str]) -> tuple[Match, dict]:
    match = Match()
    opts: dict = {}
    later: list[tuple[str, str]] = []
    for tok in tokens:
        key, sep, value = tok.partition("=")
        key = key.strip()
        value = value.strip()
        if not sep:
            if key in _SHORTHANDS:
                eth_type, proto = _SHORTHANDS[key]
                match.set("eth_type", eth_type)
                if proto is not None:
                    match.set_slot(Slot.NW_PROTO, proto, 0xFF)
            elif key in _FLAG_KEYS:
                opts[key] = True
            else:
                raise ValueError(f"unknown keyword {key!r}")
        elif key in ("dl_type", "eth_type"):
            match.set("eth_type", _int(value))
        elif key in ("nw_proto", "ip_proto"):
            match.set_slot(Slot.NW_PROTO, _int(value), 0xFF)
        else:
            later.append((key, value))
    used: list[Field] = []
    for key, value in later:
        fld = _set_key(match, opts, key, value)
        if fld is not None:
            used.append(fld)
    for fld in used:  # checked on the whole match, as ovs-ofctl does
        if not prereqs_ok(match, fld.prereq):
            raise ValueError(f"{fld.name} lacks its prerequisites "
                             f"({fld.prereq.value}) in this match")
    return match, opts


def _set_key(match: Match, opts: dict, key: str, value: str) -> Field | None:
    """Apply one ``key=value``; return the field whose prerequisites must hold."""
    v, m = match.values, match.masks
    eth_type = v[Slot.ETH_TYPE] if m[Slot.ETH_TYPE] else None
    proto = v[Slot.NW_PROTO] if m[Slot.NW_PROTO] else None
    if key in _INT_KEYS:
        opts[key] = _int(value)
    elif key == "cookie":
        c, _, cm = value.partition("/")
        opts["cookie"] = _int(c)
        if cm:
            opts["cookie_mask"] = _int(cm)
    elif key == "out_port":
        opts["out_port"] = parse_port(value)
    elif key in ("duration",):
        opts[key] = float(value.rstrip("s"))
    elif key in ("dl_vlan", "dl_vlan_pcp"):
        num = _int(value)
        if key == "dl_vlan" and num == 0xFFFF:
            match.set_slot(Slot.VLAN_TCI, 0, 0x1FFF)
            return
        shift, bits = (0, 0x0FFF) if key == "dl_vlan" else (13, 0xE000)
        tci = (v[Slot.VLAN_TCI] & ~bits) | ((num << shift) & bits) | F.VLAN_CFI
        match.set_slot(Slot.VLAN_TCI, tci, m[Slot.VLAN_TCI] | bits | F.VLAN_CFI)
    elif key in ("nw_tos", "nw_ecn", "ip_ecn", "ip_dscp"):
        fld = {"nw_tos": "ip_dscp", "nw_ecn": "ip_ecn"}.get(key, key)
        num = _int(value)
        match.set(fld, num >> 2 if key == "nw_tos" else num)
    elif key in ("tp_src", "tp_dst", "icmp_type", "icmp_code"):
        slot = Slot.TP_SRC if key in ("tp_src", "icmp_type") else Slot.TP_DST
        if eth_type not in (F.ETH_TYPE_IP, F.ETH_TYPE_IPV6) or proto not in (
                F.IPPROTO_TCP, F.IPPROTO_UDP, F.IPPROTO_SCTP, F.IPPROTO_ICMP,
                F.IPPROTO_ICMPV6):
            raise ValueError(f"{key} needs tcp, udp, sctp or icmp")
        if proto in (F.IPPROTO_ICMP, F.IPPROTO_ICMPV6):
            match.set_slot(slot, _int(value), 0xFF)
        else:
            num, _, msk = value.partition("/")
            match.set_slot(slot, _int(num) & (_int(msk) if msk else 0xFFFF),
                           _int(msk) if msk else 0xFFFF)
    elif key == "arp_op":
        match.set_slot(Slot.NW_PROTO, _int(value) & 0xFF, 0xFF)
    elif key in ("nw_frag", "ip_frag"):
        frag = {"no": (0, 3), "yes": (1, 1), "first": (1, 3), "later": (3, 3),
                "not_later": (0, 2)}.get(value)
        if frag is None:
            raise ValueError(f"bad nw_frag {value!r}")
        match.set_slot(Slot.NW_FRAG, *frag)
    elif key in ("nw_src", "nw_dst", "ip_src", "ip_dst") and eth_type in (
            F.ETH_TYPE_ARP, F.ETH_TYPE_RARP):
        return _set_field(match, "arp_spa" if key.endswith("src") else "arp_tpa", value)
    elif key in BY_NAME:
        return _set_field(match, key, value)
    else:
        raise ValueError(f"unknown field {key!r}")
    return None


def _set_field(match: Match, name: str, text: str) -> Field:
    fld = BY_NAME[name]
    value, mask = parse_field_value(fld, text)
    match.set(fld, value, mask)
    return fld


# --- actions ---------------------------------------------------------------------------------

def _subfield(text: str) -> A.FieldRef:
    found = _REF_RE.match(text.strip())
    if not found:
        raise ValueError(f"bad field reference {text!r}")
    name, start, end = found.groups()
    fld = _FIELD_BY_NXM.get(name) or BY_NAME.get(name)
    if fld is None:
        raise ValueError(f"unknown field {name!r}")
    width = {"in_port": 16 if name == "NXM_OF_IN_PORT" else 32, "nw_tos": 8}.get(
        fld.name, fld.n_bits)
    if start is None:
        return A.FieldRef(fld, 0, width)
    ofs = int(start)
    last = int(end) if end is not None else ofs
    if last < ofs or last >= width:
        raise ValueError(f"bad bit range in {text!r}")
    return A.FieldRef(fld, ofs, last - ofs + 1)


def _args(text: str) -> dict[str, str]:
    out = {}
    for piece in _split(text, ","):
        k, sep, val = piece.partition("=")
        out[k.strip()] = val.strip() if sep else ""
    return out


def _set(name: str, value: int, mask: int | None = None) -> A.SetField:
    return A.SetField(BY_NAME[name], value, mask)


def parse_actions(text: str) -> A.Instructions:
    """Instructions from the text after ``actions=``."""
    ins: dict = {}
    apply: list = []
    last_stage = -1
    for tok in _split(text, ","):
        tok = tok.strip()
        name, arg, paren = _action_parts(tok)
        stage = _STAGES.get(name, 1)
        if stage < last_stage or (stage == last_stage and stage != 1):
            raise ValueError(f"instruction {name!r} out of order or repeated "
                             "(meter, actions, clear_actions, write_actions, "
                             "write_metadata, goto_table)")
        last_stage = stage
        if name == "meter":
            ins["meter_id"] = _int(arg)
        elif name == "goto_table":
            ins["goto_table"] = _int(arg)
        elif name == "clear_actions":
            ins["clear"] = True
        elif name == "write_actions":
            ins["write"] = tuple(parse_action_list(arg))
        elif name == "write_metadata":
            v, _, msk = arg.partition("/")
            ins["write_metadata"] = (_int(v), _int(msk) if msk else (1 << 64) - 1)
        elif name == "drop":
            continue
        else:
            apply.append(_parse_action(name, arg, paren, tok))
    if apply:
        ins["apply"] = tuple(_fold_pop_queue(apply))
    return A.Instructions(**ins)


def _fold_pop_queue(actions: list) -> list:
    """``set_queue:Q,output:P,pop_queue`` (how OVS prints enqueue on OF1.1+) -> Enqueue."""
    out: list = []
    for act in actions:
        if act is _POP_QUEUE:
            if len(out) < 2 or type(out[-2]) is not A.SetQueue or type(out[-1]) is not A.Output:
                raise ValueError("pop_queue is only supported right after set_queue,output")
            out[-2:] = [A.Enqueue(out[-1].port, out[-2].queue_id)]
        else:
            out.append(act)
    return out


_POP_QUEUE = object()


_STAGES = {"meter": 0, "clear_actions": 2, "write_actions": 3, "write_metadata": 4,
           "goto_table": 5}


def parse_action_list(text: str) -> list:
    """A plain action list (as inside write_actions(...) or clone(...))."""
    out = []
    for tok in _split(text, ","):
        name, arg, paren = _action_parts(tok.strip())
        if name != "drop":
            out.append(_parse_action(name, arg, paren, tok))
    return _fold_pop_queue(out)


def _action_parts(tok: str) -> tuple[str, str, bool]:
    paren = tok.find("(")
    colon = tok.find(":")
    if paren >= 0 and (colon < 0 or paren < colon) and tok.endswith(")"):
        return tok[:paren].lower(), tok[paren + 1:-1], True
    if colon >= 0:
        return tok[:colon].lower(), tok[colon + 1:], False
    return tok.lower(), "", False


_SIMPLE_SETS = {"mod_dl_src": "eth_src", "mod_dl_dst": "eth_dst", "mod_nw_src": "ip_src",
                "mod_nw_dst": "ip_dst", "mod_tp_src": "tcp_src", "mod_tp_dst": "tcp_dst"}


def _parse_action(name: str, arg: str, paren: bool, tok: str):
    if name == "output":
        if paren:
            opts = _args(arg)
            return A.OutputReg(_subfield(opts["port"]), _int(opts.get("max_len", "65535")))
        if "[" in arg:
            return A.OutputReg(_subfield(arg), A.OFPCML_NO_BUFFER)
        return A.Output(parse_port(arg))
    if name.upper() in _PORT_BY_NAME and not paren:
        port = _PORT_BY_NAME[name.upper()]
        if port == A.OFPP_CONTROLLER:
            return A.Output(port, _int(arg) if arg else A.OFPCML_NO_BUFFER)
        return A.Output(port)
    if name.isdigit():
        return A.Output(int(name))
    if name == "controller":
        if not paren:
            return A.Output(A.OFPP_CONTROLLER, _int(arg) if arg else A.OFPCML_NO_BUFFER)
        opts = _args(arg)
        kw: dict = {}
        if "max_len" in opts:
            kw["max_len"] = _int(opts["max_len"])
        if "id" in opts:
            kw["controller_id"] = _int(opts["id"])
        if "reason" in opts:
            kw["reason"] = _REASON_BY_NAME[opts["reason"]]
        if "userdata" in opts:
            kw["userdata"] = bytes.fromhex(opts["userdata"].replace(".", ""))
        if "pause" in opts:
            kw["pause"] = True
        if "meter_id" in opts:
            kw["meter_id"] = _int(opts["meter_id"])
        if set(kw) <= {"max_len"}:  # nothing a plain output to CONTROLLER cannot say
            return A.Output(A.OFPP_CONTROLLER, kw.get("max_len", A.OFPCML_NO_BUFFER))
        return A.Controller(**kw)
    if name in _SIMPLE_SETS:
        fld = BY_NAME[_SIMPLE_SETS[name]]
        return A.SetField(fld, parse_field_value(fld, arg)[0])
    if name == "mod_nw_tos":
        return _set("ip_dscp", _int(arg) >> 2)
    if name == "mod_nw_ecn":
        return _set("ip_ecn", _int(arg))
    if name == "mod_nw_ttl":
        return A.SetNwTtl(_int(arg))
    if name in ("mod_vlan_vid", "set_vlan_vid"):
        return A.SetVlanVid(_int(arg), name.startswith("mod"))
    if name in ("mod_vlan_pcp", "set_vlan_pcp"):
        return A.SetVlanPcp(_int(arg), name.startswith("mod"))
    if name in ("strip_vlan", "pop_vlan"):
        return A.StripVlan()
    if name == "push_vlan":
        return A.PushVlan(_int(arg))
    if name == "push_mpls":
        return A.PushMpls(_int(arg))
    if name == "pop_mpls":
        return A.PopMpls(_int(arg))
    if name == "set_mpls_label":
        return A.SetMplsLabel(_int(arg))
    if name == "set_mpls_tc":
        return A.SetMplsTc(_int(arg))
    if name == "set_mpls_ttl":
        return A.SetMplsTtl(_int(arg))
    if name == "dec_mpls_ttl":
        return A.DecMplsTtl()
    if name == "dec_ttl":
        ids = tuple(_int(x) for x in _split(arg, ",")) if paren and arg.strip() else (0,)
        return A.DecNwTtl(ids)
    if name == "set_queue":
        return A.SetQueue(_int(arg))
    if name == "group":
        return A.GroupAction(_int(arg))
    if name == "enqueue":
        port, _, queue = arg.replace(",", ":").partition(":")
        return A.Enqueue(parse_port(port), _int(queue))
    if name == "resubmit":
        if paren:
            port, _, table = arg.partition(",")
            return A.Resubmit(parse_port(port) if port.strip() else A.OFPP_IN_PORT,
                              _int(table) if table.strip() else 255)
        return A.Resubmit(parse_port(arg), 255)
    if name in ("set_tunnel", "set_tunnel64"):
        return _set("tun_id", _int(arg))
    if name == "set_field":
        value_text, _, dst = arg.partition("->")
        fld = BY_NAME.get(dst.strip()) or _FIELD_BY_NXM.get(dst.strip())
        if fld is None:
            raise ValueError(f"unknown field in {tok!r}")
        value, mask = parse_field_value(fld, value_text.strip())
        return A.SetField(fld, value, mask)
    if name == "load":
        value_text, _, dst = arg.partition("->")
        ref = _subfield(dst)
        return nx.ref_to_setfield(ref.field, ref.ofs, ref.n_bits, _int(value_text))
    if name == "move":
        src, _, dst = arg.partition("->")
        src_ref, dst_ref = _subfield(src), _subfield(dst)
        if src_ref.n_bits != dst_ref.n_bits:
            raise ValueError(f"move between different widths in {tok!r}")
        return A.CopyField(src_ref, dst_ref)
    if name == "note":
        return A.Note(bytes.fromhex(arg.replace(".", "").replace(":", "")))
    if name == "exit":
        return A.Exit()
    if name == "pop_queue":
        return _POP_QUEUE
    if name == "clone":
        return A.Clone(tuple(parse_action_list(arg)))
    if name == "copy_ttl_out":
        return A.CopyTtlOut()
    if name == "copy_ttl_in":
        return A.CopyTtlIn()
    if name == "push_pbb":
        return A.PushPbb(_int(arg))
    if name == "pop_pbb":
        return A.PopPbb()
    raise ValueError(f"unknown action {tok!r}")


# --- whole flows -----------------------------------------------------------------------------

def parse_flow(text: str) -> tuple[Match, A.Instructions, dict]:
    """A whole flow: match, instructions (DROP if there is no ``actions=``) and options."""
    head, actions = _split_actions_part(text.strip())
    match, opts = _parse_match_tokens(_split(head))
    ins = parse_actions(actions) if actions is not None else A.Instructions()
    return match, ins, opts
