"""The OVSDB configuration source: ``pyvswitchd DATABASE`` as ovs-vswitchd does it.

What this module owns
---------------------
``OvsdbSource(remote)``: an ``ovs.db.idl.Idl`` client of the Open_vSwitch database that
replicates only the tables and columns the switch reads or writes (OVS bridge_init), holds
the ``ovs_vswitchd`` lock, and on every pass of the daemon's loop (OVS bridge_run):

1. runs the IDL (reconnecting with backoff on its own when the server goes away; the
   bridges keep forwarding with the last configuration meanwhile);
2. while another daemon holds the lock: gives every bridge up and logs that, at most
   once per second; does nothing while it does not hold the lock or has never loaded the
   database;
3. when the configuration changed: reads a ``SwitchConfig`` (``config.ovsdb_rows``),
   sets the SSL row's files, applies it with ``Bridges.reconfigure(cfg, now)``, and in
   **one** transaction writes the results (``config.ovsdb_status.write_config_results``)
   and ``cur_cfg = next_cfg``, which is what ``ovs-vsctl`` (without ``--no-wait``) waits
   for.  The first such transaction holds back ``daemonize_complete`` until committed;
4. keeps the status and statistics columns up to date (``config.ovsdb_status``).

The Manager table (Open_vSwitch manager_options) is ovsdb-server's business: it serves
those ``ptcp:``/``punix:``/``tcp:`` remotes itself (``--remote=db:Open_vSwitch,
Open_vSwitch,manager_options``).  As in OVS, the switch reads only each manager's target
and connection_mode, so that active IPv4 managers stay reachable through in-band control
(``Bridges.set_managers``).

Columns this daemon writes are replicated without alerts, and ``SwitchIdl`` counts only
changes outside them, so its own writes are not seen as configuration changes.  A failed reconfiguration transaction (connection lost, lock
lost) makes the next pass reconfigure and write again.

Time model: ``run(daemon, now)`` and ``wait(poller)`` are called by the daemon's loop;
``now`` (ms, ``ovs.timeval.msec``) is the only clock used.

Must not import: ``vswitchd`` (the daemon is passed in; this module only uses
``daemon.bridges``, duck-typed as ``vswitchd.bridge.Bridges``, and ``daemon.args`` for
the SSL options given on the command line).
"""

from __future__ import annotations

import json
import os
from typing import Any

import ovs.daemon
import ovs.db.error
import ovs.db.idl
import ovs.db.schema
import ovs.dirs
import ovs.poller

from pyvswitch.config.model import SwitchConfig
from pyvswitch.config.ovsdb_rows import read_config
from pyvswitch.config.ovsdb_status import StatsUpdater, StatusUpdater, write_config_results
from pyvswitch.config.toml_source import ConfigError
from pyvswitch.io.ssl_stream import SslConfig
from pyvswitch.util.vlog import Logger

log = Logger("ovsdb")

LOCK_NAME = "ovs_vswitchd"
CONTENDED_LOG_INTERVAL_MS = 1000
CONFIG_RETRY_MS = 1000       # after a failed reconfiguration transaction
Txn = ovs.db.idl.Transaction

# Columns read as configuration: a change to any of them triggers a reconfiguration.
READ_COLUMNS = {
    "Open_vSwitch": ["bridges", "next_cfg", "other_config", "ssl", "manager_options"],
    "Manager": ["target", "connection_mode"],
    "Bridge": ["name", "ports", "controller", "fail_mode", "protocols", "datapath_type",
               "other_config", "flow_tables"],
    "Port": ["name", "interfaces", "tag", "trunks", "vlan_mode", "other_config"],
    "Interface": ["name", "type", "options", "ofport_request", "mtu_request", "mac"],
    "Controller": ["target", "type", "max_backoff", "inactivity_probe", "connection_mode",
                   "controller_rate_limit", "controller_burst_limit",
                   "controller_queue_size", "enable_async_messages", "other_config"],
    "Flow_Table": ["name", "flow_limit", "overflow_policy", "groups"],
    "SSL": ["private_key", "certificate", "ca_cert", "bootstrap_ca_cert"],
}
# Columns this daemon writes: replicated (so unchanged values are not rewritten) but
# without alerts (OVS ovsdb_idl_omit_alert).
WRITE_COLUMNS = {
    "Open_vSwitch": ["cur_cfg", "datapath_types", "iface_types", "ovs_version",
                     "db_version"],
    "Bridge": ["datapath_id", "datapath_version"],
    "Interface": ["ofport", "error", "admin_state", "link_state", "mtu", "mac_in_use",
                  "ifindex", "statistics"],
    "Controller": ["is_connected", "role", "status"],
}


