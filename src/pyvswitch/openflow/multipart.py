"""The multipart (OF1.0 "stats") framework: headers, reply splitting, request reassembly.

What this module owns
---------------------
* The multipart header layouts: OF1.0 STATS_REQUEST/REPLY (types 16/17, 12-byte header)
  and OF1.3+ MULTIPART_REQUEST/REPLY (types 18/19, 16-byte header), plus the experimenter
  (Nicira/ONF) form with vendor + subtype.
* ``split_reply``: packs a reply's items into as many messages as needed, each at most
  64 KiB, with REPLY_MORE set on all but the last.
* ``MultipartAssembler``: the sans-IO reassembler for multi-part *requests* with Open
  vSwitch's limits (1 s idle timeout per xid, 4 MiB in total, a type change is
  OFPBRC_BAD_STAT).  ``now`` is a parameter (milliseconds).
* DESC and PORT_DESC requests and replies (OF1.0 uses stats type 13 for PORT_DESC too).

Must not import: ofproto, conn, or anything above openflow.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from pyvswitch.openflow import registry as R
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.framing import HEADER, MAX_MESSAGE
from pyvswitch.openflow.messages import (OFPMP_DESC, OFPMP_PORT_DESC, OFPMPF_MORE, DescReply,
                                         DescRequest, PortDescReply, PortDescRequest)
from pyvswitch.openflow.wire_port import decode_ports, encode_port

MP10 = struct.Struct("!HH")
assert MP10.size == 4
MP11 = struct.Struct("!HH4x")
assert MP11.size == 8
MP_EXP = struct.Struct("!II")
OFPMP_EXPERIMENTER = 0xFFFF
DESC = struct.Struct("!256s256s256s32s256s")
assert DESC.size == 1056
PORT_DESC15 = struct.Struct("!I4x")
assert PORT_DESC15.size == 8

#: Multipart request types that may legitimately arrive in several pieces.
MULTI_PIECE_REQUESTS = frozenset({12, 16})   # TABLE_FEATURES, FLOW_MONITOR
REASSEMBLY_TIMEOUT_MS = 1000
REASSEMBLY_MAX_BYTES = 4 * 1024 * 1024


def body_offset(version: int) -> int:
    """Where a multipart body starts (after the OpenFlow and multipart headers)."""
    return 12 if version == R.V10 else 16


def parse_mp_header(version: int, buf: bytes) -> tuple[int, int]:
    """``(mp_type, flags)`` of a multipart message (raises OFPBRC_BAD_LEN if short)."""
    R.need(buf, body_offset(version), "multipart header")
    return MP10.unpack_from(buf, 8)


def mp_header(version: int, mp_type: int, flags: int) -> bytes:
    return MP10.pack(mp_type, flags) if version == R.V10 else MP11.pack(mp_type, flags)


def finish_mp(version: int, request: bool, mp_type: int, flags: int, xid: int,
              body: bytes) -> bytes:
    t = R.msg_type("MP_REQUEST" if request else "MP_REPLY", version)
    return R.finish(version, t, xid, mp_header(version, mp_type, flags) + body)


def split_reply(version: int, mp_type: int, xid: int, items: list[bytes],
                prefix: bytes = b"") -> list[bytes]:
    """Replies carrying ``items`` (each already encoded), none over 64 KiB.

    ``prefix`` (e.g. an experimenter vendor/subtype) starts every message's body.  An
    empty list still yields one (empty) reply.
    """
    room = MAX_MESSAGE - 8 - len(mp_header(version, mp_type, 0)) - len(prefix)
    chunks: list[list[bytes]] = [[]]
    used = 0
    for item in items:
        if len(item) > room:
            raise ValueError("one multipart item does not fit in a message")
        if used + len(item) > room:
            chunks.append([])
            used = 0
        chunks[-1].append(item)
        used += len(item)
    out = []
    for i, chunk in enumerate(chunks):
        flags = OFPMPF_MORE if i < len(chunks) - 1 else 0
        out.append(finish_mp(version, False, mp_type, flags, xid, prefix + b"".join(chunk)))
    return out


# --- reassembly of multi-part requests -----------------------------------------------------

@dataclass
class _Partial:
    mp_type: int
    pieces: list[bytes]
    size: int
    deadline: float


@dataclass
class MultipartAssembler:
    """Collects multi-part requests per xid (OVS ofpmp_assembler).

    ``feed(msg, now)`` returns ``[]`` while a request is incomplete and the list of its
    pieces (each a complete message) once the last arrives; a message that is not a
    multipart request, or a single-piece request, comes straight back as ``[msg]``.
    ``run(now)`` expires idle requests; ``next_deadline()`` says when to call it.
    Errors are ``OFPError`` with ``data`` = the first 64 bytes of the request they concern.
    """

    partials: dict[int, _Partial] = field(default_factory=dict)

    def feed(self, msg: bytes, now: float) -> list[bytes]:
        version, mtype, _, xid = HEADER.unpack_from(msg, 0)
        if version not in R.ALL_VERSIONS or mtype != R.TYPES["MP_REQUEST"][version]:
            return [msg]
        mp_type, flags = parse_mp_header(version, msg)
        partial = self.partials.get(xid)
        if partial is None:
            if not flags & OFPMPF_MORE:
                return [msg]
            if mp_type not in MULTI_PIECE_REQUESTS:
                raise OFPError("OFPBRC_BAD_STAT", "request type cannot span messages",
                               bytes(msg[:64]))
            self.partials[xid] = _Partial(mp_type, [msg], len(msg),
                                          now + REASSEMBLY_TIMEOUT_MS)
            return []
        if mp_type != partial.mp_type:
            del self.partials[xid]
            raise OFPError("OFPBRC_BAD_STAT", "multipart type changed", bytes(msg[:64]))
        partial.size += len(msg)
        if partial.size > REASSEMBLY_MAX_BYTES:
            del self.partials[xid]
            raise OFPError("OFPBRC_MULTIPART_BUFFER_OVERFLOW", "over 4 MiB", bytes(msg[:64]))
        partial.pieces.append(msg)
        partial.deadline = now + REASSEMBLY_TIMEOUT_MS
        if flags & OFPMPF_MORE:
            return []
        del self.partials[xid]
        return partial.pieces

    def run(self, now: float) -> list[OFPError]:
        """Drop requests idle for 1 s; one OFPBRC_MULTIPART_REQUEST_TIMEOUT per request."""
        errors = []
        for xid, partial in list(self.partials.items()):
            if now >= partial.deadline:
                del self.partials[xid]
                errors.append(OFPError("OFPBRC_MULTIPART_REQUEST_TIMEOUT",
                                       f"xid {xid:#x}", bytes(partial.pieces[0][:64])))
        return errors

    def next_deadline(self) -> float | None:
        return min((p.deadline for p in self.partials.values()), default=None)


# --- DESC ----------------------------------------------------------------------------------

@R.decodes(*[("mq", v, OFPMP_DESC) for v in R.ALL_VERSIONS])
def _decode_desc_request(version: int, buf: bytes, opts) -> DescRequest:
    R.exact(buf, body_offset(version), "desc request")
    return DescRequest()


@R.encodes(DescRequest, R.ALL_VERSIONS)
def _encode_desc_request(msg, version: int, xid: int) -> bytes:
    return finish_mp(version, True, OFPMP_DESC, 0, xid, b"")


@R.decodes(*[("mr", v, OFPMP_DESC) for v in R.ALL_VERSIONS])
def _decode_desc_reply(version: int, buf: bytes, opts) -> DescReply:
    off = body_offset(version)
    R.exact(buf, off + DESC.size, "desc reply")
    return DescReply(*(R.cstr(s) for s in DESC.unpack_from(buf, off)))


@R.encodes(DescReply, R.ALL_VERSIONS)
def _encode_desc_reply(msg: DescReply, version: int, xid: int) -> bytes:
    body = DESC.pack(R.pad_str(msg.mfr_desc, 256), R.pad_str(msg.hw_desc, 256),
                     R.pad_str(msg.sw_desc, 256), R.pad_str(msg.serial_num, 32),
                     R.pad_str(msg.dp_desc, 256))
    return finish_mp(version, False, OFPMP_DESC, 0, xid, body)


# --- PORT_DESC -----------------------------------------------------------------------------

@R.decodes(*[("mq", v, OFPMP_PORT_DESC) for v in R.ALL_VERSIONS])
def _decode_port_desc_request(version: int, buf: bytes, opts) -> PortDescRequest:
    off = body_offset(version)
    if version == R.V15:
        R.exact(buf, off + 8, "port_desc request")
        return PortDescRequest(PORT_DESC15.unpack_from(buf, off)[0])
    R.exact(buf, off, "port_desc request")
    return PortDescRequest()


@R.encodes(PortDescRequest, R.ALL_VERSIONS)
def _encode_port_desc_request(msg: PortDescRequest, version: int, xid: int) -> bytes:
    body = PORT_DESC15.pack(msg.port_no) if version == R.V15 else b""
    return finish_mp(version, True, OFPMP_PORT_DESC, 0, xid, body)


@R.decodes(*[("mr", v, OFPMP_PORT_DESC) for v in R.ALL_VERSIONS])
def _decode_port_desc_reply(version: int, buf: bytes, opts) -> PortDescReply:
    off = body_offset(version)
    _, flags = parse_mp_header(version, buf)
    return PortDescReply(decode_ports(version, buf, off, len(buf)), bool(flags & OFPMPF_MORE))


@R.encodes(PortDescReply, R.ALL_VERSIONS)
def _encode_port_desc_reply(msg: PortDescReply, version: int, xid: int) -> list[bytes]:
    return split_reply(version, OFPMP_PORT_DESC, xid,
                       [encode_port(p, version) for p in msg.ports])

