#!/usr/bin/env python3
"""Packet-in throughput: pyvswitchd next to Open vSwitch's ovs-vswitchd, same run.

Topology (``bench/netns.py``): ``A: p1ns == p1 [S: switch] p2 == p2ns :B``.  The switch
under test runs in namespace S with ports p1 and p2, fail_mode secure, one out-of-band
controller on S's loopback and a single flow ``priority=0,actions=CONTROLLER:65535``.
``trafgen`` in A floods p1 with 60-byte UDP frames of random source ports (nearly every
frame a new flow; the bench kit's ``udp60_newflows.trafgen``).  A minimal counting
controller (OpenFlow 1.3, written below, answers HELLO and ECHO only) reports packet-ins
per second; the figure is the median of the steady seconds.

Configurations: no rate limit, and ``controller_rate_limit`` = 100 and 1000.  Open vSwitch
runs with a private rundir and its own ovsdb-server, its userspace (netdev) datapath inside
namespace S, as ``/work/shared/bench-kit/ovs-start.sh`` does.

Usage: ``python bench/pktin_bench.py [--seconds 8] [--only py|ovs] [--pps N]`` (root).
Not a test.  Every frame is a new flow, so without ``--pps`` pyvswitchd's main loop spends
its time translating misses, and its rate-limited figures then show how a long loop
iteration caps what the token bucket (at most ``burst`` packets per iteration) can
release; ``--pps 2000`` measures the packet-in path itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from netns import Topology, start_trafgen, stop_trafgen  # noqa: E402
from reference_ovs import ReferenceOvs  # noqa: E402

TRAFGEN = r"""{
  eth(da=02:00:00:00:00:99, sa=02:00:00:00:00:01, type=0x0800),
  ipv4(sa=10.99.0.1, da=10.99.0.2, ttl=64),
  udp(sp=drnd(), dp=9),
  fill(0x00, 18)
}
"""

COUNTER = r"""
import socket, struct, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
hdr = struct.Struct("!BBHI")
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(4); ls.settimeout(30)
n = 0; last = 0; end = None             # counted from the switch's first connection
while end is None or time.monotonic() < end:   # a switch that drops a session comes back
    c, _ = ls.accept()
    if end is None:
        t_last = time.monotonic(); end = t_last + secs
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    c.sendall(hdr.pack(4, 0, 16, 1) + struct.pack("!HHI", 1, 8, 1 << 4))
    c.settimeout(0.2)
    buf = bytearray()
    try:
        while time.monotonic() < end:
            try:
                d = c.recv(1 << 20)
                if not d:
                    break
            except socket.timeout:
                d = b""
            buf += d; off = 0
            while len(buf) - off >= 8:
                v, t, ln, xid = hdr.unpack_from(buf, off)
                if len(buf) - off < ln:
                    break
                if t == 10:
                    n += 1
                elif t == 2:
                    c.sendall(hdr.pack(v, 3, ln, xid) + bytes(buf[off + 8:off + ln]))
                off += ln
            del buf[:off]
            now = time.monotonic()
            if now - t_last >= 1.0:
                print(f"{(n - last) / (now - t_last):.0f}", flush=True)
                last, t_last = n, now
    except OSError:
        pass
    c.close()
