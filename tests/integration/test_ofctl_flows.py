"""Open vSwitch's ovs-ofctl managing pyvswitchd's flow tables: add-flow(s), mod-flows,
del-flows, dump-flows, dump-aggregate, dump-tables in OpenFlow 1.0, 1.3, 1.4 and 1.5, and
the OFPT_ERROR a controller gets for flow_mods Open vSwitch refuses."""

from __future__ import annotations

import re
import socket
import time

import pytest

from harness import bridge_toml, wait_for
from pyvswitch.openflow import codec, framing
from pyvswitch.openflow import messages as m
from pyvswitch.openflow.ofpacts import Instructions, Output, SetField
from pyvswitch.packet import fields as F
from pyvswitch.packet.fields import Match

VERSIONS = ["OpenFlow10", "OpenFlow13", "OpenFlow14", "OpenFlow15"]

# Flows written the way ovs-ofctl prints them, so a dump reads back the same text.
FLOWS = [
    "priority=100,ip,nw_src=10.0.0.0/8 actions=output:2",
    "priority=200,tcp,in_port=1,nw_dst=192.168.1.0/24,tp_dst=80 actions=drop",
    "table=1, priority=50,dl_src=00:11:22:33:44:55 actions=output:1",
    "cookie=0x7, priority=300,udp,tp_src=53 actions=output:1,output:2",
    "priority=10,arp,arp_tpa=10.1.1.1 actions=NORMAL",
]


def dump(sw, version, *extra) -> set[str]:
    """dump-flows without counters or durations, one normalized string per flow."""
    out = sw.ofctl("-O", version, "--no-stats", "dump-flows", "br0", *extra).stdout
    flows = set()
    for line in out.splitlines():
        line = line.strip()
        if not line or line.startswith(("NXST_FLOW", "OFPST_FLOW")):
            continue
        flows.add(re.sub(r"\s+", " ", line))
    return flows


def add_all(sw, version, flows):
    for f in flows:
        sw.ofctl("-O", version, "add-flow", "br0", f)


@pytest.mark.parametrize("version", VERSIONS)
def test_add_dump_mod_del_round_trip(make_switch, version):
    sw = make_switch(bridge_toml(ports=2))
    add_all(sw, version, FLOWS)
    assert dump(sw, version) == set(FLOWS)

    # Counters and durations: a fresh flow has none, and its duration grows.
    stats = sw.ofctl("-O", version, "dump-flows", "br0", "udp,tp_src=53").stdout
    assert "n_packets=0, n_bytes=0" in stats
    d0 = float(re.search(r"duration=([\d.]+)s", stats).group(1))
    time.sleep(0.3)
    stats = sw.ofctl("-O", version, "dump-flows", "br0", "udp,tp_src=53").stdout
    assert float(re.search(r"duration=([\d.]+)s", stats).group(1)) >= d0 + 0.2

    # del-flows with out_port removes only the flows that output there.
    sw.ofctl("-O", version, "del-flows", "br0", "out_port=2")
    assert dump(sw, version) == {FLOWS[1], FLOWS[2], FLOWS[4]}

    # mod-flows (loose) changes the actions of every flow it selects, and only those.
    sw.ofctl("-O", version, "mod-flows", "br0", "ip,actions=output:1")
    assert dump(sw, version) == {
        "priority=200,tcp,in_port=1,nw_dst=192.168.1.0/24,tp_dst=80 actions=output:1",
        FLOWS[2], FLOWS[4]}

    # del-flows --strict needs the exact match and priority.
    tcp = "tcp,in_port=1,nw_dst=192.168.1.0/24,tp_dst=80"
    sw.ofctl("-O", version, "del-flows", "br0", "--strict", tcp)
    assert len(dump(sw, version)) == 3          # priority 32768 != 200: nothing
    sw.ofctl("-O", version, "del-flows", "br0", "--strict", "priority=200," + tcp)
    assert dump(sw, version) == {FLOWS[2], FLOWS[4]}

    agg = sw.ofctl("-O", version, "dump-aggregate", "br0").stdout
    assert "flow_count=2" in agg and "packet_count=0" in agg

    sw.ofctl("-O", version, "del-flows", "br0")
    assert dump(sw, version) == set()


def test_of10_mod_flows_sets_the_cookie_and_of13_keeps_it(make_switch):
    sw = make_switch(bridge_toml(ports=2))
    add_all(sw, "OpenFlow13", ["cookie=0x7,in_port=1,actions=drop",
                               "cookie=0x8,in_port=2,actions=drop"])
    sw.ofctl("-O", "OpenFlow13", "mod-flows", "br0", "in_port=1,actions=output:2")
    sw.ofctl("-O", "OpenFlow10", "mod-flows", "br0", "in_port=2,actions=output:1")
    assert dump(sw, "OpenFlow13") == {"cookie=0x7, in_port=1 actions=output:2",
                                      "in_port=2 actions=output:1"}


