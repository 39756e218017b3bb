"""The record ``ofproto/trace`` prints: a tree of trace nodes, laid out as Open vSwitch
lays its trace out (OVS ofproto/ofproto-dpif-trace.c).

What this module owns
---------------------
* ``TraceNode`` and its kinds (``BRIDGE``, ``TABLE``, ``THAW``, ``ACTION``, ``DETAIL``,
  ``WARN``, ``ERROR``, ``BUCKET``).  Translation, when asked to trace, appends nodes to
  ``Ctx.trace`` (the list the next node goes to): a bridge node holds the first table's
  node, a table node holds the rule's actions, each action is followed by the details it
  produced (a ``DETAIL`` "no learned MAC for destination, flooding", a ``WARN``
  "skipping output to input port"), and a resubmit or goto_table is followed by the
  node of the table it looked up, holding that table's actions.
* ``format_trace(nodes)``: the lines Open vSwitch prints for such a tree.  A node is
  indented by four spaces per level; a node that is the last of its list and can hold
  others (bridge, table, thaw) stays at its parent's level and so do its children, any
  other node (and its children) goes one level in (two for the children).  Details read
  `` -> text``, warnings `` >> text``, errors `` >>>> text <<<<``; a bridge node is
  underlined.
* ``format_flow(flow)``: a flow as Open vSwitch's ``flow_format`` prints it ("Flow:",
  "Final flow:"): every field the packet has, zeros included, pipeline fields (registers,
  metadata) only when non-zero.
* ``format_trace_actions(actions)``: datapath actions as a trace shows them, packets
  for the controller in Open vSwitch's ``userspace(pid=0,controller(...))`` form.

Nothing here runs unless a trace was asked for: the datapath's translations never build
nodes (``Ctx.trace`` is ``None``).  Pure functions; no I/O.

Must not import: ``vswitchd``, ``datapath.dpif``.
"""

from __future__ import annotations

from pyvswitch.openflow.flow_format import format_match
from pyvswitch.packet import fields as F
from pyvswitch.packet.fields import N_SLOTS, SLOT_BITS, Match, Slot

BRIDGE, TABLE, THAW, ACTION, DETAIL, WARN, ERROR, BUCKET = range(8)
#: Kinds that never hold other nodes in Open vSwitch's layout (they indent their children
#: one level further even when they are the last of their list).
_TERMINAL = frozenset((ACTION, DETAIL, WARN, ERROR, BUCKET))
_PREFIX = {DETAIL: " -> ", WARN: " >> ", ERROR: " >>>> "}


class TraceNode:
    """One line of a trace and the nodes beneath it."""

    __slots__ = ("kind", "text", "subs")

    def __init__(self, kind: int, text: str) -> None:
        self.kind = kind
        self.text = text
        self.subs: list[TraceNode] = []

    def __contains__(self, needle: str) -> bool:
        """True if ``needle`` appears in this node's text or in any node beneath it."""
        return needle in self.text or any(needle in sub for sub in self.subs)

    def __repr__(self) -> str:
        return f"TraceNode({self.kind}, {self.text!r}, {self.subs!r})"


class Trace(list):
    """The top-level nodes of one translation's trace (what the bridge node holds), and
    the flow the translation ended with (``final_flow``).

    ``actset_output`` follows the output port the action set holds, as Open vSwitch's
    flow does (0: none): its "Final flow" counts a written output as a change."""

    def __init__(self) -> None:
        super().__init__()
        self.final_flow: tuple[int, ...] | None = None
        self.actset_output = 0
        #: Why the translation failed (Open vSwitch's words), or None.
        self.error: str | None = None
        #: While a thawed translation runs a frozen frame: (table, cookie) of the rule
        #: whose actions it holds.  Open vSwitch keeps frozen instructions as actions
        #: (goto_table as resubmit, write_metadata as set_field) and restores the rule's
        #: table and cookie before the first action that may need them (unroll_xlate);
        #: ``unrolled`` is the last (table, cookie) so restored.
        self.thawed: tuple[int, int] | None = None
        self.unrolled: tuple[int, int] | None = None

    def set_final_flow(self, flow) -> None:
        final = list(flow)
        final[Slot.ACTSET_OUTPUT] = self.actset_output
        self.final_flow = tuple(final)


