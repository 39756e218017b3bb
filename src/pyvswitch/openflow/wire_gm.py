"""Wire layouts of GROUP_MOD / group multiparts and METER_MOD / meter multiparts.

What this module owns
---------------------
* Groups (OF1.3/1.4 layout with 16-byte buckets; OF1.5 layout with bucket ids and bucket
  properties for weight and watch port/group): GROUP_MOD, GROUP stats, GROUP_DESC and
  GROUP_FEATURES.
* Meters (OF1.3+): METER_MOD with drop / dscp_remark / experimenter bands, METER stats,
  METER_CONFIG and METER_FEATURES.

OpenFlow 1.0 has neither (OVS's Nicira group extension for OF1.0 is not implemented).

Must not import: ofproto, conn, or anything above openflow.
"""

from __future__ import annotations

import struct

from pyvswitch.openflow import registry as R
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages import OFPMPF_MORE
from pyvswitch.openflow.messages_gm import (
    OFPMBT_DROP, OFPMBT_DSCP_REMARK, OFPMBT_EXPERIMENTER, OFPGT_SELECT, Bucket, GroupDesc,
    GroupDescReply, GroupDescRequest, GroupFeaturesReply, GroupFeaturesRequest, GroupMod,
    GroupStats, GroupStatsReply, GroupStatsRequest, MeterBand, MeterConfig, MeterConfigReply,
    MeterConfigRequest, MeterFeaturesReply, MeterFeaturesRequest, MeterMod, MeterStats,
    MeterStatsReply, MeterStatsRequest)
from pyvswitch.openflow.multipart import body_offset, finish_mp, parse_mp_header, split_reply
from pyvswitch.openflow.ofpacts import OFPG_ANY, OFPP_ANY
from pyvswitch.openflow.wire_flow import _ac

OFPT_GROUP_MOD, OFPT_METER_MOD = 15, 29
OFPMP_GROUP, OFPMP_GROUP_DESC, OFPMP_GROUP_FEATURES = 6, 7, 8
OFPMP_METER, OFPMP_METER_CONFIG, OFPMP_METER_FEATURES = 9, 10, 11

GROUP_MOD11 = struct.Struct("!HBxI")
assert GROUP_MOD11.size == 8
GROUP_MOD15 = struct.Struct("!HBxIH2xI")
assert GROUP_MOD15.size == 16
BUCKET11 = struct.Struct("!HHII4x")
assert BUCKET11.size == 16
BUCKET15 = struct.Struct("!HHI")
assert BUCKET15.size == 8
PROP_U16 = struct.Struct("!HHH2x")
PROP_U32 = struct.Struct("!HHI")
OFPGBPT15_WEIGHT, OFPGBPT15_WATCH_PORT, OFPGBPT15_WATCH_GROUP = 0, 1, 2
ID_REQ = struct.Struct("!I4x")
GROUP_STATS = struct.Struct("!H2xII4xQQII")
assert GROUP_STATS.size == 40
COUNTER_PAIR = struct.Struct("!QQ")
GROUP_DESC11 = struct.Struct("!HBxI")
assert GROUP_DESC11.size == 8
GROUP_DESC15 = struct.Struct("!HBxIH6x")
assert GROUP_DESC15.size == 16
GROUP_FEATURES = struct.Struct("!II4I4I")
assert GROUP_FEATURES.size == 40
METER_MOD = struct.Struct("!HHI")
assert METER_MOD.size == 8
BAND = struct.Struct("!HHII")
assert BAND.size == 12
METER_STATS = struct.Struct("!IH6xIQQII")
assert METER_STATS.size == 40
METER_CONFIG = struct.Struct("!HHI")
assert METER_CONFIG.size == 8
METER_FEATURES = struct.Struct("!IIIBB2x")
assert METER_FEATURES.size == 16


# --- buckets -------------------------------------------------------------------------------

def _encode_buckets(version: int, group_type: int, buckets) -> bytes:
    out = []
    for i, b in enumerate(buckets):
        actions = _ac().encode_actions(version, b.actions)
        if version != R.V15:
            out.append(BUCKET11.pack(16 + len(actions), b.weight, b.watch_port, b.watch_group)
                       + actions)
            continue
        props = b""
        if group_type == OFPGT_SELECT or b.weight:
            props += PROP_U16.pack(OFPGBPT15_WEIGHT, 8, b.weight)
        if b.watch_port != OFPP_ANY:
            props += PROP_U32.pack(OFPGBPT15_WATCH_PORT, 8, b.watch_port)
        if b.watch_group != OFPG_ANY:
            props += PROP_U32.pack(OFPGBPT15_WATCH_GROUP, 8, b.watch_group)
        bucket_id = i if b.bucket_id is None else b.bucket_id
        out.append(BUCKET15.pack(8 + len(actions) + len(props), len(actions), bucket_id)
                   + actions + props)
    return b"".join(out)


