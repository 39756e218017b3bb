"""How a reconfiguration moves, keeps and reports ports (OVS bridge.c port rules)."""

from pyvswitch.config.model import BridgeConfig, InterfaceConfig, PortConfig, SwitchConfig
from pyvswitch.vswitchd.bridge import Bridges


def _cfg(*ifaces: InterfaceConfig) -> SwitchConfig:
    ports = {i.name: PortConfig(i.name, (i,)) for i in ifaces}
    return SwitchConfig(bridges={"br0": BridgeConfig(name="br0", datapath_type="dummy",
                                                     ports=ports)})


def _numbers(bridges: Bridges) -> dict[str, int]:
    br = bridges.bridges["br0"]
    return {name: br.ofproto.ports_by_name[name].ofp_port for name in br.netdevs}


def _dummy(name: str, **kw) -> InterfaceConfig:
    return InterfaceConfig(name, type="dummy", **kw)


def test_a_requested_number_moves_the_port_holding_it(tmp_path):
    bridges = Bridges(str(tmp_path))
    try:
        bridges.reconfigure(_cfg(_dummy("p1", ofport_request=5), _dummy("p2")), 0)
        assert _numbers(bridges) == {"p1": 5, "p2": 1}
        bridges.reconfigure(_cfg(_dummy("p1", ofport_request=1), _dummy("p2")), 10)
        assert _numbers(bridges) == {"p1": 1, "p2": 2}
    finally:
        bridges.close(100)


def test_two_interfaces_asking_for_one_number_keep_what_they_have(tmp_path):
    bridges = Bridges(str(tmp_path))
    try:
        bridges.reconfigure(_cfg(_dummy("p1", ofport_request=1), _dummy("p2")), 0)
        bridges.reconfigure(_cfg(_dummy("p1", ofport_request=1),
                                 _dummy("p2", ofport_request=1)), 10)
        assert _numbers(bridges) == {"p1": 1, "p2": 2}
    finally:
        bridges.close(100)


def test_settings_that_need_no_reopen_keep_the_device_and_number(tmp_path):
    bridges = Bridges(str(tmp_path))
    try:
        bridges.reconfigure(_cfg(_dummy("p1", ofport_request=3)), 0)
        netdev = bridges.bridges["br0"].netdevs["p1"]
        bridges.reconfigure(_cfg(_dummy("p1", mtu_request=1400)), 10)   # request dropped
        assert bridges.bridges["br0"].netdevs["p1"] is netdev
        assert _numbers(bridges) == {"p1": 3}
        assert netdev.mtu == 1400
        # A new type or new options mean a new device.
        bridges.reconfigure(_cfg(_dummy("p1", options={"x": "1"})), 20)
        assert bridges.bridges["br0"].netdevs["p1"] is not netdev
    finally:
        bridges.close(100)


def test_a_missing_device_is_reported_with_its_errno_text_once(tmp_path):
    bridges = Bridges(str(tmp_path))
    try:
        problems = bridges.reconfigure(_cfg(InterfaceConfig("pvs-no-such0")), 0)
        error = bridges.bridges["br0"].iface_errors["pvs-no-such0"]
        assert error == "could not open network device pvs-no-such0 (No such device)"
        assert [p.message for p in problems] == [error]
    finally:
        bridges.close(100)


def test_numbers_are_handed_out_in_turn_and_freed_ones_rest(tmp_path):
    bridges = Bridges(str(tmp_path))
    try:
        bridges.reconfigure(_cfg(_dummy("p1"), _dummy("p2")), 0)
        assert _numbers(bridges) == {"p1": 1, "p2": 2}
        bridges.reconfigure(_cfg(_dummy("p2")), 10)
        bridges.reconfigure(_cfg(_dummy("p2"), _dummy("p3")), 20)
        assert _numbers(bridges) == {"p2": 2, "p3": 3}      # not 1, freed a moment ago
        bridges.reconfigure(_cfg(_dummy("p2"), _dummy("p3"), _dummy("p4", ofport_request=1)),
                            30)
        assert _numbers(bridges)["p4"] == 1                # a request may take it at once
    finally:
        bridges.close(100)


def test_bridge_hwaddr_and_mac_table_settings(tmp_path):
    bridges = Bridges(str(tmp_path))

    def cfg(other):
        return SwitchConfig(bridges={"br0": BridgeConfig(name="br0", datapath_type="dummy",
                                                         other_config=other)})
    try:
        bridges.reconfigure(cfg({"hwaddr": "02:11:22:33:44:55", "mac-aging-time": "5",
                                 "mac-table-size": "100"}), 0)
        br = bridges.bridges["br0"]
        assert bytes(br.local_netdev.hwaddr).hex() == "021122334455"
        assert br.ofproto.datapath_id == 0x021122334455
        assert br.provider.mac_table.aging_ms == 15_000        # OVS's minimum
        assert br.provider.mac_table.max_entries == 100
        problems = bridges.reconfigure(cfg({"hwaddr": "01:00:00:00:00:01",
                                            "mac-aging-time": "7200"}), 10)
        assert [p.where for p in problems] == ["bridge br0.other_config:hwaddr"]
        assert bytes(br.local_netdev.hwaddr).hex() != "010000000001"
        assert br.ofproto.datapath_id != 0x021122334455       # back to the derived one
        assert br.provider.mac_table.aging_ms == 3_600_000
        assert br.provider.mac_table.max_entries == 8192
    finally:
        bridges.close(100)


def test_bridge_controller_queue_size_is_the_default_for_its_controllers(tmp_path):
    from pyvswitch.config.model import ControllerConfig
    bridges = Bridges(str(tmp_path))
    a, b = "unix:/nonexistent/pvs-a.sock", "unix:/nonexistent/pvs-b.sock"

    def cfg(size: str):
        return SwitchConfig(bridges={"br0": BridgeConfig(
            name="br0", datapath_type="dummy", other_config={"controller-queue-size": size},
            controllers=(ControllerConfig(a), ControllerConfig(b, controller_queue_size=20)))})
    try:
        bridges.reconfigure(cfg("7"), 0)
        services = bridges.bridges["br0"].ofproto.connmgr.services
        mgmt = next(t for t in services if t.endswith("br0.mgmt"))
        assert (services[a].queue_limit, services[b].queue_limit,
                services[mgmt].queue_limit) == (7, 20, 7)
        bridges.reconfigure(cfg("1000"), 10)            # out of 1..512: the default
        assert (services[a].queue_limit, services[mgmt].queue_limit) == (100, 100)
    finally:
        bridges.close(100)
