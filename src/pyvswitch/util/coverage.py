"""coverage: named event counters, shown by ``ovs-appctl coverage/show`` (OVS lib/coverage.c).

What this module owns
---------------------
A process-wide registry of event counters.  A module creates its counters once at import
(``RCONN_OVERFLOW = coverage.Counter("rconn_overflow")``) and calls ``inc()`` where the
event happens - typically where a bounded queue or table refuses something, so every
drop has a visible count.  ``show()`` renders the registry the way ``coverage/show``
prints it: a header with a hash of the hit counters, one line per counter that was hit
(in registration order) with its average rate over the last 5 s, minute and hour and its
total, then how many were never hit.  The rates come from ``run(now)``, which the daemon
calls every loop pass: every 5 s it closes a slot (12 per minute, 60 minutes kept), as
OVS coverage_run does.

The ``coverage/show`` unixctl command is registered when this module is first imported;
``ovs.unixctl`` looks commands up when a request arrives, so registering before the
server exists is fine.

Invariants: counter names are unique (creating a name twice returns the same counter);
totals only grow.  Time model: ``run(now)`` takes the time (ms); nothing here reads a
clock.  Must not import anything else from pyvswitch.
"""

from __future__ import annotations

import zlib

import ovs.unixctl

_REGISTRY: dict[str, "Counter"] = {}
RUN_INTERVAL_MS = 5000              # one rate slot (OVS COVERAGE_RUN_INTERVAL)
MIN_SLOTS = 60_000 // RUN_INTERVAL_MS
HOUR_SLOTS = 60


class Counter:
    """One named event counter."""

    __slots__ = ("name", "total", "last_total", "minute", "hour")

    def __new__(cls, name: str) -> "Counter":
        existing = _REGISTRY.get(name)
        if existing is not None:
            return existing
        self = super().__new__(cls)
        self.name = name
        self.total = 0
        self.last_total = 0                     # total when the last slot closed
        self.minute = [0] * MIN_SLOTS           # events per 5 s slot
        self.hour = [0] * HOUR_SLOTS            # events per minute
        _REGISTRY[name] = self
        return self

    def inc(self, n: int = 1) -> None:
        self.total += n


def value(name: str) -> int:
    """The total of counter ``name`` (0 if no such counter exists)."""
    counter = _REGISTRY.get(name)
    return counter.total if counter is not None else 0


class _Clock:
    next_run: float | None = None
    index = 0                                   # slots closed so far, modulo an hour


def run(now: float) -> None:
    """Close the rate slots that are due (several if the loop slept through some; the
    events of that time are spread evenly over them, as OVS does)."""
    if _Clock.next_run is None:
        _Clock.next_run = now + RUN_INTERVAL_MS
        return
    if now < _Clock.next_run:
        return
    slots = int((now - _Clock.next_run) // RUN_INTERVAL_MS) + 1
    for c in _REGISTRY.values():
        count = c.total - c.last_total
        c.last_total = c.total
        portion, rest = divmod(count, slots)
        idx = _Clock.index
        for j in range(slots):
            m_idx, h_idx = idx % MIN_SLOTS, (idx // MIN_SLOTS) % HOUR_SLOTS
            c.minute[m_idx] = portion + (rest if j == slots - 1 else 0)
            c.hour[h_idx] = c.minute[m_idx] if m_idx == 0 else c.hour[h_idx] + c.minute[m_idx]
            idx = (idx + 1) % (MIN_SLOTS * HOUR_SLOTS)
    _Clock.index = (_Clock.index + slots) % (MIN_SLOTS * HOUR_SLOTS)
    _Clock.next_run = now + RUN_INTERVAL_MS


def next_run() -> float | None:
    """When ``run`` next has work (for the daemon's poll timer)."""
    return _Clock.next_run


def _hash() -> int:
    """A digest of which counters were hit, grouped by equal totals (OVS prints one so
    that two reports of the same set of events can be told apart at a glance)."""
    ranked = sorted((c for c in _REGISTRY.values() if c.total),
                    key=lambda c: (-c.total, c.name))
    text = ";".join(f"{c.total}:{c.name}" for c in ranked)
    return zlib.crc32(text.encode())


def show() -> str:
    """The text of ``ovs-appctl coverage/show``, in Open vSwitch's layout."""
    lines = [f"Event coverage, avg rate over last: {RUN_INTERVAL_MS // 1000} seconds, "
             f"last minute, last hour,  hash={_hash():08x}:"]
    last = (_Clock.index - 1) % MIN_SLOTS
    never = 0
    for c in _REGISTRY.values():
        if not c.total:
            never += 1
            continue
        lines.append(f"{c.name:<24} {c.minute[last] * 1000 / RUN_INTERVAL_MS:5.1f}/sec "
                     f"{sum(c.minute) / 60:9.3f}/sec {sum(c.hour) / 3600:13.4f}/sec   "
                     f"total: {c.total}")
    lines.append(f"{never} events never hit")
    return "\n".join(lines) + "\n"


def _coverage_show(conn, argv, aux) -> None:
    conn.reply(show())


def _coverage_read_counter(conn, argv, aux) -> None:
    counter = _REGISTRY.get(argv[0])
    if counter is None:
        conn.reply_error("No such counter")
    else:
        conn.reply(f"{counter.total}\n")


ovs.unixctl.command_register("coverage/show", "", 0, 0, _coverage_show, None)
ovs.unixctl.command_register("coverage/read-counter", "COUNTER", 1, 1,
                             _coverage_read_counter, None)
