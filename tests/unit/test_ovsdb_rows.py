"""OVSDB rows -> SwitchConfig (config/ovsdb_rows.py) and what is written back
(config/ovsdb_status.py), with rows shaped as ovs.db.idl's.

Optional columns are lists of zero or one element, sets are lists, maps are dicts and
references are rows, exactly as ``ovs.db.idl.Row`` presents them.
"""

from types import SimpleNamespace
from uuid import uuid4

from pyvswitch.config.ovsdb_rows import read_config
from pyvswitch.config.ovsdb_status import (
    StatsUpdater, controller_status, ofport_column, write_config_results,
)
from pyvswitch.conn.rconn import State
from pyvswitch.netdev.dummy import DummyNetdev
from pyvswitch.openflow.messages import ROLE_MASTER


def iface(name, type="", options=None, ofport_request=None, mtu_request=None):
    return SimpleNamespace(uuid=uuid4(), name=name, type=type, options=options or {},
                           ofport_request=[] if ofport_request is None else [ofport_request],
                           mtu_request=[] if mtu_request is None else [mtu_request], mac=[])


def port(name, interfaces=None, tag=None, trunks=(), vlan_mode=None):
    return SimpleNamespace(uuid=uuid4(), name=name,
                           interfaces=interfaces if interfaces is not None else [iface(name)],
                           tag=[] if tag is None else [tag], trunks=list(trunks),
                           vlan_mode=[] if vlan_mode is None else [vlan_mode],
                           other_config={})


def controller(target, **columns):
    row = dict(uuid=uuid4(), target=target, other_config={})
    for c in ("max_backoff", "inactivity_probe", "connection_mode", "controller_rate_limit",
              "controller_burst_limit", "controller_queue_size", "enable_async_messages",
              "type"):
        row[c] = [columns[c]] if c in columns else []
    return SimpleNamespace(**row)


def bridge(name, ports=(), controllers=(), fail_mode=None, protocols=(),
           datapath_type="", other_config=None, flow_tables=None):
    return SimpleNamespace(uuid=uuid4(), name=name, ports=list(ports),
                           controller=list(controllers),
                           fail_mode=[] if fail_mode is None else [fail_mode],
                           protocols=list(protocols), datapath_type=datapath_type,
                           other_config=other_config or {}, flow_tables=flow_tables or {})


def ovs_row(*bridges, next_cfg=3, other_config=None):
    return SimpleNamespace(uuid=uuid4(), bridges=list(bridges), next_cfg=next_cfg,
                           other_config=other_config or {}, ssl=[])


def test_no_row_means_no_bridges():
    result = read_config(None)
    assert result.config.bridges == {} and not result.problems


def test_columns_map_to_the_model():
    table = SimpleNamespace(name=["classifier"], flow_limit=[1000],
                            overflow_policy=["evict"], groups=["NXM_OF_IN_PORT[]"])
    br = bridge("br0", ports=[
        port("br0", [iface("br0", "internal")]),
        port("p1", [iface("p1", "dummy", ofport_request=5, mtu_request=1400)], tag=10),
        port("p2", [iface("p2")], trunks=[20, 10], vlan_mode="trunk"),
    ], controllers=[controller("tcp:127.0.0.1", max_backoff=2000, inactivity_probe=0,
                               enable_async_messages=False, controller_rate_limit=100)],
        fail_mode="secure", protocols=["OpenFlow10", "OpenFlow13"],
        datapath_type="netdev", other_config={"datapath-id": "00000000000000aa"},
        flow_tables={0: table})
    result = read_config(ovs_row(br, next_cfg=7, other_config={"a": "b"}))
    assert not result.problems and not result.iface_errors
    cfg = result.config
    assert cfg.next_cfg == 7 and cfg.other_config == {"a": "b"}
    b = cfg.bridges["br0"]
    assert b.fail_mode == "secure" and b.protocols == {0x01, 0x04}
    assert b.datapath_id == "00000000000000aa" and b.datapath_type == "netdev"
    assert set(b.ports) == {"br0", "p1", "p2"}
    p1 = b.ports["p1"]
    assert p1.tag == 10 and p1.interfaces[0].type == "dummy"
    assert p1.interfaces[0].ofport_request == 5 and p1.interfaces[0].mtu_request == 1400
    assert b.ports["p2"].trunks == (10, 20) and b.ports["p2"].vlan_mode == "trunk"
    (c,) = b.controllers
    assert (c.target, c.max_backoff, c.inactivity_probe, c.enable_async_messages,
            c.controller_rate_limit) == ("tcp:127.0.0.1", 2000, 0, False, 100)
    t = b.flow_tables[0]
    assert (t.name, t.flow_limit, t.overflow_policy, t.groups) == (
        "classifier", 1000, "evict", ("NXM_OF_IN_PORT[]",))


