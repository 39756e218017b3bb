"""The OpenFlow action and instruction semantics of translation (see ``xlate.py``).

What this module owns
---------------------
``run_table`` (look a table up and run the rule's instructions, or the table-miss
behaviour), ``run_actions`` (one action list, in order), ``run_action_set`` (the
OpenFlow 1.1+ action set in the order the specification fixes), output to ports, and
clones.  Each action list it runs asks ``xlate_freeze`` whether an action needs the
headers a pop hid, and hands it the rest of the list when a translation freezes.
Traced (``ctx.trace`` set), each table looked up, action run and outcome worth telling
becomes a trace node (``xlate_trace.py``, ``xlate_report.py``); untraced, the only cost
is the test of ``ctx.trace``.

Every read of a flow field un-wildcards it in ``ctx.out.wc``; every header change is
made in ``ctx.flow`` (so later matches and actions see it) and reaches the datapath when
the next datapath action commits it (``xlate.commit``); the bits an action writes are
un-wildcarded, since whether the packet needs the change depends on them.  The
exceptions are the fields that say how the rest of the frame reads (eth_type, ip_proto,
mpls_bos) and pbb_uca: they are committed at once (``_commit_at_once``).

Must not import: ``vswitchd``, ``datapath.dpif``.
"""

from __future__ import annotations

from pyvswitch.datapath import actions as dp
from pyvswitch.openflow import ofpacts as of
from pyvswitch.packet import fields as F
from pyvswitch.packet.fields import Slot

from pyvswitch.ofproto_dpif.xlate import (
    MAX_RESUBMIT_DEPTH, PIN_ACTION, PIN_ACTION_SET, PIN_EXPLICIT_MISS,
    PIN_GROUP, PIN_IMPLICIT_MISS, PIN_INVALID_TTL, PIN_PACKET_OUT, Ctx, PacketInCookie,
    _PIPELINE,
)
from pyvswitch.ofproto_dpif.xlate_freeze import (
    finish_freezing, freeze_rest, may_freeze, needs_reparse,
)
from pyvswitch.ofproto_dpif.xlate_report import (
    report_action, report_action_set, report_instructions,
)
from pyvswitch.ofproto_dpif.xlate_trace import (
    ACTION, DETAIL, ERROR, TABLE, WARN, subfield_text,
)

OFPPC_NO_FWD = 32
OFPPC_NO_FLOOD = 16
OFPPC_PORT_DOWN = 1
TABLE_MISS_PRIORITY = 0


# --- tables -------------------------------------------------------------------------------

_IN_PORT = int(Slot.IN_PORT)


def run_table(ctx: Ctx, table_id: int, first: bool = False,
              lookup_in_port: int | None = None) -> None:
    """Look ``table_id`` up and execute what it says.  Traced, the table's node holds
    what follows; after the ``first`` lookup of a translation it keeps doing so (the
    action set's node goes under it), as in Open vSwitch's traces.  ``lookup_in_port``:
    the lookup sees this in_port instead of the packet's, the actions the packet's
    (``resubmit(port,table)``, OVS rule_dpif_lookup_from_table)."""
    flows = ctx.bridge.ofproto.flows
    key = tuple(ctx.flow)
    if lookup_in_port is not None:
        key = key[:_IN_PORT] + (lookup_in_port,) + key[_IN_PORT + 1:]
    rule = flows.lookup(table_id, key, ctx.out.wc, ctx.bridge.may_learn)
    ctx.out.lookups.append(table_id << 1 | (rule is not None))
    old_table, old_rule = ctx.table_id, ctx.rule
    ctx.table_id, ctx.rule = table_id, rule
    old_trace = ctx.trace
    thawed = None
    if old_trace is not None:            # formatting a match is costly: only for traces
        thawed, ctx.out.trace.thawed = ctx.out.trace.thawed, None
        ctx.trace = ctx.report(TABLE, _table_text(ctx, table_id, rule))
    if rule is None:
        if ctx.bridge.wants_packet_in_on_miss:
            ctx.report(ACTION, "controller(reason=)")
            controller(ctx, PIN_IMPLICIT_MISS, of.OFPCML_NO_BUFFER, 0, cookie=0)
        else:
            ctx.report(ACTION, "drop")
        ctx.stop = True
    else:
        ctx.out.rules.append(rule)
        run_instructions(ctx, rule.instructions)
    ctx.table_id, ctx.rule = old_table, old_rule
    if not first:
        ctx.trace = old_trace
    if thawed is not None:               # back in the frozen actions of a thawed pass
        ctx.out.trace.thawed = thawed


