"""Wire codecs for OpenFlow matches: OF1.0 ``ofp_match``, OXM (OF1.2+) and Nicira NXM.

What this module owns
---------------------
* ``decode_ofp10_match`` / ``encode_ofp10_match``: the fixed 40-byte OpenFlow 1.0 match
  (implemented in ``match_ofp10`` and re-exported here).
* ``decode_oxm_match`` / ``encode_oxm_match``: the OF1.2+ ``ofp_match`` (type OFPMT_OXM,
  length, TLVs, zero padding to a multiple of 8).
* ``decode_nxm`` / ``encode_nxm``: the bare NXM/OXM TLV string of Nicira flow_mods.
* ``decode_oxm_field`` / ``encode_oxm_field``: one TLV, as set_field actions carry it.

Conventions
-----------
A TLV header is 32 bits: class (16), field (7), has-mask (1), payload length (8); class
0xffff adds a 32-bit experimenter id counted in the length.  Both match decoders accept
every header we know (basic 0x8000, Nicira 0x0000/0x0001, packet registers 0x8001, ONF
experimenter 0x4f4e4600) and check, like Open vSwitch, each TLV in order: a known header
of the right length (else OFPBMC_BAD_FIELD), no value bit outside the mask
(OFPBMC_BAD_WILDCARDS), a mask only on maskable fields (OFPBMC_BAD_MASK), a value the
field can hold (OFPBMC_BAD_VALUE), prerequisites met by the TLVs *before* it
(OFPBMC_BAD_PREREQ) and no field given twice (OFPBMC_DUP_FIELD).  Values and masks are
returned in the field's own bit positions (``Match.set``/``get``).

Encoders emit TLVs in dependency order (eth_type before IP fields, ip_proto before ports)
so our own output always decodes; a Match the target format cannot express raises
ValueError.  The hot path (decode) uses ``struct.unpack_from`` and one dict lookup per TLV.

Must not import: anything in pyvswitch except ``packet.fields``, ``openflow.errors``,
``openflow.ofpacts`` (port number helpers) and ``openflow.match_ofp10``.
"""

from __future__ import annotations

import struct

from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.match_ofp10 import (OFP10_MATCH_LEN, decode_ofp10_match,
                                            encode_ofp10_match)
from pyvswitch.openflow.ofpacts import of10_port_to_of11, of11_port_to_of10
from pyvswitch.packet import fields as F
from pyvswitch.packet.fields import BY_NAME, Field, Match, Slot

__all__ = [
    "decode_ofp10_match", "encode_ofp10_match", "decode_oxm_match", "encode_oxm_match",
    "decode_nxm", "decode_nxm_cookie", "encode_nxm", "decode_oxm_field", "encode_oxm_field",
    "OFP10_MATCH_LEN", "ONF_EXPERIMENTER", "header_of",
]

OFPMT_OXM = 1
ONF_EXPERIMENTER = 0x4F4E4600
NX_EXPERIMENTER = 0x00002320
OXM_EXPERIMENTER_CLASS = 0xFFFF

# How a TLV's payload maps onto the flow vector.
_DIRECT = 0      # the field's own bits, big-endian, ``width`` bytes
_PORT16 = 1      # NXM in_port: OF1.0 16-bit port number
_TOS = 2         # NXM_OF_IP_TOS: the DSCP bits in their IP TOS byte position
_XREG = 3        # 64-bit packet register xregN = reg(2N) << 32 | reg(2N+1)
_PORT32 = 4      # OXM in_port: an OF1.1+ port number that must map to OF1.0 space

_u32 = struct.Struct("!I")


class _Entry:
    """How one wire header (class, field[, experimenter]) maps onto a catalogue field.

    The precomputed ``slot``/``shift``/``field_full``/``bits``/``prereq_fn``/``fast``
    let the decoder handle the common TLV in a few lines without calls."""

    __slots__ = ("field", "width", "kind", "maskable", "full", "key", "slot", "shift",
                 "field_full", "bits", "prereq_fn", "fast")

    def __init__(self, field: Field, width: int, kind: int = _DIRECT,
                 maskable: bool | None = None, key: tuple = ()) -> None:
        self.field = field
        self.width = width
        self.kind = kind
        self.maskable = field.maskable if maskable is None else maskable
        self.full = (1 << (8 * width)) - 1
        self.key = key
        self.slot = field.slot
        self.shift = field.shift
        self.field_full = (1 << field.n_bits) - 1
        self.bits = self.field_full << field.shift
        self.prereq_fn = _prereq_fn(field.prereq)
        self.fast = (kind in (_DIRECT, _PORT32)
                     and field.name not in ("vlan_pcp", "arp_op"))


