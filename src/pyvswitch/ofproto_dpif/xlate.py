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
* ``trace``: when asked, the tree of trace nodes ``ofproto/trace`` prints (a node per
  table looked up, action run and detail worth telling, see ``xlate_trace.py``); the
  final flow rides along in ``trace.final_flow``.  Without it no node is ever built.

Header edits change ``ctx.flow`` only; ``ctx.base`` is the packet as the datapath actions
emitted so far leave it.  Before any other datapath action (an output, a packet for the
controller, a meter, a recirculation...) ``commit`` brings the packet up to date, as Open
vSwitch's commit_odp_actions does: one ``SetMasked`` per changed header, in the order
Ethernet, (MPLS pop), IP (v4, v6, ARP, ND), transport ports, ICMP, MPLS (set or push),
VLAN (pop and/or push with the whole TCI), each masked set carrying only the fields that
changed under the megaflow mask of those fields.  So outputs see the packet as the
OpenFlow actions left it, and a change undone before the next output costs nothing.  As
in Open vSwitch, IP and port rewrites are not committed while ``nw_proto`` is 0.
Changes this model cannot express (a second VLAN tag or MPLS label, PBB) are emitted at
once (``commit`` first, then ``put_structural``).  Packets for the controller become
``Userspace`` actions whose cookie carries the packet-in parameters (``PacketInCookie``).

Recirculation: after ``pop_mpls`` the flow no longer describes the headers that follow,
so before the first action or table lookup that needs them translation *freezes*
(``xlate_freeze.py``, also inside resubmits, group buckets and clones): the datapath
actions end with ``Recirc(id)``, ``id`` keys the frozen pipeline state in the bridge's
``recirc`` table (``recirc.py``), and a flow whose ``RECIRC_ID`` slot is set resumes from
that state instead of starting in table 0.  Every translation matches ``RECIRC_ID``
exactly, as Open vSwitch's megaflows do.

The action-by-action semantics live in ``xlate_actions.py``; NORMAL in ``xlate_normal.py``.
Time model: ``now`` is a parameter.  Must not import ``vswitchd`` or ``datapath.dpif``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pyvswitch.packet.fields import N_SLOTS, SLOT_BITS, Slot
from pyvswitch.ofproto_dpif.xlate_trace import DETAIL, Trace
from pyvswitch.ofproto_dpif.xlate_trace import add as add_trace_node

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

    def odp_text(self, dont_send: bool = False) -> str:
        """The datapath action as Open vSwitch spells it (``dpctl/dump-flows``,
        ``ofproto/trace``).  OVS parks each packet-in under a recirculation id (for
        continuations); there is none here, and it reads 0."""
        cookie = self.cookie if self.cookie != 0xFFFFFFFFFFFFFFFF else 0
        return (f"userspace(pid=0,controller(reason={self.reason},"
                f"dont_send={int(dont_send)},continuation=0,recirc_id=0,"
                f"rule_cookie={f'{cookie:#x}' if cookie else '0'},"
                f"controller_id={self.controller_id},max_len={self.max_len}))")


