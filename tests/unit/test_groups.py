"""Groups: GROUP_MOD semantics and errors as Open vSwitch, group statistics/description/
features on the wire, flows deleted with their group, and group execution (all, select,
indirect, fast failover, chains and loops) through a real userspace datapath."""

from __future__ import annotations

import pytest

from pyvswitch.netdev.base import open_netdev
from pyvswitch.ofproto.groups import FEATURE_ACTIONS, OFPG_MAX
from pyvswitch.ofproto.ofproto import Ofproto
from pyvswitch.ofproto_dpif.ofproto_dpif import OfprotoDpif
from pyvswitch.openflow import messages as m
from pyvswitch.openflow import messages_gm as gm
from pyvswitch.openflow import ofpacts as of
from pyvswitch.openflow.messages_gm import Bucket, GroupMod
from pyvswitch.packet import fields as F
from pyvswitch.packet.compose import compose
from pyvswitch.packet.fields import Match, Slot

from fake_session import FakeOfConn, expect_error, send

V13, V15 = 0x04, 0x06


def out(port):
    return (of.Output(port),)


def group(cmd, gtype, gid, *buckets, **kw):
    return GroupMod(cmd, gtype, gid, tuple(buckets), **kw)


def flow(match, instructions, **kw):
    kw.setdefault("table_id", 0)
    return m.FlowMod(match, instructions, **kw)


def to_group(gid):
    return of.Instructions(apply=(of.GroupAction(gid),))


@pytest.fixture
def ofp():
    return Ofproto("br0", 1)


class Recorder:
    """Stands in for the provider: counts tables_changed calls."""

    def __init__(self):
        self.n_changed = 0

    def tables_changed(self):
        self.n_changed += 1


# --- GROUP_MOD semantics -------------------------------------------------------------------

@pytest.mark.parametrize("version", [V13, 0x05, V15])
def test_add_then_desc_stats_and_features(ofp, version):
    conn = FakeOfConn(version)
    ofp.provider = Recorder()
    assert send(ofp, conn, group(gm.OFPGC_ADD, gm.OFPGT_ALL, 1,
                                 Bucket(out(1)), Bucket(out(2)))) == []
    assert send(ofp, conn, group(gm.OFPGC_ADD, gm.OFPGT_SELECT, 2,
                                 Bucket(out(3), weight=5))) == []
    assert ofp.provider.n_changed == 2
    (desc,) = send(ofp, conn, gm.GroupDescRequest())
    assert [(d.group_id, d.type) for d in desc.groups] == [(1, gm.OFPGT_ALL),
                                                           (2, gm.OFPGT_SELECT)]
    assert [b.actions for b in desc.groups[0].buckets] == [out(1), out(2)]
    assert desc.groups[1].buckets[0].weight == 5
    (stats,) = send(ofp, conn, gm.GroupStatsRequest(2), now=3500.0)
    (s,) = stats.stats
    assert (s.group_id, s.ref_count, s.packet_count, s.duration_sec) == (2, 0, 0, 2)
    assert s.duration_nsec == 500_000_000 and s.bucket_stats == ((0, 0),)
    (feat,) = send(ofp, conn, gm.GroupFeaturesRequest())
    assert feat.types == 0xF and feat.capabilities == 7
    assert feat.max_groups == (OFPG_MAX,) * 4 and feat.actions == (FEATURE_ACTIONS,) * 4
    assert FEATURE_ACTIONS == 0x03FF8001


