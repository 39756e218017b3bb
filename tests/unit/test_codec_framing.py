"""Framing and ERROR messages: what a peer sees when the stream or a request is bad."""

from __future__ import annotations

import struct

import pytest

from oracles import VERSIONS, ofp_print, osken_parse
from pyvswitch.openflow import codec
from pyvswitch.openflow.errors import ERRORS, OFPError, error_triplet
from pyvswitch.openflow.framing import FramingError, MAX_MESSAGE, parse_header, split_messages
from pyvswitch.openflow.messages import EchoRequest, ErrorMsg


def test_split_returns_complete_messages_and_keeps_the_partial_tail():
    a = codec.encode(EchoRequest(b"abc"), 4, 1)
    b = codec.encode(EchoRequest(b"defgh"), 4, 2)
    buf = bytearray(a + b[:5])
    assert split_messages(buf) == [a]
    assert bytes(buf) == b[:5]
    buf += b[5:]
    assert split_messages(buf) == [b]
    assert buf == bytearray()


def test_split_byte_by_byte_reassembles_the_same_messages():
    msgs = [codec.encode(EchoRequest(bytes([i]) * i), 1, i) for i in range(1, 6)]
    buf, out = bytearray(), []
    for byte in b"".join(msgs):
        buf.append(byte)
        out += split_messages(buf)
    assert out == msgs


@pytest.mark.parametrize("length", [0, 1, 7])
def test_split_rejects_a_header_shorter_than_itself(length):
    buf = bytearray(struct.pack("!BBHI", 4, 2, length, 0))
    with pytest.raises(FramingError):
        split_messages(buf)


def test_header_fields_and_limit():
    raw = codec.encode(EchoRequest(b"xy"), 5, 0xDEADBEEF)
    assert parse_header(raw) == (5, 2, 10, 0xDEADBEEF)
    assert MAX_MESSAGE == 65535


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", ["OFPBRC_BAD_TYPE", "OFPBRC_BAD_LEN", "OFPBAC_BAD_OUT_PORT",
                                  "OFPFMFC_OVERLAP", "OFPPMFC_BAD_PORT", "OFPBRC_BAD_STAT"])
def test_standard_errors_reach_osken_and_ovs_ofctl_with_the_same_numbers(version, name):
    request = codec.encode(EchoRequest(b"z" * 100), version, 0x55)
    raw = codec.error_reply(OFPError(name), request)
    vendor, etype, code = error_triplet(name, version)
    assert vendor == 0
    parsed = osken_parse(raw)
    assert (parsed.type, parsed.code, parsed.xid) == (etype, code, 0x55)
    assert bytes(parsed.data) == request[:64]          # OVS sends the first 64 bytes
    text = ofp_print(raw, embedded_truncated=True)
    assert text.startswith("OFPT_ERROR") and name in text.splitlines()[0]


def test_ofp_print_names_the_error_we_meant():
    for version in VERSIONS:
        request = codec.encode(EchoRequest(b""), version, 1)
        for name in ("OFPBRC_BAD_TYPE", "OFPFMFC_BAD_COMMAND", "OFPBMC_BAD_PREREQ",
                     "OFPBRC_BAD_PORT", "OFPBRC_IS_SLAVE", "OFPRRFC_STALE",
                     "OFPBFC_BAD_ID", "OFPBRC_BAD_TABLE_ID"):
            text = ofp_print(codec.error_reply(OFPError(name), request))
            first = text.splitlines()[0]
            expected = name
            if error_triplet(name, version)[1:] == error_triplet(
                    "NXBRC_UNENCODABLE_ERROR", version)[1:]:
                expected = "NXBRC_UNENCODABLE_ERROR"
            # OF1.0/1.1 share (1,5) between EPERM and IS_SLAVE; OVS prints the first.
            if name == "OFPBRC_IS_SLAVE":
                expected = "OFPBRC_EPERM" if version == 1 else "OFPBRC_IS_SECONDARY"
            assert expected in first, (version, name, text)


def test_error_round_trips_through_our_decoder_with_its_name():
    for version in VERSIONS:
        for name in ERRORS:
            raw = codec.encode(ErrorMsg(name, b"data"), version, 3)
            msg = codec.decode(raw)
            assert isinstance(msg, ErrorMsg)
            assert msg.data == b"data"
            vendor, etype, code = error_triplet(name, version)
            assert (msg.vendor, msg.type) == (vendor, etype)


def test_unencodable_errors_fall_back_like_ovs():
    # OF1.0 has no meter errors: OVS sends NXBRC_UNENCODABLE_ERROR as a Nicira vendor error.
    raw = codec.encode(ErrorMsg("OFPMMFC_BAD_RATE"), 1, 1)
    assert struct.unpack_from("!HHIHH", raw, 8) == (0xB0C2, 0, 0x2320, 1, 521)
    assert "NXBRC_UNENCODABLE_ERROR" in ofp_print(raw)


def test_error_data_never_overflows_a_message():
    raw = codec.encode(ErrorMsg("OFPBRC_BAD_LEN", b"x" * 70000), 4, 1)
    assert len(raw) == MAX_MESSAGE == parse_header(raw).length


def test_error_reply_to_something_shorter_than_a_header_still_encodes():
    raw = codec.error_reply(OFPError("OFPBRC_BAD_LEN"), b"\x04\x00")
    assert parse_header(raw)[:2] == (1, 1) and codec.decode(raw).name == "OFPBRC_BAD_LEN"
