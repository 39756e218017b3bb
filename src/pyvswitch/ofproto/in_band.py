"""in_band: hidden flows that keep an in-band controller reachable (OVS ofproto/in-band.c).

What this module owns
---------------------
With in-band control the switch reaches its controllers through its own data ports: the
kernel sends the OpenFlow TCP connection (and the ARP and DHCP it needs) out of the
bridge's LOCAL port, an internal device.  Whatever the controller does to the flow
tables, ``InBand`` keeps these hidden flows (table 0, never visible to OpenFlow) so that
traffic always goes through the NORMAL (learning switch) path:

=========  ============================================================  ================
priority   match                                                         when
=========  ============================================================  ================
180000     in_port=LOCAL, udp, dl_src=local MAC, tp_src=68, tp_dst=67   local MAC known
180001     arp, dl_dst=local MAC, arp_op=2 (replies to the switch)       local MAC known
180002     arp, dl_src=local MAC, arp_op=1 (the switch's requests)       local MAC known
180003     arp, dl_dst=next-hop MAC, arp_op=2                            per remote, MAC known
180004     arp, dl_src=next-hop MAC, arp_op=1                            per remote, MAC known
180005     arp, arp_op=2, arp_tpa=remote IP                              per remote
180006     arp, arp_op=1, arp_spa=remote IP                              per remote
180007     tcp, nw_dst=remote IP, tp_dst=remote port                     per remote
180008     tcp, nw_src=remote IP, tp_src=remote port                     per remote
=========  ============================================================  ================

(The ARP rules about the remote follow OVS literally: 180005 matches ARP replies whose
target is the remote, 180006 requests sent by it.)  Actions: ``[set_queue:Q,] NORMAL``
where Q is the bridge's other_config:in-band-queue.

``run(now)`` refreshes the local MAC every 1 s and each remote's next-hop MAC every 10 s
(1 s while unknown), recomputes the wanted rule set, adds what is missing or changed and
deletes what is no longer wanted.  It returns False once it has no remotes and no rules
left, and the owner (``ConnMgr``) then drops it.

The next-hop lookup is injectable: ``lookup(remote_ip) -> next-hop MAC (int) or None``.
``system_next_hop_mac`` (the default) asks the kernel of the calling thread's network
namespace through pyroute2: the route to the remote (its gateway, or the remote itself
when directly connected), then the neighbour (ARP) table entry for that next hop.  That
function is the only I/O here; tests pass their own.

Time model: ``now`` (ms) is a parameter.  Must not import ``vswitchd``, ``ofproto_dpif``.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Callable

from pyvswitch.openflow.messages import OFPFC_ADD, OFPFC_DELETE_STRICT, FlowMod
from pyvswitch.openflow.ofpacts import OFPP_LOCAL, OFPP_NORMAL, Instructions, Output, SetQueue
from pyvswitch.packet.fields import Match
from pyvswitch.util.vlog import Logger

log = Logger("in_band")

IBR_DHCP_FROM_LOCAL = 180000
IBR_ARP_TO_LOCAL = 180001
IBR_ARP_FROM_LOCAL = 180002
IBR_ARP_TO_NEXT_HOP = 180003
IBR_ARP_FROM_NEXT_HOP = 180004
IBR_ARP_TO_REMOTE = 180005
IBR_ARP_FROM_REMOTE = 180006
IBR_TCP_TO_REMOTE = 180007
IBR_TCP_FROM_REMOTE = 180008

LOCAL_REFRESH_MS = 1000
REMOTE_REFRESH_MS = 10_000
REMOTE_RETRY_MS = 1000
ETH_TYPE_IP, ETH_TYPE_ARP = 0x0800, 0x0806
IPPROTO_TCP, IPPROTO_UDP = 6, 17
ARP_REQUEST, ARP_REPLY = 1, 2
DEFAULT_OF_PORT = 6653

NextHopLookup = Callable[[str], "int | None"]


def parse_remote(target: str, default_port: int = DEFAULT_OF_PORT) -> tuple[str, int] | None:
    """(IPv4 address, port) of an active tcp:/ssl: target, or None if it has none."""
    kind, _, rest = target.partition(":")
    if kind not in ("tcp", "ssl") or not rest:
        return None
    host, _, port = rest.partition(":")
    try:
        ipaddress.IPv4Address(host)
        return host, int(port) if port else default_port
    except ValueError:
        return None


def system_next_hop_mac(remote_ip: str) -> int | None:
    """The MAC of the next hop towards ``remote_ip`` from this namespace's kernel tables."""
    from pyvswitch.netdev.rtnl import ipr
    try:
        nl = ipr()
        routes = nl.route("get", dst=remote_ip)
        if not routes:
            return None
        route = routes[0]
        next_hop = route.get_attr("RTA_GATEWAY") or remote_ip
        oif = route.get_attr("RTA_OIF")
        kw = {"dst": next_hop}
        if oif:
            kw["ifindex"] = oif
        for neigh in nl.get_neighbours(**kw):
            mac = neigh.get_attr("NDA_LLADDR")
            # NUD_INCOMPLETE (1) and NUD_FAILED (0x20) entries have no usable address.
            if mac and not neigh["state"] & 0x21:
                return int(mac.replace(":", ""), 16)
    except Exception as e:  # noqa: BLE001 - any netlink trouble means "unknown for now"
        log.debug("next hop lookup for %s failed: %s", remote_ip, e)
    return None


