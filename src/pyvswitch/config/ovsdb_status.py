"""What ovs-vswitchd writes back to its database, and when (OVS bridge.c, run_*_update).

What this module owns
---------------------
Turning the running bridges into column values, in three kinds of transaction:

* **Reconfiguration results** (``write_config_results``, inside the reconfiguration
  transaction that also copies next_cfg to cur_cfg): Interface.ofport (the OpenFlow port,
  or -1 with Interface.error when the interface could not be set up; error cleared
  otherwise), Bridge.datapath_id and datapath_version, and the Open_vSwitch row's
  datapath_types, iface_types, ovs_version and db_version.
* **Status** (``StatusUpdater``): Interface admin_state, link_state, mtu, mac_in_use and
  ifindex, written when some device's ``change_seq`` moved, after every reconfiguration,
  and 100 ms after a failed attempt.  One transaction in flight.
* **Statistics** (``StatsUpdater``): Interface.statistics (Open vSwitch's counter names)
  and Controller is_connected, role and status, every
  ``other_config:stats-update-interval`` ms (default and minimum 5000); the next round is
  timed from the completion of the previous one, so a slow database delays updates rather
  than piling them up.  One transaction in flight.

Every column written here is registered without alerts by the source, so these writes do
not look like configuration changes, and the IDL drops writes of unchanged values.

Time model: ``now`` (ms) is a parameter; timers are returned or registered on the caller's
``ovs.poller.Poller`` as absolute times on that same clock.

Must not import: ``vswitchd`` (the running bridges are passed in, duck-typed as
``vswitchd.bridge.Bridges``).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import ovs.db.idl
import ovs.util

from pyvswitch import __version__
from pyvswitch.config.ovsdb_rows import RowsResult
from pyvswitch.netdev.base import netdev_types
from pyvswitch.openflow.messages import ROLE_EQUAL, ROLE_MASTER, ROLE_SLAVE
from pyvswitch.util.vlog import Logger

log = Logger("ovsdb")

STATS_INTERVAL_MS = 5000
STATUS_RETRY_MS = 100
ROLE_NAMES = {ROLE_EQUAL: "other", ROLE_MASTER: "master", ROLE_SLAVE: "slave"}
DATAPATH_TYPES = ["dummy", "netdev", "system"]
STATUS_COLUMNS = ("admin_state", "link_state", "mtu", "mac_in_use", "ifindex")

Txn = ovs.db.idl.Transaction


def ofport_column(ofp_port: int) -> int:
    """Interface.ofport holds 16-bit port numbers: LOCAL is 65534, as OVS writes it."""
    return ofp_port - 0xFFFF0000 if ofp_port >= 0xFFFFFF00 else ofp_port


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def interfaces(idl: ovs.db.idl.Idl, bridges: Any) -> Iterator[tuple[Any, Any, Any]]:
    """(Interface row, running bridge or None, netdev or None) for every interface of
    every Bridge row."""
    for br_row in idl.tables["Bridge"].rows.values():
        br = bridges.bridges.get(br_row.name)
        for port_row in br_row.ports:
            for irow in port_row.interfaces:
                netdev = None
                if br is not None:
                    netdev = (br.local_netdev if irow.name == br.name
                              else br.netdevs.get(irow.name))
                yield irow, br, netdev


def write_config_results(idl: ovs.db.idl.Idl, bridges: Any, rows: RowsResult,
                         db_version: str) -> None:
    """Write what a reconfiguration produced into the transaction being built."""
    for br_row in idl.tables["Bridge"].rows.values():
        br = bridges.bridges.get(br_row.name)
        br_row.datapath_id = [f"{br.ofproto.datapath_id:016x}"] if br is not None else []
        # The userspace datapath is part of the daemon: OVS reports it as "<built-in>".
        br_row.datapath_version = "<built-in>" if br is not None else ""
    for irow, br, netdev in interfaces(idl, bridges):
        port = br.ofproto.ports_by_name.get(irow.name) if br is not None else None
        if port is not None and netdev is not None:
            irow.ofport = [ofport_column(port.ofp_port)]
            irow.error = []
            continue
        error = rows.iface_errors.get(irow.uuid)
        if error is None and br is not None:
            error = br.iface_errors.get(irow.name)
        if error is None:
            error = ("bridge could not be created" if br is None
                     else f"could not add interface {irow.name}")
        irow.ofport = [-1]
        irow.error = [error]
        for column in STATUS_COLUMNS + ("statistics",):
            setattr(irow, column, {} if column == "statistics" else [])
    for ovs_row in idl.tables["Open_vSwitch"].rows.values():
        ovs_row.datapath_types = DATAPATH_TYPES
        ovs_row.iface_types = netdev_types()
        ovs_row.ovs_version = [f"{__version__} (pyvswitch)"]
        ovs_row.db_version = [db_version]


def _netdev_status(netdev: Any) -> dict[str, Any]:
    mac = getattr(netdev, "hwaddr", None)
    mtu = getattr(netdev, "mtu", None)
    ifindex = getattr(netdev, "ifindex", 0) or 0
    return {
        "admin_state": ["up" if getattr(netdev, "admin_up", True) else "down"],
        "link_state": ["up" if getattr(netdev, "carrier", True) else "down"],
        "mtu": [mtu] if mtu else [],
        "mac_in_use": [format_mac(mac)] if mac else [],
        "ifindex": [ifindex],
    }


class _OneTxn:
    """At most one transaction of a kind in flight; ``poll()`` reports its outcome."""

    def __init__(self) -> None:
        self.txn: Txn | None = None

    def start(self, idl: ovs.db.idl.Idl, fill: Callable[[], None], what: str) -> bool:
        """Build a transaction with ``fill()`` and commit it; False if ``fill`` failed
        (the transaction is then abandoned, so the IDL stays usable)."""
        txn = Txn(idl)
        try:
            fill()
        except Exception:  # a device that cannot report must not stop the daemon
            txn.abort()
            log.exception("cannot build the %s transaction", what)
            return False
        self.txn = txn
        return True

    def poll(self) -> int | None:
        """None while nothing is in flight or it is still incomplete, else the status."""
        if self.txn is None:
            return None
        status = self.txn.commit()
        if status == Txn.INCOMPLETE:
            return None
        self.txn = None
        return status

    def wait(self, poller: Any) -> None:
        if self.txn is not None:
            self.txn.wait(poller)


class StatusUpdater(_OneTxn):
    """Interface status columns, when devices change (OVS run_status_update)."""

    def __init__(self) -> None:
        super().__init__()
        self.retry = True            # write everything at the next chance
        self.retry_at: float | None = None
        self._seen = -1                  # sum of the devices' change_seq last written

    def force(self) -> None:
        """Rewrite every interface's status at the next run (after a reconfiguration)."""
        self.retry = True
        self.retry_at = None

    def run(self, idl: ovs.db.idl.Idl, bridges: Any, now: float) -> None:
        self.run_poll(now)
        if self.txn is not None or (self.retry_at is not None and now < self.retry_at):
            return
        # Checked on every pass of the loop (per received batch under traffic), so read
        # the devices, not the IDL rows.  Each change_seq only grows and a change in the
        # set of devices comes with a reconfiguration (force()), so a sum tells.
        current = 0
        for br in bridges.bridges.values():
            current += br.local_netdev.change_seq
            for netdev in br.netdevs.values():
                current += netdev.change_seq
        if not self.retry and current == self._seen:
            return
        def fill() -> None:
            for irow, _, netdev in interfaces(idl, bridges):
                if netdev is not None:
                    for column, value in _netdev_status(netdev).items():
                        setattr(irow, column, value)
        self._seen = current
        self.retry, self.retry_at = False, None
        if self.start(idl, fill, "status"):
            self.run_poll(now)

    def run_poll(self, now: float) -> None:
        status = self.poll()
        if status is not None and status not in (Txn.SUCCESS, Txn.UNCHANGED):
            self.retry, self.retry_at = True, now + STATUS_RETRY_MS

    def wait(self, poller: Any, now: float) -> None:
        super().wait(poller)
        if self.txn is None and self.retry:
            poller.timer_wait_until(self.retry_at if self.retry_at is not None else now)


