"""Open vSwitch's ovs-ofctl using pyvswitchd's bundles and flow monitors: ``--bundle
add-flows`` in OpenFlow 1.3 (ONF bundle extension), 1.4 and 1.5 (all or nothing, the
error naming the bad flow), a bundle of 10,000 flows, and ``ovs-ofctl monitor br0 watch:``
in OpenFlow 1.0 (Nicira), 1.3 (ONF 1870) and 1.4 seeing another ovs-ofctl's changes."""

from __future__ import annotations

import re
import subprocess
import threading

import pytest

from harness import bridge_toml, wait_for

BUNDLE_VERSIONS = ["OpenFlow13", "OpenFlow14", "OpenFlow15"]
GOOD = ["priority=10,ip,nw_dst=10.0.0.1 actions=output:1",
        "priority=11,tcp,nw_src=10.1.0.0/16,tp_dst=80 actions=output:2",
        "table=1, priority=12,dl_src=00:11:22:33:44:55 actions=output:1"]
BAD = "priority=21,ip,nw_dst=10.0.0.4 actions=group:99"      # no such group


def flow_count(sw, version="OpenFlow13") -> int:
    out = sw.ofctl("-O", version, "dump-aggregate", "br0").stdout
    return int(re.search(r"flow_count=(\d+)", out).group(1))


def dump(sw, version) -> set[str]:
    out = sw.ofctl("-O", version, "--no-stats", "dump-flows", "br0").stdout
    return {re.sub(r"\s+", " ", line.strip()) for line in out.splitlines()
            if line.strip() and not line.startswith(("OFPST_FLOW", "NXST_FLOW"))}


@pytest.mark.parametrize("version", BUNDLE_VERSIONS)
def test_bundle_add_flows_all_or_nothing(make_switch, tmp_path, version):
    sw = make_switch(bridge_toml(ports=2))
    good = tmp_path / "good.txt"
    good.write_text("\n".join(GOOD) + "\n")
    sw.ofctl("-O", version, "--bundle", "add-flows", "br0", str(good))
    assert dump(sw, version) == set(GOOD)

    before = dump(sw, version)
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("priority=20,ip,nw_dst=10.0.0.3 actions=output:1\n" + BAD + "\n"
                     "priority=5,arp actions=drop\n")
    r = sw.ofctl("-O", version, "--bundle", "add-flows", "br0", str(mixed), check=False)
    assert r.returncode != 0
    # The error names the failing flow, then the failed commit.
    assert re.search(r"Error OFPBAC_BAD_OUT_GROUP for: OFPT_FLOW_MOD .*"
                     r"priority=21,ip,nw_dst=10\.0\.0\.4 actions=group:99", r.stderr), r.stderr
    assert "OFPBFC_MSG_FAILED" in r.stderr
    assert dump(sw, version) == before                # nothing of the bundle applied


@pytest.mark.parametrize("version", BUNDLE_VERSIONS)
def test_bundle_mixes_adds_modifies_and_deletes(make_switch, tmp_path, version):
    sw = make_switch(bridge_toml(ports=2))
    sw.ofctl("-O", version, "add-flow", "br0", "priority=1,udp actions=output:1")
    ops = tmp_path / "ops.txt"
    ops.write_text("add priority=2,tcp actions=output:2\n"
                   "modify udp actions=output:2\n"
                   "delete tcp\n"
                   "add priority=3,icmp actions=drop\n")
    sw.ofctl("-O", version, "--bundle", "add-flows", "br0", str(ops))
    assert dump(sw, version) == {"priority=1,udp actions=output:2",
                                 "priority=3,icmp actions=drop"}


def test_bundle_group_commands(make_switch):
    sw = make_switch(bridge_toml(ports=2))
    sw.ofctl("-O", "OpenFlow14", "--bundle", "add-group", "br0",
             "group_id=1,type=all,bucket=output:1")
    assert "group_id=1,type=all" in sw.ofctl("-O", "OpenFlow14", "dump-groups", "br0").stdout
    sw.ofctl("-O", "OpenFlow13", "--bundle", "add-flow", "br0", "priority=3,ip actions=group:1")
    assert flow_count(sw) == 1
    sw.ofctl("-O", "OpenFlow14", "--bundle", "del-groups", "br0", "group_id=1")
    assert flow_count(sw) == 0                        # the group's flow went with it