def _decode_buckets(version: int, buf: bytes, pos: int, end: int) -> tuple[Bucket, ...]:
    buckets = []
    while pos < end:
        if version != R.V15:
            if pos + 16 > end:
                raise OFPError("OFPGMFC_BAD_BUCKET", "truncated bucket")
            length, weight, watch_port, watch_group = BUCKET11.unpack_from(buf, pos)
            if length < 16 or pos + length > end or length % 8:
                raise OFPError("OFPGMFC_BAD_BUCKET", f"bucket length {length}")
            actions = _ac().decode_actions(version, buf, pos + 16, length - 16)
            buckets.append(Bucket(tuple(actions), weight, watch_port, watch_group))
            pos += length
            continue
        if pos + 8 > end:
            raise OFPError("OFPGMFC_BAD_BUCKET", "truncated bucket")
        length, actions_len, bucket_id = BUCKET15.unpack_from(buf, pos)
        if length < 8 + actions_len or pos + length > end:
            raise OFPError("OFPGMFC_BAD_BUCKET", f"bucket length {length}")
        actions = _ac().decode_actions(version, buf, pos + 8, actions_len)
        weight, watch_port, watch_group = 0, OFPP_ANY, OFPG_ANY
        ppos = pos + 8 + actions_len
        while ppos < pos + length:
            if ppos + 4 > pos + length:
                raise OFPError("OFPBPC_BAD_LEN", "bucket property")
            ptype, plen = struct.unpack_from("!HH", buf, ppos)
            if plen < 4 or ppos + plen > pos + length:
                raise OFPError("OFPBPC_BAD_LEN", "bucket property")
            if ptype == OFPGBPT15_WEIGHT and plen == 8:
                weight = PROP_U16.unpack_from(buf, ppos)[2]
            elif ptype == OFPGBPT15_WATCH_PORT and plen == 8:
                watch_port = PROP_U32.unpack_from(buf, ppos)[2]
            elif ptype == OFPGBPT15_WATCH_GROUP and plen == 8:
                watch_group = PROP_U32.unpack_from(buf, ppos)[2]
            ppos += (plen + 7) & ~7
        buckets.append(Bucket(tuple(actions), weight, watch_port, watch_group, bucket_id))
        pos += length
    return tuple(buckets)


# --- GROUP_MOD -----------------------------------------------------------------------------

@R.decodes_type(R.V13_UP, OFPT_GROUP_MOD)
def _decode_group_mod(version: int, buf: bytes, opts) -> GroupMod:
    if version != R.V15:
        R.need(buf, 16, "group_mod")
        command, gtype, group_id = GROUP_MOD11.unpack_from(buf, 8)
        return GroupMod(command, gtype, group_id, _decode_buckets(version, buf, 16, len(buf)))
    R.need(buf, 24, "group_mod")
    command, gtype, group_id, blen, cmd_bucket = GROUP_MOD15.unpack_from(buf, 8)
    if 24 + blen > len(buf):
        raise OFPError("OFPBRC_BAD_LEN", "group_mod bucket_array_len")
    return GroupMod(command, gtype, group_id, _decode_buckets(version, buf, 24, 24 + blen),
                    cmd_bucket)


@R.encodes(GroupMod, R.V13_UP)
def _encode_group_mod(msg: GroupMod, version: int, xid: int) -> bytes:
    buckets = _encode_buckets(version, msg.type, msg.buckets)
    if version != R.V15:
        body = GROUP_MOD11.pack(msg.command, msg.type, msg.group_id) + buckets
    else:
        body = GROUP_MOD15.pack(msg.command, msg.type, msg.group_id, len(buckets),
                                msg.command_bucket_id) + buckets
    return R.finish(version, OFPT_GROUP_MOD, xid, body)


# --- group multiparts ----------------------------------------------------------------------

def _id_request(version: int, buf: bytes, what: str) -> int:
    off = body_offset(version)
    R.exact(buf, off + 8, what)
    return ID_REQ.unpack_from(buf, off)[0]