class StatsUpdater(_OneTxn):
    """Interface statistics and controller status, periodically (run_stats_update)."""

    def __init__(self) -> None:
        super().__init__()
        self.interval = STATS_INTERVAL_MS
        self.next_at: float = 0          # due at once

    def set_interval(self, other_config: dict[str, str], now: float) -> None:
        try:
            interval = max(STATS_INTERVAL_MS, int(other_config.get(
                "stats-update-interval", STATS_INTERVAL_MS)))
        except ValueError:
            interval = STATS_INTERVAL_MS
        if interval != self.interval:
            self.interval = interval
            self.next_at = now          # a new interval takes effect at once

    def run(self, idl: ovs.db.idl.Idl, bridges: Any, now: float) -> None:
        if self.poll() is not None:
            self.next_at = now + self.interval
        if self.txn is not None or now < self.next_at:
            return
        def fill() -> None:
            for irow, _, netdev in interfaces(idl, bridges):
                if netdev is not None:
                    irow.statistics = netdev.get_stats().as_dict()
            for br_row in idl.tables["Bridge"].rows.values():
                br = bridges.bridges.get(br_row.name)
                for crow in br_row.controller:
                    svc = br.ofproto.connmgr.services.get(crow.target) if br else None
                    for column, value in controller_status(svc, now).items():
                        setattr(crow, column, value)
        if not self.start(idl, fill, "statistics") or self.poll() is not None:
            self.next_at = now + self.interval

    def wait(self, poller: Any, now: float) -> None:
        super().wait(poller)
        if self.txn is None:
            poller.timer_wait_until(self.next_at)


def controller_status(svc: Any, now: float) -> dict[str, Any]:
    """Controller is_connected/role/status columns for one service (or None: not running).

    Passive targets (listeners) report nothing but is_connected=false, as OVS does."""
    rconn = getattr(svc, "rconn", None)
    if rconn is None:
        return {"is_connected": False, "role": [], "status": {}}
    ofconn = svc.ofconn
    status = {"state": rconn.state.value}
    if rconn.last_error:
        status["last_error"] = ovs.util.ovs_retval_to_string(rconn.last_error)
    if rconn.last_connected is not None:
        status["sec_since_connect"] = str(int((now - rconn.last_connected) // 1000))
    if rconn.last_disconnected is not None:
        status["sec_since_disconnect"] = str(int((now - rconn.last_disconnected) // 1000))
    alive = ofconn is not None and ofconn.is_alive()
    role = ROLE_NAMES.get(ofconn.role) if alive else None
    if alive:       # with controller_rate_limit: the packet-in schedulers' counters
        schedulers = getattr(ofconn, "schedulers", None) or (None, None)
        for kind, sched in zip(("action", "miss"), schedulers):
            if sched is not None:
                for key, value in sched.stats().items():
                    status[f"packet-in-{kind}-{key}"] = str(value)
    return {"is_connected": rconn.is_connected(), "role": [role] if role else [],
            "status": status}
