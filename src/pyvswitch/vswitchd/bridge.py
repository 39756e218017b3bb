"""bridge: reconcile the running switch to a configuration (OVS vswitchd/bridge.c).

What this module owns
---------------------
``Bridges``: the set of running bridges and ``reconfigure(SwitchConfig, now)``, which
adds and removes bridges, ports (opening and closing their network devices), and
controllers, so that the running state matches the configuration.  Both configuration
sources (TOML and OVSDB) feed this one path.  A port or controller that cannot be set up
is logged, reported as a ``Problem`` (the OVSDB source writes it to Interface.error) and
skipped; the rest keeps running.

Every bridge always has the management service ``punix:<rundir>/<bridge>.mgmt`` (so
``ovs-ofctl show <bridge>`` works) and the snoop listener ``punix:<rundir>/<bridge>.snoop``.

Open_vSwitch other_config knobs (OVS bridge_run/bridge_reconfigure): ``flow-restore-wait``
(read while it is true, never again once false; while true every bridge's datapath
handles no miss and no controller is configured, only the management socket; when it
ends the datapath starts over and the controllers are added, which flushes the tables
like any first primary controller), ``flow-limit`` and ``max-idle`` (the datapath flow
cache), ``emc-insert-inv-prob`` (one megaflow hit in N enters the exact-match cache;
default 100, 0 none), ``bundle-idle-timeout``; the thread, DPDK, PMD and offload knobs
of OVS have no meaning here and are logged as ignored, once per value.  Bridge
other_config: ``datapath-id``, ``hwaddr``, ``mac-aging-time``, ``mac-table-size``,
``controller-queue-size``, ``disable-in-band``, ``in-band-queue``.  The OVSDB managers
(``set_managers``) are extra in-band remotes of every bridge.

Ports follow OVS's rules: a changed type or options reopens the device, a new
ofport_request moves the port (and the one holding that number, unless it asked for it
too), an MTU request is applied in place; numbers are handed out by ``Ofproto``.

Datapath types: ``netdev`` (Open vSwitch's userspace datapath; the bridge's LOCAL port is
an ``internal`` tap device named after the bridge) and ``dummy`` (everything in memory,
the LOCAL port included, as ovs-vswitchd --enable-dummy does; no root needed).

Must not import: ``vswitchd.main`` (the shell above).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field

from pyvswitch.config.model import (
    BridgeConfig, ControllerConfig, InterfaceConfig, Problem, SwitchConfig, parse_datapath_id,
)
from pyvswitch.datapath.dpif_netdev import EMC_INSERT_INV_PROB
from pyvswitch.netdev.base import NetdevError, open_netdev
from pyvswitch.ofproto import packet_in
from pyvswitch.ofproto.in_band import parse_remote
from pyvswitch.ofproto.ofproto import Ofproto
from pyvswitch.ofproto_dpif.ofproto_dpif import OfprotoDpif
from pyvswitch.util import coverage
from pyvswitch.util.vlog import Logger
from pyvswitch.vswitchd.coverage_feed import CoverageFeed

log = Logger("bridge")
BRIDGE_RECONFIGURE = coverage.Counter("bridge_reconfigure")

MGMT_PROBE_MS = 60_000
OVSDB_PORT = 6640                 # default port of a manager target
DEFAULT_FLOW_LIMIT = 200_000      # OVS ofproto_flow_limit
DEFAULT_MAX_IDLE_MS = 10_000      # OVS ofproto_max_idle
# Open_vSwitch other_config keys OVS honours that have no meaning for this daemon (threads,
# DPDK, PMDs, hardware offload, revalidator pacing, system statistics).
IGNORED_GLOBAL_KNOBS = (
    "n-handler-threads", "n-revalidator-threads", "n-offload-threads", "max-revalidator",
    "min-revalidate-pps", "hw-offload", "hw-offload-priority", "tc-policy",
    "offload-rebalance", "offloaded-stats-delay", "enable-statistics", "vlan-limit",
    "smc-enable", "tx-flush-interval", "userspace-tso-enable",
    "per-port-memory", "shared-mempool-config", "explicit-sampled-drops", "pmd-cpu-mask",
    "pmd-rxq-assign", "pmd-rxq-isolate", "pmd-perf-metrics", "pmd-sleep-max",
    "pmd-auto-lb", "pmd-auto-lb-improvement-threshold", "pmd-auto-lb-load-threshold",
    "pmd-auto-lb-rebal-interval", "dpdk-init", "dpdk-alloc-mem", "dpdk-extra",
    "dpdk-hugepage-dir", "dpdk-lcore-mask", "dpdk-probe-at-init", "dpdk-socket-limit",
    "dpdk-socket-mem", "vhost-iommu-support", "vhost-postcopy-support", "vhost-sock-dir",
)


def _hash_mac(name: str) -> bytes:
    """A stable, locally administered unicast MAC derived from ``name``."""
    digest = bytearray(hashlib.sha256(name.encode()).digest()[:6])
    digest[0] = (digest[0] & 0xFC) | 0x02
    return bytes(digest)


def pick_datapath_id(cfg: BridgeConfig, local_mac: bytes) -> int:
    """other_config:datapath-id when valid, else derived from the bridge's MAC (as OVS)."""
    if cfg.datapath_id is not None:
        dpid = parse_datapath_id(cfg.datapath_id)
        if dpid is not None:
            return dpid
        log.warning("%s: ignoring invalid datapath-id %r", cfg.name, cfg.datapath_id)
    return int.from_bytes(local_mac, "big")


