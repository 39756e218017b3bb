"""OVSDB rows -> ``SwitchConfig``: what ovs-vswitchd reads from its database.

What this module owns
---------------------
``read_config(ovs_row)``: the one Open_vSwitch row (and the Bridge, Port, Interface,
Controller, Flow_Table and SSL rows it references) turned into the configuration model,
through ``config.model``'s ``build_*`` functions, so a bad value gets the same message as
in a TOML file.  It also returns, per Interface row left out, the text that belongs in
that row's ``error`` column.

Row objects
-----------
Rows are read the way ``ovs.db.idl.Row`` presents them: a column is an attribute;
optional columns (``min: 0, max: 1``) are lists of zero or one element; sets are lists;
maps are dicts; references are rows again.  Every row has ``uuid``.  Unit tests pass plain
objects shaped the same way, so nothing here needs a database.

Rules (as vswitchd/bridge.c)
----------------------------
* A row problem (bad interface, duplicate name, bad controller) leaves that row out and
  the rest applies.  An interface name used twice: the later use is refused.
* ``Controller.target == "none"`` means "no controller"; duplicate targets: the later one
  is ignored.
* ``Bridge.datapath_type``: "" and "system" mean the userspace datapath here ("netdev",
  there is no kernel module); "dummy" keeps everything in memory.

Must not import: anything in pyvswitch except ``config.model`` (no IDL, no sockets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from pyvswitch.config.model import (
    DATAPATH_TYPES, FAIL_MODES, BridgeConfig, ControllerConfig, FlowTableConfig,
    InterfaceConfig, PortConfig, Problem, SwitchConfig, build_controller, build_flow_table,
    build_interface, build_port, one_of, parse_datapath_id, parse_protocols, string_map,
)


@dataclass
class RowsResult:
    """What the database asked for, the problems met, and per-interface errors."""

    config: SwitchConfig
    problems: list[Problem] = field(default_factory=list)
    iface_errors: dict[UUID, str] = field(default_factory=dict)   # Interface row -> error


def optional(value: Any) -> Any:
    """The element of an optional column (a list of 0 or 1 element), or None."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _rows(value: Any) -> list:
    """A set or reference column as a list (anything else: no rows)."""
    return list(value) if isinstance(value, (list, tuple, set, frozenset)) else []


def _by_name(rows: list, column: str = "name") -> list:
    """Rows sorted by a column that should be a string (rows without one sort first)."""
    return sorted(rows, key=lambda r: str(getattr(r, column, "")))


def _map(value: Any, where: str, problems: list[Problem]) -> dict[str, str]:
    """A map column of strings; anything else is reported and read as empty."""
    out = string_map(value)
    if out is None:
        problems.append(Problem(where, "must be a map of strings; ignored"))
        return {}
    return out


def read_config(ovs_row: Any | None) -> RowsResult:
    """Build the configuration from the Open_vSwitch row (None: no row, no bridges)."""
    if ovs_row is None:
        return RowsResult(SwitchConfig())
    result = RowsResult(SwitchConfig())
    bridges: dict[str, BridgeConfig] = {}
    iface_owner: dict[str, str] = {}            # interface name -> bridge name
    for br_row in _by_name(_rows(ovs_row.bridges)):
        bcfg = _read_bridge(br_row, iface_owner, result)
        if bcfg is not None:
            bridges[bcfg.name] = bcfg
    ssl = optional(getattr(ovs_row, "ssl", None))
    ssl_cfg = None
    if ssl is not None:
        ssl_cfg = {k: getattr(ssl, k) for k in ("private_key", "certificate", "ca_cert")}
        ssl_cfg["bootstrap_ca_cert"] = str(bool(getattr(ssl, "bootstrap_ca_cert", False))
                                           ).lower()
    result.config = SwitchConfig(bridges=bridges,
                                 other_config=_map(ovs_row.other_config,
                                                   "Open_vSwitch.other_config",
                                                   result.problems),
                                 ssl=ssl_cfg, next_cfg=ovs_row.next_cfg)
    return result


