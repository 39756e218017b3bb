"""Wire layouts of PACKET_IN, PACKET_OUT, FLOW_MOD and FLOW_REMOVED.

What this module owns
---------------------
* PACKET_IN encoding (OF1.0 layout; OF1.3+ layout with cookie, table id and an OXM match
  carrying in_port and any other pipeline metadata) - the switch's hottest encoder: the
  common case (no metadata besides in_port) is one precompiled ``struct.pack``.  Its
  decoder exists for tests and tools.
* PACKET_OUT decoding (OF1.0, OF1.1-1.4, OF1.5 with a match) and encoding.
* FLOW_MOD decoding (OF1.0 with ``ofp_match``, Nicira NXT_FLOW_MOD with NXM, OF1.3/1.4/1.5)
  - the other hot path: one ``unpack_from`` for the fixed part, then the match and
  instruction codecs - and encoding (tests, bundles).
* FLOW_REMOVED encoding (OF1.0, OF1.3/1.4, OF1.5 with OXS statistics, NXT_FLOW_REMOVED)
  and decoding.

Matches and actions are delegated to ``match_codec`` and ``action_codec``.  An OF1.0
flow_mod/flow_removed whose match does not fit ``ofp_match`` is encoded as the Nicira
NXM form.

Must not import: ofproto, conn, or anything above openflow.
"""

from __future__ import annotations

import struct

from pyvswitch.openflow import match_codec as MC
from pyvswitch.openflow import match_plans as MP
from pyvswitch.openflow import registry as R
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages import (
    OFPFC_DELETE_STRICT, OFPR_ACTION, OFPR_INVALID_TTL, OFPRR_DELETE, FlowMod, FlowRemoved,
    PacketIn, PacketOut)
from pyvswitch.openflow.ofpacts import (OFPG_ANY, Instructions, of10_port_to_of11,
                                        of11_port_to_of10)
from pyvswitch.packet.fields import Match, Slot

_action_codec = None


def _ac():
    """The action codec, imported on first use (it is written alongside this module)."""
    global _action_codec
    if _action_codec is None:
        from pyvswitch.openflow import action_codec
        _action_codec = action_codec
    return _action_codec


# --- PACKET_IN -----------------------------------------------------------------------------

PI10 = struct.Struct("!BBHIIHHBx")
assert PI10.size == 18
#: OF1.3+ packet-in with a match holding only in_port: header, fixed part, ofp_match
#: (type 1, length 12, OXM in_port), 4 bytes of match padding, 2 bytes of pad.
PI13_INPORT = struct.Struct("!BBHIIHBBQHHII6x")
assert PI13_INPORT.size == 42
PI13_FIXED = struct.Struct("!IHBBQ")
assert PI13_FIXED.size == 16
OXM_IN_PORT = 0x80000004
OFPMT_OXM = 1
_PI_MAX_REASON = {R.V10: OFPR_INVALID_TTL, R.V13: OFPR_INVALID_TTL}


def encode_packet_in(msg: PacketIn, version: int, xid: int) -> bytes:
    """PACKET_IN for ``version`` (OF1.0, 1.3, 1.4, 1.5)."""
    data = msg.data
    total_len = len(data) if msg.total_len is None else msg.total_len
    reason = msg.reason
    if reason > _PI_MAX_REASON.get(version, 0xFF):
        reason = OFPR_ACTION   # ACTION_SET / GROUP / PACKET_OUT travel as ACTION before 1.4
    if version == R.V10:
        return PI10.pack(version, R.OFPT_PACKET_IN, 18 + len(data), xid, msg.buffer_id,
                         total_len, of11_port_to_of10(msg.in_port), reason) + data
    if msg.metadata is None:
        return PI13_INPORT.pack(version, R.OFPT_PACKET_IN, 42 + len(data), xid,
                                msg.buffer_id, total_len, reason, msg.table_id, msg.cookie,
                                OFPMT_OXM, 12, OXM_IN_PORT, msg.in_port) + data
    match = msg.metadata.copy()
    match.set_slot(Slot.IN_PORT, msg.in_port, 0xFFFFFFFF)
    body = (PI13_FIXED.pack(msg.buffer_id, total_len, reason, msg.table_id, msg.cookie)
            + MC.encode_oxm_match(match, version) + b"\0\0" + data)
    return R.finish(version, R.OFPT_PACKET_IN, xid, body)


