"""A stand-in OpenFlow session for handler tests: what ``Ofproto.handle_openflow`` uses of
an ofconn (version, role, decode options, send), with real encoding so replies are read
back through the codec exactly as a controller would see them."""

from __future__ import annotations

from pyvswitch.openflow import codec
from pyvswitch.openflow import messages as m
from pyvswitch.openflow.errors import OFPError


class FakeRconn:
    def __init__(self, version: int = 0x04) -> None:
        self.version = version
        self.sent: list[bytes] = []

    def send(self, raw, counter=None) -> None:
        self.sent.append(bytes(raw))


class FakeOfConn:
    def __init__(self, version: int = 0x04, role: int = m.ROLE_EQUAL) -> None:
        self.rconn = FakeRconn(version)
        self.version = version
        self.role = role
        self.reply_counter = None
        self.name = "fake"

    def decode_options(self):
        return codec.DecodeOptions()

    def send(self, msg, xid: int = 0, counter=None) -> None:
        self.rconn.sent.extend(codec.encode_all(msg, self.version, xid))

    def send_async_msg(self, msg) -> bool:
        self.send(msg)
        return True

    def replies(self) -> list:
        out = [codec.decode(raw) for raw in self.rconn.sent]
        self.rconn.sent.clear()
        return out


def send(ofp, conn: FakeOfConn, msg, now: float = 1000.0, xid: int = 9) -> list:
    """Deliver ``msg`` to the switch; return the decoded replies."""
    ofp.handle_openflow(conn, codec.encode(msg, conn.version, xid), now)
    return conn.replies()


def expect_error(ofp, conn: FakeOfConn, msg, name: str, now: float = 1000.0) -> None:
    """``msg`` is answered with exactly the OFPT_ERROR ``name`` (type, code and data)."""
    raw = codec.encode(msg, conn.version, 9)
    ofp.handle_openflow(conn, raw, now)
    (reply,) = conn.rconn.sent
    conn.rconn.sent.clear()
    assert reply == codec.error_reply(OFPError(name), raw), (codec.decode(reply), name)
