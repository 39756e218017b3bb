"""Flow monitors as controllers see them: FLOW_MONITOR requests (OF1.0 Nicira, OF1.3 ONF
1870, OF1.4/1.5) through the receive path of a switch with two sessions, the events that
flow changes produce (own changes abbreviated), filters, errors, and the 128 KiB
pause/resume flow control.  Expected behaviour: Open vSwitch's (connmgr.c ofmonitor_*,
ofproto.c handle_flow_monitor_request)."""

from __future__ import annotations

import pytest

from pyvswitch.openflow import codec
from pyvswitch.openflow import messages as m
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.ofpacts import OFPP_ANY, Instructions, Output
from pyvswitch.openflow.wire_monitor import (
    OFPFMC_DELETE, OFPFMC_MODIFY, OFPFME_ABBREV, OFPFME_ADDED, OFPFME_INITIAL,
    OFPFME_MODIFIED, OFPFME_PAUSED, OFPFME_REMOVED, OFPFME_RESUMED, OFPFMF_ADD,
    OFPFMF_INITIAL, OFPFMF_INSTRUCTIONS, OFPFMF_MODIFY, OFPFMF_ONLY_OWN, OFPFMF_REMOVED,
    FlowMonitorCancel, FlowMonitorPaused, FlowMonitorReply, FlowMonitorRequest,
    FlowMonitorResumed,
)
from pyvswitch.packet.fields import Match

from oracles import ofp_print
from test_bundles import Session, errors

ALL = OFPFMF_INITIAL | OFPFMF_ADD | OFPFMF_REMOVED | OFPFMF_MODIFY | OFPFMF_INSTRUCTIONS
VERSIONS = (0x01, 0x04, 0x05, 0x06)


def pair(version: int, watcher_version: int | None = None):
    """A switch with a watching session and an acting session (both registered)."""
    watcher = Session(watcher_version or version)
    actor = Session(version, watcher.ofproto)
    if version == 0x01:
        actor.send(m.FlowModTableId(True))      # OF1.0: table ids in flow_mods
    watcher.ofproto.connmgr.monitors.sessions = lambda: [watcher.ofconn, actor.ofconn]
    return watcher, actor


def ip_flow(n: int, port: int = 1, command: int = m.OFPFC_ADD, **kw) -> m.FlowMod:
    match = Match().set("eth_type", 0x0800).set("ipv4_dst", 0x0A000000 + n)
    return m.FlowMod(match=match, instructions=Instructions(apply=(Output(port),)),
                     command=command, table_id=kw.pop("table_id", 0),
                     priority=kw.pop("priority", 100), **kw)


def watch(s: Session, flags: int = ALL, mid: int = 1, **kw) -> list:
    return s.send(FlowMonitorRequest(mid, flags, kw.pop("match", Match()), **kw))


def updates(replies) -> list:
    out = []
    for _, msg, _ in replies:
        if isinstance(msg, FlowMonitorReply):
            out.extend(msg.updates)
        elif isinstance(msg, (FlowMonitorPaused, FlowMonitorResumed)):
            out.append(msg)
    return out


def events(replies) -> list[int]:
    return [u.event if not isinstance(u, (FlowMonitorPaused, FlowMonitorResumed))
            else (OFPFME_PAUSED if isinstance(u, FlowMonitorPaused) else OFPFME_RESUMED)
            for u in updates(replies)]


