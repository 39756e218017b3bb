"""Software completion of sender offloads: checksums and TCP segmentation."""

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether

from pyvswitch.netdev.offload import complete_checksum, segment_tcp


def valid(frame, layer):
    p = Ether(frame)
    sent = p[layer].chksum
    del p[layer].chksum
    if IP in p:
        del p[IP].chksum
    again = Ether(bytes(p))
    return again[layer].chksum == sent and (IP not in again or
                                            again[IP].chksum == Ether(frame)[IP].chksum)


def test_complete_checksum_fixes_udp_and_tcp_and_leaves_others():
    for l4, layer in ((UDP(sport=1, dport=2), UDP), (TCP(sport=1, dport=2), TCP)):
        f = bytearray(bytes(Ether() / IP(src="1.2.3.4", dst="5.6.7.8") / l4 / b"data"))
        off = 34 + (6 if layer is UDP else 16)
        f[off:off + 2] = b"\x12\x34"            # what the offloading stack left there
        fixed = complete_checksum(bytes(f))
        assert valid(fixed, layer) and fixed[:off] == bytes(f[:off])
    v6 = bytes(Ether() / IPv6(src="::1", dst="::2") / UDP(sport=1, dport=2, chksum=7) / b"x")
    assert valid(complete_checksum(v6), UDP)
    arp = bytes(Ether(type=0x0806) / (b"\x00" * 28))
    assert complete_checksum(arp) == arp


def test_segment_tcp_cuts_a_super_frame_like_a_nic():
    payload = bytes(range(256)) * 20                          # 5120 bytes
    big = bytes(Ether() / Dot1Q(vlan=3) / IP(src="10.0.0.1", dst="10.0.0.2", id=100)
                / TCP(sport=5, dport=6, seq=1000, flags="PAF") / payload)
    segs = segment_tcp(big, 1500)
    assert len(segs) == 4                                      # 1460 * 3 + 740
    got = b""
    for k, s in enumerate(segs):
        p = Ether(s)
        assert len(p[IP]) <= 1500 and p[Dot1Q].vlan == 3 and p[IP].id == 100 + k
        assert p[TCP].seq == 1000 + len(got)
        assert valid(s, TCP)
        flags = str(p[TCP].flags)
        assert ("F" in flags) == ("P" in flags) == (k == 3) and "A" in flags
        got += bytes(p[TCP].payload)
    assert got == payload


def test_segment_tcp_ipv6_and_refuses_other_protocols():
    payload = b"z" * 3000
    big = bytes(Ether() / IPv6(src="::1", dst="::2") / TCP(sport=5, dport=6, seq=7)
                / payload)
    segs = segment_tcp(big, 1500)
    assert b"".join(bytes(Ether(s)[TCP].payload) for s in segs) == payload
    assert all(len(Ether(s)[IPv6]) <= 1500 and valid(s, TCP) for s in segs)
    assert segment_tcp(bytes(Ether() / IP() / UDP() / payload), 1500) == []
