"""Port descriptions, PORT_STATUS/PORT_MOD/TABLE_MOD and the multipart framework."""

from __future__ import annotations

import struct

import pytest

from oracles import VERSIONS, ofp_print, osken, osken_bytes, osken_parse
from pyvswitch.openflow import codec
from pyvswitch.openflow import messages as m
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.framing import MAX_MESSAGE, parse_header
from pyvswitch.openflow.multipart import MultipartAssembler

MAC = bytes.fromhex("020000000001")
OFPPF_1GB_FD, OFPPF_COPPER, OFPPF_AUTONEG = 1 << 5, 1 << 11, 1 << 13


def port(no=1, name="p1", **kw):
    return m.PortDesc(no, MAC, name, curr=OFPPF_1GB_FD | OFPPF_COPPER | OFPPF_AUTONEG,
                      advertised=OFPPF_1GB_FD, supported=OFPPF_1GB_FD | OFPPF_AUTONEG,
                      curr_speed=1000000, max_speed=1000000, **kw)


@pytest.mark.parametrize("version", VERSIONS)
def test_port_status_is_read_by_osken_and_ovs_ofctl(version):
    dp, ofp, parser = osken(version)
    desc = port(7, "veth7", state=m.OFPPS_LINK_DOWN, config=m.OFPPC_PORT_DOWN)
    raw = codec.encode(m.PortStatus(m.OFPPR_MODIFY, desc), version, 0)
    parsed = osken_parse(raw)
    assert parsed.reason == ofp.OFPPR_MODIFY
    assert parsed.desc.port_no == 7 and parsed.desc.name.rstrip(b"\0") == b"veth7"
    assert parsed.desc.hw_addr == "02:00:00:00:00:01"
    text = ofp_print(raw)
    assert "MOD: 7(veth7): addr:02:00:00:00:00:01" in text
    assert "PORT_DOWN" in text and "LINK_DOWN" in text
    assert "1GB-FD COPPER AUTO_NEG" in text
    if version > 1:
        assert "speed: 1000 Mbps now, 1000 Mbps max" in text
    back = codec.decode(raw)
    expected = desc if version > 1 else m.PortDesc(
        7, MAC, "veth7", desc.config, desc.state, desc.curr, desc.advertised, desc.supported)
    assert back == m.PortStatus(m.OFPPR_MODIFY, expected)


def test_of10_reserved_port_numbers_map_to_32_bits():
    raw = codec.encode(m.PortStatus(m.OFPPR_ADD, port(0xFFFFFFFE, "br0")), 1, 0)
    assert "LOCAL(br0)" in ofp_print(raw)
    assert codec.decode(raw).desc.port_no == 0xFFFFFFFE


def test_long_port_names_are_cut_to_15_bytes():
    raw = codec.encode(m.PortStatus(m.OFPPR_ADD, port(1, "x" * 40)), 4, 0)
    assert codec.decode(raw).desc.name == "x" * 15


@pytest.mark.parametrize("version", VERSIONS)
def test_port_mod_from_osken(version):
    dp, ofp, parser = osken(version)
    args = dict(port_no=5, hw_addr="02:00:00:00:00:01", config=1, mask=1)
    if version >= 5:
        prop = parser.OFPPortModPropEthernet(ofp.OFPPMPT_ETHERNET, advertise=OFPPF_1GB_FD)
        req = parser.OFPPortMod(dp, properties=[prop], **args)
    else:
        adv = OFPPF_1GB_FD
        req = parser.OFPPortMod(dp, advertise=adv, **args)
    assert codec.decode(osken_bytes(req)) == m.PortMod(5, MAC, 1, 1, OFPPF_1GB_FD)


@pytest.mark.parametrize("version", VERSIONS)
def test_port_mod_round_trip_prints_in_ovs_ofctl(version):
    msg = m.PortMod(5, MAC, m.OFPPC_PORT_DOWN, m.OFPPC_PORT_DOWN, OFPPF_1GB_FD)
    raw = codec.encode(msg, version, 1)
    text = ofp_print(raw)
    assert "port: 5: addr:02:00:00:00:00:01" in text and "PORT_DOWN" in text
    assert codec.decode(raw) == msg


@pytest.mark.parametrize("version", (4, 5, 6))
def test_table_mod_from_osken(version):
    dp, ofp, parser = osken(version)
    if version == 4:
        req = parser.OFPTableMod(dp, 3, 0)
    else:
        req = parser.OFPTableMod(dp, 3, 0, [])
    assert codec.decode(osken_bytes(req)) == m.TableMod(3, 0)
    assert "table_id=3" in ofp_print(codec.encode(m.TableMod(3, 0), version, 1))


# --- DESC / PORT_DESC ----------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_desc(version):
    dp, ofp, parser = osken(version)
    assert codec.decode(osken_bytes(parser.OFPDescStatsRequest(dp, 0))) == m.DescRequest()
    reply = m.DescReply("Open vSwitch", "pyvswitch", "0.1", "None", "br0")
    raw = codec.encode(reply, version, 2)
    body = osken_parse(raw).body
    assert (body.mfr_desc.rstrip(b"\0"), body.dp_desc.rstrip(b"\0")) == (b"Open vSwitch", b"br0")
    text = ofp_print(raw)
    assert "Manufacturer: Open vSwitch" in text and "DP Description: br0" in text
    assert codec.decode(raw) == reply


