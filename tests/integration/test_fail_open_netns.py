"""Fail modes with a real controller going away and coming back (os-ken in the switch's
namespace, hosts in their own).

Standalone: with the controller gone for 3 x its 5 s inactivity probe the switch fails
open (flushes, adds the hidden priority-0xF0F0F0 NORMAL flow) and the hosts can talk;
when the controller is back and sends a FLOW_MOD (admission) the switch leaves fail-open,
removing only its own flow, and the controller's table-miss flow rules again.  Secure:
nothing new passes while the controller is away, flows already installed keep
forwarding, the switch adds nothing.
"""

from __future__ import annotations

import time

import pytest

from harness import free_tcp_port, netdev_bridge, wait_for
from osken_launcher import OsKen

pytestmark = pytest.mark.timeout(120)

FAIL_OPEN_PRIORITY = "priority=15790320"


@pytest.fixture
def osken_in_ns():
    started: list[OsKen] = []

    def start(netns: str, port: int) -> OsKen:
        ctl = OsKen(port, ["osken_apps.pincount"], ofp="1.3", netns=netns)
        started.append(ctl)
        return ctl.start()

    yield start
    for ctl in started:
        ctl.cleanup()


def hidden_flows(sw) -> str:
    return sw.appctl("bridge/dump-flows", "br0").stdout


def test_standalone_fails_open_and_recovers(make_switch, hosts, osken_in_ns):
    h = hosts(2)
    port = free_tcp_port()
    ctl = osken_in_ns(h.switch_ns, port)
    sw = make_switch(netdev_bridge(h, 2, fail_mode="standalone", controllers=[{
        "target": f"tcp:127.0.0.1:{port}", "inactivity_probe": 5000,
        "max_backoff": 1000}]), netns=h.switch_ns)
    ctl.wait_event("table_miss_installed", timeout=15)
    # The controller only counts packets: nothing is forwarded.
    assert not h.ping(1, 2, count=1, wait=0.5)
    assert FAIL_OPEN_PRIORITY not in hidden_flows(sw)

    ctl.cleanup()                                   # the controller goes away
    gone = time.monotonic()
    wait_for(lambda: "failing open" in sw.log_text(), 25, 0.2, "fail-open")
    waited = time.monotonic() - gone
    assert 13 <= waited <= 20, waited               # 3 x 5 s after the last admission
    assert FAIL_OPEN_PRIORITY in hidden_flows(sw)
    assert "actions=NORMAL" in hidden_flows(sw)
    assert "priority" not in sw.ofctl("-O", "OpenFlow13", "dump-flows", "br0").stdout
    assert h.ping(1, 2, count=2), sw.log_text()[-2000:]

    ctl2 = osken_in_ns(h.switch_ns, port)           # back; its FLOW_MOD admits it
    ctl2.wait_event("table_miss_installed", timeout=15)
    wait_for(lambda: "No longer in fail-open mode" in sw.log_text(), 10, 0.2, "recovery")
    assert FAIL_OPEN_PRIORITY not in hidden_flows(sw)
    assert "actions=CONTROLLER" in sw.ofctl("-O", "OpenFlow13", "dump-flows", "br0").stdout
    time.sleep(0.3)
    n = ctl2.events("pin_count")[-1]["count"] if ctl2.events("pin_count") else 0
    assert not h.ping(1, 2, count=1, wait=0.5)      # the controller's flow rules again
    wait_for(lambda: ctl2.events("pin_count") and ctl2.events("pin_count")[-1]["count"] > n,
             5, what="the ping as a packet-in")


def test_secure_adds_nothing_and_keeps_existing_flows(make_switch, hosts, osken_in_ns):
    h = hosts(3)
    port = free_tcp_port()
    ctl = osken_in_ns(h.switch_ns, port)
    # Probes disabled: were this standalone, it would fail open after one second.
    sw = make_switch(netdev_bridge(h, 3, fail_mode="secure", controllers=[{
        "target": f"tcp:127.0.0.1:{port}", "inactivity_probe": 0,
        "max_backoff": 1000}]), netns=h.switch_ns)
    ctl.wait_event("table_miss_installed", timeout=15)
    sw.ofctl("-O", "OpenFlow13", "add-flow", "br0", "priority=10,in_port=1,actions=output:2")
    sw.ofctl("-O", "OpenFlow13", "add-flow", "br0", "priority=10,in_port=2,actions=output:1")
    assert h.ping(1, 2, count=1)
    ctl.cleanup()
    time.sleep(4)
    assert h.ping(1, 2, count=2)                    # existing flows keep forwarding
    assert not h.ping(1, 3, count=1, wait=0.5)      # nothing new passes
    assert FAIL_OPEN_PRIORITY not in hidden_flows(sw)
    assert "fail-open" not in sw.log_text() and "failing open" not in sw.log_text()
    flows = sw.ofctl("-O", "OpenFlow13", "dump-flows", "br0").stdout
    assert flows.count("priority=10") == 2 and "actions=CONTROLLER" in flows
