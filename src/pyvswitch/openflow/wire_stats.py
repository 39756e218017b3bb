"""Wire layouts of the flow, aggregate, table and port statistics multiparts.

What this module owns
---------------------
* FLOW and AGGREGATE requests/replies: OF1.0 (``ofp_match``), OF1.3/1.4 (OXM match, fixed
  counters), OF1.5 (flow_desc with OXS statistics) and the Nicira NXST_FLOW /
  NXST_AGGREGATE forms (NXM match; OF1.0 sessions with the NXM flow format).
* TABLE statistics (OF1.0 64-byte entries with name/wildcards, OF1.3+ 24-byte entries).
* PORT statistics (OF1.0 104 bytes, OF1.3 112 bytes, OF1.4+ 80 bytes + ethernet property).

Long replies are split by ``multipart.split_reply``.  An OF1.0 flow-stats request or
reply whose match does not fit ``ofp_match`` is encoded in the Nicira form.  The switch
encodes its own flow dumps with ``wire_flow_dump`` (the same bytes, straight from its
rules); the ``FlowStatsReply`` encoder here is the reference it is tested against.

Must not import: ofproto, conn, or anything above openflow.
"""

from __future__ import annotations

import struct

from pyvswitch.openflow import match_codec as MC
from pyvswitch.openflow import registry as R
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages import OFPMP_AGGREGATE, OFPMP_FLOW, OFPMP_PORT_STATS, \
    OFPMP_TABLE, OFPMPF_MORE
from pyvswitch.openflow.messages_stats import (
    AggregateStatsReply, AggregateStatsRequest, FlowStats, FlowStatsReply, FlowStatsRequest,
    PortStats, PortStatsReply, PortStatsRequest, TableStats, TableStatsReply,
    TableStatsRequest)
from pyvswitch.openflow.multipart import (OFPMP_EXPERIMENTER, body_offset, finish_mp,
                                         parse_mp_header, split_reply)
from pyvswitch.openflow.ofpacts import (OFPG_ANY, Instructions, of10_port_to_of11,
                                        of11_port_to_of10)
from pyvswitch.openflow.wire_flow import OXS_BYTE_COUNT, OXS_DURATION, OXS_FLOW_COUNT, \
    OXS_PACKET_COUNT, OXS_U64, OXS_HDR, _ac, _decode_oxs, _oxs_header

NXST_FLOW, NXST_AGGREGATE = 0, 1
NX_STATS_PREFIX = struct.Struct("!II4x")      # vendor, subtype, pad (OF1.0 form)
NX_STATS_PREFIX11 = struct.Struct("!II")      # experimenter, exp_type (OF1.3+ form)
#: Both Nicira stats forms put the body 24 bytes into the message.
NX_BODY = 24

FSREQ10 = struct.Struct("!BxH")
assert FSREQ10.size == 4
FSREQ11 = struct.Struct("!B3xII4xQQ")
assert FSREQ11.size == 32
NX_FSREQ = struct.Struct("!HHB3x")
assert NX_FSREQ.size == 8
FS10 = struct.Struct("!HBx")
FS10_TAIL = struct.Struct("!IIHHH6xQQQ")
assert FS10.size + 40 + FS10_TAIL.size == 88
FS11 = struct.Struct("!HBxIIHHHHH2xQQQ")
assert FS11.size == 48
FS15 = struct.Struct("!H2xBBHHHHHQ")
assert FS15.size == 24
NX_FS = struct.Struct("!HBxIIHHHHHHQQQ")
assert NX_FS.size == 48
AGG = struct.Struct("!QQI4x")
assert AGG.size == 24
TS10 = struct.Struct("!B3x32sIIIQQ")
assert TS10.size == 64
TS11 = struct.Struct("!B3xIQQ")
assert TS11.size == 24
PSREQ10 = struct.Struct("!H6x")
PSREQ11 = struct.Struct("!I4x")
PS10 = struct.Struct("!H6x12Q")
assert PS10.size == 104
PS11 = struct.Struct("!I4x12QII")
assert PS11.size == 112
PS14 = struct.Struct("!H2xIII8Q")
assert PS14.size == 80
PS14_ETH = struct.Struct("!HH4x4Q")
assert PS14_ETH.size == 40