@pytest.mark.parametrize("version", VERSIONS)
def test_port_desc(version):
    dp, ofp, parser = osken(version)
    if version == 1:
        # os-ken has no OF1.0 port-desc request: OFPST_PORT_DESC (13), as ovs-ofctl sends.
        raw_req = struct.pack("!BBHIHH", 1, 16, 12, 1, 13, 0)
    elif version == 6:
        raw_req = osken_bytes(parser.OFPPortDescStatsRequest(dp, 0, 0xFFFFFFFF))
    else:
        raw_req = osken_bytes(parser.OFPPortDescStatsRequest(dp, 0))
    assert codec.decode(raw_req) == m.PortDescRequest()
    ports = (port(1, "p1"), port(2, "p2"), port(0xFFFFFFFE, "br0"))
    raw = codec.encode(m.PortDescReply(ports), version, 2)
    if version > 1:    # os-ken has no OF1.0 port-desc reply parser; ovs-ofctl checks that one
        names = sorted(p.name.rstrip(b"\0") for p in osken_parse(raw).body)
        assert names == [b"br0", b"p1", b"p2"]
    text = ofp_print(raw)
    assert " 1(p1): addr:02:00:00:00:00:01" in text and " LOCAL(br0): addr" in text
    back = codec.decode(raw).ports
    assert [p.port_no for p in back] == [1, 2, 0xFFFFFFFE]
    if version > 1:
        assert back == ports


@pytest.mark.parametrize("version", (1, 4, 6))
def test_long_port_desc_replies_split_under_64k_with_the_more_flag(version):
    ports = tuple(port(i, f"p{i}") for i in range(1, 1500))
    parts = codec.encode_all(m.PortDescReply(ports), version, 9)
    assert len(parts) > 1
    got = []
    for i, raw in enumerate(parts):
        hdr = parse_header(raw)
        assert hdr.length == len(raw) <= MAX_MESSAGE and hdr.xid == 9
        flags = struct.unpack_from("!H", raw, 10)[0]
        assert flags == (1 if i < len(parts) - 1 else 0)
        msg = codec.decode(raw)
        assert msg.more == (i < len(parts) - 1)
        got += msg.ports
    assert [p.port_no for p in got] == list(range(1, 1500))
    assert "flags=[more]" in ofp_print(parts[0]) or "more" in ofp_print(parts[0])


# --- multipart request reassembly ----------------------------------------------------------

def _mp_request(mp_type: int, flags: int, xid: int, body: bytes = b"", version: int = 4):
    return struct.pack("!BBHIHH4x", version, 18, 16 + len(body), xid, mp_type, flags) + body


def test_single_piece_and_non_multipart_messages_pass_straight_through():
    asm = MultipartAssembler()
    one = _mp_request(0, 0, 1)
    echo = codec.encode(m.EchoRequest(), 4, 2)
    assert asm.feed(one, 0) == [one] and asm.feed(echo, 0) == [echo]
    assert asm.next_deadline() is None


def test_pieces_are_collected_until_the_last_one():
    asm = MultipartAssembler()
    a, b, c = (_mp_request(12, 1, 5, b"a" * 8), _mp_request(12, 1, 5, b"b" * 8),
               _mp_request(12, 0, 5, b"c" * 8))
    assert asm.feed(a, 0) == [] and asm.feed(b, 500) == []
    assert asm.next_deadline() == 1500
    assert asm.feed(c, 1400) == [a, b, c]
    assert asm.next_deadline() is None


def test_a_type_change_in_the_middle_is_bad_stat():
    asm = MultipartAssembler()
    asm.feed(_mp_request(12, 1, 5), 0)
    with pytest.raises(OFPError) as exc:
        asm.feed(_mp_request(16, 0, 5), 1)
    assert exc.value.name == "OFPBRC_BAD_STAT"
    assert asm.next_deadline() is None


def test_a_request_type_that_cannot_span_messages_is_bad_stat():
    with pytest.raises(OFPError) as exc:
        MultipartAssembler().feed(_mp_request(1, 1, 5), 0)
    assert exc.value.name == "OFPBRC_BAD_STAT"


def test_an_idle_request_times_out_after_one_second():
    asm = MultipartAssembler()
    first = _mp_request(12, 1, 5)
    asm.feed(first, 100)
    assert asm.run(1099) == []
    errors = asm.run(1100)
    assert [e.name for e in errors] == ["OFPBRC_MULTIPART_REQUEST_TIMEOUT"]
    assert errors[0].data == first
    assert asm.feed(_mp_request(12, 0, 5), 1200) == [_mp_request(12, 0, 5)]


def test_more_than_four_mebibytes_overflows():
    asm = MultipartAssembler()
    piece = _mp_request(12, 1, 5, b"x" * 60000)
    with pytest.raises(OFPError) as exc:
        for i in range(80):
            asm.feed(piece, i)
    assert exc.value.name == "OFPBRC_MULTIPART_BUFFER_OVERFLOW"
    assert 4 * 1024 * 1024 // len(piece) <= i <= 4 * 1024 * 1024 // len(piece) + 1
