"""TABLE_FEATURES multipart (OF1.3+): the table descriptions and their property lists.

What this module owns
---------------------
``TableFeatures`` (one table: id, name, metadata masks, config/capabilities, max entries,
properties and, in OF1.5, a request's command) and ``TableFeatureProp`` (one property as
its type and the list of integers it carries: instruction types, table ids, action types
or OXM headers), the request (empty to query; a list of tables to set, possibly over
several messages) and the reply (split over messages under 64 KiB).

Invariants: a property's item width follows its type (``PROP_ITEM``); an unknown property
type is kept as raw bytes so that a re-encode is lossless.

Must not import: ofproto, conn, or anything above openflow.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pyvswitch.openflow import registry as R
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages import Message, OFPMPF_MORE
from pyvswitch.openflow.multipart import body_offset, finish_mp, parse_mp_header, split_reply

OFPMP_TABLE_FEATURES = 12
TF = struct.Struct("!HBB4x32sQQII")
assert TF.size == 64
PROP = struct.Struct("!HH")

# Property type -> how its items are laid out: "hdr4" (type u16 + len u16 headers of
# instructions/actions), "u8" (table ids), "u32" (OXM headers).
PROP_ITEM = {0: "hdr4", 1: "hdr4", 2: "u8", 3: "u8", 4: "hdr4", 5: "hdr4", 6: "hdr4",
             7: "hdr4", 8: "u32", 10: "u32", 12: "u32", 13: "u32", 14: "u32", 15: "u32",
             16: "u8", 18: "u32", 19: "u32"}


@dataclass(frozen=True)
class TableFeatureProp:
    type: int
    items: tuple[int, ...] = ()
    raw: bytes = b""      # payload of a property type this codec does not interpret


@dataclass(frozen=True)
class TableFeatures:
    table_id: int
    name: str
    metadata_match: int = 0xFFFFFFFFFFFFFFFF
    metadata_write: int = 0xFFFFFFFFFFFFFFFF
    config: int = 0           # "capabilities" in OF1.5
    max_entries: int = 1000000
    properties: tuple[TableFeatureProp, ...] = ()
    command: int = 0          # OF1.5 OFPTFC_* (replace, modify, enable, disable); 0 before


@dataclass(frozen=True)
class TableFeaturesRequest(Message):
    tables: tuple[TableFeatures, ...] = ()
    more: bool = False


@dataclass(frozen=True)
class TableFeaturesReply(Message):
    tables: tuple[TableFeatures, ...] = ()
    more: bool = False


def _encode_prop(prop: TableFeatureProp) -> bytes:
    kind = PROP_ITEM.get(prop.type)
    if kind == "hdr4":
        payload = b"".join(PROP.pack(t, 4) for t in prop.items)
    elif kind == "u8":
        payload = bytes(prop.items)
    elif kind == "u32":
        payload = b"".join(struct.pack("!I", h) for h in prop.items)
    else:
        payload = prop.raw
    body = PROP.pack(prop.type, 4 + len(payload)) + payload
    return body + b"\0" * R.pad8(len(body))


def encode_table(t: TableFeatures) -> bytes:
    props = b"".join(_encode_prop(p) for p in t.properties)
    return TF.pack(64 + len(props), t.table_id, t.command, R.pad_str(t.name, 32),
                   t.metadata_match, t.metadata_write, t.config, t.max_entries) + props


def _decode_prop(buf: bytes, pos: int, end: int) -> tuple[TableFeatureProp, int]:
    if pos + 4 > end:
        raise OFPError("OFPBPC_BAD_LEN", "truncated table feature property")
    ptype, plen = PROP.unpack_from(buf, pos)
    if plen < 4 or pos + plen > end:
        raise OFPError("OFPBPC_BAD_LEN", f"table feature property length {plen}")
    payload = bytes(buf[pos + 4:pos + plen])
    kind = PROP_ITEM.get(ptype)
    items: list[int] = []
    if kind == "hdr4":
        i = 0
        while i + 4 <= len(payload):
            itype, ilen = PROP.unpack_from(payload, i)
            if ilen < 4 or i + ilen > len(payload):
                raise OFPError("OFPBPC_BAD_LEN", "table feature item length")
            items.append(itype)
            i += ilen
        prop = TableFeatureProp(ptype, tuple(items))
    elif kind == "u8":
        prop = TableFeatureProp(ptype, tuple(payload))
    elif kind == "u32":
        if len(payload) % 4:
            raise OFPError("OFPBPC_BAD_LEN", "OXM list length")
        prop = TableFeatureProp(ptype, struct.unpack(f"!{len(payload) // 4}I", payload))
    else:
        prop = TableFeatureProp(ptype, (), payload)
    return prop, (plen + 7) & ~7


def _decode_tables(version: int, buf: bytes, pos: int) -> tuple[TableFeatures, ...]:
    tables = []
    while pos < len(buf):
        R.need(buf, pos + 64, "table features")
        length, tid, command, name, mmatch, mwrite, config, max_entries = \
            TF.unpack_from(buf, pos)
        end = pos + length
        if length < 64 or length % 8 or end > len(buf):
            raise OFPError("OFPTFFC_BAD_LEN", f"table features length {length}")
        props = []
        ppos = pos + 64
        while ppos < end:
            prop, used = _decode_prop(buf, ppos, end)
            props.append(prop)
            ppos += used
        tables.append(TableFeatures(tid, R.cstr(name), mmatch, mwrite, config, max_entries,
                                    tuple(props), command if version >= 0x06 else 0))
        pos = end
    return tuple(tables)


@R.decodes(*[("mq", v, OFPMP_TABLE_FEATURES) for v in R.V13_UP])
def _decode_request(version: int, buf: bytes, opts) -> TableFeaturesRequest:
    _, flags = parse_mp_header(version, buf)
    return TableFeaturesRequest(_decode_tables(version, buf, body_offset(version)),
                                bool(flags & OFPMPF_MORE))


@R.decodes(*[("mr", v, OFPMP_TABLE_FEATURES) for v in R.V13_UP])
def _decode_reply(version: int, buf: bytes, opts) -> TableFeaturesReply:
    _, flags = parse_mp_header(version, buf)
    return TableFeaturesReply(_decode_tables(version, buf, body_offset(version)),
                              bool(flags & OFPMPF_MORE))


@R.encodes(TableFeaturesRequest, R.V13_UP)
def _encode_request(msg: TableFeaturesRequest, version: int, xid: int) -> bytes:
    return finish_mp(version, True, OFPMP_TABLE_FEATURES, OFPMPF_MORE if msg.more else 0,
                     xid, b"".join(encode_table(t) for t in msg.tables))


@R.encodes(TableFeaturesReply, R.V13_UP)
def _encode_reply(msg: TableFeaturesReply, version: int, xid: int) -> list[bytes]:
    return split_reply(version, OFPMP_TABLE_FEATURES, xid,
                       [encode_table(t) for t in msg.tables])
