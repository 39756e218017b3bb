"""token_bucket: a pure token bucket (the model of OVS lib/token-bucket.c).

What this module owns
---------------------
``TokenBucket(rate, burst)``: ``rate`` tokens are added per millisecond up to a capacity of
``burst`` tokens; ``withdraw(n, now)`` takes ``n`` tokens if the bucket holds them.  A new
bucket has never been filled, so its first refill fills it completely (it starts full).

Invariants: ``0 <= tokens <= burst``; the bucket never goes negative.
Time model: ``now`` (milliseconds, int or float) is a parameter; no clock is read.
Must not import anything from the project.
"""

from __future__ import annotations

import math


class TokenBucket:
    """Tokens refilled at ``rate`` per ms, holding at most ``burst``."""

    __slots__ = ("rate", "burst", "tokens", "last_fill")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = 0.0
        self.last_fill: float | None = None   # None: never filled ("infinitely old")

    def set(self, rate: float, burst: float) -> None:
        """New limits; tokens above the new capacity are discarded."""
        self.rate = rate
        self.burst = burst
        self.tokens = min(self.tokens, burst)

    def refill(self, now: float) -> None:
        if self.last_fill is None:
            self.tokens = self.burst
        elif now > self.last_fill:
            self.tokens = min(self.burst, self.tokens + (now - self.last_fill) * self.rate)
        else:
            return
        self.last_fill = now

    def withdraw(self, n: float, now: float) -> bool:
        """Take ``n`` tokens if available; False (and nothing taken) otherwise."""
        if self.tokens < n:
            self.refill(now)
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False

    def available(self, n: float, now: float) -> bool:
        """Would ``withdraw(n, now)`` succeed?"""
        self.refill(now)
        return self.tokens >= n

    def deadline(self, n: float, now: float) -> float:
        """The earliest time (ms) at which ``n`` tokens will be available (``now`` if they
        already are; infinity if the rate is zero)."""
        self.refill(now)
        if self.tokens >= n:
            return now
        if self.rate <= 0:
            return math.inf
        return now + math.ceil((n - self.tokens) / self.rate)
