"""table_features: what the switch tells a TABLE_FEATURES query and how it takes a request
that sets features (OVS ofproto.c query_tables, handle_table_features_request and
handle_table_features_change), OpenFlow 1.3+.

What this module owns
---------------------
``table_features(flows)``: one ``TableFeatures`` per visible table (0..253): its name,
full metadata match/write masks, ``max_entries`` (1,000,000 or the table's flow limit if
lower), and the same capability properties for the table-miss and other flows: every
instruction (goto_table only where a later table exists), the later tables as next tables,
every standard action type for write/apply, and the standard OXM fields as matchable,
wildcardable and settable (as OVS, which supports everything in every table).  The list is
built once per table configuration and cached on the ``FlowTables``.

``set_table_features(flows, tables, version)``: a request that lists tables.  The pipeline
cannot be reshaped, so, as Open vSwitch, it is accepted only when it asks for no more than
the switch already has, and then only the table names change.  Checked in OVS's order,
each failure refusing the whole request:

1. each table as it is read: an OF1.5 command out of range (OFPTFFC_BAD_COMMAND), table
   0xff (OFPTFFC_BAD_TABLE), a property type twice or a required one missing
   (OFPTFFC_BAD_FEATURES), an unknown property (OFPBPC_BAD_TYPE), instruction
   (OFPBIC_UNKNOWN_INST), field (OFPBMC_BAD_FIELD) or next table 255 (OFPBPC_BAD_VALUE), a
   masked field where no mask is allowed (OFPBMC_BAD_MASK); a table listed twice
   (NXTFFC_DUP_TABLE);
2. the hidden internal table listed (OFPTFFC_EPERM);
3. OF1.5 command (taken from the first table): MODIFY keeps the unlisted tables and, for a
   listed one without properties, its properties; ENABLE and DISABLE are OFPTFFC_EPERM;
4. the tables must be exactly the switch's (more: OFPTFFC_TOO_MANY, fewer or a gap:
   OFPTFFC_EPERM);
5. ``max_entries`` must be what the switch reports (OFPTFFC_EPERM);
6. a table named through the database keeps that name: another one is OFPTFFC_EPERM;
7. each table may ask only for a subset of what it has: instructions (no goto_table in the
   last table), next tables (only later ones), settable, matchable, maskable and
   wildcardable fields, and in OF1.4+ no eviction or vacancy-event capability
   (OFPTFFC_EPERM).  Action lists cannot fail: every table takes every action and, as in
   OVS, action types unknown to the version are ignored;
8. the tables take the requested names (TABLE_FEATURES level, below the database's).

Must not import: ``vswitchd``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.match_codec import (OXM_EXPERIMENTER_CLASS, decode_field_header,
                                            encode_field_header)
from pyvswitch.openflow.wire_table_features import TableFeatureProp, TableFeatures
from pyvswitch.packet.fields import FIELDS, OXM_CLASS_PACKET_REGS

# Property types (OF1.3 ofp_table_feature_prop_type).
_INSTRUCTIONS, _INSTRUCTIONS_MISS, _NEXT_TABLES, _NEXT_TABLES_MISS = 0, 1, 2, 3
_WRITE_ACTIONS, _WRITE_ACTIONS_MISS, _APPLY_ACTIONS, _APPLY_ACTIONS_MISS = 4, 5, 6, 7
_MATCH, _WILDCARDS, _WRITE_SETFIELD, _WRITE_SETFIELD_MISS = 8, 10, 12, 13
_APPLY_SETFIELD, _APPLY_SETFIELD_MISS = 14, 15
#: OFPIT_GOTO_TABLE .. OFPIT_METER.
_ALL_INSTRUCTIONS = (1, 2, 3, 4, 5, 6)
#: OF1.3 action types: output, copy_ttl_out/in, set/dec mpls ttl, push/pop vlan,
#: push/pop mpls, set_queue, group, set/dec nw ttl, set_field, push/pop pbb.
_ALL_ACTIONS = (0, 11, 12, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27)


def _oxm_headers(version: int, writable_only: bool) -> tuple[int, ...]:
    out = []
    for fld in FIELDS:
        if fld.oxm is None or fld.oxm[0] != 0x8000 or (writable_only and not fld.writable):
            continue
        if fld.min_version > version:
            continue
        try:
            raw = encode_field_header(fld, version)
        except ValueError:
            continue
        if len(raw) == 4:
            out.append(int.from_bytes(raw, "big"))
    return tuple(out)


def _max_entries(table) -> int:
    return min(1_000_000, table.max_flows)


def table_features(flows, version: int = 0x04) -> tuple[TableFeatures, ...]:
    """The TABLE_FEATURES of ``flows`` (a ``tables.FlowTables``) for ``version``."""
    key = (version, tuple((t.name, t.max_flows) for t in flows.tables[:flows.n_tables]))
    cached = getattr(flows, "_features_cache", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    match = _oxm_headers(version, False)
    setfield = _oxm_headers(version, True)
    n = flows.n_tables
    out = []
    for table in flows.tables[:n]:
        tid = table.table_id
        later = tuple(range(tid + 1, n))
        instructions = _ALL_INSTRUCTIONS if later else tuple(
            i for i in _ALL_INSTRUCTIONS if i != 1)
        props = []
        for base_inst, base_next, base_w, base_a, base_ws, base_as in (
                (_INSTRUCTIONS, _NEXT_TABLES, _WRITE_ACTIONS, _APPLY_ACTIONS,
                 _WRITE_SETFIELD, _APPLY_SETFIELD),
                (_INSTRUCTIONS_MISS, _NEXT_TABLES_MISS, _WRITE_ACTIONS_MISS,
                 _APPLY_ACTIONS_MISS, _WRITE_SETFIELD_MISS, _APPLY_SETFIELD_MISS)):
            props += [TableFeatureProp(base_inst, instructions),
                      TableFeatureProp(base_next, later),
                      TableFeatureProp(base_w, _ALL_ACTIONS),
                      TableFeatureProp(base_a, _ALL_ACTIONS),
                      TableFeatureProp(base_ws, setfield),
                      TableFeatureProp(base_as, setfield)]
        props += [TableFeatureProp(_MATCH, match), TableFeatureProp(_WILDCARDS, match)]
        props.sort(key=lambda p: p.type)
        out.append(TableFeatures(table_id=tid, name=table.name,
                                 max_entries=_max_entries(table),
                                 properties=tuple(props)))
    result = tuple(out)
    flows._features_cache = (key, result)
    return result


# --- setting features -----------------------------------------------------------------

_OFPTT_ALL = 0xFF
#: OF1.5 ofp_table_features_command.
_REPLACE, _MODIFY, _ENABLE, _DISABLE = 0, 1, 2, 3
#: OF1.4+ capabilities a table could be asked for (OVS offers neither).
_OFPTC14_EVICTION, _OFPTC14_VACANCY_EVENTS = 1 << 2, 1 << 3
#: Properties every table of an OF1.3/1.4 request (and of an OF1.5 one with any) must have.
_REQUIRED = frozenset((_INSTRUCTIONS, _NEXT_TABLES, _WRITE_ACTIONS, _APPLY_ACTIONS, _MATCH,
                       _WILDCARDS, _WRITE_SETFIELD, _APPLY_SETFIELD))
_ACTION_PROPS = frozenset((_WRITE_ACTIONS, _WRITE_ACTIONS_MISS, _APPLY_ACTIONS,
                           _APPLY_ACTIONS_MISS))
#: Name level of TABLE_FEATURES (the database's is 2, see ``tables.OfTable.set_name``).
_LEVEL_OPENFLOW = 1
#: A request's name is read as a C string from its 32 bytes: at most 31 characters.
_NAME_MAX = 31

_XREGS = frozenset(f"xreg{i}" for i in range(8))
#: Every field has an OXM or NXM header, so every one is matchable (as in OVS).
_MATCHABLE = frozenset(f.name for f in FIELDS) | _XREGS
_MASKABLE = frozenset(f.name for f in FIELDS if f.maskable) | _XREGS
_SETTABLE = frozenset(f.name for f in FIELDS if f.writable) | _XREGS


@dataclass(frozen=True)
class _Pipe:
    """What the flows of a table (its table-miss flow, or the others) may use."""

    instructions: frozenset[int]
    next_tables: frozenset[int]
    write_set: frozenset[str]        # fields a write_actions set_field may set
    apply_set: frozenset[str]        # fields an apply_actions set_field may set

    def within(self, have: _Pipe) -> bool:
        return (self.instructions <= have.instructions and self.next_tables <= have.next_tables
                and self.write_set <= have.write_set and self.apply_set <= have.apply_set)


_NO_PIPE = _Pipe(frozenset(), frozenset(), frozenset(), frozenset())


@dataclass(frozen=True)
class _Features:
    """One table's features, version-independent (OVS ofputil_table_features)."""

    table_id: int
    name: str
    max_entries: int
    capabilities: int                # OF1.4+ eviction/vacancy bits asked for; 0 in OF1.3
    any_properties: bool
    nonmiss: _Pipe
    miss: _Pipe
    match: frozenset[str]
    mask: frozenset[str]
    wildcard: frozenset[str]

    def within(self, have: _Features) -> bool:
        return (not self.capabilities & ~have.capabilities
                and self.max_entries <= have.max_entries
                and self.nonmiss.within(have.nonmiss) and self.miss.within(have.miss)
                and self.match <= have.match and self.mask <= have.mask
                and self.wildcard <= have.wildcard)


