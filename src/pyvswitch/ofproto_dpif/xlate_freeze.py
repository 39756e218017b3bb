"""Freezing a translation for a recirculation, and thawing it (Open vSwitch's "Freezing
Translation" in ofproto/ofproto-dpif-xlate.c: ctx_trigger_freeze, freeze_unroll_actions,
finish_freezing and the thaw at the start of xlate_actions).

What this module owns
---------------------
After ``pop_mpls`` (``ctx.reparse`` 1: nothing past L2 is known) or ``pop_pbb`` (2:
nothing is) the flow no longer describes the packet.  Before the first action or table
lookup that needs the hidden headers, translation *freezes*; the datapath recirculates
the popped frame, parses it again and a miss resumes (*thaws*) the translation.

* ``needs_reparse(ctx, act)``: does ``act`` need the hidden headers?  ``may_freeze``:
  may this translation freeze at all (a bridge with a ``recirc`` table, not a
  PACKET_OUT)?
* ``freeze_rest(ctx, actions, then)``: record one *frame* - the table and rule whose
  actions were running, the actions of that list still to run (from the one that needs
  the headers, or those after the nested translation that froze) and the instructions
  that follow them (``then``: clear, write, write_metadata, goto_table) - and stop.
  Each enclosing action list adds its own frame as the stack unwinds (a resubmit's
  caller, its caller...), so ``ctx.frozen`` holds them innermost first.
* ``finish_freezing(ctx)``, at a *freeze boundary*: the end of the translation, of a
  group bucket or of a clone.  It commits the pending header changes, interns the
  frames with the action set and the pipeline metadata in the bridge's ``recirc``
  table (``recirc.py``) and emits ``Recirc(id)``.  A bucket or clone that froze ends
  there: that copy of the packet recirculates; after a bucket the packet goes on as it
  was before the group, after a clone nothing more runs (below).
* ``resume(ctx, recirc_id)``: restore the metadata and the action set, then run the
  frames in order: the rest of the inner list, then the rest of each enclosing one.

Where Open vSwitch freezes, and so do we (recirc_for_mpls, xlate_table_action,
pick_select_group, xlate_group_bucket, clone_xlate_actions):

* before a resubmit, a goto_table, an output to TABLE, a clone, any action that reads
  or writes L3 or above, and the others OVS freezes before "for simplicity" (push_vlan,
  strip_vlan, note, exit...: all but the outputs, enqueue, set_queue, L2 set-fields, a
  group, and a pop_mpls after a pop to an MPLS type); after pop_pbb before anything
  that reads a header: the frozen actions start with that action;
* not before a group: a select group freezes (hashing reads L3/L4; the group action is
  frozen with the rest), the buckets of the other types are run and each freezes on its
  own, inside the bucket: its recirculation carries the rest of that bucket and the
  action set as it stands (a bucket shares the action set of the packet);
* a pop inside a clone freezes inside the clone, whose frozen state holds the clone's
  own action set, and then nothing more runs in that pass, at any level (OVS leaves
  ``exit`` set after such a clone; a bucket clears it); a pop before a clone freezes
  before it;
* ``ctx.reparse`` is restored after a bucket and after a clone, not after a resubmit.

After the thaw the rules traversed in the first pass are not credited again (only the
rules the second pass looks up join ``out.rules``); each frame's table and rule are
restored so packet-ins name them, as OVS's ``unroll_xlate``.

Must not import: ``vswitchd``, ``datapath.dpif``; ``xlate_actions`` only inside
``resume`` (it runs the frames through ``run_instructions``).
"""

from __future__ import annotations

from pyvswitch.datapath import actions as dp
from pyvswitch.openflow import ofpacts as of
from pyvswitch.packet import fields as F
from pyvswitch.packet.fields import Slot

from pyvswitch.ofproto_dpif.xlate import FROZEN_SLOTS, Ctx
from pyvswitch.ofproto_dpif.xlate_report import frame_key, report_thaw
from pyvswitch.ofproto_dpif.xlate_trace import ERROR

# Actions that read no header and look no table up: they may run on a packet whose
# PBB header was just popped, before it is parsed again (PBB: no Open vSwitch rule).
_BLIND = (of.Controller, of.Enqueue, of.Note, of.SetQueue, of.MeterAction, of.Exit)
# The ones Open vSwitch lets run on a packet whose MPLS label was just popped
# (recirc_for_mpls; also an output that is not to TABLE, an L2 set_field and a group);
# it freezes before every other action, "for simplicity".
_L2_ONLY = (of.Enqueue, of.SetQueue, of.SetVlanVid, of.SetVlanPcp)
_L2_PREREQS = (F.Prereq.NONE, F.Prereq.VLAN_VID)
_MPLS_TYPES = (F.ETH_TYPE_MPLS, F.ETH_TYPE_MPLS_MCAST)
_GROUP_SELECT = 1
_NOTHING = of.Instructions()


