"""With in-band control, DHCP replies always reach the bridge's LOCAL port too (OVS
in_band_must_output_to_local_port), whatever the flow tables say."""

from pyvswitch.config.model import (
    BridgeConfig, ControllerConfig, InterfaceConfig, PortConfig, SwitchConfig,
)
from pyvswitch.datapath.actions import Output
from pyvswitch.openflow.flow_parse import parse_flow, parse_match
from pyvswitch.openflow.messages import FlowMod
from pyvswitch.openflow.ofpacts import OFPP_LOCAL
from pyvswitch.ofproto_dpif.xlate import translate
from pyvswitch.packet.fields import Slot
from pyvswitch.vswitchd.bridge import Bridges


def _bridge(tmp_path, controllers=()):
    bridges = Bridges(str(tmp_path))
    ports = {n: PortConfig(n, (InterfaceConfig(n, type="dummy", ofport_request=i),))
             for i, n in ((1, "p1"), (2, "p2"))}
    bridges.reconfigure(SwitchConfig(bridges={"br0": BridgeConfig(
        name="br0", datapath_type="dummy", ports=ports, fail_mode="secure",
        controllers=tuple(ControllerConfig(t, connection_mode=m) for t, m in controllers))}),
        0)
    br = bridges.bridges["br0"]
    br.ofproto.connmgr.in_band_lookup = lambda ip: None
    match, instructions, _ = parse_flow("udp,actions=output:2")
    br.ofproto.flows.apply_flow_mod(FlowMod(match=match, instructions=instructions,
                                            table_id=0, priority=10), 0)
    bridges.run(10)
    return bridges, br


def _outputs(br, text: str) -> tuple[list[int], list[int]]:
    out = translate(br.provider, tuple(parse_match(text).values), 20)
    return [a.port for a in out.actions if isinstance(a, Output)], out.wc


def test_dhcp_replies_also_go_to_local_with_in_band(tmp_path):
    bridges, br = _bridge(tmp_path, [("tcp:192.0.2.1:6653", None)])
    try:
        local, p2 = br.provider.ofp_to_odp[OFPP_LOCAL], br.provider.ofp_to_odp[2]
        ports, wc = _outputs(br, "in_port=1,udp,tp_src=67,tp_dst=68")
        assert ports == [p2, local]
        assert wc[Slot.TP_SRC] == 0xFFFF and wc[Slot.TP_DST] == 0xFFFF
        # Other UDP is left alone, and still matched on the ports it was checked on.
        ports, wc = _outputs(br, "in_port=1,udp,tp_src=68,tp_dst=67")
        assert ports == [p2] and wc[Slot.TP_SRC] == 0xFFFF
    finally:
        bridges.close(100)


def test_no_extra_output_without_in_band(tmp_path):
    bridges, br = _bridge(tmp_path, [("tcp:192.0.2.1:6653", "out-of-band")])
    try:
        ports, wc = _outputs(br, "in_port=1,udp,tp_src=67,tp_dst=68")
        assert ports == [br.provider.ofp_to_odp[2]]
        assert wc[Slot.TP_SRC] == 0
    finally:
        bridges.close(100)
