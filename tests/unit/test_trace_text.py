"""ofproto/trace's text: the tree layout, the flow, the datapath actions, and what a
translation reports (checked against Open vSwitch 3.1's output, which
tests/integration/test_differential.py compares line for line)."""

from __future__ import annotations

from types import SimpleNamespace

from pyvswitch.datapath import actions as dp
from pyvswitch.openflow import ofpacts as of
from pyvswitch.ofproto_dpif.xlate import PacketInCookie, translate
from pyvswitch.ofproto_dpif.xlate_trace import (
    ACTION, BRIDGE, BUCKET, DETAIL, ERROR, TABLE, WARN, TraceNode, add, final_flow_text,
    format_flow, format_trace, format_trace_actions, subfield_text, tcp_flags_text,
)
from pyvswitch.packet import fields as F
from pyvswitch.packet.fields import Match, Slot
from pyvswitch.vswitchd.unixctl_dpif import trace_text

from test_xlate import apply, ip_flow, make_bridge


def _tree(*nodes):
    """Nodes from (kind, text, [children]) tuples."""
    out = []
    for kind, text, *subs in nodes:
        node = TraceNode(kind, text)
        node.subs = _tree(*(subs[0] if subs else ()))
        out.append(node)
    return out


# --- the layout -----------------------------------------------------------------------------

def test_layout_of_a_resubmit_as_open_vswitch_indents_it():
    tree = _tree((BRIDGE, 'bridge("br0")', [
        (TABLE, " 0. ip,in_port=2, priority 32768", [
            (ACTION, "resubmit(,1)"),
            (TABLE, " 1. ip, priority 32768", [
                (ACTION, "resubmit(,2)"),
                (TABLE, " 2. ip, priority 5", [(ACTION, "output:3")])]),
            (ACTION, "output:1")])]))
    assert format_trace(tree) == [
        "",
        'bridge("br0")',
        "-------------",
        " 0. ip,in_port=2, priority 32768",
        "    resubmit(,1)",
        "     1. ip, priority 32768",
        "            resubmit(,2)",
        "         2. ip, priority 5",
        "            output:3",
        "    output:1",
    ]


def test_details_warnings_errors_and_buckets_have_their_marks():
    tree = _tree((TABLE, " 0. priority 5", [
        (ACTION, "NORMAL"),
        (ERROR, "dropping VLAN 5 tagged packet"),
        (WARN, "disallowed VLAN VID for this input port, dropping"),
        (ACTION, "group:1"),
        (DETAIL, "using bucket 1"),
        (BUCKET, "bucket 1", [(ACTION, "output:4")])]),
        (TABLE, "--. Executing action set:", [(ACTION, "output:3")]))
    assert format_trace(tree) == [
        "     0. priority 5",                    # not the last of its list: one level in
        "            NORMAL",
        "             >>>> dropping VLAN 5 tagged packet <<<<",
        "             >> disallowed VLAN VID for this input port, dropping",
        "            group:1",
        "             -> using bucket 1",
        "            bucket 1",
        "                    output:4",          # a bucket indents its actions twice
        "--. Executing action set:",
        "    output:3",
    ]


def test_a_node_reports_text_anywhere_beneath_it():
    subs = add([], TABLE, " 0. No match.")
    add(subs, ACTION, "drop")
    node = TraceNode(TABLE, " 0. No match.")
    node.subs = subs
    assert "drop" in node and "output" not in node


# --- flows ----------------------------------------------------------------------------------

def _flow(**kw):
    flow = list(F.ZERO_FLOW)
    for name, value in kw.items():
        flow[Slot[name.upper()]] = value
    return flow


def test_flow_shows_every_field_the_packet_has_zeros_included():
    flow = _flow(in_port=1, eth_type=F.ETH_TYPE_IP, nw_proto=6, nw_ttl=64, tp_dst=80,
                 tcp_flags=0x12)
    assert format_flow(flow) == (
        "tcp,in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,"
        "nw_src=0.0.0.0,nw_dst=0.0.0.0,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,tp_src=0,"
        "tp_dst=80,tcp_flags=syn|ack")


def test_flow_of_a_tagged_arp_packet_with_registers_and_recirculation():
    flow = _flow(in_port=3, eth_type=F.ETH_TYPE_ARP, vlan_tci=F.VLAN_CFI | 5, reg3=0x900,
                 recirc_id=1)
    assert format_flow(flow) == (
        "recirc_id=0x1,eth,arp,reg3=0x900,in_port=3,dl_vlan=5,dl_vlan_pcp=0,"
        "vlan_tci1=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,"
        "arp_spa=0.0.0.0,arp_tpa=0.0.0.0,arp_op=0,arp_sha=00:00:00:00:00:00,"
        "arp_tha=00:00:00:00:00:00")


def test_final_flow_is_unchanged_or_the_flow_the_actions_left():
    flow = _flow(in_port=1, eth_type=0x88B5)
    assert final_flow_text(flow, tuple(flow)) == "unchanged"
    moved = list(flow)
    moved[Slot.ETH_DST] = 0x020000000009
    assert final_flow_text(flow, moved) == (
        "in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=02:00:00:00:00:09,"
        "dl_type=0x88b5")


def test_tcp_flags_by_name_reserved_bits_bracketed():
    assert tcp_flags_text(0) == "0"
    assert tcp_flags_text(0x011) == "fin|ack"
    assert tcp_flags_text(0x200) == "[200]"


