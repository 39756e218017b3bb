"""TABLE_FEATURES requests that list tables (OpenFlow 1.3+), through
``Ofproto.handle_openflow``: accepted as Open vSwitch accepts them (no more than each table
has, only the names change) or refused whole with the error OVS sends, in OVS's order."""

from __future__ import annotations

import dataclasses

import pytest

from fake_session import FakeOfConn, expect_error, send
from oracles import ofp_print
from pyvswitch.ofproto.ofproto import Ofproto
from pyvswitch.ofproto.table_features import set_table_features
from pyvswitch.ofproto.tables import FlowTables
from pyvswitch.openflow import codec
from pyvswitch.openflow import messages_stats as ms
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.wire_table_features import (TableFeatureProp, TableFeatures,
                                                    TableFeaturesReply, TableFeaturesRequest)

OXM_IN_PORT, OXM_IN_PORT_W = 0x80000004, 0x80000108
OXM_ETH_TYPE, OXM_ETH_DST, OXM_ETH_DST_W = 0x80000A02, 0x80000606, 0x8000070C
OXM_IPV6_EXTHDR = 0x80004E02
NXM_REG0 = 0x00010004
FAUCET_NAMES = ("vlan", "eth_src", "eth_dst", "flood")


@pytest.fixture
def ofp():
    return Ofproto("br0", 1)


def faucet_table(tid: int, props: dict | None = None, n: int = 254) -> TableFeatures:
    """A table as Faucet's "Open vSwitch TFM" pipeline describes it: the instructions and
    actions it uses, the next tables, no field lists."""
    base = {0: (1, 4) if tid < n - 1 else (4,), 2: tuple(range(tid + 1, min(tid + 4, n))),
            4: (), 6: (0, 17, 25), 8: (), 10: (), 12: (), 14: ()}
    base.update(props or {})
    properties = tuple(TableFeatureProp(t, items) for t, items in base.items()
                       if items is not None)
    name = FAUCET_NAMES[tid] if tid < len(FAUCET_NAMES) else f"t{tid}"
    return TableFeatures(tid, name, max_entries=1_000_000, properties=properties)


def faucet_request(n: int = 254, **changed) -> TableFeaturesRequest:
    """All ``n`` tables; ``changed`` maps "t<id>" to a replacement table."""
    return TableFeaturesRequest(tuple(changed.get(f"t{i}", faucet_table(i, n=n))
                                      for i in range(n)))


def reply_tables(replies) -> list[TableFeatures]:
    assert all(isinstance(r, TableFeaturesReply) for r in replies), replies
    return [t for r in replies for t in r.tables]


def send_in_pieces(ofp, conn, tables, per_piece: int = 30) -> list:
    """A request too big for one message, as a controller sends it: pieces with MORE."""
    for start in range(0, len(tables), per_piece):
        piece = TableFeaturesRequest(tuple(tables[start:start + per_piece]),
                                     more=start + per_piece < len(tables))
        ofp.handle_openflow(conn, codec.encode(piece, conn.version, 5), 0)
    return conn.replies()


def names(ofp, first: int = 5) -> list[str]:
    return [t.name for t in ofp.flows.tables[:first]]


def test_faucets_request_is_accepted_and_names_the_tables(ofp):
    conn = FakeOfConn(0x04)
    before = reply_tables(send(ofp, conn, TableFeaturesRequest()))
    after = reply_tables(send(ofp, conn, faucet_request()))
    assert [t.name for t in after[:5]] == ["vlan", "eth_src", "eth_dst", "flood", "t4"]
    # Only the names changed: the reply still offers everything the tables have.
    assert [dataclasses.replace(t, name="") for t in after] == \
        [dataclasses.replace(t, name="") for t in before]
    # OpenFlow 1.0 table statistics (ovs-ofctl dump-tables) show the names too.
    (stats,) = send(ofp, FakeOfConn(0x01), ms.TableStatsRequest())
    assert [t.name for t in stats.tables[:2]] == ["vlan", "eth_src"]


@pytest.mark.parametrize("version", [0x04, 0x05, 0x06])
def test_the_switchs_own_features_sent_back_are_accepted(ofp, version):
    conn = FakeOfConn(version)
    tables = reply_tables(send(ofp, conn, TableFeaturesRequest()))
    tables[7] = dataclasses.replace(tables[7], name="seven")
    assert reply_tables(send_in_pieces(ofp, conn, tables))[7].name == "seven"


def test_a_request_in_two_pieces_is_taken_whole(ofp):
    conn = FakeOfConn(0x04)
    tables = faucet_request().tables
    first = codec.encode(TableFeaturesRequest(tables[:100], more=True), 0x04, 5)
    ofp.handle_openflow(conn, first, 0)
    assert conn.replies() == [] and names(ofp, 1) == [""]
    ofp.handle_openflow(conn, codec.encode(TableFeaturesRequest(tables[100:]), 0x04, 5), 0)
    assert reply_tables(conn.replies())[3].name == "flood"
    assert ofp.flows.tables[200].name == "t200"


