"""Consistency checks between a flow's match and its actions (OVS's ofpacts_check).

What this module owns
---------------------
``check_actions(instructions, match, version, table_id, n_tables)``: walks the actions in
execution order over a scratch copy of the match's values, as OVS does, so that a
push_vlan / pop_mpls / set vlan_tci earlier in the list changes what later actions may
assume.  Two kinds of findings, as in OVS:

* hard errors, raised for every version: a set_field / reg_load / reg_move whose field's
  prerequisites the flow does not meet (OFPBAC_MATCH_INCONSISTENT), a read-only
  destination (OFPBAC_BAD_SET_ARGUMENT), a bit range beyond the field
  (OFPBAC_BAD_SET_LEN), a goto_table that does not go forward (OFPBIC_BAD_TABLE_ID), a
  meter id 0 or beyond OFPM_MAX (OFPMMFC_INVALID_METER), a push_vlan on a flow already
  tagged by this list twice (OFPBAC_BAD_TAG);
* "inconsistent" findings (pop_vlan without a tag, dec_ttl without IP, set_mpls_* without
  MPLS...), which OVS tolerates only on OpenFlow 1.0 connections: raised as
  OFPBAC_MATCH_INCONSISTENT unless ``version`` is 0x01.  Inside write_actions they are
  ignored, as OVS cannot check an action set's consistency.

Port, group and meter existence are checked by ofproto, not here.

Must not import: anything in pyvswitch except ``packet.fields``, ``openflow.errors`` and
``openflow.ofpacts``.
"""

from __future__ import annotations

from pyvswitch.openflow import ofpacts as A
from pyvswitch.openflow.errors import OFPError
from pyvswitch.packet import fields as F
from pyvswitch.packet.fields import Match, Prereq, Slot

__all__ = ["check_actions"]

OFPM_MAX = 0xFFFF0000

_TP_FIELDS = frozenset(["tcp_src", "tcp_dst"])  # also OF1.0's protocol-agnostic set_tp_*
#: Writable here though not in Open vSwitch: they change what the rest of the frame is.
_REFRAMING = frozenset(["eth_type", "ip_proto", "mpls_bos"])
_LEGACY_SET = frozenset(["eth_src", "eth_dst", "ip_src", "ip_dst", "ip_dscp", "ip_ecn",
                         "tcp_src", "tcp_dst"])


class _Walk:
    """Scratch state for one check: the flow values and whether findings are soft."""

    __slots__ = ("flow", "strict_version", "ignore_soft")

    def __init__(self, flow: list[int], version: int, ignore_soft: bool) -> None:
        self.flow = flow
        self.strict_version = version != 0x01
        self.ignore_soft = ignore_soft

    def inconsistent(self, what: str) -> None:
        if self.strict_version and not self.ignore_soft:
            raise OFPError("OFPBAC_MATCH_INCONSISTENT", what)


def check_actions(instructions: A.Instructions, match: Match, version: int = 0x04,
                  table_id: int = 255, n_tables: int = 255) -> None:
    """Raise OFPError if ``instructions`` cannot apply to packets matching ``match``."""
    ins = instructions
    if ins.meter_id is not None:
        _check_meter(ins.meter_id)
    flow = None
    if ins.apply and not _inert(ins.apply):
        flow = list(match.values)
        _check_list(ins.apply, _Walk(flow, version, False))
    if ins.write and not _inert(ins.write):
        _check_list(ins.write, _Walk(list(match.values if flow is None else flow), version,
                                     True))
    if ins.goto_table is not None:
        if ((table_id != 255 and ins.goto_table <= table_id)
                or (n_tables != 255 and ins.goto_table >= n_tables)):
            raise OFPError("OFPBIC_BAD_TABLE_ID", f"goto_table:{ins.goto_table}")


def _check_meter(meter_id: int) -> None:
    if meter_id == 0 or meter_id > OFPM_MAX:
        raise OFPError("OFPMMFC_INVALID_METER", f"meter {meter_id}")


def _is_ip(flow) -> bool:
    return flow[Slot.ETH_TYPE] in (F.ETH_TYPE_IP, F.ETH_TYPE_IPV6)


def _is_mpls(flow) -> bool:
    return flow[Slot.ETH_TYPE] in (F.ETH_TYPE_MPLS, F.ETH_TYPE_MPLS_MCAST)


def _check_ref(ref: A.FieldRef, flow, dst: bool) -> None:
    fld = ref.field
    if ref.ofs < 0 or ref.ofs + ref.width > fld.n_bits:
        raise OFPError("OFPBAC_BAD_SET_LEN", f"{fld.name}[{ref.ofs}..] beyond the field")
    if not F.flow_prereqs_ok(flow, fld.prereq):
        raise OFPError("OFPBAC_MATCH_INCONSISTENT", f"{fld.name} lacks its prerequisites")
    if dst and not fld.writable:
        raise OFPError("OFPBAC_BAD_SET_ARGUMENT", f"{fld.name} is read-only")


