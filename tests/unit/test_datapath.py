"""The userspace datapath with dummy ports: forwarding, statistics, upcalls, the EMC."""

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether

from pyvswitch.datapath import DpifNetdev, Output, Truncate, UpcallKind, Userspace
from pyvswitch.netdev import open_netdev
from pyvswitch.packet.extract import extract
from pyvswitch.packet.fields import N_SLOTS, SLOT_BITS, Slot


def udp(sport=1024, dport=9, payload=b"x" * 18, src="10.0.0.1"):
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:99")
                 / IP(src=src, dst="10.0.0.2") / UDP(sport=sport, dport=dport) / payload)


def mask_of(*slots):
    m = [0] * N_SLOTS
    for s in slots:
        m[s] = (1 << SLOT_BITS[s]) - 1
    return tuple(m)


def key_of(**kw):
    k = [0] * N_SLOTS
    for name, v in kw.items():
        k[Slot[name.upper()]] = v
    return tuple(k)


IN_PORT_ONLY = mask_of(Slot.IN_PORT)


def make_dp(n=3, **kw):
    """A datapath on dummy ports p1..pn.  It caches every megaflow hit in the EMC unless
    the test says otherwise (the tests below count exact EMC hits)."""
    kw.setdefault("emc_insert_inv_prob", 1)
    dp = DpifNetdev(**kw)
    devs = {}
    for i in range(1, n + 1):
        d = open_netdev(f"p{i}", "dummy")
        assert dp.port_add(d) == i
        devs[i] = d
    return dp, devs


def test_megaflow_hit_forwards_and_counts():
    dp, d = make_dp()
    dp.flow_put(key_of(in_port=1), IN_PORT_ONLY, [Output(2)])
    frames = [udp(sport=1000 + i) for i in range(5)]
    for f in frames:
        d[1].inject(f)
    assert dp.run(now=100) == []
    assert d[2].captured == frames and d[3].captured == []
    (fl,) = dp.flow_dump()
    assert fl.packets == 5 and fl.bytes == sum(map(len, frames)) and fl.used_ms == 100
    st = dp.stats()
    assert st.n_hit_megaflow == 5 and st.n_hit_emc == 0 and st.n_missed == 0
    # the same five flows again: now exact-match cache hits
    for f in frames:
        d[1].inject(f)
    dp.run(now=200)
    st = dp.stats()
    assert st.n_hit_emc == 5 and st.n_hit_megaflow == 5
    assert dp.flow_dump()[0].packets == 10 and dp.flow_dump()[0].used_ms == 200


def test_miss_becomes_upcall_with_extracted_flow():
    dp, d = make_dp()
    f = udp()
    d[2].inject(f)
    (up,) = dp.run(now=1)
    assert up.kind is UpcallKind.MISS and up.in_odp_port == 2 and up.frame == f
    assert up.flow == extract(f, 2)
    assert d[1].captured == d[3].captured == []
    assert dp.stats().n_missed == 1
    # the layer above installs a megaflow and executes the packet
    dp.flow_put(up.flow, mask_of(Slot.IN_PORT, Slot.ETH_DST), [Output(3)])
    dp.execute(up.frame, [Output(3)], now=1)
    assert d[3].captured == [f]
    d[2].inject(f)
    assert dp.run(now=2) == []
    assert d[3].captured == [f, f]


def test_upcall_queue_is_bounded_and_lost_counted():
    dp, d = make_dp(max_upcalls=3)
    for i in range(5):
        d[1].inject(udp(sport=i + 1))
    assert len(dp.run(0)) == 3
    assert dp.stats().n_lost == 2 and dp.stats().n_missed == 5


