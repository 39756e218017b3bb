"""OfprotoDpif: the ofproto provider over a userspace datapath (OVS ofproto-dpif.c).

What this module owns
---------------------
The glue between one bridge's OpenFlow switch (``ofproto.Ofproto``) and a datapath
(``datapath.dpif``): the OpenFlow <-> datapath port maps, the MAC table NORMAL uses, the
upcall handler and its revalidation, the recirculation ids of frozen translations
(``recirc.py``), PACKET_OUT execution, and the gathering of
packet-ins: every packet-in the datapath hands up joins the bridge's bounded
``packet_ins`` queue (``ofproto/packet_in.py``, 1024 at most, excess dropped and counted)
and ``run`` hands the queue to connmgr once the datapath work of the pass is done (OVS
ofproto_dpif_send_async_msg).  During flow-restore-wait (``set_flow_restore_wait``) no
upcall is handled (so no datapath flow is installed) and gathered packet-ins wait; when
it ends the datapath's flows are flushed, as OVS type_run does.

It implements ``ofproto.provider.OfprotoProvider``; the bridge layer creates it and sets
``ofproto.provider``.  Time model: ``now`` (ms) is a parameter.
Must not import: ``vswitchd``.
"""

from __future__ import annotations

from pyvswitch.datapath.dpif_netdev import DpifNetdev
from pyvswitch.openflow import ofpacts as of
from pyvswitch.openflow.errors import OFPError
from pyvswitch.packet.extract import extract
from pyvswitch.packet.fields import Slot
from pyvswitch.ofproto import packet_in
from pyvswitch.ofproto_dpif.mac_learning import MacTable
from pyvswitch.ofproto_dpif.recirc import RecircTable
from pyvswitch.ofproto_dpif.upcall import UpcallHandler
from pyvswitch.ofproto_dpif.xlate_group import translation_failed
from pyvswitch.ofproto_dpif.xlate import PIN_IMPLICIT_MISS, PacketInCookie, translate_actions
from pyvswitch.util.vlog import Logger

log = Logger("ofproto_dpif")

MAC_EXPIRE_INTERVAL_MS = 1000


