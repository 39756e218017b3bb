"""Datapath meters: per-band token buckets that police the packets a ``Meter`` action
sees (Open vSwitch's dpif-netdev meters).

What this module owns
---------------------
* ``MeterConfig`` / ``BandConfig``: a meter as the datapath keeps it - a rate unit
  (packets per second, or kilobits per second) and up to ``MAX_BANDS`` bands, each with a
  rate, a burst size and what happens to a packet over the band's rate (``BAND_DROP``:
  dropped; ``BAND_DSCP_REMARK``: its IP drop precedence raised by ``prec_level``).
* ``DpMeter``: one meter's buckets and counters, and ``police(frame, now)``.
* ``MeterTable``: datapath meter ids (0 .. ``MAX_METERS`` - 1) -> ``DpMeter``.

Algorithm (as dpif-netdev's ``dp_netdev_run_meter``, packet by packet)
---------------------------------------------------------------------
Each band's bucket holds at most ``burst_size * 1000`` tokens and starts full; a packet
costs 1000 tokens in packets-per-second mode, its length in bits in kbps mode.  Time
refills every bucket by ``elapsed_ms * rate`` tokens (``elapsed`` capped at what fills the
largest bucket).  A packet takes its cost from every band that can pay it; among the bands
that cannot, the one with the highest rate fires (counted in that band's statistics): a
drop band drops the packet, a DSCP remark band rewrites its DSCP and lets it pass.  A
burst size of 0 means "as much as the rate" (one second's worth).

Open vSwitch's userspace datapath refuses DSCP remark bands; this one implements them,
and the OpenFlow layer (``ofproto/meters.py``) decides whether to offer them.

Time model: ``now`` (milliseconds) is a parameter; nothing here reads a clock.
Must not import: ofproto/, openflow/ (the datapath knows nothing of OpenFlow).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyvswitch.util.compat import SLOTS

MAX_METERS = 1 << 18     #: datapath meter ids are 0 .. MAX_METERS - 1 (as dpif-netdev)
MAX_BANDS = 8            #: bands per meter (as dpif-netdev)
BAND_DROP = 1            #: same numbers as OpenFlow's OFPMBT_*, for readability only
BAND_DSCP_REMARK = 2
SUPPORTED_BAND_TYPES = (BAND_DROP, BAND_DSCP_REMARK)


class MeterError(ValueError):
    """A meter configuration the datapath cannot hold; ``reason`` says which rule broke:
    ``"id"``, ``"unit"``, ``"bands"``, ``"band_type"`` or ``"rate"``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, **SLOTS)
class BandConfig:
    type: int
    rate: int                 # packets/s or kbit/s, as the meter's unit says
    burst_size: int = 0       # packets or kbits; 0: same as the rate
    prec_level: int = 0       # DSCP remark: how many drop-precedence steps to add


@dataclass(frozen=True, **SLOTS)
class MeterConfig:
    pktps: bool               # True: packets per second; False: kilobits per second
    bands: tuple[BandConfig, ...]


@dataclass(frozen=True, **SLOTS)
class MeterStats:
    packets: int              # packets that reached the meter
    bytes: int
    bands: tuple[tuple[int, int], ...]   # (packets, bytes) each band fired on


def check_config(meter_id: int, config: MeterConfig) -> None:
    """Raise ``MeterError`` for what the datapath cannot hold (OVS dpif_meter_set and
    dpif_netdev_meter_set, in their order)."""
    if not 0 <= meter_id < MAX_METERS:
        raise MeterError("id", f"meter {meter_id} out of range")
    if not config.bands or len(config.bands) > MAX_BANDS:
        raise MeterError("bands", f"{len(config.bands)} bands")
    for band in config.bands:
        if band.rate <= 0:
            raise MeterError("rate", "band rate must be positive")
    for band in config.bands:
        if band.type not in SUPPORTED_BAND_TYPES:
            raise MeterError("band_type", f"band type {band.type}")


