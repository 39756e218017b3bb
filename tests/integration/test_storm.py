"""Storms at once: the switch keeps answering its controller and forwarding.

Four hosts around pyvswitchd, all in namespaces; an os-ken controller (``osken_apps.pincount``)
in the switch's namespace installs a table-miss flow that sends every unmatched packet to it.
For about ten seconds, at the same time:

* a **packet-in storm**: h1 sends 2000 frames/s over 64 flows, each a table miss;
* a **new-flow flood**: h2 sends 300 frames/s, every one a flow not seen before (a new UDP
  destination port, which a ``udp,tp_dst=7`` flow makes part of every cached megaflow),
  each costing an upcall and a translation;
* a **flow-mod storm**: ``ovs-ofctl add-flows`` of 200 flows then ``del-flows`` of them,
  in a loop (paused 0.5 s between rounds), over the management socket;

and the test checks what a controller and a user see: echo round trips (timed by a small
client on the management socket, which reads everything at once, and by the storming
os-ken controller, reported) stay under 100 ms, a FLOW_MOD followed by a BARRIER is
answered (and the flow is there), and the established flows between h3 and h4 keep
forwarding (ping).
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import threading
import time

import pytest

from pyvswitch.openflow import codec
from pyvswitch.openflow import messages as m
from pyvswitch.openflow.ofpacts import Instructions, Output
from pyvswitch.packet.fields import Match

from harness import netdev_bridge, wait_for
from udp_flood import start_flood
from test_packet_in import osken_in_ns, round_trip  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(120)

STORM_S = 10.0
#: Before revalidation after flow_mods became selective (only the cached flows a changed
#: rule can touch are re-translated), every round re-translated all ~3000 cached flows
#: and echo round trips reached 270 ms on a loaded 2-core machine (docs/reliability.md).
#: Back to back rounds now pass too (max echo 118 ms at load 4.5); the pause keeps the
#: bound's margin on a busy CI machine.
FLOW_MOD_PAUSE_S = 0.5
#: other_config:max-idle: cached flows of the new-flow flood expire after this idle time.
MAX_IDLE_MS = 1000
NEW_FLOWS_PER_S = 300


def flood(hosts, host: int, rate: int, n_flows: int, vary: str) -> subprocess.Popen:
    return start_flood(hosts.hosts[host - 1], rate, STORM_S, n_flows, vary,
                       dst_mac="02:00:00:00:00:0f", src_ip="10.0.0.9", dst_ip="10.0.0.15")


def flow_mod_storm(sw, flow_file: str, stop: threading.Event, done: list) -> None:
    """Add 200 flows, delete them, pause FLOW_MOD_PAUSE_S; until ``stop``."""
    while not stop.is_set():
        sw.ofctl("-O", "OpenFlow13", "add-flows", "br0", flow_file, timeout=30)
        sw.ofctl("-O", "OpenFlow13", "del-flows", "br0", "cookie=0x5/-1", timeout=30)
        done.append(time.monotonic())
        stop.wait(FLOW_MOD_PAUSE_S)


class Probe:
    """A minimal OpenFlow 1.3 client on the bridge's management socket that times echo
    and FLOW_MOD+BARRIER round trips from the outside, reading everything it is sent."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(path)
        self.buf = b""
        self.sock.sendall(struct.pack("!BBHI", 0x04, 0, 8, 1))     # HELLO, OpenFlow 1.3
        self.xid = 100

    def _wait_for(self, xid: int, mtype: int) -> None:
        while True:
            while len(self.buf) < 8 or len(self.buf) < struct.unpack("!H", self.buf[2:4])[0]:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("the switch closed the probe connection")
                self.buf += chunk
            length = struct.unpack("!H", self.buf[2:4])[0]
            msg, self.buf = self.buf[:length], self.buf[length:]
            if msg[1] == mtype and struct.unpack("!I", msg[4:8])[0] == xid:
                return
            assert msg[1] != 1, f"OFPT_ERROR: {msg.hex()}"

    def round_trip(self, *msgs: m.Message, reply_type: int) -> float:
        t0 = time.monotonic()
        for msg in msgs:
            self.xid += 1
            self.sock.sendall(codec.encode(msg, 0x04, self.xid))
        self._wait_for(self.xid, reply_type)
        return time.monotonic() - t0

    def close(self) -> None:
        self.sock.close()


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def missed(sw) -> int:
    text = sw.appctl("dpif/show").stdout
    return int(text.split("missed:")[1].split()[0])


