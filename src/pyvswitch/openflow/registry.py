"""The codec's dispatch tables, filled by decorators in the per-concept wire modules.

What this module owns
---------------------
* ``DECODERS``: a key naming one wire message -> ``fn(version, buf, opts) -> Message``.
  Keys are ``("t", version, type)`` for plain messages, ``("x", version, experimenter,
  subtype)`` for experimenter/vendor messages, ``("mq"|"mr", version, mp_type)`` for
  multipart/stats requests|replies and ``("mqx"|"mrx", version, vendor, subtype)`` for
  experimenter multiparts.
* ``ENCODERS``: ``(message class, version) -> fn(msg, version, xid) -> bytes | list[bytes]``.
* Shared wire constants (message type numbers per version, vendor ids) and small helpers:
  ``need`` (length check raising OFPBRC_BAD_LEN) and ``finish`` (patch the header length).

Invariants: a key is registered once (a duplicate raises at import time).

Must not import: anything in pyvswitch except ``openflow.errors`` and ``openflow.framing``.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Iterable

from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.framing import HEADER, MAX_MESSAGE

V10, V13, V14, V15 = 0x01, 0x04, 0x05, 0x06
ALL_VERSIONS = (V10, V13, V14, V15)
V13_UP = (V13, V14, V15)
V14_UP = (V14, V15)

NX_VENDOR_ID = 0x00002320
ONF_VENDOR_ID = 0x4F4E4600

# Message types shared by every version.
OFPT_HELLO, OFPT_ERROR, OFPT_ECHO_REQUEST, OFPT_ECHO_REPLY, OFPT_EXPERIMENTER = range(5)
OFPT_FEATURES_REQUEST, OFPT_FEATURES_REPLY = 5, 6
OFPT_GET_CONFIG_REQUEST, OFPT_GET_CONFIG_REPLY, OFPT_SET_CONFIG = 7, 8, 9
OFPT_PACKET_IN, OFPT_FLOW_REMOVED, OFPT_PORT_STATUS, OFPT_PACKET_OUT, OFPT_FLOW_MOD = \
    10, 11, 12, 13, 14

#: Types whose number depends on the version: name -> {version: type}.
TYPES: dict[str, dict[int, int]] = {
    "PORT_MOD": {V10: 15, V13: 16, V14: 16, V15: 16},
    "TABLE_MOD": {V13: 17, V14: 17, V15: 17},
    "MP_REQUEST": {V10: 16, V13: 18, V14: 18, V15: 18},
    "MP_REPLY": {V10: 17, V13: 19, V14: 19, V15: 19},
    "BARRIER_REQUEST": {V10: 18, V13: 20, V14: 20, V15: 20},
    "BARRIER_REPLY": {V10: 19, V13: 21, V14: 21, V15: 21},
    "ROLE_REQUEST": {V13: 24, V14: 24, V15: 24},
    "ROLE_REPLY": {V13: 25, V14: 25, V15: 25},
    "GET_ASYNC_REQUEST": {V13: 26, V14: 26, V15: 26},
    "GET_ASYNC_REPLY": {V13: 27, V14: 27, V15: 27},
    "SET_ASYNC": {V13: 28, V14: 28, V15: 28},
    "ROLE_STATUS": {V14: 30, V15: 30},
}

# Nicira subtypes (NXT_*) and ONF experimenter types.
NXT_ROLE_REQUEST, NXT_ROLE_REPLY = 10, 11
NXT_SET_FLOW_FORMAT, NXT_FLOW_MOD, NXT_FLOW_REMOVED, NXT_FLOW_MOD_TABLE_ID = 12, 13, 14, 15
NXT_SET_PACKET_IN_FORMAT, NXT_PACKET_IN, NXT_SET_ASYNC_CONFIG, NXT_SET_CONTROLLER_ID = \
    16, 17, 19, 20
ONFT_ROLE_STATUS = 1911

Decoder = Callable[[int, bytes, Any], Any]
Encoder = Callable[[Any, int, int], "bytes | list[bytes]"]

DECODERS: dict[tuple, Decoder] = {}
ENCODERS: dict[tuple[type, int], Encoder] = {}

#: Everything the codec decodes after the OpenFlow header, as (version, type) pairs, so that
#: an unknown experimenter or multipart type can be told apart from an unknown message type.
EXPERIMENTER_TYPE = OFPT_EXPERIMENTER


def _register(table: dict, key: tuple, fn: Callable) -> None:
    if key in table:
        raise AssertionError(f"codec key {key!r} registered twice")
    table[key] = fn


def decodes(*keys: tuple) -> Callable[[Decoder], Decoder]:
    """Register the decorated function for every key in ``keys``."""
    def deco(fn: Decoder) -> Decoder:
        for key in keys:
            _register(DECODERS, key, fn)
        return fn
    return deco


def decodes_type(versions: Iterable[int], type_or_name: int | str) -> Callable[[Decoder], Decoder]:
    """Register a decoder for a plain message type (a number, or a ``TYPES`` name)."""
    keys = []
    for v in versions:
        t = TYPES[type_or_name][v] if isinstance(type_or_name, str) else type_or_name
        keys.append(("t", v, t))
    return decodes(*keys)


def decodes_exp(versions: Iterable[int], vendor: int, subtype: int):
    return decodes(*[("x", v, vendor, subtype) for v in versions])


def encodes(cls: type, versions: Iterable[int]) -> Callable[[Encoder], Encoder]:
    def deco(fn: Encoder) -> Encoder:
        for v in versions:
            _register(ENCODERS, (cls, v), fn)
        return fn
    return deco


def msg_type(name: str, version: int) -> int:
    return TYPES[name][version]


# --- helpers for the wire modules ----------------------------------------------------------

def need(buf: bytes, length: int, what: str = "message") -> None:
    """Raise OFPBRC_BAD_LEN unless ``buf`` holds at least ``length`` bytes."""
    if len(buf) < length:
        raise OFPError("OFPBRC_BAD_LEN", f"{what} needs {length} bytes, has {len(buf)}")


def exact(buf: bytes, length: int, what: str = "message") -> None:
    if len(buf) != length:
        raise OFPError("OFPBRC_BAD_LEN", f"{what} must be {length} bytes, is {len(buf)}")


def finish(version: int, msg_type_: int, xid: int, body: bytes | bytearray) -> bytes:
    """Header + ``body`` as one message (raises ValueError over 64 KiB)."""
    length = 8 + len(body)
    if length > MAX_MESSAGE:
        raise ValueError(f"OpenFlow message of {length} bytes exceeds 65535")
    return HEADER.pack(version, msg_type_, length, xid) + bytes(body)


_EXP = struct.Struct("!II")


def finish_exp(version: int, xid: int, vendor: int, subtype: int, body: bytes) -> bytes:
    """An experimenter message (Nicira/ONF layout: vendor u32 + subtype u32 + body)."""
    return finish(version, OFPT_EXPERIMENTER, xid, _EXP.pack(vendor, subtype) + body)


def cstr(raw: bytes) -> str:
    """A NUL-padded fixed-width string field as text."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def pad_str(text: str, width: int) -> bytes:
    """``text`` NUL-padded to ``width`` bytes, truncated so that a NUL always ends it."""
    raw = text.encode("utf-8")[: width - 1]
    return raw + b"\0" * (width - len(raw))


def pad8(n: int) -> int:
    """Bytes of padding that bring ``n`` to a multiple of 8."""
    return (-n) & 7
