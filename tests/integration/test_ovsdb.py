"""pyvswitchd configured through OVSDB with Open vSwitch's own ovs-vsctl (no --no-wait).

Each test runs a private ovsdb-server; ovs-vsctl returns once the switch has copied
next_cfg to cur_cfg, so every check right after a command sees the change in effect.
"""

from __future__ import annotations

import re
import time

import pytest

from harness import wait_for
from ovsdb_harness import (  # noqa: F401 - ovsdb and vswitchd are fixtures
    FakeController, OvsdbSwitch, ovsdb, ports_of, record, vswitchd,
)
from topology import run


def test_vsctl_commands_take_effect_at_once(ovsdb, vswitchd, hosts, tmp_path):
    h = hosts(2)
    db = ovsdb()
    sw = vswitchd(db, netns=h.switch_ns)

    db.vsctl("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=netdev")
    assert sw.answers("br0")
    assert "priority=0 actions=NORMAL" in sw.ofctl("dump-flows", "br0").stdout
    assert db.get("Interface", "br0", "ofport") == "65534"
    assert re.fullmatch(r'"[0-9a-f]{16}"', db.get("Bridge", "br0", "datapath_id"))
    assert db.get("Bridge", "br0", "datapath_version") == '"<built-in>"'

    db.vsctl("add-port", "br0", "veth1", "--", "set", "Interface", "veth1",
             "ofport_request=1")
    db.vsctl("add-port", "br0", "veth2")
    assert ports_of(sw) == {"veth1": 1, "veth2": 2}
    assert h.ping(1, 2, count=2), sw.log_text()[-3000:]

    db.vsctl("set-fail-mode", "br0", "secure")
    assert "actions=NORMAL" not in sw.ofctl("dump-flows", "br0").stdout
    assert not h.ping(1, 2, count=1, wait=0.5)
    db.vsctl("del-fail-mode", "br0")
    assert "priority=0 actions=NORMAL" in sw.ofctl("dump-flows", "br0").stdout
    assert h.ping(1, 2, count=2), sw.log_text()[-3000:]

    # VLAN settings change on ports that stay.
    db.vsctl("set", "Port", "veth1", "tag=10")
    assert not h.ping(1, 2, count=1, wait=0.5)
    db.vsctl("set", "Port", "veth2", "tag=10")
    assert h.ping(1, 2, count=2)
    db.vsctl("clear", "Port", "veth1", "tag", "--", "clear", "Port", "veth2", "tag")

    db.vsctl("set", "Interface", "veth2", "ofport_request=7")
    assert ports_of(sw) == {"veth1": 1, "veth2": 7}
    assert db.get("Interface", "veth2", "ofport") == "7"

    db.vsctl("set", "Bridge", "br0", "protocols=OpenFlow13")
    assert sw.answers("br0", "OpenFlow13")
    assert not sw.answers("br0", "OpenFlow10")
    db.vsctl("clear", "Bridge", "br0", "protocols")
    assert sw.answers("br0", "OpenFlow10")

    ctl = FakeController(str(tmp_path / "ctl.sock"))
    try:
        db.vsctl("set-controller", "br0", f"unix:{tmp_path / 'ctl.sock'}", "--", "set",
                 "Controller", "br0", "controller_rate_limit=100")
        # The first primary controller clears the tables (no more NORMAL flow).
        assert "actions=NORMAL" not in sw.ofctl("dump-flows", "br0").stdout

        def connected():
            rec = record(db.vsctl("--no-wait", "list", "Controller").stdout)
            return rec if rec.get("is_connected") == "true" else None
        rec = wait_for(connected, 12, interval=0.3, what="Controller.is_connected")
        assert rec["role"] == "other"
        assert "state=ACTIVE" in rec["status"] and "sec_since_connect" in rec["status"]
        for kind in ("miss", "action"):      # pinsched counters, with a rate limit
            for key in ("backlog", "bypassed", "queued", "dropped"):
                assert re.search(rf'packet-in-{kind}-{key}="\d+"', rec["status"]), \
                    rec["status"]
    finally:
        ctl.close()
    db.vsctl("del-controller", "br0")

    db.vsctl("del-port", "br0", "veth2")
    assert ports_of(sw) == {"veth1": 1}
    db.vsctl("del-br", "br0")
    assert not sw.answers("br0")