@pytest.mark.parametrize("msg, error", [
    (group(gm.OFPGC_ADD, 7, 1, Bucket(out(1))), "OFPGMFC_BAD_TYPE"),
    (group(gm.OFPGC_ADD, gm.OFPGT_INDIRECT, 1, Bucket(out(1)), Bucket(out(2))),
     "OFPGMFC_INVALID_GROUP"),
    (group(gm.OFPGC_ADD, gm.OFPGT_INDIRECT, 1), "OFPGMFC_INVALID_GROUP"),
    (group(gm.OFPGC_ADD, gm.OFPGT_FF, 1, Bucket(out(1))), "OFPGMFC_INVALID_GROUP"),
    (group(gm.OFPGC_ADD, gm.OFPGT_ALL, 1, Bucket(out(1), watch_port=1)),
     "OFPGMFC_WATCH_UNSUPPORTED"),
    (group(gm.OFPGC_ADD, gm.OFPGT_ALL, 1, Bucket(out(1), weight=3)), "OFPGMFC_INVALID_GROUP"),
    (group(gm.OFPGC_DELETE, gm.OFPGT_ALL, 1, Bucket(out(1))), "OFPGMFC_INVALID_GROUP"),
    (group(gm.OFPGC_ADD, gm.OFPGT_ALL, OFPG_MAX + 1, Bucket(out(1))), "OFPGMFC_INVALID_GROUP"),
    (group(9, gm.OFPGT_ALL, 1, Bucket(out(1))), "OFPGMFC_BAD_COMMAND"),
    (group(gm.OFPGC_MODIFY, gm.OFPGT_ALL, 5, Bucket(out(1))), "OFPGMFC_UNKNOWN_GROUP"),
])
def test_refused_group_mods_leave_the_table_unchanged(ofp, msg, error):
    conn = FakeOfConn(V13)
    send(ofp, conn, group(gm.OFPGC_ADD, gm.OFPGT_ALL, 1, Bucket(out(9))))
    expect_error(ofp, conn, msg, error)
    assert list(ofp.groups) == [1]
    assert ofp.groups[1].buckets[0].actions == out(9)


def test_add_existing_is_group_exists_and_modify_replaces(ofp):
    conn = FakeOfConn(V13)
    send(ofp, conn, group(gm.OFPGC_ADD, gm.OFPGT_ALL, 1, Bucket(out(1))), now=0)
    expect_error(ofp, conn, group(gm.OFPGC_ADD, gm.OFPGT_ALL, 1, Bucket(out(2))),
                 "OFPGMFC_GROUP_EXISTS")
    old = ofp.groups[1]
    old.add_stats(4, 400, 10)
    send(ofp, conn, group(gm.OFPGC_MODIFY, gm.OFPGT_SELECT, 1, Bucket(out(3), weight=1)),
         now=2000)
    new = ofp.groups[1]
    assert new is not old and new.type == gm.OFPGT_SELECT
    (stats,) = send(ofp, conn, gm.GroupStatsRequest(1), now=5000)
    # A modified group is a new one: counters restart, its age does not.
    assert stats.stats[0].packet_count == 0 and stats.stats[0].duration_sec == 5


def test_ovs_add_or_mod_extension(ofp):
    conn = FakeOfConn(V13)
    send(ofp, conn, group(0x8000, gm.OFPGT_ALL, 3, Bucket(out(1))))
    send(ofp, conn, group(0x8000, gm.OFPGT_ALL, 3, Bucket(out(2))))
    assert ofp.groups[3].buckets[0].actions == out(2)


def test_flow_naming_a_missing_group_is_bad_out_group(ofp):
    conn = FakeOfConn(V13)
    expect_error(ofp, conn, flow(Match(), to_group(4)), "OFPBAC_BAD_OUT_GROUP")
    expect_error(ofp, conn, flow(Match(), of.Instructions(write=(of.GroupAction(4),))),
                 "OFPBAC_BAD_OUT_GROUP")
    assert ofp.flows.n_flows() == 0
    send(ofp, conn, group(gm.OFPGC_ADD, gm.OFPGT_INDIRECT, 4, Bucket(out(1))))
    assert send(ofp, conn, flow(Match(), to_group(4))) == []
    assert ofp.flows.n_flows() == 1


def test_deleting_a_group_deletes_its_flows_with_reason_group_delete(ofp):
    conn = FakeOfConn(V13)
    removed = []
    ofp.connmgr.send_async = lambda kind, reason, msg, **kw: removed.append((kind, reason, msg))
    send(ofp, conn, group(gm.OFPGC_ADD, gm.OFPGT_ALL, 1, Bucket(out(1))))
    send(ofp, conn, group(gm.OFPGC_ADD, gm.OFPGT_ALL, 2, Bucket(out(2))))
    send(ofp, conn, flow(Match().set("in_port", 1), to_group(1), priority=5,
                         flags=m.OFPFF_SEND_FLOW_REM, cookie=0x11))
    send(ofp, conn, flow(Match().set("in_port", 2), of.Instructions(
        apply=(of.Clone((of.GroupAction(1),)),)), priority=5))
    send(ofp, conn, flow(Match().set("in_port", 3), to_group(2), priority=5))
    (stats,) = send(ofp, conn, gm.GroupStatsRequest(of.OFPG_ALL))
    assert [(s.group_id, s.ref_count) for s in stats.stats] == [(1, 2), (2, 1)]
    version = ofp.flows.version
    send(ofp, conn, group(gm.OFPGC_DELETE, gm.OFPGT_ALL, 1))
    assert list(ofp.groups) == [2]
    (left,) = ofp.flows.rules()
    assert left.instructions == to_group(2)
    assert ofp.flows.version > version
    (kind, reason, msg), = removed
    assert kind == "flow_removed" and reason == m.OFPRR_GROUP_DELETE and msg.cookie == 0x11
    # Deleting a group that does not exist is no error.
    assert send(ofp, conn, group(gm.OFPGC_DELETE, gm.OFPGT_ALL, 77)) == []


