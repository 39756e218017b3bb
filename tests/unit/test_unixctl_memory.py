"""``memory/show`` (vswitchd/unixctl_memory.py): Open vSwitch's counts and layout, on real
Bridges with dummy ports and a management-socket client in this process (no root)."""

from __future__ import annotations

import socket
import struct
from types import SimpleNamespace

import ovs.unixctl

from pyvswitch.config.model import BridgeConfig, InterfaceConfig, PortConfig, SwitchConfig
from pyvswitch.vswitchd import unixctl_memory
from pyvswitch.vswitchd.bridge import Bridges
from pyvswitch.vswitchd.unixctl_memory import memory_text, memory_usage

FLOWS = ("priority=5,in_port=1,actions=output:2", "table=1,priority=0,actions=drop")
FRAME = bytes.fromhex("020000000002" "020000000001" "0800") + bytes(46)


def make_bridges(tmp_path) -> Bridges:
    bridges = Bridges(str(tmp_path))
    ports = {n: PortConfig(n, (InterfaceConfig(n, "dummy"),)) for n in ("p1", "p2")}
    br = BridgeConfig(name="br0", datapath_type="dummy", fail_mode="secure", ports=ports,
                      flows=FLOWS)
    assert bridges.reconfigure(SwitchConfig(bridges={"br0": br}), 0) == []
    return bridges


def test_counts_follow_ports_rules_flows_and_sessions(tmp_path):
    bridges = make_bridges(tmp_path)
    client = None
    try:
        # p1, p2 and LOCAL; both flows; nothing cached, no session: zero counts are left
        # out, as OVS's simap_increase does.
        assert memory_usage(bridges) == {"ports": 3, "rules": 2}
        br = bridges.bridges["br0"]
        br.netdevs["p1"].inject(FRAME)
        bridges.run(10)
        assert memory_usage(bridges)["udpif keys"] == 1
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(bridges.mgmt_path("br0"))
        client.sendall(struct.pack("!BBHI", 4, 0, 8, 1))          # OFPT_HELLO
        for now in range(20, 200, 10):
            bridges.run(now)
            if br.ofproto.connmgr.all_ofconns():
                break
        assert memory_usage(bridges)["ofconns"] == 1
        (ofconn,) = br.ofproto.connmgr.all_ofconns()
        ofconn.rconn.txq.append((b"queued", None))        # a reply the client did not read
        assert memory_usage(bridges)["packets"] == 1
    finally:
        if client is not None:
            client.close()
        bridges.close(1000)


def test_idl_counts_cells_and_outstanding_transactions():
    idl = SimpleNamespace(
        _db=SimpleNamespace(name="Open_vSwitch"), _outstanding_txns={"t1": object()},
        tables={"Bridge": SimpleNamespace(rows={1: 0, 2: 0}, columns={"a": 0, "b": 0}),
                "Port": SimpleNamespace(rows={3: 0}, columns={"a": 0, "b": 0, "c": 0})})
    usage = memory_usage(SimpleNamespace(bridges={}), idl)
    assert usage == {"idl-cells-Open_vSwitch": 7, "idl-outstanding-txns-Open_vSwitch": 1}


def test_reply_is_one_sorted_line(tmp_path, monkeypatch):
    """OVS's compose_report: ``name:count`` sorted by name, single spaces; the newline
    its unixctl server adds to a non-empty reply."""
    assert memory_text({"udpif keys": 4, "rules": 2, "ofconns": 1, "ports": 3}) == \
        "ofconns:1 ports:3 rules:2 udpif keys:4"
    assert memory_text({}) == ""
    bridges = make_bridges(tmp_path)
    try:
        # ovs.unixctl keeps the first registration of a name: drop one an earlier test made.
        monkeypatch.delitem(ovs.unixctl.commands, "memory/show", raising=False)
        unixctl_memory.register(SimpleNamespace(bridges=bridges, source=None))
        replies = []
        conn = SimpleNamespace(reply=replies.append)
        ovs.unixctl.commands["memory/show"].callback(conn, [], None)
        assert replies == ["ports:3 rules:2\n"]
    finally:
        bridges.close(1000)


def test_monitor_logs_the_peak_after_ten_seconds_then_when_it_grows_by_half(tmp_path):
    """OVS memory_run: the first report 10 s after start, then one whenever the peak RSS
    reaches 1.5 times the last one reported, each with the memory/show line."""
    peaks = iter([1000, 1400, 1500])
    monitor = unixctl_memory.MemoryMonitor(0, peak_rss=lambda: next(peaks))
    bridges = make_bridges(tmp_path)
    try:
        assert monitor.run(9_999, bridges) == []                 # too early: not read
        assert monitor.run(10_000, bridges) == [
            "1000 kB peak resident set size after 10.0 seconds", "ports:3 rules:2"]
        assert monitor.run(15_000, bridges) == []                # checked every 10 s
        assert monitor.run(20_000, bridges) == []                # 1400 < 1.5 x 1000
        assert monitor.run(30_000, bridges) == [
            "peak resident set size grew 50% in last 20.0 seconds, from 1000 kB to "
            "1500 kB", "ports:3 rules:2"]
    finally:
        bridges.close(1000)
