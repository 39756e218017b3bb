"""groups: the OpenFlow group table of one bridge (OVS ofproto.c add_group_start,
modify_group_start, delete_groups_start, copy_buckets_for_*; lib/ofp-group.c
ofputil_check_group_mod).

What this module owns
---------------------
* ``Group`` and ``GroupBucket``: a group as the switch keeps it - id, type, buckets, when
  it was created, and packet/byte counters for the group and for each bucket (the
  provider credits them with ``add_stats`` like a rule's).
* ``GroupTable``: group id -> ``Group`` (a read-only mapping for the translator and for
  flow_mod validation), ``apply(gm, version, now)`` for GROUP_MOD, ``delete_all`` for
  flushes, and the statistics/description/features answers.

Semantics (Open vSwitch's)
--------------------------
* Checks while reading the message: DELETE with buckets (OF1.3+) and INDIRECT without
  exactly one bucket are OFPGMFC_INVALID_GROUP; an unknown type OFPGMFC_BAD_TYPE; an
  unknown command OFPGMFC_BAD_COMMAND; a weight outside SELECT groups
  OFPGMFC_INVALID_GROUP; watch port/group on ALL/INDIRECT OFPGMFC_WATCH_UNSUPPORTED and
  none on FAST_FAILOVER OFPGMFC_INVALID_GROUP; OF1.5 command bucket ids and bucket ids out
  of range or duplicated OFPGMFC_BAD_BUCKET.
* ADD: an existing id is OFPGMFC_GROUP_EXISTS, an id above OFPG_MAX
  OFPGMFC_INVALID_GROUP.  MODIFY (and OF1.5 INSERT_BUCKET / REMOVE_BUCKET) of an unknown
  group is OFPGMFC_UNKNOWN_GROUP; the group is replaced by a new one that keeps its
  creation time (its counters start again, as OVS's).  Bucket commands keep the type;
  an unknown command bucket id is OFPGMFC_UNKNOWN_BUCKET, a duplicate id after insertion
  OFPGMFC_BUCKET_EXISTS.  ADD_OR_MOD (OVS extension, 0x8000) adds or modifies.
* DELETE: one group (absent: nothing happens) or all of them (OFPG_ALL), together with
  every flow whose actions name a deleted group (FLOW_REMOVED reason GROUP_DELETE).
* Bucket actions may name groups that do not exist and chains may loop, as in OVS: no
  OFPGMFC_LOOP / CHAINING_UNSUPPORTED; translation drops what it cannot resolve and stops
  loops at its depth limit.  Group features advertise chaining.
* Every change calls the provider's ``tables_changed()``, so cached flows are revalidated.

Time model: ``now`` (milliseconds) is a parameter.
Must not import: ``vswitchd``, ``ofproto_dpif``, ``ofproto.ofproto`` (it is given the
``Ofproto`` object, duck-typed: ``flows``, ``provider``).
"""

from __future__ import annotations

from typing import Any, Iterator

from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages import OFPRR_GROUP_DELETE
from pyvswitch.openflow.messages_gm import (
    OFPG_BUCKET_ALL, OFPGC_ADD, OFPGC_DELETE, OFPGC_INSERT_BUCKET, OFPGC_MODIFY,
    OFPGC_REMOVE_BUCKET, OFPGT_ALL, OFPGT_FF, OFPGT_INDIRECT, OFPGT_SELECT, Bucket,
    GroupDesc, GroupFeaturesReply, GroupMod, GroupStats,
)
from pyvswitch.openflow.ofpacts import OFPG_ALL, OFPG_ANY, OFPP_ANY, Clone, GroupAction

OFPG_MAX = 0xFFFFFF00
OFPGC_ADD_OR_MOD = 0x8000                    # OVS extension
OFPG_BUCKET_MAX = 0xFFFFFF00
OFPG_BUCKET_FIRST = 0xFFFFFFFD
OFPG_BUCKET_LAST = 0xFFFFFFFE
_COMMANDS = (OFPGC_ADD, OFPGC_MODIFY, OFPGC_ADD_OR_MOD, OFPGC_DELETE, OFPGC_INSERT_BUCKET,
             OFPGC_REMOVE_BUCKET)