def _bundle_idle_timeout(other_config, problems: list[Problem]) -> int | None:
    """Open_vSwitch other_config:bundle-idle-timeout in seconds (unset or 0: default)."""
    text = other_config.get("bundle-idle-timeout")
    if text is None:
        return None
    if not text.isdigit():
        problems.append(Problem("Open_vSwitch.other_config:bundle-idle-timeout",
                                f'"{text}" is not a number of seconds; using 10'))
        return None
    return int(text) or None


def _positive_knob(other_config, key: str, default: int, problems: list[Problem]) -> int:
    """A positive integer from Open_vSwitch other_config (unset: ``default``)."""
    text = other_config.get(key)
    if text is None:
        return default
    if not text.isdigit() or int(text) == 0:
        problems.append(Problem(f"Open_vSwitch.other_config:{key}",
                                f'"{text}" is not a positive integer; using {default}'))
        return default
    return int(text)


def _emc_insert_inv_prob(other_config, problems: list[Problem]) -> int:
    """Open_vSwitch other_config:emc-insert-inv-prob, 0 included (unset: the datapath's
    default, as OVS)."""
    text = other_config.get("emc-insert-inv-prob")
    if text is None:
        return EMC_INSERT_INV_PROB
    if not text.isdigit() or int(text) >= 1 << 32:
        problems.append(Problem("Open_vSwitch.other_config:emc-insert-inv-prob",
                                f'"{text}" is not an integer from 0 to 4294967295; using '
                                f"{EMC_INSERT_INV_PROB}"))
        return EMC_INSERT_INV_PROB
    return int(text)


def _error_text(e: Exception, name: str) -> str:
    """The reason a device operation failed, once: the errno's text when the error carries
    one (as OVS writes it, "No such device"), else the message without the device name
    the netdev layer puts in front."""
    seen = e
    while seen is not None:
        code = getattr(seen, "errno", None) or getattr(seen, "code", None)
        if isinstance(code, int) and code > 0:
            return os.strerror(code)
        seen = seen.__cause__ or seen.__context__
    text = str(e)
    prefix = f"{name}: "
    return text[len(prefix):] if text.startswith(prefix) else text