@R.decodes(*[("mq", v, OFPMP_GROUP) for v in R.V13_UP])
def _decode_group_stats_request(version: int, buf: bytes, opts) -> GroupStatsRequest:
    return GroupStatsRequest(_id_request(version, buf, "group stats request"))


@R.encodes(GroupStatsRequest, R.V13_UP)
def _encode_group_stats_request(msg, version: int, xid: int) -> bytes:
    return finish_mp(version, True, OFPMP_GROUP, 0, xid, ID_REQ.pack(msg.group_id))


@R.encodes(GroupStatsReply, R.V13_UP)
def _encode_group_stats_reply(msg: GroupStatsReply, version: int, xid: int) -> list[bytes]:
    items = [GROUP_STATS.pack(40 + 16 * len(s.bucket_stats), s.group_id, s.ref_count,
                              s.packet_count, s.byte_count, s.duration_sec, s.duration_nsec)
             + b"".join(COUNTER_PAIR.pack(*bs) for bs in s.bucket_stats)
             for s in msg.stats]
    return split_reply(version, OFPMP_GROUP, xid, items)


@R.decodes(*[("mr", v, OFPMP_GROUP) for v in R.V13_UP])
def _decode_group_stats_reply(version: int, buf: bytes, opts) -> GroupStatsReply:
    pos = body_offset(version)
    _, flags = parse_mp_header(version, buf)
    out = []
    while pos < len(buf):
        R.need(buf, pos + 40, "group stats")
        length, gid, ref, pkts, nbytes, dsec, dnsec = GROUP_STATS.unpack_from(buf, pos)
        if length < 40 or (length - 40) % 16 or pos + length > len(buf):
            raise OFPError("OFPBRC_BAD_LEN", "group stats length")
        bstats = tuple(COUNTER_PAIR.unpack_from(buf, p) for p in range(pos + 40, pos + length, 16))
        out.append(GroupStats(gid, ref, pkts, nbytes, dsec, dnsec, bstats))
        pos += length
    return GroupStatsReply(tuple(out), bool(flags & OFPMPF_MORE))


@R.decodes(*[("mq", v, OFPMP_GROUP_DESC) for v in R.V13_UP])
def _decode_group_desc_request(version: int, buf: bytes, opts) -> GroupDescRequest:
    if version == R.V15:
        return GroupDescRequest(_id_request(version, buf, "group desc request"))
    R.exact(buf, body_offset(version), "group desc request")
    return GroupDescRequest()


@R.encodes(GroupDescRequest, R.V13_UP)
def _encode_group_desc_request(msg, version: int, xid: int) -> bytes:
    body = ID_REQ.pack(msg.group_id) if version == R.V15 else b""
    return finish_mp(version, True, OFPMP_GROUP_DESC, 0, xid, body)


@R.encodes(GroupDescReply, R.V13_UP)
def _encode_group_desc_reply(msg: GroupDescReply, version: int, xid: int) -> list[bytes]:
    items = []
    for g in msg.groups:
        buckets = _encode_buckets(version, g.type, g.buckets)
        if version != R.V15:
            items.append(GROUP_DESC11.pack(8 + len(buckets), g.type, g.group_id) + buckets)
        else:
            items.append(GROUP_DESC15.pack(16 + len(buckets), g.type, g.group_id,
                                           len(buckets)) + buckets)
    return split_reply(version, OFPMP_GROUP_DESC, xid, items)


@R.decodes(*[("mr", v, OFPMP_GROUP_DESC) for v in R.V13_UP])
def _decode_group_desc_reply(version: int, buf: bytes, opts) -> GroupDescReply:
    pos = body_offset(version)
    _, flags = parse_mp_header(version, buf)
    out = []
    while pos < len(buf):
        fixed = 8 if version != R.V15 else 16
        R.need(buf, pos + fixed, "group desc")
        if version != R.V15:
            length, gtype, gid = GROUP_DESC11.unpack_from(buf, pos)
            bend = pos + length
        else:
            length, gtype, gid, blen = GROUP_DESC15.unpack_from(buf, pos)
            bend = pos + 16 + blen
        if length < fixed or pos + length > len(buf) or bend > pos + length:
            raise OFPError("OFPBRC_BAD_LEN", "group desc length")
        out.append(GroupDesc(gtype, gid, _decode_buckets(version, buf, pos + fixed, bend)))
        pos += length
    return GroupDescReply(tuple(out), bool(flags & OFPMPF_MORE))