class OfprotoDpif:
    """The provider for one bridge (see module docstring)."""

    def __init__(self, ofproto, dpif: DpifNetdev | None = None) -> None:
        self.ofproto = ofproto
        self.dpif = dpif if dpif is not None else DpifNetdev(f"{ofproto.name}@dp")
        self.ofp_to_odp: dict[int, int] = {}
        self.odp_to_ofp: dict[int, int] = {}
        self.mac_table = MacTable()
        self.port_vlans: dict[int, tuple] = {}
        self.wants_packet_in_on_miss = False
        self.may_learn = True
        self.recirc = RecircTable()      # frozen translations, by recirculation id
        self.upcalls = UpcallHandler(self, self.dpif)
        self.need_revalidate = False
        # Flow-table commits since the last revalidation as (added, removed) rule lists:
        # only the cached flows those rules can affect are re-translated
        # (upcall.revalidate_rules), unless something else asks for a full pass.
        self._rule_changes: list = []
        self.next_mac_expire = 0.0
        self.packet_ins = packet_in.PacketInQueue()
        self.n_packet_ins = 0            # packet-ins at least one session took
        self.flow_restore_wait = False
        ofproto.provider = self
        ofproto.packet_in_formats = packet_in.SUPPORTED_FORMATS
        for port in list(ofproto.ports.values()):
            self.port_added(port)

    # --- ports ------------------------------------------------------------------------
    def port_added(self, port) -> None:
        odp = self.dpif.port_add(port.netdev)
        self.ofp_to_odp[port.ofp_port] = odp
        self.odp_to_ofp[odp] = port.ofp_port
        self.need_revalidate = True

    def port_removed(self, port) -> None:
        odp = self.ofp_to_odp.pop(port.ofp_port, None)
        if odp is not None:
            self.odp_to_ofp.pop(odp, None)
            self.dpif.port_del(odp)
        self.mac_table.flush(port.ofp_port)
        self.port_vlans.pop(port.ofp_port, None)
        self.need_revalidate = True

    def port_modified(self, port) -> None:
        self.need_revalidate = True

    def set_port_vlan(self, ofp_port: int, mode: str | None, tag: int | None,
                      trunks: tuple[int, ...]) -> None:
        new = (mode, tag, tuple(trunks))
        if self.port_vlans.get(ofp_port) != new:
            self.port_vlans[ofp_port] = new
            self.mac_table.flush()
            self.need_revalidate = True

    # --- provider hooks ---------------------------------------------------------------
    def tables_changed(self) -> None:
        """Groups or meters changed: every cached flow may translate differently."""
        self.need_revalidate = True

    def rules_changed(self, added, removed) -> None:
        """A flow-table commit: ``added`` rules, ``removed`` (rule, reason) pairs."""
        if len(self._rule_changes) < 64:
            self._rule_changes.append((added, [rule for rule, _ in removed]))
        else:                           # too many to be worth sorting out
            self.need_revalidate = True

    def packet_out(self, in_port: int, actions, packet: bytes, now: float) -> None:
        if in_port not in self.ofproto.ports and in_port not in (
                of.OFPP_CONTROLLER, of.OFPP_LOCAL, of.OFPP_NONE):
            raise OFPError("OFPBRC_BAD_PORT", f"in_port {in_port}")
        odp_in = self.ofp_to_odp.get(in_port, 0)
        flow = list(extract(packet, odp_in))
        flow[Slot.IN_PORT] = in_port
        xout = translate_actions(self, tuple(flow), actions, now)
        if translation_failed(xout):
            raise OFPError("OFPFMFC_UNKNOWN", "the actions loop through groups")
        for rule in xout.rules:
            rule.add_stats(1, len(packet), now)
        self.dpif.execute(packet, xout.actions, now, odp_in)

    def set_flow_restore_wait(self, waiting: bool, now: float) -> None:
        """other_config:flow-restore-wait: while set, misses are dropped unhandled and
        packet-ins are held; once cleared, cached flows start over."""
        if waiting == self.flow_restore_wait:
            return
        self.flow_restore_wait = waiting
        self.upcalls.recv_enabled = not waiting
        if not waiting:
            self.upcalls.flush(now)
            self.need_revalidate = True

    def flush_stats(self, now: float) -> None:
        """Bring rule counters up to date (before a statistics reply)."""
        self.upcalls.push_stats(now)

    # --- the loop ---------------------------------------------------------------------
    def run(self, now: float) -> None:
        wants = self._compute_wants_packet_in_on_miss()
        if wants != self.wants_packet_in_on_miss:
            self.wants_packet_in_on_miss = wants
            self.need_revalidate = True
        if now >= self.next_mac_expire:
            self.mac_table.expire(now)
            self.next_mac_expire = now + MAC_EXPIRE_INTERVAL_MS
        if self.mac_table.changed:
            self.mac_table.changed = False
            self.need_revalidate = True
        changes = self._rule_changes
        if changes:
            self._rule_changes = []
            if not self.need_revalidate:
                self.upcalls.revalidate_rules([r for a, _ in changes for r in a],
                                              [r for _, rm in changes for r in rm], now)
        if self.need_revalidate:
            self.need_revalidate = False
            self.upcalls.revalidate(now)
        self.upcalls.handle(self.dpif.run(now, self.upcalls.room), now)
        if self.mac_table.changed:        # learned from this batch's misses
            self.mac_table.changed = False
            self.upcalls.revalidate(now)
        if len(self.packet_ins) and not self.flow_restore_wait:
            self.deliver_packet_ins(now)
        if now >= self.upcalls.next_stats:
            self.upcalls.push_stats(now)

    def wait(self, poller, now: float) -> None:
        self.dpif.wait(poller)
        if self.upcalls.ukeys:
            poller.timer_wait_until(self.upcalls.next_stats)
        if len(self.mac_table):
            poller.timer_wait_until(self.next_mac_expire)
        if (self.need_revalidate or self._rule_changes or self.upcalls.pending
                or (len(self.packet_ins) and not self.flow_restore_wait)):
            poller.immediate_wake()

    def close(self) -> None:
        self.dpif.close()

    def _compute_wants_packet_in_on_miss(self) -> bool:
        """Table misses go to the controller only while some OpenFlow 1.0-1.2 session
        (controller id 0) would take them, as OVS does."""
        for ofconn in self.ofproto.connmgr.all_ofconns():
            if (0 < ofconn.version < 0x04 and ofconn.controller_id == 0
                    and ofconn.receives_async("packet_in", PIN_IMPLICIT_MISS)):
                return True
        return False

    # --- packet-ins -------------------------------------------------------------------
    def send_packet_in(self, pin: PacketInCookie, frame: bytes, now: float) -> None:
        """Gather one packet-in from translation (delivered later in this pass)."""
        self.packet_ins.put(pin, frame)

    def deliver_packet_ins(self, now: float) -> None:
        """Hand every gathered packet-in, in order, to connmgr (connmgr_send_async_msg)."""
        connmgr = self.ofproto.connmgr
        for pin, frame in self.packet_ins.drain():
            if connmgr.send_packet_in(pin, frame, now):
                self.n_packet_ins += 1