def _current(flows, table_id: int) -> _Features:
    """What table ``table_id`` has now (what the query reports)."""
    table = flows.tables[table_id]
    later = frozenset(range(table_id + 1, flows.n_tables))
    instructions = frozenset(_ALL_INSTRUCTIONS if later else _ALL_INSTRUCTIONS[1:])
    pipe = _Pipe(instructions, later, _SETTABLE, _SETTABLE)
    return _Features(table_id, table.name, _max_entries(table), 0, True, pipe, pipe,
                     _MATCHABLE, _MASKABLE, _MATCHABLE)


def _field_name(cls: int, code: int, length: int, masked: bool, exp: int | None) -> str:
    """The field a bare OXM/NXM header names; OFPBMC_BAD_FIELD if none (OVS
    nx_pull_header: the header's class, field and length must all be known)."""
    exp_len = 0 if exp is None else 4
    width = length - exp_len
    if masked:
        width, odd = divmod(width, 2)
        if odd:
            raise OFPError("OFPBMC_BAD_FIELD", f"OXM {cls:#x}:{code} length {length}")
    if cls == OXM_CLASS_PACKET_REGS and code < 8 and width == 8:
        return f"xreg{code}"
    header = struct.pack("!I", (cls << 16) | (code << 9) | (width + exp_len))
    if exp is not None:
        header += struct.pack("!I", exp)
    try:
        fld, _, _ = decode_field_header(header, 0, len(header))
    except OFPError:
        raise OFPError("OFPBMC_BAD_FIELD", f"OXM {cls:#x}:{code} length {length}") from None
    return fld.name


