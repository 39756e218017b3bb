"""unixctl ``dpctl/*`` commands: the datapaths as Open vSwitch's lib/dpctl.c shows them.

What this module owns
---------------------
``dpctl/dump-dps``, ``dpctl/show``, ``dpctl/dump-flows``, ``dpctl/get-flow``,
``dpctl/del-flow`` and ``dpctl/del-flows``: their option and argument parsing (OVS's
``-m``/``--more``, ``-s``/``--statistics``, ``--names``/``--no-names``, ``filter=``,
``type=``) and the text they print, in Open vSwitch's layout for the userspace (netdev)
datapath.

Datapaths as dpctl sees them
----------------------------
Open vSwitch has one datapath per type shared by every bridge of that type
(``netdev@ovs-netdev``); pyvswitchd gives each bridge its own datapath object
(``br.provider.dpif``).  ``DatapathView`` puts the bridges of one type back together: its
name is ``<type>@ovs-<type>``, its lookup counters are the sums of its bridges', its ports
and flows their union.  Port numbers are each bridge's own datapath numbers.  With one
bridge per type they are the numbers Open vSwitch shows (its port 0, the device named
after the datapath itself, does not exist here and is not shown); with several bridges of
one type the numbers repeat from bridge to bridge, and ``-m``/``--names`` tells the ports
apart by name.

Invariants
----------
* Deleting cached flows (``del-flows``, ``del-flow``) goes through the bridge's upcall
  handler, so the statistics of the deleted flows are credited to their OpenFlow rules
  and tables as on any other deletion, and no cached-flow record (ukey) outlives its
  datapath flow.
* A flow's ``ufid`` is derived from its key and mask (a hash, as Open vSwitch derives
  its own from the flow key), so the same flow keeps the same ufid between dumps.

Time model: each command reads the clock it was registered with (the loop's,
``ovs.timeval.msec``) once; everything else takes ``now`` (ms) as a parameter.
Must not import: ``vswitchd.main``.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field

import ovs.timeval
import ovs.unixctl
import ovs.util

from pyvswitch.datapath.actions import Output
from pyvswitch.datapath.actions import format_actions as format_dp_actions
from pyvswitch.datapath.format import format_odp_key
from pyvswitch.openflow.flow_parse import parse_match
from pyvswitch.packet.fields import N_SLOTS, Match, Slot
from pyvswitch.vswitchd.unixctl_dpif import port_type_text


class DpctlError(Exception):
    """A command failed; the message is what the user reads."""


def error_text(message: str, reason: str | None = None) -> str:
    """One error line as OVS's dpctl prints it: ``<program>: <message> (<reason>)``."""
    text = f"{ovs.util.PROGRAM_NAME}: {message}"
    return text + (f" ({reason})" if reason else "")


# --- options ---------------------------------------------------------------------------

@dataclass
class DpctlOptions:
    """The options that may precede a dpctl command's arguments."""

    verbosity: int = 0           # -m / --more, may repeat
    statistics: bool = False     # -s / --statistics
    names: bool = False          # --names / --no-names; by default, on with -m
    clear: bool = False          # --clear (mod-flow; accepted, unused)
    may_create: bool = False     # --may-create (mod-flow; accepted, unused)


def parse_options(argv: list[str]) -> tuple[DpctlOptions, list[str]]:
    """Split the leading options off ``argv`` (as OVS's dpctl does, stopping at the
    first argument that does not start with ``-``)."""
    opts = DpctlOptions()
    names: bool | None = None
    rest = list(argv)
    while rest:
        arg = rest[0]
        if arg.startswith("--"):
            if arg == "--statistics":
                opts.statistics = True
            elif arg == "--clear":
                opts.clear = True
            elif arg == "--may-create":
                opts.may_create = True
            elif arg == "--more":
                opts.verbosity += 1
            elif arg in ("--names", "--no-names"):
                names = arg == "--names"
            else:
                raise DpctlError(f"Unrecognized option {arg}")
        elif arg.startswith("-") and len(arg) > 1:
            for letter in arg[1:]:
                if letter == "m":
                    opts.verbosity += 1
                elif letter == "s":
                    opts.statistics = True
                else:
                    raise DpctlError(f"Unrecognized option -{letter}")
        else:
            break
        rest.pop(0)
    opts.names = opts.verbosity > 0 if names is None else names
    return opts, rest


