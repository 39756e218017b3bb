"""Global settings from Open_vSwitch.other_config reach every bridge."""

from pyvswitch.config.model import BridgeConfig, SwitchConfig
from pyvswitch.vswitchd.bridge import Bridges


def test_bundle_idle_timeout_applies_and_bad_values_are_reported(tmp_path):
    bridges = Bridges(str(tmp_path))
    try:
        br = BridgeConfig(name="br0", datapath_type="dummy")
        problems = bridges.reconfigure(SwitchConfig(bridges={"br0": br},
                                                    other_config={"bundle-idle-timeout": "3"}), 0)
        assert problems == []
        assert bridges.bridges["br0"].ofproto.connmgr.bundle_idle_timeout_ms == 3000
        problems = bridges.reconfigure(SwitchConfig(
            bridges={"br0": br}, other_config={"bundle-idle-timeout": "soon"}), 10)
        assert any("bundle-idle-timeout" in str(p) for p in problems)
        assert bridges.bridges["br0"].ofproto.connmgr.bundle_idle_timeout_ms == 10_000
    finally:
        bridges.close(20)