def _fields(items: tuple[int, ...], masks_allowed: bool) -> tuple[frozenset, frozenset]:
    """``(exact, masked)`` field names of an OXM-list property."""
    exact, masked = set(), set()
    pos = 0
    while pos < len(items):
        header = items[pos]
        pos += 1
        cls, code, length = header >> 16, (header >> 9) & 0x7F, header & 0xFF
        exp = None
        if cls == OXM_EXPERIMENTER_CLASS:
            if pos >= len(items) or length < 4:
                raise OFPError("OFPBMC_BAD_LEN", "experimenter OXM header")
            exp = items[pos]
            pos += 1
        has_mask = bool(header & 0x100)
        (masked if has_mask else exact).add(_field_name(cls, code, length, has_mask, exp))
    if masked and not masks_allowed:
        raise OFPError("OFPBMC_BAD_MASK", "masked field where only fields are listed")
    return frozenset(exact), frozenset(masked)


def _parse(tf: TableFeatures, version: int) -> _Features:
    """One table of a request, read strictly (OVS ofputil_decode_table_features as a
    switch reads it): anything unknown is an error."""
    if version >= 0x06 and tf.command > _DISABLE:
        raise OFPError("OFPTFFC_BAD_COMMAND", f"command {tf.command}")
    if tf.table_id == _OFPTT_ALL:
        raise OFPError("OFPTFFC_BAD_TABLE", "table 0xff")
    seen: dict[int, object] = {}
    for prop in tf.properties:
        ptype = prop.type
        if ptype < 32 and ptype in seen:
            raise OFPError("OFPTFFC_BAD_FEATURES", f"property {ptype} twice")
        if ptype in (_INSTRUCTIONS, _INSTRUCTIONS_MISS):
            unknown = [i for i in prop.items if i not in _ALL_INSTRUCTIONS]
            if unknown:
                raise OFPError("OFPBIC_UNKNOWN_INST", f"instruction {unknown[0]}")
            value: object = frozenset(prop.items)
        elif ptype in (_NEXT_TABLES, _NEXT_TABLES_MISS):
            if _OFPTT_ALL in prop.items:
                raise OFPError("OFPBPC_BAD_VALUE", "next table 255")
            value = frozenset(prop.items)
        elif ptype in _ACTION_PROPS:
            value = None
        elif ptype == _MATCH:
            value = _fields(prop.items, True)
        elif ptype in (_WILDCARDS, _WRITE_SETFIELD, _WRITE_SETFIELD_MISS, _APPLY_SETFIELD,
                       _APPLY_SETFIELD_MISS):
            value = _fields(prop.items, False)[0]
        else:
            raise OFPError("OFPBPC_BAD_TYPE", f"table feature property {ptype}")
        seen[ptype] = value
    any_properties = bool(tf.properties)
    if (_REQUIRED - seen.keys()) and (any_properties or version < 0x06):
        raise OFPError("OFPTFFC_BAD_FEATURES", "a required property is missing")

    empty: frozenset = frozenset()
    if any_properties:
        def prop(ptype, miss_type=None):
            if miss_type is not None and miss_type in seen:
                return seen[miss_type]
            return seen.get(ptype, empty)
        nonmiss = _Pipe(prop(_INSTRUCTIONS), prop(_NEXT_TABLES), prop(_WRITE_SETFIELD),
                        prop(_APPLY_SETFIELD))
        miss = _Pipe(prop(_INSTRUCTIONS, _INSTRUCTIONS_MISS),
                     prop(_NEXT_TABLES, _NEXT_TABLES_MISS),
                     prop(_WRITE_SETFIELD, _WRITE_SETFIELD_MISS),
                     prop(_APPLY_SETFIELD, _APPLY_SETFIELD_MISS))
    else:
        nonmiss = miss = _NO_PIPE
    exact, mask = seen.get(_MATCH, (empty, empty))
    match = exact | mask
    wildcard = (seen.get(_WILDCARDS, empty) | mask) & match
    caps = tf.config & (_OFPTC14_EVICTION | _OFPTC14_VACANCY_EVENTS) if version >= 0x05 else 0
    return _Features(tf.table_id, tf.name[:_NAME_MAX], tf.max_entries, caps, any_properties,
                     nonmiss, miss, match, mask, wildcard)


