"""Linux link state for kernel-backed devices (system, tap, internal).

What this module owns: querying and changing a link (index, MAC, MTU, flags, kernel
counters) through pyroute2, and ``LinkEvents``, a non-blocking rtnetlink socket subscribed
to RTNLGRP_LINK that reports which interface indexes changed.

Invariants: every query goes to the network namespace the calling thread is in now (one
IPRoute per namespace, opened lazily).  ``LinkEvents.drain()`` never
blocks.
Time model: no clock.
Must not import: datapath/, ofproto/, openflow/.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from dataclasses import dataclass

from pyvswitch.netdev.base import NetdevError, NetdevStats
from pyvswitch.util.poller import may_be_ready

IFF_UP = 0x1
IFF_LOWER_UP = 0x10000
RTMGRP_LINK = 0x1
RTM_NEWLINK, RTM_DELLINK = 16, 17
_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")

_iprs: dict[int, object] = {}


def ipr():
    """A pyroute2 IPRoute for the current network namespace (opened on first use)."""
    ns = os.stat("/proc/thread-self/ns/net").st_ino
    r = _iprs.get(ns)
    if r is None:
        from pyroute2 import IPRoute
        r = _iprs[ns] = IPRoute()
    return r


@dataclass
class LinkState:
    ifindex: int
    hwaddr: bytes
    mtu: int
    flags: int

    @property
    def admin_up(self) -> bool:
        return bool(self.flags & IFF_UP)

    @property
    def carrier(self) -> bool:
        return bool(self.flags & IFF_UP) and bool(self.flags & IFF_LOWER_UP)


def _get(name_or_index: str | int, nl=None):
    nl = nl or ipr()
    try:
        if isinstance(name_or_index, int):
            return nl.link("get", index=name_or_index)[0]
        return nl.link("get", ifname=name_or_index)[0]
    except Exception as e:  # pyroute2 raises NetlinkError (an OSError) or IndexError
        raise NetdevError(f"{name_or_index}: no such network device ({e})") from None


def link_state(name_or_index: str | int, nl=None) -> LinkState:
    """The link's state; ``nl`` is the IPRoute of the link's namespace (default: current)."""
    m = _get(name_or_index, nl)
    mac = m.get_attr("IFLA_ADDRESS") or "00:00:00:00:00:00"
    return LinkState(ifindex=m["index"], hwaddr=bytes.fromhex(mac.replace(":", "")),
                     mtu=m.get_attr("IFLA_MTU") or 0, flags=m["flags"])


def kernel_stats(ifindex: int, nl=None) -> NetdevStats:
    """The kernel's counters for the link (IFLA_STATS64)."""
    s = _get(ifindex, nl).get_attr("IFLA_STATS64")
    if s is None:
        return NetdevStats()
    return NetdevStats(
        rx_packets=s["rx_packets"], tx_packets=s["tx_packets"], rx_bytes=s["rx_bytes"],
        tx_bytes=s["tx_bytes"], rx_dropped=s["rx_dropped"], tx_dropped=s["tx_dropped"],
        rx_errors=s["rx_errors"], tx_errors=s["tx_errors"],
        rx_frame_err=s["rx_frame_errors"], rx_over_err=s["rx_over_errors"],
        rx_crc_err=s["rx_crc_errors"], collisions=s["collisions"])


def set_link(ifindex: int, nl=None, **kw) -> None:
    """``ip link set``: state='up'|'down', mtu=N, address='aa:bb:..'."""
    try:
        (nl or ipr()).link("set", index=ifindex, **kw)
    except Exception as e:
        raise NetdevError(f"ifindex {ifindex}: cannot set {kw}: {e}") from None


class LinkEvents:
    """A non-blocking rtnetlink socket reporting which links changed."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((0, RTMGRP_LINK))
        self.sock.setblocking(False)
        self.overflowed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def drain(self) -> set[int]:
        """Indexes of links with a RTM_NEWLINK/DELLINK since the last call.

        If the kernel dropped events (ENOBUFS) ``overflowed`` is set: refresh everything.
        """
        changed: set[int] = set()
        if not may_be_ready(self.sock.fileno()):    # the last poll saw no event
            return changed
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return changed
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    self.overflowed = True
                    continue
                return changed
            off = 0
            while off + _NLMSGHDR.size <= len(data):
                ln, typ, _, _, _ = _NLMSGHDR.unpack_from(data, off)
                if ln < _NLMSGHDR.size:
                    break
                if typ in (RTM_NEWLINK, RTM_DELLINK) and ln >= 16 + _IFINFOMSG.size:
                    _, _, index, _, _ = _IFINFOMSG.unpack_from(data, off + 16)
                    changed.add(index)
                off += (ln + 3) & ~3

    def close(self) -> None:
        self.sock.close()
