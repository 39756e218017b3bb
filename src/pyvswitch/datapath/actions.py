"""Datapath actions: what a megaflow does to the packets it matches.

What this module owns
---------------------
* The action values (frozen dataclasses): ``Output``, ``SetField``, ``SetMasked`` (several
  fields of one header at once, as translation commits them), ``PushVlan``,
  ``PopVlan``, ``PushMpls``, ``PopMpls``, ``PushPbb``, ``PopPbb``, ``CopyTtlOut``,
  ``CopyTtlIn``, ``Truncate``, ``Userspace``, ``Meter``,
  ``Clone`` (its actions run on a copy: edits and a meter drop inside stay inside),
  ``Recirc`` (hand the frame, as edited so far, back to the datapath's own input: it is
  parsed again and looked up with ``RECIRC_ID`` set; the last action of a list).  They are already
  concrete: no OpenFlow port numbers, tables or groups; ports are datapath (odp) ports.
* ``compile_actions``: the executable form.  A list made only of ``Output`` becomes a tuple
  of ports (the hit path just appends the unchanged frame to those ports' transmit
  batches); anything else runs through ``apply_actions``.
* ``apply_actions(frame, actions, output, upcall, meter, recirc)``: the interpreter.
  Frame edits call ``pyvswitch.packet.edit`` and produce new bytes; each ``Output`` hands the current
  frame to ``output(port, frame)``; each ``Userspace`` hands it to ``upcall(frame,
  cookie)``; each ``Meter`` asks ``meter(meter_id, frame)``, which returns the frame to go
  on with (possibly remarked) or None: the meter dropped it and the actions stop there;
  each ``Recirc`` calls ``recirc(recirc_id, frame)``.

Semantics
---------
* ``Truncate(max_len)`` applies to the next ``Output`` (or ``Userspace``) only, as Open
  vSwitch's ``trunc`` does for the output that follows it.
* An edit that cannot apply to this frame (e.g. pop_vlan on an untagged frame, set_field
  of an IPv4 field on an ARP frame) raises ``ActionError``; the caller counts the packet
  and drops it.

Time model: no clock.
Must not import: ofproto/, openflow/ (the datapath knows nothing of OpenFlow).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence, Union

from pyvswitch.packet.fields import BY_NAME, Field
from pyvswitch.util.compat import SLOTS


class ActionError(ValueError):
    """A datapath action could not be applied to a frame."""


@dataclass(frozen=True, **SLOTS)
class Output:
    port: int


@dataclass(frozen=True, **SLOTS)
class SetField:
    """Write ``value`` (under ``mask``, in the field's own bit positions) into the frame."""

    field: Field
    value: int
    mask: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.field, str):
            object.__setattr__(self, "field", BY_NAME[self.field])


@dataclass(frozen=True, **SLOTS)
class SetMasked:
    """Rewrite fields of one header in one action (OVS ``set(ipv4(tos=0x8/0xfc))``).

    ``key`` is the header's name in Open vSwitch's datapath syntax (``eth``, ``ipv4``,
    ``ipv6``, ``tcp``, ``udp``, ``sctp``, ``icmp``, ``icmpv6``, ``arp``, ``nd``, ``mpls``);
    ``fields`` are ``(name, field, value, mask)``: ``name`` as that syntax spells it,
    ``value`` and ``mask`` in the field's own bit positions.  Entries whose ``field`` is
    None are only printed (``bos`` of an MPLS entry, which no action changes)."""

    key: str
    fields: tuple


@dataclass(frozen=True, **SLOTS)
class PushVlan:
    tpid: int
    tci: int          # PCP and VID as on the wire (no CFI/present bit needed)


@dataclass(frozen=True, **SLOTS)
class PopVlan:
    pass


@dataclass(frozen=True, **SLOTS)
class PushMpls:
    ethertype: int    # 0x8847 or 0x8848
    lse: int          # the whole label stack entry


@dataclass(frozen=True, **SLOTS)
class PopMpls:
    ethertype: int    # the ethertype of what lies beneath


@dataclass(frozen=True, **SLOTS)
class PushPbb:
    ethertype: int    # 0x88e7
    itag: int         # the whole I-TAG: PCP, DEI, UCA and the 24-bit I-SID


@dataclass(frozen=True, **SLOTS)
class PopPbb:
    pass


@dataclass(frozen=True, **SLOTS)
class CopyTtlOut:
    """The outermost MPLS TTL takes the TTL beneath it (next entry or IP header)."""