def _read_bridge(row: Any, iface_owner: dict[str, str],
                 result: RowsResult) -> BridgeConfig | None:
    name = row.name
    where = f"bridge {name}"
    problems = result.problems
    if not isinstance(name, str) or not name or "/" in name or len(name) > 15:
        problems.append(Problem(where, "bridge names are 1 to 15 characters, no '/'"))
        _refuse_all(row, f"bridge {name!r} has a bad name", result)
        return None
    dp_type = DATAPATH_TYPES[row.datapath_type] if one_of(row.datapath_type,
                                                          DATAPATH_TYPES) else None
    if dp_type is None:
        message = (f'unknown datapath type "{row.datapath_type}" '
                   f"(supported: netdev, system, dummy)")
        problems.append(Problem(f"{where}.datapath_type", message))
        _refuse_all(row, f"bridge {name}: {message}", result)
        return None
    other = _map(row.other_config, f"{where}.other_config", problems)
    fail_mode = optional(row.fail_mode)
    if fail_mode is not None and not one_of(fail_mode, FAIL_MODES):
        problems.append(Problem(f"{where}.fail_mode", f"{fail_mode!r} is not standalone "
                                "or secure; the default applies"))
        fail_mode = None
    dpid = other.get("datapath-id")
    if dpid is not None and parse_datapath_id(dpid) is None:
        problems.append(Problem(f"{where}.other_config:datapath-id",
                                f'"{dpid}" is not 16 hex digits; ignored'))
        dpid = None

    ports: dict[str, PortConfig] = {}
    for port_row in _by_name(_rows(row.ports)):
        port = _read_port(port_row, name, iface_owner, result)
        if port is not None:
            ports[port.name] = port

    controllers: list[ControllerConfig] = []
    ctrl_rows = _by_name(_rows(row.controller), "target")
    for crow in ctrl_rows:
        if crow.target == "none":
            continue
        cwhere = f"{where}: controller {crow.target}"
        ctrl = build_controller(_controller_dict(crow), cwhere, problems)
        if ctrl is None:
            continue
        if any(c.target == ctrl.target for c in controllers):
            problems.append(Problem(cwhere, "duplicate controller target ignored"))
            continue
        controllers.append(ctrl)

    tables: dict[int, FlowTableConfig] = {}
    flow_tables = row.flow_tables if isinstance(row.flow_tables, dict) else {}
    for table_id, trow in sorted(flow_tables.items(), key=lambda kv: str(kv[0])):
        if isinstance(table_id, bool) or not isinstance(table_id, int) \
                or not 0 <= table_id <= 253:
            problems.append(Problem(f"{where}.flow_tables", f"table {table_id!r} is not 0..253"))
            continue
        table = build_flow_table({
            "name": optional(getattr(trow, "name", [])),
            "flow_limit": optional(getattr(trow, "flow_limit", [])),
            "overflow_policy": optional(getattr(trow, "overflow_policy", [])),
            "groups": getattr(trow, "groups", [])}, f"{where}.flow_tables[{table_id}]",
            problems)
        if table is not None:
            tables[table_id] = table

    protocols = parse_protocols(row.protocols, f"{where}.protocols", problems)
    return BridgeConfig(name=name, ports=ports, controllers=tuple(controllers),
                        fail_mode=fail_mode, protocols=protocols,
                        datapath_id=dpid, datapath_type=dp_type,
                        other_config=other, flow_tables=tables)


def _read_port(row: Any, bridge: str, iface_owner: dict[str, str],
               result: RowsResult) -> PortConfig | None:
    where = f"bridge {bridge}: port {row.name}"
    interfaces: list[InterfaceConfig] = []
    iface_rows = _rows(row.interfaces)
    for irow in _by_name(iface_rows):
        iwhere = f"{where}: interface {irow.name}"
        owner = iface_owner.get(irow.name) if isinstance(irow.name, str) else None
        if owner is not None:
            message = (f"interface {irow.name} is already in bridge {owner}" if owner != bridge
                       else f"interface {irow.name} is configured twice")
            result.problems.append(Problem(iwhere, message))
            result.iface_errors[irow.uuid] = message
            continue
        mark = len(result.problems)
        iface = build_interface(_interface_dict(irow), iwhere, result.problems)
        if iface is None:
            result.iface_errors[irow.uuid] = "; ".join(
                p.message for p in result.problems[mark:]) or "unusable interface"
            continue
        iface_owner[irow.name] = bridge
        interfaces.append(iface)
    if not interfaces and not iface_rows:
        result.problems.append(Problem(where, f"port {row.name} has no interfaces"))
        return None
    if not interfaces:
        return None          # each interface's problem is already reported
    port = build_port({"name": row.name, "tag": optional(row.tag), "trunks": row.trunks,
                       "vlan_mode": optional(row.vlan_mode),
                       "other_config": row.other_config},
                      interfaces, where, result.problems)
    if port is None:
        message = result.problems[-1].message
        for irow in iface_rows:
            result.iface_errors.setdefault(irow.uuid, f"port {row.name}: {message}")
    return port


def _interface_dict(row: Any) -> dict[str, Any]:
    return {"name": row.name, "type": row.type, "options": row.options,
            "ofport_request": optional(row.ofport_request),
            "mtu_request": optional(row.mtu_request), "mac": optional(row.mac)}


def _controller_dict(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"target": row.target, "other_config": row.other_config}
    for column in ("max_backoff", "inactivity_probe", "connection_mode",
                   "controller_rate_limit", "controller_burst_limit",
                   "controller_queue_size", "enable_async_messages", "type"):
        out[column] = optional(getattr(row, column, []))
    return out


def _refuse_all(br_row: Any, message: str, result: RowsResult) -> None:
    for port_row in _rows(br_row.ports):
        for irow in _rows(getattr(port_row, "interfaces", [])):
            result.iface_errors.setdefault(irow.uuid, message)
