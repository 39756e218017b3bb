#!/usr/bin/env python3
"""Flow-table benchmark: ovs-ofctl add-flows (plain and --bundle) of N distinct flows with
mixed masks, dump-flows of them, and the daemon's RSS per flow, for pyvswitchd and Open
vSwitch's ovs-vswitchd (userspace datapath) in the same run; beside each wall time, the
CPU the daemon itself spent per flow (all its threads), less sensitive to other load.
pyvswitchd is measured on this interpreter (CPython) and, when `make pypy` has built
.venv-pypy, on PyPy too.

Usage: bench/flowmod_bench.py [--flows 100000] [--reps 1] [--pypy PATH|'']   (root; makes
and removes its own network namespace and run directories)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))

from harness import Switch  # noqa: E402
from reference_ovs import ReferenceOvs, rss_kib  # noqa: E402

#: Where ``make pypy`` puts the PyPy interpreter with pyvswitch installed.
PYPY_DEFAULT = HERE.parent / ".venv-pypy" / "bin" / "python"


def gen_flows(n: int, path: Path) -> None:
    """The bench kit's mix: exact /32, /32 + tcp_dst, udp with a /8, masked tcp_dst."""
    with open(path, "w") as f:
        for i in range(n):
            a, b, c = (i >> 16) & 255, (i >> 8) & 255, i & 255
            k = i % 4
            if k == 0:
                f.write(f"priority=100,ip,nw_dst=10.{a}.{b}.{c},actions=output:2\n")
            elif k == 1:
                f.write(f"priority=90,tcp,nw_dst=11.{a}.{b}.{c}/32,tcp_dst={1 + i % 60000},"
                        "actions=output:2\n")
            elif k == 2:
                f.write(f"priority=80,udp,nw_src=12.{a}.{b}.{c},nw_dst=13.0.0.0/8,"
                        f"udp_dst={i % 65535 + 1},actions=drop\n")
            else:
                f.write(f"priority=70,tcp,nw_dst=14.{a}.{b}.0/24,nw_src=15.{c}.0.0/16,"
                        f"tcp_dst=0x{(i & 0xff) << 8:x}/0xff00,actions=mod_nw_tos:32,output:2\n")


def ofctl(env, *args, timeout=900) -> float:
    t = time.monotonic()
    subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, timeout=timeout)
    return time.monotonic() - t


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process (all its threads) has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(env, pid: int, *args) -> tuple[float, float]:
    """(wall seconds of the ovs-ofctl command, daemon CPU seconds meanwhile)."""
    c = cpu_s(pid)
    wall = ofctl(env, *args)
    return wall, cpu_s(pid) - c


def measure(name: str, env: dict, pid_of, flows: Path, n: int, reps: int) -> dict:
    """Wall times are what the targets compare; the daemon's CPU per flow (us) says how
    much of a wall time is the daemon's work on a machine that other load slows."""
    out = {}
    ofctl(env, "del-flows", "br0")
    time.sleep(1)
    pid = pid_of()
    base = rss_kib(pid)
    plain = []
    for rep in range(reps):
        ofctl(env, "del-flows", "br0")
        plain.append(timed(env, pid, "add-flows", "br0", str(flows)))
        if rep == 0:        # what holding n flows costs: the first fill of the empty table
            out["RSS per flow B"] = (rss_kib(pid) - base) * 1024 / n
    out["add-flows s"], cpu = min(plain)
    if reps > 1:            # and after the tables were emptied and filled reps times
        out["RSS per flow, last rep B"] = (rss_kib(pid) - base) * 1024 / n
    out["add-flows cpu us/flow"] = cpu * 1e6 / n
    wall, cpu = timed(env, pid, "dump-flows", "br0")
    out["dump-flows s"], out["dump-flows cpu us/flow"] = wall, cpu * 1e6 / n
    bundle = []
    for _ in range(reps):
        ofctl(env, "del-flows", "br0")
        bundle.append(timed(env, pid, "--bundle", "add-flows", "br0", str(flows)))
    out["--bundle add-flows s"], cpu = min(bundle)
    out["--bundle cpu us/flow"] = cpu * 1e6 / n
    print(f"  {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in out.items()), flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flows", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--pypy", default=str(PYPY_DEFAULT),
                    help="the PyPy interpreter to run pyvswitchd on as well ('' for none; "
                         "default: `make pypy`'s venv, when it exists)")
    a = ap.parse_args()
    runtimes = [("pyvswitchd", sys.executable)]
    if a.pypy and Path(a.pypy).exists():
        runtimes.append(("pyvswitchd-pypy", a.pypy))
    tmp = Path(tempfile.mkdtemp(prefix="pyvs-flowbench-"))
    ns = f"pvfb{os.getpid() % 10000}"
    flows = tmp / "flows.txt"
    gen_flows(a.flows, flows)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    ovs = ReferenceOvs(ns, tmp / "ovs")
    sw = None
    try:
        print(f"{a.flows} flows, best of {a.reps}", flush=True)
        results = {}
        for name, python in runtimes:
            sw = Switch("[[bridge]]\nname = \"br0\"\ndatapath_type = \"netdev\"\n"
                        "fail_mode = \"secure\"\n", name="flowbench", netns=ns,
                        python=python).start()
            results[name] = measure(name, sw.env, lambda: sw.proc.pid, flows, a.flows, a.reps)
            sw.cleanup()
            sw = None
            subprocess.run(["ip", "-n", ns, "link", "del", "br0"], capture_output=True)
        ovs.start(("fail_mode=secure",))
        ref = measure("ovs-vswitchd", ovs.env, lambda: ovs.pid, flows, a.flows, a.reps)
        print(f"\n{'measure':<26}" + "".join(f"{n:>17}{'ratio':>7}" for n in results)
              + f"{'ovs-vswitchd':>14}")
        for k in ref:
            line = f"{k:<26}"
            for ours in results.values():
                ratio = (ours[k] / max(ref[k], 1e-9) if k.startswith("RSS")
                         else ref[k] / max(ours[k], 1e-9))
                line += f"{ours[k]:>17.2f}{ratio:>7.2f}"
            print(line + f"{ref[k]:>14.2f}")
        print("ratio: for times, OVS / pyvswitchd (above 1 = pyvswitchd faster); "
              "for RSS, pyvswitchd / OVS")
    finally:
        if sw is not None:
            sw.cleanup()
        ovs.stop()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["rm", "-rf", str(tmp)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
