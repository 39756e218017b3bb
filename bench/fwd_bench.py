#!/usr/bin/env python3
"""Forwarding benchmark: packets/s delivered p1 -> p2 through pyvswitch's datapath, a bare
Python ring loop, and Open vSwitch's userspace datapath, interleaved round by round.

Needs root, trafgen (netsniff-ng) and Open vSwitch's binaries.  Builds its own namespaces
(bench/netns.py), removes them and stops every process it started at the end, also on
failure or Ctrl-C.  The switch under test is pinned to CPU 1, trafgen to CPU 0, sending
60-byte UDP frames to a MAC nobody owns.

Configurations:
  bare    the ceiling: TPACKET_V2 RX ring -> TPACKET_V2 TX ring, no parsing, one flush per batch
  netdev  pyvswitch's SystemNetdev alone: recv_batch(256) -> send_batch (no datapath)
  netdev-send  the same, transmitting with one send() per frame instead of the TX ring
  dp      pyvswitch's DpifNetdev on two system ports, megaflow in_port=1 -> output:2,
          driven by an ovs.poller loop as the daemon drives it
  ovs     ovs-vswitchd (userspace datapath, AF_PACKET ports), flow in_port=1,actions=output:2
  daemon  the whole pyvswitchd (TOML config, netdev bridge, system ports p1/p2) with the same
          OpenFlow flow: every frame after the first is a datapath cache hit
  daemon-miss, ovs-miss
          the cache-miss path: every frame carries a random destination MAC and the table
          holds ``priority=10,dl_dst=02:00:00:00:00:99,actions=drop`` above
          ``in_port=1,actions=output:2``, so each frame's megaflow must match its whole
          destination MAC: one upcall, one translation, one megaflow per frame.  Delivered
          packets per second is then new flows handled per second.
  daemon-pypy, daemon-pypy-miss
          the same with pyvswitchd on PyPy (``--pypy``, by default `make pypy`'s .venv-pypy)

Usage: bench/fwd_bench.py [--rounds 3] [--secs 3] [--configs bare,netdev,dp,daemon,ovs,...]
"""

from __future__ import annotations

import argparse
import mmap
import os
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from netns import Topology, start_trafgen, stop_trafgen  # noqa: E402
from reference_ovs import ReferenceOvs  # noqa: E402

PYPY_DEFAULT = Path(HERE).parent / ".venv-pypy" / "bin" / "python"

# 60 bytes: a random unicast destination MAC, source 02:00:00:00:00:01, IPv4/UDP 10.99.0.1:1024
# -> 10.99.0.2:9 (the switch does not check the IP checksum; this one is right anyway).
TRAFGEN_MISS_CFG = """{
  0x02, drnd(5), 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
  0x45, 0x00, 0x00, 0x2e, 0x00, 0x00, 0x00, 0x00, 0x40, 0x11, 0x65, 0xf7,
  0x0a, 0x63, 0x00, 0x01, 0x0a, 0x63, 0x00, 0x02,
  0x04, 0x00, 0x00, 0x09, 0x00, 0x1a, 0x00, 0x00,
  fill(0x00, 18)
}
"""

HIT_FLOWS = ("in_port=1,actions=output:2",)
MISS_FLOWS = ("priority=10,dl_dst=02:00:00:00:00:99,actions=drop",
              "priority=0,in_port=1,actions=output:2")

TRAFGEN_CFG = """{
  eth(da=02:00:00:00:00:99, sa=02:00:00:00:00:01, type=0x0800),
  ipv4(sa=10.99.0.1, da=10.99.0.2, ttl=64),
  udp(sp=1024, dp=9),
  fill(0x00, 18)
}
"""


# --- children: run inside the switch namespace -------------------------------------------

def ready() -> None:
    """Tell the parent the forwarder is set up (imports done, sockets open)."""
    print("ready", flush=True)