def _table_text(ctx: Ctx, table_id: int, rule) -> str:
    """" 0. in_port=1, priority 32768" or " 0. No match." (OVS xlate_report_table)."""
    if rule is None:
        if ctx.bridge.wants_packet_in_on_miss:
            return f'{table_id:2d}. No match, and a "packet-in" is called for.'
        return f"{table_id:2d}. No match."
    try:
        from pyvswitch.openflow.flow_format import format_match
        match = format_match(rule.match)
    except Exception:
        match = repr(rule.match)
    text = f"{match}, priority {rule.priority}" if match else f"priority {rule.priority}"
    if getattr(rule, "cookie", 0):
        text += f", cookie {rule.cookie:#x}"
    return f"{table_id:2d}. {text}"


def run_instructions(ctx: Ctx, ins: of.Instructions) -> None:
    tracing = ctx.trace is not None
    if tracing:
        report_instructions(ctx, ins, "meter")
    if ins.meter_id is not None:
        meter(ctx, ins.meter_id)
    if ins.apply:
        run_actions(ctx, ins.apply, ins)
        if ctx.stop:
            return
    if ins.clear:
        if tracing:
            report_instructions(ctx, ins, "clear")
        ctx.action_set.clear()
    if ins.write:
        if tracing:
            report_instructions(ctx, ins, "write")
        write_actions(ctx, ins.write)
        if tracing:
            report_action_set(ctx, "is")
    if ins.write_metadata is not None:
        if tracing:
            report_instructions(ctx, ins, "write_metadata")
        value, mask = ins.write_metadata
        md = ctx.flow[Slot.METADATA]
        ctx.flow[Slot.METADATA] = (md & ~mask) | (value & mask)
    if ins.goto_table is not None:
        if ctx.reparse and may_freeze(ctx):
            freeze_rest(ctx, (), of.Instructions(goto_table=ins.goto_table))
            return
        if tracing:
            report_instructions(ctx, ins, "goto_table")
        run_table(ctx, ins.goto_table)


# --- the action set -----------------------------------------------------------------------

# The order the OpenFlow 1.3 specification (5.10) gives the action set.
_SET_ORDER = (of.CopyTtlIn, of.StripVlan, of.PopMpls, of.PopPbb, of.PushMpls, of.PushPbb,
              of.PushVlan, of.CopyTtlOut, of.DecMplsTtl, of.DecNwTtl, of.SetField, of.SetQueue,
              of.GroupAction, of.Output)
_SET_RANK = {kind: rank for rank, kind in enumerate(_SET_ORDER)}


def write_actions(ctx: Ctx, actions) -> None:
    """Merge actions into the action set: one per type, set_field one per field."""
    for act in actions:
        if isinstance(act, of.SetField):
            ctx.action_set[("set_field", act.field.name)] = act
        else:
            ctx.action_set[type(act)] = act


def _set_in_order(action_set: dict) -> list:
    """The action set's actions in the order they run (an output gives way to a group)."""
    ordered = sorted((act for act in action_set.values() if type(act) in _SET_RANK),
                     key=lambda act: _SET_RANK[type(act)])
    if any(isinstance(a, of.GroupAction) for a in ordered):
        ordered = [a for a in ordered if not isinstance(a, of.Output)]
    return ordered


