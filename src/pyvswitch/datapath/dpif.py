"""The ``Dpif`` boundary: a datapath as the layer above (ofproto_dpif) sees it.

What?
-----
A datapath is a dumb flow cache in front of some ports.  It forwards packets that hit a
cached flow and hands every other packet up as an "upcall".  It knows nothing of OpenFlow:
a flow is a key and a mask over the flow vector (``pyvswitch.packet.fields``), with a list
of datapath actions (``pyvswitch.datapath.actions``) whose ports are datapath ("odp") ports.

Terms
-----
* **megaflow**: a (key, mask, actions) triple installed by ``flow_put``; a packet whose
  flow ``f`` satisfies ``f & mask == key`` runs the actions.
* **upcall**: a packet the datapath could not handle alone: kind ``MISS`` (no megaflow
  matched) or ``ACTION`` (a ``Userspace`` action ran, with its cookie).

Life cycle
----------
1. Create the datapath, ``port_add`` its devices (each gets an odp port number).
2. Each poll-loop iteration: ``run(now)`` -> list of upcalls (the owner translates each,
   usually calls ``flow_put`` and ``execute``); then ``wait(poller)``; then block.
3. ``flow_stats_since`` reports the statistics of the megaflows hit lately, which the layer
   above pushes into its OpenFlow rules (``flow_dump`` is the full snapshot, for
   ``dpif/dump-flows``); ``flow_del``/``flow_flush`` retire megaflows (returning their
   final stats).
4. ``close()`` closes every port's device.

Conventions: malformed frames and frames an action cannot edit are counted and dropped,
never raised; upcalls beyond the queue bound are counted as lost.
Time model: ``now`` is the caller's clock in milliseconds; nothing here reads a clock.
Must not import: ofproto/, openflow/, ofproto_dpif/.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Iterable, Protocol, Sequence

from pyvswitch.datapath.actions import Action
from pyvswitch.netdev.base import Netdev
from pyvswitch.util.compat import SLOTS


class UpcallKind(enum.Enum):
    MISS = "miss"
    ACTION = "action"


@dataclass(frozen=True, **SLOTS)
class Upcall:
    frame: bytes
    flow: tuple[int, ...]
    in_odp_port: int
    kind: UpcallKind
    cookie: Any = None


@dataclass(frozen=True, **SLOTS)
class DpFlow:
    key: tuple[int, ...]
    mask: tuple[int, ...]
    actions: tuple[Action, ...]
    packets: int
    bytes: int
    used_ms: float        # ``now`` of the last hit, 0 if never hit
    tcp_flags: int


@dataclass(frozen=True, **SLOTS)
class DpifStats:
    """What ``ovs-appctl dpif/show`` and ``dpif-netdev/pmd-stats-show`` report."""

    n_hit_emc: int
    n_hit_megaflow: int
    n_missed: int
    n_lost: int
    n_malformed: int
    n_action_errors: int
    n_flows: int
    n_masks: int

    @property
    def n_hit(self) -> int:
        return self.n_hit_emc + self.n_hit_megaflow

    def format(self, name: str = "netdev@ovs-netdev") -> str:
        pkts = self.n_hit + self.n_missed
        return (f"{name}: hit:{self.n_hit} missed:{self.n_missed} lost:{self.n_lost}\n"
                f"  flows: {self.n_flows}\n"
                f"  masks: total:{self.n_masks}\n"
                f"  emc hits: {self.n_hit_emc}\n"
                f"  megaflow hits: {self.n_hit_megaflow}\n"
                f"  miss with success upcall: {self.n_missed}\n"
                f"  packets: {pkts} malformed: {self.n_malformed} "
                f"action errors: {self.n_action_errors}")


class Dpif(Protocol):
    """A datapath (see the module docstring for the life cycle)."""

    def port_add(self, netdev: Netdev, odp_port: int | None = None) -> int:
        """Attach ``netdev``; returns its odp port (``odp_port`` if given and free).
        Raises ValueError if the number or the device name is already in use."""

    def port_del(self, odp_port: int) -> None:
        """Detach the port (its device is not closed).  KeyError if unknown."""

    def port_list(self) -> dict[int, Netdev]:
        """odp port -> device."""

    def flow_put(self, key: tuple[int, ...], mask: tuple[int, ...],
                 actions: Sequence[Action], now: float = 0) -> None:
        """Install a megaflow, or replace the actions of the same (key, mask)."""

    def flow_get(self, key: tuple[int, ...], mask: tuple[int, ...]) -> DpFlow | None:
        """The megaflow with exactly this key and mask, with its statistics, or None."""

    def flow_del(self, key: tuple[int, ...], mask: tuple[int, ...]) -> DpFlow | None:
        """Remove a megaflow; returns its final statistics, or None if absent."""

    def flow_dump(self) -> Iterable[DpFlow]:
        """A snapshot of every megaflow with its statistics."""

    def flow_stats_since(self, since_ms: float) -> Iterable[tuple]:
        """``(key, mask, packets, bytes, used_ms)`` of each megaflow hit at or after
        ``since_ms`` (no snapshot objects: this runs over every megaflow twice a second)."""

    def flow_flush(self) -> list[DpFlow]:
        """Remove every megaflow; returns their final statistics."""

    def execute(self, frame: bytes, actions: Sequence[Action], now: float,
                in_odp_port: int = 0) -> None:
        """Run ``actions`` on one frame now (packet-out, or the packet of an upcall)."""

    def run(self, now: float, upcall_room: int | None = None) -> list[Upcall]:
        """Receive from every port, forward hits, return upcalls; never blocks.  With
        ``upcall_room``, the caller can take only that many upcalls: once they are queued,
        frames are left in the ports' receive queues (their hits wait for the next call)
        rather than read only to be lost as upcalls."""

    def wait(self, poller: Any) -> None:
        """Register every port's fd (or an immediate wake) with the poller."""

    def stats(self) -> DpifStats:
        """Lookup counters."""

    def close(self) -> None:
        """Close every port's device."""