@R.decodes(*[("mq", v, OFPMP_GROUP_FEATURES) for v in R.V13_UP])
def _decode_group_features_request(version: int, buf: bytes, opts) -> GroupFeaturesRequest:
    R.exact(buf, body_offset(version), "group features request")
    return GroupFeaturesRequest()


@R.encodes(GroupFeaturesRequest, R.V13_UP)
def _encode_group_features_request(msg, version: int, xid: int) -> bytes:
    return finish_mp(version, True, OFPMP_GROUP_FEATURES, 0, xid, b"")


@R.encodes(GroupFeaturesReply, R.V13_UP)
def _encode_group_features_reply(msg: GroupFeaturesReply, version: int, xid: int) -> bytes:
    return finish_mp(version, False, OFPMP_GROUP_FEATURES, 0, xid,
                     GROUP_FEATURES.pack(msg.types, msg.capabilities, *msg.max_groups,
                                         *msg.actions))


@R.decodes(*[("mr", v, OFPMP_GROUP_FEATURES) for v in R.V13_UP])
def _decode_group_features_reply(version: int, buf: bytes, opts) -> GroupFeaturesReply:
    off = body_offset(version)
    R.exact(buf, off + 40, "group features reply")
    vals = GROUP_FEATURES.unpack_from(buf, off)
    return GroupFeaturesReply(vals[0], vals[1], tuple(vals[2:6]), tuple(vals[6:10]))


# --- meters --------------------------------------------------------------------------------

def _encode_bands(bands) -> bytes:
    out = []
    for b in bands:
        if b.type == OFPMBT_DSCP_REMARK:
            extra = struct.pack("!B3x", b.prec_level)
        elif b.type == OFPMBT_EXPERIMENTER:
            extra = struct.pack("!I", b.experimenter)
        else:
            extra = b"\0" * 4
        out.append(BAND.pack(b.type, 16, b.rate, b.burst_size) + extra)
    return b"".join(out)


def _decode_bands(buf: bytes, pos: int, end: int) -> tuple[MeterBand, ...]:
    bands = []
    while pos < end:
        if pos + 16 > end:
            raise OFPError("OFPMMFC_BAD_BAND", "truncated meter band")
        btype, blen, rate, burst = BAND.unpack_from(buf, pos)
        if blen != 16:
            raise OFPError("OFPMMFC_BAD_BAND", f"meter band length {blen}")
        if btype == OFPMBT_DROP:
            bands.append(MeterBand(btype, rate, burst))
        elif btype == OFPMBT_DSCP_REMARK:
            bands.append(MeterBand(btype, rate, burst, prec_level=buf[pos + 12]))
        elif btype == OFPMBT_EXPERIMENTER:
            bands.append(MeterBand(btype, rate, burst,
                                   experimenter=struct.unpack_from("!I", buf, pos + 12)[0]))
        else:
            raise OFPError("OFPMMFC_BAD_BAND", f"meter band type {btype}")
        pos += 16
    return tuple(bands)


@R.decodes_type(R.V13_UP, OFPT_METER_MOD)
def _decode_meter_mod(version: int, buf: bytes, opts) -> MeterMod:
    R.need(buf, 16, "meter_mod")
    command, flags, meter_id = METER_MOD.unpack_from(buf, 8)
    return MeterMod(command, flags, meter_id, _decode_bands(buf, 16, len(buf)))


@R.encodes(MeterMod, R.V13_UP)
def _encode_meter_mod(msg: MeterMod, version: int, xid: int) -> bytes:
    return R.finish(version, OFPT_METER_MOD, xid,
                    METER_MOD.pack(msg.command, msg.flags, msg.meter_id)
                    + _encode_bands(msg.bands))


@R.decodes(*[("mq", v, OFPMP_METER) for v in R.V13_UP])
def _decode_meter_stats_request(version: int, buf: bytes, opts) -> MeterStatsRequest:
    return MeterStatsRequest(_id_request(version, buf, "meter stats request"))


@R.encodes(MeterStatsRequest, R.V13_UP)
def _encode_meter_stats_request(msg, version: int, xid: int) -> bytes:
    return finish_mp(version, True, OFPMP_METER, 0, xid, ID_REQ.pack(msg.meter_id))


@R.decodes(*[("mq", v, OFPMP_METER_CONFIG) for v in R.V13_UP])
def _decode_meter_config_request(version: int, buf: bytes, opts) -> MeterConfigRequest:
    return MeterConfigRequest(_id_request(version, buf, "meter config request"))


