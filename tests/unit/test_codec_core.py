"""Handshake and control messages against os-ken and ovs-ofctl."""

from __future__ import annotations

import re
import struct

import pytest

from oracles import VERSIONS, ofp_print, osken, osken_bytes, osken_parse
from pyvswitch.openflow import codec
from pyvswitch.openflow import messages as m
from pyvswitch.openflow.errors import OFPError

OF13_UP = (4, 5, 6)


# --- HELLO ---------------------------------------------------------------------------------

@pytest.mark.parametrize("version", OF13_UP)
def test_hello_bitmap_is_negotiated_to_the_highest_common_version(version):
    # os-ken does not serialize hello elements, so the bitmap is spelled out here
    # (OpenFlow 1.3 section A.5.1: type 1, length 8, one 32-bit word, padded to 8).
    bitmap = (1 << 1) | (1 << 4) | (1 << version)
    raw = bytes([version, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0, 8]) + bitmap.to_bytes(4, "big")
    hello = codec.decode(raw)
    assert hello.versions == {1, 4, version}
    assert hello.negotiate({1, 4, 5, 6}) == version
    assert hello.negotiate({1}) == 1
    assert hello.negotiate({5, 6} - {version}) is None


def test_hello_without_bitmap_offers_everything_up_to_its_header_version():
    dp, ofp, parser = osken(1)
    hello = codec.decode(osken_bytes(parser.OFPHello(dp)))
    assert not hello.has_bitmap and hello.negotiate({1, 4, 5, 6}) == 1
    raw = bytes([5, 0, 0, 8, 0, 0, 0, 1])
    assert codec.decode(raw).negotiate({1, 4, 6}) == 4


def test_hello_from_a_future_version_still_decodes():
    raw = bytes([9, 0, 0, 8, 0, 0, 0, 1])
    assert codec.decode(raw).negotiate({1, 4, 5, 6}) == 6


def test_our_hello_is_read_by_osken_and_ovs_ofctl():
    raw = codec.encode_hello({1, 4, 5, 6})
    parsed = osken_parse(raw)
    assert parsed.version == 6
    assert set(parsed.elements[0].versions) == {1, 4, 5, 6}
    text = ofp_print(raw)
    assert "version bitmap: 0x01, 0x04, 0x05, 0x06" in text


# --- ECHO, FEATURES, CONFIG, BARRIER -------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_echo_request_from_osken_and_reply_to_it(version):
    dp, ofp, parser = osken(version)
    req = codec.decode(osken_bytes(parser.OFPEchoRequest(dp, data=b"ping")))
    assert req == m.EchoRequest(b"ping")
    raw = codec.encode(m.EchoReply(req.data), version, 0x1234)
    parsed = osken_parse(raw)
    assert isinstance(parsed, parser.OFPEchoReply) and bytes(parsed.data) == b"ping"
    assert "OFPT_ECHO_REPLY" in ofp_print(raw)


@pytest.mark.parametrize("version", VERSIONS)
def test_features(version):
    dp, ofp, parser = osken(version)
    assert codec.decode(osken_bytes(parser.OFPFeaturesRequest(dp))) == m.FeaturesRequest()
    port = m.PortDesc(3, bytes.fromhex("0a0b0c0d0e0f"), "veth-a", curr=0x2820)
    reply = m.FeaturesReply(0xCAFE, 0, 254, 0, 0x4F, 0xFFF, (port,) if version == 1 else ())
    raw = codec.encode(reply, version, 7)
    parsed = osken_parse(raw)
    assert (parsed.datapath_id, parsed.n_buffers, parsed.n_tables) == (0xCAFE, 0, 254)
    assert parsed.capabilities == 0x4F
    text = ofp_print(raw)
    assert "dpid:000000000000cafe" in text and "n_tables:254" in text
    if version == 1:
        assert parsed.ports[3].name == b"veth-a"
        assert " 3(veth-a): addr:0a:0b:0c:0d:0e:0f" in text
    expected = reply if version == 1 else m.FeaturesReply(0xCAFE, 0, 254, 0, 0x4F)
    assert codec.decode(raw) == expected     # the actions bitmap exists only in OF1.0


@pytest.mark.parametrize("version", VERSIONS)
def test_switch_config(version):
    dp, ofp, parser = osken(version)
    assert codec.decode(osken_bytes(parser.OFPGetConfigRequest(dp))) == m.GetConfigRequest()
    assert codec.decode(osken_bytes(parser.OFPSetConfig(dp, 1, 256))) == m.SetConfig(1, 256)
    raw = codec.encode(m.GetConfigReply(0, 128), version, 9)
    parsed = osken_parse(raw)
    assert (parsed.flags, parsed.miss_send_len) == (0, 128)
    assert "miss_send_len=128" in ofp_print(raw)


@pytest.mark.parametrize("version", VERSIONS)
def test_barrier(version):
    dp, ofp, parser = osken(version)
    assert codec.decode(osken_bytes(parser.OFPBarrierRequest(dp))) == m.BarrierRequest()
    raw = codec.encode(m.BarrierReply(), version, 77)
    assert isinstance(osken_parse(raw), parser.OFPBarrierReply)
    assert "OFPT_BARRIER_REPLY" in ofp_print(raw)