R.encodes(PacketIn, R.ALL_VERSIONS)(encode_packet_in)

NX_PI = struct.Struct("!IHBBQH6x")
assert NX_PI.size == 24


def encode_nx_packet_in(msg: PacketIn, version: int, xid: int) -> bytes:
    """NXT_PACKET_IN (Nicira subtype 17), what an OF1.0 session that chose the
    NXT_PACKET_IN format receives: NXM metadata, table id and cookie, any version."""
    match = msg.metadata.copy() if msg.metadata is not None else Match()
    match.set_slot(Slot.IN_PORT, msg.in_port, 0xFFFFFFFF)
    nxm = MC.encode_nxm(match)
    total_len = len(msg.data) if msg.total_len is None else msg.total_len
    reason = msg.reason if msg.reason <= OFPR_INVALID_TTL else OFPR_ACTION
    body = (NX_PI.pack(msg.buffer_id, total_len, reason, msg.table_id, msg.cookie, len(nxm))
            + nxm + b"\0" * (R.pad8(len(nxm)) + 2) + msg.data)
    return R.finish_exp(version, xid, R.NX_VENDOR_ID, R.NXT_PACKET_IN, body)


# NXT_PACKET_IN2 (Nicira subtype 30): a property list.
NXT_PACKET_IN2 = 30
NXPINT_PACKET, NXPINT_FULL_LEN, NXPINT_BUFFER_ID, NXPINT_TABLE_ID, NXPINT_COOKIE = 0, 1, 2, 3, 4
NXPINT_REASON, NXPINT_METADATA, NXPINT_USERDATA, NXPINT_CONTINUATION = 5, 6, 7, 8
_PROP = struct.Struct("!HH")


def _prop(ptype: int, value: bytes) -> bytes:
    body = _PROP.pack(ptype, 4 + len(value)) + value
    return body + b"\0" * R.pad8(len(body))


def _metadata_tlvs(match: Match, version: int) -> bytes:
    """The match's fields as bare NXM (OF1.0) or OXM (OF1.2+) entries, no ofp_match."""
    if version == R.V10:
        return MC.encode_nxm(match)
    oxm = MC.encode_oxm_match(match, version)
    (length,) = struct.unpack_from("!H", oxm, 2)
    return oxm[4:length]


def encode_nx_packet_in2(msg: PacketIn, version: int, xid: int) -> bytes:
    """NXT_PACKET_IN2: what a session that chose NXPIF_NXT_PACKET_IN2 receives."""
    match = msg.metadata.copy() if msg.metadata is not None else Match()
    match.set_slot(Slot.IN_PORT, msg.in_port, 0xFFFFFFFF)
    total_len = len(msg.data) if msg.total_len is None else msg.total_len
    parts = [_prop(NXPINT_PACKET, msg.data)]
    if total_len != len(msg.data):
        parts.append(_prop(NXPINT_FULL_LEN, struct.pack("!I", total_len)))
    if msg.buffer_id != 0xFFFFFFFF:
        parts.append(_prop(NXPINT_BUFFER_ID, struct.pack("!I", msg.buffer_id)))
    parts += [_prop(NXPINT_TABLE_ID, bytes([msg.table_id])),
              _prop(NXPINT_COOKIE, b"\0" * 4 + struct.pack("!Q", msg.cookie)),
              _prop(NXPINT_REASON, bytes([msg.reason])),
              _prop(NXPINT_METADATA, _metadata_tlvs(match, version))]
    if msg.userdata:
        parts.append(_prop(NXPINT_USERDATA, msg.userdata))
    if msg.continuation:
        parts.append(_prop(NXPINT_CONTINUATION, msg.continuation))
    return R.finish_exp(version, xid, R.NX_VENDOR_ID, NXT_PACKET_IN2, b"".join(parts))


