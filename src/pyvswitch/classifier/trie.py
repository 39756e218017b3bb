"""Prefix tries: how few leading bits of an address prove that a prefix cannot match.

What this module owns
---------------------
``PrefixTrie``: a path-compressed binary trie over the CIDR prefixes that the classifier's
rules match on one address slot (ip_src, ip_dst, ipv6_src, ipv6_dst).  For an address
``lookup`` answers two questions at once:

* which prefix lengths have at least one stored prefix that the address falls in (a bit
  set: bit ``L`` set means "some rule with a /L mask on this field may match");
* how many leading bits of the address had to be read to know that (``check_bits``).

A subtable whose mask on the field is /L, with bit ``L`` clear in the answer, cannot match
the packet; the classifier skips it and un-wildcards only ``min(check_bits, L)`` leading
bits instead of all ``L`` bits.  This is sound because any address that agrees on those bits
walks the same path through the trie and stops at the same place.

Representation: prefixes are kept left-aligned in the slot's ``width`` bits (exactly as
they sit in a match's value), so a /L prefix is a value whose low ``width - L`` bits are
zero.  Each node is a prefix (``depth`` leading bits of ``value``) with ``count`` stored
prefixes ending exactly there and up to two children, indexed by the next bit.  No node
other than the root has ``count == 0`` and fewer than two children (path compression).

Invariants: a child's depth is greater than its parent's and its value agrees with its
parent's on the parent's depth; ``count`` is the number of ``insert`` minus ``remove``
calls for that exact prefix.

Batching: ``insert`` only queues the prefix (a controller installing 100k flows would
otherwise walk the trie 100k times while nobody looks anything up); the queue is applied,
in order, by the next ``lookup``, ``lookup_mask`` or ``remove``.  ``n_prefixes`` is always
current.

Time model: none (no clocks, no I/O).
Must not import: anything in pyvswitch.
"""

from __future__ import annotations


def _leading_masks(width: int) -> list[int]:
    """``[n]``: the mask of the ``n`` leading bits of a ``width``-bit slot."""
    return [((1 << n) - 1) << (width - n) for n in range(width + 1)]


# Int objects shared by every node (a 128-bit int costs ~44 bytes; nodes are many).
_SHARED: dict[int, list[int]] = {w: _leading_masks(w) for w in (8, 16, 32, 48, 64, 128)}
_BITS = [1 << n for n in range(129)]


class _Node:
    __slots__ = ("depth", "value", "count", "c0", "c1", "bit", "shift", "low", "next_mask")

    def __init__(self, depth: int, value: int, width: int, count: int = 0) -> None:
        shared = _SHARED[width]
        self.depth = depth       # number of leading bits this node stands for
        self.value = value       # the prefix, left-aligned, low bits zero
        self.c0: _Node | None = None     # child whose next bit is 0 (two slots, not a list:
        self.c1: _Node | None = None     # a list would cost ~90 bytes more per node)
        self.set_count(count)
        # Precomputed for ``lookup``:
        self.shift = max(width - 1 - depth, 0)     # brings the next bit to bit 0
        self.low = width - depth                   # bits below the prefix
        self.next_mask = shared[min(depth + 1, width)]   # leading depth+1 bits

    def child(self, bit: int) -> "_Node | None":
        return self.c1 if bit else self.c0

    def set_child(self, bit: int, node: "_Node | None") -> None:
        if bit:
            self.c1 = node
        else:
            self.c0 = node

    def set_count(self, count: int) -> None:
        self.count = count       # stored prefixes ending exactly here
        self.bit = _BITS[self.depth] if count else 0     # this node's share of plens


def prefix_len(mask: int, width: int) -> int | None:
    """The length L if ``mask`` is a /L CIDR mask of a ``width``-bit slot, else None."""
    full = (1 << width) - 1
    inverted = ~mask & full
    if inverted & (inverted + 1):
        return None                      # the zero bits are not a contiguous low run
    return width - inverted.bit_length()


