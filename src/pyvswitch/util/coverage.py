"""coverage: named event counters, shown by ``ovs-appctl coverage/show`` (OVS lib/coverage.c).

What this module owns
---------------------
A process-wide registry of event counters.  A module creates its counters once at import
(``RCONN_OVERFLOW = coverage.Counter("rconn_overflow")``) and calls ``inc()`` where the
event happens - typically where a bounded queue or table refuses something, so every
drop has a visible count.  ``show()`` renders the registry the way ``coverage/show``
prints it: one line per counter that was hit, then how many were never hit.  Open
vSwitch also reports per-interval rates; only totals since start are kept here.

The ``coverage/show`` unixctl command is registered when this module is first imported;
``ovs.unixctl`` looks commands up when a request arrives, so registering before the
server exists is fine.

Invariants: counter names are unique (creating a name twice returns the same counter);
totals only grow.  Time model: none.  Must not import anything else from pyvswitch.
"""

from __future__ import annotations

import ovs.unixctl

_REGISTRY: dict[str, "Counter"] = {}


class Counter:
    """One named event counter."""

    __slots__ = ("name", "total")

    def __new__(cls, name: str) -> "Counter":
        existing = _REGISTRY.get(name)
        if existing is not None:
            return existing
        self = super().__new__(cls)
        self.name = name
        self.total = 0
        _REGISTRY[name] = self
        return self

    def inc(self, n: int = 1) -> None:
        self.total += n


def value(name: str) -> int:
    """The total of counter ``name`` (0 if no such counter exists)."""
    counter = _REGISTRY.get(name)
    return counter.total if counter is not None else 0


def show() -> str:
    hit = sorted((c for c in _REGISTRY.values() if c.total), key=lambda c: c.name)
    lines = ["Event coverage (totals since the daemon started):"]
    width = max((len(c.name) for c in hit), default=0)
    lines.extend(f"{c.name:<{width}}  total: {c.total}" for c in hit)
    lines.append(f"{len(_REGISTRY) - len(hit)} events never hit")
    return "\n".join(lines) + "\n"


def _coverage_show(conn, argv, aux) -> None:
    conn.reply(show())


ovs.unixctl.command_register("coverage/show", "", 0, 0, _coverage_show, None)
