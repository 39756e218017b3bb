"""Flow monitors (OF1.4+ and the Nicira OF1.0 form) against ovs-ofctl and os-ken."""

from __future__ import annotations

import pytest

from oracles import ofp_print, osken, osken_bytes
from pyvswitch.openflow import codec
from pyvswitch.openflow import messages as m
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.ofpacts import Output
from pyvswitch.openflow.wire_monitor import (
    OFPFMC_ADD, OFPFME_ABBREV, OFPFME_ADDED, OFPFME_INITIAL, OFPFMF_ADD, OFPFMF_INITIAL,
    OFPFMF_INSTRUCTIONS, OFPFMF_ONLY_OWN, FlowMonitorCancel, FlowMonitorPaused,
    FlowMonitorReply, FlowMonitorRequest, FlowMonitorResumed, FlowUpdate)
from pyvswitch.packet.fields import Match

IN1 = Match().set("in_port", 1)


@pytest.mark.parametrize("version", (5, 6))
def test_of14_monitor_request_from_osken(version):
    dp, ofp, parser = osken(version)
    req = parser.OFPFlowMonitorRequest(
        dp, 0, 4, ofp.OFPP_ANY, ofp.OFPG_ANY, ofp.OFPFMF_INITIAL | ofp.OFPFMF_ADD, 0xFF,
        ofp.OFPFMC_ADD, parser.OFPMatch(in_port=1))
    got = codec.decode(osken_bytes(req))
    assert got == FlowMonitorRequest(4, OFPFMF_INITIAL | OFPFMF_ADD, IN1, 0xFF,
                                     command=OFPFMC_ADD)


@pytest.mark.parametrize("version", (1, 5, 6))
def test_monitor_request_and_reply_print_in_ovs_ofctl(version):
    flags = OFPFMF_INITIAL | OFPFMF_ADD | OFPFMF_INSTRUCTIONS | OFPFMF_ONLY_OWN
    req = FlowMonitorRequest(3, flags, IN1, nxm=version == 1)
    raw = codec.encode(req, version, 1)
    text = ofp_print(raw)
    assert "id=3 flags=initial,add,actions,own" in text and "in_port=1" in text
    assert codec.decode(raw) == req
    first = OFPFME_ADDED if version == 1 else OFPFME_INITIAL
    updates = (FlowUpdate(first, 2, 0, 5, 0, 100, 0x11, IN1,
                          m.Instructions(apply=(Output(2),))),
               FlowUpdate(OFPFME_ABBREV, xid=7))
    reply = FlowMonitorReply(updates, nxm=version == 1)
    raw = codec.encode(reply, version, 1)
    text = ofp_print(raw)
    assert "table=2 idle_timeout=5 cookie=0x11 in_port=1 actions=output:2" in text
    assert "event=ABBREV xid=0x7" in text
    assert codec.decode(raw) == reply


def test_nicira_cancel_paused_resumed():
    for msg, word in ((FlowMonitorCancel(3), "NXT_FLOW_MONITOR_CANCEL (xid=0x1): id=3"),
                      (FlowMonitorPaused(), "NXT_FLOW_MONITOR_PAUSED"),
                      (FlowMonitorResumed(), "NXT_FLOW_MONITOR_RESUMED")):
        raw = codec.encode(msg, 1, 1)
        assert word in ofp_print(raw)
        assert codec.decode(raw) == msg


def test_of13_monitor_request_round_trips_in_the_onf_form():
    req = FlowMonitorRequest(1, OFPFMF_INITIAL | OFPFMF_ADD, IN1)
    raw = codec.encode(req, 4, 1)
    assert raw[1] == 18 and int.from_bytes(raw[8:10], "big") == 0xFFFF  # ONF experimenter
    assert codec.decode(raw) == req


def test_nicira_update_with_an_unknown_event_is_rejected():
    raw = bytearray(codec.encode(FlowMonitorReply((FlowUpdate(OFPFME_ABBREV, xid=1),),
                                                  nxm=True), 1, 1))
    raw[24 + 2:24 + 4] = b"\x00\x09"
    with pytest.raises(OFPError) as exc:
        codec.decode(bytes(raw))
    assert exc.value.name == "NXBRC_FM_BAD_EVENT"