def child_bare(inp: str, out: str) -> None:
    """The ceiling: rx ring -> tx ring, no parsing; mirrors what a forwarder cannot avoid."""
    sol, ver, rxr, txr = 263, 10, 5, 13
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    fs, n_rx, n_tx = 2048, 4096, 512

    def ring(s, opt, n):
        s.setsockopt(sol, ver, 1)
        s.setsockopt(sol, opt, struct.pack("IIII", 1 << 16, fs * n >> 16, fs, n))
        return mmap.mmap(s.fileno(), fs * n)
    rring, tring = ring(rx, rxr, n_rx), ring(tx, txr, n_tx)
    rx.setsockopt(sol, 23, 1)
    rx.bind((inp, 3))
    tx.bind((out, 0))
    ready()
    rst, tst = memoryview(rring).cast("I"), memoryview(tring).cast("I")
    fw = fs >> 2
    p = select.poll()
    p.register(rx, select.POLLIN)
    i = ti = 0
    pack = struct.Struct("II").pack_into
    unpack = struct.Struct("II").unpack_from
    while True:
        if not rst[i * fw] & 1:
            p.poll(100)
            continue
        batch = 0
        while rst[i * fw] & 1 and batch < 256:
            b = i * fs
            _, snap = unpack(rring, b + 4)
            mac = b + rring[b + 12] + (rring[b + 13] << 8)
            if tst[ti * fw]:
                tx.send(b"")
            tb = ti * fs
            tring[tb + 32:tb + 32 + snap] = rring[mac:mac + snap]
            pack(tring, tb + 4, snap, snap)
            tst[ti * fw] = 1
            ti = ti + 1 if ti + 1 < n_tx else 0
            rst[i * fw] = 0
            i = i + 1 if i + 1 < n_rx else 0
            batch += 1
        tx.send(b"")


def child_netdev(inp: str, out: str, tx_ring: str = "true") -> None:
    from pyvswitch.netdev import open_netdev
    a = open_netdev(inp, "system")
    b = open_netdev(out, "system", {"tx_ring": tx_ring})
    p = select.poll()
    p.register(a.fileno(), select.POLLIN)
    ready()
    while True:
        frames = a.recv_batch(256)
        if frames:
            b.send_batch(frames)
        else:
            p.poll(100)


def child_dp(inp: str, out: str) -> None:
    import ovs.poller
    from pyvswitch.datapath import DpifNetdev, Output
    from pyvswitch.netdev import open_netdev
    from pyvswitch.packet.fields import N_SLOTS, Slot
    dp = DpifNetdev()
    dp.port_add(open_netdev(inp, "system"), 1)
    dp.port_add(open_netdev(out, "system"), 2)
    key, mask = [0] * N_SLOTS, [0] * N_SLOTS
    key[Slot.IN_PORT], mask[Slot.IN_PORT] = 1, 0xFFFFFFFF
    dp.flow_put(tuple(key), tuple(mask), [Output(2)])
    clock = time.monotonic
    ready()
    try:
        while True:
            dp.run(clock() * 1000.0)
            poller = ovs.poller.Poller()
            dp.wait(poller)
            poller.block()
    finally:
        print(dp.stats().format(), file=sys.stderr, flush=True)