def test_frames_wait_in_the_port_when_the_upcall_handler_is_behind():
    """With room for 3 upcalls, a port is read in one small batch and no further: the
    frames behind it are neither lost nor counted, they wait for the next run."""
    from pyvswitch.datapath.dpif_netdev import MIN_BATCH
    dp, d = make_dp()
    for i in range(MIN_BATCH + 10):
        d[1].inject(udp(sport=i + 1))
    ups = dp.run(0, upcall_room=3)
    assert len(ups) == 3
    st = dp.stats()
    assert st.n_missed == MIN_BATCH and st.n_lost == MIN_BATCH - 3   # read, no room
    assert len(dp.run(0)) == 10 and dp.stats().n_missed == MIN_BATCH + 10


def test_emc_entries_die_with_their_megaflow():
    dp, d = make_dp()
    dp.flow_put(key_of(in_port=1), IN_PORT_ONLY, [Output(2)])
    f = udp()
    d[1].inject(f)
    dp.run(0)
    d[1].inject(f)
    dp.run(0)
    assert dp.stats().n_hit_emc == 1
    final = dp.flow_del(key_of(in_port=1), IN_PORT_ONLY)
    assert final.packets == 2
    d[1].inject(f)
    ups = dp.run(0)
    assert [u.kind for u in ups] == [UpcallKind.MISS]
    assert d[2].captured == [f, f]
    assert dp.flow_del(key_of(in_port=1), IN_PORT_ONLY) is None


def test_flow_put_again_replaces_actions_and_keeps_stats():
    dp, d = make_dp()
    dp.flow_put(key_of(in_port=1), IN_PORT_ONLY, [Output(2)])
    f = udp()
    d[1].inject(f)
    d[1].inject(f)
    dp.run(0)                      # second packet is an EMC hit
    dp.flow_put(key_of(in_port=1), IN_PORT_ONLY, [Output(3), Output(2)])
    d[1].inject(f)
    dp.run(0)
    assert d[3].captured == [f] and d[2].captured == [f, f, f]
    assert dp.flow_dump()[0].packets == 3 and len(dp.flow_dump()) == 1


def test_wildcarded_megaflows_pick_the_matching_one():
    dp, d = make_dp()
    m = mask_of(Slot.IN_PORT, Slot.ETH_TYPE, Slot.NW_PROTO, Slot.TP_DST)
    dp.flow_put(key_of(in_port=1, eth_type=0x800, nw_proto=17, tp_dst=53), m, [Output(2)])
    dp.flow_put(key_of(in_port=1, eth_type=0x800, nw_proto=17, tp_dst=9), m, [Output(3)])
    dp.flow_put(key_of(in_port=1, eth_type=0x806), mask_of(Slot.IN_PORT, Slot.ETH_TYPE), [])
    a, b = udp(dport=53), udp(dport=9)
    arp = bytes(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="10.0.0.2"))
    for f in (a, b, arp, a):
        d[1].inject(f)
    assert dp.run(0) == []
    assert d[2].captured == [a, a] and d[3].captured == [b]
    assert dp.stats().n_masks == 2 and dp.stats().n_flows == 3
    assert sorted(fl.packets for fl in dp.flow_dump()) == [1, 1, 2]


def test_tcp_flags_are_accumulated_per_megaflow():
    dp, d = make_dp()
    dp.flow_put(key_of(in_port=1), IN_PORT_ONLY, [Output(2)])
    base = Ether() / IP(src="10.0.0.1", dst="10.0.0.2")
    syn = bytes(base / TCP(sport=5, dport=80, flags="S"))
    ack = bytes(base / TCP(sport=5, dport=80, flags="A"))
    for f in (syn, syn, ack, ack):
        d[1].inject(f)
    dp.run(0)
    assert dp.flow_dump()[0].tcp_flags == 0x02 | 0x10


def test_malformed_frames_are_counted_not_raised():
    dp, d = make_dp()
    dp.flow_put(key_of(in_port=1), IN_PORT_ONLY, [Output(2)])
    for f in (b"", b"\x00" * 5, b"\xff" * 13):
        d[1].inject(f)
    assert dp.run(0) == []
    assert dp.stats().n_malformed == 3 and d[2].captured == []


