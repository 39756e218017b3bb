"""Flow tables and flow_mod semantics (ofproto/tables.py, flow_mod.py, rule.py), with a
hand-stepped clock.  Expected behaviour and error names are Open vSwitch's (ofproto.c)."""

from __future__ import annotations

import pytest

from pyvswitch.ofproto.tables import FlowTables
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages import (
    OFPFC_DELETE, OFPFC_DELETE_STRICT, OFPFC_MODIFY,
    OFPFC_MODIFY_STRICT, OFPFF_CHECK_OVERLAP, OFPFF_RESET_COUNTS, OFPFF_SEND_FLOW_REM,
    OFPRR_DELETE, OFPRR_EVICTION, OFPRR_HARD_TIMEOUT, OFPRR_IDLE_TIMEOUT, FlowMod,
    FlowRemoved,
)
from pyvswitch.openflow.ofpacts import GroupAction, Instructions, Output, SetField
from pyvswitch.packet import fields as F
from pyvswitch.packet.fields import Match, Slot

OF10, OF11, OF13, OF14 = 0x01, 0x02, 0x04, 0x05


class FakeConnMgr:
    def __init__(self):
        self.sent: list[tuple[str, int, object]] = []

    def send_async(self, kind, reason, msg, **kw):
        self.sent.append((kind, reason, msg))
        return 1


class FakeProvider:
    def __init__(self):
        self.n_changed = 0

    def tables_changed(self):
        self.n_changed += 1


class FakeOfproto:
    def __init__(self):
        self.connmgr = FakeConnMgr()
        self.provider = FakeProvider()


@pytest.fixture
def ofp():
    return FakeOfproto()


@pytest.fixture
def ft(ofp):
    return FlowTables(ofp)


def out(port):
    return Instructions(apply=(Output(port),))


def m_in(port=None, **fields):
    m = Match()
    if port is not None:
        m.set("in_port", port)
    for name, value in fields.items():
        if isinstance(value, tuple):
            m.set(name, *value)
        else:
            m.set(name, value)
    return m


def flow(**slots):
    f = list(F.ZERO_FLOW)
    for name, value in slots.items():
        f[Slot[name]] = value
    return tuple(f)


def fm(match=None, actions=None, **kw):
    kw.setdefault("table_id", 0)
    return FlowMod(match if match is not None else Match(),
                   actions if actions is not None else out(2), **kw)


def err_name(excinfo) -> str:
    return excinfo.value.name


def removed_msgs(ofp):
    return [(reason, msg) for kind, reason, msg in ofp.connmgr.sent if kind == "flow_removed"]


# --- ADD ---------------------------------------------------------------------------------

def test_add_is_visible_at_the_next_published_version(ft, ofp):
    v0 = ft.version
    ft.apply_flow_mod(fm(m_in(1), out(2)), now=1000)
    assert ft.version == v0 + 1
    rule = ft.lookup(0, flow(IN_PORT=1))
    assert rule is not None and rule.instructions == out(2)
    assert ft.lookup(0, flow(IN_PORT=3)) is None
    assert ofp.provider.n_changed == 1


def test_staged_changes_are_invisible_until_commit(ft):
    ft.apply_flow_mod(fm(m_in(1), out(2)), 0)
    txn = ft.begin(10)
    txn.add(fm(m_in(1), out(3)))
    txn.add(fm(m_in(5), out(6)))
    assert ft.lookup(0, flow(IN_PORT=1)).instructions == out(2)
    assert ft.lookup(0, flow(IN_PORT=5)) is None
    txn.commit()
    assert ft.lookup(0, flow(IN_PORT=1)).instructions == out(3)
    assert ft.lookup(0, flow(IN_PORT=5)).instructions == out(6)


