"""Wire codecs for OpenFlow actions and instructions (OF1.0, 1.3, 1.4, 1.5 + Nicira).

What this module owns
---------------------
* ``decode_actions`` / ``encode_actions``: an action list <-> ``ofpacts`` dataclasses.
* ``decode_instructions`` / ``encode_instructions``: an OF1.1+ instruction list (or an
  OF1.0 action list) <-> ``Instructions``.
* ``check_actions`` (re-exported from ``action_check``): OVS's ofpacts_check.

Conventions
-----------
Decoding follows Open vSwitch's errors: an action whose length is not a multiple of 8,
shorter than its type needs or longer than what is left raises OFPBAC_BAD_LEN; an unknown
type OFPBAC_BAD_TYPE; an unknown vendor OFPBAC_BAD_EXPERIMENTER; output to a port that
cannot exist (0, OFPP_ANY, 0xff00..0xfff7) OFPBAC_BAD_OUT_PORT; set_field of a read-only
or OXM in_port field OFPBAC_BAD_SET_ARGUMENT; instructions repeat -> OFPBIC_DUP_INST,
unknown -> OFPBIC_UNKNOWN_INST, bad length -> OFPBIC_BAD_LEN; an action not allowed in an
action set (write_actions) -> OFPBAC_BAD_TYPE.

Encoding picks, per version, the form OVS would send: standard actions where the version
has them, Nicira extensions otherwise (an OF1.0 dec_ttl is NXAST_DEC_TTL, an OF1.3
masked set_field is NXAST_REG_LOAD/REG_LOAD2).  Everything we decode encodes back to
bytes that decode to the same value; the few conversions that are not one-to-one (OF1.0
enqueue and OF1.0-style set_vlan_vid on OF1.1+) are documented at ``_encode_one``.
Actions a version cannot express raise ValueError.

Must not import: anything in pyvswitch except ``packet.fields``, ``openflow.errors``,
``openflow.ofpacts``, ``openflow.match_codec``, ``openflow.action_nx`` and
``openflow.action_check``.
"""

from __future__ import annotations

import struct

from pyvswitch.openflow import action_nx as nx
from pyvswitch.openflow import match_codec as mc
from pyvswitch.openflow import ofpacts as A
from pyvswitch.openflow.action_check import check_actions
from pyvswitch.openflow.errors import OFPError
from pyvswitch.packet.fields import BY_NAME

__all__ = ["decode_actions", "encode_actions", "decode_instructions",
           "encode_instructions", "check_actions"]

OFP10 = 0x01

_HH = struct.Struct("!HH")
_OUT10 = struct.Struct("!HHHH")
_OUT11 = struct.Struct("!HHIH6x")

# Fields of the OF1.0/1.1 "set" actions, by OF1.0 type and OF1.1+ type.
_OF10_SET = {4: "eth_src", 5: "eth_dst", 6: "ip_src", 7: "ip_dst", 9: "tcp_src",
             10: "tcp_dst"}
_F = {name: BY_NAME[name] for name in
      ("eth_src", "eth_dst", "ip_src", "ip_dst", "tcp_src", "tcp_dst", "ip_dscp", "ip_ecn")}

#: Reserved ports an output action may name (besides 1..0xfeff).
_RESERVED_OUT = frozenset([A.OFPP_IN_PORT, A.OFPP_TABLE, A.OFPP_NORMAL, A.OFPP_FLOOD,
                           A.OFPP_ALL, A.OFPP_CONTROLLER, A.OFPP_LOCAL])

#: Actions that may not appear in an action set (write_actions), as OVS decides.
_NOT_IN_SET = (A.Clone, A.Controller, A.Enqueue, A.Exit, A.MeterAction, A.Note,
               A.OutputReg)


def _check_out_port(port: int) -> int:
    if 0 < port < 0xFF00 or port in _RESERVED_OUT:
        return port
    raise OFPError("OFPBAC_BAD_OUT_PORT", f"output to port {port:#x}")


