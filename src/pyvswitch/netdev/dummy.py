"""In-memory devices: ``dummy`` (tests, ``ovs-appctl netdev-dummy/receive``) and the shared
state every software device keeps (counters, MAC, MTU, admin state, change_seq).

Invariants: ``rx_queue`` holds frames injected but not yet received, in order, at most
``max_queue`` (excess counted in rx_dropped); ``captured`` holds every frame sent, in order,
until the test clears it.  ``change_seq`` moves on every MAC/MTU/admin/carrier change.
Time model: no clock, ``run(now)`` does nothing.
Must not import: datapath/, ofproto/, openflow/.
"""

from __future__ import annotations

import collections
import os
from typing import Any, Iterable

from pyvswitch.netdev.base import NetdevStats, register_type


def random_hwaddr() -> bytes:
    """A locally administered unicast MAC (what OVS picks for new software devices)."""
    b = bytearray(os.urandom(6))
    b[0] = (b[0] & 0xFC) | 0x02
    return bytes(b)


class SoftDevice:
    """Counters and link state for devices whose state lives in this process."""

    type = "soft"

    def __init__(self, name: str, hwaddr: bytes | None = None, mtu: int = 1500) -> None:
        self.name = name
        self._stats = NetdevStats()
        self._hwaddr = hwaddr or random_hwaddr()
        self._mtu = mtu
        self._admin_up = True
        self._carrier = True
        self._change_seq = 1
        self.closed = False

    # -- link state ----------------------------------------------------------------------
    @property
    def hwaddr(self) -> bytes:
        return self._hwaddr

    def set_hwaddr(self, mac: bytes) -> None:
        if mac != self._hwaddr:
            self._hwaddr = bytes(mac)
            self._change_seq += 1

    @property
    def mtu(self) -> int:
        return self._mtu

    def set_mtu(self, mtu: int) -> None:
        if mtu != self._mtu:
            self._mtu = mtu
            self._change_seq += 1

    @property
    def carrier(self) -> bool:
        return self._carrier and self._admin_up

    def set_carrier(self, up: bool) -> None:
        if up != self._carrier:
            self._carrier = up
            self._change_seq += 1

    @property
    def admin_up(self) -> bool:
        return self._admin_up

    def set_admin_up(self, up: bool) -> None:
        if up != self._admin_up:
            self._admin_up = up
            self._change_seq += 1

    @property
    def ifindex(self) -> int:
        return 0

    @property
    def change_seq(self) -> int:
        return self._change_seq

    def get_stats(self) -> NetdevStats:
        return NetdevStats(**self._stats.as_dict())

    def fileno(self) -> int | None:
        return None

    def run(self, now: float) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class QueuedDevice(SoftDevice):
    """A soft device that receives from an in-memory queue (dummy and patch ports)."""

    def __init__(self, name: str, max_queue: int = 4096) -> None:
        super().__init__(name)
        self.rx_queue: collections.deque[bytes] = collections.deque()
        self.max_queue = max_queue

    def recv_batch(self, max_n: int) -> list[bytes]:
        q = self.rx_queue
        out = []
        st = self._stats
        while q and len(out) < max_n:
            f = q.popleft()
            out.append(f)
            st.rx_packets += 1
            st.rx_bytes += len(f)
        return out

    def send_batch(self, frames: Iterable[bytes]) -> None:
        for f in frames:
            self.send(f)

    def wait(self, poller: Any) -> None:
        if self.rx_queue:
            poller.immediate_wake()


class DummyNetdev(QueuedDevice):
    """A device that exists only in memory: ``inject()`` feeds it, ``captured`` records sends."""

    type = "dummy"

    def __init__(self, name: str, options: dict[str, str] | None = None,
                 max_queue: int = 4096) -> None:
        super().__init__(name, max_queue)
        self.captured: list[bytes] = []

    def inject(self, frame: bytes) -> None:
        """Make ``frame`` arrive on this device (dropped and counted if the queue is full)."""
        if len(self.rx_queue) >= self.max_queue or not self.carrier:
            self._stats.rx_dropped += 1
            return
        self.rx_queue.append(bytes(frame))

    def send(self, frame: bytes) -> None:
        st = self._stats
        if not self.carrier:
            st.tx_dropped += 1
            return
        self.captured.append(bytes(frame))
        st.tx_packets += 1
        st.tx_bytes += len(frame)


register_type("dummy", DummyNetdev)