class DpMeter:
    """One meter (see the module docstring for the algorithm)."""

    __slots__ = ("pktps", "bands", "rates", "capacity", "buckets", "used_ms", "max_delta",
                 "packets", "bytes", "band_packets", "band_bytes")

    def __init__(self, config: MeterConfig, now: float) -> None:
        self.pktps = config.pktps
        self.bands = config.bands
        self.rates = [b.rate for b in config.bands]
        self.capacity = [(b.burst_size or b.rate) * 1000 for b in config.bands]
        self.buckets = list(self.capacity)             # start full
        self.max_delta = max(c / r for c, r in zip(self.capacity, self.rates))
        self.used_ms = now
        self.packets = 0
        self.bytes = 0
        self.band_packets = [0] * len(config.bands)
        self.band_bytes = [0] * len(config.bands)

    def police(self, length: int, now: float) -> int:
        """Account one packet of ``length`` bytes at ``now``; returns the index of the
        band that fires for it, or -1 if it conforms to every band."""
        elapsed = now - self.used_ms
        buckets = self.buckets
        if elapsed > 0:
            self.used_ms = now
            if elapsed > self.max_delta:
                elapsed = self.max_delta
            for i, cap in enumerate(self.capacity):
                level = buckets[i] + elapsed * self.rates[i]
                buckets[i] = cap if level > cap else level
        self.packets += 1
        self.bytes += length
        cost = 1000 if self.pktps else length * 8
        fired, fired_rate = -1, -1
        for i, level in enumerate(buckets):
            if level >= cost:
                buckets[i] = level - cost
            elif self.rates[i] > fired_rate:
                fired, fired_rate = i, self.rates[i]
        if fired >= 0:
            self.band_packets[fired] += 1
            self.band_bytes[fired] += length
        return fired

    def stats(self) -> MeterStats:
        return MeterStats(self.packets, self.bytes,
                          tuple(zip(self.band_packets, self.band_bytes)))


def remark_dscp(frame: bytes, prec_level: int) -> bytes:
    """Raise the drop precedence (DSCP bits 1-2, as in the AF classes) of an IP frame by
    ``prec_level`` steps, saturating at 3; other frames are returned unchanged."""
    from pyvswitch.packet import edit
    from pyvswitch.packet.extract import extract
    from pyvswitch.packet.fields import BY_NAME, Slot
    try:
        flow = extract(frame, 0)
    except Exception:
        return frame
    if flow[Slot.ETH_TYPE] not in (0x0800, 0x86DD):
        return frame
    dscp = flow[Slot.NW_TOS] >> 2
    precedence = min(((dscp >> 1) & 3) + prec_level, 3)
    new = (dscp & ~0b110) | (precedence << 1)
    if new == dscp:
        return frame
    try:
        return edit.set_field(frame, BY_NAME["ip_dscp"], new)
    except Exception:
        return frame


class MeterTable:
    """The meters of one datapath, by datapath meter id."""

    def __init__(self) -> None:
        self.meters: dict[int, DpMeter] = {}
        self.n_dropped = 0

    def set(self, meter_id: int, config: MeterConfig, now: float) -> None:
        """Create or replace a meter (a replaced meter starts again: full buckets, zero
        counters, as dpif-netdev).  ``MeterError`` if the datapath cannot hold it."""
        check_config(meter_id, config)
        self.meters[meter_id] = DpMeter(config, now)

    def delete(self, meter_id: int) -> MeterStats | None:
        meter = self.meters.pop(meter_id, None)
        return None if meter is None else meter.stats()

    def stats(self, meter_id: int) -> MeterStats | None:
        meter = self.meters.get(meter_id)
        return None if meter is None else meter.stats()

    def apply(self, meter_id: int, frame: bytes, now: float) -> bytes | None:
        """Police ``frame``: None if a drop band fired, else the (possibly remarked)
        frame.  An unknown meter lets everything through, as in dpif-netdev."""
        meter = self.meters.get(meter_id)
        if meter is None:
            return frame
        fired = meter.police(len(frame), now)
        if fired < 0:
            return frame
        band = meter.bands[fired]
        if band.type == BAND_DSCP_REMARK:
            return remark_dscp(frame, band.prec_level)
        self.n_dropped += 1
        return None