def _port_from_ofp11(port: int) -> int:
    if 0xFF00 <= port < A.OFPP_MAX:
        raise OFPError("OFPBAC_BAD_OUT_PORT", f"port {port:#x}")
    return port


# --- decoding --------------------------------------------------------------------------------

def decode_actions(version: int, buf, offset: int, length: int) -> tuple:
    """Decode ``length`` bytes of actions at ``offset`` for OpenFlow ``version``."""
    if length % 8:
        raise OFPError("OFPBAC_BAD_LEN", f"action list length {length}")
    end = offset + length
    if end > len(buf):
        raise OFPError("OFPBAC_BAD_LEN", "actions run past the message")
    out = []
    append = out.append
    pos = offset
    of10 = version == OFP10
    while pos < end:
        if end - pos < 4:
            raise OFPError("OFPBAC_BAD_LEN", "partial action header")
        atype, alen = _HH.unpack_from(buf, pos)
        if atype == 0 and alen == 16 and not of10 and pos + 16 <= end:
            # Fast path: the OF1.1+ output action.
            port, max_len = struct.unpack_from("!IH", buf, pos + 4)
            append(A.Output(_check_out_port(_port_from_ofp11(port)), max_len))
            pos += 16
            continue
        if atype == 0xFFFF:
            if alen < 16 or end - pos < 10:
                raise OFPError("OFPBAC_BAD_LEN", "short experimenter action")
            vendor, = struct.unpack_from("!I", buf, pos + 4)
            if vendor == ONF_VENDOR and version == 0x04:
                append(_decode_onf(buf, pos, alen, end))
                pos += alen
                continue
            if vendor != nx.NX_VENDOR:
                raise OFPError("OFPBAC_BAD_EXPERIMENTER", f"experimenter {vendor:#x}")
            if alen > end - pos:
                raise OFPError("OFPBAC_BAD_LEN", "action runs past the list")
            act = nx.decode(version, buf, pos, alen)
            if act is nx.POP_QUEUE:
                # OVS sends enqueue on OF1.1+ as set_queue, output, pop_queue.
                if (len(out) >= 2 and type(out[-2]) is A.SetQueue
                        and type(out[-1]) is A.Output):
                    out[-2:] = [A.Enqueue(out[-1].port, out[-2].queue_id)]
                    pos += alen
                    continue
                raise OFPError("OFPBAC_BAD_EXPERIMENTER_TYPE", "pop_queue outside enqueue")
            append(act)
        else:
            decoder = (_decode_of10 if of10 else _decode_of11)
            append(decoder(version, atype, alen, buf, pos, end))
        pos += alen
    return tuple(out)


def _fixed(alen: int, size: int, end: int, pos: int) -> None:
    if alen > end - pos:
        raise OFPError("OFPBAC_BAD_LEN", "action runs past the list")
    if alen != size:
        raise OFPError("OFPBAC_BAD_LEN", f"action length {alen}, expected {size}")


def _decode_of10(version, atype, alen, buf, pos, end):
    if atype > 11:
        raise OFPError("OFPBAC_BAD_TYPE", f"OpenFlow 1.0 action type {atype}")
    _fixed(alen, 16 if atype in (4, 5, 11) else 8, end, pos)
    if atype == 0:
        port, max_len = struct.unpack_from("!HH", buf, pos + 4)
        return A.Output(_check_out_port(A.of10_port_to_of11(port)), max_len)
    if atype == 1:
        vid, = struct.unpack_from("!H", buf, pos + 4)
        if vid & ~0xFFF:
            raise OFPError("OFPBAC_BAD_ARGUMENT", f"vlan vid {vid:#x}")
        return A.SetVlanVid(vid, True)
    if atype == 2:
        pcp = buf[pos + 4]
        if pcp > 7:
            raise OFPError("OFPBAC_BAD_ARGUMENT", f"vlan pcp {pcp}")
        return A.SetVlanPcp(pcp, True)
    if atype == 3:
        return A.StripVlan()
    if atype == 11:
        port, queue = struct.unpack_from("!H6xI", buf, pos + 4)
        port = A.of10_port_to_of11(port)
        if not (port < 0xFF00 or port in (A.OFPP_IN_PORT, A.OFPP_LOCAL)):
            raise OFPError("OFPBAC_BAD_OUT_PORT", f"enqueue on port {port:#x}")
        return A.Enqueue(port, queue)
    return _decode_set(atype, buf, pos)


