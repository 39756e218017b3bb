"""What a trace tells of the actions and instructions translation runs (the action
lines of ``ofproto/trace``, in Open vSwitch's words).

What this module owns
---------------------
* ``report_action``: the node of an action about to run, spelled as ovs-ofctl spells it.
* ``report_instructions``: the nodes of a rule's instructions besides its actions
  (``meter:1``, ``clear_actions`` and the action set it empties, ``write_actions(...)``,
  ``write_metadata:...``, ``goto_table:N``; ``drop`` for a rule that does nothing).
* ``report_action_set``: "action set is: output:2" after a write (and the output port the
  set then holds, which Open vSwitch's final flow shows as a change).
* ``report_thaw`` and ``frozen_actions_text``: the "thaw" node a resumed translation
  begins with.  Open vSwitch keeps frozen instructions as one action list (goto_table
  becomes ``resubmit(,N)``, write_metadata a ``set_field`` of metadata; the rest of each
  enclosing resubmit's list follows the inner one) and restores the table and cookie of
  each part's rule (``unroll_xlate``) before the first action that may tell them to a
  controller; the trace of a thawed translation says so in the same words.

Called only while tracing (``ctx.trace`` is not None): the datapath's translations
never come here.  Must not import: ``vswitchd``, ``datapath.dpif``.
"""

from __future__ import annotations

from pyvswitch.openflow import ofpacts as of
from pyvswitch.ofproto_dpif.xlate import Ctx
from pyvswitch.ofproto_dpif.xlate_trace import ACTION, DETAIL, THAW, TraceNode


def report_action(ctx: Ctx, act) -> None:
    """The trace node of an action about to run, in ovs-ofctl's spelling (after the
    restoring of the frozen rule's state, in a thawed translation that needs it)."""
    from pyvswitch.openflow.flow_format import format_action
    trace = ctx.out.trace
    if (trace.thawed is not None and trace.thawed != trace.unrolled
            and _needs_unroll(act)):
        trace.unrolled = trace.thawed
        table, cookie = trace.thawed
        ctx.report(ACTION, _unroll_text(trace.thawed))
        ctx.report(THAW, f"restored state: table={table}, "
                         f"cookie={f'{cookie:#x}' if cookie else '0'}")
    ctx.report(ACTION, format_action(act))


def report_instructions(ctx: Ctx, ins: of.Instructions, which: str) -> None:
    """The trace node of one instruction of ``ins`` (``which``: meter, clear, write,
    write_metadata, goto_table), as Open vSwitch writes it; "meter" also reports
    ``drop`` for an empty instruction set, "clear" the action set it empties."""
    from pyvswitch.openflow.flow_format import format_actions
    if which == "meter":
        if ins.meter_id is not None:
            ctx.report(ACTION, f"meter:{ins.meter_id}")
        elif not (ins.apply or ins.clear or ins.write is not None
                  or ins.write_metadata is not None or ins.goto_table is not None):
            ctx.report(ACTION, "drop")
        return
    if which == "clear":
        ctx.report(ACTION, "clear_actions")
        report_action_set(ctx, "was")
        ctx.out.trace.actset_output = 0
        return
    if ctx.out.trace.thawed is not None and which != "write":
        ctx.report(ACTION, _frozen_text(ins, which))
        return
    if which == "write":
        only = of.Instructions(write=ins.write)
    elif which == "write_metadata":
        only = of.Instructions(write_metadata=ins.write_metadata)
    else:
        only = of.Instructions(goto_table=ins.goto_table)
    ctx.report(ACTION, format_actions(only)[len("actions="):])


def _frozen_text(ins: of.Instructions, which: str) -> str:
    """write_metadata and goto_table as the actions Open vSwitch freezes them into."""
    if which == "goto_table":
        return f"resubmit(,{ins.goto_table})"
    value, mask = ins.write_metadata
    full = (1 << 64) - 1
    return (f"set_field:{value:#x}->metadata" if mask == full
            else f"set_field:{value:#x}/{mask:#x}->metadata")


# Actions before which Open vSwitch's thawed translation restores the frozen rule's table
# and cookie (they may send the packet to the controller, which tells both).
_UNROLL_BEFORE = (of.Output, of.OutputReg, of.GroupAction, of.Controller, of.DecMplsTtl,
                  of.DecNwTtl)


def _needs_unroll(act) -> bool:
    return isinstance(act, _UNROLL_BEFORE) or (isinstance(act, of.Resubmit)
                                               and act.table_id == 255)


def _unroll_text(thawed: tuple[int, int]) -> str:
    return f"unroll_xlate(table={thawed[0]}, cookie={thawed[1]})"


def frame_key(table_id: int, rule) -> tuple[int, int]:
    """The (table, cookie) a frozen frame restores before the actions that need it."""
    return (table_id, getattr(rule, "cookie", 0) or 0 if rule is not None else 0)


def frozen_actions_text(frames) -> str:
    """Frozen frames (innermost first) as the one action list Open vSwitch restores
    ("Restoring actions: ..."): an ``unroll_xlate`` before the first action of a frame
    that may tell a controller its table and cookie, unless the last one said the
    same (OVS freeze_put_unroll_xlate)."""
    from pyvswitch.openflow.flow_format import format_action
    parts = []
    unrolled = None
    for table_id, rule, ins in frames:
        thawed = frame_key(table_id, rule)
        for act in ins.apply or ():
            if unrolled != thawed and _needs_unroll(act):
                parts.append(_unroll_text(thawed))
                unrolled = thawed
            parts.append(format_action(act))
        if ins.clear:
            parts.append("clear_actions")
        if ins.write:
            parts.append(
                f"write_actions({','.join(format_action(a) for a in ins.write)})")
        if ins.write_metadata is not None:
            parts.append(_frozen_text(ins, "write_metadata"))
        if ins.goto_table is not None:
            parts.append(_frozen_text(ins, "goto_table"))
    return ",".join(parts)


def report_action_set(ctx: Ctx, verb: str) -> None:
    """"action set is: output:2" (``verb``: is/was) or "action set was empty", and the
    output port the set now holds (for the final flow)."""
    from pyvswitch.openflow.flow_format import format_action
    from pyvswitch.ofproto_dpif.xlate_actions import _set_in_order
    ordered = _set_in_order(ctx.action_set)
    if ordered:
        text = ",".join(format_action(a) for a in ordered)
        ctx.report(DETAIL, f"action set {verb}: {text}")
    else:
        ctx.report(DETAIL, f"action set {verb} empty")
    if verb == "is":
        outputs = [a.port for a in ordered if isinstance(a, of.Output)]
        has_group = any(isinstance(a, of.GroupAction) for a in ctx.action_set.values())
        ctx.out.trace.actset_output = 0 if has_group or not outputs else outputs[-1]


def report_thaw(ctx: Ctx, state) -> None:
    """The "thaw" node a resumed translation begins with (OVS xlate_actions)."""
    from pyvswitch.openflow.flow_format import format_action
    thaw = ctx.report(THAW, "thaw")
    # Open vSwitch freezes for a recirculation with table 0: the frozen actions say
    # where to go on, and each frame's table comes back with its unroll_xlate.
    thaw.append(TraceNode(THAW, "Resuming from table 0"))
    if state.action_set:
        text = ",".join(format_action(a) for _key, a in state.action_set)
        thaw.append(TraceNode(THAW, f"Restoring action set: {text}"))
    text = frozen_actions_text(state.frames)
    if text:
        thaw.append(TraceNode(THAW, f"Restoring actions: {text}"))
    ctx.out.trace.unrolled = None
