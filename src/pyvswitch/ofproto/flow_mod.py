"""flow_mod: what an OpenFlow FLOW_MOD does to the flow tables (OVS ofproto.c
ofproto_flow_mod_init/start/revert/finish, add_flow_*, modify_flows_*, delete_flows_*;
lib/ofp-flow.c for the per-version reading of cookies and flags).

What this module owns
---------------------
``FlowModTxn``: a transaction over ``tables.FlowTables``.  ``add(fm, version)`` stages one
FlowMod at version N+1 (N = the published version); ``commit()`` publishes N+1, sends
FLOW_REMOVED for deleted and evicted rules, and tells the provider; ``abort()`` undoes every
staged change (a rule it had removed comes back as an identical copy, since the classifier
cannot make a removed rule visible again).  Each ``add`` either stages all of its FlowMod
or nothing: every check that can fail runs before the first change.  A single flow_mod is
a transaction of one; a bundle is a transaction of many (all at one version).

Semantics (Open vSwitch's, see OVS-BEHAVIOUR.md 2.5-2.6)
---------------------------------------------------------
* Reading the message (OVS ofputil_decode_flow_mod): OpenFlow 1.1+ ADD sets the new cookie,
  MODIFY/DELETE filter on cookie/cookie_mask and never change the cookie nor add a flow
  (except OpenFlow 1.1's MODIFY without cookie mask); OpenFlow 1.0 filters on a cookie only
  through NXT_FLOW_MOD's cookie match (a codec reports it with ``new_cookie``), and a MODIFY
  there sets the cookie and may add a flow.  Table 0xff
  is OFPFMFC_BAD_TABLE_ID except for DELETE (any command in OF1.1); in OF1.0 it means table
  0.  Flag bits the version does not define are OFPFMFC_BAD_FLAGS; OF1.0's EMERG is refused
  (OFPFMFC_BAD_EMERG_TIMEOUT with timeouts, else OFPFMFC_TABLE_FULL).  ADD in OF1.0/1.1
  always resets counters.  Actions are checked against the match (``check_actions``).
* ADD: an identical rule (match + priority) is replaced (keeping counters unless
  RESET_COUNTS); otherwise CHECK_OVERLAP refuses an overlapping rule of the same priority
  (OFPFMFC_OVERLAP), and a full table evicts or refuses (OFPFMFC_TABLE_FULL).
* MODIFY[_STRICT]: every selected rule is replaced by one with the new instructions that
  keeps the old timeouts, flags, importance and creation time (the hard timer restarts);
  counters are kept unless RESET_COUNTS.  Nothing selected: add, when allowed (above).
* DELETE[_STRICT]: out_port / out_group / cookie filters; reason DELETE.
* Groups and meters named by the actions must exist (OFPBAC_BAD_OUT_GROUP,
  OFPMMFC_INVALID_METER), if the ofproto keeps groups / meters.  Output to a port that does
  not exist is allowed, as in OVS.  buffer_id other than none on ADD/MODIFY:
  OFPBRC_BUFFER_UNKNOWN.  The read-only internal table 254: OFPBRC_EPERM.

Time model: ``now`` (milliseconds) is given to the transaction.
Must not import: ``vswitchd``, ``ofproto_dpif``, ``ofproto.ofproto``.
"""

from __future__ import annotations

from typing import Any

from pyvswitch.ofproto.rule import Rule
from pyvswitch.ofproto.tables import OFPTT_ALL, VERSION_MAX, FlowTables, OfTable
from pyvswitch.openflow.action_check import check_actions
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages import (
    ALL_ONES_64, NO_BUFFER, OFPFC_ADD, OFPFC_DELETE, OFPFC_DELETE_STRICT, OFPFC_MODIFY,
    OFPFC_MODIFY_STRICT, OFPFF_CHECK_OVERLAP, OFPFF_RESET_COUNTS, OFPRR_DELETE,
    OFPRR_EVICTION, FlowMod,
)
from pyvswitch.openflow import ofpacts as A
from pyvswitch.packet.fields import N_SLOTS, Match