# --- the parent -------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--secs", type=float, default=3.0)
    ap.add_argument("--warm", type=float, default=1.0)
    ap.add_argument("--configs", default="bare,netdev,dp,daemon,ovs,daemon-miss,ovs-miss")
    ap.add_argument("--pypy", default=str(PYPY_DEFAULT),
                    help="the interpreter of the daemon-pypy configurations (make pypy's)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        {"bare": child_bare, "netdev": child_netdev, "dp": child_dp,
         "netdev-send": lambda i, o: child_netdev(i, o, "false")}[a.child]("p1", "p2")
        return 0
    if os.geteuid() != 0:
        print("fwd_bench.py needs root (namespaces, AF_PACKET)", file=sys.stderr)
        return 2
    cfgs = a.configs.split(",")
    res: dict[str, list[tuple[float, float, float]]] = {c: [] for c in cfgs}
    tmp = tempfile.mkdtemp(prefix="pyvs-fwd-")
    traffic = {}
    for name, text in (("hit", TRAFGEN_CFG), ("miss", TRAFGEN_MISS_CFG)):
        traffic[name] = os.path.join(tmp, f"udp60-{name}.trafgen")
        with open(traffic[name], "w") as f:
            f.write(text)
    ovs = None
    with Topology() as topo:
        try:
            if any(c.startswith("ovs") for c in cfgs):
                ovs = OvsRunner(topo.s, tmp)
                ovs.start()
            for r in range(a.rounds):
                for c in cfgs:
                    cfg_path = traffic["miss" if c.endswith("-miss") else "hit"]
                    res[c].append(run_one(c, topo, ovs, cfg_path, tmp, a))
                    off, dlv, cpu = res[c][-1]
                    print(f"round {r} {c:11s} offered {off:10,.0f}  delivered {dlv:10,.0f} pps"
                          f"  {cpu:6.2f} us CPU/pkt", flush=True)
        finally:
            if ovs:
                ovs.stop()
    print("\ndelivered: packets/s reaching p2ns; CPU/pkt: the forwarder's user+sys CPU per "
          "delivered packet;\ncapacity: 1e6 / CPU/pkt, the rate one whole core would carry "
          "(robust when the machine is shared)")
    print(f"{'config':11s} {'offered':>9s} {'delivered median [min..max]':>30s} "
          f"{'CPU/pkt':>8s} {'capacity':>9s}  ratios vs ovs (ovs-miss for -miss): "
          "delivered, capacity")
    for c in cfgs:
        d = [x[1] for x in res[c]]
        cpu = statistics.median(x[2] for x in res[c])
        ratio = ""
        ref = "ovs-miss" if c.endswith("-miss") else "ovs"
        if ref in res and c != ref:
            rd = statistics.median(x[1] / max(1, y[1]) for x, y in zip(res[c], res[ref]))
            rc = statistics.median(y[2] / max(1e-9, x[2]) for x, y in zip(res[c], res[ref]))
            ratio = f"  {rd:.2f}x  {rc:.2f}x"
        print(f"{c:11s} {statistics.median(x[0] for x in res[c]):9,.0f} "
              f"{statistics.median(d):10,.0f} [{min(d):,.0f}..{max(d):,.0f}] "
              f"{cpu:7.2f}us {1e6 / max(cpu, 1e-9):9,.0f}{ratio}")
    return 0


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def run_one(cfg: str, topo, ovs, cfg_path: str, tmp: str, a) -> tuple[float, float, float]:
    proc = None
    flows = MISS_FLOWS if cfg.endswith("-miss") else HIT_FLOWS
    try:
        if cfg.startswith("ovs"):
            ovs.attach(flows)
            pid = ovs.pid()
        else:
            python = a.pypy if cfg.startswith("daemon-pypy") else sys.executable
            proc = (start_daemon(topo, tmp, flows, python) if cfg.startswith("daemon")
                    else start_child(topo, cfg))
            pid = proc.pid          # ip netns exec / taskset exec in place
        time.sleep(0.5)
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{cfg} forwarder exited with {proc.returncode}")
        return measure(topo, cfg_path, a, pid)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if cfg.startswith("ovs"):
            ovs.detach()


