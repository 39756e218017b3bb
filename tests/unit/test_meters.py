"""Meters: METER_MOD semantics and errors as Open vSwitch, meter statistics/config/features
on the wire, flows deleted with their meter, the datapath's token buckets (pktps, kbps,
burst, several bands, DSCP remark) and metering on the cached hit path."""

from __future__ import annotations

import dataclasses

import pytest

from pyvswitch.datapath import actions as dp
from pyvswitch.datapath.meter import (BAND_DROP, BAND_DSCP_REMARK, BandConfig, MeterConfig,
                                      MeterError, MeterTable as DpMeterTable, remark_dscp)
from pyvswitch.netdev.base import open_netdev
from pyvswitch.ofproto.meters import BAND_TYPES_ALL, BAND_TYPES_OVS
from pyvswitch.ofproto.ofproto import Ofproto
from pyvswitch.ofproto_dpif.ofproto_dpif import OfprotoDpif
from pyvswitch.ofproto_dpif.xlate import translate
from pyvswitch.openflow import messages as m
from pyvswitch.openflow import messages_gm as gm
from pyvswitch.openflow import ofpacts as of
from pyvswitch.openflow.messages_gm import MeterBand, MeterMod
from pyvswitch.packet import fields as F
from pyvswitch.packet.compose import compose
from pyvswitch.packet.extract import extract
from pyvswitch.packet.fields import Match, Slot

from fake_session import FakeOfConn, expect_error, send

V13, V15 = 0x04, 0x06
PKTPS = gm.OFPMF_PKTPS
KBPS = gm.OFPMF_KBPS


def drop(rate, burst=0):
    return MeterBand(gm.OFPMBT_DROP, rate, burst)


def meter(cmd, mid, flags=PKTPS, *bands):
    return MeterMod(cmd, flags, mid, tuple(bands))


def metered_flow(mid, port=2, in_port=1, version=V13):
    if version >= V15:
        ins = of.Instructions(apply=(of.MeterAction(mid), of.Output(port)))
    else:
        ins = of.Instructions(apply=(of.Output(port),), meter_id=mid)
    return m.FlowMod(Match().set("in_port", in_port), ins, table_id=0, priority=10)


@pytest.fixture
def ofp():
    return Ofproto("br0", 1)


# --- METER_MOD semantics -------------------------------------------------------------------

@pytest.mark.parametrize("version", [V13, 0x05, V15])
def test_add_then_config_stats_features(ofp, version):
    conn = FakeOfConn(version)
    assert send(ofp, conn, meter(gm.OFPMC_ADD, 1, KBPS | gm.OFPMF_BURST | gm.OFPMF_STATS,
                                 drop(1000, 100)), now=0) == []
    assert send(ofp, conn, meter(gm.OFPMC_ADD, 2, PKTPS, drop(10),
                                 MeterBand(gm.OFPMBT_DSCP_REMARK, 5, prec_level=1))) == []
    (cfg,) = send(ofp, conn, gm.MeterConfigRequest())
    assert [(c.meter_id, c.flags) for c in cfg.configs] == [(1, 0xD), (2, PKTPS)]
    assert cfg.configs[1].bands[1].prec_level == 1
    (stats,) = send(ofp, conn, gm.MeterStatsRequest(1), now=2500)
    (s,) = stats.stats
    assert (s.meter_id, s.flow_count, s.packet_in_count, s.duration_sec) == (1, 0, 0, 2)
    assert s.band_stats == ((0, 0),)
    (feat,) = send(ofp, conn, gm.MeterFeaturesRequest())
    assert (feat.max_meter, feat.capabilities, feat.max_bands, feat.max_color) == \
        (1 << 18, 0xF, 8, 0)
    assert feat.band_types == (1 << gm.OFPMBT_DROP) | (1 << gm.OFPMBT_DSCP_REMARK)


def test_dscp_remark_bands_by_default_and_open_vswitch_userspace_ones_on_request(ofp):
    """Both band types the specification defines by default; with ``BAND_TYPES_OVS``
    only drop bands, as OVS 3.1 with the netdev datapath (dscp_remark: BAD_BAND)."""
    conn = FakeOfConn(V13)
    (feat,) = send(ofp, conn, gm.MeterFeaturesRequest())
    assert feat.band_types == BAND_TYPES_ALL
    remark = meter(gm.OFPMC_ADD, 1, PKTPS, MeterBand(gm.OFPMBT_DSCP_REMARK, 5, prec_level=1))
    assert send(ofp, conn, remark) == []
    ofp.meters.band_types = BAND_TYPES_OVS
    (feat,) = send(ofp, conn, gm.MeterFeaturesRequest())
    assert feat.band_types == 1 << gm.OFPMBT_DROP
    expect_error(ofp, conn, dataclasses.replace(remark, meter_id=2), "OFPMMFC_BAD_BAND")
    assert len(ofp.meters) == 1