def _prereq_fn(prereq):
    """A ``(values, masks) -> bool`` test for ``prereq`` (None when there is none)."""
    P, E, N = F.Prereq, Slot.ETH_TYPE, Slot.NW_PROTO

    def eth(*types):
        return lambda v, m: m[E] == 0xFFFF and v[E] in types

    def proto(types, number):
        return lambda v, m: (m[E] == 0xFFFF and v[E] in types and m[N] & 0xFF == 0xFF
                             and v[N] == number)

    ip_any = (F.ETH_TYPE_IP, F.ETH_TYPE_IPV6)
    v6 = (F.ETH_TYPE_IPV6,)

    def nd(types):
        icmp6 = proto(v6, F.IPPROTO_ICMPV6)
        # Like OVS, the ICMPv6 code is checked by value only (wildcarded reads as 0).
        return lambda v, m: (icmp6(v, m) and m[Slot.TP_SRC] & 0xFF == 0xFF
                             and v[Slot.TP_SRC] & 0xFF in types and not v[Slot.TP_DST] & 0xFF)

    return {
        P.NONE: None,
        P.ARP: eth(F.ETH_TYPE_ARP, F.ETH_TYPE_RARP),
        P.IPV4: eth(F.ETH_TYPE_IP),
        P.IPV6: eth(F.ETH_TYPE_IPV6),
        P.IP_ANY: eth(*ip_any),
        P.MPLS: eth(F.ETH_TYPE_MPLS, F.ETH_TYPE_MPLS_MCAST),
        P.PBB: eth(F.ETH_TYPE_PBB),
        P.VLAN_VID: lambda v, m: bool(m[Slot.VLAN_TCI] & v[Slot.VLAN_TCI] & F.VLAN_CFI),
        P.TCP: proto(ip_any, F.IPPROTO_TCP),
        P.UDP: proto(ip_any, F.IPPROTO_UDP),
        P.SCTP: proto(ip_any, F.IPPROTO_SCTP),
        P.ICMPV4: proto((F.ETH_TYPE_IP,), F.IPPROTO_ICMP),
        P.ICMPV6: proto(v6, F.IPPROTO_ICMPV6),
        P.ND: nd((135, 136)),
        P.ND_SOLICIT: nd((135,)),
        P.ND_ADVERT: nd((136,)),
    }[prereq]


#: (class, field) -> entry, and (experimenter, field) -> entry for class 0xffff.
_BY_HEADER: dict[tuple[int, int], _Entry] = {}
_BY_EXPERIMENTER: dict[tuple[int, int], _Entry] = {}


def _add(cls: int, code: int, name: str, width: int | None = None, kind: int = _DIRECT,
         maskable: bool | None = None, experimenter: int | None = None) -> _Entry:
    fld = BY_NAME[name]
    entry = _Entry(fld, width if width is not None else fld.n_bytes, kind, maskable,
                   (cls, code, experimenter))
    if experimenter is None:
        _BY_HEADER[(cls, code)] = entry
    else:
        _BY_EXPERIMENTER[(experimenter, code)] = entry
    return entry


def _build_tables() -> None:
    for fld in F.FIELDS:
        if fld.name in ("in_port", "nw_tos"):
            continue
        width = {"vlan_vid": 2, "vlan_pcp": 1, "ip_dscp": 1, "ip_ecn": 1,
                 "ipv6_label": 4, "mpls_label": 4, "mpls_tc": 1, "mpls_bos": 1,
                 "ip_frag": 1, "arp_op": 2, "tcp_flags": 2, "ipv6_exthdr": 2,
                 "pbb_isid": 3, "pbb_uca": 1}.get(fld.name)
        for code in {fld.oxm, fld.nxm} - {None}:
            if code[0] == 0x8000 and fld.name == "tcp_flags":
                continue  # OF1.5 basic tcp_flags, added below next to ONF's
            _add(code[0], code[1], fld.name, width)
    _add(0x8000, 0, "in_port", 4, _PORT32)
    _add(0x0000, 0, "in_port", 2, _PORT16)
    _add(0x0000, 5, "ip_dscp", 1, _TOS)
    _add(0x8000, 42, "tcp_flags", 2)
    _add(OXM_EXPERIMENTER_CLASS, 42, "tcp_flags", 2, experimenter=ONF_EXPERIMENTER)
    _add(OXM_EXPERIMENTER_CLASS, 43, "actset_output", 4, experimenter=ONF_EXPERIMENTER)
    for i in range(8):
        _BY_HEADER[(F.OXM_CLASS_PACKET_REGS, i)] = _Entry(
            BY_NAME[f"reg{2 * i}"], 8, _XREG, True, (F.OXM_CLASS_PACKET_REGS, i, None))


_build_tables()

