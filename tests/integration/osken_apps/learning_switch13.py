"""A MAC-learning controller on os-ken, OpenFlow 1.3 (what Ryu's simple_switch_13 did).

os-ken 4.x no longer ships ``simple_switch_13``; this app behaves the same way, written
for our tests and demo: on connect it installs a table-miss flow sending whole packets to
the controller; on each packet-in it learns the source MAC's port, and when the
destination is known installs ``in_port,eth_src,eth_dst -> output`` (priority 1) so later
packets of that conversation never reach the controller; it then sends the packet on
(PACKET_OUT, flooding when the destination is unknown).  Each packet-in is logged as
``packet in DPID SRC DST IN_PORT`` and reported as a ``packet_in`` event.
"""

from __future__ import annotations

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib.packet import ethernet, packet
from os_ken.ofproto import ofproto_v1_3

from osken_apps import common


class LearningSwitch13(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mac_to_port: dict[int, dict[str, int]] = {}

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def switch_features(self, ev):
        dp = ev.msg.datapath
        parser, ofp = dp.ofproto_parser, dp.ofproto
        actions = [parser.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)]
        self.add_flow(dp, 0, parser.OFPMatch(), actions)
        common.report("features", datapath_id=dp.id)

    @staticmethod
    def add_flow(dp, priority, match, actions):
        parser, ofp = dp.ofproto_parser, dp.ofproto
        inst = [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)]
        dp.send_msg(parser.OFPFlowMod(datapath=dp, priority=priority, match=match,
                                      instructions=inst))

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def packet_in(self, ev):
        msg = ev.msg
        dp = msg.datapath
        parser, ofp = dp.ofproto_parser, dp.ofproto
        in_port = msg.match["in_port"]
        eth = packet.Packet(msg.data).get_protocols(ethernet.ethernet)[0]
        src, dst = eth.src, eth.dst
        self.logger.info("packet in %s %s %s %s", dp.id, src, dst, in_port)
        common.report("packet_in", src=src, dst=dst, in_port=in_port,
                      reason=msg.reason, total_len=msg.total_len)
        table = self.mac_to_port.setdefault(dp.id, {})
        table[src] = in_port
        out_port = table.get(dst, ofp.OFPP_FLOOD)
        actions = [parser.OFPActionOutput(out_port)]
        if out_port != ofp.OFPP_FLOOD:
            self.add_flow(dp, 1, parser.OFPMatch(in_port=in_port, eth_dst=dst, eth_src=src),
                          actions)
        dp.send_msg(parser.OFPPacketOut(datapath=dp, buffer_id=ofp.OFP_NO_BUFFER,
                                        in_port=in_port, actions=actions, data=msg.data))
