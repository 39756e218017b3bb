"""The ofproto provider boundary (OVS ofproto/ofproto-provider.h, much reduced).

What this module owns
---------------------
``OfprotoProvider``: what OpenFlow semantics (``ofproto/``) ask of the implementation that
forwards packets (``ofproto_dpif/``, over a datapath).  ofproto never imports the
provider's package; the bridge layer (``vswitchd/bridge.py``) creates the provider and
hands it to the ``Ofproto`` (``ofproto.provider = ...``), just as ovs-vswitchd registers
ofproto-dpif.

Life cycle
----------
1. The bridge layer creates ``Ofproto`` then the provider for it, and sets
   ``ofproto.provider``.  Ports are added to the ofproto first (``Ofproto.add_port``),
   which calls ``port_added`` here.
2. On every poll-loop pass the bridge calls ``provider.run(now)`` before ``ofproto.run``
   (upcalls, revalidation, statistics pushed back into rules) and ``provider.wait``.
3. ``close`` when the bridge goes away.

Contracts
---------
* ``tables_changed()``: called after every committed change to flow tables, groups or
  meters (a flow_mod, a bundle commit, an expiry, a flush).  Before the switch answers a
  BARRIER that follows the change, every cached datapath flow must agree with the new
  tables (no stale forwarding after a FLOW_MOD is acknowledged).
* ``rules_changed(added, removed)`` (optional): called instead of ``tables_changed`` for a
  flow-table commit, with the rules added and the ``(rule, reason)`` pairs removed, so the
  provider can revalidate only what those rules can change.
* ``packet_out(in_port, actions, packet, now)``: execute OpenFlow actions on a packet
  (PACKET_OUT); raises ``OFPError`` for what OVS would refuse.
* ``port_added(port)``, ``port_removed(port)``, ``port_modified(port)``: keep the datapath's
  ports in step with the OpenFlow ports.
* Statistics: the provider credits datapath hits to rules with ``Rule.add_stats`` (so
  dump-flows counters and idle timeouts are right when every packet hits a cache).

Optional members are marked so; a missing optional member means "nothing to do".
"""

from __future__ import annotations

from typing import Any, Protocol


class OfprotoProvider(Protocol):
    def run(self, now: float) -> None: ...
    def wait(self, poller: Any, now: float) -> None: ...
    def tables_changed(self) -> None: ...
    def packet_out(self, in_port: int, actions: tuple, packet: bytes, now: float) -> None: ...
    def port_added(self, port: Any) -> None: ...
    def port_removed(self, port: Any) -> None: ...
    def port_modified(self, port: Any) -> None: ...
    def close(self) -> None: ...