#: Fast-path view of ``_BY_HEADER``: ``header >> 9`` (class and field) -> a tuple
#: (width, maskable, wire_full, field_full, prereq_fn, slot, bits, shift, name,
#: value_ok) for plain fields; other headers take the general path.
_FAST: dict[int, tuple] = {
    (cls << 7) | code: (e.width, e.maskable, e.full, e.field_full, e.prereq_fn, e.slot,
                        e.bits, e.shift, e.field.name,
                        (lambda v: not 0xFF00 <= v < 0xFFFFFF00) if e.kind == _PORT32 else None)
    for (cls, code), e in _BY_HEADER.items() if e.fast
}

#: Field name -> [(min_version, (class, code, experimenter))], the header to emit.
_ENCODE: dict[str, list[tuple[int, tuple]]] = {}


def _enc(name: str, key: tuple, min_version: int = 0) -> None:
    _ENCODE.setdefault(name, []).append((min_version, key))
    _ENCODE[name].sort(key=lambda item: item[0])


for _fld in F.FIELDS:
    if _fld.nxm is not None:
        _enc(_fld.name, (_fld.nxm[0], _fld.nxm[1], None), 0)
    if _fld.oxm is not None and _fld.oxm != _fld.nxm:
        _enc(_fld.name, (_fld.oxm[0], _fld.oxm[1], None), 0x03)
_ENCODE["in_port"] = [(0, (0x0000, 0, None)), (0x03, (0x8000, 0, None))]
_ENCODE["tcp_flags"] = [(0, (0x0001, 34, None)),
                        (0x04, (OXM_EXPERIMENTER_CLASS, 42, ONF_EXPERIMENTER)),
                        (0x06, (0x8000, 42, None))]
_ENCODE["actset_output"] = [(0x04, (OXM_EXPERIMENTER_CLASS, 43, ONF_EXPERIMENTER)),
                            (0x06, (0x8000, 43, None))]
_ENCODE.pop("nw_tos")
_ENCODE["ip_dscp"] = [(0, (0x0000, 5, None)), (0x03, (0x8000, 8, None))]


def header_of(name: str, version: int) -> tuple[_Entry, tuple]:
    """The wire entry and (class, code, experimenter) used for field ``name`` in
    ``version`` (0 = NXM); KeyError if the field has no header there."""
    choices = _ENCODE.get(name)
    if not choices:
        raise KeyError(name)
    best = choices[0][1] if version == 0 else None  # NXM sessions accept OXM headers
    for min_version, key in choices:
        if min_version <= version:
            best = key
    if best is None:
        raise KeyError(name)
    cls, code, exp = best
    entry = _BY_EXPERIMENTER[(exp, code)] if exp is not None else _BY_HEADER[(cls, code)]
    return entry, best


# --- decoding --------------------------------------------------------------------------------

def _pull_tlv(buf, offset: int, end: int, for_action: bool):
    """Parse one TLV at ``offset``; return (entry, value, mask|None, next_offset)."""
    if end - offset < 4:
        raise OFPError("OFPBMC_BAD_LEN", "partial TLV header")
    header, = _u32.unpack_from(buf, offset)
    cls = header >> 16
    code = (header >> 9) & 0x7F
    hasmask = header & 0x100
    length = header & 0xFF
    pos = offset + 4
    if cls == OXM_EXPERIMENTER_CLASS:
        if end - offset < 8:
            raise OFPError("OFPBMC_BAD_LEN", "partial experimenter TLV header")
        if length < 4:
            raise OFPError("OFPBMC_BAD_LEN", "experimenter TLV shorter than its id")
        exp, = _u32.unpack_from(buf, pos)
        pos += 4
        length -= 4
        entry = _BY_EXPERIMENTER.get((exp, code))
    else:
        entry = _BY_HEADER.get((cls, code))
    nxt = pos + length
    if entry is None or length != (entry.width << 1 if hasmask else entry.width):
        if nxt > end:
            raise OFPError("OFPBMC_BAD_LEN", "TLV runs past the match")
        if for_action:
            if entry is not None:
                raise OFPError("OFPBAC_BAD_SET_LEN", f"TLV {cls:#x}:{code} length {length}")
            raise OFPError("OFPBAC_BAD_SET_TYPE", f"unknown TLV {cls:#x}:{code}")
        raise OFPError("OFPBMC_BAD_FIELD", f"unknown TLV {cls:#x}:{code} length {length}")
    if nxt > end:
        raise OFPError("OFPBMC_BAD_LEN", "TLV runs past the match")
    width = entry.width
    value = int.from_bytes(buf[pos:pos + width], "big")
    if hasmask:
        mask = int.from_bytes(buf[pos + width:nxt], "big")
        if value & ~mask:
            raise OFPError("OFPBMC_BAD_WILDCARDS", f"{entry.field.name}: value outside mask")
        if not entry.maskable and mask != entry.full and mask != 0:
            raise OFPError("OFPBMC_BAD_MASK", f"{entry.field.name} cannot be masked")
        return entry, value, mask, nxt
    return entry, value, None, nxt


