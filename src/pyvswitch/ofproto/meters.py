"""meters: the OpenFlow meter table of one bridge (OVS ofproto.c handle_meter_mod,
handle_add_meter, handle_modify_meter, handle_delete_meter, meter_request_reply;
ofproto-dpif.c meter_set; lib/dpif.c dpif_meter_set).

What this module owns
---------------------
* ``Meter``: an OpenFlow meter as the switch keeps it - id, flags, bands, creation time,
  and the datapath meter id that polices its packets (allocated here, lowest free first,
  as ofproto-dpif's id pool).
* ``MeterTable``: meter id -> ``Meter`` (a read-only mapping for the translator and for
  flow_mod validation), ``apply(mm, now)`` for METER_MOD, ``delete_all`` for flushes,
  and the statistics / configuration / features answers.

Semantics (Open vSwitch's with its userspace datapath, checks in its order)
---------------------------------------------------------------------------
* Reading the message: an unknown command is OFPMMFC_BAD_COMMAND, KBPS together with
  PKTPS OFPMMFC_BAD_FLAGS, a band that is neither drop nor dscp_remark OFPMMFC_BAD_BAND.
* ADD / MODIFY: meter id 0, above OFPM_MAX (except the special SLOWPATH and CONTROLLER
  meters) or OFPM_ALL is OFPMMFC_INVALID_METER; more than 8 bands OFPMMFC_OUT_OF_BANDS.
  ADD of an existing meter is OFPMMFC_METER_EXISTS, MODIFY of an unknown one
  OFPMMFC_UNKNOWN_METER.  Then the datapath's rules: neither or both of KBPS/PKTPS, or a
  flag beyond KBPS|PKTPS|BURST|STATS, OFPMMFC_BAD_FLAGS; no band OFPMMFC_OUT_OF_BANDS;
  a zero rate OFPMMFC_BAD_RATE; a band type not in ``band_types`` OFPMMFC_BAD_BAND.
  MODIFY restarts the datapath meter (full buckets, zero counters) but keeps the
  creation time.
* DELETE: meter 0 does nothing, OFPM_ALL deletes every meter, an unknown id nothing; the
  flows that use a deleted meter are deleted too (FLOW_REMOVED reason METER_DELETE).
* Statistics / configuration of an unknown meter: OFPMMFC_UNKNOWN_METER.
* Features: 262144 meters, 8 bands, no colors, KBPS|PKTPS|BURST|STATS, band types as
  ``band_types``: drop and dscp_remark (``BAND_TYPES_ALL``), as the OpenFlow
  specification describes them; the datapath remarks a packet over a dscp_remark band's
  rate (its DSCP drop precedence raised by ``prec_level``) and lets it go on.  This is
  where the switch departs from Open vSwitch 3.1's userspace datapath, which refuses
  dscp_remark bands with OFPMMFC_BAD_BAND; ``band_types = BAND_TYPES_OVS`` behaves so.
* Every change calls the provider's ``tables_changed()``.

The datapath is reached through the provider: its ``meter_set`` / ``meter_del`` /
``meter_stats`` if it has them, else those of its ``dpif``.  Without a provider (unit
tests of OpenFlow semantics) meters are kept and report zero counters.

Time model: ``now`` (milliseconds) is a parameter.
Must not import: ``vswitchd``, ``ofproto_dpif``, ``ofproto.ofproto``.
"""

from __future__ import annotations

from typing import Any, Iterator

from pyvswitch.datapath.meter import (BAND_DROP, BAND_DSCP_REMARK, MAX_BANDS, MAX_METERS,
                                      BandConfig, MeterConfig as DpMeterConfig, MeterError)
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages import OFPRR_METER_DELETE
from pyvswitch.openflow.messages_gm import (
    OFPMBT_DROP, OFPMBT_DSCP_REMARK, OFPMC_ADD, OFPMC_DELETE, OFPMC_MODIFY, OFPMF_BURST,
    OFPMF_KBPS, OFPMF_PKTPS, OFPMF_STATS, MeterBand, MeterConfig, MeterFeaturesReply,
    MeterMod, MeterStats,
)
from pyvswitch.openflow.ofpacts import OFPM_ALL

OFPM_MAX = 0xFFFF0000
OFPM_SLOWPATH = 0xFFFFFFFD
OFPM_CONTROLLER = 0xFFFFFFFE
SUPPORTED_FLAGS = OFPMF_KBPS | OFPMF_PKTPS | OFPMF_BURST | OFPMF_STATS
BAND_TYPES_OVS = 1 << OFPMBT_DROP
BAND_TYPES_ALL = (1 << OFPMBT_DROP) | (1 << OFPMBT_DSCP_REMARK)
_DP_BAND = {OFPMBT_DROP: BAND_DROP, OFPMBT_DSCP_REMARK: BAND_DSCP_REMARK}
_DP_ERRORS = {"id": "OFPMMFC_OUT_OF_METERS", "unit": "OFPMMFC_BAD_FLAGS",
              "bands": "OFPMMFC_OUT_OF_BANDS", "band_type": "OFPMMFC_BAD_BAND",
              "rate": "OFPMMFC_BAD_RATE"}


