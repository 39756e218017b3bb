"""The embedded configuration source: a TOML file (no database server needed).

What this module owns
---------------------
Reading ``pyvswitchd --config FILE.toml`` into a ``SwitchConfig`` (docs/config-toml.md
documents the format).  Rows go through the same ``build_*`` validation as OVSDB rows.

Errors
------
* ``ConfigError`` (fatal: the daemon exits non-zero) for a file that cannot be read or
  parsed, an unknown top-level key, or a bridge without a valid name; the message names
  the file, the key and what was wrong.
* A bad port, interface or controller is reported as a ``Problem`` and left out; the rest
  of the configuration is used.

Must not import: anything in pyvswitch except ``config.model`` (and ``util.compat``).
"""

from __future__ import annotations

from typing import Any

from pyvswitch.config.model import (
    BridgeConfig, ControllerConfig, FlowTableConfig, PortConfig, Problem, SwitchConfig,
    build_controller, build_interface, build_port, parse_protocols, FAIL_MODES,
    parse_datapath_id, build_flow_table, one_of, string_map, DATAPATH_TYPES,
)
from pyvswitch.util.compat import tomllib

_TOP_KEYS = {"bridge", "other_config", "ssl"}
_BRIDGE_KEYS = {"name", "port", "controller", "fail_mode", "protocols", "datapath_id",
                "datapath_type", "other_config", "flow_table", "flows"}
_PORT_KEYS = {"name", "type", "options", "ofport_request", "mtu_request", "mac", "tag",
              "trunks", "vlan_mode", "other_config"}
_CONTROLLER_KEYS = {"target", "type", "max_backoff", "inactivity_probe", "connection_mode",
                    "controller_rate_limit", "controller_burst_limit",
                    "controller_queue_size", "enable_async_messages", "other_config"}
_SSL_KEYS = {"private_key", "certificate", "ca_cert", "bootstrap_ca_cert"}


class ConfigError(Exception):
    """A configuration file that cannot be used at all."""


