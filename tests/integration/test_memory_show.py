"""``ovs-appctl memory/show``: pyvswitchd and Open vSwitch's own ovs-vswitchd (Debian's,
userspace datapath, dummy ports), both configured from OVSDB the same way, print the same
counts in the same layout - except ``handlers`` and ``revalidators`` (OVS's threads, which
pyvswitchd does not have), OVS's four internal table-254 rules (pyvswitchd translates
without them) and the size of the IDL cache (pyvswitchd replicates fewer columns).
Needs root (each daemon runs in a network namespace of its own, prefixed ``pvmem``);
daemons, ovsdb-servers and namespaces are removed also when the test fails.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from harness import wait_for
from ovsdb_harness import OvsdbServer, side_by_side

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)")

FRAME = "020000000002" "020000000001" "0800" + "45000014000000004011" + "00" * 40
LINE = re.compile(r"[A-Za-z][A-Za-z_ -]*:\d+( [A-Za-z][A-Za-z_ -]*:\d+)*")


def _usage(target) -> dict[str, int]:
    text = target.appctl("memory/show").stdout
    assert text.endswith("\n") and LINE.fullmatch(text[:-1]), repr(text)
    pairs = [item.rsplit(":", 1) for item in re.findall(r"(?:^| )([^:]+:\d+)", text[:-1])]
    assert [k for k, _ in pairs] == sorted(k for k, _ in pairs), text
    return {k: int(v) for k, v in pairs}


def _script(target, server: OvsdbServer) -> list[dict[str, int]]:
    server.vsctl("add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=netdev")
    for i in (1, 2):
        server.vsctl("add-port", "br0", f"p{i}", "--", "set", "Interface", f"p{i}",
                     "type=dummy", f"ofport_request={i}")
    wait_for(lambda: _usage(target).get("ports") == 3, 10, what="the ports to appear")
    target.ofctl("add-flow", "br0", "priority=5,in_port=1,actions=output:2")
    seen = [_usage(target)]
    target.appctl("netdev-dummy/receive", "p1", FRAME)
    wait_for(lambda: _usage(target).get("udpif keys"), 10, what="the flow to be cached")
    seen.append(_usage(target))
    monitor = subprocess.Popen(["ovs-ofctl", "monitor", "br0"], env=target.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _usage(target).get("ofconns"), 10, what="the monitor session")
        seen.append(_usage(target))
    finally:
        monitor.kill()
        monitor.wait()
    return seen


OVS_INTERNAL_RULES = 4      # ofproto-dpif.c add_internal_flows, table 254


def _comparable(usage: dict[str, int], internal_rules: int = 0) -> dict[str, int]:
    out = {k: v for k, v in usage.items() if k not in ("handlers", "revalidators")}
    assert out.pop("idl-cells-Open_vSwitch") > 0
    out["rules"] -= internal_rules
    return out


def test_memory_show_same_as_open_vswitch():
    expected, got = side_by_side(_script, f"pvmem{os.getpid() % 10000}", "pvmem")
    assert "handlers" in expected[0] and "revalidators" in expected[0]
    assert "handlers" not in got[0] and "revalidators" not in got[0]
    assert [_comparable(u) for u in got] == \
        [_comparable(u, OVS_INTERNAL_RULES) for u in expected], (expected, got)