class Meter:
    """One OpenFlow meter."""

    __slots__ = ("meter_id", "flags", "bands", "created_ms", "dp_id")

    def __init__(self, meter_id: int, flags: int, bands: tuple[MeterBand, ...],
                 created_ms: float, dp_id: int) -> None:
        self.meter_id = meter_id
        self.flags = flags
        self.bands = bands
        self.created_ms = created_ms
        self.dp_id = dp_id

    def dp_config(self) -> DpMeterConfig:
        return DpMeterConfig(bool(self.flags & OFPMF_PKTPS), tuple(
            BandConfig(_DP_BAND.get(b.type, b.type), b.rate, b.burst_size, b.prec_level)
            for b in self.bands))

    def __repr__(self) -> str:
        return f"Meter({self.meter_id}, flags={self.flags:#x}, dp={self.dp_id}, {self.bands})"


def meter_of(instructions) -> int | None:
    """The meter a rule's instructions use (the meter instruction, or an OF1.5 meter
    action), or None (OVS ofpacts_get_meter)."""
    if instructions.meter_id is not None:
        return instructions.meter_id
    from pyvswitch.openflow.ofpacts import MeterAction
    for act in instructions.apply or ():
        if isinstance(act, MeterAction):
            return act.meter_id
    return None


def check_meter_mod(mm: MeterMod) -> None:
    """What Open vSwitch refuses while decoding and in handle_meter_mod, before looking
    the meter up."""
    if mm.command not in (OFPMC_ADD, OFPMC_MODIFY, OFPMC_DELETE):
        raise OFPError("OFPMMFC_BAD_COMMAND", f"meter command {mm.command}")
    if mm.command == OFPMC_DELETE:
        return
    if mm.flags & OFPMF_KBPS and mm.flags & OFPMF_PKTPS:
        raise OFPError("OFPMMFC_BAD_FLAGS", "kbps and pktps")
    for band in mm.bands:
        if band.type not in (OFPMBT_DROP, OFPMBT_DSCP_REMARK):
            raise OFPError("OFPMMFC_BAD_BAND", f"band type {band.type}")
    mid = mm.meter_id
    if mid == 0 or (mid > OFPM_MAX and mid not in (OFPM_SLOWPATH, OFPM_CONTROLLER)):
        raise OFPError("OFPMMFC_INVALID_METER", f"meter id {mid:#x}")
    if len(mm.bands) > MAX_BANDS:
        raise OFPError("OFPMMFC_OUT_OF_BANDS", f"{len(mm.bands)} bands")


def check_datapath_config(mm: MeterMod, band_types: int = BAND_TYPES_ALL) -> None:
    """The datapath's own rules (OVS dpif_meter_set, dpif_netdev_meter_set)."""
    unit = mm.flags & (OFPMF_KBPS | OFPMF_PKTPS)
    if unit not in (OFPMF_KBPS, OFPMF_PKTPS):
        raise OFPError("OFPMMFC_BAD_FLAGS", "one of kbps and pktps is needed")
    if not mm.bands:
        raise OFPError("OFPMMFC_OUT_OF_BANDS", "a meter needs a band")
    if any(b.rate == 0 for b in mm.bands):
        raise OFPError("OFPMMFC_BAD_RATE", "band rate 0")
    if mm.flags & ~SUPPORTED_FLAGS:
        raise OFPError("OFPMMFC_BAD_FLAGS", f"flags {mm.flags:#x}")
    for band in mm.bands:
        if not band_types & (1 << band.type):
            raise OFPError("OFPMMFC_BAD_BAND", f"band type {band.type} not supported")