@dataclass(frozen=True, **SLOTS)
class CopyTtlIn:
    """The entry or IP header beneath the outermost MPLS entry takes its TTL."""


@dataclass(frozen=True, **SLOTS)
class Truncate:
    max_len: int


@dataclass(frozen=True, **SLOTS)
class Meter:
    """Police the packet with datapath meter ``meter_id`` (``datapath/meter.py``)."""

    meter_id: int


@dataclass(frozen=True, **SLOTS)
class Clone:
    """Run ``actions`` on a copy of the packet; the actions after the clone see the packet
    as it was (OVS ``clone``).  Used to meter packet-ins alone."""

    actions: tuple


@dataclass(frozen=True, **SLOTS)
class Recirc:
    """Parse the frame again and look it up with the flow's ``RECIRC_ID`` = ``recirc_id``
    (OVS ``recirc``): translation froze here and resumes in the next pass."""

    recirc_id: int


@dataclass(frozen=True, **SLOTS)
class Userspace:
    """Send the packet up to the layer above (``Upcall`` of kind ACTION) with ``cookie``."""

    cookie: Any = None


Action = Union[Output, SetField, SetMasked, PushVlan, PopVlan, PushMpls, PopMpls, PushPbb, PopPbb,
               CopyTtlOut, CopyTtlIn, Truncate, Userspace, Meter, Clone, Recirc]
_ACTION_TYPES = (Output, SetField, SetMasked, PushVlan, PopVlan, PushMpls, PopMpls, PushPbb,
                 PopPbb, CopyTtlOut, CopyTtlIn, Truncate, Userspace, Meter, Clone, Recirc)


@dataclass(frozen=True, **SLOTS)
class CompiledActions:
    """The executable form: ``outputs`` is set when the list is outputs only."""

    actions: tuple[Action, ...]
    outputs: tuple[int, ...] | None


def compile_actions(actions: Sequence[Action]) -> CompiledActions:
    acts = tuple(actions)
    for a in acts:
        if not isinstance(a, _ACTION_TYPES):
            raise TypeError(f"not a datapath action: {a!r}")
        if type(a) is Clone:
            compile_actions(a.actions)
    if all(type(a) is Output for a in acts):
        return CompiledActions(acts, tuple(a.port for a in acts))
    return CompiledActions(acts, None)


def _edit():
    from pyvswitch.packet import edit
    return edit


def apply_actions(frame: bytes, actions: Sequence[Action],
                  output: Callable[[int, bytes], None],
                  upcall: Callable[[bytes, Any], None],
                  meter: Callable[[int, bytes], bytes | None] | None = None,
                  recirc: Callable[[int, bytes], None] | None = None) -> None:
    """Run ``actions`` on ``frame``; raises ``ActionError`` if an edit does not apply.
    Without a ``meter`` callback, ``Meter`` actions let every packet through; without a
    ``recirc`` callback a ``Recirc`` drops the packet."""
    edit = None
    trunc = -1
    for a in actions:
        t = type(a)
        if t is Output or t is Userspace:
            f = frame
            if trunc >= 0:
                if len(f) > trunc:
                    f = f[:trunc]
                trunc = -1
            if t is Output:
                output(a.port, f)
            else:
                upcall(f, a.cookie)
            continue
        if t is Truncate:
            trunc = a.max_len
            continue
        if t is Clone:
            apply_actions(frame, a.actions, output, upcall, meter, recirc)
            continue
        if t is Recirc:
            if recirc is not None:
                recirc(a.recirc_id, frame)
            continue
        if t is Meter:
            if meter is not None:
                frame = meter(a.meter_id, frame)
                if frame is None:
                    return
            continue
        if edit is None:
            edit = _edit()
        try:
            if t is SetField:
                frame = edit.set_field(frame, a.field, a.value, a.mask)
            elif t is SetMasked:
                for _name, fld, value, mask in a.fields:
                    if fld is not None:
                        full = (1 << fld.n_bits) - 1
                        frame = edit.set_field(frame, fld, value,
                                               None if mask == full else mask)
            elif t is PushVlan:
                frame = edit.push_vlan(frame, a.tpid, a.tci)
            elif t is PopVlan:
                frame = edit.pop_vlan(frame)
            elif t is PushMpls:
                frame = edit.push_mpls(frame, a.ethertype, a.lse)
            elif t is PopMpls:
                frame = edit.pop_mpls(frame, a.ethertype)
            elif t is PushPbb:
                frame = edit.push_pbb(frame, a.ethertype, a.itag)
            elif t is PopPbb:
                frame = edit.pop_pbb(frame)
            elif t is CopyTtlOut:
                frame = edit.copy_ttl_out(frame)
            elif t is CopyTtlIn:
                frame = edit.copy_ttl_in(frame)
        except ActionError:
            raise
        except Exception as e:  # the edit library's own errors: the frame does not fit
            raise ActionError(f"{a!r}: {e}") from None


