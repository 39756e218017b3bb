"""vconn: an OpenFlow connection over a byte stream, with HELLO version negotiation.

What this module owns
---------------------
The socket-facing half of an OpenFlow channel: open an active stream (``ovs.stream``) or
adopt an accepted one, exchange HELLOs and agree on a version (OpenFlow 1.0/1.3/1.4/1.5,
limited by the bridge's ``protocols``), then move whole messages in and out.

* HELLO: we send our highest allowed version in the header plus a version bitmap.  If
  the peer's first message is not a HELLO, or no version is common, we send
  OFPET_HELLO_FAILED/OFPHFC_INCOMPATIBLE (as Open vSwitch does) and fail with EPROTO.
* After negotiation, a message whose header version differs from the agreed one (other
  than HELLO, ERROR and ECHO) is answered with OFPBRC_BAD_VERSION and dropped here, before
  it reaches ofproto (OVS lib/vconn.c).
* A header whose length is below 8 means the stream lost its framing: EPROTO.
* ``send`` takes at most one message beyond what the socket accepted, so back-pressure
  shows up in the rconn's transmit queue, not here.

Must not import: ``ofproto``, ``vswitchd``.
"""

from __future__ import annotations

import errno
import select
from collections import deque
from time import monotonic

import ovs.stream

from pyvswitch.openflow import codec
from pyvswitch.openflow.framing import FramingError, split_messages
from pyvswitch.openflow.messages import ErrorMsg, Hello
from pyvswitch.util import poller as loop_poller
from pyvswitch.util.vlog import Logger

_SELECT_FD_LIMIT = 1024         # FD_SETSIZE
log = Logger("vconn")

_RECV_CHUNK = 65536
_SYMMETRIC_TYPES = (0, 1, 2, 3)  # HELLO, ERROR, ECHO_REQUEST, ECHO_REPLY


