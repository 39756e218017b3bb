"""10,000+ random and mutated messages through the switch's receive path: decode, role
checks, handlers.  Every one gets an answer or is ignored; no exception escapes and no
handler crashes."""

import struct

from hypothesis import HealthCheck, given, settings, strategies as st

from pyvswitch.conn.rconn import Rconn
from pyvswitch.netdev.base import open_netdev
from pyvswitch.ofproto.ofconn import ConnType, OfConn
from pyvswitch.ofproto.ofproto import Ofproto
from pyvswitch.openflow import codec
from pyvswitch.openflow import messages as m
from pyvswitch.openflow.ofpacts import OFPP_ANY

from test_rconn import ECHO, FakeVconn

VERSIONS = (0x01, 0x04, 0x05, 0x06)


def make_switch(version):
    ofproto = Ofproto("br0", 1)
    for i in (1, 2):
        ofproto.add_port(f"p{i}", open_netdev(f"p{i}", "dummy"), i)
    rconn = Rconn("br0<->test", 0, echo_request=lambda v: ECHO)
    vconn = FakeVconn("test", version=version)
    rconn.connect_unreliably(vconn, 0)
    rconn.run(0)
    return ofproto, OfConn(rconn, ConnType.PRIMARY), vconn


SWITCHES = {v: make_switch(v) for v in VERSIONS}


def valid_messages(version):
    msgs = [m.EchoRequest(b"abc"), m.FeaturesRequest(), m.GetConfigRequest(),
            m.SetConfig(0, 128), m.BarrierRequest(), m.DescRequest(),
            m.PortDescRequest(OFPP_ANY)]
    if version >= 0x04:
        msgs += [m.RoleRequest(m.ROLE_EQUAL, 0), m.GetAsyncRequest()]
    out = []
    for msg in msgs:
        try:
            out.append(codec.encode(msg, version, 7))
        except ValueError:
            pass
    return out


@st.composite
def messages(draw):
    version = draw(st.sampled_from(VERSIONS))
    if draw(st.booleans()):
        base = bytearray(draw(st.sampled_from(valid_messages(version))))
        for _ in range(draw(st.integers(1, 4))):
            pos = draw(st.integers(0, len(base) - 1))
            base[pos] = draw(st.integers(0, 255))
        if draw(st.booleans()):
            base += draw(st.binary(max_size=32))
    else:
        body = draw(st.binary(max_size=96))
        mtype = draw(st.integers(0, 40))
        base = bytearray(struct.pack("!BBHI", version, mtype, 8 + len(body), 1) + body)
    struct.pack_into("!H", base, 2, len(base))  # framing is the vconn's job: keep it valid
    return version, bytes(base)


@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(messages())
def test_receive_path_survives_anything(case):
    version, raw = case
    ofproto, ofconn, vconn = SWITCHES[version]
    ofproto.handle_openflow(ofconn, raw, 1000)
    assert ofproto.n_handler_crashes == 0, ofproto.last_crash
    ofconn.rconn.run(1000)
    vconn.sent.clear()
    assert ofconn.rconn.is_connected()


def test_every_answer_is_well_formed():
    """Answers to garbage are complete OpenFlow messages of the session's version."""
    for version, (ofproto, ofconn, vconn) in SWITCHES.items():
        vconn.sent.clear()
        ofproto.handle_openflow(ofconn, struct.pack("!BBHI", version, 77, 8, 5), 0)
        ofconn.rconn.run(0)
        (err,) = vconn.sent
        assert err[0] == version and err[1] == 1
        assert struct.unpack("!H", err[2:4])[0] == len(err)
        assert struct.unpack("!I", err[4:8])[0] == 5