@R.decodes_exp(R.ALL_VERSIONS, R.NX_VENDOR_ID, NXT_PACKET_IN2)
def _decode_nx_packet_in2(version: int, buf: bytes, opts) -> PacketIn:
    props: dict[int, bytes] = {}
    pos = 16
    while pos < len(buf):
        R.need(buf, pos + 4, "packet_in2 property")
        ptype, plen = _PROP.unpack_from(buf, pos)
        if plen < 4 or pos + plen > len(buf):
            raise OFPError("OFPBPC_BAD_LEN", f"packet_in2 property length {plen}")
        value = bytes(buf[pos + 4:pos + plen])
        # The cookie's 8 bytes are 8-aligned, after 4 bytes of padding.
        props[ptype] = value[4:] if ptype == NXPINT_COOKIE else value
        pos += (plen + 7) & ~7
    if NXPINT_PACKET not in props:
        raise OFPError("OFPBRC_BAD_LEN", "packet_in2 without a packet")

    def _int(ptype: int, width: int, default: int) -> int:
        raw = props.get(ptype)
        if raw is None:
            return default
        if len(raw) != width:
            raise OFPError("OFPBPC_BAD_LEN", f"packet_in2 property {ptype}")
        return int.from_bytes(raw, "big")

    tlvs = props.get(NXPINT_METADATA, b"")
    if version == R.V10:
        match = MC.decode_nxm(tlvs, 0, len(tlvs))
    else:
        wrapped = struct.pack("!HH", 1, 4 + len(tlvs)) + tlvs
        match, _ = MC.decode_oxm_match(wrapped + b"\0" * R.pad8(len(wrapped)), 0)
    in_port = match.values[Slot.IN_PORT]
    match.set_slot(Slot.IN_PORT, 0, 0)
    data = props[NXPINT_PACKET]
    return PacketIn(data, in_port, _int(NXPINT_REASON, 1, 0), _int(NXPINT_TABLE_ID, 1, 0),
                    _int(NXPINT_COOKIE, 8, 0xFFFFFFFFFFFFFFFF),
                    _int(NXPINT_BUFFER_ID, 4, 0xFFFFFFFF), _int(NXPINT_FULL_LEN, 4, len(data)),
                    None if match.is_catchall() else match, props.get(NXPINT_USERDATA, b""),
                    props.get(NXPINT_CONTINUATION, b""))


@R.decodes_exp(R.ALL_VERSIONS, R.NX_VENDOR_ID, R.NXT_PACKET_IN)
def _decode_nx_packet_in(version: int, buf: bytes, opts) -> PacketIn:
    R.need(buf, 40, "nxt_packet_in")
    buffer_id, total_len, reason, table_id, cookie, match_len = NX_PI.unpack_from(buf, 16)
    data_at = 40 + ((match_len + 7) & ~7) + 2
    R.need(buf, data_at, "nxt_packet_in")
    match = MC.decode_nxm(buf, 40, match_len)
    in_port = match.values[Slot.IN_PORT]
    match.set_slot(Slot.IN_PORT, 0, 0)
    return PacketIn(bytes(buf[data_at:]), in_port, reason, table_id, cookie, buffer_id,
                    total_len, None if match.is_catchall() else match)


@R.decodes_type(R.ALL_VERSIONS, R.OFPT_PACKET_IN)
def _decode_packet_in(version: int, buf: bytes, opts) -> PacketIn:
    if version == R.V10:
        R.need(buf, 18, "packet_in")
        _, _, _, _, buffer_id, total_len, in_port, reason = PI10.unpack_from(buf, 0)
        return PacketIn(bytes(buf[18:]), of10_port_to_of11(in_port), reason, 0,
                        buffer_id=buffer_id, total_len=total_len)
    R.need(buf, 24, "packet_in")
    buffer_id, total_len, reason, table_id, cookie = PI13_FIXED.unpack_from(buf, 8)
    match, used = MC.decode_oxm_match(buf, 24)
    pos = 24 + used + 2
    R.need(buf, pos, "packet_in")
    in_port = match.values[Slot.IN_PORT]
    match.set_slot(Slot.IN_PORT, 0, 0)
    metadata = None if match.is_catchall() else match
    return PacketIn(bytes(buf[pos:]), in_port, reason, table_id, cookie, buffer_id,
                    total_len, metadata)


