"""The configuration model the bridge layer reconciles to.

What this module owns
---------------------
Plain, immutable dataclasses shaped like the OVSDB tables ovs-vswitchd reads
(Open_vSwitch, Bridge, Port, Interface, Controller), and the per-column validation both
configuration sources share: the TOML file (``config/toml_source.py``) and OVSDB
(``config/ovsdb_source.py``) build these objects through ``build_*`` functions here, so a
bad value gets the same message whichever source it came from.

Errors
------
A problem confined to one row (a port, an interface, a controller) does not stop the rest:
``build_*`` functions return the row or ``None`` and append a ``Problem`` naming where the
value was and what was wrong.  The source decides what is fatal (the TOML loader treats
errors outside rows, e.g. a bridge without a name, as fatal).

Must not import: anything in pyvswitch above ``util``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

OF_VERSIONS = {"OpenFlow10": 0x01, "OpenFlow11": 0x02, "OpenFlow12": 0x03,
               "OpenFlow13": 0x04, "OpenFlow14": 0x05, "OpenFlow15": 0x06}
SUPPORTED_VERSIONS = frozenset({0x01, 0x04, 0x05, 0x06})
INTERFACE_TYPES = frozenset({"", "system", "internal", "tap", "patch", "dummy"})
FAIL_MODES = frozenset({"standalone", "secure"})
CONNECTION_MODES = frozenset({"in-band", "out-of-band"})
VLAN_MODES = frozenset({"trunk", "access", "native-tagged", "native-untagged"})
DEFAULT_OFP_PORT = 6653
#: Bridge.datapath_type as written -> the datapath used ("" and "system" mean the
#: userspace datapath: there is no kernel module).
DATAPATH_TYPES = {"": "netdev", "system": "netdev", "netdev": "netdev", "dummy": "dummy"}
OVERFLOW_POLICIES = frozenset({"refuse", "evict"})

_TARGET_RE = re.compile(r"^(tcp|ssl|unix|ptcp|pssl|punix):(.*)$")


@dataclass(frozen=True)
class Problem:
    """A configuration value that could not be used: where it was and why."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class InterfaceConfig:
    name: str
    type: str = ""                      # "" means system, as in OVSDB
    options: Mapping[str, str] = field(default_factory=dict)
    ofport_request: int | None = None
    mtu_request: int | None = None
    mac: str | None = None              # Interface.mac (internal ports)


@dataclass(frozen=True)
class PortConfig:
    name: str
    interfaces: tuple[InterfaceConfig, ...]
    tag: int | None = None
    trunks: tuple[int, ...] = ()
    vlan_mode: str | None = None
    other_config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ControllerConfig:
    target: str
    type: str | None = None                       # "primary" / "service"; None: by target
    max_backoff: int | None = None                # ms
    inactivity_probe: int | None = None           # ms; 0 disables
    connection_mode: str | None = None
    controller_rate_limit: int | None = None
    controller_burst_limit: int | None = None
    controller_queue_size: int | None = None
    enable_async_messages: bool | None = None
    other_config: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_passive(self) -> bool:
        return self.target.startswith("p")

    @property
    def is_primary(self) -> bool:
        if self.type is not None:
            return self.type == "primary"
        return not self.is_passive


@dataclass(frozen=True)
class FlowTableConfig:
    name: str | None = None
    flow_limit: int | None = None
    overflow_policy: str | None = None            # "refuse" / "evict"
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class BridgeConfig:
    name: str
    ports: Mapping[str, PortConfig] = field(default_factory=dict)
    controllers: tuple[ControllerConfig, ...] = ()
    fail_mode: str | None = None
    protocols: frozenset[int] = frozenset()       # empty: OpenFlow 1.0 to 1.5
    datapath_id: str | None = None                # other_config:datapath-id
    datapath_type: str = "netdev"
    other_config: Mapping[str, str] = field(default_factory=dict)
    flow_tables: Mapping[int, FlowTableConfig] = field(default_factory=dict)
    flows: tuple[str, ...] = ()                   # TOML only: ovs-ofctl flows at startup

    @property
    def allowed_versions(self) -> frozenset[int]:
        return self.protocols or SUPPORTED_VERSIONS


@dataclass(frozen=True)
class SwitchConfig:
    """The whole configuration: the Open_vSwitch row and its bridges."""

    bridges: Mapping[str, BridgeConfig] = field(default_factory=dict)
    other_config: Mapping[str, str] = field(default_factory=dict)
    ssl: Mapping[str, str] | None = None          # private_key, certificate, ca_cert...
    next_cfg: int = 0


# --- value checks shared by every source ------------------------------------------------


