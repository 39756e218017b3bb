"""``ovs-appctl dpctl/*`` against a running pyvswitchd (root: network namespaces).

Two hosts in namespaces ping each other through a netdev bridge whose ports are the
switch-side veths (``topology.Hosts``, namespaces prefixed ``pvdc``); the real
``ovs-appctl -t <control socket>`` then shows the datapath, its ports and the cached
flows with their counters, and flushes them.  A second test sends the same frames into
Open vSwitch's own ovs-vswitchd (Debian's, userspace datapath, dummy ports) and into
pyvswitchd, both from OVSDB, and compares dpctl/show and dpctl/dump-flows once
normalised.  Everything (daemons, ovsdb-servers, namespaces) is removed also when a test
fails.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
from pathlib import Path

import pytest

from harness import Switch, netdev_bridge, wait_for
from ovsdb_harness import OvsdbServer, side_by_side
from topology import Hosts

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)")


def _prefix(tag: str) -> str:
    return f"pvdc{os.getpid() % 10000}{tag}"


@pytest.fixture
def pinged_switch():
    """Hosts h1, h2 around a started pyvswitchd (br0: LOCAL, veth1, veth2); yields
    ``(hosts, switch)``; both are removed afterwards, also on failure."""
    hosts = Hosts(2, prefix=_prefix("a")).up()
    sw = None
    try:
        sw = Switch(netdev_bridge(hosts, 2), name="pvdc", netns=hosts.switch_ns)
        sw.start()
        yield hosts, sw
    finally:
        if sw is not None:
            sw.cleanup()
        hosts.cleanup()


def dpctl(sw: Switch, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``ovs-appctl -t <pyvswitchd's control socket> dpctl/...``."""
    sockets = sorted(Path(sw.rundir).glob("pyvswitchd.*.ctl"))
    assert len(sockets) == 1, f"control sockets in {sw.rundir}: {sockets}"
    r = subprocess.run(["ovs-appctl", "-t", str(sockets[0]), *args],
                       capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError(f"ovs-appctl {' '.join(args)} failed: {r.stderr}\n"
                             f"{sw.log_text()[-3000:]}")
    return r


FLOW_LINE = re.compile(r"^recirc_id\(0\),in_port\((\w+)\),packet_type\(ns=0,id=0\),"
                       r"eth\(src=([0-9a-f:]+),dst=([0-9a-f:]+)\),eth_type\((0x[0-9a-f]{4})\)"
                       r"(?:,.*)?, packets:(\d+), bytes:(\d+), used:(never|\d+\.\d{3}s), "
                       r"actions:(\S+)$")


def flow_lines(text: str) -> list[re.Match]:
    lines = text.splitlines()
    if not lines:
        return []
    assert lines[0] == "flow-dump from the main thread:", text
    matches = [FLOW_LINE.match(line) for line in lines[1:]]
    assert all(matches), text
    return matches


def test_dpctl_shows_ports_and_flows_of_real_traffic_and_del_flows_empties_it(
        pinged_switch):
    hosts, sw = pinged_switch
    assert dpctl(sw, "dpctl/dump-dps").stdout == "netdev@ovs-netdev\n"

    show = dpctl(sw, "dpctl/show").stdout.splitlines()
    assert show[0] == "netdev@ovs-netdev:"
    assert re.fullmatch(r"  lookups: hit:\d+ missed:\d+ lost:0", show[1])
    assert re.fullmatch(r"  flows: \d+", show[2])
    assert show[3:] == ["  port 1: br0 (tap)", "  port 2: veth1", "  port 3: veth2"]

    assert hosts.ping(1, 2, count=4)
    flows = flow_lines(dpctl(sw, "dpctl/dump-flows").stdout)
    icmp = [m for m in flows if m.group(4) == "0x0800"]
    # h1 -> h2 enters on veth1 (port 2) and leaves on veth2 (port 3), and back.
    there = [m for m in icmp if m.group(1) == "2" and m.group(2) == hosts.mac(1)]
    back = [m for m in icmp if m.group(1) == "3" and m.group(2) == hosts.mac(2)]
    assert len(there) == 1 and len(back) == 1, [m.group(0) for m in flows]
    assert there[0].group(8) == "3" and back[0].group(8) == "2"
    # The first echo of each direction was an upcall; the other three hit the cache.
    for m in there + back:
        assert int(m.group(5)) >= 3 and int(m.group(6)) >= 3 * 98, m.group(0)
        assert m.group(7) != "never"

    more = dpctl(sw, "dpctl/dump-flows", "-m").stdout
    assert re.search(r"^ufid:[0-9a-f-]{36}, recirc_id\(0\),in_port\(veth1\),", more, re.M)
    assert "dp:ovs, actions:veth2" in more

    only = flow_lines(dpctl(sw, "dpctl/dump-flows", "filter=in_port(veth2),ip").stdout)
    assert only and all(m.group(1) == "3" and m.group(4) == "0x0800" for m in only)

    stats = dpctl(sw, "dpctl/show", "-s").stdout.splitlines()
    at = stats.index("  port 2: veth1")
    rx = re.match(r"    RX packets:(\d+) errors:\d+ dropped:\d+", stats[at + 1])
    assert rx and int(rx.group(1)) >= 4
    assert re.match(r"    RX bytes:\d+( \(\d+\.\d [KMG]iB\))?  TX bytes:\d+", stats[at + 4])

    hit, missed = map(int, re.search(r"hit:(\d+) missed:(\d+)",
                                     dpctl(sw, "dpctl/show").stdout).groups())
    assert dpctl(sw, "dpctl/del-flows").stdout == ""
    assert dpctl(sw, "dpctl/dump-flows").stdout == ""
    assert "  flows: 0\n" in dpctl(sw, "dpctl/show").stdout
    # The flushed flows' hits reached the one (NORMAL) rule: every packet is counted.
    dump = sw.ofctl("dump-flows", "br0").stdout
    counts = [int(n) for n in re.findall(r"n_packets=(\d+)", dump)]
    assert sum(counts) == hit + missed, (dump, hit, missed)

    assert hosts.ping(2, 1, count=2)
    assert flow_lines(dpctl(sw, "dpctl/dump-flows").stdout)


def test_dpctl_errors_as_open_vswitch_words_them(pinged_switch):
    _, sw = pinged_switch
    r = dpctl(sw, "dpctl/dump-flows", "nosuch", check=False)
    assert r.returncode != 0 and "datapath not found (Invalid argument)" in r.stderr
    r = dpctl(sw, "dpctl/dump-flows", "filter=bogus", check=False)
    assert r.returncode != 0 and "Failed to parse filter (bogus" in r.stderr
    r = dpctl(sw, "dpctl/show", "-x", check=False)
    assert r.returncode != 0 and "Unrecognized option -x" in r.stderr


# --- against Open vSwitch ---------------------------------------------------------------

def _frame(dst: str, src: str) -> str:
    mac = lambda m: bytes.fromhex(m.replace(":", ""))          # noqa: E731
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20, 1, 0, 64, 1, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return (mac(dst) + mac(src) + b"\x08\x00" + ip).ljust(60, b"\0").hex()


MAC1, MAC2, BCAST = "02:00:00:00:00:01", "02:00:00:00:00:02", "ff:ff:ff:ff:ff:ff"
FRAMES = [("p1", _frame(BCAST, MAC1)), ("p2", _frame(MAC1, MAC2)),
          ("p2", _frame(MAC1, MAC2)), ("p2", _frame(MAC1, MAC2))]


def _lookups(target) -> int:
    out = target.appctl("dpctl/show").stdout
    return sum(int(n) for n in re.findall(r"(?:hit|missed):(\d+)", out))


def _normal_show(text: str) -> list[str]:
    """dpctl/show without Open vSwitch's port 0 (the datapath's own device, which
    pyvswitchd does not have)."""
    return [line for line in text.splitlines() if line != "  port 0: ovs-netdev (tap)"]


def _normal_flows(text: str) -> list[str]:
    """dpctl/dump-flows with the ages out, in a fixed order."""
    lines = text.splitlines()
    return lines[:1] + sorted(re.sub(r"used:\d+\.\d+s", "used:X", line) for line in lines[1:])


def _script(target, server: OvsdbServer) -> dict[str, list[str]]:
    server.vsctl("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=netdev")
    for i in (1, 2):
        server.vsctl("add-port", "br0", f"p{i}", "--", "set", "Interface", f"p{i}",
                     "type=dummy", f"ofport_request={i}")
    out = {"show-empty": _normal_show(target.appctl("dpctl/show").stdout)}
    for port, frame in FRAMES:
        before = _lookups(target)
        target.appctl("netdev-dummy/receive", port, frame)
        wait_for(lambda: _lookups(target) > before, 10, interval=0.05,
                 what=f"the frame received on {port} to be handled")
    out["dump-dps"] = target.appctl("dpctl/dump-dps").stdout.splitlines()
    out["show"] = _normal_show(target.appctl("dpctl/show").stdout)
    out["dump-flows"] = _normal_flows(target.appctl("dpctl/dump-flows").stdout)
    out["filtered"] = _normal_flows(target.appctl("dpctl/dump-flows",
                                                  "filter=in_port(p2)").stdout)
    target.appctl("dpctl/del-flows")
    out["after-del-flows"] = target.appctl("dpctl/dump-flows").stdout.splitlines()
    return out


def test_dpctl_output_same_as_open_vswitch():
    expected, got = side_by_side(_script, _prefix(""), "pvdc")
    assert expected["dump-flows"][0] == "flow-dump from the main thread:"
    assert len(expected["dump-flows"]) == 3
    for key in expected:
        assert got[key] == expected[key], (key, expected[key], got[key])