@pytest.mark.parametrize("version", VERSIONS)
def test_initial_then_added_modified_removed(version):
    watcher, actor = pair(version)
    actor.send(ip_flow(1))
    actor.send(ip_flow(2, table_id=1))
    reply = watch(watcher)
    xid = watcher.xid
    assert all(x == xid for x, _, _ in reply)        # the reply answers the request
    initial = updates(reply)
    # OF1.0/1.3 forms report INITIAL as ADDED (Nicira numbering has no INITIAL).
    want = OFPFME_INITIAL if version >= 0x05 else OFPFME_ADDED
    assert [u.event for u in initial] == [want, want]
    assert {u.table_id for u in initial} == {0, 1}
    assert all(u.instructions.apply == (Output(1),) for u in initial)

    actor.send(ip_flow(3, idle_timeout=7))
    (u,) = updates(watcher.received())
    assert (u.event, u.priority, u.idle_timeout) == (OFPFME_ADDED, 100, 7)

    actor.send(ip_flow(3, port=2, command=m.OFPFC_MODIFY_STRICT))
    (u,) = updates(watcher.received())
    assert u.event == OFPFME_MODIFIED and u.instructions.apply == (Output(2),)

    actor.send(ip_flow(3, port=2, command=m.OFPFC_MODIFY_STRICT))
    assert updates(watcher.received()) == []       # nothing changed: no event

    actor.send(ip_flow(3, command=m.OFPFC_DELETE))
    (u,) = updates(watcher.received())
    assert (u.event, u.reason) == (OFPFME_REMOVED, m.OFPRR_DELETE)


@pytest.mark.parametrize("version", VERSIONS)
def test_own_changes_are_abbreviated(version):
    s, _ = pair(version)
    watch(s, OFPFMF_ADD | OFPFMF_REMOVED)
    (u,) = updates(s.send(ip_flow(1), xid=4242))
    assert (u.event, u.xid) == (OFPFME_ABBREV, 4242)
    # One ABBREV per flow_mod, however many flows it touched.
    s.send(ip_flow(2))
    delete_all = m.FlowMod(match=Match(), instructions=Instructions(),
                           command=m.OFPFC_DELETE, table_id=0xFF)
    replies = s.send(delete_all, xid=77)        # removes both flows
    assert [(u.event, u.xid) for u in updates(replies)] == [(OFPFME_ABBREV, 77)]


@pytest.mark.parametrize("version", VERSIONS)
def test_only_own_gives_full_events_for_own_changes(version):
    s, _ = pair(version)
    watch(s, OFPFMF_ADD | OFPFMF_ONLY_OWN)
    (u,) = updates(s.send(ip_flow(1)))
    assert u.event == OFPFME_ADDED and not u.instructions.apply  # no INSTRUCTIONS flag


@pytest.mark.parametrize("version", VERSIONS)
def test_filters_table_out_port_match(version):
    watcher, actor = pair(version)
    watch(watcher, OFPFMF_ADD | OFPFMF_REMOVED | OFPFMF_MODIFY, mid=1, table_id=1)
    watch(watcher, OFPFMF_ADD | OFPFMF_MODIFY, mid=2, out_port=2)
    watch(watcher, OFPFMF_ADD, mid=3, match=Match().set("eth_type", 0x0806))
    actor.send(ip_flow(1))                             # table 0, port 1, ip: nobody
    assert updates(watcher.received()) == []
    actor.send(ip_flow(2, table_id=1))                 # monitor 1
    assert events(watcher.received()) == [OFPFME_ADDED]
    actor.send(ip_flow(3, port=2))                     # monitor 2
    assert events(watcher.received()) == [OFPFME_ADDED]
    # A flow that stops sending to port 2 is still reported (its old actions did).
    actor.send(ip_flow(3, port=1, command=m.OFPFC_MODIFY_STRICT))
    assert events(watcher.received()) == [OFPFME_MODIFIED]
    arp = m.FlowMod(match=Match().set("eth_type", 0x0806),
                    instructions=Instructions(apply=(Output(1),)), command=m.OFPFC_ADD,
                    table_id=0, priority=5)
    actor.send(arp)                                    # monitor 3 (loose match)
    assert events(watcher.received()) == [OFPFME_ADDED]