def _of10_match(match) -> bytes | None:
    try:
        return MC.encode_ofp10_match(match)
    except (OFPError, ValueError):
        return None


def _nx_prefix(version: int, subtype: int) -> bytes:
    if version == R.V10:
        return NX_STATS_PREFIX.pack(R.NX_VENDOR_ID, subtype)
    return NX_STATS_PREFIX11.pack(R.NX_VENDOR_ID, subtype)


# --- FLOW / AGGREGATE requests -------------------------------------------------------------

def _decode_flow_request(version: int, buf: bytes, cls):
    off = body_offset(version)
    if version == R.V10:
        R.exact(buf, off + 44, "flow stats request")
        match = MC.decode_ofp10_match(buf, off)
        table_id, out_port = FSREQ10.unpack_from(buf, off + 40)
        return cls(match, table_id, of10_port_to_of11(out_port))
    R.need(buf, off + 32, "flow stats request")
    table_id, out_port, out_group, cookie, cookie_mask = FSREQ11.unpack_from(buf, off)
    match, used = MC.decode_oxm_match(buf, off + 32)
    if off + 32 + used != len(buf):
        raise OFPError("OFPBRC_BAD_LEN", "flow stats request")
    return cls(match, table_id, out_port, out_group, cookie, cookie_mask)


def _decode_nx_flow_request(version: int, buf: bytes, cls):
    off = NX_BODY
    R.need(buf, off + 8, "nx flow stats request")
    out_port, match_len, table_id = NX_FSREQ.unpack_from(buf, off)
    if off + 8 + ((match_len + 7) & ~7) != len(buf):
        raise OFPError("OFPBRC_BAD_LEN", "nx flow stats request")
    match, cookie, cookie_mask = MC.decode_nxm_cookie(buf, off + 8, match_len)
    return cls(match, table_id, of10_port_to_of11(out_port), OFPG_ANY, cookie, cookie_mask,
               nxm=True)


@R.decodes(*[("mq", v, OFPMP_FLOW) for v in R.ALL_VERSIONS])
def _decode_flow_stats_request(version: int, buf: bytes, opts) -> FlowStatsRequest:
    return _decode_flow_request(version, buf, FlowStatsRequest)


@R.decodes(*[("mq", v, OFPMP_AGGREGATE) for v in R.ALL_VERSIONS])
def _decode_aggregate_request(version: int, buf: bytes, opts) -> AggregateStatsRequest:
    return _decode_flow_request(version, buf, AggregateStatsRequest)


@R.decodes(*[("mqx", v, R.NX_VENDOR_ID, NXST_FLOW) for v in R.ALL_VERSIONS])
def _decode_nxst_flow_request(version: int, buf: bytes, opts) -> FlowStatsRequest:
    return _decode_nx_flow_request(version, buf, FlowStatsRequest)


@R.decodes(*[("mqx", v, R.NX_VENDOR_ID, NXST_AGGREGATE) for v in R.ALL_VERSIONS])
def _decode_nxst_aggregate_request(version: int, buf: bytes, opts) -> AggregateStatsRequest:
    return _decode_nx_flow_request(version, buf, AggregateStatsRequest)