def _decode_set(atype: int, buf, pos: int):
    """The OF1.0 set_* actions (types 4..10), shared with the deprecated OF1.1+ ones."""
    if atype in (4, 5):
        return A.SetField(_F[_OF10_SET[atype]], int.from_bytes(buf[pos + 4:pos + 10], "big"))
    if atype in (6, 7):
        return A.SetField(_F[_OF10_SET[atype]], int.from_bytes(buf[pos + 4:pos + 8], "big"))
    if atype in (9, 10):
        return A.SetField(_F[_OF10_SET[atype]], (buf[pos + 4] << 8) | buf[pos + 5])
    if atype == 8:
        tos = buf[pos + 4]
        if tos & 0x03:
            raise OFPError("OFPBAC_BAD_ARGUMENT", f"nw_tos {tos:#x} sets ECN bits")
        return A.SetField(_F["ip_dscp"], tos >> 2)
    raise AssertionError(atype)


# OF1.1+ type -> (exact length, or None for "multiple of 8, at least 8")
_OF11_SIZES = {0: 16, 1: 8, 2: 8, 3: 16, 4: 16, 5: 8, 6: 8, 7: 8, 8: 8, 9: 8, 10: 8,
               11: 8, 12: 8, 13: 8, 14: 8, 15: 8, 16: 8, 17: 8, 18: 8, 19: 8, 20: 8,
               21: 8, 22: 8, 23: 8, 24: 8, 25: None, 26: 8, 27: 8}
_OF15_SIZES = {**_OF11_SIZES, 28: None, 29: 8}