class MeterTable:
    """The meters of one bridge (see the module docstring)."""

    def __init__(self, ofproto: Any = None) -> None:
        self.ofproto = ofproto
        self._meters: dict[int, Meter] = {}
        self._dp_ids: set[int] = set()
        self.n_meter_mods = 0
        #: Band types accepted and advertised (bit 1 << OFPMBT_*); see the docstring.
        self.band_types = BAND_TYPES_ALL

    # --- the mapping ------------------------------------------------------------------
    def get(self, meter_id: int, default=None) -> Meter | None:
        return self._meters.get(meter_id, default)

    def __getitem__(self, meter_id: int) -> Meter:
        return self._meters[meter_id]

    def __contains__(self, meter_id: object) -> bool:
        return meter_id in self._meters

    def __len__(self) -> int:
        return len(self._meters)

    def __iter__(self) -> Iterator[int]:
        return iter(self._meters)

    def values(self):
        return self._meters.values()

    def __bool__(self) -> bool:
        return True

    # --- the datapath -----------------------------------------------------------------
    def _datapath(self, op: str):
        provider = getattr(self.ofproto, "provider", None)
        if provider is None:
            return None
        fn = getattr(provider, op, None)
        if fn is None:
            fn = getattr(getattr(provider, "dpif", None), op, None)
        return fn

    def _alloc_dp_id(self) -> int:
        n = 0
        while n in self._dp_ids:
            n += 1
        if n >= MAX_METERS:
            raise OFPError("OFPMMFC_OUT_OF_METERS")
        return n

    def _dp_set(self, meter: Meter, now: float) -> None:
        meter_set = self._datapath("meter_set")
        if meter_set is None:
            return
        try:
            meter_set(meter.dp_id, meter.dp_config(), now)
        except MeterError as err:
            raise OFPError(_DP_ERRORS.get(err.reason, "OFPMMFC_UNKNOWN"), str(err)) from None

    # --- METER_MOD --------------------------------------------------------------------
    def apply(self, mm: MeterMod, now: float) -> None:
        """Apply one METER_MOD; ``OFPError`` (and no change) if Open vSwitch would refuse
        it."""
        check_meter_mod(mm)
        if mm.command == OFPMC_ADD:
            if mm.meter_id in self._meters:
                raise OFPError("OFPMMFC_METER_EXISTS", f"meter {mm.meter_id}")
            check_datapath_config(mm, self.band_types)
            meter = Meter(mm.meter_id, mm.flags, tuple(mm.bands), now, self._alloc_dp_id())
            self._dp_set(meter, now)
            self._meters[mm.meter_id] = meter
            self._dp_ids.add(meter.dp_id)
        elif mm.command == OFPMC_MODIFY:
            old = self._meters.get(mm.meter_id)
            if old is None:
                raise OFPError("OFPMMFC_UNKNOWN_METER", f"meter {mm.meter_id}")
            check_datapath_config(mm, self.band_types)
            meter = Meter(mm.meter_id, mm.flags, tuple(mm.bands), old.created_ms, old.dp_id)
            self._dp_set(meter, now)
            self._meters[mm.meter_id] = meter
        else:
            self.n_meter_mods += 1
            if mm.meter_id == OFPM_ALL:
                self.delete_all(now)
            elif mm.meter_id:
                self._delete([mm.meter_id], now)
            return
        self.n_meter_mods += 1
        self._changed()

    def _delete(self, meter_ids: list[int], now: float) -> None:
        gone = {}
        meter_del = self._datapath("meter_del")
        for mid in meter_ids:
            meter = self._meters.pop(mid, None)
            if meter is not None:
                gone[mid] = meter
                self._dp_ids.discard(meter.dp_id)
                if meter_del is not None:
                    meter_del(meter.dp_id)
        if not gone:
            return
        flows = getattr(self.ofproto, "flows", None)
        if flows is not None:
            victims = [(rule, OFPRR_METER_DELETE) for rule in flows.rules()
                       if meter_of(rule.instructions) in gone]
            if victims:
                flows.remove_rules(victims, now)    # publishes and tells the provider
                return
        self._changed()

    def delete_all(self, now: float) -> None:
        self._delete(list(self._meters), now)

    def _changed(self) -> None:
        provider = getattr(self.ofproto, "provider", None)
        if provider is not None:
            provider.tables_changed()

    # --- queries ----------------------------------------------------------------------
    def select(self, meter_id: int) -> list[Meter]:
        if meter_id == OFPM_ALL:
            return [self._meters[m] for m in sorted(self._meters)]
        meter = self._meters.get(meter_id)
        if meter is None:
            raise OFPError("OFPMMFC_UNKNOWN_METER", f"meter {meter_id}")
        return [meter]

    def flow_counts(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        flows = getattr(self.ofproto, "flows", None)
        if flows is None or not self._meters:
            return counts
        for rule in flows.rules():
            mid = meter_of(rule.instructions)
            if mid is not None:
                counts[mid] = counts.get(mid, 0) + 1
        return counts

    def stats(self, meter_id: int, now: float) -> list[MeterStats]:
        meters = self.select(meter_id)
        counts = self.flow_counts()
        meter_stats = self._datapath("meter_stats")
        out = []
        for m in meters:
            dp = meter_stats(m.dp_id) if meter_stats is not None else None
            if dp is None:
                packets = nbytes = 0
                bands = tuple((0, 0) for _ in m.bands)
            else:
                packets, nbytes, bands = dp.packets, dp.bytes, dp.bands
            age = max(0, int(now - m.created_ms))
            out.append(MeterStats(m.meter_id, counts.get(m.meter_id, 0), packets, nbytes,
                                  age // 1000, (age % 1000) * 1_000_000, tuple(bands)))
        return out

    def configs(self, meter_id: int) -> list[MeterConfig]:
        return [MeterConfig(m.flags, m.meter_id, m.bands) for m in self.select(meter_id)]

    def features(self) -> MeterFeaturesReply:
        return MeterFeaturesReply(max_meter=MAX_METERS, band_types=self.band_types,
                                  capabilities=SUPPORTED_FLAGS, max_bands=MAX_BANDS,
                                  max_color=0)