# --- PACKET_OUT ----------------------------------------------------------------------------

PO10 = struct.Struct("!IHH")
assert PO10.size == 8
PO11 = struct.Struct("!IIH6x")
assert PO11.size == 16
PO15 = struct.Struct("!IH2x")
assert PO15.size == 8


@R.decodes_type(R.ALL_VERSIONS, R.OFPT_PACKET_OUT)
def _decode_packet_out(version: int, buf: bytes, opts) -> PacketOut:
    match = None
    if version == R.V10:
        R.need(buf, 16, "packet_out")
        buffer_id, in_port, actions_len = PO10.unpack_from(buf, 8)
        in_port = of10_port_to_of11(in_port)
        pos = 16
    elif version != R.V15:
        R.need(buf, 24, "packet_out")
        buffer_id, in_port, actions_len = PO11.unpack_from(buf, 8)
        pos = 24
    else:
        R.need(buf, 16, "packet_out")
        buffer_id, actions_len = PO15.unpack_from(buf, 8)
        match, used = MC.decode_oxm_match(buf, 16)
        in_port = match.values[Slot.IN_PORT]
        pos = 16 + used
    if pos + actions_len > len(buf):
        raise OFPError("OFPBRC_BAD_LEN", f"packet_out actions_len {actions_len}")
    actions = _ac().decode_actions(version, buf, pos, actions_len)
    return PacketOut(buffer_id, in_port, tuple(actions), bytes(buf[pos + actions_len:]), match)


@R.encodes(PacketOut, R.ALL_VERSIONS)
def _encode_packet_out(msg: PacketOut, version: int, xid: int) -> bytes:
    actions = _ac().encode_actions(version, msg.actions)
    if version == R.V10:
        fixed = PO10.pack(msg.buffer_id, of11_port_to_of10(msg.in_port), len(actions))
    elif version != R.V15:
        fixed = PO11.pack(msg.buffer_id, msg.in_port, len(actions))
    else:
        match = msg.match.copy() if msg.match is not None else Match()
        match.set_slot(Slot.IN_PORT, msg.in_port, 0xFFFFFFFF)
        fixed = PO15.pack(msg.buffer_id, len(actions)) + MC.encode_oxm_match(match, version)
    return R.finish(version, R.OFPT_PACKET_OUT, xid, fixed + actions + msg.data)


# --- FLOW_MOD ------------------------------------------------------------------------------

FM10 = struct.Struct("!QHHHHIHH")
assert FM10.size == 24
NX_FM = struct.Struct("!QHHHHIHHH6x")
assert NX_FM.size == 32
FM13 = struct.Struct("!QQBBHHHIIIHH")
assert FM13.size == 40
#: FM13 followed by the ofp_match header (type, length).
FM13_MATCH = struct.Struct("!QQBBHHHIIIHHHH")
assert FM13_MATCH.size == 44
OFPFW10_ALL = (1 << 22) - 1
_U32 = struct.Struct("!I")


def _check_command(command: int) -> None:
    if command > OFPFC_DELETE_STRICT:
        raise OFPError("OFPFMFC_BAD_COMMAND", f"flow_mod command {command}")


def _split_of10_command(raw: int, opts) -> tuple[int, int]:
    if opts is not None and opts.flow_mod_table_id:
        return raw & 0xFF, raw >> 8
    return raw, 0xFF


