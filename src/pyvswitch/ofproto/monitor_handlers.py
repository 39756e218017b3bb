"""OpenFlow handlers for flow monitors: FLOW_MONITOR requests (OF1.4+ multipart 16, ONF
1870 for OpenFlow 1.3, NXST_FLOW_MONITOR for OpenFlow 1.0) and NXT / ONFT
FLOW_MONITOR_CANCEL (OVS ofproto.c handle_flow_monitor_request,
handle_flow_monitor_cancel).

What this module owns
---------------------
The glue between the monitor messages and the session's ``monitors.SessionMonitors``: a
request (possibly in several pieces) adds, modifies or deletes monitors; on success the
reply lists the flows the new INITIAL monitors select as INITIAL events; on an error the
monitors that request created are removed again and one error is returned
(OFPMOFC_MONITOR_EXISTS, OFPMOFC_UNKNOWN_MONITOR, OFPMOFC_BAD_FLAGS,
OFPBRC_BAD_TABLE_ID).  Later events are sent by ``monitors.MonitorHub``.

Must not import: ``vswitchd``.
"""

from __future__ import annotations

from pyvswitch.ofproto.handlers import handles
from pyvswitch.ofproto.monitors import initial_updates
from pyvswitch.openflow.wire_monitor import (
    FlowMonitorCancel, FlowMonitorReply, FlowMonitorRequest,
)


@handles(FlowMonitorRequest)
def _flow_monitor(ofproto, ofconn, msg, xid, now):
    reqs = msg if isinstance(msg, list) else [msg]
    flows = ofproto.flows
    created = ofconn.monitors.apply(reqs, len(flows.tables))
    ofconn.send(FlowMonitorReply(tuple(initial_updates(flows, created))), xid)


@handles(FlowMonitorCancel)
def _flow_monitor_cancel(ofproto, ofconn, msg: FlowMonitorCancel, xid, now):
    ofconn.monitors.delete(msg.monitor_id)