@dataclass
class XlateOut:
    actions: list = field(default_factory=list)
    wc: list[int] = field(default_factory=lambda: [0] * N_SLOTS)
    rules: list = field(default_factory=list)
    #: Each table lookup as ``table_id << 1 | matched``: a cached flow's hits count as
    #: these lookups in the table statistics (OVS xlate cache XC_TABLE).
    lookups: list = field(default_factory=list)
    learned: list = field(default_factory=list)   # (vlan, mac, ofp_port)
    trace: Trace | None = None
    has_userspace: bool = False
    tci_mask: int = 0       # the VLAN TCI bits the pipeline itself read (for traces)


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
                 "now", "stop", "in_group", "packet_out", "reparse", "frozen", "halt",
                 "base", "vlan_tpid", "trace")

    def __init__(self, bridge: XlateBridge, flow, now: float, trace: bool) -> None:
        self.bridge = bridge
        self.flow = list(flow)
        self.out = XlateOut(trace=Trace() if trace else None)
        self.trace = self.out.trace   # the list the next trace node joins (None: no trace)
        self.depth = 0
        self.action_set: dict = {}
        self.table_id = 0
        self.rule = None
        self.now = now
        self.stop = False
        self.in_group = False
        self.packet_out = False
        self.reparse = 0          # 1: a pop_mpls ran, L3+ unknown; 2: pop_pbb, all unknown
        self.frozen: list | None = None   # frames of a freeze under way (xlate_freeze.py)
        self.halt = False         # nothing more runs, at any level (exit, a clone froze)
        self.base = list(flow)    # the packet as the datapath actions so far leave it
        self.vlan_tpid = 0x8100   # the TPID a committed VLAN push uses

    # --- helpers the action code shares ------------------------------------------------
    def unwildcard(self, slot: int, bits: int | None = None) -> None:
        self.out.wc[slot] |= FULL[slot] if bits is None else bits

    def emit(self, action) -> None:
        """Append a datapath action, after committing pending header changes."""
        if self.flow != self.base:
            commit(self)
        self.put(action)

    def flush(self) -> None:
        """Commit pending header changes now (before a change ``commit`` cannot express)."""
        if self.flow != self.base:
            commit(self)

    def put(self, action) -> None:
        if len(self.out.actions) < MAX_ACTIONS:
            self.out.actions.append(action)

    def put_structural(self, action) -> None:
        """Append an action whose effect the flow already shows and ``commit`` cannot
        express (call ``commit`` before changing the flow)."""
        self.put(action)
        self.base = list(self.flow)

    def report(self, kind: int, text: str) -> list | None:
        """Add a trace node (when tracing); returns the list for its children."""
        return None if self.trace is None else add_trace_node(self.trace, kind, text)


def translate(bridge: XlateBridge, flow, now: float = 0, trace: bool = False,
              table_id: int = 0) -> XlateOut:
    """Walk the pipeline for ``flow`` (a flow vector) starting at ``table_id``."""
    from pyvswitch.ofproto_dpif import xlate_actions, xlate_freeze
    ctx = Ctx(bridge, flow, now, trace)
    ctx.unwildcard(Slot.IN_PORT)            # datapath flows always match in_port exactly
    ctx.unwildcard(Slot.ETH_TYPE)           # and the ethertype (the key's shape)
    ctx.unwildcard(Slot.RECIRC_ID)          # and which pass of the packet this is
    if ctx.flow[Slot.ETH_TYPE] in (0x0800, 0x86DD):
        ctx.unwildcard(Slot.NW_FRAG)        # and, for IP, whether it is a fragment (OVS)
    recirc_id = ctx.flow[Slot.RECIRC_ID]
    if recirc_id:
        if not xlate_freeze.resume(ctx, recirc_id):
            if ctx.out.trace is not None:
                ctx.out.trace.set_final_flow(ctx.flow)
            return ctx.out
    else:
        xlate_actions.run_table(ctx, table_id, first=True)
    if ctx.frozen is None and not ctx.halt and (not ctx.stop or ctx.action_set):
        xlate_actions.run_action_set(ctx)
    if ctx.frozen is not None:              # the action set stays frozen, not run
        xlate_freeze.finish_freezing(ctx)
    if getattr(getattr(bridge.ofproto, "connmgr", None), "in_band", None) is not None:
        _dhcp_reply_to_local(ctx, flow)
    if ctx.out.trace is not None:
        ctx.out.trace.set_final_flow(ctx.flow)
    wc = ctx.out.wc
    for slot in _PIPELINE_SLOTS:            # pipeline fields never reach the datapath
        wc[slot] = 0
    # A datapath key tells a tagged frame from an untagged one whatever the mask, and an
    # untagged frame's TCI is all zero: OVS's datapath flows match that exactly (its
    # traces show the megaflow without it).
    ctx.out.tci_mask = wc[Slot.VLAN_TCI]
    wc[Slot.VLAN_TCI] |= 0x1000 if flow[Slot.VLAN_TCI] & 0x1000 else 0xFFFF
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
    ctx.report(DETAIL, "outputting DHCP packet to local port for in-band control")
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
    if ctx.out.trace is not None:
        ctx.out.trace.set_final_flow(ctx.flow)
    return ctx.out