@R.decodes_type(R.ALL_VERSIONS, R.OFPT_FLOW_MOD)
def decode_flow_mod(version: int, buf: bytes, opts=None) -> FlowMod:
    """FLOW_MOD (not NXT_FLOW_MOD) of any supported version."""
    if version == R.V10:
        R.need(buf, 72, "flow_mod")
        match = MC.decode_ofp10_match(buf, 8)
        cookie, raw_cmd, idle, hard, priority, buffer_id, out_port, flags = \
            FM10.unpack_from(buf, 48)
        command, table_id = _split_of10_command(raw_cmd, opts)
        _check_command(command)
        if not _U32.unpack_from(buf, 8)[0] & OFPFW10_ALL:
            priority = 0xFFFF     # OF1.0: an exact-match flow has the highest priority
        actions = _ac().decode_actions(version, buf, 72, len(buf) - 72)
        return FlowMod(match, Instructions(apply=tuple(actions)), command, cookie, 0,
                       table_id, idle, hard, priority, buffer_id, of10_port_to_of11(out_port),
                       OFPG_ANY, flags, 0)
    size = len(buf)
    if size < 56:
        R.need(buf, 56, "flow_mod")
    (cookie, cookie_mask, table_id, command, idle, hard, priority, buffer_id, out_port,
     out_group, flags, importance, mtype, mlen) = FM13_MATCH.unpack_from(buf, 8)
    if command > OFPFC_DELETE_STRICT:
        _check_command(command)
    # match_codec.decode_oxm_match's checks of the ofp_match header, inlined: this is
    # the path of every flow_mod of a bulk add.
    if mlen < 4:
        raise OFPError("OFPBMC_BAD_LEN", f"ofp_match length {mlen}")
    if mtype != OFPMT_OXM:
        raise OFPError("OFPBMC_BAD_TYPE", f"match type {mtype}")
    pos = 48 + ((mlen + 7) & ~7)
    if pos > size:
        raise OFPError("OFPBMC_BAD_LEN", "ofp_match runs past the message")
    match = MP.decode_tlvs(buf, 52, 48 + mlen)
    instructions = (_action_codec or _ac()).decode_instructions(version, buf, pos,
                                                                 size - pos)
    return FlowMod(match, instructions, command, cookie, cookie_mask, table_id, idle, hard,
                   priority, buffer_id, out_port, out_group, flags,
                   importance if version >= R.V14 else 0)


@R.decodes_exp(R.ALL_VERSIONS, R.NX_VENDOR_ID, R.NXT_FLOW_MOD)
def _decode_nx_flow_mod(version: int, buf: bytes, opts) -> FlowMod:
    R.need(buf, 48, "nx_flow_mod")
    cookie, raw_cmd, idle, hard, priority, buffer_id, out_port, flags, match_len = \
        NX_FM.unpack_from(buf, 16)
    command, table_id = _split_of10_command(raw_cmd, opts)
    _check_command(command)
    match_end = 48 + ((match_len + 7) & ~7)
    R.need(buf, match_end, "nx_flow_mod match")
    match, match_cookie, cookie_mask = MC.decode_nxm_cookie(buf, 48, match_len)
    actions = _ac().decode_actions(version, buf, match_end, len(buf) - match_end)
    new_cookie = None
    if cookie_mask:            # the match selects by cookie; the header's is the new one
        cookie, new_cookie = match_cookie, cookie
    return FlowMod(match, Instructions(apply=tuple(actions)), command, cookie, cookie_mask,
                   table_id, idle, hard, priority, buffer_id, of10_port_to_of11(out_port),
                   OFPG_ANY, flags, 0, new_cookie)


def _of10_match_or_none(match: Match) -> bytes | None:
    try:
        return MC.encode_ofp10_match(match)
    except (OFPError, ValueError):
        return None


