"""packet_in: how packet-ins travel from translation to the controllers of one bridge
(OVS ofproto-dpif.c ofproto_dpif_send_async_msg + connmgr.c connmgr_send_async_msg).

What this module owns
---------------------
* ``PacketInQueue``: the per-bridge gathering list.  The provider ``put``s every packet-in
  the datapath hands up (a ``Userspace`` upcall: the translation-time ``PacketInCookie``
  plus the frame); at most 1024 wait, the excess is dropped and counted
  (``n_overflow``, OVS coverage ``packet_in_overflow``).  ``drain`` empties it, in order,
  on the main loop.
* ``dispatch(connmgr, pin, frame, now)``: offers one packet-in to every session of the
  bridge whose controller id equals the packet-in's, and whose role and async masks take
  its reason (``OfConn.receives_async``).  Each session gets its own encoding: its
  miss_send_len truncates the data of table misses (buffer_id is always NO_BUFFER, the
  switch buffers nothing), and its packet-in format (standard OpenFlow, NXT_PACKET_IN or
  NXT_PACKET_IN2) picks the message.  The encoded message then goes to the session's
  scheduler for its reason - ``schedulers[1]`` ("miss": NO_MATCH and the internal
  explicit/implicit miss reasons) or ``schedulers[0]`` ("action": the rest) - when the
  controller has a rate limit, else straight to the transmit queue with
  ``send_with_limit(controller_queue_size)`` (``OfConn.send_packet_in``).
* The text of ``ofproto/packet-in-stats [BRIDGE]`` (``stats_text``) and its unixctl
  registration (``register_unixctl``, called by the bridge layer).

Time model: ``now`` (ms) is a parameter.  Must not import ``vswitchd``, ``ofproto_dpif``.
"""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

from pyvswitch.openflow import codec
from pyvswitch.openflow import messages as m
from pyvswitch.openflow.ofpacts import OFPCML_NO_BUFFER
from pyvswitch.packet.fields import Match, Slot
from pyvswitch.util.vlog import Logger

log = Logger("packet_in")

ASYNC_QUEUE_MAX = 1024
#: Internal reasons (bit numbers of the async masks; the same values as ofproto_dpif.xlate).
PIN_NO_MATCH, PIN_EXPLICIT_MISS, PIN_IMPLICIT_MISS = 0, 6, 7
MISS_REASONS = frozenset((PIN_NO_MATCH, PIN_EXPLICIT_MISS, PIN_IMPLICIT_MISS))
SCHED_ACTION, SCHED_MISS = 0, 1
#: Formats a session may choose with NXT_SET_PACKET_IN_FORMAT.
SUPPORTED_FORMATS = (m.NXPIF_STANDARD, m.NXPIF_NXT_PACKET_IN, m.NXPIF_NXT_PACKET_IN2)


class PendingPacketIn(NamedTuple):
    pin: Any          # ofproto_dpif.xlate.PacketInCookie (duck-typed: reason, table_id,
                      # cookie, max_len, controller_id, pipeline, in_port)
    frame: bytes


class PacketInQueue:
    """The bounded per-bridge list of packet-ins waiting for the main loop."""

    def __init__(self, limit: int = ASYNC_QUEUE_MAX) -> None:
        self.limit = limit
        self._q: deque[PendingPacketIn] = deque()
        self.n_overflow = 0

    def put(self, pin, frame: bytes) -> bool:
        if len(self._q) >= self.limit:
            self.n_overflow += 1
            return False
        self._q.append(PendingPacketIn(pin, bytes(frame)))
        return True

    def drain(self) -> list[PendingPacketIn]:
        out = list(self._q)
        self._q.clear()
        return out

    def __len__(self) -> int:
        return len(self._q)


def is_miss(reason: int) -> bool:
    return reason in MISS_REASONS


def _metadata(pin) -> Match | None:
    if not pin.pipeline:
        return None
    metadata = Match()
    for slot, value in pin.pipeline:
        metadata.set_slot(slot, value,
                          (1 << 64) - 1 if slot == Slot.METADATA else 0xFFFFFFFF)
    return metadata


