"""`make soak`: a long mixed load against one pyvswitchd, then checks that nothing leaked.

    tools/soak.py [--minutes 10] [--connections N] [--without LOAD,...]
                  [--other-config KEY=VALUE ...]

Four hosts in network namespaces around a switch namespace (tests/integration/topology.py);
pyvswitchd runs there from a TOML file (tests/integration/harness.py).  For ``--minutes``:

* a **primary controller** (in this process, on an active ``unix:`` target the switch
  connects to) stays connected, reads every packet-in and sends an echo every second;
* **controller churn**: ``--connections`` (default 100 per minute, 1,000 in 10 minutes)
  short sessions on the bridge's management socket: HELLO, FEATURES_REQUEST, ECHO, close.
  One in ten closes in the middle of a message and one in twenty sends garbage;
* **flow churn**: ovs-ofctl adds 100 flows, dumps the table and deletes them, every 3 s;
* **traffic**: h1 <-> h2 and h3 -> h4 ping all the time through established flows;
* **packet-in bursts**: every 30 s, h3 sends 2000 frames/s for 5 s that miss every flow
  and go to the controller.

``--without churn,flows,bursts,pings`` leaves loads out (to tell which one a change in
the figures follows); ``--other-config KEY=VALUE`` sets an Open_vSwitch other_config
knob in the switch's configuration (``emc-insert-inv-prob=1``, say).

After a warm-up (the first fifth, at least 30 s) it samples the daemon's RSS and open file
descriptors.  At the end the load stops and it asserts: RSS growth under 5 % after the
warm-up, no file-descriptor growth, no exception in the log (and coverage
``unexpected_exception`` 0), per-port packet counters consistent (packets received on a
port = packets counted by the flows matching that port, each of which forwards, drops or
sends to the controller; packets the controller got + packet-ins the switch counted as
dropped = packets of the to-controller flows), and every connection that should be up is
up (the primary controller never reconnected, no churn session is left).  It prints the
figures and exits non-zero if a check failed.  Needs root.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))

from harness import Switch, wait_for  # noqa: E402
from topology import Hosts  # noqa: E402

OF13 = 0x04
HELLO, ERROR, ECHO_REQUEST, ECHO_REPLY, FEATURES_REQUEST, FEATURES_REPLY = 0, 1, 2, 3, 5, 6
PACKET_IN = 10
LOADS = {"churn", "flows", "bursts", "pings"}

FLOOD = r"""
import socket, struct, sys, time
rate, seconds = float(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
dst, src = bytes.fromhex("020000000004"), bytes.fromhex("020000000003")
ip = bytes.fromhex("450000260000000040110000") + bytes([10, 0, 0, 3, 10, 0, 0, 99])
batch, n, end, next_t = max(1, int(rate / 100)), 0, time.monotonic() + seconds, time.monotonic()
while time.monotonic() < end:
    for _ in range(batch):
        n += 1
        udp = struct.pack("!HHHH", 1024 + n % 64, 9, 18, 0) + b"soak!....."
        try:
            s.send(dst + src + b"\x08\x00" + ip + udp)
        except OSError:
            pass
    next_t += batch / rate
    if next_t > time.monotonic():
        time.sleep(next_t - time.monotonic())
print(n)
"""


def header(mtype: int, xid: int, body: bytes = b"") -> bytes:
    return struct.pack("!BBHI", OF13, mtype, 8 + len(body), xid) + body


def read_messages(sock: socket.socket, buf: bytearray) -> list[bytes]:
    """Whatever complete messages ``sock`` has (raises EOFError when it closed)."""
    chunk = sock.recv(1 << 20)
    if not chunk:
        raise EOFError
    buf += chunk
    out = []
    while len(buf) >= 8:
        length = struct.unpack_from("!H", buf, 2)[0]
        if length < 8 or len(buf) < length:
            break
        out.append(bytes(buf[:length]))
        del buf[:length]
    return out


class Controller(threading.Thread):
    """The primary controller: listens on a unix socket the switch connects to."""

    def __init__(self, path: str) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(4)
        self.connections = 0
        self.packet_ins = 0
        self.echo_rtts: list[float] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.sock: socket.socket | None = None

    def run(self) -> None:
        pending: dict[int, float] = {}
        buf = bytearray()
        next_echo, xid = time.monotonic() + 1, 1
        while not self.stop.is_set():
            socks = [self.listener] + ([self.sock] if self.sock else [])
            ready, _, _ = select.select(socks, [], [], 0.2)
            if self.listener in ready:
                conn, _ = self.listener.accept()
                if self.sock is not None:
                    self.sock.close()
                self.sock, buf = conn, bytearray()
                self.connections += 1
                conn.sendall(header(HELLO, 1))
            if self.sock is not None and self.sock in ready:
                try:
                    msgs = read_messages(self.sock, buf)
                except (EOFError, OSError) as e:
                    self.errors.append(f"controller connection lost: {e!r}")
                    self.sock.close()
                    self.sock = None
                    continue
                for msg in msgs:
                    mtype, mxid = msg[1], struct.unpack_from("!I", msg, 4)[0]
                    if mtype == PACKET_IN:
                        self.packet_ins += 1
                    elif mtype == ECHO_REQUEST:
                        self.sock.sendall(header(ECHO_REPLY, mxid, msg[8:]))
                    elif mtype == ECHO_REPLY and mxid in pending:
                        self.echo_rtts.append(time.monotonic() - pending.pop(mxid))
                    elif mtype == ERROR:
                        self.errors.append(f"OFPT_ERROR {msg.hex()}")
            if self.sock is not None and time.monotonic() >= next_echo:
                xid += 1
                pending[xid] = time.monotonic()
                self.sock.sendall(header(ECHO_REQUEST, xid))
                next_echo = time.monotonic() + 1

    def close(self) -> None:
        self.stop.set()
        self.join(5)
        if self.sock is not None:
            self.sock.close()
        self.listener.close()


def churn_session(path: str, rng: random.Random) -> str:
    """One short controller session on the management socket; returns how it ended."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall(header(HELLO, 1))
        roll = rng.random()
        if roll < 0.10:
            s.sendall(header(FEATURES_REQUEST, 2)[:5])        # close mid-message
            return "cut"
        if roll < 0.15:
            s.sendall(bytes([OF13]) + rng.randbytes(rng.randint(8, 200)))
            return "garbage"
        s.sendall(header(FEATURES_REQUEST, 2) + header(ECHO_REQUEST, 3))
        buf, seen = bytearray(), set()
        while not {FEATURES_REPLY, ECHO_REPLY} <= seen:
            seen.update(m[1] for m in read_messages(s, buf))
        return "clean"


def rss_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def n_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def config(hosts: Hosts, ctl_path: str, other_config: dict[str, str]) -> str:
    lines = ["[[bridge]]", 'name = "br0"', 'datapath_type = "netdev"', 'fail_mode = "secure"',
             'protocols = ["OpenFlow10", "OpenFlow13"]', 'datapath_id = "00000000000000aa"',
             "flows = [" + ", ".join(f'"{f}"' for f in ESTABLISHED) + "]"]
    for i in range(1, 5):
        lines += ["[[bridge.port]]", f'name = "{hosts.port(i)}"', 'type = "system"',
                  f"ofport_request = {i}"]
    lines += ["[[bridge.controller]]", f'target = "unix:{ctl_path}"', "max_backoff = 1000"]
    if other_config:
        lines += ["[other_config]"] + [f'"{k}" = "{v}"' for k, v in other_config.items()]
    return "\n".join(lines) + "\n"


# Every flow names its in_port, so the packets of each port are the sum of its flows.
ESTABLISHED = [
    "priority=100,in_port=1,actions=output:2", "priority=100,in_port=2,actions=output:1",
    "priority=100,in_port=3,arp,actions=output:4",
    "priority=100,in_port=3,ip,nw_dst=10.0.0.4,actions=output:4",
    "priority=100,in_port=4,actions=output:3",
] + [f"priority=0,in_port={i},actions=CONTROLLER:128" for i in range(1, 5)]


def flow_counts(sw: Switch) -> dict[int, dict[str, int]]:
    """Per in_port: packets of its flows, split by what the flow does."""
    out: dict[int, dict[str, int]] = {}
    text = sw.ofctl("-O", "OpenFlow13", "--no-names", "dump-flows", "br0").stdout
    for line in text.splitlines():
        m_port = re.search(r"in_port=(\d+)", line)
        m_pkts = re.search(r"n_packets=(\d+)", line)
        if not m_port or not m_pkts:
            continue
        kind = ("controller" if "CONTROLLER" in line else
                "drop" if "actions=drop" in line else "forwarded")
        counts = out.setdefault(int(m_port.group(1)), {})
        counts[kind] = counts.get(kind, 0) + int(m_pkts.group(1))
    return out


def port_rx(sw: Switch) -> dict[int, dict[str, int]]:
    text = sw.ofctl("-O", "OpenFlow13", "--no-names", "dump-ports", "br0").stdout
    out = {}
    for m in re.finditer(r"port\s+(\d+): rx pkts=(\d+), bytes=\d+, drop=(\d+)", text):
        out[int(m.group(1))] = {"rx": int(m.group(2)), "rx_drop": int(m.group(3))}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=None,
                    help="churn sessions in all (default 100 per minute)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--without", default="", metavar="LOAD,...",
                    help="loads to leave out: churn, flows, bursts, pings")
    ap.add_argument("--other-config", action="append", default=[], metavar="KEY=VALUE",
                    help="an Open_vSwitch other_config knob for the switch")
    args = ap.parse_args()
    without = set(filter(None, args.without.split(",")))
    if without - LOADS:
        ap.error(f"--without: unknown load(s) {sorted(without - LOADS)}")
    other_config = dict(kv.split("=", 1) for kv in args.other_config)
    duration = args.minutes * 60
    n_churn = args.connections if args.connections is not None else int(100 * args.minutes)
    n_churn = 0 if "churn" in without else n_churn
    warmup = max(30.0, duration / 5)
    rng = random.Random(args.seed)
    if os.geteuid() != 0:
        print("soak: needs root (network namespaces)", file=sys.stderr)
        return 2

    hosts = Hosts(4).up()
    sw = ctl = None
    procs: list[subprocess.Popen] = []
    failures: list[str] = []
    try:
        sw = Switch("", name="soak", netns=hosts.switch_ns)
        ctl_path = str(sw.dir / "ctl.sock")
        ctl = Controller(ctl_path)
        ctl.start()
        sw.config.write_text(config(hosts, ctl_path, other_config))
        sw.start()
        wait_for(lambda: ctl.connections == 1, 15, what="the controller connection")
        pid = sw.proc.pid
        mgmt = str(sw.rundir / "br0.mgmt")
        flow_file = sw.dir / "churn.flows"
        flow_file.write_text("".join(
            f"cookie=0x77,priority=50,in_port=4,ip,nw_dst=172.31.{i // 200}.{i % 200 + 1},"
            "actions=drop\n" for i in range(100)))

        def ns(host: int, *cmd: str) -> subprocess.Popen:
            p = subprocess.Popen(["ip", "netns", "exec", hosts.hosts[host - 1], *cmd],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            procs.append(p)
            return p
        n_pings = int(duration / 0.2)
        pings = [] if "pings" in without else [
            ns(1, "ping", "-q", "-i", "0.2", "-c", str(n_pings), "-W", "1", hosts.ip(2)),
            ns(3, "ping", "-q", "-i", "0.2", "-c", str(n_pings), "-W", "1", hosts.ip(4))]

        start = time.monotonic()
        end = start + duration
        next_churn, next_flows, next_burst, next_sample = start, start + 1, start + 10, start
        churn_gap = duration / max(1, n_churn)
        churn_done: dict[str, int] = {}
        flow_rounds = bursts = 0
        burst_frames = 0
        samples: list[tuple[float, int, int]] = []
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_churn and sum(churn_done.values()) < n_churn:
                how = churn_session(mgmt, rng)
                churn_done[how] = churn_done.get(how, 0) + 1
                next_churn += churn_gap
            if now >= next_flows and "flows" not in without:
                sw.ofctl("-O", "OpenFlow13", "add-flows", "br0", str(flow_file))
                sw.ofctl("-O", "OpenFlow13", "dump-flows", "br0")
                sw.ofctl("-O", "OpenFlow13", "del-flows", "br0", "cookie=0x77/-1")
                flow_rounds += 1
                next_flows = now + 3
            if now >= next_burst and now + 6 < end and "bursts" not in without:
                ns(3, sys.executable, "-c", FLOOD, "2000", "5")
                bursts += 1
                next_burst = now + 30
            if now >= next_sample:
                samples.append((now - start, rss_kb(pid), n_fds(pid)))
                next_sample = now + 10
            if sw.proc.poll() is not None:
                failures.append(f"pyvswitchd exited with {sw.proc.returncode}")
                break
            for p in list(procs):
                if p not in pings and p.poll() is not None:
                    out = p.communicate()[0].strip()
                    burst_frames += int(out) if out.isdigit() else 0
                    procs.remove(p)
            time.sleep(0.02)
        # Finish the churn sessions the schedule still owes, then let everything settle.
        while sum(churn_done.values()) < n_churn and sw.proc.poll() is None:
            how = churn_session(mgmt, rng)
            churn_done[how] = churn_done.get(how, 0) + 1
        for p in list(procs):
            if p not in pings:
                out = p.communicate(timeout=30)[0].strip()
                burst_frames += int(out) if out.isdigit() else 0
                procs.remove(p)
        ping_out = [p.communicate(timeout=60)[0] for p in pings]
        time.sleep(3)                              # flow statistics are pushed every second
        samples.append((time.monotonic() - start, rss_kb(pid), n_fds(pid)))

        # --- checks -----------------------------------------------------------------------
        after_warmup = [s for s in samples if s[0] >= warmup] or samples[-1:]
        base_rss = after_warmup[0][1]
        final_rss = samples[-1][1]
        growth = (final_rss - base_rss) / base_rss
        base_fds, final_fds = after_warmup[0][2], samples[-1][2]
        if growth >= 0.05:
            failures.append(f"RSS grew {growth:.1%} after warm-up ({base_rss} -> {final_rss} kB)")
        if final_fds > base_fds:
            failures.append(f"file descriptors grew {base_fds} -> {final_fds}")
        log = sw.log_text()
        n_tracebacks = log.count("Traceback")
        coverage = sw.appctl("coverage/show").stdout
        m_unexp = re.search(r"unexpected_exception\s.*total: (\d+)", coverage)
        n_unexpected = int(m_unexp.group(1)) if m_unexp else 0
        if n_tracebacks or n_unexpected:
            failures.append(f"{n_tracebacks} tracebacks, {n_unexpected} unexpected exceptions "
                            "in the log")
        flows, ports = flow_counts(sw), port_rx(sw)
        port_lines = []
        for port in sorted(ports):
            if port > 4:
                continue
            counted = sum(flows.get(port, {}).values())
            rx = ports[port]["rx"]
            port_lines.append(f"  port {port}: received {rx} = forwarded "
                              f"{flows.get(port, {}).get('forwarded', 0)} + to controller "
                              f"{flows.get(port, {}).get('controller', 0)} + dropped "
                              f"{flows.get(port, {}).get('drop', 0)} "
                              f"(flows count {counted}, rx drop {ports[port]['rx_drop']})")
            if counted != rx:
                failures.append(f"port {port}: received {rx} but its flows counted {counted}")
        to_ctl = sum(f.get("controller", 0) for f in flows.values())
        pin_stats = sw.appctl("ofproto/packet-in-stats", "br0").stdout
        pin_dropped = sum(int(x) for x in re.findall(r"overflow (\d+)", pin_stats))
        pin_dropped += sum(int(x) for x in re.findall(r"(\d+) overflowed", pin_stats))
        pin_dropped += int(re.search(r"unsent: (\d+)", pin_stats).group(1))
        if ctl.packet_ins + pin_dropped != to_ctl:
            failures.append(f"to-controller flows counted {to_ctl} packets, the controller "
                            f"got {ctl.packet_ins} and the switch dropped {pin_dropped}")
        connections = sw.appctl("ofproto/show-connections", "br0").stdout
        sessions = connections.count("session ")
        if ctl.connections != 1 or "ACTIVE" not in connections:
            failures.append(f"the primary controller connected {ctl.connections} times; "
                            f"now:\n{connections}")
        if sessions != 1:
            failures.append(f"{sessions} sessions left (expected only the controller):\n"
                            f"{connections}")
        if ctl.errors:
            failures.append(f"controller saw: {ctl.errors[:5]}")
        losses = [re.search(r"(\d+)% packet loss", out) for out in ping_out]
        loss = [int(m.group(1)) if m else 100 for m in losses]
        if loss and max(loss) > 1:
            failures.append(f"ping loss {loss} %")

        rtts = sorted(ctl.echo_rtts)
        print(f"soak: {args.minutes:g} min, warm-up {warmup:.0f} s, seed {args.seed}")
        print(f"  churn sessions {sum(churn_done.values())} {churn_done}, flow rounds "
              f"{flow_rounds} (x100 add + dump + delete), packet-in bursts {bursts} "
              f"({burst_frames} frames)")
        print(f"  RSS {base_rss} kB after warm-up -> {final_rss} kB at the end "
              f"({growth:+.1%}); samples (s, kB, fds): "
              f"{[(int(t), r, f) for t, r, f in samples]}")
        print(f"  fds {base_fds} -> {final_fds}; tracebacks {n_tracebacks}, "
              f"unexpected_exception {n_unexpected}")
        print(f"  controller: connected {ctl.connections} time(s), {ctl.packet_ins} packet-ins,"
              f" {pin_dropped} dropped by the switch (to-controller flows {to_ctl}); echo "
              f"RTT median {rtts[len(rtts) // 2] * 1000 if rtts else 0:.1f} ms, max "
              f"{rtts[-1] * 1000 if rtts else 0:.1f} ms over {len(rtts)}")
        print("\n".join(port_lines))
        if loss:
            print(f"  ping loss h1->h2 {loss[0]} %, h3->h4 {loss[1]} %")
        hit = [line.split()[0] + "=" + line.split("total: ")[1]
               for line in coverage.splitlines()[1:] if "total: " in line]
        print("  coverage totals:", " ".join(hit))
        for f in failures:
            print(f"FAIL: {f}")
        print("soak: " + ("FAILED" if failures else "passed"))
        return 1 if failures else 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        if ctl is not None:
            ctl.close()
        if sw is not None:
            sw.cleanup()
        hosts.cleanup()


if __name__ == "__main__":
    sys.exit(main())