def start_child(topo, cfg: str) -> subprocess.Popen:
    """One of the in-process forwarders above, run by this script in the switch namespace."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", topo.s, "taskset", "-c", "1", sys.executable,
         os.path.abspath(__file__), "--child", cfg],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    # imports can take seconds on a busy machine: measure only once it forwards
    if not select.select([proc.stdout], [], [], 60)[0] or \
            proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"{cfg} forwarder did not start ({proc.poll()})")
    return proc


def start_daemon(topo, tmp: str, flows: tuple[str, ...],
                 python: str = sys.executable) -> subprocess.Popen:
    """pyvswitchd (on ``python``) from a TOML file with ``flows`` installed at start; returns once
    ``ovs-ofctl dump-flows`` shows them.  The bridge is not called br0: Open vSwitch, up in
    the same namespace for the whole run, owns a tap device of that name."""
    rundir = os.path.join(tmp, "pyrun")
    os.makedirs(rundir, exist_ok=True)
    conf = os.path.join(tmp, "fwd.toml")
    with open(conf, "w") as f:
        f.write("\n".join([
            "[[bridge]]", 'name = "pybr0"', 'datapath_type = "netdev"', 'fail_mode = "secure"',
            "flows = [" + ", ".join(f'"{x}"' for x in flows) + "]",
            "[[bridge.port]]", 'name = "p1"', 'type = "system"', "ofport_request = 1",
            "[[bridge.port]]", 'name = "p2"', 'type = "system"', "ofport_request = 2"]) + "\n")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", topo.s, "taskset", "-c", "1", python, "-m",
         "pyvswitch.vswitchd.main", "--config", conf, "--rundir", rundir,
         f"--log-file={tmp}/pyvswitchd.log", "-vconsole:off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, OVS_RUNDIR=rundir)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        r = subprocess.run(["ovs-ofctl", "dump-flows", "pybr0"], env=env, capture_output=True,
                           text=True)
        if r.stdout.count("actions=") == len(flows):
            return proc
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"pyvswitchd did not start (see {tmp}/pyvswitchd.log)")


def measure(topo, cfg_path: str, a, pid: int | None = None) -> tuple[float, float, float]:
    """(offered pps, delivered pps, forwarder CPU microseconds per delivered packet)."""
    g = start_trafgen(topo.a, "p1ns", cfg_path, cpu=0)
    try:
        time.sleep(a.warm)
        c0 = cpu_seconds(pid) if pid else 0.0
        o0, d0, t0 = (topo.counter(topo.a, "p1ns", "tx_packets"),
                      topo.counter(topo.b, "p2ns", "rx_packets"), time.monotonic())
        time.sleep(a.secs)
        o1, d1, t1 = (topo.counter(topo.a, "p1ns", "tx_packets"),
                      topo.counter(topo.b, "p2ns", "rx_packets"), time.monotonic())
        c1 = cpu_seconds(pid) if pid else 0.0
    finally:
        stop_trafgen(g)
    dt = t1 - t0
    return (o1 - o0) / dt, (d1 - d0) / dt, (c1 - c0) * 1e6 / max(1, d1 - d0)


class OvsRunner:
    """Open vSwitch (``bench/reference_ovs.py``) pinned to core 1, ports attached per round."""

    def __init__(self, ns: str, tmp: str) -> None:
        self.ovs = ReferenceOvs(ns, Path(tmp) / "ovs")

    def start(self) -> None:
        self.ovs.start()
        self.ovs.run("taskset", "-a", "-p", "-c", "1", str(self.ovs.pid))

    def pid(self) -> int:
        return self.ovs.pid

    def attach(self, flows: tuple[str, ...]) -> None:
        self.ovs.run("ovs-vsctl", "add-port", "br0", "p1", "--", "set", "interface", "p1",
                     "ofport_request=1", "--", "add-port", "br0", "p2", "--", "set",
                     "interface", "p2", "ofport_request=2")
        self.ovs.run("ovs-ofctl", "-O", "OpenFlow13", "del-flows", "br0")
        for flow in flows:
            self.ovs.run("ovs-ofctl", "-O", "OpenFlow13", "add-flow", "br0", flow)

    def detach(self) -> None:
        self.ovs.run("ovs-vsctl", "--if-exists", "del-port", "br0", "p1", "--",
                     "--if-exists", "del-port", "br0", "p2")

    def stop(self) -> None:
        self.ovs.stop()


if __name__ == "__main__":
    sys.exit(main())