def build(pin, frame: bytes, ofconn, metadata: Match | None = None) -> m.PacketIn:
    """The PACKET_IN ``ofconn`` receives for ``pin``: table misses (and OF1.0-1.2
    ``controller`` actions without a length on a miss) are cut to its miss_send_len."""
    if pin.reason == PIN_IMPLICIT_MISS or (
            pin.reason in MISS_REASONS and pin.max_len == OFPCML_NO_BUFFER
            and ofconn.version < 0x04):
        max_len = ofconn.miss_send_len
    else:
        max_len = pin.max_len
    data = frame if max_len >= len(frame) else frame[:max_len]
    return m.PacketIn(data=bytes(data), in_port=pin.in_port,
                      reason=m.OFPR_NO_MATCH if pin.reason in MISS_REASONS else pin.reason,
                      table_id=pin.table_id if pin.table_id < 0xFF else 0,
                      cookie=pin.cookie, total_len=len(frame), metadata=metadata,
                      buffer_id=m.NO_BUFFER)


def dispatch(connmgr, pin, frame: bytes, now: float) -> int:
    """Offer one packet-in to every session that takes it; returns how many took it."""
    metadata = _metadata(pin)
    miss = pin.reason in MISS_REASONS
    n = 0
    for ofconn in connmgr.all_ofconns():
        if ofconn.controller_id != pin.controller_id:
            continue
        if not ofconn.receives_async("packet_in", pin.reason):
            continue
        msg = build(pin, frame, ofconn, metadata)
        try:
            encoded = codec.encode_packet_in(msg, ofconn.version, 0,
                                             ofconn.packet_in_format)
        except ValueError:
            continue
        ofconn.send_packet_in(encoded, pin.in_port, miss, now)
        n += 1
    if not n:
        connmgr.n_async_unsent += 1
    return n


# --- reporting ----------------------------------------------------------------------------

def controller_stats(ofconn) -> dict[str, int]:
    """``packet-in-{miss,action}-{backlog,bypassed,queued,dropped}`` of one session (empty
    without a rate limit, as OVS's Controller.status)."""
    out: dict[str, int] = {}
    for index, label in ((SCHED_MISS, "miss"), (SCHED_ACTION, "action")):
        sched = ofconn.schedulers[index]
        if sched is None:
            continue
        for key, value in sched.stats().items():
            out[f"packet-in-{label}-{key}"] = value
    return out


def stats_text(ofproto) -> str:
    """What ``ofproto/packet-in-stats`` prints for one bridge."""
    provider = getattr(ofproto, "provider", None)
    queue = getattr(provider, "packet_ins", None)
    lines = [f"{ofproto.name}:"]
    if queue is not None:
        lines.append(f"  gathered: {len(queue)} waiting, {queue.n_overflow} overflowed")
    lines.append(f"  unsent: {ofproto.connmgr.n_async_unsent}")
    for ofconn in ofproto.connmgr.all_ofconns():
        lines.append(f"  {ofconn.name}: queued in tx {ofconn.packet_in_counter.n_packets}"
                     f" (limit {ofconn.queue_limit}), overflow {ofconn.n_async_dropped}")
        for key, value in controller_stats(ofconn).items():
            lines.append(f"    {key}={value}")
    return "\n".join(lines) + "\n"


_registered_for: list = []


def register_unixctl(bridges) -> None:
    """``ofproto/packet-in-stats [BRIDGE]``; ``bridges`` is ``vswitchd.bridge.Bridges``
    (duck-typed: ``.bridges`` maps a name to an object with ``.ofproto``)."""
    import ovs.unixctl
    _registered_for[:] = [bridges]
    if "ofproto/packet-in-stats" in ovs.unixctl.commands:
        return

    def handler(conn, argv, aux):
        current = _registered_for[0].bridges
        if argv and argv[0] not in current:
            conn.reply_error(f"{argv[0]}: unknown bridge\n")
            return
        names = argv or sorted(current)
        conn.reply("".join(stats_text(current[n].ofproto) for n in names))

    ovs.unixctl.command_register("ofproto/packet-in-stats", "[bridge]", 0, 1, handler, None)
