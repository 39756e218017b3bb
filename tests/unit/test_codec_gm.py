"""Groups and meters against os-ken and ovs-ofctl."""

from __future__ import annotations

import pytest

from oracles import ofp_print, osken, osken_bytes, osken_parse
from pyvswitch.openflow import codec
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages_gm import (
    OFPGC_ADD, OFPGT_FF, OFPGT_SELECT, OFPMBT_DROP, OFPMBT_DSCP_REMARK, OFPMC_ADD, OFPMF_BURST,
    OFPMF_KBPS, OFPMF_STATS, Bucket, GroupDesc, GroupDescReply, GroupDescRequest,
    GroupFeaturesReply, GroupFeaturesRequest, GroupMod, GroupStats, GroupStatsReply,
    GroupStatsRequest, MeterBand, MeterConfig, MeterConfigReply, MeterFeaturesReply,
    MeterMod, MeterStats, MeterStatsReply, MeterStatsRequest)
from pyvswitch.openflow.ofpacts import OFPG_ALL, OFPM_ALL, Output

OF13_UP = (4, 5, 6)


def _buckets(version):
    ids = (0, 1) if version == 6 else (None, None)
    return (Bucket((Output(2),), weight=10, bucket_id=ids[0]),
            Bucket((Output(3),), weight=20, bucket_id=ids[1]))


@pytest.mark.parametrize("version", OF13_UP)
def test_group_mod_from_osken(version):
    dp, ofp, parser = osken(version)
    if version == 6:
        buckets = [parser.OFPBucket(bucket_id=0, actions=[parser.OFPActionOutput(2, 0)],
                                    properties=[parser.OFPGroupBucketPropWeight(
                                        ofp.OFPGBPT_WEIGHT, weight=10)]),
                   parser.OFPBucket(bucket_id=1, actions=[parser.OFPActionOutput(3, 0)],
                                    properties=[parser.OFPGroupBucketPropWeight(
                                        ofp.OFPGBPT_WEIGHT, weight=20)])]
        req = parser.OFPGroupMod(dp, ofp.OFPGC_ADD, ofp.OFPGT_SELECT, 7,
                                 command_bucket_id=ofp.OFPG_BUCKET_ALL, buckets=buckets)
    else:
        buckets = [parser.OFPBucket(10, ofp.OFPP_ANY, ofp.OFPG_ANY,
                                    [parser.OFPActionOutput(2, 0)]),
                   parser.OFPBucket(20, ofp.OFPP_ANY, ofp.OFPG_ANY,
                                    [parser.OFPActionOutput(3, 0)])]
        req = parser.OFPGroupMod(dp, ofp.OFPGC_ADD, ofp.OFPGT_SELECT, 7, buckets)
    assert codec.decode(osken_bytes(req)) == GroupMod(OFPGC_ADD, OFPGT_SELECT, 7,
                                                      _buckets(version))


@pytest.mark.parametrize("version", OF13_UP)
def test_group_mod_we_encode_prints_in_ovs_ofctl(version):
    msg = GroupMod(OFPGC_ADD, OFPGT_SELECT, 7, _buckets(version))
    raw = codec.encode(msg, version, 1)
    text = ofp_print(raw)
    assert "ADD group_id=7,type=select" in text
    assert "weight:10,actions=output:2" in text and "weight:20,actions=output:3" in text
    assert codec.decode(raw) == msg


def test_fast_failover_watch_port_survives_of15():
    msg = GroupMod(OFPGC_ADD, OFPGT_FF, 3, (Bucket((Output(4),), watch_port=4, bucket_id=0),))
    raw = codec.encode(msg, 6, 1)
    assert "watch_port:4" in ofp_print(raw)
    assert codec.decode(raw) == msg


