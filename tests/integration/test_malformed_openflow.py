"""Malformed OpenFlow from a peer: the error Open vSwitch sends (or a disconnect), and the
switch keeps serving its other connections."""

import os
import socket
import struct

import pytest

from harness import bridge_toml, free_tcp_port

OFPT_ERROR = 1
OFPET_BAD_REQUEST = 1
OFPBRC_BAD_VERSION, OFPBRC_BAD_TYPE, OFPBRC_BAD_STAT, OFPBRC_BAD_LEN = 0, 1, 2, 6


class RawPeer:
    """A hand-driven OpenFlow 1.3 peer on a real TCP socket."""

    def __init__(self, port: int, version: int = 4):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.version = version
        self.sock.sendall(struct.pack("!BBHI", version, 0, 8, 1))
        hello = self.recv_msg()
        assert hello[1] == 0

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_msg(self) -> bytes:
        hdr = self._recv_exact(8)
        length = struct.unpack("!H", hdr[2:4])[0]
        return hdr + self._recv_exact(length - 8)

    def _recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("switch closed the connection")
            buf += chunk
        return buf

    def error_of(self, data: bytes) -> tuple[int, int, bytes]:
        """Send ``data`` and return (type, code, data) of the OFPT_ERROR answering it."""
        self.send(data)
        msg = self.recv_msg()
        assert msg[1] == OFPT_ERROR, f"expected an error, got type {msg[1]}"
        etype, code = struct.unpack("!HH", msg[8:12])
        return etype, code, msg[12:]

    def echo_ok(self) -> bool:
        self.send(struct.pack("!BBHI", self.version, 2, 8, 0xE0))
        msg = self.recv_msg()
        return msg[1] == 3

    def close(self):
        self.sock.close()


@pytest.fixture
def switch(make_switch):
    port = free_tcp_port()
    sw = make_switch(bridge_toml(controllers=[{"target": f"ptcp:{port}:127.0.0.1"}]))
    sw.port = port
    return sw


def test_unknown_type_gets_bad_type_and_connection_stays(switch):
    peer = RawPeer(switch.port)
    bad = struct.pack("!BBHI", 4, 200, 8, 7)
    etype, code, data = peer.error_of(bad)
    assert (etype, code) == (OFPET_BAD_REQUEST, OFPBRC_BAD_TYPE)
    assert data == bad  # the error carries the offending message
    assert peer.echo_ok()


def test_wrong_version_after_negotiation_gets_bad_version(switch):
    peer = RawPeer(switch.port)
    msg = struct.pack("!BBHI", 1, 5, 8, 9)  # OF1.0 FEATURES_REQUEST on an OF1.3 session
    etype, code, _ = peer.error_of(msg)
    assert (etype, code) == (OFPET_BAD_REQUEST, OFPBRC_BAD_VERSION)
    assert peer.echo_ok()


def test_unknown_multipart_gets_bad_stat(switch):
    peer = RawPeer(switch.port)
    msg = struct.pack("!BBHIHH4x", 4, 18, 16, 5, 0x7777, 0)
    etype, code, _ = peer.error_of(msg)
    assert (etype, code) == (OFPET_BAD_REQUEST, OFPBRC_BAD_STAT)
    assert peer.echo_ok()


def test_length_field_too_small_disconnects(switch):
    peer = RawPeer(switch.port)
    peer.send(struct.pack("!BBHI", 4, 2, 4, 1))  # length 4 < 8: framing lost
    with pytest.raises((EOFError, ConnectionResetError)):
        peer.recv_msg()
    switch.ofctl("-O", "OpenFlow13", "show", "br0")  # everyone else is fine


def test_length_field_too_big_for_the_body_gets_bad_len(switch):
    peer = RawPeer(switch.port)
    # A FEATURES_REQUEST claiming 16 bytes: the switch waits for the rest, then finds a
    # request that must have no body.
    etype, code, _ = peer.error_of(struct.pack("!BBHI", 4, 5, 16, 3) + b"\0" * 8)
    assert (etype, code) == (OFPET_BAD_REQUEST, OFPBRC_BAD_LEN)
    assert peer.echo_ok()


def test_truncated_body_gets_bad_len(switch):
    peer = RawPeer(switch.port)
    # A ROLE_REQUEST must be 24 bytes; this one is 12.
    etype, code, _ = peer.error_of(struct.pack("!BBHI", 4, 24, 12, 4) + b"\0\0\0\2")
    assert (etype, code) == (OFPET_BAD_REQUEST, OFPBRC_BAD_LEN)
    assert peer.echo_ok()


def test_random_garbage_never_hurts_other_connections(switch):
    rng = __import__("random").Random(1234)
    keeper = RawPeer(switch.port)
    for _ in range(30):
        peer = RawPeer(switch.port)
        peer.send(os.urandom(8) + bytes(rng.randrange(256) for _ in range(rng.randrange(64))))
        peer.close()
        assert keeper.echo_ok()
    out = switch.ofctl("-O", "OpenFlow13", "show", "br0").stdout
    assert " 1(p1)" in out and " 2(p2)" in out
    assert "Traceback" not in switch.log_text()
