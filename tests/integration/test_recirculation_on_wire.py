"""pop_mpls, then a match on what lay beneath, checked on the wire: h1 sends an MPLS
frame, pyvswitch pops the label and its next table matches the inner IPv4/UDP fields (the
datapath recirculates the popped packet), h2 captures it.  (PBB has the same path but
ovs-ofctl has no PBB actions; the os-ken conformance files and the unit tests cover it.)"""

import subprocess
import sys
from pathlib import Path

import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from harness import switch_between_hosts

PROBE = str(Path(__file__).with_name("wire_probe.py"))
SRC, DST = "02:00:00:00:00:01", "02:00:00:00:00:02"


def arrivals(h, sw, flows: list[str], frame: bytes, seconds: float = 2.0) -> list[Ether]:
    """Install ``flows`` (OpenFlow 1.3), send ``frame`` from h1 and return what h2 got
    from h1's address."""
    sw.ofctl("del-flows", "br0")
    for flow in flows:
        sw.ofctl("-O", "OpenFlow13", "add-flow", "br0", flow)
    cap = subprocess.Popen(["ip", "netns", "exec", h.hosts[1], sys.executable, PROBE,
                            "capture", "eth0", str(seconds), "8"],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert cap.stdout.readline().strip() == "ready"
        subprocess.run(["ip", "netns", "exec", h.hosts[0], sys.executable, PROBE, "send",
                        "eth0", frame.hex()], check=True)
        out, _ = cap.communicate(timeout=seconds + 10)
    finally:
        cap.kill()
    pkts = [Ether(bytes.fromhex(line)) for line in out.split() if line]
    return [p for p in pkts if p.src == SRC]


def inner(dport: int = 4000, ttl: int = 30) -> IP:
    return IP(src="10.0.0.1", dst="10.0.0.2", ttl=ttl) / UDP(sport=1000, dport=dport)


@pytest.fixture(scope="module")
def setup():
    with switch_between_hosts(2, fail_mode="secure") as (h, sw):
        yield h, sw


POP_MPLS = ["table=0,in_port=1,mpls,actions=pop_mpls:0x0800,goto_table:1",
            "table=1,udp,udp_dst=4000,actions=dec_ttl,output:2"]


def test_pop_mpls_then_the_next_table_matches_the_inner_udp_port(setup):
    h, sw = setup
    labelled = bytes(Ether(src=SRC, dst=DST, type=0x8847) / MPLS(label=5, s=1, ttl=9)
                     / inner())
    (pkt,) = arrivals(h, sw, POP_MPLS, labelled)
    assert pkt.type == 0x0800 and pkt[UDP].dport == 4000
    assert pkt[IP].ttl == 29                           # dec_ttl read the inner TTL
    rebuilt = pkt.copy()
    del rebuilt[IP].chksum
    assert bytes(Ether(bytes(rebuilt))) == bytes(pkt)  # the IPv4 checksum is right
    other = bytes(Ether(src=SRC, dst=DST, type=0x8847) / MPLS(label=5, s=1, ttl=9)
                  / inner(dport=4001))
    assert arrivals(h, sw, POP_MPLS, other) == []      # table 1 has no match for it


def test_two_labels_popped_one_after_the_other(setup):
    h, sw = setup
    stacked = bytes(Ether(src=SRC, dst=DST, type=0x8847) / MPLS(label=7, s=0, ttl=9)
                    / MPLS(label=5, s=1, ttl=9) / inner())
    flows = ["table=0,in_port=1,mpls,mpls_label=7,actions=pop_mpls:0x8847,goto_table:1",
             "table=1,mpls,mpls_label=5,actions=pop_mpls:0x0800,goto_table:2",
             "table=2,udp,udp_dst=4000,actions=output:2"]
    (pkt,) = arrivals(h, sw, flows, stacked)
    assert pkt.type == 0x0800 and pkt[UDP].dport == 4000


def test_pop_inside_a_resubmit_a_group_bucket_and_a_clone(setup):
    """The pop happens one level down; the popped packet still recirculates and the
    rest of that level (and, for the resubmit, of the level above) sees its IPv4/UDP."""
    h, sw = setup
    labelled = bytes(Ether(src=SRC, dst=DST, type=0x8847) / MPLS(label=5, s=1, ttl=9)
                     / inner())
    resubmit = ["table=0,in_port=1,mpls,actions=resubmit(,1)",
                "table=1,mpls,actions=pop_mpls:0x0800,resubmit(,2),dec_ttl,output:2",
                "table=2,udp,udp_dst=4000,actions=mod_nw_tos:8"]
    (pkt,) = arrivals(h, sw, resubmit, labelled)
    assert pkt.type == 0x0800 and (pkt[IP].tos, pkt[IP].ttl) == (8, 29)
    sw.ofctl("-O", "OpenFlow13", "del-groups", "br0")
    sw.ofctl("-O", "OpenFlow13", "add-group", "br0",
             "group_id=1,type=all,bucket=actions=pop_mpls:0x0800,dec_ttl,output:2")
    (pkt,) = arrivals(h, sw, ["in_port=1,mpls,actions=group:1"], labelled)
    assert pkt.type == 0x0800 and pkt[IP].ttl == 29 and pkt[UDP].dport == 4000
    clone = ["in_port=1,mpls,actions=clone(pop_mpls:0x0800,set_field:10.0.0.9->ip_dst,"
             "output:2)"]
    (pkt,) = arrivals(h, sw, clone, labelled)
    assert pkt.type == 0x0800 and pkt[IP].dst == "10.0.0.9" and pkt[IP].ttl == 30