def run_action_set(ctx: Ctx) -> None:
    if not ctx.action_set:
        return
    entries = ctx.action_set
    ctx.action_set = {}
    ctx.stop = False
    ordered = _set_in_order(entries)   # an output gives way to a group
    old_trace = ctx.trace
    if old_trace is not None:
        ctx.trace = ctx.report(TABLE, "--. Executing action set:")
    for i, act in enumerate(ordered):
        if ctx.reparse and needs_reparse(ctx, act) and may_freeze(ctx):
            _report_select_group(ctx, act)
            freeze_rest(ctx, (), of.Instructions(write=tuple(ordered[i:])))  # resumed
            break
        run_action(ctx, act, in_action_set=True)
        if ctx.frozen is not None:         # an output to TABLE froze in its lookup
            freeze_rest(ctx, (), of.Instructions(write=tuple(ordered[i + 1:])))
            break
    ctx.trace = old_trace


# --- actions ------------------------------------------------------------------------------

def run_actions(ctx: Ctx, actions, then: of.Instructions | None = None) -> None:
    """Run an action list (``then``: the instructions that follow it in the rule, which
    a freeze must keep with the rest of the list)."""
    for i, act in enumerate(actions):
        if ctx.stop:
            return
        if ctx.reparse and needs_reparse(ctx, act) and may_freeze(ctx):
            _report_select_group(ctx, act)
            freeze_rest(ctx, actions[i:], then)
            return
        run_action(ctx, act)
        if ctx.frozen is not None:         # a nested translation (resubmit) froze
            freeze_rest(ctx, actions[i + 1:], then)
            return


def _report_select_group(ctx: Ctx, act) -> None:
    """Traced, a select group that freezes is told first: Open vSwitch freezes only when
    it comes to choose the bucket (the other actions freeze before they are told)."""
    if ctx.trace is not None and isinstance(act, of.GroupAction):
        report_action(ctx, act)


