"""Bundles as a controller sees them: BUNDLE_CONTROL / BUNDLE_ADD_MESSAGE through the whole
receive path of a switch (OF1.3 ONF 2300/2301, OF1.4, OF1.5), with a hand-stepped clock.
The expected errors and state rules are Open vSwitch's (ofproto/bundles.c,
ofproto.c do_bundle_commit, connmgr.c bundle expiry)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pyvswitch.conn.rconn import Rconn
from pyvswitch.netdev.base import open_netdev
from pyvswitch.ofproto.bundles import SessionBundles
from pyvswitch.ofproto.ofconn import ConnType, OfConn
from pyvswitch.ofproto.ofproto import Ofproto
from pyvswitch.openflow import codec, framing
from pyvswitch.openflow import messages as m
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages_gm import OFPGC_ADD, OFPGC_DELETE, OFPGT_ALL, Bucket, GroupMod, MeterMod
from pyvswitch.openflow.ofpacts import GroupAction, Instructions, Output
from pyvswitch.openflow.wire_monitor import FlowMonitorRequest
from pyvswitch.openflow.wire_bundle import (
    OFPBCT_CLOSE_REQUEST, OFPBCT_COMMIT_REPLY, OFPBCT_COMMIT_REQUEST, OFPBCT_DISCARD_REQUEST,
    OFPBCT_OPEN_REPLY, OFPBCT_OPEN_REQUEST, OFPBF_ATOMIC, OFPBF_ORDERED, BundleAdd,
    BundleControl,
)
from pyvswitch.packet.fields import Match

from test_rconn import ECHO, FakeVconn

VERSIONS = (0x04, 0x05, 0x06)
FLAGS = OFPBF_ATOMIC | OFPBF_ORDERED


class Session:
    """A switch with one connected controller session and a clock stepped by hand."""

    def __init__(self, version: int, ofproto: Ofproto | None = None) -> None:
        if ofproto is None:
            ofproto = Ofproto("br0", 1)
            for i in (1, 2):
                ofproto.add_port(f"p{i}", open_netdev(f"p{i}", "dummy"), i)
        self.ofproto = ofproto
        self.version = version
        self.now = 0
        self.rconn = Rconn("br0<->test", 0, echo_request=lambda v: ECHO)
        self.vconn = FakeVconn("test", version=version)
        self.rconn.connect_unreliably(self.vconn, 0)
        self.rconn.run(0)
        self.ofconn = OfConn(self.rconn, ConnType.PRIMARY)
        self.xid = 100

    def send(self, msg, xid: int | None = None) -> list:
        """Deliver ``msg`` to the switch; return what the switch sent back (decoded)."""
        if xid is None:
            self.xid += 1
            xid = self.xid
        raw = msg if isinstance(msg, bytes) else codec.encode(msg, self.version, xid)
        self.ofproto.handle_openflow(self.ofconn, raw, self.now)
        return self.received()

    def received(self) -> list:
        buf = bytearray(b"".join(self.vconn.sent))
        self.vconn.sent.clear()
        return [(int.from_bytes(r[4:8], "big"), codec.decode(r), r)
                for r in framing.split_messages(buf)]

    def add(self, bundle_id: int, fm, flags: int = FLAGS, xid: int | None = None) -> list:
        if xid is None:
            self.xid += 1
            xid = self.xid
        inner = codec.encode(fm, self.version, xid)
        return self.send(BundleAdd(bundle_id, inner, flags), xid)

    def control(self, bundle_id: int, ctype: int, flags: int = FLAGS) -> list:
        return self.send(BundleControl(bundle_id, ctype, flags))

    def flows(self) -> set[int]:
        """The priorities of the flows in the tables (each test flow has its own)."""
        return {r.priority for r in self.ofproto.flows.rules()}


def flow(n: int, **kw) -> m.FlowMod:
    match = Match().set("eth_type", 0x0800).set("ipv4_dst", 0x0A000000 + n)
    ins = kw.pop("instructions", Instructions(apply=(Output(1),)))
    return m.FlowMod(match=match, instructions=ins, command=kw.pop("command", m.OFPFC_ADD),
                     table_id=0, priority=kw.pop("priority", 100 + n), **kw)


def errors(replies) -> list[str]:
    return [msg.name for _, msg, _ in replies if isinstance(msg, m.ErrorMsg)]


def controls(replies) -> list[int]:
    return [msg.type for _, msg, _ in replies if isinstance(msg, BundleControl)]


@pytest.mark.parametrize("version", VERSIONS)
def test_commit_applies_every_flow_at_one_version(version):
    s = Session(version)
    assert controls(s.control(1, OFPBCT_OPEN_REQUEST)) == [OFPBCT_OPEN_REPLY]
    for n in range(5):
        assert s.add(1, flow(n)) == []
    assert s.flows() == set()                       # nothing visible before the commit
    v0 = s.ofproto.flows.version
    assert controls(s.control(1, OFPBCT_COMMIT_REQUEST)) == [OFPBCT_COMMIT_REPLY]
    assert len(s.flows()) == 5
    assert s.ofproto.flows.version == v0 + 1        # all five appeared together
    assert len(s.ofconn.bundles) == 0               # a committed bundle is gone


@pytest.mark.parametrize("version", VERSIONS)
def test_a_failing_message_fails_the_commit_and_changes_nothing(version):
    s = Session(version)
    s.send(flow(50))                                # an existing flow, to be deleted
    assert len(s.flows()) == 1
    s.control(7, OFPBCT_OPEN_REQUEST)
    s.add(7, flow(1))
    s.add(7, flow(50, command=m.OFPFC_DELETE_STRICT))
    bad_xid = 555
    s.add(7, flow(2, instructions=Instructions(apply=(GroupAction(99),))), xid=bad_xid)
    s.add(7, flow(3))
    v0 = s.ofproto.flows.version
    replies = s.control(7, OFPBCT_COMMIT_REQUEST)
    assert errors(replies) == ["OFPBAC_BAD_OUT_GROUP", "OFPBFC_MSG_FAILED"]
    # The first error references the failing message (by its xid and its bytes).
    xid, err, _ = replies[0]
    assert xid == bad_xid
    assert int.from_bytes(err.data[4:8], "big") == bad_xid
    assert controls(replies) == []
    assert s.flows() == {150}                       # the deleted flow is still there
    lookup = s.ofproto.flows.lookup(0, _ip_flow(50))
    assert lookup is not None and lookup.priority == 150
    assert len(s.ofconn.bundles) == 0               # discarded whatever the outcome
    assert s.ofproto.flows.version == v0            # nothing was published


def _ip_flow(n: int) -> tuple[int, ...]:
    match = Match().set("eth_type", 0x0800).set("ipv4_dst", 0x0A000000 + n)
    return tuple(match.values)


@pytest.mark.parametrize("version", VERSIONS)
def test_state_rules_and_errors(version):
    s = Session(version)
    # Unknown ids.
    assert errors(s.control(9, OFPBCT_CLOSE_REQUEST)) == ["OFPBFC_BAD_ID"]
    assert errors(s.control(9, OFPBCT_COMMIT_REQUEST)) == ["OFPBFC_BAD_ID"]
    assert errors(s.control(9, OFPBCT_DISCARD_REQUEST)) == ["OFPBFC_BAD_ID"]
    # OPEN of an existing bundle discards it and fails.
    s.control(1, OFPBCT_OPEN_REQUEST)
    assert errors(s.control(1, OFPBCT_OPEN_REQUEST)) == ["OFPBFC_BAD_ID"]
    assert s.ofconn.bundles.get(1) is None
    # CLOSE twice: the second discards it with BUNDLE_CLOSED.
    s.control(2, OFPBCT_OPEN_REQUEST)
    assert errors(s.control(2, OFPBCT_CLOSE_REQUEST)) == []
    assert errors(s.add(2, flow(1))) == ["OFPBFC_BUNDLE_CLOSED"]
    assert s.ofconn.bundles.get(2) is None
    # A closed bundle can still be committed.
    s.control(3, OFPBCT_OPEN_REQUEST)
    s.add(3, flow(3))
    s.control(3, OFPBCT_CLOSE_REQUEST)
    assert controls(s.control(3, OFPBCT_COMMIT_REQUEST)) == [OFPBCT_COMMIT_REPLY]
    assert len(s.flows()) == 1
    # Flags must stay the same.
    s.control(4, OFPBCT_OPEN_REQUEST, flags=OFPBF_ATOMIC)
    assert errors(s.add(4, flow(4), flags=FLAGS)) == ["OFPBFC_BAD_FLAGS"]
    assert s.ofconn.bundles.get(4) is None
    s.control(5, OFPBCT_OPEN_REQUEST, flags=OFPBF_ATOMIC)
    assert errors(s.control(5, OFPBCT_COMMIT_REQUEST, flags=0)) == ["OFPBFC_BAD_FLAGS"]
    assert s.ofconn.bundles.get(5) is None
    # ADD to an unknown id opens it implicitly; DISCARD drops it unapplied.
    assert s.add(6, flow(6)) == []
    assert controls(s.control(6, OFPBCT_DISCARD_REQUEST)) == [7]
    assert len(s.flows()) == 1
    # A reply type as a request.
    assert errors(s.control(8, OFPBCT_OPEN_REPLY)) == ["OFPBFC_BAD_TYPE"]


@pytest.mark.parametrize("version", VERSIONS)
def test_add_message_checks(version):
    s = Session(version)
    inner = codec.encode(flow(1), version, 5)
    assert errors(s.send(BundleAdd(1, inner, FLAGS), 6)) == ["OFPBFC_MSG_BAD_XID"]
    echo = codec.encode(m.EchoRequest(b""), version, 8)
    assert errors(s.send(BundleAdd(1, echo, FLAGS), 8)) == ["OFPBFC_MSG_UNSUP"]
    barrier = codec.encode(m.BarrierRequest(), version, 9)
    assert errors(s.send(BundleAdd(1, barrier, FLAGS), 9)) == ["OFPBFC_MSG_UNSUP"]
    meter = codec.encode(MeterMod(0, 0, 1, ()), version, 10)
    assert errors(s.send(BundleAdd(1, meter, FLAGS), 10)) == ["OFPBFC_MSG_UNSUP"]
    # A failing ADD does not touch the bundle (OVS: the message is simply not added).
    assert s.ofconn.bundles.get(1) is None


@pytest.mark.parametrize("version", VERSIONS)
def test_port_mod_in_a_bundle(version):
    s = Session(version)
    hw = s.ofproto.ports[1].desc().hw_addr
    pm = m.PortMod(port_no=1, hw_addr=hw, config=m.OFPPC_PORT_DOWN, mask=m.OFPPC_PORT_DOWN,
                   advertise=0)
    # Not atomic, so refused in an ATOMIC bundle...
    s.control(1, OFPBCT_OPEN_REQUEST, flags=OFPBF_ATOMIC)
    s.add(1, flow(1), flags=OFPBF_ATOMIC)
    s.add(1, pm, flags=OFPBF_ATOMIC)
    replies = s.control(1, OFPBCT_COMMIT_REQUEST, flags=OFPBF_ATOMIC)
    assert errors(replies) == ["OFPBFC_MSG_FAILED", "OFPBFC_MSG_FAILED"]
    assert s.flows() == set() and not s.ofproto.ports[1].config & m.OFPPC_PORT_DOWN
    # ... and applied after the flows otherwise.
    s.add(2, flow(1), flags=0)
    s.add(2, pm, flags=0)
    assert controls(s.control(2, OFPBCT_COMMIT_REQUEST, flags=0)) == [OFPBCT_COMMIT_REPLY]
    assert len(s.flows()) == 1 and s.ofproto.ports[1].config & m.OFPPC_PORT_DOWN


def group_mod(cmd: int, gid: int, port: int = 1) -> GroupMod:
    buckets = () if cmd == OFPGC_DELETE else (Bucket((Output(port),)),)
    return GroupMod(cmd, OFPGT_ALL, gid, buckets)


@pytest.mark.parametrize("version", VERSIONS)
def test_group_mods_in_a_bundle(version):
    s = Session(version)
    uses_5 = Instructions(apply=(GroupAction(5),))
    # A flow may use a group the same bundle adds before it.
    s.add(1, group_mod(OFPGC_ADD, 5))
    s.add(1, flow(1, instructions=uses_5))
    assert controls(s.control(1, OFPBCT_COMMIT_REQUEST)) == [OFPBCT_COMMIT_REPLY]
    assert 5 in s.ofproto.groups and s.flows() == {101}
    # Deleting a group in a bundle takes its flows with it, at the bundle's version.
    s.add(2, flow(2))
    s.add(2, group_mod(OFPGC_DELETE, 5))
    assert controls(s.control(2, OFPBCT_COMMIT_REQUEST)) == [OFPBCT_COMMIT_REPLY]
    assert 5 not in s.ofproto.groups and s.flows() == {102}
    # A failure later in the bundle puts the groups back as they were.
    s.add(3, group_mod(OFPGC_ADD, 6))
    s.add(3, group_mod(OFPGC_ADD, 7))
    s.add(3, group_mod(OFPGC_ADD, 6))                     # GROUP_EXISTS
    replies = s.control(3, OFPBCT_COMMIT_REQUEST)
    assert errors(replies) == ["OFPGMFC_GROUP_EXISTS", "OFPBFC_MSG_FAILED"]
    assert 6 not in s.ofproto.groups and 7 not in s.ofproto.groups
    s.send(group_mod(OFPGC_ADD, 8))
    s.send(flow(8, instructions=Instructions(apply=(GroupAction(8),))))
    s.add(4, group_mod(OFPGC_DELETE, 8))
    s.add(4, flow(9, instructions=Instructions(apply=(GroupAction(8),))))  # group gone
    replies = s.control(4, OFPBCT_COMMIT_REQUEST)
    assert errors(replies) == ["OFPBAC_BAD_OUT_GROUP", "OFPBFC_MSG_FAILED"]
    assert 8 in s.ofproto.groups and s.flows() == {102, 108}


@pytest.mark.parametrize("version", VERSIONS)
def test_slave_may_not_use_bundles(version):
    s = Session(version)
    s.ofconn.role = m.ROLE_SLAVE
    assert errors(s.control(1, OFPBCT_OPEN_REQUEST)) == ["OFPBRC_IS_SLAVE"]
    assert errors(s.add(1, flow(1))) == ["OFPBRC_IS_SLAVE"]
    assert len(s.ofconn.bundles) == 0


def test_idle_bundles_expire_with_a_timeout_error():
    s = Session(0x05)
    open_replies = s.control(1, OFPBCT_OPEN_REQUEST)
    open_xid = open_replies[0][0]
    s.now = 5_000
    s.add(2, flow(2))                                # bundle 2 created at 5 s
    s.now = 9_000
    s.ofconn.run(s.now, lambda *a: None)
    assert errors(s.received()) == []                # nothing idle for 10 s yet
    s.now = 10_500
    s.ofconn.run(s.now, lambda *a: None)
    replies = [r for r in s.received() if isinstance(r[1], m.ErrorMsg)]
    assert errors(replies) == ["OFPBFC_TIMEOUT"]     # bundle 1, opened at 0
    assert replies[0][0] == open_xid                 # references the OPEN request
    assert isinstance(codec.decode(replies[0][1].data), BundleControl)
    assert s.ofconn.bundles.get(1) is None and s.ofconn.bundles.get(2) is not None
    s.now = 15_200
    s.ofconn.run(s.now, lambda *a: None)
    assert errors(s.received()) == ["OFPBFC_TIMEOUT"]
    assert len(s.ofconn.bundles) == 0


def test_expiry_is_checked_once_a_second_and_honours_the_configured_timeout():
    b = SessionBundles(now=0, idle_timeout_ms=2_000)
    b.open(1, 0, b"open", 500)
    assert b.run(500) == []                           # next check at 1 s
    assert b.run(1_000) == []
    assert b.run(2_100) == []                         # checked at 2.1 s: not yet idle
    assert b.run(2_500) == []                         # too early for another check
    assert [x.bundle_id for x in b.run(3_100)] == [1]
    assert b.next_wakeup() == float("inf")


def test_bundles_die_with_the_session():
    s = Session(0x05)
    s.control(1, OFPBCT_OPEN_REQUEST)
    s.add(1, flow(1))
    s.ofconn.close()
    assert len(s.ofconn.bundles) == 0


def test_session_bundles_unit_errors():
    b = SessionBundles()
    with pytest.raises(OFPError) as exc:
        b.take(3, 0)
    assert exc.value.name == "OFPBFC_BAD_ID"


# --- robustness: corrupted bundle and monitor messages never crash a handler -------------


def _seed_messages(version: int) -> list[bytes]:
    inner = codec.encode(flow(1), version, 9)
    return [codec.encode(BundleControl(1, OFPBCT_OPEN_REQUEST, FLAGS), version, 8),
            codec.encode(BundleAdd(1, inner, FLAGS), version, 9),
            codec.encode(BundleControl(1, OFPBCT_COMMIT_REQUEST, FLAGS), version, 10),
            codec.encode(FlowMonitorRequest(1, 0x1F, Match()), version, 11)]


_FUZZ = {v: Session(v) for v in VERSIONS}


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(VERSIONS), st.integers(0, 3), st.lists(
    st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=4))
def test_corrupted_bundle_and_monitor_messages_never_crash(version, which, edits):
    s = _FUZZ[version]
    raw = bytearray(_seed_messages(version)[which])
    for pos, byte in edits:
        if 8 <= pos < len(raw):                # keep the header (length, xid) intact
            raw[pos] = byte
    s.send(bytes(raw))
    s.send(codec.encode(BundleControl(1, OFPBCT_COMMIT_REQUEST, FLAGS), version, 12))
    assert s.ofproto.n_handler_crashes == 0, s.ofproto.last_crash


class _RecordingProvider:
    """Accepts every provider call; records packet-outs with the table version."""

    def __init__(self, ofproto):
        self.ofproto, self.packet_outs = ofproto, []

    def packet_out(self, in_port, actions, data, now):
        self.packet_outs.append((data, self.ofproto.flows.version,
                                 {r.priority for r in self.ofproto.flows.rules()}))

    def __getattr__(self, name):
        return lambda *args, **kw: None


@pytest.mark.parametrize("version", VERSIONS)
def test_packet_out_in_a_bundle_runs_after_the_flows(version):
    s = Session(version)
    s.ofproto.provider = provider = _RecordingProvider(s.ofproto)
    po = m.PacketOut(buffer_id=m.NO_BUFFER, in_port=0xFFFFFFFD, actions=(Output(1),),
                     data=b"\xff" * 60)
    s.add(1, po)
    s.add(1, flow(1))
    assert controls(s.control(1, OFPBCT_COMMIT_REQUEST)) == [OFPBCT_COMMIT_REPLY]
    (data, _, visible), = provider.packet_outs
    assert data == b"\xff" * 60 and visible == {101}
    # Nothing is sent when the bundle fails.
    s.add(2, po)
    s.add(2, flow(2, instructions=Instructions(apply=(GroupAction(42),))))
    assert errors(s.control(2, OFPBCT_COMMIT_REQUEST))[-1] == "OFPBFC_MSG_FAILED"
    assert len(provider.packet_outs) == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_inner_message_of_another_version_is_refused_as_ovs_does(version):
    """OFPBFC_BAD_VERSION (which OpenFlow 1.3 cannot number: NXBRC_UNENCODABLE_ERROR
    then, as from Open vSwitch); a truncated inner header is OFPBFC_MSG_BAD_LEN."""
    s = Session(version)
    s.control(1, OFPBCT_OPEN_REQUEST)
    other = 0x05 if version == 0x04 else 0x04
    inner = codec.encode(flow(1), other, 77)
    assert errors(s.send(BundleAdd(1, inner, FLAGS), 77)) == [
        "NXBRC_UNENCODABLE_ERROR" if version == 0x04 else "OFPBFC_BAD_VERSION"]
    good = codec.encode(BundleAdd(1, codec.encode(flow(2), version, 78), FLAGS), version, 78)
    cut = bytearray(good[:len(good) - len(codec.encode(flow(2), version, 78)) + 4])
    cut[2:4] = len(cut).to_bytes(2, "big")
    assert errors(s.send(bytes(cut))) == ["OFPBFC_MSG_BAD_LEN"]
    assert s.add(1, flow(3)) == []                 # the bundle is still usable


# --- the bulk ADD path (ovs-ofctl --bundle add-flows): same results as one by one -----


@pytest.mark.parametrize("version", VERSIONS)
def test_identical_flows_in_a_bundle_replace_each_other_in_order(version):
    s = Session(version)
    s.send(flow(1, cookie=7))                              # already in the table
    s.add(1, flow(1, cookie=8, instructions=Instructions(apply=(Output(2),))))
    s.add(1, flow(2, cookie=1))
    s.add(1, flow(2, cookie=2, instructions=Instructions(apply=(Output(2),))))
    assert controls(s.control(1, OFPBCT_COMMIT_REQUEST)) == [OFPBCT_COMMIT_REPLY]
    rules = {r.priority: r for r in s.ofproto.flows.rules()}
    assert sorted(rules) == [101, 102]
    assert rules[101].cookie == 8 and rules[101].instructions.apply == (Output(2),)
    assert rules[102].cookie == 2 and rules[102].instructions.apply == (Output(2),)
    hit = s.ofproto.flows.lookup(0, _ip_flow(2))
    assert hit is rules[102]


@pytest.mark.parametrize("version", VERSIONS)
def test_bundled_rules_own_their_matches_and_share_the_table_mask_list(version):
    s = Session(version)
    s.send(flow(40))                                       # the plain path's rule first
    for n in range(3):
        s.add(1, flow(n))
    s.control(1, OFPBCT_COMMIT_REQUEST)
    rules = sorted(s.ofproto.flows.rules(), key=lambda r: r.priority)
    assert len(rules) == 4
    assert len({id(r.match.masks) for r in rules}) == 1    # one list per mask and table
    assert len({id(r.match.values) for r in rules}) == 4
    for r in rules:
        assert r.match == flow(r.priority - 100).match
        assert s.ofproto.flows.lookup(0, _ip_flow(r.priority - 100)) is r


@pytest.mark.parametrize("version", VERSIONS)
def test_a_deleted_group_is_checked_again_for_later_flows_of_the_bundle(version):
    s = Session(version)
    s.send(group_mod(OFPGC_ADD, 8))
    uses_8 = Instructions(apply=(GroupAction(8),))
    s.add(1, flow(1, instructions=uses_8))                 # fine: group 8 exists
    s.add(1, group_mod(OFPGC_DELETE, 8))                   # ... takes flow 1 with it
    s.add(1, flow(2, instructions=uses_8), xid=777)        # same instructions: refused
    replies = s.control(1, OFPBCT_COMMIT_REQUEST)
    assert errors(replies) == ["OFPBAC_BAD_OUT_GROUP", "OFPBFC_MSG_FAILED"]
    assert replies[0][0] == 777
    assert 8 in s.ofproto.groups and s.flows() == set()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_refused_add_in_the_middle_of_many_changes_nothing(version):
    s = Session(version)
    for n in range(50):
        s.add(1, flow(n))
    bad = flow(60)
    bad.table_id = 0xFF                                    # ADD to table 0xff
    s.add(1, bad, xid=999)
    for n in range(70, 80):
        s.add(1, flow(n))
    v0 = s.ofproto.flows.version
    replies = s.control(1, OFPBCT_COMMIT_REQUEST)
    assert errors(replies) == ["OFPFMFC_BAD_TABLE_ID", "OFPBFC_MSG_FAILED"]
    assert replies[0][0] == 999
    assert s.flows() == set() and s.ofproto.flows.version == v0
    assert s.ofproto.flows.lookup(0, _ip_flow(1)) is None
    # The same flows apply cleanly afterwards (nothing half-staged was left behind).
    for n in range(50):
        s.add(2, flow(n))
    assert controls(s.control(2, OFPBCT_COMMIT_REQUEST)) == [OFPBCT_COMMIT_REPLY]
    assert len(s.flows()) == 50
