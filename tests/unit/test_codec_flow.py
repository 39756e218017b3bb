"""PACKET_IN, PACKET_OUT, FLOW_MOD and FLOW_REMOVED against os-ken and ovs-ofctl."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from oracles import VERSIONS, ofp_print, osken, osken_bytes, osken_parse
from pyvswitch.openflow import codec
from pyvswitch.openflow import messages as m
from pyvswitch.openflow.codec import DecodeOptions
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.ofpacts import (OFPP_CONTROLLER, OFPP_FLOOD, OFPP_NORMAL, Output,
                                        SetField)
from pyvswitch.packet.fields import Match, field

FRAME = bytes.fromhex("ffffffffffff020000000001080600010800060400010200000000010a0000010000"
                      "000000000a000002")


# --- PACKET_IN -----------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_packet_in_is_read_by_osken_and_ovs_ofctl(version):
    pin = m.PacketIn(FRAME, in_port=3, reason=m.OFPR_ACTION, table_id=2, cookie=0xABCD)
    raw = codec.encode(pin, version, 0)
    parsed = osken_parse(raw)
    assert bytes(parsed.data) == FRAME and parsed.total_len == len(FRAME)
    assert parsed.buffer_id == 0xFFFFFFFF and parsed.reason == 1
    if version == 1:
        assert parsed.in_port == 3
    else:
        assert parsed.match["in_port"] == 3
        assert (parsed.table_id, parsed.cookie) == (2, 0xABCD)
    text = ofp_print(raw)
    assert f"total_len={len(FRAME)}" in text and "in_port=3" in text
    assert "(via action)" in text and f"data_len={len(FRAME)}" in text
    assert "arp,vlan_tci=0x0000,dl_src=02:00:00:00:00:01" in text
    if version > 1:
        assert "table_id=2" in text and "cookie=0xabcd" in text
    expected = replace(pin, total_len=len(FRAME))
    if version == 1:     # OF1.0 has no table id or cookie in a packet-in
        expected = replace(expected, table_id=0, cookie=m.ALL_ONES_64)
    assert codec.decode(raw) == expected


@pytest.mark.parametrize("version", VERSIONS)
def test_truncated_packet_in_keeps_the_full_length(version):
    raw = codec.encode(m.PacketIn(FRAME[:20], 1, total_len=len(FRAME)), version, 0)
    parsed = osken_parse(raw)
    assert bytes(parsed.data) == FRAME[:20] and parsed.total_len == len(FRAME)


@pytest.mark.parametrize("version", (4, 5, 6))
def test_packet_in_carries_pipeline_metadata_in_its_match(version):
    meta = Match().set("metadata", 0x1122334455667788).set("reg3", 9)
    pin = m.PacketIn(FRAME, in_port=0xFFFFFFFE, metadata=meta)
    raw = codec.encode(pin, version, 0)
    parsed = osken_parse(raw)
    assert parsed.match["in_port"] == 0xFFFFFFFE
    assert parsed.match["metadata"] == 0x1122334455667788
    text = ofp_print(raw)
    assert "in_port=LOCAL" in text and "metadata=0x1122334455667788" in text
    assert "reg3=0x9" in text and "(via no_match)" in text
    assert codec.decode(raw) == replace(pin, total_len=len(FRAME))


def test_packet_in_reasons_newer_than_the_version_travel_as_action():
    raw = codec.encode(m.PacketIn(FRAME, 1, reason=m.OFPR_GROUP), 4, 0)
    assert codec.decode(raw).reason == m.OFPR_ACTION
    raw = codec.encode(m.PacketIn(FRAME, 1, reason=m.OFPR_GROUP), 5, 0)
    assert "(via group)" in ofp_print(raw)


@pytest.mark.parametrize("version", (1, 4))
def test_nxt_packet_in_for_sessions_that_chose_it(version):
    meta = Match().set("reg0", 0x5)
    pin = m.PacketIn(FRAME, in_port=4, reason=m.OFPR_ACTION, table_id=7, cookie=0x10,
                     metadata=meta)
    raw = codec.encode_packet_in(pin, version, 0, m.NXPIF_NXT_PACKET_IN)
    text = ofp_print(raw)
    assert text.startswith("NXT_PACKET_IN") and "table_id=7" in text
    assert "cookie=0x10" in text and "reg0=0x5,in_port=4" in text
    assert f"total_len={len(FRAME)}" in text and "(via action)" in text
    assert codec.decode(raw) == replace(pin, total_len=len(FRAME))
    if version == 1:
        # os-ken's NXT_PACKET_IN parser forgets the 2 pad bytes before the frame, so only
        # the fixed fields are compared; ovs-ofctl above decoded the frame itself.
        parsed = osken_parse(raw).data      # os-ken wraps Nicira messages in OFPVendor
        assert (parsed.table_id, parsed.total_len, parsed.cookie) == (7, len(FRAME), 0x10)


@pytest.mark.parametrize("version", (1, 4, 6))
def test_nxt_packet_in2(version):
    meta = Match().set("reg0", 0x5).set("metadata", 0x77)
    pin = m.PacketIn(FRAME, in_port=4, reason=m.OFPR_ACTION, table_id=7, cookie=0x10,
                     total_len=len(FRAME), metadata=meta, userdata=b"\x01\x02\x03")
    raw = codec.encode_packet_in(pin, version, 0, m.NXPIF_NXT_PACKET_IN2)
    text = ofp_print(raw)
    assert text.startswith("NXT_PACKET_IN2") and "table_id=7" in text
    assert "cookie=0x10" in text and "reg0=0x5" in text and "in_port=4" in text
    assert "metadata=0x77" in text and f"total_len={len(FRAME)}" in text
    assert "userdata=01.02.03" in text and "(via action)" in text
    assert codec.decode(raw) == pin
    cut = replace(pin, data=FRAME[:30], continuation=b"\xaa" * 12)
    assert codec.decode(codec.encode_packet_in(cut, version, 0, m.NXPIF_NXT_PACKET_IN2)) == cut


# --- PACKET_OUT ----------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_packet_out_from_osken(version):
    dp, ofp, parser = osken(version)
    actions = [parser.OFPActionOutput(2, 0), parser.OFPActionOutput(ofp.OFPP_FLOOD, 0)]
    if version == 6:
        match = parser.OFPMatch(in_port=ofp.OFPP_CONTROLLER)
        req = parser.OFPPacketOut(dp, ofp.OFP_NO_BUFFER, match, actions, FRAME)
    else:
        req = parser.OFPPacketOut(dp, 0xFFFFFFFF, ofp.OFPP_CONTROLLER, actions, FRAME)
    po = codec.decode(osken_bytes(req))
    assert isinstance(po, m.PacketOut)
    assert (po.buffer_id, po.in_port, po.data) == (0xFFFFFFFF, OFPP_CONTROLLER, FRAME)
    assert [a.port for a in po.actions] == [2, OFPP_FLOOD]
    raw = codec.encode(po, version, 1)
    text = ofp_print(raw)
    assert "in_port=CONTROLLER" in text and "actions=output:2,FLOOD" in text
    assert codec.decode(raw) == po


def test_packet_out_with_actions_longer_than_the_message_is_bad_len():
    raw = bytearray(codec.encode(m.PacketOut(0xFFFFFFFF, 1, (Output(2),), b""), 4, 1))
    raw[16:18] = (200).to_bytes(2, "big")
    with pytest.raises(OFPError) as exc:
        codec.decode(bytes(raw))
    assert exc.value.name == "OFPBRC_BAD_LEN"


# --- FLOW_MOD ------------------------------------------------------------------------------

def _osken_flow_mod(version, table_id=1, command=None):
    dp, ofp, parser = osken(version)
    command = ofp.OFPFC_ADD if command is None else command
    if version == 1:
        match = parser.OFPMatch(in_port=1, dl_type=0x0800, nw_proto=6, tp_dst=80)
        return dp, osken_bytes(parser.OFPFlowMod(
            dp, match, 0x55, command, 10, 20, 100, 0xFFFFFFFF, 0xFFFF, 1,
            [parser.OFPActionOutput(2, 0)]))
    match = parser.OFPMatch(in_port=1, eth_type=0x0800, ip_proto=6, tcp_dst=80)
    inst = [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS,
                                         [parser.OFPActionOutput(2, 0)]),
            parser.OFPInstructionGotoTable(table_id + 1)]
    return dp, osken_bytes(parser.OFPFlowMod(
        dp, cookie=0x55, cookie_mask=0xFF, table_id=table_id, command=command,
        idle_timeout=10, hard_timeout=20, priority=100, buffer_id=0xFFFFFFFF,
        out_port=0xFFFFFFFF, out_group=0xFFFFFFFF, flags=1, match=match, instructions=inst))


@pytest.mark.parametrize("version", VERSIONS)
def test_flow_mod_from_osken(version):
    _, raw = _osken_flow_mod(version)
    fm = codec.decode(raw)
    assert isinstance(fm, m.FlowMod)
    assert (fm.command, fm.cookie, fm.idle_timeout, fm.hard_timeout, fm.priority) == \
        (m.OFPFC_ADD, 0x55, 10, 20, 100)
    assert fm.flags == m.OFPFF_SEND_FLOW_REM and fm.buffer_id == 0xFFFFFFFF
    assert fm.match.get("in_port") == (1, 0xFFFFFFFF)
    assert fm.match.get("tcp_dst") == (80, 0xFFFF)
    assert fm.match.get("ip_proto")[0] == 6
    assert fm.instructions.apply == (Output(2),)
    if version == 1:
        assert (fm.table_id, fm.cookie_mask, fm.out_port) == (0xFF, 0, 0xFFFFFFFF)
    else:
        assert (fm.table_id, fm.cookie_mask, fm.instructions.goto_table) == (1, 0xFF, 2)


@pytest.mark.parametrize("version", VERSIONS)
def test_flow_mod_we_encode_prints_the_same_flow_in_ovs_ofctl(version):
    match = Match().set("in_port", 1).set("eth_type", 0x0800).set("ip_proto", 6)
    match.set("tcp_dst", 80)
    inst = m.Instructions(apply=(Output(OFPP_NORMAL),)) if version == 1 else \
        m.Instructions(apply=(Output(2),), goto_table=3)
    fm = m.FlowMod(match, inst, m.OFPFC_MODIFY_STRICT, cookie=0x77,
                   cookie_mask=0 if version == 1 else 0xFFFF,
                   table_id=0xFF if version == 1 else 1, idle_timeout=5, priority=123,
                   flags=m.OFPFF_SEND_FLOW_REM)
    raw = codec.encode(fm, version, 3)
    text = ofp_print(raw)
    assert "MOD_STRICT" in text and "priority=123" in text and "idle:5" in text
    assert "tcp,in_port=1" in text and "tp_dst=80" in text
    assert ("cookie:0x77" if version == 1 else "cookie:0x77/0xffff") in text
    assert "send_flow_rem" in text
    assert ("actions=NORMAL" in text) if version == 1 else ("goto_table:3" in text)
    assert codec.decode(raw) == fm


def test_of10_flow_mod_with_a_match_ofp_match_cannot_hold_goes_as_nxt_flow_mod():
    match = Match().set("in_port", 1).set("reg0", 5)
    fm = m.FlowMod(match, m.Instructions(apply=(Output(2),)), priority=7)
    raw = codec.encode(fm, 1, 3)
    text = ofp_print(raw)
    assert text.startswith("NXT_FLOW_MOD") and "reg0=0x5,in_port=1" in text
    assert codec.decode(raw) == fm


def test_nxt_flow_mod_from_osken():
    dp, ofp, parser = osken(1)
    rule = __import__("os_ken.ofproto.nx_match", fromlist=["ClsRule"]).ClsRule()
    rule.set_in_port(4)
    rule.set_reg(1, 0x99)
    req = parser.NXTFlowMod(dp, cookie=9, command=ofp.OFPFC_ADD, priority=50, rule=rule,
                            actions=[parser.OFPActionOutput(3, 0)])
    fm = codec.decode(osken_bytes(req))
    assert fm.match.get("in_port")[0] == 4 and fm.match.get("reg1") == (0x99, 0xFFFFFFFF)
    assert (fm.cookie, fm.priority, fm.instructions.apply) == (9, 50, (Output(3),))


def test_of10_flow_mod_table_id_only_with_the_session_option():
    fm = m.FlowMod(Match().set("in_port", 1), m.Instructions(apply=()), m.OFPFC_DELETE,
                   table_id=4)
    raw = codec.encode(fm, 1, 1)
    assert codec.decode(raw, DecodeOptions(flow_mod_table_id=True)).table_id == 4
    with pytest.raises(OFPError) as exc:
        codec.decode(raw)
    assert exc.value.name == "OFPFMFC_BAD_COMMAND"


def test_of10_exact_match_flow_mod_gets_the_highest_priority():
    dp, ofp, parser = osken(1)
    match = parser.OFPMatch(wildcards=0, in_port=1, dl_src=b"\x02" * 6, dl_dst=b"\x03" * 6,
                            dl_vlan=0xFFFF, dl_vlan_pcp=0, dl_type=0x0800, nw_tos=0,
                            nw_proto=17, nw_src=1, nw_dst=2, tp_src=3, tp_dst=4)
    raw = osken_bytes(parser.OFPFlowMod(dp, match, 0, ofp.OFPFC_ADD, 0, 0, 5, 0xFFFFFFFF,
                                        0xFFFF, 0, []))
    assert codec.decode(raw).priority == 0xFFFF


@pytest.mark.parametrize("version", (4, 5, 6))
def test_flow_mod_with_an_unknown_command_is_bad_command(version):
    dp, ofp, parser = osken(version)
    _, raw = _osken_flow_mod(version, command=9)
    with pytest.raises(OFPError) as exc:
        codec.decode(raw)
    assert exc.value.name == "OFPFMFC_BAD_COMMAND"


def test_set_field_flow_mod_round_trip():
    match = Match().set("eth_type", 0x0800)
    inst = m.Instructions(apply=(SetField(field("ip_dst"), 0x0A000001), Output(1)))
    fm = m.FlowMod(match, inst, table_id=0)
    raw = codec.encode(fm, 4, 1)
    assert "set_field:10.0.0.1->ip_dst" in ofp_print(raw)
    assert codec.decode(raw) == fm


# --- FLOW_REMOVED --------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_flow_removed_is_read_by_osken_and_ovs_ofctl(version):
    match = Match().set("in_port", 2).set("eth_type", 0x0806)
    fr = m.FlowRemoved(match, cookie=0x42, priority=300, reason=m.OFPRR_IDLE_TIMEOUT,
                       table_id=0 if version == 1 else 3, duration_sec=12,
                       duration_nsec=500000000, idle_timeout=10,
                       hard_timeout=0, packet_count=7, byte_count=420)
    raw = codec.encode(fr, version, 0)
    parsed = osken_parse(raw)
    assert (parsed.cookie, parsed.priority, parsed.reason) == (0x42, 300, 0)
    if version < 6:
        assert (parsed.packet_count, parsed.byte_count, parsed.duration_sec) == (7, 420, 12)
    text = ofp_print(raw)
    assert "arp,in_port=2" in text and "reason=idle" in text and "cookie:0x42" in text
    assert re.search(r"duration:?12\.50*s", text), text
    assert "pkts7" in text.replace(":", "") and "bytes420" in text.replace(":", "")
    if version > 1:
        assert "table_id=3" in text
    assert codec.decode(raw) == fr


def test_of10_flow_removed_with_nxm_fields_goes_as_nxt_flow_removed():
    fr = m.FlowRemoved(Match().set("reg2", 1), 1, 5, m.OFPRR_DELETE, packet_count=3)
    raw = codec.encode(fr, 1, 0)
    text = ofp_print(raw)
    assert text.startswith("NXT_FLOW_REMOVED") and "reg2=0x1" in text
    assert "reason=delete" in text
    assert codec.decode(raw) == fr


def test_flow_removed_reasons_newer_than_the_version_travel_as_delete():
    fr = m.FlowRemoved(Match(), 1, 5, m.OFPRR_EVICTION)
    assert codec.decode(codec.encode(fr, 4, 0)).reason == m.OFPRR_DELETE
    assert "reason=eviction" in ofp_print(codec.encode(fr, 5, 0))


def test_nxt_flow_mod_selecting_by_cookie():
    """NXT_FLOW_MOD whose NXM match carries NXM_NX_COOKIE: the match's cookie filters,
    the header's cookie is the one to set (ovs-ofctl -O OpenFlow10 mod-flows cookie=X/M)."""
    fm = m.FlowMod(Match().set("in_port", 1), m.Instructions(apply=(Output(2),)),
                   command=m.OFPFC_MODIFY, cookie=0x10, cookie_mask=0xF0, new_cookie=0x7)
    raw = codec.encode(fm, 0x01, 3)
    assert "MOD in_port=1 cookie:0x7 cookie:0x10/0xf0 actions=output:2" in ofp_print(raw)
    back = codec.decode(raw)
    assert (back.cookie, back.cookie_mask, back.new_cookie) == (0x10, 0xF0, 0x7)
    assert back.match == fm.match
    plain = codec.decode(codec.encode(replace(fm, cookie_mask=0, new_cookie=None), 0x01, 3))
    assert (plain.cookie, plain.cookie_mask, plain.new_cookie) == (0x10, 0, None)
