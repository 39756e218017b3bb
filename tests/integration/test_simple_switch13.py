"""``simple_switch_13``, the MAC-learning app every Ryu/os-ken user starts with, drives
pyvswitchd.

Neither os-ken 4.x (our .venv) nor the os-ken 3.1 Faucet pins (.venv-faucet: its
``os_ken/app`` holds only ``ofctl``) ships ``simple_switch_13`` any more, so the real app is
run from Ryu 4.34, its last release, in ``.venv-ryu`` (tools/ryu_venv.sh, cached;
``ryu_launcher.py`` starts ``ryu-manager``).  Our os-ken 4 port of it
(``osken_apps/learning_switch13.py``) runs the same test.

Three hosts in namespaces, pyvswitchd (secure, system ports) and the controller in the
switch namespace.  Hosts ping; the app's ``in_port,eth_src,eth_dst -> output`` flows are
installed; a second round of pings takes those flows: the app logs no new packet-in and
the flows' packet counters carry the pings.  Controllers are killed at the end, also on
failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from harness import free_tcp_port, netdev_bridge, wait_for
from osken_launcher import OsKen, is_listening
from processes import TestProcess

pytestmark = pytest.mark.timeout(600)   # the first run also makes .venv-ryu

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PAIRS = ((1, 2), (2, 1), (2, 3), (3, 2), (3, 1), (1, 3))


def ryu_venv(timeout: float = 600) -> Path:
    r = subprocess.run(["bash", str(REPO / "tools" / "ryu_venv.sh")], capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"tools/ryu_venv.sh failed ({r.returncode}):\n{r.stderr[-4000:]}")
    return Path(r.stdout.strip().splitlines()[-1])


class RyuApp(TestProcess):
    """``ryu-manager ryu.app.simple_switch_13`` from .venv-ryu, in a namespace."""

    def __init__(self, venv: Path, port: int, netns: str) -> None:
        super().__init__("pyvs-ryu-", "ryu.log")
        self.venv, self.port, self.netns = venv, port, netns

    def start(self) -> "RyuApp":
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        argv = ["ip", "netns", "exec", self.netns, str(self.venv / "bin" / "python"),
                str(HERE / "ryu_launcher.py"), "--ofp-listen-host", "127.0.0.1",
                "--ofp-tcp-listen-port", str(self.port), "--log-file", str(self.log),
                "ryu.app.simple_switch_13"]
        with open(self.dir / "stderr.log", "wb") as err:
            self.proc = subprocess.Popen(argv, env=env, cwd=str(self.dir),
                                         stdin=subprocess.DEVNULL, stdout=err,
                                         stderr=subprocess.STDOUT)
        wait_for(lambda: self._alive() and is_listening(self.port, pid=self.proc.pid), 30,
                 0.1, f"ryu-manager to listen on {self.port}")
        return self

    def _alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"ryu-manager exited {self.proc.returncode}:\n"
                                 f"{(self.dir / 'stderr.log').read_text()[-3000:]}")
        return True

    def packet_ins(self) -> int:
        """simple_switch_13 logs ``packet in DPID SRC DST IN_PORT`` for each one."""
        return len(re.findall(r"^packet in ", self.log_text(), re.M))


class OsKenApp:
    """Our os-ken 4 port (osken_apps/learning_switch13.py), with RyuApp's interface."""

    def __init__(self, port: int, netns: str) -> None:
        self.ctl = OsKen(port, ["osken_apps.learning_switch13"], ofp="1.3", netns=netns)

    def start(self) -> "OsKenApp":
        self.ctl.start()
        return self

    def log_text(self) -> str:
        return self.ctl.log_text()

    def packet_ins(self) -> int:
        return len(self.ctl.events("packet_in"))

    def cleanup(self) -> None:
        self.ctl.cleanup()


@pytest.fixture
def controllers():
    started: list = []
    yield started
    for ctl in started:
        ctl.cleanup()


def learned_flows(sw) -> dict[tuple[str, str], int]:
    """(eth_src, eth_dst) -> n_packets of the app's priority-1 flows."""
    out = sw.ofctl("-O", "OpenFlow13", "dump-flows", "br0").stdout
    flows = {}
    for line in out.splitlines():
        src = re.search(r"dl_src=([0-9a-f:]+)", line)
        dst = re.search(r"dl_dst=([0-9a-f:]+)", line)
        n = re.search(r"n_packets=(\d+)", line)
        if "priority=1," in line and src and dst and n:
            flows[(src.group(1), dst.group(1))] = int(n.group(1))
    return flows


@pytest.mark.parametrize("app", ["ryu simple_switch_13", "os-ken learning_switch13"])
def test_second_ping_takes_the_installed_flows(make_switch, hosts, controllers, app):
    h = hosts(3)
    port = free_tcp_port()
    if app.startswith("ryu"):
        ctl = RyuApp(ryu_venv(), port, h.switch_ns)
    else:
        ctl = OsKenApp(port, h.switch_ns)
    controllers.append(ctl)
    ctl.start()
    sw = make_switch(netdev_bridge(h, 3, fail_mode="secure", controllers=[{
        "target": f"tcp:127.0.0.1:{port}", "max_backoff": 1000}]), netns=h.switch_ns)
    wait_for(lambda: "actions=CONTROLLER" in sw.ofctl("-O", "OpenFlow13", "dump-flows",
                                                      "br0").stdout,
             20, 0.2, "the app's table-miss flow")

    # First round: ARP and the first echoes go through the app, which installs flows.
    try:
        for a, b in ((1, 2), (2, 3), (3, 1)):
            wait_for(lambda: h.ping(a, b, count=2, wait=1.0), 15, 0.2, f"h{a} to ping h{b}")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{ctl.log_text()[-3000:]}\n{sw.log_text()[-3000:]}") \
            from None
    assert ctl.packet_ins() > 0
    flows = learned_flows(sw)
    for a, b in PAIRS:
        assert (h.mac(a), h.mac(b)) in flows, flows

    # Second round: every packet takes the installed flows; the app hears of none.
    time.sleep(0.8)                  # datapath statistics reach the rules every 500 ms
    pins_before = ctl.packet_ins()
    before = learned_flows(sw)
    for a, b in ((1, 2), (2, 3), (3, 1)):
        assert h.ping(a, b, count=3)
    time.sleep(1.2)
    after = learned_flows(sw)
    assert ctl.packet_ins() == pins_before, ctl.log_text()[-2000:]
    for a, b in PAIRS:
        key = (h.mac(a), h.mac(b))
        assert after[key] - before[key] >= 3, (key, before, after)