@pytest.mark.parametrize("msg, error", [
    (meter(7, 5, PKTPS, drop(1)), "OFPMMFC_BAD_COMMAND"),
    (meter(gm.OFPMC_ADD, 5, PKTPS | KBPS, drop(1)), "OFPMMFC_BAD_FLAGS"),
    (meter(gm.OFPMC_ADD, 5, 0, drop(1)), "OFPMMFC_BAD_FLAGS"),
    (meter(gm.OFPMC_ADD, 5, PKTPS | 0x10, drop(1)), "OFPMMFC_BAD_FLAGS"),
    (meter(gm.OFPMC_ADD, 5, PKTPS, MeterBand(gm.OFPMBT_EXPERIMENTER, 1)), "OFPMMFC_BAD_BAND"),
    (meter(gm.OFPMC_ADD, 0, PKTPS, drop(1)), "OFPMMFC_INVALID_METER"),
    (meter(gm.OFPMC_ADD, 0xFFFF0001, PKTPS, drop(1)), "OFPMMFC_INVALID_METER"),
    (meter(gm.OFPMC_ADD, of.OFPM_ALL, PKTPS, drop(1)), "OFPMMFC_INVALID_METER"),
    (meter(gm.OFPMC_ADD, 5, PKTPS, *[drop(i + 1) for i in range(9)]), "OFPMMFC_OUT_OF_BANDS"),
    (meter(gm.OFPMC_ADD, 5, PKTPS), "OFPMMFC_OUT_OF_BANDS"),
    (meter(gm.OFPMC_ADD, 5, PKTPS, drop(0)), "OFPMMFC_BAD_RATE"),
    (meter(gm.OFPMC_ADD, 1, PKTPS, drop(5)), "OFPMMFC_METER_EXISTS"),
    (meter(gm.OFPMC_MODIFY, 5, PKTPS, drop(5)), "OFPMMFC_UNKNOWN_METER"),
    (meter(gm.OFPMC_MODIFY, 1, PKTPS, drop(0)), "OFPMMFC_BAD_RATE"),
])
def test_refused_meter_mods_leave_the_table_unchanged(ofp, msg, error):
    conn = FakeOfConn(V13)
    OfprotoDpif(ofp)                             # a real datapath behind the switch
    send(ofp, conn, meter(gm.OFPMC_ADD, 1, PKTPS, drop(77)))
    expect_error(ofp, conn, msg, error)
    assert list(ofp.meters) == [1] and ofp.meters[1].bands == (drop(77),)
    assert ofp.provider.dpif.meters.meters.keys() == {ofp.meters[1].dp_id}


def test_special_meters_are_accepted(ofp):
    conn = FakeOfConn(V13)
    for mid in (0xFFFFFFFD, 0xFFFFFFFE):
        assert send(ofp, conn, meter(gm.OFPMC_ADD, mid, PKTPS, drop(100))) == []
    assert len(ofp.meters) == 2


def test_stats_of_unknown_meter_is_unknown_meter(ofp):
    conn = FakeOfConn(V13)
    expect_error(ofp, conn, gm.MeterStatsRequest(3), "OFPMMFC_UNKNOWN_METER")
    expect_error(ofp, conn, gm.MeterConfigRequest(3), "OFPMMFC_UNKNOWN_METER")


def test_flow_naming_a_missing_meter_is_invalid_meter(ofp):
    for version in (V13, V15):
        conn = FakeOfConn(version)
        expect_error(ofp, conn, metered_flow(4, version=version), "OFPMMFC_INVALID_METER")
    assert ofp.flows.n_flows() == 0


