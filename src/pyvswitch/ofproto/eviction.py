"""eviction: choosing which flow to drop when a full table must take a new one
(OVS ofproto.c: eviction groups, choose_rule_to_evict, rule_eviction_priority).

What this module owns
---------------------
``EvictionGroups``: for one table with eviction enabled, its evictable rules (those with an
idle or hard timeout; permanent rules are never evicted) partitioned into *eviction groups*
by the values their matches give the table's configured eviction fields (all rules form one
group when no fields are configured).  ``choose(now)`` returns the victim as OVS picks it:
from the largest group first, the rule of lowest ``importance``, and among equals the one
that would expire soonest (to about a second, OVS compares expiry times in 1024 ms units).

Differences from OVS, on purpose: OVS breaks ties between equal-sized groups randomly and
refreshes its per-group heaps once a second; here ties go to the group formed first and the
expiry order is computed at the moment of choice (more exact, same intent).

``parse_fields`` reads the Flow_Table ``groups`` column syntax (``field``, ``field[]``,
``field[ofs..end]`` with Open vSwitch field names).

Time model: ``now`` is not needed; expiry times come from the rules' own timestamps.
Must not import: ``vswitchd``, ``connmgr``.
"""

from __future__ import annotations

import re
from typing import Iterable

from pyvswitch.ofproto.rule import Rule
from pyvswitch.packet import fields as F

#: ``(field, ofs, n_bits)``: a bit range of a field, as the ``groups`` column names it.
Subfield = tuple[F.Field, int, int]

_SUBFIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(?:(\d+)(?:\.\.(\d+))?)?\])?$")


def parse_fields(specs: Iterable[str]) -> tuple[Subfield, ...]:
    """``["eth_src", "ip_dst[0..15]"]`` -> subfields; ValueError for what is not one."""
    out = []
    for spec in specs:
        m = _SUBFIELD.match(spec.strip())
        if m is None or m.group(1) not in F.BY_NAME:
            raise ValueError(f"{spec!r}: not a field or subfield")
        fld = F.BY_NAME[m.group(1)]
        start = int(m.group(2)) if m.group(2) is not None else 0
        end = int(m.group(3)) if m.group(3) is not None else (
            start if m.group(2) is not None else fld.n_bits - 1)
        if not 0 <= start <= end < fld.n_bits:
            raise ValueError(f"{spec!r}: bits beyond the field")
        out.append((fld, start, end - start + 1))
    return tuple(out)


def group_key(rule: Rule, subfields: tuple[Subfield, ...]) -> tuple:
    """The values ``rule``'s match gives ``subfields`` (None where its prerequisites are
    not met, as OVS hashes a constant there)."""
    match = rule.match
    key = []
    for fld, ofs, n_bits in subfields:
        if F.prereqs_ok(match, fld.prereq):
            value = (match.values[fld.slot] >> (fld.shift + ofs)) & ((1 << n_bits) - 1)
            key.append(value)
        else:
            key.append(None)
    return tuple(key)


def _victim_rank(rule: Rule) -> tuple[int, int]:
    expiry = rule.expiry_ms()
    return rule.importance, int(expiry) >> 10


class EvictionGroups:
    """The evictable rules of one table, by eviction group."""

    __slots__ = ("subfields", "groups")

    def __init__(self, subfields: tuple[Subfield, ...] = ()) -> None:
        self.subfields = subfields
        self.groups: dict[tuple, dict[int, Rule]] = {}

    def add(self, rule: Rule) -> None:
        """Track ``rule`` if it can be evicted (it has a timeout)."""
        if not (rule.idle_timeout or rule.hard_timeout) or rule.evg is not None:
            return
        key = group_key(rule, self.subfields)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = {}
        group[id(rule)] = rule
        rule.evg = key

    def remove(self, rule: Rule) -> None:
        key = rule.evg
        if key is None:
            return
        rule.evg = None
        group = self.groups.get(key)
        if group is not None:
            group.pop(id(rule), None)
            if not group:
                del self.groups[key]

    def choose(self) -> Rule | None:
        """The rule to evict, or None if no rule may be evicted."""
        best_group = None
        for group in self.groups.values():
            if best_group is None or len(group) > len(best_group):
                best_group = group
        if not best_group:
            return None
        return min(best_group.values(), key=_victim_rank)

    def clear(self) -> None:
        for group in self.groups.values():
            for rule in group.values():
                rule.evg = None
        self.groups.clear()

    def __len__(self) -> int:
        return sum(len(g) for g in self.groups.values())