def _to_field_bits(entry: _Entry, value: int, mask: int | None):
    """Convert wire value/mask to (field, value, mask) in field bit positions, or raise
    OFPBMC_BAD_VALUE.  ``mask`` None means exact."""
    kind = entry.kind
    fld = entry.field
    full = (1 << fld.n_bits) - 1
    if kind == _DIRECT:
        if value > full:
            if fld.name == "arp_op":
                value &= 0xFF  # OVS keeps only the low byte of the ARP opcode
            else:
                raise OFPError("OFPBMC_BAD_VALUE", f"{fld.name}={value:#x}")
        return fld, value, full if mask is None else mask & full
    if kind == _PORT32:
        if 0xFF00 <= value < 0xFFFFFF00:
            raise OFPError("OFPBMC_BAD_VALUE", f"in_port={value:#x}")
        return fld, value, full if mask is None or mask else 0
    if kind == _PORT16:
        return fld, of10_port_to_of11(value), full if mask is None or mask else 0
    if kind == _TOS:
        if value & 0x03:
            raise OFPError("OFPBMC_BAD_VALUE", f"nw_tos={value:#x} sets ECN bits")
        return fld, value >> 2, 0x3F if mask is None or mask else 0
    raise AssertionError(kind)


def _apply(match: Match, entry: _Entry, value: int, mask: int | None) -> None:
    """Check prerequisites and duplicates, then add one decoded TLV to ``match``."""
    values, masks = match.values, match.masks
    if entry.kind == _XREG:
        slot = entry.field.slot
        if not prereqs_ok(match, entry.field.prereq):
            raise OFPError("OFPBMC_BAD_PREREQ")
        if masks[slot] or masks[slot + 1]:
            raise OFPError("OFPBMC_DUP_FIELD", "xreg")
        if mask is None:
            mask = 0xFFFFFFFFFFFFFFFF
        masks[slot], values[slot] = mask >> 32, value >> 32
        masks[slot + 1], values[slot + 1] = mask & 0xFFFFFFFF, value & 0xFFFFFFFF
        return
    fld, value, mask = _to_field_bits(entry, value, mask)
    if fld.prereq is not F.Prereq.NONE and not prereqs_ok(match, fld.prereq):
        raise OFPError("OFPBMC_BAD_PREREQ", fld.name)
    slot, shift = fld.slot, fld.shift
    bits = ((1 << fld.n_bits) - 1) << shift
    if masks[slot] & bits:
        raise OFPError("OFPBMC_DUP_FIELD", fld.name)
    if slot == Slot.NW_PROTO:
        bits = mask = mask & 0xFF  # the ARP opcode lives in the 8-bit nw_proto slot
    if fld.name == "vlan_pcp" and mask:
        # Matching a priority implies matching "a tag is present", as OVS does.
        masks[slot] |= F.VLAN_CFI
        values[slot] |= F.VLAN_CFI
    masks[slot] |= mask << shift
    values[slot] |= (value & mask) << shift


def prereqs_ok(match: Match, prereq: F.Prereq) -> bool:
    """``fields.prereqs_ok`` except for neighbour discovery, where OVS (like us here)
    checks the ICMPv6 code's *value* only: ``icmp6,icmp_type=135,nd_target=...`` leaves
    the code wildcarded (value 0) and is valid."""
    if prereq in (F.Prereq.ND, F.Prereq.ND_SOLICIT, F.Prereq.ND_ADVERT):
        if not F.prereqs_ok(match, F.Prereq.ICMPV6):
            return False
        if match.masks[Slot.TP_SRC] & 0xFF != 0xFF or match.values[Slot.TP_DST] & 0xFF:
            return False
        types = {F.Prereq.ND: (135, 136), F.Prereq.ND_SOLICIT: (135,),
                 F.Prereq.ND_ADVERT: (136,)}[prereq]
        return match.values[Slot.TP_SRC] & 0xFF in types
    return F.prereqs_ok(match, prereq)


def _decode_tlvs(buf, offset: int, end: int) -> Match:
    match = Match()
    values, masks = match.values, match.masks
    unpack, fast_table = _u32.unpack_from, _FAST
    from_bytes = int.from_bytes
    while offset < end:
        if end - offset >= 4:
            header, = unpack(buf, offset)
            fast = fast_table.get(header >> 9)
            length = header & 0xFF
            pos = offset + 4
            if fast is not None and pos + length <= end:
                (width, maskable, wire_full, full, prereq_fn, slot, bits, shift, name,
                 value_ok) = fast
                if length == (width << 1 if header & 0x100 else width):
                    # Fast path: a plain field in its own bit positions.
                    value = from_bytes(buf[pos:pos + width], "big")
                    if header & 0x100:
                        mask = from_bytes(buf[pos + width:pos + length], "big")
                        if value & ~mask:
                            raise OFPError("OFPBMC_BAD_WILDCARDS", name)
                        if not maskable and mask != wire_full and mask:
                            raise OFPError("OFPBMC_BAD_MASK", name)
                        mask &= full
                    else:
                        mask = full
                    if value > full or (value_ok is not None and not value_ok(value)):
                        raise OFPError("OFPBMC_BAD_VALUE", f"{name}={value:#x}")
                    if prereq_fn is not None and not prereq_fn(values, masks):
                        raise OFPError("OFPBMC_BAD_PREREQ", name)
                    if masks[slot] & bits:
                        raise OFPError("OFPBMC_DUP_FIELD", name)
                    masks[slot] |= mask << shift
                    values[slot] |= (value & mask) << shift
                    offset = pos + length
                    continue
        entry, value, mask, offset = _pull_tlv(buf, offset, end, False)
        _apply(match, entry, value, mask)
    return match