def test_add_over_identical_rule_replaces_it_keeping_counters_in_of13(ft):
    ft.apply_flow_mod(fm(m_in(1), out(2), cookie=1, idle_timeout=10), 0, version=OF13)
    ft.lookup(0, flow(IN_PORT=1)).add_stats(3, 300, 500)
    ft.apply_flow_mod(fm(m_in(1), out(4), cookie=7), 2000, version=OF13)
    rules = list(ft.rules())
    assert len(rules) == 1
    r = rules[0]
    assert r.instructions == out(4)
    assert (r.packet_count, r.byte_count) == (3, 300)
    assert r.cookie == 7                       # an ADD may change the cookie
    assert r.idle_timeout == 0                 # ADD takes its own timeouts
    assert r.created_ms == 2000                # ... and is a new flow (duration restarts)


def test_add_with_reset_counts_or_in_of10_resets_counters(ft):
    for version, flags in ((OF13, OFPFF_RESET_COUNTS), (OF10, 0), (OF11, 0)):
        ft.apply_flow_mod(fm(m_in(1), out(2)), 0, version=OF13)
        ft.lookup(0, flow(IN_PORT=1)).add_stats(3, 300, 1)
        ft.apply_flow_mod(fm(m_in(1), out(2), flags=flags), 5, version=version)
        assert ft.lookup(0, flow(IN_PORT=1)).packet_count == 0, version


def test_add_with_table_0xff_is_bad_table_id_except_in_of10(ft):
    with pytest.raises(OFPError) as e:
        ft.apply_flow_mod(fm(m_in(1), table_id=0xFF), 0, version=OF13)
    assert err_name(e) == "OFPFMFC_BAD_TABLE_ID"
    ft.apply_flow_mod(fm(m_in(1), table_id=0xFF), 0, version=OF10)
    assert ft.lookup(0, flow(IN_PORT=1)) is not None


def test_internal_table_254_is_read_only(ft):
    with pytest.raises(OFPError) as e:
        ft.apply_flow_mod(fm(m_in(1), table_id=254), 0)
    assert err_name(e) == "OFPBRC_EPERM"
    assert len(ft.table_stats()) == 254


def test_buffer_id_is_refused(ft):
    with pytest.raises(OFPError) as e:
        ft.apply_flow_mod(fm(m_in(1), buffer_id=7), 0)
    assert err_name(e) == "OFPBRC_BUFFER_UNKNOWN"
    # DELETE does not look at the buffer id.
    ft.apply_flow_mod(fm(command=OFPFC_DELETE, buffer_id=7), 0)


def test_flags_unknown_to_the_version_are_bad_flags(ft):
    with pytest.raises(OFPError) as e:
        ft.apply_flow_mod(fm(m_in(1), flags=0x20), 0, version=OF13)
    assert err_name(e) == "OFPFMFC_BAD_FLAGS"
    with pytest.raises(OFPError) as e:       # NO_PKT_COUNTS does not exist in OF1.0
        ft.apply_flow_mod(fm(m_in(1), flags=0x08), 0, version=OF10)
    assert err_name(e) == "OFPFMFC_BAD_FLAGS"
    with pytest.raises(OFPError) as e:       # OF1.0 emergency flows
        ft.apply_flow_mod(fm(m_in(1), flags=0x04, idle_timeout=5), 0, version=OF10)
    assert err_name(e) == "OFPFMFC_BAD_EMERG_TIMEOUT"
    with pytest.raises(OFPError) as e:
        ft.apply_flow_mod(fm(m_in(1), flags=0x04), 0, version=OF10)
    assert err_name(e) == "OFPFMFC_TABLE_FULL"
    assert ft.n_flows() == 0


