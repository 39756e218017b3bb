"""OVSDB managers (Open_vSwitch manager_options) as extra in-band remotes (OVS
collect_in_band_managers): active IPv4 targets, not loopback, default port 6640."""

from pyvswitch.config.model import BridgeConfig, SwitchConfig
from pyvswitch.openflow.flow_format import format_match
from pyvswitch.vswitchd.bridge import Bridges


def _in_band_rules(bridges: Bridges) -> set[tuple[int, str]]:
    br = bridges.bridges["br0"]
    return {(r.priority, format_match(r.match)) for r in br.ofproto.flows.rules()
            if 180000 <= r.priority <= 180008}


def _start(tmp_path, managers, other_config=None) -> Bridges:
    bridges = Bridges(str(tmp_path))
    bridges.set_managers(managers)
    cfg = SwitchConfig(bridges={"br0": BridgeConfig(
        name="br0", datapath_type="dummy", other_config=other_config or {})})
    bridges.reconfigure(cfg, 0)
    bridges.bridges["br0"].ofproto.connmgr.in_band_lookup = lambda ip: None
    bridges.run(10)
    return bridges


def test_active_ipv4_managers_become_in_band_remotes(tmp_path):
    bridges = _start(tmp_path, [("tcp:192.0.2.7", None), ("ssl:192.0.2.8:6641", "in-band"),
                                ("tcp:192.0.2.9", "out-of-band"), ("tcp:127.0.0.1", None),
                                ("ptcp:6640", None), ("punix:/tmp/db.sock", None)])
    try:
        connmgr = bridges.bridges["br0"].ofproto.connmgr
        assert connmgr.extra_in_band_remotes == [("192.0.2.7", 6640), ("192.0.2.8", 6641)]
        assert connmgr.in_band is not None
        assert set(connmgr.in_band.remotes) == {("192.0.2.7", 6640), ("192.0.2.8", 6641)}
        rules = _in_band_rules(bridges)
        tcp_to = [m for p, m in rules if p == 180007]
        assert len(tcp_to) == 2 and sorted(tcp_to) == [
            "tcp,nw_dst=192.0.2.7,tp_dst=6640", "tcp,nw_dst=192.0.2.8,tp_dst=6641"], rules
        # Nothing else configured: the bridge's own DHCP/ARP rules too.
        assert {p for p, _ in rules} >= {180000, 180001, 180002, 180005, 180006, 180008}
    finally:
        bridges.close(100)


def test_disable_in_band_ignores_the_managers(tmp_path):
    bridges = _start(tmp_path, [("tcp:192.0.2.7", None)], {"disable-in-band": "true"})
    try:
        assert bridges.bridges["br0"].ofproto.connmgr.in_band is None
        assert _in_band_rules(bridges) == set()
    finally:
        bridges.close(100)


def test_no_managers_no_in_band(tmp_path):
    bridges = _start(tmp_path, [("ptcp:6640", None)])
    try:
        assert bridges.bridges["br0"].ofproto.connmgr.in_band is None
    finally:
        bridges.close(100)