#: The action classes ``_check_list`` looks at; any other action neither reads nor
#: changes the flow there (an output, a group, a note...).
_ACTIVE = frozenset((A.SetField, A.CopyField, A.OutputReg, A.SetVlanVid, A.SetVlanPcp,
                     A.StripVlan, A.PushVlan, A.PushMpls, A.PopMpls, A.SetMplsLabel,
                     A.SetMplsTc, A.SetMplsTtl, A.DecMplsTtl, A.DecNwTtl, A.SetNwTtl,
                     A.MeterAction, A.Clone))


def _inert(actions) -> bool:
    """True if checking ``actions`` has nothing to check (the common ``output:N``):
    the flow need not even be copied."""
    for act in actions:
        if type(act) in _ACTIVE:
            return False
    return True


def _check_list(actions, walk: _Walk) -> None:
    flow = walk.flow
    for act in actions:
        cls = type(act)
        if cls is A.SetField:
            _check_set_field(act, walk)
        elif cls is A.CopyField:
            _check_ref(act.src, flow, False)
            _check_ref(act.dst, flow, True)
        elif cls is A.OutputReg:
            _check_ref(act.src, flow, False)
        elif cls in (A.SetVlanVid, A.SetVlanPcp):
            if not flow[Slot.VLAN_TCI] & F.VLAN_CFI and not act.push_if_none:
                walk.inconsistent("set_vlan on an untagged flow")
            flow[Slot.VLAN_TCI] |= F.VLAN_CFI
        elif cls is A.StripVlan:
            if not flow[Slot.VLAN_TCI] & F.VLAN_CFI:
                walk.inconsistent("pop_vlan on an untagged flow")
            flow[Slot.VLAN_TCI] = 0
        elif cls is A.PushVlan:
            flow[Slot.VLAN_TCI] |= F.VLAN_CFI
        elif cls is A.PushMpls:
            flow[Slot.ETH_TYPE] = act.ethertype
            flow[Slot.NW_PROTO] = 0
        elif cls is A.PopMpls:
            if not _is_mpls(flow):
                walk.inconsistent("pop_mpls on a flow that is not MPLS")
            flow[Slot.ETH_TYPE] = act.ethertype
        elif cls in (A.SetMplsLabel, A.SetMplsTc, A.SetMplsTtl, A.DecMplsTtl):
            if not _is_mpls(flow):
                walk.inconsistent(f"{cls.__name__} on a flow that is not MPLS")
        elif cls in (A.DecNwTtl, A.SetNwTtl):
            if not _is_ip(flow):
                walk.inconsistent(f"{cls.__name__} on a flow that is not IP")
        elif cls is A.MeterAction:
            _check_meter(act.meter_id)
        elif cls is A.Clone:
            _check_list(act.actions, _Walk(list(flow), 0x04 if walk.strict_version else 0x01,
                                           walk.ignore_soft))


def _check_set_field(act: A.SetField, walk: _Walk) -> None:
    fld, flow = act.field, walk.flow
    if not fld.writable:
        raise OFPError("OFPBAC_BAD_SET_ARGUMENT", f"{fld.name} is read-only")
    if fld.name in _TP_FIELDS:
        ok = (_is_ip(flow) and not flow[Slot.NW_FRAG] & F.FRAG_LATER
              and flow[Slot.NW_PROTO] in (F.IPPROTO_TCP, F.IPPROTO_UDP, F.IPPROTO_SCTP))
    elif fld.prereq is Prereq.VLAN_VID or fld.name == "vlan_vid":
        ok = bool(flow[Slot.VLAN_TCI] & F.VLAN_CFI)
    else:
        ok = F.flow_prereqs_ok(flow, fld.prereq)
    legacy = fld.name in _LEGACY_SET and act.mask is None
    if not ok and (walk.strict_version or not legacy):
        # OF1.0's own set_* actions are only "inconsistent" (tolerated on OF1.0);
        # set_field and reg_load are refused on every version.
        raise OFPError("OFPBAC_MATCH_INCONSISTENT",
                       f"set_field {fld.name} lacks its prerequisites")
    if fld.name == "vlan_tci":
        full = 0xFFFF
        mask = full if act.mask is None else act.mask
        flow[Slot.VLAN_TCI] = (flow[Slot.VLAN_TCI] & ~mask) | (act.value & mask)
    elif fld.name in _REFRAMING:
        # What the later actions may assume follows the new type (as after push_mpls).
        bits = (fld.mask if act.mask is None else (act.mask << fld.shift)) & fld.mask
        flow[fld.slot] = (flow[fld.slot] & ~bits) | ((act.value << fld.shift) & bits)
