"""The linear reference classifier: the test oracle for ``Classifier``.

What this module owns
---------------------
``LinearClassifier``: the same public API as ``pyvswitch.classifier.Classifier`` built on
a plain list scanned from start to end.  It is obviously right rather than fast, so the
randomized tests compare the real classifier against it rule for rule.

Semantics shared with ``Classifier`` (the contract both implement):

* A rule is any object with ``match`` (a ``fields.Match``) and ``priority`` (an int).
* Versions: a rule inserted at version ``a`` and removed at version ``r`` is visible to a
  lookup at version ``v`` iff ``a <= v < r`` (``r`` is infinite until ``remove``).
* ``lookup`` returns the visible matching rule of highest priority; among equal priorities
  the rule inserted first wins.  Its ``wc`` is the union of every rule's mask: sufficient,
  and deliberately the widest possible answer.
* "The newest version" (``__len__``, ``__iter__``) is the highest version ever passed to
  ``insert``/``remove``/``replace``: the rules not yet removed.
* Loose ``find_matches`` yields every visible rule whose match is at least as specific as
  the given one (it ignores ``priority``, as OpenFlow's non-strict delete does); strict
  yields the visible rules with exactly that match and priority.  Both come in
  tie-breaking order: insertion order, except that a ``replace``'s new rule takes the
  place of the rule it replaces when match and priority are unchanged.
* ``__iter__`` and ``rules_in`` list rules in the order of the ``insert``/``replace``
  calls that added them.

Invariants: ``_entries`` is in insertion order; each entry is ``[rule, add, remove, seq]``;
``_order`` is None or the entries sorted for ``lookup`` (only the scan order is cached, so
the reference stays a linear scan).

Time model: none (no clocks, no I/O).
Must not import: anything in pyvswitch except ``packet.fields``.
"""

from __future__ import annotations

from typing import Any, Iterator

from pyvswitch.packet.fields import Match

_NEVER = float("inf")


class LinearClassifier:
    """A list of rules, scanned in full on every operation."""

    def __init__(self) -> None:
        self._entries: list[list[Any]] = []
        self._seq = 0
        self._order: list[Any] | None = None   # lookup's scan order, rebuilt on change
        self._union: list[int] = []            # OR of every rule's mask

    def _entry(self, rule: Any) -> list[Any]:
        for entry in self._entries:
            if entry[0] is rule:
                return entry
        raise KeyError("rule is not in the classifier")

    def insert(self, rule: Any, version: int) -> None:
        if any(entry[0] is rule for entry in self._entries):
            raise ValueError("rule is already in the classifier")
        self._seq += 1
        self._entries.append([rule, version, _NEVER, self._seq])
        self._order = None

    def remove(self, rule: Any, version: int) -> None:
        entry = self._entry(rule)
        if entry[2] != _NEVER:
            raise ValueError("rule is already removed")
        entry[2] = version

    def replace(self, old: Any, new: Any, version: int) -> None:
        entry = self._entry(old)
        self.remove(old, version)
        self.insert(new, version)
        if old.priority == new.priority and old.match == new.match:
            self._entries[-1][3] = entry[3]
            self._order = None

    def collect(self, min_version: int) -> int:
        before = len(self._entries)
        self._entries = [e for e in self._entries
                         if not (e[2] <= min_version or e[2] <= e[1])]
        self._order = None
        return before - len(self._entries)

    @staticmethod
    def _visible(entry: list[Any], version: int) -> bool:
        return entry[1] <= version < entry[2]

    def _scan_order(self) -> list[tuple[int, int, list[Any], tuple]]:
        """Entries by (priority descending, insertion ascending), with their tests."""
        if self._order is None:
            self._order = sorted(
                [(-e[0].priority, e[3], e,
                  tuple((s, m, v) for s, (m, v) in
                        enumerate(zip(e[0].match.masks, e[0].match.values)) if m))
                 for e in self._entries], key=lambda t: (t[0], t[1]))
            union = [0] * len(self._entries[0][0].match.masks) if self._entries else []
            for e in self._entries:
                union = [u | m for u, m in zip(union, e[0].match.masks)]
            self._union = union
        return self._order

    def lookup(self, flow: tuple[int, ...], version: int,
               wc: list[int] | None = None) -> Any:
        order = self._scan_order()
        if wc is not None:
            for i, m in enumerate(self._union):
                wc[i] |= m
        for _, _, entry, tests in order:
            if not entry[1] <= version < entry[2]:
                continue
            for s, m, v in tests:
                if flow[s] & m != v:
                    break
            else:
                return entry[0]
        return None

    def find_exactly(self, match: Match, priority: int, version: int) -> Any:
        for rule in self.find_matches(match, version, strict=True, priority=priority):
            return rule
        return None

    def find_matches(self, match: Match, version: int, strict: bool = False,
                     priority: int | None = None) -> Iterator[Any]:
        if strict and priority is None:
            raise ValueError("a strict search needs a priority")
        for entry in sorted(self._entries, key=lambda e: e[3]):
            rule = entry[0]
            if not self._visible(entry, version):
                continue
            if strict:
                if rule.priority == priority and rule.match == match:
                    yield rule
            elif all((rm & m) == m and (rv & m) == v for rv, rm, v, m in
                     zip(rule.match.values, rule.match.masks, match.values, match.masks)):
                yield rule

    def __len__(self) -> int:
        return sum(1 for e in self._entries if e[2] == _NEVER)

    def __iter__(self) -> Iterator[Any]:
        return iter([e[0] for e in self._entries if e[2] == _NEVER])

    def rules_in(self, version: int) -> Iterator[Any]:
        return iter([e[0] for e in self._entries if self._visible(e, version)])