def test_interface_status_and_statistics(ovsdb, vswitchd, hosts):
    h = hosts(2)
    db = ovsdb()
    sw = vswitchd(db, netns=h.switch_ns)
    db.vsctl("set", "Open_vSwitch", ".", "other_config:stats-update-interval=5000")
    db.vsctl("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=netdev",
             "--", "add-port", "br0", "veth1", "--", "add-port", "br0", "veth2")
    assert db.get("Interface", "veth1", "ofport") in ("1", "2")
    mac = re.search(r"link/ether (\S+)",
                    run("ip", "-n", h.switch_ns, "link", "show", "veth1").stdout)

    def status_written():
        rec = record(db.vsctl("--no-wait", "list", "Interface", "veth1").stdout)
        return rec if rec.get("mac_in_use") not in (None, "[]") else None
    rec = wait_for(status_written, 5, what="status columns")
    assert rec["mac_in_use"].strip('"') == mac.group(1)
    assert rec["link_state"] == "up" and rec["admin_state"] == "up"
    assert rec["mtu"] == "1500" and int(rec["ifindex"]) > 0
    assert rec["error"] == "[]"

    assert h.ping(1, 2, count=4), sw.log_text()[-3000:]

    def counted():
        stats = db.get("Interface", "veth1", "statistics")
        m = re.search(r"\brx_packets=(\d+)", stats)
        t = re.search(r"\btx_packets=(\d+)", stats)
        return stats if m and t and int(m.group(1)) >= 4 and int(t.group(1)) >= 4 else None
    stats = wait_for(counted, 12, interval=0.5, what="statistics to move with traffic")
    for key in ("rx_bytes", "tx_bytes", "rx_dropped", "tx_errors"):
        assert f"{key}=" in stats

    # The peer going down takes the carrier away: link_state follows, admin_state not.
    h.exec(1, "ip", "link", "set", "eth0", "down")
    wait_for(lambda: db.get("Interface", "veth1", "link_state") == "down", 5,
             what="link_state down")
    assert db.get("Interface", "veth1", "admin_state") == "up"
    h.exec(1, "ip", "link", "set", "eth0", "up")
    wait_for(lambda: db.get("Interface", "veth1", "link_state") == "up", 5,
             what="link_state up")


def test_bad_interface_is_reported_and_the_rest_applies(ovsdb, vswitchd):
    db = ovsdb()
    sw = vswitchd(db)
    db.vsctl("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=dummy")
    r = db.vsctl("add-port", "br0", "p1", "--", "set", "Interface", "p1", "type=dummy",
                 "ofport_request=3", "--", "add-port", "br0", "bad", "--", "set",
                 "Interface", "bad", "type=no-such-type")
    assert "Error detected while setting up 'bad'" in r.stderr
    assert db.get("Interface", "bad", "ofport") == "-1"
    assert "unknown interface type" in db.get("Interface", "bad", "error")
    assert db.get("Interface", "p1", "ofport") == "3"
    assert db.get("Interface", "p1", "error") == "[]"
    assert ports_of(sw) == {"p1": 3}
    # Fixing the row makes it work, and clears the error.
    db.vsctl("set", "Interface", "bad", "type=dummy")
    assert db.get("Interface", "bad", "error") == "[]"
    assert set(ports_of(sw)) == {"p1", "bad"}


def test_bridge_and_interface_settings_follow_the_database(ovsdb, vswitchd, hosts):
    db = ovsdb()
    sw = vswitchd(db, netns=hosts(0).switch_ns)    # the netdev bridge makes a tap device
    db.vsctl("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=dummy",
             "--", "add-port", "br0", "p1", "--", "set", "Interface", "p1", "type=dummy")
    db.vsctl("set", "Bridge", "br0", "other_config:datapath-id=0000000000000abc")
    assert "dpid:0000000000000abc" in sw.ofctl("show", "br0").stdout
    assert db.get("Bridge", "br0", "datapath_id") == '"0000000000000abc"'

    db.vsctl("set", "Interface", "p1", "mtu_request=1400")
    wait_for(lambda: db.get("Interface", "p1", "mtu") == "1400", 5, what="Interface.mtu")

    db.vsctl("set-fail-mode", "br0", "secure", "--", "--id=@ft", "create", "Flow_Table",
             "flow_limit=2", "overflow_policy=refuse", "--", "set", "Bridge", "br0",
             "flow_tables:0=@ft")
    sw.ofctl("add-flow", "br0", "priority=1,in_port=1,actions=drop")
    sw.ofctl("add-flow", "br0", "priority=2,in_port=1,actions=drop")
    r = sw.ofctl("add-flow", "br0", "priority=3,in_port=1,actions=drop", check=False)
    assert r.returncode != 0 and "TABLE_FULL" in r.stderr, r.stderr
    db.vsctl("clear", "Bridge", "br0", "flow_tables")
    sw.ofctl("add-flow", "br0", "priority=3,in_port=1,actions=drop")

    db.vsctl("set", "Bridge", "br0", "datapath_type=netdev")
    assert sw.answers("br0")
    assert db.get("Interface", "br0", "ofport") == "65534"
    assert db.get("Interface", "p1", "ofport") == "1"