def add(nodes: list[TraceNode], kind: int, text: str) -> list[TraceNode]:
    """Append a node to ``nodes``; returns the list that holds its children."""
    node = TraceNode(kind, text)
    nodes.append(node)
    return node.subs


def format_trace(nodes: list[TraceNode], level: int = 0) -> list[str]:
    """The lines of ``nodes`` in Open vSwitch's layout (see the module docstring)."""
    lines: list[str] = []
    last = len(nodes) - 1
    for i, node in enumerate(nodes):
        if node.kind == BRIDGE:
            lines.append("")
        more = 1 if i < last or node.kind in _TERMINAL else 0
        indent = " " * ((level + more) * 4)
        if node.kind == ERROR:
            lines.append(f"{indent} >>>> {node.text} <<<<")
        elif node.kind in _PREFIX:
            lines.append(f"{indent}{_PREFIX[node.kind]}{node.text}")
        else:
            lines.append(indent + node.text)
            if node.kind == BRIDGE:
                lines.append(indent + "-" * len(node.text))
        lines.extend(format_trace(node.subs, level + 2 * more))
    return lines


# --- flows ----------------------------------------------------------------------------------

_FULL = tuple((1 << bits) - 1 for bits in SLOT_BITS)
_PIPELINE = tuple(int(s) for s in [Slot.METADATA, Slot.PKT_MARK, Slot.TUN_ID]
                  + [Slot(Slot.REG0 + i) for i in range(16)])
_IP_COMMON = (Slot.NW_FRAG, Slot.NW_TOS, Slot.NW_TTL, Slot.NW_PROTO)
_WITH_PORTS = (F.IPPROTO_ICMP, F.IPPROTO_ICMPV6, F.IPPROTO_TCP, F.IPPROTO_UDP,
               F.IPPROTO_SCTP, 2)      # 2: IGMP


def packet_mask(flow) -> list[int]:
    """The fields a packet of ``flow``'s kind has (OVS flow_wildcards_init_for_packet),
    plus the pipeline fields that are non-zero: what ``format_flow`` prints."""
    mask = [0] * N_SLOTS
    full = _FULL
    for slot in (Slot.IN_PORT, Slot.ETH_SRC, Slot.ETH_DST, Slot.ETH_TYPE, Slot.VLAN_TCI):
        mask[slot] = full[slot]
    for slot in _PIPELINE:
        if flow[slot]:
            mask[slot] = full[slot]
    eth_type = flow[Slot.ETH_TYPE]
    if eth_type == F.ETH_TYPE_IP:
        slots = (Slot.NW_SRC, Slot.NW_DST) + _IP_COMMON
    elif eth_type == F.ETH_TYPE_IPV6:
        slots = (Slot.IPV6_SRC, Slot.IPV6_DST, Slot.IPV6_LABEL) + _IP_COMMON
        if flow[Slot.NW_PROTO] == F.IPPROTO_ICMPV6 and flow[Slot.TP_SRC] in (135, 136) \
                and not flow[Slot.TP_DST]:
            slots += (Slot.ARP_SHA, Slot.ARP_THA, Slot.ND_TARGET)
    elif eth_type in (F.ETH_TYPE_ARP, F.ETH_TYPE_RARP):
        slots = (Slot.NW_SRC, Slot.NW_DST, Slot.NW_PROTO, Slot.ARP_SHA, Slot.ARP_THA)
    elif eth_type in (F.ETH_TYPE_MPLS, F.ETH_TYPE_MPLS_MCAST):
        slots = (Slot.MPLS_LSE,)
    else:
        slots = ()
    for slot in slots:
        mask[slot] = full[slot]
    if eth_type in (F.ETH_TYPE_IP, F.ETH_TYPE_IPV6):
        mask[Slot.NW_FRAG] = 3
        if not flow[Slot.NW_FRAG] & 2 and flow[Slot.NW_PROTO] in _WITH_PORTS:
            mask[Slot.TP_SRC] = mask[Slot.TP_DST] = 0xFFFF
            if flow[Slot.NW_PROTO] == F.IPPROTO_TCP:
                mask[Slot.TCP_FLAGS] = 0xFFF      # (OVS: the 12 flag bits)
    return mask