_PIPELINE = frozenset([Slot.METADATA, Slot.ACTSET_OUTPUT]
                      + [Slot(Slot.REG0 + i) for i in range(16)])
_PIPELINE_SLOTS = tuple(sorted(int(s) for s in _PIPELINE))
# Metadata a frozen translation carries over to its resumption (with the pipeline slots).
_FROZEN_META = (int(Slot.TUN_ID), int(Slot.PKT_MARK))
FROZEN_SLOTS = (int(Slot.IN_PORT),) + _PIPELINE_SLOTS + _FROZEN_META


# --- committing header changes (OVS commit_odp_actions) ----------------------------------

def _fields(*pairs: tuple[str, str]) -> tuple:
    from pyvswitch.packet.fields import BY_NAME
    return tuple((name, BY_NAME[fname]) for name, fname in pairs)


_ETH = _fields(("src", "eth_src"), ("dst", "eth_dst"))
_IPV4 = _fields(("src", "ip_src"), ("dst", "ip_dst"), ("tos", "nw_tos"), ("ttl", "nw_ttl"))
_IPV6 = _fields(("src", "ipv6_src"), ("dst", "ipv6_dst"), ("label", "ipv6_label"),
                ("tclass", "nw_tos"), ("hlimit", "nw_ttl"))
_ARP = _fields(("sip", "arp_spa"), ("tip", "arp_tpa"), ("op", "arp_op"), ("sha", "arp_sha"),
               ("tha", "arp_tha"))
_ND = _fields(("target", "nd_target"), ("sll", "nd_sll"), ("tll", "nd_tll"))
_TP = {6: ("tcp", _fields(("src", "tcp_src"), ("dst", "tcp_dst"))),
       17: ("udp", _fields(("src", "udp_src"), ("dst", "udp_dst"))),
       132: ("sctp", _fields(("src", "sctp_src"), ("dst", "sctp_dst")))}
_ICMP = {(0x0800, 1): ("icmp", _fields(("type", "icmp_type"), ("code", "icmp_code"))),
         (0x86DD, 58): ("icmpv6", _fields(("type", "icmpv6_type"), ("code", "icmpv6_code")))}
_MPLS = _fields(("label", "mpls_label"), ("tc", "mpls_tc"), ("ttl", "mpls_ttl"))
_MPLS_TYPES = (0x8847, 0x8848)
_PBB = _fields(("isid", "pbb_isid"))
_IP_SLOTS = tuple(int(s) for s in (Slot.NW_SRC, Slot.NW_DST, Slot.IPV6_SRC, Slot.IPV6_DST,
                                   Slot.IPV6_LABEL, Slot.NW_TOS, Slot.NW_TTL, Slot.ARP_SHA,
                                   Slot.ARP_THA, Slot.ND_TARGET))
_TP_SLOTS = (int(Slot.TP_SRC), int(Slot.TP_DST))


def _commit_set(ctx: Ctx, key: str, fields: tuple, masked: bool = True) -> None:
    """One set action for the fields of a header that differ between the packet
    (``ctx.base``) and the flow.  Masked: only those fields, each under its megaflow
    mask.  Not masked (ICMP, MPLS, as Open vSwitch): every field is printed and
    matched exactly, the unchanged ones are not written."""
    from pyvswitch.datapath.actions import SetMasked
    flow, base, wc = ctx.flow, ctx.base, ctx.out.wc
    entries = []
    changed = False
    for name, fld in fields:
        full = (1 << fld.n_bits) - 1
        value, old = fld.get(flow), fld.get(base)
        if masked:
            if value != old:
                mask = ((wc[fld.slot] >> fld.shift) & full) | (value ^ old)
                entries.append((name, fld, value & mask, mask))
            continue
        changed |= value != old
        entries.append((name, fld if value != old else None, value, full))
    if not masked:
        if not changed:
            return
        for _name, fld in fields:
            ctx.unwildcard(fld.slot, fld.mask)
        if key == "mpls":
            entries.append(("bos", None, (flow[Slot.MPLS_LSE] >> 8) & 1, 1))
    if entries:
        ctx.put(SetMasked(key, tuple(entries)))


