"""Bundles: BUNDLE_CONTROL and BUNDLE_ADD_MESSAGE (OF1.4+, ONF 2300/2301 for OF1.3).

What this module owns
---------------------
The two bundle messages, their dataclasses and wire layouts.  ``BundleAdd.message`` keeps
the inner message as raw bytes: ofproto decodes it with ``codec.decode`` when it validates
the bundle, so the inner message's own errors surface where OVS reports them.

Invariants: a decoded ``BundleAdd`` holds a complete inner message whose header length
fits the outer message and whose version equals the outer one.

Must not import: ofproto, conn, or anything above openflow.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pyvswitch.openflow import registry as R
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages import Message

OFPT_BUNDLE_CONTROL, OFPT_BUNDLE_ADD_MESSAGE = 33, 34
ONFT_BUNDLE_CONTROL, ONFT_BUNDLE_ADD_MESSAGE = 2300, 2301

OFPBCT_OPEN_REQUEST, OFPBCT_OPEN_REPLY, OFPBCT_CLOSE_REQUEST, OFPBCT_CLOSE_REPLY = 0, 1, 2, 3
OFPBCT_COMMIT_REQUEST, OFPBCT_COMMIT_REPLY, OFPBCT_DISCARD_REQUEST, OFPBCT_DISCARD_REPLY = \
    4, 5, 6, 7
OFPBF_ATOMIC, OFPBF_ORDERED = 1, 2

CONTROL = struct.Struct("!IHH")
assert CONTROL.size == 8
ADD = struct.Struct("!I2xH")
assert ADD.size == 8
#: ADD followed by the inner message's version, type and length.
ADD_INNER = struct.Struct("!I2xHBBH")
assert ADD_INNER.size == 12


@dataclass(frozen=True)
class BundleControl(Message):
    bundle_id: int
    type: int
    flags: int = 0
    properties: bytes = b""


@dataclass
class BundleAdd(Message):
    """Not frozen (unlike the other messages): a bundle of 100k flows decodes 100k of
    these, and a frozen dataclass costs twice as much to build; treat it as immutable
    all the same."""

    bundle_id: int
    message: bytes          # one complete OpenFlow message of the session's version
    flags: int = 0
    properties: bytes = b""


def _body(version: int, buf: bytes) -> int:
    """Offset of the bundle body: after the ONF experimenter header in OF1.3."""
    return 16 if version == R.V13 else 8


def _decode_control(version: int, buf: bytes, opts) -> BundleControl:
    off = _body(version, buf)
    R.need(buf, off + 8, "bundle_control")
    bundle_id, ctype, flags = CONTROL.unpack_from(buf, off)
    return BundleControl(bundle_id, ctype, flags, bytes(buf[off + 8:]))


def parse_add(version: int, buf: bytes) -> tuple[int, int, bytes, bytes]:
    """A BUNDLE_ADD_MESSAGE's bundle id, flags, inner message and properties (the
    inner message and properties as copies).  Open vSwitch's checks, in its order: room
    for the inner header, its version (OFPBFC_BAD_VERSION has no OpenFlow 1.3 number:
    such a session gets NXBRC_UNENCODABLE_ERROR, as from OVS), its length."""
    off = 16 if version == R.V13 else 8
    start = off + 8
    size = len(buf)
    if size < start + 8:
        R.need(buf, start, "bundle_add_message")
        raise OFPError("OFPBFC_MSG_BAD_LEN", "no room for the inner message's header")
    bundle_id, flags, inner_version, _, inner_len = ADD_INNER.unpack_from(buf, off)
    if inner_version != version:
        raise OFPError("OFPBFC_BAD_VERSION", f"inner version {inner_version:#x}")
    end = start + inner_len
    if inner_len < 8 or end > size:
        raise OFPError("OFPBFC_MSG_BAD_LEN", f"inner message length {inner_len}")
    if end == size:                 # no properties (what ovs-ofctl sends)
        return bundle_id, flags, bytes(buf[start:end]), b""
    props_at = start + ((inner_len + 7) & ~7)
    if props_at > size:
        raise OFPError("OFPBFC_MSG_BAD_LEN", "padding after the inner message")
    return bundle_id, flags, bytes(buf[start:end]), bytes(buf[props_at:])


def _decode_add(version: int, buf: bytes, opts) -> BundleAdd:
    bundle_id, flags, inner, props = parse_add(version, buf)
    return BundleAdd(bundle_id, inner, flags, props)


R.decodes_type(R.V14_UP, OFPT_BUNDLE_CONTROL)(_decode_control)
R.decodes_type(R.V14_UP, OFPT_BUNDLE_ADD_MESSAGE)(_decode_add)
R.decodes_exp([R.V13], R.ONF_VENDOR_ID, ONFT_BUNDLE_CONTROL)(_decode_control)
R.decodes_exp([R.V13], R.ONF_VENDOR_ID, ONFT_BUNDLE_ADD_MESSAGE)(_decode_add)


def _finish(version: int, xid: int, otype: int, onft: int, body: bytes) -> bytes:
    if version == R.V13:
        return R.finish_exp(version, xid, R.ONF_VENDOR_ID, onft, body)
    return R.finish(version, otype, xid, body)


@R.encodes(BundleControl, R.V13_UP)
def _encode_control(msg: BundleControl, version: int, xid: int) -> bytes:
    return _finish(version, xid, OFPT_BUNDLE_CONTROL, ONFT_BUNDLE_CONTROL,
                   CONTROL.pack(msg.bundle_id, msg.type, msg.flags) + msg.properties)


@R.encodes(BundleAdd, R.V13_UP)
def _encode_add(msg: BundleAdd, version: int, xid: int) -> bytes:
    inner = msg.message
    if msg.properties:
        inner += b"\0" * R.pad8(len(inner))
    return _finish(version, xid, OFPT_BUNDLE_ADD_MESSAGE, ONFT_BUNDLE_ADD_MESSAGE,
                   ADD.pack(msg.bundle_id, msg.flags) + inner + msg.properties)
