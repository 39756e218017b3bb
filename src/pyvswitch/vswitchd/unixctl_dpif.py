"""unixctl commands about forwarding: ofproto/trace, fdb/*, dpif/*, netdev-dummy/receive,
bridge/dump-flows.

What this module owns
---------------------
The text these commands print, in Open vSwitch's layout where one exists, computed from
the running bridges (``vswitchd.bridge.Bridges``).  Tracing runs the same translation the
datapath uses, with tracing on, and never changes state (no MAC learning).

Must not import: ``vswitchd.main``.
"""

from __future__ import annotations


import ovs.timeval
import ovs.unixctl

from pyvswitch.datapath.actions import format_actions as format_dp_actions
from pyvswitch.datapath.format import format_odp_key
from pyvswitch.openflow.flow_format import format_actions, format_match
from pyvswitch.openflow.flow_parse import parse_match
from pyvswitch.openflow.ofpacts import OFPP_LOCAL
from pyvswitch.ofproto_dpif.xlate import translate
from pyvswitch.ofproto_dpif.xlate_trace import (
    BRIDGE, TraceNode, final_flow_text, format_flow, format_trace, format_trace_actions,
)
from pyvswitch.packet.addr import int_to_mac
from pyvswitch.packet.extract import extract
from pyvswitch.packet.fields import PIPELINE_SLOTS, VLAN_CFI, Match, Slot


def register(daemon) -> None:
    bridges = daemon.bridges

    def cmd(name: str, usage: str, min_args: int, max_args: int):
        def deco(fn):
            def call(conn, argv, aux):
                try:
                    fn(conn, argv)
                except _CmdError as e:
                    conn.reply_error(str(e) + "\n")
            ovs.unixctl.command_register(name, usage, min_args, max_args, call, None)
            return fn
        return deco

    def bridge(name: str):
        br = bridges.bridges.get(name)
        if br is None:
            raise _CmdError(f"{name}: unknown bridge")
        return br

    @cmd("ofproto/trace", "[bridge] {flow | in_port=N,... packet-hex}", 1, 3)
    def _trace(conn, argv):
        if len(argv) >= 2 and argv[0] in bridges.bridges:
            br, rest = bridge(argv[0]), argv[1:]
        elif len(bridges.bridges) == 1:
            br, rest = next(iter(bridges.bridges.values())), argv
        else:
            raise _CmdError("must specify bridge name")
        conn.reply(trace_text(br, rest[0], rest[1] if len(rest) > 1 else None))

    @cmd("fdb/show", "bridge", 1, 1)
    def _fdb_show(conn, argv):
        br = bridge(argv[0])
        lines = [" port  VLAN  MAC                Age"]
        now = ovs.timeval.msec()
        for port, vlan, mac, age in br.provider.mac_table.entries(now):
            label = "LOCAL" if port == OFPP_LOCAL else str(port)
            lines.append(f"{label:>5} {vlan:>5}  {int_to_mac(mac)}  {age:>3}")
        conn.reply("\n".join(lines) + "\n")

    @cmd("fdb/flush", "[bridge]", 0, 1)
    def _fdb_flush(conn, argv):
        targets = [bridge(argv[0])] if argv else list(bridges.bridges.values())
        for br in targets:
            br.provider.mac_table.flush()
        conn.reply("table successfully flushed\n")

    @cmd("dpif/show", "", 0, 0)
    def _dpif_show(conn, argv):
        conn.reply(dpif_show_text(bridges))

    @cmd("dpif/dump-flows", "bridge", 1, 1)
    def _dpif_dump_flows(conn, argv):
        br = bridge(argv[0])
        now = ovs.timeval.msec()
        lines = []
        odp_ports = set(br.provider.odp_to_ofp)
        for f in br.provider.dpif.flow_dump():
            if f.key[Slot.IN_PORT] not in odp_ports:
                continue                    # another bridge's flow on a shared datapath
            used = "never" if not f.used_ms else f"{(now - f.used_ms) / 1000:.3f}s"
            lines.append(f"{format_odp_key(f.key, f.mask)}, packets:{f.packets}, "
                         f"bytes:{f.bytes}, used:{used}, "
                         f"actions:{format_dp_actions(f.actions)}")
        conn.reply("\n".join(lines) + ("\n" if lines else ""))

    @cmd("bridge/dump-flows", "bridge", 1, 1)
    def _bridge_dump_flows(conn, argv):
        br = bridge(argv[0])
        flows = getattr(br.ofproto, "flows", None)
        if flows is None:
            conn.reply("")
            return
        lines = []
        for rule in flows.rules():
            table_id = rule.table_id
            match = format_match(rule.match)
            lines.append(f"table_id={table_id}, duration={_age(rule)}s, "
                         f"n_packets={rule.packet_count}, n_bytes={rule.byte_count}, "
                         f"priority={rule.priority}{',' + match if match else ''},"
                         f"{format_actions(rule.instructions)}")
        conn.reply("\n".join(lines) + ("\n" if lines else ""))

    @cmd("netdev-dummy/receive", "name packet|flow...", 2, 2)
    def _receive(conn, argv):
        netdev = None
        for br in bridges.bridges.values():
            port = br.ofproto.ports_by_name.get(argv[0])
            if port is not None:
                netdev = port.netdev
        if netdev is None or not hasattr(netdev, "inject"):
            raise _CmdError(f"no such dummy netdev '{argv[0]}'")
        netdev.inject(_packet_from_arg(argv[1]))
        conn.reply(None)


