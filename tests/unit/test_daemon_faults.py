"""The daemon's loop survives a configuration source that raises (an OVSDB IDL surprise,
say): the error is logged and the bridges keep running on the last configuration."""

import signal

import ovs.poller

from pyvswitch.vswitchd.main import Daemon, parse_args

CONFIG = """
[[bridge]]
name = "br0"
datapath_type = "dummy"
fail_mode = "secure"
flows = ["in_port=1,actions=output:2"]
  [[bridge.port]]
  name = "p1"
  type = "dummy"
  ofport_request = 1
  [[bridge.port]]
  name = "p2"
  type = "dummy"
  ofport_request = 2
"""


def test_a_failing_configuration_source_does_not_stop_forwarding(tmp_path, monkeypatch):
    conf = tmp_path / "br0.toml"
    conf.write_text(CONFIG)
    daemon = Daemon(parse_args(["--config", str(conf), "--rundir", str(tmp_path),
                                "--unixctl", str(tmp_path / "pyvswitchd.ctl")]))
    try:
        daemon.start()
        daemon.run_once(ovs.poller.Poller())

        def broken(*_):
            raise RuntimeError("the source broke")
        monkeypatch.setattr(daemon.source, "run", broken)
        br = daemon.bridges.bridges["br0"]
        frame = bytes.fromhex("020000000002020000000001" "0800") + bytes(46)
        for _ in range(3):
            br.netdevs["p1"].inject(frame)
            daemon.run_once(ovs.poller.Poller())     # must not raise
        assert br.netdevs["p2"].get_stats().tx_packets == 3
        assert not daemon.exiting
    finally:
        daemon.stop()
        signal.set_wakeup_fd(-1)