_TYPES = (OFPGT_ALL, OFPGT_SELECT, OFPGT_INDIRECT, OFPGT_FF)

# GROUP_FEATURES as Open vSwitch reports them: every type, select weight + liveness +
# chaining, OFPG_MAX groups of each type, and in each type every action OF1.2+ can carry
# (output, set/dec MPLS TTL, push/pop VLAN, push/pop MPLS, set_queue, group, set/dec
# nw TTL, set_field).
OFPGFC_SELECT_WEIGHT, OFPGFC_SELECT_LIVENESS, OFPGFC_CHAINING = 1, 2, 4
FEATURE_TYPES = 0xF
FEATURE_CAPABILITIES = OFPGFC_SELECT_WEIGHT | OFPGFC_SELECT_LIVENESS | OFPGFC_CHAINING
FEATURE_ACTIONS = 1 | sum(1 << t for t in range(15, 26))


class GroupBucket:
    """One bucket of a group, with its own counters."""

    __slots__ = ("actions", "weight", "watch_port", "watch_group", "bucket_id",
                 "packet_count", "byte_count")

    def __init__(self, bucket: Bucket, bucket_id: int) -> None:
        self.actions = bucket.actions
        self.weight = bucket.weight
        self.watch_port = bucket.watch_port
        self.watch_group = bucket.watch_group
        self.bucket_id = bucket_id
        self.packet_count = 0
        self.byte_count = 0

    def add_stats(self, packets: int, nbytes: int, used_ms: float) -> None:
        self.packet_count += packets
        self.byte_count += nbytes

    @property
    def has_liveness(self) -> bool:
        return self.watch_port != OFPP_ANY or self.watch_group != OFPG_ANY

    def to_wire(self) -> Bucket:
        return Bucket(self.actions, self.weight, self.watch_port, self.watch_group,
                      self.bucket_id)

    def __repr__(self) -> str:
        return f"GroupBucket(id={self.bucket_id}, weight={self.weight}, {self.actions})"


class Group:
    """One group.  Never changed by a GROUP_MOD: a modification builds a new ``Group``,
    so a translation holding the old one stays coherent."""

    __slots__ = ("group_id", "type", "buckets", "created_ms", "modified_ms",
                 "packet_count", "byte_count", "used_ms")

    def __init__(self, group_id: int, type: int, buckets: tuple[GroupBucket, ...],
                 now: float) -> None:
        self.group_id = group_id
        self.type = type
        self.buckets = buckets
        self.created_ms = now
        self.modified_ms = now
        self.packet_count = 0
        self.byte_count = 0
        self.used_ms = now

    def add_stats(self, packets: int, nbytes: int, used_ms: float) -> None:
        """Credit packets that went through the group (the provider calls this)."""
        self.packet_count += packets
        self.byte_count += nbytes
        if used_ms > self.used_ms:
            self.used_ms = used_ms

    def desc(self) -> GroupDesc:
        return GroupDesc(self.type, self.group_id, tuple(b.to_wire() for b in self.buckets))

    def __repr__(self) -> str:
        return f"Group({self.group_id}, type={self.type}, {len(self.buckets)} buckets)"


def groups_of(instructions) -> set[int]:
    """The groups an instruction set's actions name (apply and write, inside clones too;
    OVS OFPACT_FOR_EACH_TYPE_FLATTENED over GROUP)."""
    out: set[int] = set()
    stack = list(instructions.all_actions())
    while stack:
        act = stack.pop()
        if isinstance(act, GroupAction):
            out.add(act.group_id)
        elif isinstance(act, Clone):
            stack.extend(act.actions)
    return out


def _wrap(buckets: tuple[Bucket, ...], version: int) -> list[GroupBucket]:
    """Buckets as the switch keeps them: OF1.5 brings ids, older versions number them."""
    return [GroupBucket(b, b.bucket_id if version >= 0x06 and b.bucket_id is not None
                        else i) for i, b in enumerate(buckets)]