@R.encodes(MeterConfigRequest, R.V13_UP)
def _encode_meter_config_request(msg, version: int, xid: int) -> bytes:
    return finish_mp(version, True, OFPMP_METER_CONFIG, 0, xid, ID_REQ.pack(msg.meter_id))


@R.encodes(MeterStatsReply, R.V13_UP)
def _encode_meter_stats_reply(msg: MeterStatsReply, version: int, xid: int) -> list[bytes]:
    items = [METER_STATS.pack(s.meter_id, 40 + 16 * len(s.band_stats), s.flow_count,
                              s.packet_in_count, s.byte_in_count, s.duration_sec,
                              s.duration_nsec)
             + b"".join(COUNTER_PAIR.pack(*bs) for bs in s.band_stats)
             for s in msg.stats]
    return split_reply(version, OFPMP_METER, xid, items)


@R.decodes(*[("mr", v, OFPMP_METER) for v in R.V13_UP])
def _decode_meter_stats_reply(version: int, buf: bytes, opts) -> MeterStatsReply:
    pos = body_offset(version)
    _, flags = parse_mp_header(version, buf)
    out = []
    while pos < len(buf):
        R.need(buf, pos + 40, "meter stats")
        mid, length, flows, pkts, nbytes, dsec, dnsec = METER_STATS.unpack_from(buf, pos)
        if length < 40 or (length - 40) % 16 or pos + length > len(buf):
            raise OFPError("OFPBRC_BAD_LEN", "meter stats length")
        bstats = tuple(COUNTER_PAIR.unpack_from(buf, p) for p in range(pos + 40, pos + length, 16))
        out.append(MeterStats(mid, flows, pkts, nbytes, dsec, dnsec, bstats))
        pos += length
    return MeterStatsReply(tuple(out), bool(flags & OFPMPF_MORE))


@R.encodes(MeterConfigReply, R.V13_UP)
def _encode_meter_config_reply(msg: MeterConfigReply, version: int, xid: int) -> list[bytes]:
    items = []
    for c in msg.configs:
        bands = _encode_bands(c.bands)
        items.append(METER_CONFIG.pack(8 + len(bands), c.flags, c.meter_id) + bands)
    return split_reply(version, OFPMP_METER_CONFIG, xid, items)


@R.decodes(*[("mr", v, OFPMP_METER_CONFIG) for v in R.V13_UP])
def _decode_meter_config_reply(version: int, buf: bytes, opts) -> MeterConfigReply:
    pos = body_offset(version)
    _, flags = parse_mp_header(version, buf)
    out = []
    while pos < len(buf):
        R.need(buf, pos + 8, "meter config")
        length, mflags, mid = METER_CONFIG.unpack_from(buf, pos)
        if length < 8 or pos + length > len(buf):
            raise OFPError("OFPBRC_BAD_LEN", "meter config length")
        out.append(MeterConfig(mflags, mid, _decode_bands(buf, pos + 8, pos + length)))
        pos += length
    return MeterConfigReply(tuple(out), bool(flags & OFPMPF_MORE))


@R.decodes(*[("mq", v, OFPMP_METER_FEATURES) for v in R.V13_UP])
def _decode_meter_features_request(version: int, buf: bytes, opts) -> MeterFeaturesRequest:
    R.exact(buf, body_offset(version), "meter features request")
    return MeterFeaturesRequest()


@R.encodes(MeterFeaturesRequest, R.V13_UP)
def _encode_meter_features_request(msg, version: int, xid: int) -> bytes:
    return finish_mp(version, True, OFPMP_METER_FEATURES, 0, xid, b"")


@R.encodes(MeterFeaturesReply, R.V13_UP)
def _encode_meter_features_reply(msg: MeterFeaturesReply, version: int, xid: int) -> bytes:
    return finish_mp(version, False, OFPMP_METER_FEATURES, 0, xid,
                     METER_FEATURES.pack(msg.max_meter, msg.band_types, msg.capabilities,
                                         msg.max_bands, msg.max_color))


@R.decodes(*[("mr", v, OFPMP_METER_FEATURES) for v in R.V13_UP])
def _decode_meter_features_reply(version: int, buf: bytes, opts) -> MeterFeaturesReply:
    off = body_offset(version)
    R.need(buf, off + 16, "meter features reply")
    return MeterFeaturesReply(*METER_FEATURES.unpack_from(buf, off))