def _encode_flow_request(msg, version: int, xid: int, mp_type: int, nx_subtype: int):
    if version == R.V10:
        ofp_match = None if msg.nxm or msg.cookie_mask else _of10_match(msg.match)
        out_port = of11_port_to_of10(msg.out_port)
        if ofp_match is not None:
            return finish_mp(version, True, mp_type, 0, xid,
                             ofp_match + FSREQ10.pack(msg.table_id, out_port))
        nxm = MC.encode_nxm(msg.match)
        if msg.cookie_mask:
            nxm += MC.encode_nxm_cookie(msg.cookie, msg.cookie_mask)
        body = (_nx_prefix(version, nx_subtype)
                + NX_FSREQ.pack(out_port, len(nxm), msg.table_id)
                + nxm + b"\0" * R.pad8(len(nxm)))
        return finish_mp(version, True, OFPMP_EXPERIMENTER, 0, xid, body)
    body = FSREQ11.pack(msg.table_id, msg.out_port, msg.out_group, msg.cookie,
                        msg.cookie_mask) + MC.encode_oxm_match(msg.match, version)
    return finish_mp(version, True, mp_type, 0, xid, body)


@R.encodes(FlowStatsRequest, R.ALL_VERSIONS)
def _encode_flow_stats_request(msg, version: int, xid: int) -> bytes:
    return _encode_flow_request(msg, version, xid, OFPMP_FLOW, NXST_FLOW)


@R.encodes(AggregateStatsRequest, R.ALL_VERSIONS)
def _encode_aggregate_request(msg, version: int, xid: int) -> bytes:
    return _encode_flow_request(msg, version, xid, OFPMP_AGGREGATE, NXST_AGGREGATE)


# --- FLOW replies --------------------------------------------------------------------------

#: (form, Instructions) -> encoded actions or instructions (bounded; cleared when full).
_INSTRUCTIONS_WIRE: dict[tuple, bytes] = {}
_MAX_INSTRUCTIONS_WIRE = 4096
#: (form, id(Instructions)) -> (that Instructions object, its encoding) (same bound).
_INSTRUCTIONS_BY_ID: dict[tuple[int, int], tuple[Instructions, bytes]] = {}


def instructions_wire(ins: Instructions, version: int, nx: bool) -> bytes:
    """The actions (OF1.0, Nicira form) or instructions of a flow stats entry.

    Many flows share their instructions: each distinct set is encoded once per form.  The
    decoder hands equal instructions out as one object, so they are first looked up by
    identity (hashing a frozen dataclass again for every flow costs more than the rest)."""
    key = version | (0x100 if nx else 0)
    seen = _INSTRUCTIONS_BY_ID.get((key, id(ins)))
    if seen is not None and seen[0] is ins:
        return seen[1]
    ikey = (key, ins)
    try:
        rest = _INSTRUCTIONS_WIRE.get(ikey)
    except TypeError:             # an action holding something unhashable
        rest = ikey = None
    if rest is None:
        if version == R.V10 or nx:
            rest = _ac().encode_actions(version, ins.apply or ())
        else:
            rest = _ac().encode_instructions(version, ins)
        if ikey is not None:
            if len(_INSTRUCTIONS_WIRE) >= _MAX_INSTRUCTIONS_WIRE:
                _INSTRUCTIONS_WIRE.clear()
            _INSTRUCTIONS_WIRE[ikey] = rest
    if ikey is not None:          # a hashable (so immutable) set: safe to know by identity
        if len(_INSTRUCTIONS_BY_ID) >= _MAX_INSTRUCTIONS_WIRE:
            _INSTRUCTIONS_BY_ID.clear()
        _INSTRUCTIONS_BY_ID[(key, id(ins))] = (ins, rest)   # holding ins keeps the id its own
    return rest


def _flow_entry_parts(fs: FlowStats, version: int, nx: bool) -> tuple[bytes, bytes]:
    """(match, actions or instructions) of a flow stats entry in the form ``version`` and
    ``nx`` call for."""
    if version == R.V10 and not nx:
        match = MC.encode_ofp10_match(fs.match)
    elif nx:
        match = MC.encode_nxm(fs.match)
    else:
        match = MC.encode_oxm_match(fs.match, version)
    return match, instructions_wire(fs.instructions, version, nx)