@pytest.mark.parametrize("version", VERSIONS)
def test_errors_and_cancel(version):
    s, _ = pair(version)
    assert errors(watch(s, mid=5)) == []
    assert errors(watch(s, mid=5)) == ["OFPMOFC_MONITOR_EXISTS"]
    assert errors(watch(s, mid=6, table_id=254)) == []        # the internal table exists
    assert errors(watch(s, mid=7, table_id=0xFF)) == []           # every table
    assert errors(watch(s, mid=8, flags=OFPFMF_INITIAL)) == ["OFPMOFC_BAD_FLAGS"]
    assert set(s.ofconn.monitors.monitors) == {5, 6, 7}
    if version >= 0x05:
        assert errors(watch(s, mid=9, command=OFPFMC_MODIFY)) == ["OFPMOFC_UNKNOWN_MONITOR"]
        assert errors(watch(s, mid=5, command=OFPFMC_DELETE)) == []
        assert errors(watch(s, mid=5, command=OFPFMC_DELETE)) == ["OFPMOFC_UNKNOWN_MONITOR"]
        assert errors(watch(s, mid=6, flags=OFPFMF_ADD, command=OFPFMC_MODIFY)) == []
        assert s.ofconn.monitors.monitors[6].flags == OFPFMF_ADD
    else:
        assert s.send(FlowMonitorCancel(5)) == []
        assert errors(s.send(FlowMonitorCancel(5))) == ["OFPMOFC_UNKNOWN_MONITOR"]
    assert 5 not in s.ofconn.monitors.monitors


def test_an_error_removes_the_monitors_the_request_created():
    sm = pair(0x05)[0].ofconn.monitors
    sm.create(FlowMonitorRequest(1, ALL, Match()))
    reqs = [FlowMonitorRequest(2, ALL, Match()),
            FlowMonitorRequest(1, ALL, Match(), command=OFPFMC_DELETE),
            FlowMonitorRequest(3, ALL, Match(), table_id=12)]
    with pytest.raises(OFPError) as exc:
        sm.apply(reqs, n_tables=10)
    assert exc.value.name == "OFPBRC_BAD_TABLE_ID"
    assert set(sm.monitors) == set()            # 2 removed again, 1 stays deleted (OVS)


def test_expiry_and_eviction_are_reported():
    watcher, actor = pair(0x05)
    watch(watcher, OFPFMF_REMOVED)
    actor.send(ip_flow(1, hard_timeout=1))
    watcher.received()
    actor.ofproto.flows.run(2_000)
    (u,) = updates(watcher.received())
    assert (u.event, u.reason) == (OFPFME_REMOVED, m.OFPRR_HARD_TIMEOUT)
    # Eviction by a table limit (only flows with a timeout can be evicted).
    actor.send(ip_flow(2, hard_timeout=100))
    actor.send(ip_flow(3, hard_timeout=100))
    actor.ofproto.flows.configure_table(0, 2_000, max_flows=1, evict=True)
    (u,) = updates(watcher.received())
    assert (u.event, u.reason) == (OFPFME_REMOVED, m.OFPRR_EVICTION)


def test_hidden_flows_are_never_reported():
    watcher, actor = pair(0x05)
    watch(watcher)
    actor.ofproto.flows.apply_flow_mod(ip_flow(1, priority=180000), 0)
    assert updates(watcher.received()) == []


def test_bundle_commit_is_one_abbrev_for_the_committer_and_full_for_others():
    from pyvswitch.openflow.wire_bundle import (OFPBCT_COMMIT_REQUEST, OFPBCT_OPEN_REQUEST)
    watcher, actor = pair(0x05)
    watch(watcher, OFPFMF_ADD)
    watch(actor, OFPFMF_ADD)
    actor.control(1, OFPBCT_OPEN_REQUEST)
    actor.add(1, ip_flow(1), xid=900)
    actor.add(1, ip_flow(2))
    own = updates(actor.control(1, OFPBCT_COMMIT_REQUEST))
    assert events(watcher.received()) == [OFPFME_ADDED, OFPFME_ADDED]
    assert [(u.event, u.xid) for u in own] == [(OFPFME_ABBREV, 900)]