def test_delete_all_groups(ofp):
    conn = FakeOfConn(V13)
    for gid in (1, 2, 3):
        send(ofp, conn, group(gm.OFPGC_ADD, gm.OFPGT_ALL, gid, Bucket(out(gid))))
    send(ofp, conn, flow(Match(), to_group(3)))
    send(ofp, conn, group(gm.OFPGC_DELETE, gm.OFPGT_ALL, of.OFPG_ALL))
    assert len(ofp.groups) == 0 and ofp.flows.n_flows() == 0
    (desc,) = send(ofp, conn, gm.GroupDescRequest())
    assert desc.groups == ()


def test_slave_may_not_send_group_mod(ofp):
    conn = FakeOfConn(V13, role=m.ROLE_SLAVE)
    expect_error(ofp, conn, group(gm.OFPGC_ADD, gm.OFPGT_ALL, 1, Bucket(out(1))),
                 "OFPBRC_IS_SLAVE")
    assert len(ofp.groups) == 0
    (desc,) = send(ofp, conn, gm.GroupDescRequest())   # queries are allowed
    assert desc.groups == ()


def test_stats_and_desc_of_an_unknown_group_are_empty(ofp):
    conn = FakeOfConn(V15)
    (stats,) = send(ofp, conn, gm.GroupStatsRequest(42))
    (desc,) = send(ofp, conn, gm.GroupDescRequest(42))
    assert stats.stats == () and desc.groups == ()


# --- OpenFlow 1.5 bucket commands ----------------------------------------------------------

def b15(port, bucket_id):
    return Bucket(out(port), bucket_id=bucket_id)


def bucket_ids(ofp, gid=1):
    return [b.bucket_id for b in ofp.groups[gid].buckets]


def test_of15_insert_and_remove_buckets(ofp):
    conn = FakeOfConn(V15)
    send(ofp, conn, group(gm.OFPGC_ADD, gm.OFPGT_ALL, 1, b15(1, 10), b15(2, 20)))
    send(ofp, conn, group(gm.OFPGC_INSERT_BUCKET, gm.OFPGT_ALL, 1, b15(3, 30),
                          command_bucket_id=0xFFFFFFFE))                      # last
    assert bucket_ids(ofp) == [10, 20, 30]
    send(ofp, conn, group(gm.OFPGC_INSERT_BUCKET, gm.OFPGT_ALL, 1, b15(4, 5),
                          command_bucket_id=0xFFFFFFFD))                      # first
    assert bucket_ids(ofp) == [5, 10, 20, 30]
    send(ofp, conn, group(gm.OFPGC_INSERT_BUCKET, gm.OFPGT_ALL, 1, b15(5, 15),
                          command_bucket_id=10))                              # after 10
    assert bucket_ids(ofp) == [5, 10, 15, 20, 30]
    expect_error(ofp, conn, group(gm.OFPGC_INSERT_BUCKET, gm.OFPGT_ALL, 1, b15(6, 99),
                                  command_bucket_id=1234), "OFPGMFC_UNKNOWN_BUCKET")
    expect_error(ofp, conn, group(gm.OFPGC_INSERT_BUCKET, gm.OFPGT_ALL, 1, b15(6, 20),
                                  command_bucket_id=0xFFFFFFFE), "OFPGMFC_BUCKET_EXISTS")
    send(ofp, conn, group(gm.OFPGC_REMOVE_BUCKET, gm.OFPGT_ALL, 1, command_bucket_id=15))
    assert bucket_ids(ofp) == [5, 10, 20, 30]
    send(ofp, conn, group(gm.OFPGC_REMOVE_BUCKET, gm.OFPGT_ALL, 1,
                          command_bucket_id=0xFFFFFFFD))
    send(ofp, conn, group(gm.OFPGC_REMOVE_BUCKET, gm.OFPGT_ALL, 1,
                          command_bucket_id=0xFFFFFFFE))
    assert bucket_ids(ofp) == [10, 20]
    expect_error(ofp, conn, group(gm.OFPGC_REMOVE_BUCKET, gm.OFPGT_ALL, 1,
                                  command_bucket_id=77), "OFPGMFC_UNKNOWN_BUCKET")
    (desc,) = send(ofp, conn, gm.GroupDescRequest(1))
    assert [b.bucket_id for b in desc.groups[0].buckets] == [10, 20]
    send(ofp, conn, group(gm.OFPGC_REMOVE_BUCKET, gm.OFPGT_ALL, 1,
                          command_bucket_id=gm.OFPG_BUCKET_ALL))
    assert bucket_ids(ofp) == []


