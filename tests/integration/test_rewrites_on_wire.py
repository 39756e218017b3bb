"""Header rewrites checked on the wire: a frame sent from h1 crosses pyvswitch, whose flow
rewrites it, and h2 captures what arrives; scapy checks the fields and the checksums."""

import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.contrib.mpls import MPLS

from harness import switch_between_hosts

PROBE = str(Path(__file__).with_name("wire_probe.py"))
SRC, DST = "02:00:00:00:00:01", "02:00:00:00:00:02"


def through_switch(h, sw, flow: str, frame: bytes) -> Ether:
    sw.ofctl("del-flows", "br0")
    sw.ofctl("-O", "OpenFlow13", "add-flow", "br0", flow)
    cap = subprocess.Popen(["ip", "netns", "exec", h.hosts[1], sys.executable, PROBE,
                            "capture", "eth0", "3", "1"], stdout=subprocess.PIPE, text=True)
    try:
        assert cap.stdout.readline().strip() == "ready"
        subprocess.run(["ip", "netns", "exec", h.hosts[0], sys.executable, PROBE, "send",
                        "eth0", frame.hex()], check=True)
        out, _ = cap.communicate(timeout=10)
    finally:
        cap.kill()
    lines = [line for line in out.split() if line]
    assert lines, f"nothing arrived for {flow}"
    return Ether(bytes.fromhex(lines[0]))


def checksums_ok(pkt: Ether) -> None:
    """Rebuilding with scapy (checksums recomputed) must give the bytes that arrived."""
    rebuilt = pkt.copy()
    for layer in (IP, TCP, UDP, ICMP):
        if layer in rebuilt and hasattr(rebuilt[layer], "chksum"):
            del rebuilt[layer].chksum
    assert bytes(Ether(bytes(rebuilt))) == bytes(pkt), "a checksum is wrong"


@pytest.fixture(scope="module")
def setup(request):
    with switch_between_hosts(2, fail_mode="secure") as (h, sw):
        yield h, sw


def udp_frame(**ip):
    return bytes(Ether(src=SRC, dst=DST) / IP(src="10.0.0.1", dst="10.0.0.2", ttl=64, **ip)
                 / UDP(sport=1000, dport=2000) / (b"x" * 18))


def tcp_frame():
    return bytes(Ether(src=SRC, dst=DST) / IP(src="10.0.0.1", dst="10.0.0.2")
                 / TCP(sport=1234, dport=80, flags="S") / (b"y" * 10))


def test_set_macs(setup):
    h, sw = setup
    pkt = through_switch(h, sw, "in_port=1,actions=set_field:02:00:00:00:00:aa->eth_src,"
                         "set_field:02:00:00:00:00:bb->eth_dst,output:2", udp_frame())
    assert (pkt.src, pkt.dst) == ("02:00:00:00:00:aa", "02:00:00:00:00:bb")
    checksums_ok(pkt)


def test_set_ipv4_addresses_and_udp_ports(setup):
    h, sw = setup
    pkt = through_switch(h, sw, "in_port=1,udp,actions=set_field:192.168.7.7->ip_src,"
                         "set_field:10.9.9.9->ip_dst,set_field:5555->udp_src,"
                         "set_field:6666->udp_dst,output:2", udp_frame())
    assert (pkt[IP].src, pkt[IP].dst) == ("192.168.7.7", "10.9.9.9")
    assert (pkt[UDP].sport, pkt[UDP].dport) == (5555, 6666)
    checksums_ok(pkt)


def test_set_tcp_ports_and_dec_ttl(setup):
    h, sw = setup
    pkt = through_switch(h, sw, "in_port=1,tcp,actions=set_field:8080->tcp_dst,dec_ttl,"
                         "output:2", tcp_frame())
    assert pkt[TCP].dport == 8080 and pkt[IP].ttl == 63
    checksums_ok(pkt)


def test_set_ipv6_addresses(setup):
    h, sw = setup
    frame = bytes(Ether(src=SRC, dst=DST) / IPv6(src="fd00::1", dst="fd00::2", hlim=5)
                  / UDP(sport=1, dport=2) / b"v6")
    pkt = through_switch(h, sw, "in_port=1,ipv6,actions=set_field:fd00::99->ipv6_dst,"
                         "output:2", frame)
    assert pkt[IPv6].dst == "fd00::99"
    rebuilt = pkt.copy()
    del rebuilt[UDP].chksum
    assert bytes(Ether(bytes(rebuilt))) == bytes(pkt)


def test_push_and_pop_vlan(setup):
    h, sw = setup
    pkt = through_switch(h, sw, "in_port=1,actions=push_vlan:0x8100,"
                         "set_field:4196->vlan_vid,output:2", udp_frame())
    assert Dot1Q in pkt and pkt[Dot1Q].vlan == 100
    tagged = bytes(Ether(src=SRC, dst=DST) / Dot1Q(vlan=7) / IP(src="10.0.0.1",
                                                               dst="10.0.0.2") / UDP())
    pkt = through_switch(h, sw, "in_port=1,dl_vlan=7,actions=pop_vlan,output:2", tagged)
    assert Dot1Q not in pkt and IP in pkt


def test_push_and_pop_mpls(setup):
    h, sw = setup
    pkt = through_switch(h, sw, "in_port=1,ip,actions=push_mpls:0x8847,"
                         "set_field:77->mpls_label,output:2", udp_frame())
    assert pkt.type == 0x8847
    mpls = MPLS(bytes(pkt.payload))
    assert mpls.label == 77 and mpls.s == 1 and mpls.ttl == 64
    labelled = bytes(Ether(src=SRC, dst=DST, type=0x8847) / MPLS(label=5, s=1, ttl=9)
                     / IP(src="10.0.0.1", dst="10.0.0.2") / UDP())
    pkt = through_switch(h, sw, "in_port=1,mpls,actions=pop_mpls:0x0800,output:2", labelled)
    assert pkt.type == 0x0800 and pkt[IP].dst == "10.0.0.2"
