"""The exact-match cache key is exact: equal keys always mean equal extracted flows."""

import struct

from hypothesis import given, settings, strategies as st

from pyvswitch.datapath.emc import FAST_KEY_LEN, Emc, emc_key
from pyvswitch.datapath.megaflow import MegaflowTable
from pyvswitch.datapath.actions import compile_actions, Output
from pyvswitch.packet.extract import extract
from pyvswitch.packet.fields import N_SLOTS, Slot


@st.composite
def ipv4_frame_pairs(draw):
    """Two frames with the same first 54 bytes (an untagged IPv4 header without options),
    differing anywhere after that and in length."""
    proto = draw(st.sampled_from([1, 2, 6, 17, 132, 47]))
    tot_len = draw(st.integers(0, 120))
    frag = draw(st.sampled_from([0, 0x2000, 0x0010, 0x4000]))
    head = (bytes(12) + b"\x08\x00" + b"\x45\x00" + struct.pack("!HHH", tot_len, 1, frag)
            + bytes([64, proto]) + bytes(2) + bytes([10, 0, 0, 1, 10, 0, 0, 2]))
    l4 = draw(st.binary(min_size=0, max_size=30))
    a_tail = draw(st.binary(max_size=90))
    b_tail = draw(st.binary(max_size=90))
    a = (head + l4 + a_tail)
    b = (head + l4 + b_tail)
    cut_a = draw(st.integers(14, len(a)))
    cut_b = draw(st.integers(14, len(b)))
    return a[:cut_a], b[:cut_b]


@settings(max_examples=400, deadline=None)
@given(ipv4_frame_pairs())
def test_a_cached_frame_only_serves_frames_with_the_same_flow(pair):
    a, b = pair
    e = Emc()
    mf = object()
    e.insert(a, mf)
    if e.lookup(b) is mf:
        assert extract(a, 1) == extract(b, 1)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80), st.binary(max_size=80))
def test_any_two_frames_sharing_an_entry_extract_alike(a, b):
    e = Emc()
    e.insert(a, "x")
    if e.lookup(b) == "x":
        assert extract(a, 1) == extract(b, 1)


def test_fast_key_is_a_prefix_for_well_formed_ipv4_and_whole_frame_otherwise():
    ipv4 = bytes(12) + b"\x08\x00\x45\x00" + struct.pack("!H", 46) + bytes(60)
    assert emc_key(ipv4) == (ipv4[:FAST_KEY_LEN], 60, emc_key(ipv4)[2])
    lying = bytes(12) + b"\x08\x00\x45\x00" + struct.pack("!H", 1400) + bytes(60)
    assert emc_key(lying) == (lying, 78, 78)
    arp = bytes(12) + b"\x08\x06" + bytes(60)
    assert emc_key(arp) == (arp, 74, 74)
    e = Emc()
    e.insert(ipv4, "v4")
    e.insert(arp, "arp")
    assert e.lookup(ipv4[:59]) is None            # shorter than the IP total length says
    assert e.lookup(ipv4 + b"pad") == "v4" and e.lookup(arp) == "arp"
    assert e.lookup(arp + b"x") is None
    odd = bytes(12) + b"\x88\xb5" + bytes(40)              # a 54-byte non-IP frame
    e.insert(odd, "odd")
    assert e.lookup(odd) is None and e.lookup(odd + b"more") is None


def test_emc_is_bounded_and_forgets_a_megaflow():
    e = Emc(capacity=3)
    mfs = [object(), object()]
    for i in range(5):
        e.insert(bytes([i]), mfs[i % 2])
    assert len(e) == 3 and e.lookup(b"\x00") is None and e.lookup(b"\x04") is mfs[0]
    assert e.forget(mfs[0]) == 2 and len(e) == 1 and e.lookup(b"\x03") is mfs[1]


def test_megaflow_table_lookup_matches_a_linear_scan():
    t = MegaflowTable()
    flows = []
    for port in range(1, 4):
        for tp in (0, 53, 80):
            key = [0] * N_SLOTS
            mask = [0] * N_SLOTS
            key[Slot.IN_PORT], mask[Slot.IN_PORT] = port, 0xFFFFFFFF
            if tp:
                key[Slot.TP_DST], mask[Slot.TP_DST] = tp, 0xFFFF
            mf, created = t.insert(tuple(key), tuple(mask), compile_actions([Output(port)]))
            assert created
            flows.append(mf)
    assert len(t) == 9 and t.n_masks == 2
    for port in range(0, 5):
        for tp in (0, 53, 80, 443):
            f = [0] * N_SLOTS
            f[Slot.IN_PORT], f[Slot.TP_DST] = port, tp
            got = t.lookup(tuple(f))
            want = [mf for mf in flows
                    if all((x & m) == k for x, m, k in zip(f, mf.mask, mf.key))]
            if not want:
                assert got is None
            else:
                assert got in want
    gone = t.remove(flows[0].key, flows[0].mask)
    assert gone is flows[0] and gone.dead and len(t) == 8
