"""monitors: OpenFlow flow monitors (OVS connmgr.c ofmonitor_* and the monitor half of
ofproto.c: handle_flow_monitor_request, ofmonitor_report, ofmonitor_flush, resume).

What this module owns
---------------------
* ``Monitor``: one monitor of one session (id, flags in OF1.4 numbering, table, out_port,
  out_group, match).
* ``SessionMonitors``: a session's monitors, the updates waiting to be flushed, the
  transmit-queue counter of monitor messages and the pause state (flow control).
* ``MonitorHub``: the bridge-wide half, owned by the connmgr.  ``report`` is registered as
  a ``FlowTables`` observer: it is called once per committed change (one flow_mod, one
  bundle commit, one expiry or eviction pass, a flush) with the rules added and removed,
  turns them into ADDED / MODIFIED / REMOVED events for every session whose monitors
  select them (table, out_port in the old or new actions, out_group, loose match), and
  flushes them at once.  ``run`` resumes paused sessions.

Semantics (Open vSwitch's; OVS-BEHAVIOUR.md section 7)
-------------------------------------------------------
* A change made by the session itself is reported as a single ABBREV event carrying the
  request's xid, unless one of the matching monitors has ONLY_OWN (Nicira "OWN": full
  events for one's own changes) or the session is paused.
* A MODIFY that changed neither the actions nor the cookie is not reported; an ADD over an
  identical flow is reported as ADDED.  Hidden flows (priority > 65535) never are.
* Flow control: when more than ``PAUSE_BYTES`` (128 KiB) of monitor messages wait in the
  session's transmit queue, the session is *paused* (PAUSED sent).  While paused, only
  REMOVED events for flows that existed before the pause are sent.  Once every monitor
  message has left the queue, ``run`` sends ADDED / MODIFIED for the flows added or
  modified since the pause (those still present) and then RESUMED.  This module remembers
  those flows only while some session is paused (the flow entries carry no sequence
  numbers here, unlike OVS's rules).

Time model: nothing here depends on time.  Must not import ``vswitchd``, ``ofconn``,
``connmgr`` (sessions are duck-typed: ``monitors``, ``version``, ``send``).
"""

from __future__ import annotations

from typing import Any, Iterable

from pyvswitch.conn.rconn import PacketCounter
from pyvswitch.ofproto.rule import Rule
from pyvswitch.openflow import wire_monitor_onf  # noqa: F401  (registers the OF1.3 forms)
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.ofpacts import OFPG_ANY, OFPP_ANY, outputs_to_group, outputs_to_port
from pyvswitch.openflow.wire_monitor import (
    OFPFMC_ADD, OFPFMC_DELETE, OFPFMC_MODIFY, OFPFME_ABBREV, OFPFME_ADDED, OFPFME_INITIAL,
    OFPFME_MODIFIED, OFPFME_PAUSED, OFPFME_REMOVED, OFPFME_RESUMED, OFPFMF_ADD,
    OFPFMF_INITIAL, OFPFMF_INSTRUCTIONS, OFPFMF_MODIFY, OFPFMF_ONLY_OWN, OFPFMF_REMOVED,
    FlowMonitorPaused, FlowMonitorReply, FlowMonitorRequest, FlowMonitorResumed, FlowUpdate,
)

#: Monitor bytes queued on a session above which it is paused (OVS ofmonitor_flush).
PAUSE_BYTES = 128 * 1024
#: Flags a monitor may carry (Open vSwitch refuses NO_ABBREV and unknown bits).
VALID_FLAGS = (OFPFMF_INITIAL | OFPFMF_ADD | OFPFMF_REMOVED | OFPFMF_MODIFY
               | OFPFMF_INSTRUCTIONS | OFPFMF_ONLY_OWN)
EVENT_FLAGS = OFPFMF_ADD | OFPFMF_REMOVED | OFPFMF_MODIFY
_ALL_TABLES = 0xFF
_VERSION_MAX = 1 << 62


