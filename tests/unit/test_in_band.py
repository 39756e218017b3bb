"""In-band hidden flows on a real Ofproto + ConnMgr (dummy LOCAL port), with the next-hop
lookup faked and a stepped clock."""

import errno

from pyvswitch.config.model import ControllerConfig
from pyvswitch.netdev.base import open_netdev
from pyvswitch.ofproto import in_band as ib
from pyvswitch.ofproto.ofproto import Ofproto
from pyvswitch.openflow.flow_format import format_match
from pyvswitch.packet.fields import Match

LOCAL_MAC = bytes.fromhex("020000aabbcc")
NEXT_HOP = 0x0200000000FE
VERSIONS = frozenset({0x04})


class Lookup:
    def __init__(self, mac=None):
        self.mac = mac
        self.calls = []

    def __call__(self, ip):
        self.calls.append(ip)
        return self.mac


def refuse(target):
    raise OSError(errno.ECONNREFUSED, "refused")


def make(lookup, controllers=None, disabled=False, queue=None):
    ofproto = Ofproto("br0", 1)
    ofproto.add_port("br0", open_netdev("br0", "dummy"), local=True)
    ofproto.ports[0xFFFFFFFE].netdev.set_hwaddr(LOCAL_MAC)
    ofproto.fail_mode = "secure"
    cm = ofproto.connmgr
    cm.in_band_lookup = lookup
    cm.in_band_disabled = disabled
    cm.in_band_queue = queue
    cm.set_controllers(controllers or [ControllerConfig("tcp:10.0.0.2:6653")], VERSIONS, 0)
    for svc in cm.services.values():
        if svc.rconn is not None:
            svc.rconn._opener = refuse
    return ofproto


def hidden(ofproto):
    return sorted((r.priority, format_match(r.match)) for r in ofproto.flows.rules()
                  if r.priority > 0xFFFF)


def test_rules_for_one_remote_with_unknown_then_known_next_hop():
    lookup = Lookup(None)
    ofproto = make(lookup)
    ofproto.run(0)
    prios = [p for p, _ in hidden(ofproto)]
    assert prios == [180000, 180001, 180002, 180005, 180006, 180007, 180008]
    text = dict(hidden(ofproto))
    assert "tp_dst=6653" in text[180007] and "nw_dst=10.0.0.2" in text[180007]
    assert "dl_src=02:00:00:aa:bb:cc" in text[180000] and "tp_src=68" in text[180000]
    assert "arp_op=1" in text[180006] and "arp_spa=10.0.0.2" in text[180006]
    # Nothing of this is visible to OpenFlow.
    assert ofproto.flows.collect(0xFF, Match()) == []
    assert ofproto.flows.table_stats()[0].active_count == 0

    # Unknown next hop: asked again after 1 s, not before.
    assert lookup.calls == ["10.0.0.2"]
    ofproto.run(900)
    assert len(lookup.calls) == 1
    lookup.mac = NEXT_HOP
    ofproto.run(1000)
    assert len(lookup.calls) == 2
    prios = [p for p, _ in hidden(ofproto)]
    assert prios == list(range(180000, 180009))
    # Known: refreshed every 10 s.
    ofproto.run(5000)
    assert len(lookup.calls) == 2
    ofproto.run(11_000)
    assert len(lookup.calls) == 3


def test_rules_come_back_after_a_flush_and_follow_the_configuration():
    lookup = Lookup(NEXT_HOP)
    ofproto = make(lookup)
    ofproto.run(0)
    assert len(hidden(ofproto)) == 9
    ofproto.flush(10)
    assert hidden(ofproto) == []
    ofproto.run(20)
    assert len(hidden(ofproto)) == 9
    # The controller becomes out-of-band: every rule goes, then in-band itself.
    cm = ofproto.connmgr
    cm.set_controllers([ControllerConfig("tcp:10.0.0.2:6653",
                                         connection_mode="out-of-band")], VERSIONS, 30)
    ofproto.run(40)
    assert hidden(ofproto) == []
    ofproto.run(50)
    assert cm.in_band is None


def test_disable_in_band_and_non_ip_targets():
    ofproto = make(Lookup(NEXT_HOP), disabled=True)
    ofproto.run(0)
    assert hidden(ofproto) == [] and ofproto.connmgr.in_band is None
    ofproto = make(Lookup(NEXT_HOP), controllers=[ControllerConfig("unix:/tmp/x.sock"),
                                                  ControllerConfig("ptcp:6653")])
    ofproto.run(0)
    assert hidden(ofproto) == []


def test_queue_and_two_remotes_sharing_a_next_hop():
    ofproto = make(Lookup(NEXT_HOP), queue=3,
                   controllers=[ControllerConfig("tcp:10.0.0.2"),
                                ControllerConfig("ssl:10.0.0.3:6634")])
    ofproto.run(0)
    rules = [r for r in ofproto.flows.rules() if r.priority > 0xFFFF]
    # 3 local + 2 next hop (shared, kept once) + 4 per remote.
    assert len(rules) == 3 + 2 + 8
    assert all(type(r.instructions.apply[0]).__name__ == "SetQueue" for r in rules)


def test_parse_remote():
    assert ib.parse_remote("tcp:10.0.0.2") == ("10.0.0.2", 6653)
    assert ib.parse_remote("ssl:1.2.3.4:99") == ("1.2.3.4", 99)
    assert ib.parse_remote("tcp:[::1]:6653") is None
    assert ib.parse_remote("unix:/x") is None
    assert ib.parse_remote("ptcp:6653") is None
