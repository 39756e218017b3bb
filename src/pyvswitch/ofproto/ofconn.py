"""ofconn: one OpenFlow session between the switch and a controller (OVS connmgr.c ofconn).

What this module owns
---------------------
The per-session state Open vSwitch keeps and resets on every reconnect: connection type
(primary or service), role, asynchronous-message masks, miss_send_len, controller id,
packet-in format, the OF1.0 flow format (standard or NXM) and table-id extension, the
reply counter that throttles request processing, and the packet-in path's last stage:
the two packet-in schedulers (``conn.pinsched``; ``schedulers[0]`` "action",
``schedulers[1]`` "miss") that exist while the controller has ``controller_rate_limit``,
and the packet-in counter that caps the packet-ins waiting in the transmit queue
(``controller_queue_size``, excess dropped, coverage ``rconn_overflow``).  Other
asynchronous messages are dropped while ``ASYNC_TXQ_MAX`` messages wait (coverage
``ofconn_async_overflow``).  Queued packet-ins die with the session, and
so do its bundles (``ofproto.bundles``) and flow monitors (``ofproto.monitors``).

``run`` first releases what the schedulers allow, then runs the rconn, then receives at
most 50 messages per pass and only while fewer than 100 replies are queued (OVS
``ofconn_run``), handing each one to the ofproto handler (after a barrier it lingers
briefly for the next request, ``BARRIER_LINGER_S``), and every second expires idle
bundles with an OFPBFC_TIMEOUT error.  ``wait`` also wakes for the schedulers' next token
and the next bundle expiry check.

Time model: ``now`` in milliseconds is a parameter.  Must not import ``vswitchd``.
"""

from __future__ import annotations

import enum
from time import monotonic
from typing import Callable, Iterator

from pyvswitch.conn.pinsched import PinSched
from pyvswitch.conn.rconn import PacketCounter, Rconn
from pyvswitch.ofproto.bundles import SessionBundles
from pyvswitch.ofproto.monitors import SessionMonitors
from pyvswitch.openflow import codec
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages import (
    ROLE_EQUAL, ROLE_SLAVE, AsyncConfig, ErrorMsg, Message, NXFF_OPENFLOW10, NXPIF_STANDARD,
)
from pyvswitch.util import coverage
from pyvswitch.util.vlog import Logger

log = Logger("ofconn")

RCONN_OVERFLOW = coverage.Counter("rconn_overflow")        # packet-in over queue_limit
ASYNC_OVERFLOW = coverage.Counter("ofconn_async_overflow")  # other async over ASYNC_TXQ_MAX

MAX_RECV_PER_RUN = 50
#: After answering a barrier with nothing more to read, wait up to this long for the
#: session's next request before ending the pass, and at most LINGER_BUDGET_S per pass.
#: A client that sends a request and a barrier and waits for the reply (``ovs-ofctl
#: add-flows`` does, flow after flow) answers within tens of microseconds: its next
#: request is then handled at once instead of after a whole loop pass.  A client that
#: has nothing more to say costs the loop 0.3 ms.  The first BARRIER_SPIN_S of a wait
#: poll without sleeping: a client answering within microseconds then finds the
#: process awake, which saves the wake-up (on this 2-core VM 7% of a flow_mod round
#: trip); at most that much CPU is spent per barrier answered.
BARRIER_LINGER_S = 0.0003
BARRIER_SPIN_S = 0.0002
LINGER_BUDGET_S = 0.002
_BARRIER_TYPE = {0x01: 18}          # OFPT_BARRIER_REQUEST: 18 in OF1.0, 20 after
#: Messages of a streamed reply (``send_stream``) queued at most (about 256 KiB).
STREAM_TXQ = 4
REPLY_MAX = 100
DEFAULT_MISS_SEND_LEN = 128
#: "dropping packet-in due to queue overflow" is logged at most this often (OVS 5/5 s).
OVERFLOW_LOG_INTERVAL_MS = 1000
#: Other asynchronous messages (flow-removed, port-status) are dropped while this many
#: messages wait in the session's transmit queue: a controller that stops reading costs
#: bounded memory.  Replies are bounded by REPLY_MAX (no request is read while 100 wait),
#: packet-ins by ``queue_limit`` and flow-monitor updates by their 128 KiB pause.
ASYNC_TXQ_MAX = 1000

# Reason bits per async message kind (bit n set = reason n enabled).
_PIN_NO_MATCH, _PIN_ACTION, _PIN_INVALID_TTL, _PIN_ACTION_SET, _PIN_GROUP, \
    _PIN_PACKET_OUT = (1 << i for i in range(6))
