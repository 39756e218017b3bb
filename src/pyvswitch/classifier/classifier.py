"""The classifier: OpenFlow rules in tuple space, versioned, with megaflow wildcards.

What this module owns
---------------------
``Classifier``: the store every OpenFlow table keeps its rules in, and the lookup the
translator runs for every packet that misses the datapath caches.  It is modelled on Open
vSwitch's classifier (lib/classifier.h) and has the same contract as the linear oracle
``reference.LinearClassifier`` (see that module for the shared semantics).

Design
------
* **Tuple space search.**  Rules are grouped by their exact mask into ``Subtable``s
  (one dict of masked values each, see ``subtable.py``).  A lookup probes each subtable
  once: a hash lookup per mask instead of a comparison per rule.
* **Priority order.**  Subtables are kept sorted by the highest priority they hold
  (``max_priority``, counting rules not visible in the looked-up version too, which is
  conservative).  Once a match of priority P is found, no subtable whose maximum is below
  P is probed, nor does it contribute wildcards.  Subtables whose maximum equals P are
  still probed, because ties go to the rule inserted first.
* **Wildcards.**  ``lookup(..., wc)`` ORs into ``wc`` exactly the mask bits it read: for a
  probed subtable, the bits of the stages it checked (staged lookup, ``subtable.py``); for
  a subtable ruled out by a prefix trie, only the leading address bits the trie walk read
  (``trie.py``).  These are sufficient: any flow equal to the looked-up one on the ``wc``
  bits takes the same path through the same dicts and finds the same rule.
* **Prefix tries.**  One ``PrefixTrie`` per slot in ``prefix_slots`` (by default the IPv4
  source and destination, as in Open vSwitch; any address slot may be given) holds the prefix of every rule whose subtable has a CIDR mask there.
  When a lookup reaches the stage holding that slot in such a subtable, it asks the trie
  (once per lookup and slot) whether any rule's /L prefix contains the address; if none
  does, the subtable is skipped and only the leading bits the trie read (at most L) are
  un-wildcarded, instead of all L.
* **Versions.**  Each rule has the version range ``[add, remove)`` in which it is visible.
  ``insert``/``remove``/``replace`` at version N+1 change nothing a lookup at version N
  sees, so ofproto can stage a flow_mod or a whole bundle and publish it by moving its
  lookup version.  Removed rules stay in the subtables (and keep counting in
  ``max_priority``, indices and tries) until ``collect`` drops those no version >= its
  argument can see.

* **Generated code.**  The probe of each subtable, and once the set of subtables has
  been stable for ``compile_after`` lookups the whole lookup over all of them, are
  Python functions generated from slot numbers and masks (``codegen.py``).  This is what
  makes a pure-Python lookup fast enough (about 100k lookups/s over 1,000 rules in 20
  masks, see bench/classifier_bench.py); a changing table pays a per-subtable call until
  it settles, never a recompile per change.

Use (ofproto)::

    cls.insert(rule, version + 1)         # ... more changes at version + 1 ...
    version += 1                          # publish: lookups now pass the new version
    cls.lookup(flow, version, wc)         # xlate; wc accumulates the megaflow mask
    cls.collect(oldest_version_in_use)    # once no reader uses older versions

Private state per rule lives in the classifier's own dict ``_entries`` (``id(rule)`` ->
``Entry``, which holds the rule); nothing is attached to the rule objects, which need
only ``match`` and ``priority`` and must not change them while inserted.

Time model: none; versions are plain ints chosen by the caller.
Must not import: anything in pyvswitch except ``packet.fields`` and this package.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from pyvswitch.packet.fields import N_SLOTS, SLOT_BITS, Match, Slot

from .codegen import compile_lookup, compile_probe
from .subtable import NEVER, Entry, Subtable, entries
from .trie import PrefixTrie, prefix_len

#: Slots with a prefix trie unless the caller chooses otherwise: ip_dst and ip_src, as Open
#: vSwitch's flow tables default to; IPV6_SRC/IPV6_DST work too (pass them explicitly, as
#: the Flow_Table ``prefixes`` column would), at the cost of a longer trie walk.
DEFAULT_PREFIX_SLOTS = (Slot.NW_DST, Slot.NW_SRC)


class Classifier:
    """Tuple-space-search classifier with staged lookup, prefix tries and versions."""

    def __init__(self, prefix_slots: Iterable[int] = DEFAULT_PREFIX_SLOTS,
                 compile_after: int = 1000) -> None:
        """``compile_after``: lookups to run on per-subtable probes after the set or order
        of subtables changed, before compiling one lookup function over all of them (0:
        compile at once; a huge value: never)."""
        self._entries: dict[int, Entry] = {}        # id(rule) -> Entry, insertion order
        self._subtables: dict[tuple[int, ...], Subtable] = {}   # mask -> subtable
        self._ordered: list[Subtable] = []          # by max_priority, highest first
        self._dirty = False                         # _ordered needs re-sorting
        self._lookup_fn: Any = None                 # generated by codegen, see lookup
        self._compile_after = compile_after
        self._countdown = compile_after             # probe-loop lookups before compiling
        self._tries: dict[int, PrefixTrie] = {
            int(s): PrefixTrie(SLOT_BITS[s]) for s in prefix_slots}
        self._seq = 0
        self._n_live = 0                            # entries not yet removed
        self._removed: list[Entry] = []             # removed, not yet collected
        self._scratch = [0] * N_SLOTS               # wc of lookups whose caller wants none

    # --- changes ----------------------------------------------------------------------
    def insert(self, rule: Any, version: int, mask: tuple[int, ...] | None = None,
               key: tuple[int, ...] | None = None, subtable: Subtable | None = None) -> None:
        """Make ``rule`` visible from ``version`` on.

        ``mask``, if the caller has it, is ``tuple(rule.match.masks)`` (saves building it);
        ``key``, the key ``find_exactly_keyed`` / ``find_exactly_in`` returned for the
        same match values and mask (saves computing it again); ``subtable``, what
        ``subtable(mask)`` returned just before (saves looking it up again: hashing a
        mask costs more than the rest of an insert's lookups together).
        ValueError if the rule is already in the classifier (until collected) or its match
        does not span the flow vector.
        """
        self._seq += 1
        self._insert(rule, version, self._seq, mask, key, subtable)

    def _insert(self, rule: Any, version: int, seq: int,
                mask: tuple[int, ...] | None = None,
                key: tuple[int, ...] | None = None,
                subtable: Subtable | None = None) -> None:
        by_id = self._entries
        rule_id = id(rule)
        if rule_id in by_id:
            raise ValueError("rule is already in the classifier")
        match = rule.match
        values = match.values
        if subtable is None:
            if mask is None:
                mask = tuple(match.masks)
            if len(mask) != N_SLOTS or len(values) != N_SLOTS:
                raise ValueError(f"match must cover the {N_SLOTS}-slot flow vector")
            subtable = self._subtables.get(mask)
            if subtable is None:
                subtable = self._new_subtable(mask)
        elif len(values) != N_SLOTS:
            raise ValueError(f"match must cover the {N_SLOTS}-slot flow vector")
        if key is None:
            key = subtable.key_of(values)
        entry = Entry(rule, seq, version, key, subtable)
        if subtable.tries:
            tries = self._tries
            for slot, plen, pos in subtable.tries:
                tries[slot].insert(key[pos], plen)
        if subtable.add(entry):
            self._dirty = True
        by_id[rule_id] = entry
        self._n_live += 1

    def _new_subtable(self, mask: tuple[int, ...]) -> Subtable:
        tries = []
        for slot in self._tries:
            if mask[slot]:
                plen = prefix_len(mask[slot], SLOT_BITS[slot])
                if plen is not None:
                    tries.append((slot, plen))
        subtable = Subtable(mask, tries)
        subtable.probe = compile_probe(subtable, self._tries)
        self._subtables[mask] = subtable
        self._ordered.append(subtable)
        self._invalidate()
        return subtable

    def remove(self, rule: Any, version: int) -> None:
        """Make ``rule`` invisible from ``version`` on.

        KeyError if the rule was never inserted, ValueError if it is already removed.
        The rule is still findable by lookups at older versions until ``collect``.
        """
        entry = self._entries[id(rule)]
        if entry.remove_version != NEVER:
            raise ValueError("rule is already removed")
        entry.remove_version = version
        self._removed.append(entry)
        self._n_live -= 1

    def replace(self, old: Any, new: Any, version: int) -> None:
        """Remove ``old`` and insert ``new``, both at ``version`` (OpenFlow MODIFY).

        When match and priority are the same, ``new`` inherits ``old``'s place in the
        tie-breaking order, so a modified rule keeps winning the ties it used to win.
        """
        entry = self._entries[id(old)]
        if id(new) in self._entries:
            raise ValueError("new rule is already in the classifier")
        self.remove(old, version)
        if new.priority == old.priority and new.match == old.match:
            self._insert(new, version, entry.seq)
        else:
            self.insert(new, version)

    def collect(self, min_version: int) -> int:
        """Free the rules no version >= ``min_version`` can see; returns how many.

        Costs time in the number of removed-but-not-yet-freed rules only, and little per
        rule when many go at once (a del-flows of 100k flows): a subtable whose every rule
        goes is dropped whole, and a prefix trie losing at least half of its prefixes is
        refilled from the survivors instead of losing them one by one.
        """
        dead, kept = [], []
        for e in self._removed:
            if e.remove_version <= min_version or e.remove_version <= e.add_version:
                dead.append(e)
            else:
                kept.append(e)
        self._removed = kept
        if not dead:
            return 0
        by_id = self._entries
        groups: dict[int, tuple[Subtable, list[Entry]]] = {}
        trie_losses: dict[int, int] = {}
        for entry in dead:
            del by_id[id(entry.rule)]
            group = groups.get(id(entry.subtable))
            if group is None:
                group = groups[id(entry.subtable)] = (entry.subtable, [])
            group[1].append(entry)
        for subtable, gone in groups.values():
            for slot, _, _ in subtable.tries:
                trie_losses[slot] = trie_losses.get(slot, 0) + len(gone)
        refill = {slot for slot, n in trie_losses.items()
                  if 2 * n >= self._tries[slot].n_prefixes}
        for subtable, gone in groups.values():
            for slot, plen, pos in subtable.tries:
                if slot not in refill:
                    trie = self._tries[slot]
                    for entry in gone:
                        trie.remove(entry.key[pos], plen)
            if len(gone) == subtable.n_entries:      # the whole subtable goes
                subtable.rules.clear()
                subtable.n_entries = 0
            else:
                for entry in gone:
                    if subtable.discard(entry):
                        self._dirty = True
            if not subtable.n_entries:
                del self._subtables[subtable.mask]
                self._ordered.remove(subtable)
                self._invalidate()                  # the lookup refers to the subtable
        for slot in refill:
            trie = self._tries[slot]
            trie.clear()
            for subtable in self._subtables.values():
                for tslot, plen, pos in subtable.tries:
                    if tslot == slot:
                        for bucket in subtable.rules.values():
                            for entry in entries(bucket):
                                trie.insert(entry.key[pos], plen)
        return len(dead)

    # --- lookup -----------------------------------------------------------------------
    def _invalidate(self) -> None:
        """The set or order of subtables changed: drop the compiled lookup."""
        self._lookup_fn = None
        self._countdown = self._compile_after
        self._dirty = True

    def _resort(self) -> None:
        """Re-sort the subtables by maximum priority; invalidate if the order changed."""
        order = sorted(self._ordered, key=lambda st: -st.max_priority)
        if order != self._ordered:
            self._ordered = order
            self._invalidate()
        self._dirty = False

    def lookup(self, flow: tuple[int, ...], version: int,
               wc: list[int] | None = None) -> Any:
        """The best rule visible at ``version`` that ``flow`` matches, or None.

        If ``wc`` is given, the bits this lookup consulted are ORed into it.  The work is
        done by code generated for the current subtables (``codegen.py``): a loop over
        per-subtable probes right after a change, one compiled function once the set of
        subtables has been stable for ``compile_after`` lookups.
        """
        if self._dirty:
            self._resort()
        if wc is None:
            wc = self._scratch          # written, never read: saves an allocation
        fn = self._lookup_fn
        if fn is None:
            if self._countdown > 0:
                self._countdown -= 1
                best, bp = None, -NEVER
                for st in self._ordered:
                    if bp > st.max_priority:
                        break
                    best, bp = st.probe(flow, version, wc, best, bp)
                return None if best is None else best.rule
            fn = self._lookup_fn = compile_lookup(self._ordered, self._tries)
        entry = fn(flow, version, wc)
        return None if entry is None else entry.rule

    # --- searches ---------------------------------------------------------------------
    def find_exactly(self, match: Match, priority: int, version: int,
                     mask: tuple[int, ...] | None = None) -> Any:
        """The rule visible at ``version`` with exactly ``match`` and ``priority``
        (``mask``: ``tuple(match.masks)`` if the caller has it)."""
        subtable = self._subtables.get(tuple(match.masks) if mask is None else mask)
        if subtable is None:
            return None
        for e in subtable.bucket(subtable.key_of(match.values)):
            if e.priority == priority and e.visible(version):
                return e.rule
        return None

    def find_exactly_keyed(self, match: Match, priority: int, version: int,
                           mask: tuple[int, ...]) -> tuple[Any, tuple[int, ...] | None]:
        """``(find_exactly(match, priority, version, mask), key)``: ``key`` is the match's
        key in the subtable of ``mask`` (None while there is no such subtable), which
        ``insert`` may be given for a rule with the same match values and mask."""
        subtable = self._subtables.get(mask)
        if subtable is None:
            return None, None
        key = subtable.key_of(match.values)
        for e in subtable.bucket(key):
            if e.priority == priority and e.visible(version):
                return e.rule, key
        return None, key

    def subtable(self, mask: tuple[int, ...]) -> Subtable | None:
        """The subtable of ``mask`` (None while no rule has it), for ``find_exactly_in``
        and ``insert(subtable=)``: a caller adding rules in bulk hashes each mask once.
        Its ``shared`` slot is the caller's (ofproto keeps there the mask list the
        matches of its rules share); valid until the next ``collect``."""
        return self._subtables.get(mask)

    def find_exactly_in(self, subtable: Subtable, match: Match, priority: int,
                        version: int) -> tuple[Any, tuple[int, ...]]:
        """``find_exactly_keyed`` in ``subtable`` (``subtable(mask)`` of the match's mask,
        not None): ``(rule or None, key)``."""
        key = subtable.key_of(match.values)
        bucket = subtable.rules.get(key)
        if bucket is not None:
            for e in entries(bucket):
                if e.priority == priority and e.add_version <= version < e.remove_version:
                    return e.rule, key
        return None, key

    def find_matches(self, match: Match, version: int, strict: bool = False,
                     priority: int | None = None) -> Iterator[Any]:
        """Rules visible at ``version`` selected as OpenFlow's flow_mod/stats do.

        Strict: exactly ``match`` and ``priority`` (which is then required).  Loose:
        every rule whose match is at least as specific as ``match`` (it matches on every
        bit ``match`` does, with the same values); ``priority`` is ignored.  Rules come
        in tie-breaking order (insertion order, a ``replace``'s new rule taking the old
        one's place); the result is computed before the first one is yielded, so the
        caller may change the classifier while iterating.
        """
        if strict:
            if priority is None:
                raise ValueError("a strict search needs a priority")
            subtable = self._subtables.get(tuple(match.masks))
            if subtable is None:
                return iter(())
            bucket = subtable.bucket(subtable.key_of(match.values))
            return iter([e.rule for e in sorted(bucket, key=lambda e: e.seq)
                         if e.priority == priority and e.visible(version)])
        want = [(s, m, v & m) for s, (m, v) in enumerate(zip(match.masks, match.values))
                if m]
        found: list[Entry] = []
        for mask, st in self._subtables.items():
            if any(mask[s] & m != m for s, m, _ in want):
                continue
            for bucket in map(entries, st.rules.values()):
                values = bucket[0].rule.match.values
                if any(values[s] & m != v for s, m, v in want):
                    continue
                found.extend(e for e in bucket if e.visible(version))
        found.sort(key=lambda e: e.seq)
        return iter([e.rule for e in found])

    # --- contents ---------------------------------------------------------------------
    def __len__(self) -> int:
        """Rules visible in the newest version: those inserted and not yet removed."""
        return self._n_live

    def __iter__(self) -> Iterator[Any]:
        """Rules visible in the newest version, in insertion order."""
        return iter([e.rule for e in self._entries.values() if e.remove_version == NEVER])

    def rules_in(self, version: int) -> Iterator[Any]:
        """Rules visible at ``version``, in insertion order."""
        return iter([e.rule for e in self._entries.values() if e.visible(version)])

    @property
    def n_subtables(self) -> int:
        """Distinct masks currently held (including rules awaiting ``collect``)."""
        return len(self._subtables)