def commit(ctx: Ctx) -> None:
    """Emit the datapath actions that turn the packet (``ctx.base``) into ``ctx.flow``."""
    from pyvswitch.datapath import actions as dp
    from pyvswitch.packet.fields import VLAN_CFI
    flow, base = ctx.flow, ctx.base
    kept: tuple[int, ...] = ()
    _commit_set(ctx, "eth", _ETH)
    b_type, f_type = base[Slot.ETH_TYPE], flow[Slot.ETH_TYPE]
    b_mpls, f_mpls = b_type in _MPLS_TYPES, f_type in _MPLS_TYPES
    if b_mpls and not f_mpls:           # a non-MPLS packet again before the L3 sets
        ctx.put(dp.PopMpls(f_type))
        b_mpls = False
    ip_changed = any(flow[s] != base[s] for s in _IP_SLOTS) or (
        b_type in (0x0806, 0x8035) and flow[Slot.NW_PROTO] != base[Slot.NW_PROTO])  # arp_op
    tp_changed = flow[Slot.TP_SRC] != base[Slot.TP_SRC] or \
        flow[Slot.TP_DST] != base[Slot.TP_DST]
    if (ip_changed or tp_changed) and b_type in (0x0800, 0x86DD, 0x0806, 0x8035):
        # Whether it is committed depends on it (OVS's datapath flows match it too,
        # though its traces do not show it).
        ctx.unwildcard(Slot.NW_PROTO)
    proto = flow[Slot.NW_PROTO]
    if not proto:                       # no L3 header really (OVS commit_set_nw_action)
        kept = _IP_SLOTS + _TP_SLOTS
    else:
        if ip_changed:
            if b_type == 0x0800:
                _commit_set(ctx, "ipv4", _IPV4)
            elif b_type == 0x86DD:
                _commit_set(ctx, "ipv6", _IPV6)
                if proto == 58:
                    _commit_set(ctx, "nd", _ND)
            elif b_type in (0x0806, 0x8035):
                _commit_set(ctx, "arp", _ARP)
        if tp_changed and b_type in (0x0800, 0x86DD):
            if proto in _TP:
                _commit_set(ctx, *_TP[proto])
            elif (f_type, proto) in _ICMP:
                _commit_set(ctx, *_ICMP[f_type, proto], masked=False)
    if flow[Slot.PBB_ISID] != base[Slot.PBB_ISID] and f_type == 0x88E7:
        _commit_set(ctx, "pbb", _PBB)       # no Open vSwitch counterpart
    if f_mpls:
        if b_mpls:
            if flow[Slot.MPLS_LSE] != base[Slot.MPLS_LSE]:
                _commit_set(ctx, "mpls", _MPLS, masked=False)
        else:
            ctx.put(dp.PushMpls(f_type, flow[Slot.MPLS_LSE]))
    b_tci, f_tci = base[Slot.VLAN_TCI], flow[Slot.VLAN_TCI]
    if b_tci != f_tci:
        if b_tci & VLAN_CFI:
            ctx.put(dp.PopVlan())
            ctx.unwildcard(Slot.VLAN_TCI)   # as OVS: the popped tag is matched whole
        if f_tci & VLAN_CFI:
            ctx.put(dp.PushVlan(ctx.vlan_tpid, f_tci & ~VLAN_CFI))
    new = list(flow)
    for slot in kept:
        new[slot] = base[slot]
    ctx.base = new
