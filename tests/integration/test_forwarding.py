"""Hosts in network namespaces talk through pyvswitch (real veths, AF_PACKET ports)."""

import time

from harness import netdev_bridge


def test_standalone_bridge_is_a_learning_switch(make_switch, hosts):
    h = hosts(3)
    sw = make_switch(netdev_bridge(h, 3), netns=h.switch_ns)
    flows = sw.ofctl("dump-flows", "br0").stdout
    assert "priority=0 actions=NORMAL" in flows
    for a, b in ((1, 2), (2, 3), (3, 1)):
        assert h.ping(a, b, count=2), f"h{a} cannot ping h{b}\n{sw.log_text()[-3000:]}"
    fdb = sw.appctl("fdb/show", "br0").stdout
    for i in (1, 2, 3):
        assert h.mac(i) in fdb


def test_explicit_flows_forward_and_count_cache_hits(make_switch, hosts):
    h = hosts(2)
    sw = make_switch(netdev_bridge(h, 2, fail_mode="secure", flows=(
        "priority=10,in_port=1,actions=output:2",
        "priority=10,in_port=2,actions=output:1")), netns=h.switch_ns)
    assert h.ping(1, 2, count=5)
    time.sleep(0.8)                   # statistics move from the datapath every 500 ms
    out = sw.ofctl("dump-flows", "br0").stdout
    counts = [int(part.split("=")[1].rstrip(","))
              for part in out.split() if part.startswith("n_packets=")]
    assert len(counts) == 2 and all(c >= 5 for c in counts), out


def test_secure_bridge_without_flows_forwards_nothing(make_switch, hosts):
    h = hosts(2)
    make_switch(netdev_bridge(h, 2, fail_mode="secure"), netns=h.switch_ns)
    assert not h.ping(1, 2, count=1, wait=0.5)


def test_flow_mod_then_barrier_changes_the_path_for_the_next_packet(make_switch, hosts):
    h = hosts(3)
    sw = make_switch(netdev_bridge(h, 3, fail_mode="secure"), netns=h.switch_ns)
    sw.ofctl("add-flow", "br0", "priority=10,in_port=1,actions=output:2")
    sw.ofctl("add-flow", "br0", "priority=10,in_port=2,actions=output:1")
    assert h.ping(1, 2, count=2)
    # Redirect h1's traffic to h3: ovs-ofctl waits for the barrier reply before exiting.
    sw.ofctl("--strict", "mod-flows", "br0", "priority=10,in_port=1,actions=output:3")
    assert not h.ping(1, 2, count=1, wait=0.5)
    trace = sw.appctl("ofproto/trace", "br0", "in_port=1").stdout
    assert "Datapath actions:" in trace and "output:3" in trace


def test_tcp_stream_crosses_the_switch_intact(make_switch, hosts):
    """1 MiB over TCP between namespaces through NORMAL: every byte arrives, in order (the
    kernels check every checksum on the way)."""
    import hashlib
    import subprocess
    import sys
    h = hosts(2)
    make_switch(netdev_bridge(h, 2), netns=h.switch_ns)
    assert h.ping(1, 2, count=1)
    server = subprocess.Popen(
        ["ip", "netns", "exec", h.hosts[1], sys.executable, "-c",
         "import socket,hashlib\n"
         "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
         "s.bind(('10.0.0.2', 5001)); s.listen(1); print('ready', flush=True)\n"
         "c,_=s.accept(); d=hashlib.sha256(); n=0\n"
         "while True:\n"
         "    b=c.recv(65536)\n"
         "    if not b: break\n"
         "    d.update(b); n+=len(b)\n"
         "print(n, d.hexdigest(), flush=True)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        payload = bytes(range(256)) * 4096
        subprocess.run(["ip", "netns", "exec", h.hosts[0], sys.executable, "-c",
                        "import socket,sys\n"
                        "c=socket.create_connection(('10.0.0.2', 5001), timeout=20)\n"
                        "c.sendall(bytes(range(256)) * 4096); c.close()\n"],
                       check=True, timeout=60)
        out, _ = server.communicate(timeout=60)
    finally:
        server.kill()
    n, digest = out.split()
    assert int(n) == len(payload)
    assert digest == hashlib.sha256(payload).hexdigest()


def test_dump_flows_counts_every_packet_even_when_all_hit_the_cache(make_switch, hosts):
    import subprocess
    import sys
    from pathlib import Path
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    h = hosts(2)
    sw = make_switch(netdev_bridge(h, 2, fail_mode="secure", flows=(
        "priority=10,in_port=1,udp,actions=output:2",)), netns=h.switch_ns)
    frame = bytes(Ether(src=h.mac(1), dst=h.mac(2)) / IP(src=h.ip(1), dst=h.ip(2))
                  / UDP(sport=7, dport=9) / (b"z" * 30))
    probe = str(Path(__file__).with_name("wire_probe.py"))
    subprocess.run(["ip", "netns", "exec", h.hosts[0], sys.executable, probe, "send", "eth0",
                    *([frame.hex()] * 50)], check=True)
    time.sleep(1.0)                   # the datapath pushes statistics every 500 ms
    out = sw.ofctl("dump-flows", "br0").stdout
    assert f"n_packets=50, n_bytes={50 * len(frame)}," in out, out


def test_access_ports_on_different_vlans_cannot_talk(make_switch, hosts):
    h = hosts(4)
    text = netdev_bridge(h, 4)
    for i, tag in ((1, 10), (2, 10), (3, 20), (4, 20)):
        text = text.replace(f'ofport_request = {i}\n', f'ofport_request = {i}\ntag = {tag}\n')
    make_switch(text, netns=h.switch_ns)
    assert h.ping(1, 2, count=2) and h.ping(3, 4, count=2)
    assert not h.ping(1, 3, count=1, wait=0.5)
    assert not h.ping(2, 4, count=1, wait=0.5)
