"""os-ken app: count packet-ins (for rate-limit tests and the packet-in benchmark).

On connect it installs a table-miss flow (priority 0, match all) that sends whole packets
to the controller, then counts every PACKET_IN.  Every 100 ms it reports ``pin_count``
(cumulative ``count`` and ``by_reason``) so tests read rates without one event per
packet.  It is an ``Observer`` with commands, plus ``echo`` (answered by ``echo_reply``
with the command id), so a test can time echo and flow_mod+barrier round trips while the
switch is being flooded.
"""

from __future__ import annotations

from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib import hub

from osken_apps.common import Observer, report

REPORT_INTERVAL_S = 0.1


class PinCount(Observer):
    RUN_COMMANDS = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.count = 0
        self.by_reason: dict[int, int] = {}
        self._reported = -1

    def start(self):
        super().start()
        self.threads.append(hub.spawn(self._report_loop))

    def _report_loop(self):
        while self.is_active:
            hub.sleep(REPORT_INTERVAL_S)
            if self.count != self._reported:
                self._reported = self.count
                report("pin_count", count=self.count,
                       by_reason={str(k): v for k, v in self.by_reason.items()})

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def _install_table_miss(self, ev):
        dp = ev.msg.datapath
        ofp, parser = dp.ofproto, dp.ofproto_parser
        actions = [parser.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)]
        inst = [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)]
        dp.send_msg(parser.OFPFlowMod(dp, priority=0, match=parser.OFPMatch(),
                                      instructions=inst, buffer_id=ofp.OFP_NO_BUFFER))
        report("table_miss_installed")

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in(self, ev):
        self.count += 1
        reason = ev.msg.reason
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1

    @set_ev_cls(ofp_event.EventOFPEchoReply, MAIN_DISPATCHER)
    def _echo_reply(self, ev):
        report("echo_reply", xid=ev.msg.xid, cmd=self.pending.get(ev.msg.xid))

    def _cmd_echo(self, dp, ofp, parser, cmd):
        return parser.OFPEchoRequest(dp, b"pincount")