def test_detach_completes_once_the_first_configuration_is_in_the_database(ovsdb):
    db = ovsdb()
    db.vsctl("--no-wait", "add-br", "br0", "--", "set", "Bridge", "br0",
             "datapath_type=dummy", "--", "add-port", "br0", "p1", "--", "set", "Interface",
             "p1", "type=dummy", "ofport_request=4")
    db.vsctl("--no-wait", "set", "Open_vSwitch", ".", "next_cfg=5")
    sw = OvsdbSwitch(db, name="detached")
    try:
        r = sw.start_detached()
        assert r.returncode == 0, r.stderr + sw.log_text()
        # Nothing waited for the switch: the parent exited only after the commit.
        assert db.get("Open_vSwitch", ".", "cur_cfg") == "5"
        assert db.get("Interface", "p1", "ofport") == "4"
        assert sw.answers("br0")
    finally:
        sw.cleanup()


def test_second_daemon_waits_for_the_lock(ovsdb, vswitchd):
    db = ovsdb()
    first = vswitchd(db, name="first")
    db.vsctl("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=dummy")
    assert first.answers("br0")
    second = vswitchd(db, name="second")
    wait_for(lambda: "another ovs-vswitchd process is running" in second.log_text(), 5,
             what="the second daemon to see the lock taken")
    assert not (second.rundir / "br0.mgmt").exists()
    db.vsctl("add-port", "br0", "p1", "--", "set", "Interface", "p1", "type=dummy")
    assert ports_of(first) == {"p1": 1}
    assert not (second.rundir / "br0.mgmt").exists()
    time.sleep(2)                       # the complaint is logged at most once a second
    assert second.log_text().count("another ovs-vswitchd process is running") <= 4

    first.stop()
    wait_for(lambda: second.answers("br0"), 10, what="the second daemon to take over")
    assert ports_of(second) == {"p1": 1}
    db.vsctl("add-port", "br0", "p2", "--", "set", "Interface", "p2", "type=dummy")
    assert ports_of(second) == {"p1": 1, "p2": 2}


@pytest.mark.filterwarnings(r"ignore:\s*Eventlet is deprecated")  # from ovs.poller
def test_a_daemon_that_loses_the_lock_gives_its_bridges_up(ovsdb, vswitchd):
    import ovs.jsonrpc
    import ovs.stream
    db = ovsdb()
    sw = vswitchd(db)
    db.vsctl("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=dummy",
             "--", "add-port", "br0", "p1", "--", "set", "Interface", "p1", "type=dummy")
    assert sw.answers("br0")
    # Another client steals the lock (the OVSDB "steal" method), as a second
    # ovs-vswitchd could.
    error, stream = ovs.stream.Stream.open_block(ovs.stream.Stream.open(db.remote))
    assert not error
    thief = ovs.jsonrpc.Connection(stream)
    try:
        error, reply = thief.transact_block(
            ovs.jsonrpc.Message.create_request("steal", ["ovs_vswitchd"]))
        assert not error and reply.result == {"locked": True}
        wait_for(lambda: not sw.answers("br0"), 5, what="the bridge to be given up")
        assert "another ovs-vswitchd process is running" in sw.log_text()
    finally:
        thief.close()
    wait_for(lambda: sw.answers("br0"), 5, what="the daemon to take the lock back")
    assert ports_of(sw) == {"p1": 1}
    db.vsctl("add-port", "br0", "p2", "--", "set", "Interface", "p2", "type=dummy")
    assert ports_of(sw) == {"p1": 1, "p2": 2}