def test_bad_ip_lengths_never_share_an_emc_entry_with_good_ones():
    """A frame shorter than its IPv4 total length extracts without L4 fields: it must not
    ride on the cache entry of a complete frame with the same first bytes."""
    dp, d = make_dp()
    m = mask_of(Slot.IN_PORT, Slot.ETH_TYPE, Slot.NW_PROTO, Slot.TP_DST)
    good = udp(payload=b"y" * 40)
    dp.flow_put(extract(good, 1), m, [Output(2)])
    d[1].inject(good)
    d[1].inject(good)
    dp.run(0)
    short = good[:60]                      # IP total length now exceeds the frame
    d[1].inject(short)
    ups = dp.run(0)
    assert [u.frame for u in ups] == [short] and d[2].captured == [good, good]


def test_userspace_action_becomes_action_upcall_and_truncate_applies_once():
    dp, d = make_dp()
    dp.flow_put(key_of(in_port=1), IN_PORT_ONLY,
                [Truncate(20), Output(2), Output(3), Userspace(cookie=7)])
    f = udp()
    d[1].inject(f)
    d[1].inject(f)
    ups = dp.run(0)
    assert d[2].captured == [f[:20]] * 2 and d[3].captured == [f] * 2
    assert [(u.kind, u.cookie, u.in_odp_port, u.frame) for u in ups] == \
        [(UpcallKind.ACTION, 7, 1, f)] * 2


def test_output_to_removed_port_is_dropped_and_port_readd_works():
    dp, d = make_dp()
    dp.flow_put(key_of(in_port=1), IN_PORT_ONLY, [Output(2)])
    dp.port_del(2)
    d[1].inject(udp())
    dp.run(0)
    assert d[2].captured == [] and dp.n_tx_no_port == 1
    assert dp.port_add(d[2], 2) == 2
    d[1].inject(udp())
    dp.run(0)
    assert len(d[2].captured) == 1


def test_flow_flush_and_vlan_frames_use_whole_frame_keys():
    dp, d = make_dp()
    dp.flow_put(key_of(in_port=1), IN_PORT_ONLY, [Output(2)])
    tagged = bytes(Ether() / Dot1Q(vlan=5) / IP() / UDP())
    for _ in range(3):
        d[1].inject(tagged)
    dp.run(0)
    assert d[2].captured == [tagged] * 3 and dp.stats().n_hit_emc == 2
    gone = dp.flow_flush()
    assert [g.packets for g in gone] == [3] and dp.flow_dump() == []
    d[1].inject(tagged)
    assert len(dp.run(0)) == 1


def test_wait_wakes_for_pending_input():
    class Poller:
        immediate = 0

        def immediate_wake(self):
            self.immediate += 1

    dp, d = make_dp()
    p = Poller()
    dp.wait(p)
    assert p.immediate == 0
    d[1].inject(udp())
    dp.wait(p)
    assert p.immediate >= 1



def test_dump_flows_text_shows_match_counters_and_actions():
    from pyvswitch.datapath.format import format_dp_flow
    dp, d = make_dp()
    m = mask_of(Slot.IN_PORT, Slot.ETH_TYPE, Slot.NW_DST)
    dp.flow_put(key_of(in_port=1, eth_type=0x800, nw_dst=0x0A000002), m, [Output(2)])
    (fl,) = dp.flow_dump()
    assert "used:never" in format_dp_flow(fl, now=0)
    d[1].inject(udp())
    dp.run(now=1000)
    text = format_dp_flow(dp.flow_dump()[0], now=1500)
    assert text.startswith("in_port(1),eth_type(0x0800),ip_dst(10.0.0.2)")
    assert "packets:1," in text and "used:0.500s" in text and text.endswith("actions:2")


