"""OpenFlow handlers for flows: FLOW_MOD (OF1.0-1.5 and NXT_FLOW_MOD), flow, aggregate and
table statistics (OVS ofproto.c handle_flow_mod, handle_flow_stats_request,
handle_aggregate_stats_request, handle_table_stats_request).

What this module owns
---------------------
The glue between decoded messages and ``ofproto.flows`` (a ``tables.FlowTables``): each
handler applies or queries, then replies with ``ofconn.send(reply, xid)`` (the codec splits
multipart replies over 64 KiB).  TABLE_FEATURES queries are answered from
``table_features.py``.  Errors are raised as ``OFPError`` and become OFPT_ERROR in
``Ofproto.handle_openflow``; the slave check for FLOW_MOD is done by ``handlers.dispatch``.

Statistics follow OVS: hidden rules (priority > 65535) are never reported, durations run
from the rule's creation (kept across MODIFY), ``idle_age``/``hard_age`` (NXST_FLOW only)
from its last use and last modification, table 0xff means every table.

Must not import: ``vswitchd``.
"""

from __future__ import annotations

from typing import Iterator

from pyvswitch.ofproto.handlers import handles, handles_raw
from pyvswitch.openflow import codec
from pyvswitch.openflow import messages as m
from pyvswitch.openflow import messages_stats as ms
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.registry import OFPT_FLOW_MOD
from pyvswitch.openflow.wire_flow import decode_flow_mod
from pyvswitch.openflow.wire_flow_dump import encode_flow_dump
from pyvswitch.openflow.wire_table_features import TableFeaturesReply, TableFeaturesRequest
from pyvswitch.ofproto.table_features import set_table_features, table_features
from pyvswitch.util.vlog import Logger

log = Logger("flow_handlers")


def _age_secs(age_ms: float) -> int:
    """Milliseconds -> whole seconds clamped to 16 bits (OVS age_secs)."""
    if age_ms < 0:
        return 0
    return 0xFFFF if age_ms >= 0xFFFF * 1000 else int(age_ms) // 1000


def _single(msg):
    """A statistics request that came in several pieces is refused (OVS)."""
    if isinstance(msg, list):
        raise OFPError("OFPBRC_BAD_STAT", "multi-part request of a single-part kind")
    return msg


@handles(m.FlowMod)
def _flow_mod(ofproto, ofconn, msg: m.FlowMod, xid, now):
    ofproto.flows.apply_flow_mod(msg, now, ofconn, version=ofconn.version)


@handles_raw(*((v, OFPT_FLOW_MOD) for v in (0x04, 0x05, 0x06)))
def _flow_mod_raw(ofproto, ofconn, raw: bytes, xid, now) -> bool:
    """An OF1.3+ FLOW_MOD (no session option changes how those read)."""
    version = raw[0]
    ofproto.flows.apply_flow_mod(decode_flow_mod(version, raw), now, ofconn,
                                 version=version)
    return True


def flow_stats(flows, req, now: float) -> list[ms.FlowStats]:
    """The FlowStats entries ``req`` (a FlowStatsRequest) selects."""
    return list(_entries(_selected(flows, req), now, req.nxm))


def _selected(flows, req) -> list:
    return flows.collect(req.table_id, req.match, cookie=req.cookie,
                         cookie_mask=req.cookie_mask, out_port=req.out_port,
                         out_group=req.out_group)


def _entries(rules: list, now: float, nxm: bool) -> Iterator[ms.FlowStats]:
    FlowStats = ms.FlowStats
    for rule in rules:
        dur = max(0, int(now - rule.created_ms))
        yield FlowStats(
            rule.match, rule.instructions, rule.table_id, dur // 1000,
            (dur % 1000) * 1_000_000, rule.priority, rule.idle_timeout,
            rule.hard_timeout, rule.flags, rule.importance, rule.cookie,
            rule.packet_count, rule.byte_count,
            _age_secs(now - rule.used_ms) if nxm else None,
            _age_secs(now - rule.modified_ms) if nxm else None)


@handles(ms.FlowStatsRequest)
def _flow_stats(ofproto, ofconn, msg, xid, now):
    """The flows are chosen now and encoded straight from the rules (no ``FlowStats``).  A
    session that can stream (``OfConn.send_stream``) gets the reply encoded as it goes
    out, so the controller reads the first flows while the switch encodes the rest."""
    req = _single(msg)
    rules = _selected(ofproto.flows, req)
    messages = _or_error(encode_flow_dump(rules, now, ofconn.version, xid, req.nxm),
                         ofproto, ofconn, getattr(ofconn, "request_raw", b""))
    send_stream = getattr(ofconn, "send_stream", None)
    if send_stream is not None:
        send_stream(messages)
        return
    for raw in messages:
        ofconn.rconn.send(raw, ofconn.reply_counter)


