"""The ``Netdev`` boundary: what every network device offers the datapath above it.

What this module owns
---------------------
* ``Netdev``: one typed Protocol for every device type (Open vSwitch's netdev-provider).
* ``NetdevStats``: the counters, under Open vSwitch's names.
* ``NetdevError`` and the type registry ``open_netdev(name, type, options)``.

Life cycle
----------
1. ``open_netdev(name, type, options)`` creates or attaches the device and returns it
   ready: receiving may start at once.  Errors (no such interface, no permission) raise
   ``NetdevError`` here and nowhere else.
2. On every poll-loop iteration the owner calls ``run(now)`` (refresh link state, drain
   link events; never blocks), then uses ``recv_batch``/``send``/``send_batch``, then
   ``wait(poller)`` to register the fd (``fileno()``) or an immediate wake when frames are
   already queued.
3. ``close()`` releases sockets, rings and devices it created.  Closing twice is a no-op.

Conventions
-----------
* ``recv_batch(max_n)`` returns at most ``max_n`` whole Ethernet frames as ``bytes`` (no
  FCS), never blocks, and returns ``[]`` when nothing is pending.
* ``send``/``send_batch`` never raise for a full queue or a down link: the frame is counted
  in ``tx_dropped`` instead.
* ``change_seq`` is a non-decreasing int that moves whenever something a user of
  ``ovs-vsctl list interface`` would see changes: carrier, admin state, MAC, MTU.
* ``now`` is milliseconds from the caller's clock; devices never read a clock.

Must not import: datapath/, ofproto/, openflow/ (devices know nothing above them).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Iterable, Protocol, runtime_checkable


class NetdevError(OSError):
    """A device could not be opened or configured."""


@dataclass
class NetdevStats:
    """Device counters, named as Open vSwitch names them in the Interface table."""

    rx_packets: int = 0
    tx_packets: int = 0
    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_dropped: int = 0
    tx_dropped: int = 0
    rx_errors: int = 0
    tx_errors: int = 0
    rx_frame_err: int = 0
    rx_over_err: int = 0
    rx_crc_err: int = 0
    collisions: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@runtime_checkable
class Netdev(Protocol):
    """A network device as the datapath sees it (see the module docstring's life cycle)."""

    name: str
    type: str

    def fileno(self) -> int | None:
        """An fd that becomes readable when frames arrive, or None (in-memory devices)."""

    def recv_batch(self, max_n: int) -> list[bytes]:
        """Up to ``max_n`` received frames; never blocks."""

    def send(self, frame: bytes) -> None:
        """Transmit one frame (counted in tx_dropped if it cannot go)."""

    def send_batch(self, frames: Iterable[bytes]) -> None:
        """Transmit several frames, with one system call where the device allows."""

    def get_stats(self) -> NetdevStats:
        """A snapshot of the counters."""

    @property
    def hwaddr(self) -> bytes:
        """The 6-byte Ethernet address."""

    @property
    def mtu(self) -> int:
        """The MTU in bytes."""

    @property
    def carrier(self) -> bool:
        """True when the link is up (lower layer up)."""

    @property
    def admin_up(self) -> bool:
        """True when the device is administratively up."""

    def set_admin_up(self, up: bool) -> None:
        """Bring the device administratively up or down."""

    @property
    def ifindex(self) -> int:
        """Kernel interface index, or 0 for devices that have none."""

    @property
    def change_seq(self) -> int:
        """Moves on carrier, admin state, MAC or MTU changes."""

    def run(self, now: float) -> None:
        """Do pending work (link events); never blocks."""

    def wait(self, poller: Any) -> None:
        """Register with an ``ovs.poller.Poller`` what should wake the loop."""

    def close(self) -> None:
        """Release resources; idempotent."""


_TYPES: dict[str, Callable[[str, dict[str, str]], Netdev]] = {}


def register_type(type_: str, factory: Callable[[str, dict[str, str]], Netdev]) -> None:
    """Make ``open_netdev(name, type_, options)`` call ``factory(name, options)``."""
    _TYPES[type_] = factory


def netdev_types() -> list[str]:
    """Names of the registered device types."""
    _load_builtin()
    return sorted(_TYPES)


def open_netdev(name: str, type_: str = "system",
                options: dict[str, str] | None = None) -> Netdev:
    """Open device ``name`` of type ``type_`` ('' means 'system', as in OVSDB)."""
    _load_builtin()
    type_ = type_ or "system"
    try:
        factory = _TYPES[type_]
    except KeyError:
        raise NetdevError(f"{name}: unknown interface type {type_!r}") from None
    return factory(name, dict(options or {}))


_loaded = False


def _load_builtin() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from pyvswitch.netdev import dummy, linux, patch, tap  # noqa: F401  (register)