def test_a_name_from_the_database_wins(ofp):
    conn = FakeOfConn(0x04)
    ofp.flows.configure_table(1, 0, name="macs")
    expect_error(ofp, conn, faucet_request(), "OFPTFFC_EPERM")
    assert names(ofp, 3) == ["", "macs", ""]      # refused whole: table 0 not renamed
    # No name, or one the database's name starts with, goes through; the name stays.
    for asked in ("", "mac"):
        request = faucet_request(t1=dataclasses.replace(faucet_table(1), name=asked))
        assert reply_tables(send(ofp, conn, request))[1].name == "macs"
        assert names(ofp, 3) == ["vlan", "macs", "eth_dst"]


def test_the_database_renames_over_openflow_and_leaving_it_out_keeps_openflows(ofp):
    conn = FakeOfConn(0x04)
    send(ofp, conn, faucet_request())
    ofp.flows.configure_table(0, 0)                  # a Flow_Table row without a name
    assert names(ofp, 1) == ["vlan"]
    ofp.flows.configure_table(0, 0, name="ingress")
    assert names(ofp, 1) == ["ingress"]
    ofp.flows.configure_table(0, 0)                  # the database's name removed
    assert names(ofp, 1) == [""]
    send(ofp, conn, faucet_request())
    assert names(ofp, 1) == ["vlan"]


def test_max_entries_must_be_what_the_switch_reports(ofp):
    conn = FakeOfConn(0x04)
    ofp.flows.configure_table(2, 0, max_flows=10)
    expect_error(ofp, conn, faucet_request(), "OFPTFFC_EPERM")
    fixed = dataclasses.replace(faucet_table(2), max_entries=10)
    assert reply_tables(send(ofp, conn, faucet_request(t2=fixed)))[2].name == "eth_dst"


@pytest.mark.parametrize("table, props, why", [
    (253, {0: (1, 4)}, "goto_table from the last table"),
    (253, {0: (4,), 1: (1,)}, "goto_table for the last table's table-miss flow"),
    (5, {2: (4, 6)}, "an earlier next table"),
    (5, {2: (6, 254)}, "the hidden table as next table"),
    (5, {12: (OXM_IPV6_EXTHDR,)}, "setting a read-only field"),
    (5, {8: (OXM_IN_PORT_W,)}, "masking a field that takes no mask"),
])
def test_asking_for_more_than_a_table_has_is_eperm(ofp, table, props, why):
    conn = FakeOfConn(0x04)
    expect_error(ofp, conn, faucet_request(**{f"t{table}": faucet_table(table, props)}),
                 "OFPTFFC_EPERM")
    assert names(ofp, 1) == [""], why


def test_subsets_of_fields_are_fine(ofp):
    conn = FakeOfConn(0x04)
    t5 = faucet_table(5, {8: (OXM_IN_PORT, OXM_ETH_DST_W, NXM_REG0), 10: (OXM_ETH_DST,),
                            12: (OXM_ETH_DST,), 14: (OXM_ETH_DST, NXM_REG0)})
    assert reply_tables(send(ofp, conn, faucet_request(t5=t5)))[0].name == "vlan"


def test_of14_may_not_ask_for_eviction_or_vacancy_events(ofp):
    conn = FakeOfConn(0x05)
    for capability in (1 << 2, 1 << 3):
        t0 = dataclasses.replace(faucet_table(0), config=capability)
        expect_error(ofp, conn, faucet_request(t0=t0), "OFPTFFC_EPERM")
    # OF1.3 has no capabilities: the same bits are ignored there.
    conn13 = FakeOfConn(0x04)
    t0 = dataclasses.replace(faucet_table(0), config=1 << 2)
    assert reply_tables(send(ofp, conn13, faucet_request(t0=t0)))[0].name == "vlan"


def test_tables_must_be_exactly_the_switchs(ofp):
    conn = FakeOfConn(0x04)
    expect_error(ofp, conn, TableFeaturesRequest(faucet_request().tables[:-1]),
                 "OFPTFFC_EPERM")                                  # one missing
    gap = tuple(t for t in faucet_request().tables if t.table_id != 100)
    expect_error(ofp, conn, TableFeaturesRequest(gap), "OFPTFFC_EPERM")
    hidden = TableFeaturesRequest(faucet_request().tables + (faucet_table(254, n=255),))
    expect_error(ofp, conn, hidden, "OFPTFFC_EPERM")
    assert names(ofp, 1) == [""]


def test_more_tables_than_the_switch_has_is_too_many():
    flows = FlowTables(n_tables=4)               # tables 0-3, the hidden one is 4
    request = [faucet_table(i, n=4) for i in range(4)] + [faucet_table(5, n=6)]
    with pytest.raises(OFPError) as e:
        set_table_features(flows, request, 0x06)
    assert e.value.name == "OFPTFFC_TOO_MANY"
    set_table_features(flows, [faucet_table(i, n=4) for i in range(4)], 0x06)
    assert [t.name for t in flows.tables[:4]] == list(FAUCET_NAMES)


