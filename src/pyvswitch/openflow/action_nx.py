"""Nicira (vendor 0x00002320) extension actions: decode and encode.

What this module owns
---------------------
The wire formats of the Nicira actions ovs-ofctl emits for what users type first:
resubmit / resubmit(,table), reg_load / reg_load2 (-> ``SetField`` with a mask),
reg_move (-> ``CopyField``), note, output_reg, dec_ttl with controller ids,
controller (NXAST_CONTROLLER and NXAST_CONTROLLER2), set_mpls_label/tc/ttl,
dec_mpls_ttl, push/pop_mpls, set_queue, group, set_tunnel(64), exit and clone.
``action_codec`` dispatches OFPAT_EXPERIMENTER actions here and calls the encoders
when a version has no standard form for an action.

Conventions: every Nicira action starts with type 0xffff, length, vendor, subtype (10
bytes); fixed-size actions must have exactly their size, variable ones a multiple of 8
(OFPBAC_BAD_LEN otherwise), unknown subtypes raise OFPBAC_BAD_EXPERIMENTER_TYPE.
Ports inside Nicira actions are 16-bit OF1.0 numbers.

Must not import: anything in pyvswitch except ``packet.fields``, ``openflow.errors``,
``openflow.ofpacts`` and ``openflow.match_codec``.
"""

from __future__ import annotations

import struct
from typing import Callable

from pyvswitch.openflow import match_codec as mc
from pyvswitch.openflow import ofpacts as A
from pyvswitch.openflow.errors import OFPError
from pyvswitch.packet.fields import BY_NAME

NX_VENDOR = 0x00002320

NXAST_RESUBMIT = 1
NXAST_SET_TUNNEL = 2
NXAST_SET_QUEUE = 4
NXAST_POP_QUEUE = 5
NXAST_REG_MOVE = 6
NXAST_REG_LOAD = 7
NXAST_NOTE = 8
NXAST_SET_TUNNEL64 = 9
NXAST_RESUBMIT_TABLE = 14
NXAST_OUTPUT_REG = 15
NXAST_EXIT = 17
NXAST_DEC_TTL = 18
NXAST_CONTROLLER = 20
NXAST_DEC_TTL_CNT_IDS = 21
NXAST_PUSH_MPLS = 23
NXAST_POP_MPLS = 24
NXAST_SET_MPLS_TTL = 25
NXAST_DEC_MPLS_TTL = 26
NXAST_SET_MPLS_LABEL = 30
NXAST_SET_MPLS_TC = 31
NXAST_REG_LOAD2 = 33
NXAST_CONTROLLER2 = 37
NXAST_GROUP = 40
NXAST_CLONE = 42

# NXAST_CONTROLLER2 property types.
NXAC2PT_MAX_LEN = 0
NXAC2PT_CONTROLLER_ID = 1
NXAC2PT_REASON = 2
NXAC2PT_USERDATA = 3
NXAC2PT_PAUSE = 4
NXAC2PT_METER_ID = 5

_HDR = struct.Struct("!HHIH")  # type, len, vendor, subtype

# subtype -> (exact length or None for variable, minimum length)
_SIZES: dict[int, tuple[int | None, int]] = {
    NXAST_RESUBMIT: (16, 16), NXAST_SET_TUNNEL: (16, 16), NXAST_SET_QUEUE: (16, 16),
    NXAST_POP_QUEUE: (16, 16),
    NXAST_REG_MOVE: (None, 24), NXAST_REG_LOAD: (24, 24), NXAST_NOTE: (None, 16),
    NXAST_SET_TUNNEL64: (24, 24), NXAST_RESUBMIT_TABLE: (16, 16),
    NXAST_OUTPUT_REG: (24, 24), NXAST_EXIT: (16, 16), NXAST_DEC_TTL: (16, 16),
    NXAST_CONTROLLER: (16, 16), NXAST_DEC_TTL_CNT_IDS: (None, 16),
    NXAST_PUSH_MPLS: (16, 16), NXAST_POP_MPLS: (16, 16), NXAST_SET_MPLS_TTL: (16, 16),
    NXAST_DEC_MPLS_TTL: (16, 16), NXAST_SET_MPLS_LABEL: (16, 16),
    NXAST_SET_MPLS_TC: (16, 16), NXAST_REG_LOAD2: (None, 16),
    NXAST_CONTROLLER2: (None, 16), NXAST_GROUP: (16, 16), NXAST_CLONE: (None, 16),
}

