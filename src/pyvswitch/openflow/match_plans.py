"""Match codec plans: the generic OXM/NXM encoder and decoder, replayed per match shape.

What this module owns
---------------------
``encode_tlvs(match, version)`` and ``decode_tlvs(buf, offset, end)``: the same results (and
the same errors) as ``match_codec._encode_tlvs`` / ``_decode_tlvs``, several times faster for
the matches a switch sees in bulk (a controller installing or dumping thousands of flows
of a few shapes).  ``match_codec`` routes its public functions through them.

* **Encoding.**  Which TLVs the generic encoder emits, in which order and with which
  headers, depends only on the version, the masks and the eth_type / ip_proto values
  (they name the L3/L4 fields) - except for VLAN matches, whose TCI value chooses between
  vlan_vid + vlan_pcp and vlan_tci.  For a match whose every TLV carries one whole slot
  unchanged, the encoding is ``header + value [+ mask]`` per slot: a plan, recorded once
  per shape from the generic encoder and kept only if replaying it gives the same bytes.
* **Decoding.**  A match whose TLVs all take the generic decoder's fast path decodes with
  one ``struct`` unpack of the whole match (headers, values and masks) and a few checks per
  field, in a function generated for the shape (straight-line code, constants inlined).  A plan is keyed by the match length and first header; it applies only if every
  header is the one recorded and the fields other fields' prerequisites read (eth_type,
  ip_proto, VLAN TCI) have the recorded values, so the prerequisite and duplicate checks
  the generic decoder made when the plan was recorded still hold.  Any check that fails
  (a bad mask, a value out of range...) hands the match to the generic decoder, which
  raises the error Open vSwitch would.

Shapes that do not qualify are remembered as such (generic path).  Both caches are bounded
(cleared when full).

Must not import: anything in pyvswitch except ``packet.fields`` and ``openflow.match_codec``
(whose tables it reads; ``match_codec`` imports this module at its end).
"""

from __future__ import annotations

import struct

from pyvswitch.openflow import match_codec as MC
from pyvswitch.packet import fields as F
from pyvswitch.packet.fields import BY_NAME, Match, Slot

_new_match = Match.__new__
_SLOT_FULL = tuple((1 << b) - 1 for b in F.SLOT_BITS)
_MAX_PLANS = 4096
#: Slot numbers as plain ints (an IntEnum member costs an attribute lookup per use).
_ETH_TYPE, _NW_PROTO, _VLAN_TCI = int(Slot.ETH_TYPE), int(Slot.NW_PROTO), int(Slot.VLAN_TCI)

# --- encoding ---------------------------------------------------------------------------------

_ENCODE_PLANS: dict[tuple, tuple | None] = {}


def _record(match: Match, version: int) -> tuple | None:
    """The encoding plan of ``match``'s shape, or None if it has none."""
    MC._TRACE = trace = []
    try:
        generic = MC._encode_tlvs(match, version)
    finally:
        MC._TRACE = None
    v, m = match.values, match.masks
    steps = []
    for name, value, mask, full in trace:
        fld = BY_NAME[name]
        slot = fld.slot
        try:
            entry, hkey = MC.header_of(name, version)
        except KeyError:
            return None
        if (fld.shift or full != _SLOT_FULL[slot] or value != v[slot] or mask != m[slot]
                or entry.kind not in (MC._DIRECT, MC._PORT32) or hkey[2] is not None):
            return None
        cls, code, _ = hkey
        width = entry.width
        if mask == full:
            head = MC._u32.pack((cls << 16) | (code << 9) | width)
            steps.append((slot, head, width, full, b""))
        else:
            head = MC._u32.pack((cls << 16) | (code << 9) | 0x100 | (2 * width))
            steps.append((slot, head, width, mask, mask.to_bytes(width, "big")))
    plan = _generate_encode(tuple(steps))
    return plan if plan(v) == generic else None


def _generate_encode(steps: tuple):
    """Straight-line Python for one encoding plan: one ``struct`` pack of every header,
    masked value and mask, with slot numbers, masks and headers as constants."""
    fmt, args = ["!"], []
    ns: dict = {}
    for n, (slot, head, width, mask, tail) in enumerate(steps):
        code = _STRUCT_CODES.get(width)
        fmt.append("I")
        args.append(str(int.from_bytes(head, "big")))
        if code is None:                        # 6-byte MACs, 16-byte IPv6 addresses
            fmt.append(f"{width}s")
            args.append(f"(v[{slot}] & {mask}).to_bytes({width}, 'big')")
        else:
            fmt.append(code)
            args.append(f"v[{slot}] & {mask}")
        if tail:
            ns[f"t{n}"] = tail
            fmt.append(f"{len(tail)}s")
            args.append(f"t{n}")
    ns["pack"] = struct.Struct("".join(fmt)).pack
    src = f"def replay(v):\n    return pack({', '.join(args)})\n"
    exec(src, ns)                  # noqa: S102 - source built from ints only
    return ns["replay"]