def _decode_of11(version, atype, alen, buf, pos, end):
    sizes = _OF15_SIZES if version >= 0x06 else _OF11_SIZES
    if atype not in sizes:
        raise OFPError("OFPBAC_BAD_TYPE", f"action type {atype}")
    size = sizes[atype]
    if size is None:
        if alen > end - pos:
            raise OFPError("OFPBAC_BAD_LEN", "action runs past the list")
        if alen < 8 or alen % 8:
            raise OFPError("OFPBAC_BAD_LEN", f"action length {alen}")
    else:
        _fixed(alen, size, end, pos)
    if atype == 0:
        port, max_len = struct.unpack_from("!IH", buf, pos + 4)
        return A.Output(_check_out_port(_port_from_ofp11(port)), max_len)
    if atype == 25:
        return _decode_set_field(version, buf, pos, pos + alen)
    if atype == 28:
        return _decode_copy_field(buf, pos, pos + alen)
    if atype == 1:
        vid, = struct.unpack_from("!H", buf, pos + 4)
        if vid & ~0xFFF:
            raise OFPError("OFPBAC_BAD_ARGUMENT", f"vlan vid {vid:#x}")
        return A.SetVlanVid(vid, False)
    if atype == 2:
        if buf[pos + 4] > 7:
            raise OFPError("OFPBAC_BAD_ARGUMENT", f"vlan pcp {buf[pos + 4]}")
        return A.SetVlanPcp(buf[pos + 4], False)
    if 3 <= atype <= 10:
        if atype == 8:
            ecn = buf[pos + 4]
            if ecn > 3:
                raise OFPError("OFPBAC_BAD_ARGUMENT", f"nw_ecn {ecn}")
            return A.SetField(_F["ip_ecn"], ecn)
        return _decode_set({3: 4, 4: 5, 5: 6, 6: 7, 7: 8, 9: 9, 10: 10}[atype], buf, pos)
    arg16 = (buf[pos + 4] << 8) | buf[pos + 5]
    arg32 = int.from_bytes(buf[pos + 4:pos + 8], "big")
    if atype == 11:
        return A.CopyTtlOut()
    if atype == 12:
        return A.CopyTtlIn()
    if atype == 13:
        if arg32 & ~0xFFFFF:
            raise OFPError("OFPBAC_BAD_ARGUMENT", f"mpls label {arg32:#x}")
        return A.SetMplsLabel(arg32)
    if atype == 14:
        if buf[pos + 4] > 7:
            raise OFPError("OFPBAC_BAD_ARGUMENT", f"mpls tc {buf[pos + 4]}")
        return A.SetMplsTc(buf[pos + 4])
    if atype == 15:
        return A.SetMplsTtl(buf[pos + 4])
    if atype == 16:
        return A.DecMplsTtl()
    if atype == 17:
        if arg16 not in (0x8100, 0x88A8):
            raise OFPError("OFPBAC_BAD_ARGUMENT", f"push_vlan ethertype {arg16:#x}")
        return A.PushVlan(arg16)
    if atype == 18:
        return A.StripVlan()
    if atype == 19:
        if arg16 not in (0x8847, 0x8848):
            raise OFPError("OFPBAC_BAD_ARGUMENT", f"push_mpls ethertype {arg16:#x}")
        return A.PushMpls(arg16)
    if atype == 20:
        return A.PopMpls(arg16)
    if atype == 21:
        return A.SetQueue(arg32)
    if atype == 22:
        return A.GroupAction(arg32)
    if atype == 23:
        return A.SetNwTtl(buf[pos + 4])
    if atype == 24:
        return A.DecNwTtl()
    if atype == 26:
        if arg16 != 0x88E7:
            raise OFPError("OFPBAC_BAD_ARGUMENT", f"push_pbb ethertype {arg16:#x}")
        return A.PushPbb(arg16)
    if atype == 27:
        return A.PopPbb()
    if atype == 29:
        return A.MeterAction(arg32)
    raise AssertionError(atype)


def _decode_set_field(version: int, buf, pos: int, end: int) -> A.SetField:
    fld, value, mask, used = mc.decode_oxm_field(buf, pos + 4, end)
    if mask is not None and version < 0x06:
        raise OFPError("OFPBAC_BAD_SET_MASK", "masked set_field before OpenFlow 1.5")
    if any(buf[pos + 4 + used:end]):
        raise OFPError("OFPBAC_BAD_SET_ARGUMENT", "set_field padding is not zero")
    if not fld.writable:
        raise OFPError("OFPBAC_BAD_SET_ARGUMENT", f"{fld.name} is read-only")
    if fld.name == "vlan_vid":
        present = 0x1000
        if not value & present or (mask is not None and not mask & present):
            raise OFPError("OFPBAC_BAD_SET_ARGUMENT", "vlan_vid without OFPVID_PRESENT")
    return A.SetField(fld, value, mask)


ONF_VENDOR = 0x4F4E4600
ONFACT_COPY_FIELD = 3200


def _decode_onf(buf, pos: int, alen: int, end: int) -> A.CopyField:
    """ONF's OF1.3 copy_field extension (experimenter 0x4f4e4600, type 3200), which
    OVS accepts from OF1.3 controllers (and answers, like us, with reg_move)."""
    if alen > end - pos:
        raise OFPError("OFPBAC_BAD_LEN", "action runs past the list")
    exp_type, = struct.unpack_from("!H", buf, pos + 8)
    if exp_type != ONFACT_COPY_FIELD:
        raise OFPError("OFPBAC_BAD_EXPERIMENTER_TYPE", f"ONF action {exp_type}")
    if alen < 24 or alen % 8:
        raise OFPError("OFPBAC_BAD_LEN", f"ONF copy_field length {alen}")
    n_bits, src_ofs, dst_ofs = struct.unpack_from("!HHH", buf, pos + 12)
    stop = pos + alen
    src, _, used = mc.decode_field_header(buf, pos + 20, stop)
    dst, _, used2 = mc.decode_field_header(buf, pos + 20 + used, stop)
    if any(buf[pos + 20 + used + used2:stop]):
        raise OFPError("NXBRC_MUST_BE_ZERO", "copy_field trailing bytes")
    return nx._make_copy(src, src_ofs, dst, dst_ofs, n_bits, 0x04)