def decode_nxm(buf, offset: int, length: int) -> Match:
    """Decode ``length`` bytes of NXM/OXM TLVs at ``offset`` (no header, no padding)."""
    end = offset + length
    if end > len(buf):
        raise OFPError("OFPBMC_BAD_LEN", "nx_match longer than the message")
    return MP.decode_tlvs(buf, offset, end)


_NXM_COOKIE = (0x0001 << 16) | (30 << 9)   # NXM_NX_COOKIE, shares (class, field) with mpls_ttl


def decode_nxm_cookie(buf, offset: int, length: int) -> tuple[Match, int, int]:
    """Like ``decode_nxm`` but also accepts the NXM_NX_COOKIE(_W) pseudo-field that
    Nicira flow_mod and flow-stats requests may carry: ``(match, cookie, cookie_mask)``
    (0, 0 without one; a second one is OFPBMC_DUP_FIELD)."""
    end = offset + length
    if end > len(buf):
        raise OFPError("OFPBMC_BAD_LEN", "nx_match longer than the message")
    rest, cookie, cookie_mask, seen = bytearray(), 0, 0, False
    pos = offset
    while pos < end:
        if end - pos < 4:
            raise OFPError("OFPBMC_BAD_LEN", "partial TLV header")
        header, = _u32.unpack_from(buf, pos)
        tlv_len = 4 + (header & 0xFF) + (4 if header >> 16 == OXM_EXPERIMENTER_CLASS else 0)
        if header & ~0x1FF == _NXM_COOKIE and header & 0xFF in (8, 16) and \
                (header & 0xFF) == (16 if header & 0x100 else 8):
            if pos + tlv_len > end:
                raise OFPError("OFPBMC_BAD_LEN", "cookie runs past the match")
            if seen:
                raise OFPError("OFPBMC_DUP_FIELD", "cookie")
            seen = True
            cookie = int.from_bytes(buf[pos + 4:pos + 12], "big")
            cookie_mask = (int.from_bytes(buf[pos + 12:pos + 20], "big") if header & 0x100
                           else 0xFFFFFFFFFFFFFFFF)
            if cookie & ~cookie_mask:
                raise OFPError("OFPBMC_BAD_WILDCARDS", "cookie")
        else:
            rest += buf[pos:min(pos + tlv_len, end)]
        pos += tlv_len
    return _decode_tlvs(bytes(rest), 0, len(rest)), cookie, cookie_mask


def encode_nxm_cookie(cookie: int, cookie_mask: int) -> bytes:
    """The NXM_NX_COOKIE(_W) TLV that Nicira flow_mods and flow-stats requests use to
    select flows by cookie (``cookie_mask`` non-zero)."""
    if cookie_mask == 0xFFFFFFFFFFFFFFFF:
        return _u32.pack(_NXM_COOKIE | 8) + cookie.to_bytes(8, "big")
    return (_u32.pack(_NXM_COOKIE | 0x100 | 16) + (cookie & cookie_mask).to_bytes(8, "big")
            + cookie_mask.to_bytes(8, "big"))


def decode_oxm_match(buf, offset: int) -> tuple[Match, int]:
    """Decode an OF1.2+ ``ofp_match`` at ``offset``; return it and the bytes consumed
    (the padded length)."""
    if len(buf) - offset < 4:
        raise OFPError("OFPBMC_BAD_LEN", "short ofp_match header")
    mtype, length = struct.unpack_from("!HH", buf, offset)
    if length < 4:
        raise OFPError("OFPBMC_BAD_LEN", f"ofp_match length {length}")
    if mtype != OFPMT_OXM:
        raise OFPError("OFPBMC_BAD_TYPE", f"match type {mtype}")
    padded = (length + 7) & ~7
    if offset + padded > len(buf):
        raise OFPError("OFPBMC_BAD_LEN", "ofp_match runs past the message")
    return MP.decode_tlvs(buf, offset + 4, offset + length), padded