DUMP_TYPES = ("ovs", "tc", "offloaded", "non-offloaded", "all")


def split_dump_flows_args(args: list[str]) -> tuple[list[str], str | None, str | None]:
    """``[dp] [filter=...] [type=...]`` -> (remaining arguments, filter, type list).  As
    in OVS, ``filter=`` and ``type=`` are taken from the end, each at most once."""
    rest = list(args)
    flt = types = None
    while rest:
        last = rest[-1]
        if last.startswith("filter=") and flt is None:
            flt = rest.pop()[len("filter="):]
        elif last.startswith("type=") and types is None:
            types = rest.pop()[len("type="):]
        else:
            break
    if types is not None:
        for kind in types.split(","):
            if kind and kind not in DUMP_TYPES:
                raise DpctlError(error_text(f"Failed to parse type ({kind})",
                                            "Invalid argument"))
    return rest, flt, types


def wants_ovs_flows(types: str | None) -> bool:
    """Whether a ``type=`` list selects the flows of this datapath: every flow here is an
    ``ovs`` (software), non-offloaded flow; ``tc`` and ``offloaded`` alone select none."""
    if types is None:
        return True
    kinds = {k for k in types.split(",") if k}
    return bool(kinds & {"ovs", "non-offloaded", "all"})


# --- datapaths -------------------------------------------------------------------------

@dataclass
class DpPortInfo:
    """One port of a datapath view."""

    number: int                  # the bridge datapath's port number
    name: str
    type_text: str | None        # "tap", "dummy", "patch: peer=p1"; None for system
    netdev: object


@dataclass
class DatapathView:
    """The bridges of one datapath type seen as one datapath (see module docstring)."""

    dp_type: str
    bridges: list = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.dp_type}@ovs-{self.dp_type}"

    def ports(self) -> list[DpPortInfo]:
        """Every port, by number (then bridge name, for repeated numbers)."""
        out = []
        for br in self.bridges:
            for number, netdev in sorted(br.provider.dpif.port_list().items()):
                out.append(DpPortInfo(number, netdev.name, _type_text(br, netdev), netdev))
        out.sort(key=lambda p: p.number)
        return out

    def port_names(self) -> dict[int, str]:
        return {p.number: p.name for p in self.ports()}

    def lookups(self) -> tuple[int, int, int, int]:
        """(hit, missed, lost, flows) summed over the bridges' datapaths; upcalls the
        handler had no room for count as lost, as a full upcall queue does in OVS."""
        hit = missed = lost = flows = 0
        for br in self.bridges:
            st = br.provider.dpif.stats()
            hit += st.n_hit
            missed += st.n_missed
            lost += st.n_lost + getattr(br.provider.upcalls, "n_lost", 0)
            flows += st.n_flows
        return hit, missed, lost, flows

    def flows(self):
        """(bridge, DpFlow) for every cached flow of every bridge."""
        for br in self.bridges:
            for f in br.provider.dpif.flow_dump():
                yield br, f


def _type_text(br, netdev) -> str | None:
    """The type dpctl/show prints after the name (``port_type_text``); None for a system
    device, which OVS shows without a type."""
    if getattr(netdev, "type", "system") == "system":
        return None
    return port_type_text(br, netdev)


def datapath_views(bridges) -> dict[str, DatapathView]:
    """One view per datapath type in use, by name (``netdev@ovs-netdev``)."""
    by_type: dict[str, DatapathView] = {}
    for name in sorted(bridges.bridges):
        br = bridges.bridges[name]
        dp_type = br.cfg.datapath_type or "netdev"
        by_type.setdefault(dp_type, DatapathView(dp_type)).bridges.append(br)
    return {view.name: view for view in by_type.values()}