def test_goto_table_backwards_and_bad_prerequisites_are_refused(ft):
    with pytest.raises(OFPError) as e:
        ft.apply_flow_mod(fm(m_in(1), Instructions(goto_table=3), table_id=3), 0)
    assert err_name(e) == "OFPBIC_BAD_TABLE_ID"
    set_ip = Instructions(apply=(SetField(F.field("ip_src"), 0x0A000001),))
    with pytest.raises(OFPError) as e:
        ft.apply_flow_mod(fm(m_in(1), set_ip), 0)
    assert err_name(e) == "OFPBAC_MATCH_INCONSISTENT"
    ft.apply_flow_mod(fm(m_in(1, eth_type=0x0800), set_ip), 0)
    ft.apply_flow_mod(fm(m_in(1), Instructions(goto_table=4), table_id=3), 0)
    assert ft.n_flows() == 2


def test_groups_named_by_actions_must_exist_when_the_switch_keeps_groups(ofp):
    ofp.groups = {1: object()}
    ft = FlowTables(ofp)
    with pytest.raises(OFPError) as e:
        ft.apply_flow_mod(fm(m_in(1), Instructions(apply=(GroupAction(2),))), 0)
    assert err_name(e) == "OFPBAC_BAD_OUT_GROUP"
    ft.apply_flow_mod(fm(m_in(1), Instructions(apply=(GroupAction(1),))), 0)


def test_output_to_a_port_that_does_not_exist_is_allowed(ft):
    ft.apply_flow_mod(fm(m_in(1), out(999)), 0)
    assert ft.n_flows() == 1


def test_check_overlap(ft):
    ft.apply_flow_mod(fm(m_in(1), priority=10), 0)
    with pytest.raises(OFPError) as e:       # same priority, some packet matches both
        ft.apply_flow_mod(fm(m_in(eth_type=0x0800), priority=10,
                             flags=OFPFF_CHECK_OVERLAP), 0)
    assert err_name(e) == "OFPFMFC_OVERLAP"
    # Disjoint, or another priority, or identical (a replacement): accepted.
    ft.apply_flow_mod(fm(m_in(2), priority=10, flags=OFPFF_CHECK_OVERLAP), 0)
    ft.apply_flow_mod(fm(m_in(eth_type=0x0800), priority=11, flags=OFPFF_CHECK_OVERLAP), 0)
    ft.apply_flow_mod(fm(m_in(1), priority=10, flags=OFPFF_CHECK_OVERLAP), 0)
    assert ft.n_flows() == 3


# --- flow limits and eviction ------------------------------------------------------------

def test_full_table_refuses_without_eviction(ft):
    ft.configure_table(0, 0, max_flows=2)
    ft.apply_flow_mod(fm(m_in(1), idle_timeout=5), 0)
    ft.apply_flow_mod(fm(m_in(2), idle_timeout=5), 0)
    with pytest.raises(OFPError) as e:
        ft.apply_flow_mod(fm(m_in(3)), 0)
    assert err_name(e) == "OFPFMFC_TABLE_FULL"
    # Replacing an identical rule needs no room.
    ft.apply_flow_mod(fm(m_in(2), out(9)), 0)
    assert ft.n_flows() == 2


def test_eviction_picks_largest_group_then_lowest_importance_then_soonest_expiry(ft, ofp):
    ft.configure_table(0, 0, max_flows=5, evict=True,
                       eviction_fields=((F.field("in_port"), 0, 32),))
    # Group in_port=1 has three rules, group in_port=2 has one; one permanent rule.
    adds = [
        fm(m_in(1, eth_type=0x0800), hard_timeout=100, importance=5, flags=OFPFF_SEND_FLOW_REM),
        fm(m_in(1, eth_type=0x0806), hard_timeout=50, importance=5, flags=OFPFF_SEND_FLOW_REM),
        fm(m_in(1, eth_type=0x86DD), hard_timeout=10, importance=9, flags=OFPFF_SEND_FLOW_REM),
        fm(m_in(2), hard_timeout=1, flags=OFPFF_SEND_FLOW_REM),
        fm(m_in(3)),                                    # permanent: never evicted
    ]
    for a in adds:
        ft.apply_flow_mod(a, 0, version=OF14)
    ft.apply_flow_mod(fm(m_in(4), idle_timeout=60), 1000, version=OF14)
    left = {(r.match.get("in_port")[0], r.match.get("eth_type")[0]) for r in ft.rules()}
    # The largest group lost its least important... equal importance 5: the rule that
    # expires first (hard 50 s) went.
    assert (1, 0x0806) not in left and len(left) == 5
    reasons = removed_msgs(ofp)
    assert [r for r, _ in reasons] == [OFPRR_EVICTION]
    assert reasons[0][1].match.get("eth_type")[0] == 0x0806