def check_group_mod(gm: GroupMod, version: int) -> None:
    """The checks Open vSwitch makes while decoding a GROUP_MOD (ofputil_decode_group_mod
    and ofputil_check_group_mod), in its order."""
    cmd = gm.command
    if version >= 0x06:
        cbid = gm.command_bucket_id
        if cmd == OFPGC_REMOVE_BUCKET:
            ok = (cbid == OFPG_BUCKET_ALL or cbid <= OFPG_BUCKET_MAX
                  or cbid in (OFPG_BUCKET_FIRST, OFPG_BUCKET_LAST))
        elif cmd == OFPGC_INSERT_BUCKET:
            ok = cbid <= OFPG_BUCKET_MAX or cbid in (OFPG_BUCKET_FIRST, OFPG_BUCKET_LAST)
        else:
            ok = cbid == OFPG_BUCKET_ALL
        if not ok:
            raise OFPError("OFPGMFC_BAD_BUCKET", f"command bucket id {cbid:#x}")
        ids = [b.bucket_id for b in gm.buckets if b.bucket_id is not None]
        if any(i > OFPG_BUCKET_MAX for i in ids):
            raise OFPError("OFPGMFC_BAD_BUCKET", "bucket id out of range")
        if len(set(ids)) != len(ids):
            raise OFPError("OFPGMFC_BAD_BUCKET", "duplicate bucket id")
    elif version >= 0x04 and cmd == OFPGC_DELETE and gm.buckets:
        raise OFPError("OFPGMFC_INVALID_GROUP", "delete with buckets")
    if gm.type == OFPGT_INDIRECT:
        if cmd != OFPGC_DELETE and len(gm.buckets) != 1:
            raise OFPError("OFPGMFC_INVALID_GROUP", "indirect group needs one bucket")
    elif gm.type not in _TYPES:
        raise OFPError("OFPGMFC_BAD_TYPE", f"group type {gm.type}")
    if cmd not in _COMMANDS:
        raise OFPError("OFPGMFC_BAD_COMMAND", f"group command {cmd}")
    if cmd == OFPGC_REMOVE_BUCKET and gm.buckets:
        raise OFPError("OFPGMFC_BAD_BUCKET", "remove_bucket carries buckets")
    for b in gm.buckets:
        if b.weight and gm.type != OFPGT_SELECT and cmd != OFPGC_INSERT_BUCKET:
            raise OFPError("OFPGMFC_INVALID_GROUP", "weight outside a select group")
        live = b.watch_port != OFPP_ANY or b.watch_group != OFPG_ANY
        if gm.type in (OFPGT_ALL, OFPGT_INDIRECT) and live:
            raise OFPError("OFPGMFC_WATCH_UNSUPPORTED", "watch in an all/indirect group")
        if gm.type == OFPGT_FF and not live:
            raise OFPError("OFPGMFC_INVALID_GROUP", "fast-failover bucket watches nothing")


