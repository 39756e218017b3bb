"""rconn: a reliable (reconnecting) or unreliable (accepted) OpenFlow connection.

What this module owns
---------------------
The connection life cycle Open vSwitch's lib/rconn.c gives every controller connection:

* **States** VOID, BACKOFF, CONNECTING, ACTIVE, IDLE, DISCONNECTED.  The timing (backoff
  1, 2, 4 ... ``max_backoff`` seconds, connect timeout max(1 s, backoff), inactivity probe:
  an echo request after ``probe_interval`` of silence, a disconnect after a second silent
  interval) comes from ``ovs.reconnect.Reconnect``, Open vSwitch's own sans-IO FSM.
* A **transmit queue**: messages are queued only while connected and leave in order; a
  message may be tied to a ``PacketCounter`` so the owner can cap how many of its kind wait
  in the queue (packet-ins, replies), as ``rconn_send_with_limit`` does.  The queue is
  discarded on disconnect.
* **Admission** tracking ("has the controller sent anything but handshake traffic?"),
  connection sequence numbers, the counters OVS reports, and **monitors** (snoop
  connections that get a copy of every message sent and received, at most 8).

Time and I/O model
------------------
Every method that depends on time takes ``now`` (milliseconds).  The rconn never opens a
socket itself: an active rconn asks its ``opener`` (from ``io/``) for a ``Vconn`` (below),
an unreliable one is handed an accepted ``Vconn``.  Tests drive it with fake vconns and a
stepped clock.

Must not import: ``io``, ``ofproto``, ``vswitchd`` (the layers above), or read a clock.
"""

from __future__ import annotations

import enum
import errno
from collections import deque
from dataclasses import dataclass
from typing import Callable, Protocol

import ovs.reconnect
from pyvswitch.util.vlog import Logger

log = Logger("rconn")

EOF = ovs.reconnect.EOF
MAX_MONITORS = 8
ADMIT_AFTER_MS = 30_000


class Vconn(Protocol):
    """An OpenFlow connection whose version negotiation the io layer does.

    Life cycle: created connecting -> ``connect()`` returns 0 once the HELLO exchange
    agreed on ``version`` (EAGAIN while in progress, an errno on failure) -> ``recv`` /
    ``send`` -> ``close``.  ``recv`` returns one whole message or None when nothing is
    ready, and raises ``OSError``/``EOFError`` when the connection failed.  ``send``
    returns False when the socket cannot take the message now (try again later).
    Optionally ``wait_readable(timeout_s)`` blocks briefly for input (True if some came);
    a vconn without it never lingers (``Rconn.wait_for_input``).
    """

    name: str
    version: int

    def connect(self) -> int: ...
    def recv(self) -> bytes | None: ...
    def send(self, msg: bytes) -> bool: ...
    def run(self) -> None: ...
    def wait(self, poller, want_recv: bool, want_send: bool) -> None: ...
    def close(self) -> None: ...


class State(enum.Enum):
    VOID = "VOID"
    BACKOFF = "BACKOFF"
    CONNECTING = "CONNECTING"
    ACTIVE = "ACTIVE"
    IDLE = "IDLE"
    DISCONNECTED = "DISCONNECTED"


_FSM_STATES = {
    ovs.reconnect.Reconnect.Void: State.VOID,
    ovs.reconnect.Reconnect.Listening: State.VOID,
    ovs.reconnect.Reconnect.Backoff: State.BACKOFF,
    ovs.reconnect.Reconnect.ConnectInProgress: State.CONNECTING,
    ovs.reconnect.Reconnect.Active: State.ACTIVE,
    ovs.reconnect.Reconnect.Idle: State.IDLE,
    ovs.reconnect.Reconnect.Reconnect: State.CONNECTING,
}


class PacketCounter:
    """How many messages of one kind (and their bytes) wait in transmit queues."""

    __slots__ = ("n_packets", "n_bytes")

    def __init__(self) -> None:
        self.n_packets = 0
        self.n_bytes = 0


# Message types that do not show the controller is really in charge (rconn is_admitted_msg):
# handshake, echo, config and feature queries.  Keyed by OpenFlow version.
_NON_ADMISSION_TYPES = {0, 1, 2, 3, 5, 6, 7, 8, 9}
_NON_ADMISSION_BY_VERSION = {
    0x01: {20, 21},          # QUEUE_GET_CONFIG request/reply
    0x04: {22, 23, 26, 27},  # QUEUE_GET_CONFIG, GET_ASYNC
    0x05: {22, 23, 26, 27},
    0x06: {26, 27},
}
# Multipart kinds that do not count either: group stats/desc/features, table features
# and table desc.
_NON_ADMISSION_MULTIPART = {6, 7, 8, 12, 14}


