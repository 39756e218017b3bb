"""Flow monitors for OpenFlow 1.3: the ONF extension 1870 (ONFST_FLOW_MONITOR request and
reply, ONFT_FLOW_MONITOR_CANCEL 1870, PAUSED 1871, RESUMED 1872), as Open vSwitch 3.0+
and its ovs-ofctl speak them.

What this module owns
---------------------
The OpenFlow 1.3 encodings of the version-independent monitor messages defined in
``wire_monitor`` (``FlowMonitorRequest``, ``FlowMonitorReply``, ``FlowMonitorCancel``,
``FlowMonitorPaused``, ``FlowMonitorResumed``).  The ONF layouts are the Nicira ones with
OpenFlow 1.1+ pieces: a request is ``id, flags, match_len, out_port (32 bits), table_id``
followed by an OXM ``ofp_match``; a full update is the Nicira update header followed by an
OXM match and OpenFlow 1.3 *instructions*; flags and events use Nicira numbering (mapped
to and from the OF1.4 numbering the dataclasses carry).  An ONF request has no command
and no out_group: it always adds a monitor.

Invariants: a decoded request's flags hold only INITIAL/ADD/REMOVED/MODIFY/INSTRUCTIONS/
ONLY_OWN and at least one of ADD/REMOVED/MODIFY (else OFPMOFC_BAD_FLAGS, as OVS).

Must not import: ofproto, conn, or anything above openflow.
"""

from __future__ import annotations

import struct

from pyvswitch.openflow import match_codec as MC
from pyvswitch.openflow import registry as R
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages import OFPMPF_MORE
from pyvswitch.openflow.multipart import OFPMP_EXPERIMENTER, finish_mp, parse_mp_header, \
    split_reply
from pyvswitch.openflow.ofpacts import Instructions
from pyvswitch.openflow.wire_flow import _ac
from pyvswitch.openflow.wire_monitor import (
    NX_UPD_FULL, OFPFME_ABBREV, OFPFME_ADDED, OFPFME_INITIAL, OFPFME_MODIFIED, OFPFME_REMOVED,
    OFPFMF_ONLY_OWN, UPD_ABBREV, UPD_HDR, FlowMonitorReply, FlowMonitorRequest, FlowUpdate,
    register_controls,
)
from pyvswitch.packet.fields import Match

ONFST_FLOW_MONITOR = 1870
ONFT_FLOW_MONITOR_CANCEL, ONFT_FLOW_MONITOR_PAUSED, ONFT_FLOW_MONITOR_RESUMED = \
    1870, 1871, 1872
V = (R.V13,)
BODY = 24                           # header 8 + multipart 8 + experimenter 8

ONF_REQ = struct.Struct("!IHHIB3x")
assert ONF_REQ.size == 16
U32 = struct.Struct("!I")

_ONF_OWN = 32                       # ONFFMF_OWN (Nicira's NXFMF_OWN position)
_ONF_VALID = 0x3F
_ONF_EVENTS = 0x0E                  # ADD | DELETE | MODIFY
_EVENT_TO_ONF = {OFPFME_INITIAL: 0, OFPFME_ADDED: 0, OFPFME_REMOVED: 1, OFPFME_MODIFIED: 2,
                 OFPFME_ABBREV: 3}
_ONF_TO_EVENT = {0: OFPFME_ADDED, 1: OFPFME_REMOVED, 2: OFPFME_MODIFIED, 3: OFPFME_ABBREV}
_PREFIX = U32.pack(R.ONF_VENDOR_ID) + U32.pack(ONFST_FLOW_MONITOR)


def _to_onf_flags(flags: int) -> int:
    return (flags & 0x1F) | (_ONF_OWN if flags & OFPFMF_ONLY_OWN else 0)


# --- requests ------------------------------------------------------------------------------