def test_packet_in_flow_mod_and_new_flow_storms_at_once(make_switch, hosts, osken_in_ns,
                                                        tmp_path):
    h = hosts(4)
    ctl = osken_in_ns(h.switch_ns)
    knobs = f'[other_config]\nmax-idle = "{MAX_IDLE_MS}"\n'
    sw = make_switch(knobs + netdev_bridge(h, 4, fail_mode="secure", flows=(
        "priority=100,in_port=3,actions=output:4", "priority=100,in_port=4,actions=output:3",
        "priority=5,udp,tp_dst=7,actions=drop"), controllers=[{
            "target": f"tcp:127.0.0.1:{ctl.port}", "max_backoff": 1000}]),
        netns=h.switch_ns)
    ctl.wait_event("table_miss_installed", timeout=15)
    wait_for(lambda: "priority=0" in sw.ofctl("dump-flows", "br0").stdout, 10,
             what="the table-miss flow")
    assert h.ping(3, 4, count=1, wait=2), sw.log_text()[-3000:]
    flow_file = tmp_path / "storm.flows"
    flow_file.write_text("".join(f"cookie=0x5,priority=10,ip,nw_src=172.16.{i // 250}."
                                 f"{i % 250 + 1},actions=drop\n" for i in range(200)))
    missed_before = missed(sw)
    pins_before = max((ev["count"] for ev in ctl.events("pin_count")), default=0)

    stop, rounds = threading.Event(), []
    mods = threading.Thread(target=flow_mod_storm, args=(sw, str(flow_file), stop, rounds))
    storm = flood(h, 1, rate=2000, n_flows=64, vary="src")
    new_flows = flood(h, 2, rate=NEW_FLOWS_PER_S, n_flows=100_000, vary="dport")
    mods.start()
    ping = subprocess.Popen(["ip", "netns", "exec", h.hosts[2], "ping", "-q", "-c", "30",
                             "-i", "0.25", "-W", "1", h.ip(4)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    latencies, barriers, osken_echo = [], [], []
    probe = None
    try:
        probe = Probe(str(sw.rundir / "br0.mgmt"))
        time.sleep(1.5)                          # the storms are in full swing
        cpu0, wall0 = cpu_seconds(sw.proc.pid), time.monotonic()
        for i in range(30):
            latencies.append(probe.round_trip(m.EchoRequest(b"storm"), reply_type=3))
            barriers.append(probe.round_trip(m.FlowMod(
                Match().set("in_port", 6), Instructions(apply=(Output(1 + i % 2),)),
                table_id=0, priority=100), m.BarrierRequest(), reply_type=21))
            if i % 5 == 0:                       # the storming controller's own view
                osken_echo.append(round_trip(ctl, "echo", "echo_reply"))
            time.sleep(0.2)
        cpu = (cpu_seconds(sw.proc.pid) - cpu0) / (time.monotonic() - wall0)
        ctl.send("flow_mod", in_port=5, out_port=2)
        osken_barrier = round_trip(ctl, "barrier", "barrier_reply")
    finally:
        if probe is not None:
            probe.close()
        ping_out = ping.communicate(timeout=30)[0]
        sent = [p.communicate(timeout=30)[0] for p in (storm, new_flows)]
        stop.set()
        mods.join(timeout=60)
    pins = max((ev["count"] for ev in ctl.events("pin_count")), default=0) - pins_before
    ms = lambda xs: sorted(round(x * 1000, 1) for x in xs)   # noqa: E731
    report = (f"echo {ms(latencies)} ms, flow_mod+barrier {ms(barriers)} ms, os-ken echo "
              f"{ms(osken_echo)} ms and barrier {osken_barrier * 1000:.1f} ms, "
              f"flow-mod rounds {len(rounds)}, daemon CPU {cpu:.0%}, "
              f"frames sent {sent}, packet-ins {pins}, misses {missed(sw) - missed_before}"
              f"\n{ping_out}")
    print(report)
    # The daemon itself uses about a third of a core here; what stretches the slowest
    # round trips is waiting for a CPU on a shared 2-core machine (load 5 while measured),
    # so the bound is on 90 % of the samples, with a hard ceiling for all of them.
    under = sum(x < 0.1 for x in latencies)
    assert under >= 27 and max(latencies) < 0.5, report
    assert sorted(latencies)[15] < 0.05, report
    assert len(barriers) == 30 and osken_barrier < 5, report
    flows = sw.ofctl("-O", "OpenFlow13", "dump-flows", "br0").stdout
    assert "priority=100,in_port=5 actions=output:2" in flows
    assert "priority=100,in_port=6 actions=output:2" in flows
    # Established flows kept forwarding: h3 <-> h4 pings answered throughout.
    received = int(ping_out.split(" received")[0].split()[-1])
    assert received >= 28, report
    # The storms were real: thousands of frames, packet-ins, new flows and flow-mod rounds.
    assert int(sent[0]) > 10_000 and int(sent[1]) > 1_500, report
    assert pins > 5_000, report
    assert missed(sw) - missed_before > 1_500, report
    assert len(rounds) >= 1, report      # 400 FLOW_MODs a round; 2-7 rounds seen
    assert "Traceback" not in sw.log_text()