def test_bundle_of_10000_flows(make_switch, tmp_path):
    sw = make_switch(bridge_toml(ports=2))
    path = tmp_path / "flows.txt"
    path.write_text("".join(
        f"priority={i % 100 + 1},ip,nw_dst=10.{i >> 8 & 255}.{i & 255}.{i % 7}"
        f"{'/32' if i % 2 else ''} actions=output:{i % 2 + 1}\n" for i in range(10_000)))
    sw.ofctl("-O", "OpenFlow14", "--bundle", "add-flows", "br0", str(path), timeout=120)
    assert flow_count(sw) == 10_000


class Monitor:
    """``ovs-ofctl monitor br0 watch:`` with its output collected line by line."""

    def __init__(self, sw, version: str) -> None:
        self.proc = subprocess.Popen(["ovs-ofctl", "-O", version, "monitor", "br0", "watch:"],
                                     env=sw.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, what: str) -> None:
        wait_for(lambda: re.search(pattern, self.text()), 15, what=f"{what}:\n{self.text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)


@pytest.mark.parametrize("version,reply", [("OpenFlow10", "NXST_FLOW_MONITOR reply"),
                                           ("OpenFlow13", "ONFST_FLOW_MONITOR reply"),
                                           ("OpenFlow14", "OFPST_FLOW_MONITOR reply")])
def test_monitor_watch_sees_another_ofctl(make_switch, version, reply):
    sw = make_switch(bridge_toml(ports=2))
    sw.ofctl("add-flow", "br0", "priority=7,udp,tp_dst=53 actions=output:1")
    mon = Monitor(sw, version)
    try:
        # The answer to the request lists the existing flow.
        initial = "INITIAL" if version == "OpenFlow14" else "ADDED"
        mon.wait_for(rf"{reply}.*\(xid=0x[1-9a-f][0-9a-f]*\):\n event={initial} .*udp,tp_dst=53",
                     "the initial reply")
        sw.ofctl("-O", "OpenFlow13", "add-flow", "br0", "priority=5,tcp actions=output:1")
        mon.wait_for(r"event=ADDED table=0 cookie=0 tcp actions=output:1", "ADDED")
        sw.ofctl("-O", "OpenFlow13", "mod-flows", "br0", "tcp actions=output:2")
        mon.wait_for(r"event=MODIFIED table=0 cookie=0 tcp actions=output:2", "MODIFIED")
        sw.ofctl("-O", "OpenFlow13", "del-flows", "br0", "tcp")
        mon.wait_for(r"event=DELETED reason=delete table=0 cookie=0 tcp actions=output:2",
                     "DELETED")
    finally:
        mon.stop()
    assert "OFPT_ERROR" not in mon.text()


def test_monitor_sees_a_bundle_and_expiry(make_switch, tmp_path):
    sw = make_switch(bridge_toml(ports=2))
    mon = Monitor(sw, "OpenFlow14")
    try:
        mon.wait_for(r"OFPST_FLOW_MONITOR reply.*\(xid=0x[1-9a-f][0-9a-f]*\)", "the reply")
        path = tmp_path / "flows.txt"
        path.write_text("priority=1,arp actions=output:1\n"
                        "priority=2,icmp,hard_timeout=1 actions=output:2\n")
        sw.ofctl("-O", "OpenFlow15", "--bundle", "add-flows", "br0", str(path))
        mon.wait_for(r"event=ADDED .*arp actions=output:1", "the bundle's first flow")
        mon.wait_for(r"event=ADDED .*hard_timeout=1 .*icmp actions=output:2", "the second")
        mon.wait_for(r"event=DELETED reason=hard .*icmp", "the expiry")
    finally:
        mon.stop()