@R.encodes(FlowMod, R.ALL_VERSIONS)
def _encode_flow_mod(msg: FlowMod, version: int, xid: int) -> bytes:
    if version == R.V10:
        raw_cmd = msg.command
        if msg.table_id not in (0, 0xFF):
            raw_cmd |= msg.table_id << 8      # needs NXT_FLOW_MOD_TABLE_ID on the session
        actions = _ac().encode_actions(version, msg.instructions.apply or ())
        out_port = of11_port_to_of10(msg.out_port)
        by_cookie = msg.new_cookie is not None and msg.cookie_mask
        ofp_match = None if by_cookie else _of10_match_or_none(msg.match)
        if ofp_match is not None:
            body = ofp_match + FM10.pack(msg.cookie, raw_cmd, msg.idle_timeout,
                                         msg.hard_timeout, msg.priority, msg.buffer_id,
                                         out_port, msg.flags)
            return R.finish(version, R.OFPT_FLOW_MOD, xid, body + actions)
        nxm = MC.encode_nxm(msg.match)
        cookie = msg.cookie
        if by_cookie:
            nxm += MC.encode_nxm_cookie(msg.cookie, msg.cookie_mask)
            cookie = msg.new_cookie
        body = NX_FM.pack(cookie, raw_cmd, msg.idle_timeout, msg.hard_timeout,
                          msg.priority, msg.buffer_id, out_port, msg.flags, len(nxm))
        return R.finish_exp(version, xid, R.NX_VENDOR_ID, R.NXT_FLOW_MOD,
                            body + nxm + b"\0" * R.pad8(len(nxm)) + actions)
    body = FM13.pack(msg.cookie, msg.cookie_mask, msg.table_id, msg.command,
                     msg.idle_timeout, msg.hard_timeout, msg.priority, msg.buffer_id,
                     msg.out_port, msg.out_group, msg.flags,
                     msg.importance if version >= R.V14 else 0)
    return R.finish(version, R.OFPT_FLOW_MOD, xid,
                    body + MC.encode_oxm_match(msg.match, version)
                    + _ac().encode_instructions(version, msg.instructions))


# --- FLOW_REMOVED --------------------------------------------------------------------------

FR10 = struct.Struct("!QHBxIIH2xQQ")
assert FR10.size == 40
NX_FR = struct.Struct("!QHBxIIHHQQ")
assert NX_FR.size == 40
FR13 = struct.Struct("!QHBBIIHHQQ")
assert FR13.size == 40
#: OF1.5 reorders the fixed part: table_id, reason, priority, timeouts, then cookie.
FR15 = struct.Struct("!BBHHHQ")
assert FR15.size == 16
OXS_HDR = struct.Struct("!HH")
OXS_U64 = struct.Struct("!IQ")
assert OXS_U64.size == 12
OXS_CLASS = 0x8002
OXS_DURATION, OXS_IDLE_TIME, OXS_FLOW_COUNT, OXS_PACKET_COUNT, OXS_BYTE_COUNT = 0, 1, 3, 4, 5
#: Highest flow-removed reason each version can carry (others travel as DELETE).
_FR_MAX_REASON = {R.V10: OFPRR_DELETE, R.V13: 3}


def _oxs_header(field: int, length: int) -> int:
    return (OXS_CLASS << 16) | (field << 9) | length


@R.encodes(FlowRemoved, R.ALL_VERSIONS)
def _encode_flow_removed(msg: FlowRemoved, version: int, xid: int) -> bytes:
    reason = msg.reason
    if reason > _FR_MAX_REASON.get(version, 0xFF):
        reason = OFPRR_DELETE
    if version == R.V10:
        ofp_match = _of10_match_or_none(msg.match)
        if ofp_match is not None:
            body = ofp_match + FR10.pack(msg.cookie, msg.priority, reason, msg.duration_sec,
                                         msg.duration_nsec, msg.idle_timeout,
                                         msg.packet_count, msg.byte_count)
            return R.finish(version, R.OFPT_FLOW_REMOVED, xid, body)
        nxm = MC.encode_nxm(msg.match)
        body = NX_FR.pack(msg.cookie, msg.priority, reason, msg.duration_sec,
                          msg.duration_nsec, msg.idle_timeout, len(nxm), msg.packet_count,
                          msg.byte_count)
        return R.finish_exp(version, xid, R.NX_VENDOR_ID, R.NXT_FLOW_REMOVED,
                            body + nxm + b"\0" * R.pad8(len(nxm)))
    match = MC.encode_oxm_match(msg.match, version)
    if version != R.V15:
        body = FR13.pack(msg.cookie, msg.priority, reason, msg.table_id, msg.duration_sec,
                         msg.duration_nsec, msg.idle_timeout, msg.hard_timeout,
                         msg.packet_count, msg.byte_count)
        return R.finish(version, R.OFPT_FLOW_REMOVED, xid, body + match)
    stats = (OXS_U64.pack(_oxs_header(OXS_DURATION, 8),
                          (msg.duration_sec << 32) | msg.duration_nsec)
             + OXS_U64.pack(_oxs_header(OXS_PACKET_COUNT, 8), msg.packet_count)
             + OXS_U64.pack(_oxs_header(OXS_BYTE_COUNT, 8), msg.byte_count))
    stats = OXS_HDR.pack(0, 4 + len(stats)) + stats
    stats += b"\0" * R.pad8(len(stats))
    body = FR15.pack(msg.table_id, reason, msg.priority, msg.idle_timeout, msg.hard_timeout,
                     msg.cookie)
    return R.finish(version, R.OFPT_FLOW_REMOVED, xid, body + match + stats)


