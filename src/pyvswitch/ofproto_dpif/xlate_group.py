"""Group execution during translation (OVS xlate_group_action).

What this module owns
---------------------
``run_group(ctx, group_id)``: ALL (every bucket on a copy of the packet), INDIRECT (its one
bucket), SELECT (one live bucket chosen by a hash of the flow's L2-L4 fields, weighted;
the hashed fields are un-wildcarded so a cached flow covers only packets that hash alike),
FAST_FAILOVER (the first bucket whose watch port/group is live).  A group that does not
exist drops the packet.  Groups are read from ``ctx.bridge.ofproto.groups`` (a mapping
group id -> object with ``type`` and ``buckets``; each bucket has ``actions``, ``weight``,
``watch_port``, ``watch_group``).

Statistics: a group and each bucket that ran (when they have ``add_stats``, as
``ofproto/groups.py``'s do) join ``ctx.out.rules``, so the provider credits them with the
datapath's hits like the rules traversed.

Loops: group chains may loop (OVS accepts them).  Going deeper than ``MAX_GROUP_DEPTH``
or running more than ``MAX_GROUP_RUNS`` groups in one translation is a translation
error, as OVS's resource check: the whole translation then yields no datapath action
(the packet, and the cached flow, drop).

Must not import: ``vswitchd``, ``datapath.dpif``.
"""

from __future__ import annotations

import zlib

from pyvswitch.packet.fields import Slot
from pyvswitch.ofproto_dpif.xlate import Ctx
from pyvswitch.ofproto_dpif.xlate_trace import BUCKET, DETAIL, ERROR, WARN

GROUP_ALL, GROUP_SELECT, GROUP_INDIRECT, GROUP_FF = 0, 1, 2, 3
MAX_GROUP_DEPTH = 32
MAX_GROUP_RUNS = 4096          # groups executed in one translation (OVS MAX_RESUBMITS)
OFPP_ANY = 0xFFFFFFFF
OFPG_ANY = 0xFFFFFFFF
OFPP_CONTROLLER = 0xFFFFFFFD
_HASH_SLOTS = (Slot.ETH_SRC, Slot.ETH_DST, Slot.ETH_TYPE, Slot.VLAN_TCI, Slot.NW_SRC,
               Slot.NW_DST, Slot.IPV6_SRC, Slot.IPV6_DST, Slot.NW_PROTO, Slot.TP_SRC,
               Slot.TP_DST)


def _groups(ctx: Ctx):
    return getattr(ctx.bridge.ofproto, "groups", None) or {}


def bucket_is_live(ctx: Ctx, bucket, depth: int = 0, _path: tuple = ()) -> bool:
    """As OVS bucket_is_alive: a bucket that watches nothing is live; otherwise it is live
    if its watch port is live or its watch group has a live bucket.  A group watched
    from within its own watch chain counts as dead (a cycle)."""
    port_no = getattr(bucket, "watch_port", OFPP_ANY)
    gid = getattr(bucket, "watch_group", OFPG_ANY)
    watches_port = port_no not in (None, OFPP_ANY)
    watches_group = gid not in (None, OFPG_ANY)
    if not watches_port and not watches_group:
        return True
    if watches_port and port_no != OFPP_CONTROLLER:
        port = ctx.bridge.ofproto.ports.get(port_no)
        if port is not None and port.desc().state & 4:  # OFPPS_LIVE
            return True
    if watches_group:
        grp = _groups(ctx).get(gid)
        if grp is not None and depth <= MAX_GROUP_DEPTH and gid not in _path:
            return any(bucket_is_live(ctx, b, depth + 1, _path + (gid,))
                       for b in grp.buckets)
    return False


class _Failed(list):
    """The action list of a translation that failed: whatever is emitted afterwards is
    discarded, so the result is a drop."""

    def append(self, action) -> None:
        pass


def translation_failed(xout) -> bool:
    """Did the translation that produced ``xout`` fail (a group loop)?  OVS answers a
    PACKET_OUT whose translation failed with OFPFMFC_UNKNOWN."""
    return isinstance(xout.actions, _Failed)