def test_of15_bucket_commands_keep_the_group_type(ofp):
    conn = FakeOfConn(V15)
    send(ofp, conn, group(gm.OFPGC_ADD, gm.OFPGT_SELECT, 1,
                          Bucket(out(1), weight=1, bucket_id=0)))
    send(ofp, conn, group(gm.OFPGC_INSERT_BUCKET, gm.OFPGT_ALL, 1,
                          Bucket(out(2), weight=2, bucket_id=1), command_bucket_id=0xFFFFFFFE))
    assert ofp.groups[1].type == gm.OFPGT_SELECT
    assert [b.weight for b in ofp.groups[1].buckets] == [1, 2]


def test_of15_command_bucket_id_must_be_all_for_add(ofp):
    conn = FakeOfConn(V15)
    expect_error(ofp, conn, group(gm.OFPGC_ADD, gm.OFPGT_ALL, 1, b15(1, 0),
                                  command_bucket_id=3), "OFPGMFC_BAD_BUCKET")
    expect_error(ofp, conn, group(gm.OFPGC_ADD, gm.OFPGT_ALL, 1, b15(1, 0), b15(2, 0)),
                 "OFPGMFC_BAD_BUCKET")
    assert len(ofp.groups) == 0


def test_flush_deletes_groups(ofp):
    conn = FakeOfConn(V13)
    send(ofp, conn, group(gm.OFPGC_ADD, gm.OFPGT_ALL, 1, Bucket(out(1))))
    ofp.flush(0)
    assert len(ofp.groups) == 0


# --- execution through the datapath --------------------------------------------------------

def make_bridge(n_ports=4):
    ofproto = Ofproto("br0", 1)
    provider = OfprotoDpif(ofproto)
    ports = {}
    for i in range(1, n_ports + 1):
        nd = open_netdev(f"p{i}", "dummy")
        ofproto.add_port(f"p{i}", nd, i)
        ports[i] = nd
    ofproto.run(0)                            # the switch has seen its ports' state
    return ofproto, provider, ports, FakeOfConn(V13)


def udp_frame(in_port=1, tp_src=1000):
    flow = list(F.ZERO_FLOW)
    flow[Slot.IN_PORT] = in_port
    flow[Slot.ETH_SRC], flow[Slot.ETH_DST] = 0x020000000001, 0x020000000002
    flow[Slot.ETH_TYPE] = F.ETH_TYPE_IP
    flow[Slot.NW_SRC], flow[Slot.NW_DST] = 0x0A000001, 0x0A000002
    flow[Slot.NW_PROTO], flow[Slot.NW_TTL] = 17, 64
    flow[Slot.TP_SRC], flow[Slot.TP_DST] = tp_src, 2000
    return compose(tuple(flow), payload_len=20)


def counts(ports):
    return {i: len(nd.captured) for i, nd in ports.items()}


def test_all_group_copies_and_counts_group_and_buckets():
    ofproto, provider, ports, conn = make_bridge()
    send(ofproto, conn, group(gm.OFPGC_ADD, gm.OFPGT_ALL, 1, Bucket(out(2)), Bucket(out(3))))
    send(ofproto, conn, flow(Match().set("in_port", 1), to_group(1)))
    frame = udp_frame()
    for t in range(4):
        ports[1].inject(frame)
        provider.run(100 + t)
    assert counts(ports) == {1: 0, 2: 4, 3: 4, 4: 0}
    (stats,) = send(ofproto, conn, gm.GroupStatsRequest(1), now=2000)
    (s,) = stats.stats
    assert (s.packet_count, s.byte_count, s.ref_count) == (4, 4 * len(frame), 1)
    assert s.bucket_stats == ((4, 4 * len(frame)),) * 2