def find_datapath(views: dict[str, DatapathView], name: str) -> DatapathView | None:
    """The view called ``name`` (``netdev@ovs-netdev``, or just ``ovs-netdev``)."""
    if name in views:
        return views[name]
    for view in views.values():
        if name == view.name.partition("@")[2]:
            return view
    return None


def pick_datapath(views: dict[str, DatapathView], args: list[str],
                  max_args: int) -> tuple[DatapathView, list[str]]:
    """OVS's optional datapath argument: ``args[0]`` if it names a datapath, else the
    only datapath (unless ``args`` already holds ``max_args - 1`` arguments: then the
    first had to be the datapath).  Returns the view and the arguments after it."""
    if args:
        view = find_datapath(views, args[0])
        if view is not None:
            return view, args[1:]
    if len(args) + 1 < max_args:
        if len(views) == 1:
            return next(iter(views.values())), args
        first = (error_text("no datapaths exist") if not views
                 else error_text("multiple datapaths, specify one"))
        raise DpctlError(first + "\n" + error_text("datapath not found", "Invalid argument"))
    raise DpctlError(error_text("datapath not found", "Invalid argument"))


# --- dpctl/show ------------------------------------------------------------------------

def show_text(view: DatapathView, statistics: bool = False) -> str:
    """``dpctl/show``: name, lookups, flows, then ``port N: name (type)`` per port and,
    with ``statistics``, the device counters under each."""
    hit, missed, lost, flows = view.lookups()
    lines = [f"{view.name}:", f"  lookups: hit:{hit} missed:{missed} lost:{lost}",
             f"  flows: {flows}"]
    for port in view.ports():
        line = f"  port {port.number}: {port.name}"
        if port.type_text is not None:
            line += f" ({port.type_text})"
        lines.append(line)
        if statistics:
            lines += port_stats_lines(port.netdev)
    return "\n".join(lines) + "\n"


def port_stats_lines(netdev) -> list[str]:
    """The four counter lines under a port; ``?`` for what the device does not count."""
    try:
        s = netdev.get_stats()
    except Exception as e:              # a device gone under us: say so, as OVS does
        return [f"    could not retrieve stats ({e})"]

    def v(name: str) -> str:
        value = getattr(s, name, None)
        return "?" if value is None else str(value)

    return [f"    RX packets:{v('rx_packets')} errors:{v('rx_errors')} "
            f"dropped:{v('rx_dropped')} overruns:{v('rx_over_err')} "
            f"frame:{v('rx_frame_err')}",
            f"    TX packets:{v('tx_packets')} errors:{v('tx_errors')} "
            f"dropped:{v('tx_dropped')} aborted:{v('tx_aborted_err')} "
            f"carrier:{v('tx_carrier_err')}",
            f"    collisions:{v('collisions')}",
            f"    RX bytes:{v('rx_bytes')}{human_size(getattr(s, 'rx_bytes', None))}"
            f"  TX bytes:{v('tx_bytes')}{human_size(getattr(s, 'tx_bytes', None))}"]


def human_size(value: int | None) -> str:
    """`` (1.5 KiB)`` after a byte count of at least 1 KiB, as OVS prints it."""
    if value is None:
        return ""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20),
                       ("KiB", 1 << 10)):
        if value >= size:
            return f" ({value / size:.1f} {unit})"
    return ""


# --- flows -----------------------------------------------------------------------------

def flow_ufid(key: tuple[int, ...], mask: tuple[int, ...]) -> str:
    """The flow's unique id, in OVS's UUID spelling."""
    digest = hashlib.blake2b(repr((tuple(key), tuple(mask))).encode(),
                             digest_size=16).digest()
    return str(uuid.UUID(bytes=digest))