"""


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PyvSwitch:
    name = "pyvswitchd"

    def __init__(self, topo: Topology, tmp: Path) -> None:
        self.topo, self.tmp = topo, tmp
        self.proc = None

    def start(self, port: int, rate: int | None) -> None:
        ctl = [f'target = "tcp:127.0.0.1:{port}"', 'connection_mode = "out-of-band"']
        if rate:
            ctl.append(f"controller_rate_limit = {rate}")
        cfg = "\n".join([
            "[[bridge]]", 'name = "br0"', 'datapath_type = "netdev"', 'fail_mode = "secure"',
            "[[bridge.port]]", 'name = "p1"', 'type = "system"', "ofport_request = 1",
            "[[bridge.port]]", 'name = "p2"', 'type = "system"', "ofport_request = 2",
            "[[bridge.controller]]", *ctl]) + "\n"
        (self.tmp / "py.toml").write_text(cfg)
        rundir = self.tmp / "pyrun"
        rundir.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.topo.s, sys.executable, "-m",
             "pyvswitch.vswitchd.main", "--config", str(self.tmp / "py.toml"),
             "--rundir", str(rundir), f"--log-file={self.tmp}/py.log", "-vconsole:off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env = dict(os.environ, OVS_RUNDIR=str(rundir))
        deadline = time.monotonic() + 20
        while True:                       # as for OVS: the flow arrives through OpenFlow
            r = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "add-flow", "br0",
                                "priority=0,actions=CONTROLLER:65535"], env=env,
                               capture_output=True)
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)

    def stop(self) -> None:
        log = self.tmp / "py.log"
        if log.exists() and os.environ.get("PKTIN_BENCH_LOG"):
            print(log.read_text()[-3000:])
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


class OvsSwitch:
    """Open vSwitch (``bench/reference_ovs.py``) set up as the packet-in reference."""

    name = "ovs-vswitchd"

    def __init__(self, topo: Topology, tmp: Path) -> None:
        self.ovs = ReferenceOvs(topo.s, tmp / "ovsrun")

    def start(self, port: int, rate: int | None) -> None:
        self.ovs.start(("fail_mode=secure", "--",
                        "add-port", "br0", "p1", "--", "set", "interface", "p1",
                        "ofport_request=1", "--", "add-port", "br0", "p2", "--", "set",
                        "interface", "p2", "ofport_request=2"))
        self.ovs.run("ovs-vsctl", "set-controller", "br0", f"tcp:127.0.0.1:{port}", "--",
                     "set", "controller", "br0", "connection-mode=out-of-band",
                     *([f"controller_rate_limit={rate}"] if rate else []))
        self.ovs.run("ovs-ofctl", "-O", "OpenFlow13", "del-flows", "br0")
        self.ovs.run("ovs-ofctl", "-O", "OpenFlow13", "add-flow", "br0",
                     "priority=0,actions=CONTROLLER:65535")

    def stop(self) -> None:
        self.ovs.stop()


def measure(topo: Topology, switch, rate: int | None, seconds: float, tmp: Path,
            pps: int | None = None) -> float:
    port = free_port()
    counter = subprocess.Popen(["ip", "netns", "exec", topo.s, sys.executable, "-c", COUNTER,
                                str(port), str(seconds + 4)],
                               stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    gen = None
    try:
        switch.start(port, rate)
        time.sleep(2.5)                  # connect, handshake
        (tmp / "flood.trafgen").write_text(TRAFGEN)
        gen = start_trafgen(topo.a, "p1ns", str(tmp / "flood.trafgen"),
                            *(["-b", f"{pps}pps"] if pps else []))
        out, _ = counter.communicate(timeout=seconds + 40)
    finally:
        if gen is not None:
            stop_trafgen(gen)
        if counter.poll() is None:
            counter.kill()
        switch.stop()
    per_sec = [float(x) for x in out.split()]
    steady = per_sec[3:] or per_sec  # skip the handshake and the first burst
    return statistics.median(steady) if steady else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--only", choices=("py", "ovs"))
    ap.add_argument("--pps", type=int, default=None,
                    help="offered frames per second (trafgen -b); default: as fast as it can")
    args = ap.parse_args()
    configs = [None, 100, 1000]
    results: dict[tuple[str, int | None], float] = {}
    tmp = Path(tempfile.mkdtemp(prefix="pktin-bench-"))
    try:
        with Topology() as topo:
            for rate in configs:
                for cls in (PyvSwitch, OvsSwitch):
                    if args.only and cls.name != {"py": "pyvswitchd",
                                                  "ovs": "ovs-vswitchd"}[args.only]:
                        continue
                    results[(cls.name, rate)] = measure(topo, cls(topo, tmp), rate,
                                                        args.seconds, tmp, args.pps)
                    print(f"  {cls.name:13} rate_limit={rate or '-':>5}: "
                          f"{results[(cls.name, rate)]:,.0f} packet-ins/s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(f"{'controller_rate_limit':>22} {'pyvswitchd':>12} {'ovs-vswitchd':>13} {'ratio':>7}")
    for rate in configs:
        py = results.get(("pyvswitchd", rate))
        ovs = results.get(("ovs-vswitchd", rate))
        ratio = f"{py / ovs:.3f}" if py is not None and ovs else "-"
        print(f"{rate or 'none':>22} {py if py is not None else float('nan'):>12,.0f} "
              f"{ovs if ovs is not None else float('nan'):>13,.0f} {ratio:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