def test_three_table_pipeline_ends_in_an_indirect_group():
    ofproto, provider, ports, conn = make_bridge()
    send(ofproto, conn, group(gm.OFPGC_ADD, gm.OFPGT_INDIRECT, 7, Bucket(
        (of.SetField(F.BY_NAME["eth_dst"], 0x02000000000A), of.Output(4)))))
    send(ofproto, conn, flow(Match(), of.Instructions(goto_table=1)))
    send(ofproto, conn, flow(Match(), of.Instructions(goto_table=2), table_id=1))
    send(ofproto, conn, flow(Match(), of.Instructions(write=(of.GroupAction(7),)), table_id=2))
    ports[1].inject(udp_frame())
    provider.run(10)
    (sent,) = ports[4].captured
    assert sent[:6] == bytes.fromhex("02000000000a")


def test_select_group_spreads_flows_by_weight_over_live_buckets():
    ofproto, provider, ports, conn = make_bridge()
    send(ofproto, conn, group(gm.OFPGC_ADD, gm.OFPGT_SELECT, 1,
                              Bucket(out(2), weight=1, watch_port=2),
                              Bucket(out(3), weight=1, watch_port=3),
                              Bucket(out(4), weight=0)))
    send(ofproto, conn, flow(Match().set("in_port", 1), to_group(1)))
    for sport in range(1000, 1064):
        ports[1].inject(udp_frame(tp_src=sport))
        ports[1].inject(udp_frame(tp_src=sport))      # the same flow: the same bucket
    provider.run(10)
    while provider.upcalls.pending:                   # misses are translated 64 per pass
        provider.run(10)
    c = counts(ports)
    assert c[4] == 0 and c[2] + c[3] == 128 and c[2] > 10 and c[3] > 10
    assert c[2] % 2 == 0 and c[3] % 2 == 0
    # Port 3 loses its carrier: its bucket is not live, everything goes to port 2.
    ports[3].set_carrier(False)
    ofproto.run(20)
    for sport in range(1000, 1032):
        ports[1].inject(udp_frame(tp_src=sport))
    provider.run(30)
    assert counts(ports)[3] == c[3] and counts(ports)[2] == c[2] + 32


def test_fast_failover_moves_cached_flows_when_the_watched_port_goes_down():
    ofproto, provider, ports, conn = make_bridge()
    send(ofproto, conn, group(gm.OFPGC_ADD, gm.OFPGT_FF, 1,
                              Bucket(out(2), watch_port=2), Bucket(out(3), watch_port=3)))
    send(ofproto, conn, flow(Match().set("in_port", 1), to_group(1)))
    frame = udp_frame()
    ports[1].inject(frame)
    provider.run(10)
    ports[1].inject(frame)                    # a cached hit
    provider.run(11)
    assert counts(ports)[2] == 2 and counts(ports)[3] == 0
    ports[2].set_carrier(False)
    ofproto.run(12)                           # PORT_STATUS, provider told
    ports[1].inject(frame)
    provider.run(13)
    assert counts(ports)[2] == 2 and counts(ports)[3] == 1
    ports[3].set_carrier(False)
    ofproto.run(14)
    ports[1].inject(frame)
    provider.run(15)
    assert counts(ports)[3] == 1              # no live bucket: dropped
    ports[2].set_carrier(True)
    ofproto.run(16)
    ports[1].inject(frame)
    provider.run(17)
    assert counts(ports)[2] == 3


def test_fast_failover_watching_a_group():
    ofproto, provider, ports, conn = make_bridge()
    send(ofproto, conn, group(gm.OFPGC_ADD, gm.OFPGT_FF, 2, Bucket(out(2), watch_port=2)))
    send(ofproto, conn, group(gm.OFPGC_ADD, gm.OFPGT_FF, 1,
                              Bucket((of.GroupAction(2),), watch_group=2),
                              Bucket(out(3), watch_port=3)))
    send(ofproto, conn, flow(Match().set("in_port", 1), to_group(1)))
    ports[1].inject(udp_frame())
    provider.run(10)
    assert counts(ports)[2] == 1
    ports[2].set_carrier(False)
    ofproto.run(11)
    ports[1].inject(udp_frame())
    provider.run(12)
    assert counts(ports)[3] == 1