def decode_oxm_field(buf, offset: int, end: int | None = None,
                     for_action: bool = True) -> tuple[Field, int, int | None, int]:
    """Decode one TLV (as in a set_field action): ``(field, value, mask, consumed)``.

    Value and mask are in the field's bit positions; mask is None for an unmasked TLV.
    With ``for_action`` unknown headers raise OFPBAC_BAD_SET_TYPE, wrong lengths
    OFPBAC_BAD_SET_LEN and invalid values OFPBAC_BAD_SET_ARGUMENT, as OVS answers a
    set_field; otherwise the match errors apply.  Packet registers (xregN, which cover
    two of our 32-bit registers) are not settable this way and raise BAD_SET_TYPE.
    """
    if end is None:
        end = len(buf)
    try:
        entry, value, mask, nxt = _pull_tlv(buf, offset, end, for_action)
        if entry.kind == _XREG:
            raise OFPError("OFPBAC_BAD_SET_TYPE" if for_action else "OFPBMC_BAD_FIELD",
                           "xreg set_field is not supported")
        exact = mask is None
        fld, value, mask = _to_field_bits(entry, value, mask)
    except OFPError as err:
        if for_action and err.name == "OFPBMC_BAD_VALUE":
            raise OFPError("OFPBAC_BAD_SET_ARGUMENT", err.detail) from None
        if for_action and err.name == "OFPBMC_BAD_MASK":
            raise OFPError("OFPBAC_BAD_SET_MASK", err.detail) from None
        raise
    if entry.kind == _PORT32 and for_action:
        raise OFPError("OFPBAC_BAD_SET_ARGUMENT", "OXM in_port may not be set")
    if exact or mask == (1 << fld.n_bits) - 1:
        mask = None
    return fld, value, mask, nxt - offset


# --- encoding --------------------------------------------------------------------------------

def _tlv(key: tuple, width: int, value: int, mask: int | None) -> bytes:
    cls, code, exp = key
    masked = mask is not None
    length = width * 2 if masked else width
    if exp is not None:
        head = struct.pack("!II", (cls << 16) | (code << 9) | (masked << 8) | (length + 4),
                           exp)
    else:
        head = _u32.pack((cls << 16) | (code << 9) | (masked << 8) | length)
    body = value.to_bytes(width, "big")
    if masked:
        body += mask.to_bytes(width, "big")
    return head + body


def encode_oxm_field(fld: Field, value: int, mask: int | None, version: int) -> bytes:
    """One TLV for ``fld`` as ``version`` names it (0 = NXM); mask None = exact.

    Value and mask are in field bit positions; ValueError if the field has no header
    in this version or cannot carry the mask."""
    try:
        entry, key = header_of(fld.name, version)
    except KeyError:
        raise ValueError(f"{fld.name} has no header in version {version:#x}") from None
    full = (1 << fld.n_bits) - 1
    if mask is not None and mask == full:
        mask = None
    if mask is not None and not entry.maskable:
        raise ValueError(f"{fld.name} cannot be masked")
    if entry.kind == _PORT16:
        return _tlv(key, 2, of11_port_to_of10(value), None)
    if entry.kind == _TOS:
        return _tlv(key, 1, (value << 2) & 0xFC, None)
    return _tlv(key, entry.width, value & (full if mask is None else mask), mask)


#: While ``match_plans`` records one generic encoding: ``(name, value, mask, full)`` of each
#: field ``_put`` emitted.
_TRACE: list | None = None


def _put(out: list, version: int, name: str, value: int, mask: int, full: int) -> None:
    if not mask:
        return
    if _TRACE is not None:
        _TRACE.append((name, value, mask, full))
    fld = BY_NAME[name]
    if mask != full and not fld.maskable:
        raise ValueError(f"{name} cannot be matched with mask {mask:#x}")
    out.append(encode_oxm_field(fld, value, None if mask == full else mask, version))


def _part(match: Match, name: str) -> tuple[int, int, int]:
    fld = BY_NAME[name]
    value, mask = match.get(fld)
    return value, mask, (1 << fld.n_bits) - 1