_PIN_EXPLICIT_MISS = 1 << 6   # OVS-internal reason; travels as NO_MATCH
_PIN_IMPLICIT_MISS = 1 << 7   # OVS-internal reason; travels as NO_MATCH


_TABLE_ID_OPTIONS = codec.DecodeOptions(flow_mod_table_id=True)


class ConnType(enum.Enum):
    PRIMARY = "primary"
    SERVICE = "service"


def default_async_config(version: int) -> AsyncConfig:
    """OVS's default masks (ofputil_async_cfg_default) for a session of ``version``."""
    pin = (_PIN_NO_MATCH | _PIN_ACTION | _PIN_ACTION_SET | _PIN_GROUP | _PIN_PACKET_OUT
           | _PIN_EXPLICIT_MISS)
    if version < 0x04:
        pin |= _PIN_IMPLICIT_MISS
    flow_rem = 0b111                      # IDLE, HARD, DELETE
    if version >= 0x04:
        flow_rem |= 1 << 3                # GROUP_DELETE
    if version >= 0x05:
        flow_rem |= (1 << 4) | (1 << 5)   # METER_DELETE, EVICTION
    port = 0b111                          # ADD, DELETE, MODIFY
    return AsyncConfig(packet_in=(pin, 0), port_status=(port, port),
                       flow_removed=(flow_rem, 0), role_status=(0, 0),
                       table_status=(0, 0), requestforward=(0, 0))


_ZERO_ASYNC = AsyncConfig(packet_in=(0, 0), port_status=(0, 0), flow_removed=(0, 0),
                          role_status=(0, 0), table_status=(0, 0), requestforward=(0, 0))