def dpif_show_text(bridges) -> str:
    """OVS's dpif/show: one datapath per type (``netdev@ovs-netdev``) with its hit and miss
    totals, then each bridge and its ports by name as ``name ofport/odp-port: (type)``."""
    by_type: dict[str, list] = {}
    for br in bridges.bridges.values():
        by_type.setdefault(br.cfg.datapath_type or "netdev", []).append(br)
    lines = []
    for dp_type, brs in sorted(by_type.items()):
        hit = missed = 0
        for br in brs:
            st = br.provider.dpif.stats()
            hit += st.n_hit_emc + st.n_hit_megaflow
            missed += st.n_missed
        lines.append(f"{dp_type}@ovs-{dp_type}: hit:{hit} missed:{missed}")
        for br in sorted(brs, key=lambda b: b.name):
            lines.append(f"  {br.name}:")
            for port in sorted(br.ofproto.ports.values(), key=lambda p: p.name):
                odp = br.provider.ofp_to_odp.get(port.ofp_port, "?")
                number = 65534 if port.ofp_port == OFPP_LOCAL else port.ofp_port
                lines.append(f"    {port.name} {number}/{odp}: ({port_type_text(br, port.netdev)})")
    return "\n".join(lines) + ("\n" if lines else "")


def port_type_text(br, netdev) -> str:
    """A port's type as OVS shows it (dpif/show, dpctl/show): the bridge's own port of a
    netdev datapath is a tap, and configured options follow the type
    (``patch: peer=p1``)."""
    kind = getattr(netdev, "type", "system")
    if kind == "internal" and br.cfg.datapath_type in ("netdev", "", None):
        kind = "tap"
    iface = getattr(br, "iface_cfgs", {}).get(netdev.name)
    options = dict(iface.options) if iface is not None else {}
    if options:
        kind += ": " + ", ".join(f"{k}={v}" for k, v in sorted(options.items()))
    return kind


class _CmdError(Exception):
    pass


def _age(rule) -> str:
    created = getattr(rule, "created_ms", 0)
    return f"{(ovs.timeval.msec() - created) / 1000:.3f}"


def _packet_from_arg(text: str) -> bytes:
    text = text.strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        pass
    from pyvswitch.packet.compose import compose
    return compose(_flow_from_text(text))


def _flow_from_text(text: str) -> tuple[int, ...]:
    """The flow a match text names; ``recirc_id=N`` (datapath metadata, no OpenFlow field)
    picks the frozen translation a recirculated packet resumes."""
    recirc_id = 0
    fields = []
    for part in text.split(","):
        name, _, value = part.partition("=")
        if name.strip() == "recirc_id":
            try:
                recirc_id = int(value, 0)
            except ValueError:
                raise _CmdError(f"{text}: bad recirc_id {value!r}") from None
        else:
            fields.append(part)
    try:
        match = parse_match(",".join(fields))
    except Exception as e:
        raise _CmdError(f"{text}: {e}") from None
    values = list(match.values)
    values[Slot.RECIRC_ID] = recirc_id
    return tuple(values)