def _encode_tlvs(match: Match, version: int) -> bytes:
    """TLVs for ``match`` in dependency order; version 0 means the NXM flavour."""
    out: list[bytes] = []
    v, m = match.values, match.masks
    if m[Slot.IN_PORT]:
        _put(out, version, "in_port", v[Slot.IN_PORT], m[Slot.IN_PORT], 0xFFFFFFFF)
    if m[Slot.METADATA]:
        _put(out, version, "metadata", v[Slot.METADATA], m[Slot.METADATA], (1 << 64) - 1)
    for i in range(16):
        slot = Slot.REG0 + i
        if m[slot]:
            _put(out, version, f"reg{i}", v[slot], m[slot], 0xFFFFFFFF)
    for slot, name in ((Slot.TUN_ID, "tun_id"), (Slot.PKT_MARK, "pkt_mark")):
        if m[slot]:
            _put(out, version, name, v[slot], m[slot], F.SLOT_BITS[slot] and
                 (1 << F.SLOT_BITS[slot]) - 1)
    if m[Slot.ACTSET_OUTPUT]:
        if version < 0x04:
            raise ValueError("actset_output needs OpenFlow 1.3 or later")
        _put(out, version, "actset_output", v[Slot.ACTSET_OUTPUT], m[Slot.ACTSET_OUTPUT],
             0xFFFFFFFF)
    full48 = (1 << 48) - 1
    if m[Slot.ETH_DST]:
        _put(out, version, "eth_dst", v[Slot.ETH_DST], m[Slot.ETH_DST], full48)
    if m[Slot.ETH_SRC]:
        _put(out, version, "eth_src", v[Slot.ETH_SRC], m[Slot.ETH_SRC], full48)
    if m[Slot.ETH_TYPE]:
        _put(out, version, "eth_type", v[Slot.ETH_TYPE], m[Slot.ETH_TYPE], 0xFFFF)
    _encode_vlan(out, match, version)
    if m[Slot.MPLS_LSE]:
        for name in ("mpls_label", "mpls_tc", "mpls_bos", "mpls_ttl"):
            _put(out, version, name, *_part(match, name))
    eth_type = v[Slot.ETH_TYPE] if m[Slot.ETH_TYPE] == 0xFFFF else None
    is_arp = eth_type in (F.ETH_TYPE_ARP, F.ETH_TYPE_RARP)
    if m[Slot.NW_PROTO]:
        _put(out, version, "arp_op" if is_arp else "ip_proto", v[Slot.NW_PROTO],
             m[Slot.NW_PROTO], 0xFF)
    if m[Slot.NW_TOS]:
        _put(out, version, "ip_dscp", *_part(match, "ip_dscp"))
        _put(out, version, "ip_ecn", *_part(match, "ip_ecn"))
    if m[Slot.NW_TTL]:
        _put(out, version, "nw_ttl", v[Slot.NW_TTL], m[Slot.NW_TTL], 0xFF)
    if m[Slot.NW_FRAG]:
        _put(out, version, "ip_frag", v[Slot.NW_FRAG], m[Slot.NW_FRAG], 3)
    for slot, ip_name, arp_name in ((Slot.NW_SRC, "ip_src", "arp_spa"),
                                    (Slot.NW_DST, "ip_dst", "arp_tpa")):
        if m[slot]:
            _put(out, version, arp_name if is_arp else ip_name, v[slot], m[slot],
                 0xFFFFFFFF)
    full128 = (1 << 128) - 1
    for slot, name, full in ((Slot.IPV6_SRC, "ipv6_src", full128),
                             (Slot.IPV6_DST, "ipv6_dst", full128),
                             (Slot.IPV6_LABEL, "ipv6_label", 0xFFFFF)):
        if m[slot]:
            _put(out, version, name, v[slot], m[slot], full)
    proto = v[Slot.NW_PROTO] if m[Slot.NW_PROTO] == 0xFF else None
    tp_names = {F.IPPROTO_TCP: ("tcp_src", "tcp_dst"), F.IPPROTO_UDP: ("udp_src", "udp_dst"),
                F.IPPROTO_SCTP: ("sctp_src", "sctp_dst")}.get(proto)
    if proto == F.IPPROTO_ICMP and eth_type == F.ETH_TYPE_IP:
        tp_names = ("icmp_type", "icmp_code")
    elif proto == F.IPPROTO_ICMPV6 and eth_type == F.ETH_TYPE_IPV6:
        tp_names = ("icmpv6_type", "icmpv6_code")
    for slot, idx in ((Slot.TP_SRC, 0), (Slot.TP_DST, 1)):
        if m[slot]:
            if tp_names is None:
                raise ValueError("transport ports need ip_proto tcp/udp/sctp/icmp")
            name = tp_names[idx]
            full = (1 << BY_NAME[name].n_bits) - 1
            if v[slot] > full or m[slot] & ~full:
                raise ValueError(f"{name} does not fit its field")
            _put(out, version, name, v[slot], m[slot], full)
    if m[Slot.TCP_FLAGS]:
        _put(out, version, "tcp_flags", v[Slot.TCP_FLAGS], m[Slot.TCP_FLAGS], 0xFFF)
    if m[Slot.ND_TARGET]:
        _put(out, version, "nd_target", v[Slot.ND_TARGET], m[Slot.ND_TARGET], full128)
    for slot, arp_name, nd_name in ((Slot.ARP_SHA, "arp_sha", "nd_sll"),
                                    (Slot.ARP_THA, "arp_tha", "nd_tll")):
        if m[slot]:
            _put(out, version, arp_name if is_arp else nd_name, v[slot], m[slot], full48)
    if m[Slot.PBB_ISID] & 0xFFFFFF:
        _put(out, version, "pbb_isid", *_part(match, "pbb_isid"))
    if m[Slot.PBB_ISID] & ~0xFFFFFF:
        _put(out, version, "pbb_uca", *_part(match, "pbb_uca"))
    if m[Slot.IPV6_EXTHDR]:
        _put(out, version, "ipv6_exthdr", v[Slot.IPV6_EXTHDR], m[Slot.IPV6_EXTHDR], 0x1FF)
    return b"".join(out)