def nx_age(age: int | None) -> int:
    """An NXST_FLOW ``idle_age``/``hard_age`` field: seconds + 1, 0 for "not reported",
    at most 0xFFFF (OVS ofputil_append_flow_stats_reply)."""
    return 0 if age is None or age < 0 else min(age + 1, 0xFFFF)


def _encode_flow_entry(fs: FlowStats, version: int, nx: bool) -> bytes:
    match, rest = _flow_entry_parts(fs, version, nx)
    if version == R.V10 and not nx:
        body = (match + FS10_TAIL.pack(fs.duration_sec, fs.duration_nsec, fs.priority,
                                       fs.idle_timeout, fs.hard_timeout, fs.cookie,
                                       fs.packet_count, fs.byte_count) + rest)
        return FS10.pack(4 + len(body), fs.table_id) + body
    if nx:
        tail = match + b"\0" * R.pad8(len(match)) + rest
        idle_age, hard_age = nx_age(fs.idle_age), nx_age(fs.hard_age)
        return NX_FS.pack(48 + len(tail), fs.table_id, fs.duration_sec, fs.duration_nsec,
                          fs.priority, fs.idle_timeout, fs.hard_timeout, len(match),
                          idle_age, hard_age, fs.cookie, fs.packet_count,
                          fs.byte_count) + tail
    if version != R.V15:
        tail = match + rest
        return FS11.pack(48 + len(tail), fs.table_id, fs.duration_sec, fs.duration_nsec,
                         fs.priority, fs.idle_timeout, fs.hard_timeout, fs.flags,
                         fs.importance if version >= R.V14 else 0, fs.cookie,
                         fs.packet_count, fs.byte_count) + tail
    stats = (OXS_U64.pack(_oxs_header(OXS_DURATION, 8),
                          (fs.duration_sec << 32) | fs.duration_nsec)
             + OXS_U64.pack(_oxs_header(OXS_PACKET_COUNT, 8), fs.packet_count)
             + OXS_U64.pack(_oxs_header(OXS_BYTE_COUNT, 8), fs.byte_count))
    stats = OXS_HDR.pack(0, 4 + len(stats)) + stats
    stats += b"\0" * R.pad8(len(stats))
    tail = match + stats + rest
    return FS15.pack(24 + len(tail), fs.table_id, 0, fs.priority, fs.idle_timeout,
                     fs.hard_timeout, fs.flags, fs.importance, fs.cookie) + tail


@R.encodes(FlowStatsReply, R.ALL_VERSIONS)
def _encode_flow_stats_reply(msg: FlowStatsReply, version: int, xid: int) -> list[bytes]:
    nx = msg.nxm or (version == R.V10
                     and any(_of10_match(f.match) is None for f in msg.flows))
    items = [_encode_flow_entry(f, version, nx) for f in msg.flows]
    if nx:
        return split_reply(version, OFPMP_EXPERIMENTER, xid, items,
                           _nx_prefix(version, NXST_FLOW))
    return split_reply(version, OFPMP_FLOW, xid, items)


def _decode_flow_entries(version: int, buf: bytes, pos: int, nx: bool) -> list[FlowStats]:
    flows = []
    while pos < len(buf):
        R.need(buf, pos + 4, "flow stats entry")
        (length,) = struct.unpack_from("!H", buf, pos)
        end = pos + length
        if length < 4 or end > len(buf):
            raise OFPError("OFPBRC_BAD_LEN", f"flow stats entry length {length}")
        entry = buf[:end]
        flows.append(_decode_flow_entry(version, entry, pos, nx))
        pos = end
    return flows


