"""Open vSwitch's own ``ovs-testcontroller`` (Debian openvswitch-testcontroller) drives
pyvswitchd.

ovs-testcontroller is a MAC-learning switch written in C against Open vSwitch's OpenFlow
library: it floods unknown destinations by PACKET_OUT and installs an exact-match flow
once it knows where a destination lives.  Three hosts in namespaces, pyvswitchd (system
ports, fail_mode ``secure``) and the controller (``ptcp:PORT:127.0.0.1``) in the switch
namespace.  Hosts ping; the controller's flows are in the table and carry the traffic;
with the controller stopped, a conversation it never saw cannot start (secure: no
fail-open, nothing added by the switch).  The process is killed and its files removed at
the end, also on failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

from harness import free_tcp_port, netdev_bridge, wait_for
from osken_launcher import is_listening
from processes import TestProcess

pytestmark = pytest.mark.timeout(120)

FAIL_OPEN_PRIORITY = "priority=15790320"


class TestController(TestProcess):
    """One ovs-testcontroller process listening on 127.0.0.1:``port`` in ``netns``."""

    def __init__(self, port: int, netns: str, protocols: str | None = None) -> None:
        super().__init__("pyvs-testctl-", "ovs-testcontroller.log")
        self.port, self.netns, self.protocols = port, netns, protocols

    def start(self) -> "TestController":
        argv = ["ip", "netns", "exec", self.netns, "ovs-testcontroller",
                f"--log-file={self.log}", "-vfile:dbg", "-vconsole:off",
                f"--unixctl={self.dir / 'ctl'}", f"ptcp:{self.port}:127.0.0.1"]
        if self.protocols:
            argv[5:5] = ["-O", self.protocols]
        env = dict(os.environ, OVS_RUNDIR=str(self.dir), OVS_LOGDIR=str(self.dir))
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: self._alive() and is_listening(self.port, pid=self.proc.pid), 10,
                 what=f"ovs-testcontroller to listen on {self.port}")
        return self

    def _alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"ovs-testcontroller exited {self.proc.returncode}: "
                                 f"{self.proc.stderr.read().decode()}\n{self.log_text()}")
        return True


@pytest.fixture
def testcontroller():
    started: list[TestController] = []

    def start(port: int, netns: str, protocols: str | None = None) -> TestController:
        ctl = TestController(port, netns, protocols)
        started.append(ctl)
        return ctl.start()

    yield start
    for ctl in started:
        ctl.cleanup()


def packet_counts(dump: str) -> list[int]:
    return [int(n) for n in re.findall(r"n_packets=(\d+)", dump)]


# Not OpenFlow 1.5 (what both ends would pick unasked): Debian's ovs-testcontroller 3.1
# fills its OF1.5 PACKET_OUTs' metadata match with stray bytes, which Open vSwitch 3.1
# refuses just as pyvswitchd does (OFPBMC_BAD_MASK / BAD_FIELD), so nothing is forwarded.
@pytest.mark.parametrize("protocols", ["OpenFlow10", "OpenFlow13", "OpenFlow14"])
def test_testcontroller_learning_switch_on_secure_bridge(make_switch, hosts, testcontroller,
                                                         protocols):
    h = hosts(3)
    port = free_tcp_port()
    ctl = testcontroller(port, h.switch_ns, protocols)
    sw = make_switch(netdev_bridge(h, 3, fail_mode="secure", controllers=[{
        "target": f"tcp:127.0.0.1:{port}", "max_backoff": 1000}]), netns=h.switch_ns)

    try:
        wait_for(lambda: h.ping(1, 2, count=1, wait=0.5), 20, 0.2, "h1 to ping h2")
        assert h.ping(2, 1, count=3)
        assert h.ping(2, 3, count=3)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{ctl.log_text()[-3000:]}\n{sw.log_text()[-3000:]}") \
            from None

    dump = sw.ofctl("-O", "OpenFlow13", "dump-flows", "br0").stdout
    # The controller learned the hosts and installed flows towards them; they carry
    # the later pings (their counters moved).
    for mac in (h.mac(1), h.mac(2), h.mac(3)):
        assert f"dl_dst={mac}" in dump, dump
    time.sleep(0.8)                 # datapath statistics reach the rules every 500 ms
    dump = sw.ofctl("-O", "OpenFlow13", "dump-flows", "br0").stdout
    assert sum(packet_counts(dump)) >= 4, dump
    assert "|ERR|" not in ctl.log_text(), ctl.log_text()[-3000:]

    # The controller goes away: a conversation it never saw (h1 <-> h3) cannot start,
    # and the secure switch adds no flow of its own.
    ctl.stop()
    time.sleep(1.0)
    assert not h.ping(1, 3, count=2, wait=0.5)
    assert not h.ping(3, 1, count=1, wait=0.5)
    assert FAIL_OPEN_PRIORITY not in sw.appctl("bridge/dump-flows", "br0").stdout
    assert "fail-open" not in sw.log_text() and "failing open" not in sw.log_text()
