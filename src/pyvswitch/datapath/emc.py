"""Exact-match cache: frame header bytes -> megaflow, one cache per receiving port.

What this module owns
---------------------
* ``emc_key(frame)``: the cache key, chosen so that two frames with equal keys (received on
  the same port) always extract to the same flow, without extracting either:
  - the common case, an untagged IPv4 frame without options (byte 14 is 0x45) that is at
    least as long as its IPv4 total length says: the first 54 bytes, i.e. Ethernet + IPv4
    + the first 20 bytes of L4, which hold every L4 field the flow has (ports, ICMP
    type/code, TCP flags).  The length condition matters because extraction ignores L4 of
    a frame shorter than its IP header claims, and the key does not hold the frame length;
  - every other frame: the whole frame (exact by construction; such traffic simply hits
    less often and falls through to the megaflow lookup).
* ``Emc``: a bounded dict from key to megaflow entry.  Full -> the oldest entry goes (dict
  insertion order).  ``forget(entry)`` drops every key pointing at a megaflow being
  deleted, so a deleted megaflow is never hit again.

Invariants: at most ``capacity`` entries; each value is a live megaflow.
Time model: no clock.
Must not import: ofproto/, openflow/.
"""

from __future__ import annotations

from typing import Any

EMC_DEFAULT_CAPACITY = 8192
FAST_KEY_LEN = 54


def emc_key(frame: bytes) -> bytes:
    """The exact-match key of ``frame`` (see the module docstring for why it is exact)."""
    if (len(frame) >= 34 and frame[12] == 8 and frame[13] == 0 and frame[14] == 0x45
            and 34 <= (frame[16] << 8 | frame[17]) + 14 <= len(frame)):
        return frame[:FAST_KEY_LEN]
    return frame


class Emc:
    """Bounded exact-match cache (see module docstring)."""

    __slots__ = ("entries", "capacity")

    def __init__(self, capacity: int = EMC_DEFAULT_CAPACITY) -> None:
        self.entries: dict[bytes, Any] = {}
        self.capacity = capacity

    def insert(self, key: bytes, megaflow: Any) -> None:
        d = self.entries
        if len(d) >= self.capacity and key not in d:
            del d[next(iter(d))]
        d[key] = megaflow

    def lookup(self, key: bytes) -> Any:
        return self.entries.get(key)

    def forget(self, megaflow: Any) -> int:
        """Remove every entry that points at ``megaflow``; returns how many."""
        d = self.entries
        dead = [k for k, v in d.items() if v is megaflow]
        for k in dead:
            del d[k]
        return len(dead)

    def clear(self) -> None:
        self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)