#: What ``decode`` returns for NXAST_POP_QUEUE: action_codec folds it (with the
#: set_queue and output before it) into an ``Enqueue``, the only use OVS makes of it.
POP_QUEUE = object()

#: Decodes nested action lists (clone); set by action_codec to avoid an import cycle.
decode_nested: Callable | None = None
encode_nested: Callable | None = None


def _u16(buf, pos: int) -> int:
    return (buf[pos] << 8) | buf[pos + 1]


def _u32(buf, pos: int) -> int:
    return int.from_bytes(buf[pos:pos + 4], "big")


def _check_ref(fld, ofs: int, n_bits: int, version: int) -> A.FieldRef:
    width = mc.header_width_bits(fld, version)
    if n_bits <= 0 or ofs + n_bits > width:
        raise OFPError("OFPBAC_BAD_SET_LEN" if n_bits > 0 else "OFPBAC_BAD_ARGUMENT",
                       f"{fld.name}[{ofs}..{ofs + n_bits - 1}] out of range")
    return A.FieldRef(fld, ofs, n_bits)


def decode(version: int, buf, pos: int, length: int):
    """Decode the Nicira action of ``length`` bytes at ``pos`` (vendor already checked)."""
    subtype = _u16(buf, pos + 8)
    size = _SIZES.get(subtype)
    if size is None:
        raise OFPError("OFPBAC_BAD_EXPERIMENTER_TYPE", f"Nicira subtype {subtype}")
    exact, minimum = size
    if (length != exact) if exact is not None else (length < minimum or length % 8):
        raise OFPError("OFPBAC_BAD_LEN", f"Nicira subtype {subtype} length {length}")
    end = pos + length
    if subtype == NXAST_RESUBMIT:
        return A.Resubmit(A.of10_port_to_of11(_u16(buf, pos + 10)), 255)
    if subtype == NXAST_RESUBMIT_TABLE:
        if any(buf[pos + 13:pos + 16]):
            raise OFPError("OFPBAC_BAD_ARGUMENT", "resubmit padding")
        return A.Resubmit(A.of10_port_to_of11(_u16(buf, pos + 10)), buf[pos + 12])
    if subtype == NXAST_SET_TUNNEL:
        return A.SetField(BY_NAME["tun_id"], _u32(buf, pos + 12))
    if subtype == NXAST_SET_TUNNEL64:
        return A.SetField(BY_NAME["tun_id"], int.from_bytes(buf[pos + 16:pos + 24], "big"))
    if subtype == NXAST_SET_QUEUE:
        return A.SetQueue(_u32(buf, pos + 12))
    if subtype == NXAST_GROUP:
        return A.GroupAction(_u32(buf, pos + 12))
    if subtype == NXAST_EXIT:
        return A.Exit()
    if subtype == NXAST_POP_QUEUE:
        return POP_QUEUE
    if subtype == NXAST_DEC_TTL:
        return A.DecNwTtl()
    if subtype == NXAST_DEC_MPLS_TTL:
        return A.DecMplsTtl()
    if subtype == NXAST_SET_MPLS_TTL:
        return A.SetMplsTtl(buf[pos + 10])
    if subtype == NXAST_SET_MPLS_TC:
        return A.SetMplsTc(buf[pos + 10])
    if subtype == NXAST_SET_MPLS_LABEL:
        return A.SetMplsLabel(_u32(buf, pos + 12))
    if subtype == NXAST_PUSH_MPLS:
        ethertype = _u16(buf, pos + 10)
        if ethertype not in (0x8847, 0x8848):
            raise OFPError("OFPBAC_BAD_ARGUMENT", f"push_mpls ethertype {ethertype:#x}")
        return A.PushMpls(ethertype)
    if subtype == NXAST_POP_MPLS:
        return A.PopMpls(_u16(buf, pos + 10))
    if subtype == NXAST_NOTE:
        return A.Note(bytes(buf[pos + 10:end]))
    if subtype == NXAST_REG_LOAD:
        ofs_nbits = _u16(buf, pos + 10)
        fld, _, _ = mc.decode_field_header(buf, pos + 12, pos + 16)
        ofs, n_bits = ofs_nbits >> 6, (ofs_nbits & 0x3F) + 1
        _check_ref(fld, ofs, n_bits, 0)
        if not fld.writable:
            raise OFPError("OFPBAC_BAD_SET_ARGUMENT", f"{fld.name} is read-only")
        value = int.from_bytes(buf[pos + 16:pos + 24], "big")
        if n_bits < 64 and value >> n_bits:
            raise OFPError("OFPBAC_BAD_ARGUMENT", "reg_load value wider than its field")
        return ref_to_setfield(fld, ofs, n_bits, value)
    if subtype == NXAST_REG_LOAD2:
        # The TLV follows the 10-byte Nicira header directly; zeros pad the action.
        fld, value, mask, used = mc.decode_oxm_field(buf, pos + 10, end)
        if any(buf[pos + 10 + used:end]):
            raise OFPError("OFPBAC_BAD_SET_ARGUMENT", "trailing bytes in reg_load2")
        if not fld.writable:
            raise OFPError("OFPBAC_BAD_SET_ARGUMENT", f"{fld.name} is read-only")
        return A.SetField(fld, value, mask)
    if subtype == NXAST_REG_MOVE:
        n_bits, src_ofs, dst_ofs = struct.unpack_from("!HHH", buf, pos + 10)
        src, _, used = mc.decode_field_header(buf, pos + 16, end)
        dst, _, used2 = mc.decode_field_header(buf, pos + 16 + used, end)
        if any(buf[pos + 16 + used + used2:end]):
            raise OFPError("NXBRC_MUST_BE_ZERO", "reg_move trailing bytes")
        return _make_copy(src, src_ofs, dst, dst_ofs, n_bits, 0)
    if subtype == NXAST_OUTPUT_REG:
        ofs_nbits = _u16(buf, pos + 10)
        fld, _, _ = mc.decode_field_header(buf, pos + 12, pos + 16)
        max_len = _u16(buf, pos + 16)
        if any(buf[pos + 18:pos + 24]):
            raise OFPError("OFPBAC_BAD_ARGUMENT", "output_reg padding")
        ref = _check_ref(fld, ofs_nbits >> 6, (ofs_nbits & 0x3F) + 1, 0)
        return A.OutputReg(ref, max_len)
    if subtype == NXAST_CONTROLLER:
        max_len, controller_id, reason = struct.unpack_from("!HHB", buf, pos + 10)
        return A.Controller(max_len=max_len, controller_id=controller_id, reason=reason)
    if subtype == NXAST_DEC_TTL_CNT_IDS:
        n_ids = _u16(buf, pos + 10)
        if any(buf[pos + 12:pos + 16]):
            raise OFPError("NXBRC_MUST_BE_ZERO", "dec_ttl padding")
        if 16 + 2 * n_ids > length:
            raise OFPError("OFPBAC_BAD_LEN", "dec_ttl controller ids overflow the action")
        ids = struct.unpack_from(f"!{n_ids}H", buf, pos + 16)
        return A.DecNwTtl(tuple(ids))
    if subtype == NXAST_CONTROLLER2:
        return _decode_controller2(buf, pos, end)
    if subtype == NXAST_CLONE:
        if any(buf[pos + 10:pos + 16]):
            raise OFPError("NXBRC_MUST_BE_ZERO", "clone padding")
        return A.Clone(decode_nested(version, buf, pos + 16, length - 16))
    raise AssertionError(subtype)