def test_empty_datapath_type_is_the_userspace_datapath():
    result = read_config(ovs_row(bridge("br0", datapath_type=""),
                                 bridge("br1", datapath_type="dummy")))
    assert result.config.bridges["br0"].datapath_type == "netdev"
    assert result.config.bridges["br1"].datapath_type == "dummy"


def test_unknown_datapath_type_leaves_the_bridge_out_with_errors_on_its_interfaces():
    bad = iface("p1")
    result = read_config(ovs_row(bridge("br0", [port("p1", [bad])], datapath_type="odd"),
                                 bridge("br1")))
    assert set(result.config.bridges) == {"br1"}
    assert "datapath type" in result.iface_errors[bad.uuid]


def test_bad_interface_is_reported_on_its_row_and_the_rest_applies():
    bad = iface("p2", "no-such-type")
    result = read_config(ovs_row(bridge("br0", [port("p1"), port("p2", [bad])])))
    assert set(result.config.bridges["br0"].ports) == {"p1"}
    assert 'unknown interface type "no-such-type"' in result.iface_errors[bad.uuid]
    assert any("p2" in p.where for p in result.problems)


def test_bad_port_column_reports_every_interface_of_the_port():
    i = iface("p1")
    result = read_config(ovs_row(bridge("br0", [port("p1", [i], vlan_mode="odd")])))
    assert result.config.bridges["br0"].ports == {}
    assert "vlan_mode" in result.iface_errors[i.uuid]


def test_interface_in_two_bridges_is_refused_the_second_time():
    first, second = iface("p1", "dummy"), iface("p1", "dummy")
    result = read_config(ovs_row(bridge("br0", [port("p1", [first])]),
                                 bridge("br1", [port("p1", [second])])))
    assert "p1" in result.config.bridges["br0"].ports
    assert result.config.bridges["br1"].ports == {}
    assert result.iface_errors == {second.uuid: "interface p1 is already in bridge br0"}


def test_controller_none_and_duplicates_and_bad_values():
    result = read_config(ovs_row(bridge("br0", controllers=[
        controller("none"), controller("tcp:10.0.0.1:6653"),
        controller("tcp:10.0.0.1:6653"), controller("bogus:1"),
        controller("tcp:10.0.0.2", controller_queue_size=1000)])))
    assert [c.target for c in result.config.bridges["br0"].controllers] == [
        "tcp:10.0.0.1:6653"]
    messages = " ".join(str(p) for p in result.problems)
    assert "duplicate" in messages and "unknown connection method" in messages
    assert "controller_queue_size" in messages


def test_unsupported_protocol_names_are_reported():
    result = read_config(ovs_row(bridge("br0", protocols=["OpenFlow13", "OpenFlow99"])))
    assert result.config.bridges["br0"].protocols == {0x04}
    assert any("OpenFlow99" in p.message for p in result.problems)


# --- what is written back (config/ovsdb_status.py) ---------------------------------------


def fake_idl(ovs, bridges_rows):
    table = lambda rows: SimpleNamespace(rows={r.uuid: r for r in rows})  # noqa: E731
    return SimpleNamespace(tables={"Open_vSwitch": table([ovs]),
                                   "Bridge": table(bridges_rows)})


def running_bridge(name, dpid, ports):
    """A stand-in for vswitchd.bridge.Bridge: ofproto ports by name and open netdevs."""
    netdevs = {n: DummyNetdev(n) for n in ports}
    by_name = {n: SimpleNamespace(ofp_port=p) for n, p in ports.items()}
    by_name[name] = SimpleNamespace(ofp_port=0xFFFFFFFE)
    return SimpleNamespace(name=name, netdevs=netdevs, local_netdev=DummyNetdev(name),
                           iface_errors={},
                           ofproto=SimpleNamespace(datapath_id=dpid, ports_by_name=by_name))