@pytest.mark.parametrize("version", ["OpenFlow10", "OpenFlow13", "OpenFlow15"])
def test_cookie_filters(make_switch, version):
    sw = make_switch(bridge_toml(ports=2))
    add_all(sw, version, ["cookie=0x11,in_port=1,actions=drop",
                          "cookie=0x12,in_port=2,actions=drop",
                          "cookie=0x21,in_port=3,actions=drop"])
    assert len(dump(sw, version, "cookie=0x10/0xf0")) == 2
    sw.ofctl("-O", version, "mod-flows", "br0", "cookie=0x12/-1,actions=output:1")
    assert "cookie=0x12, in_port=2 actions=output:1" in dump(sw, version)
    sw.ofctl("-O", version, "del-flows", "br0", "cookie=0x10/0xf0")
    assert dump(sw, version) == {"cookie=0x21, in_port=3 actions=drop"}


def test_counters_follow_traffic(make_switch):
    sw = make_switch(bridge_toml(ports=2))
    sw.ofctl("-O", "OpenFlow13", "add-flow", "br0", "in_port=1,actions=output:2")
    frame = ("ffffffffffff" "001122334455" "0800" "4500001c0001000040110000c0a80001c0a80002"
             "003500350008" "0000").ljust(120, "0")
    for _ in range(3):
        sw.appctl("netdev-dummy/receive", "p1", frame)

    def counted():
        out = sw.ofctl("-O", "OpenFlow13", "dump-flows", "br0").stdout
        return "n_packets=3" in out and out
    out = wait_for(counted, 10, what="3 packets counted")
    assert "n_bytes=180" in out
    agg = sw.ofctl("-O", "OpenFlow13", "dump-aggregate", "br0").stdout
    assert "packet_count=3 byte_count=180 flow_count=1" in agg


def test_dump_tables_counts_active_flows(make_switch):
    sw = make_switch(bridge_toml(ports=2))
    add_all(sw, "OpenFlow13", FLOWS)
    out = sw.ofctl("-O", "OpenFlow13", "dump-tables", "br0").stdout
    assert re.search(r"table 0:\s+active=4,", out)
    assert re.search(r"table 1:\s+active=1,", out)
    assert "tables 3...253: ditto" in out
    out10 = sw.ofctl("-O", "OpenFlow10", "dump-tables", "br0").stdout
    assert re.search(r"table 0:.*\n.*active=4", out10)


def test_add_flows_from_a_file_of_10000(make_switch, tmp_path):
    sw = make_switch(bridge_toml(ports=2))
    flows = []
    for i in range(10000):
        a, b = i >> 8, i & 255
        if i % 2:
            flows.append(f"priority={100 + i % 10},ip,nw_src=10.0.{a}.{b} actions=output:1")
        else:
            flows.append(f"table=2, priority=7,tcp,nw_dst=10.{a}.{b}.0/24,tp_dst=22 "
                         f"actions=drop")
    path = tmp_path / "flows.txt"
    path.write_text("\n".join(flows) + "\n")
    sw.ofctl("-O", "OpenFlow13", "add-flows", "br0", str(path), timeout=120)
    assert dump(sw, "OpenFlow13") == set(flows)
    agg = sw.ofctl("-O", "OpenFlow10", "dump-aggregate", "br0").stdout
    assert "flow_count=10000" in agg
    sw.ofctl("-O", "OpenFlow13", "del-flows", "br0", "table=2")
    assert "flow_count=5000" in sw.ofctl("-O", "OpenFlow13", "dump-aggregate", "br0").stdout


# --- refused flow_mods, from a raw controller session ------------------------------------

class RawSession:
    """A minimal OpenFlow session over the bridge's management socket."""

    def __init__(self, path, version=0x04):
        self.version = version
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(10)
        self.sock.connect(str(path))
        self.sock.sendall(codec.encode_hello([version], 1))
        self.buf = bytearray()
        self.queue: list[bytes] = []
        self.recv()                                  # the switch's HELLO
        self.xid = 100

    def recv(self) -> bytes:
        while not self.queue:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self.buf += data
            self.queue += framing.split_messages(self.buf)
        return self.queue.pop(0)

    def request(self, msg):
        self.xid += 1
        self.sock.sendall(codec.encode(msg, self.version, self.xid))
        self.sock.sendall(codec.encode(m.BarrierRequest(), self.version, self.xid + 1000))
        replies = []
        while True:
            decoded = codec.decode(self.recv())
            if isinstance(decoded, m.BarrierReply):
                return replies
            replies.append(decoded)

    def close(self):
        self.sock.close()