def ref_to_setfield(fld, ofs: int, n_bits: int, value: int) -> A.SetField:
    if fld.name == "in_port" and ofs == 0 and n_bits == 16:
        return A.SetField(fld, A.of10_port_to_of11(value))
    if fld.name == "nw_tos":  # NXM_OF_IP_TOS addresses the TOS byte; we keep DSCP bits
        fld, ofs = BY_NAME["ip_dscp"], ofs - 2
        if ofs < 0:
            raise OFPError("OFPBAC_BAD_SET_ARGUMENT", "load into the ECN bits of ip_tos")
    mask = ((1 << n_bits) - 1) << ofs
    full = (1 << fld.n_bits) - 1
    return A.SetField(fld, (value << ofs) & mask, None if mask == full else mask)


def _make_copy(src, src_ofs: int, dst, dst_ofs: int, n_bits: int, version: int):
    src_ref = _check_ref(src, src_ofs, n_bits, version)
    dst_ref = _check_ref(dst, dst_ofs, n_bits, version)
    if not dst.writable:
        raise OFPError("OFPBAC_BAD_SET_ARGUMENT", f"{dst.name} is read-only")
    return A.CopyField(src_ref, dst_ref)


def _decode_controller2(buf, pos: int, end: int) -> A.Controller:
    if any(buf[pos + 10:pos + 16]):
        raise OFPError("NXBRC_MUST_BE_ZERO", "controller2 padding")
    opts = {"max_len": A.OFPCML_NO_BUFFER, "controller_id": 0, "reason": 1,
            "userdata": b"", "pause": False, "meter_id": None}
    p = pos + 16
    while p < end:
        if end - p < 4:
            raise OFPError("OFPBPC_BAD_LEN", "partial property header")
        ptype, plen = struct.unpack_from("!HH", buf, p)
        padded = (plen + 7) & ~7
        if plen < 4 or p + padded > end:
            raise OFPError("OFPBPC_BAD_LEN", f"property length {plen}")
        body = bytes(buf[p + 4:p + plen])
        # Like OVS, 8- and 16-bit values may come padded; 32-bit ones must be exact.
        want = {NXAC2PT_MAX_LEN: 2, NXAC2PT_CONTROLLER_ID: 2, NXAC2PT_REASON: 1,
                NXAC2PT_PAUSE: 0, NXAC2PT_METER_ID: 4}.get(ptype)
        if ptype != NXAC2PT_USERDATA:
            if want is None:
                raise OFPError("OFPBPC_BAD_TYPE", f"controller2 property {ptype}")
            if len(body) < want or (want == 4 and len(body) != 4):
                raise OFPError("OFPBPC_BAD_LEN", f"controller2 property {ptype}")
            if want:
                body = body[:want]
        if ptype == NXAC2PT_MAX_LEN:
            opts["max_len"] = int.from_bytes(body, "big")
        elif ptype == NXAC2PT_CONTROLLER_ID:
            opts["controller_id"] = int.from_bytes(body, "big")
        elif ptype == NXAC2PT_REASON:
            opts["reason"] = body[0]
        elif ptype == NXAC2PT_USERDATA:
            opts["userdata"] = body
        elif ptype == NXAC2PT_PAUSE:
            opts["pause"] = True
        else:
            opts["meter_id"] = int.from_bytes(body, "big")
        p += padded
    return A.Controller(**opts)


