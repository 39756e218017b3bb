"""TABLE_FEATURES against os-ken and ovs-ofctl."""

from __future__ import annotations

import pytest

from oracles import ofp_print, osken, osken_bytes, osken_parse
from pyvswitch.openflow import codec
from pyvswitch.openflow.errors import OFPError, canonical_name
from pyvswitch.openflow.framing import MAX_MESSAGE
from pyvswitch.openflow.wire_table_features import (TableFeatureProp, TableFeatures,
                                                    TableFeaturesReply, TableFeaturesRequest)

OXM_IN_PORT, OXM_ETH_TYPE, OXM_IP_SRC, OXM_IP_SRC_W = \
    0x80000004, 0x80000A02, 0x80001604, 0x80001708


def _table(tid: int) -> TableFeatures:
    """A complete table description (OVS rejects one missing a required property)."""
    props = (TableFeatureProp(0, (1, 3, 4)),                 # goto, apply, clear
             TableFeatureProp(2, tuple((tid + k) % 254 for k in (1, 2, 3))),
             TableFeatureProp(4, (0,)),                        # write: output
             TableFeatureProp(6, (0, 17)),                     # apply: output, push_vlan
             TableFeatureProp(8, (OXM_IN_PORT, OXM_ETH_TYPE, OXM_IP_SRC_W)),
             TableFeatureProp(10, (OXM_IP_SRC,)),              # may be wildcarded
             TableFeatureProp(12, (OXM_IP_SRC,)),
             TableFeatureProp(14, (OXM_IP_SRC,)))
    return TableFeatures(tid, f"table{tid}", max_entries=1000000, properties=props)


@pytest.mark.parametrize("version", (4, 5, 6))
def test_empty_request_from_osken_asks_for_features(version):
    dp, ofp, parser = osken(version)
    assert codec.decode(osken_bytes(parser.OFPTableFeaturesStatsRequest(dp, 0, []))) == \
        TableFeaturesRequest()


@pytest.mark.parametrize("version", (4, 5, 6))
def test_reply_is_read_by_osken_and_ovs_ofctl(version):
    raw = codec.encode(TableFeaturesReply((_table(0), _table(1))), version, 1)
    body = osken_parse(raw).body
    assert [t.table_id for t in body] == [0, 1]
    assert body[0].name.rstrip(b"\0") == b"table0" and body[0].max_entries == 1000000
    text = ofp_print(raw)
    assert 'table 0 ("table0")' in text and 'table 1 ("table1")' in text
    assert "max_entries=1000000" in text
    assert "next tables: 1-3" in text
    assert codec.decode(raw).tables == (_table(0), _table(1))


def test_a_set_request_from_osken_decodes_its_properties():
    dp, ofp, parser = osken(4)
    prop = parser.OFPTableFeaturePropNextTables(type_=ofp.OFPTFPT_NEXT_TABLES,
                                                table_ids=[2, 3])
    body = parser.OFPTableFeaturesStats(table_id=1, name=b"t1", metadata_match=0,
                                        metadata_write=0, config=0, max_entries=10,
                                        properties=[prop])
    req = codec.decode(osken_bytes(parser.OFPTableFeaturesStatsRequest(dp, 0, [body])))
    assert req.tables == (TableFeatures(1, "t1", 0, 0, 0, 10,
                                        (TableFeatureProp(2, (2, 3)),)),)


def test_many_tables_split_over_messages():
    many_fields = TableFeatureProp(12, tuple(0x80000004 + (i << 9) for i in range(40)))
    tables = tuple(TableFeatures(i, f"t{i}", properties=_table(i).properties + (many_fields,))
                   for i in range(254))
    parts = codec.encode_all(TableFeaturesReply(tables), 4, 1)
    assert len(parts) > 1 and all(len(p) <= MAX_MESSAGE for p in parts)
    got = [t.table_id for p in parts for t in codec.decode(p).tables]
    assert got == list(range(254))


def test_an_of15_request_carries_its_command():
    dp, ofp, parser = osken(6)
    body = parser.OFPTableFeaturesStats(table_id=2, command=ofp.OFPTFC_MODIFY, features=0,
                                        name=b"acl", metadata_match=0, metadata_write=0,
                                        capabilities=0, max_entries=1000000, properties=[])
    req = codec.decode(osken_bytes(parser.OFPTableFeaturesStatsRequest(dp, 0, [body])))
    assert req.tables == (TableFeatures(2, "acl", 0, 0, 0, 1000000, (), command=1),)
    # OF1.3 has no command: the same byte is padding.
    raw = codec.encode(TableFeaturesRequest((TableFeatures(2, "acl", command=1),)), 4, 1)
    assert codec.decode(raw).tables[0].command == 0


def test_a_table_whose_length_is_not_a_multiple_of_8_is_refused():
    raw = bytearray(codec.encode(TableFeaturesRequest((TableFeatures(2, "acl"),)), 4, 1))
    raw[16:18] = (68).to_bytes(2, "big")        # the table's length
    raw += (0).to_bytes(2, "big") + (4).to_bytes(2, "big")   # an empty instructions list
    raw[2:4] = len(raw).to_bytes(2, "big")
    with pytest.raises(OFPError) as e:
        codec.decode(bytes(raw))
    assert canonical_name(e.value.name) == "OFPBPC_BAD_LEN"
