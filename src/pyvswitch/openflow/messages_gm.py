"""Version-independent group and meter messages (OVS ``ofputil_group_mod`` etc.).

What this module owns
---------------------
Frozen dataclasses for GROUP_MOD, the GROUP / GROUP_DESC / GROUP_FEATURES multiparts,
METER_MOD and the METER / METER_CONFIG / METER_FEATURES multiparts.

Must not import: anything in pyvswitch except ``openflow.ofpacts`` and ``openflow.messages``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pyvswitch.openflow.messages import Message
from pyvswitch.openflow.ofpacts import OFPG_ALL, OFPG_ANY, OFPM_ALL, OFPP_ANY, Action

OFPGC_ADD, OFPGC_MODIFY, OFPGC_DELETE = 0, 1, 2
OFPGC_INSERT_BUCKET, OFPGC_REMOVE_BUCKET = 3, 5        # OF1.5
OFPGT_ALL, OFPGT_SELECT, OFPGT_INDIRECT, OFPGT_FF = 0, 1, 2, 3
OFPG_BUCKET_ALL = 0xFFFFFFFF   # OF1.5 OFPG_BUCKET_ALL (FIRST 0xfffffffd, LAST 0xfffffffe)
OFPMC_ADD, OFPMC_MODIFY, OFPMC_DELETE = 0, 1, 2
OFPMF_KBPS, OFPMF_PKTPS, OFPMF_BURST, OFPMF_STATS = 1, 2, 4, 8
OFPMBT_DROP, OFPMBT_DSCP_REMARK, OFPMBT_EXPERIMENTER = 1, 2, 0xFFFF


@dataclass(frozen=True)
class Bucket:
    """One group bucket.  ``bucket_id`` exists on the wire only in OF1.5 (None: the
    encoder numbers buckets by position)."""

    actions: tuple[Action, ...]
    weight: int = 0
    watch_port: int = OFPP_ANY
    watch_group: int = OFPG_ANY
    bucket_id: Optional[int] = None


@dataclass(frozen=True)
class GroupMod(Message):
    command: int
    type: int
    group_id: int
    buckets: tuple[Bucket, ...] = ()
    command_bucket_id: int = OFPG_BUCKET_ALL   # OF1.5 insert/remove bucket


@dataclass(frozen=True)
class GroupStatsRequest(Message):
    group_id: int = OFPG_ALL


@dataclass(frozen=True)
class GroupStats:
    group_id: int
    ref_count: int = 0
    packet_count: int = 0
    byte_count: int = 0
    duration_sec: int = 0
    duration_nsec: int = 0
    bucket_stats: tuple[tuple[int, int], ...] = ()   # (packet_count, byte_count) each


@dataclass(frozen=True)
class GroupStatsReply(Message):
    stats: tuple[GroupStats, ...] = ()
    more: bool = False


@dataclass(frozen=True)
class GroupDescRequest(Message):
    group_id: int = OFPG_ALL


@dataclass(frozen=True)
class GroupDesc:
    type: int
    group_id: int
    buckets: tuple[Bucket, ...] = ()


@dataclass(frozen=True)
class GroupDescReply(Message):
    groups: tuple[GroupDesc, ...] = ()
    more: bool = False


@dataclass(frozen=True)
class GroupFeaturesRequest(Message):
    pass


@dataclass(frozen=True)
class GroupFeaturesReply(Message):
    types: int
    capabilities: int
    max_groups: tuple[int, int, int, int]
    actions: tuple[int, int, int, int]


@dataclass(frozen=True)
class MeterBand:
    type: int
    rate: int
    burst_size: int = 0
    prec_level: int = 0      # DSCP_REMARK
    experimenter: int = 0    # EXPERIMENTER


@dataclass(frozen=True)
class MeterMod(Message):
    command: int
    flags: int
    meter_id: int
    bands: tuple[MeterBand, ...] = ()


@dataclass(frozen=True)
class MeterStatsRequest(Message):
    meter_id: int = OFPM_ALL


@dataclass(frozen=True)
class MeterStats:
    meter_id: int
    flow_count: int = 0
    packet_in_count: int = 0
    byte_in_count: int = 0
    duration_sec: int = 0
    duration_nsec: int = 0
    band_stats: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class MeterStatsReply(Message):
    stats: tuple[MeterStats, ...] = ()
    more: bool = False


@dataclass(frozen=True)
class MeterConfigRequest(Message):
    meter_id: int = OFPM_ALL


@dataclass(frozen=True)
class MeterConfig:
    flags: int
    meter_id: int
    bands: tuple[MeterBand, ...] = ()


@dataclass(frozen=True)
class MeterConfigReply(Message):
    configs: tuple[MeterConfig, ...] = ()
    more: bool = False


@dataclass(frozen=True)
class MeterFeaturesRequest(Message):
    pass


@dataclass(frozen=True)
class MeterFeaturesReply(Message):
    max_meter: int
    band_types: int
    capabilities: int
    max_bands: int
    max_color: int