# --- encoding --------------------------------------------------------------------------------

def _pad_action(subtype: int, body: bytes) -> bytes:
    length = 10 + len(body)
    length = max(16, (length + 7) & ~7)
    return _HDR.pack(0xFFFF, length, NX_VENDOR, subtype) + body + bytes(length - 10 - len(body))


def _ofs_nbits(ofs: int, n_bits: int) -> int:
    return (ofs << 6) | (n_bits - 1)


def encode_resubmit(act: A.Resubmit) -> bytes:
    port = A.of11_port_to_of10(act.in_port)
    if act.table_id == 255:
        return _pad_action(NXAST_RESUBMIT, struct.pack("!H", port))
    return _pad_action(NXAST_RESUBMIT_TABLE, struct.pack("!HB3x", port, act.table_id))


def encode_u16(subtype: int, value: int) -> bytes:
    return _pad_action(subtype, struct.pack("!H", value))


def encode_u8(subtype: int, value: int) -> bytes:
    return _pad_action(subtype, struct.pack("!B", value))


def encode_u32(subtype: int, value: int) -> bytes:
    return _pad_action(subtype, struct.pack("!2xI", value))


def encode_void(subtype: int) -> bytes:
    return _pad_action(subtype, b"")


def encode_note(act: A.Note) -> bytes:
    return _pad_action(NXAST_NOTE, act.data)


