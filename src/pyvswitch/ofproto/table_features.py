"""table_features: what the switch tells a TABLE_FEATURES query (OVS ofproto.c
query_tables, handle_table_features_request), OpenFlow 1.3+.

What this module owns
---------------------
``table_features(flows)``: one ``TableFeatures`` per visible table (0..253): its name,
full metadata match/write masks, ``max_entries`` (1,000,000 or the table's flow limit if
lower), and the same capability properties for the table-miss and other flows: every
instruction (goto_table only where a later table exists), the later tables as next tables,
every standard action type for write/apply, and the standard OXM fields as matchable,
wildcardable and settable (as OVS, which supports everything in every table).  The list is
built once per table configuration and cached on the ``FlowTables``.

Setting features (a request that carries tables) is refused with OFPTFFC_EPERM, since the
tables cannot be reconfigured that way here.

Must not import: ``vswitchd``.
"""

from __future__ import annotations

from pyvswitch.openflow.match_codec import encode_field_header
from pyvswitch.openflow.wire_table_features import TableFeatureProp, TableFeatures
from pyvswitch.packet.fields import FIELDS

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
                                 max_entries=min(1_000_000, table.max_flows),
                                 properties=tuple(props)))
    result = tuple(out)
    flows._features_cache = (key, result)
    return result
