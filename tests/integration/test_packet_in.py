"""Packet-ins under a flood, against a real controller (os-ken, ``osken_apps.pincount``).

pyvswitchd and os-ken run in the switch's namespace (os-ken on its loopback); host h1
floods the switch with frames of ever-new source MACs and UDP ports from a raw socket in
its own namespace, every one a table miss that the controller's table-miss flow sends to
it.  With ``controller_rate_limit=100`` the controller must see 100 +/- 10 packet-ins per
second and the switch must still answer an echo and apply a FLOW_MOD (barrier answered)
within 100 ms; without a limit, a controller that stops reading must not make the
switch's memory grow (the transmit queue holds at most ``controller_queue_size``
packet-ins, the rest are dropped and counted).
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from harness import free_tcp_port, netdev_bridge, wait_for
from udp_flood import start_flood
from osken_launcher import OsKen

pytestmark = pytest.mark.timeout(120)

def flood_from(hosts, host: int, rate: int, seconds: float, n_flows: int = 64,
               pad: int = 0) -> subprocess.Popen:
    """``rate`` frames/s for ``seconds`` from ``host``, cycling through ``n_flows``
    different flows (source MAC and UDP port), each frame ``pad`` bytes longer than its
    52 bytes of headers and payload."""
    return start_flood(hosts.hosts[host - 1], rate, seconds, n_flows, pad=pad)


@pytest.fixture
def osken_in_ns():
    started: list[OsKen] = []

    def start(netns: str) -> OsKen:
        ctl = OsKen(free_tcp_port(), ["osken_apps.pincount"], ofp="1.3", netns=netns)
        started.append(ctl)
        return ctl.start()

    yield start
    for ctl in started:
        if ctl.proc is not None and ctl.proc.poll() is None:
            ctl.proc.send_signal(signal.SIGCONT)
        ctl.cleanup()


def count_at(ctl: OsKen, t: float) -> int:
    """The controller's packet-in count reported last before monotonic time ``t``."""
    best = 0
    for ev in ctl.events("pin_count"):
        if ev["t"] <= t:
            best = ev["count"]
    return best


def round_trip(ctl: OsKen, op: str, answer: str, **fields) -> float:
    cmd = ctl.send(op, **fields)
    reply = ctl.wait_event(answer, lambda ev: ev.get("cmd") == cmd, timeout=5)
    sent = ctl.wait_event("sent", lambda ev: ev.get("cmd") == cmd, timeout=5)
    return reply["t"] - sent["t"]


def rss_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_rate_limit_holds_and_switch_stays_responsive(make_switch, hosts, osken_in_ns):
    h = hosts(2)
    ctl = osken_in_ns(h.switch_ns)
    sw = make_switch(netdev_bridge(h, 2, fail_mode="secure", controllers=[{
        "target": f"tcp:127.0.0.1:{ctl.port}", "controller_rate_limit": 100,
        "max_backoff": 1000}]), netns=h.switch_ns)
    ctl.wait_event("table_miss_installed", timeout=15)
    wait_for(lambda: "priority=0" in sw.ofctl("dump-flows", "br0").stdout, 10,
             what="the table-miss flow")
    # 64 flows cycled: after the first round every frame hits a cached megaflow whose
    # action is "to the controller".  (Each new flow costs a translation in the main
    # loop, and each FLOW_MOD a re-translation of every cached flow, so thousands of
    # distinct flows would measure translation speed rather than the packet-in path.)
    flood = flood_from(h, 1, rate=3000, seconds=9)
    try:
        time.sleep(2.0)                          # past the initial burst
        t0 = time.monotonic()
        latencies = []
        for i in range(5):                       # echo and flow_mod+barrier under load
            latencies.append(round_trip(ctl, "echo", "echo_reply"))
            ctl.send("flow_mod", in_port=2, out_port=1)
            latencies.append(round_trip(ctl, "barrier", "barrier_reply"))
            time.sleep(0.5)
        time.sleep(max(0.0, t0 + 5.0 - time.monotonic()))
        t1 = time.monotonic()
        rate = (count_at(ctl, t1) - count_at(ctl, t0)) / (t1 - t0)
    finally:
        sent = flood.communicate(timeout=30)[0]
    stats = sw.appctl("ofproto/packet-in-stats", "br0").stdout
    assert 90 <= rate <= 110, f"{rate:.1f} packet-ins/s\n{stats}"
    assert max(latencies) < 0.1, latencies
    assert "packet-in-miss-dropped=" in stats and "packet-in-miss-dropped=0\n" not in stats
    assert int(sent) > 10_000
    assert "priority=100,in_port=2 actions=output:1" in sw.ofctl(
        "-O", "OpenFlow13", "dump-flows", "br0").stdout


def test_transmit_queue_cap_keeps_memory_flat(make_switch, hosts, osken_in_ns):
    h = hosts(2)
    ctl = osken_in_ns(h.switch_ns)
    sw = make_switch(netdev_bridge(h, 2, fail_mode="secure", controllers=[{
        "target": f"tcp:127.0.0.1:{ctl.port}", "max_backoff": 1000,
        "inactivity_probe": 0}]), netns=h.switch_ns)
    ctl.wait_event("table_miss_installed", timeout=15)
    wait_for(lambda: "priority=0" in sw.ofctl("dump-flows", "br0").stdout, 10,
             what="the table-miss flow")
    ctl.proc.send_signal(signal.SIGSTOP)        # the controller stops reading
    # Full-size frames (the table-miss flow sends whole packets): about 4 MB/s of
    # packet-ins, so the kernel's socket buffers fill within a few seconds.
    flood = flood_from(h, 1, rate=3000, seconds=10, pad=1400)
    try:
        time.sleep(4.5)                          # socket buffers and the queue fill up
        before = rss_kb(sw.proc.pid)
        time.sleep(5.0)
        after = rss_kb(sw.proc.pid)
    finally:
        flood.communicate(timeout=30)
        ctl.proc.send_signal(signal.SIGCONT)
    stats = sw.appctl("ofproto/packet-in-stats", "br0").stdout
    line = next(l for l in stats.splitlines() if "127.0.0.1" in l)
    queued = int(line.split("queued in tx ")[1].split()[0])
    overflow = int(line.split("overflow ")[1].split()[0])
    assert queued <= 100 and overflow > 5000, stats
    assert after - before < 8 * 1024, f"RSS grew {before} -> {after} kB"
    # Once the controller reads again, the session is still there and gets packet-ins.
    n = count_at(ctl, time.monotonic())
    wait_for(lambda: count_at(ctl, time.monotonic()) > n, 10, what="packet-ins to resume")
