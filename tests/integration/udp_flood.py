"""A paced flood of UDP frames from inside a namespace host, for the storm and
packet-in tests: run as a script (``python udp_flood.py RATE SECONDS FLOWS VARY DST_MAC
SRC_IP DST_IP PAD``) through ``start_flood``, it sends RATE frames a second for SECONDS
on eth0, cycling through FLOWS different flows, and prints how many it sent.

VARY ``src``: each flow has its own source MAC and UDP source port; ``dport``: one source
MAC, each flow its own UDP destination port.  Every frame is PAD bytes longer than its 52
bytes of headers and payload."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def start_flood(netns: str, rate: int, seconds: float, n_flows: int = 64, vary: str = "src",
                dst_mac: str = "02:00:00:00:00:02", src_ip: str = "10.0.0.1",
                dst_ip: str = "10.0.0.2", pad: int = 0) -> subprocess.Popen:
    """The flood, started in ``netns`` (its stdout: the number of frames sent)."""
    return subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, str(Path(__file__).resolve()),
         str(rate), str(seconds), str(n_flows), vary, dst_mac, src_ip, dst_ip, str(pad)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _flood(rate: float, seconds: float, n_flows: int, vary: str, dst_mac: str,
           src_ip: str, dst_ip: str, pad: int) -> int:
    import socket
    import struct
    import time
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind(("eth0", 0))
    dst = bytes.fromhex(dst_mac.replace(":", ""))
    ip = (bytes.fromhex("450000260000000040110000") + socket.inet_aton(src_ip)
          + socket.inet_aton(dst_ip))
    tail = b"flood!...." + bytes(pad)
    batch = max(1, int(rate / 100))
    end = time.monotonic() + seconds
    n = 0
    next_t = time.monotonic()
    while time.monotonic() < end:
        for _ in range(batch):
            n += 1
            k = n % n_flows
            if vary == "dport":
                src, udp = b"\x06\x00\x00\x00\x00\x02", struct.pack("!HHHH", 9, 1024 + k, 18, 0)
            else:
                src, udp = b"\x06" + k.to_bytes(5, "big"), struct.pack("!HHHH", 1024 + k, 9, 18, 0)
            try:
                s.send(dst + src + b"\x08\x00" + ip + udp + tail)
            except OSError:
                pass
        next_t += batch / rate
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return n


if __name__ == "__main__":
    a = sys.argv[1:]
    print(_flood(float(a[0]), float(a[1]), int(a[2]), a[3], a[4], a[5], a[6], int(a[7])))
