"""PBB (push_pbb, pop_pbb, a pop then a match on the customer frame) and copy_ttl_in/out,
on the wire through dummy ports and the userspace datapath."""

from pyvswitch.openflow import ofpacts as of
from pyvswitch.packet import edit
from pyvswitch.packet.compose import compose
from pyvswitch.packet.extract import extract
from pyvswitch.packet.fields import BY_NAME, ETH_TYPE_PBB, Match, Slot

from tests.unit.test_xlate import apply, ip_flow, make_bridge

LSE = (100 << 12) | (3 << 9) | 0x100 | 64            # bottom of stack, TTL 64


def customer(**kw) -> bytes:
    return compose(ip_flow(1, **kw), payload_len=20)


def pbb_frame(isid=100, **kw) -> bytes:
    return edit.push_pbb(customer(**kw), ETH_TYPE_PBB, isid)


def run(provider, now=0):
    for i in range(3):
        provider.run(now + i)


def test_push_pbb_puts_a_backbone_header_and_an_itag_before_the_frame():
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match().set("eth_type", 0x0800), 1,
                      apply(of.PushPbb(0x88E7), of.Output(2)))
    ports[1].inject(customer())
    run(provider)
    (sent,) = ports[2].captured
    inner = customer()
    assert sent[:12] == inner[:12] and sent[12:14] == b"\x88\xe7"
    assert sent[14:18] == b"\x00\x00\x00\x00" and sent[18:] == inner
    flow = extract(sent, 0)
    assert flow[Slot.ETH_TYPE] == ETH_TYPE_PBB and flow[Slot.PBB_ISID] == 0


def test_set_field_pbb_isid_after_push_pbb_writes_the_itag():
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match(), 1, apply(
        of.PushPbb(0x88E7), of.SetField(BY_NAME["pbb_isid"], 0xABCDE), of.Output(2)))
    ports[1].inject(customer())
    run(provider)
    (sent,) = ports[2].captured
    assert extract(sent, 0)[Slot.PBB_ISID] == 0xABCDE


def test_pop_pbb_leaves_the_customer_frame():
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match().set("eth_type", ETH_TYPE_PBB), 1,
                      apply(of.PopPbb(), of.Output(2)))
    ports[1].inject(pbb_frame())
    run(provider)
    assert ports[2].captured == [customer()]


def test_pop_pbb_then_goto_table_matches_the_customer_headers():
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match().set("eth_type", ETH_TYPE_PBB), 1, of.Instructions(
        apply=(of.PopPbb(),), goto_table=1))
    ofproto.flows.add(1, Match().set("eth_type", 0x0800).set("ip_proto", 17)
                      .set("udp_src", 1000), 1, apply(of.Output(2)))
    ports[1].inject(pbb_frame())
    ports[1].inject(pbb_frame(tp_src=1001))              # no match in table 1: dropped
    run(provider)
    assert ports[2].captured == [customer()]


def test_copy_ttl_out_and_in_between_the_label_and_the_ip_header():
    frame = edit.push_mpls(customer(nw_ttl=32), 0x8847, LSE)
    out = edit.copy_ttl_out(frame)
    assert out[14 + 3] == 32 and out[18:] == frame[18:]
    back = edit.copy_ttl_in(frame)
    assert back[14 + 4 + 8] == 64                       # the IPv4 TTL took the label's
    assert edit.pop_mpls(back, 0x0800) == customer(nw_ttl=64)   # checksum kept right
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match().set("eth_type", 0x8847), 1,
                      apply(of.CopyTtlOut(), of.Output(2)))
    ports[1].inject(frame)
    run(provider)
    assert ports[2].captured == [out]


def test_a_pop_below_the_ethernet_minimum_pads_back_to_60_bytes():
    short = compose(ip_flow(1), payload_len=0)           # 42 bytes of headers
    padded = short + bytes(60 - len(short))
    framed = edit.push_mpls(padded, 0x8847, LSE)          # 64 bytes on the wire
    popped = edit.pop_mpls(framed, 0x0800)
    assert len(popped) == 60 and popped == padded
    assert edit.pop_vlan(edit.push_vlan(padded, 0x8100, 5)) == padded
    # A frame already below the minimum (as captured in memory) is not grown by a pop.
    assert edit.pop_mpls(edit.push_mpls(short, 0x8847, LSE), 0x0800) == short
