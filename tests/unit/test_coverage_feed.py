"""The bridges' own counters show up in coverage/show (vswitchd/coverage_feed.py)."""

from pyvswitch.config.model import BridgeConfig, InterfaceConfig, PortConfig, SwitchConfig
from pyvswitch.util import coverage
from pyvswitch.vswitchd.bridge import Bridges

FRAME = bytes.fromhex("ffffffffffff020000000001" "0800") + bytes(46)


def _cfg() -> SwitchConfig:
    ports = {n: PortConfig(n, (InterfaceConfig(n, type="dummy"),)) for n in ("p1", "p2")}
    return SwitchConfig(bridges={"br0": BridgeConfig(name="br0", datapath_type="dummy",
                                                     ports=ports)})


def test_upcalls_learning_and_reconfigurations_are_counted(tmp_path):
    names = ("upcall_handled", "mac_learning_learned", "bridge_reconfigure",
             "datapath_drop_upcall_error")
    before = {n: coverage.value(n) for n in names}
    bridges = Bridges(str(tmp_path))
    try:
        bridges.reconfigure(_cfg(), 0)
        br = bridges.bridges["br0"]
        for i in range(3):
            br.netdevs["p1"].inject(FRAME)
            bridges.run(10 + i)
        bridges.run(2000)                   # a second later: sampled
        moved = {n: coverage.value(n) - before[n] for n in names}
        assert moved["bridge_reconfigure"] == 1
        assert moved["upcall_handled"] == 1          # then the megaflow takes them
        assert moved["mac_learning_learned"] == 1
        assert moved["datapath_drop_upcall_error"] == 0
        text = coverage.show()
        assert any(line.startswith("upcall_handled ") for line in text.splitlines())
        # The bridge goes: what it counted stays, nothing is counted twice.
        br.netdevs["p1"].inject(bytes.fromhex("ffffffffffff020000000009" "0800")
                                + bytes(46))
        bridges.run(2010)
        bridges.reconfigure(SwitchConfig(), 2020)
        bridges.run(5000)
        assert coverage.value("upcall_handled") - before["upcall_handled"] == 2
        assert coverage.value("mac_learning_learned") - before["mac_learning_learned"] == 2
    finally:
        bridges.close(10_000)