def needs_reparse(ctx: Ctx, act) -> bool:
    """True if ``act`` reads or writes headers the flow no longer knows (``ctx.reparse``
    1: beyond L2, after pop_mpls; 2: any, after pop_pbb), or looks a table up."""
    level = ctx.reparse
    if isinstance(act, of.Output):      # NORMAL reads the Ethernet header and VLAN
        return act.port == of.OFPP_TABLE or (act.port == of.OFPP_NORMAL and level > 1)
    if isinstance(act, of.GroupAction):  # only a select group reads the packet itself
        groups = getattr(ctx.bridge.ofproto, "groups", None)
        grp = groups.get(act.group_id) if groups else None
        return grp is not None and grp.type == _GROUP_SELECT
    if isinstance(act, of.PopMpls) and level == 1:
        # After a pop to an MPLS type Open vSwitch still knows the next label.
        return ctx.flow[Slot.ETH_TYPE] not in _MPLS_TYPES
    if isinstance(act, _BLIND if level > 1 else _L2_ONLY):
        return False
    if isinstance(act, of.SetField) and level == 1:
        return act.field.prereq not in _L2_PREREQS
    return True


def may_freeze(ctx: Ctx) -> bool:
    """A PACKET_OUT's actions run on the packet at once, with no second pass to resume
    in; a bridge without a ``recirc`` table never freezes."""
    return not ctx.packet_out and getattr(ctx.bridge, "recirc", None) is not None


def freeze_rest(ctx: Ctx, actions, then: of.Instructions | None = None) -> None:
    """Add the frame of the list being run: ``actions`` still to run, then the
    instructions ``then`` holds besides apply; stop the translation (see docstring)."""
    then = then or _NOTHING
    rest = of.Instructions(apply=tuple(actions) or None, clear=then.clear,
                           write=then.write, write_metadata=then.write_metadata,
                           goto_table=then.goto_table)
    if ctx.frozen is None:
        ctx.frozen = []
    if rest != _NOTHING:
        ctx.frozen.append((ctx.table_id, ctx.rule, rest))
    ctx.stop = True


def finish_freezing(ctx: Ctx) -> None:
    """End this pass (or this bucket's or clone's copy of it) with a recirculation that
    resumes the frames recorded; the action set is kept, not run."""
    frames, ctx.frozen = tuple(ctx.frozen), None
    flow = ctx.flow
    pipeline = tuple((slot, flow[slot]) for slot in FROZEN_SLOTS if flow[slot])
    rid = ctx.bridge.recirc.intern(frames, tuple(ctx.action_set.items()), pipeline,
                                   ctx.now)
    if not rid:
        ctx.report(ERROR, "Failed to allocate recirculation id")
        return
    ctx.emit(dp.Recirc(rid))


def resume(ctx: Ctx, recirc_id: int) -> bool:
    """Continue the translation frozen under ``recirc_id`` (ctx.flow is the packet as
    parsed after the recirculation).  False if the id is unknown: the packet is dropped."""
    from pyvswitch.ofproto_dpif.xlate_actions import run_instructions
    table = getattr(ctx.bridge, "recirc", None)
    state = table.get(recirc_id, ctx.now) if table is not None else None
    if state is None:
        if ctx.trace is not None:
            ctx.report(ERROR, f"Recirculation context not found for ID {recirc_id:x}")
            ctx.out.trace.error = "No recirculation context"
        return False
    flow = ctx.flow
    for slot in FROZEN_SLOTS:
        if slot != Slot.IN_PORT:
            flow[slot] = 0
    for slot, value in state.pipeline:
        flow[slot] = value
    ctx.action_set = dict(state.action_set)
    tracing = ctx.trace is not None
    if tracing:
        report_thaw(ctx, state)
    frames = state.frames
    for k, (table_id, rule, ins) in enumerate(frames):
        if ctx.halt:
            break
        ctx.table_id, ctx.rule = table_id, rule
        ctx.stop = False            # as after the resubmit this frame's list called
        if tracing:
            ctx.out.trace.thawed = frame_key(table_id, rule)
        run_instructions(ctx, ins)
        if ctx.frozen is not None:  # froze again (a second label): keep the outer frames
            ctx.frozen.extend(frames[k + 1:])
            break
    if tracing:
        ctx.out.trace.thawed = None
    return True