def _int_knob(other_config, key: str, where: str, problems: list[Problem]) -> int:
    """A non-negative integer from a bridge's other_config; 0 when unset or bad."""
    text = other_config.get(key)
    if text is None:
        return 0
    if not text.isdigit():
        problems.append(Problem(f"{where}.other_config:{key}",
                                f'"{text}" is not a non-negative integer; using the default'))
        return 0
    return int(text)


def _bridge_mac(cfg: BridgeConfig, problems: list[Problem]) -> bytes:
    """other_config:hwaddr when it is a usable unicast address (OVS
    bridge_pick_local_hw_addr), else one derived from the bridge name, stable across
    restarts so that the datapath id is too."""
    text = cfg.other_config.get("hwaddr")
    if text:
        try:
            mac = bytes.fromhex(text.replace(":", ""))
            if len(mac) != 6 or text.count(":") != 5:
                raise ValueError
        except ValueError:
            mac = None
        if mac is None:
            problems.append(Problem(f"bridge {cfg.name}.other_config:hwaddr",
                                    f'"{text}" is not a MAC address'))
        elif mac[0] & 1:
            problems.append(Problem(f"bridge {cfg.name}.other_config:hwaddr",
                                    f"cannot set MAC address to multicast address {text}"))
        elif not any(mac):
            problems.append(Problem(f"bridge {cfg.name}.other_config:hwaddr",
                                    "cannot set MAC address to zero"))
        else:
            return mac
    return _hash_mac(cfg.name)


@dataclass
class Bridge:
    name: str
    cfg: BridgeConfig
    ofproto: Ofproto
    provider: OfprotoDpif
    local_netdev: object
    netdevs: dict[str, object] = field(default_factory=dict)   # interface name -> netdev
    started: bool = False      # controllers and startup flows configured once
    iface_cfgs: dict[str, InterfaceConfig] = field(default_factory=dict)
    # Interfaces that could not be opened in the last reconfiguration, and why (the
    # OVSDB source writes this to Interface.error).
    iface_errors: dict[str, str] = field(default_factory=dict)