def test_refused_flow_mods_get_the_ovs_error_and_change_nothing(make_switch):
    sw = make_switch(bridge_toml(ports=2))
    sw.ofctl("-O", "OpenFlow13", "add-flow", "br0", "in_port=1,actions=output:2")
    before = dump(sw, "OpenFlow13")
    s = RawSession(sw.rundir / "br0.mgmt")
    try:
        cases = [
            # set_field tcp_dst without tcp in the match: bad prerequisite.
            (m.FlowMod(Match(), Instructions(apply=(SetField(F.field("tcp_dst"), 80),)),
                       table_id=0), "OFPBAC_MATCH_INCONSISTENT"),
            # Open vSwitch's internal table 254 is read-only.
            (m.FlowMod(Match(), Instructions(apply=(Output(1),)), table_id=254),
             "OFPBRC_EPERM"),
            # OF1.3 ADD to "all tables".
            (m.FlowMod(Match(), Instructions(apply=(Output(1),)), table_id=0xFF),
             "OFPFMFC_BAD_TABLE_ID"),
            # goto_table backwards.
            (m.FlowMod(Match(), Instructions(goto_table=1), table_id=3),
             "OFPBIC_BAD_TABLE_ID"),
            # unknown flag bit.
            (m.FlowMod(Match(), Instructions(), table_id=0, flags=0x100),
             "OFPFMFC_BAD_FLAGS"),
            # a buffer id, but the switch buffers nothing.
            (m.FlowMod(Match(), Instructions(), table_id=0, buffer_id=5),
             "OFPBRC_BUFFER_UNKNOWN"),
        ]
        for msg, name in cases:
            (err,) = s.request(msg)
            assert isinstance(err, m.ErrorMsg) and err.name == name, (msg, err)
        # A slave may not change the tables.
        (reply,) = s.request(m.RoleRequest(m.ROLE_SLAVE, 1))
        assert isinstance(reply, m.RoleReply)
        (err,) = s.request(m.FlowMod(Match(), Instructions(), table_id=0))
        assert err.name == "OFPBRC_IS_SLAVE"
    finally:
        s.close()
    assert dump(sw, "OpenFlow13") == before
    # The errors reach ovs-ofctl the same way.
    r = sw.ofctl("-O", "OpenFlow13", "add-flow", "br0", "table=254,actions=drop", check=False)
    assert r.returncode != 0 and "OFPBRC_EPERM" in r.stderr


@pytest.mark.parametrize("version", ["OpenFlow10", "OpenFlow13"])
def test_timeouts_expire_flows_and_send_flow_removed(make_switch, version):
    import subprocess
    sw = make_switch(bridge_toml(ports=2))
    monitor = subprocess.Popen(["ovs-ofctl", "-O", version, "monitor", "br0", "65534"],
                               env=sw.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        time.sleep(0.5)                       # let the monitor set its miss_send_len
        sw.ofctl("-O", version, "add-flow", "br0",
                 "hard_timeout=1,send_flow_rem,in_port=1,actions=output:2")
        sw.ofctl("-O", version, "add-flow", "br0", "idle_timeout=1,in_port=2,actions=drop")
        sw.ofctl("-O", version, "add-flow", "br0", "in_port=3,actions=drop")
        wait_for(lambda: dump(sw, version) == {"in_port=3 actions=drop"}, 10,
                 what="both timed-out flows to go")
        time.sleep(0.3)
    finally:
        monitor.terminate()
        out, err = monitor.communicate(timeout=10)
    # ovs-ofctl monitor prints what it receives on stderr.
    removed = [line for line in (out + err).splitlines() if "FLOW_REMOVED" in line]
    assert len(removed) == 1, out             # only the flow with send_flow_rem reports
    assert "reason=hard" in removed[0] and "in_port=1" in removed[0]


def test_flows_must_name_existing_groups_and_meters(make_switch):
    sw = make_switch(bridge_toml(ports=2))
    r = sw.ofctl("-O", "OpenFlow13", "add-flow", "br0", "in_port=1,actions=group:5",
                 check=False)
    assert r.returncode != 0 and "OFPBAC_BAD_OUT_GROUP" in r.stderr
    r = sw.ofctl("-O", "OpenFlow13", "add-flow", "br0", "in_port=1,actions=meter:3,output:2",
                 check=False)
    assert r.returncode != 0 and "OFPMMFC_INVALID_METER" in r.stderr
    assert dump(sw, "OpenFlow13") == set()
    sw.ofctl("-O", "OpenFlow13", "add-group", "br0", "group_id=5,type=all,bucket=output:2")
    sw.ofctl("-O", "OpenFlow13", "add-flow", "br0", "in_port=1,actions=group:5")
    assert dump(sw, "OpenFlow13") == {"in_port=1 actions=group:5"}
