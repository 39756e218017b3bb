"""Internet checksums (RFC 1071), their incremental update (RFC 1624) and SCTP's CRC32c.

What this module owns: the arithmetic only.  Callers locate the checksum field and the
covered bytes; these functions never parse a frame.

Conventions: a "sum" is a ones-complement sum of 16-bit big-endian words, kept as an int
in ``[0, 0xffff]``; a "checksum" is the complemented sum as it travels on the wire.  The
whole-buffer sum uses the identity ``2**16 == 1 (mod 0xffff)``: the ones-complement sum of
a byte string's 16-bit words is the string read as one big-endian integer, modulo 0xffff
(with 0xffff standing for a non-zero multiple).  That keeps the per-byte work in C.

Invariants: ``update`` on a valid checksum yields the checksum a full recomputation would
give (RFC 1624 eqn. 3, which never produces 0xffff from a non-zero sum).

Must not import: anything from pyvswitch.
"""

from __future__ import annotations

__all__ = ["ones_sum", "checksum", "update", "pseudo_sum_ipv4", "pseudo_sum_ipv6",
           "l4_checksum_ipv4", "l4_checksum_ipv6", "crc32c", "sctp_checksum"]

_M = 0xFFFF


def ones_sum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """Ones-complement sum of ``data`` (odd length padded with a zero byte) plus ``initial``."""
    n = int.from_bytes(data, "big")
    if len(data) & 1:
        n <<= 8
    n += initial
    if not n:
        return 0
    s = n % _M
    return s or _M


def checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """The checksum field value for ``data`` (whose own checksum field must read 0)."""
    return ~ones_sum(data, initial) & _M


def update(csum: int, old: int, new: int) -> int:
    """RFC 1624: the checksum after a covered value changed from ``old`` to ``new``.

    ``old``/``new`` may be any multiple of 16 bits wide (a port, an IPv4 or IPv6 address)
    as long as they are word-aligned in the covered data.
    """
    s = ((~csum & _M) + new % _M - old % _M) % _M
    return ~(s or _M) & _M


def pseudo_sum_ipv4(src: int, dst: int, proto: int, length: int) -> int:
    """Sum of the IPv4 pseudo-header (RFC 793/768) for an L4 segment of ``length`` bytes."""
    s = (src % _M + dst % _M + proto + length) % _M
    return s or _M


def pseudo_sum_ipv6(src: int, dst: int, proto: int, length: int) -> int:
    """Sum of the IPv6 pseudo-header (RFC 8200 section 8.1)."""
    s = (src % _M + dst % _M + length % _M + proto) % _M
    return s or _M


def l4_checksum_ipv4(src: int, dst: int, proto: int, segment: bytes | bytearray) -> int:
    """TCP/UDP checksum over an IPv4 pseudo-header and ``segment`` (checksum field zero)."""
    return checksum(segment, pseudo_sum_ipv4(src, dst, proto, len(segment)))


def l4_checksum_ipv6(src: int, dst: int, proto: int, segment: bytes | bytearray) -> int:
    """TCP/UDP/ICMPv6 checksum over an IPv6 pseudo-header and ``segment``."""
    return checksum(segment, pseudo_sum_ipv6(src, dst, proto, len(segment)))


def _crc32c_table() -> tuple[int, ...]:
    poly = 0x82F63B78  # Castagnoli polynomial, bit-reversed
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC32C = _crc32c_table()


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """CRC-32C (Castagnoli) of ``data``, as SCTP (RFC 3309) defines it."""
    crc = 0xFFFFFFFF
    table = _CRC32C
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def sctp_checksum(packet: bytes | bytearray) -> int:
    """The value for SCTP's checksum field (bytes 8-11 of ``packet`` are taken as zero).

    SCTP stores the CRC in little-endian byte order; this returns the 32-bit field as it
    reads big-endian on the wire, ready for ``struct.pack('!I', ...)``.
    """
    crc = crc32c(bytes(packet[:8]) + b"\0\0\0\0" + bytes(packet[12:]))
    return int.from_bytes(crc.to_bytes(4, "little"), "big")