def test_delete_meter_deletes_its_flows_with_reason_meter_delete(ofp):
    conn = FakeOfConn(V13)
    removed = []
    ofp.connmgr.send_async = lambda kind, reason, msg, **kw: removed.append((reason, msg))
    send(ofp, conn, meter(gm.OFPMC_ADD, 1, PKTPS, drop(10)))
    send(ofp, conn, meter(gm.OFPMC_ADD, 2, PKTPS, drop(10)))
    fm = metered_flow(1)
    send(ofp, conn, m.FlowMod(fm.match, fm.instructions, table_id=0, priority=10,
                              flags=m.OFPFF_SEND_FLOW_REM, cookie=5))
    send(ofp, conn, metered_flow(2, in_port=2))
    (stats,) = send(ofp, conn, gm.MeterStatsRequest(of.OFPM_ALL))
    assert [(s.meter_id, s.flow_count) for s in stats.stats] == [(1, 1), (2, 1)]
    assert send(ofp, conn, meter(gm.OFPMC_DELETE, 1)) == []
    assert list(ofp.meters) == [2] and ofp.flows.n_flows() == 1
    ((reason, msg),) = removed
    assert reason == m.OFPRR_METER_DELETE and msg.cookie == 5
    assert send(ofp, conn, meter(gm.OFPMC_DELETE, 0)) == []      # meter 0: nothing
    assert send(ofp, conn, meter(gm.OFPMC_DELETE, 99)) == []     # unknown: nothing
    assert len(ofp.meters) == 1
    send(ofp, conn, meter(gm.OFPMC_DELETE, of.OFPM_ALL))
    assert len(ofp.meters) == 0 and ofp.flows.n_flows() == 0


def test_slave_may_not_send_meter_mod(ofp):
    conn = FakeOfConn(V13, role=m.ROLE_SLAVE)
    expect_error(ofp, conn, meter(gm.OFPMC_ADD, 1, PKTPS, drop(1)), "OFPBRC_IS_SLAVE")
    assert len(ofp.meters) == 0


def test_flush_deletes_meters_and_frees_datapath_meters(ofp):
    conn = FakeOfConn(V13)
    provider = OfprotoDpif(ofp)
    send(ofp, conn, meter(gm.OFPMC_ADD, 1, PKTPS, drop(1)))
    ofp.flush(0)
    assert len(ofp.meters) == 0 and not provider.dpif.meters.meters


# --- the datapath's token buckets ----------------------------------------------------------

def test_pktps_band_passes_its_burst_then_its_rate():
    t = DpMeterTable()
    t.set(0, MeterConfig(True, (BandConfig(BAND_DROP, rate=10, burst_size=5),)), now=0)
    passed = sum(t.apply(0, b"x" * 60, 0) is not None for _ in range(20))
    assert passed == 5                           # the bucket starts full: the burst
    passed = sum(t.apply(0, b"x" * 60, 1000) is not None for _ in range(20))
    assert passed == 5                           # one second refills 10, capped at 5
    passed = sum(t.apply(0, b"x" * 60, 1000 + 100 * i) is not None for i in range(1, 51))
    assert passed == 50                          # 10/s offered at 10/s: all pass
    s = t.stats(0)
    assert s.packets == 90 and s.bands[0][0] == 30 and s.bands[0][1] == 30 * 60


def test_kbps_band_counts_bits_and_zero_burst_means_the_rate():
    t = DpMeterTable()
    t.set(3, MeterConfig(False, (BandConfig(BAND_DROP, rate=80),)), now=0)  # 80 kbit
    frame = b"x" * 1000                          # 8 kbit each
    assert sum(t.apply(3, frame, 0) is not None for _ in range(20)) == 10


def test_the_highest_rate_band_exceeded_fires():
    t = DpMeterTable()
    t.set(0, MeterConfig(True, (BandConfig(BAND_DROP, rate=4, burst_size=4),
                                BandConfig(BAND_DSCP_REMARK, rate=2, burst_size=2,
                                           prec_level=1))), now=0)
    frame = compose_ip(tos=0x28)                 # AF11 (DSCP 10)
    results = [t.apply(0, frame, 0) for _ in range(6)]
    assert results[:2] == [frame, frame]         # both bands conform
    remarked = results[2:4]                      # over 2/s only: remarked, passes
    assert all(r is not None and extract(r, 0)[Slot.NW_TOS] == 0x30 for r in remarked)
    assert results[4:] == [None, None]           # over 4/s too: the drop band fires
    assert t.stats(0).bands == ((2, 2 * len(frame)), (2, 2 * len(frame)))


def test_dscp_remark_saturates_and_ignores_non_ip():
    assert extract(remark_dscp(compose_ip(tos=0x38), 2), 0)[Slot.NW_TOS] == 0x38  # AF13
    assert extract(remark_dscp(compose_ip(tos=0x28), 5), 0)[Slot.NW_TOS] == 0x38
    arp = bytes(12) + b"\x08\x06" + bytes(28)
    assert remark_dscp(arp, 1) == arp