def _decode_copy_field(buf, pos: int, end: int) -> A.CopyField:
    if end - pos < 16:
        raise OFPError("OFPBAC_BAD_LEN", "short copy_field")
    n_bits, src_ofs, dst_ofs = struct.unpack_from("!HHH", buf, pos + 4)
    src, _, used = mc.decode_field_header(buf, pos + 12, end)
    dst, _, used2 = mc.decode_field_header(buf, pos + 12 + used, end)
    if any(buf[pos + 12 + used + used2:end]):
        raise OFPError("NXBRC_MUST_BE_ZERO", "copy_field trailing bytes")
    return nx._make_copy(src, src_ofs, dst, dst_ofs, n_bits, 0x06)


nx.decode_nested = decode_actions


# --- instructions ----------------------------------------------------------------------------

OFPIT_GOTO_TABLE = 1
OFPIT_WRITE_METADATA = 2
OFPIT_WRITE_ACTIONS = 3
OFPIT_APPLY_ACTIONS = 4
OFPIT_CLEAR_ACTIONS = 5
OFPIT_METER = 6
OFPIT_EXPERIMENTER = 0xFFFF

_INST_SIZES = {OFPIT_GOTO_TABLE: 8, OFPIT_WRITE_METADATA: 24, OFPIT_WRITE_ACTIONS: None,
               OFPIT_APPLY_ACTIONS: None, OFPIT_CLEAR_ACTIONS: 8, OFPIT_METER: 8}


#: Recently decoded instruction lists, per version by their bytes.  ``Instructions``
#: are immutable, and controllers install many flows with the same actions, so a hit
#: skips the whole decode.  Bounded: cleared when full.
_INS_CACHE: dict[int, dict[bytes, A.Instructions]] = {}
_INS_CACHE_MAX = 4096


def decode_instructions(version: int, buf, offset: int, length: int) -> A.Instructions:
    """Decode ``length`` bytes of instructions (an action list for OpenFlow 1.0)."""
    cache = _INS_CACHE.get(version)
    if cache is None:
        cache = _INS_CACHE[version] = {}
    key = buf[offset:offset + length]
    if key.__class__ is not bytes:
        key = bytes(key)
    cached = cache.get(key)
    if cached is not None and offset + length <= len(buf):
        return cached
    ins = _decode_instructions(version, buf, offset, length)
    if len(cache) >= _INS_CACHE_MAX:
        cache.clear()
    cache[key] = ins
    return ins