def run_action(ctx: Ctx, act, in_action_set: bool = False) -> None:  # noqa: C901
    flow = ctx.flow
    if ctx.trace is not None:
        report_action(ctx, act)
    if isinstance(act, of.Output):
        output(ctx, act.port, act.max_len, in_action_set)
    elif isinstance(act, of.Controller):
        reason = act.reason if act.reason != 1 else PIN_ACTION
        controller(ctx, reason, act.max_len, act.controller_id, meter_id=act.meter_id)
    elif isinstance(act, of.Enqueue):
        output(ctx, act.port, 0, in_action_set)
    elif isinstance(act, of.SetField):
        set_field(ctx, act.field, act.value, act.mask)
    elif isinstance(act, of.SetVlanVid):
        vlan_set(ctx, vid=act.vid, push=act.push_if_none)
    elif isinstance(act, of.SetVlanPcp):
        vlan_set(ctx, pcp=act.pcp, push=act.push_if_none)
    elif isinstance(act, of.StripVlan):
        ctx.unwildcard(Slot.VLAN_TCI, F.VLAN_CFI)
        if flow[Slot.VLAN_TCI] & F.VLAN_CFI:
            flow[Slot.VLAN_TCI] = 0
    elif isinstance(act, of.PushVlan):
        tci = flow[Slot.VLAN_TCI]
        ctx.unwildcard(Slot.VLAN_TCI)
        if tci & F.VLAN_CFI:        # a second tag: the flow knows only the outer one
            ctx.flush()
            ctx.put_structural(dp.PushVlan(act.ethertype, tci & ~F.VLAN_CFI))
        else:
            flow[Slot.VLAN_TCI] = (tci & 0xFFFF) | F.VLAN_CFI
            ctx.vlan_tpid = act.ethertype
    elif isinstance(act, of.PushMpls):
        push_mpls(ctx, act.ethertype)
    elif isinstance(act, of.PopMpls):
        ctx.unwildcard(Slot.ETH_TYPE)
        if flow[Slot.ETH_TYPE] in (F.ETH_TYPE_MPLS, F.ETH_TYPE_MPLS_MCAST):
            ctx.unwildcard(Slot.MPLS_LSE, 0x100)   # bottom of stack or not (as OVS)
            ctx.flush()
            flow[Slot.ETH_TYPE] = act.ethertype
            flow[Slot.MPLS_LSE] = 0
            ctx.put_structural(dp.PopMpls(act.ethertype))
            ctx.reparse = max(ctx.reparse, 1)  # what lies beneath: known after a re-parse
    elif isinstance(act, of.SetMplsTtl):
        set_field(ctx, F.BY_NAME["mpls_ttl"], act.ttl)
    elif isinstance(act, of.SetMplsLabel):
        set_field(ctx, F.BY_NAME["mpls_label"], act.label)
    elif isinstance(act, of.SetMplsTc):
        set_field(ctx, F.BY_NAME["mpls_tc"], act.tc)
    elif isinstance(act, of.DecMplsTtl):
        dec_ttl(ctx, F.BY_NAME["mpls_ttl"], F.Prereq.MPLS, (0,))
    elif isinstance(act, of.SetNwTtl):
        set_field(ctx, F.BY_NAME["nw_ttl"], act.ttl)
    elif isinstance(act, of.DecNwTtl):
        dec_ttl(ctx, F.BY_NAME["nw_ttl"], F.Prereq.IP_ANY, act.controller_ids)
    elif isinstance(act, of.CopyField):
        copy_field(ctx, act.src, act.dst)
    elif isinstance(act, of.OutputReg):
        port = read_ref(ctx, act.src)
        if ctx.trace is not None:
            ctx.report(DETAIL, f"output port is {port}")
        output(ctx, port, act.max_len, in_action_set)
    elif isinstance(act, of.Resubmit):
        resubmit(ctx, act.in_port, act.table_id)
    elif isinstance(act, of.GroupAction):
        group(ctx, act.group_id)
    elif isinstance(act, of.Exit):     # every level, and the action set (a bucket ends it)
        ctx.stop = ctx.halt = True
    elif isinstance(act, of.Clone):
        clone(ctx, act.actions)
    elif isinstance(act, of.MeterAction):
        meter(ctx, act.meter_id)
    elif isinstance(act, of.PushPbb):
        push_pbb(ctx, act.ethertype)
    elif isinstance(act, of.PopPbb):
        ctx.unwildcard(Slot.ETH_TYPE)
        if flow[Slot.ETH_TYPE] == F.ETH_TYPE_PBB:
            ctx.flush()
            _forget_headers(flow)
            ctx.put_structural(dp.PopPbb())
            ctx.reparse = 2          # the customer frame is known only after a re-parse
    elif isinstance(act, (of.CopyTtlOut, of.CopyTtlIn)):
        ctx.unwildcard(Slot.ETH_TYPE)
        if flow[Slot.ETH_TYPE] in (F.ETH_TYPE_MPLS, F.ETH_TYPE_MPLS_MCAST):
            # The TTL beneath the label is not in the flow: the datapath copies it.
            ctx.emit(dp.CopyTtlOut() if isinstance(act, of.CopyTtlOut) else dp.CopyTtlIn())
    elif isinstance(act, (of.Note, of.SetQueue, of.Experimenter)):
        pass                                # no datapath effect
    else:
        ctx.report(WARN, f"unsupported action {act!r}")


def output(ctx: Ctx, port: int, max_len: int = 0, in_action_set: bool = False) -> None:
    bridge = ctx.bridge
    in_port = ctx.flow[Slot.IN_PORT]
    if port == of.OFPP_IN_PORT:
        _output_to(ctx, in_port)
    elif port == of.OFPP_CONTROLLER:
        reason = PIN_ACTION_SET if in_action_set else PIN_ACTION
        if ctx.packet_out and not ctx.depth:
            reason = PIN_PACKET_OUT
        elif ctx.in_group:
            reason = PIN_GROUP
        elif _is_table_miss(ctx.rule):
            reason = PIN_EXPLICIT_MISS
        controller(ctx, reason, max_len or of.OFPCML_NO_BUFFER, 0)
    elif port == of.OFPP_NORMAL:
        from pyvswitch.ofproto_dpif.xlate_normal import normal
        normal(ctx)
    elif port in (of.OFPP_FLOOD, of.OFPP_ALL):
        for number, p in sorted(bridge.ofproto.ports.items()):
            if number == in_port:
                continue
            if port == of.OFPP_FLOOD and p.config & OFPPC_NO_FLOOD:
                continue
            _output_to(ctx, number)
    elif port == of.OFPP_TABLE:
        resubmit(ctx, of.OFPP_IN_PORT, 0)
    elif port == of.OFPP_LOCAL or port < of.OFPP_MAX:
        if port == in_port:
            ctx.report(WARN, "skipping output to input port")
            return
        _output_to(ctx, port)


