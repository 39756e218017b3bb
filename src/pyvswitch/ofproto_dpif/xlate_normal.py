"""The NORMAL action: an 802.1Q MAC-learning switch (OVS xlate_normal).

What this module owns
---------------------
``normal(ctx)``: work out the packet's VLAN from the input port's mode (access port:
its ``tag``, and tagged packets other than priority-tagged ones are dropped; trunk port:
the packet's VID, dropped if not in ``trunks`` when trunks are listed), learn the source
MAC on (VLAN, input port), then output to the learned port of the destination MAC, or
flood to every other port carrying that VLAN.  Output adapts the tag to each output port
(stripped on access ports, pushed on trunks when the packet arrived untagged): the flow
carries the wanted tag while the output is emitted, and the commit before it emits the
pop or push.

Un-wildcards in_port, the MACs and the VLAN tag: a cached flow then covers exactly the
packets that get the same decision, and revalidation after MAC-table changes keeps
cached flows right.

Must not import: ``vswitchd``, ``datapath.dpif``.
"""

from __future__ import annotations

from pyvswitch.datapath import actions as dp
from pyvswitch.packet import fields as F
from pyvswitch.packet.fields import Slot

from pyvswitch.ofproto_dpif.xlate import Ctx
from pyvswitch.ofproto_dpif.xlate_trace import DETAIL, ERROR, WARN

OFPPC_NO_FLOOD = 16
OFPPC_NO_FWD = 32
OFPPC_PORT_DOWN = 1
_MULTICAST_BIT = 1 << 40


def _vlan_config(ctx: Ctx, ofp_port: int):
    """(mode, tag, trunks) of a port; default: trunk for every VLAN."""
    return ctx.bridge.port_vlans.get(ofp_port, ("trunk", None, ()))


def _input_vlan(ctx: Ctx, in_port: int) -> int | None:
    tci = ctx.flow[Slot.VLAN_TCI]
    tagged = bool(tci & F.VLAN_CFI)
    vid = tci & F.VLAN_VID_MASK if tagged else 0
    mode, tag, trunks = _vlan_config(ctx, in_port)
    if tag is not None and mode in ("access", None):
        if tagged and vid != 0:
            if ctx.trace is not None:
                ctx.report(ERROR, f"dropping VLAN {vid} tagged packet received on port "
                                  f"{_name(ctx, in_port)} configured as VLAN {tag} "
                                  "access port")
                ctx.report(WARN, "disallowed VLAN VID for this input port, dropping")
            return None
        return tag
    if not tagged and mode in ("native-tagged", "native-untagged") and tag is not None:
        return tag
    if trunks and vid not in trunks and not (vid == 0 and not tagged):
        if ctx.trace is not None:
            ctx.report(ERROR, f"dropping VLAN {vid} packet received on port "
                              f"{_name(ctx, in_port)} not configured for trunking "
                              f"VLAN {vid}")
            ctx.report(WARN, "disallowed VLAN VID for this input port, dropping")
        return None
    return vid


def _name(ctx: Ctx, ofp_port: int) -> str:
    """A port's name, as Open vSwitch's NORMAL traces name ports."""
    port = ctx.bridge.ofproto.ports.get(ofp_port)
    return getattr(port, "name", None) or str(ofp_port)


def _port_carries(ctx: Ctx, ofp_port: int, vlan: int) -> bool:
    mode, tag, trunks = _vlan_config(ctx, ofp_port)
    if tag is not None and mode in ("access", None):
        return vlan == tag
    if trunks:
        return vlan in trunks or (mode in ("native-tagged", "native-untagged")
                                  and vlan == tag)
    return True


def _output(ctx: Ctx, ofp_port: int, vlan: int) -> None:
    bridge = ctx.bridge
    odp = bridge.ofp_to_odp.get(ofp_port)
    port = bridge.ofproto.ports.get(ofp_port)
    if odp is None or port is None or port.config & (OFPPC_NO_FWD | OFPPC_PORT_DOWN):
        return
    mode, tag, _ = _vlan_config(ctx, ofp_port)
    tci = ctx.flow[Slot.VLAN_TCI]
    want_tag = not ((tag is not None and mode in ("access", None))
                    or (mode == "native-untagged" and vlan == tag) or vlan == 0)
    if want_tag:
        out_tci = (tci & F.VLAN_PCP_MASK) | F.VLAN_CFI | (vlan & F.VLAN_VID_MASK)
    else:
        out_tci = 0
    # The tag this port wants is committed with the output; the flow goes back as it
    # was, and the next output commits whatever it needs (OVS output_normal).
    ctx.flow[Slot.VLAN_TCI] = out_tci
    ctx.emit(dp.Output(odp))
    ctx.flow[Slot.VLAN_TCI] = tci


def _mac(value: int) -> str:
    return ":".join(f"{b:02x}" for b in value.to_bytes(6, "big"))


def normal(ctx: Ctx) -> None:
    flow = ctx.flow
    for slot in (Slot.IN_PORT, Slot.ETH_SRC, Slot.ETH_DST):
        ctx.unwildcard(slot)
    ctx.unwildcard(Slot.VLAN_TCI, F.VLAN_CFI | F.VLAN_VID_MASK)
    in_port = flow[Slot.IN_PORT]
    vlan = _input_vlan(ctx, in_port)
    if vlan is None:
        return
    src, dst = flow[Slot.ETH_SRC], flow[Slot.ETH_DST]
    table = ctx.bridge.mac_table
    if in_port in ctx.bridge.ofproto.ports and not src & _MULTICAST_BIT:
        if ctx.bridge.may_learn:
            if table.learn(vlan, src, in_port, ctx.now) and ctx.trace is not None:
                ctx.report(DETAIL, f"learned that {_mac(src)} is on port "
                                   f"{_name(ctx, in_port)} in VLAN {vlan}")
        ctx.out.learned.append((vlan, src, in_port))
    out_port = None if dst & _MULTICAST_BIT else table.lookup(vlan, dst, ctx.now)
    if out_port is not None:
        if out_port == in_port:
            ctx.report(DETAIL, "learned port is input port, dropping")
            return
        ctx.report(DETAIL, "forwarding to learned port")
        _output(ctx, out_port, vlan)
        return
    ctx.report(DETAIL, "no learned MAC for destination, flooding")
    # In the order the ports joined the bridge, as Open vSwitch walks its bundle list.
    for number, port in list(ctx.bridge.ofproto.ports.items()):
        if number == in_port or port.config & OFPPC_NO_FLOOD:
            continue
        if _port_carries(ctx, number, vlan):
            _output(ctx, number, vlan)