def _decode_oxs(buf: bytes, offset: int) -> tuple[dict[int, int], int]:
    R.need(buf, offset + 4, "ofp_stats")
    _, length = OXS_HDR.unpack_from(buf, offset)
    end = offset + length
    if length < 4 or end > len(buf):
        raise OFPError("OFPBRC_BAD_LEN", f"ofp_stats length {length}")
    out = {}
    pos = offset + 4
    while pos + 4 <= end:
        (hdr,) = _U32.unpack_from(buf, pos)
        flen = hdr & 0xFF
        if pos + 4 + flen > end:
            raise OFPError("OFPBRC_BAD_LEN", "OXS field overruns ofp_stats")
        if hdr >> 16 == OXS_CLASS and flen in (4, 8):
            out[(hdr >> 9) & 0x7F] = int.from_bytes(buf[pos + 4:pos + 4 + flen], "big")
        pos += 4 + flen
    return out, ((length + 7) & ~7)


@R.decodes_type(R.ALL_VERSIONS, R.OFPT_FLOW_REMOVED)
def _decode_flow_removed(version: int, buf: bytes, opts) -> FlowRemoved:
    if version == R.V10:
        R.exact(buf, 88, "flow_removed")
        match = MC.decode_ofp10_match(buf, 8)
        cookie, prio, reason, dsec, dnsec, idle, pkts, nbytes = FR10.unpack_from(buf, 48)
        return FlowRemoved(match, cookie, prio, reason, 0, dsec, dnsec, idle, 0, pkts, nbytes)
    if version != R.V15:
        R.need(buf, 56, "flow_removed")
        (cookie, prio, reason, table_id, dsec, dnsec, idle, hard, pkts,
         nbytes) = FR13.unpack_from(buf, 8)
        match, _ = MC.decode_oxm_match(buf, 48)
        return FlowRemoved(match, cookie, prio, reason, table_id, dsec, dnsec, idle, hard,
                           pkts, nbytes)
    R.need(buf, 24, "flow_removed")
    table_id, reason, prio, idle, hard, cookie = FR15.unpack_from(buf, 8)
    match, used = MC.decode_oxm_match(buf, 24)
    stats, _ = _decode_oxs(buf, 24 + used)
    duration = stats.get(OXS_DURATION, 0)
    return FlowRemoved(match, cookie, prio, reason, table_id, duration >> 32,
                       duration & 0xFFFFFFFF, idle, hard, stats.get(OXS_PACKET_COUNT, 0),
                       stats.get(OXS_BYTE_COUNT, 0))


@R.decodes_exp(R.ALL_VERSIONS, R.NX_VENDOR_ID, R.NXT_FLOW_REMOVED)
def _decode_nx_flow_removed(version: int, buf: bytes, opts) -> FlowRemoved:
    R.need(buf, 56, "nx_flow_removed")
    cookie, prio, reason, dsec, dnsec, idle, match_len, pkts, nbytes = \
        NX_FR.unpack_from(buf, 16)
    R.need(buf, 56 + match_len, "nx_flow_removed match")
    match = MC.decode_nxm(buf, 56, match_len)
    return FlowRemoved(match, cookie, prio, reason, 0, dsec, dnsec, idle, 0, pkts, nbytes)