def _int_in(value: Any, lo: int, hi: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        return None
    return value


def one_of(value: Any, choices: Any) -> bool:
    """Is ``value`` a string among ``choices``? (False for any other type, including
    unhashable ones a configuration file can hold.)"""
    return isinstance(value, str) and value in choices


def string_map(value: Any) -> dict[str, str] | None:
    """A table of strings (other_config, options): unset -> {}, scalar values are
    converted with str(); None when ``value`` is not a table or holds tables or arrays."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        return None
    if any(isinstance(v, (Mapping, list, tuple, set)) for v in value.values()):
        return None
    return {str(k): (str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in value.items()}


def build_flow_table(row: Mapping[str, Any], where: str,
                     problems: list[Problem]) -> FlowTableConfig | None:
    """A Flow_Table row (name, flow_limit, overflow_policy, groups) or None."""
    name, limit = row.get("name"), row.get("flow_limit")
    policy, groups = row.get("overflow_policy"), row.get("groups") or ()
    if name is not None and not isinstance(name, str):
        problems.append(Problem(f"{where}.name", f"{name!r} is not a string"))
        return None
    if limit is not None and _int_in(limit, 0, 2**63 - 1) is None:
        problems.append(Problem(f"{where}.flow_limit", f"{limit!r} is not an integer >= 0"))
        return None
    if policy is not None and not one_of(policy, OVERFLOW_POLICIES):
        problems.append(Problem(f"{where}.overflow_policy",
                                f'{policy!r} is not "refuse" or "evict"'))
        return None
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, str) for g in groups):
        problems.append(Problem(f"{where}.groups", "must be an array of field names"))
        return None
    return FlowTableConfig(name=name, flow_limit=limit, overflow_policy=policy,
                           groups=tuple(groups))


def check_target(target: Any) -> str | None:
    """Return an error text for a controller target, or None if it is usable."""
    if not isinstance(target, str) or not target:
        return "target must be a non-empty string"
    m = _TARGET_RE.match(target)
    if not m:
        return (f'"{target}": unknown connection method (use tcp:, ssl:, unix:, ptcp:, '
                "pssl: or punix:)")
    method, rest = m.groups()
    if method in ("tcp", "ssl"):
        host, port = split_host_port(rest)
        if not host:
            return f'"{target}": missing host'
        if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
            return f'"{target}": bad port "{port}"'
    elif method in ("ptcp", "pssl"):
        port = rest.split(":", 1)[0]
        if port and not (port.isdigit() and int(port) < 65536):
            return f'"{target}": bad port "{port}"'
    elif not rest:
        return f'"{target}": missing socket path'
    return None


def split_host_port(text: str) -> tuple[str, str | None]:
    """Split "HOST[:PORT]" (HOST may be a bracketed IPv6 address) into host and port."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    host, sep, port = text.partition(":")
    return host, port if sep else None


def with_default_port(target: str, port: int = DEFAULT_OFP_PORT) -> str:
    """Add the default port to an active tcp:/ssl: target that has none."""
    method, _, rest = target.partition(":")
    if method in ("tcp", "ssl") and split_host_port(rest)[1] is None:
        return f"{target}:{port}"
    if method in ("ptcp", "pssl") and not rest:
        return f"{target}{port}"
    return target


def parse_protocols(values: Any, where: str, problems: list[Problem]) -> frozenset[int]:
    if values is None:
        return frozenset()
    if isinstance(values, str):
        values = [v for v in values.split(",") if v]
    if not isinstance(values, (list, tuple, set, frozenset)):
        problems.append(Problem(where, f"{values!r} is not a list of OpenFlow versions"))
        return frozenset()
    out = set()
    for v in values:
        if not one_of(v, OF_VERSIONS):
            problems.append(Problem(where, f'unknown OpenFlow version "{v}" '
                                    f"(expected one of {', '.join(OF_VERSIONS)})"))
        elif OF_VERSIONS[v] in SUPPORTED_VERSIONS:
            out.add(OF_VERSIONS[v])
    return frozenset(out)


def parse_datapath_id(value: Any) -> int | None:
    """Datapath ID from other_config:datapath-id (16 hex digits, optional 0x)."""
    if not isinstance(value, str):
        return None
    text = value[2:] if value.lower().startswith("0x") else value
    if len(text) != 16 or not all(c in "0123456789abcdefABCDEF" for c in text):
        return None
    return int(text, 16)


def build_interface(row: Mapping[str, Any], where: str,
                    problems: list[Problem]) -> InterfaceConfig | None:
    name = row.get("name")
    if not isinstance(name, str) or not name or "/" in name or len(name) > 15:
        problems.append(Problem(where, f"bad interface name {name!r} "
                                "(a non-empty string of at most 15 characters, no '/')"))
        return None
    itype = row.get("type", "")
    if itype is None:
        itype = ""
    if not one_of(itype, INTERFACE_TYPES):
        problems.append(Problem(f"{where}.type", f'unknown interface type "{itype}" '
                                f"(supported: {', '.join(sorted(t for t in INTERFACE_TYPES if t))})"))
        return None
    options = string_map(row.get("options"))
    if options is None:
        problems.append(Problem(f"{where}.options", "must be a table of strings"))
        return None
    if itype == "patch" and not options.get("peer"):
        problems.append(Problem(f"{where}.options", "patch interface needs options:peer"))
        return None
    ofport_request = row.get("ofport_request")
    if ofport_request is not None and _int_in(ofport_request, 1, 65279) is None:
        problems.append(Problem(f"{where}.ofport_request",
                                f"{ofport_request!r} is not an integer in 1..65279"))
        return None
    mtu_request = row.get("mtu_request")
    if mtu_request is not None and _int_in(mtu_request, 1, 65535) is None:
        problems.append(Problem(f"{where}.mtu_request", f"{mtu_request!r} is not a valid MTU"))
        return None
    mac = row.get("mac")
    if mac is not None and not isinstance(mac, str):
        problems.append(Problem(f"{where}.mac", f"{mac!r} is not a MAC address string"))
        return None
    return InterfaceConfig(name=name, type=itype, options=options,
                           ofport_request=ofport_request, mtu_request=mtu_request,
                           mac=mac)


def build_port(row: Mapping[str, Any], interfaces: list[InterfaceConfig], where: str,
               problems: list[Problem]) -> PortConfig | None:
    name = row.get("name")
    if not isinstance(name, str) or not name:
        problems.append(Problem(where, f"bad port name {name!r}"))
        return None
    if not interfaces:
        problems.append(Problem(where, f'port "{name}" has no usable interface'))
        return None
    tag = row.get("tag")
    if tag is not None and _int_in(tag, 0, 4095) is None:
        problems.append(Problem(f"{where}.tag", f"{tag!r} is not a VLAN id in 0..4095"))
        return None
    trunks = row.get("trunks") or ()
    if not isinstance(trunks, (list, tuple, set, frozenset)) or \
            any(_int_in(t, 0, 4095) is None for t in trunks):
        problems.append(Problem(f"{where}.trunks", f"{trunks!r}: VLAN ids must be 0..4095"))
        return None
    vlan_mode = row.get("vlan_mode")
    if vlan_mode is not None and not one_of(vlan_mode, VLAN_MODES):
        problems.append(Problem(f"{where}.vlan_mode", f'unknown vlan_mode "{vlan_mode}"'))
        return None
    other = string_map(row.get("other_config"))
    if other is None:
        problems.append(Problem(f"{where}.other_config", "must be a table of strings"))
        return None
    return PortConfig(name=name, interfaces=tuple(interfaces), tag=tag,
                      trunks=tuple(sorted(set(trunks))), vlan_mode=vlan_mode,
                      other_config=other)


def build_controller(row: Mapping[str, Any], where: str,
                     problems: list[Problem]) -> ControllerConfig | None:
    target = row.get("target")
    err = check_target(target)
    if err:
        problems.append(Problem(f"{where}.target", err))
        return None
    checks = {
        "max_backoff": (1000, 2**31 - 1), "inactivity_probe": (0, 2**31 - 1),
        "controller_rate_limit": (100, 2**31 - 1), "controller_burst_limit": (25, 2**31 - 1),
        "controller_queue_size": (1, 512),
    }
    values: dict[str, Any] = {}
    for key, (lo, hi) in checks.items():
        v = row.get(key)
        if v is not None and _int_in(v, lo, hi) is None:
            problems.append(Problem(f"{where}.{key}", f"{v!r} is not an integer in {lo}..{hi}"))
            return None
        values[key] = v
    mode = row.get("connection_mode")
    if mode is not None and not one_of(mode, CONNECTION_MODES):
        problems.append(Problem(f"{where}.connection_mode",
                                f'"{mode}" is not "in-band" or "out-of-band"'))
        return None
    ctype = row.get("type")
    if ctype is not None and not one_of(ctype, ("primary", "service")):
        problems.append(Problem(f"{where}.type", f'"{ctype}" is not "primary" or "service"'))
        return None
    enable_async = row.get("enable_async_messages")
    if enable_async is not None and not isinstance(enable_async, bool):
        problems.append(Problem(f"{where}.enable_async_messages", "must be true or false"))
        return None
    other = string_map(row.get("other_config"))
    if other is None:
        problems.append(Problem(f"{where}.other_config", "must be a table of strings"))
        return None
    return ControllerConfig(target=target, type=ctype, connection_mode=mode,
                            enable_async_messages=enable_async, other_config=other, **values)
