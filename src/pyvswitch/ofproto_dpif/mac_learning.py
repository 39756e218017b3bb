"""MAC learning table for the NORMAL action (OVS lib/mac-learning.c).

What this module owns
---------------------
``MacTable``: (VLAN, MAC) -> (port, last seen) with aging (``mac-aging-time``, default
300 s) and a size limit (``mac-table-size``, default 8192; when full the least recently
used entry goes).  ``learn`` reports whether forwarding decisions may have changed (a new
entry or a move), so the provider knows to revalidate cached datapath flows.

Time model: ``now`` (milliseconds) is a parameter.  Must not import ofproto or datapath.
"""

from __future__ import annotations

from collections import OrderedDict

DEFAULT_AGING_S = 300
DEFAULT_SIZE = 8192


class MacTable:
    def __init__(self, aging_s: int = DEFAULT_AGING_S, max_entries: int = DEFAULT_SIZE) -> None:
        self.aging_ms = aging_s * 1000
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[int, int], list] = OrderedDict()  # LRU order
        self.n_learned = 0
        self.n_moved = 0
        self.n_expired = 0
        self.n_evicted = 0
        self.changed = False  # set when a decision could differ; the owner clears it

    def configure(self, aging_s: int, max_entries: int) -> None:
        self.aging_ms = max(1, aging_s) * 1000
        self.max_entries = max(10, max_entries)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
            self.n_evicted += 1
            self.changed = True

    def learn(self, vlan: int, mac: int, port: int, now: float) -> bool:
        """Remember that ``mac`` on ``vlan`` was seen on ``port``; True if that is news."""
        if mac & (1 << 40):        # multicast/broadcast sources are never learned
            return False
        key = (vlan, mac)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            entry[1] = now
            if entry[0] == port:
                return False
            entry[0] = port
            self.n_moved += 1
            self.changed = True
            return True
        if len(self._entries) >= self.max_entries:
            self._entries.popitem(last=False)
            self.n_evicted += 1
        self._entries[key] = [port, now]
        self.n_learned += 1
        self.changed = True
        return True

    def lookup(self, vlan: int, mac: int, now: float) -> int | None:
        entry = self._entries.get((vlan, mac))
        if entry is None or now - entry[1] >= self.aging_ms:
            return None
        return entry[0]

    def expire(self, now: float) -> int:
        """Drop entries idle longer than the aging time; return how many went."""
        old = [k for k, (_, seen) in self._entries.items() if now - seen >= self.aging_ms]
        for k in old:
            del self._entries[k]
        if old:
            self.n_expired += len(old)
            self.changed = True
        return len(old)

    def flush(self, port: int | None = None) -> None:
        """Forget everything (``fdb/flush``), or only what was learned on ``port``."""
        if port is None:
            self._entries.clear()
        else:
            for k in [k for k, (p, _) in self._entries.items() if p == port]:
                del self._entries[k]
        self.changed = True

    def entries(self, now: float):
        """(port, vlan, mac, age in seconds) for ``fdb/show``."""
        for (vlan, mac), (port, seen) in self._entries.items():
            yield port, vlan, mac, int((now - seen) // 1000)

    def __len__(self) -> int:
        return len(self._entries)