def test_chained_groups_forward_and_loops_are_accepted_but_drop():
    ofproto, provider, ports, conn = make_bridge()
    # Chaining: group 1 -> group 2 -> port 3.  A bucket may name a group that does not
    # exist yet (OVS checks only flows).
    assert send(ofproto, conn, group(gm.OFPGC_ADD, gm.OFPGT_INDIRECT, 1,
                                     Bucket((of.GroupAction(2),)))) == []
    send(ofproto, conn, group(gm.OFPGC_ADD, gm.OFPGT_INDIRECT, 2, Bucket(out(3))))
    send(ofproto, conn, flow(Match().set("in_port", 1), to_group(1)))
    ports[1].inject(udp_frame())
    provider.run(10)
    assert counts(ports)[3] == 1
    # A loop (2 -> 1 -> 2 ...) in an ALL group that would also copy to port 4: OVS
    # accepts the modification; translation fails and the packet is dropped everywhere.
    assert send(ofproto, conn, group(gm.OFPGC_MODIFY, gm.OFPGT_ALL, 2, Bucket(out(4)),
                                     Bucket((of.GroupAction(1),)),
                                     Bucket((of.GroupAction(1),)))) == []
    ports[1].inject(udp_frame())
    provider.run(20)
    assert counts(ports) == {1: 0, 2: 0, 3: 1, 4: 0}
    # Breaking the loop repairs forwarding (the cached drop is revalidated).
    send(ofproto, conn, group(gm.OFPGC_MODIFY, gm.OFPGT_ALL, 2, Bucket(out(4))))
    ports[1].inject(udp_frame())
    provider.run(30)
    assert counts(ports)[4] == 1


def test_group_modify_revalidates_cached_flows():
    ofproto, provider, ports, conn = make_bridge()
    send(ofproto, conn, group(gm.OFPGC_ADD, gm.OFPGT_INDIRECT, 1, Bucket(out(2))))
    send(ofproto, conn, flow(Match().set("in_port", 1), to_group(1)))
    ports[1].inject(udp_frame())
    provider.run(10)
    send(ofproto, conn, group(gm.OFPGC_MODIFY, gm.OFPGT_INDIRECT, 1, Bucket(out(3))))
    ports[1].inject(udp_frame())
    provider.run(20)
    assert counts(ports)[2] == 1 and counts(ports)[3] == 1


def test_a_group_loop_is_a_failed_translation():
    from pyvswitch.ofproto_dpif.xlate import translate
    from pyvswitch.ofproto_dpif.xlate_group import translation_failed
    from pyvswitch.packet.extract import extract
    ofproto, provider, ports, conn = make_bridge()
    send(ofproto, conn, group(gm.OFPGC_ADD, gm.OFPGT_ALL, 1, Bucket(out(2)),
                              Bucket((of.GroupAction(1),)), Bucket((of.GroupAction(1),))))
    send(ofproto, conn, flow(Match(), to_group(1)))
    xout = translate(provider, extract(udp_frame(), 1), trace=True)
    assert translation_failed(xout) and list(xout.actions) == []
    assert any("translation failed" in line for line in xout.trace)


def test_snapshot_restore_and_deferred_flow_deletion_for_bundles(ofp):
    conn = FakeOfConn(V13)
    send(ofp, conn, group(gm.OFPGC_ADD, gm.OFPGT_ALL, 1, Bucket(out(1))))
    send(ofp, conn, flow(Match(), to_group(1)))
    snap = ofp.groups.snapshot()
    ofp.groups.apply(group(gm.OFPGC_ADD, gm.OFPGT_ALL, 2, Bucket(out(2))), 0)
    assert ofp.groups.apply(group(gm.OFPGC_DELETE, gm.OFPGT_ALL, 1), 0,
                            delete_flows=False) == [1]
    assert list(ofp.groups) == [2] and ofp.flows.n_flows() == 1     # flow left to caller
    (rule,) = ofp.groups.rules_using([1])
    assert rule.instructions == to_group(1)
    ofp.groups.restore(snap)
    assert list(ofp.groups) == [1] and ofp.groups.rules_using([1]) == [rule]
