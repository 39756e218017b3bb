"""Flow monitors: OF1.4+ FLOW_MONITOR multipart and the Nicira NXST_FLOW_MONITOR family.

What this module owns
---------------------
* ``FlowMonitorRequest`` / ``FlowMonitorReply`` (a list of ``FlowUpdate`` events) in the
  OF1.4+ layout (multipart type 16) and the Nicira layout used by OF1.0 sessions
  (NXST_FLOW_MONITOR, stats subtype 2), plus NXT_FLOW_MONITOR_CANCEL / PAUSED / RESUMED.
* Flags and events use the OF1.4 numbering; the Nicira encoder/decoder maps
  NXFMF_OWN <-> OFPFMF_ONLY_OWN and NXFME_* events <-> OFPFME_*.

As in Open vSwitch, the Nicira forms exist only for OpenFlow 1.0 here (OVS: 1.0-1.2).
The ONF 1870 form for OF1.3 lives in ``wire_monitor_onf.py``.

Must not import: ofproto, conn, or anything above openflow.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Optional

from pyvswitch.openflow import match_codec as MC
from pyvswitch.openflow import registry as R
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages import Message, OFPMPF_MORE
from pyvswitch.openflow.multipart import (OFPMP_EXPERIMENTER, body_offset, finish_mp,
                                         parse_mp_header, split_reply)
from pyvswitch.openflow.ofpacts import (OFPG_ANY, OFPP_ANY, Instructions, of10_port_to_of11,
                                        of11_port_to_of10)
from pyvswitch.openflow.wire_flow import _ac
from pyvswitch.packet.fields import Match

OFPMP_FLOW_MONITOR = 16
NXST_FLOW_MONITOR = 2
NXT_FLOW_MONITOR_CANCEL, NXT_FLOW_MONITOR_PAUSED, NXT_FLOW_MONITOR_RESUMED = 21, 22, 23
NX_BODY = 24
NX_VERSIONS = (R.V10,)
MONITOR_VERSIONS = (R.V10, R.V14, R.V15)

# OF1.4 flags, commands and events.
OFPFMF_INITIAL, OFPFMF_ADD, OFPFMF_REMOVED, OFPFMF_MODIFY = 1, 2, 4, 8
OFPFMF_INSTRUCTIONS, OFPFMF_NO_ABBREV, OFPFMF_ONLY_OWN = 16, 32, 64
OFPFMC_ADD, OFPFMC_MODIFY, OFPFMC_DELETE = 0, 1, 2
OFPFME_INITIAL, OFPFME_ADDED, OFPFME_REMOVED, OFPFME_MODIFIED, OFPFME_ABBREV = 0, 1, 2, 3, 4
OFPFME_PAUSED, OFPFME_RESUMED = 5, 6
_NX_OWN = 32

REQ14 = struct.Struct("!IIIHBB")
assert REQ14.size == 16
NX_REQ = struct.Struct("!IHHHB5x")
assert NX_REQ.size == 16
UPD_HDR = struct.Struct("!HH")
UPD14_FULL = struct.Struct("!HHBBHHH4xQ")
assert UPD14_FULL.size == 24
UPD_ABBREV = struct.Struct("!HHI")
assert UPD_ABBREV.size == 8
NX_UPD_FULL = struct.Struct("!HHHHHHHBxQ")
assert NX_UPD_FULL.size == 24
U32 = struct.Struct("!I")


@dataclass(frozen=True)
class FlowMonitorRequest(Message):
    monitor_id: int
    flags: int
    match: Match
    table_id: int = 0xFF
    out_port: int = OFPP_ANY
    out_group: int = OFPG_ANY
    command: int = OFPFMC_ADD
    nxm: bool = False          # decoded from NXST_FLOW_MONITOR (the OF1.0 form)


@dataclass(frozen=True)
class FlowUpdate:
    """One event.  Full events carry the flow; ABBREV carries only ``xid``; PAUSED and
    RESUMED carry nothing (OF1.4 only: Nicira sends NXT_FLOW_MONITOR_PAUSED/RESUMED)."""

    event: int
    table_id: int = 0
    reason: int = 0
    idle_timeout: int = 0
    hard_timeout: int = 0
    priority: int = 0
    cookie: int = 0
    match: Optional[Match] = None
    instructions: Optional[Instructions] = None
    xid: int = 0


@dataclass(frozen=True)
class FlowMonitorReply(Message):
    updates: tuple[FlowUpdate, ...] = ()
    nxm: bool = False
    more: bool = False


@dataclass(frozen=True)
class FlowMonitorCancel(Message):
    """NXT_FLOW_MONITOR_CANCEL (OF1.4+ cancels with a DELETE request instead)."""

    monitor_id: int


@dataclass(frozen=True)
class FlowMonitorPaused(Message):
    pass


@dataclass(frozen=True)
class FlowMonitorResumed(Message):
    pass


# --- requests ------------------------------------------------------------------------------

@R.decodes(*[("mq", v, OFPMP_FLOW_MONITOR) for v in R.V14_UP])
def _decode_request14(version: int, buf: bytes, opts) -> FlowMonitorRequest:
    off = body_offset(version)
    R.need(buf, off + 16, "flow monitor request")
    mid, out_port, out_group, flags, table_id, command = REQ14.unpack_from(buf, off)
    match, used = MC.decode_oxm_match(buf, off + 16)
    if off + 16 + used != len(buf):
        raise OFPError("OFPBRC_BAD_LEN", "flow monitor request")
    return FlowMonitorRequest(mid, flags, match, table_id, out_port, out_group, command)


@R.decodes(*[("mqx", v, R.NX_VENDOR_ID, NXST_FLOW_MONITOR) for v in NX_VERSIONS])
def _decode_nx_request(version: int, buf: bytes, opts) -> FlowMonitorRequest:
    R.need(buf, NX_BODY + 16, "nx flow monitor request")
    mid, nx_flags, out_port, match_len, table_id = NX_REQ.unpack_from(buf, NX_BODY)
    if NX_BODY + 16 + ((match_len + 7) & ~7) != len(buf):
        raise OFPError("OFPBRC_BAD_LEN", "nx flow monitor request")
    flags = (nx_flags & 0x1F) | (OFPFMF_ONLY_OWN if nx_flags & _NX_OWN else 0)
    if nx_flags & ~0x3F:
        raise OFPError("OFPMOFC_BAD_FLAGS", f"flags {nx_flags:#x}")
    match = MC.decode_nxm(buf, NX_BODY + 16, match_len)
    return FlowMonitorRequest(mid, flags, match, table_id, of10_port_to_of11(out_port),
                              nxm=True)


@R.encodes(FlowMonitorRequest, MONITOR_VERSIONS)
def _encode_request(msg: FlowMonitorRequest, version: int, xid: int) -> bytes:
    if version == R.V10:
        nxm = MC.encode_nxm(msg.match)
        nx_flags = (msg.flags & 0x1F) | (_NX_OWN if msg.flags & OFPFMF_ONLY_OWN else 0)
        body = (U32.pack(R.NX_VENDOR_ID) + U32.pack(NXST_FLOW_MONITOR)
                + b"\0" * 4
                + NX_REQ.pack(msg.monitor_id, nx_flags, of11_port_to_of10(msg.out_port),
                              len(nxm), msg.table_id)
                + nxm + b"\0" * R.pad8(len(nxm)))
        return finish_mp(version, True, OFPMP_EXPERIMENTER, 0, xid, body)
    body = REQ14.pack(msg.monitor_id, msg.out_port, msg.out_group, msg.flags, msg.table_id,
                      msg.command) + MC.encode_oxm_match(msg.match, version)
    return finish_mp(version, True, OFPMP_FLOW_MONITOR, 0, xid, body)


# --- replies -------------------------------------------------------------------------------

def _encode_update14(u: FlowUpdate, version: int) -> bytes:
    if u.event == OFPFME_ABBREV:
        return UPD_ABBREV.pack(8, u.event, u.xid)
    if u.event in (OFPFME_PAUSED, OFPFME_RESUMED):
        return UPD_ABBREV.pack(8, u.event, 0)
    tail = (MC.encode_oxm_match(u.match or Match(), version)
            + _ac().encode_instructions(version, u.instructions or Instructions()))
    return UPD14_FULL.pack(24 + len(tail), u.event, u.table_id, u.reason, u.idle_timeout,
                           u.hard_timeout, u.priority, u.cookie) + tail


_EVENT_TO_NX = {OFPFME_INITIAL: 0, OFPFME_ADDED: 0, OFPFME_REMOVED: 1, OFPFME_MODIFIED: 2,
                OFPFME_ABBREV: 3}
_NX_TO_EVENT = {0: OFPFME_ADDED, 1: OFPFME_REMOVED, 2: OFPFME_MODIFIED, 3: OFPFME_ABBREV}


def _encode_update_nx(u: FlowUpdate, version: int) -> bytes:
    if u.event not in _EVENT_TO_NX:
        raise ValueError("Nicira monitors report pause/resume as separate messages")
    event = _EVENT_TO_NX[u.event]
    if event == 3:
        return UPD_ABBREV.pack(8, event, u.xid)
    nxm = MC.encode_nxm(u.match or Match())
    actions = _ac().encode_actions(version, (u.instructions or Instructions()).apply or ())
    tail = nxm + b"\0" * R.pad8(len(nxm)) + actions
    return NX_UPD_FULL.pack(24 + len(tail), event, u.reason, u.priority, u.idle_timeout,
                            u.hard_timeout, len(nxm), u.table_id, u.cookie) + tail


@R.encodes(FlowMonitorReply, MONITOR_VERSIONS)
def _encode_reply(msg: FlowMonitorReply, version: int, xid: int) -> list[bytes]:
    if version == R.V10:
        prefix = U32.pack(R.NX_VENDOR_ID) + U32.pack(NXST_FLOW_MONITOR) + b"\0" * 4
        return split_reply(version, OFPMP_EXPERIMENTER, xid,
                           [_encode_update_nx(u, version) for u in msg.updates], prefix)
    return split_reply(version, OFPMP_FLOW_MONITOR, xid,
                       [_encode_update14(u, version) for u in msg.updates])


def _decode_updates(version: int, buf: bytes, pos: int, nx: bool) -> list[FlowUpdate]:
    out = []
    while pos < len(buf):
        R.need(buf, pos + 4, "flow update")
        length, event = UPD_HDR.unpack_from(buf, pos)
        end = pos + length
        if length < 8 or end > len(buf):
            raise OFPError("OFPBRC_BAD_LEN", f"flow update length {length}")
        if nx:
            if event not in _NX_TO_EVENT:
                raise OFPError("NXBRC_FM_BAD_EVENT", f"event {event}")
            if event == 3:
                out.append(FlowUpdate(OFPFME_ABBREV, xid=UPD_ABBREV.unpack_from(buf, pos)[2]))
            else:
                R.need(buf[:end], pos + 24, "nx flow update")
                (_, _, reason, prio, idle, hard, match_len, table_id,
                 cookie) = NX_UPD_FULL.unpack_from(buf, pos)
                apos = pos + 24 + ((match_len + 7) & ~7)
                if apos > end:
                    raise OFPError("OFPBRC_BAD_LEN", "nx flow update match")
                match = MC.decode_nxm(buf, pos + 24, match_len)
                actions = _ac().decode_actions(version, buf, apos, end - apos)
                out.append(FlowUpdate(_NX_TO_EVENT[event], table_id, reason, idle, hard, prio,
                                      cookie, match, Instructions(apply=tuple(actions))))
        elif event == OFPFME_ABBREV:
            out.append(FlowUpdate(event, xid=UPD_ABBREV.unpack_from(buf, pos)[2]))
        elif event in (OFPFME_PAUSED, OFPFME_RESUMED):
            out.append(FlowUpdate(event))
        elif event <= OFPFME_MODIFIED:
            piece = bytes(buf[:end])
            R.need(piece, pos + 24, "flow update")
            _, _, table_id, reason, idle, hard, prio, cookie = UPD14_FULL.unpack_from(buf, pos)
            match, used = MC.decode_oxm_match(piece, pos + 24)
            ipos = pos + 24 + used
            inst = _ac().decode_instructions(version, piece, ipos, end - ipos)
            out.append(FlowUpdate(event, table_id, reason, idle, hard, prio, cookie, match,
                                  inst))
        else:
            raise OFPError("OFPBRC_BAD_LEN", f"unknown flow update event {event}")
        pos = end
    return out


@R.decodes(*[("mr", v, OFPMP_FLOW_MONITOR) for v in R.V14_UP])
def _decode_reply14(version: int, buf: bytes, opts) -> FlowMonitorReply:
    _, flags = parse_mp_header(version, buf)
    return FlowMonitorReply(tuple(_decode_updates(version, buf, body_offset(version), False)),
                            False, bool(flags & OFPMPF_MORE))


@R.decodes(*[("mrx", v, R.NX_VENDOR_ID, NXST_FLOW_MONITOR) for v in NX_VERSIONS])
def _decode_nx_reply(version: int, buf: bytes, opts) -> FlowMonitorReply:
    _, flags = parse_mp_header(version, buf)
    return FlowMonitorReply(tuple(_decode_updates(version, buf, NX_BODY, True)), True,
                            bool(flags & OFPMPF_MORE))


# --- cancel / paused / resumed (Nicira and ONF carry them alike) ---------------------------

def register_controls(versions: tuple[int, ...], vendor: int, cancel: int, paused: int,
                      resumed: int, label: str) -> None:
    """Register the codecs of the three small monitor control messages for one
    experimenter: CANCEL (a monitor id), PAUSED and RESUMED (no body)."""

    def decode_cancel(version: int, buf: bytes, opts) -> FlowMonitorCancel:
        R.exact(buf, 20, f"{label} flow monitor cancel")
        return FlowMonitorCancel(U32.unpack_from(buf, 16)[0])

    def encode_cancel(msg: FlowMonitorCancel, version: int, xid: int) -> bytes:
        return R.finish_exp(version, xid, vendor, cancel, U32.pack(msg.monitor_id))

    def empty(cls, subtype: int):
        def decode(version: int, buf: bytes, opts):
            R.exact(buf, 16, f"{label} flow monitor {cls.__name__}")
            return cls()

        def encode(msg, version: int, xid: int) -> bytes:
            return R.finish_exp(version, xid, vendor, subtype, b"")
        R.decodes_exp(versions, vendor, subtype)(decode)
        R.encodes(cls, versions)(encode)

    R.decodes_exp(versions, vendor, cancel)(decode_cancel)
    R.encodes(FlowMonitorCancel, versions)(encode_cancel)
    empty(FlowMonitorPaused, paused)
    empty(FlowMonitorResumed, resumed)


register_controls(NX_VERSIONS, R.NX_VENDOR_ID, NXT_FLOW_MONITOR_CANCEL,
                  NXT_FLOW_MONITOR_PAUSED, NXT_FLOW_MONITOR_RESUMED, "nx")
