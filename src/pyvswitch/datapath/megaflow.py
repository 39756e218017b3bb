"""Megaflow table: wildcarded flows, one hash table per distinct mask (OVS's dpcls).

What this module owns
---------------------
* ``Megaflow``: one cached flow: key and mask (flow vectors), its compiled actions, and
  the statistics the layer above pushes back to OpenFlow rules (packets, bytes, used,
  tcp_flags).
* ``MegaflowTable``: ``insert``/``remove``/``lookup``.  A subtable per mask holds a dict from
  the masked key (only the slots the mask touches) to the megaflow.  Lookup tries the
  subtables, most-hit first (re-sorted every ``RESORT_EVERY`` lookups).

Invariants: a megaflow's ``key`` equals ``key & mask`` slot by slot; (mask, key) is unique;
a removed megaflow has ``dead`` set and is in no subtable.  The table does not prevent two
megaflows from overlapping: keeping them disjoint is the layer above's job, as in OVS;
lookup returns one of them.
Time model: ``used`` is the caller's ``now`` (ms) of the last hit.
Must not import: ofproto/, openflow/.
"""

from __future__ import annotations

from operator import and_, itemgetter
from typing import Iterator

from pyvswitch.datapath.actions import CompiledActions
from pyvswitch.packet.fields import N_SLOTS

RESORT_EVERY = 4096


class Megaflow:
    __slots__ = ("key", "mask", "compiled", "packets", "bytes", "used", "tcp_flags",
                 "dead", "created", "fast_out", "emc_refs")

    def __init__(self, key: tuple[int, ...], mask: tuple[int, ...],
                 compiled: CompiledActions, now: float = 0) -> None:
        self.key = key
        self.mask = mask
        self.compiled = compiled
        self.packets = 0
        self.bytes = 0
        self.used = 0.0
        self.tcp_flags = 0
        self.dead = False
        self.created = now
        self.fast_out: tuple = ()   # filled by the datapath: bound transmit appends
        # (emc, key) of cache entries made for this megaflow; None once too many to track
        self.emc_refs: list | tuple | None = ()   # () until an EMC holds it (memory)

    @property
    def actions(self):
        return self.compiled.actions


class Subtable:
    __slots__ = ("mask", "slots", "masks", "getter", "flows", "hits")

    def __init__(self, mask: tuple[int, ...]) -> None:
        self.mask = mask
        idx = [i for i, m in enumerate(mask) if m]
        self.slots = tuple(idx)
        self.masks = tuple(mask[i] for i in idx)
        if len(idx) == 1:
            i = idx[0]
            self.getter = lambda flow: (flow[i],)
        elif idx:
            self.getter = itemgetter(*idx)
        else:
            self.getter = lambda flow: ()
        self.flows: dict[tuple[int, ...], Megaflow] = {}
        self.hits = 0

    def masked(self, flow) -> tuple[int, ...]:
        return tuple(map(and_, self.getter(flow), self.masks))


def check_vector(v: tuple[int, ...], what: str) -> tuple[int, ...]:
    v = tuple(v)
    try:
        if len(v) == N_SLOTS and min(v) >= 0 and sum(v) >= 0:   # C loops: cheap per insert
            return v
    except TypeError:
        pass
    raise ValueError(f"{what} must be {N_SLOTS} non-negative ints")


class MegaflowTable:
    def __init__(self) -> None:
        self._subtables: dict[tuple[int, ...], Subtable] = {}
        self._order: list[Subtable] = []
        self._lookups = 0
        self.n_flows = 0

    def insert(self, key: tuple[int, ...], mask: tuple[int, ...],
               compiled: CompiledActions, now: float = 0) -> tuple[Megaflow, bool]:
        """Add a megaflow, or change the actions of the one with this key and mask
        (keeping its statistics).  Returns ``(megaflow, created)``."""
        mask = check_vector(mask, "mask")
        key = check_vector(key, "key")
        masked = tuple(map(and_, key, mask))
        if masked == key:            # already masked (as from the upcall handler): share it
            masked = key
        st = self._subtables.get(mask)
        if st is None:
            st = self._subtables[mask] = Subtable(mask)
            self._order.append(st)
        mk = st.masked(masked)
        mf = st.flows.get(mk)
        if mf is not None:
            mf.compiled = compiled
            return mf, False
        # every megaflow of a subtable shares the subtable's mask tuple (memory)
        mf = st.flows[mk] = Megaflow(masked, st.mask, compiled, now)
        self.n_flows += 1
        return mf, True

    def find(self, key: tuple[int, ...], mask: tuple[int, ...]) -> Megaflow | None:
        st = self._subtables.get(tuple(mask))
        if st is None:
            return None
        return st.flows.get(st.masked(key))

    def remove(self, key: tuple[int, ...], mask: tuple[int, ...]) -> Megaflow | None:
        mask = tuple(mask)
        st = self._subtables.get(mask)
        if st is None:
            return None
        mf = st.flows.pop(st.masked(key), None)
        if mf is None:
            return None
        mf.dead = True
        self.n_flows -= 1
        if not st.flows:
            del self._subtables[mask]
            self._order.remove(st)
        return mf

    def lookup(self, flow) -> Megaflow | None:
        """The megaflow matching ``flow`` (a full flow vector), or None."""
        self._lookups += 1
        if self._lookups >= RESORT_EVERY:
            self._lookups = 0
            self._order.sort(key=lambda s: -s.hits)
            for s in self._order:
                s.hits >>= 1
        for st in self._order:
            mf = st.flows.get(tuple(map(and_, st.getter(flow), st.masks)))
            if mf is not None:
                st.hits += 1
                return mf
        return None

    @property
    def n_masks(self) -> int:
        return len(self._order)

    def clear(self) -> list[Megaflow]:
        gone = list(self)
        for mf in gone:
            mf.dead = True
        self._subtables.clear()
        self._order.clear()
        self.n_flows = 0
        return gone

    def __iter__(self) -> Iterator[Megaflow]:
        for st in list(self._order):
            yield from list(st.flows.values())

    def __len__(self) -> int:
        return self.n_flows
