"""Memory reports (OVS lib/memory.c): ``ovs-appctl memory/show`` and the periodic log line.

What this module owns
---------------------
The ``memory/show`` unixctl command, the counts behind it, and ``MemoryMonitor``, which
logs them as ovs-vswitchd does: ten seconds after start "N kB peak resident set size
after T seconds", and whenever the peak RSS has grown by half since the last report
"peak resident set size grew P% in last T seconds, from A kB to B kB", each followed by
the same line ``memory/show`` prints.  The peak is checked at most every 10 s, when the
loop runs anyway (the monitor sets no timer of its own, as in OVS).

memory/show
-----------
Open vSwitch's reply is one line of ``name:count`` pairs joined by single spaces and
sorted by name, and a count of zero is left out altogether (its ``simap_increase``
ignores a zero).  The line ends with a newline when it is not empty: OVS's C unixctl
server adds one to every non-empty reply (3.1) or ``ovs-appctl`` does (later versions),
while the ``ovs`` package's server, ours, sends the text as it is.  The counts and where
OVS takes them:

* ``ports``: every bridge's OpenFlow ports, LOCAL included (ofproto's port map);
* ``rules``: every bridge's flows in every table, hidden ones included (``n_flows``).
  OVS's count has four more per bridge: the internal rules of its table 254 (miss to
  controller, no packet-in, drop fragments, drop stray recirculations), which this
  daemon's translation does without rules;
* ``ofconns``: every OpenFlow session (controllers and management-socket clients);
* ``packets``: messages waiting in those sessions' transmit queues plus packet-ins held
  by their rate limiters (connmgr);
* ``udpif keys``: the flows the upcall layer tracks in the datapath caches;
* ``idl-cells-<db>`` and ``idl-outstanding-txns-<db>`` when the configuration comes from
  OVSDB: rows times columns of the replicated tables, transactions awaiting an answer.

OVS also reports ``handlers`` and ``revalidators``, its upcall and revalidator threads.
This daemon has neither (both jobs run in its one loop), so they are not reported: a
count here is always one we really hold.  OVS answers from its main loop; here the
command answers at once.

Time model: ``MemoryMonitor.run(now, ...)`` takes the time (ms); the peak RSS comes from
a function given to it (``getrusage`` by default).
Must not import: ``vswitchd.main`` (the daemon passes itself in).
"""

from __future__ import annotations

import resource
from typing import Any, Callable

import ovs.unixctl

from pyvswitch.util.vlog import Logger

log = Logger("memory")

MEMORY_CHECK_INTERVAL_MS = 10_000     # first report after this, then checks this often
GROWTH_TO_REPORT = 1.5                # a new peak this many times the last one reported


def memory_usage(bridges: Any, idl: Any = None) -> dict[str, int]:
    """The counts of the running ``bridges`` (a ``vswitchd.bridge.Bridges``) and of the
    OVSDB ``idl`` if there is one; keys whose count is zero are absent, as in OVS."""
    usage: dict[str, int] = {}

    def add(key: str, n: int) -> None:
        if n:
            usage[key] = usage.get(key, 0) + n

    for br in bridges.bridges.values():
        ofproto = br.ofproto
        add("udpif keys", len(br.provider.upcalls.ukeys))
        add("ports", len(ofproto.ports))
        add("rules", ofproto.flows.n_flows())
        ofconns = ofproto.connmgr.all_ofconns()
        add("ofconns", len(ofconns))
        add("packets", sum(len(ofconn.rconn.txq) + ofconn.packet_in_backlog()
                           for ofconn in ofconns))
    if idl is not None:
        name = idl._db.name
        add(f"idl-outstanding-txns-{name}", len(idl._outstanding_txns))
        add(f"idl-cells-{name}", sum(len(table.rows) * len(table.columns)
                                     for table in idl.tables.values()))
    return usage


def memory_text(usage: dict[str, int]) -> str:
    """``name:count`` pairs sorted by name, one space apart (OVS ``compose_report``)."""
    return " ".join(f"{name}:{count}" for name, count in sorted(usage.items()))


def register(daemon: Any) -> None:
    """Register ``memory/show`` for the running ``vswitchd.main.Daemon``."""
    def show(conn, argv, aux) -> None:
        idl = getattr(daemon.source, "idl", None)
        text = memory_text(memory_usage(daemon.bridges, idl))
        conn.reply(text + "\n" if text else "")
    ovs.unixctl.command_register("memory/show", "", 0, 0, show, None)


def peak_rss_kb() -> int:
    """This process's peak resident set size in kB (``ru_maxrss``, kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class MemoryMonitor:
    """The periodic memory report (module docstring); ``run`` returns what it logged."""

    def __init__(self, boot_ms: float, peak_rss: Callable[[], int] = peak_rss_kb) -> None:
        self.boot_ms = boot_ms
        self.peak_rss = peak_rss
        self.next_check = boot_ms + MEMORY_CHECK_INTERVAL_MS
        self.last_report_ms = boot_ms
        self.last_peak_kb = 0          # 0 until the first report

    def run(self, now: float, bridges: Any, idl: Any = None) -> list[str]:
        if now < self.next_check:
            return []
        self.next_check = now + MEMORY_CHECK_INTERVAL_MS
        peak = self.peak_rss()
        if not self.last_peak_kb:
            lines = [f"{peak} kB peak resident set size after "
                     f"{(now - self.boot_ms) / 1000:.1f} seconds"]
        elif peak >= self.last_peak_kb * GROWTH_TO_REPORT:
            lines = [f"peak resident set size grew "
                     f"{(peak / self.last_peak_kb - 1) * 100:.0f}% in last "
                     f"{(now - self.last_report_ms) / 1000:.1f} seconds, from "
                     f"{self.last_peak_kb} kB to {peak} kB"]
        else:
            return []
        self.last_report_ms = now
        self.last_peak_kb = peak
        usage = memory_text(memory_usage(bridges, idl))
        if usage:
            lines.append(usage)
        for line in lines:
            log.info("%s", line)
        return lines