class Monitor:
    """One flow monitor of one session."""

    __slots__ = ("monitor_id", "flags", "table_id", "out_port", "out_group", "match",
                 "_crit")

    def __init__(self, req: FlowMonitorRequest) -> None:
        self.monitor_id = req.monitor_id
        self.flags = req.flags
        self.table_id = req.table_id
        self.out_port = req.out_port
        self.out_group = req.out_group
        self.match = req.match
        values, masks = req.match.values, req.match.masks
        self._crit = [(i, values[i] & m, m) for i, m in enumerate(masks) if m]

    def selects(self, rule: Rule, old_instructions=None) -> bool:
        """Does this monitor watch ``rule`` (OVS ofmonitor_report's test)?  A modified
        flow counts as sending to out_port if its old actions did."""
        if self.table_id != _ALL_TABLES and self.table_id != rule.table_id:
            return False
        if self.out_port != OFPP_ANY and not outputs_to_port(rule.instructions,
                                                             self.out_port):
            if old_instructions is None or not outputs_to_port(old_instructions,
                                                               self.out_port):
                return False
        if self.out_group != OFPG_ANY and not outputs_to_group(rule.instructions,
                                                               self.out_group):
            return False
        if self._crit:
            values, masks = rule.match.values, rule.match.masks
            for i, value, mask in self._crit:
                if masks[i] & mask != mask or values[i] & mask != value:
                    return False
        return True


def _update(event: int, rule: Rule, flags: int, reason: int = 0) -> FlowUpdate:
    return FlowUpdate(event, rule.table_id, reason, rule.idle_timeout, rule.hard_timeout,
                      rule.priority, rule.cookie, rule.match,
                      rule.instructions if flags & OFPFMF_INSTRUCTIONS else None)


def check_request(req: FlowMonitorRequest, n_tables: int) -> None:
    """The checks Open vSwitch makes on one request entry before acting on it."""
    if req.command != OFPFMC_DELETE and (not req.flags & EVENT_FLAGS
                                         or req.flags & ~VALID_FLAGS):
        raise OFPError("OFPMOFC_BAD_FLAGS", f"flags {req.flags:#x}")
    if req.table_id != _ALL_TABLES and req.table_id >= n_tables:
        raise OFPError("OFPBRC_BAD_TABLE_ID", f"table {req.table_id}")
    if req.command not in (OFPFMC_ADD, OFPFMC_MODIFY, OFPFMC_DELETE):
        raise OFPError("OFPMOFC_BAD_COMMAND", f"command {req.command}")


#: Monitors alive in all sessions of the process: when none, a flow-table commit has no
#: one to tell (``MonitorHub.report`` returns before looking at the sessions).
_n_alive = 0


class SessionMonitors:
    """The monitors of one session and their flow-control state.  ``monitors`` changes
    only through the methods below (they keep ``_n_alive``)."""

    def __init__(self) -> None:
        self.monitors: dict[int, Monitor] = {}
        self.counter = PacketCounter()      # monitor messages in the transmit queue
        self.paused = False
        #: While paused: flows added (True) or modified (False) since the pause.
        self.changed: dict[int, tuple[Rule, bool]] = {}
        self.pending: list[FlowUpdate] = []
        self.sent_abbrev = False
        self.n_pauses = 0
        self.n_resumes = 0

    def __bool__(self) -> bool:
        return bool(self.monitors)

    def create(self, req: FlowMonitorRequest) -> Monitor:
        if req.monitor_id in self.monitors:
            raise OFPError("OFPMOFC_MONITOR_EXISTS", f"monitor {req.monitor_id}")
        global _n_alive
        mon = self.monitors[req.monitor_id] = Monitor(req)
        _n_alive += 1
        return mon

    def delete(self, monitor_id: int) -> None:
        global _n_alive
        if self.monitors.pop(monitor_id, None) is None:
            raise OFPError("OFPMOFC_UNKNOWN_MONITOR", f"monitor {monitor_id}")
        _n_alive -= 1

    def apply(self, reqs: Iterable[FlowMonitorRequest], n_tables: int) -> list[Monitor]:
        """A whole FLOW_MONITOR request.  Returns the monitors it created; on an error
        those are removed again (deletions stay done, as in OVS) and the error raised."""
        created: list[Monitor] = []
        try:
            for req in reqs:
                check_request(req, n_tables)
                if req.command == OFPFMC_ADD:
                    created.append(self.create(req))
                elif req.command == OFPFMC_MODIFY:
                    self.delete(req.monitor_id)
                    created.append(self.create(req))
                else:
                    self.delete(req.monitor_id)
        except OFPError:
            for mon in created:
                if self.monitors.get(mon.monitor_id) is mon:
                    self.delete(mon.monitor_id)
            raise
        return created

    def clear(self) -> None:
        global _n_alive
        _n_alive -= len(self.monitors)
        self.monitors.clear()
        self.changed.clear()
        self.pending.clear()
        self.paused = False

    def flags_for(self, rule: Rule, update: int, old_instructions=None) -> int:
        flags = 0
        for mon in self.monitors.values():
            if mon.flags & update and mon.selects(rule, old_instructions):
                flags |= mon.flags
        return flags


