"""One subtable: every rule that shares one mask, hashed on its masked values.

What this module owns
---------------------
``Subtable`` (all rules with one exact mask over the flow vector) and ``Entry`` (the
classifier's private record of one rule: priority, insertion order, version range).

Staged lookup
-------------
The flow vector is cut into stages (``STAGES``): pipeline metadata, then L2, then L3, then
L4.  A subtable keeps, for each stage but its last non-empty one, an index of the masked
values its rules have *up to and including* that stage.  A lookup checks the stages in
order and stops at the first one whose key no rule has; only the mask bits of the stages it
read are reported as consulted, so a packet that is not even the right L2 type never gets
its L4 ports un-wildcarded.  The last stage is the full key into ``rules``.

Keys are tuples of ``flow[slot] & mask`` over the subtable's non-zero slots.  The whole
staged probe of a subtable is one function generated when the subtable is created (``exec``
of source built only from slot numbers and integer masks, like ``collections.namedtuple``
does): every slot and mask is a constant, so a probe costs one Python call instead of a
loop over stages and slots.  Lookups are the hot path of the whole switch.  Flows are assumed to respect ``fields.SLOT_BITS`` (a slot
matched with a full-width mask is read without masking).

Invariants: ``rules[key]`` is a non-empty list sorted by (priority descending, insertion
sequence ascending); every key that has rules has a count in each stage index;
``max_priority`` is at least the priority of every entry (visible or not).

Must not import: anything in pyvswitch except ``packet.fields`` and this package.
"""

from __future__ import annotations

from typing import Any, Callable

from pyvswitch.packet.fields import N_SLOTS, SLOT_BITS, Slot

_S = Slot
#: The lookup stages, in order; every slot is in exactly one.
STAGES: tuple[tuple[int, ...], ...] = (
    (_S.IN_PORT, _S.METADATA, *range(_S.REG0, _S.REG15 + 1), _S.TUN_ID, _S.PKT_MARK,
     _S.ACTSET_OUTPUT),
    (_S.ETH_SRC, _S.ETH_DST, _S.ETH_TYPE, _S.VLAN_TCI, _S.MPLS_LSE, _S.PBB_ISID),
    (_S.NW_SRC, _S.NW_DST, _S.IPV6_SRC, _S.IPV6_DST, _S.IPV6_LABEL, _S.NW_PROTO,
     _S.NW_TOS, _S.NW_TTL, _S.NW_FRAG, _S.ARP_SHA, _S.ARP_THA, _S.IPV6_EXTHDR),
    (_S.TP_SRC, _S.TP_DST, _S.TCP_FLAGS, _S.ND_TARGET),
)
assert sorted(s for stage in STAGES for s in stage) == list(range(N_SLOTS))

NEVER = float("inf")   # remove_version of a rule not yet removed


class Entry:
    """The classifier's record of one rule (kept in the classifier's own dict)."""

    __slots__ = ("rule", "priority", "seq", "add_version", "remove_version", "key",
                 "subtable")

    def __init__(self, rule: Any, seq: int, add_version: int, key: tuple[int, ...],
                 subtable: "Subtable") -> None:
        self.rule = rule
        self.priority: int = rule.priority
        self.seq = seq                      # insertion order, the tie-breaker
        self.add_version = add_version      # visible from this version ...
        self.remove_version: float = NEVER  # ... up to, not including, this one
        self.key = key                      # masked values in the subtable's slots
        self.subtable = subtable

    def visible(self, version: int) -> bool:
        return self.add_version <= version < self.remove_version


def _slot_expr(slot: int, mask: int) -> str:
    return f"f[{slot}]" if mask == (1 << SLOT_BITS[slot]) - 1 else f"f[{slot}] & {mask}"


