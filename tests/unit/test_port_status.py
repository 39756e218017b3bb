"""Link and configuration changes of a device become PORT_STATUS MODIFY (OVS update_port):
the ofproto notices a moved change_seq and reports the old and new description."""

from pyvswitch.netdev.base import open_netdev
from pyvswitch.ofproto.ofproto import Ofproto
from pyvswitch.openflow import messages as m


def test_carrier_changes_are_reported_once_each():
    ofproto = Ofproto("br0", 1)
    nd = open_netdev("p1", "dummy")
    ofproto.add_port("p1", nd, 1)
    seen = []
    real = ofproto.port_changed
    ofproto.port_changed = lambda port, old, source=None: (
        seen.append((old, port.desc())), real(port, old, source))
    ofproto.run(0)
    assert seen == []                              # the first look only records the state
    nd.set_carrier(False)
    ofproto.run(10)
    ofproto.run(20)
    (old, new), = seen
    assert old.state & m.OFPPS_LIVE
    assert new.state & m.OFPPS_LINK_DOWN and not new.state & m.OFPPS_LIVE
    nd.set_carrier(True)
    ofproto.run(30)
    assert len(seen) == 2 and seen[1][1].state & m.OFPPS_LIVE
