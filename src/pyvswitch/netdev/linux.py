"""``system`` devices: an existing Linux interface driven through AF_PACKET rings.

What this module owns
---------------------
* ``SystemNetdev``: receives through a TPACKET_V2 RX ring (one mmap, frames handed over by
  a status word, so a batch costs no system call), transmits through a TPACKET_V2 TX ring
  flushed with one ``send`` per batch, and puts the interface in promiscuous mode.
* ``KernelLink``: the link-state half shared with tap/internal devices: MAC, MTU, carrier,
  admin state and ``change_seq``, refreshed from rtnetlink link events.

Invariants
----------
* Frames this process transmits are never received back (PACKET_IGNORE_OUTGOING; where the
  kernel lacks it, ring slots whose packet type is PACKET_OUTGOING are skipped).
* A VLAN tag the kernel moved out of band (TP_STATUS_VLAN_VALID) is put back in the frame, so
  the datapath always sees the frame as it was on the wire.
* A frame whose TCP/UDP checksum the sender left to offload (TP_STATUS_CSUMNOTREADY: a
  local stack behind a veth or tap) gets it computed here (netdev/offload.py).
* Frames to transmit that do not fit a TX ring slot are dropped and counted in tx_errors.
* Counters: rx/tx packets and bytes come from the kernel's interface counters (as Open
  vSwitch reports them for system devices); ring overruns add to rx_dropped and frames that
  could not be queued to tx_dropped.

Time model: no clock; ``run(now)`` only drains link events.
* A TCP super-frame from a sender using segmentation offload (larger than the MTU; it
  does not fit a ring slot, so the kernel queues it whole on the socket too) is read from
  the socket and cut into MTU-sized segments (netdev/offload.py), as the NIC would have.
  Other oversized frames (UDP GSO) are dropped and counted in rx_errors.
Must not import: datapath/, ofproto/, openflow/.
"""

from __future__ import annotations

import mmap
import select
import socket
import struct
from typing import Any, Iterable

from pyvswitch.netdev import rtnl
from pyvswitch.netdev.base import NetdevError, NetdevStats, register_type
from pyvswitch.netdev.offload import complete_checksum, segment_tcp

ETH_P_ALL = 3
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_COPY_THRESH = 7
PACKET_VERSION = 10
PACKET_TX_RING = 13
PACKET_IGNORE_OUTGOING = 23
TPACKET_V2 = 1
PACKET_OUTGOING = 4

TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
TP_STATUS_COPY = 2
TP_STATUS_CSUMNOTREADY = 8
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
TP_STATUS_AVAILABLE = 0
TP_STATUS_SEND_REQUEST = 1
TP_STATUS_WRONG_FORMAT = 4

_TP2_HDR = struct.Struct("=IIIHHIIHH")   # status len snaplen mac net sec nsec vlan_tci tpid
_TX_DATA = 32                            # TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)
_VLAN = struct.Struct("!HH")


class KernelLink:
    """Link state of a kernel interface, kept fresh by rtnetlink events."""

    def _link_init(self, name: str) -> None:
        self._nl = rtnl.ipr()             # queries stay in the namespace we opened in
        self._events = rtnl.LinkEvents()
        self._link = rtnl.link_state(name, self._nl)
        self._change_seq = 1

    def _link_refresh(self) -> None:
        try:
            new = rtnl.link_state(self._link.ifindex, self._nl)
        except NetdevError:
            new = rtnl.LinkState(self._link.ifindex, self._link.hwaddr, self._link.mtu, 0)
        if new != self._link:
            self._link = new
            self._change_seq += 1

    def _link_run(self) -> None:
        changed = self._events.drain()
        if self._link.ifindex in changed or self._events.overflowed:
            self._events.overflowed = False
            self._link_refresh()

    @property
    def hwaddr(self) -> bytes:
        return self._link.hwaddr

    def set_hwaddr(self, mac: bytes) -> None:
        rtnl.set_link(self._link.ifindex, self._nl, address=":".join(f"{b:02x}" for b in mac))
        self._link_refresh()

    @property
    def mtu(self) -> int:
        return self._link.mtu

    def set_mtu(self, mtu: int) -> None:
        rtnl.set_link(self._link.ifindex, self._nl, mtu=mtu)
        self._link_refresh()

    @property
    def carrier(self) -> bool:
        return self._link.carrier

    @property
    def admin_up(self) -> bool:
        return self._link.admin_up

    def set_admin_up(self, up: bool) -> None:
        rtnl.set_link(self._link.ifindex, self._nl, state="up" if up else "down")
        self._link_refresh()

    @property
    def ifindex(self) -> int:
        return self._link.ifindex

    @property
    def change_seq(self) -> int:
        return self._change_seq


