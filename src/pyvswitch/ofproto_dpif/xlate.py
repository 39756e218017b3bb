"""xlate: translate a flow through the OpenFlow pipeline into datapath actions
(OVS ofproto/ofproto-dpif-xlate.c, the core walk).

What this module owns
---------------------
``translate(bridge, flow, ...) -> XlateOut``: start in table 0 with the packet's flow, look
each table up through the classifier, run instructions (apply/clear/write actions,
write_metadata, goto_table) and finally the action set, and produce

* ``actions``: datapath actions (``datapath.actions``) with datapath port numbers;
* ``wc``: the megaflow mask - every bit of the flow the walk consulted (classifier
  lookups report theirs; actions that read a field add it).  Every packet that agrees
  with the translated flow on these bits takes exactly the same path;
* ``rules``: the rules traversed (their counters get the datapath's hits);
* ``learned``: NORMAL's MAC-learning side effects, replayed when a cached flow is hit;
* ``trace``: when asked, a line per table, rule and action (``ofproto/trace``).

Header edits are emitted in order as ``SetField``/push/pop actions at the point they
occur, and applied by the datapath one after another, so outputs see the packet as the
OpenFlow actions left it.  Packets for the controller become ``Userspace`` actions whose
cookie carries the packet-in parameters (``PacketInCookie``).

Recirculation: after ``pop_mpls`` the flow no longer describes the headers that follow,
so before the first action or table lookup that needs them translation *freezes*
(``xlate_actions.freeze``): the datapath actions end with ``Recirc(id)``, ``id`` keys the
frozen pipeline state in the bridge's ``recirc`` table (``recirc.py``), and a flow whose
``RECIRC_ID`` slot is set resumes from that state instead of starting in table 0.  Every
translation matches ``RECIRC_ID`` exactly, as Open vSwitch's megaflows do.

The action-by-action semantics live in ``xlate_actions.py``; NORMAL in ``xlate_normal.py``.
Time model: ``now`` is a parameter.  Must not import ``vswitchd`` or ``datapath.dpif``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pyvswitch.packet.fields import N_SLOTS, SLOT_BITS, Slot

MAX_RESUBMIT_DEPTH = 64
MAX_ACTIONS = 4096

# Internal packet-in reasons (bit numbers in the async masks, see ofproto/ofconn.py).
PIN_NO_MATCH, PIN_ACTION, PIN_INVALID_TTL, PIN_ACTION_SET, PIN_GROUP, PIN_PACKET_OUT, \
    PIN_EXPLICIT_MISS, PIN_IMPLICIT_MISS = range(8)

FULL = tuple((1 << b) - 1 for b in SLOT_BITS)


class PacketInCookie(NamedTuple):
    """What a ``Userspace`` action must remember to build the PACKET_IN later."""

    reason: int
    table_id: int
    cookie: int
    max_len: int
    controller_id: int
    pipeline: tuple[tuple[int, int], ...]  # (slot, value) of non-zero pipeline fields
    in_port: int                           # OpenFlow in_port at the time


@dataclass
class XlateOut:
    actions: list = field(default_factory=list)
    wc: list[int] = field(default_factory=lambda: [0] * N_SLOTS)
    rules: list = field(default_factory=list)
    learned: list = field(default_factory=list)   # (vlan, mac, ofp_port)
    trace: list[str] | None = None
    has_userspace: bool = False


class XlateBridge:
    """What translation needs from a bridge; ``OfprotoDpif`` implements it.

    Attributes: ``ofproto`` (ports and ``flows.lookup``), ``ofp_to_odp`` (dict),
    ``mac_table``, ``wants_packet_in_on_miss`` (bool), ``port_vlans`` (dict ofp ->
    (vlan_mode, tag, trunks)), ``groups`` (dict or None).
    """

    ofproto: Any
    ofp_to_odp: dict[int, int]
    mac_table: Any
    wants_packet_in_on_miss: bool
    port_vlans: dict
    may_learn: bool          # False while revalidating: old flows must not refresh MACs
    recirc: Any              # recirc.RecircTable, or absent: translation never freezes


class Ctx:
    """The state of one translation."""

    __slots__ = ("bridge", "flow", "out", "depth", "action_set", "table_id", "rule",
                 "now", "stop", "in_group", "packet_out", "reparse", "nest")

    def __init__(self, bridge: XlateBridge, flow, now: float, trace: bool) -> None:
        self.bridge = bridge
        self.flow = list(flow)
        self.out = XlateOut(trace=[] if trace else None)
        self.depth = 0
        self.action_set: dict = {}
        self.table_id = 0
        self.rule = None
        self.now = now
        self.stop = False
        self.in_group = False
        self.packet_out = False
        self.reparse = 0          # 1: a pop_mpls ran, L3+ unknown; 2: pop_pbb, all unknown
        self.nest = 0             # clones being translated (no freezing inside them)

    # --- helpers the action code shares ------------------------------------------------
    def unwildcard(self, slot: int, bits: int | None = None) -> None:
        self.out.wc[slot] |= FULL[slot] if bits is None else bits

    def emit(self, action) -> None:
        if len(self.out.actions) < MAX_ACTIONS:
            self.out.actions.append(action)

    def note(self, text: str) -> None:
        if self.out.trace is not None:
            self.out.trace.append("    " * (self.depth + 1) + text)


def translate(bridge: XlateBridge, flow, now: float = 0, trace: bool = False,
              table_id: int = 0) -> XlateOut:
    """Walk the pipeline for ``flow`` (a flow vector) starting at ``table_id``."""
    from pyvswitch.ofproto_dpif import xlate_actions
    ctx = Ctx(bridge, flow, now, trace)
    ctx.unwildcard(Slot.IN_PORT)            # datapath flows always match in_port exactly
    ctx.unwildcard(Slot.ETH_TYPE)           # and the ethertype (the key's shape)
    ctx.unwildcard(Slot.RECIRC_ID)          # and which pass of the packet this is
    recirc_id = ctx.flow[Slot.RECIRC_ID]
    if recirc_id:
        if not xlate_actions.resume(ctx, recirc_id):
            return ctx.out
    else:
        xlate_actions.run_table(ctx, table_id)
    if not ctx.stop or ctx.action_set:
        xlate_actions.run_action_set(ctx)
    if getattr(getattr(bridge.ofproto, "connmgr", None), "in_band", None) is not None:
        _dhcp_reply_to_local(ctx, flow)
    wc = ctx.out.wc
    for slot in _PIPELINE_SLOTS:            # pipeline fields never reach the datapath
        wc[slot] = 0
    if recirc_id:                           # the frozen state, not the packet, holds these
        for slot in _FROZEN_META:
            wc[slot] = 0
    return ctx.out


def _dhcp_reply_to_local(ctx: Ctx, flow) -> None:
    """With in-band control, a DHCP reply (UDP 67 -> 68) also goes to the LOCAL port
    whatever the tables said, so the bridge's own DHCP client gets its address (OVS
    in_band_must_output_to_local_port).  The fields consulted join the megaflow mask
    whatever the outcome, so no cached flow can carry a DHCP reply past this."""
    from pyvswitch.datapath.actions import Output
    from pyvswitch.openflow.ofpacts import OFPP_LOCAL
    if flow[Slot.ETH_TYPE] != 0x0800:
        return
    ctx.unwildcard(Slot.NW_PROTO)
    if flow[Slot.NW_PROTO] != 17:
        return
    ctx.unwildcard(Slot.TP_SRC)
    ctx.unwildcard(Slot.TP_DST)
    local = ctx.bridge.ofp_to_odp.get(OFPP_LOCAL)
    if (flow[Slot.TP_SRC] != 67 or flow[Slot.TP_DST] != 68 or local is None
            or any(isinstance(a, Output) and a.port == local for a in ctx.out.actions)):
        return
    ctx.note("outputting DHCP packet to local port for in-band control")
    ctx.emit(Output(local))


def translate_actions(bridge: XlateBridge, flow, actions, now: float = 0,
                      trace: bool = False) -> XlateOut:
    """Translate a bare action list (PACKET_OUT): no table lookup, output:TABLE resubmits
    to table 0, packets sent to the controller carry reason PACKET_OUT."""
    from pyvswitch.ofproto_dpif import xlate_actions
    ctx = Ctx(bridge, flow, now, trace)
    ctx.table_id = 0xFF
    ctx.packet_out = True
    xlate_actions.run_actions(ctx, actions)
    return ctx.out


_PIPELINE = frozenset([Slot.METADATA, Slot.ACTSET_OUTPUT]
                      + [Slot(Slot.REG0 + i) for i in range(16)])
_PIPELINE_SLOTS = tuple(sorted(int(s) for s in _PIPELINE))
# Metadata a frozen translation carries over to its resumption (with the pipeline slots).
_FROZEN_META = (int(Slot.TUN_ID), int(Slot.PKT_MARK))
FROZEN_SLOTS = (int(Slot.IN_PORT),) + _PIPELINE_SLOTS + _FROZEN_META