def test_database_restart_keeps_forwarding_and_picks_up_changes(ovsdb, vswitchd, hosts):
    h = hosts(2)
    db = ovsdb()
    sw = vswitchd(db, netns=h.switch_ns)
    db.vsctl("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=netdev",
             "--", "add-port", "br0", "veth1", "--", "add-port", "br0", "veth2")
    assert h.ping(1, 2, count=1)

    db.kill()
    time.sleep(0.5)
    assert h.ping(1, 2, count=2), "forwarding stopped with the database"
    assert sw.proc.poll() is None
    # Meanwhile, someone edits the database file: the bridge becomes secure.
    db.transact_offline({"op": "update", "table": "Bridge",
                         "where": [["name", "==", "br0"]],
                         "row": {"fail_mode": "secure"}})
    db.start()
    # A waiting ovs-vsctl returns once the switch is back and has applied everything.
    db.vsctl("set", "Bridge", "br0", "other_config:touched=1", timeout=20)
    assert "actions=NORMAL" not in sw.ofctl("dump-flows", "br0").stdout
    assert not h.ping(1, 2, count=1, wait=0.5)
    assert set(ports_of(sw)) == {"veth1", "veth2"}


def test_managers_are_kept_reachable_in_band_unless_disabled(ovsdb, vswitchd):
    db = ovsdb()
    sw = vswitchd(db)
    db.vsctl("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=dummy")
    # ovsdb-server serves managers; the switch only keeps active IPv4 ones reachable.
    db.vsctl("set-manager", "tcp:192.0.2.7", "ptcp:6640")

    def hidden() -> str:
        return sw.appctl("bridge/dump-flows", "br0").stdout
    wait_for(lambda: "tp_dst=6640" in hidden(), 5, what="in-band flows for the manager")
    text = hidden()
    assert "priority=180007,tcp,nw_dst=192.0.2.7,tp_dst=6640" in text, text
    assert "priority=180008,tcp,nw_src=192.0.2.7,tp_src=6640" in text, text
    assert "priority=180000" in text          # the bridge's own DHCP requests
    assert "priority=180007" not in sw.ofctl("dump-flows", "br0").stdout   # hidden

    db.vsctl("set", "Bridge", "br0", "other_config:disable-in-band=true")
    wait_for(lambda: "priority=1800" not in hidden(), 5, what="in-band flows to go")
    db.vsctl("remove", "Bridge", "br0", "other_config", "disable-in-band")
    wait_for(lambda: "tp_dst=6640" in hidden(), 5, what="in-band flows to return")
    db.vsctl("del-manager")
    wait_for(lambda: "priority=1800" not in hidden(), 5, what="in-band flows to go")


def test_memory_and_coverage_show_through_appctl(ovsdb, vswitchd):
    db = ovsdb()
    sw = vswitchd(db)
    db.vsctl("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=dummy",
             "--", "add-port", "br0", "p1", "--", "set", "Interface", "p1", "type=dummy",
             "--", "add-port", "br0", "p2", "--", "set", "Interface", "p2", "type=dummy")
    sw.ofctl("add-flow", "br0", "priority=5,in_port=1,actions=output:2")
    frame = "ffffffffffff0200000000010800" + "00" * 46
    for _ in range(3):
        sw.appctl("netdev-dummy/receive", "p1", frame)

    memory = sw.appctl("memory/show").stdout.strip()
    assert re.fullmatch(r"(\S+:\d+)( [^:]+:\d+)*", memory), memory
    usage = dict(item.rsplit(":", 1) for item in re.findall(r"[^ :]+(?: keys)?:\d+", memory))
    assert usage["ports"] == "3" and usage["rules"] == "2", memory
    assert int(usage["idl-cells-Open_vSwitch"]) > 0

    def coverage_line(name):
        text = sw.appctl("coverage/show").stdout
        assert text.startswith("Event coverage, avg rate over last: 5 seconds, last "
                               "minute, last hour,  hash="), text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return line
        return None
    line = wait_for(lambda: coverage_line("upcall_handled"), 5, what="upcalls counted")
    assert re.fullmatch(r"upcall_handled +\d+\.\d/sec +\d+\.\d{3}/sec +\d+\.\d{4}/sec"
                        r" +total: 1", line), line
    assert coverage_line("bridge_reconfigure") is not None
    # Counted: our add-flow (and the NORMAL flow the standalone bridge added itself).
    assert int(sw.appctl("coverage/read-counter", "ofproto_flow_mod").stdout) >= 1
    assert sw.appctl("coverage/read-counter", "no_such_event", check=False).returncode != 0