def _output_to(ctx: Ctx, ofp_port: int) -> None:
    bridge = ctx.bridge
    p = bridge.ofproto.ports.get(ofp_port)
    odp = bridge.ofp_to_odp.get(ofp_port)
    if p is None or odp is None:
        ctx.report(WARN, "Nonexistent output port")
        return
    if p.config & OFPPC_NO_FWD:
        ctx.report(DETAIL, "OFPPC_NO_FWD set, skipping output")
        return
    if p.config & OFPPC_PORT_DOWN:
        ctx.report(DETAIL, "OFPPC_PORT_DOWN set, skipping output")
        return
    ctx.emit(dp.Output(odp))


def _is_table_miss(rule) -> bool:
    return (rule is not None and rule.priority == TABLE_MISS_PRIORITY
            and rule.match.is_catchall())


OFPM_CONTROLLER = 0xFFFFFFFE


def controller(ctx: Ctx, reason: int, max_len: int, controller_id: int,
               cookie: int | None = None, meter_id: int | None = None) -> None:
    """Send the packet to the controller.  A packet-in is policed by the meter its
    controller action names, or else by the special CONTROLLER meter, if that meter
    exists (OVS ofproto_fix_controller_action); the meter then runs in a datapath clone
    so that it limits only the packet-in."""
    rule = ctx.rule
    pipeline = tuple((slot, ctx.flow[slot]) for slot in sorted(_PIPELINE)
                     if ctx.flow[slot])
    pin = PacketInCookie(reason=reason, table_id=ctx.table_id,
                         cookie=(rule.cookie if rule is not None else 0xFFFFFFFFFFFFFFFF)
                         if cookie is None else cookie,
                         max_len=max_len, controller_id=controller_id,
                         pipeline=pipeline, in_port=ctx.flow[Slot.IN_PORT])
    meters = getattr(ctx.bridge.ofproto, "meters", None)
    m = meters.get(OFPM_CONTROLLER if meter_id is None else meter_id) if meters else None
    if m is None:
        ctx.emit(dp.Userspace(pin))
    else:
        ctx.emit(dp.Clone((dp.Meter(m.dp_id), dp.Userspace(pin))))
    ctx.out.has_userspace = True


_TP_ALIASES = {  # OF1.0 set_tp_src/dst arrive as tcp_*: they rewrite whatever L4 it is
    ("tcp_src", F.IPPROTO_UDP): "udp_src", ("tcp_dst", F.IPPROTO_UDP): "udp_dst",
    ("tcp_src", F.IPPROTO_SCTP): "sctp_src", ("tcp_dst", F.IPPROTO_SCTP): "sctp_dst",
}


def set_field(ctx: Ctx, fld: F.Field, value: int, mask: int | None = None) -> None:
    """Write a field if the packet has it (its prerequisites hold on the current flow)."""
    if fld.prereq is F.Prereq.TCP and ctx.flow[Slot.NW_PROTO] != F.IPPROTO_TCP:
        alias = _TP_ALIASES.get((fld.name, ctx.flow[Slot.NW_PROTO]))
        if alias is not None:
            fld = F.BY_NAME[alias]
    _unwildcard_prereq(ctx, fld.prereq)
    if not F.flow_prereqs_ok(ctx.flow, fld.prereq):
        if ctx.trace is not None:
            ctx.report(WARN, f"unmet prerequisites for {fld.name}, set_field ignored")
        return
    full = (1 << fld.n_bits) - 1
    mask = full if mask is None else mask & full
    old = ctx.flow[fld.slot]
    new = (old & ~(mask << fld.shift)) | ((value & mask) << fld.shift)
    if fld.name in _AT_ONCE:
        _commit_at_once(ctx, fld, old, new, mask)
        return
    ctx.flow[fld.slot] = new
    if fld.slot in _PIPELINE or fld.slot in (Slot.TUN_ID, Slot.PKT_MARK):
        return
    ctx.unwildcard(fld.slot, mask << fld.shift)  # the next commit compares these bits