def test_a_table_listed_twice_is_dup_table(ofp):
    conn = FakeOfConn(0x04)
    tables = faucet_request().tables
    raw = codec.encode(TableFeaturesRequest(tables[:3] + tables[1:2]), 0x04, 9)
    ofp.handle_openflow(conn, raw, 0)
    (reply,) = conn.rconn.sent
    # Checked as the tables are read: before the count of tables is.
    assert codec.decode(reply).name == "NXTFFC_DUP_TABLE"
    assert "NXTFFC_DUP_TABLE" in ofp_print(reply, embedded_truncated=True).splitlines()[0]


@pytest.mark.parametrize("table, name", [
    (dataclasses.replace(faucet_table(3), table_id=0xFF), "OFPTFFC_BAD_TABLE"),
    (faucet_table(3, {0: (1, 9)}), "OFPBIC_UNKNOWN_INST"),
    (faucet_table(3, {2: (4, 255)}), "OFPBPC_BAD_VALUE"),
    (faucet_table(3, {8: (0x80007F04,)}), "OFPBMC_BAD_FIELD"),       # no such field
    (faucet_table(3, {8: (0x80000605,)}), "OFPBMC_BAD_FIELD"),       # eth_dst, length 5
    (faucet_table(3, {10: (OXM_ETH_DST_W,)}), "OFPBMC_BAD_MASK"),
    (faucet_table(3, {14: (OXM_ETH_DST_W,)}), "OFPBMC_BAD_MASK"),
    (faucet_table(3, {9: ()}), "OFPBPC_BAD_TYPE"),
    (faucet_table(3, {0xFFFF: ()}), "OFPBPC_BAD_TYPE"),
])
def test_a_table_that_cannot_be_read_is_refused(ofp, table, name):
    conn = FakeOfConn(0x04)
    expect_error(ofp, conn, faucet_request(t3=table), name)
    assert names(ofp, 1) == [""]


@pytest.mark.parametrize("version, shown", [
    (0x04, "NXBRC_UNENCODABLE_ERROR"), (0x05, "NXBRC_UNENCODABLE_ERROR"),
    (0x06, "OFPTFFC_BAD_FEATURES")])
def test_a_missing_or_repeated_property_is_bad_features(ofp, version, shown):
    """OFPTFFC_BAD_FEATURES exists from OF1.5 on; before it OVS sends what it sends for an
    error the version cannot carry."""
    conn = FakeOfConn(version)
    t3 = faucet_table(3)
    missing = dataclasses.replace(t3, properties=t3.properties[:-1])
    twice = dataclasses.replace(t3, properties=t3.properties + t3.properties[:1])
    for table in (missing, twice):
        raw = codec.encode(faucet_request(t3=table), version, 9)
        ofp.handle_openflow(conn, raw, 0)
        (reply,) = conn.rconn.sent
        conn.rconn.sent.clear()
        assert shown in ofp_print(reply, embedded_truncated=True).splitlines()[0]
    assert names(ofp, 1) == [""]


def test_of15_modify_changes_only_the_tables_it_lists(ofp):
    conn = FakeOfConn(0x06)
    acl = TableFeatures(2, "acl", max_entries=1_000_000, command=1)     # no properties
    after = reply_tables(send(ofp, conn, TableFeaturesRequest((acl,))))
    assert [t.name for t in after[:4]] == ["", "", "acl", ""]
    # Listed tables are still checked: no goto_table from the last one.
    last = faucet_table(253, {0: (1, 4)})
    expect_error(ofp, conn, TableFeaturesRequest((dataclasses.replace(last, command=1),)),
                 "OFPTFFC_EPERM")


def test_of15_replace_needs_every_table_and_enable_disable_are_eperm(ofp):
    conn = FakeOfConn(0x06)
    only_one = TableFeatures(2, "acl", max_entries=1_000_000)       # REPLACE
    expect_error(ofp, conn, TableFeaturesRequest((only_one,)), "OFPTFFC_EPERM")
    for command in (2, 3):
        expect_error(ofp, conn, TableFeaturesRequest(
            (dataclasses.replace(only_one, command=command),)), "OFPTFFC_EPERM")
    expect_error(ofp, conn, TableFeaturesRequest(
        (dataclasses.replace(only_one, command=4),)), "OFPTFFC_BAD_COMMAND")
    # REPLACE of every table, without properties: OF1.5 allows it (nothing is asked for).
    every = tuple(TableFeatures(i, f"r{i}", max_entries=1_000_000) for i in range(254))
    assert reply_tables(send(ofp, conn, TableFeaturesRequest(every)))[9].name == "r9"


def test_a_duplicate_is_found_before_the_command_is_looked_at(ofp):
    conn = FakeOfConn(0x06)
    enable = TableFeatures(0, "x", max_entries=1_000_000, command=2)
    expect_error(ofp, conn, TableFeaturesRequest((enable,)), "OFPTFFC_EPERM")
    expect_error(ofp, conn, TableFeaturesRequest((enable, enable)), "NXTFFC_DUP_TABLE")