#: OVS's ofproto-dpif has 255 tables (the last one internal): goto_table is checked
#: against that count, which ``check_actions`` treats as "no upper bound".
_N_TABLES_FOR_CHECK = 255
_OFPFF10_EMERG = 1 << 2
#: Flag bits each version defines (OVS ofputil_flow_mod_flags).
_VALID_FLAGS = {0x01: 0x07, 0x02: 0x03, 0x03: 0x07}
_VALID_FLAGS_13 = 0x1F
#: Actions that name a group or meter, or hold actions that may (``_check_refs``).
_REF_TYPES = frozenset((A.GroupAction, A.MeterAction, A.Clone))


class FlowModResult:
    """What a committed transaction did: ``added`` new rules (replacements included),
    ``removed`` ``(rule, reason)`` pairs (reason None for a replaced rule), ``modified``
    ``(old, new)`` pairs of the rules a MODIFY replaced, and the ``version`` at which it
    became visible."""

    __slots__ = ("added", "removed", "modified", "version")

    def __init__(self, version: int) -> None:
        self.added: list[Rule] = []
        self.removed: list[tuple[Rule, int | None]] = []
        self.modified: list[tuple[Rule, Rule]] = []
        self.version = version

    def __repr__(self) -> str:
        return (f"FlowModResult(version={self.version}, added={self.added}, "
                f"removed={self.removed})")


class _Mod:
    """A FlowMod as the switch reads it for one OpenFlow version (OVS ofputil_flow_mod)."""

    __slots__ = ("command", "table_id", "match", "priority", "instructions", "cookie",
                 "cookie_mask", "new_cookie", "modify_cookie", "idle_timeout",
                 "hard_timeout", "flags", "importance", "buffer_id", "out_port",
                 "out_group", "may_add", "keep_counts")


def read_flow_mod(fm: FlowMod, version: int) -> _Mod:
    """Version-dependent reading of ``fm``; raises what OVS's decoder would."""
    m = _Mod()
    cmd = fm.command
    m.command = cmd
    if cmd > OFPFC_DELETE_STRICT:
        raise OFPError("OFPFMFC_BAD_COMMAND", f"command {cmd}")
    is_delete = cmd in (OFPFC_DELETE, OFPFC_DELETE_STRICT)
    m.match = fm.match
    m.priority = fm.priority
    m.instructions = fm.instructions
    m.idle_timeout = fm.idle_timeout
    m.hard_timeout = fm.hard_timeout
    m.buffer_id = fm.buffer_id
    m.out_port = fm.out_port
    m.table_id = fm.table_id
    flags = fm.flags
    if version == 0x01:
        # OF1.0 flow_mods carry the cookie to set; NXT_FLOW_MOD may also match on a
        # cookie (NXM_NX_COOKIE), which a codec reports as ``new_cookie`` + cookie/mask.
        new_cookie = getattr(fm, "new_cookie", None)
        if new_cookie is None:
            m.cookie, m.cookie_mask, m.new_cookie = 0, 0, fm.cookie
        else:
            m.cookie, m.cookie_mask, m.new_cookie = \
                fm.cookie & fm.cookie_mask, fm.cookie_mask, new_cookie
        m.modify_cookie = m.new_cookie != ALL_ONES_64
        m.importance = 0
        m.out_group = A.OFPG_ANY
        if flags & ~_VALID_FLAGS[0x01]:
            raise OFPError("OFPFMFC_BAD_FLAGS", f"flags {flags:#x}")
        if flags & _OFPFF10_EMERG:
            if fm.idle_timeout or fm.hard_timeout:
                raise OFPError("OFPFMFC_BAD_EMERG_TIMEOUT")
            raise OFPError("OFPFMFC_TABLE_FULL", "emergency flow cache not supported")
    else:
        if cmd == OFPFC_ADD or (version == 0x02 and not fm.cookie_mask
                                and cmd in (OFPFC_MODIFY, OFPFC_MODIFY_STRICT)):
            m.cookie, m.cookie_mask, m.new_cookie = 0, 0, fm.cookie
        else:
            m.cookie, m.cookie_mask, m.new_cookie = fm.cookie, fm.cookie_mask, ALL_ONES_64
        m.modify_cookie = False
        if fm.table_id == OFPTT_ALL and (version == 0x02 or not is_delete):
            raise OFPError("OFPFMFC_BAD_TABLE_ID", "table 0xff")
        m.importance = fm.importance if version >= 0x05 and cmd == OFPFC_ADD else 0
        m.out_group = fm.out_group if is_delete else A.OFPG_ANY
        if flags & ~_VALID_FLAGS.get(version, _VALID_FLAGS_13):
            raise OFPError("OFPFMFC_BAD_FLAGS", f"flags {flags:#x}")
    if version <= 0x02 and cmd == OFPFC_ADD:
        flags |= OFPFF_RESET_COUNTS
    m.flags = flags
    m.may_add = m.new_cookie != ALL_ONES_64 and m.cookie_mask == 0
    m.keep_counts = not flags & OFPFF_RESET_COUNTS
    # Consistency of actions with the match (OVS runs it while decoding).
    check_actions(fm.instructions, fm.match, version, fm.table_id, _N_TABLES_FOR_CHECK)
    return m