def initial_updates(flows: Any, monitors: Iterable[Monitor]) -> list[FlowUpdate]:
    """INITIAL events for the flows the INITIAL monitors select (each flow once)."""
    chosen: dict[int, list] = {}
    for mon in monitors:
        if not mon.flags & OFPFMF_INITIAL:
            continue
        for rule in flows.collect(mon.table_id, mon.match, out_port=mon.out_port,
                                  out_group=mon.out_group):
            entry = chosen.get(id(rule))
            if entry is None:
                chosen[id(rule)] = [rule, mon.flags & OFPFMF_INSTRUCTIONS]
            else:
                entry[1] |= mon.flags & OFPFMF_INSTRUCTIONS
    return [_update(OFPFME_INITIAL, rule, flags) for rule, flags in chosen.values()]


def _paused_msg(version: int):
    if version >= 0x05:
        return FlowMonitorReply((FlowUpdate(OFPFME_PAUSED),))
    return FlowMonitorPaused()


def _resumed_msg(version: int):
    if version >= 0x05:
        return FlowMonitorReply((FlowUpdate(OFPFME_RESUMED),))
    return FlowMonitorResumed()


class MonitorHub:
    """Fan-out of flow changes to the monitoring sessions of one bridge."""

    def __init__(self, sessions, flows_of=None) -> None:
        #: ``sessions()`` lists the live sessions (the connmgr's ofconns).
        self.sessions = sessions
        #: ``flows_of()`` gives the bridge's FlowTables (resume checks liveness there).
        self.flows_of = flows_of

    def watching(self) -> list:
        return [s for s in self.sessions() if getattr(s, "monitors", None)]

    # --- reporting --------------------------------------------------------------------
    def report(self, added: list[Rule], removed: list[tuple[Rule, int | None]],
               now: float, txn: Any = None) -> None:
        """``FlowTables`` observer: one committed change."""
        if not _n_alive:
            return
        sessions = self.watching()
        if not sessions:
            return
        source = getattr(txn, "source", None)
        xid = getattr(source, "request_xid", 0)
        modified = {}
        result = getattr(txn, "result", None)
        for old, new in getattr(result, "modified", ()):
            modified[id(new)] = old
        events: list[tuple[int, Rule, int, Any]] = []
        quiet: list[tuple[Rule, Rule]] = []     # replaced without an event
        for rule in added:
            if rule.hidden:
                continue
            old = modified.get(id(rule))
            if old is None:
                events.append((OFPFME_ADDED, rule, 0, None))
            elif rule.instructions != old.instructions or rule.cookie != old.cookie:
                events.append((OFPFME_MODIFIED, rule, 0, old))
            else:
                quiet.append((old, rule))
        for rule, reason in removed:
            if reason is not None and not rule.hidden:
                events.append((OFPFME_REMOVED, rule, reason, None))
        for session in sessions:
            if session.monitors.paused:
                self._track_paused(session.monitors, events, quiet)
            else:
                self._report_to(session, events, source, xid)
            self.flush(session)

    @staticmethod
    def _track_paused(sm: "SessionMonitors", events, quiet) -> None:
        """While paused only REMOVED of flows older than the pause goes out; the rest is
        remembered for the refresh at resume."""
        changed = sm.changed
        for old, new in quiet:
            info = changed.pop(id(old), None)
            if info is not None:
                changed[id(new)] = (new, info[1])
        for event, rule, reason, old in events:
            if event == OFPFME_REMOVED:
                info = changed.pop(id(rule), None)
                if info is not None and info[1]:
                    continue                    # added after the pause: never announced
                flags = sm.flags_for(rule, OFPFMF_REMOVED)
                if flags:
                    sm.pending.append(_update(event, rule, flags, reason))
            elif event == OFPFME_ADDED:
                changed[id(rule)] = (rule, True)
            else:
                info = changed.pop(id(old), None)
                changed[id(rule)] = (rule, bool(info and info[1]))

    def _report_to(self, session, events, source, xid: int) -> None:
        sm: SessionMonitors = session.monitors
        own = session is source
        for event, rule, reason, old in events:
            update = (OFPFMF_ADD if event == OFPFME_ADDED else
                      OFPFMF_MODIFY if event == OFPFME_MODIFIED else OFPFMF_REMOVED)
            old_ins = None
            if old is not None and old.instructions != rule.instructions:
                old_ins = old.instructions
            flags = sm.flags_for(rule, update, old_ins)
            if not flags:
                continue
            if flags & OFPFMF_ONLY_OWN or not own:
                sm.pending.append(_update(event, rule, flags, reason))
            elif not sm.sent_abbrev:
                sm.pending.append(FlowUpdate(OFPFME_ABBREV, xid=xid))
                sm.sent_abbrev = True

    def flush(self, session) -> None:
        """Send what ``report`` gathered; pause the session if its queue is too long."""
        sm: SessionMonitors = session.monitors
        if sm.pending:
            session.send(FlowMonitorReply(tuple(sm.pending)), 0, sm.counter)
            sm.pending = []
        sm.sent_abbrev = False
        if not sm.paused and sm.counter.n_bytes > PAUSE_BYTES:
            sm.paused = True
            sm.n_pauses += 1
            session.send(_paused_msg(session.version), 0, sm.counter)

    # --- resuming ---------------------------------------------------------------------
    def may_resume(self, session) -> bool:
        sm = getattr(session, "monitors", None)
        return sm is not None and sm.paused and sm.counter.n_packets == 0

    def run(self, now: float) -> None:
        for session in self.sessions():
            if self.may_resume(session):
                self.resume(session)

    def wait(self, poller) -> None:
        if any(self.may_resume(s) for s in self.sessions()):
            poller.immediate_wake()

    def resume(self, session) -> None:
        """Announce what changed while paused (flows still present), then RESUMED."""
        sm: SessionMonitors = session.monitors
        flows = self.flows_of() if self.flows_of is not None else None
        updates = []
        for rule, was_added in sm.changed.values():
            if flows is not None and not _present(flows, rule):
                continue
            update = OFPFMF_ADD | OFPFMF_MODIFY if was_added else OFPFMF_MODIFY
            flags = 0
            for mon in sm.monitors.values():
                if mon.flags & update and mon.selects(rule):
                    flags |= update | (mon.flags & OFPFMF_INSTRUCTIONS)
            if flags:
                event = OFPFME_ADDED if flags & OFPFMF_ADD else OFPFME_MODIFIED
                updates.append(_update(event, rule, flags))
        sm.changed.clear()
        sm.paused = False
        sm.n_resumes += 1
        if updates:
            session.send(FlowMonitorReply(tuple(updates)), 0)
        session.send(_resumed_msg(session.version), 0)


def _present(flows, rule: Rule) -> bool:
    table = flows.tables[rule.table_id]
    return table.cls.find_exactly(rule.match, rule.priority, _VERSION_MAX) is rule

