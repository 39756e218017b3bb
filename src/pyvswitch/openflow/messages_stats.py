"""Version-independent statistics messages: flow, aggregate, table and port statistics.

What this module owns
---------------------
Frozen dataclasses for the FLOW / AGGREGATE / TABLE / PORT_STATS multipart requests and
replies (OVS ``ofputil_flow_stats_request``, ``ofputil_flow_stats``...; ``FlowStats``, one
per flow of a reply, is a plain slotted one; a switch dumping its tables builds none:
``wire_flow_dump`` encodes its rules directly).  ``nxm`` marks the Nicira forms (NXST_FLOW / NXST_AGGREGATE, used by OF1.0 sessions whose flow format is NXM):
a reply should use the form its request used, so ofproto copies the flag across.

Must not import: anything in pyvswitch except ``packet.fields``, ``openflow.ofpacts``,
``openflow.messages`` and ``util.compat``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pyvswitch.openflow.messages import Message
from pyvswitch.openflow.ofpacts import OFPG_ANY, OFPP_ANY, Instructions
from pyvswitch.packet.fields import Match
from pyvswitch.util.compat import SLOTS


@dataclass(frozen=True)
class FlowStatsRequest(Message):
    match: Match
    table_id: int = 0xFF
    out_port: int = OFPP_ANY
    out_group: int = OFPG_ANY
    cookie: int = 0
    cookie_mask: int = 0
    nxm: bool = False


@dataclass(frozen=True)
class AggregateStatsRequest(Message):
    match: Match
    table_id: int = 0xFF
    out_port: int = OFPP_ANY
    out_group: int = OFPG_ANY
    cookie: int = 0
    cookie_mask: int = 0
    nxm: bool = False


@dataclass(**SLOTS)
class FlowStats:
    """One flow in a flow-stats reply.  ``idle_age``/``hard_age`` (seconds) travel only in
    NXST_FLOW replies; None there means "not reported".  A plain slotted record rather than
    a frozen dataclass: a dump builds one per flow, and a frozen one costs 7x more to make."""

    match: Match
    instructions: Instructions
    table_id: int = 0
    duration_sec: int = 0
    duration_nsec: int = 0
    priority: int = 0x8000
    idle_timeout: int = 0
    hard_timeout: int = 0
    flags: int = 0
    importance: int = 0
    cookie: int = 0
    packet_count: int = 0
    byte_count: int = 0
    idle_age: Optional[int] = None
    hard_age: Optional[int] = None


@dataclass(frozen=True)
class FlowStatsReply(Message):
    flows: tuple[FlowStats, ...] = ()
    nxm: bool = False
    more: bool = False


@dataclass(frozen=True)
class AggregateStatsReply(Message):
    packet_count: int = 0
    byte_count: int = 0
    flow_count: int = 0
    nxm: bool = False


@dataclass(frozen=True)
class TableStatsRequest(Message):
    pass


@dataclass(frozen=True)
class TableStats:
    """One table's counters.  ``name``, ``wildcards`` and ``max_entries`` exist on the wire
    only in OpenFlow 1.0."""

    table_id: int
    active_count: int = 0
    lookup_count: int = 0
    matched_count: int = 0
    name: str = ""
    wildcards: int = 0x3FFFFF
    max_entries: int = 1000000


@dataclass(frozen=True)
class TableStatsReply(Message):
    tables: tuple[TableStats, ...] = ()
    more: bool = False


@dataclass(frozen=True)
class PortStatsRequest(Message):
    port_no: int = OFPP_ANY


@dataclass(frozen=True)
class PortStats:
    port_no: int
    rx_packets: int = 0
    tx_packets: int = 0
    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_dropped: int = 0
    tx_dropped: int = 0
    rx_errors: int = 0
    tx_errors: int = 0
    rx_frame_err: int = 0
    rx_over_err: int = 0
    rx_crc_err: int = 0
    collisions: int = 0
    duration_sec: int = 0      # not in OF1.0
    duration_nsec: int = 0


@dataclass(frozen=True)
class PortStatsReply(Message):
    stats: tuple[PortStats, ...] = ()
    more: bool = False
