"""other_config:flow-restore-wait over a real ovsdb-server, as Open vSwitch's restart
script uses it: the daemon starts with the key set, ``ovs-ofctl`` restores the flows while
no packet is handled and no controller is connected, then the key is removed and
traffic flows through the restored tables and controllers connect."""

from __future__ import annotations

import re
import time

from harness import wait_for
from ovsdb_harness import (  # noqa: F401 - ovsdb and vswitchd are fixtures
    FakeController, ovsdb, ports_of, vswitchd,
)


def test_flow_restore_wait_holds_traffic_and_controllers(ovsdb, vswitchd, hosts, tmp_path):
    h = hosts(2)
    db = ovsdb()
    ctl_path = tmp_path / "ctl.sock"
    ctl = FakeController(str(ctl_path))
    try:
        # What the restart script does before starting the daemon.
        db.vsctl("--no-wait", "set", "Open_vSwitch", ".",
                 "other_config:flow-restore-wait=true")
        db.vsctl("--no-wait", "add-br", "br0", "--", "set", "Bridge", "br0",
                 "datapath_type=netdev", "fail_mode=secure",
                 "--", "add-port", "br0", "veth1", "--", "set", "Interface", "veth1",
                 "ofport_request=1",
                 "--", "add-port", "br0", "veth2", "--", "set", "Interface", "veth2",
                 "ofport_request=2")
        # A second bridge with a controller: not contacted while waiting.
        db.vsctl("--no-wait", "add-br", "br1", "--", "set", "Bridge", "br1",
                 "datapath_type=dummy", "--", "set-controller", "br1", f"unix:{ctl_path}")
        sw = vswitchd(db, netns=h.switch_ns)
        wait_for(lambda: sw.answers("br0") and sw.answers("br1"), 10,
                 what="the bridges to come up")
        assert ports_of(sw) == {"veth1": 1, "veth2": 2}

        # Restore the flows; nothing passes yet, even with them in place.
        sw.ofctl("add-flow", "br0", "in_port=1,actions=output:2")
        sw.ofctl("add-flow", "br0", "in_port=2,actions=output:1")
        assert not h.ping(1, 2, count=2, wait=0.5)
        dump = sw.ofctl("dump-flows", "br0").stdout
        assert "in_port=1 actions=output:2" in dump and "n_packets=0" in dump, dump
        assert sw.ofctl("dump-flows", "br1").stdout.count("actions=NORMAL") == 1
        time.sleep(1)
        assert not ctl.connected.is_set()
        assert sw.proc.poll() is None

        # Restore done: the daemon handles traffic with the restored flows and
        # connects to the controller.
        db.vsctl("remove", "Open_vSwitch", ".", "other_config", "flow-restore-wait")
        assert h.ping(1, 2, count=2), sw.log_text()[-3000:]
        assert ctl.connected.wait(10), sw.log_text()[-3000:]
        dump = sw.ofctl("dump-flows", "br0").stdout
        m = re.search(r"n_packets=(\d+),.* in_port=1 actions=output:2", dump)
        assert m and int(m.group(1)) >= 2, dump
        assert "flow restore wait is over" in sw.log_text()

        # Setting it again later changes nothing (OVS reads it only until it is false).
        db.vsctl("set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true")
        assert h.ping(1, 2, count=1)
    finally:
        ctl.close()


def test_kill_9_then_restart_keeps_the_configuration_and_restores_the_flows(
        ovsdb, vswitchd, hosts):
    """What the restart script does after a crash: the database still holds the
    configuration, flow-restore-wait holds traffic while the saved flows go back in."""
    h = hosts(2)
    db = ovsdb()
    db.vsctl("--no-wait", "add-br", "br0", "--", "set", "Bridge", "br0",
             "datapath_type=netdev", "fail_mode=secure",
             "--", "add-port", "br0", "veth1", "--", "set", "Interface", "veth1",
             "ofport_request=1",
             "--", "add-port", "br0", "veth2", "--", "set", "Interface", "veth2",
             "ofport_request=2")
    sw = vswitchd(db, netns=h.switch_ns)
    wait_for(lambda: sw.answers("br0"), 10, what="br0 to come up")
    sw.ofctl("add-flow", "br0", "in_port=1,actions=output:2")
    sw.ofctl("add-flow", "br0", "in_port=2,actions=output:1")
    assert h.ping(1, 2, count=2), sw.log_text()[-3000:]
    saved = [line.strip() for line in sw.ofctl("dump-flows", "br0").stdout.splitlines()
             if "actions=" in line]
    saved = [re.sub(r"(cookie|duration|table|n_packets|n_bytes|idle_age)=[^,]*, ?", "", f)
             for f in saved]
    assert len(saved) == 2, saved

    sw.proc.kill()                                    # kill -9: no clean-up at all
    sw.proc.wait()
    db.vsctl("--no-wait", "set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true")
    sw.log.rename(sw.dir / "before-the-crash.log")
    sw.start()                       # same run directory: stale sockets and all
    wait_for(lambda: sw.answers("br0"), 10, what="br0 to come back")
    assert ports_of(sw) == {"veth1": 1, "veth2": 2}     # the configuration survived
    assert "actions=" not in sw.ofctl("dump-flows", "br0").stdout
    flows_file = sw.dir / "flows.txt"
    flows_file.write_text("\n".join(saved) + "\n")
    sw.ofctl("add-flows", "br0", str(flows_file))
    assert not h.ping(1, 2, count=2, wait=0.5)          # still waiting: nothing passes

    db.vsctl("remove", "Open_vSwitch", ".", "other_config", "flow-restore-wait")
    assert h.ping(1, 2, count=2), sw.log_text()[-3000:]
    dump = sw.ofctl("dump-flows", "br0").stdout
    assert dump.count("actions=output:") == 2, dump