class StreamVconn:
    """A ``conn.rconn.Vconn`` over an ``ovs.stream.Stream``."""

    def __init__(self, name: str, stream: ovs.stream.Stream, versions: frozenset[int]) -> None:
        self.name = name
        self.stream = stream
        self.versions = frozenset(versions)
        self.version = 0
        self._hello_sent = False
        self._negotiated = False
        self._in = bytearray()
        self._msgs: deque[bytes] = deque()
        self._out = bytearray()
        self._error: int | None = None
        #: The socket itself once negotiated, for a plain (non-TLS) ``ovs.stream.Stream``:
        #: the hot paths then skip the stream's per-call state checks and error wrapping.
        self._sock = None

    # --- opening ----------------------------------------------------------------------
    @classmethod
    def open(cls, target: str, versions: frozenset[int]) -> "StreamVconn":
        """Start connecting to an active target (tcp:, ssl:, unix:); OSError on failure."""
        if target.startswith("ssl:"):
            from pyvswitch.io.ssl_stream import SslStream
            return cls(target, SslStream.open(target), versions)
        error, stream = ovs.stream.Stream.open(target)
        if error:
            raise OSError(error, f"{target}: {errno.errorcode.get(error, error)}")
        return cls(target, stream, versions)

    # --- rconn.Vconn ------------------------------------------------------------------
    def connect(self) -> int:
        if self._error is not None:
            return self._error
        if self._negotiated:
            return 0
        status = self.stream.connect()
        if status:
            return status
        if not self._hello_sent:
            hello = Hello(versions=self.versions, header_version=max(self.versions))
            self._out += codec.encode(hello, max(self.versions), 0)
            self._hello_sent = True
        try:
            self._flush()
            self._fill()
        except (OSError, EOFError) as e:
            self._error = getattr(e, "errno", None) or errno.ECONNRESET
            return self._error
        if not self._msgs:
            return errno.EAGAIN
        return self._negotiate(self._msgs.popleft())

    def _negotiate(self, first: bytes) -> int:
        hello = None
        if first[1] == 0:
            try:
                hello = codec.decode(first)
            except Exception:  # a malformed HELLO is treated as an incompatible one
                hello = None
        version = hello.negotiate(self.versions) if isinstance(hello, Hello) else None
        if version is None:
            ours = max(self.versions)
            text = (f"We support versions {sorted(self.versions)}, "
                    f"you sent {first[0]:#x} type {first[1]}").encode()
            self._out += codec.encode(ErrorMsg("OFPHFC_INCOMPATIBLE", text), ours, 0)
            try:
                self._flush()
            except OSError:
                pass
            log.warning("%s: version negotiation failed (we support %s, peer sent "
                        "version %#x)", self.name, sorted(self.versions), first[0])
            self._error = errno.EPROTO
            return self._error
        self.version = version
        self._negotiated = True
        if type(self.stream) is ovs.stream.Stream:
            self._sock = self.stream.socket
        return 0

    def recv(self) -> bytes | None:
        while True:
            if not self._msgs:
                self._fill()
                if not self._msgs:
                    return None
            msg = self._msgs.popleft()
            if msg[0] == self.version or self._version_ok(msg):
                return msg

    def recv_many(self, limit: int) -> list[bytes]:
        """Up to ``limit`` received messages at once (``recv`` in bulk: the loop of a
        session that is sent requests by the thousand calls this once per batch)."""
        msgs = self._msgs
        if not msgs:
            self._fill()
            if not msgs:
                return []
        version = self.version
        if len(msgs) <= limit:
            batch = list(msgs)
            msgs.clear()
        else:
            popleft = msgs.popleft
            batch = [popleft() for _ in range(limit)]
        for msg in batch:
            if msg[0] != version:
                break
        else:
            return batch        # the common case: every message of the session's version
        return [msg for msg in batch if self._version_ok(msg)]

    def _version_ok(self, msg: bytes) -> bool:
        """False (after replying OFPBRC_BAD_VERSION) for a message of another version
        than the session's, except the symmetric ones (HELLO, ERROR, ECHO)."""
        if msg[0] == self.version or msg[1] in _SYMMETRIC_TYPES:
            return True
        self._out += codec.encode(ErrorMsg.for_request("OFPBRC_BAD_VERSION", msg),
                                  self.version, int.from_bytes(msg[4:8], "big"))
        self._flush()
        return False

    def send(self, msg: bytes) -> bool:
        if self._out:
            self._flush()
            if self._out:
                return False
        sock = self._sock
        if sock is not None:        # the common case: the socket takes it all at once
            try:
                n = sock.send(msg)
            except (BlockingIOError, InterruptedError):
                n = 0
            if n == len(msg):
                return True
            msg = msg[n:]
        self._out += msg
        self._flush()
        return True

    def wait_readable(self, timeout_s: float, spin_s: float = 0.0) -> bool:
        """Block up to ``timeout_s`` until a message is buffered or the socket has
        input, polling without sleeping for the first ``spin_s`` of it (a peer that
        answers within microseconds then finds the process awake: no wake-up latency).
        False without waiting for a transport with its own buffering (TLS), where the
        socket cannot tell, or a socket select(2) cannot watch."""
        if self._msgs:
            return True
        sock = self._sock
        if sock is None or self._error is not None or sock.fileno() >= _SELECT_FD_LIMIT:
            return False
        # select(2), not poll(2): its timeout has microseconds, poll's milliseconds.
        readable = None
        if spin_s > 0:
            socks, spin_end = (sock,), monotonic() + min(spin_s, timeout_s)
            while not readable and monotonic() < spin_end:
                readable, _, _ = select.select(socks, (), (), 0)
            timeout_s = max(0.0, timeout_s - spin_s)
        if not readable:
            readable, _, _ = select.select((sock,), (), (), timeout_s)
        if not readable:
            return False
        loop_poller.forget_drained(sock.fileno())
        return True

    def run(self) -> None:
        if self._out:
            self._flush()

    def wait(self, poller, want_recv: bool, want_send: bool) -> None:
        if self._msgs or self._error is not None:
            poller.immediate_wake()
            return
        if not self._negotiated and self.stream.connect() == errno.EAGAIN:
            self.stream.connect_wait(poller)
            return
        if want_recv:
            self.stream.recv_wait(poller)
        if want_send or self._out:
            self.stream.send_wait(poller)

    def close(self) -> None:
        if self._out and self._error is None:
            try:
                self._flush()  # e.g. the HELLO_FAILED error, if the peer still listens
            except OSError:
                pass
        self.stream.close()

    # --- internals --------------------------------------------------------------------
    def _fill(self) -> None:
        """Read what the socket has and split it into messages."""
        sock = self._sock
        if sock is not None:
            fd = sock.fileno()
            if loop_poller.drained(fd) or not loop_poller.may_be_ready(fd):
                return          # nothing arrived since the last poll said so
        for _ in range(16):
            if sock is not None:
                try:
                    error, data = 0, sock.recv(_RECV_CHUNK)
                except (BlockingIOError, InterruptedError):
                    error, data = errno.EAGAIN, b""
                except OSError as e:
                    error, data = e.errno or errno.EIO, b""
            else:
                error, data = self.stream.recv(_RECV_CHUNK)
            if error == errno.EAGAIN:
                if sock is not None:
                    loop_poller.mark_drained(fd)
                break
            if error:
                raise OSError(error, errno.errorcode.get(error, str(error)))
            if not data:
                if self._msgs:
                    break
                raise EOFError(self.name)
            self._in += data
            if len(data) < _RECV_CHUNK:
                if sock is not None:
                    loop_poller.mark_drained(fd)
                break
        if len(self._in) >= 8:
            try:
                self._msgs.extend(split_messages(self._in))
            except FramingError as e:
                log.warning("%s: %s, disconnecting", self.name, e)
                raise OSError(errno.EPROTO, str(e)) from e

    def _flush(self) -> None:
        while self._out:
            n = self.stream.send(bytes(self._out[:_RECV_CHUNK]))
            if n == -errno.EAGAIN or n == 0:
                return
            if n < 0:
                raise OSError(-n, errno.errorcode.get(-n, str(-n)))
            del self._out[:n]