# --- ROLES ---------------------------------------------------------------------------------

@pytest.mark.parametrize("version", OF13_UP)
def test_role_request_and_reply(version):
    dp, ofp, parser = osken(version)
    raw = osken_bytes(parser.OFPRoleRequest(dp, ofp.OFPCR_ROLE_MASTER, generation_id=42))
    assert codec.decode(raw) == m.RoleRequest(m.ROLE_MASTER, 42)
    out = codec.encode(m.RoleReply(m.ROLE_SLAVE, 43), version, 5)
    parsed = osken_parse(out)
    assert (parsed.role, parsed.generation_id) == (ofp.OFPCR_ROLE_SLAVE, 43)
    assert "role=secondary generation_id=43" in ofp_print(out)  # OVS 2.15+ words


def test_nicira_role_request_and_reply_for_of10():
    dp, ofp, parser = osken(1)
    raw = osken_bytes(parser.NXTRoleRequest(dp, ofp.NX_ROLE_SLAVE))
    assert codec.decode(raw) == m.RoleRequest(m.ROLE_SLAVE, None)
    out = codec.encode(m.RoleReply(m.ROLE_MASTER), 1, 5)
    assert "NXT_ROLE_REPLY" in ofp_print(out) and "role=primary" in ofp_print(out)
    assert codec.decode(out) == m.RoleReply(m.ROLE_MASTER, None)


def test_role_with_an_unknown_number_is_bad_role():
    dp, ofp, parser = osken(4)
    raw = osken_bytes(parser.OFPRoleRequest(dp, 7, 0))
    with pytest.raises(OFPError) as exc:
        codec.decode(raw)
    assert exc.value.name == "OFPRRFC_BAD_ROLE"


@pytest.mark.parametrize("version", OF13_UP)
def test_role_status(version):
    raw = codec.encode(m.RoleStatus(m.ROLE_SLAVE, 0, 99), version, 0)
    text = ofp_print(raw)
    assert "role=secondary" in text and "generation_id=99" in text
    assert "reason=primary_request" in text
    assert codec.decode(raw) == m.RoleStatus(m.ROLE_SLAVE, 0, 99)
    if version >= 5:
        parsed = osken_parse(raw)
        assert (parsed.role, parsed.reason, parsed.generation_id) == (3, 0, 99)


# --- ASYNC ---------------------------------------------------------------------------------

def test_set_async_of13_from_osken():
    dp, ofp, parser = osken(4)
    raw = osken_bytes(parser.OFPSetAsync(dp, [3, 1], [7, 7], [15, 0]))
    cfg = codec.decode(raw).config
    assert cfg.packet_in == (3, 1) and cfg.port_status == (7, 7)
    assert cfg.flow_removed == (15, 0) and cfg.role_status is None


@pytest.mark.parametrize("version", (5, 6))
def test_set_async_of14_properties_from_osken_keep_what_is_absent_unchanged(version):
    dp, ofp, parser = osken(version)
    props = [parser.OFPAsyncConfigPropReasons(ofp.OFPACPT_PACKET_IN_MASTER, mask=5),
             parser.OFPAsyncConfigPropReasons(ofp.OFPACPT_TABLE_STATUS_SLAVE, mask=8)]
    cfg = codec.decode(osken_bytes(parser.OFPSetAsync(dp, props))).config
    assert cfg.packet_in == (5, None) and cfg.table_status == (None, 8)
    base = m.AsyncConfig(packet_in=(1, 2), port_status=(7, 7))
    merged = cfg.merged_onto(base)
    assert merged.packet_in == (5, 2) and merged.port_status == (7, 7)
    assert merged.table_status == (None, 8)


@pytest.mark.parametrize("version", (5, 6))
def test_set_async_with_a_property_the_switch_does_not_know(version):
    """As Open vSwitch answers: OFPACFC_UNSUPPORTED for an unknown property type,
    OFPBPC_BAD_EXP_TYPE for an experimenter one, OFPBPC_BAD_LEN for a short one; a
    GET_ASYNC_REPLY (read loosely) skips them."""
    good = struct.pack("!HHI", 0, 8, 5)
    for prop, error in ((struct.pack("!HHI", 12, 8, 1), "OFPACFC_UNSUPPORTED"),
                        (struct.pack("!HHII", 0xFFFF, 12, 0x2320, 1), "OFPBPC_BAD_EXP_TYPE"),
                        (struct.pack("!HH", 0xFFFE, 4) + bytes(4), "OFPBPC_BAD_LEN"),
                        (struct.pack("!HHI", 0, 6, 0), "OFPBPC_BAD_LEN")):
        raw = struct.pack("!BBHI", version, 28, 8 + len(good) + len(prop), 1) + good + prop
        with pytest.raises(OFPError) as err:
            codec.decode(raw)
        assert err.value.name == error
    reply = struct.pack("!BBHI", version, 27, 8 + 24, 1) + good + struct.pack(
        "!HHII", 0xFFFF, 12, 0x2320, 1) + bytes(4)
    assert codec.decode(reply).config.packet_in == (None, 5)