def _overlaps(table: OfTable, rule: Rule) -> bool:
    """Is there a rule of the same priority that some packet could match with ``rule``?
    (OVS classifier_rule_overlaps.)  Linear in the table; used only for CHECK_OVERLAP."""
    values, masks = rule.match.values, rule.match.masks
    pairs = [(i, values[i], masks[i]) for i in range(N_SLOTS) if masks[i]]
    priority = rule.priority
    for other in table.cls:
        if other.priority != priority:
            continue
        ov, om = other.match.values, other.match.masks
        for i, v, mk in pairs:
            if (v ^ ov[i]) & mk & om[i]:
                break
        else:
            return True
    return False


class FlowModTxn:
    """Flow_mods staged at one new version; see the module docstring."""

    __slots__ = ("tables", "now", "source", "version", "result", "_undo", "_done",
                 "_refs_ok", "_shapes")

    def __init__(self, tables: FlowTables, now: float, source: Any = None) -> None:
        self.tables = tables
        self.now = now
        self.source = source
        self.version = tables.version + 1
        self.result = FlowModResult(version=self.version)
        self._undo: list[tuple[str, OfTable, Rule, Any]] = []
        self._done = False
        #: Instructions ``_check_refs`` passed, by id (flows added in bulk share a few
        #: instruction objects); valid while no group or meter goes away, which a
        #: transaction never does between two flow_mods without calling ``forget_refs``.
        self._refs_ok: dict[int, Any] = {}
        #: ``id(mask list) -> (table, mask list, mask tuple, subtable)`` for the owned
        #: matches of a bundle, whose mask lists are interned: a flow whose mask list
        #: was seen skips building and hashing its mask (subtables only go away in
        #: ``Classifier.collect``, never during a transaction).
        self._shapes: dict[int, tuple] = {}

    # --- staging ----------------------------------------------------------------------
    def add(self, fm: FlowMod, version: int | None = None, owned: bool = False) -> None:
        """Stage ``fm``; OFPError (and nothing staged) if Open vSwitch would refuse it.

        ``owned``: the caller gives ``fm``'s match away (decoded for this transaction,
        used by nothing else afterwards), so a new rule takes it instead of a copy."""
        if version is None:
            version = getattr(self.source, "version", 0x04)
            if version is None or version < 0x01:
                version = 0x04
        if fm.command == OFPFC_ADD and version >= 0x03:
            self._add13(fm, version, owned)
            self.tables.n_flow_mods += 1
            return
        m = read_flow_mod(fm, version)
        cmd = m.command
        if cmd == OFPFC_ADD:
            self._add(m, self._table_for_add(m))
        elif cmd in (OFPFC_MODIFY, OFPFC_MODIFY_STRICT):
            self._modify(m, cmd == OFPFC_MODIFY_STRICT)
        else:
            self._delete(m, cmd == OFPFC_DELETE_STRICT)
        self.tables.n_flow_mods += 1

    def _add13(self, fm: FlowMod, version: int, owned: bool) -> None:
        """An OpenFlow 1.2+ ADD: ``read_flow_mod``, ``_table_for_add`` and ``_add`` in
        one, for the commonest flow_mod by far (same checks, same order, same errors)."""
        table_id = fm.table_id
        if table_id == OFPTT_ALL:
            raise OFPError("OFPFMFC_BAD_TABLE_ID", "table 0xff")
        flags = fm.flags
        if flags & ~_VALID_FLAGS.get(version, _VALID_FLAGS_13):
            raise OFPError("OFPFMFC_BAD_FLAGS", f"flags {flags:#x}")
        match, instructions = fm.match, fm.instructions
        check_actions(instructions, match, version, table_id, _N_TABLES_FOR_CHECK)
        tables = self.tables.tables
        if table_id >= len(tables):
            raise OFPError("OFPBRC_BAD_TABLE_ID", f"table {table_id}")
        table = tables[table_id]
        if table.readonly:
            raise OFPError("OFPBRC_EPERM", f"table {table_id} is read-only")
        if fm.buffer_id != NO_BUFFER:
            raise OFPError("OFPBRC_BUFFER_UNKNOWN", f"buffer {fm.buffer_id:#x}")
        if id(instructions) not in self._refs_ok:
            self._check_refs(instructions)
            self._refs_ok[id(instructions)] = instructions
        cls = table.cls
        priority = fm.priority
        masks = match.masks
        shape = self._shapes.get(id(masks)) if owned else None
        if shape is not None and shape[0] is table:
            mask, subtable = shape[2], shape[3]
        else:
            mask = tuple(masks)
            subtable = cls.subtable(mask)
            if owned and subtable is not None:
                self._shapes[id(masks)] = (table, masks, mask, subtable)
        if subtable is None:
            old = key = shared = None
        else:
            old, key = cls.find_exactly_in(subtable, match, priority, VERSION_MAX)
            shared = subtable.shared
        if shared is None:
            shared = table.shared_masks(mask, match.masks if owned else None)
            if subtable is not None:
                subtable.shared = shared
        if owned:
            match.masks = shared
            own = match
        else:
            own = Match.__new__(Match)
            own.values = list(match.values)
            own.masks = shared
        new = Rule(table_id, own, priority, instructions, cookie=fm.cookie,
                   idle_timeout=fm.idle_timeout, hard_timeout=fm.hard_timeout,
                   flags=flags, importance=fm.importance if version >= 0x05 else 0,
                   now=self.now)
        if old is not None:
            self._replace(table, old, new, OFPFC_ADD, not flags & OFPFF_RESET_COUNTS,
                          modify_cookie=True)
            return
        if flags & OFPFF_CHECK_OVERLAP and _overlaps(table, new):
            raise OFPError("OFPFMFC_OVERLAP")
        if table.n_flows >= table.max_flows:
            victim = table.choose_victim()
            if victim is None:
                raise OFPError("OFPFMFC_TABLE_FULL", f"table {table_id}")
            self._remove(table, victim, OFPRR_EVICTION)
        cls.insert(new, self.version, mask, key, subtable)
        table.link(new)
        self._undo.append(("insert", table, new, None))
        self.result.added.append(new)

    def forget_refs(self) -> None:
        """A group or meter went away: check every flow's references again."""
        self._refs_ok.clear()

    def remove(self, rule: Rule, reason: int) -> None:
        """Stage the removal of ``rule`` (visible in the newest version) for ``reason``:
        the flows of a group a bundle deletes (OFPRR_GROUP_DELETE)."""
        self._remove(self.tables.tables[rule.table_id], rule, reason)

    def _table_for_add(self, m: _Mod) -> OfTable:
        tables = self.tables
        if not tables.check_table_id(m.table_id):
            raise OFPError("OFPBRC_BAD_TABLE_ID", f"table {m.table_id}")
        table = tables.tables[0 if m.table_id == OFPTT_ALL else m.table_id]
        if table.readonly:
            raise OFPError("OFPBRC_EPERM", f"table {table.table_id} is read-only")
        if m.buffer_id != NO_BUFFER:
            raise OFPError("OFPBRC_BUFFER_UNKNOWN", f"buffer {m.buffer_id:#x}")
        return table

    def _check_refs(self, instructions: A.Instructions) -> None:
        """Groups and meters the actions name must exist (OVS ofproto_check_ofpacts)."""
        ofproto = self.tables.ofproto
        groups = getattr(ofproto, "groups", None)
        meters = getattr(ofproto, "meters", None)
        if groups is None and meters is None:
            return
        if meters is not None and instructions.meter_id is not None \
                and instructions.meter_id not in meters:
            raise OFPError("OFPMMFC_INVALID_METER", f"meter {instructions.meter_id}")
        acts = instructions.all_actions()
        for act in acts:
            if type(act) in _REF_TYPES:
                break
        else:
            return                      # the common case: nothing names a group or meter
        stack = list(acts)
        while stack:
            act = stack.pop()
            if isinstance(act, A.GroupAction):
                if groups is not None and act.group_id not in groups:
                    raise OFPError("OFPBAC_BAD_OUT_GROUP", f"group {act.group_id}")
            elif isinstance(act, A.MeterAction):
                if meters is not None and act.meter_id not in meters:
                    raise OFPError("OFPMMFC_INVALID_METER", f"meter {act.meter_id}")
            elif isinstance(act, A.Clone):
                stack.extend(act.actions)

    def _new_rule(self, table: OfTable, m: _Mod, mask: tuple | None = None) -> Rule:
        return Rule(table.table_id, table.own_match(m.match, mask), m.priority, m.instructions,
                    cookie=m.new_cookie, idle_timeout=m.idle_timeout,
                    hard_timeout=m.hard_timeout, flags=m.flags, importance=m.importance,
                    now=self.now)

    def _add(self, m: _Mod, table: OfTable) -> None:
        self._check_refs(m.instructions)
        cls = table.cls
        mask = tuple(m.match.masks)         # built once for the three lookups below
        old, key = cls.find_exactly_keyed(m.match, m.priority, VERSION_MAX, mask)
        new = self._new_rule(table, m, mask)
        victim = None
        if old is None:
            if m.flags & OFPFF_CHECK_OVERLAP and _overlaps(table, new):
                raise OFPError("OFPFMFC_OVERLAP")
            if table.n_flows >= table.max_flows:
                victim = table.choose_victim()
                if victim is None:
                    raise OFPError("OFPFMFC_TABLE_FULL", f"table {table.table_id}")
        # --- no failure past this point ---
        if old is not None:
            self._replace(table, old, new, m.command, m.keep_counts, modify_cookie=True)
        else:
            if victim is not None:
                self._remove(table, victim, OFPRR_EVICTION)
            self._insert(table, new, mask, key)

    def _modify(self, m: _Mod, strict: bool) -> None:
        table0 = self._table_for_add(m)    # OVS prepares the would-be added rule first
        old_rules = self.tables.collect(m.table_id, m.match, strict=strict,
                                        priority=m.priority if strict else 0,
                                        cookie=m.cookie, cookie_mask=m.cookie_mask)
        if old_rules:
            self._check_refs(m.instructions)
            for old in old_rules:
                table = self.tables.tables[old.table_id]
                new = Rule(old.table_id, old.match, old.priority, m.instructions,
                           cookie=m.new_cookie, flags=m.flags, now=self.now)
                self._replace(table, old, new, m.command, m.keep_counts,
                              modify_cookie=m.modify_cookie)
        elif m.may_add:
            self._add(m, table0)

    def _delete(self, m: _Mod, strict: bool) -> None:
        rules = self.tables.collect(m.table_id, m.match, strict=strict,
                                    priority=m.priority if strict else 0,
                                    cookie=m.cookie, cookie_mask=m.cookie_mask,
                                    out_port=m.out_port, out_group=m.out_group)
        for rule in rules:
            self._remove(self.tables.tables[rule.table_id], rule, OFPRR_DELETE)

    # --- changes (each one logged for abort) ------------------------------------------
    def _insert(self, table: OfTable, rule: Rule, mask: tuple | None = None,
                key: tuple | None = None) -> None:
        table.cls.insert(rule, self.version, mask, key)
        table.link(rule)
        self._undo.append(("insert", table, rule, None))
        self.result.added.append(rule)

    def _remove(self, table: OfTable, rule: Rule, reason: int | None) -> None:
        table.cls.remove(rule, self.version)
        table.unlink(rule)
        self._undo.append(("remove", table, rule, None))
        self.result.removed.append((rule, reason))

    def _replace(self, table: OfTable, old: Rule, new: Rule, command: int,
                 keep_counts: bool, modify_cookie: bool) -> None:
        """OVS replace_rule_start for a rule replaced (not evicted) by ``new``."""
        if command != OFPFC_ADD:
            new.idle_timeout = old.idle_timeout
            new.hard_timeout = old.hard_timeout
            new.importance = old.importance
            new.flags = old.flags
            new.created_ms = old.created_ms
            self.result.modified.append((old, new))
        if not (modify_cookie and new.cookie != ALL_ONES_64 and new.cookie != old.cookie):
            new.cookie = old.cookie
        new.used_ms = old.used_ms          # the idle timer is not restarted
        if keep_counts:
            new.packet_count = old.packet_count
            new.byte_count = old.byte_count
        table.cls.replace(old, new, self.version)
        table.unlink(old)
        table.link(new)
        self._undo.append(("replace", table, old, new))
        self.result.removed.append((old, None))
        self.result.added.append(new)
        old.forward_counts = keep_counts

    # --- the end ----------------------------------------------------------------------
    def abort(self) -> None:
        """Undo everything staged; the tables are as before the transaction.

        A rule this transaction removed cannot be made visible again through the
        classifier's API, so it is *revived*: an identical copy (same counters,
        timestamps, cookie) is inserted at the staged version, which was never
        published, and the removed rule forwards its statistics to the copy.  Lookups
        therefore see the same flows before and after."""
        if self._done:
            return
        self._done = True
        alias: dict[int, Rule] = {}       # removed rule -> its revived copy
        for kind, table, rule, other in reversed(self._undo):
            if kind == "insert":
                rule = alias.get(id(rule), rule)
                table.cls.remove(rule, self.version)   # never visible: add == remove
                table.unlink(rule)
            else:
                if kind == "replace":
                    new = alias.get(id(other), other)
                    table.cls.remove(new, self.version)
                    table.unlink(new)
                self._revive(table, rule, alias)
        self._undo.clear()

    def _revive(self, table: OfTable, rule: Rule, alias: dict[int, Rule]) -> None:
        twin = rule.copy()
        table.cls.insert(twin, self.version)
        table.link(twin)
        rule.successor, rule.forward_counts = twin, True
        alias[id(rule)] = twin
        expirable = self.tables.expirable
        if expirable.pop(id(rule), None) is not None:
            expirable[id(twin)] = twin

    def commit(self) -> FlowModResult:
        """Publish the staged version (even if nothing changed, as OVS bumps it)."""
        if self._done:
            raise RuntimeError("transaction already finished")
        self._done = True
        tables = self.tables
        tables.version = self.version
        # Statistics the datapath still credits to a replaced rule go to its successor.
        for kind, _table, old, new in self._undo:
            if kind == "replace":
                old.successor = new
        if self._undo:
            tables.committed(self.result.added, self.result.removed, self.now, self)
        return self.result