def encode_plan(match: Match, version: int):
    """The plan of ``match``'s shape: a function ``values -> TLV bytes`` giving what
    ``encode_tlvs`` gives for every match of that shape, or None (no plan: use
    ``encode_tlvs``).  For callers that keep it per shape themselves (a flow dump knows
    which rules share a mask list, and skips building this key per rule)."""
    v, m = match.values, match.masks
    if m[_VLAN_TCI]:
        return None
    key = (version, v[_ETH_TYPE] if m[_ETH_TYPE] == 0xFFFF else -1,
           v[_NW_PROTO] if m[_NW_PROTO] == 0xFF else -1, *m)
    try:
        return _ENCODE_PLANS[key]
    except KeyError:
        if len(_ENCODE_PLANS) >= _MAX_PLANS:
            _ENCODE_PLANS.clear()
        plan = _ENCODE_PLANS[key] = _record(match, version)
        return plan


def encode_tlvs(match: Match, version: int) -> bytes:
    """``match_codec._encode_tlvs`` through the plan of the match's shape, if it has one."""
    plan = encode_plan(match, version)
    if plan is None:
        return MC._encode_tlvs(match, version)
    return plan(match.values)


# --- decoding ---------------------------------------------------------------------------------

#: Slots whose values other fields' prerequisites read: pinned to the recorded values.
_PINNED_SLOTS = frozenset((Slot.ETH_TYPE, Slot.NW_PROTO, Slot.VLAN_TCI))
#: Prerequisites decided by pinned slots alone (ND ones also read the ICMPv6 type/code).
_PLANNABLE_PREREQS = frozenset(F.Prereq) - {F.Prereq.ND, F.Prereq.ND_SOLICIT,
                                            F.Prereq.ND_ADVERT}
_STRUCT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}


class _DecodePlan:
    """A recorded shape: ``replay(buf, offset) -> Match | None``, generated code."""

    __slots__ = ("replay",)


#: (match length, first header) -> plans recorded for it (a few at most).
_DECODE_PLANS: dict[tuple[int, int], list[_DecodePlan]] = {}
#: (match length, first header) -> matches of that key that could not be planned.
_FAILED: dict[tuple[int, int], int] = {}


def _record_decode(buf, offset: int, end: int, match: Match) -> _DecodePlan | None:
    """The plan of the TLVs at ``buf[offset:end]`` (which decoded to ``match``)."""
    fmt, headers, pins, fixed, steps = ["!"], [], [], [], []
    n = 0                                    # items the struct has produced so far
    pos = offset
    while pos < end:
        header, = MC._u32.unpack_from(buf, pos)
        fast = MC._FAST.get(header >> 9)
        entry = MC._BY_HEADER.get((header >> 16, (header >> 9) & 0x7F))
        if fast is None or entry is None or entry.field.prereq not in _PLANNABLE_PREREQS:
            return None
        (width, maskable, wire_full, full, _prereq, slot, _bits, shift, _name,
         value_ok) = fast
        masked = bool(header & 0x100)
        if header & 0xFF != (2 * width if masked else width):
            return None
        code = _STRUCT_CODES.get(width, f"{width}s")
        fmt.append("I" + code + (code if masked else ""))
        headers.append((n, header))
        vi, mi = n + 1, (n + 2 if masked else -1)
        n += 3 if masked else 2
        if slot in _PINNED_SLOTS:
            pins.append(vi)
            value = int.from_bytes(buf[pos + 4:pos + 4 + width], "big")
            mask = (int.from_bytes(buf[pos + 4 + width:pos + 4 + 2 * width], "big")
                    if masked else wire_full) & full
            fixed.append((slot, (value & mask) << shift, mask << shift))
            if masked:
                pins.append(mi)
        else:
            steps.append((vi, mi, code[-1] == "s", slot, shift, full, wire_full, maskable,
                          value_ok))
        pos += 4 + (header & 0xFF)
    if pos != end:
        return None
    st = struct.Struct("".join(fmt))
    vals = st.unpack_from(buf, offset)
    base_values, base_masks = [0] * F.N_SLOTS, [0] * F.N_SLOTS
    for slot, value, mask in fixed:       # the pinned fields, the same in every match
        base_values[slot] |= value
        base_masks[slot] |= mask
    plan = _DecodePlan()
    plan.replay = _generate(st, [i for i, _ in headers], tuple(h for _, h in headers),
                            pins, tuple(vals[i] for i in pins), base_values, base_masks,
                            steps)
    return plan if plan.replay(buf, offset) == match else None


