"""Shared pieces of the test apps: reporting, version choice, and the ``Observer`` base.

``report(event, **fields)`` appends one JSON object per line to ``$OSKEN_TEST_OUT`` with
``event``, ``t`` (``time.monotonic()``) and the fields.  Events an Observer writes:

=================  ======================================================================
``features``       datapath_id, n_tables, version (negotiated OpenFlow version)
``port_desc``      ports: [{port_no, name, hw_addr}], xid
``port_status``    reason, port_no, name, config, state
``error``          type, code, xid, cmd (id of the command that caused it, if any)
``role_reply``     role (name), role_code, generation_id, cmd
``role_status``    role (name), role_code, reason, generation_id (OF1.3 ONF 1911 or OF1.4)
``async_reply``    packet_in / port_status / flow_removed: [master_mask, slave_mask], cmd
``config_reply``   flags, miss_send_len, cmd
``barrier_reply``  cmd
``sent``           cmd, op, xid (a command went out)
``disconnected``   datapath_id
=================  ======================================================================

Commands (JSON lines in ``$OSKEN_TEST_CMD``; every one has ``id`` and ``op``):
``role`` (role: master|slave|equal|nochange, gen), ``get_async``, ``set_async``
(packet_in/port_status/flow_removed: [master, slave]), ``get_config``, ``set_config``
(flags, miss_send_len), ``port_mod`` (port, config, mask), ``flow_mod``, ``packet_out``,
``group_mod`` (group, out_port), ``meter_mod`` (meter), ``table_mod`` (table, config),
``barrier``.
"""

from __future__ import annotations

import json
import os
import struct
import time

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import (
    CONFIG_DISPATCHER, DEAD_DISPATCHER, HANDSHAKE_DISPATCHER, MAIN_DISPATCHER, set_ev_cls,
)
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_3, ofproto_v1_4

OUT = os.environ.get("OSKEN_TEST_OUT", "")
CMD = os.environ.get("OSKEN_TEST_CMD", "")

ROLE_NAMES = {0: "nochange", 1: "equal", 2: "master", 3: "slave"}
ROLE_CODES = {v: k for k, v in ROLE_NAMES.items()}
ONF_EXPERIMENTER = 0x4F4E4600
ONFT_ROLE_STATUS = 1911

_VERSIONS = {"1.3": ofproto_v1_3.OFP_VERSION, "1.4": ofproto_v1_4.OFP_VERSION}


def ofp_versions() -> list[int]:
    """OpenFlow versions this process accepts ($OSKEN_TEST_OFP, e.g. "1.3" or "1.3,1.4")."""
    names = os.environ.get("OSKEN_TEST_OFP", "1.3")
    return [_VERSIONS[n.strip()] for n in names.split(",") if n.strip()]


def report(event: str, **fields) -> None:
    line = json.dumps({"event": event, "t": time.monotonic(), **fields}, default=str)
    if not OUT:
        print(line, flush=True)
        return
    with open(OUT, "a") as f:
        f.write(line + "\n")


def _mac(value) -> str:
    if isinstance(value, (bytes, bytearray)):
        return ":".join(f"{b:02x}" for b in value)
    return str(value)