def _may_rename(table, name: str) -> bool:
    """A name given through the database stays (OVS oftable_may_set_name): only a request
    for no name, or one that the database's name begins with, goes through."""
    return table.name_level <= _LEVEL_OPENFLOW or not table.name or table.name.startswith(name)


def set_table_features(flows, tables, version: int) -> None:
    """Apply the tables of a TABLE_FEATURES request (a sequence of ``TableFeatures``, all
    pieces of a multi-part request in order) to ``flows``, or raise the ``OFPError`` Open
    vSwitch answers with and change nothing.  Only the table names can change."""
    new: dict[int, _Features] = {}
    command = _REPLACE
    for tf in tables:
        features = _parse(tf, version)
        if not new and version >= 0x06:
            command = tf.command
        if tf.table_id in new:
            raise OFPError("NXTFFC_DUP_TABLE", f"table {tf.table_id} twice")
        new[tf.table_id] = features
    if not new:
        return

    n_visible, n_all = flows.n_tables, len(flows.tables)
    for table_id in range(n_visible, n_all):
        if table_id in new:
            raise OFPError("OFPTFFC_EPERM", f"table {table_id} is hidden")
    seen = set(new) | set(range(n_visible, n_all))
    old = [_current(flows, table_id) for table_id in range(n_visible)]

    if command == _MODIFY:
        for table_id in range(n_visible):
            mine = new.get(table_id)
            if mine is None:
                new[table_id] = old[table_id]
                seen.add(table_id)
            elif not mine.any_properties:
                have = old[table_id]
                new[table_id] = replace(mine, any_properties=True, nonmiss=have.nonmiss,
                                        miss=have.miss, match=have.match, mask=have.mask,
                                        wildcard=have.wildcard)
    elif command in (_ENABLE, _DISABLE):
        raise OFPError("OFPTFFC_EPERM", "tables cannot be enabled or disabled")

    n_listed = next(i for i in range(257) if i not in seen)
    if n_listed != n_all or max(seen) > n_listed:
        raise OFPError("OFPTFFC_TOO_MANY" if n_listed > n_all else "OFPTFFC_EPERM",
                       f"{n_listed} tables, the switch has {n_all}")
    for table_id in range(n_visible):
        if new[table_id].max_entries != old[table_id].max_entries:
            raise OFPError("OFPTFFC_EPERM", f"table {table_id}: max_entries is read-only")
    for table_id in range(n_visible):
        if not _may_rename(flows.tables[table_id], new[table_id].name):
            raise OFPError("OFPTFFC_EPERM",
                           f"table {table_id} is named {flows.tables[table_id].name!r} "
                           "by the database")
    for table_id in range(n_visible):
        if not new[table_id].within(old[table_id]):
            raise OFPError("OFPTFFC_EPERM", f"table {table_id} asks for more than it has")
    for table_id in range(n_visible):
        flows.tables[table_id].set_name(new[table_id].name, _LEVEL_OPENFLOW)