class PrefixTrie:
    """The set (with multiplicity) of prefixes stored for one address slot."""

    __slots__ = ("width", "_root", "n_prefixes", "_masks", "_pending")

    def __init__(self, width: int) -> None:
        self.width = width
        if width not in _SHARED:
            _SHARED[width] = _leading_masks(width)
        #: ``_masks[n]``: the mask of the ``n`` leading bits.
        self._masks = _SHARED[width]
        self._root = _Node(0, 0, width)
        self.n_prefixes = 0
        self._pending: list[tuple[int, int]] = []   # inserted, not yet in the nodes

    def clear(self) -> None:
        """Forget every prefix (the classifier refills a trie after a mass removal)."""
        self._root = _Node(0, 0, self.width)
        self._pending = []
        self.n_prefixes = 0

    def _bit(self, value: int, pos: int) -> int:
        return (value >> (self.width - 1 - pos)) & 1

    def _lcp(self, a: int, b: int) -> int:
        return self.width - (a ^ b).bit_length()

    def insert(self, value: int, plen: int) -> None:
        """Add the /``plen`` prefix ``value`` (left-aligned, low bits zero)."""
        self.n_prefixes += 1
        self._pending.append((value, plen))

    def _sync(self) -> None:
        """Put the queued prefixes into the nodes."""
        pending, self._pending = self._pending, []
        for value, plen in pending:
            self._insert_now(value, plen)

    def _insert_now(self, value: int, plen: int) -> None:
        width = self.width
        node = self._root
        while True:
            depth = node.depth
            if depth == plen:
                node.set_count(node.count + 1)
                return
            bit = (value >> (width - 1 - depth)) & 1
            child = node.c1 if bit else node.c0
            if child is None:
                node.set_child(bit, _Node(plen, value, width, 1))
                return
            cdepth = child.depth
            shared = cdepth if cdepth < plen else plen
            if not (value ^ child.value) >> (width - shared):
                if cdepth <= plen:
                    node = child            # the new prefix lies below ``child``
                    continue
                common = plen               # the new prefix lies on the edge to ``child``
            else:
                common = width - (value ^ child.value).bit_length()
            # Split the edge to ``child`` at ``common`` bits.
            mid = _Node(common, value & ~((1 << (width - common)) - 1), width)
            mid.set_child((child.value >> (width - 1 - common)) & 1, child)
            node.set_child(bit, mid)
            if common == plen:
                mid.set_count(1)
            else:
                mid.set_child((value >> (width - 1 - common)) & 1,
                              _Node(plen, value, width, 1))
            return

    def remove(self, value: int, plen: int) -> None:
        """Remove one copy of the /``plen`` prefix ``value``; KeyError if absent."""
        if self._pending:
            self._sync()
        path: list[_Node] = []
        node: _Node | None = self._root
        while node is not None and node.depth < plen:
            path.append(node)
            node = node.child(self._bit(value, node.depth))
            if node is not None and min(self._lcp(value, node.value), plen) < node.depth:
                node = None
        if node is None or node.depth != plen or node.count == 0:
            raise KeyError("prefix not in trie")
        self.n_prefixes -= 1
        node.set_count(node.count - 1)
        if node.count or node is self._root:
            return
        # Restore path compression around the emptied node.
        self._compact(path, node)
        if path:
            parent = path.pop()
            if parent is not self._root and parent.count == 0:
                self._compact(path, parent)

    def _compact(self, path: list[_Node], node: _Node) -> None:
        """Unlink or bypass ``node`` (count 0) if it has fewer than two children."""
        kids = [c for c in (node.c0, node.c1) if c is not None]
        if len(kids) == 2:
            return
        parent = path[-1]
        slot = self._bit(node.value, parent.depth)
        parent.set_child(slot, kids[0] if kids else None)

    def lookup(self, addr: int) -> tuple[int, int]:
        """``(plens, check_bits)`` for the full-width address ``addr``.

        ``plens`` has bit L set when a stored /L prefix contains ``addr``; ``check_bits``
        is how many leading bits of ``addr`` decide ``plens`` for every address sharing them.
        """
        if self._pending:
            self._sync()
        width = self.width
        node = self._root
        plens = 0
        while True:
            if node.count:
                plens |= 1 << node.depth
            depth = node.depth
            if depth == width:
                return plens, width
            child = node.child((addr >> (width - 1 - depth)) & 1)
            if child is None:
                return plens, depth + 1
            common = width - (addr ^ child.value).bit_length()
            if common < child.depth:
                return plens, common + 1
            node = child

    def lookup_mask(self, addr: int) -> tuple[int, int]:
        """``lookup`` with ``check_bits`` as the mask of those leading bits (the hot path).

        Same walk as ``lookup``, on the per-node values precomputed for it.
        """
        if self._pending:
            self._sync()
        node = self._root
        plens = 0
        while True:
            plens |= node.bit
            child = node.c1 if (addr >> node.shift) & 1 else node.c0
            if child is None:
                return plens, node.next_mask
            if (addr ^ child.value) >> child.low:
                common = self.width - (addr ^ child.value).bit_length()
                return plens, self._masks[common + 1]
            node = child