@pytest.mark.parametrize("version", VERSIONS)
def test_pause_and_resume(version):
    watcher, actor = pair(version)
    watch(watcher, OFPFMF_ADD | OFPFMF_REMOVED | OFPFMF_MODIFY | OFPFMF_INSTRUCTIONS)
    watcher.received()
    actor.send(ip_flow(0))                      # exists before the pause
    watcher.received()
    watcher.vconn.writable = False              # the controller stops reading
    n = 0
    while not watcher.ofconn.monitors.paused:
        n += 1
        actor.send(ip_flow(n))
        assert n < 5000
    sm = watcher.ofconn.monitors
    assert sm.counter.n_bytes > 128 * 1024
    # While paused: additions and changes are held back, removals of old flows go out.
    actor.send(ip_flow(n + 1))                  # added while paused
    actor.send(ip_flow(1, port=2, command=m.OFPFC_MODIFY_STRICT))  # modified while paused
    actor.send(ip_flow(n + 1, command=m.OFPFC_DELETE_STRICT))       # added+removed: silent
    actor.send(ip_flow(0, command=m.OFPFC_DELETE_STRICT))           # old: REMOVED
    watcher.vconn.writable = True
    watcher.rconn.run(0)
    got = events(watcher.received())
    assert got[-2:] == [OFPFME_PAUSED, OFPFME_REMOVED]
    assert got.count(OFPFME_REMOVED) == 1
    # Resume once the monitor messages have left: refresh, then RESUMED.
    assert watcher.ofproto.connmgr.monitors.may_resume(watcher.ofconn)
    watcher.ofproto.connmgr.monitors.run(0)
    refreshed = updates(watcher.received())
    assert events_of(refreshed)[-1] == OFPFME_RESUMED
    refresh = [u for u in refreshed if not isinstance(u, FlowMonitorResumed)
               and u.event != OFPFME_RESUMED]
    assert [u.event for u in refresh] == [OFPFME_MODIFIED]
    assert refresh[0].instructions.apply == (Output(2),)
    assert not sm.paused and sm.changed == {}
    actor.send(ip_flow(1, command=m.OFPFC_DELETE_STRICT))
    assert events(watcher.received()) == [OFPFME_REMOVED]


def events_of(us) -> list[int]:
    return [OFPFME_PAUSED if isinstance(u, FlowMonitorPaused) else
            OFPFME_RESUMED if isinstance(u, FlowMonitorResumed) else u.event for u in us]


def test_monitors_die_with_the_session():
    s, _ = pair(0x05)
    watch(s)
    s.ofconn.close()
    assert not s.ofconn.monitors


def test_of13_onf_monitor_messages_read_as_ovs_ofctl_reads_them():
    req = FlowMonitorRequest(3, ALL | OFPFMF_ONLY_OWN, Match().set("eth_type", 0x0800), 0xFF,
                             OFPP_ANY)
    raw = codec.encode(req, 0x04, 1)
    assert codec.decode(raw) == req
    text = ofp_print(raw)
    assert "ONFST_FLOW_MONITOR request" in text and "id=3" in text and "own" in text
    reply = FlowMonitorReply((_full(OFPFME_ADDED), _full(OFPFME_REMOVED, reason=2)))
    text = ofp_print(codec.encode(reply, 0x04, 0))
    assert "event=ADDED" in text and "event=DELETED reason=delete" in text
    assert "actions=output:1" in text
    for msg, word in ((FlowMonitorCancel(3), "ONFT_FLOW_MONITOR_CANCEL"),
                      (FlowMonitorPaused(), "ONFT_FLOW_MONITOR_PAUSED"),
                      (FlowMonitorResumed(), "ONFT_FLOW_MONITOR_RESUMED")):
        raw = codec.encode(msg, 0x04, 1)
        assert word in ofp_print(raw) and codec.decode(raw) == msg


def _full(event: int, reason: int = 0):
    from pyvswitch.openflow.wire_monitor import FlowUpdate
    return FlowUpdate(event, 0, reason, 0, 0, 100, 0, Match().set("eth_type", 0x0800),
                      Instructions(apply=(Output(1),)))