def format_flow(flow) -> str:
    """``flow`` as Open vSwitch's flow_format prints it (a recirculated pass begins with
    its ``recirc_id=0x..,eth,``).  A tagged flow shows its (absent) inner tag as
    ``vlan_tci1=0x0000``, as Open vSwitch, which knows two tags, does."""
    mask = packet_mask(flow)
    tcp_flags = mask[Slot.TCP_FLAGS]
    mask[Slot.TCP_FLAGS] = 0
    text = format_match(Match(tuple(flow), tuple(mask)))
    if tcp_flags:
        text += ",tcp_flags=" + tcp_flags_text(flow[Slot.TCP_FLAGS])
    if flow[Slot.VLAN_TCI] & F.VLAN_CFI:
        vlan = "dl_vlan_pcp=" if ",dl_vlan_pcp=" in text else "vlan_tci="
        head, _, tail = text.partition("," + vlan)
        value, sep, rest = tail.partition(",")
        text = f"{head},{vlan}{value},vlan_tci1=0x0000{sep}{rest}"
    rid = flow[Slot.RECIRC_ID]
    return f"recirc_id={rid:#x},eth,{text}" if rid else text


_TCP_FLAG_NAMES = ("fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns")


def tcp_flags_text(value: int) -> str:
    """TCP flags as Open vSwitch names them in a flow: ``syn|ack``, ``0`` for none, the
    reserved bits as ``[200]``."""
    names = [_TCP_FLAG_NAMES[i] if i < len(_TCP_FLAG_NAMES) else f"[{1 << i:x}]"
             for i in range(12) if value >> i & 1]
    return "|".join(names) or "0"


def final_flow_text(initial, final) -> str:
    """The "Final flow:" text: ``unchanged``, or the flow as the actions left it."""
    return "unchanged" if list(initial) == list(final) else format_flow(final)


def subfield_text(flow, ref) -> str:
    """"NXM_NX_REG1[0..15] is now 0x2": a subfield an action just wrote (OVS
    xlate_report_subfield); a whole field shows its value in its own notation."""
    from pyvswitch.openflow.flow_format import format_field_value, format_subfield
    fld = ref.field
    width = _REF_BITS.get(fld.name, fld.n_bits)
    n_bits = ref.width if ref.n_bits >= 0 else width - ref.ofs
    value = (flow[fld.slot] >> (fld.shift + ref.ofs)) & ((1 << n_bits) - 1)
    if ref.ofs == 0 and n_bits >= width:
        shown = format_field_value(fld, value)
    else:
        shown = hex(value) if value else "0"
    return f"{format_subfield(ref)} is now {shown}"


#: Width a Nicira field reference sees (as ``flow_format`` has it).
_REF_BITS = {"in_port": 16, "nw_tos": 8}


# --- datapath actions -----------------------------------------------------------------------

def format_trace_actions(actions, dont_send: bool = True) -> str:
    """Datapath actions as ``ofproto/trace`` prints them: as ``datapath.actions`` formats
    them, a packet for the controller as Open vSwitch's
    ``userspace(pid=0,controller(reason=1,dont_send=1,...))`` (``dont_send``: the trace
    of a flow, not of a real packet, sends nothing)."""
    from pyvswitch.datapath import actions as dp

    def spell(a) -> str | None:
        odp_text = getattr(a.cookie, "odp_text", None) if type(a) is dp.Userspace else None
        return odp_text(dont_send) if odp_text is not None else None
    return dp.format_actions(actions, spell)
