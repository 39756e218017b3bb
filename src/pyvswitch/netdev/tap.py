"""``tap`` and ``internal`` devices: a Linux tap interface this process creates and owns.

What this module owns: ``TapNetdev`` opens /dev/net/tun with IFF_TAP|IFF_NO_PI (the kernel
creates the interface, and removes it when the fd closes), reads frames the host sends to it
and writes frames the host should receive.  ``internal`` is the bridge's LOCAL port: a tap
named after the bridge, brought up on open so the host can put an address on it.

Invariants: the fd is non-blocking; counters are from this process's point of view (a frame
the host sends into the tap is our rx), like Open vSwitch swaps them for internal devices.
Time model: no clock; ``run(now)`` drains link events.
Must not import: datapath/, ofproto/, openflow/.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import struct
from typing import Any, Iterable

from pyvswitch.netdev import rtnl
from pyvswitch.netdev.base import NetdevError, NetdevStats, register_type
from pyvswitch.netdev.linux import KernelLink
from pyvswitch.util.poller import may_be_ready

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


class TapNetdev(KernelLink):
    type = "tap"

    def __init__(self, name: str, options: dict[str, str] | None = None,
                 bring_up: bool = False) -> None:
        if len(name.encode()) >= 16:
            raise NetdevError(f"{name}: interface name too long")
        self.name = name
        try:
            self._fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            raise NetdevError(f"{name}: cannot open /dev/net/tun: {e}") from None
        try:
            fcntl.ioctl(self._fd, TUNSETIFF, struct.pack("16sH22x", name.encode(),
                                                          IFF_TAP | IFF_NO_PI))
            self._link_init(name)
            if bring_up:
                rtnl.set_link(self._link.ifindex, self._nl, state="up")
                self._link_refresh()
        except (OSError, NetdevError) as e:
            os.close(self._fd)
            raise NetdevError(f"{name}: cannot create tap: {e}") from None
        self._stats = NetdevStats()
        self._closed = False
        self._max_len = 65535

    def fileno(self) -> int | None:
        return self._fd

    def recv_batch(self, max_n: int) -> list[bytes]:
        out: list[bytes] = []
        fd = self._fd
        if not may_be_ready(fd):      # the last poll found nothing to read
            return out
        read = os.read
        st = self._stats
        while len(out) < max_n:
            try:
                f = read(fd, self._max_len)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EINTR):
                    break
                st.rx_errors += 1
                break
            out.append(f)
            st.rx_packets += 1
            st.rx_bytes += len(f)
        return out

    def send(self, frame: bytes) -> None:
        st = self._stats
        try:
            os.write(self._fd, frame)
        except OSError as e:
            # EIO while the interface is down, EAGAIN when the host's queue is full.
            if e.errno in (errno.EIO, errno.EAGAIN, errno.ENOBUFS):
                st.tx_dropped += 1
            else:
                st.tx_errors += 1
            return
        st.tx_packets += 1
        st.tx_bytes += len(frame)

    def send_batch(self, frames: Iterable[bytes]) -> None:
        for f in frames:
            self.send(f)

    def get_stats(self) -> NetdevStats:
        return NetdevStats(**self._stats.as_dict())

    def run(self, now: float) -> None:
        self._link_run()

    def wait(self, poller: Any) -> None:
        poller.fd_wait(self._fd, select.POLLIN)
        poller.fd_wait(self._events.fileno(), select.POLLIN)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        os.close(self._fd)
        self._events.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class InternalNetdev(TapNetdev):
    """The bridge's LOCAL port: a tap named after the bridge, up from the start."""

    type = "internal"

    def __init__(self, name: str, options: dict[str, str] | None = None) -> None:
        super().__init__(name, options, bring_up=True)


register_type("tap", TapNetdev)
register_type("internal", InternalNetdev)
