"""Exact-match cache: frame header bytes -> megaflow, one cache per receiving port.

What this module owns
---------------------
* ``emc_key(frame) -> (key, lo, hi)``: the cache key and the frame lengths it is valid for,
  chosen so that two frames with equal keys whose lengths are in ``[lo, hi]`` (received on
  the same port) always extract to the same flow, without extracting either:
  - an untagged IPv4 frame without options (byte 14 is 0x45) that is at least as long as
    its IPv4 total length says: key = the first ``FAST_KEY_LEN`` (54) bytes, i.e. Ethernet
    + IPv4 + the first 20 bytes of L4, which hold every L4 field the flow has (ports,
    ICMP type/code, TCP flags); ``lo`` = 14 + total length, ``hi`` unbounded.  The length
    bound matters because extraction ignores the network layer of a frame shorter than
    its IP header claims, and the key does not hold the frame length;
  - any other frame: key = the whole frame, ``lo == hi == len(frame)`` (exact by
    construction; such traffic hits the second, whole-frame probe).
  The hit path probes ``frame[:54]`` first (no parsing at all), checks ``lo <= len``, and
  only then probes the whole frame.  A whole-frame key shorter than 54 bytes can only
  equal ``f[:54]`` when ``f`` is that very frame; a whole frame of exactly 54 bytes could
  also equal the prefix of longer frames, so such frames are never cached (they take the
  megaflow lookup every time); that is what lets the entry drop ``hi``.
* ``Emc``: a bounded dict from key to ``(megaflow, lo)``.  Full -> the oldest entry
  goes (dict insertion order).  When a megaflow is deleted its entries go too, so it is
  never hit again: ``drop(key, megaflow)`` for the keys the datapath remembered for it, or
  ``forget(megaflow)``, a scan, when it stopped remembering (too many keys).

Invariants: at most ``capacity`` entries; each value is a live megaflow.
Time model: no clock.
Must not import: ofproto/, openflow/.
"""

from __future__ import annotations

from typing import Any

EMC_DEFAULT_CAPACITY = 8192
FAST_KEY_LEN = 54


UNBOUNDED = 1 << 31


def emc_key(frame: bytes) -> tuple[bytes, int, int]:
    """``(key, lo, hi)`` for ``frame`` (see the module docstring for why it is exact)."""
    n = len(frame)
    if (n >= 34 and frame[12] == 8 and frame[13] == 0 and frame[14] == 0x45
            and 34 <= (frame[16] << 8 | frame[17]) + 14 <= n):
        return frame[:FAST_KEY_LEN], (frame[16] << 8 | frame[17]) + 14, UNBOUNDED
    return frame, n, n


class Emc:
    """Bounded exact-match cache (see module docstring)."""

    __slots__ = ("entries", "capacity")

    def __init__(self, capacity: int = EMC_DEFAULT_CAPACITY) -> None:
        self.entries: dict[bytes, Any] = {}
        self.capacity = capacity

    def insert(self, frame: bytes, megaflow: Any) -> bytes | None:
        """Remember that frames like ``frame`` hit ``megaflow``; returns the key used, or
        None when such a frame is not cacheable."""
        key, lo, hi = emc_key(frame)
        if len(key) == FAST_KEY_LEN and hi != UNBOUNDED:
            return None  # a whole frame of exactly 54 bytes would also match longer ones
        d = self.entries
        if len(d) >= self.capacity and key not in d:
            del d[next(iter(d))]
        d[key] = (megaflow, lo)
        return key

    def drop(self, key: bytes, megaflow: Any) -> None:
        """Remove the entry under ``key`` if it still points at ``megaflow``."""
        e = self.entries.get(key)
        if e is not None and e[0] is megaflow:
            del self.entries[key]

    def lookup(self, frame: bytes) -> Any:
        """The megaflow cached for ``frame``, or None (the same probes as the hit path)."""
        n = len(frame)
        e = self.entries.get(frame[:FAST_KEY_LEN])
        if e is not None and e[1] <= n:
            return e[0]
        if n > FAST_KEY_LEN:
            e = self.entries.get(frame)
            if e is not None:
                return e[0]
        return None

    def forget(self, megaflow: Any) -> int:
        """Remove every entry that points at ``megaflow``; returns how many."""
        d = self.entries
        dead = [k for k, v in d.items() if v[0] is megaflow]
        for k in dead:
            del d[k]
        return len(dead)

    def clear(self) -> None:
        self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)
