"""set_field of eth_type, ip_proto and mpls_bos against a real pyvswitchd: a controller
(os-ken's encoder, over the bridge's management socket) installs them, they read back in
a flow-stats reply os-ken decodes, and ``ofproto/trace`` shows the rewrite.

Open vSwitch treats these fields as read-only, and so does its ovs-ofctl: it will not
encode ``set_field:17->ip_proto`` ("ip_proto is read-only") and cannot decode a flow dump
that holds one (OFPBAC_BAD_SET_ARGUMENT: the whole reply prints as a hex dump).  The
last test pins that down, so that whoever changes it sees the consequence.
"""

from __future__ import annotations

import re
import socket
import struct

import pytest
from os_ken.ofproto import ofproto_v1_3 as o13
from os_ken.ofproto import ofproto_v1_3_parser as p13

from harness import Switch, bridge_toml


@pytest.fixture(scope="module")
def sw():
    s = Switch(bridge_toml(ports=3))
    try:
        s.start()
    except BaseException:
        s.cleanup()
        raise
    yield s
    s.cleanup()


class _Dp:
    """Just enough of an os-ken datapath for its message classes to serialize."""

    ofproto = o13
    ofproto_parser = p13


def _recv(sock) -> bytes:
    buf = b""
    while len(buf) < 8 or len(buf) < struct.unpack("!H", buf[2:4])[0]:
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        buf += chunk
    return buf


def _send(sock, msg, xid: int) -> None:
    msg.set_xid(xid)
    msg.serialize()
    sock.sendall(bytes(msg.buf))


def _reply_to(sock, xid: int) -> bytes:
    while True:
        head = b""
        while len(head) < 8:
            head += sock.recv(8 - len(head))
        length = struct.unpack("!H", head[2:4])[0]
        body = b""
        while len(body) < length - 8:
            body += sock.recv(length - 8 - len(body))
        if struct.unpack("!I", head[4:8])[0] == xid:
            return head + body


FLOWS = [  # (priority, match, set_field)
    (30, dict(eth_type=0x0800, ip_proto=6), dict(ip_proto=17)),
    (20, dict(in_port=2), dict(eth_type=0x8848)),
    (10, dict(eth_type=0x8847, mpls_bos=1), dict(mpls_bos=0)),
]


def test_installed_by_a_controller_read_back_and_traced(sw):
    sw.ofctl("-O", "OpenFlow13", "del-flows", "br0")
    dp = _Dp()
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(sw.rundir / "br0.mgmt"))
        s.sendall(struct.pack("!BBHI", 4, 0, 8, 1))                # HELLO, OpenFlow 1.3
        assert _recv(s)[1] == 0
        for xid, (prio, match, sf) in enumerate(FLOWS, 10):
            actions = [p13.OFPActionSetField(**sf), p13.OFPActionOutput(3)]
            _send(s, p13.OFPFlowMod(dp, priority=prio, match=p13.OFPMatch(**match),
                                    instructions=[p13.OFPInstructionActions(
                                        o13.OFPIT_APPLY_ACTIONS, actions)]), xid)
        _send(s, p13.OFPBarrierRequest(dp), 20)
        barrier = _reply_to(s, 20)
        assert barrier[1] == o13.OFPT_BARRIER_REPLY, barrier.hex()    # no error first
        _send(s, p13.OFPFlowStatsRequest(dp), 21)
        raw = _reply_to(s, 21)
    reply = p13.OFPFlowStatsReply.parser(dp, 4, raw[1], len(raw), 21, raw)
    got = {}
    for stats in reply.body:
        (ins,) = stats.instructions
        sf, out = ins.actions
        assert out.port == 3
        got[stats.priority] = (dict(stats.match.items()), {sf.key: sf.value})
    assert got == {prio: (match, sf) for prio, match, sf in FLOWS}

    trace = sw.appctl("ofproto/trace", "br0",
                      "in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1,tp_dst=2").stdout
    assert re.search(r"Datapath actions: set\(ip_proto=0x11\),\d+\n", trace), trace
    assert "set_field:0x11->ip_proto" in trace
    trace = sw.appctl("ofproto/trace", "br0", "in_port=2,arp").stdout
    assert re.search(r"Datapath actions: set\(eth_type=0x8848\),\d+\n", trace), trace
    trace = sw.appctl("ofproto/trace", "br0",
                      "in_port=1,mpls,mpls_label=5,mpls_bos=1").stdout
    assert re.search(r"Datapath actions: set\(mpls_bos=0x0\),\d+\n", trace), trace


def test_open_vswitch_ofctl_cannot_write_or_read_them(sw):
    sw.ofctl("-O", "OpenFlow13", "del-flows", "br0")
    r = sw.ofctl("-O", "OpenFlow13", "add-flow", "br0",
                 "ip,actions=set_field:17->ip_proto,output:2", check=False)
    assert r.returncode != 0 and "ip_proto is read-only" in r.stderr
    # Its reg_load syntax is not checked on the way out; the switch accepts the write...
    sw.ofctl("-O", "OpenFlow13", "add-flow", "br0",
             "tcp,actions=load:17->NXM_OF_IP_PROTO[],output:2")
    trace = sw.appctl("ofproto/trace", "br0", "in_port=1,tcp").stdout
    assert re.search(r"Datapath actions: set\(ip_proto=0x11\),\d+\n", trace), trace
    # ...and ovs-ofctl then fails to decode the flow-stats reply that holds it: every
    # flow of that reply, this one's neighbours too, prints as a hex dump.
    sw.ofctl("-O", "OpenFlow13", "add-flow", "br0", "udp,actions=output:2")
    for version in ("OpenFlow13", "OpenFlow10"):
        r = sw.ofctl("-O", version, "dump-flows", "br0", check=False)
        assert "OFPBAC_BAD_SET_ARGUMENT" in r.stdout + r.stderr
        assert "udp" not in r.stdout
    sw.ofctl("-O", "OpenFlow13", "del-flows", "br0")