def is_admission_msg(msg: bytes) -> bool:
    """True if receiving ``msg`` shows the controller has taken charge of the switch."""
    version, mtype = msg[0], msg[1]
    if mtype in _NON_ADMISSION_TYPES or mtype in _NON_ADMISSION_BY_VERSION.get(version, ()):
        return False
    if version >= 0x04 and mtype in (18, 19) and len(msg) >= 10:
        return int.from_bytes(msg[8:10], "big") not in _NON_ADMISSION_MULTIPART
    return True


def _recv_many(vconn: Vconn, limit: int) -> list[bytes]:
    """``vconn.recv_many(limit)``, or ``recv`` called until it has nothing more for a
    vconn without it."""
    recv_many = getattr(vconn, "recv_many", None)
    if recv_many is not None:
        return recv_many(limit)
    msgs: list[bytes] = []
    while len(msgs) < limit:
        try:
            msg = vconn.recv()
        except (EOFError, OSError):
            if msgs:
                return msgs         # the failure is met again by the next call
            raise
        if msg is None:
            break
        msgs.append(msg)
    return msgs


@dataclass
class RconnCounters:
    packets_sent: int = 0
    packets_received: int = 0
    n_discarded: int = 0     # messages dropped from the queue at disconnect
    n_overflow: int = 0      # messages refused by send_with_limit