@dataclass
class Remote:
    ip: str
    port: int
    next_hop_mac: int | None = None
    refresh_at: float = 0.0


def _ip(addr: str) -> int:
    return int(ipaddress.IPv4Address(addr))


class InBand:
    """The in-band rules of one bridge (see the module docstring)."""

    def __init__(self, ofproto, lookup: NextHopLookup | None = None,
                 queue_id: int | None = None) -> None:
        self.ofproto = ofproto
        self.lookup = lookup or system_next_hop_mac
        self.queue_id = queue_id
        self.remotes: dict[tuple[str, int], Remote] = {}
        self.local_mac: int | None = None
        self.next_local_refresh = 0.0
        self.installed: dict[tuple, tuple[int, Match, tuple]] = {}  # key -> (prio, match, actions)
        self.n_rule_changes = 0
        self._dirty = True          # reconcile on the next run even if no timer is due

    # --- configuration ----------------------------------------------------------------
    def set_remotes(self, addrs: list[tuple[str, int]]) -> None:
        wanted = dict.fromkeys(addrs)
        for key in list(self.remotes):
            if key not in wanted:
                del self.remotes[key]
                self._dirty = True
        for ip, port in wanted:
            if (ip, port) not in self.remotes:
                self.remotes[(ip, port)] = Remote(ip, port)
                self._dirty = True

    def set_queue(self, queue_id: int | None) -> None:
        if queue_id != self.queue_id:
            self.queue_id = queue_id
            self._dirty = True

    def flushed(self) -> None:
        """The tables were flushed: put the rules back on the next run."""
        self._dirty = True

    # --- the loop ---------------------------------------------------------------------
    def run(self, now: float) -> bool:
        """Refresh addresses, reconcile the hidden rules.  False: nothing left to do."""
        due = self._dirty
        if now >= self.next_local_refresh:
            self.local_mac = self._local_mac()
            self.next_local_refresh = now + LOCAL_REFRESH_MS
            due = True
        for remote in self.remotes.values():
            if now >= remote.refresh_at:
                due = True
                mac = self.lookup(remote.ip)
                if mac != remote.next_hop_mac:
                    log.debug("%s: next hop to %s is %s", self.ofproto.name, remote.ip,
                              "unknown" if mac is None else f"{mac:012x}")
                remote.next_hop_mac = mac
                remote.refresh_at = now + (REMOTE_RETRY_MS if mac is None
                                           else REMOTE_REFRESH_MS)
        if due:
            self._dirty = False
            self._reconcile(now)
        return bool(self.remotes) or bool(self.installed)

    def next_wakeup(self) -> float:
        times = [r.refresh_at for r in self.remotes.values()]
        if self.remotes or self.installed:
            times.append(self.next_local_refresh)
        return min(times) if times else math.inf

    def wait(self, poller, now: float) -> None:
        deadline = self.next_wakeup()
        if deadline != math.inf:
            poller.timer_wait_until(deadline)

    def destroy(self, now: float) -> None:
        """Remove every in-band rule."""
        self.remotes.clear()
        for key in list(self.installed):
            self._delete(key, now)

    # --- rules ------------------------------------------------------------------------
    def wanted_rules(self) -> dict[tuple, tuple[int, Match]]:
        """The rules the current addresses call for: key -> (priority, match)."""
        rules: dict[tuple, tuple[int, Match]] = {}

        def add(priority: int, match: Match) -> None:
            key = (priority, tuple(match.values), tuple(match.masks))
            rules.setdefault(key, (priority, match))   # duplicates are kept once

        if not self.remotes:
            return rules
        local = self.local_mac
        if local is not None:
            add(IBR_DHCP_FROM_LOCAL, Match().set("in_port", OFPP_LOCAL)
                .set("eth_type", ETH_TYPE_IP).set("eth_src", local)
                .set("ip_proto", IPPROTO_UDP).set("udp_src", 68).set("udp_dst", 67))
            add(IBR_ARP_TO_LOCAL, Match().set("eth_type", ETH_TYPE_ARP)
                .set("eth_dst", local).set("arp_op", ARP_REPLY))
            add(IBR_ARP_FROM_LOCAL, Match().set("eth_type", ETH_TYPE_ARP)
                .set("eth_src", local).set("arp_op", ARP_REQUEST))
        for remote in self.remotes.values():
            ip = _ip(remote.ip)
            if remote.next_hop_mac is not None:
                add(IBR_ARP_TO_NEXT_HOP, Match().set("eth_type", ETH_TYPE_ARP)
                    .set("eth_dst", remote.next_hop_mac).set("arp_op", ARP_REPLY))
                add(IBR_ARP_FROM_NEXT_HOP, Match().set("eth_type", ETH_TYPE_ARP)
                    .set("eth_src", remote.next_hop_mac).set("arp_op", ARP_REQUEST))
            add(IBR_ARP_TO_REMOTE, Match().set("eth_type", ETH_TYPE_ARP)
                .set("arp_op", ARP_REPLY).set("arp_tpa", ip))
            add(IBR_ARP_FROM_REMOTE, Match().set("eth_type", ETH_TYPE_ARP)
                .set("arp_op", ARP_REQUEST).set("arp_spa", ip))
            add(IBR_TCP_TO_REMOTE, Match().set("eth_type", ETH_TYPE_IP)
                .set("ip_proto", IPPROTO_TCP).set("ipv4_dst", ip)
                .set("tcp_dst", remote.port))
            add(IBR_TCP_FROM_REMOTE, Match().set("eth_type", ETH_TYPE_IP)
                .set("ip_proto", IPPROTO_TCP).set("ipv4_src", ip)
                .set("tcp_src", remote.port))
        return rules

    def _actions(self) -> tuple:
        out = (Output(OFPP_NORMAL),)
        return ((SetQueue(self.queue_id),) + out) if self.queue_id is not None else out

    def _reconcile(self, now: float) -> None:
        wanted = self.wanted_rules()
        actions = self._actions()
        for key in [k for k in self.installed if k not in wanted]:  # stale first
            self._delete(key, now)
        for key, (priority, match) in wanted.items():
            have = self.installed.get(key)
            if have is not None and have[2] == actions and self._still_there(priority, match):
                continue
            self.ofproto.flows.apply_flow_mod(FlowMod(
                match=match, instructions=Instructions(apply=actions), command=OFPFC_ADD,
                table_id=0, priority=priority), now)
            self.installed[key] = (priority, match, actions)
            self.n_rule_changes += 1

    def _still_there(self, priority: int, match: Match) -> bool:
        """A flush (fail-open, controller change) may have removed our rule."""
        return bool(self.ofproto.flows.collect(0, match, strict=True, priority=priority))

    def _delete(self, key, now: float) -> None:
        priority, match, _ = self.installed.pop(key)
        self.ofproto.flows.apply_flow_mod(FlowMod(
            match=match, instructions=Instructions(), command=OFPFC_DELETE_STRICT,
            table_id=0, priority=priority), now)
        self.n_rule_changes += 1

    def _local_mac(self) -> int | None:
        port = self.ofproto.ports.get(OFPP_LOCAL)
        if port is None:
            return None
        try:
            mac = bytes(port.netdev.hwaddr)
        except Exception:  # noqa: BLE001 - a vanished device has no address
            return None
        return int.from_bytes(mac, "big") if any(mac) else None