#: Fields ``commit`` does not write (none has an Open vSwitch counterpart): the ones that
#: say how the rest of the frame reads, and the PBB I-TAG's UCA bit.
_AT_ONCE = frozenset(("eth_type", "ip_proto", "mpls_bos", "pbb_uca"))


def _commit_at_once(ctx: Ctx, fld: F.Field, old: int, new: int, mask: int) -> None:
    """Write eth_type, ip_proto, mpls_bos or pbb_uca.  ``commit`` cannot infer the first
    three from the difference between packet and flow (an eth_type change would read as
    a push or pop of MPLS), so the changes made before are committed first, under the
    old type, and this one goes out at once as a datapath ``set_field``; the flow and
    the committed packet both take the new value.  The whole old value is matched: the
    rewrite of ip_proto adjusts the transport checksum by the difference."""
    ctx.unwildcard(fld.slot, fld.mask)
    if new == old:
        return
    ctx.flush()
    full = (1 << fld.n_bits) - 1
    value = (new >> fld.shift) & full
    ctx.put(dp.SetField(fld, value, None if mask == full else mask))
    if ctx.trace is not None:
        ctx.report(DETAIL, f"set_field:{value:#x}->{fld.name} (committed at once)")
    ctx.flow[fld.slot] = new
    ctx.base[fld.slot] = new


def _unwildcard_prereq(ctx: Ctx, prereq: F.Prereq) -> None:
    if prereq is F.Prereq.NONE:
        return
    ctx.unwildcard(Slot.ETH_TYPE)
    if prereq in (F.Prereq.TCP, F.Prereq.UDP, F.Prereq.SCTP, F.Prereq.ICMPV4,
                  F.Prereq.ICMPV6, F.Prereq.ND, F.Prereq.ND_SOLICIT, F.Prereq.ND_ADVERT):
        ctx.unwildcard(Slot.NW_PROTO)
    if prereq in (F.Prereq.ND, F.Prereq.ND_SOLICIT, F.Prereq.ND_ADVERT):
        ctx.unwildcard(Slot.TP_SRC, 0xFF)
        ctx.unwildcard(Slot.TP_DST, 0xFF)
    if prereq is F.Prereq.VLAN_VID:
        ctx.unwildcard(Slot.VLAN_TCI, F.VLAN_CFI)


def vlan_set(ctx: Ctx, vid: int | None = None, pcp: int | None = None,
             push: bool = True) -> None:
    flow = ctx.flow
    ctx.unwildcard(Slot.VLAN_TCI, F.VLAN_CFI)
    tci = flow[Slot.VLAN_TCI]
    if not tci & F.VLAN_CFI:
        if not push:
            return
        tci = F.VLAN_CFI
        ctx.vlan_tpid = F.ETH_TYPE_VLAN
    if vid is not None:
        tci = (tci & ~F.VLAN_VID_MASK) | (vid & F.VLAN_VID_MASK)
        ctx.unwildcard(Slot.VLAN_TCI, F.VLAN_VID_MASK)
    if pcp is not None:
        tci = (tci & ~F.VLAN_PCP_MASK) | ((pcp & 7) << F.VLAN_PCP_SHIFT)
        ctx.unwildcard(Slot.VLAN_TCI, F.VLAN_PCP_MASK)
    flow[Slot.VLAN_TCI] = tci


