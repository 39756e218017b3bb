"""coverage_feed: the running bridges' own event counters as coverage counters.

What this module owns
---------------------
Most layers already count their events on their own objects (the upcall handler its
upcalls, the datapath its drops, the MAC table what it learned, every rconn what it
sent...).  Rather than touch those hot paths, ``CoverageFeed.sample(bridges)`` reads the
counters at most once a second (OVS folds its per-thread counts into the totals once a
second too) and adds what moved since the last look to the ``util.coverage`` counter of
the same event, so ``ovs-appctl coverage/show`` lists them with their rates.  Objects
are remembered by identity: a new one (a new connection, a recreated bridge) starts from
zero, one that is gone is forgotten, so totals only grow.

Names are Open vSwitch's where the event is the same one (``packet_in_overflow``,
``connmgr_async_unsent``, ``ofproto_recv_openflow``, ``ofmonitor_pause``,
``mac_learning_learned``, ``rconn_sent``, ``rconn_discarded``, ``vconn_received``,
``datapath_drop_*``); the others are named after what they count (``upcall_handled``,
``ofproto_flow_mod``...).  Counters some module already increments itself
(``rconn_overflow``...) are not fed again here.

Time model: ``sample(bridges, now)``; ``now`` (ms) is a parameter.
Must not import: ``vswitchd.main``.
"""

from __future__ import annotations

from typing import Any, Iterator

from pyvswitch.util import coverage

SAMPLE_INTERVAL_MS = 1000
EVENTS = (
    "upcall_handled", "revalidate", "dp_flow_idle_expired", "datapath_drop_upcall_error",
    "datapath_drop_upcall_queue", "datapath_drop_rx_invalid_packet",
    "datapath_drop_invalid_port", "datapath_drop_recirc_error",
    "datapath_drop_action_error", "packet_in", "packet_in_overflow",
    "mac_learning_learned", "mac_learning_moved", "mac_learning_expired",
    "mac_learning_evicted", "ofproto_recv_openflow", "ofproto_flow_mod",
    "ofproto_group_mod", "ofproto_meter_mod", "connmgr_async_unsent", "ofmonitor_pause",
    "ofmonitor_resume", "rconn_sent", "vconn_received", "rconn_discarded",
)
for _name in EVENTS:         # registered up front: "N events never hit" counts them
    coverage.Counter(_name)


def _bridge_events(br: Any) -> Iterator[tuple[str, object, int]]:
    """(coverage name, counting object, its current total) for one bridge."""
    provider, ofproto = br.provider, br.ofproto
    up, dpif = provider.upcalls, provider.dpif
    yield "upcall_handled", up, up.n_upcalls
    yield "revalidate", up, up.n_revalidations
    yield "dp_flow_idle_expired", up, up.n_flows_evicted
    yield "datapath_drop_upcall_error", up, up.n_lost
    yield "datapath_drop_upcall_queue", dpif, dpif.n_lost
    yield "datapath_drop_rx_invalid_packet", dpif, dpif.n_malformed
    yield "datapath_drop_invalid_port", dpif, dpif.n_tx_no_port
    yield "datapath_drop_recirc_error", dpif, dpif.n_recirc_loops
    yield "datapath_drop_action_error", dpif, dpif.n_action_errors
    yield "packet_in", provider, provider.n_packet_ins
    yield "packet_in_overflow", provider.packet_ins, provider.packet_ins.n_overflow
    mac = provider.mac_table
    yield "mac_learning_learned", mac, mac.n_learned
    yield "mac_learning_moved", mac, mac.n_moved
    yield "mac_learning_expired", mac, mac.n_expired
    yield "mac_learning_evicted", mac, mac.n_evicted
    yield "ofproto_recv_openflow", ofproto, ofproto.n_openflow_received
    yield "ofproto_flow_mod", ofproto.flows, ofproto.flows.n_flow_mods
    yield "ofproto_group_mod", ofproto.groups, ofproto.groups.n_group_mods
    yield "ofproto_meter_mod", ofproto.meters, ofproto.meters.n_meter_mods
    connmgr = ofproto.connmgr
    yield "connmgr_async_unsent", connmgr, connmgr.n_async_unsent
    for ofconn in connmgr.all_ofconns():
        monitors = getattr(ofconn, "monitors", None)     # SessionMonitors
        if monitors is not None:
            yield "ofmonitor_pause", monitors, monitors.n_pauses
            yield "ofmonitor_resume", monitors, monitors.n_resumes
    for rconn in _rconns(connmgr):
        counters = rconn.counters
        yield "rconn_sent", rconn, counters.packets_sent
        yield "vconn_received", rconn, counters.packets_received
        yield "rconn_discarded", rconn, counters.n_discarded


def _rconns(connmgr: Any) -> Iterator[Any]:
    seen: set[int] = set()
    for svc in connmgr.services.values():
        if svc.rconn is not None and id(svc.rconn) not in seen:
            seen.add(id(svc.rconn))
            yield svc.rconn
        for ofconn in svc.ofconns():
            rconn = getattr(ofconn, "rconn", None)
            if rconn is not None and id(rconn) not in seen:
                seen.add(id(rconn))
                yield rconn


class CoverageFeed:
    """Adds the bridges' counter movements to the coverage counters (module docstring)."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, int], tuple[object, int]] = {}
        self.next_sample = 0.0

    def run(self, bridges: Any, now: float) -> None:
        if now >= self.next_sample:
            self.sample(bridges)
            self.next_sample = now + SAMPLE_INTERVAL_MS

    def sample(self, bridges: Any) -> None:
        """Credit everything counted since the last sample (also before a bridge goes)."""
        seen: dict[tuple[str, int], tuple[object, int]] = {}
        for br in bridges.bridges.values():
            for name, obj, total in _bridge_events(br):
                key = (name, id(obj))
                old = self._last.get(key)
                before = old[1] if old is not None and old[0] is obj else 0
                if total > before:
                    coverage.Counter(name).inc(total - before)
                seen[key] = (obj, max(total, before))
        self._last = seen
