"""The OpenFlow codec's front door: ``decode(bytes) -> Message``, ``encode(Message) -> bytes``.

How to use
----------
::

    from pyvswitch.openflow import codec, framing, messages as m

    for raw in framing.split_messages(rx_buffer):       # complete messages only
        hdr = framing.parse_header(raw)                  # version, type, length, xid
        try:
            msg = codec.decode(raw)                      # e.g. m.FlowMod(...)
        except OFPError as err:
            tx(codec.error_reply(err, raw))              # the ERROR OVS would send
    tx(codec.encode(m.BarrierReply(), hdr.version, hdr.xid))

``encode_packet_in(msg, version, xid, packet_in_format)`` picks the session's packet-in
format (standard, NXT_PACKET_IN or NXT_PACKET_IN2).  ``encode`` returns one message, except for multipart replies too long for 64 KiB, which
come back as several concatenated messages (``encode_all`` gives them as a list).

Message classes
---------------
``openflow.messages``: Hello, ErrorMsg, EchoRequest, EchoReply, Experimenter (encode only),
FeaturesRequest, FeaturesReply (+ PortDesc), GetConfigRequest, GetConfigReply, SetConfig,
BarrierRequest, BarrierReply, RoleRequest, RoleReply, RoleStatus, GetAsyncRequest,
GetAsyncReply, SetAsync (+ AsyncConfig), PortStatus, PortMod, TableMod, PacketIn,
PacketOut, FlowMod, FlowRemoved, SetFlowFormat, FlowModTableId, SetPacketInFormat,
SetControllerId, DescRequest, DescReply, PortDescRequest, PortDescReply.

``openflow.messages_stats``: FlowStatsRequest, FlowStatsReply (+ FlowStats),
AggregateStatsRequest, AggregateStatsReply, TableStatsRequest, TableStatsReply
(+ TableStats), PortStatsRequest, PortStatsReply (+ PortStats).

``openflow.messages_gm``: GroupMod (+ Bucket), GroupStatsRequest/Reply, GroupDescRequest/
Reply, GroupFeaturesRequest/Reply, MeterMod (+ MeterBand), MeterStatsRequest/Reply,
MeterConfigRequest/Reply, MeterFeaturesRequest/Reply.

``openflow.wire_bundle``: BundleControl, BundleAdd.  ``openflow.wire_table_features``:
TableFeaturesRequest, TableFeaturesReply (+ TableFeatures, TableFeatureProp).
``openflow.wire_monitor``: FlowMonitorRequest, FlowMonitorReply (+ FlowUpdate),
FlowMonitorCancel, FlowMonitorPaused, FlowMonitorResumed.  ``openflow.wire_queue``:
QueueStatsRequest/Reply (+ QueueStats), QueueGetConfigRequest/Reply (+ QueueConfig; the
QUEUE_DESC multipart from OF1.4), TableDescRequest/Reply (+ TableDesc).

Multi-part requests go through ``multipart.MultipartAssembler`` before ``decode``; long
replies come back from ``encode_all`` as several messages with the MORE flag.

Errors: ``decode`` raises only ``OFPError``, named as Open vSwitch would answer:
OFPBRC_BAD_VERSION (unsupported header version), OFPBRC_BAD_TYPE (unknown message type),
OFPBRC_BAD_STAT (unknown multipart type), OFPBRC_BAD_EXPERIMENTER (unknown experimenter),
OFPBRC_BAD_SUBTYPE (unknown Nicira/ONF subtype), OFPBRC_BAD_LEN (length mismatch), or
the match/action/instruction codecs' errors.

Must not import: ofproto, conn, io or anything above openflow.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pyvswitch.openflow import registry as R
from pyvswitch.openflow import multipart, wire_core, wire_port  # noqa: F401  (registers)
from pyvswitch.openflow import (wire_bundle, wire_flow, wire_gm, wire_monitor,  # noqa: F401
                                 wire_monitor_onf, wire_queue, wire_stats,
                                 wire_table_features)
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.framing import HEADER
from pyvswitch.openflow.messages import Message
from pyvswitch.openflow.messages import NXPIF_NXT_PACKET_IN, NXPIF_NXT_PACKET_IN2, PacketIn
from pyvswitch.openflow.wire_core import encode_error, encode_hello, error_reply
from pyvswitch.openflow.wire_flow import encode_nx_packet_in, encode_nx_packet_in2
from pyvswitch.openflow.wire_flow import encode_packet_in as _encode_std_packet_in

__all__ = ["DecodeOptions", "decode", "encode", "encode_all", "error_reply", "encode_error",
           "encode_hello", "encode_packet_in"]

_EXP = struct.Struct("!II")
_KNOWN_VENDORS = (R.NX_VENDOR_ID, R.ONF_VENDOR_ID)


@dataclass(frozen=True)
class DecodeOptions:
    """Session state that changes how bytes read (never a connection object).

    ``flow_mod_table_id``: NXT_FLOW_MOD_TABLE_ID is on, so an OF1.0 flow_mod's command
    carries the table id in its high byte.
    """

    flow_mod_table_id: bool = False


DEFAULT_OPTIONS = DecodeOptions()


def decode(msg: bytes, opts: DecodeOptions = DEFAULT_OPTIONS) -> Message:
    """Decode one complete OpenFlow message (as ``framing.split_messages`` returns it)."""
    if len(msg) < 8:
        raise OFPError("OFPBRC_BAD_LEN", "shorter than an OpenFlow header")
    version, mtype, length, _ = HEADER.unpack_from(msg, 0)
    if length != len(msg):
        raise OFPError("OFPBRC_BAD_LEN", f"header says {length} bytes, got {len(msg)}")
    if mtype == R.OFPT_HELLO:
        return R.DECODERS[("t", version, mtype)](version, msg, opts)
    if version not in R.ALL_VERSIONS:
        raise OFPError("OFPBRC_BAD_VERSION", f"version {version:#x}")
    fn = R.DECODERS.get(("t", version, mtype))
    if fn is not None:
        return fn(version, msg, opts)
    if mtype == R.OFPT_EXPERIMENTER:
        R.need(msg, 16, "experimenter header")
        vendor, subtype = _EXP.unpack_from(msg, 8)
        return _lookup_exp("x", version, vendor, subtype, msg, opts)
    if mtype in (R.TYPES["MP_REQUEST"][version], R.TYPES["MP_REPLY"][version]):
        kind = "mq" if mtype == R.TYPES["MP_REQUEST"][version] else "mr"
        mp_type, _ = multipart.parse_mp_header(version, msg)
        if mp_type == multipart.OFPMP_EXPERIMENTER:
            off = multipart.body_offset(version)
            R.need(msg, off + 8, "experimenter multipart header")
            vendor, subtype = _EXP.unpack_from(msg, off)
            return _lookup_exp(kind + "x", version, vendor, subtype, msg, opts, stat=True)
        fn = R.DECODERS.get((kind, version, mp_type))
        if fn is None:
            raise OFPError("OFPBRC_BAD_STAT", f"multipart type {mp_type}")
        return fn(version, msg, opts)
    raise OFPError("OFPBRC_BAD_TYPE", f"message type {mtype} in version {version:#x}")


def _lookup_exp(kind: str, version: int, vendor: int, subtype: int, msg: bytes,
                opts: DecodeOptions, stat: bool = False) -> Message:
    fn = R.DECODERS.get((kind, version, vendor, subtype))
    if fn is not None:
        return fn(version, msg, opts)
    if vendor not in _KNOWN_VENDORS:
        raise OFPError("OFPBRC_BAD_EXPERIMENTER", f"experimenter {vendor:#x}")
    if stat:
        raise OFPError("OFPBRC_BAD_STAT", f"experimenter {vendor:#x} stats {subtype}")
    raise OFPError("OFPBRC_BAD_SUBTYPE", f"experimenter {vendor:#x} subtype {subtype}")


def encode_packet_in(msg: PacketIn, version: int, xid: int,
                     packet_in_format: int = 0) -> bytes:
    """PACKET_IN in the session's format (NXT_SET_PACKET_IN_FORMAT): standard OpenFlow
    (0), NXT_PACKET_IN (1) or NXT_PACKET_IN2 (2; continuations travel as opaque bytes)."""
    if packet_in_format == 0:
        return _encode_std_packet_in(msg, version, xid)
    if packet_in_format == NXPIF_NXT_PACKET_IN:
        return encode_nx_packet_in(msg, version, xid)
    if packet_in_format == NXPIF_NXT_PACKET_IN2:
        return encode_nx_packet_in2(msg, version, xid)
    raise ValueError(f"unknown packet-in format {packet_in_format}")


def encode_all(msg: Message, version: int, xid: int) -> list[bytes]:
    """``msg`` in ``version`` as a list of messages (several only for long multiparts).

    Raises ValueError if ``msg`` cannot be expressed in ``version``.
    """
    fn = R.ENCODERS.get((type(msg), version))
    if fn is None:
        raise ValueError(f"{type(msg).__name__} has no OpenFlow {version:#x} encoding")
    out = fn(msg, version, xid)
    return out if isinstance(out, list) else [out]


def encode(msg: Message, version: int, xid: int) -> bytes:
    """``msg`` in ``version`` with ``xid``: one message, or several back to back."""
    fn = R.ENCODERS.get((type(msg), version))
    if fn is None:
        raise ValueError(f"{type(msg).__name__} has no OpenFlow {version:#x} encoding")
    out = fn(msg, version, xid)
    return b"".join(out) if isinstance(out, list) else out
