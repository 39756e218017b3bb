"""Upcalls, cached-flow bookkeeping and revalidation (OVS ofproto-dpif-upcall.c).

What this module owns
---------------------
``UpcallHandler`` turns datapath misses into megaflows, and keeps one ``Ukey`` per
installed megaflow (keyed by the megaflow's key and mask): the actions it got, the rules
it traversed and the MAC-learning side effects it had.  With those it

* **revalidates**: after a table, port or MAC-table change, re-translates every cached
  flow (after flow_mods only, just those the changed rules can affect:
  ``revalidate_rules``); one whose actions or mask changed is deleted from the datapath
  (the next packet is translated afresh), so nothing stale forwards once a change is
  acknowledged.  The
  flow translated is the megaflow's key: a translation reads only fields its mask keeps
  (that is what the mask means), so the key gives the result every packet of the
  megaflow would get, and the whole packet flow need not be kept per megaflow (memory);
* **pushes statistics**: datapath hit counters move into the rules' (and groups')
  counters and the tables' lookup/match counts, so dump-flows counters, table
  statistics and idle timeouts see cache hits;
* **forgets frozen translations** (``recirc.py``) that no cached flow uses any more,
  after each revalidation;
* **expires** cached flows idle longer than ``max_idle_ms`` (OVS other_config:max-idle,
  10 s) and keeps at most ``flow_limit`` of them.

Time model: ``now`` (ms) is a parameter.  Must not import ``vswitchd``.
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache
from itertools import compress
from operator import and_
from dataclasses import dataclass

from pyvswitch.datapath.actions import Clone, Recirc
from pyvswitch.datapath.dpif import Upcall, UpcallKind
from pyvswitch.packet.fields import Slot
from pyvswitch.ofproto_dpif.xlate import translate
from pyvswitch.util.compat import SLOTS
from pyvswitch.util.vlog import Logger

log = Logger("upcall")
_ALL_SLOTS = tuple(range(len(Slot)))

#: New table-0 rules a revalidation tests cached flows against one by one; with more,
#: the flows that looked table 0 up are translated again (cheaper than the tests).
OVERLAP_TESTS_MAX = 8
MAX_IDLE_MS = 10_000
FLOW_LIMIT = 200_000
STATS_INTERVAL_MS = 500
UPCALLS_PER_PASS = 64     # misses translated per loop pass (OVS handlers batch 64 too)
MAX_MASKS = 4096          # distinct megaflow masks remembered for sharing
MAX_PENDING = 1024        # upcalls waiting for a later pass; more are dropped and counted


@dataclass(**SLOTS)
class Ukey:
    actions: tuple
    rules: tuple
    learned: tuple                 # (vlan, mac, port) learned by the first packet
    created: float
    packets: int = 0               # datapath counters already credited
    bytes: int = 0
    used: float = 0
    lookups: tuple = ()            # table lookups (xlate.XlateOut.lookups), interned


class UpcallHandler:
    def __init__(self, bridge, dpif) -> None:
        self.bridge = bridge          # the OfprotoDpif (an xlate.XlateBridge)
        self.dpif = dpif
        self.ukeys: dict[tuple, Ukey] = {}
        self.masks: dict[tuple, tuple] = {}   # each distinct megaflow mask, once
        self._lookup_sets: dict[tuple, tuple] = {}   # each distinct Ukey.lookups, once
        self.max_idle_ms = MAX_IDLE_MS
        self.flow_limit = FLOW_LIMIT
        self.next_stats = 0.0
        self.last_push = 0.0          # push_stats credited every hit before this time
        self.n_upcalls = 0
        self.n_revalidations = 0
        self.n_flows_evicted = 0
        self.n_lost = 0
        self.pending: deque[Upcall] = deque()
        self.recv_enabled = True      # False during flow-restore-wait: upcalls are lost

    # --- misses -----------------------------------------------------------------------
    def handle_miss(self, up: Upcall, now: float) -> None:
        bridge = self.bridge
        flow = self._openflow_flow(up.flow)
        if flow is None:
            return
        xout = translate(bridge, flow, now)
        self.n_upcalls += 1
        for rule in xout.rules:
            rule.add_stats(1, len(up.frame), now)
        actions = tuple(xout.actions)
        mask = tuple(xout.wc)
        masks = self.masks                # a handful of distinct masks: share them
        if len(masks) >= MAX_MASKS:       # (only an optimisation: never let it grow)
            masks.clear()
        mask = masks.setdefault(mask, mask)
        key = tuple(map(and_, up.flow, mask))
        if (key, mask) not in self.ukeys and len(self.ukeys) < self.flow_limit:
            self.dpif.flow_put(key, mask, actions, now)
            self.ukeys[(key, mask)] = Ukey(actions, tuple(xout.rules),
                                           tuple(xout.learned), now, used=now,
                                           lookups=self._interned(xout.lookups))
        self.dpif.execute(up.frame, actions, now, up.in_odp_port)

    def _interned(self, lookups: list) -> tuple:
        """``lookups`` as a tuple shared by every cached flow with the same ones."""
        key = tuple(lookups)
        shared = self._lookup_sets.get(key)
        if shared is None:
            if len(self._lookup_sets) >= MAX_MASKS:
                self._lookup_sets.clear()
            shared = self._lookup_sets[key] = key
        return shared

    def _openflow_flow(self, dp_flow: tuple[int, ...]) -> tuple[int, ...] | None:
        """A datapath flow with its in_port renumbered as OpenFlow numbers it (None if
        the port is gone)."""
        ofp_in = self.bridge.odp_to_ofp.get(dp_flow[Slot.IN_PORT])
        if ofp_in is None:
            return None
        flow = list(dp_flow)
        flow[Slot.IN_PORT] = ofp_in
        return tuple(flow)

    # --- revalidation -----------------------------------------------------------------
    def revalidate(self, now: float) -> int:
        """Re-translate every cached flow; delete those that would now differ."""
        return self._revalidate(list(self.ukeys.items()), now)

    def revalidate_rules(self, added, removed, now: float) -> int:
        """Revalidate after flow-table changes only (no group, meter, port or MAC-table
        change): ``added`` rules, ``removed`` rules (replaced ones included).

        Only the cached flows these rules can affect are re-translated:
        * one that hit a removed rule;
        * for a rule added to table T, one whose translation looked table T up
          (``Ukey.lookups``), except that when T is 0, the flow was not resumed after a
          recirculation and table 0 was looked up once (so with the packet as the
          datapath key has it), only if some packet of its megaflow matches the new
          rule.  A later lookup may see rewritten fields: then the flow is redone.
        Any other cached flow translates the same: every lookup it made returns the same
        rule (and its megaflow mask stays sufficient)."""
        if not self.ukeys:
            return 0
        gone = {id(rule) for rule in removed}
        tables = {rule.table_id for rule in added}
        table0 = [rule.match for rule in added if rule.table_id == 0]
        # Testing a megaflow against each new table-0 rule costs about a tenth of
        # translating it again: past OVERLAP_TESTS_MAX rules, translate instead.
        tests = (None if len(table0) > OVERLAP_TESTS_MAX
                 else [_overlap_test(match) for match in table0])
        odp_to_ofp = self.bridge.odp_to_ofp
        todo = []
        for item in self.ukeys.items():
            (key, mask), ukey = item
            if gone and any(id(rule) in gone for rule in ukey.rules):
                todo.append(item)
                continue
            if not tables:
                continue
            looked, table0_twice = _looked_up(ukey.lookups)
            if not tables & looked:
                continue
            if (tables - {0}) & looked:
                todo.append(item)
            elif (table0_twice or key[Slot.RECIRC_ID] or tests is None
                    or any(_overlaps(test, key, mask, odp_to_ofp) for test in tests)):
                todo.append(item)
        return self._revalidate(todo, now)

    def _revalidate(self, items, now: float) -> int:
        self.n_revalidations += 1
        bridge = self.bridge
        bridge.may_learn = False
        deleted = 0
        try:
            for (key, mask), ukey in items:
                flow = self._openflow_flow(key)
                xout = translate(bridge, flow, now) if flow is not None else None
                if (xout is None or tuple(xout.wc) != mask
                        or tuple(xout.actions) != ukey.actions):
                    self._delete(key, mask, ukey, now)
                    deleted += 1
                else:
                    ukey.rules = tuple(xout.rules)
                    ukey.lookups = self._interned(xout.lookups)
        finally:
            bridge.may_learn = True
        self.gc_recirc(now)
        return deleted

    def gc_recirc(self, now: float) -> int:
        """Drop the frozen translations no cached flow resumes or recirculates to."""
        table = getattr(self.bridge, "recirc", None)
        if table is None or not len(table):
            return 0
        live = set()
        for (key, _), ukey in self.ukeys.items():
            if key[Slot.RECIRC_ID]:
                live.add(key[Slot.RECIRC_ID])
            _recirc_ids(ukey.actions, live)
        return table.gc(live, now)

    def _delete(self, key, mask, ukey: Ukey, now: float) -> None:
        final = self.dpif.flow_del(key, mask)
        if final is not None:
            self._credit(ukey, final.packets, final.bytes, final.used_ms, now)
        self.ukeys.pop((key, mask), None)

    def flush(self, now: float) -> None:
        for (key, mask), ukey in list(self.ukeys.items()):
            self._delete(key, mask, ukey, now)

    # --- statistics -------------------------------------------------------------------
    def push_stats(self, now: float) -> None:
        """Move the hit counts of the megaflows used since the last push into their rules
        (refreshing learned MACs); delete the flows idle longer than ``max_idle_ms``."""
        ukeys = self.ukeys
        for key, mask, packets, nbytes, used in self.dpif.flow_stats_since(self.last_push):
            ukey = ukeys.get((key, mask))
            if ukey is not None:
                self._credit(ukey, packets, nbytes, used, now)
        self.last_push = now
        idle_before = now - self.max_idle_ms
        for (key, mask), ukey in [item for item in ukeys.items()
                                  if max(item[1].used, item[1].created) < idle_before]:
            self._delete(key, mask, ukey, now)
            self.n_flows_evicted += 1
        self.next_stats = now + STATS_INTERVAL_MS

    def _credit(self, ukey: Ukey, packets: int, nbytes: int, used: float,
                now: float) -> None:
        dp = packets - ukey.packets
        db = nbytes - ukey.bytes
        if dp <= 0:
            return
        ukey.packets, ukey.bytes = packets, nbytes
        ukey.used = used or now
        for rule in ukey.rules:
            rule.add_stats(dp, db, ukey.used)
        add_table_stats = getattr(self.bridge.ofproto.flows, "add_table_stats", None)
        if ukey.lookups and add_table_stats is not None:
            for code in ukey.lookups:
                add_table_stats(code >> 1, dp, dp if code & 1 else 0)
        table = self.bridge.mac_table
        ports = self.bridge.ofproto.ports
        for vlan, mac, port in ukey.learned:   # traffic keeps learned MACs fresh
            if port in ports:                  # never re-learn on a port that is gone
                table.learn(vlan, mac, port, ukey.used)

    # --- dispatch ---------------------------------------------------------------------
    @property
    def room(self) -> int:
        """How many more upcalls can wait for a later pass (the datapath reads no more
        frames than that can absorb)."""
        return MAX_PENDING - len(self.pending)

    def handle(self, upcalls: list[Upcall], now: float) -> None:
        """Queue ``upcalls`` and handle at most UPCALLS_PER_PASS of them now, so a flood of
        new flows cannot starve the controller connections in the same loop."""
        if not self.recv_enabled:      # OVS dpif_recv_set(false): nobody handles them
            self.n_lost += len(upcalls)
            return
        pending = self.pending
        room = MAX_PENDING - len(pending)
        if len(upcalls) > room:
            self.n_lost += len(upcalls) - max(room, 0)
            upcalls = upcalls[:max(room, 0)]
        pending.extend(upcalls)
        for _ in range(min(UPCALLS_PER_PASS, len(pending))):
            up = pending.popleft()
            if up.kind is UpcallKind.MISS:
                self.handle_miss(up, now)
            else:
                self.bridge.send_packet_in(up.cookie, up.frame, now)


def _recirc_ids(actions, into: set) -> None:
    for a in actions:
        if type(a) is Recirc:
            into.add(a.recirc_id)
        elif type(a) is Clone:
            _recirc_ids(a.actions, into)


def _overlap_test(match) -> tuple[tuple[int, int, int], ...]:
    """A match as its constrained slots: ``(slot, value, mask)``."""
    masks, values = match.masks, match.values
    return tuple([(slot, values[slot] & masks[slot], masks[slot])
                  for slot in compress(_ALL_SLOTS, masks)])


def _overlaps(test, key, mask, odp_to_ofp) -> bool:
    """Whether some packet of the megaflow ``key``/``mask`` matches ``test``: no bit
    that both constrain differs.  The key's in_port is a datapath port number."""
    in_port = Slot.IN_PORT
    for slot, value, m in test:
        got = key[slot]
        if slot == in_port:
            got = odp_to_ofp.get(got, -1)
            if got < 0:
                return True          # a port gone: let revalidation delete the flow
        if (got ^ value) & m & mask[slot]:
            return False
    return True


@lru_cache(maxsize=4096)
def _looked_up(lookups: tuple) -> tuple[frozenset, bool]:
    """The tables ``Ukey.lookups`` looked up, and whether table 0 more than once."""
    return (frozenset(code >> 1 for code in lookups),
            sum(code >> 1 == 0 for code in lookups) > 1)
