"""Bundles (OF1.4 messages, ONF extension in OF1.3) against os-ken and ovs-ofctl."""

from __future__ import annotations

import pytest

from oracles import ofp_print, osken, osken_bytes, osken_parse
from pyvswitch.openflow import codec
from pyvswitch.openflow import messages as m
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.ofpacts import Output
from pyvswitch.openflow.wire_bundle import (OFPBCT_COMMIT_REPLY, OFPBCT_OPEN_REPLY,
                                            OFPBCT_OPEN_REQUEST, OFPBF_ATOMIC, BundleAdd,
                                            BundleControl)
from pyvswitch.packet.fields import Match


@pytest.mark.parametrize("version", (5, 6))
def test_bundle_control_from_osken_and_reply(version):
    dp, ofp, parser = osken(version)
    req = parser.OFPBundleCtrlMsg(dp, 9, ofp.OFPBCT_OPEN_REQUEST, ofp.OFPBF_ATOMIC, [])
    assert codec.decode(osken_bytes(req)) == BundleControl(9, OFPBCT_OPEN_REQUEST,
                                                           OFPBF_ATOMIC)
    raw = codec.encode(BundleControl(9, OFPBCT_OPEN_REPLY, OFPBF_ATOMIC), version, 1)
    parsed = osken_parse(raw)
    assert (parsed.bundle_id, parsed.type, parsed.flags) == (9, OFPBCT_OPEN_REPLY, 1)
    text = ofp_print(raw)
    assert "bundle_id=0x9 type=OPEN_REPLY flags=atomic" in text


@pytest.mark.parametrize("version", (5, 6))
def test_bundle_add_from_osken_carries_the_inner_flow_mod(version):
    dp, ofp, parser = osken(version)
    inner = parser.OFPFlowMod(dp, table_id=0, priority=5, match=parser.OFPMatch(in_port=1),
                              instructions=[parser.OFPInstructionActions(
                                  ofp.OFPIT_APPLY_ACTIONS, [parser.OFPActionOutput(2)])])
    req = parser.OFPBundleAddMsg(dp, 9, ofp.OFPBF_ATOMIC, inner, [])
    add = codec.decode(osken_bytes(req))
    assert isinstance(add, BundleAdd) and add.bundle_id == 9
    fm = codec.decode(add.message)
    assert isinstance(fm, m.FlowMod) and fm.priority == 5
    assert [a.port for a in fm.instructions.apply] == [2]


@pytest.mark.parametrize("version", (4, 5, 6))
def test_bundle_messages_we_encode_print_in_ovs_ofctl(version):
    fm = m.FlowMod(Match().set("in_port", 1), m.Instructions(apply=(Output(2),)), table_id=0)
    inner = codec.encode(fm, version, 77)
    raw = codec.encode(BundleAdd(3, inner, OFPBF_ATOMIC), version, 77)
    text = ofp_print(raw)
    assert "bundle_id=0x3 flags=atomic" in text and "in_port=1 actions=output:2" in text
    assert codec.decode(raw) == BundleAdd(3, inner, OFPBF_ATOMIC)
    ctl = codec.encode(BundleControl(3, OFPBCT_COMMIT_REPLY), version, 1)
    assert "type=COMMIT_REPLY" in ofp_print(ctl)
    if version == 4:
        assert ofp_print(ctl).startswith("ONFT_BUNDLE_CONTROL")


def test_bundle_add_whose_inner_message_overruns_is_msg_bad_len():
    inner = codec.encode(m.BarrierRequest(), 5, 1)
    raw = bytearray(codec.encode(BundleAdd(1, inner), 5, 1))
    raw[16 + 2:16 + 4] = (200).to_bytes(2, "big")
    with pytest.raises(OFPError) as exc:
        codec.decode(bytes(raw))
    assert exc.value.name == "OFPBFC_MSG_BAD_LEN"


def test_bundle_add_with_another_inner_version_is_rejected():
    inner = codec.encode(m.BarrierRequest(), 4, 1)
    raw = codec.encode(BundleAdd(1, inner), 5, 1)
    with pytest.raises(OFPError) as exc:
        codec.decode(raw)
    assert exc.value.name == "OFPBFC_BAD_VERSION"
