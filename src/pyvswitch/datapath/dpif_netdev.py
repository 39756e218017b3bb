"""The userspace datapath (Open vSwitch's dpif-netdev): netdev batches -> EMC -> megaflows.

What this module owns
---------------------
``DpifNetdev``, the ``Dpif`` implementation.  A packet's walk in ``run(now)``:
``recv_batch`` from each port -> the port's EMC (emc.py) -> (miss) ``extract`` ->
megaflow lookup -> (hit) the megaflow's transmit function -> the output port's transmit
batch, flushed with one ``send_batch`` per port at the end of ``run``; (no megaflow) an
upcall of kind MISS.

Invariants
----------
* Each megaflow's ``fast_out`` is a callable taking the frame: the bound ``append`` of the
  one output port's transmit batch when the actions are a single ``Output``, else a small
  function; it is rebuilt whenever ports or actions change, so it never names a detached
  port.
* An EMC entry always points at a live megaflow (``flow_del`` and ``flow_flush`` purge them;
  a megaflow remembers up to ``EMC_REFS_MAX`` of its cache keys so that deleting it costs
  that many dict operations, not a scan of every cache).
* A packet that missed the EMC but hit a megaflow is put in the EMC one time in
  ``emc_insert_inv_prob`` (Open vSwitch's ``other_config:emc-insert-inv-prob``, default
  100; 1 caches every such packet, 0 none).  The EMC key is the header bytes, so traffic
  whose headers change with every packet (ICMP echo ids and sequence numbers, TCP sequence
  numbers, IPv4 ids and checksums) would otherwise add one entry per packet that is never
  hit again, and the caches would fill to their bound (about 2 MB per port) at the
  packet rate.  The choice is a countdown over the datapath's megaflow hits, redrawn
  after each insertion uniformly from 0..2N-2 (mean N-1) by the datapath's own seeded
  generator: one draw per insertion instead of one per packet, and no periodic traffic
  pattern can keep a header out for ever (a fixed count would: with N even, a header
  arriving every other packet would never be chosen).
* At most ``max_upcalls`` upcalls are queued between two ``run`` calls (fewer if the
  caller has less room); the rest are lost.  When the caller has room for fewer
  (``run(now, upcall_room)``: its handler is behind), a port is read in smaller batches,
  down to ``MIN_BATCH``, and no further once the room is used: under a flood of new flows the frames that could not be handled wait
  in the kernel's ring (and are dropped there when it is full) instead of each costing an
  extraction and a megaflow lookup here before being lost.  Open vSwitch's userspace
  datapath gets the same effect by handling each miss inline before reading on.
* A ``Recirc`` action parses the frame again (as the actions before it left it), sets
  the flow's ``RECIRC_ID`` and looks the megaflows up once more, without the EMC; a miss
  is an upcall of kind MISS whose flow carries the id.  At most ``MAX_RECIRC_DEPTH``
  recirculations per received packet; deeper ones drop it (``n_recirc_loops``).
* Meters (``datapath/meter.py``) police packets wherever a ``Meter`` action runs: on the
  upcall's ``execute`` and on every cached hit alike (a megaflow with a meter takes the
  interpreter path).  ``meter_set`` / ``meter_del`` / ``meter_stats`` manage them.

Time model: ``now`` (ms) is a parameter; it stamps megaflow ``used``.
Must not import: ofproto/, openflow/, ofproto_dpif/.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Sequence

from pyvswitch.datapath.actions import (Action, ActionError, CompiledActions, Meter, Output,
                                        apply_actions, compile_actions)
from pyvswitch.datapath.dpif import DpFlow, DpifStats, Upcall, UpcallKind
from pyvswitch.datapath.emc import FAST_KEY_LEN, Emc
from pyvswitch.datapath.megaflow import Megaflow, MegaflowTable
from pyvswitch.datapath.meter import MeterConfig, MeterStats, MeterTable
from pyvswitch.netdev.base import Netdev
from pyvswitch.packet.fields import Slot

_TCP_FLAGS = Slot.TCP_FLAGS
EMC_REFS_MAX = 256      # cache keys remembered per megaflow for a targeted delete
EMC_INSERT_INV_PROB = 100   # 1 megaflow hit in this many is cached (OVS's default)
MAX_SHARED_ACTIONS = 4096   # distinct compiled action lists kept for sharing
MIN_BATCH = 32          # frames read from a port per round however far behind upcalls are
MAX_RECIRC_DEPTH = 6    # recirculations of one packet (OVS allows as many)
_RECIRC_ID = Slot.RECIRC_ID


class DpPort:
    __slots__ = ("odp_port", "netdev", "txq", "queue", "emc")

    def __init__(self, odp_port: int, netdev: Netdev, emc_capacity: int) -> None:
        self.odp_port = odp_port
        self.netdev = netdev
        self.txq: list[bytes] = []
        self.queue = self.txq.append     # one bound method, shared by every megaflow
        self.emc = Emc(emc_capacity)


def _default_extract():
    from pyvswitch.packet.extract import extract
    return extract


def _snapshot(mf: Megaflow) -> DpFlow:
    return DpFlow(mf.key, mf.mask, mf.compiled.actions, mf.packets, mf.bytes, mf.used,
                  mf.tcp_flags)


class DpifNetdev:
    """A userspace datapath (see module docstring)."""

    def __init__(self, name: str = "ovs-netdev", *, batch: int = 256, rounds: int = 4,
                 max_upcalls: int = 1024, emc_capacity: int = 8192,
                 emc_insert_inv_prob: int = EMC_INSERT_INV_PROB, seed: int = 0,
                 extract: Callable[[bytes, int], tuple[int, ...]] | None = None) -> None:
        self.name = name
        self.batch = batch
        self.rounds = rounds         # batches per port per run() while they come full
        self.max_upcalls = max_upcalls
        self._upcall_limit = max_upcalls     # this run's share of it (run's upcall_room)
        self._compiled: dict[tuple, CompiledActions] = {}
        self.emc_capacity = emc_capacity
        self.emc_insert_inv_prob = emc_insert_inv_prob   # 0: never insert, 1: always
        self._emc_insert_skip = 0    # megaflow hits to leave out of the EMC before the next
        self._rng = random.Random(seed)
        self._extract = extract or _default_extract()
        self._ports: dict[int, DpPort] = {}
        self._port_list: list[DpPort] = []
        self.megaflows = MegaflowTable()
        self._upcalls: list[Upcall] = []
        self.n_rx = 0
        self.n_slow = 0            # packets that missed the EMC (megaflow hit, miss, bad)
        self.n_hit_megaflow = 0
        self.n_missed = 0
        self.n_lost = 0
        self.n_malformed = 0
        self.n_action_errors = 0
        self.n_tx_no_port = 0
        self.n_recirc = 0
        self.n_recirc_loops = 0
        self._recirc_depth = 0
        self._current_in_port = 0   # odp port of the batch being processed
        self._now = 0.0             # ``now`` of the run / execute in progress (meters)
        self.meters = MeterTable()

    # -- ports ---------------------------------------------------------------------------
    def port_add(self, netdev: Netdev, odp_port: int | None = None) -> int:
        if any(p.netdev.name == netdev.name for p in self._port_list):
            raise ValueError(f"{netdev.name}: already in datapath {self.name}")
        if odp_port is None:
            odp_port = 1
            while odp_port in self._ports:
                odp_port += 1
        elif odp_port in self._ports or odp_port < 0:
            raise ValueError(f"odp port {odp_port} is in use or invalid")
        port = DpPort(odp_port, netdev, self.emc_capacity)
        self._ports[odp_port] = port
        self._port_list = list(self._ports.values())
        self._relink_all()
        return odp_port

    def port_del(self, odp_port: int) -> None:
        port = self._ports.pop(odp_port)
        self._port_list = list(self._ports.values())
        if port.txq:
            port.netdev.send_batch(port.txq)
            port.txq.clear()
        port.emc.clear()
        self._relink_all()

    def port_list(self) -> dict[int, Netdev]:
        return {n: p.netdev for n, p in self._ports.items()}

    # -- flows ---------------------------------------------------------------------------
    def flow_put(self, key: tuple[int, ...], mask: tuple[int, ...],
                 actions: Sequence[Action], now: float = 0) -> None:
        mf, _ = self.megaflows.insert(key, mask, self._compile(tuple(actions)), now)
        self._link(mf)

    def _compile(self, actions: tuple) -> CompiledActions:
        """Most megaflows share a few action lists: compile each once (memory)."""
        shared = self._compiled
        try:
            compiled = shared.get(actions)
        except TypeError:                 # a cookie that cannot be hashed: no sharing
            return compile_actions(actions)
        if compiled is None:
            if len(shared) >= MAX_SHARED_ACTIONS:
                shared.clear()
            compiled = shared[actions] = compile_actions(actions)
        return compiled

    def flow_get(self, key: tuple[int, ...], mask: tuple[int, ...]) -> DpFlow | None:
        mf = self.megaflows.find(key, mask)
        return None if mf is None else _snapshot(mf)

    def flow_del(self, key: tuple[int, ...], mask: tuple[int, ...]) -> DpFlow | None:
        mf = self.megaflows.remove(key, mask)
        if mf is None:
            return None
        refs = mf.emc_refs
        if refs is None:
            for p in self._port_list:
                p.emc.forget(mf)
        else:
            for emc, k in refs:
                emc.drop(k, mf)
            mf.emc_refs = ()
        return _snapshot(mf)

    def flow_dump(self) -> list[DpFlow]:
        return [_snapshot(mf) for mf in self.megaflows]

    def flow_stats_since(self, since_ms: float) -> list[tuple]:
        return [(mf.key, mf.mask, mf.packets, mf.bytes, mf.used)
                for mf in self.megaflows if mf.used >= since_ms]

    def flow_flush(self) -> list[DpFlow]:
        gone = self.megaflows.clear()
        for p in self._port_list:
            p.emc.clear()
        return [_snapshot(mf) for mf in gone]

    def _relink_all(self) -> None:
        for mf in self.megaflows:
            self._link(mf)

    def _link(self, mf: Megaflow) -> None:
        """Build ``mf.fast_out`` for the current ports."""
        c = mf.compiled
        if c.outputs is not None:
            appends = []
            for n in c.outputs:
                p = self._ports.get(n)
                if p is not None:
                    appends.append(p.queue)
                else:
                    appends.append(self._no_port)
            if len(appends) == 1:
                mf.fast_out = appends[0]
            elif not appends:
                mf.fast_out = _drop
            else:
                tup = tuple(appends)

                def multi(frame: bytes, _outs=tup) -> None:
                    for out in _outs:
                        out(frame)
                mf.fast_out = multi
        elif self._link_metered(mf):
            pass
        else:
            def general(frame: bytes, _mf=mf) -> None:
                self._run_actions(frame, _mf.compiled.actions)
            mf.fast_out = general

    def _link_metered(self, mf: Megaflow) -> bool:
        """``meter(N)`` followed by outputs only (the usual metered flow): police, then
        append to the ports' batches without the interpreter."""
        acts = mf.compiled.actions
        if (len(acts) < 2 or type(acts[0]) is not Meter
                or any(type(a) is not Output for a in acts[1:])):
            return False
        outs = tuple(p.queue if p is not None else self._no_port
                     for p in (self._ports.get(a.port) for a in acts[1:]))
        police = self.meters.apply

        def metered(frame: bytes, _id=acts[0].meter_id, _outs=outs) -> None:
            frame = police(_id, frame, self._now)
            if frame is not None:
                for out in _outs:
                    out(frame)
        mf.fast_out = metered
        return True

    def _no_port(self, frame: bytes) -> None:
        self.n_tx_no_port += 1

    # -- packets -------------------------------------------------------------------------
    def run(self, now: float, upcall_room: int | None = None) -> list[Upcall]:
        batch = self.batch
        room = self.max_upcalls if upcall_room is None else min(upcall_room,
                                                                self.max_upcalls)
        self._upcall_limit = room
        queued = self._upcalls
        self._now = now
        for port in self._port_list:
            recv = port.netdev.recv_batch
            for _ in range(self.rounds):     # full batches: keep going, up to a budget
                want = room - len(queued)
                want = batch if want >= batch else max(want, MIN_BATCH)
                frames = recv(want)
                if frames:
                    self._input(port, frames, now)
                    self._flush()
                if len(frames) < want or len(queued) >= room:
                    break
        self._flush()
        self._upcall_limit = self.max_upcalls   # upcalls of ``execute`` between runs
        ups = self._upcalls
        if ups:
            self._upcalls = []
        return ups

    def _input(self, port: DpPort, frames: list[bytes], now: float) -> None:
        """The hit path: keep it short, it runs for every packet.  One dict probe with the
        frame's first 54 bytes (see emc.py); statistics are added per run of consecutive
        packets hitting the same megaflow."""
        get = port.emc.entries.get
        self._current_in_port = port.odp_port
        last = _NOTHING
        n = nb = 0
        for f in frames:
            ln = len(f)
            e = get(f[:FAST_KEY_LEN])
            if e is not None:
                mf, lo = e
                if lo <= ln:
                    if mf is not last:
                        if last is not _NOTHING:
                            last.packets += n
                            last.bytes += nb
                            last.used = now
                            n = nb = 0
                        last = mf
                    n += 1
                    nb += ln
                    mf.fast_out(f)
                    continue
            self._emc_miss(port, f, now)
        if last is not _NOTHING:
            last.packets += n
            last.bytes += nb
            last.used = now
        self.n_rx += len(frames)

    def _emc_miss(self, port: DpPort, frame: bytes, now: float) -> None:
        """Second EMC probe (whole frame), then extraction and the megaflow lookup."""
        if len(frame) > FAST_KEY_LEN:
            e = port.emc.entries.get(frame)
            if e is not None:
                mf = e[0]
                mf.packets += 1
                mf.bytes += len(frame)
                mf.used = now
                mf.fast_out(frame)
                return
        self.n_slow += 1
        in_port = port.odp_port
        if len(frame) < 14:
            self.n_malformed += 1
            return
        try:
            flow = self._extract(frame, in_port)
        except Exception:
            self.n_malformed += 1
            return
        mf = self.megaflows.lookup(flow)
        if mf is None:
            self.n_missed += 1
            self._queue_upcall(Upcall(frame, flow, in_port, UpcallKind.MISS, None))
            return
        self.n_hit_megaflow += 1
        skip = self._emc_insert_skip
        if skip:
            self._emc_insert_skip = skip - 1
        elif self.emc_insert_inv_prob:
            n = self.emc_insert_inv_prob
            if n > 1:
                self._emc_insert_skip = self._rng.randrange(2 * n - 1)
            self._emc_insert(port, frame, mf)
        mf.tcp_flags |= flow[_TCP_FLAGS]
        mf.packets += 1
        mf.bytes += len(frame)
        mf.used = now
        mf.fast_out(frame)

    def _emc_insert(self, port: DpPort, frame: bytes, mf: Megaflow) -> None:
        k = port.emc.insert(frame, mf)
        refs = mf.emc_refs
        if k is not None and refs is not None:
            if not refs:                     # most megaflows are never in an EMC: no list
                mf.emc_refs = [(port.emc, k)]
            elif len(refs) < EMC_REFS_MAX:
                refs.append((port.emc, k))
            else:
                mf.emc_refs = None           # deleting it will scan the caches instead

    def _queue_upcall(self, up: Upcall) -> None:
        if len(self._upcalls) >= self._upcall_limit:
            self.n_lost += 1
        else:
            self._upcalls.append(up)

    def _run_actions(self, frame: bytes, actions: Sequence[Action]) -> None:
        """The general interpreter path; the packet's odp in_port is ``_current_in_port``."""
        try:
            apply_actions(frame, actions, self._output, self._upcall_action,
                          self._meter, self._recirc)
        except ActionError:
            self.n_action_errors += 1

    def _recirc(self, recirc_id: int, frame: bytes) -> None:
        """The packet comes back in: parse it again and look it up under ``recirc_id``."""
        if self._recirc_depth >= MAX_RECIRC_DEPTH:
            self.n_recirc_loops += 1
            return
        self.n_recirc += 1
        in_port = self._current_in_port
        try:
            flow = list(self._extract(frame, in_port))
        except Exception:
            self.n_malformed += 1
            return
        flow[_RECIRC_ID] = recirc_id
        flow = tuple(flow)
        mf = self.megaflows.lookup(flow)
        if mf is None:
            self.n_missed += 1
            self._queue_upcall(Upcall(frame, flow, in_port, UpcallKind.MISS, None))
            return
        self.n_hit_megaflow += 1
        mf.tcp_flags |= flow[_TCP_FLAGS]
        mf.packets += 1
        mf.bytes += len(frame)
        mf.used = self._now
        self._recirc_depth += 1
        try:
            mf.fast_out(frame)
        finally:
            self._recirc_depth -= 1

    def _meter(self, meter_id: int, frame: bytes) -> bytes | None:
        return self.meters.apply(meter_id, frame, self._now)

    def _output(self, odp_port: int, frame: bytes) -> None:
        p = self._ports.get(odp_port)
        if p is None:
            self.n_tx_no_port += 1
        else:
            p.txq.append(frame)

    def _upcall_action(self, frame: bytes, cookie: Any) -> None:
        in_port = self._current_in_port
        try:
            flow = self._extract(frame, in_port)
        except Exception:
            self.n_malformed += 1
            return
        self._queue_upcall(Upcall(frame, flow, in_port, UpcallKind.ACTION, cookie))

    def execute(self, frame: bytes, actions: Sequence[Action], now: float,
                in_odp_port: int = 0) -> None:
        compiled = self._compile(tuple(actions))      # TypeError on a non-action
        saved = self._current_in_port
        self._current_in_port = in_odp_port
        self._now = now
        try:
            self._run_actions(bytes(frame), compiled.actions)
        finally:
            self._current_in_port = saved
        self._flush()

    def _flush(self) -> None:
        for p in self._port_list:
            q = p.txq
            if q:
                p.netdev.send_batch(q)
                q.clear()

    def wait(self, poller: Any) -> None:
        if self._upcalls:
            poller.immediate_wake()
        for p in self._port_list:
            p.netdev.wait(poller)

    # -- meters --------------------------------------------------------------------------
    def meter_set(self, meter_id: int, config: MeterConfig, now: float = 0) -> None:
        """Create or replace datapath meter ``meter_id`` (counters restart); raises
        ``meter.MeterError`` for a configuration this datapath cannot hold."""
        self.meters.set(meter_id, config, now)

    def meter_del(self, meter_id: int) -> MeterStats | None:
        """Remove a meter; returns its final statistics (None if it did not exist)."""
        return self.meters.delete(meter_id)

    def meter_stats(self, meter_id: int) -> MeterStats | None:
        return self.meters.stats(meter_id)

    # -- statistics ----------------------------------------------------------------------
    def stats(self) -> DpifStats:
        return DpifStats(n_hit_emc=self.n_rx - self.n_slow,
                         n_hit_megaflow=self.n_hit_megaflow, n_missed=self.n_missed,
                         n_lost=self.n_lost, n_malformed=self.n_malformed,
                         n_action_errors=self.n_action_errors,
                         n_flows=len(self.megaflows), n_masks=self.megaflows.n_masks)

    def close(self) -> None:
        for p in self._port_list:
            p.netdev.close()
        self._ports.clear()
        self._port_list = []


class _Nothing:
    """Stands for "no megaflow yet" in ``_input``'s run-length statistics."""


_NOTHING = _Nothing()


def _drop(frame: bytes) -> None:
    pass