def format_actions(actions: Sequence[Action],
                   spell: Callable[[Action], str | None] | None = None) -> str:
    """Open vSwitch's datapath-action spelling, for dumps (``dpctl/dump-flows``).
    ``spell``, if given, may spell an action its own way (return None to leave it to
    the default), also inside a ``clone``: ports by name, a packet-in's details."""
    if not actions:
        return "drop"
    parts = []
    for a in actions:
        t = type(a)
        text = spell(a) if spell is not None else None
        if text is not None:
            parts.append(text)
        elif t is Output:
            parts.append(str(a.port))
        elif t is SetField:
            m = "" if a.mask is None else f"/{a.mask:#x}"
            parts.append(f"set({a.field.name}={a.value:#x}{m})")
        elif t is SetMasked:
            parts.append(f"set({a.key}({_format_set_fields(a.fields)}))")
        elif t is PushVlan:
            tpid = "" if a.tpid == 0x8100 else f"tpid={a.tpid:#x},"
            parts.append(f"push_vlan({tpid}vid={a.tci & 0xFFF},pcp={a.tci >> 13})")
        elif t is PopVlan:
            parts.append("pop_vlan")
        elif t is PushMpls:
            parts.append(f"push_mpls(label={a.lse >> 12},tc={(a.lse >> 9) & 7},"
                         f"ttl={a.lse & 0xFF},bos={(a.lse >> 8) & 1},eth_type={a.ethertype:#x})")
        elif t is PopMpls:
            parts.append(f"pop_mpls(eth_type={a.ethertype:#x})")
        elif t is PushPbb:
            parts.append(f"push_pbb(eth_type={a.ethertype:#x},itag={a.itag:#x})")
        elif t is PopPbb:
            parts.append("pop_pbb")
        elif t is CopyTtlOut:
            parts.append("copy_ttl_out")
        elif t is CopyTtlIn:
            parts.append("copy_ttl_in")
        elif t is Truncate:
            parts.append(f"trunc({a.max_len})")
        elif t is Userspace:
            odp_text = getattr(a.cookie, "odp_text", None)   # the upper layer's cookie
            parts.append(odp_text() if odp_text is not None
                         else f"userspace(cookie={a.cookie!r})")
        elif t is Meter:
            parts.append(f"meter({a.meter_id})")
        elif t is Clone:
            parts.append(f"clone({format_actions(a.actions, spell)})")
        elif t is Recirc:
            parts.append(f"recirc({a.recirc_id:#x})")
    return ",".join(parts)


_MAC_FIELDS = frozenset(("eth_src", "eth_dst", "arp_sha", "arp_tha", "nd_sll", "nd_tll"))
_IP4_FIELDS = frozenset(("ip_src", "ip_dst", "arp_spa", "arp_tpa"))
_IP6_FIELDS = frozenset(("ipv6_src", "ipv6_dst", "nd_target"))
_HEX_FIELDS = frozenset(("nw_tos", "ipv6_label"))


def _hex(v: int) -> str:
    return f"{v:#x}" if v else "0"      # C's %#x: no prefix for zero


def _format_set_fields(fields) -> str:
    """``name=value[/mask]`` as Open vSwitch prints a datapath key: addresses in their
    usual form, the TOS and flow label in hex, other numbers in decimal with a hex mask."""
    import ipaddress
    parts = []
    for name, fld, value, mask in fields:
        fname = fld.name if fld is not None else ""
        full = (1 << fld.n_bits) - 1 if fld is not None else mask
        if fname in _MAC_FIELDS:
            text = value.to_bytes(6, "big").hex(":")
            m = mask.to_bytes(6, "big").hex(":")
        elif fname in _IP4_FIELDS:
            text, m = str(ipaddress.IPv4Address(value)), str(ipaddress.IPv4Address(mask))
        elif fname in _IP6_FIELDS:
            text, m = str(ipaddress.IPv6Address(value)), str(ipaddress.IPv6Address(mask))
        elif fname in _HEX_FIELDS:
            text, m = _hex(value), _hex(mask)
        else:
            text, m = str(value), _hex(mask)
        parts.append(f"{name}={text}" if mask == full else f"{name}={text}/{m}")
    return ",".join(parts)