def test_only_permanent_rules_cannot_be_evicted(ft):
    ft.configure_table(0, 0, max_flows=1, evict=True)
    ft.apply_flow_mod(fm(m_in(1)), 0)
    with pytest.raises(OFPError) as e:
        ft.apply_flow_mod(fm(m_in(2)), 0)
    assert err_name(e) == "OFPFMFC_TABLE_FULL"


def test_lowering_the_limit_trims_the_table_by_eviction(ft, ofp):
    for port in range(1, 6):
        ft.apply_flow_mod(fm(m_in(port), hard_timeout=port * 10), 0)
    ft.configure_table(0, 0, max_flows=2, evict=True)
    assert sorted(r.match.get("in_port")[0] for r in ft.rules()) == [4, 5]


def test_openflow_table_mod_can_turn_eviction_on(ft):
    ft.configure_table(0, 0, max_flows=1)
    ft.apply_flow_mod(fm(m_in(1), idle_timeout=3), 0)
    ft.set_eviction_of(0, True, 0)
    ft.apply_flow_mod(fm(m_in(2)), 0)
    assert [r.match.get("in_port")[0] for r in ft.rules()] == [2]


# --- MODIFY ------------------------------------------------------------------------------

def test_modify_replaces_actions_and_keeps_timeouts_flags_creation(ft):
    ft.apply_flow_mod(fm(m_in(1), out(2), idle_timeout=10, hard_timeout=20,
                         flags=OFPFF_SEND_FLOW_REM, importance=3), 1000, version=OF14)
    old = ft.lookup(0, flow(IN_PORT=1))
    old.add_stats(2, 120, 1500)
    ft.apply_flow_mod(fm(m_in(1), out(3), command=OFPFC_MODIFY, idle_timeout=99,
                         hard_timeout=99), 5000, version=OF14)
    new = ft.lookup(0, flow(IN_PORT=1))
    assert new is not old and new.instructions == out(3)
    assert (new.idle_timeout, new.hard_timeout, new.importance) == (10, 20, 3)
    assert new.flags == OFPFF_SEND_FLOW_REM
    assert new.created_ms == 1000 and new.modified_ms == 5000
    assert (new.packet_count, new.byte_count, new.used_ms) == (2, 120, 1500)
    # Stats the datapath still credits to the old rule reach the new one.
    old.add_stats(1, 60, 6000)
    assert (new.packet_count, new.used_ms) == (3, 6000)
    # Idle 10 s after the last use (6000), before the hard timer (5000 + 20 s).
    assert ft.expire(16_000) == []
    assert ft.expire(16_001) == [new]
    assert [r for r, _ in removed_msgs(ft.ofproto)] == [OFPRR_IDLE_TIMEOUT]


def test_modify_restarts_the_hard_timer(ft):
    ft.apply_flow_mod(fm(m_in(1), hard_timeout=10), 0)
    ft.apply_flow_mod(fm(m_in(1), out(3), command=OFPFC_MODIFY_STRICT), 8000)
    assert ft.expire(10_500) == []
    assert len(ft.expire(18_001)) == 1


def test_modify_with_reset_counts(ft):
    ft.apply_flow_mod(fm(m_in(1)), 0)
    ft.lookup(0, flow(IN_PORT=1)).add_stats(5, 500, 10)
    ft.apply_flow_mod(fm(m_in(1), out(3), command=OFPFC_MODIFY, flags=OFPFF_RESET_COUNTS), 20)
    r = ft.lookup(0, flow(IN_PORT=1))
    assert (r.packet_count, r.byte_count, r.used_ms) == (0, 0, 10)