class SwitchIdl(ovs.db.idl.Idl):
    """An IDL that counts configuration changes apart from its own writes.

    The Python IDL bumps ``change_seqno`` for every modified row, alerted column or not
    (OVS's C IDL honours "omit alert" there too).  ``config_seqno`` moves only for rows
    inserted or deleted, and for modifications that touch a column outside
    ``WRITE_COLUMNS``: the status and statistics this daemon writes do not make it
    reconfigure."""

    def __init__(self, remote: str, helper: ovs.db.idl.SchemaHelper) -> None:
        super().__init__(remote, helper)
        self.config_seqno = 0
        self._write_only = {t: set(c) for t, c in WRITE_COLUMNS.items()}
        for table, columns in WRITE_COLUMNS.items():
            for column in columns:
                self.tables[table].columns[column].alert = False

    def notify(self, event, row, updates=None) -> None:
        changed: set[str] = set()
        if event == ovs.db.idl.ROW_UPDATE and updates is not None:
            changed = set(getattr(updates, "_data", None) or ())
            if changed and changed <= self._write_only.get(row._table.name, set()):
                return
        log.debug("configuration change: %s %s %s", event, row._table.name,
                  ",".join(sorted(changed)))
        self.config_seqno += 1

    @property
    def is_monitoring(self) -> bool:
        """True once the database contents are loaded on the current connection."""
        return self.state == self.IDL_S_MONITORING


def managers(ovs_row: Any | None) -> list[tuple[str, str | None]]:
    """(target, connection_mode) of each Manager row the Open_vSwitch row lists."""
    if ovs_row is None:
        return []
    out = []
    for row in sorted(ovs_row.manager_options, key=lambda r: r.target):
        mode = row.connection_mode
        out.append((row.target, mode[0] if mode else None))
    return out


class SchemaError(ConfigError):
    """The Open_vSwitch schema cannot be found or read (fatal: the daemon exits with
    this message, no traceback)."""


def find_schema() -> str:
    """The vswitch.ovsschema shipped with Open vSwitch: in $OVS_PKGDATADIR when it is set
    (as OVS's own ovs_pkgdatadir()), else in the usual install directories."""
    env = os.environ.get("OVS_PKGDATADIR")
    candidates = [env] if env else [ovs.dirs.PKGDATADIR, "/usr/share/openvswitch",
                                    "/usr/local/share/openvswitch"]
    for directory in candidates:
        path = os.path.join(directory, "vswitch.ovsschema")
        if os.path.exists(path):
            return path
    raise SchemaError(f"vswitch.ovsschema not found in {', '.join(candidates)} (install "
                      f"Open vSwitch's openvswitch-common package, or set OVS_PKGDATADIR "
                      f"to the directory that holds it)")


def _read_schema(path: str) -> tuple[str, ovs.db.idl.SchemaHelper]:
    """(version, IDL schema helper) of the schema file at ``path``."""
    try:
        with open(path) as f:
            schema = ovs.db.schema.DbSchema.from_json(json.load(f))
        if schema.name != "Open_vSwitch":
            raise ValueError(f'schema of database "{schema.name}", not "Open_vSwitch"')
        missing = [f"{table}.{column}"
                   for table in sorted(READ_COLUMNS.keys() | WRITE_COLUMNS.keys())
                   for column in READ_COLUMNS.get(table, []) + WRITE_COLUMNS.get(table, [])
                   if column not in getattr(schema.tables.get(table), "columns", {})]
        if missing:
            raise ValueError(f"no column {', '.join(missing[:5])}"
                             f"{' and others' if len(missing) > 5 else ''}")
        return schema.version or "", ovs.db.idl.SchemaHelper(location=path)
    except OSError as e:
        raise SchemaError(f"{path}: cannot read the database schema: {e.strerror}") from e
    except (ValueError, ovs.db.error.Error) as e:
        raise SchemaError(f"{path}: not a usable database schema: {e}") from e


