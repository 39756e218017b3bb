"""Configuration with wrong types and values, from a TOML file or OVSDB rows.

A realistic configuration is generated, then some of its values are replaced by values of
another type or out of range (hypothesis).  Whatever comes in:

* the TOML loader either returns a configuration plus a list of problems, or raises
  ``ConfigError`` naming what was wrong - never another exception;
* the OVSDB reader returns a configuration plus problems - never an exception;
* what is returned is well typed (names are strings, VLANs and ports in range, maps of
  strings), so the bridge layer can use it as it is;
* and a bridge built from it (dummy datapath, in memory) reconciles without an exception.

The examples that once raised are kept as regression cases at the end.
"""

from __future__ import annotations

import tomllib
from types import SimpleNamespace
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pyvswitch.config import toml_source
from pyvswitch.config.model import (
    CONNECTION_MODES, FAIL_MODES, INTERFACE_TYPES, SUPPORTED_VERSIONS, VLAN_MODES,
    SwitchConfig,
)
from pyvswitch.config.ovsdb_rows import read_config
from pyvswitch.vswitchd.bridge import Bridges

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))

# Values of every type TOML can hold (and a few more an OVSDB client could send).
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**63, 2**64), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from(["", "tcp:", "ptcp:99999", "punix:", "0", "-1",
                                           "trunk", "dummy", "system", "secure", "../x",
                                           "a" * 16, "OpenFlow13", "primary"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


def good_toml() -> dict:
    return {
        "other_config": {"max-idle": "1000", "flow-limit": "5000"},
        "bridge": [{
            "name": "br0", "datapath_type": "dummy", "fail_mode": "secure",
            "protocols": ["OpenFlow10", "OpenFlow13"], "datapath_id": "0000000000000001",
            "other_config": {"mac-table-size": "100"},
            "port": [
                {"name": "p1", "type": "dummy", "ofport_request": 1, "tag": 10,
                 "vlan_mode": "access", "options": {}, "mtu_request": 1500},
                {"name": "p2", "type": "dummy", "trunks": [1, 2], "other_config": {}},
            ],
            "controller": [{"target": "ptcp:0:127.0.0.1", "max_backoff": 1000,
                            "inactivity_probe": 0, "connection_mode": "out-of-band",
                            "controller_rate_limit": 100, "controller_burst_limit": 25,
                            "controller_queue_size": 10, "enable_async_messages": True,
                            "type": "service", "other_config": {}}],
            "flow_table": [{"table": 0, "name": "t0", "flow_limit": 10,
                            "overflow_policy": "evict", "groups": ["NXM_OF_IN_PORT[]"]}],
            "flows": ["priority=0,actions=drop"],
        }],
    }


def paths(node, prefix=()):
    """Every (path, value) in a nested structure of dicts and lists."""
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, prefix + (i,))


def replace(root, path, value):
    if not path:
        return value
    node = root
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return root


@st.composite
def mutated_toml(draw):
    data = good_toml()
    for _ in range(draw(st.integers(1, 4))):
        all_paths = [p for p, _ in paths(data) if p]   # a TOML document is always a table
        path = draw(st.sampled_from(all_paths))
        data = replace(data, path, draw(values))
    return data


def check_well_typed(cfg: SwitchConfig) -> None:
    assert isinstance(cfg, SwitchConfig)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in cfg.other_config.items())
    for name, br in cfg.bridges.items():
        assert isinstance(name, str) and name == br.name and 0 < len(name) <= 15
        assert br.fail_mode is None or br.fail_mode in FAIL_MODES
        assert br.datapath_type in ("netdev", "dummy")
        assert br.protocols <= SUPPORTED_VERSIONS
        assert all(isinstance(k, str) and isinstance(v, str)
                   for k, v in br.other_config.items())
        assert all(isinstance(f, str) for f in br.flows)
        for pname, port in br.ports.items():
            assert isinstance(pname, str) and port.interfaces
            assert port.tag is None or 0 <= port.tag <= 4095
            assert all(type(t) is int and 0 <= t <= 4095 for t in port.trunks)
            assert port.vlan_mode is None or port.vlan_mode in VLAN_MODES
            assert all(isinstance(k, str) and isinstance(v, str)
                       for k, v in port.other_config.items())
            for iface in port.interfaces:
                assert isinstance(iface.name, str) and iface.type in INTERFACE_TYPES
                assert iface.ofport_request is None or 1 <= iface.ofport_request <= 65279
                assert iface.mtu_request is None or 1 <= iface.mtu_request <= 65535
                assert iface.mac is None or isinstance(iface.mac, str)
                assert all(isinstance(k, str) and isinstance(v, str)
                           for k, v in iface.options.items())
        for ctrl in br.controllers:
            assert isinstance(ctrl.target, str)
            assert ctrl.connection_mode is None or ctrl.connection_mode in CONNECTION_MODES
            assert all(isinstance(k, str) and isinstance(v, str)
                       for k, v in ctrl.other_config.items())
        for tid, table in br.flow_tables.items():
            assert type(tid) is int and 0 <= tid <= 253
            assert table.name is None or isinstance(table.name, str)
            assert table.flow_limit is None or (type(table.flow_limit) is int
                                                and table.flow_limit >= 0)
            assert table.overflow_policy in (None, "refuse", "evict")
            assert all(isinstance(g, str) for g in table.groups)