def test_modify_loose_and_strict_selection(ft):
    ft.apply_flow_mod(fm(m_in(1), priority=5), 0)
    ft.apply_flow_mod(fm(m_in(1, eth_type=0x0800), priority=6), 0)
    ft.apply_flow_mod(fm(m_in(2), priority=5), 0)
    ft.apply_flow_mod(fm(m_in(1), out(7), command=OFPFC_MODIFY), 0)      # loose
    acts = {(r.match.get("in_port")[0], r.priority): r.instructions for r in ft.rules()}
    assert acts == {(1, 5): out(7), (1, 6): out(7), (2, 5): out(2)}
    ft.apply_flow_mod(fm(m_in(1), out(8), command=OFPFC_MODIFY_STRICT, priority=5), 0)
    acts = {(r.match.get("in_port")[0], r.priority): r.instructions for r in ft.rules()}
    assert acts == {(1, 5): out(8), (1, 6): out(7), (2, 5): out(2)}


def test_modify_cookie_filter_and_cookie_is_kept_in_of13(ft):
    ft.apply_flow_mod(fm(m_in(1), cookie=0x10), 0)
    ft.apply_flow_mod(fm(m_in(2), cookie=0x20), 0)
    ft.apply_flow_mod(fm(Match(), out(9), command=OFPFC_MODIFY, cookie=0x10,
                         cookie_mask=0xF0), 0, version=OF13)
    by_port = {r.match.get("in_port")[0]: r for r in ft.rules()}
    assert by_port[1].instructions == out(9) and by_port[1].cookie == 0x10
    assert by_port[2].instructions == out(2)


def test_modify_that_matches_nothing_adds_only_where_ovs_does(ft):
    ft.apply_flow_mod(fm(m_in(1), command=OFPFC_MODIFY, cookie=5), 0, version=OF13)
    assert ft.n_flows() == 0                 # OF1.3: never adds
    ft.apply_flow_mod(fm(m_in(1), command=OFPFC_MODIFY, cookie=5), 0, version=OF11)
    assert ft.n_flows() == 1                 # OF1.1 without cookie mask: adds
    ft.apply_flow_mod(fm(m_in(2), command=OFPFC_MODIFY_STRICT, cookie=6), 0, version=OF10)
    assert ft.n_flows() == 2                 # OF1.0: adds, with the cookie
    assert ft.lookup(0, flow(IN_PORT=2)).cookie == 6
    ft.apply_flow_mod(fm(m_in(3), command=OFPFC_MODIFY, cookie=-1 & (2**64 - 1)), 0,
                      version=OF10)
    assert ft.n_flows() == 2                 # all-ones cookie: no add


def test_of10_modify_sets_the_cookie(ft):
    ft.apply_flow_mod(fm(m_in(1), cookie=5), 0, version=OF10)
    ft.apply_flow_mod(fm(m_in(1), out(4), command=OFPFC_MODIFY, cookie=9), 0, version=OF10)
    assert ft.lookup(0, flow(IN_PORT=1)).cookie == 9


def test_modify_in_all_tables_of10(ft):
    ft.apply_flow_mod(fm(m_in(1), table_id=0), 0)
    ft.apply_flow_mod(fm(m_in(1), table_id=7), 0)
    ft.apply_flow_mod(fm(Match(), out(5), command=OFPFC_MODIFY, table_id=0xFF), 0,
                      version=OF10)
    assert all(r.instructions == out(5) for r in ft.rules())
    with pytest.raises(OFPError) as e:
        ft.apply_flow_mod(fm(Match(), out(5), command=OFPFC_MODIFY, table_id=0xFF), 0,
                          version=OF13)
    assert err_name(e) == "OFPFMFC_BAD_TABLE_ID"