def test_datapath_refuses_what_it_cannot_hold():
    t = DpMeterTable()
    with pytest.raises(MeterError) as e:
        t.set(1 << 18, MeterConfig(True, (BandConfig(BAND_DROP, 1),)), 0)
    assert e.value.reason == "id"
    with pytest.raises(MeterError) as e:
        t.set(0, MeterConfig(True, (BandConfig(9, 1),)), 0)
    assert e.value.reason == "band_type"
    assert t.apply(5, b"frame", 0) == b"frame"   # no such meter: nothing is policed


def compose_ip(tos=0, sport=1000):
    flow = list(F.ZERO_FLOW)
    flow[Slot.ETH_SRC], flow[Slot.ETH_DST] = 0x020000000001, 0x020000000002
    flow[Slot.ETH_TYPE] = F.ETH_TYPE_IP
    flow[Slot.NW_SRC], flow[Slot.NW_DST] = 0x0A000001, 0x0A000002
    flow[Slot.NW_PROTO], flow[Slot.NW_TTL], flow[Slot.NW_TOS] = 17, 64, tos
    flow[Slot.TP_SRC], flow[Slot.TP_DST] = sport, 2000
    return compose(tuple(flow), payload_len=20)


# --- metering traffic through the switch ---------------------------------------------------

def make_bridge(n_ports=3):
    ofproto = Ofproto("br0", 1)
    provider = OfprotoDpif(ofproto)
    ports = {}
    for i in range(1, n_ports + 1):
        nd = open_netdev(f"p{i}", "dummy")
        ofproto.add_port(f"p{i}", nd, i)
        ports[i] = nd
    ofproto.run(0)
    return ofproto, provider, ports


@pytest.mark.parametrize("version", [V13, V15])
def test_meter_polices_upcalls_and_cached_hits(version):
    ofproto, provider, ports = make_bridge()
    conn = FakeOfConn(version)
    send(ofproto, conn, meter(gm.OFPMC_ADD, 1, PKTPS | gm.OFPMF_BURST, drop(10, 3)), now=0)
    send(ofproto, conn, metered_flow(1, version=version))
    send(ofproto, conn, m.FlowMod(Match().set("in_port", 3), of.Instructions(
        apply=(of.Output(2),)), table_id=0, priority=10))           # unmetered
    frame = compose_ip()
    for _ in range(10):
        ports[1].inject(frame)
        ports[3].inject(frame)
    provider.run(0)
    for _ in range(10):                          # every one of these is a cache hit
        ports[1].inject(frame)
        ports[3].inject(frame)
    provider.run(0)
    assert provider.dpif.stats().n_hit == 20
    # 3 metered packets (the burst) + all 20 unmetered ones arrive.
    assert len(ports[2].captured) == 23
    (stats,) = send(ofproto, conn, gm.MeterStatsRequest(1))
    (s,) = stats.stats
    assert (s.flow_count, s.packet_in_count, s.byte_in_count) == (1, 20, 20 * len(frame))
    assert s.band_stats == ((17, 17 * len(frame)),)
    # One second later the bucket has refilled (10/s, capped at the burst of 3).
    for _ in range(5):
        ports[1].inject(frame)
    provider.run(1000)
    assert len(ports[2].captured) == 26


def test_meter_instruction_comes_first_in_the_datapath_actions():
    ofproto, provider, ports = make_bridge()
    conn = FakeOfConn(V13)
    send(ofproto, conn, meter(gm.OFPMC_ADD, 9, PKTPS, drop(5)))
    send(ofproto, conn, metered_flow(9))
    flow = list(extract(compose_ip(), 1))
    flow[Slot.IN_PORT] = 1
    out = translate(provider, tuple(flow))
    assert out.actions == [dp.Meter(ofproto.meters[9].dp_id),
                           dp.Output(provider.ofp_to_odp[2])]


def test_modify_meter_restarts_the_datapath_meter():
    ofproto, provider, ports = make_bridge()
    conn = FakeOfConn(V13)
    send(ofproto, conn, meter(gm.OFPMC_ADD, 1, PKTPS, drop(1, 1)), now=0)
    send(ofproto, conn, metered_flow(1))
    for _ in range(5):
        ports[1].inject(compose_ip())
    provider.run(0)
    assert len(ports[2].captured) == 1
    send(ofproto, conn, meter(gm.OFPMC_MODIFY, 1, PKTPS, drop(100, 100)), now=10)
    (stats,) = send(ofproto, conn, gm.MeterStatsRequest(1), now=3000)
    assert stats.stats[0].packet_in_count == 0 and stats.stats[0].duration_sec == 3
    for _ in range(5):
        ports[1].inject(compose_ip())
    provider.run(20)
    assert len(ports[2].captured) == 6