def _decode_flow_entry(version: int, buf: bytes, pos: int, nx: bool) -> FlowStats:
    end = len(buf)
    if nx:
        R.need(buf, pos + 48, "nx flow stats entry")
        (_, table_id, dsec, dnsec, prio, idle, hard, match_len, idle_age, hard_age, cookie,
         pkts, nbytes) = NX_FS.unpack_from(buf, pos)
        match = MC.decode_nxm(buf, pos + 48, match_len)
        apos = pos + 48 + ((match_len + 7) & ~7)
        actions = _ac().decode_actions(version, buf, apos, end - apos)
        return FlowStats(match, Instructions(apply=tuple(actions)), table_id, dsec, dnsec,
                         prio, idle, hard, 0, 0, cookie, pkts, nbytes,
                         idle_age - 1 if idle_age else None, hard_age - 1 if hard_age else None)
    if version == R.V10:
        R.need(buf, pos + 88, "flow stats entry")
        _, table_id = FS10.unpack_from(buf, pos)
        match = MC.decode_ofp10_match(buf, pos + 4)
        dsec, dnsec, prio, idle, hard, cookie, pkts, nbytes = FS10_TAIL.unpack_from(buf, pos + 44)
        actions = _ac().decode_actions(version, buf, pos + 88, end - pos - 88)
        return FlowStats(match, Instructions(apply=tuple(actions)), table_id, dsec, dnsec,
                         prio, idle, hard, 0, 0, cookie, pkts, nbytes)
    if version != R.V15:
        R.need(buf, pos + 48, "flow stats entry")
        (_, table_id, dsec, dnsec, prio, idle, hard, flags, importance, cookie, pkts,
         nbytes) = FS11.unpack_from(buf, pos)
        match, used = MC.decode_oxm_match(buf, pos + 48)
        ipos = pos + 48 + used
        inst = _ac().decode_instructions(version, buf, ipos, end - ipos)
        return FlowStats(match, inst, table_id, dsec, dnsec, prio, idle, hard, flags,
                         importance if version >= R.V14 else 0, cookie, pkts, nbytes)
    R.need(buf, pos + 24, "flow desc")
    _, table_id, _, prio, idle, hard, flags, importance, cookie = FS15.unpack_from(buf, pos)
    match, used = MC.decode_oxm_match(buf, pos + 24)
    stats, slen = _decode_oxs(buf, pos + 24 + used)
    ipos = pos + 24 + used + slen
    R.need(buf, ipos, "flow desc")
    inst = _ac().decode_instructions(version, buf, ipos, end - ipos)
    duration = stats.get(OXS_DURATION, 0)
    return FlowStats(match, inst, table_id, duration >> 32, duration & 0xFFFFFFFF, prio, idle,
                     hard, flags, importance, cookie, stats.get(OXS_PACKET_COUNT, 0),
                     stats.get(OXS_BYTE_COUNT, 0))


def _decode_flow_reply(version: int, buf: bytes, nx: bool) -> FlowStatsReply:
    _, flags = parse_mp_header(version, buf)
    pos = NX_BODY if nx else body_offset(version)
    return FlowStatsReply(tuple(_decode_flow_entries(version, buf, pos, nx)), nx,
                          bool(flags & OFPMPF_MORE))


@R.decodes(*[("mr", v, OFPMP_FLOW) for v in R.ALL_VERSIONS])
def _decode_flow_stats_reply(version: int, buf: bytes, opts) -> FlowStatsReply:
    return _decode_flow_reply(version, buf, False)


@R.decodes(*[("mrx", v, R.NX_VENDOR_ID, NXST_FLOW) for v in R.ALL_VERSIONS])
def _decode_nxst_flow_reply(version: int, buf: bytes, opts) -> FlowStatsReply:
    return _decode_flow_reply(version, buf, True)


# --- AGGREGATE reply -----------------------------------------------------------------------

