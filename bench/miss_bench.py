#!/usr/bin/env python3
"""New flows per second through the miss path, without I/O: frames injected on an in-memory
port each miss the datapath caches, are translated through a 102-rule table, get a megaflow
installed and are executed.  The issue's target is 10,000 new flows per second.  Every
frame has its own destination MAC and a rule matches one destination MAC, so every frame
is a megaflow of its own; with ``--flows 100000`` the peak RSS printed at the end is the
daemon's cost of 100,000 megaflows (target: under 200 MB).

Usage: bench/miss_bench.py [--flows 3000]
"""

from __future__ import annotations

import argparse
import resource
import time

from pyvswitch.netdev.base import open_netdev
from pyvswitch.ofproto.ofproto import Ofproto
from pyvswitch.ofproto_dpif.ofproto_dpif import OfprotoDpif
from pyvswitch.openflow import ofpacts as of
from pyvswitch.openflow.messages import FlowMod
from pyvswitch.packet import fields as F
from pyvswitch.packet.compose import compose
from pyvswitch.packet.fields import Match, Slot


def udp_frame(i: int) -> bytes:
    flow = list(F.ZERO_FLOW)
    flow[Slot.ETH_SRC], flow[Slot.ETH_DST] = 0x020000000001, 0x020000100000 + i
    flow[Slot.ETH_TYPE], flow[Slot.NW_PROTO], flow[Slot.NW_TTL] = F.ETH_TYPE_IP, 17, 64
    flow[Slot.NW_SRC], flow[Slot.NW_DST] = 0x0A000001, 0x0A000002
    flow[Slot.TP_SRC], flow[Slot.TP_DST] = 1000 + i % 60000, 2000 + i % 60000
    return compose(tuple(flow), payload_len=20)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flows", type=int, default=3000)
    a = ap.parse_args()
    ofproto = Ofproto("br0", 1)
    provider = OfprotoDpif(ofproto)
    ports = {}
    for i in (1, 2, 3):
        ports[i] = open_netdev(f"p{i}", "dummy")
        ofproto.add_port(f"p{i}", ports[i], i)
    ofproto.flows.apply_flow_mod(FlowMod(   # every destination MAC its own megaflow
        match=Match().set("eth_dst", 0x020000000099), instructions=of.Instructions(),
        table_id=0, priority=300), 0)
    for i in range(100):   # rules that make every UDP port its own megaflow
        ofproto.flows.apply_flow_mod(FlowMod(
            match=Match().set("eth_type", 0x800).set("ip_proto", 17).set("udp_dst", 3000 + i),
            instructions=of.Instructions(apply=(of.Output(3),)), table_id=0, priority=200), 0)
    ofproto.flows.apply_flow_mod(FlowMod(
        match=Match().set("in_port", 1), instructions=of.Instructions(apply=(of.Output(2),)),
        table_id=0, priority=100), 0)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    frames = [udp_frame(i) for i in range(a.flows)]
    frames_kib = sum(map(len, frames)) // 1024 + a.flows * 33 // 1024  # bytes objects
    t, start = 0, time.perf_counter()
    for k in range(0, len(frames), 64):
        for f in frames[k:k + 64]:
            ports[1].inject(f)
        provider.run(t)
        t += 1
        while provider.upcalls.pending:
            provider.run(t)
            t += 1
    dt = time.perf_counter() - start
    print(f"{a.flows / dt:,.0f} new flows/s ({dt / a.flows * 1e6:.0f} us each); "
          f"{len(provider.upcalls.ukeys)} megaflows; {len(ports[2].captured)} forwarded")
    ports[2].captured.clear()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS {rss / 1024:.0f} MiB ({rss_before / 1024:.0f} MiB before the flows; "
          f"about {(rss - rss_before - frames_kib) / max(1, len(provider.upcalls.ukeys)):.2f}"
          f" KiB per megaflow, the generated frames not counted)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
