"""Generate the classifier's lookup function: every subtable probed in straight-line code.

What this module owns
---------------------
``compile_lookup(subtables, tries)``: Python source for one function
``lookup(f, version, w) -> Entry | None`` that visits the given subtables in the given
order (highest ``max_priority`` first), built with ``exec`` from nothing but slot numbers
and integer masks (as ``collections.namedtuple`` builds its classes).
``compile_probe(subtable, tries)``: the same code for one subtable alone, compiled once
when the subtable is created; the classifier loops over these while the set of subtables
is changing (compiling the whole lookup costs ~0.4 ms per subtable).  With the slots and
masks as constants and no loop over subtables or stages, a lookup costs a few dict probes
per subtable and no Python calls besides trie walks.  Lookups are the hot path of the
switch; the generic algorithm it unrolls is described in ``classifier.py``:

For each subtable, in order:
1. stop if the best priority found so far beats the subtable's ``max_priority`` (read from
   the subtable at run time, so raising a maximum without reordering needs no recompile);
2. for each stage: if the stage holds a trie-indexed slot the subtable is CIDR on, ask
   the trie (once per lookup and slot); if no stored prefix of the subtable's length
   contains the address, un-wildcard only the leading bits the trie read (at most the
   prefix length: those alone decide the skip) and go to the next subtable;
3. extend the key with the stage's masked slots; if the stage index does not have it,
   un-wildcard the stages read so far and go to the next subtable;
4. after the last stage, un-wildcard the whole mask and take the first entry of the bucket
   (a bare ``Entry`` or a sorted list, see ``subtable.py``) visible in ``version``; it replaces the best if its priority is higher, or equal with
   an earlier insertion.

Invariants: the function must be regenerated whenever the set or the order of subtables
changes (the classifier does so lazily); it reads each subtable's dicts by reference, so
adding and removing rules inside existing subtables needs no regeneration.

Time model: none (no clocks, no I/O).
Must not import: anything in pyvswitch except ``packet.fields`` and this package.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from pyvswitch.packet.fields import SLOT_BITS

from .subtable import NEVER, Entry, Subtable
from .trie import PrefixTrie


def _slot_expr(slot: int, mask: int) -> str:
    """Flows respect SLOT_BITS, so a full-width mask needs no AND."""
    return f"f[{slot}]" if mask == (1 << SLOT_BITS[slot]) - 1 else f"f[{slot}] & {mask}"


def _cidr(slot: int, plen: int) -> int:
    return ((1 << plen) - 1) << (SLOT_BITS[slot] - plen)


class _Source:
    """Lines of Python with an indentation level."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1

    def add(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def unwildcard(self, pairs: Sequence[tuple[int, int]]) -> None:
        for slot, mask in pairs:
            self.add(f"w[{slot}] |= {mask}")
        if not pairs:
            self.add("pass")


def _emit_subtable(src: _Source, n: int, st: Subtable, early_exit: bool) -> None:
    base = src.depth
    if early_exit:
        src.add(f"if bp > st{n}.max_priority:")
        src.add("    return best")
    tries = {slot: plen for slot, plen, _ in st.tries}
    read: list[tuple[int, int]] = []       # stages un-wildcarded so far
    misses: list[list[str]] = []           # else-branches to close, innermost last
    for i, pairs in enumerate(st.stage_pairs):
        for slot, _ in pairs:
            if slot in tries:
                plen = tries[slot]
                src.add(f"if t{slot} is None:")
                src.add(f"    t{slot} = ask{slot}(f[{slot}])")
                src.add(f"if t{slot}[0] >> {plen} & 1:")
                src.depth += 1
                # Skipping needs only the trie's bits: any flow sharing them is
                # skipped here too, or earlier, whatever its other fields.
                misses.append([f"w[{slot}] |= t{slot}[1] & {_cidr(slot, plen)}"])
        part = ", ".join(_slot_expr(s, m) for s, m in pairs)
        part = f"({part},)" if pairs else "()"
        src.add(f"k = {part}" if i == 0 else f"k += {part}")
        read = read + pairs
        if i < len(st.stage_pairs) - 1:
            src.add(f"if k in s{n}i{i}:")
            src.depth += 1
            misses.append([f"w[{s}] |= {m}" for s, m in read])
    src.unwildcard(read)
    src.add(f"b = s{n}r.get(k)")
    src.add("if b is not None:")
    src.add("    if b.__class__ is Entry:")
    src.add("        if (b.add_version <= version < b.remove_version and")
    src.add("                (b.priority > bp or (b.priority == bp and b.seq < best.seq))):")
    src.add("            best = b")
    src.add("            bp = b.priority")
    src.add("    else:")
    src.add("        for e in b:")
    src.add("            if e.add_version <= version < e.remove_version:")
    src.add("                if e.priority > bp or (e.priority == bp and e.seq < best.seq):")
    src.add("                    best = e")
    src.add("                    bp = e.priority")
    src.add("                break")
    while misses:
        src.depth -= 1
        src.add("else:")
        for line in misses.pop():
            src.add("    " + line)
    assert src.depth == base


def _bind(namespace: dict[str, Any], n: int, st: Subtable) -> None:
    namespace[f"st{n}"] = st
    namespace[f"s{n}r"] = st.rules
    for i, index in enumerate(st.indices):
        namespace[f"s{n}i{i}"] = index


def _build(name: str, params: str, src: _Source,
           namespace: dict[str, Any]) -> Callable[..., Any]:
    text = f"def {name}({params}):\n" + "\n".join(src.lines) + "\n"
    exec(compile(text, f"<classifier {name}>", "exec"), namespace)  # noqa: S102
    fn = namespace[name]
    fn.source = text        # for debugging: print(fn.source)
    return fn


def compile_lookup(subtables: Sequence[Subtable],
                   tries: dict[int, PrefixTrie]) -> Callable[..., Any]:
    """``lookup(f, version, w) -> Entry | None`` over ``subtables`` (sorted, best first).

    Trie answers are computed at most once per lookup and slot, shared by all subtables.
    """
    namespace: dict[str, Any] = {"NEG": -NEVER, "Entry": Entry}
    src = _Source()
    for slot in sorted({slot for st in subtables for slot, _, _ in st.tries}):
        namespace[f"ask{slot}"] = tries[slot].lookup_mask
        src.add(f"t{slot} = None")
    src.add("best = None")
    src.add("bp = NEG")
    for n, st in enumerate(subtables):
        _bind(namespace, n, st)
        src.add(f"# subtable {n}: {len(st.slots)} slots")
        _emit_subtable(src, n, st, early_exit=True)
    src.add("return best")
    return _build("lookup", "f, version, w", src, namespace)


def compile_probe(st: Subtable, tries: dict[int, PrefixTrie]) -> Callable[..., Any]:
    """``probe(f, version, w, best, bp) -> (best, bp)``: one subtable, same semantics.

    The classifier loops over these while its subtables are changing and compiling the
    whole lookup would not pay off; the caller does the early exit on ``max_priority``.
    """
    namespace: dict[str, Any] = {"Entry": Entry}
    src = _Source()
    for slot, _, _ in st.tries:
        namespace[f"ask{slot}"] = tries[slot].lookup_mask
        src.add(f"t{slot} = None")
    _bind(namespace, 0, st)
    _emit_subtable(src, 0, st, early_exit=False)
    src.add("return best, bp")
    return _build("probe", "f, version, w, best, bp", src, namespace)