@R.encodes(AggregateStatsReply, R.ALL_VERSIONS)
def _encode_aggregate_reply(msg: AggregateStatsReply, version: int, xid: int) -> bytes:
    if version == R.V15 and not msg.nxm:
        # flow_count is the one 32-bit OXS field.
        stats = (OXS_HDR.pack(0, 4 + 8 + 2 * 12)
                 + struct.pack("!II", _oxs_header(OXS_FLOW_COUNT, 4), msg.flow_count)
                 + OXS_U64.pack(_oxs_header(OXS_PACKET_COUNT, 8), msg.packet_count)
                 + OXS_U64.pack(_oxs_header(OXS_BYTE_COUNT, 8), msg.byte_count))
        stats += b"\0" * R.pad8(len(stats))
        return finish_mp(version, False, OFPMP_AGGREGATE, 0, xid, stats)
    body = AGG.pack(msg.packet_count, msg.byte_count, msg.flow_count)
    if msg.nxm:
        return finish_mp(version, False, OFPMP_EXPERIMENTER, 0, xid,
                         _nx_prefix(version, NXST_AGGREGATE) + body)
    return finish_mp(version, False, OFPMP_AGGREGATE, 0, xid, body)


def _decode_aggregate_reply(version: int, buf: bytes, nx: bool) -> AggregateStatsReply:
    off = NX_BODY if nx else body_offset(version)
    if version == R.V15 and not nx:
        stats, _ = _decode_oxs(buf, off)
        return AggregateStatsReply(stats.get(OXS_PACKET_COUNT, 0),
                                   stats.get(OXS_BYTE_COUNT, 0), stats.get(OXS_FLOW_COUNT, 0))
    R.exact(buf, off + 24, "aggregate reply")
    return AggregateStatsReply(*AGG.unpack_from(buf, off), nxm=nx)


@R.decodes(*[("mr", v, OFPMP_AGGREGATE) for v in R.ALL_VERSIONS])
def _decode_aggregate_stats_reply(version: int, buf: bytes, opts) -> AggregateStatsReply:
    return _decode_aggregate_reply(version, buf, False)


@R.decodes(*[("mrx", v, R.NX_VENDOR_ID, NXST_AGGREGATE) for v in R.ALL_VERSIONS])
def _decode_nxst_aggregate_reply(version: int, buf: bytes, opts) -> AggregateStatsReply:
    return _decode_aggregate_reply(version, buf, True)


# --- TABLE ---------------------------------------------------------------------------------

@R.decodes(*[("mq", v, OFPMP_TABLE) for v in R.ALL_VERSIONS])
def _decode_table_request(version: int, buf: bytes, opts) -> TableStatsRequest:
    R.exact(buf, body_offset(version), "table stats request")
    return TableStatsRequest()


@R.encodes(TableStatsRequest, R.ALL_VERSIONS)
def _encode_table_request(msg, version: int, xid: int) -> bytes:
    return finish_mp(version, True, OFPMP_TABLE, 0, xid, b"")


@R.encodes(TableStatsReply, R.ALL_VERSIONS)
def _encode_table_reply(msg: TableStatsReply, version: int, xid: int) -> list[bytes]:
    if version == R.V10:
        items = [TS10.pack(t.table_id, R.pad_str(t.name, 32), t.wildcards, t.max_entries,
                           t.active_count, t.lookup_count, t.matched_count)
                 for t in msg.tables]
    else:
        items = [TS11.pack(t.table_id, t.active_count, t.lookup_count, t.matched_count)
                 for t in msg.tables]
    return split_reply(version, OFPMP_TABLE, xid, items)


@R.decodes(*[("mr", v, OFPMP_TABLE) for v in R.ALL_VERSIONS])
def _decode_table_reply(version: int, buf: bytes, opts) -> TableStatsReply:
    off = body_offset(version)
    _, flags = parse_mp_header(version, buf)
    size = TS10.size if version == R.V10 else TS11.size
    if (len(buf) - off) % size:
        raise OFPError("OFPBRC_BAD_LEN", "table stats reply")
    tables = []
    for pos in range(off, len(buf), size):
        if version == R.V10:
            tid, name, wild, max_e, active, lookup, matched = TS10.unpack_from(buf, pos)
            tables.append(TableStats(tid, active, lookup, matched, R.cstr(name), wild, max_e))
        else:
            tid, active, lookup, matched = TS11.unpack_from(buf, pos)
            tables.append(TableStats(tid, active, lookup, matched))
    return TableStatsReply(tuple(tables), bool(flags & OFPMPF_MORE))