def push_mpls(ctx: Ctx, ethertype: int) -> None:
    """The first label is committed with the next datapath action (carrying the label
    fields set meanwhile); a further one goes out at once (the flow knows one label)."""
    flow = ctx.flow
    ctx.unwildcard(Slot.ETH_TYPE)
    stacked = flow[Slot.ETH_TYPE] in (F.ETH_TYPE_MPLS, F.ETH_TYPE_MPLS_MCAST)
    if stacked:
        ctx.flush()
        lse = flow[Slot.MPLS_LSE] & ~0x100          # the new entry is not bottom of stack
        ctx.unwildcard(Slot.MPLS_LSE)
    else:
        ttl = 64
        tc = 0
        label = 0
        if flow[Slot.ETH_TYPE] in (F.ETH_TYPE_IP, F.ETH_TYPE_IPV6):
            ctx.unwildcard(Slot.NW_TTL)
            ctx.unwildcard(Slot.NW_TOS)
            ttl = flow[Slot.NW_TTL]
            tc = (flow[Slot.NW_TOS] >> 2) & 7          # as OVS: the DSCP's low bits
            if flow[Slot.ETH_TYPE] == F.ETH_TYPE_IPV6:
                label = 2                              # the IPv6 explicit-null label
        lse = (label << 12) | (tc << 9) | 0x100 | ttl  # bottom of stack
    flow[Slot.ETH_TYPE] = ethertype
    flow[Slot.MPLS_LSE] = lse
    if stacked:
        ctx.put_structural(dp.PushMpls(ethertype, lse))


# Header slots below Ethernet: after push_pbb they belong to the customer frame.
_INNER_SLOTS = tuple(int(s) for s in (
    Slot.VLAN_TCI, Slot.MPLS_LSE, Slot.NW_SRC, Slot.NW_DST, Slot.IPV6_SRC, Slot.IPV6_DST,
    Slot.IPV6_LABEL, Slot.NW_PROTO, Slot.NW_TOS, Slot.NW_TTL, Slot.NW_FRAG, Slot.ARP_SHA,
    Slot.ARP_THA, Slot.TP_SRC, Slot.TP_DST, Slot.TCP_FLAGS, Slot.ND_TARGET, Slot.PBB_ISID,
    Slot.IPV6_EXTHDR))


def _forget_headers(flow: list[int]) -> None:
    for slot in _INNER_SLOTS:
        flow[slot] = 0
    flow[Slot.ETH_TYPE] = 0


def push_pbb(ctx: Ctx, ethertype: int) -> None:
    """A backbone header in front of the whole frame: the backbone addresses are the
    frame's, the I-SID is the current one if the frame is already PBB, else 0."""
    flow = ctx.flow
    ctx.unwildcard(Slot.ETH_TYPE)
    ctx.flush()
    isid = 0
    if flow[Slot.ETH_TYPE] == F.ETH_TYPE_PBB:
        ctx.unwildcard(Slot.PBB_ISID)
        isid = flow[Slot.PBB_ISID]
    for slot in _INNER_SLOTS:
        flow[slot] = 0
    flow[Slot.ETH_TYPE] = ethertype
    flow[Slot.PBB_ISID] = isid
    ctx.put_structural(dp.PushPbb(ethertype, isid))


def dec_ttl(ctx: Ctx, fld: F.Field, prereq: F.Prereq, controller_ids) -> None:
    _unwildcard_prereq(ctx, prereq)
    if not F.flow_prereqs_ok(ctx.flow, prereq):
        return
    ctx.unwildcard(fld.slot, fld.mask)
    ttl = fld.get(ctx.flow)
    if ttl <= 1:
        for cid in controller_ids or (0,):
            controller(ctx, PIN_INVALID_TTL, of.OFPCML_NO_BUFFER, cid)
        if fld.name == "mpls_ttl":
            ctx.report(WARN, "MPLS decrement TTL exception")
        else:
            version = 6 if ctx.flow[Slot.ETH_TYPE] == F.ETH_TYPE_IPV6 else 4
            ctx.report(WARN, f"IPv{version} decrement TTL exception")
        ctx.stop = True
        return
    set_field(ctx, fld, ttl - 1)


def read_ref(ctx: Ctx, ref: of.FieldRef) -> int:
    fld = ref.field
    width = ref.width
    bits = ((1 << width) - 1) << (fld.shift + ref.ofs)
    ctx.unwildcard(fld.slot, bits)
    return (ctx.flow[fld.slot] & bits) >> (fld.shift + ref.ofs)