def test_nicira_set_async_config_for_of10():
    dp, ofp, parser = osken(1)
    raw = osken_bytes(parser.NXTSetAsyncConfig(dp, [1, 2], [3, 4], [5, 6]))
    cfg = codec.decode(raw).config
    assert (cfg.packet_in, cfg.port_status, cfg.flow_removed) == ((1, 2), (3, 4), (5, 6))


@pytest.mark.parametrize("version", OF13_UP)
def test_get_async_reply_is_read_by_osken_and_ovs_ofctl(version):
    dp, ofp, parser = osken(version)
    assert codec.decode(osken_bytes(parser.OFPGetAsyncRequest(dp))) == m.GetAsyncRequest()
    full = dict(packet_in=(0b11, 0), port_status=(0b111, 0b111), flow_removed=(0b1111, 0))
    if version >= 5:
        full.update(role_status=(0b11, 0), table_status=(0, 0), requestforward=(0, 0))
    cfg = m.AsyncConfig(**full)
    raw = codec.encode(m.GetAsyncReply(cfg), version, 3)
    parsed = osken_parse(raw)
    if version == 4:
        assert parsed.packet_in_mask == [3, 0] and parsed.port_status_mask == [7, 7]
    else:
        masks = {p.type: p.mask for p in parsed.properties}
        assert masks[ofp.OFPACPT_PACKET_IN_MASTER] == 3
        assert masks[ofp.OFPACPT_FLOW_REMOVED_MASTER] == 15
    text = ofp_print(raw)
    master = text.split("slave")[0]
    assert re.search(r"PACKET_IN:\s+no_match action", master), text
    assert codec.decode(raw).config == cfg


# --- Nicira session controls ---------------------------------------------------------------

def test_nicira_controls_from_osken():
    dp, ofp, parser = osken(1)
    assert codec.decode(osken_bytes(parser.NXTSetFlowFormat(dp, ofp.NXFF_NXM))) == \
        m.SetFlowFormat(m.NXFF_NXM)
    assert codec.decode(osken_bytes(parser.NXTFlowModTableId(dp, 1))) == m.FlowModTableId(True)
    assert codec.decode(osken_bytes(parser.NXTSetPacketInFormat(dp, 1))) == \
        m.SetPacketInFormat(1)
    assert codec.decode(osken_bytes(parser.NXTSetControllerId(dp, 7))) == m.SetControllerId(7)


@pytest.mark.parametrize("msg, words", [
    (m.SetFlowFormat(m.NXFF_NXM), "format=nxm"),
    (m.FlowModTableId(True), "NXT_FLOW_MOD_TABLE_ID (xid=0x1): enable"),
    (m.SetPacketInFormat(2), "format=nxt_packet_in2"),
    (m.SetControllerId(7), "id=7"),
])
def test_nicira_controls_print_in_ovs_ofctl(msg, words):
    text = ofp_print(codec.encode(msg, 1, 1))
    assert words in text, text


def test_nicira_controller_id_with_nonzero_padding_is_rejected():
    raw = bytearray(codec.encode(m.SetControllerId(7), 1, 1))
    raw[17] = 1
    with pytest.raises(OFPError) as exc:
        codec.decode(bytes(raw))
    assert exc.value.name == "NXBRC_MUST_BE_ZERO"


# --- what the decoder refuses --------------------------------------------------------------

@pytest.mark.parametrize("raw, name", [
    (bytes([4, 99, 0, 8, 0, 0, 0, 1]), "OFPBRC_BAD_TYPE"),
    (bytes([2, 2, 0, 8, 0, 0, 0, 1]), "OFPBRC_BAD_VERSION"),
    (bytes([4, 5, 0, 9, 0, 0, 0, 1, 0]), "OFPBRC_BAD_LEN"),
    (bytes([4, 18, 0, 16, 0, 0, 0, 1, 0, 99, 0, 0, 0, 0, 0, 0]), "OFPBRC_BAD_STAT"),
    (bytes([4, 4, 0, 16, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1]), "OFPBRC_BAD_EXPERIMENTER"),
    (bytes([1, 4, 0, 16, 0, 0, 0, 1, 0, 0, 0x23, 0x20, 0, 0, 0x7f, 0]), "OFPBRC_BAD_SUBTYPE"),
    (bytes([4, 0x13, 0, 8, 0, 0, 0, 1]), "OFPBRC_BAD_LEN"),
])
def test_decode_names_the_error_ovs_would_send(raw, name):
    with pytest.raises(OFPError) as exc:
        codec.decode(raw)
    assert exc.value.name == name


def test_header_length_must_match_the_buffer():
    raw = codec.encode(m.EchoRequest(b"abc"), 4, 1)
    with pytest.raises(OFPError) as exc:
        codec.decode(raw + b"x")
    assert exc.value.name == "OFPBRC_BAD_LEN"