# --- PORT_STATS ----------------------------------------------------------------------------

@R.decodes(*[("mq", v, OFPMP_PORT_STATS) for v in R.ALL_VERSIONS])
def _decode_port_stats_request(version: int, buf: bytes, opts) -> PortStatsRequest:
    off = body_offset(version)
    R.exact(buf, off + 8, "port stats request")
    if version == R.V10:
        return PortStatsRequest(of10_port_to_of11(PSREQ10.unpack_from(buf, off)[0]))
    return PortStatsRequest(PSREQ11.unpack_from(buf, off)[0])


@R.encodes(PortStatsRequest, R.ALL_VERSIONS)
def _encode_port_stats_request(msg: PortStatsRequest, version: int, xid: int) -> bytes:
    body = (PSREQ10.pack(of11_port_to_of10(msg.port_no)) if version == R.V10
            else PSREQ11.pack(msg.port_no))
    return finish_mp(version, True, OFPMP_PORT_STATS, 0, xid, body)


_COUNTERS = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped",
             "rx_errors", "tx_errors", "rx_frame_err", "rx_over_err", "rx_crc_err",
             "collisions")


def _encode_port_stats(s: PortStats, version: int) -> bytes:
    counters = [getattr(s, c) for c in _COUNTERS]
    if version == R.V10:
        return PS10.pack(of11_port_to_of10(s.port_no), *counters)
    if version == R.V13:
        return PS11.pack(s.port_no, *counters, s.duration_sec, s.duration_nsec)
    return (PS14.pack(120, s.port_no, s.duration_sec, s.duration_nsec, *counters[:8])
            + PS14_ETH.pack(0, 40, *counters[8:]))


@R.encodes(PortStatsReply, R.ALL_VERSIONS)
def _encode_port_stats_reply(msg: PortStatsReply, version: int, xid: int) -> list[bytes]:
    return split_reply(version, OFPMP_PORT_STATS, xid,
                       [_encode_port_stats(s, version) for s in msg.stats])


@R.decodes(*[("mr", v, OFPMP_PORT_STATS) for v in R.ALL_VERSIONS])
def _decode_port_stats_reply(version: int, buf: bytes, opts) -> PortStatsReply:
    pos = body_offset(version)
    _, flags = parse_mp_header(version, buf)
    out = []
    while pos < len(buf):
        if version == R.V10:
            R.need(buf, pos + 104, "port stats")
            no, *counters = PS10.unpack_from(buf, pos)
            out.append(PortStats(of10_port_to_of11(no), *counters))
            pos += 104
        elif version == R.V13:
            R.need(buf, pos + 112, "port stats")
            out.append(PortStats(*PS11.unpack_from(buf, pos)))
            pos += 112
        else:
            R.need(buf, pos + 80, "port stats")
            length, no, dsec, dnsec, *counters = PS14.unpack_from(buf, pos)
            if length < 80 or pos + length > len(buf):
                raise OFPError("OFPBRC_BAD_LEN", f"port stats length {length}")
            extra = [0, 0, 0, 0]
            ppos = pos + 80
            while ppos < pos + length:
                R.need(buf, ppos + 4, "port stats property")
                ptype, plen = struct.unpack_from("!HH", buf, ppos)
                if plen < 4 or ppos + plen > pos + length:
                    raise OFPError("OFPBPC_BAD_LEN", "port stats property")
                if ptype == 0 and plen == 40:
                    extra = list(PS14_ETH.unpack_from(buf, ppos)[2:])
                ppos += (plen + 7) & ~7
            out.append(PortStats(no, *counters, *extra, dsec, dnsec))
            pos += length
    return PortStatsReply(tuple(out), bool(flags & OFPMPF_MORE))