def test_a_moved_subfield_is_shown_in_hex_a_whole_field_in_its_notation():
    flow = _flow(reg3=0x900, eth_dst=0x020000000009)
    part = of.FieldRef(F.BY_NAME["reg3"], 8, 8)
    whole = of.FieldRef(F.BY_NAME["eth_dst"], 0, 48)
    assert subfield_text(flow, part) == "NXM_NX_REG3[8..15] is now 0x9"
    assert subfield_text(flow, whole) == "NXM_OF_ETH_DST[] is now 02:00:00:00:00:09"
    assert subfield_text(_flow(), part) == "NXM_NX_REG3[8..15] is now 0"


def test_a_packet_for_the_controller_reads_as_open_vswitch_writes_it():
    pin = PacketInCookie(reason=2, table_id=0, cookie=0, max_len=65535, controller_id=0,
                         pipeline=(), in_port=1)
    assert format_trace_actions([dp.Userspace(pin), dp.Output(4)]) == (
        "userspace(pid=0,controller(reason=2,dont_send=1,continuation=0,recirc_id=0,"
        "rule_cookie=0,controller_id=0,max_len=65535)),4")
    cookie = pin._replace(cookie=0x5, controller_id=3)
    assert "dont_send=0,continuation=0,recirc_id=0,rule_cookie=0x5,controller_id=3," in \
        format_trace_actions([dp.Userspace(cookie)], dont_send=False)
    assert format_trace_actions([]) == "drop"


# --- what a translation reports ----------------------------------------------------------------

def _trace(provider, flow, packet_hex=None):
    br = SimpleNamespace(provider=provider, name="br0")
    text = format_flow(flow)
    return trace_text(br, text, packet_hex).split("\n")


def test_trace_text_of_an_output_a_miss_and_a_skipped_input_port():
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match().set("in_port", 1), 100,
                      apply(of.Output(1), of.Output(9), of.Output(2)))
    lines = _trace(provider, ip_flow(1))
    assert lines[2:] == [
        'bridge("br0")',
        "-------------",
        " 0. in_port=1, priority 100",
        "    output:1",
        "     >> skipping output to input port",
        "    output:9",
        "     >> Nonexistent output port",
        "    output:2",
        "",
        "Final flow: unchanged",
        lines[-3],
        f"Datapath actions: {provider.ofp_to_odp[2]}",
        "",
    ]
    assert lines[0].startswith("Flow: udp,in_port=1,vlan_tci=0x0000,")
    miss = _trace(provider, ip_flow(2))
    assert miss[4:6] == [" 0. No match.", "    drop"]


def test_trace_of_a_select_group_tells_the_bucket_it_used():
    ofproto, provider, _ = make_bridge()
    bucket = SimpleNamespace(actions=(of.Output(3),), weight=1, watch_port=None,
                             watch_group=None, bucket_id=7)
    ofproto.groups = {1: SimpleNamespace(type=1, buckets=[bucket])}
    ofproto.flows.add(0, Match(), 1, apply(of.GroupAction(1)))
    lines = _trace(provider, ip_flow(1))
    assert lines[4:9] == [" 0. priority 1", "    group:1", "     -> using bucket 7",
                          "    bucket 7", "            output:3"]


def test_tracing_a_packet_learns_its_source_tracing_a_flow_does_not():
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match(), 1, apply(of.Output(of.OFPP_NORMAL)))
    flow = ip_flow(1, src=0x020000000001, dst=0x020000000002)
    assert "learned that" not in "\n".join(_trace(provider, flow))
    frame = bytes.fromhex("020000000002" "020000000001" "88b5") + bytes(46)
    lines = _trace(provider, flow, frame.hex())
    assert lines[5:8] == ["    NORMAL",
                          "     -> learned that 02:00:00:00:00:01 is on port p1 in VLAN 0",
                          "     -> no learned MAC for destination, flooding"]
    back = _trace(provider, ip_flow(2, src=0x020000000002, dst=0x020000000001))
    assert back[6] == "     -> forwarding to learned port"


def test_untraced_translation_builds_no_trace():
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match(), 1, apply(of.Output(2)))
    out = translate(provider, ip_flow(1))
    assert out.trace is None
    traced = translate(provider, ip_flow(1), trace=True)
    assert [n.text for n in traced.trace] == [" 0. priority 1"]
    assert traced.trace.final_flow == ip_flow(1)


def test_tracing_a_packet_runs_its_actions_but_outputs_tracing_a_flow_nothing():
    from pyvswitch.datapath.dpif import UpcallKind
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match(), 1, apply(of.Controller(max_len=128), of.Output(2)))
    flow = ip_flow(1)
    lines = _trace(provider, flow)
    assert "dont_send=1" in lines[-2] and provider.dpif.run(0) == []
    frame = bytes.fromhex("020000000002" "020000000001" "88b5") + bytes(46)
    lines = _trace(provider, flow, frame.hex())
    assert lines[-2] == (
        "Datapath actions: userspace(pid=0,controller(reason=1,dont_send=0,continuation=0,"
        f"recirc_id=0,rule_cookie=0,controller_id=0,max_len=128)),{provider.ofp_to_odp[2]}")
    upcalls = provider.dpif.run(0)
    assert [(u.kind, u.frame) for u in upcalls] == [(UpcallKind.ACTION, frame)]
    assert ports[2].captured == []             # the output did not happen