def reconcile(cfg: SwitchConfig, tmp_path) -> None:
    """Apply ``cfg`` to in-memory bridges (dummy datapath only: nothing touches the host)."""
    safe = {}
    for name, br in cfg.bridges.items():
        ports = {n: p for n, p in br.ports.items()
                 if all(i.type == "dummy" for i in p.interfaces)}
        ctrls = tuple(c for c in br.controllers if c.target.startswith("punix:"))
        safe[name] = br.__class__(**{**br.__dict__, "ports": ports, "controllers": ctrls,
                                     "datapath_type": "dummy"})
    bridges = Bridges(str(tmp_path))
    try:
        bridges.reconfigure(SwitchConfig(bridges=safe, other_config=cfg.other_config), 0)
        bridges.run(10)
    finally:
        bridges.close(20)


def parse_toml(data):
    try:
        cfg, problems = toml_source.parse(data, "fuzz.toml")
    except toml_source.ConfigError as e:
        assert str(e).startswith("fuzz.toml")
        return None
    assert all(str(p) for p in problems)
    check_well_typed(cfg)
    return cfg


@FUZZ
@given(mutated_toml())
def test_toml_with_wrong_types_and_values_is_refused_or_reported(data):
    parse_toml(data)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated_toml())
def test_whatever_the_toml_loader_accepts_reconciles(tmp_path_factory, data):
    cfg = parse_toml(data)
    if cfg is not None:
        reconcile(cfg, tmp_path_factory.mktemp("rundir"))


# --- OVSDB rows -------------------------------------------------------------------------------

def ovs_rows(d: dict):
    """Rows shaped like ovs.db.idl's from plain dicts (optional columns as 0/1 lists)."""
    def iface(r):
        return SimpleNamespace(uuid=uuid4(), name=r["name"], type=r["type"],
                               options=r["options"], ofport_request=r["ofport_request"],
                               mtu_request=r["mtu_request"], mac=r["mac"])

    def port(r):
        return SimpleNamespace(uuid=uuid4(), name=r["name"],
                               interfaces=[iface(i) for i in r["interfaces"]],
                               tag=r["tag"], trunks=r["trunks"], vlan_mode=r["vlan_mode"],
                               other_config=r["other_config"])

    def ctrl(r):
        return SimpleNamespace(uuid=uuid4(), **r)

    def table(r):
        return SimpleNamespace(uuid=uuid4(), **r)

    def bridge(r):
        return SimpleNamespace(uuid=uuid4(), name=r["name"], datapath_type=r["datapath_type"],
                               ports=[port(p) for p in r["ports"]],
                               controller=[ctrl(c) for c in r["controller"]],
                               fail_mode=r["fail_mode"], protocols=r["protocols"],
                               other_config=r["other_config"],
                               flow_tables={k: table(v) for k, v in r["flow_tables"].items()})
    return SimpleNamespace(uuid=uuid4(), bridges=[bridge(b) for b in d["bridges"]],
                           next_cfg=d["next_cfg"], other_config=d["other_config"], ssl=[])