def trace_text(br, flow_text: str, packet_hex: str | None) -> str:
    """What ``ofproto/trace`` prints, in Open vSwitch's layout: the flow, the bridge and
    each table looked up with the actions run and what they did (``xlate_trace``), the
    final flow, the megaflow and the datapath actions.  Tracing a flow changes nothing;
    tracing a packet (``packet_hex``) has the packet's side effects, as in Open vSwitch:
    NORMAL learns its source, and the datapath actions run on it except outputs and
    recirculations (so a controller gets its packet-in, a meter counts it)."""
    provider = br.provider
    if packet_hex:
        flow = list(_flow_from_text(flow_text))
        in_port = flow[Slot.IN_PORT]
        try:
            frame = bytes.fromhex(packet_hex)
        except ValueError:
            raise _CmdError("packet must be hex") from None
        flow = list(extract(frame, in_port))
        flow[Slot.IN_PORT] = in_port
    else:
        flow = list(_flow_from_text(flow_text))
    now = ovs.timeval.msec()
    provider.may_learn = bool(packet_hex)
    try:
        out = translate(provider, tuple(flow), now, trace=True)
    finally:
        provider.may_learn = True
    bridge_node = TraceNode(BRIDGE, f'bridge("{br.name}")')
    bridge_node.subs = out.trace
    lines = [f"Flow: {format_flow(flow)}"]
    lines += format_trace([bridge_node])
    lines += ["", f"Final flow: {final_flow_text(flow, out.trace.final_flow)}"]
    lines.append(f"Megaflow: {_megaflow_text(flow, out)}")
    lines.append("Datapath actions: "
                 + format_trace_actions(out.actions, dont_send=not packet_hex))
    if out.trace.error:
        lines.append(f"Translation failed ({out.trace.error}), packet is dropped.")
    elif packet_hex:
        try:
            _execute_except_outputs(provider, frame, out.actions, now, flow[Slot.IN_PORT])
        except Exception as e:      # what the datapath refused, as OVS reports it
            lines += [f"Action execution failed ({e})", "."]
    return "\n".join(lines) + "\n"


def _execute_except_outputs(provider, frame: bytes, actions, now: float,
                            in_port: int) -> None:
    """Run a traced packet's datapath actions without its outputs and recirculations
    (OVS execute_actions_except_outputs): packet-ins, meters and the like still happen."""
    pruned = _without_outputs(actions)
    if pruned:
        provider.dpif.execute(frame, pruned, now, provider.ofp_to_odp.get(in_port, 0))


def _without_outputs(actions) -> list:
    from pyvswitch.datapath import actions as dp
    kept = []
    for a in actions:
        if type(a) is dp.Clone:
            kept.append(dp.Clone(tuple(_without_outputs(a.actions))))
        elif type(a) not in (dp.Output, dp.Recirc):
            kept.append(a)
    return kept


def _megaflow_text(flow, out) -> str:
    """The megaflow as Open vSwitch's trace shows it: the fields the translation
    consulted, without pipeline fields, and without the VLAN or MPLS fields of a packet
    that has no such header (its datapath flow still tells tagged from untagged)."""
    mask = [w if s not in PIPELINE_SLOTS else 0 for s, w in enumerate(out.wc)]
    mask[Slot.VLAN_TCI] = out.tci_mask if flow[Slot.VLAN_TCI] & VLAN_CFI else 0
    if flow[Slot.ETH_TYPE] not in (0x8847, 0x8848):
        mask[Slot.MPLS_LSE] = 0
    text = format_match(Match(flow, mask)) or "in_port=ANY"
    rid = flow[Slot.RECIRC_ID]
    return f"recirc_id={rid:#x},eth,{text}" if rid else f"recirc_id=0,eth,{text}"