@R.decodes(*[("mqx", v, R.ONF_VENDOR_ID, ONFST_FLOW_MONITOR) for v in V])
def _decode_request(version: int, buf: bytes, opts) -> FlowMonitorRequest:
    R.need(buf, BODY + 16, "onf flow monitor request")
    mid, onf_flags, _, out_port, table_id = ONF_REQ.unpack_from(buf, BODY)
    if not onf_flags & _ONF_EVENTS or onf_flags & ~_ONF_VALID:
        raise OFPError("OFPMOFC_BAD_FLAGS", f"flags {onf_flags:#x}")
    if buf[BODY + 13:BODY + 16] != b"\0\0\0":
        raise OFPError("NXBRC_MUST_BE_ZERO", "onf flow monitor request padding")
    match, used = MC.decode_oxm_match(buf, BODY + 16)
    if BODY + 16 + used != len(buf):
        raise OFPError("OFPBRC_BAD_LEN", "onf flow monitor request")
    flags = (onf_flags & 0x1F) | (OFPFMF_ONLY_OWN if onf_flags & _ONF_OWN else 0)
    return FlowMonitorRequest(mid, flags, match, table_id, out_port)


@R.encodes(FlowMonitorRequest, V)
def _encode_request(msg: FlowMonitorRequest, version: int, xid: int) -> bytes:
    oxm = MC.encode_oxm_match(msg.match, version)
    match_len = int.from_bytes(oxm[2:4], "big")
    body = _PREFIX + ONF_REQ.pack(msg.monitor_id, _to_onf_flags(msg.flags), match_len,
                                  msg.out_port, msg.table_id) + oxm
    return finish_mp(version, True, OFPMP_EXPERIMENTER, 0, xid, body)


# --- replies -------------------------------------------------------------------------------

def _encode_update(u: FlowUpdate, version: int) -> bytes:
    if u.event not in _EVENT_TO_ONF:
        raise ValueError("ONF monitors report pause/resume as separate messages")
    event = _EVENT_TO_ONF[u.event]
    if event == 3:
        return UPD_ABBREV.pack(8, event, u.xid)
    oxm = MC.encode_oxm_match(u.match or Match(), version)
    tail = oxm + _ac().encode_instructions(version, u.instructions or Instructions())
    return NX_UPD_FULL.pack(24 + len(tail), event, u.reason, u.priority, u.idle_timeout,
                            u.hard_timeout, int.from_bytes(oxm[2:4], "big"), u.table_id,
                            u.cookie) + tail


@R.encodes(FlowMonitorReply, V)
def _encode_reply(msg: FlowMonitorReply, version: int, xid: int) -> list[bytes]:
    return split_reply(version, OFPMP_EXPERIMENTER, xid,
                       [_encode_update(u, version) for u in msg.updates], _PREFIX)


@R.decodes(*[("mrx", v, R.ONF_VENDOR_ID, ONFST_FLOW_MONITOR) for v in V])
def _decode_reply(version: int, buf: bytes, opts) -> FlowMonitorReply:
    _, mp_flags = parse_mp_header(version, buf)
    out = []
    pos = BODY
    while pos < len(buf):
        R.need(buf, pos + 4, "flow update")
        length, event = UPD_HDR.unpack_from(buf, pos)
        end = pos + length
        if length < 8 or length % 8 or end > len(buf):
            raise OFPError("OFPBRC_BAD_LEN", f"flow update length {length}")
        if event not in _ONF_TO_EVENT:
            raise OFPError("NXBRC_FM_BAD_EVENT", f"event {event}")
        if event == 3:
            out.append(FlowUpdate(OFPFME_ABBREV, xid=UPD_ABBREV.unpack_from(buf, pos)[2]))
        else:
            piece = bytes(buf[:end])
            R.need(piece, pos + 24, "onf flow update")
            (_, _, reason, prio, idle, hard, _, table_id,
             cookie) = NX_UPD_FULL.unpack_from(buf, pos)
            match, used = MC.decode_oxm_match(piece, pos + 24)
            ipos = pos + 24 + used
            inst = _ac().decode_instructions(version, piece, ipos, end - ipos)
            out.append(FlowUpdate(_ONF_TO_EVENT[event], table_id, reason, idle, hard, prio,
                                  cookie, match, inst))
        pos = end
    return FlowMonitorReply(tuple(out), False, bool(mp_flags & OFPMPF_MORE))


register_controls(V, R.ONF_VENDOR_ID, ONFT_FLOW_MONITOR_CANCEL, ONFT_FLOW_MONITOR_PAUSED,
                  ONFT_FLOW_MONITOR_RESUMED, "onf")
