"""Faucet, a real production OpenFlow controller no one here wrote, drives pyvswitchd.

Four hosts in namespaces, two VLANs by Faucet's ``native_vlan`` (h1, h2 on 100; h3, h4 on
200), pyvswitchd (system ports, fail_mode secure, OpenFlow 1.3) in the switch namespace
with its controller pointing at Faucet, which runs there too from ``.venv-faucet``.  We
assert what a network operator sees: hosts on the same VLAN ping, hosts on different VLANs
cannot, Faucet's multi-table pipeline is in the switch's tables (with the hosts' MACs
learned into its eth_src/eth_dst tables), and Faucet logged no OpenFlow error and no
exception.  "Open vSwitch TFM" makes Faucet program the pipeline by a table-features
request first (254 tables described), which pyvswitchd must accept as Open vSwitch does.
"""

from __future__ import annotations

import re

import pytest

from faucet_harness import Faucet, faucet_venv
from harness import free_tcp_port, wait_for

pytestmark = pytest.mark.timeout(600)   # the first run also makes .venv-faucet

FAUCET_YAML = """\
vlans:
  office:
    vid: 100
  guest:
    vid: 200
dps:
  sw1:
    dp_id: 0x1
    hardware: "{hardware}"
    interfaces:
      1:
        name: "h1"
        native_vlan: office
      2:
        name: "h2"
        native_vlan: office
      3:
        name: "h3"
        native_vlan: guest
      4:
        name: "h4"
        native_vlan: guest
"""


@pytest.fixture(scope="module")
def venv():
    return faucet_venv()


@pytest.fixture
def make_faucet(venv):
    started: list[Faucet] = []

    def start(config: str, port: int, netns: str) -> Faucet:
        f = Faucet(venv, config, port, netns=netns)
        started.append(f)
        return f.start()

    yield start
    for f in started:
        f.cleanup()


def switch_toml(hosts, n: int, port: int) -> str:
    lines = ["[[bridge]]", 'name = "br0"', 'datapath_type = "netdev"', 'fail_mode = "secure"',
             'protocols = ["OpenFlow13"]', 'datapath_id = "0000000000000001"']
    for i in range(1, n + 1):
        lines += ["[[bridge.port]]", f'name = "{hosts.port(i)}"', 'type = "system"',
                  f"ofport_request = {i}"]
    lines += ["[[bridge.controller]]", f'target = "tcp:127.0.0.1:{port}"',
              "max_backoff = 1000"]
    return "\n".join(lines) + "\n"


def flows(sw) -> str:
    return sw.ofctl("-O", "OpenFlow13", "dump-flows", "br0").stdout


def tables_in(dump: str) -> set[int]:
    return {int(t) for t in re.findall(r"table=(\d+)", dump)}


# Logged by Faucet on every connect, with Open vSwitch 3.1 too: os-ken hands Faucet the
# port-desc reply before its DPSet has registered the datapath.
FAUCET_CONNECT_QUIRK = "send_flow_msgs: DP not up"


def errors_in(log: str) -> list[str]:
    return [line for line in log.splitlines()
            if (" ERROR " in line or "OFError" in line) and FAUCET_CONNECT_QUIRK not in line]


@pytest.mark.parametrize("hardware", ["Open vSwitch", "Open vSwitch TFM"])
def test_faucet_two_vlans(make_switch, hosts, make_faucet, hardware):
    h = hosts(4)
    port = free_tcp_port()
    ctl = make_faucet(FAUCET_YAML.format(hardware=hardware), port, h.switch_ns)
    sw = make_switch(switch_toml(h, 4, port), netns=h.switch_ns)

    # Faucet configures the datapath once it has the ports: its pipeline spans tables.
    try:
        wait_for(lambda: "configuring DP" in ctl.log_text() and len(tables_in(flows(sw))) >= 4,
                 30, 0.2, "Faucet to install its pipeline")
        # Same VLAN: both pairs ping (the first packets teach Faucet the hosts).
        for a, b in ((1, 2), (3, 4)):
            assert wait_for(lambda: h.ping(a, b, count=1, wait=1.0), 20, 0.2,
                            f"h{a} to ping h{b}")
            assert h.ping(b, a, count=2)
        # Different VLANs: nothing passes, either way.
        for a, b in ((1, 3), (2, 4), (4, 1)):
            assert not h.ping(a, b, count=2, wait=0.5), f"h{a} reached h{b} across VLANs"
    except AssertionError as e:
        raise AssertionError(f"{e}\n{flows(sw)}\n{ctl.output()}\n"
                             f"{sw.log_text()[-3000:]}") from None

    dump = flows(sw)
    assert tables_in(dump) >= {0, 1, 2, 3}, dump
    # VLAN table: untagged packets on each port are pushed onto their native VLAN.
    for port_no, vid in ((1, 100), (2, 100), (3, 200), (4, 200)):
        assert re.search(rf"table=0,.*in_port={port_no},vlan_tci=0x0000/0x1fff "
                         rf".*push_vlan:0x8100,set_field:{4096 + vid}->vlan_vid", dump), \
            (port_no, dump)
    # The hosts were learned: their MACs are in Faucet's eth_src and eth_dst tables.
    for i in (1, 2, 3, 4):
        assert dump.count(f"dl_src={h.mac(i)}") >= 1, (i, dump)
        assert f"dl_dst={h.mac(i)}" in dump, (i, dump)
    # Flows Faucet installed carry traffic (packet counters moved).
    counts = [int(n) for n in re.findall(r"n_packets=(\d+)", dump)]
    assert sum(counts) > 0

    if hardware.endswith("TFM"):
        # Faucet named its tables in the table-features request; the switch took the names.
        features = sw.ofctl("-O", "OpenFlow13", "dump-table-features", "br0").stdout
        for table_id, name in ((0, "vlan"), (1, "eth_src"), (2, "eth_dst"), (3, "flood")):
            assert f'table {table_id} ("{name}")' in features, features[:2000]

    log = ctl.log_text()
    assert not errors_in(log), "\n".join(errors_in(log)) + "\n" + sw.log_text()[-3000:]
    assert ctl.exceptions().strip() == "", ctl.exceptions()
    assert ctl.proc.poll() is None, ctl.output()
