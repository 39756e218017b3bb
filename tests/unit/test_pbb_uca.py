"""pbb_uca, the OpenFlow 1.4 OXM field of the PBB I-TAG's UCA bit (Open vSwitch has no PBB
field at all): matches os-ken encodes decode and encode back to the same bytes, the flow
slot holds the bit where the I-TAG has it, and set_field rewrites it on the frame."""

from __future__ import annotations

from os_ken.lib.packet import ethernet, packet, pbb, vlan
from os_ken.ofproto import ofproto_v1_4_parser as p14

from pyvswitch.ofproto_dpif.xlate import translate
from pyvswitch.openflow import action_codec as AC
from pyvswitch.openflow import match_codec as MC
from pyvswitch.openflow import ofpacts as of
from pyvswitch.packet.extract import extract
from pyvswitch.packet.fields import BY_NAME, Match, Slot

from tests.unit.test_xlate import apply, make_bridge

V14 = 0x05


def osken_match(**kw) -> bytes:
    buf = bytearray()
    p14.OFPMatch(**kw).serialize(buf, 0)
    return bytes(buf)


def pbb_frame(uca: int) -> bytes:
    """As os-ken's 41_PBB_UCA cases: S-tag, I-TAG, then a customer frame."""
    pkt = packet.Packet()
    pkt.add_protocol(ethernet.ethernet("22:22:22:22:22:22", "12:11:11:11:11:11", 0x88A8))
    pkt.add_protocol(vlan.svlan(vid=10, ethertype=0x88E7))
    pkt.add_protocol(pbb.itag(uca=uca, sid=100))
    pkt.add_protocol(ethernet.ethernet("22:22:22:22:22:22", "12:11:11:11:11:11", 0x0806))
    pkt.add_protocol(bytes(46))
    pkt.serialize()
    return bytes(pkt.data)


def test_match_decodes_and_encodes_back_the_same_bytes():
    for kw in (dict(eth_type=0x88E7, pbb_uca=1), dict(eth_type=0x88E7, pbb_uca=0),
               dict(eth_type=0x88E7, pbb_isid=100, pbb_uca=1)):
        raw = osken_match(**kw)
        for _ in range(2):                      # the generic decoder, then a recorded plan
            match, used = MC.decode_oxm_match(raw, 0)
            assert used == len(raw)
            assert match.get(BY_NAME["pbb_uca"]) == (kw["pbb_uca"], 1)
            assert MC.encode_oxm_match(match, V14) == raw
        if "pbb_isid" in kw:
            assert match.get(BY_NAME["pbb_isid"]) == (100, 0xFFFFFF)


def test_the_flow_holds_the_uca_bit_and_a_match_on_it_selects():
    flow1, flow0 = extract(pbb_frame(1), 1), extract(pbb_frame(0), 1)
    assert BY_NAME["pbb_uca"].get(flow1) == 1 and BY_NAME["pbb_uca"].get(flow0) == 0
    assert BY_NAME["pbb_isid"].get(flow1) == BY_NAME["pbb_isid"].get(flow0) == 100
    match, _ = MC.decode_oxm_match(osken_match(eth_type=0x88E7, pbb_uca=1), 0)
    assert match.matches(flow1) and not match.matches(flow0)


def test_set_field_pbb_uca_through_the_datapath():
    buf = bytearray()
    p14.OFPActionSetField(pbb_uca=1).serialize(buf, 0)
    (act,) = AC.decode_actions(V14, bytes(buf), 0, len(buf))
    assert act == of.SetField(BY_NAME["pbb_uca"], 1)
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match().set("eth_type", 0x88E7).set("pbb_uca", 0), 10,
                      apply(act, of.Output(2)))
    out = translate(provider, extract(pbb_frame(0), 1))
    assert out.wc[Slot.PBB_ISID] & (1 << 27)
    ports[1].inject(pbb_frame(0))
    for i in range(3):
        provider.run(i)
    (sent,) = ports[2].captured
    assert sent == pbb_frame(1)
