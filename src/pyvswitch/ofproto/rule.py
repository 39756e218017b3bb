"""rule: one OpenFlow flow entry (OVS ofproto-provider.h ``struct rule``, reduced).

What this module owns
---------------------
``Rule``: what a flow table keeps per flow - its match and priority (the classifier's key),
its instructions, cookie, timeouts, flags and importance, its timestamps and its counters.
A rule is never changed in place by a flow_mod: MODIFY and an ADD over an identical rule
build a *replacement* rule (as Open vSwitch does), so a rule object a lookup returned stays
coherent for the packet being translated.  Only counters, ``used_ms`` and the table's
bookkeeping slots (and the ``wire`` cache of its encoded form) change after creation.

Conventions
-----------
* Times are milliseconds on the caller's clock (``now`` parameters), never read here.
* ``flags`` are the OpenFlow 1.3+ flag bits (``messages.OFPFF_*``) as the switch keeps them
  (OVS OFPUTIL_FF_STATE): SEND_FLOW_REM, CHECK_OVERLAP, RESET_COUNTS, NO_PKT_COUNTS,
  NO_BYT_COUNTS.
* A rule with ``priority`` above 65535 is *hidden* (in-band, fail-open): OpenFlow never
  reports it (flow stats, table counts, FLOW_REMOVED).
* Memory: the switch must hold 100k flows in well under 2 KiB each, so ``Rule`` has
  ``__slots__`` and no per-rule dicts; the match's mask list is shared between the rules of
  one table that have the same mask (see ``tables.py``).

Must not import: ``vswitchd``, ``ofproto_dpif``, ``connmgr``.
"""

from __future__ import annotations

from pyvswitch.openflow.ofpacts import Instructions
from pyvswitch.packet.fields import Match

#: Highest priority an OpenFlow controller can set; rules above it are hidden.
MAX_VISIBLE_PRIORITY = 0xFFFF


class Rule:
    """One flow entry of one table."""

    __slots__ = ("table_id", "match", "priority", "instructions", "cookie", "idle_timeout",
                 "hard_timeout", "flags", "importance", "created_ms", "modified_ms",
                 "used_ms", "packet_count", "byte_count", "evg", "successor",
                 "forward_counts", "wire")

    def __init__(self, table_id: int, match: Match, priority: int,
                 instructions: Instructions, *, cookie: int = 0, idle_timeout: int = 0,
                 hard_timeout: int = 0, flags: int = 0, importance: int = 0,
                 now: float = 0) -> None:
        self.table_id = table_id
        self.match = match
        self.priority = priority
        self.instructions = instructions
        self.cookie = cookie
        self.idle_timeout = idle_timeout      # seconds, 0 = none
        self.hard_timeout = hard_timeout      # seconds, 0 = none
        self.flags = flags
        self.importance = importance
        self.created_ms = now                 # kept across MODIFY (flow duration)
        self.modified_ms = now                # restarts the hard timer (hard_age)
        self.used_ms = now                    # last packet seen (idle timer)
        self.packet_count = 0
        self.byte_count = 0
        #: Eviction group key while the rule sits in one (tables.py), else None.
        self.evg: tuple | None = None
        #: The rule that replaced this one (MODIFY / ADD over it): statistics the
        #: datapath still credits to this rule go there (OVS rule_dpif new_rule).
        self.successor: Rule | None = None
        self.forward_counts = False
        #: Match and instructions as the last flow-stats reply encoded them (the dump
        #: encoder fills it, see ``openflow.wire_flow_dump``); valid for the rule's whole
        #: life because neither ever changes.
        self.wire: tuple | None = None

    def copy(self) -> "Rule":
        """A rule equal to this one in every respect but identity (same match object,
        counters and timestamps), not in any table yet."""
        twin = Rule(self.table_id, self.match, self.priority, self.instructions,
                    cookie=self.cookie, idle_timeout=self.idle_timeout,
                    hard_timeout=self.hard_timeout, flags=self.flags,
                    importance=self.importance, now=self.created_ms)
        twin.modified_ms = self.modified_ms
        twin.used_ms = self.used_ms
        twin.packet_count = self.packet_count
        twin.byte_count = self.byte_count
        twin.wire = self.wire             # same match and instructions
        return twin

    @property
    def hidden(self) -> bool:
        return self.priority > MAX_VISIBLE_PRIORITY

    def add_stats(self, packets: int, nbytes: int, used_ms: float) -> None:
        """Credit ``packets``/``nbytes`` seen at ``used_ms`` (the provider calls this for
        datapath cache hits).  A replaced rule forwards to its successor: the counters
        when the replacement kept them, the last-used time always."""
        rule, counts = self, True
        while rule.successor is not None:
            counts = counts and rule.forward_counts
            rule = rule.successor
        if counts:
            rule.packet_count += packets
            rule.byte_count += nbytes
        if used_ms > rule.used_ms:
            rule.used_ms = used_ms

    def expiry_ms(self) -> float | None:
        """When the rule would time out if nothing changed (None: never)."""
        deadline = None
        if self.hard_timeout:
            deadline = self.modified_ms + self.hard_timeout * 1000
        if self.idle_timeout:
            idle = self.used_ms + self.idle_timeout * 1000
            deadline = idle if deadline is None else min(deadline, idle)
        return deadline

    def duration(self, now: float) -> tuple[int, int]:
        """``(seconds, nanoseconds)`` since creation (OVS calc_duration)."""
        ms = max(0, int(now - self.created_ms))
        return ms // 1000, (ms % 1000) * 1_000_000

    def __repr__(self) -> str:
        return (f"Rule(table={self.table_id}, priority={self.priority}, "
                f"cookie={self.cookie:#x}, {self.match!r})")