def test_reconfiguration_results_are_written_to_the_rows():
    local, good, bad = iface("br0", "internal"), iface("p1", "dummy"), iface("p2", "odd")
    br_row = bridge("br0", [port("br0", [local]), port("p1", [good]), port("p2", [bad])])
    ovs = ovs_row(br_row)
    rows = read_config(ovs)
    bridges = SimpleNamespace(bridges={"br0": running_bridge("br0", 0xAB, {"p1": 3})})
    write_config_results(fake_idl(ovs, [br_row]), bridges, rows, "8.3.1")
    assert br_row.datapath_id == ["00000000000000ab"]
    assert (local.ofport, good.ofport, good.error) == ([65534], [3], [])
    assert bad.ofport == [-1] and "unknown interface type" in bad.error[0]
    assert bad.mac_in_use == [] and bad.statistics == {}
    assert ovs.db_version == ["8.3.1"] and "netdev" in ovs.datapath_types
    assert "system" in ovs.iface_types


def test_local_port_number_is_written_as_ovs_writes_it():
    assert ofport_column(0xFFFFFFFE) == 65534 and ofport_column(7) == 7


def test_controller_status_columns():
    rconn = SimpleNamespace(state=State.ACTIVE, last_error=-1, last_connected=1000,
                            last_disconnected=500, is_connected=lambda: True)
    ofconn = SimpleNamespace(role=ROLE_MASTER, is_alive=lambda: True)
    cols = controller_status(SimpleNamespace(rconn=rconn, ofconn=ofconn), now=13_500)
    assert cols == {"is_connected": True, "role": ["master"],
                    "status": {"state": "ACTIVE", "last_error": "End of file",
                               "sec_since_connect": "12", "sec_since_disconnect": "13"}}
    never = SimpleNamespace(state=State.BACKOFF, last_error=111, last_connected=None,
                            last_disconnected=None, is_connected=lambda: False)
    cols = controller_status(SimpleNamespace(rconn=never, ofconn=None), now=0)
    assert cols == {"is_connected": False, "role": [],
                    "status": {"state": "BACKOFF", "last_error": "Connection refused"}}
    # With rate limiting, the packet-in schedulers' counters under OVS's names.
    miss = SimpleNamespace(stats=lambda: {"backlog": 1, "bypassed": 2, "queued": 3,
                                          "dropped": 4})
    ofconn.schedulers = [None, miss]
    status = controller_status(SimpleNamespace(rconn=rconn, ofconn=ofconn), 13_500)["status"]
    assert {k: v for k, v in status.items() if k.startswith("packet-in")} == {
        "packet-in-miss-backlog": "1", "packet-in-miss-bypassed": "2",
        "packet-in-miss-queued": "3", "packet-in-miss-dropped": "4"}
    # Listeners (and targets that are not running) report only is_connected=false.
    assert controller_status(SimpleNamespace(rconn=None), 0) == {
        "is_connected": False, "role": [], "status": {}}
    assert controller_status(None, 0)["is_connected"] is False


def test_stats_interval_has_a_5_second_floor_and_a_change_applies_at_once():
    stats = StatsUpdater()
    stats.next_at = 50_000
    stats.set_interval({"stats-update-interval": "1000"}, now=10_000)
    assert stats.interval == 5000 and stats.next_at == 50_000
    stats.set_interval({"stats-update-interval": "20000"}, now=10_000)
    assert stats.interval == 20000 and stats.next_at == 10_000
    stats.set_interval({"stats-update-interval": "soon"}, now=11_000)
    assert stats.interval == 5000


def test_own_writes_do_not_count_as_configuration_changes():
    import ovs.db.idl
    from pyvswitch.config.ovsdb_source import OvsdbSource
    source = OvsdbSource("unix:/nonexistent/db.sock")     # nothing is opened before run()
    try:
        idl = source.idl
        iface_row = SimpleNamespace(_table=SimpleNamespace(name="Interface"))
        written = SimpleNamespace(_data={"statistics": {}, "ofport": [], "mac_in_use": []})
        idl.notify(ovs.db.idl.ROW_UPDATE, iface_row, written)
        assert idl.config_seqno == 0
        idl.notify(ovs.db.idl.ROW_UPDATE, iface_row,
                   SimpleNamespace(_data={"statistics": {}, "options": {}}))
        assert idl.config_seqno == 1
        idl.notify(ovs.db.idl.ROW_CREATE, iface_row, None)
        idl.notify(ovs.db.idl.ROW_DELETE, iface_row, None)
        assert idl.config_seqno == 3
    finally:
        source.close()
