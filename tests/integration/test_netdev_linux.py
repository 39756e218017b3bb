"""system, tap and internal devices against real Linux interfaces (root).

Every test works in network namespaces it creates: the device under test is opened inside
one (pyroute2 pushns/popns around the test), its veth peer lives in another, and a small
raw-socket helper runs there with ``ip netns exec``.  Namespaces go away at the end, also on
failure.
"""

import socket
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = [pytest.mark.integration]   # root, like every integration test (make test)

from scapy.layers.inet import IP, UDP  # noqa: E402
from scapy.layers.l2 import Dot1Q, Ether  # noqa: E402

from pyvswitch.netdev import open_netdev  # noqa: E402

HELPER = r"""
import select, socket, sys, time
mode, dev = sys.argv[1], sys.argv[2]
if mode == "udp":
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(sys.argv[4].encode(), (sys.argv[3], 9))
elif mode == "send":
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    s.bind((dev, 0))
    for h in sys.argv[3:]:
        s.send(bytes.fromhex(h))
else:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((dev, 3))
    print("ready", flush=True)
    end = time.monotonic() + float(sys.argv[3])
    while time.monotonic() < end:
        if select.select([s], [], [], 0.05)[0]:
            data, addr = s.recvfrom(65535)
            if addr[2] != socket.PACKET_OUTGOING:
                print(data.hex(), flush=True)
"""


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True).stdout


@pytest.fixture
def netns_pair():
    """(switch namespace, peer namespace): veth 'pvt0' in the first, 'pvt1' in the second;
    the test body runs inside the switch namespace."""
    from pyroute2.netns import popns, pushns
    tag = uuid.uuid4().hex[:6]
    sw, peer = f"pvtS{tag}", f"pvtP{tag}"
    made = []
    pushed = False
    try:
        for n in (sw, peer):
            sh("ip", "netns", "add", n)
            made.append(n)
        sh("ip", "-n", sw, "link", "add", "pvt0", "type", "veth", "peer", "name", "pvt1",
           "netns", peer)
        for n, d in ((sw, "pvt0"), (peer, "pvt1")):
            sh("ip", "netns", "exec", n, "sysctl", "-qw", f"net.ipv6.conf.{d}.disable_ipv6=1")
            sh("ip", "-n", n, "link", "set", d, "up")
        pushns(sw)
        pushed = True
        yield sw, peer
    finally:
        if pushed:
            popns()
        for n in made:
            sh("ip", "netns", "del", n, check=False)


def peer_send(peer, dev, frames):
    sh("ip", "netns", "exec", peer, sys.executable, "-c", HELPER, "send", dev,
       *[f.hex() for f in frames])


