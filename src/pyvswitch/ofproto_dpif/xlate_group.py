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

Must not import: ``vswitchd``, ``datapath.dpif``.
"""

from __future__ import annotations

import zlib

from pyvswitch.packet.fields import Slot
from pyvswitch.ofproto_dpif.xlate import Ctx

GROUP_ALL, GROUP_SELECT, GROUP_INDIRECT, GROUP_FF = 0, 1, 2, 3
MAX_GROUP_DEPTH = 32
OFPP_ANY = 0xFFFFFFFF
OFPG_ANY = 0xFFFFFFFF
_HASH_SLOTS = (Slot.ETH_SRC, Slot.ETH_DST, Slot.ETH_TYPE, Slot.VLAN_TCI, Slot.NW_SRC,
               Slot.NW_DST, Slot.IPV6_SRC, Slot.IPV6_DST, Slot.NW_PROTO, Slot.TP_SRC,
               Slot.TP_DST)


def _groups(ctx: Ctx):
    return getattr(ctx.bridge.ofproto, "groups", None) or {}


def bucket_is_live(ctx: Ctx, bucket, depth: int = 0) -> bool:
    if bucket.watch_port not in (None, OFPP_ANY):
        port = ctx.bridge.ofproto.ports.get(bucket.watch_port)
        if port is None or not port.desc().state & 4:  # OFPPS_LIVE
            return False
    if bucket.watch_group not in (None, OFPG_ANY):
        grp = _groups(ctx).get(bucket.watch_group)
        if grp is None or depth > MAX_GROUP_DEPTH:
            return False
        return any(bucket_is_live(ctx, b, depth + 1) for b in grp.buckets)
    return True


def run_group(ctx: Ctx, group_id: int) -> None:
    from pyvswitch.ofproto_dpif.xlate_actions import clone
    grp = _groups(ctx).get(group_id)
    if grp is None:
        ctx.note(f"    group:{group_id} does not exist, dropping")
        return
    if ctx.depth >= MAX_GROUP_DEPTH:
        ctx.stop = True
        return
    if hasattr(grp, "add_stats"):
        ctx.out.rules.append(grp)     # groups count packets like rules do
    saved_in_group = ctx.in_group
    ctx.in_group = True
    ctx.depth += 1
    ctx.note(f"    group:{group_id}")
    if grp.type == GROUP_ALL:
        for bucket in grp.buckets:
            clone(ctx, bucket.actions)
    elif grp.type == GROUP_INDIRECT:
        if grp.buckets:
            clone(ctx, grp.buckets[0].actions)
    elif grp.type == GROUP_FF:
        for bucket in grp.buckets:
            if bucket_is_live(ctx, bucket):
                clone(ctx, bucket.actions)
                break
    elif grp.type == GROUP_SELECT:
        live = [b for b in grp.buckets if bucket_is_live(ctx, b) and b.weight]
        if live:
            for slot in _HASH_SLOTS:
                ctx.unwildcard(slot)
            key = repr(tuple(ctx.flow[s] for s in _HASH_SLOTS)).encode()
            point = zlib.crc32(key) % sum(b.weight for b in live)
            for bucket in live:
                point -= bucket.weight
                if point < 0:
                    clone(ctx, bucket.actions)
                    break
    ctx.depth -= 1
    ctx.in_group = saved_in_group
