"""The differences between the Pythons pyvswitchd runs on, in one place.

pyvswitchd runs on CPython 3.11+ and on PyPy 3.9 (Debian 12's ``pypy3``), whose JIT
makes the flow-table paths about twice as fast (docs/benchmarks.md).  This module owns
the version switches only; it imports nothing from pyvswitch.
"""

from __future__ import annotations

import sys
from bisect import insort
from typing import Any, Callable

#: Keyword arguments for ``dataclass(..., **SLOTS)``: ``__slots__`` where the dataclass
#: module can make them (3.10+).  PyPy's objects need none to stay small.
SLOTS: dict[str, bool] = {"slots": True} if sys.version_info >= (3, 10) else {}

try:
    import tomllib
except ModuleNotFoundError:     # before 3.11 the same parser is the tomli package
    import tomli as tomllib     # type: ignore[no-redef]


def _insort_by(seq: list, item: Any, key: Callable[[Any], Any]) -> None:
    """``bisect.insort(seq, item, key=key)`` for Pythons whose bisect has no ``key``."""
    item_key, lo, hi = key(item), 0, len(seq)
    while lo < hi:
        mid = (lo + hi) // 2
        if item_key < key(seq[mid]):
            hi = mid
        else:
            lo = mid + 1
    seq.insert(lo, item)


#: ``insort_by(seq, item, key)``: insert after the items whose key is <= item's.
insort_by = insort if sys.version_info >= (3, 10) else _insort_by

__all__ = ["SLOTS", "insort_by", "tomllib"]