def encode_dec_ttl(act: A.DecNwTtl) -> bytes:
    return _cnt_ids(act.controller_ids)


def _cnt_ids(ids: tuple[int, ...]) -> bytes:
    body = struct.pack(f"!H4x{len(ids)}H", len(ids), *ids)
    length = (16 + 2 * len(ids) + 7) & ~7
    return (_HDR.pack(0xFFFF, length, NX_VENDOR, NXAST_DEC_TTL_CNT_IDS) + body
            + bytes(length - 10 - len(body)))


def encode_controller(act: A.Controller) -> bytes:
    if not act.userdata and not act.pause and act.meter_id is None:
        return _pad_action(NXAST_CONTROLLER, struct.pack(
            "!HHBx", act.max_len, act.controller_id, act.reason))
    props = []
    if act.max_len != A.OFPCML_NO_BUFFER:
        props.append(_prop(NXAC2PT_MAX_LEN, struct.pack("!H", act.max_len)))
    if act.controller_id:
        props.append(_prop(NXAC2PT_CONTROLLER_ID, struct.pack("!H", act.controller_id)))
    if act.reason != 1:
        props.append(_prop(NXAC2PT_REASON, struct.pack("!B", act.reason)))
    if act.userdata:
        props.append(_prop(NXAC2PT_USERDATA, act.userdata))
    if act.pause:
        props.append(_prop(NXAC2PT_PAUSE, b""))
    if act.meter_id is not None:
        props.append(_prop(NXAC2PT_METER_ID, struct.pack("!I", act.meter_id)))
    return _pad_action(NXAST_CONTROLLER2, bytes(6) + b"".join(props))


def _prop(ptype: int, body: bytes) -> bytes:
    plen = 4 + len(body)
    return struct.pack("!HH", ptype, plen) + body + bytes(-plen % 8)


def encode_reg_load(act: A.SetField) -> bytes:
    """reg_load when the mask is one contiguous run of at most 64 bits on a field with
    an NXM header, else reg_load2 (which carries any value/mask)."""
    fld, full = act.field, (1 << act.field.n_bits) - 1
    mask = full if act.mask is None else act.mask
    if mask and fld.nxm is not None and fld.name not in ("in_port",):
        ofs = (mask & -mask).bit_length() - 1
        run = mask >> ofs
        n_bits = run.bit_length()
        if run & (run + 1) == 0 and n_bits <= 64:
            header = mc.encode_field_header(fld, 0)
            return _pad_action(NXAST_REG_LOAD, struct.pack(
                "!H", _ofs_nbits(ofs, n_bits)) + header
                + struct.pack("!Q", (act.value >> ofs) & ((1 << n_bits) - 1)))
    tlv = mc.encode_oxm_field(fld, act.value, act.mask, 0)
    return _pad_action(NXAST_REG_LOAD2, tlv)


def encode_reg_move(act: A.CopyField) -> bytes:
    n_bits = act.dst.width
    body = (struct.pack("!HHH", n_bits, act.src.ofs, act.dst.ofs)
            + mc.encode_field_header(act.src.field, 0)
            + mc.encode_field_header(act.dst.field, 0))
    return _pad_action(NXAST_REG_MOVE, body)


def encode_output_reg(act: A.OutputReg) -> bytes:
    return _pad_action(NXAST_OUTPUT_REG, struct.pack("!H", _ofs_nbits(act.src.ofs, act.src.width))
                       + mc.encode_field_header(act.src.field, 0)
                       + struct.pack("!H6x", act.max_len))


def encode_clone(version: int, act: A.Clone) -> bytes:
    inner = encode_nested(version, act.actions)
    return _HDR.pack(0xFFFF, 16 + len(inner), NX_VENDOR, NXAST_CLONE) + bytes(6) + inner