class OvsdbSource:
    """Configuration from an OVSDB server (see the module docstring)."""

    def __init__(self, remote: str, schema_path: str | None = None) -> None:
        schema_path = schema_path or find_schema()
        self.db_version, helper = _read_schema(schema_path)
        for table in READ_COLUMNS.keys() | WRITE_COLUMNS.keys():
            helper.register_columns(table, READ_COLUMNS.get(table, [])
                                    + WRITE_COLUMNS.get(table, []))
        self.idl = SwitchIdl(remote, helper)
        self.idl.set_lock(LOCK_NAME)
        self.remote = remote
        self.applied_seqno: int | None = None     # IDL config seqno last reconfigured to
        self.config_txn: Txn | None = None        # reconfiguration results in flight
        self.retry_at: float | None = None        # write the configuration again then
        self.n_failed_txns = 0                    # reconfiguration txns failed in a row
        self.daemonized = False
        self.status = StatusUpdater()
        self.stats = StatsUpdater()
        self._contended_logged_at: float | None = None
        self._now: float = 0

    # --- the loop ---------------------------------------------------------------------
    def run(self, daemon: Any, now: float) -> None:
        self._now = now
        self.idl.run()
        bridges = daemon.bridges
        if self.idl.is_lock_contended:
            self._lock_contended(bridges, now)
            return
        self._contended_logged_at = None
        if not self.idl.has_lock:
            self.applied_seqno = None    # (re)acquiring the lock rereads everything
            return
        if not self.idl.is_monitoring:
            return                       # keep forwarding with what we have
        self._poll_config_txn(now)
        if (self.idl.config_seqno != self.applied_seqno
                or (self.retry_at is not None and now >= self.retry_at)):
            self._reconfigure(daemon, now)
        self.status.run(self.idl, bridges, now)
        self.stats.run(self.idl, bridges, now)

    def wait(self, poller: ovs.poller.Poller) -> None:
        self.idl.wait(poller)
        if self.config_txn is not None:
            self.config_txn.wait(poller)
        if self.idl.has_lock and self.idl.is_monitoring:
            if self.idl.config_seqno != self.applied_seqno:
                poller.immediate_wake()
            if self.retry_at is not None:
                poller.timer_wait_until(self.retry_at)
            self.status.wait(poller, self._now)
            self.stats.wait(poller, self._now)

    def close(self) -> None:
        self.idl.close()

    # --- steps ------------------------------------------------------------------------
    def _lock_contended(self, bridges: Any, now: float) -> None:
        # Said before the bridges go: whoever sees them gone finds the reason logged.
        if (self._contended_logged_at is None
                or now - self._contended_logged_at >= CONTENDED_LOG_INTERVAL_MS):
            log.error("another ovs-vswitchd process is running, disabling this process "
                      "(pid %d) until it goes away", os.getpid())
            self._contended_logged_at = now
        if bridges.bridges:
            bridges.reconfigure(SwitchConfig(), now)
        self.applied_seqno = None        # reconfigure from scratch once the lock is ours
        self.config_txn = None
        self.status.force()

    @staticmethod
    def _configure_ssl(daemon: Any, ssl: Any) -> None:
        """The SSL row's files, before controllers connect; command-line options
        (--private-key, --certificate, --ca-cert, --bootstrap-ca-cert) take precedence."""
        SslConfig.apply(ssl, getattr(daemon, "args", None))   # bootstrap_ca_cert too

    def _reconfigure(self, daemon: Any, now: float) -> None:
        bridges = daemon.bridges
        self.applied_seqno = self.idl.config_seqno
        self.retry_at = None
        ovs_row = next(iter(self.idl.tables["Open_vSwitch"].rows.values()), None)
        rows = read_config(ovs_row)
        for p in rows.problems:
            log.error("%s", p)
        self._configure_ssl(daemon, rows.config.ssl)
        bridges.set_managers(managers(ovs_row))
        bridges.reconfigure(rows.config, now)
        self.stats.set_interval(rows.config.other_config, now)
        txn = Txn(self.idl)
        txn.add_comment("pyvswitchd: reconfiguring")
        try:
            write_config_results(self.idl, bridges, rows, self.db_version)
        except Exception:  # report the bug, still publish cur_cfg so ovs-vsctl returns
            txn.abort()
            log.exception("cannot write the reconfiguration results")
            txn = Txn(self.idl)
        if ovs_row is not None:
            ovs_row.cur_cfg = ovs_row.next_cfg
        self.config_txn = txn
        self.status.force()
        self._poll_config_txn(now)

    def _poll_config_txn(self, now: float) -> None:
        if self.config_txn is None:
            return
        status = self.config_txn.commit()
        if status == Txn.INCOMPLETE:
            return
        self.config_txn = None
        if status not in (Txn.SUCCESS, Txn.UNCHANGED):
            # Typically the connection dropped: write everything again in a second (the
            # IDL reconnects meanwhile), so cur_cfg is not left behind.
            self.n_failed_txns += 1
            if self.n_failed_txns == 1:
                log.warning("database transaction failed (%s); retrying",
                            Txn.status_to_string(status))
            self.retry_at = now + CONFIG_RETRY_MS
            return
        self.n_failed_txns = 0
        if not self.daemonized:
            self.daemonized = True
            ovs.daemon.daemonize_complete()
            log.info("configuration from %s applied", self.remote)