def tcp_flags_text(flags: int) -> str:
    """TCP flags in tcpdump's letters, as OVS prints them after ``flags:``."""
    if not flags:
        return "none"
    text = ""
    for bit, letter in ((0x02, "S"), (0x01, "F"), (0x08, "P"), (0x04, "R"), (0x20, "U"),
                        (0x10, "."), (0x40, "E"), (0x80, "C"), (0x100, "N"),
                        (0x200, "[200]"), (0x400, "[400]"), (0x800, "[800]")):
        if flags & bit:
            text += letter
    return text


def stats_text(packets: int, nbytes: int, used_ms: float, tcp_flags: int,
               now: float) -> str:
    """``packets:N, bytes:N, used:X.XXXs[, flags:S.]`` (``used:never`` if never hit)."""
    used = f"{max(0.0, now - used_ms) / 1000:.3f}s" if used_ms and packets else "never"
    text = f"packets:{packets}, bytes:{nbytes}, used:{used}"
    if tcp_flags:
        text += f", flags:{tcp_flags_text(tcp_flags)}"
    return text


def actions_text(actions, names: dict[int, str] | None = None) -> str:
    """Datapath actions as OVS spells them, output ports by name when ``names`` is
    given (``-m``)."""
    if not names:
        return format_dp_actions(actions)
    return format_dp_actions(actions, lambda a: (names.get(a.port, str(a.port))
                                                 if type(a) is Output else None))


_IN_PORT = re.compile(r"(^|,)in_port\((\d+)\)")


def format_flow(f, now: float, opts: DpctlOptions | None = None,
                names: dict[int, str] | None = None) -> str:
    """One flow line of ``dpctl/dump-flows``: with ``-m`` the ufid first and ``dp:ovs``
    before the actions; with names, ports by name in ``in_port`` and the actions.  The
    key lists the fields the flow matches, with ``-m`` too (Open vSwitch's ``-m`` also
    lists each wildcarded field as ``value/0``)."""
    opts = opts or DpctlOptions()
    key = format_odp_key(f.key, f.mask)
    if names:
        key = _IN_PORT.sub(lambda m: f"{m.group(1)}in_port("
                           f"{names.get(int(m.group(2)), m.group(2))})", key, count=1)
    text = key + ", " + stats_text(f.packets, f.bytes, f.used_ms, f.tcp_flags, now)
    if opts.verbosity:
        text = f"ufid:{flow_ufid(f.key, f.mask)}, {text}, dp:ovs"
    return text + ", actions:" + actions_text(f.actions, names if names else None)


def parse_filter(text: str, port_names: dict[int, str]) -> Match:
    """A ``filter=`` argument: OpenFlow match syntax, where ``key(value)`` may stand for
    ``key=value`` (so a datapath key's ``in_port(2)`` or ``eth_type(0x0800)`` work),
    ``in_port`` names a datapath port (number or name) and ``recirc_id`` is allowed."""
    by_name = {name: number for number, name in port_names.items()}
    match_parts = []
    in_port = recirc_id = None
    for token in _split_top(text):
        key, value = _key_value(token)
        if key == "in_port":
            if value in by_name:
                in_port = by_name[value]
            else:
                try:
                    in_port = int(value, 0)
                except ValueError:
                    raise DpctlError(error_text(f"Failed to parse filter ({value}: "
                                                "unknown port")) from None
        elif key == "recirc_id":
            try:
                recirc_id = int(value, 0)
            except ValueError:
                raise DpctlError(error_text(f"Failed to parse filter ({token}: "
                                            "bad recirc_id)")) from None
        else:
            match_parts.append(key if value is None else f"{key}={value}")
    try:
        match = parse_match(",".join(match_parts)) if match_parts else Match()
    except Exception as e:
        raise DpctlError(error_text(f"Failed to parse filter ({text}: {e})")) from None
    if in_port is not None:
        match.values[Slot.IN_PORT] = in_port
        match.masks[Slot.IN_PORT] = 0xFFFFFFFF
    if recirc_id is not None:
        match.values[Slot.RECIRC_ID] = recirc_id
        match.masks[Slot.RECIRC_ID] = 0xFFFFFFFF
    return match


