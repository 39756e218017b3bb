"""Arbitrary bytes through the datapath: nothing raises, every frame is accounted for once."""

from hypothesis import given, settings, strategies as st

from pyvswitch.datapath import DpifNetdev, Output, PopVlan, PushVlan, SetField
from pyvswitch.netdev import open_netdev
from pyvswitch.packet.fields import N_SLOTS, Slot

IPV4_UDP = bytes.fromhex("02000000009902000000000108004500002e000100004011f9c60a6300010a630002"
                         "04000009001a0000")


def frames():
    # raw bytes, and mutations of a valid IPv4/UDP frame (more likely to reach deep code)
    mutated = st.builds(lambda cut, pos, b: (IPV4_UDP + bytes(18))[:cut][:pos] + bytes([b])
                        + (IPV4_UDP + bytes(18))[:cut][pos + 1:],
                        st.integers(0, 60), st.integers(0, 59), st.integers(0, 255))
    return st.lists(st.one_of(st.binary(max_size=120), mutated), max_size=30)


@settings(max_examples=150, deadline=None)
@given(frames())
def test_every_frame_is_counted_once_and_nothing_raises(batch):
    dp = DpifNetdev(max_upcalls=10)
    a, b = open_netdev("fa", "dummy"), open_netdev("fb", "dummy")
    dp.port_add(a, 1)
    dp.port_add(b, 2)
    key, mask = [0] * N_SLOTS, [0] * N_SLOTS
    key[Slot.IN_PORT], mask[Slot.IN_PORT] = 1, 0xFFFFFFFF
    key[Slot.ETH_TYPE], mask[Slot.ETH_TYPE] = 0x0800, 0xFFFF
    dp.flow_put(tuple(key), tuple(mask),
                [SetField("ip_dst", 0x0A000009), PushVlan(0x8100, 5), Output(2), PopVlan(),
                 Output(2)])
    for f in batch:
        a.inject(f)
    ups = dp.run(0)
    ups += dp.run(0)
    s = dp.stats()
    assert s.n_hit_emc + s.n_hit_megaflow + s.n_missed + s.n_malformed == len(batch)
    assert len(ups) == s.n_missed - s.n_lost
    assert len(b.captured) == 2 * (s.n_hit_emc + s.n_hit_megaflow - s.n_action_errors)