# --- DELETE ------------------------------------------------------------------------------

def test_delete_loose_strict_out_port_cookie_and_all_tables(ft, ofp):
    ft.apply_flow_mod(fm(m_in(1), out(2), priority=5, cookie=0x1,
                         flags=OFPFF_SEND_FLOW_REM), 0)
    ft.apply_flow_mod(fm(m_in(1, eth_type=0x0800), out(3), priority=6, cookie=0x2), 0)
    ft.apply_flow_mod(fm(m_in(2), out(3), priority=5, cookie=0x1, table_id=4), 0)
    ft.apply_flow_mod(fm(m_in(3), out(4), priority=5, cookie=0x3, table_id=4), 0)
    # out_port filter, all tables.
    ft.apply_flow_mod(fm(Match(), command=OFPFC_DELETE, table_id=0xFF, out_port=3), 10)
    assert {(r.table_id, r.priority) for r in ft.rules()} == {(0, 5), (4, 5)}
    # cookie filter.
    ft.apply_flow_mod(fm(Match(), command=OFPFC_DELETE, table_id=0xFF, cookie=0x3,
                         cookie_mask=0xFF), 10)
    assert {r.cookie for r in ft.rules()} == {0x1}
    # strict needs the exact priority.
    ft.apply_flow_mod(fm(m_in(1), command=OFPFC_DELETE_STRICT, priority=6), 10)
    assert ft.n_flows() == 1
    ft.apply_flow_mod(fm(m_in(1), command=OFPFC_DELETE_STRICT, priority=5), 2010)
    assert ft.n_flows() == 0
    msgs = removed_msgs(ofp)
    # Only the rule with SEND_FLOW_REM reports, with its final counters and duration.
    assert len(msgs) == 1
    reason, msg = msgs[0]
    assert reason == OFPRR_DELETE and isinstance(msg, FlowRemoved)
    assert (msg.priority, msg.cookie, msg.duration_sec) == (5, 0x1, 2)


def test_delete_in_of13_with_table_0xff_is_allowed(ft):
    ft.apply_flow_mod(fm(m_in(1), table_id=9), 0)
    ft.apply_flow_mod(fm(Match(), command=OFPFC_DELETE, table_id=0xFF), 0, version=OF13)
    assert ft.n_flows() == 0


# --- hidden rules ------------------------------------------------------------------------

def test_hidden_rules_are_not_reported_nor_touched_by_openflow(ft, ofp):
    ft.apply_flow_mod(fm(m_in(1), priority=180000, flags=OFPFF_SEND_FLOW_REM), 0)
    ft.apply_flow_mod(fm(m_in(2), priority=7), 0)
    assert ft.table_stats()[0].active_count == 1
    assert [r.priority for r in ft.collect(0xFF, Match())] == [7]
    ft.apply_flow_mod(fm(Match(), command=OFPFC_DELETE, table_id=0xFF), 0)
    assert [r.priority for r in ft.rules()] == [180000]
    ft.apply_flow_mod(fm(m_in(1), command=OFPFC_DELETE_STRICT, priority=180000), 0)
    assert ft.n_flows() == 0
    assert removed_msgs(ofp) == []           # hidden: never a FLOW_REMOVED


# --- timeouts ----------------------------------------------------------------------------

def test_hard_timeout_is_checked_before_idle(ft, ofp):
    ft.apply_flow_mod(fm(m_in(1), idle_timeout=5, hard_timeout=5,
                         flags=OFPFF_SEND_FLOW_REM), 1000)
    assert ft.expire(6000) == []             # OVS: "now > deadline"
    gone = ft.expire(6001)
    assert len(gone) == 1
    (reason, msg), = removed_msgs(ofp)
    assert reason == OFPRR_HARD_TIMEOUT
    assert (msg.duration_sec, msg.duration_nsec, msg.idle_timeout, msg.hard_timeout) == \
        (5, 1_000_000, 5, 5)