class OfConn:
    """One session; created when its rconn connects, destroyed when it drops."""

    def __init__(self, rconn: Rconn, conn_type: ConnType, *, enable_async: bool = True,
                 queue_limit: int = 100, band_in: bool = False,
                 rate_limit: int | None = None, burst_limit: int | None = None) -> None:
        self.rconn = rconn
        self.type = conn_type
        self.enable_async = enable_async
        self.role = ROLE_EQUAL
        self.async_config: AsyncConfig | None = None  # None: defaults for the version
        self.miss_send_len = DEFAULT_MISS_SEND_LEN if conn_type is ConnType.PRIMARY else 0
        self.controller_id = 0
        self.packet_in_format = NXPIF_STANDARD
        self.flow_format = NXFF_OPENFLOW10
        self.flow_mod_table_id = False
        self.invalid_ttl_to_controller = False
        self.config_flags = 0
        self.reply_counter = PacketCounter()
        self.packet_in_counter = PacketCounter()
        self.queue_limit = queue_limit
        self.connection_seqno = rconn.connection_seqno
        self.n_async_dropped = 0      # packet-ins refused by the transmit-queue cap
        self.n_async_overflow = 0     # other async messages refused (ASYNC_TXQ_MAX)
        self.schedulers: list[PinSched | None] = [None, None]   # [action, miss]
        self._next_overflow_log = float("-inf")
        self.set_rate_limit(rate_limit, burst_limit)
        self.bundles = SessionBundles()        # ofproto/bundles.py
        self.monitors = SessionMonitors()      # ofproto/monitors.py
        self.request_raw = b""                 # the request being handled (bundles,
        self.request_xid = 0                   # monitor ABBREV events)
        self._stream: Iterator[bytes] | None = None   # a reply still being produced
        #: Requests received in a batch but not handled yet (a reply filled the queue).
        self._unhandled: list[bytes] = []
        self._unhandled_seqno = 0

    # --- identity ---------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.rconn.name

    @property
    def version(self) -> int:
        return self.rconn.version

    def is_alive(self) -> bool:
        """False once the session is over (the connmgr then destroys this ofconn).

        An accepted (unreliable) session lives as long as its rconn; an active service's
        session ends at the first disconnect, and a fresh ofconn replaces it."""
        if not self.rconn.reliable:
            return self.rconn.is_alive()
        if self.rconn.connection_seqno != self.connection_seqno:
            return False
        return self.rconn.is_connected()

    def decode_options(self) -> codec.DecodeOptions:
        opts = codec.DEFAULT_OPTIONS    # one shared object per setting: no per-message
        if opts.flow_mod_table_id != self.flow_mod_table_id:    # allocation
            opts = _TABLE_ID_OPTIONS
        return opts

    # --- async configuration ----------------------------------------------------------
    def get_async_config(self) -> AsyncConfig:
        if self.async_config is not None:
            return self.async_config
        if not self.enable_async:
            return _ZERO_ASYNC
        return default_async_config(self.version)

    def set_async_config(self, config: AsyncConfig) -> None:
        merged = config.merged_onto(self.get_async_config())
        if self.version < 0x05 and merged.packet_in is not None:
            # Before OF1.4, enabling ACTION also enables the reasons that travel as ACTION.
            pin = list(merged.packet_in)
            for i, mask in enumerate(pin):
                if mask is not None and mask & _PIN_ACTION:
                    pin[i] = mask | _PIN_ACTION_SET | _PIN_GROUP | _PIN_PACKET_OUT
            merged = AsyncConfig(**{**merged.__dict__, "packet_in": tuple(pin)})
        self.async_config = merged
        if self.type is ConnType.SERVICE and self.miss_send_len == 0:
            self.miss_send_len = DEFAULT_MISS_SEND_LEN

    def receives_async(self, kind: str, reason: int) -> bool:
        """May an async message of ``kind`` ("packet_in", "port_status"...) with
        ``reason`` go to this session? (OVS ofconn_receives_async_msg)"""
        if not self.rconn.is_connected() or self.version < 0:
            return False
        if self.type is ConnType.SERVICE and self.miss_send_len == 0:
            return False
        mask = self.get_async_config().mask(kind, self.role == ROLE_SLAVE)
        return bool(mask & (1 << reason))

    # --- sending ----------------------------------------------------------------------
    def send(self, msg: Message, xid: int = 0, counter: PacketCounter | None = None) -> None:
        """Encode ``msg`` for this session's version and queue it (replies by default)."""
        encoded = codec.encode(msg, self.version, xid)
        counter = self.reply_counter if counter is None else counter
        if isinstance(encoded, (bytes, bytearray)):
            self.rconn.send(encoded, counter)
        else:
            for part in encoded:
                self.rconn.send(part, counter)

    def send_stream(self, messages: Iterator[bytes]) -> None:
        """Send a long reply (already encoded messages, produced lazily) as the peer reads
        it: at most ``STREAM_TXQ`` wait in the transmit queue, the rest is produced on later
        passes.  Requests that arrive meanwhile wait until it is all sent (replies stay in
        order)."""
        self._stream = messages
        self._pump()

    @property
    def streaming(self) -> bool:
        return self._stream is not None

    def _pump(self) -> None:
        rconn, counter = self.rconn, self.reply_counter
        try:
            while len(rconn.txq) < STREAM_TXQ:
                msg = next(self._stream, None)
                if msg is None or not rconn.send(msg, counter):
                    self._stream = None         # all sent, or the session is gone
                    return
        except Exception:  # fault isolation: a reply that cannot be finished is dropped
            log.exception("%s: abandoning a reply that failed half-way", self.name)
            self._stream = None

    def send_async_msg(self, msg: Message) -> bool:
        """Queue one asynchronous message unless ASYNC_TXQ_MAX messages already wait
        (then it is dropped and counted); True if it was queued."""
        if len(self.rconn.txq) >= ASYNC_TXQ_MAX:
            self.n_async_overflow += 1
            ASYNC_OVERFLOW.inc()
            return False
        self.send(msg)
        return True

    def send_error(self, error: OFPError, request: bytes) -> None:
        xid = int.from_bytes(request[4:8], "big") if len(request) >= 8 else 0
        data = error.data if error.data is not None else request
        log.info("%s: sending %s error reply to %s message", self.name, error.name,
                 _type_name(request))
        self.send(ErrorMsg.for_request(error.name, data), xid)

    # --- packet-ins -------------------------------------------------------------------
    def set_rate_limit(self, rate: int | None, burst: int | None) -> None:
        """Create, adjust or (rate unset/0) remove both packet-in schedulers."""
        if not rate or rate <= 0:
            for sched in self.schedulers:
                if sched is not None:
                    sched.clear()
            self.schedulers = [None, None]
            return
        for i, sched in enumerate(self.schedulers):
            if sched is None:
                self.schedulers[i] = PinSched(rate, burst)
            else:
                sched.set_limits(rate, burst)

    def send_packet_in(self, encoded: bytes, in_port: int, miss: bool, now: float) -> None:
        """Schedule (rate limit) or queue one encoded packet-in for this session."""
        sched = self.schedulers[1 if miss else 0]
        if sched is None:
            self._send_packet_in_now(encoded, now)
        else:
            for msg in sched.send(in_port, encoded, now):
                self._send_packet_in_now(msg, now)

    def _send_packet_in_now(self, msg: bytes, now: float) -> None:
        rconn = self.rconn
        if rconn.send_with_limit(msg, self.packet_in_counter, self.queue_limit):
            return
        if rconn.is_connected():
            self.n_async_dropped += 1
            RCONN_OVERFLOW.inc()
            if now >= self._next_overflow_log:
                self._next_overflow_log = now + OVERFLOW_LOG_INTERVAL_MS
                log.info("%s: dropping packet-in due to queue overflow", self.name)

    def packet_in_backlog(self) -> int:
        return sum(s.n_queued for s in self.schedulers if s is not None)

    def close(self) -> None:
        """The session is over: packet-ins still scheduled, bundles and flow monitors
        are discarded."""
        for sched in self.schedulers:
            if sched is not None:
                sched.clear()
        self.bundles.clear()
        self.monitors.clear()
        self._stream = None
        self._unhandled = []

    # --- the loop ---------------------------------------------------------------------
    def run(self, now: float, handle: Callable[["OfConn", bytes, float], None]) -> None:
        for sched in self.schedulers:
            if sched is not None and sched.n_queued:
                for msg in sched.run(now):
                    self._send_packet_in_now(msg, now)
        self.rconn.run(now)
        if self._stream is not None:
            self._pump()
        self._receive(now, handle)
        if self.bundles.bundles:
            for bundle in self.bundles.run(now):
                log.info("%s: bundle %#x expired", self.name, bundle.bundle_id)
                self.rconn.send(codec.error_reply(OFPError("OFPBFC_TIMEOUT"), bundle.msg),
                                self.reply_counter)

    def _receive(self, now: float, handle: Callable[["OfConn", bytes, float], None]) -> None:
        """Hand at most MAX_RECV_PER_RUN requests to ``handle``, in batches of what has
        arrived; stop while a streamed reply is being sent or REPLY_MAX replies wait (the
        rest of a batch is kept for the next pass, in order)."""
        rconn, counter = self.rconn, self.reply_counter
        budget = MAX_RECV_PER_RUN
        linger = LINGER_BUDGET_S
        may_linger = waited = False
        while budget > 0:
            if self._stream is not None or counter.n_packets >= REPLY_MAX:
                return
            msgs = self._unhandled
            if msgs:
                self._unhandled = []
                if self._unhandled_seqno != rconn.connection_seqno:
                    continue            # left by a connection that is gone since
            else:
                msgs = rconn.recv_many(now, budget)
            if not msgs:
                if not may_linger or linger <= 0:
                    return
                may_linger = False          # one wait per batch handled
                start = monotonic()
                waited = rconn.wait_for_input(min(BARRIER_LINGER_S, linger), BARRIER_SPIN_S)
                linger -= monotonic() - start
                if not waited:
                    return
                continue
            budget -= len(msgs)
            for i, msg in enumerate(msgs):
                if i and (self._stream is not None or counter.n_packets >= REPLY_MAX
                          or rconn.vconn is None):
                    if rconn.vconn is not None:
                        self._unhandled = msgs[i:]
                        self._unhandled_seqno = rconn.connection_seqno
                    return
                handle(self, msg, now)
            # Wait for more after a barrier (the client waits for its reply), and after
            # requests a wait brought (a barrier may be a separate write behind them).
            msg = msgs[-1]
            may_linger = waited or (len(msg) == 8 and msg[1] == _BARRIER_TYPE.get(msg[0], 20))
            waited = False

    def may_recv(self) -> bool:
        return self._stream is None and self.reply_counter.n_packets < REPLY_MAX

    def wait(self, poller, now: float) -> None:
        for sched in self.schedulers:
            if sched is not None:
                sched.wait(poller, now)
        self.rconn.wait(poller, now, want_recv=self.may_recv())
        if self._unhandled and self.may_recv():
            poller.immediate_wake()     # requests received but not handled yet
        if self._stream is not None and len(self.rconn.txq) < STREAM_TXQ:
            poller.immediate_wake()     # room for more of the reply
        if self.bundles.bundles:
            poller.timer_wait_until(self.bundles.next_wakeup())


def _type_name(request: bytes) -> str:
    if len(request) < 2:
        return "truncated"
    return f"version {request[0]:#x} type {request[1]}"