def _encode_vlan(out: list, match: Match, version: int) -> None:
    tci, tmask = match.values[Slot.VLAN_TCI], match.masks[Slot.VLAN_TCI]
    if not tmask:
        return
    if version:
        vid_mask = tmask & 0x1FFF
        pcp_mask = tmask & F.VLAN_PCP_MASK
        # OXM vlan_vid/vlan_pcp express: any VID|CFI mask, plus an exact PCP on a
        # tagged match.  Everything else needs Nicira's whole-TCI field.
        if (pcp_mask in (0, F.VLAN_PCP_MASK)
                and (not pcp_mask or (vid_mask & F.VLAN_CFI and tci & F.VLAN_CFI))):
            _put(out, version, "vlan_vid", tci & 0x1FFF, vid_mask, 0x1FFF)
            if pcp_mask:
                out.append(encode_oxm_field(BY_NAME["vlan_pcp"], tci >> 13, None, version))
            return
    _put(out, version, "vlan_tci", tci, tmask, 0xFFFF)


def encode_nxm(match: Match) -> bytes:
    """The unpadded NXM TLV string for ``match`` (Nicira flow_mod / flow stats)."""
    return MP.encode_tlvs(match, 0)


def encode_oxm_match(match: Match, version: int) -> bytes:
    """An OF1.2+ ``ofp_match`` (OFPMT_OXM), padded with zeros to a multiple of 8."""
    body = MP.encode_tlvs(match, version)
    length = 4 + len(body)
    return struct.pack("!HH", OFPMT_OXM, length) + body + bytes(-length % 8)


# --- field references (Nicira reg_move/output_reg/reg_load, OF1.5 copy_field) ----------------

def decode_field_header(buf, offset: int, end: int) -> tuple[Field, int, int]:
    """Decode a bare TLV header naming a field (no payload): ``(field, n_bits, consumed)``.

    ``n_bits`` is the width the header gives the field (16 for NXM_OF_IN_PORT, 8 for
    NXM_OF_IP_TOS).  Unknown or masked headers raise OFPBAC_BAD_ARGUMENT, as OVS
    answers a reg_move/output_reg naming a field it does not know."""
    if end - offset < 4:
        raise OFPError("OFPBAC_BAD_LEN", "partial field header")
    header, = _u32.unpack_from(buf, offset)
    cls, code, length = header >> 16, (header >> 9) & 0x7F, header & 0xFF
    consumed = 4
    if cls == OXM_EXPERIMENTER_CLASS:
        if end - offset < 8:
            raise OFPError("OFPBAC_BAD_LEN", "partial experimenter field header")
        exp, = _u32.unpack_from(buf, offset + 4)
        entry = _BY_EXPERIMENTER.get((exp, code))
        length -= 4
        consumed = 8
    else:
        entry = _BY_HEADER.get((cls, code))
    if entry is None or header & 0x100 or length != entry.width or entry.kind == _XREG:
        raise OFPError("OFPBAC_BAD_ARGUMENT", f"unknown field header {header:#010x}")
    if entry.kind == _TOS:
        return BY_NAME["nw_tos"], 8, consumed
    if entry.kind == _PORT16:
        return entry.field, 16, consumed
    return entry.field, entry.field.n_bits, consumed


def encode_field_header(fld: Field, version: int) -> bytes:
    """The bare header naming ``fld`` in ``version`` (0 = NXM); ValueError if none."""
    if fld.name == "nw_tos":
        return _u32.pack((0x0000 << 16) | (5 << 9) | 1)
    try:
        entry, (cls, code, exp) = header_of(fld.name, version)
    except KeyError:
        raise ValueError(f"{fld.name} has no header in version {version:#x}") from None
    if exp is not None:
        return struct.pack("!II", (cls << 16) | (code << 9) | (entry.width + 4), exp)
    return _u32.pack((cls << 16) | (code << 9) | entry.width)


def header_width_bits(fld: Field, version: int) -> int:
    """How many bits of ``fld`` a field reference may address through its header."""
    if fld.name == "nw_tos":
        return 8
    if fld.name == "in_port" and version == 0:
        return 16
    return fld.n_bits


# The cached per-shape plans that speed both directions up (they use the tables above).
from pyvswitch.openflow import match_plans as MP  # noqa: E402