_PROTOCOL_WORDS = frozenset(("ip", "ipv4", "ipv6", "icmp", "icmp6", "tcp", "tcp6", "udp",
                             "udp6", "sctp", "sctp6", "arp", "rarp", "mpls", "mplsm",
                             "igmp"))


def _key_value(token: str) -> tuple[str, str | None]:
    """``key=value``, ``key(value)`` or a bare keyword; a protocol keyword written with
    a value in parentheses (``ipv4(src=...)``) stands for the protocol alone."""
    m = re.fullmatch(r"\s*([\w.]+)\((.*)\)\s*", token)
    if m:
        key, value = m.group(1), m.group(2)
        return (key, None) if key in _PROTOCOL_WORDS else (key, value)
    key, sep, value = token.partition("=")
    return key.strip(), value.strip() if sep else None


def _split_top(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def filter_matches(flt: Match, key: tuple[int, ...]) -> bool:
    """Whether a cached flow's (masked) key agrees with the filter on every bit the
    filter constrains, as OVS compares the filter with the flow's masked key."""
    values, masks = flt.values, flt.masks
    for slot in range(N_SLOTS):
        m = masks[slot]
        if m and (key[slot] ^ values[slot]) & m:
            return False
    return True


def dump_flows_text(view: DatapathView, opts: DpctlOptions, flt: Match | None,
                    types: str | None, now: float) -> str:
    """``dpctl/dump-flows``: a heading, then one line per flow (nothing at all when no
    flow passes), bridge by bridge in each datapath's own order."""
    if not wants_ovs_flows(types):
        return ""
    names = view.port_names() if opts.names else None
    lines = []
    for _, f in view.flows():
        if flt is not None and not filter_matches(flt, f.key):
            continue
        lines.append(format_flow(f, now, opts, names))
    if not lines:
        return ""
    return "flow-dump from the main thread:\n" + "\n".join(lines) + "\n"


def find_flow_by_ufid(view: DatapathView, ufid: str):
    """(bridge, DpFlow) of the flow with this ufid, or None."""
    want = ufid.lower()
    for br, f in view.flows():
        if flow_ufid(f.key, f.mask) == want:
            return br, f
    return None


def parse_ufid(text: str) -> str | None:
    """The UUID of a ``ufid:<uuid>`` argument, None if the text does not start so;
    DpctlError if it does but the UUID is malformed."""
    if not text.startswith("ufid:"):
        return None
    body = text[len("ufid:"):].split(",", 1)[0].strip()
    try:
        return str(uuid.UUID(body))
    except ValueError:
        raise DpctlError(error_text("parsing flow ufid", "Invalid argument")) from None


def delete_flow(br, f, now: float):
    """Delete one cached flow of bridge ``br``, crediting its statistics to the rules it
    hit first (the handler's stats push), and forget its ukey.  Returns its final
    statistics (a DpFlow)."""
    upcalls, dpif = br.provider.upcalls, br.provider.dpif
    latest = dpif.flow_get(f.key, f.mask) or f
    upcalls.push_stats(now)      # may itself retire the flow if idle (credited too)
    final = dpif.flow_del(f.key, f.mask)
    upcalls.ukeys.pop((f.key, f.mask), None)
    return final or latest


def delete_all_flows(view: DatapathView, now: float) -> None:
    """Flush every bridge's cached flows: first those the upcall handler installed
    (their statistics credited as on a revalidation's deletion), then any other."""
    for br in view.bridges:
        br.provider.upcalls.flush(now)
        br.provider.dpif.flow_flush()


# --- registration ----------------------------------------------------------------------

def register(daemon, clock=ovs.timeval.msec) -> None:
    """Register the dpctl/* commands for ``daemon.bridges``; ``clock()`` gives each
    command's ``now`` (the loop's clock; tests pass their own)."""
    bridges = daemon.bridges

    def cmd(name: str, usage: str, min_args: int, max_args: int):
        def deco(fn):
            def call(conn, argv, aux):
                try:
                    opts, args = parse_options(list(argv))
                    conn.reply(fn(opts, args, clock()))
                except DpctlError as e:
                    conn.reply_error(str(e) + "\n")
            ovs.unixctl.command_register(f"dpctl/{name}", usage, min_args, max_args,
                                         call, None)
            return fn
        return deco

    @cmd("dump-dps", "", 0, 0)
    def _dump_dps(opts, args, now):
        return "".join(name + "\n" for name in datapath_views(bridges))

    @cmd("show", "[dp...]", 0, 2 ** 31 - 1)
    def _show(opts, args, now):
        views = datapath_views(bridges)
        if not args:
            return "".join(show_text(v, opts.statistics) for v in views.values())
        out, errors = [], []
        for name in args:
            view = find_datapath(views, name)
            if view is None:
                errors.append(error_text(f"opening datapath {name} failed",
                                         "No such device"))
            else:
                out.append(show_text(view, opts.statistics))
        if errors:
            raise DpctlError("".join(out) + "\n".join(errors))
        return "".join(out)

    @cmd("dump-flows", "[dp] [filter=..] [type=..]", 0, 3)
    def _dump_flows(opts, args, now):
        rest, flt_text, types = split_dump_flows_args(args)
        view, _ = pick_datapath(datapath_views(bridges), rest, 2)
        flt = parse_filter(flt_text, view.port_names()) if flt_text is not None else None
        return dump_flows_text(view, opts, flt, types, now)

    @cmd("get-flow", "[dp] ufid", 1, 2)
    def _get_flow(opts, args, now):
        view, rest = pick_datapath(datapath_views(bridges), args, 3)
        ufid = parse_ufid(rest[-1]) if rest else None
        if ufid is None:
            raise DpctlError(error_text("parsing flow ufid", "Invalid argument"))
        found = find_flow_by_ufid(view, ufid)
        if found is None:
            raise DpctlError(error_text("getting flow", "No such file or directory"))
        names = view.port_names() if opts.names else None
        return format_flow(found[1], now, opts, names) + "\n"

    @cmd("del-flow", "[dp] ufid:<ufid> | [dp] flow", 1, 2)
    def _del_flow(opts, args, now):
        view, rest = pick_datapath(datapath_views(bridges), args, 3)
        if not rest:
            raise DpctlError(error_text("parsing flow key", "Invalid argument"))
        found = _flow_named(view, rest[-1])
        if found is None:
            raise DpctlError(error_text("deleting flow", "No such file or directory")
                             + "\nPerhaps you need to specify a UFID?")
        final = delete_flow(found[0], found[1], now)
        if opts.statistics and final is not None:
            return stats_text(final.packets, final.bytes, final.used_ms,
                              final.tcp_flags, now) + "\n"
        return ""

    @cmd("del-flows", "[dp]", 0, 1)
    def _del_flows(opts, args, now):
        view, rest = pick_datapath(datapath_views(bridges), args, 2)
        delete_all_flows(view, now)
        return ""


def _flow_named(view: DatapathView, text: str):
    """The flow a del-flow argument names: ``ufid:<uuid>`` (optionally followed by the
    key), or the key exactly as dump-flows prints it (port numbers or names)."""
    ufid = parse_ufid(text)
    if ufid is not None:
        return find_flow_by_ufid(view, ufid)
    wanted = text.strip()
    names = view.port_names()
    for br, f in view.flows():
        key = format_odp_key(f.key, f.mask)
        named = _IN_PORT.sub(lambda m: f"{m.group(1)}in_port("
                             f"{names.get(int(m.group(2)), m.group(2))})", key, count=1)
        if wanted in (key, named):
            return br, f
    return None
