"""Recirculation ids and the frozen translations they stand for (OVS ofproto-dpif-rid.c).

What this module owns
---------------------
When translation cannot go on without looking at the packet again (after ``pop_mpls``
the headers beneath the label are unknown until the datapath re-parses the frame), it
*freezes*: the datapath actions so far end with ``recirc(id)``, and ``id`` names a
``FrozenState`` - where the OpenFlow pipeline stood (the *frames*: for the action list
that froze and each list that encloses it, its table, its rule and the instructions still
to run there; the action set; the pipeline registers) - kept here.  The datapath re-extracts
the frame, stamps the flow's ``RECIRC_ID`` slot with ``id`` and looks its megaflows up
again; a miss comes back as an upcall whose translation resumes from the frozen state.

``RecircTable.intern(state, now)`` returns the same id for an equal state, so
re-translating a cached flow (revalidation) yields the same datapath actions and the
megaflow survives.  Ids start at 1 (0 is "not recirculated").  ``gc(live, now)`` drops
states no cached flow refers to and that nothing used for ``GRACE_MS`` (a packet already
on its way may still carry the id).

Invariants: ``by_id`` and ``by_key`` hold the same states; an id is never reused while
its state is held.  Time model: ``now`` (ms) is a parameter.
Must not import: ``vswitchd``, ``datapath.dpif_netdev``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

GRACE_MS = 5_000
MAX_STATES = 65_536


@dataclass(eq=False)
class FrozenState:
    """Where a translation stopped; ``key`` (a hashable tuple) identifies equal states."""

    #: ((table_id, rule, ofpacts.Instructions still to run), ...), innermost list first:
    #: the thaw runs them in this order (``xlate_freeze.py``).
    frames: tuple
    action_set: tuple                # ((key, action), ...) as the action set held them
    pipeline: tuple                  # ((slot, value), ...) metadata, registers, tun_id...
    key: tuple = field(default=())
    recirc_id: int = 0
    used: float = 0.0


class RecircTable:
    """The recirculation ids of one bridge (see module docstring)."""

    def __init__(self) -> None:
        self.by_id: dict[int, FrozenState] = {}
        self.by_key: dict[tuple, FrozenState] = {}
        self._next = 1

    def __len__(self) -> int:
        return len(self.by_id)

    def intern(self, frames: tuple, action_set: tuple, pipeline: tuple,
               now: float) -> int:
        """The id of this frozen state (allocated on first use); 0 if the table is full."""
        key = (tuple((t, id(r), ins) for t, r, ins in frames), action_set, pipeline)
        try:
            state = self.by_key.get(key)
        except TypeError:                 # an unhashable action: never shared
            key = (tuple((t, id(r), id(ins)) for t, r, ins in frames), action_set,
                   pipeline)
            state = self.by_key.get(key)
        if state is None:
            if len(self.by_id) >= MAX_STATES:
                return 0
            rid = self._next
            while rid in self.by_id or rid == 0:
                rid = (rid + 1) & 0xFFFFFFFF
            self._next = (rid + 1) & 0xFFFFFFFF or 1
            state = FrozenState(frames, action_set, pipeline, key, rid)
            self.by_id[rid] = state
            self.by_key[key] = state
        state.used = now
        return state.recirc_id

    def get(self, recirc_id: int, now: float | None = None) -> FrozenState | None:
        state = self.by_id.get(recirc_id)
        if state is not None and now is not None:
            state.used = max(state.used, now)
        return state

    def gc(self, live: Iterable[int], now: float) -> int:
        """Forget states not in ``live`` and idle for ``GRACE_MS``; returns how many."""
        keep = set(live)
        gone = [rid for rid, st in self.by_id.items()
                if rid not in keep and now - st.used > GRACE_MS]
        for rid in gone:
            state = self.by_id.pop(rid)
            self.by_key.pop(state.key, None)
        return len(gone)
