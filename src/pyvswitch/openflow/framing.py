"""OpenFlow framing: the 8-byte header and splitting a byte stream into messages.

What this module owns
---------------------
* ``Header``: (version, type, length, xid) of one OpenFlow message, ``parse_header`` and
  ``pack_header``.
* ``split_messages``: the sans-IO splitter the connection layer feeds with received bytes.
  It removes every *complete* message from the front of a ``bytearray`` and leaves a partial
  one in place for the next call.

Invariants: every message returned by ``split_messages`` is exactly ``length`` bytes long
with ``8 <= length <= MAX_MESSAGE``.  A header whose length is below 8 cannot be skipped (the
stream has lost its framing), so it raises ``FramingError`` and the caller disconnects, as
Open vSwitch does.

Time model: none.  Must not import: anything in pyvswitch.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

HEADER = struct.Struct("!BBHI")
assert HEADER.size == 8
HEADER_LEN = 8

#: The largest OpenFlow message: ``length`` is 16 bits.
MAX_MESSAGE = 65535

OFP10_VERSION = 0x01
OFP11_VERSION = 0x02
OFP12_VERSION = 0x03
OFP13_VERSION = 0x04
OFP14_VERSION = 0x05
OFP15_VERSION = 0x06
#: The OpenFlow versions this codec speaks.
SUPPORTED_VERSIONS = frozenset({OFP10_VERSION, OFP13_VERSION, OFP14_VERSION, OFP15_VERSION})


class FramingError(Exception):
    """The byte stream cannot be split into messages any more: disconnect."""


class Header(NamedTuple):
    version: int
    type: int
    length: int
    xid: int


def parse_header(buf: bytes | bytearray | memoryview, offset: int = 0) -> Header:
    """The header at ``offset``; ``buf`` must hold at least 8 bytes from there."""
    return Header(*HEADER.unpack_from(buf, offset))


def pack_header(version: int, msg_type: int, length: int, xid: int) -> bytes:
    return HEADER.pack(version, msg_type, length, xid)


_UNPACK_LENGTH = struct.Struct("!H").unpack_from


def split_messages(buf: bytearray) -> list[bytes]:
    """Remove and return every complete message at the front of ``buf``.

    Bytes of an incomplete trailing message stay in ``buf``.  Raises ``FramingError`` on a
    header whose length field is below 8 (nothing after it can be trusted).
    """
    end = len(buf)
    if end < HEADER_LEN:
        return []
    data = bytes(buf)               # one copy; each message is a slice of it (or it)
    out: list[bytes] = []
    pos = 0
    while end - pos >= HEADER_LEN:
        (length,) = _UNPACK_LENGTH(data, pos + 2)
        if length < HEADER_LEN:
            del buf[:pos]
            raise FramingError(f"OpenFlow message length {length} is below 8")
        if end - pos < length:
            break
        out.append(data if length == end else data[pos:pos + length])
        pos += length
    if pos:
        del buf[:pos]
    return out
