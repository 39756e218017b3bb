"""tables: the OpenFlow flow tables of one bridge (OVS ofproto.c ``struct oftable`` and the
table-wide half of its flow handling).

What this module owns
---------------------
* ``OfTable``: one table - a versioned ``Classifier`` of ``Rule``s plus its configuration
  (name, flow limit, eviction on/off and eviction fields, table-miss config) and counters
  (lookups, matches, hidden rules).
* ``FlowTables``: the 254 OpenFlow tables (0..253) plus Open vSwitch's read-only internal
  table 254 (never reported, refuses flow_mods with OFPBRC_EPERM, as ofproto-dpif's), the
  **published version** every lookup uses, and what happens to rules over time: expiry
  (hard then idle timeouts), FLOW_REMOVED, eviction bookkeeping, flush, statistics queries.
  Flow_mod semantics live in ``flow_mod.py`` (``FlowTables.apply_flow_mod`` /
  ``apply_batch`` / ``begin`` are its entry points).

Versions
--------
A change is staged at version ``version + 1`` (rules inserted there, replaced or deleted
rules made invisible there) and becomes visible all at once when the version is published;
``lookup`` always reads the published version, so a packet never sees half a flow_mod or
half a bundle.  Rules made invisible stay in the classifier until ``run`` collects them.

After every committed change ``provider.rules_changed(added, removed)`` (or, for a
provider without it, ``provider.tables_changed()``) is called (if a provider is set),
then each of ``observers`` (flow monitors, ``ofproto/monitors.py``) with the change,
and FLOW_REMOVED goes out through ``connmgr.send_async("flow_removed", reason, msg)`` for
removed rules that have SEND_FLOW_REM and are not hidden (replaced rules send nothing).

Time model: ``now`` (milliseconds) is a parameter of everything that needs it.
Must not import: ``vswitchd``, ``ofproto_dpif``, ``ofproto.ofproto`` (it is given the
``Ofproto`` object, duck-typed: ``connmgr``, ``provider``, optional ``groups``/``meters``).
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from pyvswitch.classifier.classifier import Classifier
from pyvswitch.ofproto.eviction import EvictionGroups, Subfield
from pyvswitch.ofproto.rule import MAX_VISIBLE_PRIORITY, Rule
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages import (
    OFPFF_SEND_FLOW_REM, OFPRR_DELETE, OFPRR_EVICTION, OFPRR_GROUP_DELETE, OFPRR_HARD_TIMEOUT,
    OFPRR_IDLE_TIMEOUT, OFPRR_METER_DELETE, FlowRemoved,
)
from pyvswitch.openflow.messages_stats import TableStats
from pyvswitch.openflow.ofpacts import (
    OFPG_ANY, OFPP_ANY, Clone, MeterAction, outputs_to_group, outputs_to_port,
)
from pyvswitch.packet.fields import Match

N_TABLES = 254            #: tables a controller sees (0..253)
TABLE_INTERNAL = 254      #: OVS ofproto-dpif's hidden read-only table
OFPTT_ALL = 0xFF
#: A version newer than any: criteria searches see every staged change (OVS_VERSION_MAX).
VERSION_MAX = 1 << 62
#: Lowest wait between two expiry scans driven by ``run`` (the datapath statistics that
#: idle timeouts depend on are refreshed about this often anyway).
EXPIRY_SCAN_MS = 100
#: Table-features / table-stats max_entries when no flow limit is set (OVS query_tables).
DEFAULT_MAX_ENTRIES = 1_000_000
UNLIMITED = 0xFFFFFFFF
_FlowModTxn = None        # flow_mod.FlowModTxn, imported on first use (it imports us)


def _uses_meter(instructions, meter_id: int) -> bool:
    if instructions.meter_id == meter_id:
        return True
    stack = list(instructions.all_actions())
    while stack:
        act = stack.pop()
        if isinstance(act, MeterAction) and act.meter_id == meter_id:
            return True
        if isinstance(act, Clone):
            stack.extend(act.actions)
    return False


class OfTable:
    """One flow table."""

    __slots__ = ("table_id", "cls", "name", "name_level", "max_flows", "eviction_db",
                 "eviction_of", "evgroups", "eviction_fields", "miss_config", "readonly",
                 "n_hidden", "n_dead", "n_lookups", "n_matched", "masks", "dead_set")

    def __init__(self, table_id: int, readonly: bool = False,
                 dead_set: set | None = None) -> None:
        self.table_id = table_id
        #: Where to register when holding rules to collect (FlowTables.dead_tables).
        self.dead_set: set = set() if dead_set is None else dead_set
        self.cls = Classifier()
        self.name = ""
        self.name_level = 0               # who set the name: 0 none, 1 OpenFlow, 2 database
        self.max_flows = UNLIMITED
        self.eviction_db = False          # overflow_policy=evict in the database
        self.eviction_of = False          # turned on by an OF1.4 TABLE_MOD
        self.evgroups: EvictionGroups | None = None
        self.eviction_fields: tuple[Subfield, ...] = ()   # Flow_Table "groups"
        self.miss_config = 0              # OFPTC_* table-miss bits (TABLE_MOD)
        self.readonly = readonly
        self.n_hidden = 0                 # visible-in-newest rules with priority > 65535
        self.n_dead = 0                   # invisible rules waiting for collect
        self.n_lookups = 0
        self.n_matched = 0
        #: Interned mask lists: rules of one mask share one list (memory).
        self.masks: dict[tuple[int, ...], list[int]] = {}

    def set_name(self, name: str | None, level: int) -> None:
        """Name the table from ``level`` (1 TABLE_FEATURES, 2 the database; OVS
        oftable_set_name): a lower level than the one that named it changes nothing, ""
        unnames it, None unnames it only if this level named it.  At most 32 characters;
        a name the current one starts with leaves it as it is (as OVS)."""
        if level < self.name_level:
            return
        if name is None:
            if self.name_level == level:
                self.name, self.name_level = "", 0
            return
        name = name[:32]
        if not name or not self.name.startswith(name):
            self.name = name
        self.name_level = level

    @property
    def n_flows(self) -> int:
        """Rules in the newest version, hidden ones included (OVS oftable n_flows)."""
        return len(self.cls)

    @property
    def eviction(self) -> bool:
        return self.eviction_db or self.eviction_of

    def shared_masks(self, key: tuple[int, ...], masks: list[int] | None = None) -> list[int]:
        """The mask list the rules of mask ``key`` share (``masks``, a list equal to
        ``key`` that the caller gives away, becomes it if there is none yet)."""
        shared = self.masks.get(key)
        if shared is None:
            shared = self.masks[key] = list(key) if masks is None else masks
        return shared

    def own_match(self, match: Match, key: tuple[int, ...] | None = None) -> Match:
        """A private copy of ``match`` for a rule, sharing the mask list (``key``:
        ``tuple(match.masks)`` if the caller has it)."""
        if key is None:
            key = tuple(match.masks)
        masks = self.masks.get(key)
        if masks is None:
            masks = self.masks[key] = list(key)
        own = Match.__new__(Match)
        own.values = list(match.values)
        own.masks = masks
        return own

    def link(self, rule: Rule) -> None:
        """Bookkeeping for a rule that just entered the newest version."""
        if rule.priority > MAX_VISIBLE_PRIORITY:
            self.n_hidden += 1
        if self.evgroups is not None:
            self.evgroups.add(rule)

    def unlink(self, rule: Rule) -> None:
        """Bookkeeping for a rule that just left the newest version."""
        if rule.priority > MAX_VISIBLE_PRIORITY:
            self.n_hidden -= 1
        if self.evgroups is not None:
            self.evgroups.remove(rule)
        self.n_dead += 1
        self.dead_set.add(self)

    def choose_victim(self) -> Rule | None:
        return self.evgroups.choose() if self.evgroups is not None else None

    def rebuild_eviction(self) -> None:
        """(Re)form the eviction groups after eviction or its fields changed."""
        if self.evgroups is not None:
            self.evgroups.clear()
        self.evgroups = None
        if self.eviction:
            self.evgroups = EvictionGroups(self.eviction_fields)
            for rule in self.cls:
                self.evgroups.add(rule)


class FlowTables:
    """Every flow table of one bridge, with one published version."""

    def __init__(self, ofproto: Any = None, n_tables: int = N_TABLES) -> None:
        self.ofproto = ofproto
        self.n_tables = n_tables
        #: Tables holding invisible rules that ``run`` should collect.
        self.dead_tables: set[OfTable] = set()
        self.tables = [OfTable(i, dead_set=self.dead_tables) for i in range(n_tables)]
        self.tables.append(OfTable(TABLE_INTERNAL if n_tables == N_TABLES else n_tables,
                                   readonly=True, dead_set=self.dead_tables))
        self.version = 1
        #: Rules with an idle or hard timeout, by id.
        self.expirable: dict[int, Rule] = {}
        self.next_expiry: float = float("inf")
        self._last_scan: float = float("-inf")
        self.n_flow_mods = 0
        self._features_cache = None   # table_features.py
        #: Called as ``observer(added, removed, now, txn)`` after every committed change
        #: (flow monitors); ``txn`` is the FlowModTxn, or None for expiry, eviction by a
        #: table limit, group/meter deletion and flushes.
        self.observers: list = []

    # --- lookup (the translator's view) -----------------------------------------------
    def lookup(self, table_id: int, flow: tuple[int, ...],
               wc: list[int] | None = None, count: bool = True) -> Rule | None:
        """The rule of ``table_id`` that ``flow`` hits at the published version.

        ``count`` False (revalidation, ofproto/trace) leaves the table's lookup and match
        counters alone: they count packets, not re-translations."""
        table = self.tables[table_id]
        rule = table.cls.lookup(flow, self.version, wc)
        if count:
            table.n_lookups += 1
            if rule is not None:
                table.n_matched += 1
        return rule

    def add_table_stats(self, table_id: int, lookups: int, matched: int) -> None:
        """Credit table lookups the datapath caches answered (the provider pushes them
        with rule statistics, as OVS's xlate cache does)."""
        table = self.tables[table_id]
        table.n_lookups += lookups
        table.n_matched += matched

    # --- flow_mods (semantics in flow_mod.py) -----------------------------------------
    def begin(self, now: float, source: Any = None):
        """A transaction: stage flow_mods with ``txn.add(fm)``, then ``commit()``."""
        global _FlowModTxn
        if _FlowModTxn is None:
            from pyvswitch.ofproto.flow_mod import FlowModTxn
            _FlowModTxn = FlowModTxn
        return _FlowModTxn(self, now, source)

    def apply_flow_mod(self, fm, now: float, source: Any = None, *,
                       version: int | None = None):
        """Apply one FlowMod atomically (all of it at the next version, or nothing).

        ``version`` is the OpenFlow version whose rules apply (cookie handling, flag
        bits); by default ``source.version`` or OpenFlow 1.3.  Raises ``OFPError`` with
        the error Open vSwitch returns; returns a ``flow_mod.FlowModResult``."""
        txn = self.begin(now, source)
        txn.add(fm, version)
        return txn.commit()

    def apply_batch(self, fms: Iterable, now: float, source: Any = None, *,
                    version: int | None = None):
        """Apply several FlowMods atomically at one version (bundles).  On an error the
        tables are left unchanged and the ``OFPError`` carries ``index`` (which one)."""
        txn = self.begin(now, source)
        for i, fm in enumerate(fms):
            try:
                txn.add(fm, version)
            except OFPError as err:
                txn.abort()
                err.index = i
                raise
        return txn.commit()

    # --- after a commit ---------------------------------------------------------------
    def committed(self, new_rules: list[Rule], removed: list[tuple[Rule, int | None]],
                  now: float, txn: Any = None) -> None:
        """Called by a transaction (``txn``) once its version is published."""
        for rule, reason in removed:
            self.expirable.pop(id(rule), None)
            if reason is not None:
                self.send_flow_removed(rule, reason, now)
        for rule in new_rules:
            if rule.idle_timeout or rule.hard_timeout:
                self.expirable[id(rule)] = rule
                expiry = rule.expiry_ms()
                if expiry < self.next_expiry:
                    self.next_expiry = expiry
        provider = getattr(self.ofproto, "provider", None)
        rules_changed = getattr(provider, "rules_changed", None)
        if rules_changed is not None:     # the provider can tell which cached flows
            rules_changed(new_rules, removed)
        else:
            self.tables_changed()
        for observer in self.observers:
            observer(new_rules, removed, now, txn)

    def tables_changed(self) -> None:
        provider = getattr(self.ofproto, "provider", None)
        if provider is not None:
            provider.tables_changed()

    def send_flow_removed(self, rule: Rule, reason: int, now: float) -> None:
        if not rule.flags & OFPFF_SEND_FLOW_REM or rule.hidden:
            return
        connmgr = getattr(self.ofproto, "connmgr", None)
        if connmgr is None:
            return
        sec, nsec = rule.duration(now)
        connmgr.send_async("flow_removed", reason, FlowRemoved(
            match=rule.match, cookie=rule.cookie, priority=rule.priority, reason=reason,
            table_id=rule.table_id, duration_sec=sec, duration_nsec=nsec,
            idle_timeout=rule.idle_timeout, hard_timeout=rule.hard_timeout,
            packet_count=rule.packet_count, byte_count=rule.byte_count))

    # --- removal outside flow_mods (expiry, flush, trimming) --------------------------
    def remove_rules(self, rules_reasons: list[tuple[Rule, int]], now: float) -> None:
        """Delete ``rules`` (each with its FLOW_REMOVED reason) in one new version."""
        if not rules_reasons:
            return
        version = self.version + 1
        for rule, _ in rules_reasons:
            table = self.tables[rule.table_id]
            table.cls.remove(rule, version)
            table.unlink(rule)
        self.version = version
        self.committed([], rules_reasons, now)

    def expire(self, now: float) -> list[Rule]:
        """Remove the rules whose hard or idle timeout passed (hard checked first, as
        OVS: a rule due for both goes with HARD_TIMEOUT).  Returns the removed rules."""
        self._last_scan = now
        if now <= self.next_expiry:
            return []
        due: list[tuple[Rule, int]] = []
        next_expiry = float("inf")
        for rule in self.expirable.values():
            if rule.hard_timeout and now > rule.modified_ms + rule.hard_timeout * 1000:
                due.append((rule, OFPRR_HARD_TIMEOUT))
            elif rule.idle_timeout and now > rule.used_ms + rule.idle_timeout * 1000:
                due.append((rule, OFPRR_IDLE_TIMEOUT))
            else:
                expiry = rule.expiry_ms()
                if expiry < next_expiry:
                    next_expiry = expiry
        self.next_expiry = next_expiry
        self.remove_rules(due, now)
        return [rule for rule, _ in due]

    def delete_group_users(self, group_id: int, now: float) -> list[Rule]:
        """Delete the rules whose actions use group ``group_id`` (a GROUP_MOD deleted it;
        OVS reason GROUP_DELETE)."""
        victims = [(r, OFPRR_GROUP_DELETE) for r in self.rules()
                   if outputs_to_group(r.instructions, group_id)]
        self.remove_rules(victims, now)
        return [rule for rule, _ in victims]

    def delete_meter_users(self, meter_id: int, now: float) -> list[Rule]:
        """Delete the rules that use meter ``meter_id`` (a METER_MOD deleted it; OVS
        reason METER_DELETE)."""
        victims = [(r, OFPRR_METER_DELETE) for r in self.rules()
                   if _uses_meter(r.instructions, meter_id)]
        self.remove_rules(victims, now)
        return [rule for rule, _ in victims]

    def flush(self, now: float) -> list[Rule]:
        """Delete every flow of every table, hidden ones too (OVS ofproto_flush__: reason
        DELETE, so rules with SEND_FLOW_REM do report FLOW_REMOVED)."""
        victims = [(rule, OFPRR_DELETE) for table in self.tables for rule in table.cls]
        self.remove_rules(victims, now)
        return [rule for rule, _ in victims]

    # --- configuration ----------------------------------------------------------------
    def check_table_id(self, table_id: int) -> bool:
        return table_id == OFPTT_ALL or table_id < len(self.tables)

    def configure_table(self, table_id: int, now: float, *, name: str | None = None,
                        max_flows: int | None = None, evict: bool = False,
                        eviction_fields: tuple[Subfield, ...] = ()) -> None:
        """Apply a Flow_Table row (OVS ofproto_configure_table).  ``max_flows`` None is
        unlimited.  A table over its new limit is trimmed by eviction right away, as far
        as eviction can go."""
        table = self.tables[table_id]
        table.set_name(name, 2)
        table.max_flows = UNLIMITED if max_flows is None else max_flows
        table.eviction_db = evict
        if (table.eviction != (table.evgroups is not None)
                or table.eviction_fields != tuple(eviction_fields)):
            table.eviction_fields = tuple(eviction_fields)
            table.rebuild_eviction()
        self.trim(table, now)

    def set_eviction_of(self, table_id: int, on: bool, now: float) -> None:
        """TABLE_MOD's eviction bit (OpenFlow 1.4+), for one table or all (0xff).  As in
        OVS, a table already over its limit is not trimmed by this; the next ADD evicts."""
        tables = self.tables[:self.n_tables] if table_id == OFPTT_ALL else [
            self.tables[table_id]]
        for table in tables:
            table.eviction_of = on
            if table.eviction != (table.evgroups is not None):
                table.rebuild_eviction()

    def trim(self, table: OfTable, now: float) -> None:
        victims: list[tuple[Rule, int]] = []
        excess = table.n_flows - table.max_flows
        while excess > 0 and table.evgroups is not None:
            rule = table.choose_victim()
            if rule is None:
                break
            table.evgroups.remove(rule)
            victims.append((rule, OFPRR_EVICTION))
            excess -= 1
        self.remove_rules(victims, now)

    # --- queries ----------------------------------------------------------------------
    def collect(self, table_id: int, match: Match, *, strict: bool = False,
                priority: int = 0, cookie: int = 0, cookie_mask: int = 0,
                out_port: int = OFPP_ANY, out_group: int = OFPG_ANY,
                version: int = VERSION_MAX) -> list[Rule]:
        """Rules selected as OVS's rule_criteria do (flow_mod modify/delete, flow and
        aggregate stats): loose or strict on ``match``, in ``table_id`` (0xff: all),
        with the cookie, out_port and out_group filters.  Hidden rules are selected only
        by a strict priority above 65535.  OFPBRC_BAD_TABLE_ID for a table that does
        not exist."""
        if not self.check_table_id(table_id):
            raise OFPError("OFPBRC_BAD_TABLE_ID", f"table {table_id}")
        tables = self.tables if table_id == OFPTT_ALL else (self.tables[table_id],)
        include_hidden = priority > MAX_VISIBLE_PRIORITY
        filtered = cookie_mask or out_port != OFPP_ANY or out_group != OFPG_ANY
        everything = not strict and match.is_catchall() and version == VERSION_MAX
        out: list[Rule] = []
        for table in tables:
            if not len(table.cls):
                continue
            rules = (table.cls if everything
                     else table.cls.find_matches(match, version, strict, priority))
            if not filtered and (include_hidden or not table.n_hidden):
                out.extend(rules)
                continue
            for rule in rules:
                if ((rule.cookie ^ cookie) & cookie_mask
                        or (rule.priority > MAX_VISIBLE_PRIORITY and not include_hidden)
                        or (out_port != OFPP_ANY
                            and not outputs_to_port(rule.instructions, out_port))
                        or (out_group != OFPG_ANY
                            and not outputs_to_group(rule.instructions, out_group))):
                    continue
                out.append(rule)
        return out

    def rules(self) -> Iterator[Rule]:
        """Every rule of the newest version, hidden ones included."""
        for table in self.tables:
            yield from table.cls

    def n_flows(self) -> int:
        return sum(t.n_flows for t in self.tables)

    def table_stats(self) -> list[TableStats]:
        """OpenFlow table statistics of the visible tables (hidden rules not counted)."""
        out = []
        for table in self.tables[:self.n_tables]:
            max_entries = min(DEFAULT_MAX_ENTRIES, table.max_flows)
            out.append(TableStats(table_id=table.table_id,
                                  active_count=table.n_flows - table.n_hidden,
                                  lookup_count=table.n_lookups,
                                  matched_count=table.n_matched,
                                  name=table.name, max_entries=max_entries))
        return out

    # --- the loop ---------------------------------------------------------------------
    def run(self, now: float) -> None:
        if now > self.next_expiry and now >= self._last_scan + EXPIRY_SCAN_MS:
            self.expire(now)
        if self.dead_tables:
            for table in list(self.dead_tables):
                if table.n_dead <= 0:
                    table.n_dead = 0
                    self.dead_tables.discard(table)
                elif table.n_dead >= 1000 or table.n_dead * 8 >= len(table.cls):
                    table.cls.collect(self.version)
                    table.n_dead = 0
                    self.dead_tables.discard(table)

    def next_wakeup(self) -> float:
        """When ``run`` next has timed work (inf: none)."""
        if self.next_expiry == float("inf"):
            return self.next_expiry
        return max(self.next_expiry + 1, self._last_scan + EXPIRY_SCAN_MS)

    def wait(self, poller, now: float) -> None:
        deadline = self.next_wakeup()
        if deadline != float("inf"):
            poller.timer_wait_until(deadline)