def test_deleting_a_megaflow_with_many_cache_entries_still_purges_them():
    from pyvswitch.datapath.dpif_netdev import EMC_REFS_MAX
    dp, d = make_dp(max_upcalls=10000)
    dp.flow_put(key_of(in_port=1), IN_PORT_ONLY, [Output(2)])
    frames = [udp(sport=i + 1) for i in range(EMC_REFS_MAX + 10)]
    for _ in range(2):
        for f in frames:
            d[1].inject(f)
        assert dp.run(0) == []
    assert dp.stats().n_hit_emc == len(frames)
    dp.flow_del(key_of(in_port=1), IN_PORT_ONLY)
    for f in frames:
        d[1].inject(f)
    assert len(dp.run(0)) == len(frames)          # every one misses: no stale entry
    assert len(d[2].captured) == 2 * len(frames)


def test_two_datapaths_joined_by_patch_ports():
    from pyvswitch.netdev.patch import PatchNetdev, PatchRegistry
    reg = PatchRegistry()
    dp_a, dev_a = make_dp(n=1)
    dp_b, dev_b = make_dp(n=1)
    assert dp_a.port_add(PatchNetdev("pa-b", {"peer": "pb-a"}, registry=reg)) == 2
    assert dp_b.port_add(PatchNetdev("pb-a", {"peer": "pa-b"}, registry=reg)) == 2
    dp_a.flow_put(key_of(in_port=1), IN_PORT_ONLY, [Output(2)])
    dp_b.flow_put(key_of(in_port=2), IN_PORT_ONLY, [Output(1)])
    f = udp()
    dev_a[1].inject(f)
    assert dp_a.run(0) == [] and dp_b.run(0) == []
    assert dev_b[1].captured == [f]


def ping(seq):
    """An ICMP echo request as ping sends them: id, sequence and IPv4 id change each time."""
    from scapy.layers.inet import ICMP
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                 / IP(src="10.0.0.1", dst="10.0.0.2", id=seq) / ICMP(id=77, seq=seq)
                 / (b"p" * 56))


def emc_size(dp, odp_port):
    return len(dp._ports[odp_port].emc)


def test_headers_that_never_repeat_fill_the_emc_one_hit_in_a_hundred():
    """The soak's RSS creep: every echo request has new header bytes, so caching each
    megaflow hit added an EMC entry per packet, never hit again, until the port's cache
    held 8192 of them.  By default (OVS's emc-insert-inv-prob=100) one in 100 goes in."""
    from pyvswitch.datapath.dpif_netdev import EMC_INSERT_INV_PROB
    dp, d = make_dp(emc_insert_inv_prob=EMC_INSERT_INV_PROB, max_upcalls=10000)
    dp.flow_put(key_of(in_port=1), IN_PORT_ONLY, [Output(2)])
    frames = [ping(seq) for seq in range(1000)]     # before: 1000 entries
    for f in frames:
        d[1].inject(f)
    assert dp.run(0) == []
    assert d[2].captured == frames
    assert 0.5 * 1000 / EMC_INSERT_INV_PROB <= emc_size(dp, 1) <= 2 * 1000 / EMC_INSERT_INV_PROB
    assert dp.stats().n_hit_megaflow == 1000 and dp.stats().n_hit_emc == 0


def test_a_repeating_header_still_reaches_the_emc_among_changing_ones():
    dp, d = make_dp(emc_insert_inv_prob=100, max_upcalls=10000)
    dp.flow_put(key_of(in_port=1), IN_PORT_ONLY, [Output(2)])
    steady = udp()
    for seq in range(1, 400):            # one changing header between two steady ones
        d[1].inject(ping(seq))
        d[1].inject(steady)
    dp.run(0)
    assert len(d[2].captured) == 798
    assert dp._ports[1].emc.lookup(steady) is not None     # a fixed count of 100 never
    assert dp.stats().n_hit_emc > 0                        # picked it (always odd hits)


def test_emc_insert_inv_prob_zero_caches_nothing_and_one_everything():
    for inv_prob, expected in ((0, 0), (1, 50)):
        dp, d = make_dp(emc_insert_inv_prob=inv_prob)
        dp.flow_put(key_of(in_port=1), IN_PORT_ONLY, [Output(2)])
        for seq in range(50):
            d[1].inject(ping(seq))
        dp.run(0)
        assert emc_size(dp, 1) == expected and len(d[2].captured) == 50
