"""Micro-benchmark of flow key extraction (``packet.extract``) on common frames.

Prints packets per second for each frame kind; run ``python bench/extract_bench.py``
(``--seconds`` sets the time spent per frame).  Rates are per second of this process's CPU
time (``time.process_time``), so other load on a shared machine skews them less than wall
time would.  Not a test: nothing is asserted.
The frames are built by hand so the benchmark needs nothing beyond pyvswitch.
"""

from __future__ import annotations

import argparse
import struct
import time

from pyvswitch.packet.extract import extract, extract_with_layout

_MACS = bytes.fromhex("020000000002020000000001")


def _ipv4(proto: int, l4: bytes) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0,
                      bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return hdr + l4


def frames() -> dict[str, bytes]:
    tcp = struct.pack("!HHIIHHHH", 40000, 80, 1, 0, 0x5002, 1024, 0, 0) + bytes(6)
    udp = struct.pack("!HHHH", 5000, 53, 26, 0) + bytes(18)
    icmp = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + bytes(18)
    ip6 = struct.pack("!IHBB16s16s", 0x60000000, len(udp), 17, 64,
                      bytes(15) + b"\1", bytes(15) + b"\2") + udp
    return {
        "ipv4/tcp 64B": _MACS + b"\x08\x00" + _ipv4(6, tcp),
        "ipv4/udp 64B": _MACS + b"\x08\x00" + _ipv4(17, udp),
        "ipv4/udp 1500B": _MACS + b"\x08\x00" + _ipv4(17, udp[:4] + struct.pack("!H", 1480)
                                                      + bytes(1474)),
        "ipv4/icmp": _MACS + b"\x08\x00" + _ipv4(1, icmp),
        "vlan/ipv4/tcp": _MACS + b"\x81\x00\x00\x05\x08\x00" + _ipv4(6, tcp),
        "ipv6/udp": _MACS + b"\x86\xdd" + ip6,
        "arp": _MACS + b"\x08\x06" + struct.pack("!HHBBH6s4s6s4s", 1, 0x800, 6, 4, 1,
                                                 bytes(6), bytes(4), bytes(6), bytes(4)),
    }


def measure(fn, frame: bytes, seconds: float) -> float:
    n = 0
    batch = 10000
    start = time.process_time()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn(frame, 1)
        n += batch
        now = time.process_time()
        if now >= deadline:
            return n / (now - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=0.5)
    args = ap.parse_args()
    for name, frame in frames().items():
        pps = measure(extract, frame, args.seconds)
        lpps = measure(extract_with_layout, frame, args.seconds)
        print(f"{name:16s} extract {pps / 1e3:8.0f} kpps   "
              f"extract_with_layout {lpps / 1e3:8.0f} kpps")


if __name__ == "__main__":
    main()