def _setup_ring(sock: socket.socket, opt: int, frame_size: int, frame_nr: int) -> mmap.mmap:
    block = max(1 << 16, frame_size)
    req = struct.pack("IIII", block, frame_size * frame_nr // block, frame_size, frame_nr)
    sock.setsockopt(SOL_PACKET, opt, req)
    return mmap.mmap(sock.fileno(), frame_size * frame_nr, mmap.MAP_SHARED,
                     mmap.PROT_READ | mmap.PROT_WRITE)


class SystemNetdev(KernelLink):
    """An existing Linux interface (veth, physical NIC...) seen through AF_PACKET rings."""

    type = "system"

    def __init__(self, name: str, options: dict[str, str] | None = None,
                 rx_frames: int = 4096, tx_frames: int = 512) -> None:
        """``options['tx_ring']='false'`` transmits with one ``send`` per frame instead of
        the TX ring (kept for comparison: the ring is faster, see bench/fwd_bench.py)."""
        self.name = name
        self._use_tx_ring = (options or {}).get("tx_ring", "true") != "false"
        self._closed = False
        self._link_init(name)
        index = self._link.ifindex
        fs = 2048
        while fs < self._link.mtu + 18 + 96:     # headers + sockaddr_ll + alignment slack
            fs <<= 1
        self._fs = fs
        try:
            rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)   # proto 0: never receives
        except PermissionError as e:
            self._events.close()
            raise NetdevError(f"{name}: AF_PACKET needs CAP_NET_RAW ({e})") from None
        self._rx, self._tx = rx, tx
        try:
            rx.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            self._skip_outgoing = False
        except OSError:
            self._skip_outgoing = True
        rx.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
        # Frames too big for a ring slot (segmentation offload) are also queued whole on
        # the socket, where _recv_slow reads them.
        rx.setsockopt(SOL_PACKET, PACKET_COPY_THRESH, 1)
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self._rx_ring = _setup_ring(rx, PACKET_RX_RING, fs, rx_frames)
        rx.bind((name, ETH_P_ALL))
        rx.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP,
                      struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b""))
        rx.setblocking(False)
        if self._use_tx_ring:
            tx.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
            self._tx_ring = _setup_ring(tx, PACKET_TX_RING, fs, tx_frames)
        else:
            self._tx_ring = mmap.mmap(-1, mmap.PAGESIZE)    # unused placeholder
            self.send_batch = self._send_each                  # type: ignore[method-assign]
        tx.bind((name, 0))
        self._rx_st = memoryview(self._rx_ring).cast("I")
        self._rx_hw = memoryview(self._rx_ring).cast("H")
        self._tx_st = memoryview(self._tx_ring).cast("I")
        self._rx_n, self._tx_n = rx_frames, tx_frames
        self._rx_i = self._tx_i = 0
        self._sw = NetdevStats()          # what the kernel counters do not see

    # -- receive -------------------------------------------------------------------------
    def fileno(self) -> int | None:
        return self._rx.fileno()

    def recv_batch(self, max_n: int) -> list[bytes]:
        st = self._rx_st                  # the ring as 32-bit words (status, len, snaplen)
        fw = self._fs >> 2
        i = self._rx_i
        out: list[bytes] = []
        j = i * fw
        s = st[j]
        if not s & TP_STATUS_USER:
            return out
        ring = self._rx_ring
        hw = self._rx_hw                  # the ring as 16-bit words (tp_mac)
        n = self._rx_n
        fs = self._fs
        append = out.append
        slow = TP_STATUS_COPY | TP_STATUS_VLAN_VALID | TP_STATUS_CSUMNOTREADY
        if self._skip_outgoing:
            slow = -1
        for _ in range(max_n):
            if s & slow:
                self._recv_slow(s, i * fs, i * fs + hw[j + j + 6], st[j + 1], st[j + 2],
                                append)
            else:
                mac = i * fs + hw[j + j + 6]
                append(ring[mac:mac + st[j + 2]])
            st[j] = TP_STATUS_KERNEL
            i += 1
            if i == n:
                i = 0
            j = i * fw
            s = st[j]
            if not s & TP_STATUS_USER:
                break
        self._rx_i = i
        return out

    def _recv_slow(self, s, base, mac, ln, snap, append) -> None:
        ring = self._rx_ring
        if self._skip_outgoing and ring[base + 32 + 10] == PACKET_OUTGOING:
            return
        if s & TP_STATUS_COPY:
            try:                             # the whole frame waits on the socket queue
                frame = self._rx.recv(ln + 64)
            except OSError:
                self._sw.rx_errors += 1
                return
        elif snap < ln:
            self._sw.rx_errors += 1
            return
        else:
            frame = ring[mac:mac + snap]
        if s & TP_STATUS_VLAN_VALID:
            _, _, _, _, _, _, _, tci, tpid = _TP2_HDR.unpack_from(ring, base)
            if not s & TP_STATUS_VLAN_TPID_VALID:
                tpid = 0x8100
            frame = frame[:12] + _VLAN.pack(tpid, tci) + frame[12:]
        if len(frame) > self._link.mtu + 22:   # Ethernet + 2 tags: a GSO super-frame
            segs = segment_tcp(frame, self._link.mtu)
            if not segs:
                self._sw.rx_errors += 1
            for seg in segs:
                append(seg)
            return
        if s & TP_STATUS_CSUMNOTREADY:
            frame = complete_checksum(frame)
        append(frame)

    # -- transmit ------------------------------------------------------------------------
    def send(self, frame: bytes) -> None:
        self.send_batch((frame,))

    def send_batch(self, frames: Iterable[bytes]) -> None:
        st = self._tx_st
        ring = self._tx_ring
        fs = self._fs
        fw = fs >> 2
        n = self._tx_n
        i = start = self._tx_i
        room = fs - _TX_DATA
        queued = 0
        for f in frames:
            ln = len(f)
            j = i * fw
            if st[j] != TP_STATUS_AVAILABLE or ln > room:
                if ln > room:
                    self._sw.tx_errors += 1
                    continue
                if queued:
                    self._flush(start, queued)
                    queued = 0
                    start = i
                if st[j] == TP_STATUS_WRONG_FORMAT:
                    self._sw.tx_errors += 1
                    st[j] = TP_STATUS_AVAILABLE
                if st[j] != TP_STATUS_AVAILABLE:
                    self._sw.tx_dropped += 1
                    continue
            base = i * fs + _TX_DATA
            ring[base:base + ln] = f
            st[j + 1] = ln                # tp_len (the kernel ignores tp_snaplen on TX)
            st[j] = TP_STATUS_SEND_REQUEST
            i += 1
            if i == n:
                i = 0
            queued += 1
        self._tx_i = i
        if queued:
            self._flush(start, queued)

    def _send_each(self, frames: Iterable[bytes]) -> None:
        send = self._tx.send
        for f in frames:
            try:
                send(f)
            except OSError:
                self._sw.tx_dropped += 1

    def _flush(self, start: int, count: int) -> None:
        """Hand ``count`` queued slots from ``start`` to the kernel (a blocking send returns
        once they are all transmitted); if the kernel refused them (link down), free the
        slots and count the frames as dropped."""
        try:
            self._tx.send(b"")
            return
        except OSError:
            pass
        st = self._tx_st
        fw = self._fs >> 2
        j = start
        for _ in range(count):
            if st[j * fw] != TP_STATUS_AVAILABLE:
                st[j * fw] = TP_STATUS_AVAILABLE
                self._sw.tx_dropped += 1
            j = (j + 1) % self._tx_n

    # -- the rest ------------------------------------------------------------------------
    def get_stats(self) -> NetdevStats:
        self._poll_ring_stats()
        try:
            k = rtnl.kernel_stats(self._link.ifindex, self._nl)
        except NetdevError:                  # the interface went away: our own counts
            k = NetdevStats()
        sw = self._sw
        k.rx_dropped += sw.rx_dropped
        k.tx_dropped += sw.tx_dropped
        k.rx_errors += sw.rx_errors
        k.tx_errors += sw.tx_errors
        return k

    def _poll_ring_stats(self) -> None:
        if self._closed:
            return
        _, drops = struct.unpack("II", self._rx.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        self._sw.rx_dropped += drops

    def run(self, now: float) -> None:
        self._link_run()

    def wait(self, poller: Any) -> None:
        st = self._rx_st
        if st[self._rx_i * (self._fs >> 2)] & TP_STATUS_USER:
            poller.immediate_wake()
        else:
            poller.fd_wait(self._rx.fileno(), select.POLLIN)
        poller.fd_wait(self._events.fileno(), select.POLLIN)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._rx_st.release()
        self._rx_hw.release()
        self._tx_st.release()
        self._rx_ring.close()
        self._tx_ring.close()
        self._rx.close()
        self._tx.close()
        self._events.close()

    def __repr__(self) -> str:
        return f"<SystemNetdev {self.name} ifindex={self.ifindex}>"


register_type("system", SystemNetdev)