def copy_field(ctx: Ctx, src: of.FieldRef, dst: of.FieldRef) -> None:
    value = read_ref(ctx, src)
    n = min(src.width, dst.width)
    mask = ((1 << n) - 1) << dst.ofs
    set_field(ctx, dst.field, (value & ((1 << n) - 1)) << dst.ofs, mask)
    if ctx.trace is not None:
        ctx.report(DETAIL, subfield_text(ctx.flow, dst))


def resubmit(ctx: Ctx, in_port: int, table_id: int) -> None:
    if ctx.depth >= MAX_RESUBMIT_DEPTH:
        ctx.report(ERROR, f"over max translation depth {MAX_RESUBMIT_DEPTH}")
        ctx.stop = True
        return
    ctx.depth += 1
    saved_stop = ctx.stop
    run_table(ctx, ctx.table_id if table_id == 255 else table_id,
              lookup_in_port=None if in_port == of.OFPP_IN_PORT else in_port)
    ctx.stop = (saved_stop and ctx.stop) or ctx.frozen is not None or ctx.halt
    ctx.depth -= 1


def group(ctx: Ctx, group_id: int) -> None:
    from pyvswitch.ofproto_dpif.xlate_group import run_group
    run_group(ctx, group_id)


def meter(ctx: Ctx, meter_id: int) -> None:
    """A meter instruction or action: the datapath polices the packet here, and only the
    packets the meter lets through run the datapath actions that follow (OVS
    xlate_meter_action).  A meter the switch does not know polices nothing."""
    meters = getattr(ctx.bridge.ofproto, "meters", None)
    m = meters.get(meter_id) if meters is not None else None
    if m is None:
        return
    ctx.emit(dp.Meter(m.dp_id))


# Datapath actions ``commit`` cannot undo after a clone: a PBB header pushed or popped.
_IRREVERSIBLE = (dp.PopPbb, dp.PushPbb)


def clone(ctx: Ctx, actions, bucket: bool = False) -> None:
    """Run ``actions`` on a copy: afterwards the packet is as it was before the clone.
    Restoring the flow is enough: the next commit undoes what the clone committed.
    Except after a write ``_commit_at_once`` made (commit cannot undo those, and undoing
    an ip_proto change would read the transport header as the wrong protocol) or a PBB
    push or pop: then the clone's datapath actions run in a datapath ``clone``, and
    outside it the packet is what it was when the clone began.

    A clone starts with an empty action set of its own and runs it at its end; a group
    ``bucket`` shares the packet's (OVS clone_xlate_actions, xlate_group_bucket).  If
    the copy froze, it recirculates at the end of the clone or bucket (``xlate_freeze``).
    After a bucket the packet goes on, unfrozen; after a clone that froze nothing more
    runs, at any level, not even the action set: Open vSwitch leaves its ``exit`` set
    there (a bucket clears it)."""
    saved = list(ctx.flow)
    saved_base, start = list(ctx.base), len(ctx.out.actions)
    saved_stop, saved_reparse, saved_tpid = ctx.stop, ctx.reparse, ctx.vlan_tpid
    saved_set = ctx.action_set
    if not bucket:
        ctx.action_set = {}
    run_actions(ctx, actions)
    if not bucket and ctx.frozen is None and not ctx.halt:
        run_action_set(ctx)
    if ctx.frozen is not None:
        finish_freezing(ctx)
        ctx.halt = True
    if bucket:
        ctx.halt = False
    ctx.action_set = saved_set
    ctx.stop = saved_stop or ctx.halt
    ctx.reparse = saved_reparse
    ctx.vlan_tpid = saved_tpid
    ctx.flow = saved
    inner = ctx.out.actions[start:]
    if any((type(a) is dp.SetField and a.field.name in _AT_ONCE)
           or type(a) in _IRREVERSIBLE for a in inner):
        del ctx.out.actions[start:]
        ctx.put(dp.Clone(tuple(inner)))
        ctx.base = saved_base