def peer_recv_start(peer, dev, secs):
    p = subprocess.Popen(["ip", "netns", "exec", peer, sys.executable, "-c", HELPER, "recv",
                          dev, str(secs)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def ns_counter(ns, dev, what):
    return int(sh("ip", "netns", "exec", ns, "cat", f"/sys/class/net/{dev}/statistics/{what}"))


def recv_until(dev, want, timeout=3.0):
    got = []
    end = time.monotonic() + timeout
    while time.monotonic() < end and len(got) < want:
        got += dev.recv_batch(64)
        time.sleep(0.01)
    return got


def frame(i, vlan=None):
    e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:99")
    if vlan is not None:
        e = e / Dot1Q(vlan=vlan, prio=3)
    return bytes(e / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1000 + i, dport=9)
                 / b"pyvswitch-test")


@pytest.mark.parametrize("tx_ring", ["true", "false"])
def test_system_device_receives_sends_and_counts(netns_pair, tx_ring):
    sw, peer = netns_pair
    dev = open_netdev("pvt0", "system", {"tx_ring": tx_ring})
    try:
        link = sh("ip", "-o", "link", "show", "pvt0")
        assert dev.hwaddr.hex(":") in link and f"mtu {dev.mtu}" in link
        assert int(link.split(":")[0]) == dev.ifindex
        assert dev.carrier and dev.admin_up and dev.fileno() is not None

        sent = [frame(i) for i in range(5)] + [frame(9, vlan=7)]
        peer_send(peer, "pvt1", sent)
        got = [f for f in recv_until(dev, len(sent)) if f.endswith(b"pyvswitch-test")]
        assert got == sent                       # in order, VLAN tag back in the frame

        rx = peer_recv_start(peer, "pvt1", 1.5)
        out = [frame(20 + i) for i in range(3)]
        dev.send_batch(out)
        dev.send(out[0])
        heard = [bytes.fromhex(line.strip()) for line in rx.communicate(timeout=10)[0].split()]
        assert [h for h in heard if h.endswith(b"pyvswitch-test")] == out + out[:1]
        # our own transmissions never come back as receptions
        assert [f for f in dev.recv_batch(64) if f in out] == []

        st = dev.get_stats()
        assert st.rx_packets >= len(sent) and st.tx_packets >= 4
        assert st.rx_bytes >= sum(map(len, sent)) and st.tx_bytes >= sum(map(len, out))
    finally:
        dev.close()
        dev.close()


def test_checksums_left_to_offload_are_completed(netns_pair):
    """The peer's own UDP stack sends through its veth with TX checksum offload on (the
    default): the frame we hand up must carry a valid UDP checksum."""
    sw, peer = netns_pair
    sh("ip", "-n", peer, "addr", "add", "10.88.0.1/24", "dev", "pvt1")
    sh("ip", "-n", peer, "neigh", "replace", "10.88.0.2", "lladdr", "02:00:00:00:00:88",
       "dev", "pvt1")
    dev = open_netdev("pvt0", "system")
    try:
        sh("ip", "netns", "exec", peer, sys.executable, "-c", HELPER, "udp", "pvt1",
           "10.88.0.2", "offloaded-checksum")
        got = [f for f in recv_until(dev, 1) if f.endswith(b"offloaded-checksum")]
        assert len(got) == 1
        pkt = Ether(got[0])
        sent = pkt[UDP].chksum
        del pkt[UDP].chksum
        assert sent != 0 and Ether(bytes(pkt))[UDP].chksum == sent
    finally:
        dev.close()


def test_system_device_sees_carrier_and_admin_changes(netns_pair):
    sw, peer = netns_pair
    dev = open_netdev("pvt0", "system")
    try:
        seq = dev.change_seq
        sh("ip", "-n", peer, "link", "set", "pvt1", "down")
        end = time.monotonic() + 3
        while dev.change_seq == seq and time.monotonic() < end:
            dev.run(now=0)
            time.sleep(0.02)
        assert dev.change_seq > seq and not dev.carrier and dev.admin_up
        dropped = dev.get_stats().tx_dropped
        dev.send(frame(1))                     # a down link drops and counts, never raises
        assert dev.get_stats().tx_dropped == dropped + 1
        seq = dev.change_seq
        dev.set_admin_up(False)
        assert dev.change_seq > seq and not dev.admin_up
        assert "UP" not in sh("ip", "-o", "link", "show", "pvt0").split("<")[1].split(">")[0]
        dev.set_mtu(1400)
        assert dev.mtu == 1400 and "mtu 1400" in sh("ip", "-o", "link", "show", "pvt0")
    finally:
        dev.close()


def test_open_missing_system_device_fails_cleanly(netns_pair):
    from pyvswitch.netdev import NetdevError
    with pytest.raises(NetdevError):
        open_netdev("pvt-nonexistent", "system")


def test_tap_and_internal_devices(netns_pair):
    sw, _ = netns_pair
    tap = open_netdev("pvtap0", "tap")
    br = open_netdev("pvbr0", "internal")
    try:
        assert "pvtap0" in sh("ip", "-o", "link", "show", "pvtap0")
        assert not tap.admin_up                  # a plain tap starts down
        seq = tap.change_seq
        tap.set_admin_up(True)
        assert tap.admin_up and tap.change_seq > seq
        assert br.admin_up and br.carrier        # the LOCAL port is up from the start
        # the host's stack sends into the internal port: give it an address, send a UDP
        # datagram to a neighbour with a static MAC, and read the frame on our side
        sh("ip", "addr", "add", "10.77.0.1/24", "dev", "pvbr0")
        sh("ip", "neigh", "replace", "10.77.0.2", "lladdr", "02:00:00:00:00:77",
           "dev", "pvbr0")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.sendto(b"hello-internal", ("10.77.0.2", 9))
        got = recv_until(br, 1)
        udp = [f for f in got if f[:6] == bytes.fromhex("020000000077")]
        assert udp and IP(udp[0][14:]).dst == "10.77.0.2" and udp[0].endswith(b"hello-internal")
        assert br.get_stats().rx_packets >= 1
        # frames we send come out of the host's side of the tap
        before = ns_counter(sw, "pvbr0", "rx_packets")
        br.send(frame(3))
        after = ns_counter(sw, "pvbr0", "rx_packets")
        assert after == before + 1 and br.get_stats().tx_packets == 1
    finally:
        tap.close()
        br.close()
    assert "pvbr0" not in sh("ip", "-o", "link", "show")   # closing removed the device


TCP_HELPER = r"""
import hashlib, socket, sys
if sys.argv[1] == "server":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 5001))
    s.listen(1)
    s.settimeout(20)
    print("ready", flush=True)
    c, _ = s.accept()
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(65536)
        if not b:
            break
        h.update(b)
        n += len(b)
    print(n, h.hexdigest(), flush=True)
else:
    data = bytes(range(256)) * (int(sys.argv[3]) // 256)
    c = socket.create_connection((sys.argv[2], 5001), timeout=20)
    c.sendall(data)
    c.close()
"""


def test_tcp_stream_through_the_datapath_with_offloads_on():
    """Two namespaces exchange a TCP stream through a DpifNetdev with two system ports.
    The veths keep their default offloads (checksum, TSO): the device must complete
    checksums and cut super-frames so the receiver gets every byte intact."""
    import hashlib
    import select
    import threading

    from pyroute2.netns import popns, pushns

    from pyvswitch.datapath import DpifNetdev, Output
    from pyvswitch.packet.fields import N_SLOTS, Slot

    tag = uuid.uuid4().hex[:6]
    sw, a, b = f"pvtS{tag}", f"pvtA{tag}", f"pvtB{tag}"
    made, pushed, stop = [], False, threading.Event()
    thread = None
    server = None
    try:
        for n in (sw, a, b):
            sh("ip", "netns", "add", n)
            made.append(n)
            sh("ip", "-n", n, "link", "set", "lo", "up")
        for port, peer, ns, addr in (("sa", "va", a, "10.66.0.1/24"),
                                     ("sb", "vb", b, "10.66.0.2/24")):
            sh("ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", peer,
               "netns", ns)
            sh("ip", "-n", sw, "link", "set", port, "up")
            sh("ip", "-n", ns, "addr", "add", addr, "dev", peer)
            sh("ip", "-n", ns, "link", "set", peer, "up")
        pushns(sw)
        pushed = True
        dp = DpifNetdev()
        dp.port_add(open_netdev("sa", "system"), 1)
        dp.port_add(open_netdev("sb", "system"), 2)
        mask = [0] * N_SLOTS
        mask[Slot.IN_PORT] = 0xFFFFFFFF
        for i, o in ((1, 2), (2, 1)):
            key = [0] * N_SLOTS
            key[Slot.IN_PORT] = i
            dp.flow_put(tuple(key), tuple(mask), [Output(o)])
        fds = [d.fileno() for d in dp.port_list().values()]

        def loop():
            while not stop.is_set():
                dp.run(time.monotonic() * 1000)
                select.select(fds, [], [], 0.02)
        thread = threading.Thread(target=loop, daemon=True)
        thread.start()

        size = 2 << 20
        server = subprocess.Popen(["ip", "netns", "exec", b, sys.executable, "-c",
                                   TCP_HELPER, "server"], stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        sh("ip", "netns", "exec", a, sys.executable, "-c", TCP_HELPER, "client",
           "10.66.0.2", str(size))
        n, digest = server.communicate(timeout=30)[0].split()
        want = hashlib.sha256(bytes(range(256)) * (size // 256)).hexdigest()
        assert int(n) == size and digest == want
        flows = {fl.key[Slot.IN_PORT]: fl for fl in dp.flow_dump()}
        assert flows[1].packets > size // 1500 and flows[2].packets > 0
        assert dp.stats().n_missed == 0
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=5)
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()
        if pushed:
            popns()
        for n in made:
            sh("ip", "netns", "del", n, check=False)


def test_system_device_wakes_the_poll_loop_when_frames_arrive(netns_pair):
    import threading

    import ovs.poller
    sw, peer = netns_pair
    dev = open_netdev("pvt0", "system")
    try:
        dev.run(0)
        dev.recv_batch(1000)                      # whatever the link-up produced
        p = ovs.poller.Poller()
        dev.wait(p)
        p.timer_wait(5000)
        t = threading.Timer(0.3, peer_send, (peer, "pvt1", [frame(1)]))
        t.start()
        t0 = time.monotonic()
        p.block()
        t.join()
        assert time.monotonic() - t0 < 4
        assert frame(1) in recv_until(dev, 1)
    finally:
        dev.close()