def good_rows() -> dict:
    return {"next_cfg": 3, "other_config": {"max-idle": "1000"}, "bridges": [{
        "name": "br0", "datapath_type": "dummy", "fail_mode": ["secure"],
        "protocols": ["OpenFlow13"], "other_config": {"datapath-id": "0000000000000001"},
        "ports": [{"name": "p1", "tag": [10], "trunks": [], "vlan_mode": ["access"],
                   "other_config": {}, "interfaces": [{
                       "name": "p1", "type": "dummy", "options": {},
                       "ofport_request": [1], "mtu_request": [], "mac": []}]}],
        "controller": [{"target": "punix:/nonexistent/c.sock", "max_backoff": [1000],
                        "inactivity_probe": [], "connection_mode": ["out-of-band"],
                        "controller_rate_limit": [], "controller_burst_limit": [],
                        "controller_queue_size": [5], "enable_async_messages": [True],
                        "type": [], "other_config": {}}],
        "flow_tables": {0: {"name": ["t0"], "flow_limit": [10],
                            "overflow_policy": ["refuse"], "groups": []}},
    }]}


@st.composite
def mutated_rows(draw):
    data = good_rows()
    skip = {("bridges",), ("bridges", 0)}
    for _ in range(draw(st.integers(1, 4))):
        all_paths = [p for p, _ in paths(data) if p and p not in skip and
                     "bridges" in p and p[-1] not in ("ports", "interfaces", "controller",
                                                     "flow_tables")
                     and not (len(p) >= 2 and p[-2] in ("ports", "interfaces",
                                                        "controller", "flow_tables"))]
        path = draw(st.sampled_from(all_paths))
        data = replace(data, path, draw(values))
    return data


@FUZZ
@given(mutated_rows())
def test_ovsdb_rows_with_wrong_types_and_values_are_reported(data):
    result = read_config(ovs_rows(data))
    check_well_typed(result.config)
    assert all(str(p) for p in result.problems)


# --- regression cases (each once raised something other than a reported problem) ------------

REGRESSIONS = [
    ("bridge other_config is a list", ("bridge", 0, "other_config"), [1]),
    ("interface type is a list", ("bridge", 0, "port", 0, "type"), ["dummy"]),
    ("vlan_mode is a table", ("bridge", 0, "port", 0, "vlan_mode"), {}),
    ("trunks is an integer", ("bridge", 0, "port", 1, "trunks"), 5),
    ("trunks hold a boolean", ("bridge", 0, "port", 1, "trunks"), [True]),
    ("port other_config is a string", ("bridge", 0, "port", 1, "other_config"), "x"),
    ("fail_mode is a list", ("bridge", 0, "fail_mode"), ["secure"]),
    ("protocols is an integer", ("bridge", 0, "protocols"), 13),
    ("protocols hold a list", ("bridge", 0, "protocols"), [["OpenFlow13"]]),
    ("datapath_type is unknown", ("bridge", 0, "datapath_type"), "kernel"),
    ("datapath_type is an integer", ("bridge", 0, "datapath_type"), 0),
    ("connection_mode is a list", ("bridge", 0, "controller", 0, "connection_mode"), []),
    ("controller type is a table", ("bridge", 0, "controller", 0, "type"), {}),
    ("controller other_config is a list", ("bridge", 0, "controller", 0, "other_config"),
     ["a"]),
    ("flow_table groups is a number", ("bridge", 0, "flow_table", 0, "groups"), 3),
    ("flow_table name is a number", ("bridge", 0, "flow_table", 0, "name"), 3),
    ("flow_table table is a boolean", ("bridge", 0, "flow_table", 0, "table"), True),
    ("flow_table policy is a list", ("bridge", 0, "flow_table", 0, "overflow_policy"), []),
    ("interface mac is a number", ("bridge", 0, "port", 0, "mac"), 7),
    ("interface options is a list", ("bridge", 0, "port", 0, "options"), []),
    ("top-level other_config holds a table", ("other_config", "x"), {"y": 1}),
]


@pytest.mark.parametrize("what,path,value", REGRESSIONS, ids=[r[0] for r in REGRESSIONS])
def test_toml_regressions(what, path, value, tmp_path):
    data = replace(good_toml(), path, value)
    cfg = parse_toml(data)
    if cfg is not None:
        reconcile(cfg, tmp_path)


def test_a_real_toml_file_with_a_bad_value_names_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[bridge]]\nname = "br0"\nfail_mode = ["secure"]\n')
    with pytest.raises(toml_source.ConfigError, match="fail_mode"):
        toml_source.load(str(path))
    assert tomllib.loads(path.read_text())   # valid TOML: the error is about the value
