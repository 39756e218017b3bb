"""Open_vSwitch other_config knobs the bridges honour: flow-restore-wait, flow-limit,
max-idle, emc-insert-inv-prob, and the OVS-only knobs that are logged and ignored."""

from pyvswitch.config.model import (
    BridgeConfig, ControllerConfig, InterfaceConfig, PortConfig, SwitchConfig,
)
from pyvswitch.vswitchd.bridge import Bridges

# A broadcast ARP-less frame from p1: NORMAL floods it to p2.
FRAME = bytes.fromhex("ffffffffffff020000000001" "0800") + bytes(46)
CTL = "unix:/nonexistent/pyvswitch-test-controller.sock"


def _config(other_config: dict[str, str], controllers=()) -> SwitchConfig:
    ports = {name: PortConfig(name, (InterfaceConfig(name, type="dummy"),))
             for name in ("p1", "p2")}
    br = BridgeConfig(name="br0", datapath_type="dummy", ports=ports,
                      controllers=tuple(ControllerConfig(t) for t in controllers))
    return SwitchConfig(bridges={"br0": br}, other_config=other_config)


def _send(bridges: Bridges, now: float) -> None:
    br = bridges.bridges["br0"]
    br.netdevs["p1"].inject(FRAME)
    bridges.run(now)


def _sent_on_p2(bridges: Bridges) -> int:
    return bridges.bridges["br0"].netdevs["p2"].get_stats().tx_packets


def test_flow_restore_wait_holds_traffic_and_controllers_until_cleared(tmp_path):
    bridges = Bridges(str(tmp_path))
    try:
        bridges.reconfigure(_config({"flow-restore-wait": "true"}, [CTL]), 0)
        br = bridges.bridges["br0"]
        connmgr = br.ofproto.connmgr
        assert CTL not in connmgr.services          # only the management socket
        assert any(t.endswith("br0.mgmt") for t in connmgr.services)
        _send(bridges, 10)
        assert _sent_on_p2(bridges) == 0
        assert br.provider.dpif.flow_dump() == []   # the datapath installed nothing
        assert br.provider.upcalls.n_lost == 1
        # The flows a restart script restores go in meanwhile (here: NORMAL for p1).
        assert br.ofproto.flows.rules()

        # Another change while still waiting changes nothing.
        bridges.reconfigure(_config({"flow-restore-wait": "true", "x": "y"}, [CTL]), 20)
        assert CTL not in connmgr.services

        bridges.reconfigure(_config({}, [CTL]), 30)
        assert CTL in connmgr.services
        assert not bridges.flow_restore_wait
    finally:
        bridges.close(100)


def test_after_flow_restore_wait_traffic_is_handled_and_it_is_never_read_again(tmp_path):
    bridges = Bridges(str(tmp_path))
    try:
        bridges.reconfigure(_config({"flow-restore-wait": "true"}), 0)
        _send(bridges, 10)
        assert _sent_on_p2(bridges) == 0
        bridges.reconfigure(_config({"flow-restore-wait": "false"}), 20)
        _send(bridges, 30)
        assert _sent_on_p2(bridges) == 1
        assert len(bridges.bridges["br0"].provider.dpif.flow_dump()) == 1
        # Setting it again later has no effect (OVS reads it only until it is false).
        bridges.reconfigure(_config({"flow-restore-wait": "true"}), 40)
        _send(bridges, 50)
        assert _sent_on_p2(bridges) == 2
    finally:
        bridges.close(100)


def test_without_the_key_the_switch_starts_at_once(tmp_path):
    bridges = Bridges(str(tmp_path))
    try:
        bridges.reconfigure(_config({}), 0)
        _send(bridges, 10)
        assert _sent_on_p2(bridges) == 1
        bridges.reconfigure(_config({}, [CTL]), 20)
        assert CTL in bridges.bridges["br0"].ofproto.connmgr.services
    finally:
        bridges.close(100)


def test_flow_limit_and_max_idle_reach_the_flow_cache(tmp_path):
    bridges = Bridges(str(tmp_path))
    try:
        problems = bridges.reconfigure(
            _config({"flow-limit": "1000", "max-idle": "2500",
                     "n-handler-threads": "4"}), 0)
        assert problems == []
        upcalls = bridges.bridges["br0"].provider.upcalls
        assert (upcalls.flow_limit, upcalls.max_idle_ms) == (1000, 2500)
        problems = bridges.reconfigure(_config({"flow-limit": "lots", "max-idle": "0"}), 10)
        assert {p.where for p in problems} == {"Open_vSwitch.other_config:flow-limit",
                                               "Open_vSwitch.other_config:max-idle"}
        assert (upcalls.flow_limit, upcalls.max_idle_ms) == (200_000, 10_000)
    finally:
        bridges.close(100)


def test_flow_limit_caps_the_datapath_flows(tmp_path):
    bridges = Bridges(str(tmp_path))
    try:
        bridges.reconfigure(_config({"flow-limit": "1"}), 0)
        br = bridges.bridges["br0"]
        for i in range(3):          # three sources: three megaflows wanted, one allowed
            frame = bytes.fromhex(f"ffffffffffff02000000001{i}" "0800") + bytes(46)
            br.netdevs["p1"].inject(frame)
            bridges.run(10 + i)
        assert _sent_on_p2(bridges) == 3
        assert len(br.provider.dpif.flow_dump()) == 1
    finally:
        bridges.close(100)


def test_emc_insert_inv_prob_reaches_the_datapath(tmp_path):
    bridges = Bridges(str(tmp_path))
    try:
        assert bridges.reconfigure(_config({}), 0) == []
        dpif = bridges.bridges["br0"].provider.dpif
        assert dpif.emc_insert_inv_prob == 100                 # OVS's default
        assert bridges.reconfigure(_config({"emc-insert-inv-prob": "0"}), 10) == []
        assert dpif.emc_insert_inv_prob == 0
        problems = bridges.reconfigure(_config({"emc-insert-inv-prob": "-1"}), 20)
        assert [p.where for p in problems] == ["Open_vSwitch.other_config:emc-insert-inv-prob"]
        assert dpif.emc_insert_inv_prob == 100
    finally:
        bridges.close(100)