class Observer(app_manager.OSKenApp):
    """Records what the switch sends; with ``RUN_COMMANDS`` also runs test commands."""

    OFP_VERSIONS = ofp_versions()
    RUN_COMMANDS = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dp = None
        self.ports: dict[int, str] = {}        # port_no -> hw_addr
        self.pending: dict[int, int] = {}       # xid -> command id
        self._cmd_offset = 0

    def start(self):
        super().start()
        if self.RUN_COMMANDS and CMD:
            self.threads.append(hub.spawn(self._command_loop))

    # --- what the switch sends --------------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def _features(self, ev):
        msg = ev.msg
        dp = msg.datapath
        self.dp = dp
        report("features", datapath_id=msg.datapath_id, n_tables=msg.n_tables,
               version=dp.ofproto.OFP_VERSION, n_buffers=msg.n_buffers)
        req = dp.ofproto_parser.OFPPortDescStatsRequest(dp, 0)
        dp.set_xid(req)
        dp.send_msg(req)

    @set_ev_cls(ofp_event.EventOFPPortDescStatsReply, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def _port_desc(self, ev):
        ports = []
        for p in ev.msg.body:
            self.ports[p.port_no] = p.hw_addr
            name = p.name.decode() if isinstance(p.name, bytes) else p.name
            ports.append({"port_no": p.port_no, "name": name.rstrip("\0"),
                          "hw_addr": _mac(p.hw_addr)})
        report("port_desc", ports=ports, xid=ev.msg.xid)

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def _port_status(self, ev):
        msg = ev.msg
        name = msg.desc.name.decode() if isinstance(msg.desc.name, bytes) else msg.desc.name
        report("port_status", reason=msg.reason, port_no=msg.desc.port_no,
               name=name.rstrip("\0"), config=msg.desc.config, state=msg.desc.state)

    @set_ev_cls(ofp_event.EventOFPErrorMsg,
                [HANDSHAKE_DISPATCHER, CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def _error(self, ev):
        msg = ev.msg
        report("error", type=msg.type, code=msg.code, xid=msg.xid,
               cmd=self.pending.get(msg.xid))

    @set_ev_cls(ofp_event.EventOFPRoleReply, MAIN_DISPATCHER)
    def _role_reply(self, ev):
        msg = ev.msg
        report("role_reply", role=ROLE_NAMES.get(msg.role, msg.role), role_code=msg.role,
               generation_id=msg.generation_id, xid=msg.xid, cmd=self.pending.get(msg.xid))

    @set_ev_cls(ofp_event.EventOFPRoleStatus, MAIN_DISPATCHER)
    def _role_status_of14(self, ev):
        msg = ev.msg
        report("role_status", role=ROLE_NAMES.get(msg.role, msg.role), role_code=msg.role,
               reason=msg.reason, generation_id=msg.generation_id, encoding="OF1.4")

    @set_ev_cls(ofp_event.EventOFPExperimenter, MAIN_DISPATCHER)
    def _experimenter(self, ev):
        msg = ev.msg
        if msg.experimenter == ONF_EXPERIMENTER and msg.exp_type == ONFT_ROLE_STATUS:
            role, reason, gen = struct.unpack_from("!IB3xQ", bytes(msg.data))
            report("role_status", role=ROLE_NAMES.get(role, role), role_code=role,
                   reason=reason, generation_id=gen, encoding="ONF1911")
        else:
            report("experimenter", experimenter=msg.experimenter, exp_type=msg.exp_type)

    @set_ev_cls(ofp_event.EventOFPGetAsyncReply, MAIN_DISPATCHER)
    def _async_reply(self, ev):
        msg = ev.msg
        fields = {}
        if hasattr(msg, "packet_in_mask"):      # OF1.3: [master, slave] lists
            fields = {"packet_in": list(msg.packet_in_mask),
                      "port_status": list(msg.port_status_mask),
                      "flow_removed": list(msg.flow_removed_mask)}
        else:                                   # OF1.4+: one property per (kind, role)
            by_type = {p.type: p.mask for p in msg.properties}
            for i, kind in enumerate(("packet_in", "port_status", "flow_removed",
                                      "role_status", "table_status", "requestforward")):
                fields[kind] = [by_type.get(2 * i + 1), by_type.get(2 * i)]
        report("async_reply", xid=msg.xid, cmd=self.pending.get(msg.xid), **fields)

    @set_ev_cls(ofp_event.EventOFPGetConfigReply, MAIN_DISPATCHER)
    def _config_reply(self, ev):
        msg = ev.msg
        report("config_reply", flags=msg.flags, miss_send_len=msg.miss_send_len,
               xid=msg.xid, cmd=self.pending.get(msg.xid))

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def _barrier_reply(self, ev):
        report("barrier_reply", xid=ev.msg.xid, cmd=self.pending.get(ev.msg.xid))

    @set_ev_cls(ofp_event.EventOFPStateChange, DEAD_DISPATCHER)
    def _dead(self, ev):
        if ev.datapath is self.dp:
            self.dp = None
        report("disconnected", datapath_id=ev.datapath.id)

    # --- commands from the test -------------------------------------------------------
    def _command_loop(self):
        while self.is_active:
            hub.sleep(0.05)
            if self.dp is None or self.dp.state != MAIN_DISPATCHER:
                continue
            try:
                with open(CMD) as f:
                    f.seek(self._cmd_offset)
                    chunk = f.read()
            except OSError:
                continue
            end = chunk.rfind("\n")
            if end < 0:
                continue
            self._cmd_offset += len(chunk[:end + 1].encode())
            for line in chunk[:end + 1].splitlines():
                if line.strip():
                    self._run_command(json.loads(line))

    def _run_command(self, cmd: dict) -> None:
        dp = self.dp
        try:
            msg = getattr(self, "_cmd_" + cmd["op"])(dp, dp.ofproto, dp.ofproto_parser, cmd)
        except Exception as e:  # a bad command is the test's bug: say so in the events
            report("command_failed", cmd=cmd.get("id"), op=cmd.get("op"), error=repr(e))
            return
        dp.set_xid(msg)
        self.pending[msg.xid] = cmd["id"]
        dp.send_msg(msg)
        report("sent", cmd=cmd["id"], op=cmd["op"], xid=msg.xid)

    def _cmd_role(self, dp, ofp, parser, cmd):
        role = ROLE_CODES[cmd.get("role", "nochange")]
        return parser.OFPRoleRequest(dp, role, cmd.get("gen", 0))

    def _cmd_get_async(self, dp, ofp, parser, cmd):
        return parser.OFPGetAsyncRequest(dp)

    def _cmd_set_async(self, dp, ofp, parser, cmd):
        if ofp.OFP_VERSION == ofproto_v1_3.OFP_VERSION:
            return parser.OFPSetAsync(dp, cmd["packet_in"], cmd["port_status"],
                                      cmd["flow_removed"])
        props = []
        for i, kind in enumerate(("packet_in", "port_status", "flow_removed")):
            master, slave = cmd[kind]
            props.append(parser.OFPAsyncConfigPropReasons(2 * i + 1, mask=master))
            props.append(parser.OFPAsyncConfigPropReasons(2 * i, mask=slave))
        return parser.OFPSetAsync(dp, props)

    def _cmd_get_config(self, dp, ofp, parser, cmd):
        return parser.OFPGetConfigRequest(dp)

    def _cmd_set_config(self, dp, ofp, parser, cmd):
        return parser.OFPSetConfig(dp, cmd.get("flags", 0), cmd["miss_send_len"])

    def _cmd_port_mod(self, dp, ofp, parser, cmd):
        port = cmd["port"]
        return parser.OFPPortMod(dp, port, self.ports[port], cmd.get("config", 0),
                                 cmd.get("mask", 0))

    def _cmd_flow_mod(self, dp, ofp, parser, cmd):
        match = parser.OFPMatch(in_port=cmd.get("in_port", 1))
        actions = [parser.OFPActionOutput(cmd.get("out_port", 2))]
        inst = [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)]
        return parser.OFPFlowMod(dp, priority=100, match=match, instructions=inst,
                                 buffer_id=ofp.OFP_NO_BUFFER)

    def _cmd_packet_out(self, dp, ofp, parser, cmd):
        frame = bytes.fromhex("ffffffffffff020000000001" "88b5") + b"\0" * 46
        actions = [parser.OFPActionOutput(cmd.get("out_port", 1))]
        if ofp.OFP_VERSION >= ofproto_v1_4.OFP_VERSION + 1:   # OF1.5 packet_out has a match
            return parser.OFPPacketOut(dp, ofp.OFP_NO_BUFFER,
                                       parser.OFPMatch(in_port=ofp.OFPP_CONTROLLER),
                                       actions, frame)
        return parser.OFPPacketOut(dp, ofp.OFP_NO_BUFFER, ofp.OFPP_CONTROLLER, actions, frame)

    def _cmd_group_mod(self, dp, ofp, parser, cmd):
        buckets = [parser.OFPBucket(actions=[parser.OFPActionOutput(cmd.get("out_port", 1))])]
        return parser.OFPGroupMod(dp, ofp.OFPGC_ADD, ofp.OFPGT_ALL, cmd.get("group", 1),
                                  buckets)

    def _cmd_meter_mod(self, dp, ofp, parser, cmd):
        bands = [parser.OFPMeterBandDrop(rate=1000, burst_size=0)]
        return parser.OFPMeterMod(dp, ofp.OFPMC_ADD, ofp.OFPMF_KBPS, cmd.get("meter", 1),
                                  bands)

    def _cmd_table_mod(self, dp, ofp, parser, cmd):
        return parser.OFPTableMod(dp, cmd.get("table", 0), cmd.get("config", 0))

    def _cmd_barrier(self, dp, ofp, parser, cmd):
        return parser.OFPBarrierRequest(dp)