def load(path: str) -> tuple[SwitchConfig, list[Problem]]:
    """Read ``path``; return the configuration and the problems found in its rows."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    return parse(data, path)


def parse(data: dict[str, Any], path: str = "<config>") -> tuple[SwitchConfig, list[Problem]]:
    problems: list[Problem] = []
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))} "
                          f"(expected {', '.join(sorted(_TOP_KEYS))})")
    bridges_raw = data.get("bridge", [])
    if not isinstance(bridges_raw, list):
        raise ConfigError(f"{path}: bridge: must be an array of tables ([[bridge]])")
    bridges: dict[str, BridgeConfig] = {}
    for i, raw in enumerate(bridges_raw):
        br = _parse_bridge(raw, f"{path}: bridge[{i}]", problems)
        if br.name in bridges:
            raise ConfigError(f"{path}: bridge[{i}].name: duplicate bridge \"{br.name}\"")
        bridges[br.name] = br
    seen_ifaces: dict[str, str] = {}
    for br in bridges.values():
        for port in list(br.ports.values()):
            for iface in port.interfaces:
                if iface.name in seen_ifaces:
                    raise ConfigError(f'{path}: interface "{iface.name}" is in both bridge '
                                      f'"{seen_ifaces[iface.name]}" and "{br.name}"')
                seen_ifaces[iface.name] = br.name
    ssl = data.get("ssl")
    if ssl is not None:
        if not isinstance(ssl, dict) or set(ssl) - _SSL_KEYS:
            raise ConfigError(f"{path}: ssl: expected a table with keys "
                              f"{', '.join(sorted(_SSL_KEYS))}")
        bootstrap = ssl.get("bootstrap_ca_cert", False)
        if not isinstance(bootstrap, bool):
            raise ConfigError(f"{path}: ssl.bootstrap_ca_cert: must be true or false, "
                              f"got {bootstrap!r}")
        bad = [k for k in _SSL_KEYS - {"bootstrap_ca_cert"}
               if k in ssl and (not isinstance(ssl[k], str) or not ssl[k])]
        if bad:
            raise ConfigError(f"{path}: ssl.{bad[0]}: must be a file name")
        ssl = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in ssl.items()}
    other = string_map(data.get("other_config"))
    if other is None:
        raise ConfigError(f"{path}: other_config: must be a table of strings")
    return SwitchConfig(bridges=bridges, other_config=other, ssl=ssl), problems


def _parse_bridge(raw: Any, where: str, problems: list[Problem]) -> BridgeConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table")
    unknown = set(raw) - _BRIDGE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    name = raw.get("name")
    if not isinstance(name, str) or not name or "/" in name or len(name) > 15:
        raise ConfigError(f"{where}.name: bridge needs a name of 1 to 15 characters "
                          f"without '/', got {name!r}")
    where = f"{where.rsplit(':', 1)[0]}: bridge {name}"
    fail_mode = raw.get("fail_mode")
    if fail_mode is not None and not one_of(fail_mode, FAIL_MODES):
        raise ConfigError(f'{where}.fail_mode: "{fail_mode}" is not "standalone" or "secure"')
    bad: list[Problem] = []
    protocols = parse_protocols(raw.get("protocols"), f"{where}.protocols", bad)
    if bad:
        raise ConfigError(str(bad[0]))
    dpid = raw.get("datapath_id")
    if dpid is not None and parse_datapath_id(str(dpid)) is None:
        raise ConfigError(f'{where}.datapath_id: "{dpid}" is not 16 hex digits')
    other = string_map(raw.get("other_config"))
    if other is None:
        raise ConfigError(f"{where}.other_config: must be a table of strings")
    dp_type = raw.get("datapath_type", "netdev")
    if not one_of(dp_type, DATAPATH_TYPES):
        raise ConfigError(f"{where}.datapath_type: {dp_type!r} is not one of "
                          f"{', '.join(sorted(t for t in DATAPATH_TYPES if t))}")

    ports: dict[str, PortConfig] = {}
    for i, prow in enumerate(_rows(raw, "port", where)):
        pwhere = f"{where}.port[{i}]"
        unknown = set(prow) - _PORT_KEYS
        if unknown:
            problems.append(Problem(pwhere, f"unknown key(s) {', '.join(sorted(unknown))}; "
                                    "port skipped"))
            continue
        iface = build_interface(prow, pwhere, problems)
        port = build_port(prow, [iface] if iface else [], pwhere, problems)
        if port is None:
            continue
        if port.name in ports:
            problems.append(Problem(pwhere, f'duplicate port "{port.name}" skipped'))
            continue
        ports[port.name] = port

    controllers: list[ControllerConfig] = []
    for i, crow in enumerate(_rows(raw, "controller", where)):
        cwhere = f"{where}.controller[{i}]"
        unknown = set(crow) - _CONTROLLER_KEYS
        if unknown:
            problems.append(Problem(cwhere, f"unknown key(s) {', '.join(sorted(unknown))}; "
                                    "controller skipped"))
            continue
        ctrl = build_controller(crow, cwhere, problems)
        if ctrl is None:
            continue
        if any(c.target == ctrl.target for c in controllers):
            problems.append(Problem(cwhere, f'duplicate target "{ctrl.target}" ignored'))
            continue
        controllers.append(ctrl)

    tables: dict[int, FlowTableConfig] = {}
    for i, trow in enumerate(_rows(raw, "flow_table", where)):
        twhere = f"{where}.flow_table[{i}]"
        tid = trow.get("table")
        if isinstance(tid, bool) or not isinstance(tid, int) or not 0 <= tid <= 253:
            problems.append(Problem(twhere, "table must be an integer in 0..253"))
            continue
        table = build_flow_table(trow, twhere, problems)
        if table is not None:
            tables[tid] = table
    flows = raw.get("flows", [])
    if not isinstance(flows, list) or not all(isinstance(f, str) for f in flows):
        raise ConfigError(f"{where}.flows: must be an array of ovs-ofctl flow strings")

    return BridgeConfig(name=name, ports=ports, controllers=tuple(controllers),
                        fail_mode=fail_mode, protocols=protocols,
                        datapath_id=str(dpid) if dpid is not None else other.get("datapath-id"),
                        datapath_type=DATAPATH_TYPES[dp_type],
                        other_config=other, flow_tables=tables, flows=tuple(flows))


def _rows(raw: dict, key: str, where: str) -> list[dict]:
    rows = raw.get(key, [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ConfigError(f"{where}.{key}: must be an array of tables ([[bridge.{key}]])")
    return rows
