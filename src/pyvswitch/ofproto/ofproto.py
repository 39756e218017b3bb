"""ofproto: one bridge's OpenFlow switch (OVS ofproto/ofproto.c, the state half).

What this module owns
---------------------
* The switch's identity: name, datapath id, descriptions, number of tables.
* Its **OpenFlow ports**: ``OfPort`` binds an OpenFlow port number to a network device,
  with the config bits a controller sets (PORT_MOD) and the state bits the device reports.
  Port numbers honour ``ofport_request`` and otherwise take the lowest free number; the
  bridge's own port is OFPP_LOCAL.  Adding, removing or changing a port sends PORT_STATUS.
* Its ``ConnMgr`` and the entry point for every received OpenFlow message
  (``handle_openflow``), which decodes, enforces roles, and dispatches to
  ``ofproto/handlers.py``; errors become OFPT_ERROR replies and never escape.

Life cycle: created by the bridge layer, then ``run(now)``/``wait(poller, now)`` on every
poll-loop pass, ``close(now)`` at the end.  ``now`` is a parameter (milliseconds).

Must not import: ``vswitchd``, ``config`` sources.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from pyvswitch import __version__
from pyvswitch.ofproto import handlers
from pyvswitch.ofproto.connmgr import ConnMgr
from pyvswitch.ofproto import flow_handlers  # noqa: F401  (registers handlers)
from pyvswitch.ofproto import group_handlers  # noqa: F401  (registers handlers)
from pyvswitch.ofproto import bundle_handlers  # noqa: F401  (registers handlers)
from pyvswitch.ofproto import monitor_handlers  # noqa: F401  (registers handlers)
from pyvswitch.ofproto.groups import GroupTable
from pyvswitch.ofproto.meters import MeterTable
from pyvswitch.ofproto.tables import FlowTables
from pyvswitch.ofproto.ofconn import OfConn
from pyvswitch.openflow import codec
from pyvswitch.openflow import registry as R
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages import (
    ROLE_SLAVE, OFPPC_PORT_DOWN, OFPPR_ADD, OFPPR_DELETE, OFPPR_MODIFY, OFPPS_LINK_DOWN, OFPPS_LIVE,
    PortDesc, PortStatus, OFPFC_ADD, FlowMod,
)
from pyvswitch.openflow.multipart import MultipartAssembler
from pyvswitch.openflow.ofpacts import OFPP_LOCAL, OFPP_MAX, OFPP_NORMAL, Instructions, Output
from pyvswitch.packet.fields import Match
from pyvswitch.util.vlog import Logger

log = Logger("ofproto")

N_TABLES = 254
#: Message types by version, for the fast paths of ``handle_openflow``.
_BARRIER_REQUEST = R.TYPES["BARRIER_REQUEST"]
_BARRIER_REPLY = {v: bytes((v, t, 0, 8)) for v, t in R.TYPES["BARRIER_REPLY"].items()}
_MP_REQUEST = R.TYPES["MP_REQUEST"]
_RAW_HANDLERS = handlers.RAW_HANDLERS
AUTO_PORT_LIMIT = 32768          # automatic numbers stay below; the rest is for requests
PORT_REUSE_DELAY_MS = 3_600_000  # a freed number is not handed out again for an hour
# Port feature bits (OF1.1+ layout): 10 Gb full duplex, copper.
OFPPF_10GB_FD = 1 << 6
OFPPF_COPPER = 1 << 11


@dataclass
class OfPort:
    """One OpenFlow port: a number bound to a network device."""

    ofp_port: int
    name: str
    netdev: object          # netdev.base.Netdev
    config: int = 0         # OFPPC_* bits set by controllers
    created_ms: float = 0   # when the port was added (port stats durations)
    change_seq: int = -1    # the netdev's change_seq when last looked at
    last_desc: PortDesc | None = None

    def desc(self) -> PortDesc:
        nd = self.netdev
        carrier = bool(getattr(nd, "carrier", True))
        up = bool(getattr(nd, "admin_up", True))
        state = 0 if carrier else OFPPS_LINK_DOWN
        if carrier and up and not self.config & OFPPC_PORT_DOWN:
            state |= OFPPS_LIVE
        config = self.config | (0 if up else OFPPC_PORT_DOWN)
        hw = getattr(nd, "hwaddr", b"\0" * 6)
        return PortDesc(port_no=self.ofp_port, hw_addr=bytes(hw), name=self.name,
                        config=config, state=state,
                        curr=OFPPF_10GB_FD | OFPPF_COPPER,
                        advertised=0, supported=0, peer=0,
                        curr_speed=10_000_000, max_speed=0)


# Message types a slave may not send, by version (checked on the raw header, before
# decoding, as OVS does): PACKET_OUT, FLOW_MOD, GROUP_MOD, PORT_MOD, TABLE_MOD, METER_MOD,
# BUNDLE_CONTROL, BUNDLE_ADD_MESSAGE; and the Nicira/ONF experimenter equivalents.
_SLAVE_REFUSED = {
    0x01: {13, 14, 15},
    0x04: {13, 14, 15, 16, 17, 29},
    0x05: {13, 14, 15, 16, 17, 29, 33, 34},
    0x06: {13, 14, 15, 16, 17, 29, 33, 34},
}
_SLAVE_REFUSED_EXPERIMENTER = {(0x00002320, 13), (0x00002320, 31), (0x00002320, 24),
                               (0x4F4E4600, 2300), (0x4F4E4600, 2301)}


def is_state_changing(raw: bytes) -> bool:
    """True for a request that changes the switch (refused from a slave)."""
    if len(raw) < 8:
        return False
    if raw[1] in _SLAVE_REFUSED.get(raw[0], ()):
        return True
    if raw[1] == 4 and len(raw) >= 16:
        key = (int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big"))
        return key in _SLAVE_REFUSED_EXPERIMENTER
    return False


class Ofproto:
    """The OpenFlow switch of one bridge."""

    def __init__(self, name: str, datapath_id: int) -> None:
        self.name = name
        self.datapath_id = datapath_id
        self.ports: dict[int, OfPort] = {}
        self.ports_by_name: dict[str, OfPort] = {}
        self.connmgr = ConnMgr(name, self.handle_openflow)
        self.connmgr.ofproto = self   # fail-open and in-band add hidden flows through us
        self.mfr_desc = "Open vSwitch compatible (pyvswitch)"
        self.hw_desc = "pyvswitch"
        self.sw_desc = f"pyvswitch {__version__}"
        self.serial_desc = "None"
        self.dp_desc = name
        self._assemblers: dict[int, MultipartAssembler] = {}
        self.n_openflow_received = 0
        self.provider = None         # ofproto.provider.OfprotoProvider, set by the bridge
        self.fail_mode = "standalone"
        self.flows = FlowTables(self)  # the OpenFlow tables (ofproto/tables.py)
        self.flows.observers.append(self.connmgr.monitors.report)   # flow monitors
        self.groups = GroupTable(self)   # ofproto/groups.py
        self.meters = MeterTable(self)   # ofproto/meters.py
        self.n_handler_crashes = 0   # unexpected exceptions caught (each one is a bug)
        self.last_crash = ""
        self._alloc_port_no = 0      # the last port number handed out automatically
        self._port_freed_at: dict[int, float] = {}   # number -> when its port went

    # --- ports ------------------------------------------------------------------------
    def alloc_port_number(self, requested: int | None, now: float = 0) -> int:
        """The requested number if free, else as OVS alloc_ofp_port: the next number
        after the last one handed out (1..32767, wrapping), skipping numbers in use and
        those freed within the hour; if all are, the one freed longest ago."""
        if requested is not None and requested not in self.ports and requested < OFPP_MAX:
            number = requested
        else:
            start = self._alloc_port_no
            lru, lru_at = None, float("inf")
            while True:
                self._alloc_port_no += 1
                if self._alloc_port_no >= AUTO_PORT_LIMIT:
                    self._alloc_port_no = 1
                n = self._alloc_port_no
                if n not in self.ports:
                    freed = self._port_freed_at.get(n)
                    if freed is None or freed < now - PORT_REUSE_DELAY_MS:
                        number = n
                        break
                    if freed < lru_at:
                        lru, lru_at = n, freed
                if n == start or (start == 0 and n == AUTO_PORT_LIMIT - 1):
                    if lru is None:
                        raise ValueError("no OpenFlow port number left")
                    number = lru
                    break
        self._port_freed_at.pop(number, None)
        return number

    def add_port(self, name: str, netdev, ofp_port: int | None = None,
                 local: bool = False, now: float = 0) -> OfPort:
        number = OFPP_LOCAL if local else self.alloc_port_number(ofp_port, now)
        port = OfPort(number, name, netdev, created_ms=now)
        self.ports[number] = port
        self.ports_by_name[name] = port
        if self.provider is not None:
            self.provider.port_added(port)
        self.connmgr.send_async("port_status", OFPPR_ADD, PortStatus(OFPPR_ADD, port.desc()))
        return port

    def del_port(self, name: str, now: float = 0) -> None:
        port = self.ports_by_name.pop(name, None)
        if port is None:
            return
        del self.ports[port.ofp_port]
        if port.ofp_port != OFPP_LOCAL:
            self._port_freed_at[port.ofp_port] = now
        if self.provider is not None:
            self.provider.port_removed(port)
        self.connmgr.send_async("port_status", OFPPR_DELETE,
                                PortStatus(OFPPR_DELETE, port.desc()))

    def port_changed(self, port: OfPort, old_desc: PortDesc,
                     source: OfConn | None = None) -> None:
        """Send PORT_STATUS MODIFY if ``port``'s description moved since ``old_desc``.

        A change caused by a PORT_MOD is not echoed to the connection that sent it, except
        on OpenFlow 1.5 (as OVS)."""
        new_desc = port.desc()
        if new_desc == old_desc:
            return
        if self.provider is not None:
            self.provider.port_modified(port)
        for ofconn in self.connmgr.all_ofconns():
            if ofconn is source and ofconn.version < 0x06:
                continue
            if ofconn.receives_async("port_status", OFPPR_MODIFY):
                ofconn.send(PortStatus(OFPPR_MODIFY, new_desc))

    def _poll_port_changes(self) -> None:
        """A device's carrier, admin state, MAC or MTU moved: tell controllers (PORT_STATUS
        MODIFY) and the provider (fast-failover liveness, flooding), as OVS update_port."""
        for port in list(self.ports.values()):
            seq = getattr(port.netdev, "change_seq", 0)
            if seq != port.change_seq:
                port.change_seq = seq
                old, port.last_desc = port.last_desc, port.desc()
                if old is not None:
                    self.port_changed(port, old)

    def port_descs(self) -> list[PortDesc]:
        local = [p for n, p in self.ports.items() if n == OFPP_LOCAL]
        others = sorted((p for n, p in self.ports.items() if n != OFPP_LOCAL),
                        key=lambda p: p.ofp_port)
        return [p.desc() for p in others + local]

    # --- fail modes and flushing ------------------------------------------------------
    def set_fail_mode(self, mode: str | None, now: float) -> None:
        """``standalone`` (the default) or ``secure``; with no primary controller a change
        flushes the tables (and standalone re-adds its NORMAL flow), as OVS does."""
        mode = mode or "standalone"
        if mode == self.fail_mode:
            return
        self.fail_mode = mode
        if not self.connmgr.has_primary_controllers():
            self.flush(now)

    def flush(self, now: float) -> None:
        """Delete every flow, group and meter (OVS ofproto_flush), then re-add what the
        switch itself owns."""
        self.flows.flush(now)
        self.groups.delete_all(now)
        self.meters.delete_all(now)
        self.flushed(now)

    def flushed(self, now: float) -> None:
        """After a flush: a standalone bridge without primary controllers is a learning
        switch, through a visible ``priority=0,actions=NORMAL`` flow (connmgr_flushed).
        Fail-open and in-band put their hidden flows back first."""
        self.connmgr.flushed(now)
        if self.fail_mode == "standalone" and not self.connmgr.has_primary_controllers():
            self.flows.apply_flow_mod(FlowMod(
                match=Match(), instructions=Instructions(apply=(Output(OFPP_NORMAL),)),
                command=OFPFC_ADD, table_id=0, priority=0), now)

    # --- OpenFlow ---------------------------------------------------------------------
    def handle_openflow(self, ofconn: OfConn, raw: bytes, now: float) -> None:
        """Handle one received message; every failure becomes an OFPT_ERROR reply."""
        self.n_openflow_received += 1
        version, mtype = raw[0], raw[1]
        if mtype == _BARRIER_REQUEST.get(version) and len(raw) == 8:
            # The commonest message (ovs-ofctl sends one after every flow_mod): every
            # earlier message is already handled, so the reply is just the header.
            ofconn.request_raw = raw
            ofconn.request_xid = int.from_bytes(raw[4:8], "big")
            ofconn.rconn.send(_BARRIER_REPLY[version] + raw[4:8], ofconn.reply_counter)
            return
        try:
            raw_handler = _RAW_HANDLERS.get((version, mtype))
            if raw_handler is not None and ofconn.role != ROLE_SLAVE:
                ofconn.request_raw = raw
                ofconn.request_xid = xid = int.from_bytes(raw[4:8], "big")
                if raw_handler(self, ofconn, raw, xid, now):
                    return
            if ofconn.role == ROLE_SLAVE and is_state_changing(raw):
                raise OFPError("OFPBRC_IS_SLAVE")
            if mtype == _MP_REQUEST.get(version):
                assembler = self._assemblers.get(id(ofconn))
                if assembler is None:
                    assembler = self._assemblers[id(ofconn)] = MultipartAssembler()
                pieces = assembler.feed(raw, now)
                if not assembler.partials:      # kept only while a request is partial
                    del self._assemblers[id(ofconn)]
                if not pieces:
                    return
            else:
                pieces = (raw,)
            first = pieces[0]
            ofconn.request_raw = first
            ofconn.request_xid = int.from_bytes(first[4:8], "big")
            opts = ofconn.decode_options()
            msgs = ([codec.decode(first, opts)] if len(pieces) == 1
                    else [codec.decode(p, opts) for p in pieces])
            handlers.dispatch(self, ofconn, msgs, first, now)
        except OFPError as err:
            ofconn.rconn.send(codec.error_reply(err, raw), ofconn.reply_counter)
        except Exception:  # fault isolation: one bad message never stops the switch
            self.n_handler_crashes += 1
            self.last_crash = traceback.format_exc()
            log.exception("%s: unexpected error handling a message from %s", self.name,
                          ofconn.name)
            ofconn.rconn.send(codec.error_reply(OFPError("OFPBRC_EPERM"), raw),
                              ofconn.reply_counter)

    # --- the loop ---------------------------------------------------------------------
    def run(self, now: float) -> None:
        self._poll_port_changes()
        self.connmgr.run(now)
        self.flows.run(now)
        if self._assemblers:
            self._run_assemblers(now)

    def _run_assemblers(self, now: float) -> None:
        """Forget the multipart assemblers of closed sessions; time out partial ones."""
        live = {id(c) for c in self.connmgr.all_ofconns()}
        for key in [k for k in self._assemblers if k not in live]:
            del self._assemblers[key]
        for ofconn in self.connmgr.all_ofconns():
            assembler = self._assemblers.get(id(ofconn))
            if assembler is not None and assembler.partials:
                for err in assembler.run(now):
                    ofconn.rconn.send(codec.error_reply(err, err.data or b""),
                                      ofconn.reply_counter)

    def wait(self, poller, now: float) -> None:
        self.connmgr.wait(poller, now)
        self.flows.wait(poller, now)
        for assembler in self._assemblers.values():
            if assembler.partials:
                poller.timer_wait_until(min(p.deadline for p in assembler.partials.values()))

    def close(self, now: float) -> None:
        self.connmgr.close(now)
