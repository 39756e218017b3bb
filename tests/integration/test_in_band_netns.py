"""In-band control: the controller is reachable only through a port of the bridge.

Host h1 (10.0.0.1) runs Open vSwitch's own ``ovs-testcontroller -n`` (answers the switch,
adds no flows) in its namespace; h1's only link is veth1, a port of br0.  The switch's
namespace has no other route: its TCP connection leaves through br0's LOCAL port
(the internal tap device br0, 10.0.0.100/24), so it needs the in-band hidden flows
(ARP, the controller's TCP port) to reach the controller through NORMAL.  The bridge is
secure, so nothing else can let the traffic through.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from harness import netdev_bridge, wait_for
from topology import run

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def testcontroller():
    procs: list[subprocess.Popen] = []

    def start(netns: str, ip: str, tmp) -> subprocess.Popen:
        p = subprocess.Popen(["ip", "netns", "exec", netns, "ovs-testcontroller", "-n",
                              f"ptcp:6653:{ip}", f"--unixctl={tmp}/tc.ctl",
                              f"--log-file={tmp}/tc.log", "-vfile:info"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_switch_reaches_in_band_controller(make_switch, hosts, testcontroller, tmp_path):
    h = hosts(1)
    testcontroller(h.hosts[0], h.ip(1), tmp_path)
    sw = make_switch(netdev_bridge(h, 1, fail_mode="secure", controllers=[{
        "target": f"tcp:{h.ip(1)}:6653", "max_backoff": 1000}]), netns=h.switch_ns)
    run("ip", "-n", h.switch_ns, "addr", "add", "10.0.0.100/24", "dev", "br0")
    run("ip", "-n", h.switch_ns, "link", "set", "br0", "up")

    def connected():
        return "state: ACTIVE" in sw.appctl("ofproto/show-connections", "br0").stdout or \
            "state: IDLE" in sw.appctl("ofproto/show-connections", "br0").stdout
    wait_for(connected, 20, 0.2, "the in-band connection")
    # The next hop's MAC is learnt from the kernel's ARP cache at the next refresh (1 s
    # while unknown), adding the two next-hop rules.
    wait_for(lambda: all(f"priority={p}" in sw.appctl("bridge/dump-flows", "br0").stdout
                         for p in range(180000, 180009)), 5, 0.2, "all nine in-band rules")
    hidden = sw.appctl("bridge/dump-flows", "br0").stdout
    assert "priority=180007,tcp,nw_dst=10.0.0.1,tp_dst=6653" in hidden
    assert "priority=180003,arp,dl_dst=02:00:00:00:00:01,arp_op=2" in hidden
    # Stays connected (echo requests and replies cross the bridge too), and OpenFlow sees
    # only what the controller itself added (ovs-testcontroller -n: a table-miss flow).
    seq = sw.log_text().count("connected")
    time.sleep(12)
    assert connected() and sw.log_text().count("connected") == seq
    flows = sw.ofctl("-O", "OpenFlow13", "dump-flows", "br0").stdout.splitlines()[1:]
    assert [f.split("priority=")[1] for f in flows] == ["0 actions=CONTROLLER:128"], flows
    (line,) = [l for l in sw.appctl("bridge/dump-flows", "br0").stdout.splitlines()
               if "priority=180008" in l]
    assert int(line.split("n_packets=")[1].split(",")[0]) > 0, line   # it carried the session