def _or_error(messages: Iterator[bytes], ofproto, ofconn, request: bytes) -> Iterator[bytes]:
    """``messages``; if one cannot be encoded (a flow whose actions have no form in the
    session's version), an OFPT_ERROR in place of the rest - OFPBRC_EPERM, as for any
    handler failure - so the peer learns that the reply ended instead of waiting for
    its last part."""
    try:
        yield from messages
    except Exception:  # fault isolation: one flow must not leave the dump hanging
        ofproto.n_handler_crashes += 1
        log.exception("%s: flow stats reply to %s cut short", ofproto.name, ofconn.name)
        yield codec.error_reply(OFPError("OFPBRC_EPERM"), request)


@handles(ms.AggregateStatsRequest)
def _aggregate_stats(ofproto, ofconn, msg, xid, now):
    req = _single(msg)
    rules = ofproto.flows.collect(req.table_id, req.match, cookie=req.cookie,
                                  cookie_mask=req.cookie_mask, out_port=req.out_port,
                                  out_group=req.out_group)
    ofconn.send(ms.AggregateStatsReply(
        packet_count=sum(r.packet_count for r in rules),
        byte_count=sum(r.byte_count for r in rules),
        flow_count=len(rules), nxm=req.nxm), xid)


@handles(ms.TableStatsRequest)
def _table_stats(ofproto, ofconn, msg, xid, now):
    _single(msg)
    ofconn.send(ms.TableStatsReply(tuple(ofproto.flows.table_stats())), xid)


@handles(TableFeaturesRequest)
def _table_features(ofproto, ofconn, msg, xid, now):
    """A query (no tables in the request) is answered with the tables' features; a request
    that lists tables is first applied (only names can change) or refused whole."""
    tables = [t for req in (msg if isinstance(msg, list) else [msg]) for t in req.tables]
    if tables:
        set_table_features(ofproto.flows, tables, ofconn.version)
    ofconn.send(TableFeaturesReply(table_features(ofproto.flows, ofconn.version)), xid)


_OFPTC14_EVICTION = 1 << 2
_OFPTMPT14_EVICTION = 0x2
#: The only eviction flags OVS accepts in TABLE_MOD: OTHER | IMPORTANCE | LIFETIME.
_OVS_EVICTION_FLAGS = 0x7


def _eviction_flags(props: bytes) -> int | None:
    """The OFPTMPT_EVICTION property's flags, if the TABLE_MOD carries one."""
    pos = 0
    while pos + 4 <= len(props):
        ptype, plen = int.from_bytes(props[pos:pos + 2], "big"), \
            int.from_bytes(props[pos + 2:pos + 4], "big")
        if plen < 4 or pos + plen > len(props):
            raise OFPError("OFPBPC_BAD_LEN", "table_mod property")
        if ptype == _OFPTMPT14_EVICTION and plen >= 8:
            return int.from_bytes(props[pos + 4:pos + 8], "big")
        pos += (plen + 7) & ~7
    return None


@handles(m.TableMod)
def _table_mod(ofproto, ofconn, msg: m.TableMod, xid, now):
    """TABLE_MOD (OVS table_mod): OF1.4+ turns eviction on or off per table; other
    configuration bits carry no behaviour here (no vacancy events)."""
    flows = ofproto.flows
    if not flows.check_table_id(msg.table_id):
        raise OFPError("OFPTMFC_BAD_TABLE", f"table {msg.table_id}")
    if ofconn.version >= 0x05:
        flags = _eviction_flags(msg.properties)
        if flags is not None and flags != _OVS_EVICTION_FLAGS:
            raise OFPError("OFPTMFC_BAD_CONFIG", f"eviction flags {flags:#x}")
    if msg.table_id != 0xFF and flows.tables[msg.table_id].readonly:
        raise OFPError("OFPTMFC_EPERM", f"table {msg.table_id} is read-only")
    if ofconn.version >= 0x05:
        flows.set_eviction_of(msg.table_id, bool(msg.config & _OFPTC14_EVICTION), now)