def test_idle_timeout_follows_last_use(ft, ofp):
    ft.apply_flow_mod(fm(m_in(1), idle_timeout=10, flags=OFPFF_SEND_FLOW_REM), 0)
    rule = ft.lookup(0, flow(IN_PORT=1))
    rule.add_stats(4, 400, 8000)
    assert ft.expire(12_000) == []
    assert ft.expire(18_001) == [rule]
    (reason, msg), = removed_msgs(ofp)
    assert reason == OFPRR_IDLE_TIMEOUT
    assert (msg.packet_count, msg.byte_count) == (4, 400)
    assert ft.lookup(0, flow(IN_PORT=1)) is None


def test_run_expires_and_wait_arms_a_timer(ft):
    class Poller:
        def __init__(self):
            self.deadlines = []

        def timer_wait_until(self, t):
            self.deadlines.append(t)
    poller = Poller()
    ft.wait(poller, 0)
    assert poller.deadlines == []
    ft.apply_flow_mod(fm(m_in(1), hard_timeout=2), 0)
    ft.wait(poller, 0)
    assert poller.deadlines and poller.deadlines[-1] <= 2001
    ft.run(1000)
    assert ft.n_flows() == 1
    ft.run(2500)
    assert ft.n_flows() == 0


def test_no_flow_removed_without_the_flag_or_for_replaced_rules(ft, ofp):
    ft.apply_flow_mod(fm(m_in(1), hard_timeout=1), 0)
    ft.apply_flow_mod(fm(m_in(2), flags=OFPFF_SEND_FLOW_REM), 0)
    ft.apply_flow_mod(fm(m_in(2), out(5), command=OFPFC_MODIFY), 0)
    ft.apply_flow_mod(fm(m_in(2), out(6), flags=OFPFF_SEND_FLOW_REM), 0)
    ft.expire(5000)
    assert removed_msgs(ofp) == []


# --- atomic batches, flush ---------------------------------------------------------------

def test_a_failing_batch_changes_nothing(ft, ofp):
    ft.apply_flow_mod(fm(m_in(1), out(2)), 0)
    ft.apply_flow_mod(fm(m_in(2), out(2)), 0)
    version = ft.version
    changed = ofp.provider.n_changed
    batch = [fm(m_in(1), out(3)),                                  # replaces
             fm(m_in(2), command=OFPFC_DELETE_STRICT, priority=0x8000),  # deletes
             fm(m_in(3), out(4)),                                  # adds
             fm(m_in(4), out(4), buffer_id=3)]                     # fails
    with pytest.raises(OFPError) as e:
        ft.apply_batch(batch, 10)
    assert err_name(e) == "OFPBRC_BUFFER_UNKNOWN" and e.value.index == 3
    assert ft.version == version and ofp.provider.n_changed == changed
    assert {r.match.get("in_port")[0]: r.instructions for r in ft.rules()} == \
        {1: out(2), 2: out(2)}
    assert ft.lookup(0, flow(IN_PORT=1)).instructions == out(2)
    assert ft.lookup(0, flow(IN_PORT=3)) is None
    # And the tables still work afterwards.
    ft.apply_batch(batch[:3], 20)
    assert {r.match.get("in_port")[0]: r.instructions for r in ft.rules()} == \
        {1: out(3), 3: out(4)}
    assert ft.version == version + 1


def test_flush_removes_everything_and_reports_deletes(ft, ofp):
    ft.apply_flow_mod(fm(m_in(1), flags=OFPFF_SEND_FLOW_REM), 0)
    ft.apply_flow_mod(fm(m_in(2), priority=180000), 0)
    ft.apply_flow_mod(fm(m_in(3), table_id=5), 0)
    assert len(ft.flush(100)) == 3
    assert ft.n_flows() == 0
    assert [r for r, _ in removed_msgs(ofp)] == [OFPRR_DELETE]


