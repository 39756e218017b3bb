"""Dummy and patch devices, and the device registry, as the datapath and tests use them."""

import pytest

from pyvswitch.netdev import Netdev, NetdevError, netdev_types, open_netdev
from pyvswitch.netdev.patch import PatchRegistry, PatchNetdev


class FakePoller:
    def __init__(self):
        self.immediate = 0
        self.fds = []

    def immediate_wake(self):
        self.immediate += 1

    def fd_wait(self, fd, events):
        self.fds.append(fd)

    def timer_wait(self, ms):
        pass


FRAME = bytes.fromhex("ffffffffffff020000000001" "0800") + bytes(46)


def test_registry_knows_every_type_and_rejects_unknown():
    assert {"dummy", "system", "tap", "internal", "patch"} <= set(netdev_types())
    with pytest.raises(NetdevError):
        open_netdev("x", "vxlan-nonexistent")


def test_dummy_inject_receive_send_and_counters():
    d = open_netdev("d0", "dummy")
    assert isinstance(d, Netdev)
    assert d.fileno() is None and d.carrier and d.admin_up
    p = FakePoller()
    d.wait(p)
    assert p.immediate == 0
    d.inject(FRAME)
    d.inject(FRAME[:20])
    d.wait(p)
    assert p.immediate == 1          # injected frames wake the poll loop
    assert d.recv_batch(1) == [FRAME]
    assert d.recv_batch(10) == [FRAME[:20]]
    assert d.recv_batch(10) == []
    d.send_batch([FRAME, FRAME])
    assert d.captured == [FRAME, FRAME]
    s = d.get_stats()
    assert (s.rx_packets, s.rx_bytes) == (2, len(FRAME) + 20)
    assert (s.tx_packets, s.tx_bytes) == (2, 2 * len(FRAME))


def test_dummy_change_seq_moves_on_link_changes_and_down_drops():
    d = open_netdev("d1", "dummy")
    seq = d.change_seq
    d.set_admin_up(False)
    assert d.change_seq > seq and not d.carrier
    d.send(FRAME)
    d.inject(FRAME)
    s = d.get_stats()
    assert s.tx_dropped == 1 and s.rx_dropped == 1 and d.captured == []
    seq = d.change_seq
    d.set_admin_up(False)            # no change, no bump
    assert d.change_seq == seq
    d.set_mtu(9000)
    d.set_hwaddr(b"\x02\x00\x00\x00\x00\x07")
    assert d.change_seq == seq + 2 and d.mtu == 9000 and d.hwaddr == b"\x02\x00\x00\x00\x00\x07"
    assert d.hwaddr[0] & 1 == 0


def test_dummy_queue_bound_counts_rx_dropped():
    d = open_netdev("d2", "dummy")
    d.max_queue = 3
    for _ in range(5):
        d.inject(FRAME)
    assert len(d.recv_batch(100)) == 3
    assert d.get_stats().rx_dropped == 2


def test_patch_pair_carries_frames_both_ways():
    reg = PatchRegistry()
    a = PatchNetdev("pa", {"peer": "pb"}, registry=reg)
    assert not a.carrier             # peer not there yet
    a.send(FRAME)
    assert a.get_stats().tx_dropped == 1
    b = PatchNetdev("pb", {"peer": "pa"}, registry=reg)
    assert a.carrier and b.carrier
    a.send_batch([FRAME, FRAME[:30]])
    p = FakePoller()
    b.wait(p)
    assert p.immediate == 1
    assert b.recv_batch(10) == [FRAME, FRAME[:30]]
    b.send(FRAME)
    assert a.recv_batch(10) == [FRAME]
    assert a.get_stats().tx_packets == 2 and b.get_stats().rx_packets == 2
    b.close()
    assert not a.carrier
    a.send(FRAME)
    assert a.get_stats().tx_dropped == 2
    a.close()
    assert reg.by_name == {}


def test_patch_needs_a_peer():
    with pytest.raises(NetdevError):
        open_netdev("pz", "patch", {})
    with pytest.raises(NetdevError):
        open_netdev("pz", "patch", {"peer": "pz"})
