"""Version-independent OpenFlow actions and instructions (OVS's "ofpacts").

What this module owns
---------------------
The immutable dataclasses every codec decodes actions/instructions into and encodes them
from, and that ofproto validates and the translator interprets.  No wire formats here:
``openflow/action_codec.py`` turns these into OF1.0/1.3/1.4/1.5 and Nicira bytes.

Conventions
-----------
* Port numbers are 32-bit OpenFlow 1.1+ numbers everywhere (``OFPP_*`` below); the OF1.0
  codec maps 16-bit ports (0xfff8..0xffff) to and from these.
* A field reference is a ``packet.fields.Field`` plus a bit offset and width inside the
  field (Nicira ``NXM_NX_REG0[0..15]``).
* An OpenFlow 1.0 action list, or an OpenFlow 1.1+ instruction set, becomes one
  ``Instructions`` value; OF1.0 rules simply have only ``apply`` set.

Must not import: anything in pyvswitch except ``packet.fields``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from pyvswitch.packet.fields import Field

# Reserved port numbers (OpenFlow 1.1+ numbering).
OFPP_MAX = 0xFFFFFF00
OFPP_UNSET = 0xFFFFFFF7   # OVS-internal: "no port" for actset_output
OFPP_IN_PORT = 0xFFFFFFF8
OFPP_TABLE = 0xFFFFFFF9
OFPP_NORMAL = 0xFFFFFFFA
OFPP_FLOOD = 0xFFFFFFFB
OFPP_ALL = 0xFFFFFFFC
OFPP_CONTROLLER = 0xFFFFFFFD
OFPP_LOCAL = 0xFFFFFFFE
OFPP_ANY = 0xFFFFFFFF
OFPP_NONE = OFPP_ANY

OFPG_ALL = 0xFFFFFFFC
OFPG_ANY = 0xFFFFFFFF
OFPM_ALL = 0xFFFFFFFF
OFPCML_NO_BUFFER = 0xFFFF

def of10_port_to_of11(port: int) -> int:
    """Map an OF1.0 16-bit port number to the 32-bit space (0xff00.. -> 0xffffff00..)."""
    return port + 0xFFFF0000 if port >= 0xFF00 else port

def of11_port_to_of10(port: int) -> int:
    """Inverse of ``of10_port_to_of11``; ports that do not fit raise ValueError."""
    if port >= 0xFFFFFF00:
        return port - 0xFFFF0000
    if port >= 0xFF00:
        raise ValueError(f"port {port:#x} has no OpenFlow 1.0 number")
    return port

@dataclass(frozen=True)
class FieldRef:
    """Bits ``[ofs, ofs + n_bits)`` of ``field`` (Nicira ``FIELD[ofs..ofs+n_bits-1]``)."""

    field: Field
    ofs: int = 0
    n_bits: int = -1   # -1: up to the end of the field

    @property
    def width(self) -> int:
        return self.field.n_bits - self.ofs if self.n_bits < 0 else self.n_bits

# --- actions ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Output:
    port: int
    max_len: int = 0  # bytes sent to the controller when port == OFPP_CONTROLLER

@dataclass(frozen=True)
class Controller:
    """Send to the controller (Nicira ``controller(...)`` or plain output:CONTROLLER)."""

    max_len: int = OFPCML_NO_BUFFER
    controller_id: int = 0
    reason: int = 1        # OFPR_ACTION
    userdata: bytes = b""
    pause: bool = False
    meter_id: int | None = None

@dataclass(frozen=True)
class Enqueue:
    """OF1.0 enqueue: output to ``port`` on ``queue_id``."""

    port: int
    queue_id: int

@dataclass(frozen=True)
class OutputReg:
    """Nicira output:REG[..]: output to the port number held in a field."""

    src: FieldRef
    max_len: int = 0

@dataclass(frozen=True)
class GroupAction:
    group_id: int

@dataclass(frozen=True)
class SetQueue:
    queue_id: int

@dataclass(frozen=True)
class SetField:
    """Set ``field`` to ``value`` under ``mask`` (all ones for a plain set_field/OF1.0
    set_* action; a partial mask for Nicira reg_load or OF1.5 masked set_field)."""

    field: Field
    value: int
    mask: int | None = None

@dataclass(frozen=True)
class CopyField:
    """OF1.5 copy_field / Nicira reg_move: copy ``src`` bits to ``dst`` bits."""

    src: FieldRef
    dst: FieldRef

@dataclass(frozen=True)
class SetVlanVid:
    """OF1.0 set_vlan_vid: sets the VID, pushing a tag if the packet has none."""

    vid: int
    push_if_none: bool = True

@dataclass(frozen=True)
class SetVlanPcp:
    pcp: int
    push_if_none: bool = True

@dataclass(frozen=True)
class StripVlan:
    """OF1.0 strip_vlan / OF1.1+ pop_vlan."""

@dataclass(frozen=True)
class PushVlan:
    ethertype: int = 0x8100

@dataclass(frozen=True)
class PushMpls:
    ethertype: int = 0x8847

@dataclass(frozen=True)
class PopMpls:
    ethertype: int

@dataclass(frozen=True)
class SetMplsTtl:
    ttl: int

@dataclass(frozen=True)
class DecMplsTtl:
    pass

@dataclass(frozen=True)
class SetMplsLabel:
    label: int

@dataclass(frozen=True)
class SetMplsTc:
    tc: int

@dataclass(frozen=True)
class SetNwTtl:
    ttl: int

@dataclass(frozen=True)
class DecNwTtl:
    controller_ids: tuple[int, ...] = (0,)

@dataclass(frozen=True)
class CopyTtlOut:
    pass

@dataclass(frozen=True)
class CopyTtlIn:
    pass

@dataclass(frozen=True)
class PushPbb:
    ethertype: int = 0x88E7

@dataclass(frozen=True)
class PopPbb:
    pass

@dataclass(frozen=True)
class Resubmit:
    """Nicira resubmit([port],[table]); ``in_port`` OFPP_IN_PORT keeps the current one,
    ``table_id`` 255 stays in the current table."""

    in_port: int = OFPP_IN_PORT
    table_id: int = 255

@dataclass(frozen=True)
class Note:
    data: bytes

@dataclass(frozen=True)
class Exit:
    pass

@dataclass(frozen=True)
class MeterAction:
    """OF1.5 meter action (OF1.3/1.4 carry it as an instruction, see ``Instructions``)."""

    meter_id: int

@dataclass(frozen=True)
class Clone:
    actions: tuple["Action", ...]

@dataclass(frozen=True)
class Experimenter:
    """An experimenter action the codec could parse but not interpret."""

    experimenter: int
    data: bytes

Action = Union[
    Output, Controller, Enqueue, OutputReg, GroupAction, SetQueue, SetField, CopyField,
    SetVlanVid, SetVlanPcp, StripVlan, PushVlan, PushMpls, PopMpls, SetMplsTtl, DecMplsTtl,
    SetMplsLabel, SetMplsTc, SetNwTtl, DecNwTtl, CopyTtlOut, CopyTtlIn, PushPbb, PopPbb,
    Resubmit, Note, Exit, MeterAction, Clone, Experimenter,
]

# --- instructions -------------------------------------------------------------------------

@dataclass(frozen=True)
class Instructions:
    """An OpenFlow 1.1+ instruction set (OF1.0 action lists use only ``apply``).

    Execution order follows the spec: meter, apply_actions, clear_actions, write_actions,
    write_metadata, goto_table.  ``None`` means the instruction is absent.
    """

    apply: tuple[Action, ...] | None = None
    clear: bool = False
    write: tuple[Action, ...] | None = None
    write_metadata: tuple[int, int] | None = None  # (value, mask)
    goto_table: int | None = None
    meter_id: int | None = None

    def all_actions(self) -> tuple[Action, ...]:
        """Every action in apply and write, in that order (for out_port/out_group checks)."""
        return (self.apply or ()) + (self.write or ())

    @staticmethod
    def of10(actions: list[Action] | tuple[Action, ...]) -> "Instructions":
        return Instructions(apply=tuple(actions))

DROP = Instructions()

def outputs_to_port(instructions: Instructions, port: int) -> bool:
    """True if any action outputs to ``port`` (OVS ofpacts_output_to_port), for the
    out_port filters of flow_mod delete and flow stats."""
    for act in instructions.all_actions():
        if isinstance(act, (Output, Enqueue)) and act.port == port:
            return True
        if isinstance(act, Controller) and port == OFPP_CONTROLLER:
            return True
        if isinstance(act, Clone) and outputs_to_port(Instructions(apply=act.actions), port):
            return True
    return False

def outputs_to_group(instructions: Instructions, group_id: int) -> bool:
    for act in instructions.all_actions():
        if isinstance(act, GroupAction) and act.group_id == group_id:
            return True
        if isinstance(act, Clone) and outputs_to_group(Instructions(apply=act.actions),
                                                       group_id):
            return True
    return False