@pytest.mark.parametrize("version", OF13_UP)
def test_group_stats_desc_features(version):
    dp, ofp, parser = osken(version)
    assert codec.decode(osken_bytes(parser.OFPGroupStatsRequest(dp, 0, ofp.OFPG_ALL))) == \
        GroupStatsRequest(OFPG_ALL)
    raw = codec.encode(GroupStatsReply((GroupStats(7, 1, 10, 1000, 5, 0,
                                                   ((4, 400), (6, 600))),)), version, 1)
    text = ofp_print(raw)
    assert "group_id=7" in text and "packet_count=10" in text
    assert "bucket0:packet_count=4,byte_count=400" in text
    body = osken_parse(raw).body[0]
    assert (body.group_id, body.packet_count, len(body.bucket_stats)) == (7, 10, 2)

    if version == 6:
        req = parser.OFPGroupDescStatsRequest(dp, 0, ofp.OFPG_ALL)
    else:
        req = parser.OFPGroupDescStatsRequest(dp, 0)
    assert codec.decode(osken_bytes(req)) == GroupDescRequest()
    desc = GroupDescReply((GroupDesc(OFPGT_SELECT, 7, _buckets(version)),))
    raw = codec.encode(desc, version, 1)
    assert "group_id=7,type=select" in ofp_print(raw)
    assert codec.decode(raw) == desc

    assert codec.decode(osken_bytes(parser.OFPGroupFeaturesStatsRequest(dp, 0))) == \
        GroupFeaturesRequest()
    feats = GroupFeaturesReply(0xF, 0x7, (100, 100, 100, 100), (1, 1, 1, 1))
    raw = codec.encode(feats, version, 1)
    text = ofp_print(raw)
    assert "Group table:" in text and "max_groups=0x64" in text or "max_groups=100" in text
    assert codec.decode(raw) == feats


@pytest.mark.parametrize("version", OF13_UP)
def test_meter_mod_from_osken_and_back(version):
    dp, ofp, parser = osken(version)
    bands = [parser.OFPMeterBandDrop(rate=1000, burst_size=100),
             parser.OFPMeterBandDscpRemark(rate=500, burst_size=50, prec_level=1)]
    req = parser.OFPMeterMod(dp, ofp.OFPMC_ADD, ofp.OFPMF_KBPS | ofp.OFPMF_BURST, 5, bands)
    expected = MeterMod(OFPMC_ADD, OFPMF_KBPS | OFPMF_BURST, 5,
                        (MeterBand(OFPMBT_DROP, 1000, 100),
                         MeterBand(OFPMBT_DSCP_REMARK, 500, 50, prec_level=1)))
    assert codec.decode(osken_bytes(req)) == expected
    text = ofp_print(codec.encode(expected, version, 1))
    assert "meter=5 kbps burst" in text
    assert "type=drop rate=1000 burst_size=100" in text
    assert "type=dscp_remark rate=500 burst_size=50 prec_level=1" in text


def test_meter_band_with_an_unknown_type_is_bad_band():
    raw = bytearray(codec.encode(MeterMod(OFPMC_ADD, OFPMF_KBPS, 1,
                                          (MeterBand(OFPMBT_DROP, 1, 1),)), 4, 1))
    raw[16:18] = b"\x00\x09"
    with pytest.raises(OFPError) as exc:
        codec.decode(bytes(raw))
    assert exc.value.name == "OFPMMFC_BAD_BAND"


@pytest.mark.parametrize("version", OF13_UP)
def test_meter_multiparts(version):
    dp, ofp, parser = osken(version)
    assert codec.decode(osken_bytes(parser.OFPMeterStatsRequest(dp, 0, ofp.OFPM_ALL))) == \
        MeterStatsRequest(OFPM_ALL)
    raw = codec.encode(MeterStatsReply((MeterStats(5, 2, 30, 3000, 9, 0, ((1, 100),)),)),
                       version, 1)
    text = ofp_print(raw)
    assert "meter:5 flow_count:2 packet_in_count:30 byte_in_count:3000" in text
    assert osken_parse(raw).body[0].meter_id == 5
    cfg = MeterConfigReply((MeterConfig(OFPMF_KBPS | OFPMF_STATS, 5,
                                        (MeterBand(OFPMBT_DROP, 1000, 0),)),))
    raw = codec.encode(cfg, version, 1)
    assert "meter=5 kbps stats bands=" in ofp_print(raw)
    assert codec.decode(raw) == cfg
    feats = MeterFeaturesReply(1000, 1 << OFPMBT_DROP, 0xF, 1, 0)
    raw = codec.encode(feats, version, 1)
    assert "max_meter:1000" in ofp_print(raw)
    if version < 6:   # OVS sends the 16-byte OF1.3 layout in OF1.5 too; os-ken wants 24
        assert osken_parse(raw).body[0].max_meter == 1000
    assert codec.decode(raw) == feats