def _generate(st: struct.Struct, header_idx: list[int], headers: tuple, pins: list[int],
              pinned: tuple, base_values: list[int], base_masks: list[int],
              steps: list[tuple]):
    """Straight-line Python for one plan (as ``classifier/codegen.py`` does for lookups):
    the unpack into locals, the header and pin comparisons against constants, per field
    the generic decoder's fast-path checks, then the two slot lists built whole (one
    list display each: constants where no field of the shape writes, the field's value
    or mask where one does).  Any failed check returns None."""
    n_items = len(st.unpack(bytes(st.size)))
    ns = {"unpack": st.unpack_from, "new": _new_match, "Match": Match,
          "from_bytes": int.from_bytes}
    src = ["def replay(buf, offset):",
           f"    {''.join(f'v{i}, ' for i in range(n_items))}= unpack(buf, offset)"]
    checks = [f"v{i} != {h}" for i, h in zip(header_idx, headers)]
    checks += [f"v{i} != {p!r}" for i, p in zip(pins, pinned)]
    if checks:
        src += [f"    if {' or '.join(checks)}:", "        return None"]
    value_parts: dict[int, list[str]] = {}
    mask_parts: dict[int, list[str]] = {}
    for n, (vi, mi, is_bytes, slot, shift, full, wire_full, maskable, value_ok) in \
            enumerate(steps):
        x, k = f"x{n}", f"k{n}"
        src.append(f"    {x} = from_bytes(v{vi}, 'big')" if is_bytes else f"    {x} = v{vi}")
        if mi >= 0:
            src.append(f"    {k} = from_bytes(v{mi}, 'big')" if is_bytes
                       else f"    {k} = v{mi}")
            src += [f"    if {x} & ~{k}:", "        return None"]
            if not maskable:
                src += [f"    if {k} != {wire_full} and {k}:", "        return None"]
            if wire_full > full:
                src.append(f"    {k} &= {full}")
        if wire_full > full:
            src += [f"    if {x} > {full}:", "        return None"]
        if value_ok is not None:
            ns[f"ok{n}"] = value_ok
            src += [f"    if not ok{n}({x}):", "        return None"]
        # Past the checks x & ~k == 0 and x <= full, so x & k is x itself.
        sh = f" << {shift}" if shift else ""
        value_parts.setdefault(slot, []).append(f"({x}{sh})" if shift else x)
        mask_parts.setdefault(slot, []).append(f"({k}{sh})" if mi >= 0 else str(full << shift))

    def display(base: list[int], parts: dict[int, list[str]]) -> str:
        items = []
        for slot, const in enumerate(base):
            terms = parts.get(slot, [])
            if const or not terms:
                terms = [str(const)] + terms
            items.append(" | ".join(terms))
        return "[" + ", ".join(items) + "]"

    src += ["    match = new(Match)",
            f"    match.values = {display(base_values, value_parts)}",
            f"    match.masks = {display(base_masks, mask_parts)}",
            "    return match"]
    exec("\n".join(src), ns)       # noqa: S102 - source built from ints only
    return ns["replay"]


def decode_tlvs(buf, offset: int, end: int) -> Match:
    """``match_codec._decode_tlvs`` through a recorded plan when one fits."""
    if end - offset < 4:
        return MC._decode_tlvs(buf, offset, end)
    key = (end - offset, MC._u32.unpack_from(buf, offset)[0])
    plans = _DECODE_PLANS.get(key)
    if plans:
        if end > len(buf):
            return MC._decode_tlvs(buf, offset, end)
        for plan in plans:
            match = plan.replay(buf, offset)
            if match is not None:
                return match
    match = MC._decode_tlvs(buf, offset, end)      # raises what OVS would
    if (plans is None or len(plans) < 4) and _FAILED.get(key, 0) < 8:
        plan = _record_decode(buf, offset, end, match)
        if plan is not None:
            if len(_DECODE_PLANS) >= _MAX_PLANS:
                _DECODE_PLANS.clear()
                _FAILED.clear()
            _DECODE_PLANS.setdefault(key, []).append(plan)
        else:                                       # give up on shapes that have none
            _FAILED[key] = _FAILED.get(key, 0) + 1
    return match