def _compile_probe(stage_pairs: list[list[tuple[int, int]]],
                   namespace: dict[str, Any]) -> Callable[..., Any]:
    """Generate ``probe(f, w)``: the staged lookup of one subtable, constants inlined.

    ``namespace`` provides the stage indices ``i0``, ``i1``... and the ``rules`` dict.  The
    probe returns the bucket (list of entries) for ``f`` or None, and when ``w`` is not
    None ORs into it the masks of the stages it read.
    """
    lines = ["def probe(f, w):"]
    read: list[tuple[int, int]] = []
    for n, pairs in enumerate(stage_pairs):
        read += pairs
        part = ", ".join(_slot_expr(s, m) for s, m in pairs)
        part = f"({part},)" if pairs else "()"
        lines.append(f"    k = {part}" if n == 0 else f"    k += {part}")
        unwildcard = [f"w[{s}] |= {m}" for s, m in read] or ["pass"]
        if n < len(stage_pairs) - 1:
            lines.append(f"    if k not in i{n}:")
            lines.append("        if w is not None:")
            lines += [f"            {u}" for u in unwildcard]
            lines.append("        return None")
        else:
            lines.append("    if w is not None:")
            lines += [f"        {u}" for u in unwildcard]
            lines.append("    return rules.get(k)")
    exec("\n".join(lines), namespace)  # noqa: S102 - source built from ints only
    return namespace["probe"]


class Subtable:
    """The rules of one mask, with per-stage indices for early exit."""

    __slots__ = ("mask", "slots", "probe", "indices", "rules", "max_priority",
                 "n_entries", "tries", "_prefix_lens")

    def __init__(self, mask: tuple[int, ...], tries: list[tuple[int, int]]) -> None:
        self.mask = mask
        stage_pairs = [[(s, mask[s]) for s in stage if mask[s]] for stage in STAGES]
        stage_pairs = [p for p in stage_pairs if p] or [[]]
        cumulative: list[tuple[int, int]] = []
        prefix_lens: list[int] = []
        for pairs in stage_pairs:
            cumulative += pairs
            prefix_lens.append(len(cumulative))
        self.slots: tuple[int, ...] = tuple(s for s, _ in cumulative)
        #: ``(slot, prefix_len, position in key)`` per trie slot this mask is CIDR on.
        self.tries = [(s, plen, self.slots.index(s)) for s, plen in tries]
        self.indices: list[dict[tuple[int, ...], int]] = [{} for _ in stage_pairs[:-1]]
        self.rules: dict[tuple[int, ...], list[Entry]] = {}
        namespace: dict[str, Any] = {f"i{n}": idx for n, idx in enumerate(self.indices)}
        namespace["rules"] = self.rules
        #: ``probe(flow, wc_or_None) -> bucket or None``, see ``_compile_probe``.
        self.probe = _compile_probe(stage_pairs, namespace)
        self._prefix_lens = prefix_lens
        self.max_priority: float = -NEVER
        self.n_entries = 0

    def key_of(self, values: list[int] | tuple[int, ...]) -> tuple[int, ...]:
        """The full key of a match's (already masked) values."""
        return tuple(values[s] & self.mask[s] for s in self.slots)

    def add(self, entry: Entry) -> bool:
        """Insert ``entry``; True if ``max_priority`` went up."""
        key = entry.key
        bucket = self.rules.get(key)
        if bucket is None:
            self.rules[key] = [entry]
            for idx, n in zip(self.indices, self._prefix_lens):
                k = key[:n]
                idx[k] = idx.get(k, 0) + 1
        else:
            rank = (-entry.priority, entry.seq)
            pos = len(bucket)
            while pos and (-bucket[pos - 1].priority, bucket[pos - 1].seq) > rank:
                pos -= 1
            bucket.insert(pos, entry)
        self.n_entries += 1
        if entry.priority > self.max_priority:
            self.max_priority = entry.priority
            return True
        return False

    def discard(self, entry: Entry) -> bool:
        """Physically drop ``entry``; True if ``max_priority`` went down."""
        key = entry.key
        bucket = self.rules[key]
        bucket.remove(entry)
        if not bucket:
            del self.rules[key]
            for idx, n in zip(self.indices, self._prefix_lens):
                k = key[:n]
                left = idx[k] - 1
                if left:
                    idx[k] = left
                else:
                    del idx[k]
        self.n_entries -= 1
        if entry.priority == self.max_priority:
            self.max_priority = max((b[0].priority for b in self.rules.values()),
                                    default=-NEVER)
            return self.max_priority != entry.priority
        return False

    def pairs(self) -> list[tuple[int, int]]:
        """``(slot, mask)`` for every slot this subtable matches on."""
        return [(s, self.mask[s]) for s in self.slots]