def _decode_instructions(version: int, buf, offset: int, length: int) -> A.Instructions:
    if version == OFP10:
        return A.Instructions(apply=decode_actions(version, buf, offset, length) or None)
    if length % 8:
        raise OFPError("OFPBIC_BAD_LEN", f"instructions length {length}")
    end = offset + length
    if end > len(buf):
        raise OFPError("OFPBIC_BAD_LEN", "instructions run past the message")
    if length >= 8:
        itype, ilen = _HH.unpack_from(buf, offset)
        if itype == OFPIT_APPLY_ACTIONS and ilen == length:
            # Fast path: the usual lone apply_actions instruction.
            apply = decode_actions(version, buf, offset + 8, length - 8)
            if apply and type(apply[0]) is A.MeterAction:
                return A.Instructions(apply=apply[1:] or None, meter_id=apply[0].meter_id)
            return A.Instructions(apply=apply)
    seen: dict[int, int] = {}
    pos = offset
    while pos < end:
        if end - pos < 8:
            raise OFPError("OFPBIC_BAD_LEN", "partial instruction")
        itype, ilen = _HH.unpack_from(buf, pos)
        if ilen < 8 or ilen % 8 or ilen > end - pos:
            raise OFPError("OFPBIC_BAD_LEN", f"instruction length {ilen}")
        if itype == OFPIT_EXPERIMENTER:
            raise OFPError("OFPBIC_BAD_EXPERIMENTER", "experimenter instruction")
        size = _INST_SIZES.get(itype, -1)
        if size == -1:
            raise OFPError("OFPBIC_UNKNOWN_INST", f"instruction type {itype}")
        if size is not None and ilen != size:
            raise OFPError("OFPBIC_BAD_LEN", f"instruction {itype} length {ilen}")
        if itype in seen:
            raise OFPError("OFPBIC_DUP_INST", f"instruction type {itype}")
        seen[itype] = pos
        pos += ilen
    # Decode in execution order, as OVS does, so errors come out in the same order.
    fields: dict = {}
    if OFPIT_METER in seen:
        fields["meter_id"] = struct.unpack_from("!I", buf, seen[OFPIT_METER] + 4)[0]
    if OFPIT_APPLY_ACTIONS in seen:
        p = seen[OFPIT_APPLY_ACTIONS]
        fields["apply"] = decode_actions(version, buf, p + 8, _HH.unpack_from(buf, p)[1] - 8)
    if OFPIT_CLEAR_ACTIONS in seen:
        fields["clear"] = True
    if OFPIT_WRITE_ACTIONS in seen:
        p = seen[OFPIT_WRITE_ACTIONS]
        acts = decode_actions(version, buf, p + 8, _HH.unpack_from(buf, p)[1] - 8)
        for act in acts:
            if isinstance(act, _NOT_IN_SET):
                raise OFPError("OFPBAC_BAD_TYPE", f"{type(act).__name__} in an action set")
        fields["write"] = acts
    if OFPIT_WRITE_METADATA in seen:
        fields["write_metadata"] = struct.unpack_from("!4xQQ", buf,
                                                      seen[OFPIT_WRITE_METADATA] + 4)
    if OFPIT_GOTO_TABLE in seen:
        fields["goto_table"] = buf[seen[OFPIT_GOTO_TABLE] + 4]
    apply = fields.get("apply")
    if apply and type(apply[0]) is A.MeterAction and "meter_id" not in fields:
        # OF1.5 meters are actions; one that opens the list is our meter instruction.
        fields["meter_id"] = apply[0].meter_id
        fields["apply"] = apply[1:] or None
    return A.Instructions(**fields)


def encode_instructions(version: int, ins: A.Instructions) -> bytes:
    """Encode ``ins``; for OpenFlow 1.0 only an apply-actions list can be expressed."""
    if version == OFP10:
        if (ins.write is not None or ins.clear or ins.write_metadata is not None
                or ins.goto_table is not None or ins.meter_id is not None):
            raise ValueError("OpenFlow 1.0 has only an action list")
        return encode_actions(version, ins.apply or ())
    out = []
    apply = ins.apply
    if ins.meter_id is not None:
        if version >= 0x06:  # OF1.5: the meter is the first apply action, as OVS sends it
            apply = (A.MeterAction(ins.meter_id),) + (apply or ())
        else:
            out.append(struct.pack("!HHI", OFPIT_METER, 8, ins.meter_id))
    if apply is not None:
        body = encode_actions(version, apply)
        out.append(struct.pack("!HH4x", OFPIT_APPLY_ACTIONS, 8 + len(body)) + body)
    if ins.clear:
        out.append(struct.pack("!HH4x", OFPIT_CLEAR_ACTIONS, 8))
    if ins.write is not None:
        body = encode_actions(version, ins.write)
        out.append(struct.pack("!HH4x", OFPIT_WRITE_ACTIONS, 8 + len(body)) + body)
    if ins.write_metadata is not None:
        value, mask = ins.write_metadata
        out.append(struct.pack("!HH4xQQ", OFPIT_WRITE_METADATA, 24, value, mask))
    if ins.goto_table is not None:
        out.append(struct.pack("!HHB3x", OFPIT_GOTO_TABLE, 8, ins.goto_table))
    return b"".join(out)


