"""pinsched: a per-input-port fair rate limiter for packet-ins (OVS ofproto/pinsched.c).

What this module owns
---------------------
``PinSched(rate, burst)`` decides when a packet-in may go to the controller's transmit
queue.  It spends 1000 tokens of a ``TokenBucket`` per packet; the bucket gains ``rate``
tokens per millisecond (so ``rate`` packets per second) and holds ``burst`` packets' worth.

* ``send(port, packet, now)``: with nothing queued and a token to spend the packet goes out
  at once ("bypassed"); otherwise it joins the queue of its input port ("queued").  The
  queues hold at most ``burst`` packets in total: to make room, the packet at the head of
  the longest queue is dropped (ties broken at random) and counted as "dropped".
* ``run(now)``: releases queued packets while tokens last, at most 50 per call, taking one
  packet from each port's queue in turn (round robin), so a port flooding the switch cannot
  starve a quiet one.
* ``next_wakeup(now)``: when the next token for a queued packet will exist (None if idle).

The returned packets are for the caller to transmit (``OfConn`` hands them to its rconn
with ``send_with_limit``).  Packets are opaque objects; ports are any hashable value.

Invariants: ``n_queued == sum(len(q) for q in queues) <= burst``; a port has a queue only
while it holds packets; ``_ring`` lists each such port exactly once.
Time model: ``now`` (ms) is a parameter.  Must not import anything above ``util``.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any, Hashable

from pyvswitch.util.token_bucket import TokenBucket

TOKENS_PER_PACKET = 1000
MAX_RELEASE_PER_RUN = 50


def adjust_limits(rate: int | None, burst: int | None) -> tuple[int, int]:
    """OVS's defaults: rate <= 0 means 1000/s; burst unset means rate/4, at least 1."""
    rate = rate if rate and rate > 0 else 1000
    burst = burst if burst and burst > 0 else rate // 4
    return rate, max(1, burst)


class PinSched:
    """One packet-in scheduler (see the module docstring)."""

    def __init__(self, rate: int | None, burst: int | None = None,
                 rng: random.Random | None = None) -> None:
        self.rate_limit, self.burst_limit = adjust_limits(rate, burst)
        self.bucket = TokenBucket(self.rate_limit,
                                  self.burst_limit * TOKENS_PER_PACKET)
        self.queues: dict[Hashable, deque] = {}
        self._ring: deque[Hashable] = deque()   # round-robin order of non-empty queues
        self._rng = rng or random.Random()
        self.n_queued = 0        # packets waiting now (the "backlog")
        self.n_normal = 0        # sent at once, never queued ("bypassed")
        self.n_limited = 0       # ever queued ("queued")
        self.n_queue_dropped = 0  # dropped to make room ("dropped")

    # --- configuration ----------------------------------------------------------------
    def set_limits(self, rate: int | None, burst: int | None) -> None:
        self.rate_limit, self.burst_limit = adjust_limits(rate, burst)
        self.bucket.set(self.rate_limit, self.burst_limit * TOKENS_PER_PACKET)
        while self.n_queued > self.burst_limit:
            self._drop()

    # --- the two entry points ---------------------------------------------------------
    def send(self, port: Hashable, packet: Any, now: float) -> list:
        """Offer ``packet`` from ``port``; returns what may be transmitted now."""
        if not self.n_queued and self.bucket.withdraw(TOKENS_PER_PACKET, now):
            self.n_normal += 1
            return [packet]
        if self.n_queued >= self.burst_limit:
            self._drop()
        q = self.queues.get(port)
        if q is None:
            q = self.queues[port] = deque()
            self._ring.append(port)
        q.append(packet)
        self.n_queued += 1
        self.n_limited += 1
        return []

    def run(self, now: float) -> list:
        """Release queued packets, token permitting, at most 50, round robin by port."""
        out: list = []
        while (self.n_queued and len(out) < MAX_RELEASE_PER_RUN
               and self.bucket.withdraw(TOKENS_PER_PACKET, now)):
            port = self._ring.popleft()
            q = self.queues[port]
            out.append(q.popleft())
            self.n_queued -= 1
            if q:
                self._ring.append(port)
            else:
                del self.queues[port]
        return out

    def next_wakeup(self, now: float) -> float | None:
        """When ``run`` will next have something to release (None: nothing queued)."""
        if not self.n_queued:
            return None
        return self.bucket.deadline(TOKENS_PER_PACKET, now)

    def wait(self, poller, now: float) -> None:
        deadline = self.next_wakeup(now)
        if deadline is not None:
            poller.timer_wait_until(deadline)

    def clear(self) -> int:
        """Discard every queued packet (the session ended); returns how many."""
        n = self.n_queued
        self.queues.clear()
        self._ring.clear()
        self.n_queued = 0
        return n

    # --- statistics -------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        """The four numbers OVS reports per scheduler in Controller.status."""
        return {"backlog": self.n_queued, "bypassed": self.n_normal,
                "queued": self.n_limited, "dropped": self.n_queue_dropped}

    # --- internals --------------------------------------------------------------------
    def _drop(self) -> None:
        """Drop the head of the longest queue (a random one among equals)."""
        longest, n_longest = [], 0
        for port, q in self.queues.items():
            if len(q) > n_longest:
                longest, n_longest = [port], len(q)
            elif len(q) == n_longest:
                longest.append(port)
        if not longest:
            return
        port = longest[0] if len(longest) == 1 else self._rng.choice(longest)
        q = self.queues[port]
        q.popleft()
        self.n_queued -= 1
        self.n_queue_dropped += 1
        if not q:
            del self.queues[port]
            self._ring.remove(port)