def _fail(ctx: Ctx, why: str) -> None:
    ctx.report(ERROR, f"{why}: translation failed")
    if ctx.out.trace is not None:
        ctx.out.trace.error = ("Recursion too deep" if "depth" in why
                               else "Too many resubmits")
    ctx.out.actions = _Failed()
    ctx.stop = True


def _credit(ctx: Ctx, obj) -> None:
    if hasattr(obj, "add_stats"):
        ctx.out.rules.append(obj)     # groups and buckets count packets like rules do


def _select(ctx: Ctx, grp):
    """The live bucket a SELECT group sends this flow to (weighted, by a hash of the
    flow's L2-L4 fields), or None.  Traced, the buckets that are not live say why."""
    live = []
    for b in grp.buckets:
        if bucket_is_live(ctx, b):
            if b.weight:
                live.append(b)
        elif ctx.trace is not None:
            _report_not_live(ctx, b)
    if not live:
        return None
    for slot in _HASH_SLOTS:
        ctx.unwildcard(slot)
    key = repr(tuple(ctx.flow[s] for s in _HASH_SLOTS)).encode()
    point = zlib.crc32(key) % sum(b.weight for b in live)
    for bucket in live:
        point -= bucket.weight
        if point < 0:
            return bucket
    return None


def _run_bucket(ctx: Ctx, bucket) -> None:
    """Run a bucket's actions on a copy of the packet (which may freeze and recirculate
    on its own, ``xlate_freeze``); traced, under a "bucket N" node."""
    from pyvswitch.ofproto_dpif.xlate_actions import clone
    old_trace = ctx.trace
    if old_trace is not None:
        ctx.trace = ctx.report(BUCKET, f"bucket {_bucket_id(bucket)}")
    clone(ctx, bucket.actions, bucket=True)
    ctx.trace = old_trace


def _bucket_id(bucket) -> int:
    return getattr(bucket, "bucket_id", 0)


def _report_not_live(ctx: Ctx, bucket) -> None:
    """"bucket 0: not live due to port 9" (OVS xlate_report_bucket_not_live)."""
    from pyvswitch.openflow.flow_format import port_name
    port_no = getattr(bucket, "watch_port", OFPP_ANY)
    gid = getattr(bucket, "watch_group", OFPG_ANY)
    why = []
    if port_no not in (None, OFPP_ANY):
        why.append(f"port {port_name(port_no)}")
    if gid not in (None, OFPG_ANY):
        why.append(f"port {gid}")            # (sic: Open vSwitch says "port" here too)
    ctx.report(DETAIL, f"bucket {_bucket_id(bucket)}: not live due to "
                       + " and ".join(why))


def run_group(ctx: Ctx, group_id: int) -> None:
    if isinstance(ctx.out.actions, _Failed):
        return
    grp = _groups(ctx).get(group_id)
    if grp is None:
        ctx.report(WARN, f"output to nonexistent group {group_id}")
        return
    if ctx.depth >= MAX_GROUP_DEPTH:
        _fail(ctx, f"over max translation depth {MAX_GROUP_DEPTH}")
        return
    if len(ctx.out.rules) >= MAX_GROUP_RUNS:
        _fail(ctx, f"over {MAX_GROUP_RUNS} resubmit actions")
        return
    _credit(ctx, grp)
    saved_in_group = ctx.in_group
    ctx.in_group = True
    ctx.depth += 1
    if grp.type in (GROUP_ALL, GROUP_INDIRECT):
        for bucket in grp.buckets if grp.type == GROUP_ALL else grp.buckets[:1]:
            _credit(ctx, bucket)
            _run_bucket(ctx, bucket)
    else:
        chosen = None
        if grp.type == GROUP_FF:
            for bucket in grp.buckets:
                if bucket_is_live(ctx, bucket):
                    chosen = bucket
                    break
                if ctx.trace is not None:
                    _report_not_live(ctx, bucket)
        elif grp.type == GROUP_SELECT:
            chosen = _select(ctx, grp)
        if chosen is not None:
            if ctx.trace is not None:
                ctx.report(DETAIL, f"using bucket {_bucket_id(chosen)}")
            _credit(ctx, chosen)
            _run_bucket(ctx, chosen)
        else:
            ctx.report(DETAIL, "no live bucket")
    ctx.depth -= 1
    ctx.in_group = saved_in_group