class Rconn:
    """One OpenFlow channel (see the module docstring).

    ``opener(target) -> Vconn`` opens active targets; it raises ``OSError`` when the open
    fails at once.  ``echo_request(version) -> bytes`` builds the probe message.
    """

    def __init__(self, name: str, now: float, *, target: str | None = None,
                 opener: Callable[[str], Vconn] | None = None,
                 echo_request: Callable[[int], bytes],
                 max_backoff_ms: int = 8000, probe_interval_ms: int = 5000,
                 txq_limit: int = 1000) -> None:
        self.name = name
        self.target = target
        self._opener = opener
        self._echo_request = echo_request
        self._fsm = ovs.reconnect.Reconnect(now)
        self._fsm.set_name(name)
        self._fsm.set_backoff(1000, max_backoff_ms)
        self._fsm.set_probe_interval(probe_interval_ms)
        self.reliable = True
        self.vconn: Vconn | None = None
        self.txq: deque[tuple[bytes, PacketCounter | None]] = deque()
        self.txq_limit = txq_limit
        self.monitors: list[Vconn] = []
        self.counters = RconnCounters()
        self.version = -1
        self.last_error = 0
        self.last_connected: float | None = None
        self.last_disconnected: float | None = None
        self.last_admitted = now
        self.probably_admitted = False
        self.connection_seqno = 0
        self._disconnected_for_good = False
        self._pending: Vconn | None = None

    # --- configuration ----------------------------------------------------------------
    def connect(self, target: str, now: float) -> None:
        """Start connecting (and reconnecting, forever) to ``target``."""
        self.disconnect(now)
        self.target = target
        self.reliable = True
        self._fsm.enable(now)

    def connect_unreliably(self, vconn: Vconn, now: float) -> None:
        """Adopt an accepted connection; once it drops, the rconn is DISCONNECTED."""
        self.reliable = False
        self.target = vconn.name
        self._fsm.set_quiet(True)  # accepted sessions come and go; keep the log calm
        self._pending = vconn
        self._fsm.set_max_tries(1)
        self._fsm.enable(now)

    def disconnect(self, now: float) -> None:
        """Drop the connection (if any) and stop reconnecting."""
        if self.vconn is not None:
            self._close(now, 0)
        self._fsm.disable(now)

    def reconnect(self, now: float) -> None:
        """Force a disconnect; a reliable rconn reconnects after its backoff."""
        if self.is_connected():
            self._drop(now, 0)

    def set_max_backoff(self, max_backoff_ms: int) -> None:
        self._fsm.set_backoff(1000, max_backoff_ms)

    def set_probe_interval(self, probe_interval_ms: int) -> None:
        """0 disables probes; any other value below 5 s is raised to 5 s (as OVS)."""
        if probe_interval_ms:
            probe_interval_ms = max(5000, probe_interval_ms)
        self._fsm.set_probe_interval(probe_interval_ms)

    @property
    def probe_interval_ms(self) -> int:
        return self._fsm.get_probe_interval()

    @property
    def max_backoff_ms(self) -> int:
        return self._fsm.get_max_backoff()

    # --- state ------------------------------------------------------------------------
    @property
    def state(self) -> State:
        if self._disconnected_for_good:
            return State.DISCONNECTED
        return _FSM_STATES[self._fsm.state]

    def is_connected(self) -> bool:
        return self.vconn is not None and self._fsm.is_connected()

    def is_alive(self) -> bool:
        return self.state not in (State.VOID, State.DISCONNECTED)

    def is_admitted(self) -> bool:
        return self.is_connected() and self.probably_admitted

    def failure_duration(self, now: float) -> float:
        """Seconds since the connection was last admitted (0 while admitted)."""
        return 0 if self.is_admitted() else (now - self.last_admitted) / 1000.0

    def backoff_ms(self) -> int:
        return self._fsm.backoff

    def fsm_stats(self, now: float):
        return self._fsm.get_stats(now)

    # --- the loop ---------------------------------------------------------------------
    def run(self, now: float) -> None:
        """Do pending work: connect, probe, time out, flush the transmit queue."""
        for _ in range(4):  # at most a few state changes per run, like rconn's loop
            action = self._fsm.run(now)
            if action == ovs.reconnect.CONNECT:
                self._start_connect(now)
            elif action == ovs.reconnect.DISCONNECT:
                if self.vconn is not None and self._fsm.is_connected():
                    # ovs.reconnect has logged "no response to inactivity probe".
                    self._drop(now, errno.ETIMEDOUT)
                else:
                    self._connect_failed(now, errno.ETIMEDOUT)
            elif action == ovs.reconnect.PROBE:
                if self.vconn is not None:
                    self._queue(self._echo_request(self.version), None)
                    log.debug("%s: idle %d seconds, sending inactivity probe", self.name,
                              self.probe_interval_ms // 1000)
            if self._fsm.state is ovs.reconnect.Reconnect.ConnectInProgress:
                self._poll_connect(now)
            if action is None:
                break
        if self.vconn is not None and self._fsm.is_connected():
            try:
                self.vconn.run()    # flushes what the socket did not take before
            except OSError as e:    # the peer went away (EPIPE...): a disconnect
                self._drop(now, e.errno or errno.EPIPE)
            else:
                self._flush(now)
        if self.monitors:
            self._run_monitors()

    def _run_monitors(self) -> None:
        """Read and discard what snoopers send; drop the ones that went away."""
        alive = []
        for mon in self.monitors:
            try:
                mon.run()
                while mon.recv() is not None:
                    pass
                alive.append(mon)
            except (OSError, EOFError):
                mon.close()
        self.monitors = alive

    def wait(self, poller, now: float, want_recv: bool = True) -> None:
        self._fsm.wait(poller, now)
        if self.vconn is not None:
            connecting = not self._fsm.is_connected()
            self.vconn.wait(poller, want_recv=want_recv or connecting,
                            want_send=connecting or bool(self.txq))
        for mon in self.monitors:
            mon.wait(poller, want_recv=True, want_send=False)

    # --- receive and send -------------------------------------------------------------
    def recv(self, now: float) -> bytes | None:
        """One received message, or None.  A failure disconnects the rconn."""
        msgs = self.recv_many(now, 1)
        return msgs[0] if msgs else None

    def recv_many(self, now: float, limit: int) -> list[bytes]:
        """Up to ``limit`` received messages (a session handling requests by the
        thousand takes what has arrived at once: one round of bookkeeping for all).  A
        failure disconnects the rconn."""
        vconn = self.vconn
        if vconn is None or not self._fsm.is_connected():
            return []
        self._fsm.receive_attempted(now)
        try:
            msgs = _recv_many(vconn, limit)
        except EOFError:
            self._drop(now, EOF)
            return []
        except OSError as e:
            self._drop(now, e.errno or errno.EPROTO)
            return []
        if not msgs:
            return []
        self.counters.packets_received += len(msgs)
        if self.monitors:
            for msg in msgs:
                self._copy_to_monitors(msg)
        if (not self.probably_admitted and (any(is_admission_msg(m) for m in msgs) or (
                self.last_connected is not None
                and now - self.last_connected >= ADMIT_AFTER_MS))):
            self.probably_admitted = True
        if self.probably_admitted:
            self.last_admitted = now
        self._fsm.activity(now)
        return msgs

    def wait_for_input(self, timeout_s: float, spin_s: float = 0.0) -> bool:
        """Block up to ``timeout_s`` (busy-polling the first ``spin_s``) for something
        to receive; False at once when not connected or the transport cannot say (TLS)."""
        vconn = self.vconn
        if vconn is None or not self._fsm.is_connected():
            return False
        wait_readable = getattr(vconn, "wait_readable", None)
        return wait_readable is not None and wait_readable(timeout_s, spin_s)

    def send(self, msg: bytes, counter: PacketCounter | None = None) -> bool:
        """Queue ``msg``; False (message dropped) when not connected."""
        vconn = self.vconn
        if vconn is None or not self._fsm.is_connected():
            return False
        if self.monitors:
            self._copy_to_monitors(msg)
        if not self.txq:            # nothing waits: hand it straight to the vconn
            try:
                sent = vconn.send(msg)
            except OSError:
                sent = False        # the queue path below meets the error again
            if sent:
                self.counters.packets_sent += 1
                return True
        self._queue(msg, counter)
        return True

    def send_with_limit(self, msg: bytes, counter: PacketCounter, limit: int) -> bool:
        """Like ``send`` but drop ``msg`` if ``counter`` already holds ``limit`` messages."""
        if not self.is_connected():
            return False
        if counter.n_packets >= limit:
            self.counters.n_overflow += 1
            return False
        return self.send(msg, counter)

    def add_monitor(self, vconn: Vconn) -> bool:
        if len(self.monitors) >= MAX_MONITORS:
            vconn.close()
            return False
        self.monitors.append(vconn)
        return True

    # --- internals --------------------------------------------------------------------
    def _queue(self, msg: bytes, counter: PacketCounter | None) -> None:
        if counter is not None:
            counter.n_packets += 1
            counter.n_bytes += len(msg)
        self.txq.append((msg, counter))
        if len(self.txq) == 1 and self.vconn is not None:
            self._flush(None)

    def _flush(self, now: float | None) -> None:
        vconn = self.vconn
        while self.txq and vconn is not None:
            msg, counter = self.txq[0]
            try:
                if not vconn.send(msg):
                    return
            except OSError as e:
                if now is not None:
                    self._drop(now, e.errno or errno.EPIPE)
                return
            self.txq.popleft()
            if counter is not None:
                counter.n_packets -= 1
                counter.n_bytes -= len(msg)
            self.counters.packets_sent += 1

    def _start_connect(self, now: float) -> None:
        if self._pending is not None:
            self.vconn, self._pending = self._pending, None
        elif self.reliable and self.target and self._opener is not None:
            if self._fsm.backoff < self._fsm.max_backoff:
                log.info("%s: connecting...", self.name)
            try:
                self.vconn = self._opener(self.target)
            except OSError as e:
                log.warning("%s: connection failed (%s)", self.name,
                            e.strerror or e)
                self._fsm.connect_failed(now, e.errno or errno.ECONNREFUSED)
                self.last_error = e.errno or errno.ECONNREFUSED
                return
        else:
            self._fsm.disable(now)
            self._disconnected_for_good = not self.reliable
            return
        self._fsm.connecting(now)

    def _poll_connect(self, now: float) -> None:
        if self.vconn is None:
            return
        try:
            status = self.vconn.connect()
        except OSError as e:
            status = e.errno or errno.EPROTO
        if status == errno.EAGAIN:
            return
        if status == 0:
            self.version = self.vconn.version
            self.last_connected = now
            self.probably_admitted = False
            self.connection_seqno += 1
            self._fsm.connected(now)  # ovs.reconnect logs "connected"
        else:
            self._connect_failed(now, status)

    def _connect_failed(self, now: float, error: int) -> None:
        self.last_error = error
        if self.vconn is not None:
            self.vconn.close()
            self.vconn = None
        if self.reliable:
            self._fsm.connect_failed(now, error)
        else:
            self._fsm.disable(now)
            self._disconnected_for_good = True

    def _drop(self, now: float, error: int) -> None:
        """The connection failed or was dropped on purpose."""
        self.last_error = error
        self.last_disconnected = now
        self._close(now, error)
        if self.reliable:
            self._fsm.disconnected(now, error)
        else:
            self._fsm.disable(now)
            self._disconnected_for_good = True

    def _close(self, now: float, error: int) -> None:
        if self.vconn is not None:
            self.vconn.close()
            self.vconn = None
            self.connection_seqno += 1
        for msg, counter in self.txq:
            if counter is not None:
                counter.n_packets -= 1
                counter.n_bytes -= len(msg)
        self.counters.n_discarded += len(self.txq)
        self.txq.clear()

    def _copy_to_monitors(self, msg: bytes) -> None:
        if not self.monitors:
            return
        alive = []
        for mon in self.monitors:
            try:
                mon.send(msg)  # a full monitor silently misses messages
                alive.append(mon)
            except OSError:
                mon.close()
        self.monitors = alive

    def close(self, now: float) -> None:
        self.disconnect(now)
        for mon in self.monitors:
            mon.close()
        self.monitors = []
