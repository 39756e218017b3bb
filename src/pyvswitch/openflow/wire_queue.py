"""Queues and table descriptions: QUEUE stats, QUEUE_GET_CONFIG, QUEUE_DESC, TABLE_DESC.

What this module owns
---------------------
* QUEUE statistics multipart (OF1.0 32-byte, OF1.3 40-byte, OF1.4+ 48-byte entries).
* QUEUE_GET_CONFIG request/reply (OF1.0 types 20/21, OF1.3 types 22/23) and its OF1.4+
  replacement, the QUEUE_DESC multipart; queues carry min/max rate (tenths of a percent).
* TABLE_DESC multipart (OF1.4+): each table's config (properties kept raw).

Must not import: ofproto, conn, or anything above openflow.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Optional

from pyvswitch.openflow import registry as R
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages import Message, OFPMPF_MORE
from pyvswitch.openflow.multipart import body_offset, finish_mp, parse_mp_header, split_reply
from pyvswitch.openflow.ofpacts import OFPP_ANY, of10_port_to_of11, of11_port_to_of10

OFPQ_ALL = 0xFFFFFFFF
OFPMP_QUEUE, OFPMP_TABLE_DESC, OFPMP_QUEUE_DESC = 5, 14, 15
QGC_TYPES = {R.V10: (20, 21), R.V13: (22, 23)}
OFPQT_MIN_RATE, OFPQT_MAX_RATE = 1, 2

QREQ10 = struct.Struct("!H2xI")
QREQ11 = struct.Struct("!II")
QS10 = struct.Struct("!H2xIQQQ")
assert QS10.size == 32
QS13 = struct.Struct("!IIQQQII")
assert QS13.size == 40
QS14 = struct.Struct("!H6xIIQQQII")
assert QS14.size == 48
QGC10 = struct.Struct("!H2x")
QGC11 = struct.Struct("!I4x")
QGC_REPLY10 = struct.Struct("!H6x")
PKT_QUEUE10 = struct.Struct("!IH2x")
assert PKT_QUEUE10.size == 8
PKT_QUEUE11 = struct.Struct("!IIH6x")
assert PKT_QUEUE11.size == 16
RATE_PROP_OLD = struct.Struct("!HH4xH6x")
assert RATE_PROP_OLD.size == 16
QDESC = struct.Struct("!IIH6x")
assert QDESC.size == 16
RATE_PROP14 = struct.Struct("!HHH2x")
assert RATE_PROP14.size == 8
TDESC = struct.Struct("!HBxI")
assert TDESC.size == 8


@dataclass(frozen=True)
class QueueStatsRequest(Message):
    port_no: int = OFPP_ANY
    queue_id: int = OFPQ_ALL


@dataclass(frozen=True)
class QueueStats:
    port_no: int
    queue_id: int
    tx_bytes: int = 0
    tx_packets: int = 0
    tx_errors: int = 0
    duration_sec: int = 0      # not in OF1.0
    duration_nsec: int = 0


@dataclass(frozen=True)
class QueueStatsReply(Message):
    stats: tuple[QueueStats, ...] = ()
    more: bool = False


@dataclass(frozen=True)
class QueueConfig:
    """One queue: id, port and its rates (None: not configured), as QUEUE_GET_CONFIG
    and QUEUE_DESC report it."""

    queue_id: int
    port_no: int
    min_rate: Optional[int] = None
    max_rate: Optional[int] = None


@dataclass(frozen=True)
class QueueGetConfigRequest(Message):
    """QUEUE_GET_CONFIG (OF1.0-1.3) or the QUEUE_DESC multipart (OF1.4+)."""

    port_no: int = OFPP_ANY
    queue_id: int = OFPQ_ALL     # OF1.4+ only


@dataclass(frozen=True)
class QueueGetConfigReply(Message):
    port_no: int
    queues: tuple[QueueConfig, ...] = ()
    more: bool = False


@dataclass(frozen=True)
class TableDescRequest(Message):
    pass


@dataclass(frozen=True)
class TableDesc:
    table_id: int
    config: int = 0
    properties: bytes = b""


@dataclass(frozen=True)
class TableDescReply(Message):
    tables: tuple[TableDesc, ...] = ()
    more: bool = False


# --- QUEUE stats ---------------------------------------------------------------------------

@R.decodes(*[("mq", v, OFPMP_QUEUE) for v in R.ALL_VERSIONS])
def _decode_queue_stats_request(version: int, buf: bytes, opts) -> QueueStatsRequest:
    off = body_offset(version)
    R.exact(buf, off + 8, "queue stats request")
    if version == R.V10:
        port, qid = QREQ10.unpack_from(buf, off)
        return QueueStatsRequest(of10_port_to_of11(port), qid)
    return QueueStatsRequest(*QREQ11.unpack_from(buf, off))


@R.encodes(QueueStatsRequest, R.ALL_VERSIONS)
def _encode_queue_stats_request(msg: QueueStatsRequest, version: int, xid: int) -> bytes:
    body = (QREQ10.pack(of11_port_to_of10(msg.port_no), msg.queue_id) if version == R.V10
            else QREQ11.pack(msg.port_no, msg.queue_id))
    return finish_mp(version, True, OFPMP_QUEUE, 0, xid, body)


def _encode_queue_stats(s: QueueStats, version: int) -> bytes:
    if version == R.V10:
        return QS10.pack(of11_port_to_of10(s.port_no), s.queue_id, s.tx_bytes, s.tx_packets,
                         s.tx_errors)
    if version == R.V13:
        return QS13.pack(s.port_no, s.queue_id, s.tx_bytes, s.tx_packets, s.tx_errors,
                         s.duration_sec, s.duration_nsec)
    return QS14.pack(48, s.port_no, s.queue_id, s.tx_bytes, s.tx_packets, s.tx_errors,
                     s.duration_sec, s.duration_nsec)


@R.encodes(QueueStatsReply, R.ALL_VERSIONS)
def _encode_queue_stats_reply(msg: QueueStatsReply, version: int, xid: int) -> list[bytes]:
    return split_reply(version, OFPMP_QUEUE, xid,
                       [_encode_queue_stats(s, version) for s in msg.stats])


@R.decodes(*[("mr", v, OFPMP_QUEUE) for v in R.ALL_VERSIONS])
def _decode_queue_stats_reply(version: int, buf: bytes, opts) -> QueueStatsReply:
    pos = body_offset(version)
    _, flags = parse_mp_header(version, buf)
    out = []
    while pos < len(buf):
        if version == R.V10:
            R.need(buf, pos + 32, "queue stats")
            port, qid, txb, txp, txe = QS10.unpack_from(buf, pos)
            out.append(QueueStats(of10_port_to_of11(port), qid, txb, txp, txe))
            pos += 32
        elif version == R.V13:
            R.need(buf, pos + 40, "queue stats")
            out.append(QueueStats(*QS13.unpack_from(buf, pos)))
            pos += 40
        else:
            R.need(buf, pos + 48, "queue stats")
            length, *vals = QS14.unpack_from(buf, pos)
            if length < 48 or pos + length > len(buf):
                raise OFPError("OFPBRC_BAD_LEN", f"queue stats length {length}")
            out.append(QueueStats(*vals))
            pos += length
    return QueueStatsReply(tuple(out), bool(flags & OFPMPF_MORE))


# --- QUEUE_GET_CONFIG (OF1.0-1.3) and QUEUE_DESC (OF1.4+) ----------------------------------

def _rate_props_old(q: QueueConfig) -> bytes:
    out = b""
    if q.min_rate is not None:
        out += RATE_PROP_OLD.pack(OFPQT_MIN_RATE, 16, q.min_rate)
    if q.max_rate is not None:
        out += RATE_PROP_OLD.pack(OFPQT_MAX_RATE, 16, q.max_rate)
    return out


def _parse_rate_props(buf: bytes, pos: int, end: int, old: bool) -> tuple[Optional[int], ...]:
    rates: dict[int, int] = {}
    while pos < end:
        if pos + 4 > end:
            raise OFPError("OFPBRC_BAD_LEN", "queue property")
        ptype, plen = struct.unpack_from("!HH", buf, pos)
        if plen < 4 or pos + plen > end:
            raise OFPError("OFPBRC_BAD_LEN", f"queue property length {plen}")
        if ptype in (OFPQT_MIN_RATE, OFPQT_MAX_RATE):
            need = 16 if old else 8
            if plen != need:
                raise OFPError("OFPBRC_BAD_LEN", "queue rate property")
            rates[ptype] = struct.unpack_from("!H", buf, pos + (8 if old else 4))[0]
        pos += (plen + 7) & ~7
    return rates.get(OFPQT_MIN_RATE), rates.get(OFPQT_MAX_RATE)


@R.decodes(("t", R.V10, 20), ("t", R.V13, 22))
def _decode_qgc_request(version: int, buf: bytes, opts) -> QueueGetConfigRequest:
    if version == R.V10:
        R.exact(buf, 12, "queue_get_config_request")
        return QueueGetConfigRequest(of10_port_to_of11(QGC10.unpack_from(buf, 8)[0]))
    R.exact(buf, 16, "queue_get_config_request")
    return QueueGetConfigRequest(QGC11.unpack_from(buf, 8)[0])


@R.decodes(*[("mq", v, OFPMP_QUEUE_DESC) for v in R.V14_UP])
def _decode_queue_desc_request(version: int, buf: bytes, opts) -> QueueGetConfigRequest:
    off = body_offset(version)
    R.exact(buf, off + 8, "queue desc request")
    return QueueGetConfigRequest(*QREQ11.unpack_from(buf, off))


@R.encodes(QueueGetConfigRequest, R.ALL_VERSIONS)
def _encode_qgc_request(msg: QueueGetConfigRequest, version: int, xid: int) -> bytes:
    if version == R.V10:
        return R.finish(version, 20, xid, QGC10.pack(of11_port_to_of10(msg.port_no)))
    if version == R.V13:
        return R.finish(version, 22, xid, QGC11.pack(msg.port_no))
    return finish_mp(version, True, OFPMP_QUEUE_DESC, 0, xid,
                     QREQ11.pack(msg.port_no, msg.queue_id))


@R.encodes(QueueGetConfigReply, R.ALL_VERSIONS)
def _encode_qgc_reply(msg: QueueGetConfigReply, version: int, xid: int):
    if version == R.V10:
        queues = b""
        for q in msg.queues:
            props = _rate_props_old(q)
            queues += PKT_QUEUE10.pack(q.queue_id, 8 + len(props)) + props
        return R.finish(version, 21, xid,
                        QGC_REPLY10.pack(of11_port_to_of10(msg.port_no)) + queues)
    if version == R.V13:
        queues = b""
        for q in msg.queues:
            props = _rate_props_old(q)
            queues += PKT_QUEUE11.pack(q.queue_id, q.port_no, 16 + len(props)) + props
        return R.finish(version, 23, xid, QGC11.pack(msg.port_no) + queues)
    items = []
    for q in msg.queues:
        props = b""
        if q.min_rate is not None:
            props += RATE_PROP14.pack(OFPQT_MIN_RATE, 8, q.min_rate)
        if q.max_rate is not None:
            props += RATE_PROP14.pack(OFPQT_MAX_RATE, 8, q.max_rate)
        items.append(QDESC.pack(q.port_no, q.queue_id, 16 + len(props)) + props)
    return split_reply(version, OFPMP_QUEUE_DESC, xid, items)


@R.decodes(("t", R.V10, 21), ("t", R.V13, 23))
def _decode_qgc_reply(version: int, buf: bytes, opts) -> QueueGetConfigReply:
    R.need(buf, 16, "queue_get_config_reply")
    queues = []
    if version == R.V10:
        port = of10_port_to_of11(QGC_REPLY10.unpack_from(buf, 8)[0])
    else:
        port = QGC11.unpack_from(buf, 8)[0]
    pos = 16
    fixed = 8 if version == R.V10 else 16
    while pos < len(buf):
        R.need(buf, pos + fixed, "packet queue")
        if version == R.V10:
            qid, length = PKT_QUEUE10.unpack_from(buf, pos)
            qport = port
        else:
            qid, qport, length = PKT_QUEUE11.unpack_from(buf, pos)
        if length < fixed or pos + length > len(buf):
            raise OFPError("OFPBRC_BAD_LEN", f"packet queue length {length}")
        rates = _parse_rate_props(buf, pos + fixed, pos + length, True)
        queues.append(QueueConfig(qid, qport, *rates))
        pos += length
    return QueueGetConfigReply(port, tuple(queues))


@R.decodes(*[("mr", v, OFPMP_QUEUE_DESC) for v in R.V14_UP])
def _decode_queue_desc_reply(version: int, buf: bytes, opts) -> QueueGetConfigReply:
    pos = body_offset(version)
    _, flags = parse_mp_header(version, buf)
    queues = []
    while pos < len(buf):
        R.need(buf, pos + 16, "queue desc")
        port, qid, length = QDESC.unpack_from(buf, pos)
        if length < 16 or pos + length > len(buf):
            raise OFPError("OFPBRC_BAD_LEN", f"queue desc length {length}")
        queues.append(QueueConfig(qid, port, *_parse_rate_props(buf, pos + 16, pos + length,
                                                                False)))
        pos += length
    port_no = queues[0].port_no if queues else OFPP_ANY
    return QueueGetConfigReply(port_no, tuple(queues), bool(flags & OFPMPF_MORE))


# --- TABLE_DESC ----------------------------------------------------------------------------

@R.decodes(*[("mq", v, OFPMP_TABLE_DESC) for v in R.V14_UP])
def _decode_table_desc_request(version: int, buf: bytes, opts) -> TableDescRequest:
    R.exact(buf, body_offset(version), "table desc request")
    return TableDescRequest()


@R.encodes(TableDescRequest, R.V14_UP)
def _encode_table_desc_request(msg, version: int, xid: int) -> bytes:
    return finish_mp(version, True, OFPMP_TABLE_DESC, 0, xid, b"")


@R.encodes(TableDescReply, R.V14_UP)
def _encode_table_desc_reply(msg: TableDescReply, version: int, xid: int) -> list[bytes]:
    return split_reply(version, OFPMP_TABLE_DESC, xid,
                       [TDESC.pack(8 + len(t.properties), t.table_id, t.config) + t.properties
                        for t in msg.tables])


@R.decodes(*[("mr", v, OFPMP_TABLE_DESC) for v in R.V14_UP])
def _decode_table_desc_reply(version: int, buf: bytes, opts) -> TableDescReply:
    pos = body_offset(version)
    _, flags = parse_mp_header(version, buf)
    out = []
    while pos < len(buf):
        R.need(buf, pos + 8, "table desc")
        length, tid, config = TDESC.unpack_from(buf, pos)
        if length < 8 or pos + length > len(buf):
            raise OFPError("OFPBRC_BAD_LEN", f"table desc length {length}")
        out.append(TableDesc(tid, config, bytes(buf[pos + 8:pos + length])))
        pos += length
    return TableDescReply(tuple(out), bool(flags & OFPMPF_MORE))