def test_removed_rules_are_collected(ft):
    for port in range(1, 50):
        ft.apply_flow_mod(fm(m_in(port)), 0)
    ft.apply_flow_mod(fm(Match(), command=OFPFC_DELETE), 0)
    ft.run(1)
    assert ft.tables[0].n_dead == 0 and len(list(ft.tables[0].cls.rules_in(0))) == 0


def test_table_stats_count_lookups_and_matches(ft):
    ft.apply_flow_mod(fm(m_in(1)), 0)
    ft.lookup(0, flow(IN_PORT=1))
    ft.lookup(0, flow(IN_PORT=2))
    s = ft.table_stats()[0]
    assert (s.active_count, s.lookup_count, s.matched_count) == (1, 2, 1)


def test_rules_of_one_mask_share_the_mask_list(ft):
    ft.apply_flow_mod(fm(m_in(1)), 0)
    ft.apply_flow_mod(fm(m_in(2)), 0)
    a, b = ft.rules()
    assert a.match.masks is b.match.masks and a.match.values is not b.match.values


def test_eviction_fields_parse_and_group_by_subfield_values():
    from pyvswitch.ofproto.eviction import EvictionGroups, group_key, parse_fields
    from pyvswitch.ofproto.rule import Rule
    fields = parse_fields(["in_port", "ip_dst[24..31]"])
    assert [(f.name, ofs, n) for f, ofs, n in fields] == [("in_port", 0, 32),
                                                          ("ip_dst", 24, 8)]
    with pytest.raises(ValueError):
        parse_fields(["no_such_field"])
    with pytest.raises(ValueError):
        parse_fields(["ip_dst[30..40]"])
    a = Rule(0, m_in(1, eth_type=0x0800, ip_dst=0x0A000001), 1, out(1), hard_timeout=5)
    b = Rule(0, m_in(1, eth_type=0x0800, ip_dst=0x0AFF0001), 1, out(1), hard_timeout=5)
    c = Rule(0, m_in(1), 1, out(1), hard_timeout=5)      # ip_dst prerequisite not met
    assert group_key(a, fields) == group_key(b, fields) == (1, 10)
    assert group_key(c, fields) == (1, None)
    groups = EvictionGroups(fields)
    for r in (a, b, c, Rule(0, m_in(2), 1, out(1))):      # the last one is permanent
        groups.add(r)
    assert len(groups) == 3 and len(groups.groups) == 2
    assert groups.choose() in (a, b)


def test_replaced_rule_with_reset_counts_forwards_only_last_use(ft):
    ft.apply_flow_mod(fm(m_in(1)), 0)
    old = ft.lookup(0, flow(IN_PORT=1))
    ft.apply_flow_mod(fm(m_in(1), out(5), command=OFPFC_MODIFY, flags=OFPFF_RESET_COUNTS), 1)
    new = ft.lookup(0, flow(IN_PORT=1))
    old.add_stats(7, 700, 900)
    assert (new.packet_count, new.byte_count, new.used_ms) == (0, 0, 900)


def test_deleting_a_group_or_meter_deletes_its_users(ft, ofp):
    from pyvswitch.openflow.messages import OFPRR_GROUP_DELETE, OFPRR_METER_DELETE
    ft.apply_flow_mod(fm(m_in(1), Instructions(apply=(GroupAction(5),)),
                         flags=OFPFF_SEND_FLOW_REM), 0)
    ft.apply_flow_mod(fm(m_in(2), Instructions(apply=(Output(1),), meter_id=3),
                         flags=OFPFF_SEND_FLOW_REM), 0)
    ft.apply_flow_mod(fm(m_in(3)), 0)
    assert len(ft.delete_group_users(5, 10)) == 1
    assert len(ft.delete_meter_users(3, 10)) == 1
    assert [r.match.get("in_port")[0] for r in ft.rules()] == [3]
    assert [r for r, _ in removed_msgs(ofp)] == [OFPRR_GROUP_DELETE, OFPRR_METER_DELETE]