class GroupTable:
    """The groups of one bridge (see the module docstring)."""

    def __init__(self, ofproto: Any = None) -> None:
        self.ofproto = ofproto
        self._groups: dict[int, Group] = {}
        self._n_by_type = [0, 0, 0, 0]
        self.max_groups = OFPG_MAX           # per type, as OVS
        self.n_group_mods = 0

    # --- the mapping the translator and flow_mod validation read ----------------------
    def get(self, group_id: int, default=None) -> Group | None:
        return self._groups.get(group_id, default)

    def __getitem__(self, group_id: int) -> Group:
        return self._groups[group_id]

    def __contains__(self, group_id: object) -> bool:
        return group_id in self._groups

    def __len__(self) -> int:
        return len(self._groups)

    def __iter__(self) -> Iterator[int]:
        return iter(self._groups)

    def values(self):
        return self._groups.values()

    def __bool__(self) -> bool:
        # An empty table is still a table: flow_mod validation must check against it.
        return True

    # --- GROUP_MOD --------------------------------------------------------------------
    def apply(self, gm: GroupMod, now: float, version: int = 0x04, *,
              delete_flows: bool = True) -> list[int]:
        """Apply one GROUP_MOD of OpenFlow ``version``; ``OFPError`` (and no change) if
        Open vSwitch would refuse it.  Returns the ids of the groups it deleted; their
        flows go too unless ``delete_flows`` is False (a bundle commit removes them in
        its own flow transaction: ``rules_using``)."""
        check_group_mod(gm, version)
        cmd = gm.command
        if cmd == OFPGC_ADD_OR_MOD:
            cmd = OFPGC_MODIFY if gm.group_id in self._groups else OFPGC_ADD
        if cmd == OFPGC_ADD:
            self._add(gm, now, version)
        elif cmd == OFPGC_DELETE:
            self.n_group_mods += 1
            return self._delete([gm.group_id] if gm.group_id != OFPG_ALL
                                else list(self._groups), now, delete_flows)
        else:
            self._modify(gm, cmd, now, version)
        self.n_group_mods += 1
        self._changed()
        return []

    # --- transactions (bundles) -------------------------------------------------------
    def snapshot(self) -> tuple:
        """The table as it is, for ``restore`` (groups are never changed in place, so a
        shallow copy is enough)."""
        return dict(self._groups), list(self._n_by_type)

    def restore(self, snapshot: tuple) -> None:
        """Put the table back as ``snapshot`` found it (an aborted bundle)."""
        self._groups, self._n_by_type = dict(snapshot[0]), list(snapshot[1])
        self._changed()

    def rules_using(self, group_ids) -> list:
        """The flows whose actions name one of ``group_ids``."""
        flows = getattr(self.ofproto, "flows", None)
        wanted = set(group_ids)
        if flows is None or not wanted:
            return []
        return [rule for rule in flows.rules()
                if not wanted.isdisjoint(groups_of(rule.instructions))]

    def _check_id(self, group_id: int) -> None:
        if group_id > OFPG_MAX:
            raise OFPError("OFPGMFC_INVALID_GROUP", f"group id {group_id:#x}")

    def _count(self, gtype: int) -> int:
        return self._n_by_type[gtype]

    def _add(self, gm: GroupMod, now: float, version: int) -> None:
        if gm.group_id in self._groups:
            raise OFPError("OFPGMFC_GROUP_EXISTS", f"group {gm.group_id}")
        if self._count(gm.type) >= self.max_groups:
            raise OFPError("OFPGMFC_OUT_OF_GROUPS")
        self._check_id(gm.group_id)
        self._groups[gm.group_id] = Group(gm.group_id, gm.type,
                                          tuple(_wrap(gm.buckets, version)), now)
        self._n_by_type[gm.type] += 1

    def _modify(self, gm: GroupMod, cmd: int, now: float, version: int) -> None:
        old = self._groups.get(gm.group_id)
        if old is None:
            raise OFPError("OFPGMFC_UNKNOWN_GROUP", f"group {gm.group_id}")
        gtype = old.type if cmd in (OFPGC_INSERT_BUCKET, OFPGC_REMOVE_BUCKET) else gm.type
        if gtype != old.type and self._count(gtype) >= self.max_groups:
            raise OFPError("OFPGMFC_OUT_OF_GROUPS")
        self._check_id(gm.group_id)
        new_buckets = _wrap(gm.buckets, version)
        if cmd == OFPGC_INSERT_BUCKET:
            buckets = self._insert_buckets(old, new_buckets, gm.command_bucket_id)
        elif cmd == OFPGC_REMOVE_BUCKET:
            buckets = self._remove_buckets(old, gm.command_bucket_id)
        else:
            buckets = new_buckets
        new = Group(gm.group_id, gtype, tuple(buckets), now)
        new.created_ms = old.created_ms
        self._groups[gm.group_id] = new
        self._n_by_type[old.type] -= 1
        self._n_by_type[gtype] += 1

    @staticmethod
    def _insert_buckets(old: Group, new: list[GroupBucket], where: int) -> list[GroupBucket]:
        ids = [b.bucket_id for b in old.buckets]
        if where <= OFPG_BUCKET_MAX and where not in ids:
            raise OFPError("OFPGMFC_UNKNOWN_BUCKET", f"bucket {where}")
        kept = [GroupBucket(b.to_wire(), b.bucket_id) for b in old.buckets]
        new_ids = {b.bucket_id for b in new}
        if new_ids & set(ids):
            raise OFPError("OFPGMFC_BUCKET_EXISTS", "duplicate bucket id")
        if where == OFPG_BUCKET_FIRST:
            return new + kept
        if where == OFPG_BUCKET_LAST:
            return kept + new
        at = ids.index(where) + 1
        return kept[:at] + new + kept[at:]

    @staticmethod
    def _remove_buckets(old: Group, where: int) -> list[GroupBucket]:
        kept = [GroupBucket(b.to_wire(), b.bucket_id) for b in old.buckets]
        if where == OFPG_BUCKET_ALL:
            return []
        if where == OFPG_BUCKET_FIRST:
            return kept[1:]
        if where == OFPG_BUCKET_LAST:
            return kept[:-1]
        for i, b in enumerate(kept):
            if b.bucket_id == where:
                return kept[:i] + kept[i + 1:]
        raise OFPError("OFPGMFC_UNKNOWN_BUCKET", f"bucket {where}")

    def _delete(self, group_ids: list[int], now: float,
                delete_flows: bool = True) -> list[int]:
        """Delete groups (absent ids are ignored) and the flows that output to them;
        returns the ids deleted."""
        gone = []
        for gid in group_ids:
            group = self._groups.pop(gid, None)
            if group is not None:
                self._n_by_type[group.type] -= 1
                gone.append(gid)
        if not gone:
            return gone
        victims = self.rules_using(gone) if delete_flows else []
        if victims:
            # remove_rules publishes a version and tells the provider.
            self.ofproto.flows.remove_rules([(r, OFPRR_GROUP_DELETE) for r in victims], now)
        else:
            self._changed()
        return gone

    def delete_all(self, now: float) -> None:
        """Delete every group (and the flows that use them), as a flush does."""
        self._delete(list(self._groups), now)

    def _changed(self) -> None:
        provider = getattr(self.ofproto, "provider", None)
        if provider is not None:
            provider.tables_changed()

    # --- queries ----------------------------------------------------------------------
    def select(self, group_id: int) -> list[Group]:
        """The groups a statistics/description request names (OFPG_ALL: all, by id)."""
        if group_id == OFPG_ALL:
            return [self._groups[g] for g in sorted(self._groups)]
        group = self._groups.get(group_id)
        return [] if group is None else [group]

    def ref_counts(self) -> dict[int, int]:
        """Group id -> number of flows whose actions name it (group stats ref_count)."""
        counts: dict[int, int] = {}
        flows = getattr(self.ofproto, "flows", None)
        if flows is None or not self._groups:
            return counts
        for rule in flows.rules():
            for gid in groups_of(rule.instructions):
                counts[gid] = counts.get(gid, 0) + 1
        return counts

    def stats(self, group_id: int, now: float) -> list[GroupStats]:
        groups = self.select(group_id)
        refs = self.ref_counts() if groups else {}
        out = []
        for g in groups:
            ms = max(0, int(now - g.created_ms))
            out.append(GroupStats(
                group_id=g.group_id, ref_count=refs.get(g.group_id, 0),
                packet_count=g.packet_count, byte_count=g.byte_count,
                duration_sec=ms // 1000, duration_nsec=(ms % 1000) * 1_000_000,
                bucket_stats=tuple((b.packet_count, b.byte_count) for b in g.buckets)))
        return out

    def descs(self, group_id: int = OFPG_ALL) -> list[GroupDesc]:
        return [g.desc() for g in self.select(group_id)]

    def features(self) -> GroupFeaturesReply:
        return GroupFeaturesReply(types=FEATURE_TYPES, capabilities=FEATURE_CAPABILITIES,
                                  max_groups=(self.max_groups,) * 4,
                                  actions=(FEATURE_ACTIONS,) * 4)