# --- encoding actions ------------------------------------------------------------------------

def encode_actions(version: int, actions) -> bytes:
    """Encode ``actions`` for ``version``; ValueError for what it cannot express."""
    return b"".join([_encode_one(version, act) for act in actions])


nx.encode_nested = encode_actions


def _std(atype: int, body: bytes = b"") -> bytes:
    length = max(8, (4 + len(body) + 7) & ~7)
    return _HH.pack(atype, length) + body + bytes(length - 4 - len(body))


_OF10_SET_TYPES = {"eth_src": 4, "eth_dst": 5, "ip_src": 6, "ip_dst": 7, "tcp_src": 9,
                   "tcp_dst": 10}


def _encode_one(version: int, act) -> bytes:
    """One action.  Not one-to-one, as OVS sends them: ``SetVlanVid``/``SetVlanPcp``
    that push a tag become an OF1.1+ set_field on vlan_vid/vlan_pcp (and OF1.1-style
    ones that do not push become OF1.0 actions that do); ``SetMplsLabel``/``SetMplsTc``
    become OF1.1+ set_field; ``SetNwTtl`` on OF1.0 becomes a reg_load.  (``Enqueue`` on
    OF1.1+ is set_queue, output, pop_queue, which decodes back to ``Enqueue``.)"""
    of10 = version == OFP10
    cls = type(act)
    if cls is A.Output:
        if of10:
            return _OUT10.pack(0, 8, A.of11_port_to_of10(act.port), act.max_len)
        return _OUT11.pack(0, 16, act.port, act.max_len)
    if cls is A.SetField:
        return _encode_set_field(version, act)
    if cls is A.Resubmit:
        return nx.encode_resubmit(act)
    if cls is A.GroupAction:
        return nx.encode_u32(nx.NXAST_GROUP, act.group_id) if of10 else \
            _std(22, struct.pack("!I", act.group_id))
    if cls is A.SetQueue:
        return nx.encode_u32(nx.NXAST_SET_QUEUE, act.queue_id) if of10 else \
            _std(21, struct.pack("!I", act.queue_id))
    if cls is A.StripVlan:
        return _std(3) if of10 else _std(18)
    if cls is A.SetVlanVid:
        if of10:
            return _std(1, struct.pack("!H", act.vid))
        if not act.push_if_none:
            return _std(1, struct.pack("!H", act.vid))
        return _encode_set_field(version, A.SetField(BY_NAME["vlan_vid"], act.vid | 0x1000))
    if cls is A.SetVlanPcp:
        if of10 or not act.push_if_none:
            return _std(2, struct.pack("!B", act.pcp))
        return _encode_set_field(version, A.SetField(BY_NAME["vlan_pcp"], act.pcp))
    if cls is A.Enqueue:
        if of10:
            return struct.pack("!HHH6xI", 11, 16, A.of11_port_to_of10(act.port), act.queue_id)
        return (_std(21, struct.pack("!I", act.queue_id)) + _OUT11.pack(0, 16, act.port, 0)
                + nx.encode_void(nx.NXAST_POP_QUEUE))
    if cls is A.Controller:
        return nx.encode_controller(act)
    if cls is A.DecNwTtl:
        if act.controller_ids == (0,):
            return nx.encode_void(nx.NXAST_DEC_TTL) if of10 else _std(24)
        return nx.encode_dec_ttl(act)
    if cls is A.CopyField:
        if version >= 0x06:
            body = (struct.pack("!HHH2x", act.dst.width, act.src.ofs, act.dst.ofs)
                    + mc.encode_field_header(act.src.field, version)
                    + mc.encode_field_header(act.dst.field, version))
            return _std(28, body)
        return nx.encode_reg_move(act)
    if cls is A.Note:
        return nx.encode_note(act)
    if cls is A.Exit:
        return nx.encode_void(nx.NXAST_EXIT)
    if cls is A.OutputReg:
        return nx.encode_output_reg(act)
    if cls is A.Clone:
        return nx.encode_clone(version, act)
    if cls is A.PushVlan:
        if of10:        # as OVS: OpenFlow 1.0's set_vlan_vid/pcp that follows pushes
            return b""
        return _std(17, struct.pack("!H", act.ethertype))
    if cls is A.PushMpls:
        return nx.encode_u16(nx.NXAST_PUSH_MPLS, act.ethertype) if of10 else \
            _std(19, struct.pack("!H", act.ethertype))
    if cls is A.PopMpls:
        return nx.encode_u16(nx.NXAST_POP_MPLS, act.ethertype) if of10 else \
            _std(20, struct.pack("!H", act.ethertype))
    if cls is A.SetMplsLabel:  # OF1.2+ deprecate the action for set_field, as OVS sends it
        return nx.encode_u32(nx.NXAST_SET_MPLS_LABEL, act.label) if of10 else \
            _encode_set_field(version, A.SetField(BY_NAME["mpls_label"], act.label))
    if cls is A.SetMplsTc:
        return nx.encode_u8(nx.NXAST_SET_MPLS_TC, act.tc) if of10 else \
            _encode_set_field(version, A.SetField(BY_NAME["mpls_tc"], act.tc))
    if cls is A.SetMplsTtl:
        return nx.encode_u8(nx.NXAST_SET_MPLS_TTL, act.ttl) if of10 else \
            _std(15, struct.pack("!B", act.ttl))
    if cls is A.DecMplsTtl:
        return nx.encode_void(nx.NXAST_DEC_MPLS_TTL) if of10 else _std(16)
    if cls is A.SetNwTtl:
        if of10:
            return nx.encode_reg_load(A.SetField(BY_NAME["nw_ttl"], act.ttl))
        return _std(23, struct.pack("!B", act.ttl))
    if cls is A.MeterAction:
        if version < 0x06:
            raise ValueError("the meter action needs OpenFlow 1.5")
        return _std(29, struct.pack("!I", act.meter_id))
    if cls in (A.CopyTtlOut, A.CopyTtlIn, A.PopPbb, A.PushPbb):
        if of10:
            raise ValueError(f"{cls.__name__} has no OpenFlow 1.0 form")
        if cls is A.PushPbb:
            return _std(26, struct.pack("!H", act.ethertype))
        return _std({A.CopyTtlOut: 11, A.CopyTtlIn: 12, A.PopPbb: 27}[cls])
    if cls is A.Experimenter:
        body = struct.pack("!I", act.experimenter) + act.data
        return _std(0xFFFF, body)
    raise ValueError(f"cannot encode {act!r}")


def _encode_set_field(version: int, act: A.SetField) -> bytes:
    fld = act.field
    full = (1 << fld.n_bits) - 1
    exact = act.mask is None or act.mask == full
    if fld.name != "in_port" and (version >= 0x06 or (version >= 0x03 and exact)):
        tlv = mc.encode_oxm_field(fld, act.value, None if exact else act.mask, version)
        return _std(25, tlv)
    if version == OFP10 and exact:
        atype = _OF10_SET_TYPES.get(fld.name)
        if atype in (4, 5):
            return struct.pack("!HH", atype, 16) + act.value.to_bytes(6, "big") + bytes(6)
        if atype is not None:
            nbytes = 4 if atype in (6, 7) else 2
            return _std(atype, act.value.to_bytes(nbytes, "big"))
        if fld.name == "ip_dscp":
            return _std(8, struct.pack("!B", act.value << 2))
    return nx.encode_reg_load(act)