class Bridges:
    """All running bridges of this daemon."""

    def __init__(self, rundir: str) -> None:
        self.rundir = rundir
        self.bridges: dict[str, Bridge] = {}
        self.problems: list[Problem] = []
        # OVS starts waiting and reads other_config:flow-restore-wait until it is false.
        self.flow_restore_wait = True
        self.flow_limit = DEFAULT_FLOW_LIMIT
        self.max_idle_ms = DEFAULT_MAX_IDLE_MS
        self.emc_insert_inv_prob = EMC_INSERT_INV_PROB
        self._ignored_knobs: dict[str, str] = {}     # key -> value already logged
        self.in_band_managers: list[tuple[str, int]] = []   # see set_managers
        self.coverage_feed = CoverageFeed()     # bridges' counters -> coverage/show
        packet_in.register_unixctl(self)    # ofproto/packet-in-stats

    # --- reconfiguration --------------------------------------------------------------
    def reconfigure(self, cfg: SwitchConfig, now: float) -> list[Problem]:
        """Make the running bridges match ``cfg``; return the problems met."""
        problems: list[Problem] = []
        BRIDGE_RECONFIGURE.inc()
        self.coverage_feed.sample(self)       # before any bridge or connection goes
        bundle_idle = _bundle_idle_timeout(cfg.other_config, problems)
        self._global_knobs(cfg.other_config, problems)
        for name in list(self.bridges):
            if name not in cfg.bridges:
                self._destroy(self.bridges.pop(name), now)
                log.info("%s: bridge removed", name)
        for name, bcfg in cfg.bridges.items():
            br = self.bridges.get(name)
            if br is not None and br.cfg.datapath_type != bcfg.datapath_type:
                # Another datapath type is another datapath: start over, as OVS does.
                self._destroy(self.bridges.pop(name), now)
                log.info("%s: datapath type changed to %s", name, bcfg.datapath_type)
                br = None
            if br is None:
                br = self._create(bcfg, problems, now)
                if br is None:
                    continue
                self.bridges[name] = br
            elif (bcfg.datapath_id, bcfg.other_config.get("hwaddr")) != (
                    br.cfg.datapath_id, br.cfg.other_config.get("hwaddr")):
                mac = _bridge_mac(bcfg, problems)
                self._set_local_mac(br.name, br.local_netdev, mac)
                dpid = pick_datapath_id(bcfg, mac)
                if dpid != br.ofproto.datapath_id:
                    br.ofproto.datapath_id = dpid
                    log.info("%s: datapath id changed to %016x", name, dpid)
            self._configure_mac_table(br, bcfg, problems)
            br.provider.set_flow_restore_wait(self.flow_restore_wait, now)
            br.provider.upcalls.flow_limit = self.flow_limit
            br.provider.upcalls.max_idle_ms = self.max_idle_ms
            br.provider.dpif.emc_insert_inv_prob = self.emc_insert_inv_prob
            self._reconfigure_ports(br, bcfg, problems, now)
            created = not br.started
            if created or bcfg.flow_tables != br.cfg.flow_tables:
                self._configure_tables(br, br.cfg if not created else None, bcfg, problems,
                                       now)
            if created:
                # Before the controllers: a long list must not eat into their first
                # connection attempt's timeout.
                self._add_startup_flows(br, bcfg, problems, now)
            self._reconfigure_controllers(br, bcfg, now, created)
            br.ofproto.connmgr.set_bundle_idle_timeout(bundle_idle)
            br.started = True
            br.cfg = bcfg
        for p in problems:
            log.error("%s", p)
        self.problems = problems
        return problems

    def set_managers(self, managers: list[tuple[str, str | None]]) -> None:
        """Open_vSwitch manager_options as (target, connection_mode) pairs (OVS
        collect_in_band_managers).  ovsdb-server serves the managers itself; the switch
        only keeps the active IPv4 ones (not loopback, default port 6640) reachable
        in-band on every bridge that has in-band enabled; out-of-band ones are left out
        (Manager targets are unique in the schema)."""
        remotes = []
        for target, mode in managers:
            if mode == "out-of-band":
                continue
            addr = parse_remote(target, OVSDB_PORT)
            if addr is not None and addr[0] != "127.0.0.1":
                remotes.append(addr)
        self.in_band_managers = remotes

    def _global_knobs(self, other_config, problems: list[Problem]) -> None:
        if self.flow_restore_wait:        # once false it is never read again (as OVS)
            waiting = other_config.get("flow-restore-wait", "").lower() == "true"
            if not waiting:
                self.flow_restore_wait = False
                if self.bridges:
                    log.info("flow restore wait is over: handling traffic, connecting "
                             "to controllers")
        self.flow_limit = _positive_knob(other_config, "flow-limit", DEFAULT_FLOW_LIMIT,
                                         problems)
        self.max_idle_ms = _positive_knob(other_config, "max-idle", DEFAULT_MAX_IDLE_MS,
                                          problems)
        inv_prob = _emc_insert_inv_prob(other_config, problems)
        if inv_prob != self.emc_insert_inv_prob:
            self.emc_insert_inv_prob = inv_prob
            log.info("EMC insertion: %s", "off" if not inv_prob else
                     f"1 megaflow hit in {inv_prob} (~{100 / inv_prob:.2f}%)")
        for key in IGNORED_GLOBAL_KNOBS:
            value = other_config.get(key)
            if value is not None and self._ignored_knobs.get(key) != value:
                log.info("Open_vSwitch other_config:%s=%s ignored (no meaning for this "
                         "userspace switch)", key, value)
            if value is None:
                self._ignored_knobs.pop(key, None)
            else:
                self._ignored_knobs[key] = value

    def _create(self, cfg: BridgeConfig, problems: list[Problem],
                now: float) -> Bridge | None:
        local_type = "dummy" if cfg.datapath_type == "dummy" else "internal"
        try:
            local = open_netdev(cfg.name, local_type, {})
        except (NetdevError, OSError) as e:
            problems.append(Problem(f"bridge {cfg.name}",
                                    f"cannot create the bridge's local port: {e}"))
            return None
        mac = _bridge_mac(cfg, problems)
        self._set_local_mac(cfg.name, local, mac)
        ofproto = Ofproto(cfg.name, pick_datapath_id(cfg, mac))
        provider = OfprotoDpif(ofproto)
        ofproto.add_port(cfg.name, local, local=True, now=now)
        log.info("%s: bridge created (datapath id %016x)", cfg.name, ofproto.datapath_id)
        return Bridge(cfg.name, cfg, ofproto, provider, local)

    @staticmethod
    def _set_local_mac(name: str, local, mac: bytes) -> None:
        set_hwaddr = getattr(local, "set_hwaddr", None)
        if set_hwaddr is not None and bytes(getattr(local, "hwaddr", b"")) != mac:
            try:
                set_hwaddr(mac)
            except OSError as e:
                log.warning("%s: cannot set the bridge MAC (%s)", name, e)

    @staticmethod
    def _configure_mac_table(br: Bridge, cfg: BridgeConfig,
                             problems: list[Problem]) -> None:
        """other_config:mac-aging-time (s, 15..3600, default 300) and mac-table-size
        (default 8192), as OVS bridge_configure_mac_table."""
        other = cfg.other_config
        aging = _int_knob(other, "mac-aging-time", f"bridge {br.name}", problems) or 300
        size = _int_knob(other, "mac-table-size", f"bridge {br.name}", problems) or 8192
        br.provider.mac_table.configure(min(max(aging, 15), 3600), size)

    def _reconfigure_ports(self, br: Bridge, cfg: BridgeConfig,
                           problems: list[Problem], now: float) -> None:
        """OVS bridge_delete_or_reconfigure_ports then bridge_add_ports: remove what is
        gone or changed type/options, move ports whose requested number changed (with the
        port holding that number, unless it requested it too), then open what is missing,
        interfaces with an ofport_request first."""
        wanted: dict[str, InterfaceConfig] = {}
        for port in cfg.ports.values():
            for iface in port.interfaces:
                if iface.name == br.name:
                    continue  # the bridge's own port is always there
                wanted[iface.name] = iface
        doomed: set[str] = set()
        for name in list(br.netdevs):
            old, new = br.iface_cfgs.get(name), wanted.get(name)
            if new is None or old is None or (old.type, old.options) != (new.type,
                                                                         new.options):
                doomed.add(name)
                continue
            number = br.ofproto.ports_by_name[name].ofp_port
            requested = new.ofport_request
            if requested is not None and requested != number:
                victim = br.ofproto.ports.get(requested)
                if victim is None:
                    doomed.add(name)
                elif (victim.name not in wanted
                      or wanted[victim.name].ofport_request != requested):
                    doomed.update((name, victim.name))
                # else: both asked for the same number; this one keeps its own
        for name in list(br.netdevs):
            if name in doomed:
                br.ofproto.del_port(name, now)
                br.netdevs.pop(name).close()
                br.iface_cfgs.pop(name, None)
            else:
                self._update_iface(br, name, br.iface_cfgs[name], wanted[name])
        br.iface_errors = {}
        order = sorted(wanted.values(), key=lambda i: i.ofport_request is None)
        for iface in order:
            name = iface.name
            if name in br.netdevs:
                continue
            try:
                netdev = open_netdev(name, iface.type or "system", dict(iface.options))
            except (NetdevError, OSError, ValueError) as e:
                message = f"could not open network device {name} ({_error_text(e, name)})"
                br.iface_errors[name] = message
                problems.append(Problem(f"bridge {br.name}: interface {name}", message))
                continue
            self._set_mtu(br, name, netdev, iface.mtu_request)
            port = br.ofproto.add_port(name, netdev, iface.ofport_request, now=now)
            if iface.ofport_request is not None and port.ofp_port != iface.ofport_request:
                log.warning("%s: port %s: requested OpenFlow port %d is taken, using %d",
                            br.name, name, iface.ofport_request, port.ofp_port)
            br.netdevs[name] = netdev
            br.iface_cfgs[name] = iface
            log.info("%s: added interface %s on port %d", br.name, name, port.ofp_port)
        for pcfg in cfg.ports.values():       # VLAN settings may change on a kept port
            for iface in pcfg.interfaces:
                port = br.ofproto.ports_by_name.get(iface.name)
                if port is not None and iface.name in br.netdevs:
                    br.provider.set_port_vlan(port.ofp_port, pcfg.vlan_mode, pcfg.tag,
                                              pcfg.trunks)

    def _update_iface(self, br: Bridge, name: str, old: InterfaceConfig,
                      new: InterfaceConfig) -> None:
        """A kept interface whose other settings changed: applied in place."""
        if old.mtu_request != new.mtu_request:
            self._set_mtu(br, name, br.netdevs[name], new.mtu_request)
        br.iface_cfgs[name] = new

    @staticmethod
    def _set_mtu(br: Bridge, name: str, netdev, mtu: int | None) -> None:
        if mtu is None or not hasattr(netdev, "set_mtu"):
            return
        try:
            netdev.set_mtu(mtu)
        except (NetdevError, OSError, ValueError) as e:
            log.warning("%s: %s: cannot set MTU %d (%s)", br.name, name, mtu,
                        _error_text(e, name))

    def _reconfigure_controllers(self, br: Bridge, cfg: BridgeConfig, now: float,
                                 created: bool) -> None:
        # other_config:controller-queue-size (1..512, else 100) for every controller that
        # sets none itself, the management socket included (OVS
        # bridge_get_controller_queue_size).
        text = cfg.other_config.get("controller-queue-size", "")
        queue = int(text) if text.isdigit() and 1 <= int(text) <= 512 else 100
        mgmt = ControllerConfig(target=f"punix:{self.mgmt_path(br.name)}", type="service",
                                inactivity_probe=MGMT_PROBE_MS,
                                connection_mode="out-of-band", controller_queue_size=queue)
        # While flow-restore-wait holds, only the management socket (OVS
        # bridge_configure_remotes): restored flows must not race a controller's.
        configured = () if self.flow_restore_wait else cfg.controllers
        controllers = [c if c.controller_queue_size is not None
                       else dataclasses.replace(c, controller_queue_size=queue)
                       for c in configured if c.target != "none"] + [mgmt]
        connmgr = br.ofproto.connmgr
        connmgr.in_band_disabled = cfg.other_config.get("disable-in-band") == "true"
        connmgr.extra_in_band_remotes = list(self.in_band_managers)
        queue = cfg.other_config.get("in-band-queue", "")
        connmgr.in_band_queue = int(queue) if queue.isdigit() else None
        flipped = connmgr.set_controllers(controllers, cfg.allowed_versions, now)
        br.ofproto.connmgr.set_snoops([f"punix:{self.snoop_path(br.name)}"])
        if created:
            br.ofproto.fail_mode = cfg.fail_mode or "standalone"
            br.ofproto.flushed(now)
        elif flipped:
            # The first primary controller arrived or the last one left (OVS update_fail_open
            # and connmgr_set_controllers): flows, groups and meters start over.
            br.ofproto.flush(now)
        else:
            br.ofproto.set_fail_mode(cfg.fail_mode, now)

    def _configure_tables(self, br: Bridge, old: BridgeConfig | None, cfg: BridgeConfig,
                          problems: list[Problem], now: float) -> None:
        """Flow_Table settings (OVS bridge_configure_tables): name, flow limit, overflow
        policy and eviction groups; a table that lost its settings gets the defaults."""
        from pyvswitch.ofproto.eviction import parse_fields
        table_ids = set(cfg.flow_tables) | set(old.flow_tables if old else ())
        for table_id in sorted(table_ids):
            if table_id >= br.ofproto.flows.n_tables:
                continue
            tcfg = cfg.flow_tables.get(table_id)
            if tcfg is None:
                br.ofproto.flows.configure_table(table_id, now)
                continue
            try:
                fields = parse_fields(tcfg.groups)
            except ValueError as e:
                problems.append(Problem(f"bridge {br.name}: flow table {table_id}",
                                        f"ignoring eviction groups ({e})"))
                fields = ()
            br.ofproto.flows.configure_table(
                table_id, now, name=tcfg.name, max_flows=tcfg.flow_limit,
                evict=tcfg.overflow_policy == "evict", eviction_fields=fields)

    def _add_startup_flows(self, br: Bridge, cfg: BridgeConfig, problems: list[Problem],
                           now: float) -> None:
        """The TOML file's ``flows`` (ovs-ofctl syntax), added once at start-up."""
        from pyvswitch.openflow.errors import OFPError
        from pyvswitch.openflow.flow_parse import parse_flow
        from pyvswitch.openflow.messages import FlowMod
        for i, text in enumerate(cfg.flows):
            try:
                match, instructions, opts = parse_flow(text)
                fm = FlowMod(match=match, instructions=instructions,
                             table_id=opts.get("table", 0),
                             priority=opts.get("priority", 0x8000),
                             cookie=opts.get("cookie", 0),
                             idle_timeout=opts.get("idle_timeout", 0),
                             hard_timeout=opts.get("hard_timeout", 0))
                br.ofproto.flows.apply_flow_mod(fm, now)
            except (ValueError, KeyError, OFPError) as e:
                problems.append(Problem(f"bridge {br.name}.flows[{i}]",
                                        f'"{text}": {e}'))

    def mgmt_path(self, bridge: str) -> str:
        return os.path.join(self.rundir, f"{bridge}.mgmt")

    def snoop_path(self, bridge: str) -> str:
        return os.path.join(self.rundir, f"{bridge}.snoop")

    def _destroy(self, br: Bridge, now: float) -> None:
        br.ofproto.close(now)
        br.provider.close()
        for netdev in br.netdevs.values():
            netdev.close()
        br.local_netdev.close()

    # --- the loop ---------------------------------------------------------------------
    def run(self, now: float) -> None:
        for br in list(self.bridges.values()):
            for netdev in list(br.netdevs.values()) + [br.local_netdev]:
                # (the local port's device waits on its link events too: unread, they
                # would keep poll() returning at once - a busy loop)
                try:
                    netdev.run(now)
                except Exception:  # fault isolation: one device must not stop the loop
                    log.exception("%s: unexpected error in device %s", br.name, netdev.name)
            # OpenFlow first: a request's reply (a barrier's, say) leaves before the
            # datapath work of the pass, and the provider then revalidates against the
            # tables as this pass's flow_mods left them.
            try:
                br.ofproto.run(now)
            except Exception:  # fault isolation: flow expiry, connections, reassembly
                log.exception("%s: unexpected error in the OpenFlow layer", br.name)
            try:
                br.provider.run(now)
            except Exception:  # fault isolation: a bug in one packet's path must not stop us
                br.provider.n_crashes = getattr(br.provider, "n_crashes", 0) + 1
                log.exception("%s: unexpected error in the datapath provider", br.name)
        self.coverage_feed.run(self, now)
        coverage.run(now)

    def wait(self, poller, now: float) -> None:
        for br in self.bridges.values():
            br.provider.wait(poller, now)
            br.ofproto.wait(poller, now)
        if coverage.next_run() is not None:
            poller.timer_wait_until(coverage.next_run())

    def close(self, now: float) -> None:
        for br in self.bridges.values():
            self._destroy(br, now)
        self.bridges.clear()