def test_dscp_remark_band_through_the_switch():
    ofproto, provider, ports = make_bridge()
    conn = FakeOfConn(V13)
    assert send(ofproto, conn, meter(gm.OFPMC_ADD, 1, PKTPS | gm.OFPMF_BURST, MeterBand(
        gm.OFPMBT_DSCP_REMARK, 1, 2, prec_level=1)), now=0) == []
    send(ofproto, conn, metered_flow(1))
    ports[1].inject(compose_ip(tos=0x28))
    provider.run(0)                              # an upcall, executed with the meter
    for _ in range(4):
        ports[1].inject(compose_ip(tos=0x28))
    provider.run(0)                              # cached hits
    assert provider.dpif.stats().n_hit == 4
    tos = [extract(f, 0)[Slot.NW_TOS] for f in ports[2].captured]
    assert tos == [0x28, 0x28, 0x30, 0x30, 0x30]   # the burst of 2 unchanged, then AF12


def _fold(header: bytes) -> int:
    total = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, len(header), 2))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


@pytest.mark.parametrize("ipv6", [False, True])
def test_dscp_remark_over_the_rate_raises_the_drop_precedence_and_passes(ipv6):
    """As os-ken's 02_DSCP_REMARK cases: 200 packets/s of DSCP 18 (AF21) through a
    100 pktps band with prec_level 1; what is over the rate leaves as DSCP 20 (AF22),
    IPv4 checksum right; nothing is dropped."""
    ofproto, provider, ports = make_bridge()
    conn = FakeOfConn(V13)
    assert send(ofproto, conn, meter(gm.OFPMC_ADD, 1, PKTPS, MeterBand(
        gm.OFPMBT_DSCP_REMARK, 100, prec_level=1)), now=0) == []
    send(ofproto, conn, metered_flow(1))
    flow = list(extract(compose_ip(tos=18 << 2), 1))
    if ipv6:
        flow[Slot.ETH_TYPE] = F.ETH_TYPE_IPV6
        flow[Slot.IPV6_SRC], flow[Slot.IPV6_DST] = 0x10 << 112 | 0x10, 0x20 << 112 | 0x20
    frame = compose(tuple(flow), payload_len=20)
    for step in range(200):                      # 200 packets/s for 2 s
        ports[1].inject(frame)
        ports[1].inject(frame)
        provider.run(step * 10)
    sent = ports[2].captured
    assert len(sent) == 400
    dscp = [extract(f, 0)[Slot.NW_TOS] >> 2 for f in sent]
    assert set(dscp) == {18, 20} and dscp[0] == 18
    # The bucket starts with a second's worth (burst 0 = the rate) and gains 100/s:
    # about 300 conform, the other 100 are remarked.
    assert 95 <= dscp.count(20) <= 105
    if not ipv6:
        assert all(_fold(f[14:34]) == 0xFFFF for f in sent)


def test_controller_meter_limits_packet_ins_only():
    ofproto, provider, ports = make_bridge()
    conn = FakeOfConn(V13)
    pins = []
    provider.send_packet_in = lambda pin, frame, now: pins.append(frame)
    assert send(ofproto, conn, meter(gm.OFPMC_ADD, 0xFFFFFFFE, PKTPS | gm.OFPMF_BURST,
                                     drop(1, 2)), now=0) == []
    send(ofproto, conn, m.FlowMod(Match().set("in_port", 1), of.Instructions(apply=(
        of.Output(of.OFPP_CONTROLLER, 128), of.Output(2))), table_id=0, priority=10))
    ports[1].inject(compose_ip())
    provider.run(0)
    for _ in range(9):
        ports[1].inject(compose_ip())
    provider.run(0)
    provider.run(0)                              # the packet-in upcalls of the hits
    assert len(ports[2].captured) == 10          # forwarding is not metered
    assert len(pins) == 2                        # packet-ins are: the burst of 2
    flow = list(extract(compose_ip(), 1))
    flow[Slot.IN_PORT] = 1
    (first, out) = translate(provider, tuple(flow)).actions
    assert isinstance(first, dp.Clone) and type(first.actions[0]) is dp.Meter
    # Without the controller meter, packet-ins are plain userspace actions again.
    send(ofproto, conn, meter(gm.OFPMC_DELETE, 0xFFFFFFFE))
    assert type(translate(provider, tuple(flow)).actions[0]) is dp.Userspace
